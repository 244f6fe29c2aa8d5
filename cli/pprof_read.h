/*
 * Reading and writing pprof files (perftools.profiles.Profile, gzip'd or
 * not) with the same protobuf-c code the agent encodes them with, so the
 * command and the agent cannot disagree on the format.
 */
#ifndef OTP_CLI_PPROF_READ_H
#define OTP_CLI_PPROF_READ_H

#include <stddef.h>
#include <stdint.h>

#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile pb_prof_t;

/* Reads path; on failure prints one "otprof: path: ..." line and returns
 * NULL. Free with otp_pprof_free. */
pb_prof_t *otp_pprof_read(const char *path);
void otp_pprof_free(pb_prof_t *p);

/* Writes p gzip'd to path (through a temp file renamed into place); 0, or
 * -1 after printing one "otprof: ..." line. */
int otp_pprof_write(const char *path, const pb_prof_t *p);

/* The string at index i, "" when out of range (a bad file must not crash
 * the reader). */
const char *otp_pprof_str(const pb_prof_t *p, int64_t i);

/* The value index for a sample type name (e.g. "cpu", "inuse_space");
 * name NULL: pprof's default, default_sample_type if set, else the last
 * type. -1 when there is no such type. */
int otp_pprof_sample_index(const pb_prof_t *p, const char *name);

/* "cpu, samples" style list of the profile's sample type names into buf. */
void otp_pprof_type_list(const pb_prof_t *p, char *buf, size_t cap);

#endif
