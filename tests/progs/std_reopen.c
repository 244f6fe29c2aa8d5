/*
 * A daemon that closed its stdin, stdout and stderr and, every 20 ms for
 * MS ms, opens /dev/null and dup2s it onto 0, 1 and 2 (then closes them
 * again), allocating and spinning in between. Bare each dup2 takes
 * microseconds; under the agent an export may hold placeholders on those
 * numbers (agent/fds.h) for as long as it lasts, and the app's dup2 must
 * not wait for it. Prints "rounds N failed F max_dup2_us U total_dup2_us T";
 * exits 0.
 * Usage: std_reopen [MS]   (default 1500)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progs.h"

static volatile unsigned long sink;

__attribute__((noinline)) static void work(double ms)
{
    double end = now_ms() + ms;
    while (now_ms() < end) {
        void *volatile p = malloc(30000);
        memset(p, 1, 64);
        free(p);
        for (int i = 0; i < 20000; i++) sink += (unsigned long)i;
    }
}

int main(int argc, char **argv)
{
    double ms = argc > 1 ? atof(argv[1]) : 1500;
    /* The report goes through a descriptor of its own. */
    int out = fcntl(1, F_DUPFD_CLOEXEC, 10);
    close(0);
    close(1);
    close(2);
    double end = now_ms() + ms, worst = 0;
    long rounds = 0, failed = 0;
    double total = 0;
    while (now_ms() < end) {
        work(20);
        int fd = open("/dev/null", O_RDWR);
        if (fd < 0) {
            failed++;
            continue;
        }
        for (int n = 0; n <= 2; n++) {
            if (n == fd) continue;
            double t0 = now_ms();
            if (dup2(fd, n) != n) failed++;
            double took = now_ms() - t0;
            if (took > worst) worst = took;
            total += took;
        }
        if (fd > 2) close(fd);
        for (int n = 0; n <= 2; n++)
            if (close(n) != 0) failed++;
        rounds++;
    }
    char line[128];
    int len = snprintf(line, sizeof line, "rounds %ld failed %ld max_dup2_us %.0f total_dup2_us %.0f\n", rounds, failed,
                       worst * 1e3, total * 1e3);
    if (out >= 0) (void)!write(out, line, (size_t)len);
    return 0;
}
