/*
 * Display names: symbol versions dropped, C++ demangled through the C++
 * runtime, Rust legacy names decoded without their hash (escapes too),
 * malformed or foreign names left alone.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "demangle.h"
#include "mem.h"

static void expect(const char *sys, const char *want)
{
    char *d = otp_demangle(sys);
    const char *got = d ? d : sys;
    CHECK_NAMED(sys, strcmp(got, want) == 0);
    if (strcmp(got, want) != 0) printf("      %s -> %s (want %s)\n", sys, got, want);
    otp_free(d);
}

int main(void)
{
    /* Unchanged: C names, empty and odd strings, Rust v0 (documented). */
    CHECK(otp_demangle("main") == NULL);
    CHECK(otp_demangle("") == NULL);
    CHECK(otp_demangle(NULL) == NULL);
    CHECK(otp_demangle("@@") == NULL);
    expect("_RNvCs1234_7mycrate4main", "_RNvCs1234_7mycrate4main");
    /* Symbol versions. */
    expect("__libc_start_main@@GLIBC_2.34", "__libc_start_main");
    expect("pthread_kill@GLIBC_2.2.5", "pthread_kill");
    /* C++. */
    expect("_ZN7otpdemo5MixerImE5churnEi", "otpdemo::Mixer<unsigned long>::churn(int)");
    expect("_ZZ4mainENKUliE_clEi", "main::{lambda(int)#1}::operator()(int) const");
    expect("_ZNSt6vectorIiSaIiEE9push_backERKi@@GLIBCXX_3.4",
           "std::vector<int, std::allocator<int> >::push_back(int const&)");
    expect("_ZL7cpu_nowv.cold", "cpu_now() [clone .cold]");
    /* Not a valid mangled name: kept. */
    expect("_Zfoo", "_Zfoo");
    /* Rust legacy: the hash goes, escapes are decoded. */
    expect("_ZN7otpdemo6engine4spin17h0123456789abcdefE", "otpdemo::engine::spin");
    expect("_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$"
           "17h0123456789abcdefE",
           "core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>");
    expect("_ZN3foo4_$LT$3bar17h0123456789abcdefE", "_ZN3foo4_$LT$3bar17h0123456789abcdefE");
    expect("_ZN5alloc3vec12Vec$LT$T$GT$4push17h0123456789abcdefE@GLIBC_2.2.5", "alloc::vec::Vec<T>::push");
    return check_done();
}
