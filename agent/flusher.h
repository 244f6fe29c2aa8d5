/*
 * The flusher thread: drains the per-thread rings every tick, aggregates,
 * and every export.interval_ms (and once at the end) builds the profiles
 * and hands them to the sinks. It runs with every signal blocked and with
 * otp_tls_in_agent set, so nothing it does is sampled.
 *
 * It only calls down (rings, heap, encoders, sinks); whoever owns the
 * process's lifecycle (agent.c) decides when it runs: the thread can be
 * started and stopped any number of times, and what was sampled while it
 * was down is exported by the next run.
 */
#ifndef OTP_FLUSHER_H
#define OTP_FLUSHER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct otp_flusher_hooks {
    /* On the flusher, before each periodic export. */
    void (*every_interval)(void);
} otp_flusher_hooks_t;

/* The CPU the process had used when the agent started (its exec, the
 * dynamic loader's relocations, constructors that ran before ours): no
 * signal can sample it; the first CPU profile written says how much. */
void otp_flusher_set_prestart(int64_t ns);
/* Start of the first interval is now; hooks are kept (NULL: unchanged). */
void otp_flusher_init(const otp_flusher_hooks_t *h);
/* Starts the thread (no-op if it runs). 0 or -errno (said, but for
 * -EAGAIN, the process's limit of tasks). Normal context. */
int otp_flusher_start(void);
bool otp_flusher_running(void);
/* Stops the thread and joins it, waiting at most until deadline_ns
 * (monotonic). final: drains and exports the last interval first and
 * shuts the sinks down (a later start brings them up again); otherwise
 * every sample stays where it is for the next run. Returns 0 once the
 * thread is gone (also from the kernel's thread list), -ETIMEDOUT if it
 * did not finish in time (it is left running), -ESRCH if it was not
 * running. */
int otp_flusher_stop(int64_t deadline_ns, bool final);
/* Stops the thread as otp_flusher_stop(.., false) does, but only from
 * its wait between ticks (it then leaves at once), which it is given
 * until patient_until_ns (monotonic) to reach: 0 once it is gone,
 * -EBUSY if it was still working (an export under way: it is left
 * alone), -ESRCH if it was not running, -ETIMEDOUT as otp_flusher_stop. */
int otp_flusher_leave_if_idle(int64_t patient_until_ns, int64_t deadline_ns);
/* Async-signal-safe: asks the running thread for the final export now
 * (the network part bounded by deadline_ns), without waiting; poll
 * otp_flusher_final_done(). */
void otp_flusher_request_final(int64_t deadline_ns);
bool otp_flusher_final_done(void);
/* The final export (as otp_flusher_stop's) on the calling thread, when
 * the thread is not running: for a process ending before it ever needed
 * one. Blocks every signal meanwhile. Unbounded by any deadline but the
 * sinks' own, so only for callers in normal context with a large stack
 * and no network sink. 0, or -EBUSY if the thread runs. */
int otp_flusher_final_here(int64_t deadline_ns);
/* An app thread's ring is filling up: drain the rings now rather than
 * at the end of the tick. Async-signal-safe; preserves errno. */
void otp_flusher_drain_soon(void);
/* Why profiling ends before the process does, for the final profiles'
 * comments (copied; NULL or "" clears it). Normal context. */
void otp_flusher_note_final(const char *why);
/* Something was sampled that a final export would write. */
bool otp_flusher_has_pending(void);
/* CPU used by the agent's thread, all of its incarnations (any thread). */
int64_t otp_flusher_cpu_ns(void);
/* Fork child: forget the parent's thread and its unexported data. Must
 * not allocate. */
void otp_flusher_atfork_child(void);

/* Ticks between drains. */
#define OTP_FLUSH_TICK_MS 100

#endif
