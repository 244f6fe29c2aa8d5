/*
 * Perf map reading: entries found by address, a grown file re-read, the
 * latest of overlapping entries wins, a half-written last line ignored,
 * and files that are not ours (another owner, a symlink) never read.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "perfmap.h"

static char path[64];

static void write_map(const char *mode, const char *text)
{
    FILE *f = fopen(path, mode);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static const char *name_at(otp_perfmap_t *m, uint64_t a)
{
    const char *n = otp_perfmap_lookup(m, a);
    return n ? n : "(none)";
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
    unlink(path);
    otp_perfmap_t *m = otp_perfmap_new();
    CHECK(m != NULL);
    otp_perfmap_refresh(m);
    CHECK(otp_perfmap_lookup(m, 0x1000) == NULL);

    write_map("w", "1000 100 first fn\n0x2000 10 Interpreter\n");
    otp_perfmap_refresh(m);
    CHECK_EQ_STR(name_at(m, 0x1000), "first fn");
    CHECK_EQ_STR(name_at(m, 0x10ff), "first fn");
    CHECK_EQ_STR(name_at(m, 0x1100), "(none)");
    CHECK_EQ_STR(name_at(m, 0x2005), "Interpreter");
    CHECK_EQ_STR(name_at(m, 0xfff), "(none)");

    /* Grown: new code, and code recompiled over old code's range. A last
     * line without its newline is still being written. */
    write_map("a", "3000 20 later\n1080 10 recompiled\nbad line\n4000 10 partial");
    otp_perfmap_refresh(m);
    CHECK_EQ_STR(name_at(m, 0x3010), "later");
    CHECK_EQ_STR(name_at(m, 0x1085), "recompiled");
    CHECK_EQ_STR(name_at(m, 0x1010), "first fn");
    CHECK_EQ_STR(name_at(m, 0x4000), "(none)");

    /* Not ours: another user's file, and a symlink. */
    if (geteuid() == 0) {
        CHECK(chown(path, 65534, 65534) == 0);
        otp_perfmap_refresh(m);
        CHECK_EQ_STR(name_at(m, 0x3010), "(none)");
    }
    unlink(path);
    char target[80];
    snprintf(target, sizeof target, "%s.target", path);
    write_map("w", "");
    rename(path, target);
    {
        FILE *f = fopen(target, "w");
        if (f) {
            fputs("5000 10 via symlink\n", f);
            fclose(f);
        }
    }
    CHECK(symlink(target, path) == 0);
    otp_perfmap_refresh(m);
    CHECK_EQ_STR(name_at(m, 0x5000), "(none)");
    unlink(path);
    unlink(target);
    otp_perfmap_refresh(m);
    CHECK(otp_perfmap_lookup(m, 0x1000) == NULL);
    otp_perfmap_free(m);
    otp_perfmap_free(NULL);
    return check_done();
}
