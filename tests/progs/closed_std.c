/*
 * A program that closes its stdin, stdout and stderr and goes on working,
 * as a careless daemon does (and as coreutils do just before exit): two
 * threads allocate and spin for MS ms, and every 50 ms try to write a
 * line to the closed stdout and stderr. Those writes must keep failing
 * (EBADF), as they do bare: the agent must never hold a descriptor behind
 * those numbers. Exits 0, or 1 when a write reached something.
 * Usage: closed_std [MS]   (default 1200)
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progs.h"

static long run_ms = 1200;
static atomic_int reached;
static volatile unsigned long sink;

__attribute__((noinline)) static void churn(int k)
{
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = malloc((size_t)(64 + (i * 97 + k) % 8000));
        memset(p[i], i, 16);
    }
    for (int i = 0; i < 64; i++) free(p[i]);
    for (int i = 0; i < 20000; i++) sink += (unsigned long)i * (unsigned long)k;
}

static void *work(void *arg)
{
    (void)arg;
    double end = now_ms() + (double)run_ms, next = 0;
    for (int k = 0; now_ms() < end; k++) {
        churn(k);
        if (now_ms() >= next) {
            next = now_ms() + 50;
            if (write(1, "out\n", 4) >= 0 || errno != EBADF) atomic_store(&reached, 1);
            if (write(2, "err\n", 4) >= 0 || errno != EBADF) atomic_store(&reached, 1);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) run_ms = atol(argv[1]);
    close(0);
    close(1);
    close(2);
    pthread_t t;
    if (pthread_create(&t, NULL, work, NULL) != 0) return 2;
    work(NULL);
    pthread_join(t, NULL);
    return atomic_load(&reached) ? 1 : 0;
}
