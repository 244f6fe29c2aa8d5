/*
 * Open-addressing hash table of aggregated stacks. Entries and their frame
 * arrays live in otp_malloc'd blocks; the table doubles at 50% load.
 */
#include "agg.h"

#include <string.h>

#include "mem.h"
#include "memcap.h"

typedef struct entry {
    uint64_t hash;
    otp_sample_t s; /* s.pcs points at the entry's own frame copy */
    char name[16];
} entry_t;

struct otp_agg {
    entry_t **slots;
    size_t cap, count;
    otp_sample_t *out; /* last otp_agg_to_profile array */
    size_t out_cap;
    size_t charged; /* bytes charged to the memory cap for entries */
};

static const uint8_t zero_ids[16];

static bool has_ids(const otp_agg_key_t *k)
{
    return k->trace_id && k->span_id &&
           (memcmp(k->trace_id, zero_ids, 16) != 0 || memcmp(k->span_id, zero_ids, 8) != 0);
}

uint64_t otp_agg_hash(const otp_agg_key_t *k)
{
    /* FNV-1a over the words, then a final mix. */
    uint64_t h = 1469598103934665603ULL;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 1099511628211ULL)
    for (uint32_t i = 0; i < k->nframes; i++)
        MIX(k->frames[i]);
    MIX(k->nframes);
    MIX(k->tid);
    MIX(k->size);
    if (has_ids(k)) { /* absent and all-zero ids are the same key */
        uint64_t a, b, c;
        memcpy(&a, k->trace_id, 8);
        memcpy(&b, k->trace_id + 8, 8);
        memcpy(&c, k->span_id, 8);
        MIX(a);
        MIX(b);
        MIX(c);
    }
#undef MIX
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

otp_agg_t *otp_agg_new(void)
{
    otp_agg_t *a = otp_calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->cap = 1024;
    a->slots = otp_calloc(a->cap, sizeof *a->slots);
    if (!a->slots) {
        otp_free(a);
        return NULL;
    }
    return a;
}

void otp_agg_clear(otp_agg_t *a)
{
    for (size_t i = 0; i < a->cap; i++) {
        if (a->slots[i]) {
            otp_free(a->slots[i]);
            a->slots[i] = NULL;
        }
    }
    a->count = 0;
    otp_memcap_uncharge(a->charged);
    a->charged = 0;
}

void otp_agg_free(otp_agg_t *a)
{
    if (!a)
        return;
    otp_agg_clear(a);
    otp_free(a->slots);
    otp_free(a->out);
    otp_free(a);
}

static bool same(const entry_t *e, uint64_t h, const otp_agg_key_t *k, bool ids)
{
    if (e->hash != h || e->s.npcs != k->nframes || e->s.tid != k->tid || e->s.alloc_size != k->size ||
        e->s.has_link != ids)
        return false;
    if (ids && (memcmp(e->s.trace_id, k->trace_id, 16) || memcmp(e->s.span_id, k->span_id, 8)))
        return false;
    return memcmp(e->s.pcs, k->frames, k->nframes * sizeof(uint64_t)) == 0;
}

static int grow(otp_agg_t *a)
{
    size_t ncap = a->cap * 2;
    entry_t **n = otp_calloc(ncap, sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < a->cap; i++) {
        entry_t *e = a->slots[i];
        if (!e)
            continue;
        size_t j = e->hash & (ncap - 1);
        while (n[j])
            j = (j + 1) & (ncap - 1);
        n[j] = e;
    }
    otp_free(a->slots);
    a->slots = n;
    a->cap = ncap;
    return 0;
}

/* The slot holding k's entry, or the empty slot where it goes. */
static size_t find(const otp_agg_t *a, const otp_agg_key_t *k, uint64_t h, bool ids)
{
    size_t j = h & (a->cap - 1);
    entry_t *e;
    while ((e = a->slots[j]) != NULL && !same(e, h, k, ids))
        j = (j + 1) & (a->cap - 1);
    return j;
}

static size_t entry_bytes(const otp_agg_key_t *k)
{
    return sizeof(entry_t) + k->nframes * sizeof(uint64_t);
}

int64_t *otp_agg_add(otp_agg_t *a, const otp_agg_key_t *k, const char *thread_name,
                     const int64_t values[OTP_MAX_VALUES])
{
    if ((a->count + 1) * 2 > a->cap && grow(a) != 0)
        return NULL;
    uint64_t h = otp_agg_hash(k);
    bool ids = has_ids(k);
    size_t j = find(a, k, h, ids);
    entry_t *e = a->slots[j];
    if (e)
        goto found;
    e = otp_calloc(1, entry_bytes(k));
    if (!e)
        return NULL;
    uint64_t *frames = (uint64_t *)(e + 1);
    memcpy(frames, k->frames, k->nframes * sizeof(uint64_t));
    e->hash = h;
    e->s.pcs = frames;
    e->s.npcs = k->nframes;
    e->s.tid = k->tid;
    e->s.alloc_size = k->size;
    e->s.has_link = ids;
    if (ids) {
        memcpy(e->s.trace_id, k->trace_id, 16);
        memcpy(e->s.span_id, k->span_id, 8);
    }
    if (thread_name) {
        strncpy(e->name, thread_name, sizeof e->name - 1);
        e->s.thread_name = e->name;
    }
    a->slots[j] = e;
    a->count++;
found:
    for (int i = 0; i < OTP_MAX_VALUES; i++)
        e->s.values[i] += values[i];
    return e->s.values;
}

int64_t *otp_agg_add_capped(otp_agg_t *a, const otp_agg_key_t *k, const char *thread_name,
                            const int64_t values[OTP_MAX_VALUES], otp_profile_kind_t kind)
{
    uint64_t h = otp_agg_hash(k);
    entry_t *e = a->slots[find(a, k, h, has_ids(k))];
    if (e) {
        for (int i = 0; i < OTP_MAX_VALUES; i++)
            e->s.values[i] += values[i];
        return e->s.values;
    }
    if (otp_memcap_room()) {
        /* The entry, and the slot array's share of it at its load. */
        size_t b = entry_bytes(k) + 2 * sizeof(entry_t *);
        int64_t *v = otp_agg_add(a, k, thread_name, values);
        if (v) {
            otp_memcap_charge(b);
            a->charged += b;
            return v;
        }
    }
    static const uint64_t folded_pc = OTP_PC_FOLDED;
    otp_agg_key_t fk = {&folded_pc, 1, 0, 0, NULL, NULL};
    int64_t *v = otp_agg_add(a, &fk, NULL, values);
    if (v)
        otp_memcap_folded(kind, kind == OTP_PROFILE_CPU ? (uint64_t)values[0] : 1);
    return v;
}

size_t otp_agg_count(const otp_agg_t *a)
{
    return a->count;
}

void otp_agg_foreach(otp_agg_t *a, otp_agg_visit_fn fn, void *ctx)
{
    for (size_t i = 0; i < a->cap; i++)
        if (a->slots[i])
            fn(ctx, &a->slots[i]->s);
}

int otp_agg_to_profile(otp_agg_t *a, otp_profile_t *p)
{
    if (a->count > a->out_cap) {
        otp_sample_t *n = otp_realloc(a->out, a->count * sizeof *n);
        if (!n)
            return -1;
        a->out = n;
        a->out_cap = a->count;
    }
    size_t k = 0;
    for (size_t i = 0; i < a->cap; i++)
        if (a->slots[i])
            a->out[k++] = a->slots[i]->s;
    p->samples = a->out;
    p->nsamples = k;
    return 0;
}
