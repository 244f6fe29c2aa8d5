/* TEMPORARY STUB (lead): replaced by the trace-correlation work. */
#include "trace.h"
#include "otprof.h"
#include <string.h>
void otp_trace_init(void) {}
void otp_trace_thread_start(void) {}
bool otp_trace_current(uint8_t trace_id[16], uint8_t span_id[8])
{
    memset(trace_id, 0, 16);
    memset(span_id, 0, 8);
    return false;
}
OTPROF_API const char *otprof_version(void) { return "0.1.0"; }
OTPROF_API void otprof_set_trace_context(const uint8_t t[16], const uint8_t s[8]) { (void)t; (void)s; }
OTPROF_API void otprof_clear_trace_context(void) {}
