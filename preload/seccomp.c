/*
 * The calls that install seccomp: prctl(PR_SET_SECCOMP, ...) and the
 * seccomp system call made through syscall() (how libseccomp and most
 * programs reach it; glibc has no seccomp() wrapper), and landlock's
 * landlock_restrict_self, also only through syscall(). Before the real
 * call the agent stops for good (agent/sandbox.h).
 *
 * Only calls that can succeed stop the agent: libseccomp probes the
 * kernel with SECCOMP_SET_MODE_FILTER and a NULL program (EFAULT), and
 * SECCOMP_GET_ACTION_AVAIL / GET_NOTIF_SIZES only ask questions.
 *
 * syscall() is also what the agent itself uses for gettid, tgkill and
 * getdents64, some of them inside the SIGPROF handler: the wrapper is
 * async-signal-safe. The next definition is looked up by the
 * constructor; before that (other libraries' constructors), the call is
 * made directly.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "eng.h"
#include "fdguard.h"
#include "internal.h"
#include "next.h"
#include "ns.h"
#include "sandbox.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT long syscall(long number, ...);
EXPORT int prctl(int option, ...);

typedef long (*syscall_fn)(long, ...);
typedef int (*prctl_fn)(int, ...);
static syscall_fn real_syscall OTP_STARTUP_DATA;
static prctl_fn real_prctl OTP_STARTUP_DATA;

__attribute__((constructor(101))) static void otprof_seccomp_init(void)
{
    __atomic_store_n(&real_syscall, (syscall_fn)otp_next_sym("syscall"), __ATOMIC_RELEASE);
    __atomic_store_n(&real_prctl, (prctl_fn)otp_next_sym("prctl"), __ATOMIC_RELEASE);
}

/* prctl(PR_SET_SECCOMP, mode, prog) and seccomp(op, flags, args): the
 * OTP_SANDBOX_* mode a successful call would set, or 0. */
static int prctl_mode(long option, unsigned long a2, unsigned long a3)
{
    if (option != PR_SET_SECCOMP)
        return 0;
    if (a2 == SECCOMP_MODE_STRICT)
        return OTP_SANDBOX_STRICT;
    if (a2 == SECCOMP_MODE_FILTER && a3 != 0)
        return OTP_SANDBOX_FILTER;
    return 0;
}

static int seccomp_mode(unsigned long op, unsigned long args)
{
    if (op == SECCOMP_SET_MODE_STRICT)
        return OTP_SANDBOX_STRICT;
    if (op == SECCOMP_SET_MODE_FILTER && args != 0)
        return OTP_SANDBOX_FILTER;
    return 0;
}

/* clone3's flags, read without trusting the pointer (a bad one gets
 * EFAULT from the kernel, as bare, instead of a fault here). */
static bool clone3_forks(const void *args, size_t size)
{
    uint64_t flags;
    if (!args || size < sizeof flags)
        return false;
    struct iovec local = {&flags, sizeof flags}, remote = {(void *)args, sizeof flags};
    int e = errno;
    ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    errno = e;
    return n == (ssize_t)sizeof flags && !(flags & CLONE_VM);
}

/* What the agent does around an exec, a fork past glibc's fork
 * handlers, or an unshare or setns (as the wrappers in preload.c and ns.c
 * do), each when its engine is set; errno as the call left it. */
typedef struct {
    const otp_engine_t *exec, *fork, *solo;
    int token; /* the flusher's stop, for resume */
} around_t;

static void around_before(around_t *a, uintptr_t ra)
{
    int e = errno;
    if (a->exec)
        a->exec->before_exec();
    if (a->fork)
        a->fork->fork_prepare();
    if (a->solo)
        a->token = otp_ns_solo_begin(a->solo, ra);
    errno = e;
}

static void around_after(const around_t *a, long r)
{
    int e = errno;
    if (a->solo)
        otp_ns_solo_end(a->solo, a->token);
    if (a->exec)
        a->exec->after_failed_exec();
    if (a->fork) {
        if (r == 0)
            a->fork->fork_child();
        else
            a->fork->fork_parent();
    }
    errno = e;
}

EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    long r;
    if (OTP_UNLIKELY(otp_fdguard_syscall(number, a1, a2, a3, &r)))
        return r;
    /* The calls that restrict the process (an OTP_SANDBOX_* mode) or give
     * it a new root (an OTP_ROOT_* value; glibc has no pivot_root(), so
     * container set-ups reach it here), or replace its image (an exec
     * made here would lose the interval's samples, and a SIGPROF pending
     * across it would kill the new image), or fork it past glibc's fork
     * handlers (the child would pass for its parent: nothing it did was
     * exported), or end it (exit_group, as _exit: no destructors). One
     * switch: every other number goes by it. */
    int mode = 0, root = 0;
    bool exec = false, forks = false, solo = false;
    switch (number) {
    case SYS_seccomp:
        mode = seccomp_mode((unsigned long)a1, (unsigned long)a3);
        break;
    case SYS_landlock_restrict_self:
        mode = fcntl((int)a1, F_GETFD) >= 0 ? OTP_SANDBOX_LANDLOCK : 0; /* else EBADF, nothing restricted */
        break;
    case SYS_prctl:
        mode = prctl_mode(a1, (unsigned long)a2, (unsigned long)a3);
        break;
    case SYS_pivot_root:
        root = OTP_ROOT_PIVOT;
        break;
    case SYS_chroot:
        root = OTP_ROOT_CHROOT;
        break;
    case SYS_setns:
        root = OTP_ROOT_SETNS;
        solo = true; /* into a user namespace: single-threaded callers only */
        break;
    case SYS_unshare:
        solo = true; /* CLONE_NEWUSER: the same */
        break;
    case SYS_execve:
    case SYS_execveat:
        exec = true;
        break;
    case SYS_fork:
        forks = true;
        break;
    case SYS_exit_group:
        if (!otp_tls_in_agent && eng_running())
            otp_eng->shutdown();
        break;
    case SYS_clone: /* flags first on x86-64 */
        forks = !(a1 & CLONE_VM);
        break;
    case SYS_clone3:
        /* Only while the agent runs: after a seccomp filter (the agent
         * stopped) the read's own system call might be refused. */
        forks = eng_running() && clone3_forks((const void *)a1, (size_t)a2);
        break;
    default:
        break;
    }
    if (OTP_UNLIKELY(mode | root) && otp_eng) {
        int e = errno;
        if (mode)
            otp_eng->sandbox_before_seccomp(mode);
        else
            otp_eng->sandbox_before_root(root, root == OTP_ROOT_SETNS ? NULL : (const char *)a1, (int)a1, (int)a2);
        errno = e;
    }
    /* Fork steps and the flusher's stop not from inside the agent's own
     * code (a signal handler of the app's that forks may have interrupted
     * it holding its allocator's lock, which the fork steps take). */
    around_t ar = {exec ? otp_eng : NULL, forks && !otp_tls_in_agent ? otp_eng : NULL,
                   solo && !otp_tls_in_agent ? otp_eng : NULL, 0};
    bool around = ar.exec || ar.fork || ar.solo;
    if (OTP_UNLIKELY(around))
        around_before(&ar, (uintptr_t)__builtin_return_address(0));
    syscall_fn f = __atomic_load_n(&real_syscall, __ATOMIC_ACQUIRE);
    r = OTP_LIKELY(f != NULL) ? f(number, a1, a2, a3, a4, a5, a6) : otp_direct_syscall(number, a1, a2, a3, a4, a5, a6);
    if (OTP_UNLIKELY(around))
        around_after(&ar, r);
    if (OTP_UNLIKELY(root) && r == 0)
        otp_ns_after_new_root();
    return r;
}

EXPORT int prctl(int option, ...)
{
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
    unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    int mode = prctl_mode(option, a2, a3);
    if (OTP_UNLIKELY(mode) && otp_eng) {
        int e = errno;
        otp_eng->sandbox_before_seccomp(mode);
        errno = e;
    }
    prctl_fn f = __atomic_load_n(&real_prctl, __ATOMIC_ACQUIRE);
    int rc = f ? f(option, a2, a3, a4, a5)
               : (int)otp_direct_syscall(SYS_prctl, option, (long)a2, (long)a3, (long)a4, (long)a5, 0);
    /* A thread that names itself (ruby, many pools) may end before the
     * next export reads names from /proc: keep the name now. */
    if (option == PR_SET_NAME && rc == 0 && a2 && otp_eng) {
        int e = errno;
        otp_eng->thread_note_name(NULL, (const char *)a2);
        errno = e;
    }
    return rc;
}
