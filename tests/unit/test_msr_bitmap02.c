/* SPDX-License-Identifier: MIT */
/*
 * vmcs02's merged MSR bitmap (lib/vmcs/msr_bitmap02.c): every bit = L0's | L1's (SDM 25.6.9,
 * 26.1.3), the x2APIC range included; one read of L1's bitmap per entry; page lifecycle.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "vmcs/msr_bitmap02.h"
#include "vmcs/vmcs02.h"
#include "vmx_harness.h"

#define L1_BITMAP 0x30000ull
#define UNBACKED_BITMAP 0x4000000ull /* above the harness's 16 MiB of RAM, 4-KiB aligned */
#define BITS (MSR_BITMAP_SIZE * 8u)

static harness h;
static nvmx_vm_config config;
static uint8_t l0_bitmap[MSR_BITMAP_SIZE];

static void start_with_l0_bitmap(void)
{
    nvmx_vm_config_init(&config);
    config.l0.msr_bitmap = l0_bitmap;
    harness_init(&h, &config);
    harness_vmxon_vmptrld(&h);
}
static void setup(void)
{
    memset(l0_bitmap, 0xFF, sizeof(l0_bitmap));
}
static void teardown(void)
{
    if (h.vm)
        harness_fini(&h);
    memset(&h, 0, sizeof(h));
}
TestSuite(msr_bitmap02, .init = setup, .fini = teardown);

static void set12(unsigned ordinal, uint64_t value)
{
    const vmcs_field_info *f = &vmcs_field_table[ordinal];
    vmcs12_write(&h.vcpu->current->data, f, f->encoding, value);
}
static uint64_t get02(unsigned ordinal)
{
    return h.host.vmcs[NVMX_HW_VMCS02][ordinal];
}
static void l1_uses_bitmap(uint64_t gpa)
{
    set12(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL, NVMX_PROCBASED_DEFAULT1 | NVMX_CTL(MSR_BITMAPS));
    set12(VMCS12_ORD_MSR_BITMAP, gpa);
}
static uint8_t *l1_bitmap(void)
{
    return h.host.ram + L1_BITMAP;
}
static const uint8_t *merged(void)
{
    return fake_host_page(get02(VMCS12_ORD_MSR_BITMAP));
}
static bool bit(const uint8_t *bitmap, unsigned i)
{
    return (bitmap[i / 8] >> (i % 8)) & 1;
}
/* Bit index in the page of an MSR access (SDM 25.6.9). */
static unsigned msr_bit(uint32_t msr, bool write)
{
    unsigned quarter = msr <= 0x1FFF ? (write ? MSR_BITMAP_WRITE_LOW : MSR_BITMAP_READ_LOW)
                                     : (write ? MSR_BITMAP_WRITE_HIGH : MSR_BITMAP_READ_HIGH);
    return quarter * 8 + (msr & 0x1FFF);
}
static void clear_bit(uint8_t *bitmap, unsigned i)
{
    bitmap[i / 8] &= (uint8_t) ~(1u << (i % 8));
}
static void set_bit(uint8_t *bitmap, unsigned i)
{
    bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
}

static void build_ok(void)
{
    cr_assert_eq(vmcs02_build(h.vcpu, NULL), NVMX_OK, "%s", h.host.last_log);
}

/* vmcs02 runs with the merged page: "use MSR bitmaps" set, the address is the page's. */
static void assert_vmcs02_uses_page(void)
{
    cr_assert(get02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(MSR_BITMAPS));
    cr_assert_eq(get02(VMCS12_ORD_MSR_BITMAP), h.vcpu->msr_bitmap02.hpa);
    cr_assert_eq(h.vcpu->msr_bitmap02.hpa & 0xFFF, 0);
}

/* Every one of the 32768 bits: merged = L0 | L1. */
static void assert_merged_is_l0_or_l1(const uint8_t *l1, const char *what)
{
    const uint8_t *m = merged();
    for (unsigned i = 0; i < BITS; i++)
        cr_assert_eq(bit(m, i), bit(l0_bitmap, i) | bit(l1, i), "%s: bit %#x", what, i);
}

static uint64_t next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}
/* Random bytes; density 0: uniform, n > 0: each bit clear with probability 2^-n (sparse
 * pass-through, as a real L0 policy). */
static void fill_random(uint8_t *bitmap, uint64_t *seed, unsigned density)
{
    for (unsigned i = 0; i < MSR_BITMAP_SIZE; i++) {
        uint8_t b = (uint8_t)next_random(seed);
        for (unsigned d = 0; d < density; d++)
            b |= (uint8_t)next_random(seed);
        bitmap[i] = b;
    }
}

/* ---- L0 has no policy ---------------------------------------------------------------- */

/* nvmx_l0_controls.msr_bitmap = NULL: no page, vmcs02 without MSR bitmaps (every access
 * exits to L0, today's behaviour) even when L1 uses them. */
Test(msr_bitmap02, no_l0_policy_means_no_page_and_no_bitmap_in_vmcs02)
{
    harness_init(&h, NULL);
    harness_vmxon_vmptrld(&h);
    cr_assert_null(h.vcpu->msr_bitmap02.page);
    cr_assert_eq(h.host.page_allocs, 0);
    l1_uses_bitmap(L1_BITMAP);
    long reads = h.host.l1_reads;
    build_ok();
    cr_assert_eq(get02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(MSR_BITMAPS), 0);
    cr_assert_eq(get02(VMCS12_ORD_MSR_BITMAP), 0, "no bitmap address written");
    cr_assert_eq(h.host.l1_reads, reads, "L1's bitmap not read");
}

/* ---- The merge, bit by bit ------------------------------------------------------------ */

/* SDM 25.6.9, 26.1.3: with random L0 and L1 bitmaps every bit of vmcs02's page is L0 | L1,
 * on the first (whole) build and on resumes after L1 rewrote its bitmap. */
Test(msr_bitmap02, merged_bit_is_l0_or_l1_for_random_bitmaps)
{
    uint64_t seed = 0x2545F4914F6CDD1Dull;
    for (unsigned density = 0; density < 4; density++) {
        fill_random(l0_bitmap, &seed, density);
        start_with_l0_bitmap();
        l1_uses_bitmap(L1_BITMAP);
        for (int round = 0; round < 4; round++) {
            fill_random(l1_bitmap(), &seed, round % 2 ? 0 : density);
            build_ok();
            assert_vmcs02_uses_page();
            assert_merged_is_l0_or_l1(l1_bitmap(), round ? "resume" : "launch");
        }
        harness_fini(&h);
        memset(&h, 0, sizeof(h));
    }
}

/* An all-zero L1 bitmap (L1 passes everything through) leaves exactly L0's policy. */
Test(msr_bitmap02, all_zero_l1_bitmap_leaves_exactly_l0_policy)
{
    uint64_t seed = 77;
    fill_random(l0_bitmap, &seed, 0);
    start_with_l0_bitmap();
    l1_uses_bitmap(L1_BITMAP);
    memset(l1_bitmap(), 0, MSR_BITMAP_SIZE);
    build_ok();
    cr_assert_eq(memcmp(merged(), l0_bitmap, MSR_BITMAP_SIZE), 0);
}

/* CVE-2019-3887: L0 intercepts the x2APIC MSRs 800H-8FFH (reads and writes) and passes every
 * other MSR through; an L1 that passes everything through cannot open any x2APIC MSR. */
Test(msr_bitmap02, x2apic_range_l1_cannot_open_what_l0_intercepts)
{
    memset(l0_bitmap, 0, sizeof(l0_bitmap));
    for (uint32_t msr = 0x800; msr <= 0x8FF; msr++) {
        set_bit(l0_bitmap, msr_bit(msr, false));
        set_bit(l0_bitmap, msr_bit(msr, true));
    }
    start_with_l0_bitmap();
    l1_uses_bitmap(L1_BITMAP);
    memset(l1_bitmap(), 0, MSR_BITMAP_SIZE);
    build_ok();
    const uint8_t *m = merged();
    for (uint32_t msr = 0; msr <= 0x1FFF; msr++) {
        bool x2apic = msr >= 0x800 && msr <= 0x8FF;
        cr_assert_eq(bit(m, msr_bit(msr, false)), x2apic, "read %x", msr);
        cr_assert_eq(bit(m, msr_bit(msr, true)), x2apic, "write %x", msr);
    }
}

/* "virtualize x2APIC mode" is not exposed, so x2APIC MSRs are plain bitmap MSRs for L2 as L1
 * sees it (26.1.3): where L0 passes them through, L1's bits still make them exit. */
Test(msr_bitmap02, x2apic_range_keeps_l1_intercepts_where_l0_passes_through)
{
    memset(l0_bitmap, 0, sizeof(l0_bitmap));
    start_with_l0_bitmap();
    cr_assert_not(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_VIRTUALIZE_X2APIC));
    l1_uses_bitmap(L1_BITMAP);
    memset(l1_bitmap(), 0, MSR_BITMAP_SIZE);
    set_bit(l1_bitmap(), msr_bit(0x808, true)); /* TPR writes */
    set_bit(l1_bitmap(), msr_bit(0x830, true)); /* ICR writes */
    set_bit(l1_bitmap(), msr_bit(0x802, false));
    build_ok();
    assert_merged_is_l0_or_l1(l1_bitmap(), "x2apic");
    cr_assert(bit(merged(), msr_bit(0x808, true)));
    cr_assert_not(bit(merged(), msr_bit(0x808, false)));
}

/* A bitmap address that is not L1 RAM reads as all ones: every access exits (as
 * l1_bitmap_bit decides reflection), and the entry goes on. */
Test(msr_bitmap02, unbacked_l1_bitmap_intercepts_everything)
{
    memset(l0_bitmap, 0, sizeof(l0_bitmap));
    start_with_l0_bitmap();
    l1_uses_bitmap(L1_BITMAP);
    memset(l1_bitmap(), 0, MSR_BITMAP_SIZE);
    build_ok(); /* everything passes through */
    set12(VMCS12_ORD_MSR_BITMAP, UNBACKED_BITMAP);
    build_ok(); /* a resume: the words passed through before are closed again */
    assert_vmcs02_uses_page();
    for (unsigned i = 0; i < MSR_BITMAP_SIZE; i++)
        cr_assert_eq(merged()[i], 0xFF, "byte %#x", i);
}

/* SDM 26.1.3: without "use MSR bitmaps" in vmcs12 every access exits: vmcs02 then has no
 * bitmap either, and L1's memory is not read. */
Test(msr_bitmap02, l1_without_msr_bitmaps_gives_vmcs02_without_bitmaps)
{
    memset(l0_bitmap, 0, sizeof(l0_bitmap));
    start_with_l0_bitmap();
    set12(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL, NVMX_PROCBASED_DEFAULT1);
    set12(VMCS12_ORD_MSR_BITMAP, L1_BITMAP);
    long reads = h.host.l1_reads;
    build_ok();
    cr_assert_eq(get02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(MSR_BITMAPS), 0);
    cr_assert_eq(h.host.l1_reads, reads);
}

/* L0's "use MSR bitmaps" in l0.proc is not a policy: without a bitmap vmcs02 gets none. */
Test(msr_bitmap02, l0_proc_msr_bitmaps_bit_alone_adds_nothing)
{
    nvmx_vm_config_init(&config);
    config.l0.proc = NVMX_CTL(MSR_BITMAPS);
    harness_init(&h, &config);
    harness_vmxon_vmptrld(&h);
    l1_uses_bitmap(L1_BITMAP);
    build_ok();
    cr_assert_eq(get02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(MSR_BITMAPS), 0);
}

/* L1 turns "use MSR bitmaps" on after a build without it (a dirty control, no whole build):
 * the page is merged from then on. */
Test(msr_bitmap02, l1_turning_bitmaps_on_at_resume_gets_the_merge)
{
    uint64_t seed = 5;
    fill_random(l0_bitmap, &seed, 2);
    start_with_l0_bitmap();
    set12(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL, NVMX_PROCBASED_DEFAULT1);
    build_ok();
    cr_assert_eq(get02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(MSR_BITMAPS), 0);
    fill_random(l1_bitmap(), &seed, 0);
    l1_uses_bitmap(L1_BITMAP);
    build_ok();
    assert_vmcs02_uses_page();
    assert_merged_is_l0_or_l1(l1_bitmap(), "turned on");
}

/* ---- What is read, and when ---------------------------------------------------------- */

/* l1_read recording what it was asked for, then reading as the fake host does. */
static uint64_t last_read_gpa;
static size_t last_read_len;
static nvmx_status recording_l1_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    last_read_gpa = gpa;
    last_read_len = len;
    return fake_host_ops()->l1_read(ctx, gpa, buf, len);
}

/* Only words where L0 passes something through can matter: L0 passes through reads of
 * FS_BASE (C0000100H) alone, so each entry reads that one 8-byte word of L1's bitmap, once. */
Test(msr_bitmap02, each_entry_reads_only_the_pass_through_span_once)
{
    clear_bit(l0_bitmap, msr_bit(0xC0000100u, false));
    start_with_l0_bitmap();
    l1_uses_bitmap(L1_BITMAP);
    memset(l1_bitmap(), 0, MSR_BITMAP_SIZE);
    h.vm->ops.l1_read = recording_l1_read;
    for (int entry = 0; entry < 3; entry++) {
        long reads = h.host.l1_reads;
        build_ok();
        cr_assert_eq(h.host.l1_reads - reads, 1, "one read per entry");
        cr_assert_eq(last_read_gpa, L1_BITMAP + ((msr_bit(0xC0000100u, false) / 8) & ~7u));
        cr_assert_eq(last_read_len, 8);
    }
    assert_merged_is_l0_or_l1(l1_bitmap(), "span");
    cr_assert_not(bit(merged(), msr_bit(0xC0000100u, false)));
    /* L1 now intercepts it: the next resume sees that. */
    set_bit(l1_bitmap(), msr_bit(0xC0000100u, false));
    build_ok();
    cr_assert(bit(merged(), msr_bit(0xC0000100u, false)));
}

/* L0 intercepting everything: nothing of L1 is read, the page is all ones. */
Test(msr_bitmap02, l0_intercepting_everything_reads_nothing_of_l1)
{
    start_with_l0_bitmap();
    l1_uses_bitmap(L1_BITMAP);
    memset(l1_bitmap(), 0, MSR_BITMAP_SIZE);
    long reads = h.host.l1_reads;
    build_ok();
    cr_assert_eq(h.host.l1_reads, reads);
    assert_vmcs02_uses_page();
    assert_merged_is_l0_or_l1(l1_bitmap(), "all ones");
}

/* L0 changes its policy and says so (nvmx_vcpu_vmcs02_invalidate): the next entry merges
 * with the new policy, including bytes outside the old pass-through span. */
Test(msr_bitmap02, l0_policy_change_applies_after_invalidate)
{
    clear_bit(l0_bitmap, msr_bit(0x10, false));
    start_with_l0_bitmap();
    l1_uses_bitmap(L1_BITMAP);
    memset(l1_bitmap(), 0, MSR_BITMAP_SIZE);
    build_ok();
    memset(l0_bitmap, 0xFF, sizeof(l0_bitmap));
    clear_bit(l0_bitmap, msr_bit(0xC0000080u, true));
    nvmx_vcpu_vmcs02_invalidate(h.vcpu);
    build_ok();
    assert_merged_is_l0_or_l1(l1_bitmap(), "new policy");
    cr_assert(bit(merged(), msr_bit(0x10, false)), "old pass-through closed");
}

/* An l1_read failure other than "not L1 RAM" is a host error: the entry fails and the page
 * intercepts every MSR (nothing of L1's half-read bitmap is left without L0's bits). */
static nvmx_status failing_l1_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    (void)ctx, (void)gpa;
    memset(buf, 0, len);
    return NVMX_ERR_HOST;
}
Test(msr_bitmap02, l1_read_host_failure_fails_entry_and_intercepts_everything)
{
    memset(l0_bitmap, 0, sizeof(l0_bitmap));
    start_with_l0_bitmap();
    l1_uses_bitmap(L1_BITMAP);
    memset(l1_bitmap(), 0, MSR_BITMAP_SIZE);
    build_ok(); /* everything passes through */
    h.vm->ops.l1_read = failing_l1_read;
    cr_assert_eq(vmcs02_build(h.vcpu, NULL), NVMX_ERR_HOST);
    for (unsigned i = 0; i < MSR_BITMAP_SIZE; i++)
        cr_assert_eq(((const uint8_t *)h.vcpu->msr_bitmap02.page)[i], 0xFF, "byte %#x", i);
    cr_assert_eq(h.vcpu->vmcs02_source, NVMX_INVALID_VMPTR, "next entry rebuilds whole");
    h.vm->ops.l1_read = fake_host_ops()->l1_read;
}

/* ---- The page's life ------------------------------------------------------------------ */

/* One page per vCPU from page_alloc, all ones until the first merge, freed at destroy. */
Test(msr_bitmap02, page_per_vcpu_freed_at_destroy)
{
    start_with_l0_bitmap();
    cr_assert_eq(h.host.live_pages, 1);
    const uint8_t *page = (const uint8_t *)h.vcpu->msr_bitmap02.page;
    for (unsigned i = 0; i < MSR_BITMAP_SIZE; i++)
        cr_assert_eq(page[i], 0xFF);
    nvmx_vcpu *second;
    cr_assert_eq(nvmx_vcpu_create(h.vm, &h.host, &second), NVMX_OK);
    cr_assert_eq(h.host.live_pages, 2);
    nvmx_vcpu_destroy(second);
    cr_assert_eq(h.host.live_pages, 1);
    nvmx_vcpu_destroy(h.vcpu);
    h.vcpu = NULL;
    cr_assert_eq(h.host.live_pages, 0);
}

/* page_alloc failing: vCPU creation fails with NVMX_ERR_NO_MEMORY, nothing kept. */
Test(msr_bitmap02, page_alloc_failure_fails_vcpu_create_and_keeps_nothing)
{
    start_with_l0_bitmap();
    long allocations = h.host.live_allocations;
    h.host.fail_page_at = h.host.page_allocs + 1;
    nvmx_vcpu *second = (nvmx_vcpu *)&h;
    cr_assert_eq(nvmx_vcpu_create(h.vm, &h.host, &second), NVMX_ERR_NO_MEMORY);
    cr_assert_null(second);
    cr_assert_eq(h.host.live_allocations, allocations);
    cr_assert_eq(h.host.live_pages, 1);
    cr_assert_eq(h.vm->vcpu_count, 1);
    cr_assert(strstr(h.host.last_log, "MSR bitmap"), "%s", h.host.last_log);
}

/* The merge's working memory (mem_alloc) failing: the same, and no page is taken. */
Test(msr_bitmap02, work_memory_failure_fails_vcpu_create_and_keeps_nothing)
{
    start_with_l0_bitmap();
    long allocations = h.host.live_allocations;
    long calls = h.host.alloc_calls, pages = h.host.page_allocs;
    h.host.fail_alloc_at = calls + 2; /* the vCPU, then the working memory */
    nvmx_vcpu *second = (nvmx_vcpu *)&h;
    cr_assert_eq(nvmx_vcpu_create(h.vm, &h.host, &second), NVMX_ERR_NO_MEMORY);
    cr_assert_eq(h.host.alloc_calls, calls + 2);
    cr_assert_eq(h.host.page_allocs, pages);
    cr_assert_null(second);
    cr_assert_eq(h.host.live_allocations, allocations);
    cr_assert_eq(h.host.live_pages, 1);
    cr_assert_eq(h.vm->vcpu_count, 1);
}

/* A page_alloc returning an address vmcs02 cannot reference (not 4-KiB aligned): a host error,
 * the page handed back. */
static void *misaligned_page_alloc(void *ctx, uint64_t *host_phys)
{
    void *page = fake_host_ops()->page_alloc(ctx, host_phys);
    *host_phys |= 0x10;
    return page;
}
static void misaligned_page_free(void *ctx, void *page, uint64_t host_phys)
{
    fake_host_ops()->page_free(ctx, page, host_phys & ~0xFFFull);
}
Test(msr_bitmap02, page_alloc_bad_address_fails_vcpu_create)
{
    start_with_l0_bitmap();
    h.vm->ops.page_alloc = misaligned_page_alloc;
    h.vm->ops.page_free = misaligned_page_free;
    nvmx_vcpu *second;
    long allocations = h.host.live_allocations;
    cr_assert_eq(nvmx_vcpu_create(h.vm, &h.host, &second), NVMX_ERR_HOST);
    cr_assert_eq(h.host.live_pages, 1);
    cr_assert_eq(h.host.live_allocations, allocations);
    h.vm->ops.page_alloc = fake_host_ops()->page_alloc;
    h.vm->ops.page_free = fake_host_ops()->page_free;
}

/* An L0 policy needs page_alloc and page_free: refused at VM creation otherwise. */
Test(msr_bitmap02, policy_without_page_ops_is_refused_at_vm_create)
{
    fake_host host;
    fake_host_init(&host, 1 << 16);
    nvmx_host_ops ops = *fake_host_ops();
    ops.page_free = NULL;
    nvmx_vm_config_init(&config);
    config.l0.msr_bitmap = l0_bitmap;
    nvmx_vm *vm = (nvmx_vm *)&host;
    cr_assert_eq(nvmx_vm_create(&config, &ops, &host, &vm), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_null(vm);
    cr_assert_eq(host.live_allocations, 0);
    cr_assert(strstr(host.last_log, "page_alloc"), "%s", host.last_log);
    fake_host_fini(&host);
}

/* A VM that does not expose VMX has no L2: no page. */
Test(msr_bitmap02, no_page_when_vmx_is_not_exposed)
{
    nvmx_vm_config_init(&config);
    config.expose_vmx = false;
    config.l0.msr_bitmap = l0_bitmap;
    harness_init(&h, &config);
    cr_assert_null(h.vcpu->msr_bitmap02.page);
    cr_assert_eq(h.host.page_allocs, 0);
}

/* A bitmap address that is not 4-KiB aligned never passes the entry checks (27.2.1.1); should
 * vmcs02 be built from one anyway, nothing of L1 is read and everything exits. */
Test(msr_bitmap02, misaligned_l1_bitmap_address_intercepts_everything_without_reading)
{
    memset(l0_bitmap, 0, sizeof(l0_bitmap));
    start_with_l0_bitmap();
    l1_uses_bitmap(L1_BITMAP);
    memset(l1_bitmap(), 0, MSR_BITMAP_SIZE);
    build_ok(); /* everything passes through */
    set12(VMCS12_ORD_MSR_BITMAP, 0xFFFFFFFFFFFFFF08ull);
    long reads = h.host.l1_reads;
    build_ok();
    cr_assert_eq(h.host.l1_reads, reads);
    for (unsigned i = 0; i < MSR_BITMAP_SIZE; i++)
        cr_assert_eq(merged()[i], 0xFF, "byte %#x", i);
}

/* Another vmcs12 (VMPTRLD, a whole vmcs02 build): merged from that vmcs12's bitmap. L0's
 * policy is read again only when L0 says it changed (nvmx_vcpu_vmcs02_invalidate): a change
 * without it is not seen by the switch. */
Test(msr_bitmap02, vmcs12_switch_merges_the_new_bitmap_with_the_listed_policy)
{
    uint64_t seed = 99;
    fill_random(l0_bitmap, &seed, 1);
    uint8_t policy[MSR_BITMAP_SIZE];
    memcpy(policy, l0_bitmap, sizeof(policy));
    start_with_l0_bitmap();
    fill_random(l1_bitmap(), &seed, 0);
    l1_uses_bitmap(L1_BITMAP);
    build_ok();
    memset(l0_bitmap, 0, sizeof(l0_bitmap)); /* changed, but L0 does not say so */
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    uint8_t *other = h.host.ram + L1_BITMAP + MSR_BITMAP_SIZE;
    fill_random(other, &seed, 0);
    l1_uses_bitmap(L1_BITMAP + MSR_BITMAP_SIZE);
    long writes = h.host.vmcs_writes[NVMX_HW_VMCS02];
    build_ok();
    cr_assert_gt(h.host.vmcs_writes[NVMX_HW_VMCS02] - writes, 60, "a whole build");
    assert_vmcs02_uses_page();
    memcpy(l0_bitmap, policy, sizeof(policy));
    assert_merged_is_l0_or_l1(other, "after the switch");
}
