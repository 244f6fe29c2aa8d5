/*
 * Settings: one static table (otp_cfg_keys) lists every key with its
 * section, type, default, range, place in otp_config_t and a one-line doc.
 * Layers, lowest first: table defaults < the system file (/etc/otprof.ini)
 * < one INI file (OTPROF_CONFIG, else otprof.ini beside the executable) <
 * OTPROF_<SECTION>_<KEY> variables; the standard OTEL_* variables then
 * fill what is still unset. An empty value anywhere means "not set", as in
 * the OpenTelemetry spec.
 *
 * Secure execution (AT_SECURE: setuid, setgid, file capabilities): the
 * environment and the file beside the executable belong to whoever
 * started the program, not to its owner, so only the system file is read,
 * only if root owns it and no one else may write it, and the agent stays
 * off unless that file itself says agent.enabled = true.
 *
 * Runs once in the constructor, before the agent's allocator exists, so
 * nothing here may malloc: the file is read with open/read into a static
 * buffer and parsed by inih (stack line buffer) through our own line
 * reader, which is also how every message gets its line number (Debian's
 * inih 55 passes none to the handler). Not thread-safe, not for signal
 * context. This is the only place that reads OTPROF_* variables.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fds.h"
#include "internal.h"
#include "log.h"
#include "sys.h"

/* Larger files are refused whole rather than half-applied. */
#define OTP_CFG_FILE_MAX (64 * 1024)
/* Room for a value taken from a line too long for inih's line buffer.
 * Every string field is smaller, so a clipped value still reads as too
 * long instead of being silently cut. */
#define OTP_CFG_LONG_VALUE 4096
/* Values are quoted in messages up to this many bytes. */
#define OTP_CFG_SHOW 60
#define OTP_CFG_DEFAULT_OUTPUT_DIR "./otprof-out"

enum { OTP_CT_BOOL, OTP_CT_INT, OTP_CT_STR, OTP_CT_ENUM, OTP_CT_MB, OTP_CT_MODE, OTP_CT_MILLI };
#define OTP_MIB 1048576

typedef struct otp_cfg_name {
    const char *name;
    int value;
} otp_cfg_name_t;

typedef struct otp_cfg_key {
    const char *section; /* NULL: environment-only field, no INI key */
    const char *key;     /* for section == NULL: the variable's name */
    int type;
    size_t off, size;    /* the field; size tells bool, int and int64 apart */
    int64_t def, min, max;
    const char *def_str;
    const otp_cfg_name_t *names; /* OTP_CT_ENUM, NULL-terminated */
    const char *doc;
} otp_cfg_key_t;

#define OTP_F(field) offsetof(otp_config_t, field), sizeof(((otp_config_t *)0)->field)
#define OTP_BOOL(sec, key, field, def, doc) \
    { sec, key, OTP_CT_BOOL, OTP_F(field), def, 0, 1, NULL, NULL, doc }
#define OTP_INT(sec, key, field, def, lo, hi, doc) \
    { sec, key, OTP_CT_INT, OTP_F(field), def, lo, hi, NULL, NULL, doc }
#define OTP_STR(sec, key, field, doc) \
    { sec, key, OTP_CT_STR, OTP_F(field), 0, 0, 0, "", NULL, doc }
#define OTP_ENUM(sec, key, field, def, names, doc) \
    { sec, key, OTP_CT_ENUM, OTP_F(field), def, 0, 0, NULL, names, doc }
/* Megabytes in the file (up to 3 decimals), bytes in the field. */
#define OTP_MB(sec, key, field, def_mb, max_mb, doc) \
    { sec, key, OTP_CT_MB, OTP_F(field), (int64_t)(def_mb) * OTP_MIB, 0, \
      (int64_t)(max_mb) * OTP_MIB, NULL, NULL, doc }
/* A decimal with up to 3 decimals, x1000 in the field: 0, or lo..hi. */
#define OTP_MILLI(sec, key, field, def, lo, hi, doc) \
    { sec, key, OTP_CT_MILLI, OTP_F(field), def, lo, hi, NULL, NULL, doc }
/* An octal file mode: read/write bits only, owner's always on. */
#define OTP_MODE(sec, key, field, def, doc) \
    { sec, key, OTP_CT_MODE, OTP_F(field), def, 0600, 0666, NULL, NULL, doc }

static const otp_cfg_name_t otp_cfg_levels[] = {
    { "error", OTP_LOG_ERROR }, { "warn", OTP_LOG_WARN },
    { "info", OTP_LOG_INFO },   { "debug", OTP_LOG_DEBUG },
    { NULL, 0 },
};
static const otp_cfg_name_t otp_cfg_cpu_samplings[] = {
    { "timer", OTP_CPU_SAMPLING_TIMER }, { "off", OTP_CPU_SAMPLING_OFF }, { NULL, 0 },
};
static const otp_cfg_name_t otp_cfg_mem_samplings[] = {
    { "bytes", OTP_MEM_SAMPLING_BYTES }, { "every", OTP_MEM_SAMPLING_EVERY },
    { "off", OTP_MEM_SAMPLING_OFF }, { NULL, 0 },
};
static const otp_cfg_name_t otp_cfg_protocols[] = {
    { "http/protobuf", OTP_PROTOCOL_HTTP }, { "grpc", OTP_PROTOCOL_GRPC }, { NULL, 0 },
};
static const otp_cfg_name_t otp_cfg_compressions[] = {
    { "gzip", 1 }, { "none", 0 }, { NULL, 0 },
};

/* Order = order of otprof.ini. Docs here and there say the same. */
static const otp_cfg_key_t otp_cfg_keys[] = {
    OTP_BOOL("agent", "enabled", agent_enabled, 1,
             "false: the agent does nothing at all"),
    OTP_STR("agent", "service_name", service_name,
            "service.name; empty: OTEL_SERVICE_NAME, else the executable's name"),
    OTP_STR("agent", "service_version", service_version, "service.version"),
    OTP_STR("agent", "deployment_environment", deployment_environment,
            "deployment.environment.name"),
    OTP_ENUM("agent", "log_level", log_level, OTP_LOG_WARN, otp_cfg_levels,
             "stderr verbosity: error, warn, info or debug"),
    OTP_BOOL("agent", "summary", summary, 0, "print a short summary at exit"),
    OTP_MILLI("agent", "max_overhead_percent", max_overhead_milli, 1000, 100, 50000,
              "CPU the agent may use, in % of the process's (0.1..50); 0: no budget"),
    OTP_BOOL("agent", "command_args", command_args, 0,
             "put the program's arguments (process.command_args) in the OTLP resource"),
    OTP_BOOL("agent", "publish_process_context", publish_process_context, 0,
             "publish the resource as the process's OpenTelemetry process context (OTEL_CTX)"),
    OTP_INT("agent", "max_memory_mb", max_memory_mb, 32, 0, 65536,
            "MiB of memory the agent may hold (0..65536); 0: no cap"),

    OTP_BOOL("cpu", "enabled", cpu_enabled, 1, "sample on-CPU stacks"),
    OTP_ENUM("cpu", "sampling", cpu_sampling, OTP_CPU_SAMPLING_TIMER, otp_cfg_cpu_samplings,
             "timer: per-thread CPU-time timers; off: no CPU profile"),
    OTP_INT("cpu", "frequency_hz", cpu_frequency_hz, 100, 1, 1000,
            "samples per second of CPU time (1..1000)"),
    OTP_INT("cpu", "max_stack_depth", cpu_max_stack_depth, 64, 4, OTP_MAX_FRAMES,
            "frames kept per stack, deeper stacks are cut (4..256)"),

    OTP_BOOL("memory", "enabled", memory_enabled, 1, "sample heap allocations"),
    OTP_ENUM("memory", "sampling", memory_sampling, OTP_MEM_SAMPLING_BYTES, otp_cfg_mem_samplings,
             "bytes: one sample per sample_bytes on average; every: each allocation; off"),
    OTP_INT("memory", "sample_bytes", memory_sample_bytes, 524288, 1, 1073741824,
            "mean bytes allocated between two samples (1..1073741824)"),
    OTP_BOOL("memory", "track_frees", memory_track_frees, 1,
             "match frees to samples, for in-use and leak profiles"),
    OTP_INT("memory", "leak_intervals", memory_leak_intervals, 3, 2, 1000,
            "export intervals a sample must survive to count as a leak (2..1000)"),

    OTP_INT("export", "interval_ms", export_interval_ms, 10000, 100, 3600000,
            "milliseconds between exports (100..3600000)"),
    OTP_STR("export", "output_dir", output_dir,
            "pprof files go here; empty: ./otprof-out, or none if an endpoint is set"),
    OTP_STR("export", "endpoint", endpoint,
            "OTLP/HTTP base URL; empty: OTEL_EXPORTER_OTLP_ENDPOINT, else no OTLP"),
    OTP_ENUM("export", "protocol", export_protocol, OTP_PROTOCOL_HTTP, otp_cfg_protocols,
             "http/protobuf or grpc (port 4317 if none given); unset: OTEL_EXPORTER_OTLP_PROTOCOL"),
    OTP_STR("export", "headers", headers,
            "extra HTTP headers k=v,k2=v2; empty: OTEL_EXPORTER_OTLP_HEADERS"),
    OTP_INT("export", "timeout_ms", export_timeout_ms, 10000, 1, 600000,
            "per-request timeout (1..600000); unset: OTEL_EXPORTER_OTLP_TIMEOUT"),
    OTP_ENUM("export", "compression", compression_gzip, 1, otp_cfg_compressions,
             "request body: gzip or none; unset: OTEL_EXPORTER_OTLP_COMPRESSION"),
    OTP_INT("export", "max_queue_bytes", max_queue_bytes, 8388608, 0, 1073741824,
            "unsent OTLP bytes kept before the oldest are dropped (0..1073741824)"),
    OTP_INT("export", "shutdown_timeout_ms", shutdown_timeout_ms, 2000, 0, 60000,
            "time the final export may take at exit (0..60000)"),
    OTP_BOOL("export", "original_pprof", original_pprof, 0,
             "also attach the raw pprof bytes to each OTLP profile"),
    OTP_MB("export", "max_dir_mb", max_dir_bytes, 512, 1048576,
           "MB of this service's profile files kept in output_dir, oldest deleted first; 0: no limit"),
    OTP_MODE("export", "file_mode", file_mode, 0600,
             "mode of the profile files (0600..0666); directories get x where r is set"),
    OTP_STR("export", "certificate", certificate,
            "CA certificates (PEM file) for an https endpoint; empty: OTEL_EXPORTER_OTLP_CERTIFICATE"),
    OTP_STR("export", "client_key", client_key,
            "private key (PEM file) for mTLS; empty: OTEL_EXPORTER_OTLP_CLIENT_KEY"),
    OTP_STR("export", "client_certificate", client_certificate,
            "client certificate (PEM file) for mTLS; empty: OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
};

/* Fields that only come from the standard environment, copied raw. */
static const otp_cfg_key_t otp_cfg_passthrough[] = {
    OTP_STR(NULL, "OTEL_RESOURCE_ATTRIBUTES", resource_attributes, "k=v,k2=v2 resource"),
    OTP_STR(NULL, "TRACEPARENT", traceparent, "W3C parent context"),
};

#define OTP_CFG_NKEYS OTP_ARRAY_LEN(otp_cfg_keys)

enum {
    OTP_SRC_DEFAULT = OTP_CONFIG_DEFAULT,
    OTP_SRC_SYSTEM = OTP_CONFIG_SYSTEM_FILE,
    OTP_SRC_FILE = OTP_CONFIG_FILE,
    OTP_SRC_ENV = OTP_CONFIG_OTPROF_ENV,
    OTP_SRC_OTEL = OTP_CONFIG_OTEL_ENV,
};
static const char *const otp_cfg_src_names[] = { "default", "system file", "file", "environment",
                                                 "OTEL environment" };

/* Where each key's value came from in the last reporting pass, for
 * otp_config_item: the file (path and line) or the OTEL_* variable. */
typedef struct otp_cfg_origin {
    const char *what; /* file path or variable name; NULL: see src */
    int line;
} otp_cfg_origin_t;
static unsigned char otp_cfg_last_src[OTP_CFG_NKEYS] OTP_STARTUP_DATA;
static otp_cfg_origin_t otp_cfg_last_origin[OTP_CFG_NKEYS] OTP_STARTUP_DATA;
/* The executable whose settings are loaded: NULL = this process's
 * (otp_config_load_for lets the otprof command name another one). */
static const char *otp_cfg_exe OTP_STARTUP_DATA;

/* One load pass. The load runs two passes over the same inputs: a quiet
 * one to learn log_level, then the reporting one, so that its messages
 * already obey the configured level. */
typedef struct otp_cfg_pass {
    otp_config_t *cfg;
    bool quiet;
    bool secure;
    int problems;
    unsigned char src[OTP_CFG_NKEYS];
    otp_cfg_origin_t origin[OTP_CFG_NKEYS];

    /* INI parse state */
    const char *path;
    unsigned char file_src; /* OTP_SRC_SYSTEM or OTP_SRC_FILE */
    const char *pos, *end; /* unread part of the file buffer */
    int lineno;
    bool have_line;        /* a line was handed to inih ... */
    bool handled;          /* ... and inih passed it to the handler */
    const char *inih_buf;  /* inih's line buffer (its `str`) */
    size_t inih_cap;
    char seen[512];        /* copy of the text inih got for this line */
    const char *long_val, *long_end; /* value of an over-long key line */
    int first_syntax_line;
} otp_cfg_pass_t;

/* A non-string value (a number, a boolean, a name) trimmed of blanks;
 * anything longer is not a valid one. */
#define OTP_CFG_TRIMMED 256

/* What a load writes besides the configuration itself, in one
 * page-aligned block: a start writes the pass state and the first bytes
 * of each buffer, one page instead of one page per static buffer. */
static struct {
    otp_cfg_pass_t pass;
    char trimmed[OTP_CFG_TRIMMED];
    char exe_ini[PATH_MAX];
} otp_cfg_scratch OTP_BIG_BSS __attribute__((aligned(4096)));

static void otp_cfg_report(otp_cfg_pass_t *p, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void otp_cfg_report(otp_cfg_pass_t *p, int level, const char *fmt, ...)
{
    p->problems++;
    if (p->quiet)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    otp_log(level, "%s", msg);
}

/* ---- small text helpers ------------------------------------------------ */

static bool otp_cfg_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Quotable form of untrusted text: printable, one line, and cut with
 * "..." to what fits in cap (values: OTP_CFG_SHOW bytes). */
static const char *otp_cfg_show(const char *s, size_t n, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < n && s[i]; i++) {
        if (j + 4 >= cap) {
            memcpy(out + j, "...", 3);
            j += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        out[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[j] = '\0';
    return out;
}

/* "1..1000" style ranges and "a|b|c" enum lists, for messages. */
static void otp_cfg_enum_list(const otp_cfg_key_t *k, char *out, size_t cap)
{
    size_t j = 0;
    out[0] = '\0';
    for (const otp_cfg_name_t *n = k->names; n->name; n++) {
        int w = snprintf(out + j, cap - j, "%s%s", j ? "|" : "", n->name);
        if (w < 0 || (size_t)w >= cap - j)
            break;
        j += (size_t)w;
    }
}

static int64_t otp_cfg_get_int(const otp_config_t *cfg, const otp_cfg_key_t *k)
{
    const char *f = (const char *)cfg + k->off;
    if (k->size == sizeof(bool)) {
        bool b;
        memcpy(&b, f, sizeof b);
        return b;
    }
    if (k->size == sizeof(int)) {
        int v;
        memcpy(&v, f, sizeof v);
        return v;
    }
    int64_t v;
    memcpy(&v, f, sizeof v);
    return v;
}

static void otp_cfg_set_int(otp_config_t *cfg, const otp_cfg_key_t *k, int64_t v)
{
    char *f = (char *)cfg + k->off;
    if (k->size == sizeof(bool)) {
        bool b = v != 0;
        memcpy(f, &b, sizeof b);
    } else if (k->size == sizeof(int)) {
        int i = (int)v;
        memcpy(f, &i, sizeof i);
    } else {
        memcpy(f, &v, sizeof v);
    }
}

/* The current value as text, for "using ..." in messages. */
/* Header values carry credentials: only their names are ever shown. */
static bool otp_cfg_is_secret(const otp_cfg_key_t *k)
{
    return k->section && k->key && strcmp(k->section, "export") == 0 && strcmp(k->key, "headers") == 0;
}

static const char *otp_cfg_redact(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    bool in_value = false;
    for (; *s && o + 12 < cap; s++) {
        if (*s == ',') {
            in_value = false;
            out[o++] = ',';
        } else if (*s == '=' && !in_value) {
            in_value = true;
            memcpy(out + o, "=<redacted>", 11);
            o += 11;
        } else if (!in_value) {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
    return out;
}

/* A URL's userinfo (scheme://user:secret@host) is a credential too: it
 * becomes <redacted>. The rest is kept, to tell endpoints apart. */
static bool otp_cfg_is_url(const otp_cfg_key_t *k)
{
    return k->section && strcmp(k->section, "export") == 0 && strcmp(k->key, "endpoint") == 0;
}

static const char *otp_cfg_redact_url(const char *s, char *out, size_t cap)
{
    const char *sep = strstr(s, "://");
    const char *auth = sep ? sep + 3 : s;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *q = auth; q < auth + alen; q++)
        if (*q == '@')
            at = q;
    if (!at)
        snprintf(out, cap, "%s", s);
    else
        snprintf(out, cap, "%.*s<redacted>%s", (int)(auth - s), s, at);
    return out;
}

/* MB with up to three decimals, from bytes: 536870912 -> "512". */
static const char *otp_cfg_show_mb(int64_t bytes, char *out, size_t cap)
{
    int64_t milli = (bytes * 1000 + OTP_MIB / 2) / OTP_MIB;
    int n = snprintf(out, cap, "%lld.%03lld", (long long)(milli / 1000), (long long)(milli % 1000));
    while (n > 0 && (size_t)n < cap && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && (size_t)n < cap && out[n - 1] == '.')
        out[--n] = '\0';
    return out;
}

static const char *otp_cfg_current(const otp_config_t *cfg, const otp_cfg_key_t *k,
                                   char *out, size_t cap)
{
    int64_t v;
    switch (k->type) {
    case OTP_CT_BOOL:
        return otp_cfg_get_int(cfg, k) ? "true" : "false";
    case OTP_CT_INT:
        snprintf(out, cap, "%lld", (long long)otp_cfg_get_int(cfg, k));
        return out;
    case OTP_CT_MB:
        return otp_cfg_show_mb(otp_cfg_get_int(cfg, k), out, cap);
    case OTP_CT_MILLI:
        return otp_cfg_show_mb(otp_cfg_get_int(cfg, k) * OTP_MIB / 1000, out, cap);
    case OTP_CT_MODE:
        snprintf(out, cap, "%04llo", (unsigned long long)otp_cfg_get_int(cfg, k));
        return out;
    case OTP_CT_ENUM:
        v = otp_cfg_get_int(cfg, k);
        for (const otp_cfg_name_t *n = k->names; n->name; n++)
            if (n->value == v)
                return n->name;
        return "?";
    default: {
        char shown[OTP_CFG_SHOW + 4], url[OTP_CFG_STR + 16];
        const char *s = (const char *)cfg + k->off;
        if (otp_cfg_is_secret(k))
            s = otp_cfg_redact(s, shown, sizeof shown);
        else if (otp_cfg_is_url(k))
            s = otp_cfg_show(otp_cfg_redact_url(s, url, sizeof url), SIZE_MAX, shown, sizeof shown);
        else
            s = otp_cfg_show(s, k->size, shown, sizeof shown);
        snprintf(out, cap, "\"%s\"", s);
        return out;
    }
    }
}

/* Decimal, whole string, optional sign. 0 ok, -1 not a number, -2 overflow. */
static int otp_cfg_parse_int(const char *s, int64_t *out)
{
    bool neg = false;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!*s)
        return -1;
    uint64_t v = 0;
    bool big = false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            big = true;
        else
            v = v * 10 + d;
    }
    if (big || v > (uint64_t)INT64_MAX)
        return -2;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* Megabytes, "512" or "0.05" (at most 3 decimals), to bytes. 0 ok, -1
 * not such a number, -2 too big. */
static int otp_cfg_parse_mb(const char *s, int64_t *bytes)
{
    int64_t milli = 0;
    int digits = 0, decimals = -1;
    for (; *s; s++) {
        if (*s == '.' && decimals < 0) {
            decimals = 0;
            continue;
        }
        if (*s < '0' || *s > '9' || decimals >= 3)
            return -1;
        if (milli > INT64_MAX / 10 / OTP_MIB)
            return -2;
        milli = milli * 10 + (*s - '0');
        digits++;
        if (decimals >= 0)
            decimals++;
    }
    if (!digits)
        return -1;
    for (int d = decimals < 0 ? 0 : decimals; d < 3; d++) {
        if (milli > INT64_MAX / 10 / OTP_MIB)
            return -2;
        milli *= 10;
    }
    *bytes = milli * OTP_MIB / 1000;
    return 0;
}

/* Octal digits only. 0 ok, -1 not octal, -2 too big. */
static int otp_cfg_parse_octal(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '7')
            return -1;
        if (v > 07777)
            return -2;
        v = v * 8 + (*s - '0');
    }
    *out = v;
    return 0;
}

/* ASCII case: keys, variable names and value names are ASCII, and the C
 * library's toupper or strcasecmp would cost every start its locale
 * table (a page fault). */
static char otp_cfg_upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static bool otp_cfg_ieq(const char *a, const char *b)
{
    for (; otp_cfg_upper(*a) == otp_cfg_upper(*b); a++, b++)
        if (!*a)
            return true;
    return false;
}

static int otp_cfg_parse_bool(const char *s)
{
    static const char *const yes[] = { "true", "1", "yes", "on" };
    static const char *const no[] = { "false", "0", "no", "off" };
    for (size_t i = 0; i < OTP_ARRAY_LEN(yes); i++) {
        if (otp_cfg_ieq(s, yes[i]))
            return 1;
        if (otp_cfg_ieq(s, no[i]))
            return 0;
    }
    return -1;
}

/* ---- applying one value -------------------------------------------------- */

/*
 * Sets k from text. `subject` names the origin and ends in ": ", e.g.
 * "/etc/x.ini:7: cpu.frequency_hz: " or "OTPROF_CPU_FREQUENCY_HZ: ". A bad
 * value leaves the field alone, so it keeps the lower layer's value, and
 * the message says which. Empty means not set. Returns true if applied.
 */
static bool otp_cfg_apply(otp_cfg_pass_t *p, const otp_cfg_key_t *k, const char *subject,
                          const char *value, bool trim)
{
    char shown[OTP_CFG_SHOW + 4], cur[OTP_CFG_SHOW + 16];
    otp_config_t *cfg = p->cfg;

    if (trim && k->type != OTP_CT_STR) {
        while (otp_cfg_space(*value))
            value++;
        size_t n = strlen(value);
        while (n > 0 && otp_cfg_space(value[n - 1]))
            n--;
        /* Longer than any valid value: left as it is, the parse below
         * rejects it (blanks and all) with the usual message. */
        if (n < OTP_CFG_TRIMMED) {
            char *buf = otp_cfg_scratch.trimmed; /* loading is single-threaded */
            memcpy(buf, value, n);
            buf[n] = '\0';
            value = buf;
        }
    }
    if (!*value)
        return false;
    if (otp_cfg_is_secret(k)) {
        otp_cfg_redact(value, shown, sizeof shown);
    } else if (otp_cfg_is_url(k)) {
        static char url[OTP_CFG_LONG_VALUE + 16];
        otp_cfg_show(otp_cfg_redact_url(value, url, sizeof url), SIZE_MAX, shown, sizeof shown);
    } else {
        otp_cfg_show(value, SIZE_MAX, shown, sizeof shown);
    }

    switch (k->type) {
    case OTP_CT_BOOL: {
        int b = otp_cfg_parse_bool(value);
        if (b < 0) {
            otp_cfg_report(p, OTP_LOG_ERROR,
                           "%s\"%s\" is not a boolean (true|false|yes|no|on|off|1|0); using %s",
                           subject, shown, otp_cfg_current(cfg, k, cur, sizeof cur));
            return false;
        }
        otp_cfg_set_int(cfg, k, b);
        return true;
    }
    case OTP_CT_INT: {
        int64_t v = 0;
        int rc = otp_cfg_parse_int(value, &v);
        if (rc == -1 || (rc == 0 && (v < k->min || v > k->max)) || rc == -2) {
            otp_cfg_report(p, OTP_LOG_ERROR, "%s\"%s\" is %s (%lld..%lld); using %s", subject,
                           shown, rc == -1 ? "not a number" : "out of range",
                           (long long)k->min, (long long)k->max,
                           otp_cfg_current(cfg, k, cur, sizeof cur));
            return false;
        }
        otp_cfg_set_int(cfg, k, v);
        return true;
    }
    case OTP_CT_MB: {
        int64_t v = 0;
        int rc = otp_cfg_parse_mb(value, &v);
        if (rc != 0 || v > k->max) {
            char hi[32];
            otp_cfg_report(p, OTP_LOG_ERROR, "%s\"%s\" is %s (0..%s MB, up to 3 decimals); using %s",
                           subject, shown, rc == -1 ? "not a number" : "out of range",
                           otp_cfg_show_mb(k->max, hi, sizeof hi),
                           otp_cfg_current(cfg, k, cur, sizeof cur));
            return false;
        }
        otp_cfg_set_int(cfg, k, v);
        return true;
    }
    case OTP_CT_MILLI: {
        int64_t v = 0;
        int rc = otp_cfg_parse_mb(value, &v); /* the same decimals, scaled by 1 MiB */
        v = rc == 0 ? (v * 1000 + OTP_MIB / 2) / OTP_MIB : 0;
        if (rc != 0 || (v != 0 && (v < k->min || v > k->max))) {
            char lo[32], hi[32];
            otp_cfg_report(p, OTP_LOG_ERROR, "%s\"%s\" is %s (0, or %s..%s, up to 3 decimals); using %s",
                           subject, shown, rc == -1 ? "not a number" : "out of range",
                           otp_cfg_show_mb(k->min * OTP_MIB / 1000, lo, sizeof lo),
                           otp_cfg_show_mb(k->max * OTP_MIB / 1000, hi, sizeof hi),
                           otp_cfg_current(cfg, k, cur, sizeof cur));
            return false;
        }
        otp_cfg_set_int(cfg, k, v);
        return true;
    }
    case OTP_CT_MODE: {
        int64_t v = 0;
        if (otp_cfg_parse_octal(value, &v) != 0 || (v & ~(int64_t)k->max) != 0 ||
            (v & k->min) != k->min) {
            otp_cfg_report(p, OTP_LOG_ERROR, "%s\"%s\" is not an octal mode from %04llo to %04llo "
                           "(owner rw, no x or special bits); using %s", subject, shown,
                           (unsigned long long)k->min, (unsigned long long)k->max,
                           otp_cfg_current(cfg, k, cur, sizeof cur));
            return false;
        }
        otp_cfg_set_int(cfg, k, v);
        return true;
    }
    case OTP_CT_ENUM:
        for (const otp_cfg_name_t *n = k->names; n->name; n++) {
            if (otp_cfg_ieq(value, n->name)) {
                otp_cfg_set_int(cfg, k, n->value);
                return true;
            }
        }
        {
            char list[128];
            otp_cfg_enum_list(k, list, sizeof list);
            otp_cfg_report(p, OTP_LOG_ERROR, "%s\"%s\" is not one of %s; using %s", subject,
                           shown, list, otp_cfg_current(cfg, k, cur, sizeof cur));
        }
        return false;
    default: {
        size_t n = strlen(value);
        if (n >= k->size) {
            otp_cfg_report(p, OTP_LOG_ERROR, "%s\"%s\" is too long (%zu bytes, max %zu); using %s",
                           subject, shown, n, k->size - 1,
                           otp_cfg_current(cfg, k, cur, sizeof cur));
            return false;
        }
        memcpy((char *)cfg + k->off, value, n + 1);
        return true;
    }
    }
}

/* "OTPROF_<SECTION>_<KEY>" into out (cap >= 1), cut to fit; without
 * snprintf, which a start that applies a variable would otherwise
 * bring in (three pages of the C library). */
static void otp_cfg_env_name(const otp_cfg_key_t *k, char *out, size_t cap)
{
    const char *parts[] = { "OTPROF_", k->section, "_", k->key };
    size_t n = 0;
    for (size_t i = 0; i < OTP_ARRAY_LEN(parts); i++)
        for (const char *c = parts[i]; *c && n + 1 < cap; c++)
            out[n++] = otp_cfg_upper(*c);
    out[n] = '\0';
}

static const otp_cfg_key_t *otp_cfg_find(const char *section, const char *key)
{
    for (size_t i = 0; i < OTP_CFG_NKEYS; i++)
        if (otp_cfg_ieq(otp_cfg_keys[i].section, section) && otp_cfg_ieq(otp_cfg_keys[i].key, key))
            return &otp_cfg_keys[i];
    return NULL;
}

/* ---- the INI file --------------------------------------------------------- */

/* inih's find_chars_or_comment: stops at one of chars or at an inline
 * comment (';' after whitespace). */
static const char *otp_cfg_find_sep(const char *s, const char *end, const char *chars)
{
    bool was_space = false;
    for (; s < end && *s; s++) {
        if (chars && strchr(chars, *s))
            return s;
        if (was_space && *s == ';')
            return NULL;
        was_space = otp_cfg_space(*s);
    }
    return NULL;
}

static void otp_cfg_syntax_error(otp_cfg_pass_t *p, const char *s, const char *end)
{
    while (end > s && otp_cfg_space(end[-1]))
        end--;
    char shown[OTP_CFG_SHOW + 4];
    otp_cfg_show(s, (size_t)(end - s), shown, sizeof shown);
    if (*s == '[')
        otp_cfg_report(p, OTP_LOG_ERROR, "%s:%d: syntax error: \"%s\" has no closing \"]\"; "
                       "line ignored", p->path, p->lineno, shown);
    else
        otp_cfg_report(p, OTP_LOG_ERROR, "%s:%d: syntax error: \"%s\" is not \"key = value\" "
                       "or \"[section]\"; line ignored", p->path, p->lineno, shown);
    if (!p->first_syntax_line)
        p->first_syntax_line = p->lineno;
}

/*
 * inih never calls the handler for a syntax error and reports only the
 * first one, so each line that reached inih but not the handler is
 * classified here by inih's own rules: blank, comment or a complete
 * "[section]" is fine, anything else is the error inih saw.
 */
static void otp_cfg_check_line(otp_cfg_pass_t *p)
{
    if (!p->have_line || p->handled)
        return;
    p->have_line = false;
    const char *s = p->seen;
    if (p->lineno == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF)
        s += 3;
    while (otp_cfg_space(*s))
        s++;
    if (!*s || *s == ';' || *s == '#')
        return;
    const char *end = s + strlen(s);
    if (*s == '[' && otp_cfg_find_sep(s + 1, end, "]"))
        return;
    otp_cfg_syntax_error(p, s, end);
}

/*
 * fgets-like reader over the file buffer, counting lines. A line longer
 * than inih's fixed buffer would otherwise be split into several bogus
 * lines; instead inih gets its "key =" part only and the handler takes
 * the value from our buffer (p->long_val), or, if it is no key line, a
 * clipped copy that inih then treats as the comment or error it is.
 */
static char *otp_cfg_reader(char *str, int num, void *stream)
{
    otp_cfg_pass_t *p = stream;
    otp_cfg_check_line(p);
    if (p->pos >= p->end || num < 8)
        return NULL;
    const char *eol = memchr(p->pos, '\n', (size_t)(p->end - p->pos));
    const char *line_end = eol ? eol : p->end;
    size_t len = (size_t)(line_end - p->pos);
    size_t room = (size_t)num - 2; /* text + '\n' + NUL */
    if (room > sizeof p->seen - 2)
        room = sizeof p->seen - 2;

    p->lineno++;
    p->have_line = true;
    p->handled = false;
    p->long_val = p->long_end = NULL;
    p->inih_buf = str;
    p->inih_cap = (size_t)num;

    size_t take = len;
    if (len > room) {
        const char *s = p->pos;
        while (s < line_end && otp_cfg_space(*s))
            s++;
        const char *sep = NULL;
        if (s < line_end && *s != '[' && *s != ';' && *s != '#')
            sep = otp_cfg_find_sep(s, line_end, "=:");
        if (sep && (size_t)(sep + 1 - p->pos) <= room) {
            take = (size_t)(sep + 1 - p->pos);
            p->long_val = sep + 1;
            p->long_end = line_end;
        } else {
            take = room;
        }
    }
    memcpy(str, p->pos, take);
    str[take] = '\n';
    str[take + 1] = '\0';
    memcpy(p->seen, str, take + 2);
    p->pos = eol ? eol + 1 : p->end;
    return str;
}

/* The value part of a key line, cut as inih cuts it: at an inline
 * comment (';' after whitespace), then trimmed. */
static const char *otp_cfg_cut_value(const char *s, const char *end, char *out, size_t cap)
{
    bool was_space = false;
    for (const char *q = s; q < end; q++) {
        if (!*q || (was_space && *q == ';')) {
            end = q;
            break;
        }
        was_space = otp_cfg_space(*q);
    }
    while (s < end && otp_cfg_space(*s))
        s++;
    while (end > s && otp_cfg_space(end[-1]))
        end--;
    size_t n = (size_t)(end - s);
    if (n > cap - 1)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

static int otp_cfg_on_ini(void *user, const char *section, const char *name, const char *value)
{
    otp_cfg_pass_t *p = user;
    p->handled = true;
    /* static: loading is single-threaded, and the constructor's stack is
     * the app's */
    static char namebuf[256], valbuf[OTP_CFG_LONG_VALUE], subject[PATH_MAX + 200];

    /* inih treats an indented line after a key as a continuation of that
     * key's value and passes the previous name, which then lives outside
     * its line buffer. Indented keys are common and multi-line values are
     * never what an otprof key wants, so such a line is read on its own,
     * as inih reads it with continuations off. */
    uintptr_t n = (uintptr_t)name, b = (uintptr_t)p->inih_buf;
    if (n < b || n >= b + p->inih_cap) {
        const char *s = p->seen, *end = p->seen + strlen(p->seen);
        while (s < end && otp_cfg_space(*s))
            s++;
        const char *sep = otp_cfg_find_sep(s, end, "=:");
        if (!sep) {
            otp_cfg_syntax_error(p, s, end);
            return 1;
        }
        const char *ne = sep;
        while (ne > s && otp_cfg_space(ne[-1]))
            ne--;
        snprintf(namebuf, sizeof namebuf, "%.*s", (int)(ne - s), s);
        name = namebuf;
        value = otp_cfg_cut_value(sep + 1, end, valbuf, sizeof valbuf);
    }
    if (p->long_val)
        value = otp_cfg_cut_value(p->long_val, p->long_end, valbuf, sizeof valbuf);

    const otp_cfg_key_t *k = otp_cfg_find(section, name);
    if (!k) {
        char raw[320], key[OTP_CFG_SHOW + 4];
        snprintf(raw, sizeof raw, "%s%s%s", section, *section ? "." : "", name);
        otp_cfg_report(p, OTP_LOG_WARN, "%s:%d: unknown key \"%s\"; ignored", p->path,
                       p->lineno, otp_cfg_show(raw, sizeof raw, key, sizeof key));
        return 1;
    }
    snprintf(subject, sizeof subject, "%s:%d: %s.%s: ", p->path, p->lineno, k->section, k->key);
    if (otp_cfg_apply(p, k, subject, value, false)) {
        p->src[k - otp_cfg_keys] = p->file_src;
        p->origin[k - otp_cfg_keys] = (otp_cfg_origin_t){ p->path, p->lineno };
    }
    return 1;
}

static void otp_cfg_parse_file(otp_cfg_pass_t *p, const char *path, const char *buf, size_t len,
                               unsigned char src)
{
    p->path = path;
    p->file_src = src;
    p->pos = buf;
    p->end = buf + len;
    p->lineno = 0;
    p->have_line = false;
    p->first_syntax_line = 0;
    int rc = ini_parse_stream(otp_cfg_reader, p, otp_cfg_on_ini, p);
    otp_cfg_check_line(p); /* the last line, if inih stopped early */
    /* Our handler never fails, so rc > 0 is a syntax error inih found;
     * should our mirror of its rules ever miss one, still say so. */
    if (rc > 0 && p->first_syntax_line == 0)
        otp_cfg_report(p, OTP_LOG_ERROR, "%s:%d: syntax error; line ignored", path, rc);
}

/* Error code of a system file that root does not own or others may
 * write (secure execution only). */
#define OTP_CFG_EUNSAFE (-1)

typedef struct otp_cfg_file {
    const char *path; /* NULL: no file */
    bool by_env;     /* named by OTPROF_CONFIG */
    bool system;     /* the system file */
    int err;          /* 0 ok, else errno, EFBIG or OTP_CFG_EUNSAFE */
    size_t len;
    char *buf;       /* len bytes, NUL-terminated */
} otp_cfg_file_t;

/* open/read, not fopen: stdio would malloc on the app's heap. O_NONBLOCK
 * so a FIFO or terminal named by mistake cannot hang the app. */
static int otp_cfg_read(const char *path, char *buf, size_t cap, size_t *len, bool root_only)
{
    *len = 0;
    int fd = otp_open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        otp_close(fd);
        return EISDIR;
    }
    if (root_only && (fstat(fd, &st) != 0 || st.st_uid != 0 || (st.st_mode & 022) != 0)) {
        otp_close(fd);
        return OTP_CFG_EUNSAFE;
    }
    size_t got = 0;
    int err = 0;
    for (;;) {
        char extra;
        /* Full: one more byte tells a file of exactly cap from a bigger one. */
        ssize_t n = got < cap ? read(fd, buf + got, cap - got) : read(fd, &extra, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0)
            break;
        if (got == cap) {
            err = EFBIG;
            break;
        }
        got += (size_t)n;
    }
    otp_close(fd);
    *len = got;
    return err;
}

/* ---- environment ---------------------------------------------------------- */

/* Is name[0..n) the variable of key k (OTPROF_<SECTION>_<KEY>, upper
 * case)? Compared in place: building every key's name (a hundred
 * snprintf calls) and a getenv for each was most of what reading the
 * configuration cost a process at start-up. */
static bool otp_cfg_env_is(const otp_cfg_key_t *k, const char *name, size_t n)
{
    if (n < 7 || memcmp(name, "OTPROF_", 7) != 0)
        return false;
    size_t i = 7;
    for (const char *c = k->section; *c; c++, i++)
        if (i >= n || name[i] != otp_cfg_upper(*c))
            return false;
    if (i >= n || name[i++] != '_')
        return false;
    for (const char *c = k->key; *c; c++, i++)
        if (i >= n || name[i] != otp_cfg_upper(*c))
            return false;
    return i == n;
}

/* The key whose variable name[0..n) is, or -1. */
static ssize_t otp_cfg_env_key(const char *name, size_t n)
{
    for (size_t i = 0; i < OTP_CFG_NKEYS; i++)
        if (otp_cfg_env_is(&otp_cfg_keys[i], name, n))
            return (ssize_t)i;
    return -1;
}

/* One walk over the environment: each key's value as getenv would find
 * it (the first NAME=value), applied in the keys' order; then the
 * OTPROF_* variables that name no key, in the environment's order. */
static void otp_cfg_apply_env(otp_cfg_pass_t *p)
{
    const char *val[OTP_CFG_NKEYS] = {0};
    bool any = false;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "OTPROF_", 7) != 0)
            continue;
        any = true;
        const char *eq = strchr(*e, '=');
        ssize_t i = eq ? otp_cfg_env_key(*e, (size_t)(eq - *e)) : -1;
        if (i >= 0 && !val[i])
            val[i] = eq + 1;
    }
    if (!any)
        return;
    char var[128], subject[160];
    for (size_t i = 0; i < OTP_CFG_NKEYS; i++) {
        if (!val[i])
            continue;
        otp_cfg_env_name(&otp_cfg_keys[i], var, sizeof var);
        size_t vn = strlen(var); /* < sizeof var, and subject is larger */
        memcpy(subject, var, vn);
        memcpy(subject + vn, ": ", 3);
        if (otp_cfg_apply(p, &otp_cfg_keys[i], subject, val[i], true))
            p->src[i] = OTP_SRC_ENV;
    }

    char name[128], shown[OTP_CFG_SHOW + 4];
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "OTPROF_", 7) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
        if (n >= sizeof name) {
            otp_cfg_report(p, OTP_LOG_WARN, "%s: unknown variable; ignored",
                           otp_cfg_show(*e, n, shown, sizeof shown));
            continue;
        }
        memcpy(name, *e, n);
        name[n] = '\0';
        if (strcmp(name, "OTPROF_CONFIG") == 0 || strcmp(name, "OTPROF_SYSTEM_CONFIG") == 0)
            continue;
        if (otp_cfg_env_key(name, n) < 0)
            otp_cfg_report(p, OTP_LOG_WARN, "%s: unknown variable; ignored", name);
    }
}

/* service.name from OTEL_RESOURCE_ATTRIBUTES (k=v pairs, values
 * percent-encoded), which the spec ranks below OTEL_SERVICE_NAME. */
static bool otp_cfg_attr_service_name(const char *attrs, char *out, size_t cap)
{
    const char *s = attrs;
    while (*s) {
        const char *end = strchr(s, ',');
        if (!end)
            end = s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(end - s));
        if (eq) {
            const char *ks = s, *ke = eq;
            while (ks < ke && otp_cfg_space(*ks))
                ks++;
            while (ke > ks && otp_cfg_space(ke[-1]))
                ke--;
            if ((size_t)(ke - ks) == 12 && memcmp(ks, "service.name", 12) == 0) {
                const char *v = eq + 1, *ve = end;
                while (v < ve && otp_cfg_space(*v))
                    v++;
                while (ve > v && otp_cfg_space(ve[-1]))
                    ve--;
                size_t j = 0;
                for (; v < ve; v++) {
                    char c = *v;
                    static const char hex[] = "0123456789abcdef0123456789ABCDEF";
                    const char *h1, *h2;
                    if (c == '%' && ve - v >= 3 && v[1] && v[2] &&
                        (h1 = strchr(hex, v[1])) && (h2 = strchr(hex, v[2]))) {
                        c = (char)((((h1 - hex) & 15) << 4) | ((h2 - hex) & 15));
                        v += 2;
                    }
                    if (j + 1 >= cap)
                        return false;
                    out[j++] = c;
                }
                out[j] = '\0';
                return j > 0;
            }
        }
        s = *end ? end + 1 : end;
    }
    return false;
}

#define OTP_CFG_PROFILES_ENDPOINT "OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT"

/* getenv, but an OTEL_* name is looked for only when the environment
 * holds any (most processes have none: twenty-odd scans saved). */
static const char *otp_cfg_otel_env(bool any_otel, const char *name)
{
    return any_otel || strncmp(name, "OTEL_", 5) != 0 ? getenv(name) : NULL;
}

/* OTEL_* values for whatever otprof's own keys left unset. */
static void otp_cfg_apply_otel(otp_cfg_pass_t *p)
{
    const char *v;
    bool any_otel = false;
    for (char **e = environ; e && *e && !any_otel; e++)
        any_otel = strncmp(*e, "OTEL_", 5) == 0;

    for (size_t i = 0; i < OTP_ARRAY_LEN(otp_cfg_passthrough); i++) {
        const otp_cfg_key_t *k = &otp_cfg_passthrough[i];
        char subject[64];
        if ((v = otp_cfg_otel_env(any_otel, k->key))) {
            snprintf(subject, sizeof subject, "%s: ", k->key);
            otp_cfg_apply(p, k, subject, v, false);
        }
    }

    /* Each generic variable comes before the profiles signal's own, which
     * wins over it (the exporter spec's rule): applied in this order, a
     * bad signal-specific value falls back to the generic one, and its
     * message says so. */
    static const struct {
        const char *section, *key, *var;
    } fallbacks[] = {
        { "agent", "service_name", "OTEL_SERVICE_NAME" },
        { "export", "endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT" },
        { "export", "endpoint", OTP_CFG_PROFILES_ENDPOINT },
        { "export", "protocol", "OTEL_EXPORTER_OTLP_PROTOCOL" },
        { "export", "protocol", "OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL" },
        { "export", "headers", "OTEL_EXPORTER_OTLP_HEADERS" },
        { "export", "headers", "OTEL_EXPORTER_OTLP_PROFILES_HEADERS" },
        { "export", "timeout_ms", "OTEL_EXPORTER_OTLP_TIMEOUT" },
        { "export", "timeout_ms", "OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT" },
        { "export", "compression", "OTEL_EXPORTER_OTLP_COMPRESSION" },
        { "export", "compression", "OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION" },
        { "export", "certificate", "OTEL_EXPORTER_OTLP_CERTIFICATE" },
        { "export", "certificate", "OTEL_EXPORTER_OTLP_PROFILES_CERTIFICATE" },
        { "export", "client_key", "OTEL_EXPORTER_OTLP_CLIENT_KEY" },
        { "export", "client_key", "OTEL_EXPORTER_OTLP_PROFILES_CLIENT_KEY" },
        { "export", "client_certificate", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE" },
        { "export", "client_certificate", "OTEL_EXPORTER_OTLP_PROFILES_CLIENT_CERTIFICATE" },
    };
    for (size_t i = 0; i < OTP_ARRAY_LEN(fallbacks); i++) {
        /* Most are unset: the cheap test first. */
        if (!otp_cfg_otel_env(any_otel, fallbacks[i].var))
            continue;
        const otp_cfg_key_t *k = otp_cfg_find(fallbacks[i].section, fallbacks[i].key);
        /* otprof's own layers win; an OTEL_* value is only replaced by
         * the signal's own variable after it */
        if (!k || (p->src[k - otp_cfg_keys] != OTP_SRC_DEFAULT &&
                   p->src[k - otp_cfg_keys] != OTP_SRC_OTEL))
            continue;
        if (!(v = otp_cfg_otel_env(any_otel, fallbacks[i].var)))
            continue;
        char subject[64];
        snprintf(subject, sizeof subject, "%s: ", fallbacks[i].var);
        if (otp_cfg_apply(p, k, subject, v, true)) {
            p->src[k - otp_cfg_keys] = OTP_SRC_OTEL;
            p->origin[k - otp_cfg_keys] = (otp_cfg_origin_t){ fallbacks[i].var, 0 };
        }
    }
    const otp_cfg_key_t *ek = otp_cfg_find("export", "endpoint");
    const otp_cfg_origin_t *eo = &p->origin[ek - otp_cfg_keys];
    p->cfg->endpoint_verbatim = p->src[ek - otp_cfg_keys] == OTP_SRC_OTEL && eo->what &&
                                strcmp(eo->what, OTP_CFG_PROFILES_ENDPOINT) == 0;

    /* OTEL_SDK_DISABLED: only "true" (any case) turns the agent off; the
     * spec reads every other value as false and asks for a warning on
     * anything but "false" or empty. agent.enabled set in otprof's own
     * layers wins, as every otprof key does. */
    const otp_cfg_key_t *en = otp_cfg_find("agent", "enabled");
    if ((v = otp_cfg_otel_env(any_otel, "OTEL_SDK_DISABLED")) && p->src[en - otp_cfg_keys] == OTP_SRC_DEFAULT) {
        char val[16], shown[OTP_CFG_SHOW + 4];
        while (otp_cfg_space(*v))
            v++;
        size_t n = strlen(v);
        while (n > 0 && otp_cfg_space(v[n - 1]))
            n--;
        snprintf(val, sizeof val, "%.*s", (int)(n < sizeof val ? n : sizeof val - 1), v);
        if (n == 4 && otp_cfg_ieq(val, "true")) {
            p->cfg->agent_enabled = false;
            p->src[en - otp_cfg_keys] = OTP_SRC_OTEL;
            p->origin[en - otp_cfg_keys] = (otp_cfg_origin_t){ "OTEL_SDK_DISABLED", 0 };
        } else if (n && !(n == 5 && otp_cfg_ieq(val, "false"))) {
            otp_cfg_report(p, OTP_LOG_WARN, "OTEL_SDK_DISABLED: \"%s\" is not true or false; "
                           "using false (the agent runs)", otp_cfg_show(v, n, shown, sizeof shown));
        }
    }
}

/* What follows from the rest when it is unset. */
static void otp_cfg_derive(otp_cfg_pass_t *p)
{
    otp_config_t *cfg = p->cfg;
    /* A disabled agent names nothing: the lookups of the executable
     * (a readlink and two stats) are spared. `otprof config` names one. */
    if (!cfg->agent_enabled && !otp_cfg_exe)
        return;
    if (!cfg->service_name[0] &&
        otp_cfg_attr_service_name(cfg->resource_attributes, cfg->service_name,
                                  sizeof cfg->service_name)) {
        const otp_cfg_key_t *k = otp_cfg_find("agent", "service_name");
        if (k) {
            p->src[k - otp_cfg_keys] = OTP_SRC_OTEL;
            p->origin[k - otp_cfg_keys] = (otp_cfg_origin_t){ "OTEL_RESOURCE_ATTRIBUTES", 0 };
        }
    } else if (!cfg->service_name[0]) {
        const char *exe = otp_run_name();
        if (otp_cfg_exe) {
            const char *slash = strrchr(otp_cfg_exe, '/');
            exe = slash ? slash + 1 : otp_cfg_exe;
        }
        otp_strlcpy(cfg->service_name, exe && *exe ? exe : "unknown_service", sizeof cfg->service_name);
    }
    if (!cfg->output_dir[0] && !cfg->endpoint[0])
        otp_strlcpy(cfg->output_dir, OTP_CFG_DEFAULT_OUTPUT_DIR, sizeof cfg->output_dir);
}

/* ---- entry points --------------------------------------------------------- */

/* The agent's own configuration is all zero until its first load in
 * this process image; then only the defaults that are not zero need
 * writing, and the pages of the long strings stay untouched. */
static bool otp_cfg_written OTP_STARTUP_DATA;

static void otp_cfg_table_defaults(otp_config_t *cfg)
{
    bool zero = cfg == &otp_cfg && !otp_cfg_written;
    if (cfg == &otp_cfg)
        otp_cfg_written = true;
    if (!zero)
        memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < OTP_CFG_NKEYS; i++) {
        const otp_cfg_key_t *k = &otp_cfg_keys[i];
        if (k->type == OTP_CT_STR) {
            if (!zero || k->def_str[0])
                otp_strlcpy((char *)cfg + k->off, k->def_str, k->size);
        } else if (!zero || k->def != 0) {
            otp_cfg_set_int(cfg, k, k->def);
        }
    }
}

void otp_config_defaults(otp_config_t *cfg)
{
    otp_cfg_table_defaults(cfg);
    const char *exe = otp_run_name();
    snprintf(cfg->service_name, sizeof cfg->service_name, "%s",
             exe && *exe ? exe : "unknown_service");
    snprintf(cfg->output_dir, sizeof cfg->output_dir, "%s", OTP_CFG_DEFAULT_OUTPUT_DIR);
}

static int otp_cfg_pass(otp_config_t *cfg, const otp_cfg_file_t *files, size_t nfiles, bool secure,
                        bool quiet)
{
    otp_cfg_pass_t *p = &otp_cfg_scratch.pass; /* static: the constructor's stack stays small */
    memset(p, 0, sizeof *p);
    p->cfg = cfg;
    p->quiet = quiet;
    p->secure = secure;
    otp_cfg_table_defaults(cfg);

    for (size_t i = 0; i < nfiles; i++) {
        const otp_cfg_file_t *f = &files[i];
        static char shown[PATH_MAX + 4];
        if (!f->path)
            continue;
        const char *why = f->err == EFBIG ? "larger than 64 KiB"
                          : f->err == OTP_CFG_EUNSAFE
                              ? "not owned by root, or writable by group or others"
                              : f->err ? otp_strerror(f->err) : NULL;
        if (f->err && f->by_env)
            otp_cfg_report(p, OTP_LOG_ERROR, "OTPROF_CONFIG: cannot read \"%s\": %s; "
                           "file ignored", otp_cfg_show(f->path, SIZE_MAX, shown, sizeof shown),
                           why ? why : "error");
        else if (f->err)
            otp_cfg_report(p, OTP_LOG_ERROR, "%s: cannot read: %s; file ignored",
                           otp_cfg_show(f->path, SIZE_MAX, shown, sizeof shown), why ? why : "error");
        else
            otp_cfg_parse_file(p, f->path, f->buf, f->len,
                               f->system ? OTP_SRC_SYSTEM : OTP_SRC_FILE);
    }
    if (!secure) {
        otp_cfg_apply_env(p);
        otp_cfg_apply_otel(p);
    } else {
        /* Only the system file's own "enabled = true" turns the agent on. */
        const otp_cfg_key_t *k = otp_cfg_find("agent", "enabled");
        if (k && p->src[k - otp_cfg_keys] != OTP_SRC_SYSTEM)
            cfg->agent_enabled = false;
    }
    otp_cfg_derive(p);
    memcpy(otp_cfg_last_src, p->src, sizeof p->src);
    memcpy(otp_cfg_last_origin, p->origin, sizeof p->origin);

    if (!quiet && otp_log_get_level() >= OTP_LOG_DEBUG) {
        char cur[OTP_CFG_SHOW + 16];
        for (size_t i = 0; i < OTP_CFG_NKEYS; i++) {
            const otp_cfg_key_t *k = &otp_cfg_keys[i];
            otp_log(OTP_LOG_DEBUG, "config: %s.%s = %s (%s)", k->section, k->key,
                    otp_cfg_current(cfg, k, cur, sizeof cur), otp_cfg_src_names[p->src[i]]);
        }
    }
    return p->problems;
}

int otp_config_load(otp_config_t *cfg)
{
    bool secure = getauxval(AT_SECURE) != 0;
    const char *sys = secure ? NULL : getenv("OTPROF_SYSTEM_CONFIG");
    return otp_config_load_as(cfg, secure, sys && *sys ? sys : OTP_SYSTEM_CONFIG);
}

int otp_config_load_as(otp_config_t *cfg, bool secure, const char *system_path)
{
    return otp_config_load_for(cfg, secure, system_path, NULL);
}

int otp_config_load_for(otp_config_t *cfg, bool secure, const char *system_path, const char *exe_path)
{
    otp_cfg_exe = exe_path;
    static char bufs[2][OTP_CFG_FILE_MAX + 1];
    char *exe_ini = otp_cfg_scratch.exe_ini;
    otp_cfg_file_t files[2] = { { .path = system_path, .system = true, .buf = bufs[0] },
                                { .buf = bufs[1] } };
    otp_cfg_file_t *sysf = &files[0], *f = &files[1];

    /* The first thing the agent does in a process: fix which stderr its
     * diagnostics may go to before anything can be said. */
    otp_log_init();
    sysf->err = otp_cfg_read(sysf->path, sysf->buf, OTP_CFG_FILE_MAX, &sysf->len, secure);
    /* Terminated only when read: its buffer is used only then, and a
     * write would cost a page fault at every start without the file. */
    if (!sysf->err)
        sysf->buf[sysf->len] = '\0';
    /* No system file is the normal case. */
    if (sysf->err == ENOENT || sysf->err == ENOTDIR)
        sysf->path = NULL;

    const char *named = secure ? NULL : getenv("OTPROF_CONFIG");
    if (secure) {
        /* neither OTPROF_CONFIG nor the file beside the executable */
    } else if (named && *named) {
        f->path = named;
        f->by_env = true;
    } else {
        const char *exe = otp_cfg_exe ? otp_cfg_exe : otp_exe_path_cheap();
        const char *slash = exe ? strrchr(exe, '/') : NULL;
        static const char name[] = "/otprof.ini";
        size_t d = slash ? (size_t)(slash - exe) : 0;
        if (slash && d + sizeof name <= sizeof otp_cfg_scratch.exe_ini) {
            memcpy(exe_ini, exe, d);
            memcpy(exe_ini + d, name, sizeof name);
            f->path = exe_ini;
        }
    }
    if (f->path) {
        f->err = otp_cfg_read(f->path, f->buf, OTP_CFG_FILE_MAX, &f->len, false);
        if (!f->err)
            f->buf[f->len] = '\0';
        /* No file beside the executable is the normal case. */
        if (!f->by_env && (f->err == ENOENT || f->err == ENOTDIR))
            f->path = NULL;
    }

    /* Passes are deterministic: when the quiet one found nothing to say
     * (the usual case) and no debug dump is asked for, the second would
     * only repeat it. */
    int problems = otp_cfg_pass(cfg, files, 2, secure, true);
    otp_log_set_level(cfg->log_level);
    if (problems == 0 && cfg->log_level < OTP_LOG_DEBUG)
        return 0;
    return otp_cfg_pass(cfg, files, 2, secure, false);
}

bool otp_config_item(const otp_config_t *cfg, size_t i, otp_config_item_t *out)
{
    if (i >= OTP_CFG_NKEYS)
        return false;
    const otp_cfg_key_t *k = &otp_cfg_keys[i];
    out->section = k->section;
    out->key = k->key;
    out->doc = k->doc;
    out->source = (otp_config_source_t)otp_cfg_last_src[i];
    out->source_name = otp_cfg_src_names[otp_cfg_last_src[i]];
    out->origin[0] = '\0';
    const otp_cfg_origin_t *o = &otp_cfg_last_origin[i];
    if (out->source == OTP_CONFIG_OTPROF_ENV)
        otp_cfg_env_name(k, out->origin, sizeof out->origin);
    else if (o->what && o->line > 0)
        snprintf(out->origin, sizeof out->origin, "%s:%d", o->what, o->line);
    else if (o->what)
        snprintf(out->origin, sizeof out->origin, "%s", o->what);

    if (k->type != OTP_CT_STR) {
        const char *v = otp_cfg_current(cfg, k, out->value, sizeof out->value);
        if (v != out->value)
            snprintf(out->value, sizeof out->value, "%s", v);
        return true;
    }
    /* Whole strings here (messages cut them), still without secrets. */
    static char tmp[sizeof out->value];
    const char *s = (const char *)cfg + k->off;
    if (otp_cfg_is_secret(k))
        s = otp_cfg_redact(s, tmp, sizeof tmp);
    else if (otp_cfg_is_url(k))
        s = otp_cfg_redact_url(s, tmp, sizeof tmp);
    snprintf(out->value, sizeof out->value, "%s", s);
    return true;
}
