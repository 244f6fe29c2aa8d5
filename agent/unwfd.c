/*
 * libunwind's memory check without file descriptors (see unwfd.h).
 *
 * The slots are found through the object's dynamic section (its JUMP_SLOT
 * and GLOB_DAT relocations by symbol name) and written once, before
 * libunwind runs; a slot in the object's RELRO range is made writable for
 * that moment. The stand-ins run inside signal handlers: system calls
 * only.
 */
#include "unwfd.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"

/* Never descriptors: negative, and not the -1 libunwind takes for none. */
#define FAKE_R (-4096)
#define FAKE_W (-4095)

static int fake_pipe2(int fds[2], int flags)
{
    (void)flags;
    fds[0] = FAKE_R;
    fds[1] = FAKE_W;
    return 0;
}

static int fake_pipe(int fds[2])
{
    return fake_pipe2(fds, 0);
}

/* libunwind empties its pipe before each check: here it is always empty. */
static ssize_t fake_read(int fd, void *buf, size_t n)
{
    if (fd != FAKE_R)
        return read(fd, buf, n);
    errno = EAGAIN;
    return -1;
}

/* The check: is the byte at buf readable? timer_settime copies its new
 * setting (32 bytes) before it looks the timer up, so with a timer id
 * that never exists it fails with EFAULT for unreadable memory and
 * EINVAL otherwise, changing nothing. Readability goes by page, and the
 * 32-byte-aligned block holding buf lies in buf's page. */
static ssize_t probe(const void *buf)
{
    const void *p = (const void *)((uintptr_t)buf & ~(uintptr_t)31);
    long rc = syscall(SYS_timer_settime, (long)INT_MIN, 0L, p, NULL);
    if (rc != 0 && errno == EINVAL)
        return 1;
    errno = EFAULT;
    return -1;
}

static ssize_t fake_write(int fd, const void *buf, size_t n)
{
    return fd == FAKE_W ? probe(buf) : write(fd, buf, n);
}

/* libunwind 1.6 writes with syscall(SYS_write, ...). The arguments are
 * passed on as glibc's own syscall() takes them: six longs. */
static long fake_syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (nr == SYS_write && (int)a[0] == FAKE_W)
        return probe((const void *)a[1]);
    return syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static int fake_close(int fd)
{
    if (fd == FAKE_R || fd == FAKE_W)
        return 0;
    return close(fd);
}

static const struct {
    const char *name;
    void *fn;
} stand_ins[] = {
    {"pipe2", (void *)fake_pipe2}, {"pipe", (void *)fake_pipe},   {"read", (void *)fake_read},
    {"write", (void *)fake_write}, {"close", (void *)fake_close}, {"syscall", (void *)fake_syscall},
};

struct relro {
    uintptr_t base;
    uintptr_t lo, hi;
};

static int find_relro(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct relro *r = arg;
    if (info->dlpi_addr != r->base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
            r->lo = r->base + info->dlpi_phdr[i].p_vaddr;
            r->hi = r->lo + info->dlpi_phdr[i].p_memsz;
        }
    return 1;
}

/* Writes fn into the slot; a slot under RELRO is read-only by now. */
static int patch(void **slot, void *fn, const struct relro *r)
{
    uintptr_t a = (uintptr_t)slot;
    if (a < r->lo || a >= r->hi) {
        __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
        return 0;
    }
    uintptr_t pg = a & ~(uintptr_t)4095;
    if (mprotect((void *)pg, 4096, PROT_READ | PROT_WRITE) != 0)
        return -errno;
    __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
    mprotect((void *)pg, 4096, PROT_READ);
    return 0;
}

int otp_unwfd_confine(void *handle)
{
    struct link_map *lm = NULL;
    if (!handle || dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !lm->l_ld)
        return -ENOENT;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Rela) *tabs[2] = {NULL, NULL};
    size_t sizes[2] = {0, 0};
    for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = (const ElfW(Sym) *)otp_dyn_ptr(lm->l_addr, d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = (const char *)otp_dyn_ptr(lm->l_addr, d->d_un.d_ptr); break;
        case DT_JMPREL: tabs[0] = (const ElfW(Rela) *)otp_dyn_ptr(lm->l_addr, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: sizes[0] = d->d_un.d_val; break;
        case DT_RELA: tabs[1] = (const ElfW(Rela) *)otp_dyn_ptr(lm->l_addr, d->d_un.d_ptr); break;
        case DT_RELASZ: sizes[1] = d->d_un.d_val; break;
        case DT_PLTREL:
            if (d->d_un.d_val != DT_RELA)
                return -ENOTSUP;
            break;
        default: break;
        }
    }
    if (!symtab || !strtab)
        return -ENOENT;
    struct relro r = {lm->l_addr, 0, 0};
    dl_iterate_phdr(find_relro, &r);
    int found = 0;
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; tabs[t] && i < sizes[t] / sizeof(ElfW(Rela)); i++) {
            const ElfW(Rela) *rel = &tabs[t][i];
            unsigned long type = ELF64_R_TYPE(rel->r_info);
            if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
                continue;
            const char *name = strtab + symtab[ELF64_R_SYM(rel->r_info)].st_name;
            for (size_t k = 0; k < sizeof stand_ins / sizeof *stand_ins; k++) {
                if (strcmp(name, stand_ins[k].name) != 0)
                    continue;
                int rc = patch((void **)(lm->l_addr + rel->r_offset), stand_ins[k].fn, &r);
                if (rc != 0)
                    return rc;
                found++;
            }
        }
    }
    return found ? 0 : -ENOENT;
}
