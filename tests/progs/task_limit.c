/*
 * A service at its limit of tasks (RLIMIT_NPROC; a container's pids.max
 * acts the same): it works for MS ms as root (the agent's thread starts
 * meanwhile), becomes an unused uid, sets its limit to 1 + N tasks (its
 * own main thread and N more) and starts threads until pthread_create
 * fails (or, with "fork", child processes until fork fails, then works
 * 300 ms more at the limit). Bare, it gets N; the agent's thread must
 * not take one of them. Prints
 * "created K", exits 0 (2: could not drop to the uid, not root).
 * Usage: task_limit [N [MS [thread|fork]]]   (defaults 4, 400, thread)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "progs.h"

#define UID 54321

static volatile unsigned long sink;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go;

__attribute__((noinline)) static void busy_work(double ms)
{
    double end = now_ms() + ms;
    while (now_ms() < end) {
        void *p = malloc(4096);
        memset(p, 1, 64);
        free(p);
        for (int i = 0; i < 10000; i++) sink += (unsigned long)i;
    }
}

static void *parked(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!go) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 4;
    double ms = argc > 2 ? atof(argv[2]) : 400;
    int forks = argc > 3 && strcmp(argv[3], "fork") == 0;
    busy_work(ms);
    if (setresgid(UID, UID, UID) != 0 || setresuid(UID, UID, UID) != 0) {
        fprintf(stderr, "task_limit: cannot become uid %d: %s\n", UID, strerror(errno));
        return 2;
    }
    struct rlimit rl = {(rlim_t)(1 + n), (rlim_t)(1 + n)};
    if (setrlimit(RLIMIT_NPROC, &rl) != 0) return 2;
    /* The agent pauses its thread around a change of uid and starts it
     * again after a while: work on until it has. */
    busy_work(300);
    if (forks) {
        int gate[2];
        if (pipe(gate) != 0) return 2;
        pid_t kids[64];
        int created = 0, err = 0;
        while (created < 64) {
            pid_t p = fork();
            if (p < 0) {
                err = errno;
                break;
            }
            if (p == 0) { /* parked until the gate closes */
                char c;
                close(gate[1]);
                (void)!read(gate[0], &c, 1);
                _exit(0);
            }
            kids[created++] = p;
        }
        printf("created %d (then: %s)\n", created, strerror(err));
        fflush(stdout);
        /* Works on at the limit, its children parked: an agent thread that
         * left for the forks cannot come back meanwhile. */
        busy_work(300);
        close(gate[1]);
        for (int i = 0; i < created; i++) waitpid(kids[i], NULL, 0);
        busy_work(100);
        return 0;
    }
    pthread_t t[64];
    int created = 0, rc = 0;
    while (created < 64 && (rc = pthread_create(&t[created], NULL, parked, NULL)) == 0) created++;
    printf("created %d (then: %s)\n", created, strerror(rc));
    fflush(stdout);
    pthread_mutex_lock(&mu);
    go = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < created; i++) pthread_join(t[i], NULL);
    busy_work(100);
    return 0;
}
