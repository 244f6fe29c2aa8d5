/*
 * Lifecycle. Start-up does only what sampling needs right away (config,
 * libunwind, the handler, timers, one thread); everything heavy (jemalloc
 * arena, symbolization, zlib, libcurl) happens on the flusher thread when
 * there is something to export.
 */
#include "agent.h"
#include "budget.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "cpu.h"
#include "export.h"
#include "flusher.h"
#include "heap.h"
#include "internal.h"
#include "log.h"
#include "mem.h"
#include "summary.h"
#include "sys.h"
#include "trace.h"
#include "unwind.h"

__thread int otp_tls_in_agent __attribute__((tls_model("initial-exec")));
int otp_agent_pid;

static _Atomic int running;
static otp_thread_t *main_thread;
static pthread_key_t exit_key;
static bool exit_key_ok;
static bool flusher_deferred; /* fork child: start it after jemalloc's handler */
static __thread sigset_t fork_saved_mask __attribute__((tls_model("initial-exec")));

bool otp_agent_running(void)
{
    return atomic_load_explicit(&running, memory_order_relaxed) && getpid() == otp_agent_pid;
}

bool otp_agent_sampling(void)
{
    return atomic_load_explicit(&running, memory_order_relaxed) && !otp_tls_vforked;
}

static void on_thread_exit(void *p)
{
    otp_thread_t *t = p;
    if (t && t != OTP_THREAD_GONE)
        otp_thread_retire(t);
}

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

static void register_existing_threads(pid_t self)
{
    otp_dir_foreach("/proc/self/task", register_one, &self);
}

static void block_prof(sigset_t *old)
{
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, old);
}

/* fork: SIGPROF is blocked around the fork itself so that a large process
 * can fork under a fast timer (the kernel restarts an interrupted fork
 * from scratch). */
static void fork_prepare(void)
{
    if (!otp_agent_running())
        return;
    otp_thread_self(); /* cache the slot in TLS for the child */
    block_prof(&fork_saved_mask);
}

static void fork_parent(void)
{
    if (!otp_agent_running())
        return;
    pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}

static void fork_child(void)
{
    if (!atomic_load(&running) || getppid() != otp_agent_pid) {
        /* Not ours (agent off, or a vfork-like path). */
        return;
    }
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    otp_agent_pid = getpid();
    otp_thread_atfork_child();
    otp_heap_atfork_child();
    otp_export_atfork_child();
    otp_flusher_atfork_child();
    /* The private jemalloc's locks are re-initialised by its own child
     * handler, which runs after this one once jemalloc is in use: a new
     * flusher must not allocate before that, so it starts from the later
     * handler registered in jemalloc_ready() instead. */
    if (!otp_mem_initialized())
        otp_flusher_start();
    else
        flusher_deferred = true;
    otp_cpu_arm(otp_thread_self());
    otp_tls_in_agent = saved;
    pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}

/* Runs after jemalloc's own fork child handler (registered later). */
static void fork_child_after_jemalloc(void)
{
    if (!flusher_deferred)
        return;
    flusher_deferred = false;
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    otp_flusher_start();
    otp_tls_in_agent = saved;
}

static void jemalloc_ready(void)
{
    pthread_atfork(NULL, NULL, fork_child_after_jemalloc);
}

void otp_agent_init(void)
{
    int64_t t0 = otp_mono_ns();
    otp_tls_in_agent = 1;
    otp_agent_pid = getpid();
    otp_config_load(&otp_cfg);
    otp_log_set_level(otp_cfg.log_level);
    if (!otp_cfg.agent_enabled) {
        otp_tls_in_agent = 0;
        return;
    }
    otp_budget_init(); /* before the samplers: it maps the strategies onto them */
    otp_trace_init();
    exit_key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;

    otp_thread_t *main_slot = otp_thread_claim();
    if (main_slot)
        otp_thread_activate(main_slot);
    otp_heap_init();
    main_thread = main_slot;
    /* The unwinder is needed from the first heap sample on (~0.15 ms);
     * this also prepares the main thread's use of it. */
    if (otp_cfg.cpu_enabled || otp_cfg.memory_enabled)
        otp_unwind_init();
    /* Threads started before us (by other libraries' constructors) get
     * slots now, before any thread of ours exists; timers come later. */
    register_existing_threads(otp_gettid());
    if (otp_cfg.cpu_enabled)
        otp_cpu_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    otp_mem_set_init_hook(jemalloc_ready);
    if (otp_flusher_start() != 0) {
        otp_cpu_stop();
        otp_tls_in_agent = 0;
        return;
    }
    atomic_store(&running, 1);
    OTP_INFO("profiling %s (pid %d): cpu %s at %d Hz, export every %d ms to %s", otp_cfg.service_name,
             (int)otp_agent_pid, otp_cpu_active() ? "on" : "off", otp_cfg.cpu_frequency_hz,
             otp_cfg.export_interval_ms, otp_cfg.output_dir[0] ? otp_cfg.output_dir : "(no files)");
    OTP_DEBUG("start-up took %lld us", (long long)((otp_mono_ns() - t0) / 1000));
    otp_tls_in_agent = 0;
}

void otp_agent_shutdown(void)
{
    if (!otp_agent_running())
        return;
    atomic_store(&running, 0);
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    otp_cpu_stop();
    int64_t t0 = otp_mono_ns();
    int64_t budget_ms = otp_cfg.shutdown_timeout_ms + 1000;
    if (otp_flusher_stop(otp_mono_ns() + budget_ms * 1000000, true) < 0)
        OTP_WARN("final profile not finished within %lld ms; exiting without it", (long long)budget_ms);
    else
        otp_summary_print();
    OTP_DEBUG("shutdown took %lld us", (long long)((otp_mono_ns() - t0) / 1000));
    otp_tls_in_agent = saved;
}

void otp_agent_late_start(void)
{
    /* Arming a CPU-clock timer costs up to a millisecond of kernel time
     * early in a process's life on some kernels: it happens here, on the
     * flusher, OTP_LATE_START_MS after start-up, so a process that only
     * starts and exits does not pay for it. Threads the app creates
     * meanwhile arm their own timers as they start. */
    if (!otp_cpu_active())
        return;
    otp_cpu_arm(main_thread);
    for (int i = 0; i < n_early; i++)
        otp_cpu_arm(early[i]);
}

void otp_agent_reap_early(void)
{
    /* Threads that predate the agent have no exit hook: retire their
     * slots (and delete their timers) once they are gone. */
    for (int i = 0; i < n_early; i++) {
        otp_thread_t *t = early[i];
        if (!t || atomic_load(&t->state) != OTP_SLOT_ACTIVE)
            continue;
        if (syscall(SYS_tgkill, (long)getpid(), (long)atomic_load(&t->tid), 0L) != 0 && errno == ESRCH) {
            otp_thread_retire(t);
            early[i] = NULL;
        }
    }
}

otp_thread_t *otp_agent_thread_prepare(void *(*fn)(void *), void *arg)
{
    if (!otp_agent_running())
        return NULL;
    otp_thread_t *t = otp_thread_claim();
    if (t) {
        t->start_fn = fn;
        t->start_arg = arg;
    }
    return t;
}

void otp_agent_thread_begin(otp_thread_t *t)
{
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    otp_thread_activate(t);
    if (exit_key_ok)
        pthread_setspecific(exit_key, t);
    otp_unwind_warm();
    otp_trace_thread_start();
    otp_cpu_arm(t);
    /* A thread created from a context that blocks SIGPROF would never be
     * sampled; the profiling signal is ours to unblock. */
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    if (otp_cpu_active())
        pthread_sigmask(SIG_UNBLOCK, &prof, NULL);
    otp_tls_in_agent = saved;
}

static bool exec_flushed;

void otp_agent_before_exec(void)
{
    if (!otp_agent_running())
        return;
    otp_cpu_before_exec();
    /* exec replaces the image without running destructors: export what
     * this process sampled now, or it is lost (a shell's `exec prog`). */
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    int64_t budget_ms = otp_cfg.shutdown_timeout_ms + 1000;
    exec_flushed = otp_flusher_stop(otp_mono_ns() + budget_ms * 1000000, false) == 0;
    otp_tls_in_agent = saved;
    otp_cpu_exec_disposition(true);
}

void otp_agent_after_failed_exec(void)
{
    if (!otp_agent_running())
        return;
    otp_cpu_exec_disposition(false);
    if (exec_flushed) {
        int saved = otp_tls_in_agent;
        otp_tls_in_agent = 1;
        otp_flusher_start();
        otp_tls_in_agent = saved;
        exec_flushed = false;
    }
    otp_cpu_after_failed_exec();
}
