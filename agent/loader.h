/*
 * The dynamic loader's locks, as the agent takes them: dlopen of libdw,
 * libcurl, libunwind and libstdc++, and their dlsym and dl_iterate_phdr.
 *
 * fork copies the loader's locks and lists as they are at that instant,
 * and only the forking thread lives on in the child. A lock held by any
 * other thread stays held there for good: the child's next dlopen waits
 * forever, and lists caught half-changed trip the loader's own
 * assertions ("Inconsistency detected by ld.so"). So:
 *   - the agent's own loader calls never straddle an app's fork: fork's
 *     prepare step waits until none is under way (bounded), and none
 *     starts until the fork is done. Without it, a fork while the
 *     agent's thread loaded libdw left the app's child a loader that
 *     hangs at its first dlopen (a worker importing a module);
 *   - in a child whose parent had other app threads at the fork (any of
 *     them may have been inside dlopen, dlclose or dl_iterate_phdr), the
 *     agent makes no loader call at all: what it had not loaded before
 *     the fork (libdw's source lines, libunwind, the C++ demangler,
 *     libcurl) stays unloaded in that process, said once. Before, such a
 *     child's export hung until its deadline or died of the assertion.
 */
#ifndef OTP_LOADER_H
#define OTP_LOADER_H

#include <stdbool.h>

/* Before a loader call: true, and otp_loader_leave() after it; false when
 * the call must not be made (this process is such a child, or a fork has
 * been under way for longer than `wait_ms`: 0 never waits, as in a signal
 * handler). Neither allocates nor locks; with wait_ms 0 it waits only for
 * an app's close under way (the call counts as the agent's open, fds.h). */
bool otp_loader_enter(int wait_ms);
void otp_loader_leave(void);
/* This process makes no loader call (see above). */
bool otp_loader_unsafe(void);

/* fork, on the forking thread (SIGPROF blocked): `others` says whether
 * other app threads were alive. */
void otp_loader_fork_prepare(bool others);
void otp_loader_fork_parent(void);
void otp_loader_fork_child(void);

#endif
