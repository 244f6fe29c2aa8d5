/*
 * Allocation-heavy load for the overhead budget: churn_site allocates
 * blocks of 16..4111 bytes (xorshift sizes), touches them and frees them
 * from a window of 256, for SECONDS of CPU time (default 3). Prints the
 * bytes it allocated and the CPU it used, for the test to compare.
 * Usage: alloc_churn [SECONDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WINDOW 256

static void *blocks[WINDOW];
static uint64_t allocated;

__attribute__((noinline)) void *churn_site(size_t n)
{
    void *p = malloc(n);
    if (p)
        memset(p, 7, n < 64 ? n : 64);
    allocated += n;
    return p;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    uint64_t x = 88172645463325252ULL;
    double start = cpu_s();
    for (long i = 0;; i++) {
        if ((i & 4095) == 0 && cpu_s() - start >= seconds)
            break;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = 16 + (size_t)(x % 4096);
        free(blocks[i % WINDOW]);
        blocks[i % WINDOW] = churn_site(n);
    }
    for (int i = 0; i < WINDOW; i++)
        free(blocks[i]);
    printf("allocated %llu\ncpu_s %.3f\n", (unsigned long long)allocated, cpu_s() - start);
    return 0;
}
