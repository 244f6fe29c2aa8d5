/*
 * Trace context of the current thread, as set through otprof.h's API,
 * the OTel thread-context record (otel_thread_ctx_v1), or TRACEPARENT.
 */
#ifndef OTP_TRACE_H
#define OTP_TRACE_H

#include <stdbool.h>
#include <stdint.h>

/* Constructor: reads TRACEPARENT, looks up otel_thread_ctx_v1 and sets
 * up the calling (main) thread. */
void otp_trace_init(void);

/* Called on every new thread before its start routine runs (the
 * pthread_create trampoline), outside signal context: finds this
 * thread's instance of otel_thread_ctx_v1 when the app has one. Cheap
 * and idempotent. */
void otp_trace_thread_start(void);

/* async-signal-safe: copies the calling thread's current context.
 * Precedence: otprof_set_trace_context, then otel_thread_ctx_v1, then
 * TRACEPARENT. Returns false (and zeroes the ids) when there is none. */
bool otp_trace_current(uint8_t trace_id[16], uint8_t span_id[8]);

/* Parses a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"); false if
 * malformed or the ids are all zero. */
bool otp_trace_parse_traceparent(const char *s, uint8_t trace_id[16], uint8_t span_id[8]);

#endif
