/* SPDX-License-Identifier: MIT */
/*
 * VMFUNC EPTP switching by a hostile L1 and L2 (SDM Vol. 3C 26.5.6.3; lib/exits/vmfunc.c):
 * the EPTP list aimed at the end of L1 RAM, beyond it, at the VMXON region and at the current
 * VMCS; random EAX/ECX/list contents checked against the SDM rules computed here
 * independently; a flood of switches over 512 distinct EPT12 roots with the smallest EPT02
 * cap. The outcome is always architectural (a switch, reason 59, #UD), VMFUNC never writes L1
 * memory, and EPT02 memory stays within max_ept02_pages.
 *
 * Classes: out-of-bounds access to L1-controlled structures; double fetch (CVE-2021-29657
 * class); memory growth driven by L1 (issue 6 item 4).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ept/ept02.h"
#include "sec_env.h"

static harness h;

#define RAM_END ((uint64_t)HARNESS_RAM)
#define LIST_GPA 0x300000ull
#define EPTP_OF(root) ((root) | (3u << 3) | 6u) /* 4-level walk, WB (SDM 25.6.11) */
#define EPTP_A EPTP_OF(0x400000ull)
#define EPTP_B EPTP_OF(0x401000ull)

static void setup(void)
{
    sec_nested_init(&h, NULL, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(sec_vmfunc, .init = setup, .fini = teardown);

static uint64_t v02(unsigned ordinal)
{
    return h.host.vmcs[NVMX_HW_VMCS02][ordinal];
}

/* The whole of L1 RAM, to prove VMFUNC wrote none of it. */
static uint8_t *ram_copy(void)
{
    uint8_t *copy = malloc(HARNESS_RAM);
    cr_assert_not_null(copy);
    memcpy(copy, h.host.ram, HARNESS_RAM);
    return copy;
}

/* One VMFUNC 0 with index `ecx` that must switch to `eptp` (true) or exit with reason 59. */
static void vmfunc_expect(uint32_t ecx, bool switches, uint64_t eptp, const char *where)
{
    uint8_t *before = ram_copy();
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(sec_l2_vmfunc(&h, 0, ecx), NVMX_OK, "%s: %s", where, h.host.last_log);
    cr_assert_eq(memcmp(before, h.host.ram, HARNESS_RAM), 0, "%s: L1 memory written", where);
    free(before);
    cr_assert_eq(h.host.exception_count, 0, "%s", where);
    if (switches) {
        cr_assert_eq(h.next.run, NVMX_RUN_L2, "%s", where);
        cr_assert_eq(vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_EPT_POINTER), eptp);
        cr_assert_eq(v02(VMCS12_ORD_GUEST_RIP), rip + SEC_VMFUNC_LENGTH);
        return;
    }
    cr_assert_eq(h.next.run, NVMX_RUN_L1, "%s", where);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_VMFUNC, "%s", where);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_RIP), rip, "%s", where);
    sec_launch(&h, NVMX_EXIT_VMRESUME);
}

static void launch_with_list_at(uint64_t list_gpa)
{
    sec_l1_enables_eptp_switching(&h, EPTP_A, list_gpa);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
}

/* The list is the last page of L1 RAM: entry 511 is its last 8 bytes (ASan would catch one
 * byte more), read exactly. */
Test(sec_vmfunc, eptp_list_in_the_last_page_of_ram)
{
    launch_with_list_at(RAM_END - PAGE_SIZE_4K);
    fake_host_write64(&h.host, RAM_END - 8, EPTP_B);
    vmfunc_expect(511, true, EPTP_B, "entry 511 = last 8 bytes of RAM");
    fake_host_write64(&h.host, RAM_END - 8, EPTP_B | (1ull << 63));
    vmfunc_expect(511, false, 0, "invalid last entry");
    vmfunc_expect(512, false, 0, "one past the list, one past RAM");
}

/* Beyond RAM (the first unbacked page, the last page within the width): all ones, exit. */
Test(sec_vmfunc, eptp_list_beyond_ram_exits_to_l1)
{
    const uint64_t lists[] = {RAM_END, (1ull << 46) - PAGE_SIZE_4K};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(lists); i++) {
        if (i)
            sec_vmwrite(&h, NVMX_FIELD_EPTP_LIST_ADDRESS, lists[i]);
        else
            sec_l1_enables_eptp_switching(&h, EPTP_A, lists[i]);
        sec_launch(&h, i ? NVMX_EXIT_VMRESUME : NVMX_EXIT_VMLAUNCH);
        vmfunc_expect(0, false, 0, "list beyond RAM, entry 0");
        vmfunc_expect(511, false, 0, "list beyond RAM, entry 511");
        cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);
        cr_assert_eq(h.next.run, NVMX_RUN_L1);
    }
}

/* Aimed at the VMXON region or the current VMCS (the SDM leaves software access to them
 * undefined): the list is read as the L1 memory it is, once, never written; the outcome is
 * the SDM's for whatever bytes are there. */
Test(sec_vmfunc, eptp_list_at_the_vmxon_region_and_the_current_vmcs)
{
    const uint64_t lists[] = {VMXON_REGION, VMCS_A};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(lists); i++) {
        if (i)
            sec_vmwrite(&h, NVMX_FIELD_EPTP_LIST_ADDRESS, lists[i]);
        else
            sec_l1_enables_eptp_switching(&h, EPTP_A, lists[i]);
        sec_launch(&h, i ? NVMX_EXIT_VMRESUME : NVMX_EXIT_VMLAUNCH);
        /* Entry 0 holds the revision identifier (memory type 1: reserved): an exit. */
        vmfunc_expect(0, false, 0, "revision identifier as an EPTP");
        /* An entry L1 wrote into the region behind the library's back is just an entry. */
        fake_host_write64(&h.host, lists[i] + 8 * 300, EPTP_B);
        vmfunc_expect(300, true, EPTP_B, "entry planted in the region");
        cr_assert_eq(fake_host_read32(&h.host, lists[i]), NVMX_VMCS_REVISION_ID);
        cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);
        sec_vmwrite(&h, NVMX_FIELD_EPT_POINTER, EPTP_A);
    }
}

/* ---- Random hostile operands against the SDM rules ---------------------------------------- */

static uint64_t xorshift(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* SDM 25.6.11 / 27.2.1.1 for the exposed capabilities (4-level walks, WB; no A/D, no
 * supervisor shadow stack; width 46), written out here independently of lib/ept/eptp.c. */
static bool reference_eptp_valid(uint64_t eptp)
{
    /* UC (0) or WB (6), 4-level, A/D flags (bit 6) exposed; bit 7 (supervisor shadow stack,
     * not exposed) and 11:8 reserved; within the 46-bit address width. */
    return ((eptp & 7) == 0 || (eptp & 7) == 6) && ((eptp >> 3) & 7) == 3 &&
           ((eptp >> 7) & 0x1F) == 0 && (eptp >> 46) == 0;
}

typedef enum { REF_UD, REF_EXIT, REF_SWITCH } reference_outcome;

/* SDM 26.5.6.2, 26.5.6.3 with EPTP switching the only enabled function. */
static reference_outcome reference_vmfunc(uint64_t rax, uint64_t rcx, uint64_t entry)
{
    uint32_t eax = (uint32_t)rax, ecx = (uint32_t)rcx;
    if (eax > 63)
        return REF_UD;
    if (eax != 0 || ecx >= 512 || !reference_eptp_valid(entry))
        return REF_EXIT;
    return REF_SWITCH;
}

/* Random EAX, ECX (with hostile high halves) and list entries, valid and not: every outcome
 * is the one the rules give, with an OK status. */
Test(sec_vmfunc, random_operands_and_list_entries_follow_the_sdm_rules)
{
    launch_with_list_at(LIST_GPA);
    uint64_t state = 0x5DEECE66Dull;
    unsigned counts[3] = {0};
    for (unsigned i = 0; i < 3000; i++) {
        uint64_t r = xorshift(&state);
        /* EAX 0 (high half hostile) half of the time, else 0-65 or anything. */
        uint64_t rax = xorshift(&state) << 32;
        if ((r & 3) == 2)
            rax = (r >> 8) % 66;
        else if ((r & 3) == 3)
            rax = xorshift(&state);
        /* ECX 0-519 (high half hostile) half of the time, else anything. */
        uint64_t rcx = (r & 4) ? xorshift(&state) : (xorshift(&state) << 32) | (r >> 16) % 520;
        uint64_t entry = EPTP_OF(((r >> 24) & 0xFFFFull) << 12);
        if (r & 8)
            entry ^= 1ull << ((r >> 40) % 64); /* one hostile bit */
        if ((uint32_t)rcx < 512)
            fake_host_write64(&h.host, LIST_GPA + 8 * (uint32_t)rcx, entry);
        reference_outcome expected = reference_vmfunc(rax, rcx, entry);
        counts[expected]++;
        uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
        h.host.exception_count = 0;
        cr_assert_eq(sec_l2_vmfunc(&h, rax, rcx), NVMX_OK, "%s", h.host.last_log);
        switch (expected) {
        case REF_UD:
            cr_assert_eq(h.next.run, NVMX_RUN_L2);
            cr_assert_eq(h.host.exception_count, 1);
            cr_assert_eq(h.host.exceptions[0].vector, NVMX_VECTOR_UD);
            cr_assert_eq(v02(VMCS12_ORD_GUEST_RIP), rip);
            break;
        case REF_EXIT:
            cr_assert_eq(h.next.run, NVMX_RUN_L1, "rax %lx rcx %lx entry %lx", (unsigned long)rax,
                         (unsigned long)rcx, (unsigned long)entry);
            cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_VMFUNC);
            sec_launch(&h, NVMX_EXIT_VMRESUME);
            break;
        case REF_SWITCH:
            cr_assert_eq(h.next.run, NVMX_RUN_L2, "entry %lx", (unsigned long)entry);
            cr_assert_eq(vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_EPT_POINTER), entry);
            cr_assert_eq(v02(VMCS12_ORD_GUEST_RIP), rip + SEC_VMFUNC_LENGTH);
            break;
        }
        cr_assert_leq(h.vcpu->ept02.pages, h.vm->max_ept02_pages);
    }
    cr_assert(counts[REF_UD] && counts[REF_EXIT] && counts[REF_SWITCH] > 100,
              "every outcome exercised: %u %u %u", counts[0], counts[1], counts[2]);
}

/* ---- Resources ----------------------------------------------------------------------------- */

/* 512 distinct EPT12 roots switched to again and again with the smallest cap: EPT02 memory
 * never exceeds max_ept02_pages (LRU eviction of whole roots), vmcs02's EPTP is always the
 * root of the EPTP in use, and destroying the vCPU returns everything (harness_fini). */
Test(sec_vmfunc, switch_flood_over_512_roots_stays_within_the_ept02_cap)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.max_ept02_pages = NVMX_MIN_EPT02_PAGES;
    sec_nested_init(&h, &config, NULL);
    for (unsigned i = 0; i < 512; i++)
        fake_host_write64(&h.host, LIST_GPA + 8 * i, EPTP_OF(0x800000ull + 0x1000ull * i));
    launch_with_list_at(LIST_GPA);
    long allocations = 0;
    for (unsigned round = 0; round < 3; round++) {
        for (unsigned i = 0; i < 512; i++) {
            unsigned index = (i * 37 + round) % 512;
            cr_assert_eq(sec_l2_vmfunc(&h, 0, index), NVMX_OK, "%s", h.host.last_log);
            cr_assert_eq(h.next.run, NVMX_RUN_L2);
            cr_assert_leq(h.host.live_pages, NVMX_MIN_EPT02_PAGES);
            cr_assert_leq(h.vcpu->ept02.pages, NVMX_MIN_EPT02_PAGES);
            uint64_t eptp02;
            cr_assert_eq(ept02_root_hpa(h.vcpu, EPTP_OF(0x800000ull + 0x1000ull * index), &eptp02),
                         NVMX_OK);
            cr_assert_eq(v02(VMCS12_ORD_EPT_POINTER), eptp02);
        }
        if (round == 0)
            allocations = h.host.live_allocations;
        cr_assert_eq(h.host.live_allocations, allocations, "no growth after the first round");
    }
}
