/*
 * Symbolization for the encoders: a snapshot of /proc/self/maps plus, for
 * each executable file mapping (and the vDSO), the object's GNU build id
 * and its function symbols sorted by address.
 *
 * ELF files are mmap'd read-only and stay mapped until otp_sym_free, so
 * symbol names point straight into their string tables: no copies, and
 * the pages are file-backed (the kernel may drop them under pressure).
 * Parsed objects are cached per (path, device, inode) across refreshes.
 *
 * Work is proportional to what is looked up, so that a short-lived
 * process with a handful of samples exits quickly: an object is opened
 * only when an address falls in it, its symbol table is scanned (not
 * sorted) for its first OTP_SYM_SCANS lookups, and libdw is loaded only
 * for an object that has DWARF somewhere (its own sections or a debug
 * file).
 * Every read of ELF data is bounds-checked: a malformed or foreign file
 * yields fewer names, never a crash.
 *
 * Flusher thread only; not signal-safe (open, mmap, otp_malloc).
 */
#include "symbols.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "debugfile.h"
#include "demangle.h"
#include "dwlines.h"
#include "fds.h"
#include "htlhash.h"
#include "internal.h"
#include "loader.h"
#include "log.h"
#include "memcap.h"
#include "profile.h"
#include "unloaded.h"
#include "sys.h"
#include "mem.h"
#include "oatab.h"
#include "perfmap.h"
#include "vmlock.h"

/* Build ids are 20 bytes (SHA-1) in practice; longer ones are truncated. */
#define OTP_BUILD_ID_MAX 64

typedef struct sym {
    uint64_t addr, end;
    const char *name;
    uint32_t rank; /* lower wins among aliases at one address */
    uint32_t idx;  /* in the ELF table: names and display names go by it */
} sym_t;

typedef struct seg {
    uint64_t off, vaddr, filesz, memsz;
} seg_t;

/* Frames already worked out for an address of an object: DWARF lookups
 * cost tens of microseconds and the same hot addresses recur in every
 * interval. At most OTP_FCACHE_MAX addresses per object; when full the
 * cache starts over, which bounds its memory. */
#define OTP_FCACHE_MAX 32768

typedef struct fcache_ent {
    uint64_t vaddr;
    uint32_t first; /* index into frames */
    uint16_t n;
    bool used;
} fcache_ent_t;

typedef struct fcache {
    fcache_ent_t *ents; /* open addressing, at most half full */
    size_t n, cap;
    otp_frame_t *frames;
    size_t nframes, cap_frames;
} fcache_t;

typedef struct elf_obj {
    struct elf_obj *next;
    char *path;
    uint64_t dev, ino;
    const uint8_t *data; /* whole file (or the vDSO image) */
    size_t size;
    bool owned;          /* data is our mmap (the vDSO is not) */
    bool self;           /* the agent itself: never its DWARF (agent_mapping) */
    const uint8_t *dbg;  /* separate debug file, if its .symtab was used */
    size_t dbg_size;
    bool no_dbg;         /* searched for a debug file and found none */
    size_t dbg_file;     /* a debug file found for DWARF only (dbg not mapped): its size */
    size_t inflated;     /* dwarf_may_open: what opening its DWARF inflates, plus 1 (0: not known yet) */
    seg_t *segs;
    size_t nsegs;
    /* The chosen ELF symbol table (.symtab, the debug file's, .dynsym),
     * until it is sorted into syms. */
    const ElfW(Sym) *raw;
    size_t nraw;
    const char *rawstr;
    size_t rawstrsz;
    uint32_t scans; /* lookups served from raw */
    /* Answers found ahead for one export (otp_sym_prepare), by vaddr. */
    struct answer *pre;
    size_t npre;
    uint32_t batches;
    sym_t *syms;
    size_t nsyms;
    bool sorted;    /* syms built (even if empty) */
    /* Display names of the ELF symbols looked up so far (by symbol
     * index + 1; 0 marks a free slot): the system name itself or an
     * otp_malloc'd string. A map rather than an array over all the
     * symbols: a compiler's 29k symbols made an array of 230 KiB, whose
     * pages every short process touched at random to name a few hundred. */
    struct disp_ent {
        size_t si1;
        const char *name;
    } *disp;
    size_t disp_n, disp_cap;
    otp_dwarf_t *dwarf;  /* lines and inline frames, opened on first use */
    bool dwarf_tried;
    bool seen;           /* in the current /proc/self/maps snapshot */
    fcache_t fc;
    char build_id[2 * OTP_BUILD_ID_MAX + 1];
    char htlhash[33];    /* "" for the vDSO (no file) and until asked for */
    bool htl_done;       /* htlhash computed (otp_sym_mapping_htlhash) */
} elf_obj_t;

typedef struct answer {
    uint64_t vaddr;
    int64_t idx; /* ELF symbol index, -1: none */
} answer_t;

typedef struct map_ent {
    otp_mapping_t m;
    elf_obj_t *elf; /* NULL: not executable, anonymous or unreadable */
    /* An executable mapping whose object is not open yet: opened at its
     * first lookup. */
    bool pending, deleted;
    uint64_t dev, ino;
} map_ent_t;

/* Lookups an object serves by scanning its symbol table before sorting
 * it: a sort of a large table (libc's debug file, ~10^4 functions) costs
 * milliseconds, a scan tens of microseconds. */
#define OTP_SYM_SCANS 32

/* DWARF work allowed per refresh (one export): opening an object's DWARF
 * can cost 100 ms (libc6-dbg's compressed sections) and a lookup in a
 * large unit milliseconds. Past the budget, addresses get symbol-table
 * frames only, not cached, so later exports add their lines. At exit the
 * budget is also at most a tenth of export.shutdown_timeout_ms. Objects
 * with more than OTP_DWARF_BIG bytes of ELF and debug file are opened
 * only once the symbolizer is OTP_DWARF_BIG_AGE_NS old, and never at
 * exit: such an open can outlast the budget, and a short-lived process
 * must not spend its exit (or delay its final export) on it. */
#define OTP_DWARF_BUDGET_NS (50 * 1000000LL)
#define OTP_DWARF_BIG (4u << 20)
#define OTP_DWARF_BIG_AGE_NS 1000000000LL
/* What an object's open DWARF holds in memory, per byte of its ELF and
 * debug file: libdw decompresses the debug sections into its own heap and
 * reads them through a private mapping of the file (libc6-dbg's 4 MiB
 * debug file with libc's 2 MiB costs ~17 MiB). Charged to the memory cap
 * while open; an object it does not fit keeps symbol-table names. */
#define OTP_DWARF_COST(bytes) ((bytes) * 3)

static _Atomic size_t dwarf_bytes;           /* OTP_DWARF_COST of open DWARF */
static const otp_symbolizer_t *accounted;    /* the last one created */
static atomic_flag dwarf_cap_logged = ATOMIC_FLAG_INIT;

struct otp_symbolizer {
    int64_t dwarf_left_ns; /* budget left in this refresh */
    int64_t born_ns;       /* CLOCK_MONOTONIC at otp_sym_new */
    char *maps_text; /* the last /proc/self/maps read; paths point into it */
    char *gone_paths; /* paths of the unloaded objects' entries in maps */
    map_ent_t *maps;
    size_t nmaps;
    elf_obj_t *objs;
    otp_perfmap_t *perfmap;
};

/* ---- bounds-checked ELF access ---- */

static bool in_bounds(size_t size, uint64_t off, uint64_t len)
{
    return off <= size && len <= size - off;
}

/* Images start page-aligned, so an aligned offset gives an aligned struct
 * (a corrupt file must not lead to misaligned access either). */
static bool in_bounds_aligned(size_t size, uint64_t off, uint64_t len, size_t align)
{
    return off % align == 0 && in_bounds(size, off, len);
}

static const ElfW(Ehdr) *elf_header(const uint8_t *data, size_t size)
{
    if (size < sizeof(ElfW(Ehdr))) return NULL;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)data;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) return NULL;
    /* Only the native layout: a profile of this process never needs more. */
    if (eh->e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32)) return NULL;
    if (eh->e_ident[EI_DATA] != ELFDATA2LSB) return NULL;
    return eh;
}

static const ElfW(Phdr) *elf_phdrs(const uint8_t *data, size_t size, size_t *n)
{
    const ElfW(Ehdr) *eh = elf_header(data, size);
    *n = 0;
    if (!eh || eh->e_phentsize != sizeof(ElfW(Phdr))) return NULL;
    if (!in_bounds_aligned(size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(ElfW(Phdr)), 8)) return NULL;
    *n = eh->e_phnum;
    return (const ElfW(Phdr) *)(data + eh->e_phoff);
}

static const ElfW(Shdr) *elf_shdrs(const uint8_t *data, size_t size, size_t *n)
{
    const ElfW(Ehdr) *eh = elf_header(data, size);
    *n = 0;
    if (!eh || eh->e_shoff == 0 || eh->e_shentsize != sizeof(ElfW(Shdr))) return NULL;
    if (!in_bounds_aligned(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(ElfW(Shdr)), 8)) return NULL;
    *n = eh->e_shnum;
    return (const ElfW(Shdr) *)(data + eh->e_shoff);
}

/* The section headers and their names' table (each name below
 * names_size, NUL-terminated), or NULL. */
static const ElfW(Shdr) *elf_named_shdrs(const uint8_t *data, size_t size, size_t *n, const char **names,
                                         size_t *names_size)
{
    const ElfW(Shdr) *sh = elf_shdrs(data, size, n);
    const ElfW(Ehdr) *eh = elf_header(data, size);
    if (!sh || eh->e_shstrndx >= *n) return NULL;
    const ElfW(Shdr) *ss = &sh[eh->e_shstrndx];
    if (ss->sh_size == 0 || !in_bounds(size, ss->sh_offset, ss->sh_size) || data[ss->sh_offset + ss->sh_size - 1])
        return NULL;
    *names = (const char *)data + ss->sh_offset;
    *names_size = ss->sh_size;
    return sh;
}

/* ---- build id ---- */

static bool note_build_id(const uint8_t *p, size_t len, size_t align, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t off = 0;
    while (in_bounds(len, off, sizeof(ElfW(Nhdr)))) {
        const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(p + off);
        uint64_t name_len = (nh->n_namesz + align - 1) & ~(uint64_t)(align - 1);
        uint64_t desc_len = (nh->n_descsz + align - 1) & ~(uint64_t)(align - 1);
        uint64_t name_off = off + sizeof(*nh), desc_off = name_off + name_len;
        if (!in_bounds(len, name_off, name_len) || !in_bounds(len, desc_off, nh->n_descsz)) return false;
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(p + name_off, "GNU", 4) == 0
            && nh->n_descsz > 0) {
            size_t n = nh->n_descsz < OTP_BUILD_ID_MAX ? nh->n_descsz : OTP_BUILD_ID_MAX;
            for (size_t i = 0; i < n; i++) {
                out[2 * i] = hex[p[desc_off + i] >> 4];
                out[2 * i + 1] = hex[p[desc_off + i] & 15];
            }
            out[2 * n] = '\0';
            return true;
        }
        off = desc_off + desc_len;
    }
    return false;
}

/* Program headers first (always present in loaded objects); note sections
 * only for the odd file whose PT_NOTE is missing. */
static void elf_read_build_id(elf_obj_t *o)
{
    size_t n;
    const ElfW(Phdr) *ph = elf_phdrs(o->data, o->size, &n);
    for (size_t i = 0; i < n; i++) {
        if (ph[i].p_type != PT_NOTE || !in_bounds_aligned(o->size, ph[i].p_offset, ph[i].p_filesz, 4)) continue;
        if (note_build_id(o->data + ph[i].p_offset, ph[i].p_filesz, ph[i].p_align == 8 ? 8 : 4, o->build_id))
            return;
    }
    const ElfW(Shdr) *sh = elf_shdrs(o->data, o->size, &n);
    for (size_t i = 0; i < n; i++) {
        if (sh[i].sh_type != SHT_NOTE || !in_bounds_aligned(o->size, sh[i].sh_offset, sh[i].sh_size, 4)) continue;
        if (note_build_id(o->data + sh[i].sh_offset, sh[i].sh_size, sh[i].sh_addralign == 8 ? 8 : 4,
                          o->build_id))
            return;
    }
}

static int elf_read_segments(elf_obj_t *o)
{
    size_t n, k = 0;
    const ElfW(Phdr) *ph = elf_phdrs(o->data, o->size, &n);
    if (!ph) return -ENOEXEC;
    o->segs = otp_calloc(n ? n : 1, sizeof(seg_t));
    if (!o->segs) return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (ph[i].p_type != PT_LOAD) continue;
        o->segs[k++] = (seg_t){ph[i].p_offset, ph[i].p_vaddr, ph[i].p_filesz, ph[i].p_memsz};
    }
    o->nsegs = k;
    return 0;
}

/* ---- symbols ---- */

static uint32_t sym_rank(const ElfW(Sym) *s, const char *name)
{
    /* Among aliases prefer the public spelling (getpid over __getpid),
     * then global over weak over local binding, then the shorter name. */
    uint32_t us = 0;
    while (name[us] == '_' && us < 7) us++;
    int bind = ELF64_ST_BIND(s->st_info);
    uint32_t b = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
    size_t len = strlen(name);
    return (us << 24) | (b << 20) | (uint32_t)(len < 0xfffff ? len : 0xfffff);
}

static bool sym_less(const void *va, const void *vb)
{
    const sym_t *a = va, *b = vb;
    if (a->addr != b->addr) return a->addr < b->addr;
    if (a->rank != b->rank) return a->rank < b->rank;
    return strcmp(a->name, b->name) < 0;
}

/* Finds the symbol table section of `type` and its string table. */
static bool elf_symtab(const uint8_t *data, size_t size, uint32_t type, const ElfW(Sym) **syms, size_t *nsyms,
                       const char **str, size_t *strsz)
{
    size_t n;
    const ElfW(Shdr) *sh = elf_shdrs(data, size, &n);
    for (size_t i = 0; i < n; i++) {
        if (sh[i].sh_type != type || sh[i].sh_link >= n) continue;
        const ElfW(Shdr) *st = &sh[sh[i].sh_link];
        /* Compressed or NOBITS tables (some debug files) are unusable. */
        if ((sh[i].sh_flags | st->sh_flags) & SHF_COMPRESSED) continue;
        if (st->sh_type != SHT_STRTAB || st->sh_size == 0) continue;
        if (!in_bounds_aligned(size, sh[i].sh_offset, sh[i].sh_size, 8) || !in_bounds(size, st->sh_offset, st->sh_size))
            continue;
        /* A NUL-terminated table makes every in-range st_name a C string. */
        if (data[st->sh_offset + st->sh_size - 1] != '\0') continue;
        *syms = (const ElfW(Sym) *)(data + sh[i].sh_offset);
        *nsyms = sh[i].sh_size / sizeof(ElfW(Sym));
        *str = (const char *)(data + st->sh_offset);
        *strsz = st->sh_size;
        return *nsyms > 0;
    }
    return false;
}

/* End of the loaded segment holding vaddr, to bound size-0 symbols. */
static uint64_t seg_vaddr_end(const elf_obj_t *o, uint64_t vaddr)
{
    for (size_t i = 0; i < o->nsegs; i++)
        if (vaddr >= o->segs[i].vaddr && vaddr - o->segs[i].vaddr < o->segs[i].memsz)
            return o->segs[i].vaddr + o->segs[i].memsz;
    return vaddr + 1;
}

/* A function symbol with a name and an address; its name then. */
static const char *func_name(const elf_obj_t *o, const ElfW(Sym) *e)
{
    int t = ELF64_ST_TYPE(e->st_info);
    if ((t != STT_FUNC && t != STT_GNU_IFUNC) || e->st_shndx == SHN_UNDEF || e->st_value == 0) return NULL;
    if (e->st_name == 0 || e->st_name >= o->rawstrsz) return NULL;
    return o->rawstr + e->st_name;
}

static int elf_collect_syms(elf_obj_t *o)
{
    const ElfW(Sym) *es = o->raw;
    size_t n = o->nraw;
    sym_t *v = otp_malloc((n ? n : 1) * sizeof(sym_t));
    if (!v) return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = func_name(o, &es[i]);
        if (!name) continue;
        v[k++] = (sym_t){es[i].st_value, es[i].st_value + es[i].st_size, name, sym_rank(&es[i], name), (uint32_t)i};
    }
    otp_heapsort(v, k, sizeof v[0], sym_less);
    /* Keep the best-ranked alias per address; give size-0 symbols the
     * range up to the next symbol (within their segment). */
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        if (m == 0 || v[m - 1].addr != v[i].addr) v[m++] = v[i];
    for (size_t i = 0; i < m; i++) {
        if (v[i].end > v[i].addr) continue;
        uint64_t lim = seg_vaddr_end(o, v[i].addr);
        v[i].end = (i + 1 < m && v[i + 1].addr < lim) ? v[i + 1].addr : lim;
    }
    o->syms = v;
    o->nsyms = m;
    return 0;
}

/* The name of ELF symbol si (as find_sym numbers them). */
static const char *sym_name(const elf_obj_t *o, size_t si)
{
    return o->rawstr + o->raw[si].st_name;
}

static const uint8_t *map_file(int fd, size_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(ElfW(Ehdr))) return NULL;
    void *p = otp_vm_map(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return NULL;
    *size = (size_t)st.st_size;
    return p;
}

/* The .gnu_debuglink section: a file name and the debug file's CRC-32. */
static const char *elf_debuglink(const uint8_t *data, size_t size, uint32_t *crc)
{
    size_t n, names_size;
    const char *names;
    const ElfW(Shdr) *sh = elf_named_shdrs(data, size, &n, &names, &names_size);
    if (!sh) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (sh[i].sh_name >= names_size || strcmp(names + sh[i].sh_name, ".gnu_debuglink") != 0) continue;
        if (sh[i].sh_type == SHT_NOBITS || sh[i].sh_size < 8 || !in_bounds(size, sh[i].sh_offset, sh[i].sh_size))
            return NULL;
        const char *link = (const char *)data + sh[i].sh_offset;
        const char *nul = memchr(link, '\0', sh[i].sh_size - 4);
        if (!nul || nul == link) return NULL;
        uint64_t crc_off = ((uint64_t)(nul - link) + 1 + 3) & ~(uint64_t)3;
        if (crc_off + 4 > sh[i].sh_size) return NULL;
        memcpy(crc, link + crc_off, 4);
        return link;
    }
    return NULL;
}

/* A stripped object's full .symtab from its separate debug file (Debian
 * -dbg/-dbgsym packages): by build id, else by .gnu_debuglink. */
static bool elf_try_debug_file(elf_obj_t *o, const ElfW(Sym) **es, size_t *n, const char **str, size_t *strsz)
{
    char path[4096];
    uint32_t crc = 0;
    const char *link = elf_debuglink(o->data, o->size, &crc);
    int fd = otp_debugfile_open(o->path, o->build_id, link, crc, true, path, sizeof path);
    if (fd < 0) {
        o->no_dbg = true;
        return false;
    }
    size_t size = 0;
    const uint8_t *d = map_file(fd, &size);
    otp_close(fd);
    if (!d) return false;
    if (!elf_symtab(d, size, SHT_SYMTAB, es, n, str, strsz)) {
        otp_vm_unmap((void *)d, size);
        return false;
    }
    o->dbg = d;
    o->dbg_size = size;
    return true;
}

static int elf_parse(elf_obj_t *o)
{
    const ElfW(Sym) *es;
    const char *str;
    size_t n, strsz;
    int rc = elf_read_segments(o);
    if (rc) return rc;
    elf_read_build_id(o);
    if (elf_symtab(o->data, o->size, SHT_SYMTAB, &es, &n, &str, &strsz)
        || elf_try_debug_file(o, &es, &n, &str, &strsz)
        || elf_symtab(o->data, o->size, SHT_DYNSYM, &es, &n, &str, &strsz)) {
        o->raw = es;
        o->nraw = n;
        o->rawstr = str;
        o->rawstrsz = strsz;
    }
    return 0;
}

/* ---- the object cache ---- */

static int open_checked(const char *path, uint64_t ino)
{
    int fd = otp_open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0) return -1;
    /* A different inode means the file was replaced since it was mapped
     * (e.g. rebuilt): its symbols would be wrong. */
    if (fstat(fd, &st) != 0 || (ino && (uint64_t)st.st_ino != ino)) {
        otp_close(fd);
        return -1;
    }
    return fd;
}

static void elf_load(elf_obj_t *o, const map_ent_t *e, bool deleted)
{
    int fd = deleted ? -1 : open_checked(o->path, o->ino);
    if (fd < 0) {
        /* Still reachable through the mapping itself (needs privileges). */
        char mf[64];
        snprintf(mf, sizeof(mf), "/proc/self/map_files/%llx-%llx", (unsigned long long)e->m.start,
                 (unsigned long long)e->m.limit);
        fd = open_checked(mf, o->ino);
    }
    if (fd < 0) {
        OTP_DEBUG("symbols: cannot open %s", o->path);
        return;
    }
    o->data = map_file(fd, &o->size);
    otp_close(fd);
    if (!o->data) return;
    o->owned = true;
    if (!elf_header(o->data, o->size) || elf_parse(o) != 0) OTP_DEBUG("symbols: no ELF data for %s", o->path);
}

static void elf_load_vdso(elf_obj_t *o, const map_ent_t *e)
{
    uint64_t base = getauxval(AT_SYSINFO_EHDR);
    if (base != e->m.start) return;
    o->data = (const uint8_t *)(uintptr_t)base;
    o->size = e->m.limit - e->m.start;
    if (!elf_header(o->data, o->size) || elf_parse(o) != 0) OTP_DEBUG("symbols: no ELF data for [vdso]");
}

/* Display names differ from the system name only when made by the
 * demangler (otp_malloc'd). */
static void disp_free(elf_obj_t *o)
{
    for (size_t i = 0; i < o->disp_cap; i++)
        if (o->disp[i].si1 && o->disp[i].name != sym_name(o, o->disp[i].si1 - 1))
            otp_free((void *)o->disp[i].name);
    otp_free(o->disp);
    o->disp = NULL;
    o->disp_n = o->disp_cap = 0;
}

static void elf_obj_free(elf_obj_t *o)
{
    disp_free(o); /* reads the names: before the unmap */
    otp_free(o->pre);
    if (o->owned && o->data) otp_vm_unmap((void *)o->data, o->size);
    if (o->dbg) otp_vm_unmap((void *)o->dbg, o->dbg_size);
    if (o->dwarf) atomic_fetch_sub(&dwarf_bytes, OTP_DWARF_COST(o->size + o->dbg_size));
    otp_dwarf_close(o->dwarf);
    otp_free(o->fc.ents);
    otp_free(o->fc.frames);
    otp_free(o->segs);
    otp_free(o->syms);
    otp_free(o->path);
    otp_free(o);
}

/* The object already open for a mapping, marked as still mapped. */
static elf_obj_t *elf_cached(otp_symbolizer_t *s, const map_ent_t *e, uint64_t dev, uint64_t ino)
{
    for (elf_obj_t *o = s->objs; o; o = o->next)
        if (o->ino == ino && o->dev == dev && strcmp(o->path, e->m.path) == 0) {
            o->seen = true;
            return o;
        }
    return NULL;
}

static elf_obj_t *elf_get(otp_symbolizer_t *s, const map_ent_t *e, uint64_t dev, uint64_t ino, bool deleted)
{
    elf_obj_t *o = elf_cached(s, e, dev, ino);
    if (o) return o;
    o = otp_calloc(1, sizeof(*o));
    if (!o) return NULL;
    o->path = otp_strdup(e->m.path);
    if (!o->path) {
        otp_free(o);
        return NULL;
    }
    o->dev = dev;
    o->ino = ino;
    if (strcmp(e->m.path, "[vdso]") == 0)
        elf_load_vdso(o, e);
    else
        elf_load(o, e, deleted);
    /* Cached even when unusable, so a bad file is not retried each refresh. */
    o->next = s->objs;
    o->seen = true;
    s->objs = o;
    return o;
}

/* ---- /proc/self/maps ---- */

/* Without /proc (a chroot or a container that has not mounted it): the
 * loader's list of objects, written as the executable lines of maps
 * would show them, sorted by address. Anonymous code (JITs) and objects
 * mapped by hand are missing; the vdso is named as maps names it. */
typedef struct synth_seg {
    uint64_t start, limit, offset, dev, ino;
    const char *path;
} synth_seg_t;

typedef struct synth {
    synth_seg_t *v;
    size_t n, cap;
} synth_t;

static int synth_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    synth_t *s = arg;
    const char *path = info->dlpi_name;
    if (!path || !path[0])
        path = (const char *)getauxval(AT_EXECFN); /* the executable */
    if (!path)
        return 0;
    if (strncmp(path, "linux-vdso", 10) == 0 || strncmp(path, "linux-gate", 10) == 0)
        path = "[vdso]";
    struct stat st;
    uint64_t dev = 0, ino = 0;
    if (path[0] == '/' && stat(path, &st) == 0) {
        dev = (uint64_t)major(st.st_dev) << 32 | minor(st.st_dev);
        ino = st.st_ino;
    }
    uint64_t page = otp_page_size();
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || ph->p_memsz == 0)
            continue;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 64;
            synth_seg_t *nv = otp_realloc(s->v, cap * sizeof *nv);
            if (!nv)
                return 1;
            s->v = nv;
            s->cap = cap;
        }
        uint64_t lo = info->dlpi_addr + ph->p_vaddr;
        s->v[s->n++] = (synth_seg_t){lo & ~(page - 1), (lo + ph->p_memsz + page - 1) & ~(page - 1),
                                      ph->p_offset & ~(page - 1), dev, ino, path};
    }
    return 0;
}

static int by_start(const void *a, const void *b)
{
    const synth_seg_t *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static char *synth_maps(void)
{
    synth_t s = {NULL, 0, 0};
    if (!otp_loader_enter(1000))
        return NULL;
    dl_iterate_phdr(synth_one, &s);
    otp_loader_leave();
    qsort(s.v, s.n, sizeof *s.v, by_start);
    size_t cap = 1, len = 0;
    for (size_t i = 0; i < s.n; i++)
        cap += 96 + strlen(s.v[i].path);
    char *text = otp_malloc(cap);
    for (size_t i = 0; text && i < s.n; i++) {
        const synth_seg_t *g = &s.v[i];
        int w = snprintf(text + len, cap - len, "%llx-%llx r-xp %08llx %llx:%llx %llu %s\n",
                         (unsigned long long)g->start, (unsigned long long)g->limit, (unsigned long long)g->offset,
                         (unsigned long long)(g->dev >> 32), (unsigned long long)(g->dev & 0xffffffffu),
                         (unsigned long long)g->ino, g->path);
        if (w > 0 && (size_t)w < cap - len)
            len += (size_t)w;
    }
    if (text)
        text[len] = '\0';
    otp_free(s.v);
    return text;
}

static char *read_maps(void)
{
    /* The calling thread's view: /proc/self/maps is empty once the main
     * thread has called pthread_exit (a zombie leader has no mm). */
    int fd = otp_open("/proc/thread-self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) fd = otp_open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        static atomic_flag said = ATOMIC_FLAG_INIT;
        otp_log_once(&said, OTP_LOG_INFO, "cannot read /proc/self/maps (%s): the objects are taken from the "
                     "loader's list (code mapped otherwise stays <unknown>)", otp_strerror(errno));
        return synth_maps();
    }
    size_t cap = 16384, len = 0;
    char *buf = otp_malloc(cap);
    ssize_t r = 1;
    while (buf && r != 0) {
        if (cap - len < 4096) {
            char *nb = otp_realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno != EINTR) break;
        if (r > 0) len += (size_t)r;
    }
    otp_close(fd);
    if (buf && r == 0) {
        buf[len] = '\0';
        return buf;
    }
    otp_free(buf);
    return NULL;
}

static uint64_t parse_num(char **p, int base)
{
    char *end;
    uint64_t v = strtoull(*p, &end, base);
    *p = end;
    return v;
}

/* One line: "start-limit perms offset maj:min inode   path". Terminates
 * the path in place (the text stays alive as path storage). */
static bool parse_line(char *line, map_ent_t *e, bool *exec, uint64_t *dev, uint64_t *ino, bool *deleted)
{
    char *p = line;
    e->m.start = parse_num(&p, 16);
    if (*p++ != '-') return false;
    e->m.limit = parse_num(&p, 16);
    if (*p++ != ' ' || strlen(p) < 5) return false;
    *exec = p[2] == 'x';
    p += 5;
    e->m.offset = parse_num(&p, 16);
    uint64_t maj = parse_num(&p, 16);
    if (*p++ != ':') return false;
    uint64_t min = parse_num(&p, 16);
    *dev = maj << 32 | min;
    *ino = parse_num(&p, 10);
    while (*p == ' ') p++;
    static const char del[] = " (deleted)";
    size_t n = strlen(p), dn = sizeof(del) - 1;
    *deleted = n > dn && strcmp(p + n - dn, del) == 0;
    if (*deleted) p[n - dn] = '\0';
    e->m.path = p;
    e->m.build_id = "";
    e->m.htlhash = "";
    e->elf = NULL;
    return e->m.limit > e->m.start;
}

static size_t count_lines(const char *t)
{
    size_t n = 1;
    for (; *t; t++) n += *t == '\n';
    return n;
}

static void parse_maps(otp_symbolizer_t *s, char *text, map_ent_t *v, size_t *n)
{
    size_t k = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        bool exec, deleted;
        uint64_t dev, ino;
        map_ent_t *e = &v[k];
        if (parse_line(line, e, &exec, &dev, &ino, &deleted)) {
            bool file = e->m.path[0] == '/' && ino != 0;
            if (exec && (file || strcmp(e->m.path, "[vdso]") == 0)) {
                e->elf = elf_cached(s, e, dev, ino);
                e->pending = !e->elf;
                e->dev = dev;
                e->ino = ino;
                e->deleted = deleted;
            }
            if (e->elf) {
                e->m.build_id = e->elf->build_id;
                e->m.htlhash = e->elf->htlhash;
            }
            k++;
        }
        line = nl ? nl + 1 : NULL;
    }
    *n = k;
}

/* Segments of objects dlclose'd lately (unloaded.h), inserted in address
 * order where nothing is mapped now: samples taken before the dlclose
 * still get their names. n entries in v (room for OTP_UNLOADED_MAX
 * more); returns the new count. */
static size_t add_unloaded(otp_symbolizer_t *s, map_ent_t *v, size_t n, char *paths)
{
    for (int i = 0; i < OTP_UNLOADED_MAX; i++) {
        otp_unloaded_seg_t g;
        if (!otp_unloaded_get(i, &g) || g.limit <= g.start)
            continue;
        size_t k = 0;
        while (k < n && v[k].m.limit <= g.start)
            k++;
        if (k < n && v[k].m.start < g.limit)
            continue; /* the range is in use again (or already added) */
        char *p = paths + (size_t)i * OTP_UNLOADED_PATH;
        memcpy(p, g.path, OTP_UNLOADED_PATH);
        p[OTP_UNLOADED_PATH - 1] = '\0';
        memmove(&v[k + 1], &v[k], (n - k) * sizeof *v);
        map_ent_t *e = &v[k];
        memset(e, 0, sizeof *e);
        e->m.start = g.start;
        e->m.limit = g.limit;
        e->m.offset = g.offset;
        e->m.path = p;
        e->m.build_id = "";
        e->m.htlhash = "";
        e->elf = elf_cached(s, e, g.dev, g.ino);
        e->pending = !e->elf;
        e->dev = g.dev;
        e->ino = g.ino;
        if (e->elf) {
            e->m.build_id = e->elf->build_id;
            e->m.htlhash = e->elf->htlhash;
        }
        n++;
    }
    return n;
}

/* Set by the flusher for the final export (at exit, exec or a fatal
 * signal): the process is ending, so no slow opening of large debug data. */
static _Atomic bool final_export;
/* A mapping of one of the agent's two objects (internal.h): it keeps
 * symbol-table names only. The agent's own frames are its own cost, and
 * its DWARF would load libdw and parse ~1 MB at the exit of every short
 * process with an agent leaf. */
static bool agent_mapping(uintptr_t start, uintptr_t limit)
{
    for (size_t i = 0; i < OTP_ARRAY_LEN(otp_agent_code); i++)
        if (otp_agent_code[i].hi && otp_agent_code[i].lo < limit && otp_agent_code[i].hi > start)
            return true;
    return false;
}

void otp_sym_set_final(bool final)
{
    atomic_store(&final_export, final);
}

static bool exiting(void)
{
    return atomic_load(&final_export);
}

int otp_sym_refresh(otp_symbolizer_t *s)
{
    char *text = read_maps();
    if (!text) return -ENOMEM;
    map_ent_t *v = otp_malloc((count_lines(text) + OTP_UNLOADED_MAX) * sizeof(map_ent_t));
    char *gone = otp_malloc((size_t)OTP_UNLOADED_MAX * OTP_UNLOADED_PATH);
    if (!v || !gone) {
        otp_free(v);
        otp_free(gone);
        otp_free(text);
        return -ENOMEM;
    }
    size_t n;
    for (elf_obj_t *o = s->objs; o; o = o->next) o->seen = false;
    parse_maps(s, text, v, &n);
    n = add_unloaded(s, v, n, gone);
    /* Objects no longer mapped (dlclose'd) go, with their DWARF session
     * and caches: nothing in the new snapshot can point into them. */
    for (elf_obj_t **pp = &s->objs; *pp;) {
        elf_obj_t *o = *pp;
        if (o->seen) {
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        elf_obj_free(o);
    }
    otp_free(s->maps);
    otp_free(s->maps_text);
    otp_free(s->gone_paths);
    s->maps = v;
    s->nmaps = n;
    s->maps_text = text;
    s->gone_paths = gone;
    otp_perfmap_refresh(s->perfmap);
    s->dwarf_left_ns = OTP_DWARF_BUDGET_NS;
    if (exiting() && (int64_t)otp_cfg.shutdown_timeout_ms * 100000 < s->dwarf_left_ns)
        s->dwarf_left_ns = (int64_t)otp_cfg.shutdown_timeout_ms * 100000;
    return 0;
}

otp_symbolizer_t *otp_sym_new(void)
{
    otp_symbolizer_t *s = otp_calloc(1, sizeof(*s));
    if (s) {
        s->perfmap = otp_perfmap_new();
        s->born_ns = otp_mono_ns();
    }
    if (s && otp_sym_refresh(s) != 0) OTP_DEBUG("symbols: cannot read /proc/self/maps");
    if (s) accounted = s;
    return s;
}

void otp_sym_free(otp_symbolizer_t *s)
{
    if (!s) return;
    if (accounted == s) accounted = NULL;
    for (elf_obj_t *o = s->objs, *next; o; o = next) {
        next = o->next;
        elf_obj_free(o);
    }
    otp_perfmap_free(s->perfmap);
    otp_free(s->maps);
    otp_free(s->maps_text);
    otp_free(s->gone_paths);
    otp_free(s);
}

/* ---- lookup ---- */

static map_ent_t *find_mapping(const otp_symbolizer_t *s, uint64_t addr, int *idx)
{
    size_t lo = 0, hi = s->nmaps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->maps[mid].m.limit <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == s->nmaps || addr < s->maps[lo].m.start) return NULL;
    *idx = (int)lo;
    return &s->maps[lo];
}

/* The symbol covering vaddr by one pass over the raw table, as the
 * sorted table would find it: the best-ranked alias at the highest
 * address <= vaddr, a size-0 symbol reaching to the next symbol (within
 * its segment). Its raw index, or -1. */
static ssize_t scan_sym(const elf_obj_t *o, uint64_t vaddr)
{
    ssize_t best = -1;
    uint64_t best_addr = 0, next = UINT64_MAX;
    uint32_t best_rank = 0;
    for (size_t i = 0; i < o->nraw; i++) {
        const ElfW(Sym) *e = &o->raw[i];
        if (e->st_value > vaddr) {
            if (e->st_value < next && func_name(o, e)) next = e->st_value;
            continue;
        }
        if (best >= 0 && e->st_value < best_addr) continue;
        const char *name = func_name(o, e);
        if (!name) continue;
        uint32_t rank = sym_rank(e, name);
        if (best >= 0 && e->st_value == best_addr &&
            (rank > best_rank ||
             (rank == best_rank && strcmp(name, o->rawstr + o->raw[best].st_name) >= 0)))
            continue;
        best = (ssize_t)i;
        best_addr = e->st_value;
        best_rank = rank;
    }
    if (best < 0) return -1;
    uint64_t end = best_addr + o->raw[best].st_size;
    if (end <= best_addr) {
        uint64_t lim = seg_vaddr_end(o, best_addr);
        end = next < lim ? next : lim;
    }
    return vaddr < end ? best : -1;
}

/* ELF index of the symbol covering vaddr, or -1. Sorts the table once
 * scans stop paying. */
static ssize_t find_sym(elf_obj_t *o, uint64_t vaddr)
{
    if (!o->sorted && o->npre) {
        size_t lo = 0, hi = o->npre;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (o->pre[mid].vaddr < vaddr)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < o->npre && o->pre[lo].vaddr == vaddr) return (ssize_t)o->pre[lo].idx;
    }
    if (!o->sorted && o->scans < OTP_SYM_SCANS) {
        o->scans++;
        return scan_sym(o, vaddr);
    }
    if (!o->sorted) {
        if (elf_collect_syms(o) != 0) return scan_sym(o, vaddr); /* out of memory: keep scanning */
        o->sorted = true;
    }
    size_t lo = 0, hi = o->nsyms;
    while (lo < hi) { /* first symbol starting above vaddr */
        size_t mid = lo + (hi - lo) / 2;
        if (o->syms[mid].addr <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || vaddr >= o->syms[lo - 1].end) return -1;
    return (ssize_t)o->syms[lo - 1].idx;
}

/* The object and link-time address behind a runtime address, with the
 * symbol index (-1 if none). */
/* The object behind a runtime address and the link-time address there,
 * opening the object if this is the first address in it. */
static elf_obj_t *locate(otp_symbolizer_t *s, uint64_t addr, int *mapping, uint64_t *vaddr)
{
    int idx = -1;
    map_ent_t *e = s ? find_mapping(s, addr, &idx) : NULL;
    if (mapping) *mapping = idx;
    if (e && e->pending) {
        e->pending = false;
        e->elf = elf_get(s, e, e->dev, e->ino, e->deleted);
        if (e->elf) {
            e->m.build_id = e->elf->build_id;
            e->m.htlhash = e->elf->htlhash;
            if (agent_mapping(e->m.start, e->m.limit))
                e->elf->self = true;
        }
    }
    if (!e || !e->elf || e->elf->nraw == 0) return NULL;
    /* runtime address -> file offset -> the link-time address the symbol
     * table uses, via the PT_LOAD covering that offset. This one formula
     * covers PIE, shared objects and fixed-address (ET_EXEC) binaries. */
    uint64_t off = addr - e->m.start + e->m.offset;
    elf_obj_t *o = e->elf;
    for (size_t i = 0; i < o->nsegs; i++) {
        const seg_t *g = &o->segs[i];
        if (off >= g->off && off - g->off < g->filesz) {
            *vaddr = off - g->off + g->vaddr;
            return o;
        }
    }
    return NULL;
}

static elf_obj_t *resolve(otp_symbolizer_t *s, uint64_t addr, int *mapping, uint64_t *vaddr, ssize_t *si)
{
    elf_obj_t *o = locate(s, addr, mapping, vaddr);
    *si = o ? find_sym(o, *vaddr) : -1;
    return o;
}

/* ---- lookups ahead ----
 * A profile's addresses are known before the encoders ask for them one
 * by one. For an object whose table is not sorted, one pass over its
 * symbols answers them all: each symbol is a candidate only for the
 * first query at or above it (a prefix maximum then carries it up to
 * the next symbol's queries), and the next symbol above a query, which
 * bounds a size-0 symbol, is found the same way from the other side.
 * That is n log q for n symbols and q queries, against n log n to sort
 * (cc1 exports 27000 functions; a short run of it needs a few hundred). */

typedef struct query {
    elf_obj_t *o;
    uint64_t vaddr;
} query_t;

static bool query_less(const void *va, const void *vb)
{
    const query_t *a = va, *b = vb;
    if (a->o != b->o) return (uintptr_t)a->o < (uintptr_t)b->o;
    return a->vaddr < b->vaddr;
}

/* First index in q[0..m) with vaddr >= a. */
static size_t lower_bound(const query_t *q, size_t m, uint64_t a)
{
    size_t lo = 0, hi = m;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q[mid].vaddr < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* lower_bound by a table of where each of nb equal slices of
 * [q[0], q[m-1]] starts: one lookup and a short scan instead of a binary
 * search per symbol (cc1's 29000), whose branches do not predict. */
typedef struct qindex {
    const query_t *q;
    size_t m;
    uint64_t lo, hi;
    unsigned shift;
    uint32_t *start; /* NULL: binary search */
} qindex_t;

static void qindex_init(qindex_t *x, const query_t *q, size_t m)
{
    *x = (qindex_t){q, m, q[0].vaddr, q[m - 1].vaddr, 0, NULL};
    size_t nb = 16;
    while (nb < 2 * m && nb < 65536) nb *= 2;
    while (x->shift < 63 && ((x->hi - x->lo) >> x->shift) >= nb) x->shift++;
    x->start = otp_malloc((nb + 1) * sizeof *x->start);
    if (!x->start) return;
    size_t k = 0;
    for (size_t b = 0; b <= nb; b++) {
        uint64_t at = x->lo + ((uint64_t)b << x->shift);
        if (b && at <= x->lo) at = UINT64_MAX; /* past the top of the space */
        while (k < m && q[k].vaddr < at) k++;
        x->start[b] = (uint32_t)k;
    }
}

static size_t qindex_lower(const qindex_t *x, uint64_t a)
{
    if (a <= x->lo) return 0;
    if (a > x->hi) return x->m;
    if (!x->start) return lower_bound(x->q, x->m, a);
    size_t k = x->start[(a - x->lo) >> x->shift];
    while (k < x->m && x->q[k].vaddr < a) k++;
    return k;
}

/* Answers q[0..m) (one object, distinct vaddrs, ascending) into o->pre. */
static void answer_all(elf_obj_t *o, const query_t *q, size_t m)
{
    answer_t *ans = otp_malloc(m * sizeof *ans);
    uint64_t *next = otp_malloc(m * sizeof *next);
    uint32_t *rank = otp_malloc(m * sizeof *rank);
    qindex_t qx;
    qindex_init(&qx, q, m);
    if (!ans || !next || !rank) goto out;
    for (size_t k = 0; k < m; k++) {
        ans[k] = (answer_t){q[k].vaddr, -1};
        next[k] = UINT64_MAX;
    }
    for (size_t i = 0; i < o->nraw; i++) {
        const ElfW(Sym) *e = &o->raw[i];
        const char *name = func_name(o, e);
        if (!name) continue;
        uint64_t a = e->st_value;
        size_t j = qindex_lower(&qx, a);
        if (j > 0 && a < next[j - 1]) next[j - 1] = a;
        if (j == m) continue;
        int64_t b = ans[j].idx;
        uint64_t ba = b >= 0 ? o->raw[b].st_value : 0;
        if (b >= 0 && a < ba) continue;
        /* Ranks (a strlen each) only matter between aliases. */
        uint32_t r = UINT32_MAX;
        if (b >= 0 && a == ba) {
            if (rank[j] == UINT32_MAX) rank[j] = sym_rank(&o->raw[b], sym_name(o, (size_t)b));
            r = sym_rank(e, name);
            if (r > rank[j] || (r == rank[j] && strcmp(name, sym_name(o, (size_t)b)) >= 0)) continue;
        }
        ans[j].idx = (int64_t)i;
        rank[j] = r;
    }
    for (size_t k = 1; k < m; k++)
        if (ans[k].idx < 0) ans[k].idx = ans[k - 1].idx;
    for (size_t k = m - 1; k-- > 0;)
        if (next[k + 1] < next[k]) next[k] = next[k + 1];
    for (size_t k = 0; k < m; k++) {
        if (ans[k].idx < 0) continue;
        const ElfW(Sym) *e = &o->raw[ans[k].idx];
        uint64_t end = e->st_value + e->st_size;
        if (end <= e->st_value) {
            uint64_t lim = seg_vaddr_end(o, e->st_value);
            end = next[k] < lim ? next[k] : lim;
        }
        if (q[k].vaddr >= end) ans[k].idx = -1;
    }
    otp_free(o->pre);
    o->pre = ans;
    o->npre = m;
    ans = NULL;
out:
    otp_free(qx.start);
    otp_free(ans);
    otp_free(next);
    otp_free(rank);
}

/* addrs[0..n) without repeats (a profile's stacks share most frames, so
 * the sort below gets far fewer), in *out (otp_malloc'd); the count, or
 * n with *out NULL when there is no memory for the set (then addrs are
 * used as they are). */
static size_t distinct(const uint64_t *addrs, size_t n, uint64_t **out)
{
    *out = NULL;
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    uint64_t *set = otp_calloc(cap, sizeof *set), *v = otp_malloc(n * sizeof *v);
    if (!set || !v) {
        otp_free(set);
        otp_free(v);
        return n;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = addrs[i] + 1; /* 0 marks an empty slot */
        size_t j = (size_t)((a * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
        while (set[j] && set[j] != a) j = (j + 1) & (cap - 1);
        if (set[j]) continue;
        set[j] = a;
        v[m++] = addrs[i];
    }
    otp_free(set);
    *out = v;
    return m;
}

void otp_sym_prepare(otp_symbolizer_t *s, const uint64_t *addrs, size_t n)
{
    uint64_t *uniq;
    n = distinct(addrs, n, &uniq);
    if (uniq) addrs = uniq;
    query_t *q = n ? otp_malloc(n * sizeof *q) : NULL;
    if (!q) {
        otp_free(uniq);
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t vaddr;
        elf_obj_t *o = locate(s, addrs[i], NULL, &vaddr);
        if (o && !o->sorted && o->nraw) q[m++] = (query_t){o, vaddr};
    }
    otp_free(uniq);
    otp_heapsort(q, m, sizeof *q, query_less);
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (k == 0 || q[k - 1].o != q[i].o || q[k - 1].vaddr != q[i].vaddr) q[k++] = q[i];
    for (size_t i = 0; i < k;) {
        size_t j = i;
        while (j < k && q[j].o == q[i].o) j++;
        elf_obj_t *o = q[i].o;
        /* The second export of a process that lives on: sort for good. */
        if (o->batches++ > 0 || (j - i) * 8 > o->nraw) {
            if (elf_collect_syms(o) == 0) o->sorted = true;
        } else {
            answer_all(o, q + i, j - i);
        }
        i = j;
    }
    otp_free(q);
}

const char *otp_sym_lookup(otp_symbolizer_t *s, uint64_t addr, int *mapping)
{
    uint64_t vaddr;
    ssize_t si;
    const char *special = otp_profile_special_name(addr);
    if (special) {
        if (mapping) *mapping = -1;
        return special;
    }
    const elf_obj_t *o = resolve(s, addr, mapping, &vaddr, &si);
    if (si >= 0) return sym_name(o, (size_t)si);
    return s ? otp_perfmap_lookup(s->perfmap, addr) : NULL;
}

static bool disp_key(const void *e, uint64_t *k)
{
    *k = ((const struct disp_ent *)e)->si1;
    return *k != 0;
}

static const char *display_name(elf_obj_t *o, size_t si)
{
    const char *sys = sym_name(o, si);
    struct disp_ent *nd = otp_oa_room(o->disp, &o->disp_cap, o->disp_n, sizeof *nd, 64, disp_key);
    if (!nd) return sys;
    o->disp = nd;
    size_t j = otp_oa_hash(si + 1) & (o->disp_cap - 1);
    while (o->disp[j].si1 && o->disp[j].si1 != si + 1) j = (j + 1) & (o->disp_cap - 1);
    if (!o->disp[j].si1) {
        char *d = otp_demangle(sys);
        o->disp[j] = (struct disp_ent){si + 1, d ? d : sys};
        o->disp_n++;
    }
    return o->disp[j].name;
}

static bool fc_key(const void *e, uint64_t *k)
{
    const fcache_ent_t *f = e;
    *k = f->vaddr;
    return f->used;
}

/* The cache slot for vaddr: its entry, or the free slot to fill; NULL
 * when there is no cache (out of memory). */
static fcache_ent_t *fc_slot(elf_obj_t *o, uint64_t vaddr)
{
    fcache_t *c = &o->fc;
    if (c->n >= OTP_FCACHE_MAX) {
        memset(c->ents, 0, c->cap * sizeof *c->ents);
        c->n = 0;
        c->nframes = 0;
    }
    fcache_ent_t *ne = otp_oa_room(c->ents, &c->cap, c->n, sizeof *ne, 1024, fc_key);
    if (!ne) return NULL;
    c->ents = ne;
    size_t j = otp_oa_hash(vaddr) & (c->cap - 1);
    while (c->ents[j].used && c->ents[j].vaddr != vaddr) j = (j + 1) & (c->cap - 1);
    return &c->ents[j];
}

static void fc_put(elf_obj_t *o, fcache_ent_t *ce, uint64_t vaddr, const otp_frame_t *f, int n)
{
    fcache_t *c = &o->fc;
    if (c->nframes + (size_t)n > c->cap_frames) {
        size_t nc = c->cap_frames ? c->cap_frames * 2 : 1024;
        while (nc < c->nframes + (size_t)n) nc *= 2;
        otp_frame_t *nf = otp_realloc(c->frames, nc * sizeof *nf);
        if (!nf) return;
        c->frames = nf;
        c->cap_frames = nc;
    }
    memcpy(c->frames + c->nframes, f, (size_t)n * sizeof *f);
    *ce = (fcache_ent_t){vaddr, (uint32_t)c->nframes, (uint16_t)n, true};
    c->nframes += (size_t)n;
    c->n++;
}

/* Whether the object has a section called `name`. */
static bool elf_has_section(const uint8_t *data, size_t size, const char *name)
{
    size_t n, names_size;
    const char *names;
    const ElfW(Shdr) *sh = elf_named_shdrs(data, size, &n, &names, &names_size);
    for (size_t i = 0; sh && i < n; i++)
        if (sh[i].sh_name < names_size && strcmp(names + sh[i].sh_name, name) == 0) return true;
    return false;
}

/* DWARF may be found for the object: in its own sections, or in a
 * separate debug file that exists. Asked before libdw is loaded for it:
 * most system binaries have neither, and loading libdw to learn that
 * would cost every short-lived process milliseconds. */
static bool dwarf_exists(elf_obj_t *o)
{
    if (elf_has_section(o->data, o->size, ".debug_info") || elf_has_section(o->data, o->size, ".zdebug_info"))
        return true;
    if (o->dbg || o->dbg_file) return true;
    if (o->no_dbg) return false; /* a stripped object's search, a few opens, done already */
    char path[4096];
    uint32_t crc = 0;
    const char *link = elf_debuglink(o->data, o->size, &crc);
    int fd = otp_debugfile_open(o->path, o->build_id, link, crc, false, path, sizeof path);
    if (fd < 0) {
        o->no_dbg = true;
        return false;
    }
    struct stat st;
    o->dbg_file = fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 1;
    otp_close(fd);
    return true;
}

/* What an ELF's compressed debug sections inflate to (SHF_COMPRESSED, or
 * the older .zdebug_ with a "ZLIB" header and a big-endian size). */
static size_t elf_inflated(const uint8_t *data, size_t size)
{
    size_t n, names_size, total = 0;
    const char *names;
    const ElfW(Shdr) *sh = elf_named_shdrs(data, size, &n, &names, &names_size);
    for (size_t i = 0; sh && i < n; i++) {
        if (sh[i].sh_name >= names_size || sh[i].sh_type == SHT_NOBITS) continue;
        const char *name = names + sh[i].sh_name;
        if ((sh[i].sh_flags & SHF_COMPRESSED) && strncmp(name, ".debug_", 7) == 0 &&
            in_bounds(size, sh[i].sh_offset, sizeof(ElfW(Chdr)))) {
            ElfW(Chdr) ch;
            memcpy(&ch, data + sh[i].sh_offset, sizeof ch);
            total += (size_t)ch.ch_size;
        } else if (strncmp(name, ".zdebug_", 8) == 0 && in_bounds(size, sh[i].sh_offset, 12) &&
                   memcmp(data + sh[i].sh_offset, "ZLIB", 4) == 0) {
            uint64_t be = 0;
            for (int k = 0; k < 8; k++) be = be << 8 | data[sh[i].sh_offset + 4 + k];
            total += (size_t)be;
        }
    }
    return total;
}

/* Opening an object's DWARF inflates its compressed debug sections
 * (Debian's -dbg and -dbgsym files are all compressed) and indexes them:
 * 7-9 ns a byte of output here (libm's debug file, 0.8 MB inflating to
 * 2.4 MB: 17-21 ms); uncompressed DWARF is read in place, as lookups need
 * it. That work waits until it is within the overhead budget's share of
 * the CPU the process has used (agent.max_overhead_percent, 1% by
 * default; with no budget, no wait), so a short process does not pay it
 * for a handful of samples: a python3 of 0.4 s of CPU with its samples in
 * libm paid 20-25 ms at its exit for their source lines. A debug file not mapped (the object has
 * its own symbol table) counts as inflating to three times its size. Big
 * DWARF (object and debug file together) also waits until the process
 * has lived a little, and is never opened at exit. */
#define OTP_DWARF_INFLATE_NS 10

static bool dwarf_may_open(const otp_symbolizer_t *s, elf_obj_t *o)
{
    if (o->size + o->dbg_size > OTP_DWARF_BIG &&
        (exiting() || otp_mono_ns() - s->born_ns < OTP_DWARF_BIG_AGE_NS))
        return false;
    /* Asked again at each lookup until it says yes: the sections are
     * read once. */
    if (!o->inflated)
        o->inflated = 1 + elf_inflated(o->data, o->size) +
                      (o->dbg ? elf_inflated(o->dbg, o->dbg_size) : o->dbg_file * 3);
    size_t inflated = o->inflated - 1;
    if (inflated == 0) return true;
    if (otp_cfg.max_overhead_milli <= 0) return true; /* no budget */
    int64_t cpu = otp_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    return cpu > 0 && (int64_t)inflated * OTP_DWARF_INFLATE_NS <= cpu / 100000 * otp_cfg.max_overhead_milli;
}

/* Whether the memory cap has room for o's DWARF (said once if not). */
static bool dwarf_fits(const elf_obj_t *o)
{
    size_t cost = OTP_DWARF_COST(o->size + o->dbg_size);
    if (otp_memcap_fits(cost)) return true;
    otp_log_once(&dwarf_cap_logged, OTP_LOG_INFO,
                 "not reading the DWARF of %s (~%.0f MiB in memory): it does not fit in "
                 "agent.max_memory_mb; its frames keep symbol-table names",
                 o->path, (double)cost / 1048576.0);
    return false;
}

size_t otp_sym_footprint(void)
{
    size_t b = atomic_load(&dwarf_bytes);
    if (!accounted) return b;
    /* Of a mapped file only what was read is in this process's memory
     * (mincore would tell the page cache's, shared with everyone): the
     * symbol table and its names, ~48 bytes a symbol. */
    for (const elf_obj_t *o = accounted->objs; o; o = o->next) b += o->nsyms * 48;
    return b;
}

int otp_sym_frames(otp_symbolizer_t *s, uint64_t addr, int *mapping, otp_frame_t *out, int max)
{
    uint64_t vaddr = 0;
    ssize_t si;
    if (max < 1) return 0;
    const char *name = otp_profile_special_name(addr);
    if (name) {
        if (mapping) *mapping = -1;
        out[0] = (otp_frame_t){name, name, NULL, 0, 0};
        return 1;
    }
    elf_obj_t *o = resolve(s, addr, mapping, &vaddr, &si);
    if (si < 0) {
        const char *jit = s ? otp_perfmap_lookup(s->perfmap, addr) : NULL;
        if (!jit) return 0;
        out[0] = (otp_frame_t){jit, jit, NULL, 0, 0};
        return 1;
    }
    fcache_ent_t *ce = fc_slot(o, vaddr);
    if (ce && ce->used) {
        int n = ce->n < max ? ce->n : max;
        memcpy(out, o->fc.frames + ce->first, (size_t)n * sizeof *out);
        return n;
    }
    int n = 0;
    bool complete = true; /* worth caching */
    if (s->dwarf_left_ns > 0 && (o->dwarf || !o->dwarf_tried)) {
        int64_t t0 = otp_mono_ns();
        if (!o->dwarf_tried && (!o->owned || o->self || !dwarf_exists(o))) {
            o->dwarf_tried = true;
        } else if (!o->dwarf_tried && dwarf_may_open(s, o)) {
            o->dwarf_tried = true;
            if (dwarf_fits(o)) o->dwarf = otp_dwarf_open(o->path, o->build_id);
            if (o->dwarf) atomic_fetch_add(&dwarf_bytes, OTP_DWARF_COST(o->size + o->dbg_size));
        }
        if (o->dwarf) n = otp_dwarf_frames(o->dwarf, vaddr, out, max);
        complete = o->dwarf_tried;
        s->dwarf_left_ns -= otp_mono_ns() - t0;
    } else if (!o->dwarf_tried || o->dwarf) {
        complete = false;
    }
    /* The outermost frame is the symbol table's function: DWARF gives its
     * file and lines, the symbol table its full (linkage) name. */
    if (n == 0) {
        out[0] = (otp_frame_t){NULL, NULL, NULL, 0, 0};
        n = 1;
    }
    out[n - 1].system_name = sym_name(o, (size_t)si);
    out[n - 1].name = display_name(o, (size_t)si);
    if (ce && complete) fc_put(o, ce, vaddr, out, n);
    return n;
}
size_t otp_sym_object_count(const otp_symbolizer_t *s)
{
    size_t n = 0;
    for (const elf_obj_t *o = s ? s->objs : NULL; o; o = o->next) n++;
    return n;
}

size_t otp_sym_mapping_count(const otp_symbolizer_t *s)
{
    return s ? s->nmaps : 0;
}

const otp_mapping_t *otp_sym_mapping(const otp_symbolizer_t *s, size_t i)
{
    return s && i < s->nmaps ? &s->maps[i].m : NULL;
}

const char *otp_sym_mapping_htlhash(otp_symbolizer_t *s, size_t i)
{
    if (!s || i >= s->nmaps) return "";
    elf_obj_t *o = s->maps[i].elf;
    /* Made when an encoder first asks (only OTLP does): a process that
     * writes pprof files only never reads the pages it hashes. The whole
     * file is mapped; its first and last pages are all the hash reads. */
    if (o && o->owned && !o->htl_done) {
        otp_htlhash(o->data, o->size, o->htlhash);
        o->htl_done = true;
    }
    return s->maps[i].m.htlhash ? s->maps[i].m.htlhash : "";
}
