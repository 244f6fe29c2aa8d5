/*
 * OTLP/HTTP transport: a bounded FIFO of encoded requests POSTed to
 * <endpoint>/v1development/profiles through libcurl's multi interface.
 * With export.protocol = grpc the same queue carries gRPC calls over
 * HTTP/2 (framing and status: agent/grpc.h).
 * libcurl is dlopen'd on first use, on the flusher thread, which is the
 * only thread that ever calls into this module (or into curl).
 */
#ifndef OTP_HTTP_H
#define OTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Reads the endpoint, headers and limits from otp_cfg; loads nothing.
 * The transport is off when no endpoint is configured. */
void otp_http_init(void);
bool otp_http_enabled(void);

/* Takes ownership of body (otp_malloc'd plain protobuf): compresses it
 * if configured and queues it; the oldest queued requests are dropped
 * beyond export.max_queue_bytes. Never blocks. */
void otp_http_enqueue(uint8_t *body, size_t len);

/* Non-blocking progress: starts the next transfer when due, moves the
 * current one on (waits at most ~10 ms for socket events). */
void otp_http_tick(void);

/* Sends what is queued until deadline_ns (CLOCK_MONOTONIC), then aborts
 * whatever is left and frees everything. */
void otp_http_shutdown(int64_t deadline_ns);

/* Fork child: forgets the parent's queue and connections without
 * touching them (the sockets are shared with the parent). */
void otp_http_atfork_child(void);
/* What to run from the atexit handler that must come before OpenSSL's
 * own (the owner's exit: the final export). */
void otp_http_set_exit_hook(void (*fn)(void));

typedef struct otp_http_stats {
    uint64_t sent;             /* requests accepted (2xx) */
    uint64_t attempts_failed;  /* retryable failures (each attempt) */
    uint64_t dropped_queue;    /* oldest dropped because the queue was full */
    uint64_t dropped_rejected; /* non-retryable answer (4xx etc.) */
    uint64_t dropped_gave_up;  /* still failing after the last retry */
    uint64_t dropped_exit;     /* not sent by the shutdown deadline */
    uint64_t rejected_profiles; /* partial_success.rejected_profiles, summed */
    size_t queued, queued_bytes;
} otp_http_stats_t;
void otp_http_stats(otp_http_stats_t *st);

/* Helpers, exposed for the unit tests. */

/* Retry-After value (delta-seconds or HTTP-date) as a delay in ms from
 * `now`; -1 if it cannot be parsed. Past dates give 0. */
int64_t otp_http_retry_after_ms(const char *value, time_t now);
/* Backoff before attempt n+1 after n consecutive failures (n >= 1):
 * exponential from 250 ms, capped at 30 s, with jitter in [d/2, d]. */
int64_t otp_http_backoff_ms(int failures, uint64_t *rng);
bool otp_http_status_retryable(long status);

#endif
