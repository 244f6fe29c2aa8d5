/*
 * An app that blocks SIGPROF must see its own mask everywhere: read back
 * in the thread that set it, inherited by the threads it creates and by
 * the programs it runs (fork+exec, posix_spawn, system), and its own
 * SIGPROFs wait while blocked and arrive once unblocked. Prints what it
 * sees; a test compares the output with and without a profiler.
 */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static volatile sig_atomic_t got;

static void on_prof(int sig)
{
    (void)sig;
    got++;
}

static void show(const char *who)
{
    sigset_t m;
    sigprocmask(SIG_BLOCK, NULL, &m);
    int n = 0;
    for (int s = 1; s < 65; s++)
        n += sigismember(&m, s) == 1;
    printf("%s: SIGPROF blocked=%d, %d signals blocked\n", who, sigismember(&m, SIGPROF), n);
    fflush(stdout);
}

static void burn(double secs)
{
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    volatile unsigned long x = 1;
    do {
        for (int i = 0; i < 100000; i++)
            x = x * 3 + 1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    } while ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9 < secs);
}

static void *child_thread(void *arg)
{
    (void)arg;
    show("new thread");
    burn(0.05);
    sigset_t p;
    sigemptyset(&p);
    sigaddset(&p, SIGPROF);
    pthread_sigmask(SIG_UNBLOCK, &p, NULL);
    show("new thread after unblocking");
    return NULL;
}

static void *all_blocked_thread(void *arg)
{
    (void)arg;
    burn(0.05);
    show("thread created with all signals blocked");
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1) {
        show(argv[1]);
        return 0;
    }
    show("start");
    sigset_t p, all, old;
    sigemptyset(&p);
    sigaddset(&p, SIGPROF);
    sigprocmask(SIG_BLOCK, &p, &old);
    printf("old mask had SIGPROF blocked=%d\n", sigismember(&old, SIGPROF));
    show("main after blocking");
    burn(0.05);

    pthread_t th;
    pthread_create(&th, NULL, child_thread, NULL);
    pthread_join(th, NULL);

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_create(&th, NULL, all_blocked_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_join(th, NULL);
    show("main after restoring");

    /* Programs started from here inherit the mask: as this program reads
     * it, and as the kernel reports it for one started without any
     * preloaded library. */
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "sigprof_mask", "fork+exec child", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    pid = fork();
    if (pid == 0) {
        execl("/usr/bin/env", "env", "-u", "LD_PRELOAD", "grep", "^SigBlk", "/proc/self/status", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *argv1[] = {"sigprof_mask", "posix_spawn child", NULL};
    if (posix_spawn(&pid, self, NULL, NULL, argv1, environ) == 0)
        waitpid(pid, NULL, 0);
    char *argv2[] = {"env", "-u", "LD_PRELOAD", "grep", "^SigBlk", "/proc/self/status", NULL};
    if (posix_spawn(&pid, "/usr/bin/env", NULL, NULL, argv2, environ) == 0)
        waitpid(pid, NULL, 0);
    if (system("exec env -u LD_PRELOAD grep ^SigBlk /proc/self/status") != 0)
        printf("system failed\n");

    /* Its own SIGPROF waits while blocked, and arrives once unblocked. */
    signal(SIGPROF, on_prof);
    raise(SIGPROF);
    kill(getpid(), SIGPROF);
    sigset_t pend;
    sigpending(&pend);
    printf("while blocked: handler ran %d times, SIGPROF pending=%d\n", (int)got, sigismember(&pend, SIGPROF));
    show("main with SIGPROF pending");
    sigprocmask(SIG_UNBLOCK, &p, NULL);
    printf("after unblocking: handler ran %d times\n", got > 0 ? 1 : 0);
    show("end");
    return 0;
}
