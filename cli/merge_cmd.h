/* otprof merge: one pprof file from one run's interval files. */
#ifndef OTP_CLI_MERGE_CMD_H
#define OTP_CLI_MERGE_CMD_H

extern const char otp_usage_merge[];

/* argv: what follows "merge". Returns the exit status. */
int otp_cmd_merge(int argc, char **argv);

#endif
