/*
 * Forks from a process whose other threads keep the dynamic loader busy
 * (dlopen and dlclose in a loop), as plugin hosts and interpreters do:
 * fork copies the loader's locks and lists as they are at that instant.
 * Each child allocates, burns 20 ms of CPU in child_work and calls _exit(7),
 * nothing more; a child that takes over a second is killed and counted
 * as slow.
 * Usage: fork_loader CHILDREN
 * Prints "children N exited-7 K slow S".
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "progs.h"

static volatile int stop;
static volatile unsigned long sink;

static void *loader(void *arg)
{
    (void)arg;
    while (!stop) {
        void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
        if (h)
            dlclose(h);
        h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        if (h)
            dlclose(h);
    }
    return NULL;
}

__attribute__((noinline)) static void child_work(void)
{
    for (int j = 0; j < 2000; j++) {
        char *m = malloc(1000);
        sink += (unsigned long)(uintptr_t)m;
        free(m);
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    do {
        for (int k = 0; k < 10000; k++)
            sink += (unsigned long)k * k;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 20000000L);
}

int main(int argc, char **argv)
{
    int children = argc > 1 ? atoi(argv[1]) : 200;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, loader, NULL) != 0)
            return 2;
    int exited7 = 0, slow = 0;
    for (int i = 0; i < children; i++) {
        pid_t p = fork();
        if (p < 0)
            return 3;
        if (p == 0) {
            child_work();
            _exit(7);
        }
        int st = 0;
        double t0 = now_ms();
        for (;;) {
            pid_t r = waitpid(p, &st, WNOHANG);
            if (r == p)
                break;
            if (now_ms() - t0 > 1000) {
                slow++;
                kill(p, SIGKILL);
                waitpid(p, &st, 0);
                break;
            }
            usleep(200);
        }
        if (WIFEXITED(st) && WEXITSTATUS(st) == 7)
            exited7++;
    }
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("children %d exited-7 %d slow %d\n", children, exited7, slow);
    return 0;
}
