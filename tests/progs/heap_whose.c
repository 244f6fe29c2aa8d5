/*
 * Which allocator serves this program's malloc? Prints facts a test can
 * compare with and without the agent (and with another allocator
 * preloaded after it):
 *   usable100 N      malloc_usable_size(malloc(100)): glibc's chunk
 *                    arithmetic gives 104, jemalloc and tcmalloc 112
 *   glibc_arena yes  glibc's own statistics (mallinfo2) grew by what this
 *                    program allocated: glibc really served the blocks
 *   jemalloc yes     mallctl is defined in the process
 *   tcmalloc yes     tc_malloc is defined in the process
 */
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    void *volatile p = malloc(100);
    printf("usable100 %zu\n", malloc_usable_size(p));
    struct mallinfo2 before = mallinfo2();
    enum { SMALL = 10000 };
    static void *small[SMALL];
    for (int i = 0; i < SMALL; i++)
        small[i] = malloc(200);
    void *volatile big = malloc(8u << 20);
    struct mallinfo2 after = mallinfo2();
    int grew = after.uordblks >= before.uordblks + SMALL * 200 && after.hblkhd >= before.hblkhd + (8u << 20);
    printf("glibc_arena %s\n", grew ? "yes" : "no");
    printf("jemalloc %s\n", dlsym(RTLD_DEFAULT, "mallctl") ? "yes" : "no");
    printf("tcmalloc %s\n", dlsym(RTLD_DEFAULT, "tc_malloc") ? "yes" : "no");
    for (int i = 0; i < SMALL; i++)
        free(small[i]);
    free(big);
    free(p);
    return 0;
}
