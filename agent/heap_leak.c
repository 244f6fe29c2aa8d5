/*
 * Leak detection (see heap_leak.h). Statistics are indexed by site, so
 * they are sized to the live table's site count before each walk; sites
 * interned during the walk wait for the next interval.
 */
#include "heap_leak.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "internal.h"
#include "live.h"
#include "log.h"
#include "mem.h"
#include "summary.h"

typedef struct site_stat {
    double bytes, objects; /* estimated live at the end of the last interval */
    double prev;           /* estimated live bytes one interval earlier */
    int streak;            /* consecutive intervals of growth */
    bool announced;
} site_stat_t;

static site_stat_t *stats;
static size_t stats_cap;

static bool stats_reserve(size_t n)
{
    if (n <= stats_cap)
        return true;
    size_t ncap = stats_cap ? stats_cap : 256;
    while (ncap < n)
        ncap *= 2;
    site_stat_t *ns = otp_realloc(stats, ncap * sizeof *ns);
    if (!ns)
        return false;
    memset(ns + stats_cap, 0, (ncap - stats_cap) * sizeof *ns);
    stats = ns;
    stats_cap = ncap;
    return true;
}

bool otp_heap_leak_begin(uint32_t nsites)
{
    if (!stats_reserve(nsites))
        return false;
    for (uint32_t s = 0; s < nsites; s++) {
        stats[s].prev = stats[s].bytes;
        stats[s].bytes = stats[s].objects = 0;
    }
    return true;
}

void otp_heap_leak_add(int32_t site, double bytes, double objects)
{
    stats[site].bytes += bytes;
    stats[site].objects += objects;
}

void otp_heap_leak_end(uint32_t nsites)
{
    for (uint32_t s = 0; s < nsites; s++) {
        site_stat_t *st = &stats[s];
        st->streak = st->bytes > st->prev ? st->streak + 1 : 0;
    }
}

bool otp_heap_leak_ready(void)
{
    return stats != NULL;
}

uint32_t otp_heap_leak_nsites(void)
{
    uint32_t n = otp_live_site_count();
    return n < stats_cap ? n : (uint32_t)stats_cap;
}

size_t otp_heap_leak_suspects(void)
{
    uint32_t nsites = otp_heap_leak_nsites();
    size_t n = 0;
    for (uint32_t s = 0; s < nsites; s++)
        if (stats[s].streak >= otp_cfg.memory_leak_intervals)
            n++;
    return n;
}

/* Allocation wrappers are not where a leak is: name the first frame
 * outside them. */
static bool is_wrapper(const char *name)
{
    static const char *const prefixes[] = {"_Znw", "_Zna", "operator new", "strdup", "strndup",
                                           "__strdup", "__strndup"};
    for (size_t i = 0; i < OTP_ARRAY_LEN(prefixes); i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

const char *otp_heap_leak_site_name(otp_symbolizer_t *sym, int32_t site, uint64_t *pc)
{
    uint32_t n;
    const uint64_t *f = otp_live_site_frames(site, &n);
    const char *first = NULL;
    *pc = f[0];
    for (uint32_t i = 0; i < n; i++) {
        uint64_t a = i == 0 ? f[i] : f[i] - 1;
        int m;
        const char *name = otp_sym_lookup(sym, a, &m);
        if (i == 0) {
            first = name;
            *pc = a;
        }
        if (!name || !is_wrapper(name)) {
            *pc = a;
            return name ? name : first;
        }
    }
    return first;
}

size_t otp_heap_leak_describe(otp_symbolizer_t *sym, char **out, size_t cap)
{
    uint32_t nsites = otp_heap_leak_nsites();
    size_t n = 0;
    for (uint32_t s = 0; s < nsites && n < cap; s++) {
        site_stat_t *st = &stats[s];
        if (st->streak < otp_cfg.memory_leak_intervals)
            continue;
        uint64_t pc;
        const char *name = otp_heap_leak_site_name(sym, (int32_t)s, &pc);
        char b[32], line[512];
        otp_fmt_bytes(b, sizeof b, st->bytes);
        snprintf(line, sizeof line,
                 "suspected leak: %s (pc 0x%llx): live heap grew in each of the last %d intervals, now ~%s "
                 "in ~%.0f objects",
                 name ? name : "?", (unsigned long long)pc, st->streak, b, st->objects);
        if (!st->announced) {
            st->announced = true;
            OTP_WARN("%s", line);
        }
        char *c = otp_strdup(line);
        if (c)
            out[n++] = c;
    }
    return n;
}

bool otp_heap_leak_site(uint32_t site, double *bytes, double *objects, bool *suspected)
{
    if (site >= stats_cap)
        return false;
    *bytes = stats[site].bytes;
    *objects = stats[site].objects;
    *suspected = stats[site].announced;
    return true;
}

void otp_heap_leak_atfork_child(void)
{
    stats = NULL;
    stats_cap = 0;
}
