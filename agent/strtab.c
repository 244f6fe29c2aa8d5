/*
 * The encoders' arena and string table (see strtab.h). Strings are found
 * by a 64-bit hash in an open-addressing table kept at most half full,
 * and compared by length and bytes, so strings with NULs inside (none
 * expected) or equal prefixes never merge.
 */
#include "strtab.h"

#include <errno.h>
#include <string.h>

#include "mem.h"

typedef struct otp_chunk {
    struct otp_chunk *next;
    size_t used, cap;
    max_align_t data[];
} otp_chunk_t;

/* Large enough that a typical profile needs a handful. */
#define CHUNK_BYTES (256 * 1024)

void *otp_arena_alloc(otp_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    otp_chunk_t *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
        c = otp_malloc(sizeof(otp_chunk_t) + cap);
        if (!c) {
            a->failed = true;
            return NULL;
        }
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void otp_arena_free(otp_arena_t *a)
{
    for (otp_chunk_t *c = a->head, *next; c; c = next) {
        next = c->next;
        otp_free(c);
    }
    a->head = NULL;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, finished with a mix */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

static int grow_slots(otp_strtab_t *t)
{
    size_t nc = t->slots ? t->slots * 2 : 256;
    uint64_t *nh = otp_malloc(nc * sizeof *nh);
    uint32_t *nv = otp_calloc(nc, sizeof *nv);
    if (!nh || !nv) {
        otp_free(nh);
        otp_free(nv);
        return -ENOMEM;
    }
    for (size_t i = 0; i < t->slots; i++) {
        if (!t->val[i])
            continue;
        size_t j = t->hash[i] & (nc - 1);
        while (nv[j])
            j = (j + 1) & (nc - 1);
        nh[j] = t->hash[i];
        nv[j] = t->val[i];
    }
    otp_free(t->hash);
    otp_free(t->val);
    t->hash = nh;
    t->val = nv;
    t->slots = nc;
    return 0;
}

static int grow_strs(otp_strtab_t *t)
{
    size_t nc = t->cap ? t->cap * 2 : 256;
    const char **ns = otp_realloc(t->strs, nc * sizeof *ns);
    if (!ns)
        return -ENOMEM;
    t->strs = ns;
    size_t *nl = otp_realloc(t->lens, nc * sizeof *nl);
    if (!nl)
        return -ENOMEM;
    t->lens = nl;
    t->cap = nc;
    return 0;
}

int otp_strtab_init(otp_strtab_t *t)
{
    memset(t, 0, sizeof *t);
    if (grow_strs(t) != 0 || grow_slots(t) != 0) {
        t->oom = true;
        return -ENOMEM;
    }
    t->strs[0] = "";
    t->lens[0] = 0;
    t->n = 1;
    return 0;
}

void otp_strtab_free(otp_strtab_t *t)
{
    otp_free(t->strs);
    otp_free(t->lens);
    otp_free(t->hash);
    otp_free(t->val);
    otp_arena_free(&t->arena);
    memset(t, 0, sizeof *t);
}

int64_t otp_strtab_intern(otp_strtab_t *t, const char *s, size_t n, bool copy)
{
    if (!s || n == 0 || !t->slots)
        return 0;
    uint64_t h = hash_bytes(s, n);
    size_t j = h & (t->slots - 1);
    for (; t->val[j]; j = (j + 1) & (t->slots - 1)) {
        uint32_t i = t->val[j] - 1;
        if (t->hash[j] == h && t->lens[i] == n && memcmp(t->strs[i], s, n) == 0)
            return i;
    }
    if ((t->used + 1) * 2 > t->slots) {
        if (grow_slots(t) != 0)
            goto oom;
        j = h & (t->slots - 1);
        while (t->val[j])
            j = (j + 1) & (t->slots - 1);
    }
    if (t->n == t->cap && grow_strs(t) != 0)
        goto oom;
    if (copy) {
        char *c = otp_arena_alloc(&t->arena, n + 1);
        if (!c)
            goto oom;
        memcpy(c, s, n);
        s = c;
    }
    t->strs[t->n] = s;
    t->lens[t->n] = n;
    t->hash[j] = h;
    t->val[j] = (uint32_t)t->n + 1;
    t->used++;
    return (int64_t)t->n++;
oom:
    t->oom = true;
    return 0;
}

int64_t otp_strtab_add(otp_strtab_t *t, const char *s, bool copy)
{
    return otp_strtab_intern(t, s, s ? strlen(s) : 0, copy);
}
