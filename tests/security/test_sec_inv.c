/* SPDX-License-Identifier: MIT */
/*
 * INVEPT and INVVPID exposed to a hostile L1 (CVE-2014-3645 / CVE-2014-3646: KVM did not
 * handle INVEPT / INVVPID exits and crashed the host; CVE-2017-8106: KVM's INVEPT with a type
 * or context it did not expect dereferenced a NULL root). Every type, reserved ones included,
 * with hostile descriptors: the outcome is exactly VMsucceed or VMfail(28) as an independent
 * reading of SDM Vol. 3C 31.3 says, nothing but RIP/RFLAGS and the VM-instruction error
 * change, no memory is allocated or leaked, and the only flushes are of what L1 holds. Plus
 * an L1 cycling through many VPIDs: the VPID02s stay within the bound and all go back.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "ept/ept02.h"
#include "sec_env.h"
#include "vpid02.h"

static harness h;

#define INFO_INV INFO_MEM_RAX_REG_RCX
#define ERR_28 NVMX_VMERR_INVALID_INVEPT_INVVPID_OPERAND
#define EPTP_GOOD (0x200000ull | 0x1E) /* WB, 4-level (SDM 25.6.11) */

static void setup(void)
{
    sec_nested_init(&h, NULL, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(sec_inv, .init = setup, .fini = teardown);

/* The reference: SDM 31.3 Operation, read independently of lib/exits/inv_instructions.c,
 * for this VM (INVEPT types 1 and 2; INVVPID 0 to 3; EPTPs WB with a 4-level walk, no A/D,
 * within 46 bits). */
static bool canonical(uint64_t a)
{
    int64_t s = (int64_t)(a << 16) >> 16;
    return (uint64_t)s == a;
}

static bool invept_succeeds(uint64_t type, uint64_t eptp)
{
    if (type == 2)
        return true;
    if (type != 1)
        return false;
    /* Memory type UC (0) or WB (6), walk length 4, A/D flags (bit 6) exposed, bits 11:7 and
     * beyond the address width reserved. */
    return ((eptp & 7) == 0 || (eptp & 7) == 6) && ((eptp >> 3) & 7) == 3 && !(eptp & 0xF80) &&
           !(eptp >> 46);
}

static bool invvpid_succeeds(uint64_t type, uint64_t low, uint64_t linear)
{
    if (type > 3 || (low >> 16))
        return false;
    if (type == 2)
        return true;
    if ((low & 0xFFFF) == 0)
        return false;
    return type != 0 || canonical(linear);
}

static const uint64_t types[] = {
    0, 1, 2, 3, 4, 5, 7, 0xFF, 1ull << 32, 1ull << 32 | 1, 0x8000000000000002ull, ~0ull};
static const uint64_t descriptors[][2] = {
    {0, 0},                                     /* NULL EPTP, VPID 0 */
    {~0ull, ~0ull},                             /* all ones */
    {EPTP_GOOD, 0},                             /* a valid EPTP never used */
    {EPTP_GOOD | (1ull << 6), 0},               /* A/D flags (exposed) */
    {EPTP_GOOD | (1ull << 7), 0},               /* reserved bit 7 */
    {EPTP_GOOD | (1ull << 51), 0},              /* beyond the address width */
    {5, 0x1000},                                /* VPID 5, canonical */
    {5, 0x0000800000000000ull},                 /* non-canonical */
    {5 | (1ull << 16), 0},                      /* reserved bit 16 */
    {0xFFFF, 0xFFFFFFFFFFFFF000ull},            /* VPID FFFFH, canonical high half */
    {0x8000000000000005ull, 0x7FFFFFFFFFFFull}, /* reserved bit 63 */
};

static uint64_t l1_rflags(void)
{
    return h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RFLAGS];
}

/* CVE-2014-3645, CVE-2014-3646, CVE-2017-8106. */
Test(sec_inv, every_type_and_hostile_descriptor_is_exactly_vmsucceed_or_vmfail_28)
{
    uint16_t v5;
    cr_assert_eq(vpid02_get(h.vcpu, 5, &v5), NVMX_OK);
    const int rip_flags[] = {VMCS12_ORD_GUEST_RIP, VMCS12_ORD_GUEST_RFLAGS, -1};
    for (int which = 0; which < 2; which++) {
        uint32_t reason = which ? NVMX_EXIT_INVVPID : NVMX_EXIT_INVEPT;
        for (size_t t = 0; t < NVMX_ARRAY_SIZE(types); t++) {
            for (size_t d = 0; d < NVMX_ARRAY_SIZE(descriptors); d++) {
                const uint64_t *desc = descriptors[d];
                fake_host_write64(&h.host, OPERAND, desc[0]);
                fake_host_write64(&h.host, OPERAND + 8, desc[1]);
                h.host.regs[NVMX_REG_RAX] = OPERAND;
                h.host.regs[NVMX_REG_RCX] = types[t];
                h.host.tlb_flush_count = 0;
                uint64_t rip = h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RIP];
                sec_snapshot s;
                sec_snapshot_take(&h, &s);
                cr_assert_eq(harness_exit(&h, reason, INFO_INV, 0), NVMX_OK, "%s", h.host.last_log);
                bool ok = which ? invvpid_succeeds(types[t], desc[0], desc[1])
                                : invept_succeeds(types[t], desc[0]);
                cr_assert_eq(h.host.exception_count, 0);
                cr_assert_eq(h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RIP], rip + INSN_LENGTH);
                cr_assert_eq(l1_rflags() & NVMX_RFLAGS_ARITH, ok ? 0 : NVMX_RFLAGS_ZF,
                             "reason %u type %#llx descriptor %zu", reason,
                             (unsigned long long)types[t], d);
                sec_assert_unchanged_except(&h, &s, rip_flags);
                sec_snapshot_free(&s);
                if (!ok)
                    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_INSTRUCTION_ERROR), ERR_28);
                /* Only what L1 holds is ever flushed: VPID 5's VPID02, no EPT02 exists. */
                for (long i = 0; i < h.host.tlb_flush_count; i++) {
                    cr_assert(ok);
                    cr_assert_neq(h.host.tlb_flushes[i].kind, NVMX_TLB_FLUSH_EPTP);
                    cr_assert_eq(h.host.tlb_flushes[i].vpid, v5);
                }
            }
        }
    }
}

/* CVE-2017-8106: single-context INVEPT of an EPTP that never ran, or NULL, with no EPT02 at
 * all: nothing is dereferenced, allocated or flushed. */
Test(sec_inv, invept_of_null_or_unused_eptp_touches_nothing)
{
    const uint64_t eptps[] = {0, EPTP_GOOD, EPTP_GOOD + 0x1000};
    long allocations = h.host.live_allocations, pages = h.host.live_pages;
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(eptps); i++) {
        fake_host_write64(&h.host, OPERAND, eptps[i]);
        h.host.regs[NVMX_REG_RAX] = OPERAND;
        h.host.regs[NVMX_REG_RCX] = 1;
        cr_assert_eq(harness_exit(&h, NVMX_EXIT_INVEPT, INFO_INV, 0), NVMX_OK);
        cr_assert_eq(l1_rflags() & NVMX_RFLAGS_ARITH, eptps[i] ? 0 : NVMX_RFLAGS_ZF);
    }
    cr_assert_eq(h.host.live_allocations, allocations);
    cr_assert_eq(h.host.live_pages, pages);
    cr_assert_eq(h.host.tlb_flush_count, 0);
}

/* INVEPT all-context gives back every page and node of every EPT02 (no leak, whatever L1 built
 * before), and each root is flushed. */
Test(sec_inv, invept_all_context_frees_every_ept02)
{
    long allocations = h.host.live_allocations, pages = h.host.live_pages;
    for (uint64_t i = 0; i < 16; i++) {
        uint64_t eptp02;
        cr_assert_eq(ept02_root_hpa(h.vcpu, EPTP_GOOD + (i << 12), &eptp02), NVMX_OK);
    }
    h.host.regs[NVMX_REG_RAX] = OPERAND;
    h.host.regs[NVMX_REG_RCX] = 2;
    h.host.tlb_flush_count = 0;
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_INVEPT, INFO_INV, 0), NVMX_OK);
    cr_assert_eq(l1_rflags() & NVMX_RFLAGS_ARITH, 0);
    cr_assert_eq(h.host.live_allocations, allocations);
    cr_assert_eq(h.host.live_pages, pages);
    cr_assert_geq(h.host.tlb_flush_count, 16);
    cr_assert_eq(h.vcpu->ept02.root_count, 0);
}

/* A hostile L1 runs L2 under 300 different VPIDs: the hardware VPIDs it costs L0 stay within
 * max_vpid02, each reuse is flushed before L2 runs on it, and vCPU destruction gives all back. */
Test(sec_inv, many_l1_vpids_stay_within_the_vpid02_bound)
{
    sec_set_proc(&h, 0, NVMX_CTL(VPID));
    for (unsigned i = 0; i < 300; i++) {
        uint16_t vpid12 = (uint16_t)(1 + (i * 7919u) % 65535u);
        sec_vmwrite(&h, NVMX_FIELD_VIRTUAL_PROCESSOR_ID, vpid12);
        h.host.tlb_flush_count = 0;
        sec_launch(&h, i ? NVMX_EXIT_VMRESUME : NVMX_EXIT_VMLAUNCH);
        uint16_t vpid02 = (uint16_t)h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VIRTUAL_PROCESSOR_ID];
        cr_assert_leq(h.host.live_vpids, NVMX_DEFAULT_MAX_VPID02);
        if (i >= NVMX_DEFAULT_MAX_VPID02) {
            cr_assert_eq(h.host.tlb_flush_count, 1, "a reassigned VPID02 is flushed");
            cr_assert_eq(h.host.tlb_flushes[0].vpid, vpid02);
        }
        cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    }
    nvmx_vcpu_destroy(h.vcpu);
    cr_assert_eq(h.host.live_vpids, 0);
    cr_assert_eq(nvmx_vcpu_create(h.vm, &h.host, &h.vcpu), NVMX_OK);
}

/* The undecoded path (a host passing the bytes): INVEPT rcx, [rax] = 66 0F 38 80 08 and
 * INVVPID = 66 0F 38 81 08 are emulated like the reported ones. */
Test(sec_inv, undecoded_invept_invvpid_are_emulated)
{
    const uint8_t bytes[2][5] = {{0x66, 0x0F, 0x38, 0x80, 0x08}, {0x66, 0x0F, 0x38, 0x81, 0x08}};
    for (int which = 0; which < 2; which++) {
        nvmx_exit exit = {.reason = NVMX_EXIT_UNDECODED, .bytes_length = 5};
        memcpy(exit.bytes, bytes[which], 5);
        fake_host_write64(&h.host, OPERAND, 0);
        fake_host_write64(&h.host, OPERAND + 8, 0);
        h.host.regs[NVMX_REG_RAX] = OPERAND;
        h.host.regs[NVMX_REG_RCX] = which ? 4 : 3; /* reserved types */
        uint64_t rip = h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RIP];
        nvmx_status status = nvmx_on_l1_exit(h.vcpu, &exit, &h.next);
        if (status == NVMX_ERR_UNSUPPORTED)
            cr_skip_test("built without Zydis");
        cr_assert_eq(status, NVMX_OK);
        cr_assert_eq(h.host.exception_count, 0);
        cr_assert_eq(h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RIP], rip + 5);
        cr_assert_eq(l1_rflags() & NVMX_RFLAGS_ARITH, NVMX_RFLAGS_ZF);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_INSTRUCTION_ERROR), ERR_28);
    }
}
