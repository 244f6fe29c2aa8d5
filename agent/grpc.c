/*
 * gRPC over HTTP/2 as PROTOCOL-HTTP2.md in grpc/grpc describes it, the
 * parts a unary client needs. The status comes in the trailers, or in the
 * headers of a "trailers-only" answer (an error with no message): both
 * pass through otp_grpc_header_line, so the last grpc-status seen wins.
 */
#include "grpc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

void otp_grpc_result_reset(otp_grpc_result_t *r)
{
    r->status = -1;
    r->pushback_ms = -1;
    r->pushback_stop = false;
    r->message[0] = '\0';
}

/* A non-negative decimal of at most 18 digits; -1 otherwise. */
static int64_t parse_decimal(const char *s, size_t n)
{
    if (n == 0 || n > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void otp_grpc_percent_decode(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0) return;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)in[i];
        int h, l;
        if (c == '%' && i + 2 < n && (h = hexval(in[i + 1])) >= 0 && (l = hexval(in[i + 2])) >= 0) {
            c = (unsigned char)(h << 4 | l);
            i += 2;
        }
        /* it goes into a log line: no control characters */
        out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[o] = '\0';
}

void otp_grpc_header_line(otp_grpc_result_t *r, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    if (!colon) return;
    size_t klen = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    if (klen == 11 && strncasecmp(line, "grpc-status", 11) == 0) {
        int64_t s = parse_decimal(v, vlen);
        /* unparsable: an error whose kind we do not know */
        r->status = s >= 0 && s <= 0x7fffffff ? (int)s : 2 /* UNKNOWN */;
    } else if (klen == 12 && strncasecmp(line, "grpc-message", 12) == 0) {
        otp_grpc_percent_decode(v, vlen, r->message, sizeof r->message);
    } else if (klen == 22 && strncasecmp(line, "grpc-retry-pushback-ms", 22) == 0) {
        /* gRPC's retry design (A6): a negative or malformed value means
         * "do not retry"; we still retry on our own backoff (the OTLP spec
         * asks clients to), but do not take it as a delay. */
        int64_t ms = parse_decimal(v, vlen);
        r->pushback_ms = ms;
        r->pushback_stop = ms < 0;
    }
}

int otp_grpc_url(const char *endpoint, char *out, size_t cap)
{
    const char *e = endpoint;
    while (*e == ' ' || *e == '\t') e++;
    const char *sep = strstr(e, "://");
    const char *scheme = "http://";
    size_t slen = 7;
    const char *auth = e;
    if (sep) {
        scheme = e;
        slen = (size_t)(sep - e) + 3;
        auth = sep + 3;
    }
    /* authority: up to the first '/', '?' or '#' */
    size_t alen = strcspn(auth, "/?#");
    if (alen == 0) return -EINVAL;
    /* the host part starts after any userinfo; an IPv6 literal is in [] */
    const char *host = auth;
    const char *at = memchr(auth, '@', alen);
    if (at) host = at + 1;
    const char *hend = auth + alen;
    const char *portcolon = NULL;
    if (*host == '[') {
        const char *rb = memchr(host, ']', (size_t)(hend - host));
        if (!rb) return -EINVAL;
        if (rb + 1 < hend && rb[1] == ':') portcolon = rb + 1;
    } else {
        portcolon = memchr(host, ':', (size_t)(hend - host));
    }
    if (host == hend) return -EINVAL;
    bool has_port = portcolon && portcolon + 1 < hend;
    /* "host:" (empty port) gets the default too */
    size_t keep = portcolon && !has_port ? (size_t)(portcolon - auth) : alen;
    int n = has_port ? snprintf(out, cap, "%.*s%.*s%s", (int)slen, scheme, (int)keep, auth, OTP_GRPC_PATH)
                     : snprintf(out, cap, "%.*s%.*s:%d%s", (int)slen, scheme, (int)keep, auth,
                                OTP_GRPC_DEFAULT_PORT, OTP_GRPC_PATH);
    if (n < 0 || (size_t)n >= cap) return -ENAMETOOLONG;
    return 0;
}

int otp_grpc_frame(const uint8_t *msg, size_t len, bool compressed, uint8_t **out, size_t *outlen)
{
    if (len > 0xffffffffu) return -EFBIG;
    uint8_t *b = otp_malloc(len + OTP_GRPC_FRAME_HDR);
    if (!b) return -ENOMEM;
    b[0] = compressed ? 1 : 0;
    b[1] = (uint8_t)(len >> 24);
    b[2] = (uint8_t)(len >> 16);
    b[3] = (uint8_t)(len >> 8);
    b[4] = (uint8_t)len;
    if (len) memcpy(b + OTP_GRPC_FRAME_HDR, msg, len);
    *out = b;
    *outlen = len + OTP_GRPC_FRAME_HDR;
    return 0;
}

int otp_grpc_unframe(const uint8_t *body, size_t n, const uint8_t **msg, size_t *len, bool *compressed)
{
    if (n == 0) return -ENODATA;
    if (n < OTP_GRPC_FRAME_HDR || body[0] > 1) return -EBADMSG;
    size_t l = (size_t)body[1] << 24 | (size_t)body[2] << 16 | (size_t)body[3] << 8 | body[4];
    if (l > n - OTP_GRPC_FRAME_HDR) return -EBADMSG;
    *msg = body + OTP_GRPC_FRAME_HDR;
    *len = l;
    *compressed = body[0] == 1;
    return 0;
}

bool otp_grpc_status_retryable(int status)
{
    return status == OTP_GRPC_UNAVAILABLE || status == OTP_GRPC_RESOURCE_EXHAUSTED ||
           status == OTP_GRPC_DEADLINE_EXCEEDED;
}

const char *otp_grpc_status_name(int status)
{
    static const char *const names[] = {
        "OK",           "CANCELLED",          "UNKNOWN",        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND",     "ALREADY_EXISTS", "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL",          "UNAVAILABLE",    "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if (status < 0 || status >= (int)(sizeof names / sizeof names[0])) return "UNKNOWN_STATUS";
    return names[status];
}
