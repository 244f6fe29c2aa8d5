/*
 * Known allocation sites, interleaved, for checking heap profiles:
 *   site_a  leaks 2000 blocks of 10240 B      (20,480,000 B live at exit)
 *   site_b  leaks 20312 blocks of 64 B        ( 1,299,968 B live at exit)
 *   site_c  allocates and frees 3200 x 64 KiB (209,715,200 B, none live)
 *   site_d  grows one buffer with realloc from 4 KiB to 4 MiB by doubling
 *           (11 blocks, 8,384,512 B allocated, 4,194,304 B live at exit)
 * Prints the totals it allocated so a test can compare.
 * Usage: heap_sites [ms]: first burns ms of CPU without allocating (the
 * agent's lazy start then happens before the first allocation).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define A_N 2000
#define A_SIZE 10240
#define B_N 20312
#define B_SIZE 64
#define C_N 3200
#define C_SIZE 65536

/* Global and read at the end, so the compiler keeps every allocation. */
void *a_blocks[A_N];
void *b_blocks[B_N];
char *d_buf;
size_t d_size;
volatile uint64_t sink;
void *volatile c_last;

__attribute__((noinline)) void site_a(int i)
{
    a_blocks[i] = malloc(A_SIZE);
    memset(a_blocks[i], 1, 64);
}

__attribute__((noinline)) void site_b(int i)
{
    b_blocks[i] = malloc(B_SIZE);
    memset(b_blocks[i], 2, B_SIZE);
}

__attribute__((noinline)) void site_c(void)
{
    char *p = malloc(C_SIZE);
    memset(p, 3, 4096);
    c_last = p; /* escapes: the compiler may not drop the pair */
    sink += (uint64_t)p[100];
    free(c_last);
}

__attribute__((noinline)) void site_d(void)
{
    size_t n = d_size ? d_size * 2 : 4096;
    char *p = realloc(d_buf, n);
    if (!p)
        abort();
    memset(p + n / 2, 4, n / 2);
    d_buf = p;
    d_size = n;
}

static int64_t cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((noinline)) static void burn(int ms)
{
    uint64_t x = 1;
    for (int64_t end = cpu_ms() + ms; cpu_ms() < end;)
        for (int i = 0; i < 10000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sink += x;
}

int main(int argc, char **argv)
{
    int a = 0, b = 0, c = 0, d = 0;
    if (argc > 1)
        burn(atoi(argv[1]));
    for (int round = 0; round < C_N; round++) {
        site_c();
        c++;
        if (a < A_N && round % 8 < 5)
            site_a(a++);
        for (int k = 0; k < 7 && b < B_N; k++)
            site_b(b++);
        if (round % 300 == 0 && d_size < 4194304) {
            site_d();
            d++;
        }
    }
    while (a < A_N)
        site_a(a++);
    while (b < B_N)
        site_b(b++);
    while (d_size < 4194304) {
        site_d();
        d++;
    }
    uint64_t check = 0;
    for (int i = 0; i < A_N; i++)
        check += ((unsigned char *)a_blocks[i])[7];
    for (int i = 0; i < B_N; i++)
        check += ((unsigned char *)b_blocks[i])[63];
    check += (unsigned char)d_buf[d_size - 1];
    if (check != A_N * 1u + B_N * 2u + 4u)
        return 1;
    printf("a %d %d\nb %d %d\nc %d %d\nd %d %zu\n", a, A_SIZE, b, B_SIZE, c, C_SIZE, d, d_size);
    return 0;
}
