/*
 * A daemon-like program for the stderr identity check: it closes fd 2,
 * then (unless FILE is "-") opens FILE, which becomes fd 2, and keeps
 * writing its own lines there while leaking heap like heap_leak does, so
 * that the agent has leak warnings and a summary to say. Runs MS ms after
 * closing fd 2. Exits 3 if FILE did not become fd 2.
 * Usage: fd2_reuse FILE|- [MS]   (default 1500)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *leaked[4096];
static int nleaked;

__attribute__((noinline)) void leak_here(void)
{
    for (int i = 0; i < 20 && nleaked < 4096; i++) {
        leaked[nleaked] = malloc(10240);
        memset(leaked[nleaked], 1, 64);
        nleaked++;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int ms = argc > 2 ? atoi(argv[2]) : 1500;
    close(2);
    if (strcmp(argv[1], "-") != 0) {
        int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd != 2)
            return 3;
    }
    struct timespec step = {0, 50 * 1000000};
    int n = 0;
    for (int t = 0; t < ms; t += 50, n++) {
        leak_here();
        if (strcmp(argv[1], "-") != 0) {
            char line[64];
            int len = snprintf(line, sizeof line, "record %d\n", n);
            if (write(2, line, (size_t)len) != len)
                return 4;
        }
        nanosleep(&step, NULL);
    }
    printf("%d records\n", n);
    return 0;
}
