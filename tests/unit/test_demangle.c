/*
 * Display names: symbol versions dropped, C++ demangled through the C++
 * runtime, Rust legacy names decoded without their hash (escapes too),
 * Rust v0 names decoded, malformed or foreign names left alone.
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
    /* Unchanged: C names, empty and odd strings. */
    CHECK(otp_demangle("main") == NULL);
    CHECK(otp_demangle("") == NULL);
    CHECK(otp_demangle(NULL) == NULL);
    CHECK(otp_demangle("@@") == NULL);
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
    /* Rust v0 (RFC 2603): crate hashes dropped, as rustc-demangle's {:#}. */
    expect("_RNvCs1234_7mycrate4main", "mycrate::main");
    expect("_RNvNtCs1_7mycrate3foo3bar", "mycrate::foo::bar");
    expect("_RNvC6_123foo3bar", "123foo::bar");
    expect("_RNvCs1234_7mycrate4main@@VERS_1", "mycrate::main");
    expect("_RNvCs1234_7mycrate4main.llvm.8820", "mycrate::main");
    /* Closures, nested, with a back-reference to the crate. */
    expect("_RNCNCNgCs6DXkGYLi8lr_2cc5spawn00B5_", "cc::spawn::{closure#0}::{closure#0}");
    expect("_RNCNvCs1_7mycrate4mains_0", "mycrate::main::{closure#1}");
    /* Inherent and trait impls (the type's path refers back to the module). */
    expect("_RNvMNtCs1_7mycrate6engineNtB2_6Engine4spin", "<mycrate::engine::Engine>::spin");
    expect("_RNvXNtCs1_7mycrate6engineNtB2_6EngineNtNtCs2_4core3fmt7Display3fmt",
           "<mycrate::engine::Engine as core::fmt::Display>::fmt");
    /* Generic arguments: basic types, references, tuples, arrays, slices,
     * function pointers, dyn traits with bindings, const generics. */
    expect("_RINvCs1_7mycrate4swapjRhE", "mycrate::swap::<usize, &u8>");
    expect("_RINvCs1_7mycrate3mapTlmEAhj4_SReE", "mycrate::map::<(i32, u32), [u8; 4], [&str]>");
    expect("_RINvCs1_7mycrate4callFUKCjEuE", "mycrate::call::<unsafe extern \"C\" fn(usize)>");
    expect("_RINvCs1_7mycrate3runDNtNtCs2_4core3fmt5DebugEL_E", "mycrate::run::<dyn core::fmt::Debug>");
    expect("_RINbNbCskIICzLVDPPb_5alloc5alloc8box_freeDINbNiB4_5boxed5FnBoxuEp6OutputuEL_ECs1iopQbuBiw2_3std",
           "alloc::alloc::box_free::<dyn alloc::boxed::FnBox<(), Output = ()>>");
    expect("_RMCs4fqI2P2rA04_13const_genericINtB0_8UnsignedKhb_E", "<const_generic::Unsigned<11>>");
    expect("_RMC0INtC8arrayvec8ArrayVechKj7b_E", "<arrayvec::ArrayVec<u8, 123>>");
    expect("_RINvNtC3std3mem8align_ofFG_RL0_hEuE", "std::mem::align_of::<for<'a> fn(&'a u8)>");
    expect("_RINvCs1_7mycrate3ptrPhOQRmE", "mycrate::ptr::<*const u8, *mut &mut &u32>");
    /* Punycode identifiers. */
    expect("_RNqCs4fqI2P2rA04_11utf8_identsu30____7hkackfecea1cbdathfdh9hlq6y",
           "utf8_idents::\xe1\x83\xa1\xe1\x83\x90\xe1\x83\xad\xe1\x83\x9b\xe1\x83\x94\xe1\x83\x9a\xe1\x83\x90\xe1\x83\x93_"
           "\xe1\x83\x92\xe1\x83\x94\xe1\x83\x9b\xe1\x83\xa0\xe1\x83\x98\xe1\x83\x94\xe1\x83\x9a\xe1\x83\x98_"
           "\xe1\x83\xa1\xe1\x83\x90\xe1\x83\x93\xe1\x83\x98\xe1\x83\x9a\xe1\x83\x98");
    /* Malformed v0: kept as they are, and a self-reference cannot loop. */
    expect("_RX", "_RX");
    expect("_RNvB0_3foo", "_RNvB0_3foo");
    expect("_RNvCs1_7mycrate", "_RNvCs1_7mycrate");
    expect("_RNvCs1_7mycrate9main", "_RNvCs1_7mycrate9main");
    expect("_R1NvCs1_7mycrate4main", "_R1NvCs1_7mycrate4main");
    expect("_RINvCs1_7mycrate4swapj", "_RINvCs1_7mycrate4swapj");
    return check_done();
}
