/*
 * Profiles whose file could not be written (disk full, directory gone)
 * are kept in memory and merged into the next interval's file of the same
 * kind, so a transient failure loses nothing. CPU samples are summed; for
 * heap profiles the alloc_* values are summed and inuse_* is the newest
 * interval's (a snapshot, not a count). Bounded by a byte budget
 * (export.max_queue_bytes); beyond it the oldest kept data goes first.
 * Flusher thread only; memory from otp_malloc.
 */
#ifndef OTP_RETAIN_H
#define OTP_RETAIN_H

#include <stdint.h>

#include "profile.h"

/* What to write for p: p itself when nothing is kept for its kind, else
 * the kept intervals merged with p in *out (valid until the next call for
 * that kind; NULL if the merge ran out of memory: then write p alone).
 * *intervals is how many intervals the result holds. */
const otp_profile_t *otp_retain_merge(const otp_profile_t *p, otp_profile_t *out, int *intervals);

/* The file of p's kind was written: forget what was kept. */
void otp_retain_written(otp_profile_kind_t kind);

/* The file for p could not be written: keep p's samples, within budget
 * bytes (estimated). Returns the samples dropped for the budget (0 if all
 * were kept). */
uint64_t otp_retain_failed(const otp_profile_t *p, int64_t budget);

/* Intervals kept for a kind (0: none). */
int otp_retain_pending(otp_profile_kind_t kind);

/* Fork child: the parent's kept data is the parent's to write. No
 * allocator calls (the child's allocator may not be ready). */
void otp_retain_atfork_child(void);

#endif
