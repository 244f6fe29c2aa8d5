/*
 * An app whose "SDK" publishes the OpenTelemetry thread context (OTEP
 * 4947): a TLS pointer otel_thread_ctx_v1 to a record {trace_id[16],
 * span_id[8], valid, trace_flags, attrs_data_size, attrs_data[]}. It knows
 * nothing about otprof. The main thread and two workers each attach a
 * record while running their own function, then detach and run
 * otel_ctx_idle. The symbol must be in .dynsym, so the test links this
 * program itself with -Wl,--export-dynamic-symbol=otel_thread_ctx_v1
 * (built without that flag, the context is invisible and samples carry no
 * link).
 * Usage: otel_ctx [seconds]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct __attribute__((packed, aligned(8))) otel_thread_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t valid;
    uint8_t trace_flags;
    uint16_t attrs_data_size;
    uint8_t attrs_data[8];
} otel_thread_ctx_t;

__attribute__((visibility("default"))) __thread otel_thread_ctx_t *otel_thread_ctx_v1;

static double seconds = 1.5;
static volatile uint64_t sink;

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void spin(double budget, uint64_t x)
{
    double end = thread_cpu() + budget;
    while (thread_cpu() < end)
        for (int i = 0; i < 3000; i++) x = x * 6364136223846793005ULL + 1;
    sink += x;
}

__attribute__((noinline)) static void otel_ctx_work_main(double b) { spin(b, 1); }
__attribute__((noinline)) static void otel_ctx_work_0(double b) { spin(b, 2); }
__attribute__((noinline)) static void otel_ctx_work_1(double b) { spin(b, 3); }
__attribute__((noinline)) static void otel_ctx_idle(double b) { spin(b, 4); }

static void attach(otel_thread_ctx_t *rec, int who)
{
    for (int i = 0; i < 16; i++) rec->trace_id[i] = (uint8_t)(0x40 + 0x10 * who + i);
    for (int i = 0; i < 8; i++) rec->span_id[i] = (uint8_t)(0xc0 + 0x08 * who + i);
    rec->trace_flags = 1;
    rec->attrs_data_size = 0;
    rec->valid = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    otel_thread_ctx_v1 = rec;
    printf("ctx %d ", who);
    for (int i = 0; i < 16; i++) printf("%02x", rec->trace_id[i]);
    printf(" ");
    for (int i = 0; i < 8; i++) printf("%02x", rec->span_id[i]);
    printf("\n");
    fflush(stdout);
}

static void detach(void)
{
    otel_thread_ctx_v1 = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static void *worker(void *arg)
{
    int who = (int)(intptr_t)arg;
    otel_thread_ctx_t rec;
    attach(&rec, who);
    if (who == 0) otel_ctx_work_0(seconds);
    else otel_ctx_work_1(seconds);
    detach();
    otel_ctx_idle(seconds / 3);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) seconds = atof(argv[1]);
    otel_thread_ctx_t rec;
    attach(&rec, 2);
    pthread_t th[2];
    for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, worker, (void *)(intptr_t)k);
    otel_ctx_work_main(seconds / 2);
    detach();
    for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
    printf("done\n");
    return 0;
}
