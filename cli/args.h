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

#endif
