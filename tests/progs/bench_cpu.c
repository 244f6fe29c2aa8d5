/*
 * CPU benchmark workload: T threads each do a fixed amount of arithmetic
 * at the bottom of a call chain D frames deep (so every sample unwinds
 * about D frames). Prints wall and CPU seconds.
 * Usage: bench_cpu [threads] [iterations_millions] [depth]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static long iters = 400;
static int depth = 40;
static volatile uint64_t sink;

__attribute__((noinline)) static uint64_t leaf_work(long n)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (long i = 0; i < n; i++)
        x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ULL + (uint64_t)i;
    return x;
}

__attribute__((noinline)) static uint64_t descend(int d, long n)
{
    if (d <= 0)
        return leaf_work(n);
    uint64_t r = descend(d - 1, n);
    sink += 1; /* keeps the call from becoming a tail call */
    return r;
}

static void *worker(void *arg)
{
    (void)arg;
    uint64_t acc = 0;
    for (long i = 0; i < iters; i++)
        acc += descend(depth, 1000000);
    sink += acc;
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2;
    if (argc > 2)
        iters = atol(argv[2]);
    if (argc > 3)
        depth = atoi(argv[3]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pthread_t th[64];
    if (n < 1 || n > 64)
        n = 2;
    for (int i = 0; i < n; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    printf("wall_s=%.4f cpu_s=%.4f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9, cpu);
    return 0;
}
