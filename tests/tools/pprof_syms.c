/*
 * pprof_syms: prints what a pprof profile says about symbols, for the
 * symbolization tests (go tool pprof shows neither system names nor the
 * mapping flags):
 *
 *   map FILE has_functions has_filenames has_line_numbers has_inline_frames
 *   func NAME<TAB>SYSTEM_NAME<TAB>FILENAME<TAB>START_LINE
 *   loc 0xADDR NAME:LINE NAME:LINE ...   (innermost first)
 *   flat NAME VALUE                      (leaf function, sample value 0 summed;
 *                                         the leaf is a location's first line)
 *
 * Usage: pprof_syms FILE   (gzipped or plain)
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile prof_t;

static uint8_t *read_all(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    int r;
    while (buf && (r = gzread(f, buf + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)r;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    gzclose(f);
    *len = n;
    return buf;
}

static const char *str(const prof_t *p, int64_t i)
{
    return i >= 0 && (size_t)i < p->n_string_table ? p->string_table[i] : "?";
}

static const Perftools__Profiles__Function *func(const prof_t *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_function; i++)
        if (p->function[i]->id == id) return p->function[i];
    return NULL;
}

static const Perftools__Profiles__Location *loc(const prof_t *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_location; i++)
        if (p->location[i]->id == id) return p->location[i];
    return NULL;
}

int main(int argc, char **argv)
{
    size_t len;
    uint8_t *buf = argc == 2 ? read_all(argv[1], &len) : NULL;
    prof_t *p = buf ? perftools__profiles__profile__unpack(NULL, len, buf) : NULL;
    if (!p) {
        fprintf(stderr, "usage: pprof_syms FILE (a readable pprof profile)\n");
        return 2;
    }
    for (size_t i = 0; i < p->n_mapping; i++) {
        const Perftools__Profiles__Mapping *m = p->mapping[i];
        printf("map %s %d %d %d %d\n", str(p, m->filename), m->has_functions, m->has_filenames,
               m->has_line_numbers, m->has_inline_frames);
    }
    for (size_t i = 0; i < p->n_function; i++) {
        const Perftools__Profiles__Function *f = p->function[i];
        printf("func %s\t%s\t%s\t%" PRId64 "\n", str(p, f->name), str(p, f->system_name), str(p, f->filename),
               f->start_line);
    }
    for (size_t i = 0; i < p->n_location; i++) {
        const Perftools__Profiles__Location *l = p->location[i];
        printf("loc 0x%" PRIx64, l->address);
        for (size_t k = 0; k < l->n_line; k++) {
            const Perftools__Profiles__Function *f = func(p, l->line[k]->function_id);
            printf(" %s:%" PRId64, f ? str(p, f->name) : "?", l->line[k]->line);
        }
        printf("\n");
    }
    for (size_t i = 0; i < p->n_sample; i++) {
        const Perftools__Profiles__Sample *s = p->sample[i];
        const Perftools__Profiles__Location *l = s->n_location_id ? loc(p, s->location_id[0]) : NULL;
        const Perftools__Profiles__Function *f = l && l->n_line ? func(p, l->line[0]->function_id) : NULL;
        printf("flat %s %" PRId64 "\n", f ? str(p, f->name) : "?", s->n_value ? s->value[0] : 0);
    }
    perftools__profiles__profile__free_unpacked(p, NULL);
    free(buf);
    return 0;
}
