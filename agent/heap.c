/*
 * Heap sampling by bytes, Go/tcmalloc style: each thread counts down the
 * bytes it allocates, with exponentially distributed gaps of mean
 * memory.sample_bytes, so an allocation of S bytes is sampled with
 * probability 1 - exp(-S/rate), and the profile divides by that.
 *
 * Producer side (any app thread, inside malloc; never a signal handler):
 * otp_heap_sampled() runs only when the countdown runs out. It sets
 * otp_tls_in_agent (so libunwind's own allocations and a SIGPROF landing
 * here are not sampled), unwinds, pushes an OTP_REC_ALLOC record into the
 * thread's heap ring and tracks the block in the live table (live.h).
 * When the ring is full or the thread has no slot, the allocation is
 * counted, already unbiased, on its interned stack instead: estimates
 * stay right, only the thread id and trace context of that sample are
 * lost. A vfork child (otp_tls_vforked, no system call) records nothing;
 * nor does any thread before the agent runs or after it stopped.
 *
 * Flusher side: otp_heap_drain_thread() every tick, otp_heap_collect()
 * every interval. Each interval's profile holds alloc_* from the records
 * and per-stack counts of the interval, and inuse_* from a walk of the
 * live table at its end, bucketed by (stack, size class) and unbiased
 * with Go's formula. Per-stack live bytes are followed across intervals
 * to flag stacks that keep growing (suspected leaks); at exit the live
 * stacks make the summary's leak report.
 */
#include "heap.h"

#include <errno.h>
#include <link.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
#include "summary.h"
#include "sys.h"
#include "trace.h"
#include "unwind.h"

/* Countdown while the agent is not running (yet, or any more): the slow
 * path is re-entered this often to look again. */
#define RECHECK_BYTES (1 << 20)
/* Hook frames that may sit above the app's call site. */
#define SKIP_MAX 8
#define REPORT_TOP 10
/* ~50 us at 2-4 GHz: see record(). */
#define SAMPLE_CYCLES_MAX 150000

__thread int64_t otp_tls_heap_left __attribute__((tls_model("initial-exec")));
__thread int otp_tls_vforked __attribute__((tls_model("initial-exec")));
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

static _Atomic int heap_on;
static int64_t rate;          /* memory.sample_bytes; 1 = every allocation */
static _Atomic int heap_shift; /* the budget's: the mean gap is rate << heap_shift */
static bool track;
static int max_depth;
static int leak_intervals;
static uintptr_t self_lo, self_hi, ldso_lo, ldso_hi;
/* Shared counters are touched only off the common sampled path (a
 * contended cache line costs more than the rest of a sample). */
static _Atomic uint64_t n_ring_full, n_lost;
static uint64_t n_drained; /* flusher only */

/* ---- producer side ---------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

static uint64_t rng_seed(void)
{
    uint64_t s = (uint64_t)(uintptr_t)&otp_tls_heap_left * 0x9e3779b97f4a7c15ULL;
    s ^= (uint64_t)otp_mono_ns() * 0xbf58476d1ce4e5b9ULL;
    s ^= (uint64_t)otp_agent_pid << 17;
    return s ? s : 0x853c49e6748fea9bULL;
}

int64_t otp_heap_gap(uint64_t *s, int64_t mean)
{
    if (mean <= 1)
        return 0;
    double u = (double)((rng_next(s) >> 11) + 1) * (1.0 / 9007199254740992.0);
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
static double scale_for(uint64_t size, int shift)
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

/* Buckets are keyed by size class, as Go's are by its allocator's size
 * classes: sizes rounded up to four steps per power of two (at most 25%
 * apart), so a mixed-size workload does not need one bucket per distinct
 * size. The unbiasing uses each bucket's average size, which for bytes
 * is exact whenever size << rate (and within a fraction of a percent
 * for counts). */
static uint64_t size_class(uint64_t n)
{
    if (n <= 64)
        return (n + 15) & ~15ULL;
    uint64_t step = (1ULL << (63 - __builtin_clzll(n))) / 4;
    return (n + step - 1) & ~(step - 1);
}

static inline bool in_self(uint64_t pc)
{
    return pc >= self_lo && pc < self_hi;
}

/* The allocating stack, leaf first, leaf as an exact PC (return address
 * minus one, inside the call instruction), into out[max_depth +
 * SKIP_MAX] (one buffer: this runs inside malloc, on stacks of any size).
 * Code running in the dynamic loader may be changing the lists the
 * unwinder reads: keep only the caller then, as the SIGPROF handler does. */
static uint32_t capture(uint64_t *out, uintptr_t ra)
{
    int m = 0;
    if ((ra < ldso_lo || ra >= ldso_hi) && otp_unwind_ready()) {
        m = -1;
        if (tls_walks < UNCACHED_WALKS) {
            tls_walks++;
            m = otp_unwind_here_uncached(out, max_depth + SKIP_MAX, 0);
        }
        if (m < 0)
            m = otp_unwind_here(out, max_depth + SKIP_MAX, 0);
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

static _Atomic uint64_t n_here; /* samples taken by this process (since fork) */

static void record(void *p, size_t size, uintptr_t ra)
{
    /* The cycle counter, not a clock: two reads cost ~15 ns, two vDSO
     * clock calls ~50 (the budget converts cycles to time). */
    uint64_t c0 = __builtin_ia32_rdtsc();
    atomic_fetch_add_explicit(&n_here, 1, memory_order_relaxed);
    uint64_t frames[max_depth + SKIP_MAX];
    uint32_t n = capture(frames, ra);
    bool pushed = false;
    otp_thread_t *t = otp_thread_self();
    if (t && t->heap_ring) {
        otp_rec_t *rec = otp_ring_reserve(t->heap_ring, otp_rec_size(n));
        if (rec) {
            rec->type = OTP_REC_ALLOC;
            rec->nframes = (uint16_t)n;
            rec->weight = size;
            rec->addr = tls_shift;
            rec->time_ns = otp_real_ns();
            otp_trace_current(rec->trace_id, rec->span_id);
            memcpy(rec->frames, frames, n * sizeof frames[0]);
            otp_ring_commit(t->heap_ring, rec);
            pushed = true;
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
            double sc = scale_for(size, tls_shift);
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
    if (t) {
        /* A sample takes well under a microsecond; a much longer one was
         * preempted (time not spent on this CPU), so each counts at most
         * SAMPLE_CYCLES_MAX. Only this thread writes its counter. */
        uint64_t d = __builtin_ia32_rdtsc() - c0;
        uint64_t c = atomic_load_explicit(&t->heap_cycles, memory_order_relaxed);
        atomic_store_explicit(&t->heap_cycles, c + (d < SAMPLE_CYCLES_MAX ? d : SAMPLE_CYCLES_MAX),
                              memory_order_relaxed);
    }
}

static bool (*slow_hook)(uintptr_t ra, size_t size);
static bool (*sampling_gate)(void);

void otp_heap_set_gate(bool (*fn)(void))
{
    sampling_gate = fn;
}

void otp_heap_set_slow_hook(bool (*fn)(uintptr_t ra, size_t size))
{
    slow_hook = fn;
}

void *otp_heap_sampled(void *p, size_t size, uintptr_t ra)
{
    if (slow_hook && slow_hook(ra, size))
        return p;
    if (!atomic_load_explicit(&heap_on, memory_order_relaxed)) {
        otp_tls_heap_left = RECHECK_BYTES;
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
        otp_tls_heap_left = RECHECK_BYTES;
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
    if (p) {
        otp_tls_in_agent = 1;
        otp_cpu_owe_begin();
        record(p, size, ra);
        otp_tls_in_agent = 0;
    }
    /* Drawn after recording: allocations made by the unwinder in the
     * meantime have moved the countdown. */
    otp_tls_heap_left = draw_gap(&s);
    tls_rng = s;
    errno = saved_errno;
    return p;
}

/* Frees need no vfork check: a vfork (or posix_spawn) child shares the
 * parent's heap, so a block it frees really is gone from the parent too,
 * and the table operations are lock-free (the parent is suspended
 * meanwhile, so nothing is half-done on its side either). */
void otp_heap_freed(void *p)
{
    if (p)
        otp_live_remove((uintptr_t)p, NULL);
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

static int find_ranges(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t me = (uintptr_t)data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
    }
    if (me >= lo && me < hi) {
        self_lo = lo;
        self_hi = hi;
    }
    if (info->dlpi_name && strstr(info->dlpi_name, "/ld-linux")) {
        ldso_lo = lo;
        ldso_hi = hi;
    }
    return 0;
}

static void summary_section(void);

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
    leak_intervals = otp_cfg.memory_leak_intervals;
    dl_iterate_phdr(find_ranges, (void *)(uintptr_t)&otp_heap_init);
    /* libunwind is loaded by otp_agent_init before this: many programs
     * allocate most of their heap in their first milliseconds. */
    int rc = otp_live_init(rate);
    if (rc != 0) {
        OTP_WARN("cannot map the live-heap tables (%s); heap profiling is off", strerror(-rc));
        return;
    }
    otp_summary_add_section(summary_section);
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

/* ---- flusher side -------------------------------------------------------- */

typedef struct site_stat {
    double bytes, objects; /* estimated live at the end of the last interval */
    double prev;           /* estimated live bytes one interval earlier */
    int streak;            /* consecutive intervals of growth */
    bool announced;
} site_stat_t;

typedef struct report_line {
    char *name;
    double bytes, objects;
} report_line_t;

static otp_agg_t *cur_agg;   /* this interval, filled by drains */
static otp_agg_t *done_agg;  /* backs the last collected profile */
static otp_agg_t *extra_agg; /* per-stack counts, already unbiased */
static otp_sample_t *merged;    /* the profile's samples: both tables */
static size_t merged_cap;
static otp_profile_t prof;
static site_stat_t *stats;
static size_t stats_cap;
static uint64_t lost_seen, ring_full_seen;
static char **comments;
static size_t ncomments;
static report_line_t report[REPORT_TOP];
static int nreport;
static report_line_t suspects[REPORT_TOP]; /* flagged during the run */
static int nsuspects;
static double report_bytes, report_objects;
static uint64_t report_blocks;

static otp_agg_t *agg_now(void)
{
    if (!cur_agg)
        cur_agg = otp_agg_new();
    return cur_agg;
}

bool otp_heap_has_data(void)
{
    /* Blocks inherited across fork are the parent's to report. */
    return atomic_load(&heap_on) && atomic_load_explicit(&n_here, memory_order_relaxed) > 0;
}

void otp_heap_drain_thread(otp_thread_t *t)
{
    if (!atomic_load_explicit(&heap_on, memory_order_relaxed) || !t->heap_ring ||
        !otp_ring_peek(t->heap_ring))
        return;
    otp_agg_t *a = agg_now();
    const otp_rec_t *r;
    while ((r = otp_ring_peek(t->heap_ring)) != NULL) {
        if (r->type == OTP_REC_ALLOC) {
            otp_agg_key_t k = {r->frames, r->nframes, (uint32_t)atomic_load(&t->tid), size_class(r->weight),
                               r->trace_id, r->span_id};
            double sc = scale_for(r->weight, (int)r->addr);
            int64_t v[OTP_MAX_VALUES] = {(int64_t)(sc * OTP_LIVE_COUNT_ONE + 0.5),
                                         (int64_t)((double)r->weight * sc + 0.5), 0, 0};
            if (!a || !otp_agg_add_capped(a, &k, t->name, v, OTP_PROFILE_HEAP))
                atomic_fetch_add_explicit(&n_lost, 1, memory_order_relaxed);
            else
                n_drained++;
        }
        otp_ring_pop(t->heap_ring, r);
    }
}

static bool stats_reserve(size_t n)
{
    if (n <= stats_cap)
        return true;
    size_t ncap = stats_cap ? stats_cap : 256;
    while (ncap < n)
        ncap *= 2;
    site_stat_t *ns = otp_realloc(stats, ncap * sizeof *ns);
    if (!ns)
        return false;
    memset(ns + stats_cap, 0, (ncap - stats_cap) * sizeof *ns);
    stats = ns;
    stats_cap = ncap;
    return true;
}

/* The walk meets blocks of stacks interned after the statistics were
 * sized (app threads keep sampling meanwhile): those count in the
 * profile but not in the per-site statistics until the next interval. */
typedef struct live_ctx {
    otp_agg_t *agg;
    bool have_stats;
    uint32_t nsites; /* statistics cover sites [0, nsites) */
    uint64_t blocks;
    uint64_t late;   /* blocks of sites >= nsites */
} live_ctx_t;

static void visit_live(void *vctx, uintptr_t addr, otp_live_val_t v)
{
    (void)addr;
    live_ctx_t *c = vctx;
    int32_t site = otp_live_site_of(v);
    uint64_t size = otp_live_size_of(v);
    uint32_t n;
    const uint64_t *frames = otp_live_site_frames(site, &n);
    otp_agg_key_t k = {frames, n, 0, size_class(size), NULL, NULL};
    double sc = scale_for(size, otp_live_shift_of(v));
    int64_t vals[OTP_MAX_VALUES] = {0, 0, (int64_t)(sc * OTP_LIVE_COUNT_ONE + 0.5),
                                    (int64_t)((double)size * sc + 0.5)};
    otp_agg_add(c->agg, &k, NULL, vals);
    c->blocks++;
    if (c->have_stats && site >= 0 && (uint32_t)site < c->nsites) {
        stats[site].bytes += (double)size * sc;
        stats[site].objects += sc;
    } else {
        c->late++;
    }
}

static void free_annotations(void)
{
    for (size_t i = 0; i < ncomments; i++)
        otp_free(comments[i]);
    otp_free(comments);
    comments = NULL;
    ncomments = 0;
}

const otp_profile_t *otp_heap_collect(int64_t start_ns, int64_t end_ns, bool final)
{
    if (!atomic_load(&heap_on))
        return NULL;
    free_annotations();
    int high = otp_thread_high();
    for (int i = 0; i < high; i++) {
        otp_thread_t *t = otp_thread_at(i);
        int st = atomic_load(&t->state);
        if (st == OTP_SLOT_ACTIVE || st == OTP_SLOT_RETIRED)
            otp_heap_drain_thread(t);
    }
    /* Nothing sampled yet: no tables, no allocator (a process that only
     * starts and exits must not pay for the agent's jemalloc). */
    if (!cur_agg && !otp_heap_has_data())
        return NULL;
    otp_agg_t *a = agg_now();
    if (!a)
        return NULL;

    /* Allocations counted per stack (ring full / no slot). */
    if (extra_agg)
        otp_agg_clear(extra_agg);
    else
        extra_agg = otp_agg_new();
    uint32_t nsites = otp_live_site_count();
    for (uint32_t s = 0; s < nsites && extra_agg; s++) {
        uint64_t count_fixed, bytes;
        if (!otp_live_site_take((int32_t)s, &count_fixed, &bytes))
            continue;
        uint64_t count = (count_fixed + OTP_LIVE_COUNT_ONE / 2) / OTP_LIVE_COUNT_ONE;
        uint32_t n;
        const uint64_t *frames = otp_live_site_frames((int32_t)s, &n);
        otp_agg_key_t k = {frames, n, 0, size_class(count ? bytes / count : bytes), NULL, NULL};
        int64_t v[OTP_MAX_VALUES] = {(int64_t)count, (int64_t)bytes, 0, 0};
        otp_agg_add(extra_agg, &k, NULL, v);
    }

    /* The live heap now. */
    live_ctx_t lc = {a, stats_reserve(nsites), nsites, 0, 0};
    if (lc.have_stats) {
        for (uint32_t s = 0; s < nsites; s++) {
            stats[s].prev = stats[s].bytes;
            stats[s].bytes = stats[s].objects = 0;
        }
    }
    otp_live_foreach(visit_live, &lc);
    /* A last interval cut short by exit says little about growth. */
    bool full_interval = !final || end_ns - start_ns >= (int64_t)otp_cfg.export_interval_ms * 1000000 / 2;
    if (lc.have_stats && full_interval) {
        for (uint32_t s = 0; s < nsites; s++) {
            site_stat_t *st = &stats[s];
            st->streak = st->bytes > st->prev ? st->streak + 1 : 0;
        }
    }

    memset(&prof, 0, sizeof prof);
    prof.kind = OTP_PROFILE_HEAP;
    prof.time_ns = start_ns;
    prof.duration_ns = end_ns - start_ns;
    prof.period = otp_heap_mean();
    prof.nvalues = 4;
    uint64_t lost = atomic_load(&n_lost);
    prof.dropped = lost - lost_seen;
    lost_seen = lost;
    otp_profile_t pm, pe;
    memset(&pm, 0, sizeof pm);
    memset(&pe, 0, sizeof pe);
    if (otp_agg_count(a) > 0 && otp_agg_to_profile(a, &pm) == 0) {
        /* Samples were unbiased one by one, counts in fixed point. */
        for (size_t i = 0; i < pm.nsamples; i++) {
            int64_t *v = pm.samples[i].values;
            for (int j = 0; j < OTP_MAX_VALUES; j += 2)
                v[j] = (v[j] + OTP_LIVE_COUNT_ONE / 2) / OTP_LIVE_COUNT_ONE;
        }
    } else {
        pm.nsamples = 0;
    }
    if (!extra_agg || otp_agg_count(extra_agg) == 0 || otp_agg_to_profile(extra_agg, &pe) != 0)
        pe.nsamples = 0;
    size_t total = pm.nsamples + pe.nsamples;
    if (total > merged_cap) {
        otp_sample_t *no = otp_realloc(merged, total * sizeof *no);
        if (no) {
            merged = no;
            merged_cap = total;
        } else {
            total = 0;
        }
    }
    if (total && pm.nsamples)
        memcpy(merged, pm.samples, pm.nsamples * sizeof *merged);
    if (total && pe.nsamples)
        memcpy(merged + pm.nsamples, pe.samples, pe.nsamples * sizeof *merged);
    prof.samples = total ? merged : NULL;
    prof.nsamples = total;
    /* The profile now points into `a`; the next interval fills the other
     * table, emptied of the previous profile's data. */
    cur_agg = done_agg;
    done_agg = a;
    if (cur_agg)
        otp_agg_clear(cur_agg);

    otp_mem_stats_t ms;
    otp_mem_stats(&ms);
    otp_live_stats_t ls;
    otp_live_get_stats(&ls);
    uint64_t rf = atomic_load(&n_ring_full);
    OTP_INFO("agent memory: %.1f MiB allocated, %.1f MiB resident; heap: %llu sampled blocks live, "
             "%llu stacks (%llu blocks from stacks newer than this interval's statistics), "
             "%llu samples counted without a ring record, %llu lost",
             (double)ms.allocated / 1048576.0, (double)ms.resident / 1048576.0,
             (unsigned long long)lc.blocks, (unsigned long long)ls.sites, (unsigned long long)lc.late,
             (unsigned long long)(rf - ring_full_seen), (unsigned long long)prof.dropped);
    ring_full_seen = rf;
    return &prof;
}

/* Allocation wrappers are not where a leak is: name the first frame
 * outside them. */
static bool is_wrapper(const char *name)
{
    static const char *const prefixes[] = {"_Znw", "_Zna", "operator new", "strdup", "strndup",
                                           "__strdup", "__strndup"};
    for (size_t i = 0; i < OTP_ARRAY_LEN(prefixes); i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

static const char *site_name(otp_symbolizer_t *sym, int32_t site, uint64_t *pc)
{
    uint32_t n;
    const uint64_t *f = otp_live_site_frames(site, &n);
    const char *first = NULL;
    *pc = f[0];
    for (uint32_t i = 0; i < n; i++) {
        uint64_t a = i == 0 ? f[i] : f[i] - 1;
        int m;
        const char *name = otp_sym_lookup(sym, a, &m);
        if (i == 0) {
            first = name;
            *pc = a;
        }
        if (!name || !is_wrapper(name)) {
            *pc = a;
            return name ? name : first;
        }
    }
    return first;
}

static void fmt_bytes(char *buf, size_t cap, double b)
{
    if (b >= 1048576.0)
        snprintf(buf, cap, "%.1f MiB", b / 1048576.0);
    else if (b >= 1024.0)
        snprintf(buf, cap, "%.1f KiB", b / 1024.0);
    else
        snprintf(buf, cap, "%.0f B", b);
}

static int by_name(const void *x, const void *y)
{
    const report_line_t *a = x, *b = y;
    return strcmp(a->name, b->name);
}

static int by_bytes_desc(const void *x, const void *y)
{
    const report_line_t *a = x, *b = y;
    return a->bytes < b->bytes ? 1 : a->bytes > b->bytes ? -1 : strcmp(a->name, b->name);
}

static void build_report(otp_symbolizer_t *sym, uint32_t nsites)
{
    report_line_t *all = otp_calloc(nsites ? nsites : 1, sizeof *all);
    if (!all)
        return;
    size_t n = 0;
    report_bytes = report_objects = 0;
    for (uint32_t s = 0; s < nsites && s < stats_cap; s++) {
        if (stats[s].bytes <= 0)
            continue;
        uint64_t pc;
        const char *name = site_name(sym, (int32_t)s, &pc);
        char hex[32];
        if (!name) {
            snprintf(hex, sizeof hex, "0x%llx", (unsigned long long)pc);
            name = hex;
        }
        all[n].name = otp_strdup(name);
        if (!all[n].name)
            continue;
        if (stats[s].announced && nsuspects < REPORT_TOP) {
            int j = 0;
            while (j < nsuspects && strcmp(suspects[j].name, name) != 0)
                j++;
            if (j == nsuspects && (suspects[nsuspects].name = otp_strdup(name)))
                nsuspects++;
        }
        all[n].bytes = stats[s].bytes;
        all[n].objects = stats[s].objects;
        report_bytes += stats[s].bytes;
        report_objects += stats[s].objects;
        n++;
    }
    qsort(all, n, sizeof *all, by_name);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && strcmp(all[m - 1].name, all[i].name) == 0) {
            all[m - 1].bytes += all[i].bytes;
            all[m - 1].objects += all[i].objects;
            otp_free(all[i].name);
        } else {
            all[m++] = all[i];
        }
    }
    qsort(all, m, sizeof *all, by_bytes_desc);
    nreport = m < REPORT_TOP ? (int)m : REPORT_TOP;
    for (int i = 0; i < nreport; i++)
        report[i] = all[i];
    for (size_t i = (size_t)nreport; i < m; i++)
        otp_free(all[i].name);
    otp_free(all);
}

void otp_heap_annotate(otp_symbolizer_t *sym, bool final)
{
    if (!atomic_load(&heap_on) || !stats)
        return;
    uint32_t nsites = otp_live_site_count();
    if (nsites > stats_cap)
        nsites = (uint32_t)stats_cap;
    size_t want = 0;
    for (uint32_t s = 0; s < nsites; s++)
        if (stats[s].streak >= leak_intervals)
            want++;
    /* The budget's line (overhead, rates) comes first. */
    comments = otp_calloc(want + 2, sizeof *comments);
    if (comments && (comments[0] = otp_strdup(otp_budget_last_note())) != NULL)
        ncomments = 1;
    const char *capped = otp_memcap_note(OTP_PROFILE_HEAP);
    if (comments && capped[0] && (comments[ncomments] = otp_strdup(capped)) != NULL)
        ncomments++;
    for (uint32_t s = 0; s < nsites && comments; s++) {
        site_stat_t *st = &stats[s];
        /* The folded stack grows by taking in new stacks, not by leaking. */
        if (st->streak < leak_intervals || (int32_t)s == otp_live_folded_site())
            continue;
        uint64_t pc;
        const char *name = site_name(sym, (int32_t)s, &pc);
        char b[32], line[512];
        fmt_bytes(b, sizeof b, st->bytes);
        snprintf(line, sizeof line,
                 "suspected leak: %s (pc 0x%llx): live heap grew in each of the last %d intervals, now ~%s "
                 "in ~%.0f objects",
                 name ? name : "?", (unsigned long long)pc, st->streak, b, st->objects);
        if (!st->announced) {
            st->announced = true;
            OTP_WARN("%s", line);
        }
        char *c = otp_strdup(line);
        if (c)
            comments[ncomments++] = c;
    }
    prof.comments = (const char *const *)comments;
    prof.ncomments = ncomments;
    if (final) {
        report_blocks = 0;
        otp_live_stats_t ls;
        otp_live_get_stats(&ls);
        report_blocks = ls.entries;
        build_report(sym, nsites);
    }
}

static void summary_section(void)
{
    if (!atomic_load(&heap_on))
        return;
    otp_live_stats_t ls;
    otp_live_get_stats(&ls);
    char b[32];
    fmt_bytes(b, sizeof b, report_bytes);
    OTP_INFO("heap: %llu sampled allocations (one per %lld bytes on average), %llu lost; "
             "%llu sampled blocks still live at exit, ~%s in ~%.0f objects",
             (unsigned long long)(n_drained + atomic_load(&n_ring_full) + atomic_load(&n_lost)),
             (long long)rate,
             (unsigned long long)atomic_load(&n_lost), (unsigned long long)report_blocks, b, report_objects);
    if (nreport > 0) {
        OTP_INFO("  top leaking sites (live at exit, estimated):");
        OTP_INFO("  %12s %10s  %s", "bytes", "objects", "function");
        for (int i = 0; i < nreport; i++) {
            fmt_bytes(b, sizeof b, report[i].bytes);
            OTP_INFO("  %12s %10.0f  %s", b, report[i].objects, report[i].name);
        }
    }
    for (int i = 0; i < nsuspects; i++)
        OTP_INFO("  suspected leak: %s (its live heap grew in %d or more intervals in a row)",
                 suspects[i].name, leak_intervals);
    if (ls.table_full || ls.sites_full)
        OTP_INFO("  live table full %llu times (%llu slots), stack store full %llu times (%llu stacks)",
                 (unsigned long long)ls.table_full, (unsigned long long)ls.capacity,
                 (unsigned long long)ls.sites_full, (unsigned long long)ls.site_capacity);
}

void otp_heap_atfork_child(void)
{
    /* The parent's tables are left behind, not freed: jemalloc's fork
     * handler has not run yet. */
    cur_agg = done_agg = extra_agg = NULL;
    merged = NULL;
    merged_cap = 0;
    stats = NULL;
    stats_cap = 0;
    comments = NULL;
    ncomments = 0;
    nreport = 0;
    nsuspects = 0;
    memset(&prof, 0, sizeof prof);
    lost_seen = atomic_load(&n_lost);
    ring_full_seen = atomic_load(&n_ring_full);
    tls_rng = 0;
    otp_tls_heap_left = 0;
    atomic_store(&n_here, 0);
    otp_live_atfork_child();
}
