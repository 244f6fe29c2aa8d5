#include "stacks.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intern.h"

static int push(otp_cstack_t *st, const otp_cframe_t *f)
{
    if (!otp_grow_to((void **)&st->f, &st->cap, st->n, sizeof *st->f))
        return -1;
    st->f[st->n++] = *f;
    return 0;
}

int otp_stack_get(const pb_prof_t *p, const Perftools__Profiles__Sample *s, otp_cstack_t *st)
{
    st->n = 0;
    for (size_t i = 0; i < s->n_location_id; i++) {
        uint64_t id = s->location_id[i];
        if (id == 0 || id > p->n_location)
            continue;
        const Perftools__Profiles__Location *l = p->location[id - 1];
        otp_cframe_t f = { NULL, "", 0, l->address, NULL, 0 };
        if (l->mapping_id && l->mapping_id <= p->n_mapping)
            f.mapping = p->mapping[l->mapping_id - 1];
        if (l->n_line == 0 && push(st, &f) != 0)
            return -1;
        for (size_t j = 0; j < l->n_line; j++) {
            uint64_t fid = l->line[j]->function_id;
            f.function_id = 0;
            f.name = NULL;
            f.file = "";
            if (fid && fid <= p->n_function) {
                const Perftools__Profiles__Function *fn = p->function[fid - 1];
                f.function_id = fid;
                f.name = otp_pprof_str(p, fn->name);
                if (!*f.name)
                    f.name = otp_pprof_str(p, fn->system_name);
                if (!*f.name)
                    f.name = NULL;
                f.file = otp_pprof_str(p, fn->filename);
            }
            f.line = l->line[j]->line;
            if (push(st, &f) != 0)
                return -1;
        }
    }
    return 0;
}

void otp_stack_fini(otp_cstack_t *st)
{
    free(st->f);
    memset(st, 0, sizeof *st);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

const char *otp_frame_label(const pb_prof_t *p, const otp_cframe_t *f, char *buf, size_t cap)
{
    if (f->name)
        return f->name;
    const char *obj = f->mapping ? base_name(otp_pprof_str(p, f->mapping->filename)) : "";
    if (*obj)
        snprintf(buf, cap, "[%s] 0x%" PRIx64, obj, f->address);
    else
        snprintf(buf, cap, "0x%" PRIx64, f->address);
    return buf;
}

otp_kind_t otp_frame_kind(const pb_prof_t *p, const otp_cframe_t *f)
{
    const char *path = f->mapping ? otp_pprof_str(p, f->mapping->filename) : "";
    if (path[0] == '[' || strncmp(path, "linux-vdso", 10) == 0)
        return OTP_KIND_KERNEL; /* [vdso], [vsyscall], [kernel.kallsyms] */
    if (!f->name)
        return OTP_KIND_UNKNOWN;
    const char *b = base_name(path);
    /* pprof's convention: the first mapping is the main program. */
    if (*path && p->n_mapping && f->mapping == p->mapping[0])
        return OTP_KIND_APP;
    if (strstr(b, ".so") && (strstr(b, ".so")[3] == '\0' || strstr(b, ".so")[3] == '.'))
        return OTP_KIND_LIB;
    return OTP_KIND_APP; /* the program, or code it generated (perf maps) */
}
