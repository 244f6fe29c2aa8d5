/*
 * The next definition of an interposed function (dlsym RTLD_NEXT: glibc's,
 * or another preloaded library's). dlsym may allocate: the allocation
 * hooks pass through while otp_tls_in_agent is set.
 */
#ifndef OTP_PRELOAD_NEXT_H
#define OTP_PRELOAD_NEXT_H

#include <dlfcn.h>

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
