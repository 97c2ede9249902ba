/* SPDX-License-Identifier: MIT */
/*
 * CVE-2024-26990 class (KVM: dirty logging missed writes of L2 through stale writable shadow
 * entries) and its relatives: when L0 write-protects L1's memory in EPT01 to log dirty pages
 * and calls nvmx_ept01_changed, every page L2 writes afterwards must reach L0 as a write to its
 * L1 GPA, and no write may go through an EPT02 leaf that stayed writable. L1 is hostile: it
 * aliases L1 pages at several L2 addresses and maps them with large EPT12 pages.
 *
 * The "hardware" here: an L2 write to an L2 GPA goes through EPT02 (walked from vmcs02's EPTP);
 * a writable leaf completes it silently (the test then fails: that write was not logged), else
 * the EPT violation goes to nvmx_on_l2_exit.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "arch.h"
#include "ept_l2_fixture.h"

#define LOGGED_BASE 0x400000ull /* L1 pages under dirty logging: [4 MiB, 6 MiB) */
#define LOGGED_PAGES 512u
#define HOST_BASE 0x200000000000ull
#define Q_LINEAR (EPT_QUAL_LINEAR_VALID | EPT_QUAL_LINEAR_TRANSLATION)

static bool write_protected[LOGGED_PAGES];

/* EPT01: L1 RAM in 4-KiB pages (L0 splits large pages when it starts dirty logging, as KVM
 * does), RWX, write-protected where the dirty log says. */
static nvmx_status logging_ept01_lookup(void *ctx, uint64_t l1_gpa, nvmx_ept01_mapping *out)
{
    fake_host *h = ctx;
    if (l1_gpa >= h->ram_size)
        return NVMX_ERR_BAD_L1_ADDRESS;
    uint64_t page = (l1_gpa - LOGGED_BASE) >> 12;
    bool wp = l1_gpa >= LOGGED_BASE && page < LOGGED_PAGES && write_protected[page];
    *out = (nvmx_ept01_mapping){.host_phys = HOST_BASE + l1_gpa,
                                .page_size = 4096,
                                .read = true,
                                .write = !wp,
                                .execute = true,
                                .memory_type = MEMTYPE_WB};
    return NVMX_OK;
}

static ept_l2 e;

/* L2's view: 64 L2 pages at 0x10000.. map L1 pages 0x400000.. one to one; 64 more at
 * 0x100000.. alias the same L1 pages in reverse order; a 2-MiB EPT12 page at 0x40000000 maps
 * the whole logged range again. */
#define DIRECT_L2 0x10000ull
#define ALIAS_L2 0x100000ull
#define LARGE_L2 0x40000000ull
#define MAPPED 64u

static uint64_t l1_of(uint64_t l2)
{
    if (l2 >= LARGE_L2)
        return LOGGED_BASE + (l2 - LARGE_L2);
    if (l2 >= ALIAS_L2)
        return LOGGED_BASE + ((MAPPED - 1 - ((l2 - ALIAS_L2) >> 12)) << 12) + (l2 & 0xFFF);
    return LOGGED_BASE + (l2 - DIRECT_L2);
}

static void setup(void)
{
    memset(write_protected, 0, sizeof(write_protected));
    nvmx_host_ops ops = *fake_host_ops();
    ops.ept01_lookup = logging_ept01_lookup;
    ept_l2_init(&e, NULL, &ops, false);
    for (uint64_t i = 0; i < MAPPED; i++) {
        ept12_map(&e, DIRECT_L2 + (i << 12), LOGGED_BASE + (i << 12), 4096, EPT_RWX | EPT_WB);
        ept12_map(&e, ALIAS_L2 + (i << 12), LOGGED_BASE + ((MAPPED - 1 - i) << 12), 4096,
                  EPT_RWX | EPT_WB);
    }
    ept12_map(&e, LARGE_L2, LOGGED_BASE, EPT_2M, EPT_RWX | EPT_WB);
}

static void teardown(void)
{
    ept_l2_fini(&e);
}

TestSuite(sec_ept_dirty_log, .init = setup, .fini = teardown);

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t random_l2(void)
{
    switch (rnd() % 3) {
    case 0:
        return DIRECT_L2 + ((rnd() % MAPPED) << 12) + (rnd() & 0xFF8);
    case 1:
        return ALIAS_L2 + ((rnd() % MAPPED) << 12) + (rnd() & 0xFF8);
    default:
        return LARGE_L2 + ((rnd() % MAPPED) << 12) + (rnd() & 0xFF8);
    }
}

static bool ept02_writable(uint64_t l2)
{
    uint64_t leaf, size;
    return ept02_hw_walk(ept_l2_eptp02(&e), l2, &leaf, &size) && (leaf & EPT_W);
}

static bool ept02_readable(uint64_t l2)
{
    uint64_t leaf, size;
    return ept02_hw_walk(ept_l2_eptp02(&e), l2, &leaf, &size) && (leaf & EPT_R);
}

/* L2 reads l2 until the hardware lets it (each EPT violation resolved in EPT02). */
static void l2_reads(uint64_t l2)
{
    for (int tries = 0; !ept02_readable(l2); tries++) {
        cr_assert_lt(tries, 2, "a read of %llx does not complete", (unsigned long long)l2);
        cr_assert_eq(ept_l2_violation(&e, l2, EPT_QUAL_READ | Q_LINEAR, l2), NVMX_OK);
        cr_assert_eq(e.h.next.run, NVMX_RUN_L2, "reads are never L0's here");
    }
}

static long dirty_reports[LOGGED_PAGES];

/* L2 writes l2: through EPT02 if a leaf allows it, else by EPT violations until it does; L0
 * answers each report as a dirty-logging L0: the page is dirty, EPT01 lets it be written. */
static void l2_writes(uint64_t l2)
{
    uint64_t page = (l1_of(l2) - LOGGED_BASE) >> 12;
    if (ept02_writable(l2)) {
        cr_assert_not(write_protected[page],
                      "L2 wrote L1 page %llx through a stale writable EPT02 leaf: unlogged",
                      (unsigned long long)l1_of(l2));
        return;
    }
    for (int tries = 0; !ept02_writable(l2); tries++) {
        cr_assert_lt(tries, 3, "a write of %llx does not complete", (unsigned long long)l2);
        cr_assert_eq(ept_l2_violation(&e, l2, EPT_QUAL_WRITE | Q_LINEAR, l2), NVMX_OK);
        if (e.h.next.run == NVMX_RUN_L2)
            continue;
        cr_assert_eq(e.h.next.run, NVMX_RUN_L0_HANDLES);
        cr_assert(e.h.next.l1_gpa_valid);
        cr_assert(e.h.next.ept01_backed);
        cr_assert_eq(e.h.next.l1_gpa, l1_of(l2), "reported as a write to its L1 GPA");
        cr_assert(write_protected[page], "reported a page L0 lets L2 write");
        dirty_reports[page]++;
        write_protected[page] = false; /* widening EPT01 needs no call */
    }
}

/* L0 (re)starts a dirty-log round: write-protect everything, tell the library. */
static void start_round(bool vm_wide)
{
    for (unsigned i = 0; i < LOGGED_PAGES; i++)
        write_protected[i] = true;
    memset(dirty_reports, 0, sizeof(dirty_reports));
    long flushes = e.h.host.tlb_flush_count;
    if (vm_wide)
        cr_assert_eq(nvmx_ept01_changed(e.h.vm, LOGGED_BASE, LOGGED_PAGES << 12), NVMX_OK);
    else
        cr_assert_eq(nvmx_vcpu_ept01_changed(e.h.vcpu, LOGGED_BASE, LOGGED_PAGES << 12), NVMX_OK);
    /* whatever EPT02 held for the range went, and the hardware was told (29.4.3) */
    cr_assert_gt(e.h.host.tlb_flush_count, flushes);
    cr_assert_eq(e.h.host.tlb_flushes[e.h.host.tlb_flush_count - 1].kind, NVMX_TLB_FLUSH_EPTP);
    cr_assert_eq(e.h.host.tlb_flushes[e.h.host.tlb_flush_count - 1].eptp, ept_l2_eptp02(&e));
}

static void run_round(void)
{
    bool written[LOGGED_PAGES] = {0};
    for (int i = 0; i < 3000; i++) {
        uint64_t l2 = random_l2();
        if (rnd() % 3 == 0) {
            l2_reads(l2);
        } else {
            l2_writes(l2);
            written[(l1_of(l2) - LOGGED_BASE) >> 12] = true;
        }
    }
    for (unsigned p = 0; p < LOGGED_PAGES; p++) {
        /* every page written was reported exactly once (then EPT01 allowed it); none other */
        cr_assert_eq(dirty_reports[p], written[p] ? 1 : 0, "L1 page %x: %ld reports", p,
                     dirty_reports[p]);
    }
}

Test(sec_ept_dirty_log, every_l2_write_after_write_protection_is_reported_with_its_l1_gpa)
{
    /* L2 runs a while before logging starts: writable leaves everywhere it wrote. */
    for (int i = 0; i < 1000; i++)
        l2_writes(random_l2());
    for (int round = 0; round < 3; round++) {
        start_round(round != 1);
        run_round();
    }
}

/* The stale-leaf check itself: after the call no EPT02 leaf maps a logged page writably,
 * whichever alias built it. */
Test(sec_ept_dirty_log, no_writable_leaf_survives_write_protection)
{
    for (uint64_t i = 0; i < MAPPED; i++) {
        l2_writes(DIRECT_L2 + (i << 12));
        l2_writes(ALIAS_L2 + (i << 12));
        l2_writes(LARGE_L2 + (i << 12));
    }
    start_round(true);
    for (uint64_t i = 0; i < MAPPED; i++) {
        cr_assert_not(ept02_writable(DIRECT_L2 + (i << 12)));
        cr_assert_not(ept02_writable(ALIAS_L2 + (i << 12)));
        cr_assert_not(ept02_writable(LARGE_L2 + (i << 12)));
    }
}
