/*
 * OTLP/HTTP transport over a lazily dlopen'd libcurl.
 *
 * Why this shape:
 *  - libcurl is not linked: the agent must load into apps that never
 *    export, and apps that ship their own libcurl must not see ours early.
 *    It is dlopen'd (RTLD_LOCAL) the first time a request is due, on the
 *    flusher thread. When the app has not loaded libcurl itself, curl's
 *    memory is routed to the agent's private allocator through
 *    curl_global_init_mem; when it has, curl's global state is the app's
 *    and we only take a reference (curl_global_init).
 *  - The multi interface lets otp_http_tick() move a transfer on in small
 *    steps, so a slow or hung backend never stalls the flusher for long
 *    and never touches an app thread. CURLOPT_NOSIGNAL keeps curl away
 *    from SIGALRM/SIGPIPE handling, which belongs to the app.
 *  - One transfer at a time, oldest request first; a request that fails
 *    with 429/502/503/504 or a dropped connection stays at the head and is
 *    retried after Retry-After or an exponential backoff with jitter.
 *    Other answers drop it (logged once per status). The queue is bounded
 *    by export.max_queue_bytes; beyond it the oldest waiting requests go.
 *  - Header values (auth tokens) are never logged; the endpoint is logged
 *    without userinfo.
 *  - OpenSSL must outlive the final export at exit (see
 *    keep_openssl_until_we_are_done).
 *  - OTLP/gRPC is the same transfer over HTTP/2 with a framed body and
 *    the outcome in grpc-status (grpc.c); queue, backoff, exit bound and
 *    messages are shared, UNAVAILABLE & co. standing in for 503.
 *
 * Flusher thread only; no locks. A fork child forgets everything (its
 * sockets are the parent's) and starts over lazily.
 */
#include "http.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "config.h"
#include "fds.h"
#include "grpc.h"
#include "internal.h"
#include "loader.h"
#include "log.h"
#include "mem.h"
#include "pprof.h"
#include "rng.h"
#include "sys.h"

#include "otlp.h"
#include "otlp_profiles_service.pb-c.h"

#define OTP_HTTP_PATH "/v1development/profiles"
#define OTP_HTTP_MAX_ATTEMPTS 8          /* per request, then dropped */
#define OTP_HTTP_OUTAGE_AFTER 3          /* consecutive failures before we say so */
#define OTP_HTTP_MAX_RESPONSE (4u << 20) /* spec: parse at most 4 MiB */
#define OTP_HTTP_MAX_REQUEST (64u << 20) /* spec: requests up to 64 MiB */
#define OTP_HTTP_MAX_RETRY_AFTER_MS (300 * 1000)
#define OTP_HTTP_TICK_WAIT_NS (10 * 1000 * 1000)

/* The libcurl entry points we use, resolved with dlsym. */
static struct {
    void *lib;
    CURLcode (*global_init)(long);
    CURLcode (*global_init_mem)(long, curl_malloc_callback, curl_free_callback,
                                curl_realloc_callback, curl_strdup_callback,
                                curl_calloc_callback);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned int, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    curl_version_info_data *(*version_info)(CURLversion);
} C;

typedef struct req {
    struct req *next;
    uint8_t *body;
    size_t len;
    int attempts;
} req_t;

static struct {
    bool on;
    bool load_failed;
    bool shutting_down;
    bool grpc; /* export.protocol = grpc: HTTP/2, framed, status in trailers */
    unsigned curl_version_num; /* 0xXXYYZZ, known when grpc */
    char url[OTP_CFG_STR + 32];
    char url_log[OTP_CFG_STR + 32]; /* url without userinfo and query */

    req_t *head, *tail; /* head is the one in flight, if any */
    size_t nqueued, qbytes;
    bool inflight;

    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdrs;
    char errbuf[CURL_ERROR_SIZE];

    uint8_t *resp;
    size_t resp_len, resp_cap;
    int64_t retry_after_ms; /* of the current response, -1 if none */
    otp_grpc_result_t g;    /* gRPC: the current response's status */

    int64_t next_try_ns;
    bool next_try_by_server; /* next_try_ns comes from a Retry-After */
    int failures; /* consecutive */
    bool outage;  /* we said "backing off" and not yet "recovered" */
    uint64_t rng;
    uint64_t dropped_at_outage;

    long logged_status[16];
    int nlogged_status;
    long logged_curl[16];
    int nlogged_curl;
    uint64_t last_partial_hash;

    otp_http_stats_t st;
} H;

static atomic_flag warn_load = ATOMIC_FLAG_INIT, warn_queue = ATOMIC_FLAG_INIT,
                   warn_big = ATOMIC_FLAG_INIT, warn_gzip = ATOMIC_FLAG_INIT,
                   warn_hdr = ATOMIC_FLAG_INIT, warn_gaveup = ATOMIC_FLAG_INIT,
                   warn_h2 = ATOMIC_FLAG_INIT, warn_url = ATOMIC_FLAG_INIT;

/* ------------------------------------------------------------- helpers */

int64_t otp_http_backoff_ms(int failures, uint64_t *rng)
{
    if (failures < 1) failures = 1;
    int64_t d = 250;
    for (int i = 1; i < failures && d < 30000; i++) d *= 2;
    if (d > 30000) d = 30000;
    return d / 2 + (int64_t)(otp_rng_next(rng) % (uint64_t)(d / 2 + 1));
}

bool otp_http_status_retryable(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

static bool curl_code_retryable(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* HTTP-date in any of the three forms RFC 9110 makes recipients accept:
 * "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
 * "Sun Nov  6 08:49:37 1994". Locale-independent. -1 if unparsable. */
static int64_t parse_http_date(const char *s)
{
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    int day = -1, mon = -1, hh = -1, mm = -1, ss = -1;
    int64_t year = -1;
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '-' || *s == '\t') s++;
        const char *t = s;
        while (*s && *s != ' ' && *s != ',' && *s != '-' && *s != '\t') s++;
        size_t n = (size_t)(s - t);
        if (n == 0) break;
        if (memchr(t, ':', n)) {
            if (sscanf(t, "%2d:%2d:%2d", &hh, &mm, &ss) != 3) return -1;
        } else if (t[0] >= '0' && t[0] <= '9') {
            long v = 0;
            for (size_t i = 0; i < n; i++) {
                if (t[i] < '0' || t[i] > '9') return -1;
                v = v * 10 + (t[i] - '0');
                if (v > 100000) return -1;
            }
            if (day < 0 && n <= 2) day = (int)v;
            else if (year < 0) year = n <= 2 ? (v < 70 ? 2000 + v : 1900 + v) : v;
            else return -1;
        } else if (n == 3 && mon < 0) {
            /* weekday abbreviations never spell a month */
            for (int i = 0; i < 12; i++)
                if (strncasecmp(t, months + 3 * i, 3) == 0) mon = i + 1;
        }
        /* weekday names and "GMT" are ignored */
    }
    if (day < 1 || day > 31 || mon < 1 || year < 1970 || hh < 0 || hh > 23 || mm < 0 ||
        mm > 59 || ss < 0 || ss > 60)
        return -1;
    return days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss;
}

int64_t otp_http_retry_after_ms(const char *value, time_t now)
{
    while (*value == ' ' || *value == '\t') value++;
    if (*value >= '0' && *value <= '9') {
        int64_t v = 0;
        const char *p = value;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p - '0');
            if (v > 1000000000) return -1;
            p++;
        }
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (*p) return -1;
        return v * 1000;
    }
    int64_t t = parse_http_date(value);
    if (t < 0) return -1;
    return t > (int64_t)now ? (t - (int64_t)now) * 1000 : 0;
}

/* Copies s into out with control characters replaced, at most cap-1. */
static void sanitize(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[o] = '\0';
}

static bool pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* The message of an error body: google.rpc.Status.message (field 2) when
 * it is protobuf, else the body itself when it looks like text. */
static void error_message(const uint8_t *b, size_t n, char *out, size_t cap)
{
    out[0] = '\0';
    const uint8_t *p = b, *end = b + n;
    while (p < end) {
        uint64_t tag, v;
        if (!pb_varint(&p, end, &tag)) break;
        int wt = (int)(tag & 7);
        if (wt == 0) {
            if (!pb_varint(&p, end, &v)) break;
        } else if (wt == 2) {
            if (!pb_varint(&p, end, &v) || v > (uint64_t)(end - p)) break;
            if (tag >> 3 == 2) {
                sanitize((const char *)p, (size_t)v, out, cap);
                return;
            }
            p += v;
        } else if (wt == 1 && end - p >= 8) {
            p += 8;
        } else if (wt == 5 && end - p >= 4) {
            p += 4;
        } else {
            break;
        }
    }
    size_t printable = 0;
    for (size_t i = 0; i < n && i < 200; i++)
        if (b[i] >= 0x20 || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') printable++;
    if (n && printable == (n < 200 ? n : 200)) sanitize((const char *)b, n, out, cap);
}

/* ------------------------------------------------------------ config */

void otp_http_init(void)
{
    memset(&H, 0, sizeof H);
    H.retry_after_ms = -1;
    H.rng = (uint64_t)otp_mono_ns() ^ ((uint64_t)getpid() << 40);
    otp_grpc_result_reset(&H.g);
    if (!otp_cfg.endpoint[0]) return;
    H.grpc = otp_cfg.export_protocol == OTP_PROTOCOL_GRPC;
    if (H.grpc) {
        if (otp_grpc_url(otp_cfg.endpoint, H.url, sizeof H.url) != 0) {
            otp_log_once(&warn_url, OTP_LOG_WARN,
                         "export.endpoint is not a usable gRPC target (scheme://host[:port]); "
                         "OTLP export off");
            return;
        }
    } else if (otp_cfg.endpoint_verbatim) {
        /* A signal-specific endpoint is the whole URL (exporter spec). */
        snprintf(H.url, sizeof H.url, "%s", otp_cfg.endpoint);
    } else {
        size_t n = strlen(otp_cfg.endpoint);
        while (n && otp_cfg.endpoint[n - 1] == '/') n--;
        snprintf(H.url, sizeof H.url, "%.*s%s", (int)n, otp_cfg.endpoint, OTP_HTTP_PATH);
    }
    /* for logs: scheme://host[:port]/path, no user:password@, no ?query */
    const char *u = H.url, *host = strstr(u, "://");
    host = host ? host + 3 : u;
    const char *slash = strchr(host, '/');
    const char *at = strchr(host, '@');
    if (at && (!slash || at < slash)) host = at + 1;
    size_t scheme = strstr(u, "://") ? (size_t)(strstr(u, "://") - u) + 3 : 0;
    size_t hl = strlen(host);
    if (scheme + hl >= sizeof H.url_log) hl = sizeof H.url_log - 1 - scheme;
    memcpy(H.url_log, u, scheme);
    memcpy(H.url_log + scheme, host, hl);
    H.url_log[scheme + hl] = '\0';
    char *q = strchr(H.url_log, '?');
    if (q) *q = '\0';
    H.on = true;
}

bool otp_http_enabled(void)
{
    return H.on;
}

void otp_http_stats(otp_http_stats_t *st)
{
    *st = H.st;
    st->queued = H.nqueued;
    st->queued_bytes = H.qbytes;
}

/* ------------------------------------------------------------- loading */

#define LOAD(field, name)                                       \
    do {                                                        \
        *(void **)(&C.field) = dlsym(C.lib, name);              \
        if (!C.field) {                                         \
            missing = name;                                     \
            goto fail;                                          \
        }                                                       \
    } while (0)

/* OpenSSL's OPENSSL_INIT_NO_ATEXIT (openssl/crypto.h). */
#define OTP_OPENSSL_INIT_NO_ATEXIT 0x00080000UL

static void (*exit_hook)(void) OTP_STARTUP_DATA;

void otp_http_set_exit_hook(void (*fn)(void))
{
    exit_hook = fn;
}

static void exit_before_openssl_cleanup(void)
{
    if (exit_hook)
        exit_hook();
}

/* OpenSSL (libcurl's TLS) tears itself down in an atexit handler, which
 * runs before the agent's destructor and so before the final export;
 * a transfer after that crashes in libcrypto. When we are first to load
 * OpenSSL we ask it not to register that handler. When the app loaded it
 * before us, its handler may be registered already: then ours, registered
 * later and so run earlier, finishes the agent (final export included)
 * before OpenSSL goes away. Called right after libcurl was loaded and
 * before curl initialises OpenSSL. */
static void keep_openssl_until_we_are_done(bool crypto_was_loaded)
{
    static const char *const names[] = {"libcrypto.so.3", "libcrypto.so.1.1"};
    void *crypto = NULL;
    for (size_t i = 0; i < OTP_ARRAY_LEN(names) && !crypto; i++)
        crypto = dlopen(names[i], RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (!crypto) return; /* libcurl without OpenSSL */
    int (*init)(uint64_t, const void *);
    *(void **)(&init) = dlsym(crypto, "OPENSSL_init_crypto");
    if (init) init(OTP_OPENSSL_INIT_NO_ATEXIT, NULL);
    if (crypto_was_loaded) atexit(exit_before_openssl_cleanup);
    dlclose(crypto); /* drops the NOLOAD reference only */
}

static bool crypto_loaded(void)
{
    void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (!h) h = dlopen("libcrypto.so.1.1", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (h) dlclose(h);
    return h != NULL;
}

static int load_curl_now(void);

static int load_curl(void)
{
    if (C.lib) return 0;
    if (H.load_failed) return -1;
    /* (loader.h) Refused for good in a fork child whose loader may be
     * locked: export fails, and the child's profiles with it, said once. */
    if (!otp_loader_enter(1000)) {
        if (otp_loader_unsafe())
            otp_log_once(&warn_load, OTP_LOG_WARN,
                         "OTLP export off in this process: a fork child of a process with other threads, "
                         "where loading libcurl could hang or crash it");
        return -1;
    }
    int rc = load_curl_now();
    otp_loader_leave();
    return rc;
}

static int load_curl_now(void)
{
    const char *missing = NULL;
    bool crypto_was_loaded = crypto_loaded();
    void *already = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    C.lib = already ? already : dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!C.lib) {
        const char *err = dlerror();
        otp_log_once(&warn_load, OTP_LOG_WARN, "OTLP export off: cannot load libcurl.so.4 (%s)",
                     err ? err : "?");
        H.load_failed = true;
        return -1;
    }
    LOAD(global_init, "curl_global_init");
    LOAD(global_init_mem, "curl_global_init_mem");
    LOAD(easy_init, "curl_easy_init");
    LOAD(easy_setopt, "curl_easy_setopt");
    LOAD(easy_getinfo, "curl_easy_getinfo");
    LOAD(easy_cleanup, "curl_easy_cleanup");
    LOAD(easy_strerror, "curl_easy_strerror");
    LOAD(multi_init, "curl_multi_init");
    LOAD(multi_add_handle, "curl_multi_add_handle");
    LOAD(multi_remove_handle, "curl_multi_remove_handle");
    LOAD(multi_perform, "curl_multi_perform");
    LOAD(multi_poll, "curl_multi_poll");
    LOAD(multi_info_read, "curl_multi_info_read");
    LOAD(multi_cleanup, "curl_multi_cleanup");
    LOAD(slist_append, "curl_slist_append");
    LOAD(slist_free_all, "curl_slist_free_all");
    LOAD(version_info, "curl_version_info");
    if (H.grpc) {
        /* Debian's libcurl4 has HTTP/2 (nghttp2); a build without it
         * cannot speak gRPC at all. */
        const curl_version_info_data *vi = C.version_info(CURLVERSION_NOW);
        H.curl_version_num = vi ? vi->version_num : 0;
        if (!vi || !(vi->features & CURL_VERSION_HTTP2)) {
            otp_log_once(&warn_h2, OTP_LOG_WARN,
                         "OTLP/gRPC export off: this libcurl (%s) has no HTTP/2; "
                         "use export.protocol = http/protobuf",
                         vi && vi->version ? vi->version : "?");
            memset(&C, 0, sizeof C);
            H.load_failed = true;
            return -1;
        }
    }
    if (!already) keep_openssl_until_we_are_done(crypto_was_loaded);
    else atexit(exit_before_openssl_cleanup);
    /* An app that uses libcurl owns its global state (and memory
     * functions); we then only add a reference. */
    CURLcode rc = already ? C.global_init(CURL_GLOBAL_DEFAULT)
                          : C.global_init_mem(CURL_GLOBAL_DEFAULT, otp_malloc, otp_free,
                                              otp_realloc, otp_strdup, otp_calloc);
    if (rc != CURLE_OK) {
        missing = "curl_global_init";
        goto fail;
    }
    return 0;
fail:
    otp_log_once(&warn_load, OTP_LOG_WARN, "OTLP export off: libcurl.so.4 unusable (%s)",
                 missing ? missing : "?");
    /* Not dlclose'd: curl may have registered handlers we cannot undo. */
    memset(&C, 0, sizeof C);
    H.load_failed = true;
    return -1;
}

/* ------------------------------------------------------------ transfer */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)ud;
    size_t n = size * nmemb;
    if (H.resp_len + n > OTP_HTTP_MAX_RESPONSE) return n; /* read and ignore the rest */
    if (H.resp_len + n > H.resp_cap) {
        size_t cap = H.resp_cap ? H.resp_cap : 4096;
        while (cap < H.resp_len + n) cap *= 2;
        uint8_t *nb = otp_realloc(H.resp, cap);
        if (!nb) return n;
        H.resp = nb;
        H.resp_cap = cap;
    }
    memcpy(H.resp + H.resp_len, p, n);
    H.resp_len += n;
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)ud;
    size_t n = size * nmemb;
    /* gRPC: libcurl hands trailers to this callback too, after the body */
    if (H.grpc && n > 5 && strncasecmp(p, "grpc-", 5) == 0) otp_grpc_header_line(&H.g, p, n);
    if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[128];
        size_t vl = n - 12 < sizeof v - 1 ? n - 12 : sizeof v - 1;
        memcpy(v, p + 12, vl);
        v[vl] = '\0';
        char *cr = strpbrk(v, "\r\n");
        if (cr) *cr = '\0';
        H.retry_after_ms = otp_http_retry_after_ms(v, time(NULL));
    } else if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (e.g. after 100 Continue): forget the last one */
        H.retry_after_ms = -1;
        H.resp_len = 0;
        otp_grpc_result_reset(&H.g);
    }
    return n;
}

static bool header_name_ok(const char *k)
{
    static const char *const reserved[] = {"content-type", "content-encoding", "content-length",
                                           "expect", "host", "transfer-encoding"};
    if (!*k) return false;
    for (const char *c = k; *c; c++)
        if (*c <= ' ' || *c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *c)) return false;
    for (size_t i = 0; i < OTP_ARRAY_LEN(reserved); i++)
        if (strcasecmp(k, reserved[i]) == 0) return false;
    /* gRPC's own headers are ours to set */
    if (H.grpc && (strcasecmp(k, "te") == 0 || strncasecmp(k, "grpc-", 5) == 0)) return false;
    return true;
}

static long cfg_timeout_ms(void)
{
    return otp_cfg.export_timeout_ms > 0 ? otp_cfg.export_timeout_ms : 10000;
}

static int build_headers(void)
{
    struct curl_slist *l = NULL, *t;
#define ADD(s)                                    \
    do {                                          \
        if (!(t = C.slist_append(l, (s)))) goto oom; \
        l = t;                                    \
    } while (0)
    if (H.grpc) {
        ADD("Content-Type: application/grpc");
        /* gRPC servers refuse requests without it (proxies must not
         * drop the trailers the status comes in) */
        ADD("TE: trailers");
        /* per message (the frame's flag), not Content-Encoding */
        if (otp_cfg.compression_gzip) ADD("grpc-encoding: gzip");
        /* the server may give up when we do (export.timeout_ms; gRPC
         * allows 8 digits, the setting has at most 6) */
        char deadline[48];
        snprintf(deadline, sizeof deadline, "grpc-timeout: %ldm", cfg_timeout_ms());
        ADD(deadline);
    } else {
        ADD("Content-Type: application/x-protobuf");
        if (otp_cfg.compression_gzip) ADD("Content-Encoding: gzip");
    }
    ADD("Expect:"); /* no 100-continue round trip */
    const char *cur = otp_cfg.headers;
    char k[256], v[1536], line[1800];
    int rc, i = 0;
    while ((rc = otp_kv_next(&cur, k, sizeof k, v, sizeof v)) != 0) {
        i++;
        if (rc < 0 || !header_name_ok(k) || strpbrk(v, "\r\n")) {
            /* the entry's value may be a secret: name its position only */
            otp_log_once(&warn_hdr, OTP_LOG_WARN,
                         "export.headers: entry %d is not a usable key=value header; skipped", i);
            continue;
        }
        snprintf(line, sizeof line, "%s: %s", k, v);
        ADD(line);
    }
    explicit_bzero(v, sizeof v);
    explicit_bzero(line, sizeof line);
#undef ADD
    H.hdrs = l;
    return 0;
oom:
    if (l) C.slist_free_all(l);
    return -ENOMEM;
}

/* curl's connections, like every descriptor of the agent's, stay off
 * 0-2 (otp_fd_high): an app that closed stdout would otherwise write its
 * lines into the HTTP stream. */
static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)ctx;
    (void)purpose;
    int fd = otp_socket(a->family, a->socktype, a->protocol);
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static int setup_handles(void)
{
    if (H.easy) return 0;
    if (!H.hdrs && build_headers() != 0) return -ENOMEM;
    if (!H.multi) H.multi = C.multi_init();
    CURL *e = C.easy_init();
    if (!H.multi || !e) {
        if (e) C.easy_cleanup(e);
        return -ENOMEM;
    }
    long timeout = cfg_timeout_ms();
    C.easy_setopt(e, CURLOPT_URL, H.url);
    C.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    C.easy_setopt(e, CURLOPT_POST, 1L);
    C.easy_setopt(e, CURLOPT_HTTPHEADER, H.hdrs);
    C.easy_setopt(e, CURLOPT_USERAGENT, "otprof/" OTP_VERSION);
    C.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    C.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    C.easy_setopt(e, CURLOPT_ERRORBUFFER, H.errbuf);
    C.easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    C.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    C.easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    C.easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    C.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* Verification is curl's default; set it anyway so nothing in the
     * environment can turn it off. */
    C.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    C.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (H.grpc) {
        /* h2c needs prior knowledge (gRPC servers do not do Upgrade);
         * over TLS, ALPN picks h2 */
        bool tls = strncasecmp(H.url, "https:", 6) == 0;
        C.easy_setopt(e, CURLOPT_HTTP_VERSION, tls ? (long)CURL_HTTP_VERSION_2TLS
                                                   : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
        /* libcurl before 8.0 fails every request after the first on a
         * reused prior-knowledge connection ("Error in the HTTP2 framing
         * layer", curl issue 10634): one connection per request there,
         * which at one request per export interval costs little. */
        if (!tls && H.curl_version_num < 0x080000) C.easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    /* export.certificate and the mTLS pair (OTEL_EXPORTER_OTLP_*CERTIFICATE,
     * *_CLIENT_KEY): a file curl cannot use fails the transfer with curl's
     * own message naming it (not retried, said once). */
    if (otp_cfg.certificate[0]) C.easy_setopt(e, CURLOPT_CAINFO, otp_cfg.certificate);
    if (otp_cfg.client_certificate[0]) C.easy_setopt(e, CURLOPT_SSLCERT, otp_cfg.client_certificate);
    if (otp_cfg.client_key[0]) C.easy_setopt(e, CURLOPT_SSLKEY, otp_cfg.client_key);
    H.easy = e;
    return 0;
}

static void free_req(req_t *r)
{
    otp_free(r->body);
    otp_free(r);
}

/* Unlinks and frees the head request. */
static void pop_head(void)
{
    req_t *r = H.head;
    if (!r) return;
    H.head = r->next;
    if (!H.head) H.tail = NULL;
    H.nqueued--;
    H.qbytes -= r->len;
    free_req(r);
}

/* Starts sending the head request; the transfer must end within
 * timeout_ms. */
static bool start_transfer(int64_t now, long timeout_ms)
{
    if (load_curl() != 0) {
        /* no libcurl: nothing will ever be sent */
        while (H.head) pop_head();
        H.on = false;
        return false;
    }
    if (setup_handles() != 0) {
        H.next_try_ns = now + otp_http_backoff_ms(++H.failures, &H.rng) * 1000000;
        H.next_try_by_server = false;
        return false;
    }
    req_t *r = H.head;
    C.easy_setopt(H.easy, CURLOPT_POSTFIELDS, r->body);
    C.easy_setopt(H.easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
    C.easy_setopt(H.easy, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    H.resp_len = 0;
    H.retry_after_ms = -1;
    otp_grpc_result_reset(&H.g);
    H.errbuf[0] = '\0';
    if (C.multi_add_handle(H.multi, H.easy) != CURLM_OK) {
        H.next_try_ns = now + otp_http_backoff_ms(++H.failures, &H.rng) * 1000000;
        H.next_try_by_server = false;
        return false;
    }
    r->attempts++;
    H.inflight = true;
    return true;
}

static bool logged_before(long *list, int *n, long v)
{
    for (int i = 0; i < *n; i++)
        if (list[i] == v) return true;
    if (*n < 16) list[(*n)++] = v;
    return false;
}

/* rmsg: the ExportProfilesServiceResponse (may be empty). */
static void on_success(const uint8_t *rmsg, size_t msg_len)
{
    H.st.sent++;
    if (H.outage)
        otp_log(OTP_LOG_WARN, "OTLP export to %s recovered; %llu requests were dropped meanwhile",
                H.url_log,
                (unsigned long long)(H.st.dropped_queue + H.st.dropped_gave_up -
                                     H.dropped_at_outage));
    H.outage = false;
    H.failures = 0;
    H.next_try_ns = 0;
    H.next_try_by_server = false;
    if (msg_len == 0) return;
    ProtobufCAllocator a = {otp_pb_alloc, otp_pb_free, NULL};
    Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceResponse *resp =
        opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__unpack(
            &a, msg_len, rmsg);
    if (!resp) return;
    const Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesPartialSuccess *ps =
        resp->partial_success;
    if (ps && (ps->rejected_profiles > 0 || (ps->error_message && ps->error_message[0]))) {
        char msg[256];
        const char *m = ps->error_message ? ps->error_message : "";
        sanitize(m, strlen(m), msg, sizeof msg);
        H.st.rejected_profiles += ps->rejected_profiles > 0 ? (uint64_t)ps->rejected_profiles : 0;
        /* the same complaint every interval is said once */
        uint64_t hsh = 1469598103934665603ULL ^ (uint64_t)ps->rejected_profiles;
        for (const char *c = msg; *c; c++) hsh = (hsh ^ (unsigned char)*c) * 1099511628211ULL;
        if (hsh != H.last_partial_hash) {
            H.last_partial_hash = hsh;
            if (ps->rejected_profiles > 0)
                otp_log(OTP_LOG_WARN, "OTLP backend %s rejected %lld profiles of a request: %s",
                        H.url_log, (long long)ps->rejected_profiles, msg[0] ? msg : "(no message)");
            else
                otp_log(OTP_LOG_WARN, "OTLP backend %s accepted a request with a warning: %s",
                        H.url_log, msg);
        }
    }
    opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__free_unpacked(
        resp, &a);
}

/* A retryable failure of the head request. */
static void on_retryable(int64_t now, const char *why)
{
    H.st.attempts_failed++;
    H.failures++;
    int64_t delay_ms = H.retry_after_ms >= 0 ? H.retry_after_ms
                                              : otp_http_backoff_ms(H.failures, &H.rng);
    if (delay_ms > OTP_HTTP_MAX_RETRY_AFTER_MS) delay_ms = OTP_HTTP_MAX_RETRY_AFTER_MS;
    H.next_try_ns = now + delay_ms * 1000000;
    H.next_try_by_server = H.retry_after_ms >= 0;
    OTP_DEBUG("OTLP export to %s failed (%s); retry in %lld ms", H.url_log, why,
              (long long)delay_ms);
    if (H.failures >= OTP_HTTP_OUTAGE_AFTER && !H.outage) {
        H.outage = true;
        H.dropped_at_outage = H.st.dropped_queue + H.st.dropped_gave_up;
        otp_log(OTP_LOG_WARN,
                "OTLP export to %s keeps failing (%s); backing off (retries up to every 30 s, "
                "queue up to %lld bytes, oldest dropped beyond)",
                H.url_log, why, (long long)otp_cfg.max_queue_bytes);
    }
    if (H.head && H.head->attempts >= OTP_HTTP_MAX_ATTEMPTS) {
        otp_log_once(&warn_gaveup, OTP_LOG_WARN,
                     "OTLP export: dropping requests still failing after %d attempts",
                     OTP_HTTP_MAX_ATTEMPTS);
        H.st.dropped_gave_up++;
        pop_head();
    }
}

/* A gRPC call that got an HTTP 200: the outcome is grpc-status. */
static void finish_grpc(int64_t now)
{
    int st = H.g.status;
    if (st == OTP_GRPC_OK) {
        const uint8_t *msg = NULL;
        size_t len = 0;
        bool compressed = false;
        /* we offer no grpc-accept-encoding, so a compressed answer is a
         * server's mistake: accepted, its partial_success unread */
        if (otp_grpc_unframe(H.resp, H.resp_len, &msg, &len, &compressed) != 0 || compressed)
            len = 0;
        pop_head();
        on_success(msg, len);
        return;
    }
    char why[sizeof H.g.message + 64];
    if (st < 0) {
        /* a stream that ends without a status is an error (gRPC's HTTP/2
         * mapping); curl reports a cut stream itself, so this is a
         * server or proxy that is not speaking gRPC */
        st = OTP_GRPC_INTERNAL;
        snprintf(H.g.message, sizeof H.g.message, "no grpc-status in the answer");
    }
    snprintf(why, sizeof why, "gRPC %s (%d)%s%s", otp_grpc_status_name(st), st,
             H.g.message[0] ? ": " : "", H.g.message);
    if (otp_grpc_status_retryable(st) && !H.g.pushback_stop) {
        /* grpc-retry-pushback-ms plays Retry-After's part */
        H.retry_after_ms = H.g.pushback_ms;
        on_retryable(now, why);
        return;
    }
    H.st.dropped_rejected++;
    H.failures = 0;
    /* said once per status (kept apart from HTTP statuses) */
    if (!logged_before(H.logged_status, &H.nlogged_status, 100000 + st))
        otp_log(OTP_LOG_WARN, "OTLP export to %s: %s; request dropped, not retried", H.url_log,
                why);
    pop_head();
}

static void finish_transfer(CURLcode cc, int64_t now)
{
    long status = 0;
    C.easy_getinfo(H.easy, CURLINFO_RESPONSE_CODE, &status);
    C.multi_remove_handle(H.multi, H.easy);
    H.inflight = false;
    char why[CURL_ERROR_SIZE + 32];
    if (H.grpc && cc == CURLE_OK && status == 200) {
        finish_grpc(now);
        return;
    }
    if (!H.grpc && cc == CURLE_OK && status >= 200 && status < 300) {
        pop_head();
        on_success(H.resp, H.resp_len);
        return;
    }
    if (cc == CURLE_OK && otp_http_status_retryable(status)) {
        snprintf(why, sizeof why, "HTTP %ld", status);
        on_retryable(now, why);
        return;
    }
    if (cc != CURLE_OK && curl_code_retryable(cc)) {
        snprintf(why, sizeof why, "%s", H.errbuf[0] ? H.errbuf : C.easy_strerror(cc));
        on_retryable(now, why);
        return;
    }
    /* Not retryable: drop the request, say so once per distinct reason. */
    H.st.dropped_rejected++;
    H.failures = 0;
    if (cc == CURLE_OK) {
        if (!logged_before(H.logged_status, &H.nlogged_status, status)) {
            char msg[256];
            error_message(H.resp, H.resp_len, msg, sizeof msg);
            otp_log(OTP_LOG_WARN, "OTLP export to %s: HTTP %ld%s%s; request dropped, not retried",
                    H.url_log, status, msg[0] ? ": " : "", msg);
        }
    } else {
        if (!logged_before(H.logged_curl, &H.nlogged_curl, (long)cc))
            otp_log(OTP_LOG_WARN, "OTLP export to %s failed: %s; request dropped, not retried",
                    H.url_log, H.errbuf[0] ? H.errbuf : C.easy_strerror(cc));
    }
    pop_head();
}

/* With nothing left to send, the connection and curl's multi handle
 * (which holds a socket pair of its own) go: between exports the app has
 * no descriptor of ours, which it could close, or take the number of and
 * then receive our next request in its own file. The next export
 * connects again (a TCP, or TLS, handshake per interval). */
static void release_if_idle(void)
{
    if (H.inflight || H.head) return;
    if (H.easy) C.easy_cleanup(H.easy);
    if (H.multi) C.multi_cleanup(H.multi);
    H.easy = NULL;
    H.multi = NULL;
}

/* Runs curl and handles a finished transfer; waits up to wait_ns for
 * socket activity while the transfer is still running. */
static void progress(int64_t wait_ns)
{
    int64_t start = otp_mono_ns();
    for (;;) {
        int running = 0;
        C.multi_perform(H.multi, &running);
        CURLMsg *m;
        int left;
        while ((m = C.multi_info_read(H.multi, &left)))
            if (m->msg == CURLMSG_DONE && m->easy_handle == H.easy && H.inflight)
                finish_transfer(m->data.result, otp_mono_ns());
        if (!H.inflight) {
            release_if_idle();
            return;
        }
        int64_t now = otp_mono_ns();
        int64_t left_ns = wait_ns - (now - start);
        if (left_ns <= 0) return;
        int ms = (int)((left_ns + 999999) / 1000000);
        C.multi_poll(H.multi, NULL, 0, ms, NULL);
    }
}

/* ---------------------------------------------------------------- API */

void otp_http_enqueue(uint8_t *body, size_t len)
{
    if (!H.on || H.shutting_down) {
        otp_free(body);
        return;
    }
    if (len > OTP_HTTP_MAX_REQUEST) {
        otp_log_once(&warn_big, OTP_LOG_WARN,
                     "OTLP export: dropping a %zu-byte request (over the 64 MiB limit)", len);
        H.st.dropped_rejected++;
        otp_free(body);
        return;
    }
    if (otp_cfg.compression_gzip) {
        uint8_t *gz = NULL;
        size_t gzlen = 0;
        int rc = otp_gzip(body, len, &gz, &gzlen);
        otp_free(body);
        if (rc != 0) {
            otp_log_once(&warn_gzip, OTP_LOG_WARN, "OTLP export: gzip failed (%s); request dropped",
                         otp_strerror(-rc));
            H.st.dropped_rejected++;
            return;
        }
        body = gz;
        len = gzlen;
    }
    if (H.grpc) {
        uint8_t *framed = NULL;
        size_t flen = 0;
        int rc = otp_grpc_frame(body, len, otp_cfg.compression_gzip, &framed, &flen);
        otp_free(body);
        if (rc != 0) {
            H.st.dropped_queue++;
            return;
        }
        body = framed;
        len = flen;
    }
    req_t *r = otp_calloc(1, sizeof *r);
    if (!r) {
        otp_free(body);
        H.st.dropped_queue++;
        return;
    }
    r->body = body;
    r->len = len;
    if (H.tail) H.tail->next = r;
    else H.head = r;
    H.tail = r;
    H.nqueued++;
    H.qbytes += len;
    /* Over the bound: drop the oldest waiting requests (never the one in
     * flight, never the newest). */
    while (H.qbytes > (size_t)(otp_cfg.max_queue_bytes > 0 ? otp_cfg.max_queue_bytes : 0)) {
        req_t **pp = &H.head;
        if (H.inflight) pp = &H.head->next;
        req_t *victim = *pp;
        if (!victim || victim == H.tail) break;
        *pp = victim->next;
        H.nqueued--;
        H.qbytes -= victim->len;
        free_req(victim);
        H.st.dropped_queue++;
        otp_log_once(&warn_queue, OTP_LOG_WARN,
                     "OTLP export queue over export.max_queue_bytes=%lld; dropping the oldest "
                     "requests (counted)",
                     (long long)otp_cfg.max_queue_bytes);
    }
}

void otp_http_tick(void)
{
    if (!H.on || (!H.head && !H.inflight)) return;
    /* curl's socket pairs (the multi handle's, the resolver's) off 0-2 */
    otp_std_hold();
    int64_t now = otp_mono_ns();
    if (!H.inflight && now >= H.next_try_ns) start_transfer(now, cfg_timeout_ms());
    if (H.inflight) progress(OTP_HTTP_TICK_WAIT_NS);
    otp_std_release();
}

static void abort_and_free_all(void)
{
    if (H.inflight) {
        C.multi_remove_handle(H.multi, H.easy);
        H.inflight = false;
    }
    while (H.head) pop_head();
}

void otp_http_shutdown(int64_t deadline_ns)
{
    if (!H.on) return;
    otp_std_hold();
    H.shutting_down = true;
    int64_t now = otp_mono_ns();
    /* One more try at exit even while backing off, unless the backend
     * itself asked us to wait (Retry-After): that is honoured, and if it
     * ends after the deadline nothing more is sent. */
    if (H.next_try_ns > now && !H.next_try_by_server) H.next_try_ns = now;
    while ((H.head || H.inflight) && H.on) {
        now = otp_mono_ns();
        if (now >= deadline_ns) break;
        if (!H.inflight) {
            if (now < H.next_try_ns) {
                if (H.next_try_ns >= deadline_ns) break;
                int64_t ns = H.next_try_ns - now;
                struct timespec ts = {ns / 1000000000, ns % 1000000000};
                nanosleep(&ts, NULL);
                continue;
            }
            /* a transfer started now must also end by the deadline */
            long ms = (long)((deadline_ns - now) / 1000000);
            if (!start_transfer(now, ms < cfg_timeout_ms() ? ms : cfg_timeout_ms())) continue;
        }
        int64_t wait = deadline_ns - otp_mono_ns();
        if (wait > 50 * 1000000) wait = 50 * 1000000;
        progress(wait > 0 ? wait : 0);
    }
    size_t left = H.nqueued, left_bytes = H.qbytes;
    if (H.on) abort_and_free_all();
    if (left) {
        H.st.dropped_exit += left;
        otp_log(OTP_LOG_WARN,
                "OTLP export: %zu requests (%zu bytes) not sent by the exit deadline "
                "(export.shutdown_timeout_ms=%d)",
                left, left_bytes, otp_cfg.shutdown_timeout_ms);
    }
    if (H.easy) C.easy_cleanup(H.easy);
    if (H.multi) C.multi_cleanup(H.multi);
    if (H.hdrs) C.slist_free_all(H.hdrs);
    H.easy = NULL;
    H.multi = NULL;
    H.hdrs = NULL;
    otp_free(H.resp);
    H.resp = NULL;
    H.resp_cap = H.resp_len = 0;
    H.on = false;
    otp_std_release();
}

void otp_http_atfork_child(void)
{
    /* The queue, handles and connection are the parent's: forget them
     * (leaked, never touched: the memory is a copy-on-write image and the
     * sockets must not be shut down from here). libcurl stays loaded. */
    bool on = H.on || H.shutting_down;
    H.head = H.tail = NULL;
    H.nqueued = 0;
    H.qbytes = 0;
    H.inflight = false;
    H.easy = NULL;
    H.multi = NULL;
    H.resp = NULL;
    H.resp_cap = H.resp_len = 0;
    H.failures = 0;
    H.outage = false;
    H.next_try_ns = 0;
    H.shutting_down = false;
    memset(&H.st, 0, sizeof H.st);
    H.rng ^= (uint64_t)getpid() << 20;
    H.on = on && !H.load_failed;
}
