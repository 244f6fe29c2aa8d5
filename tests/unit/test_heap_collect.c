/*
 * Heap collect (agent/heap_collect.c) while app threads keep interning new
 * stacks: the per-site statistics are sized from the site count before
 * the live-table walk, and the walk meets sites interned after that.
 * Under `make sanitize` an write past the statistics array is an ASan
 * report; in any build the sums are checked: every block the walk saw
 * is in the profile, and the statistics never claim more than that.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "heap.h"
#include "heap_collect.h"
#include "live.h"
#include "ring.h"
#include "thread.h"

#define WRITERS 2
static _Atomic int stop;
static _Atomic long interned;

/* Each iteration interns a stack never seen before and tracks one block
 * from it, as the malloc slow path does for a sampled allocation. */
static void *writer(void *arg)
{
    uint64_t base = (uint64_t)(uintptr_t)arg << 40;
    for (uint64_t i = 1; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
        uint64_t frames[3] = {0x400000 + base + i, 0x500000, 0x600000};
        int32_t site = otp_live_site(frames, 3);
        if (site < 0)
            break; /* the store is full: nothing new any more */
        otp_live_insert((uintptr_t)(0x10000000000ULL + base + i * 64), otp_live_pack(site, 32, 0));
        atomic_fetch_add_explicit(&interned, 1, memory_order_relaxed);
        if (i % 32 == 0)
            sched_yield(); /* many collects before the store fills up */
    }
    return NULL;
}

/* One sampled allocation record in the calling thread's heap ring, so
 * that collect has something of this interval to report. */
static void push_record(otp_thread_t *t)
{
    otp_rec_t *r = otp_ring_reserve(t->heap_ring, otp_rec_size(1));
    if (!r)
        return;
    r->type = OTP_REC_ALLOC;
    r->nframes = 1;
    r->weight = 32;
    r->addr = 0;
    r->time_ns = 0;
    memset(r->trace_id, 0, sizeof r->trace_id);
    memset(r->span_id, 0, sizeof r->span_id);
    r->frames[0] = 0x700000;
    otp_ring_commit(t->heap_ring, r);
}

int main(void)
{
    otp_config_defaults(&otp_cfg);
    otp_cfg.memory_enabled = true;
    otp_cfg.memory_sample_bytes = 1; /* the largest live table: the longest walk */
    otp_cfg.memory_track_frees = true;
    otp_heap_init();
    /* The tables are mapped at the first sampled allocation; the writers
     * below intern into them directly. */
    CHECK_EQ_INT(otp_live_init(otp_cfg.memory_sample_bytes), 0);
    CHECK(otp_live_ready());
    otp_thread_t *t = otp_thread_claim();
    CHECK(t != NULL && t->heap_ring != NULL);
    if (!t || !t->heap_ring)
        return check_done();
    otp_thread_activate(t);

    pthread_t th[WRITERS];
    for (long i = 0; i < WRITERS; i++)
        pthread_create(&th[i], NULL, writer, (void *)(i + 1));

    /* Statistics sized for a few hundred sites, not for none. */
    while (otp_live_site_count() < 300)
        sched_yield();
    /* Collect until the stack store is full (the writers stop then):
     * each walk starts with fewer sites than it meets. */
    int collects = 0, profiles = 0, overlapped = 0;
    int64_t now = 0;
    do {
        uint32_t before = otp_live_site_count();
        push_record(t);
        const otp_profile_t *p = otp_heap_collect(now, now + 1000000000, false);
        now += 1000000000;
        collects++;
        if (p && p->nsamples > 0)
            profiles++;
        /* Sites interned beyond what the statistics were sized for. */
        uint32_t cap = 256;
        while (cap < before)
            cap *= 2;
        overlapped += otp_live_site_count() > cap;
    } while (otp_live_site_count() < 65536 && collects < 2000);
    atomic_store(&stop, 1);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);

    /* Quiet now: one more collect sees every block exactly once. */
    push_record(t);
    const otp_profile_t *p = otp_heap_collect(now, now + 1000000000, false);
    CHECK(p != NULL);
    int64_t inuse = 0;
    for (size_t i = 0; p && i < p->nsamples; i++)
        inuse += p->samples[i].values[2];
    long n = atomic_load(&interned);
    printf("      %d collects (%d outgrew the statistics' capacity), %ld stacks interned meanwhile, "
           "%lld blocks in use\n",
           collects, overlapped, n, (long long)inuse);
    CHECK(profiles == collects);
    CHECK(n > 1000);
    /* Every tracked block is in the profile (rate 1: no unbiasing). */
    CHECK_EQ_INT(inuse, n);
    return check_done();
}
