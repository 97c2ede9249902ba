/* SPDX-License-Identifier: MIT */
/*
 * L1 test image: the last L2 exits of issue 5. #PF through the exception bitmap with the
 * page-fault error-code mask/match rule (SDM Vol. 3C 26.2: exit when bit 14 of the exception
 * bitmap equals "PFEC & MASK == MATCH"; 28.2.1: qualification = linear address; 28.2.2; CR2
 * is not written by a #PF that exits); INVLPG exiting (26.1.3, reason 14, qualification =
 * the linear operand, 28.2.1), INVLPG without it (L2's TLB forgets the page); MOV-DR exiting
 * (29, Table 28-4), PAUSE exiting (40) and WBINVD exiting (54); a zero VMX-preemption timer with
 * pending debug exceptions (27.7.3, 27.7.4: the #DB is delivered, then the timer exits before L2's
 * first instruction; with #DB in the exception bitmap the #DB itself exits). L2 runs on its own
 * page tables (no EPT): linear 512 GiB + n * 4 KiB -> pt[n]; the first 512 GiB are L1's identity
 * map.
 */
#include "vmcs_setup.h"

static uint8_t vmcs[4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[4096] __attribute__((aligned(16)));
static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[512] __attribute__((aligned(4096)));
static uint64_t pt[512] __attribute__((aligned(4096)));
static uint8_t pages[3][4096] __attribute__((aligned(4096)));
volatile uint64_t l2_operand, l2_index, l2_value;
volatile uint64_t l2_pte_new, *volatile l2_pte_at;

#define L2_LINEAR 0x8000000000ull
#define PTE_P 1ull
#define PTE_RW 2ull
#define CR0_WP (1ull << 16)
#define PROC_INVLPG_EXITING (1u << 9)
#define PROC_PAUSE_EXITING (1u << 30)
#define PROC_MOV_DR_EXITING (1u << 23)
#define PROC_SECONDARY (1u << 31)
#define PROC2_WBINVD_EXITING (1u << 6)
#define PIN_PREEMPTION_TIMER (1u << 6)
#define F_TIMER 0x482E
#define F_PENDING_DEBUG 0x6822
#define PENDING_DEBUG_BS (1ull << 14)
#define INTR_INFO_PF 0x80000B0Eu /* valid, hardware exception, error code, vector 14 */
#define INTR_INFO_DB 0x80000301u /* valid, hardware exception, vector 1 */

/* L2's code: each label is at the instruction that faults or exits; MOV (%rbx) is 3 bytes. */
void l2_read(void), l2_write(void), l2_invlpg(void), l2_invlpg_sib(void), l2_invlpg_rip(void),
    l2_invlpg_gs(void), l2_remap(void), l2_mov_dr3(void), l2_mov_from_dr1(void),
    l2_dr0_round_trip(void), l2_pause(void), l2_wbinvd(void), l2_spin(void);
extern uint8_t l2_rip_target[];
__asm__(".text\n"
        "l2_read: mov l2_operand(%rip), %rbx\n"
        "l2_read_insn: mov (%rbx), %rax\n"
        "  mov %rax, l2_value(%rip)\n"
        "  vmcall\n"
        "l2_write: mov l2_operand(%rip), %rbx\n"
        "l2_write_insn: mov %rax, (%rbx)\n"
        "  vmcall\n"
        "l2_invlpg: mov l2_operand(%rip), %rbx\n"
        "l2_invlpg_insn: invlpg (%rbx)\n"
        "  vmcall\n"
        "l2_invlpg_sib: mov l2_operand(%rip), %rbx\n"
        "  mov l2_index(%rip), %rcx\n"
        "l2_invlpg_sib_insn: invlpg 0x10(%rbx,%rcx,4)\n"
        "  vmcall\n"
        "l2_invlpg_rip:\n"
        "l2_invlpg_rip_insn: invlpg l2_rip_target(%rip)\n"
        "  vmcall\n"
        "l2_invlpg_gs: mov l2_operand(%rip), %rbx\n"
        "l2_invlpg_gs_insn: invlpg %gs:-8(%rbx)\n"
        "  vmcall\n"
        /* read the linear page (its translation is now cached), change its PTE, INVLPG it,
         * read it again: the second read must see the new page (Vol. 3A 4.10.4.1) */
        "l2_remap: mov l2_operand(%rip), %rbx\n"
        "  mov (%rbx), %rax\n"
        "  mov l2_pte_at(%rip), %rdx\n"
        "  mov l2_pte_new(%rip), %rax\n"
        "  mov %rax, (%rdx)\n"
        "  invlpg (%rbx)\n"
        "  mov (%rbx), %rax\n"
        "  mov %rax, l2_value(%rip)\n"
        "  vmcall\n"
        "l2_mov_dr3: mov l2_operand(%rip), %rdx\n"
        "l2_mov_dr3_insn: mov %rdx, %dr3\n"
        "  vmcall\n"
        "l2_mov_from_dr1:\n"
        "l2_mov_from_dr1_insn: mov %dr1, %r9\n"
        "  vmcall\n"
        "l2_dr0_round_trip: mov l2_operand(%rip), %rbx\n"
        "  mov %rbx, %dr0\n"
        "  xor %eax, %eax\n"
        "  mov %dr0, %rax\n"
        "  mov %rax, l2_value(%rip)\n"
        "  vmcall\n"
        "l2_pause:\n"
        "l2_pause_insn: pause\n"
        "  vmcall\n"
        "l2_wbinvd:\n"
        "l2_wbinvd_insn: wbinvd\n"
        "  vmcall\n"
        "l2_spin: vmcall\n"
        "  jmp l2_spin\n"
        ".data\n"
        "l2_rip_target: .quad 0\n"
        ".text\n");
extern uint8_t l2_read_insn[], l2_write_insn[], l2_invlpg_insn[], l2_invlpg_sib_insn[],
    l2_invlpg_rip_insn[], l2_invlpg_gs_insn[], l2_mov_dr3_insn[], l2_mov_from_dr1_insn[],
    l2_pause_insn[], l2_wbinvd_insn[];

static uint64_t addr(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

static inline uint64_t read_cr2(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

static inline void write_cr2(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr2" : : "r"(v) : "memory");
}

static inline uint64_t read_dr6(void)
{
    uint64_t v;
    __asm__ volatile("mov %%dr6, %0" : "=r"(v));
    return v;
}

/* Enter L2 at `rip` on a fresh stack (VMLAUNCH the first time); the exit reason, or the
 * entry's failure. An exception handler L2 runs resumes `skip` bytes after the fault. */
static uint64_t enter(const void *rip, uint64_t skip)
{
    static bool launched;
    vmwrite(F_GUEST_RIP, addr(rip));
    vmwrite(F_GUEST_RSP, addr(l2_stack + sizeof(l2_stack)));
    rt_fault_skip = skip; /* after the VMWRITEs: they set it for their own faults */
    uint64_t result = l1_vm_enter(launched);
    launched = true;
    return result == 0 ? vmread_value(F_EXIT_REASON) : result;
}

static void own_paging(void)
{
    pml4[0] = *(uint64_t *)(uintptr_t)(read_cr3() & ~0xFFFull); /* L1's identity map, shared */
    pml4[1] = addr(pdpt) | PTE_P | PTE_RW;
    pdpt[0] = addr(pd) | PTE_P | PTE_RW;
    pd[0] = addr(pt) | PTE_P | PTE_RW;
    pt[0] = addr(pages[0]) | PTE_P | PTE_RW;
    pt[1] = 0;                      /* not present */
    pt[2] = addr(pages[1]) | PTE_P; /* read-only */
    pt[3] = addr(pages[2]) | PTE_P | PTE_RW;
    *(volatile uint64_t *)pages[0] = 0xA0A0;
    *(volatile uint64_t *)pages[2] = 0xC2C2;
    vmwrite(F_GUEST_CR3, addr(pml4));
    vmwrite(F_GUEST_CR0, read_cr0() | CR0_WP); /* supervisor writes obey R/W (Vol. 3A 4.6) */
}

/* One #PF of L2 (read of the not-present page: PFEC 0; write of the read-only page: PFEC 3)
 * under an exception bitmap and PFEC mask/match: an exit to L1, or L2's own handler. */
typedef struct pf_case {
    uint32_t bitmap, mask, match;
    bool write, exits;
    const char *what;
} pf_case;

static void page_fault(const pf_case *c)
{
    uint64_t linear = L2_LINEAR + (c->write ? 0x2000 + 0x18 : 0x1000 + 0x10);
    uint64_t error_code = c->write ? 3 : 0;
    const void *insn = c->write ? (const void *)l2_write_insn : (const void *)l2_read_insn;
    vmwrite(F_EXCEPTION_BITMAP, c->bitmap);
    vmwrite(F_PF_MASK, c->mask);
    vmwrite(F_PF_MATCH, c->match);
    l2_operand = linear;
    write_cr2(0x5A5A000);
    uint64_t before = rt_fault_count;
    uint64_t reason = enter(c->write ? (const void *)l2_write : (const void *)l2_read, 3);
    if (c->exits) {
        check_eq2(reason, 0, c->what, "#PF exits to L1 (reason 0)");
        check_eq2(vmread_value(F_EXIT_INTR_INFO), INTR_INFO_PF, c->what,
                  "interruption information: #PF, hardware exception, error code");
        check_eq2(vmread_value(F_EXIT_INTR_ERROR), error_code, c->what, "#PF error code");
        check_eq2(vmread_value(F_EXIT_QUALIFICATION), linear, c->what,
                  "exit qualification is the linear address (28.2.1)");
        check_eq2(vmread_value(F_GUEST_RIP), addr(insn), c->what, "guest RIP is the faulting MOV");
        check_eq2(read_cr2(), 0x5A5A000, c->what, "CR2 unchanged by a #PF that exits");
    } else {
        check_eq2(reason, 18, c->what, "#PF goes to L2's IDT, L2 then runs VMCALL");
        check2(rt_fault_count == before + 1 && rt_fault_vector == 14 &&
                   rt_fault_error == error_code,
               c->what, "L2's handler got #PF with the error code");
        check_eq2(read_cr2(), linear, c->what, "L2's #PF wrote CR2");
    }
}

static void test_page_faults(void)
{
    static const pf_case cases[] = {
        {1u << 14, 0, 0, false, true, "bit 14 set, mask 0 = match 0: a read #PF exits"},
        {1u << 14, 2, 2, false, false, "bit 14 set, W mask/match: a read #PF (PFEC 0) goes to L2"},
        {1u << 14, 2, 2, true, true, "bit 14 set, W mask/match: a write #PF (PFEC 3) exits"},
        {0, 1, 0, false, false, "bit 14 clear, P mask, match 0: a not-present #PF goes to L2"},
        {0, 1, 0, true, true, "bit 14 clear, P mask, match 0: a protection #PF exits"},
        {0, 0, 0, true, false, "bit 14 clear, mask 0 = match 0: no #PF exits"},
        {0, 0, 1, false, true, "bit 14 clear, match 1 never equals PFEC & 0: every #PF exits"},
        {~(1u << 14), 0, 0, false, false, "all bits but 14: a #PF goes to L2"},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        page_fault(&cases[i]);
    vmwrite(F_EXCEPTION_BITMAP, 0);
    vmwrite(F_PF_MASK, 0);
    vmwrite(F_PF_MATCH, 0);
}

static void expect_exit(uint64_t reason, uint64_t want, uint64_t qualification, uint64_t length,
                        const void *rip, const char *what)
{
    check_eq2(reason, want, what, "exit reason");
    check_eq2(vmread_value(F_EXIT_QUALIFICATION), qualification, what, "exit qualification");
    check_eq2(vmread_value(F_EXIT_INSTRUCTION_LEN), length, what, "VM-exit instruction length");
    check_eq2(vmread_value(F_GUEST_RIP), addr(rip), what, "guest RIP is the instruction's");
}

static void test_invlpg(uint32_t proc)
{
    vmwrite(F_PROC, vs_control(0x482, 0x48E, proc | PROC_INVLPG_EXITING));
    l2_operand = L2_LINEAR + 0x1234;
    expect_exit(enter(l2_invlpg, 0), 14, L2_LINEAR + 0x1234, 3, l2_invlpg_insn,
                "INVLPG (%rbx) with INVLPG exiting");
    l2_operand = 0x100000;
    l2_index = 0x40;
    expect_exit(enter(l2_invlpg_sib, 0), 14, 0x100000 + 0x10 + 0x100, 5, l2_invlpg_sib_insn,
                "INVLPG 0x10(%rbx,%rcx,4): base + index * 4 + disp8");
    expect_exit(enter(l2_invlpg_rip, 0), 14, addr(l2_rip_target), 7, l2_invlpg_rip_insn,
                "INVLPG RIP-relative: next RIP + disp32");
    vmwrite(F_GUEST_ES_BASE + 10, 0x40000000); /* GS base */
    l2_operand = 0x2008;
    expect_exit(enter(l2_invlpg_gs, 0), 14, 0x40002000, 5, l2_invlpg_gs_insn,
                "INVLPG %gs:-8(%rbx): the GS base is part of the linear address");
    vmwrite(F_GUEST_ES_BASE + 10, 0);

    vmwrite(F_PROC, vs_control(0x482, 0x48E, proc));
    l2_operand = L2_LINEAR;
    l2_pte_at = &pt[0];
    l2_pte_new = addr(pages[2]) | PTE_P | PTE_RW;
    check_eq(enter(l2_remap, 0), 18, "without INVLPG exiting L2 runs INVLPG (no exit)");
    check_eq(l2_value, 0xC2C2, "after L2's INVLPG its linear page reads the new PTE's page");
    pt[0] = addr(pages[0]) | PTE_P | PTE_RW;
}

/* MOV DR (26.1.3, "MOV-DR exiting" = primary bit 23; qualification 28.2.1 Table 28-4: DR
 * number 2:0, 1 = MOV from DR in bit 4, GPR 11:8). */
static void test_mov_dr(uint32_t proc)
{
    check((rdmsr(vs_true_controls ? 0x48E : 0x482) >> 32) & PROC_MOV_DR_EXITING,
          "MOV-DR exiting is offered");
    vmwrite(F_PROC, vs_control(0x482, 0x48E, proc | PROC_MOV_DR_EXITING));
    l2_operand = 0x1000;
    expect_exit(enter(l2_mov_dr3, 0), 29, 0x203, 3, l2_mov_dr3_insn,
                "MOV RDX to DR3 with MOV-DR exiting");
    expect_exit(enter(l2_mov_from_dr1, 0), 29, 0x911, 4, l2_mov_from_dr1_insn,
                "MOV DR1 to R9 with MOV-DR exiting");
    vmwrite(F_PROC, vs_control(0x482, 0x48E, proc));
    l2_operand = 0x5000;
    check_eq(enter(l2_dr0_round_trip, 0), 18, "without MOV-DR exiting L2's MOV DR runs");
    check_eq(l2_value, 0x5000, "L2 reads back the DR0 it wrote");
}

static void test_pause_wbinvd(uint32_t proc)
{
    uint64_t proc_caps = rdmsr(vs_true_controls ? 0x48E : 0x482) >> 32;
    uint64_t proc2_caps = rdmsr(0x48B) >> 32;
    check(proc_caps & PROC_PAUSE_EXITING, "PAUSE exiting is offered");
    vmwrite(F_PROC, vs_control(0x482, 0x48E, proc | PROC_PAUSE_EXITING));
    expect_exit(enter(l2_pause, 0), 40, 0, 2, l2_pause_insn, "PAUSE with PAUSE exiting");
    vmwrite(F_PROC, vs_control(0x482, 0x48E, proc));
    check_eq(enter(l2_pause, 0), 18, "PAUSE without PAUSE exiting runs (then VMCALL)");

    check((proc_caps & PROC_SECONDARY) && (proc2_caps & PROC2_WBINVD_EXITING),
          "WBINVD exiting is offered");
    vmwrite(F_PROC, vs_control(0x482, 0x48E, proc | PROC_SECONDARY));
    vmwrite(F_PROC2, vs_control(0x48B, 0x48B, PROC2_WBINVD_EXITING));
    expect_exit(enter(l2_wbinvd, 0), 54, 0, 2, l2_wbinvd_insn, "WBINVD with WBINVD exiting");
    vmwrite(F_PROC2, vs_control(0x48B, 0x48B, 0));
    check_eq(enter(l2_wbinvd, 0), 18, "WBINVD without WBINVD exiting runs (then VMCALL)");
    vmwrite(F_PROC, vs_control(0x482, 0x48E, proc));
}

/* 27.7.3/27.7.4: a zero timer exits after the pending #DB trap is delivered, before any
 * instruction of L2 (its #DB handler's first one); with #DB in the exception bitmap the #DB
 * exits instead (qualification: the pending bits in DR6 layout, Table 28-1). */
static void test_timer_zero_after_pending_debug(void)
{
    vmwrite(F_PIN, vs_control(0x481, 0x48D, PIN_PREEMPTION_TIMER));
    vmwrite(F_TIMER, 0);
    vmwrite(F_PENDING_DEBUG, PENDING_DEBUG_BS);
    vmwrite(F_EXCEPTION_BITMAP, 0);
    const char *what = "timer 0 with a pending single-step #DB";
    check_eq2(enter(l2_spin, 0), 52, what, "the timer exits (52)");
    check_eq2(vmread_value(F_GUEST_RIP), addr(rt_vector1), what,
              "guest RIP is L2's #DB handler: the #DB was delivered, nothing ran");
    check2(read_dr6() & PENDING_DEBUG_BS, what, "the delivered #DB set DR6.BS");
    what = "timer 0, pending #DB, #DB in the exception bitmap";
    vmwrite(F_PENDING_DEBUG, PENDING_DEBUG_BS);
    vmwrite(F_EXCEPTION_BITMAP, 1u << 1);
    check_eq2(enter(l2_spin, 0), 0, what, "the #DB exits first (reason 0)");
    check_eq2(vmread_value(F_EXIT_INTR_INFO), INTR_INFO_DB, what,
              "interruption information: #DB, hardware exception");
    check_eq2(vmread_value(F_EXIT_QUALIFICATION), PENDING_DEBUG_BS, what,
              "exit qualification: BS (bit 14)");
    check_eq2(vmread_value(F_GUEST_RIP), addr(l2_spin), what, "guest RIP unchanged");
    vmwrite(F_PENDING_DEBUG, 0);
    vmwrite(F_EXCEPTION_BITMAP, 0);
    vmwrite(F_PIN, vs_control(0x481, 0x48D, 0));
}

int l1_main(uint64_t memory_size)
{
    (void)memory_size;
    rt_load_gdt();
    rt_load_idt();
    check(vs_vmxon(), "VMXON");
    check(vs_load_vmcs(vmcs), "VMCLEAR and VMPTRLD");
    uint32_t proc = PROC_UNCOND_IO;
    vs_controls(proc);
    vs_host_state();
    vs_guest_state(addr(l2_spin), addr(l2_stack + sizeof(l2_stack)), addr(rt_idt),
                   sizeof(rt_idt) - 1);
    own_paging();
    test_page_faults();
    test_invlpg(proc);
    test_mov_dr(proc);
    test_pause_wbinvd(proc);
    test_timer_zero_after_pending_debug();
    check_eq(vmxoff(), 0, "VMXOFF");
    return tap_done();
}
