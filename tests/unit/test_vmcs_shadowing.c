/* SPDX-License-Identifier: MIT */
/*
 * VMREAD/VMWRITE executed by L2 (VMX non-root operation) with VMCS shadowing (SDM Vol. 3C
 * 25.10, 25.6.15, 31.3), and the exit data of VMX instructions that L1 must see (SDM 28.2).
 * L2 is entered here by setting the vCPU's guest mode directly, so that only the instruction
 * rules are under test (VM entry itself is tested in test_round_trip.c).
 */
#include <criterion/criterion.h>

#include "vmx_harness.h"

static harness h;

static void enter_l2_with_shadowing(bool shadowing)
{
    harness_vmxon_vmptrld(&h);
    uint64_t secondary = shadowing ? NVMX_CTL(SHADOW_VMCS) : 0;
    harness_vmwrite(&h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL,
                    NVMX_PROCBASED_DEFAULT1 | NVMX_CTL(SECONDARY_CONTROLS));
    harness_vmwrite(&h, NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL, secondary);
    harness_vmwrite(&h, NVMX_FIELD_VMREAD_BITMAP, VMREAD_BITMAP_GPA);
    harness_vmwrite(&h, NVMX_FIELD_VMWRITE_BITMAP, VMWRITE_BITMAP_GPA);
    harness_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, SHADOW_VMCS);
    cr_assert(harness_succeeded(&h));
    h.vcpu->guest_mode = true;
}

static void setup(void)
{
    harness_init(&h, NULL);
    enter_l2_with_shadowing(true);
}
static void teardown(void)
{
    h.vcpu->guest_mode = false;
    harness_fini(&h);
}

TestSuite(shadowing, .init = setup, .fini = teardown);

static void set_bitmap_bit(uint64_t bitmap, uint32_t encoding)
{
    h.host.ram[bitmap + ((encoding & 0x7FFF) >> 3)] |= (uint8_t)(1u << (encoding & 7));
}

static uint64_t v12(unsigned ordinal)
{
    return vmcs12_get(&h.vcpu->current->data, ordinal);
}

/* The instruction caused a VM exit to L1 with this basic reason (SDM 28.2). */
static void assert_exited_to_l1(nvmx_status status, uint32_t reason)
{
    cr_assert_eq(status, NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(v12(VMCS12_ORD_VM_EXIT_REASON), reason);
}

static uint64_t shadow_slot(unsigned ordinal)
{
    return SHADOW_VMCS + VMCS12_HEADER_SIZE + 8u * ordinal;
}

/* SDM 31.3 VMWRITE/VMREAD, 25.10: bitmap bit clear -> L2 accesses the shadow VMCS without L1. */
Test(shadowing, bitmap_bit_clear_accesses_shadow_vmcs)
{
    cr_assert_eq(harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0xABCD), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
    uint64_t value;
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, &value);
    cr_assert_eq(value, 0xABCD);
    /* The write went to the shadow VMCS, not to vmcs12. */
    cr_assert_neq(vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_GUEST_RIP), 0xABCD);
}

/* The shadow VMCS's data reaches its region when it is written back (here: at VMXOFF). */
Test(shadowing, shadow_vmcs_data_reaches_its_region)
{
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0xABCD);
    h.vcpu->guest_mode = false;
    harness_exit(&h, NVMX_EXIT_VMXOFF, 0, 0);
    cr_assert_eq(fake_host_read64(&h.host, shadow_slot(VMCS12_ORD_GUEST_RIP)), 0xABCD);
}

/* SDM 25.6.15: VMREAD bitmap bit set -> VM exit to L1 with reason VMREAD (23). */
Test(shadowing, vmread_bitmap_bit_set_exits_to_l1)
{
    set_bitmap_bit(VMREAD_BITMAP_GPA, NVMX_FIELD_GUEST_RIP);
    uint64_t rflags = h.host.regs[NVMX_REG_RFLAGS];
    assert_exited_to_l1(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL), NVMX_EXIT_VMREAD);
    cr_assert_eq(v12(VMCS12_ORD_VMX_INSTRUCTION_INFO), INFO_REGS(NVMX_REG_RAX, NVMX_REG_RCX));
    cr_assert_eq(v12(VMCS12_ORD_VM_EXIT_INSTRUCTION_LEN), INSN_LENGTH);
    cr_assert_eq(h.host.regs[NVMX_REG_RFLAGS], rflags, "the instruction did not complete in L2");
}

/* SDM 25.6.15: VMWRITE bitmap bit set -> VM exit to L1; the VMREAD bitmap does not matter. */
Test(shadowing, vmwrite_bitmap_bit_set_exits_to_l1)
{
    set_bitmap_bit(VMWRITE_BITMAP_GPA, NVMX_FIELD_GUEST_RIP);
    nvmx_status status = harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 1);
    assert_exited_to_l1(status, NVMX_EXIT_VMWRITE);
    h.vcpu->guest_mode = true;
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL);
    cr_assert(harness_succeeded(&h), "the VMREAD bitmap bit is clear");
}

/* SDM 31.3: an encoding with bits 63:15 set always exits to L1, whatever the bitmap says. */
Test(shadowing, encoding_above_bit_14_exits_to_l1)
{
    assert_exited_to_l1(harness_vmread(&h, NVMX_FIELD_GUEST_RIP | (1ull << 15), NULL),
                        NVMX_EXIT_VMREAD);
}

/* SDM 31.3: with "VMCS shadowing" 0 every VMREAD of L2 exits to L1. */
Test(shadowing, without_shadowing_every_vmread_exits)
{
    h.vcpu->guest_mode = false;
    harness_vmwrite(&h, NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL, 0);
    h.vcpu->guest_mode = true;
    assert_exited_to_l1(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL), NVMX_EXIT_VMREAD);
}

/* SDM 25.6.2: secondary controls are ignored while "activate secondary controls" is 0. */
Test(shadowing, secondary_controls_inactive_means_no_shadowing)
{
    h.vcpu->guest_mode = false;
    harness_vmwrite(&h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL, NVMX_PROCBASED_DEFAULT1);
    h.vcpu->guest_mode = true;
    assert_exited_to_l1(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL), NVMX_EXIT_VMREAD);
}

/* SDM 31.3: in non-root operation with a VMCS link pointer of all ones -> VMfailInvalid. */
Test(shadowing, invalid_link_pointer_fails_invalid)
{
    h.vcpu->guest_mode = false;
    harness_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, ~0ull);
    h.vcpu->guest_mode = true;
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL);
    cr_assert(harness_failed_invalid(&h));
}

/* SDM 31.3: an unsupported field in the shadow path -> VMfailValid(12) into the VM-instruction
 * error field of the VMCS that runs L2. */
Test(shadowing, unsupported_field_fails_valid_12)
{
    harness_vmread(&h, 0x6FFE, NULL);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_UNSUPPORTED_VMCS_COMPONENT));
}

/* SDM 31.3: CPL > 0 in L2 with shadowing -> #GP(0), after the bitmap decided not to exit. */
Test(shadowing, gp_at_cpl_above_0_when_not_exiting)
{
    fake_host_set_cpl(&h.host, 3);
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_GP);
}

/* SDM 31.3: the VM exit comes before the CPL check: at CPL 3 a bitmap hit still exits. */
Test(shadowing, exit_precedes_cpl_check)
{
    set_bitmap_bit(VMREAD_BITMAP_GPA, NVMX_FIELD_GUEST_RIP);
    fake_host_set_cpl(&h.host, 3);
    assert_exited_to_l1(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL), NVMX_EXIT_VMREAD);
    cr_assert_eq(h.host.exception_count, 0);
}

/* SDM 31.3: VMX instructions other than VMREAD/VMWRITE executed by L2 exit to L1, with the
 * exit reason and the instruction information of the instruction (SDM 28.2.5). */
Test(shadowing, vmptrld_in_l2_exits_with_instruction_information)
{
    h.host.regs[NVMX_REG_RAX] = OPERAND;
    assert_exited_to_l1(harness_exit(&h, NVMX_EXIT_VMPTRLD, INFO_MEM_RAX, 0x10), NVMX_EXIT_VMPTRLD);
    cr_assert_eq(v12(VMCS12_ORD_VMX_INSTRUCTION_INFO), INFO_MEM_RAX);
    cr_assert_eq(v12(VMCS12_ORD_EXIT_QUALIFICATION), 0x10);
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), VMCS_A, "L2 cannot change L1's current VMCS");
}

/* SDM 31.3 VMCALL: executed by L2 it exits to L1 even in virtual-8086 mode (no #UD first). */
Test(shadowing, vmcall_in_l2_exits_before_mode_checks)
{
    fake_host_set_mode_v8086(&h.host);
    assert_exited_to_l1(harness_exit(&h, NVMX_EXIT_VMCALL, 0, 0), NVMX_EXIT_VMCALL);
    cr_assert_eq(h.host.exception_count, 0);
}

/* SDM 31.3 VMCLEAR: in L2's compatibility mode #UD comes before the VM exit. */
Test(shadowing, ud_precedes_exit_for_vmclear)
{
    fake_host_set_mode_compat(&h.host);
    harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, VMCS_B);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu), "no exit to L1");
}

/* SDM 26.2, 28.2.2: a #GP that L2's VMREAD raises (CPL 3) exits to L1 when L1 intercepts #GP:
 * reason 0, interruption information vector 13, type 3, error code valid. */
Test(shadowing, fault_intercepted_by_l1_exits_with_interruption_information)
{
    h.vcpu->guest_mode = false;
    harness_vmwrite(&h, NVMX_FIELD_EXCEPTION_BITMAP, 1u << NVMX_VECTOR_GP);
    h.vcpu->guest_mode = true;
    fake_host_set_cpl(&h.host, 3);
    assert_exited_to_l1(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL), NVMX_EXIT_EXCEPTION_NMI);
    cr_assert_eq(v12(VMCS12_ORD_VM_EXIT_INTR_INFO), 0x80000B0Du);
    cr_assert_eq(v12(VMCS12_ORD_VM_EXIT_INTR_ERROR_CODE), 0);
    cr_assert_eq(h.host.exception_count, 0, "not delivered to L2");
}

/* SDM 28.1 (checked against SDM text): a page fault that causes a VM exit directly does not
 * write CR2; its linear address is the exit qualification (28.2.1). Here L2's VMWRITE reads
 * its source from a page that faults and L1 intercepts #PF. */
Test(shadowing, page_fault_intercepted_by_l1_puts_the_address_in_the_qualification_28_2_1)
{
    h.vcpu->guest_mode = false;
    harness_vmwrite(&h, NVMX_FIELD_EXCEPTION_BITMAP, 1u << NVMX_VECTOR_PF);
    h.vcpu->guest_mode = true;
    h.host.fault_pages[h.host.fault_page_count++] = OPERAND;
    h.host.regs[NVMX_REG_RCX] = NVMX_FIELD_GUEST_RIP;
    h.host.regs[NVMX_REG_RAX] = OPERAND;
    nvmx_status status = harness_exit(&h, NVMX_EXIT_VMWRITE, INFO_MEM_RAX_REG_RCX, 0);
    assert_exited_to_l1(status, NVMX_EXIT_EXCEPTION_NMI);
    cr_assert_eq(v12(VMCS12_ORD_EXIT_QUALIFICATION), OPERAND);
    cr_assert_eq(v12(VMCS12_ORD_VM_EXIT_INTR_INFO), 0x80000B0Eu);
    cr_assert_eq(h.host.exception_count, 0, "no #PF (and so no CR2 write) in L2");
}

/* SDM 26.2: the #UD of L2's VMCLEAR in compatibility mode exits to L1 when L1 intercepts #UD. */
Test(shadowing, ud_intercepted_by_l1_exits_to_l1)
{
    h.vcpu->guest_mode = false;
    harness_vmwrite(&h, NVMX_FIELD_EXCEPTION_BITMAP, 1u << NVMX_VECTOR_UD);
    h.vcpu->guest_mode = true;
    fake_host_set_mode_compat(&h.host);
    assert_exited_to_l1(harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, VMCS_B),
                        NVMX_EXIT_EXCEPTION_NMI);
    cr_assert_eq(v12(VMCS12_ORD_VM_EXIT_INTR_INFO), 0x80000306u);
}

/* SDM 26.2: an exception L1 does not intercept is delivered to L2. */
Test(shadowing, fault_not_intercepted_is_delivered_to_l2)
{
    fake_host_set_cpl(&h.host, 3);
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_GP);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
}
