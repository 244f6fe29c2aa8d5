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
        if (stats[s].streak >= otp_cfg.memory_leak_intervals && (int32_t)s != otp_live_folded_site())
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

/* "fn at file:line", with ", inlined in caller at file:line" for each
 * inline frame out to the symbol table's function, or the name alone when
 * DWARF does not cover the address. */
static void describe_frames(const otp_frame_t *fr, int n, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < n && len < cap; k++) {
        const char *name = fr[k].name ? fr[k].name : fr[k].system_name ? fr[k].system_name : "?";
        int w;
        if (fr[k].file && fr[k].line)
            w = snprintf(buf + len, cap - len, "%s%s at %s:%u", k ? ", inlined in " : "", name,
                         fr[k].file, fr[k].line);
        else
            w = snprintf(buf + len, cap - len, "%s%s", k ? ", inlined in " : "", name);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

bool otp_heap_leak_site_desc(otp_symbolizer_t *sym, int32_t site, char *buf, size_t cap, uint64_t *pc,
                             bool *lines)
{
    uint32_t n;
    const uint64_t *f = otp_live_site_frames(site, &n);
    otp_frame_t fr[OTP_SYM_MAX_FRAMES], first[OTP_SYM_MAX_FRAMES];
    int nfirst = 0;
    uint64_t first_pc = n ? f[0] : 0;
    *pc = first_pc;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t a = i == 0 ? f[i] : f[i] - 1;
        int m;
        int nf = otp_sym_frames(sym, a, &m, fr, OTP_SYM_MAX_FRAMES);
        if (i == 0) {
            memcpy(first, fr, (size_t)nf * sizeof *fr);
            nfirst = nf;
            first_pc = a;
        }
        const char *outer = nf ? fr[nf - 1].system_name : NULL;
        const char *inner = nf ? fr[0].name : NULL;
        if (nf == 0 || !((outer && is_wrapper(outer)) || (inner && is_wrapper(inner)))) {
            if (nf == 0) /* no name: the first frame's name, if it had one */
                break;
            describe_frames(fr, nf, buf, cap);
            *pc = a;
            *lines = fr[0].file && fr[0].line;
            return true;
        }
    }
    *pc = first_pc;
    if (!nfirst)
        return false;
    describe_frames(first, nfirst, buf, cap);
    *lines = first[0].file && first[0].line;
    return true;
}

size_t otp_heap_leak_describe(otp_symbolizer_t *sym, char **out, size_t cap)
{
    uint32_t nsites = otp_heap_leak_nsites();
    size_t n = 0;
    for (uint32_t s = 0; s < nsites && n < cap; s++) {
        site_stat_t *st = &stats[s];
        /* The folded stack grows by taking in new stacks, not by leaking. */
        if (st->streak < otp_cfg.memory_leak_intervals || (int32_t)s == otp_live_folded_site())
            continue;
        uint64_t pc;
        bool lines = false;
        char name[1024], b[32], line[1400];
        if (!otp_heap_leak_site_desc(sym, (int32_t)s, name, sizeof name, &pc, &lines))
            snprintf(name, sizeof name, "?");
        /* The address only where no source line says where the site is. */
        char where[48] = "";
        if (!lines)
            snprintf(where, sizeof where, " (pc 0x%llx)", (unsigned long long)pc);
        otp_fmt_bytes(b, sizeof b, st->bytes);
        snprintf(line, sizeof line,
                 "suspected leak: %s%s: live heap grew in each of the last %d intervals, now ~%s "
                 "in ~%.0f objects",
                 name, where, st->streak, b, st->objects);
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
