/* Unit tests of the signal handler's fold table: identical stacks and
 * trace contexts merge, every part of the key keeps them apart, a full
 * table refuses only new keys, clearing empties it; and what one add costs
 * (printed: it runs in the SIGPROF handler). */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "fold.h"

static union {
    otp_rec_t rec;
    char bytes[1024];
} buf;

static const otp_rec_t *rec(const uint64_t *frames, uint16_t n, uint8_t trace0, uint8_t span0, uint64_t w,
                            uint64_t ns)
{
    memset(&buf, 0, sizeof buf);
    buf.rec.type = OTP_REC_CPU;
    buf.rec.nframes = n;
    buf.rec.len = otp_rec_size(n);
    buf.rec.weight = w;
    buf.rec.addr = ns;
    buf.rec.trace_id[0] = trace0;
    buf.rec.span_id[0] = span0;
    memcpy(buf.rec.frames, frames, n * sizeof *frames);
    return &buf.rec;
}

typedef struct sum {
    uint64_t w, ns;
    size_t n;
    uint64_t first_leaf;
} sum_t;

static void visit(void *ctx, const otp_fold_entry_t *e)
{
    sum_t *s = ctx;
    if (!s->n)
        s->first_leaf = e->frames[0];
    s->w += e->weight;
    s->ns += e->ns;
    s->n++;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* the machine may be busy */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(void)
{
    otp_fold_t *f = otp_fold_create();
    CHECK(f != NULL);
    if (!f)
        return check_done();
    uint64_t s1[] = {0x1000, 0x2000, 0x3000}, s2[] = {0x1001, 0x2000, 0x3000};
    CHECK_EQ_INT(otp_fold_add(f, rec(s1, 3, 0, 0, 1, 10)), 0);
    CHECK_EQ_INT(otp_fold_add(f, rec(s1, 3, 0, 0, 2, 20)), 0);
    CHECK_EQ_INT(otp_fold_count(f), 1);
    otp_fold_add(f, rec(s2, 3, 0, 0, 1, 10)); /* other leaf */
    otp_fold_add(f, rec(s1, 2, 0, 0, 1, 10)); /* shorter stack */
    otp_fold_add(f, rec(s1, 3, 7, 0, 1, 10)); /* other trace */
    otp_fold_add(f, rec(s1, 3, 0, 7, 1, 10)); /* other span */
    CHECK_EQ_INT(otp_fold_count(f), 5);
    sum_t s = {0};
    otp_fold_foreach(f, visit, &s);
    CHECK_EQ_INT(s.n, 5);
    CHECK_EQ_INT(s.w, 7);
    CHECK_EQ_INT(s.ns, 70);
    CHECK_EQ_INT(s.first_leaf, 0x1000); /* insertion order */

    otp_fold_clear(f);
    CHECK_EQ_INT(otp_fold_count(f), 0);
    memset(&s, 0, sizeof s);
    otp_fold_foreach(f, visit, &s);
    CHECK_EQ_INT(s.n, 0);
    CHECK_EQ_INT(otp_fold_add(f, rec(s2, 3, 0, 0, 4, 40)), 0);
    memset(&s, 0, sizeof s);
    otp_fold_foreach(f, visit, &s);
    CHECK(s.n == 1 && s.w == 4 && s.first_leaf == 0x1001);
    otp_fold_clear(f);

    /* Filling up: new keys are refused, known ones still add up. */
    uint64_t fr[20];
    for (int i = 0; i < 20; i++)
        fr[i] = 0x400000 + (uint64_t)i * 0x40;
    size_t added = 0;
    int rc = 0;
    for (uint64_t k = 0; k < 100000 && rc == 0; k++) {
        fr[0] = 0x10000000 + k;
        if ((rc = otp_fold_add(f, rec(fr, 20, 0, 0, 1, 1))) == 0)
            added++;
    }
    CHECK(rc == -1 && added > 10000);
    CHECK_EQ_INT(otp_fold_count(f), added);
    fr[0] = 0x10000000;
    CHECK_EQ_INT(otp_fold_add(f, rec(fr, 20, 0, 0, 5, 5)), 0);
    memset(&s, 0, sizeof s);
    otp_fold_foreach(f, visit, &s);
    CHECK_EQ_INT(s.w, added + 5);
    otp_fold_clear(f);
    CHECK_EQ_INT(otp_fold_count(f), 0);

    /* Cost of one add, as the handler pays it: a hot loop's 2000 distinct
     * 20-frame stacks, one million samples. */
    static otp_rec_t *recs[2000];
    static uint64_t store[2000][(sizeof(otp_rec_t) + 20 * 8) / 8];
    for (int k = 0; k < 2000; k++) {
        recs[k] = (otp_rec_t *)store[k];
        memcpy(recs[k], rec(fr, 20, 0, 0, 1, 1000000), otp_rec_size(20));
        recs[k]->frames[0] = 0x401000 + (uint64_t)(k % 400) * 3;
        recs[k]->frames[1] = 0x402000 + (uint64_t)(k / 400) * 5;
    }
    int64_t t0 = now_ns();
    unsigned x = 1;
    for (int i = 0; i < 1000000; i++) {
        x = x * 1103515245u + 12345u;
        otp_fold_add(f, recs[(x >> 8) % 2000]);
    }
    double per = (double)(now_ns() - t0) / 1e6;
    printf("  fold: %.0f ns of CPU per add (2000 keys of 20 frames)\n", per);
    CHECK_EQ_INT(otp_fold_count(f), 2000);
    memset(&s, 0, sizeof s);
    otp_fold_foreach(f, visit, &s);
    CHECK_EQ_INT(s.w, 1000000);
    otp_fold_destroy(f);
    return check_done();
}
