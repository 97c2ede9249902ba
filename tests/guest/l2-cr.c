/* SPDX-License-Identifier: MIT */
/*
 * L1 test image: L2's control registers and time under L1's controls. CR0/CR4 guest/host masks
 * and read shadows (SDM 26.1.3, 26.3: owned bits read from the shadow, writes that differ from
 * the shadow exit, writes that match leave the owned bits alone), CR3-load exiting with
 * CR3-target values, CR3-store exiting, CLTS, the CR-access exit qualification (Table 28-3);
 * TSC offsetting (25.6.5); RDTSCP without "enable RDTSCP" is #UD (25.6.2).
 */
#include "vmcs_setup.h"

#define CR0_TS (1ull << 3)
#define CR0_AM (1ull << 18)
#define CR4_PAE (1ull << 5)
#define PROC_TSC_OFFSETTING (1u << 3)
#define PROC_CR3_LOAD_EXITING (1u << 15)
#define PROC_CR3_STORE_EXITING (1u << 16)
#define F_CR0_MASK 0x6000u
#define F_CR4_MASK 0x6002u
#define F_CR0_SHADOW 0x6004u
#define F_CR4_SHADOW 0x6006u
#define F_CR3_TARGET0 0x6008u
#define F_TSC_OFFSET 0x2010u

static uint8_t vmcs[4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[4096] __attribute__((aligned(16)));
volatile uint64_t l2_result, l2_result2;

void l2_read_cr0(void), l2_write_cr0_shadow(void), l2_write_cr0_other(void),
    l2_write_cr0_other_insn(void), l2_read_cr4(void), l2_cr3_reload(void), l2_cr3_reload_insn(void),
    l2_cr3_store(void), l2_cr3_store_insn(void), l2_clts(void), l2_clts_insn(void), l2_rdtsc(void),
    l2_rdtscp(void);
/* Each routine ends in VMCALL; results go to l2_result(2). RBX holds the value to write. */
__asm__(".text\n"
        "l2_read_cr0: mov %cr0, %rax\n"
        "  mov %rax, l2_result(%rip)\n"
        "  vmcall\n"
        "l2_write_cr0_shadow: mov %rbx, %cr0\n"
        "  mov %cr0, %rax\n"
        "  mov %rax, l2_result(%rip)\n"
        "  vmcall\n"
        "l2_write_cr0_other:\n"
        "l2_write_cr0_other_insn: mov %rbx, %cr0\n"
        "  vmcall\n"
        "l2_read_cr4: mov %cr4, %rax\n"
        "  mov %rax, l2_result(%rip)\n"
        "  vmcall\n"
        "l2_cr3_reload: mov %cr3, %rcx\n"
        "l2_cr3_reload_insn: mov %rcx, %cr3\n"
        "  vmcall\n"
        "l2_cr3_store:\n"
        "l2_cr3_store_insn: mov %cr3, %rdx\n"
        "  vmcall\n"
        "l2_clts:\n"
        "l2_clts_insn: clts\n"
        "  vmcall\n"
        "l2_rdtsc: rdtsc\n"
        "  mov %eax, l2_result(%rip)\n"
        "  mov %edx, l2_result2(%rip)\n"
        "  vmcall\n"
        "l2_rdtscp: rdtscp\n"
        "  vmcall\n");

static uint64_t addr(void (*f)(void))
{
    return (uint64_t)(uintptr_t)f;
}

static bool launched;
/* Enter L2 at `rip` with RBX = rbx and check the exit reason. */
static bool enter_at(void (*rip)(void), uint64_t rbx, uint64_t reason, const char *what)
{
    vmwrite(F_GUEST_RIP, addr(rip));
    vmwrite(F_GUEST_RSP, (uint64_t)(uintptr_t)(l2_stack + sizeof(l2_stack)));
    uint64_t result;
    __asm__ volatile("mov %2, %%rbx\n\t"
                     "call l1_vm_enter"
                     : "=a"(result)
                     : "D"((uint64_t)launched), "r"(rbx)
                     : "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory", "cc");
    launched = true;
    check_eq2(result, 0, what, "the VM entry succeeded and L2 exited");
    return check_eq2(vmread_value(F_EXIT_REASON), reason, what, "exit reason");
}

static void expect_cr_exit(void (*insn)(void), uint64_t qualification, const char *what)
{
    check_eq2(vmread_value(F_EXIT_QUALIFICATION), qualification, what,
              "exit qualification (Table 28-3)");
    check_eq2(vmread_value(F_GUEST_RIP), addr(insn), what, "guest RIP is the instruction's");
    check_eq2(vmread_value(F_EXIT_INSTRUCTION_LEN), 3, what, "VM-exit instruction length");
}

static void test_cr0(void)
{
    uint64_t cr0 = read_cr0();
    vmwrite(F_CR0_MASK, CR0_AM);
    vmwrite(F_CR0_SHADOW, CR0_AM);
    enter_at(l2_read_cr0, 0, 18, "L2 MOV from CR0 with AM owned");
    check_eq(l2_result, cr0 | CR0_AM, "L2 reads the owned CR0.AM from the read shadow");
    enter_at(l2_write_cr0_shadow, cr0 | CR0_AM, 18,
             "L2 MOV to CR0 equal to the shadow in owned bits");
    check_eq(vmread_value(F_GUEST_CR0), cr0,
             "the write did not exit and left the owned CR0.AM unchanged (26.3)");
    enter_at(l2_write_cr0_other, cr0, 28, "L2 MOV to CR0 clearing the owned AM");
    expect_cr_exit(l2_write_cr0_other_insn, 0x300, "MOV RBX to CR0 exit");
    vmwrite(F_CR0_MASK, 0);
    vmwrite(F_CR0_SHADOW, 0);
}

/* 26.3: a MOV to CR0 that does not exit but clears a bit VMX operation fixes is #GP in L2 */
static void test_cr0_fixed_bit(void)
{
    const char *what = "L2 MOV to CR0 clearing CR0.NE (not owned by L1)";
    vmwrite(F_EXCEPTION_BITMAP, 1u << 13);
    enter_at(l2_write_cr0_other, read_cr0() & ~(1ull << 5), 0, what);
    check_eq2(vmread_value(F_EXIT_INTR_INFO), 0x80000B0Du, what,
              "#GP(0) in L2, intercepted: interruption information 80000B0DH");
    check_eq2(vmread_value(F_EXIT_INTR_ERROR), 0, what, "error code 0");
    check_eq2(vmread_value(F_GUEST_CR0), read_cr0(), what, "L2's CR0 is unchanged");
    vmwrite(F_EXCEPTION_BITMAP, 0);
}

static void test_cr4(void)
{
    vmwrite(F_CR4_MASK, CR4_VMXE);
    vmwrite(F_CR4_SHADOW, 0);
    enter_at(l2_read_cr4, 0, 18, "L2 MOV from CR4 with VMXE owned, shadow 0");
    check_eq(l2_result & (CR4_VMXE | CR4_PAE), CR4_PAE,
             "L2 sees CR4.VMXE = 0 from the shadow and its own CR4.PAE");
    vmwrite(F_CR4_MASK, 0);
}

static void test_cr3(void)
{
    uint32_t proc = (uint32_t)vmread_value(F_PROC);
    vmwrite(F_PROC, proc | PROC_CR3_LOAD_EXITING);
    vmwrite(F_CR3_TARGET0, read_cr3());
    vmwrite(F_CR3_TARGET_COUNT, 1);
    enter_at(l2_cr3_reload, 0, 18, "L2 MOV to CR3 of a CR3-target value");
    vmwrite(F_CR3_TARGET_COUNT, 0);
    enter_at(l2_cr3_reload, 0, 28, "L2 MOV to CR3 with CR3-load exiting");
    expect_cr_exit(l2_cr3_reload_insn, 0x103, "MOV RCX to CR3 exit");
    vmwrite(F_PROC, proc | PROC_CR3_STORE_EXITING);
    enter_at(l2_cr3_store, 0, 28, "L2 MOV from CR3 with CR3-store exiting");
    expect_cr_exit(l2_cr3_store_insn, 0x213, "MOV CR3 to RDX exit");
    vmwrite(F_PROC, proc);
}

static void test_clts(void)
{
    vmwrite(F_CR0_MASK, CR0_TS);
    vmwrite(F_CR0_SHADOW, CR0_TS);
    enter_at(l2_clts, 0, 28, "L2 CLTS with TS owned and set in the shadow");
    check_eq2(vmread_value(F_EXIT_QUALIFICATION), 0x20, "CLTS exit",
              "exit qualification: access type 2, CR0");
    check_eq2(vmread_value(F_EXIT_INSTRUCTION_LEN), 2, "CLTS exit", "VM-exit instruction length");
    vmwrite(F_GUEST_CR0, read_cr0() | CR0_TS);
    vmwrite(F_CR0_SHADOW, 0);
    enter_at(l2_clts, 0, 18, "L2 CLTS with TS owned and clear in the shadow");
    check(vmread_value(F_GUEST_CR0) & CR0_TS, "CLTS left the owned CR0.TS set (26.3)");
    vmwrite(F_GUEST_CR0, read_cr0());
    vmwrite(F_CR0_MASK, 0);
}

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static void test_tsc(void)
{
    const uint64_t offset = 1ull << 50;
    uint32_t proc = (uint32_t)vmread_value(F_PROC);
    vmwrite(F_PROC, proc | PROC_TSC_OFFSETTING);
    vmwrite(F_TSC_OFFSET, offset);
    uint64_t before = rdtsc();
    enter_at(l2_rdtsc, 0, 18, "L2 RDTSC with TSC offsetting");
    uint64_t after = rdtsc();
    uint64_t l2 = (l2_result2 << 32) | (uint32_t)l2_result;
    if (!check(l2 >= before + offset && l2 <= after + offset,
               "L2's RDTSC returns the TSC plus the offset (25.6.5)")) {
        puts_com1("# L1 before ");
        put_hex(before);
        puts_com1(", L2 ");
        put_hex(l2);
        puts_com1(", L1 after ");
        put_hex(after);
        puts_com1("\n");
    }
    vmwrite(F_PROC, proc);
    wrmsr(0x10, 1ull << 52); /* L1's own TSC: L2 without offsetting sees it */
    before = rdtsc();
    enter_at(l2_rdtsc, 0, 18, "L2 RDTSC without TSC offsetting after L1 set its TSC");
    after = rdtsc();
    l2 = (l2_result2 << 32) | (uint32_t)l2_result;
    if (!check(l2 >= before && l2 <= after, "L2 without TSC offsetting reads L1's TSC")) {
        puts_com1("# L1 before ");
        put_hex(before);
        puts_com1(", L2 ");
        put_hex(l2);
        puts_com1(", L1 after ");
        put_hex(after);
        puts_com1("\n");
    }
}

static void test_rdtscp(void)
{
    vmwrite(F_EXCEPTION_BITMAP, 1u << 6);
    enter_at(l2_rdtscp, 0, 0, "L2 RDTSCP without enable RDTSCP");
    check_eq(vmread_value(F_EXIT_INTR_INFO), 0x80000306u, "RDTSCP raised #UD in L2 (25.6.2)");
    vmwrite(F_EXCEPTION_BITMAP, 0);
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
    vs_guest_state(addr(l2_read_cr0), 0, (uint64_t)(uintptr_t)rt_idt, sizeof(rt_idt) - 1);
    test_cr0();
    test_cr0_fixed_bit();
    test_cr4();
    test_cr3();
    test_clts();
    test_tsc();
    test_rdtscp();
    check_eq(vmxoff(), 0, "VMXOFF after running L2");
    return tap_done();
}
