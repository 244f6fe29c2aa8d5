/*
 * Says whether it runs under secure execution (AT_SECURE: setuid, setgid,
 * capabilities) and then burns CPU and allocates for about MS ms, so an
 * agent that runs would have samples to write.
 * Usage: secure_probe [MS]   (default 400)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>

void *volatile sink;

__attribute__((noinline)) static double burn(void)
{
    double x = 0;
    for (int i = 1; i < 200000; i++)
        x += 1.0 / i;
    sink = malloc(4096);
    memset(sink, 1, 64);
    free(sink);
    return x;
}

int main(int argc, char **argv)
{
    int ms = argc > 1 ? atoi(argv[1]) : 400;
    printf("secure=%lu\n", getauxval(AT_SECURE));
    fflush(stdout);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double x = 0;
    do {
        x += burn();
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
    printf("done %d\n", x > 0);
    return 0;
}
