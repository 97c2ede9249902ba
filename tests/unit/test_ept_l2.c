/* SPDX-License-Identifier: MIT */
/*
 * L2 on EPT end to end (SDM Vol. 3C 29.3 EPT, 28.2.1 Table 28-7, 25.6.11 EPTP, 29.4 TLBs):
 * vmcs02's EPTP, L2's EPT violations resolved in EPT02, reflected to L1 with exact exit
 * information, or left to L0 with the L1 GPA; EPT01 changes; the EPT02 page bound.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "arch.h"
#include "ept/ept02.h"
#include "ept_l2_fixture.h"

static ept_l2 e;

static void setup(void)
{
    ept_l2_init(&e, NULL, NULL, false);
}
static void teardown(void)
{
    ept_l2_fini(&e);
}
TestSuite(ept_l2, .init = setup, .fini = teardown);
TestSuite(ept_l2_config);

#define L2_PAGE 0x1000ull
#define L1_PAGE 0x500000ull
#define L2_OTHER 0x2000ull
#define L1_OTHER 0x501000ull
#define GLA 0x7FFF12345678ull
#define Q_LINEAR (EPT_QUAL_LINEAR_VALID | EPT_QUAL_LINEAR_TRANSLATION)

static uint64_t v12(unsigned ordinal)
{
    return e.h.vcpu->current->data.field[ordinal];
}

static void assert_exit_to_l1(uint32_t reason, uint64_t qualification, uint64_t gpa)
{
    cr_assert_eq(e.h.next.run, NVMX_RUN_L1, "%s", e.h.host.last_log);
    cr_assert_not(nvmx_vcpu_in_guest_mode(e.h.vcpu));
    cr_assert_eq(v12(VMCS12_ORD_VM_EXIT_REASON), reason);
    cr_assert_eq(v12(VMCS12_ORD_EXIT_QUALIFICATION), qualification, "qualification %llx",
                 (unsigned long long)v12(VMCS12_ORD_EXIT_QUALIFICATION));
    cr_assert_eq(v12(VMCS12_ORD_GUEST_PHYSICAL_ADDRESS), gpa);
}

/* ---- vmcs02's EPTP (25.6.11) --------------------------------------------------------------- */

Test(ept_l2, vmcs02_eptp_is_the_ept02_root_of_vmcs12s_eptp)
{
    uint64_t eptp02 = ept_l2_eptp02(&e), expected;
    cr_assert_eq(ept02_root_hpa(e.h.vcpu, e.eptp12, &expected), NVMX_OK);
    cr_assert_eq(eptp02, expected);
    cr_assert_neq(eptp02 & ~0xFFFull, e.eptp12 & ~0xFFFull, "never L1's table as host page");
    cr_assert_eq(eptp02 & 0xFFF, (3u << 3) | MEMTYPE_WB, "4-level, WB, no A/D");
    uint64_t leaf, size;
    cr_assert_not(ept02_hw_walk(eptp02, L2_PAGE, &leaf, &size), "EPT02 starts empty");
}

Test(ept_l2, vmcs02_eptp_follows_a_new_vmcs12_eptp_at_the_next_entry)
{
    uint64_t first = ept_l2_eptp02(&e);
    cr_assert_eq(sec_l2_exit_simple(&e.h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L1);
    uint64_t other_root = EPT12_TABLES_END - 4096;
    for (unsigned i = 0; i < 512; i++)
        fake_host_write64(&e.h.host, other_root + 8 * i, 0);
    sec_vmwrite(&e.h, NVMX_FIELD_EPT_POINTER, other_root | (3u << 3) | MEMTYPE_WB);
    ept_l2_resume(&e);
    uint64_t second = ept_l2_eptp02(&e), expected;
    cr_assert_eq(ept02_root_hpa(e.h.vcpu, other_root | (3u << 3) | MEMTYPE_WB, &expected), NVMX_OK);
    cr_assert_eq(second, expected);
    cr_assert_neq(second, first, "another EPT12 root, another EPT02");
}

/* INVEPT (here: the EPT02 dropped directly) while L1 runs frees the root vmcs02 named: the
 * next VM entry gives vmcs02 a live one. */
Test(ept_l2, vmcs02_eptp_rewritten_after_its_ept02_was_dropped)
{
    cr_assert_eq(sec_l2_exit_simple(&e.h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    ept02_invalidate_root(e.h.vcpu, e.eptp12);
    ept_l2_resume(&e);
    uint64_t expected;
    cr_assert_eq(ept02_root_hpa(e.h.vcpu, e.eptp12, &expected), NVMX_OK);
    cr_assert_eq(ept_l2_eptp02(&e), expected);
}

/* Without EPT in vmcs12 L2's guest-physical space is L1's: vmcs02 runs on EPT01, vmcs01's
 * EPTP, when L0 uses EPT for L2. */
Test(ept_l2_config, vmcs02_eptp_is_vmcs01s_without_ept_in_vmcs12)
{
    harness h;
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.l0.proc2 = NVMX_CTL(EPT);
    sec_nested_init(&h, &config, NULL);
    h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_EPT_POINTER] = 0xABCDE01Eull;
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_EPT_POINTER], 0xABCDE01Eull);
    cr_assert_eq(h.host.live_pages, 0, "no EPT02 without EPT in vmcs12");
    harness_fini(&h);
}

Test(ept_l2_config, vmcs02_eptp_untouched_without_any_ept)
{
    harness h;
    sec_nested_init(&h, NULL, NULL);
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_EPT_POINTER] = 0x5A5A;
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_EPT_POINTER], 0x5A5A);
    harness_fini(&h);
}

/* ---- Violations resolved in EPT02 ----------------------------------------------------------- */

Test(ept_l2, violation_installs_the_composed_leaf_and_resumes_l2)
{
    ept12_map(&e, L2_PAGE, L1_PAGE, 4096, EPT_R | EPT_W | EPT_WB);
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE + 0x234, EPT_QUAL_READ | Q_LINEAR, GLA), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L2);
    cr_assert(nvmx_vcpu_in_guest_mode(e.h.vcpu));
    cr_assert_not(e.h.next.l1_gpa_valid);
    uint64_t leaf, size;
    cr_assert(ept02_hw_walk(ept_l2_eptp02(&e), L2_PAGE + 0x234, &leaf, &size));
    cr_assert_eq(size, 4096);
    cr_assert_eq(leaf & 0x000FFFFFFFFFF000ull, FAKE_EPT01_HOST_BASE + L1_PAGE, "EPT01's page");
    cr_assert_eq(leaf & EPT_RWX, EPT_R | EPT_W, "EPT12 RW- and EPT01 RWX");
    cr_assert_eq(leaf & EPT_ENTRY_MEMTYPE_MASK, EPT_WB);
}

/* EPT12 A/D races lost every time (L1's other vCPUs rewriting the entry): nothing happened
 * architecturally, L2 resumes and repeats the access (29.3.4). */
static nvmx_status always_lose(void *ctx, uint64_t gpa, uint64_t expected, uint64_t desired)
{
    (void)ctx, (void)gpa, (void)expected, (void)desired;
    return NVMX_ERR_STATE;
}

Test(ept_l2_config, lost_accessed_dirty_races_retry_in_l2)
{
    ept_l2 a;
    nvmx_host_ops ops = *fake_host_ops();
    ops.l1_cmpxchg64 = always_lose;
    ept_l2_init(&a, NULL, &ops, true);
    ept12_map(&a, L2_PAGE, L1_PAGE, 4096, EPT_RWX | EPT_WB);
    cr_assert_eq(ept_l2_violation(&a, L2_PAGE, EPT_QUAL_WRITE | Q_LINEAR, GLA), NVMX_OK);
    cr_assert_eq(a.h.next.run, NVMX_RUN_L2);
    uint64_t leaf, size;
    cr_assert_not(ept02_hw_walk(ept_l2_eptp02(&a), L2_PAGE, &leaf, &size), "nothing installed");
    ept_l2_fini(&a);
}

/* ---- Violations of EPT12: exits to L1 with every qualification bit (28.2.1, Table 28-7) ---- */

/* Not present in EPT12: bits 0-2 the access, 3-6 clear (nothing readable), 7-8 and 12 the
 * hardware's; bits 9-11 (advanced information, not exposed) and above 12 clear, whatever the
 * hardware put there about EPT02. */
Test(ept_l2, not_present_in_ept12_reflects_48_with_exact_qualification)
{
    uint64_t hw = EPT_QUAL_WRITE | EPT_QUAL_READABLE | EPT_QUAL_EXECUTABLE | Q_LINEAR |
                  (7ull << 9) | EPT_QUAL_NMI_UNBLOCKING | (0xFull << 13);
    cr_assert_eq(ept_l2_violation(&e, 0x3456789ull, hw, GLA), NVMX_OK);
    assert_exit_to_l1(NVMX_EXIT_EPT_VIOLATION, EPT_QUAL_WRITE | Q_LINEAR | EPT_QUAL_NMI_UNBLOCKING,
                      0x3456789ull);
    cr_assert_eq(v12(VMCS12_ORD_GUEST_LINEAR_ADDRESS), GLA);
}

/* Bits 3-5: the AND over every EPT12 entry used (a non-leaf entry without W and X limits the
 * page); fetch. */
Test(ept_l2, permission_violation_reports_and_of_ept12_permissions)
{
    ept12_map(&e, L2_PAGE, L1_PAGE, 4096, EPT_R | EPT_W | EPT_WB);
    uint64_t pde = ept12_entry_gpa(&e, L2_PAGE, 2);
    fake_host_write64(&e.h.host, pde,
                      (fake_host_read64(&e.h.host, pde) & ~EPT_RWX) | EPT_R | EPT_X);
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE + 8, EPT_QUAL_FETCH | Q_LINEAR, GLA), NVMX_OK);
    assert_exit_to_l1(NVMX_EXIT_EPT_VIOLATION, EPT_QUAL_FETCH | EPT_QUAL_READABLE | Q_LINEAR,
                      L2_PAGE + 8);
    cr_assert_eq(v12(VMCS12_ORD_GUEST_LINEAR_ADDRESS), GLA);
}

Test(ept_l2, write_to_read_execute_page_reports_readable_executable)
{
    ept12_map(&e, L2_PAGE, L1_PAGE, 4096, EPT_R | EPT_X | EPT_WB);
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE, EPT_QUAL_WRITE | EPT_QUAL_READ | Q_LINEAR, GLA),
                 NVMX_OK);
    /* a read-modify-write: the hardware's bit 0 stays (28.2.1: implementation-specific) */
    assert_exit_to_l1(NVMX_EXIT_EPT_VIOLATION,
                      EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_READABLE | EPT_QUAL_EXECUTABLE |
                          Q_LINEAR,
                      L2_PAGE);
}

/* Bit 7 clear (PDPTE loads of MOV to CR3): bit 8 is not defined and stays clear, and the
 * guest-linear address is not reported. */
Test(ept_l2, without_linear_address_bit8_and_gla_are_clear)
{
    cr_assert_eq(ept_l2_violation(&e, 0x9000, EPT_QUAL_READ | EPT_QUAL_LINEAR_TRANSLATION, GLA),
                 NVMX_OK);
    assert_exit_to_l1(NVMX_EXIT_EPT_VIOLATION, EPT_QUAL_READ, 0x9000);
    cr_assert_eq(v12(VMCS12_ORD_GUEST_LINEAR_ADDRESS), 0);
}

/* With EPT12 A/D flags a guest paging-structure access (bit 7 set, bit 8 clear) is a write for
 * EPT12 (29.3.3.2): L1 sees bits 0 and 1 although EPT02 (no A/D) reported a read. */
Test(ept_l2_config, guest_paging_access_under_ept12_ad_reports_read_and_write)
{
    ept_l2 a;
    ept_l2_init(&a, NULL, NULL, true);
    ept12_map(&a, L2_PAGE, L1_PAGE, 4096, EPT_R | EPT_WB);
    cr_assert_eq(ept_l2_violation(&a, L2_PAGE + 0x10, EPT_QUAL_READ | EPT_QUAL_LINEAR_VALID, GLA),
                 NVMX_OK);
    cr_assert_eq(a.h.next.run, NVMX_RUN_L1);
    const vmcs12 *v = &a.h.vcpu->current->data;
    cr_assert_eq(v->field[VMCS12_ORD_EXIT_QUALIFICATION],
                 EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_READABLE | EPT_QUAL_LINEAR_VALID);
    cr_assert_eq(v->field[VMCS12_ORD_GUEST_PHYSICAL_ADDRESS], L2_PAGE + 0x10);
    ept_l2_fini(&a);
}

/* An EPT12 misconfiguration (write-only entry, 29.3.3.1): reason 49 with the L2 GPA; its
 * qualification is undefined (0 here). */
Test(ept_l2, ept12_misconfiguration_reflects_49_with_the_l2_gpa)
{
    ept12_map(&e, L2_PAGE, L1_PAGE, 4096, EPT_W | EPT_WB);
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE + 0x40, EPT_QUAL_READ | Q_LINEAR, GLA), NVMX_OK);
    assert_exit_to_l1(NVMX_EXIT_EPT_MISCONFIG, 0, L2_PAGE + 0x40);
}

Test(ept_l2, reserved_memory_type_in_ept12_reflects_49)
{
    ept12_map(&e, L2_PAGE, L1_PAGE, 4096, EPT_RWX | (2ull << EPT_ENTRY_MEMTYPE_SHIFT));
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE, EPT_QUAL_FETCH | Q_LINEAR, GLA), NVMX_OK);
    assert_exit_to_l1(NVMX_EXIT_EPT_MISCONFIG, 0, L2_PAGE);
}

/* The event whose delivery the violation interrupted goes to L1 as the hardware gave it. */
Test(ept_l2, reflected_violation_keeps_idt_vectoring_information)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_EPT_VIOLATION,
                      .qualification = EPT_QUAL_WRITE | Q_LINEAR,
                      .guest_physical_address = 0x7000,
                      .guest_linear_address = GLA,
                      .idt_vectoring_info = 0x80000B0Eu,
                      .idt_vectoring_error_code = 2};
    cr_assert_eq(sec_l2_exit(&e.h, &exit), NVMX_OK);
    assert_exit_to_l1(NVMX_EXIT_EPT_VIOLATION, EPT_QUAL_WRITE | Q_LINEAR, 0x7000);
    cr_assert_eq(v12(VMCS12_ORD_IDT_VECTORING_INFO_FIELD), 0x80000B0Eu);
    cr_assert_eq(v12(VMCS12_ORD_IDT_VECTORING_ERROR_CODE), 2);
}

/* ---- L0's business ---------------------------------------------------------------------- */

Test(ept_l2, ept01_hole_is_l0s_with_the_l1_gpa)
{
    ept12_map(&e, L2_PAGE, L1_PAGE, 4096, EPT_RWX | EPT_WB);
    fake_host_set_ept01(&e.h.host, L1_PAGE, false, NULL);
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE + 0x18, EPT_QUAL_WRITE | Q_LINEAR, GLA), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L0_HANDLES);
    cr_assert(nvmx_vcpu_in_guest_mode(e.h.vcpu));
    cr_assert(e.h.next.l1_gpa_valid);
    cr_assert_eq(e.h.next.l1_gpa, L1_PAGE + 0x18);
    cr_assert_not(e.h.next.ept01_backed);
    uint64_t leaf, size;
    cr_assert_not(ept02_hw_walk(ept_l2_eptp02(&e), L2_PAGE, &leaf, &size), "no fabricated leaf");
    cr_assert_neq(v12(VMCS12_ORD_VM_EXIT_REASON), NVMX_EXIT_EPT_VIOLATION, "no exit to L1");
}

Test(ept_l2, write_ept01_does_not_allow_is_l0s_and_backed)
{
    ept12_map(&e, L2_PAGE, L1_PAGE, 4096, EPT_RWX | EPT_WB);
    nvmx_ept01_mapping ro = {.host_phys = FAKE_EPT01_HOST_BASE + L1_PAGE,
                             .page_size = 4096,
                             .read = true,
                             .execute = true,
                             .memory_type = MEMTYPE_WB};
    fake_host_set_ept01(&e.h.host, L1_PAGE, true, &ro);
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE + 0x20, EPT_QUAL_WRITE | Q_LINEAR, GLA), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L0_HANDLES);
    cr_assert(e.h.next.l1_gpa_valid);
    cr_assert_eq(e.h.next.l1_gpa, L1_PAGE + 0x20);
    cr_assert(e.h.next.ept01_backed);
    /* a read of the same page is installed, read-only */
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE, EPT_QUAL_READ | Q_LINEAR, GLA), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L2);
    cr_assert_not(e.h.next.l1_gpa_valid, "answers start clean");
    uint64_t leaf, size;
    cr_assert(ept02_hw_walk(ept_l2_eptp02(&e), L2_PAGE, &leaf, &size));
    cr_assert_eq(leaf & EPT_RWX, EPT_R | EPT_X);
}

/* SDM 29.3.3: without "enable EPT" in vmcs12 EPT-induced exits do not exist for L1: both
 * reasons are EPT01's. */
Test(ept_l2_config, without_ept_in_vmcs12_violations_and_misconfigurations_are_l0s)
{
    harness h;
    sec_nested_init(&h, NULL, NULL);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    const uint32_t reasons[] = {NVMX_EXIT_EPT_VIOLATION, NVMX_EXIT_EPT_MISCONFIG};
    for (unsigned i = 0; i < 2; i++) {
        nvmx_exit exit = {.reason = reasons[i],
                          .qualification = EPT_QUAL_READ | Q_LINEAR,
                          .guest_physical_address = 0x5000};
        cr_assert_eq(sec_l2_exit(&h, &exit), NVMX_OK);
        cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
        cr_assert_not(h.next.l1_gpa_valid);
        cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    }
    cr_assert_eq(h.host.live_pages, 0);
    harness_fini(&h);
}

/* EPT02 is built only from checked entries: a misconfiguration in it is a bug of the library
 * or the host, answered with an error and a log line, never passed to L1. */
Test(ept_l2, hardware_misconfiguration_of_ept02_is_a_host_error_not_an_exit)
{
    sec_snapshot s;
    sec_snapshot_take(&e.h, &s);
    nvmx_exit exit = {.reason = NVMX_EXIT_EPT_MISCONFIG, .guest_physical_address = 0x5000};
    cr_assert_eq(sec_l2_exit(&e.h, &exit), NVMX_ERR_HOST);
    cr_assert(strstr(e.h.host.last_log, "EPT misconfiguration in EPT02"), "%s", e.h.host.last_log);
    sec_assert_unchanged(&e.h, &s);
    sec_snapshot_free(&s);
}

Test(ept_l2, qualification_naming_no_access_is_invalid_argument)
{
    const uint64_t bad[] = {0, Q_LINEAR, EPT_QUAL_FETCH | EPT_QUAL_WRITE,
                            EPT_QUAL_FETCH | EPT_QUAL_READ};
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(bad); i++) {
        cr_assert_eq(ept_l2_violation(&e, 0x5000, bad[i], 0), NVMX_ERR_INVALID_ARGUMENT);
        cr_assert(nvmx_vcpu_in_guest_mode(e.h.vcpu));
    }
}

/* ---- EPT01 changes (nvmx_ept01_changed) ---------------------------------------------------- */

Test(ept_l2, ept01_change_removes_derived_leaves_and_flushes_their_ept02)
{
    ept12_map(&e, L2_PAGE, L1_PAGE, 4096, EPT_RWX | EPT_WB);
    ept12_map(&e, L2_OTHER, L1_OTHER, 4096, EPT_RWX | EPT_WB);
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE, EPT_QUAL_READ | Q_LINEAR, GLA), NVMX_OK);
    cr_assert_eq(ept_l2_violation(&e, L2_OTHER, EPT_QUAL_READ | Q_LINEAR, GLA), NVMX_OK);
    long flushes = e.h.host.tlb_flush_count;
    cr_assert_eq(nvmx_ept01_changed(e.h.vm, L1_PAGE + 0xFFF, 1), NVMX_OK);
    uint64_t leaf, size;
    cr_assert_not(ept02_hw_walk(ept_l2_eptp02(&e), L2_PAGE, &leaf, &size), "stale leaf gone");
    cr_assert(ept02_hw_walk(ept_l2_eptp02(&e), L2_OTHER, &leaf, &size), "other leaf stays");
    cr_assert_eq(e.h.host.tlb_flush_count, flushes + 1);
    const nvmx_tlb_flush *f = &e.h.host.tlb_flushes[flushes];
    cr_assert_eq(f->kind, NVMX_TLB_FLUSH_EPTP);
    cr_assert_eq(f->eptp, ept_l2_eptp02(&e));
    /* nothing derived from the range: no flush */
    cr_assert_eq(nvmx_vcpu_ept01_changed(e.h.vcpu, 0x900000, 0x100000), NVMX_OK);
    cr_assert_eq(e.h.host.tlb_flush_count, flushes + 1);
    /* the next access maps the new EPT01 page */
    nvmx_ept01_mapping moved = {.host_phys = 0x777000ull,
                                .page_size = 4096,
                                .read = true,
                                .write = true,
                                .execute = true,
                                .memory_type = MEMTYPE_WB};
    fake_host_set_ept01(&e.h.host, L1_PAGE, true, &moved);
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE, EPT_QUAL_READ | Q_LINEAR, GLA), NVMX_OK);
    cr_assert(ept02_hw_walk(ept_l2_eptp02(&e), L2_PAGE, &leaf, &size));
    cr_assert_eq(leaf & 0x000FFFFFFFFFF000ull, 0x777000ull);
}

Test(ept_l2, ept01_change_of_a_page_inside_a_large_leaf_removes_it)
{
    nvmx_ept01_mapping big = {.host_phys = 0x40000000ull,
                              .page_size = EPT_2M,
                              .read = true,
                              .write = true,
                              .execute = true,
                              .memory_type = MEMTYPE_WB};
    /* EPT01 backs the page the fault looks up with a 2-MiB page; EPT12 maps 2 MiB too */
    big.host_phys = 0x40003000ull;
    fake_host_set_ept01(&e.h.host, 0x400000 + 0x3000, true, &big);
    ept12_map(&e, 0x200000, 0x400000, EPT_2M, EPT_RWX | EPT_WB);
    cr_assert_eq(ept_l2_violation(&e, 0x203000, EPT_QUAL_READ | Q_LINEAR, GLA), NVMX_OK);
    uint64_t leaf, size;
    cr_assert(ept02_hw_walk(ept_l2_eptp02(&e), 0x203000, &leaf, &size));
    cr_assert_eq(size, EPT_2M);
    cr_assert_eq(nvmx_vcpu_ept01_changed(e.h.vcpu, 0x5FF000, 0x1000), NVMX_OK);
    cr_assert_not(ept02_hw_walk(ept_l2_eptp02(&e), 0x203000, &leaf, &size));
}

Test(ept_l2, ept01_changed_rejects_null)
{
    cr_assert_eq(nvmx_ept01_changed(NULL, 0, 1), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_vcpu_ept01_changed(NULL, 0, 1), NVMX_ERR_INVALID_ARGUMENT);
}

/* ---- The EPT02 memory bound (nvmx_vm_config.max_ept02_pages), through exits ------------- */

Test(ept_l2_config, ept02_pages_stay_within_the_configured_bound)
{
    ept_l2 b;
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.max_ept02_pages = 6;
    ept_l2_init(&b, &config, NULL, false);
    /* 64 L2 pages, each in its own 1-GiB region: each needs a new EPT02 PD and PT. */
    for (uint64_t i = 0; i < 64; i++) {
        uint64_t l2 = ((i + 1) << 30) | 0x5000, l1 = 0x400000 + (i << 12);
        ept12_map(&b, l2, l1, 4096, EPT_RWX | EPT_WB);
        long flushes = b.h.host.tlb_flush_count;
        uint32_t pages_before = b.h.vcpu->ept02.pages;
        cr_assert_eq(ept_l2_violation(&b, l2, EPT_QUAL_WRITE | Q_LINEAR, GLA), NVMX_OK);
        cr_assert_eq(b.h.next.run, NVMX_RUN_L2);
        cr_assert_leq(b.h.vcpu->ept02.pages, 6);
        cr_assert_leq(b.h.host.live_pages, 6, "host pages held: %ld", b.h.host.live_pages);
        uint64_t leaf, size;
        cr_assert(ept02_hw_walk(ept_l2_eptp02(&b), l2, &leaf, &size), "the access now maps");
        cr_assert_eq(leaf & 0x000FFFFFFFFFF000ull, FAKE_EPT01_HOST_BASE + l1);
        /* a new path always adds tables: fewer pages than before means some were freed */
        if (b.h.vcpu->ept02.pages <= pages_before)
            cr_assert_gt(b.h.host.tlb_flush_count, flushes, "tables freed: EPT02 flushed (%llu)",
                         (unsigned long long)i);
        else
            cr_assert_eq(b.h.host.tlb_flush_count, flushes, "nothing removed, nothing flushed");
    }
    ept_l2_fini(&b);
}

/* ---- Operands of L2's VMREAD/VMWRITE through EPT12 (nvmx_l2_gpa_to_l1) ----------------------- */

/* The translate op of a host whose L2 paging is the identity: the linear address is the L2
 * GPA, which goes through nvmx_l2_gpa_to_l1 as ops.h asks. */
static nvmx_vcpu *translating_vcpu;

static nvmx_status l2_aware_translate(void *ctx, uint64_t linear, nvmx_access access, uint64_t *gpa,
                                      nvmx_exception *fault)
{
    nvmx_status status = fake_host_ops()->translate(ctx, linear, access, gpa, fault);
    if (status != NVMX_OK || !translating_vcpu) /* no vCPU yet: L1's VMXON */
        return status;
    return nvmx_l2_gpa_to_l1(translating_vcpu, *gpa, linear, access, false, gpa);
}

#define OPERAND_L2 0x30000ull
#define OPERAND_L1 0x600000ull
#define SHADOW_RIP 0xC0FFEEull

/* L2 runs with L1's VMCS shadowing: VMREAD of any field completes from the shadow VMCS, whose
 * GUEST_RIP L1 set to SHADOW_RIP. */
static void operand_init(bool accessed_dirty,
                         nvmx_status (*cmpxchg)(void *, uint64_t, uint64_t, uint64_t))
{
    nvmx_host_ops ops = *fake_host_ops();
    ops.translate = l2_aware_translate;
    translating_vcpu = NULL;
    if (cmpxchg)
        ops.l1_cmpxchg64 = cmpxchg;
    ept_l2_init(&e, NULL, &ops, accessed_dirty);
    translating_vcpu = e.h.vcpu;
    cr_assert_eq(sec_l2_exit_simple(&e.h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    cr_assert_eq(harness_pointer_insn(&e.h, NVMX_EXIT_VMPTRLD, SHADOW_VMCS), NVMX_OK);
    sec_vmwrite(&e.h, NVMX_FIELD_GUEST_RIP, SHADOW_RIP);
    cr_assert_eq(harness_pointer_insn(&e.h, NVMX_EXIT_VMPTRLD, VMCS_A), NVMX_OK);
    sec_set_proc(&e.h, 0, NVMX_CTL(SHADOW_VMCS));
    sec_vmwrite(&e.h, NVMX_FIELD_VMREAD_BITMAP, VMREAD_BITMAP_GPA);
    sec_vmwrite(&e.h, NVMX_FIELD_VMWRITE_BITMAP, VMWRITE_BITMAP_GPA);
    sec_vmwrite(&e.h, NVMX_FIELD_VMCS_LINK_POINTER, SHADOW_VMCS);
    ept_l2_resume(&e);
}

static void operand_setup(void)
{
    operand_init(false, NULL);
}
TestSuite(ept_l2_operand, .init = operand_setup, .fini = teardown);

/* L2's VMREAD with a memory destination at linear = L2 GPA OPERAND_L2 (SDM 31.3, VMREAD). */
static nvmx_status l2_vmread_to_memory(uint32_t field)
{
    e.h.host.regs[NVMX_REG_RCX] = field;
    e.h.host.regs[NVMX_REG_RAX] = OPERAND_L2 + 0x18;
    nvmx_status status = harness_exit(&e.h, NVMX_EXIT_VMREAD, INFO_MEM_RAX_REG_RCX, 0);
    if (e.h.next.run == NVMX_RUN_L1)
        e.h.host.running = NVMX_HW_VMCS01;
    return status;
}

Test(ept_l2_operand, l2_vmread_writes_the_l1_page_ept12_maps_not_the_l2_gpa)
{
    ept12_map(&e, OPERAND_L2, OPERAND_L1, 4096, EPT_R | EPT_W | EPT_WB);
    fake_host_write64(&e.h.host, OPERAND_L2 + 0x18, 0x1111);
    fake_host_write64(&e.h.host, OPERAND_L1 + 0x18, 0x2222);
    cr_assert_eq(l2_vmread_to_memory(NVMX_FIELD_GUEST_RIP), NVMX_OK, "%s", e.h.host.last_log);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L2);
    cr_assert_eq(fake_host_read64(&e.h.host, OPERAND_L2 + 0x18), 0x1111, "the L2 GPA is not L1's");
    cr_assert_eq(fake_host_read64(&e.h.host, OPERAND_L1 + 0x18), SHADOW_RIP,
                 "the shadow VMCS's value, in the L1 page EPT12 maps");
}

/* An operand page EPT12 maps read-only: the write is an EPT violation VM exit to L1 (28.2.1):
 * write, readable, guest-linear address valid, final translation; GPA and GLA; RIP stays. */
Test(ept_l2_operand, l2_vmread_to_a_read_only_ept12_page_exits_48_to_l1)
{
    ept12_map(&e, OPERAND_L2, OPERAND_L1, 4096, EPT_R | EPT_WB);
    uint64_t rip = e.h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_RIP];
    cr_assert_eq(l2_vmread_to_memory(NVMX_FIELD_GUEST_RIP), NVMX_OK, "%s", e.h.host.last_log);
    assert_exit_to_l1(NVMX_EXIT_EPT_VIOLATION, EPT_QUAL_WRITE | EPT_QUAL_READABLE | Q_LINEAR,
                      OPERAND_L2 + 0x18);
    cr_assert_eq(v12(VMCS12_ORD_GUEST_LINEAR_ADDRESS), OPERAND_L2 + 0x18);
    cr_assert_eq(v12(VMCS12_ORD_GUEST_RIP), rip, "the VMREAD did not complete");
    cr_assert_eq(fake_host_read64(&e.h.host, OPERAND_L1 + 0x18), 0, "nothing written");
}

Test(ept_l2_operand, l2_vmread_to_a_misconfigured_ept12_page_exits_49_to_l1)
{
    ept12_map(&e, OPERAND_L2, OPERAND_L1, 4096, EPT_W | EPT_WB);
    cr_assert_eq(l2_vmread_to_memory(NVMX_FIELD_GUEST_RIP), NVMX_OK, "%s", e.h.host.last_log);
    assert_exit_to_l1(NVMX_EXIT_EPT_MISCONFIG, 0, OPERAND_L2 + 0x18);
}

/* Lost A/D races: the instruction does not complete and L2 runs it again (nothing happened). */
Test(ept_l2_operand, l2_vmread_with_lost_accessed_dirty_races_repeats)
{
    teardown();
    operand_init(true, always_lose);
    ept12_map(&e, OPERAND_L2, OPERAND_L1, 4096, EPT_RWX | EPT_WB);
    uint64_t rip = e.h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_RIP];
    int exceptions = e.h.host.exception_count;
    cr_assert_eq(l2_vmread_to_memory(NVMX_FIELD_GUEST_RIP), NVMX_OK, "%s", e.h.host.last_log);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L2);
    cr_assert_eq(e.h.next.exception_vector, -1);
    cr_assert_eq(e.h.host.exception_count, exceptions, "no exception injected");
    cr_assert_eq(e.h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_RIP], rip, "RIP stays");
}

Test(ept_l2_operand, l2_gpa_to_l1_is_the_identity_without_ept_in_vmcs12_or_outside_l2)
{
    uint64_t l1;
    cr_assert_eq(nvmx_l2_gpa_to_l1(NULL, 0, 0, NVMX_ACCESS_READ, false, &l1),
                 NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_l2_gpa_to_l1(e.h.vcpu, 0, 0, (nvmx_access)7, false, &l1),
                 NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(sec_l2_exit_simple(&e.h, NVMX_EXIT_CPUID, 2), NVMX_OK); /* L1 runs */
    cr_assert_eq(nvmx_l2_gpa_to_l1(e.h.vcpu, 0x123456, 0, NVMX_ACCESS_WRITE, false, &l1), NVMX_OK);
    cr_assert_eq(l1, 0x123456);
}

/* ---- PAE L2 under EPT: PDPTEs from vmcs12 (SDM 27.3.2.4) and back on exit (28.3.4) ------- */

#define AR_CODE32 0xC09Bu /* type 11, S, P, D/B, G */
#define PDPTE_A 0x00123001ull
#define PDPTE_B 0x00456001ull

/* L1 (running) turns vmcs12's L2 into a 32-bit PAE guest: CR0.PG, CR4.PAE, no IA-32e mode. */
static void l1_makes_l2_pae(harness *h)
{
    sec_vmwrite(h, NVMX_FIELD_VM_ENTRY_CONTROLS,
                sec_vmread(h, NVMX_FIELD_VM_ENTRY_CONTROLS) &
                    ~(uint64_t)NVMX_CTL(ENTRY_IA32E_MODE));
    sec_vmwrite(h, NVMX_FIELD_GUEST_IA32_EFER, 0);
    sec_vmwrite(h, NVMX_FIELD_GUEST_CS_AR_BYTES, AR_CODE32);
}

Test(ept_l2, pae_l2_takes_its_pdptes_from_vmcs12_and_the_exit_saves_them)
{
    cr_assert_eq(sec_l2_exit_simple(&e.h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    l1_makes_l2_pae(&e.h);
    const uint32_t pdptr[4] = {NVMX_FIELD_GUEST_PDPTR0, NVMX_FIELD_GUEST_PDPTR1,
                               NVMX_FIELD_GUEST_PDPTR2, NVMX_FIELD_GUEST_PDPTR3};
    for (unsigned i = 0; i < 4; i++)
        sec_vmwrite(&e.h, pdptr[i], i == 1 ? 0 : PDPTE_A + (i << 12));
    /* whatever sits at CR3 in memory is not used with EPT */
    for (unsigned i = 0; i < 4; i++)
        fake_host_write64(&e.h.host, 0x100000 + 8 * i, ~0ull);
    ept_l2_resume(&e);
    for (unsigned i = 0; i < 4; i++)
        cr_assert_eq(e.h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_PDPTR0 + i],
                     i == 1 ? 0 : PDPTE_A + (i << 12), "PDPTE %u", i);
    /* L2 loads new PDPTEs (MOV to CR3); the next exit saves them into vmcs12 (28.3.4). */
    e.h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_PDPTR2] = PDPTE_B;
    cr_assert_eq(sec_l2_exit_simple(&e.h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    cr_assert_eq(sec_vmread(&e.h, NVMX_FIELD_GUEST_PDPTR2), PDPTE_B);
}

/* A PAE L2 first without EPT (PDPTEs read from CR3 into vmcs02), then L1 turns EPT on without
 * touching the PDPTE fields: vmcs02 must get vmcs12's, not keep those read from memory. */
Test(ept_l2_config, turning_ept_on_replaces_pdptes_read_from_cr3)
{
    harness h;
    sec_nested_init(&h, NULL, NULL);
    l1_makes_l2_pae(&h);
    for (unsigned i = 0; i < 4; i++) {
        fake_host_write64(&h.host, 0x100000 + 8 * i, PDPTE_B + (i << 12));
        sec_vmwrite(&h, NVMX_FIELD_GUEST_PDPTR0 + 2 * i, PDPTE_A + (i << 12));
    }
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_PDPTR0], PDPTE_B, "from CR3");
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    uint64_t root = 0xC00000;
    for (unsigned i = 0; i < 512; i++)
        fake_host_write64(&h.host, root + 8 * i, 0);
    sec_set_proc(&h, 0, NVMX_CTL(EPT));
    sec_vmwrite(&h, NVMX_FIELD_EPT_POINTER, root | (3u << 3) | MEMTYPE_WB);
    sec_launch(&h, NVMX_EXIT_VMRESUME);
    for (unsigned i = 0; i < 4; i++)
        cr_assert_eq(h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_PDPTR0 + i], PDPTE_A + (i << 12),
                     "PDPTE %u from vmcs12", i);
    harness_fini(&h);
}

/* ---- The VM's vCPU list (nvmx_ept01_changed reaches every vCPU) ---------------------------- */

Test(ept_l2, ept01_changed_reaches_every_vcpu_and_survives_destroy_order)
{
    nvmx_vcpu *more[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(nvmx_vcpu_create(e.h.vm, &e.h.host, &more[i]), NVMX_OK);
    nvmx_vcpu_destroy(more[1]); /* from the middle of the list */
    ept12_map(&e, L2_PAGE, L1_PAGE, 4096, EPT_RWX | EPT_WB);
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE, EPT_QUAL_READ | Q_LINEAR, GLA), NVMX_OK);
    cr_assert_eq(nvmx_ept01_changed(e.h.vm, L1_PAGE, 4096), NVMX_OK);
    uint64_t leaf, size;
    cr_assert_not(ept02_hw_walk(ept_l2_eptp02(&e), L2_PAGE, &leaf, &size));
    nvmx_vcpu_destroy(more[0]); /* the head */
    nvmx_vcpu_destroy(more[2]);
    cr_assert_eq(nvmx_ept01_changed(e.h.vm, 0, ~0ull), NVMX_OK);
}

/* ---- Unrestricted guest (needs EPT, SDM 25.6.2, 27.3.1.1) --------------------------------- */

#define AR_REAL_CODE (NVMX_AR_TYPE_CODE_ER_ACCESSED | NVMX_AR_S | NVMX_AR_P) /* 009BH */
#define AR_REAL_DATA (NVMX_AR_TYPE_DATA_RW_ACCESSED | NVMX_AR_S | NVMX_AR_P) /* 0093H */

/* L1 (running) makes its L2 a real-mode guest (CR0.PE = PG = 0) under "unrestricted guest". */
static void l1_makes_l2_real_mode(harness *h)
{
    sec_set_proc(h, 0, NVMX_CTL(UNRESTRICTED_GUEST));
    sec_vmwrite(h, NVMX_FIELD_VM_ENTRY_CONTROLS,
                sec_vmread(h, NVMX_FIELD_VM_ENTRY_CONTROLS) &
                    ~(uint64_t)NVMX_CTL(ENTRY_IA32E_MODE));
    sec_vmwrite(h, NVMX_FIELD_GUEST_IA32_EFER, 0);
    sec_vmwrite(h, NVMX_FIELD_GUEST_CR4, NVMX_CR4_VMXE);
    sec_vmwrite(h, NVMX_FIELD_GUEST_CR0, NVMX_CR0_NE | NVMX_CR0_ET);
    const uint32_t sel[] = {NVMX_FIELD_GUEST_ES_SELECTOR, NVMX_FIELD_GUEST_SS_SELECTOR,
                            NVMX_FIELD_GUEST_DS_SELECTOR, NVMX_FIELD_GUEST_FS_SELECTOR,
                            NVMX_FIELD_GUEST_GS_SELECTOR};
    const uint32_t base[] = {NVMX_FIELD_GUEST_ES_BASE, NVMX_FIELD_GUEST_SS_BASE,
                             NVMX_FIELD_GUEST_DS_BASE, NVMX_FIELD_GUEST_FS_BASE,
                             NVMX_FIELD_GUEST_GS_BASE};
    const uint32_t limit[] = {NVMX_FIELD_GUEST_ES_LIMIT, NVMX_FIELD_GUEST_SS_LIMIT,
                              NVMX_FIELD_GUEST_DS_LIMIT, NVMX_FIELD_GUEST_FS_LIMIT,
                              NVMX_FIELD_GUEST_GS_LIMIT};
    const uint32_t ar[] = {NVMX_FIELD_GUEST_ES_AR_BYTES, NVMX_FIELD_GUEST_SS_AR_BYTES,
                           NVMX_FIELD_GUEST_DS_AR_BYTES, NVMX_FIELD_GUEST_FS_AR_BYTES,
                           NVMX_FIELD_GUEST_GS_AR_BYTES};
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(sel); i++) {
        sec_vmwrite(h, sel[i], 0);
        sec_vmwrite(h, base[i], 0);
        sec_vmwrite(h, limit[i], 0xFFFF);
        sec_vmwrite(h, ar[i], AR_REAL_DATA);
    }
    sec_vmwrite(h, NVMX_FIELD_GUEST_CS_SELECTOR, 0xF000);
    sec_vmwrite(h, NVMX_FIELD_GUEST_CS_BASE, 0xF0000);
    sec_vmwrite(h, NVMX_FIELD_GUEST_CS_LIMIT, 0xFFFF);
    sec_vmwrite(h, NVMX_FIELD_GUEST_CS_AR_BYTES, AR_REAL_CODE);
    sec_vmwrite(h, NVMX_FIELD_GUEST_RIP, 0xFFF0);
}

Test(ept_l2, real_mode_l2_runs_on_ept02_under_unrestricted_guest)
{
    cr_assert(nvmx_vm_has_feature(e.h.vm, NVMX_FEATURE_UNRESTRICTED_GUEST));
    cr_assert_eq(sec_l2_exit_simple(&e.h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    l1_makes_l2_real_mode(&e.h);
    ept_l2_resume(&e);
    const uint64_t *v02 = e.h.host.vmcs[NVMX_HW_VMCS02];
    cr_assert(v02[VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL] & NVMX_CTL(UNRESTRICTED_GUEST));
    cr_assert(v02[VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL] & NVMX_CTL(EPT));
    cr_assert_eq(v02[VMCS12_ORD_GUEST_CR0] & (NVMX_CR0_PE | NVMX_CR0_PG), 0);
    uint64_t expected;
    cr_assert_eq(ept02_root_hpa(e.h.vcpu, e.eptp12, &expected), NVMX_OK);
    cr_assert_eq(ept_l2_eptp02(&e), expected);
    /* the reset-vector fetch at 0xFFFF0 faults in EPT02 and is resolved from EPT12 */
    ept12_map(&e, 0xFF000, L1_PAGE, 4096, EPT_R | EPT_X | EPT_WB);
    cr_assert_eq(ept_l2_violation(&e, 0xFFFF0, EPT_QUAL_FETCH | Q_LINEAR, 0xFFFF0), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L2);
    uint64_t leaf, size;
    cr_assert(ept02_hw_walk(ept_l2_eptp02(&e), 0xFFFF0, &leaf, &size));
    cr_assert_eq(leaf & 0x000FFFFFFFFFF000ull, FAKE_EPT01_HOST_BASE + L1_PAGE);
    /* an L2 VMX instruction in real mode is #UD of L2 (SDM 31.3), not an exit to L1 */
    cr_assert_eq(harness_vmread(&e.h, NVMX_FIELD_GUEST_RIP, NULL), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L2);
    cr_assert_eq(harness_single_exception(&e.h)->vector, NVMX_VECTOR_UD);
}

/* A guest paging-structure entry of L2's walk that EPT12 maps read-only under EPT12 A/D
 * flags: the access is a write for EPT12 (29.3.3.2): qualification bits 0 and 1, readable,
 * bit 7 set and bit 8 clear (not the final translation), GLA and the L2 GPA of the entry. */
Test(ept_l2_config, paging_structure_access_of_the_translate_op_records_bit8_clear)
{
    ept_l2 a;
    ept_l2_init(&a, NULL, NULL, true);
    ept12_map(&a, L2_PAGE, L1_PAGE, 4096, EPT_R | EPT_WB);
    uint64_t l1 = 0;
    cr_assert_eq(nvmx_l2_gpa_to_l1(a.h.vcpu, L2_PAGE + 0x80, GLA, NVMX_ACCESS_READ, true, &l1),
                 NVMX_ERR_BAD_L1_ADDRESS);
    const nested_exit *x = &a.h.vcpu->pending_exit;
    cr_assert_eq(x->reason, NVMX_EXIT_EPT_VIOLATION);
    cr_assert_eq(x->qualification,
                 EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_READABLE | EPT_QUAL_LINEAR_VALID);
    cr_assert_eq(x->guest_physical_address, L2_PAGE + 0x80);
    cr_assert_eq(x->guest_linear_address, GLA);
    /* the final translation of a readable page: translated, accessed flag set in EPT12 */
    cr_assert_eq(nvmx_l2_gpa_to_l1(a.h.vcpu, L2_PAGE + 0x80, GLA, NVMX_ACCESS_READ, false, &l1),
                 NVMX_OK);
    cr_assert_eq(l1, L1_PAGE + 0x80);
    cr_assert(fake_host_read64(&a.h.host, ept12_entry_gpa(&a, L2_PAGE, 1)) & EPT_ENTRY_ACCESSED);
    ept_l2_fini(&a);
}

/* SDM 29.4.1, 29.4.3.1: EPT02 caches the composition as a TLB caches translations. L1
 * remapping an EPT12 entry without INVEPT may leave L2 on the old page (architecturally
 * allowed); after L1's INVEPT single-context of its EPTP the old translation is gone and the
 * next access follows EPT12 as it is now. */
Test(ept_l2, stale_translation_stays_until_invept_then_follows_ept12)
{
    const uint64_t page_a = 0x600000, page_b = 0x700000, mask = 0x000FFFFFFFFFF000ull;
    uint64_t entry = ept12_map(&e, L2_PAGE, page_a, 4096, EPT_RWX | EPT_WB);
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE, EPT_QUAL_READ, 0), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L2);
    uint64_t leaf, size;
    cr_assert(ept02_hw_walk(ept_l2_eptp02(&e), L2_PAGE, &leaf, &size));
    cr_assert_eq(leaf & mask, FAKE_EPT01_HOST_BASE + page_a);

    fake_host_write64(&e.h.host, entry, page_b | EPT_RWX | EPT_WB);
    cr_assert(ept02_hw_walk(ept_l2_eptp02(&e), L2_PAGE, &leaf, &size));
    cr_assert_eq(leaf & mask, FAKE_EPT01_HOST_BASE + page_a, "cached until INVEPT");

    cr_assert_eq(sec_l2_exit_simple(&e.h, NVMX_EXIT_VMCALL, 3), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L1);
    fake_host_write64(&e.h.host, OPERAND, e.eptp12);
    fake_host_write64(&e.h.host, OPERAND + 8, 0);
    e.h.host.regs[NVMX_REG_RAX] = OPERAND;
    e.h.host.regs[NVMX_REG_RCX] = 1; /* single-context */
    const uint32_t info = INFO_MEM_RAX_REG_RCX;
    cr_assert_eq(harness_exit(&e.h, NVMX_EXIT_INVEPT, info, 0), NVMX_OK, "%s", e.h.host.last_log);
    cr_assert_eq(e.h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RFLAGS] & NVMX_RFLAGS_ARITH, 0,
                 "INVEPT: VMsucceed");
    ept_l2_resume(&e);
    cr_assert_not(ept02_hw_walk(ept_l2_eptp02(&e), L2_PAGE, &leaf, &size), "gone after INVEPT");
    cr_assert_eq(ept_l2_violation(&e, L2_PAGE, EPT_QUAL_READ, 0), NVMX_OK);
    cr_assert_eq(e.h.next.run, NVMX_RUN_L2);
    cr_assert(ept02_hw_walk(ept_l2_eptp02(&e), L2_PAGE, &leaf, &size));
    cr_assert_eq(leaf & mask, FAKE_EPT01_HOST_BASE + page_b, "EPT12 as it is now");
}
