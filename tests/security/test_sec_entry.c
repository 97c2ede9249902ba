/* SPDX-License-Identifier: MIT */
/*
 * VM entry under a hostile vmcs12: inconsistent CR0/CR4/EFER/IA-32e state is rejected before
 * vmcs02 sees it; a failure at each stage leaves L1 bit-identical apart from what the SDM
 * says changes; L1's exiting controls always reach vmcs02 and their exits come back to L1;
 * L1's MSR bitmap is honoured exactly, with or without an L0 MSR policy (merged bitmap).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sec_env.h"

static harness h;

static void setup(void)
{
    sec_nested_init(&h, NULL, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(sec_entry, .init = setup, .fini = teardown);

static uint64_t v01(unsigned ordinal)
{
    return h.host.vmcs[NVMX_HW_VMCS01][ordinal];
}
static uint64_t v02(unsigned ordinal)
{
    return h.host.vmcs[NVMX_HW_VMCS02][ordinal];
}

/* VMLAUNCH that must fail with a VM-entry failure exit (reason 33) before vmcs02 is written. */
static void assert_entry_fails_33_without_touching_vmcs02(const char *what)
{
    long writes = h.host.vmcs_writes[NVMX_HW_VMCS02];
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK, "%s", what);
    cr_assert_eq(h.next.run, NVMX_RUN_L1, "%s: entered L2", what);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(h.host.vmcs_writes[NVMX_HW_VMCS02], writes, "%s: vmcs02 written", what);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON),
                 NVMX_EXIT_REASON_ENTRY_FAILURE | NVMX_EXIT_ENTRY_FAIL_GUEST_STATE, "%s", what);
    cr_assert_eq(h.vcpu->current->launch_state, VMCS12_STATE_CLEAR);
}

typedef struct bad_state {
    const char *what;
    uint64_t cr0, cr4, efer;
    bool ia32e, load_efer;
} bad_state;

#define CR0_GOOD 0x80000031ull /* PG | NE | ET | PE */
#define CR4_GOOD (NVMX_CR4_VMXE | NVMX_CR4_PAE)
#define EFER_64 (NVMX_EFER_LME | NVMX_EFER_LMA)

/* CVE-2023-30456 (KVM: nested entry without checking CR0.PG / CR4.PAE against IA-32e mode
 * reached the shadow MMU with impossible paging state -> host crash). SDM 27.3.1.1: an
 * IA-32e-mode guest needs CR0.PG = 1 and CR4.PAE = 1; with "load IA32_EFER" EFER.LMA must
 * equal "IA-32e mode guest" and, with CR0.PG = 1, EFER.LME must equal EFER.LMA; CR0.PG needs
 * CR0.PE; CR4.PCIDE needs IA-32e mode; CR0.PE/PG are fixed to 1 without unrestricted guest
 * (which L1 cannot enable: it needs EPT, not exposed). Each is reason 33, vmcs02 untouched. */
Test(sec_entry, inconsistent_cr0_cr4_efer_ia32e_combinations_fail_with_reason_33)
{
    const bad_state cases[] = {
        {"IA-32e guest, CR0.PG = 0", CR0_GOOD & ~NVMX_CR0_PG, CR4_GOOD, EFER_64, true, false},
        {"IA-32e guest, CR0.PG = 0, PE = 0", CR0_GOOD & ~(NVMX_CR0_PG | NVMX_CR0_PE), CR4_GOOD,
         EFER_64, true, false},
        {"IA-32e guest, CR4.PAE = 0", CR0_GOOD, CR4_GOOD & ~NVMX_CR4_PAE, EFER_64, true, false},
        {"IA-32e guest, EFER.LMA = 0 loaded", CR0_GOOD, CR4_GOOD, NVMX_EFER_LME, true, true},
        {"IA-32e guest, EFER.LME = 0, LMA = 1 with paging", CR0_GOOD, CR4_GOOD, NVMX_EFER_LMA, true,
         true},
        {"legacy guest, EFER.LMA = 1 loaded", CR0_GOOD, CR4_GOOD, EFER_64, false, true},
        {"legacy guest, EFER.LME = 1, LMA = 0 with paging", CR0_GOOD, CR4_GOOD, NVMX_EFER_LME,
         false, true},
        {"legacy guest, CR4.PCIDE = 1", CR0_GOOD, CR4_GOOD | NVMX_CR4_PCIDE, 0, false, true},
        {"CR0.PG = 1 without PE", CR0_GOOD & ~NVMX_CR0_PE, CR4_GOOD, EFER_64, true, false},
        {"CR0 reserved bit 63", CR0_GOOD | (1ull << 63), CR4_GOOD, EFER_64, true, false},
        {"CR4.VMXE = 0 (fixed)", CR0_GOOD, NVMX_CR4_PAE, EFER_64, true, false},
        {"EFER reserved bit 1", CR0_GOOD, CR4_GOOD, EFER_64 | 2, true, true},
    };
    uint64_t entry = sec_vmread(&h, NVMX_FIELD_VM_ENTRY_CONTROLS);
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(cases); i++) {
        const bad_state *c = &cases[i];
        uint64_t e = entry & ~(uint64_t)(NVMX_CTL(ENTRY_IA32E_MODE) | NVMX_CTL(ENTRY_LOAD_EFER));
        e |= (c->ia32e ? NVMX_CTL(ENTRY_IA32E_MODE) : 0) |
             (c->load_efer ? NVMX_CTL(ENTRY_LOAD_EFER) : 0);
        sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_CONTROLS, e);
        sec_vmwrite(&h, NVMX_FIELD_GUEST_CR0, c->cr0);
        sec_vmwrite(&h, NVMX_FIELD_GUEST_CR4, c->cr4);
        sec_vmwrite(&h, NVMX_FIELD_GUEST_IA32_EFER, c->efer);
        if (!c->ia32e) /* a legacy guest: a 32-bit CS */
            sec_vmwrite(&h, NVMX_FIELD_GUEST_CS_AR_BYTES,
                        (sec_vmread(&h, NVMX_FIELD_GUEST_CS_AR_BYTES) & ~(uint64_t)NVMX_AR_L) |
                            NVMX_AR_DB);
        assert_entry_fails_33_without_touching_vmcs02(c->what);
    }
}

/* SDM 27.2.1.1: "unrestricted guest" requires "enable EPT"; without it VMLAUNCH fails with
 * VMfailValid(7), before any guest state is looked at (CVE-2023-30456: CR0.PE/PG = 0
 * accepted without EPT). */
Test(sec_entry, unrestricted_guest_without_ept_fails_valid_7)
{
    sec_set_proc(&h, 0, NVMX_CTL(UNRESTRICTED_GUEST));
    sec_vmwrite(&h, NVMX_FIELD_GUEST_CR0, CR0_GOOD & ~(NVMX_CR0_PG | NVMX_CR0_PE));
    long writes = h.host.vmcs_writes[NVMX_HW_VMCS02];
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(v01(VMCS12_ORD_GUEST_RFLAGS) & NVMX_RFLAGS_ARITH, NVMX_RFLAGS_ZF);
    cr_assert_eq(vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_VM_INSTRUCTION_ERROR),
                 NVMX_VMERR_ENTRY_INVALID_CONTROL_FIELD);
    cr_assert_eq(h.host.vmcs_writes[NVMX_HW_VMCS02], writes);
}

/* ---- A failure at each stage of VM entry ------------------------------------------------------
 * SDM 31.2 (VMfail changes RIP and RFLAGS only; VMfailValid also the VM-instruction error
 * field of the current VMCS), 27.8 (a VM-entry failure after the guest-state checks loads the
 * host state of vmcs12, records reason 33/34 and the qualification, and nothing else).
 * Everything else of L1 — GPRs, vmcs01, vmcs02, memory, VMX state, allocations — is
 * bit-identical. */

static const int rip_rflags[] = {VMCS12_ORD_GUEST_RIP, VMCS12_ORD_GUEST_RFLAGS, -1};

/* The cached vmcs12 equals `before` except the VM-instruction error field. */
static void assert_vmcs12_unchanged_but_error(const vmcs12 *before, int error_ord)
{
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        if ((int)i != error_ord)
            cr_assert_eq(h.vcpu->current->data.field[i], before->field[i], "vmcs12 %s changed",
                         vmcs_field_table[i].name);
    }
}

static void assert_vmfail(uint32_t reason, int error)
{
    sec_snapshot s;
    sec_snapshot_take(&h, &s);
    vmcs12 *before = NULL;
    if (h.vcpu->current) {
        before = malloc(sizeof(*before));
        memcpy(before, &h.vcpu->current->data, sizeof(*before));
    }
    cr_assert_eq(harness_exit(&h, reason, 0, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    if (error >= 0)
        cr_assert_eq(vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_VM_INSTRUCTION_ERROR),
                     (uint64_t)error, "expected VMfailValid(%d)", error);
    cr_assert_eq(v01(VMCS12_ORD_GUEST_RIP), s.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RIP] + 3);
    cr_assert_eq(v01(VMCS12_ORD_GUEST_RFLAGS),
                 (s.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RFLAGS] & ~NVMX_RFLAGS_ARITH) |
                     (error < 0 ? NVMX_RFLAGS_CF : NVMX_RFLAGS_ZF));
    sec_assert_unchanged_except(&h, &s, rip_rflags);
    cr_assert_eq(h.host.exception_count, s.exception_count);
    if (before) {
        assert_vmcs12_unchanged_but_error(before, VMCS12_ORD_VM_INSTRUCTION_ERROR);
        free(before);
    }
    sec_snapshot_free(&s);
}

/* SDM 31.3 VMLAUNCH: no current VMCS -> VMfailInvalid. */
Test(sec_entry, vmfail_invalid_without_current_vmcs_changes_only_rip_rflags)
{
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, VMCS_A), NVMX_OK);
    assert_vmfail(NVMX_EXIT_VMLAUNCH, -1);
    assert_vmfail(NVMX_EXIT_VMRESUME, -1);
}

/* SDM 31.3: a shadow VMCS as the current VMCS -> VMfailInvalid. */
Test(sec_entry, vmfail_invalid_with_shadow_vmcs_current_changes_only_rip_rflags)
{
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, SHADOW_VMCS), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    assert_vmfail(NVMX_EXIT_VMLAUNCH, -1);
}

/* SDM 31.3: VMLAUNCH of a launched VMCS (4), VMRESUME of a clear one (5). */
Test(sec_entry, vmfail_valid_4_and_5_change_only_rip_rflags_and_error)
{
    assert_vmfail(NVMX_EXIT_VMRESUME, NVMX_VMERR_VMRESUME_NONLAUNCHED_VMCS);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    assert_vmfail(NVMX_EXIT_VMLAUNCH, NVMX_VMERR_VMLAUNCH_NONCLEAR_VMCS);
}

/* SDM 31.3: VMRESUME of a VMCS launched before VMXOFF (6). */
Test(sec_entry, vmfail_valid_6_after_vmxoff_changes_only_rip_rflags_and_error)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMXOFF, 0, 0), NVMX_OK);
    harness_vmxon_vmptrld(&h);
    assert_vmfail(NVMX_EXIT_VMRESUME, NVMX_VMERR_VMRESUME_AFTER_VMXOFF);
}

/* SDM 27.2.1: an invalid control field (a reserved primary control bit) (7). */
Test(sec_entry, vmfail_valid_7_changes_only_rip_rflags_and_error)
{
    sec_vmwrite(&h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL,
                sec_vmread(&h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL) | NVMX_CTL(TPR_SHADOW));
    assert_vmfail(NVMX_EXIT_VMLAUNCH, NVMX_VMERR_ENTRY_INVALID_CONTROL_FIELD);
}

/* SDM 27.2.2-27.2.4: invalid host state (a non-canonical HOST_RIP) (8). */
Test(sec_entry, vmfail_valid_8_changes_only_rip_rflags_and_error)
{
    sec_vmwrite(&h, NVMX_FIELD_HOST_RIP, 0x0000800000000000ull);
    assert_vmfail(NVMX_EXIT_VMLAUNCH, NVMX_VMERR_ENTRY_INVALID_HOST_STATE);
}

/* SDM 31.3: VMLAUNCH with events blocked by MOV SS in L1 (26). */
Test(sec_entry, vmfail_valid_26_changes_only_rip_rflags_and_error)
{
    h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_INTERRUPTIBILITY_INFO] = NVMX_BLOCKING_MOV_SS;
    assert_vmfail(NVMX_EXIT_VMLAUNCH, NVMX_VMERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS);
}

/* vmcs01 guest-state ordinals the host-state load of 27.8 / 28.5 may write: everything of
 * the guest-state area; the test then checks the values that matter and that the rest of L1
 * (GPRs, vmcs02, memory) is identical. */
static int *guest_state_ordinals(void)
{
    static int list[VMCS12_FIELD_COUNT + 1];
    int n = 0;
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        if (NVMX_FIELD_TYPE(vmcs_field_table[i].encoding) == NVMX_FIELD_TYPE_GUEST)
            list[n++] = (int)i;
    }
    list[n] = -1;
    return list;
}

/* vmcs02_loaded: a failure after the guest state was loaded (34) may have written vmcs02,
 * the VMCS of an L2 that never runs. */
static void assert_entry_failure_loads_host_state(uint32_t basic, uint64_t qualification,
                                                  bool vmcs02_loaded)
{
    sec_snapshot s;
    sec_snapshot_take(&h, &s);
    uint64_t host_rip = sec_vmread(&h, NVMX_FIELD_HOST_RIP);
    uint64_t host_rsp = sec_vmread(&h, NVMX_FIELD_HOST_RSP);
    uint64_t host_cr3 = sec_vmread(&h, NVMX_FIELD_HOST_CR3);
    s.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RIP] = v01(VMCS12_ORD_GUEST_RIP);
    s.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RFLAGS] = v01(VMCS12_ORD_GUEST_RFLAGS);
    memcpy(s.regs, h.host.regs, sizeof(s.regs));
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(v01(VMCS12_ORD_GUEST_RIP), host_rip);
    cr_assert_eq(v01(VMCS12_ORD_GUEST_RSP), host_rsp);
    cr_assert_eq(v01(VMCS12_ORD_GUEST_CR3), host_cr3);
    cr_assert_eq(v01(VMCS12_ORD_GUEST_RFLAGS), 0x2, "RFLAGS = 2 after a VM exit (28.5.3)");
    if (vmcs02_loaded)
        memcpy(s.vmcs[NVMX_HW_VMCS02], h.host.vmcs[NVMX_HW_VMCS02], sizeof(s.vmcs[1]));
    sec_assert_unchanged_except(&h, &s, guest_state_ordinals());
    cr_assert_eq(h.host.exception_count, s.exception_count);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_REASON_ENTRY_FAILURE | basic);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EXIT_QUALIFICATION), qualification);
    sec_snapshot_free(&s);
}

/* SDM 27.8: invalid guest state (RFLAGS bit 1 clear) -> reason 33, host state loaded. */
Test(sec_entry, entry_failure_33_loads_host_state_and_nothing_else)
{
    sec_vmwrite(&h, NVMX_FIELD_GUEST_RFLAGS, 0);
    assert_entry_failure_loads_host_state(NVMX_EXIT_ENTRY_FAIL_GUEST_STATE, 0, false);
}

/* SDM 27.4, 27.8: the second VM-entry MSR-load entry names an x2APIC MSR (refused) -> reason
 * 34 with qualification 2; the first entry was loaded, nothing after the failing one. */
Test(sec_entry, entry_failure_34_loads_host_state_and_nothing_else)
{
    const uint64_t list = 0x300000;
    fake_host_write64(&h.host, list, 0x174);
    fake_host_write64(&h.host, list + 8, 0x10);
    fake_host_write64(&h.host, list + 16, 0x808);
    fake_host_write64(&h.host, list + 24, 0);
    fake_host_write64(&h.host, list + 32, 0x175);
    fake_host_write64(&h.host, list + 40, 0x20);
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_MSR_LOAD_ADDR, list);
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_MSR_LOAD_COUNT, 3);
    assert_entry_failure_loads_host_state(NVMX_EXIT_ENTRY_FAIL_MSR_LOADING, 2, true);
    uint64_t value;
    cr_assert(fake_host_get_msr(&h.host, 0x174, &value));
    cr_assert_eq(value, 0x10);
    cr_assert_not(fake_host_get_msr(&h.host, 0x808, &value));
    cr_assert_not(fake_host_get_msr(&h.host, 0x175, &value));
}

/* ---- Exiting controls are never dropped from vmcs02 ------------------------------------------
 * CVE-2017-12154 (KVM: L1's "CR8-load exiting" without TPR shadow was dropped from vmcs02,
 * so L2 wrote the host's CR8). SDM 26.1.3: every exiting control L1 sets must be in effect
 * while L2 runs; vmcs02 = L1's | L0's, and the exits go to L1. */
Test(sec_entry, exiting_controls_reach_vmcs02_and_their_exits_go_to_l1)
{
    const uint32_t wanted = NVMX_CTL(CR8_LOAD_EXITING) | NVMX_CTL(CR8_STORE_EXITING) |
                            NVMX_CTL(HLT_EXITING) | NVMX_CTL(RDTSC_EXITING) |
                            NVMX_CTL(UNCOND_IO_EXITING) | NVMX_CTL(RDPMC_EXITING) |
                            NVMX_CTL(MWAIT_EXITING) | NVMX_CTL(MOV_DR_EXITING) |
                            NVMX_CTL(INVLPG_EXITING) | NVMX_CTL(MONITOR_EXITING);
    sec_set_proc(&h, wanted, 0);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(TPR_SHADOW), 0);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(v02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & wanted, wanted);
    /* MOV to CR8 (qualification: CR 8, access type 0, GPR RAX), MOV from CR8 (type 1). */
    const nvmx_exit exits[] = {
        {.reason = NVMX_EXIT_CR_ACCESS, .qualification = 8, .instruction_length = 3},
        {.reason = NVMX_EXIT_CR_ACCESS, .qualification = 8 | (1u << 4), .instruction_length = 3},
        {.reason = NVMX_EXIT_HLT, .instruction_length = 1},
        {.reason = NVMX_EXIT_RDTSC, .instruction_length = 2},
        {.reason = NVMX_EXIT_IO_INSTRUCTION,
         .qualification = 0x80ull << 16,
         .instruction_length = 1},
        {.reason = NVMX_EXIT_RDPMC, .instruction_length = 2},
        {.reason = NVMX_EXIT_MWAIT, .instruction_length = 3},
        {.reason = NVMX_EXIT_DR_ACCESS, .qualification = 7, .instruction_length = 3},
        {.reason = NVMX_EXIT_INVLPG, .qualification = 0x1000, .instruction_length = 3},
        {.reason = NVMX_EXIT_MONITOR, .instruction_length = 3},
    };
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(exits); i++) {
        if (i > 0)
            sec_launch(&h, NVMX_EXIT_VMRESUME);
        cr_assert_eq(v02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & wanted, wanted);
        cr_assert_eq(sec_l2_exit(&h, &exits[i]), NVMX_OK);
        cr_assert_eq(h.next.run, NVMX_RUN_L1, "reason %u stayed in L0", exits[i].reason);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), exits[i].reason);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EXIT_QUALIFICATION), exits[i].qualification);
    }
}

/* L0's own controls are ORed in and never replace L1's; an exit only L0 asked for stays L0's. */
Test(sec_entry, l0_controls_are_added_never_substituted)
{
    h.vm->l0.proc = NVMX_CTL(RDTSC_EXITING);
    sec_set_proc(&h, NVMX_CTL(HLT_EXITING), 0);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    uint64_t proc = v02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL);
    cr_assert(proc & NVMX_CTL(HLT_EXITING));
    cr_assert(proc & NVMX_CTL(RDTSC_EXITING));
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_RDTSC, 2), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_HLT, 1), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
}

/* ---- MSR bitmap ------------------------------------------------------------------------------
 * CVE-2019-3887 (KVM: x2APIC MSRs of L2 reached L0's own APIC because the merged bitmap let
 * them through). SDM 25.6.9, 26.1.3: without an L0 MSR policy vmcs02 has no MSR bitmap, so
 * every RDMSR/WRMSR of L2 exits to L0; it goes to L1 exactly when L1's bitmap bit is set (MSRs
 * outside the two ranges always). All-zero and random bitmaps, low, high and x2APIC ranges.
 * With an L0 policy (nvmx_l0_controls.msr_bitmap) vmcs02's merged bitmap decides which
 * accesses exit at all: see the tests after check_every_msr_follows_bitmap. */

#define MSR_BITMAP_GPA 0x17000ull

static bool l1_bit(uint32_t msr, bool write)
{
    uint64_t base;
    if (msr <= 0x1FFF)
        base = write ? 2048 : 0;
    else if (msr >= 0xC0000000u && msr <= 0xC0001FFFu)
        base = write ? 3072 : 1024;
    else
        return true;
    uint32_t bit = msr & 0x1FFF;
    return (h.host.ram[MSR_BITMAP_GPA + base + bit / 8] >> (bit % 8)) & 1;
}

static void check_every_msr_follows_bitmap(void)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(v02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(MSR_BITMAPS), 0,
                 "vmcs02 has no MSR bitmap: every access exits to L0");
    static uint32_t msrs[0x2000 + 0x2000 + 16];
    size_t n = 0;
    for (uint32_t m = 0; m <= 0x1FFF; m += 1)
        msrs[n++] = m; /* the x2APIC range 800H-8FFH included */
    for (uint32_t m = 0xC0000000u; m <= 0xC0001FFFu; m += 1)
        msrs[n++] = m;
    const uint32_t outside[] = {0x2000, 0x40000000, 0x4B564D00, 0xBFFFFFFF, 0xC0002000, 0xFFFFFFFF};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(outside); i++)
        msrs[n++] = outside[i];
    for (size_t i = 0; i < n; i++) {
        for (int write = 0; write < 2; write++) {
            h.host.regs[NVMX_REG_RCX] = msrs[i] | 0xFFFFFFFF00000000ull; /* ECX only */
            cr_assert_eq(sec_l2_exit_simple(&h, write ? NVMX_EXIT_WRMSR : NVMX_EXIT_RDMSR, 2),
                         NVMX_OK);
            bool to_l1 = l1_bit(msrs[i], write);
            cr_assert_eq(h.next.run, to_l1 ? NVMX_RUN_L1 : NVMX_RUN_L0_HANDLES, "MSR %x write %d",
                         msrs[i], write);
            if (to_l1)
                sec_launch(&h, NVMX_EXIT_VMRESUME);
        }
    }
}

Test(sec_entry, all_zero_msr_bitmap_every_msr_access_stays_with_l0_except_outside_ranges)
{
    sec_set_proc(&h, NVMX_CTL(MSR_BITMAPS), 0);
    sec_vmwrite(&h, NVMX_FIELD_MSR_BITMAP, MSR_BITMAP_GPA);
    check_every_msr_follows_bitmap();
}

Test(sec_entry, random_msr_bitmap_is_followed_bit_by_bit)
{
    srand(12154);
    for (unsigned i = 0; i < 4096; i++)
        h.host.ram[MSR_BITMAP_GPA + i] = (uint8_t)rand();
    sec_set_proc(&h, NVMX_CTL(MSR_BITMAPS), 0);
    sec_vmwrite(&h, NVMX_FIELD_MSR_BITMAP, MSR_BITMAP_GPA);
    check_every_msr_follows_bitmap();
}

/* With an L0 MSR policy, the hardware (here: this test reading vmcs02's page) lets an access
 * through only when neither L0 nor L1 intercepts it; an access that exits goes to L1 exactly
 * when L1's bit is set, and otherwise comes back to L0, which asked for it. */
static uint8_t l0_policy[4096];

static void relaunch_with_l0_policy(uint64_t l1_bitmap_gpa)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.l0.msr_bitmap = l0_policy;
    sec_nested_init(&h, &config, NULL);
    sec_set_proc(&h, NVMX_CTL(MSR_BITMAPS), 0);
    sec_vmwrite(&h, NVMX_FIELD_MSR_BITMAP, l1_bitmap_gpa);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert(v02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(MSR_BITMAPS));
}

static int bitmap_bit(const uint8_t *bitmap, uint32_t msr, bool write)
{
    uint32_t base;
    if (msr <= 0x1FFF)
        base = write ? 2048 : 0;
    else if (msr >= 0xC0000000u && msr <= 0xC0001FFFu)
        base = write ? 3072 : 1024;
    else
        return -1; /* outside both ranges: always exits (26.1.3) */
    uint32_t bit = msr & 0x1FFF;
    return (bitmap[base + bit / 8] >> (bit % 8)) & 1;
}

static void check_every_msr_with_l0_policy(void)
{
    static const uint32_t outside[] = {0x2000, 0x4B564D00, 0xC0002000, 0xFFFFFFFF};
    for (uint32_t i = 0; i < 0x4000 + NVMX_ARRAY_SIZE(outside); i++) {
        uint32_t msr = i < 0x2000   ? i
                       : i < 0x4000 ? 0xC0000000u + (i - 0x2000)
                                    : outside[i - 0x4000];
        for (int write = 0; write < 2; write++) {
            const uint8_t *merged = fake_host_page(v02(VMCS12_ORD_MSR_BITMAP));
            int hw = bitmap_bit(merged, msr, write), l0 = bitmap_bit(l0_policy, msr, write);
            bool l1 = l1_bit(msr, write);
            if (hw == 0) {
                /* L2 accesses the MSR directly: nobody may have wanted an exit. */
                cr_assert(!l0 && !l1, "MSR %x write %d passed through: L0 %d L1 %d", msr, write, l0,
                          l1);
                continue;
            }
            cr_assert(hw < 0 || l0 || l1, "MSR %x write %d exits for nobody", msr, write);
            h.host.regs[NVMX_REG_RCX] = msr;
            cr_assert_eq(sec_l2_exit_simple(&h, write ? NVMX_EXIT_WRMSR : NVMX_EXIT_RDMSR, 2),
                         NVMX_OK);
            cr_assert_eq(h.next.run, l1 ? NVMX_RUN_L1 : NVMX_RUN_L0_HANDLES, "MSR %x write %d", msr,
                         write);
            if (l1)
                sec_launch(&h, NVMX_EXIT_VMRESUME);
        }
    }
}

static void set_x2apic_range(uint8_t *bitmap, uint8_t value)
{
    memset(bitmap + 0x800 / 8, value, 0x100 / 8);        /* reads */
    memset(bitmap + 2048 + 0x800 / 8, value, 0x100 / 8); /* writes */
}

/* CVE-2019-3887: L0 intercepts the x2APIC range and passes the rest through at random; an L1
 * passing everything through cannot open a single x2APIC MSR to L2. */
Test(sec_entry, l0_policy_x2apic_intercepts_survive_an_all_zero_l1_bitmap)
{
    srand(3887);
    for (unsigned i = 0; i < sizeof(l0_policy); i++)
        l0_policy[i] = (uint8_t)rand();
    set_x2apic_range(l0_policy, 0xFF);
    memset(h.host.ram + MSR_BITMAP_GPA, 0, 4096);
    relaunch_with_l0_policy(MSR_BITMAP_GPA);
    const uint8_t *merged = fake_host_page(v02(VMCS12_ORD_MSR_BITMAP));
    for (uint32_t msr = 0x800; msr <= 0x8FF; msr++)
        cr_assert(bitmap_bit(merged, msr, false) && bitmap_bit(merged, msr, true), "%x", msr);
    check_every_msr_with_l0_policy();
}

/* Random L0 policy and random L1 bitmap: exits exactly for L0 | L1, each to its owner. */
Test(sec_entry, l0_policy_and_random_l1_bitmap_exits_to_the_owner)
{
    srand(2019);
    for (unsigned i = 0; i < sizeof(l0_policy); i++) {
        l0_policy[i] = (uint8_t)(rand() | rand());
        h.host.ram[MSR_BITMAP_GPA + i] = (uint8_t)rand();
    }
    relaunch_with_l0_policy(MSR_BITMAP_GPA);
    check_every_msr_with_l0_policy();
}

/* L0 passes the x2APIC range through: L1's intercepts there still reach L1 ("virtualize
 * x2APIC mode" is not exposed, so these are ordinary bitmap MSRs for L1, 26.1.3). */
Test(sec_entry, l0_policy_passing_x2apic_keeps_l1_x2apic_intercepts)
{
    memset(l0_policy, 0xFF, sizeof(l0_policy));
    set_x2apic_range(l0_policy, 0);
    memset(h.host.ram + MSR_BITMAP_GPA, 0, 4096);
    set_x2apic_range(h.host.ram + MSR_BITMAP_GPA, 0x55);
    relaunch_with_l0_policy(MSR_BITMAP_GPA);
    check_every_msr_with_l0_policy();
}

/* L1's bitmap in memory that is not L1 RAM: every access exits, and goes to L1 (reads as all
 * ones, as for reflection). */
Test(sec_entry, l0_policy_with_unbacked_l1_bitmap_sends_every_access_to_l1)
{
    memset(l0_policy, 0, sizeof(l0_policy));
    relaunch_with_l0_policy(0x40000000ull); /* not RAM of the fake host */
    const uint32_t msrs[] = {0x10, 0x808, 0x8FF, 0xC0000080, 0xC0000100};
    const uint8_t *merged = fake_host_page(v02(VMCS12_ORD_MSR_BITMAP));
    for (unsigned i = 0; i < 4096; i++)
        cr_assert_eq(merged[i], 0xFF, "byte %x", i);
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(msrs); i++) {
        h.host.regs[NVMX_REG_RCX] = msrs[i];
        cr_assert_eq(sec_l2_exit_simple(&h, i % 2 ? NVMX_EXIT_WRMSR : NVMX_EXIT_RDMSR, 2), NVMX_OK);
        cr_assert_eq(h.next.run, NVMX_RUN_L1);
        sec_launch(&h, NVMX_EXIT_VMRESUME);
    }
}

/* Without "use MSR bitmaps" every RDMSR/WRMSR of L2 exits to L1 (26.1.3). */
Test(sec_entry, no_msr_bitmap_every_msr_access_exits_to_l1)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    const uint32_t msrs[] = {0x10, 0x1B, 0x808, 0x830, 0x8FF, 0xC0000080, 0xC0000102};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(msrs); i++) {
        h.host.regs[NVMX_REG_RCX] = msrs[i];
        cr_assert_eq(sec_l2_exit_simple(&h, i % 2 ? NVMX_EXIT_WRMSR : NVMX_EXIT_RDMSR, 2), NVMX_OK);
        cr_assert_eq(h.next.run, NVMX_RUN_L1);
        sec_launch(&h, NVMX_EXIT_VMRESUME);
    }
}
