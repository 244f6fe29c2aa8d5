/*
 * What both profile encoders (pprof.c, otlp.c) build each message from:
 * a bump arena, freed at once when the encode ends, and a string table
 * that interns strings to indices (index 0 is "", as both formats
 * require) and hands protobuf-c its char ** array. Flusher thread only.
 */
#ifndef OTP_STRTAB_H
#define OTP_STRTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct otp_arena {
    struct otp_chunk *head;
    bool failed; /* an allocation failed */
} otp_arena_t;

/* n bytes, zeroed, 16-byte aligned; NULL (and a->failed) when out of
 * memory. */
void *otp_arena_alloc(otp_arena_t *a, size_t n);
void otp_arena_free(otp_arena_t *a);

typedef struct otp_strtab {
    const char **strs; /* the table: strs[0] = "" */
    size_t n, cap;
    size_t *lens;
    /* open addressing over string hashes; val: index + 1, 0 = empty */
    uint64_t *hash;
    uint32_t *val;
    size_t slots, used;
    otp_arena_t arena; /* copies of strings that do not outlive the encode */
    bool oom;
} otp_strtab_t;

/* An empty table holding "" at index 0. 0 or -ENOMEM. */
int otp_strtab_init(otp_strtab_t *t);
void otp_strtab_free(otp_strtab_t *t);
/* Index of s[0..n), added if new; NULL or "" is 0. copy: s may not
 * outlive the encode, keep a copy (otherwise the table points at s,
 * which must then end at s[n]).
 * 0 (and t->oom) when out of memory. */
int64_t otp_strtab_intern(otp_strtab_t *t, const char *s, size_t n, bool copy);
/* The same for a NUL-terminated string (NULL allowed). */
int64_t otp_strtab_add(otp_strtab_t *t, const char *s, bool copy);

#endif
