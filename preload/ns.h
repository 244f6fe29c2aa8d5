/*
 * New roots (preload/ns.c): what the shim does after the app's chroot,
 * pivot_root or setns has given the process another root directory.
 */
#ifndef OTP_PRELOAD_NS_H
#define OTP_PRELOAD_NS_H

#include <stdint.h>

#include "eng.h"

/* After a successful call that may have changed the root: when this
 * object's file cannot be read from the new root, LD_PRELOAD in the
 * process's environment loses its entry (edited in place; unset when
 * nothing is left), so that a
 * program the app execs there does not meet the loader's "cannot be
 * preloaded" error, which it would not have met without the agent.
 * Preserves errno. */
void otp_ns_after_new_root(void);

/* At start: when LD_PRELOAD names this object by a relative path, the
 * entry is made absolute (the environment's string replaced, in the
 * array main's envp shares), so that a program the app execs after a
 * chdir does not meet the loader's "cannot be preloaded" error. Preserves
 * errno. */
void otp_ns_absolute_preload(void);

/* Around a call that needs a single-threaded process (unshare, setns,
 * the set*id family), made by a wrapper here or through syscall():
 * libunwind loaded if wanted (the new root may lack it), the agent's
 * thread stopped and joined, every sample kept; end restarts it. */
int otp_ns_solo_begin(const otp_engine_t *e, uintptr_t ra);
void otp_ns_solo_end(const otp_engine_t *e, int token);

#endif
