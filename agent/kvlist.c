/*
 * The "k=v,k2=v2" lists of OTEL_RESOURCE_ATTRIBUTES and
 * OTEL_EXPORTER_OTLP_HEADERS: entries trimmed, values percent-decoded.
 */
#include "kvlist.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Trims and percent-decodes s[0..n) into out (cap bytes). false if it
 * does not fit. */
static bool decode_part(const char *s, size_t n, char *out, size_t cap)
{
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%' && i + 2 < n) {
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = hi << 4 | lo;
                i += 2;
            }
        }
        if (o + 1 >= cap) return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

int otp_kv_next(const char **cursor, char *key, size_t keycap, char *val, size_t valcap)
{
    const char *s = *cursor;
    if (!s) return 0;
    /* skip empty entries */
    while (*s == ',' || *s == ' ' || *s == '\t') s++;
    if (!*s) {
        *cursor = s;
        return 0;
    }
    const char *end = strchr(s, ',');
    if (!end) end = s + strlen(s);
    *cursor = *end ? end + 1 : end;
    const char *eq = memchr(s, '=', (size_t)(end - s));
    if (!eq) return -EINVAL;
    if (!decode_part(s, (size_t)(eq - s), key, keycap) || !key[0]) return -EINVAL;
    if (!decode_part(eq + 1, (size_t)(end - eq - 1), val, valcap)) return -EINVAL;
    return 1;
}
