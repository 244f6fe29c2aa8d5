/*
 * The app's signal mask, as far as SIGPROF is concerned. While CPU
 * profiling owns SIGPROF it stays really unblocked in every profiled
 * thread (or that thread would never be sampled), but the app must see
 * exactly the mask it set: each thread keeps the mask the app believes it
 * has (set at thread start from the inherited mask, then by the
 * sigprocmask/pthread_sigmask wrappers). SIGPROFs that are not from our
 * timers follow that mask: one that arrives while the app has SIGPROF
 * blocked is put back as pending (really, so sigpending/sigwait see it)
 * and the thread really blocks SIGPROF until the app unblocks it.
 */
#ifndef OTP_VMASK_H
#define OTP_VMASK_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <ucontext.h>

/* Calling thread, at its start (before it runs app code): records the
 * app's mask (inherited, plus SIGPROF if the creating thread had it
 * virtually blocked, passed as parent_prof) and really unblocks SIGPROF
 * if CPU profiling owns it. */
void otp_vmask_thread_start(bool parent_prof);
/* Calling thread: does the app have SIGPROF blocked? */
bool otp_vmask_prof_blocked(void);

/* The wrappers' work: pthread_sigmask semantics (returns 0 or an errno).
 * Only when otp_vmask_owned() says so; otherwise call the real one. */
bool otp_vmask_owned(void);
int otp_vmask_change(int how, const sigset_t *set, sigset_t *old,
                     int (*real)(int, const sigset_t *, sigset_t *));

/* SIGPROF handler, async-signal-safe. A fault handler is running (stay
 * out) when a fault signal is blocked in the interrupted context but not
 * in the app's own mask: a thread the app runs with every signal blocked
 * is not crashing. */
bool otp_vmask_crashing(const ucontext_t *uc);
/* SIGPROF handler, for a SIGPROF not from our timers: true if the app has
 * it blocked, in which case it has been queued again as pending and the
 * interrupted context will return with SIGPROF really blocked. */
bool otp_vmask_defer(const siginfo_t *si, ucontext_t *uc);

/* SIGPROF handler, around a call of the app's own SIGPROF handler (one
 * not from our timers, cpu.c): on its return, the app's mask is the one
 * before, as sigreturn puts back the real one. Without that, a handler
 * that saved and restored its mask (libunwind in gperftools' does, around
 * each step) left the thread's SIGPROF blocked in the app's view, and the
 * next SIGPROF was held back for good: the app's profiler and the agent's
 * both stopped after their first signals. */
typedef struct otp_vmask_saved {
    uint64_t mask;
    int known;
} otp_vmask_saved_t;
otp_vmask_saved_t otp_vmask_handler_begin(void);
void otp_vmask_handler_end(otp_vmask_saved_t saved);

/* SIGPROF handler: the interrupted context runs with the app's own mask
 * (known for this thread, not in a signal handler of the app's, not in
 * the middle of a mask change). */
bool otp_vmask_plain(const ucontext_t *uc);

/* exec: the new image inherits the real mask, so it gets SIGPROF blocked
 * if the app had it blocked (before=true); undone if exec fails. */
void otp_vmask_exec(bool before);

#endif
