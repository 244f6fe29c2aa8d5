/* Open addressing with linear probing; keys are hashed with FNV-1a, which
 * is plenty for profile-sized tables. */
#include "intern.h"

#include <stdlib.h>
#include <string.h>

struct otp_intern_slot {
    uint64_t hash;
    uint32_t idx1; /* index + 1; 0 = empty */
};

static uint64_t hash_bytes(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

void otp_intern_init(otp_intern_t *t)
{
    memset(t, 0, sizeof *t);
}

void otp_intern_fini(otp_intern_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->keys[i]);
    free(t->keys);
    free(t->lens);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static int grow(otp_intern_t *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 256;
    struct otp_intern_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].idx1)
            continue;
        size_t j = t->slots[i].hash & (ncap - 1);
        while (ns[j].idx1)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

static struct otp_intern_slot *probe(const otp_intern_t *t, const void *key, size_t len,
                                     uint64_t h)
{
    size_t j = h & (t->cap - 1);
    for (;;) {
        struct otp_intern_slot *s = &t->slots[j];
        if (!s->idx1)
            return s;
        size_t i = s->idx1 - 1;
        if (s->hash == h && t->lens[i] == len && memcmp(t->keys[i], key, len) == 0)
            return s;
        j = (j + 1) & (t->cap - 1);
    }
}

int64_t otp_intern_find(const otp_intern_t *t, const void *key, size_t len)
{
    if (!t->cap)
        return -1;
    struct otp_intern_slot *s = probe(t, key, len, hash_bytes(key, len));
    return s->idx1 ? (int64_t)s->idx1 - 1 : -1;
}

int64_t otp_intern(otp_intern_t *t, const void *key, size_t len, int *added)
{
    if (added)
        *added = 0;
    if ((t->n + 1) * 2 > t->cap && grow(t) != 0)
        return -1;
    uint64_t h = hash_bytes(key, len);
    struct otp_intern_slot *s = probe(t, key, len, h);
    if (s->idx1)
        return (int64_t)s->idx1 - 1;
    if (t->n == t->keys_cap) {
        size_t lc = t->keys_cap;
        if (!otp_grow_to((void **)&t->lens, &lc, t->n, sizeof *t->lens) ||
            !otp_grow_to((void **)&t->keys, &t->keys_cap, t->n, sizeof *t->keys))
            return -1;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, key, len);
    copy[len] = '\0';
    t->keys[t->n] = copy;
    t->lens[t->n] = len;
    s->hash = h;
    s->idx1 = (uint32_t)(t->n + 1);
    if (added)
        *added = 1;
    return (int64_t)t->n++;
}

bool otp_grow_to(void **arr, size_t *cap, size_t i, size_t elem)
{
    if (i < *cap)
        return true;
    size_t nc = *cap ? *cap : 64;
    while (nc <= i)
        nc *= 2;
    void *na = realloc(*arr, nc * elem);
    if (!na)
        return false;
    *arr = na;
    *cap = nc;
    return true;
}
