/*
 * One profile from several profiles of one run (the intervals the agent
 * wrote), with each sample type's own meaning:
 *   - counters over an interval (cpu, samples, alloc_objects, alloc_space
 *     and any other type) are summed;
 *   - snapshots (inuse_objects, inuse_space: the live heap at the end of an
 *     interval) are taken from the last snapshot alone, the profile with
 *     the latest time_nanos (the later file on the command line on a tie);
 *     summing them would count a block once per interval it stayed live.
 * otprof merge writes the result; otprof top and otprof flame read several
 * files through it, so all three agree.
 */
#ifndef OTP_CLI_MERGE_H
#define OTP_CLI_MERGE_H

#include <stdbool.h>
#include <stddef.h>

#include "pprof_read.h"

/* true for a sample type that is a snapshot rather than a counter. */
bool otp_merge_is_snapshot(const char *type);

/* Reads files[0..n) (n >= 1) and merges them; a single file goes through
 * the same tables. Samples with the same stack and labels become one, and
 * functions, locations, mappings and strings are shared; ids are 1..N in
 * table order. NULL after one "otprof: ..." line (a file that is not a
 * profile, sample types that differ, out of memory). */
pb_prof_t *otp_merge_files(char *const *files, size_t n);

/* For the commands that read profiles (top, flame): files[0..n) merged,
 * with *vi the index of sample type `sample` (NULL: the default one).
 * NULL after one "otprof: CMD: ..." line (no file: with `usage`; a merge
 * failure; no such sample type). */
pb_prof_t *otp_merge_for(const char *cmd, const char *usage, char *const *files, int n,
                         const char *sample, int *vi);

/* Frees what otp_merge_files built. */
void otp_merge_free(pb_prof_t *p);

#endif
