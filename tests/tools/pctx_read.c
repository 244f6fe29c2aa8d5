/*
 * pctx_read: reads another process's OpenTelemetry process context (OTEP
 * 4719) the way an out-of-process reader (an eBPF profiler) does: finds
 * the OTEL_CTX mapping in /proc/PID/maps, reads the 32-byte header and
 * the payload through /proc/PID/mem (timestamp, payload, timestamp again:
 * retried if it changed), decodes the ProcessContext with the generated
 * protobuf code and prints
 *
 *   mappings N                        (OTEL_CTX mappings seen)
 *   mapping NAME
 *   published_at NS
 *   resource KEY=VALUE                (strings and ints)
 *   attribute KEY=VALUE               (the extra attributes, field 2)
 *
 * Exit status 0 if a context was read, 1 if none, 2 on a bad record.
 * Usage: pctx_read PID
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otlp_process_context.pb-c.h"

typedef struct {
    char sig[8];
    uint32_t version, payload_size;
    uint64_t published_at, payload;
} hdr_t;

static void print_kv(const char *what, Opentelemetry__Proto__Common__V1__KeyValue *kv)
{
    if (!kv->value) return;
    if (kv->value->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
        printf("%s %s=%s\n", what, kv->key, kv->value->string_value);
    else if (kv->value->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE)
        printf("%s %s=%" PRId64 "\n", what, kv->key, kv->value->int_value);
    else
        printf("%s %s=<type %d>\n", what, kv->key, (int)kv->value->value_case);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pctx_read PID\n");
        return 2;
    }
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%s/maps", argv[1]);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    uint64_t at = 0;
    int n = 0;
    char name[256] = "";
    while (fgets(line, sizeof line, f)) {
        unsigned long long start;
        int off = 0;
        if (sscanf(line, "%llx-%*x %*s %*s %*s %*s %n", &start, &off) != 1 || !off) continue;
        char *nm = line + off;
        nm[strcspn(nm, "\n")] = '\0';
        if (strcmp(nm, "[anon_shmem:OTEL_CTX]") == 0 || strcmp(nm, "[anon:OTEL_CTX]") == 0 ||
            strcmp(nm, "/memfd:OTEL_CTX") == 0 || strcmp(nm, "/memfd:OTEL_CTX (deleted)") == 0) {
            if (!n++) {
                at = start;
                snprintf(name, sizeof name, "%s", nm);
            }
        }
    }
    fclose(f);
    printf("mappings %d\n", n);
    if (!n) return 1;
    printf("mapping %s\n", name);
    snprintf(path, sizeof path, "/proc/%s/mem", argv[1]);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        return 2;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        hdr_t h, h2;
        if (pread(fd, &h, sizeof h, (off_t)at) != (ssize_t)sizeof h) return 2;
        if (memcmp(h.sig, "OTEL_CTX", 8) != 0 || h.version != 2 || h.payload_size > 65536) {
            printf("bad header\n");
            return 2;
        }
        if (h.published_at == 0) {
            usleep(1000);
            continue;
        }
        uint8_t *buf = malloc(h.payload_size + 1);
        if (!buf || pread(fd, buf, h.payload_size, (off_t)h.payload) != (ssize_t)h.payload_size) return 2;
        if (pread(fd, &h2, sizeof h2, (off_t)at) != (ssize_t)sizeof h2) return 2;
        if (h2.published_at != h.published_at) {
            free(buf);
            continue;
        }
        Opentelemetry__Proto__Processcontext__V1development__ProcessContext *c =
            opentelemetry__proto__processcontext__v1development__process_context__unpack(NULL, h.payload_size, buf);
        if (!c) {
            printf("bad payload\n");
            return 2;
        }
        printf("published_at %" PRIu64 "\n", h.published_at);
        for (size_t i = 0; c->resource && i < c->resource->n_attributes; i++)
            print_kv("resource", c->resource->attributes[i]);
        for (size_t i = 0; i < c->n_attributes; i++) print_kv("attribute", c->attributes[i]);
        opentelemetry__proto__processcontext__v1development__process_context__free_unpacked(c, NULL);
        free(buf);
        close(fd);
        return 0;
    }
    close(fd);
    return 2;
}
