/*
 * Helpers shared by the unit tests and test tools (header-only: each test
 * is one translation unit).
 */
#ifndef OTP_TESTUTIL_H
#define OTP_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <protobuf-c/protobuf-c.h>

#include "symbols.h"

/* Checks of source files and lines need the test binary's own DWARF. An
 * object of more than 4 MiB (a test built with the sanitizers) is opened
 * only by a symbolizer a second old (symbols.c): call this right after
 * otp_sym_new to wait for that when it applies. */
static inline void wait_for_big_dwarf(void)
{
    struct stat exe;
    if (stat("/proc/self/exe", &exe) == 0 && exe.st_size > (4 << 20)) {
        struct timespec age = {1, 50000000};
        nanosleep(&age, NULL);
    }
}

/* The build id as binutils sees it: an independent reader of the note. */
static inline void readelf_build_id(const char *path, char *out, size_t cap)
{
    char cmd[4200], line[512];
    out[0] = '\0';
    snprintf(cmd, sizeof(cmd), "readelf -n '%s' 2>/dev/null", path);
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *p = strstr(line, "Build ID: ");
        if (p && sscanf(p + 10, "%511s", line) == 1)
            snprintf(out, cap, "%s", line);
    }
    pclose(f);
}

/* Fills pcs[ns][nf] with addresses drawn from a pool of `pool_n` random
 * addresses inside mappings a and b (alternately), deterministically:
 * many distinct stacks that share frames, as real profiles do. */
static inline void random_stacks(const otp_mapping_t *a, const otp_mapping_t *b, uint64_t *pool,
                                 int pool_n, uint64_t *pcs, int ns, int nf)
{
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < pool_n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const otp_mapping_t *m = i & 1 ? a : b;
        pool[i] = m->start + x % (m->limit - m->start);
    }
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < nf; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            pcs[(size_t)i * (size_t)nf + (size_t)j] = pool[x % (uint64_t)pool_n];
        }
}

/* The encoders write the wire format themselves (agent/pbwrite.h): what
 * protobuf-c packs from a decoded message m must be the bytes it was
 * decoded from. Counts in *checked, and in *differ with a line when not. */
static inline void repack_check(const ProtobufCMessage *m, const uint8_t *buf, size_t len, size_t *checked,
                                size_t *differ)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *again = malloc(n ? n : 1);
    if (!again)
        return;
    protobuf_c_message_pack(m, again);
    ++*checked;
    if (n != len || memcmp(again, buf, len) != 0) {
        printf("      message %zu: %zu bytes, protobuf-c packs %zu\n", *checked, len, n);
        ++*differ;
    }
    free(again);
}

#endif
