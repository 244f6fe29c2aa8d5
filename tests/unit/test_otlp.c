/*
 * OTLP encoder: a synthetic batch (CPU + heap, stacks of real functions of
 * this binary, links, threads) is encoded, decoded with the generated
 * protobuf-c code, and checked against the OTLP profiles rules (zero
 * entries, ranges, de-duplication, one sample type per Profile) and
 * against what went in (values, links, attributes, resource).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "mem.h"
#include "otlp.h"
#include "otlp_profiles_service.pb-c.h"
#include "profile.pb-c.h"
#include "symbols.h"
#include "sys.h"
#include "testutil.h"

typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest req_t;
typedef Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary dict_t;
typedef Opentelemetry__Proto__Profiles__V1development__Profile prof_t;

static __attribute__((noinline, noclone, used)) int otlp_leaf_a(int x)
{
    volatile int v = x;
    for (int i = 0; i < x; i++) v += i * 3;
    return v;
}

static __attribute__((noinline, noclone, used)) int otlp_leaf_b(int x)
{
    volatile int v = x;
    for (int i = 0; i < x; i++) v ^= i * 7;
    return v;
}

static const int otlp_caller_line = __LINE__ + 1;
static __attribute__((noinline, noclone, used)) int otlp_caller(int x)
{
    volatile int v = otlp_leaf_a(x) + otlp_leaf_b(x);
    return v + 1;
}

static const char *str(const dict_t *d, int32_t i)
{
    return i >= 0 && (size_t)i < d->n_string_table ? d->string_table[i] : NULL;
}

static const char *sample_type(const dict_t *d, const prof_t *p)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "%s/%s", str(d, p->sample_type->type_strindex),
             str(d, p->sample_type->unit_strindex));
    return buf;
}

/* The out-of-line function at a location: its last line (the first ones
 * are inline frames, when this binary's DWARF has some there). */
static const char *loc_func(const dict_t *d, int32_t li)
{
    const Opentelemetry__Proto__Profiles__V1development__Location *l = d->location_table[li];
    if (!l->n_lines) return NULL;
    return str(d, d->function_table[l->lines[l->n_lines - 1]->function_index]->name_strindex);
}

/* Attribute of a sample by key; NULL if absent. */
static const Opentelemetry__Proto__Common__V1__AnyValue *sample_attr(
    const dict_t *d, const Opentelemetry__Proto__Profiles__V1development__Sample *s, const char *key)
{
    for (size_t i = 0; i < s->n_attribute_indices; i++) {
        const Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit *a =
            d->attribute_table[s->attribute_indices[i]];
        if (strcmp(str(d, a->key_strindex), key) == 0) return a->value;
    }
    return NULL;
}

static const char *resource_attr(const req_t *r, const char *key, long long *ival)
{
    const Opentelemetry__Proto__Resource__V1__Resource *res = r->resource_profiles[0]->resource;
    for (size_t i = 0; i < res->n_attributes; i++)
        if (strcmp(res->attributes[i]->key, key) == 0) {
            const Opentelemetry__Proto__Common__V1__AnyValue *v = res->attributes[i]->value;
            if (v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE) {
                if (ival) *ival = v->int_value;
                return "<int>";
            }
            return v->string_value;
        }
    return NULL;
}

static bool dict_invariants(const dict_t *d)
{
    bool ok = d && d->n_string_table && d->string_table[0][0] == '\0' && d->n_mapping_table &&
              d->n_location_table && d->n_function_table && d->n_link_table && d->n_attribute_table &&
              d->n_stack_table;
    if (!ok) return false;
    ok = ok && d->location_table[0]->address == 0 && d->location_table[0]->n_lines == 0;
    ok = ok && d->function_table[0]->name_strindex == 0;
    ok = ok && d->link_table[0]->trace_id.len == 0 && d->link_table[0]->span_id.len == 0;
    ok = ok && d->stack_table[0]->n_location_indices == 0;
    ok = ok && d->attribute_table[0]->key_strindex == 0 && d->attribute_table[0]->value == NULL;
    ok = ok && d->mapping_table[0]->memory_limit == 0 && d->mapping_table[0]->filename_strindex == 0;
    for (size_t i = 0; ok && i < d->n_string_table; i++)
        for (size_t j = i + 1; j < d->n_string_table; j++)
            if (strcmp(d->string_table[i], d->string_table[j]) == 0) {
                printf("      duplicate string \"%s\"\n", d->string_table[i]);
                ok = false;
                break;
            }
    for (size_t i = 1; ok && i < d->n_stack_table; i++)
        for (size_t j = 0; j < d->stack_table[i]->n_location_indices; j++) {
            int32_t li = d->stack_table[i]->location_indices[j];
            ok = ok && li > 0 && (size_t)li < d->n_location_table;
        }
    for (size_t i = 1; ok && i < d->n_location_table; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Location *l = d->location_table[i];
        ok = ok && l->mapping_index >= 0 && (size_t)l->mapping_index < d->n_mapping_table;
        for (size_t j = 0; j < l->n_lines; j++)
            ok = ok && l->lines[j]->function_index > 0 &&
                 (size_t)l->lines[j]->function_index < d->n_function_table;
        for (size_t j = 0; j < l->n_attribute_indices; j++)
            ok = ok && l->attribute_indices[j] > 0 &&
                 (size_t)l->attribute_indices[j] < d->n_attribute_table;
        for (size_t k = 1; k < i; k++) ok = ok && d->location_table[k]->address != l->address;
    }
    for (size_t i = 1; ok && i < d->n_link_table; i++)
        ok = ok && d->link_table[i]->trace_id.len == 16 && d->link_table[i]->span_id.len == 8;
    for (size_t i = 1; ok && i < d->n_attribute_table; i++)
        ok = ok && d->attribute_table[i]->key_strindex > 0 &&
             (size_t)d->attribute_table[i]->key_strindex < d->n_string_table;
    return ok;
}

static size_t n_repacked, n_differ;

static req_t *encode(const otp_batch_t *b, size_t *len_out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = otp_otlp_encode(b, &buf, &len);
    if (rc != 0) {
        printf("      encode failed: %d\n", rc);
        return NULL;
    }
    if (len_out) *len_out = len;
    req_t *r = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(
        NULL, len, buf);
    if (r) repack_check(&r->base, buf, len, &n_repacked, &n_differ);
    otp_free(buf);
    return r;
}

static void test_kv(void)
{
    const char *cur = " a=1 , b = x%20y%2Cz ,bad,=novalue,, c=%41%4 ,d=";
    char k[64], v[64];
    CHECK_EQ_INT(otp_kv_next(&cur, k, sizeof k, v, sizeof v), 1);
    CHECK_EQ_STR(k, "a");
    CHECK_EQ_STR(v, "1");
    CHECK_EQ_INT(otp_kv_next(&cur, k, sizeof k, v, sizeof v), 1);
    CHECK_EQ_STR(k, "b");
    CHECK_EQ_STR(v, "x y,z");
    CHECK_EQ_INT(otp_kv_next(&cur, k, sizeof k, v, sizeof v), -EINVAL); /* "bad" */
    CHECK_EQ_INT(otp_kv_next(&cur, k, sizeof k, v, sizeof v), -EINVAL); /* empty key */
    CHECK_EQ_INT(otp_kv_next(&cur, k, sizeof k, v, sizeof v), 1);
    CHECK_EQ_STR(k, "c");
    CHECK_EQ_STR(v, "A%4"); /* a broken escape is kept as is */
    CHECK_EQ_INT(otp_kv_next(&cur, k, sizeof k, v, sizeof v), 1);
    CHECK_EQ_STR(k, "d");
    CHECK_EQ_STR(v, "");
    CHECK_EQ_INT(otp_kv_next(&cur, k, sizeof k, v, sizeof v), 0);
    const char *big = "k=0123456789012345678901234567890123456789";
    char small[8];
    CHECK_EQ_INT(otp_kv_next(&big, k, sizeof k, small, sizeof small), -EINVAL);
}

/* Each sample's thread.id and thread.name, for threads that share the
 * encoder's per-thread cache slot (tids 16 apart), a thread renamed
 * within the interval, and one without a name: the values are powers of
 * two, so each names the one sample that carries it. */
static void test_thread_attrs(otp_symbolizer_t *sym, const uint64_t *st_a, const uint64_t *st_b)
{
    static const struct {
        uint32_t tid;
        const char *name;
        bool b; /* stack st_b, else st_a */
    } want[] = {{5, "alpha", 0}, {21, "beta", 0}, {5, "alpha", 1}, {5, "renamed", 0}, {21, NULL, 1}, {37, "alpha", 0}};
    enum { N = sizeof want / sizeof want[0] };
    otp_sample_t ss[N];
    memset(ss, 0, sizeof ss);
    for (int i = 0; i < N; i++)
        ss[i] = (otp_sample_t){.pcs = want[i].b ? st_b : st_a, .npcs = 3, .tid = want[i].tid,
                               .thread_name = want[i].name, .values = {1LL << i, 10}};
    otp_profile_t cpu = {.kind = OTP_PROFILE_CPU, .time_ns = 1700000000000000000LL,
                         .duration_ns = 10000000000LL, .period = 10000000, .nvalues = 2,
                         .nsamples = N, .samples = ss};
    otp_batch_t batch = {.cpu = &cpu, .sym = sym};
    req_t *r = encode(&batch, NULL);
    CHECK(r != NULL);
    if (!r) return;
    const dict_t *d = r->dictionary;
    const prof_t *pc = r->resource_profiles[0]->scope_profiles[0]->profiles[0];
    CHECK_EQ_INT(pc->n_samples, N);
    int right = 0;
    for (size_t i = 0; i < pc->n_samples; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Sample *s = pc->samples[i];
        int k = __builtin_ctzll((unsigned long long)s->values[0]);
        const Opentelemetry__Proto__Common__V1__AnyValue *tid = sample_attr(d, s, "thread.id");
        const Opentelemetry__Proto__Common__V1__AnyValue *tn = sample_attr(d, s, "thread.name");
        bool ok = k < N && tid && tid->int_value == want[k].tid &&
                  (want[k].name ? tn && strcmp(tn->string_value, want[k].name) == 0 : tn == NULL);
        if (!ok)
            printf("      sample %d: thread.id %lld, thread.name %s\n", k, tid ? (long long)tid->int_value : -1,
                   tn ? tn->string_value : "(none)");
        right += ok;
    }
    CHECK_EQ_INT(right, N);
    opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
}

int main(void)
{
    test_kv();

    otp_config_defaults(&otp_cfg);
    snprintf(otp_cfg.service_name, sizeof otp_cfg.service_name, "svc-unit");
    snprintf(otp_cfg.service_version, sizeof otp_cfg.service_version, "1.2.3");
    snprintf(otp_cfg.resource_attributes, sizeof otp_cfg.resource_attributes,
             "team=prof%%20ops,service.name=ignored,host.name=box-1,broken");
    CHECK_EQ_INT(otp_otlp_init(), 0);

    otp_symbolizer_t *sym = otp_sym_new();
    CHECK(sym != NULL);
    wait_for_big_dwarf();

    uint64_t a = (uint64_t)(uintptr_t)otlp_leaf_a + 4, b = (uint64_t)(uintptr_t)otlp_leaf_b + 4;
    uint64_t c = (uint64_t)(uintptr_t)otlp_caller + 9, m = (uint64_t)(uintptr_t)main + 9;
    const uint64_t st_a[] = {a, c, m}, st_b[] = {b, c, m}, st_a2[] = {a + 2, c, m};
    uint8_t t1[16], s1[8], t2[16], s2[8];
    for (int i = 0; i < 16; i++) t1[i] = (uint8_t)(i + 1), t2[i] = (uint8_t)(0xa0 + i);
    for (int i = 0; i < 8; i++) s1[i] = (uint8_t)(0x10 + i), s2[i] = (uint8_t)(0x20 + i);

    otp_sample_t cs[5];
    memset(cs, 0, sizeof cs);
    /* 0 and 1 have the same identity and must merge */
    cs[0] = (otp_sample_t){.pcs = st_a, .npcs = 3, .tid = 101, .thread_name = "worker-a", .values = {5, 50}};
    cs[1] = (otp_sample_t){.pcs = st_a, .npcs = 3, .tid = 101, .thread_name = "worker-a", .values = {2, 20}};
    cs[2] = (otp_sample_t){.pcs = st_b, .npcs = 3, .tid = 102, .thread_name = "worker-b", .values = {7, 70},
                           .has_link = true};
    memcpy(cs[2].trace_id, t1, 16);
    memcpy(cs[2].span_id, s1, 8);
    cs[3] = (otp_sample_t){.pcs = st_a2, .npcs = 3, .tid = 101, .thread_name = "worker-a", .values = {1, 10},
                           .has_link = true};
    memcpy(cs[3].trace_id, t2, 16);
    memcpy(cs[3].span_id, s2, 8);
    /* same stack as 2, same link: another thread */
    cs[4] = (otp_sample_t){.pcs = st_b, .npcs = 3, .tid = 103, .thread_name = NULL, .values = {3, 30},
                           .has_link = true};
    memcpy(cs[4].trace_id, t1, 16);
    memcpy(cs[4].span_id, s1, 8);
    otp_profile_t cpu = {.kind = OTP_PROFILE_CPU, .time_ns = 1700000000000000000LL,
                         .duration_ns = 10000000000LL, .period = 10000000, .nvalues = 2,
                         .nsamples = 5, .samples = cs};

    otp_sample_t hs[2];
    memset(hs, 0, sizeof hs);
    hs[0] = (otp_sample_t){.pcs = st_a, .npcs = 3, .tid = 101, .thread_name = "worker-a",
                           .values = {10, 5120, 4, 2048}, .alloc_size = 512};
    /* freed: no in-use values, must be absent from the inuse_* profiles */
    hs[1] = (otp_sample_t){.pcs = st_b, .npcs = 3, .tid = 102, .thread_name = "worker-b",
                           .values = {3, 300, 0, 0}, .alloc_size = 100, .has_link = true};
    memcpy(hs[1].trace_id, t1, 16);
    memcpy(hs[1].span_id, s1, 8);
    const char *comments[] = {"suspected leak: otlp_leaf_a"};
    otp_profile_t heap = {.kind = OTP_PROFILE_HEAP, .time_ns = 1700000000000000000LL,
                          .duration_ns = 10000000000LL, .period = 524288, .nvalues = 4,
                          .nsamples = 2, .samples = hs, .comments = comments, .ncomments = 1};

    test_thread_attrs(sym, st_a, st_b);

    otp_batch_t batch = {.cpu = &cpu, .heap = &heap, .sym = sym, .seq = 0, .final = false};
    size_t plain_len = 0;
    req_t *r = encode(&batch, &plain_len);
    CHECK(r != NULL);
    if (!r) return check_done();
    const dict_t *d = r->dictionary;
    CHECK(dict_invariants(d));
    CHECK_EQ_INT(r->n_resource_profiles, 1);
    CHECK_EQ_INT(r->resource_profiles[0]->n_scope_profiles, 1);
    const Opentelemetry__Proto__Profiles__V1development__ScopeProfiles *sp =
        r->resource_profiles[0]->scope_profiles[0];
    CHECK_EQ_STR(sp->scope->name, "otprof");
    CHECK(sp->scope->version && sp->scope->version[0]);

    /* resource */
    long long pid = 0;
    CHECK_EQ_STR(resource_attr(r, "service.name", NULL), "svc-unit");
    CHECK_EQ_STR(resource_attr(r, "service.version", NULL), "1.2.3");
    CHECK_EQ_STR(resource_attr(r, "team", NULL), "prof ops");
    CHECK_EQ_STR(resource_attr(r, "host.name", NULL), "box-1");
    CHECK(resource_attr(r, "process.pid", &pid) != NULL);
    CHECK_EQ_INT(pid, getpid());
    CHECK(resource_attr(r, "process.executable.name", NULL) != NULL);
    CHECK(resource_attr(r, "process.executable.path", NULL) != NULL);
    CHECK(resource_attr(r, "deployment.environment.name", NULL) == NULL); /* not configured */

    /* one Profile per sample type: CPU count, then the four heap types */
    CHECK_EQ_INT(sp->n_profiles, 5);
    if (sp->n_profiles != 5) return check_done();
    const char *want[] = {"samples/count", "alloc_objects/count", "alloc_space/bytes",
                          "inuse_objects/count", "inuse_space/bytes"};
    for (int i = 0; i < 5; i++) CHECK_EQ_STR(sample_type(d, sp->profiles[i]), want[i]);
    const prof_t *pc = sp->profiles[0];
    CHECK_EQ_STR(str(d, pc->period_type->type_strindex), "cpu");
    CHECK_EQ_STR(str(d, pc->period_type->unit_strindex), "nanoseconds");
    CHECK_EQ_INT(pc->period, 10000000);
    CHECK_EQ_INT(pc->time_unix_nano, 1700000000000000000LL);
    CHECK_EQ_INT(pc->duration_nano, 10000000000LL);
    CHECK_EQ_INT(pc->profile_id.len, 16);
    CHECK(pc->original_payload.len == 0 && (!pc->original_payload_format || !pc->original_payload_format[0]));
    CHECK_EQ_STR(str(d, sp->profiles[3]->period_type->type_strindex), "space");
    CHECK_EQ_INT(sp->profiles[3]->period, 524288);

    /* CPU samples: 0+1 merged; 2 and 4 differ by thread only */
    CHECK_EQ_INT(pc->n_samples, 4);
    int64_t total = 0;
    int linked = 0, merged_ok = 0, names_ok = 0, tid_ok = 0;
    for (size_t i = 0; i < pc->n_samples; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Sample *s = pc->samples[i];
        CHECK_EQ_INT(s->n_values, 1);
        total += s->values[0];
        const Opentelemetry__Proto__Common__V1__AnyValue *tid = sample_attr(d, s, "thread.id");
        const Opentelemetry__Proto__Common__V1__AnyValue *tn = sample_attr(d, s, "thread.name");
        if (tid && tid->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE)
            tid_ok++;
        const char *leaf = loc_func(d, d->stack_table[s->stack_index]->location_indices[0]);
        if (tid && tid->int_value == 101 && s->link_index == 0) {
            merged_ok += s->values[0] == 7;
            names_ok += tn && strcmp(tn->string_value, "worker-a") == 0;
            CHECK_EQ_STR(leaf, "otlp_leaf_a");
        }
        if (tid && tid->int_value == 103) names_ok += tn == NULL; /* no name, no attribute */
        if (s->link_index) {
            linked++;
            const Opentelemetry__Proto__Profiles__V1development__Link *l = d->link_table[s->link_index];
            if (tid && tid->int_value == 101) {
                CHECK(memcmp(l->trace_id.data, t2, 16) == 0 && memcmp(l->span_id.data, s2, 8) == 0);
                CHECK_EQ_STR(leaf, "otlp_leaf_a");
            } else {
                CHECK(memcmp(l->trace_id.data, t1, 16) == 0 && memcmp(l->span_id.data, s1, 8) == 0);
                CHECK_EQ_STR(leaf, "otlp_leaf_b");
            }
        }
        /* the caller frames name the calling functions */
        CHECK_EQ_STR(loc_func(d, d->stack_table[s->stack_index]->location_indices[1]), "otlp_caller");
        CHECK_EQ_STR(loc_func(d, d->stack_table[s->stack_index]->location_indices[2]), "main");
    }
    CHECK_EQ_INT(total, 18);
    CHECK_EQ_INT(merged_ok, 1);
    CHECK_EQ_INT(names_ok, 2);
    CHECK_EQ_INT(tid_ok, 4);
    CHECK_EQ_INT(linked, 3);
    CHECK_EQ_INT(d->n_link_table, 3); /* zero + t1/s1 + t2/s2 */
    /* stacks: zero + a, b, a2 (shared by the CPU and heap profiles) */
    CHECK_EQ_INT(d->n_stack_table, 4);
    /* locations: zero + a, a+2, b, caller, main */
    CHECK_EQ_INT(d->n_location_table, 6);
    /* functions: zero + leaf_a, leaf_b, caller, main, and any function
     * inlined at main+9 */
    CHECK(d->n_function_table >= 5);
    /* Functions carry their system name, source file and first line (this
     * test is built with -g: DWARF). */
    int caller_fn = 0;
    for (size_t i = 1; i < d->n_function_table; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Function *f = d->function_table[i];
        const char *nm = str(d, f->name_strindex), *file = str(d, f->filename_strindex);
        if (!nm || strcmp(nm, "otlp_caller") != 0) continue;
        caller_fn++;
        CHECK_EQ_STR(str(d, f->system_name_strindex), "otlp_caller");
        CHECK(file && strlen(file) > 22 && strcmp(file + strlen(file) - 22, "tests/unit/test_otlp.c") == 0);
        CHECK_EQ_INT(f->start_line, otlp_caller_line);
    }
    CHECK_EQ_INT(caller_fn, 1);

    /* every location is a native frame; the binary's mapping has a build id */
    int native = 0;
    for (size_t i = 1; i < d->n_location_table; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Location *l = d->location_table[i];
        if (l->n_attribute_indices == 1) {
            const Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit *at =
                d->attribute_table[l->attribute_indices[0]];
            native += strcmp(str(d, at->key_strindex), "profile.frame.type") == 0 &&
                      strcmp(at->value->string_value, "native") == 0;
        }
        CHECK(l->mapping_index > 0);
    }
    CHECK_EQ_INT(native, 5);
    bool build_id = false;
    int htl = 0;
    for (size_t i = 1; i < d->n_mapping_table; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Mapping *mp = d->mapping_table[i];
        CHECK(mp->memory_start < mp->memory_limit && mp->filename_strindex > 0);
        for (size_t j = 0; j < mp->n_attribute_indices; j++) {
            const Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit *at =
                d->attribute_table[mp->attribute_indices[j]];
            if (strcmp(str(d, at->key_strindex), "process.executable.build_id.gnu") == 0 &&
                strlen(at->value->string_value) >= 16)
                build_id = true;
            if (strcmp(str(d, at->key_strindex), "process.executable.build_id.htlhash") == 0) {
                htl++;
                CHECK_EQ_INT(strspn(at->value->string_value, "0123456789abcdef"), 32);
                CHECK_EQ_INT(strlen(at->value->string_value), 32);
            }
        }
    }
    CHECK(build_id);
    CHECK(htl >= 1);

    /* heap: alloc_* have both samples, inuse_* only the live one */
    CHECK_EQ_INT(sp->profiles[1]->n_samples, 2);
    CHECK_EQ_INT(sp->profiles[2]->n_samples, 2);
    CHECK_EQ_INT(sp->profiles[3]->n_samples, 1);
    CHECK_EQ_INT(sp->profiles[4]->n_samples, 1);
    CHECK_EQ_INT(sp->profiles[4]->samples[0]->values[0], 2048);
    CHECK_EQ_INT(sp->profiles[3]->samples[0]->values[0], 4);
    int64_t alloc_space = 0;
    for (size_t i = 0; i < sp->profiles[2]->n_samples; i++) alloc_space += sp->profiles[2]->samples[i]->values[0];
    CHECK_EQ_INT(alloc_space, 5420);
    /* the heap sample with a link reuses the CPU link entry */
    int heap_linked = 0;
    for (size_t i = 0; i < sp->profiles[1]->n_samples; i++)
        heap_linked += sp->profiles[1]->samples[i]->link_index > 0;
    CHECK_EQ_INT(heap_linked, 1);
    /* the heap comment is a profile attribute pprof.profile.comment */
    CHECK_EQ_INT(sp->profiles[1]->n_attribute_indices, 1);
    if (sp->profiles[1]->n_attribute_indices == 1) {
        const Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit *at =
            d->attribute_table[sp->profiles[1]->attribute_indices[0]];
        CHECK_EQ_STR(str(d, at->key_strindex), "pprof.profile.comment");
        CHECK(at->value->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE &&
              at->value->array_value->n_values == 1 &&
              strcmp(at->value->array_value->values[0]->string_value, comments[0]) == 0);
    }
    CHECK_EQ_INT(pc->n_attribute_indices, 0);

    otp_otlp_stats_t st;
    otp_otlp_last_stats(&st);
    CHECK_EQ_INT(st.profiles, 5);
    CHECK_EQ_INT(st.stacks, d->n_stack_table);
    opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);

    /* original_payload: each Profile carries the pprof of its source */
    otp_cfg.original_pprof = true;
    size_t orig_len = 0;
    r = encode(&batch, &orig_len);
    CHECK(r != NULL);
    if (r) {
        sp = r->resource_profiles[0]->scope_profiles[0];
        int good = 0;
        for (size_t i = 0; i < sp->n_profiles; i++) {
            const prof_t *p = sp->profiles[i];
            if (!p->original_payload_format || strcmp(p->original_payload_format, "pprof") != 0) continue;
            Perftools__Profiles__Profile *pp =
                perftools__profiles__profile__unpack(NULL, p->original_payload.len, p->original_payload.data);
            if (pp && pp->n_sample_type == (i == 0 ? 2u : 4u) && pp->n_sample > 0) good++;
            if (pp) perftools__profiles__profile__free_unpacked(pp, NULL);
        }
        CHECK_EQ_INT(good, 5);
        CHECK(orig_len > plain_len);
        opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
    }
    otp_cfg.original_pprof = false;

    /* CPU only; an all-zero trace id is no link */
    cs[2].has_link = true;
    memset(cs[2].trace_id, 0, 16);
    otp_batch_t cpu_only = {.cpu = &cpu, .heap = NULL, .sym = sym};
    r = encode(&cpu_only, NULL);
    CHECK(r != NULL);
    if (r) {
        CHECK(dict_invariants(r->dictionary));
        CHECK_EQ_INT(r->resource_profiles[0]->scope_profiles[0]->n_profiles, 1);
        CHECK_EQ_INT(r->dictionary->n_link_table, 3); /* t1 still used by cs[4] */
        opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
    }

    /* nothing to send */
    otp_profile_t empty = cpu;
    empty.nsamples = 0;
    otp_batch_t eb = {.cpu = &empty, .heap = NULL, .sym = sym};
    uint8_t *out = (uint8_t *)1;
    size_t olen = 7;
    CHECK_EQ_INT(otp_otlp_encode(&eb, &out, &olen), -ENODATA);
    CHECK(out == NULL && olen == 0);

    /* no symbolizer: addresses only, still a valid request */
    otp_batch_t nosym = {.cpu = &cpu, .heap = NULL, .sym = NULL};
    r = encode(&nosym, NULL);
    CHECK(r != NULL);
    if (r) {
        CHECK(dict_invariants(r->dictionary));
        CHECK_EQ_INT(r->dictionary->n_function_table, 1);
        opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
    }

    /* service.name from OTEL_RESOURCE_ATTRIBUTES beats the exe-name default */
    snprintf(otp_cfg.service_name, sizeof otp_cfg.service_name, "%s", "test_otlp");
    otp_otlp_init();
    r = encode(&cpu_only, NULL);
    if (r) {
        /* the exe-name default only loses when it really is the exe name */
        const char *svc = resource_attr(r, "service.name", NULL);
        CHECK_EQ_STR(svc, strcmp(otp_exe_name(), "test_otlp") == 0 ? "ignored" : "test_otlp");
        opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
    }
    otp_sym_free(sym);
    printf("      %zu requests re-packed by protobuf-c, %zu differ\n", n_repacked, n_differ);
    CHECK_NAMED("every request is byte for byte what protobuf-c packs", n_repacked >= 5 && n_differ == 0);
    return check_done();
}
