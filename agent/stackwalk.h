/*
 * The agent's own stack walker for x86-64: each frame's shape comes from
 * the object's call-frame information (cfi.h), kept in one table shared
 * by all threads (a fixed 256 KiB, touched only where used) instead of
 * libunwind's 256 KiB per unwinding thread. Every read of the stack is
 * checked against the thread's stack bounds, taken at its start, and the
 * walk only ever moves up the stack: a wrong shape can make a wrong
 * stack, never a fault. Code without call-frame information (JIT code)
 * is stepped through by its frame pointer, inside the same bounds. Where
 * it cannot follow a frame (a shape cfi.h does not answer, a stack it has
 * no bounds for: an alternate signal stack, a coroutine's) it says so
 * and the caller falls back to libunwind (unwind.h).
 *
 * Walks and lookups are async-signal-safe and take no lock.
 */
#ifndef OTP_STACKWALK_H
#define OTP_STACKWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

/* The calling thread's stack, for its walks: [lo, hi) is mapped (or, on
 * the main thread, grows on demand). Normal context. */
void otp_stackwalk_set_bounds(uintptr_t lo, uintptr_t hi);
/* The main thread's bounds, from the C library's record of where its
 * stack starts and RLIMIT_STACK. Call on the main thread. */
void otp_stackwalk_main_thread(void);
/* A thread the C library created: `size` from the attributes it was
 * created with, `user_lo` the low end of a stack the app gave (else 0).
 * Call on that thread. */
void otp_stackwalk_pthread(size_t size, uintptr_t user_lo);
/* The stack size a new thread will have, from `attr` (NULL: the
 * process's defaults), and the low end of the app's own stack in
 * *user_lo (0: the C library maps one). Normal context. */
void otp_stackwalk_attr(const void *attr, size_t *size, uintptr_t *user_lo);
/* The calling thread's bounds; false when it has none. */
bool otp_stackwalk_bounds(uintptr_t *lo, uintptr_t *hi);

/* Walks from an interrupted context: frames[0] is its PC. Returns the
 * frame count, or -1 when the walk could not be made (fall back). */
int otp_stackwalk_signal(const ucontext_t *uc, uint64_t *out, int max);
/* Walks from the caller of this function: out[0] is the return address
 * into the caller (the caller's own frame), then its callers. -1: fall
 * back. */
int otp_stackwalk_here(uint64_t *out, int max);
/* The same in two steps, so that the walk itself can run on another
 * stack: the caller's return address, stack pointer after the return and
 * rbp; then the walk from them (out[0] is that return address). */
void otp_stackwalk_regs(uint64_t regs[3]);
int otp_stackwalk_from(const uint64_t regs[3], uint64_t *out, int max);

/* Python's perf trampolines (python -X perf, PYTHONPERFSUPPORT: 3.12
 * and later on x86-64): JIT stubs of 11 bytes, "sub $8,%rsp; call *%rcx;
 * add $8,%rsp; ret", one per code object, named py::... in the perf map.
 * They keep no frame pointer, so a walk through one by rbp skips or
 * loses the Python frames above it. Their start addresses, ascending,
 * published whole (the array is the caller's and must outlive any walk
 * that may still read it: the caller frees a replaced array only some
 * publications later). A return address 6 bytes into one is stepped
 * with CFA = sp + 16, without reading the code (an execute-only page
 * would fault). Normal context. */
typedef struct otp_tramps {
    size_t n;
    uint64_t start[];
} otp_tramps_t;
void otp_stackwalk_set_tramps(const otp_tramps_t *t);

/* Forgets the frame shapes learnt, after code was unloaded (its
 * addresses may hold other code later). Normal context. */
void otp_stackwalk_forget(void);

/* Bytes of the shared table in use (pages holding a shape), for the
 * memory cap. */
size_t otp_stackwalk_resident(void);
/* Shapes in the shared table, and walks that fell back; for the debug
 * log and tests. */
size_t otp_stackwalk_cached(void);
uint64_t otp_stackwalk_fallbacks(void);

#endif
