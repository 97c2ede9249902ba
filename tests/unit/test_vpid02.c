/* SPDX-License-Identifier: MIT */
/*
 * VPID for L2 (lib/vpid02.c): the bounded map from L1's VPIDs to hardware VPID02s (allocation,
 * LRU reassignment with a flush, sharing when vpid_alloc runs out, balance at vCPU destroy),
 * and the flush rules of VM entries and exits (SDM Vol. 3C 29.4.3.1: with "enable VPID" 0 they
 * invalidate the mappings of VPID 0000H; with it 1, nothing), through real round trips.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../security/sec_env.h"
#include "ept/ept02.h"
#include "vpid02.h"

static harness h;

static void teardown(void)
{
    harness_fini(&h);
}
static void setup_map(void)
{
    harness_init(&h, NULL);
}
static void setup_nested(void)
{
    sec_nested_init(&h, NULL, NULL);
}
TestSuite(vpid02, .init = setup_map, .fini = teardown);
TestSuite(vpid_transitions, .init = setup_nested, .fini = teardown);

static uint16_t get(uint16_t vpid12)
{
    uint16_t vpid02 = 0;
    cr_assert_eq(vpid02_get(h.vcpu, vpid12, &vpid02), NVMX_OK, "%s", h.host.last_log);
    cr_assert_neq(vpid02, 0);
    return vpid02;
}

static bool flushed(nvmx_tlb_flush_kind kind, uint16_t vpid)
{
    for (long i = 0; i < h.host.tlb_flush_count && i < FAKE_MAX_TLB_FLUSHES; i++)
        if (h.host.tlb_flushes[i].kind == kind && h.host.tlb_flushes[i].vpid == vpid)
            return true;
    return false;
}

static void recreate(const nvmx_vm_config *config)
{
    harness_fini(&h);
    harness_init(&h, config);
}

/* ---- The map -------------------------------------------------------------------------------- */

/* Each VPID of L1 gets its own hardware VPID, flushed once when it is handed out (its previous
 * user is unknown); asking again gives the same one without a flush. */
Test(vpid02, each_vpid12_gets_its_own_vpid02_flushed_once)
{
    uint16_t a = get(5), b = get(7);
    cr_assert_neq(a, b);
    cr_assert_eq(h.host.tlb_flush_count, 2);
    cr_assert(flushed(NVMX_TLB_FLUSH_VPID, a));
    cr_assert(flushed(NVMX_TLB_FLUSH_VPID, b));
    cr_assert_eq(get(5), a);
    cr_assert_eq(get(7), b);
    cr_assert_eq(h.host.tlb_flush_count, 2);
    cr_assert_eq(h.host.live_vpids, 2);
}

/* vm.h max_vpid02: at most that many VPIDs; beyond it the least recently used slot changes
 * owner, flushed first, and its old owner has no VPID02 any more. */
Test(vpid02, bound_reassigns_the_least_recently_used_with_a_flush)
{
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.max_vpid02 = 2;
    recreate(&config);
    uint16_t a = get(5), b = get(7);
    get(5); /* 7 is now the least recently used */
    h.host.tlb_flush_count = 0;
    cr_assert_eq(get(9), b);
    cr_assert_eq(h.host.tlb_flush_count, 1);
    cr_assert(flushed(NVMX_TLB_FLUSH_VPID, b));
    uint16_t v;
    cr_assert_not(vpid02_find(h.vcpu, 7, &v));
    cr_assert(vpid02_find(h.vcpu, 5, &v));
    cr_assert_eq(v, a);
    cr_assert_eq(h.host.live_vpids, 2);
}

/* ops.h vpid_alloc: 0 when none is left: the library shares what it holds, flushing on each
 * change of owner. */
Test(vpid02, exhausted_vpid_alloc_shares_with_a_flush_on_every_switch)
{
    h.host.vpid_limit = 1;
    uint16_t a = get(5);
    h.host.tlb_flush_count = 0;
    cr_assert_eq(get(7), a);
    cr_assert_eq(get(5), a);
    cr_assert_eq(h.host.tlb_flush_count, 2);
    cr_assert_eq(h.host.live_vpids, 1);
}

/* Nothing held and nothing to allocate: an error for the embedder, not a VPID 0. */
Test(vpid02, no_vpid_at_all_is_no_memory)
{
    h.host.vpid_limit = 1;
    h.host.next_vpid = 1;
    uint16_t v = 0xAAAA;
    cr_assert_eq(vpid02_get(h.vcpu, 5, &v), NVMX_ERR_NO_MEMORY);
    cr_assert_eq(v, 0xAAAA);
    cr_assert(strstr(h.host.last_log, "vpid_alloc") != NULL, "log: %s", h.host.last_log);
    cr_assert_eq(h.host.tlb_flush_count, 0);
}

/* Balance: every VPID02 goes back to the host when the vCPU is destroyed. */
Test(vpid02, vcpu_destroy_gives_every_vpid02_back)
{
    for (uint16_t v = 1; v <= 20; v++)
        get(v);
    cr_assert_eq(h.host.live_vpids, NVMX_DEFAULT_MAX_VPID02);
    nvmx_vcpu_destroy(h.vcpu);
    cr_assert_eq(h.host.live_vpids, 0);
    cr_assert_eq(nvmx_vcpu_create(h.vm, &h.host, &h.vcpu), NVMX_OK);
}

/* vm.h: max_vpid02 is 1 to NVMX_MAX_VPID02_LIMIT. */
Test(vpid02, config_bound_is_checked)
{
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    cr_assert_eq(config.max_vpid02, NVMX_DEFAULT_MAX_VPID02);
    nvmx_vm *vm = NULL;
    const uint32_t bad[] = {0, NVMX_MAX_VPID02_LIMIT + 1, UINT32_MAX};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(bad); i++) {
        config.max_vpid02 = bad[i];
        cr_assert_eq(nvmx_vm_create(&config, fake_host_ops(), &h.host, &vm),
                     NVMX_ERR_INVALID_ARGUMENT);
        cr_assert_null(vm);
    }
    config.max_vpid02 = NVMX_MAX_VPID02_LIMIT;
    cr_assert_eq(nvmx_vm_create(&config, fake_host_ops(), &h.host, &vm), NVMX_OK);
    nvmx_vm_destroy(vm);
}

/* lib/capabilities.c ceiling_of: VPID (and so INVVPID) needs tlb_flush, vpid_alloc and
 * vpid_free; INVEPT follows EPT, which needs tlb_flush. */
static void create_with_ops(const nvmx_host_ops *ops)
{
    harness_fini(&h);
    fake_host_init(&h.host, HARNESS_RAM);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    cr_assert_eq(nvmx_vm_create(&config, ops, &h.host, &h.vm), NVMX_OK);
    cr_assert_eq(nvmx_vcpu_create(h.vm, &h.host, &h.vcpu), NVMX_OK);
}

Test(vpid02, vpid_is_not_exposed_without_the_vpid_ops)
{
    nvmx_host_ops ops = *fake_host_ops();
    ops.vpid_free = NULL;
    create_with_ops(&ops);
    cr_assert_not(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_VPID));
    cr_assert_not(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_INVVPID));
    cr_assert(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_INVEPT));
    uint16_t v;
    cr_assert_eq(vpid02_get(h.vcpu, 5, &v), NVMX_ERR_UNSUPPORTED);
}

Test(vpid02, neither_vpid_nor_invept_without_tlb_flush)
{
    nvmx_host_ops ops = *fake_host_ops();
    ops.tlb_flush = NULL;
    create_with_ops(&ops);
    cr_assert_not(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_VPID));
    cr_assert_not(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_INVVPID));
    cr_assert_not(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_EPT));
    cr_assert_not(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_INVEPT));
}

/* ---- VM entries and exits ------------------------------------------------------------------ */

static uint64_t v02(unsigned ordinal)
{
    return h.host.vmcs[NVMX_HW_VMCS02][ordinal];
}

static void l1_enables_vpid(uint16_t vpid)
{
    sec_set_proc(&h, 0, NVMX_CTL(VPID));
    sec_vmwrite(&h, NVMX_FIELD_VIRTUAL_PROCESSOR_ID, vpid);
}

/* L2 exits with CPUID; L1 resumes it. */
static void cpuid_exit(void)
{
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
}

static uint16_t vpid02_of(uint16_t vpid12)
{
    uint16_t v = 0;
    cr_assert(vpid02_find(h.vcpu, vpid12, &v), "VPID %u has no VPID02", vpid12);
    return v;
}

/* SDM 25.6.8, 29.1: vmcs02 runs L2 with the VPID02 of vmcs12's VPID and enables VPID; the
 * new VPID02 is flushed once before its first use, nothing else. */
Test(vpid_transitions, entry_with_vpid_runs_l2_on_the_vpid02_of_vmcs12s_vpid)
{
    l1_enables_vpid(5);
    h.host.tlb_flush_count = 0;
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    uint16_t v = vpid02_of(5);
    cr_assert_eq(v02(VMCS12_ORD_VIRTUAL_PROCESSOR_ID), v);
    cr_assert(v02(VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL) & NVMX_CTL(VPID));
    cr_assert(v02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(SECONDARY_CONTROLS));
    cr_assert_eq(h.host.tlb_flush_count, 1);
    cr_assert(flushed(NVMX_TLB_FLUSH_VPID, v));
}

/* SDM 29.4.3.2: with "enable VPID" 1, VM entries and exits invalidate nothing: L1's and L2's
 * mappings stay tagged apart, so neither the exit nor the resume asks for a flush. */
Test(vpid_transitions, with_vpid_exits_and_resumes_flush_nothing)
{
    l1_enables_vpid(5);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    h.host.tlb_flush_count = 0;
    cpuid_exit();
    sec_launch(&h, NVMX_EXIT_VMRESUME);
    cpuid_exit();
    cr_assert_eq(h.host.tlb_flush_count, 0);
    cr_assert_eq(v02(VMCS12_ORD_VIRTUAL_PROCESSOR_ID), vpid02_of(5));
}

/* Distinct VPIDs of L1 run on distinct VPID02s; going back to one keeps its mappings. */
Test(vpid_transitions, each_vmcs12_vpid_has_its_own_vpid02)
{
    l1_enables_vpid(5);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cpuid_exit();
    sec_vmwrite(&h, NVMX_FIELD_VIRTUAL_PROCESSOR_ID, 7);
    sec_launch(&h, NVMX_EXIT_VMRESUME);
    uint16_t v7 = v02(VMCS12_ORD_VIRTUAL_PROCESSOR_ID);
    cr_assert_eq(v7, vpid02_of(7));
    cr_assert_neq(v7, vpid02_of(5));
    cpuid_exit();
    sec_vmwrite(&h, NVMX_FIELD_VIRTUAL_PROCESSOR_ID, 5);
    h.host.tlb_flush_count = 0;
    sec_launch(&h, NVMX_EXIT_VMRESUME);
    cr_assert_eq(v02(VMCS12_ORD_VIRTUAL_PROCESSOR_ID), vpid02_of(5));
    cr_assert_eq(h.host.tlb_flush_count, 0);
}

/* SDM 29.4.3.1: with "enable VPID" 0 a VM exit invalidates VPID 0000H's mappings, which are
 * L1's: L1's context is flushed. vmcs02 runs without VPID here (neither L1 nor L0 asked), so
 * the entry needs nothing of the library (the hardware flushes its VPID 0000H itself). */
Test(vpid_transitions, without_vpid_the_exit_flushes_l1s_context)
{
    h.host.tlb_flush_count = 0;
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(h.host.tlb_flush_count, 0);
    cr_assert_eq(v02(VMCS12_ORD_VIRTUAL_PROCESSOR_ID), 0, "vmcs02's VPID is not written");
    cr_assert_eq(h.host.live_vpids, 0);
    cpuid_exit();
    cr_assert_eq(h.host.tlb_flush_count, 1);
    cr_assert(flushed(NVMX_TLB_FLUSH_L1_CONTEXT, 0));
}

/* SDM 29.4.3.1 with a VPID of L0's in vmcs02 (nvmx_l0_controls.proc2): L2 "is" L1's VPID
 * 0000H, whose mappings every entry invalidates: its VPID02 is flushed at each entry; each
 * exit flushes L1's context. */
Test(vpid_transitions, without_vpid_but_l0_vpid_every_entry_flushes_the_vpid02)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.l0.proc2 = NVMX_CTL(VPID);
    sec_nested_init(&h, &config, NULL);
    h.host.tlb_flush_count = 0;
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    uint16_t v = vpid02_of(0);
    cr_assert_eq(v02(VMCS12_ORD_VIRTUAL_PROCESSOR_ID), v);
    cr_assert_eq(h.host.tlb_flush_count, 1, "one flush, not one per reason");
    cr_assert(flushed(NVMX_TLB_FLUSH_VPID, v));
    cpuid_exit();
    cr_assert_eq(h.host.tlb_flush_count, 2);
    cr_assert(flushed(NVMX_TLB_FLUSH_L1_CONTEXT, 0));
    h.host.tlb_flush_count = 0;
    sec_launch(&h, NVMX_EXIT_VMRESUME);
    cr_assert_eq(h.host.tlb_flush_count, 1);
    cr_assert(flushed(NVMX_TLB_FLUSH_VPID, v));
}

/* SDM 27.8: a VM-entry failure loads L1's host state as an exit does; with "enable VPID" 0
 * L1's context is flushed as for an exit (at worst more than needed). */
Test(vpid_transitions, entry_failure_without_vpid_flushes_l1s_context)
{
    sec_vmwrite(&h, NVMX_FIELD_GUEST_RFLAGS, 0); /* bit 1 must be 1 (27.3.1.4) */
    h.host.tlb_flush_count = 0;
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(h.host.tlb_flush_count, 1);
    cr_assert(flushed(NVMX_TLB_FLUSH_L1_CONTEXT, 0));
}

/* SDM 27.2.1.1: "enable VPID" with VPID 0000H fails the entry with VMfailValid(7): no VPID02
 * is taken, nothing flushed. */
Test(vpid_transitions, vpid_zero_fails_entry_with_error_7)
{
    l1_enables_vpid(0);
    h.host.tlb_flush_count = 0;
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    uint64_t rflags = h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RFLAGS];
    cr_assert_eq(rflags & NVMX_RFLAGS_ARITH, NVMX_RFLAGS_ZF, "VMfailValid");
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_INSTRUCTION_ERROR),
                 NVMX_VMERR_ENTRY_INVALID_CONTROL_FIELD);
    cr_assert_eq(h.host.live_vpids, 0);
    cr_assert_eq(h.host.tlb_flush_count, 0);
}

/* VPID is a secondary control: without "activate secondary controls" it is off, whatever the
 * secondary field holds (SDM 25.6.2), and L2 is VPID 0000H. */
Test(vpid_transitions, vpid_bit_without_secondary_controls_is_off)
{
    l1_enables_vpid(5);
    uint64_t proc = sec_vmread(&h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL);
    sec_vmwrite(&h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL,
                proc & ~(uint64_t)NVMX_CTL(SECONDARY_CONTROLS));
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(h.host.live_vpids, 0);
    h.host.tlb_flush_count = 0;
    cpuid_exit();
    cr_assert(flushed(NVMX_TLB_FLUSH_L1_CONTEXT, 0));
}

/* SDM 26.1.2: INVEPT and INVVPID of L2 exit to L1 (reasons 50, 53) with their information;
 * they drop no EPT02 and flush nothing of their own (the L1-context flush is the exit's, this
 * vmcs12 not enabling VPID). */
Test(vpid_transitions, l2_invept_and_invvpid_exit_to_l1_and_flush_nothing)
{
    const uint32_t reasons[] = {NVMX_EXIT_INVEPT, NVMX_EXIT_INVVPID};
    const uint32_t info = INFO_MEM_RAX_REG_RCX;
    uint64_t eptp02;
    cr_assert_eq(ept02_root_hpa(h.vcpu, 0x200000 | 0x1E, &eptp02), NVMX_OK);
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(reasons); i++) {
        sec_launch(&h, i ? NVMX_EXIT_VMRESUME : NVMX_EXIT_VMLAUNCH);
        fake_host_write64(&h.host, OPERAND, 0x200000 | 0x1E);
        h.host.regs[NVMX_REG_RAX] = OPERAND;
        h.host.regs[NVMX_REG_RCX] = 2;
        h.host.tlb_flush_count = 0;
        nvmx_exit exit = {.reason = reasons[i],
                          .instruction_info = info,
                          .qualification = 0x10,
                          .instruction_length = 5};
        cr_assert_eq(sec_l2_exit(&h, &exit), NVMX_OK, "%s", h.host.last_log);
        cr_assert_eq(h.next.run, NVMX_RUN_L1);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), reasons[i]);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VMX_INSTRUCTION_INFO), info);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EXIT_QUALIFICATION), 0x10);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_INSTRUCTION_LEN), 5);
        cr_assert_eq(h.host.tlb_flush_count, 1);
        cr_assert(flushed(NVMX_TLB_FLUSH_L1_CONTEXT, 0));
        cr_assert(ept02_root_eptp(h.vcpu, 0x200000 | 0x1E, &eptp02));
    }
}
