/*
 * Known-split workload: threads alternate between two CPU-bound functions
 * and measure, with the thread CPU clock, how much CPU each one used. The
 * test compares those shares, and the process CPU from getrusage, with
 * what the profile says.
 * With "masked" as a fourth argument the threads are created the way
 * liblzma and many pools do it: every signal blocked around
 * pthread_create, so the workers run with all signals blocked.
 * Usage: cpu_split [threads] [seconds] [share_of_a] [masked]
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile uint64_t sink;
static bool sigmask_work;

/* Both spin until the thread has used `budget` seconds of CPU here. */
__attribute__((noinline)) static void spin_alpha(double budget)
{
    double end = thread_cpu() + budget;
    uint64_t x = 1;
    while (thread_cpu() < end)
        for (int i = 0; i < 2000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sink += x;
}

__attribute__((noinline)) static void spin_beta(double budget)
{
    double end = thread_cpu() + budget;
    uint64_t x = 7;
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    while (thread_cpu() < end) {
        if (sigmask_work) {
            for (int i = 0; i < 20; i++) {
                sigprocmask(SIG_BLOCK, &chld, &old);
                sigprocmask(SIG_SETMASK, &old, NULL);
            }
            continue;
        }
        for (int i = 0; i < 2000; i++)
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    }
    sink += x;
}

static double seconds = 1.0, share_a = 0.7;
static double used_a[64], used_b[64];

static void *worker(void *arg)
{
    long id = (long)arg;
    unsigned seed = (unsigned)id * 2654435761u + 1;
    double start = thread_cpu();
    while (thread_cpu() - start < seconds) {
        /* Random slice lengths, so the alternation cannot alias with the
         * sampling period. */
        seed = seed * 1103515245u + 12345u;
        double slice = 0.002 + (double)(seed >> 16 & 0xfff) / 4096.0 * 0.006;
        double t0 = thread_cpu();
        spin_alpha(slice * share_a);
        double t1 = thread_cpu();
        spin_beta(slice * (1 - share_a));
        double t2 = thread_cpu();
        used_a[id] += t1 - t0;
        used_b[id] += t2 - t1;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2;
    if (argc > 2)
        seconds = atof(argv[2]);
    if (argc > 3)
        share_a = atof(argv[3]);
    if (n < 1 || n > 64)
        n = 2;
    pthread_t th[64];
    sigset_t all, old;
    bool masked = argc > 4 && strcmp(argv[4], "masked") == 0;
    sigmask_work = argc > 4 && strcmp(argv[4], "sigmask") == 0;
    sigfillset(&all);
    if (masked)
        pthread_sigmask(SIG_SETMASK, &all, &old);
    for (long i = 0; i < n; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    if (masked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    double a = 0, b = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        a += used_a[i];
        b += used_b[i];
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    printf("share_alpha=%.4f share_beta=%.4f rusage_cpu_s=%.4f\n", a / (a + b), b / (a + b), cpu);
    fflush(stdout);
    /* For tests timing what happens after main (the agent's exit path):
     * the moment main is done, in ms of CLOCK_REALTIME, to the file named. */
    const char *stamp = getenv("CPU_SPLIT_END_STAMP");
    if (stamp) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        FILE *f = fopen(stamp, "w");
        if (f) {
            fprintf(f, "%lld\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
            fclose(f);
        }
    }
    return 0;
}
