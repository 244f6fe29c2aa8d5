/*
 * CPU sampling: one POSIX timer per thread on its CPU clock, delivering
 * SIGPROF to that thread (SIGEV_THREAD_ID), and the handler that captures
 * the stack into the thread's ring.
 */
#ifndef OTP_CPU_H
#define OTP_CPU_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>

#include "thread.h"

/* Installs the handler if SIGPROF is free (SIG_DFL/SIG_IGN). 0 or -1. */
int otp_cpu_init(void);
bool otp_cpu_active(void);
/* Arms a timer for slot t, whose thread is t->tid; first expiry random
 * within one period. Callable from any thread. */
void otp_cpu_arm(otp_thread_t *t);
/* Deletes t's timer. */
void otp_cpu_disarm(otp_thread_t *t);
/* On the thread itself as it ends (thread exit, the process's final
 * stop, exec): deletes its timer, and a sample point its CPU clock passed
 * but whose signal the kernel had not sent yet (CPU timers fire on the
 * tick) is recorded, under the thread's start function. */
void otp_cpu_settle_end(otp_thread_t *t);
/* The app's timer_create failed with EAGAIN: its user is at its limit of
 * pending signals (RLIMIT_SIGPENDING), where each of the agent's timers
 * takes a place. The calling thread's timer is deleted, else another
 * thread's; said once and counted (that thread's CPU is no longer
 * sampled). True if there was one. */
bool otp_cpu_timer_yield(void);
/* Threads with no CPU timer: none could be made (that limit), or theirs
 * went to the app. */
uint64_t otp_cpu_untimed(void);
/* Stops CPU sampling process-wide (exit, failed start). */
void otp_cpu_stop(void);
/* SIGPROF is virtualised once the agent installed its handler: the app's
 * sigaction/signal calls for SIGPROF read and write this disposition, and
 * every SIGPROF that is not from our timers is delivered according to it
 * (handler called, ignored, or the process terminated for SIG_DFL). */
bool otp_cpu_owns_sigprof(void);
int otp_cpu_app_sigaction(const struct sigaction *act, struct sigaction *old);
/* SIGPROF back from a handler installed past the sigaction wrapper (glibc's
 * profil and monstartup, preload/gmon.c): that handler becomes the app's
 * (otp_cpu_app_sigaction). `stopped`: the caller's counter was turned
 * off and put back what it had found; the app's handler is again the one
 * it had before. From app code, outside signal handlers. */
void otp_cpu_retake(bool stopped);
bool otp_cpu_app_ignores_sigprof(void);
/* exec: before=true makes an ignored SIGPROF really ignored for the new
 * image; before=false (exec failed) restores the agent's handler. */
void otp_cpu_exec_disposition(bool before);
/* exec: stop this thread's timer and drain a pending SIGPROF; and undo. */
void otp_cpu_before_exec(void);
void otp_cpu_after_failed_exec(void);

/* Called in the handler after each sample this thread recorded (must be
 * async-signal-safe): the lifecycle's way to notice CPU use. */
void otp_cpu_set_sample_hook(void (*fn)(void));

/* The sampled-allocation path, on the app's thread: from otp_cpu_owe_begin
 * on, a CPU sample landing in it is kept aside (the agent cannot unwind
 * into its own ring reentrantly) and otp_cpu_settle records it on the
 * allocation's stack (frames, leaf first), so that time is not lost. */
void otp_cpu_owe_begin(void);
void otp_cpu_settle(const uint64_t *frames, uint32_t n);

/* Handler statistics: per-sample time in the handler. */
void otp_cpu_handler_stats(double *p50_us, double *p99_us, uint64_t *n);
/* The overhead budget's lever: sample periods become 1 s / frequency_hz
 * << shift (0..3), in each thread from its next period on. */
void otp_cpu_set_shift(int shift);
int64_t otp_cpu_period_ns(void);  /* in force now */
/* Time spent in the SIGPROF handler so far, all threads (ns). */
uint64_t otp_cpu_cost_ns(void);
uint64_t otp_cpu_dropped(void);   /* samples lost (ring full, reentrancy) */
uint64_t otp_cpu_foreign(void);   /* SIGPROFs not from our timers */

#endif
