#include "dwarf.h"

#include <stddef.h>

otp_dwarf_t *otp_dwarf_open(const char *path, const char *build_id)
{
    (void)path;
    (void)build_id;
    return NULL;
}

void otp_dwarf_close(otp_dwarf_t *d)
{
    (void)d;
}

int otp_dwarf_frames(otp_dwarf_t *d, uint64_t vaddr, otp_frame_t *out, int max)
{
    (void)d;
    (void)vaddr;
    (void)out;
    (void)max;
    return 0;
}
