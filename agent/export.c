/*
 * Sink dispatch: the pprof file sink and (when an endpoint is set) the
 * OTLP sink (agent/otlp.h encodes, agent/http.h sends). Flusher thread
 * only, except the summary section, which runs after the flusher ended.
 */
#include "export.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "otlp.h"
#include "pprof.h"
#include "sink_file.h"
#include "summary.h"
#include "sys.h"

static bool file_sink_on;
static bool otlp_on;
static atomic_flag file_warned = ATOMIC_FLAG_INIT;
static atomic_flag otlp_warned = ATOMIC_FLAG_INIT;

static void otlp_summary(void)
{
    otp_http_stats_t st;
    otp_http_stats(&st);
    OTP_INFO("OTLP export: %llu requests sent, %llu failed attempts retried; dropped %llu "
             "(queue full), %llu (rejected), %llu (gave up), %llu (at exit); %llu profiles "
             "rejected by the backend",
             (unsigned long long)st.sent, (unsigned long long)st.attempts_failed,
             (unsigned long long)st.dropped_queue, (unsigned long long)st.dropped_rejected,
             (unsigned long long)st.dropped_gave_up, (unsigned long long)st.dropped_exit,
             (unsigned long long)st.rejected_profiles);
}

void otp_export_init(void)
{
    file_sink_on = otp_cfg.output_dir[0] != '\0';
    otlp_on = false;
    if (otp_cfg.endpoint[0]) {
        otp_http_init();
        otlp_on = otp_http_enabled() && otp_otlp_init() == 0;
        /* once per process image: a fork child runs this again */
        static bool section_added;
        if (otlp_on && otp_cfg.summary && !section_added) {
            otp_summary_add_section(otlp_summary);
            section_added = true;
        }
    }
}

static void send_otlp(const otp_batch_t *b)
{
    uint8_t *req = NULL;
    size_t len = 0;
    int rc = otp_otlp_encode(b, &req, &len);
    if (rc == 0) {
        otp_http_enqueue(req, len);
        OTP_DEBUG("OTLP request %u queued (%zu bytes before compression)", b->seq, len);
    } else if (rc != -ENODATA) {
        otp_log_once(&otlp_warned, OTP_LOG_WARN, "cannot encode OTLP profiles: %s; skipping them",
                     strerror(-rc));
    }
}

static void write_pprof_file(const otp_profile_t *p, otp_symbolizer_t *sym, uint32_t seq)
{
    uint8_t *raw = NULL, *gz = NULL;
    size_t rawlen = 0, gzlen = 0;
    int rc = otp_pprof_encode(p, sym, &raw, &rawlen);
    if (rc == 0)
        rc = otp_gzip(raw, rawlen, &gz, &gzlen);
    if (rc == 0) {
        char name[768];
        snprintf(name, sizeof name, "%s.%d.%u.%s.pb.gz", otp_cfg.service_name, (int)getpid(), seq,
                 p->kind == OTP_PROFILE_CPU ? "cpu" : "heap");
        rc = otp_file_write_atomic(otp_cfg.output_dir, name, gz, gzlen);
        if (rc == 0)
            OTP_INFO("wrote %s/%s (%zu samples)", otp_cfg.output_dir, name, p->nsamples);
    }
    if (rc != 0)
        otp_log_once(&file_warned, OTP_LOG_WARN, "cannot write profiles to %s: %s; the app runs on",
                     otp_cfg.output_dir, strerror(-rc));
    otp_free(raw);
    otp_free(gz);
}

typedef struct seq_scan {
    char prefix[768];
    size_t plen;
    uint32_t next;
} seq_scan_t;

static void seq_of(void *ctx, const char *name)
{
    seq_scan_t *sc = ctx;
    if (strncmp(name, sc->prefix, sc->plen) != 0)
        return;
    char *end;
    unsigned long v = strtoul(name + sc->plen, &end, 10);
    if (end != name + sc->plen && *end == '.' && v < UINT32_MAX && v + 1 > sc->next)
        sc->next = (uint32_t)v + 1;
}

uint32_t otp_export_next_seq(void)
{
    seq_scan_t sc = {.next = 0};
    if (!file_sink_on)
        return 0;
    int plen = snprintf(sc.prefix, sizeof sc.prefix, "%s.%d.", otp_cfg.service_name, (int)getpid());
    if (plen <= 0 || (size_t)plen >= sizeof sc.prefix)
        return 0;
    sc.plen = (size_t)plen;
    otp_dir_foreach(otp_cfg.output_dir, seq_of, &sc);
    return sc.next;
}

void otp_export_batch(const otp_batch_t *b)
{
    if (file_sink_on) {
        if (b->cpu)
            write_pprof_file(b->cpu, b->sym, b->seq);
        if (b->heap)
            write_pprof_file(b->heap, b->sym, b->seq);
    }
    if (otlp_on && otp_http_enabled())
        send_otlp(b);
}

void otp_export_tick(void)
{
    if (otlp_on)
        otp_http_tick();
}

void otp_export_shutdown(int64_t deadline_ns)
{
    if (!otlp_on)
        return;
    /* The network gets export.shutdown_timeout_ms at most, whatever the
     * caller's overall budget is: a hung backend must not hold the exit. */
    int64_t cap = otp_mono_ns() + (int64_t)otp_cfg.shutdown_timeout_ms * 1000000;
    otp_http_shutdown(deadline_ns < cap ? deadline_ns : cap);
}

void otp_export_atfork_child(void)
{
    /* No allocation here: the child's allocator is not ready yet. */
    if (otlp_on)
        otp_http_atfork_child();
}
