/*
 * Top-10 table printed at exit. Leaf PCs are counted in a small open
 * addressing map during the run and resolved to function names once.
 */
#include "summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "cpu.h"
#include "log.h"
#include "mem.h"
#include "memcap.h"
#include "thread.h"
#include "unwind.h"

#define TOP_N 10

typedef struct pc_count {
    uint64_t pc;
    int64_t n;
} pc_count_t;

typedef struct fn_count {
    const char *name;
    int64_t n;
} fn_count_t;

static pc_count_t *pcs;
static size_t pcs_cap, pcs_len;
static int64_t total;
static fn_count_t top[TOP_N];
static int ntop;
static otp_summary_section_fn sections[8];
static int nsections;

static int grow(void)
{
    size_t ncap = pcs_cap ? pcs_cap * 2 : 4096;
    pc_count_t *n = otp_calloc(ncap, sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < pcs_cap; i++) {
        if (!pcs[i].pc)
            continue;
        size_t j = (pcs[i].pc * 0x9e3779b97f4a7c15ULL) >> 20 & (ncap - 1);
        while (n[j].pc)
            j = (j + 1) & (ncap - 1);
        n[j] = pcs[i];
    }
    otp_free(pcs);
    pcs = n;
    pcs_cap = ncap;
    return 0;
}

void otp_summary_add_cpu(uint64_t pc, int64_t weight)
{
    total += weight;
    if (!otp_cfg.summary || pc == 0)
        return;
    if ((pcs_len + 1) * 2 > pcs_cap && grow() != 0)
        return;
    size_t j = (pc * 0x9e3779b97f4a7c15ULL) >> 20 & (pcs_cap - 1);
    while (pcs[j].pc && pcs[j].pc != pc)
        j = (j + 1) & (pcs_cap - 1);
    if (!pcs[j].pc) {
        pcs[j].pc = pc;
        pcs_len++;
    }
    pcs[j].n += weight;
}

static int by_count_desc(const void *a, const void *b)
{
    const fn_count_t *x = a, *y = b;
    return x->n < y->n ? 1 : x->n > y->n ? -1 : strcmp(x->name, y->name);
}

void otp_summary_symbolize(otp_symbolizer_t *sym)
{
    if (!otp_cfg.summary || !pcs_len)
        return;
    fn_count_t *fns = otp_calloc(pcs_len, sizeof *fns);
    if (!fns)
        return;
    size_t nf = 0;
    for (size_t i = 0; i < pcs_cap; i++) {
        if (!pcs[i].pc)
            continue;
        int m;
        /* As the profiles name it: the innermost (inlined) function,
         * demangled, without a symbol version. */
        otp_frame_t fr[OTP_SYM_MAX_FRAMES];
        const char *name = otp_sym_frames(sym, pcs[i].pc, &m, fr, OTP_SYM_MAX_FRAMES) > 0 ? fr[0].name : NULL;
        if (!name)
            name = "[unknown]";
        size_t k = 0;
        while (k < nf && strcmp(fns[k].name, name) != 0)
            k++;
        if (k == nf)
            fns[nf++].name = name;
        fns[k].n += pcs[i].n;
    }
    qsort(fns, nf, sizeof *fns, by_count_desc);
    ntop = nf < TOP_N ? (int)nf : TOP_N;
    for (int i = 0; i < ntop; i++) {
        top[i].n = fns[i].n;
        top[i].name = otp_strdup(fns[i].name);
    }
    otp_free(fns);
}

void otp_summary_add_section(otp_summary_section_fn fn)
{
    if (nsections < (int)OTP_ARRAY_LEN(sections))
        sections[nsections++] = fn;
}

void otp_summary_print(void)
{
    if (!otp_cfg.summary)
        return;
    /* The summary was asked for: show it whatever the log level. */
    int level = otp_log_get_level();
    if (level < OTP_LOG_INFO)
        otp_log_set_level(OTP_LOG_INFO);
    double p50, p99;
    uint64_t n;
    otp_cpu_handler_stats(&p50, &p99, &n);
    double period_s = 1.0 / otp_cfg.cpu_frequency_hz;
    OTP_INFO("summary of %s (pid %d): %lld CPU samples (%.2f s of CPU), %llu dropped, %llu "
             "SIGPROFs not ours passed on, %llu threads not profiled",
             otp_cfg.service_name, (int)getpid(), (long long)total, (double)total * period_s,
             (unsigned long long)otp_cpu_dropped(), (unsigned long long)otp_cpu_foreign(),
             (unsigned long long)(otp_thread_unprofiled() + otp_cpu_untimed()));
    if (ntop > 0) {
        OTP_INFO("  %6s %8s  %s", "flat%", "samples", "function");
        for (int i = 0; i < ntop; i++)
            OTP_INFO("  %5.1f%% %8lld  %s", total ? 100.0 * (double)top[i].n / (double)total : 0.0,
                     (long long)top[i].n, top[i].name ? top[i].name : "?");
    }
    /* The memory cap's account covers every source; without one (a cap
     * of 0 still measures) the allocator's own figure. */
    otp_mem_stats_t ms;
    otp_mem_stats(&ms);
    size_t mem = otp_memcap_used() ? otp_memcap_used() : ms.resident;
    OTP_INFO("signal handler: p50 %.1f us, p99 %.1f us over %llu samples; agent memory %.1f MiB "
             "resident",
             p50, p99, (unsigned long long)n, (double)mem / 1048576.0);
    uint64_t early = otp_unwind_early_samples();
    if (early)
        OTP_INFO("%llu CPU samples came before the unwinder could be loaded (interrupted outside the "
                 "app's own code) and hold only their PC",
                 (unsigned long long)early);
    for (int i = 0; i < nsections; i++)
        sections[i]();
    otp_log_set_level(level);
}

void otp_summary_atfork_child(void)
{
    pcs = NULL;
    pcs_cap = pcs_len = 0;
    total = 0;
    ntop = 0;
}

void otp_fmt_bytes(char *buf, size_t cap, double b)
{
    if (b >= 1048576.0)
        snprintf(buf, cap, "%.1f MiB", b / 1048576.0);
    else if (b >= 1024.0)
        snprintf(buf, cap, "%.1f KiB", b / 1024.0);
    else
        snprintf(buf, cap, "%.0f B", b);
}
