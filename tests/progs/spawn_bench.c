/*
 * Start-up benchmark: runs a command N times (posix_spawn + wait) and
 * prints the mean wall time per run in microseconds. Arguments of the form
 * VAR=VALUE before the command are added to the children's environment
 * only, so the benchmark itself runs bare.
 * Usage: spawn_bench N [VAR=VALUE ...] command [args ...]
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int n = atoi(argv[1]);
    int first = 2;
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **envp = calloc(nenv + (size_t)argc + 1, sizeof *envp);
    size_t k = 0;
    while (first < argc && strchr(argv[first], '=') && argv[first][0] != '/')
        envp[k++] = argv[first++];
    for (size_t i = 0; i < nenv; i++)
        envp[k++] = environ[i];
    if (first >= argc)
        return 2;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        pid_t pid;
        if (posix_spawn(&pid, argv[first], NULL, NULL, argv + first, envp) != 0)
            return 3;
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 4;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / n;
    printf("%.1f\n", us);
    free(envp);
    return 0;
}
