/* SPDX-License-Identifier: MIT */
/*
 * Checks on the host-state area (SDM Vol. 3C 27.2.2 "Checks on Host Control Registers, MSRs,
 * and SSP", 27.2.3 "Checks on Host Segment and Descriptor-Table Registers", 27.2.4 "Checks
 * Related to Address-Space Size"). A failure is VMfailValid(8). One table entry per rule, in
 * the SDM's order (one exception in 27.2.4, explained there); a rule that a VM-exit control
 * enables holds trivially when that control is 0.
 *
 * L1 is a 64-bit processor: the library models only processors that support Intel 64
 * architecture, so every "on processors that support Intel 64 architecture" rule applies.
 */
#include "entry_checks.h"

/* The architecture facts the rules name are in include/nestvmx/controls.h and lib/arch.h. */

/* ---- Shared helpers -------------------------------------------------------------------- */

static bool exit_control(const entry_check_ctx *c, uint64_t control)
{
    return (c->exit & control) != 0;
}

/* The "host address-space size" VM-exit control: L1 returns to 64-bit mode (SDM 25.7.1). */
static bool host64(const entry_check_ctx *c)
{
    return exit_control(c, NVMX_CTL(EXIT_HOST_ADDR_SPACE));
}

static bool loads_cet(const entry_check_ctx *c)
{
    return exit_control(c, NVMX_CTL(EXIT_LOAD_CET));
}

/* SDM A.7/A.8: a bit 1 in FIXED0 must be 1 ... */
static bool fixed0_set(uint64_t value, uint64_t fixed0)
{
    return (value & fixed0) == fixed0;
}

/* ... and a bit 0 in FIXED1 must be 0. */
static bool fixed1_clear(uint64_t value, uint64_t fixed1)
{
    return (value & ~fixed1) == 0;
}

/* 27.2.3: the selector points at the GDT (TI = 0) with RPL 0. Only the 16 bits of the field
 * are the selector. */
static bool selector_rpl_ti_clear(uint64_t selector)
{
    return ((uint16_t)selector & (NVMX_SELECTOR_RPL_MASK | NVMX_SELECTOR_TI)) == 0;
}

static bool selector_nonzero(uint64_t selector)
{
    return (uint16_t)selector != 0;
}

/* ---- 27.2.2 Host control registers, MSRs and SSP ----------------------------------------- */

/* CR0 and CR4 must hold only values supported in VMX operation (SDM 24.8): those L1 sees in
 * the exposed IA32_VMX_CR0/CR4_FIXED0/FIXED1, since VM exit loads them into L1's CRs. */
static bool cr0_must_be_1(const entry_check_ctx *c)
{
    return fixed0_set(FIELD(c, HOST_CR0), c->vm->caps.cr0_fixed0);
}

static bool cr0_must_be_0(const entry_check_ctx *c)
{
    return fixed1_clear(FIELD(c, HOST_CR0), c->vm->caps.cr0_fixed1);
}

static bool cr4_must_be_1(const entry_check_ctx *c)
{
    return fixed0_set(FIELD(c, HOST_CR4), c->vm->caps.cr4_fixed0);
}

static bool cr4_must_be_0(const entry_check_ctx *c)
{
    return fixed1_clear(FIELD(c, HOST_CR4), c->vm->caps.cr4_fixed1);
}

/* CR4.CET = 1 needs CR0.WP = 1, as MOV to CR4 requires (SDM Vol. 3A 2.5). */
static bool cr4_cet_requires_wp(const entry_check_ctx *c)
{
    return !(FIELD(c, HOST_CR4) & NVMX_CR4_CET) || (FIELD(c, HOST_CR0) & NVMX_CR0_WP);
}

/* Bits 63:52 and the bits of 51:32 beyond L1's physical-address width are 0. */
static bool cr3_within_width(const entry_check_ctx *c)
{
    return !entry_address_too_wide(c, FIELD(c, HOST_CR3));
}

static bool sysenter_esp_canonical(const entry_check_ctx *c)
{
    return canonical48(FIELD(c, HOST_IA32_SYSENTER_ESP));
}

static bool sysenter_eip_canonical(const entry_check_ctx *c)
{
    return canonical48(FIELD(c, HOST_IA32_SYSENTER_EIP));
}

/* "load CET state": IA32_S_CET holds the legacy-code-page bitmap address in bits 63:12 and
 * must be canonical, as must the interrupt-SSP-table address. */
static bool s_cet_canonical(const entry_check_ctx *c)
{
    return !loads_cet(c) || canonical48(FIELD(c, HOST_S_CET));
}

static bool intr_ssp_table_canonical(const entry_check_ctx *c)
{
    return !loads_cet(c) || canonical48(FIELD(c, HOST_INTR_SSP_TABLE));
}

/* "load CET state": bits reserved in IA32_S_CET are 0, and SUPPRESS excludes TRACKER. */
static bool s_cet_reserved_clear(const entry_check_ctx *c)
{
    return !loads_cet(c) || (FIELD(c, HOST_S_CET) & S_CET_RESERVED) == 0;
}

static bool s_cet_suppress_tracker_exclusive(const entry_check_ctx *c)
{
    uint64_t both = S_CET_SUPPRESS | S_CET_TRACKER;
    return !loads_cet(c) || (FIELD(c, HOST_S_CET) & both) != both;
}

/* "load CET state": the SSP field is 4-byte aligned. */
static bool ssp_aligned(const entry_check_ctx *c)
{
    return !loads_cet(c) || (FIELD(c, HOST_SSP) & SSP_ALIGNMENT_BITS) == 0;
}

static bool perf_global_ctrl_reserved_clear(const entry_check_ctx *c)
{
    return !exit_control(c, NVMX_CTL(EXIT_LOAD_PERF_GLOBAL)) ||
           (FIELD(c, HOST_IA32_PERF_GLOBAL_CTRL) & PERF_GLOBAL_CTRL_RESERVED) == 0;
}

/* "load IA32_PAT": a value WRMSR would accept at CPL 0, each of the 8 entries a valid type. */
static bool pat_types_valid(const entry_check_ctx *c)
{
    if (!exit_control(c, NVMX_CTL(EXIT_LOAD_PAT)))
        return true;
    return pat_valid(FIELD(c, HOST_IA32_PAT));
}

static bool loads_efer(const entry_check_ctx *c)
{
    return exit_control(c, NVMX_CTL(EXIT_LOAD_EFER));
}

static bool efer_reserved_clear(const entry_check_ctx *c)
{
    return !loads_efer(c) || (FIELD(c, HOST_IA32_EFER) & ~EFER_DEFINED) == 0;
}

/* "load IA32_EFER": LMA and LME each equal "host address-space size", the mode VM exit
 * puts L1 in (SDM 28.5.1 loads both from that control when IA32_EFER is not loaded). */
static bool efer_lma_matches(const entry_check_ctx *c)
{
    return !loads_efer(c) || ((FIELD(c, HOST_IA32_EFER) & NVMX_EFER_LMA) != 0) == host64(c);
}

static bool efer_lme_matches(const entry_check_ctx *c)
{
    return !loads_efer(c) || ((FIELD(c, HOST_IA32_EFER) & NVMX_EFER_LME) != 0) == host64(c);
}

/* IA32_PKRS holds 16 2-bit keys in bits 31:0; bits 63:32 are reserved (SDM Vol. 3A 4.6.2,
 * "Protection Keys"). */
static bool pkrs_reserved_clear(const entry_check_ctx *c)
{
    return !exit_control(c, NVMX_CTL(EXIT_LOAD_PKRS)) || upper_32_clear(FIELD(c, HOST_IA32_PKRS));
}

/* ---- 27.2.3 Host segment and descriptor-table registers ----------------------------------- */

static bool cs_rpl_ti(const entry_check_ctx *c)
{
    return selector_rpl_ti_clear(FIELD(c, HOST_CS_SELECTOR));
}

static bool ss_rpl_ti(const entry_check_ctx *c)
{
    return selector_rpl_ti_clear(FIELD(c, HOST_SS_SELECTOR));
}

static bool ds_rpl_ti(const entry_check_ctx *c)
{
    return selector_rpl_ti_clear(FIELD(c, HOST_DS_SELECTOR));
}

static bool es_rpl_ti(const entry_check_ctx *c)
{
    return selector_rpl_ti_clear(FIELD(c, HOST_ES_SELECTOR));
}

static bool fs_rpl_ti(const entry_check_ctx *c)
{
    return selector_rpl_ti_clear(FIELD(c, HOST_FS_SELECTOR));
}

static bool gs_rpl_ti(const entry_check_ctx *c)
{
    return selector_rpl_ti_clear(FIELD(c, HOST_GS_SELECTOR));
}

static bool tr_rpl_ti(const entry_check_ctx *c)
{
    return selector_rpl_ti_clear(FIELD(c, HOST_TR_SELECTOR));
}

static bool cs_nonzero(const entry_check_ctx *c)
{
    return selector_nonzero(FIELD(c, HOST_CS_SELECTOR));
}

static bool tr_nonzero(const entry_check_ctx *c)
{
    return selector_nonzero(FIELD(c, HOST_TR_SELECTOR));
}

/* Outside 64-bit mode a null SS cannot be used, so a 32-bit host needs a real one. */
static bool ss_nonzero_if_32bit(const entry_check_ctx *c)
{
    return host64(c) || selector_nonzero(FIELD(c, HOST_SS_SELECTOR));
}

static bool fs_base_canonical(const entry_check_ctx *c)
{
    return canonical48(FIELD(c, HOST_FS_BASE));
}

static bool gs_base_canonical(const entry_check_ctx *c)
{
    return canonical48(FIELD(c, HOST_GS_BASE));
}

static bool gdtr_base_canonical(const entry_check_ctx *c)
{
    return canonical48(FIELD(c, HOST_GDTR_BASE));
}

static bool idtr_base_canonical(const entry_check_ctx *c)
{
    return canonical48(FIELD(c, HOST_IDTR_BASE));
}

static bool tr_base_canonical(const entry_check_ctx *c)
{
    return canonical48(FIELD(c, HOST_TR_BASE));
}

/* ---- 27.2.4 Address-space size --------------------------------------------------------- */

static bool ia32e_guest(const entry_check_ctx *c)
{
    return (c->entry & NVMX_CTL(ENTRY_IA32E_MODE)) != 0;
}

/* "host address-space size" 0 -> "IA-32e mode guest" 0. The two rules on L1's mode below
 * imply this one, so in the SDM's order it could never be the first to fail; it runs first
 * in this section so that the failure it describes (a vmcs12 that is inconsistent whatever
 * L1's mode) is named after it. */
static bool no_ia32e_guest_if_size_0(const entry_check_ctx *c)
{
    return host64(c) || !ia32e_guest(c);
}

/* L1 outside IA-32e mode (IA32_EFER.LMA = 0) can neither enter a 64-bit guest ... */
static bool no_ia32e_guest_outside_ia32e(const entry_check_ctx *c)
{
    return c->l1_ia32e || !ia32e_guest(c);
}

/* ... nor return to a 64-bit host; */
static bool size_0_outside_ia32e(const entry_check_ctx *c)
{
    return c->l1_ia32e || !host64(c);
}

/* L1 in IA-32e mode must return to IA-32e mode: VM exit does not leave it. */
static bool size_1_in_ia32e(const entry_check_ctx *c)
{
    return !c->l1_ia32e || host64(c);
}

/* A 32-bit host: no PCIDs (CR4.PCIDE needs IA-32e mode, SDM Vol. 3A 4.10.1), a 32-bit RIP,
 * and with "load CET state" 32-bit IA32_S_CET and SSP. */
static bool no_pcide_if_size_0(const entry_check_ctx *c)
{
    return host64(c) || !(FIELD(c, HOST_CR4) & NVMX_CR4_PCIDE);
}

static bool rip_32bit_if_size_0(const entry_check_ctx *c)
{
    return host64(c) || upper_32_clear(FIELD(c, HOST_RIP));
}

static bool s_cet_32bit_if_size_0(const entry_check_ctx *c)
{
    return host64(c) || !loads_cet(c) || upper_32_clear(FIELD(c, HOST_S_CET));
}

static bool ssp_32bit_if_size_0(const entry_check_ctx *c)
{
    return host64(c) || !loads_cet(c) || upper_32_clear(FIELD(c, HOST_SSP));
}

/* A 64-bit host: PAE paging underlies IA-32e mode, and RIP and SSP are canonical. */
static bool pae_if_size_1(const entry_check_ctx *c)
{
    return !host64(c) || (FIELD(c, HOST_CR4) & NVMX_CR4_PAE);
}

static bool rip_canonical_if_size_1(const entry_check_ctx *c)
{
    return !host64(c) || canonical48(FIELD(c, HOST_RIP));
}

static bool ssp_canonical_if_size_1(const entry_check_ctx *c)
{
    return !host64(c) || !loads_cet(c) || canonical48(FIELD(c, HOST_SSP));
}

/* ---- The table --------------------------------------------------------------------------- */

#define HOST(name, section, fn) ENTRY_CHECK(name, NVMX_CHECK_HOST_STATE, section, 0, fn)

const entry_check entry_checks_host[] = {
    /* 27.2.2 */
    HOST("host.cr0.must_be_1", "27.2.2", cr0_must_be_1),
    HOST("host.cr0.must_be_0", "27.2.2", cr0_must_be_0),
    HOST("host.cr4.must_be_1", "27.2.2", cr4_must_be_1),
    HOST("host.cr4.must_be_0", "27.2.2", cr4_must_be_0),
    HOST("host.cr4.cet_requires_cr0_wp", "27.2.2", cr4_cet_requires_wp),
    HOST("host.cr3.within_physical_width", "27.2.2", cr3_within_width),
    HOST("host.sysenter_esp.canonical", "27.2.2", sysenter_esp_canonical),
    HOST("host.sysenter_eip.canonical", "27.2.2", sysenter_eip_canonical),
    HOST("host.s_cet.canonical", "27.2.2", s_cet_canonical),
    HOST("host.intr_ssp_table.canonical", "27.2.2", intr_ssp_table_canonical),
    HOST("host.s_cet.reserved_bits", "27.2.2", s_cet_reserved_clear),
    HOST("host.s_cet.suppress_tracker_exclusive", "27.2.2", s_cet_suppress_tracker_exclusive),
    HOST("host.ssp.aligned", "27.2.2", ssp_aligned),
    HOST("host.perf_global_ctrl.reserved_bits", "27.2.2", perf_global_ctrl_reserved_clear),
    HOST("host.pat.memory_types", "27.2.2", pat_types_valid),
    HOST("host.efer.reserved_bits", "27.2.2", efer_reserved_clear),
    HOST("host.efer.lma_matches_address_space_size", "27.2.2", efer_lma_matches),
    HOST("host.efer.lme_matches_address_space_size", "27.2.2", efer_lme_matches),
    HOST("host.pkrs.reserved_bits", "27.2.2", pkrs_reserved_clear),
    /* 27.2.3 */
    HOST("host.cs.selector_rpl_ti", "27.2.3", cs_rpl_ti),
    HOST("host.ss.selector_rpl_ti", "27.2.3", ss_rpl_ti),
    HOST("host.ds.selector_rpl_ti", "27.2.3", ds_rpl_ti),
    HOST("host.es.selector_rpl_ti", "27.2.3", es_rpl_ti),
    HOST("host.fs.selector_rpl_ti", "27.2.3", fs_rpl_ti),
    HOST("host.gs.selector_rpl_ti", "27.2.3", gs_rpl_ti),
    HOST("host.tr.selector_rpl_ti", "27.2.3", tr_rpl_ti),
    HOST("host.cs.selector_nonzero", "27.2.3", cs_nonzero),
    HOST("host.tr.selector_nonzero", "27.2.3", tr_nonzero),
    HOST("host.ss.selector_nonzero_if_address_space_size_0", "27.2.3", ss_nonzero_if_32bit),
    HOST("host.fs.base_canonical", "27.2.3", fs_base_canonical),
    HOST("host.gs.base_canonical", "27.2.3", gs_base_canonical),
    HOST("host.gdtr.base_canonical", "27.2.3", gdtr_base_canonical),
    HOST("host.idtr.base_canonical", "27.2.3", idtr_base_canonical),
    HOST("host.tr.base_canonical", "27.2.3", tr_base_canonical),
    /* 27.2.4 */
    HOST("host.address_space.no_ia32e_guest_if_size_0", "27.2.4", no_ia32e_guest_if_size_0),
    HOST("host.address_space.no_ia32e_guest_outside_ia32e", "27.2.4", no_ia32e_guest_outside_ia32e),
    HOST("host.address_space.size_0_outside_ia32e", "27.2.4", size_0_outside_ia32e),
    HOST("host.address_space.size_1_in_ia32e", "27.2.4", size_1_in_ia32e),
    HOST("host.address_space.no_pcide_if_size_0", "27.2.4", no_pcide_if_size_0),
    HOST("host.address_space.rip_32bit_if_size_0", "27.2.4", rip_32bit_if_size_0),
    HOST("host.address_space.s_cet_32bit_if_size_0", "27.2.4", s_cet_32bit_if_size_0),
    HOST("host.address_space.ssp_32bit_if_size_0", "27.2.4", ssp_32bit_if_size_0),
    HOST("host.address_space.pae_if_size_1", "27.2.4", pae_if_size_1),
    HOST("host.address_space.rip_canonical", "27.2.4", rip_canonical_if_size_1),
    HOST("host.address_space.ssp_canonical", "27.2.4", ssp_canonical_if_size_1),
};
const size_t entry_checks_host_count = NVMX_ARRAY_SIZE(entry_checks_host);
