/*
 * Objects unloaded by dlclose: see unloaded.h.
 */
#include "unloaded.h"
#include "sys.h"

#include <link.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mem.h"

typedef struct obj {
    uintptr_t addr;  /* load bias */
    bool alive;      /* still loaded after the dlclose */
    uint16_t nsegs;
    struct {
        uint64_t start, limit, offset;
    } segs[4];
    char path[OTP_UNLOADED_PATH];
} obj_t;

typedef struct snap {
    size_t n, cap;
    obj_t *objs;
} snap_t;

typedef struct entry {
    _Atomic uint32_t seq; /* 0 empty, odd while written */
    otp_unloaded_seg_t seg;
} entry_t;

static entry_t ring[OTP_UNLOADED_MAX];
static _Atomic uint32_t next_slot;

static int add_obj(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    snap_t *s = arg;
    const char *name = info->dlpi_name;
    /* The main program ("") and the vDSO never go; relative names are
     * not what maps shows. */
    if (!name || name[0] != '/' || strlen(name) >= OTP_UNLOADED_PATH)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        obj_t *v = otp_malloc(cap * sizeof *v);
        if (!v)
            return 1;
        if (s->n)
            memcpy(v, s->objs, s->n * sizeof *v);
        otp_free(s->objs);
        s->objs = v;
        s->cap = cap;
    }
    obj_t *o = &s->objs[s->n];
    o->addr = info->dlpi_addr;
    o->alive = false;
    o->nsegs = 0;
    uint64_t mask = (uint64_t)otp_page_size() - 1;
    for (int i = 0; i < info->dlpi_phnum && o->nsegs < 4; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_LOAD || !(p->p_flags & PF_X) || p->p_memsz == 0)
            continue;
        /* As the kernel maps it, so as /proc/self/maps would list it. */
        uint64_t start = (info->dlpi_addr + p->p_vaddr) & ~mask;
        o->segs[o->nsegs].start = start;
        o->segs[o->nsegs].limit = (info->dlpi_addr + p->p_vaddr + p->p_memsz + mask) & ~mask;
        o->segs[o->nsegs].offset = p->p_offset & ~mask;
        o->nsegs++;
    }
    if (o->nsegs == 0)
        return 0;
    strcpy(o->path, name);
    s->n++;
    return 0;
}

static int mark_alive(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    snap_t *s = arg;
    for (size_t i = 0; i < s->n; i++)
        if (!s->objs[i].alive && s->objs[i].addr == info->dlpi_addr && info->dlpi_name &&
            strcmp(s->objs[i].path, info->dlpi_name) == 0)
            s->objs[i].alive = true;
    return 0;
}

void *otp_unloaded_begin(void)
{
    snap_t *s = otp_malloc(sizeof *s);
    if (!s)
        return NULL;
    *s = (snap_t){0};
    dl_iterate_phdr(add_obj, s);
    if (s->n == 0) {
        otp_free(s->objs);
        otp_free(s);
        return NULL;
    }
    return s;
}

static void put(const obj_t *o, int k, uint64_t dev, uint64_t ino)
{
    entry_t *e = &ring[atomic_fetch_add(&next_slot, 1) % OTP_UNLOADED_MAX];
    uint32_t seq = atomic_load(&e->seq);
    atomic_store(&e->seq, seq | 1);
    atomic_thread_fence(memory_order_release);
    e->seg.start = o->segs[k].start;
    e->seg.limit = o->segs[k].limit;
    e->seg.offset = o->segs[k].offset;
    e->seg.dev = dev;
    e->seg.ino = ino;
    memcpy(e->seg.path, o->path, sizeof e->seg.path);
    atomic_store_explicit(&e->seq, (seq | 1) + 1, memory_order_release);
}

int otp_unloaded_end(void *before)
{
    snap_t *s = before;
    if (!s)
        return 0;
    dl_iterate_phdr(mark_alive, s);
    int gone = 0;
    for (size_t i = 0; i < s->n; i++) {
        const obj_t *o = &s->objs[i];
        struct stat st;
        if (o->alive)
            continue;
        gone++;
        if (stat(o->path, &st) != 0)
            continue;
        /* maps shows the device as major:minor and the symbolizer
         * compares it so. */
        uint64_t dev = (uint64_t)major(st.st_dev) << 32 | minor(st.st_dev);
        for (int k = 0; k < o->nsegs; k++)
            put(o, k, dev, (uint64_t)st.st_ino);
    }
    otp_free(s->objs);
    otp_free(s);
    return gone;
}

bool otp_unloaded_get(int i, otp_unloaded_seg_t *out)
{
    if (i < 0 || i >= OTP_UNLOADED_MAX)
        return false;
    entry_t *e = &ring[i];
    uint32_t a = atomic_load_explicit(&e->seq, memory_order_acquire);
    if (a == 0 || (a & 1))
        return false;
    memcpy(out, &e->seg, sizeof *out);
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&e->seq, memory_order_relaxed) == a;
}
