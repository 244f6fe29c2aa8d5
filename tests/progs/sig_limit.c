/*
 * A program at its user's limit of pending signals (RLIMIT_SIGPENDING,
 * where every POSIX timer takes a place): it becomes an unused uid, sets
 * that limit to L, starts N threads that work (under the agent each gets
 * a CPU timer, charged to the uid), then makes timers until timer_create
 * fails. Bare, it gets L; the agent's timers must not take any of them.
 * Prints "timers K", exits 0 (2: could not become the uid, not root).
 * Usage: sig_limit [L [N]]   (defaults 8, 2)
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "progs.h"

#define UID 54322

static volatile unsigned long sink;
static volatile int stop;

__attribute__((noinline)) static void busy_work(double ms)
{
    double end = now_ms() + ms;
    while (now_ms() < end && !stop) {
        void *p = malloc(4096);
        memset(p, 1, 64);
        free(p);
        for (int i = 0; i < 10000; i++) sink += (unsigned long)i;
    }
}

static void *worker(void *arg)
{
    (void)arg;
    busy_work(2000);
    return NULL;
}

int main(int argc, char **argv)
{
    int lim = argc > 1 ? atoi(argv[1]) : 8;
    int n = argc > 2 ? atoi(argv[2]) : 2;
    if (setresgid(UID, UID, UID) != 0 || setresuid(UID, UID, UID) != 0) {
        fprintf(stderr, "sig_limit: cannot become uid %d: %s\n", UID, strerror(errno));
        return 2;
    }
    struct rlimit rl = {(rlim_t)lim, (rlim_t)lim};
    if (setrlimit(RLIMIT_SIGPENDING, &rl) != 0) return 2;
    pthread_t t[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, worker, NULL) != 0) return 2;
    busy_work(200);
    int made = 0, err = 0;
    for (; made < 1000; made++) {
        timer_t id;
        struct sigevent sev;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_SIGNAL;
        sev.sigev_signo = SIGRTMIN;
        if (timer_create(CLOCK_MONOTONIC, &sev, &id) != 0) {
            err = errno;
            break;
        }
    }
    printf("timers %d (then: %s)\n", made, strerror(err));
    fflush(stdout);
    stop = 1;
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    return 0;
}
