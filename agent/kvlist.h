/*
 * Parser of comma-separated key=value lists (OTel environment format).
 */
#ifndef OTP_KVLIST_H
#define OTP_KVLIST_H

#include <stddef.h>

/*
 * Walks a "k1=v1,k2=v2" list (OTEL_EXPORTER_OTLP_HEADERS,
 * OTEL_RESOURCE_ATTRIBUTES): entries split on ',', whitespace around keys
 * and values trimmed, both percent-decoded. Returns 1 with key/val filled,
 * 0 at the end, or -EINVAL for an entry without '=' or with an empty key or
 * one that does not fit (skipped; call again for the next one).
 */
int otp_kv_next(const char **cursor, char *key, size_t keycap, char *val, size_t valcap);

#endif
