/*
 * pthread_setname_np: a thread's new name is kept in its slot at once, so
 * that samples of a thread that renames itself and then ends (before the
 * next export reads names from /proc) carry the name the app gave it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include "eng.h"
#include "internal.h"
#include "next.h"

#define EXPORT __attribute__((visibility("default")))

typedef int (*setname_fn)(pthread_t, const char *);

EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
    static setname_fn real;
    setname_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!f) {
        f = (setname_fn)otp_next_sym("pthread_setname_np");
        if (!f)
            return ENOSYS;
        __atomic_store_n(&real, f, __ATOMIC_RELEASE);
    }
    int rc = f(th, name);
    /* Another thread's slot is found by the flusher's next /proc read. */
    if (rc == 0 && otp_eng && pthread_equal(th, pthread_self()))
        otp_eng->thread_note_name(NULL, name);
    return rc;
}
