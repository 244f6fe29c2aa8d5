/*
 * A C program that dlopens a C++ library which throws. Prints how many
 * exceptions were caught.
 */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    const char *lib = argc > 1 ? argv[1] : "libthrower.so";
    void *h = dlopen(lib, RTLD_NOW);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    int (*run)(int) = (int (*)(int))dlsym(h, "thrower_run");
    if (!run)
        return 3;
    printf("caught %d\n", run(1000));
    return 0;
}
