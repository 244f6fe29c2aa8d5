/*
 * Flusher thread. Rings are drained every OTP_FLUSH_TICK_MS so that small
 * per-thread rings suffice; profiles are exported every interval.
 */
#include "flusher.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agg.h"
#include "budget.h"
#include "config.h"
#include "cpu.h"
#include "export.h"
#include "fds.h"
#include "foreign.h"
#include "heap.h"
#include "heap_collect.h"
#include "internal.h"
#include "log.h"
#include "mem.h"
#include "memcap.h"
#include "perfmap.h"
#include "summary.h"
#include "symbols.h"
#include "sys.h"
#include "thread.h"
#include "unwind.h"
#include "vmlock.h"

/* Control words, shared with the owner's threads and with signal handlers:
 * waits and wake-ups are futexes on plain atomics (async-signal-safe to
 * set and wake; nothing here can be left locked by a fork). */
/* The agent thread's stack: the C library's default for an unlimited
 * RLIMIT_STACK, deep enough for libdw, the demangler, zlib and TLS. */
#define FLUSHER_STACK ((size_t)2 << 20)

/* Read or written by every start and exit (OTP_STARTUP_DATA): */
static _Atomic uint32_t wake_word OTP_STARTUP_DATA; /* bumped on every request */
static _Atomic int request OTP_STARTUP_DATA;        /* REQ_* */
static _Atomic uint32_t done_word OTP_STARTUP_DATA; /* 1 once the thread ended its work */
static _Atomic bool final_done OTP_STARTUP_DATA;    /* the last final export finished */
static _Atomic bool running OTP_STARTUP_DATA;
/* Where the thread is: working, in its wait between ticks, or asked to
 * leave from that wait (otp_flusher_leave_if_idle), which it then does
 * without another step. */
enum { ST_WORKING = 0, ST_IDLE, ST_LEAVE };
static _Atomic int where OTP_STARTUP_DATA;
static _Atomic int64_t final_deadline_ns;
static pthread_t thread;
static _Atomic pid_t thread_tid;
static _Atomic pid_t cpu_tid;        /* while its CPU clock counts */
static _Atomic int64_t ended_cpu_ns; /* CPU of the agent's threads that ended */
static otp_flusher_hooks_t hooks OTP_STARTUP_DATA;

enum { REQ_NONE = 0, REQ_QUIT, REQ_FINAL };

/* Flusher-thread state. */
static otp_agg_t *cpu_agg;
static otp_symbolizer_t *sym;
static uint32_t seq;
static int64_t interval_start_ns OTP_STARTUP_DATA, interval_start_mono_ns OTP_STARTUP_DATA;
static uint64_t cpu_dropped_seen;

static bool export_ready, seq_probed;
static _Atomic bool had_data OTP_STARTUP_DATA; /* anything was ever drained */
static _Atomic int64_t prestart_ns; /* otp_flusher_set_prestart, until a CPU profile said it */

static void ensure_export(void)
{
    if (!export_ready) {
        otp_mem_hold_pages(false); /* a start after a final export (a failed exec) */
        otp_export_init();
        export_ready = true;
    }
}

/* Waits while *word == val, at most rel_ns (relative). */
static void futex_wait(_Atomic uint32_t *word, uint32_t val, int64_t rel_ns)
{
    if (rel_ns <= 0)
        return;
    struct timespec ts = {(time_t)(rel_ns / 1000000000), (long)(rel_ns % 1000000000)};
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Ends the agent thread's current (or next) wait. Async-signal-safe;
 * keeps errno. */
static void wake(void)
{
    int saved = errno;
    atomic_fetch_add(&wake_word, 1);
    futex_wake(&wake_word);
    errno = saved;
}

static void poke(int req)
{
    atomic_store(&request, req);
    wake();
}

void otp_flusher_drain_soon(void)
{
    wake();
}

static void refresh_name(otp_thread_t *t)
{
    char name[sizeof t->name];
    if (otp_thread_comm(atomic_load(&t->tid), name, sizeof name))
        memcpy(t->name, name, sizeof name);
}

static void refresh_names(void)
{
    int high = otp_thread_high();
    for (int i = 0; i < high; i++)
        if (atomic_load(&otp_thread_at(i)->state) == OTP_SLOT_ACTIVE)
            refresh_name(otp_thread_at(i));
}

static bool ensure_cpu_agg(void)
{
    if (!cpu_agg) {
        cpu_agg = otp_agg_new();
        atomic_store(&had_data, true);
    }
    return cpu_agg != NULL;
}

/* Samples the thread's handler folded while the ring had no consumer
 * (fold.h): same key and values as a ring record's. */
static void add_folded(void *ctx, const otp_fold_entry_t *e)
{
    otp_thread_t *t = ctx;
    int64_t period = 1000000000LL / otp_cfg.cpu_frequency_hz;
    otp_agg_key_t k = {e->frames, e->nframes, (uint32_t)atomic_load(&t->tid), 0, e->trace_id, e->span_id};
    int64_t ns = e->ns ? (int64_t)e->ns : (int64_t)e->weight * period;
    int64_t v[OTP_MAX_VALUES] = {(int64_t)e->weight, ns, 0, 0};
    otp_agg_add(cpu_agg, &k, t->name, v);
    otp_summary_add_cpu(e->frames[0], (int64_t)e->weight);
}

/* The thread's CPU ring and fold table, unless its handler is folding
 * them right now. It holds them for microseconds and never waits: a
 * periodic drain comes back next tick (false), the final one waits for it
 * (bounded: a preempted handler) so that no fold in progress on another
 * thread (a fatal signal or an exec elsewhere) is left out. */
static bool take_cpu(otp_thread_t *t, bool final)
{
    int64_t until = final ? otp_mono_ns() + 50000000 : 0;
    while (!otp_thread_drain_begin(t, OTP_DRAIN_FLUSHER)) {
        if (!final || otp_mono_ns() >= until)
            return false;
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    return true;
}

static bool drain_cpu(otp_thread_t *t, bool final)
{
    if (!take_cpu(t, final))
        return false;
    const otp_rec_t *r;
    int64_t period = 1000000000LL / otp_cfg.cpu_frequency_hz;
    while ((r = otp_ring_peek(t->cpu_ring)) != NULL) {
        if (r->type == OTP_REC_CPU && ensure_cpu_agg()) {
            otp_agg_key_t k = {r->frames, r->nframes, (uint32_t)atomic_load(&t->tid), 0, r->trace_id,
                               r->span_id};
            /* Each sample carries the CPU time it stands for (the budget
             * may have stretched its periods). */
            int64_t ns = r->addr ? (int64_t)r->addr : (int64_t)r->weight * period;
            int64_t v[OTP_MAX_VALUES] = {(int64_t)r->weight, ns, 0, 0};
            otp_agg_add_capped(cpu_agg, &k, t->name, v, OTP_PROFILE_CPU);
            otp_summary_add_cpu(r->frames[0], (int64_t)r->weight);
        }
        otp_ring_pop(t->cpu_ring, r);
    }
    if (t->fold && otp_fold_count(t->fold) > 0 && ensure_cpu_agg()) {
        OTP_DEBUG("thread %d: %zu stacks folded while its ring had no consumer",
                  (int)atomic_load(&t->tid), otp_fold_count(t->fold));
        otp_fold_foreach(t->fold, add_folded, t);
        otp_fold_clear(t->fold);
    }
    otp_thread_drain_end(t);
    return true;
}

static void drain_all(bool final)
{
    int high = otp_thread_high();
    for (int i = 0; i < high; i++) {
        otp_thread_t *t = otp_thread_at(i);
        int st = atomic_load(&t->state);
        if (st != OTP_SLOT_ACTIVE && st != OTP_SLOT_RETIRED)
            continue;
        if (st == OTP_SLOT_ACTIVE && t->name[0] == '\0')
            refresh_name(t);
        bool cpu_done = !t->cpu_ring || drain_cpu(t, final);
        otp_heap_drain_thread(t);
        /* A retired slot is recycled once both its rings and its fold
         * table are empty. */
        if (st == OTP_SLOT_RETIRED && cpu_done && (!t->cpu_ring || !otp_ring_peek(t->cpu_ring)) &&
            (!t->fold || otp_fold_count(t->fold) == 0) && (!t->heap_ring || !otp_ring_peek(t->heap_ring)))
            otp_thread_recycle(t);
    }
}

static void add_foreign(void *ctx, pid_t tid, const char *name, int64_t ns, int64_t count)
{
    (void)ctx;
    static const uint64_t pc = OTP_PC_FOREIGN;
    if (!ensure_cpu_agg())
        return;
    otp_agg_key_t k = {&pc, 1, (uint32_t)tid, 0, NULL, NULL};
    int64_t v[OTP_MAX_VALUES] = {count, ns, 0, 0};
    otp_agg_add_capped(cpu_agg, &k, name, v, OTP_PROFILE_CPU);
    otp_summary_add_cpu(pc, count);
}

void otp_flusher_set_prestart(int64_t ns)
{
    atomic_store(&prestart_ns, ns);
}

/* The first CPU profile written says how much CPU the process had used
 * before the agent started (otp_flusher_set_prestart): not as samples,
 * since the agent cannot tell an exec'd image's start from the work of an
 * earlier image of the same process, which may have been profiled
 * already (a script's `exec prog` after its work). */
static char prestart_note[192];

static const char *prestart_comment(void)
{
    int64_t ns = atomic_load_explicit(&prestart_ns, memory_order_relaxed);
    if (OTP_LIKELY(ns <= 0))
        return "";
    snprintf(prestart_note, sizeof prestart_note,
             "start: %.1f ms of CPU before the agent started (exec, dynamic loading, earlier constructors, an "
             "earlier image's work), in no sample",
             (double)ns / 1e6);
    return prestart_note;
}

/* The CPU time of threads no signal samples (foreign.h), while the
 * process has a CPU profile (also at the final export, after the timers
 * stopped). */
static void scan_foreign(bool final)
{
    if (otp_cpu_owns_sigprof())
        otp_foreign_scan(otp_gettid(), final, 1000000000LL / otp_cfg.cpu_frequency_hz, add_foreign, NULL);
}

/* Beyond this many frames the profiles are those of a process that has
 * lived a while: its symbol tables get sorted anyway. */
#define PREPARE_MAX_PCS (1u << 16)

/* Tells the symbolizer every address the encoders will ask about (each
 * sample's leaf as is, the rest minus one, as the encoders adjust
 * return addresses), so that it can answer them in one pass. */
static void prepare_symbols(const otp_profile_t *cpu, const otp_profile_t *heap)
{
    const otp_profile_t *ps[2] = {cpu, heap};
    size_t n = 0;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; ps[k] && i < ps[k]->nsamples; i++)
            n += ps[k]->samples[i].npcs;
    if (n == 0 || n > PREPARE_MAX_PCS)
        return;
    uint64_t *a = otp_malloc(n * sizeof *a);
    if (!a)
        return;
    size_t m = 0;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; ps[k] && i < ps[k]->nsamples; i++) {
            const otp_sample_t *s = &ps[k]->samples[i];
            for (uint32_t j = 0; j < s->npcs; j++)
                a[m++] = j && s->pcs[j] ? s->pcs[j] - 1 : s->pcs[j];
        }
    otp_sym_prepare(sym, a, m);
    otp_free(a);
}

static char final_note[256];

void otp_flusher_note_final(const char *why)
{
    snprintf(final_note, sizeof final_note, "%s", why ? why : "");
}

static void export_interval(bool final)
{
    /* libdw opens a .dwz file itself, and keeps it (see otp_std_hold). */
    otp_std_hold();
    int64_t end = otp_real_ns();
    otp_profile_t cpu;
    memset(&cpu, 0, sizeof cpu);
    cpu.kind = OTP_PROFILE_CPU;
    cpu.time_ns = interval_start_ns;
    cpu.duration_ns = end - interval_start_ns;
    cpu.period = 1000000000LL / otp_cfg.cpu_frequency_hz;
    cpu.nvalues = 2;
    const char *ends = final ? final_note : "";
    const char *notes[4] = {otp_budget_note(), otp_memcap_note(OTP_PROFILE_CPU), prestart_comment(), ends};
    cpu.comments = notes;
    for (size_t i = 0; i < 4; i++)
        if (notes[i][0])
            notes[cpu.ncomments++] = notes[i];
    uint64_t dropped = otp_cpu_dropped();
    cpu.dropped = dropped - cpu_dropped_seen;
    cpu_dropped_seen = dropped;
    bool have_cpu = cpu_agg && otp_agg_count(cpu_agg) > 0 && otp_agg_to_profile(cpu_agg, &cpu) == 0;

    /* Intervals kept after a failed write go out even if this one is empty. */
    bool retry = otp_export_pending();
    const otp_profile_t *heap = otp_heap_collect(interval_start_ns, end, final);
    if (heap && heap->nsamples == 0 && !retry)
        heap = NULL;
    if (have_cpu || heap || retry) {
        bool fresh = !sym; /* otp_sym_new has just read the maps */
        if (!sym)
            sym = otp_sym_new();
        if (sym) {
            if (!seq_probed) {
                /* An exec'd image with our pid may have written files
                 * already: continue its numbering, never overwrite. */
                seq = otp_export_next_seq();
                seq_probed = true;
            }
            otp_sym_set_final(final);
            if (!fresh)
                otp_sym_refresh(sym);
            prepare_symbols(have_cpu ? &cpu : NULL, heap);
            if (heap)
                otp_heap_annotate(sym, final, ends);
            otp_batch_t b = {have_cpu || retry ? &cpu : NULL, heap, sym, seq, final};
            otp_export_batch(&b);
            if (b.cpu)
                atomic_store(&prestart_ns, 0);
            if (final)
                otp_summary_symbolize(sym);
        }
        seq++;
    }
    if (cpu_agg)
        otp_agg_clear(cpu_agg);
    interval_start_ns = end;
    otp_std_release();
}

/* The last export of this run: what the rings hold, then the sinks shut
 * down (a later start, after a failed exec or a thread created after the
 * last one ended, brings them up again). */
static void final_work(void)
{
    otp_fd_final(true);
    otp_mem_hold_pages(true);
    drain_all(true);
    scan_foreign(true);
    refresh_names();
    export_interval(true);
    otp_export_shutdown(atomic_load(&final_deadline_ns));
    /* The sinks are down now; a later start (a failed exec, a thread
     * created after the last one ended) brings them up again. */
    export_ready = false;
    otp_fd_final(false);
    atomic_store(&final_done, true);
}

static void *flusher_main(void *arg)
{
    (void)arg;
    otp_tls_in_agent = 1;
    atomic_store(&thread_tid, otp_gettid());
    atomic_store(&cpu_tid, atomic_load(&thread_tid));
    prctl(PR_SET_NAME, OTP_AGENT_THREAD_NAME, 0, 0, 0);
    otp_vm_own_stack();
    /* The libraries this thread loads, and what they open, never behind
     * the numbers of the app's closed stdin, stdout or stderr (see
     * otp_std_hold). */
    otp_std_hold();
    ensure_export();
    otp_std_release();
    int64_t interval = (int64_t)otp_cfg.export_interval_ms * 1000000;
    int64_t next_export = interval_start_mono_ns + interval;
    int64_t next_tick = otp_mono_ns() + (int64_t)OTP_FLUSH_TICK_MS * 1000000;
    uint32_t w = atomic_load(&wake_word);
    for (;;) {
        /* A walk went to libunwind (a thread that predates the agent, a
         * coroutine's stack): loaded here, where any stack will do. */
        if (OTP_UNLIKELY(otp_unwind_pending())) {
            otp_std_hold();
            otp_unwind_init();
            otp_unwind_report();
            otp_std_release();
        }
        if (atomic_load(&request) != REQ_NONE)
            break;
        int64_t now = otp_mono_ns();
        int64_t until = next_tick < next_export ? next_tick : next_export;
        atomic_store(&where, ST_IDLE);
        futex_wait(&wake_word, w, until - now);
        int idle = ST_IDLE;
        if (!atomic_compare_exchange_strong(&where, &idle, ST_WORKING))
            break; /* ST_LEAVE */
        /* Read before the drain, not after it: a ring that fills past
         * half once drain_all has passed it wakes us once, and that wake
         * must end the next wait. Read after, it would be taken as
         * already served, and the ring could stay full until the next
         * tick. */
        w = atomic_load(&wake_word);
        if (atomic_load(&request) != REQ_NONE)
            break;
        drain_all(false);
        /* Woken early to drain a filling ring (otp_flusher_drain_soon):
         * the tick's work waits for the tick, whose length the budget's
         * window counts on. */
        now = otp_mono_ns();
        if (now < next_tick && now < next_export)
            continue;
        next_tick = now + (int64_t)OTP_FLUSH_TICK_MS * 1000000;
        otp_memcap_refresh();
        scan_foreign(false);
        otp_budget_tick();
        otp_export_tick();
        otp_perfmap_tick();
        if (otp_mono_ns() >= next_export) {
            if (hooks.every_interval)
                hooks.every_interval();
            refresh_names(); /* threads may have renamed themselves */
            export_interval(false);
            interval_start_mono_ns = otp_mono_ns();
            next_export += interval;
            if (next_export < otp_mono_ns())
                next_export = otp_mono_ns() + interval;
        }
    }
    if (atomic_load(&request) == REQ_FINAL)
        final_work();
    int64_t mine = otp_clock_ns(CLOCK_THREAD_CPUTIME_ID);
    atomic_store(&cpu_tid, 0);
    atomic_fetch_add(&ended_cpu_ns, mine > 0 ? mine : 0);
    otp_vm_disown_stack();
    atomic_store(&done_word, 1);
    futex_wake(&done_word);
    return NULL;
}

int64_t otp_flusher_cpu_ns(void)
{
    for (;;) {
        int64_t ended = atomic_load(&ended_cpu_ns);
        pid_t tid = atomic_load(&cpu_tid);
        int64_t live = tid > 0 ? otp_clock_ns(otp_thread_cpuclock(tid)) : 0;
        if (live < 0)
            live = 0;
        /* A thread that ended meanwhile has moved its time to `ended`. */
        if (atomic_load(&ended_cpu_ns) == ended)
            return ended + live;
    }
}

void otp_flusher_init(const otp_flusher_hooks_t *h)
{
    if (h)
        hooks = *h;
    interval_start_ns = otp_real_ns();
    interval_start_mono_ns = otp_mono_ns();
}

bool otp_flusher_running(void)
{
    return atomic_load(&running);
}

int otp_flusher_start(void)
{
    if (atomic_load(&running))
        return 0;
    atomic_store(&request, REQ_NONE);
    atomic_store(&done_word, 0);
    atomic_store(&final_done, false);
    atomic_store(&thread_tid, 0);
    atomic_store(&where, ST_WORKING);
    /* A stack of FLUSHER_STACK, not RLIMIT_STACK's usual 8 MiB: under
     * strict overcommit (vm.overcommit_memory = 2) a thread's whole stack
     * is charged to the commit limit the app allocates against. Nor less
     * under a small RLIMIT_STACK (`ulimit -s 128`): libdw's line tables
     * overflowed 128 KiB and the process died of SIGSEGV at its exit.
     * And the ordinary scheduling class if the starting thread is real
     * time: it would otherwise hand its SCHED_FIFO priority to every
     * export (tens of milliseconds of symbolization and compression that
     * then preempt all of the app's other threads). */
    pthread_attr_t attr, *ap = NULL;
    if (pthread_getattr_default_np(&attr) == 0 || pthread_attr_init(&attr) == 0) {
        ap = &attr;
        pthread_attr_setstacksize(&attr, FLUSHER_STACK);
        /* SCHED_BATCH and SCHED_IDLE are inherited: an app that runs in
         * the background keeps the agent there too. */
        int policy = sched_getscheduler(0);
        struct sched_param sp = {.sched_priority = 0};
        if ((policy == SCHED_FIFO || policy == SCHED_RR) &&
            (pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED) != 0 ||
             pthread_attr_setschedpolicy(&attr, SCHED_OTHER) != 0 ||
             pthread_attr_setschedparam(&attr, &sp) != 0))
            pthread_attr_setinheritsched(&attr, PTHREAD_INHERIT_SCHED);
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&thread, ap, flusher_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (ap)
        pthread_attr_destroy(ap);
    if (rc != 0) {
        /* EAGAIN: the app is at its limit of tasks; the caller says so. */
        if (rc != EAGAIN)
            OTP_WARN("cannot start the flusher thread (%s); profiles are exported later", otp_strerror(rc));
        return -rc;
    }
    atomic_store(&running, true);
    return 0;
}

int otp_flusher_final_here(int64_t deadline_ns)
{
    if (atomic_load(&running))
        return -EBUSY;
    /* As on the flusher thread: nothing the app's signal handlers could
     * interrupt and re-enter, and nothing of this sampled. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    otp_tls_in_agent++;
    int64_t now = otp_mono_ns();
    atomic_store(&final_deadline_ns, deadline_ns - (deadline_ns - now) / 10);
    atomic_store(&final_done, false);
    int64_t t0 = otp_clock_ns(CLOCK_THREAD_CPUTIME_ID);
    ensure_export();
    final_work();
    /* The agent's own work, as if its thread had done it (the summary). */
    int64_t t1 = t0 < 0 ? -1 : otp_clock_ns(CLOCK_THREAD_CPUTIME_ID);
    if (t1 >= 0)
        atomic_fetch_add(&ended_cpu_ns, t1 - t0);
    otp_tls_in_agent--;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}

bool otp_flusher_has_pending(void)
{
    if (atomic_load(&had_data) || otp_heap_has_data())
        return true;
    int high = otp_thread_high();
    for (int i = 0; i < high; i++) {
        otp_thread_t *t = otp_thread_at(i);
        /* As drain_all: only these are ever drained (a free slot of a
         * fork child may still hold its parent's samples, thread.h). */
        int st = atomic_load(&t->state);
        if (st != OTP_SLOT_ACTIVE && st != OTP_SLOT_RETIRED)
            continue;
        /* Looked at, not consumed: a handler may be folding this ring. */
        if ((t->cpu_ring && otp_ring_used(t->cpu_ring)) || (t->fold && otp_fold_count(t->fold)) ||
            (t->heap_ring && otp_ring_used(t->heap_ring)))
            return true;
    }
    return false;
}

void otp_flusher_request_final(int64_t deadline_ns)
{
    /* Leave the network part a little less than the whole budget so the
     * files and the summary still make it. */
    int64_t now = otp_mono_ns();
    atomic_store(&final_deadline_ns, deadline_ns - (deadline_ns - now) / 10);
    poke(REQ_FINAL);
}

bool otp_flusher_final_done(void)
{
    return atomic_load(&final_done);
}

static int await_end(int64_t deadline_ns)
{
    int64_t now;
    while (atomic_load(&done_word) == 0 && (now = otp_mono_ns()) < deadline_ns)
        futex_wait(&done_word, 0, deadline_ns - now);
    if (atomic_load(&done_word) == 0)
        return -ETIMEDOUT; /* left running: it may still finish */
    pthread_join(thread, NULL);
    atomic_store(&running, false);
    /* pthread_join returns when the thread's stack is free, a moment
     * before the kernel unlinks it from the thread group; callers that
     * need a single-threaded process (unshare, exit) wait for that too. */
    pid_t tid = atomic_load(&thread_tid);
    /* It is a matter of microseconds: yielding first, not sleeping (a
     * nanosleep takes 50 us or more, its timer slack). */
    for (int i = 0; tid > 0 && syscall(SYS_tgkill, (long)getpid(), (long)tid, 0L) == 0 && otp_mono_ns() < deadline_ns;
         i++) {
        if (i < 100) {
            sched_yield();
        } else {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

int otp_flusher_stop(int64_t deadline_ns, bool final)
{
    if (!atomic_load(&running))
        return -ESRCH;
    if (pthread_equal(thread, pthread_self()))
        return -EDEADLK; /* the flusher ended the process itself */
    if (final)
        otp_flusher_request_final(deadline_ns);
    else
        poke(REQ_QUIT);
    return await_end(deadline_ns);
}

int otp_flusher_leave_if_idle(int64_t patient_until_ns, int64_t deadline_ns)
{
    if (!atomic_load(&running) || pthread_equal(thread, pthread_self()))
        return -ESRCH;
    for (;;) {
        int idle = ST_IDLE;
        if (atomic_compare_exchange_strong(&where, &idle, ST_LEAVE))
            break;
        if (atomic_load(&done_word) || otp_mono_ns() >= patient_until_ns)
            return -EBUSY;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    wake();
    return await_end(deadline_ns);
}

void otp_flusher_atfork_child(void)
{
    /* The parent's flusher thread does not exist here. Its tables hold
     * the parent's samples: drop them (leaked, not freed: jemalloc's own
     * fork handler has not run yet, so no allocator call is allowed). */
    cpu_agg = NULL;
    sym = NULL;
    export_ready = false;
    atomic_store(&prestart_ns, 0); /* the parent's start, not the child's */
    atomic_store(&had_data, false);
    seq = 0;
    seq_probed = false;
    cpu_dropped_seen = otp_cpu_dropped();
    atomic_store(&cpu_tid, 0);
    atomic_store(&ended_cpu_ns, 0);
    otp_flusher_init(NULL);
    atomic_store(&running, false);
    atomic_store(&request, REQ_NONE);
    atomic_store(&done_word, 0);
    atomic_store(&final_done, false);
    otp_fd_atfork_child();
    otp_summary_atfork_child();
}
