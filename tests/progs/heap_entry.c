/*
 * Every interposed allocation entry point, each called from its own
 * function so a heap profile taken at sample_bytes=1 can be checked
 * function by function. Checks the allocator contract itself (alignment,
 * zeroing, errno, realloc semantics) and exits 1 on any violation.
 * Expected profile values are printed as
 *   expect FUNCTION alloc_objects alloc_space inuse_objects inuse_space
 * Usage: heap_entry [--no-pvalloc] [--cxx LIB]
 *   --no-pvalloc  skip pvalloc (jemalloc has none: glibc's would serve it)
 *   --cxx LIB     also call cxx_alloc(20) from LIB (C++ new char[1000])
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
/* Kept blocks are stored here (and read at exit) so none is optimised out. */
void *volatile keep[256];
static int nkeep;

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "heap_entry: %s:%d: %s\n", __func__, __LINE__, #cond);                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void hold(void *p)
{
    keep[nkeep++] = p;
}

static void release(void *volatile *slot)
{
    free(*slot);
}

static int aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

__attribute__((noinline)) void e_malloc(void)
{
    void *volatile tmp[60];
    for (int i = 0; i < 100; i++) {
        char *p = malloc(1000);
        REQUIRE(p && aligned(p, 16) && malloc_usable_size(p) >= 1000);
        p[999] = 1;
        if (i < 40)
            hold(p);
        else
            tmp[i - 40] = p;
    }
    for (int i = 0; i < 60; i++)
        release(&tmp[i]);
    printf("expect e_malloc 100 100000 40 40000\n");
}

__attribute__((noinline)) void e_calloc(void)
{
    for (int i = 0; i < 50; i++) {
        unsigned char *p = calloc(10, 100);
        REQUIRE(p != NULL);
        for (int k = 0; p && k < 1000; k++)
            if (p[k] != 0) {
                REQUIRE(p[k] == 0);
                break;
            }
        hold(p);
    }
    errno = 0;
    size_t volatile huge = SIZE_MAX / 2;
    void *volatile big = calloc(huge, 3);
    REQUIRE(big == NULL && errno == ENOMEM);
    printf("expect e_calloc 50 50000 50 50000\n");
}

__attribute__((noinline)) void e_realloc(void)
{
    char *p = realloc(NULL, 100);
    REQUIRE(p != NULL);
    memset(p, 7, 100);
    p = realloc(p, 5000); /* grow */
    REQUIRE(p && p[0] == 7 && p[99] == 7);
    p = realloc(p, 50); /* shrink */
    REQUIRE(p && p[49] == 7);
    void *z = realloc(p, 0); /* frees p; glibc returns NULL */
    if (z)
        free(z);
    char *q = realloc(NULL, 300);
    REQUIRE(q != NULL);
    hold(q);
    printf("expect e_realloc 4 5450 1 300\n");
}

__attribute__((noinline)) void e_reallocarray(void)
{
    char *p = reallocarray(NULL, 10, 30);
    REQUIRE(p != NULL);
    p[299] = 1;
    p = reallocarray(p, 20, 30);
    REQUIRE(p && p[299] == 1);
    errno = 0;
    size_t volatile huge = SIZE_MAX / 2;
    char *volatile same = p;
    void *volatile bad = reallocarray(same, huge, 4);
    REQUIRE(bad == NULL && errno == ENOMEM);
    hold(same); /* still valid after the failed call */
    printf("expect e_reallocarray 2 900 1 600\n");
}

__attribute__((noinline)) void e_posix_memalign(void)
{
    for (int i = 0; i < 10; i++) {
        void *p = NULL;
        REQUIRE(posix_memalign(&p, 64, 1000) == 0 && p && aligned(p, 64));
        hold(p);
    }
    void *p = NULL;
    REQUIRE(posix_memalign(&p, 4096, 5000) == 0 && p && aligned(p, 4096));
    hold(p);
    void *q = (void *)1;
    REQUIRE(posix_memalign(&q, 3, 100) == EINVAL);
    printf("expect e_posix_memalign 11 15000 11 15000\n");
}

__attribute__((noinline)) void e_aligned_alloc(void)
{
    void *volatile tmp[5];
    for (int i = 0; i < 10; i++) {
        void *p = aligned_alloc(256, 2560);
        REQUIRE(p && aligned(p, 256));
        if (i < 5)
            hold(p);
        else
            tmp[i - 5] = p;
    }
    for (int i = 0; i < 5; i++)
        release(&tmp[i]);
    printf("expect e_aligned_alloc 10 25600 5 12800\n");
}

__attribute__((noinline)) void e_memalign(void)
{
    for (int i = 0; i < 10; i++) {
        void *p = memalign(128, 700);
        REQUIRE(p && aligned(p, 128));
        hold(p);
    }
    printf("expect e_memalign 10 7000 10 7000\n");
}

__attribute__((noinline)) void e_valloc(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < 3; i++) {
        void *p = valloc(10000);
        REQUIRE(p && aligned(p, (size_t)ps));
        hold(p);
    }
    printf("expect e_valloc 3 30000 3 30000\n");
}

__attribute__((noinline)) void e_pvalloc(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < 2; i++) {
        void *p = pvalloc(5000);
        REQUIRE(p && aligned(p, (size_t)ps) && malloc_usable_size(p) >= 8192);
        hold(p);
    }
    printf("expect e_pvalloc 2 10000 2 10000\n");
}

__attribute__((noinline)) void e_free_null(void)
{
    free(NULL);
    void *volatile n = NULL;
    free(n);
}

int main(int argc, char **argv)
{
    int pv = 1;
    const char *cxx = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-pvalloc") == 0)
            pv = 0;
        else if (strcmp(argv[i], "--cxx") == 0 && i + 1 < argc)
            cxx = argv[++i];
    }
    /* The agent loads its unwinder a few ms after start-up; allocations
     * before that carry only their caller. Let it, so stacks are whole. */
    usleep(50000);
    e_malloc();
    e_calloc();
    e_realloc();
    e_reallocarray();
    e_posix_memalign();
    e_aligned_alloc();
    e_memalign();
    e_valloc();
    if (pv)
        e_pvalloc();
    e_free_null();
    if (cxx) {
        void *h = dlopen(cxx, RTLD_NOW);
        void (*fn)(int) = h ? (void (*)(int))dlsym(h, "cxx_alloc") : NULL;
        REQUIRE(fn != NULL);
        if (fn) {
            fn(20);
            printf("expect cxx_alloc 20 20000 20 20000\n");
        }
    }
    size_t sum = 0;
    for (int i = 0; i < nkeep; i++)
        sum += keep[i] != NULL;
    REQUIRE(sum == (size_t)nkeep);
    printf("kept %d\n", nkeep);
    return failures ? 1 : 0;
}
