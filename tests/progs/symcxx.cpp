// C++ names for the symbolization test: a hot member function of a class
// template in a namespace, a hot lambda, and a function whose symbol is
// spelled as a Rust (legacy mangling) compiler would. Burns CPU in each
// for the given seconds (default 0.4) and prints a checksum. With "v0"
// after the seconds it burns them in one function spelled with Rust's v0
// mangling instead.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>

static double cpu_now()
{
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

namespace otpdemo {
template <typename T> struct Mixer {
    T state;
    __attribute__((noinline)) T churn(int rounds)
    {
        for (int i = 0; i < rounds; i++) state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return state;
    }
};
} // namespace otpdemo

extern "C" __attribute__((noinline)) uint64_t rust_spin(uint64_t x, int rounds) __asm__("_ZN7otpdemo6engine4spin17h0123456789abcdefE");
extern "C" __attribute__((noinline)) uint64_t rust_spin(uint64_t x, int rounds)
{
    for (int i = 0; i < rounds; i++) x = (x ^ (x >> 7)) * 0x9E3779B97F4A7C15ULL;
    return x;
}

// <otpdemo::engine::Engine as core::fmt::Debug>::fmt in Rust v0 mangling.
extern "C" __attribute__((noinline)) uint64_t rust_v0_spin(uint64_t x, int rounds) __asm__(
    "_RNvXNtCs1_7otpdemo6engineNtB2_6EngineNtNtCs2_4core3fmt5Debug3fmt");
extern "C" __attribute__((noinline)) uint64_t rust_v0_spin(uint64_t x, int rounds)
{
    for (int i = 0; i < rounds; i++) x = (x ^ (x >> 11)) * 0xBF58476D1CE4E5B9ULL;
    return x;
}

int main(int argc, char **argv)
{
    double s = argc > 1 ? atof(argv[1]) : 0.4;
    if (argc > 2 && argv[2][0] == 'v') {
        uint64_t x = 1;
        double stop = cpu_now() + s;
        while (cpu_now() < stop) x += rust_v0_spin(x, 100000);
        printf("done %d\n", x != 1);
        return 0;
    }
    otpdemo::Mixer<uint64_t> m{1};
    uint64_t acc = 0;
    auto lam = [&acc](int rounds) __attribute__((noinline)) {
        for (int i = 0; i < rounds; i++) acc = acc * 31 + (uint64_t)i;
    };
    double end = cpu_now() + s;
    while (cpu_now() < end) acc += m.churn(100000);
    end = cpu_now() + s;
    while (cpu_now() < end) lam(100000);
    end = cpu_now() + s;
    while (cpu_now() < end) acc += rust_spin(acc, 100000);
    printf("done %d\n", acc != 1);
    return 0;
}
