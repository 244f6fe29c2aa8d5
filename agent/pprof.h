/*
 * pprof (perftools.profiles.Profile) encoding with protobuf-c.
 * Locations carry mapping and address (so offline symbolization works)
 * and, when known, a line naming the function. Samples with a trace
 * context get string labels trace_id and span_id (hex); every sample gets
 * numeric label thread_id and string label thread_name.
 */
#ifndef OTP_PPROF_H
#define OTP_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"
#include "symbols.h"

/* Encodes p; *out is otp_malloc'd. 0 or -errno. */
int otp_pprof_encode(const otp_profile_t *p, otp_symbolizer_t *sym, uint8_t **out, size_t *len);

/* gzip (RFC 1952) of buf; *out is otp_malloc'd. 0 or -errno. */
int otp_gzip(const uint8_t *buf, size_t len, uint8_t **out, size_t *outlen);

#endif
