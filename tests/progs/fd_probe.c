/*
 * Asks fcntl(F_GETFD) over and over which of the numbers 3-63 are open,
 * as shells and daemons do before they use or save a number, while it
 * works (CPU and allocations, so that the agent samples and exports).
 * It closes what it inherited and opens nothing: every number found open
 * is someone else's.
 * Prints "probes N foreign F" (F: probes that found a number open).
 * Usage: fd_probe [milliseconds]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progs.h"

int main(int argc, char **argv)
{
    double ms = argc > 1 ? atof(argv[1]) : 1000;
    closefrom(3);
    double end = now_ms() + ms;
    long probes = 0, foreign = 0;
    volatile unsigned long sink = 0;
    while (now_ms() < end) {
        for (int fd = 3; fd < 64; fd++, probes++)
            if (fcntl(fd, F_GETFD) >= 0)
                foreign++;
        char *p = malloc(4096);
        memset(p, 1, 4096);
        sink += (unsigned char)p[100];
        free(p);
        for (int i = 0; i < 20000; i++)
            sink = sink * 31 + (unsigned long)i;
    }
    printf("probes %ld foreign %ld\n", probes, foreign);
    return 0;
}
