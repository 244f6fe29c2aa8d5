/*
 * How much alternate signal stack a profiler's SIGPROF handler uses. A
 * thread installs its own painted sigaltstack (a profiler must use an
 * app's alternate stack as it is), burns CPU, then reports how deep the
 * paint was overwritten. The same measurement for a trivial handler of its
 * own (SIGUSR1 on the same stack) gives the kernel's signal frame.
 * Prints "kernel_frame=N handler=M" in bytes.
 * With "query", prints instead what sigaltstack reports to a new thread
 * through installing and removing a stack of its own (a profiler's own
 * signal stack must not show).
 * Usage: sigstack_depth [seconds | query]
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STACK_BYTES (256 * 1024)
#define PAINT 0xa5

static unsigned char *stack_mem;
static double seconds = 1.0;
static volatile uint64_t sink;

static void paint(void)
{
    memset(stack_mem, PAINT, STACK_BYTES);
}

/* Bytes used from the top (stacks grow down). */
static size_t used(void)
{
    size_t i = 0;
    while (i < STACK_BYTES && stack_mem[i] == PAINT)
        i++;
    return STACK_BYTES - i;
}

static void trivial(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    sink++;
}

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void depth_burn(void)
{
    double end = thread_cpu() + seconds;
    uint64_t x = 3;
    while (thread_cpu() < end)
        for (int i = 0; i < 5000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sink += x;
}

static void *worker(void *arg)
{
    (void)arg;
    stack_t ss = {.ss_sp = stack_mem, .ss_size = STACK_BYTES, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        return (void *)1;
    paint();
    for (int i = 0; i < 10; i++)
        raise(SIGUSR1);
    size_t kernel = used();
    paint();
    depth_burn();
    size_t handler = used();
    printf("kernel_frame=%zu handler=%zu\n", kernel, handler);
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    return NULL;
}

static void report(const char *when)
{
    stack_t cur;
    sigaltstack(NULL, &cur);
    printf("%s: disabled=%d own=%d size=%zu\n", when, (cur.ss_flags & SS_DISABLE) != 0,
           cur.ss_sp == (void *)stack_mem, cur.ss_size);
}

static void *query(void *arg)
{
    (void)arg;
    report("new thread");
    stack_t ss = {.ss_sp = stack_mem, .ss_size = STACK_BYTES, .ss_flags = 0}, old;
    sigaltstack(&ss, &old);
    printf("replaced: old disabled=%d\n", (old.ss_flags & SS_DISABLE) != 0);
    report("own stack installed");
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    report("own stack removed");
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "query") == 0) {
        stack_mem = aligned_alloc(4096, STACK_BYTES);
        report("main thread");
        pthread_t th;
        pthread_create(&th, NULL, query, NULL);
        pthread_join(th, NULL);
        return 0;
    }
    if (argc > 1)
        seconds = atof(argv[1]);
    stack_mem = aligned_alloc(4096, STACK_BYTES);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = trivial;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t th;
    void *rc = NULL;
    pthread_create(&th, NULL, worker, NULL);
    pthread_join(th, &rc);
    return rc ? 1 : 0;
}
