/* SPDX-License-Identifier: MIT */
/*
 * VMFUNC of L2 (SDM Vol. 3C 26.5.6 "VM Functions", 31.3 "VMFUNC"; lib/exits/vmfunc.c):
 * EPTP switching completed by the library, reason 59 to L1, #UD; vmcs02's VM-function set-up;
 * the VM-entry checks of the VM-function controls (27.2.1.1).
 *
 * Suite `vmfunc` runs through the public entry points on the fake hardware host with the
 * capabilities the library computes (EPT 4-level UC/WB with A/D flags, EPTP switching; no 5-level
 * or #VE). Suite `vmfunc_caps` uses the exit fixture, whose VM exposes everything the software host
 * has, for the rules that depend on capabilities the library does not expose.
 */
#include <criterion/criterion.h>

#include "ept/ept02.h"
#include "ept/eptp.h"
#include "exit_fixture.h"
#include "sec_env.h"

#define EPTP_LIST 0x60000ull
#define UNBACKED_LIST 0x4000000ull /* 64 MiB: beyond the 16 MiB of RAM, within the width */
#define EPTP_OF(root) ((root) | (3u << EPTP_WALK_SHIFT) | MEMTYPE_WB)
#define EPTP_A EPTP_OF(0x70000ull)
#define EPTP_B EPTP_OF(0x71000ull)
#define EPTP_C EPTP_OF(0x72000ull)
#define VMFUNC_LENGTH SEC_VMFUNC_LENGTH

static harness h;
/* L1-memory reads (l1_read calls) the last l2_vmfunc made. */
static long vmfunc_reads;

static void setup(void)
{
    sec_nested_init(&h, NULL, NULL);
}

static void teardown(void)
{
    harness_fini(&h);
}

TestSuite(vmfunc, .init = setup, .fini = teardown);

static uint64_t v02(unsigned ordinal)
{
    return h.host.vmcs[NVMX_HW_VMCS02][ordinal];
}

static uint64_t v12(unsigned ordinal)
{
    return vmcs12_get(&h.vcpu->current->data, ordinal);
}

static void list_entry(unsigned index, uint64_t eptp)
{
    fake_host_write64(&h.host, EPTP_LIST + 8ull * index, eptp);
}

/* L1 gives L2 EPT (EPTP_A) and EPTP switching with the list at EPTP_LIST: {A, B, C}. */
static void l1_enables_eptp_switching(void)
{
    sec_l1_enables_eptp_switching(&h, EPTP_A, EPTP_LIST);
    list_entry(0, EPTP_A);
    list_entry(1, EPTP_B);
    list_entry(2, EPTP_C);
}

static void launch_with_eptp_switching(void)
{
    l1_enables_eptp_switching();
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
}

/* L2 executes VMFUNC with these RAX and RCX, as a hardware host reports it (reason 59). */
static nvmx_status l2_vmfunc(uint64_t rax, uint64_t rcx)
{
    long reads = h.host.l1_reads;
    nvmx_status status = sec_l2_vmfunc(&h, rax, rcx);
    vmfunc_reads = h.host.l1_reads - reads;
    return status;
}

/* The EPTP vmcs02 must hold for an EPTP of L1: its EPT02 root (cached: no new root). */
static uint64_t eptp02_of(uint64_t eptp12)
{
    uint64_t eptp02 = 0;
    cr_assert_eq(ept02_root_hpa(h.vcpu, eptp12, &eptp02), NVMX_OK);
    return eptp02;
}

/* A successful switch: L2 continues after VMFUNC, nothing else happened. */
static void assert_switched_to(uint64_t eptp12, uint64_t rip_before)
{
    cr_assert_eq(h.next.run, NVMX_RUN_L2, "%s", h.host.last_log);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(h.host.exception_count, 0);
    cr_assert_eq(v12(VMCS12_ORD_EPT_POINTER), eptp12);
    cr_assert_eq(v02(VMCS12_ORD_EPT_POINTER), eptp02_of(eptp12));
    cr_assert_eq(v02(VMCS12_ORD_GUEST_RIP), rip_before + VMFUNC_LENGTH);
}

/* SDM 26.5.6.2: the VM exit of VMFUNC: reason 59, the instruction length, no qualification;
 * L2's RIP saved at the VMFUNC (it did not complete); EPTPs unchanged. */
static void assert_exit_59(uint64_t rip_before, uint64_t eptp12_before)
{
    cr_assert_eq(h.next.run, NVMX_RUN_L1, "%s", h.host.last_log);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(h.host.exception_count, 0);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_VMFUNC);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_INSTRUCTION_LEN), VMFUNC_LENGTH);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EXIT_QUALIFICATION), 0);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_RIP), rip_before);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EPT_POINTER), eptp12_before);
}

/* An L2 VMFUNC that must exit to L1; L1 then resumes L2 unchanged. */
static void assert_vmfunc_exits(uint64_t rax, uint64_t rcx, const char *why)
{
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    uint64_t eptp12 = v12(VMCS12_ORD_EPT_POINTER);
    uint64_t eptp02 = v02(VMCS12_ORD_EPT_POINTER);
    cr_assert_eq(l2_vmfunc(rax, rcx), NVMX_OK, "%s: %s", why, h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1, "%s", why);
    cr_assert_leq(vmfunc_reads, 1, "%s: at most the one list entry is read", why);
    assert_exit_59(rip, eptp12);
    cr_assert_eq(v02(VMCS12_ORD_EPT_POINTER), eptp02, "%s: vmcs02's EPTP kept", why);
    sec_launch(&h, NVMX_EXIT_VMRESUME);
}

/* ---- vmcs02 (SDM 26.5.6.2, 25.6.14) ------------------------------------------------------ */

/* vmcs02 enables VM functions when L1 does, with every VM-function control 0: L2's VMFUNC
 * then exits to L0 (reason 59) instead of switching to an EPTP of L1's list. */
Test(vmfunc, vmcs02_enables_vm_functions_with_no_function_enabled)
{
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VM_FUNCTION_CONTROL] = ~0ull; /* L0's leftovers */
    launch_with_eptp_switching();
    cr_assert(v02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(SECONDARY_CONTROLS));
    cr_assert(v02(VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL) & NVMX_CTL(ENABLE_VMFUNC));
    cr_assert_eq(v02(VMCS12_ORD_VM_FUNCTION_CONTROL), 0);
    cr_assert_eq(v02(VMCS12_ORD_EPTP_LIST_ADDRESS), 0, "no EPTP list in vmcs02");
}

/* Without L1's "enable VM functions" vmcs02 has none either: VMFUNC is #UD in L2 (31.3). */
Test(vmfunc, vmcs02_has_no_vm_functions_when_l1_has_none)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(v02(VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL) & NVMX_CTL(ENABLE_VMFUNC), 0);
}

/* ---- EPTP switching succeeds (SDM 26.5.6.3) ---------------------------------------------- */

/* vmcs12's EPTP := the entry, vmcs02's EPTP := its EPT02 root, RIP past VMFUNC, no exit; the
 * flags are untouched (EPTP switching defines none); L1 sees the new EPTP after its next exit. */
Test(vmfunc, eptp_switch_sets_both_eptps_and_advances_rip)
{
    launch_with_eptp_switching();
    uint64_t *rflags = &h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_RFLAGS];
    *rflags |= NVMX_RFLAGS_CF | NVMX_RFLAGS_ZF | NVMX_RFLAGS_RF;
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(l2_vmfunc(0, 1), NVMX_OK, "%s", h.host.last_log);
    assert_switched_to(EPTP_B, rip);
    cr_assert_eq(*rflags & (NVMX_RFLAGS_CF | NVMX_RFLAGS_ZF), NVMX_RFLAGS_CF | NVMX_RFLAGS_ZF);
    cr_assert_eq(*rflags & NVMX_RFLAGS_RF, 0, "RF clears when an instruction completes");
    cr_assert_neq(eptp02_of(EPTP_B), eptp02_of(EPTP_A), "one EPT02 per EPT12 root");
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EPT_POINTER), EPTP_B);
}

/* The EPT02 of the root switched away from stays cached: switching back uses the same root
 * page and allocates nothing. */
Test(vmfunc, switching_back_reuses_the_cached_ept02)
{
    launch_with_eptp_switching();
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(l2_vmfunc(0, 1), NVMX_OK);
    uint64_t eptp02_b = v02(VMCS12_ORD_EPT_POINTER);
    cr_assert_eq(l2_vmfunc(0, 0), NVMX_OK);
    assert_switched_to(EPTP_A, rip + VMFUNC_LENGTH);
    long pages = h.host.page_allocs;
    long allocations = h.host.alloc_calls;
    cr_assert_eq(l2_vmfunc(0, 1), NVMX_OK);
    assert_switched_to(EPTP_B, rip + 2 * VMFUNC_LENGTH);
    cr_assert_eq(v02(VMCS12_ORD_EPT_POINTER), eptp02_b);
    cr_assert_eq(h.host.page_allocs, pages);
    cr_assert_eq(h.host.alloc_calls, allocations);
    cr_assert_eq(h.vcpu->ept02.root_count, 2);
}

/* The EPT02 leaf (hardware EPT format) that maps l2_gpa under eptp02, or 0: a 4-level walk
 * of the library's tables, which the fake host's pages hold at their host addresses. */
static uint64_t ept02_leaf(uint64_t eptp02, uint64_t l2_gpa)
{
    uint64_t table = eptp02 & ~PAGE_OFFSET_MASK;
    for (unsigned level = 4; level >= 1; level--) {
        const uint64_t *entries = fake_host_page(table);
        uint64_t entry = entries[(l2_gpa >> (12 + 9 * (level - 1))) & 511];
        if (!(entry & EPT_ENTRY_RWX))
            return 0;
        if (level == 1 || (entry & EPT_ENTRY_PAGE_SIZE))
            return entry;
        table = entry & 0x000FFFFFFFFFF000ull;
    }
    return 0;
}

/* What L2 built through one EPT02 is still there after switching away and back: a leaf
 * installed under EPTP_B (L2 GPA 5000H -> L1 GPA 90000H through L1's 4-level EPT12) survives
 * a switch to EPTP_A and back, and switching back allocates nothing. */
Test(vmfunc, switching_back_keeps_the_leaves_built_under_a_root)
{
    uint64_t pml4 = EPTP_B & ~PAGE_OFFSET_MASK;
    fake_host_write64(&h.host, pml4, 0x73000 | EPT_ENTRY_RWX);
    fake_host_write64(&h.host, 0x73000, 0x74000 | EPT_ENTRY_RWX);
    fake_host_write64(&h.host, 0x74000, 0x75000 | EPT_ENTRY_RWX);
    fake_host_write64(&h.host, 0x75000 + 8 * 5,
                      0x90000 | EPT_ENTRY_RWX | ((uint64_t)MEMTYPE_WB << EPT_ENTRY_MEMTYPE_SHIFT));
    launch_with_eptp_switching();
    cr_assert_eq(l2_vmfunc(0, 1), NVMX_OK);
    ept02_fault_result fault;
    ept12_access read = {.kind = EPT12_ACCESS_READ};
    cr_assert_eq(ept02_fault(h.vcpu, EPTP_B, 0x5000, &read, &fault), NVMX_OK);
    cr_assert_eq(fault.outcome, EPT02_INSTALLED);
    uint64_t eptp02_b = v02(VMCS12_ORD_EPT_POINTER);
    uint64_t leaf = ept02_leaf(eptp02_b, 0x5000);
    cr_assert_eq(leaf & 0x000FFFFFFFFFF000ull, FAKE_EPT01_HOST_BASE + 0x90000);
    cr_assert_eq(l2_vmfunc(0, 0), NVMX_OK);
    cr_assert_eq(ept02_leaf(v02(VMCS12_ORD_EPT_POINTER), 0x5000), 0, "EPTP_A maps nothing yet");
    long pages = h.host.page_allocs;
    cr_assert_eq(l2_vmfunc(0, 1), NVMX_OK);
    cr_assert_eq(v02(VMCS12_ORD_EPT_POINTER), eptp02_b);
    cr_assert_eq(ept02_leaf(eptp02_b, 0x5000), leaf);
    cr_assert_eq(h.host.page_allocs, pages, "B's EPT02 was kept, not rebuilt");
}

/* Switching to the EPTP in use is a switch like any other: RIP advances, nothing else. */
Test(vmfunc, switch_to_the_current_eptp_completes)
{
    launch_with_eptp_switching();
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(l2_vmfunc(0, 0), NVMX_OK);
    assert_switched_to(EPTP_A, rip);
}

/* SDM 26.5.6.3: the index is ECX: bits 63:32 of RCX (and of RAX for the function) do not
 * count. */
Test(vmfunc, eptp_switch_uses_ecx_and_eax_not_the_high_halves)
{
    launch_with_eptp_switching();
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(l2_vmfunc(0xFFFFFFFF00000000ull, 0xFFFFFFFF00000002ull), NVMX_OK);
    assert_switched_to(EPTP_C, rip);
}

/* Entry 511, the last of the list, is an entry like the others. */
Test(vmfunc, eptp_switch_to_entry_511)
{
    launch_with_eptp_switching();
    list_entry(511, EPTP_C);
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(l2_vmfunc(0, 511), NVMX_OK);
    assert_switched_to(EPTP_C, rip);
}

/* An emulator host passes the bytes (0F 01 D4): the same switch, and the same exit with the
 * decoded length and no instruction information (SDM 28.2.5: undefined for VMFUNC, 0 here). */
Test(vmfunc, undecoded_vmfunc_bytes_switch_and_exit_alike)
{
    launch_with_eptp_switching();
    nvmx_exit exit = {
        .reason = NVMX_EXIT_UNDECODED, .bytes = {0x0F, 0x01, 0xD4}, .bytes_length = 3};
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    h.host.regs[NVMX_REG_RAX] = 0;
    h.host.regs[NVMX_REG_RCX] = 1;
    cr_assert_eq(sec_l2_exit(&h, &exit), NVMX_OK, "%s", h.host.last_log);
    assert_switched_to(EPTP_B, rip);
    h.host.regs[NVMX_REG_RAX] = 5;
    rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(sec_l2_exit(&h, &exit), NVMX_OK);
    assert_exit_59(rip, EPTP_B);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VMX_INSTRUCTION_INFO), 0);
}

/* ---- Exits to L1 (SDM 26.5.6.2, 26.5.6.3) ------------------------------------------------ */

/* A function whose VM-function control is 0 exits with reason 59. */
Test(vmfunc, function_not_enabled_exits_to_l1_with_reason_59)
{
    launch_with_eptp_switching();
    assert_vmfunc_exits(1, 1, "function 1");
    assert_vmfunc_exits(63, 1, "function 63");
}

/* EPTP switching itself not enabled: VMFUNC 0 exits, the list is not read. */
Test(vmfunc, eptp_switching_not_enabled_exits_without_reading_the_list)
{
    l1_enables_eptp_switching();
    sec_vmwrite(&h, NVMX_FIELD_VM_FUNCTION_CONTROL, 0);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    assert_vmfunc_exits(0, 1, "EPTP switching off");
    cr_assert_eq(vmfunc_reads, 0);
}

/* SDM 26.5.6.3: ECX >= 512 exits (the list has 512 entries), whatever RCX's high half. */
Test(vmfunc, index_512_and_beyond_exits_to_l1)
{
    launch_with_eptp_switching();
    const uint64_t indexes[] = {
        512, 513, 0xFFFF, 0x10001, 0x80000000ull, 0xFFFFFFFFull, 0xFFFFFFFF00000200ull};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(indexes); i++) {
        assert_vmfunc_exits(0, indexes[i], "index beyond the list");
        cr_assert_eq(vmfunc_reads, 0, "nothing beyond the list is read");
    }
}

/* SDM 26.5.6.3: an entry that is not a valid EPTP (it would fail VM entry, 27.2.1.1) exits;
 * one row per rule, against the exposed capabilities (4-level, UC and WB, A/D flags; no
 * 5-level walks or supervisor shadow stack). */
Test(vmfunc, invalid_list_entry_exits_to_l1_for_each_eptp_rule)
{
    launch_with_eptp_switching();
    const struct {
        uint64_t eptp;
        const char *rule;
    } bad[] = {
        {(EPTP_B & ~7ull) | 1, "memory type 1 (WC) is never an EPTP type"},
        {(EPTP_B & ~7ull) | 1, "memory type 1 reserved"},
        {(EPTP_B & ~7ull) | 2, "memory type 2 reserved"},
        {(EPTP_B & ~7ull) | 3, "memory type 3 reserved"},
        {(EPTP_B & ~7ull) | 4, "memory type 4 (WT) not supported for EPT"},
        {(EPTP_B & ~7ull) | 5, "memory type 5 (WP) not supported for EPT"},
        {(EPTP_B & ~7ull) | 7, "memory type 7 reserved"},
        {EPTP_B & ~EPTP_WALK_MASK, "page-walk length 1"},
        {(EPTP_B & ~EPTP_WALK_MASK) | (2u << EPTP_WALK_SHIFT), "page-walk length 3"},
        {(EPTP_B & ~EPTP_WALK_MASK) | (4u << EPTP_WALK_SHIFT), "5-level walks not exposed"},
        {(EPTP_B & ~EPTP_WALK_MASK) | (7u << EPTP_WALK_SHIFT), "page-walk length 8"},
        {EPTP_B | (1ull << 8), "reserved bit 8"},
        {EPTP_B | EPTP_SUPERVISOR_SHADOW_STACK, "supervisor shadow stack not exposed"},
        {EPTP_B | (1ull << 8), "reserved bit 8"},
        {EPTP_B | (1ull << 11), "reserved bit 11"},
        {EPTP_B | (1ull << 46), "beyond the physical-address width (46)"},
        {EPTP_B | (1ull << 51), "bit 51"},
        {EPTP_B | (1ull << 63), "bit 63"},
        {~0ull, "all ones"},
    };
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(bad); i++) {
        list_entry(7, bad[i].eptp);
        assert_vmfunc_exits(0, 7, bad[i].rule);
    }
}

/* Not L1 RAM: the entry reads as all ones, never a valid EPTP. */
Test(vmfunc, unbacked_list_page_exits_to_l1)
{
    l1_enables_eptp_switching();
    sec_vmwrite(&h, NVMX_FIELD_EPTP_LIST_ADDRESS, UNBACKED_LIST);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    assert_vmfunc_exits(0, 0, "unbacked list");
    assert_vmfunc_exits(0, 511, "unbacked list, last entry");
}

/* The list is L1 memory that L1 (another vCPU) may rewrite at any time: each VMFUNC reads its
 * entry anew, exactly once, and decides on that one read. */
Test(vmfunc, each_vmfunc_reads_the_list_entry_once_anew)
{
    launch_with_eptp_switching();
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(l2_vmfunc(0, 2), NVMX_OK);
    assert_switched_to(EPTP_C, rip);
    cr_assert_eq(vmfunc_reads, 1, "one read of the 8 bytes");
    list_entry(2, EPTP_C | (1ull << 8));
    assert_vmfunc_exits(0, 2, "entry 2 became invalid");
    cr_assert_eq(vmfunc_reads, 1);
    list_entry(2, EPTP_B);
    rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(l2_vmfunc(0, 2), NVMX_OK);
    assert_switched_to(EPTP_B, rip);
    cr_assert_eq(vmfunc_reads, 1);
}

/* ---- #UD (SDM 31.3, 26.5.6.2) ------------------------------------------------------------- */

/* EAX > 63: #UD in L2 at the VMFUNC, whatever the VM-function controls; no exit. */
Test(vmfunc, function_above_63_is_ud_of_l2)
{
    launch_with_eptp_switching();
    const uint64_t functions[] = {64, 65, 0x80000000ull, 0xFFFFFFFFull};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(functions); i++) {
        uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
        h.host.exception_count = 0;
        cr_assert_eq(l2_vmfunc(functions[i], 0), NVMX_OK);
        cr_assert_eq(h.next.run, NVMX_RUN_L2);
        cr_assert_eq(h.host.exception_count, 1);
        cr_assert_eq(h.host.exceptions[0].vector, NVMX_VECTOR_UD);
        cr_assert_eq(v02(VMCS12_ORD_GUEST_RIP), rip, "a fault does not retire");
        cr_assert_eq(v12(VMCS12_ORD_EPT_POINTER), EPTP_A);
    }
}

/* SDM 26.2: the #UD goes to L1 as an exception exit when L1 intercepts #UD. */
Test(vmfunc, function_above_63_exits_as_ud_when_l1_intercepts_it)
{
    l1_enables_eptp_switching();
    sec_vmwrite(&h, NVMX_FIELD_EXCEPTION_BITMAP, 1u << NVMX_VECTOR_UD);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(l2_vmfunc(64, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(h.host.exception_count, 0);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_EXCEPTION_NMI);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_INTR_INFO) & 0xFF, NVMX_VECTOR_UD);
}

/* "enable VM functions" counts only while "activate secondary controls" is 1 (25.6.2):
 * without it VMFUNC is #UD even with the secondary bit set. */
Test(vmfunc, enable_vm_functions_without_secondary_controls_is_ud)
{
    sec_vmwrite(&h, NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL, NVMX_CTL(ENABLE_VMFUNC));
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(l2_vmfunc(0, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
    cr_assert_eq(h.host.exception_count, 1);
    cr_assert_eq(h.host.exceptions[0].vector, NVMX_VECTOR_UD);
}

/* SDM 31.3: outside VMX non-root operation VMFUNC is #UD (L1 executing it itself). */
Test(vmfunc, vmfunc_of_l1_is_ud)
{
    l1_enables_eptp_switching();
    h.host.regs[NVMX_REG_RAX] = 0;
    h.host.regs[NVMX_REG_RCX] = 1;
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMFUNC, 0, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
    h.host.exception_count = 0;
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EPT_POINTER), EPTP_A);
}

/* ---- Single step and MTF (SDM 26.7.2, Vol. 3A 18.3.1.4) ---------------------------------- */

/* L1's monitor trap flag: the MTF VM exit follows the completed VMFUNC (the library completed
 * it, so vmcs02's MTF did not see it). */
Test(vmfunc, eptp_switch_with_monitor_trap_flag_exits_to_l1_after_it)
{
    l1_enables_eptp_switching();
    sec_set_proc(&h, NVMX_CTL(MONITOR_TRAP_FLAG), 0);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(l2_vmfunc(0, 1), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_MONITOR_TRAP_FLAG);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_RIP), rip + VMFUNC_LENGTH);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EPT_POINTER), EPTP_B);
}

/* RFLAGS.TF without MTF: the single-step trap is the embedder's to deliver. */
Test(vmfunc, eptp_switch_with_tf_asks_for_the_single_step_trap)
{
    launch_with_eptp_switching();
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_RFLAGS] |= NVMX_RFLAGS_TF;
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(l2_vmfunc(0, 1), NVMX_OK);
    cr_assert(h.next.single_step_trap);
    assert_switched_to(EPTP_B, rip);
}

/* SDM 26.7.2: "MTF VM exits take priority over debug-trap exceptions". With MTF and TF the MTF
 * exit comes first and no #DB reaches L2 (or L1); the trap stays pending and the exit saves it
 * as BS in the pending debug exceptions field (28.3.4). */
Test(vmfunc, mtf_exit_takes_priority_over_the_single_step_trap_26_7_2)
{
    l1_enables_eptp_switching();
    sec_set_proc(&h, NVMX_CTL(MONITOR_TRAP_FLAG), 0);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_RFLAGS] |= NVMX_RFLAGS_TF;
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(l2_vmfunc(0, 1), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1, "%s", h.host.last_log);
    cr_assert_not(h.next.single_step_trap, "the #DB is not delivered now");
    cr_assert_eq(h.host.exception_count, 0);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_MONITOR_TRAP_FLAG);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_RIP), rip + VMFUNC_LENGTH);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EPT_POINTER), EPTP_B);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS) & NVMX_PENDING_DBG_BS,
                 NVMX_PENDING_DBG_BS, "the single-step trap is pending at the MTF exit");
}

/* Without TF the MTF exit saves no BS: nothing was pending. */
Test(vmfunc, mtf_exit_without_tf_saves_no_pending_single_step)
{
    l1_enables_eptp_switching();
    sec_set_proc(&h, NVMX_CTL(MONITOR_TRAP_FLAG), 0);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(l2_vmfunc(0, 1), NVMX_OK);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_MONITOR_TRAP_FLAG);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS) & NVMX_PENDING_DBG_BS, 0);
}

/* ---- Host failures: an architectural no-op, an error for the embedder --------------------- */

/* No page for the new EPT02 root: NVMX_ERR_NO_MEMORY, L1's and L2's state unchanged. */
Test(vmfunc, no_page_for_the_ept02_root_changes_nothing)
{
    launch_with_eptp_switching();
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    uint64_t eptp02 = v02(VMCS12_ORD_EPT_POINTER);
    h.host.fail_page_at = h.host.page_allocs + 1;
    cr_assert_eq(l2_vmfunc(0, 1), NVMX_ERR_NO_MEMORY);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(v12(VMCS12_ORD_EPT_POINTER), EPTP_A);
    cr_assert_eq(v02(VMCS12_ORD_EPT_POINTER), eptp02);
    cr_assert_eq(v02(VMCS12_ORD_GUEST_RIP), rip);
}

/* vmcs02's EPTP cannot be written: NVMX_ERR_HOST, vmcs12 unchanged. */
Test(vmfunc, failing_vmcs02_write_changes_nothing)
{
    launch_with_eptp_switching();
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    h.host.vmcs_writes[0] = h.host.vmcs_writes[1] = 0;
    h.host.fail_vmcs_write_at = 1;
    cr_assert_eq(l2_vmfunc(0, 1), NVMX_ERR_HOST);
    h.host.fail_vmcs_write_at = 0;
    cr_assert_eq(v12(VMCS12_ORD_EPT_POINTER), EPTP_A);
    cr_assert_eq(v02(VMCS12_ORD_GUEST_RIP), rip);
}

/* ---- VM-entry checks of the VM-function controls (SDM 27.2.1.1, A.11) -------------------- */

static void assert_entry_fails_7(const char *why)
{
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu), "%s", why);
    cr_assert(h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RFLAGS] & NVMX_RFLAGS_ZF, "%s", why);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_INSTRUCTION_ERROR),
                 NVMX_VMERR_ENTRY_INVALID_CONTROL_FIELD, "%s", why);
}

Test(vmfunc, entry_fails_with_a_reserved_vm_function_control)
{
    l1_enables_eptp_switching();
    sec_vmwrite(&h, NVMX_FIELD_VM_FUNCTION_CONTROL, 1ull << 1);
    assert_entry_fails_7("VM function 1 is reserved");
    sec_vmwrite(&h, NVMX_FIELD_VM_FUNCTION_CONTROL, 1ull << 63);
    assert_entry_fails_7("VM function 63 is reserved");
}

Test(vmfunc, entry_fails_with_eptp_switching_without_ept)
{
    l1_enables_eptp_switching();
    sec_vmwrite(&h, NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL, NVMX_CTL(ENABLE_VMFUNC));
    assert_entry_fails_7("EPTP switching needs enable EPT");
}

Test(vmfunc, entry_fails_with_a_bad_eptp_list_address)
{
    l1_enables_eptp_switching();
    sec_vmwrite(&h, NVMX_FIELD_EPTP_LIST_ADDRESS, EPTP_LIST | 8);
    assert_entry_fails_7("EPTP list not 4-KByte aligned");
    sec_vmwrite(&h, NVMX_FIELD_EPTP_LIST_ADDRESS, EPTP_LIST | (1ull << 46));
    assert_entry_fails_7("EPTP list beyond the physical-address width");
}

/* The VM-function fields count only with "enable VM functions" (A.11, 27.2.1.1). */
Test(vmfunc, vm_function_fields_are_not_checked_without_enable_vm_functions)
{
    l1_enables_eptp_switching();
    sec_vmwrite(&h, NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL, NVMX_CTL(EPT));
    sec_vmwrite(&h, NVMX_FIELD_VM_FUNCTION_CONTROL, ~0ull);
    sec_vmwrite(&h, NVMX_FIELD_EPTP_LIST_ADDRESS, ~0ull);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
}

/* ---- Exposure (SDM A.3.3, A.11) ---------------------------------------------------------- */

/* EPTP switching follows EPT, which needs the EPT02 ops; "enable VM functions" stays, with
 * an IA32_VMX_VMFUNC of 0. */
Test(vmfunc_exposure, eptp_switching_hidden_without_the_ept_ops)
{
    fake_host host;
    fake_host_init(&host, 4096);
    nvmx_host_ops ops = *fake_host_ops();
    ops.tlb_flush = NULL;
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    nvmx_vm *vm;
    cr_assert_eq(nvmx_vm_create(&config, &ops, &host, &vm), NVMX_OK);
    cr_assert_not(nvmx_vm_has_feature(vm, NVMX_FEATURE_EPT));
    cr_assert_not(nvmx_vm_has_feature(vm, NVMX_FEATURE_EPTP_SWITCHING));
    cr_assert(nvmx_vm_has_feature(vm, NVMX_FEATURE_ENABLE_VMFUNC));
    nvmx_vmx_caps caps;
    nvmx_vm_get_caps(vm, &caps);
    cr_assert_eq(caps.vmfunc, 0);
    nvmx_vm_destroy(vm);
    fake_host_fini(&host);
}

Test(vmfunc_exposure, exposed_with_the_ept_ops)
{
    fake_host host;
    fake_host_init(&host, 4096);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    nvmx_vm *vm;
    cr_assert_eq(nvmx_vm_create(&config, fake_host_ops(), &host, &vm), NVMX_OK);
    cr_assert(nvmx_vm_has_feature(vm, NVMX_FEATURE_ENABLE_VMFUNC));
    cr_assert(nvmx_vm_has_feature(vm, NVMX_FEATURE_EPTP_SWITCHING));
    nvmx_vmx_caps caps;
    nvmx_vm_get_caps(vm, &caps);
    cr_assert_eq(caps.vmfunc, NVMX_CTL(EPTP_SWITCHING));
    nvmx_vm_destroy(vm);
    fake_host_fini(&host);
}

/* ---- Capabilities the library does not expose (exit fixture: the software host's) ------- */

static exit_fixture x;

static void caps_setup(void)
{
    exit_fixture_init(&x);
    V12(&x, CPU_BASED_VM_EXEC_CONTROL) |= NVMX_CTL(SECONDARY_CONTROLS);
    V12(&x, SECONDARY_VM_EXEC_CONTROL) = NVMX_CTL(EPT) | NVMX_CTL(ENABLE_VMFUNC);
    V12(&x, EPT_POINTER) = EPTP_A;
    V12(&x, VM_FUNCTION_CONTROL) = NVMX_CTL(EPTP_SWITCHING);
    V12(&x, EPTP_LIST_ADDRESS) = EPTP_LIST;
}

static void caps_teardown(void)
{
    ept02_destroy(&x.f.vcpu);
    cr_expect_eq(x.f.host.live_pages, 0);
    exit_fixture_fini(&x);
}

TestSuite(vmfunc_caps, .init = caps_setup, .fini = caps_teardown);

static nvmx_status fixture_vmfunc(uint64_t entry, uint64_t rcx, nvmx_next *next)
{
    fake_host_write64(&x.f.host, EPTP_LIST + 8 * (rcx & 0x1FF), entry);
    x.f.host.regs[NVMX_REG_RAX] = 0;
    x.f.host.regs[NVMX_REG_RCX] = rcx;
    nvmx_exit exit = {.reason = NVMX_EXIT_VMFUNC, .instruction_length = VMFUNC_LENGTH};
    return nvmx_on_l2_exit(&x.f.vcpu, &exit, next);
}

/* The EPTP rules are the exposed capabilities': with UC, 5-level walks, A/D flags and the
 * supervisor shadow-stack bit exposed, entries using them are valid. */
Test(vmfunc_caps, eptp_rules_follow_the_exposed_capabilities)
{
    const uint64_t good[] = {
        EPTP_B & ~7ull,
        (EPTP_B & ~EPTP_WALK_MASK) | (4u << EPTP_WALK_SHIFT),
        EPTP_B | EPTP_ACCESSED_DIRTY,
        EPTP_B | EPTP_SUPERVISOR_SHADOW_STACK,
    };
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(good); i++) {
        nvmx_next next;
        cr_assert_eq(fixture_vmfunc(good[i], 3, &next), NVMX_OK, "%s", x.f.host.last_log);
        cr_assert_eq(next.run, NVMX_RUN_L2);
        cr_assert_eq(V12(&x, EPT_POINTER), good[i]);
        cr_assert(V12_DIRTY(&x, VMCS12_ORD_EPT_POINTER), "the next entry sees the new EPTP");
        cr_assert(x.cur->memory_stale, "written back to L1's region");
    }
}

/* SDM 26.5.6.3: with "EPT-violation #VE" supported, ECX[15:0] goes to the EPTP-index field. */
Test(vmfunc_caps, eptp_switch_writes_the_eptp_index_when_ve_is_supported)
{
    nvmx_next next;
    V12(&x, EPTP_INDEX) = 0xFFFF;
    cr_assert_eq(fixture_vmfunc(EPTP_C, 0xFFFFFFFF000001A5ull, &next), NVMX_OK);
    cr_assert_eq(next.run, NVMX_RUN_L2);
    cr_assert_eq(V12(&x, EPT_POINTER), EPTP_C);
    cr_assert_eq(V12(&x, EPTP_INDEX), 0x1A5);
}

/* Without it (the library's own set) the field does not exist and is not written. */
Test(vmfunc_caps, no_eptp_index_without_ve)
{
    nvmx_next next;
    x.f.vm.caps.procbased2 &= ~(NVMX_CTL(EPT_VIOLATION_VE) << 32);
    cr_assert_eq(fixture_vmfunc(EPTP_C, 5, &next), NVMX_OK);
    cr_assert_eq(V12(&x, EPT_POINTER), EPTP_C);
    cr_assert_eq(V12(&x, EPTP_INDEX), 0);
    cr_assert_not(V12_DIRTY(&x, VMCS12_ORD_EPTP_INDEX));
}
