/* SPDX-License-Identifier: MIT */
/*
 * Rules kvm-unit-tests' vmx.flat found nestvmx-emu breaking (docs/KVM-UNIT-TESTS.md), as L1
 * checks in TAP: MOV to CR0/CR4 with a reserved bit raises #GP(0) (SDM Vol. 3A 2.5); INVD in
 * L2 exits unconditionally (SDM 26.1.2); L1's CS after a VM exit is the one the exit loaded
 * (SDM 28.5.2), whatever L1's GDT holds for that selector afterwards; VMRESUME in the shadow
 * of MOV SS fails with error 26 (SDM 31.3); IA32_DEBUGCTL follows VM entries and exits.
 */
#include "vmcs_setup.h"

static uint8_t vmcs[4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[4096] __attribute__((aligned(16)));

void l2_code(void), l2_invd(void), l2_vmcall(void);
__asm__(".text\n"
        "l2_code:\n"
        "l2_invd: invd\n"
        "l2_vmcall: vmcall\n"
        "  jmp l2_vmcall\n");

static uint64_t addr(void (*f)(void))
{
    return (uint64_t)(uintptr_t)f;
}

/* mov %rax, %cr0 / %cr4: 3 bytes */
static int write_cr0_fault(uint64_t value)
{
    rt_guard(3);
    __asm__ volatile("mov %0, %%cr0" : : "a"(value) : "memory");
    return rt_fault();
}
static int write_cr4_fault(uint64_t value)
{
    rt_guard(3);
    __asm__ volatile("mov %0, %%cr4" : : "a"(value) : "memory");
    return rt_fault();
}

static void test_reserved_cr_bits(void)
{
    uint64_t cr0 = read_cr0(), cr4 = read_cr4();
    check_eq((uint64_t)write_cr0_fault(cr0 | (1ull << 32)), 13,
             "MOV to CR0 with bit 32 set raises #GP (2.5: bits 63:32 reserved)");
    check_eq(read_cr0(), cr0, "CR0 unchanged after the faulting write");
    check_eq((uint64_t)write_cr4_fault(cr4 | (1ull << 22)), 13,
             "MOV to CR4 setting PKE without CPUID PKU raises #GP");
    check_eq((uint64_t)write_cr4_fault(cr4 | (1ull << 20)), 13,
             "MOV to CR4 setting SMEP without CPUID SMEP raises #GP");
    check_eq((uint64_t)write_cr4_fault(cr4 | (1ull << 63)), 13,
             "MOV to CR4 with bit 63 set raises #GP");
    check_eq((uint64_t)write_cr4_fault(cr4 | (1ull << 9)), (uint64_t)-1,
             "MOV to CR4 setting OSFXSR (the CPU has FXSR) is allowed");
    check_eq((uint64_t)write_cr4_fault(cr4), (uint64_t)-1, "CR4 restored");
}

int l1_main(uint64_t memory_size)
{
    (void)memory_size;
    rt_load_gdt();
    rt_load_idt();
    test_reserved_cr_bits();
    check(vs_vmxon(), "VMXON");
    check(vs_load_vmcs(vmcs), "VMCLEAR and VMPTRLD of the VMCS for L2");
    vs_controls(PROC_UNCOND_IO);
    vs_host_state();
    uint64_t l2_rsp = (uint64_t)(uintptr_t)(l2_stack + sizeof(l2_stack));
    vs_guest_state(addr(l2_code), l2_rsp, (uint64_t)(uintptr_t)rt_idt, sizeof(rt_idt) - 1);

    /* IA32_DEBUGCTL (17.4.1): LBR and BTF only; the entry loads vmcs12's value (load debug
     * controls), the exit saves L2's (save debug controls) and
     * clears L1's (28.5.1). */
    wrmsr(0x1D9, 1);
    check_eq(rdmsr(0x1D9), 1, "IA32_DEBUGCTL.LBR is writable");
    wrmsr(0x1D9, 1u << 6);
    check_eq((uint64_t)rt_fault(), 13, "IA32_DEBUGCTL bit 6 (a feature this CPU lacks) #GP");
    vmwrite(0x4012, vmread_value(0x4012) | 4); /* VM-entry controls: load debug controls */
    vmwrite(0x400C, vmread_value(0x400C) | 4); /* VM-exit controls: save debug controls */
    check((vmread_value(0x4012) & 4) && (vmread_value(0x400C) & 4),
          "load and save debug controls are set");
    vmwrite(0x2802, 2); /* GUEST_IA32_DEBUGCTL: BTF */
    check_eq(l1_vm_enter(0), 0, "VMLAUNCH");
    uint64_t debugctl = rdmsr(0x1D9);
    check(debugctl == 0 && rt_fault() == -1, "IA32_DEBUGCTL reads 0 after the exit (28.5.1)");
    check_eq(vmread_value(0x2802), 2, "the exit saved L2's IA32_DEBUGCTL (save debug controls)");
    check_eq(vmread_value(F_EXIT_REASON), 13, "L2 INVD exits with reason 13 (26.1.2)");
    check_eq(vmread_value(F_EXIT_INSTRUCTION_LEN), 2, "INVD exit: instruction length 2");
    check_eq(vmread_value(F_GUEST_RIP), addr(l2_invd), "INVD exit: guest RIP at INVD");

    /* 28.5.2: the exit loaded a 64-bit CS; a GDT that now says 32-bit code for that selector
     * does not change it until CS is reloaded, so VMREAD (#UD in compatibility mode) works. */
    uint64_t code64 = rt_gdt[1];
    rt_gdt[1] = 0x00CF9B000000FFFFull; /* 32-bit code */
    rt_guard(0);
    uint64_t reason = vmread_value(F_EXIT_REASON);
    int fault = rt_fault();
    rt_gdt[1] = code64;
    check_eq((uint64_t)fault, (uint64_t)-1, "VMREAD after the exit: CS is still 64-bit (28.5.2)");
    check_eq(reason, 13, "VMREAD after the exit reads the exit reason");

    vs_skip_instruction();
    check_eq(l1_vm_enter(1), 0, "VMRESUME after INVD");
    check_eq(vmread_value(F_EXIT_REASON), 18, "L2 VMCALL exits");

    /* 31.3 VMRESUME: in the shadow of MOV SS, VMfailValid with error 26 (27.1) */
    uint64_t flags;
    __asm__ volatile("mov %%ss, %%ax\n\tmov %%ax, %%ss\n\tvmresume\n\tpushf\n\tpop %0"
                     : "=r"(flags)
                     :
                     : "rax", "cc", "memory");
    check_eq(flags & 0x41, 0x40, "VMRESUME right after MOV SS: VMfailValid");
    check_eq(vmread_value(F_VM_INSTRUCTION_ERROR), 26,
             "VM-instruction error 26: events blocked by MOV SS");
    check_eq(vmxoff(), 0, "VMXOFF");
    return tap_done();
}
