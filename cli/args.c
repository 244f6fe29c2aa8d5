#include "args.h"

#include <stdio.h>
#include <string.h>

bool otp_arg_is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

int otp_arg_value(int argc, char **argv, int *i, const char *name, const char *short_name,
                  const char *sub, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) == 0 && a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (strcmp(a, name) != 0 && !(short_name && strcmp(a, short_name) == 0))
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "otprof: %s: %s needs a value; see 'otprof %s --help'\n", sub, a, sub);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}
