/*
 * Ever-new stacks: each thread recurses through 16 functions, choosing the
 * next one and the depth (24..47 frames) from a PRNG, so nearly every CPU
 * and heap sample has a stack never seen before, while the code (and so
 * the set of PCs) stays small. At the bottom it spins a little and
 * allocates: blocks of 1-4 KiB freed at once, and one in 64 kept in a
 * ring of 1024 (a live heap that changes but stays ~2.5 MiB, however fast
 * the run goes). At the end it prints the process's CPU time and its
 * resident memory peak:
 *   rusage_cpu_s=S max_rss_kib=K
 * Usage: stack_explode [threads] [seconds]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef uint64_t (*fn_t)(uint64_t, int);
static fn_t fns[16];
static double end_s;
static volatile uint64_t sink;
#define KEPT 1024
static void *kept[KEPT];
static unsigned kept_next;
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static uint64_t bottom(uint64_t x)
{
    for (int i = 0; i < 3000; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t n = 1024 + (size_t)(x >> 52);
    char *p = malloc(n);
    if (p) {
        memset(p, (int)x, 64);
        if ((x >> 20) % 64 == 0) {
            pthread_mutex_lock(&kept_lock);
            void *old = kept[kept_next % KEPT];
            kept[kept_next++ % KEPT] = p;
            pthread_mutex_unlock(&kept_lock);
            free(old);
        } else {
            free(p);
        }
    }
    return x;
}

/* The call through fns[] is not a tail call (the result is used), so
 * every level keeps its frame and its own return address. */
#define STEP(i)                                                                   \
    __attribute__((noinline)) static uint64_t f##i(uint64_t x, int d)           \
    {                                                                             \
        x = x * 2862933555777941757ULL + 3037000493ULL + (i);                     \
        uint64_t r = d <= 0 ? bottom(x) : fns[(x >> 33) & 15](x, d - 1);          \
        return r ^ (x >> 7);                                                      \
    }
STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)
STEP(8) STEP(9) STEP(10) STEP(11) STEP(12) STEP(13) STEP(14) STEP(15)

static void *worker(void *arg)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL * ((uintptr_t)arg + 1);
    while (now_s() < end_s) {
        x = x * 6364136223846793005ULL + 1;
        x = fns[(x >> 40) & 15](x, 24 + (int)((x >> 50) % 24));
    }
    sink += x;
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    double secs = argc > 2 ? atof(argv[2]) : 3;
    fn_t all[16] = {f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15};
    memcpy(fns, all, sizeof all);
    end_s = now_s() + secs;
    pthread_t th[64];
    if (threads < 1 || threads > 64)
        threads = 2;
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("rusage_cpu_s=%.3f max_rss_kib=%ld\n",
           (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6,
           ru.ru_maxrss);
    return 0;
}
