/*
 * Threads with the smallest stacks pthread allows (PTHREAD_STACK_MIN),
 * burning CPU a few calls deep. A profiler's signal handler that needs
 * more stack than such a thread has left overflows it.
 * Usage: small_stacks [threads] [seconds]
 */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds = 1.0;
static volatile uint64_t sink;

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A little recursion, so the interrupted frame sits a few KiB deep. */
__attribute__((noinline)) static uint64_t small_burn(int depth, uint64_t x)
{
    volatile char pad[256];
    pad[0] = (char)x;
    if (depth > 0)
        return small_burn(depth - 1, x * 31 + (uint64_t)pad[0]);
    for (int i = 0; i < 20000; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

static void *worker(void *arg)
{
    uint64_t x = (uint64_t)(uintptr_t)arg;
    double end = thread_cpu() + seconds;
    while (thread_cpu() < end)
        x = small_burn(8, x);
    sink += x;
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 4;
    if (argc > 2)
        seconds = atof(argv[2]);
    if (n < 1 || n > 64)
        n = 4;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN);
    pthread_t th[64];
    for (long i = 0; i < n; i++)
        if (pthread_create(&th[i], &attr, worker, (void *)(i + 1)) != 0)
            return 2;
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    printf("%d small-stack threads done\n", n);
    return 0;
}
