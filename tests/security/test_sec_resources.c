/* SPDX-License-Identifier: MIT */
/*
 * Resource bounds under a hostile L1 (issue 6 item 4): VMXON/VMXOFF and failing VMXON in
 * loops return every allocation; thousands of VMPTRLDs never grow the vmcs12 cache beyond
 * max_cached_vmcs; MSR lists longer than IA32_VMX_MISC's recommended maximum fail
 * architecturally after a bounded number of reads.
 *
 * CVE-2017-2596 (KVM: nested VMXON leaked a page reference per call -> host memory
 * exhaustion). SDM Vol. 3C 31.3 VMXON/VMXOFF/VMPTRLD, 25.11.1 (a processor caches a bounded
 * number of VMCSs), A.6 (IA32_VMX_MISC[27:25]: 512 * (N + 1) recommended MSR-list entries),
 * 27.4, 27.8 (MSR-load failure, reason 34), 28.4/28.7 (MSR-store failure: VMX abort).
 */
#include <criterion/criterion.h>

#include "sec_env.h"

static harness h;

static void setup(void)
{
    harness_init(&h, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(sec_resources, .init = setup, .fini = teardown);

/* CVE-2017-2596. 5000 VMXON / VMPTRLD / VMWRITE / VMPTRLD / VMXOFF rounds: after each VMXOFF
 * the live allocations are back to the baseline of a fresh vCPU. */
Test(sec_resources, vmxon_vmxoff_loop_returns_allocations_to_baseline)
{
    long baseline = h.host.live_allocations;
    for (int i = 0; i < 5000; i++) {
        harness_vmxon_vmptrld(&h);
        cr_assert_eq(harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, (uint64_t)i), NVMX_OK);
        cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B), NVMX_OK);
        cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMXOFF, 0, 0), NVMX_OK);
        cr_assert(harness_succeeded(&h));
        cr_assert_eq(h.host.live_allocations, baseline, "round %d leaked", i);
    }
}

/* CVE-2017-2596. Every way VMXON can fail, thousands of times: #GP at CPL 3, #UD without
 * CR4.VMXE, VMfailInvalid for an unaligned pointer, one beyond the physical-address width,
 * unbacked memory, a wrong revision, a shadow-VMCS revision. Nothing is allocated, the vCPU
 * stays out of VMX operation. */
Test(sec_resources, failing_vmxon_variants_in_a_loop_allocate_nothing)
{
    long baseline = h.host.live_allocations, alloc_calls = h.host.alloc_calls;
    harness_region(&h, VMCS_B, NVMX_VMCS_REVISION_ID + 1);
    harness_region(&h, VMCS_C, NVMX_VMCS_REVISION_ID | VMCS12_SHADOW_INDICATOR);
    const uint64_t pointers[] = {VMXON_REGION + 8, 1ull << 46, 0x3FFFFFFFF000ull, VMCS_B, VMCS_C};
    for (int i = 0; i < 2000; i++) {
        for (size_t p = 0; p < NVMX_ARRAY_SIZE(pointers); p++) {
            cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMXON, pointers[p]), NVMX_OK);
            cr_assert(harness_failed_invalid(&h), "pointer %zu", p);
        }
        fake_host_set_cpl(&h.host, 3);
        harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
        fake_host_set_cpl(&h.host, 0);
        h.host.regs[NVMX_REG_CR4] &= ~NVMX_CR4_VMXE;
        harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
        h.host.regs[NVMX_REG_CR4] |= NVMX_CR4_VMXE;
        cr_assert_eq(h.host.exception_count, 2);
        h.host.exception_count = 0;
        cr_assert_not(nvmx_vcpu_in_vmx_operation(h.vcpu));
    }
    cr_assert_eq(h.host.live_allocations, baseline);
    cr_assert_eq(h.host.alloc_calls, alloc_calls, "a failing VMXON allocates nothing");
}

/* SDM 25.11.1. VMPTRLD of 3000 distinct regions with an 8-entry cache: the cache never holds
 * more than 8 vmcs12s, live allocations stay bounded (entries plus the hash index), and
 * VMXOFF returns to the baseline. */
Test(sec_resources, vmptrld_of_thousands_of_regions_never_grows_the_cache)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.max_cached_vmcs = 8;
    harness_init(&h, &config);
    long baseline = h.host.live_allocations;
    harness_vmxon_vmptrld(&h);
    long peak = 0;
    for (uint64_t i = 0; i < 3000; i++) {
        uint64_t region = 0x100000 + i * 4096;
        harness_region(&h, region, NVMX_VMCS_REVISION_ID);
        cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, region), NVMX_OK);
        cr_assert(harness_succeeded(&h));
        cr_assert_leq(h.vcpu->cache.count, 8);
        if (h.host.live_allocations - baseline > peak)
            peak = h.host.live_allocations - baseline;
    }
    /* 8 entries plus uthash's table and bucket array. */
    cr_assert_leq(peak, 8 + 2, "peak %ld allocations", peak);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMXOFF, 0, 0), NVMX_OK);
    cr_assert_eq(h.host.live_allocations, baseline);
}

/* The default bound too (64), and a failing VMPTRLD (wrong revision, unbacked region) keeps
 * nothing: the cache does not fill with garbage. */
Test(sec_resources, failing_vmptrld_in_a_loop_keeps_nothing)
{
    harness_vmxon_vmptrld(&h);
    uint32_t count = h.vcpu->cache.count;
    long live = h.host.live_allocations;
    for (uint64_t i = 0; i < 3000; i++) {
        uint64_t region = 0x100000 + i * 4096;
        harness_region(&h, region, NVMX_VMCS_REVISION_ID ^ 0x100);
        cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, region), NVMX_OK);
        cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMPTRLD_INCORRECT_REVISION));
        cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, (1ull << 40) + i * 4096), NVMX_OK);
        cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMPTRLD_INCORRECT_REVISION));
        cr_assert_eq(h.vcpu->cache.count, count);
        cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), VMCS_A);
    }
    cr_assert_leq(h.host.live_allocations, live + 1, "at most a resized hash table");
}

/* ---- MSR lists longer than recommended (A.6, 27.4, 28.4) ------------------------------------ */

#define MSR_LIST_GPA 0x300000ull
#define MSR_SYSENTER_CS 0x174u

static void fill_msr_list(uint32_t entries)
{
    for (uint32_t i = 0; i < entries; i++) {
        fake_host_write64(&h.host, MSR_LIST_GPA + 16ull * i, MSR_SYSENTER_CS);
        fake_host_write64(&h.host, MSR_LIST_GPA + 16ull * i + 8, i);
    }
}

/* A VM-entry MSR-load count of 2^32 - 1 (every entry valid as far as RAM goes): the entry
 * after the recommended maximum fails, VM entry fails with reason 34 and that 1-based index
 * as qualification; the work is bounded (about one read per allowed entry), nothing is
 * allocated. */
Test(sec_resources, entry_msr_load_list_beyond_recommended_maximum_fails_with_34)
{
    harness_fini(&h);
    sec_nested_init(&h, NULL, NULL);
    uint32_t max = 512u * (uint32_t)(((h.vm->caps.misc >> 25) & 7) + 1);
    fill_msr_list(max + 16);
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_MSR_LOAD_ADDR, MSR_LIST_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_MSR_LOAD_COUNT, 0xFFFFFFFFu);
    long reads = h.host.l1_reads, live = h.host.live_allocations;
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_leq(h.host.l1_reads - reads, max + 64, "%ld reads", h.host.l1_reads - reads);
    cr_assert_eq(h.host.live_allocations, live);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON),
                 NVMX_EXIT_REASON_ENTRY_FAILURE | NVMX_EXIT_ENTRY_FAIL_MSR_LOADING);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EXIT_QUALIFICATION), max + 1);
}

/* A VM-exit MSR-store count beyond the maximum: the store fails at entry max + 1 when L2
 * exits, which is a VMX abort (28.4, 28.7: indicator 2): L1 shuts down, no growth, bounded
 * reads, and never a write past the entries that were allowed. */
Test(sec_resources, exit_msr_store_list_beyond_recommended_maximum_aborts)
{
    harness_fini(&h);
    sec_nested_init(&h, NULL, NULL);
    uint32_t max = 512u * (uint32_t)(((h.vm->caps.misc >> 25) & 7) + 1);
    fill_msr_list(max + 16);
    fake_host_set_msr(&h.host, MSR_SYSENTER_CS, 0x77);
    sec_vmwrite(&h, NVMX_FIELD_VM_EXIT_MSR_STORE_ADDR, MSR_LIST_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VM_EXIT_MSR_STORE_COUNT, max + 10);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    long reads = h.host.l1_reads, live = h.host.live_allocations;
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_SHUTDOWN_L1);
    cr_assert_leq(h.host.l1_reads - reads, max + 64);
    cr_assert_eq(h.host.live_allocations, live);
    cr_assert_eq(fake_host_read64(&h.host, MSR_LIST_GPA + 16ull * (max - 1) + 8), 0x77);
    cr_assert_eq(fake_host_read64(&h.host, MSR_LIST_GPA + 16ull * max + 8), max,
                 "the entry beyond the maximum is not stored");
}

/* The smallest cache (max_cached_vmcs = 1): VMPTRLD of many regions in turn keeps at most one
 * vmcs12 cached once the instruction completed (the previous current VMCS is written back),
 * and every VMCS keeps its data across the evictions. */
Test(sec_resources, one_entry_cache_stays_within_its_bound)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.max_cached_vmcs = 1;
    harness_init(&h, &config);
    harness_vmxon_vmptrld(&h);
    const uint64_t regions[] = {VMCS_A, VMCS_B, VMCS_C};
    for (int round = 0; round < 100; round++) {
        for (int i = 0; i < 3; i++) {
            cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, regions[i]), NVMX_OK);
            cr_assert(harness_succeeded(&h));
            cr_assert_leq(h.vcpu->cache.count, 1, "count %u", h.vcpu->cache.count);
            uint64_t rip;
            cr_assert_eq(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, &rip), NVMX_OK);
            if (round > 0)
                cr_assert_eq(rip, 0x100u + (unsigned)i);
            cr_assert_eq(harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0x100u + (unsigned)i), NVMX_OK);
        }
    }
}
