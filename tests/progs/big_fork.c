/*
 * A large process that forks: touches N MiB, then forks a few times.
 * Under a fast CPU timer an unprotected fork of a big address space is
 * interrupted and restarted by the kernel again and again.
 * Usage: big_fork [mib] [forks]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 2048;
    int forks = argc > 2 ? atoi(argv[2]) : 3;
    char *p = malloc(mib << 20);
    if (!p)
        return 2;
    memset(p, 1, mib << 20);
    int ok = 0;
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 3;
        if (pid == 0)
            _exit(p[(size_t)i << 20] == 1 ? 0 : 1);
        int st;
        waitpid(pid, &st, 0);
        ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    printf("forked %d of %d\n", ok, forks);
    free(p);
    return 0;
}
