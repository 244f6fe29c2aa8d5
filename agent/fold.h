/*
 * A thread's CPU samples summed by stack and trace context in its own
 * SIGPROF handler, for when its ring has no consumer in time: the agent
 * starts its flusher thread lazily, so a single-threaded program that
 * never allocates (sha256sum, gzip, a compute loop) has none until it
 * exits, and its main thread's ring would fill in a minute or two. The
 * handler moves the ring's oldest records in here as the ring nears full;
 * memory stays bounded by the number of distinct stacks, not the length
 * of the run. A key that does not fit any more is refused (the caller
 * counts the drop); keys already in the table keep adding up.
 *
 * What a folded sample loses is its timestamp: it is exported in the
 * interval that drains the table (the same as a sample that waited in the
 * ring; the CPU profile keeps no per-sample time).
 *
 * One writer (the owning thread's handler) and one reader (the flusher),
 * never at the same time: the thread's drain owner flag (thread.h) says
 * which one holds the ring's consumer side and this table. Adding is
 * async-signal-safe (no malloc, no locks, small stack); the memory is one
 * mmap made in normal context, its pages touched only as entries arrive.
 */
#ifndef OTP_FOLD_H
#define OTP_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include "ring.h"

typedef struct otp_fold otp_fold_t;

/* One distinct (stack, trace context) and what its samples sum to. */
typedef struct otp_fold_entry {
    uint64_t hash;
    uint64_t weight;      /* samples (sum of the records' weights) */
    uint64_t ns;          /* CPU nanoseconds they stand for */
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint32_t nframes;
    uint32_t pad;
    uint64_t frames[];    /* leaf first, as in the record */
} otp_fold_entry_t;

/* A bare mmap: also from the signal handler, at a thread's first
 * overflow. NULL if the mapping fails (the thread then drops, as without
 * a table). */
otp_fold_t *otp_fold_create(void);
void otp_fold_destroy(otp_fold_t *f);
/* Writer, async-signal-safe: adds a CPU record. 0, or -1 if its key is
 * new and the table is full. */
int otp_fold_add(otp_fold_t *f, const otp_rec_t *rec);
/* Any thread: entries now (a hint unless the caller owns the table). */
size_t otp_fold_count(const otp_fold_t *f);
/* Reader: visits every entry, in insertion order. */
typedef void (*otp_fold_visit_fn)(void *ctx, const otp_fold_entry_t *e);
void otp_fold_foreach(const otp_fold_t *f, otp_fold_visit_fn fn, void *ctx);
/* Reader (or a fork child): empties the table and gives its touched
 * pages back to the kernel. */
void otp_fold_clear(otp_fold_t *f);

#endif
