/* Unit tests of the per-thread SPSC ring: order, wrap-around with padding,
 * full ring drop counting, and a producer/consumer run across threads. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ring.h"

static otp_rec_t *push(otp_ring_t *r, uint16_t nframes, uint64_t tag)
{
    otp_rec_t *rec = otp_ring_reserve(r, otp_rec_size(nframes));
    if (!rec)
        return NULL;
    rec->type = OTP_REC_CPU;
    rec->nframes = nframes;
    rec->weight = tag;
    for (uint16_t i = 0; i < nframes; i++)
        rec->frames[i] = tag * 1000 + i;
    otp_ring_commit(r, rec);
    return rec;
}

static int pop_check(otp_ring_t *r, uint64_t tag)
{
    const otp_rec_t *rec = otp_ring_peek(r);
    if (!rec || rec->weight != tag)
        return 0;
    for (uint16_t i = 0; i < rec->nframes; i++)
        if (rec->frames[i] != tag * 1000 + i)
            return 0;
    otp_ring_pop(r, rec);
    return 1;
}

#define N_MT 200000
static otp_ring_t *mt_ring;
static void *producer(void *arg)
{
    (void)arg;
    for (uint64_t i = 1; i <= N_MT;) {
        if (push(mt_ring, (uint16_t)(1 + i % 40), i))
            i++;
    }
    return NULL;
}

int main(void)
{
    otp_ring_t *r = otp_ring_create(4096);
    CHECK(r != NULL);
    CHECK_EQ_INT(r->size, 4096);
    CHECK(otp_ring_peek(r) == NULL);

    /* FIFO order. */
    for (uint64_t i = 1; i <= 5; i++)
        push(r, 3, i);
    int ok = 1;
    for (uint64_t i = 1; i <= 5; i++)
        ok &= pop_check(r, i);
    CHECK_NAMED("records come out in order, intact", ok);
    CHECK(otp_ring_peek(r) == NULL);

    /* Wrap-around: records never straddle the end; a pad fills the gap. */
    ok = 1;
    for (uint64_t i = 1; i <= 2000; i++) {
        if (!push(r, (uint16_t)(i % 37), i)) {
            ok = 0;
            break;
        }
        ok &= pop_check(r, i);
    }
    CHECK_NAMED("2000 records of varying size through a 4 KiB ring", ok);
    CHECK_EQ_INT(atomic_load(&r->dropped), 0);

    /* Full: drops are counted, nothing is overwritten. */
    int pushed = 0;
    while (push(r, 10, (uint64_t)pushed + 1))
        pushed++;
    CHECK(pushed > 0 && pushed < 4096 / (int)otp_rec_size(10) + 1);
    CHECK_EQ_INT(atomic_load(&r->dropped), 1);
    CHECK(push(r, 10, 99) == NULL);
    CHECK_EQ_INT(atomic_load(&r->dropped), 2);
    ok = 1;
    for (int i = 1; i <= pushed; i++)
        ok &= pop_check(r, (uint64_t)i);
    CHECK_NAMED("a full ring keeps every record it accepted", ok);
    CHECK_NAMED("an oversized record is refused", otp_ring_reserve(r, 4096) == NULL);

    /* Reset discards. */
    push(r, 2, 7);
    otp_ring_reset(r);
    CHECK(otp_ring_peek(r) == NULL);
    otp_ring_destroy(r);

    /* Crossing a mark: exactly one record of each filling reports it,
     * also when that record wraps (a pad before it), which a check of the
     * record's own length alone missed. */
    r = otp_ring_create(4096);
    int missed = 0, extra = 0;
    for (uint32_t start = 0; start < 4096; start += 8) {
        /* Empty, with the next record starting `start` bytes in. */
        uint64_t at = (atomic_load(&r->head) | 4095) + 1 + start;
        atomic_store(&r->head, at);
        atomic_store(&r->tail, at);
        int crossings = 0;
        for (uint64_t i = 1;; i++) {
            uint64_t h0 = otp_ring_head(r);
            if (!push(r, 10, i))
                break;
            crossings += otp_ring_crossed(r, h0, 2048);
        }
        missed += crossings == 0;
        extra += crossings > 1;
    }
    CHECK_NAMED("every filling from every start offset crosses half once", missed == 0 && extra == 0);
    /* A consumer that drains meanwhile: the next filling crosses again. */
    otp_ring_reset(r);
    int crossings = 0;
    ok = 1;
    for (uint64_t i = 1; i <= 3000; i++) {
        uint64_t h0 = otp_ring_head(r);
        ok &= push(r, 5, i) != NULL;
        if (otp_ring_crossed(r, h0, 2048)) {
            crossings++;
            while (otp_ring_peek(r))
                otp_ring_pop(r, otp_ring_peek(r));
        }
    }
    CHECK_NAMED("draining at each crossing, no record is refused", ok);
    printf("      %d drains for 3000 records of %u bytes\n", crossings, otp_rec_size(5));
    CHECK(crossings >= 3000 * (int)otp_rec_size(5) / 2048 - 1);
    otp_ring_destroy(r);

    /* Concurrent producer and consumer. */
    mt_ring = otp_ring_create(8192);
    pthread_t th;
    pthread_create(&th, NULL, producer, NULL);
    uint64_t want = 1;
    ok = 1;
    while (want <= N_MT) {
        const otp_rec_t *rec = otp_ring_peek(mt_ring);
        if (!rec)
            continue;
        if (rec->weight != want || rec->nframes != 1 + want % 40 ||
            rec->frames[rec->nframes - 1] != want * 1000 + rec->nframes - 1)
            ok = 0;
        otp_ring_pop(mt_ring, rec);
        want++;
    }
    pthread_join(th, NULL);
    CHECK_NAMED("200k records across threads arrive complete and in order", ok);
    otp_ring_destroy(mt_ring);
    return check_done();
}
