/*
 * The agent's memory cap (agent.max_memory_mb): one account of all the
 * memory the agent holds, summed from its sources (the private jemalloc
 * arena, the mmap'd live-heap tables, the per-thread rings and stacks,
 * the stack walker's shared table, libunwind's per-thread frame caches),
 * re-measured by the flusher every
 * tick. Stack tables report what they take (otp_memcap_charge); an
 * export needs up to four times that again for its tables and encoding, so once
 * the account plus that reserve reaches 3/4 of the cap, otp_memcap_room()
 * turns false: new stacks then fold into the one stack OTP_PC_FOLDED
 * ("[otprof: stack table full]") instead of growing anything, and the
 * folded samples are counted for the profiles' notes and the summary.
 * Large optional data (an object's DWARF) is taken only if it fits
 * (otp_memcap_fits).
 */
#ifndef OTP_MEMCAP_H
#define OTP_MEMCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"

/* One source of the account: returns the bytes it holds now. `slow`
 * sources (a system call per mapping) are measured at most every
 * OTP_MEMCAP_SLOW_TICKS refreshes, their last value counting meanwhile. */
typedef struct otp_memcap_source {
    const char *name;
    size_t (*bytes)(void);
    bool slow;
} otp_memcap_source_t;

#define OTP_MEMCAP_SLOW_TICKS 10
#define OTP_MEMCAP_SOURCES 8

/* Sets the cap in bytes (0: no cap, room() stays true) and the sources
 * (NULL: the agent's own). Not signal-safe; before any other call. */
void otp_memcap_init(size_t cap_bytes, const otp_memcap_source_t *src, size_t nsrc);

/* Flusher: measures the sources again and decides room(). */
void otp_memcap_refresh(void);

/* Whether a new stack may still take memory. async-signal-safe (one
 * relaxed atomic load): the sampled-allocation path asks it too. */
bool otp_memcap_room(void);

/* Memory taken by a new stack-table entry: counts at once towards
 * room(), and for the export reserve for as long as it is held (give it
 * back with otp_memcap_uncharge). async-signal-safe (atomics only): app
 * threads charge the stacks they intern. */
void otp_memcap_charge(size_t bytes);
void otp_memcap_uncharge(size_t bytes);

/* libunwind's fast walk keeps a frame cache per thread that used it:
 * 2^14 16-byte entries, mapped where the agent cannot see it and freed
 * when the thread exits. */
#define OTP_UNW_CACHE_BYTES ((size_t)256 * 1024)

/* Whether `bytes` more, held for long, fit (async-signal-safe): at most half the cap, and
 * within 3/4 of it with what is held now and the export reserve (always
 * true without a cap). */
bool otp_memcap_fits(size_t bytes);

/* `n` samples (by weight) of a profile kind went to the folded stack. */
void otp_memcap_folded(otp_profile_kind_t kind, uint64_t n);

/* The profile note of a kind for the interval now ending, "" if nothing
 * of that kind was folded in it; resets the interval's count. The string
 * stays valid until the next call for the same kind. */
const char *otp_memcap_note(otp_profile_kind_t kind);

/* The last measured total, its peak, and the cap (0: none). */
size_t otp_memcap_used(void);
size_t otp_memcap_peak(void);
size_t otp_memcap_cap(void);
uint64_t otp_memcap_folded_total(otp_profile_kind_t kind);

/* Bytes of [p, p + len) resident in memory (mincore), 0 on error. */
size_t otp_memcap_resident(const void *p, size_t len);

/* Fork child: the parent's counts are not the child's. */
void otp_memcap_atfork_child(void);

#endif
