/*
 * Runs ended by a signal. While the app leaves SIGTERM, SIGINT, SIGHUP,
 * SIGQUIT, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU (RLIMIT_CPU's soft
 * limit) or SIGVTALRM at their default action (terminate; SIGQUIT's and
 * SIGXCPU's dump core too, which the re-raised signal still does), the
 * agent catches them: the owner's callback exports the final interval
 * (bounded), then the process dies of the same signal, with the wait
 * status it would have had.
 *
 * The app still sees SIG_DFL for them through sigaction/signal (the
 * wrappers in preload/ ask here first); a handler or SIG_IGN the app
 * installs replaces ours for real, and SIG_DFL set later brings ours back.
 * exec resets a caught signal to SIG_DFL, so exec'd images see exactly
 * what they would have; an ignored signal is never touched.
 * Nothing is caught in a PID namespace's init (pid 1), which the kernel
 * never kills with a signal left at SIG_DFL.
 * Signals that report a crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT,
 * SIGSYS, SIGTRAP) are not caught: the process may be in no state to
 * export. SIGQUIT and SIGXCPU dump core too but are sent from outside
 * (Ctrl-\, a judge's limit) to a process whose state is its own.
 */
#ifndef OTP_TERMSIG_H
#define OTP_TERMSIG_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* Called in the signal handler, on the thread that got the signal, once
 * per process: returns when the final export is done or by deadline_ns
 * (monotonic). Must be async-signal-safe as far as it can be; a watchdog
 * timer armed before it re-sends the signal at the deadline, which kills
 * the process whatever the callback is stuck in. `in_agent`: the signal
 * interrupted the agent's own code on this thread (a sampled allocation,
 * the profiling handler, one of the agent's wrappers), which may hold a
 * lock: the callback may only ask the agent's thread, if it runs, for the
 * export. */
typedef void (*otp_termsig_fn)(int sig, int64_t deadline_ns, bool in_agent);

/* Installs the catcher for each covered signal now at SIG_DFL. budget_ms
 * bounds the callback. */
void otp_termsig_init(otp_termsig_fn fn, int64_t budget_ms);
/* otp_termsig_init ran in this process image. */
bool otp_termsig_active(void);
/* The signal is one the agent covers (whatever its state now). */
bool otp_termsig_covers(int sig);
/* The app's sigaction for a covered signal: virtual SIG_DFL while the
 * catcher is installed. Same contract as sigaction(2). */
int otp_termsig_app_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
/* For good: every catcher back to SIG_DFL (what the app reads anyway),
 * nothing virtualised any more. */
void otp_termsig_release(void);
/* Fork child: nothing was in flight. The catchers are inherited, taken
 * back if the child is pid 1 of a new PID namespace (the kernel drops
 * its SIG_DFL signals, termsig.c) and installed if its parent was one. */
void otp_termsig_atfork_child(void);

#endif
