/*
 * stderr diagnostics without malloc or stdio streams: each message is
 * formatted into a stack buffer and written with one write(2), so lines
 * from several threads never interleave mid-line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sys.h"

static _Atomic int log_level = OTP_LOG_WARN;

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
    if (level > atomic_load(&log_level))
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
