/* Unit tests of the agent's own log, exp and round (agent/libm.c), which
 * the heap sampler's gaps and weights use instead of libm's: checked
 * against libm.so.6's, loaded beside them, over the ranges heap.c uses
 * and beyond, plus the special values. */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "check.h"

typedef double (*fn_t)(double);

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static double uniform(void) /* (0, 1] */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)((rng >> 11) + 1) / 9007199254740992.0;
}

static double rel(double a, double b)
{
    if (a == b)
        return 0;
    double d = a > b ? a - b : b - a, m = b < 0 ? -b : b;
    return m > 0 ? d / m : d;
}

int main(void)
{
    void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    fn_t libm_log = h ? (fn_t)dlsym(h, "log") : NULL;
    fn_t libm_exp = h ? (fn_t)dlsym(h, "exp") : NULL;
    fn_t libm_round = h ? (fn_t)dlsym(h, "round") : NULL;
    CHECK(libm_log && libm_exp && libm_round);
    if (!libm_log || !libm_exp || !libm_round)
        return check_done();
    /* The agent's, not libm's, are the ones linked here. */
    CHECK(libm_log != log && libm_exp != exp && libm_round != round);

    double worst_log = 0, worst_exp = 0;
    int round_bad = 0;
    for (int i = 0; i < 1000000; i++) {
        double u = uniform();
        /* The sampler's gap: -log(u), u in (0, 1]; and any positive x. */
        double x = (i & 1) ? u : u * pow(10, (int)(uniform() * 600) - 300);
        double r = rel(log(x), libm_log(x));
        if (r > worst_log)
            worst_log = r;
        /* The weight: exp(-size/mean), results down to the normal range. */
        double y = (i & 1) ? -u * (double)(1 << (i % 20)) : (u - 0.5) * 1410;
        if (libm_exp(y) >= 2.2250738585072014e-308) {
            r = rel(exp(y), libm_exp(y));
            if (r > worst_exp)
                worst_exp = r;
        }
        double z = (i % 3 == 0) ? (double)((int)(u * 2001) - 1000) / 2 : (u - 0.5) * 1e7;
        if (round(z) != libm_round(z))
            round_bad++;
    }
    printf("      worst relative error: log %.3g, exp %.3g\n", worst_log, worst_exp);
    CHECK(worst_log <= 4e-16);
    CHECK(worst_exp <= 1e-15);
    CHECK_EQ_INT(round_bad, 0);

    CHECK(log(1.0) == 0.0);
    CHECK(isinf(log(0.0)) && log(0.0) < 0);
    CHECK(isnan(log(-1.0)));
    CHECK(isinf(log(INFINITY)) && log(INFINITY) > 0);
    CHECK(exp(0.0) == 1.0);
    CHECK(exp(-INFINITY) == 0.0 && exp(-1000.0) == 0.0);
    CHECK(isinf(exp(INFINITY)) && isinf(exp(1000.0)));
    CHECK(isnan(exp(NAN)) && isnan(log(NAN)));
    CHECK(round(2.5) == 3.0 && round(-2.5) == -3.0 && round(0.49999999999999994) == 0.0);
    CHECK(round(1e300) == 1e300 && isinf(round(INFINITY)) && isnan(round(NAN)));
    return check_done();
}
