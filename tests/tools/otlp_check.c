/*
 * otlp_check: decodes recorded OTLP ExportProfilesServiceRequest bodies
 * (gzipped or plain) with the generated protobuf-c code, checks the
 * dictionary rules an OTLP profiles consumer relies on (and that the
 * bytes are those protobuf-c packs for what they decode to), and prints a
 * summary the shell tests grep:
 *
 *   bad FILE: REASON                  (one per problem; exit status 1)
 *   ok FILE
 *   requests N
 *   resource KEY=VALUE                (of the last request; arrays as [a|b])
 *   scope NAME VERSION
 *   profile TYPE/UNIT PERIODTYPE/UNIT PERIOD   (each distinct one)
 *   total TYPE VALUE
 *   flat TYPE FUNCTION PERCENT        (leaf function share of TYPE)
 *   incl TYPE FUNCTION PERCENT        (share of TYPE whose stack has FUNCTION)
 *   link TYPE TRACE SPAN FUNCTION VALUE  (inclusive, per link)
 *   nolink TYPE FUNCTION VALUE
 *   thread TYPE NAME VALUE
 *   mappings N build_id M
 *   htlhash FILE HASH                 (each mapping's, per request)
 *   frame_type native L/N
 *   original TYPE FORMAT BYTES pprof_ok|pprof_bad
 *
 * Usage: otlp_check [-q] FILE...   (-q: only "ok"/"bad" lines)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "otlp_profiles_service.pb-c.h"
#include "profile.pb-c.h"

typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest req_t;
typedef Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary dict_t;
typedef Opentelemetry__Proto__Profiles__V1development__Profile prof_t;
typedef Opentelemetry__Proto__Profiles__V1development__Sample sample_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue any_t;

static int nbad;
static const char *cur_file;

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("bad %s: ", cur_file);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    nbad++;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    size_t r;
    while ((r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) b = realloc(b, cap *= 2);
    }
    fclose(f);
    *len = n;
    return b;
}

static uint8_t *gunzip(const uint8_t *in, size_t inlen, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return NULL;
    size_t cap = inlen * 4 + 1024, n = 0;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)inlen;
    int rc;
    do {
        if (n == cap) out = realloc(out, cap *= 2);
        z.next_out = out + n;
        z.avail_out = (uInt)(cap - n);
        rc = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
    } while (rc == Z_OK);
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    *outlen = n;
    return out;
}

/* ------------------------------------------------------------ summary */

typedef struct kv {
    char *key;
    double v;
} kv_t;

/* Entries in first-seen order (the summary's), found through an
 * open-addressing index: a request of 10k stacks adds ~300k frames. */
typedef struct tally {
    kv_t *e;
    size_t n, cap;
    size_t *idx; /* entry + 1, 0 empty; idx_cap a power of two */
    size_t idx_cap;
} tally_t;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

static void tally_index(tally_t *t, size_t i)
{
    size_t m = t->idx_cap - 1, j = str_hash(t->e[i].key) & m;
    while (t->idx[j]) j = (j + 1) & m;
    t->idx[j] = i + 1;
}

static void tally_add(tally_t *t, const char *key, double v)
{
    if (t->idx_cap) {
        size_t m = t->idx_cap - 1;
        for (size_t j = str_hash(key) & m; t->idx[j]; j = (j + 1) & m)
            if (strcmp(t->e[t->idx[j] - 1].key, key) == 0) {
                t->e[t->idx[j] - 1].v += v;
                return;
            }
    }
    if (t->n == t->cap) t->e = realloc(t->e, (t->cap = t->cap ? t->cap * 2 : 64) * sizeof *t->e);
    t->e[t->n].key = strdup(key);
    t->e[t->n].v = v;
    t->n++;
    if (2 * t->n > t->idx_cap) {
        free(t->idx);
        t->idx_cap = t->idx_cap ? 2 * t->idx_cap : 128;
        t->idx = calloc(t->idx_cap, sizeof *t->idx);
        for (size_t i = 0; i < t->n; i++) tally_index(t, i);
    } else {
        tally_index(t, t->n - 1);
    }
}

static tally_t t_total, t_flat, t_incl, t_link, t_nolink, t_thread, t_profile, t_orig;

/* ------------------------------------------------------------- checks */

static bool idx_ok(int32_t i, size_t n)
{
    return i >= 0 && (size_t)i < n;
}

static const char *str(const dict_t *d, int32_t i)
{
    return idx_ok(i, d->n_string_table) ? d->string_table[i] : "<bad>";
}

static bool any_is_empty(const any_t *v)
{
    return !v || v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE__NOT_SET;
}

static void hex(const ProtobufCBinaryData *b, char *out)
{
    for (size_t i = 0; i < b->len; i++) sprintf(out + 2 * i, "%02x", b->data[i]);
    out[2 * b->len] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_dict(const dict_t *d)
{
    if (!d) {
        bad("no dictionary");
        return;
    }
    /* zero entries */
    if (d->n_string_table == 0 || d->string_table[0][0] != '\0') bad("string_table[0] is not \"\"");
    if (d->n_mapping_table == 0) bad("mapping_table has no zero entry");
    else {
        const Opentelemetry__Proto__Profiles__V1development__Mapping *m = d->mapping_table[0];
        if (m->memory_start || m->memory_limit || m->file_offset || m->filename_strindex ||
            m->n_attribute_indices)
            bad("mapping_table[0] is not zero");
    }
    if (d->n_location_table == 0) bad("location_table has no zero entry");
    else {
        const Opentelemetry__Proto__Profiles__V1development__Location *l = d->location_table[0];
        if (l->mapping_index || l->address || l->n_lines || l->n_attribute_indices)
            bad("location_table[0] is not zero");
    }
    if (d->n_function_table == 0) bad("function_table has no zero entry");
    else {
        const Opentelemetry__Proto__Profiles__V1development__Function *f = d->function_table[0];
        if (f->name_strindex || f->system_name_strindex || f->filename_strindex || f->start_line)
            bad("function_table[0] is not zero");
    }
    if (d->n_link_table == 0) bad("link_table has no zero entry");
    else {
        const Opentelemetry__Proto__Profiles__V1development__Link *l = d->link_table[0];
        static const uint8_t z[16];
        bool empty = l->trace_id.len == 0 && l->span_id.len == 0;
        bool zeros = l->trace_id.len == 16 && l->span_id.len == 8 &&
                     !memcmp(l->trace_id.data, z, 16) && !memcmp(l->span_id.data, z, 8);
        if (!empty && !zeros) bad("link_table[0] is not zero");
    }
    if (d->n_attribute_table == 0) bad("attribute_table has no zero entry");
    else {
        const Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit *a = d->attribute_table[0];
        if (a->key_strindex || a->unit_strindex || !any_is_empty(a->value))
            bad("attribute_table[0] is not zero");
    }
    if (d->n_stack_table == 0) bad("stack_table has no zero entry");
    else if (d->stack_table[0]->n_location_indices)
        bad("stack_table[0] is not empty");

    /* strings unique */
    char **s = malloc((d->n_string_table + 1) * sizeof *s);
    memcpy(s, d->string_table, d->n_string_table * sizeof *s);
    qsort(s, d->n_string_table, sizeof *s, cmp_str);
    for (size_t i = 1; i < d->n_string_table; i++)
        if (strcmp(s[i - 1], s[i]) == 0) {
            bad("duplicate string \"%s\"", s[i]);
            break;
        }
    free(s);

    /* ranges, and duplicates in the tables we de-duplicate */
    for (size_t i = 0; i < d->n_mapping_table; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Mapping *m = d->mapping_table[i];
        if (!idx_ok(m->filename_strindex, d->n_string_table)) bad("mapping %zu: filename out of range", i);
        for (size_t j = 0; j < m->n_attribute_indices; j++)
            if (!idx_ok(m->attribute_indices[j], d->n_attribute_table) || m->attribute_indices[j] == 0)
                bad("mapping %zu: attribute index out of range", i);
        for (size_t k = 1; k < i; k++) {
            const Opentelemetry__Proto__Profiles__V1development__Mapping *o = d->mapping_table[k];
            if (o->memory_start == m->memory_start && o->memory_limit == m->memory_limit &&
                o->file_offset == m->file_offset && o->filename_strindex == m->filename_strindex)
                bad("duplicate mapping %zu/%zu", k, i);
        }
    }
    for (size_t i = 0; i < d->n_function_table; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Function *f = d->function_table[i];
        if (!idx_ok(f->name_strindex, d->n_string_table) ||
            !idx_ok(f->system_name_strindex, d->n_string_table) ||
            !idx_ok(f->filename_strindex, d->n_string_table))
            bad("function %zu: string index out of range", i);
        if (i > 0 && !f->name_strindex && !f->system_name_strindex && !f->filename_strindex)
            bad("function %zu: no name, system name or file name", i);
    }
    for (size_t i = 0; i < d->n_location_table; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Location *l = d->location_table[i];
        if (!idx_ok(l->mapping_index, d->n_mapping_table)) bad("location %zu: mapping out of range", i);
        for (size_t j = 0; j < l->n_lines; j++)
            if (!idx_ok(l->lines[j]->function_index, d->n_function_table))
                bad("location %zu: function out of range", i);
        for (size_t j = 0; j < l->n_attribute_indices; j++)
            if (!idx_ok(l->attribute_indices[j], d->n_attribute_table) || l->attribute_indices[j] == 0)
                bad("location %zu: attribute out of range", i);
    }
    for (size_t i = 0; i < d->n_attribute_table; i++) {
        const Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit *a = d->attribute_table[i];
        if (!idx_ok(a->key_strindex, d->n_string_table) || !idx_ok(a->unit_strindex, d->n_string_table))
            bad("attribute %zu: string index out of range", i);
        if (i > 0 && a->key_strindex == 0) bad("attribute %zu: no key", i);
        if (a->value && a->value->value_case ==
                            OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE_STRINDEX &&
            !idx_ok(a->value->string_value_strindex, d->n_string_table))
            bad("attribute %zu: value string index out of range", i);
    }
    for (size_t i = 1; i < d->n_link_table; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Link *l = d->link_table[i];
        if (l->trace_id.len != 16 || l->span_id.len != 8) bad("link %zu: ids are not 16/8 bytes", i);
        for (size_t k = 1; k < i; k++) {
            const Opentelemetry__Proto__Profiles__V1development__Link *o = d->link_table[k];
            if (o->trace_id.len == 16 && l->trace_id.len == 16 && o->span_id.len == 8 &&
                l->span_id.len == 8 && !memcmp(o->trace_id.data, l->trace_id.data, 16) &&
                !memcmp(o->span_id.data, l->span_id.data, 8))
                bad("duplicate link %zu/%zu", k, i);
        }
    }
    for (size_t i = 0; i < d->n_stack_table; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Stack *st = d->stack_table[i];
        for (size_t j = 0; j < st->n_location_indices; j++)
            if (!idx_ok(st->location_indices[j], d->n_location_table) || st->location_indices[j] == 0)
                bad("stack %zu: location index out of range", i);
    }
}

/* Duplicate stacks and locations via sorting fingerprints. */
typedef struct fp {
    uint64_t h;
    size_t i;
} fp_t;

static int cmp_fp(const void *a, const void *b)
{
    const fp_t *x = a, *y = b;
    return x->h < y->h ? -1 : x->h > y->h;
}

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

static void check_dups(const dict_t *d)
{
    size_t n = d->n_stack_table > d->n_location_table ? d->n_stack_table : d->n_location_table;
    fp_t *f = malloc((n + 1) * sizeof *f);
    for (size_t i = 0; i < d->n_stack_table; i++) {
        f[i].h = fnv(d->stack_table[i]->location_indices,
                     d->stack_table[i]->n_location_indices * sizeof(int32_t), 1469598103934665603ULL);
        f[i].i = i;
    }
    qsort(f, d->n_stack_table, sizeof *f, cmp_fp);
    for (size_t i = 1; i < d->n_stack_table; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Stack *a = d->stack_table[f[i - 1].i],
                                                                   *b = d->stack_table[f[i].i];
        if (f[i - 1].h == f[i].h && a->n_location_indices == b->n_location_indices &&
            !memcmp(a->location_indices, b->location_indices, a->n_location_indices * sizeof(int32_t))) {
            bad("duplicate stack %zu/%zu", f[i - 1].i, f[i].i);
            break;
        }
    }
    for (size_t i = 0; i < d->n_location_table; i++) {
        const Opentelemetry__Proto__Profiles__V1development__Location *l = d->location_table[i];
        uint64_t h = fnv(&l->address, 8, 1469598103934665603ULL);
        h = fnv(&l->mapping_index, 4, h);
        f[i].h = h;
        f[i].i = i;
    }
    qsort(f, d->n_location_table, sizeof *f, cmp_fp);
    for (size_t i = 1; i < d->n_location_table; i++)
        if (f[i - 1].h == f[i].h) {
            const Opentelemetry__Proto__Profiles__V1development__Location *a = d->location_table[f[i - 1].i],
                                                                          *b = d->location_table[f[i].i];
            if (a->address == b->address && a->mapping_index == b->mapping_index) {
                bad("duplicate location %zu/%zu", f[i - 1].i, f[i].i);
                break;
            }
        }
    free(f);
}

static const char *loc_func(const dict_t *d, int32_t li)
{
    if (!idx_ok(li, d->n_location_table)) return "?";
    const Opentelemetry__Proto__Profiles__V1development__Location *l = d->location_table[li];
    if (l->n_lines == 0 || !idx_ok(l->lines[0]->function_index, d->n_function_table)) return "?";
    return str(d, d->function_table[l->lines[0]->function_index]->name_strindex);
}

static void check_profile(const dict_t *d, const prof_t *p, size_t pi)
{
    if (!p->sample_type) {
        bad("profile %zu: no sample_type", pi);
        return;
    }
    if (!idx_ok(p->sample_type->type_strindex, d->n_string_table) ||
        !idx_ok(p->sample_type->unit_strindex, d->n_string_table) ||
        (p->period_type && (!idx_ok(p->period_type->type_strindex, d->n_string_table) ||
                            !idx_ok(p->period_type->unit_strindex, d->n_string_table))))
        bad("profile %zu: value type string out of range", pi);
    for (size_t j = 0; j < p->n_attribute_indices; j++)
        if (!idx_ok(p->attribute_indices[j], d->n_attribute_table))
            bad("profile %zu: attribute out of range", pi);
    if ((p->original_payload_format && p->original_payload_format[0]) != (p->original_payload.len > 0))
        bad("profile %zu: original_payload and its format must be set together", pi);
    if (p->profile_id.len != 0 && p->profile_id.len != 16) bad("profile %zu: profile_id length", pi);
    if (p->time_unix_nano == 0) bad("profile %zu: no time", pi);

    char type[256];
    snprintf(type, sizeof type, "%s/%s", str(d, p->sample_type->type_strindex),
             str(d, p->sample_type->unit_strindex));
    char pdesc[600];
    snprintf(pdesc, sizeof pdesc, "%s %s/%s %lld", type,
             p->period_type ? str(d, p->period_type->type_strindex) : "-",
             p->period_type ? str(d, p->period_type->unit_strindex) : "-", (long long)p->period);
    tally_add(&t_profile, pdesc, 1);
    if (p->original_payload.len) {
        Perftools__Profiles__Profile *pp =
            perftools__profiles__profile__unpack(NULL, p->original_payload.len, p->original_payload.data);
        char o[400];
        snprintf(o, sizeof o, "%s %s %zu %s", type, p->original_payload_format,
                 p->original_payload.len, pp && pp->n_sample > 0 ? "pprof_ok" : "pprof_bad");
        tally_add(&t_orig, o, 1);
        if (pp) perftools__profiles__profile__free_unpacked(pp, NULL);
    }

    for (size_t si = 0; si < p->n_samples; si++) {
        const sample_t *s = p->samples[si];
        if (!idx_ok(s->stack_index, d->n_stack_table)) {
            bad("profile %zu sample %zu: stack out of range", pi, si);
            continue;
        }
        if (!idx_ok(s->link_index, d->n_link_table)) {
            bad("profile %zu sample %zu: link out of range", pi, si);
            continue;
        }
        if (s->n_values == 0 && s->n_timestamps_unix_nano == 0)
            bad("profile %zu sample %zu: neither values nor timestamps", pi, si);
        if (s->n_values && s->n_timestamps_unix_nano && s->n_values != s->n_timestamps_unix_nano)
            bad("profile %zu sample %zu: values/timestamps lengths differ", pi, si);
        if (s->n_values > 1 && s->n_timestamps_unix_nano == 0)
            bad("profile %zu sample %zu: several values without timestamps", pi, si);
        const char *tname = NULL;
        for (size_t j = 0; j < s->n_attribute_indices; j++) {
            int32_t ai = s->attribute_indices[j];
            if (!idx_ok(ai, d->n_attribute_table) || ai == 0) {
                bad("profile %zu sample %zu: attribute out of range", pi, si);
                continue;
            }
            for (size_t k = 0; k < j; k++)
                if (idx_ok(s->attribute_indices[k], d->n_attribute_table) &&
                    d->attribute_table[s->attribute_indices[k]]->key_strindex ==
                        d->attribute_table[ai]->key_strindex)
                    bad("profile %zu sample %zu: attribute key repeated", pi, si);
            const Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit *a = d->attribute_table[ai];
            if (strcmp(str(d, a->key_strindex), "thread.name") == 0 && a->value &&
                a->value->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
                tname = a->value->string_value;
        }
        double v = 0;
        for (size_t j = 0; j < s->n_values; j++) v += (double)s->values[j];
        if (s->n_values == 0) v = (double)s->n_timestamps_unix_nano;
        tally_add(&t_total, type, v);
        const Opentelemetry__Proto__Profiles__V1development__Stack *st = d->stack_table[s->stack_index];
        char key[1024];
        if (st->n_location_indices) {
            snprintf(key, sizeof key, "%s %s", type, loc_func(d, st->location_indices[0]));
            tally_add(&t_flat, key, v);
        }
        char linkid[80] = "";
        if (s->link_index > 0) {
            const Opentelemetry__Proto__Profiles__V1development__Link *l = d->link_table[s->link_index];
            char th[40], sh[20];
            if (l->trace_id.len == 16 && l->span_id.len == 8) {
                hex(&l->trace_id, th);
                hex(&l->span_id, sh);
                snprintf(linkid, sizeof linkid, "%s %s", th, sh);
            }
        }
        if (tname) {
            snprintf(key, sizeof key, "%s %s", type, tname);
            tally_add(&t_thread, key, v);
        }
        /* inclusive: each function once per sample */
        for (size_t j = 0; j < st->n_location_indices; j++) {
            const char *fn = loc_func(d, st->location_indices[j]);
            bool seen = false;
            for (size_t k = 0; k < j && !seen; k++)
                seen = strcmp(loc_func(d, st->location_indices[k]), fn) == 0;
            if (seen) continue;
            snprintf(key, sizeof key, "%s %s", type, fn);
            tally_add(&t_incl, key, v);
            if (linkid[0]) {
                snprintf(key, sizeof key, "%s %s %s", type, linkid, fn);
                tally_add(&t_link, key, v);
            } else {
                snprintf(key, sizeof key, "%s %s", type, fn);
                tally_add(&t_nolink, key, v);
            }
        }
    }
}

static void print_any(const any_t *v)
{
    if (!v) return;
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        printf("%s", v->string_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        printf("%lld", (long long)v->int_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        printf("%s", v->bool_value ? "true" : "false");
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
        printf("[");
        for (size_t i = 0; v->array_value && i < v->array_value->n_values; i++) {
            if (i) printf("|");
            print_any(v->array_value->values[i]);
        }
        printf("]");
        break;
    default:
        printf("<type %d>", (int)v->value_case);
    }
}

int main(int argc, char **argv)
{
    bool quiet = false;
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "-q") == 0) {
        quiet = true;
        first = 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: otlp_check [-q] FILE...\n");
        return 2;
    }
    req_t *last = NULL;
    uint8_t *last_buf = NULL;
    size_t nreq = 0, nmap = 0, nbuild = 0, nloc = 0, nloc_native = 0;
    for (int a = first; a < argc; a++) {
        cur_file = argv[a];
        int bad_before = nbad;
        size_t len = 0;
        uint8_t *raw = read_all(argv[a], &len);
        if (!raw) {
            bad("cannot read (%s)", strerror(errno));
            continue;
        }
        uint8_t *buf = raw;
        if (len >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
            size_t ulen = 0;
            buf = gunzip(raw, len, &ulen);
            free(raw);
            if (!buf) {
                bad("gzip data is corrupt");
                continue;
            }
            len = ulen;
        }
        req_t *r = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(
            NULL, len, buf);
        if (!r) {
            bad("does not decode as ExportProfilesServiceRequest");
            free(buf);
            continue;
        }
        nreq++;
        /* The agent writes the wire format itself (agent/pbwrite.h): it
         * must be the bytes protobuf-c packs for the same request. */
        size_t plen = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__get_packed_size(r);
        uint8_t *again = malloc(plen ? plen : 1);
        if (again) {
            opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__pack(r, again);
            if (plen != len || memcmp(again, buf, len) != 0)
                bad("not the bytes protobuf-c packs for it (%zu bytes, protobuf-c %zu)", len, plen);
            free(again);
        }
        const dict_t *d = r->dictionary;
        check_dict(d);
        if (d) check_dups(d);
        if (r->n_resource_profiles == 0) bad("no resource_profiles");
        for (size_t i = 0; d && i < r->n_resource_profiles; i++) {
            const Opentelemetry__Proto__Profiles__V1development__ResourceProfiles *rp = r->resource_profiles[i];
            for (size_t j = 0; j < rp->n_scope_profiles; j++)
                for (size_t k = 0; k < rp->scope_profiles[j]->n_profiles; k++)
                    check_profile(d, rp->scope_profiles[j]->profiles[k], k);
        }
        if (d) {
            const char *bkey = "process.executable.build_id.gnu";
            for (size_t i = 1; i < d->n_mapping_table; i++) {
                nmap++;
                const Opentelemetry__Proto__Profiles__V1development__Mapping *m = d->mapping_table[i];
                for (size_t j = 0; j < m->n_attribute_indices; j++) {
                    if (!idx_ok(m->attribute_indices[j], d->n_attribute_table)) continue;
                    const char *k = str(d, d->attribute_table[m->attribute_indices[j]]->key_strindex);
                    if (strcmp(k, bkey) == 0) nbuild++;
                    const any_t *hv = d->attribute_table[m->attribute_indices[j]]->value;
                    if (!quiet && strcmp(k, "process.executable.build_id.htlhash") == 0 && hv &&
                        hv->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
                        printf("htlhash %s %s\n", str(d, m->filename_strindex), hv->string_value);
                }
            }
            for (size_t i = 1; i < d->n_location_table; i++) {
                nloc++;
                const Opentelemetry__Proto__Profiles__V1development__Location *l = d->location_table[i];
                for (size_t j = 0; j < l->n_attribute_indices; j++) {
                    if (!idx_ok(l->attribute_indices[j], d->n_attribute_table)) continue;
                    const Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit *at =
                        d->attribute_table[l->attribute_indices[j]];
                    if (strcmp(str(d, at->key_strindex), "profile.frame.type") == 0 && at->value &&
                        at->value->value_case ==
                            OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE &&
                        strcmp(at->value->string_value, "native") == 0)
                        nloc_native++;
                }
            }
        }
        if (nbad == bad_before) printf("ok %s\n", argv[a]);
        if (last) {
            opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(last, NULL);
            free(last_buf);
        }
        last = r;
        last_buf = buf;
    }
    if (!quiet) {
        printf("requests %zu\n", nreq);
        if (last && last->n_resource_profiles) {
            const Opentelemetry__Proto__Profiles__V1development__ResourceProfiles *rp = last->resource_profiles[0];
            for (size_t i = 0; rp->resource && i < rp->resource->n_attributes; i++) {
                printf("resource %s=", rp->resource->attributes[i]->key);
                print_any(rp->resource->attributes[i]->value);
                printf("\n");
            }
            for (size_t j = 0; j < rp->n_scope_profiles; j++)
                if (rp->scope_profiles[j]->scope)
                    printf("scope %s %s\n", rp->scope_profiles[j]->scope->name,
                           rp->scope_profiles[j]->scope->version);
        }
        for (size_t i = 0; i < t_profile.n; i++) printf("profile %s\n", t_profile.e[i].key);
        for (size_t i = 0; i < t_total.n; i++) printf("total %s %.0f\n", t_total.e[i].key, t_total.e[i].v);
        for (size_t i = 0; i < t_flat.n; i++) {
            char type[256];
            sscanf(t_flat.e[i].key, "%255s", type);
            double tot = 0;
            for (size_t k = 0; k < t_total.n; k++)
                if (strcmp(t_total.e[k].key, type) == 0) tot = t_total.e[k].v;
            printf("flat %s %.1f\n", t_flat.e[i].key, tot > 0 ? 100.0 * t_flat.e[i].v / tot : 0.0);
        }
        for (size_t i = 0; i < t_incl.n; i++) {
            char type[256];
            sscanf(t_incl.e[i].key, "%255s", type);
            double tot = 0;
            for (size_t k = 0; k < t_total.n; k++)
                if (strcmp(t_total.e[k].key, type) == 0) tot = t_total.e[k].v;
            printf("incl %s %.1f\n", t_incl.e[i].key, tot > 0 ? 100.0 * t_incl.e[i].v / tot : 0.0);
        }
        for (size_t i = 0; i < t_link.n; i++) printf("link %s %.0f\n", t_link.e[i].key, t_link.e[i].v);
        for (size_t i = 0; i < t_nolink.n; i++)
            printf("nolink %s %.0f\n", t_nolink.e[i].key, t_nolink.e[i].v);
        for (size_t i = 0; i < t_thread.n; i++)
            printf("thread %s %.0f\n", t_thread.e[i].key, t_thread.e[i].v);
        printf("mappings %zu build_id %zu\n", nmap, nbuild);
        printf("frame_type native %zu/%zu\n", nloc_native, nloc);
        for (size_t i = 0; i < t_orig.n; i++) printf("original %s\n", t_orig.e[i].key);
    }
    if (last) {
        opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(last, NULL);
        free(last_buf);
    }
    return nbad ? 1 : 0;
}
