/*
 * Parent and a forked child each burn CPU in a function of their own;
 * the child exits through exit() so the agent's destructor runs there.
 * Usage: forker [seconds] [HOW]
 *   HOW: fork (glibc's, the default), or past glibc's fork handlers as
 *   some container tools fork: sys_fork (syscall(SYS_fork)), sys_clone
 *   (syscall(SYS_clone, SIGCHLD, 0, ...)), sys_clone3
 */
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void parent_work(double s)
{
    double end = cpu_now() + s;
    uint64_t x = 3;
    while (cpu_now() < end)
        for (int i = 0; i < 5000; i++)
            x = x * 6364136223846793005ULL + 1;
    sink = x;
}

__attribute__((noinline)) static void child_work(double s)
{
    double end = cpu_now() + s;
    uint64_t x = 5;
    while (cpu_now() < end)
        for (int i = 0; i < 5000; i++)
            x ^= x << 7, x ^= x >> 9;
    sink = x;
}

static pid_t fork_by(const char *how)
{
    if (!strcmp(how, "sys_fork"))
        return (pid_t)syscall(SYS_fork);
    if (!strcmp(how, "sys_clone"))
        return (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (!strcmp(how, "sys_clone3")) {
        struct clone_args ca;
        memset(&ca, 0, sizeof ca);
        ca.exit_signal = SIGCHLD;
        return (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
    }
    return fork();
}

int main(int argc, char **argv)
{
    double s = argc > 1 ? atof(argv[1]) : 0.5;
    parent_work(s / 2);
    fflush(stdout);
    pid_t pid = fork_by(argc > 2 ? argv[2] : "fork");
    if (pid < 0)
        return 2;
    if (pid == 0) {
        child_work(s);
        printf("child %d done\n", (int)getpid());
        exit(0);
    }
    parent_work(s / 2);
    int st = 0;
    waitpid(pid, &st, 0);
    printf("parent %d child %d status %d\n", (int)getpid(), (int)pid, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}
