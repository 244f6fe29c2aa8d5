/*
 * Forks, from two threads, for as long as it is told, while the agent
 * sets up its allocator (the app's first pthread_create starts the
 * agent's thread, whose first allocation does it; a test stretches that
 * set-up). Each child allocates and leaves through exit(), where the
 * agent's final export allocates too (with "quick", through _exit(), so
 * that no child delays the next fork). A child not reaped within 10 s is
 * counted as hung and killed.
 * Usage: fork_in_setup [milliseconds [quick]]
 * Prints: forks N hung H failed F max_fork_ms M create_ms C (how long
 * the first pthread_create took)
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double run_ms = 600;
static int quick;
static atomic_int forks, hung, failed;
static _Atomic long long max_fork_ns;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void reap(pid_t pid)
{
    long long deadline = now_ns() + 10000000000LL;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 || now_ns() > deadline) {
            atomic_fetch_add(&hung, 1);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 7)
        atomic_fetch_add(&failed, 1);
}

static void *fork_loop(void *arg)
{
    (void)arg;
    long long end = now_ns() + (long long)(run_ms * 1e6);
    while (now_ns() < end) {
        long long t0 = now_ns();
        pid_t pid = fork();
        long long took = now_ns() - t0;
        if (pid == 0) {
            if (quick)
                _exit(7);
            char *volatile p = malloc(4096);
            memset(p, 1, 4096);
            free(p);
            exit(7);
        }
        if (pid < 0) {
            atomic_fetch_add(&failed, 1);
            continue;
        }
        atomic_fetch_add(&forks, 1);
        long long m = atomic_load(&max_fork_ns);
        while (took > m && !atomic_compare_exchange_weak(&max_fork_ns, &m, took)) {
        }
        reap(pid);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        run_ms = atof(argv[1]);
    quick = argc > 2 && strcmp(argv[2], "quick") == 0;
    pthread_t t;
    long long t0 = now_ns();
    if (pthread_create(&t, NULL, fork_loop, NULL) != 0)
        return 2;
    double create_ms = (double)(now_ns() - t0) / 1e6;
    fork_loop(NULL);
    pthread_join(t, NULL);
    printf("forks %d hung %d failed %d max_fork_ms %.1f create_ms %.1f\n", atomic_load(&forks), atomic_load(&hung),
           atomic_load(&failed), (double)atomic_load(&max_fork_ns) / 1e6, create_ms);
    return 0;
}
