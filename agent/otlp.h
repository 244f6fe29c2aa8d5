/*
 * OTLP profiles encoding: one export interval's batch becomes one
 * ExportProfilesServiceRequest (profiles.v1development, proto v1.10/v1.11
 * layout) with one resource, one scope ("otprof") and one Profile per
 * sample type, all sharing one de-duplicated ProfilesDictionary.
 * Flusher thread only (symbolizes, allocates from the agent's arena).
 */
#ifndef OTP_OTLP_H
#define OTP_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

/* Builds the resource and scope from otp_cfg (service, process, host and
 * OTEL_RESOURCE_ATTRIBUTES). Call again after changing otp_cfg (tests).
 * 0 or -errno. */
int otp_otlp_init(void);

/* Encodes b into *out (otp_malloc'd, plain protobuf, not compressed).
 * 0, -ENODATA when the batch holds no samples, or -errno. */
int otp_otlp_encode(const otp_batch_t *b, uint8_t **out, size_t *len);

/* Table sizes of the last successful encode, zero entries included. */
typedef struct otp_otlp_stats {
    size_t strings, functions, locations, mappings, stacks, links, attributes;
    size_t profiles, samples;
} otp_otlp_stats_t;
void otp_otlp_last_stats(otp_otlp_stats_t *st);

#include "kvlist.h"

#endif
