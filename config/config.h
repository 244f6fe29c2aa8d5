/*
 * Settings: defaults < the system file (/etc/otprof.ini) < otprof.ini
 * (beside the executable, or the file named by OTPROF_CONFIG) <
 * OTPROF_<SECTION>_<KEY> environment variables. The standard OTEL_*
 * variables fill what otprof's own keys leave unset. Under secure
 * execution (setuid, setgid, capabilities) only the system file counts,
 * and only if root owns it, no one else may write it, and it says
 * agent.enabled = true. Loaded once in the constructor, read-only
 * afterwards.
 */
#ifndef OTP_CONFIG_H
#define OTP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OTP_CFG_STR 512

typedef struct otp_config {
    /* Scalars first and the strings a start writes or reads next to them,
     * the rarely set long strings last: a start touches one or two pages
     * of this 8 KiB struct, not all three (see otp_cfg_table_defaults). */

    /* [agent] */
    bool agent_enabled;               /* enabled = true */
    int log_level;                    /* log_level = warn (error|warn|info|debug) -> OTP_LOG_* */
    bool summary;                     /* summary = false */
    int max_overhead_milli;           /* max_overhead_percent = 1 (0 or 0.1..50, 3 decimals), x1000; 0 = no budget */
    bool command_args;                /* command_args = false: process.command_args in the resource */
    bool publish_process_context;     /* publish_process_context = false: OTEL_CTX mapping (OTEP 4719) */
    int max_memory_mb;                /* max_memory_mb = 32 (0..65536); 0 = no cap */

    /* [cpu] */
    bool cpu_enabled;                 /* enabled = true */
    int cpu_sampling;                 /* sampling = timer (timer|off) -> OTP_CPU_SAMPLING_* */
    int cpu_frequency_hz;             /* frequency_hz = 100 (1..1000) */
    int cpu_max_stack_depth;          /* max_stack_depth = 64 (4..256) */

    /* [memory] */
    bool memory_enabled;              /* enabled = true */
    int memory_sampling;              /* sampling = bytes (bytes|every|off) -> OTP_MEM_SAMPLING_* */
    int64_t memory_sample_bytes;      /* sample_bytes = 524288 (1..1073741824) */
    bool memory_track_frees;          /* track_frees = true */
    int memory_leak_intervals;        /* leak_intervals = 3 (2..1000) */

    /* [export] */
    int export_interval_ms;           /* interval_ms = 10000 (100..3600000) */
    int export_protocol;              /* protocol = http/protobuf (http/protobuf|grpc) -> OTP_PROTOCOL_* */
    int export_timeout_ms;            /* timeout_ms = 10000; else OTEL_EXPORTER_OTLP_TIMEOUT */
    bool compression_gzip;            /* compression = gzip (gzip|none) */
    int64_t max_queue_bytes;          /* max_queue_bytes = 8388608 (0..1073741824) */
    int shutdown_timeout_ms;          /* shutdown_timeout_ms = 2000 (0..60000) */
    bool original_pprof;              /* original_pprof = false */
    int64_t max_dir_bytes;            /* max_dir_mb = 512 (0..1048576 MB, 3 decimals); 0 = no limit */
    int file_mode;                    /* file_mode = 0600 (octal 0600..0666) */
    /* The endpoint came from OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT: it is
     * the full URL, no signal path is appended (the spec's rule for
     * signal-specific endpoints). */
    bool endpoint_verbatim;

    char service_name[OTP_CFG_STR];   /* [agent] service_name; else OTEL_SERVICE_NAME; else exe name */
    char output_dir[OTP_CFG_STR];     /* [export] output_dir: resolved, "" = file sink off (see below) */
    char endpoint[OTP_CFG_STR];       /* [export] endpoint; else OTEL_EXPORTER_OTLP_ENDPOINT; "" = off */
    /* From the standard environment, passed through (read at every start). */
    char traceparent[128];            /* TRACEPARENT, raw */
    char resource_attributes[2048];   /* OTEL_RESOURCE_ATTRIBUTES, raw */
    char service_version[OTP_CFG_STR];        /* [agent] service_version = "" */
    char deployment_environment[OTP_CFG_STR]; /* [agent] deployment_environment = "" */
    char certificate[OTP_CFG_STR];    /* [export] certificate: CA file; else OTEL_EXPORTER_OTLP_[PROFILES_]CERTIFICATE */
    char client_key[OTP_CFG_STR];     /* [export] client_key: mTLS key file; else OTEL_..._CLIENT_KEY */
    char client_certificate[OTP_CFG_STR]; /* [export] client_certificate: mTLS; else OTEL_..._CLIENT_CERTIFICATE */
    char headers[2048];               /* [export] headers; else OTEL_EXPORTER_OTLP_HEADERS ("k=v,k2=v2") */
} otp_config_t;

enum { OTP_PROTOCOL_HTTP = 0, OTP_PROTOCOL_GRPC = 1 };
enum { OTP_CPU_SAMPLING_TIMER = 0, OTP_CPU_SAMPLING_OFF = 1 };
enum { OTP_MEM_SAMPLING_BYTES = 0, OTP_MEM_SAMPLING_EVERY = 1, OTP_MEM_SAMPLING_OFF = 2 };

/*
 * output_dir resolution: if export.output_dir is set (ini or env), use it;
 * else if an endpoint is set, the file sink is off (""); else
 * "./otprof-out".
 */

/* Fills cfg. Every problem (unreadable file, syntax error, bad value,
 * unknown key or OTPROF_ variable) is reported as one line on stderr
 * naming the file and line (or the variable), the key and the fallback,
 * e.g.
 *   otprof: otprof.ini:7: cpu.frequency_hz: "fast" is not a number (1..1000); using 100
 * and never fails: the result is always usable. Returns the number of
 * problems reported. No malloc (the file is read into a fixed buffer). */
int otp_config_load(otp_config_t *cfg);

/* The system file; OTPROF_SYSTEM_CONFIG names another one (tests), except
 * under secure execution. */
#define OTP_SYSTEM_CONFIG "/etc/otprof.ini"

/* otp_config_load with secure execution and the system file's path given
 * (otp_config_load: getauxval(AT_SECURE), and the path above). */
int otp_config_load_as(otp_config_t *cfg, bool secure, const char *system_path);

/* otp_config_load_as for the executable exe (its directory holds the
 * "file beside the binary"; its name is the default service name) instead
 * of this process's own; NULL = this process (the otprof command). */
int otp_config_load_for(otp_config_t *cfg, bool secure, const char *system_path, const char *exe);

/* Where a setting's value came from. */
typedef enum otp_config_source {
    OTP_CONFIG_DEFAULT,     /* the built-in default (or derived from other settings) */
    OTP_CONFIG_SYSTEM_FILE, /* /etc/otprof.ini */
    OTP_CONFIG_FILE,        /* otprof.ini beside the executable, or OTPROF_CONFIG's file */
    OTP_CONFIG_OTPROF_ENV,  /* OTPROF_<SECTION>_<KEY> */
    OTP_CONFIG_OTEL_ENV,    /* a standard OTEL_* variable */
} otp_config_source_t;

typedef struct otp_config_item {
    const char *section, *key, *doc;
    char value[2048 + 64];    /* as text; header values and URL userinfo redacted */
    otp_config_source_t source;
    const char *source_name;  /* "default", "system file", "file", "environment", ... */
    char origin[4096 + 32];   /* "path:line" or the variable's name; "" for defaults */
} otp_config_item_t;

/* The i-th key (in otprof.ini order) of cfg as loaded by the last
 * otp_config_load*; false once i is past the last key. */
bool otp_config_item(const otp_config_t *cfg, size_t i, otp_config_item_t *out);

/* Defaults only (tests). */
void otp_config_defaults(otp_config_t *cfg);

/* The process-wide config, valid after the constructor ran. */
extern otp_config_t otp_cfg;

#endif
