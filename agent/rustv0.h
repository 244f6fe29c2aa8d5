/*
 * Rust v0 symbol names (`_R...`, RFC 2603) decoded for people, in the
 * style rustc-demangle's alternate form prints: no crate disambiguator
 * hashes, `{closure#0}`, `<T as Trait>::f`, `f::<u8>`. Flusher thread only.
 */
#ifndef OTP_RUSTV0_H
#define OTP_RUSTV0_H

#include <stddef.h>

/* The display name of the first len bytes of sym, an otp_malloc'd string,
 * or NULL when they are not a well-formed v0 name (the caller keeps the
 * symbol as it is). */
char *otp_rust_v0_demangle(const char *sym, size_t len);

#endif
