/*
 * Single-producer single-consumer byte ring, one per thread and per kind.
 * The producer is the owning thread (its SIGPROF handler, or its malloc
 * slow path: never both on one ring), the consumer is the flusher.
 * Producer side is async-signal-safe and lock-free; memory comes from mmap.
 */
#ifndef OTP_RING_H
#define OTP_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { OTP_REC_PAD = 0, OTP_REC_CPU = 1, OTP_REC_ALLOC = 2 };

/* One captured event. len is the whole record in bytes, a multiple of 8. */
typedef struct otp_rec {
    uint32_t len;
    uint16_t type;
    uint16_t nframes;
    uint64_t weight;   /* CPU: 1 + si_overrun. ALLOC: requested size. */
    uint64_t addr;     /* ALLOC: sampling step (mean gap = sample_bytes << addr). CPU: the
                        * CPU nanoseconds this sample stands for (its points' periods). */
    int64_t time_ns;   /* CLOCK_REALTIME */
    uint8_t trace_id[16]; /* all zero: no trace context */
    uint8_t span_id[8];
    uint64_t frames[]; /* leaf first; frames[0] exact PC, others return addresses */
} otp_rec_t;

typedef struct otp_ring {
    _Atomic uint64_t head; /* bytes ever produced */
    char pad0[56];
    _Atomic uint64_t tail; /* bytes ever consumed */
    char pad1[56];
    _Atomic uint64_t dropped; /* records the producer could not fit */
    uint32_t size;            /* data bytes, power of two */
    uint32_t pad2;
    char data[];
} otp_ring_t;

/* mmap a ring with `size` data bytes (rounded up to a power of two). */
otp_ring_t *otp_ring_create(uint32_t size);
void otp_ring_destroy(otp_ring_t *r);
/* Consumer-side reset: discards everything (fork child, recycling). */
void otp_ring_reset(otp_ring_t *r);

/* Producer, async-signal-safe. Returns space for a record of `len` bytes
 * (multiple of 8) or NULL when full (the drop is counted). */
otp_rec_t *otp_ring_reserve(otp_ring_t *r, uint32_t len);
/* Publishes rec. Before this the producer may lower rec->len (to a
 * multiple of 8, at least the header): a record reserved at its largest
 * size and filled in place ends up taking only what it used. */
void otp_ring_commit(otp_ring_t *r, otp_rec_t *rec);

/* Consumer. Returns the oldest record or NULL; pop releases it. */
const otp_rec_t *otp_ring_peek(otp_ring_t *r);
void otp_ring_pop(otp_ring_t *r, const otp_rec_t *rec);

/* Bytes produced and not yet consumed (pads included). Either side, and
 * a third party as a hint: changes nothing. */
static inline uint64_t otp_ring_used(otp_ring_t *r)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    return atomic_load_explicit(&r->head, memory_order_acquire) - tail;
}

/* Producer: the head now, before a reserve; see otp_ring_crossed. */
static inline uint64_t otp_ring_head(otp_ring_t *r)
{
    return atomic_load_explicit(&r->head, memory_order_relaxed);
}

/* Producer, after a commit: true when what it published since
 * otp_ring_head returned head_before (the record, and the pad before it
 * when it wrapped) took the ring from under mark bytes in use to mark or
 * more. Judged against one reading of the tail, so a consumer draining
 * meanwhile neither hides a crossing nor makes one up; the pad counts,
 * or a record that wraps just as it crosses would be missed. */
static inline bool otp_ring_crossed(otp_ring_t *r, uint64_t head_before, uint64_t mark)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    /* The consumer may have taken the pad already: tail past head_before. */
    return head - tail >= mark && (int64_t)(head_before - tail) < (int64_t)mark;
}

static inline uint32_t otp_rec_size(uint32_t nframes)
{
    return (uint32_t)(sizeof(otp_rec_t) + nframes * sizeof(uint64_t));
}

#endif
