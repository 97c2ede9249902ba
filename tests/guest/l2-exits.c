/* SPDX-License-Identifier: MIT */
/*
 * L1 test image: launches a 64-bit L2 (L1's identity paging and GDT, code and stack in L1's
 * memory, no EPT) and checks the VM exits nestvmx-emu and libnestvmx produce: CPUID (10),
 * OUT/IN (30, with the exit qualification of SDM 28.2.1 Table 28-5), HLT with HLT exiting
 * (12), RDMSR without MSR bitmaps (31), VMCALL (18): exit reason, qualification, instruction
 * length, saved guest RIP/RSP, and L1's state after each exit (host RIP/RSP/CR3 loaded,
 * RFLAGS = 2, 28.5.3). L1 advances the guest RIP and resumes L2 after each exit.
 */
#include "vmcs_setup.h"

static uint8_t vmcs[4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[4096] __attribute__((aligned(16)));

/* L2's code: each label is at the instruction that exits. */
void l2_code(void), l2_cpuid(void), l2_out_imm(void), l2_out_dx(void), l2_in_imm(void),
    l2_hlt(void), l2_rdmsr(void), l2_vmcall(void);
__asm__(".text\n"
        "l2_code:\n"
        "l2_cpuid: cpuid\n"
        "  mov $0x5a, %al\n"
        "l2_out_imm: outb %al, $0x80\n"
        "  mov $0x1234, %dx\n"
        "l2_out_dx: outw %ax, %dx\n"
        "l2_in_imm: inb $0x71, %al\n"
        "l2_hlt: hlt\n"
        "  mov $0x277, %ecx\n"
        "l2_rdmsr: rdmsr\n"
        "l2_vmcall: vmcall\n"
        "  jmp l2_vmcall\n");

static uint64_t addr(void (*f)(void))
{
    return (uint64_t)(uintptr_t)f;
}

/* One exit as L1 sees it through VMREAD. */
static void expect_exit(uint64_t enter_result, uint64_t reason, uint64_t qualification,
                        uint64_t length, void (*rip)(void), const char *what)
{
    check_eq2(enter_result, 0, what, "the VM entry succeeded and L2 exited");
    check_eq2(vmread_value(F_EXIT_REASON), reason, what, "exit reason");
    check_eq2(vmread_value(F_EXIT_QUALIFICATION), qualification, what, "exit qualification");
    check_eq2(vmread_value(F_EXIT_INSTRUCTION_LEN), length, what, "VM-exit instruction length");
    check_eq2(vmread_value(F_GUEST_RIP), addr(rip), what, "saved guest RIP is the instruction's");
    check_eq2(vmread_value(F_EXIT_INTR_INFO) >> 31, 0, what,
              "VM-exit interruption information invalid");
    check_eq2(vmread_value(F_IDT_VECTORING_INFO) >> 31, 0, what,
              "IDT-vectoring information invalid");
}

/* L1's state right after the exit (SDM 28.5): host RSP, CR3, RFLAGS = 2. */
static void expect_host_state(uint64_t host_rsp, const char *what)
{
    check_eq2(l1_exit_rsp, host_rsp, what, "L1 runs at HOST_RIP on HOST_RSP");
    check_eq2(l1_exit_rflags, 0x2, what, "L1's RFLAGS is 2 after the exit (28.5.3)");
    check_eq2(read_cr3(), vmread_value(F_HOST_CR3), what, "L1's CR3 is HOST_CR3");
}

int l1_main(uint64_t memory_size)
{
    (void)memory_size;
    rt_load_gdt();
    rt_load_idt();
    check(vs_vmxon(), "VMXON");
    check(vs_load_vmcs(vmcs), "VMCLEAR and VMPTRLD of the VMCS for L2");
    vs_controls(PROC_HLT_EXITING | PROC_UNCOND_IO);
    vs_host_state();
    uint64_t l2_rsp = (uint64_t)(uintptr_t)(l2_stack + sizeof(l2_stack));
    vs_guest_state(addr(l2_code), l2_rsp, (uint64_t)(uintptr_t)rt_idt, sizeof(rt_idt) - 1);

    expect_exit(l1_vm_enter(0), 10, 0, 2, l2_cpuid, "VMLAUNCH; L2 CPUID exits to L1");
    check_eq(vmread_value(F_GUEST_RSP), l2_rsp, "CPUID exit: saved guest RSP");
    expect_host_state(vmread_value(F_HOST_RSP), "CPUID exit");

    vs_skip_instruction();
    /* Table 28-5: size-1 in 2:0, IN in 3, string 4, REP 5, immediate 6, port in 31:16 */
    expect_exit(l1_vm_enter(1), 30, 0x00800040, 2, l2_out_imm, "VMRESUME; L2 OUT imm8 exits");
    expect_host_state(vmread_value(F_HOST_RSP), "OUT exit");
    vs_skip_instruction();
    expect_exit(l1_vm_enter(1), 30, 0x12340001, 2, l2_out_dx, "L2 OUT DX, AX (16-bit) exits");
    vs_skip_instruction();
    expect_exit(l1_vm_enter(1), 30, 0x00710048, 2, l2_in_imm, "L2 IN AL, imm8 exits");
    vs_skip_instruction();
    expect_exit(l1_vm_enter(1), 12, 0, 1, l2_hlt, "L2 HLT with HLT exiting exits");
    vs_skip_instruction();
    expect_exit(l1_vm_enter(1), 31, 0, 2, l2_rdmsr, "L2 RDMSR without MSR bitmaps exits");
    vs_skip_instruction();
    expect_exit(l1_vm_enter(1), 18, 0, 3, l2_vmcall, "L2 VMCALL exits");
    expect_host_state(vmread_value(F_HOST_RSP), "VMCALL exit");
    check_eq(vmxoff(), 0, "VMXOFF after running L2");
    return tap_done();
}
