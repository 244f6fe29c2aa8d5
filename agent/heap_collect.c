/*
 * Heap intervals (see heap_collect.h). Each interval's profile holds
 * alloc_* from the ring records and the per-stack counts of the interval
 * (samples the sampler could not put in a ring), and inuse_* from a walk
 * of the live table at its end, bucketed by (stack, size class) and
 * unbiased per sample with Go's formula. The walk also feeds the leak
 * detector's per-site statistics (heap_leak.h).
 */
#include "heap_collect.h"

#include <string.h>

#include "agg.h"
#include "budget.h"
#include "config.h"
#include "heap.h"
#include "heap_leak.h"
#include "heap_report.h"
#include "internal.h"
#include "live.h"
#include "log.h"
#include "mem.h"
#include "memcap.h"

static otp_agg_t *cur_agg;   /* this interval, filled by drains */
static otp_agg_t *done_agg;  /* backs the last collected profile */
static otp_agg_t *extra_agg; /* per-stack counts, already unbiased */
static otp_sample_t *merged;    /* the profile's samples: both tables */
static size_t merged_cap;
static otp_profile_t prof;
static uint64_t lost_seen, ring_full_seen;
static char **comments;
static size_t ncomments;

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

static otp_agg_t *agg_now(void)
{
    if (!cur_agg)
        cur_agg = otp_agg_new();
    return cur_agg;
}

void otp_heap_drain_thread(otp_thread_t *t)
{
    if (!otp_heap_active() || !t->heap_ring ||
        !otp_ring_peek(t->heap_ring))
        return;
    otp_agg_t *a = agg_now();
    const otp_rec_t *r;
    while ((r = otp_ring_peek(t->heap_ring)) != NULL) {
        if (r->type == OTP_REC_ALLOC) {
            otp_agg_key_t k = {r->frames, r->nframes, (uint32_t)atomic_load(&t->tid), size_class(r->weight),
                               r->trace_id, r->span_id};
            double sc = otp_heap_scale(r->weight, (int)r->addr);
            int64_t v[OTP_MAX_VALUES] = {(int64_t)(sc * OTP_LIVE_COUNT_ONE + 0.5),
                                         (int64_t)((double)r->weight * sc + 0.5), 0, 0};
            otp_heap_count_drained(a && otp_agg_add_capped(a, &k, t->name, v, OTP_PROFILE_HEAP));
        }
        otp_ring_pop(t->heap_ring, r);
    }
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
    double sc = otp_heap_scale(size, otp_live_shift_of(v));
    int64_t vals[OTP_MAX_VALUES] = {0, 0, (int64_t)(sc * OTP_LIVE_COUNT_ONE + 0.5),
                                    (int64_t)((double)size * sc + 0.5)};
    otp_agg_add(c->agg, &k, NULL, vals);
    c->blocks++;
    if (c->have_stats && site >= 0 && (uint32_t)site < c->nsites) {
        otp_heap_leak_add(site, (double)size * sc, sc);
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
    if (!otp_heap_active())
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
    live_ctx_t lc = {a, otp_heap_leak_begin(nsites), nsites, 0, 0};
    otp_live_foreach(visit_live, &lc);
    /* A last interval cut short by exit says little about growth. */
    bool full_interval = !final || end_ns - start_ns >= (int64_t)otp_cfg.export_interval_ms * 1000000 / 2;
    if (lc.have_stats && full_interval)
        otp_heap_leak_end(nsites);

    memset(&prof, 0, sizeof prof);
    prof.kind = OTP_PROFILE_HEAP;
    prof.time_ns = start_ns;
    prof.duration_ns = end_ns - start_ns;
    prof.period = otp_heap_mean();
    prof.nvalues = 4;
    otp_heap_counts_t counts;
    otp_heap_get_counts(&counts);
    prof.dropped = counts.lost - lost_seen;
    lost_seen = counts.lost;
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
    uint64_t rf = counts.ring_full;
    OTP_INFO("agent memory: %.1f MiB allocated, %.1f MiB resident; heap: %llu sampled blocks live, "
             "%llu stacks (%llu blocks from stacks newer than this interval's statistics), "
             "%llu samples counted without a ring record, %llu lost",
             (double)ms.allocated / 1048576.0, (double)ms.resident / 1048576.0,
             (unsigned long long)lc.blocks, (unsigned long long)ls.sites, (unsigned long long)lc.late,
             (unsigned long long)(rf - ring_full_seen), (unsigned long long)prof.dropped);
    ring_full_seen = rf;
    return &prof;
}

void otp_heap_annotate(otp_symbolizer_t *sym, bool final, const char *ends)
{
    if (!otp_heap_active() || !otp_heap_leak_ready())
        return;
    size_t want = otp_heap_leak_suspects();
    /* The budget's line (overhead, rates) comes first. */
    comments = otp_calloc(want + 3, sizeof *comments);
    if (comments && (comments[0] = otp_strdup(otp_budget_last_note())) != NULL)
        ncomments = 1;
    const char *capped = otp_memcap_note(OTP_PROFILE_HEAP);
    if (comments && capped[0] && (comments[ncomments] = otp_strdup(capped)) != NULL)
        ncomments++;
    if (comments && ends[0] && (comments[ncomments] = otp_strdup(ends)) != NULL)
        ncomments++;
    if (comments)
        ncomments += otp_heap_leak_describe(sym, comments + ncomments, want + 3 - ncomments);
    prof.comments = (const char *const *)comments;
    prof.ncomments = ncomments;
    if (final)
        otp_heap_report_build(sym);
}

void otp_heap_collect_atfork_child(void)
{
    cur_agg = done_agg = extra_agg = NULL;
    merged = NULL;
    merged_cap = 0;
    comments = NULL;
    ncomments = 0;
    memset(&prof, 0, sizeof prof);
    otp_heap_counts_t c;
    otp_heap_get_counts(&c);
    lost_seen = c.lost;
    ring_full_seen = c.ring_full;
    otp_heap_leak_atfork_child();
    otp_heap_report_atfork_child();
}
