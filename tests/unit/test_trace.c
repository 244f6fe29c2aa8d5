/*
 * Trace context: the public API, TRACEPARENT parsing and the process-wide
 * default, and the signal-safety contract: a SIGPROF handler reading the
 * context while the thread switches spans as fast as it can must always
 * see one whole context, never half of one and half of another.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "check.h"
#include "config.h"
#include "internal.h"
#include "otprof.h"
#include "trace.h"

static volatile sig_atomic_t reads, torn, seen_a, seen_b;

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return false;
    return true;
}

static void on_prof(int sig)
{
    (void)sig;
    uint8_t t[16], s[8];
    if (!otp_trace_current(t, s)) {
        torn += !(all(t, 16, 0) && all(s, 8, 0));
        reads++;
        return;
    }
    if (all(t, 16, 0x11) && all(s, 8, 0x22)) seen_a++;
    else if (all(t, 16, 0x33) && all(s, 8, 0x44)) seen_b++;
    else torn++;
    reads++;
}

int main(void)
{
    otp_config_defaults(&otp_cfg);
    otp_trace_init();
    otp_trace_thread_start();

    uint8_t t[16], s[8];
    memset(t, 0xee, sizeof t);
    CHECK(!otp_trace_current(t, s));
    CHECK(all(t, 16, 0) && all(s, 8, 0));

    uint8_t ta[16], sa[8], tb[16], sb[8];
    memset(ta, 0x11, 16), memset(sa, 0x22, 8), memset(tb, 0x33, 16), memset(sb, 0x44, 8);
    otprof_set_trace_context(ta, sa);
    CHECK(otp_trace_current(t, s) && all(t, 16, 0x11) && all(s, 8, 0x22));
    otprof_set_trace_context(tb, sb);
    CHECK(otp_trace_current(t, s) && all(t, 16, 0x33) && all(s, 8, 0x44));
    otprof_set_trace_context(ta, sa);
    CHECK(otp_trace_current(t, s) && all(t, 16, 0x11));
    otprof_clear_trace_context();
    CHECK(!otp_trace_current(t, s));
    uint8_t zero[16] = {0};
    otprof_set_trace_context(ta, sa);
    otprof_set_trace_context(zero, sa); /* an all-zero trace id means none */
    CHECK(!otp_trace_current(t, s));
    otprof_set_trace_context(ta, NULL);
    CHECK(otp_trace_current(t, s) && all(t, 16, 0x11) && all(s, 8, 0));
    otprof_clear_trace_context();

    /* traceparent */
    const char *good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    CHECK(otp_trace_parse_traceparent(good, t, s));
    CHECK(t[0] == 0x4b && t[15] == 0x36 && s[0] == 0x00 && s[7] == 0xb7);
    CHECK(!otp_trace_parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", t, s));
    CHECK(!otp_trace_parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01", t, s));
    CHECK(!otp_trace_parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", t, s));
    CHECK(!otp_trace_parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", t, s));
    CHECK(!otp_trace_parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", t, s));
    CHECK(otp_trace_parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", t, s));
    CHECK(!otp_trace_parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", t, s));
    CHECK(!otp_trace_parse_traceparent("", t, s));

    /* TRACEPARENT: the default when the thread has no context of its own */
    snprintf(otp_cfg.traceparent, sizeof otp_cfg.traceparent, "%s", good);
    otp_trace_init();
    CHECK(otp_trace_current(t, s) && t[0] == 0x4b && s[7] == 0xb7);
    otprof_set_trace_context(tb, sb);
    CHECK(otp_trace_current(t, s) && all(t, 16, 0x33));
    otprof_clear_trace_context();
    CHECK(otp_trace_current(t, s) && t[0] == 0x4b);
    otp_cfg.traceparent[0] = '\0';

    /* Signal consistency: fast span switches under a 100 us CPU timer.
     * (The default context from above stays set, so "none" never shows;
     * reads without context are still checked for zeroed ids.) */
    struct sigaction sa_;
    memset(&sa_, 0, sizeof sa_);
    sa_.sa_handler = on_prof;
    sa_.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa_, NULL);
    struct itimerval it = {{0, 100}, {0, 100}};
    setitimer(ITIMER_PROF, &it, NULL);
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    long n = 0;
    do {
        for (int i = 0; i < 1000; i++) {
            otprof_set_trace_context(ta, sa);
            otprof_set_trace_context(tb, sb);
        }
        n++;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    } while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 500 && reads < 2000);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    printf("      %d reads in the handler (a %d, b %d) over %ld span switches\n", (int)reads,
           (int)seen_a, (int)seen_b, n * 2000);
    CHECK(reads >= 50); /* CPU timers tick at the kernel's HZ */
    CHECK(seen_a > 10 && seen_b > 10);
    CHECK_EQ_INT(torn, 0);
    return check_done();
}
