#include "merge_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "merge.h"

const char otp_usage_merge[] =
    "usage: otprof merge -o OUT FILE...\n"
    "\n"
    "Writes one gzip'd pprof profile (OUT) from several profiles of one run,\n"
    "e.g. every interval file of a process:\n"
    "  otprof merge -o app.cpu.pb.gz otprof-out/app.1234.*.cpu.pb.gz\n"
    "Each sample type keeps its meaning: counters over an interval (cpu,\n"
    "samples, alloc_objects, alloc_space) are summed, while inuse_objects and\n"
    "inuse_space, the live heap at an interval's end, come from the last\n"
    "snapshot alone (the file with the latest time; summing snapshots would\n"
    "count a block once per interval it stayed live, which is what passing\n"
    "every file to 'go tool pprof' does). The files must have the same\n"
    "sample types (CPU with CPU, heap with heap). otprof top and otprof flame\n"
    "apply the same rules to several files.\n";

int otp_cmd_merge(int argc, char **argv)
{
    const char *out = NULL;
    char **files = calloc((size_t)argc + 1, sizeof *files);
    int nfiles = 0, rc = 2;
    if (!files)
        return 1;
    const otp_opt_t opts[] = {{"--output", "-o", &out, NULL}};
    int pr = otp_args_parse(argc, argv, "merge", otp_usage_merge, opts, 1, files, &nfiles);
    if (pr != 0) {
        rc = pr > 0 ? 0 : 2;
        goto done;
    }
    if (!out || !*out || nfiles == 0) {
        fprintf(stderr, "otprof: merge: %s; usage: otprof merge -o OUT FILE...\n",
                !out || !*out ? "no output file (-o OUT)" : "no profile given");
        goto done;
    }
    rc = 1;
    pb_prof_t *p = otp_merge_files(files, (size_t)nfiles);
    if (p) {
        rc = otp_pprof_write(out, p) == 0 ? 0 : 1;
        otp_merge_free(p);
    }
done:
    free(files);
    return rc;
}
