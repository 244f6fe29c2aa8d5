/*
 * Heap sampling by bytes, Go/tcmalloc style: each thread counts down the
 * bytes it allocates, with exponentially distributed gaps of mean
 * memory.sample_bytes, so an allocation of S bytes is sampled with
 * probability 1 - exp(-S/rate), and the profile divides by that.
 *
 * This module is the allocation hot path only (any app thread, inside
 * malloc; never a signal handler): otp_heap_sampled() runs only when the
 * countdown runs out. It sets otp_tls_in_agent (so libunwind's own
 * allocations and a SIGPROF landing here are not sampled), unwinds,
 * pushes an OTP_REC_ALLOC record into the thread's heap ring and tracks
 * the block in the live table (live.h). When the ring is full or the
 * thread has no slot, the allocation is counted, already unbiased, on its
 * interned stack instead: estimates stay right, only the thread id and
 * trace context of that sample are lost. A vfork child (otp_tls_vforked,
 * no system call) records nothing; nor does any thread before the agent
 * runs or after it stopped.
 *
 * The flusher side lives in heap_collect.c (intervals), heap_leak.c
 * (growth across intervals) and heap_report.c (the summary's report).
 */
#include "heap.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "agg.h"
#include "budget.h"
#include "config.h"
#include "cpu.h"
#include "internal.h"
#include "live.h"
#include "log.h"
#include "mem.h"
#include "memcap.h"
#include "ring.h"
#include "rng.h"
#include "sys.h"
#include "trace.h"
#include "unwind.h"

/* Hook frames that may sit above the app's call site. */
#define SKIP_MAX 8
/* ~50 us at 2-4 GHz: see charge(). */
#define SAMPLE_CYCLES_MAX 150000

/* Per-thread PRNG state; 0 = the countdown is not a real draw yet. */
static OTP_TLS uint64_t tls_rng;
/* Samples this thread has unwound. Its first ones walk without
 * libunwind's per-thread frame cache: filling that cache's 256 KiB costs
 * more than a few dozen uncached walks, and most short-lived threads
 * never take that many samples (200 threads that each sample a few times
 * would otherwise spend most of their life in page faults and munmap). */
static OTP_TLS uint32_t tls_walks;
#define UNCACHED_WALKS 16
/* The budget's step (mean = rate << shift) of the gap now counting down:
 * the sample that ends it is unbiased with that mean, whatever the step
 * is by then (the countdown is memoryless, so an allocation's chance to
 * be sampled depends only on the mean in force when it is made). */
static OTP_TLS uint8_t tls_shift;
/* Per-thread cache of recently interned stacks, by 64-bit stack hash: a
 * loop that keeps allocating from one place skips the shared store (and
 * its cache misses). A false hit needs two different stacks with equal
 * 64-bit hashes. */
#define SITE_CACHE 16
static OTP_TLS struct {
    uint64_t hash;
    int32_t site;
} tls_sites[SITE_CACHE];

static _Atomic int heap_on OTP_STARTUP_DATA;
static int64_t rate OTP_STARTUP_DATA; /* memory.sample_bytes; 1 = every allocation */
static _Atomic int heap_shift OTP_STARTUP_DATA; /* the budget's: the mean gap is rate << heap_shift */
static bool track OTP_STARTUP_DATA;
static int max_depth OTP_STARTUP_DATA;
static uintptr_t ldso_lo OTP_STARTUP_DATA, ldso_hi OTP_STARTUP_DATA;
/* Shared counters are touched only off the common sampled path (a
 * contended cache line costs more than the rest of a sample). */
static _Atomic uint64_t n_ring_full, n_lost, n_drained;

/* ---- producer side ---------------------------------------------------- */

/* The thread's TLS address tells threads apart, the clock runs apart. */
static uint64_t rng_seed(void)
{
    return otp_rng_seed((uint64_t)(uintptr_t)&otp_tls_heap_left ^ (uint64_t)otp_mono_ns() ^
                        (uint64_t)otp_agent_pid << 17);
}

int64_t otp_heap_gap(uint64_t *s, int64_t mean)
{
    if (mean <= 1)
        return 0;
    double u = (double)((otp_rng_next(s) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double g = -log(u) * (double)mean;
    double cap = 20.0 * (double)mean;
    return (int64_t)(g < cap ? g : cap);
}

/* The next gap at the mean now in force, remembered for the sample that
 * will end it. */
static int64_t draw_gap(uint64_t *s)
{
    int sh = atomic_load_explicit(&heap_shift, memory_order_relaxed);
    tls_shift = (uint8_t)sh;
    return otp_heap_gap(s, rate << sh);
}

double otp_heap_weight(uint64_t size, int64_t mean)
{
    if (mean <= 1 || size == 0)
        return 1.0;
    return 1.0 / (1.0 - exp(-(double)size / (double)mean));
}

/* Go's unbiasing, per sample: an allocation of `size` bytes sampled
 * while the mean gap was rate << shift stands for 1 / P(sampled) =
 * 1 / (1 - exp(-size/mean)) allocations. Per sample rather than per
 * bucket, since samples of one bucket may have been taken at different
 * means. */
double otp_heap_scale(uint64_t size, int shift)
{
    return otp_heap_weight(size, rate << shift);
}

void otp_heap_set_shift(int shift)
{
    atomic_store_explicit(&heap_shift, rate > 1 ? shift : 0, memory_order_relaxed);
}

int64_t otp_heap_mean(void)
{
    return rate << atomic_load_explicit(&heap_shift, memory_order_relaxed);
}

int64_t otp_heap_configured_mean(void)
{
    return atomic_load_explicit(&heap_on, memory_order_relaxed) ? rate : 0;
}

uint64_t otp_heap_cost_cycles(void)
{
    uint64_t cyc = 0;
    int high = otp_thread_high();
    for (int i = 0; i < high; i++)
        cyc += atomic_load_explicit(&otp_thread_at(i)->heap_cycles, memory_order_relaxed);
    return cyc;
}

/* The agent's frames: the engine's and the shim's wrappers'. */
static inline bool in_self(uint64_t pc)
{
    return otp_is_agent_code((uintptr_t)pc);
}

/* The allocating stack, leaf first, leaf as an exact PC (return address
 * minus one, inside the call instruction), into out[max_depth +
 * SKIP_MAX] (one buffer: this runs inside malloc, on stacks of any size).
 * Code running in the dynamic loader may be changing the lists the
 * unwinder reads: keep only the caller then, as the SIGPROF handler does. */
static uint32_t capture(uint64_t *out, uintptr_t ra)
{
    int m = 0;
    bool in_loader = ra >= ldso_lo && ra < ldso_hi;
    if (!in_loader)
        m = otp_unwind_fast_here(out, max_depth + SKIP_MAX);
    /* Where the agent's walker cannot go, libunwind: the first such
     * sample loads it (unwind.h), not from inside the loader. */
    if (!in_loader && m < 0) {
        m = 0;
        otp_unwind_need();
        if (OTP_UNLIKELY(otp_unwind_pending()))
            otp_unwind_load();
        if (otp_unwind_ready()) {
            m = -1;
            if (tls_walks < UNCACHED_WALKS) {
                tls_walks++;
                m = otp_unwind_here_uncached(out, max_depth + SKIP_MAX, 0);
            }
            if (m < 0)
                m = otp_unwind_here(out, max_depth + SKIP_MAX, 0);
        }
    }
    int k = 0;
    while (k < m && k < SKIP_MAX && in_self(out[k]))
        k++;
    /* ra is the app's call site when the hooks reached us by tail calls
     * (always in optimised builds); otherwise it is one of our frames and
     * the walk alone finds the call site. */
    if (k >= m || (!in_self(ra) && out[k] != ra)) {
        /* Not unwound, or the walk did not get through our frames as
         * expected: the caller alone. */
        out[0] = ra - 1;
        return 1;
    }
    uint32_t n = (uint32_t)(m - k) < (uint32_t)max_depth ? (uint32_t)(m - k) : (uint32_t)max_depth;
    memmove(out, out + k, n * sizeof *out);
    out[0] -= 1;
    return n;
}

/* Set at this process's first sample (since fork). Only tested, and
 * written only while still false: a counter bumped by every sample would
 * bounce its cache line between the sampling threads. */
static _Atomic bool took_any OTP_STARTUP_DATA;

/* The sampling work is timed by the cycle counter, in one sampled
 * operation (allocation or free) of TIME_EVERY per thread, and charged
 * that many times to this thread's cost for the budget. On a virtual
 * machine a counter read costs 20-40 ns: two per operation were a tenth
 * of a sampled allocation. A sample takes well under a microsecond; a
 * much longer one was preempted (time not spent on this CPU), so each
 * counts at most SAMPLE_CYCLES_MAX. Only this thread writes its counter. */
#define TIME_EVERY 8
static OTP_TLS uint8_t tls_time_turn;

/* The counter now, or 0 when this operation is not the one timed. */
static inline uint64_t timing_start(void)
{
    if (OTP_LIKELY(++tls_time_turn % TIME_EVERY != 0))
        return 0;
    return __builtin_ia32_rdtsc();
}

static inline void charge(uint64_t c0)
{
    if (OTP_LIKELY(!c0))
        return;
    otp_thread_t *t = otp_thread_self();
    if (!t)
        return;
    uint64_t d = __builtin_ia32_rdtsc() - c0;
    uint64_t c = atomic_load_explicit(&t->heap_cycles, memory_order_relaxed);
    atomic_store_explicit(&t->heap_cycles,
                          c + TIME_EVERY * (d < SAMPLE_CYCLES_MAX ? d : SAMPLE_CYCLES_MAX),
                          memory_order_relaxed);
}

/* The live-heap tables, at the first sampled allocation: four mappings
 * and their first pages that a process taking no heap sample never
 * needs. Heap profiling stops (said once) if they cannot be mapped. */
static bool live_start(void)
{
    if (OTP_LIKELY(otp_live_ready()))
        return true;
    int rc = otp_live_init(rate);
    if (rc == 0)
        return true;
    static atomic_flag said = ATOMIC_FLAG_INIT;
    if (!atomic_flag_test_and_set(&said)) {
        atomic_store(&heap_on, 0);
        OTP_WARN("cannot map the live-heap tables (%s); heap profiling is off", otp_strerror(-rc));
    }
    return false;
}

/* Set by the lifecycle: wakes the consumer (heap.h). */
static void (*drain_hook)(void) OTP_STARTUP_DATA;

static void record(void *p, size_t size, uintptr_t ra)
{
    if (!live_start())
        return;
    if (OTP_UNLIKELY(!atomic_load_explicit(&took_any, memory_order_relaxed)))
        atomic_store_explicit(&took_any, true, memory_order_relaxed);
    uint64_t frames[max_depth + SKIP_MAX];
    uint32_t n = capture(frames, ra);
    bool pushed = false;
    otp_thread_t *t = otp_thread_self();
    if (t && t->heap_ring) {
        uint64_t head0 = otp_ring_head(t->heap_ring);
        otp_rec_t *rec = otp_ring_reserve(t->heap_ring, otp_rec_size(n));
        if (rec) {
            rec->type = OTP_REC_ALLOC;
            rec->nframes = (uint16_t)n;
            rec->weight = size;
            rec->addr = tls_shift;
            rec->time_ns = 0; /* unused: heap samples aggregate per interval */
            otp_trace_current(rec->trace_id, rec->span_id);
            memcpy(rec->frames, frames, n * sizeof frames[0]);
            otp_ring_commit(t->heap_ring, rec);
            pushed = true;
            /* Once per filling, on the record that crosses half: a
             * record that finds the ring full is counted at its site,
             * without its trace link. */
            if (OTP_UNLIKELY(otp_ring_crossed(t->heap_ring, head0, t->heap_ring->size / 2)) && drain_hook)
                drain_hook();
        }
    }
    int32_t site = -1;
    if (!pushed || track) {
        uint64_t h = otp_live_hash(frames, n);
        unsigned c = (unsigned)(h >> 7) % SITE_CACHE;
        if (tls_sites[c].hash == h) {
            site = tls_sites[c].site;
        } else {
            site = otp_live_site_hashed(frames, n, h);
            if (site >= 0) {
                tls_sites[c].hash = h;
                tls_sites[c].site = site;
            }
        }
    }
    if (!pushed) {
        if (site >= 0 && site == otp_live_folded_site())
            otp_memcap_folded(OTP_PROFILE_HEAP, 1);
        if (site >= 0) {
            /* Unbiased here, per allocation: sizes of one stack differ. */
            double sc = otp_heap_scale(size, tls_shift);
            otp_live_site_add(site, (uint64_t)(sc * OTP_LIVE_COUNT_ONE + 0.5),
                              (uint64_t)((double)size * sc + 0.5));
            atomic_fetch_add_explicit(&n_ring_full, 1, memory_order_relaxed);
        } else {
            atomic_fetch_add_explicit(&n_lost, 1, memory_order_relaxed);
        }
    }
    if (track && site >= 0)
        otp_live_insert((uintptr_t)p, otp_live_pack(site, size, tls_shift));
    otp_cpu_settle(frames, n);
}

static bool (*slow_hook)(uintptr_t ra, size_t size) OTP_STARTUP_DATA;
static bool (*sampling_gate)(void) OTP_STARTUP_DATA;

void otp_heap_set_drain_hook(void (*fn)(void))
{
    drain_hook = fn;
}

void otp_heap_set_gate(bool (*fn)(void))
{
    sampling_gate = fn;
}

void otp_heap_set_slow_hook(bool (*fn)(uintptr_t ra, size_t size))
{
    slow_hook = fn;
}

/* Tests only (OTP_TEST_TERM_IN_SAMPLE_MS, ignored under secure
 * execution): the first sampled allocation that many milliseconds after
 * start sends SIGTERM to its own thread from inside the agent's code,
 * where a SIGTERM from outside lands now and then. */
static int64_t test_term_ns;

static void test_term(void)
{
    if (OTP_LIKELY(!test_term_ns) || otp_mono_ns() < test_term_ns)
        return;
    test_term_ns = 0;
    syscall(SYS_tgkill, (long)getpid(), (long)otp_gettid(), (long)SIGTERM);
}

void *otp_heap_sampled(void *p, size_t size, uintptr_t ra)
{
    if (slow_hook && slow_hook(ra, size))
        return p;
    if (!atomic_load_explicit(&heap_on, memory_order_relaxed)) {
        otp_tls_heap_left = OTP_HEAP_RECHECK_BYTES;
        return p;
    }
    if (otp_tls_in_agent) {
        /* The agent's own allocation (or libunwind's, inside a sample):
         * it does not move the app's countdown. */
        otp_tls_heap_left += (int64_t)size;
        return p;
    }
    if (OTP_UNLIKELY(otp_tls_vforked)) {
        /* A vfork child: it shares this memory and TLS with its parent
         * and must change nothing, not even the parent's countdown. */
        otp_tls_heap_left += (int64_t)size;
        return p;
    }
    int saved_errno = errno;
    if (!sampling_gate || !sampling_gate()) {
        otp_tls_heap_left = OTP_HEAP_RECHECK_BYTES;
        tls_rng = 0;
        errno = saved_errno;
        return p;
    }
    uint64_t s = tls_rng;
    if (OTP_UNLIKELY(s == 0)) {
        /* First sampling decision of this thread (or after fork): the
         * countdown so far was no exponential draw, so decide afresh. */
        s = rng_seed();
        int64_t gap = draw_gap(&s);
        tls_rng = s;
        if ((uint64_t)gap >= size) {
            otp_tls_heap_left = gap - (int64_t)size;
            errno = saved_errno;
            return p;
        }
    }
    uint64_t c0 = timing_start();
    if (p) {
        otp_tls_in_agent = 1;
        otp_cpu_owe_begin();
        record(p, size, ra);
        test_term();
        otp_tls_in_agent = 0;
    }
    /* Drawn after recording: allocations made by the unwinder in the
     * meantime have moved the countdown. */
    otp_tls_heap_left = draw_gap(&s);
    tls_rng = s;
    charge(c0);
    errno = saved_errno;
    return p;
}

/* Frees need no vfork check: a vfork (or posix_spawn) child shares the
 * parent's heap, so a block it frees really is gone from the parent too,
 * and the table operations are lock-free (the parent is suspended
 * meanwhile, so nothing is half-done on its side either). */
void otp_heap_freed(void *p)
{
    if (!p)
        return;
    /* The filter's positives (blocks near a sampled one too) cost a
     * table lookup each: part of what sampling costs, so it is counted. */
    uint64_t c0 = timing_start();
    otp_live_remove((uintptr_t)p, NULL);
    charge(c0);
}

uint64_t otp_heap_untrack(void *p)
{
    otp_live_val_t v;
    if (!p || !otp_live_remove((uintptr_t)p, &v))
        return 0;
    return v; /* never 0: tracked blocks have size >= 1 */
}

void otp_heap_retrack(void *p, uint64_t token)
{
    if (p && token)
        otp_live_insert((uintptr_t)p, token);
}

/* ---- set-up ------------------------------------------------------------ */

void otp_heap_init(void)
{
    if (!otp_cfg.memory_enabled)
        return;
    rate = otp_cfg.memory_sample_bytes > 0 ? otp_cfg.memory_sample_bytes : 1;
    if (otp_cfg.memory_sampling == OTP_MEM_SAMPLING_EVERY)
        rate = 1;
    track = otp_cfg.memory_track_frees;
    max_depth = otp_cfg.cpu_max_stack_depth;
    if (max_depth > OTP_MAX_FRAMES)
        max_depth = OTP_MAX_FRAMES;
    if (max_depth < 1)
        max_depth = 1;
    otp_ldso_text(&ldso_lo, &ldso_hi);
    const char *term = secure_getenv("OTP_TEST_TERM_IN_SAMPLE_MS");
    if (term && atoi(term) > 0)
        test_term_ns = otp_mono_ns() + (int64_t)atoi(term) * 1000000;
    /* The live-heap tables are mapped at the first sample (live_start). */
    /* The calling thread decides afresh at its next allocation. */
    tls_rng = 0;
    otp_tls_heap_left = 0;
    atomic_store(&heap_on, 1);
}

void otp_heap_stop(void)
{
    /* From now on the slow path only resets the countdown: no unwinding,
     * no getpid, no syscall of any kind. Tracked blocks are still
     * removed on free (lock-free, no syscalls) so the tables stay right. */
    atomic_store(&heap_on, 0);
}

bool otp_heap_active(void)
{
    return atomic_load(&heap_on);
}

bool otp_heap_has_data(void)
{
    /* Blocks inherited across fork are the parent's to report. */
    return atomic_load(&heap_on) && atomic_load_explicit(&took_any, memory_order_relaxed);
}

void otp_heap_count_drained(bool kept)
{
    atomic_fetch_add_explicit(kept ? &n_drained : &n_lost, 1, memory_order_relaxed);
}

void otp_heap_get_counts(otp_heap_counts_t *c)
{
    c->ring_full = atomic_load(&n_ring_full);
    c->lost = atomic_load(&n_lost);
    c->drained = atomic_load(&n_drained);
}

void otp_heap_atfork_child(void)
{
    tls_rng = 0;
    otp_tls_heap_left = 0;
    atomic_store(&took_any, false);
    otp_live_atfork_child();
}
