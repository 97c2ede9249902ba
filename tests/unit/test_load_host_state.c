/* SPDX-License-Identifier: MIT */
/* Loading L1's host state into vmcs01 on a VM exit (SDM Vol. 3C 28.5), one rule per test. */
#include <criterion/criterion.h>

#include "exit_fixture.h"

static exit_fixture x;
static void setup(void)
{
    exit_fixture_init(&x);
}
static void teardown(void)
{
    exit_fixture_fini(&x);
}
TestSuite(load_host_state, .init = setup, .fini = teardown);

#define HOST_ADDR_SPACE NVMX_CTL(EXIT_HOST_ADDR_SPACE)

/* A 32-bit L1 host: host address-space size 0 and L2 outside IA-32e mode (else VMX abort 6). */
static void host_32bit(void)
{
    V12(&x, VM_EXIT_CONTROLS) &= ~HOST_ADDR_SPACE;
    VMCS02(&x, GUEST_IA32_EFER) = 0;
}

/* 28.5.1: CR0 loads PE, MP, EM, TS, NE, WP, AM, PG; ET, CD, NW, bits 63:32, 28:19, 17, 15:6
 * and the bits fixed in VMX operation keep the processor's values, which are L2's. */
Test(load_host_state, cr0_keeps_the_bits_an_exit_does_not_modify)
{
    uint64_t kept =
        NVMX_CR0_ET | NVMX_CR0_NW | NVMX_CR0_CD | (1ull << 17) | (1ull << 40) | (1ull << 20);
    VMCS02(&x, GUEST_CR0) = L1_CR0 | NVMX_CR0_TS | kept;
    VMCS01(&x, GUEST_CR0) = L1_CR0; /* L1's CR0 before the entry does not matter */
    V12(&x, HOST_CR0) = NVMX_CR0_PG | NVMX_CR0_NE | NVMX_CR0_PE | NVMX_CR0_MP | NVMX_CR0_WP |
                        NVMX_CR0_AM | (1ull << 19) | (1ull << 6);
    exit_fixture_exit_ok(&x);
    uint64_t expected =
        NVMX_CR0_PG | NVMX_CR0_NE | NVMX_CR0_PE | NVMX_CR0_MP | NVMX_CR0_WP | NVMX_CR0_AM | kept;
    cr_assert_eq(VMCS01(&x, GUEST_CR0), expected, "CR0 %#lx", VMCS01(&x, GUEST_CR0));
}

/* 28.5.1: CR4 from its field except the bits fixed in VMX operation; PAE set by a 64-bit host. */
Test(load_host_state, cr4_keeps_fixed_bits_and_a_64bit_host_sets_pae)
{
    VMCS02(&x, GUEST_CR4) = L1_CR4 | (1ull << 40);
    V12(&x, HOST_CR4) = NVMX_CR4_VMXE | NVMX_CR4_OSFXSR | NVMX_CR4_PCIDE;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_CR4),
                 NVMX_CR4_VMXE | NVMX_CR4_PAE | NVMX_CR4_OSFXSR | NVMX_CR4_PCIDE | (1ull << 40));
}

/* 28.5.1: CR4.PCIDE is cleared by an exit to a 32-bit host. */
Test(load_host_state, cr4_pcide_cleared_for_a_32bit_host)
{
    host_32bit();
    V12(&x, HOST_CR4) = NVMX_CR4_VMXE | NVMX_CR4_PCIDE;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_CR4), NVMX_CR4_VMXE);
}

/* 28.5.1: CR3 from its field, bits beyond the physical-address width cleared. */
Test(load_host_state, cr3_from_the_field_cut_to_the_physical_width)
{
    V12(&x, HOST_CR3) = 0x123000ull | (1ull << 50);
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_CR3), 0x123000ull);
}

/* 28.5.1: DR7 is set to 400H. */
Test(load_host_state, dr7_is_400h)
{
    VMCS01(&x, GUEST_DR7) = 0xFFFF0FFF;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_DR7), 0x400);
}

/* 28.5.1: IA32_DEBUGCTL is cleared. */
Test(load_host_state, debugctl_is_cleared)
{
    VMCS01(&x, GUEST_IA32_DEBUGCTL) = 0x3;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_IA32_DEBUGCTL), 0);
}

/* 28.5.1: SYSENTER_CS from its 32-bit field; ESP/EIP with bits 63:48 set to bit 47. */
Test(load_host_state, sysenter_msrs_from_their_fields_made_canonical)
{
    V12(&x, HOST_IA32_SYSENTER_CS) = 0x10;
    V12(&x, HOST_IA32_SYSENTER_ESP) = 0x0000800000001000ull;
    V12(&x, HOST_IA32_SYSENTER_EIP) = 0x0000000000402000ull;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_SYSENTER_CS), 0x10);
    cr_assert_eq(VMCS01(&x, GUEST_SYSENTER_ESP), 0xFFFF800000001000ull);
    cr_assert_eq(VMCS01(&x, GUEST_SYSENTER_EIP), 0x402000ull);
}

/* 28.5.1: without "load IA32_EFER", EFER keeps the processor's (L2's) value and LMA/LME
 * follow the host address-space size. */
Test(load_host_state, efer_without_load_efer_keeps_l1_efer_with_lma_lme_of_the_host_size)
{
    V12(&x, VM_EXIT_CONTROLS) &= ~NVMX_CTL(EXIT_LOAD_EFER);
    VMCS02(&x, GUEST_IA32_EFER) = NVMX_EFER_SCE | NVMX_EFER_NXE; /* L2 was 32-bit */
    VMCS01(&x, GUEST_IA32_EFER) = 0;
    V12(&x, HOST_IA32_EFER) = 0;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_IA32_EFER),
                 NVMX_EFER_SCE | NVMX_EFER_NXE | NVMX_EFER_LME | NVMX_EFER_LMA);
}

/* 28.5.1: an exit to a 32-bit host without "load IA32_EFER" clears LMA and LME. */
Test(load_host_state, efer_lma_lme_cleared_for_a_32bit_host)
{
    host_32bit();
    V12(&x, VM_EXIT_CONTROLS) &= ~NVMX_CTL(EXIT_LOAD_EFER);
    VMCS02(&x, GUEST_IA32_EFER) = NVMX_EFER_SCE | NVMX_EFER_NXE; /* a 32-bit L2 */
    VMCS01(&x, GUEST_IA32_EFER) = L1_EFER;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_IA32_EFER), NVMX_EFER_SCE | NVMX_EFER_NXE);
}

/* 28.5.1: with "load IA32_EFER" the MSR comes from the host field. */
Test(load_host_state, efer_with_load_efer_from_the_field)
{
    V12(&x, VM_EXIT_CONTROLS) |= NVMX_CTL(EXIT_LOAD_EFER);
    V12(&x, HOST_IA32_EFER) = NVMX_EFER_LME | NVMX_EFER_LMA | NVMX_EFER_SCE;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_IA32_EFER), NVMX_EFER_LME | NVMX_EFER_LMA | NVMX_EFER_SCE);
}

/* 28.5.1: IA32_PAT is loaded only with "load IA32_PAT". */
Test(load_host_state, pat_loaded_with_load_pat)
{
    V12(&x, VM_EXIT_CONTROLS) |= NVMX_CTL(EXIT_LOAD_PAT);
    V12(&x, HOST_IA32_PAT) = 0x0606060606060606ull;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_IA32_PAT), 0x0606060606060606ull);
}

/* 28.5.1: without "load IA32_PAT" the processor's IA32_PAT (L2's) stays. */
Test(load_host_state, pat_kept_without_load_pat)
{
    V12(&x, VM_EXIT_CONTROLS) &= ~NVMX_CTL(EXIT_LOAD_PAT);
    VMCS02(&x, GUEST_IA32_PAT) = 0x0007040600070406ull;
    VMCS01(&x, GUEST_IA32_PAT) = 0x0505050505050505ull;
    V12(&x, HOST_IA32_PAT) = 0x0606060606060606ull;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_IA32_PAT), 0x0007040600070406ull);
}

/* The same when L1 does not ask to save IA32_PAT either (28.3.1): the state save does not read
 * vmcs02's PAT, the host-state load still keeps L2's. */
Test(load_host_state, pat_kept_without_load_pat_or_save_pat)
{
    V12(&x, VM_EXIT_CONTROLS) &= ~(NVMX_CTL(EXIT_LOAD_PAT) | NVMX_CTL(EXIT_SAVE_PAT));
    VMCS02(&x, GUEST_IA32_PAT) = 0x0007040600070406ull;
    VMCS01(&x, GUEST_IA32_PAT) = 0x0505050505050505ull;
    V12(&x, GUEST_IA32_PAT) = 0x0404040404040404ull;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_IA32_PAT), 0x0007040600070406ull);
    cr_assert_eq(V12(&x, GUEST_IA32_PAT), 0x0404040404040404ull, "not saved (28.3.1)");
}

/* 28.5.1: IA32_PERF_GLOBAL_CTRL, IA32_PKRS and the CET state per their "load" controls. */
Test(load_host_state, perf_global_ctrl_pkrs_cet_per_their_load_controls)
{
    V12(&x, HOST_IA32_PERF_GLOBAL_CTRL) = 0xF;
    V12(&x, HOST_IA32_PKRS) = 0x55;
    V12(&x, HOST_S_CET) = 0x4;
    V12(&x, HOST_SSP) = 0x8000;
    V12(&x, HOST_INTR_SSP_TABLE) = 0x9000;
    V12(&x, VM_EXIT_CONTROLS) &= ~(NVMX_CTL(EXIT_LOAD_PKRS) | NVMX_CTL(EXIT_LOAD_CET));
    V12(&x, VM_EXIT_CONTROLS) |= NVMX_CTL(EXIT_LOAD_PERF_GLOBAL);
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_IA32_PERF_GLOBAL_CTRL), 0xF);
    cr_assert_eq(VMCS01(&x, GUEST_IA32_PKRS), 0);
    cr_assert_eq(VMCS01(&x, GUEST_S_CET), 0);

    exit_fixture_fini(&x);
    exit_fixture_init(&x);
    V12(&x, HOST_IA32_PKRS) = 0x55;
    V12(&x, HOST_S_CET) = 0x4;
    V12(&x, HOST_SSP) = 0x8000;
    V12(&x, HOST_INTR_SSP_TABLE) = 0x9000;
    V12(&x, VM_EXIT_CONTROLS) |= NVMX_CTL(EXIT_LOAD_PKRS) | NVMX_CTL(EXIT_LOAD_CET);
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_IA32_PKRS), 0x55);
    cr_assert_eq(VMCS01(&x, GUEST_S_CET), 0x4);
    cr_assert_eq(VMCS01(&x, GUEST_SSP), 0x8000);
    cr_assert_eq(VMCS01(&x, GUEST_INTR_SSP_TABLE), 0x9000);
}

/* 28.5.1: "clear IA32_BNDCFGS", "clear IA32_RTIT_CTL", "clear IA32_LBR_CTL" clear the MSRs;
 * without them the MSRs stay. */
Test(load_host_state, bndcfgs_rtit_lbr_cleared_per_their_clear_controls)
{
    VMCS01(&x, GUEST_BNDCFGS) = 0x1001;
    VMCS01(&x, GUEST_IA32_RTIT_CTL) = 0x1;
    VMCS01(&x, GUEST_IA32_LBR_CTL) = 0x1;
    V12(&x, VM_EXIT_CONTROLS) |= NVMX_CTL(EXIT_CLEAR_BNDCFGS) | NVMX_CTL(EXIT_CLEAR_RTIT_CTL);
    V12(&x, VM_EXIT_CONTROLS) &= ~NVMX_CTL(EXIT_CLEAR_LBR_CTL);
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_BNDCFGS), 0);
    cr_assert_eq(VMCS01(&x, GUEST_IA32_RTIT_CTL), 0);
    cr_assert_eq(VMCS01(&x, GUEST_IA32_LBR_CTL), 0x1);
}

/* 28.5.2: CS of a 64-bit host: base 0, limit FFFFFFFFH, type 11, S, DPL 0, P, L, G. */
Test(load_host_state, cs_attributes_for_a_64bit_host)
{
    V12(&x, HOST_CS_SELECTOR) = 0x28;
    VMCS01(&x, GUEST_CS_BASE) = 0x1234;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_CS_SELECTOR), 0x28);
    cr_assert_eq(VMCS01(&x, GUEST_CS_BASE), 0);
    cr_assert_eq(VMCS01(&x, GUEST_CS_LIMIT), 0xFFFFFFFF);
    cr_assert_eq(VMCS01(&x, GUEST_CS_AR_BYTES), 0xA09B);
}

/* 28.5.2: CS of a 32-bit host: L = 0, D/B = 1. */
Test(load_host_state, cs_attributes_for_a_32bit_host)
{
    host_32bit();
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_CS_AR_BYTES), 0xC09B);
    cr_assert_eq(VMCS01(&x, GUEST_CS_LIMIT), 0xFFFFFFFF);
}

/* 28.5.2: usable SS, DS, ES: base 0, limit FFFFFFFFH, type 3, S, DPL 0, P, D/B, G. */
Test(load_host_state, usable_data_segments_are_flat_read_write)
{
    V12(&x, HOST_SS_SELECTOR) = 0x18;
    V12(&x, HOST_DS_SELECTOR) = 0x20;
    V12(&x, HOST_ES_SELECTOR) = 0x20;
    VMCS01(&x, GUEST_DS_BASE) = 0x5000;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_SS_SELECTOR), 0x18);
    cr_assert_eq(VMCS01(&x, GUEST_DS_SELECTOR), 0x20);
    const unsigned ar[] = {VMCS12_ORD_GUEST_SS_AR_BYTES, VMCS12_ORD_GUEST_DS_AR_BYTES,
                           VMCS12_ORD_GUEST_ES_AR_BYTES, VMCS12_ORD_GUEST_FS_AR_BYTES,
                           VMCS12_ORD_GUEST_GS_AR_BYTES};
    for (unsigned i = 0; i < 5; i++)
        cr_assert_eq(x.f.host.vmcs[NVMX_HW_VMCS01][ar[i]], 0xC093, "segment %u", i);
    cr_assert_eq(VMCS01(&x, GUEST_DS_BASE), 0);
    cr_assert_eq(VMCS01(&x, GUEST_SS_LIMIT), 0xFFFFFFFF);
}

/* 28.5.2: SS with selector 0 (possible only for a 64-bit host) is unusable, DPL 0. */
Test(load_host_state, ss_with_selector_zero_is_unusable_with_dpl_0)
{
    V12(&x, HOST_SS_SELECTOR) = 0;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_SS_SELECTOR), 0);
    cr_assert(VMCS01(&x, GUEST_SS_AR_BYTES) & NVMX_AR_UNUSABLE);
    cr_assert_eq(VMCS01(&x, GUEST_SS_AR_BYTES) & NVMX_AR_DPL_MASK, 0);
}

/* 28.5.2: a usable SS (selector not 0) is never marked unusable. */
Test(load_host_state, ss_with_a_selector_is_usable)
{
    exit_fixture_exit_ok(&x);
    cr_assert_not(VMCS01(&x, GUEST_SS_AR_BYTES) & NVMX_AR_UNUSABLE);
}

/* 28.5.2: DS, ES, FS, GS with selector 0 are unusable. */
Test(load_host_state, data_segments_with_selector_zero_are_unusable)
{
    V12(&x, HOST_DS_SELECTOR) = 0;
    V12(&x, HOST_ES_SELECTOR) = 0;
    V12(&x, HOST_FS_SELECTOR) = 0;
    V12(&x, HOST_GS_SELECTOR) = 0;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_DS_AR_BYTES), NVMX_AR_UNUSABLE);
    cr_assert_eq(VMCS01(&x, GUEST_ES_AR_BYTES), NVMX_AR_UNUSABLE);
    cr_assert_eq(VMCS01(&x, GUEST_FS_AR_BYTES), NVMX_AR_UNUSABLE);
    cr_assert_eq(VMCS01(&x, GUEST_GS_AR_BYTES), NVMX_AR_UNUSABLE);
}

/* 28.5.2: FS and GS bases come from the host fields (bits 63:48 set to bit 47), usable or
 * not. */
Test(load_host_state, fs_gs_bases_from_the_host_fields)
{
    V12(&x, HOST_FS_BASE) = 0x7FFF12340000ull;
    V12(&x, HOST_GS_BASE) = 0x0000800000000000ull;
    V12(&x, HOST_GS_SELECTOR) = 0;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_FS_BASE), 0x7FFF12340000ull);
    cr_assert_eq(VMCS01(&x, GUEST_GS_BASE), 0xFFFF800000000000ull);
}

/* 28.5.2: TR: selector and base from the fields, limit 67H, type 11 (busy), S = 0, P, G = 0. */
Test(load_host_state, tr_is_a_busy_tss_with_limit_67h)
{
    V12(&x, HOST_TR_SELECTOR) = 0x40;
    V12(&x, HOST_TR_BASE) = 0xFFFFFE0000003000ull;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_TR_SELECTOR), 0x40);
    cr_assert_eq(VMCS01(&x, GUEST_TR_BASE), 0xFFFFFE0000003000ull);
    cr_assert_eq(VMCS01(&x, GUEST_TR_LIMIT), 0x67);
    cr_assert_eq(VMCS01(&x, GUEST_TR_AR_BYTES), 0x8B);
}

/* 28.5.2: LDTR: selector 0, unusable. */
Test(load_host_state, ldtr_is_unusable_with_selector_zero)
{
    VMCS01(&x, GUEST_LDTR_SELECTOR) = 0x30;
    VMCS01(&x, GUEST_LDTR_AR_BYTES) = 0x82;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_LDTR_SELECTOR), 0);
    cr_assert_eq(VMCS01(&x, GUEST_LDTR_AR_BYTES), NVMX_AR_UNUSABLE);
}

/* 28.5.2: GDTR and IDTR bases from the fields, limits FFFFH. */
Test(load_host_state, gdtr_idtr_bases_from_fields_limits_ffffh)
{
    VMCS01(&x, GUEST_GDTR_LIMIT) = 0x7F;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_GDTR_BASE), 0x1000);
    cr_assert_eq(VMCS01(&x, GUEST_IDTR_BASE), 0x2000);
    cr_assert_eq(VMCS01(&x, GUEST_GDTR_LIMIT), 0xFFFF);
    cr_assert_eq(VMCS01(&x, GUEST_IDTR_LIMIT), 0xFFFF);
}

/* 28.5.3: RIP and RSP from the fields; RFLAGS cleared but bit 1. */
Test(load_host_state, rip_rsp_from_fields_rflags_is_2)
{
    VMCS01(&x, GUEST_RFLAGS) = 0x246;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_RIP), 0x400000);
    cr_assert_eq(VMCS01(&x, GUEST_RSP), 0x7000);
    cr_assert_eq(VMCS01(&x, GUEST_RFLAGS), 0x2);
}

/* 28.5.5: active state, no STI/MOV-SS blocking, no pending debug exceptions; a non-NMI exit
 * keeps the processor's blocking by NMI (L2's when L2 exits). */
Test(load_host_state, non_register_state_after_an_exit)
{
    VMCS01(&x, GUEST_ACTIVITY_STATE) = 1;
    VMCS02(&x, GUEST_INTERRUPTIBILITY_INFO) = 0xB; /* STI, MOV SS, NMI */
    VMCS01(&x, GUEST_PENDING_DBG_EXCEPTIONS) = 0x4000;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_ACTIVITY_STATE), 0);
    cr_assert_eq(VMCS01(&x, GUEST_INTERRUPTIBILITY_INFO), 0x8);
    cr_assert_eq(VMCS01(&x, GUEST_PENDING_DBG_EXCEPTIONS), 0);
}

/* 28.5.5: an exit caused directly by an NMI blocks NMIs. */
Test(load_host_state, nmi_exit_blocks_nmis)
{
    nested_exit e = {.reason = NVMX_EXIT_EXCEPTION_NMI,
                     .interruption_info = (1u << 31) | (2u << 8) | 2u};
    cr_assert_eq(exit_fixture_exit(&x, &e), NVMX_RUN_L1);
    cr_assert_eq(VMCS01(&x, GUEST_INTERRUPTIBILITY_INFO), 0x8);
}

/* 28.5.5: an exception exit (reason 0, not an NMI) does not block NMIs. */
Test(load_host_state, exception_exit_does_not_block_nmis)
{
    nested_exit e = {.reason = NVMX_EXIT_EXCEPTION_NMI,
                     .interruption_info = (1u << 31) | (3u << 8) | 14u};
    cr_assert_eq(exit_fixture_exit(&x, &e), NVMX_RUN_L1);
    cr_assert_eq(VMCS01(&x, GUEST_INTERRUPTIBILITY_INFO), 0);
}

/* 28.5.4: an exit to a PAE-paging host loads the PDPTEs CR3 references. */
Test(load_host_state, pae_host_pdptes_are_checked_and_loaded)
{
    host_32bit();
    V12(&x, HOST_CR3) = 0x200020;
    for (unsigned i = 0; i < 4; i++)
        fake_host_write64(&x.f.host, 0x200020 + 8 * i, 0x300001ull + 0x1000 * i);
    exit_fixture_exit_ok(&x);
    cr_assert_eq(VMCS01(&x, GUEST_PDPTR0), 0x300001);
    cr_assert_eq(VMCS01(&x, GUEST_PDPTR3), 0x303001);
}

/* 28.5.4, 28.7: a present PDPTE with a reserved bit set is VMX abort 2; nothing is loaded. */
Test(load_host_state, pae_host_bad_pdpte_is_vmx_abort_2)
{
    host_32bit();
    fake_host_write64(&x.f.host, 0x200000 + 8, 0x300001ull | (1ull << 5));
    VMCS01(&x, GUEST_RIP) = 0x1234;
    nested_exit e = exit_fixture_cpuid();
    cr_assert_eq(exit_fixture_exit(&x, &e), NVMX_RUN_SHUTDOWN_L1);
    cr_assert_eq(x.cur->abort, 2);
    cr_assert_eq(fake_host_read32(&x.f.host, EXIT_VMCS12_GPA + 4), 2);
    cr_assert_eq(VMCS01(&x, GUEST_RIP), 0x1234);
    cr_assert_not(x.f.vcpu.guest_mode);
}

/* 28.5.4: PDPTE bits beyond the physical-address width are reserved as well. */
Test(load_host_state, pae_host_pdpte_beyond_physical_width_is_vmx_abort_2)
{
    host_32bit();
    fake_host_write64(&x.f.host, 0x200000, 1ull | (1ull << 50));
    nested_exit e = exit_fixture_cpuid();
    cr_assert_eq(exit_fixture_exit(&x, &e), NVMX_RUN_SHUTDOWN_L1);
    cr_assert_eq(x.cur->abort, 2);
}

/* 28.5.4: a 64-bit host does not use PAE paging: its PDPTEs are not checked. */
Test(load_host_state, pdptes_of_a_64bit_host_are_not_checked)
{
    fake_host_write64(&x.f.host, 0x200000, 0xFFFFFFFFFFFFFFFFull);
    exit_fixture_exit_ok(&x);
}

/* 28.5, 28.7: in IA-32e mode before the exit with host address-space size 0: abort 6. */
Test(load_host_state, ia32e_guest_to_32bit_host_is_vmx_abort_6)
{
    V12(&x, VM_EXIT_CONTROLS) &= ~HOST_ADDR_SPACE;
    VMCS02(&x, GUEST_IA32_EFER) = NVMX_EFER_LME | NVMX_EFER_LMA;
    nested_exit e = exit_fixture_cpuid();
    cr_assert_eq(exit_fixture_exit(&x, &e), NVMX_RUN_SHUTDOWN_L1);
    cr_assert_eq(x.cur->abort, 6);
}

/* Every row of the copy table moves its host field into its vmcs01 field. */
Test(load_host_state, every_copy_row_lands_in_vmcs01)
{
    V12(&x, VM_EXIT_CONTROLS) |= NVMX_CTL(EXIT_LOAD_PERF_GLOBAL) | NVMX_CTL(EXIT_LOAD_PAT) |
                                 NVMX_CTL(EXIT_LOAD_PKRS) | NVMX_CTL(EXIT_LOAD_CET);
    for (size_t i = 0; i < host_copy_count; i++) {
        const host_copy *c = &host_copies[i];
        if (c->host_ordinal != VMCS12_ORD_HOST_CR3)
            x.cur->data.field[c->host_ordinal] = 0x1000 + 0x10 * i;
    }
    exit_fixture_exit_ok(&x);
    for (size_t i = 0; i < host_copy_count; i++) {
        const host_copy *c = &host_copies[i];
        const vmcs_field_info *g = vmcs_field_lookup(c->guest_field);
        cr_assert_not_null(g);
        cr_assert_eq(x.f.host.vmcs[NVMX_HW_VMCS01][g->ordinal], x.cur->data.field[c->host_ordinal],
                     "%s", g->name);
    }
}

/* Loading is computed before it is written: a failing vmcs01 read writes nothing. */
Test(load_host_state, vmcs01_read_failure_writes_nothing)
{
    host_load load;
    x.f.host.fail_vmcs_read_at = 1;
    cr_assert_eq(
        host_load_prepare(&x.f.vcpu, &x.cur->data, false, NVMX_HW_VMCS02, NVMX_HW_VMCS02, &load),
        NVMX_ERR_HOST);
    cr_assert_eq(x.f.host.vmcs_writes[0] + x.f.host.vmcs_writes[1], 0);
}

/* A vmcs01 write failing half-way leaves vmcs12 untouched and the vCPU running L2. */
Test(load_host_state, vmcs01_write_failure_leaves_vmcs12_and_guest_mode)
{
    uint64_t reason = V12(&x, VM_EXIT_REASON);
    x.f.host.fail_vmcs_write_at = 5;
    nvmx_run run = NVMX_RUN_L2;
    nested_exit e = exit_fixture_cpuid();
    cr_assert_eq(vm_exit_to_l1(&x.f.vcpu, &e, &run), NVMX_ERR_HOST);
    cr_assert(x.f.vcpu.guest_mode);
    cr_assert_eq(V12(&x, VM_EXIT_REASON), reason);
    cr_assert_not(x.cur->memory_stale);
    for (unsigned w = 0; w < VMCS12_FIELD_WORDS; w++)
        cr_assert_eq(x.cur->data.dirty[w], 0);
}
