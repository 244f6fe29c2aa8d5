/*
 * heapsum: decodes pprof heap profiles (gzipped or plain) with the
 * generated protobuf-c code and prints exact per-function sums that the
 * heap shell tests compare against what a test program allocated:
 *
 *   file FILE
 *   period_type TYPE UNIT
 *   period N
 *   types T1/U1 T2/U2 ...
 *   comment TEXT                 (one per profile comment)
 *   total V1 V2 ...              (all samples)
 *   fn NAME V1 V2 ...            (summed by leaf function, sorted by name)
 *   threads N                    (distinct thread_id labels)
 *   sample LEAF BYTES TID V1 V2 ...  (with -p: every sample; BYTES and
 *                                 TID its "bytes" and "thread_id" labels,
 *                                 0 if none)
 *
 * A leaf without a function name prints as 0xADDRESS. With -s FUNC,
 * "fn" sums every sample whose stack contains FUNC anywhere instead
 * (prints "stack FUNC V1 ..." once). Several files are summed together.
 * Usage: heapsum [-p] [-s FUNC] FILE...
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile prof_t;

#define MAXV 8

typedef struct fn_sum {
    char *name;
    int64_t v[MAXV];
} fn_sum_t;

static fn_sum_t *sums;
static size_t nsums, capsums;
static int64_t total[MAXV], stack_total[MAXV];
static bool stack_hit;
static size_t nvalues;

static uint8_t *read_all(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    int r;
    while (buf && (r = gzread(f, buf + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    gzclose(f);
    *len = n;
    return buf;
}

static fn_sum_t *sum_for(const char *name)
{
    for (size_t i = 0; i < nsums; i++)
        if (strcmp(sums[i].name, name) == 0)
            return &sums[i];
    if (nsums == capsums) {
        capsums = capsums ? capsums * 2 : 64;
        sums = realloc(sums, capsums * sizeof *sums);
    }
    memset(&sums[nsums], 0, sizeof sums[nsums]);
    sums[nsums].name = strdup(name);
    return &sums[nsums++];
}

static const Perftools__Profiles__Location *loc_by_id(const prof_t *p, uint64_t id)
{
    if (id >= 1 && id <= p->n_location && p->location[id - 1]->id == id)
        return p->location[id - 1];
    for (size_t i = 0; i < p->n_location; i++)
        if (p->location[i]->id == id)
            return p->location[i];
    return NULL;
}

static const char *fn_name(const prof_t *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_function; i++)
        if (p->function[i]->id == id && p->function[i]->name < (int64_t)p->n_string_table)
            return p->string_table[p->function[i]->name];
    return NULL;
}

/* Name of a location: its first line's function, or its address. */
static const char *loc_name(const prof_t *p, const Perftools__Profiles__Location *l, char *buf, size_t cap)
{
    const char *n = NULL;
    if (l && l->n_line > 0)
        n = fn_name(p, l->line[0]->function_id);
    if (n && *n)
        return n;
    snprintf(buf, cap, "0x%llx", l ? (unsigned long long)l->address : 0ULL);
    return buf;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const fn_sum_t *)a)->name, ((const fn_sum_t *)b)->name);
}

int main(int argc, char **argv)
{
    const char *stack_fn = NULL;
    bool print_samples = false;
    int i = 1;
    if (i < argc && strcmp(argv[i], "-p") == 0) {
        print_samples = true;
        i++;
    }
    if (i + 1 < argc && strcmp(argv[i], "-s") == 0) {
        stack_fn = argv[i + 1];
        i += 2;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: heapsum [-p] [-s FUNC] FILE...\n");
        return 2;
    }
    uint64_t tids[4096];
    size_t ntids = 0;
    for (; i < argc; i++) {
        size_t len = 0;
        uint8_t *buf = read_all(argv[i], &len);
        prof_t *p = buf ? perftools__profiles__profile__unpack(NULL, len, buf) : NULL;
        if (!p) {
            printf("bad %s\n", argv[i]);
            return 1;
        }
        printf("file %s\n", argv[i]);
        char **st = p->string_table;
        if (p->period_type)
            printf("period_type %s %s\n", st[p->period_type->type], st[p->period_type->unit]);
        printf("period %lld\n", (long long)p->period);
        printf("types");
        for (size_t k = 0; k < p->n_sample_type; k++)
            printf(" %s/%s", st[p->sample_type[k]->type], st[p->sample_type[k]->unit]);
        printf("\n");
        for (size_t k = 0; k < p->n_comment; k++)
            printf("comment %s\n", st[p->comment[k]]);
        nvalues = p->n_sample_type < MAXV ? p->n_sample_type : MAXV;
        for (size_t s = 0; s < p->n_sample; s++) {
            const Perftools__Profiles__Sample *smp = p->sample[s];
            char b[32];
            const char *leaf =
                smp->n_location_id ? loc_name(p, loc_by_id(p, smp->location_id[0]), b, sizeof b) : "(none)";
            fn_sum_t *f = sum_for(leaf);
            bool in_stack = false;
            for (size_t k = 0; stack_fn && k < smp->n_location_id; k++) {
                char b2[32];
                if (strcmp(loc_name(p, loc_by_id(p, smp->location_id[k]), b2, sizeof b2), stack_fn) == 0)
                    in_stack = true;
            }
            for (size_t k = 0; k < smp->n_value && k < MAXV; k++) {
                f->v[k] += smp->value[k];
                total[k] += smp->value[k];
                if (in_stack)
                    stack_total[k] += smp->value[k];
            }
            if (in_stack)
                stack_hit = true;
            int64_t bytes = 0, tid = 0;
            for (size_t k = 0; k < smp->n_label; k++) {
                if (strcmp(st[smp->label[k]->key], "bytes") == 0)
                    bytes = smp->label[k]->num;
                if (strcmp(st[smp->label[k]->key], "thread_id") == 0)
                    tid = smp->label[k]->num;
            }
            if (print_samples) {
                printf("sample %s %lld %lld", leaf, (long long)bytes, (long long)tid);
                for (size_t k = 0; k < smp->n_value; k++)
                    printf(" %lld", (long long)smp->value[k]);
                printf("\n");
            }
            for (size_t k = 0; k < smp->n_label; k++) {
                const Perftools__Profiles__Label *l = smp->label[k];
                if (strcmp(st[l->key], "thread_id") != 0 || l->num == 0)
                    continue;
                size_t t = 0;
                while (t < ntids && tids[t] != (uint64_t)l->num)
                    t++;
                if (t == ntids && ntids < 4096)
                    tids[ntids++] = (uint64_t)l->num;
            }
        }
        perftools__profiles__profile__free_unpacked(p, NULL);
        free(buf);
    }
    printf("total");
    for (size_t k = 0; k < nvalues; k++)
        printf(" %lld", (long long)total[k]);
    printf("\n");
    qsort(sums, nsums, sizeof *sums, by_name);
    for (size_t s = 0; s < nsums; s++) {
        printf("fn %s", sums[s].name);
        for (size_t k = 0; k < nvalues; k++)
            printf(" %lld", (long long)sums[s].v[k]);
        printf("\n");
    }
    if (stack_fn) {
        printf("stack %s", stack_fn);
        for (size_t k = 0; k < nvalues; k++)
            printf(" %lld", (long long)(stack_hit ? stack_total[k] : 0));
        printf("\n");
    }
    printf("threads %zu\n", ntids);
    return 0;
}
