/*
 * Stack walk cost, the agent's walker against libunwind's unw_backtrace
 * on the same stacks, in one run: from the bottom of a recursion (one
 * frame shape repeated) and of a chain of distinct functions, 40 frames
 * deep each, walked in a loop (warm caches: the floor of each), and the
 * memory each keeps. Prints one line per case.
 * Then the chain walked cold, as a CPU sample at 100 Hz finds it: each
 * walk after 10 ms of unrelated work, the agent's as its signal handler
 * walks (from a context, its prefetches included) against libunwind's;
 * and, for scale, the machine's own cost of 7 loads from a table the
 * size of the walker's after the same 10 ms (on a virtual machine whose
 * host runs other guests, caches and TLBs are mostly cold by then).
 * Usage: bench_walk [walks]
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <ucontext.h>

#include "stackwalk.h"

#define MAXF 128
#define DEPTH 40

static long walks = 200000;
static int (*unw_bt)(void **, int);
static volatile int sink;

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static __attribute__((noinline)) void measure(const char *what)
{
    uint64_t a[MAXF];
    void *b[MAXF];
    int na = 0, nb = 0;
    double best_a = 1e18, best_b = 1e18;
    /* Best of 5 batches each, interleaved. */
    for (int r = 0; r < 5; r++) {
        double t0 = now_ns();
        for (long i = 0; i < walks / 5; i++)
            na = otp_stackwalk_here(a, MAXF);
        double t1 = now_ns();
        for (long i = 0; i < walks / 5; i++)
            nb = unw_bt(b, MAXF);
        double t2 = now_ns();
        double pa = (t1 - t0) / (double)(walks / 5), pb = (t2 - t1) / (double)(walks / 5);
        best_a = pa < best_a ? pa : best_a;
        best_b = pb < best_b ? pb : best_b;
    }
    printf("walk %-9s otprof %d frames %.0f ns (%.1f ns/frame); libunwind %d frames %.0f ns (%.1f ns/frame); "
           "ratio %.2fx\n",
           what, na, best_a, best_a / (na > 0 ? na : 1), nb, best_b, best_b / (nb > 0 ? nb : 1), best_b / best_a);
}

#define COLD_ROUNDS 101
#define COLD_GAP_NS 10000000.0

static volatile uint64_t spin_sink;

static __attribute__((noinline)) void spin(double ns)
{
    double t0 = now_ns();
    uint64_t x = 1;
    while (now_ns() - t0 < ns)
        for (int i = 0; i < 100; i++)
            x = x * 6364136223846793005ULL + 1;
    spin_sink += x;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

static uint64_t table_like[32768]; /* 256 KiB, the walker's table's size */

static __attribute__((noinline)) void measure_cold(void)
{
    static double a[COLD_ROUNDS], b[COLD_ROUNDS], c[COLD_ROUNDS];
    uint64_t out[MAXF];
    void *bt[MAXF];
    int na = 0, nb = 0;
    for (size_t i = 0; i < sizeof table_like / sizeof *table_like; i++)
        table_like[i] = i; /* its own pages, not the shared zero page */
    ucontext_t uc;
    getcontext(&uc);
    for (int r = 0; r < COLD_ROUNDS; r++) {
        spin(COLD_GAP_NS);
        double t0 = now_ns();
        na = otp_stackwalk_signal(&uc, out, MAXF);
        a[r] = now_ns() - t0;
        spin(COLD_GAP_NS);
        t0 = now_ns();
        nb = unw_bt(bt, MAXF);
        b[r] = now_ns() - t0;
        spin(COLD_GAP_NS);
        uint64_t x = (uint64_t)r * 0x9e3779b97f4a7c15ULL, sum = 0;
        t0 = now_ns();
        for (int k = 0; k < 7; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            sum += table_like[(x >> 40) & 32767];
        }
        c[r] = now_ns() - t0;
        spin_sink += sum;
    }
    printf("walk chain, cold (after 10 ms of other work, median of %d): otprof %d frames %.0f ns; libunwind %d "
           "frames %.0f ns; this machine: 7 loads from a 256 KiB table %.0f ns\n",
           COLD_ROUNDS, na, median(a, COLD_ROUNDS), nb, median(b, COLD_ROUNDS), median(c, COLD_ROUNDS));
}

static __attribute__((noinline)) void recurse(int d)
{
    if (d == 0)
        measure("recursion");
    else
        recurse(d - 1);
    sink++;
}

/* Forty distinct functions, each calling the next. */
#define F(n, next)                                                                                           \
    static __attribute__((noinline)) void f##n(void)                                                       \
    {                                                                                                      \
        next();                                                                                            \
        sink++;                                                                                            \
    }
static __attribute__((noinline)) void leaf(void)
{
    measure("chain");
    measure_cold();
}
F(39, leaf) F(38, f39) F(37, f38) F(36, f37) F(35, f36) F(34, f35) F(33, f34) F(32, f33) F(31, f32) F(30, f31)
F(29, f30) F(28, f29) F(27, f28) F(26, f27) F(25, f26) F(24, f25) F(23, f24) F(22, f23) F(21, f22) F(20, f21)
F(19, f20) F(18, f19) F(17, f18) F(16, f17) F(15, f16) F(14, f15) F(13, f14) F(12, f13) F(11, f12) F(10, f11)
F(9, f10) F(8, f9) F(7, f8) F(6, f7) F(5, f6) F(4, f5) F(3, f4) F(2, f3) F(1, f2) F(0, f1)

int main(int argc, char **argv)
{
    if (argc > 1)
        walks = atol(argv[1]);
    if (walks < 5)
        walks = 5;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    unw_bt = h ? (int (*)(void **, int))dlsym(h, "unw_backtrace") : NULL;
    if (!unw_bt) {
        fprintf(stderr, "bench_walk: libunwind.so.8 not usable\n");
        return 1;
    }
    otp_stackwalk_main_thread();
    recurse(DEPTH);
    f0();
    printf("walk memory: otprof's shared table %zu KiB in use (%zu shapes) for all threads; libunwind 256 KiB "
           "per thread that walks\n",
           otp_stackwalk_resident() / 1024, otp_stackwalk_cached());
    return 0;
}
