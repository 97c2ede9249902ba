/* SPDX-License-Identifier: MIT */
/*
 * The minimal PC of a multiboot boot: COM1 as a 16550 that transmits at once, the exit port
 * 0xF4 (QEMU's isa-debug-exit; the status is the low byte of the value), QEMU's fw_cfg in its
 * I/O-port form, and a single-CPU xAPIC at 0xFEE00000 that has no interrupt sources: no timer
 * ticks, and IPIs are accepted and dropped (there is no other CPU to receive them, and this L0
 * does not deliver interrupts to itself).
 */
#include "pc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 16550 registers (offsets from 0x3F8); with LCR.DLAB the first two are the divisor latch. */
#define COM1 0x3F8u
#define UART_DATA 0
#define UART_IER 1
#define UART_IIR_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCRATCH 7
#define LCR_DLAB 0x80u
#define LSR_TX_EMPTY 0x60u  /* THRE | TEMT: every byte leaves at once */
#define IIR_NONE 0x01u      /* no interrupt pending */
#define MSR_CONNECTED 0xB0u /* DCD, DSR, CTS */
#define EXIT_PORT 0xF4u

/* fw_cfg (QEMU docs/specs/fw_cfg.rst): write a 16-bit key to the selector port, read the item
 * byte by byte from the data port; reads past the end or of absent items give 0. */
#define FWCFG_SELECTOR 0x510u
#define FWCFG_DATA 0x511u
#define FWCFG_SIGNATURE 0x00u
#define FWCFG_ID 0x01u
#define FWCFG_RAM_SIZE 0x03u
#define FWCFG_NB_CPUS 0x05u
#define FWCFG_MAX_CPUS 0x0Fu
#define FWCFG_MAX_RAM 0x11u /* kvm-unit-tests' key: the highest RAM address to use (0: none) */

/* xAPIC registers (SDM Vol. 3A 11.4.1, Table 11-1), byte offsets in the page. */
#define APIC_PAGE 0xFEE00000ull
#define APIC_ID 0x20u
#define APIC_LVR 0x30u
#define APIC_TPR 0x80u
#define APIC_APR 0x90u
#define APIC_PPR 0xA0u
#define APIC_EOI 0xB0u
#define APIC_LDR 0xD0u
#define APIC_DFR 0xE0u
#define APIC_SPIV 0xF0u
#define APIC_ISR 0x100u
#define APIC_ESR 0x280u
#define APIC_ICR_LOW 0x300u
#define APIC_ICR_HIGH 0x310u
#define APIC_LVT_TIMER 0x320u
#define APIC_LVT_ERROR 0x370u
#define APIC_TIMER_CURRENT 0x390u
#define APIC_TIMER_DIVIDE 0x3E0u
#define APIC_LVT_MASKED 0x10000u
/* Version 0x14 (an integrated APIC), 6 LVT entries (max LVT entry 5), 11.4.8 */
#define APIC_VERSION 0x00050014u
#define ICR_DELIVERY_PENDING (1u << 12)

/* IA32_APIC_BASE (SDM Vol. 3A 11.4.4): BSP flag 8, x2APIC enable 10, global enable 11, base
 * 12 up to MAXPHYADDR - 1. */
#define MSR_APIC_BASE 0x1Bu
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_EXTD (1ull << 10)
#define APIC_BASE_ENABLE (1ull << 11)
#define PC_MAXPHYADDR 46u /* as CPUID 0x80000008 reports (cpu.c) */

#define CPUID1_EDX_APIC (1u << 9)

/* ---- 16550 ---- */

static uint32_t uart_read(emu_pc *pc, unsigned reg)
{
    bool dlab = pc->uart_lcr & LCR_DLAB;
    switch (reg) {
    case UART_DATA:
        return dlab ? pc->uart_dll : 0; /* no input */
    case UART_IER:
        return dlab ? pc->uart_dlm : pc->uart_ier;
    case UART_IIR_FCR:
        return IIR_NONE;
    case UART_LCR:
        return pc->uart_lcr;
    case UART_MCR:
        return pc->uart_mcr;
    case UART_LSR:
        return LSR_TX_EMPTY;
    case UART_MSR:
        return MSR_CONNECTED;
    default:
        return pc->uart_scratch;
    }
}

static void uart_write(emu_pc *pc, unsigned reg, uint8_t value)
{
    bool dlab = pc->uart_lcr & LCR_DLAB;
    switch (reg) {
    case UART_DATA:
        if (dlab)
            pc->uart_dll = value;
        else
            putchar(value);
        break;
    case UART_IER:
        if (dlab)
            pc->uart_dlm = value;
        else
            pc->uart_ier = value & 0x0F;
        break;
    case UART_LCR:
        pc->uart_lcr = value;
        break;
    case UART_MCR:
        pc->uart_mcr = value & 0x1F;
        break;
    case UART_SCRATCH:
        pc->uart_scratch = value;
        break;
    default: /* FCR, LSR, MSR: nothing to keep */
        break;
    }
}

/* ---- fw_cfg ---- */

static uint64_t fwcfg_item(const emu *e, uint16_t key, uint32_t *size)
{
    *size = 8;
    switch (key) {
    case FWCFG_SIGNATURE:
        *size = 4;
        return 0x554D4551u; /* "QEMU" */
    case FWCFG_ID:
        *size = 4;
        return 1; /* the traditional interface only (no DMA) */
    case FWCFG_RAM_SIZE:
        return e->ram_size;
    case FWCFG_NB_CPUS:
    case FWCFG_MAX_CPUS:
        *size = 2;
        return e->pc->cpu_count;
    case FWCFG_MAX_RAM:
        return 0;
    default:
        *size = 0;
        return 0;
    }
}

static uint32_t fwcfg_read(emu *e)
{
    uint32_t size;
    uint64_t item = fwcfg_item(e, e->pc->fwcfg_key, &size);
    if (e->pc->fwcfg_offset >= size)
        return 0;
    return (uint32_t)(item >> (8 * e->pc->fwcfg_offset++)) & 0xFF;
}

/* ---- ports ---- */

bool emu_pc_in(emu *e, unsigned port, int size, uint32_t *value)
{
    if (!e->pc)
        return false;
    if (port >= COM1 && port < COM1 + 8 && size == 1) {
        *value = uart_read(e->pc, port - COM1);
        return true;
    }
    if (port == FWCFG_DATA && size == 1) {
        *value = fwcfg_read(e);
        return true;
    }
    return false;
}

bool emu_pc_out(emu *e, unsigned port, uint32_t value)
{
    if (!e->pc)
        return false;
    if (port >= COM1 && port < COM1 + 8) {
        uart_write(e->pc, port - COM1, (uint8_t)value);
        return true;
    }
    if (port == FWCFG_SELECTOR) {
        e->pc->fwcfg_key = (uint16_t)value;
        e->pc->fwcfg_offset = 0;
        return true;
    }
    return false;
}

/* ---- xAPIC page ---- */

static void apic_reset(emu_pc *pc)
{
    memset(pc->apic, 0, sizeof(pc->apic));
    /* 11.4.7.1 / 10.12.5.1 power-up state: LVT entries masked, DFR all ones, SPIV 0xFF */
    pc->apic[APIC_LVR / 16] = APIC_VERSION;
    pc->apic[APIC_DFR / 16] = 0xFFFFFFFFu;
    pc->apic[APIC_SPIV / 16] = 0xFFu;
    for (unsigned r = APIC_LVT_TIMER; r <= APIC_LVT_ERROR; r += 16)
        pc->apic[r / 16] = APIC_LVT_MASKED;
    pc->apic_base = APIC_PAGE | APIC_BASE_BSP | APIC_BASE_ENABLE;
}

static uint64_t apic_mmio_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    (void)uc;
    emu *e = user;
    if (offset >= 0x400 || (offset & 0xF) + size > 4)
        return 0; /* 11.4.1: only aligned 32-bit accesses are defined; others read 0 here */
    uint32_t value = e->pc->apic[offset / 16];
    return (value >> (8 * (offset & 3))) & (size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1);
}

static void apic_mmio_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value,
                            void *user)
{
    (void)uc;
    emu *e = user;
    if (offset >= 0x400 || (offset & 0xF) != 0 || size != 4)
        return;
    uint32_t v = (uint32_t)value;
    switch ((unsigned)offset) {
    case APIC_ID: /* 11.4.6: software may change the ID; ID bits 31:24 */
        e->pc->apic[offset / 16] = v & 0xFF000000u;
        break;
    case APIC_TPR:
        e->pc->apic[offset / 16] = v & 0xFF;
        e->pc->apic[APIC_PPR / 16] = v & 0xF0; /* nothing in service: PPR follows TPR */
        break;
    case APIC_LDR:
        e->pc->apic[offset / 16] = v & 0xFF000000u;
        break;
    case APIC_DFR:
        e->pc->apic[offset / 16] = v | 0x0FFFFFFFu;
        break;
    case APIC_SPIV:
        e->pc->apic[offset / 16] = v & 0x13FF;
        break;
    case APIC_ESR: /* a write latches the (always empty) error state */
        e->pc->apic[offset / 16] = 0;
        break;
    case APIC_ICR_LOW: /* single CPU, no self delivery: the IPI is sent and dropped */
        e->pc->apic[offset / 16] = v & ~ICR_DELIVERY_PENDING;
        break;
    case APIC_ICR_HIGH:
        e->pc->apic[offset / 16] = v & 0xFF000000u;
        break;
    case APIC_LVR:
    case APIC_APR:
    case APIC_PPR:
    case APIC_EOI:
    case APIC_TIMER_CURRENT:
        break; /* read-only, or EOI with nothing in service */
    default:
        if (offset >= APIC_ISR && offset < APIC_ESR)
            break; /* ISR, TMR, IRR: read-only */
        if (offset >= APIC_LVT_TIMER && offset <= APIC_TIMER_DIVIDE)
            e->pc->apic[offset / 16] = v; /* LVTs, timer counts: kept, the timer never runs */
        break;
    }
}

bool emu_pc_map_devices(emu *e)
{
    if (!e->pc)
        return true;
    uc_err err = uc_mmio_map(e->uc, APIC_PAGE, 0x1000, apic_mmio_read, e, apic_mmio_write, e);
    if (err)
        fprintf(stderr, "nestvmx-emu: cannot map the xAPIC page: %s\n", uc_strerror(err));
    return !err;
}

/* ---- MSRs, CPUID ---- */

/* IA32_DEBUGCTL (SDM Vol. 3B 17.4.1), for ELF64 images too: the running guest's value is the
 * one in the guest-state area of the VMCS that runs it (vmcs01 for L1, vmcs02 for L2), which
 * the library loads, saves and clears as VM entries and exits do (27.3.2, 28.3.1, 28.5.1).
 * This CPU has only LBR (0) and BTF (1), other bits #GP; the flags are kept, not acted on (no
 * last-branch records, single-step on branches is not emulated). */
#define MSR_DEBUGCTL 0x1D9u
#define DEBUGCTL_WRITABLE 0x3ull

static nvmx_hw_vmcs running_vmcs(const emu *e)
{
    return e->in_l2 ? NVMX_HW_VMCS02 : NVMX_HW_VMCS01;
}

bool emu_pc_msr_read(emu *e, uint32_t index, uint64_t *value)
{
    if (index == MSR_DEBUGCTL) {
        *value = emu_vmcs_get(e, running_vmcs(e), NVMX_FIELD_GUEST_IA32_DEBUGCTL);
        return true;
    }
    if (!e->pc || index != MSR_APIC_BASE)
        return false;
    *value = e->pc->apic_base;
    return true;
}

/* 11.4.4: reserved bits (0-7, 9, 10 without x2APIC support, at and above MAXPHYADDR) #GP.
 * Moving or disabling the APIC is recorded but the page stays at 0xFEE00000 (a limit of this
 * PC; kvm-unit-tests never moves it). */
bool emu_pc_msr_write(emu *e, uint32_t index, uint64_t value, bool *ok)
{
    if (index == MSR_DEBUGCTL) {
        *ok = !(value & ~DEBUGCTL_WRITABLE);
        if (*ok)
            emu_vmcs_set(e, running_vmcs(e), NVMX_FIELD_GUEST_IA32_DEBUGCTL, value);
        return true;
    }
    if (!e->pc || index != MSR_APIC_BASE)
        return false;
    uint64_t reserved = 0xFFull | (1ull << 9) | APIC_BASE_EXTD | ~((1ull << PC_MAXPHYADDR) - 1);
    *ok = !(value & reserved) && (value & APIC_BASE_BSP) == (e->pc->apic_base & APIC_BASE_BSP);
    if (*ok)
        e->pc->apic_base = value;
    return true;
}

void emu_pc_cpuid(const emu *e, uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
    (void)subleaf;
    if (!e->pc || leaf != 1)
        return;
    regs[3] |= CPUID1_EDX_APIC;
    regs[1] = (regs[1] & 0x00FFFFFFu) | (e->pc->apic[APIC_ID / 16] & 0xFF000000u); /* APIC ID */
}

bool emu_pc_create(emu *e, const emu_pc_options *options)
{
    e->pc = calloc(1, sizeof(*e->pc));
    if (!e->pc)
        return false;
    e->pc->cpu_count = 1;
    e->pc->feature_control_unlocked = options->feature_control_unlocked;
    apic_reset(e->pc);
    return true;
}

void emu_pc_config(const emu *e, nvmx_vm_config *config)
{
    /* --feature-control unlocked: firmware left IA32_FEATURE_CONTROL clear; the kernel enables
     * VMX and locks it (SDM Vol. 3C 24.7, 31.3 VMXON: #GP while the lock bit or the VMX-enable
     * bit is clear). The default (and the ELF64 contract) is the library's: locked, enabled. */
    if (e->pc && e->pc->feature_control_unlocked)
        config->feature_control = 0;
}

void emu_pc_destroy(emu *e)
{
    free(e->pc);
    e->pc = NULL;
}
