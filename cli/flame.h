/* otprof flame: a self-contained interactive SVG flame graph of profiles. */
#ifndef OTP_CLI_FLAME_H
#define OTP_CLI_FLAME_H

extern const char otp_usage_flame[];

/* argv: what follows "flame". Writes the SVG on stdout; the exit status. */
int otp_cmd_flame(int argc, char **argv);

#endif
