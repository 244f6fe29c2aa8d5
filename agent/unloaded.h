/*
 * Objects the app unloads with dlclose. Their code may hold samples not
 * exported yet, and by the export /proc/self/maps no longer shows them:
 * their frames would be "<unknown>". So each dlclose is bracketed: the
 * loaded objects before it, those after it, and the executable segments
 * of every object that went (start, limit, file offset, device, inode,
 * path, as a maps line gives them) are kept in a small ring the
 * symbolizer reads as extra mappings where nothing else is mapped now.
 *
 * Normal context only (the app's dlclose); memory from otp_malloc. The
 * ring is a seqlock per entry: no lock, so a fork in the middle leaves
 * at most one entry the child skips.
 */
#ifndef OTP_UNLOADED_H
#define OTP_UNLOADED_H

#include <stdbool.h>
#include <stdint.h>

/* Kept: the newest OTP_UNLOADED_MAX segments. */
#define OTP_UNLOADED_MAX 64
#define OTP_UNLOADED_PATH 240

typedef struct otp_unloaded_seg {
    uint64_t start, limit, offset, dev, ino;
    char path[OTP_UNLOADED_PATH];
} otp_unloaded_seg_t;

/* Before the real dlclose: the loaded objects now (NULL if that cannot
 * be listed). */
void *otp_unloaded_begin(void);
/* After it: records the segments of the objects in `before` that are no
 * longer loaded, and frees `before`. Returns how many objects went. */
int otp_unloaded_end(void *before);
/* Copies out entry i (0..OTP_UNLOADED_MAX-1); false when empty or being
 * written. */
bool otp_unloaded_get(int i, otp_unloaded_seg_t *out);

#endif
