/*
 * A sample's stack as frames, one per inline frame: a location with
 * inlined calls is several frames, innermost first, as pprof shows them.
 * For a profile built by otp_merge (ids 1..N in table order).
 */
#ifndef OTP_CLI_STACKS_H
#define OTP_CLI_STACKS_H

#include <stddef.h>
#include <stdint.h>

#include "pprof_read.h"

typedef struct otp_cframe {
    const char *name; /* function name; NULL when the location has none */
    const char *file; /* source file, "" if unknown */
    int64_t line;     /* 0 if unknown */
    uint64_t address;
    const Perftools__Profiles__Mapping *mapping; /* NULL if none */
    uint64_t function_id;                        /* 0 if none */
} otp_cframe_t;

typedef struct otp_cstack {
    otp_cframe_t *f;
    size_t n, cap;
} otp_cstack_t;

/* Fills st with sample s's frames, leaf first; -1 when out of memory. */
int otp_stack_get(const pb_prof_t *p, const Perftools__Profiles__Sample *s, otp_cstack_t *st);
void otp_stack_fini(otp_cstack_t *st);

/* A frame's display name: its function, else "[object] 0xADDR" or
 * "0xADDR" for code no symbol names. */
const char *otp_frame_label(const pb_prof_t *p, const otp_cframe_t *f, char *buf, size_t cap);

/* What kind of code a frame is, for colours. */
typedef enum { OTP_KIND_APP, OTP_KIND_LIB, OTP_KIND_KERNEL, OTP_KIND_UNKNOWN } otp_kind_t;
otp_kind_t otp_frame_kind(const pb_prof_t *p, const otp_cframe_t *f);

#endif
