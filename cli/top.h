/* otprof top: the hottest functions (or source lines) of profiles. */
#ifndef OTP_CLI_TOP_H
#define OTP_CLI_TOP_H

extern const char otp_usage_top[];

/* argv: what follows "top". Returns the exit status. */
int otp_cmd_top(int argc, char **argv);

#endif
