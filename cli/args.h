/* Option parsing shared by the profile-reading subcommands (top, flame,
 * merge): "--opt VALUE" and "--opt=VALUE" alike. */
#ifndef OTP_CLI_ARGS_H
#define OTP_CLI_ARGS_H

#include <stdbool.h>

/* When argv[*i] is the option name (long form, or short when short_name is
 * not NULL), sets *value to its argument (advancing *i) and returns 1;
 * 0 when it is another argument; -1 after a usage error (no value). */
int otp_arg_value(int argc, char **argv, int *i, const char *name, const char *short_name,
                  const char *sub, const char **value);

bool otp_arg_is_help(const char *a);

/* One option of a subcommand: a value option sets *value, a flag (value
 * NULL) sets *flag. */
typedef struct otp_opt {
    const char *name, *short_name;
    const char **value;
    bool *flag;
} otp_opt_t;

/* The loop all three share: options from opts (nopts), "--help" (prints
 * usage), "--" ending options, every other argument a file into files
 * (room for argc). Returns 0 to go on, 1 after help (exit 0), -1 after a
 * usage error it has said (exit 2). */
int otp_args_parse(int argc, char **argv, const char *sub, const char *usage, const otp_opt_t *opts,
                   int nopts, char **files, int *nfiles);

#endif
