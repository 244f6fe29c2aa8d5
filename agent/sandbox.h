/*
 * seccomp: an app that restricts its own system calls (a filter, or
 * strict mode) must keep running as it would without the agent, so the
 * agent stops before the restriction takes effect and makes no new kind
 * of system call in that process afterwards.
 */
#ifndef OTP_SANDBOX_H
#define OTP_SANDBOX_H

#include <stdbool.h>

enum { OTP_SANDBOX_STRICT = 1, OTP_SANDBOX_FILTER = 2 };

/* Called by the preload wrappers just before the app's own call that
 * installs seccomp mode `mode` (an OTP_SANDBOX_* value) runs. Exports
 * what was sampled so far (bounded by export.shutdown_timeout_ms), stops
 * every timer and the flusher, and turns the malloc hooks and the thread
 * wrapper into pass-throughs. Says so once at info level. A no-op when
 * the agent is not running in this process. */
void otp_sandbox_before_seccomp(int mode);

/* True once the agent went dormant for a seccomp restriction. */
bool otp_sandbox_dormant(void);

#endif
