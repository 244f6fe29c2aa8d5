/*
 * process.executable.build_id.htlhash, the profiles spec's build id that
 * needs no ELF note (stripped files, Alpine images): a hash of the first
 * and last 4096 bytes of the file and its length. Pure computation over
 * bytes already in memory; no allocation, any thread.
 */
#ifndef OTP_HTLHASH_H
#define OTP_HTLHASH_H

#include <stddef.h>
#include <stdint.h>

/* SHA-256 of len bytes (FIPS 180-4). */
void otp_sha256(const void *data, size_t len, uint8_t out[32]);

/* The htlhash of a whole file held in data[0..size): 32 lowercase hex
 * digits and a NUL in out. */
void otp_htlhash(const uint8_t *data, size_t size, char out[33]);

#endif
