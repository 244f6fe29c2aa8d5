/*
 * bench_export: encode time and size of one OTLP request against the pprof
 * encoding of the same profile. The batch is 10k distinct 30-frame stacks
 * over a pool of 4000 real text addresses (this binary and libc), 8
 * threads, a third of the samples linked to one of ~3300 traces: a busy
 * interval of a large service. Every figure is the median of the rounds;
 * each OTLP encode includes symbolization (the symbolizer caches ELF data
 * per file, as the flusher's does across intervals).
 *
 * Prints "key value" lines for scripts/bench-export.
 * Usage: bench_export [rounds]
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "mem.h"
#include "otlp.h"
#include "pprof.h"
#include "symbols.h"
#include "testutil.h"

enum { NS = 10000, NF = 30, POOL = 4000 };

static __attribute__((noinline, used)) int bench_anchor(int x)
{
    return x * 3 + 1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct fig {
    double enc_ms, gz_ms;
    size_t plain, gz;
} fig_t;

/* One encoder under test: OTLP (a batch) or pprof (a profile). */
typedef struct encoder {
    const char *name;
    const otp_batch_t *batch;
    const otp_profile_t *prof;
    otp_symbolizer_t *sym;
} encoder_t;

static int encode(const encoder_t *e, uint8_t **buf, size_t *len)
{
    return e->batch ? otp_otlp_encode(e->batch, buf, len) : otp_pprof_encode(e->prof, e->sym, buf, len);
}

static fig_t run(const encoder_t *e, int rounds)
{
    double enc[64], gzt[64];
    fig_t f = {0, 0, 0, 0};
    for (int r = 0; r < rounds; r++) {
        uint8_t *buf = NULL, *gz = NULL;
        size_t len = 0, gzlen = 0;
        double t0 = now_ms();
        if (encode(e, &buf, &len) != 0) {
            fprintf(stderr, "bench_export: %s encode failed\n", e->name);
            exit(1);
        }
        double t1 = now_ms();
        otp_gzip(buf, len, &gz, &gzlen);
        double t2 = now_ms();
        enc[r] = t1 - t0;
        gzt[r] = t2 - t1;
        f.plain = len;
        f.gz = gzlen;
        otp_free(buf);
        otp_free(gz);
    }
    f.enc_ms = median(enc, rounds);
    f.gz_ms = median(gzt, rounds);
    return f;
}

static fig_t run_otlp(const otp_batch_t *b, int rounds)
{
    encoder_t e = {"OTLP", b, NULL, NULL};
    return run(&e, rounds);
}

static fig_t run_pprof(const otp_profile_t *p, otp_symbolizer_t *sym, int rounds)
{
    encoder_t e = {"pprof", NULL, p, sym};
    return run(&e, rounds);
}

static void print(const char *what, fig_t f)
{
    printf("%s_encode_ms %.2f\n%s_gzip_ms %.2f\n%s_plain_bytes %zu\n%s_gzip_bytes %zu\n", what, f.enc_ms, what,
           f.gz_ms, what, f.plain, what, f.gz);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 11;
    if (rounds < 1) rounds = 1;
    if (rounds > 64) rounds = 64;
    otp_config_defaults(&otp_cfg);
    otp_otlp_init();
    otp_symbolizer_t *sym = otp_sym_new();
    int m1 = -1, m2 = -1;
    otp_sym_lookup(sym, (uint64_t)(uintptr_t)bench_anchor, &m1);
    otp_sym_lookup(sym, (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, "malloc"), &m2);
    if (m1 < 0 || m2 < 0) {
        fprintf(stderr, "bench_export: cannot find the text mappings\n");
        return 1;
    }
    const otp_mapping_t *a = otp_sym_mapping(sym, (size_t)m1), *b = otp_sym_mapping(sym, (size_t)m2);
    static uint64_t pool[POOL], pcs[NS][NF];
    static otp_sample_t cs[NS], hs[NS];
    static const char *names[8] = {"main", "worker-1", "worker-2", "worker-3",
                                   "io-1", "io-2", "gc", "timer"};
    random_stacks(a, b, pool, POOL, &pcs[0][0], NS, NF);
    for (int i = 0; i < NS; i++) {
        cs[i] = (otp_sample_t){.pcs = pcs[i], .npcs = NF, .tid = (uint32_t)(100 + i % 8),
                               .thread_name = names[i % 8], .values = {1 + i % 3, (1 + i % 3) * 10000000LL},
                               .has_link = i % 3 == 0};
        cs[i].trace_id[0] = (uint8_t)i;
        cs[i].trace_id[1] = (uint8_t)(i >> 8);
        cs[i].trace_id[15] = 1;
        cs[i].span_id[0] = (uint8_t)(i * 7);
        hs[i] = cs[i];
        int64_t objs = 1 + i % 5, sz = 64 << (i % 6);
        hs[i].values[0] = objs;
        hs[i].values[1] = objs * sz;
        hs[i].values[2] = i % 4 ? objs : 0;
        hs[i].values[3] = i % 4 ? objs * sz : 0;
        hs[i].alloc_size = (uint64_t)sz;
    }
    otp_profile_t cpu = {.kind = OTP_PROFILE_CPU, .time_ns = 1700000000000000000LL, .duration_ns = 10000000000LL,
                         .period = 10000000, .nvalues = 2, .nsamples = NS, .samples = cs};
    otp_profile_t heap = {.kind = OTP_PROFILE_HEAP, .time_ns = 1700000000000000000LL, .duration_ns = 10000000000LL,
                          .period = 524288, .nvalues = 4, .nsamples = NS, .samples = hs};

    /* Symbolization alone, interval by interval as the flusher does it
     * (a refresh, then every distinct address): the first intervals open
     * the DWARF within their time budget, later ones hit the caches. */
    {
        otp_frame_t fr[OTP_SYM_MAX_FRAMES];
        double first = 0, last = 0;
        int k = 0;
        for (; k < 20; k++) {
            otp_sym_refresh(sym);
            double t0 = now_ms();
            size_t lines = 0;
            for (int i = 0; i < POOL; i++) lines += (size_t)otp_sym_frames(sym, pool[i], NULL, fr, OTP_SYM_MAX_FRAMES);
            double t = now_ms() - t0;
            if (k == 0) first = t;
            if (k > 0 && t < 0.2 * first && t <= last * 1.2 && t >= last * 0.8) break;
            last = t;
            if (k == 19) break;
            (void)lines;
        }
        printf("sym_addresses %d\nsym_first_ms %.2f\nsym_intervals_to_steady %d\nsym_steady_ms %.2f\n", POOL, first,
               k + 1, last);
    }

    /* warm the symbolizer's per-file caches, as a running flusher has */
    otp_batch_t warm = {.cpu = &cpu, .sym = sym};
    uint8_t *tmp = NULL;
    size_t tl = 0;
    otp_otlp_encode(&warm, &tmp, &tl);
    otp_free(tmp);

    printf("stacks %d\nframes %d\nrounds %d\n", NS, NF, rounds);
    otp_batch_t bc = {.cpu = &cpu, .sym = sym};
    print("otlp_cpu", run_otlp(&bc, rounds));
    otp_otlp_stats_t st;
    otp_otlp_last_stats(&st);
    printf("otlp_cpu_tables strings=%zu functions=%zu locations=%zu mappings=%zu stacks=%zu links=%zu attributes=%zu\n",
           st.strings, st.functions, st.locations, st.mappings, st.stacks, st.links, st.attributes);
    print("pprof_cpu", run_pprof(&cpu, sym, rounds));
    otp_batch_t bh = {.heap = &heap, .sym = sym};
    print("otlp_heap", run_otlp(&bh, rounds));
    print("pprof_heap", run_pprof(&heap, sym, rounds));
    otp_batch_t both = {.cpu = &cpu, .heap = &heap, .sym = sym};
    print("otlp_both", run_otlp(&both, rounds));
    otp_sym_free(sym);
    return 0;
}
