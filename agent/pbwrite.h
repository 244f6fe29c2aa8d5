/*
 * A protobuf wire-format writer for the encoders' large repeated
 * messages (samples, stacks, locations): protobuf-c packs by walking
 * field descriptors and sizes every nested message again at each level
 * it packs, which was most of an OTLP request's encode. Fields are written
 * in the order the caller gives (field-number order keeps the bytes
 * protobuf-c would write), with proto3's rules: a zero scalar and an
 * empty string or bytes field are left out, repeated scalars are packed.
 *
 * Memory comes from the agent's allocator; a failed allocation sets
 * `failed`, later calls do nothing, and the caller checks once at the end.
 */
#ifndef OTP_PBWRITE_H
#define OTP_PBWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct otp_pbw {
    uint8_t *buf;
    size_t len, cap;
    bool failed;
} otp_pbw_t;

void otp_pbw_init(otp_pbw_t *w, size_t cap_hint);
void otp_pbw_free(otp_pbw_t *w);
/* Hands the bytes over (the caller frees them with otp_free); NULL when
 * an allocation failed. */
uint8_t *otp_pbw_take(otp_pbw_t *w, size_t *len);

/* Scalars: int32 and int64 as varints (a negative int32 takes ten bytes,
 * sign-extended, as the wire format says), uint32 and uint64 likewise. */
void otp_pbw_varint(otp_pbw_t *w, uint32_t field, uint64_t v);
static inline void otp_pbw_int32(otp_pbw_t *w, uint32_t field, int32_t v)
{
    otp_pbw_varint(w, field, (uint64_t)(int64_t)v);
}
static inline void otp_pbw_int64(otp_pbw_t *w, uint32_t field, int64_t v)
{
    otp_pbw_varint(w, field, (uint64_t)v);
}
void otp_pbw_fixed64(otp_pbw_t *w, uint32_t field, uint64_t v);
/* string and bytes; n == 0 writes nothing. */
void otp_pbw_bytes(otp_pbw_t *w, uint32_t field, const void *p, size_t n);
/* One element of a repeated string: written even when empty. */
void otp_pbw_string_elem(otp_pbw_t *w, uint32_t field, const char *s);
/* Packed repeated scalars; n == 0 writes nothing. */
void otp_pbw_packed_int32(otp_pbw_t *w, uint32_t field, const int32_t *v, size_t n);
void otp_pbw_packed_int64(otp_pbw_t *w, uint32_t field, const int64_t *v, size_t n);
void otp_pbw_packed_uint64(otp_pbw_t *w, uint32_t field, const uint64_t *v, size_t n);

/* A nested message: begin writes its key and room for a one-byte
 * length, end fills the length in (moving the body when it needs more).
 * Nests to any depth. */
size_t otp_pbw_begin(otp_pbw_t *w, uint32_t field);
void otp_pbw_end(otp_pbw_t *w, size_t mark);
/* A nested message of n bytes that the caller packs itself into the
 * space returned (NULL when an allocation failed). */
uint8_t *otp_pbw_reserve(otp_pbw_t *w, uint32_t field, size_t n);

#endif
