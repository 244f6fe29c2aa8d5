/*
 * DWARF through elfutils: one libdwfl session per object, the object
 * reported at its link-time addresses (bias 0), so the symbolizer's
 * link-time address is the query. libdw is dlopen'ed on the first
 * object that needs it and never unloaded; without it the agent keeps
 * function names only (said once). Separate debug files come from our own
 * find_debuginfo callback (build id, then .gnu_debuglink), never from
 * libdwfl's standard one: that one may ask a debuginfod server over the
 * network when DEBUGINFOD_URLS is set.
 *
 * No descriptor stays open: libdwfl would keep the object's and the debug
 * file's for the session's life (without O_CLOEXEC for the one it opens
 * itself), in the app's table, where the app could close or reuse the
 * numbers (libdwfl closes them again at dwfl_end). Both files are opened
 * here; once libelf has them mapped, an extra reference on each Elf keeps
 * libdwfl from closing anything, libelf is told the descriptor is gone,
 * and it is closed. A dwz alternate file (.gnu_debugaltlink: the part
 * several debug files share, as Debian's -dbgsym packages have it) is
 * opened here too and handed to libdw with dwarf_setalt, also released:
 * left to them, libdw kept it open without O_CLOEXEC for the session's
 * life, and libdwfl asked our debug file callback for it, which answered
 * with the object's own debug file when that was installed by build id
 * (every name and inline frame read from the alternate file was lost).
 *
 * libdw allocates with the C library's malloc on this (the flusher)
 * thread. Strings it returns live as long as the session; demangled
 * inline-frame names are kept in a small per-object table.
 */
#include "dwlines.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <fcntl.h>
#include <elfutils/libdwfl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debugfile.h"
#include "demangle.h"
#include "fds.h"
#include "loader.h"
#include "log.h"
#include "mem.h"
#include "oatab.h"
#include "vmlock.h"

static struct {
    bool tried, ok;
    Dwfl *(*begin)(const Dwfl_Callbacks *);
    void (*end)(Dwfl *);
    void (*report_begin)(Dwfl *);
    Dwfl_Module *(*report_elf)(Dwfl *, const char *, const char *, int, GElf_Addr, bool);
    int (*report_end)(Dwfl *, int (*)(Dwfl_Module *, void *, const char *, Dwarf_Addr, void *), void *);
    const char *(*module_info)(Dwfl_Module *, void ***, Dwarf_Addr *, Dwarf_Addr *, Dwarf_Addr *, Dwarf_Addr *,
                               const char **, const char **);
    Dwarf_Die *(*module_addrdie)(Dwfl_Module *, Dwarf_Addr, Dwarf_Addr *);
    Dwfl_Line *(*module_getsrc)(Dwfl_Module *, Dwarf_Addr);
    const char *(*lineinfo)(Dwfl_Line *, Dwarf_Addr *, int *, int *, Dwarf_Word *, Dwarf_Word *);
    int (*getscopes)(Dwarf_Die *, Dwarf_Addr, Dwarf_Die **);
    int (*getscopes_die)(Dwarf_Die *, Dwarf_Die **);
    int (*tag)(Dwarf_Die *);
    const char *(*diename)(Dwarf_Die *);
    Dwarf_Attribute *(*attr_integrate)(Dwarf_Die *, unsigned int, Dwarf_Attribute *);
    const char *(*formstring)(Dwarf_Attribute *);
    int (*formudata)(Dwarf_Attribute *, Dwarf_Word *);
    int (*decl_line)(Dwarf_Die *, int *);
    const char *(*decl_file)(Dwarf_Die *);
    Dwarf_Die *(*diecu)(Dwarf_Die *, Dwarf_Die *, uint8_t *, uint8_t *);
    int (*getsrcfiles)(Dwarf_Die *, Dwarf_Files **, size_t *);
    const char *(*filesrc)(Dwarf_Files *, size_t, Dwarf_Word *, Dwarf_Word *);
    Elf *(*module_getelf)(Dwfl_Module *, GElf_Addr *);
    Dwarf *(*module_getdwarf)(Dwfl_Module *, Dwarf_Addr *);
    Elf *(*dwarf_getelf)(Dwarf *);
    Elf *(*elf_begin)(int, Elf_Cmd, Elf *);
    int (*elf_cntl)(Elf *, Elf_Cmd);
    int (*elf_end)(Elf *);
    const char *(*elf_debuglink)(Elf *, GElf_Word *);
    ssize_t (*dwarf_altlink)(Dwarf *, const char **, const void **);
    ssize_t (*elf_build_id)(Elf *, const void **);
    Dwarf *(*dwarf_begin_elf)(Elf *, Dwarf_Cmd, Elf_Scn *);
    void (*dwarf_setalt)(Dwarf *, Dwarf *);
    int (*dwarf_end)(Dwarf *);
} L;

typedef struct name_ent {
    const char *key; /* a DWARF string (stable while the session lives) */
    bool is_file;    /* key is a file name (else a function name) */
    char *disp;      /* otp_malloc'd display form, or NULL: key itself */
} name_ent_t;

struct otp_dwarf {
    Dwfl *dwfl;
    Dwfl_Module *mod;
    int dbg_fd;   /* the debug file find_debuginfo opened, until released */
    Elf *held[2]; /* our references on the object's and the debug file's Elf */
    char *path;
    char *dbg_path;       /* the debug file's path, when separate */
    const char *own_link; /* the object's .gnu_debuglink name, or NULL */
    bool alt_asked;       /* libdwfl asked for the dwz alternate file */
    Dwarf *alt;           /* the alternate file, ours (after the session) */
    Elf *alt_elf;
    char build_id[130];
    name_ent_t *names; /* open addressing by pointer */
    size_t nnames, cap;
};

static bool load_libdw_now(void);

static bool load_libdw(void)
{
    if (L.tried) return L.ok;
    if (!otp_loader_enter(1000)) return false; /* tried again at the next object */
    L.tried = true;
    bool ok = load_libdw_now();
    otp_loader_leave();
    return ok;
}

static bool load_libdw_now(void)
{
    void *h = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        OTP_INFO("symbols: libdw.so.1 not found (Debian: libdw1); no source lines or inline frames");
        return false;
    }
    bool ok = true;
#define SYM(field, name) ok = ok && (*(void **)&L.field = dlsym(h, name)) != NULL
    SYM(begin, "dwfl_begin");
    SYM(end, "dwfl_end");
    SYM(report_begin, "dwfl_report_begin");
    SYM(report_elf, "dwfl_report_elf");
    SYM(report_end, "dwfl_report_end");
    SYM(module_info, "dwfl_module_info");
    SYM(module_addrdie, "dwfl_module_addrdie");
    SYM(module_getsrc, "dwfl_module_getsrc");
    SYM(lineinfo, "dwfl_lineinfo");
    SYM(getscopes, "dwarf_getscopes");
    SYM(getscopes_die, "dwarf_getscopes_die");
    SYM(tag, "dwarf_tag");
    SYM(diename, "dwarf_diename");
    SYM(attr_integrate, "dwarf_attr_integrate");
    SYM(formstring, "dwarf_formstring");
    SYM(formudata, "dwarf_formudata");
    SYM(decl_line, "dwarf_decl_line");
    SYM(decl_file, "dwarf_decl_file");
    SYM(diecu, "dwarf_diecu");
    SYM(getsrcfiles, "dwarf_getsrcfiles");
    SYM(filesrc, "dwarf_filesrc");
    SYM(module_getelf, "dwfl_module_getelf");
    SYM(module_getdwarf, "dwfl_module_getdwarf");
    SYM(dwarf_getelf, "dwarf_getelf");
    SYM(elf_begin, "elf_begin"); /* libelf's, found through libdw's dependencies */
    SYM(elf_cntl, "elf_cntl");
    SYM(elf_end, "elf_end");
    SYM(elf_debuglink, "dwelf_elf_gnu_debuglink");
    SYM(dwarf_altlink, "dwelf_dwarf_gnu_debugaltlink");
    SYM(elf_build_id, "dwelf_elf_gnu_build_id");
    SYM(dwarf_begin_elf, "dwarf_begin_elf");
    SYM(dwarf_setalt, "dwarf_setalt");
    SYM(dwarf_end, "dwarf_end");
#undef SYM
    if (!ok) {
        OTP_INFO("symbols: libdw.so.1 lacks a function we use; no source lines or inline frames");
        dlclose(h);
        return false;
    }
    return L.ok = true;
}

/* libdwfl calls this when the object itself has no DWARF (link: its own
 * .gnu_debuglink name), and for the dwz alternate file of the DWARF it
 * loaded (link: the .gnu_debugaltlink name). The latter is declined and
 * set up after the session's DWARF is loaded (set_alt). */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                          const char *file_name, const char *link, GElf_Word crc, char **debug_name)
{
    (void)mod;
    (void)modname;
    (void)base;
    (void)file_name;
    otp_dwarf_t *d = *userdata;
    if (d && link && (!d->own_link || strcmp(link, d->own_link) != 0)) {
        d->alt_asked = true;
        return -1;
    }
    char path[4096];
    int fd = d ? otp_debugfile_open(d->path, d->build_id, link, crc, true, path, sizeof path) : -1;
    if (fd >= 0) {
        d->dbg_fd = fd;
        /* libdwfl frees this with free(): allocate it with malloc. */
        size_t n = strlen(path) + 1;
        char *p = malloc(n);
        if (p) memcpy(p, path, n);
        *debug_name = p;
        otp_free(d->dbg_path);
        d->dbg_path = otp_strdup(path);
    }
    return fd;
}

/* The dwz alternate file of dw, opened, checked by build id, mapped and
 * closed again, then given to libdw. */
static void set_alt(otp_dwarf_t *d, Dwarf *dw)
{
    const char *name = NULL;
    const void *want = NULL;
    ssize_t n = L.dwarf_altlink(dw, &name, &want);
    if (n <= 0) return;
    char path[4096];
    int fd = otp_debugfile_open_alt(d->dbg_path ? d->dbg_path : d->path, name, want, (size_t)n, path, sizeof path);
    if (fd < 0) return;
    Elf *e = L.elf_begin(fd, ELF_C_READ_MMAP, NULL);
    const void *got = NULL;
    Dwarf *alt = NULL;
    if (e && L.elf_build_id(e, &got) == n && memcmp(got, want, (size_t)n) == 0)
        alt = L.dwarf_begin_elf(e, DWARF_C_READ, NULL);
    if (alt && L.elf_cntl(e, ELF_C_FDDONE) == 0) {
        L.dwarf_setalt(dw, alt);
        d->alt = alt;
        d->alt_elf = e;
    } else {
        if (alt) L.dwarf_end(alt);
        if (e) L.elf_end(e);
    }
    otp_close(fd);
}

static int no_section_address(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                              const char *secname, GElf_Word shndx, const GElf_Shdr *shdr, Dwarf_Addr *addr)
{
    (void)mod, (void)userdata, (void)modname, (void)base, (void)secname, (void)shndx, (void)shdr;
    *addr = (Dwarf_Addr)-1;
    return 0;
}

static const Dwfl_Callbacks callbacks = {
    .find_elf = NULL,
    .find_debuginfo = find_debuginfo,
    .section_address = no_section_address,
    .debuginfo_path = NULL,
};

/* Takes a reference on e (so that libdwfl's elf_end is never the last and
 * never closes fd), tells libelf that fd is gone, and closes it. Without
 * the reference, fd stays (libdwfl closes it at the end). */
static void release_fd(otp_dwarf_t *d, int slot, Elf *e, int fd)
{
    if (!e || fd < 0 || L.elf_begin(-1, ELF_C_READ_MMAP_PRIVATE, e) != e) return;
    d->held[slot] = e;
    L.elf_cntl(e, ELF_C_FDDONE);
    otp_close(fd);
}

otp_dwarf_t *otp_dwarf_open(const char *path, const char *build_id)
{
    if (!path || path[0] != '/') return NULL;
    /* libelf maps each file it reads whole, and the app's MCL_FUTURE would
     * lock and fill those mappings (a debug file can be hundreds of MiB). */
    if (otp_vm_future_locked()) {
        static atomic_flag said = ATOMIC_FLAG_INIT;
        otp_log_once(&said, OTP_LOG_INFO, "symbols: the app locks all its future memory (mlockall): no source "
                     "lines or inline frames, whose debug files would be locked with it");
        return NULL;
    }
    if (!load_libdw()) return NULL;
    otp_dwarf_t *d = otp_calloc(1, sizeof *d);
    if (!d) return NULL;
    d->dbg_fd = -1;
    d->path = otp_strdup(path);
    if (build_id) snprintf(d->build_id, sizeof d->build_id, "%s", build_id);
    d->dwfl = d->path ? L.begin(&callbacks) : NULL;
    int fd = d->dwfl ? otp_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : -1;
    if (fd >= 0) {
        L.report_begin(d->dwfl);
        /* base 0 plus p_vaddr: module addresses are link-time addresses.
         * Given fd, libdwfl owns it once the module exists. */
        d->mod = L.report_elf(d->dwfl, path, path, fd, 0, true);
        L.report_end(d->dwfl, NULL, NULL);
        if (!d->mod) otp_close(fd);
    }
    void **ud = NULL;
    if (d->mod) L.module_info(d->mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
    if (!ud) {
        otp_dwarf_close(d);
        return NULL;
    }
    *ud = d;
    GElf_Addr bias;
    Elf *e = L.module_getelf(d->mod, &bias);
    release_fd(d, 0, e, fd);
    GElf_Word crc;
    d->own_link = e ? L.elf_debuglink(e, &crc) : NULL;
    /* The DWARF now, so that a debug file is opened (and released) here,
     * and its alternate file set before any DIE needs it. */
    Dwarf *dw = L.module_getdwarf(d->mod, &bias);
    Elf *de = dw ? L.dwarf_getelf(dw) : NULL;
    if (de && de != e) release_fd(d, 1, de, d->dbg_fd);
    d->dbg_fd = -1;
    if (dw && d->alt_asked) set_alt(d, dw);
    return d;
}

void otp_dwarf_close(otp_dwarf_t *d)
{
    if (!d) return;
    if (d->dwfl) L.end(d->dwfl);
    /* Not libdw's to end: it ends only an alternate file it opened. */
    if (d->alt) L.dwarf_end(d->alt);
    if (d->alt_elf) L.elf_end(d->alt_elf);
    for (int i = 0; i < 2; i++)
        if (d->held[i]) L.elf_end(d->held[i]);
    otp_free(d->dbg_path);
    for (size_t i = 0; i < d->cap; i++) otp_free(d->names[i].disp);
    otp_free(d->names);
    otp_free(d->path);
    otp_free(d);
}

static bool name_key(const void *e, uint64_t *k)
{
    const name_ent_t *n = e;
    *k = (uint64_t)(uintptr_t)n->key;
    return n->key != NULL;
}

/* A relative source path is relative to the compilation directory:
 * made absolute, pprof -list finds the source from anywhere. */
static char *join_dir(const char *dir, const char *file)
{
    if (!dir || dir[0] != '/' || file[0] == '/') return NULL;
    size_t a = strlen(dir), b = strlen(file);
    char *p = otp_malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, file, b + 1);
    return p;
}

/* The display form of a DWARF string, made once per string: a function
 * name demangled, or a file name joined to comp_dir. */
static const char *display(otp_dwarf_t *d, const char *sys, bool is_file, const char *comp_dir)
{
    name_ent_t *nv = otp_oa_room(d->names, &d->cap, d->nnames, sizeof *nv, 64, name_key);
    if (!nv) return sys;
    d->names = nv;
    size_t j = otp_oa_hash((uint64_t)(uintptr_t)sys) & (d->cap - 1);
    for (; d->names[j].key; j = (j + 1) & (d->cap - 1))
        if (d->names[j].key == sys && d->names[j].is_file == is_file)
            return d->names[j].disp ? d->names[j].disp : sys;
    d->names[j].key = sys;
    d->names[j].is_file = is_file;
    d->names[j].disp = is_file ? join_dir(comp_dir, sys) : otp_demangle(sys);
    d->nnames++;
    return d->names[j].disp ? d->names[j].disp : sys;
}

static const char *die_system_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *s = NULL;
    if (L.attr_integrate(die, DW_AT_linkage_name, &a) || L.attr_integrate(die, DW_AT_MIPS_linkage_name, &a))
        s = L.formstring(&a);
    if (!s && L.attr_integrate(die, DW_AT_name, &a)) s = L.formstring(&a);
    return s;
}

static const char *call_file(Dwarf_Die *inl, Dwarf_Word idx)
{
    Dwarf_Die cu;
    Dwarf_Files *files;
    size_t n;
    if (!L.diecu(inl, &cu, NULL, NULL) || L.getsrcfiles(&cu, &files, &n) != 0 || idx >= n) return NULL;
    return L.filesrc(files, idx, NULL, NULL);
}

int otp_dwarf_frames(otp_dwarf_t *d, uint64_t vaddr, otp_frame_t *out, int max)
{
    if (!d || !d->mod || max < 1) return 0;
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = L.module_addrdie(d->mod, vaddr, &bias);
    if (!cu) return 0;
    const char *file = NULL;
    int line = 0;
    Dwfl_Line *ln = L.module_getsrc(d->mod, vaddr);
    if (ln) file = L.lineinfo(ln, NULL, &line, NULL, NULL, NULL);
    /* dwarf_getscopes follows an inlined instance into its abstract
     * definition; the physical chain of callers (inlined subroutines up
     * to the out-of-line function) comes from the innermost one's own
     * parents. */
    Dwarf_Attribute cda;
    const char *comp_dir = L.formstring(L.attr_integrate(cu, DW_AT_comp_dir, &cda));
    Dwarf_Die *pcs = NULL, *scopes = NULL;
    int np = L.getscopes(cu, vaddr - bias, &pcs), k = 0;
    while (k < np && L.tag(&pcs[k]) != DW_TAG_inlined_subroutine && L.tag(&pcs[k]) != DW_TAG_subprogram) k++;
    int ns = k < np ? L.getscopes_die(&pcs[k], &scopes) : 0;
    free(pcs);
    int n = 0;
    for (int i = 0; i < ns && n < max; i++) {
        int tag = L.tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram) continue;
        const char *sys = die_system_name(&scopes[i]);
        int start = 0;
        L.decl_line(&scopes[i], &start);
        const char *decl = L.decl_file(&scopes[i]);
        otp_frame_t *f = &out[n++];
        f->system_name = sys;
        f->name = sys ? display(d, sys, false, NULL) : NULL;
        f->file = decl ? decl : file;
        if (f->file) f->file = display(d, f->file, true, comp_dir);
        f->line = line > 0 ? (uint32_t)line : 0;
        f->start_line = start > 0 ? (uint32_t)start : 0;
        if (tag == DW_TAG_subprogram) break;
        /* The caller's position is the inlined call site. */
        Dwarf_Attribute a;
        Dwarf_Word w = 0;
        line = L.formudata(L.attr_integrate(&scopes[i], DW_AT_call_line, &a), &w) == 0 ? (int)w : 0;
        file = L.formudata(L.attr_integrate(&scopes[i], DW_AT_call_file, &a), &w) == 0
                   ? call_file(&scopes[i], w)
                   : NULL;
    }
    free(scopes); /* libdw allocated it with malloc */
    /* Without a named function the frame list is no use to the caller. */
    if (n > 0 && !out[n - 1].system_name && n == 1 && !out[0].file) n = 0;
    return n;
}
