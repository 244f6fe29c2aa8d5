/*
 * The OTLP Resource and InstrumentationScope of this process, built once
 * from OTEL_RESOURCE_ATTRIBUTES and the agent's settings; the encoder
 * points every request at them. Flusher thread only.
 */
#include "resource.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"
#include "kvlist.h"
#include "log.h"
#include "sys.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv_t;
#define ANY_STRING OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
#define ANY_INT OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE

typedef struct res_attr {
    char key[128];
    char sval[OTP_CFG_STR];
    bool is_int;
    int64_t ival;
} res_attr_t;

#define OTP_MAX_RES_ATTRS 48

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

int otp_resource_build(void)
{
    memset(&R, 0, sizeof R);
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
    }
    bool svc_from_attrs = res_find("service.name") != NULL;
    bool svc_is_fallback = strcmp(otp_cfg.service_name, otp_exe_name()) == 0;
    res_set_str("service.name", otp_cfg.service_name, !(svc_from_attrs && svc_is_fallback));
    res_set_str("service.version", otp_cfg.service_version, true);
    res_set_str("deployment.environment.name", otp_cfg.deployment_environment, true);
    res_set_str("deployment.environment", otp_cfg.deployment_environment, true);
    res_set_str("process.executable.name", otp_exe_name(), true);
    res_set_str("process.executable.path", otp_exe_path(), true);
    char host[256];
    if (gethostname(host, sizeof host) == 0) {
        host[sizeof host - 1] = '\0';
        res_set_str("host.name", host, false);
    }
    res_set_int("process.pid", (int64_t)getpid());
    res_attr_t *pa = res_find("process.pid");
    R.pid_slot = pa ? (int)(pa - R.attrs) : -1;

    for (size_t i = 0; i < R.n; i++) {
        opentelemetry__proto__common__v1__any_value__init(&R.vals[i]);
        opentelemetry__proto__common__v1__key_value__init(&R.kvs[i]);
        if (R.attrs[i].is_int) {
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
    return 0;
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
