/*
 * A slow leak next to healthy allocation patterns, for leak detection:
 * every 50 ms leak_site() leaks 20 x 10 KB and churn_site() allocates and
 * frees 1 MB in 8 KB blocks; steady_site() allocated 2 MB once at the
 * start and keeps it without growing. Runs for about MS milliseconds.
 * Usage: heap_leak [MS]   (default 1600)
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *volatile sink;
static void *leaked[4096];
static int nleaked;
static void *steady[200];

__attribute__((noinline)) void leak_site(void)
{
    for (int i = 0; i < 20 && nleaked < 4096; i++) {
        leaked[nleaked] = malloc(10240);
        memset(leaked[nleaked], 1, 64);
        nleaked++;
    }
}

__attribute__((noinline)) void churn_site(void)
{
    for (int i = 0; i < 128; i++) {
        char *p = malloc(8192);
        p[0] = 1;
        sink = p;
        free(sink);
    }
}

__attribute__((noinline)) void steady_site(void)
{
    for (int i = 0; i < 200; i++)
        steady[i] = malloc(10240);
}

int main(int argc, char **argv)
{
    int ms = argc > 1 ? atoi(argv[1]) : 1600;
    steady_site();
    struct timespec step = {0, 50 * 1000000};
    for (int t = 0; t < ms; t += 50) {
        leak_site();
        churn_site();
        nanosleep(&step, NULL);
    }
    sink = leaked[nleaked - 1];
    sink = steady[199];
    return 0;
}
