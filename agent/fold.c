/*
 * Fold table: open addressing over a fixed bucket array, entries bump-
 * allocated in an arena behind it, all in one anonymous mapping. Sized
 * for the distinct stacks of a long single-threaded run (every leaf PC
 * is its own key); the bucket array is kept at most half full so that a
 * probe stays short in the signal handler. Clearing hands the pages back
 * with MADV_DONTNEED, which also zeroes them: an all-zero mapping is an
 * empty table.
 */
#include "fold.h"
#include "vmlock.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#define NBUCKETS (1u << 15)
#define MAX_ENTRIES (NBUCKETS / 2)
#define ARENA_BYTES (8u << 20)
#define PAGE 4096u

struct otp_fold {
    _Atomic uint32_t count;
    uint32_t pad;
    uint64_t used;              /* arena bytes in use */
    uint32_t buckets[NBUCKETS]; /* arena offset / 8 + 1; 0: empty */
};

#define HDR_BYTES ((sizeof(struct otp_fold) + PAGE - 1) / PAGE * PAGE)
#define MAP_BYTES (HDR_BYTES + ARENA_BYTES)

static char *arena(const otp_fold_t *f)
{
    return (char *)f + HDR_BYTES;
}

static size_t entry_size(uint32_t nframes)
{
    return sizeof(otp_fold_entry_t) + (size_t)nframes * sizeof(uint64_t);
}

otp_fold_t *otp_fold_create(void)
{
    /* Reserved, not committed: a run with few stacks touches a few pages. */
    void *m = otp_vm_map(NULL, MAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

void otp_fold_destroy(otp_fold_t *f)
{
    if (f)
        otp_vm_unmap(f, MAP_BYTES);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v;
    h *= 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 31);
}

static uint64_t key_hash(const otp_rec_t *r)
{
    uint64_t h = mix(0x243f6a8885a308d3ULL, r->nframes), w[3];
    for (uint32_t i = 0; i < r->nframes; i++)
        h = mix(h, r->frames[i]);
    memcpy(w, r->trace_id, 16);
    memcpy(w + 2, r->span_id, 8);
    return mix(mix(mix(h, w[0]), w[1]), w[2]);
}

static bool same_key(const otp_fold_entry_t *e, const otp_rec_t *r)
{
    return e->nframes == r->nframes && memcmp(e->trace_id, r->trace_id, 16) == 0 &&
           memcmp(e->span_id, r->span_id, 8) == 0 &&
           memcmp(e->frames, r->frames, (size_t)r->nframes * sizeof(uint64_t)) == 0;
}

int otp_fold_add(otp_fold_t *f, const otp_rec_t *rec)
{
    uint64_t h = key_hash(rec);
    uint32_t mask = NBUCKETS - 1;
    /* At most half full: an empty bucket is always reached. */
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        uint32_t b = f->buckets[i];
        if (b == 0)
            break;
        otp_fold_entry_t *e = (otp_fold_entry_t *)(arena(f) + (size_t)(b - 1) * 8);
        if (e->hash == h && same_key(e, rec)) {
            e->weight += rec->weight;
            e->ns += rec->addr;
            return 0;
        }
    }
    size_t sz = entry_size(rec->nframes);
    uint32_t n = atomic_load_explicit(&f->count, memory_order_relaxed);
    if (n >= MAX_ENTRIES || f->used + sz > ARENA_BYTES)
        return -1;
    otp_fold_entry_t *e = (otp_fold_entry_t *)(arena(f) + f->used);
    e->hash = h;
    e->weight = rec->weight;
    e->ns = rec->addr;
    memcpy(e->trace_id, rec->trace_id, 16);
    memcpy(e->span_id, rec->span_id, 8);
    e->nframes = rec->nframes;
    e->pad = 0;
    memcpy(e->frames, rec->frames, (size_t)rec->nframes * sizeof(uint64_t));
    uint32_t i = (uint32_t)h & mask;
    while (f->buckets[i] != 0)
        i = (i + 1) & mask;
    f->buckets[i] = (uint32_t)(f->used / 8) + 1;
    f->used += sz;
    atomic_store_explicit(&f->count, n + 1, memory_order_release);
    return 0;
}

size_t otp_fold_count(const otp_fold_t *f)
{
    return atomic_load_explicit(&((otp_fold_t *)f)->count, memory_order_acquire);
}

void otp_fold_foreach(const otp_fold_t *f, otp_fold_visit_fn fn, void *ctx)
{
    const char *a = arena(f);
    for (uint64_t off = 0; off < f->used;) {
        const otp_fold_entry_t *e = (const otp_fold_entry_t *)(a + off);
        fn(ctx, e);
        off += entry_size(e->nframes);
    }
}

void otp_fold_clear(otp_fold_t *f)
{
    if (atomic_load_explicit(&f->count, memory_order_relaxed) == 0 && f->used == 0)
        return;
    size_t touched = HDR_BYTES + (f->used + PAGE - 1) / PAGE * PAGE;
    if (madvise(f, touched, MADV_DONTNEED) == 0)
        return;
    memset(f->buckets, 0, sizeof f->buckets);
    f->used = 0;
    atomic_store_explicit(&f->count, 0, memory_order_release);
}
