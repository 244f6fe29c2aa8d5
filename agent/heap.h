/*
 * Heap sampling: the hooks preload/malloc.c calls around the real
 * allocator. The unsampled path is a subtract and a branch on a
 * thread-local countdown.
 */
#ifndef OTP_HEAP_H
#define OTP_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

#include "profile.h"

/* Constructor: reads config; heap sampling starts after this. */
void otp_heap_init(void);

/* Flusher: drains heap rings and builds this interval's heap profile
 * (alloc_* of the interval, inuse_* at its end, unbiased). NULL when heap
 * profiling is off. The profile stays valid until the next call. */
const otp_profile_t *otp_heap_collect(int64_t start_ns, int64_t end_ns, bool final);

/* Fork child. */
void otp_heap_atfork_child(void);

#endif
