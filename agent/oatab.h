/*
 * Growth of the open-addressing tables the symbolizers cache in
 * (symbols.c's frame cache and display names, dwlines.c's display
 * names): linear probing, a power-of-two number of slots, at most half
 * full. The entries are the caller's; it tells an empty slot from a used
 * one, and the key to hash, through key(). Flusher thread only.
 */
#ifndef OTP_OATAB_H
#define OTP_OATAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* false for an empty slot; else true and *k. */
typedef bool (*otp_oa_key_fn)(const void *ent, uint64_t *k);

/* The hash every such table probes with (a 64-bit finalizer). */
uint64_t otp_oa_hash(uint64_t k);

/* Room for one more of n entries: the table to use from now on. When
 * n + 1 would fill more than half of *cap slots, tab (esz bytes per slot)
 * is freed for one of twice the slots (`first` at the first growth),
 * holding every entry, the rest zero; else it is tab itself. NULL when
 * out of memory: tab is then as it was. */
void *otp_oa_room(void *tab, size_t *cap, size_t n, size_t esz, size_t first, otp_oa_key_fn key);

#endif
