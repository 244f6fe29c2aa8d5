/*
 * Two phases of known work, for the write-failure retry test: phase_a
 * burns MS ms of CPU and allocates in alloc_a, then the program creates
 * DIR/a_done and waits (up to 30 s) for DIR/go, which the test creates
 * once the output directory is writable again; then phase_b does the same
 * work for B_MS ms, and the program idles 600 ms before it exits. Prints
 * each phase's own CPU time and allocated bytes.
 * Usage: write_retry DIR [MS [B_MS]]   (default 800, B_MS = MS)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void *volatile sink;

static long long cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* the agent's own threads excluded */
    return (long long)t.tv_sec * 1000000000 + t.tv_nsec;
}

__attribute__((noinline)) long long alloc_a(void)
{
    for (int i = 0; i < 100; i++) {
        sink = malloc(1000);
        free(sink);
    }
    return 100 * 1000;
}

__attribute__((noinline)) long long alloc_b(void)
{
    for (int i = 0; i < 100; i++) {
        sink = malloc(1000);
        free(sink);
    }
    return 100 * 1000;
}

__attribute__((noinline)) static double spin(int n)
{
    double x = 0;
    for (int i = 1; i < n; i++)
        x += 1.0 / i;
    return x;
}

__attribute__((noinline)) long long phase_a(int ms, long long *bytes)
{
    long long t0 = cpu_ns();
    double x = 0;
    while (cpu_ns() - t0 < (long long)ms * 1000000) {
        x += spin(100000);
        *bytes += alloc_a();
    }
    sink = x > 0 ? NULL : sink;
    return cpu_ns() - t0;
}

__attribute__((noinline)) long long phase_b(int ms, long long *bytes)
{
    long long t0 = cpu_ns();
    double x = 0;
    while (cpu_ns() - t0 < (long long)ms * 1000000) {
        x += spin(100000);
        *bytes += alloc_b();
    }
    sink = x > 0 ? NULL : sink;
    return cpu_ns() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int ms = argc > 2 ? atoi(argv[2]) : 800;
    int bms = argc > 3 ? atoi(argv[3]) : ms;
    char path[4096];
    long long abytes = 0, bbytes = 0;
    long long a = phase_a(ms, &abytes);
    snprintf(path, sizeof path, "%s/a_done", argv[1]);
    close(open(path, O_WRONLY | O_CREAT, 0644));
    snprintf(path, sizeof path, "%s/go", argv[1]);
    struct timespec step = {0, 10 * 1000000};
    for (int i = 0; access(path, F_OK) != 0; i++) {
        if (i > 3000)
            return 5;
        nanosleep(&step, NULL);
    }
    long long b = bms > 0 ? phase_b(bms, &bbytes) : 0;
    struct timespec idle = {0, 600 * 1000000};
    nanosleep(&idle, NULL);
    printf("phase_a_cpu_ms %lld\nphase_b_cpu_ms %lld\nalloc_a_bytes %lld\nalloc_b_bytes %lld\n",
           a / 1000000, b / 1000000, abytes, bbytes);
    return 0;
}
