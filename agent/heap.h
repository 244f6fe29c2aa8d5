/*
 * Heap sampling: the hooks preload/malloc.c calls around the real
 * allocator. The unsampled path is a subtract and a branch on a
 * thread-local countdown. What the flusher does with the samples is in
 * heap_collect.h.
 */
#ifndef OTP_HEAP_H
#define OTP_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>


/* Constructor: reads config; heap sampling starts after this. */
void otp_heap_init(void);

/* Stops sampling for good (the app restricts its syscalls): the hooks
 * pass straight through. Collect returns NULL afterwards, so export
 * first. */
void otp_heap_stop(void);

/* Heap profiling is on (initialised and not stopped). */
bool otp_heap_active(void);
/* True once anything was sampled (any thread may ask). */
bool otp_heap_has_data(void);

/* Fork child: the sampler's state (the flusher side has its own). */
void otp_heap_atfork_child(void);

/* Sample counts since start, for the summary. */
typedef struct otp_heap_counts {
    uint64_t ring_full; /* counted on their stack, without a ring record */
    uint64_t lost;      /* neither recorded nor counted */
    uint64_t drained;   /* ring records that reached an interval */
} otp_heap_counts_t;
void otp_heap_get_counts(otp_heap_counts_t *c);
/* Flusher: one ring record was aggregated (kept) or dropped. */
void otp_heap_count_drained(bool kept);

/* ---- rates (the overhead budget, agent/budget.c) --------------------- */

/* Mean gap becomes memory.sample_bytes << shift (0..15), from each
 * thread's next draw on; ignored with sampling = every. */
void otp_heap_set_shift(int shift);
int64_t otp_heap_mean(void);            /* in force now */
int64_t otp_heap_configured_mean(void); /* memory.sample_bytes, 1 for every */
/* Time spent in sampled allocations so far, all threads (TSC cycles). */
uint64_t otp_heap_cost_cycles(void);
/* The sampler's pieces, exposed for tests: an exponential gap of the
 * given mean (0 for mean <= 1), and the unbiasing weight of a sample of
 * `size` bytes taken at that mean. */
int64_t otp_heap_gap(uint64_t *rng, int64_t mean);
double otp_heap_weight(uint64_t size, int64_t mean);
/* The weight of a sample of `size` bytes taken at budget step `shift`
 * (mean memory.sample_bytes << shift). */
double otp_heap_scale(uint64_t size, int shift);

/* ---- allocation hooks (preload/malloc.c) ----------------------------- */

/* Bytes the calling thread may still allocate before its next sample.
 * The hooks subtract each request's size and call otp_heap_sampled when
 * it goes negative. */
extern __thread int64_t otp_tls_heap_left __attribute__((tls_model("initial-exec")));
/* Countdown while the agent is not running (yet, or any more): the slow
 * path is re-entered this often to look again. */
#define OTP_HEAP_RECHECK_BYTES (1 << 20)
/* Set while the calling thread's TLS is lent to a vfork child (raised by
 * the vfork wrapper, preload/vfork.c): such a child records nothing. */
extern __thread int otp_tls_vforked __attribute__((tls_model("initial-exec")));

/* Slow path after the countdown ran out: p (may be NULL: failed) was just
 * returned by the real allocator for a request of `size` bytes from the
 * code at return address `ra`. Records p when it is a sample, draws the
 * next gap. Returns p, errno preserved. */
void *otp_heap_sampled(void *p, size_t size, uintptr_t ra);

/* Called first thing on every slow path, with the app's return address
 * and the request's size: the lifecycle's chance to act from normal
 * context. It returns true when it forced this slow path itself (and has
 * restored the countdown): the allocation is then no sample. Must
 * preserve errno. */
void otp_heap_set_slow_hook(bool (*fn)(uintptr_t ra, size_t size));
/* The lifecycle's answer to "may this thread record a sample now" (agent
 * on in this process, not a vfork child), asked with no system call. */
void otp_heap_set_gate(bool (*fn)(void));
/* Called when a sample's record fills its thread's ring past half: the
 * consumer's cue to drain it before its next tick (a ring holds about
 * 130 records; an allocation-heavy thread samples thousands a second).
 * Must be async-signal-safe and preserve errno. */
void otp_heap_set_drain_hook(void (*fn)(void));

/* free() of p, when the address filter says p may be a tracked sample:
 * stops tracking it. Called before the real free. */
void otp_heap_freed(void *p);
/* realloc(): stops tracking p and returns what is needed to undo that if
 * the real realloc fails (0: p was not tracked). */
uint64_t otp_heap_untrack(void *p);
void otp_heap_retrack(void *p, uint64_t token);

#endif
