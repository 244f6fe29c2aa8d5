/*
 * Locks its memory as real-time and security programs do, then works:
 * mlockall with the flags given, 2 MiB allocated and written, a thread
 * (256 KiB stack) and the main thread burning CPU in mlock_burn.
 * Prints what each call returned (the lines a test compares with a bare
 * run), then "cpu_ms N", and its VmLck and VmRSS in KiB.
 * With "deflt" its thread gets the default stack (RLIMIT_STACK's 8 MiB),
 * which an 8 MiB RLIMIT_MEMLOCK has no room for once the rest is locked.
 * Usage: mlock_all current|future|both|onfault [seconds [deflt]]
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "progs.h"

static double seconds = 1.0;
static volatile unsigned long sink;

__attribute__((noinline)) static void mlock_burn(double secs)
{
    double end = cpu_ms() + secs * 1e3;
    unsigned long x = 1;
    while (cpu_ms() < end)
        for (int i = 0; i < 10000; i++)
            x = x * 6364136223846793005UL + 1;
    sink += x;
}

static void *worker(void *arg)
{
    (void)arg;
    mlock_burn(seconds / 2);
    return NULL;
}

static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "both";
    if (argc > 2)
        seconds = atof(argv[2]);
    int flags = !strcmp(mode, "current") ? MCL_CURRENT
                : !strcmp(mode, "future") ? MCL_FUTURE
                : !strcmp(mode, "onfault") ? MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT
                                            : MCL_CURRENT | MCL_FUTURE;
    int rc = mlockall(flags);
    printf("mlockall %s: %s\n", mode, rc ? strerror(errno) : "ok");
    char *p = malloc(2 << 20);
    if (p)
        memset(p, 1, 2 << 20);
    printf("malloc: %s\n", p ? "ok" : "failed");
    pthread_attr_t a;
    pthread_attr_init(&a);
    if (argc <= 3 || strcmp(argv[3], "deflt") != 0)
        pthread_attr_setstacksize(&a, 256 << 10);
    pthread_t t;
    int e = pthread_create(&t, &a, worker, NULL);
    printf("thread: %s\n", e ? strerror(e) : "ok");
    mlock_burn(seconds);
    if (!e)
        pthread_join(t, NULL);
    printf("cpu_ms %.0f\n", cpu_ms());
    printf("VmLck %ld\nVmRSS %ld\n", status_kib("VmLck"), status_kib("VmRSS"));
    free(p);
    return 0;
}
