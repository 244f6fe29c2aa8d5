/*
 * An app whose "SDK" publishes the OpenTelemetry process context (OTEP
 * 4719) as the reference implementation does: a memfd named OTEL_CTX,
 * mapped private, the 32-byte header {"OTEL_CTX", version 2, payload
 * size, CLOCK_BOOTTIME ns (written last), payload address} and a
 * protobuf ProcessContext payload, named with prctl(PR_SET_VMA_ANON_NAME).
 * It knows nothing about otprof.
 * Usage: otel_pctx DELAY SECONDS [update]
 *   burns CPU (and allocates) for SECONDS of CPU time in all; publishes
 *   after DELAY seconds of it; with "update", republishes half-way with
 *   service.version=2.0 by the OTEP's update protocol.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static uint8_t payload[1024];
static size_t plen;
static volatile uint64_t sink;

static void put(const void *p, size_t n)
{
    memcpy(payload + plen, p, n);
    plen += n;
}

static void put_byte(uint8_t b)
{
    put(&b, 1);
}

/* One KeyValue{key, AnyValue{string_value}} as field 1 (the caller
 * renumbers it for field 2); every length below 128. */
static void kv(const char *k, const char *v)
{
    size_t kl = strlen(k), vl = strlen(v);
    size_t any = 2 + vl;          /* AnyValue{string_value = 1} */
    size_t body = 2 + kl + 2 + any; /* KeyValue{key = 1, value = 2} */
    put_byte(0x0a); /* Resource.attributes = 1 / ProcessContext.attributes handled by caller */
    put_byte((uint8_t)body);
    put_byte(0x0a);
    put_byte((uint8_t)kl);
    put(k, kl);
    put_byte(0x12);
    put_byte((uint8_t)any);
    put_byte(0x0a);
    put_byte((uint8_t)vl);
    put(v, vl);
}

static void build(const char *version)
{
    uint8_t res[900];
    plen = 0;
    kv("service.name", "checkout-from-sdk");
    kv("service.version", version);
    kv("process.runtime.name", "example-runtime");
    kv("telemetry.sdk.language", "cpp");
    kv("process.pid", "1"); /* wrong on purpose: the agent keeps its own */
    size_t rl = plen;
    memcpy(res, payload, rl);
    /* ProcessContext{resource = 1 {..}, attributes = 2 {threadlocal...}} */
    plen = 0;
    put_byte(0x0a);
    put_byte((uint8_t)(0x80 | (rl & 0x7f)));
    put_byte((uint8_t)(rl >> 7));
    put(res, rl);
    size_t before = plen;
    kv("threadlocal.schema_version", "tlsdesc_v1_dev");
    payload[before] = 0x12; /* field 2, not 1 */
}

typedef struct {
    char sig[8];
    uint32_t version, payload_size;
    uint64_t published_at, payload;
} hdr_t;

static uint64_t boottime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint8_t *map;

static void publish(const char *version)
{
    build(version);
    volatile hdr_t *h;
    if (!map) {
        int fd = (int)syscall(SYS_memfd_create, "OTEL_CTX", 1u | 2u | 8u);
        if (fd < 0) fd = (int)syscall(SYS_memfd_create, "OTEL_CTX", 1u | 2u);
        if (fd < 0 || ftruncate(fd, 4096) != 0) exit(3);
        map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        close(fd);
        if (map == MAP_FAILED) exit(3);
        madvise(map, 4096, MADV_DONTFORK);
        h = (volatile hdr_t *)map;
    } else {
        h = (volatile hdr_t *)map;
        h->published_at = 0; /* update: "being updated" */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
    memcpy(map + 64, payload, plen);
    memcpy((void *)h->sig, "OTEL_CTX", 8);
    h->version = 2;
    h->payload_size = (uint32_t)plen;
    h->payload = (uint64_t)(uintptr_t)(map + 64);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    h->published_at = boottime();
    prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)map, 4096, "OTEL_CTX");
    printf("published %s\n", version);
    fflush(stdout);
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void pctx_spin(double until)
{
    uint64_t x = 7;
    while (cpu_now() < until) {
        for (int i = 0; i < 3000; i++) x = x * 6364136223846793005ULL + 1;
        free(malloc(4096 + (x & 1023)));
    }
    sink += x;
}

int main(int argc, char **argv)
{
    double delay = argc > 1 ? atof(argv[1]) : 0;
    double secs = argc > 2 ? atof(argv[2]) : 1;
    int update = argc > 3 && strcmp(argv[3], "update") == 0;
    double t0 = cpu_now();
    pctx_spin(t0 + delay);
    publish("1.0");
    if (update) {
        pctx_spin(t0 + delay + (secs - delay) / 2);
        publish("2.0");
    }
    pctx_spin(t0 + secs);
    return 0;
}
