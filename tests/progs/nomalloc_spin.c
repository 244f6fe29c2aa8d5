/*
 * A single-threaded program that never calls malloc after start-up: the
 * agent starts no flusher for it until it exits, so every sample it takes
 * must survive in the main thread's buffers for the whole run. Splits its
 * CPU between two functions (measured with the thread CPU clock) at
 * random slice lengths; output is written with write(2), not stdio.
 * With spawn_at, once it has used that much CPU it starts (and joins) one
 * thread that spins for 0.3 s: the agent's flusher starts then, mid-run,
 * and takes over what the main thread's handler folded so far.
 * Usage: nomalloc_spin [seconds] [share_of_a] [spawn_at]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile uint64_t sink;

__attribute__((noinline)) static void hot_alpha(double budget)
{
    double end = thread_cpu() + budget;
    uint64_t x = 1;
    while (thread_cpu() < end)
        for (int i = 0; i < 2000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sink += x;
}

__attribute__((noinline)) static void hot_beta(double budget)
{
    double end = thread_cpu() + budget;
    uint64_t x = 7;
    while (thread_cpu() < end)
        for (int i = 0; i < 2000; i++)
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    sink += x;
}

/* Varying call depth: more distinct stacks, as real code has. */
__attribute__((noinline)) static void nest(int depth, int which, double budget)
{
    if (depth > 0) {
        nest(depth - 1, which, budget);
        sink++;
        return;
    }
    if (which)
        hot_alpha(budget);
    else
        hot_beta(budget);
}

static void *helper(void *arg)
{
    (void)arg;
    hot_beta(0.3);
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    double share_a = argc > 2 ? atof(argv[2]) : 0.7;
    double spawn_at = argc > 3 ? atof(argv[3]) : -1;
    double used_a = 0, used_b = 0;
    unsigned seed = 12345;
    double start = thread_cpu();
    while (thread_cpu() - start < seconds) {
        seed = seed * 1103515245u + 12345u;
        double slice = 0.002 + (double)(seed >> 16 & 0xfff) / 4096.0 * 0.006;
        int depth = (int)(seed >> 8 & 7);
        double t0 = thread_cpu();
        nest(depth, 1, slice * share_a);
        double t1 = thread_cpu();
        nest(depth, 0, slice * (1 - share_a));
        double t2 = thread_cpu();
        used_a += t1 - t0;
        used_b += t2 - t1;
        if (spawn_at >= 0 && t2 - start >= spawn_at) {
            spawn_at = -1;
            pthread_t th;
            if (pthread_create(&th, NULL, helper, NULL) != 0 || pthread_join(th, NULL) != 0)
                return 2;
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    char buf[160];
    int n = snprintf(buf, sizeof buf, "share_alpha=%.4f share_beta=%.4f rusage_cpu_s=%.4f\n",
                     used_a / (used_a + used_b), used_b / (used_a + used_b), cpu);
    if (n > 0 && write(1, buf, (size_t)n) < 0)
        return 1;
    return 0;
}
