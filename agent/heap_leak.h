/*
 * Leak detection: each interval's estimated live bytes per interned
 * stack (site), followed across intervals; a site whose live heap grew in
 * memory.leak_intervals intervals in a row is a suspected leak. Flusher
 * thread only.
 */
#ifndef OTP_HEAP_LEAK_H
#define OTP_HEAP_LEAK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbols.h"

/* Before a walk of the live table: statistics for sites [0, nsites)
 * start afresh, the previous interval's kept for comparison. false when
 * they cannot be sized (the walk's blocks then go uncounted here). */
bool otp_heap_leak_begin(uint32_t nsites);
/* One live block of a site below begin's nsites, unbiased. */
void otp_heap_leak_add(int32_t site, double bytes, double objects);
/* After the walk, for a full interval: updates each site's growth streak. */
void otp_heap_leak_end(uint32_t nsites);

/* Statistics exist (some walk sized them). */
bool otp_heap_leak_ready(void);
/* Sites with statistics now. */
uint32_t otp_heap_leak_nsites(void);
/* How many sites are suspected leaks now. */
size_t otp_heap_leak_suspects(void);
/* Writes up to cap "suspected leak: ..." lines (otp_malloc'd, the
 * caller's), warning once per site as it is first suspected. Returns how
 * many. */
size_t otp_heap_leak_describe(otp_symbolizer_t *sym, char **out, size_t cap);

/* A site's estimated live heap at the end of the last interval, and
 * whether it was ever suspected. false: no such site. */
bool otp_heap_leak_site(uint32_t site, double *bytes, double *objects, bool *suspected);
/* The leak site of a stack, described for people into buf ("fn at
 * file:line", inline frames out to their caller): the first frame outside
 * the allocation wrappers. *pc is its address and *lines whether its
 * source line is known. false when no frame has a name. */
bool otp_heap_leak_site_desc(otp_symbolizer_t *sym, int32_t site, char *buf, size_t cap, uint64_t *pc,
                             bool *lines);

/* Fork child: the parent's statistics are left behind (not freed). */
void otp_heap_leak_atfork_child(void);

#endif
