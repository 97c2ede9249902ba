/* SPDX-License-Identifier: MIT */
/*
 * The multiboot side of nestvmx-emu: a multiboot v1 kernel (an ELF32 image with a multiboot
 * header) booted on a minimal PC — RAM from physical 0, a 16550 on COM1, the exit port 0xF4,
 * QEMU's fw_cfg on 0x510/0x511 and a single-CPU xAPIC at 0xFEE00000. This is the environment
 * kvm-unit-tests' x86 binaries expect (docs/KVM-UNIT-TESTS.md).
 */
#ifndef NESTVMX_EMU_PC_H
#define NESTVMX_EMU_PC_H

#include "emu.h"

#define EMU_PC_MAX_MODULES 8u

/* What the command line asks of a multiboot boot. */
typedef struct emu_pc_options {
    const char *append;                      /* --append: the kernel's command line */
    const char *modules[EMU_PC_MAX_MODULES]; /* --module FILE, in order */
    unsigned module_count;
    bool feature_control_unlocked; /* --feature-control unlocked */
} emu_pc_options;

/* The devices' state (pc.c). */
typedef struct emu_pc {
    /* 16550 on COM1 */
    uint8_t uart_ier, uart_lcr, uart_mcr, uart_scratch, uart_dll, uart_dlm;
    /* fw_cfg: the selected item and the read position inside it */
    uint16_t fwcfg_key;
    uint32_t fwcfg_offset;
    uint32_t cpu_count;
    /* xAPIC: one 32-bit register per 16-byte slot of the 4 KiB page; IA32_APIC_BASE */
    uint32_t apic[256];
    uint64_t apic_base;
    bool feature_control_unlocked;
} emu_pc;

/* ---- memory.c: guest RAM. Reserved with mmap (MAP_NORESERVE): host memory is touched only
 * where the guest writes. In PC mode RAM above 3 GiB moves to 4 GiB (the PCI hole, where the
 * APIC page is). ---- */
bool emu_ram_create(emu *e);
bool emu_ram_map(emu *e);
void emu_ram_destroy(emu *e);
/* The host bytes of [gpa, gpa + len) of RAM, or NULL when any of it is not RAM. */
uint8_t *emu_ram_at(emu *e, uint64_t gpa, uint64_t len);

/* ---- multiboot.c ---- */
/* True when the file is an ELF32 image with a valid multiboot v1 header (the multiboot path). */
bool emu_is_multiboot(const char *path);
/* Load the kernel and modules, write the multiboot information; prints what is wrong. */
bool emu_multiboot_load(emu *e, const char *path, const emu_pc_options *options, uint64_t *entry);
/* The CPU at the kernel's entry (multiboot spec 3.2): 32-bit protected mode, paging off. */
bool emu_multiboot_reset(emu *e, uint64_t entry);

/* ---- pc.c ---- */
bool emu_pc_create(emu *e, const emu_pc_options *options);
/* The VM's configuration as the PC's firmware leaves it (IA32_FEATURE_CONTROL). */
void emu_pc_config(const emu *e, nvmx_vm_config *config);
void emu_pc_destroy(emu *e);
/* Ports: true when handled (in: *value set); emu_pc_out sets e->stop for the exit port. */
bool emu_pc_in(emu *e, unsigned port, int size, uint32_t *value);
bool emu_pc_out(emu *e, unsigned port, uint32_t value);
/* IA32_APIC_BASE: true when the index is the PC's; *ok false means #GP. */
bool emu_pc_msr_read(emu *e, uint32_t index, uint64_t *value);
bool emu_pc_msr_write(emu *e, uint32_t index, uint64_t value, bool *ok);
/* CPUID as the PC's CPU has it (an on-chip APIC), after the contract's emu_cpuid. */
void emu_pc_cpuid(const emu *e, uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);
/* Map the xAPIC page (after the RAM). */
bool emu_pc_map_devices(emu *e);

/* ---- events32.c ---- */
/* L1 runs in 32-bit protected mode (EFER.LMA clear, CR0.PE set). */
bool emu_l1_in_legacy_protected_mode(emu *e);
/* Deliver an exception through L1's 32-bit IDT; false: not deliverable (a triple fault). */
bool emu_deliver_exception32(emu *e, const nvmx_exception *x);

#endif
