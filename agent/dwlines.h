/*
 * Source lines and inline frames from an object's DWARF (its own, or a
 * separate debug file found by build id or .gnu_debuglink), through
 * elfutils' libdw, dlopen'ed on first use. Flusher thread only.
 */
#ifndef OTP_DWLINES_H
#define OTP_DWLINES_H

#include <stdint.h>

#include "symbols.h"

typedef struct otp_dwarf otp_dwarf_t;

/* NULL when libdw is missing or the object has no usable DWARF. */
otp_dwarf_t *otp_dwarf_open(const char *path, const char *build_id);
void otp_dwarf_close(otp_dwarf_t *d);

/* Frames at link-time address vaddr, innermost inline frame first; the
 * last one is the enclosing (out-of-line) function, whose name the caller
 * may replace with the symbol table's. 0 when DWARF does not cover it. */
int otp_dwarf_frames(otp_dwarf_t *d, uint64_t vaddr, otp_frame_t *out, int max);

#endif
