/*
 * OTLP/gRPC pieces that need no network: the target URL (default port
 * 4317, path replaced), message framing both ways, the status headers and
 * trailers (percent-encoded grpc-message, pushback), which statuses are
 * retried, and the protocol setting with its OTEL_* variables.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "grpc.h"
#include "mem.h"

#define P OTP_GRPC_PATH

static const char *url(const char *ep)
{
    static char out[512];
    int rc = otp_grpc_url(ep, out, sizeof out);
    if (rc != 0) snprintf(out, sizeof out, "error %d", rc);
    return out;
}

static void test_url(void)
{
    CHECK_EQ_STR(url("http://127.0.0.1"), "http://127.0.0.1:4317" P);
    CHECK_EQ_STR(url("http://127.0.0.1/"), "http://127.0.0.1:4317" P);
    CHECK_EQ_STR(url("http://collector:9999"), "http://collector:9999" P);
    CHECK_EQ_STR(url("https://collector.example/otlp/v1"), "https://collector.example:4317" P);
    CHECK_EQ_STR(url("http://collector:"), "http://collector:4317" P);
    CHECK_EQ_STR(url("collector:4317"), "http://collector:4317" P);
    CHECK_EQ_STR(url("http://[::1]"), "http://[::1]:4317" P);
    CHECK_EQ_STR(url("http://[::1]:5000"), "http://[::1]:5000" P);
    CHECK_EQ_STR(url("http://user:pw@host"), "http://user:pw@host:4317" P);
    CHECK_EQ_STR(url("http://host?x=1"), "http://host:4317" P);
    CHECK_EQ_INT(otp_grpc_url("http://", (char[64]){0}, 64), -EINVAL);
    CHECK_EQ_INT(otp_grpc_url("http://[::1", (char[64]){0}, 64), -EINVAL);
    CHECK_EQ_INT(otp_grpc_url("http://a-rather-long-host-name", (char[40]){0}, 40), -ENAMETOOLONG);
}

static void test_frame(void)
{
    const uint8_t msg[] = {0x0a, 0x02, 0x08, 0x01};
    uint8_t *f = NULL;
    size_t n = 0;
    CHECK_EQ_INT(otp_grpc_frame(msg, sizeof msg, false, &f, &n), 0);
    CHECK_EQ_INT(n, 9);
    const uint8_t want[] = {0, 0, 0, 0, 4, 0x0a, 0x02, 0x08, 0x01};
    CHECK(f && memcmp(f, want, sizeof want) == 0);
    const uint8_t *m;
    size_t ml;
    bool comp = true;
    CHECK_EQ_INT(otp_grpc_unframe(f, n, &m, &ml, &comp), 0);
    CHECK(ml == 4 && m == f + 5 && !comp);
    /* a frame cut short, a bad flag, nothing at all */
    CHECK_EQ_INT(otp_grpc_unframe(f, n - 1, &m, &ml, &comp), -EBADMSG);
    CHECK_EQ_INT(otp_grpc_unframe(f, 3, &m, &ml, &comp), -EBADMSG);
    f[0] = 2;
    CHECK_EQ_INT(otp_grpc_unframe(f, n, &m, &ml, &comp), -EBADMSG);
    CHECK_EQ_INT(otp_grpc_unframe(f, 0, &m, &ml, &comp), -ENODATA);
    otp_free(f);

    /* the compressed flag and a length over 16 bits, big-endian */
    size_t big = 70000;
    uint8_t *b = otp_calloc(1, big);
    CHECK_EQ_INT(otp_grpc_frame(b, big, true, &f, &n), 0);
    CHECK(f[0] == 1 && f[1] == 0 && f[2] == 0x01 && f[3] == 0x11 && f[4] == 0x70);
    CHECK_EQ_INT(otp_grpc_unframe(f, n, &m, &ml, &comp), 0);
    CHECK(ml == big && comp);
    otp_free(f);
    otp_free(b);
}

static void feed(otp_grpc_result_t *r, const char *line)
{
    otp_grpc_header_line(r, line, strlen(line));
}

static void test_headers(void)
{
    otp_grpc_result_t r;
    otp_grpc_result_reset(&r);
    CHECK_EQ_INT(r.status, -1);
    CHECK_EQ_INT(r.pushback_ms, -1);
    feed(&r, "content-type: application/grpc\r\n");
    CHECK_EQ_INT(r.status, -1);
    /* trailers-only or trailers: the same lines */
    feed(&r, "grpc-status: 8\r\n");
    feed(&r, "grpc-retry-pushback-ms: 1500\r\n");
    feed(&r, "grpc-message: slow down, 100%25 full%0Anext %C3%A9\r\n");
    CHECK_EQ_INT(r.status, 8);
    CHECK_EQ_INT(r.pushback_ms, 1500);
    CHECK(!r.pushback_stop);
    CHECK_EQ_STR(r.message, "slow down, 100% full next \xc3\xa9");
    /* case-insensitive names; a later status wins */
    feed(&r, "Grpc-Status:0\r\n");
    CHECK_EQ_INT(r.status, 0);
    feed(&r, "grpc-status: x1\r\n");
    CHECK_EQ_INT(r.status, 2); /* UNKNOWN */
    /* a negative or malformed pushback means "do not retry" */
    feed(&r, "grpc-retry-pushback-ms: -1\r\n");
    CHECK(r.pushback_stop && r.pushback_ms == -1);
    otp_grpc_result_reset(&r);
    CHECK(!r.pushback_stop && r.message[0] == '\0');
    /* bad escapes are kept, the message is cut to its buffer */
    feed(&r, "grpc-message: 50%Z and %4\r\n");
    CHECK_EQ_STR(r.message, "50%Z and %4");
    char longline[1024] = "grpc-message: ";
    memset(longline + 14, 'a', 900);
    feed(&r, longline);
    CHECK_EQ_INT(strlen(r.message), sizeof r.message - 1);
}

static void test_status(void)
{
    CHECK(otp_grpc_status_retryable(14));
    CHECK(otp_grpc_status_retryable(8));
    CHECK(otp_grpc_status_retryable(4));
    for (int s = 0; s <= 16; s++)
        if (s != 4 && s != 8 && s != 14) CHECK_NAMED("others not retried", !otp_grpc_status_retryable(s));
    CHECK_EQ_STR(otp_grpc_status_name(3), "INVALID_ARGUMENT");
    CHECK_EQ_STR(otp_grpc_status_name(14), "UNAVAILABLE");
    CHECK_EQ_STR(otp_grpc_status_name(16), "UNAUTHENTICATED");
    CHECK_EQ_STR(otp_grpc_status_name(17), "UNKNOWN_STATUS");
    CHECK_EQ_STR(otp_grpc_status_name(-1), "UNKNOWN_STATUS");
}

static int protocol_with(const char *otel, const char *otel_profiles, const char *otprof)
{
    unsetenv("OTPROF_CONFIG");
    setenv("OTPROF_SYSTEM_CONFIG", "/nonexistent/otprof.ini", 1);
    if (otel) setenv("OTEL_EXPORTER_OTLP_PROTOCOL", otel, 1);
    else unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
    if (otel_profiles) setenv("OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL", otel_profiles, 1);
    else unsetenv("OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL");
    if (otprof) setenv("OTPROF_EXPORT_PROTOCOL", otprof, 1);
    else unsetenv("OTPROF_EXPORT_PROTOCOL");
    otp_config_t c;
    otp_config_load(&c);
    return c.export_protocol;
}

static void test_config(void)
{
    CHECK_EQ_INT(protocol_with(NULL, NULL, NULL), OTP_PROTOCOL_HTTP);
    CHECK_EQ_INT(protocol_with("grpc", NULL, NULL), OTP_PROTOCOL_GRPC);
    CHECK_EQ_INT(protocol_with("http/protobuf", "grpc", NULL), OTP_PROTOCOL_GRPC);
    CHECK_EQ_INT(protocol_with("grpc", "http/protobuf", NULL), OTP_PROTOCOL_HTTP);
    CHECK_EQ_INT(protocol_with("grpc", NULL, "http/protobuf"), OTP_PROTOCOL_HTTP);
    CHECK_EQ_INT(protocol_with(NULL, NULL, "grpc"), OTP_PROTOCOL_GRPC);
    /* unsupported (said on stderr by the loader): the default */
    fprintf(stderr, "(an error line about http/json is expected next)\n");
    CHECK_EQ_INT(protocol_with("http/json", NULL, NULL), OTP_PROTOCOL_HTTP);
    protocol_with(NULL, NULL, NULL);
}

int main(void)
{
    test_url();
    test_frame();
    test_headers();
    test_status();
    test_config();
    return check_done();
}
