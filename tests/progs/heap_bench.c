/*
 * Allocation-heavy workloads for scripts/bench-heap.
 *   heap_bench mt THREADS OPS [LEAK_MB]
 *                               each thread does OPS free+malloc pairs on a
 *                               window of 1024 live blocks of mixed sizes
 *                               (mostly small, some up to 64 KiB), writing
 *                               the first 64 bytes of each new block as a
 *                               program initialising it would, and with
 *                               LEAK_MB leaks that many MiB in all from
 *                               leak_site (10 KiB blocks, spread evenly
 *                               over the run, kept to the end); prints
 *                               "ops_per_sec N" (wall clock) and
 *                               "cpu_ops_per_sec N" (ops per second of CPU
 *                               time of the whole process, any thread)
 *   heap_bench pair N           one thread, N malloc(32)+free pairs;
 *                               prints "ns_per_pair X"
 *   heap_bench rss THREADS      after 50 ms (a profiler has started),
 *                               THREADS threads each do 100k free+malloc
 *                               pairs, then all wait; 250 ms later (a
 *                               profiler has drained its buffers) main
 *                               prints "rss_kib N" (VmRSS)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define WINDOW 1024

static long ops_per_thread;
static long leak_every; /* ops between two leaked blocks; 0: none */
static void *volatile leak_sink;

#define LEAK_BLOCK 10240

__attribute__((noinline)) void leak_site(void)
{
    void **p = malloc(LEAK_BLOCK);
    memset(p, 1, 64);
    *p = leak_sink; /* a chain, so that nothing looks unreachable */
    leak_sink = p;
}
static pthread_barrier_t start_barrier, rss_barrier, end_barrier;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t pick_size(uint64_t r)
{
    unsigned k = (unsigned)(r % 100);
    if (k < 70)
        return 16 + (size_t)((r >> 8) % 240);
    if (k < 95)
        return 256 + (size_t)((r >> 8) % 3840);
    return 4096 + (size_t)((r >> 8) % 61440);
}

__attribute__((noinline)) static void churn(void **win, long ops, uint64_t *seed)
{
    for (long i = 0; i < ops; i++) {
        uint64_t r = next_rand(seed);
        unsigned slot = (unsigned)(r >> 40) % WINDOW;
        free(win[slot]);
        size_t n = pick_size(r);
        char *p = malloc(n);
        memset(p, (int)i, n < 64 ? n : 64);
        win[slot] = p;
        if (leak_every && i % leak_every == leak_every - 1)
            leak_site();
    }
}

static void *mt_worker(void *arg)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL * ((uintptr_t)arg + 1);
    void **win = calloc(WINDOW, sizeof *win);
    pthread_barrier_wait(&start_barrier);
    churn(win, ops_per_thread, &seed);
    for (int i = 0; i < WINDOW; i++)
        free(win[i]);
    free(win);
    return NULL;
}

static void *rss_worker(void *arg)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL * ((uintptr_t)arg + 1);
    void **win = calloc(WINDOW, sizeof *win);
    churn(win, 100000, &seed);
    for (int i = 0; i < WINDOW; i++)
        free(win[i]);
    free(win);
    pthread_barrier_wait(&rss_barrier);
    pthread_barrier_wait(&end_barrier);
    return NULL;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = atol(line + 6);
    if (f)
        fclose(f);
    return v;
}

__attribute__((noinline)) static void pairs(long n)
{
    for (long i = 0; i < n; i++) {
        void *volatile p = malloc(32);
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "mt") == 0) {
        int n = atoi(argv[2]);
        ops_per_thread = atol(argv[3]);
        long leak_mb = argc >= 5 ? atol(argv[4]) : 0;
        long blocks = leak_mb * 1048576 / LEAK_BLOCK / (n > 0 ? n : 1);
        leak_every = blocks > 0 ? ops_per_thread / blocks : 0;
        pthread_t th[256];
        pthread_barrier_init(&start_barrier, NULL, (unsigned)n + 1);
        for (int i = 0; i < n && i < 256; i++)
            pthread_create(&th[i], NULL, mt_worker, (void *)(uintptr_t)i);
        double c0 = cpu_seconds();
        pthread_barrier_wait(&start_barrier);
        double t0 = now();
        for (int i = 0; i < n && i < 256; i++)
            pthread_join(th[i], NULL);
        double dt = now() - t0, dc = cpu_seconds() - c0;
        printf("ops_per_sec %.0f\n", (double)n * (double)ops_per_thread / dt);
        printf("cpu_ops_per_sec %.0f\n", (double)n * (double)ops_per_thread / dc);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "pair") == 0) {
        long n = atol(argv[2]);
        pairs(n / 10); /* warm up */
        double t0 = now();
        pairs(n);
        printf("ns_per_pair %.2f\n", (now() - t0) * 1e9 / (double)n);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "rss") == 0) {
        int n = atoi(argv[2]);
        pthread_t th[256];
        struct timespec settle = {0, 50 * 1000000};
        nanosleep(&settle, NULL);
        pthread_barrier_init(&rss_barrier, NULL, (unsigned)n + 1);
        pthread_barrier_init(&end_barrier, NULL, (unsigned)n + 1);
        for (int i = 0; i < n && i < 256; i++)
            pthread_create(&th[i], NULL, rss_worker, (void *)(uintptr_t)i);
        pthread_barrier_wait(&rss_barrier);
        struct timespec drain = {0, 250 * 1000000};
        nanosleep(&drain, NULL);
        printf("rss_kib %ld\n", rss_kib());
        const char *dump = getenv("HEAP_BENCH_SMAPS"); /* debugging aid */
        if (dump) {
            FILE *in = fopen("/proc/self/smaps", "r"), *out = fopen(dump, "w");
            char buf[4096];
            size_t k;
            while (in && out && (k = fread(buf, 1, sizeof buf, in)) > 0)
                fwrite(buf, 1, k, out);
            if (in)
                fclose(in);
            if (out)
                fclose(out);
        }
        pthread_barrier_wait(&end_barrier);
        for (int i = 0; i < n && i < 256; i++)
            pthread_join(th[i], NULL);
        return 0;
    }
    fprintf(stderr, "usage: heap_bench mt THREADS OPS [LEAK_MB] | pair N | rss THREADS\n");
    return 2;
}
