/*
 * Protobuf wire-format writer: see pbwrite.h.
 */
#include "pbwrite.h"

#include <string.h>

#include "mem.h"

enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2 };

void otp_pbw_init(otp_pbw_t *w, size_t cap_hint)
{
    *w = (otp_pbw_t){0};
    w->cap = cap_hint > 256 ? cap_hint : 256;
    w->buf = otp_malloc(w->cap);
    if (!w->buf) {
        w->cap = 0;
        w->failed = true;
    }
}

void otp_pbw_free(otp_pbw_t *w)
{
    otp_free(w->buf);
    *w = (otp_pbw_t){0};
}

uint8_t *otp_pbw_take(otp_pbw_t *w, size_t *len)
{
    if (w->failed) {
        otp_pbw_free(w);
        *len = 0;
        return NULL;
    }
    uint8_t *b = w->buf;
    *len = w->len;
    *w = (otp_pbw_t){0};
    return b;
}

/* Room for n more bytes; false once an allocation failed. */
static bool room(otp_pbw_t *w, size_t n)
{
    if (w->failed)
        return false;
    if (w->len + n <= w->cap)
        return true;
    size_t ncap = w->cap * 2;
    while (ncap < w->len + n)
        ncap *= 2;
    uint8_t *nb = otp_realloc(w->buf, ncap);
    if (!nb) {
        w->failed = true;
        return false;
    }
    w->buf = nb;
    w->cap = ncap;
    return true;
}

static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Unchecked: the caller made room (at most 10 bytes). */
static inline void put_varint(otp_pbw_t *w, uint64_t v)
{
    uint8_t *p = w->buf + w->len;
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    w->len = (size_t)(p - w->buf);
}

static inline void put_key(otp_pbw_t *w, uint32_t field, int wt)
{
    put_varint(w, (uint64_t)field << 3 | (uint64_t)wt);
}

void otp_pbw_varint(otp_pbw_t *w, uint32_t field, uint64_t v)
{
    if (v == 0 || !room(w, 20))
        return;
    put_key(w, field, WT_VARINT);
    put_varint(w, v);
}

static void put_fixed64(otp_pbw_t *w, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        w->buf[w->len++] = (uint8_t)(v >> (8 * i));
}

void otp_pbw_fixed64(otp_pbw_t *w, uint32_t field, uint64_t v)
{
    if (v == 0 || !room(w, 18))
        return;
    put_key(w, field, WT_FIXED64);
    put_fixed64(w, v);
}

static void put_len_delimited(otp_pbw_t *w, uint32_t field, const void *p, size_t n)
{
    if (!room(w, 20 + n))
        return;
    put_key(w, field, WT_LEN);
    put_varint(w, n);
    if (n)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void otp_pbw_bytes(otp_pbw_t *w, uint32_t field, const void *p, size_t n)
{
    if (n)
        put_len_delimited(w, field, p, n);
}

void otp_pbw_string_elem(otp_pbw_t *w, uint32_t field, const char *s)
{
    put_len_delimited(w, field, s, s ? strlen(s) : 0);
}

void otp_pbw_packed_int32(otp_pbw_t *w, uint32_t field, const int32_t *v, size_t n)
{
    if (n == 0)
        return;
    size_t body = 0;
    for (size_t i = 0; i < n; i++)
        body += varint_len((uint64_t)(int64_t)v[i]);
    if (!room(w, 20 + body))
        return;
    put_key(w, field, WT_LEN);
    put_varint(w, body);
    for (size_t i = 0; i < n; i++)
        put_varint(w, (uint64_t)(int64_t)v[i]);
}

void otp_pbw_packed_uint64(otp_pbw_t *w, uint32_t field, const uint64_t *v, size_t n)
{
    if (n == 0)
        return;
    size_t body = 0;
    for (size_t i = 0; i < n; i++)
        body += varint_len(v[i]);
    if (!room(w, 20 + body))
        return;
    put_key(w, field, WT_LEN);
    put_varint(w, body);
    for (size_t i = 0; i < n; i++)
        put_varint(w, v[i]);
}

void otp_pbw_packed_int64(otp_pbw_t *w, uint32_t field, const int64_t *v, size_t n)
{
    otp_pbw_packed_uint64(w, field, (const uint64_t *)(const void *)v, n);
}

size_t otp_pbw_begin(otp_pbw_t *w, uint32_t field)
{
    if (!room(w, 11))
        return 0;
    put_key(w, field, WT_LEN);
    w->buf[w->len++] = 0;
    return w->len - 1;
}

void otp_pbw_end(otp_pbw_t *w, size_t mark)
{
    if (w->failed)
        return;
    size_t body = w->len - mark - 1;
    size_t nb = varint_len(body);
    if (nb > 1) {
        if (!room(w, nb - 1))
            return;
        memmove(w->buf + mark + nb, w->buf + mark + 1, body);
    }
    size_t end = mark + nb + body;
    w->len = mark;
    put_varint(w, body);
    w->len = end;
}

uint8_t *otp_pbw_reserve(otp_pbw_t *w, uint32_t field, size_t n)
{
    if (!room(w, 20 + n))
        return NULL;
    put_key(w, field, WT_LEN);
    put_varint(w, n);
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}
