/*
 * _exit and _Exit: the process ends without destructors, so what it
 * sampled is exported first (bounded by export.shutdown_timeout_ms, as at
 * exit). Daemons' parents, fork children that never exec and the children
 * of browsers and build tools end this way. A vfork child (another pid)
 * and a call made inside the agent itself go straight through; a process
 * that sampled nothing pays one check.
 *
 * quick_exit runs the at_quick_exit handlers, newest first, and then
 * _Exit from inside the C library, which no wrapper sees: a handler of
 * ours, registered by the constructor (before the app's), runs last.
 */
#include <dlfcn.h>
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
