/*
 * Config loading: defaults, the shipped otprof.ini, INI files named by
 * OTPROF_CONFIG or found beside the executable, OTPROF_* and OTEL_*
 * variables and their precedence, and the exact one-line messages (with
 * file and line) for every kind of problem. stderr is captured around each
 * load; malloc is counted to prove the loader never allocates.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "log.h"
#include "sys.h"

/* ---- malloc counting: the loader runs before any allocator is safe ----
 * (not under AddressSanitizer, which owns malloc itself) */
#ifndef __SANITIZE_ADDRESS__
#define COUNT_MALLOC 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static volatile int counting, allocs;

void *malloc(size_t n)
{
    allocs += counting;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    allocs += counting;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    allocs += counting;
    return __libc_realloc(p, n);
}
#else
static volatile int counting, allocs;
#endif

static char dir[PATH_MAX];
static char err[16384];

/* Every key, its variable, and a valid non-default value. */
static const struct {
    const char *section, *key, *var, *value;
} keys[] = {
    { "agent", "enabled", "OTPROF_AGENT_ENABLED", "false" },
    { "agent", "service_name", "OTPROF_AGENT_SERVICE_NAME", "svc" },
    { "agent", "service_version", "OTPROF_AGENT_SERVICE_VERSION", "1.2.3" },
    { "agent", "deployment_environment", "OTPROF_AGENT_DEPLOYMENT_ENVIRONMENT", "staging" },
    { "agent", "log_level", "OTPROF_AGENT_LOG_LEVEL", "error" },
    { "agent", "summary", "OTPROF_AGENT_SUMMARY", "true" },
    { "agent", "max_overhead_percent", "OTPROF_AGENT_MAX_OVERHEAD_PERCENT", "2.5" },
    { "agent", "command_args", "OTPROF_AGENT_COMMAND_ARGS", "yes" },
    { "agent", "publish_process_context", "OTPROF_AGENT_PUBLISH_PROCESS_CONTEXT", "on" },
    { "agent", "max_memory_mb", "OTPROF_AGENT_MAX_MEMORY_MB", "8" },
    { "cpu", "enabled", "OTPROF_CPU_ENABLED", "no" },
    { "cpu", "sampling", "OTPROF_CPU_SAMPLING", "off" },
    { "cpu", "frequency_hz", "OTPROF_CPU_FREQUENCY_HZ", "250" },
    { "cpu", "max_stack_depth", "OTPROF_CPU_MAX_STACK_DEPTH", "128" },
    { "memory", "enabled", "OTPROF_MEMORY_ENABLED", "off" },
    { "memory", "sampling", "OTPROF_MEMORY_SAMPLING", "every" },
    { "memory", "sample_bytes", "OTPROF_MEMORY_SAMPLE_BYTES", "1073741824" },
    { "memory", "track_frees", "OTPROF_MEMORY_TRACK_FREES", "0" },
    { "memory", "leak_intervals", "OTPROF_MEMORY_LEAK_INTERVALS", "7" },
    { "export", "interval_ms", "OTPROF_EXPORT_INTERVAL_MS", "500" },
    { "export", "output_dir", "OTPROF_EXPORT_OUTPUT_DIR", "/tmp/some dir" },
    { "export", "endpoint", "OTPROF_EXPORT_ENDPOINT", "http://collector:4318" },
    { "export", "protocol", "OTPROF_EXPORT_PROTOCOL", "grpc" },
    { "export", "headers", "OTPROF_EXPORT_HEADERS", "api-key=abc,x=y" },
    { "export", "timeout_ms", "OTPROF_EXPORT_TIMEOUT_MS", "1500" },
    { "export", "compression", "OTPROF_EXPORT_COMPRESSION", "none" },
    { "export", "max_queue_bytes", "OTPROF_EXPORT_MAX_QUEUE_BYTES", "0" },
    { "export", "shutdown_timeout_ms", "OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS", "60000" },
    { "export", "original_pprof", "OTPROF_EXPORT_ORIGINAL_PPROF", "on" },
    { "export", "max_dir_mb", "OTPROF_EXPORT_MAX_DIR_MB", "0.05" },
    { "export", "file_mode", "OTPROF_EXPORT_FILE_MODE", "0640" },
    { "export", "certificate", "OTPROF_EXPORT_CERTIFICATE", "/etc/ca.pem" },
    { "export", "client_key", "OTPROF_EXPORT_CLIENT_KEY", "/etc/key.pem" },
    { "export", "client_certificate", "OTPROF_EXPORT_CLIENT_CERTIFICATE", "/etc/crt.pem" },
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* The values of `keys` as they must appear in otp_config_t. */
static void check_all_set(const otp_config_t *c)
{
    CHECK(!c->agent_enabled);
    CHECK_EQ_STR(c->service_name, "svc");
    CHECK_EQ_STR(c->service_version, "1.2.3");
    CHECK_EQ_STR(c->deployment_environment, "staging");
    CHECK_EQ_INT(c->log_level, OTP_LOG_ERROR);
    CHECK(c->summary);
    CHECK_EQ_INT(c->max_overhead_milli, 2500);
    CHECK(c->command_args);
    CHECK(c->publish_process_context);
    CHECK_EQ_INT(c->max_memory_mb, 8);
    CHECK(!c->cpu_enabled);
    CHECK_EQ_INT(c->cpu_sampling, OTP_CPU_SAMPLING_OFF);
    CHECK_EQ_INT(c->cpu_frequency_hz, 250);
    CHECK_EQ_INT(c->cpu_max_stack_depth, 128);
    CHECK(!c->memory_enabled);
    CHECK_EQ_INT(c->memory_sampling, OTP_MEM_SAMPLING_EVERY);
    CHECK_EQ_INT(c->memory_sample_bytes, 1073741824);
    CHECK(!c->memory_track_frees);
    CHECK_EQ_INT(c->memory_leak_intervals, 7);
    CHECK_EQ_INT(c->export_interval_ms, 500);
    CHECK_EQ_STR(c->output_dir, "/tmp/some dir");
    CHECK_EQ_STR(c->endpoint, "http://collector:4318");
    CHECK_EQ_STR(c->headers, "api-key=abc,x=y");
    CHECK_EQ_INT(c->export_timeout_ms, 1500);
    CHECK(!c->compression_gzip);
    CHECK_EQ_INT(c->export_protocol, OTP_PROTOCOL_GRPC);
    CHECK_EQ_INT(c->max_queue_bytes, 0);
    CHECK_EQ_INT(c->shutdown_timeout_ms, 60000);
    CHECK(c->original_pprof);
    CHECK_EQ_INT(c->max_dir_bytes, 52428); /* 0.05 MiB */
    CHECK_EQ_INT(c->file_mode, 0640);
    CHECK_EQ_INT(c->export_protocol, OTP_PROTOCOL_GRPC);
    CHECK_EQ_STR(c->certificate, "/etc/ca.pem");
    CHECK_EQ_STR(c->client_key, "/etc/key.pem");
    CHECK_EQ_STR(c->client_certificate, "/etc/crt.pem");
    CHECK(!c->endpoint_verbatim);
}

static void clear_env(void)
{
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "OTPROF_", 7) && strncmp(*e, "OTEL_", 5) &&
                strncmp(*e, "TRACEPARENT=", 12))
                continue;
            size_t n = strcspn(*e, "=");
            if (n < sizeof name) {
                memcpy(name, *e, n);
                name[n] = '\0';
            }
            break;
        }
        if (!name[0])
            break;
        unsetenv(name);
    }
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror(path);
        exit(2);
    }
    close(fd);
}

/* Writes text to DIR/name and points OTPROF_CONFIG at it; returns the path. */
static const char *config_file(const char *name, const char *text)
{
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_text(path, text);
    setenv("OTPROF_CONFIG", path, 1);
    return path;
}

/* otp_config_load (secure < 0) or otp_config_load_as with fd 2 captured
 * into err[]. The real /etc/otprof.ini never takes part unless a test
 * names it. */
static int load_as(otp_config_t *cfg, int secure, const char *system_path)
{
    char tmpl[PATH_MAX + 16];
    snprintf(tmpl, sizeof tmpl, "%s/stderr.XXXXXX", dir);
    int fd = mkstemp(tmpl);
    if (fd < 0)
        exit(2);
    unlink(tmpl);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    if (secure < 0 && !getenv("OTPROF_SYSTEM_CONFIG"))
        setenv("OTPROF_SYSTEM_CONFIG", "/nonexistent/otprof.ini", 1);
    counting = 1;
    int problems = secure < 0 ? otp_config_load(cfg) : otp_config_load_as(cfg, secure, system_path);
    counting = 0;
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, err, sizeof err - 1, 0);
    err[n > 0 ? n : 0] = '\0';
    close(fd);
    return problems;
}

static int load(otp_config_t *cfg)
{
    return load_as(cfg, -1, NULL);
}

static void test_defaults(void)
{
    otp_config_t c;
    otp_config_defaults(&c);
    CHECK(c.agent_enabled);
    CHECK_EQ_STR(c.service_name, "test_config"); /* the executable's name */
    CHECK_EQ_STR(c.service_version, "");
    CHECK_EQ_STR(c.deployment_environment, "");
    CHECK_EQ_INT(c.log_level, OTP_LOG_WARN);
    CHECK(!c.summary);
    CHECK(c.cpu_enabled);
    CHECK_EQ_INT(c.cpu_frequency_hz, 100);
    CHECK_EQ_INT(c.cpu_max_stack_depth, 64);
    CHECK(c.memory_enabled);
    CHECK_EQ_INT(c.memory_sample_bytes, 524288);
    CHECK(c.memory_track_frees);
    CHECK_EQ_INT(c.memory_leak_intervals, 3);
    CHECK_EQ_INT(c.export_interval_ms, 10000);
    CHECK_EQ_STR(c.output_dir, "./otprof-out");
    CHECK_EQ_STR(c.endpoint, "");
    CHECK_EQ_STR(c.headers, "");
    CHECK_EQ_INT(c.export_timeout_ms, 10000);
    CHECK(c.compression_gzip);
    CHECK_EQ_INT(c.max_queue_bytes, 8388608);
    CHECK_EQ_INT(c.shutdown_timeout_ms, 2000);
    CHECK(!c.original_pprof);
    CHECK_EQ_INT(c.max_dir_bytes, 512LL << 20);
    CHECK_EQ_INT(c.file_mode, 0600);
    CHECK_EQ_STR(c.resource_attributes, "");
    CHECK_EQ_STR(c.traceparent, "");

    /* An empty file and no variables give exactly the defaults. */
    otp_config_t l;
    clear_env();
    config_file("empty.ini", "");
    CHECK_EQ_INT(load(&l), 0);
    CHECK_EQ_STR(err, "");
    CHECK(memcmp(&l, &c, sizeof c) == 0);
    setenv("OTPROF_CONFIG", "/dev/null", 1);
    CHECK_EQ_INT(load(&l), 0);
    CHECK(memcmp(&l, &c, sizeof c) == 0);
}

/* The shipped otprof.ini: loads cleanly, equals the defaults, lists every
 * key under its section with a comment above it, and nothing else. */
static void test_shipped_ini(void)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s", otp_exe_path());
    char *slash = strrchr(path, '/');
    if (slash) /* BUILD/tests/test_config */
        snprintf(slash, sizeof path - (size_t)(slash - path), "/../../otprof.ini");
    if (access(path, R_OK) != 0)
        snprintf(path, sizeof path, "otprof.ini");
    clear_env();
    setenv("OTPROF_CONFIG", path, 1);
    otp_config_t l, d;
    otp_config_defaults(&d);
    CHECK_EQ_INT(load(&l), 0);
    CHECK_EQ_STR(err, "");
    CHECK(memcmp(&l, &d, sizeof d) == 0);

    static char text[65536];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
    if (fd >= 0)
        close(fd);
    CHECK(n > 0);
    text[n > 0 ? n : 0] = '\0';

    size_t found = 0, key_lines = 0;
    char section[64] = "", prev[256] = "";
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char name[128];
        if (sscanf(line, "[%63[^]]]", section) == 1) {
        } else if (line[0] != ';' && line[0] != '#' && sscanf(line, "%127[a-z_] =", name) == 1) {
            key_lines++;
            bool known = false;
            for (size_t i = 0; i < NKEYS; i++)
                if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, name))
                    known = true;
            found += known;
            if (!known || prev[0] != ';')
                printf("      shipped otprof.ini: [%s] %s: known %d, comment above %d\n",
                       section, name, known, prev[0] == ';');
            CHECK_NAMED("shipped key is known and documented", known && prev[0] == ';');
        }
        snprintf(prev, sizeof prev, "%s", line);
    }
    CHECK_EQ_INT(found, NKEYS);
    CHECK_EQ_INT(key_lines, NKEYS);
}

static void test_good_file(void)
{
    clear_env();
    char text[8192] = "; a comment\n# another\n\n";
    const char *last_section = "";
    for (size_t i = 0; i < NKEYS; i++) {
        char line[256];
        if (strcmp(last_section, keys[i].section))
            snprintf(line, sizeof line, "[%s]\n%s = %s ; inline comment\n", keys[i].section,
                     keys[i].key, keys[i].value);
        else
            snprintf(line, sizeof line, "  %s=%s\n", keys[i].key, keys[i].value);
        last_section = keys[i].section;
        strcat(text, line);
    }
    config_file("good.ini", text);
    otp_config_t c;
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(err, "");
    check_all_set(&c);

    /* Case-insensitive names and values, CRLF, a BOM and "key: value". */
    config_file("styles.ini", "\xEF\xBB\xBF[CPU]\r\nFrequency_Hz: 42\r\nenabled = FALSE\r\n"
                              "[agent]\r\nlog_level = DEBUG\r\n");
    setenv("OTPROF_AGENT_LOG_LEVEL", "warn", 1); /* keep the debug dump off */
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_INT(c.cpu_frequency_hz, 42);
    CHECK(!c.cpu_enabled);

    /* A key given twice: the later line wins, silently. */
    config_file("twice.ini", "[cpu]\nfrequency_hz = 10\n[memory]\n[cpu]\nfrequency_hz = 20\n");
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_INT(c.cpu_frequency_hz, 20);

    /* Empty values mean "not set", in the file and in the environment. */
    clear_env();
    config_file("empty-values.ini", "[cpu]\nfrequency_hz =\n[agent]\nservice_name =\n"
                                    "[export]\ntimeout_ms = 777\n");
    setenv("OTPROF_EXPORT_TIMEOUT_MS", "", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_INT(c.cpu_frequency_hz, 100);
    CHECK_EQ_STR(c.service_name, "test_config");
    CHECK_EQ_INT(c.export_timeout_ms, 777);
}

static void test_env(void)
{
    /* Every key has its variable; the environment wins over the file. */
    clear_env();
    config_file("base.ini", "[cpu]\nfrequency_hz = 300\nmax_stack_depth = 32\n"
                            "[export]\nendpoint = http://file:4318\n");
    for (size_t i = 0; i < NKEYS; i++)
        setenv(keys[i].var, keys[i].value, 1);
    otp_config_t c;
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(err, "");
    check_all_set(&c);

    /* Only some variables: file values stay where no variable is set. */
    clear_env();
    const char *path = config_file("base.ini", "[cpu]\nfrequency_hz = 300\nmax_stack_depth = 32\n");
    setenv("OTPROF_CPU_MAX_STACK_DEPTH", " 200 ", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_INT(c.cpu_frequency_hz, 300);
    CHECK_EQ_INT(c.cpu_max_stack_depth, 200);

    /* A bad variable falls back to the file's value, and says so. */
    setenv("OTPROF_CPU_FREQUENCY_HZ", "0", 1);
    setenv("OTPROF_AGENT_ENABLED", "maybe", 1);
    CHECK_EQ_INT(load(&c), 2);
    CHECK_EQ_INT(c.cpu_frequency_hz, 300);
    CHECK(c.agent_enabled);
    CHECK_EQ_STR(err, "otprof: OTPROF_AGENT_ENABLED: \"maybe\" is not a boolean "
                      "(true|false|yes|no|on|off|1|0); using true\n"
                      "otprof: OTPROF_CPU_FREQUENCY_HZ: \"0\" is out of range (1..1000); "
                      "using 300\n");
    (void)path;

    /* Unknown OTPROF_ variables warn; OTPROF_CONFIG is known. */
    clear_env();
    setenv("OTPROF_CONFIG", "/dev/null", 1);
    setenv("OTPROF_CPU_FREQUNCY_HZ", "50", 1);
    CHECK_EQ_INT(load(&c), 1);
    CHECK_EQ_STR(err, "otprof: OTPROF_CPU_FREQUNCY_HZ: unknown variable; ignored\n");
    CHECK_EQ_INT(c.cpu_frequency_hz, 100);

    /* agent.enabled in all its spellings. */
    static const char *const offs[] = { "false", "0", "no", "off", "OFF", "False" };
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        clear_env();
        setenv("OTPROF_CONFIG", "/dev/null", 1);
        setenv("OTPROF_AGENT_ENABLED", offs[i], 1);
        CHECK_EQ_INT(load(&c), 0);
        CHECK(!c.agent_enabled);
    }
}

static void test_bad_values(void)
{
    clear_env();
    char longstr[700];
    memset(longstr, 'a', sizeof longstr - 1);
    longstr[sizeof longstr - 1] = '\0';
    char text[4096];
    snprintf(text, sizeof text,
             "[cpu]\n"
             "frequency_hz = fast\n"           /* 2 */
             "max_stack_depth = 3\n"           /* 3 */
             "enabled = maybe\n"               /* 4 */
             "[agent]\n"
             "log_level = loud\n"              /* 6 */
             "service_version = %s\n"          /* 7: longer than the field */
             "[memory]\n"
             "sample_bytes = 99999999999999999999\n" /* 9 */
             "leak_intervals = 1.5\n"          /* 10 */
             "[export]\n"
             "compression = zstd\n"            /* 12 */
             "interval_ms = -5\n"              /* 13 */
             "max_queue_bytes = 0x10\n",       /* 14 */
             longstr);
    const char *p = config_file("bad.ini", text);
    otp_config_t c;
    CHECK_EQ_INT(load(&c), 10);
    otp_config_t d;
    otp_config_defaults(&d);
    CHECK(memcmp(&c, &d, sizeof d) == 0);
    char want[4096];
    snprintf(want, sizeof want,
             "otprof: %s:2: cpu.frequency_hz: \"fast\" is not a number (1..1000); using 100\n"
             "otprof: %s:3: cpu.max_stack_depth: \"3\" is out of range (4..256); using 64\n"
             "otprof: %s:4: cpu.enabled: \"maybe\" is not a boolean "
             "(true|false|yes|no|on|off|1|0); using true\n"
             "otprof: %s:6: agent.log_level: \"loud\" is not one of error|warn|info|debug; "
             "using warn\n"
             "otprof: %s:7: agent.service_version: \"%.60s...\" is too long (699 bytes, max 511); "
             "using \"\"\n"
             "otprof: %s:9: memory.sample_bytes: \"99999999999999999999\" is out of range "
             "(1..1073741824); using 524288\n"
             "otprof: %s:10: memory.leak_intervals: \"1.5\" is not a number (2..1000); using 3\n"
             "otprof: %s:12: export.compression: \"zstd\" is not one of gzip|none; using gzip\n"
             "otprof: %s:13: export.interval_ms: \"-5\" is out of range (100..3600000); "
             "using 10000\n"
             "otprof: %s:14: export.max_queue_bytes: \"0x10\" is not a number (0..1073741824); "
             "using 8388608\n",
             p, p, p, p, p, longstr, p, p, p, p, p);
    CHECK_EQ_STR(err, want);

    /* A bad file value and a good variable: no fallback needed, but the
     * file's problem is still reported. */
    setenv("OTPROF_CPU_FREQUENCY_HZ", "5", 1);
    CHECK_EQ_INT(load(&c), 10);
    CHECK_EQ_INT(c.cpu_frequency_hz, 5);
}

static void test_unknown_and_syntax(void)
{
    clear_env();
    const char *p = config_file("syntax.ini",
                                "stray = 1\n"               /* 1: before any section */
                                "[cpu]\n"
                                "frequncy_hz = 10\n"        /* 3: typo */
                                "frequency_hz 20\n"         /* 4: no '=' */
                                "max_stack_depth = 99\n"    /* 5: still applied */
                                "  more text\n"             /* 6: not a continuation */
                                "[memory\n"                 /* 7: unclosed */
                                "; fine\n"
                                "\n"
                                "[gpu]\n"
                                "enabled = true\n"          /* 11: unknown section */
                                "[memory]\n"
                                "leak_intervals = 9");      /* 13: no final newline */
    otp_config_t c;
    CHECK_EQ_INT(load(&c), 6);
    char want[4096];
    snprintf(want, sizeof want,
             "otprof: %s:1: unknown key \"stray\"; ignored\n"
             "otprof: %s:3: unknown key \"cpu.frequncy_hz\"; ignored\n"
             "otprof: %s:4: syntax error: \"frequency_hz 20\" is not \"key = value\" or "
             "\"[section]\"; line ignored\n"
             "otprof: %s:6: syntax error: \"more text\" is not \"key = value\" or "
             "\"[section]\"; line ignored\n"
             "otprof: %s:7: syntax error: \"[memory\" has no closing \"]\"; line ignored\n"
             "otprof: %s:11: unknown key \"gpu.enabled\"; ignored\n",
             p, p, p, p, p, p);
    CHECK_EQ_STR(err, want);
    CHECK_EQ_INT(c.cpu_frequency_hz, 100);
    CHECK_EQ_INT(c.cpu_max_stack_depth, 99);
    CHECK_EQ_INT(c.memory_leak_intervals, 9);

    /* log_level = error hides warnings (still counted), never errors. */
    config_file("quiet.ini", "[agent]\nlog_level = error\nbogus = 1\n[cpu]\nfrequency_hz = x\n");
    p = getenv("OTPROF_CONFIG");
    CHECK_EQ_INT(load(&c), 2);
    snprintf(want, sizeof want,
             "otprof: %s:5: cpu.frequency_hz: \"x\" is not a number (1..1000); using 100\n", p);
    CHECK_EQ_STR(err, want);
    CHECK_EQ_INT(otp_log_get_level(), OTP_LOG_ERROR);

    /* log_level = debug: the messages and then each key's value and source. */
    config_file("debug.ini", "[agent]\nlog_level = debug\n");
    setenv("OTPROF_CPU_FREQUENCY_HZ", "7", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK(strstr(err, "otprof: config: cpu.frequency_hz = 7 (environment)\n") != NULL);
    CHECK(strstr(err, "otprof: config: agent.log_level = debug (file)\n") != NULL);
    CHECK(strstr(err, "otprof: config: memory.sample_bytes = 524288 (default)\n") != NULL);
    otp_log_set_level(OTP_LOG_WARN);
}

static void test_long_lines(void)
{
    /* inih's line buffer holds 200 bytes; longer values still work. */
    clear_env();
    static char text[16384], hdr[1500], huge[3000];
    memset(hdr, 'h', sizeof hdr - 1);
    memcpy(hdr, "k=", 2);
    memset(huge, 'x', sizeof huge - 1);
    static char comment[400];
    memset(comment, 'c', sizeof comment - 1);
    comment[0] = ';';
    snprintf(text, sizeof text,
             "%s\n"                         /* 1: long comment */
             "[export]\n"
             "headers = %s   ; trailing comment\n" /* 3 */
             "endpoint = %s\n"              /* 4: too long */
             "interval_ms = slow\n",        /* 5: line count still right */
             comment, hdr, huge);
    const char *p = config_file("long.ini", text);
    otp_config_t c;
    CHECK_EQ_INT(load(&c), 2);
    CHECK_EQ_STR(c.headers, hdr);
    CHECK_EQ_STR(c.endpoint, "");
    char want[1024];
    snprintf(want, sizeof want,
             "otprof: %s:4: export.endpoint: \"%.60s...\" is too long (2999 bytes, max 511); "
             "using \"\"\n"
             "otprof: %s:5: export.interval_ms: \"slow\" is not a number (100..3600000); "
             "using 10000\n",
             p, huge, p);
    CHECK_EQ_STR(err, want);
}

static void test_files(void)
{
    otp_config_t c;
    /* An unreadable OTPROF_CONFIG: one line, and variables still apply. */
    clear_env();
    setenv("OTPROF_CONFIG", "/nonexistent/otprof.ini", 1);
    setenv("OTPROF_CPU_FREQUENCY_HZ", "77", 1);
    CHECK_EQ_INT(load(&c), 1);
    CHECK_EQ_STR(err, "otprof: OTPROF_CONFIG: cannot read \"/nonexistent/otprof.ini\": "
                      "No such file or directory; file ignored\n");
    CHECK_EQ_INT(c.cpu_frequency_hz, 77);

    setenv("OTPROF_CONFIG", dir, 1);
    CHECK_EQ_INT(load(&c), 1);
    CHECK(strstr(err, "Is a directory; file ignored\n") != NULL);

    /* Larger than 64 KiB: refused whole. */
    static char big[70000];
    memset(big, '\n', sizeof big - 1);
    memcpy(big, "[cpu]\nfrequency_hz = 9\n", 23);
    const char *p = config_file("big.ini", big);
    unsetenv("OTPROF_CPU_FREQUENCY_HZ");
    CHECK_EQ_INT(load(&c), 1);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof want, "otprof: OTPROF_CONFIG: cannot read \"%s\": larger than 64 KiB; "
                                "file ignored\n", p);
    CHECK_EQ_STR(err, want);
    CHECK_EQ_INT(c.cpu_frequency_hz, 100);

    /* Exactly 64 KiB is still fine. */
    memset(big, '\n', 65536);
    big[65536] = '\0';
    memcpy(big, "[cpu]\nfrequency_hz = 9\n", 23);
    config_file("big.ini", big);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_INT(c.cpu_frequency_hz, 9);

    /* otprof.ini beside the executable, used only without OTPROF_CONFIG. */
    char exe_ini[PATH_MAX + 16];
    snprintf(exe_ini, sizeof exe_ini, "%s", otp_exe_path());
    char *slash = strrchr(exe_ini, '/');
    CHECK(slash != NULL);
    if (!slash)
        return;
    strcpy(slash, "/otprof.ini");
    if (access(exe_ini, F_OK) == 0) {
        printf("      %s exists; exe-dir case skipped\n", exe_ini);
        return;
    }
    write_text(exe_ini, "[cpu]\nfrequency_hz = 33\nmax_stack_depth = 1\n");
    clear_env();
    int n = load(&c);
    unlink(exe_ini);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(c.cpu_frequency_hz, 33);
    snprintf(want, sizeof want,
             "otprof: %s:3: cpu.max_stack_depth: \"1\" is out of range (4..256); using 64\n",
             exe_ini);
    CHECK_EQ_STR(err, want);
    write_text(exe_ini, "[cpu]\nfrequency_hz = 33\n");
    setenv("OTPROF_CONFIG", "/dev/null", 1);
    n = load(&c);
    unlink(exe_ini);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(c.cpu_frequency_hz, 100);
}

static void test_otel(void)
{
    otp_config_t c;
    clear_env();
    setenv("OTPROF_CONFIG", "/dev/null", 1);
    setenv("OTEL_SERVICE_NAME", "from-otel", 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=1", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", 1);
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "none", 1);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=attr,team=x", 1);
    setenv("TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_STR(c.service_name, "from-otel");
    CHECK_EQ_STR(c.endpoint, "http://otel:4318");
    CHECK_EQ_STR(c.output_dir, ""); /* endpoint set: file sink off */
    CHECK_EQ_STR(c.headers, "a=1");
    CHECK_EQ_INT(c.export_timeout_ms, 2500);
    CHECK(!c.compression_gzip);
    CHECK_EQ_STR(c.resource_attributes, "service.name=attr,team=x");
    CHECK_EQ_STR(c.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

    /* otprof's own keys win: file for some, variables for others. */
    config_file("otel.ini", "[agent]\nservice_name = from-file\n[export]\ntimeout_ms = 3000\n"
                            "compression = gzip\n");
    setenv("OTPROF_EXPORT_ENDPOINT", "http://mine:4318", 1);
    setenv("OTPROF_EXPORT_HEADERS", "b=2", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(c.service_name, "from-file");
    CHECK_EQ_STR(c.endpoint, "http://mine:4318");
    CHECK_EQ_STR(c.headers, "b=2");
    CHECK_EQ_INT(c.export_timeout_ms, 3000);
    CHECK(c.compression_gzip);
    setenv("OTPROF_AGENT_SERVICE_NAME", "from-env", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(c.service_name, "from-env");

    /* service.name from OTEL_RESOURCE_ATTRIBUTES (percent-decoded) when
     * OTEL_SERVICE_NAME is unset; then the executable's name. */
    clear_env();
    setenv("OTPROF_CONFIG", "/dev/null", 1);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "team=x, service.name = my%20svc%2C1 ,k=v", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(c.service_name, "my svc,1");
    setenv("OTEL_RESOURCE_ATTRIBUTES", "team=x", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(c.service_name, "test_config");

    /* A bad OTEL value is reported under its own name. */
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "10s", 1);
    CHECK_EQ_INT(load(&c), 1);
    CHECK_EQ_STR(err, "otprof: OTEL_EXPORTER_OTLP_TIMEOUT: \"10s\" is not a number (1..600000); "
                      "using 10000\n");
    CHECK_EQ_INT(c.export_timeout_ms, 10000);
    unsetenv("OTEL_EXPORTER_OTLP_TIMEOUT");
    char longv[200];
    memset(longv, 't', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    setenv("TRACEPARENT", longv, 1);
    CHECK_EQ_INT(load(&c), 1);
    CHECK(strncmp(err, "otprof: TRACEPARENT: \"tttt", 26) == 0);
    CHECK(strstr(err, "is too long (199 bytes, max 127); using \"\"\n") != NULL);
    CHECK_EQ_STR(c.traceparent, "");

    /* output_dir: explicit wins even with an endpoint; else ./otprof-out. */
    clear_env();
    setenv("OTPROF_CONFIG", "/dev/null", 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318", 1);
    setenv("OTPROF_EXPORT_OUTPUT_DIR", "/tmp/x", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(c.output_dir, "/tmp/x");
    unsetenv("OTPROF_EXPORT_OUTPUT_DIR");
    config_file("outdir.ini", "[export]\noutput_dir = /var/tmp/prof\n");
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(c.output_dir, "/var/tmp/prof");
    unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    setenv("OTPROF_CONFIG", "/dev/null", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(c.output_dir, "./otprof-out");
}

/* Size and mode keys: decimals in MB, octal modes within 0600..0666. */
static void test_mb_and_mode(void)
{
    otp_config_t c;
    clear_env();
    setenv("OTPROF_CONFIG", "/dev/null", 1);
    static const struct {
        const char *v;
        long long bytes;
    } mbs[] = { { "0", 0 }, { "1", 1048576 }, { "0.5", 524288 }, { "1.25", 1310720 },
                { "0.001", 1048 }, { " 2.000 ", 2097152 }, { "1048576", 1099511627776LL } };
    for (size_t i = 0; i < sizeof mbs / sizeof mbs[0]; i++) {
        setenv("OTPROF_EXPORT_MAX_DIR_MB", mbs[i].v, 1);
        CHECK_EQ_INT(load(&c), 0);
        CHECK_EQ_INT(c.max_dir_bytes, mbs[i].bytes);
    }
    static const char *const bad_mb[] = { "1.2345", "-1", "1e3", ".", "1..2", "12MB" };
    for (size_t i = 0; i < sizeof bad_mb / sizeof bad_mb[0]; i++) {
        setenv("OTPROF_EXPORT_MAX_DIR_MB", bad_mb[i], 1);
        CHECK_EQ_INT(load(&c), 1);
        CHECK_EQ_INT(c.max_dir_bytes, 512LL << 20);
    }
    setenv("OTPROF_EXPORT_MAX_DIR_MB", "1048577", 1);
    CHECK_EQ_INT(load(&c), 1);
    CHECK_EQ_STR(err, "otprof: OTPROF_EXPORT_MAX_DIR_MB: \"1048577\" is out of range "
                      "(0..1048576 MB, up to 3 decimals); using 512\n");
    setenv("OTPROF_EXPORT_MAX_DIR_MB", "0.1234", 1);
    CHECK_EQ_INT(load(&c), 1);
    CHECK_EQ_STR(err, "otprof: OTPROF_EXPORT_MAX_DIR_MB: \"0.1234\" is not a number "
                      "(0..1048576 MB, up to 3 decimals); using 512\n");
    unsetenv("OTPROF_EXPORT_MAX_DIR_MB");

    static const struct {
        const char *v;
        int mode;
    } modes[] = { { "0600", 0600 }, { "600", 0600 }, { "0640", 0640 }, { "0666", 0666 } };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        setenv("OTPROF_EXPORT_FILE_MODE", modes[i].v, 1);
        CHECK_EQ_INT(load(&c), 0);
        CHECK_EQ_INT(c.file_mode, modes[i].mode);
    }
    static const char *const bad_modes[] = { "0700", "0644x", "0400", "0200", "4600", "0660 0",
                                             "0607", "rw" };
    for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
        setenv("OTPROF_EXPORT_FILE_MODE", bad_modes[i], 1);
        CHECK_EQ_INT(load(&c), 1);
        CHECK_EQ_INT(c.file_mode, 0600);
    }
    setenv("OTPROF_EXPORT_FILE_MODE", "0755", 1);
    CHECK_EQ_INT(load(&c), 1);
    CHECK_EQ_STR(err, "otprof: OTPROF_EXPORT_FILE_MODE: \"0755\" is not an octal mode from 0600 "
                      "to 0666 (owner rw, no x or special bits); using 0600\n");

    /* The overhead budget: a percentage with decimals, 0 = none. */
    unsetenv("OTPROF_EXPORT_FILE_MODE");
    static const struct {
        const char *text;
        int milli;
    } pcts[] = { { "0", 0 }, { "0.1", 100 }, { "1", 1000 }, { "2.25", 2250 }, { "50", 50000 } };
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
        setenv("OTPROF_AGENT_MAX_OVERHEAD_PERCENT", pcts[i].text, 1);
        CHECK_EQ_INT(load(&c), 0);
        CHECK_EQ_INT(c.max_overhead_milli, pcts[i].milli);
    }
    static const char *const bad_pcts[] = { "0.05", "50.5", "-1", "1%", "0.0001", "x" };
    for (size_t i = 0; i < sizeof bad_pcts / sizeof bad_pcts[0]; i++) {
        setenv("OTPROF_AGENT_MAX_OVERHEAD_PERCENT", bad_pcts[i], 1);
        CHECK_EQ_INT(load(&c), 1);
        CHECK_EQ_INT(c.max_overhead_milli, 1000);
    }
    setenv("OTPROF_AGENT_MAX_OVERHEAD_PERCENT", "51", 1);
    CHECK_EQ_INT(load(&c), 1);
    CHECK_EQ_STR(err, "otprof: OTPROF_AGENT_MAX_OVERHEAD_PERCENT: \"51\" is out of range (0, or "
                      "0.1..50, up to 3 decimals); using 1\n");
    unsetenv("OTPROF_AGENT_MAX_OVERHEAD_PERCENT");

    /* The debug dump shows both in the units they are written in. */
    setenv("OTPROF_EXPORT_FILE_MODE", "0644", 1);
    setenv("OTPROF_EXPORT_MAX_DIR_MB", "0.05", 1);
    setenv("OTPROF_AGENT_LOG_LEVEL", "debug", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK(strstr(err, "otprof: config: export.max_dir_mb = 0.05 (environment)\n") != NULL);
    CHECK(strstr(err, "otprof: config: export.file_mode = 0644 (environment)\n") != NULL);
    otp_log_set_level(OTP_LOG_WARN);
}

/* An endpoint's userinfo is a credential: never printed, neither in the
 * debug dump nor in a message about a bad value. */
static void test_redaction(void)
{
    otp_config_t c;
    clear_env();
    setenv("OTPROF_CONFIG", "/dev/null", 1);
    setenv("OTPROF_AGENT_LOG_LEVEL", "debug", 1);
    setenv("OTPROF_EXPORT_ENDPOINT", "http://user:s3cret@collector:4318/base?x=1", 1);
    setenv("OTPROF_EXPORT_HEADERS", "api-key=t0ken", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(c.endpoint, "http://user:s3cret@collector:4318/base?x=1");
    CHECK(strstr(err, "otprof: config: export.endpoint = \"http://<redacted>@collector:4318/"
                      "base?x=1\" (environment)\n") != NULL);
    CHECK(strstr(err, "otprof: config: export.headers = \"api-key=<redacted>\" (environment)\n")
          != NULL);
    CHECK(strstr(err, "s3cret") == NULL && strstr(err, "t0ken") == NULL);

    /* No scheme, '@' in the path only, several '@' in the userinfo. */
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "u:p@host:4318", 1);
    unsetenv("OTPROF_EXPORT_ENDPOINT");
    CHECK_EQ_INT(load(&c), 0);
    CHECK(strstr(err, "export.endpoint = \"<redacted>@host:4318\" (OTEL environment)\n") != NULL);
    setenv("OTPROF_EXPORT_ENDPOINT", "https://host/a@b", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK(strstr(err, "export.endpoint = \"https://host/a@b\" (environment)\n") != NULL);
    setenv("OTPROF_EXPORT_ENDPOINT", "https://a@b:c@d@host", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK(strstr(err, "export.endpoint = \"https://<redacted>@host\" (environment)\n") != NULL);
    otp_log_set_level(OTP_LOG_WARN);

    /* A value too long to use is quoted redacted too. */
    static char longurl[700];
    memset(longurl, 'h', sizeof longurl - 1);
    memcpy(longurl, "http://user:s3cret@", 19);
    clear_env();
    setenv("OTPROF_CONFIG", "/dev/null", 1);
    setenv("OTPROF_EXPORT_ENDPOINT", longurl, 1);
    CHECK_EQ_INT(load(&c), 1);
    CHECK(strncmp(err, "otprof: OTPROF_EXPORT_ENDPOINT: \"http://<redacted>@hhhh", 55) == 0);
    CHECK(strstr(err, "s3cret") == NULL);
}

/* The system file (/etc/otprof.ini; OTPROF_SYSTEM_CONFIG in tests) is the
 * lowest file layer; under secure execution it is the only input, it
 * must be root's and not writable by others, and only its own
 * "enabled = true" turns the agent on. The secure flag is injected here:
 * tests/preload/files_secure.sh runs a real setuid copy. */
static void test_system_and_secure(void)
{
    otp_config_t c;
    char sys[PATH_MAX + 32], want[PATH_MAX + 256];
    snprintf(sys, sizeof sys, "%s/system.ini", dir);
    write_text(sys, "[agent]\nenabled = true\nservice_name = from-system\n"
                    "[cpu]\nfrequency_hz = 11\nmax_stack_depth = 12\n"
                    "[memory]\nleak_intervals = 13\n");
    chmod(sys, 0644);

    /* Not secure: defaults < system < file < environment. */
    clear_env();
    setenv("OTPROF_SYSTEM_CONFIG", sys, 1);
    config_file("user.ini", "[cpu]\nfrequency_hz = 21\nmax_stack_depth = 22\n");
    setenv("OTPROF_CPU_FREQUENCY_HZ", "31", 1);
    setenv("OTPROF_AGENT_LOG_LEVEL", "debug", 1);
    CHECK_EQ_INT(load(&c), 0);
    otp_log_set_level(OTP_LOG_WARN);
    CHECK(c.agent_enabled);
    CHECK_EQ_INT(c.cpu_frequency_hz, 31);
    CHECK_EQ_INT(c.cpu_max_stack_depth, 22);
    CHECK_EQ_INT(c.memory_leak_intervals, 13);
    CHECK_EQ_STR(c.service_name, "from-system");
    CHECK(strstr(err, "otprof: config: memory.leak_intervals = 13 (system file)\n") != NULL);
    CHECK(strstr(err, "otprof: config: cpu.max_stack_depth = 22 (file)\n") != NULL);
    /* A system key wins over the OTEL_* fallback, as every otprof key does. */
    setenv("OTEL_SERVICE_NAME", "from-otel", 1);
    unsetenv("OTPROF_AGENT_LOG_LEVEL");
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(c.service_name, "from-system");
    /* A missing system file is silent. */
    setenv("OTPROF_SYSTEM_CONFIG", "/nonexistent/otprof.ini", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_STR(c.service_name, "from-otel");

    /* Secure: the root-owned system file alone; the environment, OTEL_*,
     * OTPROF_CONFIG and the file beside the executable do not count. */
    bool root = geteuid() == 0;
    if (!root)
        printf("      not root: the root-owned system file cases are skipped\n");
    clear_env();
    config_file("user.ini", "[cpu]\nfrequency_hz = 21\n[export]\noutput_dir = /tmp/user\n");
    setenv("OTPROF_CPU_MAX_STACK_DEPTH", "200", 1);
    setenv("OTPROF_EXPORT_OUTPUT_DIR", "/tmp/env", 1);
    setenv("OTEL_SERVICE_NAME", "from-otel", 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://evil:4318", 1);
    setenv("TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 1);
    setenv("OTPROF_SYSTEM_CONFIG", "/nonexistent", 1);
    if (root) {
        CHECK_EQ_INT(load_as(&c, 1, sys), 0);
        CHECK_EQ_STR(err, "");
        CHECK(c.agent_enabled);
        CHECK_EQ_INT(c.cpu_frequency_hz, 11);
        CHECK_EQ_INT(c.cpu_max_stack_depth, 12);
        CHECK_EQ_STR(c.service_name, "from-system");
        CHECK_EQ_STR(c.output_dir, "./otprof-out");
        CHECK_EQ_STR(c.endpoint, "");
        CHECK_EQ_STR(c.traceparent, "");
    }
    /* No system file: off, whatever else says. */
    CHECK_EQ_INT(load_as(&c, 1, "/nonexistent/otprof.ini"), 0);
    CHECK_EQ_STR(err, "");
    CHECK(!c.agent_enabled);
    CHECK_EQ_INT(c.cpu_frequency_hz, 100);
    /* A disabled agent names nothing (no lookups of the executable). */
    CHECK_EQ_STR(c.service_name, "");
    /* A system file that does not say enabled = true: off. */
    char sys2[PATH_MAX + 32];
    snprintf(sys2, sizeof sys2, "%s/system2.ini", dir);
    write_text(sys2, "[cpu]\nfrequency_hz = 11\n");
    chmod(sys2, 0644);
    CHECK_EQ_INT(load_as(&c, 1, sys2), 0);
    CHECK(!c.agent_enabled);
    if (root)
        CHECK_EQ_INT(c.cpu_frequency_hz, 11);
    write_text(sys2, "[agent]\nenabled = false\n");
    CHECK_EQ_INT(load_as(&c, 1, sys2), 0);
    CHECK(!c.agent_enabled);
    /* OTPROF_AGENT_ENABLED=true cannot turn it on. */
    setenv("OTPROF_AGENT_ENABLED", "true", 1);
    CHECK_EQ_INT(load_as(&c, 1, sys2), 0);
    CHECK(!c.agent_enabled);
    /* Writable by group or others: refused whole, and said. */
    chmod(sys, 0664);
    CHECK_EQ_INT(load_as(&c, 1, sys), 1);
    CHECK(!c.agent_enabled);
    CHECK_EQ_INT(c.cpu_frequency_hz, 100);
    snprintf(want, sizeof want, "otprof: %s: cannot read: not owned by root, or writable by group "
                                "or others; file ignored\n", sys);
    CHECK_EQ_STR(err, want);
    chmod(sys, 0646);
    CHECK_EQ_INT(load_as(&c, 1, sys), 1);
    CHECK(!c.agent_enabled);
    chmod(sys, 0644);
    /* Not root's: refused. */
    if (root) {
        CHECK(chown(sys, 65534, 65534) == 0);
        CHECK_EQ_INT(load_as(&c, 1, sys), 1);
        CHECK(!c.agent_enabled);
        CHECK_EQ_STR(err, want);
        CHECK(chown(sys, 0, 0) == 0);
    } else {
        CHECK_EQ_INT(load_as(&c, 1, sys), 1);
        CHECK(!c.agent_enabled);
    }
    /* The same files without secure execution: the usual layers. */
    CHECK_EQ_INT(load_as(&c, 0, sys), 0);
    CHECK(c.agent_enabled);
    CHECK_EQ_INT(c.cpu_frequency_hz, 21);
    CHECK_EQ_INT(c.cpu_max_stack_depth, 200);
    CHECK_EQ_STR(c.output_dir, "/tmp/env");
}

/* The profiles signal's own OTEL_EXPORTER_OTLP_PROFILES_* variables win
 * over the generic ones; otprof's keys over both; the shipped otprof.ini,
 * copied unchanged, overrides none of them; OTEL_SDK_DISABLED. */
static void test_otel_signal(void)
{
    otp_config_t c;
    static const struct {
        const char *generic, *profiles, *gval, *pval;
    } pairs[] = {
        { "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT", "http://g:4318",
          "http://p:4318/custom/path" },
        { "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL", "http/protobuf",
          "grpc" },
        { "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_PROFILES_HEADERS", "g=1", "p=2" },
        { "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT", "2000", "3000" },
        { "OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION", "gzip",
          "none" },
        { "OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_PROFILES_CERTIFICATE", "/g/ca",
          "/p/ca" },
        { "OTEL_EXPORTER_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_PROFILES_CLIENT_KEY", "/g/key",
          "/p/key" },
        { "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_PROFILES_CLIENT_CERTIFICATE",
          "/g/crt", "/p/crt" },
    };
    char shipped[PATH_MAX + 32];
    snprintf(shipped, sizeof shipped, "%s", otp_exe_path());
    char *slash = strrchr(shipped, '/');
    if (slash)
        snprintf(slash, sizeof shipped - (size_t)(slash - shipped), "/../../otprof.ini");

    /* Generic only, then both: with no file and with the shipped file. */
    for (int with_file = 0; with_file < 2; with_file++) {
        clear_env();
        setenv("OTPROF_CONFIG", with_file ? shipped : "/dev/null", 1);
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
            setenv(pairs[i].generic, pairs[i].gval, 1);
        CHECK_EQ_INT(load(&c), 0);
        CHECK_EQ_STR(err, "");
        CHECK_EQ_STR(c.endpoint, "http://g:4318");
        CHECK(!c.endpoint_verbatim);
        CHECK_EQ_INT(c.export_protocol, OTP_PROTOCOL_HTTP);
        CHECK_EQ_STR(c.headers, "g=1");
        CHECK_EQ_INT(c.export_timeout_ms, 2000);
        CHECK(c.compression_gzip);
        CHECK_EQ_STR(c.certificate, "/g/ca");
        CHECK_EQ_STR(c.client_key, "/g/key");
        CHECK_EQ_STR(c.client_certificate, "/g/crt");
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
            setenv(pairs[i].profiles, pairs[i].pval, 1);
        CHECK_EQ_INT(load(&c), 0);
        CHECK_EQ_STR(err, "");
        CHECK_EQ_STR(c.endpoint, "http://p:4318/custom/path");
        CHECK(c.endpoint_verbatim);
        CHECK_EQ_INT(c.export_protocol, OTP_PROTOCOL_GRPC);
        CHECK_EQ_STR(c.headers, "p=2");
        CHECK_EQ_INT(c.export_timeout_ms, 3000);
        CHECK(!c.compression_gzip);
        CHECK_EQ_STR(c.certificate, "/p/ca");
        CHECK_EQ_STR(c.client_key, "/p/key");
        CHECK_EQ_STR(c.client_certificate, "/p/crt");
        /* otprof config tells where each came from */
        otp_config_item_t it;
        bool seen = false;
        for (size_t i = 0; otp_config_item(&c, i, &it); i++) {
            if (strcmp(it.key, "endpoint") == 0) {
                seen = true;
                CHECK_EQ_INT(it.source, OTP_CONFIG_OTEL_ENV);
                CHECK_EQ_STR(it.origin, "OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT");
            }
            if (strcmp(it.key, "client_key") == 0)
                CHECK_EQ_STR(it.origin, "OTEL_EXPORTER_OTLP_PROFILES_CLIENT_KEY");
        }
        CHECK(seen);
    }

    /* otprof's own key wins over both; its endpoint is a base URL. */
    setenv("OTPROF_CONFIG", "/dev/null", 1);
    setenv("OTPROF_EXPORT_ENDPOINT", "http://mine:4318", 1);
    setenv("OTPROF_EXPORT_TIMEOUT_MS", "4000", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK_EQ_STR(c.endpoint, "http://mine:4318");
    CHECK(!c.endpoint_verbatim);
    CHECK_EQ_INT(c.export_timeout_ms, 4000);

    /* An unsupported value: one line naming the variable and what is used
     * instead (the generic variable's value, or the default). */
    clear_env();
    setenv("OTPROF_CONFIG", "/dev/null", 1);
    setenv("OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL", "http/json", 1);
    CHECK_EQ_INT(load(&c), 1);
    CHECK_EQ_STR(err, "otprof: OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL: \"http/json\" is not one of "
                      "http/protobuf|grpc; using http/protobuf\n");
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "none", 1);
    setenv("OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION", "zstd", 1);
    CHECK_EQ_INT(load(&c), 2);
    CHECK(strstr(err, "otprof: OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION: \"zstd\" is not one of "
                      "gzip|none; using none\n") != NULL);
    CHECK(!c.compression_gzip);

    /* OTEL_SDK_DISABLED: "true" in any case turns the agent off, "false"
     * and empty say nothing, anything else is said and reads as false;
     * agent.enabled of otprof's own layers wins. */
    clear_env();
    setenv("OTPROF_CONFIG", shipped, 1);
    setenv("OTEL_SDK_DISABLED", " TRUE", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK(!c.agent_enabled);
    otp_config_item_t it;
    CHECK(otp_config_item(&c, 0, &it) && strcmp(it.key, "enabled") == 0);
    CHECK_EQ_STR(it.origin, "OTEL_SDK_DISABLED");
    CHECK_EQ_STR(it.value, "false");
    setenv("OTEL_SDK_DISABLED", "false", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK(c.agent_enabled);
    setenv("OTEL_SDK_DISABLED", "", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK(c.agent_enabled);
    setenv("OTEL_SDK_DISABLED", "1", 1);
    CHECK_EQ_INT(load(&c), 1);
    CHECK_EQ_STR(err, "otprof: OTEL_SDK_DISABLED: \"1\" is not true or false; using false "
                      "(the agent runs)\n");
    CHECK(c.agent_enabled);
    setenv("OTEL_SDK_DISABLED", "true", 1);
    setenv("OTPROF_AGENT_ENABLED", "true", 1);
    CHECK_EQ_INT(load(&c), 0);
    CHECK(c.agent_enabled);
    clear_env();
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/otprof-test-config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    /* The counter itself works (volatile: the pair may not be elided). */
#ifdef COUNT_MALLOC
    counting = 1;
    void *volatile probe = malloc(16);
    counting = 0;
    free(probe);
    CHECK_EQ_INT(allocs, 1);
    allocs = 0;
#endif

    test_defaults();
    test_shipped_ini();
    test_good_file();
    test_env();
    test_bad_values();
    test_unknown_and_syntax();
    test_long_lines();
    test_files();
    test_otel();
    test_otel_signal();
    test_mb_and_mode();
    test_redaction();
    test_system_and_secure();
    CHECK_EQ_INT(allocs, 0); /* no load above called malloc */

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("      could not remove %s\n", dir);
    return check_done();
}
