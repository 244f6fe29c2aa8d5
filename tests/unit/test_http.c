/*
 * OTLP/HTTP transport pieces that need no network: Retry-After parsing
 * (both forms of RFC 9110), the backoff schedule, which answers are
 * retried, and the bounded queue (no tick, so nothing is ever sent).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "config.h"
#include "http.h"
#include "mem.h"
#include "sys.h"

static uint8_t *blob(size_t n)
{
    uint8_t *b = otp_malloc(n);
    memset(b, 0x5a, n);
    return b;
}

int main(void)
{
    /* 1994-11-06 08:49:37 UTC */
    const time_t t0 = 784111777;
    CHECK_EQ_INT(otp_http_retry_after_ms("120", t0), 120000);
    CHECK_EQ_INT(otp_http_retry_after_ms(" 0 ", t0), 0);
    CHECK_EQ_INT(otp_http_retry_after_ms("Sun, 06 Nov 1994 08:49:40 GMT", t0), 3000);
    CHECK_EQ_INT(otp_http_retry_after_ms("Sunday, 06-Nov-94 08:49:47 GMT", t0), 10000);
    CHECK_EQ_INT(otp_http_retry_after_ms("Sun Nov  6 08:50:37 1994", t0), 60000);
    CHECK_EQ_INT(otp_http_retry_after_ms("Sat, 05 Nov 1994 08:49:37 GMT", t0), 0); /* past */
    CHECK_EQ_INT(otp_http_retry_after_ms("Thu, 01 Jan 2037 00:00:00 GMT", 2114380800 - 5), 5000);
    CHECK_EQ_INT(otp_http_retry_after_ms("soon", t0), -1);
    CHECK_EQ_INT(otp_http_retry_after_ms("12abc", t0), -1);
    CHECK_EQ_INT(otp_http_retry_after_ms("", t0), -1);
    CHECK_EQ_INT(otp_http_retry_after_ms("Sun, 06 Foo 1994 08:49:40 GMT", t0), -1);

    uint64_t rng = 42;
    int64_t prev_max = 0;
    bool grows = true, bounded = true;
    for (int f = 1; f <= 12; f++) {
        int64_t d = 250;
        for (int i = 1; i < f && d < 30000; i++) d *= 2;
        if (d > 30000) d = 30000;
        int64_t lo = INT64_MAX, hi = 0;
        for (int k = 0; k < 200; k++) {
            int64_t v = otp_http_backoff_ms(f, &rng);
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        bounded = bounded && lo >= d / 2 && hi <= d;
        /* the range doubles until the cap */
        if (f > 1 && d < 30000) grows = grows && lo >= prev_max;
        prev_max = hi;
        if (f == 3) CHECK(hi - lo > 50); /* jittered */
    }
    CHECK(bounded);
    CHECK(grows);
    CHECK(prev_max <= 30000 && prev_max > 20000);

    CHECK(otp_http_status_retryable(429));
    CHECK(otp_http_status_retryable(502));
    CHECK(otp_http_status_retryable(503));
    CHECK(otp_http_status_retryable(504));
    CHECK(!otp_http_status_retryable(400));
    CHECK(!otp_http_status_retryable(401));
    CHECK(!otp_http_status_retryable(413));
    CHECK(!otp_http_status_retryable(500));

    /* Off without an endpoint: enqueue frees and ignores. */
    otp_config_defaults(&otp_cfg);
    otp_http_init();
    CHECK(!otp_http_enabled());
    otp_http_enqueue(blob(10), 10);
    otp_http_stats_t st;
    otp_http_stats(&st);
    CHECK_EQ_INT(st.queued, 0);

    /* The queue keeps the newest requests within max_queue_bytes. */
    snprintf(otp_cfg.endpoint, sizeof otp_cfg.endpoint, "http://127.0.0.1:9/");
    otp_cfg.compression_gzip = false;
    otp_cfg.max_queue_bytes = 2500;
    otp_http_init();
    CHECK(otp_http_enabled());
    for (int i = 0; i < 5; i++) otp_http_enqueue(blob(1000), 1000);
    otp_http_stats(&st);
    CHECK_EQ_INT(st.queued, 2);
    CHECK_EQ_INT(st.queued_bytes, 2000);
    CHECK_EQ_INT(st.dropped_queue, 3);
    /* a single request over the limit is still kept (the newest always is) */
    otp_http_enqueue(blob(4000), 4000);
    otp_http_stats(&st);
    CHECK_EQ_INT(st.queued, 1);
    CHECK_EQ_INT(st.queued_bytes, 4000);
    CHECK_EQ_INT(st.dropped_queue, 5);

    /* With gzip on, the queue holds the compressed bytes. */
    otp_cfg.compression_gzip = true;
    otp_cfg.max_queue_bytes = 1 << 20;
    otp_http_init();
    otp_http_enqueue(blob(100000), 100000);
    otp_http_stats(&st);
    CHECK_EQ_INT(st.queued, 1);
    CHECK(st.queued_bytes > 0 && st.queued_bytes < 2000);

    /* A fork child forgets the queue without freeing it. */
    otp_http_atfork_child();
    otp_http_stats(&st);
    CHECK_EQ_INT(st.queued, 0);
    CHECK(otp_http_enabled());

    /* Shutdown with nothing queued returns at once and turns it off. */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    otp_http_shutdown(otp_mono_ns() + 2000000000LL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 100);
    CHECK(!otp_http_enabled());
    return check_done();
}
