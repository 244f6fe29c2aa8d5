/*
 * Threads that live a few milliseconds of CPU: N threads, one after
 * another, each burning MS of its own CPU in short_work (none: the main
 * thread burns MS itself and the process exits). Prints the CPU burnt
 * (thread CPU clocks) to stderr as work_ms=.
 * Usage: short_threads N MS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double ms;

static double thread_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((noinline)) static double short_work(void)
{
    double t0 = thread_ms(), end = t0 + ms;
    volatile double s = 0;
    while (thread_ms() < end)
        for (int i = 1; i < 5000; i++)
            s += 1.0 / i;
    return thread_ms() - t0;
}

static double total;

static void *short_task(void *arg)
{
    (void)arg;
    total += short_work();
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    ms = argc > 2 ? atof(argv[2]) : 3;
    if (n == 0)
        total = short_work();
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, short_task, NULL) != 0)
            return 1;
        pthread_join(t, NULL);
    }
    fprintf(stderr, "work_ms=%.1f\n", total);
    return 0;
}
