/*
 * Names for people: a symbol's spelling in the object (its "system name")
 * turned into what a reader expects. Flusher thread only.
 */
#ifndef OTP_DEMANGLE_H
#define OTP_DEMANGLE_H

/* The display name of `sys`: symbol version suffixes (`@@GLIBC_2.34`,
 * `@GLIBC_2.2.5`) dropped, C++ (Itanium ABI) names demangled with the C++
 * runtime's __cxa_demangle (libstdc++ is dlopen'ed the first time a `_Z`
 * name is seen), Rust legacy names demangled without their hash, Rust v0
 * (`_R`) names decoded (rustv0.h). Returns
 * an otp_malloc'd string, or NULL when the display name is `sys` itself
 * (or on failure: the caller then shows `sys`). */
char *otp_demangle(const char *sys);

#endif
