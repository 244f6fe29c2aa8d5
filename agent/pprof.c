/*
 * pprof encoding: otp_profile_t -> perftools.profiles.Profile bytes, and
 * gzip for the file sink.
 *
 * One encode de-duplicates with small open-addressing tables (addresses
 * -> locations, strings -> string_table indices, and per string a
 * function id, so a function is one string lookup) into flat records,
 * and writes the wire format from them (pbwrite.h). Every distinct
 * address is symbolized once. Flusher thread only; not signal-safe.
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
#include "pbwrite.h"
#include "strtab.h"

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
    /* samples: location ids of all of them in a row, and per sample its
     * label strings (thread name, trace id, span id; 0 = none) */
    uint64_t *loc_ids;
    int64_t *lab_str;
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

/* The label strings of a sample (its numbers are written from the
 * sample itself, see w_sample). */
static void sample_labels(enc_t *e, const otp_sample_t *s, int64_t *str)
{
    str[0] = str[1] = str[2] = 0;
    if (s->thread_name && *s->thread_name) {
        /* Consecutive samples usually share a thread: skip the hash. */
        if (s->thread_name != e->last_tname) {
            e->last_tname = s->thread_name;
            e->last_tname_idx = str_idx(e, s->thread_name, false);
        }
        str[0] = e->last_tname_idx;
    }
    if (s->has_link) {
        char buf[33];
        hex(buf, s->trace_id, 16);
        str[1] = str_idx(e, buf, true);
        hex(buf, s->span_id, 8);
        str[2] = str_idx(e, buf, true);
    }
}

static void encode_samples(enc_t *e)
{
    const otp_profile_t *p = e->p;
    size_t off = 0;
    for (size_t i = 0; i < p->nsamples && !e->oom; i++) {
        const otp_sample_t *s = &p->samples[i];
        uint64_t *ids = e->loc_ids + off;
        /* Return addresses point after the call; minus one lands inside
         * it, so the caller's line and inlining resolve correctly. */
        for (uint32_t j = 0; j < s->npcs; j++) ids[j] = loc_id(e, j ? s->pcs[j] - 1 : s->pcs[j]);
        off += s->npcs;
        sample_labels(e, s, e->lab_str + 3 * i);
    }
}

static int alloc_samples(enc_t *e)
{
    const otp_profile_t *p = e->p;
    size_t total = 0, n = p->nsamples ? p->nsamples : 1;
    for (size_t i = 0; i < p->nsamples; i++) total += p->samples[i].npcs;
    e->loc_ids = otp_malloc((total ? total : 1) * sizeof(uint64_t));
    e->lab_str = otp_malloc(n * 3 * sizeof(int64_t));
    size_t nm = otp_sym_mapping_count(e->sym);
    e->nmap_ids = nm;
    e->map_ids = otp_calloc(nm ? nm : 1, sizeof(uint32_t));
    e->map_src = otp_malloc((nm ? nm : 1) * sizeof(int));
    e->map_flags = otp_malloc(nm ? nm : 1);
    if (!e->loc_ids || !e->lab_str || !e->map_ids || !e->map_src || !e->map_flags)
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

/* ---- writing the Profile ---- */

/* The Profile is written by pbwrite.h, in field-number order, the bytes
 * protobuf-c would pack (test_pprof re-packs what it decodes and
 * compares), from the encoder's own records: no protobuf-c structure per
 * sample, label, location and line (10k samples: some 3.5 MB of them,
 * fresh pages at every encode). Every string is interned before the
 * string table's field (6) is written: the period type's and the
 * comments' (fields after it) first of all. */

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

/* A ValueType's string indices, interned before anything is written:
 * the period type follows the string table on the wire. */
typedef struct vtype_idx {
    int64_t type, unit;
} vtype_idx_t;

static vtype_idx_t vtype_idx(enc_t *e, otp_value_type_t t)
{
    return (vtype_idx_t){str_idx(e, t.type, false), str_idx(e, t.unit, false)};
}

static void w_vtype(otp_pbw_t *w, uint32_t field, vtype_idx_t v)
{
    size_t m = otp_pbw_begin(w, field);
    otp_pbw_int64(w, 1, v.type);
    otp_pbw_int64(w, 2, v.unit);
    otp_pbw_end(w, m);
}

static void w_label(otp_pbw_t *w, int64_t key, int64_t str, int64_t num)
{
    size_t m = otp_pbw_begin(w, 3);
    otp_pbw_int64(w, 1, key);
    otp_pbw_int64(w, 2, str);
    otp_pbw_int64(w, 3, num);
    otp_pbw_end(w, m);
}

static void w_samples(otp_pbw_t *w, enc_t *e)
{
    const otp_profile_t *p = e->p;
    size_t off = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        const otp_sample_t *s = &p->samples[i];
        const int64_t *str = e->lab_str + 3 * i;
        size_t m = otp_pbw_begin(w, 2);
        otp_pbw_packed_uint64(w, 1, e->loc_ids + off, s->npcs);
        off += s->npcs;
        otp_pbw_packed_int64(w, 2, s->values, e->nv);
        w_label(w, e->k_tid, 0, s->tid);
        if (str[0])
            w_label(w, e->k_tname, str[0], 0);
        if (s->has_link) {
            w_label(w, e->k_trace, str[1], 0);
            w_label(w, e->k_span, str[2], 0);
        }
        if (p->kind == OTP_PROFILE_HEAP)
            w_label(w, e->k_bytes, 0, (int64_t)s->alloc_size);
        otp_pbw_end(w, m);
    }
}

static void w_mappings(otp_pbw_t *w, enc_t *e)
{
    for (size_t i = 0; i < e->nmaps; i++) {
        const otp_mapping_t *mp = otp_sym_mapping(e->sym, (size_t)e->map_src[i]);
        int64_t filename = str_idx(e, mp->path, false), build_id = str_idx(e, mp->build_id, false);
        size_t m = otp_pbw_begin(w, 3);
        otp_pbw_varint(w, 1, i + 1);
        otp_pbw_varint(w, 2, mp->start);
        otp_pbw_varint(w, 3, mp->limit);
        otp_pbw_varint(w, 4, mp->offset);
        otp_pbw_int64(w, 5, filename);
        otp_pbw_int64(w, 6, build_id);
        /* pprof reads has_* as "already symbolized this far": set each
         * only when this profile's locations in the mapping carry it. */
        otp_pbw_varint(w, 7, (e->map_flags[i] & MAP_FN) != 0);
        otp_pbw_varint(w, 8, (e->map_flags[i] & MAP_FILE) != 0);
        otp_pbw_varint(w, 9, (e->map_flags[i] & MAP_LINE) != 0);
        otp_pbw_varint(w, 10, (e->map_flags[i] & MAP_INLINE) != 0);
        otp_pbw_end(w, m);
    }
}

static void w_locations(otp_pbw_t *w, enc_t *e)
{
    for (size_t i = 0; i < e->nlocs; i++) {
        const loc_rec_t *r = &e->locs[i];
        size_t m = otp_pbw_begin(w, 4);
        otp_pbw_varint(w, 1, i + 1);
        otp_pbw_varint(w, 2, r->mapping_id);
        otp_pbw_varint(w, 3, r->addr);
        for (uint32_t k = r->line0; k < r->line0 + r->nlines; k++) {
            size_t ml = otp_pbw_begin(w, 4);
            otp_pbw_varint(w, 1, e->lrecs[k].function_id);
            otp_pbw_int64(w, 2, e->lrecs[k].line);
            otp_pbw_end(w, ml);
        }
        otp_pbw_end(w, m);
    }
}

static void w_functions(otp_pbw_t *w, enc_t *e)
{
    for (size_t i = 0; i < e->nfuncs; i++) {
        const func_rec_t *f = &e->funcs[i];
        size_t m = otp_pbw_begin(w, 5);
        otp_pbw_varint(w, 1, i + 1);
        otp_pbw_int64(w, 2, f->name);
        otp_pbw_int64(w, 3, f->system_name);
        otp_pbw_int64(w, 4, f->filename);
        otp_pbw_int64(w, 5, f->start_line);
        otp_pbw_end(w, m);
    }
}

/* Comment string indices (interned before the string table is written). */
static size_t comments(enc_t *e, int64_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < e->p->ncomments; i++)
        if (e->p->comments[i] && *e->p->comments[i]) out[n++] = str_idx(e, e->p->comments[i], false);
    if (e->p->dropped) {
        char buf[64];
        snprintf(buf, sizeof(buf), "dropped %" PRIu64 " samples", e->p->dropped);
        out[n++] = str_idx(e, buf, true);
    }
    return n;
}

static int pack(enc_t *e, uint8_t **out, size_t *len)
{
    const otp_profile_t *p = e->p;
    int64_t *cm = otp_malloc((p->ncomments + 1) * sizeof(int64_t));
    if (!cm)
        return -ENOMEM;
    /* The strings of the fields after the string table (period type,
     * comments) first; the mappings' are interned as they are written,
     * before it. */
    const otp_value_type_t *types = otp_profile_value_types(p->kind, NULL);
    vtype_idx_t st[OTP_MAX_VALUES];
    for (size_t i = 0; i < e->nv; i++)
        st[i] = vtype_idx(e, types[i]);
    vtype_idx_t pt = vtype_idx(e, otp_profile_period_type(p->kind));
    size_t ncm = comments(e, cm);
    exe_first(e);
    otp_pbw_t w;
    otp_pbw_init(&w, 4096 + 64 * p->nsamples + 48 * e->nlocs + 32 * e->nfuncs);
    for (size_t i = 0; i < e->nv; i++)
        w_vtype(&w, 1, st[i]);
    w_samples(&w, e);
    w_mappings(&w, e);
    w_locations(&w, e);
    w_functions(&w, e);
    for (size_t i = 0; i < e->st.n; i++)
        otp_pbw_string_elem(&w, 6, e->st.strs[i]);
    otp_pbw_int64(&w, 9, p->time_ns);
    otp_pbw_int64(&w, 10, p->duration_ns);
    w_vtype(&w, 11, pt);
    otp_pbw_int64(&w, 12, p->period);
    otp_pbw_packed_int64(&w, 13, cm, ncm);
    otp_free(cm);
    *out = e->oom ? NULL : otp_pbw_take(&w, len);
    if (!*out) {
        otp_pbw_free(&w);
        return -ENOMEM;
    }
    return 0;
}

static void enc_free(enc_t *e)
{
    otp_strtab_free(&e->st);
    void *arrays[] = {e->loc_tab.slots, e->func_tab.slots, e->locs, e->lrecs, e->funcs,
                      e->map_ids, e->map_src, e->map_flags, e->loc_ids, e->lab_str};
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
