/*
 * The flame graph is a tree of call paths (root at the bottom, callees
 * above), each frame as wide as its share of the total. Frames are laid
 * out here for the full view, so the file shows right even where scripts
 * do not run; the embedded script (flame_js.h) redoes the layout for zoom
 * from each frame's data-o (offset) and data-v (value) in profile units.
 */
#include "flame.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "flame_js.h"
#include "intern.h"
#include "merge.h"
#include "stacks.h"
#include "units.h"
#include "xml.h"

const char otp_usage_flame[] =
    "usage: otprof flame [--sample TYPE] [-o OUT.svg] FILE... > flame.svg\n"
    "\n"
    "Writes an interactive flame graph of pprof profiles as one SVG file that\n"
    "any browser opens with no other tool: each frame's width is its share of\n"
    "the total, callers below callees. Hover a frame for its function,\n"
    "file:line, value and share; click to zoom into it (click the bottom frame\n"
    "or 'Reset zoom' to go back); type in the search box (a regular\n"
    "expression) to highlight functions and see their share. Colours: orange\n"
    "for the program, green for libraries, blue for kernel and vdso, grey for\n"
    "code with no name.\n"
    "  --sample TYPE  sample type (cpu, samples, alloc_space, inuse_space, ...;\n"
    "                 default: the last one, as in pprof)\n"
    "  -o OUT         write to OUT instead of standard output\n"
    "Several files are combined as 'otprof merge' does (counters summed,\n"
    "inuse_* from the last snapshot).\n";

/* Geometry, in SVG pixels. */
#define IMG_W 1200
#define PAD 10
#define PLOT_W (IMG_W - 2 * PAD)
#define FRAME_H 17
#define TOP_H 58
#define BOTTOM_H 30
#define CHAR_W 6.6
#define MIN_W 0.1 /* narrower frames (and their callees) are left out */

/* Positions a frame's value was seen at, to show where most of it is. */
#define NPOS 4

typedef struct fnode {
    uint32_t parent, child, sibling; /* 0: none (node 0 is the root) */
    uint32_t label;                  /* index in the labels table */
    uint32_t depth;
    int kind;
    int64_t value, offset;
    struct {
        const char *file;
        int64_t line, value;
    } pos[NPOS];
} fnode_t;

typedef struct flame {
    const pb_prof_t *p;
    otp_intern_t labels; /* frame names */
    otp_intern_t edges;  /* (parent, label) -> node index - 1 */
    fnode_t *nodes;
    size_t n, cap;
    uint32_t max_depth;
} flame_t;

static int64_t label_of(flame_t *f, const otp_cframe_t *fr)
{
    char buf[128];
    const char *name = otp_frame_label(f->p, fr, buf, sizeof buf);
    return otp_intern(&f->labels, name, strlen(name), NULL);
}

static int64_t child_of(flame_t *f, uint32_t parent, uint32_t label, int kind)
{
    uint32_t key[2] = { parent, label };
    int added;
    int64_t i = otp_intern(&f->edges, key, sizeof key, &added);
    if (i < 0)
        return -1;
    size_t idx = (size_t)i + 1;
    if (!added)
        return (int64_t)idx;
    if (!otp_grow_to((void **)&f->nodes, &f->cap, idx, sizeof *f->nodes))
        return -1;
    fnode_t *c = &f->nodes[idx];
    memset(c, 0, sizeof *c);
    c->parent = parent;
    c->label = label;
    c->kind = kind;
    c->depth = f->nodes[parent].depth + 1;
    if (c->depth > f->max_depth)
        f->max_depth = c->depth;
    f->n = idx + 1;
    return (int64_t)idx;
}

static void note_pos(fnode_t *n, const otp_cframe_t *fr, int64_t v)
{
    if (!*fr->file)
        return;
    for (int i = 0; i < NPOS; i++) {
        if (!n->pos[i].file) {
            n->pos[i].file = fr->file;
            n->pos[i].line = fr->line;
        }
        if (n->pos[i].line == fr->line && strcmp(n->pos[i].file, fr->file) == 0) {
            n->pos[i].value += v;
            return;
        }
    }
}

static int build(flame_t *f, int vi)
{
    const pb_prof_t *p = f->p;
    otp_cstack_t st = { 0 };
    f->cap = 1024;
    f->nodes = calloc(f->cap, sizeof *f->nodes);
    if (!f->nodes)
        return -1;
    f->n = 1;
    f->nodes[0].kind = -1;
    for (size_t s = 0; s < p->n_sample; s++) {
        const Perftools__Profiles__Sample *smp = p->sample[s];
        int64_t v = (size_t)vi < smp->n_value ? smp->value[vi] : 0;
        /* Negative values (a diff) have no width. */
        if (v <= 0)
            continue;
        if (otp_stack_get(p, smp, &st) != 0)
            goto oom;
        f->nodes[0].value += v;
        uint32_t cur = 0;
        for (size_t k = st.n; k-- > 0;) {
            int64_t lab = label_of(f, &st.f[k]);
            int64_t c = lab < 0 ? -1 : child_of(f, cur, (uint32_t)lab, otp_frame_kind(p, &st.f[k]));
            if (c < 0)
                goto oom;
            cur = (uint32_t)c;
            f->nodes[cur].value += v;
            note_pos(&f->nodes[cur], &st.f[k], v);
        }
    }
    otp_stack_fini(&st);
    return 0;
oom:
    otp_stack_fini(&st);
    return -1;
}

static const flame_t *sort_ctx;

static int by_name(const void *a, const void *b)
{
    const fnode_t *x = &sort_ctx->nodes[*(const uint32_t *)a];
    const fnode_t *y = &sort_ctx->nodes[*(const uint32_t *)b];
    return strcmp(otp_intern_key(&sort_ctx->labels, x->label),
                  otp_intern_key(&sort_ctx->labels, y->label));
}

/* Children in name order (so the same profile always looks the same),
 * each starting where its previous sibling ends. */
static int link_children(flame_t *f)
{
    uint32_t *idx = malloc(f->n * sizeof *idx);
    if (!idx)
        return -1;
    for (uint32_t i = 1; i < f->n; i++)
        idx[i - 1] = i;
    sort_ctx = f;
    qsort(idx, f->n - 1, sizeof *idx, by_name);
    /* Linking in reverse name order, prepending, leaves each list sorted. */
    for (size_t i = f->n - 1; i-- > 0;) {
        fnode_t *c = &f->nodes[idx[i]];
        c->sibling = f->nodes[c->parent].child;
        f->nodes[c->parent].child = idx[i];
    }
    free(idx);
    /* Parents come before their children in node order. */
    for (uint32_t i = 0; i < f->n; i++) {
        int64_t o = f->nodes[i].offset;
        for (uint32_t c = f->nodes[i].child; c; c = f->nodes[c].sibling) {
            f->nodes[c].offset = o;
            o += f->nodes[c].value;
        }
    }
    return 0;
}

static void colour(char *buf, size_t cap, int kind, const char *name)
{
    uint32_t h = 2166136261u;
    for (const char *s = name; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    int a = (int)(h % 40), b = (int)((h >> 8) % 40);
    switch (kind) {
    case OTP_KIND_APP: snprintf(buf, cap, "rgb(%d,%d,%d)", 215 + a, 100 + b * 2, 45 + a / 2); break;
    case OTP_KIND_LIB: snprintf(buf, cap, "rgb(%d,%d,%d)", 80 + a, 175 + b, 110 + a); break;
    case OTP_KIND_KERNEL: snprintf(buf, cap, "rgb(%d,%d,%d)", 90 + a, 140 + b, 215 + a / 2); break;
    case OTP_KIND_UNKNOWN: snprintf(buf, cap, "rgb(%d,%d,%d)", 170 + a, 170 + a, 170 + a); break;
    default: snprintf(buf, cap, "rgb(200,200,200)");
    }
}

static const char *const kind_names[] = { "app", "library", "kernel/vdso", "unknown" };

static void emit_frame(const flame_t *f, FILE *out, uint32_t i, double y, const char *unit)
{
    const fnode_t *n = &f->nodes[i];
    const char *name = i ? otp_intern_key(&f->labels, n->label) : "all";
    int64_t total = f->nodes[0].value;
    double x = PAD + (double)n->offset / (double)total * PLOT_W;
    double w = (double)n->value / (double)total * PLOT_W;
    int best = -1;
    for (int k = 0; k < NPOS; k++)
        if (n->pos[k].file && (best < 0 || n->pos[k].value > n->pos[best].value))
            best = k;
    char pos[4096] = "", val[64], fill[32];
    if (best >= 0) {
        if (n->pos[best].line > 0)
            snprintf(pos, sizeof pos, "%s:%" PRId64, n->pos[best].file, n->pos[best].line);
        else
            snprintf(pos, sizeof pos, "%s", n->pos[best].file);
    }
    otp_fmt_value(val, sizeof val, n->value, unit);
    colour(fill, sizeof fill, n->kind, name);
    fprintf(out, "<g class=\"f\" data-n=\"");
    otp_xml_puts(out, name);
    fprintf(out, "\" data-v=\"%" PRId64 "\" data-o=\"%" PRId64 "\" data-d=\"%u\"", n->value,
            n->offset, n->depth);
    if (n->kind >= 0)
        fprintf(out, " data-k=\"%s\"", kind_names[n->kind]);
    if (*pos) {
        fputs(" data-s=\"", out);
        otp_xml_puts(out, pos);
        fputc('"', out);
    }
    fputs("><title>", out);
    otp_xml_puts(out, name);
    if (*pos) {
        fputs("\n", out);
        otp_xml_puts(out, pos);
    }
    fprintf(out, "\n%s (%.2f%%)</title><rect x=\"%.3f\" y=\"%.1f\" width=\"%.3f\" height=\"%d\" "
                 "fill=\"%s\"/><text x=\"%.3f\" y=\"%.1f\">",
            val, 100.0 * (double)n->value / (double)total, x, y, w, FRAME_H - 1, fill, x + 3,
            y + FRAME_H - 5);
    int chars = (int)((w - 6) / CHAR_W);
    if (chars >= 3)
        otp_xml_puts_cut(out, name, strlen(name) <= (size_t)chars ? (size_t)chars : (size_t)chars - 2);
    fputs("</text></g>\n", out);
}

static int write_svg(flame_t *f, FILE *out, int vi, char *const *files, int nfiles)
{
    const pb_prof_t *p = f->p;
    const char *type = otp_pprof_str(p, p->sample_type[vi]->type);
    const char *unit = otp_pprof_str(p, p->sample_type[vi]->unit);
    int64_t total = f->nodes[0].value;
    int height = TOP_H + (int)(f->max_depth + 1) * FRAME_H + BOTTOM_H;
    char tot[64];
    otp_fmt_value(tot, sizeof tot, total, unit);
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" data-total=\"%" PRId64 "\" data-unit=\"",
            IMG_W, height, IMG_W, height, total);
    otp_xml_puts(out, unit);
    fprintf(out, "\" data-type=\"");
    otp_xml_puts(out, type);
    fprintf(out, "\" data-pad=\"%d\" data-plot-width=\"%d\" data-char-width=\"%.1f\">\n", PAD, PLOT_W,
            CHAR_W);
    fputs("<style>\n"
          "text { font-family: Verdana, Helvetica, sans-serif; font-size: 11px; fill: #222; }\n"
          "#title { font-size: 16px; }\n"
          "g.f { cursor: pointer; }\n"
          "g.f text { pointer-events: none; }\n"
          "g.f:hover rect { stroke: #333; stroke-width: 0.6; }\n"
          "g.anc rect { opacity: 0.55; }\n"
          "#reset { cursor: pointer; fill: #1a5fb4; text-decoration: underline; }\n"
          "</style>\n", out);
    fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#f7f7f2\"/>\n", IMG_W, height);
    /* The title stays left of the search box: the file's base name, cut. */
    fprintf(out, "<text id=\"title\" x=\"%d\" y=\"22\">Flame graph: ", PAD);
    otp_xml_puts(out, type);
    fprintf(out, ", %s total, ", tot);
    if (nfiles == 1) {
        const char *b = strrchr(files[0], '/');
        otp_xml_puts_cut(out, b ? b + 1 : files[0], 60);
    } else {
        fprintf(out, "%d files", nfiles);
    }
    fputs("</text>\n", out);
    fprintf(out,
            "<foreignObject x=\"%d\" y=\"6\" width=\"250\" height=\"26\"><input "
            "xmlns=\"http://www.w3.org/1999/xhtml\" id=\"search\" type=\"search\" "
            "placeholder=\"Search functions (regex)\" "
            "style=\"width: 240px; font: 12px sans-serif; padding: 2px 4px;\"/></foreignObject>\n",
            IMG_W - PAD - 250);
    fprintf(out, "<text id=\"reset\" x=\"%d\" y=\"46\" style=\"display: none\">Reset zoom</text>\n", PAD);
    int lx = IMG_W / 2 - 190;
    for (int k = 0; k < 4; k++) {
        char fill[32];
        colour(fill, sizeof fill, k, "");
        fprintf(out, "<rect x=\"%d\" y=\"37\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                     "<text x=\"%d\" y=\"47\">%s</text>\n", lx, fill, lx + 16, kind_names[k]);
        lx += k == 1 || k == 2 ? 110 : 80;
    }
    fprintf(out, "<text id=\"matched\" x=\"%d\" y=\"46\" text-anchor=\"end\"></text>\n", IMG_W - PAD);
    fputs("<g id=\"frames\">\n", out);
    if (total > 0) {
        /* Preorder, so a frame's caller is always drawn (and found) first. */
        uint32_t *stack = malloc(f->n * sizeof *stack);
        if (!stack)
            return -1;
        size_t sp = 0;
        stack[sp++] = 0;
        while (sp) {
            uint32_t i = stack[--sp];
            const fnode_t *n = &f->nodes[i];
            if ((double)n->value / (double)total * PLOT_W < MIN_W)
                continue;
            double y = height - BOTTOM_H - (double)(n->depth + 1) * FRAME_H;
            emit_frame(f, out, i, y, unit);
            /* Pushed in reverse, so children come out in name order. */
            size_t first = sp;
            for (uint32_t c = n->child; c; c = f->nodes[c].sibling)
                stack[sp++] = c;
            for (size_t a = first, b = sp; a + 1 < b; a++, b--) {
                uint32_t t = stack[a];
                stack[a] = stack[b - 1];
                stack[b - 1] = t;
            }
        }
        free(stack);
    } else {
        fprintf(out, "<text x=\"%d\" y=\"%d\">no samples with a %s value</text>\n", PAD,
                height - BOTTOM_H - 4, type);
    }
    fputs("</g>\n", out);
    fprintf(out, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", PAD, height - 10);
    fprintf(out, "<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n</svg>\n", otp_flame_js);
    return 0;
}

int otp_cmd_flame(int argc, char **argv)
{
    const char *sample = NULL, *outpath = NULL;
    char **files = calloc((size_t)argc + 1, sizeof *files);
    int nfiles = 0, rc = 2;
    if (!files)
        return 1;
    const otp_opt_t opts[] = {{"--sample", NULL, &sample, NULL}, {"--output", "-o", &outpath, NULL}};
    int pr = otp_args_parse(argc, argv, "flame", otp_usage_flame, opts, 2, files, &nfiles);
    if (pr != 0) {
        rc = pr > 0 ? 0 : 2;
        goto done;
    }
    int vi;
    pb_prof_t *p = otp_merge_for("flame", "otprof flame [--sample TYPE] FILE... > flame.svg", files,
                                 nfiles, sample, &vi);
    if (!p) {
        rc = nfiles == 0 ? 2 : 1;
        goto done;
    }
    rc = 1;
    flame_t f = { .p = p };
    otp_intern_init(&f.labels);
    otp_intern_init(&f.edges);
    if (build(&f, vi) != 0 || link_children(&f) != 0) {
        fputs("otprof: flame: out of memory\n", stderr);
    } else {
        FILE *out = outpath ? fopen(outpath, "w") : stdout;
        if (!out) {
            fprintf(stderr, "otprof: flame: %s: cannot create it: %m\n", outpath);
        } else {
            int w = write_svg(&f, out, vi, files, nfiles);
            int bad = ferror(out) || fflush(out) != 0;
            if (out != stdout && fclose(out) != 0)
                bad = 1;
            if (w != 0 || bad)
                fprintf(stderr, "otprof: flame: %s: %s\n", outpath ? outpath : "standard output",
                        w != 0 ? "out of memory" : "write error");
            else
                rc = 0;
        }
    }
    otp_intern_fini(&f.labels);
    otp_intern_fini(&f.edges);
    free(f.nodes);
    otp_merge_free(p);
done:
    free(files);
    return rc;
}
