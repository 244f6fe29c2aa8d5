/* Sample values for people, in pprof's style: 1.20s, 35ms, 4.50MB, 120. */
#ifndef OTP_CLI_UNITS_H
#define OTP_CLI_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* v in unit ("nanoseconds", "bytes", "count", ...) into buf. */
void otp_fmt_value(char *buf, size_t cap, int64_t v, const char *unit);

#endif
