/* SPDX-License-Identifier: MIT */
/* Building vmcs02 from vmcs12 and L0's needs (lib/vmcs/vmcs02.c). */
#include <criterion/criterion.h>

#include "vmcs/vmcs02.h"
#include "vmx_harness.h"

static harness h;
static nvmx_vm_config config;

static void start(void)
{
    harness_init(&h, &config);
    harness_vmxon_vmptrld(&h);
}
static void setup(void)
{
    nvmx_vm_config_init(&config);
    start();
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(vmcs02, .init = setup, .fini = teardown);

static void set12(unsigned ordinal, uint64_t value)
{
    const vmcs_field_info *f = &vmcs_field_table[ordinal];
    vmcs12_write(&h.vcpu->current->data, f, f->encoding, value);
}
static uint64_t get02(unsigned ordinal)
{
    return h.host.vmcs[NVMX_HW_VMCS02][ordinal];
}
static void restart_with_l0(const nvmx_l0_controls *l0)
{
    harness_fini(&h);
    config.l0 = *l0;
    start();
}

/* Guest state vmcs02 takes from L1 instead when L1's entry does not load it (see below). */
static bool inherited(unsigned ordinal)
{
    return ordinal == VMCS12_ORD_GUEST_IA32_EFER || ordinal == VMCS12_ORD_GUEST_IA32_PAT ||
           ordinal == VMCS12_ORD_GUEST_DR7 || ordinal == VMCS12_ORD_GUEST_IA32_DEBUGCTL;
}

/* SDM 27.3.2: the guest state L2 starts with is the one L1 put in vmcs12. */
Test(vmcs02, guest_state_is_copied_from_vmcs12)
{
    set12(VMCS12_ORD_VM_ENTRY_CONTROLS,
          NVMX_ENTRY_DEFAULT1 | NVMX_CTL(ENTRY_LOAD_EFER) | NVMX_CTL(ENTRY_LOAD_PAT));
    unsigned copied = 0;
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        if (NVMX_FIELD_TYPE(vmcs_field_table[i].encoding) != NVMX_FIELD_TYPE_GUEST ||
            i == VMCS12_ORD_VMCS_LINK_POINTER || !((h.vm->field_exists[i / 64] >> (i % 64)) & 1))
            continue;
        set12(i, 0x1000 + i);
        copied++;
    }
    cr_assert_eq(vmcs02_build(h.vcpu, NULL), NVMX_OK);
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        /* The timer value is derived from L1's deadline (test_round_trip.c). */
        if (NVMX_FIELD_TYPE(vmcs_field_table[i].encoding) == NVMX_FIELD_TYPE_GUEST &&
            i != VMCS12_ORD_VMCS_LINK_POINTER && i != VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE &&
            ((h.vm->field_exists[i / 64] >> (i % 64)) & 1) &&
            (!inherited(i) || i == VMCS12_ORD_GUEST_IA32_EFER || i == VMCS12_ORD_GUEST_IA32_PAT))
            cr_assert_eq(get02(i),
                         (0x1000 + i) & vmcs_field_width_mask(vmcs_field_table[i].encoding), "%s",
                         vmcs_field_table[i].name);
    }
    cr_assert_gt(copied, 40);
}

/* SDM 25.10: vmcs02's link pointer is L0's (all ones): L1's shadow VMCS is emulated for L2. */
Test(vmcs02, link_pointer_is_not_l1s)
{
    set12(VMCS12_ORD_VMCS_LINK_POINTER, SHADOW_VMCS);
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_VMCS_LINK_POINTER), ~0ull);
}

/* Host state of vmcs02 is L0's own: the library never writes a host-state field. */
Test(vmcs02, host_state_is_never_written)
{
    set12(VMCS12_ORD_HOST_RIP, 0xBAD);
    set12(VMCS12_ORD_HOST_CR3, 0xBAD000);
    vmcs02_build(h.vcpu, NULL);
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        if (NVMX_FIELD_TYPE(vmcs_field_table[i].encoding) == NVMX_FIELD_TYPE_HOST)
            cr_assert_eq(get02(i), 0, "%s written", vmcs_field_table[i].name);
    }
}

/* Execution controls are L1's | L0's, so every exit either wants reaches L0. */
Test(vmcs02, execution_controls_are_l1_or_l0)
{
    nvmx_l0_controls l0 = {.pin = NVMX_CTL(EXT_INTR_EXITING), .proc = NVMX_CTL(HLT_EXITING)};
    restart_with_l0(&l0);
    /* Posted interrupts are not exposed to this L1: they never reach vmcs02 from vmcs12. */
    cr_assert_not(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_POSTED_INTERRUPTS));
    set12(VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL,
          NVMX_PINBASED_DEFAULT1 | NVMX_CTL(POSTED_INTERRUPTS));
    set12(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL, NVMX_PROCBASED_DEFAULT1 | NVMX_CTL(RDTSC_EXITING));
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL),
                 NVMX_PINBASED_DEFAULT1 | NVMX_CTL(EXT_INTR_EXITING));
    uint64_t proc = get02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL);
    cr_assert(proc & NVMX_CTL(RDTSC_EXITING));
    cr_assert(proc & NVMX_CTL(HLT_EXITING));
}

/* I/O accesses of L2 always exit to L0, and MSR accesses too when L0 has no MSR policy for L2;
 * L0 applies L1's bitmaps (SDM 25.6.4, 25.6.9). The merged MSR bitmap: test_msr_bitmap02.c. */
Test(vmcs02, io_and_msr_accesses_always_exit_to_l0)
{
    set12(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL,
          NVMX_PROCBASED_DEFAULT1 | NVMX_CTL(IO_BITMAPS) | NVMX_CTL(MSR_BITMAPS));
    vmcs02_build(h.vcpu, NULL);
    uint64_t proc = get02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL);
    cr_assert_eq(proc & (NVMX_CTL(IO_BITMAPS) | NVMX_CTL(MSR_BITMAPS)), 0);
    cr_assert(proc & NVMX_CTL(UNCOND_IO_EXITING));
}

/* L1's "VMCS shadowing" is emulated, never handed to the CPU; with no other secondary control
 * the secondary controls are not activated in vmcs02 (SDM 25.6.2). */
Test(vmcs02, vmcs_shadowing_is_emulated_not_passed_through)
{
    set12(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL,
          NVMX_PROCBASED_DEFAULT1 | NVMX_CTL(SECONDARY_CONTROLS));
    set12(VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL, NVMX_CTL(SHADOW_VMCS));
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(SECONDARY_CONTROLS), 0);
    cr_assert_eq(get02(VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL) & NVMX_CTL(SHADOW_VMCS), 0);
}

/* SDM 25.6.2: secondary controls L1 set without activating them do not act. */
Test(vmcs02, inactive_secondary_controls_are_ignored)
{
    nvmx_l0_controls l0 = {.proc2 = NVMX_CTL(EPT)};
    restart_with_l0(&l0);
    set12(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL, NVMX_PROCBASED_DEFAULT1);
    set12(VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL, NVMX_CTL(RDRAND_EXITING));
    vmcs02_build(h.vcpu, NULL);
    cr_assert(get02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(SECONDARY_CONTROLS));
    cr_assert_eq(get02(VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL), NVMX_CTL(EPT));
}

/* SDM 26.2: when L0 wants every #PF, vmcs02 takes all (bit 14, mask = match = 0). */
Test(vmcs02, page_faults_all_exit_when_l0_wants_them)
{
    nvmx_l0_controls l0 = {.exception_bitmap = 1u << NVMX_VECTOR_PF};
    restart_with_l0(&l0);
    set12(VMCS12_ORD_EXCEPTION_BITMAP, 1u << NVMX_VECTOR_UD);
    set12(VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MASK, 1);
    set12(VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MATCH, 1);
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_EXCEPTION_BITMAP),
                 (1u << NVMX_VECTOR_PF) | (1u << NVMX_VECTOR_UD));
    cr_assert_eq(get02(VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MASK), 0);
    cr_assert_eq(get02(VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MATCH), 0);
}

/* SDM 26.2: when L0 does not care about #PF, L1's bitmap bit and mask/match act unchanged. */
Test(vmcs02, page_fault_filter_is_l1s_when_l0_does_not_care)
{
    set12(VMCS12_ORD_EXCEPTION_BITMAP, 1u << NVMX_VECTOR_PF);
    set12(VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MASK, 2);
    set12(VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MATCH, 2);
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_EXCEPTION_BITMAP), 1u << NVMX_VECTOR_PF);
    cr_assert_eq(get02(VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MASK), 2);
    cr_assert_eq(get02(VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MATCH), 2);
}

/* SDM 25.6.6: masks OR'ed; L2 reads L1's shadow for L1's bits and L1's guest CR0 for bits
 * only L0 owns. */
Test(vmcs02, cr0_read_shadow_merges_owners)
{
    nvmx_l0_controls l0 = {.cr0_guest_host_mask = NVMX_CR0_NE};
    restart_with_l0(&l0);
    set12(VMCS12_ORD_CR0_GUEST_HOST_MASK, NVMX_CR0_PG);
    set12(VMCS12_ORD_CR0_READ_SHADOW, 0);
    set12(VMCS12_ORD_GUEST_CR0, NVMX_CR0_PG | NVMX_CR0_NE | NVMX_CR0_PE);
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_CR0_GUEST_HOST_MASK), NVMX_CR0_PG | NVMX_CR0_NE);
    cr_assert_eq(get02(VMCS12_ORD_CR0_READ_SHADOW), NVMX_CR0_NE | NVMX_CR0_PE);
}

/* SDM 26.1.3: CR3 targets are L1's, unless L0 takes every CR3 load itself. */
Test(vmcs02, cr3_targets_are_dropped_when_l0_wants_cr3_loads)
{
    set12(VMCS12_ORD_CR3_TARGET_COUNT, 2);
    set12(VMCS12_ORD_CR3_TARGET_VALUE1, 0x5000);
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_CR3_TARGET_COUNT), 2);
    cr_assert_eq(get02(VMCS12_ORD_CR3_TARGET_VALUE1), 0x5000);
    nvmx_l0_controls l0 = {.proc = NVMX_CTL(CR3_LOAD_EXITING)};
    restart_with_l0(&l0);
    set12(VMCS12_ORD_CR3_TARGET_COUNT, 2);
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_CR3_TARGET_COUNT), 0);
}

/* SDM 25.6.5: L2's TSC offset is vmcs01's plus vmcs12's when L1 uses TSC offsetting. */
Test(vmcs02, tsc_offset_is_composed)
{
    h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_TSC_OFFSET] = 1000;
    set12(VMCS12_ORD_TSC_OFFSET, 234);
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_TSC_OFFSET), 1000, "offsetting off: L1's own offset");
    set12(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL, NVMX_PROCBASED_DEFAULT1 | NVMX_CTL(TSC_OFFSETTING));
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_TSC_OFFSET), 1234);
}

/* SDM 25.6.5: L2's TSC is L1's, whose offset is vmcs01's: when L0 changes it (L1 wrote its
 * TSC), the next entry uses it even though L1 changed nothing in vmcs12. */
Test(vmcs02, tsc_offset_follows_vmcs01_between_entries)
{
    set12(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL, NVMX_PROCBASED_DEFAULT1 | NVMX_CTL(TSC_OFFSETTING));
    set12(VMCS12_ORD_TSC_OFFSET, 234);
    vmcs02_build(h.vcpu, NULL);
    h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_TSC_OFFSET] = 5000;
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_TSC_OFFSET), 5234);
}

/* Exit controls are L0's (its host state), plus saving the debug controls, PAT and EFER so
 * L2's are known. */
Test(vmcs02, exit_controls_are_l0s_and_save_guest_pat_efer)
{
    set12(VMCS12_ORD_VM_EXIT_CONTROLS, NVMX_EXIT_DEFAULT1 | NVMX_CTL(EXIT_LOAD_EFER));
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_VM_EXIT_CONTROLS),
                 NVMX_CTL(EXIT_SAVE_DEBUG) | NVMX_CTL(EXIT_SAVE_PAT) | NVMX_CTL(EXIT_SAVE_EFER));
}

/* Entry controls are L1's, never entry to SMM or dual-monitor deactivation. */
Test(vmcs02, entry_controls_are_l1s_without_smm)
{
    uint64_t entry = NVMX_ENTRY_DEFAULT1 | NVMX_CTL(ENTRY_IA32E_MODE) | NVMX_CTL(ENTRY_SMM);
    set12(VMCS12_ORD_VM_ENTRY_CONTROLS, entry);
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_VM_ENTRY_CONTROLS),
                 (entry & ~NVMX_CTL(ENTRY_SMM)) | NVMX_CTL(ENTRY_LOAD_EFER) |
                     NVMX_CTL(ENTRY_LOAD_PAT) | NVMX_CTL(ENTRY_LOAD_DEBUG));
}

/* A resume rewrites only what L1 changed since the last entry (plus the per-entry event fields). */
Test(vmcs02, resume_writes_only_dirty_fields)
{
    vmcs02_build(h.vcpu, NULL);
    long full = h.host.vmcs_writes[NVMX_HW_VMCS02];
    set12(VMCS12_ORD_GUEST_RIP, 0x7777);
    vmcs02_build(h.vcpu, NULL);
    long incremental = h.host.vmcs_writes[NVMX_HW_VMCS02] - full;
    cr_assert_eq(
        incremental, 1 + 4 + 3,
        "GUEST_RIP, the four fields L2 inherits from L1, the three event-injection fields");
    cr_assert_eq(get02(VMCS12_ORD_GUEST_RIP), 0x7777);
    cr_assert_gt(full, 60);
}

/* A different vmcs12 (VMPTRLD) means a full rebuild. */
Test(vmcs02, other_vmcs12_forces_full_build)
{
    vmcs02_build(h.vcpu, NULL);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B);
    long before = h.host.vmcs_writes[NVMX_HW_VMCS02];
    vmcs02_build(h.vcpu, NULL);
    cr_assert_gt(h.host.vmcs_writes[NVMX_HW_VMCS02] - before, 60);
}

/* The PDPTEs the entry checks read for a PAE L2 without EPT go to vmcs02 (SDM 27.3.2.4). */
Test(vmcs02, pdptes_are_written_when_given)
{
    uint64_t pdpte[4] = {0x1001, 0x2001, 0x3001, 0x4001};
    vmcs02_build(h.vcpu, pdpte);
    for (unsigned i = 0; i < 4; i++)
        cr_assert_eq(get02(VMCS12_ORD_GUEST_PDPTR0 + i), pdpte[i]);
}

static uint64_t next_random(uint64_t *state)
{
    /* xorshift64: a fixed seed makes every run check the same vmcs12s. */
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* What vmcs02 may contain: the exposed allowed-1 settings, L0's needs, and what the library
 * itself sets (unconditional I/O exiting, activating secondary controls, saving PAT/EFER). */
static void assert_controls_within(uint32_t value, uint64_t capability, uint32_t l0,
                                   uint32_t library, const char *what)
{
    uint32_t allowed = (uint32_t)(capability >> 32) | l0 | library;
    cr_assert_eq(value & ~allowed, 0, "%s has bits %#x outside L0 | allowed-1", what,
                 value & ~allowed);
}

/* Every control bit of vmcs02 lies in L0's required | the exposed allowed-1 settings, for
 * random vmcs12 contents (the build itself, without the entry checks in front of it); "use
 * MSR bitmaps" only with an L0 MSR policy and L1's own bit. */
static void check_controls_for_random_vmcs12(const void *l0_msr_bitmap)
{
    nvmx_l0_controls l0 = {.pin = NVMX_CTL(EXT_INTR_EXITING),
                           .proc = NVMX_CTL(HLT_EXITING),
                           .proc2 = NVMX_CTL(EPT),
                           .exit = NVMX_CTL(EXIT_HOST_ADDR_SPACE),
                           .msr_bitmap = l0_msr_bitmap};
    restart_with_l0(&l0);
    const nvmx_vmx_caps *caps = &h.vm->caps;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int round = 0; round < 4000; round++) {
        for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++)
            if (NVMX_FIELD_TYPE(vmcs_field_table[i].encoding) == NVMX_FIELD_TYPE_CONTROL)
                set12(i, next_random(&seed));
        cr_assert_eq(vmcs02_build(h.vcpu, NULL), NVMX_OK);
        uint32_t proc_library = NVMX_CTL(UNCOND_IO_EXITING) | NVMX_CTL(SECONDARY_CONTROLS);
        assert_controls_within(get02(VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL), caps->pinbased, l0.pin,
                               0, "pin-based");
        assert_controls_within(get02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL), caps->procbased,
                               l0.proc, proc_library, "processor-based");
        assert_controls_within(get02(VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL), caps->procbased2,
                               l0.proc2, 0, "secondary");
        assert_controls_within(get02(VMCS12_ORD_VM_ENTRY_CONTROLS), caps->entry, 0, 0, "entry");
        cr_assert_eq(get02(VMCS12_ORD_VM_EXIT_CONTROLS), l0.exit | NVMX_CTL(EXIT_SAVE_DEBUG) |
                                                             NVMX_CTL(EXIT_SAVE_PAT) |
                                                             NVMX_CTL(EXIT_SAVE_EFER));
        cr_assert_eq(get02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(IO_BITMAPS), 0);
        bool l1_msr_bitmaps =
            vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) &
            NVMX_CTL(MSR_BITMAPS);
        cr_assert_eq((get02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(MSR_BITMAPS)) != 0,
                     l0_msr_bitmap && l1_msr_bitmaps);
        cr_assert_eq(get02(VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL) & NVMX_CTL(SHADOW_VMCS), 0);
    }
}

Test(vmcs02, controls_stay_within_l0_and_exposed_settings_for_random_vmcs12)
{
    check_controls_for_random_vmcs12(NULL);
}

Test(vmcs02, controls_stay_within_l0_and_exposed_settings_with_l0_msr_policy)
{
    static uint8_t l0_msr_bitmap[4096]; /* L0 passes every MSR through */
    check_controls_for_random_vmcs12(l0_msr_bitmap);
}

/* After L0 says it changed vmcs02, the next entry rewrites every field. */
Test(vmcs02, invalidation_by_l0_forces_full_build)
{
    vmcs02_build(h.vcpu, NULL);
    nvmx_vcpu_vmcs02_invalidate(h.vcpu);
    long before = h.host.vmcs_writes[NVMX_HW_VMCS02];
    vmcs02_build(h.vcpu, NULL);
    cr_assert_gt(h.host.vmcs_writes[NVMX_HW_VMCS02] - before, 60);
    nvmx_vcpu_vmcs02_invalidate(NULL); /* ignored */
}

/* SDM 27.3.2.1: what L1's entry does not load (PAT, DR7, DEBUGCTL) L2 starts with from L1. */
Test(vmcs02, state_l1_does_not_load_is_inherited_from_l1)
{
    h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_IA32_PAT] = 0x0606060606060606ull;
    h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_DR7] = 0x401;
    h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_IA32_DEBUGCTL] = 2;
    set12(VMCS12_ORD_GUEST_IA32_PAT, 0x0007040600070406ull);
    set12(VMCS12_ORD_GUEST_DR7, 0x400);
    set12(VMCS12_ORD_VM_ENTRY_CONTROLS, NVMX_ENTRY_DEFAULT1 & ~NVMX_CTL(ENTRY_LOAD_DEBUG));
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_GUEST_IA32_PAT), 0x0606060606060606ull);
    cr_assert_eq(get02(VMCS12_ORD_GUEST_DR7), 0x401);
    cr_assert_eq(get02(VMCS12_ORD_GUEST_IA32_DEBUGCTL), 2);
    set12(VMCS12_ORD_VM_ENTRY_CONTROLS, NVMX_ENTRY_DEFAULT1 | NVMX_CTL(ENTRY_LOAD_PAT));
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_GUEST_IA32_PAT), 0x0007040600070406ull);
    cr_assert_eq(get02(VMCS12_ORD_GUEST_DR7), 0x400);
}

/* SDM 27.3.2.1: without "load IA32_EFER", EFER keeps L1's bits but LMA = "IA-32e mode guest",
 * and LME too when CR0.PG = 1. */
Test(vmcs02, efer_not_loaded_follows_ia32e_mode_guest)
{
    const uint64_t sce_nxe = 1ull | (1ull << 11);
    h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_IA32_EFER] =
        sce_nxe | NVMX_EFER_LME | NVMX_EFER_LMA;
    set12(VMCS12_ORD_GUEST_CR0, NVMX_CR0_PG | NVMX_CR0_PE | NVMX_CR0_NE);
    set12(VMCS12_ORD_VM_ENTRY_CONTROLS, NVMX_ENTRY_DEFAULT1);
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_GUEST_IA32_EFER), sce_nxe, "a 32-bit L2");
    set12(VMCS12_ORD_VM_ENTRY_CONTROLS, NVMX_ENTRY_DEFAULT1 | NVMX_CTL(ENTRY_IA32E_MODE));
    vmcs02_build(h.vcpu, NULL);
    cr_assert_eq(get02(VMCS12_ORD_GUEST_IA32_EFER), sce_nxe | NVMX_EFER_LME | NVMX_EFER_LMA);
}
