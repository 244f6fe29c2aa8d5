/*
 * The next definition of an interposed function (dlsym RTLD_NEXT: glibc's,
 * or another preloaded library's). dlsym may allocate: the allocation
 * hooks pass through while otp_tls_in_agent is set.
 */
#ifndef OTP_PRELOAD_NEXT_H
#define OTP_PRELOAD_NEXT_H

#include <dlfcn.h>
#include <errno.h>

#include "internal.h"

static inline void *otp_next_sym(const char *name)
{
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    void *p = dlsym(RTLD_NEXT, name);
    otp_tls_in_agent = saved;
    return p;
}

/* Looks var up on first use. */
#define OTP_RESOLVE(var, name)                                                                     \
    do {                                                                                           \
        if (__builtin_expect(!(var), 0))                                                           \
            (var) = (__typeof__(var))otp_next_sym(name);                                           \
    } while (0)

#define OTP_EXPORT __attribute__((visibility("default")))

/* glibc's syscall() without the call through it (which the agent
 * interposes): the raw call, -1 and errno for kernel errors.
 * Async-signal-safe. */
static inline long otp_direct_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    if ((unsigned long)ret > -4096UL) {
        errno = (int)-ret;
        return -1;
    }
    return ret;
}

/* preload/malloc.c: looks the real allocation functions up now, if no
 * allocation did yet. The constructor calls it before it loads the engine,
 * so the engine knows the app's allocator without waiting for some
 * allocation to reveal it. */
void otp_preload_resolve_allocator(void);
/* The app's malloc as resolved, or NULL (none yet, or its own). */
const void *otp_preload_app_malloc(void);
/* Serve this thread's allocations from the bootstrap pool (on) or not. */
void otp_preload_pool_only(bool on);

#endif
