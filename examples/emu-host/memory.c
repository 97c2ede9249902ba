/* SPDX-License-Identifier: MIT */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE */
/* Guest RAM: reserved, not committed, so --mem 4G costs only the pages the guest touches. */
#include "pc.h"

#include <stdio.h>
#include <sys/mman.h>

/* The PC's RAM below 4 GiB ends at 3 GiB: 0xC0000000-0xFFFFFFFF is the PCI hole with the
 * xAPIC page at 0xFEE00000; the rest of RAM starts at 4 GiB (as QEMU's pc machine does). */
#define PC_LOW_RAM_END 0xC0000000ull
#define PC_HIGH_RAM_BASE 0x100000000ull

bool emu_ram_create(emu *e)
{
    void *ram = mmap(NULL, e->ram_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) {
        fprintf(stderr, "nestvmx-emu: cannot reserve %llu MiB of guest memory\n",
                (unsigned long long)(e->ram_size / EMU_MIB));
        return false;
    }
    e->ram = ram;
    e->ram_low = e->pc && e->ram_size > PC_LOW_RAM_END ? PC_LOW_RAM_END : e->ram_size;
    return true;
}

bool emu_ram_map(emu *e)
{
    uc_err err = uc_mem_map_ptr(e->uc, 0, e->ram_low, UC_PROT_ALL, e->ram);
    if (!err && e->ram_size > e->ram_low)
        err = uc_mem_map_ptr(e->uc, PC_HIGH_RAM_BASE, e->ram_size - e->ram_low, UC_PROT_ALL,
                             e->ram + e->ram_low);
    if (err)
        fprintf(stderr, "nestvmx-emu: Unicorn: %s\n", uc_strerror(err));
    return !err;
}

void emu_ram_destroy(emu *e)
{
    if (e->ram)
        munmap(e->ram, e->ram_size);
    e->ram = NULL;
}

uint8_t *emu_ram_at(emu *e, uint64_t gpa, uint64_t len)
{
    if (gpa <= e->ram_low && len <= e->ram_low - gpa)
        return e->ram + gpa;
    uint64_t high = e->ram_size - e->ram_low;
    if (gpa >= PC_HIGH_RAM_BASE && gpa - PC_HIGH_RAM_BASE <= high &&
        len <= high - (gpa - PC_HIGH_RAM_BASE))
        return e->ram + e->ram_low + (gpa - PC_HIGH_RAM_BASE);
    return NULL;
}
