/*
 * SPSC byte ring. Records never wrap: when one does not fit before the end
 * of the buffer, the producer fills the rest with a PAD record and starts
 * at offset 0. head/tail are byte counts that only grow, so full/empty are
 * never ambiguous. Producer: acquire-load tail, release-store head.
 * Consumer: the mirror image.
 */
#include "ring.h"
#include "vmlock.h"

#include <string.h>
#include <sys/mman.h>

otp_ring_t *otp_ring_create(uint32_t size)
{
    uint32_t sz = 4096;
    while (sz < size && sz < (1u << 30))
        sz <<= 1;
    void *m = otp_vm_map(NULL, sizeof(otp_ring_t) + sz, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    otp_ring_t *r = m;
    r->size = sz;
    return r;
}

void otp_ring_destroy(otp_ring_t *r)
{
    if (r)
        otp_vm_unmap(r, sizeof(otp_ring_t) + r->size);
}

void otp_ring_reset(otp_ring_t *r)
{
    atomic_store(&r->tail, atomic_load(&r->head));
}

otp_rec_t *otp_ring_reserve(otp_ring_t *r, uint32_t len)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint32_t off = (uint32_t)(head & (r->size - 1));
    uint32_t to_end = r->size - off;
    uint64_t need = len;
    if (len > to_end)
        need += to_end; /* pad to the end, then the record at offset 0 */
    if (len > r->size / 2 || head + need - tail > r->size) {
        atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
        return NULL;
    }
    if (len > to_end) {
        otp_rec_t *pad = (otp_rec_t *)(r->data + off);
        pad->len = to_end;
        pad->type = OTP_REC_PAD;
        head += to_end;
        /* Publish the pad alone so the consumer can skip it even if the
         * real record is never committed. */
        atomic_store_explicit(&r->head, head, memory_order_release);
        off = 0;
    }
    otp_rec_t *rec = (otp_rec_t *)(r->data + off);
    rec->len = len;
    return rec;
}

void otp_ring_commit(otp_ring_t *r, otp_rec_t *rec)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    atomic_store_explicit(&r->head, head + rec->len, memory_order_release);
}

const otp_rec_t *otp_ring_peek(otp_ring_t *r)
{
    for (;;) {
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        if (tail == head)
            return NULL;
        const otp_rec_t *rec = (const otp_rec_t *)(r->data + (tail & (r->size - 1)));
        if (rec->type != OTP_REC_PAD)
            return rec;
        atomic_store_explicit(&r->tail, tail + rec->len, memory_order_release);
    }
}

void otp_ring_pop(otp_ring_t *r, const otp_rec_t *rec)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    atomic_store_explicit(&r->tail, tail + rec->len, memory_order_release);
}
