/*
 * Sample and period types of each profile kind, shared by the pprof and
 * OTLP encoders so both name the values identically. Constant tables:
 * safe from any thread.
 */
#include "profile.h"

#include "internal.h"

/* Names follow Go's runtime/pprof so `go tool pprof` picks the same
 * default views (alloc_space etc.) it uses for Go heap profiles. */
static const otp_value_type_t cpu_types[] = {
    {"samples", "count"},
    {"cpu", "nanoseconds"},
};

static const otp_value_type_t heap_types[] = {
    {"alloc_objects", "count"},
    {"alloc_space", "bytes"},
    {"inuse_objects", "count"},
    {"inuse_space", "bytes"},
};

const otp_value_type_t *otp_profile_value_types(otp_profile_kind_t kind, int *n)
{
    if (kind == OTP_PROFILE_HEAP) {
        if (n) *n = (int)OTP_ARRAY_LEN(heap_types);
        return heap_types;
    }
    if (n) *n = (int)OTP_ARRAY_LEN(cpu_types);
    return cpu_types;
}

otp_value_type_t otp_profile_period_type(otp_profile_kind_t kind)
{
    if (kind == OTP_PROFILE_HEAP) return (otp_value_type_t){"space", "bytes"};
    return (otp_value_type_t){"cpu", "nanoseconds"};
}
