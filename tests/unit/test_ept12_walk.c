/* SPDX-License-Identifier: MIT */
/*
 * The EPT12 walker (lib/ept/ept12_walk.c) against the SDM: Vol. 3C 29.3.2 (EPT translation
 * mechanism, entry formats Tables 29-1 to 29-7), 29.3.3.1 (EPT misconfigurations), 29.3.3.2
 * (EPT violations), 29.3.4 (accessed and dirty flags), 28.2.1 Table 28-7 (exit qualification
 * for EPT violations), 25.6.11 (EPTP). EPT12 tables are built in the fake host's L1 RAM on a VM
 * with every capability of the software host (entry_fixture); tests remove capabilities.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "arch.h"
#include "ept/ept12_walk.h"
#include "ept/eptp.h"
#include "entry_fixture.h"

/* ---- Building EPT12 tables in L1 RAM --------------------------------------------------- */

#define TABLES_BASE 0x800000ull /* 8 MiB into the fixture's 16 MiB of L1 RAM */
#define RWX (EPT_ENTRY_READ | EPT_ENTRY_WRITE | EPT_ENTRY_EXECUTE)
#define WB_LEAF ((uint64_t)MEMTYPE_WB << EPT_ENTRY_MEMTYPE_SHIFT)

typedef struct ept_builder {
    entry_fixture *f;
    uint64_t next_table;
    uint64_t root;
    unsigned levels;
} ept_builder;

static entry_fixture fx;
static ept_builder eb;

/* A/D test op: compare-exchange on the fake RAM, counted; fail_always makes every call report
 * a lost race; race_once rewrites the entry behind the walker's back on the first call. */
static long cmpxchg_calls;
static bool fail_always;
static bool race_once;
static uint64_t race_value;

static nvmx_status test_cmpxchg64(void *ctx, uint64_t gpa, uint64_t expected, uint64_t desired)
{
    fake_host *h = ctx;
    cmpxchg_calls++;
    if (gpa + 8 > h->ram_size)
        return NVMX_ERR_BAD_L1_ADDRESS;
    if (fail_always)
        return NVMX_ERR_STATE;
    if (race_once) {
        race_once = false;
        fake_host_write64(h, gpa, race_value);
    }
    if (fake_host_read64(h, gpa) != expected)
        return NVMX_ERR_STATE;
    fake_host_write64(h, gpa, desired);
    return NVMX_OK;
}

static uint64_t new_table(void)
{
    uint64_t t = eb.next_table;
    eb.next_table += PAGE_SIZE_4K;
    memset(fx.host.ram + t, 0, PAGE_SIZE_4K);
    return t;
}

static void builder_init(unsigned levels)
{
    eb = (ept_builder){.f = &fx, .next_table = TABLES_BASE, .levels = levels};
    eb.root = new_table();
}

static void setup(void)
{
    entry_fixture_init(&fx);
    fx.vm.ops.l1_cmpxchg64 = test_cmpxchg64;
    cmpxchg_calls = 0;
    fail_always = race_once = false;
    builder_init(4);
}

static void teardown(void)
{
    entry_fixture_fini(&fx);
}

static uint64_t eptp_of(bool ad)
{
    return eb.root | ((uint64_t)(eb.levels - 1) << EPTP_WALK_SHIFT) | MEMTYPE_WB |
           (ad ? EPTP_ACCESSED_DIRTY : 0);
}

static unsigned shift_of(unsigned level)
{
    return 12u + 9u * (level - 1u);
}

/* The address of the entry at `level` on gpa's path (tables above must exist). */
static uint64_t entry_gpa(uint64_t gpa, unsigned level)
{
    uint64_t table = eb.root;
    for (unsigned l = eb.levels;; l--) {
        uint64_t e_gpa = table + ((gpa >> shift_of(l)) & 0x1FF) * 8;
        if (l == level)
            return e_gpa;
        table = fake_host_read64(&fx.host, e_gpa) & 0x000FFFFFFFFFF000ull;
    }
}

static uint64_t entry_at(uint64_t gpa, unsigned level)
{
    return fake_host_read64(&fx.host, entry_gpa(gpa, level));
}

static void set_entry(uint64_t gpa, unsigned level, uint64_t value)
{
    fake_host_write64(&fx.host, entry_gpa(gpa, level), value);
}

/* Map gpa at leaf_level (1: 4 KiB, 2: 2 MiB, 3: 1 GiB) to target with leaf bits `leaf`
 * (permissions, memory type...; bit 7 added for large pages), tables above with `upper`. */
static void map(uint64_t gpa, uint64_t target, unsigned leaf_level, uint64_t leaf, uint64_t upper)
{
    uint64_t table = eb.root;
    for (unsigned l = eb.levels; l > leaf_level; l--) {
        uint64_t e_gpa = table + ((gpa >> shift_of(l)) & 0x1FF) * 8;
        uint64_t e = fake_host_read64(&fx.host, e_gpa);
        if (!(e & RWX)) {
            e = new_table() | upper;
            fake_host_write64(&fx.host, e_gpa, e);
        }
        table = e & 0x000FFFFFFFFFF000ull;
    }
    uint64_t e_gpa = table + ((gpa >> shift_of(leaf_level)) & 0x1FF) * 8;
    fake_host_write64(&fx.host, e_gpa, target | leaf | (leaf_level > 1 ? EPT_ENTRY_PAGE_SIZE : 0));
}

static ept12_access acc(ept12_access_kind kind)
{
    return (ept12_access){.kind = kind};
}

static ept12_result walk(uint64_t eptp, uint64_t gpa, ept12_access a)
{
    ept12_result r;
    cr_assert_eq(ept12_walk(&fx.vm, eptp, gpa, &a, &r), NVMX_OK);
    return r;
}

static void remove_ept_cap(uint64_t cap_bit)
{
    fx.vm.caps.ept_vpid_cap &= ~cap_bit;
}

TestSuite(ept12_walk, .init = setup, .fini = teardown);

/* ---- Translation (29.3.2) ---------------------------------------------------------------- */

Test(ept12_walk, maps_4k_page_keeping_the_offset)
{
    map(0x12345000, 0x00ABC000, 1, RWX | WB_LEAF | EPT_ENTRY_IGNORE_PAT, RWX);
    long reads = fx.host.l1_reads;
    ept12_result r = walk(eptp_of(false), 0x12345678, acc(EPT12_ACCESS_READ));
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
    cr_assert_eq(r.l1_gpa, 0x00ABC678);
    cr_assert_eq(r.page_size, 4096);
    cr_assert_eq(r.level, 1);
    cr_assert(r.read && r.write && r.execute);
    cr_assert_eq(r.memory_type, MEMTYPE_WB);
    cr_assert(r.ignore_pat);
    /* One read per entry, four entries (no double fetch). */
    cr_assert_eq(fx.host.l1_reads - reads, 4);
}

Test(ept12_walk, maps_2m_page_when_exposed)
{
    map(0x40200000, 0x00600000, 2, RWX | ((uint64_t)MEMTYPE_UC << 3), RWX);
    ept12_result r = walk(eptp_of(false), 0x40212345, acc(EPT12_ACCESS_WRITE));
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
    cr_assert_eq(r.l1_gpa, 0x00612345);
    cr_assert_eq(r.page_size, 2ull << 20);
    cr_assert_eq(r.level, 2);
    cr_assert_eq(r.memory_type, MEMTYPE_UC);
    cr_assert_not(r.ignore_pat);
}

Test(ept12_walk, maps_1g_page_when_exposed)
{
    map(0x80000000, 0x40000000, 3, RWX | WB_LEAF, RWX);
    long reads = fx.host.l1_reads;
    ept12_result r = walk(eptp_of(false), 0xBFFFFFF8, acc(EPT12_ACCESS_FETCH));
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
    cr_assert_eq(r.l1_gpa, 0x7FFFFFF8);
    cr_assert_eq(r.page_size, 1ull << 30);
    cr_assert_eq(r.level, 3);
    cr_assert_eq(fx.host.l1_reads - reads, 2);
}

Test(ept12_walk, five_level_walk_uses_gpa_bits_56_48)
{
    /* MAXPHYADDR 52 so that a GPA has bits above 47 (25.6.11: bits 5:3 = 4). */
    fx.vm.phys_addr_width = 52;
    builder_init(5);
    uint64_t gpa = (3ull << 48) | 0x5000;
    map(gpa, 0x3000, 1, RWX | WB_LEAF, RWX);
    long reads = fx.host.l1_reads;
    ept12_result r = walk(eptp_of(false), gpa | 0x10, acc(EPT12_ACCESS_READ));
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
    cr_assert_eq(r.l1_gpa, 0x3010);
    cr_assert_eq(fx.host.l1_reads - reads, 5);
    /* The PML5E used is index 3. */
    cr_assert_eq(entry_gpa(gpa, 5), eb.root + 3 * 8);
}

Test(ept12_walk, five_level_eptp_without_the_capability_is_rejected)
{
    builder_init(5);
    remove_ept_cap(NVMX_CTL(EPT_WALK_5));
    ept12_access a = acc(EPT12_ACCESS_READ);
    ept12_result r;
    cr_assert_eq(ept12_walk(&fx.vm, eptp_of(false), 0, &a, &r), NVMX_ERR_INVALID_ARGUMENT);
}

Test(ept12_walk, four_level_walk_cannot_translate_gpa_bits_above_47)
{
    fx.vm.phys_addr_width = 52;
    ept12_result r = walk(eptp_of(false), 1ull << 48, acc(EPT12_ACCESS_READ));
    cr_assert_eq(r.outcome, EPT12_VIOLATION);
    cr_assert_eq(r.qualification, EPT_QUAL_READ);
}

Test(ept12_walk, gpa_beyond_maxphyaddr_and_bad_arguments_are_rejected)
{
    ept12_access a = acc(EPT12_ACCESS_READ);
    ept12_result r;
    cr_assert_eq(ept12_walk(&fx.vm, eptp_of(false), 1ull << 46, &a, &r), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ept12_walk(NULL, eptp_of(false), 0, &a, &r), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ept12_walk(&fx.vm, eptp_of(false), 0, NULL, &r), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ept12_walk(&fx.vm, eptp_of(false), 0, &a, NULL), NVMX_ERR_INVALID_ARGUMENT);
    a.kind = 3;
    cr_assert_eq(ept12_walk(&fx.vm, eptp_of(false), 0, &a, &r), NVMX_ERR_INVALID_ARGUMENT);
    a.kind = EPT12_ACCESS_READ;
    /* EPTP memory type 2 is reserved (25.6.11). */
    cr_assert_eq(ept12_walk(&fx.vm, eb.root | (3 << 3) | 2, 0, &a, &r), NVMX_ERR_INVALID_ARGUMENT);
}

/* ---- EPT misconfigurations (29.3.3.1) ---------------------------------------------------- */

#define GPA 0x12345000ull

static void expect_misconfig(unsigned level)
{
    ept12_result r = walk(eptp_of(false), GPA, acc(EPT12_ACCESS_READ));
    cr_assert_eq(r.outcome, EPT12_MISCONFIG, "outcome %d", r.outcome);
    cr_assert_eq(r.level, level, "level %u, expected %u", r.level, level);
}

static void map_4k_default(void)
{
    map(GPA, 0x00ABC000, 1, RWX | WB_LEAF, RWX);
}

Test(ept12_walk, write_without_read_is_a_misconfiguration_at_every_level)
{
    for (unsigned level = 4; level >= 1; level--) {
        for (uint64_t bits = 2; bits <= 6; bits += 4) { /* 010b, 110b */
            builder_init(4);
            map_4k_default();
            set_entry(GPA, level, (entry_at(GPA, level) & ~RWX) | bits);
            expect_misconfig(level);
        }
    }
}

Test(ept12_walk, execute_only_without_the_capability_is_a_misconfiguration)
{
    remove_ept_cap(NVMX_CTL(EPT_EXECONLY));
    for (unsigned level = 4; level >= 1; level--) {
        builder_init(4);
        map_4k_default();
        set_entry(GPA, level, (entry_at(GPA, level) & ~RWX) | EPT_ENTRY_EXECUTE);
        expect_misconfig(level);
    }
}

Test(ept12_walk, execute_only_with_the_capability_translates_fetches)
{
    map(GPA, 0x00ABC000, 1, EPT_ENTRY_EXECUTE | WB_LEAF, EPT_ENTRY_EXECUTE);
    ept12_result r = walk(eptp_of(false), GPA, acc(EPT12_ACCESS_FETCH));
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
    cr_assert(!r.read && !r.write && r.execute);
    r = walk(eptp_of(false), GPA, acc(EPT12_ACCESS_READ));
    cr_assert_eq(r.outcome, EPT12_VIOLATION);
    cr_assert_eq(r.qualification, EPT_QUAL_READ | EPT_QUAL_EXECUTABLE);
}

Test(ept12_walk, bits_7_3_of_pml4e_and_pml5e_are_reserved)
{
    for (unsigned bit = 3; bit <= 7; bit++) {
        builder_init(4);
        map_4k_default();
        set_entry(GPA, 4, entry_at(GPA, 4) | (1ull << bit));
        expect_misconfig(4);
    }
    fx.vm.phys_addr_width = 52;
    for (unsigned bit = 3; bit <= 7; bit++) {
        builder_init(5);
        map_4k_default();
        set_entry(GPA, 5, entry_at(GPA, 5) | (1ull << bit));
        expect_misconfig(5);
    }
}

Test(ept12_walk, bits_6_3_of_a_pdpte_or_pde_referencing_a_table_are_reserved)
{
    for (unsigned level = 3; level >= 2; level--) {
        for (unsigned bit = 3; bit <= 6; bit++) {
            builder_init(4);
            map_4k_default();
            set_entry(GPA, level, entry_at(GPA, level) | (1ull << bit));
            expect_misconfig(level);
        }
    }
}

Test(ept12_walk, large_page_bit_without_the_page_size_capability_is_reserved)
{
    remove_ept_cap(NVMX_CTL(EPT_1GB));
    map(GPA, 0x40000000, 3, RWX | WB_LEAF, RWX);
    expect_misconfig(3);
    teardown();
    setup();
    remove_ept_cap(NVMX_CTL(EPT_2MB));
    map(GPA, 0x00400000, 2, RWX | WB_LEAF, RWX);
    expect_misconfig(2);
}

Test(ept12_walk, address_bits_below_a_large_page_are_reserved)
{
    map(GPA, 0x40000000 | (1ull << 12), 3, RWX | WB_LEAF, RWX); /* 29:12 of a 1-GiB PDPTE */
    expect_misconfig(3);
    builder_init(4);
    map(GPA, 0x40000000 | (1ull << 29), 3, RWX | WB_LEAF, RWX);
    expect_misconfig(3);
    builder_init(4);
    map(GPA, 0x00400000 | (1ull << 20), 2, RWX | WB_LEAF, RWX); /* 20:12 of a 2-MiB PDE */
    expect_misconfig(2);
}

Test(ept12_walk, address_bits_beyond_maxphyaddr_are_reserved_at_every_level)
{
    for (unsigned level = 4; level >= 1; level--) {
        for (unsigned bit = 46; bit <= 51; bit += 5) {
            builder_init(4);
            map_4k_default();
            set_entry(GPA, level, entry_at(GPA, level) | (1ull << bit));
            expect_misconfig(level);
        }
    }
}

Test(ept12_walk, bits_63_52_and_ignored_bits_are_not_reserved)
{
    map_4k_default();
    for (unsigned level = 4; level >= 1; level--)
        set_entry(GPA, level, entry_at(GPA, level) | (0xFFFull << 52) | (1ull << 11) | (1ull << 9));
    set_entry(GPA, 1, entry_at(GPA, 1) | EPT_ENTRY_PAGE_SIZE); /* bit 7 ignored in a PTE */
    ept12_result r = walk(eptp_of(false), GPA, acc(EPT12_ACCESS_READ));
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
    cr_assert_eq(r.l1_gpa, 0x00ABC000);
}

Test(ept12_walk, memory_types_2_3_7_in_a_leaf_are_misconfigurations)
{
    static const unsigned bad[] = {2, 3, 7};
    for (unsigned leaf = 1; leaf <= 3; leaf++) {
        for (unsigned i = 0; i < 3; i++) {
            builder_init(4);
            map(GPA, leaf == 3 ? 0x40000000 : 0x00400000, leaf,
                RWX | ((uint64_t)bad[i] << EPT_ENTRY_MEMTYPE_SHIFT), RWX);
            expect_misconfig(leaf);
        }
        for (unsigned type = 0; type < 8; type++) {
            if (type == 2 || type == 3 || type == 7)
                continue;
            builder_init(4);
            map(GPA, leaf == 3 ? 0x40000000 : 0x00400000, leaf,
                RWX | ((uint64_t)type << EPT_ENTRY_MEMTYPE_SHIFT), RWX);
            ept12_result r = walk(eptp_of(false), GPA, acc(EPT12_ACCESS_READ));
            cr_assert_eq(r.outcome, EPT12_TRANSLATED);
            cr_assert_eq(r.memory_type, type);
        }
    }
}

Test(ept12_walk, misconfiguration_below_an_entry_denying_the_access_wins)
{
    /* A violation needs a walk without misconfiguration (29.3.3): PML4E read-only, write
     * access, PTE with memory type 2. */
    map(GPA, 0x00ABC000, 1, RWX | (2ull << EPT_ENTRY_MEMTYPE_SHIFT), RWX);
    set_entry(GPA, 4, (entry_at(GPA, 4) & ~RWX) | EPT_ENTRY_READ);
    ept12_result r = walk(eptp_of(false), GPA, acc(EPT12_ACCESS_WRITE));
    cr_assert_eq(r.outcome, EPT12_MISCONFIG);
    cr_assert_eq(r.level, 1);
}

Test(ept12_walk, not_present_entry_is_a_violation_even_with_reserved_bits)
{
    for (unsigned level = 4; level >= 1; level--) {
        builder_init(4);
        map_4k_default();
        /* Bits 63:3 of a not-present entry are ignored (29.3.2). */
        set_entry(GPA, level, (entry_at(GPA, level) & ~RWX) | (0x3Full << 46) | (2ull << 3));
        ept12_result r = walk(eptp_of(false), GPA, acc(EPT12_ACCESS_WRITE));
        cr_assert_eq(r.outcome, EPT12_VIOLATION);
        cr_assert_eq(r.level, level);
        cr_assert_not(r.leaf_reached);
        cr_assert_eq(r.qualification, EPT_QUAL_WRITE); /* bits 3-6: AND with a zero entry */
    }
}

Test(ept12_walk, tables_outside_l1_ram_read_as_all_ones_a_misconfiguration)
{
    /* The root is beyond the 16 MiB of RAM: the PML4E reads as all ones (bits 7:3 set). */
    eb.root = 0x40000000;
    expect_misconfig(4);
    /* A PDE pointing outside RAM: the PTE reads as all ones (bits 51:46 set). */
    builder_init(4);
    map_4k_default();
    set_entry(GPA, 2, 0x7F000000 | RWX);
    expect_misconfig(1);
    /* With MAXPHYADDR 52 the all-ones PTE has memory type 7. */
    fx.vm.phys_addr_width = 52;
    expect_misconfig(1);
}

/* ---- EPT violations (29.3.3.2, Table 28-7) ----------------------------------------------- */

/* The permission values an entry may hold with execute-only supported: 0 (not present), R,
 * RW, X, RX, RWX. */
static const uint64_t perm_values[] = {0, 1, 3, 4, 5, 7};

Test(ept12_walk, access_against_permissions_table)
{
    static const ept12_access_kind kinds[] = {EPT12_ACCESS_READ, EPT12_ACCESS_WRITE,
                                              EPT12_ACCESS_FETCH};
    for (unsigned u = 0; u < NVMX_ARRAY_SIZE(perm_values); u++) {
        for (unsigned l = 0; l < NVMX_ARRAY_SIZE(perm_values); l++) {
            for (unsigned k = 0; k < 3; k++) {
                uint64_t upper = perm_values[u], leaf = perm_values[l];
                builder_init(4);
                map(GPA, 0x00ABC000, 1, leaf | WB_LEAF, RWX);
                set_entry(GPA, 3, (entry_at(GPA, 3) & ~RWX) | upper); /* the PDPTE */
                ept12_result r = walk(eptp_of(false), GPA, acc(kinds[k]));
                /* Bit i of the effective permissions: set in both entries (and PML4E, PDE). */
                uint64_t eff = upper & leaf;
                uint64_t need = kinds[k] == EPT12_ACCESS_READ    ? 1
                                : kinds[k] == EPT12_ACCESS_WRITE ? 2
                                                                 : 4;
                if (upper == 0) {
                    cr_assert_eq(r.outcome, EPT12_VIOLATION);
                    cr_assert_eq(r.level, 3);
                    cr_assert_not(r.leaf_reached);
                    cr_assert_eq(r.qualification, (uint64_t)kinds[k]);
                } else if (leaf == 0) {
                    cr_assert_eq(r.outcome, EPT12_VIOLATION);
                    cr_assert_eq(r.level, 1);
                    cr_assert_not(r.leaf_reached);
                    cr_assert_eq(r.qualification, (uint64_t)kinds[k]);
                } else if (eff & need) {
                    cr_assert_eq(r.outcome, EPT12_TRANSLATED, "upper %llx leaf %llx kind %d",
                                 (unsigned long long)upper, (unsigned long long)leaf, kinds[k]);
                    cr_assert_eq(r.read, (eff & 1) != 0);
                    cr_assert_eq(r.write, (eff & 2) != 0);
                    cr_assert_eq(r.execute, (eff & 4) != 0);
                } else {
                    cr_assert_eq(r.outcome, EPT12_VIOLATION, "upper %llx leaf %llx kind %d",
                                 (unsigned long long)upper, (unsigned long long)leaf, kinds[k]);
                    cr_assert(r.leaf_reached);
                    cr_assert_eq(r.level, 1);
                    cr_assert_eq(r.qualification, (uint64_t)kinds[k] | (eff << 3));
                }
            }
        }
    }
}

/* ---- Mode-based execute control (29.3.3.2, Table 28-7 bit 6) ---------------------------- */

static ept12_access fetch(bool user, bool mbec)
{
    return (ept12_access){.kind = EPT12_ACCESS_FETCH, .user = user, .mode_based_execute = mbec};
}

Test(ept12_walk, mode_based_execute_checks_bit_10_for_user_fetches)
{
    /* Leaf: read + user execute, no supervisor execute. */
    map(GPA, 0x00ABC000, 1, EPT_ENTRY_READ | EPT_ENTRY_USER_EXECUTE | WB_LEAF,
        RWX | EPT_ENTRY_USER_EXECUTE);
    ept12_result r = walk(eptp_of(false), GPA, fetch(true, true));
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
    cr_assert(r.user_execute && !r.execute);
    r = walk(eptp_of(false), GPA, fetch(false, true));
    cr_assert_eq(r.outcome, EPT12_VIOLATION);
    cr_assert_eq(r.qualification, EPT_QUAL_FETCH | EPT_QUAL_READABLE | EPT_QUAL_USER_EXECUTABLE);
    /* Without the control, bit 10 is ignored and bit 2 decides for both modes. */
    r = walk(eptp_of(false), GPA, fetch(true, false));
    cr_assert_eq(r.outcome, EPT12_VIOLATION);
    cr_assert_eq(r.qualification, EPT_QUAL_FETCH | EPT_QUAL_READABLE);
}

Test(ept12_walk, mode_based_execute_user_bit_anded_over_the_walk)
{
    map(GPA, 0x00ABC000, 1, RWX | EPT_ENTRY_USER_EXECUTE | WB_LEAF, RWX); /* upper: no UX */
    ept12_result r = walk(eptp_of(false), GPA, fetch(true, true));
    cr_assert_eq(r.outcome, EPT12_VIOLATION);
    cr_assert_eq(r.qualification,
                 EPT_QUAL_FETCH | EPT_QUAL_READABLE | EPT_QUAL_WRITABLE | EPT_QUAL_EXECUTABLE);
    r = walk(eptp_of(false), GPA, fetch(false, true));
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
}

Test(ept12_walk, mode_based_execute_bit_10_alone_makes_an_entry_present)
{
    map(GPA, 0x00ABC000, 1, EPT_ENTRY_USER_EXECUTE | WB_LEAF, RWX | EPT_ENTRY_USER_EXECUTE);
    ept12_result r = walk(eptp_of(false), GPA, fetch(true, true));
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
    /* Without the control the entry is not present. */
    r = walk(eptp_of(false), GPA, fetch(true, false));
    cr_assert_eq(r.outcome, EPT12_VIOLATION);
    cr_assert_not(r.leaf_reached);
    /* Without execute-only support, user-execute-only is a misconfiguration. */
    remove_ept_cap(NVMX_CTL(EPT_EXECONLY));
    r = walk(eptp_of(false), GPA, fetch(true, true));
    cr_assert_eq(r.outcome, EPT12_MISCONFIG);
}

Test(ept12_walk, mode_based_execute_ignored_when_not_exposed)
{
    fx.vm.caps.procbased2 &= ~(NVMX_CTL(MODE_BASED_EPT_EXEC) << 32);
    map(GPA, 0x00ABC000, 1, EPT_ENTRY_READ | EPT_ENTRY_USER_EXECUTE | WB_LEAF,
        RWX | EPT_ENTRY_USER_EXECUTE);
    ept12_result r = walk(eptp_of(false), GPA, fetch(true, true));
    cr_assert_eq(r.outcome, EPT12_VIOLATION);
    cr_assert_eq(r.qualification, EPT_QUAL_FETCH | EPT_QUAL_READABLE);
}

/* ---- Accessed and dirty flags (29.3.4) --------------------------------------------------- */

static void assert_flags(unsigned level, bool accessed, bool dirty)
{
    uint64_t e = entry_at(GPA, level);
    cr_assert_eq((e & EPT_ENTRY_ACCESSED) != 0, accessed, "A at level %u", level);
    cr_assert_eq((e & EPT_ENTRY_DIRTY) != 0, dirty, "D at level %u", level);
}

Test(ept12_walk, accessed_set_on_every_entry_used_dirty_only_on_writes)
{
    map_4k_default();
    ept12_result r = walk(eptp_of(true), GPA, acc(EPT12_ACCESS_READ));
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
    for (unsigned level = 4; level >= 1; level--)
        assert_flags(level, true, false);
    r = walk(eptp_of(true), GPA, acc(EPT12_ACCESS_WRITE));
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
    for (unsigned level = 4; level >= 2; level--)
        assert_flags(level, true, false);
    assert_flags(1, true, true);
    /* Flags already set: no more updates. */
    long calls = cmpxchg_calls;
    walk(eptp_of(true), GPA, acc(EPT12_ACCESS_WRITE));
    cr_assert_eq(cmpxchg_calls, calls);
}

Test(ept12_walk, dirty_set_on_a_large_page_entry)
{
    map(GPA, 0x00400000, 2, RWX | WB_LEAF, RWX);
    walk(eptp_of(true), GPA, acc(EPT12_ACCESS_WRITE));
    assert_flags(2, true, true);
    assert_flags(3, true, false);
}

Test(ept12_walk, guest_paging_accesses_are_writes_with_accessed_dirty)
{
    /* 29.3.3.2 / 29.3.4: with A/D, reads of guest paging structures are writes: D is set... */
    map_4k_default();
    ept12_access a = {.kind = EPT12_ACCESS_READ, .guest_paging = true};
    ept12_result r = walk(eptp_of(true), GPA, a);
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
    assert_flags(1, true, true);
    /* ...and need write permission; the violation reports bits 0 and 1 (Table 28-7). */
    set_entry(GPA, 1,
              (entry_at(GPA, 1) & ~(RWX | EPT_ENTRY_ACCESSED | EPT_ENTRY_DIRTY)) | EPT_ENTRY_READ);
    r = walk(eptp_of(true), GPA, a);
    cr_assert_eq(r.outcome, EPT12_VIOLATION);
    cr_assert_eq(r.qualification, EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_READABLE);
    assert_flags(1, false, false); /* nothing set on a violation */
    /* Without A/D they are reads. */
    r = walk(eptp_of(false), GPA, a);
    cr_assert_eq(r.outcome, EPT12_TRANSLATED);
    assert_flags(1, false, false);
}

Test(ept12_walk, flags_untouched_when_accessed_dirty_disabled)
{
    map_4k_default();
    long writes = fx.host.l1_writes;
    walk(eptp_of(false), GPA, acc(EPT12_ACCESS_WRITE));
    cr_assert_eq(cmpxchg_calls, 0);
    cr_assert_eq(fx.host.l1_writes, writes);
    for (unsigned level = 4; level >= 1; level--)
        assert_flags(level, false, false);
}

Test(ept12_walk, accessed_dirty_without_the_cmpxchg_op_is_unsupported)
{
    map_4k_default();
    fx.vm.ops.l1_cmpxchg64 = NULL;
    ept12_access a = acc(EPT12_ACCESS_READ);
    ept12_result r;
    cr_assert_eq(ept12_walk(&fx.vm, eptp_of(true), GPA, &a, &r), NVMX_ERR_UNSUPPORTED);
    /* Without A/D in the EPTP the op is not needed. */
    cr_assert_eq(ept12_walk(&fx.vm, eptp_of(false), GPA, &a, &r), NVMX_OK);
}

Test(ept12_walk, racing_l1_makes_the_walk_give_up_after_bounded_attempts)
{
    map_4k_default();
    fail_always = true;
    long reads = fx.host.l1_reads;
    ept12_result r = walk(eptp_of(true), GPA, acc(EPT12_ACCESS_WRITE));
    cr_assert_eq(r.outcome, EPT12_RETRY);
    cr_assert_eq(cmpxchg_calls, EPT12_AD_MAX_WALKS);
    cr_assert_eq(fx.host.l1_reads - reads, 4 * EPT12_AD_MAX_WALKS);
}

Test(ept12_walk, lost_race_rewalks_from_the_new_value)
{
    /* L1 changes the PML4E to read-only between the walker's read and its A update: the next
     * walk decides from the new value (a write now violates). */
    map_4k_default();
    race_once = true;
    race_value = (entry_at(GPA, 4) & ~RWX) | EPT_ENTRY_READ;
    ept12_result r = walk(eptp_of(true), GPA, acc(EPT12_ACCESS_WRITE));
    cr_assert_eq(r.outcome, EPT12_VIOLATION);
    cr_assert_eq(r.qualification, EPT_QUAL_WRITE | EPT_QUAL_READABLE);
}

/* ---- Property test: a reference walk from the SDM text ----------------------------------- */

/* Bits hi..lo set. */
static uint64_t bitrange(unsigned hi, unsigned lo)
{
    return (hi >= 63 ? ~0ull : (2ull << hi) - 1) & ~((1ull << lo) - 1);
}

typedef struct ref_caps {
    unsigned maxphy;
    bool execonly, p2m, p1g, mbec, ad;
} ref_caps;

typedef struct ref_out {
    ept12_outcome outcome;
    unsigned level;
    bool leaf_reached;
    uint64_t l1_gpa, size, qual;
    bool r, w, x, ux;
    unsigned memtype;
    bool ipat;
    uint64_t used[5];
    unsigned used_count;
} ref_out;

static uint64_t ref_load(uint64_t pa)
{
    if (pa + 8 > fx.host.ram_size)
        return ~0ull; /* not RAM: all ones */
    uint64_t v;
    memcpy(&v, fx.host.ram + pa, 8);
    return v;
}

/* 29.3.2: walk from the EPTP; each step selects an entry by 9 GPA bits. */
static ref_out ref_walk(const ref_caps *c, uint64_t eptp, uint64_t gpa, ept12_access a)
{
    ref_out o = {0};
    bool mbec = a.mode_based_execute && c->mbec;
    unsigned depth = (unsigned)((eptp >> 3) & 7) + 1;
    bool writes = a.kind == EPT12_ACCESS_WRITE || (a.guest_paging && c->ad);
    uint64_t acc_bits = (uint64_t)a.kind | (a.guest_paging && c->ad ? 3u : 0u);
    unsigned andbits = 0xF; /* r w x ux */
    if (depth == 4 && (gpa & bitrange(63, 48))) {
        o.outcome = EPT12_VIOLATION;
        o.level = 4;
        o.qual = acc_bits;
        return o;
    }
    uint64_t base = eptp & bitrange(c->maxphy - 1, 12);
    for (unsigned lv = depth; lv >= 1; lv--) {
        uint64_t pa = base | (((gpa >> (12 + 9 * (lv - 1))) & 511) << 3);
        uint64_t e = ref_load(pa);
        o.used[o.used_count++] = pa;
        o.level = lv;
        unsigned ux = mbec ? (unsigned)((e >> 10) & 1) : (unsigned)((e >> 2) & 1);
        andbits &= (unsigned)(e & 7) | (ux << 3);
        bool present = (e & 7) != 0 || (mbec && ((e >> 10) & 1));
        if (!present) {
            o.outcome = EPT12_VIOLATION;
            o.qual = acc_bits | ((uint64_t)(andbits & 7) << 3) |
                     (mbec ? (uint64_t)((andbits >> 3) & 1) << 6 : 0);
            o.r = andbits & 1;
            o.w = andbits & 2;
            o.x = andbits & 4;
            o.ux = andbits & 8;
            return o;
        }
        bool ps = (e >> 7) & 1;
        bool leaf = lv == 1 || ((lv == 2 || lv == 3) && ps);
        bool bad = false;
        unsigned low3 = (unsigned)(e & 7);
        if (low3 == 2 || low3 == 6)
            bad = true;
        if (!c->execonly && !(e & 1) && !(e & 2))
            bad = true;
        uint64_t rsv = bitrange(51, c->maxphy);
        if (lv >= 4)
            rsv |= bitrange(7, 3);
        else if (lv == 3)
            rsv |= ps ? bitrange(29, 12) : bitrange(6, 3);
        else if (lv == 2)
            rsv |= ps ? bitrange(20, 12) : bitrange(6, 3);
        if ((lv == 3 && ps && !c->p1g) || (lv == 2 && ps && !c->p2m))
            bad = true;
        if (e & rsv)
            bad = true;
        unsigned mt = (unsigned)((e >> 3) & 7);
        if (leaf && (mt == 2 || mt == 3 || mt == 7))
            bad = true;
        if (bad) {
            o.outcome = EPT12_MISCONFIG;
            return o;
        }
        if (leaf) {
            o.size = 1ull << (12 + 9 * (lv - 1));
            o.l1_gpa = (e & bitrange(c->maxphy - 1, 12 + 9 * (lv - 1))) | (gpa & (o.size - 1));
            o.memtype = mt;
            o.ipat = (e >> 6) & 1;
            break;
        }
        base = e & bitrange(c->maxphy - 1, 12);
    }
    o.r = andbits & 1;
    o.w = andbits & 2;
    o.x = andbits & 4;
    o.ux = andbits & 8;
    bool ok;
    if (writes)
        ok = o.w;
    else if (a.kind == EPT12_ACCESS_READ)
        ok = o.r;
    else
        ok = (mbec && a.user) ? o.ux : o.x;
    if (!ok) {
        o.outcome = EPT12_VIOLATION;
        o.leaf_reached = true;
        o.qual = acc_bits | ((uint64_t)(andbits & 7) << 3) |
                 (mbec ? (uint64_t)((andbits >> 3) & 1) << 6 : 0);
        o.l1_gpa = o.size = 0;
        o.memtype = 0;
        o.ipat = false;
        return o;
    }
    o.outcome = EPT12_TRANSLATED;
    return o;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static bool chance(unsigned percent)
{
    return rnd() % 100 < percent;
}

#define POOL_PAGES 6

/* A random entry, shaped most of the time like one that references a table (pool page, bits
 * 7:3 clear) or like one that maps a page (bit 7, memory type), so that walks reach every
 * outcome; ignored and flag bits are random, and now and then any one bit flips. */
static uint64_t random_entry(unsigned maxphy)
{
    uint64_t e = chance(75) ? 7 : rnd() & 7;
    unsigned shape = (unsigned)(rnd() % 100);
    if (shape < 8) {
        e = rnd() & ~7ull; /* not present (bits 63:3 anything) */
    } else if (shape < 65) {
        e |= TABLES_BASE + (rnd() % POOL_PAGES) * PAGE_SIZE_4K;
    } else {
        if (chance(60))
            e |= EPT_ENTRY_PAGE_SIZE;
        e |= (uint64_t)(chance(70) ? MEMTYPE_WB : rnd() % 8) << EPT_ENTRY_MEMTYPE_SHIFT;
        e |= rnd() & EPT_ENTRY_IGNORE_PAT;
        uint64_t align = chance(50) ? bitrange(maxphy - 1, 30) : bitrange(maxphy - 1, 21);
        e |= rnd() & (chance(80) ? align : bitrange(maxphy - 1, 12));
    }
    e |= rnd() & (EPT_ENTRY_ACCESSED | EPT_ENTRY_DIRTY | EPT_ENTRY_USER_EXECUTE | (1ull << 11) |
                  (0xFFFull << 52));
    if (chance(3))
        e ^= 1ull << (rnd() % 52); /* any bit, reserved or not */
    return e;
}

Test(ept12_walk, matches_reference_walk_on_random_tables)
{
    static const unsigned widths[] = {39, 46, 48, 52};
    unsigned counts[4] = {0};
    for (unsigned iter = 0; iter < 20000; iter++) {
        ref_caps c = {.maxphy = widths[rnd() % 4],
                      .execonly = chance(50),
                      .p2m = chance(80),
                      .p1g = chance(60),
                      .mbec = chance(50),
                      .ad = chance(50)};
        fx.vm.phys_addr_width = (uint8_t)c.maxphy;
        nvmx_caps_software_host(&fx.vm.caps, 46);
        if (!c.execonly)
            remove_ept_cap(NVMX_CTL(EPT_EXECONLY));
        if (!c.p2m)
            remove_ept_cap(NVMX_CTL(EPT_2MB));
        if (!c.p1g)
            remove_ept_cap(NVMX_CTL(EPT_1GB));
        if (!c.mbec)
            fx.vm.caps.procbased2 &= ~(NVMX_CTL(MODE_BASED_EPT_EXEC) << 32);
        if (iter % 64 == 0)
            for (unsigned i = 0; i < POOL_PAGES * 512; i++)
                fake_host_write64(&fx.host, TABLES_BASE + 8ull * i, random_entry(c.maxphy));
        unsigned levels = chance(30) ? 5 : 4;
        uint64_t eptp = (TABLES_BASE + (rnd() % POOL_PAGES) * PAGE_SIZE_4K) |
                        ((uint64_t)(levels - 1) << 3) | MEMTYPE_WB |
                        (c.ad ? EPTP_ACCESSED_DIRTY : 0);
        uint64_t gpa = rnd() & bitrange(c.maxphy - 1, 0);
        ept12_access a = {.kind = (ept12_access_kind)(1u << (rnd() % 3)),
                          .user = chance(50),
                          .guest_paging = chance(20),
                          .mode_based_execute = chance(50)};
        ref_out want = ref_walk(&c, eptp, gpa, a);
        static uint8_t before[POOL_PAGES * PAGE_SIZE_4K];
        memcpy(before, fx.host.ram + TABLES_BASE, sizeof(before));
        ept12_result got;
        cr_assert_eq(ept12_walk(&fx.vm, eptp, gpa, &a, &got), NVMX_OK);
        counts[got.outcome]++;
        cr_assert_eq(got.outcome, want.outcome, "iter %u: outcome %d, reference %d", iter,
                     got.outcome, want.outcome);
        cr_assert_eq(got.level, want.level, "iter %u: level %u, reference %u", iter, got.level,
                     want.level);
        if (want.outcome == EPT12_VIOLATION) {
            cr_assert_eq(got.qualification, want.qual, "iter %u: qual %llx, reference %llx", iter,
                         (unsigned long long)got.qualification, (unsigned long long)want.qual);
            cr_assert_eq(got.leaf_reached, want.leaf_reached, "iter %u", iter);
        }
        if (want.outcome == EPT12_TRANSLATED) {
            cr_assert_eq(got.l1_gpa, want.l1_gpa, "iter %u", iter);
            cr_assert_eq(got.page_size, want.size, "iter %u", iter);
            cr_assert_eq(got.memory_type, want.memtype, "iter %u", iter);
            cr_assert_eq(got.ignore_pat, want.ipat, "iter %u", iter);
            cr_assert_eq(got.read, want.r, "iter %u", iter);
            cr_assert_eq(got.write, want.w, "iter %u", iter);
            cr_assert_eq(got.execute, want.x, "iter %u", iter);
            cr_assert_eq(got.user_execute, want.ux, "iter %u", iter);
        }
        /* A/D (29.3.4.2): on a translation with A/D, A in every entry used and D in the last
         * for write-like accesses; nothing else changes. */
        if (want.outcome == EPT12_TRANSLATED && c.ad) {
            bool writes = a.kind == EPT12_ACCESS_WRITE || a.guest_paging;
            for (unsigned i = 0; i < want.used_count; i++) {
                uint64_t off = want.used[i] - TABLES_BASE;
                if (off >= sizeof(before))
                    continue;
                uint64_t v;
                memcpy(&v, before + off, 8);
                v |= EPT_ENTRY_ACCESSED;
                if (i + 1 == want.used_count && writes)
                    v |= EPT_ENTRY_DIRTY;
                memcpy(before + off, &v, 8);
            }
        }
        cr_assert(memcmp(before, fx.host.ram + TABLES_BASE, sizeof(before)) == 0,
                  "iter %u: tables changed unexpectedly", iter);
    }
    /* The random tables reach every outcome but RETRY. */
    cr_assert(counts[EPT12_TRANSLATED] > 100 && counts[EPT12_MISCONFIG] > 100 &&
                  counts[EPT12_VIOLATION] > 100,
              "translated %u misconfig %u violation %u", counts[EPT12_TRANSLATED],
              counts[EPT12_MISCONFIG], counts[EPT12_VIOLATION]);
}
