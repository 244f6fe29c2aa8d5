/*
 * A process of the kind builds run by the hundred: it burns a little CPU
 * in one function and allocates a little from another, then returns from
 * main. Prints its own thread count just before returning (the agent
 * must not have added one).
 * Usage: short_lived [cpu_ms] [alloc_blocks]
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "progs.h"

static volatile unsigned long sink;

__attribute__((noinline)) static void short_burn(double ms)
{
    double end = cpu_ms() + ms;
    while (cpu_ms() < end)
        for (int i = 0; i < 10000; i++)
            sink += (unsigned long)i * i;
}

/* Not static: the allocations must not be optimised away. */
void *short_kept[4096];

__attribute__((noinline)) static void short_alloc(int n)
{
    for (int i = 0; i < n && i < 4096; i++)
        short_kept[i] = malloc(4096);
}

static int threads(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    short_burn(argc > 1 ? atof(argv[1]) : 30);
    short_alloc(argc > 2 ? atoi(argv[2]) : 64);
    printf("threads %d\n", threads());
    return 3;
}
