// A library preloaded after the agent that wraps close, as torsocks and
// other shims do: the agent's close must pass the call on to it (the
// next definition), not straight to the C library. Prints
// "closecount N" on stderr at exit.
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

static unsigned long calls;

extern "C" int close(int fd)
{
    static int (*next)(int);
    if (!next) next = (int (*)(int))dlsym(RTLD_NEXT, "close");
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    return next(fd);
}

__attribute__((destructor)) static void report()
{
    char b[64];
    int n = snprintf(b, sizeof b, "closecount %lu\n", calls);
    if (n > 0) (void)!write(2, b, (size_t)n);
}
