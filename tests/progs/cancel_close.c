/*
 * Threads cancelled in close, one after another for MS ms: each opens
 * /dev/null, allocates, asks for its own cancellation and calls close,
 * a cancellation point, where it ends (leaving the descriptor open, as
 * bare). Under the agent, close goes through the agent's wrapper, which
 * may wait for an open of the agent's; a thread cancelled there must
 * not leave that wait held (the agent's later opens waited on it, its
 * exports fell behind, and thousands of threads went unprofiled).
 * Prints "threads N"; exits 0.
 * Usage: cancel_close [MS]   (default 1500)
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "progs.h"

static volatile unsigned long sink;

static void *cancelled(void *arg)
{
    (void)arg;
    int fd = open("/dev/null", O_RDONLY);
    void *volatile p = malloc(70000);
    free(p);
    pthread_cancel(pthread_self());
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    double ms = argc > 1 ? atof(argv[1]) : 1500;
    double end = now_ms() + ms;
    int n = 0;
    while (now_ms() < end) {
        pthread_t t;
        if (pthread_create(&t, NULL, cancelled, NULL) != 0) return 1;
        pthread_join(t, NULL);
        n++;
        /* The descriptors the cancelled closes left: closed here, a few
         * hundred at a time, as bare. */
        if (n % 256 == 0) closefrom(3);
        for (int i = 0; i < 20000; i++) sink += (unsigned long)i;
    }
    printf("threads %d\n", n);
    return 0;
}
