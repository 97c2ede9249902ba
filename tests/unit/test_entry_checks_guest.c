/* SPDX-License-Identifier: MIT */
/*
 * Checks on the guest-state area (SDM Vol. 3C 27.3.1). Each row of entry_breaks_guest starts
 * from the known-good vmcs12, enables what its rule needs (a 32-bit, PAE, virtual-8086 or
 * unrestricted real-mode guest, a VMCS link pointer, an injected event) while staying valid
 * for the control and host-state checks, and breaks exactly that rule: the check must be the
 * first to fail over all categories, with the exit qualification of SDM 27.8. Positive tests
 * cover the edges the SDM permits.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "ept/eptp.h"
#include "entry_fixture.h"

/* ---- Values ----------------------------------------------------------------------------- */

/* Access rights (SDM 25.4.1); AR_V8086 (read/write accessed data, S, DPL 3, P) is arch.h's. */
#define AR_CODE32 /* execute/read accessed code, S, P, D, G: C09BH */                              \
    (NVMX_AR_TYPE_CODE_ER_ACCESSED | NVMX_AR_S | NVMX_AR_P | NVMX_AR_DB | NVMX_AR_G)
#define AR_REAL_CODE /* the same, 16-bit and byte-granular: 009BH */                               \
    (NVMX_AR_TYPE_CODE_ER_ACCESSED | NVMX_AR_S | NVMX_AR_P)
#define AR_REAL_DATA /* read/write accessed data, S, P: 0093H */                                   \
    (NVMX_AR_TYPE_DATA_RW_ACCESSED | NVMX_AR_S | NVMX_AR_P)
#define AR_LDT (NVMX_AR_TYPE_LDT | NVMX_AR_P) /* LDT, P: 0082H */

#define NONCANONICAL 0x0000800000000000ull
#define BITS_63_48_DIFFER 0x0001000000000000ull

/* EPT pointer: WB, 4-level walk (SDM 25.6.11). */
#define EPTP_WB_4LEVEL (0x200000ull | (3u << EPTP_WALK_SHIFT) | MEMTYPE_WB)

/* Guest-physical pages of the fake host's RAM (16 MiB) the rows use. */
#define PDPT_GPA 0x100000ull /* the fixture's guest CR3 */
#define LINK_GPA 0x400000ull
#define UNBACKED_GPA 0x10000000ull

/* ---- Segments ---------------------------------------------------------------------------- */

enum { SEL, BASE, LIMIT, ACCESS };

#define SEG_ORDINALS(SEG)                                                                          \
    [NVMX_SEG_##SEG] = {VMCS12_ORD_GUEST_##SEG##_SELECTOR, VMCS12_ORD_GUEST_##SEG##_BASE,          \
                        VMCS12_ORD_GUEST_##SEG##_LIMIT, VMCS12_ORD_GUEST_##SEG##_AR_BYTES}
static const unsigned seg_ordinal[NVMX_SEG_COUNT][4] = {
    SEG_ORDINALS(ES), SEG_ORDINALS(CS), SEG_ORDINALS(SS),   SEG_ORDINALS(DS),
    SEG_ORDINALS(FS), SEG_ORDINALS(GS), SEG_ORDINALS(LDTR), SEG_ORDINALS(TR),
};

static uint64_t seg_get(entry_fixture *f, nvmx_seg s, unsigned which)
{
    return f->v.field[seg_ordinal[s][which]];
}

static void seg_set(entry_fixture *f, nvmx_seg s, unsigned which, uint64_t value)
{
    f->v.field[seg_ordinal[s][which]] = value;
}

static void segment(entry_fixture *f, nvmx_seg s, uint16_t sel, uint64_t base, uint32_t limit,
                    uint32_t ar)
{
    seg_set(f, s, SEL, sel);
    seg_set(f, s, BASE, base);
    seg_set(f, s, LIMIT, limit);
    seg_set(f, s, ACCESS, ar);
}

static const nvmx_seg code_data[] = {NVMX_SEG_CS, NVMX_SEG_SS, NVMX_SEG_DS,
                                     NVMX_SEG_ES, NVMX_SEG_FS, NVMX_SEG_GS};

/* ---- Guests the rows start from ------------------------------------------------------- */

static void entry_controls_set(entry_fixture *f, uint64_t bits)
{
    SET(f, VM_ENTRY_CONTROLS, GET(f, VM_ENTRY_CONTROLS) | bits);
}

static void secondary_controls_set(entry_fixture *f, uint64_t bits)
{
    SET(f, CPU_BASED_VM_EXEC_CONTROL,
        GET(f, CPU_BASED_VM_EXEC_CONTROL) | NVMX_CTL(SECONDARY_CONTROLS));
    SET(f, SECONDARY_VM_EXEC_CONTROL, GET(f, SECONDARY_VM_EXEC_CONTROL) | bits);
}

/* EPT with a valid EPT pointer (SDM 27.2.1.1). */
static void enable_ept(entry_fixture *f)
{
    secondary_controls_set(f, NVMX_CTL(EPT));
    SET(f, EPT_POINTER, EPTP_WB_4LEVEL);
}

/* "Unrestricted guest" needs "enable EPT" (SDM 27.2.1.1). */
static void enable_unrestricted(entry_fixture *f)
{
    enable_ept(f);
    secondary_controls_set(f, NVMX_CTL(UNRESTRICTED_GUEST));
}

/* VMCS shadowing with valid VMREAD/VMWRITE bitmaps (SDM 27.2.1.1). */
static void enable_shadowing(entry_fixture *f)
{
    secondary_controls_set(f, NVMX_CTL(SHADOW_VMCS));
    SET(f, VMREAD_BITMAP, 0x300000);
    SET(f, VMWRITE_BITMAP, 0x301000);
}

/* 32-bit protected mode with 32-bit paging. */
static void make_protected32(entry_fixture *f)
{
    SET(f, VM_ENTRY_CONTROLS, GET(f, VM_ENTRY_CONTROLS) & ~NVMX_CTL(ENTRY_IA32E_MODE));
    SET(f, GUEST_CR4, NVMX_CR4_VMXE);
    SET(f, GUEST_IA32_EFER, 0);
    seg_set(f, NVMX_SEG_CS, ACCESS, AR_CODE32);
}

/* PAE paging with four present, valid PDPTEs at CR3 (SDM Vol. 3A 4.4.1). */
static uint64_t good_pdpte(unsigned i)
{
    return 0x200001ull + 0x1000ull * i;
}

static void make_pae(entry_fixture *f)
{
    make_protected32(f);
    SET(f, GUEST_CR4, NVMX_CR4_VMXE | NVMX_CR4_PAE);
    for (unsigned i = 0; i < 4; i++)
        fake_host_write64(&f->host, PDPT_GPA + 8 * i, good_pdpte(i));
}

/* PAE paging under EPT: the PDPTEs are the GUEST_PDPTRn fields (SDM 27.3.1.6). */
static void make_pae_ept(entry_fixture *f)
{
    make_pae(f);
    enable_ept(f);
    SET(f, GUEST_PDPTR0, good_pdpte(0));
    SET(f, GUEST_PDPTR1, good_pdpte(1));
    SET(f, GUEST_PDPTR2, good_pdpte(2));
    SET(f, GUEST_PDPTR3, good_pdpte(3));
}

/* The six segments of virtual-8086 mode: base = selector * 16, 64 KiB, AR F3H. */
static void v8086_segments(entry_fixture *f)
{
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(code_data); i++) {
        uint16_t sel = (uint16_t)(0x1000u * (i + 1));
        segment(f, code_data[i], sel, (uint64_t)sel << 4, 0xFFFF, AR_V8086);
    }
}

/* Virtual-8086 mode under 32-bit protected mode; TR stays a busy 32-bit TSS. */
static void make_v8086(entry_fixture *f)
{
    make_protected32(f);
    v8086_segments(f);
    SET(f, GUEST_RFLAGS, NVMX_RFLAGS_VM | NVMX_RFLAGS_FIXED1);
}

/* Real mode (CR0.PE = PG = 0) under "unrestricted guest". */
static void make_real_unrestricted(entry_fixture *f)
{
    enable_unrestricted(f);
    make_protected32(f);
    SET(f, GUEST_CR0, NVMX_CR0_NE | NVMX_CR0_ET);
    segment(f, NVMX_SEG_CS, 0xF000, 0xF0000, 0xFFFF, AR_REAL_CODE);
    for (unsigned i = 1; i < NVMX_ARRAY_SIZE(code_data); i++)
        segment(f, code_data[i], 0, 0, 0xFFFF, AR_REAL_DATA);
    SET(f, GUEST_RIP, 0xFFF0);
}

/* CPL 3: CS and SS at RPL and DPL 3. */
static void make_cpl3(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_CS, SEL, 0x2B);
    seg_set(f, NVMX_SEG_CS, ACCESS, 0xA0FB);
    seg_set(f, NVMX_SEG_SS, SEL, 0x33);
    seg_set(f, NVMX_SEG_SS, ACCESS, 0xC0F3);
}

static void make_usable_ldtr(entry_fixture *f)
{
    segment(f, NVMX_SEG_LDTR, 0x28, 0x4000, 0x67, AR_LDT);
}

static void inject(entry_fixture *f, unsigned type, unsigned vector)
{
    SET(f, VM_ENTRY_INTR_INFO_FIELD,
        NVMX_INTR_INFO_VALID | (type << NVMX_INTR_INFO_TYPE_SHIFT) | vector);
}

static void rflags_set(entry_fixture *f, uint64_t bits)
{
    SET(f, GUEST_RFLAGS, GET(f, GUEST_RFLAGS) | bits);
}

/* A VMCS region at LINK_GPA with this revision word, named by the link pointer. */
static void link_to_region(entry_fixture *f, uint32_t revision)
{
    fake_host_write32(&f->host, LINK_GPA, revision);
    SET(f, VMCS_LINK_POINTER, LINK_GPA);
}

/* ---- 27.3.1.1 rows ---------------------------------------------------------------------- */

static void cr0_ne_clear(entry_fixture *f)
{
    SET(f, GUEST_CR0, GET(f, GUEST_CR0) & ~NVMX_CR0_NE);
}

static void cr0_pe_clear_restricted(entry_fixture *f)
{
    SET(f, GUEST_CR0, GET(f, GUEST_CR0) & ~NVMX_CR0_PE);
}

static void cr0_bit_63(entry_fixture *f)
{
    SET(f, GUEST_CR0, GET(f, GUEST_CR0) | (1ull << 63));
}

static void cr0_pg_without_pe(entry_fixture *f)
{
    enable_unrestricted(f);
    SET(f, GUEST_CR0, NVMX_CR0_PG | NVMX_CR0_NE | NVMX_CR0_ET);
}

static void cr4_vmxe_clear(entry_fixture *f)
{
    SET(f, GUEST_CR4, GET(f, GUEST_CR4) & ~NVMX_CR4_VMXE);
}

static void cr4_undefined_bit(entry_fixture *f)
{
    SET(f, GUEST_CR4, GET(f, GUEST_CR4) | (1ull << 31));
}

static void cr4_cet_without_wp(entry_fixture *f)
{
    SET(f, GUEST_CR4, GET(f, GUEST_CR4) | NVMX_CR4_CET);
}

static void debugctl_reserved(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_DEBUG));
    SET(f, GUEST_IA32_DEBUGCTL, 1u << 3);
}

static void ia32e_without_pg(entry_fixture *f)
{
    enable_unrestricted(f);
    SET(f, GUEST_CR0, NVMX_CR0_PE | NVMX_CR0_NE | NVMX_CR0_ET);
}

static void ia32e_without_pae(entry_fixture *f)
{
    SET(f, GUEST_CR4, NVMX_CR4_VMXE);
}

static void pcide_outside_ia32e(entry_fixture *f)
{
    make_protected32(f);
    SET(f, GUEST_CR4, GET(f, GUEST_CR4) | NVMX_CR4_PCIDE);
}

static void cr3_too_wide(entry_fixture *f)
{
    SET(f, GUEST_CR3, GET(f, GUEST_CR3) | (1ull << 46));
}

static void dr7_upper(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_DEBUG));
    SET(f, GUEST_DR7, GET(f, GUEST_DR7) | (1ull << 32));
}

static void sysenter_esp_noncanonical(entry_fixture *f)
{
    SET(f, GUEST_SYSENTER_ESP, NONCANONICAL);
}

static void sysenter_eip_noncanonical(entry_fixture *f)
{
    SET(f, GUEST_SYSENTER_EIP, NONCANONICAL);
}

static void s_cet_noncanonical(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_CET));
    SET(f, GUEST_S_CET, NONCANONICAL);
}

static void ssp_table_noncanonical(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_CET));
    SET(f, GUEST_INTR_SSP_TABLE, NONCANONICAL);
}

static void perf_global_reserved(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_PERF_GLOBAL));
    SET(f, GUEST_IA32_PERF_GLOBAL_CTRL, 1ull << 60);
}

static void pat_type_2(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_PAT));
    SET(f, GUEST_IA32_PAT, 0x0007040600020406ull);
}

static void pat_type_8(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_PAT));
    SET(f, GUEST_IA32_PAT, 0x0807040600070406ull);
}

static void efer_reserved(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_EFER));
    SET(f, GUEST_IA32_EFER, NVMX_EFER_LME | NVMX_EFER_LMA | (1u << 1));
}

static void efer_lma_without_ia32e(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_EFER));
    SET(f, GUEST_IA32_EFER, NVMX_EFER_LME);
}

static void efer_lme_clear_with_lma(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_EFER));
    SET(f, GUEST_IA32_EFER, NVMX_EFER_LMA);
}

/* A 32-bit paging guest with EFER.LME set: long mode half enabled. */
static void efer_lme_in_legacy_paging(entry_fixture *f)
{
    make_protected32(f);
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_EFER));
    SET(f, GUEST_IA32_EFER, NVMX_EFER_LME);
}

static void bndcfgs_reserved(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_BNDCFGS));
    SET(f, GUEST_BNDCFGS, 1u << 2);
}

static void bndcfgs_noncanonical(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_BNDCFGS));
    SET(f, GUEST_BNDCFGS, NONCANONICAL | 1u);
}

static void rtit_ctl_reserved(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_RTIT_CTL));
    SET(f, GUEST_IA32_RTIT_CTL, 1u << 18);
}

static void s_cet_reserved(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_CET));
    SET(f, GUEST_S_CET, 1u << 6);
}

static void s_cet_suppress_and_tracker(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_CET));
    SET(f, GUEST_S_CET, 3u << 10);
}

static void lbr_ctl_reserved(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_LBR_CTL));
    SET(f, GUEST_IA32_LBR_CTL, 1u << 4);
}

static void pkrs_upper(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_PKRS));
    SET(f, GUEST_IA32_PKRS, 1ull << 32);
}

/* ---- 27.3.1.2 rows ---------------------------------------------------------------------- */

static void tr_ti(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_TR, SEL, 0x1C);
}

static void ldtr_ti(entry_fixture *f)
{
    make_usable_ldtr(f);
    seg_set(f, NVMX_SEG_LDTR, SEL, 0x2C);
}

static void ss_rpl_3(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_SS, SEL, 0x13);
}

/* Per-segment breaks, one wrapper per (segment, break) below. */
static void v8086_base_off(entry_fixture *f, nvmx_seg s)
{
    make_v8086(f);
    seg_set(f, s, BASE, seg_get(f, s, BASE) + 0x10);
}

static void v8086_limit_off(entry_fixture *f, nvmx_seg s)
{
    make_v8086(f);
    seg_set(f, s, LIMIT, 0xFFFE);
}

static void v8086_ar_off(entry_fixture *f, nvmx_seg s)
{
    make_v8086(f);
    seg_set(f, s, ACCESS, AR_V8086 | NVMX_AR_G);
}

static void base_noncanonical(entry_fixture *f, nvmx_seg s)
{
    if (s == NVMX_SEG_LDTR)
        make_usable_ldtr(f);
    seg_set(f, s, BASE, NONCANONICAL);
}

static void base_above_4g(entry_fixture *f, nvmx_seg s)
{
    seg_set(f, s, BASE, 1ull << 32);
}

static void ar_xor(entry_fixture *f, nvmx_seg s, uint32_t bits)
{
    if (s == NVMX_SEG_LDTR)
        make_usable_ldtr(f);
    seg_set(f, s, ACCESS, seg_get(f, s, ACCESS) ^ bits);
}

static void type_not_accessed(entry_fixture *f, nvmx_seg s)
{
    ar_xor(f, s, 1u);
}

static void type_exec_only_code(entry_fixture *f, nvmx_seg s)
{
    seg_set(f, s, ACCESS, (seg_get(f, s, ACCESS) & ~0xFull) | 9u);
}

static void s_flipped(entry_fixture *f, nvmx_seg s)
{
    ar_xor(f, s, NVMX_AR_S);
}

static void rpl_above_dpl(entry_fixture *f, nvmx_seg s)
{
    seg_set(f, s, SEL, seg_get(f, s, SEL) | 3u);
}

static void not_present(entry_fixture *f, nvmx_seg s)
{
    ar_xor(f, s, NVMX_AR_P);
}

static void bit_8_set(entry_fixture *f, nvmx_seg s)
{
    ar_xor(f, s, 1u << 8);
}

/* Every segment's limit disagrees with a flipped G: 0xFFFFFFFF needs G, 0x67 forbids it. */
static void g_flipped(entry_fixture *f, nvmx_seg s)
{
    ar_xor(f, s, NVMX_AR_G);
}

static void bit_17_set(entry_fixture *f, nvmx_seg s)
{
    ar_xor(f, s, 1u << 17);
}

static void cs_data_type(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_CS, ACCESS, 0xA093);
}

static void cs_code_not_accessed(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_CS, ACCESS, 0xA09A);
}

static void ss_read_only(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_SS, ACCESS, 0xC091);
}

static void ss_code(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_SS, ACCESS, 0xC09B);
}

static void cs_type3_dpl3(entry_fixture *f)
{
    make_real_unrestricted(f);
    seg_set(f, NVMX_SEG_CS, ACCESS, 0x00F3);
}

static void cs_nonconforming_dpl3(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_CS, ACCESS, 0xA0FB);
}

static void cs_conforming_dpl3(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_CS, ACCESS, 0xA0FF);
}

/* A conforming CS keeps the CS DPL rules satisfied while SS.DPL moves. */
static void ss_dpl3_rpl0(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_CS, ACCESS, 0xA09F);
    seg_set(f, NVMX_SEG_SS, ACCESS, 0xC0F3);
}

static void ss_dpl3_real_mode(entry_fixture *f)
{
    make_real_unrestricted(f);
    seg_set(f, NVMX_SEG_CS, ACCESS, AR_REAL_DATA);
    seg_set(f, NVMX_SEG_SS, ACCESS, AR_V8086);
}

static void ss_dpl3_cs_type3(entry_fixture *f)
{
    make_protected32(f);
    enable_unrestricted(f);
    seg_set(f, NVMX_SEG_CS, ACCESS, 0xC093);
    seg_set(f, NVMX_SEG_SS, ACCESS, 0xC0F3);
}

static void cs_d_with_l(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_CS, ACCESS, seg_get(f, NVMX_SEG_CS, ACCESS) | NVMX_AR_DB);
}

static void tr_type_16bit_in_ia32e(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_TR, ACCESS, 0x83);
}

static void tr_type_available(entry_fixture *f)
{
    make_protected32(f);
    seg_set(f, NVMX_SEG_TR, ACCESS, 0x89);
}

static void tr_unusable(entry_fixture *f)
{
    ar_xor(f, NVMX_SEG_TR, NVMX_AR_UNUSABLE);
}

static void ldtr_type_tss(entry_fixture *f)
{
    make_usable_ldtr(f);
    seg_set(f, NVMX_SEG_LDTR, ACCESS, 0x83);
}

/* One wrapper per (segment, break). */
#define SEG_APPLY(SEG, seg, fn)                                                                    \
    static void fn##_##seg(entry_fixture *f)                                                       \
    {                                                                                              \
        fn(f, NVMX_SEG_##SEG);                                                                     \
    }
#define SEG_ROW(SEG, seg, fn, prefix, rule) {"guest." prefix #seg "." rule, fn##_##seg},

ENTRY_CODE_DATA_SEGMENTS(SEG_APPLY, v8086_base_off)
ENTRY_CODE_DATA_SEGMENTS(SEG_APPLY, v8086_limit_off)
ENTRY_CODE_DATA_SEGMENTS(SEG_APPLY, v8086_ar_off)
ENTRY_CANONICAL_BASE_SEGMENTS(SEG_APPLY, base_noncanonical)
ENTRY_UPPER_BASE_SEGMENTS(SEG_APPLY, base_above_4g)
ENTRY_DATA_SEGMENTS(SEG_APPLY, type_not_accessed)
ENTRY_DATA_SEGMENTS(SEG_APPLY, type_exec_only_code)
ENTRY_DATA_SEGMENTS(SEG_APPLY, rpl_above_dpl)
ENTRY_CODE_DATA_SEGMENTS(SEG_APPLY, s_flipped)
ENTRY_SYSTEM_SEGMENTS(SEG_APPLY, s_flipped)
ENTRY_CODE_DATA_SEGMENTS(SEG_APPLY, not_present)
ENTRY_SYSTEM_SEGMENTS(SEG_APPLY, not_present)
ENTRY_CODE_DATA_SEGMENTS(SEG_APPLY, bit_8_set)
ENTRY_SYSTEM_SEGMENTS(SEG_APPLY, bit_8_set)
ENTRY_CODE_DATA_SEGMENTS(SEG_APPLY, g_flipped)
ENTRY_SYSTEM_SEGMENTS(SEG_APPLY, g_flipped)
ENTRY_CODE_DATA_SEGMENTS(SEG_APPLY, bit_17_set)
ENTRY_SYSTEM_SEGMENTS(SEG_APPLY, bit_17_set)

/* ---- 27.3.1.3 and 27.3.1.4 rows --------------------------------------------------------- */

static void gdtr_noncanonical(entry_fixture *f)
{
    SET(f, GUEST_GDTR_BASE, NONCANONICAL);
}

static void idtr_noncanonical(entry_fixture *f)
{
    SET(f, GUEST_IDTR_BASE, NONCANONICAL);
}

static void gdtr_limit_17_bits(entry_fixture *f)
{
    SET(f, GUEST_GDTR_LIMIT, 0x10000);
}

static void idtr_limit_17_bits(entry_fixture *f)
{
    SET(f, GUEST_IDTR_LIMIT, 0x10000);
}

static void rip_above_4g_in_compat_mode(entry_fixture *f)
{
    seg_set(f, NVMX_SEG_CS, ACCESS, AR_CODE32);
    SET(f, GUEST_RIP, (1ull << 32) | 0x500000);
}

static void rip_above_4g_in_protected_mode(entry_fixture *f)
{
    make_protected32(f);
    SET(f, GUEST_RIP, (1ull << 32) | 0x500000);
}

static void rip_bits_63_48_differ(entry_fixture *f)
{
    SET(f, GUEST_RIP, BITS_63_48_DIFFER);
}

static void rflags_bit_3(entry_fixture *f)
{
    rflags_set(f, 1u << 3);
}

static void rflags_bit_22(entry_fixture *f)
{
    rflags_set(f, 1u << 22);
}

static void rflags_bit_1_clear(entry_fixture *f)
{
    SET(f, GUEST_RFLAGS, 0);
}

/* A virtual-8086 guest otherwise valid, entered in IA-32e mode. */
static void v8086_in_ia32e_mode(entry_fixture *f)
{
    make_v8086(f);
    entry_controls_set(f, NVMX_CTL(ENTRY_IA32E_MODE));
    SET(f, GUEST_CR4, NVMX_CR4_VMXE | NVMX_CR4_PAE);
}

static void v8086_in_real_mode(entry_fixture *f)
{
    make_real_unrestricted(f);
    v8086_segments(f);
    rflags_set(f, NVMX_RFLAGS_VM);
}

static void external_interrupt_with_if_clear(entry_fixture *f)
{
    inject(f, NVMX_INTR_TYPE_EXTERNAL, 0x20);
}

static void ssp_unaligned(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_CET));
    SET(f, GUEST_SSP, 0x7001);
}

static void ssp_above_4g_outside_ia32e(entry_fixture *f)
{
    make_protected32(f);
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_CET));
    SET(f, GUEST_SSP, 1ull << 32);
}

static void ssp_bits_63_48_differ(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_CET));
    SET(f, GUEST_SSP, BITS_63_48_DIFFER);
}

/* ---- 27.3.1.5 rows ---------------------------------------------------------------------- */

static void activity_4(entry_fixture *f)
{
    SET(f, GUEST_ACTIVITY_STATE, 4);
}

static void activity_hlt_not_exposed(entry_fixture *f)
{
    f->vm.caps.misc &= ~NVMX_CTL(ACTIVITY_HLT);
    SET(f, GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_HLT);
}

static void hlt_at_cpl3(entry_fixture *f)
{
    make_cpl3(f);
    SET(f, GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_HLT);
}

static void hlt_with_sti_blocking(entry_fixture *f)
{
    rflags_set(f, NVMX_RFLAGS_IF);
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_STI);
    SET(f, GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_HLT);
}

static void shutdown_with_mov_ss_blocking(entry_fixture *f)
{
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_MOV_SS);
    SET(f, GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_SHUTDOWN);
}

static void hlt_with_ud(entry_fixture *f)
{
    SET(f, GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_HLT);
    inject(f, NVMX_INTR_TYPE_HARDWARE_EXCEPTION, 6);
}

static void shutdown_with_external_interrupt(entry_fixture *f)
{
    rflags_set(f, NVMX_RFLAGS_IF);
    SET(f, GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_SHUTDOWN);
    inject(f, NVMX_INTR_TYPE_EXTERNAL, 0x20);
}

static void shutdown_with_db(entry_fixture *f)
{
    SET(f, GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_SHUTDOWN);
    inject(f, NVMX_INTR_TYPE_HARDWARE_EXCEPTION, 1);
}

static void wait_sipi_with_nmi(entry_fixture *f)
{
    SET(f, GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_WAIT_SIPI);
    inject(f, NVMX_INTR_TYPE_NMI, 2);
}

static void interruptibility_bit_5(entry_fixture *f)
{
    SET(f, GUEST_INTERRUPTIBILITY_INFO, 1u << 5);
}

static void sti_and_mov_ss(entry_fixture *f)
{
    rflags_set(f, NVMX_RFLAGS_IF);
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_STI | NVMX_BLOCKING_MOV_SS);
}

static void sti_with_if_clear(entry_fixture *f)
{
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_STI);
}

static void external_interrupt_under_mov_ss(entry_fixture *f)
{
    rflags_set(f, NVMX_RFLAGS_IF);
    inject(f, NVMX_INTR_TYPE_EXTERNAL, 0x20);
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_MOV_SS);
}

static void external_interrupt_under_sti(entry_fixture *f)
{
    rflags_set(f, NVMX_RFLAGS_IF);
    inject(f, NVMX_INTR_TYPE_EXTERNAL, 0x20);
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_STI);
}

static void nmi_under_mov_ss(entry_fixture *f)
{
    inject(f, NVMX_INTR_TYPE_NMI, 2);
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_MOV_SS);
}

static void smi_blocking(entry_fixture *f)
{
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_SMI);
}

static void nmi_under_sti(entry_fixture *f)
{
    rflags_set(f, NVMX_RFLAGS_IF);
    inject(f, NVMX_INTR_TYPE_NMI, 2);
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_STI);
}

/* "Virtual NMIs" needs "NMI exiting" (SDM 27.2.1.1). */
static void virtual_nmi_blocked(entry_fixture *f)
{
    SET(f, PIN_BASED_VM_EXEC_CONTROL,
        GET(f, PIN_BASED_VM_EXEC_CONTROL) | NVMX_CTL(NMI_EXITING) | NVMX_CTL(VIRTUAL_NMIS));
    inject(f, NVMX_INTR_TYPE_NMI, 2);
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_NMI);
}

static void enclave_under_mov_ss(entry_fixture *f)
{
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_ENCLAVE_INTERRUPTION | NVMX_BLOCKING_MOV_SS);
}

static void pending_bit_4(entry_fixture *f)
{
    SET(f, GUEST_PENDING_DBG_EXCEPTIONS, 1u << 4);
}

static void tf_without_bs(entry_fixture *f)
{
    rflags_set(f, NVMX_RFLAGS_IF | NVMX_RFLAGS_TF);
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_STI);
}

static void tf_without_bs_in_hlt(entry_fixture *f)
{
    rflags_set(f, NVMX_RFLAGS_TF);
    SET(f, GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_HLT);
}

static void bs_without_tf(entry_fixture *f)
{
    rflags_set(f, NVMX_RFLAGS_IF);
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_STI);
    SET(f, GUEST_PENDING_DBG_EXCEPTIONS, NVMX_PENDING_DBG_BS);
}

/* BTF turns TF into branch stepping: no single-step trap is pending. */
static void bs_with_btf(entry_fixture *f)
{
    rflags_set(f, NVMX_RFLAGS_TF);
    SET(f, GUEST_IA32_DEBUGCTL, DEBUGCTL_BTF);
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_MOV_SS);
    SET(f, GUEST_PENDING_DBG_EXCEPTIONS, NVMX_PENDING_DBG_BS);
}

static void rtm_without_enabled_bp(entry_fixture *f)
{
    SET(f, GUEST_PENDING_DBG_EXCEPTIONS, NVMX_PENDING_DBG_RTM);
}

static void rtm_with_b0(entry_fixture *f)
{
    SET(f, GUEST_PENDING_DBG_EXCEPTIONS, NVMX_PENDING_DBG_RTM | NVMX_PENDING_DBG_ENABLED_BP | 1u);
}

static void rtm_under_mov_ss(entry_fixture *f)
{
    SET(f, GUEST_PENDING_DBG_EXCEPTIONS, NVMX_PENDING_DBG_RTM | NVMX_PENDING_DBG_ENABLED_BP);
    SET(f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_MOV_SS);
}

static void link_unaligned(entry_fixture *f)
{
    SET(f, VMCS_LINK_POINTER, LINK_GPA | 0x800);
}

static void link_too_wide(entry_fixture *f)
{
    SET(f, VMCS_LINK_POINTER, 1ull << 46);
}

static void link_wrong_revision(entry_fixture *f)
{
    link_to_region(f, 0x12345678);
}

static void link_unbacked(entry_fixture *f)
{
    SET(f, VMCS_LINK_POINTER, UNBACKED_GPA);
}

static void link_shadow_without_shadowing(entry_fixture *f)
{
    link_to_region(f, NVMX_VMCS_REVISION_ID | VMCS12_SHADOW_INDICATOR);
}

static void link_ordinary_with_shadowing(entry_fixture *f)
{
    enable_shadowing(f);
    link_to_region(f, NVMX_VMCS_REVISION_ID);
}

static void link_to_current(entry_fixture *f)
{
    link_to_region(f, NVMX_VMCS_REVISION_ID);
    f->vcpu.current_vmptr = LINK_GPA;
}

static void uinv_above_255(entry_fixture *f)
{
    entry_controls_set(f, NVMX_CTL(ENTRY_LOAD_UINV));
    SET(f, GUEST_UINV, 0x120);
}

/* ---- 27.3.1.6 rows ---------------------------------------------------------------------- */

static void pdpte_in_memory(entry_fixture *f, unsigned i, uint64_t bits)
{
    make_pae(f);
    fake_host_write64(&f->host, PDPT_GPA + 8 * i, good_pdpte(i) | bits);
}

static void pdpte_in_field(entry_fixture *f, unsigned i, uint64_t bits)
{
    make_pae_ept(f);
    f->v.field[VMCS12_ORD_GUEST_PDPTR0 + i] |= bits;
}

#define PDPTE_ROWS(n)                                                                              \
    static void pdpte##n##_bit_1(entry_fixture *f)                                                 \
    {                                                                                              \
        pdpte_in_memory(f, n, 1u << 1);                                                            \
    }                                                                                              \
    static void pdpte##n##_field_bit_5(entry_fixture *f)                                           \
    {                                                                                              \
        pdpte_in_field(f, n, 1u << 5);                                                             \
    }
PDPTE_ROWS(0)
PDPTE_ROWS(1)
PDPTE_ROWS(2)
PDPTE_ROWS(3)

static void pdpte2_bit_8(entry_fixture *f)
{
    pdpte_in_memory(f, 2, 1u << 8);
}

static void pdpte1_beyond_width(entry_fixture *f)
{
    pdpte_in_memory(f, 1, 1ull << 46);
}

static void pdpte3_execute_disable(entry_fixture *f)
{
    pdpte_in_field(f, 3, 1ull << 63);
}

/* A PDPT L1 has no RAM behind reads as all ones: present with reserved bits. */
static void pdpt_unbacked(entry_fixture *f)
{
    make_pae(f);
    SET(f, GUEST_CR3, UNBACKED_GPA);
}

/* ---- The table ---------------------------------------------------------------------------- */

/* clang-format off */
const entry_break entry_breaks_guest[] = {
    /* 27.3.1.1 */
    {"guest.cr0.fixed_bits", cr0_ne_clear},
    {"guest.cr0.fixed_bits", cr0_pe_clear_restricted},
    {"guest.cr0.fixed_bits", cr0_bit_63},
    {"guest.cr0.pg_requires_pe", cr0_pg_without_pe},
    {"guest.cr4.fixed_bits", cr4_vmxe_clear},
    {"guest.cr4.fixed_bits", cr4_undefined_bit},
    {"guest.cr4.cet_requires_wp", cr4_cet_without_wp},
    {"guest.debugctl.reserved_bits", debugctl_reserved},
    {"guest.cr0.pg_with_ia32e_mode", ia32e_without_pg},
    {"guest.cr4.pae_with_ia32e_mode", ia32e_without_pae},
    {"guest.cr4.pcide_without_ia32e_mode", pcide_outside_ia32e},
    {"guest.cr3.width", cr3_too_wide},
    {"guest.dr7.upper_bits", dr7_upper},
    {"guest.sysenter_esp.canonical", sysenter_esp_noncanonical},
    {"guest.sysenter_eip.canonical", sysenter_eip_noncanonical},
    {"guest.s_cet.canonical", s_cet_noncanonical},
    {"guest.interrupt_ssp_table.canonical", ssp_table_noncanonical},
    {"guest.perf_global_ctrl.reserved_bits", perf_global_reserved},
    {"guest.pat.memory_types", pat_type_2},
    {"guest.pat.memory_types", pat_type_8},
    {"guest.efer.reserved_bits", efer_reserved},
    {"guest.efer.lma_matches_ia32e_mode", efer_lma_without_ia32e},
    {"guest.efer.lme_matches_lma_with_paging", efer_lme_clear_with_lma},
    {"guest.efer.lme_matches_lma_with_paging", efer_lme_in_legacy_paging},
    {"guest.bndcfgs.reserved_bits", bndcfgs_reserved},
    {"guest.bndcfgs.base_canonical", bndcfgs_noncanonical},
    {"guest.rtit_ctl.reserved_bits", rtit_ctl_reserved},
    {"guest.s_cet.reserved_bits", s_cet_reserved},
    {"guest.s_cet.suppress_with_tracker", s_cet_suppress_and_tracker},
    {"guest.lbr_ctl.reserved_bits", lbr_ctl_reserved},
    {"guest.pkrs.upper_bits", pkrs_upper},
    /* 27.3.1.2 */
    {"guest.tr.selector_ti", tr_ti},
    {"guest.ldtr.selector_ti", ldtr_ti},
    {"guest.ss.rpl_equals_cs_rpl", ss_rpl_3},
    ENTRY_CODE_DATA_SEGMENTS(SEG_ROW, v8086_base_off, "v8086.", "base")
    ENTRY_CANONICAL_BASE_SEGMENTS(SEG_ROW, base_noncanonical, "", "base_canonical")
    ENTRY_UPPER_BASE_SEGMENTS(SEG_ROW, base_above_4g, "", "base_upper_bits")
    ENTRY_CODE_DATA_SEGMENTS(SEG_ROW, v8086_limit_off, "v8086.", "limit")
    ENTRY_CODE_DATA_SEGMENTS(SEG_ROW, v8086_ar_off, "v8086.", "access_rights")
    {"guest.cs.type", cs_data_type},
    {"guest.cs.type", cs_code_not_accessed},
    {"guest.ss.type", ss_read_only},
    {"guest.ss.type", ss_code},
    ENTRY_DATA_SEGMENTS(SEG_ROW, type_not_accessed, "", "type_accessed")
    ENTRY_DATA_SEGMENTS(SEG_ROW, type_exec_only_code, "", "type_readable_code")
    ENTRY_CODE_DATA_SEGMENTS(SEG_ROW, s_flipped, "", "s_bit")
    {"guest.cs.dpl_type3", cs_type3_dpl3},
    {"guest.cs.dpl_nonconforming", cs_nonconforming_dpl3},
    {"guest.cs.dpl_conforming", cs_conforming_dpl3},
    {"guest.ss.dpl_equals_rpl", ss_dpl3_rpl0},
    {"guest.ss.dpl_zero", ss_dpl3_real_mode},
    {"guest.ss.dpl_zero", ss_dpl3_cs_type3},
    ENTRY_DATA_SEGMENTS(SEG_ROW, rpl_above_dpl, "", "dpl_not_below_rpl")
    ENTRY_CODE_DATA_SEGMENTS(SEG_ROW, not_present, "", "present")
    ENTRY_CODE_DATA_SEGMENTS(SEG_ROW, bit_8_set, "", "reserved_11_8")
    {"guest.cs.db_with_l", cs_d_with_l},
    ENTRY_CODE_DATA_SEGMENTS(SEG_ROW, g_flipped, "", "granularity")
    ENTRY_CODE_DATA_SEGMENTS(SEG_ROW, bit_17_set, "", "reserved_31_17")
    {"guest.tr.type", tr_type_16bit_in_ia32e},
    {"guest.tr.type", tr_type_available},
    {"guest.tr.s_bit", s_flipped_tr},
    {"guest.tr.present", not_present_tr},
    {"guest.tr.reserved_11_8", bit_8_set_tr},
    {"guest.tr.granularity", g_flipped_tr},
    {"guest.tr.unusable", tr_unusable},
    {"guest.tr.reserved_31_17", bit_17_set_tr},
    {"guest.ldtr.type", ldtr_type_tss},
    {"guest.ldtr.s_bit", s_flipped_ldtr},
    {"guest.ldtr.present", not_present_ldtr},
    {"guest.ldtr.reserved_11_8", bit_8_set_ldtr},
    {"guest.ldtr.granularity", g_flipped_ldtr},
    {"guest.ldtr.reserved_31_17", bit_17_set_ldtr},
    /* 27.3.1.3 */
    {"guest.gdtr.base_canonical", gdtr_noncanonical},
    {"guest.idtr.base_canonical", idtr_noncanonical},
    {"guest.gdtr.limit", gdtr_limit_17_bits},
    {"guest.idtr.limit", idtr_limit_17_bits},
    /* 27.3.1.4 */
    {"guest.rip.upper_bits", rip_above_4g_in_compat_mode},
    {"guest.rip.upper_bits", rip_above_4g_in_protected_mode},
    {"guest.rip.linear_width", rip_bits_63_48_differ},
    {"guest.rflags.reserved_bits", rflags_bit_3},
    {"guest.rflags.reserved_bits", rflags_bit_22},
    {"guest.rflags.bit1_set", rflags_bit_1_clear},
    {"guest.rflags.vm_without_ia32e_mode", v8086_in_ia32e_mode},
    {"guest.rflags.vm_requires_pe", v8086_in_real_mode},
    {"guest.rflags.if_with_external_interrupt", external_interrupt_with_if_clear},
    {"guest.ssp.alignment", ssp_unaligned},
    {"guest.ssp.upper_bits", ssp_above_4g_outside_ia32e},
    {"guest.ssp.linear_width", ssp_bits_63_48_differ},
    /* 27.3.1.5 */
    {"guest.activity_state.supported", activity_4},
    {"guest.activity_state.supported", activity_hlt_not_exposed},
    {"guest.activity_state.hlt_ss_dpl", hlt_at_cpl3},
    {"guest.activity_state.active_with_blocking", hlt_with_sti_blocking},
    {"guest.activity_state.active_with_blocking", shutdown_with_mov_ss_blocking},
    {"guest.activity_state.hlt_event", hlt_with_ud},
    {"guest.activity_state.shutdown_event", shutdown_with_external_interrupt},
    {"guest.activity_state.shutdown_event", shutdown_with_db},
    {"guest.activity_state.wait_sipi_event", wait_sipi_with_nmi},
    {"guest.interruptibility.reserved_bits", interruptibility_bit_5},
    {"guest.interruptibility.sti_and_mov_ss", sti_and_mov_ss},
    {"guest.interruptibility.sti_with_if", sti_with_if_clear},
    {"guest.interruptibility.external_interrupt_blocking", external_interrupt_under_mov_ss},
    {"guest.interruptibility.external_interrupt_blocking", external_interrupt_under_sti},
    {"guest.interruptibility.nmi_mov_ss", nmi_under_mov_ss},
    {"guest.interruptibility.smi_outside_smm", smi_blocking},
    {"guest.interruptibility.nmi_sti", nmi_under_sti},
    {"guest.interruptibility.virtual_nmi_blocking", virtual_nmi_blocked},
    {"guest.interruptibility.enclave_mov_ss", enclave_under_mov_ss},
    {"guest.pending_debug.reserved_bits", pending_bit_4},
    {"guest.pending_debug.bs_with_tf", tf_without_bs},
    {"guest.pending_debug.bs_with_tf", tf_without_bs_in_hlt},
    {"guest.pending_debug.bs_without_tf", bs_without_tf},
    {"guest.pending_debug.bs_without_tf", bs_with_btf},
    {"guest.pending_debug.rtm_bits", rtm_without_enabled_bp},
    {"guest.pending_debug.rtm_bits", rtm_with_b0},
    {"guest.pending_debug.rtm_mov_ss", rtm_under_mov_ss},
    {"guest.link_pointer.alignment", link_unaligned},
    {"guest.link_pointer.width", link_too_wide},
    {"guest.link_pointer.revision", link_wrong_revision},
    {"guest.link_pointer.revision", link_unbacked},
    {"guest.link_pointer.shadow_indicator", link_shadow_without_shadowing},
    {"guest.link_pointer.shadow_indicator", link_ordinary_with_shadowing},
    {"guest.link_pointer.not_current", link_to_current},
    {"guest.uinv.reserved_bits", uinv_above_255},
    /* 27.3.1.6 */
    {"guest.pdpte0.reserved_bits", pdpte0_bit_1},
    {"guest.pdpte1.reserved_bits", pdpte1_bit_1},
    {"guest.pdpte2.reserved_bits", pdpte2_bit_1},
    {"guest.pdpte3.reserved_bits", pdpte3_bit_1},
    {"guest.pdpte0.reserved_bits", pdpte0_field_bit_5},
    {"guest.pdpte1.reserved_bits", pdpte1_field_bit_5},
    {"guest.pdpte2.reserved_bits", pdpte2_field_bit_5},
    {"guest.pdpte3.reserved_bits", pdpte3_field_bit_5},
    {"guest.pdpte2.reserved_bits", pdpte2_bit_8},
    {"guest.pdpte1.reserved_bits", pdpte1_beyond_width},
    {"guest.pdpte3.reserved_bits", pdpte3_execute_disable},
    {"guest.pdpte0.reserved_bits", pdpt_unbacked},
};
/* clang-format on */
const size_t entry_breaks_guest_count = NVMX_ARRAY_SIZE(entry_breaks_guest);

/* ---- Tests --------------------------------------------------------------------------------- */

static entry_fixture f;

static void setup(void)
{
    entry_fixture_init(&f);
}

static void teardown(void)
{
    entry_fixture_fini(&f);
}

TestSuite(entry_guest, .init = setup, .fini = teardown);

/* The exit qualification SDM 27.8 gives each kind of guest-state failure. */
static uint32_t expected_qualification(const char *check)
{
    if (strncmp(check, "guest.pdpte", strlen("guest.pdpte")) == 0)
        return 2;
    if (strcmp(check, "guest.interruptibility.nmi_sti") == 0)
        return 3;
    if (strncmp(check, "guest.link_pointer.", strlen("guest.link_pointer.")) == 0)
        return 4;
    return 0;
}

/* Rows are passed by index: Criterion may run each test in a fresh process image, where the
 * parent's pointers mean nothing. */
static size_t row_index[NVMX_ARRAY_SIZE(entry_breaks_guest)];

ParameterizedTestParameters(entry_guest, each_row_fails_its_check_first)
{
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(row_index); i++)
        row_index[i] = i;
    return cr_make_param_array(size_t, row_index, NVMX_ARRAY_SIZE(row_index), NULL);
}

/* SDM 27.3.1: breaking one rule of a valid vmcs12 fails that rule's check before any other,
 * with the rule's exit qualification (27.8). */
ParameterizedTest(size_t *index, entry_guest, each_row_fails_its_check_first)
{
    const entry_break *row = &entry_breaks_guest[*index];
    row->apply(&f);
    const entry_check *failed = entry_fixture_first_failing_check(&f);
    cr_assert(failed && strcmp(failed->info.name, row->check) == 0,
              "row for %s: first failing check is %s", row->check,
              failed ? failed->info.name : "none");
    /* ASSERT_FIRST_FAILURE's parameter is spelled `name`, as is the member it compares, so
     * the argument must be an identifier of that spelling. */
    const char *name = row->check;
    ASSERT_FIRST_FAILURE(&f, name);
    cr_assert_eq(failed->info.category, NVMX_CHECK_GUEST_STATE);
    cr_assert_eq(failed->info.exit_qualification, expected_qualification(row->check),
                 "%s: qualification %u", row->check, failed->info.exit_qualification);
}

static void assert_all_pass(void)
{
    const entry_check *failed = entry_fixture_first_failing_check(&f);
    cr_assert_null(failed, "check %s fails", failed ? failed->info.name : "");
}

/* The table covers every rule of 27.3.1 in the SDM's order and names each once. */
Test(entry_guest, checks_are_guest_state_checks_with_sdm_sections)
{
    cr_assert_geq(entry_checks_guest_count, 110);
    for (size_t i = 0; i < entry_checks_guest_count; i++) {
        const nvmx_entry_check_info *info = &entry_checks_guest[i].info;
        cr_assert_eq(info->category, NVMX_CHECK_GUEST_STATE);
        cr_assert_eq(strncmp(info->name, "guest.", 6), 0, "%s", info->name);
        cr_assert_eq(strncmp(info->sdm_section, "27.3.1.", 7), 0, "%s", info->name);
        if (i > 0)
            cr_assert_geq(strcmp(info->sdm_section, entry_checks_guest[i - 1].info.sdm_section), 0,
                          "%s is out of SDM order", info->name);
    }
}

/* SDM 27.3.1.1: with "unrestricted guest", CR0.PE and CR0.PG are exempt: real mode enters. */
Test(entry_guest, unrestricted_real_mode_passes)
{
    make_real_unrestricted(&f);
    assert_all_pass();
}

/* Protected mode without paging under "unrestricted guest". */
Test(entry_guest, unrestricted_protected_mode_without_paging_passes)
{
    enable_unrestricted(&f);
    make_protected32(&f);
    SET(&f, GUEST_CR0, NVMX_CR0_PE | NVMX_CR0_NE | NVMX_CR0_ET);
    assert_all_pass();
}

/* SDM 27.3.1.1: CR0.NW and CR0.CD are never checked, even where the fixed bits forbid them. */
Test(entry_guest, cr0_cd_and_nw_are_never_checked)
{
    f.vm.caps.cr0_fixed1 &= ~(NVMX_CR0_NW | NVMX_CR0_CD);
    SET(&f, GUEST_CR0, GET(&f, GUEST_CR0) | NVMX_CR0_NW | NVMX_CR0_CD);
    assert_all_pass();
}

/* SDM 27.3.1.1: LME may differ from LMA while paging is off (long mode about to be enabled). */
Test(entry_guest, efer_lme_without_lma_passes_with_paging_off)
{
    make_real_unrestricted(&f);
    entry_controls_set(&f, NVMX_CTL(ENTRY_LOAD_EFER));
    SET(&f, GUEST_IA32_EFER, NVMX_EFER_LME);
    assert_all_pass();
}

/* Every MSR field set to a valid non-trivial value with its load control. */
Test(entry_guest, valid_msr_fields_with_load_controls_pass)
{
    entry_controls_set(&f, NVMX_CTL(ENTRY_LOAD_DEBUG) | NVMX_CTL(ENTRY_LOAD_PAT) |
                               NVMX_CTL(ENTRY_LOAD_EFER) | NVMX_CTL(ENTRY_LOAD_PERF_GLOBAL) |
                               NVMX_CTL(ENTRY_LOAD_BNDCFGS) | NVMX_CTL(ENTRY_LOAD_RTIT_CTL) |
                               NVMX_CTL(ENTRY_LOAD_CET) | NVMX_CTL(ENTRY_LOAD_LBR_CTL) |
                               NVMX_CTL(ENTRY_LOAD_PKRS) | NVMX_CTL(ENTRY_LOAD_UINV));
    SET(&f, GUEST_IA32_DEBUGCTL, 0xFFC7);
    SET(&f, GUEST_DR7, 0xFFFF0700);
    SET(&f, GUEST_IA32_EFER, NVMX_EFER_LME | NVMX_EFER_LMA | NVMX_EFER_NXE | NVMX_EFER_SCE);
    SET(&f, GUEST_IA32_PERF_GLOBAL_CTRL, 0x00000007000000FFull);
    SET(&f, GUEST_BNDCFGS, 0xFFFFFFFFFFFFF003ull);
    SET(&f, GUEST_IA32_RTIT_CTL, 0x0180FFFF8F7BFFFFull);
    SET(&f, GUEST_CR0, GET(&f, GUEST_CR0) | NVMX_CR0_WP);
    SET(&f, GUEST_CR4, GET(&f, GUEST_CR4) | NVMX_CR4_CET);
    SET(&f, GUEST_S_CET, 0xFFFFFFFFFFFFF43Full);
    SET(&f, GUEST_SSP, 0xFFFF800000001000ull);
    SET(&f, GUEST_INTR_SSP_TABLE, 0xFFFF800000002000ull);
    SET(&f, GUEST_IA32_LBR_CTL, 0x7F000F);
    SET(&f, GUEST_IA32_PKRS, 0xFFFFFFFF);
    SET(&f, GUEST_UINV, 0xEC);
    assert_all_pass();
}

/* SDM 27.3.1.2: a valid virtual-8086 guest enters. */
Test(entry_guest, valid_v8086_guest_passes)
{
    make_v8086(&f);
    assert_all_pass();
}

/* SDM 27.3.1.2: the sub-field rules of DS, ES, FS, GS and SS apply only when usable. */
Test(entry_guest, unusable_data_segments_are_not_checked)
{
    /* SS keeps RPL = DPL = 0: SS.DPL is the CPL and checked even when SS is unusable. */
    segment(&f, NVMX_SEG_SS, 0, 1ull << 40, 0x12345678, NVMX_AR_UNUSABLE | 0x7F00);
    segment(&f, NVMX_SEG_DS, 0x0007, 1ull << 40, 0x12345678, NVMX_AR_UNUSABLE | 0x7F1F);
    segment(&f, NVMX_SEG_ES, 0x0007, 1ull << 40, 0x12345678, NVMX_AR_UNUSABLE | 0x7F7F);
    segment(&f, NVMX_SEG_LDTR, 0x0004, NONCANONICAL, 0xFFFFFFFF, NVMX_AR_UNUSABLE | 0x7F1F);
    assert_all_pass();
}

/* SDM 27.3.1.2: conforming code may have a DPL below the CPL; data segments under
 * "unrestricted guest" may have RPL above DPL. */
Test(entry_guest, permitted_dpl_edges_pass)
{
    make_cpl3(&f);
    seg_set(&f, NVMX_SEG_CS, ACCESS, 0xA09F);
    assert_all_pass();
    enable_unrestricted(&f);
    seg_set(&f, NVMX_SEG_DS, SEL, 0x13);
    assert_all_pass();
}

/* SDM 27.3.1.4: in 64-bit mode RIP bits 63:48 must be identical, so the first address above
 * the lower canonical half still enters (the fetch then faults in the guest). */
Test(entry_guest, rip_bits_63_48_identical_is_enough)
{
    SET(&f, GUEST_RIP, NONCANONICAL);
    assert_all_pass();
}

/* SDM 27.3.1.5: the events a halted or shut-down processor may be given. */
Test(entry_guest, events_allowed_in_hlt_and_shutdown_pass)
{
    SET(&f, GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_HLT);
    rflags_set(&f, NVMX_RFLAGS_IF);
    const unsigned hlt_events[][2] = {{NVMX_INTR_TYPE_EXTERNAL, 0x20},
                                      {NVMX_INTR_TYPE_NMI, 2},
                                      {NVMX_INTR_TYPE_HARDWARE_EXCEPTION, 1},
                                      {NVMX_INTR_TYPE_HARDWARE_EXCEPTION, 18},
                                      {NVMX_INTR_TYPE_OTHER_EVENT, 0}};
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(hlt_events); i++) {
        inject(&f, hlt_events[i][0], hlt_events[i][1]);
        assert_all_pass();
    }
    SET(&f, GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_SHUTDOWN);
    inject(&f, NVMX_INTR_TYPE_NMI, 2);
    assert_all_pass();
    inject(&f, NVMX_INTR_TYPE_HARDWARE_EXCEPTION, 18);
    assert_all_pass();
    SET(&f, GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_WAIT_SIPI);
    SET(&f, VM_ENTRY_INTR_INFO_FIELD, 0);
    assert_all_pass();
}

/* SDM 27.3.1.5: consistent single-step and RTM states. */
Test(entry_guest, consistent_pending_debug_exceptions_pass)
{
    rflags_set(&f, NVMX_RFLAGS_IF | NVMX_RFLAGS_TF);
    SET(&f, GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_STI);
    SET(&f, GUEST_PENDING_DBG_EXCEPTIONS, NVMX_PENDING_DBG_BS | 0xF);
    assert_all_pass();
    SET(&f, GUEST_INTERRUPTIBILITY_INFO, 0);
    SET(&f, GUEST_PENDING_DBG_EXCEPTIONS, NVMX_PENDING_DBG_RTM | NVMX_PENDING_DBG_ENABLED_BP);
    assert_all_pass();
}

/* SDM 27.3.1.5: a link pointer to a shadow VMCS of this revision passes with VMCS shadowing,
 * one to an ordinary VMCS without it. */
Test(entry_guest, link_pointer_to_valid_vmcs_passes)
{
    enable_shadowing(&f);
    link_to_region(&f, NVMX_VMCS_REVISION_ID | VMCS12_SHADOW_INDICATOR);
    assert_all_pass();
    SET(&f, SECONDARY_VM_EXEC_CONTROL, 0);
    link_to_region(&f, NVMX_VMCS_REVISION_ID);
    assert_all_pass();
}

/* The vCPU's cached copy of the region is authoritative (its memory may be stale): its
 * revision is used and L1 memory is not read. */
Test(entry_guest, link_pointer_revision_comes_from_the_cache)
{
    enable_shadowing(&f);
    link_to_region(&f, NVMX_VMCS_REVISION_ID | VMCS12_SHADOW_INDICATOR);
    vmcs12_cached *cached;
    cr_assert_eq(vmcs12_cache_load(&f.vm, &f.vcpu.cache, LINK_GPA, NULL, &cached), NVMX_OK);
    fake_host_write32(&f.host, LINK_GPA, 0xDEADBEEF);
    long reads = f.host.l1_reads;
    assert_all_pass();
    cr_assert_eq(f.host.l1_reads, reads);
}

/* SDM 27.3.1.6: a valid PAE guest enters, its PDPTEs read from L1 memory once, in one access,
 * and the predicates read no memory. */
Test(entry_guest, valid_pae_guest_reads_pdptes_once)
{
    make_pae(&f);
    entry_check_ctx c;
    entry_check_ctx_init(&c, &f.vcpu, &f.v);
    long reads = f.host.l1_reads;
    entry_check_ctx_prepare_guest(&c);
    cr_assert_eq(f.host.l1_reads, reads + 1);
    cr_assert(c.pdptes_loaded);
    for (unsigned i = 0; i < 4; i++)
        cr_assert_eq(c.pdpte[i], good_pdpte(i));
    cr_assert_null(entry_checks_first_failure(&c, NVMX_CHECK_GUEST_STATE));
    cr_assert_eq(f.host.l1_reads, reads + 1);
}

/* SDM 27.3.1.6: with EPT the PDPTEs are the VMCS fields; L1 memory is not read. */
Test(entry_guest, valid_pae_guest_under_ept_uses_the_fields)
{
    make_pae_ept(&f);
    fake_host_write64(&f.host, PDPT_GPA, ~0ull);
    entry_check_ctx c;
    entry_check_ctx_init(&c, &f.vcpu, &f.v);
    long reads = f.host.l1_reads;
    entry_check_ctx_prepare_guest(&c);
    cr_assert_eq(f.host.l1_reads, reads);
    cr_assert_not(c.pdptes_loaded);
    cr_assert_null(entry_checks_first_failure(&c, NVMX_CHECK_GUEST_STATE));
}

/* SDM 27.3.1.6: only present PDPTEs are checked. */
Test(entry_guest, non_present_pdptes_with_reserved_bits_pass)
{
    make_pae(&f);
    fake_host_write64(&f.host, PDPT_GPA + 8, ~1ull);
    assert_all_pass();
    make_pae_ept(&f);
    SET(&f, GUEST_PDPTR3, ~1ull);
    assert_all_pass();
}

/* SDM 27.3.1.6: outside PAE paging (64-bit guest, 32-bit paging) no PDPTE is read or checked. */
Test(entry_guest, pdptes_are_not_read_without_pae_paging)
{
    fake_host_write64(&f.host, PDPT_GPA, ~0ull);
    long reads = f.host.l1_reads;
    assert_all_pass();
    make_protected32(&f);
    assert_all_pass();
    cr_assert_eq(f.host.l1_reads, reads);
}
