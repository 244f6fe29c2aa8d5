/*
 * Live-heap tables (agent/live.c): stack interning, the address filter,
 * insert/find/remove with tombstone reuse, walking, a full table, and
 * concurrent inserts and removes from several threads (a block removed
 * by another thread than the one that inserted it).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "check.h"
#include "live.h"

typedef struct walk {
    uint64_t n, bytes;
    int32_t site;
} walk_t;

static void count(void *ctx, uintptr_t addr, otp_live_val_t v)
{
    walk_t *w = ctx;
    (void)addr;
    if (w->site < 0 || otp_live_site_of(v) == w->site) {
        w->n++;
        w->bytes += otp_live_size_of(v);
    }
}

#define THREADS 4
#define PER_THREAD 20000
static _Atomic uintptr_t handoff[1024];
static _Atomic long inserted, removed, missing;
static int32_t mt_site;

static void *worker(void *arg)
{
    uintptr_t base = 0x100000000ULL * (1 + (uintptr_t)arg);
    uint64_t s = 0x9e3779b97f4a7c15ULL * (1 + (uintptr_t)arg);
    for (long i = 0; i < PER_THREAD; i++) {
        uintptr_t a = base + (uintptr_t)i * 48;
        if (otp_live_insert(a, otp_live_pack(mt_site, 48, 0)))
            atomic_fetch_add(&inserted, 1);
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        /* Hand the block to whichever thread takes the slot next. */
        uintptr_t old = atomic_exchange(&handoff[s % 1024], a);
        if (old) {
            if (!otp_live_maybe(old))
                atomic_fetch_add(&missing, 1);
            else if (otp_live_remove(old, NULL))
                atomic_fetch_add(&removed, 1);
        }
    }
    return NULL;
}

int main(void)
{
    CHECK_EQ_INT(otp_live_init(524288), 0);
    CHECK(otp_live_ready());
    CHECK_EQ_INT(otp_live_init(524288), 0); /* idempotent */

    /* Interning: same stack, same id; different stack, different id. */
    uint64_t f1[] = {0x401000, 0x402000, 0x403000};
    uint64_t f2[] = {0x401000, 0x402000, 0x403001};
    int32_t s1 = otp_live_site(f1, 3);
    int32_t s2 = otp_live_site(f2, 3);
    CHECK(s1 >= 0 && s2 >= 0);
    CHECK(s1 != s2);
    CHECK_EQ_INT(otp_live_site(f1, 3), s1);
    CHECK(otp_live_site(f1, 2) != s1); /* a prefix is another stack */
    uint32_t n;
    const uint64_t *fr = otp_live_site_frames(s2, &n);
    CHECK(n == 3 && fr[2] == 0x403001);
    CHECK_EQ_INT(otp_live_site(f1, 0), -1);

    /* Per-site counts: taken once, then empty. */
    otp_live_site_add(s1, 3 * OTP_LIVE_COUNT_ONE, 300);
    otp_live_site_add(s1, OTP_LIVE_COUNT_ONE, 100);
    uint64_t c, b;
    CHECK(otp_live_site_take(s1, &c, &b) && c == 4 * OTP_LIVE_COUNT_ONE && b == 400);
    CHECK(!otp_live_site_take(s1, &c, &b));

    /* Packing. */
    otp_live_val_t v = otp_live_pack(s2, 12345, 0);
    CHECK(otp_live_site_of(v) == s2 && otp_live_size_of(v) == 12345);
    CHECK_EQ_INT(otp_live_size_of(otp_live_pack(1, 1ULL << 50, 0)), (1ULL << OTP_LIVE_SIZE_BITS) - 1);
    v = otp_live_pack(65535, 77, 10);
    CHECK(otp_live_site_of(v) == 65535 && otp_live_size_of(v) == 77 && otp_live_shift_of(v) == 10);

    /* Insert, find, remove; the filter follows. */
    uintptr_t a = 0x7f0000001040;
    CHECK(!otp_live_maybe(a));
    CHECK(otp_live_insert(a, otp_live_pack(s1, 64, 0)));
    CHECK(otp_live_maybe(a));
    otp_live_val_t got = 0;
    CHECK(otp_live_find(a, &got) && got == otp_live_pack(s1, 64, 0));
    CHECK(!otp_live_find(a + 16, &got));

    /* A walk of a table holding one block reads the page it is on, not
     * all 64 pages of the table (each a fault, as the zero page). */
    struct rusage r0, r1;
    walk_t w1 = {0, 0, -1};
    getrusage(RUSAGE_SELF, &r0);
    otp_live_foreach(count, &w1);
    getrusage(RUSAGE_SELF, &r1);
    CHECK(w1.n == 1 && w1.bytes == 64);
    CHECK(r1.ru_minflt - r0.ru_minflt < 8);
    CHECK(otp_live_remove(a, &got) && otp_live_size_of(got) == 64);
    CHECK(!otp_live_remove(a, &got));
    CHECK(!otp_live_maybe(a));
    /* Two blocks in one granule share a counter. */
    CHECK(otp_live_insert(a, otp_live_pack(s1, 16, 0)) && otp_live_insert(a + 16, otp_live_pack(s1, 16, 0)));
    CHECK(otp_live_remove(a, NULL));
    CHECK(otp_live_maybe(a + 16));
    CHECK(otp_live_remove(a + 16, NULL));
    CHECK(!otp_live_maybe(a + 16));
    /* A stale entry for a reused address is overwritten, not duplicated. */
    CHECK(otp_live_insert(a, otp_live_pack(s1, 10, 0)) && otp_live_insert(a, otp_live_pack(s2, 20, 0)));
    walk_t w = {0, 0, -1};
    otp_live_foreach(count, &w);
    CHECK(w.n == 1 && w.bytes == 20);
    CHECK(otp_live_remove(a, NULL));

    /* Churn through tombstones: the table does not fill up. */
    otp_live_stats_t st;
    otp_live_get_stats(&st);
    uint64_t cap = st.capacity;
    CHECK(cap >= 16384);
    int ok = 1;
    for (uintptr_t i = 0; i < 4 * cap && ok; i++) {
        uintptr_t x = 0x500000000000ULL + i * 32;
        ok = otp_live_insert(x, otp_live_pack(s2, 32, 0)) && otp_live_remove(x, NULL);
    }
    CHECK_NAMED("insert/remove churn of 4x capacity never fails", ok);
    otp_live_foreach(NULL, NULL);
    otp_live_get_stats(&st);
    CHECK_EQ_INT(st.entries, 0);

    /* Walk: every live block once. */
    for (uintptr_t i = 0; i < 1000; i++)
        otp_live_insert(0x600000000000ULL + i * 4096, otp_live_pack(s2, 100, 0));
    w = (walk_t){0, 0, s2};
    otp_live_foreach(count, &w);
    CHECK_EQ_INT(w.n, 1000);
    CHECK_EQ_INT(w.bytes, 100000);
    for (uintptr_t i = 0; i < 1000; i++)
        otp_live_remove(0x600000000000ULL + i * 4096, NULL);

    /* Overfilling: inserts fail (counted) instead of looping or
     * overwriting; everything inserted can still be removed. */
    long in = 0;
    for (uintptr_t i = 0; i < cap + 1000; i++)
        in += otp_live_insert(0x700000000000ULL + i * 16, otp_live_pack(s1, 16, 0));
    otp_live_foreach(NULL, NULL);
    otp_live_get_stats(&st);
    CHECK(in < (long)(cap + 1000) && st.table_full > 0);
    CHECK_EQ_INT(st.entries, in);
    long out = 0;
    for (uintptr_t i = 0; i < cap + 1000; i++)
        out += otp_live_remove(0x700000000000ULL + i * 16, NULL);
    CHECK_EQ_INT(out, in);

    /* Threads: inserted on one thread, removed on another. */
    mt_site = s1;
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 1024; i++) {
        uintptr_t x = atomic_exchange(&handoff[i], 0);
        if (x && otp_live_remove(x, NULL))
            removed++;
    }
    CHECK_EQ_INT(inserted, THREADS * PER_THREAD);
    CHECK_EQ_INT(removed, inserted);
    CHECK_EQ_INT(missing, 0);
    otp_live_foreach(NULL, NULL);
    otp_live_get_stats(&st);
    CHECK_EQ_INT(st.entries, 0);
    return check_done();
}
