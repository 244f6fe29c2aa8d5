/*
 * The OTLP Resource and InstrumentationScope of this process, built once
 * from OTEL_RESOURCE_ATTRIBUTES, the agent's settings and the detectors
 * (host, os, container, Kubernetes, process); the encoder points every
 * request at them. Flusher thread only.
 *
 * Precedence, highest first: otprof's service settings (and
 * OTEL_SERVICE_NAME), OTEL_RESOURCE_ATTRIBUTES, the resource the app (or
 * its OTel SDK) published in its process context (OTEP 4719, procctx.c),
 * then what the agent finds itself; neither the app's context nor a
 * detector replaces a value the user gave.
 */
#include "resource.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "container.h"
#include "detect.h"
#include "internal.h"
#include "kvlist.h"
#include "log.h"
#include "procctx.h"
#include "sys.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv_t;
#define ANY_STRING OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
#define ANY_INT OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE
#define ANY_ARRAY OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE

typedef struct res_attr {
    char key[128];
    char sval[OTP_CFG_STR];
    bool is_int;
    int64_t ival;
    bool user; /* OTEL_RESOURCE_ATTRIBUTES or an explicit setting */
} res_attr_t;

#define OTP_MAX_RES_ATTRS 48
/* process.command_args: at most this many arguments, this many bytes. */
#define OTP_MAX_ARGS 128
#define OTP_ARGS_BYTES 8192

static struct {
    bool ready;
    res_attr_t attrs[OTP_MAX_RES_ATTRS];
    size_t n;
    int pid_slot;
    /* protobuf-c views of attrs[] (point into the strings above) */
    pb_any_t vals[OTP_MAX_RES_ATTRS];
    pb_kv_t kvs[OTP_MAX_RES_ATTRS];
    pb_kv_t *kvp[OTP_MAX_RES_ATTRS];
    otp_pb_resource_t resource;
    otp_pb_scope_t scope;
    /* process.command_args (opt-in), an array value */
    char args[OTP_ARGS_BYTES];
    pb_any_t arg_vals[OTP_MAX_ARGS];
    pb_any_t *arg_valp[OTP_MAX_ARGS];
    Opentelemetry__Proto__Common__V1__ArrayValue arg_array;
    int args_slot;
    /* the app's process context merged in (its timestamp), 0 = none */
    uint64_t ctx_at;
    /* the agent's own context must be (re)published */
    bool publish_due;
    pid_t published_pid;
} R;


static res_attr_t *res_find(const char *key)
{
    for (size_t i = 0; i < R.n; i++)
        if (strcmp(R.attrs[i].key, key) == 0) return &R.attrs[i];
    return NULL;
}

static void res_set_str(const char *key, const char *val, bool override)
{
    if (!val || !val[0]) return;
    res_attr_t *a = res_find(key);
    if (a && !override) return;
    if (!a) {
        if (R.n == OTP_MAX_RES_ATTRS) return;
        a = &R.attrs[R.n++];
        snprintf(a->key, sizeof a->key, "%s", key);
    }
    a->is_int = false;
    snprintf(a->sval, sizeof a->sval, "%s", val);
}

static void res_set_int(const char *key, int64_t v)
{
    res_attr_t *a = res_find(key);
    if (!a) {
        if (R.n == OTP_MAX_RES_ATTRS) return;
        a = &R.attrs[R.n++];
        snprintf(a->key, sizeof a->key, "%s", key);
    }
    a->is_int = true;
    a->ival = v;
}

/* process.command_args: each argument a string of the array. */
static void detect_args(void)
{
    size_t len = 0;
    size_t n = otp_detect_cmdline(R.args, sizeof R.args, &len);
    if (n == 0 || res_find("process.command_args") || R.n == OTP_MAX_RES_ATTRS) return;
    if (n > OTP_MAX_ARGS) n = OTP_MAX_ARGS;
    opentelemetry__proto__common__v1__array_value__init(&R.arg_array);
    const char *a = R.args;
    for (size_t i = 0; i < n; i++) {
        opentelemetry__proto__common__v1__any_value__init(&R.arg_vals[i]);
        R.arg_vals[i].value_case = ANY_STRING;
        R.arg_vals[i].string_value = (char *)a;
        R.arg_valp[i] = &R.arg_vals[i];
        a += strlen(a) + 1;
    }
    R.arg_array.values = R.arg_valp;
    R.arg_array.n_values = n;
    res_attr_t *at = &R.attrs[R.n];
    snprintf(at->key, sizeof at->key, "%s", "process.command_args");
    R.args_slot = (int)R.n++;
}

static void mark_user(const char *key)
{
    res_attr_t *a = res_find(key);
    if (a) a->user = true;
}

/* The app's published resource: over what the agent derived itself (its
 * own service-name fallback included), under what the user set.
 * process.pid stays the agent's (a fork child updates it). */
static void merge_app_context(void)
{
    static atomic_flag said = ATOMIC_FLAG_INIT;
    uint64_t at = 0;
    otp_pb_procctx_t *c = otp_procctx_read(&at);
    if (!c) return;
    R.ctx_at = at;
    size_t n = c->resource ? c->resource->n_attributes : 0, merged = 0;
    for (size_t i = 0; i < n; i++) {
        const pb_kv_t *kv = c->resource->attributes[i];
        if (!kv->key || !kv->key[0] || !kv->value || strcmp(kv->key, "process.pid") == 0) continue;
        res_attr_t *a = res_find(kv->key);
        if (a && a->user) continue;
        char num[32];
        const pb_any_t *v = kv->value;
        switch (v->value_case) {
        case ANY_STRING:
            res_set_str(kv->key, v->string_value, true);
            break;
        case ANY_INT:
            res_set_int(kv->key, v->int_value);
            break;
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
            res_set_str(kv->key, v->bool_value ? "true" : "false", true);
            break;
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
            snprintf(num, sizeof num, "%.17g", v->double_value);
            res_set_str(kv->key, num, true);
            break;
        default:
            continue; /* arrays, maps, bytes: not carried over */
        }
        merged++;
    }
    otp_procctx_free(c);
    otp_log_once(&said, OTP_LOG_INFO, "merged %zu resource attributes from the process context "
                 "(OTEL_CTX) the app published", merged);
}

/* The detectors: never over what the user set. */
static void detect_all(void)
{
    char buf[OTP_CFG_STR];
    if (otp_detect_host_id(buf, sizeof buf)) res_set_str("host.id", buf, false);
    res_set_str("host.arch", otp_detect_host_arch(), false);
    res_set_str("os.type", otp_detect_os_type(), false);
    char cid[OTP_CONTAINER_ID_LEN + 1];
    if (otp_container_id(cid)) res_set_str("container.id", cid, false);
    otp_k8s_var_t k8s[3];
    size_t nk = otp_detect_k8s(k8s);
    for (size_t i = 0; i < nk; i++) res_set_str(k8s[i].attr, k8s[i].value, false);
    /* process.command: argv[0], the command name as run (semconv: the
     * zeroth string of /proc/<pid>/cmdline); never secret, unlike the
     * arguments, which are opt-in (agent.command_args). */
    size_t len = 0;
    if (otp_detect_cmdline(R.args, sizeof R.args, &len) > 0)
        res_set_str("process.command", R.args, false);
    R.args[0] = '\0';
    if (otp_cfg.command_args) detect_args();
}

int otp_resource_build(void)
{
    memset(&R, 0, sizeof R);
    R.args_slot = -1;
    static atomic_flag bad_attr = ATOMIC_FLAG_INIT;
    /* OTEL_RESOURCE_ATTRIBUTES first; otprof's own keys below override,
     * except that an explicit service.name there beats the executable-name
     * fallback (the OTel rule: OTEL_SERVICE_NAME > resource attributes >
     * default). */
    const char *cur = otp_cfg.resource_attributes;
    char k[128], v[OTP_CFG_STR];
    int rc;
    while ((rc = otp_kv_next(&cur, k, sizeof k, v, sizeof v)) != 0) {
        if (rc < 0) {
            otp_log_once(&bad_attr, OTP_LOG_WARN,
                         "OTEL_RESOURCE_ATTRIBUTES: skipping a malformed entry (want key=value)");
            continue;
        }
        res_set_str(k, v, true);
        mark_user(k);
    }
    bool svc_from_attrs = res_find("service.name") != NULL;
    bool svc_is_fallback = strcmp(otp_cfg.service_name, otp_run_name()) == 0;
    res_set_str("service.name", otp_cfg.service_name, !(svc_from_attrs && svc_is_fallback));
    if (!svc_is_fallback) mark_user("service.name");
    res_set_str("service.version", otp_cfg.service_version, true);
    res_set_str("deployment.environment.name", otp_cfg.deployment_environment, true);
    res_set_str("deployment.environment", otp_cfg.deployment_environment, true);
    if (otp_cfg.service_version[0]) mark_user("service.version");
    if (otp_cfg.deployment_environment[0]) {
        mark_user("deployment.environment.name");
        mark_user("deployment.environment");
    }
    res_set_str("process.executable.name", otp_exe_name(), true);
    res_set_str("process.executable.path", otp_exe_path(), true);
    char host[256];
    if (gethostname(host, sizeof host) == 0) {
        host[sizeof host - 1] = '\0';
        res_set_str("host.name", host, false);
    }
    res_set_int("process.pid", (int64_t)getpid());
    merge_app_context();
    detect_all();
    res_attr_t *pa = res_find("process.pid");
    R.pid_slot = pa ? (int)(pa - R.attrs) : -1;

    for (size_t i = 0; i < R.n; i++) {
        opentelemetry__proto__common__v1__any_value__init(&R.vals[i]);
        opentelemetry__proto__common__v1__key_value__init(&R.kvs[i]);
        if ((int)i == R.args_slot) {
            R.vals[i].value_case = ANY_ARRAY;
            R.vals[i].array_value = &R.arg_array;
        } else if (R.attrs[i].is_int) {
            R.vals[i].value_case = ANY_INT;
            R.vals[i].int_value = R.attrs[i].ival;
        } else {
            R.vals[i].value_case = ANY_STRING;
            R.vals[i].string_value = R.attrs[i].sval;
        }
        R.kvs[i].key = R.attrs[i].key;
        R.kvs[i].value = &R.vals[i];
        R.kvp[i] = &R.kvs[i];
    }
    opentelemetry__proto__resource__v1__resource__init(&R.resource);
    R.resource.attributes = R.kvp;
    R.resource.n_attributes = R.n;
    opentelemetry__proto__common__v1__instrumentation_scope__init(&R.scope);
    R.scope.name = "otprof";
    R.scope.version = OTP_VERSION;
    R.ready = true;
    R.publish_due = true;
    return 0;
}

void otp_resource_tick(void)
{
    static atomic_flag said_app = ATOMIC_FLAG_INIT, said_fail = ATOMIC_FLAG_INIT;
    if (!R.ready) return;
    /* the app published, updated or dropped its context since: merge anew */
    uint64_t at = 0;
    bool app = otp_procctx_peek(&at);
    if (app ? at != R.ctx_at : R.ctx_at != 0) otp_resource_build();
    if (!otp_cfg.publish_process_context) return;
    if (app) {
        /* one context per process: the app's wins */
        if (otp_procctx_published()) {
            otp_procctx_drop();
            otp_log_once(&said_app, OTP_LOG_INFO, "the app publishes its own process context "
                         "(OTEL_CTX); the agent's is withdrawn");
        }
        return;
    }
    otp_resource_refresh_pid();
    if (!R.publish_due && otp_procctx_published() && R.published_pid == getpid()) return;
    int rc = otp_procctx_publish(&R.resource);
    if (rc != 0)
        otp_log_once(&said_fail, OTP_LOG_WARN, "cannot publish the process context (OTEL_CTX): %s",
                     otp_strerror(-rc));
    R.publish_due = false;
    R.published_pid = getpid();
}

void otp_resource_reset(void)
{
    R.ready = false;
}

bool otp_resource_ready(void)
{
    return R.ready;
}

/* A fork child keeps the parent's attributes but not its pid. */
void otp_resource_refresh_pid(void)
{
    if (R.pid_slot >= 0)
        R.vals[R.pid_slot].int_value = (int64_t)getpid();
}

otp_pb_resource_t *otp_resource_get(void)
{
    return &R.resource;
}

otp_pb_scope_t *otp_resource_scope(void)
{
    return &R.scope;
}
