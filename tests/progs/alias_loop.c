/*
 * A workload whose loop period is commensurate with a sampling period:
 * each of two threads repeats a loop of `ms` of its CPU time (default 20,
 * two periods at 100 Hz and five scheduler ticks at HZ=250), spending
 * `share` of it in alias_hot and the rest in alias_cold, measured with
 * the thread CPU clock. A profiler that samples in lock-step with the
 * loop sees the same few phases of it every time.
 * Prints the measured share of alias_hot and the process CPU.
 * Usage: alias_loop [seconds] [share] [ms]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double seconds = 1.0, share = 0.7;
static int64_t loop_ns = 20000000;
static double used_hot[2], used_all[2];
static volatile uint64_t sink;

static int64_t thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Both spin until the thread's CPU clock reaches `until`. */
__attribute__((noinline)) static void alias_hot(int64_t until)
{
    uint64_t x = 1;
    while (thread_ns() < until)
        for (int i = 0; i < 200; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sink += x;
}

__attribute__((noinline)) static void alias_cold(int64_t until)
{
    uint64_t x = 7;
    while (thread_ns() < until)
        for (int i = 0; i < 200; i++)
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    sink += x;
}

static void *worker(void *arg)
{
    long id = (long)arg;
    int64_t start = thread_ns(), end = start + (int64_t)(seconds * 1e9);
    /* Loop boundaries on a fixed grid of the thread's CPU time. */
    int64_t t = start;
    double hot = 0;
    while (t < end) {
        int64_t mid = t + (int64_t)((double)loop_ns * share);
        int64_t t0 = thread_ns();
        alias_hot(mid);
        int64_t t1 = thread_ns();
        alias_cold(t + loop_ns);
        hot += (double)(t1 - t0);
        t += loop_ns;
    }
    used_hot[id] = hot;
    used_all[id] = (double)(thread_ns() - start);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        seconds = atof(argv[1]);
    if (argc > 2)
        share = atof(argv[2]);
    if (argc > 3)
        loop_ns = (int64_t)(atof(argv[3]) * 1e6);
    pthread_t th[2];
    for (long i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    printf("share_hot=%.4f rusage_cpu_s=%.4f\n", (used_hot[0] + used_hot[1]) / (used_all[0] + used_all[1]), cpu);
    return 0;
}
