/*
 * Calls that need a single-threaded process, or that glibc applies to
 * every thread: the agent's flusher is stopped and joined around them,
 * with every sample kept for its next run, so each call behaves exactly
 * as it would without the agent.
 *
 * - unshare(CLONE_NEWUSER) and setns into a user or mount namespace fail
 *   with EINVAL in a multi-threaded caller.
 * - Before any of them, and before chroot, libunwind is loaded if it is
 *   wanted and not yet: the new root or namespace may not have it.
 * - The set*id family is applied by glibc to every thread, and glibc
 *   aborts the process when the threads disagree. Capabilities kept over
 *   a uid change (PR_SET_KEEPCAPS) are kept only by the thread that asked,
 *   so after setresuid the flusher would lack CAP_SETGID that the app's
 *   thread still has, and the app's next setresgid would abort (setpriv
 *   --reuid=... --regid=... does exactly this).
 */
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <unistd.h>

#include "eng.h"
#include "internal.h"
#include "next.h"

#define EXPORT __attribute__((visibility("default")))


/* One wrapper: the next definition, called with the flusher stopped. */
#define SOLO(name, params, args)                                                                   \
    EXPORT int name params                                                                         \
    {                                                                                              \
        static int(*real) params;                                                                  \
        if (!real)                                                                                 \
            real = (int(*) params)otp_next_sym(#name);                                                 \
        if (!real) {                                                                               \
            errno = ENOSYS;                                                                        \
            return -1;                                                                             \
        }                                                                                          \
        const otp_engine_t *eng_ = otp_eng;                                                        \
        if (otp_tls_in_agent || !eng_)                                                             \
            return real args;                                                                      \
        eng_->before_new_root((uintptr_t)__builtin_return_address(0));                             \
        int token_ = eng_->quiesce();                                                              \
        int rc_ = real args;                                                                       \
        int e_ = errno;                                                                            \
        eng_->resume(token_);                                                                      \
        errno = e_;                                                                                \
        return rc_;                                                                                \
    }

SOLO(unshare, (int flags), (flags))
SOLO(setns, (int fd, int nstype), (fd, nstype))
SOLO(setuid, (uid_t u), (u))
SOLO(setgid, (gid_t g), (g))
SOLO(seteuid, (uid_t u), (u))
SOLO(setegid, (gid_t g), (g))
SOLO(setreuid, (uid_t r, uid_t e), (r, e))
SOLO(setregid, (gid_t r, gid_t e), (r, e))
SOLO(setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))
SOLO(setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))
SOLO(setgroups, (size_t n, const gid_t *list), (n, list))

EXPORT int chroot(const char *path)
{
    static int (*real)(const char *);
    if (!real)
        real = (int (*)(const char *))otp_next_sym("chroot");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    if (!otp_tls_in_agent && otp_eng)
        otp_eng->before_new_root((uintptr_t)__builtin_return_address(0));
    return real(path);
}
