/*
 * Allocation stress for the heap hooks: THREADS workers each allocate
 * ITERS blocks of mixed sizes in stress_alloc() and swap them into a
 * shared array of slots, freeing whatever they take out, so most blocks
 * are freed by another thread than the one that allocated them; one more
 * thread loops dlopen/dlsym/dlclose of LIB (whose static initialisers
 * allocate inside the loader). Prints "allocs N frees N dlopens N" and
 * exits 1 if the counts do not balance.
 * Usage: heap_stress THREADS ITERS LIB
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096

static _Atomic(char *) slots[SLOTS];
static _Atomic long n_alloc, n_free, n_dlopen;
static _Atomic int workers_done;
static long iters;
static const char *lib;

__attribute__((noinline)) static char *stress_alloc(size_t n)
{
    char *p = malloc(n);
    if (p) {
        p[0] = 1;
        p[n - 1] = 2;
    }
    return p;
}

__attribute__((noinline)) static void stress_free(char *p)
{
    free(p);
}

static void *worker(void *arg)
{
    uint64_t s = 0x9e3779b97f4a7c15ULL * ((uintptr_t)arg + 1);
    long allocs = 0, frees = 0;
    for (long i = 0; i < iters; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        size_t n = 16 + (size_t)(s % 2032);
        char *p = stress_alloc(n);
        if (!p)
            continue;
        allocs++;
        char *old = atomic_exchange(&slots[(s >> 32) % SLOTS], p);
        if (old) {
            stress_free(old);
            frees++;
        }
    }
    atomic_fetch_add(&n_alloc, allocs);
    atomic_fetch_add(&n_free, frees);
    return NULL;
}

static void *loader(void *arg)
{
    (void)arg;
    while (!atomic_load(&workers_done)) {
        void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "heap_stress: %s\n", dlerror());
            return NULL;
        }
        int (*fn)(void) = (int (*)(void))dlsym(h, "cxx_words");
        if (!fn || fn() <= 0)
            abort();
        dlclose(h);
        atomic_fetch_add(&n_dlopen, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: heap_stress THREADS ITERS LIB\n");
        return 2;
    }
    int n = atoi(argv[1]);
    iters = atol(argv[2]);
    lib = argv[3];
    pthread_t th[64], ld;
    if (n > 64)
        n = 64;
    pthread_create(&ld, NULL, loader, NULL);
    for (int i = 0; i < n; i++)
        pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    atomic_store(&workers_done, 1);
    pthread_join(ld, NULL);
    long frees = atomic_load(&n_free);
    for (int i = 0; i < SLOTS; i++) {
        char *p = atomic_exchange(&slots[i], NULL);
        if (p) {
            stress_free(p);
            frees++;
        }
    }
    long allocs = atomic_load(&n_alloc);
    printf("allocs %ld frees %ld dlopens %ld\n", allocs, frees, (long)atomic_load(&n_dlopen));
    return allocs == frees && allocs == (long)n * iters ? 0 : 1;
}
