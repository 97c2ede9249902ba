/* SPDX-License-Identifier: MIT */
#include "ept_l2_fixture.h"

#include <criterion/criterion.h>

#include "arch.h"

#define ADDRESS_MASK 0x000FFFFFFFFFF000ull

static unsigned index_at(uint64_t gpa, unsigned level)
{
    return (unsigned)((gpa >> (12u + 9u * (level - 1u))) & 0x1FFu);
}

static uint64_t level_size(unsigned level)
{
    return 1ull << (12u + 9u * (level - 1u));
}

static uint64_t new_table(ept_l2 *e)
{
    uint64_t t = e->next_table;
    e->next_table += 4096;
    cr_assert(e->next_table <= EPT12_TABLES_END, "EPT12 table area exhausted");
    for (unsigned i = 0; i < 512; i++)
        fake_host_write64(&e->h.host, t + 8 * i, 0);
    return t;
}

void ept_l2_init(ept_l2 *e, const nvmx_vm_config *config, const nvmx_host_ops *ops,
                 bool accessed_dirty)
{
    sec_nested_init(&e->h, config, ops);
    cr_assert(nvmx_vm_has_feature(e->h.vm, NVMX_FEATURE_EPT));
    e->next_table = EPT12_TABLES;
    uint64_t root = new_table(e);
    e->eptp12 = root | (3u << 3) | MEMTYPE_WB | (accessed_dirty ? (1u << 6) : 0);
    sec_set_proc(&e->h, 0, NVMX_CTL(EPT));
    sec_vmwrite(&e->h, NVMX_FIELD_EPT_POINTER, e->eptp12);
    sec_launch(&e->h, NVMX_EXIT_VMLAUNCH);
}

void ept_l2_fini(ept_l2 *e)
{
    harness_fini(&e->h);
    cr_expect_eq(e->h.host.live_pages, 0, "EPT02 pages leaked: %ld", e->h.host.live_pages);
}

uint64_t ept12_entry_gpa(const ept_l2 *e, uint64_t l2, unsigned level)
{
    uint64_t table = e->eptp12 & ADDRESS_MASK;
    for (unsigned l = 4; l > level; l--)
        table = fake_host_read64(&e->h.host, table + 8 * index_at(l2, l)) & ADDRESS_MASK;
    return table + 8 * index_at(l2, level);
}

uint64_t ept12_map(ept_l2 *e, uint64_t l2, uint64_t l1, uint64_t size, uint64_t leaf_bits)
{
    unsigned leaf_level = size == EPT_1G ? 3 : size == EPT_2M ? 2 : 1;
    uint64_t table = e->eptp12 & ADDRESS_MASK;
    for (unsigned level = 4; level > leaf_level; level--) {
        uint64_t at = table + 8 * index_at(l2, level);
        uint64_t entry = fake_host_read64(&e->h.host, at);
        if (!(entry & EPT_RWX)) {
            entry = new_table(e) | EPT_RWX;
            fake_host_write64(&e->h.host, at, entry);
        }
        table = entry & ADDRESS_MASK;
    }
    uint64_t at = table + 8 * index_at(l2, leaf_level);
    fake_host_write64(&e->h.host, at,
                      (l1 & ~(size - 1)) | leaf_bits | (leaf_level > 1 ? EPT_ENTRY_PAGE_SIZE : 0));
    return at;
}

nvmx_status ept_l2_violation(ept_l2 *e, uint64_t l2_gpa, uint64_t qualification, uint64_t gla)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_EPT_VIOLATION,
                      .qualification = qualification,
                      .guest_physical_address = l2_gpa,
                      .guest_linear_address = gla};
    return sec_l2_exit(&e->h, &exit);
}

void ept_l2_resume(ept_l2 *e)
{
    sec_launch(&e->h, NVMX_EXIT_VMRESUME);
}

uint64_t ept_l2_eptp02(const ept_l2 *e)
{
    return e->h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_EPT_POINTER];
}

bool ept02_hw_walk(uint64_t eptp02, uint64_t l2_gpa, uint64_t *leaf, uint64_t *page_size)
{
    cr_assert_eq(eptp02 & 0x3F, (3u << 3) | MEMTYPE_WB, "EPT02: 4-level, WB");
    const uint64_t *table = fake_host_page(eptp02 & ADDRESS_MASK);
    for (unsigned level = 4; level >= 1; level--) {
        uint64_t entry = table[index_at(l2_gpa, level)];
        if (!(entry & EPT_RWX))
            return false;
        if (level == 1 || (entry & EPT_ENTRY_PAGE_SIZE)) {
            cr_assert(level <= 3, "no leaf in an EPT PML4E");
            *leaf = entry;
            *page_size = level_size(level);
            return true;
        }
        table = fake_host_page(entry & ADDRESS_MASK);
    }
    return false;
}

static void visit_table(const uint64_t *table, unsigned level, uint64_t base,
                        void (*visit)(void *, uint64_t, uint64_t, uint64_t), void *ctx)
{
    for (unsigned i = 0; i < 512; i++) {
        uint64_t entry = table[i];
        uint64_t gpa = base + i * level_size(level);
        if (!(entry & EPT_RWX))
            continue;
        if (level == 1 || (entry & EPT_ENTRY_PAGE_SIZE))
            visit(ctx, gpa, entry, level_size(level));
        else
            visit_table(fake_host_page(entry & ADDRESS_MASK), level - 1, gpa, visit, ctx);
    }
}

void ept02_for_each_leaf(uint64_t eptp02,
                         void (*visit)(void *ctx, uint64_t l2_gpa, uint64_t leaf, uint64_t size),
                         void *ctx)
{
    visit_table(fake_host_page(eptp02 & ADDRESS_MASK), 4, 0, visit, ctx);
}
