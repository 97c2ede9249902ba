/* SPDX-License-Identifier: MIT */
/*
 * Property test of EPT for L2 end to end (issue 4 "done when"): for thousands of random
 * accesses by L2 over random EPT12 tables (in L1 RAM) and a random EPT01 (holes, 4-KiB and
 * 2-MiB host pages, reduced permissions, UC and WB), the outcome of nvmx_on_l2_exit for the
 * hardware's EPT violation equals an independent reference composition written from the SDM:
 *   EPT12 misconfiguration (29.3.3.1)  -> VM exit 49 to L1 with the L2 GPA
 *   EPT12 violation (29.3.3.2)         -> VM exit 48 to L1, qualification bits 0-8 exact
 *   EPT01 hole or disallowed access    -> NVMX_RUN_L0_HANDLES with the L1 GPA
 *   else                               -> NVMX_RUN_L2 and EPT02, walked as hardware walks
 *                                         it, now maps the L2 page to EPT01's host page with
 *                                         EPT12 ∩ EPT01 permissions and the smaller page size.
 * After every random map, every EPT02 leaf is checked page by page against the reference:
 * no leaf points at a host address EPT01 did not return for that L1 GPA (29.3, 29.4).
 * Deterministic (fixed seed); each map starts from an INVEPT-like drop of EPT02.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "arch.h"
#include "ept/ept02.h"
#include "ept_l2_fixture.h"

#define MAPS 100
#define ACCESSES_PER_MAP 200
#define L1_RAM (16ull << 20)
#define L1_TARGETS 0x400000ull /* EPT12 leaves point into [4 MiB, 12 MiB) */
#define L1_TARGETS_SIZE 0x800000ull
#define HOST_2M_BASE 0x200000000000ull
#define HOST_4K_BASE 0x300000000000ull
#define Q_LINEAR (EPT_QUAL_LINEAR_VALID | EPT_QUAL_LINEAR_TRANSLATION)

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t rnd_below(uint64_t n)
{
    return rnd() % n;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    x ^= x >> 33;
    return x;
}

/* ---- The random EPT01 (the ept01_lookup op and its reference) ----------------------------- */

static uint64_t ept01_seed;

typedef struct ref_ept01 {
    bool backed;
    uint64_t host; /* of the byte */
    uint64_t size;
    uint64_t perms; /* EPT_R/W/X */
    uint8_t type;
} ref_ept01;

/* Per 2-MiB region of L1 RAM: one 2-MiB host page (1 in 4) or 4-KiB pages, each a hole with
 * probability 1/8; permissions any of the eight; UC (1 in 4) or WB. */
static ref_ept01 ept01_of(uint64_t l1)
{
    ref_ept01 r = {0};
    if (l1 >= L1_RAM)
        return r;
    uint64_t region = l1 >> 21, page = l1 >> 12;
    uint64_t h = mix(ept01_seed ^ (region * 0x9E3779B97F4A7C15ull));
    if ((h & 3) == 0) {
        r.size = EPT_2M;
        r.host = HOST_2M_BASE + (region << 21) + (l1 & (EPT_2M - 1));
    } else {
        h = mix(ept01_seed ^ (page * 0xD1B54A32D192ED03ull) ^ 1);
        if ((h & 7) == 0)
            return r;
        r.size = 4096;
        r.host = HOST_4K_BASE + (((page * 7919) % 4096) << 12) + (l1 & 0xFFF);
    }
    r.perms = (h >> 8) & EPT_RWX;
    r.type = ((h >> 12) & 3) == 0 ? MEMTYPE_UC : MEMTYPE_WB;
    r.backed = r.perms != 0; /* no permission at all: as not backed (ops.h) */
    return r;
}

static nvmx_status model_ept01_lookup(void *ctx, uint64_t l1_gpa, nvmx_ept01_mapping *out)
{
    (void)ctx;
    ref_ept01 r = ept01_of(l1_gpa);
    if (!r.backed)
        return NVMX_ERR_BAD_L1_ADDRESS;
    *out = (nvmx_ept01_mapping){.host_phys = r.host,
                                .page_size = r.size,
                                .read = r.perms & EPT_R,
                                .write = r.perms & EPT_W,
                                .execute = r.perms & EPT_X,
                                .memory_type = r.type};
    return NVMX_OK;
}

/* ---- The random EPT12 and its reference walk ------------------------------------------------ */

static ept_l2 e;

static uint64_t entry_at(uint64_t gpa)
{
    return fake_host_read64(&e.h.host, gpa);
}

static uint64_t table_alloc(void)
{
    uint64_t t = e.next_table;
    e.next_table += 4096;
    cr_assert(e.next_table <= EPT12_TABLES_END);
    memset(e.h.host.ram + t, 0, 4096);
    return t;
}

/* Permissions of a random entry: mostly valid, sometimes not present, sometimes write
 * without read (a misconfiguration). */
static uint64_t random_perms(void)
{
    static const uint64_t choices[] = {EPT_RWX, EPT_RWX, EPT_RWX, EPT_R | EPT_W, EPT_R | EPT_X,
                                       EPT_R,   EPT_X,   0,       EPT_W,         EPT_W | EPT_X};
    return choices[rnd_below(NVMX_ARRAY_SIZE(choices))];
}

static uint64_t random_leaf_type(void)
{
    static const uint64_t types[] = {MEMTYPE_WB, MEMTYPE_WB, MEMTYPE_UC, MEMTYPE_WT, 2, 7};
    return types[rnd_below(NVMX_ARRAY_SIZE(types))] << EPT_ENTRY_MEMTYPE_SHIFT;
}

/* A non-leaf entry (rarely with a reserved bit) pointing at a new table. */
static uint64_t random_nonleaf(void)
{
    uint64_t bits = rnd_below(8) ? EPT_RWX : random_perms();
    if (rnd_below(40) == 0)
        bits |= 1ull << 3; /* reserved in every non-leaf entry */
    return table_alloc() | bits;
}

/* L2 addresses live in PML4E 0, PDPTEs 0-3, PDEs 0-7, PTEs 0-15: dense enough to hit. */
static void build_ept12(void)
{
    e.next_table = (e.eptp12 & ~0xFFFull) + 4096;
    uint64_t root = e.eptp12 & ~0xFFFull;
    memset(e.h.host.ram + root, 0, 4096);
    uint64_t pml4e = random_nonleaf();
    if (rnd_below(10) == 0)
        pml4e = (pml4e & ~EPT_RWX) | random_perms();
    fake_host_write64(&e.h.host, root, pml4e);
    uint64_t pdpt = pml4e & 0x000FFFFFFFFFF000ull;
    for (unsigned i = 0; i < 4; i++) {
        if (rnd_below(8) == 0) { /* a 1-GiB page: L1 GPA 0, RAM only in its first 16 MiB */
            fake_host_write64(&e.h.host, pdpt + 8 * i,
                              random_perms() | random_leaf_type() | EPT_ENTRY_PAGE_SIZE);
            continue;
        }
        uint64_t pdpte = random_nonleaf();
        fake_host_write64(&e.h.host, pdpt + 8 * i, pdpte);
        uint64_t pd = pdpte & 0x000FFFFFFFFFF000ull;
        for (unsigned j = 0; j < 8; j++) {
            if (rnd_below(4) == 0) {
                uint64_t l1 = L1_TARGETS + (rnd_below(L1_TARGETS_SIZE >> 21) << 21);
                fake_host_write64(&e.h.host, pd + 8 * j,
                                  l1 | random_perms() | random_leaf_type() | EPT_ENTRY_PAGE_SIZE |
                                      (rnd_below(2) ? EPT_ENTRY_IGNORE_PAT : 0));
                continue;
            }
            uint64_t pde = random_nonleaf();
            fake_host_write64(&e.h.host, pd + 8 * j, pde);
            uint64_t pt = pde & 0x000FFFFFFFFFF000ull;
            for (unsigned k = 0; k < 16; k++) {
                uint64_t l1 = L1_TARGETS + (rnd_below(L1_TARGETS_SIZE >> 12) << 12);
                fake_host_write64(&e.h.host, pt + 8 * k, l1 | random_perms() | random_leaf_type());
            }
        }
    }
}

static uint64_t random_l2_gpa(void)
{
    return (rnd_below(4) << 30) | (rnd_below(8) << 21) | (rnd_below(16) << 12) | rnd_below(4096);
}

typedef enum { REF_MISCONFIG, REF_VIOLATION, REF_TRANSLATED } ref_kind;

typedef struct ref_walk {
    ref_kind kind;
    uint64_t perms; /* AND of R/W/X over the entries used */
    uint64_t l1, size;
    uint64_t type;
} ref_walk;

/* SDM 29.3.2-29.3.3, from the tables above: 4-level, execute-only and 2-MiB/1-GiB pages
 * supported, MAXPHYADDR 46, no A/D flags. */
static bool reserved_bits(uint64_t entry, unsigned level, bool leaf)
{
    uint64_t reserved = 0x000FC00000000000ull; /* 51:46 */
    if (level == 4)
        reserved |= 0xF8; /* 7:3 */
    else if (!leaf)
        reserved |= 0x78; /* 6:3 */
    else if (level == 3)
        reserved |= 0x3FFFF000ull; /* 29:12 */
    else if (level == 2)
        reserved |= 0x1FF000ull; /* 20:12 */
    return (entry & reserved) != 0;
}

static ref_walk reference_walk(uint64_t l2, uint64_t access_perm)
{
    ref_walk w = {.perms = EPT_RWX};
    uint64_t table = e.eptp12 & 0x000FFFFFFFFFF000ull;
    for (unsigned level = 4; level >= 1; level--) {
        uint64_t entry = entry_at(table + 8 * ((l2 >> (12 + 9 * (level - 1))) & 0x1FF));
        uint64_t p = entry & EPT_RWX;
        w.perms &= p;
        if (!p) {
            w.kind = REF_VIOLATION;
            return w;
        }
        bool leaf = level == 1 || (level < 4 && (entry & EPT_ENTRY_PAGE_SIZE));
        uint64_t type = (entry >> 3) & 7;
        if (p == EPT_W || p == (EPT_W | EPT_X) || reserved_bits(entry, level, leaf) ||
            (leaf && (type == 2 || type == 3 || type == 7))) {
            w.kind = REF_MISCONFIG;
            return w;
        }
        if (leaf) {
            w.size = 1ull << (12 + 9 * (level - 1));
            w.l1 = (entry & 0x000FFFFFFFFFF000ull & ~(w.size - 1)) | (l2 & (w.size - 1));
            w.type = type;
            w.kind = (w.perms & access_perm) ? REF_TRANSLATED : REF_VIOLATION;
            return w;
        }
        table = entry & 0x000FFFFFFFFFF000ull;
    }
    cr_assert_fail("unreachable");
    return w;
}

/* ---- Checks ------------------------------------------------------------------------------- */

static const struct {
    uint64_t qual, perm;
} accesses[] = {
    {EPT_QUAL_READ, EPT_R},
    {EPT_QUAL_WRITE, EPT_W},
    {EPT_QUAL_FETCH, EPT_X},
};

static long outcomes[4];

static void check_access(uint64_t l2, unsigned a)
{
    uint64_t want = accesses[a].perm;
    ref_walk w = reference_walk(l2, want);
    uint64_t gla = rnd() & 0x00007FFFFFFFFFFFull;
    cr_assert_eq(ept_l2_violation(&e, l2, accesses[a].qual | Q_LINEAR, gla), NVMX_OK, "%s",
                 e.h.host.last_log);
    const vmcs12 *v = &e.h.vcpu->current->data;
    if (w.kind != REF_TRANSLATED) {
        outcomes[w.kind]++;
        cr_assert_eq(e.h.next.run, NVMX_RUN_L1, "l2 %llx: expected an exit to L1",
                     (unsigned long long)l2);
        uint64_t reason =
            w.kind == REF_MISCONFIG ? NVMX_EXIT_EPT_MISCONFIG : NVMX_EXIT_EPT_VIOLATION;
        cr_assert_eq(v->field[VMCS12_ORD_VM_EXIT_REASON], reason, "l2 %llx",
                     (unsigned long long)l2);
        cr_assert_eq(v->field[VMCS12_ORD_GUEST_PHYSICAL_ADDRESS], l2);
        if (w.kind == REF_VIOLATION) {
            /* bits 3-5 are R, W, X in order: the permission bits shifted by 3 */
            cr_assert_eq(v->field[VMCS12_ORD_EXIT_QUALIFICATION],
                         accesses[a].qual | (w.perms << 3) | Q_LINEAR, "l2 %llx",
                         (unsigned long long)l2);
            cr_assert_eq(v->field[VMCS12_ORD_GUEST_LINEAR_ADDRESS], gla);
        }
        ept_l2_resume(&e);
        return;
    }
    ref_ept01 m = ept01_of(w.l1);
    uint64_t r = w.perms & m.perms & EPT_R;
    uint64_t perms =
        r | ((r && (w.perms & m.perms & EPT_W)) ? EPT_W : 0) | (w.perms & m.perms & EPT_X);
    if (!m.backed || !(perms & want)) {
        outcomes[3]++;
        cr_assert_eq(e.h.next.run, NVMX_RUN_L0_HANDLES, "l2 %llx", (unsigned long long)l2);
        cr_assert(e.h.next.l1_gpa_valid);
        cr_assert_eq(e.h.next.l1_gpa, w.l1);
        cr_assert_eq(e.h.next.ept01_backed, m.backed);
        return;
    }
    outcomes[REF_TRANSLATED]++;
    cr_assert_eq(e.h.next.run, NVMX_RUN_L2, "l2 %llx", (unsigned long long)l2);
    uint64_t leaf, size;
    cr_assert(ept02_hw_walk(ept_l2_eptp02(&e), l2, &leaf, &size), "l2 %llx",
              (unsigned long long)l2);
    cr_assert_eq(size, w.size < m.size ? w.size : m.size);
    cr_assert_eq((leaf & 0x000FFFFFFFFFF000ull & ~(size - 1)) | (l2 & (size - 1)), m.host);
    cr_assert_eq(leaf & EPT_RWX, perms);
    uint64_t type = m.type == MEMTYPE_UC ? MEMTYPE_UC : w.type;
    cr_assert_eq((leaf & EPT_ENTRY_MEMTYPE_MASK) >> EPT_ENTRY_MEMTYPE_SHIFT, type);
}

static long leaves_checked;

/* Every 4-KiB page of an EPT02 leaf: EPT12 translates it (with at least the leaf's
 * permissions), EPT01 backs the L1 page with exactly this host page and allows the leaf's
 * permissions. */
static void check_leaf(void *ctx, uint64_t l2, uint64_t leaf, uint64_t size)
{
    (void)ctx;
    cr_assert_leq(size, EPT_2M, "EPT01 has no 1-GiB pages here");
    for (uint64_t off = 0; off < size; off += 4096) {
        ref_walk w = reference_walk(l2 + off, EPT_R | EPT_W | EPT_X);
        cr_assert_eq(w.kind, REF_TRANSLATED, "leaf for an L2 page EPT12 does not map");
        ref_ept01 m = ept01_of(w.l1);
        cr_assert(m.backed, "leaf for an L1 page EPT01 does not back");
        cr_assert_eq((leaf & 0x000FFFFFFFFFF000ull) + off, m.host & ~0xFFFull,
                     "EPT02 host page is not EPT01's for l1 %llx", (unsigned long long)w.l1);
        cr_assert_eq(leaf & EPT_RWX & ~(w.perms & m.perms), 0, "more than EPT12 and EPT01 allow");
    }
    leaves_checked++;
}

Test(ept_property, l2_access_outcome_equals_reference_composition, .timeout = 120)
{
    nvmx_host_ops ops = *fake_host_ops();
    ops.ept01_lookup = model_ept01_lookup;
    ept_l2_init(&e, NULL, &ops, false);
    rng_state = 0x2545F4914F6CDD1Dull;
    memset(outcomes, 0, sizeof(outcomes));
    for (unsigned map = 0; map < MAPS; map++) {
        /* L1 rewrites its EPT12 and L0 its EPT01 while L1 runs, then L1 does the equivalent
         * of INVEPT all-context. */
        cr_assert_eq(sec_l2_exit_simple(&e.h, NVMX_EXIT_CPUID, 2), NVMX_OK);
        cr_assert_eq(e.h.next.run, NVMX_RUN_L1);
        ept01_seed = rnd();
        build_ept12();
        ept02_invalidate_all(e.h.vcpu);
        ept_l2_resume(&e);
        for (unsigned i = 0; i < ACCESSES_PER_MAP; i++)
            check_access(random_l2_gpa(), (unsigned)rnd_below(3));
        ept02_for_each_leaf(ept_l2_eptp02(&e), check_leaf, NULL);
    }
    /* every outcome was exercised, many times */
    for (unsigned k = 0; k < 4; k++)
        cr_assert_gt(outcomes[k], 1000, "outcome %u seen %ld times", k, outcomes[k]);
    cr_assert_gt(leaves_checked, 1000, "leaves %ld outcomes %ld %ld %ld %ld", leaves_checked,
                 outcomes[0], outcomes[1], outcomes[2], outcomes[3]);
    ept_l2_fini(&e);
}
