/*
 * The agent's one pseudo-random generator: xorshift64* (Vigna), for
 * sampling decisions (heap gaps, CPU sample points) and jittered
 * back-off. Inline and async-signal-safe: the SIGPROF handler and the
 * sampled-allocation path draw from it with no call. Not for anything
 * that must be unguessable (otp_random64, sys.h, is).
 */
#ifndef OTP_RNG_H
#define OTP_RNG_H

#include <stdint.h>

#include "internal.h"

/* The next 64 bits from state *s. A zero state (xorshift's one fixed
 * point) is replaced by a constant, so any state works. */
static inline uint64_t otp_rng_next(uint64_t *s)
{
    uint64_t x = *s;
    if (OTP_UNLIKELY(x == 0))
        x = 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* A state from weak entropy (clock, ids, addresses, xor'ed together):
 * splitmix64's finaliser spreads every input bit over the state, so
 * nearby inputs (consecutive tids) give unrelated streams. Never 0. */
static inline uint64_t otp_rng_seed(uint64_t mix)
{
    uint64_t z = mix + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z ? z : 0x853c49e6748fea9bULL;
}

#endif
