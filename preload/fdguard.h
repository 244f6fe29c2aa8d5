/*
 * The app's closes and dup2s that would reach the agent's descriptors
 * (preload/fdguard.c).
 */
#ifndef OTP_PRELOAD_FDGUARD_H
#define OTP_PRELOAD_FDGUARD_H

#include <stdbool.h>

/* syscall(SYS_close, ...) and its kin from the app: true with the
 * result in *ret when the agent answered it (it holds descriptors). */
bool otp_fdguard_syscall(long nr, long a1, long a2, long a3, long *ret);

#endif
