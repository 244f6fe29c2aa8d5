/*
 * Reads the x86-64 call-frame information of loaded objects (DWARF CFI
 * in .eh_frame, found through .eh_frame_hdr's sorted table), as the
 * System V x86-64 psABI and the LSB describe it. Everything read is
 * bounded by the lengths the data gives and by fixed limits, so a
 * malformed table ends in OTP_CFI_OTHER, never a wild read beyond the
 * object's own records.
 */
#include "cfi.h"

#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Pointer encodings (DW_EH_PE_*). */
#define PE_ABS 0x00
#define PE_ULEB 0x01
#define PE_U2 0x02
#define PE_U4 0x03
#define PE_U8 0x04
#define PE_SLEB 0x09
#define PE_S2 0x0a
#define PE_S4 0x0b
#define PE_S8 0x0c
#define PE_PCREL 0x10
#define PE_DATAREL 0x30
#define PE_OMIT 0xff

/* DWARF register numbers. */
#define R_RBP 6
#define R_RSP 7
#define R_RA 16

/* Instructions executed for one lookup: a bound on the signal handler's
 * time (~10k ops, some tens of us, once per PC: the shapes are cached).
 * GCC's generated recognisers are single functions of hundreds of KiB
 * (cc1's largest FDE holds 6678 rows, ~13k instructions); at 4096 such a
 * frame stopped the walk and brought in libunwind. */
#define MAX_OPS 16384
#define MAX_REMEMBER 8 /* DW_CFA_remember_state depth */

typedef struct cur {
    const uint8_t *p, *end;
    bool bad;
} cur_t;

static uint8_t u8(cur_t *c)
{
    if (c->p >= c->end) {
        c->bad = true;
        return 0;
    }
    return *c->p++;
}

static uint64_t fixed(cur_t *c, size_t n)
{
    if ((size_t)(c->end - c->p) < n) {
        c->bad = true;
        c->p = c->end;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, c->p, n); /* little-endian */
    c->p += n;
    return v;
}

static uint64_t uleb(cur_t *c)
{
    uint64_t v = 0;
    for (unsigned s = 0; s < 64; s += 7) {
        uint8_t b = u8(c);
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80))
            return v;
    }
    c->bad = true;
    return v;
}

static int64_t sleb(cur_t *c)
{
    uint64_t v = 0;
    unsigned s = 0;
    uint8_t b;
    do {
        b = u8(c);
        if (s < 64)
            v |= (uint64_t)(b & 0x7f) << s;
        s += 7;
    } while ((b & 0x80) && !c->bad && s < 70);
    if (s < 64 && (b & 0x40))
        v |= ~(uint64_t)0 << s;
    return (int64_t)v;
}

/* An encoded pointer. `datarel` is the base of DW_EH_PE_datarel (the
 * .eh_frame_hdr section); indirect pointers are never followed (only the
 * personality routine's is, and that is skipped). */
static uint64_t enc_ptr(cur_t *c, uint8_t enc, uintptr_t datarel)
{
    uintptr_t at = (uintptr_t)c->p;
    uint64_t v;
    switch (enc & 0x0f) {
    case PE_ABS:
    case PE_U8:
    case PE_S8: v = fixed(c, 8); break;
    case PE_U4: v = fixed(c, 4); break;
    case PE_S4: v = (uint64_t)(int64_t)(int32_t)fixed(c, 4); break;
    case PE_U2: v = fixed(c, 2); break;
    case PE_S2: v = (uint64_t)(int64_t)(int16_t)fixed(c, 2); break;
    case PE_ULEB: v = uleb(c); break;
    case PE_SLEB: v = (uint64_t)sleb(c); break;
    default: c->bad = true; return 0;
    }
    switch (enc & 0x70) {
    case 0: break;
    case PE_PCREL: v += at; break;
    case PE_DATAREL: v += datarel; break;
    default: c->bad = true;
    }
    return v;
}

/* The rules this reader tracks: the CFA, rbp's and the return address's. */
typedef struct rules {
    int cfa_reg;
    int64_t cfa_off;
    bool cfa_expr; /* the CFA is an expression: only the PLT's is known */
    int plt_k;
    int rbp_how, ra_how; /* HOW_* */
    int64_t rbp_off, ra_off;
} rules_t;

enum { HOW_SAME = 0, HOW_OFFSET, HOW_UNDEF, HOW_OTHER };

typedef struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_enc;
    bool has_z, signal;
    const uint8_t *insns, *end;
} cie_t;

/* The PLT's CFA expression as the GNU linkers write it: rsp + 8, plus 8
 * once the entry has pushed its index (from byte k of its 16):
 * breg7 8; breg16 0; lit15; and; lit<k>; ge; lit3; shl; plus. */
static int plt_expr(const uint8_t *e, uint64_t n)
{
    static const uint8_t head[] = {0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a};
    static const uint8_t tail[] = {0x2a, 0x33, 0x24, 0x22};
    if (n != sizeof head + 1 + sizeof tail || memcmp(e, head, sizeof head) != 0 ||
        memcmp(e + sizeof head + 1, tail, sizeof tail) != 0)
        return -1;
    uint8_t lit = e[sizeof head];
    return lit >= 0x30 && lit <= 0x4f ? lit - 0x30 : -1;
}

static void set_reg(rules_t *r, uint64_t reg, int how, int64_t off)
{
    if (reg == R_RBP) {
        r->rbp_how = how;
        r->rbp_off = off;
    } else if (reg == R_RA) {
        r->ra_how = how;
        r->ra_off = off;
    }
}

static void restore_reg(rules_t *r, const rules_t *init, uint64_t reg)
{
    if (reg == R_RBP) {
        r->rbp_how = init->rbp_how;
        r->rbp_off = init->rbp_off;
    } else if (reg == R_RA) {
        r->ra_how = init->ra_how;
        r->ra_off = init->ra_off;
    }
}

/* Runs instructions [c->p, c->end) from location `loc` while the
 * location is at most `pc` (pc == UINTPTR_MAX: all of them). `init` is
 * the CIE's state (for DW_CFA_restore), NULL while running the CIE's. */
static bool run(cur_t *c, const cie_t *cie, uintptr_t loc, uintptr_t pc, rules_t *r, const rules_t *init)
{
    rules_t stack[MAX_REMEMBER];
    int depth = 0;
    for (int ops = 0; c->p < c->end && !c->bad; ops++) {
        if (ops >= MAX_OPS)
            return false;
        uint8_t op = u8(c);
        uint64_t reg, n;
        uint64_t adv = 0;
        switch (op & 0xc0) {
        case 0x40: adv = op & 0x3f; break;
        case 0x80:
            set_reg(r, op & 0x3f, HOW_OFFSET, (int64_t)uleb(c) * cie->data_align);
            continue;
        case 0xc0:
            if (init)
                restore_reg(r, init, op & 0x3f);
            continue;
        default: break;
        }
        if (!(op & 0xc0)) {
            switch (op) {
            case 0x00: continue; /* nop */
            case 0x01: return false; /* set_loc: not emitted by compilers */
            case 0x02: adv = fixed(c, 1); break;
            case 0x03: adv = fixed(c, 2); break;
            case 0x04: adv = fixed(c, 4); break;
            case 0x05: /* offset_extended */
                reg = uleb(c);
                set_reg(r, reg, HOW_OFFSET, (int64_t)uleb(c) * cie->data_align);
                continue;
            case 0x11: /* offset_extended_sf */
                reg = uleb(c);
                set_reg(r, reg, HOW_OFFSET, sleb(c) * cie->data_align);
                continue;
            case 0x06: /* restore_extended */
                reg = uleb(c);
                if (init)
                    restore_reg(r, init, reg);
                continue;
            case 0x07: set_reg(r, uleb(c), HOW_UNDEF, 0); continue;
            case 0x08: set_reg(r, uleb(c), HOW_SAME, 0); continue;
            case 0x09: /* register */
                reg = uleb(c);
                uleb(c);
                set_reg(r, reg, HOW_OTHER, 0);
                continue;
            case 0x0a:
                if (depth >= MAX_REMEMBER)
                    return false;
                stack[depth++] = *r;
                continue;
            case 0x0b:
                if (depth <= 0)
                    return false;
                *r = stack[--depth];
                continue;
            case 0x0c: /* def_cfa */
                r->cfa_reg = (int)uleb(c);
                r->cfa_off = (int64_t)uleb(c);
                r->cfa_expr = false;
                continue;
            case 0x12: /* def_cfa_sf */
                r->cfa_reg = (int)uleb(c);
                r->cfa_off = sleb(c) * cie->data_align;
                r->cfa_expr = false;
                continue;
            case 0x0d: r->cfa_reg = (int)uleb(c); r->cfa_expr = false; continue;
            case 0x0e: r->cfa_off = (int64_t)uleb(c); continue;
            case 0x13: r->cfa_off = sleb(c) * cie->data_align; continue;
            case 0x0f: /* def_cfa_expression */
                n = uleb(c);
                if (c->bad || n > (uint64_t)(c->end - c->p))
                    return false;
                r->cfa_expr = true;
                r->plt_k = plt_expr(c->p, n);
                c->p += n;
                continue;
            case 0x10: /* expression */
            case 0x16: /* val_expression */
                reg = uleb(c);
                n = uleb(c);
                if (c->bad || n > (uint64_t)(c->end - c->p))
                    return false;
                c->p += n;
                set_reg(r, reg, HOW_OTHER, 0);
                continue;
            case 0x14: /* val_offset */
                reg = uleb(c);
                uleb(c);
                set_reg(r, reg, HOW_OTHER, 0);
                continue;
            case 0x15: /* val_offset_sf */
                reg = uleb(c);
                sleb(c);
                set_reg(r, reg, HOW_OTHER, 0);
                continue;
            case 0x2e: uleb(c); continue; /* GNU_args_size */
            case 0x2f: /* GNU_negative_offset_extended */
                reg = uleb(c);
                set_reg(r, reg, HOW_OFFSET, -(int64_t)uleb(c) * cie->data_align);
                continue;
            default: return false;
            }
        }
        loc += adv * cie->code_align;
        if (loc > pc)
            return true;
    }
    return !c->bad;
}

static bool read_cie(const uint8_t *p, cie_t *cie)
{
    cur_t c = {p, p + 8, false};
    uint32_t len = (uint32_t)fixed(&c, 4);
    if (len == 0 || len == 0xffffffffu || fixed(&c, 4) != 0)
        return false;
    c.end = p + 4 + len;
    uint8_t ver = u8(&c);
    if (ver != 1 && ver != 3 && ver != 4)
        return false;
    const char *aug = (const char *)c.p;
    size_t alen = strnlen(aug, (size_t)(c.end - c.p));
    if (alen == (size_t)(c.end - c.p))
        return false;
    c.p += alen + 1;
    if (memchr(aug, 'e', alen)) /* "eh": a pre-standard GCC layout */
        return false;
    if (ver == 4) {
        if (u8(&c) != 8 || u8(&c) != 0) /* address size, segment size */
            return false;
    }
    cie->code_align = uleb(&c);
    cie->data_align = sleb(&c);
    uint64_t ra = ver == 1 ? u8(&c) : uleb(&c);
    if (ra != R_RA)
        return false;
    cie->fde_enc = PE_ABS;
    cie->signal = false;
    cie->has_z = alen > 0 && aug[0] == 'z';
    if (cie->has_z) {
        uint64_t n = uleb(&c);
        if (c.bad || n > (uint64_t)(c.end - c.p))
            return false;
        const uint8_t *after = c.p + n;
        for (size_t i = 1; i < alen; i++) {
            switch (aug[i]) {
            case 'R': cie->fde_enc = u8(&c); break;
            case 'L': u8(&c); break;
            case 'P': {
                uint8_t enc = u8(&c);
                enc_ptr(&c, (uint8_t)(enc & 0x7f), 0);
                break;
            }
            case 'S': cie->signal = true; break;
            case 'B': break;
            default: i = alen; break; /* the length says where it ends */
            }
        }
        c.p = after;
    } else if (alen > 0) {
        return false;
    }
    cie->insns = c.p;
    cie->end = c.end;
    return !c.bad;
}

/* The FDE that .eh_frame_hdr's table gives for pc, or NULL. */
static const uint8_t *find_fde(const uint8_t *hdr, uintptr_t pc)
{
    cur_t c = {hdr, hdr + 64, false};
    if (u8(&c) != 1)
        return NULL;
    uint8_t ptr_enc = u8(&c), count_enc = u8(&c), table_enc = u8(&c);
    if (table_enc != (PE_DATAREL | PE_S4) || count_enc == PE_OMIT || ptr_enc == PE_OMIT)
        return NULL;
    enc_ptr(&c, ptr_enc, (uintptr_t)hdr);
    uint64_t count = enc_ptr(&c, count_enc, (uintptr_t)hdr);
    if (c.bad || count == 0 || count > (1u << 26))
        return NULL;
    const int32_t *t = (const int32_t *)c.p;
    /* The last entry whose start is at or below pc. */
    uint64_t lo = 0, hi = count;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)hdr + (intptr_t)t[2 * mid] <= pc)
            lo = mid;
        else
            hi = mid;
    }
    if ((uintptr_t)hdr + (intptr_t)t[2 * lo] > pc)
        return NULL;
    return hdr + t[2 * lo + 1];
}

static int classify(const rules_t *r, bool signal, otp_cfi_t *out)
{
    memset(out, 0, sizeof *out);
    out->kind = OTP_CFI_OTHER;
    if (signal) {
        out->kind = OTP_CFI_SIGNAL;
        return 0;
    }
    if (r->ra_how == HOW_UNDEF) {
        out->kind = OTP_CFI_END;
        return 0;
    }
    if (r->ra_how != HOW_OFFSET || r->ra_off != -8)
        return 0;
    if (r->rbp_how != HOW_SAME && r->rbp_how != HOW_OFFSET)
        return 0;
    if (r->rbp_how == HOW_OFFSET && (r->rbp_off >= 0 || r->rbp_off < -32768))
        return 0;
    if (r->cfa_expr) {
        if (r->plt_k < 0 || r->rbp_how != HOW_SAME)
            return 0;
        out->kind = OTP_CFI_PLT;
        out->plt_k = r->plt_k;
        return 0;
    }
    if ((r->cfa_reg != R_RSP && r->cfa_reg != R_RBP) || r->cfa_off < 8 || r->cfa_off >= (1 << 23))
        return 0;
    out->kind = OTP_CFI_STEP;
    out->cfa_rbp = r->cfa_reg == R_RBP;
    out->cfa_off = (int32_t)r->cfa_off;
    out->rbp_off = r->rbp_how == HOW_OFFSET ? (int32_t)r->rbp_off : 0;
    return 0;
}

int otp_cfi_find(uintptr_t pc, otp_cfi_t *out)
{
    struct dl_find_object fo;
    if (_dl_find_object((void *)pc, &fo) != 0 || !fo.dlfo_eh_frame)
        return -1;
    const uint8_t *fde = find_fde(fo.dlfo_eh_frame, pc);
    if (!fde)
        return -1;
    memset(out, 0, sizeof *out);
    out->kind = OTP_CFI_OTHER;
    cur_t c = {fde, fde + 8, false};
    uint32_t len = (uint32_t)fixed(&c, 4);
    if (len == 0)
        return -1;
    if (len == 0xffffffffu)
        return 0;
    c.end = fde + 4 + len;
    uint32_t cie_off = (uint32_t)fixed(&c, 4);
    if (cie_off == 0)
        return 0;
    cie_t cie;
    if (!read_cie(fde + 4 - cie_off, &cie))
        return 0;
    uintptr_t begin = (uintptr_t)enc_ptr(&c, cie.fde_enc, 0);
    uint64_t range = enc_ptr(&c, (uint8_t)(cie.fde_enc & 0x0f), 0);
    if (c.bad)
        return 0;
    if (pc < begin || pc - begin >= range)
        return -1;
    if (cie.has_z) {
        uint64_t n = uleb(&c);
        if (c.bad || n > (uint64_t)(c.end - c.p))
            return 0;
        c.p += n;
    }
    rules_t r = {.cfa_reg = R_RSP, .cfa_off = 8, .plt_k = -1, .rbp_how = HOW_SAME, .ra_how = HOW_SAME};
    cur_t ci = {cie.insns, cie.end, false};
    if (!run(&ci, &cie, 0, UINTPTR_MAX, &r, NULL))
        return 0;
    rules_t init = r;
    if (!run(&c, &cie, begin, pc, &r, &init))
        return 0;
    return classify(&r, cie.signal, out);
}
