/* SPDX-License-Identifier: MIT */
/*
 * The EPT02 builder (lib/ept/ept02.c): EPT12 (L1's tables in the fake host's RAM) composed
 * with a fake EPT01 (the ept01_lookup op over a small table with holes, 4 KiB / 2 MiB / 1 GiB
 * host pages and reduced permissions), EPT02 pages from aligned_alloc through the page ops,
 * counted. A host-physical address of an EPT02 table is its pointer, so the tests walk EPT02
 * as hardware would. SDM Vol. 3C 29.3 (EPT), 29.4 (caching, INVEPT), 25.6.11 (EPTP).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "entry_fixture.h"
#include "ept/ept02.h"
#include "ept/ept12_walk.h"
#include "ept/eptp.h"

#define TABLES_BASE 0x800000ull
#define ADDR_MASK 0x000FFFFFFFFFF000ull
#define R EPT_ENTRY_READ
#define W EPT_ENTRY_WRITE
#define X EPT_ENTRY_EXECUTE
#define RWX (R | W | X)
#define WB_LEAF ((uint64_t)MEMTYPE_WB << EPT_ENTRY_MEMTYPE_SHIFT)
#define M2 (1ull << 21)
#define G1 (1ull << 30)

static entry_fixture fx;

/* ---- Page ops: aligned_alloc, counted; host-physical = the pointer ------------------------ */

static long live_pages, page_allocs;
static long fail_page_at; /* n > 0: the n-th page_alloc fails */

static void *test_page_alloc(void *ctx, uint64_t *hpa)
{
    (void)ctx;
    page_allocs++;
    if (fail_page_at && page_allocs == fail_page_at)
        return NULL;
    void *p = aligned_alloc(4096, 4096);
    cr_assert_not_null(p);
    memset(p, 0xA5, 4096); /* the library must not rely on this being zero... */
    memset(p, 0, 4096);    /* ...but the op contract says zeroed */
    *hpa = (uint64_t)(uintptr_t)p;
    live_pages++;
    return p;
}

static void test_page_free(void *ctx, void *page, uint64_t hpa)
{
    (void)ctx;
    cr_assert_eq((uint64_t)(uintptr_t)page, hpa);
    live_pages--;
    free(page);
}

/* A/D flags: compare-exchange on the fake RAM. */
static nvmx_status test_cmpxchg64(void *ctx, uint64_t gpa, uint64_t expected, uint64_t desired)
{
    fake_host *h = ctx;
    if (gpa + 8 > h->ram_size)
        return NVMX_ERR_BAD_L1_ADDRESS;
    if (fake_host_read64(h, gpa) != expected)
        return NVMX_ERR_STATE;
    fake_host_write64(h, gpa, desired);
    return NVMX_OK;
}

/* ---- The fake EPT01 ------------------------------------------------------------------------ */

typedef struct ept01_region {
    uint64_t l1_base, size; /* L1 GPA range */
    uint64_t host_base;
    uint64_t page_size;
    uint64_t perms; /* R/W/X bits */
    uint8_t type;
    bool permute; /* 4 KiB pages: host page i of the region is (i * 7) % pages */
} ept01_region;

#define MAX_REGIONS 64
static ept01_region regions[MAX_REGIONS];
static int region_count;
static long ept01_lookups;

static void add_region(uint64_t l1, uint64_t size, uint64_t host, uint64_t page_size,
                       uint64_t perms, uint8_t type)
{
    regions[region_count++] = (ept01_region){l1, size, host, page_size, perms, type, false};
}

static bool ept01_model(uint64_t l1, uint64_t *host, uint64_t *page_size, uint64_t *perms,
                        uint8_t *type)
{
    for (int i = 0; i < region_count; i++) {
        const ept01_region *g = &regions[i];
        if (l1 < g->l1_base || l1 - g->l1_base >= g->size)
            continue;
        uint64_t off = l1 - g->l1_base;
        if (g->permute) {
            uint64_t pages = g->size >> 12, page = off >> 12;
            *host = g->host_base + (((page * 7) % pages) << 12) + (off & 0xFFF);
        } else {
            *host = g->host_base + off;
        }
        *page_size = g->page_size;
        *perms = g->perms;
        *type = g->type;
        return true;
    }
    return false;
}

static nvmx_status test_ept01_lookup(void *ctx, uint64_t l1_gpa, nvmx_ept01_mapping *out)
{
    (void)ctx;
    ept01_lookups++;
    uint64_t host, size, perms;
    uint8_t type;
    if (!ept01_model(l1_gpa, &host, &size, &perms, &type))
        return NVMX_ERR_BAD_L1_ADDRESS;
    *out = (nvmx_ept01_mapping){.host_phys = host,
                                .page_size = size,
                                .read = perms & R,
                                .write = perms & W,
                                .execute = perms & X,
                                .memory_type = type};
    return NVMX_OK;
}

/* ---- EPT12 in L1 RAM (as tests/unit/test_ept12_walk.c) ------------------------------------ */

static uint64_t next_table;

static uint64_t new_table(void)
{
    uint64_t t = next_table;
    next_table += 4096;
    cr_assert(next_table <= fx.host.ram_size);
    memset(fx.host.ram + t, 0, 4096);
    return t;
}

static unsigned shift_of(unsigned level)
{
    return 12u + 9u * (level - 1u);
}

static uint64_t eptp12(uint64_t root)
{
    return root | (3ull << EPTP_WALK_SHIFT) | MEMTYPE_WB;
}

/* Map gpa at leaf_level (1: 4 KiB, 2: 2 MiB, 3: 1 GiB) in the EPT12 rooted at root. */
static void map12(uint64_t root, uint64_t gpa, uint64_t target, unsigned leaf_level, uint64_t leaf)
{
    uint64_t table = root;
    for (unsigned l = 4; l > leaf_level; l--) {
        uint64_t e_gpa = table + ((gpa >> shift_of(l)) & 0x1FF) * 8;
        uint64_t e = fake_host_read64(&fx.host, e_gpa);
        if (!(e & RWX)) {
            e = new_table() | RWX;
            fake_host_write64(&fx.host, e_gpa, e);
        }
        table = e & ADDR_MASK;
    }
    uint64_t e_gpa = table + ((gpa >> shift_of(leaf_level)) & 0x1FF) * 8;
    fake_host_write64(&fx.host, e_gpa, target | leaf | (leaf_level > 1 ? EPT_ENTRY_PAGE_SIZE : 0));
}

/* ---- Walking EPT02 -------------------------------------------------------------------------- */

typedef struct leaf02 {
    bool present;
    uint64_t entry;
    uint64_t size;
    uint64_t host; /* of the address walked */
} leaf02;

static leaf02 walk02(uint64_t eptp02, uint64_t l2_gpa)
{
    leaf02 r = {0};
    const uint64_t *table = (const uint64_t *)(uintptr_t)(eptp02 & ADDR_MASK);
    for (unsigned l = 4; l >= 1; l--) {
        uint64_t e = table[(l2_gpa >> shift_of(l)) & 0x1FF];
        if (!(e & RWX))
            return r;
        if (l == 1 || (e & EPT_ENTRY_PAGE_SIZE)) {
            r.present = true;
            r.entry = e;
            r.size = 1ull << shift_of(l);
            r.host = (e & ADDR_MASK & ~(r.size - 1)) | (l2_gpa & (r.size - 1));
            return r;
        }
        cr_assert_eq(e & ~ADDR_MASK, RWX, "non-leaf EPT02 entry %llx", (unsigned long long)e);
        table = (const uint64_t *)(uintptr_t)(e & ADDR_MASK);
    }
    return r;
}

/* Every leaf of an EPT02, by callback (L2 base, entry, size). */
typedef void (*leaf_fn)(uint64_t l2_base, uint64_t entry, uint64_t size, void *arg);

static long count_tables(const uint64_t *table, unsigned level, uint64_t base, leaf_fn fn,
                         void *arg)
{
    long tables = 1;
    for (unsigned i = 0; i < 512; i++) {
        uint64_t e = table[i];
        uint64_t gpa = base + ((uint64_t)i << shift_of(level));
        if (!e)
            continue;
        if (level == 1 || (e & EPT_ENTRY_PAGE_SIZE)) {
            if (fn)
                fn(gpa, e, 1ull << shift_of(level), arg);
        } else {
            tables +=
                count_tables((const uint64_t *)(uintptr_t)(e & ADDR_MASK), level - 1, gpa, fn, arg);
        }
    }
    return tables;
}

static long walk_all(uint64_t eptp02, leaf_fn fn, void *arg)
{
    return count_tables((const uint64_t *)(uintptr_t)(eptp02 & ADDR_MASK), 4, 0, fn, arg);
}

static void count_leaf(uint64_t l2, uint64_t e, uint64_t size, void *arg)
{
    (void)l2, (void)e, (void)size;
    ++*(long *)arg;
}

static long leaves_of(uint64_t eptp02)
{
    long n = 0;
    walk_all(eptp02, count_leaf, &n);
    return n;
}

/* ---- Fixture --------------------------------------------------------------------------- */

static uint64_t root_a, root_b;

static void setup(void)
{
    entry_fixture_init(&fx);
    fx.vm.ops.ept01_lookup = test_ept01_lookup;
    fx.vm.ops.page_alloc = test_page_alloc;
    fx.vm.ops.page_free = test_page_free;
    fx.vm.ops.l1_cmpxchg64 = test_cmpxchg64;
    live_pages = page_allocs = fail_page_at = ept01_lookups = 0;
    region_count = 0;
    next_table = TABLES_BASE;
    root_a = new_table();
    root_b = new_table();
    /* EPT01: 4 KiB RWX WB | 2 MiB R-X WB | hole | 2 MiB RW- UC | 1 GiB RWX WB. */
    add_region(0x000000, M2, 0x100000000ull, 4096, RWX, MEMTYPE_WB);
    add_region(0x200000, M2, 0x200200000ull, M2, R | X, MEMTYPE_WB);
    add_region(0x600000, M2, 0x300600000ull, M2, R | W, MEMTYPE_UC);
    add_region(0x40000000, G1, 0x8000000000ull, G1, RWX, MEMTYPE_WB);
}

static void teardown(void)
{
    ept02_destroy(&fx.vcpu);
    cr_expect_eq(fx.vcpu.ept02.pages, 0);
    cr_expect_eq(live_pages, 0, "EPT02 pages leaked: %ld", live_pages);
    entry_fixture_fini(&fx); /* checks mem_alloc allocations are back to 0 */
}

TestSuite(ept02, .init = setup, .fini = teardown);

static ept12_access acc(ept12_access_kind kind)
{
    return (ept12_access){.kind = kind};
}

static ept02_fault_result fault(uint64_t eptp, uint64_t gpa, ept12_access_kind kind)
{
    ept02_fault_result r;
    ept12_access a = acc(kind);
    cr_assert_eq(ept02_fault(&fx.vcpu, eptp, gpa, &a, &r), NVMX_OK);
    return r;
}

static uint64_t eptp02_of(uint64_t eptp)
{
    uint64_t v;
    cr_assert_eq(ept02_root_hpa(&fx.vcpu, eptp, &v), NVMX_OK);
    return v;
}

/* ---- Installing leaves ----------------------------------------------------------------- */

Test(ept02, installs_4k_leaf_with_intersected_permissions)
{
    /* EPT12 RW- over EPT01 RWX: RW-. */
    map12(root_a, 0x10000000, 0x1000, 1, R | W | WB_LEAF | EPT_ENTRY_IGNORE_PAT);
    ept02_fault_result r = fault(eptp12(root_a), 0x10000123, EPT12_ACCESS_READ);
    cr_assert_eq(r.outcome, EPT02_INSTALLED);
    cr_assert_eq(r.l1_gpa, 0x1123);
    cr_assert_eq(r.host_phys, 0x100001123ull);
    cr_assert_eq(r.page_size, 4096);
    cr_assert(r.read && r.write && !r.execute);
    leaf02 l = walk02(eptp02_of(eptp12(root_a)), 0x10000123);
    cr_assert(l.present);
    cr_assert_eq(l.size, 4096);
    cr_assert_eq(l.entry, 0x100001000ull | R | W | WB_LEAF | EPT_ENTRY_IGNORE_PAT);
    cr_assert_eq(fx.vcpu.ept02.pages, 4); /* PML4, PDPT, PD, PT */
    cr_assert_eq(live_pages, 4);
}

Test(ept02, installs_2m_leaf_when_both_are_2m)
{
    /* EPT12 RWX 2 MiB over EPT01 R-X 2 MiB: R-X, 2 MiB, a PDE with bit 7. */
    map12(root_a, 0x40200000, 0x200000, 2, RWX | WB_LEAF);
    ept02_fault_result r = fault(eptp12(root_a), 0x40212345, EPT12_ACCESS_FETCH);
    cr_assert_eq(r.outcome, EPT02_INSTALLED);
    cr_assert_eq(r.page_size, M2);
    cr_assert_eq(r.host_phys, 0x200212345ull);
    cr_assert(r.read && !r.write && r.execute);
    leaf02 l = walk02(eptp02_of(eptp12(root_a)), 0x40200000);
    cr_assert(l.present);
    cr_assert_eq(l.size, M2);
    cr_assert_eq(l.entry, 0x200200000ull | R | X | WB_LEAF | EPT_ENTRY_PAGE_SIZE);
    cr_assert_eq(fx.vcpu.ept02.pages, 3); /* PML4, PDPT, PD */
}

Test(ept02, installs_1g_leaf_when_both_are_1g)
{
    map12(root_a, 0x80000000, 0x40000000, 3, RWX | WB_LEAF);
    ept02_fault_result r = fault(eptp12(root_a), 0xBFFFFFF8, EPT12_ACCESS_WRITE);
    cr_assert_eq(r.outcome, EPT02_INSTALLED);
    cr_assert_eq(r.page_size, G1);
    cr_assert_eq(r.host_phys, 0x8000000000ull + 0x3FFFFFF8);
    leaf02 l = walk02(eptp02_of(eptp12(root_a)), 0x80000000);
    cr_assert_eq(l.size, G1);
    cr_assert_eq(fx.vcpu.ept02.pages, 2);
}

Test(ept02, smaller_ept12_page_inside_large_ept01_page)
{
    /* EPT12 4 KiB over EPT01's 2 MiB page: a 4 KiB leaf at the right offset. */
    map12(root_a, 0x7000, 0x201000, 1, R | X | WB_LEAF);
    ept02_fault_result r = fault(eptp12(root_a), 0x7FFF, EPT12_ACCESS_READ);
    cr_assert_eq(r.outcome, EPT02_INSTALLED);
    cr_assert_eq(r.page_size, 4096);
    leaf02 l = walk02(eptp02_of(eptp12(root_a)), 0x7000);
    cr_assert_eq(l.entry, 0x200201000ull | R | X | WB_LEAF);
}

Test(ept02, large_ept12_page_over_4k_ept01_pages_is_split)
{
    /* EPT12 2 MiB RWX over EPT01's 4 KiB pages, permuted in host memory: each access maps
     * only its own 4 KiB piece, at the host page EPT01 gave. */
    regions[0].permute = true;
    map12(root_a, 0x40000000, 0x000000, 2, RWX | WB_LEAF);
    ept02_fault_result r = fault(eptp12(root_a), 0x40005678, EPT12_ACCESS_WRITE);
    cr_assert_eq(r.outcome, EPT02_INSTALLED);
    cr_assert_eq(r.page_size, 4096);
    cr_assert_eq(r.host_phys, 0x100000000ull + ((5 * 7) << 12) + 0x678);
    uint64_t e02 = eptp02_of(eptp12(root_a));
    leaf02 l = walk02(e02, 0x40005000);
    cr_assert(l.present);
    cr_assert_eq(l.size, 4096);
    cr_assert_eq(l.host, 0x100000000ull + ((5 * 7) << 12));
    cr_assert_eq(leaves_of(e02), 1);
    cr_assert_not(walk02(e02, 0x40006000).present);
    r = fault(eptp12(root_a), 0x40006000, EPT12_ACCESS_READ);
    cr_assert_eq(r.outcome, EPT02_INSTALLED);
    cr_assert_eq(walk02(e02, 0x40006000).host, 0x100000000ull + ((6 * 7) << 12));
    cr_assert_eq(leaves_of(e02), 2);
    cr_assert_eq(fx.vcpu.ept02.pages, 4); /* the second piece shares the PT */
}

Test(ept02, memory_type_from_ept12_but_uc_when_ept01_is_uc)
{
    map12(root_a, 0x600000, 0x600000, 2, RWX | WB_LEAF | EPT_ENTRY_IGNORE_PAT);
    ept02_fault_result r = fault(eptp12(root_a), 0x600000, EPT12_ACCESS_READ);
    cr_assert_eq(r.outcome, EPT02_INSTALLED);
    cr_assert_eq(r.memory_type, MEMTYPE_UC);
    leaf02 l = walk02(eptp02_of(eptp12(root_a)), 0x600000);
    cr_assert_eq((l.entry & EPT_ENTRY_MEMTYPE_MASK) >> EPT_ENTRY_MEMTYPE_SHIFT, MEMTYPE_UC);
    /* WT from EPT12 over WB EPT01 stays WT. */
    map12(root_a, 0x10000000, 0x1000, 1, RWX | ((uint64_t)MEMTYPE_WT << 3));
    r = fault(eptp12(root_a), 0x10000000, EPT12_ACCESS_READ);
    cr_assert_eq(r.memory_type, MEMTYPE_WT);
}

/* ---- What is not installed ------------------------------------------------------------------ */

Test(ept02, l1_gpa_without_ept01_backing_is_l0s)
{
    map12(root_a, 0x10000000, 0x400000, 1, RWX | WB_LEAF);
    ept02_fault_result r = fault(eptp12(root_a), 0x10000010, EPT12_ACCESS_READ);
    cr_assert_eq(r.outcome, EPT02_L0);
    cr_assert_eq(r.l1_gpa, 0x400010);
    cr_assert_not(r.ept01_backed);
    cr_assert_eq(fx.vcpu.ept02.pages, 0);
    cr_assert_eq(live_pages, 0);
}

Test(ept02, access_ept01_denies_is_l0s)
{
    /* EPT12 allows the write, EPT01 maps the page read/execute only. */
    map12(root_a, 0x40200000, 0x200000, 2, RWX | WB_LEAF);
    ept02_fault_result r = fault(eptp12(root_a), 0x40200000, EPT12_ACCESS_WRITE);
    cr_assert_eq(r.outcome, EPT02_L0);
    cr_assert(r.ept01_backed);
    cr_assert_eq(fx.vcpu.ept02.pages, 0);
}

Test(ept02, ept12_misconfig_is_reflected_with_the_walk)
{
    map12(root_a, 0x10000000, 0x1000, 1, W | WB_LEAF); /* write without read */
    ept02_fault_result r = fault(eptp12(root_a), 0x10000000, EPT12_ACCESS_READ);
    cr_assert_eq(r.outcome, EPT02_REFLECT);
    cr_assert_eq(r.walk.outcome, EPT12_MISCONFIG);
    cr_assert_eq(r.walk.level, 1);
    cr_assert_eq(ept01_lookups, 0);
    cr_assert_eq(fx.vcpu.ept02.pages, 0);
}

Test(ept02, ept12_violation_is_reflected_with_the_walk)
{
    map12(root_a, 0x10000000, 0x1000, 1, R | WB_LEAF);
    ept02_fault_result r = fault(eptp12(root_a), 0x10000000, EPT12_ACCESS_WRITE);
    cr_assert_eq(r.outcome, EPT02_REFLECT);
    cr_assert_eq(r.walk.outcome, EPT12_VIOLATION);
    cr_assert(r.walk.leaf_reached);
    cr_assert_eq(r.walk.qualification, EPT_QUAL_WRITE | EPT_QUAL_READABLE);
    r = fault(eptp12(root_a), 0x20000000, EPT12_ACCESS_READ); /* not present */
    cr_assert_eq(r.outcome, EPT02_REFLECT);
    cr_assert_eq(r.walk.outcome, EPT12_VIOLATION);
    cr_assert_not(r.walk.leaf_reached);
    cr_assert_eq(fx.vcpu.ept02.pages, 0);
    cr_assert_eq(live_pages, 0);
}

Test(ept02, accessed_dirty_leaf_writable_only_after_a_write)
{
    /* With EPT A/D in eptp12, a read installs a read-only leaf so that the first write faults
     * and the walker sets the dirty flag. */
    map12(root_a, 0x10000000, 0x1000, 1, RWX | WB_LEAF);
    uint64_t eptp = eptp12(root_a) | EPTP_ACCESSED_DIRTY;
    ept02_fault_result r = fault(eptp, 0x10000000, EPT12_ACCESS_READ);
    cr_assert_eq(r.outcome, EPT02_INSTALLED);
    cr_assert_not(r.write);
    r = fault(eptp, 0x10000000, EPT12_ACCESS_WRITE);
    cr_assert_eq(r.outcome, EPT02_INSTALLED);
    cr_assert(r.write);
    cr_assert(walk02(eptp02_of(eptp), 0x10000000).entry & W);
    /* The EPT12 PTE (the first 4 KiB table after the two roots' PML4s: PDPT, PD, PT). */
    cr_assert(fake_host_read64(&fx.host, TABLES_BASE + 4 * 4096) & EPT_ENTRY_DIRTY);
}

Test(ept02, missing_ops_and_bad_arguments)
{
    ept02_fault_result r;
    ept12_access a = acc(EPT12_ACCESS_READ);
    cr_assert_eq(ept02_fault(NULL, eptp12(root_a), 0, &a, &r), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ept02_fault(&fx.vcpu, eptp12(root_a) | 0xF00, 0, &a, &r),
                 NVMX_ERR_INVALID_ARGUMENT);
    fx.vm.ops.ept01_lookup = NULL;
    cr_assert_eq(ept02_fault(&fx.vcpu, eptp12(root_a), 0, &a, &r), NVMX_ERR_UNSUPPORTED);
    fx.vm.ops.ept01_lookup = test_ept01_lookup;
    fx.vm.ops.page_alloc = NULL;
    uint64_t v;
    cr_assert_eq(ept02_root_hpa(&fx.vcpu, eptp12(root_a), &v), NVMX_ERR_UNSUPPORTED);
    fx.vm.ops.page_alloc = test_page_alloc;
}

Test(ept02, page_alloc_failure_is_no_memory_and_leaks_nothing)
{
    map12(root_a, 0x10000000, 0x1000, 1, RWX | WB_LEAF);
    for (long n = 1; n <= 4; n++) {
        ept02_invalidate_all(&fx.vcpu);
        page_allocs = 0;
        fail_page_at = n;
        ept02_fault_result r;
        ept12_access a = acc(EPT12_ACCESS_READ);
        cr_assert_eq(ept02_fault(&fx.vcpu, eptp12(root_a), 0x10000000, &a, &r), NVMX_ERR_NO_MEMORY);
        cr_assert_eq(live_pages, fx.vcpu.ept02.pages);
    }
    fail_page_at = 0;
    cr_assert_eq(fault(eptp12(root_a), 0x10000000, EPT12_ACCESS_READ).outcome, EPT02_INSTALLED);
}

Test(ept02, ept01_mapping_that_is_not_a_whole_aligned_page_is_a_host_error)
{
    /* A 2 MiB host page whose offset differs from the L1 page's: the embedder's bug. */
    add_region(0xA00000, M2, 0x400001000ull, M2, RWX, MEMTYPE_WB);
    map12(root_a, 0x10000000, 0xA00000, 1, RWX | WB_LEAF);
    ept02_fault_result r;
    ept12_access a = acc(EPT12_ACCESS_READ);
    cr_assert_eq(ept02_fault(&fx.vcpu, eptp12(root_a), 0x10000000, &a, &r), NVMX_ERR_HOST);
    regions[region_count - 1].host_base = 0x400000000ull;
    regions[region_count - 1].page_size = 8192; /* not a page size */
    cr_assert_eq(ept02_fault(&fx.vcpu, eptp12(root_a), 0x10000000, &a, &r), NVMX_ERR_HOST);
    cr_assert_eq(live_pages, 0);
}

/* ---- The root cache and its cap ------------------------------------------------------------ */

Test(ept02, eptp02_is_root_hpa_wb_4_level)
{
    uint64_t v = eptp02_of(eptp12(root_a));
    cr_assert_eq(v & 0xFFF, (3u << EPTP_WALK_SHIFT) | MEMTYPE_WB);
    cr_assert_eq(live_pages, 1);
    cr_assert_eq(eptp02_of(eptp12(root_a)), v);
    /* Bits 11:0 of eptp12 other than A/D and walk length do not make another root. */
    cr_assert_eq(eptp02_of(root_a | (3ull << EPTP_WALK_SHIFT) | MEMTYPE_UC), v);
}

Test(ept02, cache_reuses_root_for_same_ept12_root_and_builds_another)
{
    map12(root_a, 0x10000000, 0x1000, 1, RWX | WB_LEAF);
    map12(root_b, 0x10000000, 0x2000, 1, R | WB_LEAF);
    cr_assert_eq(fault(eptp12(root_a), 0x10000000, EPT12_ACCESS_READ).outcome, EPT02_INSTALLED);
    uint64_t a02 = eptp02_of(eptp12(root_a));
    cr_assert_eq(fault(eptp12(root_b), 0x10000000, EPT12_ACCESS_READ).outcome, EPT02_INSTALLED);
    uint64_t b02 = eptp02_of(eptp12(root_b));
    cr_assert_neq(a02, b02);
    cr_assert_eq(fx.vcpu.ept02.root_count, 2);
    cr_assert_eq(fx.vcpu.ept02.pages, 8);
    /* Back to A: the same root with its leaf; no page allocated. */
    long allocs = page_allocs;
    cr_assert_eq(eptp02_of(eptp12(root_a)), a02);
    cr_assert_eq(walk02(a02, 0x10000000).host, 0x100001000ull);
    cr_assert_eq(walk02(b02, 0x10000000).host, 0x100002000ull);
    cr_assert_eq(page_allocs, allocs);
}

Test(ept02, page_cap_evicts_least_recently_used_root_and_is_never_exceeded)
{
    fx.vm.max_ept02_pages = 6;
    uint64_t roots[3] = {root_a, root_b, new_table()};
    for (int i = 0; i < 3; i++)
        map12(roots[i], 0x10000000, 0x1000 * (uint64_t)(i + 1), 1, RWX | WB_LEAF);
    cr_assert_eq(fault(eptp12(roots[0]), 0x10000000, EPT12_ACCESS_READ).outcome, EPT02_INSTALLED);
    cr_assert_eq(fx.vcpu.ept02.pages, 4);
    cr_assert_eq(fault(eptp12(roots[1]), 0x10000000, EPT12_ACCESS_READ).outcome, EPT02_INSTALLED);
    cr_assert_leq(fx.vcpu.ept02.pages, 6);
    cr_assert_eq(fx.vcpu.ept02.root_count, 1); /* A evicted whole */
    cr_assert_eq(live_pages, fx.vcpu.ept02.pages);
    cr_assert_eq(fault(eptp12(roots[2]), 0x10000000, EPT12_ACCESS_READ).outcome, EPT02_INSTALLED);
    cr_assert_leq(fx.vcpu.ept02.pages, 6);
    cr_assert_eq(live_pages, fx.vcpu.ept02.pages);
    cr_assert_eq(walk02(eptp02_of(eptp12(roots[2])), 0x10000000).host, 0x100003000ull);
}

Test(ept02, page_cap_reached_by_one_root_clears_it_keeping_its_eptp)
{
    fx.vm.max_ept02_pages = 5;
    map12(root_a, 0x10000000, 0x1000, 1, RWX | WB_LEAF);
    map12(root_a, 0x50000000, 0x2000, 1, RWX | WB_LEAF); /* another PDPT entry */
    uint64_t a02 = eptp02_of(eptp12(root_a));
    cr_assert_eq(fault(eptp12(root_a), 0x10000000, EPT12_ACCESS_READ).outcome, EPT02_INSTALLED);
    cr_assert_eq(fx.vcpu.ept02.pages, 4);
    cr_assert_eq(fault(eptp12(root_a), 0x50000000, EPT12_ACCESS_READ).outcome, EPT02_INSTALLED);
    cr_assert_leq(fx.vcpu.ept02.pages, 5);
    cr_assert_eq(eptp02_of(eptp12(root_a)), a02);
    cr_assert(walk02(a02, 0x50000000).present);
    cr_assert_not(walk02(a02, 0x10000000).present);
    cr_assert_eq(live_pages, fx.vcpu.ept02.pages);
}

/* ---- Invalidation --------------------------------------------------------------------------- */

Test(ept02, invalidate_root_frees_only_that_root)
{
    map12(root_a, 0x10000000, 0x1000, 1, RWX | WB_LEAF);
    map12(root_b, 0x10000000, 0x2000, 1, RWX | WB_LEAF);
    fault(eptp12(root_a), 0x10000000, EPT12_ACCESS_READ);
    fault(eptp12(root_b), 0x10000000, EPT12_ACCESS_READ);
    uint64_t b02 = eptp02_of(eptp12(root_b));
    ept02_invalidate_root(&fx.vcpu, eptp12(root_a));
    cr_assert_eq(fx.vcpu.ept02.root_count, 1);
    cr_assert_eq(fx.vcpu.ept02.pages, 4);
    cr_assert_eq(live_pages, 4);
    cr_assert_eq(walk02(b02, 0x10000000).host, 0x100002000ull);
    ept02_invalidate_root(&fx.vcpu, eptp12(root_a)); /* none: no-op */
    cr_assert_eq(live_pages, 4);
}

Test(ept02, invalidate_all_frees_everything)
{
    map12(root_a, 0x10000000, 0x1000, 1, RWX | WB_LEAF);
    map12(root_b, 0x10000000, 0x2000, 1, RWX | WB_LEAF);
    fault(eptp12(root_a), 0x10000000, EPT12_ACCESS_READ);
    fault(eptp12(root_b), 0x10000000, EPT12_ACCESS_READ);
    ept02_invalidate_all(&fx.vcpu);
    cr_assert_eq(fx.vcpu.ept02.root_count, 0);
    cr_assert_eq(fx.vcpu.ept02.pages, 0);
    cr_assert_eq(live_pages, 0);
    cr_assert_eq(fx.host.live_allocations, 0);
}

Test(ept02, invalidate_l1_range_removes_exactly_the_derived_leaves)
{
    map12(root_a, 0x10001000, 0x1000, 1, RWX | WB_LEAF);
    map12(root_a, 0x10002000, 0x2000, 1, RWX | WB_LEAF);
    map12(root_a, 0x40200000, 0x200000, 2, R | X | WB_LEAF);
    map12(root_b, 0x10001000, 0x1000, 1, RWX | WB_LEAF);
    fault(eptp12(root_a), 0x10001000, EPT12_ACCESS_READ);
    fault(eptp12(root_a), 0x10002000, EPT12_ACCESS_READ);
    fault(eptp12(root_a), 0x40200000, EPT12_ACCESS_READ);
    fault(eptp12(root_b), 0x10001000, EPT12_ACCESS_READ);
    uint64_t a02 = eptp02_of(eptp12(root_a)), b02 = eptp02_of(eptp12(root_b));
    cr_assert_eq(fx.vcpu.ept02.pages, 5 + 4); /* A: PML4, PDPT, PD0, PT, PD1 */

    /* L1 page 0x2000: one leaf of A; the PT still holds 0x1000. */
    ept02_invalidate_l1_range(&fx.vcpu, 0x2000, 0x1000);
    cr_assert_not(walk02(a02, 0x10002000).present);
    cr_assert(walk02(a02, 0x10001000).present);
    cr_assert(walk02(a02, 0x40200000).present);
    cr_assert_eq(leaves_of(a02), 2);
    cr_assert_eq(fx.vcpu.ept02.pages, 9);

    /* L1 page 0x1000 in both roots: A's PT and PD0 become empty and are freed; B keeps only
     * its empty PML4. */
    ept02_invalidate_l1_range(&fx.vcpu, 0x1FFF, 1);
    cr_assert_not(walk02(a02, 0x10001000).present);
    cr_assert_not(walk02(b02, 0x10001000).present);
    cr_assert(walk02(a02, 0x40200000).present);
    cr_assert_eq(walk_all(a02, NULL, NULL), 3);
    cr_assert_eq(walk_all(b02, NULL, NULL), 1);
    cr_assert_eq(fx.vcpu.ept02.pages, 3 + 1);
    cr_assert_eq(live_pages, 4);

    /* One byte inside the 2 MiB leaf's L1 range removes it. */
    ept02_invalidate_l1_range(&fx.vcpu, 0x3FFFFF, 1);
    cr_assert_eq(leaves_of(a02), 0);
    cr_assert_eq(fx.vcpu.ept02.pages, 2);
    cr_assert_eq(live_pages, 2);
    /* Ranges touching nothing, empty and wrapping ranges change nothing. */
    ept02_invalidate_l1_range(&fx.vcpu, 0, 0);
    ept02_invalidate_l1_range(&fx.vcpu, UINT64_MAX - 5, 100);
    cr_assert_eq(live_pages, 2);
}

/* ---- Property: random EPT12 and EPT01 maps ------------------------------------------------ */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The EPT12 model: 2 MiB slots of L2 space, each a 2 MiB leaf or a PT of 4 KiB leaves. */
#define SLOTS 48
#define L1_SPACE (32ull << 20)
typedef struct slot12 {
    uint64_t l2_base;
    bool large;
    uint64_t l1_base;      /* large */
    uint64_t perms;        /* large */
    uint64_t l1_page[512]; /* 4 KiB: 0 = not mapped, else l1 | 1 */
    uint64_t page_perms[512];
} slot12;
static slot12 slots[SLOTS];

static const uint64_t perm_choices[] = {R, R | W, R | X, RWX};

static bool ept12_model(uint64_t l2, uint64_t *l1, uint64_t *perms)
{
    for (int s = 0; s < SLOTS; s++) {
        if (l2 < slots[s].l2_base || l2 - slots[s].l2_base >= M2)
            continue;
        uint64_t off = l2 - slots[s].l2_base;
        if (slots[s].large) {
            *l1 = slots[s].l1_base + off;
            *perms = slots[s].perms;
            return true;
        }
        uint64_t p = slots[s].l1_page[off >> 12];
        if (!p)
            return false;
        *l1 = (p & ~1ull) + (off & 0xFFF);
        *perms = slots[s].page_perms[off >> 12];
        return true;
    }
    return false;
}

static void build_random_maps(uint64_t root)
{
    /* EPT01 over L1_SPACE: per 2 MiB region a hole, a 2 MiB page or 4 KiB pages (permuted). */
    region_count = 0;
    for (uint64_t l1 = 0; l1 < L1_SPACE; l1 += M2) {
        unsigned kind = (unsigned)(rnd() % 4);
        if (kind == 0)
            continue;
        uint64_t host = 0x1000000000ull + (l1 << 2) + ((rnd() % 4) << 21);
        uint64_t perms = (rnd() % 8) | R; /* never write-only */
        regions[region_count] =
            (ept01_region){l1,       M2,
                           host,     kind == 1 ? M2 : 4096,
                           perms,    (uint8_t)(rnd() % 2 ? MEMTYPE_WB : MEMTYPE_UC),
                           kind != 1};
        region_count++;
    }
    /* EPT12: SLOTS distinct 2 MiB slots of the first 4 GiB of L2 space. */
    for (int s = 0; s < SLOTS; s++) {
        slot12 *sl = &slots[s];
        memset(sl, 0, sizeof(*sl));
        sl->l2_base = (uint64_t)s * (85ull << 20) / M2 * M2 + ((uint64_t)s << 21);
        sl->large = rnd() % 2;
        if (sl->large) {
            sl->l1_base = (rnd() % (L1_SPACE / M2)) * M2;
            sl->perms = perm_choices[rnd() % 4];
            map12(root, sl->l2_base, sl->l1_base, 2, sl->perms | WB_LEAF);
        } else {
            for (int k = 0; k < 16; k++) {
                unsigned i = (unsigned)(rnd() % 512);
                uint64_t l1 = (rnd() % (L1_SPACE / 4096)) * 4096;
                sl->l1_page[i] = l1 | 1;
                sl->page_perms[i] = perm_choices[rnd() % 4];
                map12(root, sl->l2_base + ((uint64_t)i << 12), l1, 1, sl->page_perms[i] | WB_LEAF);
            }
        }
    }
}

static long leaves_checked;

/* Every 4 KiB piece of an EPT02 leaf maps where EPT01 puts the L1 page EPT12 gives, with
 * permissions within both. */
static void check_leaf(uint64_t l2, uint64_t e, uint64_t size, void *arg)
{
    (void)arg;
    leaves_checked++;
    for (uint64_t off = 0; off < size; off += 4096) {
        uint64_t l1, p12, host, ps, p01;
        uint8_t type;
        cr_assert(ept12_model(l2 + off, &l1, &p12), "EPT02 maps %llx that EPT12 does not",
                  (unsigned long long)(l2 + off));
        cr_assert(ept01_model(l1, &host, &ps, &p01, &type), "EPT02 maps L1 %llx without EPT01",
                  (unsigned long long)l1);
        cr_assert_eq((e & ADDR_MASK & ~(size - 1)) + off, host, "L2 %llx", (unsigned long long)l2);
        cr_assert_eq(e & RWX & ~(p12 & p01), 0, "permissions beyond EPT12 and EPT01");
    }
}

static void property_run(uint32_t cap, uint64_t seed)
{
    fx.vm.max_ept02_pages = cap;
    rng_state = seed;
    build_random_maps(root_a);
    const ept12_access_kind kinds[] = {EPT12_ACCESS_READ, EPT12_ACCESS_WRITE, EPT12_ACCESS_FETCH};
    long installed = 0, l0 = 0, reflected = 0;
    for (int iter = 0; iter < 3000; iter++) {
        const slot12 *sl = &slots[rnd() % SLOTS];
        uint64_t l2 = sl->l2_base + (rnd() % M2);
        if (rnd() % 8 == 0) {
            uint64_t start = (rnd() % L1_SPACE) & ~0xFFFull;
            uint64_t len = (rnd() % 4 + 1) * 4096 * (rnd() % 2 ? 1 : 300);
            ept02_invalidate_l1_range(&fx.vcpu, start, len);
            continue;
        }
        ept02_fault_result r = fault(eptp12(root_a), l2, kinds[rnd() % 3]);
        uint64_t l1, p12;
        bool mapped12 = ept12_model(l2, &l1, &p12);
        switch (r.outcome) {
        case EPT02_INSTALLED: {
            installed++;
            cr_assert(mapped12);
            leaf02 leaf = walk02(eptp02_of(eptp12(root_a)), l2);
            cr_assert(leaf.present);
            uint64_t host, ps, p01;
            uint8_t type;
            cr_assert(ept01_model(l1, &host, &ps, &p01, &type));
            cr_assert_eq(leaf.host, host);
            cr_assert_eq(r.host_phys, host);
            break;
        }
        case EPT02_L0:
            l0++;
            cr_assert(mapped12);
            break;
        case EPT02_REFLECT:
            reflected++;
            break;
        default:
            cr_assert_fail("unexpected outcome %d", r.outcome);
        }
        cr_assert_leq(fx.vcpu.ept02.pages, cap);
        cr_assert_eq(live_pages, fx.vcpu.ept02.pages);
    }
    cr_assert_gt(installed, 100);
    cr_assert_gt(l0, 10);
    cr_assert_gt(reflected, 10);
    leaves_checked = 0;
    long tables = walk_all(eptp02_of(eptp12(root_a)), check_leaf, NULL);
    cr_assert_eq(tables, fx.vcpu.ept02.pages);
    cr_assert_gt(leaves_checked, 0);
}

Test(ept02, property_random_maps_leaves_match_ept01_and_permissions_within_both)
{
    property_run(NVMX_DEFAULT_MAX_EPT02_PAGES, 0x9E3779B97F4A7C15ull);
}

Test(ept02, property_random_maps_under_a_small_cap)
{
    property_run(12, 0x0123456789ABCDEFull);
}

/* ---- Through the public lifecycle ------------------------------------------------------- */

Test(ept02, vcpu_destroy_frees_ept02_and_config_is_validated)
{
    nvmx_host_ops ops = *fake_host_ops();
    ops.page_alloc = test_page_alloc;
    ops.page_free = test_page_free;
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    cr_assert_eq(config.max_ept02_pages, NVMX_DEFAULT_MAX_EPT02_PAGES);
    nvmx_vm *vm;
    config.max_ept02_pages = NVMX_MIN_EPT02_PAGES - 1;
    cr_assert_eq(nvmx_vm_create(&config, &ops, &fx.host, &vm), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(fx.host.last_log, "max_ept02_pages") != NULL);
    config.max_ept02_pages = NVMX_MAX_EPT02_PAGES_LIMIT + 1;
    cr_assert_eq(nvmx_vm_create(&config, &ops, &fx.host, &vm), NVMX_ERR_INVALID_ARGUMENT);
    config.max_ept02_pages = NVMX_MIN_EPT02_PAGES;
    cr_assert_eq(nvmx_vm_create(&config, &ops, &fx.host, &vm), NVMX_OK);
    nvmx_vcpu *vcpu;
    cr_assert_eq(nvmx_vcpu_create(vm, &fx.host, &vcpu), NVMX_OK);
    uint64_t v;
    cr_assert_eq(ept02_root_hpa(vcpu, eptp12(root_a), &v), NVMX_OK);
    cr_assert_eq(ept02_root_hpa(vcpu, eptp12(root_b), &v), NVMX_OK);
    cr_assert_eq(live_pages, 2);
    nvmx_vcpu_destroy(vcpu);
    cr_assert_eq(live_pages, 0);
    nvmx_vm_destroy(vm);
}

/* ---- The hardware's cached translations (SDM 29.4.3): tlb_flush NVMX_TLB_FLUSH_EPTP -------- */

static bool flushed_eptp(long from, uint64_t eptp02)
{
    for (long i = from; i < fx.host.tlb_flush_count && i < FAKE_MAX_TLB_FLUSHES; i++) {
        if (fx.host.tlb_flushes[i].kind == NVMX_TLB_FLUSH_EPTP &&
            fx.host.tlb_flushes[i].eptp == eptp02)
            return true;
    }
    return false;
}

Test(ept02, installing_into_empty_slots_flushes_nothing)
{
    map12(root_a, 0x10000000, 0x1000, 1, RWX | WB_LEAF);
    fault(eptp12(root_a), 0x10000000, EPT12_ACCESS_READ);
    cr_assert_eq(fx.host.tlb_flush_count, 0, "a not-present entry is never cached");
}

Test(ept02, tlb_flush_op_is_required)
{
    fx.vm.ops.tlb_flush = NULL;
    ept02_fault_result r;
    ept12_access a = acc(EPT12_ACCESS_READ);
    cr_assert_eq(ept02_fault(&fx.vcpu, eptp12(root_a), 0, &a, &r), NVMX_ERR_UNSUPPORTED);
}

Test(ept02, invalidate_root_and_all_flush_each_dropped_ept02)
{
    map12(root_a, 0x10000000, 0x1000, 1, RWX | WB_LEAF);
    map12(root_b, 0x10000000, 0x2000, 1, RWX | WB_LEAF);
    fault(eptp12(root_a), 0x10000000, EPT12_ACCESS_READ);
    fault(eptp12(root_b), 0x10000000, EPT12_ACCESS_READ);
    uint64_t a02 = eptp02_of(eptp12(root_a)), b02 = eptp02_of(eptp12(root_b));
    ept02_invalidate_root(&fx.vcpu, eptp12(root_a));
    cr_assert_eq(fx.host.tlb_flush_count, 1);
    cr_assert(flushed_eptp(0, a02));
    ept02_invalidate_all(&fx.vcpu);
    cr_assert_eq(fx.host.tlb_flush_count, 2);
    cr_assert(flushed_eptp(1, b02));
}

Test(ept02, eviction_at_the_cap_flushes_the_evicted_ept02)
{
    fx.vm.max_ept02_pages = 6;
    map12(root_a, 0x10000000, 0x1000, 1, RWX | WB_LEAF);
    map12(root_b, 0x10000000, 0x2000, 1, RWX | WB_LEAF);
    fault(eptp12(root_a), 0x10000000, EPT12_ACCESS_READ);
    uint64_t a02 = eptp02_of(eptp12(root_a));
    fault(eptp12(root_b), 0x10000000, EPT12_ACCESS_READ); /* evicts A */
    cr_assert(flushed_eptp(0, a02));
}

Test(ept02, replacing_a_leaf_flushes_its_ept02)
{
    /* A/D: a read installs R-X, the write replaces it with RWX: the old leaf may be cached. */
    map12(root_a, 0x10000000, 0x1000, 1, RWX | WB_LEAF);
    uint64_t eptp = eptp12(root_a) | EPTP_ACCESSED_DIRTY;
    fault(eptp, 0x10000000, EPT12_ACCESS_READ);
    cr_assert_eq(fx.host.tlb_flush_count, 0);
    fault(eptp, 0x10000000, EPT12_ACCESS_WRITE);
    cr_assert_eq(fx.host.tlb_flush_count, 1);
    cr_assert(flushed_eptp(0, eptp02_of(eptp)));
}

Test(ept02, invalidate_l1_range_flushes_only_ept02s_that_lost_a_leaf)
{
    map12(root_a, 0x10000000, 0x1000, 1, RWX | WB_LEAF);
    map12(root_b, 0x10000000, 0x2000, 1, RWX | WB_LEAF);
    fault(eptp12(root_a), 0x10000000, EPT12_ACCESS_READ);
    fault(eptp12(root_b), 0x10000000, EPT12_ACCESS_READ);
    ept02_invalidate_l1_range(&fx.vcpu, 0x2000, 0x1000);
    cr_assert_eq(fx.host.tlb_flush_count, 1);
    cr_assert(flushed_eptp(0, eptp02_of(eptp12(root_b))));
    ept02_invalidate_l1_range(&fx.vcpu, 0x9000, 0x1000);
    cr_assert_eq(fx.host.tlb_flush_count, 1, "nothing derived, nothing flushed");
}
