/*
 * Symbolization in the flusher's own context: a snapshot of
 * /proc/self/maps, and for each file-backed executable mapping its ELF
 * function symbols (.symtab when present, .dynsym otherwise) and GNU build
 * id. Not signal-safe; memory from otp_malloc.
 */
#ifndef OTP_SYMBOLS_H
#define OTP_SYMBOLS_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct otp_mapping {
    uint64_t start, limit, offset;
    const char *path;      /* "" for anonymous */
    const char *build_id;  /* lowercase hex, "" if none */
    const char *htlhash;   /* "" until otp_sym_mapping_htlhash computed it */
} otp_mapping_t;

typedef struct otp_symbolizer otp_symbolizer_t;

otp_symbolizer_t *otp_sym_new(void);
void otp_sym_free(otp_symbolizer_t *s);
/* Re-reads /proc/self/maps (after dlopen etc.); ELF data stays cached per
 * file. 0 or -errno. */
int otp_sym_refresh(otp_symbolizer_t *s);
/* The next lookups serve the final export (the process is ending): large
 * debug data is not opened then, and DWARF work gets a smaller bound. */
void otp_sym_set_final(bool final);

/* The addresses the next lookups will ask about (adjusted as for
 * otp_sym_lookup), any order, repeats allowed: objects whose symbol
 * table is not sorted answer them all in one pass. Optional; it only
 * makes those lookups cheaper. */
void otp_sym_prepare(otp_symbolizer_t *s, const uint64_t *addrs, size_t n);

/* Looks up an address (already adjusted: return addresses minus 1).
 * *mapping: index into the mapping list, or -1. Returns the function name
 * as the object spells it (owned by the symbolizer, valid until the next
 * otp_sym_refresh) or NULL. */
const char *otp_sym_lookup(otp_symbolizer_t *s, uint64_t addr, int *mapping);

/* One frame at an address: with DWARF, an address inside inlined code
 * gives several, innermost first; the last is the function the symbol
 * table names. Strings are owned by the symbolizer and valid until the
 * next otp_sym_refresh. */
typedef struct otp_frame {
    const char *name;        /* for people: demangled, no @VERSION */
    const char *system_name; /* as the object spells it */
    const char *file;        /* source file, NULL if unknown */
    uint32_t line;           /* 0 if unknown */
    uint32_t start_line;     /* the function's first line, 0 if unknown */
} otp_frame_t;

#define OTP_SYM_MAX_FRAMES 16

/* Fills out[0..max) for addr (adjusted as for otp_sym_lookup); returns
 * the number of frames, 0 when the address has no name. */
int otp_sym_frames(otp_symbolizer_t *s, uint64_t addr, int *mapping, otp_frame_t *out, int max);

/* Objects whose ELF (and DWARF) data is held: those in the current
 * snapshot; unmapped ones are dropped at refresh. */
size_t otp_sym_object_count(const otp_symbolizer_t *s);

size_t otp_sym_mapping_count(const otp_symbolizer_t *s);

/* Memory held for symbols by the last symbolizer created (for the memory
 * cap): the pages of the mapped ELF and debug files it read, and the cost
 * of the open DWARF. Same thread as the symbolizer. */
size_t otp_sym_footprint(void);
const otp_mapping_t *otp_sym_mapping(const otp_symbolizer_t *s, size_t i);
/* Mapping i's process.executable.build_id.htlhash, computed on first
 * request ("" when its object has no file). */
const char *otp_sym_mapping_htlhash(otp_symbolizer_t *s, size_t i);

#endif
