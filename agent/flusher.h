/*
 * The background flusher thread: drains the per-thread rings every tick,
 * aggregates, and every export.interval_ms (and once at exit) builds the
 * profiles and hands them to the sinks. It runs with every signal blocked
 * and with otp_tls_in_agent set, so nothing it does is sampled.
 */
#ifndef OTP_FLUSHER_H
#define OTP_FLUSHER_H

#include <stdbool.h>
#include <stdint.h>

/* Starts the thread. 0 or -errno. */
int otp_flusher_start(void);
/* Final drain and export, waiting at most until deadline (monotonic ns).
 * Returns 0 when the final profile was written in time and the thread
 * has ended; 1 when there was nothing to write (the thread keeps running,
 * or, at_exit, is left to die with the process); <0 on timeout. */
int otp_flusher_stop(int64_t deadline_ns, bool at_exit);
/* Fork child: forget the parent's flusher (its thread did not survive)
 * and its unexported data. Must not allocate. The caller starts a fresh
 * flusher once the private jemalloc is usable again in the child. */
void otp_flusher_atfork_child(void);

/* Ticks between drains. */
#define OTP_FLUSH_TICK_MS 100

#endif
