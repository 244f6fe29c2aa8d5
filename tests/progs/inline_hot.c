/*
 * Built with -O2 -g: the hot loop is in an always-inline function, and a
 * leaking function is inlined too, so only DWARF can name them and their
 * lines. Burns the given CPU seconds (default 0.4), leaks 64 blocks of
 * 64 KiB, prints a checksum-free "done". One small allocation per round.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *kept[64];
/* Through volatile pointers, so the compiler keeps the calls: a small
 * allocation per round lets a lazily started agent thread export (and
 * symbolize) while the program runs, as a real program's would. */
static void *(*volatile do_malloc)(size_t) = malloc;
static void (*volatile do_free)(void *) = free;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline __attribute__((always_inline)) uint64_t mix_rounds(uint64_t x, int n)
{
    for (int i = 0; i < n; i++)
        x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ULL; /* HOT_LINE */
    return x;
}

static inline __attribute__((always_inline)) void remember(int i)
{
    kept[i] = malloc(65536); /* LEAK_LINE */
    if (kept[i]) memset(kept[i], i, 65536);
}

int main(int argc, char **argv)
{
    double s = argc > 1 ? atof(argv[1]) : 0.4;
    volatile uint64_t sink = 0;
    uint64_t acc = 1;
    double end = cpu_now() + s;
    while (cpu_now() < end) {
        acc = mix_rounds(acc, 200000);
        do_free(do_malloc(64));
    }
    sink = acc;
    for (int i = 0; i < 64; i++) remember(i);
    printf("done %d\n", sink != 1);
    return 0;
}
