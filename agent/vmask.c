/*
 * Virtual SIGPROF mask (see vmask.h). Masks are kept as the kernel's
 * 64-bit set (bit n-1 for signal n): glibc's sigset_t starts with it.
 */
#include "vmask.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu.h"
#include "internal.h"
#include "sys.h"

#define BIT(s) (1ull << ((s)-1))
#define PROF BIT(SIGPROF)
/* Never in a real mask: the kernel drops SIGKILL/SIGSTOP, glibc its two
 * internal signals (cancellation, setxid). */
#define UNBLOCKABLE (BIT(SIGKILL) | BIT(SIGSTOP) | BIT(32) | BIT(33))
#define FAULTS (BIT(SIGSEGV) | BIT(SIGBUS) | BIT(SIGILL) | BIT(SIGFPE) | BIT(SIGABRT))

static OTP_TLS uint64_t app_mask;
/* app_mask is valid for this thread: 1 set by the wrappers or at thread
 * start; 2 learned from the first sample of a thread that predates the
 * agent (3 once a later sample confirmed it). */
static OTP_TLS int known;
static OTP_TLS volatile int busy; /* wrappers changing it (nested in handlers) */
/* While busy: the signals being blocked, which the real mask may hold
 * before app_mask does. */
static OTP_TLS uint64_t busy_adds;

static uint64_t bits(const sigset_t *s)
{
    uint64_t b;
    memcpy(&b, s, sizeof b);
    return b;
}

static void to_set(uint64_t b, sigset_t *s)
{
    sigemptyset(s);
    memcpy(s, &b, sizeof b);
}

static int real_mask(int how, const sigset_t *set, sigset_t *old)
{
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    int rc = pthread_sigmask(how, set, old);
    otp_tls_in_agent = saved;
    return rc;
}

static void prof_really(int how)
{
    sigset_t p;
    sigemptyset(&p);
    sigaddset(&p, SIGPROF);
    real_mask(how, &p, NULL);
}

void otp_vmask_thread_start(bool parent_prof)
{
    sigset_t cur;
    if (real_mask(SIG_BLOCK, NULL, &cur) != 0)
        return;
    app_mask = bits(&cur) | (parent_prof ? PROF : 0);
    atomic_signal_fence(memory_order_seq_cst);
    known = 1;
    if (otp_cpu_owns_sigprof())
        prof_really(SIG_UNBLOCK);
}

bool otp_vmask_prof_blocked(void)
{
    if (known)
        return (app_mask & PROF) != 0;
    sigset_t cur;
    return real_mask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, SIGPROF) == 1;
}

bool otp_vmask_owned(void)
{
    return otp_cpu_owns_sigprof() && !otp_tls_in_agent;
}

int otp_vmask_change(int how, const sigset_t *set, sigset_t *old,
                     int (*real)(int, const sigset_t *, sigset_t *))
{
    if (set && how != SIG_BLOCK && how != SIG_UNBLOCK && how != SIG_SETMASK)
        return EINVAL;
    uint64_t want = set ? bits(set) & ~UNBLOCKABLE : 0;
    sigset_t rs, rold;
    /* SIGPROF itself stays unblocked for real; its blocked state lives in
     * app_mask. Unblocking it really is always fine. */
    if (set) {
        to_set(how == SIG_UNBLOCK ? want : want & ~PROF, &rs);
    }
    if (!busy)
        busy_adds = 0;
    if (how != SIG_UNBLOCK)
        busy_adds |= want;
    busy++;
    atomic_signal_fence(memory_order_seq_cst);
    int rc = real(how, set ? &rs : NULL, &rold);
    if (rc != 0) {
        busy--;
        return rc;
    }
    uint64_t r = bits(&rold);
    /* The SIGPROF bit the app has: its own, or the kernel's while one of
     * the app's handlers blocks it (sa_mask). */
    uint64_t vold = r | (known ? app_mask & PROF : 0);
    uint64_t vnew = vold;
    if (set) {
        if (how == SIG_BLOCK)
            vnew = vold | want;
        else if (how == SIG_UNBLOCK)
            vnew = vold & ~want;
        else
            vnew = want;
    }
    app_mask = vnew;
    known = 1;
    atomic_signal_fence(memory_order_seq_cst);
    busy--;
    if (old) {
        /* After everything else: old may be the same object as set. */
        to_set(vold, old);
    }
    return 0;
}

/* Signals the app has blocked are really blocked too (all but SIGPROF):
 * if one is not, the mask was changed behind the wrappers' back (raw
 * system calls, as Go's runtime makes; siglongjmp) and the real mask is
 * the app's, SIGPROF's bit included. */
static bool resync(uint64_t real)
{
    if (!(app_mask & ~PROF & ~real))
        return false;
    app_mask = real;
    return true;
}

bool otp_vmask_crashing(const ucontext_t *uc)
{
    uint64_t real = bits(&uc->uc_sigmask);
    /* Mid-change (the system call the wrappers make, where a shell that
     * changes its mask around every command spends much of its time): the
     * real mask is the old one or the new one. */
    if (busy)
        return (real & FAULTS & ~(app_mask | busy_adds)) != 0;
    if (!known) {
        /* A thread that predates the agent: its mask, as it is now, is
         * what the app gave it. */
        app_mask = real;
        known = 2;
        return false;
    }
    if (resync(real))
        return false;
    return (real & FAULTS & ~app_mask) != 0;
}

bool otp_vmask_plain(const ucontext_t *uc)
{
    if (!known || busy)
        return false;
    if (known == 2) {
        /* Learned from this very sample: not yet evidence of anything. */
        known = 3;
        return false;
    }
    return ((bits(&uc->uc_sigmask) ^ app_mask) & ~PROF) == 0;
}

bool otp_vmask_defer(const siginfo_t *si, ucontext_t *uc)
{
    if (busy || !known)
        return false;
    resync(bits(&uc->uc_sigmask));
    if (!(app_mask & PROF))
        return false;
    pid_t pid = getpid(), tid = otp_gettid();
    siginfo_t copy = *si;
    long rc = -1;
    /* Sent to the process (kill, setitimer): pending for the process, so
     * another thread that allows it may take it, as without us. The kernel
     * lets a thread forge the sender only towards itself, so from threads
     * other than the main one it stays pending on this thread. */
    if (si->si_code != SI_TKILL)
        rc = syscall(SYS_rt_sigqueueinfo, (long)pid, (long)SIGPROF, &copy);
    if (rc != 0)
        rc = syscall(SYS_rt_tgsigqueueinfo, (long)pid, (long)tid, (long)SIGPROF, &copy);
    if (rc != 0)
        return true; /* cannot keep it: dropped, as a blocked duplicate would be */
    sigaddset(&uc->uc_sigmask, SIGPROF);
    return true;
}

otp_vmask_saved_t otp_vmask_handler_begin(void)
{
    /* app_mask itself stays: the handler's SIGPROF is blocked for real,
     * which the wrappers report (vold). Left alone, it also stays right
     * for a handler that leaves by siglongjmp (no end call then). */
    otp_vmask_saved_t saved = {app_mask, known};
    atomic_signal_fence(memory_order_seq_cst);
    return saved;
}

void otp_vmask_handler_end(otp_vmask_saved_t saved)
{
    atomic_signal_fence(memory_order_seq_cst);
    app_mask = saved.mask;
    known = saved.known;
}

void otp_vmask_exec(bool before)
{
    if (!otp_cpu_owns_sigprof() || !known || !(app_mask & PROF))
        return;
    prof_really(before ? SIG_BLOCK : SIG_UNBLOCK);
}
