/*
 * unshare and setns. Entering a new user namespace (and setns into a user
 * or mount namespace) requires a single-threaded caller: the agent's
 * flusher is stopped and joined around the call, with every sample kept
 * for its next run, so the call succeeds exactly when it would without
 * the agent.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>

#include "agent.h"
#include "internal.h"

#define EXPORT __attribute__((visibility("default")))

typedef int (*unshare_fn)(int);
typedef int (*setns_fn)(int, int);

static unshare_fn real_unshare;
static setns_fn real_setns;

static void *next_sym(const char *name)
{
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    void *p = dlsym(RTLD_NEXT, name);
    otp_tls_in_agent = saved;
    return p;
}

EXPORT int unshare(int flags)
{
    if (!real_unshare)
        real_unshare = (unshare_fn)next_sym("unshare");
    if (!real_unshare) {
        errno = ENOSYS;
        return -1;
    }
    if (otp_tls_in_agent)
        return real_unshare(flags);
    int token = otp_agent_quiesce();
    int rc = real_unshare(flags);
    int e = errno;
    otp_agent_resume(token);
    errno = e;
    return rc;
}

EXPORT int setns(int fd, int nstype)
{
    if (!real_setns)
        real_setns = (setns_fn)next_sym("setns");
    if (!real_setns) {
        errno = ENOSYS;
        return -1;
    }
    if (otp_tls_in_agent)
        return real_setns(fd, nstype);
    int token = otp_agent_quiesce();
    int rc = real_setns(fd, nstype);
    int e = errno;
    otp_agent_resume(token);
    errno = e;
    return rc;
}
