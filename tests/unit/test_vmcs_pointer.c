/* SPDX-License-Identifier: MIT */
/* VMCLEAR, VMPTRLD, VMPTRST (SDM Vol. 3C 31.3) and the vmcs12 cache behind them (SDM 25.1, 25.11).
 */
#include <criterion/criterion.h>
#include <string.h>

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
static void vmxon(void)
{
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION), NVMX_OK);
    cr_assert(harness_succeeded(&h));
}
static uint64_t slot_gpa(uint64_t region, unsigned ordinal)
{
    return region + VMCS12_HEADER_SIZE + 8u * ordinal;
}

TestSuite(vmptrld, .init = setup, .fini = teardown);
TestSuite(vmclear, .init = setup, .fini = teardown);
TestSuite(vmptrst, .init = setup, .fini = teardown);

/* SDM 31.3 VMPTRLD: #UD outside VMX operation. */
Test(vmptrld, ud_outside_vmx_operation)
{
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_A);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
}

/* SDM 31.3 VMPTRLD: #GP(0) at CPL > 0. */
Test(vmptrld, gp_at_cpl_above_0)
{
    vmxon();
    fake_host_set_cpl(&h.host, 3);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_A);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_GP);
}

/* SDM 31.3 VMPTRLD: success makes the VMCS current. */
Test(vmptrld, makes_vmcs_current)
{
    vmxon();
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_A);
    cr_assert(harness_succeeded(&h));
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), VMCS_A);
}

/* SDM 31.3 VMPTRLD: unaligned pointer -> VMfail(9), VMfailInvalid without a current VMCS. */
Test(vmptrld, unaligned_pointer_fails_invalid_without_current)
{
    vmxon();
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_A + 0x10);
    cr_assert(harness_failed_invalid(&h));
}

/* SDM 31.3 VMPTRLD: unaligned pointer -> VMfailValid(9) with a current VMCS. */
Test(vmptrld, unaligned_pointer_fails_valid_9)
{
    harness_vmxon_vmptrld(&h);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B + 0x800);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMPTRLD_INVALID_ADDRESS));
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), VMCS_A);
}

/* SDM 31.3 VMPTRLD: bits beyond the physical-address width -> VMfailValid(9). */
Test(vmptrld, pointer_beyond_physical_width_fails_valid_9)
{
    harness_vmxon_vmptrld(&h);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B | (1ull << 63));
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMPTRLD_INVALID_ADDRESS));
}

/* SDM 31.3 VMPTRLD: the VMXON pointer -> VMfailValid(10). */
Test(vmptrld, vmxon_pointer_fails_valid_10)
{
    harness_vmxon_vmptrld(&h);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMXON_REGION);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMPTRLD_VMXON_POINTER));
}

/* SDM 31.3 VMPTRLD: a wrong revision identifier -> VMfailValid(11); the current VMCS stays. */
Test(vmptrld, wrong_revision_fails_valid_11)
{
    harness_vmxon_vmptrld(&h);
    harness_region(&h, VMCS_B, 0x12345678);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMPTRLD_INCORRECT_REVISION));
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), VMCS_A);
    cr_assert_eq(h.vcpu->cache.count, 1, "a rejected region must not stay cached");
}

/* Memory that is not RAM reads as all ones: VMPTRLD of it fails the revision check (11). */
Test(vmptrld, unbacked_region_fails_valid_11)
{
    harness_vmxon_vmptrld(&h);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, 1ull << 40);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMPTRLD_INCORRECT_REVISION));
}

/* SDM 31.3 VMPTRLD: revision bit 31 (shadow VMCS) is accepted when VMCS shadowing is exposed. */
Test(vmptrld, shadow_vmcs_accepted_when_shadowing_exposed)
{
    vmxon();
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, SHADOW_VMCS);
    cr_assert(harness_succeeded(&h));
}

/* SDM 31.3 VMPTRLD: revision bit 31 without VMCS shadowing -> VMfail(11). */
Test(vmptrld, shadow_vmcs_rejected_when_shadowing_hidden)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    const char *hide[] = {"vmx-shadow-vmcs"};
    config.disabled_features = hide;
    config.disabled_feature_count = 1;
    harness_init(&h, &config);
    harness_vmxon_vmptrld(&h);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, SHADOW_VMCS);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMPTRLD_INCORRECT_REVISION));
}

/* SDM 31.3 VMPTRLD: a memory-operand page fault is delivered and nothing changes. */
Test(vmptrld, page_fault_on_operand_is_delivered)
{
    vmxon();
    h.host.fault_pages[h.host.fault_page_count++] = OPERAND;
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_A);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_PF);
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), UINT64_MAX);
}

/* SDM 25.1: switching the current VMCS keeps every VMCS's data (L1 keeps one per L2 vCPU). */
Test(vmptrld, switching_between_vmcss_keeps_state)
{
    harness_vmxon_vmptrld(&h);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0xAAAA);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0xBBBB);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_A);
    uint64_t value;
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, &value);
    cr_assert_eq(value, 0xAAAA);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B);
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, &value);
    cr_assert_eq(value, 0xBBBB);
}

/* VMPTRLD of another VMCS flushes the previous one's data to its region. */
Test(vmptrld, flushes_previous_vmcs_to_memory)
{
    harness_vmxon_vmptrld(&h);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0xAAAA);
    cr_assert_eq(fake_host_read64(&h.host, slot_gpa(VMCS_A, VMCS12_ORD_GUEST_RIP)), 0);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B);
    cr_assert_eq(fake_host_read64(&h.host, slot_gpa(VMCS_A, VMCS12_ORD_GUEST_RIP)), 0xAAAA);
}

/* The cache is bounded: beyond max_cached_vmcs the least recently used VMCS is written back,
 * and reloading it gives back its data. */
Test(vmptrld, cache_bound_evicts_without_losing_state)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.max_cached_vmcs = 2;
    harness_init(&h, &config);
    harness_vmxon_vmptrld(&h);
    uint64_t regions[] = {VMCS_A, VMCS_B, VMCS_C};
    for (int i = 0; i < 3; i++) {
        harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, regions[i]);
        harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0x100 + i);
        cr_assert_leq(h.vcpu->cache.count, 2);
    }
    for (int i = 0; i < 3; i++) {
        uint64_t value;
        harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, regions[i]);
        harness_vmread(&h, NVMX_FIELD_GUEST_RIP, &value);
        cr_assert_eq(value, 0x100u + i);
    }
}

/* Out of memory while loading a VMCS: the embedder gets NVMX_ERR_NO_MEMORY, L1 sees nothing
 * (RIP, RFLAGS and the current VMCS unchanged). */
Test(vmptrld, allocation_failure_changes_nothing)
{
    harness_vmxon_vmptrld(&h);
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    h.host.fail_alloc_at = h.host.alloc_calls + 1;
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B), NVMX_ERR_NO_MEMORY);
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip);
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), VMCS_A);
    cr_assert_eq(h.host.exception_count, 0);
}

/* A hostile L1 may fill a VMCS region with anything: loaded fields never hold more bits than
 * their width, so VMREAD of a 16-bit field returns at most 16 bits. */
Test(vmptrld, loaded_fields_are_cut_to_their_width)
{
    vmxon();
    memset(h.host.ram + VMCS_B + VMCS12_HEADER_SIZE, 0xFF, 8u * VMCS12_FIELD_COUNT);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B);
    uint64_t value;
    harness_vmread(&h, 0x0800 /* GUEST_ES_SELECTOR */, &value);
    if (vmcs_field_lookup(0x0800))
        cr_assert_eq(value, 0xFFFF);
    harness_vmread(&h, NVMX_FIELD_GUEST_ES_LIMIT, &value);
    cr_assert_eq(value, 0xFFFFFFFF);
}

/* SDM 31.3 VMCLEAR: #UD outside VMX operation. */
Test(vmclear, ud_outside_vmx_operation)
{
    harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, VMCS_A);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
}

/* SDM 31.3 VMCLEAR: invalid address -> VMfail(2). */
Test(vmclear, invalid_address_fails_2)
{
    harness_vmxon_vmptrld(&h);
    harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, VMCS_B + 4);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMCLEAR_INVALID_ADDRESS));
}

/* SDM 31.3 VMCLEAR: invalid address without a current VMCS -> VMfailInvalid. */
Test(vmclear, invalid_address_fails_invalid_without_current)
{
    vmxon();
    harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, 1ull << 50);
    cr_assert(harness_failed_invalid(&h));
}

/* SDM 31.3 VMCLEAR: the VMXON pointer -> VMfail(3). */
Test(vmclear, vmxon_pointer_fails_3)
{
    harness_vmxon_vmptrld(&h);
    harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, VMXON_REGION);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMCLEAR_VMXON_POINTER));
}

/* SDM 31.3 VMCLEAR: the current VMCS is written to memory, its launch state set to clear and
 * the current-VMCS pointer becomes invalid. */
Test(vmclear, current_vmcs_written_back_and_pointer_invalidated)
{
    harness_vmxon_vmptrld(&h);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0x5555);
    h.vcpu->current->launch_state = VMCS12_STATE_LAUNCHED;
    harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, VMCS_A);
    cr_assert(harness_succeeded(&h));
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), UINT64_MAX);
    cr_assert_eq(fake_host_read64(&h.host, slot_gpa(VMCS_A, VMCS12_ORD_GUEST_RIP)), 0x5555);
    cr_assert_neq(fake_host_read32(&h.host, VMCS_A + 8), VMCS12_LAUNCHED);
    cr_assert_eq(h.vcpu->cache.count, 0, "a cleared VMCS is no longer active");
}

/* SDM 31.3 VMCLEAR: clearing a VMCS that is not current keeps the current one. */
Test(vmclear, other_vmcs_keeps_current)
{
    harness_vmxon_vmptrld(&h);
    fake_host_write32(&h.host, VMCS_B + 8, VMCS12_LAUNCHED);
    harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, VMCS_B);
    cr_assert(harness_succeeded(&h));
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), VMCS_A);
    cr_assert_neq(fake_host_read32(&h.host, VMCS_B + 8), VMCS12_LAUNCHED);
}

/* After VMCLEAR the region is re-read on the next VMPTRLD (L1 may have moved it). */
Test(vmclear, next_vmptrld_reads_region_again)
{
    harness_vmxon_vmptrld(&h);
    harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, VMCS_A);
    fake_host_write64(&h.host, slot_gpa(VMCS_A, VMCS12_ORD_GUEST_RIP), 0x7777);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_A);
    uint64_t value;
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, &value);
    cr_assert_eq(value, 0x7777);
}

/* SDM 31.3 VMPTRST: stores the current-VMCS pointer. */
Test(vmptrst, stores_current_pointer)
{
    harness_vmxon_vmptrld(&h);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRST, 0);
    cr_assert(harness_succeeded(&h));
    cr_assert_eq(fake_host_read64(&h.host, OPERAND), VMCS_A);
}

/* SDM 31.3 VMPTRST: without a current VMCS it stores FFFFFFFF_FFFFFFFFH. */
Test(vmptrst, stores_all_ones_without_current)
{
    vmxon();
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRST, 0);
    cr_assert(harness_succeeded(&h));
    cr_assert_eq(fake_host_read64(&h.host, OPERAND), UINT64_MAX);
}

/* SDM 31.3 VMPTRST: a page fault on the destination is delivered and nothing is written. */
Test(vmptrst, page_fault_on_destination_writes_nothing)
{
    harness_vmxon_vmptrld(&h);
    h.host.fault_pages[h.host.fault_page_count++] = OPERAND;
    fake_host_write64(&h.host, OPERAND, 0x1111);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRST, 0x1111);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_PF);
    cr_assert_eq(harness_single_exception(&h)->error_code & 2, 2, "a write fault");
    cr_assert_eq(fake_host_read64(&h.host, OPERAND), 0x1111);
}

/* SDM 31.3 VMPTRST: #GP(0) at CPL > 0. */
Test(vmptrst, gp_at_cpl_above_0)
{
    vmxon();
    fake_host_set_cpl(&h.host, 3);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRST, 0);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_GP);
}

/* SDM 31.4 error 6 ("VMRESUME after VMXOFF"): a VMCS launched before VMXOFF and loaded again
 * after the next VMXON is neither clear nor launched. */
Test(vmptrld, vmcs_launched_before_vmxoff_is_marked_so)
{
    harness_vmxon_vmptrld(&h);
    vmcs12_cached *a = h.vcpu->current;
    a->launch_state = VMCS12_STATE_LAUNCHED; /* as VMLAUNCH will record it */
    a->launch_generation = h.vcpu->cache.generation;
    a->memory_stale = true;
    harness_exit(&h, NVMX_EXIT_VMXOFF, 0, 0);
    cr_assert_eq(fake_host_read32(&h.host, VMCS_A + 8), VMCS12_LAUNCHED);
    harness_vmxon_vmptrld(&h);
    cr_assert_eq(h.vcpu->current->launch_state, VMCS12_STATE_LAUNCHED_BEFORE_VMXOFF);
}

/* A region whose launch word says launched in the current generation loads as launched. */
Test(vmptrld, launched_region_of_current_generation_loads_launched)
{
    vmxon();
    fake_host_write32(&h.host, VMCS_B + 8, VMCS12_LAUNCHED);
    fake_host_write32(&h.host, VMCS_B + 12, h.vcpu->cache.generation);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B);
    cr_assert_eq(h.vcpu->current->launch_state, VMCS12_STATE_LAUNCHED);
}

/* The vmcs12 layout is pinned: changing the field list must change NVMX_VMCS_REVISION_ID and
 * this fingerprint together, so regions of an older layout are refused by VMPTRLD. */
Test(vmptrld, layout_fingerprint_matches_revision)
{
    cr_assert_eq(
        vmcs12_layout_fingerprint(), NVMX_VMCS12_LAYOUT_FINGERPRINT,
        "the field list changed: bump NVMX_VMCS_REVISION_ID and set the fingerprint to %#x",
        vmcs12_layout_fingerprint());
}
