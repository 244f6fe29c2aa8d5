/*
 * Memory benchmark: N threads that start and then wait; prints VmRSS
 * (KiB) while all of them are alive. A profiler should cost an idle thread
 * next to nothing.
 * Usage: idle_threads [N]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_barrier_t started, done;

static void *idle(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&started);
    pthread_barrier_wait(&done);
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 128;
    if (n < 1 || n > 1024)
        n = 128;
    pthread_t *t = calloc((size_t)n, sizeof *t);
    pthread_barrier_init(&started, NULL, (unsigned)n + 1);
    pthread_barrier_init(&done, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, idle, NULL);
    pthread_barrier_wait(&started);
    usleep(50000);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            printf("%ld\n", atol(line + 6));
    if (f)
        fclose(f);
    pthread_barrier_wait(&done);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    free(t);
    return 0;
}
