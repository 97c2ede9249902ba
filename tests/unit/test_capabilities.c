/* SPDX-License-Identifier: MIT */
/* The capability set exposed to L1 (SDM Vol. 3D Appendix A; lib/capabilities.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "caps_model.h"
#include "fake_host.h"
#include "internal.h"

static fake_host host;
static nvmx_vm vm;

static void setup(void)
{
    fake_host_init(&host, 4096);
    memset(&vm, 0, sizeof(vm));
    vm.ops = *fake_host_ops();
    vm.host_ctx = &host;
}

static void teardown(void)
{
    fake_host_fini(&host);
}

TestSuite(software_host, .init = setup, .fini = teardown);
TestSuite(capabilities, .init = setup, .fini = teardown);
TestSuite(feature_names, .init = setup, .fini = teardown);
TestSuite(dependencies, .init = setup, .fini = teardown);
TestSuite(pinned_caps, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------------------------- */

static nvmx_vm_config config_default(void)
{
    return (nvmx_vm_config){
        .expose_vmx = true, .phys_addr_width = 46, .max_cached_vmcs = 64, .feature_control = 5};
}

static uint32_t lo(uint64_t msr)
{
    return (uint32_t)msr;
}

static uint32_t hi(uint64_t msr)
{
    return (uint32_t)(msr >> 32);
}

static nvmx_vmx_caps software_host_caps(void)
{
    nvmx_vmx_caps caps;
    nvmx_caps_software_host(&caps, 46);
    return caps;
}

static nvmx_status compute_with(const nvmx_vm_config *config)
{
    return capabilities_compute(&vm, config);
}

static nvmx_status compute_disabling(const char *name)
{
    nvmx_vm_config config = config_default();
    const char *names[] = {name};
    config.disabled_features = names;
    config.disabled_feature_count = 1;
    return compute_with(&config);
}

static nvmx_status compute_on_host(const nvmx_vmx_caps *host_caps)
{
    nvmx_vm_config config = config_default();
    config.host_caps = host_caps;
    return compute_with(&config);
}

/* The exposed set the default configuration gives, from a scratch VM. */
static nvmx_vmx_caps computed_default(void)
{
    nvmx_vm scratch = vm;
    nvmx_vm_config config = config_default();
    cr_assert_eq(capabilities_compute(&scratch, &config), NVMX_OK);
    return scratch.caps;
}

static bool log_has(const char *text)
{
    return strstr(host.last_log, text) != NULL;
}

/* The control MSRs as (allowed-0 | allowed-1 << 32) values. */
static void control_msrs(const nvmx_vmx_caps *c, uint64_t out[9])
{
    uint64_t all[9] = {c->pinbased,       c->procbased,  c->exit,
                       c->entry,          c->procbased2, c->true_pinbased,
                       c->true_procbased, c->true_exit,  c->true_entry};
    memcpy(out, all, sizeof(all));
}

static void assert_allowed0_within_allowed1(const nvmx_vmx_caps *c)
{
    uint64_t msrs[9];
    control_msrs(c, msrs);
    for (int i = 0; i < 9; i++)
        cr_assert_eq(lo(msrs[i]) & ~hi(msrs[i]), 0,
                     "control MSR %d: allowed-0 %08x, allowed-1 %08x", i, lo(msrs[i]), hi(msrs[i]));
}

/* A.2/A.3.1: TRUE MSR = same allowed-1, allowed-0 only lower in default1 bits. */
static void assert_true_consistent(uint64_t msr, uint64_t true_msr, uint32_t default1)
{
    cr_assert_eq(hi(true_msr), hi(msr));
    cr_assert_eq(lo(true_msr) & ~lo(msr), 0);
    cr_assert_eq(lo(true_msr) & ~default1, lo(msr) & ~default1);
}

static uint64_t highest_index_of_existing_fields(const uint64_t exists[VMCS12_FIELD_WORDS])
{
    uint64_t highest = 0;
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++)
        if ((exists[i / 64] >> (i % 64)) & 1 &&
            NVMX_FIELD_INDEX(vmcs_field_table[i].encoding) > highest)
            highest = NVMX_FIELD_INDEX(vmcs_field_table[i].encoding);
    return highest;
}

static bool field_exists(uint32_t encoding)
{
    const vmcs_field_info *field = vmcs_field_lookup(encoding);
    cr_assert_not_null(field);
    return (vm.field_exists[field->ordinal / 64] >> (field->ordinal % 64)) & 1;
}

/* ---- the software host ------------------------------------------------------------------ */

/* SDM A.3-A.6, A.10, A.11: a CPU that can do everything has every listed feature. */
Test(software_host, allows_every_feature)
{
    nvmx_vmx_caps caps = software_host_caps();
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++)
        cr_assert(caps_feature_present(&caps, (nvmx_feature)f), "%s", nvmx_feature_name(f));
}

/* SDM A.2: without looking at the TRUE MSRs, every default1 control is must-be-1. */
Test(software_host, non_true_msrs_report_default1_controls_as_must_be_one)
{
    nvmx_vmx_caps caps = software_host_caps();
    cr_assert_eq(lo(caps.pinbased), 0x00000016u);
    cr_assert_eq(lo(caps.procbased), 0x0401E172u);
    cr_assert_eq(lo(caps.exit), 0x00036DFFu);
    cr_assert_eq(lo(caps.entry), 0x000011FFu);
    cr_assert_eq(lo(caps.procbased2), 0);
}

/* SDM A.2: the TRUE MSRs let only CR3-load/store exiting and the debug-control bits be 0. */
Test(software_host, true_msrs_clear_only_cr3_exiting_and_debug_controls)
{
    nvmx_vmx_caps caps = software_host_caps();
    cr_assert_eq(caps.true_pinbased, caps.pinbased);
    cr_assert_eq(lo(caps.true_procbased), 0x0401E172u & ~((1u << 15) | (1u << 16)));
    cr_assert_eq(lo(caps.true_exit), 0x00036DFFu & ~(1u << 2));
    cr_assert_eq(lo(caps.true_entry), 0x000011FFu & ~(1u << 2));
    cr_assert_eq(hi(caps.true_procbased), hi(caps.procbased));
    cr_assert_eq(hi(caps.true_exit), hi(caps.exit));
    cr_assert_eq(hi(caps.true_entry), hi(caps.entry));
}

/* SDM A.1: revision, region size, WB memory type, INS/OUTS information and TRUE controls. */
Test(software_host, basic_reports_the_library_vmcs_format)
{
    nvmx_vmx_caps caps = software_host_caps();
    cr_assert_eq(caps.basic & 0x7FFFFFFFull, NVMX_VMCS_REVISION_ID);
    cr_assert_eq(caps.basic & (1ull << 31), 0, "bit 31 is always 0");
    cr_assert_eq((caps.basic >> 32) & 0x1FFF, NVMX_VMCS_REGION_SIZE);
    cr_assert_eq((caps.basic >> 50) & 0xF, 6, "write-back");
    cr_assert(caps.basic & (1ull << 54));
    cr_assert(caps.basic & (1ull << 55));
}

/* SDM A.1: bit 48 (32-bit addresses) and bit 49 (dual-monitor SMM) are never reported. */
Test(software_host, never_reports_32bit_addresses_or_dual_monitor)
{
    for (unsigned width = 32; width <= 52; width++) {
        nvmx_vmx_caps caps;
        nvmx_caps_software_host(&caps, (uint8_t)width);
        cr_assert_eq(caps.basic & ((1ull << 48) | (1ull << 49)), 0, "width %u", width);
    }
}

/* SDM A.6: activity states, 4 CR3-target values, 512-entry MSR lists, a timer rate. */
Test(software_host, misc_reports_activity_states_cr3_targets_and_timer_rate)
{
    nvmx_vmx_caps caps = software_host_caps();
    cr_assert_eq(caps.misc & 0x1F, 5, "preemption-timer rate");
    cr_assert_eq((caps.misc >> 6) & 7, 7, "HLT, shutdown, wait-for-SIPI");
    cr_assert_eq((caps.misc >> 16) & 0x1FF, 4, "CR3-target values");
    cr_assert_eq((caps.misc >> 25) & 7, 0, "MSR list N");
    cr_assert_eq(caps.misc >> 32, 0, "no MSEG revision: no dual-monitor treatment");
}

/* SDM A.7, A.8: CR0 PE|NE|PG and CR4.VMXE fixed to 1; everything defined may be 1. */
Test(software_host, cr_fixed_values)
{
    nvmx_vmx_caps caps = software_host_caps();
    cr_assert_eq(caps.cr0_fixed0, 0x80000021ull);
    cr_assert_eq(caps.cr0_fixed1, 0xFFFFFFFFull);
    cr_assert_eq(caps.cr4_fixed0, 0x2000ull);
    cr_assert_eq(caps.cr4_fixed1 & 0x7FFFull, 0x7FFFull, "VME..SMXE");
    cr_assert_eq(caps.cr4_fixed1 & (1ull << 15), 0, "bit 15 is reserved");
    cr_assert_eq(caps.cr4_fixed1 & caps.cr4_fixed0, caps.cr4_fixed0);
}

/* SDM A.9: VMCS_ENUM bits 9:1 = highest index of all fields the full table has. */
Test(software_host, vmcs_enum_is_highest_index_of_the_field_table)
{
    nvmx_vmx_caps caps = software_host_caps();
    uint64_t highest = 0;
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++)
        if (NVMX_FIELD_INDEX(vmcs_field_table[i].encoding) > highest)
            highest = NVMX_FIELD_INDEX(vmcs_field_table[i].encoding);
    cr_assert_eq(caps.vmcs_enum, highest << 1);
}

/* SDM A.3: a control that must be 1 is also allowed to be 1. */
Test(software_host, allowed0_is_subset_of_allowed1)
{
    nvmx_vmx_caps caps = software_host_caps();
    assert_allowed0_within_allowed1(&caps);
}

/* SDM A.2: the software host's TRUE MSRs agree with the non-TRUE ones. */
Test(software_host, true_msrs_consistent_with_non_true)
{
    nvmx_vmx_caps caps = software_host_caps();
    assert_true_consistent(caps.pinbased, caps.true_pinbased, NVMX_PINBASED_DEFAULT1);
    assert_true_consistent(caps.procbased, caps.true_procbased, NVMX_PROCBASED_DEFAULT1);
    assert_true_consistent(caps.exit, caps.true_exit, NVMX_EXIT_DEFAULT1);
    assert_true_consistent(caps.entry, caps.true_entry, NVMX_ENTRY_DEFAULT1);
}

/* ---- the exposed set: host ∩ implemented ∩ policy ----------------------------------------- */

/* Appendix A: on a host with everything, exactly what the library implements is exposed. */
Test(capabilities, exposes_exactly_the_implemented_set_on_a_full_host)
{
    cr_assert_eq(compute_with(&(nvmx_vm_config){.expose_vmx = true, .phys_addr_width = 46}),
                 NVMX_OK);
    cr_assert(vm.vmx_exposed);
    const uint64_t basic = NVMX_VMCS_REVISION_ID | (4096ull << 32) | (6ull << 50) | (1ull << 55);
    cr_assert_eq(vm.caps.basic, basic);
    /* default1 + external-interrupt exiting (0), NMI exiting (3), virtual NMIs (5), activate
     * VMX-preemption timer (6) */
    cr_assert_eq(vm.caps.pinbased, 0x0000007F00000016ull);
    /* default1 + interrupt-window exiting, TSC offsetting, HLT, INVLPG, MWAIT, RDPMC, RDTSC,
     * CR3/CR8 load/store, NMI-window exiting, MOV DR, unconditional I/O, I/O bitmaps, monitor
     * trap flag, MSR bitmaps, MONITOR, PAUSE, secondary controls */
    cr_assert_eq(vm.caps.procbased, 0xFFD9FFFE0401E172ull);
    /* default1 + host address-space size, acknowledge interrupt on exit (15), save/load PAT,
     * save/load EFER, save timer value */
    cr_assert_eq(vm.caps.exit, 0x007FEFFF00036DFFull);
    /* default1 + IA-32e mode guest, load PAT, load EFER */
    cr_assert_eq(vm.caps.entry, 0x0000D3FF000011FFull);
    /* VMWRITE to exit-information fields (29), 4 CR3 targets (24:16), store LMA (5), the
     * activity states HLT, shutdown, wait-for-SIPI (8:6), the software host's timer rate 5
     * (4:0) */
    cr_assert_eq(vm.caps.misc, 0x200401E5ull);
    /* EPT, descriptor-table exiting, RDTSCP, VPID, WBINVD, unrestricted guest, RDRAND, INVPCID,
     * VM functions, VMCS shadowing, RDSEED */
    cr_assert_eq(vm.caps.procbased2, 0x000178EEull << 32);
    cr_assert_eq(vm.caps.true_pinbased, vm.caps.pinbased);
    /* SDM A.3.2, A.4.1, A.5: the TRUE MSRs let L1 clear CR3 load/store exiting and the
     * save/load debug controls. */
    cr_assert_eq(vm.caps.true_procbased, 0xFFD9FFFE04006172ull);
    cr_assert_eq(vm.caps.true_exit, 0x007FEFFF00036DFBull);
    cr_assert_eq(vm.caps.true_entry, 0x0000D3FF000011FBull);
    /* A.10: execute-only (0), 4-level (6), UC (8), WB (14), 2 MiB (16), 1 GiB (17), INVEPT
     * (20), A/D flags (21), INVEPT single- and all-context (25, 26), INVVPID (32) and its
     * four types (43:40) */
    cr_assert_eq(vm.caps.ept_vpid_cap, 0x00000F0106334141ull);
    /* A.11: EPTP switching */
    cr_assert_eq(vm.caps.vmfunc, 1);
    cr_assert_eq(vm.caps.procbased3, 0);
    cr_assert_eq(vm.caps.exit2, 0);
}

/* Appendix A: no feature the library does not implement is ever exposed. */
Test(capabilities, never_exposes_unimplemented_feature)
{
    cr_assert_eq(compute_with(&(nvmx_vm_config){.expose_vmx = true, .phys_addr_width = 46}),
                 NVMX_OK);
    /* The implemented set, spelled out here on purpose: exposing more must change this test. */
    static const nvmx_feature implemented[] = {
        NVMX_FEATURE_TRUE_CTLS,
        NVMX_FEATURE_SECONDARY_CONTROLS,
        NVMX_FEATURE_SHADOW_VMCS,
        NVMX_FEATURE_VMWRITE_ANY_FIELD,
        NVMX_FEATURE_EXIT_HOST_ADDR_SPACE,
        NVMX_FEATURE_ENTRY_IA32E_MODE,
        NVMX_FEATURE_STORE_LMA,
        NVMX_FEATURE_EXIT_SAVE_PAT,
        NVMX_FEATURE_EXIT_LOAD_PAT,
        NVMX_FEATURE_EXIT_SAVE_EFER,
        NVMX_FEATURE_EXIT_LOAD_EFER,
        NVMX_FEATURE_ENTRY_LOAD_PAT,
        NVMX_FEATURE_ENTRY_LOAD_EFER,
        NVMX_FEATURE_EXIT_SAVE_DEBUG,
        NVMX_FEATURE_ENTRY_LOAD_DEBUG,
        NVMX_FEATURE_HLT_EXITING,
        NVMX_FEATURE_INVLPG_EXITING,
        NVMX_FEATURE_MWAIT_EXITING,
        NVMX_FEATURE_RDPMC_EXITING,
        NVMX_FEATURE_RDTSC_EXITING,
        NVMX_FEATURE_CR3_LOAD_EXITING,
        NVMX_FEATURE_CR3_STORE_EXITING,
        NVMX_FEATURE_CR8_LOAD_EXITING,
        NVMX_FEATURE_CR8_STORE_EXITING,
        NVMX_FEATURE_MOV_DR_EXITING,
        NVMX_FEATURE_UNCOND_IO_EXITING,
        NVMX_FEATURE_IO_BITMAPS,
        NVMX_FEATURE_MSR_BITMAPS,
        NVMX_FEATURE_MONITOR_EXITING,
        NVMX_FEATURE_PAUSE_EXITING,
        NVMX_FEATURE_DESC_TABLE_EXITING,
        NVMX_FEATURE_WBINVD_EXITING,
        NVMX_FEATURE_RDRAND_EXITING,
        NVMX_FEATURE_RDSEED_EXITING,
        NVMX_FEATURE_RDTSCP,
        NVMX_FEATURE_ENABLE_INVPCID,
        NVMX_FEATURE_TSC_OFFSETTING,
        NVMX_FEATURE_PREEMPTION_TIMER,
        NVMX_FEATURE_EXIT_SAVE_PREEMPTION_TIMER,
        NVMX_FEATURE_INTR_WINDOW_EXITING,
        NVMX_FEATURE_EXT_INTR_EXITING,
        NVMX_FEATURE_EXIT_ACK_INTR,
        NVMX_FEATURE_NMI_EXITING,
        NVMX_FEATURE_VIRTUAL_NMIS,
        NVMX_FEATURE_NMI_WINDOW_EXITING,
        NVMX_FEATURE_MONITOR_TRAP_FLAG,
        NVMX_FEATURE_ACTIVITY_HLT,
        NVMX_FEATURE_ACTIVITY_SHUTDOWN,
        NVMX_FEATURE_ACTIVITY_WAIT_SIPI,
        NVMX_FEATURE_EPT,
        NVMX_FEATURE_EPT_WALK_4,
        NVMX_FEATURE_EPT_MEMTYPE_UC,
        NVMX_FEATURE_EPT_MEMTYPE_WB,
        NVMX_FEATURE_EPT_2MB,
        NVMX_FEATURE_EPT_1GB,
        NVMX_FEATURE_EPT_EXECONLY,
        NVMX_FEATURE_EPT_AD,
        NVMX_FEATURE_UNRESTRICTED_GUEST,
        NVMX_FEATURE_VPID,
        NVMX_FEATURE_INVVPID,
        NVMX_FEATURE_INVVPID_ADDRESS,
        NVMX_FEATURE_INVVPID_SINGLE_CONTEXT,
        NVMX_FEATURE_INVVPID_ALL_CONTEXT,
        NVMX_FEATURE_INVVPID_SINGLE_NONGLOBAL,
        NVMX_FEATURE_INVEPT,
        NVMX_FEATURE_INVEPT_SINGLE_CONTEXT,
        NVMX_FEATURE_INVEPT_ALL_CONTEXT,
        NVMX_FEATURE_ENABLE_VMFUNC,
        NVMX_FEATURE_EPTP_SWITCHING,
    };
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++) {
        bool expected = false;
        for (unsigned i = 0; i < sizeof(implemented) / sizeof(implemented[0]); i++)
            expected |= implemented[i] == f;
        cr_assert_eq(nvmx_vm_has_feature(&vm, (nvmx_feature)f), expected, "%s",
                     nvmx_feature_name(f));
    }
}

/* SDM A.3.3: a host without VMCS shadowing cannot give it to L1. */
Test(capabilities, host_without_shadow_vmcs_hides_it)
{
    nvmx_vmx_caps h = software_host_caps();
    h.procbased2 &= ~(NVMX_CTL(SHADOW_VMCS) << 32);
    cr_assert_eq(compute_on_host(&h), NVMX_OK);
    cr_assert_not(nvmx_vm_has_feature(&vm, NVMX_FEATURE_SHADOW_VMCS));
    cr_assert_eq(vm.caps.procbased2 & (NVMX_CTL(SHADOW_VMCS) << 32), 0);
    cr_assert_not(field_exists(NVMX_FIELD_VMREAD_BITMAP), "Appendix B: needs shadowing");
    cr_assert(nvmx_vm_has_feature(&vm, NVMX_FEATURE_VMWRITE_ANY_FIELD));
}

/* SDM A.3.2/A.3.3: a host without secondary controls has no secondary control to give. */
Test(capabilities, host_without_secondary_controls_hides_procbased2)
{
    nvmx_vmx_caps h = software_host_caps();
    h.procbased &= ~(NVMX_CTL(SECONDARY_CONTROLS) << 32);
    h.true_procbased &= ~(NVMX_CTL(SECONDARY_CONTROLS) << 32);
    cr_assert_eq(compute_on_host(&h), NVMX_OK);
    cr_assert_eq(hi(vm.caps.procbased) & NVMX_CTL(SECONDARY_CONTROLS), 0);
    cr_assert_eq(vm.caps.procbased2, 0);
    cr_assert_not(nvmx_vm_has_feature(&vm, NVMX_FEATURE_SHADOW_VMCS));
}

/* SDM A.1: a host without TRUE MSRs (BASIC[55] = 0) gives L1 none either. */
Test(capabilities, host_without_true_ctls_gives_no_true_msrs)
{
    nvmx_vmx_caps h = software_host_caps();
    h.basic &= ~NVMX_CTL(TRUE_CTLS);
    cr_assert_eq(compute_on_host(&h), NVMX_OK);
    cr_assert_eq(vm.caps.basic & NVMX_CTL(TRUE_CTLS), 0);
    cr_assert_eq(
        vm.caps.true_pinbased | vm.caps.true_procbased | vm.caps.true_exit | vm.caps.true_entry, 0);
}

/* Appendix A: bits the library does not know never reach L1, whatever the host reports. */
Test(capabilities, host_bits_unknown_to_the_library_are_not_exposed)
{
    nvmx_vmx_caps h;
    memset(&h, 0xFF, sizeof(h));
    cr_assert_eq(compute_on_host(&h), NVMX_OK);
    nvmx_vmx_caps expected = computed_default();
    cr_assert_eq(vm.caps.basic, expected.basic, "no bit 48/49/56, the library's revision");
    cr_assert_eq(vm.caps.procbased, expected.procbased);
    cr_assert_eq(vm.caps.procbased2, expected.procbased2);
    /* A.6: the timer rate is the host's (31 here, 5 for the software host). */
    cr_assert_eq(vm.caps.misc & ~0x1Full, expected.misc & ~0x1Full);
    cr_assert_eq(vm.caps.misc & 0x1F, 31);
    cr_assert_eq(vm.caps.exit2, 0);
    cr_assert_eq(vm.caps.ept_vpid_cap, expected.ept_vpid_cap);
    cr_assert_eq(vm.caps.vmfunc, expected.vmfunc);
    cr_assert_eq(vm.caps.procbased3, 0);
}

/* SDM A.3: what the host needs set in vmcs02 is L0's business: L1's must-be-1 are default1. */
Test(capabilities, host_required_controls_are_not_must_be_one_for_l1)
{
    nvmx_vmx_caps h = software_host_caps();
    h.pinbased |= hi(h.pinbased);
    h.procbased |= hi(h.procbased);
    h.procbased2 |= NVMX_CTL(SHADOW_VMCS);
    h.true_procbased |= hi(h.true_procbased);
    cr_assert_eq(compute_on_host(&h), NVMX_OK);
    cr_assert_eq(lo(vm.caps.pinbased), NVMX_PINBASED_DEFAULT1);
    cr_assert_eq(lo(vm.caps.procbased), NVMX_PROCBASED_DEFAULT1);
    cr_assert_eq(lo(vm.caps.true_procbased), NVMX_PROCBASED_DEFAULT1);
    cr_assert_eq(lo(vm.caps.procbased2), 0);
}

/* SDM A.7, A.8: the CR0/CR4 fixed bits are the host's. */
Test(capabilities, cr_fixed_values_pass_through_from_host)
{
    nvmx_vmx_caps h = software_host_caps();
    h.cr0_fixed1 = 0x9FFFFFFFull; /* CD and NW fixed to 0 */
    h.cr4_fixed0 = NVMX_CR4_VMXE | NVMX_CR4_PAE;
    h.cr4_fixed1 = 0x3727FFull;
    cr_assert_eq(compute_on_host(&h), NVMX_OK);
    cr_assert_eq(vm.caps.cr0_fixed0, h.cr0_fixed0);
    cr_assert_eq(vm.caps.cr0_fixed1, h.cr0_fixed1);
    cr_assert_eq(vm.caps.cr4_fixed0, h.cr4_fixed0);
    cr_assert_eq(vm.caps.cr4_fixed1, h.cr4_fixed1);
}

/* SDM 24.8, A.7/A.8: PE, NE, PG and VMXE stay fixed to 1 (and allowed) whatever the host says. */
Test(capabilities, cr_fixed_values_keep_what_vmx_operation_requires)
{
    nvmx_vmx_caps h = software_host_caps();
    h.cr0_fixed0 = h.cr0_fixed1 = 0;
    h.cr4_fixed0 = h.cr4_fixed1 = 0;
    cr_assert_eq(compute_on_host(&h), NVMX_OK);
    cr_assert_eq(vm.caps.cr0_fixed0, NVMX_CR0_PE | NVMX_CR0_NE | NVMX_CR0_PG);
    cr_assert_eq(vm.caps.cr0_fixed1, vm.caps.cr0_fixed0, "a must-be-1 bit is allowed-1");
    cr_assert_eq(vm.caps.cr4_fixed0, NVMX_CR4_VMXE);
    cr_assert_eq(vm.caps.cr4_fixed1, NVMX_CR4_VMXE);
}

/* SDM A.3: allowed-0 ⊆ allowed-1 in every exposed control MSR, whatever the policy. */
Test(capabilities, allowed0_is_subset_of_allowed1)
{
    const char *policies[] = {NULL, "vmx-secondary-ctls", "vmx-true-ctls", "vmx-shadow-vmcs"};
    for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
        nvmx_vm_config config = config_default();
        config.disabled_features = &policies[i];
        config.disabled_feature_count = policies[i] ? 1 : 0;
        cr_assert_eq(compute_with(&config), NVMX_OK);
        assert_allowed0_within_allowed1(&vm.caps);
    }
}

/* SDM A.2: exposed TRUE MSRs equal the non-TRUE ones but in default1 allowed-0 bits. */
Test(capabilities, true_msrs_consistent_with_non_true)
{
    cr_assert_eq(compute_with(&(nvmx_vm_config){.expose_vmx = true, .phys_addr_width = 46}),
                 NVMX_OK);
    assert_true_consistent(vm.caps.pinbased, vm.caps.true_pinbased, NVMX_PINBASED_DEFAULT1);
    assert_true_consistent(vm.caps.procbased, vm.caps.true_procbased, NVMX_PROCBASED_DEFAULT1);
    assert_true_consistent(vm.caps.exit, vm.caps.true_exit, NVMX_EXIT_DEFAULT1);
    assert_true_consistent(vm.caps.entry, vm.caps.true_entry, NVMX_ENTRY_DEFAULT1);
}

/* SDM A.6: hiding one feature with no dependents changes exactly its bit. */
Test(capabilities, policy_removes_exactly_the_named_feature)
{
    nvmx_vmx_caps before = computed_default();
    cr_assert_eq(compute_disabling("vmx-vmwrite-vmexit-fields"), NVMX_OK);
    cr_assert_eq(vm.caps.misc, before.misc & ~NVMX_CTL(VMWRITE_ANY_FIELD));
    nvmx_vmx_caps after = vm.caps;
    after.misc = before.misc;
    cr_assert_eq(memcmp(&after, &before, sizeof(before)), 0, "nothing else changed");
}

/* SDM A.3.3, Appendix B: hiding VMCS shadowing hides its bit and its bitmap fields. */
Test(capabilities, policy_hiding_shadow_vmcs_hides_its_fields)
{
    cr_assert_eq(compute_disabling("vmx-shadow-vmcs"), NVMX_OK);
    cr_assert_eq(vm.caps.procbased2 & (NVMX_CTL(SHADOW_VMCS) << 32), 0);
    cr_assert(nvmx_vm_has_feature(&vm, NVMX_FEATURE_SECONDARY_CONTROLS));
    cr_assert_not(field_exists(NVMX_FIELD_VMREAD_BITMAP));
    cr_assert_not(field_exists(NVMX_FIELD_VMWRITE_BITMAP));
}

/* Policy: an unknown name fails and the log names it; nothing is exposed. */
Test(capabilities, unknown_feature_name_is_an_error)
{
    cr_assert_eq(compute_disabling("vmx-warp-drive"), NVMX_ERR_UNKNOWN_FEATURE);
    cr_assert(log_has("vmx-warp-drive"), "log: %s", host.last_log);
    cr_assert_not(vm.vmx_exposed);
    nvmx_vmx_caps zero = {0};
    cr_assert_eq(memcmp(&vm.caps, &zero, sizeof(zero)), 0);
}

/* Policy: names match exactly, as QEMU spells them. */
Test(capabilities, feature_names_in_policy_are_case_sensitive)
{
    cr_assert_eq(compute_disabling("VMX-SHADOW-VMCS"), NVMX_ERR_UNKNOWN_FEATURE);
    cr_assert(log_has("VMX-SHADOW-VMCS"));
}

/* Policy: an unknown name is an error even when VMX is not exposed. */
Test(capabilities, unknown_feature_name_is_an_error_without_vmx)
{
    nvmx_vm_config config = config_default();
    const char *names[] = {"vmx-ept", "nonsense"};
    config.expose_vmx = false;
    config.disabled_features = names;
    config.disabled_feature_count = 2;
    cr_assert_eq(compute_with(&config), NVMX_ERR_UNKNOWN_FEATURE);
    cr_assert(log_has("nonsense"));
}

/* Policy: a NULL name, or a count without a list, is an invalid argument. */
Test(capabilities, null_feature_names_are_invalid)
{
    cr_assert_eq(compute_disabling(NULL), NVMX_ERR_INVALID_ARGUMENT);
    nvmx_vm_config config = config_default();
    config.disabled_feature_count = 1;
    cr_assert_eq(compute_with(&config), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_not(vm.vmx_exposed);
}

/* SDM A.3.3: hiding "activate secondary controls" hides every secondary control. */
Test(capabilities, disabling_secondary_controls_removes_procbased2)
{
    cr_assert_eq(compute_disabling("vmx-secondary-ctls"), NVMX_OK);
    cr_assert_eq(hi(vm.caps.procbased) & NVMX_CTL(SECONDARY_CONTROLS), 0);
    cr_assert_eq(hi(vm.caps.true_procbased) & NVMX_CTL(SECONDARY_CONTROLS), 0);
    cr_assert_eq(vm.caps.procbased2, 0);
    cr_assert_not(nvmx_vm_has_feature(&vm, NVMX_FEATURE_SHADOW_VMCS));
}

/* SDM A.1: without BASIC[55] the TRUE MSRs read as zero (they do not exist). */
Test(capabilities, disabling_true_ctls_zeroes_true_msrs)
{
    cr_assert_eq(compute_disabling("vmx-true-ctls"), NVMX_OK);
    cr_assert_eq(vm.caps.basic & NVMX_CTL(TRUE_CTLS), 0);
    cr_assert_eq(vm.caps.true_pinbased, 0);
    cr_assert_eq(vm.caps.true_procbased, 0);
    cr_assert_eq(vm.caps.true_exit, 0);
    cr_assert_eq(vm.caps.true_entry, 0);
    cr_assert_eq(vm.caps.procbased, computed_default().procbased);
}

/* SDM 24.6: with VMX not exposed there are no capabilities and no fields. */
Test(capabilities, vmx_not_exposed_gives_all_zero_caps)
{
    nvmx_vm_config config = config_default();
    config.expose_vmx = false;
    vm.vmx_exposed = true;
    memset(&vm.caps, 0xFF, sizeof(vm.caps));
    memset(vm.field_exists, 0xFF, sizeof(vm.field_exists));
    cr_assert_eq(compute_with(&config), NVMX_OK);
    cr_assert_not(vm.vmx_exposed);
    nvmx_vmx_caps zero = {0}, got;
    cr_assert_eq(memcmp(&vm.caps, &zero, sizeof(zero)), 0);
    nvmx_vm_get_caps(&vm, &got);
    cr_assert_eq(memcmp(&got, &zero, sizeof(zero)), 0);
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++)
        cr_assert_not(nvmx_vm_has_feature(&vm, (nvmx_feature)f));
    for (unsigned w = 0; w < VMCS12_FIELD_WORDS; w++)
        cr_assert_eq(vm.field_exists[w], 0);
}

/* SDM Vol. 3A 4.1.4: MAXPHYADDR is 32 to 52 for a VMX-capable 64-bit CPU. */
Test(capabilities, phys_addr_width_must_be_32_to_52)
{
    static const struct {
        uint8_t width;
        nvmx_status status;
    } cases[] = {{0, NVMX_ERR_INVALID_ARGUMENT},
                 {31, NVMX_ERR_INVALID_ARGUMENT},
                 {32, NVMX_OK},
                 {52, NVMX_OK},
                 {53, NVMX_ERR_INVALID_ARGUMENT},
                 {255, NVMX_ERR_INVALID_ARGUMENT}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nvmx_vm_config config = config_default();
        config.phys_addr_width = cases[i].width;
        cr_assert_eq(compute_with(&config), cases[i].status, "width %u", cases[i].width);
        cr_assert_eq(vm.vmx_exposed, cases[i].status == NVMX_OK);
    }
}

/* API: NULL VM or configuration is an invalid argument. */
Test(capabilities, null_vm_or_config_is_invalid)
{
    nvmx_vm_config config = config_default();
    cr_assert_eq(capabilities_compute(NULL, &config), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(capabilities_compute(&vm, NULL), NVMX_ERR_INVALID_ARGUMENT);
}

/* Appendix B: a field exists iff it needs no feature or its feature is exposed. */
Test(capabilities, field_exists_follows_exposed_features)
{
    cr_assert_eq(compute_with(&(nvmx_vm_config){.expose_vmx = true, .phys_addr_width = 46}),
                 NVMX_OK);
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        nvmx_feature f = (nvmx_feature)vmcs_field_table[i].feature;
        bool expected = f == NVMX_FEATURE_NONE || nvmx_vm_has_feature(&vm, f);
        cr_assert_eq(field_exists(vmcs_field_table[i].encoding), expected, "%s",
                     vmcs_field_table[i].name);
    }
}

/* SDM A.9: VMCS_ENUM reports the highest index among the fields that exist for L1. */
Test(capabilities, vmcs_enum_is_highest_index_of_existing_fields)
{
    const char *policies[] = {NULL, "vmx-shadow-vmcs"};
    for (size_t i = 0; i < 2; i++) {
        nvmx_vm_config config = config_default();
        config.disabled_features = &policies[i];
        config.disabled_feature_count = policies[i] ? 1 : 0;
        cr_assert_eq(compute_with(&config), NVMX_OK);
        cr_assert_eq(vm.caps.vmcs_enum, highest_index_of_existing_fields(vm.field_exists) << 1);
        cr_assert_eq(vm.caps.vmcs_enum & ~0x3FEull, 0, "only bits 9:1");
    }
}

/* API: nvmx_vm_get_caps copies the exposed set; has_feature refuses values outside the enum. */
Test(capabilities, get_caps_and_has_feature_report_the_exposed_set)
{
    cr_assert_eq(compute_with(&(nvmx_vm_config){.expose_vmx = true, .phys_addr_width = 46}),
                 NVMX_OK);
    nvmx_vmx_caps got;
    nvmx_vm_get_caps(&vm, &got);
    cr_assert_eq(memcmp(&got, &vm.caps, sizeof(got)), 0);
    cr_assert_not(nvmx_vm_has_feature(&vm, NVMX_FEATURE_COUNT));
    cr_assert_not(nvmx_vm_has_feature(&vm, (nvmx_feature)-1));
    cr_assert_not(nvmx_vm_has_feature(NULL, NVMX_FEATURE_SHADOW_VMCS));
    nvmx_vm_get_caps(NULL, &got);
    nvmx_vmx_caps zero = {0};
    cr_assert_eq(memcmp(&got, &zero, sizeof(zero)), 0);
}

/* SDM A.3-A.6: control registers give their allowed-1 half, the others their full value. */
Test(capabilities, register_of_a_feature_is_allowed1_for_controls)
{
    nvmx_vmx_caps caps = software_host_caps();
    cr_assert_eq(capabilities_register(&caps, NVMX_CAP_PROCBASED), hi(caps.procbased));
    cr_assert_eq(capabilities_register(&caps, NVMX_CAP_PROCBASED2), hi(caps.procbased2));
    cr_assert_eq(capabilities_register(&caps, NVMX_CAP_ENTRY), hi(caps.entry));
    cr_assert_eq(capabilities_register(&caps, NVMX_CAP_BASIC), caps.basic);
    cr_assert_eq(capabilities_register(&caps, NVMX_CAP_EPT_VPID), caps.ept_vpid_cap);
    cr_assert_eq(capabilities_register(&caps, NVMX_CAP_PROCBASED3), caps.procbased3);
    cr_assert_eq(capabilities_register(&caps, NVMX_CAP_REG_COUNT), 0);
    cr_assert((capabilities_register(&caps, NVMX_CAP_PROCBASED2) >> NVMX_FEATURE_BIT_EPT) & 1);
}

/* ---- feature names ------------------------------------------------------------------------ */

/* features.h: every feature's name looks up to itself. */
Test(feature_names, every_name_round_trips)
{
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++) {
        const char *name = nvmx_feature_name((nvmx_feature)f);
        cr_assert_not_null(name);
        cr_assert_eq(strncmp(name, "vmx-", 4), 0, "%s", name);
        nvmx_feature back;
        cr_assert_eq(nvmx_feature_from_name(name, &back), NVMX_OK);
        cr_assert_eq(back, f, "%s", name);
    }
}

/* features.h: names are unique, so a policy name means one feature. */
Test(feature_names, names_are_unique)
{
    for (unsigned a = 0; a < NVMX_FEATURE_COUNT; a++)
        for (unsigned b = a + 1; b < NVMX_FEATURE_COUNT; b++)
            cr_assert_str_neq(nvmx_feature_name(a), nvmx_feature_name(b));
}

/* features.h: lookup is an exact, case-sensitive match. */
Test(feature_names, lookup_is_exact_and_case_sensitive)
{
    const char *wrong[] = {"VMX-EPT", "vmx-ep", "vmx-eptx", "vmx-ept ", "", "ept"};
    nvmx_feature out = NVMX_FEATURE_NONE;
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
        cr_assert_eq(nvmx_feature_from_name(wrong[i], &out), NVMX_ERR_UNKNOWN_FEATURE, "'%s'",
                     wrong[i]);
    cr_assert_eq(out, NVMX_FEATURE_NONE, "out untouched on failure");
    cr_assert_eq(nvmx_feature_from_name("vmx-ept", &out), NVMX_OK);
    cr_assert_eq(out, NVMX_FEATURE_EPT);
}

/* API: values outside the enum have no name; NULL arguments are invalid. */
Test(feature_names, out_of_range_and_null_arguments)
{
    cr_assert_null(nvmx_feature_name(NVMX_FEATURE_COUNT));
    cr_assert_null(nvmx_feature_name((nvmx_feature)-1));
    nvmx_feature out;
    cr_assert_eq(nvmx_feature_from_name(NULL, &out), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_feature_from_name("vmx-ept", NULL), NVMX_ERR_INVALID_ARGUMENT);
}

/* ---- dependencies, with a library that implemented everything ------------------------------ */

/* host ∩ (everything) minus `disabled`, closed under the dependencies: what the library will
 * expose once every feature is implemented. */
static nvmx_vmx_caps full_library_exposes(const nvmx_vmx_caps *host_caps, const char *disabled)
{
    caps_model model, everything;
    caps_model_of(host_caps, &model);
    caps_software_host_model(&everything);
    caps_model_restrict(&model, &everything);
    if (disabled) {
        nvmx_feature f;
        cr_assert_eq(nvmx_feature_from_name(disabled, &f), NVMX_OK);
        feature_set_remove(&model.features, f);
    }
    caps_apply_dependencies(&model.features);
    nvmx_vmx_caps out;
    caps_model_build(&model, &out);
    return out;
}

static nvmx_vmx_caps full_exposes_disabling(const char *disabled)
{
    nvmx_vmx_caps h = software_host_caps();
    return full_library_exposes(&h, disabled);
}

/* The model round-trips the software host exactly: nothing is lost or invented. */
Test(dependencies, full_library_on_full_host_exposes_the_full_host)
{
    nvmx_vmx_caps h = software_host_caps();
    nvmx_vmx_caps got = full_library_exposes(&h, NULL);
    cr_assert_eq(memcmp(&got, &h, sizeof(h)), 0);
}

/* SDM 27.2.1.1, A.10: without EPT, the EPT capabilities and EPT-only controls go. */
Test(dependencies, disabling_ept_hides_what_needs_ept)
{
    nvmx_vmx_caps full = software_host_caps();
    nvmx_vmx_caps c = full_exposes_disabling("vmx-ept");
    const uint64_t needs_ept = NVMX_CTL(EPT) | NVMX_CTL(UNRESTRICTED_GUEST) | NVMX_CTL(PML) |
                               NVMX_CTL(EPT_VIOLATION_VE) | NVMX_CTL(MODE_BASED_EPT_EXEC) |
                               NVMX_CTL(SUBPAGE_WRITE) | NVMX_CTL(PT_USES_GPA);
    cr_assert_eq(hi(c.procbased2), hi(full.procbased2) & ~needs_ept, "only the EPT controls");
    cr_assert_eq(c.ept_vpid_cap & 0xFFFFFFFFull, 0, "A.10 bits 31:0 describe EPT");
    cr_assert_eq(c.ept_vpid_cap >> 32, full.ept_vpid_cap >> 32, "INVVPID stays");
    cr_assert_eq(c.vmfunc & NVMX_CTL(EPTP_SWITCHING), 0);
    cr_assert_eq(c.procbased3 &
                     (NVMX_CTL(HLAT) | NVMX_CTL(EPT_PAGING_WRITE) | NVMX_CTL(GUEST_PAGING_VERIFY)),
                 0);
    cr_assert(c.procbased3 & NVMX_CTL(LOADIWKEY_EXITING));
}

/* SDM A.10: without VPIDs, the INVVPID capabilities go. */
Test(dependencies, without_vpid_invvpid_bits_go)
{
    nvmx_vmx_caps full = software_host_caps();
    nvmx_vmx_caps c = full_exposes_disabling("vmx-vpid");
    cr_assert_eq(c.ept_vpid_cap >> 32, 0);
    cr_assert_eq(c.ept_vpid_cap & 0xFFFFFFFFull, full.ept_vpid_cap & 0xFFFFFFFFull);
}

/* SDM A.10: every EPT_VPID_CAP bit describes EPT or VPIDs: without both it is zero. */
Test(dependencies, without_ept_and_vpid_ept_vpid_cap_is_zero)
{
    nvmx_vmx_caps h = software_host_caps();
    h.procbased2 &= ~((NVMX_CTL(EPT) | NVMX_CTL(VPID)) << 32);
    nvmx_vmx_caps c = full_library_exposes(&h, NULL);
    cr_assert_eq(c.ept_vpid_cap, 0);
}

/* SDM A.10: the INVEPT and INVVPID types describe their instruction. */
Test(dependencies, invalidation_types_need_their_instruction)
{
    nvmx_vmx_caps c = full_exposes_disabling("vmx-invept");
    cr_assert_eq(c.ept_vpid_cap & (NVMX_CTL(INVEPT_SINGLE_CONTEXT) | NVMX_CTL(INVEPT_ALL_CONTEXT)),
                 0);
    c = full_exposes_disabling("vmx-invvpid");
    cr_assert_eq(c.ept_vpid_cap >> 32, 0);
}

/* SDM A.11: without "enable VM functions", IA32_VMX_VMFUNC is zero. */
Test(dependencies, without_enable_vmfunc_vmfunc_goes)
{
    nvmx_vmx_caps c = full_exposes_disabling("vmx-vmfunc");
    cr_assert_eq(c.vmfunc, 0);
}

/* SDM A.3.4: without "activate tertiary controls", PROCBASED_CTLS3 is zero. */
Test(dependencies, without_tertiary_controls_procbased3_goes)
{
    nvmx_vmx_caps c = full_exposes_disabling("vmx-activate-tertiary-controls");
    cr_assert_eq(c.procbased3, 0);
}

/* SDM A.4.2: without "activate secondary VM-exit controls", EXIT_CTLS2 is zero. */
Test(dependencies, without_secondary_exit_controls_exit2_goes)
{
    nvmx_vmx_caps h = software_host_caps();
    h.exit2 = ~0ull; /* a host with secondary exit controls the list does not know */
    nvmx_vmx_caps c = full_library_exposes(&h, "vmx-exit-secondary-ctls");
    cr_assert_eq(hi(c.exit) & NVMX_CTL(SECONDARY_EXIT_CONTROLS), 0);
    cr_assert_eq(c.exit2, 0);
}

/* SDM A.6, 26.7.1: without the preemption timer, its rate and "save timer" go. */
Test(dependencies, without_preemption_timer_rate_and_save_timer_go)
{
    nvmx_vmx_caps c = full_exposes_disabling("vmx-preemption-timer");
    cr_assert_eq(c.misc & 0x1F, 0);
    cr_assert_eq(hi(c.exit) & NVMX_CTL(EXIT_SAVE_PREEMPTION_TIMER), 0);
    cr_assert_eq(hi(c.true_exit) & NVMX_CTL(EXIT_SAVE_PREEMPTION_TIMER), 0);
    cr_assert_eq(c.misc & ~0x1Full, software_host_caps().misc & ~0x1Full);
}

/* SDM A.3.3: dependencies chain: no secondary controls -> no EPT -> no EPT capabilities. */
Test(dependencies, without_secondary_controls_everything_secondary_goes_transitively)
{
    nvmx_vmx_caps c = full_exposes_disabling("vmx-secondary-ctls");
    cr_assert_eq(c.procbased2, 0);
    cr_assert_eq(c.ept_vpid_cap, 0);
    cr_assert_eq(c.vmfunc, 0);
    cr_assert_eq(c.procbased3 & NVMX_CTL(HLAT), 0);
}

/* SDM A.2: hiding "vmx-cr3-load-noexit" makes CR3-load exiting must-be-1 in the TRUE MSR. */
Test(dependencies, disabling_a_default1_feature_makes_it_must_be_one_in_the_true_msr)
{
    nvmx_vmx_caps full = software_host_caps();
    nvmx_vmx_caps c = full_exposes_disabling("vmx-cr3-load-noexit");
    cr_assert_eq(lo(c.true_procbased), lo(full.true_procbased) | NVMX_CTL(CR3_LOAD_EXITING));
    cr_assert_eq(hi(c.true_procbased), hi(full.true_procbased), "still allowed-1");
    cr_assert_eq(c.procbased, full.procbased);
}

/* SDM A.2: without TRUE MSRs no default1 control can be cleared. */
Test(dependencies, without_true_ctls_no_default1_control_is_clearable)
{
    nvmx_vmx_caps c = full_exposes_disabling("vmx-true-ctls");
    cr_assert_not(caps_feature_present(&c, NVMX_FEATURE_CR3_LOAD_EXITING));
    cr_assert_not(caps_feature_present(&c, NVMX_FEATURE_EXIT_SAVE_DEBUG));
    cr_assert_eq(c.true_procbased | c.true_exit | c.true_entry | c.true_pinbased, 0);
}

/* SDM A.2: the feature set itself drops the default1 features without TRUE MSRs. */
Test(dependencies, without_true_ctls_default1_features_leave_the_set)
{
    feature_set set;
    feature_set_fill(&set);
    feature_set_remove(&set, NVMX_FEATURE_TRUE_CTLS);
    caps_apply_dependencies(&set);
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++)
        cr_assert_eq(feature_set_has(&set, f),
                     f != NVMX_FEATURE_TRUE_CTLS && !caps_feature_is_default1((nvmx_feature)f),
                     "%s", nvmx_feature_name(f));
    cr_assert(caps_feature_is_default1(NVMX_FEATURE_CR3_LOAD_EXITING));
    cr_assert(caps_feature_is_default1(NVMX_FEATURE_CR3_STORE_EXITING));
    cr_assert(caps_feature_is_default1(NVMX_FEATURE_EXIT_SAVE_DEBUG));
    cr_assert(caps_feature_is_default1(NVMX_FEATURE_ENTRY_LOAD_DEBUG));
}

/* SDM 27.2.1.1: posted interrupts need virtual-interrupt delivery, which needs TPR shadow. */
Test(dependencies, posted_interrupts_need_virtual_interrupt_delivery)
{
    nvmx_vmx_caps c = full_exposes_disabling("vmx-flexpriority");
    cr_assert_not(caps_feature_present(&c, NVMX_FEATURE_VIRTUAL_INTR_DELIVERY));
    cr_assert_not(caps_feature_present(&c, NVMX_FEATURE_POSTED_INTERRUPTS));
    cr_assert(caps_feature_present(&c, NVMX_FEATURE_VIRTUALIZE_APIC_ACCESSES));
}

/* Appendix A: a host whose capabilities break a dependency is repaired, not trusted. */
Test(dependencies, apply_to_an_inconsistent_host)
{
    nvmx_vmx_caps h = software_host_caps();
    h.procbased2 &= ~(NVMX_CTL(EPT) << 32); /* EPT capabilities without EPT */
    nvmx_vmx_caps c = full_library_exposes(&h, NULL);
    cr_assert_eq(c.ept_vpid_cap & 0xFFFFFFFFull, 0);
    cr_assert_eq(hi(c.procbased2) & NVMX_CTL(UNRESTRICTED_GUEST), 0);
}

/* The dependency check names the first broken rule. */
Test(dependencies, broken_dependency_is_named)
{
    feature_set set = {{0}};
    feature_set_add(&set, NVMX_FEATURE_SHADOW_VMCS);
    nvmx_feature feature, needs;
    cr_assert(caps_dependency_broken(&set, &feature, &needs));
    cr_assert_eq(feature, NVMX_FEATURE_SHADOW_VMCS);
    cr_assert_eq(needs, NVMX_FEATURE_SECONDARY_CONTROLS);
    feature_set_add(&set, NVMX_FEATURE_SECONDARY_CONTROLS);
    cr_assert_not(caps_dependency_broken(&set, &feature, &needs));
}

/* ---- pinned capabilities ------------------------------------------------------------------- */

static nvmx_status compute_pinned(const nvmx_vmx_caps *pinned, const nvmx_vmx_caps *host_caps)
{
    nvmx_vm_config config = config_default();
    config.pinned_caps = pinned;
    config.host_caps = host_caps;
    return compute_with(&config);
}

static void assert_rejected(const nvmx_vmx_caps *pinned, const char *msr, const char *detail)
{
    cr_assert_eq(compute_pinned(pinned, NULL), NVMX_ERR_INCOMPATIBLE_CAPS);
    cr_assert(log_has(msr), "log: %s", host.last_log);
    if (detail)
        cr_assert(log_has(detail), "log: %s", host.last_log);
    cr_assert_not(vm.vmx_exposed);
}

/* Migration: a consistent set within host ∩ implemented is exposed exactly. */
Test(pinned_caps, computed_caps_are_used_exactly)
{
    nvmx_vmx_caps pinned = computed_default();
    cr_assert_eq(compute_pinned(&pinned, NULL), NVMX_OK);
    cr_assert(vm.vmx_exposed);
    cr_assert_eq(memcmp(&vm.caps, &pinned, sizeof(pinned)), 0);
}

/* Migration: a smaller set (from a host without shadowing) is exposed exactly, fields too. */
Test(pinned_caps, subset_is_used_exactly)
{
    cr_assert_eq(compute_disabling("vmx-shadow-vmcs"), NVMX_OK);
    nvmx_vmx_caps pinned = vm.caps;
    cr_assert_eq(compute_pinned(&pinned, NULL), NVMX_OK);
    cr_assert_eq(memcmp(&vm.caps, &pinned, sizeof(pinned)), 0);
    cr_assert_not(field_exists(NVMX_FIELD_VMREAD_BITMAP));
}

/* vm.h: with pinned caps the policy is not applied. */
Test(pinned_caps, policy_is_not_applied)
{
    nvmx_vmx_caps pinned = computed_default();
    nvmx_vm_config config = config_default();
    const char *names[] = {"vmx-shadow-vmcs"};
    config.pinned_caps = &pinned;
    config.disabled_features = names;
    config.disabled_feature_count = 1;
    cr_assert_eq(compute_with(&config), NVMX_OK);
    cr_assert(nvmx_vm_has_feature(&vm, NVMX_FEATURE_SHADOW_VMCS));
}

/* SDM A.3: must-be-1 but not allowed-1 is no processor's report. */
Test(pinned_caps, allowed0_outside_allowed1_is_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.procbased2 |= NVMX_CTL(SHADOW_VMCS) | NVMX_CTL(PML);
    assert_rejected(&pinned, "IA32_VMX_PROCBASED_CTLS2", NULL);
}

/* Appendix A: a feature the host lacks is refused, naming MSR and feature. */
Test(pinned_caps, feature_beyond_host_is_rejected_naming_it)
{
    nvmx_vmx_caps pinned = computed_default();
    nvmx_vmx_caps h = software_host_caps();
    h.procbased2 &= ~(NVMX_CTL(SHADOW_VMCS) << 32);
    cr_assert_eq(compute_pinned(&pinned, &h), NVMX_ERR_INCOMPATIBLE_CAPS);
    cr_assert(log_has("IA32_VMX_PROCBASED_CTLS2"), "log: %s", host.last_log);
    cr_assert(log_has("vmx-shadow-vmcs"), "log: %s", host.last_log);
}

/* Appendix A: a feature the library does not implement is refused, naming it. */
Test(pinned_caps, feature_beyond_implemented_is_rejected_naming_it)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.procbased2 |= (NVMX_CTL(PML) | NVMX_CTL(XSAVES)) << 32;
    assert_rejected(&pinned, "IA32_VMX_PROCBASED_CTLS2", "vmx-pml vmx-xsaves");
}

/* Appendix A: unknown bits are refused too, as bits. */
Test(pinned_caps, unknown_bits_are_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.procbased2 |= (1ull << 21) << 32;
    assert_rejected(&pinned, "IA32_VMX_PROCBASED_CTLS2", "bits 0x200000");
    pinned = computed_default();
    pinned.exit2 = 1;
    assert_rejected(&pinned, "IA32_VMX_EXIT_CTLS2", NULL);
    pinned = computed_default();
    pinned.basic |= 1ull << 56;
    assert_rejected(&pinned, "IA32_VMX_BASIC", NULL);
}

/* SDM A.1: the VMCS revision and region size are the library's own. */
Test(pinned_caps, other_revision_or_region_size_is_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.basic ^= 1;
    assert_rejected(&pinned, "IA32_VMX_BASIC", NULL);
    pinned = computed_default();
    pinned.basic = (pinned.basic & ~NVMX_BASIC_REGION_SIZE_MASK) | (8192ull << 32);
    assert_rejected(&pinned, "IA32_VMX_BASIC", NULL);
}

/* SDM A.1: 32-bit addresses (bit 48) and dual-monitor (bit 49) are never accepted. */
Test(pinned_caps, basic_bits_48_and_49_are_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.basic |= NVMX_BASIC_32BIT_ADDRESSES;
    assert_rejected(&pinned, "IA32_VMX_BASIC", NULL);
    pinned = computed_default();
    pinned.basic |= NVMX_BASIC_DUAL_MONITOR;
    assert_rejected(&pinned, "IA32_VMX_BASIC", NULL);
}

/* SDM A.2: a TRUE MSR has the allowed-1 settings of its non-TRUE MSR. */
Test(pinned_caps, true_allowed1_different_from_non_true_is_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.true_procbased &= ~(NVMX_CTL(SECONDARY_CONTROLS) << 32);
    assert_rejected(&pinned, "IA32_VMX_TRUE_PROCBASED_CTLS", NULL);
}

/* SDM A.2: TRUE and non-TRUE allowed-0 differ only in default1 bits. */
Test(pinned_caps, true_allowed0_different_outside_default1_is_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.procbased |= NVMX_CTL(SECONDARY_CONTROLS); /* must-be-1 only in the non-TRUE MSR */
    assert_rejected(&pinned, "IA32_VMX_TRUE_PROCBASED_CTLS", NULL);
}

/* SDM A.1: without BASIC[55] there are no TRUE MSRs, so they must be zero. */
Test(pinned_caps, true_msrs_without_true_ctls_are_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.basic &= ~NVMX_CTL(TRUE_CTLS);
    assert_rejected(&pinned, "IA32_VMX_TRUE_PINBASED_CTLS", "vmx-true-ctls");
    pinned.true_pinbased = pinned.true_procbased = pinned.true_exit = pinned.true_entry = 0;
    cr_assert_eq(compute_pinned(&pinned, NULL), NVMX_OK);
}

/* SDM A.2: the non-TRUE MSRs report every default1 control as must-be-1. */
Test(pinned_caps, default1_control_reported_allowed0_is_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.exit &= ~1ull;
    pinned.true_exit &= ~1ull;
    assert_rejected(&pinned, "IA32_VMX_EXIT_CTLS", "default1");
}

/* SDM A.2: letting L1 clear a default1 control the library cannot is refused by name. */
Test(pinned_caps, clearable_default1_control_beyond_ceiling_is_rejected)
{
    /* A host that cannot clear CR3-load exiting: L1 may not be promised it can. */
    nvmx_vmx_caps host_caps = software_host_caps();
    host_caps.true_procbased |= NVMX_CTL(CR3_LOAD_EXITING);
    nvmx_vmx_caps pinned = computed_default();
    cr_assert_eq(pinned.true_procbased & NVMX_CTL(CR3_LOAD_EXITING), 0);
    cr_assert_eq(compute_pinned(&pinned, &host_caps), NVMX_ERR_INCOMPATIBLE_CAPS);
    cr_assert(log_has("IA32_VMX_TRUE_PROCBASED_CTLS"), "log: %s", host.last_log);
    cr_assert(log_has("vmx-cr3-load-noexit"), "log: %s", host.last_log);
}

/* SDM A.3: extra must-be-1 controls (allowed-1 too) are a valid, stricter report. */
Test(pinned_caps, extra_must_be_one_control_is_accepted)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.procbased |= NVMX_CTL(SECONDARY_CONTROLS);
    pinned.true_procbased |= NVMX_CTL(SECONDARY_CONTROLS);
    cr_assert_eq(compute_pinned(&pinned, NULL), NVMX_OK);
    cr_assert_eq(vm.caps.procbased, pinned.procbased);
}

/* SDM A.3.3: secondary controls without "activate secondary controls" break a dependency. */
Test(pinned_caps, broken_dependency_is_rejected_naming_both)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.procbased &= ~(NVMX_CTL(SECONDARY_CONTROLS) << 32);
    pinned.true_procbased &= ~(NVMX_CTL(SECONDARY_CONTROLS) << 32);
    pinned.procbased2 = NVMX_CTL(SHADOW_VMCS) << 32; /* only shadowing left to depend on it */
    assert_rejected(&pinned, "vmx-shadow-vmcs", "vmx-secondary-ctls");
}

/* SDM A.7: a bit fixed to 1 in FIXED0 must not be fixed to 0 in FIXED1. */
Test(pinned_caps, cr_fixed0_outside_fixed1_is_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.cr0_fixed1 &= ~NVMX_CR0_NE;
    assert_rejected(&pinned, "IA32_VMX_CR0_FIXED0", NULL);
}

/* SDM 24.8, A.8: CR4.VMXE is always fixed to 1 in VMX operation. */
Test(pinned_caps, cr4_fixed0_without_vmxe_is_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.cr4_fixed0 &= ~NVMX_CR4_VMXE;
    assert_rejected(&pinned, "IA32_VMX_CR4_FIXED0", NULL);
}

/* SDM A.7/A.8: pinned fixed bits may not be looser than the host's. */
Test(pinned_caps, cr_fixed_looser_than_host_is_rejected)
{
    nvmx_vmx_caps h = software_host_caps();
    h.cr4_fixed0 |= NVMX_CR4_PAE;
    nvmx_vmx_caps pinned = computed_default();
    cr_assert_eq(compute_pinned(&pinned, &h), NVMX_ERR_INCOMPATIBLE_CAPS);
    cr_assert(log_has("IA32_VMX_CR4_FIXED0"), "log: %s", host.last_log);
    pinned.cr0_fixed1 |= 1ull << 32;
    assert_rejected(&pinned, "IA32_VMX_CR0_FIXED1", NULL);
}

/* SDM A.7/A.8: pinned fixed bits stricter than the host's are a valid report. */
Test(pinned_caps, cr_fixed_stricter_than_host_is_accepted)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.cr4_fixed0 |= NVMX_CR4_PAE;
    pinned.cr0_fixed1 &= ~(1ull << 30);
    cr_assert_eq(compute_pinned(&pinned, NULL), NVMX_OK);
    cr_assert_eq(vm.caps.cr4_fixed0, pinned.cr4_fixed0);
}

/* SDM A.6: more CR3-target values than host ∩ implemented is refused. */
Test(pinned_caps, misc_cr3_targets_beyond_ceiling_is_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.misc = (pinned.misc & ~(0x1FFull << 16)) | (5ull << 16); /* the library has 4 */
    assert_rejected(&pinned, "IA32_VMX_MISC", "CR3-target");
}

/* SDM A.6: a timer rate without the preemption timer is refused. */
Test(pinned_caps, misc_timer_rate_without_timer_is_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    const uint64_t timer = NVMX_CTL(PREEMPTION_TIMER) << 32;
    const uint64_t save = NVMX_CTL(EXIT_SAVE_PREEMPTION_TIMER) << 32;
    pinned.pinbased &= ~timer;
    pinned.true_pinbased &= ~timer;
    pinned.exit &= ~save;
    pinned.true_exit &= ~save;
    pinned.misc |= 5;
    assert_rejected(&pinned, "IA32_VMX_MISC", "rate");
}

/* SDM A.6: a MISC feature beyond host ∩ implemented is refused by name. */
Test(pinned_caps, misc_feature_beyond_ceiling_is_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.misc |= NVMX_CTL(PT_IN_VMX);
    assert_rejected(&pinned, "IA32_VMX_MISC", "vmx-pt-in-vmx");
}

/* SDM A.9: VMCS_ENUM must match the fields the pinned set makes exist. */
Test(pinned_caps, vmcs_enum_mismatch_is_rejected)
{
    nvmx_vmx_caps pinned = computed_default();
    pinned.vmcs_enum += 2;
    assert_rejected(&pinned, "IA32_VMX_VMCS_ENUM", NULL);
}

/* vm.h: pinned caps do not matter when VMX is not exposed. */
Test(pinned_caps, ignored_when_vmx_not_exposed)
{
    nvmx_vmx_caps pinned;
    memset(&pinned, 0xFF, sizeof(pinned));
    nvmx_vm_config config = config_default();
    config.expose_vmx = false;
    config.pinned_caps = &pinned;
    cr_assert_eq(compute_with(&config), NVMX_OK);
    cr_assert_not(vm.vmx_exposed);
}

/* The preemption timer is emulated from the tsc_read op (SDM 26.7.1): without it the timer
 * and saving its value are not exposed, nor is a rate (A.6). */
Test(capabilities, no_preemption_timer_without_tsc_read)
{
    vm.ops.tsc_read = NULL;
    cr_assert_eq(compute_with(&(nvmx_vm_config){.expose_vmx = true, .phys_addr_width = 46}),
                 NVMX_OK);
    cr_assert_not(nvmx_vm_has_feature(&vm, NVMX_FEATURE_PREEMPTION_TIMER));
    cr_assert_not(nvmx_vm_has_feature(&vm, NVMX_FEATURE_EXIT_SAVE_PREEMPTION_TIMER));
    cr_assert_eq(vm.caps.misc & 0x1F, 0);
}

/* EPT for L2 is built from the EPT01, page and TLB ops (lib/ept/ept02.c): without any one of
 * them neither EPT nor any EPT capability of IA32_VMX_EPT_VPID_CAP is exposed (A.10). */
static void assert_no_ept_without(void (*drop)(nvmx_host_ops *ops))
{
    drop(&vm.ops);
    cr_assert_eq(compute_with(&(nvmx_vm_config){.expose_vmx = true, .phys_addr_width = 46}),
                 NVMX_OK);
    cr_assert_not(nvmx_vm_has_feature(&vm, NVMX_FEATURE_EPT));
    cr_assert_eq(vm.caps.ept_vpid_cap & 0xFFFFFFFFull, 0, "no EPT capability bit without EPT");
    cr_assert_eq((vm.caps.procbased2 >> 32) & NVMX_CTL(EPT), 0);
}
static void drop_ept01_lookup(nvmx_host_ops *ops)
{
    ops->ept01_lookup = NULL;
}
static void drop_page_alloc(nvmx_host_ops *ops)
{
    ops->page_alloc = NULL;
}
static void drop_page_free(nvmx_host_ops *ops)
{
    ops->page_free = NULL;
}
static void drop_tlb_flush(nvmx_host_ops *ops)
{
    ops->tlb_flush = NULL;
}
Test(capabilities, no_ept_without_ept01_lookup)
{
    assert_no_ept_without(drop_ept01_lookup);
}
Test(capabilities, no_ept_without_page_alloc)
{
    assert_no_ept_without(drop_page_alloc);
}
Test(capabilities, no_ept_without_page_free)
{
    assert_no_ept_without(drop_page_free);
}
Test(capabilities, no_ept_without_tlb_flush)
{
    assert_no_ept_without(drop_tlb_flush);
}

/* SDM 29.3.4: the walker sets EPT A/D flags only by compare-exchange; without l1_cmpxchg64
 * EPT stays, EPT_VPID_CAP[21] goes. */
Test(capabilities, no_ept_accessed_dirty_without_cmpxchg)
{
    vm.ops.l1_cmpxchg64 = NULL;
    cr_assert_eq(compute_with(&(nvmx_vm_config){.expose_vmx = true, .phys_addr_width = 46}),
                 NVMX_OK);
    cr_assert(nvmx_vm_has_feature(&vm, NVMX_FEATURE_EPT));
    cr_assert_not(nvmx_vm_has_feature(&vm, NVMX_FEATURE_EPT_AD));
    cr_assert_eq((vm.caps.ept_vpid_cap >> 21) & 1, 0);
}

/* A.10: exactly the EPT capabilities the walker and EPT02 implement: execute-only (bit 0),
 * 4-level (6), UC (8), WB (14), 2 MiB (16), 1 GiB (17), A/D (21); not 5-level (7), advanced
 * exit information (22), shadow-stack control (23); no mode-based execute control. */
Test(capabilities, ept_paging_capabilities_exact)
{
    cr_assert_eq(compute_with(&(nvmx_vm_config){.expose_vmx = true, .phys_addr_width = 46}),
                 NVMX_OK);
    uint64_t ept_bits = (1ull << 0) | (1ull << 6) | (1ull << 8) | (1ull << 14) | (1ull << 16) |
                        (1ull << 17) | (1ull << 21);
    /* bit 20 (INVEPT) is the INVEPT emulation's, not this rule's */
    cr_assert_eq(vm.caps.ept_vpid_cap & 0x00FFFFFFull & ~(1ull << 20), ept_bits, "%llx",
                 (unsigned long long)vm.caps.ept_vpid_cap);
    cr_assert_eq((vm.caps.procbased2 >> 32) & NVMX_CTL(MODE_BASED_EPT_EXEC), 0);
}
