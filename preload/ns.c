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
 * - A new root (chroot, setns into another mount namespace; pivot_root in
 *   seccomp.c's syscall()) stops the agent first (agent/sandbox.h), and
 *   afterwards LD_PRELOAD may name a file the new root lacks (ns.h).
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
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eng.h"
#include "internal.h"
#include "next.h"
#include "ns.h"
#include "sandbox.h"

#define EXPORT __attribute__((visibility("default")))


extern char **environ;

static bool is_sep(char c)
{
    return c == ':' || c == ' ';
}

void otp_ns_after_new_root(void)
{
    int e = errno;
    Dl_info self;
    if (!dladdr((const void *)&otp_ns_after_new_root, &self) || !self.dli_fname || access(self.dli_fname, R_OK) == 0) {
        errno = e;
        return;
    }
    const char *base = strrchr(self.dli_fname, '/');
    base = base ? base + 1 : self.dli_fname;
    size_t nbase = strlen(base);
    static const char key[] = "LD_PRELOAD=";
    for (char **ep = environ; ep && *ep; ep++) {
        if (strncmp(*ep, key, sizeof key - 1) != 0)
            continue;
        /* The loader splits on ':' and ' '; the entries kept are joined
         * with ':'. Only ever shorter, so in place. */
        char *v = *ep + sizeof key - 1, *w = v, *r = v;
        while (*r) {
            while (is_sep(*r))
                r++;
            char *t = r;
            while (*r && !is_sep(*r))
                r++;
            size_t n = (size_t)(r - t);
            if (n == 0)
                break;
            const char *tb = t;
            for (const char *q = t; q < r; q++)
                if (*q == '/')
                    tb = q + 1;
            if ((size_t)(r - tb) == nbase && memcmp(tb, base, nbase) == 0)
                continue;
            if (w != v)
                *w++ = ':';
            memmove(w, t, n);
            w += n;
        }
        *w = '\0';
        /* Nothing left: unset, as it would be without the agent. */
        if (w == v) {
            unsetenv("LD_PRELOAD");
            break;
        }
    }
    errno = e;
}

void otp_ns_absolute_preload(void)
{
    int e = errno;
    Dl_info self;
    char abs[PATH_MAX];
    /* The loader names a preloaded object by its LD_PRELOAD entry as
     * written; only one with a '/' that is not absolute depends on the
     * working directory (a bare name is searched for in the library
     * path). */
    if (!dladdr((const void *)&otp_ns_absolute_preload, &self) || !self.dli_fname ||
        self.dli_fname[0] == '/' || !strchr(self.dli_fname, '/') || !realpath(self.dli_fname, abs)) {
        errno = e;
        return;
    }
    static const char key[] = "LD_PRELOAD=";
    size_t nrel = strlen(self.dli_fname), nabs = strlen(abs);
    for (char **ep = environ; ep && *ep; ep++) {
        if (strncmp(*ep, key, sizeof key - 1) != 0)
            continue;
        const char *v = *ep + sizeof key - 1, *r = v, *hit = NULL;
        while (*r && !hit) {
            while (is_sep(*r))
                r++;
            const char *t = r;
            while (*r && !is_sep(*r))
                r++;
            if ((size_t)(r - t) == nrel && memcmp(t, self.dli_fname, nrel) == 0)
                hit = t;
        }
        if (!hit)
            break;
        size_t nv = strlen(v);
        char *s = malloc(sizeof key - 1 + nv - nrel + nabs + 1);
        if (!s)
            break;
        /* Never freed: the environment keeps pointing at it. */
        size_t pre = (size_t)(hit - v);
        memcpy(s, key, sizeof key - 1);
        memcpy(s + sizeof key - 1, v, pre);
        memcpy(s + sizeof key - 1 + pre, abs, nabs);
        strcpy(s + sizeof key - 1 + pre + nabs, hit + nrel);
        *ep = s;
        break;
    }
    errno = e;
}

/* One wrapper: the next definition, called with the flusher stopped,
 * after `pre`, and followed by `post` when it succeeds. */
#define SOLO_PRE(name, params, args, pre, post)                                                    \
    EXPORT int name params                                                                         \
    {                                                                                              \
        static int(*real) params;                                                                  \
        if (!real)                                                                                 \
            real = (int(*) params)otp_next_sym(#name);                                             \
        if (!real) {                                                                               \
            errno = ENOSYS;                                                                        \
            return -1;                                                                             \
        }                                                                                          \
        if (otp_tls_in_agent)                                                                      \
            return real args;                                                                      \
        const otp_engine_t *eng_ = otp_eng;                                                        \
        int rc_;                                                                                   \
        if (!eng_) {                                                                               \
            rc_ = real args;                                                                       \
        } else {                                                                                   \
            pre;                                                                                   \
            eng_->before_new_root((uintptr_t)__builtin_return_address(0));                         \
            int token_ = eng_->quiesce();                                                          \
            rc_ = real args;                                                                       \
            int e_ = errno;                                                                        \
            eng_->resume(token_);                                                                  \
            errno = e_;                                                                            \
        }                                                                                          \
        if (rc_ == 0)                                                                              \
            post;                                                                                  \
        return rc_;                                                                                \
    }

#define SOLO(name, params, args) SOLO_PRE(name, params, args, (void)0, (void)0)

SOLO(unshare, (int flags), (flags))
SOLO(setuid, (uid_t u), (u))
SOLO(setgid, (gid_t g), (g))
SOLO(seteuid, (uid_t u), (u))
SOLO(setegid, (gid_t g), (g))
SOLO(setreuid, (uid_t r, uid_t e), (r, e))
SOLO(setregid, (gid_t r, gid_t e), (r, e))
SOLO(setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))
SOLO(setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))
SOLO(setgroups, (size_t n, const gid_t *list), (n, list))
/* Into another mount namespace: a new root (agent/sandbox.h). */
SOLO_PRE(setns, (int fd, int nstype), (fd, nstype),
         eng_->sandbox_before_root(OTP_ROOT_SETNS, NULL, fd, nstype), otp_ns_after_new_root())

EXPORT int chroot(const char *path)
{
    static int (*real)(const char *);
    if (!real)
        real = (int (*)(const char *))otp_next_sym("chroot");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    if (!otp_tls_in_agent && otp_eng) {
        otp_eng->sandbox_before_root(OTP_ROOT_CHROOT, path, -1, 0);
        otp_eng->before_new_root((uintptr_t)__builtin_return_address(0));
    }
    int rc = real(path);
    if (rc == 0)
        otp_ns_after_new_root();
    return rc;
}
