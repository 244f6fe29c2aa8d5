/*
 * The app's signal mask calls. While CPU profiling owns SIGPROF, SIGPROF's
 * blocked state is virtual (agent/vmask.h): the app reads back exactly the
 * mask it set, SIGPROF included, while the profiling signal keeps coming.
 * Calls from the agent itself (its fork handlers, its private allocator,
 * libunwind inside a sample) reach the real functions.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "eng.h"
#include "internal.h"
#include "next.h"

#define EXPORT __attribute__((visibility("default")))

typedef int (*mask_fn)(int, const sigset_t *, sigset_t *);
typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                        const posix_spawnattr_t *, char *const[], char *const[]);

static mask_fn real_sigprocmask, real_pthread_sigmask;
static spawn_fn real_posix_spawn, real_posix_spawnp;

/* Calls made from inside the agent's own objects pass straight through
 * (asked only once the engine runs, so both ranges are known). */
static bool from_agent(const void *ra)
{
    return otp_is_agent_code((uintptr_t)ra);
}

static bool virtual_mask(const void *ra)
{
    const otp_engine_t *e = otp_eng;
    return e && e->vmask_owned() && !from_agent(ra) && e->running_here();
}

/* libunwind inside one of the agent's walks (see otp_unwind_absorb_mask):
 * at most one system call per walk. It only ever restores what it saved,
 * and gets back what it saved. */
static bool walk_mask(const void *ra, const sigset_t *set, sigset_t *old)
{
    (void)set;
    const otp_engine_t *e = otp_eng;
    return e && e->unwind_absorb_mask(ra, old);
}

/* sigprocmask's contract, on top of pthread_sigmask's. */
static int as_sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    OTP_RESOLVE(real_pthread_sigmask, "pthread_sigmask");
    int rc = otp_eng->vmask_change(how, set, old, real_pthread_sigmask);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return 0;
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    if (walk_mask(__builtin_return_address(0), set, old))
        return 0;
    OTP_RESOLVE(real_sigprocmask, "sigprocmask");
    if (!virtual_mask(__builtin_return_address(0)))
        return real_sigprocmask(how, set, old);
    return as_sigprocmask(how, set, old);
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    if (walk_mask(__builtin_return_address(0), set, old))
        return 0;
    OTP_RESOLVE(real_pthread_sigmask, "pthread_sigmask");
    if (!virtual_mask(__builtin_return_address(0)))
        return real_pthread_sigmask(how, set, old);
    return otp_eng->vmask_change(how, set, old, real_pthread_sigmask);
}

static bool hold_prof(sigset_t *old)
{
    const otp_engine_t *e = otp_eng;
    if (!(e && e->vmask_owned() && e->running_here() && e->vmask_prof_blocked()))
        return false;
    OTP_RESOLVE(real_pthread_sigmask, "pthread_sigmask");
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    return real_pthread_sigmask(SIG_BLOCK, &prof, old) == 0;
}

/* A spawned child inherits the real mask: while the app has SIGPROF
 * blocked, block it really for the call (our samples just wait). */
static int spawn(spawn_fn fn, pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (!fn)
        return ENOSYS;
    sigset_t old;
    bool held = hold_prof(&old);
    int rc = fn(pid, path, fa, attr, argv, envp);
    for (int i = 0; rc == EAGAIN && otp_preload_task_retry(i); i++)
        rc = fn(pid, path, fa, attr, argv, envp);
    if (held)
        real_pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    OTP_RESOLVE(real_posix_spawn, "posix_spawn");
    return spawn(real_posix_spawn, pid, path, fa, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    OTP_RESOLVE(real_posix_spawnp, "posix_spawnp");
    return spawn(real_posix_spawnp, pid, file, fa, attr, argv, envp);
}

/* system() and popen() spawn through glibc's internal posix_spawn, which
 * passes the calling thread's real mask on as well. */
typedef int (*system_fn)(const char *);
typedef FILE *(*popen_fn)(const char *, const char *);
static system_fn real_system;
static popen_fn real_popen;

EXPORT int system(const char *cmd)
{
    OTP_RESOLVE(real_system, "system");
    if (!real_system)
        return -1;
    sigset_t old;
    bool held = hold_prof(&old);
    int rc = real_system(cmd);
    for (int i = 0; rc < 0 && errno == EAGAIN && otp_preload_task_retry(i); i++)
        rc = real_system(cmd);
    if (held)
        real_pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

EXPORT FILE *popen(const char *cmd, const char *mode)
{
    OTP_RESOLVE(real_popen, "popen");
    if (!real_popen)
        return NULL;
    sigset_t old;
    bool held = hold_prof(&old);
    FILE *f = real_popen(cmd, mode);
    for (int i = 0; !f && errno == EAGAIN && otp_preload_task_retry(i); i++)
        f = real_popen(cmd, mode);
    int e = errno;
    if (held)
        real_pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return f;
}
