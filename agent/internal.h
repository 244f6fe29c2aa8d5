/*
 * Shared attributes and small helpers for every agent module.
 * Everything declared outside agent/otprof.h is hidden (-fvisibility=hidden);
 * cross-module internals use the otp_ prefix so the version script's
 * otprof_* glob can never export them by accident.
 */
#ifndef OTP_INTERNAL_H
#define OTP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define OTP_LIKELY(x) __builtin_expect(!!(x), 1)
#define OTP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define OTP_TLS __thread __attribute__((tls_model("initial-exec")))
#define OTP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define OTP_UNUSED __attribute__((unused))
/* Small variables that every process writes at start-up, even with the
 * agent disabled (the preload wrappers' next symbols, the config's and
 * the log's state): in .data, whose page the loader writes anyway,
 * rather than scattered over the 3 MiB .bss, where each one costs the
 * process a page fault of its own. */
#define OTP_STARTUP_DATA __attribute__((section(".data.otp_startup")))
/* Large zero-initialised arrays that a process starting and exiting never
 * touches: in .lbss, which the linker places after all of .bss, so that
 * the small variables every start does write share a few pages instead
 * of lying between the arrays (a page fault each), and a page-aligned
 * array does not page-align .bss itself, which then begins on .data's
 * last page (written by the loader anyway). */
#define OTP_BIG_BSS __attribute__((section(".lbss")))

/* Touches page `page` of a mapped or .bss table by an atomic or of 0 into
 * `atomic_ptr` (any atomic object on that page) the first time, as
 * recorded in the bit array `bits`: a fresh page then costs one fault.
 * Read first, it would map the zero page, and the write that mostly
 * follows would fault again to replace it. Async-signal-safe. */
#define OTP_TOUCH_PAGE(bits, page, atomic_ptr)                                                    \
    do {                                                                                         \
        size_t pg_ = (page);                                                                     \
        uint64_t bit_ = (uint64_t)1 << (pg_ & 63);                                               \
        if (!(atomic_load_explicit(&(bits)[pg_ >> 6], memory_order_relaxed) & bit_)) {           \
            atomic_fetch_or_explicit((atomic_ptr), 0, memory_order_relaxed);                     \
            atomic_fetch_or_explicit(&(bits)[pg_ >> 6], bit_, memory_order_relaxed);             \
        }                                                                                        \
    } while (0)

/* Hard limits; config values are clamped to them. */
#define OTP_MAX_FRAMES 256
/* The name the agent's thread gives itself; the threads it starts
 * (libcurl's resolver) inherit it. */
#define OTP_AGENT_THREAD_NAME "otprof-flush"
#define OTP_MAX_THREADS 4096

#define OTP_VERSION "0.1.0"

/* Set while the calling thread runs agent code that may allocate or
 * unwind (flusher, heap slow path): malloc hooks pass straight through and
 * the SIGPROF handler drops the sample instead of recursing. */
extern __thread int otp_tls_in_agent;

/* The agent's code: [0] the shim, [1] the engine (engine.h), as
 * [lo, hi) address ranges, set by the shim when it starts and when it
 * has loaded the engine; {0, 0} until then. Calls and frames from there
 * are the agent's own. */
typedef struct otp_code_range {
    uintptr_t lo, hi;
} otp_code_range_t;
extern otp_code_range_t otp_agent_code[2];

static inline bool otp_is_agent_code(uintptr_t pc)
{
    return (pc >= otp_agent_code[0].lo && pc < otp_agent_code[0].hi) ||
           (pc >= otp_agent_code[1].lo && pc < otp_agent_code[1].hi);
}

/* pid the agent's state belongs to; a vfork child sees getpid() differ
 * and must not touch any shared state. */
extern int otp_agent_pid;

#endif
