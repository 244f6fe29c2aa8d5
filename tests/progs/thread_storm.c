/*
 * Creates N threads at once, each running a malloc/free loop, then joins
 * them all. Prints how many completed, a checksum and the bytes the
 * threads allocated (the same with or without the agent); with
 * "time" as third argument also the wall time of the creation loop and
 * of create+join, in ms, on stderr. With "serial", the threads are
 * created and joined one at a time (a thread-per-task program's churn),
 * and the microseconds per thread and the peak RSS (VmHWM, KiB) go to
 * stderr. With "fork", the threads wait while the main thread forks
 * `iterations` children that _exit at once, one after another, and the
 * microseconds per fork and wait go to stderr.
 * Usage: thread_storm [threads=200] [iterations=2000] [time|serial|fork]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static int iterations;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

__attribute__((noinline)) static void *storm_worker(void *arg)
{
    uint64_t x = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
    uint64_t sum = 0, bytes = sizeof(uint64_t[2]);
    for (int i = 0; i < iterations; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = 16 + x % 2048;
        bytes += n;
        unsigned char *p = malloc(n);
        if (!p)
            return NULL;
        p[0] = (unsigned char)x;
        p[n - 1] = (unsigned char)(x >> 8);
        sum += p[0] + p[n - 1];
        free(p);
    }
    uint64_t *r = malloc(sizeof(uint64_t[2]));
    if (r) {
        r[0] = sum;
        r[1] = bytes;
    }
    return r;
}

__attribute__((noinline)) static void *wait_forever(void *arg)
{
    for (;;)
        pause();
    return arg;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    iterations = argc > 2 ? atoi(argv[2]) : 2000;
    int timing = argc > 3 && strcmp(argv[3], "time") == 0;
    if (argc > 3 && strcmp(argv[3], "serial") == 0) {
        double t0 = now_ms();
        for (int i = 0; i < n; i++) {
            pthread_t t;
            void *r = NULL;
            if (pthread_create(&t, NULL, storm_worker, (void *)(uintptr_t)i) != 0 || pthread_join(t, &r) != 0)
                return 2;
            free(r);
        }
        double us = (now_ms() - t0) * 1e3 / n;
        long hwm = -1;
        char line[256];
        FILE *f = fopen("/proc/self/status", "r");
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "VmHWM:", 6) == 0)
                hwm = atol(line + 6);
        if (f)
            fclose(f);
        fprintf(stderr, "serial_us_per_thread %.2f hwm_kib %ld\n", us, hwm);
        return 0;
    }
    if (argc > 3 && strcmp(argv[3], "fork") == 0) {
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, 65536);
        for (int i = 0; i < n; i++) {
            pthread_t t;
            if (pthread_create(&t, &at, wait_forever, NULL) != 0)
                return 2;
        }
        double t0 = now_ms();
        for (int i = 0; i < iterations; i++) {
            pid_t p = fork();
            if (p == 0)
                _exit(0);
            if (p < 0 || waitpid(p, NULL, 0) != p)
                return 2;
        }
        fprintf(stderr, "fork_us %.1f\n", (now_ms() - t0) * 1e3 / (iterations > 0 ? iterations : 1));
        _exit(0);
    }
    if (n < 1 || n > 10000 || iterations < 0)
        return 2;
    pthread_t *th = calloc((size_t)n, sizeof *th);
    if (!th)
        return 2;
    double t0 = now_ms();
    for (int i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, storm_worker, (void *)(uintptr_t)i) != 0) {
            fprintf(stderr, "pthread_create %d failed\n", i);
            return 2;
        }
    double t1 = now_ms();
    int done = 0;
    uint64_t sum = 0, bytes = 0;
    for (int i = 0; i < n; i++) {
        void *r;
        pthread_join(th[i], &r);
        if (r) {
            done++;
            sum += ((uint64_t *)r)[0];
            bytes += ((uint64_t *)r)[1];
            free(r);
        }
    }
    double t2 = now_ms();
    printf("threads %d completed %d checksum %llu bytes %llu\n", n, done, (unsigned long long)sum,
           (unsigned long long)bytes);
    if (timing)
        fprintf(stderr, "create_ms %.3f total_ms %.3f\n", t1 - t0, t2 - t0);
    free(th);
    return done == n ? 0 : 1;
}
