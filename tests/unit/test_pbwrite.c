/* Unit tests of the protobuf wire-format writer: bytes checked against
 * the encoding rules (varints, zig-zag-free negative int32 in ten bytes,
 * fixed64 little-endian, packed repeated fields, proto3's omission of
 * zero and empty values) and nested messages whose length needs one,
 * two or three bytes. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "mem.h"
#include "pbwrite.h"

static int same(const uint8_t *got, size_t n, const uint8_t *want, size_t wn)
{
    if (n != wn) {
        printf("      %zu bytes, want %zu\n", n, wn);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
            printf("      byte %zu: %02x, want %02x\n", i, got[i], want[i]);
            return 0;
        }
    return 1;
}

int main(void)
{
    otp_pbw_t w;
    size_t n = 0;
    uint8_t *b;

    /* Scalars: 150 is the wire format's own example (08 96 01); zeros and
     * empty strings are not written; -1 as int32 is ten bytes. */
    otp_pbw_init(&w, 0);
    otp_pbw_varint(&w, 1, 150);
    otp_pbw_varint(&w, 2, 0);
    otp_pbw_int32(&w, 3, -1);
    otp_pbw_fixed64(&w, 4, 0x0102030405060708ULL);
    otp_pbw_bytes(&w, 5, "ab", 2);
    otp_pbw_bytes(&w, 6, "", 0);
    otp_pbw_string_elem(&w, 7, "");
    otp_pbw_int64(&w, 20, 1);
    b = otp_pbw_take(&w, &n);
    static const uint8_t want1[] = {0x08, 0x96, 0x01,
                                    0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                                    0x21, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
                                    0x2a, 0x02, 'a', 'b',
                                    0x3a, 0x00,
                                    0xa0, 0x01, 0x01};
    CHECK_NAMED("scalars, bytes and a repeated string's empty element", same(b, n, want1, sizeof want1));
    otp_free(b);

    /* Packed fields: body length first; empty arrays are not written. */
    otp_pbw_init(&w, 0);
    int32_t i32[] = {3, 270, -2};
    int64_t i64[] = {86942};
    otp_pbw_packed_int32(&w, 4, i32, 3);
    otp_pbw_packed_int64(&w, 5, i64, 1);
    otp_pbw_packed_int32(&w, 7, i32, 0);
    b = otp_pbw_take(&w, &n);
    static const uint8_t want2[] = {0x22, 0x0d, 0x03, 0x8e, 0x02,
                                    0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                                    0x2a, 0x03, 0x9e, 0xa7, 0x05};
    CHECK_NAMED("packed int32 and int64", same(b, n, want2, sizeof want2));
    otp_free(b);

    /* Nesting: bodies of 0, 126, 128 and 20000 bytes (length in 1, 1, 2
     * and 3 bytes), the longer ones moved along after they were written,
     * inside an outer message, from a buffer that starts small. */
    int ok = 1;
    const size_t sizes[] = {0, 126, 128, 20000};
    for (size_t k = 0; k < 4; k++) {
        otp_pbw_init(&w, 0);
        size_t outer = otp_pbw_begin(&w, 1);
        size_t inner = otp_pbw_begin(&w, 2);
        for (size_t i = 0; i < sizes[k]; i++)
            otp_pbw_varint(&w, 3, 0); /* nothing: a zero */
        size_t body = 0;
        while (body < sizes[k]) {
            if (body % 4) {
                otp_pbw_varint(&w, 4, 1 + body % 100); /* 2 bytes */
            } else {
                otp_pbw_bytes(&w, 5, "", 0);
                otp_pbw_string_elem(&w, 5, ""); /* 2 bytes */
            }
            body += 2;
        }
        otp_pbw_end(&w, inner);
        otp_pbw_end(&w, outer);
        b = otp_pbw_take(&w, &n);
        /* Decode the framing by hand. */
        size_t at = 0;
        uint64_t len1 = 0, len2 = 0;
        int sh = 0;
        ok &= b[at++] == 0x0a;
        do {
            len1 |= (uint64_t)(b[at] & 0x7f) << sh;
            sh += 7;
        } while (b[at++] & 0x80);
        ok &= len1 == n - at;
        ok &= b[at++] == 0x12;
        sh = 0;
        do {
            len2 |= (uint64_t)(b[at] & 0x7f) << sh;
            sh += 7;
        } while (b[at++] & 0x80);
        ok &= len2 == body && len2 == n - at;
        for (size_t i = at; ok && i + 1 < n; i += 2)
            ok &= (i - at) % 4 ? b[i] == 0x20 && b[i + 1] == 1 + (i - at) % 100 : b[i] == 0x2a && b[i + 1] == 0;
        if (!ok)
            printf("      body %zu: framing wrong\n", sizes[k]);
        otp_free(b);
    }
    CHECK_NAMED("nested messages with 1-, 2- and 3-byte lengths", ok);

    /* Reserved space for a message packed elsewhere; a packed uint64. */
    otp_pbw_init(&w, 0);
    uint8_t *r = otp_pbw_reserve(&w, 9, 3);
    CHECK(r != NULL);
    if (r)
        memcpy(r, "xyz", 3);
    uint64_t u64[] = {1ULL << 63};
    otp_pbw_packed_uint64(&w, 1, u64, 1);
    b = otp_pbw_take(&w, &n);
    static const uint8_t want3[] = {0x4a, 0x03, 'x', 'y', 'z',
                                    0x0a, 0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    CHECK_NAMED("reserved space, a packed uint64 of ten bytes", same(b, n, want3, sizeof want3));
    otp_free(b);
    return check_done();
}
