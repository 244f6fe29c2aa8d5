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

static const char preload_key[] = "LD_PRELOAD=";

/* The environment's LD_PRELOAD string, or NULL. */
static char **preload_slot(void)
{
    for (char **ep = environ; ep && *ep; ep++)
        if (strncmp(*ep, preload_key, sizeof preload_key - 1) == 0)
            return ep;
    return NULL;
}

/* The next entry of an LD_PRELOAD value from *r (the loader splits on ':'
 * and ' '), its length in *n (0 at the end); *r moves past it. */
static char *next_entry(char **r, size_t *n)
{
    while (is_sep(**r))
        (*r)++;
    char *t = *r;
    while (**r && !is_sep(**r))
        (*r)++;
    *n = (size_t)(*r - t);
    return t;
}

void otp_ns_after_new_root(void)
{
    int e = errno;
    Dl_info self;
    char **ep = preload_slot();
    if (!ep || !dladdr((const void *)&otp_ns_after_new_root, &self) || !self.dli_fname ||
        access(self.dli_fname, R_OK) == 0) {
        errno = e;
        return;
    }
    const char *base = strrchr(self.dli_fname, '/');
    base = base ? base + 1 : self.dli_fname;
    size_t nbase = strlen(base);
    /* The entries kept are joined with ':'. Only ever shorter, so in
     * place. */
    char *v = *ep + sizeof preload_key - 1, *w = v, *r = v;
    size_t n;
    for (char *t; (t = next_entry(&r, &n)), n > 0;) {
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
    if (w == v)
        unsetenv("LD_PRELOAD");
    errno = e;
}

void otp_ns_absolute_preload(void)
{
    int e = errno;
    char **ep = preload_slot();
    /* The loader names a preloaded object by its LD_PRELOAD entry as
     * written; only one with a '/' that is not absolute depends on the
     * working directory (a bare name is searched for in the library
     * path). Most starts have none: no lookup then. */
    char *v = ep ? *ep + sizeof preload_key - 1 : NULL, *r = v, *t;
    size_t n;
    bool relative = false;
    while (v && !relative && (t = next_entry(&r, &n), n > 0))
        relative = t[0] != '/' && memchr(t, '/', n);
    Dl_info self;
    char abs[PATH_MAX];
    if (!relative || !dladdr((const void *)&otp_ns_absolute_preload, &self) || !self.dli_fname ||
        self.dli_fname[0] == '/' || !strchr(self.dli_fname, '/') || !realpath(self.dli_fname, abs)) {
        errno = e;
        return;
    }
    size_t nrel = strlen(self.dli_fname), nabs = strlen(abs);
    const char *hit = NULL;
    for (r = v; !hit && (t = next_entry(&r, &n), n > 0);)
        if (n == nrel && memcmp(t, self.dli_fname, nrel) == 0)
            hit = t;
    size_t nv = strlen(v);
    char *s = hit ? malloc(sizeof preload_key - 1 + nv - nrel + nabs + 1) : NULL;
    if (s) {
        /* Never freed: the environment keeps pointing at it. */
        size_t pre = (size_t)(hit - v);
        memcpy(s, preload_key, sizeof preload_key - 1);
        memcpy(s + sizeof preload_key - 1, v, pre);
        memcpy(s + sizeof preload_key - 1 + pre, abs, nabs);
        strcpy(s + sizeof preload_key - 1 + pre + nabs, hit + nrel);
        *ep = s;
    }
    errno = e;
}

int otp_ns_solo_begin(const otp_engine_t *e, uintptr_t ra)
{
    e->before_new_root(ra);
    return e->quiesce();
}

void otp_ns_solo_end(const otp_engine_t *e, int token)
{
    e->resume(token);
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
            int token_ = otp_ns_solo_begin(eng_, (uintptr_t)__builtin_return_address(0));          \
            rc_ = real args;                                                                       \
            int e_ = errno;                                                                        \
            otp_ns_solo_end(eng_, token_);                                                         \
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
