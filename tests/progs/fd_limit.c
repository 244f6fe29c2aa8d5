/*
 * A service at its limit of open files: RLIMIT_NOFILE 20, fds 3-17 held
 * open, and every 0.5 ms for MS ms it opens two more (18 and 19, the last
 * ones) and closes them, allocating and spinning in between. Bare, no
 * open fails; the agent must not take those last numbers. Prints
 * "opens N fails F"; exits 0.
 * Usage: fd_limit [MS]   (default 1500)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "progs.h"

static volatile unsigned long sink;

__attribute__((noinline)) static void work_a_little(void)
{
    void *p = malloc(50000);
    memset(p, 1, 64);
    free(p);
    for (int i = 0; i < 20000; i++) sink += (unsigned long)i;
}

int main(int argc, char **argv)
{
    double ms = argc > 1 ? atof(argv[1]) : 1500;
    struct rlimit rl = {20, 20};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return 2;
    for (int fd = 3; fd <= 17; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDONLY) < 0) return 2;
    int opens = 0, fails = 0;
    double end = now_ms() + ms, next = 0;
    while (now_ms() < end) {
        work_a_little();
        if (now_ms() < next) continue;
        next = now_ms() + 0.5;
        int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY);
        opens += 2;
        fails += (a < 0) + (b < 0);
        if (a >= 0) close(a);
        if (b >= 0) close(b);
    }
    printf("opens %d fails %d\n", opens, fails);
    return 0;
}
