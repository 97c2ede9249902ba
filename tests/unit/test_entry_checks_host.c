/* SPDX-License-Identifier: MIT */
/*
 * The checks on the host-state area (SDM Vol. 3C 27.2.2-27.2.4; lib/vmcs/entry_checks_host.c).
 * Each row of entry_breaks_host breaks exactly one rule of the known-good vmcs12, enabling
 * first whatever VM-exit control the rule needs; the parameterized test asserts that the
 * first check to fail, over all categories, is the row's. The plain tests pin the edges of
 * the rules: values on the good side of each boundary pass.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "entry_fixture.h"

/* The two sides of the canonical boundary for 48-bit linear addresses (SDM Vol. 1 3.3.7.1). */
#define LOW_CANONICAL_MAX 0x00007FFFFFFFFFFFull
#define HIGH_CANONICAL_MIN 0xFFFF800000000000ull
#define NONCANONICAL_LOW 0x0000800000000000ull
#define NONCANONICAL_HIGH 0xFFFF7FFFFFFFFFFFull

static entry_fixture f;

static void setup(void)
{
    entry_fixture_init(&f);
}

static void teardown(void)
{
    entry_fixture_fini(&f);
}

TestSuite(entry_host, .init = setup, .fini = teardown);

/* ---- What rows enable before breaking a rule ------------------------------------------- */

static void enable_exit(entry_fixture *fx, uint64_t control)
{
    SET(fx, VM_EXIT_CONTROLS, GET(fx, VM_EXIT_CONTROLS) | control);
}

static void clear_exit(entry_fixture *fx, uint64_t control)
{
    SET(fx, VM_EXIT_CONTROLS, GET(fx, VM_EXIT_CONTROLS) & ~control);
}

static void clear_entry(entry_fixture *fx, uint64_t control)
{
    SET(fx, VM_ENTRY_CONTROLS, GET(fx, VM_ENTRY_CONTROLS) & ~control);
}

/* L1 in 32-bit protected mode entering a 32-bit guest and returning to a 32-bit host: the
 * consistent setting of 27.2.4 for a processor outside IA-32e mode. */
static void host_32bit(entry_fixture *fx)
{
    fake_host_set_mode_protected32(&fx->host);
    clear_exit(fx, NVMX_CTL(EXIT_HOST_ADDR_SPACE));
    clear_entry(fx, NVMX_CTL(ENTRY_IA32E_MODE));
}

static void load_cet(entry_fixture *fx)
{
    enable_exit(fx, NVMX_CTL(EXIT_LOAD_CET));
}

static void load_efer(entry_fixture *fx)
{
    enable_exit(fx, NVMX_CTL(EXIT_LOAD_EFER));
}

static void load_pat(entry_fixture *fx)
{
    enable_exit(fx, NVMX_CTL(EXIT_LOAD_PAT));
}

/* The lowest bit a capability value leaves 0 (a bit the exposed FIXED1 forbids). */
static uint64_t lowest_clear_bit(uint64_t value)
{
    return ~value & (value + 1);
}

/* ---- Rows: 27.2.2 ------------------------------------------------------------------------ */

static void cr0_pe_clear(entry_fixture *fx)
{
    SET(fx, HOST_CR0, GET(fx, HOST_CR0) & ~NVMX_CR0_PE);
}

static void cr0_pg_clear(entry_fixture *fx)
{
    SET(fx, HOST_CR0, GET(fx, HOST_CR0) & ~NVMX_CR0_PG);
}

static void cr0_forbidden_bit(entry_fixture *fx)
{
    SET(fx, HOST_CR0, GET(fx, HOST_CR0) | lowest_clear_bit(fx->vm.caps.cr0_fixed1));
}

static void cr4_vmxe_clear(entry_fixture *fx)
{
    SET(fx, HOST_CR4, GET(fx, HOST_CR4) & ~NVMX_CR4_VMXE);
}

static void cr4_forbidden_bit(entry_fixture *fx)
{
    SET(fx, HOST_CR4, GET(fx, HOST_CR4) | lowest_clear_bit(fx->vm.caps.cr4_fixed1));
}

static void cr4_cet_without_wp(entry_fixture *fx)
{
    SET(fx, HOST_CR0, GET(fx, HOST_CR0) & ~NVMX_CR0_WP);
    SET(fx, HOST_CR4, GET(fx, HOST_CR4) | NVMX_CR4_CET);
}

static void cr3_beyond_width(entry_fixture *fx)
{
    SET(fx, HOST_CR3, GET(fx, HOST_CR3) | (1ull << fx->vm.phys_addr_width));
}

static void cr3_bit_63(entry_fixture *fx)
{
    SET(fx, HOST_CR3, GET(fx, HOST_CR3) | (1ull << 63));
}

static void sysenter_esp_noncanonical(entry_fixture *fx)
{
    SET(fx, HOST_IA32_SYSENTER_ESP, NONCANONICAL_LOW);
}

static void sysenter_eip_noncanonical(entry_fixture *fx)
{
    SET(fx, HOST_IA32_SYSENTER_EIP, NONCANONICAL_HIGH);
}

static void s_cet_noncanonical(entry_fixture *fx)
{
    load_cet(fx);
    SET(fx, HOST_S_CET, NONCANONICAL_LOW | S_CET_SH_STK_EN);
}

static void intr_ssp_table_noncanonical(entry_fixture *fx)
{
    load_cet(fx);
    SET(fx, HOST_INTR_SSP_TABLE, NONCANONICAL_HIGH & ~7ull);
}

static void s_cet_bit_6(entry_fixture *fx)
{
    load_cet(fx);
    SET(fx, HOST_S_CET, 1ull << 6);
}

static void s_cet_bit_9(entry_fixture *fx)
{
    load_cet(fx);
    SET(fx, HOST_S_CET, S_CET_ENDBR_EN | (1ull << 9));
}

static void s_cet_suppress_and_tracker(entry_fixture *fx)
{
    load_cet(fx);
    SET(fx, HOST_S_CET, S_CET_ENDBR_EN | S_CET_SUPPRESS | S_CET_TRACKER);
}

static void ssp_misaligned(entry_fixture *fx)
{
    load_cet(fx);
    SET(fx, HOST_SSP, 0x7FFA);
}

static void perf_global_ctrl_bit_49(entry_fixture *fx)
{
    enable_exit(fx, NVMX_CTL(EXIT_LOAD_PERF_GLOBAL));
    SET(fx, HOST_IA32_PERF_GLOBAL_CTRL, 1ull << 49);
}

static void perf_global_ctrl_bit_63(entry_fixture *fx)
{
    enable_exit(fx, NVMX_CTL(EXIT_LOAD_PERF_GLOBAL));
    SET(fx, HOST_IA32_PERF_GLOBAL_CTRL, 3ull | (1ull << 63));
}

static void pat_type_2(entry_fixture *fx)
{
    load_pat(fx);
    SET(fx, HOST_IA32_PAT, 0x0007040600070402ull);
}

static void pat_type_3_in_last_entry(entry_fixture *fx)
{
    load_pat(fx);
    SET(fx, HOST_IA32_PAT, 0x0307040600070406ull);
}

static void pat_type_8(entry_fixture *fx)
{
    load_pat(fx);
    SET(fx, HOST_IA32_PAT, 0x0007040608070406ull);
}

static void pat_type_0x16(entry_fixture *fx)
{
    /* 0x16 is WB (6) with a high bit: a reserved bit of the entry, not a valid type. */
    load_pat(fx);
    SET(fx, HOST_IA32_PAT, 0x0007041600070406ull);
}

static void efer_bit_1(entry_fixture *fx)
{
    load_efer(fx);
    SET(fx, HOST_IA32_EFER, NVMX_EFER_LME | NVMX_EFER_LMA | (1ull << 1));
}

static void efer_svme(entry_fixture *fx)
{
    /* Bit 12 is SVME on AMD processors and reserved on Intel's. */
    load_efer(fx);
    SET(fx, HOST_IA32_EFER, NVMX_EFER_LME | NVMX_EFER_LMA | (1ull << 12));
}

static void efer_lma_clear_64bit_host(entry_fixture *fx)
{
    load_efer(fx);
    SET(fx, HOST_IA32_EFER, NVMX_EFER_LME);
}

static void efer_lma_set_32bit_host(entry_fixture *fx)
{
    host_32bit(fx);
    load_efer(fx);
    SET(fx, HOST_IA32_EFER, NVMX_EFER_LMA);
}

static void efer_lme_clear_64bit_host(entry_fixture *fx)
{
    load_efer(fx);
    SET(fx, HOST_IA32_EFER, NVMX_EFER_LMA);
}

static void efer_lme_set_32bit_host(entry_fixture *fx)
{
    host_32bit(fx);
    load_efer(fx);
    SET(fx, HOST_IA32_EFER, NVMX_EFER_LME);
}

static void pkrs_bit_32(entry_fixture *fx)
{
    enable_exit(fx, NVMX_CTL(EXIT_LOAD_PKRS));
    SET(fx, HOST_IA32_PKRS, 1ull << 32);
}

/* ---- Rows: 27.2.3 ------------------------------------------------------------------------ */

static void cs_rpl(entry_fixture *fx)
{
    SET(fx, HOST_CS_SELECTOR, 0x08 | 3);
}

static void ss_ti(entry_fixture *fx)
{
    SET(fx, HOST_SS_SELECTOR, 0x10 | 4);
}

static void ds_rpl(entry_fixture *fx)
{
    SET(fx, HOST_DS_SELECTOR, 0x10 | 1);
}

static void es_ti(entry_fixture *fx)
{
    SET(fx, HOST_ES_SELECTOR, 0x10 | 4);
}

static void fs_rpl(entry_fixture *fx)
{
    SET(fx, HOST_FS_SELECTOR, 0x10 | 2);
}

static void gs_ti(entry_fixture *fx)
{
    SET(fx, HOST_GS_SELECTOR, 0x10 | 4);
}

static void tr_rpl(entry_fixture *fx)
{
    SET(fx, HOST_TR_SELECTOR, 0x18 | 3);
}

static void tr_ti(entry_fixture *fx)
{
    SET(fx, HOST_TR_SELECTOR, 0x18 | 4);
}

static void null_rpl_3_ds(entry_fixture *fx)
{
    /* A null selector with RPL 3 is still a selector with RPL != 0. */
    SET(fx, HOST_DS_SELECTOR, 3);
}

static void cs_null(entry_fixture *fx)
{
    SET(fx, HOST_CS_SELECTOR, 0);
}

static void tr_null(entry_fixture *fx)
{
    SET(fx, HOST_TR_SELECTOR, 0);
}

static void ss_null_32bit_host(entry_fixture *fx)
{
    host_32bit(fx);
    SET(fx, HOST_SS_SELECTOR, 0);
}

static void fs_base_noncanonical(entry_fixture *fx)
{
    SET(fx, HOST_FS_BASE, NONCANONICAL_LOW);
}

static void gs_base_noncanonical(entry_fixture *fx)
{
    SET(fx, HOST_GS_BASE, NONCANONICAL_HIGH);
}

static void gdtr_base_noncanonical(entry_fixture *fx)
{
    SET(fx, HOST_GDTR_BASE, 0x8000000000001000ull);
}

static void idtr_base_noncanonical(entry_fixture *fx)
{
    SET(fx, HOST_IDTR_BASE, 0x0001000000002000ull);
}

static void tr_base_noncanonical(entry_fixture *fx)
{
    SET(fx, HOST_TR_BASE, NONCANONICAL_LOW);
}

/* ---- Rows: 27.2.4 ------------------------------------------------------------------------ */

static void ia32e_guest_32bit_host(entry_fixture *fx)
{
    /* L1 in IA-32e mode, so only the vmcs12 itself is inconsistent. */
    clear_exit(fx, NVMX_CTL(EXIT_HOST_ADDR_SPACE));
}

static void ia32e_guest_from_protected_mode(entry_fixture *fx)
{
    fake_host_set_mode_protected32(&fx->host);
}

static void host64_from_protected_mode(entry_fixture *fx)
{
    fake_host_set_mode_protected32(&fx->host);
    clear_entry(fx, NVMX_CTL(ENTRY_IA32E_MODE));
}

static void host32_from_ia32e_mode(entry_fixture *fx)
{
    clear_exit(fx, NVMX_CTL(EXIT_HOST_ADDR_SPACE));
    clear_entry(fx, NVMX_CTL(ENTRY_IA32E_MODE));
}

static void host32_from_compatibility_mode(entry_fixture *fx)
{
    /* Compatibility mode is IA-32e mode too: the host must still be 64-bit. */
    fake_host_set_mode_compat(&fx->host);
    host32_from_ia32e_mode(fx);
}

static void pcide_32bit_host(entry_fixture *fx)
{
    host_32bit(fx);
    SET(fx, HOST_CR4, GET(fx, HOST_CR4) | NVMX_CR4_PCIDE);
}

static void rip_above_4g_32bit_host(entry_fixture *fx)
{
    host_32bit(fx);
    SET(fx, HOST_RIP, 1ull << 32);
}

static void s_cet_above_4g_32bit_host(entry_fixture *fx)
{
    host_32bit(fx);
    load_cet(fx);
    SET(fx, HOST_S_CET, (1ull << 32) | S_CET_SH_STK_EN);
}

static void ssp_above_4g_32bit_host(entry_fixture *fx)
{
    host_32bit(fx);
    load_cet(fx);
    SET(fx, HOST_SSP, 0x100007FF8ull);
}

static void pae_clear_64bit_host(entry_fixture *fx)
{
    SET(fx, HOST_CR4, GET(fx, HOST_CR4) & ~NVMX_CR4_PAE);
}

static void rip_noncanonical(entry_fixture *fx)
{
    SET(fx, HOST_RIP, NONCANONICAL_LOW);
}

static void rip_noncanonical_high(entry_fixture *fx)
{
    SET(fx, HOST_RIP, NONCANONICAL_HIGH);
}

static void ssp_noncanonical(entry_fixture *fx)
{
    load_cet(fx);
    SET(fx, HOST_SSP, NONCANONICAL_LOW);
}

const entry_break entry_breaks_host[] = {
    /* 27.2.2 */
    {"host.cr0.must_be_1", cr0_pe_clear},
    {"host.cr0.must_be_1", cr0_pg_clear},
    {"host.cr0.must_be_0", cr0_forbidden_bit},
    {"host.cr4.must_be_1", cr4_vmxe_clear},
    {"host.cr4.must_be_0", cr4_forbidden_bit},
    {"host.cr4.cet_requires_cr0_wp", cr4_cet_without_wp},
    {"host.cr3.within_physical_width", cr3_beyond_width},
    {"host.cr3.within_physical_width", cr3_bit_63},
    {"host.sysenter_esp.canonical", sysenter_esp_noncanonical},
    {"host.sysenter_eip.canonical", sysenter_eip_noncanonical},
    {"host.s_cet.canonical", s_cet_noncanonical},
    {"host.intr_ssp_table.canonical", intr_ssp_table_noncanonical},
    {"host.s_cet.reserved_bits", s_cet_bit_6},
    {"host.s_cet.reserved_bits", s_cet_bit_9},
    {"host.s_cet.suppress_tracker_exclusive", s_cet_suppress_and_tracker},
    {"host.ssp.aligned", ssp_misaligned},
    {"host.perf_global_ctrl.reserved_bits", perf_global_ctrl_bit_49},
    {"host.perf_global_ctrl.reserved_bits", perf_global_ctrl_bit_63},
    {"host.pat.memory_types", pat_type_2},
    {"host.pat.memory_types", pat_type_3_in_last_entry},
    {"host.pat.memory_types", pat_type_8},
    {"host.pat.memory_types", pat_type_0x16},
    {"host.efer.reserved_bits", efer_bit_1},
    {"host.efer.reserved_bits", efer_svme},
    {"host.efer.lma_matches_address_space_size", efer_lma_clear_64bit_host},
    {"host.efer.lma_matches_address_space_size", efer_lma_set_32bit_host},
    {"host.efer.lme_matches_address_space_size", efer_lme_clear_64bit_host},
    {"host.efer.lme_matches_address_space_size", efer_lme_set_32bit_host},
    {"host.pkrs.reserved_bits", pkrs_bit_32},
    /* 27.2.3 */
    {"host.cs.selector_rpl_ti", cs_rpl},
    {"host.ss.selector_rpl_ti", ss_ti},
    {"host.ds.selector_rpl_ti", ds_rpl},
    {"host.ds.selector_rpl_ti", null_rpl_3_ds},
    {"host.es.selector_rpl_ti", es_ti},
    {"host.fs.selector_rpl_ti", fs_rpl},
    {"host.gs.selector_rpl_ti", gs_ti},
    {"host.tr.selector_rpl_ti", tr_rpl},
    {"host.tr.selector_rpl_ti", tr_ti},
    {"host.cs.selector_nonzero", cs_null},
    {"host.tr.selector_nonzero", tr_null},
    {"host.ss.selector_nonzero_if_address_space_size_0", ss_null_32bit_host},
    {"host.fs.base_canonical", fs_base_noncanonical},
    {"host.gs.base_canonical", gs_base_noncanonical},
    {"host.gdtr.base_canonical", gdtr_base_noncanonical},
    {"host.idtr.base_canonical", idtr_base_noncanonical},
    {"host.tr.base_canonical", tr_base_noncanonical},
    /* 27.2.4 */
    {"host.address_space.no_ia32e_guest_if_size_0", ia32e_guest_32bit_host},
    {"host.address_space.no_ia32e_guest_outside_ia32e", ia32e_guest_from_protected_mode},
    {"host.address_space.size_0_outside_ia32e", host64_from_protected_mode},
    {"host.address_space.size_1_in_ia32e", host32_from_ia32e_mode},
    {"host.address_space.size_1_in_ia32e", host32_from_compatibility_mode},
    {"host.address_space.no_pcide_if_size_0", pcide_32bit_host},
    {"host.address_space.rip_32bit_if_size_0", rip_above_4g_32bit_host},
    {"host.address_space.s_cet_32bit_if_size_0", s_cet_above_4g_32bit_host},
    {"host.address_space.ssp_32bit_if_size_0", ssp_above_4g_32bit_host},
    {"host.address_space.pae_if_size_1", pae_clear_64bit_host},
    {"host.address_space.rip_canonical", rip_noncanonical},
    {"host.address_space.rip_canonical", rip_noncanonical_high},
    {"host.address_space.ssp_canonical", ssp_noncanonical},
};
const size_t entry_breaks_host_count = sizeof(entry_breaks_host) / sizeof(entry_breaks_host[0]);

/* Every row breaks its rule and no other rule fails before it (SDM 27.2: VMfailValid(8)).
 * The parameters are row indices: Criterion hands them to the test through shared memory,
 * where pointers into this binary's data need not stay valid. */
static void free_indices(struct criterion_test_params *params)
{
    cr_free(params->params);
}

ParameterizedTestParameters(entry_host, row_fails_its_check_first)
{
    size_t *index = cr_malloc(sizeof(*index) * entry_breaks_host_count);
    for (size_t i = 0; i < entry_breaks_host_count; i++)
        index[i] = i;
    return cr_make_param_array(size_t, index, entry_breaks_host_count, free_indices);
}

ParameterizedTest(size_t *index, entry_host, row_fails_its_check_first, .init = setup,
                  .fini = teardown)
{
    const entry_break *row = &entry_breaks_host[*index];
    row->apply(&f);
    /* ASSERT_FIRST_FAILURE's parameter is spelled `name` and also appears as the member in
     * `fc_->info.name`, so the argument must be an identifier called name. */
    const char *name = row->check;
    ASSERT_FIRST_FAILURE(&f, name);
}

/* ---- Edges: the good side of each boundary passes --------------------------------------- */

#define ASSERT_HOST_PASSES(fx)                                                                     \
    do {                                                                                           \
        const char *failed_ = entry_fixture_first_failure((fx), NVMX_CHECK_HOST_STATE);            \
        cr_assert_null(failed_, "host check %s fails", failed_);                                   \
    } while (0)

#define ASSERT_HOST_FAILS(fx, name)                                                                \
    do {                                                                                           \
        const char *failed_ = entry_fixture_first_failure((fx), NVMX_CHECK_HOST_STATE);            \
        cr_assert_not_null(failed_, "expected %s to fail", (name));                                \
        cr_assert_str_eq(failed_, (name));                                                         \
    } while (0)

/* Every host field that must be canonical, with the check that says so. */
static const struct {
    unsigned ordinal;
    const char *check;
} canonical_fields[] = {
    {VMCS12_ORD_HOST_IA32_SYSENTER_ESP, "host.sysenter_esp.canonical"},
    {VMCS12_ORD_HOST_IA32_SYSENTER_EIP, "host.sysenter_eip.canonical"},
    {VMCS12_ORD_HOST_FS_BASE, "host.fs.base_canonical"},
    {VMCS12_ORD_HOST_GS_BASE, "host.gs.base_canonical"},
    {VMCS12_ORD_HOST_GDTR_BASE, "host.gdtr.base_canonical"},
    {VMCS12_ORD_HOST_IDTR_BASE, "host.idtr.base_canonical"},
    {VMCS12_ORD_HOST_TR_BASE, "host.tr.base_canonical"},
    {VMCS12_ORD_HOST_RIP, "host.address_space.rip_canonical"},
};

/* SDM Vol. 1 3.3.7.1: with 48 linear-address bits, 0x00007FFFFFFFFFFF and
 * 0xFFFF800000000000 are the last canonical addresses before the hole; one past fails. */
Test(entry_host, canonical_boundary_of_every_address_field)
{
    for (size_t i = 0; i < sizeof(canonical_fields) / sizeof(canonical_fields[0]); i++) {
        uint64_t saved = f.v.field[canonical_fields[i].ordinal];
        f.v.field[canonical_fields[i].ordinal] = LOW_CANONICAL_MAX;
        ASSERT_HOST_PASSES(&f);
        f.v.field[canonical_fields[i].ordinal] = HIGH_CANONICAL_MIN;
        ASSERT_HOST_PASSES(&f);
        f.v.field[canonical_fields[i].ordinal] = LOW_CANONICAL_MAX + 1;
        ASSERT_HOST_FAILS(&f, canonical_fields[i].check);
        f.v.field[canonical_fields[i].ordinal] = HIGH_CANONICAL_MIN - 1;
        ASSERT_HOST_FAILS(&f, canonical_fields[i].check);
        f.v.field[canonical_fields[i].ordinal] = saved;
    }
}

/* The CET addresses are canonical at the same boundary (27.2.2, 27.2.4). */
Test(entry_host, cet_addresses_canonical_boundary)
{
    load_cet(&f);
    SET(&f, HOST_S_CET, HIGH_CANONICAL_MIN | S_CET_SH_STK_EN | S_CET_ENDBR_EN);
    SET(&f, HOST_SSP, LOW_CANONICAL_MAX & ~7ull);
    SET(&f, HOST_INTR_SSP_TABLE, HIGH_CANONICAL_MIN);
    ASSERT_HOST_PASSES(&f);
    SET(&f, HOST_SSP, HIGH_CANONICAL_MIN);
    SET(&f, HOST_INTR_SSP_TABLE, LOW_CANONICAL_MAX & ~7ull);
    ASSERT_HOST_PASSES(&f);
}

/* CR3 may use every bit below L1's physical-address width (27.2.2). */
Test(entry_host, cr3_up_to_physical_width_passes)
{
    SET(&f, HOST_CR3, (1ull << f.vm.phys_addr_width) - 0x1000);
    ASSERT_HOST_PASSES(&f);
    f.vm.phys_addr_width = 52;
    SET(&f, HOST_CR3, (1ull << 52) - 0x1000);
    ASSERT_HOST_PASSES(&f);
    SET(&f, HOST_CR3, 1ull << 52);
    ASSERT_HOST_FAILS(&f, "host.cr3.within_physical_width");
}

/* The fixed bits come from the exposed capabilities, not from a constant (27.2.2, A.7/A.8). */
Test(entry_host, cr_fixed_bits_follow_exposed_caps)
{
    f.vm.caps.cr0_fixed0 |= NVMX_CR0_WP;
    ASSERT_HOST_FAILS(&f, "host.cr0.must_be_1");
    SET(&f, HOST_CR0, GET(&f, HOST_CR0) | NVMX_CR0_WP);
    ASSERT_HOST_PASSES(&f);
    f.vm.caps.cr4_fixed1 &= ~NVMX_CR4_PAE;
    ASSERT_HOST_FAILS(&f, "host.cr4.must_be_0");
}

/* CR4.CET with CR0.WP is the allowed combination (27.2.2). */
Test(entry_host, cr4_cet_with_wp_passes)
{
    SET(&f, HOST_CR0, GET(&f, HOST_CR0) | NVMX_CR0_WP);
    SET(&f, HOST_CR4, GET(&f, HOST_CR4) | NVMX_CR4_CET);
    ASSERT_HOST_PASSES(&f);
}

/* Each PAT entry accepts exactly the types 0, 1, 4, 5, 6, 7: all 256 byte values in each of
 * the 8 entries (27.2.2). */
Test(entry_host, pat_each_entry_accepts_exactly_the_valid_types)
{
    load_pat(&f);
    for (unsigned entry = 0; entry < 8; entry++) {
        for (unsigned value = 0; value < 256; value++) {
            uint64_t pat = (0x0606060606060606ull & ~(0xFFull << (8 * entry))) |
                           ((uint64_t)value << (8 * entry));
            SET(&f, HOST_IA32_PAT, pat);
            bool valid = value == 0 || value == 1 || (value >= 4 && value <= 7);
            const char *failed = entry_fixture_first_failure(&f, NVMX_CHECK_HOST_STATE);
            if (valid)
                cr_assert_null(failed, "PAT %016llx fails %s", (unsigned long long)pat, failed);
            else
                cr_assert_str_eq(failed ? failed : "(none)", "host.pat.memory_types", "PAT %016llx",
                                 (unsigned long long)pat);
        }
    }
}

/* Every defined EFER bit may be loaded (27.2.2). */
Test(entry_host, efer_defined_bits_pass)
{
    load_efer(&f);
    SET(&f, HOST_IA32_EFER, NVMX_EFER_SCE | NVMX_EFER_LME | NVMX_EFER_LMA | NVMX_EFER_NXE);
    ASSERT_HOST_PASSES(&f);
}

/* Bits 48:0 of IA32_PERF_GLOBAL_CTRL and bits 31:0 of IA32_PKRS may be set (27.2.2). */
Test(entry_host, perf_global_ctrl_and_pkrs_defined_bits_pass)
{
    enable_exit(&f, NVMX_CTL(EXIT_LOAD_PERF_GLOBAL) | NVMX_CTL(EXIT_LOAD_PKRS));
    SET(&f, HOST_IA32_PERF_GLOBAL_CTRL, (1ull << 49) - 1);
    SET(&f, HOST_IA32_PKRS, 0xFFFFFFFFull);
    ASSERT_HOST_PASSES(&f);
}

/* A field whose VM-exit control is 0 is not loaded, so it is not checked (27.2.2). */
Test(entry_host, unloaded_msr_fields_are_not_checked)
{
    SET(&f, HOST_IA32_PAT, ~0ull);
    SET(&f, HOST_IA32_EFER, ~0ull);
    SET(&f, HOST_IA32_PERF_GLOBAL_CTRL, ~0ull);
    SET(&f, HOST_IA32_PKRS, ~0ull);
    SET(&f, HOST_S_CET, ~0ull);
    SET(&f, HOST_SSP, ~0ull);
    SET(&f, HOST_INTR_SSP_TABLE, ~0ull);
    ASSERT_HOST_PASSES(&f);
}

/* Selectors with any index pass as long as RPL and TI are 0; SS may be null for a 64-bit
 * host (27.2.3). */
Test(entry_host, selector_index_bits_and_null_ss_pass)
{
    SET(&f, HOST_CS_SELECTOR, 0xFFF8);
    SET(&f, HOST_TR_SELECTOR, 0xFFF8);
    SET(&f, HOST_SS_SELECTOR, 0);
    SET(&f, HOST_DS_SELECTOR, 0);
    SET(&f, HOST_ES_SELECTOR, 0);
    SET(&f, HOST_FS_SELECTOR, 0);
    SET(&f, HOST_GS_SELECTOR, 0);
    ASSERT_HOST_PASSES(&f);
}

/* A 32-bit host from a 32-bit L1 is consistent, with RIP anywhere below 4 GiB and the CET
 * state in 32 bits (27.2.4). */
Test(entry_host, host_32bit_from_protected_mode_passes)
{
    host_32bit(&f);
    SET(&f, HOST_RIP, 0xFFFFFFFFull);
    load_efer(&f);
    SET(&f, HOST_IA32_EFER, NVMX_EFER_NXE);
    load_cet(&f);
    SET(&f, HOST_S_CET, 0xFFFFF000ull | S_CET_SH_STK_EN);
    SET(&f, HOST_SSP, 0xFFFFFFFCull);
    SET(&f, HOST_INTR_SSP_TABLE, 0xFFFFF000ull);
    ASSERT_HOST_PASSES(&f);
}

/* The address-space-size rules look at L1's IA32_EFER.LMA, not at its code segment:
 * compatibility mode is IA-32e mode (27.2.4). */
Test(entry_host, host_64bit_from_compatibility_mode_passes)
{
    fake_host_set_mode_compat(&f.host);
    ASSERT_HOST_PASSES(&f);
}

/* Selector fields hold 16 bits: only those are the selector, even if a slot held more
 * (27.2.3). */
Test(entry_host, only_the_16_selector_bits_count)
{
    SET(&f, HOST_CS_SELECTOR, 0x10000);
    ASSERT_HOST_FAILS(&f, "host.cs.selector_nonzero");
}
