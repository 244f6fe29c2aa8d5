/*
 * One interval's aggregated profile, as the flusher hands it to the
 * encoders (pprof, OTLP) and the summary. Produced and consumed on the
 * flusher thread only; memory from otp_malloc, owned by the producer.
 */
#ifndef OTP_PROFILE_H
#define OTP_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { OTP_PROFILE_CPU = 0, OTP_PROFILE_HEAP = 1 } otp_profile_kind_t;

/* Value slots per kind.
 * CPU:  [0] samples/count, [1] cpu/nanoseconds
 * HEAP: [0] alloc_objects/count, [1] alloc_space/bytes,
 *       [2] inuse_objects/count, [3] inuse_space/bytes
 * Heap values are already unbiased (scaled) by the producer. */
#define OTP_MAX_VALUES 4

/* The one-frame stack that samples fold into once the agent's memory
 * cap is reached (memcap.h): an address no mapping can hold (above the
 * vsyscall page), which the symbolizer names OTP_FOLDED_NAME. */
#define OTP_PC_FOLDED 0xfffffffffffff001ULL
#define OTP_FOLDED_NAME "[otprof: stack table full]"
/* The leaf of a sample a thread owed at its end (otp_cpu_settle_end):
 * where in the thread's code its time went is not known, only the
 * thread's start function, the frame above. */
#define OTP_PC_ENDED 0xfffffffffffff002ULL
#define OTP_ENDED_NAME "[otprof: thread ended before its sample's signal]"
/* The one-frame stack of a thread's CPU time that no signal sampled
 * (foreign.h): its thread's name and id say whose it is. */
#define OTP_PC_FOREIGN 0xfffffffffffff003ULL
#define OTP_FOREIGN_NAME "[otprof: thread not sampled, CPU time only]"

/* The name of one of the addresses above, or NULL. */
static inline const char *otp_profile_special_name(uint64_t pc)
{
    switch (pc) {
    case OTP_PC_FOLDED: return OTP_FOLDED_NAME;
    case OTP_PC_ENDED: return OTP_ENDED_NAME;
    case OTP_PC_FOREIGN: return OTP_FOREIGN_NAME;
    default: return NULL;
    }
}

typedef struct otp_sample {
    const uint64_t *pcs;   /* leaf first; pcs[0] exact, others return addresses */
    uint32_t npcs;
    uint32_t tid;
    const char *thread_name; /* may be NULL */
    int64_t values[OTP_MAX_VALUES];
    bool has_link;
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint64_t alloc_size;   /* HEAP: bytes per object in this bucket; CPU: 0 */
} otp_sample_t;

typedef struct otp_profile {
    otp_profile_kind_t kind;
    int64_t time_ns;       /* start of the interval, CLOCK_REALTIME */
    int64_t duration_ns;
    int64_t period;        /* CPU: ns between samples; HEAP: sample_bytes */
    int nvalues;           /* 2 for CPU, 4 for HEAP */
    size_t nsamples;
    otp_sample_t *samples;
    uint64_t dropped;      /* events lost in this interval (full rings etc.) */
    /* Extra profile-level comments (e.g. suspected leaks); may be NULL. */
    const char *const *comments;
    size_t ncomments;
} otp_profile_t;

/* Sample type names for a kind, index-aligned with values[]. */
typedef struct otp_value_type {
    const char *type;
    const char *unit;
} otp_value_type_t;
const otp_value_type_t *otp_profile_value_types(otp_profile_kind_t kind, int *n);
/* Period type of a kind: cpu/nanoseconds or space/bytes. */
otp_value_type_t otp_profile_period_type(otp_profile_kind_t kind);

#endif
