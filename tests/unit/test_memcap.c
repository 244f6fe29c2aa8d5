/* Unit tests of the memory cap's account (memcap.h) with simulated
 * sources, and of capped aggregation (agg.h): below the cap new stacks
 * get entries, at it they fold into the one OTP_PC_FOLDED stack with
 * nothing lost, and room comes back when the memory is given back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "agg.h"
#include "check.h"
#include "memcap.h"

#define MIB ((size_t)1 << 20)

static size_t fake_a, fake_b, slow_calls;
static size_t src_a(void)
{
    return fake_a;
}
static size_t src_b(void)
{
    slow_calls++;
    return fake_b;
}

static const otp_memcap_source_t srcs[] = {
    {"a", src_a, false},
    {"b", src_b, true},
};

typedef struct sum {
    int64_t v0;
    size_t n, folded;
} sum_t;

static void visit(void *ctx, const otp_sample_t *s)
{
    sum_t *t = ctx;
    t->v0 += s->values[0];
    t->n++;
    if (s->npcs == 1 && s->pcs[0] == OTP_PC_FOLDED)
        t->folded++;
}

int main(void)
{
    /* No cap: always room, whatever is measured. */
    otp_memcap_init(0, srcs, 2);
    fake_a = 100 * MIB;
    otp_memcap_refresh();
    CHECK(otp_memcap_room());
    CHECK(otp_memcap_fits(1000 * MIB));
    CHECK_EQ_INT(otp_memcap_used(), 100 * MIB);

    /* 16 MiB cap: the limit is 10 MiB (5/8) with the export reserve (4x the
     * stack tables) on top of what is measured. */
    otp_memcap_init(16 * MIB, srcs, 2);
    fake_a = 2 * MIB;
    fake_b = 1 * MIB;
    slow_calls = 0;
    otp_memcap_refresh();
    CHECK_EQ_INT(otp_memcap_used(), 3 * MIB);
    CHECK(otp_memcap_room());
    /* A slow source is measured once every OTP_MEMCAP_SLOW_TICKS. */
    fake_b = 5 * MIB;
    for (int i = 1; i < OTP_MEMCAP_SLOW_TICKS; i++)
        otp_memcap_refresh();
    CHECK_EQ_INT(slow_calls, 1);
    CHECK_EQ_INT(otp_memcap_used(), 3 * MIB);
    otp_memcap_refresh();
    CHECK_EQ_INT(slow_calls, 2);
    CHECK_EQ_INT(otp_memcap_used(), 7 * MIB);
    CHECK(otp_memcap_room());

    /* Charges count at once: 7 + 0.5 + 4 x 0.5 = 9.5 MiB < 10, then
     * 7 + 1.5 + 4 x 1.5 = 14.5 MiB >= 10 before any refresh. */
    otp_memcap_charge(MIB / 2);
    CHECK(otp_memcap_room());
    otp_memcap_charge(1 * MIB);
    CHECK(!otp_memcap_room());
    /* The refresh measures the charged memory (in source a now): 8.5 MiB
     * measured, 1.5 MiB of stacks held: 8.5 + 6 = 14.5, still no room. */
    fake_a += MIB + MIB / 2;
    otp_memcap_refresh();
    CHECK(!otp_memcap_room());
    CHECK(!otp_memcap_fits(1 * MIB));
    /* Given back: room again. */
    otp_memcap_uncharge(MIB + MIB / 2);
    fake_a -= MIB + MIB / 2;
    otp_memcap_refresh();
    CHECK(otp_memcap_room());
    CHECK(otp_memcap_fits(3 * MIB));
    CHECK(!otp_memcap_fits(4 * MIB)); /* 7 + 4 > 10 */
    CHECK(!otp_memcap_fits(8 * MIB + 1)); /* more than half the cap */
    CHECK(otp_memcap_peak() >= 8 * MIB);

    /* Capped aggregation: distinct stacks until the cap, then one folded
     * entry; every value still counted. */
    otp_memcap_init(4 * MIB, srcs, 2);
    fake_a = 1 * MIB;
    fake_b = 0;
    otp_memcap_refresh();
    otp_agg_t *a = otp_agg_new();
    CHECK(a != NULL);
    uint64_t frames[32];
    int64_t total = 0;
    int missed = 0;
    for (int i = 0; i < 20000 && a; i++) {
        for (int j = 0; j < 32; j++)
            frames[j] = 0x400000 + (uint64_t)(i * 32 + j);
        otp_agg_key_t k = {frames, 32, 7, 0, NULL, NULL};
        int64_t v[OTP_MAX_VALUES] = {1 + i % 3, 10, 0, 0};
        total += v[0];
        if (!otp_agg_add_capped(a, &k, "t", v, OTP_PROFILE_CPU))
            missed++;
        if (i % 1000 == 999)
            otp_memcap_refresh(); /* the flusher's ticks */
    }
    CHECK_EQ_INT(missed, 0);
    sum_t s = {0, 0, 0};
    otp_agg_foreach(a, visit, &s);
    CHECK_EQ_INT(s.v0, total);
    CHECK_EQ_INT(s.folded, 1);
    CHECK(s.n > 100 && s.n < 20000);
    CHECK(!otp_memcap_room());
    uint64_t folded = otp_memcap_folded_total(OTP_PROFILE_CPU);
    CHECK(folded > 0);
    /* The note tells the interval's folded samples once. */
    const char *note = otp_memcap_note(OTP_PROFILE_CPU);
    char want[64];
    snprintf(want, sizeof want, "otprof memory cap: %llu samples folded", (unsigned long long)folded);
    CHECK(strncmp(note, want, strlen(want)) == 0);
    CHECK_EQ_STR(otp_memcap_note(OTP_PROFILE_CPU), "");
    CHECK_EQ_STR(otp_memcap_note(OTP_PROFILE_HEAP), "");
    /* A stack already held keeps its entry at the cap. */
    for (int j = 0; j < 32; j++)
        frames[j] = 0x400000 + (uint64_t)j;
    otp_agg_key_t k0 = {frames, 32, 7, 0, NULL, NULL};
    int64_t one[OTP_MAX_VALUES] = {1, 0, 0, 0};
    otp_agg_add_capped(a, &k0, "t", one, OTP_PROFILE_CPU);
    CHECK_EQ_INT(otp_memcap_folded_total(OTP_PROFILE_CPU), folded);
    /* Clearing gives its charges back: room again. */
    otp_agg_clear(a);
    otp_memcap_refresh();
    CHECK(otp_memcap_room());
    otp_agg_free(a);

    /* mincore-based measure of a mapping: untouched pages are not
     * resident, written ones are. */
    size_t len = 64 * 4096;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    if (m != MAP_FAILED) {
        CHECK_EQ_INT(otp_memcap_resident(m, len), 0);
        memset(m, 1, 10 * 4096);
        CHECK_EQ_INT(otp_memcap_resident(m, len), 10 * 4096);
        munmap(m, len);
    }
    return check_done();
}
