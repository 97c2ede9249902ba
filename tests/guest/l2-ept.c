/* SPDX-License-Identifier: MIT */
/*
 * L1 test image: L2 under L1's EPT (SDM Vol. 3C 29.3). L1 maps its first 64 MiB to L2 with
 * 2 MiB EPT pages (identity) and a 2 MiB window at 48 MiB with 4 KiB pages; L2 runs a task
 * loop (read, write, fetch of an address L1 chose, then VMCALL) and L1 checks each EPT
 * violation (reason 48: qualification bits 0-2 the access, 3-5 EPT12's R/W/X, 7 linear
 * address valid, 8 translation; guest-physical and guest-linear address, 28.2.1 Table 28-7),
 * the misconfiguration (49) of a write-only entry (29.3.3.1), that L1's fix and INVEPT let
 * L2 repeat the access, remapping after INVEPT, 1 GiB pages, EPT A/D flags, VPID with
 * INVVPID, and two L2s on two VMCSs with different EPTs switched with VMPTRLD.
 */
#include "ept_setup.h"

static uint8_t vmcs[2][4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[4096] __attribute__((aligned(16)));
static ept12 ept, ept_b;
static uint64_t pdpt_1g[512] __attribute__((aligned(4096)));
static uint64_t pml4_1g[512] __attribute__((aligned(4096)));

#define WINDOW (48ull << 20)
#define PAGE(n) (WINDOW + 4096ull * (n))

enum task { T_READ = 1, T_WRITE, T_FETCH, T_VMFUNC, T_READ_SWITCH_READ, T_INT3 };
volatile uint64_t l2_task, l2_addr, l2_value, l2_value_before;

static void l2_main(void)
{
    for (;;) {
        if (l2_task == T_READ)
            l2_value = *(volatile uint64_t *)(uintptr_t)l2_addr;
        else if (l2_task == T_WRITE)
            *(volatile uint64_t *)(uintptr_t)l2_addr = l2_value;
        else if (l2_task == T_FETCH)
            ((void (*)(void))(uintptr_t)l2_addr)();
        else if (l2_task == T_VMFUNC) /* EAX = function (bits 63:32 of l2_addr), ECX = index */
            __asm__ volatile("vmfunc" : : "a"(l2_addr >> 32), "c"(l2_addr & 0xFFFFFFFF) : "memory");
        else if (l2_task == T_INT3)
            __asm__ volatile("int3" ::: "memory");
        else if (l2_task == T_READ_SWITCH_READ) { /* PAGE(10), EPTP switch, PAGE(10) again */
            l2_value_before = *(volatile uint64_t *)(uintptr_t)PAGE(10);
            __asm__ volatile("vmfunc" : : "a"(0), "c"(l2_addr) : "memory");
            l2_value = *(volatile uint64_t *)(uintptr_t)PAGE(10);
        }
        __asm__ volatile("vmcall" ::: "memory");
    }
}

static uint64_t run_task(enum task task, uint64_t address, bool launch)
{
    l2_task = task;
    l2_addr = address;
    return ept_vm_enter(launch ? 0 : 1);
}

/* After a VMCALL exit: skip it so L2 takes the next task. */
static void expect_vmcall(uint64_t entered, const char *what)
{
    check_eq2(entered == 0 ? vmread_value(F_EXIT_REASON) : entered, 18, what,
              "L2 completed the access and exited with VMCALL");
    vs_skip_instruction();
}

static void expect_violation_at(uint64_t entered, uint64_t qualification, uint64_t gpa,
                                uint64_t gla, const char *what)
{
    check_eq2(entered == 0 ? vmread_value(F_EXIT_REASON) : entered, 48, what,
              "EPT violation (exit reason 48)");
    check_eq2(vmread_value(F_EXIT_QUALIFICATION), qualification, what, "exit qualification");
    check_eq2(vmread_value(F_GUEST_PHYSICAL_ADDRESS), gpa, what, "guest-physical address");
    check_eq2(vmread_value(F_GUEST_LINEAR_ADDRESS), gla, what, "guest-linear address");
}

/* While L2 runs on L1's identity paging: linear = guest-physical. */
static void expect_violation(uint64_t entered, uint64_t qualification, uint64_t gpa,
                             const char *what)
{
    expect_violation_at(entered, qualification, gpa, gpa, what);
}

/* Give the window page back all rights and drop EPT02's stale view (INVEPT single-context). */
static void fix_page(ept12 *t, uint64_t gpa, const char *what)
{
    *ept_window_entry(t, gpa) = gpa | EPT_WB | EPT_RWX;
    check_eq2(invept(1, ept_eptp(t)), 0, what, "INVEPT single-context succeeds");
}

static void violations(void)
{
    /* not present: read, then write, then fetch (bits 3-5 = 0) */
    *ept_window_entry(&ept, PAGE(1)) = 0;
    expect_violation(run_task(T_READ, PAGE(1) + 8, true), 0x181, PAGE(1) + 8,
                     "read of a page EPT12 does not map");
    fix_page(&ept, PAGE(1), "read violation fixed");
    expect_vmcall(ept_vm_enter(1), "the read repeats after L1 mapped the page");

    *ept_window_entry(&ept, PAGE(2)) = PAGE(2) | EPT_WB | EPT_R;
    l2_value = 0x1234;
    expect_violation(run_task(T_WRITE, PAGE(2), false), 0x18A, PAGE(2),
                     "write to a read-only EPT12 page (bits 3-5 = R)");
    fix_page(&ept, PAGE(2), "write violation fixed");
    expect_vmcall(ept_vm_enter(1), "the write repeats after L1 allowed it");
    check_eq(*(volatile uint64_t *)(uintptr_t)PAGE(2), 0x1234, "L2's write reached L1's page");

    *(volatile uint8_t *)(uintptr_t)PAGE(3) = 0xC3; /* ret */
    *ept_window_entry(&ept, PAGE(3)) = PAGE(3) | EPT_WB | EPT_R | EPT_W;
    expect_violation(run_task(T_FETCH, PAGE(3), false), 0x19C, PAGE(3),
                     "instruction fetch from a non-executable EPT12 page (bits 3-5 = RW)");
    check_eq(vmread_value(F_GUEST_RIP), PAGE(3), "fetch violation: guest RIP is the target");
    fix_page(&ept, PAGE(3), "fetch violation fixed");
    expect_vmcall(ept_vm_enter(1), "the fetch repeats after L1 made the page executable");

    /* 29.3.3.1: write without read is a misconfiguration */
    *ept_window_entry(&ept, PAGE(4)) = PAGE(4) | EPT_WB | EPT_W;
    uint64_t entered = run_task(T_READ, PAGE(4), false);
    check_eq(entered == 0 ? vmread_value(F_EXIT_REASON) : entered, 49,
             "write-only EPT12 entry: EPT misconfiguration (exit reason 49)");
    check_eq(vmread_value(F_GUEST_PHYSICAL_ADDRESS), PAGE(4),
             "misconfiguration: guest-physical address");
    fix_page(&ept, PAGE(4), "misconfiguration fixed");
    expect_vmcall(ept_vm_enter(1), "the read repeats after L1 fixed the entry");
}

static void execute_only(uint64_t caps)
{
    if (!(caps & EPT_CAP_EXECONLY))
        return;
    *(volatile uint8_t *)(uintptr_t)PAGE(5) = 0xC3;
    *ept_window_entry(&ept, PAGE(5)) = PAGE(5) | EPT_WB | EPT_X;
    check(invept(1, ept_eptp(&ept)) == 0, "execute-only page: INVEPT");
    expect_vmcall(run_task(T_FETCH, PAGE(5), false), "L2 runs code from an execute-only page");
    expect_violation(run_task(T_READ, PAGE(5), false), 0x1A1, PAGE(5),
                     "read of an execute-only page (bits 3-5 = X)");
    fix_page(&ept, PAGE(5), "execute-only read fixed");
    expect_vmcall(ept_vm_enter(1), "the read repeats");
}

/* L2 GPA PAGE(6) -> L1 page PAGE(7) (value 0x7777): INVEPT makes L2 see the new mapping. */
static void remap(void)
{
    *(volatile uint64_t *)(uintptr_t)PAGE(6) = 0x6666;
    *(volatile uint64_t *)(uintptr_t)PAGE(7) = 0x7777;
    expect_vmcall(run_task(T_READ, PAGE(6), false), "read of PAGE(6) before remapping");
    check_eq(l2_value, 0x6666, "L2 reads L1's PAGE(6)");
    *ept_window_entry(&ept, PAGE(6)) = PAGE(7) | EPT_WB | EPT_RWX;
    check_eq(invept(1, ept_eptp(&ept)), 0, "INVEPT single-context after remapping");
    expect_vmcall(run_task(T_READ, PAGE(6), false), "read of PAGE(6) after remapping");
    check_eq(l2_value, 0x7777, "after INVEPT L2's PAGE(6) is L1's PAGE(7)");
    *ept_window_entry(&ept, PAGE(6)) = PAGE(6) | EPT_WB | EPT_RWX;
    check_eq(invept(1, ept_eptp(&ept)), 0, "INVEPT after restoring PAGE(6)");
}

/* 29.3.4: with EPTP bit 6, L2's write sets accessed and dirty in the EPT12 leaf. */
static void accessed_dirty(uint64_t caps)
{
    if (!(caps & EPT_CAP_AD))
        return;
    *ept_window_entry(&ept, PAGE(8)) = PAGE(8) | EPT_WB | EPT_RWX;
    vmwrite(F_EPT_POINTER, ept_eptp(&ept) | EPTP_AD);
    check_eq(invept(1, ept_eptp(&ept) | EPTP_AD), 0, "EPT A/D: INVEPT");
    expect_vmcall(run_task(T_READ, PAGE(8), false), "EPT A/D: L2 reads PAGE(8)");
    check_eq(*ept_window_entry(&ept, PAGE(8)) & (EPT_ACCESSED | EPT_DIRTY), EPT_ACCESSED,
             "EPT A/D: a read sets the accessed flag only");
    l2_value = 1;
    expect_vmcall(run_task(T_WRITE, PAGE(8), false), "EPT A/D: L2 writes PAGE(8)");
    check_eq(*ept_window_entry(&ept, PAGE(8)) & (EPT_ACCESSED | EPT_DIRTY),
             EPT_ACCESSED | EPT_DIRTY, "EPT A/D: a write sets the dirty flag");
    vmwrite(F_EPT_POINTER, ept_eptp(&ept));
}

/* A 2 MiB EPT12 page that does not map to itself (29.3.2, Table 29-4): L2 GPA 40 MiB -> L1
 * 42 MiB; taken away, the violation names the byte; given back after INVEPT. */
#define REGION_L2 (40ull << 20)
#define REGION_L1 (42ull << 20)

static void two_mib(void)
{
    *(volatile uint64_t *)(uintptr_t)(REGION_L1 + 0x1F1238) = 0x4242;
    *(volatile uint64_t *)(uintptr_t)(REGION_L2 + 0x1F1238) = 0x4040;
    ept.pd[REGION_L2 / MIB2] = REGION_L1 | EPT_LARGE | EPT_WB | EPT_RWX;
    check_eq(invept(1, ept_eptp(&ept)), 0, "2 MiB remap: INVEPT");
    expect_vmcall(run_task(T_READ, REGION_L2 + 0x1F1238, false), "L2 reads through a 2 MiB page");
    check_eq(l2_value, 0x4242, "2 MiB page: L2 GPA 40 MiB + x is L1's 42 MiB + x");
    ept.pd[REGION_L2 / MIB2] = REGION_L1 | EPT_LARGE | EPT_WB | EPT_X;
    check_eq(invept(1, ept_eptp(&ept)), 0, "2 MiB page made execute-only or taken away: INVEPT");
    uint64_t caps = rdmsr(0x48C);
    uint64_t expected_q = (caps & EPT_CAP_EXECONLY) ? 0x1A1 : 0;
    if (!(caps & EPT_CAP_EXECONLY))
        ept.pd[REGION_L2 / MIB2] = 0;
    expect_violation(run_task(T_READ, REGION_L2 + 0x1F1238, false), expected_q ? expected_q : 0x181,
                     REGION_L2 + 0x1F1238, "read of a 2 MiB page without read permission");
    ept.pd[REGION_L2 / MIB2] = REGION_L2 | EPT_LARGE | EPT_WB | EPT_RWX;
    check_eq(invept(1, ept_eptp(&ept)), 0, "2 MiB page back to the identity: INVEPT");
    expect_vmcall(ept_vm_enter(1), "the read repeats on the identity 2 MiB page");
    check_eq(l2_value, 0x4040, "identity again: L2 reads L1's 40 MiB + x");
}

/* One 1 GiB EPT page maps all of L2's memory (29.3.2, Table 29-2). */
static void one_gib(uint64_t caps)
{
    if (!(caps & EPT_CAP_1G))
        return;
    pml4_1g[0] = ept_pa(pdpt_1g) | EPT_RWX;
    pdpt_1g[0] = 0 | EPT_LARGE | EPT_WB | EPT_RWX;
    vmwrite(F_EPT_POINTER, ept_pa(pml4_1g) | EPTP_WB_4LEVEL);
    *(volatile uint64_t *)(uintptr_t)PAGE(9) = 0x9999;
    expect_vmcall(run_task(T_READ, PAGE(9), false), "L2 runs on one 1 GiB EPT page");
    check_eq(l2_value, 0x9999, "1 GiB page: L2 reads L1's page");
    vmwrite(F_EPT_POINTER, ept_eptp(&ept));
}

/* L2 with its own paging (non-identity): linear 512 GiB + n * 4 KiB -> the page table at
 * PAGE(23); L2's tables are L2 guest-physical addresses, translated by EPT12 too. */
#define L2_LINEAR 0x8000000000ull
#define PTE_P 1ull
#define PTE_RW 2ull
#define CR0_WP (1ull << 16)

/* L2 from the top of its task loop, on a fresh stack. */
static void restart_l2(void)
{
    vmwrite(F_GUEST_RIP, (uint64_t)(uintptr_t)l2_main);
    vmwrite(F_GUEST_RSP, ept_pa(l2_stack + sizeof(l2_stack)));
}

static void expect_page_fault(uint64_t entered, uint64_t error_code, uint64_t linear,
                              const char *what)
{
    check_eq2(entered == 0 ? vmread_value(F_EXIT_REASON) : entered, 0, what,
              "exception exit (reason 0) through the exception bitmap");
    check_eq2(vmread_value(F_EXIT_INTR_INFO), 0x80000B0E, what,
              "interruption information: valid, hardware exception, error code, vector 14");
    check_eq2(vmread_value(F_EXIT_INTR_ERROR), error_code, what, "#PF error code");
    check_eq2(vmread_value(F_EXIT_QUALIFICATION), linear, what,
              "exit qualification is the faulting linear address (28.2.1)");
}

static void own_paging(void)
{
    uint64_t *pml4 = (uint64_t *)(uintptr_t)PAGE(20), *pdpt = (uint64_t *)(uintptr_t)PAGE(21);
    uint64_t *pd = (uint64_t *)(uintptr_t)PAGE(22), *pt = (uint64_t *)(uintptr_t)PAGE(23);
    for (unsigned i = 0; i < 512; i++)
        pml4[i] = pdpt[i] = pd[i] = pt[i] = 0;
    pml4[0] = *(uint64_t *)(uintptr_t)(read_cr3() & ~0xFFFull); /* L1's identity map, shared */
    pml4[1] = PAGE(21) | PTE_P | PTE_RW;
    pdpt[0] = PAGE(22) | PTE_P | PTE_RW;
    pd[0] = PAGE(23) | PTE_P | PTE_RW;
    pd[1] = PAGE(27) | PTE_P | PTE_RW; /* a page table EPT12 does not map */
    pt[0] = PAGE(24) | PTE_P | PTE_RW;
    pt[2] = PAGE(25) | PTE_P; /* read-only */
    pt[3] = PAGE(26) | PTE_P | PTE_RW;
    *ept_window_entry(&ept, PAGE(26)) = 0;
    *ept_window_entry(&ept, PAGE(27)) = 0;
    check_eq(invept(1, ept_eptp(&ept)), 0, "own paging: INVEPT");
    *(volatile uint64_t *)(uintptr_t)(PAGE(24) + 0x10) = 0x2424;
    vmwrite(F_GUEST_CR3, PAGE(20));
    vmwrite(F_GUEST_CR0, read_cr0() | CR0_WP); /* supervisor writes obey R/W (Vol. 3A 4.6) */
    vmwrite(F_EXCEPTION_BITMAP, 1u << 14);

    expect_vmcall(run_task(T_READ, L2_LINEAR + 0x10, false), "L2 on its own page tables");
    check_eq(l2_value, 0x2424, "L2 linear 512 GiB reads L1's PAGE(24)");
    expect_page_fault(run_task(T_READ, L2_LINEAR + 0x1010, false), 0, L2_LINEAR + 0x1010,
                      "L2 reads a linear page its paging does not map");
    pt[1] = PAGE(24) | PTE_P | PTE_RW;
    expect_vmcall(ept_vm_enter(1), "the read repeats after L1 mapped the linear page");
    l2_value = 5;
    expect_page_fault(run_task(T_WRITE, L2_LINEAR + 0x2018, false), 3, L2_LINEAR + 0x2018,
                      "L2 writes a read-only page with CR0.WP (error code P|W)");
    pt[2] |= PTE_RW;
    expect_vmcall(ept_vm_enter(1), "the write repeats after L1 made the page writable");
    expect_violation_at(run_task(T_READ, L2_LINEAR + 0x3020, false), 0x181, PAGE(26) + 0x20,
                        L2_LINEAR + 0x3020,
                        "own paging: EPT violation of the final access (GPA and L2's linear)");
    fix_page(&ept, PAGE(26), "own paging: final-access violation fixed");
    expect_vmcall(ept_vm_enter(1), "own paging: the read repeats");
    uint64_t entered = run_task(T_READ, L2_LINEAR + 0x200008, false);
    check_eq(entered == 0 ? vmread_value(F_EXIT_REASON) : entered, 48,
             "L2's page table outside EPT12: EPT violation");
    check_eq(vmread_value(F_EXIT_QUALIFICATION), 0x81,
             "paging-structure access: read, linear address valid, bit 8 clear");
    check_eq(vmread_value(F_GUEST_PHYSICAL_ADDRESS), PAGE(27),
             "paging-structure access: the GPA of the page-table entry");
    check_eq(vmread_value(F_GUEST_LINEAR_ADDRESS), L2_LINEAR + 0x200008,
             "paging-structure access: the linear address being translated");
    fix_page(&ept, PAGE(27), "paging-structure violation fixed");
    expect_page_fault(ept_vm_enter(1), 0, L2_LINEAR + 0x200008,
                      "then L2's empty page table gives #PF");
    restart_l2(); /* L1 does not resolve that #PF: L2 starts over */
    /* the same paging without EPT (L2 GPA = L1 GPA): #PF error codes are as exact */
    vmwrite(F_PROC2, vs_control(0x48B, 0x48B, PROC2_VPID));
    pt[2] &= ~PTE_RW;
    l2_value = 6;
    expect_page_fault(run_task(T_WRITE, L2_LINEAR + 0x2020, false), 3, L2_LINEAR + 0x2020,
                      "without EPT: L2 writes a read-only page (error code P|W)");
    pt[2] |= PTE_RW;
    expect_vmcall(ept_vm_enter(1), "without EPT: the write repeats once writable");
    check_eq(*(volatile uint64_t *)(uintptr_t)(PAGE(25) + 0x20), 6,
             "without EPT: L2's linear page 2 is L1's PAGE(25)");
    vmwrite(F_PROC2, vs_control(0x48B, 0x48B, PROC2_EPT | PROC2_VPID));
    vmwrite(F_GUEST_CR3, read_cr3());
    vmwrite(F_GUEST_CR0, read_cr0());
    vmwrite(F_EXCEPTION_BITMAP, 0);
    expect_vmcall(run_task(T_READ, PAGE(0), false), "L2 back on L1's paging");
}

/* VMFUNC 0, EPTP switching (SDM 26.5.6.3): L2 moves between the EPTPs of L1's list without
 * an exit; an invalid list entry or a function L1 did not enable exits (reason 59). */
static uint64_t eptp_list[512] __attribute__((aligned(4096)));

static void eptp_switching(void)
{
    if (!(rdmsr(0x48B) >> 32 & PROC2_VMFUNC) || !(rdmsr(0x491) & 1))
        return;
    *(volatile uint64_t *)(uintptr_t)PAGE(10) = 0xAAAA;
    *(volatile uint64_t *)(uintptr_t)PAGE(11) = 0xBBBB;
    ept_build(&ept_b, 64ull << 20, WINDOW);
    *ept_window_entry(&ept_b, PAGE(10)) = PAGE(11) | EPT_WB | EPT_RWX;
    eptp_list[0] = ept_eptp(&ept);
    eptp_list[1] = ept_eptp(&ept_b);
    vmwrite(F_PROC2, vs_control(0x48B, 0x48B, PROC2_EPT | PROC2_VPID | PROC2_VMFUNC));
    vmwrite(F_VMFUNC_CONTROLS, 1);
    vmwrite(F_EPTP_LIST, ept_pa(eptp_list));
    expect_vmcall(run_task(T_VMFUNC, 1, false), "VMFUNC 0 to EPTP list entry 1 does not exit");
    check_eq(vmread_value(F_EPT_POINTER), ept_eptp(&ept_b),
             "EPTP switching wrote the new EPTP into the VMCS");
    expect_vmcall(run_task(T_READ, PAGE(10), false), "L2 reads PAGE(10) on the second EPT");
    check_eq(l2_value, 0xBBBB, "after the switch PAGE(10) is L1's PAGE(11)");
    expect_vmcall(run_task(T_VMFUNC, 0, false), "VMFUNC 0 back to entry 0");
    expect_vmcall(run_task(T_READ, PAGE(10), false), "L2 reads PAGE(10) on the first EPT");
    check_eq(l2_value, 0xAAAA, "back on the first EPT, PAGE(10) is L1's PAGE(10)");
    expect_vmcall(run_task(T_READ_SWITCH_READ, 1, false), "read, EPTP switch, read, in L2");
    check_eq(l2_value_before, 0xAAAA, "before the switch: PAGE(10)");
    check_eq(l2_value, 0xBBBB, "right after the switch L2 sees the new EPT (no stale TLB)");
    expect_vmcall(run_task(T_VMFUNC, 0, false), "VMFUNC 0 back to entry 0 again");
    uint64_t entered = run_task(T_VMFUNC, 5, false); /* entry 5 is 0: not a valid EPTP */
    check_eq(entered == 0 ? vmread_value(F_EXIT_REASON) : entered, 59,
             "VMFUNC to an invalid list entry exits (reason 59)");
    check_eq(vmread_value(F_EXIT_INSTRUCTION_LEN), 3, "VMFUNC exit: instruction length 3");
    check_eq(vmread_value(F_EPT_POINTER), ept_eptp(&ept), "the failed switch left the EPTP");
    vs_skip_instruction();
    expect_vmcall(ept_vm_enter(1), "L2 continues after L1 skipped the VMFUNC");
    entered = run_task(T_VMFUNC, 1ull << 32, false); /* function 1: not enabled */
    check_eq(entered == 0 ? vmread_value(F_EXIT_REASON) : entered, 59,
             "VMFUNC of a function L1 did not enable exits (reason 59)");
    vs_skip_instruction();
    expect_vmcall(ept_vm_enter(1), "L2 continues");
    vmwrite(F_PROC2, vs_control(0x48B, 0x48B, PROC2_EPT | PROC2_VPID));
}

/* 28.2.4: an EPT violation while delivering an event through L2's IDT records the event in
 * the IDT-vectoring information; L1 maps the page and re-injects the event (27.6). An IDT
 * page EPT12 maps but L2 never touched is delivered through without any exit to L1. */
static void delivery(void)
{
    uint8_t *idt = (uint8_t *)(uintptr_t)PAGE(30);
    for (unsigned i = 0; i < sizeof(rt_idt); i++)
        idt[i] = ((const uint8_t *)rt_idt)[i];
    *ept_window_entry(&ept, PAGE(30)) = 0;
    check_eq(invept(1, ept_eptp(&ept)), 0, "event delivery: INVEPT");
    vmwrite(F_GUEST_IDTR_BASE, PAGE(30));
    uint64_t faults = rt_fault_count;
    rt_fault_skip = 0; /* the handler returns to the instruction after INT3 */
    expect_violation(run_task(T_INT3, 0, false), 0x181, PAGE(30) + 3 * 16,
                     "INT3 in L2, L2's IDT page not in EPT12");
    check_eq(vmread_value(F_IDT_VECTORING_INFO), 0x80000603,
             "IDT-vectoring information: valid, software exception, vector 3");
    check_eq(vmread_value(F_EXIT_INSTRUCTION_LEN), 1,
             "VM-exit instruction length is INT3's (28.2.5)");
    fix_page(&ept, PAGE(30), "IDT page mapped");
    vmwrite(F_ENTRY_INTR_INFO, vmread_value(F_IDT_VECTORING_INFO));
    vmwrite(F_ENTRY_INSTRUCTION_LEN, 1);
    rt_fault_skip = 0;
    expect_vmcall(ept_vm_enter(1), "L1 re-injects the #BP; L2's handler runs, L2 goes on");
    check_eq(rt_fault_count - faults, 1, "L2's #BP handler ran once");
    check_eq(rt_fault_vector, 3, "L2's handler saw vector 3");
    *(volatile uint64_t *)(uintptr_t)PAGE(31) = 0;
    for (unsigned i = 0; i < sizeof(rt_idt); i++)
        ((uint8_t *)(uintptr_t)PAGE(31))[i] = ((const uint8_t *)rt_idt)[i];
    vmwrite(F_GUEST_IDTR_BASE, PAGE(31)); /* mapped in EPT12, never touched by L2 */
    rt_fault_skip = 0;
    expect_vmcall(run_task(T_INT3, 0, false),
                  "INT3 through an IDT page L2 never touched: no exit to L1");
    check_eq(rt_fault_count - faults, 2, "L2's #BP handler ran again");
    vmwrite(F_GUEST_IDTR_BASE, (uint64_t)(uintptr_t)rt_idt);
    vmwrite(F_GUEST_IDTR_LIMIT, 0); /* no gate: the #BP cannot be delivered */
    uint64_t entered = run_task(T_INT3, 0, false);
    check_eq(entered == 0 ? vmread_value(F_EXIT_REASON) : entered, 2,
             "INT3 with an empty IDT under EPT: triple fault (reason 2)");
    vmwrite(F_GUEST_IDTR_LIMIT, sizeof(rt_idt) - 1);
    restart_l2();
    expect_vmcall(run_task(T_READ, PAGE(0), false), "L2 restarted after the triple fault");
}

static void vpid(void)
{
    check_eq(vmwrite(F_VPID, 5), 0, "VPID 5 for L2");
    expect_vmcall(run_task(T_READ, PAGE(0), false), "L2 runs with VPID 5");
    check_eq(invvpid(1, 5, 0), 0, "INVVPID single-context of VPID 5 succeeds");
    check_eq(invvpid(0, 5, PAGE(0)), 0, "INVVPID individual-address succeeds");
    check_eq(invvpid(1, 0, 0), RFLAGS_ZF,
             "INVVPID single-context of VPID 0 fails with VMfailValid (31 INVVPID)");
    check_eq(vmread_value(F_VM_INSTRUCTION_ERROR), 28,
             "INVVPID of VPID 0: VM-instruction error 28");
    expect_vmcall(run_task(T_READ, PAGE(0), false), "L2 runs after INVVPID");
}

/* Two L2s on two VMCSs: L2 GPA PAGE(10) is L1's PAGE(10) in the first EPT and PAGE(11) in
 * the second; VMPTRLD switches between them. */
static void two_guests(void)
{
    *(volatile uint64_t *)(uintptr_t)PAGE(10) = 0xAAAA;
    *(volatile uint64_t *)(uintptr_t)PAGE(11) = 0xBBBB;
    uint64_t pa[2] = {ept_pa(vmcs[0]), ept_pa(vmcs[1])};
    check(vs_load_vmcs(vmcs[1]), "second VMCS: VMCLEAR and VMPTRLD");
    vs_controls2(PROC_UNCOND_IO, PROC2_EPT);
    vs_host_state();
    vs_guest_state((uint64_t)(uintptr_t)l2_main, ept_pa(l2_stack + 2048),
                   (uint64_t)(uintptr_t)rt_idt, sizeof(rt_idt) - 1);
    ept_build(&ept_b, 64ull << 20, WINDOW);
    *ept_window_entry(&ept_b, PAGE(10)) = PAGE(11) | EPT_WB | EPT_RWX;
    vmwrite(F_EPT_POINTER, ept_eptp(&ept_b));
    expect_vmcall(run_task(T_READ, PAGE(10), true), "second L2 launched on its own EPT");
    check_eq(l2_value, 0xBBBB, "second L2 reads L1's PAGE(11) at PAGE(10)");
    check_eq(vmptrld(&pa[0]), 0, "VMPTRLD of the first VMCS");
    expect_vmcall(run_task(T_READ, PAGE(10), false), "first L2 resumed");
    check_eq(l2_value, 0xAAAA, "first L2 reads L1's PAGE(10) at PAGE(10)");
    check_eq(vmptrld(&pa[1]), 0, "VMPTRLD of the second VMCS");
    expect_vmcall(run_task(T_READ, PAGE(10), false), "second L2 resumed");
    check_eq(l2_value, 0xBBBB, "second L2 still reads PAGE(11)");
}

int l1_main(uint64_t memory_size)
{
    rt_load_gdt();
    rt_load_idt();
    check(memory_size >= (64ull << 20), "at least 64 MiB of memory");
    check(vs_vmxon(), "VMXON");
    uint64_t proc2_caps = rdmsr(0x48B) >> 32;
    check((proc2_caps & PROC2_EPT) && (proc2_caps & PROC2_VPID), "EPT and VPID are offered");
    uint64_t caps = rdmsr(0x48C);
    check(caps & EPT_CAP_INVEPT_SINGLE, "INVEPT single-context is offered");
    check(vs_load_vmcs(vmcs[0]), "VMCLEAR and VMPTRLD");
    vs_controls2(PROC_UNCOND_IO, PROC2_EPT | PROC2_VPID);
    vmwrite(F_VPID, 1);
    vs_host_state();
    vs_guest_state((uint64_t)(uintptr_t)l2_main, ept_pa(l2_stack + sizeof(l2_stack)),
                   (uint64_t)(uintptr_t)rt_idt, sizeof(rt_idt) - 1);
    ept_build(&ept, 64ull << 20, WINDOW);
    vmwrite(F_EPT_POINTER, ept_eptp(&ept));
    violations();
    execute_only(caps);
    remap();
    accessed_dirty(caps);
    two_mib();
    one_gib(caps);
    own_paging();
    eptp_switching();
    delivery();
    vpid();
    two_guests();
    check_eq(vmxoff(), 0, "VMXOFF");
    return tap_done();
}
