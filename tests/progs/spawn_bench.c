/*
 * Start-up benchmark: runs commands N times each (posix_spawn + wait4)
 * and prints, per command, the median wall time and the median CPU time
 * (the child's user + system, from wait4's rusage) of one run, in
 * microseconds: "wall_us cpu_us" on one line per command.
 *
 * Several commands are separated by "--" and run interleaved (run i of
 * every command before run i+1 of any), so that machine load that comes
 * and goes weighs on all of them alike; medians of single runs, not
 * means, so a run that was preempted counts as one run, not as its time.
 * Arguments of the form VAR=VALUE before a command are added to that
 * command's environment only, so the benchmark itself runs bare.
 * Usage: spawn_bench N [VAR=VALUE ...] command [args ...] [-- [VAR=VALUE ...] command ...]
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#define MAX_CMDS 8

extern char **environ;

struct cmd {
    char **argv;
    char **envp;
    double *wall, *cpu;
};

static double tv_us(struct timeval tv)
{
    return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Parses one command (its VAR=VALUE prefix and arguments) from argv[*i]
 * up to "--" or the end; the "--" is replaced by NULL to end its argv. */
static int parse(int argc, char **argv, int *i, struct cmd *c, int n)
{
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    c->envp = calloc(nenv + (size_t)argc + 1, sizeof *c->envp);
    c->wall = calloc((size_t)n, sizeof *c->wall);
    c->cpu = calloc((size_t)n, sizeof *c->cpu);
    if (!c->envp || !c->wall || !c->cpu)
        return -1;
    size_t k = 0;
    while (*i < argc && strchr(argv[*i], '=') && argv[*i][0] != '/')
        c->envp[k++] = argv[(*i)++];
    for (size_t j = 0; j < nenv; j++)
        c->envp[k++] = environ[j];
    if (*i >= argc || strcmp(argv[*i], "--") == 0)
        return -1;
    c->argv = argv + *i;
    while (*i < argc && strcmp(argv[*i], "--") != 0)
        (*i)++;
    if (*i < argc) {
        argv[*i] = NULL;
        (*i)++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int n = atoi(argv[1]);
    if (n < 1)
        return 2;
    struct cmd cmds[MAX_CMDS];
    int ncmd = 0, i = 2;
    while (i < argc) {
        if (ncmd == MAX_CMDS || parse(argc, argv, &i, &cmds[ncmd], n) != 0)
            return 2;
        ncmd++;
    }
    for (int r = 0; r < n; r++) {
        for (int c = 0; c < ncmd; c++) {
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            pid_t pid;
            if (posix_spawn(&pid, cmds[c].argv[0], NULL, NULL, cmds[c].argv, cmds[c].envp) != 0)
                return 3;
            int st;
            struct rusage ru;
            if (wait4(pid, &st, 0, &ru) != pid)
                return 3;
            clock_gettime(CLOCK_MONOTONIC, &b);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return 4;
            cmds[c].wall[r] = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3;
            cmds[c].cpu[r] = tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
        }
    }
    for (int c = 0; c < ncmd; c++)
        printf("%.1f %.1f\n", median(cmds[c].wall, n), median(cmds[c].cpu, n));
    return 0;
}
