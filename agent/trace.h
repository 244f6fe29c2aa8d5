/*
 * Trace context of the current thread, as set through otprof.h's API,
 * the OTel thread-context record (otel_thread_ctx_v1), or TRACEPARENT.
 */
#ifndef OTP_TRACE_H
#define OTP_TRACE_H

#include <stdbool.h>
#include <stdint.h>

/* Constructor: reads TRACEPARENT, looks up otel_thread_ctx_v1. */
void otp_trace_init(void);

/* Called on every new thread before its start routine (and by init for
 * the main thread): per-thread setup, e.g. locating otel_thread_ctx_v1. */
void otp_trace_thread_start(void);

/* async-signal-safe: copies the calling thread's current context.
 * Returns false (and zeroes the ids) when there is none. */
bool otp_trace_current(uint8_t trace_id[16], uint8_t span_id[8]);

#endif
