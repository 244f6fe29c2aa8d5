/*
 * The process's profiling lifecycle. This module is the one owner of the
 * process-wide state (which process the agent belongs to, whether it is
 * on, whether the flusher thread runs, how many app threads live) and of
 * every transition: start, thread start and exit, fork (prepare, parent,
 * child), exec (before, failed), quiesce and resume around namespace
 * changes, a terminating signal, the end of the last thread, and exit.
 * Each transition is one function here; preload/ calls them, and they call
 * down into cpu/heap/flusher/termsig, never the other way round (those
 * get callbacks where they need one).
 *
 * The agent starts no thread until it needs one: a single-threaded
 * program stays single-threaded (unshare(CLONE_NEWUSER), glibc's
 * single-thread fast paths, sandboxes that check) until it creates a
 * thread itself, or has lived for OTP_LAZY_START_MS and allocates, or
 * ends. Meanwhile samples wait in the thread's ring (the main thread's is
 * large, and folded by its signal handler when full, see fold.h); the
 * final export drains them.
 */
#include "agent.h"
#include "budget.h"

#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/single_threaded.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "cpu.h"
#include "export.h"
#include "flusher.h"
#include "foreign.h"
#include "heap.h"
#include "heap_collect.h"
#include "heap_report.h"
#include "http.h"
#include "internal.h"
#include "memcap.h"
#include "loader.h"
#include "log.h"
#include "mem.h"
#include "ring.h"
#include "sink_file.h"
#include "stackwalk.h"
#include "summary.h"
#include "symbols.h"
#include "sys.h"
#include "termsig.h"
#include "trace.h"
#include "unloaded.h"
#include "unwind.h"
#include "vmlock.h"

int otp_agent_pid OTP_STARTUP_DATA;

/* A single-threaded program's samples wait in its main thread's ring
 * until a flusher runs (possibly only at exit): room for a minute or two
 * of samples, after which the handler folds the oldest ones into the
 * thread's fold table (fold.h). Pages are touched only as the ring fills. */
#define MAIN_RING_BYTES (2u * 1024 * 1024)

enum { PH_OFF = 0, PH_ON, PH_ENDED /* final export done; may resume */, PH_STOPPED /* for good */ };

static _Atomic int phase OTP_STARTUP_DATA;
/* Serialises transitions made from normal context; the malloc path and
 * signal handlers only try it. */
static pthread_mutex_t lc_lock OTP_STARTUP_DATA = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int quiesced OTP_STARTUP_DATA;
static _Atomic int64_t lazy_after_ns OTP_STARTUP_DATA; /* no lazy start before this */
static _Atomic int fork_quiet_allocs; /* nor in the forking thread's next allocations (leave_before_fork) */
static _Atomic int app_threads OTP_STARTUP_DATA; /* live app threads (main, created, pre-existing) */
static otp_thread_t *main_thread OTP_STARTUP_DATA;
static pthread_key_t exit_key OTP_STARTUP_DATA;
static bool exit_key_ok OTP_STARTUP_DATA;
static bool exec_restart; /* the flusher ran before a failed exec */
static bool thread_yielded; /* to the app, at its task limit (otp_agent_thread_limited) */
static uintptr_t ldso_lo OTP_STARTUP_DATA, ldso_hi OTP_STARTUP_DATA;
/* Set by fork's prepare handler in the forking thread (which is the only
 * thread of the child): the pid that forked, and the mask to restore. */
static OTP_TLS pid_t fork_from;
static OTP_TLS sigset_t fork_saved_mask;
static OTP_TLS bool fork_multi; /* the forking process had more than one app thread */
static _Atomic(otp_thread_t *) arm_at_alloc; /* fork child: its timer, at its first allocation */

/* Marker for the main thread's exit key when it has no slot. */
static char no_slot;

/* How long a single-threaded process runs before an allocation or a CPU
 * sample may start the flusher: short-lived processes and fresh fork
 * children stay single-threaded. With an OTLP endpoint, libcurl must be
 * loaded early (see http.c on OpenSSL's exit handler): shorter. Never
 * later than the first export is due. */
#define OTP_LAZY_START_MS 1000
#define OTP_LAZY_START_OTLP_MS 100

static void set_lazy_after(void)
{
    int64_t ms = otp_cfg.endpoint[0] ? OTP_LAZY_START_OTLP_MS : OTP_LAZY_START_MS;
    /* Never later than the first export is due. */
    if (ms > otp_cfg.export_interval_ms)
        ms = otp_cfg.export_interval_ms;
    atomic_store(&lazy_after_ns, otp_mono_ns() + ms * 1000000);
}

/* Still before the lazy start? Asked by every sampled allocation and
 * CPU sample until the agent thread runs: the coarse clock (a tick late
 * at most) will do. async-signal-safe. */
static bool lazy_waits(void)
{
    return otp_mono_coarse_ns() < atomic_load(&lazy_after_ns);
}

bool otp_agent_running(void)
{
    int ph = atomic_load_explicit(&phase, memory_order_relaxed);
    return (ph == PH_ON || ph == PH_ENDED) && getpid() == otp_agent_pid;
}

/* The sampled-allocation path's check: no system call (a vfork child is
 * told by the flag preload/vfork.c sets in the TLS it borrows). */
bool otp_agent_sampling(void)
{
    int ph = atomic_load_explicit(&phase, memory_order_relaxed);
    return (ph == PH_ON || ph == PH_ENDED) && !otp_tls_vforked;
}

static int64_t budget_deadline(void)
{
    return otp_mono_ns() + ((int64_t)otp_cfg.shutdown_timeout_ms + 1000) * 1000000;
}

static void lock(void)
{
    otp_tls_in_agent++;
    pthread_mutex_lock(&lc_lock);
}

static void unlock(void)
{
    pthread_mutex_unlock(&lc_lock);
    otp_tls_in_agent--;
}

/* The export's deepest path (libdw's line tables, zlib, the encoders)
 * needs well over 128 KiB: the agent's thread has 2 MiB. */
#define EXPORT_STACK_ROOM ((size_t)3 << 19)

/* Whether the main thread's stack can grow by EXPORT_STACK_ROOM from
 * here (`ulimit -s 128`: the exit export overflowed it and the process
 * died of SIGSEGV). The walker's bounds for it already hold how far
 * RLIMIT_STACK lets it reach (otp_stackwalk_main_thread). */
static bool main_stack_room(void)
{
    uintptr_t lo, hi, sp = (uintptr_t)__builtin_frame_address(0);
    return otp_stackwalk_bounds(&lo, &hi) && sp > lo && sp - lo > EXPORT_STACK_ROOM + (64u << 10);
}

/* A process that never started the flusher exports its samples on the
 * thread that runs exit's destructors, rather than start a thread for
 * that alone: a build runs hundreds of such processes. Not with an OTLP
 * endpoint (a hung backend must be abandoned at the deadline, which only
 * a separate thread allows), and only on the main thread, whose stack
 * grows as needed, when its limit leaves room (another thread's may be
 * small). */
static bool may_export_here(void)
{
    /* Nor to a directory on a network filesystem, whose server may leave
     * a write hanging: only a thread can be abandoned at the deadline. */
    return !otp_cfg.endpoint[0] && otp_gettid() == getpid() && otp_file_dir_local(otp_cfg.output_dir) &&
           main_stack_room();
}

/* Runs the final export, starting the flusher for it if it was not
 * running and something is waiting (here: on this thread instead, if it
 * may). Under lc_lock. 0: written; 1: nothing to write; <0: failed or
 * timed out. */
static int final_export(int64_t deadline, bool here)
{
    if (!otp_flusher_running()) {
        if (!otp_cfg.summary && !otp_flusher_has_pending())
            return 1;
        if (here && may_export_here()) {
            OTP_DEBUG("final export on the exiting thread");
            return otp_flusher_final_here(deadline);
        }
        int rc = otp_flusher_start();
        if (rc != 0)
            return rc;
    }
    return otp_flusher_stop(deadline, true);
}

/* The agent's thread gives the app its place at the app's limit of
 * tasks, for the rest of the run: a quiesce that never ends. Samples
 * wait in the rings (the main thread's oldest folded once its ring is
 * full, other threads' new ones dropped and counted) for the export at
 * exit, which may start the thread again (the app is done with its
 * threads). Said once. Under the lifecycle lock. */
static void give_way(void)
{
    if (thread_yielded)
        return;
    thread_yielded = true;
    atomic_fetch_add(&quiesced, 1);
    if (otp_flusher_running())
        otp_flusher_stop(budget_deadline(), false);
    OTP_WARN("the app reached its limit of tasks (a thread or process could not be created: EAGAIN): "
             "the agent's thread ended to leave it the place; profiles are now written only at exit");
}

/* Under lc_lock: the flusher should run now (not while quiesced). */
static void ensure_flusher(void)
{
    /* A start after the agent's thread left for a fork (leave_before_fork)
     * can meet the limit the app's own children fill up. */
    if (atomic_load(&quiesced) == 0 && !otp_flusher_running() && otp_flusher_start() == -EAGAIN)
        give_way();
}

/* libunwind, from a normal context of an app thread (unwind.h): not
 * from inside the loader, nor in a vfork child (which shares the
 * parent's memory and loader state). */
static void need_unwinder(uintptr_t ra, bool force)
{
    if (OTP_LIKELY(!(force ? otp_unwind_pending_any() : otp_unwind_pending())) || otp_tls_in_agent ||
        otp_tls_vforked ||
        (ra >= ldso_lo && ra < ldso_hi) || getpid() != otp_agent_pid)
        return;
    int saved_errno = errno;
    otp_tls_in_agent++;
    otp_unwind_load();
    otp_tls_in_agent--;
    errno = saved_errno;
}

void otp_agent_before_new_root(uintptr_t ra)
{
    if (otp_agent_running())
        need_unwinder(ra, true);
}

/* ---- threads ------------------------------------------------------------ */

/* Threads that were running before the constructor (started by other
 * libraries' constructors) get slots and timers by tid. */
#define MAX_EARLY 256
static otp_thread_t *early[MAX_EARLY];
static int n_early;

static void register_one(void *ctx, const char *name)
{
    pid_t tid = (pid_t)atoi(name);
    if (tid <= 0 || tid == *(pid_t *)ctx || n_early >= MAX_EARLY)
        return;
    otp_thread_t *t = otp_thread_register_tid(tid);
    if (t)
        early[n_early++] = t;
}

/* The last app thread is ending (its exit key destructor runs before
 * glibc counts it out). Without the agent, glibc would now find no
 * thread left and call exit(0); the flusher must not be the thread that
 * keeps it from doing so. Export the final interval and stop it. */
static void last_thread_ending(void)
{
    lock();
    if (atomic_load(&app_threads) == 0 && atomic_load(&phase) == PH_ON) {
        atomic_store(&phase, PH_ENDED);
        if (final_export(budget_deadline(), false) == 0)
            otp_summary_print();
    }
    unlock();
}

static void thread_gone(void)
{
    if (atomic_fetch_sub(&app_threads, 1) == 1)
        last_thread_ending();
}

static void on_thread_exit(void *p)
{
    if (getpid() != otp_agent_pid)
        return;
    if (p != &no_slot) {
        otp_thread_t *t = p;
        if (t && t != OTP_THREAD_GONE)
            otp_thread_retire(t);
    }
    thread_gone();
}

/* Flusher, every interval: threads that predate the agent have no exit
 * hook: retire their slots (and delete their timers) once they are gone.
 * If one of them was the last app thread, the flusher itself must end
 * (after the final export) so that glibc can see no thread left. */
static void reap_early(void)
{
    for (int i = 0; i < n_early; i++) {
        otp_thread_t *t = early[i];
        if (!t || atomic_load(&t->state) != OTP_SLOT_ACTIVE)
            continue;
        if (syscall(SYS_tgkill, (long)getpid(), (long)atomic_load(&t->tid), 0L) != 0 && errno == ESRCH) {
            otp_thread_retire(t);
            early[i] = NULL;
            if (atomic_fetch_sub(&app_threads, 1) == 1) {
                int expect = PH_ON;
                if (atomic_compare_exchange_strong(&phase, &expect, PH_ENDED))
                    otp_flusher_request_final(budget_deadline());
            }
        }
    }
}

otp_thread_t *otp_agent_thread_prepare(void *(*fn)(void *), void *arg, const void *attr)
{
    if (!otp_agent_running())
        return NULL;
    /* If a walk has needed libunwind, loaded before the thread starts,
     * which then warms it (begin). */
    need_unwinder((uintptr_t)__builtin_return_address(0), false);
    /* The process is about to be multi-threaded anyway: the flusher may
     * run (it usually does already, and then no lock is taken). */
    if (!otp_flusher_running() || atomic_load(&phase) != PH_ON) {
        lock();
        int expect = PH_ENDED;
        atomic_compare_exchange_strong(&phase, &expect, PH_ON);
        ensure_flusher();
        unlock();
    }
    otp_thread_t *t = otp_thread_claim();
    if (t) {
        t->start_fn = fn;
        t->start_arg = arg;
        otp_stackwalk_attr(attr, &t->stack_size, &t->stack_user);
        atomic_fetch_add(&app_threads, 1);
    }
    return t;
}

void otp_agent_thread_failed(otp_thread_t *t)
{
    otp_thread_unclaim(t);
    atomic_fetch_sub(&app_threads, 1);
}

bool otp_agent_thread_limited(void)
{
    if (!otp_agent_running() || otp_tls_in_agent || otp_vm_stack_refused())
        return false;
    lock();
    bool stop = !thread_yielded && otp_flusher_running();
    if (stop)
        give_way();
    unlock();
    return stop;
}

bool otp_agent_timer_limited(void)
{
    if (!otp_agent_running() || otp_tls_in_agent)
        return false;
    return otp_cpu_timer_yield();
}

void otp_agent_thread_begin(otp_thread_t *t)
{
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    otp_thread_activate(t);
    if (exit_key_ok)
        pthread_setspecific(exit_key, t);
    otp_stackwalk_pthread(t->stack_size, t->stack_user);
    otp_unwind_warm();
    otp_trace_thread_start();
    /* otp_thread_activate unblocked SIGPROF for real (the app still sees
     * the mask it inherited, agent/vmask.h). */
    otp_cpu_arm(t);
    otp_tls_in_agent = saved;
}

/* ---- lazy start ------------------------------------------------------- */

/* A CPU sample taken while no flusher runs: the thread's next allocation
 * takes the heap slow path (where a thread may be started), whatever its
 * countdown said; kick() then puts the countdown back. */
static OTP_TLS int kick_forced;
static OTP_TLS int64_t kick_saved;

/* This thread's next allocation takes the heap slow path, whatever its
 * countdown says. Signal-safe (TLS only). */
static void force_slow_path(void)
{
    if (kick_forced)
        return;
    kick_forced = 1;
    kick_saved = otp_tls_heap_left;
    otp_tls_heap_left = -1;
}

static void on_cpu_sample(void)
{
    if (OTP_UNLIKELY(otp_unwind_pending()) && !kick_forced && !otp_tls_in_agent) {
        /* No stacks yet: the next allocation loads the unwinder. */
        force_slow_path();
        return;
    }
    if (OTP_LIKELY(otp_flusher_running()) || kick_forced ||
        atomic_load_explicit(&phase, memory_order_relaxed) != PH_ON || atomic_load(&quiesced) ||
        lazy_waits())
        return;
    force_slow_path();
}

static bool kick(uintptr_t ra);

static bool heap_slow(uintptr_t ra, size_t size)
{
    bool forced = false;
    if (OTP_UNLIKELY(kick_forced))
        need_unwinder(ra, false);
    if (OTP_UNLIKELY(kick_forced) && !otp_tls_in_agent && getpid() == otp_agent_pid) {
        kick_forced = 0;
        /* -1 minus this request: nothing else moved the countdown since.
         * The request is still a sample when it would have run the saved
         * countdown out (at memory.sample_bytes = 1, always). */
        if (otp_tls_heap_left == -1 - (int64_t)size) {
            otp_tls_heap_left = kick_saved - (int64_t)size;
            forced = otp_tls_heap_left >= 0;
        }
        /* A fork child's timer, held back until now (otp_agent_fork_child). */
        otp_thread_t *t = atomic_load_explicit(&arm_at_alloc, memory_order_relaxed);
        if (OTP_UNLIKELY(t) && atomic_exchange(&arm_at_alloc, NULL) == t) {
            otp_tls_in_agent++;
            otp_cpu_arm(t);
            otp_tls_in_agent--;
        }
    }
    if (kick(ra) && forced)
        force_slow_path(); /* not now, just after a fork: the next allocation asks again */
    return forced;
}

/* Normal context, cheap: the flusher may be started now if the process
 * has lived long enough (called on the heap slow path; ra: the app's call
 * site, nothing is started from inside the dynamic loader). True when it
 * was not, only because a fork has just returned (fork_quiet_allocs). */
static bool kick(uintptr_t ra)
{
    if (OTP_LIKELY(otp_flusher_running()) || otp_tls_in_agent ||
        atomic_load_explicit(&phase, memory_order_relaxed) != PH_ON || atomic_load(&quiesced))
        return false;
    /* Never from inside the dynamic loader (its locks and lists may be
     * mid-update, and starting a thread allocates TLS). */
    if (ra >= ldso_lo && ra < ldso_hi)
        return false;
    if (lazy_waits())
        return false;
    if (OTP_UNLIKELY(atomic_load_explicit(&fork_quiet_allocs, memory_order_relaxed) > 0)) {
        atomic_fetch_sub_explicit(&fork_quiet_allocs, 1, memory_order_relaxed);
        return true;
    }
    /* Last, as the only system call here: not in a vfork child. */
    if (getpid() != otp_agent_pid)
        return false;
    int saved_errno = errno;
    otp_tls_in_agent++;
    if (pthread_mutex_trylock(&lc_lock) == 0) {
        if (atomic_load(&phase) == PH_ON)
            ensure_flusher();
        pthread_mutex_unlock(&lc_lock);
    }
    otp_tls_in_agent--;
    errno = saved_errno;
    return false;
}

/* ---- fork --------------------------------------------------------------
 * SIGPROF is blocked around the fork itself so that a large process can
 * fork under a fast timer (the kernel restarts an interrupted fork from
 * scratch). The child is recognised by what prepare recorded in the
 * forking thread, never by getppid() (a daemon's parent may be gone, a
 * child in a new PID namespace sees 0). */

/* A single-threaded app must not look multi-threaded at a fork for the
 * agent's thread: Python 3.12 and later read the process's thread count
 * right after every os.fork() in the parent and, above one, print a
 * DeprecationWarning on stderr ("This process ... is multi-threaded"),
 * which bare they never do. An agent thread waiting between its ticks
 * leaves before the fork (~0.1 ms); one at work is given
 * OTP_FORK_PATIENCE_MS to finish (a small export takes 1-3 ms), and
 * beyond that stays: a fork never waits for a long export (symbols
 * read for the first time, a slow OTLP backend). None starts in the parent
 * until the forking thread has made OTP_FORK_QUIET_ALLOCS allocations
 * after the fork (the app's first allocation after it would otherwise
 * start one, before Python's count, which comes a few allocations later).
 * Counted in allocations, not time: after a quiet of 500 us of wall time,
 * a parent preempted right after its fork (its child run first, a loaded
 * machine) found the quiet over, and so did one whose copy-on-write page
 * faults after the fork took that much CPU where page faults are slow
 * (with a quiet in CPU time); either way its count read 2 at one fork in
 * 4. Then it comes back as at start, at an allocation after a sample.
 * A start that the quiet refused is asked for again at every allocation
 * until it is made, not at the next sample only: a shell's allocations
 * after a sample mostly follow a fork of its, and its thread would never
 * come back. */
#define OTP_FORK_QUIET_ALLOCS 16
#define OTP_FORK_PATIENCE_MS 5
static void leave_before_fork(void)
{
    if (atomic_load(&app_threads) != 1 || otp_tls_in_agent || !otp_flusher_running() ||
        pthread_mutex_trylock(&lc_lock) != 0)
        return;
    otp_tls_in_agent++;
    otp_flusher_leave_if_idle(otp_mono_ns() + (int64_t)OTP_FORK_PATIENCE_MS * 1000000, budget_deadline());
    otp_tls_in_agent--;
    pthread_mutex_unlock(&lc_lock);
}

/* Whether the forking thread is the process's only one: the app's only
 * thread, no agent thread, and the kernel's count agrees (a thread the
 * agent never saw: a raw clone, one the C library started for itself). */
static bool forking_alone(void)
{
    if (atomic_load(&app_threads) != 1 || otp_flusher_running() || otp_tls_in_agent > 0)
        return false;
    char buf[512];
    if (otp_read_file("/proc/self/stat", buf, sizeof buf) <= 0)
        return false;
    const char *p = strrchr(buf, ')');
    /* Field 20 (num_threads); p is at the end of field 2. */
    for (int field = 2; p && field < 20; field++)
        p = strchr(p + 1, ' ');
    return p && p[1] == '1' && p[2] == ' ';
}

void otp_agent_fork_prepare(void)
{
    bool alone = false;
    if (otp_agent_running()) {
        otp_thread_self(); /* cache the slot in TLS for the child */
        sigset_t prof;
        sigemptyset(&prof);
        sigaddset(&prof, SIGPROF);
        pthread_sigmask(SIG_BLOCK, &prof, &fork_saved_mask);
        fork_from = getpid();
        fork_multi = atomic_load(&app_threads) > 1;
        leave_before_fork();
        alone = forking_alone();
        otp_loader_fork_prepare(atomic_load(&app_threads) > 1);
    }
    /* Last: from here until the fork returns no agent memory moves. */
    otp_mem_prefork(alone);
}

void otp_agent_fork_parent(void)
{
    otp_mem_postfork_parent();
    if (!fork_from)
        return;
    fork_from = 0;
    otp_loader_fork_parent();
    if (atomic_load(&app_threads) == 1) {
        atomic_store(&fork_quiet_allocs, OTP_FORK_QUIET_ALLOCS);
        force_slow_path(); /* each of those allocations, to be counted */
    }
    pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}

/* The child's CPU timer: at once when the parent had one app thread (a
 * worker, a shell's subshell: it may compute without allocating). A
 * multi-threaded parent's child may only make async-signal-safe calls
 * until it execs, and launchers reset every signal's action in it with
 * raw system calls the agent cannot see before they exec (Chromium's
 * process launcher): a SIGPROF from a timer armed at the fork then found
 * SIG_DFL and killed the child (Chromium's GPU process never started, 4
 * runs in 10 on a machine where the child's copy-on-write faults took over
 * 10 ms before its exec). Such a child gets its timer at its first
 * allocation (where it has left that phase: malloc is not
 * async-signal-safe); one that execs first never had one. */
void otp_agent_fork_child(void)
{
    /* First: the steps below may allocate. */
    otp_mem_postfork_child();
    pid_t from = fork_from;
    if (!from)
        return;
    fork_from = 0;
    otp_loader_fork_child();
    if (from == otp_agent_pid) {
        int saved = otp_tls_in_agent;
        otp_tls_in_agent = 1;
        pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        memcpy(&lc_lock, &m, sizeof m);
        otp_agent_pid = getpid();
        /* Only the forking thread lives on; no flusher until needed. */
        atomic_store(&app_threads, 1);
        atomic_store(&quiesced, 0);
        set_lazy_after();
        exec_restart = false;
        thread_yielded = false;
        n_early = 0;
        if (atomic_load(&phase) == PH_ENDED)
            atomic_store(&phase, PH_ON);
        otp_thread_atfork_child();
        otp_heap_collect_atfork_child();
        otp_heap_atfork_child();
        otp_export_atfork_child();
        otp_flusher_atfork_child();
        otp_foreign_atfork_child();
        otp_memcap_atfork_child();
        otp_termsig_atfork_child();
        otp_unwind_atfork_child();
        otp_vm_atfork_child();
        atomic_store(&arm_at_alloc, NULL);
        if (!fork_multi) {
            otp_cpu_arm(otp_thread_self());
        } else {
            atomic_store(&arm_at_alloc, otp_thread_self());
            force_slow_path();
        }
        otp_tls_in_agent = saved;
    }
    pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}

/* ---- exec -------------------------------------------------------------- */

void otp_agent_before_exec(void)
{
    if (!otp_agent_running())
        return;
    otp_cpu_before_exec();
    /* exec replaces the image without running destructors: export what
     * this process sampled now, or it is lost (a shell's `exec prog`). */
    lock();
    exec_restart = otp_flusher_running();
    final_export(budget_deadline(), false);
    unlock();
    otp_cpu_exec_disposition(true);
}

void otp_agent_after_failed_exec(void)
{
    if (!otp_agent_running())
        return;
    otp_cpu_exec_disposition(false);
    lock();
    if (exec_restart)
        ensure_flusher();
    exec_restart = false;
    unlock();
    otp_cpu_after_failed_exec();
}

/* ---- quiesce / resume ------------------------------------------------ */

int otp_agent_quiesce(void)
{
    if (!otp_agent_running())
        return 0;
    lock();
    atomic_fetch_add(&quiesced, 1);
    /* Samples stay in the rings and the aggregates; the next run of the
     * flusher exports them. */
    if (otp_flusher_running())
        otp_flusher_stop(budget_deadline(), false);
    unlock();
    return 1;
}

void otp_agent_resume(int token)
{
    if (!token || getpid() != otp_agent_pid)
        return;
    lock();
    atomic_fetch_sub(&quiesced, 1);
    /* Lazily again: the next steps of a sandbox set-up may need a
     * single-threaded process too. */
    set_lazy_after();
    unlock();
}

/* ---- terminating signal ------------------------------------------------
 * In the signal handler (see termsig.h): no locks taken, no waiting
 * beyond the deadline. If no flusher runs yet, starting one here is not
 * async-signal-safe; the watchdog termsig armed ends the process at the
 * deadline if that start is stuck. */

static void on_fatal_signal(int sig, int64_t deadline, bool in_agent)
{
    (void)sig;
    if (!otp_agent_running() || atomic_load(&phase) != PH_ON)
        return;
    otp_tls_in_agent++;
    otp_cpu_stop();
    bool requested = false;
    while (otp_mono_ns() < deadline) {
        if (otp_flusher_running()) {
            if (!requested) {
                otp_flusher_request_final(deadline);
                requested = true;
            } else if (otp_flusher_final_done()) {
                break;
            }
        } else if (requested) {
            break; /* another thread stopped it, after a final export */
        } else if (in_agent) {
            /* Starting the agent's thread (lc_lock, pthread_create), or an
             * export here, could wait for what the interrupted code holds. */
            break;
        } else {
            if (!otp_cfg.summary && !otp_flusher_has_pending())
                break;
            if (pthread_mutex_trylock(&lc_lock) == 0) {
                int rc = otp_flusher_running() ? 0 : otp_flusher_start();
                pthread_mutex_unlock(&lc_lock);
                if (rc != 0)
                    break;
                continue;
            }
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    otp_tls_in_agent--;
}

/* ---- start and exit --------------------------------------------------- */

/* The main thread's slot, with the large ring from the start (not a
 * default-sized one made, touched and unmapped first: two system calls
 * and a page fault at every start), and a fold table for a run without a
 * flusher when even that ring fills (fold.h). OTP_TEST_MAIN_RING_KB
 * (tests only, ignored under secure execution) makes the ring small, so
 * that a short test run overflows it. */
static otp_thread_t *claim_main(void)
{
    uint32_t bytes = MAIN_RING_BYTES;
    const char *kb = secure_getenv("OTP_TEST_MAIN_RING_KB");
    if (kb && atoi(kb) >= 16 && atoi(kb) <= 1024 * 1024)
        bytes = (uint32_t)atoi(kb) * 1024;
    otp_ring_t *r = otp_ring_create(bytes);
    otp_thread_t *t = otp_thread_claim_ring(&r);
    if (t && r) {
        /* The slot had a ring already. */
        otp_ring_t *old = t->cpu_ring;
        t->cpu_ring = r;
        otp_ring_destroy(old);
    } else if (r) {
        otp_ring_destroy(r);
    }
    if (t)
        t->fold_ok = true;
    return t;
}

/* A process whose address space (RLIMIT_AS, `ulimit -v`) or data size
 * (RLIMIT_DATA, `ulimit -d`: every private writable mapping counts) is
 * limited would meet its limit sooner by the agent's reservations (rings,
 * tables, its allocator: some 30-60 MiB of address space, ~25 MiB of it
 * data, mostly never touched) and its own allocations would fail where
 * they did not: Python raised MemoryError or aborted at limits it ran
 * fine under. Below AS_MIN_MB the agent stays off, and says so; its
 * mapped object (~5 MiB, data a few hundred KiB) is all it takes then,
 * like any preloaded library. */
#define AS_MIN_MB 1024
static bool address_space_ok(void)
{
    static const struct {
        int resource;
        const char *what, *name;
    } limits[] = {{RLIMIT_AS, "address space", "RLIMIT_AS"}, {RLIMIT_DATA, "data size", "RLIMIT_DATA"}};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        struct rlimit rl;
        if (getrlimit(limits[i].resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
            rl.rlim_cur >= (rlim_t)AS_MIN_MB << 20)
            continue;
        OTP_WARN("the %s is limited to %llu MiB (%s): the agent's reservations could make the "
                 "app's own allocations fail, so profiling is off for this process (it needs a limit of %d MiB "
                 "or none)",
                 limits[i].what, (unsigned long long)(rl.rlim_cur >> 20), limits[i].name, AS_MIN_MB);
        return false;
    }
    return true;
}

void otp_agent_init(void)
{
    int64_t t0 = otp_mono_ns();
    /* Before any work of ours (otp_flusher_set_prestart). */
    int64_t prestart = otp_cfg.agent_enabled && otp_cfg.cpu_enabled ? otp_clock_ns(CLOCK_PROCESS_CPUTIME_ID) : 0;
    otp_tls_in_agent = 1;
    otp_agent_pid = getpid();
    /* Before anything allocates: the allocator's fork steps are among
     * these, whether or not the agent goes on to run. */
    pthread_atfork(otp_agent_fork_prepare, otp_agent_fork_parent, otp_agent_fork_child);
    otp_log_init();
    otp_log_set_level(otp_cfg.log_level);
    if (!otp_cfg.agent_enabled || !address_space_ok()) {
        otp_tls_in_agent = 0;
        return;
    }
    otp_export_anchor_dir();
    otp_budget_init(); /* before the samplers: it maps the strategies onto them */
    otp_budget_set_own_clock(otp_flusher_cpu_ns);
    otp_memcap_init((size_t)otp_cfg.max_memory_mb << 20, NULL, 0);
    otp_trace_init();
    otp_ldso_text(&ldso_lo, &ldso_hi);
    exit_key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;

    if (otp_gettid() == otp_agent_pid)
        otp_stackwalk_main_thread();
    otp_thread_t *main_slot = claim_main();
    if (main_slot)
        otp_thread_activate(main_slot);
    main_thread = main_slot;
    /* The main thread's exit key: a main thread that calls pthread_exit
     * runs its destructor. */
    if (exit_key_ok)
        pthread_setspecific(exit_key, main_slot ? (void *)main_slot : (void *)&no_slot);
    otp_heap_init();
    if (otp_heap_active())
        otp_heap_report_init();
    otp_heap_set_slow_hook(heap_slow);
    otp_heap_set_gate(otp_agent_sampling);
    otp_heap_set_drain_hook(otp_flusher_drain_soon);
    /* Loaded when the first stack is wanted (unwind.h). Not with an
     * allocator of the app's own: a signal handler could then never load
     * it (that allocator's locks may be held in app code), and a program
     * that only computes would get no stacks. */
    if (otp_cfg.cpu_enabled || otp_cfg.memory_enabled) {
        otp_unwind_want();
        if (!otp_unwind_allocator_libc())
            otp_unwind_init();
        OTP_DEBUG("unwinder %s", otp_unwind_ready() ? "loaded at start-up" : "deferred");
    }
    /* Threads started before us (by other libraries' constructors) get
     * slots and timers now. The usual process is alone, and the C library
     * says so without a look into /proc (a process's first costs 15-30
     * us): it clears __libc_single_threaded at the first pthread_create,
     * its own included. Otherwise the task directory's link count is 2
     * plus the number of threads: one stat, rather than a listing, tells
     * a process whose threads have ended that it is alone again. */
    pid_t self = otp_gettid();
    struct stat task_st;
    if (!__libc_single_threaded &&
        (stat("/proc/self/task", &task_st) != 0 || task_st.st_nlink != 3))
        otp_dir_foreach("/proc/self/task", register_one, &self);
    atomic_store(&app_threads, 1 + n_early);
    if (otp_cfg.cpu_enabled && otp_cpu_init() == 0) {
        otp_cpu_set_sample_hook(on_cpu_sample);
        otp_flusher_set_prestart(prestart);
        otp_cpu_arm(main_slot);
        for (int i = 0; i < n_early; i++)
            otp_cpu_arm(early[i]);
    }
    otp_http_set_exit_hook(otp_agent_shutdown);
    otp_flusher_hooks_t hooks = {reap_early};
    otp_flusher_init(&hooks);
    set_lazy_after();
    /* The constructor runs alone: its wall time is its CPU time, read
     * without a system call. Before any agent thread reads the budget. */
    otp_budget_started(otp_mono_ns() - t0);
    atomic_store(&phase, PH_ON);
    otp_termsig_init(on_fatal_signal, (int64_t)otp_cfg.shutdown_timeout_ms + 1000);
    /* Already multi-threaded: nothing to keep single-threaded. */
    if (n_early > 0) {
        pthread_mutex_lock(&lc_lock);
        ensure_flusher();
        pthread_mutex_unlock(&lc_lock);
    }
    OTP_INFO("profiling %s (pid %d): cpu %s at %d Hz, export every %d ms to %s", otp_cfg.service_name,
             (int)otp_agent_pid, otp_cpu_active() ? "on" : "off", otp_cfg.cpu_frequency_hz,
             otp_cfg.export_interval_ms, otp_cfg.output_dir[0] ? otp_cfg.output_dir : "(no files)");
    OTP_DEBUG("start-up took %lld us", (long long)((otp_mono_ns() - t0) / 1000));
    otp_tls_in_agent = 0;
}

/* Ends profiling for good, with a bounded final export (exit, and any
 * module that must stop the agent at once). */
static void stop(int final_phase, bool here)
{
    if (!otp_agent_running())
        return;
    lock();
    int ph = atomic_exchange(&phase, final_phase);
    otp_cpu_settle_end(otp_thread_self());
    otp_cpu_stop();
    otp_unwind_report();
    if (ph == PH_ON) {
        int64_t t0 = otp_mono_ns();
        int64_t budget_ms = otp_cfg.shutdown_timeout_ms + 1000;
        int rc = final_export(budget_deadline(), here);
        if (rc == -ETIMEDOUT)
            OTP_WARN("final profile not finished within %lld ms; exiting without it", (long long)budget_ms);
        else if (rc == 0)
            otp_summary_print();
        OTP_DEBUG("final export took %lld us", (long long)((otp_mono_ns() - t0) / 1000));
        OTP_DEBUG("stack walks: %zu frame shapes learnt, %llu walks left to libunwind", otp_stackwalk_cached(),
                  (unsigned long long)otp_stackwalk_fallbacks());
    } else if (otp_flusher_running()) {
        otp_flusher_stop(budget_deadline(), false);
    }
    unlock();
}

void otp_agent_shutdown(void)
{
    /* Still PH_ON or PH_ENDED for the exit that follows: a thread may run
     * on (exit does not stop the others) and its samples are dropped. */
    stop(PH_ENDED, false);
}

void otp_agent_exit(void)
{
    stop(PH_ENDED, true);
}

void otp_agent_stop_now(void)
{
    if (!otp_agent_running())
        return;
    stop(PH_STOPPED, false);
    otp_termsig_release();
}

/* ---- dlclose ------------------------------------------------------------ */

void *otp_agent_unload_begin(void)
{
    if (!otp_agent_running() || otp_tls_in_agent || otp_tls_vforked)
        return NULL;
    otp_tls_in_agent++;
    void *before = otp_unloaded_begin();
    otp_tls_in_agent--;
    return before;
}

void otp_agent_unload_end(void *before)
{
    if (!before)
        return;
    otp_tls_in_agent++;
    if (otp_unloaded_end(before) > 0)
        otp_stackwalk_forget();
    otp_tls_in_agent--;
}
