#include "units.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Two decimals, without the zeros that say nothing ("10ms", not
 * "10.00ms"), as pprof prints them. */
static void fmt_scaled(char *buf, size_t cap, double v, const char *suffix)
{
    char num[64];
    snprintf(num, sizeof num, "%.2f", v);
    char *dot = strchr(num, '.');
    if (dot) {
        char *end = num + strlen(num) - 1;
        while (end > dot && *end == '0')
            *end-- = '\0';
        if (end == dot)
            *end = '\0';
    }
    snprintf(buf, cap, "%s%s", num, suffix);
}

void otp_fmt_value(char *buf, size_t cap, int64_t v, const char *unit)
{
    double a = v < 0 ? -(double)v : (double)v;
    if (v == 0) {
        snprintf(buf, cap, "0");
        return;
    }
    if (strcmp(unit, "nanoseconds") == 0) {
        if (a >= 1e9)
            fmt_scaled(buf, cap, (double)v / 1e9, "s");
        else if (a >= 1e6)
            fmt_scaled(buf, cap, (double)v / 1e6, "ms");
        else if (a >= 1e3)
            fmt_scaled(buf, cap, (double)v / 1e3, "us");
        else
            fmt_scaled(buf, cap, (double)v, "ns");
    } else if (strcmp(unit, "bytes") == 0) {
        static const char *const sfx[] = { "B", "kB", "MB", "GB", "TB" };
        int i = 0;
        while (a >= 1024.0 && i < 4) {
            a /= 1024.0;
            i++;
        }
        fmt_scaled(buf, cap, v < 0 ? -a : a, sfx[i]);
    } else {
        snprintf(buf, cap, "%" PRId64, v);
    }
}
