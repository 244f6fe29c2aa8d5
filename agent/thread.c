/*
 * Per-thread slots. The array is static and slots are never unmapped, so
 * the signal handler can follow a slot pointer from si_value or TLS
 * without any lifetime check beyond the state field. Rings are created
 * once per slot and reused when the slot is recycled.
 */
#include "thread.h"

#include <string.h>

#include "altstack.h"
#include "cpu.h"
#include "log.h"
#include "sys.h"
#include "vmask.h"

#define CPU_RING_BYTES (32u * 1024)
#define HEAP_RING_BYTES (16u * 1024)


static otp_thread_t slots[OTP_MAX_THREADS];
static _Atomic int slot_next OTP_STARTUP_DATA; /* slots[0..slot_next) have been used */
/* One bit per used slot that is FREE (set after the state is): a new
 * thread finds one without reading every slot. A process that starts
 * and joins threads in a loop had hundreds of exited slots waiting for
 * the flusher, and a scan of them was 18 us of each pthread_create. */
static _Atomic uint64_t free_bits[OTP_MAX_THREADS / 64];

static void set_free(int i)
{
    atomic_store(&slots[i].state, OTP_SLOT_FREE);
    atomic_fetch_or(&free_bits[i / 64], (uint64_t)1 << (i % 64));
}
static _Atomic uint64_t unprofiled;
static atomic_flag full_warned = ATOMIC_FLAG_INIT;
static atomic_flag altstack_warned = ATOMIC_FLAG_INIT;

static bool ensure_rings(otp_thread_t *t)
{
    if (!t->cpu_ring)
        t->cpu_ring = otp_ring_create(CPU_RING_BYTES);
    if (!t->heap_ring)
        t->heap_ring = otp_ring_create(HEAP_RING_BYTES);
    return t->cpu_ring && t->heap_ring;
}

/* Empties the slot's rings and fold table (no consumer may be at them). */
static void empty(otp_thread_t *t)
{
    if (t->cpu_ring)
        otp_ring_reset(t->cpu_ring);
    if (t->heap_ring)
        otp_ring_reset(t->heap_ring);
    if (t->fold)
        otp_fold_clear(t->fold);
}

static otp_thread_t *take(int i, otp_ring_t **cpu_ring)
{
    int expect = OTP_SLOT_FREE;
    if (!atomic_compare_exchange_strong(&slots[i].state, &expect, OTP_SLOT_CLAIMED))
        return NULL;
    otp_thread_t *t = &slots[i];
    if (t->stale) {
        /* Emptied now rather than at the fork (thread_atfork_child): free
         * slots are consumed by no one. */
        empty(t);
        t->stale = false;
    }
    atomic_store(&t->tid, 0);
    atomic_store(&t->has_timer, 0);
    atomic_store(&t->unw_cached, 0);
    t->start_fn = NULL;
    t->start_arg = NULL;
    /* Claimed by the creating thread: a new thread inherits its mask. */
    t->parent_prof = otp_vmask_prof_blocked();
    t->name[0] = '\0';
    if (cpu_ring && *cpu_ring && !t->cpu_ring) {
        t->cpu_ring = *cpu_ring;
        *cpu_ring = NULL;
    }
    if (!ensure_rings(t)) {
        set_free(i);
        return NULL;
    }
    return t;
}

otp_thread_t *otp_thread_claim(void)
{
    return otp_thread_claim_ring(NULL);
}

otp_thread_t *otp_thread_claim_ring(otp_ring_t **cpu_ring)
{
    /* Reuse a recycled slot first, keeping memory bounded by the peak
     * number of live threads. */
    int words = (otp_thread_high() + 63) / 64;
    for (int w = 0; w < words; w++) {
        uint64_t b;
        while ((b = atomic_load_explicit(&free_bits[w], memory_order_relaxed)) != 0) {
            uint64_t bit = b & -b;
            if (!(atomic_fetch_and(&free_bits[w], ~bit) & bit))
                continue; /* another thread took it */
            otp_thread_t *t = take(w * 64 + __builtin_ctzll(bit), cpu_ring);
            if (t)
                return t;
        }
    }
    for (;;) {
        int i = atomic_fetch_add(&slot_next, 1);
        if (i >= OTP_MAX_THREADS) {
            atomic_store(&slot_next, OTP_MAX_THREADS);
            atomic_fetch_add(&unprofiled, 1);
            otp_log_once(&full_warned, OTP_LOG_WARN,
                         "more than %d live threads; new threads are not profiled",
                         OTP_MAX_THREADS);
            return NULL;
        }
        otp_thread_t *t = take(i, cpu_ring);
        if (t)
            return t;
    }
}

void otp_thread_unclaim(otp_thread_t *t)
{
    set_free((int)(t - slots));
}

void otp_thread_activate(otp_thread_t *t)
{
    atomic_store(&t->tid, otp_gettid());
    otp_tls_thread = t;
    otp_vmask_thread_start(t->parent_prof);
    if (otp_altstack_install(&t->altstack) < 0)
        otp_log_once(&altstack_warned, OTP_LOG_WARN,
                     "cannot set up an alternate signal stack; the profiling signal runs on the "
                     "thread's own stack");
    atomic_store(&t->state, OTP_SLOT_ACTIVE);
}

otp_thread_t *otp_thread_self(void)
{
    otp_thread_t *t = otp_tls_thread;
    if (OTP_LIKELY(t != NULL))
        return t == OTP_THREAD_GONE ? NULL : t;
    /* A thread we did not start (it existed before the constructor):
     * find the slot registered for its tid and cache it. */
    pid_t tid = otp_gettid();
    int high = otp_thread_high();
    for (int i = 0; i < high; i++) {
        if (atomic_load_explicit(&slots[i].tid, memory_order_relaxed) == tid &&
            atomic_load(&slots[i].state) == OTP_SLOT_ACTIVE) {
            otp_tls_thread = &slots[i];
            return &slots[i];
        }
    }
    return NULL;
}

otp_thread_t *otp_thread_register_tid(pid_t tid)
{
    otp_thread_t *t = otp_thread_claim();
    if (!t)
        return NULL;
    atomic_store(&t->tid, tid);
    /* Its unwind stack; its alternate signal stack is its own business. */
    otp_altstack_map(&t->altstack);
    atomic_store(&t->state, OTP_SLOT_ACTIVE);
    return t;
}

void otp_thread_retire(otp_thread_t *t)
{
    otp_cpu_settle_end(t);
    otp_cpu_disarm(t);
    bool own = otp_tls_thread == t;
    if (own) {
        otp_altstack_release(t->altstack);
        otp_tls_thread = OTP_THREAD_GONE;
    }
    atomic_signal_fence(memory_order_seq_cst);
    atomic_store(&t->state, OTP_SLOT_RETIRED);
    /* A thread that leaves nothing to drain (a short task: no sample
     * taken) frees its slot now instead of at the flusher's next pass:
     * a program that starts and joins threads one after another kept
     * hundreds of slots, 48 KiB of rings each, waiting for it (+25 MiB of
     * RSS). Only the thread itself wrote into its rings, and it writes no
     * more (a late SIGPROF drops itself, cpu.c). */
    if (own && (!t->cpu_ring || otp_ring_used(t->cpu_ring) == 0) &&
        (!t->heap_ring || otp_ring_used(t->heap_ring) == 0) && (!t->fold || otp_fold_count(t->fold) == 0))
        otp_thread_recycle(t);
}

void otp_thread_note_name(otp_thread_t *t, const char *name)
{
    if (!t)
        t = otp_tls_thread;
    if (!t || t == OTP_THREAD_GONE || !name)
        return;
    size_t len = strnlen(name, sizeof t->name - 1);
    char buf[sizeof t->name];
    memcpy(buf, name, len);
    buf[len] = '\0';
    memcpy(t->name, buf, sizeof buf);
}

otp_thread_t *otp_thread_at(int i)
{
    return &slots[i];
}

int otp_thread_high(void)
{
    int n = atomic_load(&slot_next);
    return n < OTP_MAX_THREADS ? n : OTP_MAX_THREADS;
}

void otp_thread_recycle(otp_thread_t *t)
{
    int expect = OTP_SLOT_RETIRED;
    if (atomic_compare_exchange_strong(&t->state, &expect, OTP_SLOT_FREE))
        atomic_fetch_or(&free_bits[(t - slots) / 64], (uint64_t)1 << ((t - slots) % 64));
}

void otp_thread_atfork_child(void)
{
    otp_thread_t *self = otp_tls_thread;
    int high = otp_thread_high();
    /* Built again: a slot being claimed at the fork had left it. */
    for (int w = 0; w < OTP_MAX_THREADS / 64; w++)
        atomic_store(&free_bits[w], 0);
    for (int i = 0; i < high; i++) {
        otp_thread_t *t = &slots[i];
        /* Only the forking thread's slot is emptied now; the others are
         * free in the child and emptied when claimed. Emptying every
         * ring here wrote a page of each (a copy-on-write fault): in a
         * process of 200 threads, 3.5 ms added to each fork child. */
        if (t != self)
            t->stale = true;
        else
            empty(t);
        /* The parent's flusher may have been draining at the fork. */
        atomic_store(&t->drainer, OTP_DRAIN_FREE);
        atomic_store(&t->has_timer, 0); /* timers are not inherited */
        if (t != self)
            set_free(i);
    }
    if (self && self != OTP_THREAD_GONE) {
        atomic_store(&self->tid, otp_gettid());
        self->fold_ok = true;
    }
}

uint64_t otp_thread_unprofiled(void)
{
    return atomic_load(&unprofiled);
}
