/*
 * A multi-threaded process forks as process launchers do: the child resets
 * every signal's action with raw system calls (no sigaction() wrapper
 * sees them), and spends CPU before its exec (copy-on-write faults of a
 * large parent). Or the child lives on as a worker: it allocates, then
 * computes without allocating.
 * Usage: launcher reset_exec|worker [child CPU ms]
 * Prints how the child ended.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "progs.h"

static volatile uint64_t sink;
static volatile int stop;

__attribute__((noinline)) static void child_work(double ms)
{
    double end = thread_cpu_ms() + ms;
    uint64_t x = 7;
    while (thread_cpu_ms() < end)
        for (int i = 0; i < 5000; i++)
            x ^= x << 13, x ^= x >> 7;
    sink = x;
}

static void *idle(void *arg)
{
    (void)arg;
    while (!stop)
        usleep(1000);
    return NULL;
}

/* The kernel's struct sigaction for rt_sigaction(2). */
struct ksigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

static void reset_all_raw(void)
{
    struct ksigaction ksa;
    memset(&ksa, 0, sizeof ksa);
    ksa.handler = SIG_DFL;
    for (int sig = 1; sig < 65; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof ksa.mask);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "reset_exec";
    double ms = argc > 2 ? atof(argv[2]) : 80;
    pthread_t th;
    if (pthread_create(&th, NULL, idle, NULL) != 0)
        return 2;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        if (!strcmp(mode, "reset_exec")) {
            reset_all_raw();
            child_work(ms);
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        char *volatile p = malloc(64);
        free(p);
        child_work(ms);
        exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    stop = 1;
    pthread_join(th, NULL);
    if (WIFSIGNALED(st))
        printf("child %d: killed by signal %d\n", (int)pid, WTERMSIG(st));
    else
        printf("child %d: exit %d\n", (int)pid, WEXITSTATUS(st));
    return 0;
}
