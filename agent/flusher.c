/*
 * Flusher thread. Rings are drained every OTP_FLUSH_TICK_MS so that small
 * per-thread rings suffice; profiles are exported every interval.
 */
#include "flusher.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "agg.h"
#include "budget.h"
#include "config.h"
#include "cpu.h"
#include "export.h"
#include "heap.h"
#include "internal.h"
#include "log.h"
#include "mem.h"
#include "summary.h"
#include "symbols.h"
#include "sys.h"
#include "thread.h"
#include "agent.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static bool stop_requested, finished, running, skip_final;
static pthread_t thread;
static int64_t shutdown_deadline_ns;

/* Flusher-thread state. */
static otp_agg_t *cpu_agg;
static otp_symbolizer_t *sym;
static uint32_t seq;
static int64_t interval_start_ns;
static uint64_t cpu_dropped_seen;

static bool export_ready, seq_probed;
static _Atomic bool had_data; /* anything was ever drained */

static void ensure_export(void)
{
    if (!export_ready) {
        otp_export_init();
        export_ready = true;
    }
}

static int64_t to_abs_ns(struct timespec *ts, int64_t mono)
{
    ts->tv_sec = mono / 1000000000;
    ts->tv_nsec = mono % 1000000000;
    return mono;
}

static void refresh_name(otp_thread_t *t)
{
    char path[64], buf[32];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)atomic_load(&t->tid));
    ssize_t n = otp_read_file(path, buf, sizeof buf);
    if (n <= 0)
        return;
    if (buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    size_t len = strnlen(buf, sizeof t->name - 1);
    memcpy(t->name, buf, len);
    t->name[len] = '\0';
}

static void refresh_names(void)
{
    int high = otp_thread_high();
    for (int i = 0; i < high; i++)
        if (atomic_load(&otp_thread_at(i)->state) == OTP_SLOT_ACTIVE)
            refresh_name(otp_thread_at(i));
}

static void drain_cpu(otp_thread_t *t)
{
    const otp_rec_t *r;
    int64_t period = 1000000000LL / otp_cfg.cpu_frequency_hz;
    while ((r = otp_ring_peek(t->cpu_ring)) != NULL) {
        if (r->type == OTP_REC_CPU && !cpu_agg) {
            cpu_agg = otp_agg_new();
            atomic_store(&had_data, true);
        }
        if (r->type == OTP_REC_CPU && cpu_agg) {
            otp_agg_key_t k = {r->frames, r->nframes, (uint32_t)atomic_load(&t->tid), 0, r->trace_id,
                               r->span_id};
            /* Each sample carries the CPU time it stands for (the budget
             * may have stretched its periods). */
            int64_t ns = r->addr ? (int64_t)r->addr : (int64_t)r->weight * period;
            int64_t v[OTP_MAX_VALUES] = {(int64_t)r->weight, ns, 0, 0};
            otp_agg_add(cpu_agg, &k, t->name, v);
            otp_summary_add_cpu(r->frames[0], (int64_t)r->weight);
        }
        otp_ring_pop(t->cpu_ring, r);
    }
}

static void drain_all(void)
{
    int high = otp_thread_high();
    for (int i = 0; i < high; i++) {
        otp_thread_t *t = otp_thread_at(i);
        int st = atomic_load(&t->state);
        if (st != OTP_SLOT_ACTIVE && st != OTP_SLOT_RETIRED)
            continue;
        if (st == OTP_SLOT_ACTIVE && t->name[0] == '\0')
            refresh_name(t);
        if (t->cpu_ring)
            drain_cpu(t);
        otp_heap_drain_thread(t);
        /* A retired slot is recycled once both its rings are empty. */
        if (st == OTP_SLOT_RETIRED && (!t->cpu_ring || !otp_ring_peek(t->cpu_ring)) &&
            (!t->heap_ring || !otp_ring_peek(t->heap_ring)))
            otp_thread_recycle(t);
    }
}

static void export_interval(bool final)
{
    int64_t end = otp_real_ns();
    otp_profile_t cpu;
    memset(&cpu, 0, sizeof cpu);
    cpu.kind = OTP_PROFILE_CPU;
    cpu.time_ns = interval_start_ns;
    cpu.duration_ns = end - interval_start_ns;
    cpu.period = 1000000000LL / otp_cfg.cpu_frequency_hz;
    cpu.nvalues = 2;
    const char *note = otp_budget_note();
    cpu.comments = &note;
    cpu.ncomments = 1;
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
        if (!sym)
            sym = otp_sym_new();
        if (sym) {
            if (!seq_probed) {
                /* An exec'd image with our pid may have written files
                 * already: continue its numbering, never overwrite. */
                seq = otp_export_next_seq();
                seq_probed = true;
            }
            otp_sym_refresh(sym);
            if (heap)
                otp_heap_annotate(sym, final);
            otp_batch_t b = {have_cpu || retry ? &cpu : NULL, heap, sym, seq, final};
            otp_export_batch(&b);
            if (final)
                otp_summary_symbolize(sym);
        }
        seq++;
    }
    if (cpu_agg)
        otp_agg_clear(cpu_agg);
    interval_start_ns = end;
}

static void *flusher_main(void *arg)
{
    (void)arg;
    otp_tls_in_agent = 1;
    prctl(PR_SET_NAME, "otprof-flush", 0, 0, 0);
    int64_t interval = (int64_t)otp_cfg.export_interval_ms * 1000000;
    int64_t next_export = otp_mono_ns() + interval;
    pthread_mutex_lock(&lock);
    /* See otp_agent_late_start: what start-up does not need right away
     * waits until the process has lived a little. */
    struct timespec ts;
    to_abs_ns(&ts, otp_mono_ns() + OTP_LATE_START_MS * 1000000LL);
    while (!stop_requested && pthread_cond_timedwait(&wake, &lock, &ts) != ETIMEDOUT)
        ;
    if (stop_requested) {
        pthread_mutex_unlock(&lock);
        return NULL;
    }
    pthread_mutex_unlock(&lock);
    otp_agent_late_start();
    ensure_export();
    pthread_mutex_lock(&lock);
    while (!stop_requested) {
        int64_t now = otp_mono_ns();
        int64_t until = now + (int64_t)OTP_FLUSH_TICK_MS * 1000000;
        if (until > next_export)
            until = next_export;
        to_abs_ns(&ts, until);
        pthread_cond_timedwait(&wake, &lock, &ts);
        if (stop_requested)
            break;
        pthread_mutex_unlock(&lock);
        drain_all();
        otp_budget_tick();
        otp_export_tick();
        if (otp_mono_ns() >= next_export) {
            otp_agent_reap_early();
            refresh_names(); /* threads may have renamed themselves */
            export_interval(false);
            next_export += interval;
            if (next_export < otp_mono_ns())
                next_export = otp_mono_ns() + interval;
        }
        pthread_mutex_lock(&lock);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* The final flush runs on the flusher thread too, so the exiting thread
 * only waits (bounded) and never allocates or unwinds itself. */
static void *final_main(void *arg);

int otp_flusher_start(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wake, &ca);
    pthread_cond_init(&done_cv, &ca);
    pthread_condattr_destroy(&ca);
    stop_requested = finished = skip_final = false;
    interval_start_ns = otp_real_ns();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&thread, NULL, final_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        OTP_WARN("cannot start the flusher thread (%s); profiling is off", strerror(rc));
        return -rc;
    }
    running = true;
    return 0;
}

static void *final_main(void *arg)
{
    flusher_main(arg);
    pthread_mutex_lock(&lock);
    bool skip = skip_final;
    pthread_mutex_unlock(&lock);
    if (skip)
        return NULL; /* the process is exiting with nothing to report */
    ensure_export();
    drain_all();
    export_interval(true);
    otp_export_shutdown(shutdown_deadline_ns);
    pthread_mutex_lock(&lock);
    finished = true;
    pthread_cond_broadcast(&done_cv);
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* Nothing was ever sampled and nothing waits in a ring: the final export
 * would be empty, so a short-lived process need not wait for it. */
static bool nothing_to_flush(void)
{
    if (atomic_load(&had_data) || otp_heap_has_data())
        return false;
    int high = otp_thread_high();
    for (int i = 0; i < high; i++) {
        otp_thread_t *t = otp_thread_at(i);
        if ((t->cpu_ring && otp_ring_peek(t->cpu_ring)) || (t->heap_ring && otp_ring_peek(t->heap_ring)))
            return false;
    }
    return true;
}

int otp_flusher_stop(int64_t deadline_ns, bool at_exit)
{
    if (!running)
        return -1;
    if (!otp_cfg.summary && nothing_to_flush()) {
        if (at_exit) {
            /* Let the thread die with the process, doing nothing. */
            pthread_mutex_lock(&lock);
            skip_final = true;
            stop_requested = true;
            pthread_mutex_unlock(&lock);
        }
        return 1;
    }
    pthread_mutex_lock(&lock);
    /* Leave the network part a little less than the whole budget so the
     * files and the summary still make it. */
    shutdown_deadline_ns = deadline_ns - (deadline_ns - otp_mono_ns()) / 10;
    stop_requested = true;
    pthread_cond_broadcast(&wake);
    struct timespec ts;
    to_abs_ns(&ts, deadline_ns);
    int rc = 0;
    while (!finished && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&done_cv, &lock, &ts);
    bool ok = finished;
    pthread_mutex_unlock(&lock);
    if (!ok)
        return -ETIMEDOUT;
    pthread_join(thread, NULL);
    running = false;
    return 0;
}

void otp_flusher_atfork_child(void)
{
    /* The parent's flusher thread does not exist here; its locks may be
     * held by it forever, so start from fresh ones. Its tables hold the
     * parent's samples: drop them (leaked, not freed: jemalloc's own fork
     * handler has not run yet, so no allocator call is allowed here). */
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&lock, &m, sizeof m);
    cpu_agg = NULL;
    sym = NULL;
    export_ready = false;
    atomic_store(&had_data, false);
    seq = 0;
    seq_probed = false;
    cpu_dropped_seen = otp_cpu_dropped();
    running = false;
    otp_summary_atfork_child();
}
