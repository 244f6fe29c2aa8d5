/*
 * The agent's stack walker against libunwind on the same stacks: from
 * ordinary code, through the C library (qsort's callback), frames with a
 * variable-length array (rbp-based), a signal handler on the same stack
 * (the kernel's frame), SIGPROF at random points of a busy recursion, on
 * the main thread, a pthread, and a thread on a stack the app gave. Where
 * the walker answers, its frames must be libunwind's, frame for frame;
 * it must answer nearly always. And where it cannot know the stack (a
 * coroutine's, garbage registers) it must say so, not fault.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <ucontext.h>

#include "check.h"
#include "stackwalk.h"

#define MAXF 128
/* The smallest stack the C library allows; libunwind's walk in the
 * comparison needs more than that under AddressSanitizer's larger frames. */
#ifdef __SANITIZE_ADDRESS__
#define SMALLEST (64 << 10)
#else
#define SMALLEST PTHREAD_STACK_MIN
#endif

static int (*unw_bt)(void **, int);

static int compared, same, refused;

/* Compares the walker's frames from here up with libunwind's. */
static __attribute__((noinline)) void compare_here(void)
{
    /* Not on the stack: on the smallest one these 2 KiB put the walk's
     * start within 50 bytes of the walker's lower bound (which is
     * conservative by up to 6 KiB: stackwalk.c, DESC_ROOM), where 48 more
     * bytes of static TLS had it refuse. Threads run this one at a time. */
    static uint64_t a[MAXF];
    static void *b[MAXF];
    int na = otp_stackwalk_here(a, MAXF);
    int nb = unw_bt(b, MAXF);
    if (na < 0) {
        refused++;
        return;
    }
    compared++;
    /* a[0] and b[0] are both in this function (different call sites);
     * from 1 on both are its callers' return addresses. */
    bool eq = na == nb && na > 1;
    for (int i = 1; eq && i < na; i++)
        eq = a[i] == (uint64_t)(uintptr_t)b[i];
    if (eq)
        same++;
    else if (compared - same <= 3) {
        printf("      differ: walker %d frames, libunwind %d\n", na, nb);
        for (int i = 0; i < (na > nb ? na : nb) && i < 40; i++)
            printf("        %2d %016llx %016llx\n", i, i < na ? (unsigned long long)a[i] : 0ull,
                   i < nb ? (unsigned long long)(uintptr_t)b[i] : 0ull);
    }
}

static int cmp_once; /* one walk per qsort */

static int cmp_int(const void *x, const void *y)
{
    if (!cmp_once++)
        compare_here();
    return *(const int *)x - *(const int *)y;
}

static __attribute__((noinline)) int with_vla(int n)
{
    volatile char buf[n];
    buf[0] = (char)n;
    compare_here();
    return buf[0];
}

static __attribute__((noinline)) int recurse(int depth, int (*leaf)(int))
{
    if (depth == 0)
        return leaf(depth);
    int r = recurse(depth - 1, leaf) + 1;
    __asm__ volatile("" ::: "memory");
    return r;
}

static int leaf_plain(int x)
{
    compare_here();
    return x;
}

static int leaf_qsort(int x)
{
    int v[8] = {5, 3, 7, 1, 8, 2, 6, 4};
    qsort(v, 8, sizeof v[0], cmp_int);
    return x + v[0];
}

static int leaf_vla(int x)
{
    return with_vla(x + 100);
}

static void on_usr1(int sig)
{
    (void)sig;
    compare_here();
}

static int leaf_signal(int x)
{
    raise(SIGUSR1);
    return x;
}

/* ---- SIGPROF at random points ---------------------------------------- */

static volatile sig_atomic_t prof_on;
static int prof_compared, prof_same, prof_refused;

static void on_prof(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    if (!prof_on)
        return;
    const ucontext_t *uc = ctx;
    uint64_t a[MAXF];
    void *b[MAXF];
    int na = otp_stackwalk_signal(uc, a, MAXF);
    int nb = unw_bt(b, MAXF);
    if (na < 0) {
        prof_refused++;
        return;
    }
    prof_compared++;
    /* libunwind starts here: find the interrupted PC in its frames. */
    int j = 0;
    while (j < nb && (uint64_t)(uintptr_t)b[j] != a[0])
        j++;
    bool eq = j < nb && nb - j == na;
    for (int i = 0; eq && i < na; i++)
        eq = a[i] == (uint64_t)(uintptr_t)b[j + i];
    if (eq)
        prof_same++;
}

static volatile double sink;

/* An interrupted epilogue: after `pop %rbp` the rules still say rbp is
 * at CFA - 16, which is now below rsp (in the red zone). And a function
 * whose rules take ~12000 instructions to reach its end, as GCC's
 * generated recognisers do in cc1. */
extern char epi_fn[], epi_ret[], giant_fn[], giant_ret[];
__asm__(".text\n"
        "epi_fn:\n"
        ".cfi_startproc\n"
        "  push %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "  nop\n"
        "  pop %rbp\n"
        ".cfi_def_cfa_offset 8\n"
        "epi_ret:\n"
        "  ret\n"
        ".cfi_endproc\n"
        "giant_fn:\n"
        ".cfi_startproc\n"
        ".rept 3000\n"
        "  push %rax\n"
        ".cfi_adjust_cfa_offset 8\n"
        "  pop %rax\n"
        ".cfi_adjust_cfa_offset -8\n"
        ".endr\n"
        "giant_ret:\n"
        "  ret\n"
        ".cfi_endproc\n");

/* Walks from `pc` in a frame whose return address is `ret`, on a stack
 * made here (in this thread's bounds) with `saved_rbp` just below it. */
static int walk_at(char *pc, uint64_t ret, uint64_t saved_rbp, uint64_t *out)
{
    uint64_t fake[64];
    memset(fake, 0, sizeof fake);
    fake[31] = saved_rbp;
    fake[32] = ret; /* rsp points here: the return address */
    fake[33] = 0;   /* the next frame's: the walk ends there */
    ucontext_t uc;
    getcontext(&uc);
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)pc;
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)&fake[32];
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)0;
    int n = otp_stackwalk_signal(&uc, out, MAXF);
    __asm__ volatile("" ::: "memory");
    return n;
}

static int leaf_busy(int x);

/* Two frames of JIT code (PCs in no object) linked by rbp, on a stack
 * made here, under leaf_busy's entry (CFA = rsp + 8, return address 0). */
static int no_cfi_chain(uint64_t *out)
{
    uint64_t fake[64];
    memset(fake, 0, sizeof fake);
    fake[10] = (uint64_t)(uintptr_t)&fake[20];
    fake[11] = 0x5678;
    fake[20] = (uint64_t)(uintptr_t)&fake[20]; /* a loop: the walk only goes up */
    fake[21] = (uint64_t)(uintptr_t)&leaf_busy + 1;
    ucontext_t uc;
    getcontext(&uc);
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)0x1234;
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)&fake[8];
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)(uintptr_t)&fake[10];
    int n = otp_stackwalk_signal(&uc, out, MAXF);
    __asm__ volatile("" ::: "memory");
    return n;
}

static int leaf_busy(int x)
{
    double s = 0;
    for (int i = 0; i < 200000; i++)
        s += i * 0.5 / (i + 1.0);
    sink = s;
    return x;
}

static void busy_run(int rounds)
{
    for (int r = 0; r < rounds; r++)
        recurse(5 + r % 7, leaf_busy);
}

static void run_all(const char *where)
{
    compared = same = refused = cmp_once = 0;
    recurse(10, leaf_plain);
    recurse(3, leaf_qsort);
    recurse(7, leaf_vla);
    recurse(4, leaf_signal);
    char name[96];
    snprintf(name, sizeof name, "%s: the walker answered all 4 walks (%d refused)", where, refused);
    CHECK_NAMED(name, refused == 0 && compared == 4);
    snprintf(name, sizeof name, "%s: its frames are libunwind's in %d of %d", where, same, compared);
    CHECK_NAMED(name, same == compared && compared > 0);
}

struct thread_arg {
    size_t size; /* as the agent takes it: from the attributes, in the parent */
    char name[32];
};

static void *thread_main(void *p)
{
    const struct thread_arg *t = p;
    otp_stackwalk_pthread(t->size, 0);
    uintptr_t lo, hi;
    CHECK_NAMED("thread: bounds taken", otp_stackwalk_bounds(&lo, &hi));
    /* Within the stack the C library reports (its readable part). */
    pthread_attr_t at;
    void *addr = NULL;
    size_t sz = 0;
    if (pthread_getattr_np(pthread_self(), &at) == 0) {
        pthread_attr_getstack(&at, &addr, &sz);
        pthread_attr_destroy(&at);
    }
    printf("  %s: bounds [%#lx, %#lx), the C library's stack [%p, %#lx)\n", t->name, (unsigned long)lo,
           (unsigned long)hi, addr, (unsigned long)((uintptr_t)addr + sz));
    CHECK_NAMED("thread: the bounds lie within the thread's readable stack",
                addr && lo >= (uintptr_t)addr && hi <= (uintptr_t)addr + sz && hi - lo >= t->size - (16 << 10));
    run_all(t->name);
    return NULL;
}

struct user_arg {
    size_t size;
    uintptr_t lo;
};

static void *user_thread(void *p)
{
    struct user_arg *u = p;
    otp_stackwalk_pthread(u->size, u->lo);
    uintptr_t lo, hi;
    CHECK_NAMED("user stack: bounds are the stack given", otp_stackwalk_bounds(&lo, &hi) && lo == u->lo &&
                                                              hi == u->lo + u->size);
    run_all("user stack");
    return NULL;
}

/* ---- where it must refuse -------------------------------------------- */

static ucontext_t co_ctx, main_ctx;
static int co_result;

static void co_body(void)
{
    uint64_t a[MAXF];
    co_result = otp_stackwalk_here(a, MAXF);
}

int main(void)
{
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    unw_bt = h ? (int (*)(void **, int))dlsym(h, "unw_backtrace") : NULL;
    CHECK_NAMED("libunwind loaded", unw_bt != NULL);
    if (!unw_bt)
        return check_done();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);

    /* No bounds yet: refused. */
    uint64_t a[MAXF];
    CHECK_NAMED("without bounds the walker refuses", otp_stackwalk_here(a, MAXF) == -1);

    otp_stackwalk_main_thread();
    uintptr_t lo, hi;
    CHECK_NAMED("main thread: bounds taken", otp_stackwalk_bounds(&lo, &hi) && hi > (uintptr_t)&lo);
    run_all("main thread");

    /* A pthread with the default stack, and one with a small set size. */
    size_t sizes[2];
    uintptr_t user;
    otp_stackwalk_attr(NULL, &sizes[0], &user);
    CHECK_NAMED("default attributes: a size, no stack of the app's", sizes[0] >= 65536 && user == 0);
    struct thread_arg targ[3];
    for (int i = 0; i < 3; i++) {
        pthread_attr_t at;
        pthread_attr_init(&at);
        if (i == 1)
            pthread_attr_setstacksize(&at, 256 << 10);
        if (i == 2)
            pthread_attr_setstacksize(&at, SMALLEST);
        otp_stackwalk_attr(i ? &at : NULL, &targ[i].size, &user);
        snprintf(targ[i].name, sizeof targ[i].name, "%s", i == 2 ? "thread, smallest stack" : i ? "thread, 256 KiB stack" : "thread");
        pthread_t th;
        pthread_create(&th, i ? &at : NULL, thread_main, &targ[i]);
        pthread_join(th, NULL);
        pthread_attr_destroy(&at);
    }
    CHECK_NAMED("a set stack size is read", targ[1].size == 256 << 10);

    /* A stack of the app's own. */
    size_t usz = 512 << 10;
    void *ustk = mmap(NULL, usz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstack(&at, ustk, usz);
    struct user_arg u;
    otp_stackwalk_attr(&at, &u.size, &u.lo);
    CHECK_NAMED("a stack of the app's is read as such", u.lo == (uintptr_t)ustk && u.size == usz);
    pthread_t th;
    pthread_create(&th, &at, user_thread, &u);
    pthread_join(th, NULL);
    pthread_attr_destroy(&at);

    /* SIGPROF at random points of a busy recursion. */
    struct sigaction sp;
    memset(&sp, 0, sizeof sp);
    sp.sa_sigaction = on_prof;
    sp.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGPROF, &sp, NULL);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    prof_on = 1;
    setitimer(ITIMER_PROF, &it, NULL);
    while (prof_compared + prof_refused < 400)
        busy_run(20);
    prof_on = 0;
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_PROF, &it, NULL);
    printf("  SIGPROF: %d walks, %d refused, %d as libunwind's\n", prof_compared + prof_refused, prof_refused,
           prof_same);
    CHECK_NAMED("SIGPROF: the walker answers at least 98% of interruptions",
                prof_refused * 50 <= prof_compared + prof_refused);
    CHECK_NAMED("SIGPROF: where it answers, its frames are libunwind's", prof_same == prof_compared);

    /* A coroutine on a stack outside the thread's: refused, no fault. */
    size_t csz = 64 << 10;
    char *cstk = malloc(csz);
    getcontext(&co_ctx);
    co_ctx.uc_stack.ss_sp = cstk;
    co_ctx.uc_stack.ss_size = csz;
    co_ctx.uc_link = &main_ctx;
    makecontext(&co_ctx, co_body, 0);
    co_result = 0;
    swapcontext(&main_ctx, &co_ctx);
    CHECK_NAMED("a coroutine's stack is refused", co_result == -1);
    free(cstk);

    /* Garbage registers: a frame whose CFA is rbp-based with rbp far
     * outside the stack, an rsp at the very top, a PC nowhere. */
    ucontext_t uc;
    getcontext(&uc);
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)&with_vla + 40;
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)0x10;
    int n = otp_stackwalk_signal(&uc, a, MAXF);
    CHECK_NAMED("garbage rbp: refused or short, no fault", n == -1 || (n >= 1 && n < MAXF));
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)0x1234;
    n = otp_stackwalk_signal(&uc, a, MAXF);
    CHECK_NAMED("a PC in no object, rbp outside the stack: the leaf alone", n == 1 && a[0] == 0x1234);
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)0x100000000;
    n = otp_stackwalk_signal(&uc, a, MAXF);
    CHECK_NAMED("a PC in no object, rbp unmapped: the leaf alone, no fault", n == 1);
    n = no_cfi_chain(a);
    CHECK_NAMED("code without call-frame information: its frame-pointer chain, into code with it",
                n == 3 && a[0] == 0x1234 && a[1] == 0x5678 && a[2] == (uint64_t)(uintptr_t)&leaf_busy + 1);

    /* The frame above is leaf_busy's entry (CFA = rsp + 8), whose return
     * address is 0: two frames. */
    uint64_t above = (uint64_t)(uintptr_t)&leaf_busy + 1;
    n = walk_at(epi_ret, above, (uint64_t)(uintptr_t)&n, a);
    CHECK_NAMED("an epilogue after pop %rbp: rbp read from the red zone, walked on",
                n == 2 && a[0] == (uint64_t)(uintptr_t)epi_ret && a[1] == above);
    n = walk_at(giant_ret, above, 0, a);
    CHECK_NAMED("a function of 12000 rule instructions: walked", n == 2 && a[1] == above);
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)&leaf_busy;
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)0x1000;
    CHECK_NAMED("rsp outside the stack: refused", otp_stackwalk_signal(&uc, a, MAXF) == -1);

    /* Forgetting empties the shared table. */
    CHECK_NAMED("shapes were cached", otp_stackwalk_cached() > 10);
    otp_stackwalk_forget();
    CHECK_EQ_INT(otp_stackwalk_cached(), 0);
    return check_done();
}
