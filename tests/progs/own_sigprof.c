/*
 * An app that uses SIGPROF itself: installs a handler, arms setitimer
 * (ITIMER_PROF), counts its own ticks, and finally resets SIGPROF to
 * SIG_DFL while the profiling timer would still fire. It must neither
 * crash nor lose its own ticks under the agent.
 * With "masks", the handler saves and restores its signal mask around
 * some work, 20 times a tick, as gperftools' does through libunwind.
 * Usage: own_sigprof [masks]
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t ticks;
static volatile uint64_t sink;
static int masks;

static void on_prof(int sig)
{
    (void)sig;
    ticks++;
    for (int i = 0; masks && i < 20; i++) {
        sigset_t all, old;
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, &old);
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
}

__attribute__((noinline)) static void busy(double seconds)
{
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    uint64_t x = 1;
    do {
        for (int i = 0; i < 10000; i++)
            x = x * 31 + 7;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    } while ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9 < seconds);
    sink = x;
}

int main(int argc, char **argv)
{
    masks = argc > 1 && strcmp(argv[1], "masks") == 0;
    busy(0.2); /* profiled by the agent, if present */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prof;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, NULL);
    struct itimerval it = {{0, 10000}, {0, 10000}};
    setitimer(ITIMER_PROF, &it, NULL);
    busy(0.5);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    signal(SIGPROF, SIG_DFL);
    busy(0.3);
    printf("own ticks: %s\n", ticks >= 20 ? "ok" : "too few");
    return 0;
}
