// C++ allocations for the heap tests: cxx_alloc(n) keeps n `new char[1000]`
// blocks (each must be counted once, through malloc), and the library's
// static initialiser allocates while the dynamic loader runs it (dlopen in
// a loop exercises the allocation hooks inside the loader).
#include <string>
#include <vector>

static std::string greeting(200, 'x');
static std::vector<std::string> words = {"alpha", "a string longer than the small buffer", greeting};
static char *kept[4096];
static int nkept;

extern "C" void cxx_alloc(int n)
{
    for (int i = 0; i < n && nkept < 4096; i++) {
        kept[nkept] = new char[1000];
        kept[nkept][999] = 1;
        nkept++;
    }
}

extern "C" int cxx_words(void)
{
    return (int)words.size() + (int)greeting.size();
}
