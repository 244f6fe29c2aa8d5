/*
 * _exit and _Exit: the process ends without destructors, so what it
 * sampled is exported first (bounded by export.shutdown_timeout_ms, as at
 * exit). Daemons' parents, fork children that never exec and the children
 * of browsers and build tools end this way. A vfork child (another pid)
 * and a call made inside the agent itself go straight through; a process
 * that sampled nothing pays one check.
 *
 * daemon's parent ends with the C library's internal _exit: see below.
 *
 * quick_exit runs the at_quick_exit handlers, newest first, and then
 * _Exit from inside the C library, which no wrapper sees: a handler of
 * ours, registered by the constructor (before the app's), runs last.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "eng.h"
#include "internal.h"
#include "next.h"

#define EXPORT __attribute__((visibility("default")))

typedef void (*exit_fn)(int);

/* Resolved at load: _exit runs in vfork children and signal handlers,
 * where dlsym (which may allocate) must not. */
static exit_fn real_exit OTP_STARTUP_DATA, real_Exit OTP_STARTUP_DATA;

static void on_quick_exit(void)
{
    if (!otp_tls_in_agent && eng_running())
        otp_eng->shutdown();
}

__attribute__((constructor(101))) static void otprof_exit_init(void)
{
    real_exit = (exit_fn)otp_next_sym("_exit");
    real_Exit = (exit_fn)otp_next_sym("_Exit");
    at_quick_exit(on_quick_exit);
}

static __attribute__((noreturn)) void end_now(exit_fn f, int status)
{
    if (!otp_tls_in_agent && eng_running())
        otp_eng->shutdown();
    if (f)
        f(status);
    for (;;)
        syscall(SYS_exit_group, status);
}

EXPORT __attribute__((noreturn)) void _exit(int status)
{
    end_now(real_exit, status);
}

EXPORT __attribute__((noreturn)) void _Exit(int status)
{
    end_now(real_Exit, status);
}

/* daemon: glibc forks, and its parent leaves with the C library's
 * internal _exit, which the wrapper above never sees: the parent's whole
 * profile (what it did before daemon(), often its start-up) was lost.
 * The fork's parent handler ends it as _exit would, after the engine's
 * own fork steps (handlers registered earlier run first). */
static OTP_TLS int daemonizing;
static _Atomic int parent_hooked;

static void daemon_parent(void)
{
    if (daemonizing && !otp_tls_in_agent && eng_running())
        otp_eng->shutdown();
}

typedef int (*daemon_fn)(int, int);
static daemon_fn real_daemon;

EXPORT int daemon(int nochdir, int noclose)
{
    OTP_RESOLVE(real_daemon, "daemon");
    if (!real_daemon) {
        errno = ENOSYS;
        return -1;
    }
    int expect = 0;
    if (eng_running() && atomic_load(&parent_hooked) == 0 &&
        atomic_compare_exchange_strong(&parent_hooked, &expect, 1) &&
        pthread_atfork(NULL, daemon_parent, NULL) != 0)
        atomic_store(&parent_hooked, 0);
    daemonizing = 1;
    int rc = real_daemon(nochdir, noclose);
    int e = errno;
    daemonizing = 0;
    errno = e;
    return rc;
}
