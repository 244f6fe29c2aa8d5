/*
 * Diagnostics on stderr, one line each, prefixed "otprof: ".
 * Formats into a stack buffer and write(2)s it: no malloc, no stdio, so it
 * may be called from the constructor, the flusher and the malloc slow path
 * (never from the signal handler: vsnprintf is not async-signal-safe).
 */
#ifndef OTP_LOG_H
#define OTP_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

enum { OTP_LOG_ERROR = 0, OTP_LOG_WARN = 1, OTP_LOG_INFO = 2, OTP_LOG_DEBUG = 3 };

/* Records which file fd 2 is (or that it is closed): from then on lines
 * are written only while fd 2 is still that file. Called first thing at
 * start-up (otp_config_load), before any line. */
void otp_log_init(void);
/* fd 2 is still the stderr recorded by otp_log_init (async-signal-safe). */
bool otp_log_stderr_ok(void);

/* Current threshold; messages above it are dropped. Set from config. */
void otp_log_set_level(int level);
int otp_log_get_level(void);

void otp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs only the first time *flag is seen clear (thread-safe). Use for
 * "feature disabled" style messages that must appear exactly once. */
void otp_log_once(atomic_flag *flag, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The arguments are evaluated only when the line is wanted: some cost
 * (a debug line's count of the stack walker's table read 128 KiB at
 * every exit). */
#define OTP_LOG_AT(level, ...)                      \
    do {                                            \
        if ((level) <= otp_log_get_level())         \
            otp_log((level), __VA_ARGS__);          \
    } while (0)
#define OTP_ERROR(...) OTP_LOG_AT(OTP_LOG_ERROR, __VA_ARGS__)
#define OTP_WARN(...) OTP_LOG_AT(OTP_LOG_WARN, __VA_ARGS__)
#define OTP_INFO(...) OTP_LOG_AT(OTP_LOG_INFO, __VA_ARGS__)
#define OTP_DEBUG(...) OTP_LOG_AT(OTP_LOG_DEBUG, __VA_ARGS__)

#endif
