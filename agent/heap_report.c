/*
 * The heap section of the summary (see heap_report.h). Sites are merged
 * by function name, since one function usually allocates from several
 * stacks, and only the top few are kept.
 */
#include "heap_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "heap.h"
#include "heap_leak.h"
#include "live.h"
#include "log.h"
#include "mem.h"
#include "summary.h"

#define REPORT_TOP 10

typedef struct report_line {
    char *name;
    double bytes, objects;
} report_line_t;

static report_line_t report[REPORT_TOP];
static int nreport;
static report_line_t suspects[REPORT_TOP]; /* flagged during the run */
static int nsuspects;
static double report_bytes, report_objects;
static uint64_t report_blocks;

static int by_name(const void *x, const void *y)
{
    const report_line_t *a = x, *b = y;
    return strcmp(a->name, b->name);
}

static int by_bytes_desc(const void *x, const void *y)
{
    const report_line_t *a = x, *b = y;
    return a->bytes < b->bytes ? 1 : a->bytes > b->bytes ? -1 : strcmp(a->name, b->name);
}

void otp_heap_report_build(otp_symbolizer_t *sym)
{
    otp_live_stats_t ls;
    otp_live_get_stats(&ls);
    report_blocks = ls.entries;
    uint32_t nsites = otp_heap_leak_nsites();
    report_line_t *all = otp_calloc(nsites ? nsites : 1, sizeof *all);
    if (!all)
        return;
    size_t n = 0;
    report_bytes = report_objects = 0;
    for (uint32_t s = 0; s < nsites; s++) {
        double bytes, objects;
        bool suspected;
        if (!otp_heap_leak_site(s, &bytes, &objects, &suspected) || bytes <= 0)
            continue;
        uint64_t pc;
        bool lines = false;
        char name[1024];
        if (!otp_heap_leak_site_desc(sym, (int32_t)s, name, sizeof name, &pc, &lines))
            snprintf(name, sizeof name, "0x%llx", (unsigned long long)pc);
        all[n].name = otp_strdup(name);
        if (!all[n].name)
            continue;
        if (suspected && nsuspects < REPORT_TOP) {
            int j = 0;
            while (j < nsuspects && strcmp(suspects[j].name, name) != 0)
                j++;
            if (j == nsuspects && (suspects[nsuspects].name = otp_strdup(name)))
                nsuspects++;
        }
        all[n].bytes = bytes;
        all[n].objects = objects;
        report_bytes += bytes;
        report_objects += objects;
        n++;
    }
    qsort(all, n, sizeof *all, by_name);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && strcmp(all[m - 1].name, all[i].name) == 0) {
            all[m - 1].bytes += all[i].bytes;
            all[m - 1].objects += all[i].objects;
            otp_free(all[i].name);
        } else {
            all[m++] = all[i];
        }
    }
    qsort(all, m, sizeof *all, by_bytes_desc);
    nreport = m < REPORT_TOP ? (int)m : REPORT_TOP;
    for (int i = 0; i < nreport; i++)
        report[i] = all[i];
    for (size_t i = (size_t)nreport; i < m; i++)
        otp_free(all[i].name);
    otp_free(all);
}

static void summary_section(void)
{
    if (!otp_heap_active())
        return;
    otp_live_stats_t ls;
    otp_live_get_stats(&ls);
    otp_heap_counts_t c;
    otp_heap_get_counts(&c);
    char b[32];
    otp_fmt_bytes(b, sizeof b, report_bytes);
    /* The mean the budget left in force, when it moved it. */
    char mean[64] = "";
    if (otp_heap_mean() != otp_heap_configured_mean())
        snprintf(mean, sizeof mean, "; %lld at exit, by the overhead budget", (long long)otp_heap_mean());
    /* Samples whose thread's ring was full are counted at their site
     * (heap.c), as are those of a thread without a slot: in the profile,
     * but without the trace they were taken in. */
    char unlinked[128] = "";
    if (c.ring_full > 0)
        snprintf(unlinked, sizeof unlinked, ", %llu counted at their site with no ring record (so no trace link)",
                 (unsigned long long)c.ring_full);
    OTP_INFO("heap: %llu sampled allocations (one per %lld bytes on average as configured%s), %llu lost%s; "
             "%llu sampled blocks still live at exit, ~%s in ~%.0f objects",
             (unsigned long long)(c.drained + c.ring_full + c.lost), (long long)otp_heap_configured_mean(), mean,
             (unsigned long long)c.lost, unlinked, (unsigned long long)report_blocks, b, report_objects);
    if (nreport > 0) {
        OTP_INFO("  top leaking sites (live at exit, estimated):");
        OTP_INFO("  %12s %10s  %s", "bytes", "objects", "site");
        for (int i = 0; i < nreport; i++) {
            otp_fmt_bytes(b, sizeof b, report[i].bytes);
            OTP_INFO("  %12s %10.0f  %s", b, report[i].objects, report[i].name);
        }
    }
    for (int i = 0; i < nsuspects; i++)
        OTP_INFO("  suspected leak: %s (its live heap grew in %d or more intervals in a row)",
                 suspects[i].name, otp_cfg.memory_leak_intervals);
    if (ls.table_full || ls.sites_full)
        OTP_INFO("  live table full %llu times (%llu slots), stack store full %llu times (%llu stacks)",
                 (unsigned long long)ls.table_full, (unsigned long long)ls.capacity,
                 (unsigned long long)ls.sites_full, (unsigned long long)ls.site_capacity);
}

void otp_heap_report_init(void)
{
    otp_summary_add_section(summary_section);
}

void otp_heap_report_atfork_child(void)
{
    nreport = 0;
    nsuspects = 0;
}
