/*
 * Live heap tables. Design: the table entry of a live sampled block
 * points at an interned stack (a "site"), so the live heap at any moment
 * is simply a walk of the table, grouped by site. No reconciliation of
 * ALLOC records with frees is needed, which matters because a block may
 * be freed on another thread long before the flusher drains the record of
 * its allocation, and its address may be reused and sampled again.
 *
 * Three structures, each mmap'd once at start-up, bounded, never freed
 * and never resized (pages are touched only as they are used):
 *
 * - Stack store: an open-addressing index of site ids (0 = empty), a site
 *   array and a frames arena handed out by atomic bump. A new site is
 *   fully written before its id is published with a release CAS into the
 *   index; a thread that loses the CAS to an identical stack uses the
 *   winner's id (its own site slot stays unused: rare, harmless).
 *
 * - Live table: open addressing with linear probing over {key, val}
 *   pairs. key is the block address, or EMPTY/TOMB/BUSY. An insert claims
 *   an EMPTY or TOMB slot by CAS to BUSY, writes val, then publishes the
 *   address (release); a remove CASes the address to TOMB. A block is
 *   inserted after the allocator returned it and removed before it goes
 *   back, so one address is never inserted twice concurrently. Probing
 *   is limited; a block that finds no room is counted, not tracked.
 *
 * - Filter: byte counters indexed by 512-byte granule of the address
 *   (offset per 64 MiB region, see live.h), incremented on insert and
 *   decremented on remove, so the free() of an unsampled block costs one
 *   byte load. Counters saturate at 255 and then stay set (only a few
 *   extra lookups follow).
 */
#include "live.h"

#include <errno.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>

#include "internal.h"
#include "memcap.h"
#include "profile.h"
#include "vmlock.h"

#define SITE_BITS 16
#define SITE_CAP (1u << SITE_BITS)
#define INDEX_CAP (SITE_CAP * 2)
#define FRAMES_CAP (1u << 21)
#define SITE_PROBES 128
#define LIVE_PROBES 64
#define LIVE_MIN_BITS 14
#define LIVE_MAX_BITS 22

enum { KEY_EMPTY = 0, KEY_TOMB = 1, KEY_BUSY = 2 };

typedef struct site {
    uint64_t hash;
    uint32_t off, n;
    _Atomic uint64_t count, bytes; /* allocations not carried by a ring record (unbiased) */
} site_t;

typedef struct slot {
    _Atomic uint64_t key;
    _Atomic uint64_t val;
} slot_t;

static _Atomic uint8_t filter_count[1u << OTP_LIVE_FILTER_BITS];

static _Atomic uint32_t *site_index OTP_STARTUP_DATA;
static site_t *sites OTP_STARTUP_DATA;
static uint64_t *frames_arena;
static _Atomic uint32_t site_next;
static _Atomic uint32_t frames_next;
static slot_t *table;
static uint32_t table_bits;
static uint64_t table_mask;
static _Atomic int ready OTP_STARTUP_DATA;
static _Atomic uint64_t n_table_full, n_sites_full;
static _Atomic uint64_t walked_entries; /* blocks seen by the last walk */
/* The table's pages that an entry was ever written to: a walk reads only
 * those. Reading the rest would fault each in (as the zero page), which
 * at the default rate is 64 faults for a process that sampled one block. */
#define TABLE_PAGE_SLOTS (4096 / sizeof(slot_t))
static _Atomic uint64_t table_pages[(((size_t)1 << LIVE_MAX_BITS) / TABLE_PAGE_SLOTS + 63) / 64];
static size_t table_bytes;
static int32_t folded_site = -1;

static int32_t intern(const uint64_t *f, uint32_t n, uint64_t h, bool grow);

static void *map(size_t bytes)
{
    void *p = otp_vm_map(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* 0 not started, 1 mapping, 2 done, 3 failed (its errno in init_err). */
static _Atomic int init_state;
static int init_err;
static int live_map(int64_t sample_bytes);

int otp_live_init(int64_t sample_bytes)
{
    int st = atomic_load(&init_state);
    if (st == 0 && atomic_compare_exchange_strong(&init_state, &st, 1)) {
        int rc = live_map(sample_bytes);
        init_err = rc;
        atomic_store(&init_state, rc == 0 ? 2 : 3);
        return rc;
    }
    /* Another thread maps them: a few microseconds. */
    while ((st = atomic_load(&init_state)) == 1)
        sched_yield();
    return st == 2 ? 0 : init_err;
}

static int live_map(int64_t sample_bytes)
{
    if (atomic_load(&ready))
        return 0;
    /* 2^33 / rate slots: at 50% load, room for the samples of ~4 GiB of
     * live heap (2^14 slots, 256 KiB, at the default rate); at most 2^22
     * slots (rate 1 and other small rates). Pages are touched only as
     * blocks land on them. */
    uint32_t bits = LIVE_MIN_BITS;
    uint64_t want = (1ULL << 33) / (uint64_t)(sample_bytes > 0 ? sample_bytes : 1);
    while (bits < LIVE_MAX_BITS && (1ULL << bits) < want)
        bits++;
    /* Blocks land all over the table, so it ends up resident: at most a
     * sixteenth of the memory cap (more blocks are then counted as not
     * tracked, as when the table is full). */
    size_t capb = otp_memcap_cap();
    while (capb && bits > LIVE_MIN_BITS && ((size_t)1 << bits) * sizeof(slot_t) > capb / 16)
        bits--;
    site_index = map(INDEX_CAP * sizeof(uint32_t));
    sites = map(SITE_CAP * sizeof(site_t));
    frames_arena = map((size_t)FRAMES_CAP * sizeof(uint64_t));
    table = map(((size_t)1 << bits) * sizeof(slot_t));
    if (!site_index || !sites || !frames_arena || !table) {
        int e = errno;
        if (site_index) otp_vm_unmap((void *)site_index, INDEX_CAP * sizeof(uint32_t));
        if (sites) otp_vm_unmap(sites, SITE_CAP * sizeof(site_t));
        if (frames_arena) otp_vm_unmap(frames_arena, (size_t)FRAMES_CAP * sizeof(uint64_t));
        if (table) otp_vm_unmap(table, ((size_t)1 << bits) * sizeof(slot_t));
        site_index = NULL;
        sites = NULL;
        frames_arena = NULL;
        table = NULL;
        return -e;
    }
    table_bits = bits;
    table_mask = (1ULL << bits) - 1;
    table_bytes = ((size_t)1 << bits) * sizeof(slot_t);
    atomic_store(&ready, 1);
    /* Interned first, so it is there whatever fills the store later. */
    static const uint64_t folded_pc = OTP_PC_FOLDED;
    folded_site = intern(&folded_pc, 1, otp_live_hash(&folded_pc, 1), true);
    return 0;
}

bool otp_live_ready(void)
{
    return atomic_load_explicit(&ready, memory_order_relaxed) != 0;
}

/* ---- stack store ---------------------------------------------------- */

uint64_t otp_live_hash(const uint64_t *f, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (uint32_t i = 0; i < n; i++) {
        h ^= f[i];
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return h | 1;
}

static bool site_is(const site_t *s, uint64_t h, const uint64_t *f, uint32_t n)
{
    return s->hash == h && s->n == n && memcmp(frames_arena + s->off, f, n * sizeof *f) == 0;
}

int32_t otp_live_site(const uint64_t *f, uint32_t n)
{
    return otp_live_site_hashed(f, n, otp_live_hash(f, n));
}

/* Pages of the index and the filter counters that have been written
 * (OTP_TOUCH_PAGE). */
static _Atomic uint64_t index_pages[(INDEX_CAP * sizeof(uint32_t) / 4096 + 63) / 64];
static _Atomic uint64_t filter_pages[((1u << OTP_LIVE_FILTER_BITS) / 4096 + 63) / 64];

/* A new site is made only if `grow` (the memory cap has room). */
static int32_t intern(const uint64_t *f, uint32_t n, uint64_t h, bool grow)
{
    uint32_t mine = 0; /* id + 1 of a site prepared by this call */
    uint32_t i = (uint32_t)(h >> 20) & (INDEX_CAP - 1);
    for (int probe = 0; probe < SITE_PROBES; probe++, i = (i + 1) & (INDEX_CAP - 1)) {
        OTP_TOUCH_PAGE(index_pages, i * sizeof(uint32_t) / 4096, &site_index[i]);
        uint32_t id = atomic_load_explicit(&site_index[i], memory_order_acquire);
        if (id == 0) {
            if (!grow)
                return folded_site;
            if (!mine) {
                uint32_t sid = atomic_fetch_add(&site_next, 1);
                if (sid >= SITE_CAP) {
                    atomic_store(&site_next, SITE_CAP);
                    break;
                }
                uint32_t off = atomic_fetch_add(&frames_next, n);
                if (off > FRAMES_CAP - n) {
                    atomic_store(&frames_next, FRAMES_CAP);
                    break;
                }
                memcpy(frames_arena + off, f, n * sizeof *f);
                otp_memcap_charge(sizeof(site_t) + n * sizeof *f);
                sites[sid].hash = h;
                sites[sid].off = off;
                sites[sid].n = n;
                mine = sid + 1;
            }
            uint32_t expect = 0;
            if (atomic_compare_exchange_strong_explicit(&site_index[i], &expect, mine, memory_order_release,
                                                        memory_order_acquire))
                return (int32_t)(mine - 1);
            id = expect; /* someone else published here first */
        }
        if (site_is(&sites[id - 1], h, f, n))
            return (int32_t)(id - 1);
    }
    atomic_fetch_add_explicit(&n_sites_full, 1, memory_order_relaxed);
    return folded_site;
}

int32_t otp_live_site_hashed(const uint64_t *f, uint32_t n, uint64_t h)
{
    if (!otp_live_ready() || n == 0)
        return -1;
    return intern(f, n, h, otp_memcap_room());
}

int32_t otp_live_folded_site(void)
{
    return folded_site;
}

size_t otp_live_resident(void)
{
    if (!otp_live_ready())
        return 0;
    return otp_memcap_resident((const void *)site_index, INDEX_CAP * sizeof(uint32_t)) +
           otp_memcap_resident(sites, SITE_CAP * sizeof(site_t)) +
           otp_memcap_resident(frames_arena, (size_t)FRAMES_CAP * sizeof(uint64_t)) +
           otp_memcap_resident(table, table_bytes);
}

const uint64_t *otp_live_site_frames(int32_t site, uint32_t *n)
{
    const site_t *s = &sites[site];
    *n = s->n;
    return frames_arena + s->off;
}

uint32_t otp_live_site_count(void)
{
    uint32_t n = atomic_load(&site_next);
    return n < SITE_CAP ? n : SITE_CAP;
}

void otp_live_site_add(int32_t site, uint64_t count_fixed, uint64_t bytes)
{
    atomic_fetch_add_explicit(&sites[site].count, count_fixed, memory_order_relaxed);
    atomic_fetch_add_explicit(&sites[site].bytes, bytes, memory_order_relaxed);
}

bool otp_live_site_take(int32_t site, uint64_t *count_fixed, uint64_t *bytes)
{
    site_t *s = &sites[site];
    if (atomic_load_explicit(&s->count, memory_order_relaxed) == 0)
        return false;
    *count_fixed = atomic_exchange(&s->count, 0);
    *bytes = atomic_exchange(&s->bytes, 0);
    return *count_fixed != 0;
}

/* ---- live table ----------------------------------------------------- */

static inline uint64_t slot_of(uintptr_t addr)
{
    return ((uint64_t)(addr >> 4) * 0x9e3779b97f4a7c15ULL) >> (64 - table_bits);
}

/* The counter goes up before the bit is set, and the bit is set before
 * the block's key is published: a free that finds the key also finds the
 * bit. A counter that reaches 255 stays there (its granule is "maybe"
 * for good). */
static void filter_inc(uintptr_t addr)
{
    uint32_t i = otp_live_filter_index(addr);
    _Atomic uint8_t *c = &filter_count[i];
    OTP_TOUCH_PAGE(filter_pages, i / 4096, c);
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    while (v != 255 && !atomic_compare_exchange_weak(c, &v, (uint8_t)(v + 1)))
        ;
    atomic_fetch_or(&otp_live_bits[i >> 6], (uint64_t)1 << (i & 63));
}

/* Clearing the bit races with another thread's increment of the same
 * counter (which sets it): after clearing, a counter that is not zero
 * any more sets it again, so the bit is never clear while a block is
 * counted. */
static void filter_dec(uintptr_t addr)
{
    uint32_t i = otp_live_filter_index(addr);
    _Atomic uint8_t *c = &filter_count[i];
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    while (v != 255 && v != 0 && !atomic_compare_exchange_weak(c, &v, (uint8_t)(v - 1)))
        ;
    if (v != 1)
        return;
    uint64_t bit = (uint64_t)1 << (i & 63);
    atomic_fetch_and(&otp_live_bits[i >> 6], ~bit);
    if (atomic_load(c) != 0)
        atomic_fetch_or(&otp_live_bits[i >> 6], bit);
}

bool otp_live_insert(uintptr_t addr, otp_live_val_t v)
{
    if (!otp_live_ready() || addr <= KEY_BUSY)
        return false;
    uint64_t i = slot_of(addr);
    for (int probe = 0; probe < LIVE_PROBES;) {
        slot_t *s = &table[i];
        OTP_TOUCH_PAGE(table_pages, i / TABLE_PAGE_SLOTS, &s->key);
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == addr) {
            /* A stale entry (its free was never seen): the block is new. */
            atomic_store_explicit(&s->val, v, memory_order_relaxed);
            return true;
        }
        if (k == KEY_EMPTY || k == KEY_TOMB) {
            if (!atomic_compare_exchange_strong(&s->key, &k, KEY_BUSY))
                continue; /* lost the slot: look at it again */
            atomic_store_explicit(&s->val, v, memory_order_relaxed);
            filter_inc(addr);
            uint64_t pg = i / TABLE_PAGE_SLOTS, bit = (uint64_t)1 << (pg & 63);
            if (!(atomic_load_explicit(&table_pages[pg >> 6], memory_order_relaxed) & bit))
                atomic_fetch_or_explicit(&table_pages[pg >> 6], bit, memory_order_relaxed);
            atomic_store_explicit(&s->key, addr, memory_order_release);
            return true;
        }
        i = (i + 1) & table_mask;
        probe++;
    }
    atomic_fetch_add_explicit(&n_table_full, 1, memory_order_relaxed);
    return false;
}

static slot_t *lookup(uintptr_t addr)
{
    if (!otp_live_ready() || addr <= KEY_BUSY)
        return NULL;
    uint64_t i = slot_of(addr);
    for (int probe = 0; probe < LIVE_PROBES; probe++, i = (i + 1) & table_mask) {
        uint64_t k = atomic_load_explicit(&table[i].key, memory_order_acquire);
        if (k == addr)
            return &table[i];
        if (k == KEY_EMPTY)
            return NULL;
    }
    return NULL;
}

bool otp_live_find(uintptr_t addr, otp_live_val_t *v)
{
    slot_t *s = lookup(addr);
    if (!s)
        return false;
    *v = atomic_load_explicit(&s->val, memory_order_relaxed);
    return true;
}

bool otp_live_remove(uintptr_t addr, otp_live_val_t *v)
{
    slot_t *s = lookup(addr);
    if (!s)
        return false;
    uint64_t val = atomic_load_explicit(&s->val, memory_order_relaxed);
    uint64_t k = addr;
    if (!atomic_compare_exchange_strong(&s->key, &k, KEY_TOMB))
        return false;
    filter_dec(addr);
    if (v)
        *v = val;
    return true;
}

void otp_live_foreach(otp_live_visit_fn fn, void *ctx)
{
    if (!otp_live_ready())
        return;
    uint64_t n = 0;
    for (uint64_t i = 0; i <= table_mask; i++) {
        if (i % TABLE_PAGE_SLOTS == 0) {
            uint64_t pg = i / TABLE_PAGE_SLOTS;
            /* An entry being written to a page not marked yet is missed,
             * as if it came just after this walk. */
            if (!(atomic_load_explicit(&table_pages[pg >> 6], memory_order_relaxed) & ((uint64_t)1 << (pg & 63)))) {
                i += TABLE_PAGE_SLOTS - 1;
                continue;
            }
        }
        uint64_t k = atomic_load_explicit(&table[i].key, memory_order_acquire);
        if (k <= KEY_BUSY)
            continue;
        uint64_t v = atomic_load_explicit(&table[i].val, memory_order_relaxed);
        /* Re-check: the slot may have been freed and reused meanwhile. */
        if (atomic_load_explicit(&table[i].key, memory_order_acquire) != k)
            continue;
        n++;
        if (fn)
            fn(ctx, (uintptr_t)k, v);
    }
    atomic_store(&walked_entries, n);
}

void otp_live_get_stats(otp_live_stats_t *st)
{
    memset(st, 0, sizeof *st);
    if (!otp_live_ready())
        return;
    st->entries = atomic_load(&walked_entries);
    st->capacity = table_mask + 1;
    st->sites = otp_live_site_count();
    st->site_capacity = SITE_CAP;
    st->table_full = atomic_load(&n_table_full);
    st->sites_full = atomic_load(&n_sites_full);
}

void otp_live_atfork_child(void)
{
    /* A fork while another thread was mapping: that thread is gone. */
    if (atomic_load(&init_state) == 1)
        atomic_store(&init_state, 0);
    if (!otp_live_ready())
        return;
    uint32_t n = otp_live_site_count();
    for (uint32_t i = 0; i < n; i++) {
        atomic_store_explicit(&sites[i].count, 0, memory_order_relaxed);
        atomic_store_explicit(&sites[i].bytes, 0, memory_order_relaxed);
    }
}
