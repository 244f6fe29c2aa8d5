/*
 * The three libm functions the agent uses (heap.c's sampling gaps and
 * weights; the private jemalloc refers to them too), defined here, hidden,
 * so that the agent does not need libm.so.6: loading one more library
 * (open, mappings, relocations, ~8 page faults) was a sizeable part of
 * what the agent adds to a process that only starts and exits. Nothing
 * outside the agent binds to these (hidden visibility, and the agent's
 * exports are listed in preload/otprof.map).
 *
 * log and exp reduce the argument to a small range and evaluate a
 * polynomial there (the classic fdlibm scheme; its published
 * coefficients): within an ulp of libm's, and about twice as fast as the
 * x87 unit's fyl2x and f2xm1, which the heap sampler's gap (a log per
 * sample) and weights (an exp) used before.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline double of_bits(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10

double log(double x)
{
    uint64_t u = bits_of(x);
    int k = 0;
    if (u - 0x0010000000000000ULL >= 0x7fe0000000000000ULL) {
        /* Not a positive normal number: as IEEE says (without errno). */
        if (x != x || x == HUGE_VAL)
            return x + x;
        if (x == 0)
            return -HUGE_VAL;
        if (x < 0)
            return (x - x) / (x - x);
        x *= 18014398509481984.0; /* subnormal: times 2^54 */
        u = bits_of(x);
        k = -54;
    }
    /* x = 2^k * m, m in [sqrt(2)/2, sqrt(2)); log(m) = log(1 + f) from
     * s = f / (2 + f): 2s + 2s^3/3 + ..., the tail as a polynomial in s^2. */
    uint64_t mant = u & 0x000fffffffffffffULL;
    k += (int)(u >> 52) - 1023;
    if (mant >= 0x6a09e667f3bcdULL) { /* m >= sqrt(2): halve it */
        mant |= 0x3fe0000000000000ULL;
        k++;
    } else {
        mant |= 0x3ff0000000000000ULL;
    }
    double f = of_bits(mant) - 1.0;
    double s = f / (2.0 + f), z = s * s, w = z * z;
    double t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
    double t2 = z * (6.666666666666735130e-01 +
                     w * (2.857142874366239149e-01 + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
    double hfsq = 0.5 * f * f, dk = (double)k;
    return dk * LN2_HI - ((hfsq - (s * (hfsq + t1 + t2) + dk * LN2_LO)) - f);
}

double exp(double x)
{
    if (x != x)
        return x + x;
    if (x > 709.782712893383973096)
        return HUGE_VAL;
    if (x < -745.13321910194110842)
        return 0.0;
    /* x = k ln2 + r, |r| <= ln2 / 2, r carried as hi - lo; e^r from a
     * rational form with a polynomial in r^2; then times 2^k. */
    double kd = (double)(int)(x * 1.44269504088896338700 + (x < 0 ? -0.5 : 0.5));
    double hi = x - kd * LN2_HI, lo = kd * LN2_LO;
    double r = hi - lo, t = r * r;
    double c = r - t * (1.66666666666666019037e-01 +
                        t * (-2.77777777770155933842e-03 +
                             t * (6.61375632143793436117e-05 +
                                  t * (-1.65339022054652515390e-06 + t * 4.13813679705723846039e-08))));
    double y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    /* 2^k in two factors: k runs from -1075 to 1024, past what one
     * normal double's exponent holds. */
    int k = (int)kd, k1 = k / 2, k2 = k - k1;
    return y * of_bits((uint64_t)(k1 + 1023) << 52) * of_bits((uint64_t)(k2 + 1023) << 52);
}

double round(double x)
{
    /* Halfway cases away from zero. Beyond 2^52 every double is an
     * integer already (inf and NaN included). */
    double a = x < 0 ? -x : x;
    if (!(a < 4503599627370496.0))
        return x;
    double r = (double)(int64_t)a;
    if (a - r >= 0.5)
        r += 1.0;
    return x < 0 ? -r : r;
}
