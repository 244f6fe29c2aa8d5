// Preloaded after the agent (LD_PRELOAD="agent libslowinit.so"), its
// constructor runs before the agent's, as a library's costly start (or
// a large program's relocations) does: it computes SLOWINIT_MS (200) of
// the process's CPU, then prints how much the process had used.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static volatile unsigned long sink;

__attribute__((constructor)) static void slow_init(void)
{
    const char *v = getenv("SLOWINIT_MS");
    double end = cpu_ms() + (v ? atof(v) : 200);
    unsigned long x = 1;
    while (cpu_ms() < end)
        for (int i = 0; i < 10000; i++)
            x = x * 3 + 1;
    sink = x;
    fprintf(stderr, "slowinit_cpu_ms=%.0f\n", cpu_ms());
}
