/* SPDX-License-Identifier: MIT */
/*
 * INVEPT and INVVPID of L1 (lib/exits/inv_instructions.c), through nvmx_on_l1_exit as a
 * hardware host reports them: every check of SDM Vol. 3C 31.3 ("Operation" of each, in order),
 * the error number, and exactly which EPT02s go and which hardware flushes are requested
 * (the fake host logs tlb_flush). SDM 29.4.3.1 for what each type invalidates.
 */
#include <criterion/criterion.h>

#include "ept/ept02.h"
#include "vmx_harness.h"
#include "vpid02.h"

static harness h;

/* The type in RCX, the 128-bit descriptor at [RAX] (SDM 28.2.5, Table 28-13). */
#define INFO_INV INFO_MEM_RAX_REG_RCX
/* The same with a 32-bit address size, for L1 in 32-bit protected mode. */
#define INFO_INV32 ((1u << 7) | (3u << 15) | (1u << 22) | ((unsigned)NVMX_REG_RCX << 28))

#define ERR_28 NVMX_VMERR_INVALID_INVEPT_INVVPID_OPERAND

/* EPTPs L1 may use: write-back (6), 4-level walk (3 << 3) (SDM 25.6.11). */
#define EPTP_FLAGS 0x1Eull
#define EPTP_A (0x200000ull | EPTP_FLAGS)
#define EPTP_B (0x300000ull | EPTP_FLAGS)

static void setup(void)
{
    harness_init(&h, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(invept, .init = setup, .fini = teardown);
TestSuite(invvpid, .init = setup, .fini = teardown);

/* Re-create the VM with one feature hidden by name. */
static void hide(const char *feature)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.disabled_features = &feature;
    config.disabled_feature_count = 1;
    harness_init(&h, &config);
}

static nvmx_status run_inv(uint32_t reason, uint32_t info, uint64_t type, uint64_t low,
                           uint64_t high)
{
    fake_host_write64(&h.host, OPERAND, low);
    fake_host_write64(&h.host, OPERAND + 8, high);
    h.host.regs[NVMX_REG_RAX] = OPERAND;
    h.host.regs[NVMX_REG_RCX] = type;
    return harness_exit(&h, reason, info, 0);
}

static void invept(uint64_t type, uint64_t eptp, uint64_t high)
{
    cr_assert_eq(run_inv(NVMX_EXIT_INVEPT, INFO_INV, type, eptp, high), NVMX_OK, "%s",
                 h.host.last_log);
}

static void invvpid(uint64_t type, uint64_t vpid_word, uint64_t linear)
{
    cr_assert_eq(run_inv(NVMX_EXIT_INVVPID, INFO_INV, type, vpid_word, linear), NVMX_OK, "%s",
                 h.host.last_log);
}

/* The flush log holds exactly these requests, each at least once (a host-side duplicate is
 * harmless, a missing or extra one is not). */
static void assert_flushes(const nvmx_tlb_flush *expected, size_t n)
{
    cr_assert_leq(h.host.tlb_flush_count, FAKE_MAX_TLB_FLUSHES);
    for (long i = 0; i < h.host.tlb_flush_count; i++) {
        const nvmx_tlb_flush *f = &h.host.tlb_flushes[i];
        bool known = false;
        for (size_t j = 0; j < n; j++)
            known |= f->kind == expected[j].kind && f->vpid == expected[j].vpid &&
                     f->eptp == expected[j].eptp && f->linear == expected[j].linear;
        cr_assert(known, "unexpected flush kind %d vpid %u eptp %#llx linear %#llx", f->kind,
                  f->vpid, (unsigned long long)f->eptp, (unsigned long long)f->linear);
    }
    for (size_t j = 0; j < n; j++) {
        bool seen = false;
        for (long i = 0; i < h.host.tlb_flush_count; i++) {
            const nvmx_tlb_flush *f = &h.host.tlb_flushes[i];
            seen |= f->kind == expected[j].kind && f->vpid == expected[j].vpid &&
                    f->eptp == expected[j].eptp && f->linear == expected[j].linear;
        }
        cr_assert(seen, "missing flush kind %d vpid %u eptp %#llx", expected[j].kind,
                  expected[j].vpid, (unsigned long long)expected[j].eptp);
    }
}

static void assert_no_flush(void)
{
    cr_assert_eq(h.host.tlb_flush_count, 0, "%ld flushes", h.host.tlb_flush_count);
}

/* An EPT02 for eptp12 (as a VM entry would create it); returns its EPTP. */
static uint64_t ept02_for(uint64_t eptp12)
{
    uint64_t eptp02;
    cr_assert_eq(ept02_root_hpa(h.vcpu, eptp12, &eptp02), NVMX_OK);
    return eptp02;
}

static bool has_ept02(uint64_t eptp12)
{
    uint64_t eptp02;
    return ept02_root_eptp(h.vcpu, eptp12, &eptp02);
}

/* A VPID02 for L1's VPID (as a VM entry would take it); the flush of the new slot is forgotten. */
static uint16_t vpid02_for(uint16_t vpid12)
{
    uint16_t vpid02;
    cr_assert_eq(vpid02_get(h.vcpu, vpid12, &vpid02), NVMX_OK);
    h.host.tlb_flush_count = 0;
    return vpid02;
}

static void assert_vmfail_28_changing_nothing(uint64_t rip)
{
    cr_assert(harness_failed_valid(&h, ERR_28), "expected VMfailValid(28)");
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip + INSN_LENGTH);
    assert_no_flush();
}

/* ---- INVEPT: types ---------------------------------------------------------------------- */

/* SDM 31.3 INVEPT, 29.4.3.1: single-context drops the mappings of EPTP[51:12]: its EPT02 goes,
 * the hardware is asked to flush that EPT02's root, other EPT02s stay. */
Test(invept, single_context_flushes_exactly_that_ept02)
{
    harness_vmxon_vmptrld(&h);
    uint64_t a02 = ept02_for(EPTP_A);
    ept02_for(EPTP_B);
    invept(1, EPTP_A, 0);
    cr_assert(harness_succeeded(&h));
    cr_assert_not(has_ept02(EPTP_A));
    cr_assert(has_ept02(EPTP_B));
    assert_flushes(&(nvmx_tlb_flush){.kind = NVMX_TLB_FLUSH_EPTP, .eptp = a02}, 1);
}

/* SDM 31.3: the EPT12 root is EPTP[51:12]: other valid flag bits name the same root. */
Test(invept, single_context_matches_the_root_address_not_the_flags)
{
    harness_vmxon_vmptrld(&h);
    uint64_t a02 = ept02_for(EPTP_A);
    invept(1, (EPTP_A & ~0xFFFull) | 6 | (3 << 3), 0);
    cr_assert(harness_succeeded(&h));
    cr_assert_not(has_ept02(EPTP_A));
    assert_flushes(&(nvmx_tlb_flush){.kind = NVMX_TLB_FLUSH_EPTP, .eptp = a02}, 1);
}

/* Nothing was built from an EPTP that never ran: nothing to drop or flush. */
Test(invept, single_context_of_unused_eptp_succeeds_without_flush)
{
    harness_vmxon_vmptrld(&h);
    ept02_for(EPTP_B);
    h.vcpu->vmcs02_source = VMCS_A; /* as after an entry from VMCS_A */
    invept(1, EPTP_A, 0);
    cr_assert(harness_succeeded(&h));
    cr_assert(has_ept02(EPTP_B));
    assert_no_flush();
    cr_assert_eq(h.vcpu->vmcs02_source, VMCS_A, "nothing dropped: no full rebuild");
}

/* SDM 31.3 INVEPT: bits 127:64 of the descriptor are reserved but not checked. */
Test(invept, descriptor_high_quadword_is_ignored)
{
    harness_vmxon_vmptrld(&h);
    invept(1, EPTP_A, ~0ull);
    cr_assert(harness_succeeded(&h));
    invept(2, ~0ull, ~0ull);
    cr_assert(harness_succeeded(&h));
}

/* SDM 31.3 INVEPT, 29.4.3.1: all-context drops every EPT02 and flushes each root. */
Test(invept, all_context_flushes_every_ept02)
{
    harness_vmxon_vmptrld(&h);
    uint64_t a02 = ept02_for(EPTP_A);
    uint64_t b02 = ept02_for(EPTP_B);
    invept(2, 0, 0);
    cr_assert(harness_succeeded(&h));
    cr_assert_not(has_ept02(EPTP_A));
    cr_assert_not(has_ept02(EPTP_B));
    cr_assert_eq(h.vcpu->ept02.pages, 0);
    const nvmx_tlb_flush expected[] = {{.kind = NVMX_TLB_FLUSH_EPTP, .eptp = a02},
                                       {.kind = NVMX_TLB_FLUSH_EPTP, .eptp = b02}};
    assert_flushes(expected, 2);
}

Test(invept, all_context_without_ept02_succeeds_without_flush)
{
    harness_vmxon_vmptrld(&h);
    invept(2, 0, 0);
    cr_assert(harness_succeeded(&h));
    assert_no_flush();
}

/* SDM 31.3, A.10: types 0 and 3 and anything above are never INVEPT types: VMfail(28), with
 * nothing dropped. In 64-bit mode the register has 64 bits: type 1 with bit 32 is not 1. */
Test(invept, unsupported_types_fail_28)
{
    harness_vmxon_vmptrld(&h);
    ept02_for(EPTP_A);
    const uint64_t types[] = {0, 3, 4, 0xFF, 1ull << 32 | 1, 1ull << 63 | 2, ~0ull};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(types); i++) {
        uint64_t rip = h.host.regs[NVMX_REG_RIP];
        invept(types[i], EPTP_A, 0);
        assert_vmfail_28_changing_nothing(rip);
        cr_assert(has_ept02(EPTP_A), "type %#llx", (unsigned long long)types[i]);
    }
}

/* SDM 31.3: "IA32_VMX_EPT_VPID_CAP indicates that processor does not support INVEPT_TYPE":
 * the exposed bits decide, one type at a time. */
Test(invept, single_context_not_exposed_fails_28)
{
    hide("vmx-invept-single-context");
    harness_vmxon_vmptrld(&h);
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    invept(1, EPTP_A, 0);
    assert_vmfail_28_changing_nothing(rip);
    invept(2, 0, 0);
    cr_assert(harness_succeeded(&h));
}

Test(invept, all_context_not_exposed_fails_28)
{
    hide("vmx-invept-all-context");
    harness_vmxon_vmptrld(&h);
    ept02_for(EPTP_A);
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    invept(2, 0, 0);
    assert_vmfail_28_changing_nothing(rip);
    cr_assert(has_ept02(EPTP_A));
}

/* SDM 31.3: VMfail without a current VMCS is VMfailInvalid. */
Test(invept, unsupported_type_without_current_vmcs_fails_invalid)
{
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION), NVMX_OK);
    invept(0, EPTP_A, 0);
    cr_assert(harness_failed_invalid(&h));
}

/* ---- INVEPT: the EPTP of single-context (SDM 31.3: "VM entry ... would fail due to the
 * EPTP value", 27.2.1.1) ---------------------------------------------------------------- */

static void assert_eptp_fails_28(uint64_t eptp)
{
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    invept(1, eptp, 0);
    cr_assert(harness_failed_valid(&h, ERR_28), "EPTP %#llx", (unsigned long long)eptp);
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip + INSN_LENGTH);
    cr_assert(has_ept02(EPTP_A), "a failing INVEPT drops nothing");
    assert_no_flush();
}

Test(invept, single_context_null_eptp_fails_28)
{
    harness_vmxon_vmptrld(&h);
    ept02_for(EPTP_A);
    assert_eptp_fails_28(0);
}

Test(invept, single_context_unsupported_memory_type_fails_28)
{
    harness_vmxon_vmptrld(&h);
    ept02_for(EPTP_A);
    for (uint64_t type = 1; type < 8; type++)
        if (type != 6)
            assert_eptp_fails_28((EPTP_A & ~7ull) | type);
}

Test(invept, single_context_unsupported_walk_length_fails_28)
{
    harness_vmxon_vmptrld(&h);
    ept02_for(EPTP_A);
    for (uint64_t walk = 0; walk < 8; walk++)
        if (walk != 3)
            assert_eptp_fails_28((EPTP_A & ~0x38ull) | (walk << 3));
}

/* A/D flags (bit 6) are not exposed on this VM (A.10 bit 21). */
Test(invept, single_context_accessed_dirty_without_capability_fails_28)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    const char *hide[] = {"vmx-eptad"};
    config.disabled_features = hide;
    config.disabled_feature_count = 1;
    harness_init(&h, &config);
    harness_vmxon_vmptrld(&h);
    ept02_for(EPTP_A);
    cr_assert_not(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_EPT_AD));
    assert_eptp_fails_28(EPTP_A | (1ull << 6));
}

Test(invept, single_context_reserved_bits_fail_28)
{
    harness_vmxon_vmptrld(&h);
    ept02_for(EPTP_A);
    for (unsigned bit = 8; bit < 12; bit++)
        assert_eptp_fails_28(EPTP_A | (1ull << bit));
    /* beyond L1's physical-address width (46) */
    assert_eptp_fails_28(EPTP_A | (1ull << 46));
    assert_eptp_fails_28(EPTP_A | (1ull << 63));
}

/* ---- INVEPT and INVVPID: the operand checks before the type ---------------------------- */

/* SDM 31.3: CPL > 0 in VMX root operation is #GP(0), before the type or the descriptor. */
Test(invept, cpl3_raises_gp0)
{
    harness_vmxon_vmptrld(&h);
    ept02_for(EPTP_A);
    fake_host_set_cpl(&h.host, 3);
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    invept(0, 0, 0);
    const nvmx_exception *e = harness_single_exception(&h);
    cr_assert_eq(e->vector, NVMX_VECTOR_GP);
    cr_assert_eq(e->error_code, 0);
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip);
    cr_assert(has_ept02(EPTP_A));
    assert_no_flush();
}

Test(invvpid, cpl3_raises_gp0)
{
    harness_vmxon_vmptrld(&h);
    fake_host_set_cpl(&h.host, 3);
    invvpid(2, 0, 0);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_GP);
    assert_no_flush();
}

/* SDM 31.3: outside VMX operation both are #UD. */
Test(invept, outside_vmx_operation_raises_ud)
{
    invept(2, 0, 0);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
}

Test(invvpid, outside_vmx_operation_raises_ud)
{
    invvpid(2, 0, 0);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
}

/* SDM 31.3 exceptions: #UD when the processor does not support INVEPT (EPT_VPID_CAP[20]) or
 * INVVPID ([32]) even though it supports EPT / VPID. */
Test(invept, without_invept_capability_raises_ud)
{
    hide("vmx-invept");
    harness_vmxon_vmptrld(&h);
    cr_assert(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_EPT));
    invept(2, 0, 0);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
}

Test(invvpid, without_invvpid_capability_raises_ud)
{
    hide("vmx-invvpid");
    harness_vmxon_vmptrld(&h);
    cr_assert(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_VPID));
    invvpid(2, 0, 0);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
}

/* SDM 31.3: the type is checked before the descriptor is read: an unsupported type fails 28
 * even with the descriptor on a page that would fault. */
Test(invept, unsupported_type_fails_28_before_the_descriptor_is_read)
{
    harness_vmxon_vmptrld(&h);
    h.host.fault_pages[h.host.fault_page_count++] = OPERAND;
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    invept(0, 0, 0);
    assert_vmfail_28_changing_nothing(rip);
}

Test(invvpid, unsupported_type_fails_28_before_the_descriptor_is_read)
{
    harness_vmxon_vmptrld(&h);
    h.host.fault_pages[h.host.fault_page_count++] = OPERAND;
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    invvpid(4, 0, 0);
    assert_vmfail_28_changing_nothing(rip);
}

/* SDM 31.3 (#PF "if a page fault occurs in accessing the memory operand"): a descriptor whose
 * second half lies on a faulting page is #PF with that address; nothing is dropped or flushed
 * and RIP stays. */
static void descriptor_on_faulting_page(uint32_t reason, uint64_t type)
{
    harness_vmxon_vmptrld(&h);
    ept02_for(EPTP_A);
    vpid02_for(5);
    const uint64_t desc = OPERAND + 0x1000 - 8; /* crosses into the next page */
    h.host.fault_pages[h.host.fault_page_count++] = OPERAND + 0x1000;
    h.host.regs[NVMX_REG_RAX] = desc;
    h.host.regs[NVMX_REG_RCX] = type;
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    cr_assert_eq(harness_exit(&h, reason, INFO_INV, 0), NVMX_OK);
    const nvmx_exception *e = harness_single_exception(&h);
    cr_assert_eq(e->vector, NVMX_VECTOR_PF);
    cr_assert_eq(e->cr2, OPERAND + 0x1000);
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip);
    cr_assert(has_ept02(EPTP_A));
    assert_no_flush();
}

Test(invept, descriptor_on_faulting_page_raises_pf)
{
    descriptor_on_faulting_page(NVMX_EXIT_INVEPT, 2);
}

Test(invvpid, descriptor_on_faulting_page_raises_pf)
{
    descriptor_on_faulting_page(NVMX_EXIT_INVVPID, 2);
}

/* SDM 31.3 64-bit mode exceptions: a non-canonical memory operand is #GP(0). */
Test(invvpid, noncanonical_descriptor_address_raises_gp0)
{
    harness_vmxon_vmptrld(&h);
    h.host.regs[NVMX_REG_RAX] = 0x0000800000000000ull;
    h.host.regs[NVMX_REG_RCX] = 2;
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_INVVPID, INFO_INV, 0), NVMX_OK);
    const nvmx_exception *e = harness_single_exception(&h);
    cr_assert_eq(e->vector, NVMX_VECTOR_GP);
    assert_no_flush();
}

/* Unbacked guest-physical memory reads as all ones (docs/ARCHITECTURE.md): an EPTP of all
 * ones is invalid and a VPID word of all ones sets bits 63:16: VMfail(28). */
Test(invept, descriptor_in_unbacked_memory_reads_all_ones_and_fails_28)
{
    harness_vmxon_vmptrld(&h);
    h.host.regs[NVMX_REG_RAX] = 0x40000000ull; /* beyond the fake host's 16 MiB */
    h.host.regs[NVMX_REG_RCX] = 1;
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_INVEPT, INFO_INV, 0), NVMX_OK);
    cr_assert(harness_failed_valid(&h, ERR_28));
    h.host.regs[NVMX_REG_RCX] = 1;
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_INVVPID, INFO_INV, 0), NVMX_OK);
    cr_assert(harness_failed_valid(&h, ERR_28));
    assert_no_flush();
}

/* The descriptor is read once: one translation per page it touches, one l1_read. */
Test(invvpid, descriptor_is_read_once)
{
    harness_vmxon_vmptrld(&h);
    long reads = h.host.l1_reads, translates = h.host.translates;
    invvpid(2, 0, 0);
    cr_assert(harness_succeeded(&h));
    cr_assert_eq(h.host.l1_reads - reads, 1);
    cr_assert_eq(h.host.translates - translates, 1);
}

/* SDM 31.3: outside IA-32e mode the register operand has 32 bits: bits 63:32 of RCX are not
 * part of the type. In 64-bit mode they are (an unsupported type, 28). */
Test(invvpid, type_register_is_32_bits_outside_ia32e_mode)
{
    harness_vmxon_vmptrld(&h);
    uint16_t v02 = vpid02_for(5);
    fake_host_set_mode_protected32(&h.host);
    cr_assert_eq(run_inv(NVMX_EXIT_INVVPID, INFO_INV32, 0xFFFFFFFF00000001ull, 5, 0), NVMX_OK);
    cr_assert(harness_succeeded(&h), "%d exceptions", h.host.exception_count);
    assert_flushes(&(nvmx_tlb_flush){.kind = NVMX_TLB_FLUSH_VPID, .vpid = v02}, 1);
}

Test(invvpid, type_register_high_bits_in_64_bit_mode_fail_28)
{
    harness_vmxon_vmptrld(&h);
    vpid02_for(5);
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    invvpid(0xFFFFFFFF00000001ull, 5, 0);
    assert_vmfail_28_changing_nothing(rip);
}

Test(invept, type_register_is_32_bits_outside_ia32e_mode)
{
    harness_vmxon_vmptrld(&h);
    uint64_t a02 = ept02_for(EPTP_A);
    fake_host_set_mode_protected32(&h.host);
    cr_assert_eq(run_inv(NVMX_EXIT_INVEPT, INFO_INV32, 0x100000001ull, EPTP_A, 0), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    assert_flushes(&(nvmx_tlb_flush){.kind = NVMX_TLB_FLUSH_EPTP, .eptp = a02}, 1);
}

/* ---- INVVPID: types and descriptor ------------------------------------------------------ */

/* SDM 31.3 INVVPID type 0, 29.4.3.1: the mappings of that linear address for that VPID: the
 * VPID02 L1's VPID runs on, that address. */
Test(invvpid, type0_flushes_the_address_in_that_vpid02)
{
    harness_vmxon_vmptrld(&h);
    uint16_t v5 = vpid02_for(5);
    vpid02_for(7);
    invvpid(0, 5, 0x7FFFFFFFF000ull);
    cr_assert(harness_succeeded(&h));
    assert_flushes(&(nvmx_tlb_flush){.kind = NVMX_TLB_FLUSH_VPID_ADDRESS,
                                     .vpid = v5,
                                     .linear = 0x7FFFFFFFF000ull},
                   1);
}

Test(invvpid, type0_canonical_high_half_address_succeeds)
{
    harness_vmxon_vmptrld(&h);
    uint16_t v5 = vpid02_for(5);
    invvpid(0, 5, 0xFFFF800000000000ull);
    cr_assert(harness_succeeded(&h));
    assert_flushes(&(nvmx_tlb_flush){.kind = NVMX_TLB_FLUSH_VPID_ADDRESS,
                                     .vpid = v5,
                                     .linear = 0xFFFF800000000000ull},
                   1);
}

/* SDM 31.3: type 0 with a linear address that is not canonical: VMfail(28). */
Test(invvpid, type0_noncanonical_address_fails_28)
{
    harness_vmxon_vmptrld(&h);
    vpid02_for(5);
    const uint64_t bad[] = {0x0000800000000000ull, 0xFFFF7FFFFFFFFFFFull, 1ull << 63,
                            0x00FF000000000000ull};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(bad); i++) {
        uint64_t rip = h.host.regs[NVMX_REG_RIP];
        invvpid(0, 5, bad[i]);
        assert_vmfail_28_changing_nothing(rip);
    }
}

/* SDM 31.3: VPID 0 is invalid for types 0, 1 and 3. */
Test(invvpid, type0_vpid_zero_fails_28)
{
    harness_vmxon_vmptrld(&h);
    vpid02_for(0); /* an L2 without "enable VPID": never named by INVVPID */
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    invvpid(0, 0, 0x1000);
    assert_vmfail_28_changing_nothing(rip);
}

Test(invvpid, type1_vpid_zero_fails_28)
{
    harness_vmxon_vmptrld(&h);
    vpid02_for(0);
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    invvpid(1, 0, 0);
    assert_vmfail_28_changing_nothing(rip);
}

Test(invvpid, type3_vpid_zero_fails_28)
{
    harness_vmxon_vmptrld(&h);
    vpid02_for(0);
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    invvpid(3, 0, 0);
    assert_vmfail_28_changing_nothing(rip);
}

/* SDM 31.3 type 1, 29.4.3.1: every mapping of that VPID: its VPID02, others untouched. */
Test(invvpid, type1_flushes_that_vpid02)
{
    harness_vmxon_vmptrld(&h);
    vpid02_for(5);
    uint16_t v7 = vpid02_for(7);
    invvpid(1, 7, 0xDEAD); /* the linear address is not used by type 1 */
    cr_assert(harness_succeeded(&h));
    assert_flushes(&(nvmx_tlb_flush){.kind = NVMX_TLB_FLUSH_VPID, .vpid = v7}, 1);
}

/* SDM 31.3 type 3: all but global translations of that VPID. */
Test(invvpid, type3_flushes_that_vpid02_retaining_globals)
{
    harness_vmxon_vmptrld(&h);
    uint16_t v5 = vpid02_for(5);
    vpid02_for(7);
    invvpid(3, 5, 0);
    cr_assert(harness_succeeded(&h));
    assert_flushes(&(nvmx_tlb_flush){.kind = NVMX_TLB_FLUSH_VPID_NONGLOBAL, .vpid = v5}, 1);
}

/* SDM 31.3 type 2: all VPIDs except 0000H: every VPID02 of an L1 VPID; not the one of an L2
 * without VPID (L1's VPID 0000H), not L1's own context. The VPID field is not checked. */
Test(invvpid, type2_flushes_every_vpid02_of_l1_vpids_only)
{
    harness_vmxon_vmptrld(&h);
    uint16_t v5 = vpid02_for(5);
    uint16_t v7 = vpid02_for(7);
    vpid02_for(0);
    invvpid(2, 0, 0x0000800000000000ull); /* VPID 0 and a non-canonical address are fine */
    cr_assert(harness_succeeded(&h));
    const nvmx_tlb_flush expected[] = {{.kind = NVMX_TLB_FLUSH_VPID, .vpid = v5},
                                       {.kind = NVMX_TLB_FLUSH_VPID, .vpid = v7}};
    assert_flushes(expected, 2);
}

/* A VPID of L1 that has no VPID02 (never ran, or its slot was taken, which flushed it) has
 * nothing cached: success without a flush. */
Test(invvpid, vpid_without_vpid02_succeeds_without_flush)
{
    harness_vmxon_vmptrld(&h);
    vpid02_for(5);
    for (uint64_t type = 0; type < 4; type++) {
        if (type == 2)
            continue;
        invvpid(type, 9, 0x1000);
        cr_assert(harness_succeeded(&h));
    }
    assert_no_flush();
}

/* SDM 31.3: descriptor bits 63:16 not 0 -> VMfail(28), for every type (2 included). */
Test(invvpid, descriptor_bits_63_16_fail_28_for_every_type)
{
    harness_vmxon_vmptrld(&h);
    vpid02_for(5);
    const uint64_t words[] = {5 | (1ull << 16), 5 | (1ull << 63), 0xFFFFFFFFFFFF0005ull};
    for (uint64_t type = 0; type < 4; type++) {
        for (size_t i = 0; i < NVMX_ARRAY_SIZE(words); i++) {
            uint64_t rip = h.host.regs[NVMX_REG_RIP];
            invvpid(type, words[i], 0x1000);
            assert_vmfail_28_changing_nothing(rip);
        }
    }
}

/* SDM 31.3, A.10: types above 3 do not exist: VMfail(28). */
Test(invvpid, reserved_types_fail_28)
{
    harness_vmxon_vmptrld(&h);
    vpid02_for(5);
    const uint64_t types[] = {4, 5, 0xFF, 1ull << 32, 1ull << 63, ~0ull};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(types); i++) {
        uint64_t rip = h.host.regs[NVMX_REG_RIP];
        invvpid(types[i], 5, 0x1000);
        assert_vmfail_28_changing_nothing(rip);
    }
}

/* SDM 31.3: each type is supported only as IA32_VMX_EPT_VPID_CAP[43:40] says. */
static void type_not_exposed_fails_28(const char *feature, uint64_t type)
{
    hide(feature);
    harness_vmxon_vmptrld(&h);
    vpid02_for(5);
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    invvpid(type, 5, 0x1000);
    assert_vmfail_28_changing_nothing(rip);
    /* the other types still work */
    invvpid(type == 1 ? 3 : 1, 5, 0);
    cr_assert(harness_succeeded(&h));
}

Test(invvpid, type0_not_exposed_fails_28)
{
    type_not_exposed_fails_28("vmx-invvpid-single-addr", 0);
}
Test(invvpid, type1_not_exposed_fails_28)
{
    type_not_exposed_fails_28("vmx-invvpid-single-context", 1);
}
Test(invvpid, type2_not_exposed_fails_28)
{
    type_not_exposed_fails_28("vmx-invvpid-all-context", 2);
}
Test(invvpid, type3_not_exposed_fails_28)
{
    type_not_exposed_fails_28("vmx-invvpid-single-context-noglobals", 3);
}
