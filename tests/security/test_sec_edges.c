/* SPDX-License-Identifier: MIT */
/*
 * CVE-2024-50115 class: pointers L1 controls that aim at the last bytes of its memory or
 * beyond — a PAE L2's CR3 (the PDPTEs a VM entry loads, SDM 27.3.1.6, Vol. 3A 4.4.1: CR3 bits
 * 4:0 are ignored), L1's EPTP and EPT12 entries (29.3.2). Every read stays inside what the
 * pointer names (the fake host's l1_read refuses anything beyond RAM, and ASan watches the
 * buffer), and memory that is not RAM reads as all ones: the architectural failure follows.
 */
#include <criterion/criterion.h>

#include "ept_l2_fixture.h"

#define RAM_END ((uint64_t)HARNESS_RAM)
#define AR_CODE32 0xC09Bu /* type 11, S, P, D/B, G */
#define WB_4LEVEL ((3u << 3) | MEMTYPE_WB)

/* A PAE L2 without EPT: CR0.PG, CR4.PAE, no IA-32e mode (the fixture's L2 has PG and PAE). */
static void l1_makes_l2_pae(harness *h, uint64_t cr3)
{
    sec_vmwrite(h, NVMX_FIELD_VM_ENTRY_CONTROLS,
                sec_vmread(h, NVMX_FIELD_VM_ENTRY_CONTROLS) &
                    ~(uint64_t)NVMX_CTL(ENTRY_IA32E_MODE));
    sec_vmwrite(h, NVMX_FIELD_GUEST_IA32_EFER, 0);
    sec_vmwrite(h, NVMX_FIELD_GUEST_CS_AR_BYTES, AR_CODE32);
    sec_vmwrite(h, NVMX_FIELD_GUEST_CR3, cr3);
}

/* The PDPT in the last 32 bytes of RAM, named by a CR3 whose ignored bits 4:0 point past the
 * start of it: the four PDPTEs come from exactly those bytes. */
Test(sec_edges, pae_cr3_in_the_last_bytes_of_ram_loads_the_pdptes_there)
{
    harness h;
    sec_nested_init(&h, NULL, NULL);
    for (unsigned i = 0; i < 4; i++)
        fake_host_write64(&h.host, RAM_END - 32 + 8 * i, 0x00200001ull + ((uint64_t)i << 12));
    l1_makes_l2_pae(&h, RAM_END - 32 + 0x10);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    for (unsigned i = 0; i < 4; i++)
        cr_assert_eq(h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_PDPTR0 + i],
                     0x00200001ull + ((uint64_t)i << 12), "PDPTE %u", i);
    harness_fini(&h);
}

/* CR3 beyond RAM: the PDPTEs read as all ones, reserved bits set: VM-entry failure, reason 33
 * with qualification 2 (SDM 27.8), L2 never runs. */
Test(sec_edges, pae_cr3_beyond_ram_fails_entry_with_the_pdpte_qualification)
{
    harness h;
    sec_nested_init(&h, NULL, NULL);
    l1_makes_l2_pae(&h, RAM_END);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON),
                 NVMX_EXIT_ENTRY_FAIL_GUEST_STATE | (1u << 31));
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EXIT_QUALIFICATION), 2);
    harness_fini(&h);
}

static ept_l2 e;

static void setup(void)
{
    ept_l2_init(&e, NULL, NULL, false);
}
static void teardown(void)
{
    ept_l2_fini(&e);
}
TestSuite(sec_edges_ept, .init = setup, .fini = teardown);

/* L1 points its EPTP (accepted by VM entry: within the address width) at a page that is
 * not RAM: the walk reads all ones, an EPT misconfiguration (29.3.3.1) for L1, reason 49. */
Test(sec_edges_ept, eptp_root_beyond_ram_is_an_ept_misconfiguration_for_l1)
{
    cr_assert_eq(sec_l2_exit_simple(&e.h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    sec_vmwrite(&e.h, NVMX_FIELD_EPT_POINTER, RAM_END | WB_4LEVEL);
    ept_l2_resume(&e);
    cr_assert_eq(ept_l2_violation(&e, 0x5000, EPT_QUAL_READ, 0), NVMX_OK, "%s", e.h.host.last_log);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L1);
    cr_assert_eq(sec_vmread(&e.h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_EPT_MISCONFIG);
    cr_assert_eq(sec_vmread(&e.h, NVMX_FIELD_GUEST_PHYSICAL_ADDRESS), 0x5000);
}

/* An EPT12 table in the last page of RAM works like any other. */
Test(sec_edges_ept, ept12_table_in_the_last_page_of_ram_translates)
{
    const uint64_t l2 = 0x7FE00000ull, l1 = 0x300000;
    ept12_map(&e, l2, l1, 4096, EPT_RWX | EPT_WB);
    /* move the PT (level 1) the walk uses into RAM's last page */
    uint64_t pde = ept12_entry_gpa(&e, l2, 2);
    uint64_t pt = fake_host_read64(&e.h.host, pde) & 0x000FFFFFFFFFF000ull;
    for (unsigned i = 0; i < 512; i++)
        fake_host_write64(&e.h.host, RAM_END - 4096 + 8 * i,
                          fake_host_read64(&e.h.host, pt + 8 * i));
    fake_host_write64(&e.h.host, pde, (RAM_END - 4096) | EPT_RWX);
    cr_assert_eq(ept_l2_violation(&e, l2 + 0x10, EPT_QUAL_READ, 0), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L2);
    uint64_t leaf, size;
    cr_assert(ept02_hw_walk(ept_l2_eptp02(&e), l2, &leaf, &size));
    cr_assert_eq(leaf & 0x000FFFFFFFFFF000ull, FAKE_EPT01_HOST_BASE + l1);
}

/* An EPT12 entry pointing at a table beyond RAM: all ones, a misconfiguration for L1. */
Test(sec_edges_ept, ept12_table_beyond_ram_is_an_ept_misconfiguration_for_l1)
{
    const uint64_t l2 = 0x7FE00000ull;
    ept12_map(&e, l2, 0x300000, 4096, EPT_RWX | EPT_WB);
    fake_host_write64(&e.h.host, ept12_entry_gpa(&e, l2, 2), RAM_END | EPT_RWX);
    cr_assert_eq(ept_l2_violation(&e, l2, EPT_QUAL_WRITE, 0), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L1);
    cr_assert_eq(sec_vmread(&e.h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_EPT_MISCONFIG);
}

/* An EPT12 leaf mapping the last page of RAM and one beyond: the first is backed, the second
 * is L0's business (no EPT01 backing: NVMX_RUN_L0_HANDLES with the L1 GPA), never mapped. */
Test(sec_edges_ept, ept12_leaf_at_and_beyond_the_end_of_ram)
{
    const uint64_t l2 = 0x7FE00000ull;
    ept12_map(&e, l2, RAM_END - 4096, 4096, EPT_RWX | EPT_WB);
    ept12_map(&e, l2 + 4096, RAM_END, 4096, EPT_RWX | EPT_WB);
    cr_assert_eq(ept_l2_violation(&e, l2 + 0xFF8, EPT_QUAL_WRITE, 0), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L2);
    cr_assert_eq(ept_l2_violation(&e, l2 + 4096, EPT_QUAL_READ, 0), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L0_HANDLES);
    cr_assert(e.h.next.l1_gpa_valid);
    cr_assert_eq(e.h.next.l1_gpa, RAM_END);
    cr_assert_not(e.h.next.ept01_backed);
    uint64_t leaf, size;
    cr_assert_not(ept02_hw_walk(ept_l2_eptp02(&e), l2 + 4096, &leaf, &size));
}
