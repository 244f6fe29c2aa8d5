/*
 * Threads of the process that the agent does not sample: started without
 * the app's pthread_create (a raw clone; glibc's own POSIX AIO workers,
 * whose pthread_create is internal to the C library; io_uring's workers),
 * or while profiling was paused, or past the thread table. None of them
 * can be given a timer: a thread of a raw clone may share another
 * thread's thread-local storage, or have none the agent knows, and the
 * profiling signal's handler would then write into another thread's
 * state. Their CPU time still goes into the CPU profile, without stacks:
 * one sample per thread and interval, under the frame OTP_FOREIGN_NAME
 * (profile.h) with the thread's name and id, so that the profile holds
 * the process's work and says which part it cannot break down.
 *
 * A thread counts once it is seen twice, a tick apart (an app thread
 * between its clone and its first instruction, or between its exit hook
 * and its end, is not in the agent's table either), or at the final
 * export. One that starts and ends between two looks is not seen, and
 * one that ends loses the time since the last look: looks are each tick
 * (100 ms), or each second in a process of more than 64 threads whose
 * number has not changed, and only while the agent's thread runs (from
 * the first second on), and at the end.
 */
#ifndef OTP_FOREIGN_H
#define OTP_FOREIGN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Called for each such thread with the CPU time it used since the last
 * report (all of it at the first), and the whole sample periods that
 * time completes (the remainders are carried per thread). */
typedef void (*otp_foreign_fn)(void *ctx, pid_t tid, const char *name, int64_t ns, int64_t count);

/* Looks for such threads when the process has more of them than the
 * agent's table has live ones (one stat of /proc/self/task, the usual
 * answer being no). `self`: the calling agent thread. Flusher only. */
void otp_foreign_scan(pid_t self, bool final, int64_t period_ns, otp_foreign_fn fn, void *ctx);

/* In a fork child: the parent's threads are not the child's. */
void otp_foreign_atfork_child(void);

#endif
