/* SPDX-License-Identifier: MIT */
/*
 * VMCS set-up helpers for the L1 images (after runtime.h): VMXON, a VMCS for a 64-bit L2 that
 * shares L1's identity paging, GDT and segments, VM entry with the host state pointing back
 * into l1_vm_enter, and the field encodings the images use (SDM Vol. 3C Appendix B).
 */
#ifndef NESTVMX_GUEST_VMCS_SETUP_H
#define NESTVMX_GUEST_VMCS_SETUP_H

#include "runtime.h"

/* Field encodings (Appendix B). */
enum vmcs_field {
    F_GUEST_ES_SELECTOR = 0x0800, /* ES, CS, SS, DS, FS, GS, LDTR, TR: +2 each */
    F_HOST_ES_SELECTOR = 0x0C00,  /* ES, CS, SS, DS, FS, GS, TR */
    F_IO_BITMAP_A = 0x2000,
    F_IO_BITMAP_B = 0x2002,
    F_MSR_BITMAP = 0x2004,
    F_LINK_POINTER = 0x2800,
    F_GUEST_PAT = 0x2804,
    F_GUEST_EFER = 0x2806,
    F_PIN = 0x4000,
    F_PROC = 0x4002,
    F_EXCEPTION_BITMAP = 0x4004,
    F_PF_MASK = 0x4006,
    F_PF_MATCH = 0x4008,
    F_CR3_TARGET_COUNT = 0x400A,
    F_EXIT_CONTROLS = 0x400C,
    F_ENTRY_CONTROLS = 0x4012,
    F_ENTRY_INTR_INFO = 0x4016,
    F_ENTRY_EXCEPTION_ERROR = 0x4018,
    F_ENTRY_INSTRUCTION_LEN = 0x401A,
    F_PROC2 = 0x401E,
    F_VM_INSTRUCTION_ERROR = 0x4400,
    F_EXIT_REASON = 0x4402,
    F_EXIT_INTR_INFO = 0x4404,
    F_EXIT_INTR_ERROR = 0x4406,
    F_IDT_VECTORING_INFO = 0x4408,
    F_EXIT_INSTRUCTION_LEN = 0x440C,
    F_GUEST_ES_LIMIT = 0x4800, /* ES ... TR: +2 each; then GDTR 0x4810, IDTR 0x4812 */
    F_GUEST_GDTR_LIMIT = 0x4810,
    F_GUEST_IDTR_LIMIT = 0x4812,
    F_GUEST_ES_AR = 0x4814, /* ES ... TR: +2 each */
    F_GUEST_INTERRUPTIBILITY = 0x4824,
    F_GUEST_ACTIVITY = 0x4826,
    F_HOST_SYSENTER_CS = 0x4C00,
    F_EXIT_QUALIFICATION = 0x6400,
    F_GUEST_LINEAR_ADDRESS = 0x640A,
    F_GUEST_CR0 = 0x6800,
    F_GUEST_CR3 = 0x6802,
    F_GUEST_CR4 = 0x6804,
    F_GUEST_ES_BASE = 0x6806, /* ES ... TR: +2 each */
    F_GUEST_GDTR_BASE = 0x6816,
    F_GUEST_IDTR_BASE = 0x6818,
    F_GUEST_DR7 = 0x681A,
    F_GUEST_RSP = 0x681C,
    F_GUEST_RIP = 0x681E,
    F_GUEST_RFLAGS = 0x6820,
    F_HOST_CR0 = 0x6C00,
    F_HOST_CR3 = 0x6C02,
    F_HOST_CR4 = 0x6C04,
    F_HOST_FS_BASE = 0x6C06,
    F_HOST_GS_BASE = 0x6C08,
    F_HOST_TR_BASE = 0x6C0A,
    F_HOST_GDTR_BASE = 0x6C0C,
    F_HOST_IDTR_BASE = 0x6C0E,
    F_HOST_RSP = 0x6C14,
    F_HOST_RIP = 0x6C16,
};

/* Control bits (Tables 25-5, 25-6, 28-13 (exit), 25-17 (entry)). */
#define PROC_HLT_EXITING (1u << 7)
#define PROC_RDTSC_EXITING (1u << 12)
#define PROC_UNCOND_IO (1u << 24)
#define PROC_IO_BITMAPS (1u << 25)
#define PROC_MSR_BITMAPS (1u << 28)
#define EXIT_HOST_ADDR_SPACE (1u << 9)
#define ENTRY_IA32E_MODE (1u << 9)

/* Access rights (25.4.1): 64-bit code, data, busy 64-bit TSS, unusable. */
#define AR_CODE64 0xA09Bu
#define AR_DATA 0xC093u
#define AR_TSS_BUSY 0x8Bu
#define AR_UNUSABLE 0x10000u

static uint8_t vs_vmxon_region[4096] __attribute__((aligned(4096)));
static uint32_t vs_revision;
static bool vs_true_controls;

/* A control value: the wanted bits, forced by the capability MSR (A.3-A.5: low half = must be
 * 1, high half = may be 1). The TRUE MSRs when IA32_VMX_BASIC[55] says they exist. */
static __attribute__((unused)) uint32_t vs_control(uint32_t msr, uint32_t true_msr, uint32_t want)
{
    uint64_t caps = rdmsr(vs_true_controls ? true_msr : msr);
    return (want | (uint32_t)caps) & (uint32_t)(caps >> 32);
}

/* CR4.VMXE and VMXON with the revision of IA32_VMX_BASIC; true when it succeeded. */
static __attribute__((unused)) bool vs_vmxon(void)
{
    uint64_t basic = rdmsr(0x480);
    vs_revision = (uint32_t)basic & 0x7FFFFFFFu;
    vs_true_controls = basic & (1ull << 55);
    *(uint32_t *)vs_vmxon_region = vs_revision;
    write_cr4(read_cr4() | CR4_VMXE);
    uint64_t p = (uint64_t)(uintptr_t)vs_vmxon_region;
    return vmxon(&p) == 0 && rt_fault() < 0;
}

/* VMCLEAR + VMPTRLD of a region with the right revision. */
static __attribute__((unused)) bool vs_load_vmcs(uint8_t *region)
{
    *(uint32_t *)region = vs_revision;
    uint64_t p = (uint64_t)(uintptr_t)region;
    return vmclear(&p) == 0 && vmptrld(&p) == 0;
}

void l1_vm_exit(void);
uint64_t l1_exit_rflags, l1_exit_rsp;
/* l1_vm_enter(resume): VMLAUNCH (0) or VMRESUME (1) with HOST_RSP = the stack here; returns 0
 * after a VM exit (at l1_vm_exit, callee-saved registers restored), else the RFLAGS of the
 * failed instruction with bit 63 set. */
uint64_t l1_vm_enter(uint64_t resume);
__asm__(".text\n"
        ".global l1_vm_enter\n"
        "l1_vm_enter:\n"
        "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
        "  mov $0x6C14, %eax\n"
        "  vmwrite %rsp, %rax\n"
        "  test %rdi, %rdi\n"
        "  jnz 1f\n"
        "  vmlaunch\n"
        "  jmp 2f\n"
        "1: vmresume\n"
        "2: pushfq\n"
        "  pop %rax\n"
        "  bts $63, %rax\n"
        "  jmp 3f\n"
        ".global l1_vm_exit\n"
        "l1_vm_exit:\n"
        "  pushfq\n"
        "  popq l1_exit_rflags(%rip)\n"
        "  mov %rsp, l1_exit_rsp(%rip)\n"
        "  xor %eax, %eax\n"
        "3: pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n"
        "  ret\n");

static __attribute__((unused)) uint64_t vs_gdt_base(void)
{
    struct rt_table_register r;
    __asm__ volatile("sgdt %0" : "=m"(r));
    return r.base;
}

/* L1's own state as the host state (27.2.3 / 28.5): back into l1_vm_enter's epilogue. */
static __attribute__((unused)) void vs_host_state(void)
{
    static const uint16_t selectors[7] = {SEL_DATA, SEL_CODE, SEL_DATA, SEL_DATA,
                                          SEL_DATA, SEL_DATA, SEL_TSS};
    for (unsigned i = 0; i < 7; i++)
        vmwrite(F_HOST_ES_SELECTOR + 2 * i, selectors[i]);
    vmwrite(F_HOST_CR0, read_cr0());
    vmwrite(F_HOST_CR3, read_cr3());
    vmwrite(F_HOST_CR4, read_cr4());
    vmwrite(F_HOST_FS_BASE, 0);
    vmwrite(F_HOST_GS_BASE, 0);
    vmwrite(F_HOST_TR_BASE, (uint64_t)(uintptr_t)rt_tss);
    vmwrite(F_HOST_GDTR_BASE, vs_gdt_base());
    vmwrite(F_HOST_IDTR_BASE, (uint64_t)(uintptr_t)rt_idt);
    vmwrite(F_HOST_SYSENTER_CS, 0);
    vmwrite(F_HOST_RIP, (uint64_t)(uintptr_t)l1_vm_exit);
}

/* A 64-bit L2 on L1's paging and GDT, at `rip` with stack `rsp` and IDT `idt`/`idt_limit`. */
static __attribute__((unused)) void vs_guest_state(uint64_t rip, uint64_t rsp, uint64_t idt,
                                                   uint32_t idt_limit)
{
    for (unsigned i = 0; i < 6; i++) { /* ES CS SS DS FS GS */
        bool code = i == 1;
        vmwrite(F_GUEST_ES_SELECTOR + 2 * i, code ? SEL_CODE : SEL_DATA);
        vmwrite(F_GUEST_ES_BASE + 2 * i, 0);
        vmwrite(F_GUEST_ES_LIMIT + 2 * i, 0xFFFFFFFF);
        vmwrite(F_GUEST_ES_AR + 2 * i, code ? AR_CODE64 : AR_DATA);
    }
    vmwrite(F_GUEST_ES_SELECTOR + 12, 0); /* LDTR unusable */
    vmwrite(F_GUEST_ES_AR + 12, AR_UNUSABLE);
    vmwrite(F_GUEST_ES_SELECTOR + 14, SEL_TSS);
    vmwrite(F_GUEST_ES_BASE + 14, (uint64_t)(uintptr_t)rt_tss);
    vmwrite(F_GUEST_ES_LIMIT + 14, sizeof(rt_tss) - 1);
    vmwrite(F_GUEST_ES_AR + 14, AR_TSS_BUSY);
    vmwrite(F_GUEST_GDTR_BASE, vs_gdt_base());
    vmwrite(F_GUEST_GDTR_LIMIT, sizeof(rt_gdt) - 1);
    vmwrite(F_GUEST_IDTR_BASE, idt);
    vmwrite(F_GUEST_IDTR_LIMIT, idt_limit);
    vmwrite(F_GUEST_CR0, read_cr0());
    vmwrite(F_GUEST_CR3, read_cr3());
    vmwrite(F_GUEST_CR4, read_cr4());
    vmwrite(F_GUEST_DR7, 0x400);
    vmwrite(F_GUEST_RSP, rsp);
    vmwrite(F_GUEST_RIP, rip);
    vmwrite(F_GUEST_RFLAGS, 0x2);
    vmwrite(F_GUEST_INTERRUPTIBILITY, 0);
    vmwrite(F_GUEST_ACTIVITY, 0);
    vmwrite(F_LINK_POINTER, ~0ull);
}

/* Controls: the wanted primary processor-based bits; 64-bit host and guest. */
static __attribute__((unused)) void vs_controls(uint32_t proc)
{
    vmwrite(F_PIN, vs_control(0x481, 0x48D, 0));
    vmwrite(F_PROC, vs_control(0x482, 0x48E, proc));
    vmwrite(F_EXIT_CONTROLS, vs_control(0x483, 0x48F, EXIT_HOST_ADDR_SPACE));
    vmwrite(F_ENTRY_CONTROLS, vs_control(0x484, 0x490, ENTRY_IA32E_MODE));
    vmwrite(F_EXCEPTION_BITMAP, 0);
    vmwrite(F_CR3_TARGET_COUNT, 0);
    vmwrite(F_ENTRY_INTR_INFO, 0);
}

/* The guest RIP advanced past the instruction of the last exit (what an L1 handler does). */
static __attribute__((unused)) void vs_skip_instruction(void)
{
    vmwrite(F_GUEST_RIP, vmread_value(F_GUEST_RIP) + vmread_value(F_EXIT_INSTRUCTION_LEN));
}

#endif
