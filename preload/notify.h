/*
 * Callbacks the C library runs in threads it creates itself
 * (SIGEV_THREAD notifications: timer_create, mq_notify). Its internal
 * pthread_create passes no wrapper: those threads ran unknown to the
 * agent, their CPU in no profile (a timer callback that burned 1 s: 0
 * samples, and the summary said no thread went unprofiled).
 */
#ifndef OTP_PRELOAD_NOTIFY_H
#define OTP_PRELOAD_NOTIFY_H

#include <signal.h>

/* The sigevent to pass on for `sev`: `sev` itself, or, for a
 * SIGEV_THREAD notification while the engine runs, `copy` filled in to
 * call the app's function through a trampoline that registers its
 * thread first. */
const struct sigevent *otp_notify_sigevent(const struct sigevent *sev, struct sigevent *copy);

#endif
