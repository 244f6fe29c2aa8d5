/*
 * Creates N short-lived threads, a few at a time, each burning a little
 * CPU and allocating; prints a checksum so runs can be compared.
 * Usage: many_threads [count] [concurrent] [report-timers]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

__attribute__((noinline)) static uint64_t short_burn(uint64_t seed)
{
    struct timespec ts, now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    uint64_t x = seed | 1;
    do {
        for (int i = 0; i < 1000; i++)
            x = x * 2862933555777941757ULL + 3037000493ULL;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    } while ((now.tv_sec - ts.tv_sec) * 1000000000L + (now.tv_nsec - ts.tv_nsec) < 2000000);
    return x;
}

static void *worker(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    char *p = malloc(1024 + seed % 4096);
    memset(p, 1, 1024);
    uint64_t r = short_burn(seed) ^ (uint64_t)p[7];
    free(p);
    return (void *)(uintptr_t)(r & 1);
}

int main(int argc, char **argv)
{
    int total = argc > 1 ? atoi(argv[1]) : 500;
    int batch = argc > 2 ? atoi(argv[2]) : 8;
    if (batch < 1 || batch > 64)
        batch = 8;
    pthread_t th[64];
    long done = 0, ones = 0;
    while (done < total) {
        int k = 0;
        for (; k < batch && done + k < total; k++)
            if (pthread_create(&th[k], NULL, worker, (void *)(uintptr_t)(done + k)) != 0)
                return 2;
        for (int i = 0; i < k; i++) {
            void *r;
            pthread_join(th[i], &r);
            ones += (long)(uintptr_t)r;
        }
        done += k;
    }
    printf("threads=%ld\n", done);
    (void)ones;
    if (argc > 3) {
        /* POSIX timers still alive (the agent's must die with their
         * threads): one "ID:" line each in /proc/self/timers. */
        FILE *f = fopen("/proc/self/timers", "r");
        char line[256];
        int n = 0;
        while (f && fgets(line, sizeof line, f))
            n += strncmp(line, "ID:", 3) == 0;
        if (f)
            fclose(f);
        fprintf(stderr, "live_timers=%d\n", n);
    }
    return 0;
}
