/*
 * Aggregation of identical stacks: one entry per (stack, thread, trace
 * context, allocation size), values summed. Flusher thread only; memory
 * from otp_malloc. Used for CPU samples and heap allocations alike.
 */
#ifndef OTP_AGG_H
#define OTP_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"

typedef struct otp_agg otp_agg_t;

typedef struct otp_agg_key {
    const uint64_t *frames;
    uint32_t nframes;
    uint32_t tid;
    uint64_t size;            /* heap bucket size; 0 for CPU */
    const uint8_t *trace_id;  /* 16 bytes, all zero = none; may be NULL */
    const uint8_t *span_id;   /* 8 bytes; may be NULL */
} otp_agg_key_t;

otp_agg_t *otp_agg_new(void);
void otp_agg_free(otp_agg_t *a);
/* Adds values[0..OTP_MAX_VALUES) to the entry for key (created on first
 * use, remembering thread_name). Returns the entry's values (to let the
 * caller adjust them), or NULL when out of memory (counted). */
int64_t *otp_agg_add(otp_agg_t *a, const otp_agg_key_t *key, const char *thread_name,
                     const int64_t values[OTP_MAX_VALUES]);
/* As otp_agg_add, but a key without an entry yet gets one only while the
 * memory cap leaves room (memcap.h, charged for it); otherwise, or when
 * out of memory, its values go to the entry of the folded stack
 * (OTP_PC_FOLDED, no thread, no trace context, size 0) and count as
 * folded. NULL only if even that entry cannot be made. */
int64_t *otp_agg_add_capped(otp_agg_t *a, const otp_agg_key_t *key, const char *thread_name,
                            const int64_t values[OTP_MAX_VALUES], otp_profile_kind_t kind);
size_t otp_agg_count(const otp_agg_t *a);
/* Fills p->samples/nsamples (other fields are the caller's). The samples
 * point into the table: valid until otp_agg_clear/free. */
int otp_agg_to_profile(otp_agg_t *a, otp_profile_t *p);
/* Visits every entry. */
typedef void (*otp_agg_visit_fn)(void *ctx, const otp_sample_t *s);
void otp_agg_foreach(otp_agg_t *a, otp_agg_visit_fn fn, void *ctx);
/* Empties the table, keeping its capacity. */
void otp_agg_clear(otp_agg_t *a);

uint64_t otp_agg_hash(const otp_agg_key_t *key);

#endif
