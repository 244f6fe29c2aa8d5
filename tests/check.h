/*
 * Minimal unit-test harness. Each CHECK prints "PASS: file: expr" or
 * "FAIL: file:line: expr"; tests/run.sh counts those lines. main() returns
 * check_done(), non-zero when anything failed.
 */
#ifndef OTP_CHECK_H
#define OTP_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_pass_n, check_fail_n;

#define CHECK_NAMED(name, expr)                                                        \
    do {                                                                               \
        if (expr) {                                                                    \
            check_pass_n++;                                                            \
            printf("PASS: %s: %s\n", __FILE__, name);                                  \
        } else {                                                                       \
            check_fail_n++;                                                            \
            printf("FAIL: %s:%d: %s\n", __FILE__, __LINE__, name);                     \
        }                                                                              \
        fflush(stdout);                                                                \
    } while (0)
#define CHECK(expr) CHECK_NAMED(#expr, (expr))
#define CHECK_EQ_INT(a, b)                                                             \
    do {                                                                               \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                \
        CHECK_NAMED(#a " == " #b, check_a_ == check_b_);                               \
        if (check_a_ != check_b_) printf("      got %lld, want %lld\n", check_a_, check_b_); \
    } while (0)
#define CHECK_EQ_STR(a, b)                                                             \
    do {                                                                               \
        const char *check_a_ = (a), *check_b_ = (b);                                   \
        int check_ok_ = check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0;       \
        CHECK_NAMED(#a " == " #b, check_ok_);                                          \
        if (!check_ok_) printf("      got \"%s\", want \"%s\"\n", check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); \
    } while (0)

static inline int check_done(void)
{
    return check_fail_n ? 1 : 0;
}

#endif
