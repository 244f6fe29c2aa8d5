/*
 * The public API's definitions in this object (preload/api.c).
 */
#ifndef OTP_PRELOAD_API_H
#define OTP_PRELOAD_API_H

#include <stdbool.h>

/* Whether the process's otprof_version is this object's: false when
 * another copy of the agent (another path, another build) was preloaded
 * ahead of this one, so that its interposed functions are the ones the
 * app reaches. A pointer comparison: no lookup. */
bool otp_api_ours(void);

#endif
