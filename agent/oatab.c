/*
 * Open-addressing table growth: see oatab.h.
 */
#include "oatab.h"

#include <string.h>

#include "mem.h"

uint64_t otp_oa_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    return k ^ (k >> 33);
}

void *otp_oa_room(void *tab, size_t *cap, size_t n, size_t esz, size_t first, otp_oa_key_fn key)
{
    if ((n + 1) * 2 <= *cap)
        return tab;
    size_t nc = *cap ? *cap * 2 : first;
    char *nt = otp_calloc(nc, esz), *old = tab;
    if (!nt)
        return NULL;
    uint64_t k, unused;
    for (size_t i = 0; i < *cap; i++) {
        if (!key(old + i * esz, &k))
            continue;
        size_t j = otp_oa_hash(k) & (nc - 1);
        while (key(nt + j * esz, &unused))
            j = (j + 1) & (nc - 1);
        memcpy(nt + j * esz, old + i * esz, esz);
    }
    otp_free(old);
    *cap = nc;
    return nt;
}
