/*
 * Sink dispatch: the pprof file sink and (when an endpoint is set) the
 * OTLP sink. Flusher thread only.
 */
#include "export.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "pprof.h"
#include "sink_file.h"

static bool file_sink_on;
static atomic_flag file_warned = ATOMIC_FLAG_INIT;

void otp_export_init(void)
{
    file_sink_on = otp_cfg.output_dir[0] != '\0';
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

void otp_export_batch(const otp_batch_t *b)
{
    if (file_sink_on) {
        if (b->cpu)
            write_pprof_file(b->cpu, b->sym, b->seq);
        if (b->heap)
            write_pprof_file(b->heap, b->sym, b->seq);
    }
    /* OTLP sink: see agent/otlp.h (issue 4). */
}

void otp_export_tick(void)
{
}

void otp_export_shutdown(int64_t deadline_ns)
{
    (void)deadline_ns;
}

void otp_export_atfork_child(void)
{
}
