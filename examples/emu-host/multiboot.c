/* SPDX-License-Identifier: MIT */
/*
 * Multiboot v1 (the Multiboot Specification 0.6.96): an ELF32 kernel with a multiboot header in
 * its first 8 KiB is loaded by its program headers, modules follow it page-aligned, and the
 * multiboot information (MBI) describes memory, the command line and the modules. The kernel
 * starts in 32-bit protected mode with paging off (spec 3.2).
 *
 * Unicorn's x86-64 engine (UC_MODE_64) starts in long mode and loads only selectors through
 * uc_reg_write (emulators.md, pitfall 7), so the host cannot write a 32-bit state directly. It
 * boots the contract's 64-bit state instead and runs a small stub below 1 MiB that leaves long
 * mode the architectural way (SDM Vol. 3A 10.8.5 "IA-32e mode deactivation": a far return to
 * a 32-bit code segment, then CR0.PG = 0, then EFER.LME = 0) and jumps to the kernel.
 */
#include "pc.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MB_HEADER_MAGIC 0x1BADB002u
#define MB_BOOT_MAGIC 0x2BADB002u
#define MB_SEARCH_BYTES 8192u
/* Header flags (spec 3.1.2): 0 page-align modules, 1 memory information, 2 video mode (not
 * provided: a loader may ignore it), 16 address fields (a.out kludge: not supported, the ELF
 * program headers are used). Bits 3-15 unknown to a loader: it must refuse the kernel. */
#define MB_FLAGS_UNKNOWN_REQUIRED 0xFFF8u
/* MBI flags (spec 3.3) */
#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER_NAME (1u << 9)

/* The boot layout below 1 MiB (free for the kernel once it runs). */
#define STUB 0x7000u     /* the long mode -> protected mode stub */
#define STUB_GDT 0x7100u /* null, flat 32-bit code 0x08, flat 32-bit data 0x10 */
#define STUB_GDTR 0x7120u
#define MBI 0x8000u /* the MBI, then the memory map, module list and strings */
#define MBI_END 0x10000u
#define LOW_RAM_END 0x9FC00u /* conventional memory as a PC reports it (639 KiB) */
#define BIOS_AREA_END 0x100000u
#define PAGE 4096u

/* A whole file in memory. */
typedef struct blob {
    uint8_t *bytes;
    size_t size;
} blob;

static bool read_blob(const char *path, blob *b)
{
    *b = (blob){0};
    FILE *in = fopen(path, "rb");
    if (!in) {
        fprintf(stderr, "nestvmx-emu: cannot open %s: %s\n", path, strerror(errno));
        return false;
    }
    long size = fseek(in, 0, SEEK_END) == 0 ? ftell(in) : -1;
    bool ok = size >= 0 && fseek(in, 0, SEEK_SET) == 0;
    if (ok) {
        b->size = (size_t)size;
        b->bytes = malloc(b->size ? b->size : 1);
        ok = b->bytes && fread(b->bytes, 1, b->size, in) == b->size;
    }
    fclose(in);
    if (!ok)
        fprintf(stderr, "nestvmx-emu: cannot read %s\n", path);
    return ok;
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The multiboot header (spec 3.1.1): 4-byte aligned in the first 8 KiB, magic, flags, and a
 * checksum making the three sum to 0. Returns its flags, or -1. */
static int64_t find_header(const blob *b)
{
    size_t end = b->size < MB_SEARCH_BYTES ? b->size : MB_SEARCH_BYTES;
    for (size_t off = 0; off + 12 <= end; off += 4) {
        uint32_t magic = get32(b->bytes + off), flags = get32(b->bytes + off + 4);
        if (magic == MB_HEADER_MAGIC && magic + flags + get32(b->bytes + off + 8) == 0)
            return flags;
    }
    return -1;
}

static bool is_elf32(const blob *b)
{
    return b->size >= sizeof(Elf32_Ehdr) && memcmp(b->bytes, ELFMAG, SELFMAG) == 0 &&
           b->bytes[EI_CLASS] == ELFCLASS32;
}

bool emu_is_multiboot(const char *path)
{
    FILE *probe = fopen(path, "rb"); /* a missing file: the ELF64 loader says so */
    if (!probe)
        return false;
    fclose(probe);
    blob b;
    bool yes = read_blob(path, &b) && is_elf32(&b) && find_header(&b) >= 0;
    free(b.bytes);
    return yes;
}

static bool bad_kernel(const char *path, const char *what)
{
    fprintf(stderr, "nestvmx-emu: %s: not a valid multiboot kernel: %s\n", path, what);
    return false;
}

/* The PT_LOAD segments at their physical addresses (at or above 1 MiB, inside RAM; the boot
 * layout below 1 MiB is the host's), BSS zeroed. *end: the first byte after the highest. */
static bool load_kernel(emu *e, const char *path, const blob *b, uint64_t *entry, uint64_t *end)
{
    Elf32_Ehdr h;
    memcpy(&h, b->bytes, sizeof(h));
    if (h.e_ident[EI_DATA] != ELFDATA2LSB || h.e_machine != EM_386 || h.e_type != ET_EXEC)
        return bad_kernel(path, "not a little-endian i386 executable (ET_EXEC, EM_386)");
    if (h.e_phentsize != sizeof(Elf32_Phdr) || h.e_phnum == 0 || h.e_phoff > b->size ||
        (b->size - h.e_phoff) / sizeof(Elf32_Phdr) < h.e_phnum)
        return bad_kernel(path, "no program headers inside the file");
    bool entry_loaded = false;
    *end = BIOS_AREA_END;
    for (unsigned i = 0; i < h.e_phnum; i++) {
        Elf32_Phdr p;
        memcpy(&p, b->bytes + h.e_phoff + i * sizeof(p), sizeof(p));
        if (p.p_type != PT_LOAD || p.p_memsz == 0)
            continue;
        uint8_t *dst = emu_ram_at(e, p.p_paddr, p.p_memsz);
        if (p.p_offset > b->size || p.p_filesz > b->size - p.p_offset || p.p_filesz > p.p_memsz)
            return bad_kernel(path, "a PT_LOAD segment's bytes lie outside the file");
        if (p.p_paddr < BIOS_AREA_END || !dst) {
            char what[128];
            snprintf(what, sizeof(what), "PT_LOAD segment %#x-%#llx is below 1 MiB or outside RAM",
                     p.p_paddr, (unsigned long long)p.p_paddr + p.p_memsz);
            return bad_kernel(path, what);
        }
        memcpy(dst, b->bytes + p.p_offset, p.p_filesz);
        memset(dst + p.p_filesz, 0, p.p_memsz - p.p_filesz);
        entry_loaded |= h.e_entry >= p.p_paddr && h.e_entry - p.p_paddr < p.p_memsz;
        if ((uint64_t)p.p_paddr + p.p_memsz > *end)
            *end = (uint64_t)p.p_paddr + p.p_memsz;
    }
    if (!entry_loaded)
        return bad_kernel(path, "the entry point is not inside a PT_LOAD segment");
    *entry = h.e_entry;
    return true;
}

/* A bump allocator over the MBI area. */
typedef struct mbi_area {
    emu *e;
    uint32_t next;
} mbi_area;

static uint32_t mbi_put(mbi_area *a, const void *data, uint32_t size)
{
    uint32_t at = (a->next + 3) & ~3u;
    if (at + size > MBI_END)
        return 0;
    memcpy(a->e->ram + at, data, size);
    a->next = at + size;
    return at;
}

static uint32_t mbi_string(mbi_area *a, const char *s)
{
    return mbi_put(a, s, (uint32_t)strlen(s) + 1);
}

/* The memory map (spec 3.3: size, base, length, type; size excludes itself). */
static uint32_t put_memory_map(mbi_area *a, uint32_t *length)
{
    struct __attribute__((packed)) entry {
        uint32_t size;
        uint64_t base, length;
        uint32_t type;
    } map[4] = {
        {20, 0, LOW_RAM_END, 1},
        {20, LOW_RAM_END, BIOS_AREA_END - LOW_RAM_END, 2},
        {20, BIOS_AREA_END, a->e->ram_low - BIOS_AREA_END, 1},
        {20, 0x100000000ull, a->e->ram_size - a->e->ram_low, 1},
    };
    unsigned n = a->e->ram_size > a->e->ram_low ? 4 : 3;
    *length = (uint32_t)(n * sizeof(map[0]));
    return mbi_put(a, map, *length);
}

/* Modules: page-aligned after the kernel (spec 3.3), each with its file name as its string. */
static bool load_modules(mbi_area *a, const emu_pc_options *o, uint64_t end, uint32_t *list)
{
    uint32_t mods[EMU_PC_MAX_MODULES][4] = {{0}};
    uint64_t at = (end + PAGE - 1) & ~(uint64_t)(PAGE - 1);
    for (unsigned i = 0; i < o->module_count; i++) {
        blob b;
        if (!read_blob(o->modules[i], &b)) {
            free(b.bytes);
            return false;
        }
        uint8_t *dst = at + b.size <= a->e->ram_low ? emu_ram_at(a->e, at, b.size) : NULL;
        if (dst)
            memcpy(dst, b.bytes, b.size);
        free(b.bytes);
        if (!dst) {
            fprintf(stderr, "nestvmx-emu: module %s does not fit in RAM below 3 GiB\n",
                    o->modules[i]);
            return false;
        }
        mods[i][0] = (uint32_t)at;
        mods[i][1] = (uint32_t)(at + b.size);
        mods[i][2] = mbi_string(a, o->modules[i]);
        at = (at + b.size + PAGE - 1) & ~(uint64_t)(PAGE - 1);
    }
    *list = o->module_count ? mbi_put(a, mods, o->module_count * 16) : 0;
    return !o->module_count || *list;
}

bool emu_multiboot_load(emu *e, const char *path, const emu_pc_options *options, uint64_t *entry)
{
    blob b;
    if (!read_blob(path, &b)) {
        free(b.bytes);
        return false;
    }
    int64_t flags = find_header(&b);
    uint64_t end = 0;
    bool ok = flags >= 0 && !(flags & MB_FLAGS_UNKNOWN_REQUIRED);
    if (!ok)
        bad_kernel(path, "the multiboot header requires features this loader does not know");
    ok = ok && load_kernel(e, path, &b, entry, &end);
    free(b.bytes);
    if (!ok)
        return false;
    /* The MBI proper first (its address goes in EBX), then what it points to. */
    mbi_area a = {.e = e, .next = MBI + 120};
    uint32_t mbi[30] = {0};
    mbi[0] = MBI_MEM | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME;
    mbi[1] = LOW_RAM_END / 1024;                              /* mem_lower, KiB from 0 */
    mbi[2] = (uint32_t)((e->ram_low - BIOS_AREA_END) / 1024); /* mem_upper, KiB from 1 MiB */
    /* QEMU's convention: the command line starts with the kernel's name. */
    char cmdline[2048];
    int n = snprintf(cmdline, sizeof(cmdline), "%s%s%s", path, options->append ? " " : "",
                     options->append ? options->append : "");
    mbi[4] = n >= 0 && (size_t)n < sizeof(cmdline) ? mbi_string(&a, cmdline) : 0;
    mbi[5] = options->module_count;
    mbi[12] = put_memory_map(&a, &mbi[11]);
    mbi[16] = mbi_string(&a, "nestvmx-emu");
    ok = mbi[4] && mbi[12] && mbi[16] && load_modules(&a, options, end, &mbi[6]);
    if (!ok) {
        fprintf(stderr, "nestvmx-emu: the command line, modules or memory map do not fit the "
                        "multiboot information area (or a module could not be loaded)\n");
        return false;
    }
    memcpy(e->ram + MBI, mbi, sizeof(mbi));
    return true;
}

/* The stub, 64-bit part at STUB: lgdt [STUB_GDTR]; push 0x08; push STUB+0x40; lretq. */
static const uint8_t stub64[] = {0x0F, 0x01, 0x14, 0x25, 0x20, 0x71, 0x00, 0x00, 0x6A,
                                 0x08, 0x68, 0x40, 0x70, 0x00, 0x00, 0x48, 0xCB};
/* 32-bit part at STUB + 0x40 (compatibility mode, then protected mode): CR0.PG = 0 (EFER.LMA
 * clears); EFER = 0; CR4 = CR3 = 0; DS/ES/FS/GS/SS = 0x10; ECX EDX ESI EDI EBP ESP = 0;
 * EAX = 0x2BADB002; EBX = MBI; ljmp 0x08:entry (the last 6 bytes are patched). */
static const uint8_t stub32[] = {
    0x0F, 0x20, 0xC0, 0x25, 0xFF, 0xFF, 0xFF, 0x7F, 0x0F, 0x22, 0xC0, 0xB9, 0x80, 0x00, 0x00,
    0xC0, 0x31, 0xC0, 0x31, 0xD2, 0x0F, 0x30, 0x0F, 0x22, 0xE0, 0x0F, 0x22, 0xD8, 0xB8, 0x10,
    0x00, 0x00, 0x00, 0x8E, 0xD8, 0x8E, 0xC0, 0x8E, 0xE0, 0x8E, 0xE8, 0x8E, 0xD0, 0x31, 0xC9,
    0x31, 0xD2, 0x31, 0xF6, 0x31, 0xFF, 0x31, 0xED, 0x31, 0xE4, 0xB8, 0x02, 0xB0, 0xAD, 0x2B,
    0xBB, 0x00, 0x80, 0x00, 0x00, 0xEA, 0,    0,    0,    0,    0x08, 0x00};
/* Flat 4 GiB code (execute/read, accessed) and data (read/write, accessed) descriptors. */
static const uint64_t gdt32[] = {0, 0x00CF9B000000FFFFull, 0x00CF93000000FFFFull};

bool emu_multiboot_reset(emu *e, uint64_t entry)
{
    _Static_assert(MBI == 0x8000u, "stub32 loads EBX = 0x8000");
    uint8_t code[sizeof(stub32)];
    memcpy(code, stub32, sizeof(code));
    uint32_t target = (uint32_t)entry;
    memcpy(code + sizeof(code) - 6, &target, 4);
    memcpy(e->ram + STUB, stub64, sizeof(stub64));
    memcpy(e->ram + STUB + 0x40, code, sizeof(code));
    memcpy(e->ram + STUB_GDT, gdt32, sizeof(gdt32));
    uint16_t limit = sizeof(gdt32) - 1;
    uint64_t base = STUB_GDT;
    memcpy(e->ram + STUB_GDTR, &limit, 2);
    memcpy(e->ram + STUB_GDTR + 2, &base, 8);
    return emu_cpu_reset(e, STUB);
}
