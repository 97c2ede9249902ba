/* SPDX-License-Identifier: MIT */
/* VMXON and VMXOFF (SDM Vol. 3C 31.3), every outcome in the SDM's order. */
#include <criterion/criterion.h>

#include "vmx_harness.h"

static harness h;
static void setup(void)
{
    harness_init(&h, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}

TestSuite(vmxon, .init = setup, .fini = teardown);
TestSuite(vmxoff, .init = setup, .fini = teardown);

static void expect_fault(uint8_t vector, uint64_t rip_before)
{
    const nvmx_exception *e = harness_single_exception(&h);
    cr_assert_eq(e->vector, vector);
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip_before, "a fault must not advance RIP");
    cr_assert_eq(h.next.exception_vector, vector);
}

/* SDM 31.3 VMXON: success enters VMX operation with no current VMCS, RIP advances, VMsucceed. */
Test(vmxon, succeeds_and_enters_vmx_operation)
{
    h.host.regs[NVMX_REG_RFLAGS] |= NVMX_RFLAGS_ARITH;
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    cr_assert(nvmx_vcpu_in_vmx_operation(h.vcpu));
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), UINT64_MAX);
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip + INSN_LENGTH);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
}

/* SDM 31.3 VMXON: #UD when CR4.VMXE = 0. */
Test(vmxon, ud_when_cr4_vmxe_clear)
{
    h.host.regs[NVMX_REG_CR4] &= ~NVMX_CR4_VMXE;
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    expect_fault(NVMX_VECTOR_UD, rip);
    cr_assert_not(nvmx_vcpu_in_vmx_operation(h.vcpu));
}

/* SDM 31.3 VMXON: #UD in virtual-8086 mode (RFLAGS.VM = 1). */
Test(vmxon, ud_in_virtual_8086_mode)
{
    fake_host_set_mode_v8086(&h.host);
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    expect_fault(NVMX_VECTOR_UD, h.host.regs[NVMX_REG_RIP]);
}

/* SDM 31.3 VMXON: #UD in compatibility mode (IA32_EFER.LMA = 1 and CS.L = 0). */
Test(vmxon, ud_in_compatibility_mode)
{
    fake_host_set_mode_compat(&h.host);
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    expect_fault(NVMX_VECTOR_UD, h.host.regs[NVMX_REG_RIP]);
}

/* SDM 31.3 VMXON: #UD with CR0.PE = 0 (real mode). */
Test(vmxon, ud_in_real_mode)
{
    fake_host_set_mode_real(&h.host);
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    expect_fault(NVMX_VECTOR_UD, h.host.regs[NVMX_REG_RIP]);
}

/* SDM 31.3 VMXON: #GP(0) at CPL > 0 outside VMX operation. */
Test(vmxon, gp_at_cpl_above_0)
{
    fake_host_set_cpl(&h.host, 3);
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    expect_fault(NVMX_VECTOR_GP, h.host.regs[NVMX_REG_RIP]);
    cr_assert_eq(h.host.exceptions[0].error_code, 0);
    cr_assert(h.host.exceptions[0].has_error_code);
}

/* SDM 31.3 VMXON, 24.8: #GP(0) when CR0 lacks a bit IA32_VMX_CR0_FIXED0 requires (NE). */
Test(vmxon, gp_when_cr0_violates_fixed0)
{
    h.host.regs[NVMX_REG_CR0] &= ~(1ull << 5);
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    expect_fault(NVMX_VECTOR_GP, h.host.regs[NVMX_REG_RIP]);
}

/* SDM 31.3 VMXON, 24.7: #GP(0) when IA32_FEATURE_CONTROL is not locked. */
Test(vmxon, gp_when_feature_control_unlocked)
{
    h.vcpu->feature_control = NVMX_FEATURE_CONTROL_VMX_OUTSIDE_SMX;
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    expect_fault(NVMX_VECTOR_GP, h.host.regs[NVMX_REG_RIP]);
}

/* SDM 31.3 VMXON, 24.7: #GP(0) outside SMX when "enable VMX outside SMX" is clear. */
Test(vmxon, gp_when_vmx_outside_smx_disabled)
{
    h.vcpu->feature_control = NVMX_FEATURE_CONTROL_LOCK;
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    expect_fault(NVMX_VECTOR_GP, h.host.regs[NVMX_REG_RIP]);
}

/* SDM 31.3 VMXON: a pointer that is not 4-KiB aligned -> VMfailInvalid. */
Test(vmxon, fail_invalid_when_pointer_unaligned)
{
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION + 8);
    cr_assert(harness_failed_invalid(&h));
    cr_assert_not(nvmx_vcpu_in_vmx_operation(h.vcpu));
}

/* SDM 31.3 VMXON: a pointer with bits beyond the physical-address width -> VMfailInvalid. */
Test(vmxon, fail_invalid_when_pointer_beyond_physical_width)
{
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION | (1ull << 46));
    cr_assert(harness_failed_invalid(&h));
}

/* SDM 31.3 VMXON: a region whose revision identifier is not the processor's -> VMfailInvalid. */
Test(vmxon, fail_invalid_when_revision_wrong)
{
    harness_region(&h, VMXON_REGION, NVMX_VMCS_REVISION_ID + 1);
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    cr_assert(harness_failed_invalid(&h));
}

/* SDM 31.3 VMXON: revision bit 31 set -> VMfailInvalid. */
Test(vmxon, fail_invalid_when_revision_bit31_set)
{
    harness_region(&h, VMXON_REGION, NVMX_VMCS_REVISION_ID | (1u << 31));
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    cr_assert(harness_failed_invalid(&h));
}

/* A VMXON region outside L1 RAM reads as all ones, so its revision never matches. */
Test(vmxon, fail_invalid_when_region_not_backed_by_ram)
{
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, 1ull << 40);
    cr_assert(harness_failed_invalid(&h));
}

/* SDM 31.3 VMXON: a page fault on the memory operand is delivered; nothing else happens. */
Test(vmxon, page_fault_on_operand_is_delivered)
{
    h.host.fault_pages[h.host.fault_page_count++] = OPERAND;
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    expect_fault(NVMX_VECTOR_PF, h.host.regs[NVMX_REG_RIP]);
    cr_assert_eq(h.host.exceptions[0].cr2, OPERAND);
    cr_assert_not(nvmx_vcpu_in_vmx_operation(h.vcpu));
}

/* SDM 31.3 VMXON: in VMX root operation -> VMfail(15): VMfailInvalid without current VMCS. */
Test(vmxon, in_root_operation_fails_invalid_without_current_vmcs)
{
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    cr_assert(harness_failed_invalid(&h));
}

/* SDM 31.3 VMXON: in VMX root operation with a current VMCS -> VMfailValid(15). */
Test(vmxon, in_root_operation_fails_valid_15_with_current_vmcs)
{
    harness_vmxon_vmptrld(&h);
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMXON_IN_ROOT));
}

/* SDM 31.3 VMXON: in VMX root operation at CPL > 0 -> #GP(0) before VMfail. */
Test(vmxon, in_root_operation_gp_at_cpl_above_0)
{
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    fake_host_set_cpl(&h.host, 3);
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    expect_fault(NVMX_VECTOR_GP, h.host.regs[NVMX_REG_RIP]);
}

/* SDM 31.2: VMfailInvalid sets CF and clears PF, AF, ZF, SF, OF. */
Test(vmxon, fail_invalid_sets_only_cf)
{
    h.host.regs[NVMX_REG_RFLAGS] |= NVMX_RFLAGS_ARITH;
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION + 1);
    cr_assert_eq(h.host.regs[NVMX_REG_RFLAGS] & NVMX_RFLAGS_ARITH, NVMX_RFLAGS_CF);
}

/* SDM Vol. 3A 18.3.1: a completed instruction clears RF; with TF set the single-step trap follows.
 */
Test(vmxon, completion_clears_rf_and_reports_single_step)
{
    h.host.regs[NVMX_REG_RFLAGS] |= NVMX_RFLAGS_RF | NVMX_RFLAGS_TF;
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    cr_assert_eq(h.host.regs[NVMX_REG_RFLAGS] & NVMX_RFLAGS_RF, 0);
    cr_assert(h.next.single_step_trap);
}

/* SDM 31.3 VMXOFF: #UD outside VMX operation. */
Test(vmxoff, ud_outside_vmx_operation)
{
    harness_exit(&h, NVMX_EXIT_VMXOFF, 0, 0);
    expect_fault(NVMX_VECTOR_UD, h.host.regs[NVMX_REG_RIP]);
}

/* SDM 31.3 VMXOFF: #GP(0) at CPL > 0. */
Test(vmxoff, gp_at_cpl_above_0)
{
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    fake_host_set_cpl(&h.host, 3);
    harness_exit(&h, NVMX_EXIT_VMXOFF, 0, 0);
    expect_fault(NVMX_VECTOR_GP, h.host.regs[NVMX_REG_RIP]);
    cr_assert(nvmx_vcpu_in_vmx_operation(h.vcpu));
}

/* SDM 31.3 VMXOFF: success leaves VMX operation; a later VMXON works again. */
Test(vmxoff, leaves_vmx_operation)
{
    harness_vmxon_vmptrld(&h);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMXOFF, 0, 0), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    cr_assert_not(nvmx_vcpu_in_vmx_operation(h.vcpu));
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), UINT64_MAX);
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    cr_assert(harness_succeeded(&h));
}

/* SDM 25.11.1: data of VMCSs still active at VMXOFF is written to their regions, not lost. */
Test(vmxoff, writes_back_active_vmcs_data)
{
    harness_vmxon_vmptrld(&h);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0x1234);
    harness_exit(&h, NVMX_EXIT_VMXOFF, 0, 0);
    uint64_t slot = VMCS_A + VMCS12_HEADER_SIZE + 8u * VMCS12_ORD_GUEST_RIP;
    cr_assert_eq(fake_host_read64(&h.host, slot), 0x1234);
}
