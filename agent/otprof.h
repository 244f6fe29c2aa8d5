/*
 * otprof public API. Everything here is optional: an app loaded without
 * the agent can reach these functions through weak symbols or dlsym (see
 * README "Trace correlation") and simply not call them when absent.
 */
#ifndef OTPROF_H
#define OTPROF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OTPROF_API __attribute__((visibility("default")))

/* Version string of the loaded agent, e.g. "0.1.0". */
OTPROF_API const char *otprof_version(void);

/* Sets the calling thread's trace context (W3C trace id and span id).
 * CPU and heap samples taken on this thread carry it until it is cleared.
 * Cheap (two stores) and async-signal-safe. */
OTPROF_API void otprof_set_trace_context(const uint8_t trace_id[16], const uint8_t span_id[8]);
OTPROF_API void otprof_clear_trace_context(void);

#ifdef __cplusplus
}
#endif

#endif
