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

int otp_args_parse(int argc, char **argv, const char *sub, const char *usage, const otp_opt_t *opts,
                   int nopts, char **files, int *nfiles)
{
    *nfiles = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (++i < argc)
                files[(*nfiles)++] = argv[i];
            break;
        }
        if (otp_arg_is_help(a)) {
            fputs(usage, stdout);
            return 1;
        }
        int k, r = 0;
        for (k = 0; k < nopts; k++) {
            const otp_opt_t *o = &opts[k];
            if (!o->value) {
                if (strcmp(a, o->name) == 0 || (o->short_name && strcmp(a, o->short_name) == 0)) {
                    *o->flag = true;
                    break;
                }
            } else if ((r = otp_arg_value(argc, argv, &i, o->name, o->short_name, sub, o->value)) != 0) {
                if (r < 0)
                    return -1;
                break;
            }
        }
        if (k < nopts)
            continue;
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "otprof: %s: unknown option '%s'; see 'otprof %s --help'\n", sub, a, sub);
            return -1;
        }
        files[(*nfiles)++] = argv[i];
    }
    return 0;
}
