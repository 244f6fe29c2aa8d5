/*
 * The public API (otprof.h), as the app finds it: in the object it
 * preloaded. The trace context is the engine's; with no engine there is
 * no sample for it to mark.
 */
#include "api.h"

#include "eng.h"
#include "otprof.h"

const char *otprof_version(void)
{
    return OTP_VERSION;
}

/* This object's own definition, bound here whatever the process binds
 * otprof_version to (the first definition in the global scope). */
extern __typeof__(otprof_version) otp_version_here __attribute__((alias("otprof_version"), visibility("hidden")));

bool otp_api_ours(void)
{
    const char *(*bound)(void) = otprof_version;
    /* Kept from being folded to true: the bound address comes through the
     * GOT, the alias's is this object's. */
    __asm__("" : "+r"(bound));
    return bound == otp_version_here;
}

void otprof_set_trace_context(const uint8_t trace_id[16], const uint8_t span_id[8])
{
    const otp_engine_t *e = otp_eng;
    if (e)
        e->set_trace_context(trace_id, span_id);
}

void otprof_clear_trace_context(void)
{
    const otp_engine_t *e = otp_eng;
    if (e)
        e->clear_trace_context();
}
