/*
 * flat: the value of samples whose innermost frame is the node; cum: the
 * value of samples with the node anywhere in the stack, counted once per
 * sample (recursion must not count a sample twice). Inline frames are
 * nodes of their own and functions are keyed by name, as in
 * `go tool pprof -top`, so the two agree on the same file.
 */
#include "top.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "intern.h"
#include "merge.h"
#include "stacks.h"
#include "units.h"

const char otp_usage_top[] =
    "usage: otprof top [-n N] [--sample TYPE] [--lines] FILE...\n"
    "\n"
    "Prints the hottest functions of pprof profiles (gzip'd or not), like\n"
    "'go tool pprof -top': flat is the value spent in the function itself,\n"
    "cum with its callees too, each with its share of the total; sum% adds\n"
    "up the flat shares so far. Inline frames count as functions.\n"
    "  -n N           rows to print (default 20; 0: all)\n"
    "  --sample TYPE  sample type: cpu, samples, alloc_space, alloc_objects,\n"
    "                 inuse_space, inuse_objects, ... (default: the last one,\n"
    "                 as in pprof)\n"
    "  --lines        one row per source line: function file:line\n"
    "Several files are one run's intervals: counters (cpu, samples, alloc_*)\n"
    "are summed and inuse_* comes from the last snapshot (latest time), as\n"
    "'otprof merge' writes them.\n";

typedef struct node {
    int64_t flat, cum;
    size_t stamp; /* last sample counted in cum, + 1 */
} node_t;

typedef struct top {
    const pb_prof_t *p;
    bool lines;
    otp_intern_t keys; /* node label -> node index */
    node_t *nodes;
    size_t cap;
} top_t;

/* A file name as go tool pprof shows it (Go's path.Clean): "." elements
 * and "dir/.." pairs dropped, slashes single; a relative path keeps its
 * leading "..". libc's DWARF names files such as
 * "../sysdeps/x86_64/multiarch/../multiarch/strcmp-sse2.S". */
static void clean_path(const char *in, char *out, size_t cap)
{
    if (cap < 2) {
        if (cap)
            out[0] = '\0';
        return;
    }
    bool rooted = in[0] == '/';
    size_t n = 0, keep = 0; /* keep: where ".." may no longer go back past */
    if (rooted)
        out[n++] = '/', keep = 1;
    for (const char *p = in; *p;) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t len = (size_t)(e - p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* dropped */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (n > keep) {
                while (n > keep && out[n - 1] != '/')
                    n--;
                if (n > keep)
                    n--; /* the slash before it */
            } else if (!rooted) {
                if (n > 0 && n + 1 < cap)
                    out[n++] = '/';
                for (int k = 0; k < 2 && n + 1 < cap; k++)
                    out[n++] = '.';
                keep = n;
            }
        } else {
            if (n > 0 && out[n - 1] != '/' && n + 1 < cap)
                out[n++] = '/';
            for (size_t k = 0; k < len && n + 1 < cap; k++)
                out[n++] = p[k];
        }
        p = e;
    }
    if (n == 0)
        out[n++] = '.';
    out[n] = '\0';
}

static int64_t node_of(top_t *t, const otp_cframe_t *f)
{
    char buf[4096], lab[128], file[2048];
    const char *name = otp_frame_label(t->p, f, lab, sizeof lab);
    int len;
    if (t->lines && f->name && *f->file) {
        clean_path(f->file, file, sizeof file);
        len = snprintf(buf, sizeof buf, "%s %s:%" PRId64, name, file, f->line);
    } else {
        len = snprintf(buf, sizeof buf, "%s", name);
    }
    if (len < 0)
        return -1;
    if ((size_t)len >= sizeof buf)
        len = sizeof buf - 1;
    int added;
    int64_t i = otp_intern(&t->keys, buf, (size_t)len, &added);
    if (i < 0)
        return -1;
    if (!otp_grow_to((void **)&t->nodes, &t->cap, (size_t)i, sizeof *t->nodes))
        return -1;
    if (added)
        memset(&t->nodes[i], 0, sizeof t->nodes[i]);
    return i;
}

static const top_t *sort_ctx;

static int by_flat(const void *a, const void *b)
{
    const node_t *x = &sort_ctx->nodes[*(const size_t *)a], *y = &sort_ctx->nodes[*(const size_t *)b];
    if (x->flat != y->flat)
        return x->flat < y->flat ? 1 : -1;
    if (x->cum != y->cum)
        return x->cum < y->cum ? 1 : -1;
    return strcmp(otp_intern_key(&sort_ctx->keys, *(const size_t *)a),
                  otp_intern_key(&sort_ctx->keys, *(const size_t *)b));
}

static double pct(int64_t v, int64_t total)
{
    return total ? 100.0 * (double)v / (double)total : 0.0;
}

static int print_top(top_t *t, int vi, long nrows, char *const *files, int nfiles)
{
    const pb_prof_t *p = t->p;
    otp_cstack_t st = { 0 };
    int64_t total = 0;
    for (size_t s = 0; s < p->n_sample; s++) {
        const Perftools__Profiles__Sample *smp = p->sample[s];
        int64_t v = (size_t)vi < smp->n_value ? smp->value[vi] : 0;
        if (v == 0)
            continue;
        total += v;
        if (otp_stack_get(p, smp, &st) != 0)
            goto oom;
        for (size_t k = 0; k < st.n; k++) {
            int64_t n = node_of(t, &st.f[k]);
            if (n < 0)
                goto oom;
            if (k == 0)
                t->nodes[n].flat += v;
            if (t->nodes[n].stamp != s + 1) {
                t->nodes[n].stamp = s + 1;
                t->nodes[n].cum += v;
            }
        }
    }
    otp_stack_fini(&st);
    size_t nn = t->keys.n;
    size_t *order = malloc((nn ? nn : 1) * sizeof *order);
    if (!order)
        goto oom;
    for (size_t i = 0; i < nn; i++)
        order[i] = i;
    sort_ctx = t;
    qsort(order, nn, sizeof *order, by_flat);
    size_t shown = nrows > 0 && (size_t)nrows < nn ? (size_t)nrows : nn;

    const char *type = otp_pprof_str(p, p->sample_type[vi]->type);
    const char *unit = otp_pprof_str(p, p->sample_type[vi]->unit);
    char tot[64], a[64], b[64];
    otp_fmt_value(tot, sizeof tot, total, unit);
    if (nfiles == 1)
        printf("File: %s\n", files[0]);
    else
        printf("Files: %d (%s)\n", nfiles,
               otp_merge_is_snapshot(type) ? "the last snapshot's values" : "values summed");
    printf("Type: %s (%s)\n", type, unit);
    int64_t shown_flat = 0;
    for (size_t i = 0; i < shown; i++)
        shown_flat += t->nodes[order[i]].flat;
    otp_fmt_value(a, sizeof a, shown_flat, unit);
    printf("Showing %zu of %zu %s, %s (%.2f%%) of %s total\n", shown, nn,
           t->lines ? "lines" : "functions", a, pct(shown_flat, total), tot);
    printf("%10s %7s %7s %10s %7s  %s\n", "flat", "flat%", "sum%", "cum", "cum%",
           t->lines ? "function file:line" : "function");
    double sum = 0;
    for (size_t i = 0; i < shown; i++) {
        const node_t *n = &t->nodes[order[i]];
        sum += pct(n->flat, total);
        otp_fmt_value(a, sizeof a, n->flat, unit);
        otp_fmt_value(b, sizeof b, n->cum, unit);
        printf("%10s %6.2f%% %6.2f%% %10s %6.2f%%  %s\n", a, pct(n->flat, total), sum, b,
               pct(n->cum, total), otp_intern_key(&t->keys, order[i]));
    }
    free(order);
    return ferror(stdout) || fflush(stdout) != 0 ? 1 : 0;
oom:
    otp_stack_fini(&st);
    fputs("otprof: top: out of memory\n", stderr);
    return 1;
}

int otp_cmd_top(int argc, char **argv)
{
    long nrows = 20;
    const char *sample = NULL;
    bool lines = false;
    char **files = calloc((size_t)argc + 1, sizeof *files);
    int nfiles = 0;
    if (!files)
        return 1;
    int rc = 2;
    const char *rows = NULL;
    const otp_opt_t opts[] = {{"--lines", NULL, NULL, &lines},
                              {"--sample", NULL, &sample, NULL},
                              {"--nodes", "-n", &rows, NULL}};
    int pr = otp_args_parse(argc, argv, "top", otp_usage_top, opts, 3, files, &nfiles);
    if (pr != 0) {
        rc = pr > 0 ? 0 : 2;
        goto out;
    }
    if (rows) {
        char *end;
        nrows = strtol(rows, &end, 10);
        if (!*rows || *end || nrows < 0) {
            fprintf(stderr, "otprof: top: -n '%s': not a row count (0: all)\n", rows);
            goto out;
        }
    }
    int vi;
    pb_prof_t *p = otp_merge_for("top", "otprof top [-n N] [--sample TYPE] [--lines] FILE...", files,
                                 nfiles, sample, &vi);
    if (!p) {
        rc = nfiles == 0 ? 2 : 1;
        goto out;
    }
    top_t t = { .p = p, .lines = lines };
    otp_intern_init(&t.keys);
    rc = print_top(&t, vi, nrows, files, nfiles);
    otp_intern_fini(&t.keys);
    free(t.nodes);
    otp_merge_free(p);
out:
    free(files);
    return rc;
}
