/*
 * OTLP/gRPC on top of the OTLP/HTTP transport (agent/http.c): what makes
 * a unary gRPC call out of an HTTP/2 POST. The target URL, the message
 * framing, the request headers' fixed part, and the reading of the
 * grpc-status / grpc-message / grpc-retry-pushback-ms headers and
 * trailers. No network and no libcurl here; pure functions plus one
 * per-call result record, so all of it is unit-tested.
 */
#ifndef OTP_GRPC_H
#define OTP_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OTP_GRPC_PATH "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
#define OTP_GRPC_DEFAULT_PORT 4317
/* Length-prefixed message: 1 flag byte (1 = compressed) + 4-byte
 * big-endian length. */
#define OTP_GRPC_FRAME_HDR 5

/* Status codes (grpc/doc/statuscodes.md) that matter here. */
enum {
    OTP_GRPC_OK = 0,
    OTP_GRPC_DEADLINE_EXCEEDED = 4,
    OTP_GRPC_RESOURCE_EXHAUSTED = 8,
    OTP_GRPC_INTERNAL = 13,
    OTP_GRPC_UNAVAILABLE = 14,
};

/* What the response headers and trailers said; otp_grpc_result_reset
 * before each call. */
typedef struct otp_grpc_result {
    int status;          /* grpc-status, -1 if none was seen */
    int64_t pushback_ms; /* grpc-retry-pushback-ms, -1 if none or invalid */
    bool pushback_stop;  /* the server said "do not retry" (negative pushback) */
    char message[256];   /* grpc-message, percent-decoded, control chars blanked */
} otp_grpc_result_t;

void otp_grpc_result_reset(otp_grpc_result_t *r);

/* Feeds one header or trailer line as libcurl hands it over
 * ("name: value\r\n"); lines of other names are ignored. */
void otp_grpc_header_line(otp_grpc_result_t *r, const char *line, size_t n);

/* The URL to POST to: scheme://[userinfo@]host[:port] of endpoint with
 * port 4317 added when none is given, any path replaced by the method's.
 * A scheme-less endpoint ("host:port", as gRPC users write it) is taken
 * as http://. 0, or -ENAMETOOLONG / -EINVAL. */
int otp_grpc_url(const char *endpoint, char *out, size_t cap);

/* Prepends the frame header to msg (otp_malloc'd result, msg untouched).
 * 0 or -ENOMEM / -EFBIG. */
int otp_grpc_frame(const uint8_t *msg, size_t len, bool compressed, uint8_t **out, size_t *outlen);

/* The first message of a response body. 0 and the message, its length and flag,
 * or -EBADMSG when the body is not one whole frame. An empty body is
 * -ENODATA (a trailers-only answer). */
int otp_grpc_unframe(const uint8_t *body, size_t n, const uint8_t **msg, size_t *len, bool *compressed);

/* UNAVAILABLE, RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED: the ones the
 * OTLP spec calls retryable that a server can send for a good request. */
bool otp_grpc_status_retryable(int status);
/* "UNAVAILABLE" etc.; "UNKNOWN_STATUS" beyond 16. */
const char *otp_grpc_status_name(int status);

/* Percent-decodes grpc-message (its wire form) into out, at most cap-1
 * bytes; invalid escapes are kept as they are. */
void otp_grpc_percent_decode(const char *in, size_t n, char *out, size_t cap);

#endif
