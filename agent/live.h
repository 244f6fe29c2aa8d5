/*
 * Live heap: the sampled blocks that are still allocated, and the stacks
 * they were allocated from. Lock-free and bounded, in mmap'd memory that
 * is never freed, so any thread's malloc/free path may use it without
 * taking a lock or allocating.
 *
 * Thread rules: otp_live_site/_insert/_remove/_find may run on any thread
 * at once (they are CAS-based; an app signal handler that mallocs in the
 * middle of one is also fine). otp_live_foreach and the _take_ calls are
 * for the flusher. None of this is used in the SIGPROF handler.
 */
#ifndef OTP_LIVE_H
#define OTP_LIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Address filter: one 8-bit counter per 512-byte granule of the address
 * space (2^18 counters, so granules 128 MiB apart share one), and one bit
 * per granule that is set while its counter is not zero. A set bit means
 * "a sampled block may start in this granule"; a clear one means
 * certainly not, which is the answer free() gets for almost every block,
 * from one load of the 32 KiB bitmap (a 32 MiB heap maps to 8 KiB of it,
 * so it stays in the first-level cache; the counters, eight times larger,
 * are touched only when sampled blocks come and go). The price is a table
 * lookup for blocks that start within 512 bytes of a sampled one. */
#define OTP_LIVE_FILTER_BITS 18
#define OTP_LIVE_GRANULE_SHIFT 9
extern _Atomic uint64_t otp_live_bits[(1u << OTP_LIVE_FILTER_BITS) / 64];

/* Granule index. Each 64 MiB region (glibc's per-thread arenas are 64
 * MiB-aligned) is shifted by its own offset so that different threads'
 * arenas do not alias onto the same filter bytes: one thread's sampled
 * blocks would otherwise keep evicting the lines another thread's free()
 * reads. Within a region, neighbouring granules stay neighbours. */
static inline uint32_t otp_live_filter_index(uintptr_t addr)
{
    uint64_t region = (uint64_t)addr >> 26;
    return (uint32_t)(((addr >> OTP_LIVE_GRANULE_SHIFT) + region * 0x9e3779b1u) &
                      ((1u << OTP_LIVE_FILTER_BITS) - 1));
}

static inline bool otp_live_maybe(uintptr_t addr)
{
    uint32_t i = otp_live_filter_index(addr);
    return (atomic_load_explicit(&otp_live_bits[i >> 6], memory_order_relaxed) >> (i & 63)) & 1;
}

/* Maps the tables: the live table gets 2^33 / sample_bytes slots
 * (clamped to 2^14..2^22), so rate 1 can track millions of blocks; the
 * stack store holds 65536 stacks. 0 or -errno. Not signal-safe; any
 * thread, at the first sampled allocation (a process that takes none
 * never maps them); callers that meet a first one mapping wait for it. */
int otp_live_init(int64_t sample_bytes);
bool otp_live_ready(void);

/* ---- stack store ---------------------------------------------------- */

/* Interns a stack (leaf first). Returns its site id, or -1 when the
 * store is full (counted). */
int32_t otp_live_site(const uint64_t *frames, uint32_t n);
/* The same with the stack's otp_live_hash, for callers that keep their
 * own cache of hash -> site. Hashes are never 0. */
uint64_t otp_live_hash(const uint64_t *frames, uint32_t n);
int32_t otp_live_site_hashed(const uint64_t *frames, uint32_t n, uint64_t hash);
/* The site of the one-frame stack OTP_PC_FOLDED: what otp_live_site
 * returns for a stack not yet interned once the memory cap (memcap.h)
 * allows no new ones or the store is full. -1 before otp_live_init. */
int32_t otp_live_folded_site(void);
/* Bytes of the tables resident in memory (for the memory cap). */
size_t otp_live_resident(void);
/* A site's frames (valid forever once the id was returned). */
const uint64_t *otp_live_site_frames(int32_t site, uint32_t *n);
/* Number of site ids handed out so far (some may be unused). */
uint32_t otp_live_site_count(void);
/* Allocations at `site` whose ring record could not be written (ring
 * full, or a thread without a slot) are counted here instead, already
 * unbiased by the caller: count in 1/OTP_LIVE_COUNT_ONE units, bytes. */
#define OTP_LIVE_COUNT_ONE 1024
void otp_live_site_add(int32_t site, uint64_t count_fixed, uint64_t bytes);
/* Flusher: takes (and zeroes) what was added since the last take.
 * Returns false when there was nothing. */
bool otp_live_site_take(int32_t site, uint64_t *count_fixed, uint64_t *bytes);

/* ---- live table ----------------------------------------------------- */

/* A tracked block: site, requested size and the sampling step it was
 * sampled at (heap.c: mean gap = sample_bytes << shift) in one word. */
typedef uint64_t otp_live_val_t;
#define OTP_LIVE_SIZE_BITS 40
#define OTP_LIVE_SITE_BITS 20
static inline otp_live_val_t otp_live_pack(int32_t site, uint64_t size, unsigned shift)
{
    uint64_t max = (1ULL << OTP_LIVE_SIZE_BITS) - 1;
    return ((uint64_t)(shift & 15) << (OTP_LIVE_SIZE_BITS + OTP_LIVE_SITE_BITS)) |
           ((uint64_t)(uint32_t)site << OTP_LIVE_SIZE_BITS) | (size < max ? size : max);
}
static inline int32_t otp_live_site_of(otp_live_val_t v)
{
    return (int32_t)((v >> OTP_LIVE_SIZE_BITS) & ((1u << OTP_LIVE_SITE_BITS) - 1));
}
static inline int otp_live_shift_of(otp_live_val_t v)
{
    return (int)(v >> (OTP_LIVE_SIZE_BITS + OTP_LIVE_SITE_BITS));
}
static inline uint64_t otp_live_size_of(otp_live_val_t v)
{
    return v & ((1ULL << OTP_LIVE_SIZE_BITS) - 1);
}

/* Starts tracking the block at addr (just returned by the allocator).
 * false when the table has no room near addr's slot (counted). */
bool otp_live_insert(uintptr_t addr, otp_live_val_t v);
/* Read-only lookup: true and *v when addr is tracked. */
bool otp_live_find(uintptr_t addr, otp_live_val_t *v);
/* Stops tracking addr (called before the block goes back to the
 * allocator). true and *v when it was tracked. */
bool otp_live_remove(uintptr_t addr, otp_live_val_t *v);

/* Flusher: visits every tracked block (fn may be NULL: just counts).
 * Blocks inserted or removed during the walk may or may not be seen. */
typedef void (*otp_live_visit_fn)(void *ctx, uintptr_t addr, otp_live_val_t v);
void otp_live_foreach(otp_live_visit_fn fn, void *ctx);

typedef struct otp_live_stats {
    uint64_t entries, capacity;   /* tracked blocks (at the last walk), table slots */
    uint64_t sites, site_capacity;
    uint64_t table_full;          /* blocks not tracked: no room */
    uint64_t sites_full;          /* stacks not interned: store full */
} otp_live_stats_t;
void otp_live_get_stats(otp_live_stats_t *st);

/* Fork child: the tables describe the child's heap too (it inherited
 * every block), so they stay; only the parent's unexported per-site
 * counts are dropped. Must not allocate. */
void otp_live_atfork_child(void);

#endif
