/*
 * Per-thread CPU-time timers and the SIGPROF handler.
 *
 * Each thread gets a POSIX timer on its own CPU clock that signals that
 * thread only (SIGEV_THREAD_ID), so samples follow CPU use per thread and
 * timers vanish on exec (no setitimer: a profiled shell that execs must
 * never die of an inherited SIGPROF). The timer's sigev_value carries the
 * thread's slot, so the handler needs no lookup, and signals that are not
 * ours (si_code != SI_TIMER, or an unknown value) are passed on to whatever
 * handler was there before us.
 *
 * The handler is async-signal-safe and runs on an alternate signal stack
 * (SA_ONSTACK; see altstack.h): it unwinds straight into the slot's ring
 * and touches only atomics.
 */
#include "cpu.h"

#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"
#include "log.h"
#include "profile.h"
#include "rng.h"
#include "summary.h"
#include "sys.h"
#include "trace.h"
#include "unwind.h"
#include "vmask.h"

/* Per-sample handler time histogram: 100 ns buckets up to 200 us. */
#define HIST_BUCKETS 2000
#define HIST_NS 100
/* See handler(): longer handler times were preemption. */
#define HANDLER_NS_MAX 50000

static _Atomic int cpu_on OTP_STARTUP_DATA;
static int64_t period_ns OTP_STARTUP_DATA; /* configured: 1 s / cpu.frequency_hz */
static _Atomic int cpu_shift OTP_STARTUP_DATA; /* the budget's: periods are period_ns << cpu_shift */
static int max_depth OTP_STARTUP_DATA;
/* The app's SIGPROF disposition while the agent owns the real one:
 * double-buffered so the handler always reads a complete copy. */
static struct sigaction app_action[2] OTP_STARTUP_DATA;
static _Atomic int app_idx OTP_STARTUP_DATA;
static _Atomic int owns_sigprof OTP_STARTUP_DATA;
static atomic_flag virt_logged = ATOMIC_FLAG_INIT;
static _Atomic uint64_t hist[HIST_BUCKETS + 1];
static _Atomic uint64_t n_dropped, n_foreign, n_settled;
static uintptr_t ldso_lo OTP_STARTUP_DATA, ldso_hi OTP_STARTUP_DATA;

/* Signals blocked while the handler runs: every asynchronous one. The
 * unwinder runs on the thread's unwind stack, outside the signal stack, so
 * the kernel would put a nested signal's frame at the top of the signal
 * stack, right over this handler's. Faults stay deliverable: one in here
 * must reach the app's handler (or kill) as it would anywhere else. */
static void handler_mask(sigset_t *m)
{
    sigfillset(m);
    sigdelset(m, SIGSEGV);
    sigdelset(m, SIGBUS);
    sigdelset(m, SIGILL);
    sigdelset(m, SIGFPE);
    sigdelset(m, SIGTRAP);
    sigdelset(m, SIGSYS);
}

/* Slots are a static array (thread.c): a value is ours iff it points at a
 * slot. */
static bool is_slot(const void *p)
{
    const char *lo = (const char *)otp_thread_at(0);
    const char *hi = (const char *)otp_thread_at(OTP_MAX_THREADS - 1) + sizeof(otp_thread_t);
    const char *c = p;
    return c >= lo && c < hi && (size_t)(c - lo) % sizeof(otp_thread_t) == 0;
}

/* A SIGPROF that is not from our timers (the app's setitimer, kill)
 * gets what the app asked for. */
static void chain(int sig, siginfo_t *si, void *uc)
{
    atomic_fetch_add_explicit(&n_foreign, 1, memory_order_relaxed);
    int idx = atomic_load_explicit(&app_idx, memory_order_acquire);
    struct sigaction a = app_action[idx];
    if (a.sa_flags & SA_RESETHAND) {
        app_action[!idx].sa_handler = SIG_DFL;
        app_action[!idx].sa_flags = 0;
        sigemptyset(&app_action[!idx].sa_mask);
        atomic_store_explicit(&app_idx, !idx, memory_order_release);
    }
    bool calls = (a.sa_flags & SA_SIGINFO) ? a.sa_sigaction != NULL
                                           : (a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN);
    otp_vmask_saved_t vsaved = {0, 0};
    if (calls) {
        /* The app's handler runs with the mask it asked for (the
         * interrupted one plus its sa_mask and SIGPROF), not ours; the
         * app's view of it is put back on its return (vmask.h). */
        sigset_t m = ((const ucontext_t *)uc)->uc_sigmask;
        for (int s = 1; s < NSIG; s++)
            if (sigismember(&a.sa_mask, s) == 1)
                sigaddset(&m, s);
        if (!(a.sa_flags & SA_NODEFER))
            sigaddset(&m, SIGPROF);
        vsaved = otp_vmask_handler_begin();
        int saved = otp_tls_in_agent;
        otp_tls_in_agent = 1;
        pthread_sigmask(SIG_SETMASK, &m, NULL);
        otp_tls_in_agent = saved;
    }
    if (a.sa_flags & SA_SIGINFO) {
        if (a.sa_sigaction)
            a.sa_sigaction(sig, si, uc);
        otp_vmask_handler_end(vsaved);
    } else if (a.sa_handler == SIG_DFL) {
        /* SIGPROF's default action terminates the process: do exactly
         * that, as it would have happened without us. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        otp_tls_in_agent = 1;
        sigaction(SIGPROF, &dfl, NULL);
        sigset_t prof;
        sigemptyset(&prof);
        sigaddset(&prof, SIGPROF);
        pthread_sigmask(SIG_UNBLOCK, &prof, NULL);
        raise(SIGPROF);
    } else if (a.sa_handler != SIG_IGN) {
        a.sa_handler(sig);
        otp_vmask_handler_end(vsaved);
    }
}

/* A sample landing in this thread's sampled-allocation path (agent code
 * running for the app's malloc, which must not be reentered) is owed to
 * that allocation's stack rather than dropped: otp_cpu_settle records it
 * once the path has its stack. Only this thread and its own handler touch
 * these; the handler adds only while tls_owing is set. */
static OTP_TLS int tls_owing;
static OTP_TLS uint64_t tls_owed_w, tls_owed_ns;
static OTP_TLS uintptr_t tls_owed_pc;
static OTP_TLS int tls_settling; /* otp_cpu_settle is producing into the ring */

/* A ring without a consumer in time (no flusher yet, see fold.h) is kept
 * from filling: once less than room for two of the largest records is left
 * (one record, and the pad before it at the wrap), the handler moves the
 * oldest records into the thread's fold table until there is again, at
 * most FOLD_MAX_RECS per sample. Every sample adds one record, so in the
 * steady state each sample folds one or two: a hash lookup per sample,
 * never a pass over the whole ring in one signal. Caller: the thread's
 * own handler, in the agent (otp_tls_in_agent), so no producer or
 * consumer operation of this thread on this ring is interrupted. */
#define FOLD_MAX_RECS 32
/* Its cost, for the summary: a median, as preemption inflates the mean. */
#define FOLD_HIST 64
#define FOLD_HIST_NS 250
static _Atomic uint64_t fold_calls, fold_recs, fold_ns, fold_ns_max, fold_hist[FOLD_HIST];

static void fold_some(otp_thread_t *t, uint32_t maxrec)
{
    otp_ring_t *r = t->cpu_ring;
    uint64_t room = 2 * (uint64_t)maxrec;
    if (OTP_LIKELY(otp_ring_used(r) + room <= r->size))
        return;
    /* The flusher is draining this ring: room is on its way. */
    if (!otp_thread_drain_begin(t, OTP_DRAIN_HANDLER))
        return;
    if (!t->fold) {
        /* Mapped at the first overflow, not at start: most processes
         * never fold, and an mlockall would lock and fill the 8 MiB. A
         * bare mmap, safe in a signal handler. */
        otp_fold_t *f = otp_fold_create();
        if (!f) {
            t->fold_ok = false;
            otp_thread_drain_end(t);
            return;
        }
        __atomic_store_n(&t->fold, f, __ATOMIC_RELEASE);
    }
    int64_t t0 = otp_mono_ns();
    uint64_t n = 0;
    while (n < FOLD_MAX_RECS && otp_ring_used(r) + room > r->size) {
        const otp_rec_t *rec = otp_ring_peek(r);
        if (!rec)
            break;
        if (rec->type == OTP_REC_CPU && otp_fold_add(t->fold, rec) != 0)
            atomic_fetch_add_explicit(&n_dropped, 1, memory_order_relaxed);
        otp_ring_pop(r, rec);
        n++;
    }
    otp_thread_drain_end(t);
    uint64_t dt = (uint64_t)(otp_mono_ns() - t0);
    atomic_fetch_add_explicit(&fold_calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&fold_recs, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&fold_ns, dt, memory_order_relaxed);
    atomic_fetch_add_explicit(&fold_hist[dt / FOLD_HIST_NS < FOLD_HIST ? dt / FOLD_HIST_NS : FOLD_HIST - 1], 1,
                              memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&fold_ns_max, memory_order_relaxed);
    while (dt > m && !atomic_compare_exchange_weak_explicit(&fold_ns_max, &m, dt, memory_order_relaxed,
                                                            memory_order_relaxed))
        ;
}

static void fold_summary(void)
{
    uint64_t settled = atomic_load(&n_settled);
    if (settled)
        OTP_INFO("CPU samples owed by threads that ended before their signal (a tick) came: %llu, recorded "
                 "under " OTP_ENDED_NAME,
                 (unsigned long long)settled);
    uint64_t calls = atomic_load(&fold_calls);
    if (!calls)
        return;
    uint64_t acc = 0;
    int b = 0;
    for (; b < FOLD_HIST - 1; b++)
        if ((acc += atomic_load(&fold_hist[b])) * 2 >= calls)
            break;
    OTP_INFO("CPU samples folded in the signal handler (their ring had no consumer in time): %llu, in %llu "
             "signals; per signal p50 %.2f us, mean %.2f us, max %.1f us",
             (unsigned long long)atomic_load(&fold_recs), (unsigned long long)calls,
             (b + 0.5) * FOLD_HIST_NS / 1000.0, (double)atomic_load(&fold_ns) / (double)calls / 1000.0,
             (double)atomic_load(&fold_ns_max) / 1000.0);
}

/* `when`: the sample's wall-clock time, read once by the handler. */
static void record(otp_thread_t *t, const ucontext_t *uc, uint64_t weight, uint64_t ns, int64_t when)
{
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    /* A crash handler or abort path running on this thread: stay out. */
    if (otp_vmask_crashing(uc)) {
        atomic_fetch_add_explicit(&n_dropped, 1, memory_order_relaxed);
        return;
    }
    if (otp_tls_in_agent) {
        if (tls_owing) {
            if (!tls_owed_ns)
                tls_owed_pc = pc;
            tls_owed_w += weight;
            tls_owed_ns += ns;
            return;
        }
        /* Other agent code on an app thread (thread start, the lifecycle
         * lock, the exit path): its time is the app's cost of the agent,
         * kept as a leaf-only sample of the agent's own code. No walk (the
         * interrupted code may be the unwinder) and no fold; only
         * otp_cpu_settle also produces into this ring, and not then. */
        otp_rec_t *r = tls_settling ? NULL : otp_ring_reserve(t->cpu_ring, otp_rec_size(1));
        if (!r) {
            atomic_fetch_add_explicit(&n_dropped, 1, memory_order_relaxed);
            return;
        }
        r->frames[0] = pc;
        r->type = OTP_REC_CPU;
        r->nframes = 1;
        r->weight = weight;
        r->addr = ns;
        r->time_ns = when;
        otp_trace_current(r->trace_id, r->span_id);
        otp_ring_commit(t->cpu_ring, r);
        return;
    }
    otp_tls_in_agent = 1;
    uint32_t maxrec = otp_rec_size((uint32_t)(max_depth + OTP_UNWIND_SLACK));
    if (t->fold_ok)
        fold_some(t, maxrec);
    /* Reserved at its largest and unwound into in place, then shrunk to
     * what the walk found: this handler keeps no frame array on its stack. */
    otp_rec_t *rec = otp_ring_reserve(t->cpu_ring, maxrec);
    if (!rec) {
        atomic_fetch_add_explicit(&n_dropped, 1, memory_order_relaxed);
        otp_tls_in_agent = 0;
        return;
    }
    int n;
    /* Inside the dynamic loader its lists may be mid-update: keep only the
     * PC rather than let the unwinder walk them. */
    if (pc >= ldso_lo && pc < ldso_hi) {
        rec->frames[0] = pc;
        n = 1;
    } else {
        n = otp_unwind_signal(uc, rec->frames, max_depth);
    }
    rec->len = otp_rec_size((uint32_t)n);
    rec->type = OTP_REC_CPU;
    rec->nframes = (uint16_t)n;
    rec->weight = weight;
    rec->addr = ns;
    rec->time_ns = when;
    otp_trace_current(rec->trace_id, rec->span_id);
    otp_ring_commit(t->cpu_ring, rec);
    otp_tls_in_agent = 0;
}

/* A sample recorded outside the handler: `pc` as the leaf over
 * frames[n]. False (and counted as dropped) when the ring is full. */
static bool settle_record(otp_thread_t *t, uintptr_t pc, uint64_t w, uint64_t ns, const uint64_t *frames,
                          uint32_t n)
{
    uint32_t m = n + 1 < (uint32_t)max_depth ? n + 1 : (uint32_t)max_depth;
    otp_rec_t *rec = otp_ring_reserve(t->cpu_ring, otp_rec_size(m));
    if (!rec) {
        atomic_fetch_add_explicit(&n_dropped, w ? w : 1, memory_order_relaxed);
        return false;
    }
    rec->frames[0] = pc;
    if (m > 1)
        memcpy(rec->frames + 1, frames, (m - 1) * sizeof *frames);
    rec->type = OTP_REC_CPU;
    rec->nframes = (uint16_t)m;
    rec->weight = w;
    rec->addr = ns;
    rec->time_ns = otp_real_ns();
    otp_trace_current(rec->trace_id, rec->span_id);
    otp_ring_commit(t->cpu_ring, rec);
    return true;
}

void otp_cpu_owe_begin(void)
{
    tls_owing = 1;
    atomic_signal_fence(memory_order_seq_cst);
}

void otp_cpu_settle(const uint64_t *frames, uint32_t n)
{
    /* From here on a sample is dropped (and counted): this function's few
     * instructions produce into the ring themselves. */
    tls_settling = 1;
    tls_owing = 0;
    atomic_signal_fence(memory_order_seq_cst);
    uint64_t w = tls_owed_w, ns = tls_owed_ns;
    uintptr_t pc = tls_owed_pc;
    tls_owed_w = tls_owed_ns = 0;
    otp_thread_t *t = otp_tls_thread;
    /* The interrupted agent/unwinder PC as the leaf (the cost is the
     * profiler's, and shows as such), under the allocation's stack. */
    if (ns && t && t->cpu_ring)
        settle_record(t, pc, w, ns, frames, n);
    atomic_signal_fence(memory_order_seq_cst);
    tls_settling = 0;
}


/* The sample points: the thread's CPU time is cut into periods, and each
 * period holds one point at a uniformly random place in it (stratified,
 * so the mean rate is exactly one per mean period and the spread of the
 * count stays small; each sample stands for its period's length). A fixed
 * period would sample a loop whose length is commensurate with it (and
 * with the scheduler tick, on which CPU timers fire) at the same few
 * phases, run after run.
 * Setting the timer is a system call, about half of what a sample
 * otherwise costs the handler, so the timer is set for PHASE_SAMPLES
 * periods at a time and reloads itself in between: those periods share
 * one length, drawn uniformly between half and one and a half times the
 * mean, and one offset. Holding the offset alone would sample a loop of
 * twice the period at two phases per draw (cpu_aliasing's loop came out
 * 1.7 times as spread); with the length drawn too, the points of one draw
 * still fall on different phases of any such loop. */
#define PHASE_SAMPLES 8
static int64_t period_now(void)
{
    return period_ns << atomic_load_explicit(&cpu_shift, memory_order_relaxed);
}

/* A new period, its length drawn around the mean in force when it starts
 * (the budget may change that), and its point. The sample in it stands
 * for that many nanoseconds: a thread switches rates at its next draw,
 * and stays unbiased. */
static int64_t next_point(otp_thread_t *t)
{
    t->win_ns += t->period_ns;
    t->base_ns = period_now();
    t->period_ns = t->base_ns / 2 + (int64_t)(otp_rng_next(&t->rng) % (uint64_t)t->base_ns);
    return t->win_ns + (int64_t)(otp_rng_next(&t->rng) % (uint64_t)t->period_ns);
}

/* After this many periods without a signal a thread counts as having
 * been blocked (see reschedule). */
#define BLOCKED_PERIODS 1000

/* Sets the timer to fire at `at` on its clock and every t->period_ns
 * after; returns the clock's value now, derived from the old setting
 * (one system call), or -1. `reloaded` is where delivering the last
 * signal moved the timer: its point plus (1 + overrun) intervals. */
static int64_t set_abs(otp_thread_t *t, int64_t at, int64_t reloaded)
{
    int64_t prev = t->ival_ns;
    struct itimerspec its, old;
    its.it_interval.tv_sec = t->period_ns / 1000000000;
    its.it_interval.tv_nsec = t->period_ns % 1000000000;
    its.it_value.tv_sec = at / 1000000000;
    its.it_value.tv_nsec = at % 1000000000;
    if (timer_settime(t->timer, TIMER_ABSTIME, &its, &old) != 0)
        return -1;
    t->ival_ns = t->period_ns;
    int64_t left = (int64_t)old.it_value.tv_sec * 1000000000 + old.it_value.tv_nsec;
    if (left <= 0 || left > prev)
        return -1;
    return reloaded - left;
}

/* Handler: the CPU time the scheduled sample points this thread's CPU
 * clock has passed stand for (their periods: one, or more after a delay),
 * in *ns, and the timer set to the next one. The points
 * are laid out on the CPU clock independently of when the handler runs,
 * so lateness (the timer fires on the first tick after its point) never
 * accumulates, and *ns stays an unbiased weight. Between two draws the
 * timer's own reload does the work, and the kernel reports the points
 * passed beyond the first as the signal's overrun. At a draw, one
 * timer_settime; a second one only after a delay of more than a period.
 * false if the timer is gone. */
static bool reschedule(otp_thread_t *t, uint64_t *ns, int overrun)
{
    if (!atomic_load_explicit(&t->has_timer, memory_order_acquire))
        return false;
    uint64_t w = 1 + (uint64_t)(overrun > 0 ? overrun : 0);
    /* The points the reload passed, all at the current phase (ival_ns is
     * the period they were laid out with). */
    *ns = w * (uint64_t)t->ival_ns;
    t->win_ns += (int64_t)(w - 1) * t->ival_ns;
    t->next_ns += (int64_t)(w - 1) * t->ival_ns;
    int64_t fired = t->next_ns;
    if (t->phase_left > 0 && t->base_ns == period_now()) {
        t->phase_left--;
        t->win_ns += t->ival_ns;
        t->next_ns += t->ival_ns;
        return true;
    }
    t->phase_left = PHASE_SAMPLES - 1;
    int64_t reloaded = fired + t->ival_ns;
    t->next_ns = next_point(t);
    int64_t now = set_abs(t, t->next_ns, reloaded);
    if (now < 0)
        now = otp_clock_ns(t->clk);
    if (now < t->next_ns)
        return true;
    if (now - t->win_ns > BLOCKED_PERIODS * period_ns) {
        /* Long blocked: count the gap at the mean rate. */
        uint64_t k = (uint64_t)((now - t->win_ns) / t->period_ns);
        *ns += k * (uint64_t)t->period_ns;
        t->win_ns += (int64_t)k * t->period_ns;
        t->next_ns = t->win_ns;
    }
    while (t->next_ns <= now) {
        *ns += (uint64_t)t->period_ns;
        t->next_ns = next_point(t);
    }
    set_abs(t, t->next_ns, t->next_ns);
    return true;
}

/* A sample's count: its periods' time in mean periods. Periods differ in
 * length, and counting them would over-count: when signals come at a
 * coarse tick, a draw of short periods passes more points per signal, yet
 * lasts as many signals as a draw of long ones (7% more at 1000 Hz).
 * Rounded up or down at random in proportion, so counts stay unbiased,
 * like the nanoseconds; a count may be 0, its time never is. */
static uint64_t count_of(otp_thread_t *t, uint64_t ns)
{
    uint64_t mean = (uint64_t)t->base_ns;
    return (ns + otp_rng_next(&t->rng) % mean) / mean;
}

static void (*sample_hook)(void) OTP_STARTUP_DATA;

void otp_cpu_set_sample_hook(void (*fn)(void))
{
    sample_hook = fn;
}

static void handler(int sig, siginfo_t *si, void *ucv)
{
    int saved_errno = errno;
    otp_thread_t *t = si->si_value.sival_ptr;
    if (si->si_code != SI_TIMER || !is_slot(t)) {
        /* The app's own SIGPROF waits while the app has it blocked. */
        if (!otp_vmask_defer(si, ucv))
            chain(sig, si, ucv);
        goto out;
    }
    if (!atomic_load_explicit(&cpu_on, memory_order_relaxed) ||
        atomic_load_explicit(&t->state, memory_order_acquire) != OTP_SLOT_ACTIVE)
        goto out;
    /* A late signal from a timer of a slot this thread does not own (the
     * slot was recycled after its thread exited) is dropped. */
    if (otp_tls_thread != t) {
        if (otp_tls_thread != NULL || atomic_load(&t->tid) != otp_gettid())
            goto out;
        otp_tls_thread = t;
    }
    /* One clock read serves as the sample's time and as the start of the
     * handler's own (a read costs about as much as a short walk). Should
     * the wall clock be stepped meanwhile, the handler's time comes out
     * negative (not counted) or is capped at HANDLER_NS_MAX, below. */
    int64_t t0 = otp_real_ns();
    uint64_t ns = 0;
    uint64_t w;
    if (reschedule(t, &ns, si->si_overrun)) {
        w = count_of(t, ns);
    } else {
        w = 1 + (uint64_t)(si->si_overrun > 0 ? si->si_overrun : 0);
        ns = w * (uint64_t)period_now();
    }
    record(t, ucv, w, ns, t0);
    int64_t dt = otp_real_ns() - t0;
    /* The budget's share: the handler's time, from the clock read above
     * (vDSO, no system call). A handler takes microseconds; a much longer
     * one was preempted, so each counts at most HANDLER_NS_MAX. Only this
     * thread's handler writes sig_ns (SIGPROF is blocked in here). */
    if (dt > 0)
        atomic_store_explicit(&t->sig_ns,
                              atomic_load_explicit(&t->sig_ns, memory_order_relaxed) +
                                  (uint64_t)(dt < HANDLER_NS_MAX ? dt : HANDLER_NS_MAX),
                              memory_order_relaxed);
    size_t b = dt < 0 ? 0 : (size_t)(dt / HIST_NS);
    atomic_fetch_add_explicit(&hist[b < HIST_BUCKETS ? b : HIST_BUCKETS], 1, memory_order_relaxed);
    if (sample_hook)
        sample_hook();
out:
    errno = saved_errno;
}

static void our_action(struct sigaction *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sa_sigaction = handler;
    sa->sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    handler_mask(&sa->sa_mask);
}

int otp_cpu_init(void)
{
    period_ns = 1000000000LL / otp_cfg.cpu_frequency_hz;
    max_depth = otp_cfg.cpu_max_stack_depth;
    if (max_depth > OTP_MAX_FRAMES)
        max_depth = OTP_MAX_FRAMES;
    otp_ldso_text(&ldso_lo, &ldso_hi);
    struct sigaction sa;
    our_action(&sa);
    /* Whatever was there before (another library's handler, SIG_IGN)
     * becomes the app's virtual disposition and still gets every SIGPROF
     * that is not ours. */
    if (sigaction(SIGPROF, &sa, &app_action[0]) != 0) {
        OTP_WARN("cannot install the SIGPROF handler (%s); CPU profiling is off", otp_strerror(errno));
        return -1;
    }
    bool had_handler = (app_action[0].sa_flags & SA_SIGINFO)
                           ? app_action[0].sa_sigaction != NULL
                           : (app_action[0].sa_handler != SIG_DFL && app_action[0].sa_handler != SIG_IGN);
    if (had_handler)
        otp_log_once(&virt_logged, OTP_LOG_INFO,
                     "SIGPROF already had a handler; it keeps receiving every SIGPROF not sent by "
                     "otprof's timers");
    atomic_store(&owns_sigprof, 1);
    otp_summary_add_section(fold_summary);
    /* This thread (the one that loads us, normally the main thread) may
     * have started with SIGPROF blocked: it is ours to unblock now, and
     * the app keeps seeing it blocked. */
    otp_vmask_thread_start(otp_vmask_prof_blocked());
    atomic_store(&cpu_on, 1);
    return 0;
}

bool otp_cpu_active(void)
{
    return atomic_load(&cpu_on) != 0;
}

static _Atomic uint64_t untimed;
static atomic_flag untimed_said = ATOMIC_FLAG_INIT;

static void note_untimed(int err, bool yielded)
{
    atomic_fetch_add(&untimed, 1);
    if (err == EAGAIN) {
        struct rlimit rl;
        unsigned long long lim = getrlimit(RLIMIT_SIGPENDING, &rl) == 0 ? (unsigned long long)rl.rlim_cur : 0;
        otp_log_once(&untimed_said, OTP_LOG_WARN,
                     "the app's user is at its limit of pending signals (RLIMIT_SIGPENDING %llu), where each of "
                     "the agent's CPU timers takes a place: %s; such threads' CPU is not sampled (the summary "
                     "counts them as not profiled)",
                     lim,
                     yielded ? "a thread's timer went to the app's timer_create"
                             : "a thread got no CPU timer");
    } else {
        otp_log_once(&untimed_said, OTP_LOG_WARN,
                     "a thread got no CPU timer (%s): its CPU is not sampled (the summary counts it as not "
                     "profiled)",
                     otp_strerror(err));
    }
}

uint64_t otp_cpu_untimed(void)
{
    return atomic_load(&untimed);
}

bool otp_cpu_timer_yield(void)
{
    /* The caller's first, then the newest thread's (as otp_cpu_stop, any
     * thread may delete another's). */
    otp_thread_t *t = otp_thread_self();
    for (int i = otp_thread_high(); (!t || !atomic_load(&t->has_timer)) && i-- > 0;)
        t = otp_thread_at(i);
    if (!t || !atomic_exchange(&t->has_timer, 0))
        return false;
    timer_delete(t->timer);
    note_untimed(EAGAIN, true);
    return true;
}

void otp_cpu_arm(otp_thread_t *t)
{
    if (!t || !atomic_load(&cpu_on) || atomic_load(&t->has_timer))
        return;
    pid_t tid = atomic_load(&t->tid);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_value.sival_ptr = t;
    sev._sigev_un._tid = tid;
    clockid_t clk = otp_thread_cpuclock(tid);
    timer_t id;
    if (timer_create(clk, &sev, &id) != 0) {
        note_untimed(errno, false);
        return;
    }
    /* First point uniform in (0, period] from now: a thread that runs for
     * a fraction f of a period is then sampled with probability f. */
    int64_t now = otp_clock_ns(clk);
    if (now < 0) {
        timer_delete(id);
        return;
    }
    t->rng = otp_rng_seed((uint64_t)otp_mono_ns() ^ ((uint64_t)tid << 32) ^ (uintptr_t)t);
    t->clk = clk;
    t->win_ns = now;
    t->period_ns = period_now();
    t->next_ns = now + 1 + (int64_t)(otp_rng_next(&t->rng) % (uint64_t)t->period_ns);
    t->ival_ns = t->period_ns;
    t->base_ns = t->period_ns;
    t->phase_left = PHASE_SAMPLES - 1;
    t->timer = id;
    atomic_store(&t->has_timer, 1);
    struct itimerspec its;
    its.it_interval.tv_sec = t->ival_ns / 1000000000;
    its.it_interval.tv_nsec = t->ival_ns % 1000000000;
    its.it_value.tv_sec = t->next_ns / 1000000000;
    its.it_value.tv_nsec = t->next_ns % 1000000000;
    if (timer_settime(id, TIMER_ABSTIME, &its, NULL) != 0) {
        atomic_store(&t->has_timer, 0);
        timer_delete(id);
    }
}

/* CPU timers fire on the kernel's tick while their thread runs: a thread
 * that passes a sample point in its last few milliseconds may end before
 * the tick does. 100 threads of 3 ms of CPU came out at 110-130 ms of
 * their 300 (a point passed in the last 4 ms of a thread was lost 6
 * times in 10). The point is owed: recorded at the end, with the weight
 * the signal would have had. Where in the thread it fell is not known
 * (it passed without a signal): its stack is the thread's start function
 * under a frame that says so. SIGPROF blocked meanwhile, and the timer
 * deleted first: then either its signal is pending, and counts the point
 * when it comes, or none can come any more. */
void otp_cpu_settle_end(otp_thread_t *t)
{
    if (!t || otp_tls_thread != t || !atomic_load(&cpu_on) || !atomic_load(&t->has_timer) || !t->cpu_ring ||
        t->ival_ns <= 0)
        return;
    /* No point passed (most ends): nothing owed, no system call more. */
    if (otp_clock_ns(t->clk) < t->next_ns)
        return;
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1; /* the real mask, not the app's view */
    sigset_t prof, old, pending;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    if (pthread_sigmask(SIG_BLOCK, &prof, &old) != 0) {
        otp_tls_in_agent = saved;
        return;
    }
    int64_t now = otp_clock_ns(t->clk);
    otp_cpu_disarm(t);
    if (now >= t->next_ns && sigpending(&pending) == 0 && sigismember(&pending, SIGPROF) != 1) {
        uint64_t k = 1 + (uint64_t)((now - t->next_ns) / t->ival_ns);
        uint64_t ns = k * (uint64_t)t->ival_ns;
        uint64_t start = (uint64_t)(uintptr_t)t->start_fn + 1;
        if (settle_record(t, OTP_PC_ENDED, count_of(t, ns), ns, &start, t->start_fn ? 1 : 0))
            atomic_fetch_add_explicit(&n_settled, 1, memory_order_relaxed);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    otp_tls_in_agent = saved;
}

void otp_cpu_disarm(otp_thread_t *t)
{
    if (t && atomic_exchange(&t->has_timer, 0))
        timer_delete(t->timer);
}

void otp_cpu_stop(void)
{
    if (!atomic_exchange(&cpu_on, 0))
        return;
    int high = otp_thread_high();
    for (int i = 0; i < high; i++)
        otp_cpu_disarm(otp_thread_at(i));
}

bool otp_cpu_owns_sigprof(void)
{
    return atomic_load(&owns_sigprof) != 0;
}

int otp_cpu_app_sigaction(const struct sigaction *act, struct sigaction *old)
{
    int idx = atomic_load(&app_idx);
    if (old)
        *old = app_action[idx];
    if (act) {
        app_action[!idx] = *act;
        atomic_store_explicit(&app_idx, !idx, memory_order_release);
        bool handler = (act->sa_flags & SA_SIGINFO) ? act->sa_sigaction != NULL
                                                    : (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN);
        if (handler)
            otp_log_once(&virt_logged, OTP_LOG_INFO,
                         "the app installed its own SIGPROF handler; it receives every SIGPROF not "
                         "sent by otprof's timers");
    }
    return 0;
}

/* The app's handler that a handler installed past the wrapper replaced
 * (see otp_cpu_retake), until that one is turned off again. Only the
 * app's calls to glibc's profiling set or read it. */
static struct sigaction displaced;
static bool has_displaced;

void otp_cpu_retake(bool stopped)
{
    if (!atomic_load(&owns_sigprof))
        return;
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1; /* the real sigaction, not the app's view */
    struct sigaction cur, ours;
    if (sigaction(SIGPROF, NULL, &cur) == 0) {
        if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == handler) {
            if (stopped && has_displaced) {
                otp_cpu_app_sigaction(&displaced, NULL);
                has_displaced = false;
            }
        } else {
            our_action(&ours);
            if (sigaction(SIGPROF, &ours, &cur) == 0) {
                if (!has_displaced) {
                    displaced = app_action[atomic_load(&app_idx)];
                    has_displaced = true;
                }
                otp_cpu_app_sigaction(&cur, NULL);
            }
        }
    }
    otp_tls_in_agent = saved;
}

bool otp_cpu_app_ignores_sigprof(void)
{
    const struct sigaction *a = &app_action[atomic_load(&app_idx)];
    return !(a->sa_flags & SA_SIGINFO) && a->sa_handler == SIG_IGN;
}

/* Whether the exec'ing thread had a timer: only then one again when the
 * exec fails (a launcher's child, armed at its first allocation, may have
 * reset every signal's action before an exec that failed). */
static OTP_TLS bool exec_had_timer;

void otp_cpu_before_exec(void)
{
    otp_thread_t *t = otp_thread_self();
    exec_had_timer = t && atomic_load(&t->has_timer);
    if (!exec_had_timer)
        return;
    /* Delete the timer with SIGPROF blocked, then let a signal that was
     * already pending arrive here, while our handler is still installed:
     * exec resets the handler to SIG_DFL, which would kill the new image. */
    otp_cpu_settle_end(t); /* exec ends the image's thread as an exit would */
    sigset_t prof, old;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, &old);
    otp_cpu_disarm(t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void otp_cpu_exec_disposition(bool before)
{
    otp_vmask_exec(before);
    /* An ignored signal stays ignored across exec, a handled one becomes
     * SIG_DFL: give the new image what the app's disposition implies. */
    if (!otp_cpu_owns_sigprof() || !otp_cpu_app_ignores_sigprof())
        return;
    struct sigaction sa;
    our_action(&sa);
    if (before) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
    }
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    sigaction(SIGPROF, &sa, NULL);
    otp_tls_in_agent = saved;
}

void otp_cpu_after_failed_exec(void)
{
    if (exec_had_timer)
        otp_cpu_arm(otp_thread_self());
}

void otp_cpu_handler_stats(double *p50_us, double *p99_us, uint64_t *n)
{
    uint64_t total = 0;
    for (int i = 0; i <= HIST_BUCKETS; i++)
        total += atomic_load(&hist[i]);
    *n = total;
    *p50_us = *p99_us = 0;
    if (!total)
        return;
    uint64_t acc = 0, want50 = (total + 1) / 2, want99 = total - total / 100;
    bool got50 = false;
    for (int i = 0; i <= HIST_BUCKETS; i++) {
        acc += atomic_load(&hist[i]);
        double us = (i + 0.5) * HIST_NS / 1000.0;
        if (!got50 && acc >= want50) {
            *p50_us = us;
            got50 = true;
        }
        if (acc >= want99) {
            *p99_us = us;
            break;
        }
    }
}

void otp_cpu_set_shift(int shift)
{
    atomic_store_explicit(&cpu_shift, shift, memory_order_relaxed);
}

int64_t otp_cpu_period_ns(void)
{
    return period_now();
}

uint64_t otp_cpu_cost_ns(void)
{
    uint64_t ns = 0;
    int high = otp_thread_high();
    for (int i = 0; i < high; i++)
        ns += atomic_load_explicit(&otp_thread_at(i)->sig_ns, memory_order_relaxed);
    return ns;
}

uint64_t otp_cpu_dropped(void)
{
    return atomic_load(&n_dropped);
}

uint64_t otp_cpu_foreign(void)
{
    return atomic_load(&n_foreign);
}
