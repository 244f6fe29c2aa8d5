/*
 * Sink dispatch: the pprof file sink and (when an endpoint is set) the
 * OTLP sink (agent/otlp.h encodes, agent/http.h sends). Flusher thread
 * only, except the summary section, which runs after the flusher ended.
 */
#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dirlimit.h"
#include "fds.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "otlp.h"
#include "pprof.h"
#include "procctx.h"
#include "resource.h"
#include "retain.h"
#include "rng.h"
#include "sink_file.h"
#include "summary.h"
#include "sys.h"

/* Bytes written since this process last listed the directory (limit_dir). */
#define DIR_SCAN_SHARE 64
static uint64_t unlisted_bytes, dir_rng;
static bool file_sink_on;
static bool otlp_on;
static atomic_flag file_warned = ATOMIC_FLAG_INIT;
static atomic_flag otlp_warned = ATOMIC_FLAG_INIT;
static atomic_flag retain_warned = ATOMIC_FLAG_INIT;
static atomic_flag final_warned = ATOMIC_FLAG_INIT;
static atomic_flag limit_warned = ATOMIC_FLAG_INIT;

/* The service name as it appears in file names (the profile and OTLP
 * keep the real one). */
static char stem[OTP_STEM_MAX + 1];

void otp_export_file_stem(const char *service, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *c = service; *c && n + 1 < cap && n < OTP_STEM_MAX; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                  *c == '-' || *c == '_' || *c == '.' || *c == '+' || *c == '@';
        /* a leading dot would hide the file (and look like a temp file) */
        out[n] = ok && !(n == 0 && *c == '.') ? *c : '_';
        n++;
    }
    if (n == 0)
        n = (size_t)snprintf(out, cap, "unknown_service");
    else
        out[n] = '\0';
}

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

/* A relative output_dir is taken from the directory the process started
 * in, once (a fork child inherits the result): a daemon's chdir("/") or
 * a script's cd would otherwise scatter its profiles, each export into
 * whatever directory it is in by then, making the directory there. */
void otp_export_anchor_dir(void)
{
    char *d = otp_cfg.output_dir;
    if (!d[0] || d[0] == '/')
        return;
    char cwd[sizeof otp_cfg.output_dir], out[sizeof otp_cfg.output_dir];
    if (!getcwd(cwd, sizeof cwd) || cwd[0] != '/')
        return; /* no reachable working directory: stays relative */
    const char *rel = d;
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    int n;
    if (!rel[0] || strcmp(rel, ".") == 0)
        n = snprintf(out, sizeof out, "%s", cwd);
    else
        n = snprintf(out, sizeof out, "%s%s%s", cwd, cwd[1] ? "/" : "", rel);
    if (n > 0 && (size_t)n < sizeof out)
        memcpy(d, out, (size_t)n + 1);
}

void otp_export_init(void)
{
    file_sink_on = otp_cfg.output_dir[0] != '\0';
    otp_export_file_stem(otp_cfg.service_name, stem, sizeof stem);
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
    /* The process context is published as soon as the agent's thread
     * runs, with or without OTLP. */
    if (otp_cfg.publish_process_context && !otp_resource_ready())
        otp_resource_build();
    otp_resource_tick();
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
                     otp_strerror(-rc));
    }
}

static const char *why(int rc)
{
    if (rc == -ELOOP)
        return "it is a symlink owned by another user (not followed)";
    if (rc == -EFBIG)
        return "File too large (the process's file size limit, RLIMIT_FSIZE or ulimit -f)";
    return otp_strerror(-rc);
}

static void file_name(char *name, size_t cap, int kind, uint32_t seq)
{
    snprintf(name, cap, "%s.%d.%u.%s.pb.gz", stem, (int)getpid(), seq, kind == OTP_PROFILE_CPU ? "cpu" : "heap");
}

/* Encodes and writes one profile (merged with any kept, unwritten
 * intervals of its kind); on failure keeps it for the next interval. */
static void write_pprof_file(int dirfd, int open_rc, const otp_profile_t *p, otp_symbolizer_t *sym,
                             uint32_t seq, bool final)
{
    uint8_t *raw = NULL, *gz = NULL;
    size_t rawlen = 0, gzlen = 0;
    otp_profile_t merged;
    int intervals = 1;
    const otp_profile_t *out = otp_retain_merge(p, &merged, &intervals);
    if (!out) {
        out = p;
        intervals = 1;
    }
    int rc = open_rc;
    if (rc == 0)
        rc = otp_pprof_encode(out, sym, &raw, &rawlen);
    if (rc == 0)
        rc = otp_gzip(raw, rawlen, &gz, &gzlen);
    char name[OTP_STEM_MAX + 64];
    file_name(name, sizeof name, p->kind, seq);
    if (rc == 0)
        rc = otp_file_write_at(dirfd, name, gz, gzlen, otp_cfg.file_mode);
    if (rc == 0)
        unlisted_bytes += gzlen;
    otp_free(raw);
    otp_free(gz);
    if (rc == 0) {
        otp_retain_written(p->kind);
        if (intervals > 1)
            OTP_INFO("wrote %s/%s (%zu samples, %d intervals that could not be written before)",
                     otp_cfg.output_dir, name, out->nsamples, intervals - 1);
        else
            OTP_INFO("wrote %s/%s (%zu samples)", otp_cfg.output_dir, name, out->nsamples);
        return;
    }
    /* Nothing is retried after the final export: say what is lost (an
     * app at its RLIMIT_NOFILE when it exits has no descriptor to spare). */
    if (final) {
        otp_log_once(&final_warned, OTP_LOG_WARN, "cannot write the final profiles to %s: %s; their samples "
                     "are lost (%d interval%s of them)", otp_cfg.output_dir, why(rc), intervals,
                     intervals > 1 ? "s" : "");
        return;
    }
    otp_log_once(&file_warned, OTP_LOG_WARN, "cannot write profiles to %s: %s; the app runs on "
                 "(unwritten profiles are kept in memory and retried)", otp_cfg.output_dir, why(rc));
    uint64_t lost = otp_retain_failed(p, otp_cfg.max_queue_bytes);
    if (lost)
        otp_log_once(&retain_warned, OTP_LOG_WARN, "unwritten profiles exceed "
                     "export.max_queue_bytes (%lld); dropped the oldest (%llu samples)",
                     (long long)otp_cfg.max_queue_bytes, (unsigned long long)lost);
}

/* export.max_dir_mb, after a batch of files. Listing the directory costs
 * one fstatat per file of the service, and a build's hundreds of short
 * processes share one directory: listing it after every export would
 * cost each process more the more files there are. So it is listed on
 * average once per DIR_SCAN_SHARE of the limit written: by a process
 * whose writes since its last listing reach that, else with the
 * probability of their share of it. The directory then passes the limit
 * by about that share, until the next listing. */

static bool time_to_list(void)
{
    uint64_t step = (uint64_t)otp_cfg.max_dir_bytes / DIR_SCAN_SHARE;
    if (unlisted_bytes < step) {
        if (!dir_rng)
            dir_rng = otp_rng_seed((uint64_t)otp_mono_ns() ^ ((uint64_t)getpid() << 32));
        if (otp_rng_next(&dir_rng) % step >= unlisted_bytes)
            return false;
    }
    unlisted_bytes = 0;
    return true;
}

static void limit_dir(int dirfd, uint32_t seq)
{
    otp_dirlimit_result_t r;
    if (otp_cfg.max_dir_bytes <= 0 || !time_to_list() ||
        otp_dirlimit_enforce(dirfd, stem, otp_cfg.max_dir_bytes, getpid(), seq, &r) != 0 ||
        r.deleted == 0)
        return;
    char mb[32];
    snprintf(mb, sizeof mb, "%.3f", (double)otp_cfg.max_dir_bytes / 1048576.0);
    otp_log_once(&limit_warned, OTP_LOG_WARN, "%s holds more than export.max_dir_mb (%s MB) of "
                 "%s profiles: deleting the oldest of them to stay under it (said once)",
                 otp_cfg.output_dir, mb, stem);
    OTP_DEBUG("export.max_dir_mb: deleted %llu files (%llu bytes) of %llu", (unsigned long long)r.deleted,
              (unsigned long long)r.deleted_bytes, (unsigned long long)r.files);
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

/* Numbering. An exec'd image of the same pid and name (or an old process
 * whose pid came round again) may have left files, and this image must
 * continue after them, never overwrite them. Listing the directory at
 * the first export to find them cost each process more the more files
 * the directory held (a build's hundreds of processes share one: at
 * 10000 files, 5 ms of every compiler's exit). So numbering starts at 0
 * and the directory is listed only when a name about to be written is
 * already taken: from then on this image's numbers are shifted past the
 * highest there. */
static bool seq_listed;
static uint32_t seq_shift;

static uint32_t list_next_seq(int dirfd)
{
    seq_scan_t sc = {.next = 0};
    int plen = snprintf(sc.prefix, sizeof sc.prefix, "%s.%d.", stem, (int)getpid());
    if (plen <= 0 || (size_t)plen >= sizeof sc.prefix)
        return 0;
    sc.plen = (size_t)plen;
    otp_dir_foreach_at(dirfd, seq_of, &sc);
    return sc.next;
}

static bool name_taken(int dirfd, int kind, uint32_t seq)
{
    char name[OTP_STEM_MAX + 64];
    struct stat st;
    file_name(name, sizeof name, kind, seq);
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/* The number this batch's files get: the flusher's, shifted (above). */
static uint32_t batch_seq(int dirfd, const otp_batch_t *b)
{
    uint32_t seq = b->seq + seq_shift;
    if (seq_listed || dirfd < 0 ||
        !((b->cpu && name_taken(dirfd, OTP_PROFILE_CPU, seq)) || (b->heap && name_taken(dirfd, OTP_PROFILE_HEAP, seq))))
        return seq;
    seq_listed = true;
    uint32_t next = list_next_seq(dirfd);
    if (next > seq) {
        seq_shift += next - seq;
        seq = next;
    }
    return seq;
}

uint32_t otp_export_next_seq(void)
{
    seq_listed = false;
    seq_shift = 0;
    return 0;
}

bool otp_export_pending(void)
{
    return file_sink_on &&
           (otp_retain_pending(OTP_PROFILE_CPU) > 0 || otp_retain_pending(OTP_PROFILE_HEAP) > 0);
}

void otp_export_batch(const otp_batch_t *bin)
{
    /* An empty profile only carries kept intervals to the file sink. */
    otp_batch_t bb = *bin;
    const otp_batch_t *b = &bb;
    if (bb.cpu && bb.cpu->nsamples == 0 && !otp_retain_pending(OTP_PROFILE_CPU))
        bb.cpu = NULL;
    if (bb.heap && bb.heap->nsamples == 0 && !otp_retain_pending(OTP_PROFILE_HEAP))
        bb.heap = NULL;
    if (file_sink_on && (b->cpu || b->heap)) {
        int dirfd = otp_file_open_dir(otp_cfg.output_dir, otp_file_dir_mode(otp_cfg.file_mode));
        int open_rc = dirfd < 0 ? dirfd : 0;
        uint32_t seq = batch_seq(dirfd, b);
        if (b->cpu)
            write_pprof_file(dirfd, open_rc, b->cpu, b->sym, seq, b->final);
        if (b->heap)
            write_pprof_file(dirfd, open_rc, b->heap, b->sym, seq, b->final);
        if (dirfd >= 0) {
            limit_dir(dirfd, seq);
            otp_close(dirfd);
        }
    }
    if (bb.cpu && bb.cpu->nsamples == 0)
        bb.cpu = NULL;
    if (bb.heap && bb.heap->nsamples == 0)
        bb.heap = NULL;
    /* the app's process context may have come (or changed) since */
    otp_resource_tick();
    if (otlp_on && otp_http_enabled() && (b->cpu || b->heap))
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
    dir_rng = 0; /* not the parent's draws */
    unlisted_bytes = 0;
    /* No allocation here: the child's allocator is not ready yet. */
    otp_retain_atfork_child();
    otp_procctx_atfork_child();
    if (otlp_on)
        otp_http_atfork_child();
}
