/*
 * The memory cap's account (see memcap.h). The flusher measures; app
 * threads and the flusher's own table code only read the verdict.
 */
#include "memcap.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "altstack.h"
#include "internal.h"
#include "sys.h"
#include "live.h"
#include "log.h"
#include "mem.h"
#include "stackwalk.h"
#include "summary.h"
#include "symbols.h"
#include "thread.h"
#include "unwind.h"

/* Tables of stacks stop growing when the account plus the export
 * reserve reaches 5/8 of the cap (the rest is slack for what a tick adds
 * before it is measured, and for the allocator growing by whole extents:
 * 3/4 was seen to peak at 8.1 MiB under an 8 MiB cap): encoding a profile of them (pprof tables, OTLP
 * messages, compression) takes up to four times their size: a heap
 * profile copies every live stack into two tables kept until the next
 * interval, then encodes it (~1 KiB a stack in all). */
#define LIMIT_EIGHTHS 5
#define RESERVE(stacks) (4 * (stacks))

static size_t cap OTP_STARTUP_DATA, limit OTP_STARTUP_DATA;
static otp_memcap_source_t srcs[OTP_MEMCAP_SOURCES] OTP_STARTUP_DATA;
static size_t last[OTP_MEMCAP_SOURCES] OTP_STARTUP_DATA;
static size_t nsrcs OTP_STARTUP_DATA;
static unsigned ticks OTP_STARTUP_DATA;
static _Atomic size_t used OTP_STARTUP_DATA, peak OTP_STARTUP_DATA, pending OTP_STARTUP_DATA,
    stacks OTP_STARTUP_DATA;
static _Atomic bool full OTP_STARTUP_DATA;
static atomic_flag full_logged = ATOMIC_FLAG_INIT;
static atomic_flag unw_logged = ATOMIC_FLAG_INIT;
static _Atomic uint64_t folded_iv[2] OTP_STARTUP_DATA, folded_all[2] OTP_STARTUP_DATA;
static char notes[2][192];

size_t otp_memcap_resident(const void *p, size_t len)
{
    static unsigned char vec[1024];
    size_t pg = otp_page_size();
    if (!p || !len)
        return 0;
    uintptr_t a = (uintptr_t)p & ~((uintptr_t)pg - 1);
    uintptr_t end = (uintptr_t)p + len;
    size_t pages = 0;
    while (a < end) {
        size_t n = (end - a + (size_t)pg - 1) / (size_t)pg;
        if (n > sizeof vec)
            n = sizeof vec;
        if (mincore((void *)a, n * (size_t)pg, vec) != 0)
            return pages * (size_t)pg;
        for (size_t i = 0; i < n; i++)
            pages += vec[i] & 1;
        a += n * (size_t)pg;
    }
    return pages * (size_t)pg;
}

/* ---- the agent's own sources ------------------------------------------ */

static size_t src_allocator(void)
{
    otp_mem_stats_t ms;
    otp_mem_stats(&ms);
    return ms.footprint;
}

static size_t src_threads(void)
{
    size_t b = 0;
    int high = otp_thread_high();
    for (int i = 0; i < high; i++) {
        otp_thread_t *t = otp_thread_at(i);
        if (t->cpu_ring)
            b += otp_memcap_resident(t->cpu_ring, sizeof *t->cpu_ring + t->cpu_ring->size);
        if (t->heap_ring)
            b += otp_memcap_resident(t->heap_ring, sizeof *t->heap_ring + t->heap_ring->size);
        if (t->altstack)
            b += otp_memcap_resident(t->altstack, otp_altstack_map_size());
    }
    return b;
}

static const otp_memcap_source_t agent_srcs[] = {
    {"allocator", src_allocator, false},
    {"live-heap tables", otp_live_resident, false},
    {"thread rings and stacks", src_threads, true},
    {"unwinder caches", otp_unwind_cache_bytes, false},
    {"frame shapes", otp_stackwalk_resident, true},
    {"symbols", otp_sym_footprint, true},
};

/* ---- account ------------------------------------------------------------ */

static void summary_section(void)
{
    char leaf[160] = "";
    uint64_t nl = otp_unwind_capped_samples();
    if (nl)
        snprintf(leaf, sizeof leaf, "; %llu samples of threads without room for an unwinder cache kept their leaf only",
                 (unsigned long long)nl);
    char parts[256];
    size_t len = 0;
    parts[0] = '\0';
    for (size_t i = 0; i < nsrcs && len < sizeof parts; i++) {
        int k = snprintf(parts + len, sizeof parts - len, "%s%s %.2f", i ? ", " : "", srcs[i].name,
                         (double)last[i] / 1048576.0);
        if (k < 0)
            break;
        len += (size_t)k;
    }
    OTP_INFO("memory cap: agent memory %.1f MiB now (%s), %.1f MiB at most (max_memory_mb %.0f%s); "
             "%llu CPU and %llu heap samples folded into [otprof: stack table full]%s",
             (double)otp_memcap_used() / 1048576.0, parts, (double)otp_memcap_peak() / 1048576.0,
             (double)cap / 1048576.0, cap ? "" : ": no cap", (unsigned long long)otp_memcap_folded_total(OTP_PROFILE_CPU),
             (unsigned long long)otp_memcap_folded_total(OTP_PROFILE_HEAP), leaf);
}

void otp_memcap_init(size_t cap_bytes, const otp_memcap_source_t *src, size_t nsrc)
{
    if (!src) {
        src = agent_srcs;
        nsrc = OTP_ARRAY_LEN(agent_srcs);
        otp_summary_add_section(summary_section);
    }
    if (nsrc > OTP_MEMCAP_SOURCES)
        nsrc = OTP_MEMCAP_SOURCES;
    memcpy(srcs, src, nsrc * sizeof *src);
    memset(last, 0, sizeof last);
    nsrcs = nsrc;
    cap = cap_bytes;
    limit = cap / 8 * LIMIT_EIGHTHS;
    ticks = 0;
    atomic_store(&used, 0);
    atomic_store(&peak, 0);
    atomic_store(&pending, 0);
    atomic_store(&stacks, 0);
    atomic_store(&full, false);
    for (int k = 0; k < 2; k++) {
        atomic_store(&folded_iv[k], 0);
        atomic_store(&folded_all[k], 0);
    }
}

static void decide(size_t total)
{
    size_t st = atomic_load_explicit(&stacks, memory_order_relaxed);
    atomic_store_explicit(&full, cap && total + RESERVE(st) >= limit, memory_order_relaxed);
}

void otp_memcap_refresh(void)
{
    bool slow = ticks++ % OTP_MEMCAP_SLOW_TICKS == 0;
    size_t total = 0;
    for (size_t i = 0; i < nsrcs; i++) {
        if (slow || !srcs[i].slow)
            last[i] = srcs[i].bytes();
        total += last[i];
    }
    atomic_store(&used, total);
    atomic_store(&pending, 0);
    if (total > atomic_load(&peak)) {
        atomic_store(&peak, total);
        OTP_DEBUG("agent memory: new peak %.2f MiB (%s %.2f, %s %.2f, ...)", (double)total / 1048576.0,
                  nsrcs > 0 ? srcs[0].name : "", nsrcs > 0 ? (double)last[0] / 1048576.0 : 0.0,
                  nsrcs > 1 ? srcs[1].name : "", nsrcs > 1 ? (double)last[1] / 1048576.0 : 0.0);
    }
    decide(total);
    if (otp_unwind_capped_samples())
        otp_log_once(&unw_logged, OTP_LOG_INFO,
                     "agent memory: no room in max_memory_mb for more threads' unwinder caches "
                     "(%zu KiB each): stacks of threads that started walking later hold their leaf only",
                     OTP_UNW_CACHE_BYTES / 1024);
    if (!otp_memcap_room())
        otp_log_once(&full_logged, OTP_LOG_INFO,
                     "agent memory reached %.1f MiB of max_memory_mb %.0f: new stacks fold into "
                     "[otprof: stack table full]",
                     (double)total / 1048576.0, (double)cap / 1048576.0);
}

bool otp_memcap_room(void)
{
    return !atomic_load_explicit(&full, memory_order_relaxed);
}

void otp_memcap_charge(size_t bytes)
{
    atomic_fetch_add_explicit(&stacks, bytes, memory_order_relaxed);
    size_t p = atomic_fetch_add_explicit(&pending, bytes, memory_order_relaxed) + bytes;
    if (cap)
        decide(atomic_load_explicit(&used, memory_order_relaxed) + p);
}

void otp_memcap_uncharge(size_t bytes)
{
    size_t st = atomic_load_explicit(&stacks, memory_order_relaxed);
    atomic_fetch_sub_explicit(&stacks, bytes < st ? bytes : st, memory_order_relaxed);
}

bool otp_memcap_fits(size_t bytes)
{
    return !cap || (bytes <= cap / 2 &&
                    atomic_load(&used) + atomic_load(&pending) + RESERVE(atomic_load(&stacks)) + bytes <= limit);
}

void otp_memcap_folded(otp_profile_kind_t kind, uint64_t n)
{
    atomic_fetch_add_explicit(&folded_iv[kind != OTP_PROFILE_CPU], n, memory_order_relaxed);
    atomic_fetch_add_explicit(&folded_all[kind != OTP_PROFILE_CPU], n, memory_order_relaxed);
}

const char *otp_memcap_note(otp_profile_kind_t kind)
{
    int k = kind != OTP_PROFILE_CPU;
    uint64_t n = atomic_exchange(&folded_iv[k], 0);
    if (!n)
        return "";
    snprintf(notes[k], sizeof notes[k],
             "otprof memory cap: %llu %s folded into [otprof: stack table full] in this interval "
             "(agent memory %.1f MiB, max_memory_mb %.0f)",
             (unsigned long long)n, k ? "sampled allocations" : "samples",
             (double)otp_memcap_used() / 1048576.0, (double)cap / 1048576.0);
    return notes[k];
}

size_t otp_memcap_used(void)
{
    return atomic_load(&used);
}

size_t otp_memcap_peak(void)
{
    return atomic_load(&peak);
}

size_t otp_memcap_cap(void)
{
    return cap;
}

uint64_t otp_memcap_folded_total(otp_profile_kind_t kind)
{
    return atomic_load(&folded_all[kind != OTP_PROFILE_CPU]);
}

void otp_memcap_atfork_child(void)
{
    for (int k = 0; k < 2; k++) {
        atomic_store(&folded_iv[k], 0);
        atomic_store(&folded_all[k], 0);
    }
}
