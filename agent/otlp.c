/*
 * OTLP profiles encoder. Builds the dictionary and profile headers of one
 * ExportProfilesServiceRequest as protobuf-c structures in a bump arena
 * (freed at once after writing), de-duplicating every dictionary table
 * through small open-addressing hash maps, merges the samples into rows,
 * and writes the wire format itself (pbwrite.h): a batch of 10k distinct
 * 30-frame stacks encodes in about 15 ms.
 *
 * Layout decisions (see also README "OTLP export"):
 *  - CPU: one Profile, sample_type samples/count, period_type
 *    cpu/nanoseconds, period = ns per sample. The cpu/nanoseconds value is
 *    not sent as a second Profile: it is exactly samples x period, the way
 *    the OTLP spec documents CPU profiles and the way backends (Pyroscope's
 *    OTLP ingest, the eBPF profiler) read them, and a second copy would
 *    double the sample section of every request.
 *  - Heap: one Profile per type (alloc_objects, alloc_space, inuse_objects,
 *    inuse_space), period_type space/bytes, period = sample_bytes. A
 *    sample whose value is 0 for a type is left out of that Profile.
 *  - Native frames: Location.address is the runtime address (the exact PC
 *    for the leaf, return address - 1 for callers, so it names the call
 *    site), Mapping holds the runtime range, file offset, path and
 *    process.executable.build_id.gnu; each Location has its Lines
 *    (innermost inline frame first; one naming the function when there
 *    is no DWARF) and profile.frame.type=native. A Function is its
 *    display name (demangled), system name (as in the object), file and
 *    start line. This proto's Mapping has no has_* fields.
 *  - link_table[0] is Link{} with empty ids (accepted by the collector's
 *    pdata and what the profcheck conformance tool expects).
 *  - Resource and scope attributes are plain KeyValue strings, which every
 *    backend reads; dictionary attributes use KeyValueAndUnit.
 *
 * Flusher thread only.
 */
#include "otlp.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"
#include "log.h"
#include "mem.h"
#include "kvlist.h"
#include "pbwrite.h"
#include "pprof.h"
#include "resource.h"
#include "strtab.h"
#include "sys.h"

#include "otlp_profiles_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv_t;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope pb_scope_t;
typedef Opentelemetry__Proto__Resource__V1__Resource pb_resource_t;
typedef Opentelemetry__Proto__Profiles__V1development__Profile pb_profile_t;
typedef Opentelemetry__Proto__Profiles__V1development__Link pb_link_t;
typedef Opentelemetry__Proto__Profiles__V1development__ValueType pb_vtype_t;
typedef Opentelemetry__Proto__Profiles__V1development__Mapping pb_mapping_t;
typedef Opentelemetry__Proto__Profiles__V1development__Stack pb_stack_t;
typedef Opentelemetry__Proto__Profiles__V1development__Location pb_location_t;
typedef Opentelemetry__Proto__Profiles__V1development__Line pb_line_t;
typedef Opentelemetry__Proto__Profiles__V1development__Function pb_function_t;
typedef Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit pb_kvu_t;

#define ANY_STRING OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
#define ANY_INT OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE
#define ANY_ARRAY OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE

/* ------------------------------------------------------------- hash map */

/* Open addressing, linear probing; maps a 64-bit hash (plus a caller
 * equality check) to a table index. Slot value 0 = empty, else index+1;
 * hash and value side by side, so that a probe reads one cache line. */
typedef struct hslot {
    uint64_t hash;
    int32_t val;
} hslot_t;

typedef struct hmap {
    hslot_t *slot;
    size_t cap, n;
} hmap_t;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = mix64(h ^ w);
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    return mix64(h ^ w ^ ((uint64_t)n << 56));
}

static int hm_grow(hmap_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    hslot_t *ns = otp_calloc(ncap, sizeof *ns);
    if (!ns) return -ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slot[i].val) continue;
        size_t j = m->slot[i].hash & (ncap - 1);
        while (ns[j].val) j = (j + 1) & (ncap - 1);
        ns[j] = m->slot[i];
    }
    otp_free(m->slot);
    m->slot = ns;
    m->cap = ncap;
    return 0;
}

typedef bool (*hm_eq_fn)(const void *ctx, int32_t idx, const void *key);

/* Returns the index stored for key, or -1 with *slot set for hm_put.
 * Returns -2 when the map cannot grow. eq NULL: the hash is the key
 * itself, bijectively mixed (mix64 of an address), so equal hashes are
 * equal keys. */
static int32_t hm_get(hmap_t *m, uint64_t h, hm_eq_fn eq, const void *ctx, const void *key,
                      size_t *slot)
{
    *slot = 0;
    if ((m->n + 1) * 2 > m->cap && hm_grow(m) != 0) return -2;
    size_t j = h & (m->cap - 1);
    while (m->slot[j].val) {
        if (m->slot[j].hash == h && (!eq || eq(ctx, m->slot[j].val - 1, key))) return m->slot[j].val - 1;
        j = (j + 1) & (m->cap - 1);
    }
    *slot = j;
    return -1;
}

static void hm_put(hmap_t *m, size_t slot, uint64_t h, int32_t idx)
{
    m->slot[slot] = (hslot_t){h, idx + 1};
    m->n++;
}

static void hm_free(hmap_t *m)
{
    otp_free(m->slot);
    memset(m, 0, sizeof *m);
}

/* Emptied, its capacity kept. */
static void hm_clear(hmap_t *m)
{
    if (m->slot) memset(m->slot, 0, m->cap * sizeof *m->slot);
    m->n = 0;
}

/* Room for n entries without growing on the way. */
static int hm_reserve(hmap_t *m, size_t n)
{
    while ((n + 1) * 2 > m->cap)
        if (hm_grow(m) != 0) return -ENOMEM;
    return 0;
}

/* The maps' slot arrays outlive an encode (flusher thread only): the next
 * interval needs about as many, and fresh ones cost a page fault per
 * 4 KiB written and a rehash per doubling, a third of a busy interval's
 * encode. Each is kept up to KEEP_SLOTS (1 MiB), and cleared for reuse. */
#define KEEP_SLOTS ((size_t)1 << 16)
enum { MAP_LOC, MAP_STACK, MAP_LINK, MAP_ATTR, MAP_MERGE, MAP_FUNC, NMAPS };
static hmap_t kept[NMAPS];

static void hm_take(hmap_t *m, int id)
{
    *m = kept[id];
    memset(&kept[id], 0, sizeof kept[id]);
    hm_clear(m);
}

static void hm_keep(hmap_t *m, int id)
{
    if (m->cap <= KEEP_SLOTS && m->cap >= kept[id].cap) {
        hm_free(&kept[id]);
        kept[id] = *m;
        memset(m, 0, sizeof *m);
    }
    hm_free(m);
}

/* ------------------------------------------------------- growable table */

typedef struct vec {
    void **items;
    size_t n, cap;
} vec_t;

static int vec_push(vec_t *v, void *item)
{
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 256;
        void **ni = otp_realloc(v->items, ncap * sizeof *ni);
        if (!ni) return -ENOMEM;
        v->items = ni;
        v->cap = ncap;
    }
    v->items[v->n++] = item;
    return 0;
}

/* ------------------------------------------------------ encoder context */

typedef struct attr_key {
    int32_t key;
    int32_t kind; /* 0 int, 1 string (v = strindex), 2 string array (v = first of a run) */
    int64_t v;
    int64_t n;    /* kind 2: number of strings */
} attr_key_t;

typedef struct merged {
    int32_t stack, link;
    int32_t attrs[2];
    int nattrs;
    int64_t values[OTP_MAX_VALUES];
} merged_t;

/* A thread's two sample attributes (thread.id, thread.name), as last
 * looked up: a profile's samples come from a few threads, and each
 * lookup is a string interning and two hashed probes. */
#define THREAD_ATTRS 16
typedef struct thread_attrs {
    bool used;
    uint32_t tid;
    const char *name; /* NULL: none; else valid for the whole encode */
    int32_t a_tid, a_name;
} thread_attrs_t;

typedef struct enc {
    otp_arena_t ar;
    bool oom;
    otp_symbolizer_t *sym;

    otp_strtab_t st;

    vec_t functions, locations, mappings, stacks, links, attrs;
    attr_key_t *akeys;
    size_t akeys_cap;
    hmap_t loc_map, stack_map, link_map, attr_map, merge_map, func_map;
    int32_t *map_of_sym; /* symbolizer mapping index -> mapping index */
    size_t nmap_of_sym;

    merged_t *merged;
    size_t nmerged, merged_cap;
    /* Per batch sample: its merged entry (CPU and heap separately). */

    int32_t frame_attr[1]; /* profile.frame.type=native, shared by all locations */
    int32_t k_thread_id, k_thread_name;
    thread_attrs_t thread_attrs[THREAD_ATTRS];

    int32_t *scratch; /* location indices of the stack being built */
    uint64_t *scratch_h; /* and its addresses' hashes */
    size_t scratch_cap;
} enc_t;

/* The encoder's map kept as kept[id] between encodes. */
static hmap_t *enc_map(enc_t *e, int id)
{
    static const size_t off[NMAPS] = {
        [MAP_LOC] = offsetof(enc_t, loc_map),   [MAP_STACK] = offsetof(enc_t, stack_map),
        [MAP_LINK] = offsetof(enc_t, link_map), [MAP_ATTR] = offsetof(enc_t, attr_map),
        [MAP_MERGE] = offsetof(enc_t, merge_map), [MAP_FUNC] = offsetof(enc_t, func_map),
    };
    return (hmap_t *)((char *)e + off[id]);
}

/* String table index of s[0..n); -1 when out of memory. */
static int32_t intern_n(enc_t *e, const char *s, size_t n)
{
    int64_t i = otp_strtab_intern(&e->st, s, n, true);
    if (e->st.oom) {
        e->oom = true;
        return -1;
    }
    return (int32_t)i;
}

static int32_t intern(enc_t *e, const char *s)
{
    return intern_n(e, s ? s : "", s ? strlen(s) : 0);
}

static bool attr_eq(const void *ctx, int32_t idx, const void *key)
{
    const enc_t *e = ctx;
    return memcmp(&e->akeys[idx], key, sizeof(attr_key_t)) == 0;
}

/* attribute_table index of {key: value}; -1 when out of memory. */
static int32_t attr_add(enc_t *e, const attr_key_t *k, const char *const *strs)
{
    uint64_t h = hash_bytes(k, sizeof *k, 2);
    size_t slot;
    int32_t idx = hm_get(&e->attr_map, h, attr_eq, e, k, &slot);
    if (idx >= 0) return idx;
    if (idx == -2) goto oom;
    pb_kvu_t *a = otp_arena_alloc(&e->ar, sizeof *a);
    pb_any_t *v = otp_arena_alloc(&e->ar, sizeof *v);
    if (!a || !v) goto oom;
    opentelemetry__proto__profiles__v1development__key_value_and_unit__init(a);
    opentelemetry__proto__common__v1__any_value__init(v);
    a->key_strindex = k->key;
    a->value = v;
    if (k->kind == 0) {
        v->value_case = ANY_INT;
        v->int_value = k->v;
    } else if (k->kind == 1) {
        v->value_case = ANY_STRING;
        v->string_value = (char *)e->st.strs[k->v]; /* packing only reads it */
    } else {
        Opentelemetry__Proto__Common__V1__ArrayValue *arr = otp_arena_alloc(&e->ar, sizeof *arr);
        pb_any_t **vals = otp_arena_alloc(&e->ar, (size_t)k->n * sizeof *vals);
        if (!arr || (k->n && !vals)) goto oom;
        opentelemetry__proto__common__v1__array_value__init(arr);
        for (int64_t i = 0; i < k->n; i++) {
            vals[i] = otp_arena_alloc(&e->ar, sizeof **vals);
            if (!vals[i]) goto oom;
            opentelemetry__proto__common__v1__any_value__init(vals[i]);
            vals[i]->value_case = ANY_STRING;
            vals[i]->string_value = (char *)strs[i];
        }
        arr->values = vals;
        arr->n_values = (size_t)k->n;
        v->value_case = ANY_ARRAY;
        v->array_value = arr;
    }
    idx = (int32_t)e->attrs.n;
    if (e->attrs.n == e->akeys_cap) {
        size_t ncap = e->akeys_cap ? e->akeys_cap * 2 : 64;
        attr_key_t *nk = otp_realloc(e->akeys, ncap * sizeof *nk);
        if (!nk) goto oom;
        e->akeys = nk;
        e->akeys_cap = ncap;
    }
    if (vec_push(&e->attrs, a) != 0) goto oom;
    e->akeys[idx] = *k;
    hm_put(&e->attr_map, slot, h, idx);
    return idx;
oom:
    e->oom = true;
    return -1;
}

static int32_t attr_int(enc_t *e, int32_t key, int64_t v)
{
    attr_key_t k;
    memset(&k, 0, sizeof k);
    k.key = key;
    k.kind = 0;
    k.v = v;
    return attr_add(e, &k, NULL);
}

static int32_t attr_str(enc_t *e, int32_t key, const char *s)
{
    int32_t si = intern(e, s);
    if (si < 0) return -1;
    attr_key_t k;
    memset(&k, 0, sizeof k);
    k.key = key;
    k.kind = 1;
    k.v = si;
    return attr_add(e, &k, NULL);
}

static int32_t mapping_of(enc_t *e, int symidx)
{
    if (symidx < 0 || (size_t)symidx >= e->nmap_of_sym) return 0;
    if (e->map_of_sym[symidx]) return e->map_of_sym[symidx];
    const otp_mapping_t *sm = otp_sym_mapping(e->sym, (size_t)symidx);
    if (!sm) return 0;
    pb_mapping_t *m = otp_arena_alloc(&e->ar, sizeof *m);
    if (!m) {
        e->oom = true;
        return 0;
    }
    opentelemetry__proto__profiles__v1development__mapping__init(m);
    m->memory_start = sm->start;
    m->memory_limit = sm->limit;
    m->file_offset = sm->offset;
    int32_t fn = intern(e, sm->path);
    m->filename_strindex = fn > 0 ? fn : 0;
    /* The GNU build id when the file has one; htlhash always (the
     * profiles spec recommends it on every mapping). */
    static const char *const keys[2] = { "process.executable.build_id.gnu",
                                         "process.executable.build_id.htlhash" };
    const char *vals[2] = { sm->build_id, otp_sym_mapping_htlhash(e->sym, (size_t)symidx) };
    int32_t *ai = otp_arena_alloc(&e->ar, 2 * sizeof *ai);
    for (int i = 0; i < 2 && ai; i++) {
        if (!vals[i] || !vals[i][0]) continue;
        int32_t key = intern(e, keys[i]);
        int32_t a = key >= 0 ? attr_str(e, key, vals[i]) : -1;
        if (a > 0) ai[m->n_attribute_indices++] = a;
    }
    if (ai && m->n_attribute_indices) m->attribute_indices = ai;
    int32_t idx = (int32_t)e->mappings.n;
    if (vec_push(&e->mappings, m) != 0) {
        e->oom = true;
        return 0;
    }
    e->map_of_sym[symidx] = idx;
    return idx;
}

static bool func_eq(const void *ctx, int32_t idx, const void *key)
{
    const enc_t *e = ctx;
    const pb_function_t *f = e->functions.items[idx], *k = key;
    return f->name_strindex == k->name_strindex && f->system_name_strindex == k->system_name_strindex
           && f->filename_strindex == k->filename_strindex && f->start_line == k->start_line;
}

static int32_t intern0(enc_t *e, const char *s)
{
    int32_t i = s && s[0] ? intern(e, s) : 0;
    return i > 0 ? i : 0;
}

/* A function is its name, system name, file and first line. */
static int32_t function_of(enc_t *e, const otp_frame_t *fr)
{
    pb_function_t k;
    opentelemetry__proto__profiles__v1development__function__init(&k);
    k.name_strindex = intern0(e, fr->name);
    if (k.name_strindex <= 0) return 0;
    k.system_name_strindex = intern0(e, fr->system_name);
    k.filename_strindex = intern0(e, fr->file);
    k.start_line = fr->start_line;
    int32_t key4[4] = {k.name_strindex, k.system_name_strindex, k.filename_strindex, (int32_t)fr->start_line};
    uint64_t h = hash_bytes(key4, sizeof key4, 7);
    size_t slot;
    int32_t idx = hm_get(&e->func_map, h, func_eq, e, &k, &slot);
    if (idx >= 0) return idx;
    pb_function_t *f = idx == -2 ? NULL : otp_arena_alloc(&e->ar, sizeof *f);
    if (!f) {
        e->oom = true;
        return 0;
    }
    *f = k;
    idx = (int32_t)e->functions.n;
    if (vec_push(&e->functions, f) != 0) {
        e->oom = true;
        return 0;
    }
    hm_put(&e->func_map, slot, h, idx);
    return idx;
}

/* h: mix64(addr), a bijection: no equality check needed. */
static int32_t location_of(enc_t *e, uint64_t addr, uint64_t h)
{
    size_t slot;
    int32_t idx = hm_get(&e->loc_map, h, NULL, e, NULL, &slot);
    if (idx >= 0) return idx;
    if (idx == -2) goto oom;
    pb_location_t *l = otp_arena_alloc(&e->ar, sizeof *l);
    if (!l) goto oom;
    opentelemetry__proto__profiles__v1development__location__init(l);
    l->address = addr;
    int symidx = -1;
    otp_frame_t fr[OTP_SYM_MAX_FRAMES];
    int nf = e->sym ? otp_sym_frames(e->sym, addr, &symidx, fr, OTP_SYM_MAX_FRAMES) : 0;
    l->mapping_index = mapping_of(e, symidx);
    if (nf > 0) {
        /* Innermost inline frame first, as in pprof. */
        pb_line_t **lines = otp_arena_alloc(&e->ar, (size_t)nf * sizeof *lines);
        pb_line_t *line = otp_arena_alloc(&e->ar, (size_t)nf * sizeof *line);
        if (!lines || !line) goto oom;
        size_t n = 0;
        for (int i = 0; i < nf; i++) {
            int32_t fi = function_of(e, &fr[i]);
            if (fi <= 0) continue;
            opentelemetry__proto__profiles__v1development__line__init(&line[n]);
            line[n].function_index = fi;
            line[n].line = fr[i].line;
            lines[n] = &line[n];
            n++;
        }
        if (n) {
            l->lines = lines;
            l->n_lines = n;
        }
    }
    if (e->frame_attr[0] > 0) {
        l->attribute_indices = e->frame_attr;
        l->n_attribute_indices = 1;
    }
    /* Inserting into loc_map after the nested interning above is safe:
     * those touched other maps only, so `slot` is still free. */
    idx = (int32_t)e->locations.n;
    if (vec_push(&e->locations, l) != 0) goto oom;
    hm_put(&e->loc_map, slot, h, idx);
    return idx;
oom:
    e->oom = true;
    return 0;
}

static bool stack_eq(const void *ctx, int32_t idx, const void *key)
{
    const enc_t *e = ctx;
    const pb_stack_t *s = e->stacks.items[idx];
    const struct {
        const int32_t *v;
        size_t n;
    } *k = key;
    return s->n_location_indices == k->n &&
           memcmp(s->location_indices, k->v, k->n * sizeof(int32_t)) == 0;
}

static int32_t stack_of(enc_t *e, const otp_sample_t *s)
{
    if (s->npcs == 0) return 0;
    if (e->scratch_cap < s->npcs) {
        int32_t *ns = otp_realloc(e->scratch, s->npcs * sizeof *ns);
        if (!ns) goto oom;
        e->scratch = ns;
        uint64_t *nh = otp_realloc(e->scratch_h, s->npcs * sizeof *nh);
        if (!nh) goto oom;
        e->scratch_h = nh;
        e->scratch_cap = s->npcs;
    }
    /* Every frame's slot in the location map is asked for before the
     * first is looked at: the cache misses of a stack's lookups (most of
     * an encode's time) then overlap instead of following one another. */
    const hmap_t *lm = &e->loc_map;
    for (uint32_t i = 0; i < s->npcs; i++) {
        uint64_t a = s->pcs[i];
        if (i > 0 && a > 0) a -= 1; /* return address -> inside the call */
        uint64_t h = mix64(a);
        e->scratch_h[i] = h;
        if (lm->cap) __builtin_prefetch(&lm->slot[h & (lm->cap - 1)]);
    }
    for (uint32_t i = 0; i < s->npcs; i++) {
        uint64_t a = s->pcs[i];
        if (i > 0 && a > 0) a -= 1;
        e->scratch[i] = location_of(e, a, e->scratch_h[i]);
    }
    struct {
        const int32_t *v;
        size_t n;
    } key = {e->scratch, s->npcs};
    uint64_t h = hash_bytes(e->scratch, s->npcs * sizeof(int32_t), 3);
    size_t slot;
    int32_t idx = hm_get(&e->stack_map, h, stack_eq, e, &key, &slot);
    if (idx >= 0) return idx;
    if (idx == -2) goto oom;
    pb_stack_t *st = otp_arena_alloc(&e->ar, sizeof *st);
    int32_t *li = otp_arena_alloc(&e->ar, s->npcs * sizeof *li);
    if (!st || !li) goto oom;
    opentelemetry__proto__profiles__v1development__stack__init(st);
    memcpy(li, e->scratch, s->npcs * sizeof *li);
    st->location_indices = li;
    st->n_location_indices = s->npcs;
    idx = (int32_t)e->stacks.n;
    if (vec_push(&e->stacks, st) != 0) goto oom;
    hm_put(&e->stack_map, slot, h, idx);
    return idx;
oom:
    e->oom = true;
    return 0;
}

static bool link_eq(const void *ctx, int32_t idx, const void *key)
{
    const enc_t *e = ctx;
    const pb_link_t *l = e->links.items[idx];
    const uint8_t *k = key;
    return l->trace_id.len == 16 && memcmp(l->trace_id.data, k, 16) == 0 &&
           memcmp(l->span_id.data, k + 16, 8) == 0;
}

static int32_t link_of(enc_t *e, const otp_sample_t *s)
{
    if (!s->has_link) return 0;
    uint8_t key[24];
    memcpy(key, s->trace_id, 16);
    memcpy(key + 16, s->span_id, 8);
    static const uint8_t zero[16];
    if (memcmp(key, zero, 16) == 0) return 0; /* all-zero trace id: no context */
    uint64_t h = hash_bytes(key, sizeof key, 4);
    size_t slot;
    int32_t idx = hm_get(&e->link_map, h, link_eq, e, key, &slot);
    if (idx >= 0) return idx;
    if (idx == -2) goto oom;
    pb_link_t *l = otp_arena_alloc(&e->ar, sizeof *l);
    uint8_t *ids = otp_arena_alloc(&e->ar, sizeof key);
    if (!l || !ids) goto oom;
    opentelemetry__proto__profiles__v1development__link__init(l);
    memcpy(ids, key, sizeof key);
    l->trace_id.data = ids;
    l->trace_id.len = 16;
    l->span_id.data = ids + 16;
    l->span_id.len = 8;
    idx = (int32_t)e->links.n;
    if (vec_push(&e->links, l) != 0) goto oom;
    hm_put(&e->link_map, slot, h, idx);
    return idx;
oom:
    e->oom = true;
    return 0;
}

static bool merged_eq(const void *ctx, int32_t idx, const void *key)
{
    const enc_t *e = ctx;
    const merged_t *m = &e->merged[idx], *k = key;
    return m->stack == k->stack && m->link == k->link && m->nattrs == k->nattrs &&
           m->attrs[0] == k->attrs[0] && m->attrs[1] == k->attrs[1];
}

/* Merges the samples of p by OTLP sample identity {stack, attributes,
 * link} into e->merged[first..). Returns the number of merged entries. */
static size_t merge_samples(enc_t *e, const otp_profile_t *p)
{
    size_t first = e->nmerged;
    hm_clear(&e->merge_map);
    if (hm_reserve(&e->merge_map, p->nsamples) != 0 ||
        hm_reserve(&e->stack_map, e->stack_map.n + p->nsamples) != 0) {
        e->oom = true;
        return 0;
    }
    for (size_t i = 0; i < p->nsamples && !e->oom; i++) {
        const otp_sample_t *s = &p->samples[i];
        /* The next sample's addresses, scattered over the aggregation's
         * memory: fetched while this one is looked up. */
        if (i + 1 < p->nsamples) {
            const char *np = (const char *)p->samples[i + 1].pcs;
            size_t nb = p->samples[i + 1].npcs * sizeof(uint64_t);
            for (size_t off = 0; off < nb && off < 256; off += 64)
                __builtin_prefetch(np + off);
        }
        merged_t k;
        memset(&k, 0, sizeof k);
        k.stack = stack_of(e, s);
        k.link = link_of(e, s);
        const char *name = s->thread_name && s->thread_name[0] ? s->thread_name : NULL;
        thread_attrs_t *ta = &e->thread_attrs[s->tid % THREAD_ATTRS];
        if (!ta->used || ta->tid != s->tid || (ta->name != name && (!ta->name || !name || strcmp(ta->name, name) != 0))) {
            ta->used = true;
            ta->tid = s->tid;
            ta->name = name;
            ta->a_tid = attr_int(e, e->k_thread_id, (int64_t)s->tid);
            ta->a_name = name ? attr_str(e, e->k_thread_name, name) : 0;
        }
        if (ta->a_tid > 0) k.attrs[k.nattrs++] = ta->a_tid;
        if (ta->a_name > 0) k.attrs[k.nattrs++] = ta->a_name;
        uint64_t h = mix64(((uint64_t)(uint32_t)k.stack << 32 | (uint32_t)k.link) ^
                           mix64((uint64_t)(uint32_t)k.attrs[0] << 32 | (uint32_t)k.attrs[1]));
        size_t slot;
        int32_t idx = hm_get(&e->merge_map, h, merged_eq, e, &k, &slot);
        if (idx == -2) {
            e->oom = true;
            break;
        }
        if (idx < 0) {
            if (e->nmerged == e->merged_cap) {
                size_t ncap = e->merged_cap ? e->merged_cap * 2 : 1024;
                merged_t *nm = otp_realloc(e->merged, ncap * sizeof *nm);
                if (!nm) {
                    e->oom = true;
                    break;
                }
                e->merged = nm;
                e->merged_cap = ncap;
            }
            idx = (int32_t)e->nmerged++;
            e->merged[idx] = k;
            hm_put(&e->merge_map, slot, h, idx);
        }
        for (int v = 0; v < p->nvalues && v < OTP_MAX_VALUES; v++)
            e->merged[idx].values[v] += s->values[v];
    }
    return e->nmerged - first;
}

static void fill_random(uint8_t *buf, size_t n)
{
    if (getrandom(buf, n, GRND_NONBLOCK) == (ssize_t)n) return;
    uint64_t x = (uint64_t)otp_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)buf;
    for (size_t i = 0; i < n; i++) {
        x = mix64(x + i);
        buf[i] = (uint8_t)x;
    }
}

static pb_vtype_t *vtype(enc_t *e, otp_value_type_t t)
{
    pb_vtype_t *v = otp_arena_alloc(&e->ar, sizeof *v);
    if (!v) {
        e->oom = true;
        return NULL;
    }
    opentelemetry__proto__profiles__v1development__value_type__init(v);
    int32_t ti = intern(e, t.type), ui = intern(e, t.unit);
    v->type_strindex = ti > 0 ? ti : 0;
    v->unit_strindex = ui > 0 ? ui : 0;
    return v;
}

/* One Profile for value slot `vi` of p, without its samples. */
static pb_profile_t *build_profile(enc_t *e, const otp_profile_t *p, int vi, int32_t comment_attr,
                                   const ProtobufCBinaryData *orig)
{
    int nt = 0;
    const otp_value_type_t *types = otp_profile_value_types(p->kind, &nt);
    if (vi >= nt) return NULL;
    pb_profile_t *pr = otp_arena_alloc(&e->ar, sizeof *pr);
    uint8_t *pid = otp_arena_alloc(&e->ar, 16);
    if (!pr || !pid) {
        e->oom = true;
        return NULL;
    }
    opentelemetry__proto__profiles__v1development__profile__init(pr);
    pr->sample_type = vtype(e, types[vi]);
    pr->period_type = vtype(e, otp_profile_period_type(p->kind));
    pr->period = p->period;
    pr->time_unix_nano = (uint64_t)p->time_ns;
    pr->duration_nano = p->duration_ns > 0 ? (uint64_t)p->duration_ns : 0;
    fill_random(pid, 16);
    pr->profile_id.data = pid;
    pr->profile_id.len = 16;
    if (comment_attr > 0) {
        int32_t *ai = otp_arena_alloc(&e->ar, sizeof *ai);
        if (ai) {
            ai[0] = comment_attr;
            pr->attribute_indices = ai;
            pr->n_attribute_indices = 1;
        }
    }
    if (orig && orig->len) {
        pr->original_payload_format = "pprof";
        pr->original_payload = *orig;
    }
    /* The samples are written from e->merged when the request is (see
     * w_profile): not built as protobuf-c messages, 10k of which took an
     * arena of fresh pages per profile. */
    return pr;
}

/* pprof.profile.comment attribute of p (string array), 0 if none. */
static int32_t comment_attr_of(enc_t *e, const otp_profile_t *p)
{
    if (!p->comments || p->ncomments == 0) return 0;
    int32_t key = intern(e, "pprof.profile.comment");
    if (key < 0) return 0;
    int32_t first = -1;
    const char **strs = otp_arena_alloc(&e->ar, p->ncomments * sizeof *strs);
    if (!strs) return 0;
    for (size_t i = 0; i < p->ncomments; i++) {
        int32_t si = intern(e, p->comments[i]);
        if (si < 0) return 0;
        if (i == 0) first = si;
        strs[i] = e->st.strs[si];
    }
    /* One comment list per profile kind and request, so (kind, first
     * string, count) identifies it. */
    attr_key_t k;
    memset(&k, 0, sizeof k);
    k.key = key;
    k.kind = 2 + (int32_t)p->kind;
    k.v = first;
    k.n = (int64_t)p->ncomments;
    return attr_add(e, &k, strs);
}

static otp_otlp_stats_t last_stats;

/* ------------------------------------------------------------ packing */

/* The request is written by pbwrite.h, not packed by protobuf-c: the same
 * bytes (field-number order, proto3's omissions; test_otlp re-packs a
 * decoded request with protobuf-c and compares), without protobuf-c's
 * descriptor walk and its sizing of every nested message once per level
 * above it, which took about a third of the encode. Resource, scope and attribute
 * values are few and small: protobuf-c packs those. */

static void w_pbc(otp_pbw_t *w, uint32_t field, const ProtobufCMessage *m)
{
    if (!m)
        return;
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p = otp_pbw_reserve(w, field, n);
    if (p)
        protobuf_c_message_pack(m, p);
}

static void w_str(otp_pbw_t *w, uint32_t field, const char *s)
{
    if (s)
        otp_pbw_bytes(w, field, s, strlen(s));
}

static void w_vtype(otp_pbw_t *w, uint32_t field, const pb_vtype_t *v)
{
    if (!v)
        return;
    size_t m = otp_pbw_begin(w, field);
    otp_pbw_int32(w, 1, v->type_strindex);
    otp_pbw_int32(w, 2, v->unit_strindex);
    otp_pbw_end(w, m);
}

/* A profile's samples: the merged rows [first, first + n) with a value
 * in slot vi (a heap profile leaves out the rows that have none). */
typedef struct rows {
    size_t first, n;
    int vi;
} rows_t;

static size_t count_rows(const enc_t *e, size_t first, size_t n, int vi)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += e->merged[first + i].values[vi] != 0;
    return c;
}

static void w_profile(otp_pbw_t *w, uint32_t field, const pb_profile_t *p, const enc_t *e,
                      const rows_t *rows)
{
    size_t m = otp_pbw_begin(w, field);
    w_vtype(w, 1, p->sample_type);
    for (size_t i = 0; i < rows->n; i++) {
        const merged_t *r = &e->merged[rows->first + i];
        int64_t v = r->values[rows->vi];
        if (v == 0)
            continue;
        size_t ms = otp_pbw_begin(w, 2);
        otp_pbw_int32(w, 1, r->stack);
        otp_pbw_packed_int32(w, 2, r->attrs, (size_t)r->nattrs);
        otp_pbw_int32(w, 3, r->link);
        otp_pbw_packed_int64(w, 4, &v, 1);
        otp_pbw_end(w, ms);
    }
    otp_pbw_fixed64(w, 3, p->time_unix_nano);
    otp_pbw_varint(w, 4, p->duration_nano);
    w_vtype(w, 5, p->period_type);
    otp_pbw_int64(w, 6, p->period);
    otp_pbw_bytes(w, 7, p->profile_id.data, p->profile_id.len);
    otp_pbw_varint(w, 8, p->dropped_attributes_count);
    w_str(w, 9, p->original_payload_format);
    otp_pbw_bytes(w, 10, p->original_payload.data, p->original_payload.len);
    otp_pbw_packed_int32(w, 11, p->attribute_indices, p->n_attribute_indices);
    otp_pbw_end(w, m);
}

static void w_resource_profiles(otp_pbw_t *w, uint32_t field, const enc_t *e, pb_profile_t *const *profiles,
                                const rows_t *rows, size_t nprof)
{
    size_t m = otp_pbw_begin(w, field);
    const pb_resource_t *res = otp_resource_get();
    w_pbc(w, 1, res ? &res->base : NULL);
    size_t ms = otp_pbw_begin(w, 2); /* one ScopeProfiles */
    const pb_scope_t *scope = otp_resource_scope();
    w_pbc(w, 1, scope ? &scope->base : NULL);
    for (size_t j = 0; j < nprof; j++)
        w_profile(w, 2, profiles[j], e, &rows[j]);
    otp_pbw_end(w, ms);
    otp_pbw_end(w, m);
}

static void w_dictionary(otp_pbw_t *w, uint32_t field, const enc_t *e)
{
    size_t m = otp_pbw_begin(w, field);
    for (size_t i = 0; i < e->mappings.n; i++) {
        const pb_mapping_t *x = e->mappings.items[i];
        size_t mm = otp_pbw_begin(w, 1);
        otp_pbw_varint(w, 1, x->memory_start);
        otp_pbw_varint(w, 2, x->memory_limit);
        otp_pbw_varint(w, 3, x->file_offset);
        otp_pbw_int32(w, 4, x->filename_strindex);
        otp_pbw_packed_int32(w, 5, x->attribute_indices, x->n_attribute_indices);
        otp_pbw_end(w, mm);
    }
    for (size_t i = 0; i < e->locations.n; i++) {
        const pb_location_t *x = e->locations.items[i];
        size_t mm = otp_pbw_begin(w, 2);
        otp_pbw_int32(w, 1, x->mapping_index);
        otp_pbw_varint(w, 2, x->address);
        for (size_t j = 0; j < x->n_lines; j++) {
            const pb_line_t *l = x->lines[j];
            size_t ml = otp_pbw_begin(w, 3);
            otp_pbw_int32(w, 1, l->function_index);
            otp_pbw_int64(w, 2, l->line);
            otp_pbw_int64(w, 3, l->column);
            otp_pbw_end(w, ml);
        }
        otp_pbw_packed_int32(w, 4, x->attribute_indices, x->n_attribute_indices);
        otp_pbw_end(w, mm);
    }
    for (size_t i = 0; i < e->functions.n; i++) {
        const pb_function_t *x = e->functions.items[i];
        size_t mm = otp_pbw_begin(w, 3);
        otp_pbw_int32(w, 1, x->name_strindex);
        otp_pbw_int32(w, 2, x->system_name_strindex);
        otp_pbw_int32(w, 3, x->filename_strindex);
        otp_pbw_int64(w, 4, x->start_line);
        otp_pbw_end(w, mm);
    }
    for (size_t i = 0; i < e->links.n; i++) {
        const pb_link_t *x = e->links.items[i];
        size_t mm = otp_pbw_begin(w, 4);
        otp_pbw_bytes(w, 1, x->trace_id.data, x->trace_id.len);
        otp_pbw_bytes(w, 2, x->span_id.data, x->span_id.len);
        otp_pbw_end(w, mm);
    }
    for (size_t i = 0; i < e->st.n; i++)
        otp_pbw_string_elem(w, 5, e->st.strs[i]);
    for (size_t i = 0; i < e->attrs.n; i++) {
        const pb_kvu_t *x = e->attrs.items[i];
        size_t mm = otp_pbw_begin(w, 6);
        otp_pbw_int32(w, 1, x->key_strindex);
        w_pbc(w, 2, x->value ? &x->value->base : NULL);
        otp_pbw_int32(w, 3, x->unit_strindex);
        otp_pbw_end(w, mm);
    }
    for (size_t i = 0; i < e->stacks.n; i++) {
        const pb_stack_t *x = e->stacks.items[i];
        size_t mm = otp_pbw_begin(w, 7);
        otp_pbw_packed_int32(w, 1, x->location_indices, x->n_location_indices);
        otp_pbw_end(w, mm);
    }
    otp_pbw_end(w, m);
}

int otp_otlp_init(void)
{
    return otp_resource_build();
}

void otp_otlp_last_stats(otp_otlp_stats_t *st)
{
    *st = last_stats;
}

/* --------------------------------------------------------------- encode */

static void enc_free(enc_t *e)
{
    otp_arena_free(&e->ar);
    otp_strtab_free(&e->st);
    otp_free(e->functions.items);
    otp_free(e->locations.items);
    otp_free(e->mappings.items);
    otp_free(e->stacks.items);
    otp_free(e->links.items);
    otp_free(e->attrs.items);
    otp_free(e->akeys);
    for (int i = 0; i < NMAPS; i++)
        hm_keep(enc_map(e, i), i);
    otp_free(e->map_of_sym);
    otp_free(e->merged);
    otp_free(e->scratch);
    otp_free(e->scratch_h);
}

/* Index 0 of every table is its zero entry. */
static void enc_seed(enc_t *e)
{
    if (otp_strtab_init(&e->st) != 0) e->oom = true;
    void *z;
    if ((z = otp_arena_alloc(&e->ar, sizeof(pb_mapping_t))))
        opentelemetry__proto__profiles__v1development__mapping__init(z);
    if (!z || vec_push(&e->mappings, z)) e->oom = true;
    if ((z = otp_arena_alloc(&e->ar, sizeof(pb_location_t))))
        opentelemetry__proto__profiles__v1development__location__init(z);
    if (!z || vec_push(&e->locations, z)) e->oom = true;
    if ((z = otp_arena_alloc(&e->ar, sizeof(pb_function_t))))
        opentelemetry__proto__profiles__v1development__function__init(z);
    if (!z || vec_push(&e->functions, z)) e->oom = true;
    if ((z = otp_arena_alloc(&e->ar, sizeof(pb_link_t))))
        opentelemetry__proto__profiles__v1development__link__init(z);
    if (!z || vec_push(&e->links, z)) e->oom = true;
    if ((z = otp_arena_alloc(&e->ar, sizeof(pb_stack_t))))
        opentelemetry__proto__profiles__v1development__stack__init(z);
    if (!z || vec_push(&e->stacks, z)) e->oom = true;
    /* attribute 0: no key, no value; its shadow key can never match a real
     * attribute (real keys are string indices > 0). */
    if ((z = otp_arena_alloc(&e->ar, sizeof(pb_kvu_t))))
        opentelemetry__proto__profiles__v1development__key_value_and_unit__init(z);
    if (!z || vec_push(&e->attrs, z)) e->oom = true;
    e->akeys = otp_calloc(64, sizeof *e->akeys);
    if (e->akeys) e->akeys_cap = 64;
    else e->oom = true;
}

int otp_otlp_encode(const otp_batch_t *b, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!otp_resource_ready()) otp_otlp_init();
    size_t total = (b->cpu ? b->cpu->nsamples : 0) + (b->heap ? b->heap->nsamples : 0);
    if (total == 0) return -ENODATA;
    /* process.pid changes in a fork child; the rest of the resource is the
     * parent's and still right. */
    otp_resource_refresh_pid();

    enc_t *e = otp_calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    for (int i = 0; i < NMAPS; i++)
        hm_take(enc_map(e, i), i);
    e->sym = b->sym;
    enc_seed(e);
    if (e->sym) {
        e->nmap_of_sym = otp_sym_mapping_count(e->sym);
        e->map_of_sym = otp_calloc(e->nmap_of_sym ? e->nmap_of_sym : 1, sizeof(int32_t));
        if (!e->map_of_sym) e->oom = true;
    }
    int32_t ft_key = intern(e, "profile.frame.type");
    e->frame_attr[0] = ft_key > 0 ? attr_str(e, ft_key, "native") : 0;
    e->k_thread_id = intern(e, "thread.id");
    e->k_thread_name = intern(e, "thread.name");

    uint8_t *orig_cpu = NULL, *orig_heap = NULL;
    ProtobufCBinaryData ob_cpu = {0, NULL}, ob_heap = {0, NULL};
    if (otp_cfg.original_pprof) {
        size_t n = 0;
        if (b->cpu && otp_pprof_encode(b->cpu, b->sym, &orig_cpu, &n) == 0)
            ob_cpu = (ProtobufCBinaryData){n, orig_cpu};
        if (b->heap && otp_pprof_encode(b->heap, b->sym, &orig_heap, &n) == 0)
            ob_heap = (ProtobufCBinaryData){n, orig_heap};
    }

    pb_profile_t *profiles[1 + OTP_MAX_VALUES];
    rows_t rows[1 + OTP_MAX_VALUES];
    size_t nprof = 0;
    size_t nsamples = 0;
    if (b->cpu && !e->oom) {
        size_t first = e->nmerged, n = merge_samples(e, b->cpu);
        int32_t ca = comment_attr_of(e, b->cpu);
        pb_profile_t *pr = build_profile(e, b->cpu, 0, ca, &ob_cpu);
        if (pr) {
            rows[nprof] = (rows_t){first, n, 0};
            profiles[nprof++] = pr;
            nsamples += count_rows(e, first, n, 0);
        }
    }
    if (b->heap && !e->oom) {
        size_t first = e->nmerged, n = merge_samples(e, b->heap);
        int32_t ca = comment_attr_of(e, b->heap);
        for (int vi = 0; vi < b->heap->nvalues && vi < OTP_MAX_VALUES && !e->oom; vi++) {
            pb_profile_t *pr = build_profile(e, b->heap, vi, ca, &ob_heap);
            if (pr) {
                rows[nprof] = (rows_t){first, n, vi};
                profiles[nprof++] = pr;
                nsamples += count_rows(e, first, n, vi);
            }
        }
    }

    int rc = 0;
    if (e->oom || e->ar.failed) {
        rc = -ENOMEM;
        goto done;
    }

    /* The request: resource_profiles = 1, dictionary = 2, into room
     * for more than it needs (10k 30-frame stacks write ~1 MB; pages
     * never written cost nothing), so that it seldom moves. */
    otp_pbw_t w;
    otp_pbw_init(&w, 4096 + 48 * nsamples + 256 * e->stacks.n + ob_cpu.len + ob_heap.len * nprof);
    w_resource_profiles(&w, 1, e, profiles, rows, nprof);
    w_dictionary(&w, 2, e);
    *out = otp_pbw_take(&w, len);
    if (!*out) {
        rc = -ENOMEM;
        goto done;
    }
    last_stats = (otp_otlp_stats_t){
        .strings = e->st.n,
        .functions = e->functions.n,
        .locations = e->locations.n,
        .mappings = e->mappings.n,
        .stacks = e->stacks.n,
        .links = e->links.n,
        .attributes = e->attrs.n,
        .profiles = nprof,
        .samples = nsamples,
    };
done:
    otp_free(orig_cpu);
    otp_free(orig_heap);
    enc_free(e);
    otp_free(e);
    return rc;
}
