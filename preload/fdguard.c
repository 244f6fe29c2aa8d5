/*
 * The app's calls that name descriptor numbers it may never have opened:
 * close, close_range, closefrom, dup2, dup3, fcntl (and the same made
 * through syscall()). Bare, a number the agent holds would be free; the
 * app's close or fcntl of it fails with EBADF, its bulk close passes over
 * it, and its dup2 onto it finds it free. Passing them on as they are
 * closed the agent's temp file or socket under it, after which the app's
 * next open took that number and got the agent's writes (agent/fds.h).
 *
 * Each wrapper asks two counters first (the agent holds nothing between
 * exports) and is async-signal-safe (but for a dup2 that waited its
 * limit, which logs, and closefrom on a kernel without close_range,
 * which looks glibc's up): close and dup2 go on to the next
 * definition, looked up by the constructor (another preloaded library
 * may wrap close too), before it to glibc's __close and __dup2 (close
 * stays a cancellation point); the rest are the plain system calls glibc
 * makes.
 * The agent's own calls (otp_tls_in_agent: its thread, an export on the
 * app's exiting thread, the libraries it calls there) pass through, a
 * close of one of its numbers forgetting it.
 */
#include "fdguard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <pthread.h>
#include <linux/close_range.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

#include "config.h"
#include "fds.h"
#include "internal.h"
#include "log.h"
#include "next.h"
#include "sys.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int close(int fd);
EXPORT int close_range(unsigned int lo, unsigned int hi, int flags);
EXPORT void closefrom(int lo);
EXPORT int dup2(int old, int fd);
EXPORT int dup3(int old, int fd, int flags);
EXPORT int socketpair(int domain, int type, int protocol, int sv[2]);
EXPORT int fcntl(int fd, int cmd, ...);

extern int __close(int fd);
extern int __dup2(int old, int fd);

typedef int (*close_fn)(int);
typedef int (*dup2_fn)(int, int);
static close_fn next_close OTP_STARTUP_DATA;
static dup2_fn next_dup2 OTP_STARTUP_DATA;

__attribute__((constructor(101))) static void otprof_fdguard_init(void)
{
    int e = errno;
    __atomic_store_n(&next_close, (close_fn)otp_next_sym("close"), __ATOMIC_RELEASE);
    __atomic_store_n(&next_dup2, (dup2_fn)otp_next_sym("dup2"), __ATOMIC_RELEASE);
    errno = e;
}

static int real_close(int fd)
{
    close_fn f = __atomic_load_n(&next_close, __ATOMIC_ACQUIRE);
    return f ? f(fd) : __close(fd);
}

/* syscall(SYS_close, fd): the system call itself, no cancellation point. */
static int sys_close(int fd)
{
    return (int)otp_direct_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
}

static atomic_flag dup_waited_said = ATOMIC_FLAG_INIT;

static void close_ended(void *arg)
{
    (void)arg;
    otp_fd_close_end();
}

static int guarded_close(int fd, int (*how)(int))
{
    if (otp_tls_in_agent)
        return otp_fd_owned(fd) ? otp_close(fd) : how(fd);
    otp_fd_close_begin();
    int rc = -1;
    /* close is a cancellation point: a thread cancelled in it must not
     * leave the agent's opens waiting. */
    pthread_cleanup_push(close_ended, NULL);
    if (otp_fd_owned(fd))
        otp_fd_settle();
    if (otp_fd_owned(fd))
        errno = EBADF;
    else
        rc = how(fd);
    pthread_cleanup_pop(0);
    otp_fd_close_end();
    return rc;
}

EXPORT int close(int fd)
{
    if (OTP_LIKELY(!otp_fd_busy()))
        return real_close(fd);
    return guarded_close(fd, real_close);
}

static int sys_close_range(unsigned int lo, unsigned int hi, int flags)
{
    return (int)otp_direct_syscall(SYS_close_range, lo, hi, flags, 0, 0, 0);
}

/* [lo, hi] less the agent's numbers, in pieces. With CLOSE_RANGE_UNSHARE
 * the caller closes in a table of its own, which the agent does not use. */
static int close_range_around(unsigned int lo, unsigned int hi, int flags)
{
    /* lo > hi: the kernel's EINVAL, as bare. */
    if (otp_tls_in_agent || (flags & CLOSE_RANGE_UNSHARE) || lo > hi)
        return sys_close_range(lo, hi, flags);
    otp_fd_close_begin();
    otp_fd_settle();
    int rc = 0;
    while (lo <= hi) {
        int k = otp_fd_owned_next(lo, hi);
        if (k < 0) {
            rc = sys_close_range(lo, hi, flags);
            break;
        }
        if ((unsigned int)k > lo && (rc = sys_close_range(lo, (unsigned int)k - 1, flags)) != 0)
            break;
        if ((unsigned int)k == hi)
            break;
        lo = (unsigned int)k + 1;
    }
    otp_fd_close_end();
    return rc;
}

EXPORT int close_range(unsigned int lo, unsigned int hi, int flags)
{
    return close_range_around(lo, hi, flags);
}

typedef void (*closefrom_fn)(int);
static closefrom_fn real_closefrom;

EXPORT void closefrom(int lo)
{
    if (lo < 0)
        lo = 0;
    if (close_range_around((unsigned int)lo, ~0U, 0) == 0)
        return;
    /* A kernel before 5.9: glibc's own walk of /proc/self/fd, which
     * closes the agent's numbers too. */
    OTP_RESOLVE(real_closefrom, "closefrom");
    if (real_closefrom)
        real_closefrom(lo);
}

/* Bare, fd would be free: the app's dup2 onto it waits for the agent to
 * be done with it (descriptors of an export: milliseconds; a transfer to
 * a slow collector: its timeout). Past that it goes ahead, and the agent
 * no longer closes that number (fds.h). */
static void wait_released(int fd)
{
    long long limit_ms = (long long)otp_cfg.export_timeout_ms + otp_cfg.shutdown_timeout_ms + 1000;
    for (long long waited_us = 0; otp_fd_owned(fd); waited_us += 200) {
        if (waited_us / 1000 >= limit_ms) {
            otp_fd_give_up(fd);
            otp_log_once(&dup_waited_said, OTP_LOG_WARN,
                         "the app's dup2 onto descriptor %d waited %lld ms for the agent to close it, and goes "
                         "ahead; the agent leaves that number to the app",
                         fd, limit_ms);
            return;
        }
        otp_pause_us(200);
    }
}

static int sys_dup(int old, int fd, int flags, bool three)
{
    if (three)
        return (int)otp_direct_syscall(SYS_dup3, old, fd, flags, 0, 0, 0);
    dup2_fn f = __atomic_load_n(&next_dup2, __ATOMIC_ACQUIRE);
    return f ? f(old, fd) : __dup2(old, fd);
}

/* dup2 and dup3 onto fd. EBUSY is the kernel's answer while another
 * thread's open has taken fd and not yet filled it: in a program that is
 * single-threaded bare, the agent's open. Once filled, the number is the
 * agent's and the call waits as above. */
static int dup_onto(int old, int fd, int flags, bool three)
{
    for (int tries = 0;; tries++) {
        int rc;
        if (OTP_UNLIKELY(otp_fd_busy()) && !otp_tls_in_agent) {
            if (otp_fd_owned(old))
                otp_fd_settle(); /* the app's own, opened after the agent's close */
            if (otp_fd_owned(old)) {
                errno = EBADF;
                return -1;
            }
            /* On 0-2 the agent holds only placeholders (agent/fds.h),
             * which nothing reads or writes: the app takes the number at
             * once, where an export could keep it waiting for seconds. */
            if (old != fd && fd <= 2 && otp_fd_owned(fd)) {
                otp_fd_give_up(fd);
                otp_fd_close_begin_held();
            } else {
                if (old != fd && otp_fd_owned(fd))
                    wait_released(fd);
                otp_fd_close_begin();
            }
            bool taken = old != fd && otp_fd_owned(fd) && tries < 1000;
            /* Taken again meanwhile: tried once more, as for the
             * kernel's EBUSY (the last try goes ahead). */
            rc = taken ? -1 : sys_dup(old, fd, flags, three);
            if (taken)
                errno = EBUSY;
            otp_fd_close_end();
        } else {
            rc = sys_dup(old, fd, flags, three);
        }
        if (rc >= 0 || errno != EBUSY || tries >= 1000)
            return rc;
        otp_pause_us(20);
    }
}

EXPORT int dup2(int old, int fd)
{
    return dup_onto(old, fd, 0, false);
}

EXPORT int dup3(int old, int fd, int flags)
{
    return dup_onto(old, fd, flags, true);
}

/* fcntl on a number the agent holds answers EBADF, as bare. bash's
 * "exec 4>file" asks fcntl(4, F_GETFD) whether 4 is open before its dup2
 * onto it; finding the agent's descriptor there it saved it (F_DUPFD),
 * and when the agent had closed it in between, the redirection failed
 * ("cannot duplicate fd: Bad file descriptor"), one run in 30. The
 * agent's opens wait while the call runs (not a lock wait, which can
 * take any time), so the number cannot become the agent's meanwhile. */
static int fcntl_guarded(int fd, int cmd, void *arg)
{
    if (OTP_LIKELY(!otp_fd_busy()) || otp_tls_in_agent)
        return __fcntl(fd, cmd, arg);
    otp_fd_close_begin();
    if (otp_fd_owned(fd))
        otp_fd_settle(); /* the agent's close under way: the number may be the app's already */
    if (otp_fd_owned(fd)) {
        otp_fd_close_end();
        errno = EBADF;
        return -1;
    }
    if (cmd == F_SETLKW || cmd == F_OFD_SETLKW) {
        otp_fd_close_end();
        return __fcntl(fd, cmd, arg);
    }
    int rc = __fcntl(fd, cmd, arg);
    otp_fd_close_end();
    return rc;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_guarded(fd, cmd, arg);
}

/* The name programs built with 64-bit file offsets call (bash, coreutils). */
EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

/* curl's wake-up pairs, made on the agent's thread. */
EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
    if (!otp_tls_in_agent)
        return (int)otp_direct_syscall(SYS_socketpair, domain, type, protocol, (long)sv, 0, 0);
    otp_fd_open_begin();
    int rc = (int)otp_direct_syscall(SYS_socketpair, domain, type, protocol, (long)sv, 0, 0);
    if (rc == 0) {
        otp_fd_own(sv[0]);
        otp_fd_own(sv[1]);
    }
    otp_fd_open_end();
    return rc;
}

bool otp_fdguard_syscall(long nr, long a1, long a2, long a3, long *ret)
{
    if (OTP_LIKELY(nr != SYS_close_range && !otp_fd_busy()) || otp_tls_in_agent)
        return false;
    switch (nr) {
    case SYS_close:
        *ret = guarded_close((int)a1, sys_close);
        return true;
    case SYS_close_range:
        *ret = close_range((unsigned int)a1, (unsigned int)a2, (int)a3);
        return true;
    case SYS_dup2:
        *ret = dup2((int)a1, (int)a2);
        return true;
    case SYS_dup3:
        *ret = dup3((int)a1, (int)a2, (int)a3);
        return true;
    case SYS_fcntl:
        *ret = fcntl_guarded((int)a1, (int)a2, (void *)a3);
        return true;
    default:
        return false;
    }
}
