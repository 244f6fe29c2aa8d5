/*
 * Demo workload: a few threads doing recognisable CPU work (a prime sieve,
 * a hash loop, a sort) plus some allocation, for `make demo`.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static uint64_t sieve_primes(int limit)
{
    char *composite = calloc((size_t)limit + 1, 1);
    uint64_t count = 0;
    for (int i = 2; i <= limit; i++) {
        if (composite[i])
            continue;
        count++;
        for (long j = (long)i * i; j <= limit; j += i)
            composite[j] = 1;
    }
    free(composite);
    return count;
}

__attribute__((noinline)) static uint64_t hash_rounds(uint64_t seed, long rounds)
{
    uint64_t h = seed;
    for (long i = 0; i < rounds; i++) {
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    return h;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

__attribute__((noinline)) static uint32_t sort_numbers(int n, uint32_t seed)
{
    uint32_t *v = malloc((size_t)n * sizeof *v);
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = seed;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_u32);
    uint32_t mid = v[n / 2];
    free(v);
    return mid;
}

static double seconds = 2.0;

static void *worker(void *arg)
{
    long id = (long)arg;
    uint64_t acc = 0;
    double end = now() + seconds;
    while (now() < end) {
        switch (id % 3) {
        case 0: acc += sieve_primes(200000); break;
        case 1: acc += hash_rounds(acc + 1, 2000000); break;
        default: acc += sort_numbers(50000, (uint32_t)acc); break;
        }
    }
    return (void *)(uintptr_t)acc;
}

int main(int argc, char **argv)
{
    int nthreads = argc > 1 ? atoi(argv[1]) : 3;
    if (argc > 2)
        seconds = atof(argv[2]);
    pthread_t th[64];
    if (nthreads > 64)
        nthreads = 64;
    for (long i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    uint64_t acc = 0;
    for (int i = 0; i < nthreads; i++) {
        void *r;
        pthread_join(th[i], &r);
        acc += (uint64_t)(uintptr_t)r;
    }
    printf("demo: %d threads, %.1f s, checksum %llu\n", nthreads, seconds, (unsigned long long)(acc & 0xffff));
    return 0;
}
