/* Unit test of the open-addressing tables' growth (oatab.h): every entry
 * survives each doubling and is found again by the callers' own probe;
 * the table stays at most half full; a table with room is left as is. */
#include <stdint.h>

#include "check.h"
#include "mem.h"
#include "oatab.h"

typedef struct ent {
    uint64_t key; /* 0: empty */
    uint64_t val;
} ent_t;

static bool key_of(const void *e, uint64_t *k)
{
    *k = ((const ent_t *)e)->key;
    return *k != 0;
}

static ent_t *slot(ent_t *t, size_t cap, uint64_t key)
{
    size_t j = otp_oa_hash(key) & (cap - 1);
    while (t[j].key && t[j].key != key)
        j = (j + 1) & (cap - 1);
    return &t[j];
}

int main(void)
{
    ent_t *t = NULL;
    size_t cap = 0, n = 0;
    int lost = 0, overfull = 0, grows = 0;
    for (uint64_t k = 1; k <= 5000; k++) {
        size_t before = cap;
        ent_t *nt = otp_oa_room(t, &cap, n, sizeof *t, 16, key_of);
        if (!nt)
            break;
        grows += cap != before;
        t = nt;
        ent_t *e = slot(t, cap, k * 0x10001);
        e->key = k * 0x10001;
        e->val = k;
        n++;
        if (n * 2 > cap)
            overfull++;
    }
    CHECK_EQ_INT((int)n, 5000);
    for (uint64_t k = 1; k <= 5000; k++)
        lost += slot(t, cap, k * 0x10001)->val != k;
    CHECK_NAMED("all 5000 entries found after every growth", lost == 0);
    CHECK_NAMED("never more than half full", overfull == 0);
    CHECK_EQ_INT((int)cap, 16384);
    CHECK_EQ_INT(grows, 11); /* 16, 32, ... 16384 */
    size_t same = cap;
    CHECK_NAMED("room left: the same table", otp_oa_room(t, &cap, 100, sizeof *t, 16, key_of) == t && cap == same);
    otp_free(t);
    return check_done();
}
