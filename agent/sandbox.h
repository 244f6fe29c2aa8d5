/*
 * seccomp and landlock: an app that restricts its own system calls (a
 * filter, or strict mode) or its access to files and ports (a landlock
 * ruleset) must keep running as it would without the agent, so the agent
 * stops before the restriction takes effect and makes no new kind of
 * system call in that process afterwards.
 */
#ifndef OTP_SANDBOX_H
#define OTP_SANDBOX_H

#include <stdbool.h>

enum { OTP_SANDBOX_STRICT = 1, OTP_SANDBOX_FILTER = 2, OTP_SANDBOX_LANDLOCK = 3 };

/* Called by the preload wrappers just before the app's own call that
 * installs seccomp mode `mode` (an OTP_SANDBOX_* value; LANDLOCK: the
 * landlock_restrict_self system call) runs. Exports
 * what was sampled so far (bounded by export.shutdown_timeout_ms), stops
 * every timer and the flusher, and turns the malloc hooks and the thread
 * wrapper into pass-throughs. Says so once at info level. A no-op when
 * the agent is not running in this process. */
void otp_sandbox_before_seccomp(int mode);

/* The calls that give the process another root directory. */
enum { OTP_ROOT_CHROOT = 1, OTP_ROOT_SETNS = 2, OTP_ROOT_PIVOT = 3 };

/* Called by the preload wrappers just before the app's chroot(path),
 * setns(fd, nstype) or pivot_root(path, ...) runs. When the call can
 * succeed and would change the root (a directory other than the current
 * root, a mount namespace other than the current one, the caller holding
 * the capability the kernel asks for), the agent stops for good as
 * before seccomp: what was sampled is exported while the output
 * directory and the objects' files are still where the agent found them.
 * Unused arguments are NULL and -1. */
void otp_sandbox_before_root(int how, const char *path, int fd, int nstype);

/* True once the agent went dormant for a seccomp restriction or a new
 * root. */
bool otp_sandbox_dormant(void);

#endif
