/*
 * Merging builds fresh tables keyed by content (otp_intern), so the input
 * ids, which the agent numbers per file, never need to agree.
 */
#include "merge.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intern.h"

typedef Perftools__Profiles__ValueType pb_vtype_t;
typedef Perftools__Profiles__Sample pb_sample_t;
typedef Perftools__Profiles__Label pb_label_t;
typedef Perftools__Profiles__Mapping pb_mapping_t;
typedef Perftools__Profiles__Location pb_location_t;
typedef Perftools__Profiles__Line pb_line_t;
typedef Perftools__Profiles__Function pb_function_t;

/* The built profile and what owns its memory; prof comes first so a
 * pb_prof_t pointer is the whole. */
typedef struct merged {
    pb_prof_t prof;
    otp_intern_t strs, maps, funcs, locs, samples;
    size_t strs_cap, maps_cap, funcs_cap, locs_cap, samples_cap;
    size_t nv;
    bool *snapshot;   /* per value index */
    bool have_last;   /* a profile has given the snapshot values */
    int64_t last_time; /* its time_nanos */
    const char *last_name;
    int64_t t0, t1;   /* the inputs' earliest start and latest end */
    size_t ninputs;
    bool oom;
} merged_t;

/* Grows the array arr (capacity cap) to hold index n; false when out of
 * memory. A macro, so each table keeps its own element type. */
#define RESERVE(arr, cap, n) otp_grow_to((void **)&(arr), &(cap), (size_t)(n), sizeof *(arr))

/* One output table of messages (mappings, functions, locations): interns
 * key into t and, for a new key, puts a copy of tmpl (the message's
 * initial value, size bytes) in (*arr)[i], growing arr, with *n = i + 1.
 * Returns i, *fresh set to the new message or NULL for a known key; -1
 * (m->oom set) when out of memory. */
static int64_t intern_msg(merged_t *m, otp_intern_t *t, const void *key, size_t klen, void ***arr,
                          size_t *cap, size_t *n, const void *tmpl, size_t size, void **fresh)
{
    *fresh = NULL;
    int added;
    int64_t i = otp_intern(t, key, klen, &added);
    if (i < 0 || (added && !otp_grow_to((void **)arr, cap, (size_t)i, sizeof **arr))) {
        m->oom = true;
        return -1;
    }
    if (!added)
        return i;
    void *o = malloc(size);
    if (!o) {
        m->oom = true;
        return -1;
    }
    memcpy(o, tmpl, size);
    (*arr)[i] = o;
    *n = (size_t)i + 1;
    *fresh = o;
    return i;
}

bool otp_merge_is_snapshot(const char *type)
{
    return strncmp(type, "inuse_", 6) == 0;
}

static int64_t str_idx(merged_t *m, const char *s)
{
    int added;
    int64_t i = otp_intern(&m->strs, s, strlen(s), &added);
    if (i < 0) {
        m->oom = true;
        return 0;
    }
    if (added) {
        if (!RESERVE(m->prof.string_table, m->strs_cap, i)) {
            m->oom = true;
            return 0;
        }
        m->prof.string_table[i] = m->strs.keys[i];
        m->prof.n_string_table = (size_t)i + 1;
    }
    return i;
}

/* Table sizes live in the intern tables; the n_* fields are set at the end. */
static uint64_t add_mapping(merged_t *m, const pb_mapping_t *in, const int64_t *smap,
                            size_t nstr)
{
    int64_t key[5] = { (int64_t)in->memory_start, (int64_t)in->memory_limit,
                       (int64_t)in->file_offset,
                       in->filename >= 0 && (size_t)in->filename < nstr ? smap[in->filename] : 0,
                       in->build_id >= 0 && (size_t)in->build_id < nstr ? smap[in->build_id] : 0 };
    static const pb_mapping_t init = PERFTOOLS__PROFILES__MAPPING__INIT;
    void *fresh;
    int64_t i = intern_msg(m, &m->maps, key, sizeof key, (void ***)&m->prof.mapping, &m->maps_cap,
                           &m->prof.n_mapping, &init, sizeof init, &fresh);
    if (i < 0)
        return 0;
    if (fresh) {
        pb_mapping_t *o = fresh;
        o->id = (uint64_t)i + 1;
        o->memory_start = in->memory_start;
        o->memory_limit = in->memory_limit;
        o->file_offset = in->file_offset;
        o->filename = key[3];
        o->build_id = key[4];
    }
    /* A later interval may carry more (lines symbolized late). */
    pb_mapping_t *o = m->prof.mapping[i];
    o->has_functions |= in->has_functions;
    o->has_filenames |= in->has_filenames;
    o->has_line_numbers |= in->has_line_numbers;
    o->has_inline_frames |= in->has_inline_frames;
    return (uint64_t)i + 1;
}

static uint64_t add_function(merged_t *m, const pb_function_t *in, const int64_t *smap,
                             size_t nstr)
{
#define S(f) ((f) >= 0 && (size_t)(f) < nstr ? smap[f] : 0)
    int64_t key[4] = { S(in->name), S(in->system_name), S(in->filename), in->start_line };
#undef S
    static const pb_function_t init = PERFTOOLS__PROFILES__FUNCTION__INIT;
    void *fresh;
    int64_t i = intern_msg(m, &m->funcs, key, sizeof key, (void ***)&m->prof.function, &m->funcs_cap,
                           &m->prof.n_function, &init, sizeof init, &fresh);
    if (i < 0)
        return 0;
    if (fresh) {
        pb_function_t *o = fresh;
        o->id = (uint64_t)i + 1;
        o->name = key[0];
        o->system_name = key[1];
        o->filename = key[2];
        o->start_line = key[3];
    }
    return (uint64_t)i + 1;
}

/* Input id -> output id, for one input table. */
typedef struct idmap {
    otp_intern_t ids;
    uint64_t *out;
} idmap_t;

static uint64_t idmap_get(const idmap_t *im, uint64_t id)
{
    int64_t i = otp_intern_find(&im->ids, &id, sizeof id);
    return i < 0 ? 0 : im->out[i];
}

static bool idmap_put(idmap_t *im, size_t n_hint, uint64_t id, uint64_t out)
{
    if (!im->out && !(im->out = calloc(n_hint ? n_hint : 1, sizeof *im->out)))
        return false;
    int64_t i = otp_intern(&im->ids, &id, sizeof id, NULL);
    if (i < 0 || (size_t)i >= (n_hint ? n_hint : 1))
        return i >= 0; /* a duplicate id: the first one wins */
    im->out[i] = out;
    return true;
}

static void idmap_fini(idmap_t *im)
{
    otp_intern_fini(&im->ids);
    free(im->out);
}

static uint64_t add_location(merged_t *m, const pb_location_t *in, uint64_t mapping_id,
                             const idmap_t *funcs)
{
    size_t klen = 3 + 2 * in->n_line;
    uint64_t stackkey[3 + 2 * 16], *key = klen <= 3 + 2 * 16 ? stackkey : malloc(klen * 8);
    if (!key) {
        m->oom = true;
        return 0;
    }
    key[0] = mapping_id;
    key[1] = in->address;
    key[2] = in->is_folded;
    for (size_t j = 0; j < in->n_line; j++) {
        key[3 + 2 * j] = idmap_get(funcs, in->line[j]->function_id);
        key[4 + 2 * j] = (uint64_t)in->line[j]->line;
    }
    static const pb_location_t init = PERFTOOLS__PROFILES__LOCATION__INIT;
    void *fresh;
    int64_t i = intern_msg(m, &m->locs, key, klen * 8, (void ***)&m->prof.location, &m->locs_cap,
                           &m->prof.n_location, &init, sizeof init, &fresh);
    uint64_t id = i < 0 ? 0 : (uint64_t)i + 1;
    if (!fresh)
        goto out;
    pb_location_t *o = fresh;
    pb_line_t *lines = malloc((in->n_line ? in->n_line : 1) * sizeof *lines);
    pb_line_t **lp = malloc((in->n_line ? in->n_line : 1) * sizeof *lp);
    if (!lines || !lp) {
        free(lines);
        free(lp);
        m->oom = true;
        id = 0;
        goto out;
    }
    o->id = id;
    o->mapping_id = mapping_id;
    o->address = in->address;
    o->is_folded = in->is_folded;
    for (size_t j = 0; j < in->n_line; j++) {
        perftools__profiles__line__init(&lines[j]);
        lines[j].function_id = key[3 + 2 * j];
        lines[j].line = (int64_t)key[4 + 2 * j];
        lines[j].column = in->line[j]->column;
        lp[j] = &lines[j];
    }
    if (!in->n_line)
        free(lines);
    o->line = lp;
    o->n_line = in->n_line;
out:
    if (key != stackkey)
        free(key);
    return id;
}

static void add_sample(merged_t *m, const pb_sample_t *in, const int64_t *vals,
                       const idmap_t *locs, const int64_t *smap, size_t nstr)
{
    size_t klen = 2 + in->n_location_id + 4 * in->n_label;
    int64_t *key = malloc(klen * sizeof *key);
    if (!key) {
        m->oom = true;
        return;
    }
    size_t k = 0;
    key[k++] = (int64_t)in->n_location_id;
    for (size_t j = 0; j < in->n_location_id; j++)
        key[k++] = (int64_t)idmap_get(locs, in->location_id[j]);
    key[k++] = (int64_t)in->n_label;
#define S(f) ((f) >= 0 && (size_t)(f) < nstr ? smap[f] : 0)
    for (size_t j = 0; j < in->n_label; j++) {
        key[k++] = S(in->label[j]->key);
        key[k++] = S(in->label[j]->str);
        key[k++] = in->label[j]->num;
        key[k++] = S(in->label[j]->num_unit);
    }
#undef S
    int added;
    int64_t i = otp_intern(&m->samples, key, klen * sizeof *key, &added);
    if (i < 0 || (added && !RESERVE(m->prof.sample, m->samples_cap, i))) {
        m->oom = true;
        free(key);
        return;
    }
    if (added) {
        pb_sample_t *o = malloc(sizeof *o);
        uint64_t *lids = malloc((in->n_location_id ? in->n_location_id : 1) * sizeof *lids);
        int64_t *v = calloc(m->nv, sizeof *v);
        pb_label_t *labels = malloc((in->n_label ? in->n_label : 1) * sizeof *labels);
        pb_label_t **lp = malloc((in->n_label ? in->n_label : 1) * sizeof *lp);
        if (!o || !lids || !v || !labels || !lp) {
            free(o);
            free(lids);
            free(v);
            free(labels);
            free(lp);
            m->oom = true;
            free(key);
            return;
        }
        perftools__profiles__sample__init(o);
        for (size_t j = 0; j < in->n_location_id; j++)
            lids[j] = (uint64_t)key[1 + j];
        k = 2 + in->n_location_id;
        for (size_t j = 0; j < in->n_label; j++, k += 4) {
            perftools__profiles__label__init(&labels[j]);
            labels[j].key = key[k];
            labels[j].str = key[k + 1];
            labels[j].num = key[k + 2];
            labels[j].num_unit = key[k + 3];
            lp[j] = &labels[j];
        }
        o->location_id = lids;
        o->n_location_id = in->n_location_id;
        o->value = v;
        o->n_value = m->nv;
        if (!in->n_label)
            free(labels);
        o->label = lp;
        o->n_label = in->n_label;
        m->prof.sample[i] = o;
        m->prof.n_sample = (size_t)i + 1;
    }
    free(key);
    for (size_t j = 0; j < m->nv; j++)
        m->prof.sample[i]->value[j] += vals[j];
}

static void add_profile(merged_t *m, const pb_prof_t *p, bool is_last)
{
    size_t nstr = p->n_string_table;
    int64_t *smap = malloc((nstr ? nstr : 1) * sizeof *smap);
    int64_t *vals = malloc(m->nv * sizeof *vals);
    idmap_t maps = {0}, funcs = {0}, locs = {0};
    if (!smap || !vals) {
        m->oom = true;
        goto out;
    }
    for (size_t i = 0; i < nstr && !m->oom; i++)
        smap[i] = str_idx(m, p->string_table[i] ? p->string_table[i] : "");
    for (size_t i = 0; i < p->n_mapping && !m->oom; i++)
        if (!idmap_put(&maps, p->n_mapping, p->mapping[i]->id,
                       add_mapping(m, p->mapping[i], smap, nstr)))
            m->oom = true;
    for (size_t i = 0; i < p->n_function && !m->oom; i++)
        if (!idmap_put(&funcs, p->n_function, p->function[i]->id,
                       add_function(m, p->function[i], smap, nstr)))
            m->oom = true;
    for (size_t i = 0; i < p->n_location && !m->oom; i++) {
        const pb_location_t *l = p->location[i];
        uint64_t mid = l->mapping_id ? idmap_get(&maps, l->mapping_id) : 0;
        if (!idmap_put(&locs, p->n_location, l->id, add_location(m, l, mid, &funcs)))
            m->oom = true;
    }
    for (size_t i = 0; i < p->n_sample && !m->oom; i++) {
        const pb_sample_t *s = p->sample[i];
        bool any = false;
        for (size_t j = 0; j < m->nv; j++) {
            vals[j] = j < s->n_value && (is_last || !m->snapshot[j]) ? s->value[j] : 0;
            any |= vals[j] != 0;
        }
        if (any)
            add_sample(m, s, vals, &locs, smap, nstr);
    }
out:
    free(smap);
    free(vals);
    idmap_fini(&maps);
    idmap_fini(&funcs);
    idmap_fini(&locs);
}

static bool same_types(const pb_prof_t *a, const pb_prof_t *b)
{
    if (a->n_sample_type != b->n_sample_type)
        return false;
    for (size_t i = 0; i < a->n_sample_type; i++)
        if (strcmp(otp_pprof_str(a, a->sample_type[i]->type),
                   otp_pprof_str(b, b->sample_type[i]->type)) != 0 ||
            strcmp(otp_pprof_str(a, a->sample_type[i]->unit),
                   otp_pprof_str(b, b->sample_type[i]->unit)) != 0)
            return false;
    return true;
}

static pb_vtype_t *new_vtype(merged_t *m, const pb_prof_t *p, const pb_vtype_t *in)
{
    pb_vtype_t *o = malloc(sizeof *o);
    if (!o) {
        m->oom = true;
        return NULL;
    }
    perftools__profiles__value_type__init(o);
    o->type = str_idx(m, otp_pprof_str(p, in->type));
    o->unit = str_idx(m, otp_pprof_str(p, in->unit));
    return o;
}

/* A later snapshot replaces the earlier one: the snapshot values kept so
 * far go to zero before the new profile's are added. */
static void drop_snapshot_values(merged_t *m)
{
    for (size_t i = 0; i < m->prof.n_sample; i++)
        for (size_t j = 0; j < m->nv; j++)
            if (m->snapshot[j])
                m->prof.sample[i]->value[j] = 0;
}

/* The comments of the last snapshot describe the run's end (leaks still
 * suspected, the overhead so far). */
static void take_comments(merged_t *m, const pb_prof_t *p)
{
    int64_t *c = realloc(m->prof.comment, (p->n_comment + 2) * sizeof *c);
    if (!c) {
        m->oom = true;
        return;
    }
    m->prof.comment = c;
    m->prof.n_comment = 0;
    for (size_t i = 0; i < p->n_comment && !m->oom; i++)
        c[m->prof.n_comment++] = str_idx(m, otp_pprof_str(p, p->comment[i]));
}

/* The merge's frame: sample types, period and such from the first input. */
static merged_t *merge_new(const pb_prof_t *first)
{
    merged_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    perftools__profiles__profile__init(&m->prof);
    pb_prof_t *o = &m->prof;
    str_idx(m, ""); /* string 0 is always "" */
    m->nv = first->n_sample_type;
    m->snapshot = calloc(m->nv ? m->nv : 1, sizeof *m->snapshot);
    o->sample_type = calloc(m->nv ? m->nv : 1, sizeof *o->sample_type);
    if (!m->snapshot || !o->sample_type)
        m->oom = true;
    for (size_t j = 0; j < m->nv && !m->oom; j++) {
        o->sample_type[j] = new_vtype(m, first, first->sample_type[j]);
        o->n_sample_type = j + 1;
        m->snapshot[j] = otp_merge_is_snapshot(otp_pprof_str(first, first->sample_type[j]->type));
    }
    if (first->period_type && !m->oom)
        o->period_type = new_vtype(m, first, first->period_type);
    o->period = first->period;
    o->default_sample_type = first->default_sample_type
                                 ? str_idx(m, otp_pprof_str(first, first->default_sample_type))
                                 : 0;
    o->drop_frames = first->drop_frames ? str_idx(m, otp_pprof_str(first, first->drop_frames)) : 0;
    o->keep_frames = first->keep_frames ? str_idx(m, otp_pprof_str(first, first->keep_frames)) : 0;
    return m;
}

/* Adds one input; the latest time_nanos so far (the later input on a tie)
 * gives the snapshot values. */
static void merge_add(merged_t *m, const pb_prof_t *p, const char *name)
{
    bool last = !m->have_last || p->time_nanos >= m->last_time;
    if (last) {
        drop_snapshot_values(m);
        m->have_last = true;
        m->last_time = p->time_nanos;
        m->last_name = name;
        take_comments(m, p);
    }
    add_profile(m, p, last);
    if (p->time_nanos && (!m->t0 || p->time_nanos < m->t0))
        m->t0 = p->time_nanos;
    if (p->time_nanos + p->duration_nanos > m->t1)
        m->t1 = p->time_nanos + p->duration_nanos;
    m->ninputs++;
}

/* Samples left with no value (an earlier snapshot's) are dropped. */
static void merge_finish(merged_t *m)
{
    pb_prof_t *o = &m->prof;
    size_t k = 0;
    for (size_t i = 0; i < o->n_sample; i++) {
        pb_sample_t *s = o->sample[i];
        bool any = false;
        for (size_t j = 0; j < m->nv; j++)
            any |= s->value[j] != 0;
        if (any) {
            o->sample[k++] = s;
            continue;
        }
        free(s->location_id);
        free(s->value);
        if (s->n_label)
            free(s->label[0]);
        free(s->label);
        free(s);
    }
    o->n_sample = k;
    o->time_nanos = m->t0;
    o->duration_nanos = m->t1 > m->t0 ? m->t1 - m->t0 : 0;
    if (m->ninputs > 1 && !m->oom) {
        char note[512];
        snprintf(note, sizeof note,
                 "otprof merge: %zu profiles; counters summed, inuse_* from the last snapshot (%s)",
                 m->ninputs, m->last_name);
        m->prof.comment[m->prof.n_comment++] = str_idx(m, note);
    }
}

static bool same_types_as(const merged_t *m, const pb_prof_t *p, const char *name,
                          const char *first_name)
{
    if (same_types(&m->prof, p))
        return true;
    char a[256], b[256];
    otp_pprof_type_list(&m->prof, a, sizeof a);
    otp_pprof_type_list(p, b, sizeof b);
    fprintf(stderr,
            "otprof: %s: its sample types (%s) differ from %s's (%s): profiles of "
            "different kinds cannot be merged\n", name, b, first_name, a);
    return false;
}

void otp_merge_free(pb_prof_t *p)
{
    if (!p)
        return;
    merged_t *m = (merged_t *)p;
    for (size_t i = 0; i < p->n_sample_type; i++)
        free(p->sample_type[i]);
    free(p->sample_type);
    free(p->period_type);
    for (size_t i = 0; i < p->n_mapping; i++)
        free(p->mapping[i]);
    free(p->mapping);
    for (size_t i = 0; i < p->n_function; i++)
        free(p->function[i]);
    free(p->function);
    for (size_t i = 0; i < p->n_location; i++) {
        if (p->location[i]->n_line)
            free(p->location[i]->line[0]);
        free(p->location[i]->line);
        free(p->location[i]);
    }
    free(p->location);
    for (size_t i = 0; i < p->n_sample; i++) {
        pb_sample_t *s = p->sample[i];
        free(s->location_id);
        free(s->value);
        if (s->n_label)
            free(s->label[0]);
        free(s->label);
        free(s);
    }
    free(p->sample);
    free(p->comment);
    free(p->string_table);
    otp_intern_fini(&m->strs);
    otp_intern_fini(&m->maps);
    otp_intern_fini(&m->funcs);
    otp_intern_fini(&m->locs);
    otp_intern_fini(&m->samples);
    free(m->snapshot);
    free(m);
}

pb_prof_t *otp_merge_files(char *const *files, size_t n)
{
    /* One input in memory at a time: a long run has thousands of files. */
    merged_t *m = NULL;
    for (size_t i = 0; i < n; i++) {
        pb_prof_t *p = otp_pprof_read(files[i]);
        if (!p)
            goto fail;
        if (!m && !(m = merge_new(p))) {
            otp_pprof_free(p);
            goto oom;
        }
        if (!same_types_as(m, p, files[i], files[0])) {
            otp_pprof_free(p);
            goto fail;
        }
        merge_add(m, p, files[i]);
        otp_pprof_free(p);
        if (m->oom)
            goto oom;
    }
    if (!m)
        return NULL;
    merge_finish(m);
    if (m->oom)
        goto oom;
    return &m->prof;
oom:
    fputs("otprof: out of memory merging profiles\n", stderr);
fail:
    if (m)
        otp_merge_free(&m->prof);
    return NULL;
}

pb_prof_t *otp_merge_for(const char *cmd, const char *usage, char *const *files, int n,
                         const char *sample, int *vi)
{
    if (n <= 0) {
        fprintf(stderr, "otprof: %s: no profile given; usage: %s\n", cmd, usage);
        return NULL;
    }
    pb_prof_t *p = otp_merge_files(files, (size_t)n);
    if (!p)
        return NULL;
    *vi = otp_pprof_sample_index(p, sample);
    if (*vi < 0) {
        char types[512];
        otp_pprof_type_list(p, types, sizeof types);
        fprintf(stderr, "otprof: %s: %s has no sample type '%s' (it has: %s)\n", cmd, files[0], sample,
                types);
        otp_merge_free(p);
        return NULL;
    }
    return p;
}
