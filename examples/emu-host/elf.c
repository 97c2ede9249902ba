/* SPDX-License-Identifier: MIT */
/* Loading an L1 image: a static ELF64 x86-64 executable whose PT_LOAD segments go to their
 * physical addresses (p_paddr), at or above 1 MiB and inside guest memory. */
#include "emu.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A whole file in memory. */
typedef struct file_data {
    const char *path;
    uint8_t *bytes;
    size_t size;
} file_data;

static bool bad_image(const file_data *f, const char *what)
{
    fprintf(stderr, "nestvmx-emu: %s: not a valid L1 image: %s\n", f->path, what);
    return false;
}

static bool read_file(const char *path, file_data *f)
{
    *f = (file_data){.path = path};
    FILE *in = fopen(path, "rb");
    if (!in) {
        fprintf(stderr, "nestvmx-emu: cannot open %s: %s\n", path, strerror(errno));
        return false;
    }
    bool ok = fseek(in, 0, SEEK_END) == 0;
    long size = ok ? ftell(in) : -1;
    ok = size >= 0 && fseek(in, 0, SEEK_SET) == 0;
    if (ok) {
        f->size = (size_t)size;
        f->bytes = malloc(f->size ? f->size : 1);
        ok = f->bytes && fread(f->bytes, 1, f->size, in) == f->size;
    }
    fclose(in);
    if (!ok)
        fprintf(stderr, "nestvmx-emu: cannot read %s\n", path);
    return ok;
}

static bool check_header(const file_data *f, const Elf64_Ehdr *h)
{
    if (f->size < sizeof(*h) || memcmp(h->e_ident, ELFMAG, SELFMAG) != 0)
        return bad_image(f, "no ELF magic (expected a static ELF64 x86-64 executable)");
    if (h->e_ident[EI_CLASS] != ELFCLASS64)
        return bad_image(f, "not ELF64 (EI_CLASS is not ELFCLASS64)");
    if (h->e_ident[EI_DATA] != ELFDATA2LSB)
        return bad_image(f, "not little-endian");
    if (h->e_machine != EM_X86_64)
        return bad_image(f, "e_machine is not x86-64");
    if (h->e_type != ET_EXEC)
        return bad_image(f, "not an executable (e_type is not ET_EXEC; link it -static)");
    if (h->e_phentsize != sizeof(Elf64_Phdr) || h->e_phnum == 0)
        return bad_image(f, "no program headers");
    if (h->e_phoff > f->size || (f->size - h->e_phoff) / sizeof(Elf64_Phdr) < h->e_phnum)
        return bad_image(f, "program headers lie outside the file");
    return true;
}

/* One PT_LOAD segment: inside the file, at or above 1 MiB, inside guest memory. */
static bool check_segment(const file_data *f, const Elf64_Phdr *p, uint64_t ram_size)
{
    char what[160];
    if (p->p_offset > f->size || p->p_filesz > f->size - p->p_offset)
        return bad_image(f, "a PT_LOAD segment's bytes lie outside the file");
    if (p->p_filesz > p->p_memsz)
        return bad_image(f, "a PT_LOAD segment has p_filesz > p_memsz");
    if (p->p_paddr < EMU_IMAGE_MIN_ADDRESS) {
        snprintf(what, sizeof(what), "PT_LOAD segment at %#llx is below 1 MiB (reserved)",
                 (unsigned long long)p->p_paddr);
        return bad_image(f, what);
    }
    if (p->p_paddr > ram_size || p->p_memsz > ram_size - p->p_paddr) {
        snprintf(what, sizeof(what),
                 "PT_LOAD segment %#llx-%#llx does not fit in guest memory (%llu MiB, --mem)",
                 (unsigned long long)p->p_paddr, (unsigned long long)(p->p_paddr + p->p_memsz),
                 (unsigned long long)(ram_size / EMU_MIB));
        return bad_image(f, what);
    }
    return true;
}

static bool load_segments(const file_data *f, const Elf64_Ehdr *h, uint8_t *ram, uint64_t ram_size)
{
    bool entry_loaded = false;
    unsigned loads = 0;
    for (unsigned i = 0; i < h->e_phnum; i++) {
        Elf64_Phdr p;
        memcpy(&p, f->bytes + h->e_phoff + i * sizeof(p), sizeof(p));
        if (p.p_type != PT_LOAD)
            continue;
        if (!check_segment(f, &p, ram_size))
            return false;
        memcpy(ram + p.p_paddr, f->bytes + p.p_offset, p.p_filesz);
        memset(ram + p.p_paddr + p.p_filesz, 0, p.p_memsz - p.p_filesz);
        loads++;
        /* L1 starts with identity paging: its entry is a physical address too. */
        entry_loaded |= h->e_entry >= p.p_paddr && h->e_entry - p.p_paddr < p.p_memsz;
    }
    if (loads == 0)
        return bad_image(f, "no PT_LOAD segment");
    if (!entry_loaded)
        return bad_image(f, "the entry point (e_entry) is not inside a PT_LOAD segment");
    return true;
}

bool emu_load_elf(const char *path, uint8_t *ram, uint64_t ram_size, uint64_t *entry)
{
    file_data f;
    if (!read_file(path, &f)) {
        free(f.bytes);
        return false;
    }
    Elf64_Ehdr h = {0};
    memcpy(&h, f.bytes, f.size < sizeof(h) ? f.size : sizeof(h));
    bool ok = check_header(&f, &h) && load_segments(&f, &h, ram, ram_size);
    *entry = h.e_entry;
    free(f.bytes);
    return ok;
}
