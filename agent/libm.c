/*
 * The three libm functions the agent uses (heap.c's sampling gaps and
 * weights; the private jemalloc refers to them too), defined here, hidden,
 * so that the agent does not need libm.so.6: loading one more library
 * (open, mappings, relocations, ~8 page faults) was a sizeable part of
 * what the agent adds to a process that only starts and exits. Nothing
 * outside the agent binds to these (hidden visibility, and the agent's
 * exports are listed in preload/otprof.map).
 *
 * log and exp use the x87 unit, which computes log2 and 2^x in extended
 * precision: results are within an ulp or so of libm's, which is far
 * more than the sampling maths needs.
 */
#include <math.h>
#include <stdint.h>

double log(double x)
{
    /* ln(x) = ln(2) * log2(x): fyl2x computes st(1) * log2(st(0)).
     * Negative x, 0, inf and NaN come out as IEEE says (NaN, -inf,
     * inf, NaN), as from libm (without errno). */
    long double r;
    __asm__("fldln2\n\t"
            "fxch\n\t"
            "fyl2x"
            : "=t"(r)
            : "0"((long double)x)
            : "st(1)");
    return (double)r;
}

double exp(double x)
{
    if (x != x)
        return x;
    if (x > 709.8)
        return HUGE_VAL;
    if (x < -745.2)
        return 0.0;
    /* e^x = 2^t, t = x * log2(e) = n + f with n an integer and |f| <= 1/2:
     * 2^f from f2xm1, scaled by 2^n (fscale). */
    long double t, r;
    __asm__("fldl2e\n\t"
            "fmulp\n\t"
            : "=t"(t)
            : "0"((long double)x)
            : "st(1)");
    long double n;
    __asm__("frndint" : "=t"(n) : "0"(t));
    long double f = t - n;
    __asm__("f2xm1" : "=t"(r) : "0"(f));
    r += 1.0L;
    __asm__("fscale" : "=t"(r) : "0"(r), "u"(n));
    return (double)r;
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
