/*
 * Traced workload: two threads, each switching between two spans of its
 * own trace; span "a" runs traced_work_a and allocates in traced_alloc_a,
 * span "b" runs traced_work_b and allocates in traced_alloc_b.
 * The ids are printed ("span THREAD NAME TRACE SPAN") so the test can
 * check that every sample's link names the span its function ran under.
 *
 * It uses otprof's API the way an app that may run without the agent
 * should: look the functions up with dlsym at start and skip the calls
 * when they are absent. A weak declaration works as well (the dynamic
 * loader binds it to the preloaded agent, or leaves it NULL):
 *   extern void otprof_set_trace_context(const uint8_t *, const uint8_t *)
 *       __attribute__((weak));
 *   if (otprof_set_trace_context) otprof_set_trace_context(t, s);
 * Usage: traced [seconds]
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef void (*set_fn)(const uint8_t *, const uint8_t *);
typedef void (*clear_fn)(void);
static set_fn set_ctx;
static clear_fn clear_ctx;
static double seconds = 2.0;
static volatile uint64_t sink;

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Both burn `budget` seconds of this thread's CPU. */
__attribute__((noinline)) static void traced_work_a(double budget)
{
    double end = thread_cpu() + budget;
    uint64_t x = 3;
    while (thread_cpu() < end)
        for (int i = 0; i < 3000; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sink += x;
}

__attribute__((noinline)) static void traced_work_b(double budget)
{
    double end = thread_cpu() + budget;
    uint64_t x = 5;
    while (thread_cpu() < end)
        for (int i = 0; i < 3000; i++) x ^= x << 7, x ^= x >> 9;
    sink += x;
}

/* 256 KiB in 4 KiB blocks, freed again: heap samples under the span. */
__attribute__((noinline)) static void traced_alloc_a(void)
{
    for (int i = 0; i < 64; i++) {
        char *volatile p = malloc(4096);
        if (p) p[0] = (char)i;
        free(p);
    }
}

__attribute__((noinline)) static void traced_alloc_b(void)
{
    for (int i = 0; i < 64; i++) {
        char *volatile p = malloc(4096);
        if (p) p[0] = (char)i;
        free(p);
    }
}

typedef struct {
    int id;
    uint8_t trace[16], span_a[8], span_b[8];
} job_t;

static void hex(const uint8_t *p, int n, char *out)
{
    for (int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

static void *run(void *arg)
{
    job_t *j = arg;
    double end = thread_cpu() + seconds;
    while (thread_cpu() < end) {
        /* short spans, so a stale context would show up as cross-attribution */
        if (set_ctx) set_ctx(j->trace, j->span_a);
        traced_work_a(0.007);
        traced_alloc_a();
        if (set_ctx) set_ctx(j->trace, j->span_b);
        traced_work_b(0.013);
        traced_alloc_b();
        if (clear_ctx) clear_ctx();
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) seconds = atof(argv[1]);
    set_ctx = (set_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "otprof_set_trace_context");
    clear_ctx = (clear_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "otprof_clear_trace_context");
    printf("agent api %s\n", set_ctx && clear_ctx ? "present" : "absent");
    job_t jobs[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        jobs[k].id = k;
        for (int i = 0; i < 16; i++) jobs[k].trace[i] = (uint8_t)(0x10 * (k + 1) + i);
        for (int i = 0; i < 8; i++) {
            jobs[k].span_a[i] = (uint8_t)(0xa0 + 0x08 * k + i);
            jobs[k].span_b[i] = (uint8_t)(0xb0 + 0x08 * k + i);
        }
        char t[33], a[17], b[17];
        hex(jobs[k].trace, 16, t);
        hex(jobs[k].span_a, 8, a);
        hex(jobs[k].span_b, 8, b);
        printf("span %d a %s %s traced_work_a\n", k, t, a);
        printf("span %d b %s %s traced_work_b\n", k, t, b);
    }
    fflush(stdout);
    for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, run, &jobs[k]);
    for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
    printf("done\n");
    return 0;
}
