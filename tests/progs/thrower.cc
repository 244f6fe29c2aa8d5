// A C++ library that throws and catches, dlopen'ed by cxx_host.c to check
// that the agent's libunwind does not capture C++ exception handling.
#include <stdexcept>

extern "C" int thrower_run(int n)
{
    int caught = 0;
    for (int i = 0; i < n; i++) {
        try {
            if (i >= 0)
                throw std::runtime_error("boom");
        } catch (const std::exception &) {
            caught++;
        }
    }
    return caught;
}
