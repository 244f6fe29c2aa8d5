/*
 * Kept intervals, one aggregation per profile kind. Each kept sample is
 * re-keyed by its own stack, thread, trace link and size class, so the
 * merge is the same aggregation the flusher does for one interval.
 */
#include "retain.h"

#include <string.h>

#include "agg.h"

/* Estimated bytes per aggregated entry besides its frames: the entry,
 * its slot at the table's load factor, allocator rounding. */
#define ENTRY_BYTES 192

typedef struct kept {
    otp_agg_t *agg;     /* the kept samples */
    otp_agg_t *scratch; /* kept + the new interval, for one write */
    int intervals;
    int64_t start_ns;   /* start of the oldest kept interval */
    uint64_t dropped;   /* the kept intervals' own dropped counts */
    int64_t bytes;
} kept_t;

static kept_t kept[2];

static kept_t *of(otp_profile_kind_t kind)
{
    return &kept[kind == OTP_PROFILE_HEAP ? 1 : 0];
}

typedef struct add_ctx {
    otp_agg_t *to;
    bool alloc_only; /* heap: inuse is a snapshot, never summed */
    int64_t bytes;   /* estimated growth of `to` */
    bool oom;
} add_ctx_t;

static void add_sample(void *vctx, const otp_sample_t *s)
{
    add_ctx_t *c = vctx;
    int64_t v[OTP_MAX_VALUES];
    memcpy(v, s->values, sizeof v);
    if (c->alloc_only) {
        v[2] = v[3] = 0;
        if (v[0] == 0 && v[1] == 0)
            return;
    }
    otp_agg_key_t k = {s->pcs, s->npcs, s->tid, s->alloc_size, s->has_link ? s->trace_id : NULL,
                       s->has_link ? s->span_id : NULL};
    size_t before = otp_agg_count(c->to);
    if (!otp_agg_add(c->to, &k, s->thread_name, v)) {
        c->oom = true;
        return;
    }
    if (otp_agg_count(c->to) != before)
        c->bytes += ENTRY_BYTES + (int64_t)s->npcs * (int64_t)sizeof(uint64_t);
}

static void add_profile(add_ctx_t *c, const otp_profile_t *p)
{
    for (size_t i = 0; i < p->nsamples && !c->oom; i++)
        add_sample(c, &p->samples[i]);
}

int otp_retain_pending(otp_profile_kind_t kind)
{
    return of(kind)->intervals;
}

const otp_profile_t *otp_retain_merge(const otp_profile_t *p, otp_profile_t *out, int *intervals)
{
    kept_t *k = of(p->kind);
    *intervals = 1;
    if (k->intervals == 0)
        return p;
    if (!k->scratch && !(k->scratch = otp_agg_new()))
        return NULL;
    otp_agg_clear(k->scratch);
    add_ctx_t c = {.to = k->scratch};
    otp_agg_foreach(k->agg, add_sample, &c);
    add_profile(&c, p);
    *out = *p;
    if (c.oom || otp_agg_to_profile(k->scratch, out) != 0)
        return NULL;
    out->time_ns = k->start_ns;
    out->duration_ns = p->time_ns + p->duration_ns - k->start_ns;
    out->dropped = p->dropped + k->dropped;
    *intervals = k->intervals + 1;
    return out;
}

void otp_retain_written(otp_profile_kind_t kind)
{
    kept_t *k = of(kind);
    if (k->agg)
        otp_agg_clear(k->agg);
    if (k->scratch)
        otp_agg_clear(k->scratch);
    k->intervals = 0;
    k->dropped = 0;
    k->bytes = 0;
}

static uint64_t drop_all(kept_t *k)
{
    uint64_t n = k->agg ? otp_agg_count(k->agg) : 0;
    otp_retain_written(k == &kept[1] ? OTP_PROFILE_HEAP : OTP_PROFILE_CPU);
    return n;
}

uint64_t otp_retain_failed(const otp_profile_t *p, int64_t budget)
{
    kept_t *k = of(p->kind);
    int64_t need = 0;
    for (size_t i = 0; i < p->nsamples; i++)
        need += ENTRY_BYTES + (int64_t)p->samples[i].npcs * (int64_t)sizeof(uint64_t);
    uint64_t dropped = 0;
    /* Oldest first: what is kept goes before the newest interval does. */
    if (k->bytes + need > budget)
        dropped += drop_all(k);
    if (need > budget || (!k->agg && !(k->agg = otp_agg_new())))
        return dropped + p->nsamples;
    if (k->intervals == 0)
        k->start_ns = p->time_ns;
    add_ctx_t c = {.to = k->agg, .alloc_only = p->kind == OTP_PROFILE_HEAP};
    add_profile(&c, p);
    k->bytes += c.bytes;
    k->dropped += p->dropped;
    k->intervals++;
    if (c.oom)
        return dropped + drop_all(k) + p->nsamples;
    return dropped;
}

void otp_retain_atfork_child(void)
{
    memset(kept, 0, sizeof kept);
}
