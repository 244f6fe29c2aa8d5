/*
 * pprof encoding: otp_profile_t -> perftools.profiles.Profile bytes, and
 * gzip for the file sink.
 *
 * One encode builds flat, otp_malloc'd arrays of protobuf-c structs and
 * de-duplicates with small open-addressing tables: addresses -> locations,
 * strings -> string_table indices, and per string a function id, so a
 * function is one string lookup. Every distinct address is symbolized
 * once. Flusher thread only; not signal-safe.
 */
#include "pprof.h"
#include "sys.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"
#include "mem.h"
#include "strtab.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile pb_profile_t;
typedef Perftools__Profiles__ValueType pb_vtype_t;
typedef Perftools__Profiles__Sample pb_sample_t;
typedef Perftools__Profiles__Label pb_label_t;
typedef Perftools__Profiles__Mapping pb_mapping_t;
typedef Perftools__Profiles__Location pb_location_t;
typedef Perftools__Profiles__Line pb_line_t;
typedef Perftools__Profiles__Function pb_function_t;

#define OTP_PPROF_MAX_LABELS 5

/* A location before it becomes a protobuf struct: its lines are
 * lines[line0 .. line0 + nlines), innermost inline frame first. */
typedef struct loc_rec {
    uint64_t addr;
    uint32_t mapping_id, line0, nlines;
} loc_rec_t;

typedef struct line_rec {
    uint32_t function_id;
    int64_t line;
} line_rec_t;

/* A function is its name, system name, file and first line. */
typedef struct func_rec {
    int64_t name, system_name, filename, start_line;
} func_rec_t;

/* What a mapping's locations carry (pprof's has_* fields). */
enum { MAP_FN = 1, MAP_FILE = 2, MAP_LINE = 4, MAP_INLINE = 8 };

typedef struct slot {
    uint64_t key; /* address, or string hash */
    uint32_t val; /* index + 1; 0 = empty */
} slot_t;

typedef struct table {
    slot_t *slots;
    size_t cap, n; /* cap: power of two */
} table_t;

typedef struct enc {
    const otp_profile_t *p;
    otp_symbolizer_t *sym;
    size_t nv; /* values per sample: min(p->nvalues, known types) */
    bool oom;
    otp_strtab_t st;
    /* locations, functions, mappings */
    table_t loc_tab;
    loc_rec_t *locs;
    size_t nlocs, cap_locs;
    line_rec_t *lrecs;
    size_t nlrecs, cap_lrecs;
    table_t func_tab;    /* hash of a func_rec -> function id */
    func_rec_t *funcs;
    size_t nfuncs, cap_funcs;
    uint32_t *map_ids;   /* symbolizer mapping index -> pprof id */
    size_t nmap_ids;
    int *map_src;        /* pprof id - 1 -> symbolizer mapping index */
    uint8_t *map_flags;  /* MAP_* per pprof id - 1 */
    size_t nmaps;
    /* samples, built in place */
    pb_sample_t *samples;
    pb_sample_t **sample_ptrs;
    uint64_t *loc_ids;
    int64_t *values;
    pb_label_t *labels;
    pb_label_t **label_ptrs;
    /* label keys */
    int64_t k_tid, k_tname, k_trace, k_span, k_bytes;
    const char *last_tname;
    int64_t last_tname_idx;
} enc_t;

/* ---- growable arrays and hashing ---- */

static bool grow(enc_t *e, void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap * 2 : 256;
    while (nc < need) nc *= 2;
    void *na = otp_realloc(*arr, nc * elem);
    if (!na) {
        e->oom = true;
        return false;
    }
    *arr = na;
    *cap = nc;
    return true;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* Sized to what is expected, and grown from there: a short process's
 * profile of a few samples touches one page of each table, not four. */
static bool table_init(enc_t *e, table_t *t, size_t expect)
{
    t->cap = 64;
    while (t->cap < expect * 2) t->cap *= 2;
    t->n = 0;
    t->slots = otp_calloc(t->cap, sizeof(slot_t));
    if (!t->slots) e->oom = true;
    return t->slots != NULL;
}

/* Keeps the load factor at most 1/2 so probe chains stay short. */
static bool table_grow(enc_t *e, table_t *t, uint64_t (*rehash)(enc_t *, const slot_t *))
{
    if ((t->n + 1) * 2 <= t->cap) return true;
    size_t nc = t->cap * 2;
    slot_t *ns = otp_calloc(nc, sizeof(slot_t));
    if (!ns) {
        e->oom = true;
        return false;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].val) continue;
        size_t j = rehash(e, &t->slots[i]) & (nc - 1);
        while (ns[j].val) j = (j + 1) & (nc - 1);
        ns[j] = t->slots[i];
    }
    otp_free(t->slots);
    t->slots = ns;
    t->cap = nc;
    return true;
}

static uint64_t rehash_key(enc_t *e, const slot_t *s)
{
    (void)e;
    return mix64(s->key);
}

/* ---- strings ---- */

/* Index of s in the string table, adding it if new. `copy`: s does not
 * outlive the encode (stack buffer), so keep a private copy. */
static int64_t str_idx(enc_t *e, const char *s, bool copy)
{
    int64_t i = otp_strtab_add(&e->st, s, copy);
    if (e->st.oom) e->oom = true;
    return i;
}

/* ---- functions, mappings, locations ---- */

static uint64_t func_hash(const func_rec_t *f)
{
    return mix64(mix64(mix64((uint64_t)f->name ^ ((uint64_t)f->system_name << 32)) ^ (uint64_t)f->filename)
                 ^ (uint64_t)f->start_line);
}

static uint64_t rehash_func(enc_t *e, const slot_t *s)
{
    return func_hash(&e->funcs[s->val - 1]);
}

static uint32_t func_id(enc_t *e, const otp_frame_t *fr)
{
    func_rec_t f = {str_idx(e, fr->name, false), str_idx(e, fr->system_name, false), str_idx(e, fr->file, false),
                    fr->start_line};
    if (f.name == 0) return 0;
    uint64_t h = func_hash(&f);
    table_t *t = &e->func_tab;
    size_t j = h & (t->cap - 1);
    for (; t->slots[j].val; j = (j + 1) & (t->cap - 1))
        if (memcmp(&e->funcs[t->slots[j].val - 1], &f, sizeof f) == 0) return t->slots[j].val;
    if (!grow(e, (void **)&e->funcs, &e->cap_funcs, e->nfuncs + 1, sizeof(func_rec_t))) return 0;
    if (!table_grow(e, t, rehash_func)) return 0;
    e->funcs[e->nfuncs++] = f;
    j = h & (t->cap - 1);
    while (t->slots[j].val) j = (j + 1) & (t->cap - 1);
    t->slots[j] = (slot_t){h, (uint32_t)e->nfuncs};
    t->n++;
    return (uint32_t)e->nfuncs;
}

static uint32_t mapping_id(enc_t *e, int mi)
{
    if (mi < 0 || (size_t)mi >= e->nmap_ids) return 0;
    if (e->map_ids[mi]) return e->map_ids[mi];
    e->map_src[e->nmaps] = mi;
    e->map_flags[e->nmaps] = 0;
    return e->map_ids[mi] = (uint32_t)++e->nmaps;
}

static uint64_t loc_id(enc_t *e, uint64_t addr)
{
    table_t *t = &e->loc_tab;
    size_t j = mix64(addr) & (t->cap - 1);
    for (; t->slots[j].val; j = (j + 1) & (t->cap - 1))
        if (t->slots[j].key == addr) return t->slots[j].val;
    int mi = -1;
    otp_frame_t fr[OTP_SYM_MAX_FRAMES];
    int nf = otp_sym_frames(e->sym, addr, &mi, fr, OTP_SYM_MAX_FRAMES);
    uint32_t mid = mapping_id(e, mi);
    if (!grow(e, (void **)&e->lrecs, &e->cap_lrecs, e->nlrecs + (size_t)nf, sizeof(line_rec_t))) return 0;
    uint32_t line0 = (uint32_t)e->nlrecs;
    uint8_t flags = nf > 1 ? MAP_INLINE : 0;
    for (int i = 0; i < nf; i++) {
        uint32_t fid = func_id(e, &fr[i]);
        if (!fid) continue;
        e->lrecs[e->nlrecs++] = (line_rec_t){fid, fr[i].line};
        flags |= MAP_FN | (fr[i].file ? MAP_FILE : 0) | (fr[i].line ? MAP_LINE : 0);
    }
    if (mid) e->map_flags[mid - 1] |= flags;
    if (!grow(e, (void **)&e->locs, &e->cap_locs, e->nlocs + 1, sizeof(loc_rec_t))) return 0;
    if (!table_grow(e, t, rehash_key)) return 0;
    e->locs[e->nlocs++] = (loc_rec_t){addr, mid, line0, (uint32_t)e->nlrecs - line0};
    j = mix64(addr) & (t->cap - 1);
    while (t->slots[j].val) j = (j + 1) & (t->cap - 1);
    t->slots[j] = (slot_t){addr, (uint32_t)e->nlocs};
    t->n++;
    return e->nlocs;
}

/* ---- samples ---- */

static void hex(char *out, const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static pb_label_t *add_label(pb_sample_t *ps, pb_label_t *l, int64_t key)
{
    *l = (pb_label_t)PERFTOOLS__PROFILES__LABEL__INIT;
    l->key = key;
    ps->label[ps->n_label++] = l;
    return l;
}

static void sample_labels(enc_t *e, const otp_sample_t *s, pb_sample_t *ps, pb_label_t *l)
{
    add_label(ps, l++, e->k_tid)->num = s->tid;
    if (s->thread_name && *s->thread_name) {
        /* Consecutive samples usually share a thread: skip the hash. */
        if (s->thread_name != e->last_tname) {
            e->last_tname = s->thread_name;
            e->last_tname_idx = str_idx(e, s->thread_name, false);
        }
        add_label(ps, l++, e->k_tname)->str = e->last_tname_idx;
    }
    if (s->has_link) {
        char buf[33];
        hex(buf, s->trace_id, 16);
        add_label(ps, l++, e->k_trace)->str = str_idx(e, buf, true);
        hex(buf, s->span_id, 8);
        add_label(ps, l++, e->k_span)->str = str_idx(e, buf, true);
    }
    if (e->p->kind == OTP_PROFILE_HEAP) add_label(ps, l, e->k_bytes)->num = (int64_t)s->alloc_size;
}

static void encode_samples(enc_t *e)
{
    const otp_profile_t *p = e->p;
    size_t nv = e->nv, off = 0;
    for (size_t i = 0; i < p->nsamples && !e->oom; i++) {
        const otp_sample_t *s = &p->samples[i];
        pb_sample_t *ps = &e->samples[i];
        *ps = (pb_sample_t)PERFTOOLS__PROFILES__SAMPLE__INIT;
        ps->location_id = e->loc_ids + off;
        ps->n_location_id = s->npcs;
        /* Return addresses point after the call; minus one lands inside
         * it, so the caller's line and inlining resolve correctly. */
        for (uint32_t j = 0; j < s->npcs; j++) ps->location_id[j] = loc_id(e, j ? s->pcs[j] - 1 : s->pcs[j]);
        off += s->npcs;
        ps->value = e->values + i * nv;
        ps->n_value = nv;
        memcpy(ps->value, s->values, nv * sizeof(int64_t));
        ps->label = e->label_ptrs + i * OTP_PPROF_MAX_LABELS;
        sample_labels(e, s, ps, e->labels + i * OTP_PPROF_MAX_LABELS);
        e->sample_ptrs[i] = ps;
    }
}

static int alloc_samples(enc_t *e)
{
    const otp_profile_t *p = e->p;
    size_t total = 0, n = p->nsamples ? p->nsamples : 1;
    for (size_t i = 0; i < p->nsamples; i++) total += p->samples[i].npcs;
    e->samples = otp_malloc(n * sizeof(pb_sample_t));
    e->sample_ptrs = otp_malloc(n * sizeof(pb_sample_t *));
    e->loc_ids = otp_malloc((total ? total : 1) * sizeof(uint64_t));
    e->values = otp_malloc(n * e->nv * sizeof(int64_t));
    e->labels = otp_malloc(n * OTP_PPROF_MAX_LABELS * sizeof(pb_label_t));
    e->label_ptrs = otp_malloc(n * OTP_PPROF_MAX_LABELS * sizeof(pb_label_t *));
    size_t nm = otp_sym_mapping_count(e->sym);
    e->nmap_ids = nm;
    e->map_ids = otp_calloc(nm ? nm : 1, sizeof(uint32_t));
    e->map_src = otp_malloc((nm ? nm : 1) * sizeof(int));
    e->map_flags = otp_malloc(nm ? nm : 1);
    if (!e->samples || !e->sample_ptrs || !e->loc_ids || !e->values || !e->labels || !e->label_ptrs
        || !e->map_ids || !e->map_src || !e->map_flags)
        return -ENOMEM;
    /* Distinct addresses are far fewer than frames once stacks share
     * callers (10k stacks of 30 frames: 7.6k locations of 300k frames):
     * sized for the frames, the tables (4 and 2 MiB, zeroed, each page
     * touched by a probe) cost the encode more in page faults than all
     * its lookups. They grow (the load factor is kept at 1/2). */
    size_t exp_locs = total / 4 < 4096 ? total / 4 : 4096;
    if (otp_strtab_init(&e->st) != 0 || !table_init(e, &e->loc_tab, exp_locs + 64)
        || !table_init(e, &e->func_tab, exp_locs / 2 + 32))
        return -ENOMEM;
    return 0;
}

/* ---- assembling the Profile ---- */

/* Everything the final Profile points to beyond the per-sample arrays. */
typedef struct tables {
    pb_vtype_t vt[OTP_MAX_VALUES + 1];
    pb_vtype_t *vt_ptrs[OTP_MAX_VALUES];
    pb_mapping_t *maps;
    pb_mapping_t **map_ptrs;
    pb_location_t *locs;
    pb_location_t **loc_ptrs;
    pb_line_t *lines;
    pb_line_t **line_ptrs;
    pb_function_t *funcs;
    pb_function_t **func_ptrs;
    int64_t *comments;
} tables_t;

static void free_tables(tables_t *t)
{
    otp_free(t->maps);
    otp_free(t->map_ptrs);
    otp_free(t->locs);
    otp_free(t->loc_ptrs);
    otp_free(t->lines);
    otp_free(t->line_ptrs);
    otp_free(t->funcs);
    otp_free(t->func_ptrs);
    otp_free(t->comments);
}

static void build_mappings(enc_t *e, tables_t *t)
{
    for (size_t i = 0; i < e->nmaps; i++) {
        const otp_mapping_t *m = otp_sym_mapping(e->sym, (size_t)e->map_src[i]);
        pb_mapping_t *pm = &t->maps[i];
        *pm = (pb_mapping_t)PERFTOOLS__PROFILES__MAPPING__INIT;
        pm->id = i + 1;
        pm->memory_start = m->start;
        pm->memory_limit = m->limit;
        pm->file_offset = m->offset;
        pm->filename = str_idx(e, m->path, false);
        pm->build_id = str_idx(e, m->build_id, false);
        /* pprof reads has_* as "already symbolized this far": set each
         * only when this profile's locations in the mapping carry it. */
        pm->has_functions = (e->map_flags[i] & MAP_FN) != 0;
        pm->has_filenames = (e->map_flags[i] & MAP_FILE) != 0;
        pm->has_line_numbers = (e->map_flags[i] & MAP_LINE) != 0;
        pm->has_inline_frames = (e->map_flags[i] & MAP_INLINE) != 0;
        t->map_ptrs[i] = pm;
    }
}

/* pprof takes the first mapping for the main binary ("File:"): renumber
 * so that the executable's mapping, if used, is mapping 1. */
static void exe_first(enc_t *e)
{
    const char *exe = otp_exe_path();
    size_t k = 1;
    while (exe[0] && k < e->nmaps && strcmp(otp_sym_mapping(e->sym, (size_t)e->map_src[k])->path, exe) != 0)
        k++;
    if (!exe[0] || k >= e->nmaps)
        return;
    uint32_t a = 1, b = (uint32_t)k + 1;
    int src = e->map_src[0];
    e->map_src[0] = e->map_src[k];
    e->map_src[k] = src;
    uint8_t fl = e->map_flags[0];
    e->map_flags[0] = e->map_flags[k];
    e->map_flags[k] = fl;
    e->map_ids[e->map_src[0]] = a;
    e->map_ids[e->map_src[k]] = b;
    for (size_t i = 0; i < e->nlocs; i++) {
        uint32_t *m = &e->locs[i].mapping_id;
        *m = *m == a ? b : *m == b ? a : *m;
    }
}

static void build_locations(enc_t *e, tables_t *t)
{
    for (size_t i = 0; i < e->nlocs; i++) {
        pb_location_t *pl = &t->locs[i];
        *pl = (pb_location_t)PERFTOOLS__PROFILES__LOCATION__INIT;
        pl->id = i + 1;
        pl->mapping_id = e->locs[i].mapping_id;
        pl->address = e->locs[i].addr;
        const loc_rec_t *r = &e->locs[i];
        for (uint32_t k = r->line0; k < r->line0 + r->nlines; k++) {
            t->lines[k] = (pb_line_t)PERFTOOLS__PROFILES__LINE__INIT;
            t->lines[k].function_id = e->lrecs[k].function_id;
            t->lines[k].line = e->lrecs[k].line;
            t->line_ptrs[k] = &t->lines[k];
        }
        if (r->nlines) {
            pl->line = &t->line_ptrs[r->line0];
            pl->n_line = r->nlines;
        }
        t->loc_ptrs[i] = pl;
    }
    for (size_t i = 0; i < e->nfuncs; i++) {
        pb_function_t *pf = &t->funcs[i];
        *pf = (pb_function_t)PERFTOOLS__PROFILES__FUNCTION__INIT;
        pf->id = i + 1;
        pf->name = e->funcs[i].name;
        pf->system_name = e->funcs[i].system_name;
        pf->filename = e->funcs[i].filename;
        pf->start_line = e->funcs[i].start_line;
        t->func_ptrs[i] = pf;
    }
}

static void build_header(enc_t *e, tables_t *t, pb_profile_t *pp)
{
    const otp_profile_t *p = e->p;
    const otp_value_type_t *types = otp_profile_value_types(p->kind, NULL);
    int n = (int)e->nv;
    for (int i = 0; i < n; i++) {
        t->vt[i] = (pb_vtype_t)PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
        t->vt[i].type = str_idx(e, types[i].type, false);
        t->vt[i].unit = str_idx(e, types[i].unit, false);
        t->vt_ptrs[i] = &t->vt[i];
    }
    otp_value_type_t pt = otp_profile_period_type(p->kind);
    pb_vtype_t *pv = &t->vt[OTP_MAX_VALUES];
    *pv = (pb_vtype_t)PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
    pv->type = str_idx(e, pt.type, false);
    pv->unit = str_idx(e, pt.unit, false);
    pp->sample_type = t->vt_ptrs;
    pp->n_sample_type = (size_t)n;
    pp->period_type = pv;
    pp->period = p->period;
    pp->time_nanos = p->time_ns;
    pp->duration_nanos = p->duration_ns;
}

static void build_comments(enc_t *e, tables_t *t, pb_profile_t *pp)
{
    size_t n = 0;
    for (size_t i = 0; i < e->p->ncomments; i++)
        if (e->p->comments[i] && *e->p->comments[i]) t->comments[n++] = str_idx(e, e->p->comments[i], false);
    if (e->p->dropped) {
        char buf[64];
        snprintf(buf, sizeof(buf), "dropped %" PRIu64 " samples", e->p->dropped);
        t->comments[n++] = str_idx(e, buf, true);
    }
    pp->comment = t->comments;
    pp->n_comment = n;
}

static int alloc_tables(enc_t *e, tables_t *t)
{
    size_t nm = e->nmaps ? e->nmaps : 1, nl = e->nlocs ? e->nlocs : 1, nf = e->nfuncs ? e->nfuncs : 1;
    size_t nln = e->nlrecs ? e->nlrecs : 1;
    t->maps = otp_malloc(nm * sizeof(pb_mapping_t));
    t->map_ptrs = otp_malloc(nm * sizeof(pb_mapping_t *));
    t->locs = otp_malloc(nl * sizeof(pb_location_t));
    t->loc_ptrs = otp_malloc(nl * sizeof(pb_location_t *));
    t->lines = otp_malloc(nln * sizeof(pb_line_t));
    t->line_ptrs = otp_malloc(nln * sizeof(pb_line_t *));
    t->funcs = otp_malloc(nf * sizeof(pb_function_t));
    t->func_ptrs = otp_malloc(nf * sizeof(pb_function_t *));
    t->comments = otp_malloc((e->p->ncomments + 1) * sizeof(int64_t));
    bool ok = t->maps && t->map_ptrs && t->locs && t->loc_ptrs && t->lines && t->line_ptrs && t->funcs
              && t->func_ptrs && t->comments;
    return ok ? 0 : -ENOMEM;
}

static int pack(enc_t *e, uint8_t **out, size_t *len)
{
    tables_t t = {0};
    pb_profile_t pp = PERFTOOLS__PROFILES__PROFILE__INIT;
    int rc = alloc_tables(e, &t);
    if (rc == 0) {
        build_header(e, &t, &pp);
        build_comments(e, &t, &pp);
        exe_first(e);
        build_mappings(e, &t); /* adds strings: before string_table is set */
        build_locations(e, &t);
        rc = e->oom ? -ENOMEM : 0;
    }
    if (rc == 0) {
        pp.sample = e->sample_ptrs;
        pp.n_sample = e->p->nsamples;
        pp.mapping = t.map_ptrs;
        pp.n_mapping = e->nmaps;
        pp.location = t.loc_ptrs;
        pp.n_location = e->nlocs;
        pp.function = t.func_ptrs;
        pp.n_function = e->nfuncs;
        pp.string_table = (char **)e->st.strs; /* packing only reads them */
        pp.n_string_table = e->st.n;
        size_t n = perftools__profiles__profile__get_packed_size(&pp);
        *out = otp_malloc(n ? n : 1);
        if (*out)
            *len = perftools__profiles__profile__pack(&pp, *out);
        else
            rc = -ENOMEM;
    }
    free_tables(&t);
    return rc;
}

static void enc_free(enc_t *e)
{
    otp_strtab_free(&e->st);
    void *arrays[] = {e->loc_tab.slots, e->func_tab.slots, e->locs, e->lrecs, e->funcs,
                      e->map_ids, e->map_src, e->map_flags, e->samples, e->sample_ptrs, e->loc_ids,
                      e->values, e->labels, e->label_ptrs};
    for (size_t i = 0; i < OTP_ARRAY_LEN(arrays); i++) otp_free(arrays[i]);
}

int otp_pprof_encode(const otp_profile_t *p, otp_symbolizer_t *sym, uint8_t **out, size_t *len)
{
    if (!p || !out || !len || p->nvalues < 1 || p->nvalues > OTP_MAX_VALUES) return -EINVAL;
    enc_t e = {.p = p, .sym = sym};
    *out = NULL;
    *len = 0;
    int ntypes = 0;
    otp_profile_value_types(p->kind, &ntypes);
    e.nv = (size_t)(p->nvalues < ntypes ? p->nvalues : ntypes);
    int rc = alloc_samples(&e);
    if (rc == 0) {
        /* (string_table[0] == "", as pprof requires, is the table's own) */
        e.k_tid = str_idx(&e, "thread_id", false);
        e.k_tname = str_idx(&e, "thread_name", false);
        e.k_trace = str_idx(&e, "trace_id", false);
        e.k_span = str_idx(&e, "span_id", false);
        e.k_bytes = str_idx(&e, "bytes", false);
        encode_samples(&e);
    }
    if (rc == 0) rc = e.oom ? -ENOMEM : pack(&e, out, len);
    enc_free(&e);
    return rc;
}

/* ---- gzip ---- */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size && items > SIZE_MAX / size) return Z_NULL;
    return otp_malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    otp_free(p);
}

int otp_gzip(const uint8_t *buf, size_t len, uint8_t **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    *out = NULL;
    *outlen = 0;
    if (len > UINT32_MAX) return -EFBIG;
    /* Fastest level, like Go's runtime/pprof: the flusher shares the
     * app's CPUs and profiles are small. The window and hash table are
     * sized to the input: at zlib's defaults every call allocates and
     * zeroes 256 KiB, most of what a short process's exit costs for a
     * profile of a few KB. +16: gzip wrapper. */
    int wbits = 9;
    while (wbits < 15 && ((size_t)1 << wbits) < len) wbits++;
    if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, wbits + 16, wbits - 7, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    uLong cap = deflateBound(&zs, (uLong)len);
    uint8_t *dst = otp_malloc(cap);
    int rc = -ENOMEM;
    if (dst) {
        zs.next_in = (Bytef *)buf;
        zs.avail_in = (uInt)len;
        zs.next_out = dst;
        zs.avail_out = (uInt)cap;
        rc = deflate(&zs, Z_FINISH) == Z_STREAM_END ? 0 : -EIO;
    }
    if (rc == 0) {
        *out = dst;
        *outlen = zs.total_out;
    } else {
        otp_free(dst);
    }
    deflateEnd(&zs);
    return rc;
}
