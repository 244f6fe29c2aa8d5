/*
 * Interning of byte-string keys: each distinct key gets the next index
 * (0, 1, ...), so tables built from several profiles (strings, functions,
 * locations, stacks) can be de-duplicated by content.
 */
#ifndef OTP_CLI_INTERN_H
#define OTP_CLI_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct otp_intern {
    struct otp_intern_slot *slots;
    size_t cap, n; /* cap: power of two */
    char **keys;   /* by index: the key's copy */
    size_t *lens;
    size_t keys_cap;
} otp_intern_t;

void otp_intern_init(otp_intern_t *t);
void otp_intern_fini(otp_intern_t *t);
/* The key's index; *added set when it is new. -1 when out of memory. */
int64_t otp_intern(otp_intern_t *t, const void *key, size_t len, int *added);
/* The key's index or -1, without adding it. */
int64_t otp_intern_find(const otp_intern_t *t, const void *key, size_t len);
/* Makes *arr (elements of elem bytes, capacity *cap) hold index i,
 * doubling it (from 64); false when out of memory. */
bool otp_grow_to(void **arr, size_t *cap, size_t i, size_t elem);

/* The copy of key number i (NUL-terminated after its len bytes). */
static inline const char *otp_intern_key(const otp_intern_t *t, size_t i)
{
    return t->keys[i];
}

#endif
