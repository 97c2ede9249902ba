/* SPDX-License-Identifier: MIT */
/*
 * nestvmx-emu checkpoints. The file (README.md "Checkpoints"):
 *
 *   header   "NVMXEMU\0", u32 version (1), u32 section count, u64 bytes of the sections
 *   sections u32 type, u32 flags (0), u64 length, the bytes, zero padding to 8
 *   trailer  u32 CRC-32C (Castagnoli, reflected, as iSCSI) of everything before it
 *
 * All numbers little-endian. Every section of version 1 must be there once (PC only for a
 * multiboot PC); an unknown type is an error, as is any size that does not add up.
 *
 * What is saved: the options the machine was built with, L1 RAM (pages not all zero), Unicorn's
 * CPU context of the running guest (uc_context_save: registers with segment hidden parts, CRs,
 * EFER and the other MSRs Unicorn keeps, GDTR/IDTR, FPU/SSE), vmcs01 and vmcs02 as nestvmx-emu
 * stores them, the run loop's own state, the library's nested state (nvmx_vcpu_state_save) and
 * the VM's capabilities. EPT02 (the page pool) is not saved: the library rebuilds it.
 *
 * The Unicorn context is an opaque copy of Unicorn's CPU structure: it is only valid for the
 * same Unicorn build, so the file records its size and a restore with another size fails.
 */
#include "checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_MAGIC "NVMXEMU"
#define CKPT_VERSION 1u
#define CKPT_HEADER 24u
#define CKPT_SECTION_HEADER 16u
#define CKPT_PAGE 4096u
#define CKPT_RAM_RECORD (8u + CKPT_PAGE)

enum ckpt_section {
    CKPT_OPTIONS = 1, /* u64 RAM size, u64 flags (bit 0: PC), u64 VMCS fields, u64 context */
    CKPT_EMU = 2,     /* the run loop's state, u64s (save_emu) */
    CKPT_CPU = 3,     /* Unicorn's context */
    CKPT_VMCS01 = 4,  /* u64 per field, nvmx_vmcs_field_index order */
    CKPT_VMCS02 = 5,
    CKPT_NESTED = 6, /* nvmx_vcpu_state_save */
    CKPT_CAPS = 7,   /* nvmx_vm_get_caps, 20 u64 in struct order */
    CKPT_RAM = 8,    /* records: u64 offset in RAM, 4096 bytes */
    CKPT_PC = 9,     /* struct emu_pc (same build) */
    CKPT_SECTION_COUNT
};

#define CKPT_FLAG_PC 1u

/* ---- CRC-32C and little-endian helpers ---- */

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        table[i] = c;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        crc = (crc >> 8) ^ table[(crc ^ p[i]) & 0xFFu];
    return crc ^ 0xFFFFFFFFu;
}

static uint64_t get_le(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = bytes; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* ---- writing: a growing buffer ---- */

typedef struct out_buf {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} out_buf;

static uint8_t *out_reserve(out_buf *o, size_t n)
{
    if (o->failed)
        return NULL;
    if (n > SIZE_MAX / 2 - o->len) {
        o->failed = true;
        return NULL;
    }
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 1u << 16;
        while (cap < o->len + n)
            cap *= 2;
        uint8_t *p = realloc(o->p, cap);
        if (!p) {
            o->failed = true;
            return NULL;
        }
        o->p = p;
        o->cap = cap;
    }
    uint8_t *at = o->p + o->len;
    o->len += n;
    return at;
}

static void out_bytes(out_buf *o, const void *src, size_t n)
{
    uint8_t *at = out_reserve(o, n);
    if (at && n)
        memcpy(at, src, n);
}

static void out_le(out_buf *o, uint64_t v, unsigned bytes)
{
    uint8_t b[8];
    for (unsigned i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    out_bytes(o, b, bytes);
}

/* A section's header with its length still 0; section_end fills it in and pads. */
static size_t section_begin(out_buf *o, enum ckpt_section type)
{
    size_t at = o->len;
    out_le(o, type, 4);
    out_le(o, 0, 4);
    out_le(o, 0, 8);
    return at;
}

static void section_end(out_buf *o, size_t at)
{
    if (o->failed)
        return;
    uint64_t length = o->len - at - CKPT_SECTION_HEADER;
    for (unsigned i = 0; i < 8; i++)
        o->p[at + 8 + i] = (uint8_t)(length >> (8 * i));
    while (o->len % 8)
        out_le(o, 0, 1);
}

/* The run loop's state, in this order (restore_emu reads the same). */
static void save_emu(out_buf *o, const emu *e)
{
    out_le(o, e->events, 8);
    /* a stop inside a hook costs the restored run one restart the uninterrupted one has not */
    out_le(o, e->budget + (e->stop == EMU_STOP_CHECKPOINT ? EMU_TRAP_COST : 0), 8);
    out_le(o, e->in_l2, 8);
    out_le(o, e->l1_state_loaded, 8);
    out_le(o, e->l1_mov_ss_end, 8);
    out_le(o, e->l2_halted, 8);
    out_le(o, e->l2_ept, 8);
    out_le(o, e->vpid_next, 8);
    out_le(o, e->stats.l1_vmx, 8);
    out_le(o, e->stats.l1_msr, 8);
    out_le(o, e->stats.entries, 8);
    for (unsigned r = 0; r <= EMU_STATS_VMX_BUCKET; r++)
        for (unsigned k = 0; k < 3; k++)
            out_le(o, e->stats.l2_exits[r][k], 8);
    for (size_t i = 0; i < sizeof(e->vpid_used) / sizeof(e->vpid_used[0]); i++)
        out_le(o, e->vpid_used[i], 8);
}
#define CKPT_EMU_WORDS (11u + (EMU_STATS_VMX_BUCKET + 1u) * 3u + 65536u / 64u)

static bool page_is_zero(const uint8_t *p)
{
    static const uint8_t zero[CKPT_PAGE];
    return memcmp(p, zero, CKPT_PAGE) == 0;
}

static void save_ram(out_buf *o, const emu *e)
{
    for (uint64_t off = 0; off < e->ram_size; off += CKPT_PAGE)
        if (!page_is_zero(e->ram + off)) {
            out_le(o, off, 8);
            out_bytes(o, e->ram + off, CKPT_PAGE);
        }
}

static void save_vmcs(out_buf *o, const emu *e, nvmx_hw_vmcs which)
{
    for (size_t i = 0; i < nvmx_vmcs_field_count(); i++)
        out_le(o, e->vmcs[which][i], 8);
}

static bool save_nested(out_buf *o, emu *e)
{
    size_t size = 0, written = 0;
    if (nvmx_vcpu_state_size(e->vcpu, &size) != NVMX_OK)
        return false;
    uint8_t *at = out_reserve(o, size);
    return at && nvmx_vcpu_state_save(e->vcpu, at, size, &written) == NVMX_OK && written == size;
}

/* Unicorn's context is a small header of its own (sizes, mode; pointers in Unicorn 2.1) and
 * then the CPU's bytes; only those are saved. The header starts with the size of those bytes
 * (measured on Unicorn 2.1.4: a 40-byte header, then 5568 bytes): the one undocumented fact
 * this file relies on, checked on both sides. */
static size_t cpu_bytes_offset(uc_engine *uc, const uc_context *ctx)
{
    size_t total = uc_context_size(uc), cpu;
    memcpy(&cpu, ctx, sizeof(cpu));
    return cpu < total && total - cpu <= 256 ? total - cpu : 0;
}

static size_t cpu_bytes_size(uc_engine *uc)
{
    uc_context *ctx = NULL;
    if (uc_context_alloc(uc, &ctx) != UC_ERR_OK)
        return 0;
    size_t offset = uc_context_save(uc, ctx) == UC_ERR_OK ? cpu_bytes_offset(uc, ctx) : 0;
    uc_context_free(ctx);
    return offset ? uc_context_size(uc) - offset : 0;
}

static bool save_cpu(out_buf *o, emu *e)
{
    uc_context *ctx = NULL;
    if (uc_context_alloc(e->uc, &ctx) != UC_ERR_OK)
        return false;
    size_t offset = uc_context_save(e->uc, ctx) == UC_ERR_OK ? cpu_bytes_offset(e->uc, ctx) : 0;
    if (offset)
        out_bytes(o, (const uint8_t *)ctx + offset, uc_context_size(e->uc) - offset);
    uc_context_free(ctx);
    return offset != 0;
}

static bool build(out_buf *o, emu *e)
{
    out_bytes(o, CKPT_MAGIC, 8);
    out_le(o, CKPT_VERSION, 4);
    out_le(o, e->pc ? 9 : 8, 4);
    out_le(o, 0, 8); /* the sections' bytes, set below */
    size_t s = section_begin(o, CKPT_OPTIONS);
    out_le(o, e->ram_size, 8);
    out_le(o, e->pc ? CKPT_FLAG_PC : 0, 8);
    out_le(o, nvmx_vmcs_field_count(), 8);
    out_le(o, cpu_bytes_size(e->uc), 8);
    section_end(o, s);
    s = section_begin(o, CKPT_EMU);
    save_emu(o, e);
    section_end(o, s);
    s = section_begin(o, CKPT_CPU);
    bool ok = save_cpu(o, e);
    section_end(o, s);
    s = section_begin(o, CKPT_VMCS01);
    save_vmcs(o, e, NVMX_HW_VMCS01);
    section_end(o, s);
    s = section_begin(o, CKPT_VMCS02);
    save_vmcs(o, e, NVMX_HW_VMCS02);
    section_end(o, s);
    s = section_begin(o, CKPT_NESTED);
    ok = ok && save_nested(o, e);
    section_end(o, s);
    nvmx_vmx_caps caps;
    memset(&caps, 0, sizeof(caps));
    nvmx_vm_get_caps(e->vm, &caps);
    s = section_begin(o, CKPT_CAPS);
    out_bytes(o, &caps, sizeof(caps));
    section_end(o, s);
    s = section_begin(o, CKPT_RAM);
    save_ram(o, e);
    section_end(o, s);
    if (e->pc) {
        s = section_begin(o, CKPT_PC);
        out_bytes(o, e->pc, sizeof(*e->pc));
        section_end(o, s);
    }
    if (!ok || o->failed)
        return false;
    uint64_t sections = o->len - CKPT_HEADER;
    for (unsigned i = 0; i < 8; i++)
        o->p[16 + i] = (uint8_t)(sections >> (8 * i));
    out_le(o, crc32c(o->p, o->len), 4);
    return !o->failed;
}

static bool write_file(emu *e)
{
    out_buf o = {0};
    bool ok = build(&o, e);
    FILE *f = ok ? fopen(e->save_file, "wb") : NULL;
    ok = f && fwrite(o.p, 1, o.len, f) == o.len;
    if (f && fclose(f) != 0)
        ok = false;
    free(o.p);
    if (!ok)
        fprintf(stderr, "nestvmx-emu: cannot write the checkpoint %s\n", e->save_file);
    return ok;
}

void emu_checkpoint_note(emu *e)
{
    e->events++;
    if (e->save_file && e->events == e->save_at)
        e->stop = EMU_STOP_CHECKPOINT; /* the hook stops emulation */
}

int emu_checkpoint_event(emu *e)
{
    e->events++;
    return e->save_file && e->events == e->save_at ? emu_checkpoint_write(e) : -1;
}

int emu_checkpoint_write(emu *e)
{
    fflush(stdout);
    if (!write_file(e))
        return EMU_STATUS_HOST_FAILURE;
    fprintf(stderr, "nestvmx-emu: checkpoint written after event %" PRIu64 " (%s)\n", e->events,
            e->in_l2 ? "L2 runs" : "L1 runs");
    return 0;
}

void emu_checkpoint_finish(const emu *e)
{
    if (e->save_file && e->events < e->save_at)
        fprintf(stderr, "nestvmx-emu: the run ended after %" PRIu64 " events: no checkpoint\n",
                e->events);
}

/* ---- reading ---- */

static bool bad(const char *path, const char *why)
{
    fprintf(stderr, "nestvmx-emu: %s is not a usable checkpoint: %s\n", path, why);
    return false;
}

static bool read_all(const char *path, emu_checkpoint *c)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return bad(path, "cannot open it");
    size_t cap = 1u << 16, len = 0;
    uint8_t *p = malloc(cap);
    while (p) {
        len += fread(p + len, 1, cap - len, f);
        if (len < cap)
            break;
        uint8_t *q = cap <= SIZE_MAX / 2 ? realloc(p, cap * 2) : NULL;
        if (!q) {
            free(p);
            p = NULL;
            break;
        }
        p = q;
        cap *= 2;
    }
    bool error = ferror(f);
    fclose(f);
    if (!p || error) {
        free(p);
        return bad(path, "cannot read it");
    }
    c->data = p;
    c->size = len;
    return true;
}

static bool check_sections(const char *path, emu_checkpoint *c)
{
    uint32_t count = (uint32_t)get_le(c->data + 12, 4);
    size_t at = CKPT_HEADER, end = c->size - 4;
    for (uint32_t i = 0; i < count; i++) {
        if (end - at < CKPT_SECTION_HEADER)
            return bad(path, "a section runs past the end");
        uint32_t type = (uint32_t)get_le(c->data + at, 4);
        uint64_t length = get_le(c->data + at + 8, 8);
        at += CKPT_SECTION_HEADER;
        if (type == 0 || type >= CKPT_SECTION_COUNT || get_le(c->data + at - 12, 4) != 0)
            return bad(path, "unknown section type or flags");
        if (c->section[type])
            return bad(path, "a section appears twice");
        if (length > end - at || (length + 7) / 8 * 8 > end - at)
            return bad(path, "a section runs past the end");
        c->section[type] = c->data + at;
        c->length[type] = length;
        at += (size_t)(length + 7) / 8 * 8;
    }
    if (at != end)
        return bad(path, "bytes after the last section");
    return true;
}

static bool check_options(const char *path, emu_checkpoint *c, size_t context_size)
{
    for (unsigned t = CKPT_OPTIONS; t <= CKPT_RAM; t++)
        if (!c->section[t])
            return bad(path, "a section is missing");
    if (c->length[CKPT_OPTIONS] != 32)
        return bad(path, "the options section has the wrong size");
    const uint8_t *opt = c->section[CKPT_OPTIONS];
    c->ram_size = get_le(opt, 8);
    uint64_t flags = get_le(opt + 8, 8);
    c->pc = flags & CKPT_FLAG_PC;
    uint64_t fields = nvmx_vmcs_field_count();
    if (c->ram_size < 2 * EMU_MIB || c->ram_size > 4096 * EMU_MIB || c->ram_size % (2 * EMU_MIB))
        return bad(path, "the memory size is out of range");
    if ((flags & ~(uint64_t)CKPT_FLAG_PC) || c->pc != (c->section[CKPT_PC] != NULL) ||
        (c->pc && c->length[CKPT_PC] != sizeof(emu_pc)))
        return bad(path, "the PC flag and section do not match");
    if (get_le(opt + 16, 8) != fields || c->length[CKPT_VMCS01] != fields * 8 ||
        c->length[CKPT_VMCS02] != fields * 8)
        return bad(path, "the VMCS field count is not this build's");
    if (context_size == 0 || get_le(opt + 24, 8) != context_size ||
        c->length[CKPT_CPU] != context_size)
        return bad(path, "the CPU context is not this Unicorn build's");
    if (c->length[CKPT_EMU] != CKPT_EMU_WORDS * 8u)
        return bad(path, "the emulator section has the wrong size");
    if (c->length[CKPT_CAPS] != sizeof(nvmx_vmx_caps))
        return bad(path, "the capabilities section has the wrong size");
    return true;
}

static bool check_ram(const char *path, const emu_checkpoint *c)
{
    uint64_t length = c->length[CKPT_RAM];
    if (length % CKPT_RAM_RECORD)
        return bad(path, "the RAM section has the wrong size");
    uint64_t next = 0; /* offsets strictly increase: each page once */
    for (uint64_t at = 0; at < length; at += CKPT_RAM_RECORD) {
        uint64_t off = get_le(c->section[CKPT_RAM] + at, 8);
        if (off % CKPT_PAGE || off < next || off >= c->ram_size)
            return bad(path, "a RAM page is out of place");
        next = off + CKPT_PAGE;
    }
    return true;
}

/* The size of Unicorn's context in this build (a throwaway engine: the machine is not built). */
static size_t this_context_size(void)
{
    uc_engine *uc;
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK)
        return 0;
    size_t size = cpu_bytes_size(uc);
    uc_close(uc);
    return size;
}

bool emu_checkpoint_read(const char *path, emu_checkpoint *out)
{
    emu_checkpoint c;
    memset(&c, 0, sizeof(c));
    if (!read_all(path, &c))
        return false;
    bool ok = false;
    if (c.size < CKPT_HEADER + 4 || memcmp(c.data, CKPT_MAGIC, 8) != 0)
        bad(path, "no checkpoint magic (or truncated)");
    else if (get_le(c.data + 8, 4) != CKPT_VERSION)
        bad(path, "a version this nestvmx-emu cannot read");
    else if (get_le(c.data + 16, 8) != c.size - CKPT_HEADER - 4)
        bad(path, "truncated or extended (the length does not match)");
    else if (crc32c(c.data, c.size - 4) != (uint32_t)get_le(c.data + c.size - 4, 4))
        bad(path, "the CRC-32C does not match (corrupted)");
    else
        ok = check_sections(path, &c) && check_options(path, &c, this_context_size()) &&
             check_ram(path, &c) && emu_checkpoint_caps(&c, &(nvmx_vmx_caps){0});
    if (!ok) {
        free(c.data);
        return false;
    }
    *out = c;
    return true;
}

bool emu_checkpoint_caps(const emu_checkpoint *c, nvmx_vmx_caps *caps)
{
    if (nvmx_state_caps(c->section[CKPT_NESTED], c->length[CKPT_NESTED], caps) != NVMX_OK) {
        fprintf(stderr, "nestvmx-emu: the checkpoint's nested state is not a valid blob\n");
        return false;
    }
    return true;
}

bool emu_checkpoint_restore_pc(emu *e, const emu_checkpoint *c)
{
    if (!c->pc)
        return true;
    e->pc = calloc(1, sizeof(*e->pc));
    if (!e->pc)
        return false;
    memcpy(e->pc, c->section[CKPT_PC], sizeof(*e->pc));
    return true;
}

static void restore_emu(emu *e, const uint8_t *p)
{
    size_t i = 0;
#define NEXT() get_le(p + 8 * i++, 8)
    e->events = NEXT();
    e->budget = NEXT();
    e->in_l2 = NEXT() != 0;
    e->l1_state_loaded = NEXT() != 0;
    e->l1_mov_ss_end = NEXT();
    e->l2_halted = NEXT() != 0;
    e->l2_ept = NEXT() != 0;
    e->vpid_next = (unsigned)(NEXT() & 0xFFFFu);
    e->stats.l1_vmx = NEXT();
    e->stats.l1_msr = NEXT();
    e->stats.entries = NEXT();
    for (unsigned r = 0; r <= EMU_STATS_VMX_BUCKET; r++)
        for (unsigned k = 0; k < 3; k++)
            e->stats.l2_exits[r][k] = NEXT();
    for (size_t w = 0; w < sizeof(e->vpid_used) / sizeof(e->vpid_used[0]); w++)
        e->vpid_used[w] = NEXT();
#undef NEXT
}

static void restore_ram(emu *e, const emu_checkpoint *c)
{
    const uint8_t *p = c->section[CKPT_RAM];
    for (uint64_t at = 0; at < c->length[CKPT_RAM]; at += CKPT_RAM_RECORD)
        memcpy(e->ram + get_le(p + at, 8), p + at + 8, CKPT_PAGE);
}

static void restore_vmcs(emu *e, nvmx_hw_vmcs which, const uint8_t *p)
{
    for (size_t i = 0; i < nvmx_vmcs_field_count(); i++)
        e->vmcs[which][i] = get_le(p + 8 * i, 8);
}

static bool restore_cpu(emu *e, const emu_checkpoint *c)
{
    uc_context *ctx = NULL;
    if (uc_context_alloc(e->uc, &ctx) != UC_ERR_OK)
        return false;
    /* a context of this engine (its own header), with the saved CPU bytes after the header */
    size_t offset = uc_context_save(e->uc, ctx) == UC_ERR_OK ? cpu_bytes_offset(e->uc, ctx) : 0;
    bool ok = offset && uc_context_size(e->uc) - offset == c->length[CKPT_CPU];
    if (ok) {
        memcpy((uint8_t *)ctx + offset, c->section[CKPT_CPU], c->length[CKPT_CPU]);
        ok = uc_context_restore(e->uc, ctx) == UC_ERR_OK;
    }
    uc_context_free(ctx);
    return ok;
}

int emu_checkpoint_restore(emu *e, const emu_checkpoint *c)
{
    nvmx_vmx_caps caps, pinned;
    memset(&caps, 0, sizeof(caps));
    nvmx_vm_get_caps(e->vm, &caps);
    if (memcmp(&caps, c->section[CKPT_CAPS], sizeof(caps)) != 0 ||
        !emu_checkpoint_caps(c, &pinned) || memcmp(&caps, &pinned, sizeof(caps)) != 0) {
        fprintf(stderr, "nestvmx-emu: the checkpoint's capabilities are not the VM's\n");
        return EMU_STATUS_BAD_INPUT;
    }
    restore_ram(e, c);
    restore_vmcs(e, NVMX_HW_VMCS01, c->section[CKPT_VMCS01]);
    restore_vmcs(e, NVMX_HW_VMCS02, c->section[CKPT_VMCS02]);
    restore_emu(e, c->section[CKPT_EMU]);
    nvmx_status st =
        nvmx_vcpu_state_restore(e->vcpu, c->section[CKPT_NESTED], c->length[CKPT_NESTED]);
    if (st != NVMX_OK) {
        fprintf(stderr, "nestvmx-emu: libnestvmx refused the checkpoint's nested state: %s\n",
                nvmx_status_str(st));
        return EMU_STATUS_BAD_INPUT;
    }
    if (e->in_l2 != nvmx_vcpu_in_guest_mode(e->vcpu)) { /* the file disagrees with itself */
        fprintf(stderr, "nestvmx-emu: the checkpoint's run-loop state and nested state disagree "
                        "on whether L2 runs\n");
        return EMU_STATUS_BAD_INPUT;
    }
    /* While L2 runs the library rebuilt vmcs02 (its EPTP names this process's EPT02); while
     * L1 runs it builds vmcs02 anew at the next VM entry. */
    if (!restore_cpu(e, c) || !emu_l2_memory_mode(e)) {
        fprintf(stderr, "nestvmx-emu: Unicorn refused the checkpoint's CPU state\n");
        return EMU_STATUS_HOST_FAILURE;
    }
    return -1;
}

void emu_checkpoint_free(emu_checkpoint *c)
{
    free(c->data);
    c->data = NULL;
}
