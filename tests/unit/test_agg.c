/* Unit tests of stack aggregation: identical stacks merge, and thread,
 * trace context, size and every frame keep them apart. */
#include <stdint.h>
#include <string.h>

#include "agg.h"
#include "check.h"

static int64_t *add(otp_agg_t *a, const uint64_t *f, uint32_t n, uint32_t tid, uint64_t size,
                    const uint8_t *trace, const uint8_t *span, int64_t v0, int64_t v1)
{
    otp_agg_key_t k = {f, n, tid, size, trace, span};
    int64_t v[OTP_MAX_VALUES] = {v0, v1, 0, 0};
    return otp_agg_add(a, &k, "worker", v);
}

typedef struct sum {
    int64_t v0, v1;
    size_t n, linked;
} sum_t;

static void visit(void *ctx, const otp_sample_t *s)
{
    sum_t *t = ctx;
    t->v0 += s->values[0];
    t->v1 += s->values[1];
    t->n++;
    t->linked += s->has_link;
}

int main(void)
{
    otp_agg_t *a = otp_agg_new();
    CHECK(a != NULL);
    uint64_t s1[] = {1, 2, 3}, s2[] = {1, 2, 4}, s3[] = {1, 2};
    uint8_t tr[16] = {1}, sp[8] = {2}, zero[16] = {0};
    add(a, s1, 3, 10, 0, NULL, NULL, 1, 100);
    add(a, s1, 3, 10, 0, NULL, NULL, 2, 200);
    CHECK_EQ_INT(otp_agg_count(a), 1);
    add(a, s2, 3, 10, 0, NULL, NULL, 1, 100);  /* other leaf */
    add(a, s3, 2, 10, 0, NULL, NULL, 1, 100);  /* prefix */
    add(a, s1, 3, 11, 0, NULL, NULL, 1, 100);  /* other thread */
    add(a, s1, 3, 10, 64, NULL, NULL, 1, 100); /* other size */
    add(a, s1, 3, 10, 0, tr, sp, 1, 100);      /* traced */
    add(a, s1, 3, 10, 0, zero, zero, 5, 500);  /* all-zero ids = untraced */
    CHECK_EQ_INT(otp_agg_count(a), 6);

    otp_profile_t p;
    memset(&p, 0, sizeof p);
    CHECK_EQ_INT(otp_agg_to_profile(a, &p), 0);
    CHECK_EQ_INT(p.nsamples, 6);
    int found = 0;
    for (size_t i = 0; i < p.nsamples; i++) {
        const otp_sample_t *s = &p.samples[i];
        if (s->npcs == 3 && s->pcs[2] == 3 && s->tid == 10 && s->alloc_size == 0 && !s->has_link) {
            found = 1;
            CHECK_EQ_INT(s->values[0], 8);
            CHECK_EQ_INT(s->values[1], 800);
            CHECK_EQ_STR(s->thread_name, "worker");
        }
        if (s->has_link)
            CHECK_NAMED("traced sample keeps its ids", s->trace_id[0] == 1 && s->span_id[0] == 2);
    }
    CHECK_NAMED("merged sample present", found);
    sum_t t = {0};
    otp_agg_foreach(a, visit, &t);
    CHECK_EQ_INT(t.v0, 13);
    CHECK_EQ_INT(t.v1, 1300);
    CHECK_EQ_INT(t.linked, 1);

    /* Growth: many distinct stacks, values intact. */
    otp_agg_clear(a);
    CHECK_EQ_INT(otp_agg_count(a), 0);
    uint64_t f[8];
    for (uint64_t i = 0; i < 50000; i++) {
        for (int j = 0; j < 8; j++)
            f[j] = i * 8 + (uint64_t)j;
        add(a, f, 8, (uint32_t)(i % 3), 0, NULL, NULL, 1, (int64_t)i);
        add(a, f, 8, (uint32_t)(i % 3), 0, NULL, NULL, 1, 0);
    }
    CHECK_EQ_INT(otp_agg_count(a), 50000);
    memset(&t, 0, sizeof t);
    otp_agg_foreach(a, visit, &t);
    CHECK_EQ_INT(t.v0, 100000);
    CHECK_EQ_INT(t.v1, (int64_t)50000 * 49999 / 2);
    otp_agg_free(a);
    return check_done();
}
