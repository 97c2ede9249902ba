/* SPDX-License-Identifier: MIT */
/*
 * nestvmx-emu: the software L0. It runs an L1 image (a static ELF64) on the Unicorn CPU
 * emulator (>= 2.1) in the L1 contract of docs/ARCHITECTURE.md and hands L1's VMX instructions
 * to libnestvmx.
 */
#ifndef NESTVMX_EMU_H
#define NESTVMX_EMU_H

#include <nestvmx/nestvmx.h>
#include <unicorn/unicorn.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses of the program itself; a guest's own status comes through port 0xF4. */
enum emu_status {
    EMU_STATUS_BAD_INPUT = 2,    /* usage, --mem or a malformed image */
    EMU_STATUS_TRIPLE_FAULT = 3, /* L1 shut down (triple fault, emulation error) */
    EMU_STATUS_HALTED = 4,       /* L1 halted and nothing can wake it */
    EMU_STATUS_L2_NOT_IMPL = 5,  /* L1 entered L2, which this version cannot run */
    EMU_STATUS_HOST_FAILURE = 6, /* Unicorn or libnestvmx failed */
};

#define EMU_MIB (1ull << 20)
#define EMU_IMAGE_MIN_ADDRESS EMU_MIB /* images load at or above 1 MiB */

/* The physical layout below 1 MiB that the host builds (the contract reserves it). */
#define EMU_GDT 0x800u
#define EMU_PML4 0x1000u
#define EMU_PDPT 0x2000u
#define EMU_PD 0x3000u /* four page directories: 0x3000-0x6FFF map 4 GiB with 2 MiB pages */
#define EMU_STACK_TOP 0x80000u
#define EMU_CODE_SELECTOR 0x08u
#define EMU_DATA_SELECTOR 0x10u

/* Why emulation stopped, as the hooks recorded it. */
typedef enum emu_stop {
    EMU_RUNNING = 0,
    EMU_STOP_EXIT,      /* port 0xF4 */
    EMU_STOP_EXCEPTION, /* an exception for L1 to take (pending_vector) */
    EMU_STOP_RUN_L2,    /* the library entered L2 */
    EMU_STOP_SHUTDOWN,  /* the library shut L1 down (VMX abort) */
    EMU_STOP_FAILURE,   /* the host failed (message printed) */
} emu_stop;

typedef struct emu {
    uc_engine *uc;
    uint8_t *ram;
    uint64_t ram_size;
    nvmx_vm *vm;
    nvmx_vcpu *vcpu;
    uint64_t *vmcs[2]; /* vmcs01 and vmcs02 as field stores (unused until L2 runs) */
    emu_stop stop;
    int exit_status;
    nvmx_exception pending; /* valid with EMU_STOP_EXCEPTION */
} emu;

/* elf.c: load a static ELF64 x86-64 image into RAM; prints what is wrong and returns false. */
bool emu_load_elf(const char *path, uint8_t *ram, uint64_t ram_size, uint64_t *entry);

/* cpu.c: the CPU as the contract describes it at L1's entry, and CPUID. */
bool emu_cpu_reset(emu *e, uint64_t entry);
void emu_cpuid(const emu *e, uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);
/* A segment register of L1 with its hidden part, from the selector and L1's GDT. */
void emu_segment(emu *e, nvmx_seg seg, nvmx_segment *out);

#endif
