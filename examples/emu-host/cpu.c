/* SPDX-License-Identifier: MIT */
/* L1's CPU at entry (the contract of docs/ARCHITECTURE.md), its CPUID and its segments. */
#include "pc.h"

#include <stdio.h>
#include <string.h>

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_MSR 0xC0000080u
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull

/* Flat descriptors: null, 64-bit code (0x08), data (0x10). */
static const uint64_t gdt[] = {0, 0x00AF9A000000FFFFull, 0x00CF92000000FFFFull};

static void put64(uint8_t *ram, uint64_t gpa, uint64_t value)
{
    memcpy(ram + gpa, &value, sizeof(value));
}

/* Identity paging of the first 4 GiB with 2 MiB pages. */
static void build_page_tables(uint8_t *ram)
{
    put64(ram, EMU_PML4, EMU_PDPT | PTE_P | PTE_RW);
    for (uint64_t i = 0; i < 4; i++)
        put64(ram, EMU_PDPT + i * 8, (EMU_PD + i * 0x1000) | PTE_P | PTE_RW);
    for (uint64_t i = 0; i < 4 * 512; i++)
        put64(ram, EMU_PD + i * 8, (i << 21) | PTE_P | PTE_RW | PTE_PS);
}

static bool write_reg(emu *e, int reg, const void *value, const char *name)
{
    uc_err err = uc_reg_write(e->uc, reg, value);
    if (err != UC_ERR_OK)
        fprintf(stderr, "nestvmx-emu: cannot set %s: %s\n", name, uc_strerror(err));
    return err == UC_ERR_OK;
}

/* EFER through the MSR interface first, then CR4, CR3, CR0 (Unicorn needs this order). */
static bool enter_long_mode(emu *e)
{
    uc_x86_msr efer = {.rid = EFER_MSR, .value = EFER_LME | EFER_LMA | EFER_NXE};
    uint64_t cr4 = CR4_PAE, cr3 = EMU_PML4, cr0 = CR0_PG | CR0_NE | CR0_ET | CR0_PE;
    uc_x86_mmr gdtr = {.base = EMU_GDT, .limit = sizeof(gdt) - 1};
    return write_reg(e, UC_X86_REG_MSR, &efer, "EFER") &&
           write_reg(e, UC_X86_REG_CR4, &cr4, "CR4") && write_reg(e, UC_X86_REG_CR3, &cr3, "CR3") &&
           write_reg(e, UC_X86_REG_CR0, &cr0, "CR0") &&
           write_reg(e, UC_X86_REG_GDTR, &gdtr, "GDTR") && uc_ctl_flush_tlb(e->uc) == UC_ERR_OK;
}

/* The selectors of the host's GDT. Unicorn loads only the selector in 64-bit mode; its
 * descriptor caches are already flat 64-bit. */
static bool load_segments(emu *e)
{
    uint64_t code = EMU_CODE_SELECTOR, data = EMU_DATA_SELECTOR;
    return write_reg(e, UC_X86_REG_CS, &code, "CS") && write_reg(e, UC_X86_REG_SS, &data, "SS") &&
           write_reg(e, UC_X86_REG_DS, &data, "DS") && write_reg(e, UC_X86_REG_ES, &data, "ES") &&
           write_reg(e, UC_X86_REG_FS, &data, "FS") && write_reg(e, UC_X86_REG_GS, &data, "GS");
}

bool emu_cpu_reset(emu *e, uint64_t entry)
{
    memcpy(e->ram + EMU_GDT, gdt, sizeof(gdt));
    build_page_tables(e->ram);
    uint64_t rdi = e->ram_size, rsp = EMU_STACK_TOP, rflags = 0x2, rip = entry;
    return enter_long_mode(e) && load_segments(e) && write_reg(e, UC_X86_REG_RDI, &rdi, "RDI") &&
           write_reg(e, UC_X86_REG_RSP, &rsp, "RSP") &&
           write_reg(e, UC_X86_REG_RFLAGS, &rflags, "RFLAGS") &&
           write_reg(e, UC_X86_REG_RIP, &rip, "RIP");
}

/* ---- CPUID: a small 64-bit Intel CPU; the VMX bit is the library's ---- */

#define EDX1_FEATURES 0x0789A3F9u /* FPU DE PSE TSC MSR PAE CX8 SEP PGE CMOV PAT FXSR SSE SSE2 */
#define ECX1_FEATURES 0x00002201u /* SSE3 SSSE3 CX16 */
#define EXT_EDX_FEATURES ((1u << 29) | (1u << 20) | (1u << 11)) /* LM NX SYSCALL */

void emu_cpuid(const emu *e, uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
    memset(regs, 0, 4 * sizeof(regs[0]));
    switch (leaf) {
    case 0:
        regs[0] = 1;
        memcpy(&regs[1], "Genu", 4); /* EBX EDX ECX spell GenuineIntel */
        memcpy(&regs[3], "ineI", 4);
        memcpy(&regs[2], "ntel", 4);
        break;
    case 1:
        regs[0] = 0x000506E3; /* family 6 */
        regs[1] = 0x00010800; /* one logical processor, CLFLUSH 64 bytes */
        regs[2] = ECX1_FEATURES;
        regs[3] = EDX1_FEATURES;
        break;
    case 0x80000000:
        regs[0] = 0x80000008;
        break;
    case 0x80000001:
        regs[3] = EXT_EDX_FEATURES;
        break;
    case 0x80000008: /* the physical-address width every VMX address check uses */
        regs[0] = 46u | (48u << 8);
        break;
    default:
        break;
    }
    emu_pc_cpuid(e, leaf, subleaf, regs);
    /* regs: EAX EBX ECX EDX */
    nvmx_cpuid_adjust(e->vm, leaf, subleaf, &regs[0], &regs[1], &regs[2], &regs[3]);
}

/* ---- reserved control-register bits of this CPU ---- */

/* CR4 bits this CPU has (SDM Vol. 3A 2.5; each one needs the CPUID feature above, or none):
 * TSD, DE, PSE, PAE, MCE, PGE, PCE, OSFXSR, OSXMMEXCPT, VMXE. The rest (VME and PVI: no VME
 * in CPUID; UMIP, LA57, FSGSBASE, PCIDE, OSXSAVE, SMEP, SMAP, PKE, CET, PKS: leaf 7 and the
 * XSAVE/PCID bits are absent) are reserved. */
#define CR4_SUPPORTED 0x27FCull

bool emu_cr_reserved(uint8_t cr, uint64_t value)
{
    /* 2.5: CR0 and CR4 bits 63:32 are reserved; MOV to CR with one of them set is #GP(0).
     * Unicorn truncates the value to 32 bits instead. */
    if (cr == 0)
        return value >> 32 != 0;
    if (cr == 4)
        return (value & ~CR4_SUPPORTED) != 0;
    return false;
}

/* ---- segments: the selector from Unicorn, the hidden part from L1's GDT (64-bit mode: the
 * bases of ES, CS, SS and DS are 0) ---- */

static const int segment_regs[NVMX_SEG_COUNT] = {
    [NVMX_SEG_ES] = UC_X86_REG_ES, [NVMX_SEG_CS] = UC_X86_REG_CS, [NVMX_SEG_SS] = UC_X86_REG_SS,
    [NVMX_SEG_DS] = UC_X86_REG_DS, [NVMX_SEG_FS] = UC_X86_REG_FS, [NVMX_SEG_GS] = UC_X86_REG_GS,
};

/* The descriptor a selector names in the GDT, or 0 when it is null or outside it. */
static uint64_t gdt_descriptor(emu *e, uint16_t selector)
{
    uc_x86_mmr gdtr = {0};
    uint64_t descriptor = 0;
    uint16_t offset = selector & ~7u;
    if (offset == 0 || (selector & 4) || uc_reg_read(e->uc, UC_X86_REG_GDTR, &gdtr) != UC_ERR_OK ||
        offset + 7u > gdtr.limit)
        return 0;
    if (!emu_vmem_read(e, gdtr.base + offset, UC_PROT_READ, &descriptor, 8, false))
        return 0; /* L2's GDT through L2's paging and EPT02 (l2_memory.c) */
    return descriptor;
}

void emu_segment(emu *e, nvmx_seg seg, nvmx_segment *out)
{
    *out = (nvmx_segment){.access_rights = NVMX_AR_UNUSABLE};
    if (seg == NVMX_SEG_LDTR || seg == NVMX_SEG_TR) {
        uc_x86_mmr mmr = {0};
        uc_reg_read(e->uc, seg == NVMX_SEG_TR ? UC_X86_REG_TR : UC_X86_REG_LDTR, &mmr);
        *out = (nvmx_segment){.selector = mmr.selector,
                              .base = mmr.base,
                              .limit = mmr.limit,
                              .access_rights =
                                  mmr.selector ? (mmr.flags >> 8) & 0xF0FF : NVMX_AR_UNUSABLE};
        return;
    }
    uint64_t selector = 0;
    uc_reg_read(e->uc, segment_regs[seg], &selector);
    /* L1's CS after a VM exit is what the exit loaded (SDM 28.5.2: L from the host address-space
     * size, flat, whatever L1's GDT holds for that selector), and Unicorn keeps that hidden
     * part: loading L1 from vmcs01 writes only the selector (emulators.md, pitfall 7). While the
     * selector is the one vmcs01 holds, vmcs01's CS is L1's. */
    if (seg == NVMX_SEG_CS && !e->in_l2 &&
        emu_vmcs_get(e, NVMX_HW_VMCS01, NVMX_FIELD_GUEST_CS_SELECTOR) == selector &&
        emu_vmcs_get(e, NVMX_HW_VMCS01, NVMX_FIELD_GUEST_CS_AR_BYTES) != 0) {
        *out = (nvmx_segment){
            .selector = (uint16_t)selector,
            .base = emu_vmcs_get(e, NVMX_HW_VMCS01, NVMX_FIELD_GUEST_CS_BASE),
            .limit = (uint32_t)emu_vmcs_get(e, NVMX_HW_VMCS01, NVMX_FIELD_GUEST_CS_LIMIT),
            .access_rights =
                (uint32_t)emu_vmcs_get(e, NVMX_HW_VMCS01, NVMX_FIELD_GUEST_CS_AR_BYTES)};
        return;
    }
    uint64_t d = gdt_descriptor(e, (uint16_t)selector);
    out->selector = (uint16_t)selector;
    if (!d)
        return;
    uint32_t limit = (uint32_t)((d & 0xFFFF) | ((d >> 32) & 0xF0000));
    out->access_rights = (uint32_t)((d >> 40) & 0xF0FF);
    out->limit = (out->access_rights & NVMX_AR_G) ? (limit << 12) | 0xFFF : limit;
    if (seg == NVMX_SEG_FS || seg == NVMX_SEG_GS)
        uc_reg_read(e->uc, seg == NVMX_SEG_FS ? UC_X86_REG_FS_BASE : UC_X86_REG_GS_BASE,
                    &out->base);
}
