/*
 * Code the unwinder cannot describe, and threads started with SIGPROF
 * blocked: a JIT-like stub in an anonymous executable mapping (no unwind
 * information, no symbols) runs hot in one thread, while another thread,
 * created from a context that blocks SIGPROF, burns CPU in a named
 * function; then a stub whose rbp points at unmapped memory runs in a
 * third thread. Prints what they computed.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

typedef uint64_t (*stub_fn)(uint64_t, uint64_t (*)(uint64_t));

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What the stub with a wild frame pointer calls: code with call-frame
 * information, under JIT code without. */
__attribute__((noinline)) static uint64_t count_down(uint64_t n)
{
    while (n) {
        __asm__ volatile("" : "+r"(n));
        n--;
    }
    return n;
}

/* Runs machine code copied into an anonymous executable mapping, for
 * s CPU seconds; returns non-NULL when it ran and computed right. */
static void *run_stub(const unsigned char *code, size_t len, double s)
{
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    memcpy(m, code, len);
    mprotect(m, 4096, PROT_READ | PROT_EXEC);
    stub_fn f = (stub_fn)m;
    uint64_t calls = 0, left = 0;
    double end = cpu_now() + s;
    while (cpu_now() < end) {
        left += f(2000000, count_down); /* counts down to 0 */
        calls++;
        /* A runtime allocates between its compiled code's runs. */
        void *volatile p = malloc(64);
        free(p);
    }
    munmap(m, 4096);
    return (void *)(uintptr_t)(calls > 0 && left == 0);
}

static void *jit_thread(void *arg)
{
    /* loop: sub rdi, 1; jnz loop; mov rax, rdi; ret */
    static const unsigned char code[] = {0x48, 0x83, 0xEF, 0x01, 0x75, 0xFA, 0x48, 0x89, 0xF8, 0xC3};
    return run_stub(code, sizeof code, *(double *)arg);
}

/* JIT code that uses rbp as an ordinary register, as HotSpot's compiled
 * code does: rbp holds an address that is not mapped while it runs, and
 * while it calls a C function that does the work. Run in a thread started
 * after the first phase, by when a profiler that loads its unwinder
 * lazily has it. */
static void *bad_fp_thread(void *arg)
{
    /* push rbp; movabs rbp, 0x100000000; call *rsi; pop rbp; ret */
    static const unsigned char code[] = {0x55, 0x48, 0xBD, 0x00, 0x00, 0x00, 0x00, 0x01,
                                         0x00, 0x00, 0x00, 0xFF, 0xD6, 0x5D, 0xC3};
    return run_stub(code, sizeof code, *(double *)arg);
}

static volatile uint64_t sink;

__attribute__((noinline)) static void blocked_burner(double s)
{
    double end = cpu_now() + s;
    uint64_t x = 1;
    while (cpu_now() < end)
        for (int i = 0; i < 10000; i++)
            x = x * 2862933555777941757ULL + 3037000493ULL;
    sink = x;
}

static void *blocked_thread(void *arg)
{
    blocked_burner(*(double *)arg);
    return NULL;
}

int main(void)
{
    double s = 0.5;
    pthread_t a, b;
    pthread_create(&a, NULL, jit_thread, &s);
    sigset_t prof, old;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, &old);
    pthread_create(&b, NULL, blocked_thread, &s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    void *r, *r2;
    pthread_join(a, &r);
    pthread_join(b, NULL);
    pthread_create(&a, NULL, bad_fp_thread, &s);
    pthread_join(a, &r2);
    printf("jit stub ran: %s\n", r == NULL ? "no" : "yes");
    printf("stub with a wild frame pointer ran: %s\n", r2 == NULL ? "no" : "yes");
    return 0;
}
