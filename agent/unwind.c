/*
 * libunwind, bound privately. Debian's libunwind.so.8 exports the
 * _Unwind_* family; loading it RTLD_LOCAL keeps those out of the global
 * scope so the app's C++ exceptions keep using libgcc. RTLD_NOW resolves
 * everything up front: no lazy binding may happen in a signal handler.
 * It takes the walks the agent's own walker hands over (stackwalk.h).
 * unw_backtrace is used for them: its fast path caches frame shapes per
 * thread and takes no lock (the unw_step cursor path takes a global cache
 * lock, and serves only a thread's first few heap samples).
 */
#include "unwind.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "altstack.h"
#include "internal.h"
#include "loader.h"
#include "log.h"
#include "sys.h"
#include "memcap.h"
#include "stackwalk.h"
#include "thread.h"
#include "unwfd.h"
#include "vmask.h"

typedef int (*backtrace_fn)(void **, int);
static backtrace_fn unw_bt;
/* The cursor interface (x86-64 names), for walks without the per-thread
 * frame cache. libunwind's context is a ucontext_t on x86-64; its cursor
 * is 127 words (UNW_TDEP_CURSOR_LEN), RIP is register 16. */
typedef struct { uint64_t opaque[127]; } unw_cursor_buf_t;
typedef int (*getcontext_fn)(ucontext_t *);
typedef int (*init_local_fn)(unw_cursor_buf_t *, ucontext_t *);
typedef int (*step_fn)(unw_cursor_buf_t *);
typedef int (*get_reg_fn)(unw_cursor_buf_t *, int, uint64_t *);
#define UNW_X86_64_RIP 16
static getcontext_fn unw_getcontext_p;
static init_local_fn unw_init_local_p;
static step_fn unw_step_p;
static get_reg_fn unw_get_reg_p;
static _Atomic int state; /* 0 not tried, 1 ready, -1 failed */
/* libunwind's TLS module: it is dlopen'ed, so each thread's block of its
 * thread-locals is allocated (with malloc) on first access. That must not
 * happen inside a signal handler, so each thread touches it first in
 * normal context (otp_unwind_warm) and the handler unwinds only threads
 * that did. */
static size_t tls_modid;
static OTP_TLS int warm;
/* Objects whose code may hold the locks that allocating the TLS block
 * needs (malloc's, the loader's): libc, ld.so, libunwind, the agent. */
static const void *lock_objs[4];
static OTP_TLS int unwinding; /* inside unw_backtrace on this thread */
/* ... and that walk is the SIGPROF handler's, where every asynchronous
 * signal is blocked (see otp_unwind_absorb_mask) */
static OTP_TLS int signal_walk;
/* ... or a sampled allocation's: the first mask change libunwind asks for
 * blocks them for real, until the end of the walk (mask_old) */
static OTP_TLS int alloc_walk, alloc_blocked;
static OTP_TLS sigset_t alloc_old;
static uintptr_t unw_lo, unw_hi; /* libunwind's mapping */
static _Atomic uint64_t n_capped;
static _Atomic uint64_t n_early; /* leaf only: the unwinder was not loaded yet */

/* Calls fn(arg) with the stack pointer at `top`. The frame it builds on
 * the current stack is a standard rbp frame, so the unwinder, started on
 * the new stack, walks back across to this one. */
void otp_on_stack(void (*fn)(void *), void *arg, void *top);

typedef struct tls_index {
    unsigned long module, offset;
} tls_index_t;
extern void *__tls_get_addr(tls_index_t *ti);

/* Whether stacks are wanted at all (the constructor says so), the map
 * starts of the objects whose code may hold the locks loading takes
 * (libc, ld.so, the agent: lock_objs before libunwind is in), and the
 * app's allocator as the preload found it. */
static _Atomic int wanted;
/* ... and whether a walk has gone to libunwind yet (stackwalk.h): until
 * one does, nothing loads it but a change of root (a forced load). */
static _Atomic int needed;
static _Atomic int loading;
static const void *_Atomic alloc_fn OTP_STARTUP_DATA;
static OTP_TLS int in_phdr; /* inside an app's dl_iterate_phdr callback */
static char fail_why[160];

static const void *map_of(const void *p)
{
    struct dl_find_object fo;
    return _dl_find_object((void *)p, &fo) == 0 ? fo.dlfo_map_start : NULL;
}

void otp_unwind_want(void)
{
    lock_objs[0] = map_of((const void *)&getpid);
    lock_objs[1] = map_of((const void *)&_dl_find_object);
    lock_objs[3] = map_of((const void *)&otp_unwind_want);
    atomic_store(&wanted, 1);
}

void otp_unwind_note_allocator(const void *real_malloc)
{
    atomic_store(&alloc_fn, real_malloc);
}

bool otp_unwind_allocator_libc(void)
{
    const void *a = atomic_load_explicit(&alloc_fn, memory_order_relaxed);
    return a && lock_objs[0] && map_of(a) == lock_objs[0];
}

static bool unloaded(void)
{
    return atomic_load_explicit(&wanted, memory_order_relaxed) &&
           atomic_load_explicit(&state, memory_order_relaxed) == 0;
}

bool otp_unwind_pending(void)
{
    return unloaded() && atomic_load_explicit(&needed, memory_order_relaxed);
}

bool otp_unwind_pending_any(void)
{
    return unloaded();
}

void otp_unwind_need(void)
{
    if (!atomic_load_explicit(&needed, memory_order_relaxed))
        atomic_store_explicit(&needed, 1, memory_order_relaxed);
}

/* dlopen and the lookups. Says nothing when `quiet` (a signal handler):
 * the reason waits in fail_why for otp_unwind_report. */
static int load(bool quiet)
{
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    /* Before its first use, which would open its pipe (unwfd.h). */
    if (h && otp_unwfd_confine(h) != 0 && !quiet)
        OTP_DEBUG("libunwind's memory check keeps its own pipe");
    if (h)
        unw_bt = (backtrace_fn)dlsym(h, "unw_backtrace");
    if (!unw_bt) {
        const char *e = h ? "no unw_backtrace" : dlerror();
        size_t n = e ? strnlen(e, sizeof fail_why - 1) : 0;
        memcpy(fail_why, e ? e : "", n);
        fail_why[n] = '\0';
        atomic_store(&state, -1);
        if (!quiet)
            otp_unwind_report();
        return -1;
    }
    unw_getcontext_p = (getcontext_fn)dlsym(h, "_Ux86_64_getcontext");
    unw_init_local_p = (init_local_fn)dlsym(h, "_ULx86_64_init_local");
    unw_step_p = (step_fn)dlsym(h, "_ULx86_64_step");
    unw_get_reg_p = (get_reg_fn)dlsym(h, "_ULx86_64_get_reg");
    if (dlinfo(h, RTLD_DI_TLS_MODID, &tls_modid) != 0)
        tls_modid = 0;
    struct dl_find_object fo;
    if (_dl_find_object((void *)unw_bt, &fo) == 0) {
        lock_objs[2] = fo.dlfo_map_start;
        unw_lo = (uintptr_t)fo.dlfo_map_start;
        unw_hi = (uintptr_t)fo.dlfo_map_end;
    }
    atomic_store_explicit(&state, 1, memory_order_release);
    otp_unwind_warm();
    return 0;
}

void otp_unwind_report(void)
{
    static _Atomic int said;
    if (atomic_load(&state) < 0 && !atomic_exchange(&said, 1))
        OTP_WARN("libunwind.so.8 not usable (%s); stacks hold only the sampled PC", fail_why);
}

struct load_arg {
    bool quiet;
    int rc;
};

__attribute__((noinline)) static void load_thunk(void *p)
{
    struct load_arg *a = p;
    a->rc = load(a->quiet);
}

/* One thread loads; the others go on without stacks meanwhile. The
 * loader wants more stack than a small thread stack or an app's
 * alternate stack may have left: it runs on the thread's unwind stack,
 * or on its own stack only on the agent's thread. */
static int load_once(bool quiet, bool own_stack_ok)
{
    if (otp_unwind_ready())
        return 0;
    if (!unloaded() || in_phdr)
        return -1;
    otp_thread_t *t = otp_tls_thread;
    void *top = (t && t != OTP_THREAD_GONE) ? otp_altstack_unwind_top(t->altstack) : NULL;
    if (!top && !own_stack_ok)
        return -1;
    if (atomic_exchange(&loading, 1))
        return -1;
    /* Not while an app's fork is under way, nor in a fork child whose
     * loader may be locked (loader.h); tried again at the next safe place. */
    if (!otp_loader_enter(0)) {
        atomic_store(&loading, 0);
        return -1;
    }
    struct load_arg a = {quiet, -1};
    if (top)
        otp_on_stack(load_thunk, &a, top);
    else
        load_thunk(&a);
    otp_loader_leave();
    return a.rc;
}

int otp_unwind_init(void)
{
    return load_once(false, true);
}

int otp_unwind_load(void)
{
    return load_once(false, false);
}

void otp_unwind_atfork_child(void)
{
    /* A fork while another thread was loading: that thread is gone. */
    if (unloaded())
        atomic_store(&loading, 0);
}

bool otp_unwind_absorb_mask(const void *ra, sigset_t *old)
{
    if (!(signal_walk || alloc_walk) || (uintptr_t)ra < unw_lo || (uintptr_t)ra >= unw_hi)
        return false;
    if (!signal_walk && !alloc_blocked) {
        /* Faults stay deliverable, as in the handler. */
        sigset_t all;
        otp_sigset_async(&all);
        if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &alloc_old, (size_t)_NSIG / 8) != 0)
            return false;
        alloc_blocked = 1;
    }
    if (old)
        sigfillset(old);
    return true;
}

bool otp_unwind_ready(void)
{
    return atomic_load_explicit(&state, memory_order_acquire) > 0;
}

void otp_unwind_warm(void)
{
    if (warm || !otp_unwind_ready())
        return;
    /* Only the thread-locals: libunwind's 256 KiB per-thread frame cache
     * is created on the first real walk, so idle threads never pay it. */
    if (tls_modid) {
        tls_index_t ti = {tls_modid, 0};
        __tls_get_addr(&ti);
    }
    warm = 1;
}

__asm__(".text\n"
        ".globl otp_on_stack\n"
        ".hidden otp_on_stack\n"
        ".type otp_on_stack,@function\n"
        "otp_on_stack:\n"
        ".cfi_startproc\n"
        "  push %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "  mov %rsp, %rbp\n"
        ".cfi_def_cfa_register %rbp\n"
        "  mov %rdx, %rsp\n"
        "  mov %rdi, %rax\n"
        "  mov %rsi, %rdi\n"
        "  call *%rax\n"
        "  mov %rbp, %rsp\n"
        "  pop %rbp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size otp_on_stack, .-otp_on_stack\n");

struct walk {
    void **buf;
    int lim;
    int n;
};

__attribute__((noinline)) static void walk_thunk(void *p)
{
    struct walk *w = p;
    w->n = unw_bt(w->buf, w->lim);
}

/* libunwind needs ~5 KiB of stack: more than a small thread stack or an
 * app's alternate signal stack may have left. The walk runs on the
 * calling thread's unwind stack when it has one. */
__attribute__((noinline)) static int walk(void **buf, int lim, int *own)
{
    otp_thread_t *t = otp_tls_thread;
    void *top = (t && t != OTP_THREAD_GONE) ? otp_altstack_unwind_top(t->altstack) : NULL;
    if (t && t != OTP_THREAD_GONE && !atomic_load_explicit(&t->unw_cached, memory_order_relaxed))
        atomic_store_explicit(&t->unw_cached, 1, memory_order_relaxed);
    unwinding = 1;
    struct walk w = {buf, lim, 0};
    /* Frames of ours at the start of buf: the thunk, the trampoline if
     * used, and walk itself. */
    *own = top ? 3 : 2;
    if (top)
        otp_on_stack(walk_thunk, &w, top);
    else
        walk_thunk(&w);
    unwinding = 0;
    return w.n;
}

/* Whether the interrupted code cannot be holding the locks that
 * allocating memory and the loader's work take: it was interrupted in
 * app code (not in libc, ld.so, libunwind or the agent, none of which
 * call back into the app with those locks held), and not inside a
 * signal handler of its own (which could have interrupted malloc): its
 * mask is the app's plain one. */
static bool app_code(const ucontext_t *uc, uint64_t pc)
{
    if (!otp_vmask_plain(uc))
        return false;
    const void *m = map_of((const void *)(uintptr_t)pc);
    if (!m)
        return false; /* JIT code or unknown: unknown callers too */
    for (int i = 0; i < 4; i++)
        if ((!lock_objs[i] && (i != 2 || otp_unwind_ready())) || m == lock_objs[i])
            return false;
    return true;
}

/* A thread that predates libunwind was never warmed outside a handler:
 * allocating its TLS block from here is safe in app code (above). */
static bool warm_safe(const ucontext_t *uc, uint64_t pc)
{
    return tls_modid && app_code(uc, pc);
}

/* The first stack wanted, in a handler, before any other context loaded
 * libunwind (a process that only computes). Loading here is as safe as
 * warming, and more is needed: the allocator is libc's (the loader
 * allocates, and an allocator of the app's own may be mid-call, under
 * its lock, in app code: with one, the constructor loads libunwind and
 * nothing is pending here), and the thread is not in a dl_iterate_phdr
 * callback (the loader's list lock is held there). */
static bool load_safe(const ucontext_t *uc, uint64_t pc)
{
    return !in_phdr && app_code(uc, pc);
}

size_t otp_unwind_cache_bytes(void)
{
    size_t b = 0;
    int high = otp_thread_high();
    for (int i = 0; i < high; i++) {
        otp_thread_t *t = otp_thread_at(i);
        if (atomic_load_explicit(&t->unw_cached, memory_order_relaxed) &&
            atomic_load_explicit(&t->state, memory_order_relaxed) == OTP_SLOT_ACTIVE)
            b += OTP_UNW_CACHE_BYTES;
    }
    return b;
}

/* Whether the calling thread may walk with libunwind's frame cache: it
 * has one already, or the memory cap has room for it, within half
 * of the cap for all threads' caches so that they never crowd out the
 * tables of stacks. Claimed at once (the count of caches is of the
 * slots that claimed one, live), so that threads starting together do
 * not all fit in the same room. Threads without a slot are not
 * accounted and always may. Atomics only; walks the slots once per
 * thread. */
static bool cache_ok(void)
{
    otp_thread_t *t = otp_tls_thread;
    if (!t || t == OTP_THREAD_GONE || atomic_load_explicit(&t->unw_cached, memory_order_relaxed))
        return true;
    size_t cap = otp_memcap_cap();
    if (cap && (otp_unwind_cache_bytes() + OTP_UNW_CACHE_BYTES > cap / 2 || !otp_memcap_fits(OTP_UNW_CACHE_BYTES)))
        return false;
    atomic_store_explicit(&t->unw_cached, 1, memory_order_relaxed);
    return true;
}

uint64_t otp_unwind_early_samples(void)
{
    return atomic_load(&n_early);
}

uint64_t otp_unwind_capped_samples(void)
{
    return atomic_load(&n_capped);
}

int otp_unwind_signal(const ucontext_t *uc, uint64_t *out, int max)
{
    uint64_t pc = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    if (max <= 0)
        return 0;
    out[0] = pc;
    if (max == 1)
        return 1;
    int f = otp_stackwalk_signal(uc, out, max);
    if (f > 0)
        return f;
    out[0] = pc;
    otp_unwind_need();
    if (!otp_unwind_ready()) {
        if (!otp_unwind_pending())
            return 1;
        if (!load_safe(uc, pc) || load_once(true, false) != 0) {
            atomic_fetch_add_explicit(&n_early, 1, memory_order_relaxed);
            return 1;
        }
    }
    if (!warm) {
        if (!warm_safe(uc, pc))
            return 1;
        otp_unwind_warm();
    }
    if (!cache_ok()) {
        atomic_fetch_add_explicit(&n_capped, 1, memory_order_relaxed);
        return 1;
    }
    /* The walk starts in this handler and crosses the kernel's signal
     * frame; everything up to the interrupted PC is ours and dropped. It
     * goes straight into `out` (no copy on this stack, which may be a
     * small alternate one). void * and uint64_t are the same here. */
    _Static_assert(sizeof(void *) == sizeof(uint64_t), "64-bit frames");
    int own;
    signal_walk = 1;
    int n = walk((void **)out, max + OTP_UNWIND_SLACK, &own);
    signal_walk = 0;
    for (int i = 0; i < n && i < OTP_UNWIND_SLACK; i++) {
        if (out[i] != pc)
            continue;
        int k = n - i < max ? n - i : max;
        memmove(out, out + i, (size_t)k * sizeof *out);
        return k;
    }
    out[0] = pc;
    return 1;
}

/* A sampled allocation's walk. libunwind blocks every signal around each
 * of its locks and loader calls, two system calls each: none in a walk
 * its caches answer, some fifty in one through cold code (3800 in a
 * 0.2 s cc1 with 77 heap samples). Its first such change blocks them for
 * real until the end of the walk, and the rest are answered without a
 * system call (otp_unwind_absorb_mask): the same protection, at two
 * system calls a cold walk and none a warm one. A SIGPROF that comes
 * meanwhile waits for the end of the walk and is owed to the allocation,
 * as it would be anyway. */
static void alloc_walk_begin(void)
{
    alloc_walk = 1;
}

static void alloc_walk_end(void)
{
    alloc_walk = 0;
    if (alloc_blocked) {
        alloc_blocked = 0;
        syscall(SYS_rt_sigprocmask, SIG_SETMASK, &alloc_old, NULL, (size_t)_NSIG / 8);
    }
}

struct fast_walk {
    const uint64_t *regs;
    uint64_t *out;
    int max, n;
};

__attribute__((noinline)) static void fast_thunk(void *p)
{
    struct fast_walk *w = p;
    w->n = otp_stackwalk_from(w->regs, w->out, w->max);
}

/* The agent's walker from here, run on the thread's unwind stack when it
 * has one: on a miss it reads call-frame information with ~1.2 KiB of
 * stack, which a sampled allocation's caller may not have left. */
__attribute__((noinline)) int otp_unwind_fast_here(uint64_t *out, int max)
{
    uint64_t r[3];
    otp_stackwalk_regs(r);
    otp_thread_t *t = otp_tls_thread;
    void *top = (t && t != OTP_THREAD_GONE) ? otp_altstack_unwind_top(t->altstack) : NULL;
    struct fast_walk w = {r, out, max, -1};
    if (top)
        otp_on_stack(fast_thunk, &w, top);
    else
        fast_thunk(&w);
    /* Frame 0 is this function's. */
    if (w.n <= 0)
        return w.n;
    memmove(out, out + 1, (size_t)(w.n - 1) * sizeof *out);
    return w.n - 1;
}

__attribute__((noinline)) int otp_unwind_here(uint64_t *out, int max, int skip)
{
    if (!otp_unwind_ready() || max <= 0)
        return 0;
    otp_unwind_warm();
    if (!cache_ok()) {
        atomic_fetch_add_explicit(&n_capped, 1, memory_order_relaxed);
        /* +1: this function's frame, under the walker's own. */
        int k = otp_unwind_here_uncached(out, max, skip + 1);
        return k < 0 ? 0 : k;
    }
    alloc_walk_begin();
    int own;
    int n = walk((void **)out, max, &own);
    alloc_walk_end();
    /* +1: this function's own frame. */
    int drop = own + skip + 1;
    if (n <= drop)
        return 0;
    memmove(out, out + drop, (size_t)(n - drop) * sizeof *out);
    return n - drop;
}

__attribute__((noinline)) int otp_unwind_here_uncached(uint64_t *out, int max, int skip)
{
    if (!otp_unwind_ready() || !unw_getcontext_p || !unw_init_local_p || !unw_step_p || !unw_get_reg_p)
        return -1;
    if (max <= 0)
        return 0;
    otp_unwind_warm();
    ucontext_t uc;
    unw_cursor_buf_t cur;
    if (unw_getcontext_p(&uc) != 0)
        return 0;
    alloc_walk_begin();
    unwinding = 1;
    int k = 0;
    if (unw_init_local_p(&cur, &uc) == 0) {
        /* Frame 0 is this function, as in otp_unwind_here. */
        for (int i = 0; k < max && i < OTP_MAX_FRAMES + 16; i++) {
            uint64_t ip;
            if (unw_get_reg_p(&cur, UNW_X86_64_RIP, &ip) != 0 || ip == 0)
                break;
            if (i > skip)
                out[k++] = ip;
            if (unw_step_p(&cur) <= 0)
                break;
        }
    }
    unwinding = 0;
    alloc_walk_end();
    return k;
}

/* libunwind (1.6) passes its struct dwarf_callback_data, whose first
 * member is the instruction address it looks for. */
int otp_unwind_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data,
                            int (*real)(int (*)(struct dl_phdr_info *, size_t, void *), void *))
{
    if (!unwinding) {
        if (!real)
            return 0;
        in_phdr++;
        int rc = real(cb, data);
        in_phdr--;
        return rc;
    }
    uintptr_t ip = *(const uintptr_t *)data;
    struct dl_find_object fo;
    if (_dl_find_object((void *)ip, &fo) != 0 || !fo.dlfo_link_map)
        return 0;
    /* The object's first mapping starts with its ELF header. */
    const ElfW(Ehdr) *eh = fo.dlfo_map_start;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_phentsize != sizeof(ElfW(Phdr)))
        return 0;
    struct dl_phdr_info info;
    memset(&info, 0, sizeof info);
    info.dlpi_addr = fo.dlfo_link_map->l_addr;
    info.dlpi_name = fo.dlfo_link_map->l_name;
    info.dlpi_phdr = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
    info.dlpi_phnum = eh->e_phnum;
    return cb(&info, sizeof info, data);
}
