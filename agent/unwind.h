/*
 * Stack capture with libunwind, loaded privately with
 * dlopen(RTLD_NOW|RTLD_LOCAL) so its _Unwind_* exports never capture the
 * app's C++ exception handling, and so no lazy binding happens later in a
 * signal handler.
 */
#ifndef OTP_UNWIND_H
#define OTP_UNWIND_H

#include <stdbool.h>
#include <stdint.h>
#include <link.h>
#include <ucontext.h>

/* Stacks come from the agent's own walker first (stackwalk.h); this is
 * where a walk goes that it cannot follow. libunwind (with liblzma,
 * which it needs) costs ~0.3 ms to load, so the constructor only says
 * stacks are wanted (otp_unwind_want) and it is loaded once a walk needs
 * it (otp_unwind_need): at the agent thread's next tick, the next sampled
 * allocation or thread start, or in the SIGPROF handler when the
 * interrupted code is the app's own (otp_unwind_signal); and before a
 * chroot whether needed or not. Until then such samples hold only their
 * PC. Each load entry returns 0 when ready, -1 when not (yet). */
void otp_unwind_want(void);
/* Wanted, needed (a walk went to libunwind: stackwalk.h) and not yet
 * loaded (nor failed). async-signal-safe. */
bool otp_unwind_pending(void);
/* Wanted and not yet loaded, needed or not: a change of root loads it
 * while the file can still be found. */
bool otp_unwind_pending_any(void);
/* A walk wants libunwind: the next safe place loads it. async-signal-safe. */
void otp_unwind_need(void);
/* Normal context, on the agent's own thread (any stack will do). */
int otp_unwind_init(void);
/* Normal context, on an app thread with an agent slot (the loader runs
 * on its unwind stack), where the loader's locks may be taken: not from
 * inside the loader, nor in a vfork child. The caller sets
 * otp_tls_in_agent (the loader's allocations are not the app's). */
int otp_unwind_load(void);
/* The allocator the app's allocations reach (preload), which decides
 * whether a handler may load: see load_safe in unwind.c. */
void otp_unwind_note_allocator(const void *real_malloc);
/* Whether the allocator the app's allocations reach is libc's. */
bool otp_unwind_allocator_libc(void);
/* Says once, in normal context, why libunwind could not be used when a
 * handler found out. */
void otp_unwind_report(void);
void otp_unwind_atfork_child(void);
bool otp_unwind_ready(void);

/* Sets up libunwind's thread-locals for the calling thread, outside any
 * signal handler (their first access allocates). Cheap; idempotent. The
 * SIGPROF handler unwinds only threads that did this (others get their
 * leaf PC only): threads the agent starts, the main thread, and any thread
 * that took a heap sample. */
void otp_unwind_warm(void);

/* The dl_iterate_phdr that libunwind sees (preload exports the symbol).
 * While the agent unwinds it never goes to glibc's, which takes the
 * loader's lock: a thread that holds that lock (inside dlclose, which even
 * calls free with it held) and is interrupted by SIGPROF would otherwise
 * deadlock against another thread's unwinder. Instead the one object that
 * libunwind looks for is found with glibc's lock-free _dl_find_object.
 * async-signal-safe. */
int otp_unwind_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data,
                            int (*real)(int (*)(struct dl_phdr_info *, size_t, void *), void *));

/* Frames of the handler itself, above the interrupted one, that a walk
 * from inside the handler may see and that are then dropped. */
#define OTP_UNWIND_SLACK 16

/* A mask change libunwind (its return address `ra`) asks for inside this
 * thread's SIGPROF handler walk or a sampled allocation's walk (not, say,
 * an app's fault handler run from there): true when it is answered here,
 * *old set to "all blocked", with no system call. The handler's sa_mask
 * blocks every asynchronous signal already; an allocation's walk blocks
 * them at its first such change, until the walk ends. libunwind makes a
 * block-all and a restore around each of its locks, several per frame
 * it has not cached. async-signal-safe. */
bool otp_unwind_absorb_mask(const void *ra, sigset_t *old);

/* Samples whose thread had no unwinder cache yet and no room in the
 * memory cap for one (memcap.h): kept with their leaf PC only (CPU), or
 * walked frame by frame without the cache (heap). */
uint64_t otp_unwind_capped_samples(void);
/* CPU samples kept with their PC only because libunwind was still to be
 * loaded and the interrupted code was not the app's own (libc, the
 * loader): until the thread's next allocation loads it. */
uint64_t otp_unwind_early_samples(void);
/* Bytes of libunwind's frame caches held by running threads (estimated:
 * OTP_UNW_CACHE_BYTES each). async-signal-safe. */
size_t otp_unwind_cache_bytes(void);

/* async-signal-safe. Captures the interrupted stack from inside a signal
 * handler: strips the handler's own frames so out[0] is the interrupted
 * PC (uc's RIP). `out` has room for max + OTP_UNWIND_SLACK frames (it is
 * the walk's scratch space too: nothing is copied through the stack).
 * Returns the number of frames kept, at most max (>= 1). */
int otp_unwind_signal(const ucontext_t *uc, uint64_t *out, int max);

/* Captures the caller's stack into out[max], skipping `skip` innermost
 * frames and this function's own (normal context, e.g. the malloc slow
 * path): at most max - skip - 1 frames. Returns the number of frames. */
int otp_unwind_here(uint64_t *out, int max, int skip);

/* A sampled allocation's walk with the agent's own walker (stackwalk.h):
 * out[0] is the return address into the caller. -1: hand it to
 * libunwind (otp_unwind_here). */
int otp_unwind_fast_here(uint64_t *out, int max);
/* The same walk without libunwind's per-thread frame cache, which costs
 * 256 KiB of freshly written memory (64 page faults) on a thread's first
 * walk and an munmap at its exit: for threads that take only a few
 * samples, walking frame by frame is far cheaper. Normal context only.
 * -1 when this libunwind lacks the interface (use otp_unwind_here). */
int otp_unwind_here_uncached(uint64_t *out, int max, int skip);

#endif
