/*
 * Symbolization in the flusher's own context: a snapshot of
 * /proc/self/maps, and for each file-backed executable mapping its ELF
 * function symbols (.symtab when present, .dynsym otherwise) and GNU build
 * id. Not signal-safe; memory from otp_malloc.
 */
#ifndef OTP_SYMBOLS_H
#define OTP_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

typedef struct otp_mapping {
    uint64_t start, limit, offset;
    const char *path;      /* "" for anonymous */
    const char *build_id;  /* lowercase hex, "" if none */
} otp_mapping_t;

typedef struct otp_symbolizer otp_symbolizer_t;

otp_symbolizer_t *otp_sym_new(void);
void otp_sym_free(otp_symbolizer_t *s);
/* Re-reads /proc/self/maps (after dlopen etc.); ELF data stays cached per
 * file. 0 or -errno. */
int otp_sym_refresh(otp_symbolizer_t *s);

/* Looks up an address (already adjusted: return addresses minus 1).
 * *mapping: index into the mapping list, or -1. Returns the function name
 * (owned by the symbolizer, valid until otp_sym_free) or NULL. */
const char *otp_sym_lookup(otp_symbolizer_t *s, uint64_t addr, int *mapping);

size_t otp_sym_mapping_count(const otp_symbolizer_t *s);
const otp_mapping_t *otp_sym_mapping(const otp_symbolizer_t *s, size_t i);

#endif
