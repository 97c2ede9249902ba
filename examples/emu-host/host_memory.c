/* SPDX-License-Identifier: MIT */
/*
 * L0's memory for EPT: the ops the library needs to build EPT02 for an L2 that L1 runs under
 * EPT (ops.h). nestvmx-emu's host-physical address space is its own choice:
 *   - L1 RAM (one host buffer) sits at host-physical 0 .. ram_size, the offset in that buffer:
 *     EPT01 maps each L1 GPA of RAM (below 4 GiB, and above it for a multiboot PC with more
 *     than 3 GiB, memory.c) to its offset, in 2 MiB pages (both layouts are 2-MiB aligned),
 *     RWX, write-back; nothing else (a hole: L1 has no MMIO that L2 could reach);
 *   - pages from page_alloc (EPT02 tables) live in host memory outside L1 RAM, at host-physical
 *     EMU_POOL_BASE + 4 KiB * slot, so the EPT02 walk (l2_memory.c) maps them back to the
 *     pointer. L2 never reaches them: EPT02 leaves point into L1 RAM only.
 * Unicorn has one TLB: every flush the library asks for is uc_ctl_flush_tlb (flushing more
 * than asked is always correct, ops.h).
 */
#include "emu.h"
#include "pc.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_4K 4096u
#define PAGE_2M (2u * EMU_MIB)
#define EPT_MEMTYPE_WB 6u

static nvmx_status op_ept01_lookup(void *ctx, uint64_t l1_gpa, nvmx_ept01_mapping *out)
{
    emu *e = ctx;
    const uint8_t *byte = emu_ram_at(e, l1_gpa, 1);
    if (!byte)
        return NVMX_ERR_BAD_L1_ADDRESS;
    *out = (nvmx_ept01_mapping){.host_phys = (uint64_t)(byte - e->ram),
                                .page_size = PAGE_2M,
                                .read = true,
                                .write = true,
                                .execute = true,
                                .memory_type = EPT_MEMTYPE_WB};
    return NVMX_OK;
}

/* A free slot of the pool, growing the slot array when all are taken. */
static bool pool_slot(emu_page_pool *pool, size_t *slot)
{
    for (size_t i = 0; i < pool->count; i++)
        if (!pool->pages[i]) {
            *slot = i;
            return true;
        }
    if (pool->count == EMU_POOL_MAX_PAGES)
        return false;
    if (pool->count == pool->capacity) {
        size_t capacity = pool->capacity ? pool->capacity * 2 : 64;
        void **pages = realloc(pool->pages, capacity * sizeof(*pages));
        if (!pages)
            return false;
        pool->pages = pages;
        pool->capacity = capacity;
    }
    pool->pages[pool->count] = NULL;
    *slot = pool->count++;
    return true;
}

static void *op_page_alloc(void *ctx, uint64_t *host_phys)
{
    emu *e = ctx;
    size_t slot;
    if (!pool_slot(&e->pool, &slot))
        return NULL;
    void *page = aligned_alloc(PAGE_4K, PAGE_4K);
    if (!page)
        return NULL;
    memset(page, 0, PAGE_4K);
    e->pool.pages[slot] = page;
    *host_phys = EMU_POOL_BASE + (uint64_t)slot * PAGE_4K;
    return page;
}

static void op_page_free(void *ctx, void *page, uint64_t host_phys)
{
    emu *e = ctx;
    uint64_t slot = (host_phys - EMU_POOL_BASE) / PAGE_4K;
    if (host_phys < EMU_POOL_BASE || slot >= e->pool.count || e->pool.pages[slot] != page)
        return; /* not ours: never free what the pool did not hand out */
    e->pool.pages[slot] = NULL;
    free(page);
}

void *emu_pool_page(const emu *e, uint64_t host_phys)
{
    if (host_phys < EMU_POOL_BASE || host_phys % PAGE_4K)
        return NULL;
    uint64_t slot = (host_phys - EMU_POOL_BASE) / PAGE_4K;
    return slot < e->pool.count ? e->pool.pages[slot] : NULL;
}

void emu_pool_destroy(emu *e)
{
    for (size_t i = 0; i < e->pool.count; i++)
        free(e->pool.pages[i]);
    free(e->pool.pages);
    e->pool = (emu_page_pool){0};
}

static void op_tlb_flush(void *ctx, const nvmx_tlb_flush *request)
{
    (void)request;
    emu *e = ctx;
    uc_ctl_flush_tlb(e->uc);
}

/* As LOCK CMPXCHG on the aligned quadword (one vCPU here, but atomic all the same). */
static nvmx_status op_l1_cmpxchg64(void *ctx, uint64_t gpa, uint64_t expected, uint64_t desired)
{
    emu *e = ctx;
    uint8_t *bytes = gpa % 8 ? NULL : emu_ram_at(e, gpa, 8);
    if (!bytes)
        return NVMX_ERR_BAD_L1_ADDRESS;
    uint64_t *word = (uint64_t *)(void *)bytes;
    if (__atomic_compare_exchange_n(word, &expected, desired, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST))
        return NVMX_OK;
    return NVMX_ERR_STATE;
}

/* VPIDs 1..65535; L1 itself runs without one (Unicorn's TLB is flushed on every switch). */
static uint16_t op_vpid_alloc(void *ctx)
{
    emu *e = ctx;
    for (unsigned i = 0; i < 65535u; i++) {
        unsigned vpid = 1u + (e->vpid_next + i) % 65535u;
        if (!(e->vpid_used[vpid / 64] & (1ull << (vpid % 64)))) {
            e->vpid_used[vpid / 64] |= 1ull << (vpid % 64);
            e->vpid_next = vpid;
            return (uint16_t)vpid;
        }
    }
    return 0;
}

static void op_vpid_free(void *ctx, uint16_t vpid)
{
    emu *e = ctx;
    e->vpid_used[vpid / 64] &= ~(1ull << (vpid % 64));
}

/* L1's TSC: the host's with vmcs01's offset (msr.c), whoever runs. */
static uint64_t op_tsc_read(void *ctx)
{
    return emu_l1_tsc(ctx);
}

void emu_host_memory_ops(nvmx_host_ops *ops)
{
    ops->ept01_lookup = op_ept01_lookup;
    ops->page_alloc = op_page_alloc;
    ops->page_free = op_page_free;
    ops->tlb_flush = op_tlb_flush;
    ops->l1_cmpxchg64 = op_l1_cmpxchg64;
    ops->vpid_alloc = op_vpid_alloc;
    ops->vpid_free = op_vpid_free;
    ops->tsc_read = op_tsc_read;
}
