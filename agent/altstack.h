/*
 * Per-thread stacks of the agent's, in one mapping per thread slot:
 *  - an alternate signal stack: the SIGPROF handler runs with SA_ONSTACK,
 *    so it never lands on a small or unguarded stack (Go's goroutine
 *    stacks, threads created with PTHREAD_STACK_MIN). A thread that
 *    already has an alternate stack (the app's, Go's) keeps it; one
 *    without gets this one.
 *  - an unwind stack: libunwind needs ~5 KiB, more than an app's small
 *    alternate stack may have left, so the walk itself runs here and the
 *    signal stack only holds the handler's few hundred bytes.
 * Each region has a guard page below it. The mapping is outside the app's
 * heap and stays with the slot for reuse.
 */
#ifndef OTP_ALTSTACK_H
#define OTP_ALTSTACK_H

#include <signal.h>
#include <stddef.h>

/* Apps that set SA_ONSTACK on their own handlers also run on the signal
 * stack, and their signals may land on the unwind stack: both are ample. */
#define OTP_ALTSTACK_BYTES (64u * 1024)
#define OTP_UNWSTACK_BYTES (64u * 1024)

/* Bytes of one mapping (both stacks and their guard pages). */
size_t otp_altstack_map_size(void);
/* Maps *mem if it is NULL. 0 or -1. Not signal-safe. */
int otp_altstack_map(void **mem);
/* Calling thread: if it has no alternate stack, installs the one in *mem
 * (mapping it first if needed). Returns 1 if ours is installed, 0 if the
 * thread keeps its own, -1 on failure (the handler then runs on the
 * thread's stack). */
int otp_altstack_install(void **mem);
/* Calling thread, at its exit: if ours is the installed stack, disables
 * it; either way gives the pages of both regions back. */
void otp_altstack_release(void *mem);
/* The app's sigaltstack, for the calling thread with agent stacks in
 * *mem: the agent's stack is invisible (reads as disabled), an app's
 * stack replaces it, and disabling puts the agent's back, so the SIGPROF
 * handler always has a signal stack. Same contract as sigaltstack. */
int otp_altstack_app(void **mem, const stack_t *ss, stack_t *old, int (*real)(const stack_t *, stack_t *));

/* The top of the unwind stack in mem (16-byte aligned), NULL if none. */
void *otp_altstack_unwind_top(void *mem);

#endif
