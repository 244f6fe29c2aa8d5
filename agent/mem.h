/*
 * The agent's own memory: a private arena of a private, symbol-renamed copy
 * of jemalloc linked into the agent (Debian's libjemalloc_pic.a, see the
 * Makefile). Never the app's heap and never through our malloc hooks.
 * jemalloc initialises on first use, so a process that never flushes a
 * sample never pays for it. Not async-signal-safe.
 */
#ifndef OTP_MEM_H
#define OTP_MEM_H

#include <stdbool.h>
#include <stddef.h>

void *otp_malloc(size_t n);
void *otp_calloc(size_t n, size_t size);
void *otp_realloc(void *p, size_t n);
void otp_free(void *p);
char *otp_strdup(const char *s);
char *otp_strndup(const char *s, size_t n);

/* Bytes the agent's arena holds (allocated, resident); 0 if never used.
 * `resident` is jemalloc's bound, which counts the 2 MiB leaf of its
 * address radix tree as resident although only the entries of pages in
 * use are ever written; `footprint` is the estimate of what is really in
 * memory: pages backing allocations plus the metadata without that leaf. */
typedef struct otp_mem_stats {
    size_t allocated;
    size_t resident;
    size_t footprint;
} otp_mem_stats_t;
void otp_mem_stats(otp_mem_stats_t *out);

/* The allocator's part of a fork, run by the lifecycle's fork steps:
 * prefork last among the prepare steps (it waits for a set-up in progress
 * on another thread, then holds every allocator lock until the fork is
 * done), the postfork steps first in the parent and the child. `alone`:
 * the forking thread is the process's only one and is not inside the
 * allocator, so no lock can be held: none is taken, and the child
 * re-initialises none (that wrote to every page holding one, ~40
 * copy-on-write faults in each child, one more in the parent per page). */
void otp_mem_prefork(bool alone);
void otp_mem_postfork_parent(void);
void otp_mem_postfork_child(void);
/* While on (the final export, before exit or exec), freed pages stay with
 * the arena instead of going back to the kernel one madvise at a time:
 * the process is about to end. Off again when the agent starts anew
 * (a failed exec), which returns what was held. */
void otp_mem_hold_pages(bool on);

/* A ProtobufCAllocator-compatible pair (void *data unused). */
void *otp_pb_alloc(void *data, size_t n);
void otp_pb_free(void *data, void *p);

#endif
