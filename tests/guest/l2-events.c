/* SPDX-License-Identifier: MIT */
/*
 * L1 test image: events and exits of L2 beyond the basic instructions. Exceptions through
 * the exception bitmap (reason 0 with the VM-exit interruption information, SDM 28.2.2) or
 * through L2's IDT when L1 does not intercept them; triple fault (reason 2); event injection
 * at VM entry through L2's IDT (27.6: a hardware exception with error code, a software
 * exception returning after the instruction); RDTSC exiting (16); I/O and MSR bitmaps (26.1.3,
 * 26.1.4: L2's accesses L1 does not intercept are handled by L0: L2 prints a TAP comment on
 * COM1 and gets #GP for an unknown MSR); a VMX instruction in L2 (reason 23).
 * L2 and L1 share the IDT of the runtime (its handlers record the vector and error code).
 */
#include "vmcs_setup.h"

static uint8_t vmcs[4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[4096] __attribute__((aligned(16)));
static uint8_t io_bitmaps[2][4096] __attribute__((aligned(4096)));
static uint8_t msr_bitmap[4096] __attribute__((aligned(4096)));
volatile uint64_t l2_result;

void l2_ud2(void), l2_after_ud2(void), l2_rdtsc(void), l2_print(void), l2_print_done(void),
    l2_rdmsr_unknown(void), l2_after_rdmsr(void), l2_vmread(void), l2_int3_site(void),
    l2_out80(void), l2_pat(void), l2_wrmsr_pat(void), l2_int3(void), l2_after_int3(void),
    l2_int4(void), l2_after_int4(void), l2_vmcall(void);
__asm__(".text\n"
        "l2_ud2: ud2\n"
        "l2_after_ud2: vmcall\n"
        "l2_rdtsc: rdtsc\n"
        "  vmcall\n"
        /* "# hello from L2\n" on COM1: IN and OUT not intercepted (I/O bitmaps); each byte
         * waits for the transmitter holding register to be empty (LSR bit 5), as a UART
         * needs (Bochs drops bytes otherwise) */
        "l2_print: lea l2_message(%rip), %rsi\n"
        "1: mov $0x3FD, %dx\n"
        "2: inb %dx, %al\n"
        "  test $0x20, %al\n"
        "  jz 2b\n"
        "  movb (%rsi), %al\n"
        "  test %al, %al\n"
        "  jz l2_print_done\n"
        "  mov $0x3F8, %dx\n"
        "  outb %al, %dx\n"
        "  inc %rsi\n"
        "  jmp 1b\n"
        "l2_print_done: vmcall\n"
        "l2_rdmsr_unknown: mov $0x1FFF, %ecx\n"
        "  rdmsr\n"
        "l2_after_rdmsr: vmcall\n"
        "l2_out80: outb %al, $0x80\n"
        "  vmcall\n"
        "l2_pat: mov $0x277, %ecx\n"
        "  rdmsr\n"
        "  mov %eax, l2_result(%rip)\n"
        "l2_wrmsr_pat: wrmsr\n"
        "  vmcall\n"
        "l2_int3: int3\n"
        "l2_after_int3: vmcall\n"
        "l2_int4: int $4\n"
        "l2_after_int4: vmcall\n"
        "l2_vmread: vmread %rax, %rdx\n"
        "l2_int3_site: nop\n"
        "l2_vmcall: vmcall\n"
        "  jmp l2_vmcall\n"
        ".section .rodata\n"
        "l2_message: .asciz \"# hello from L2 through an I/O port L1 does not intercept\\n\"\n"
        ".text\n");

static uint64_t addr(void (*f)(void))
{
    return (uint64_t)(uintptr_t)f;
}

static uint64_t l2_rsp(void)
{
    return (uint64_t)(uintptr_t)(l2_stack + sizeof(l2_stack));
}

/* Enter L2 at `rip` (VMRESUME; the first time VMLAUNCH) and check the exit reason. An
 * exception handler L2 runs resumes `skip` bytes after the faulting instruction. */
static bool launched;
static bool enter_at(void (*rip)(void), uint64_t skip, uint64_t reason, const char *what)
{
    vmwrite(F_GUEST_RIP, addr(rip));
    vmwrite(F_GUEST_RSP, l2_rsp());
    rt_fault_skip = skip; /* after the VMWRITEs: they set it for their own faults */
    uint64_t result = l1_vm_enter(launched);
    launched = true;
    check_eq2(result, 0, what, "the VM entry succeeded and L2 exited");
    return check_eq2(vmread_value(F_EXIT_REASON), reason, what, "exit reason");
}

static void test_exception_bitmap(void)
{
    const char *what = "L2 UD2 with exception bitmap bit 6";
    vmwrite(F_EXCEPTION_BITMAP, 1u << 6);
    enter_at(l2_ud2, 0, 0, what);
    /* 28.2.2: valid, type 3 (hardware exception), vector 6, no error code */
    check_eq2(vmread_value(F_EXIT_INTR_INFO), 0x80000306u, what,
              "VM-exit interruption information 80000306H");
    check_eq2(vmread_value(F_GUEST_RIP), addr(l2_ud2), what, "guest RIP is the faulting UD2");
    vmwrite(F_EXCEPTION_BITMAP, 0);
}

static void test_exception_to_l2(void)
{
    const char *what = "L2 UD2 without the exception bitmap bit";
    uint64_t before = rt_fault_count;
    enter_at(l2_ud2, 2, 18, what); /* the #UD handler skips UD2 */
    check2(rt_fault_count == before + 1 && rt_fault_vector == 6, what,
           "#UD went through L2's IDT, then VMCALL exited");
    check_eq2(vmread_value(F_GUEST_RIP), addr(l2_after_ud2), what, "guest RIP after the handler");
}

static void test_triple_fault(void)
{
    const char *what = "L2 UD2 with an empty IDT";
    vmwrite(F_GUEST_IDTR_LIMIT, 0);
    enter_at(l2_ud2, 0, 2, what);
    check_eq2(vmread_value(F_EXIT_QUALIFICATION), 0, what, "no exit qualification (28.2.1)");
    vmwrite(F_GUEST_IDTR_LIMIT, sizeof(rt_idt) - 1);
}

static void test_rdtsc_exiting(void)
{
    const char *what = "L2 RDTSC with RDTSC exiting";
    vmwrite(F_PROC, vmread_value(F_PROC) | PROC_RDTSC_EXITING);
    enter_at(l2_rdtsc, 0, 16, what);
    check_eq2(vmread_value(F_EXIT_INSTRUCTION_LEN), 2, what, "VM-exit instruction length");
    vmwrite(F_PROC, vmread_value(F_PROC) & ~PROC_RDTSC_EXITING);
    enter_at(l2_rdtsc, 0, 18, "L2 RDTSC without RDTSC exiting runs in L2");
}

static void test_bitmaps(void)
{
    /* I/O bitmaps all 0 (no port intercepted); MSR bitmap all 0 (no MSR in the low range) */
    uint32_t proc = (uint32_t)vmread_value(F_PROC);
    vmwrite(F_IO_BITMAP_A, (uint64_t)(uintptr_t)io_bitmaps[0]);
    vmwrite(F_IO_BITMAP_B, (uint64_t)(uintptr_t)io_bitmaps[1]);
    vmwrite(F_MSR_BITMAP, (uint64_t)(uintptr_t)msr_bitmap);
    vmwrite(F_PROC, (proc & ~PROC_UNCOND_IO) | PROC_IO_BITMAPS | PROC_MSR_BITMAPS);
    enter_at(l2_print, 0, 18, "L2 OUT to COM1 not in the I/O bitmap (L0 handles it)");
    check_eq(vmread_value(F_GUEST_RIP), addr(l2_print_done), "L2 ran its print loop without exits");
    uint64_t before = rt_fault_count;
    enter_at(l2_rdmsr_unknown, 2, 18, "L2 RDMSR of an unknown MSR not in the MSR bitmap");
    check2(rt_fault_count == before + 1 && rt_fault_vector == 13,
           "L2 RDMSR of an unknown MSR not in the MSR bitmap", "#GP through L2's IDT");
    io_bitmaps[0][0x80 / 8] = 1u << (0x80 % 8);
    enter_at(l2_out80, 0, 30, "L2 OUT to port 80H, set in I/O bitmap A");
    check_eq2(vmread_value(F_EXIT_QUALIFICATION), 0x00800040, "OUT 80H exit", "exit qualification");
    /* 25.6.9: write bitmap for low MSRs at offset 800H */
    msr_bitmap[0x800 + 0x277 / 8] = 1u << (0x277 % 8);
    enter_at(l2_pat, 0, 32, "L2 WRMSR of IA32_PAT, set in the write bitmap");
    check_eq2(vmread_value(F_GUEST_RIP), addr(l2_wrmsr_pat), "WRMSR exit",
              "the RDMSR before it (read bitmap bit clear) did not exit");
    check_eq(l2_result, (uint32_t)rdmsr(0x277), "L2's RDMSR of IA32_PAT returned L2's PAT");
    vmwrite(F_PROC, proc);
}

/* INT3 is a software exception (type 6) the exception bitmap intercepts; INT n is a software
 * interrupt it never intercepts (SDM 26.2, 28.2.2). */
static void test_software_events(void)
{
    const char *what = "L2 INT3 with exception bitmap bit 3";
    vmwrite(F_EXCEPTION_BITMAP, (1u << 3) | (1u << 4));
    enter_at(l2_int3, 0, 0, what);
    check_eq2(vmread_value(F_EXIT_INTR_INFO), 0x80000603u, what,
              "interruption information: software exception 3");
    check_eq2(vmread_value(F_EXIT_INSTRUCTION_LEN), 1, what, "VM-exit instruction length 1");
    check_eq2(vmread_value(F_GUEST_RIP), addr(l2_int3), what, "guest RIP is the INT3's");
    what = "L2 INT 4 with exception bitmap bit 4";
    uint64_t before = rt_fault_count;
    enter_at(l2_int4, 0, 18, what);
    check2(rt_fault_count == before + 1 && rt_fault_vector == 4, what,
           "a software interrupt: through L2's IDT, no exit");
    check_eq2(vmread_value(F_GUEST_RIP), addr(l2_after_int4), what,
              "L2 returned after the INT instruction");
    vmwrite(F_EXCEPTION_BITMAP, 0);
    what = "L2 INT3 without the exception bitmap bit";
    before = rt_fault_count;
    enter_at(l2_int3, 0, 18, what);
    check2(rt_fault_count == before + 1 && rt_fault_vector == 3, what, "#BP through L2's IDT");
    check_eq2(vmread_value(F_GUEST_RIP), addr(l2_after_int3), what, "L2 returned after the INT3");
}

static void test_vmx_instruction(void)
{
    const char *what = "L2 VMREAD";
    enter_at(l2_vmread, 0, 23, what);
    check_eq2(vmread_value(F_EXIT_INSTRUCTION_LEN), 3, what, "VM-exit instruction length");
    check_eq2((vmread_value(0x440E) >> 10) & 1, 1, what,
              "VM-exit instruction information: register operand (28.2.5)");
}

static void test_injection(void)
{
    const char *what = "VM entry injecting #GP(1234H)";
    uint64_t before = rt_fault_count;
    /* 25.8.3: valid, type 3, deliver error code, vector 13 */
    vmwrite(F_ENTRY_INTR_INFO, 0x80000B0Du);
    vmwrite(F_ENTRY_EXCEPTION_ERROR, 0x1234);
    enter_at(l2_vmcall, 0, 18, what);
    check2(rt_fault_count == before + 1 && rt_fault_vector == 13 && rt_fault_error == 0x1234, what,
           "delivered through L2's IDT with its error code before L2's first instruction");
    check_eq2(vmread_value(F_ENTRY_INTR_INFO) >> 31, 0, what,
              "the valid bit of the VM-entry interruption information is clear after the exit");
    what = "VM entry injecting a software exception (INT3, length 1)";
    before = rt_fault_count;
    vmwrite(F_ENTRY_INTR_INFO, 0x80000603u); /* type 6, vector 3 */
    vmwrite(F_ENTRY_INSTRUCTION_LEN, 1);
    enter_at(l2_int3_site, 0, 18, what);
    check2(rt_fault_count == before + 1 && rt_fault_vector == 3, what,
           "delivered through L2's IDT");
    check_eq2(vmread_value(F_GUEST_RIP), addr(l2_vmcall), what,
              "L2 returned after the instruction (RIP + VM-entry instruction length, 27.6.1.1)");
}

/* VM-entry failures (SDM 27.2, 27.3, 27.8): control and host-state checks fail the
 * instruction (VMfailValid 7, 8); a guest-state check fails the entry itself: L1 continues at
 * HOST_RIP with exit reason 33 and bit 31 set. */
static uint64_t entry_result(void)
{
    rt_fault_skip = 0;
    return l1_vm_enter(1);
}

static void test_entry_failures(void)
{
    const char *what = "VMRESUME with guest RFLAGS bit 1 clear";
    vmwrite(F_GUEST_RIP, addr(l2_vmcall));
    vmwrite(F_GUEST_RFLAGS, 0);
    check_eq2(entry_result(), 0, what, "L1 continues at HOST_RIP");
    check_eq2(vmread_value(F_EXIT_REASON), 0x80000021u, what,
              "exit reason 33 with bit 31 (VM-entry failure)");
    check_eq2(vmread_value(F_EXIT_QUALIFICATION), 0, what, "exit qualification 0 (27.8)");
    check_eq2(l1_exit_rflags, 0x2, what, "L1's RFLAGS is 2 (28.5.3)");
    vmwrite(F_GUEST_RFLAGS, 0x2);
    what = "VMRESUME with a VMCS link pointer other than all ones";
    vmwrite(F_LINK_POINTER, 0x1000);
    check_eq2(entry_result(), 0, what, "L1 continues at HOST_RIP");
    check_eq2(vmread_value(F_EXIT_REASON), 0x80000021u, what, "exit reason 33 with bit 31");
    check_eq2(vmread_value(F_EXIT_QUALIFICATION), 4, what,
              "exit qualification 4 (invalid VMCS link pointer)");
    vmwrite(F_LINK_POINTER, ~0ull);
    what = "VMRESUME with HOST_CR0.PE clear";
    uint64_t cr0 = read_cr0();
    vmwrite(F_HOST_CR0, cr0 & ~1ull);
    uint64_t result = entry_result();
    check_eq2(result & ((1ull << 63) | RFLAGS_ZF | RFLAGS_CF), (1ull << 63) | RFLAGS_ZF, what,
              "VMfailValid");
    check_eq2(vmread_value(F_VM_INSTRUCTION_ERROR), 8, what, "VM-instruction error 8");
    vmwrite(F_HOST_CR0, cr0);
    what = "VMRESUME with a pin-based control bit that may not be 1";
    uint64_t pin = vmread_value(F_PIN);
    vmwrite(F_PIN, pin | (1u << 31));
    result = entry_result();
    check_eq2(result & ((1ull << 63) | RFLAGS_ZF | RFLAGS_CF), (1ull << 63) | RFLAGS_ZF, what,
              "VMfailValid");
    check_eq2(vmread_value(F_VM_INSTRUCTION_ERROR), 7, what, "VM-instruction error 7");
    vmwrite(F_PIN, pin);
    enter_at(l2_vmcall, 0, 18, "VMRESUME after the failures");
}

int l1_main(uint64_t memory_size)
{
    (void)memory_size;
    rt_load_gdt();
    rt_load_idt();
    check(vs_vmxon(), "VMXON");
    check(vs_load_vmcs(vmcs), "VMCLEAR and VMPTRLD of the VMCS for L2");
    vs_controls(PROC_UNCOND_IO);
    vs_host_state();
    vs_guest_state(addr(l2_vmcall), l2_rsp(), (uint64_t)(uintptr_t)rt_idt, sizeof(rt_idt) - 1);
    test_exception_bitmap();
    test_exception_to_l2();
    test_triple_fault();
    test_rdtsc_exiting();
    test_bitmaps();
    test_software_events();
    test_vmx_instruction();
    test_injection();
    test_entry_failures();
    check_eq(vmxoff(), 0, "VMXOFF after running L2");
    return tap_done();
}
