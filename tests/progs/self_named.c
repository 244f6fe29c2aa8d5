/*
 * Threads that name themselves after they started and end before the
 * next export: one with pthread_setname_np, one with prctl(PR_SET_NAME).
 * Each burns 100 ms of CPU under its first name, then 400 ms under the
 * new one.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <time.h>

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static volatile unsigned long sink;

static void burn(double ms)
{
    double end = cpu_ms() + ms;
    while (cpu_ms() < end)
        for (int i = 0; i < 10000; i++)
            sink += (unsigned long)i * i;
}

static void *by_pthread(void *arg)
{
    (void)arg;
    burn(100);
    pthread_setname_np(pthread_self(), "named-pthread");
    burn(400);
    return NULL;
}

static void *by_prctl(void *arg)
{
    (void)arg;
    burn(100);
    prctl(PR_SET_NAME, "named-prctl", 0, 0, 0);
    burn(400);
    return NULL;
}

int main(void)
{
    pthread_t a, b;
    pthread_create(&a, NULL, by_pthread, NULL);
    pthread_create(&b, NULL, by_prctl, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    puts("done");
    return 0;
}
