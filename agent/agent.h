/*
 * The process's profiling lifecycle: the one owner of the process-wide
 * state and of its transitions. preload/ calls these; other modules call
 * only otp_agent_running() and otp_agent_stop_now().
 */
#ifndef OTP_AGENT_H
#define OTP_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "thread.h"

/* Start (the shim's constructor, once it has read otp_cfg). Never fails:
 * on trouble the agent turns features off. Starts no thread unless the
 * process already has several. */
void otp_agent_init(void);
/* Exit (destructor): final export within the configured bounded time. */
void otp_agent_shutdown(void);
/* The same from the library's destructor (normal context, not a signal
 * handler): the final export may run on the calling thread. */
void otp_agent_exit(void);
/* Stop everything now, for good, after a bounded final export (at most
 * export.shutdown_timeout_ms + 1 s): timers deleted, flusher joined, no
 * thread left behind; every hook passes straight through afterwards.
 * Normal context only. */
void otp_agent_stop_now(void);
/* True while the agent profiles this very process (not a vfork child). */
bool otp_agent_running(void);
/* The same for the sampled-allocation path, without otp_agent_running's
 * getpid() system call: the agent runs and the caller is no vfork child
 * (otp_tls_vforked). A child of a fork that ran no fork handlers (_Fork,
 * a raw clone) passes too; it only fills rings no flusher drains. */
bool otp_agent_sampling(void);

/* Normal context, before a call that may change the file system the
 * process sees (chroot, unshare, setns): libunwind.so.8 is loaded first
 * if stacks are wanted and it is not yet (unwind.h). */
void otp_agent_before_new_root(uintptr_t ra);

/* Thread start: pthread_create wrapper, slot for the new thread (NULL:
 * not profiled), `attr` as the app passed it; _failed if pthread_create
 * then failed; _begin is the first thing the new thread runs. Thread
 * exit is the key destructor. */
otp_thread_t *otp_agent_thread_prepare(void *(*fn)(void *), void *arg, const void *attr);
void otp_agent_thread_failed(otp_thread_t *t);
/* The app's pthread_create or fork failed with EAGAIN (its task limit:
 * RLIMIT_NPROC, a cgroup's pids.max): the agent's own thread, if it runs,
 * ends and is not started again before exit, so that the app gets the
 * thread it would have had bare. True if it ended (retry then). */
bool otp_agent_thread_limited(void);
void otp_agent_thread_begin(otp_thread_t *t);
/* The app's timer_create failed with EAGAIN (RLIMIT_SIGPENDING): the
 * calling thread's CPU timer goes to it (otp_cpu_timer_yield). True if
 * there was one (retry then). */
bool otp_agent_timer_limited(void);

/* fork's three steps, registered with pthread_atfork; also run by hand
 * around a fork that glibc does not see (syscall(SYS_fork), and clone
 * without CLONE_VM), whose child would otherwise pass for its parent. */
void otp_agent_fork_prepare(void);
void otp_agent_fork_parent(void);
void otp_agent_fork_child(void);

/* exec wrappers: before (final export, timer off) and after a failure. */
void otp_agent_before_exec(void);
void otp_agent_after_failed_exec(void);

/* Around calls that need a single-threaded process (unshare, setns):
 * the flusher is stopped and joined, every sample kept. quiesce returns
 * a token for resume. */
int otp_agent_quiesce(void);
void otp_agent_resume(int token);

/* Around the app's dlclose (normal context): what it unloads stays
 * nameable for the samples taken before (unloaded.h). begin returns what
 * end takes, NULL when there is nothing to do. */
void *otp_agent_unload_begin(void);
void otp_agent_unload_end(void *before);

#endif
