/*
 * Two threads open /dev/null and close it again, as fast as they can,
 * for SECONDS; prints how many closes there were and how many failed (0
 * bare: each closes a descriptor it has just opened). Under the agent,
 * whose thread opens and closes its own files at every export, a close
 * of a number the agent had just closed (and the kernel just handed to
 * the app) was taken for a close of the agent's and failed with EBADF.
 * Usage: close_race [SECONDS]   (default 2)
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define THREADS 2

static volatile int stop;
static long failed[THREADS], closes[THREADS];

static void *open_close(void *arg)
{
    long k = (long)arg;
    while (!stop) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0)
            continue;
        if (close(fd) != 0)
            failed[k]++;
        closes[k]++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double s = argc > 1 ? atof(argv[1]) : 2;
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, open_close, (void *)i) != 0)
            return 2;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
    stop = 1;
    long f = 0, c = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        f += failed[i];
        c += closes[i];
    }
    printf("closes %ld failed %ld\n", c, f);
    return 0;
}
