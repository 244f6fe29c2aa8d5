/*
 * stderr diagnostics without malloc or stdio streams: each message is
 * formatted into a stack buffer and written with one write(2), so lines
 * from several threads never interleave mid-line.
 *
 * Only the stderr the process started with gets them. A daemon that closes
 * fd 2 and opens its data file (which then becomes fd 2) must not find our
 * lines in its data, so every write first checks that fd 2 is still the
 * file it was at start (device and inode). The agent never dups fd 2 to
 * keep the original: a parent waiting for EOF on the app's stderr must see
 * it when the app closes it.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

static _Atomic int log_level = OTP_LOG_WARN;

/* fd 2 at start. Before otp_log_init (unit tests) every line is written. */
enum { ERR_UNKNOWN, ERR_OPEN, ERR_CLOSED };
static _Atomic int err_state OTP_STARTUP_DATA = ERR_UNKNOWN;
static dev_t err_dev OTP_STARTUP_DATA;
static ino_t err_ino OTP_STARTUP_DATA;

void otp_log_init(void)
{
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0) {
        atomic_store(&err_state, ERR_CLOSED);
        return;
    }
    err_dev = st.st_dev;
    err_ino = st.st_ino;
    atomic_store(&err_state, ERR_OPEN);
}

bool otp_log_stderr_ok(void)
{
    int s = atomic_load(&err_state);
    if (s != ERR_OPEN)
        return s == ERR_UNKNOWN;
    /* Racy by nature (the app may swap fd 2 right after this check); the
     * alternative, holding a dup of its stderr, would keep its readers
     * from ever seeing EOF. */
    struct stat st;
    return fstat(STDERR_FILENO, &st) == 0 && st.st_dev == err_dev && st.st_ino == err_ino;
}

void otp_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

int otp_log_get_level(void)
{
    return atomic_load(&log_level);
}

static void vlog(int level, const char *fmt, va_list ap)
{
    if (level > atomic_load(&log_level) || !otp_log_stderr_ok())
        return;
    char buf[1024];
    size_t n = sizeof "otprof: " - 1;
    memcpy(buf, "otprof: ", n);
    int k = vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
    if (k < 0)
        return;
    n += (size_t)k < sizeof buf - n - 1 ? (size_t)k : sizeof buf - n - 2;
    buf[n++] = '\n';
    otp_write_all(STDERR_FILENO, buf, n);
}

void otp_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void otp_log_once(atomic_flag *flag, int level, const char *fmt, ...)
{
    if (atomic_flag_test_and_set(flag))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}
