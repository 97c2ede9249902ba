/* SPDX-License-Identifier: MIT */
#include "fake_host.h"

#include "arch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *fake_mem_alloc(void *ctx, size_t size)
{
    fake_host *h = ctx;
    h->alloc_calls++;
    if (h->fail_alloc_at > 0 && h->alloc_calls == h->fail_alloc_at)
        return NULL;
    void *p = aligned_alloc(16, (size + 15) & ~(size_t)15);
    if (p) {
        h->live_allocations++;
        h->live_bytes += size;
        memset(p, 0xA5, size); /* the library must not rely on zeroed memory */
    }
    return p;
}

static void fake_mem_free(void *ctx, void *ptr, size_t size)
{
    fake_host *h = ctx;
    if (!ptr)
        return;
    h->free_calls++;
    h->live_allocations--;
    h->live_bytes -= size;
    free(ptr);
}

static bool ram_range_ok(const fake_host *h, uint64_t gpa, size_t len)
{
    return gpa <= h->ram_size && len <= h->ram_size - gpa;
}

static nvmx_status fake_l1_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    fake_host *h = ctx;
    h->l1_reads++;
    if (!ram_range_ok(h, gpa, len))
        return NVMX_ERR_BAD_L1_ADDRESS;
    memcpy(buf, h->ram + gpa, len);
    return NVMX_OK;
}

/* LOCK CMPXCHG on 8 bytes of L1 RAM (single-threaded tests: a compare and a store). */
static nvmx_status fake_l1_cmpxchg64(void *ctx, uint64_t gpa, uint64_t expected, uint64_t desired)
{
    fake_host *h = ctx;
    h->l1_cmpxchgs++;
    if (!ram_range_ok(h, gpa, 8))
        return NVMX_ERR_BAD_L1_ADDRESS;
    uint64_t value;
    memcpy(&value, h->ram + gpa, 8);
    if (value != expected)
        return NVMX_ERR_STATE;
    memcpy(h->ram + gpa, &desired, 8);
    return NVMX_OK;
}

static nvmx_status fake_l1_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    fake_host *h = ctx;
    h->l1_writes++;
    if (!ram_range_ok(h, gpa, len))
        return NVMX_ERR_BAD_L1_ADDRESS;
    memcpy(h->ram + gpa, buf, len);
    return NVMX_OK;
}

static nvmx_status fake_translate(void *ctx, uint64_t linear, nvmx_access access, uint64_t *gpa,
                                  nvmx_exception *fault)
{
    fake_host *h = ctx;
    h->translates++;
    if (h->translate_status != NVMX_OK)
        return h->translate_status;
    for (int i = 0; i < h->fault_page_count; i++) {
        if ((linear & ~PAGE_OFFSET_MASK) == h->fault_pages[i]) {
            /* #PF, not-present, supervisor; bit 1 = write (SDM Vol. 3A 4.7). */
            *fault = (nvmx_exception){.vector = 14,
                                      .has_error_code = true,
                                      .error_code = access == NVMX_ACCESS_WRITE ? 2u : 0u,
                                      .cr2 = linear};
            return NVMX_ERR_BAD_L1_ADDRESS;
        }
    }
    for (int i = 0; i < h->remap_count; i++) {
        if ((linear & ~PAGE_OFFSET_MASK) == h->remap_linear[i]) {
            *gpa = h->remap_gpa[i] | (linear & PAGE_OFFSET_MASK);
            return NVMX_OK;
        }
    }
    *gpa = linear;
    return NVMX_OK;
}

/* Registers that live in the VMCS guest-state area when vmcs_backed. */
static int vmcs_slot_of(nvmx_reg reg)
{
    switch (reg) {
    case NVMX_REG_RSP:
        return VMCS12_ORD_GUEST_RSP;
    case NVMX_REG_RIP:
        return VMCS12_ORD_GUEST_RIP;
    case NVMX_REG_RFLAGS:
        return VMCS12_ORD_GUEST_RFLAGS;
    case NVMX_REG_CR0:
        return VMCS12_ORD_GUEST_CR0;
    case NVMX_REG_CR3:
        return VMCS12_ORD_GUEST_CR3;
    case NVMX_REG_CR4:
        return VMCS12_ORD_GUEST_CR4;
    case NVMX_REG_EFER:
        return VMCS12_ORD_GUEST_IA32_EFER;
    default:
        return -1;
    }
}

static uint64_t fake_reg_get(void *ctx, nvmx_reg reg)
{
    fake_host *h = ctx;
    int slot = h->vmcs_backed ? vmcs_slot_of(reg) : -1;
    return slot >= 0 ? h->vmcs[h->running][slot] : h->regs[reg];
}

static void fake_reg_set(void *ctx, nvmx_reg reg, uint64_t value)
{
    fake_host *h = ctx;
    int slot = h->vmcs_backed ? vmcs_slot_of(reg) : -1;
    if (slot >= 0)
        h->vmcs[h->running][slot] = value;
    else
        h->regs[reg] = value;
}

static const unsigned segment_slots[NVMX_SEG_COUNT][4] = {
#define SEG_SLOTS(s)                                                                               \
    {                                                                                              \
        VMCS12_ORD_GUEST_##s##_SELECTOR, VMCS12_ORD_GUEST_##s##_BASE,                              \
            VMCS12_ORD_GUEST_##s##_LIMIT, VMCS12_ORD_GUEST_##s##_AR_BYTES                          \
    }
    SEG_SLOTS(ES), SEG_SLOTS(CS), SEG_SLOTS(SS),   SEG_SLOTS(DS),
    SEG_SLOTS(FS), SEG_SLOTS(GS), SEG_SLOTS(LDTR), SEG_SLOTS(TR),
#undef SEG_SLOTS
};

static void fake_segment_get(void *ctx, nvmx_seg seg, nvmx_segment *out)
{
    fake_host *h = ctx;
    if (!h->vmcs_backed) {
        *out = h->segs[seg];
        return;
    }
    const uint64_t *v = h->vmcs[h->running];
    const unsigned *s = segment_slots[seg];
    *out = (nvmx_segment){.selector = (uint16_t)v[s[0]],
                          .base = v[s[1]],
                          .limit = (uint32_t)v[s[2]],
                          .access_rights = (uint32_t)v[s[3]]};
}

static void fake_inject_exception(void *ctx, const nvmx_exception *exception)
{
    fake_host *h = ctx;
    if (h->exception_count < FAKE_MAX_EXCEPTIONS)
        h->exceptions[h->exception_count] = *exception;
    h->exception_count++;
}

static void fake_log(void *ctx, nvmx_log_level level, const char *message)
{
    fake_host *h = ctx;
    (void)level;
    h->log_count++;
    snprintf(h->last_log, sizeof(h->last_log), "%s", message);
}

static nvmx_status fake_hw_vmcs_read(void *ctx, nvmx_hw_vmcs which, uint32_t field, uint64_t *value)
{
    fake_host *h = ctx;
    const vmcs_field_info *f = vmcs_field_lookup(field);
    if (!f || (unsigned)which > NVMX_HW_VMCS02)
        return NVMX_ERR_INVALID_ARGUMENT;
    if (h->fail_vmcs_read_at > 0 && h->vmcs_reads[0] + h->vmcs_reads[1] + 1 == h->fail_vmcs_read_at)
        return NVMX_ERR_HOST;
    h->vmcs_reads[which]++;
    uint64_t slot = h->vmcs[which][f->ordinal];
    *value = NVMX_FIELD_HIGH_ACCESS(field) ? slot >> 32 : slot;
    return NVMX_OK;
}

static nvmx_status fake_hw_vmcs_write(void *ctx, nvmx_hw_vmcs which, uint32_t field, uint64_t value)
{
    fake_host *h = ctx;
    const vmcs_field_info *f = vmcs_field_lookup(field);
    if (!f || (unsigned)which > NVMX_HW_VMCS02)
        return NVMX_ERR_INVALID_ARGUMENT;
    if (h->fail_vmcs_write_at > 0 &&
        h->vmcs_writes[0] + h->vmcs_writes[1] + 1 == h->fail_vmcs_write_at)
        return NVMX_ERR_HOST;
    h->vmcs_writes[which]++;
    h->vmcs[which][f->ordinal] = value & vmcs_field_width_mask(f->encoding);
    return NVMX_OK;
}

static int msr_slot(const fake_host *h, uint32_t index)
{
    for (int i = 0; i < h->msr_count; i++) {
        if (h->msr_index[i] == index)
            return i;
    }
    return -1;
}

static bool msr_faults(const fake_host *h, uint32_t index)
{
    for (int i = 0; i < h->msr_faulting_count; i++) {
        if (h->msr_faulting[i] == index)
            return true;
    }
    return false;
}

static nvmx_status fake_msr_read(void *ctx, uint32_t index, uint64_t *value)
{
    fake_host *h = ctx;
    h->msr_reads++;
    int slot = msr_slot(h, index);
    if (slot < 0 || msr_faults(h, index))
        return NVMX_ERR_HOST;
    *value = h->msr_value[slot];
    return NVMX_OK;
}

static nvmx_status fake_msr_write(void *ctx, uint32_t index, uint64_t value)
{
    fake_host *h = ctx;
    if (msr_faults(h, index))
        return NVMX_ERR_HOST;
    if (h->msr_writes < FAKE_MAX_MSR_LOG)
        h->msr_write_log[h->msr_writes] = index;
    h->msr_writes++;
    fake_host_set_msr(h, index, value);
    return NVMX_OK;
}

void fake_host_set_msr(fake_host *h, uint32_t index, uint64_t value)
{
    int slot = msr_slot(h, index);
    if (slot < 0 && h->msr_count < FAKE_MAX_MSRS) {
        slot = h->msr_count++;
        h->msr_index[slot] = index;
    }
    if (slot >= 0)
        h->msr_value[slot] = value;
}

bool fake_host_get_msr(const fake_host *h, uint32_t index, uint64_t *value)
{
    int slot = msr_slot(h, index);
    if (slot < 0)
        return false;
    *value = h->msr_value[slot];
    return true;
}

void fake_host_fault_msr(fake_host *h, uint32_t index)
{
    if (h->msr_faulting_count < FAKE_MAX_MSRS)
        h->msr_faulting[h->msr_faulting_count++] = index;
}

static uint64_t fake_tsc_read(void *ctx)
{
    fake_host *h = ctx;
    h->tsc_reads++;
    return h->tsc;
}

static void *fake_page_alloc(void *ctx, uint64_t *host_phys)
{
    fake_host *h = ctx;
    h->page_allocs++;
    if (h->fail_page_at > 0 && h->page_allocs == h->fail_page_at)
        return NULL;
    void *page = aligned_alloc(4096, 4096);
    if (!page)
        return NULL;
    memset(page, 0, 4096);
    h->live_pages++;
    *host_phys = (uint64_t)(uintptr_t)page;
    return page;
}

static void fake_page_free(void *ctx, void *page, uint64_t host_phys)
{
    fake_host *h = ctx;
    if (!page || (uint64_t)(uintptr_t)page != host_phys) {
        fprintf(stderr, "fake_host: page_free of a page it did not allocate\n");
        abort();
    }
    h->live_pages--;
    free(page);
}

void *fake_host_page(uint64_t host_phys)
{
    return (void *)(uintptr_t)host_phys;
}

static nvmx_status fake_ept01_lookup(void *ctx, uint64_t l1_gpa, nvmx_ept01_mapping *out)
{
    fake_host *h = ctx;
    h->ept01_lookups++;
    uint64_t page = l1_gpa & ~0xFFFull;
    for (int i = 0; i < h->ept01_page_count; i++) {
        if (h->ept01_page[i] != page)
            continue;
        if (!h->ept01_entry[i].present)
            return NVMX_ERR_BAD_L1_ADDRESS;
        *out = h->ept01_entry[i].mapping;
        out->host_phys += l1_gpa & 0xFFFull; /* the op answers for the byte looked up */
        return NVMX_OK;
    }
    if (l1_gpa >= h->ram_size)
        return NVMX_ERR_BAD_L1_ADDRESS;
    *out = (nvmx_ept01_mapping){.host_phys = FAKE_EPT01_HOST_BASE + l1_gpa,
                                .page_size = 4096,
                                .read = true,
                                .write = true,
                                .execute = true,
                                .memory_type = 6};
    return NVMX_OK;
}

void fake_host_set_ept01(fake_host *h, uint64_t gpa, bool present,
                         const nvmx_ept01_mapping *mapping)
{
    uint64_t page = gpa & ~0xFFFull;
    int i = 0;
    while (i < h->ept01_page_count && h->ept01_page[i] != page)
        i++;
    if (i == FAKE_MAX_EPT01_PAGES) {
        fprintf(stderr, "fake_host: more than %d EPT01 overrides\n", FAKE_MAX_EPT01_PAGES);
        abort();
    }
    h->ept01_page[i] = page;
    h->ept01_entry[i].present = present;
    if (mapping)
        h->ept01_entry[i].mapping = *mapping;
    if (i == h->ept01_page_count)
        h->ept01_page_count++;
}

static void fake_tlb_flush(void *ctx, const nvmx_tlb_flush *request)
{
    fake_host *h = ctx;
    if (h->tlb_flush_count < FAKE_MAX_TLB_FLUSHES)
        h->tlb_flushes[h->tlb_flush_count] = *request;
    h->tlb_flush_count++;
}

static uint16_t fake_vpid_alloc(void *ctx)
{
    fake_host *h = ctx;
    uint16_t limit = h->vpid_limit ? h->vpid_limit : 0xFFFF;
    if (h->next_vpid >= limit)
        return 0;
    h->live_vpids++;
    return ++h->next_vpid;
}

static void fake_vpid_free(void *ctx, uint16_t vpid)
{
    fake_host *h = ctx;
    if (vpid == 0 || vpid > h->next_vpid) {
        fprintf(stderr, "fake_host: vpid_free of VPID %u it did not allocate\n", vpid);
        abort();
    }
    h->live_vpids--;
}

static const nvmx_host_ops fake_ops = {
    .tsc_read = fake_tsc_read,
    .page_alloc = fake_page_alloc,
    .page_free = fake_page_free,
    .ept01_lookup = fake_ept01_lookup,
    .l1_cmpxchg64 = fake_l1_cmpxchg64,
    .tlb_flush = fake_tlb_flush,
    .vpid_alloc = fake_vpid_alloc,
    .vpid_free = fake_vpid_free,
    .msr_read = fake_msr_read,
    .msr_write = fake_msr_write,
    .hw_vmcs_read = fake_hw_vmcs_read,
    .hw_vmcs_write = fake_hw_vmcs_write,
    .mem_alloc = fake_mem_alloc,
    .mem_free = fake_mem_free,
    .l1_read = fake_l1_read,
    .l1_write = fake_l1_write,
    .translate = fake_translate,
    .reg_get = fake_reg_get,
    .reg_set = fake_reg_set,
    .segment_get = fake_segment_get,
    .inject_exception = fake_inject_exception,
    .log = fake_log,
};

const nvmx_host_ops *fake_host_ops(void)
{
    return &fake_ops;
}

/* Access rights: present, S=1, type 0xB (code, execute/read, accessed) or 0x3 (data, r/w,
 * accessed). */
#define AR_CODE (NVMX_AR_TYPE_CODE_ER_ACCESSED | NVMX_AR_S | NVMX_AR_P)
#define AR_DATA (NVMX_AR_TYPE_DATA_RW_ACCESSED | NVMX_AR_S | NVMX_AR_P)

static void flat_segments(fake_host *h, uint32_t code_extra)
{
    for (int s = 0; s < NVMX_SEG_COUNT; s++)
        h->segs[s] = (nvmx_segment){.selector = 0x10,
                                    .base = 0,
                                    .limit = 0xFFFFFFFFu,
                                    .access_rights = AR_DATA | NVMX_AR_DB | NVMX_AR_G};
    h->segs[NVMX_SEG_CS] = (nvmx_segment){.selector = 0x08,
                                          .base = 0,
                                          .limit = 0xFFFFFFFFu,
                                          .access_rights = AR_CODE | NVMX_AR_G | code_extra};
    h->segs[NVMX_SEG_LDTR].access_rights = NVMX_AR_UNUSABLE;
    h->segs[NVMX_SEG_TR] = (nvmx_segment){.selector = 0x18,
                                          .base = 0,
                                          .limit = 0x67,
                                          .access_rights = NVMX_AR_TYPE_TSS_BUSY | NVMX_AR_P};
}

void fake_host_set_mode_long64(fake_host *h)
{
    h->regs[NVMX_REG_CR0] = 0x80000031ull; /* PG | NE | ET | PE */
    h->regs[NVMX_REG_CR4] |= 1ull << 5;    /* PAE */
    h->regs[NVMX_REG_EFER] = (1ull << 8) | (1ull << 10) | (1ull << 11);
    h->regs[NVMX_REG_RFLAGS] = 0x2;
    flat_segments(h, 1u << 13); /* CS.L */
}

void fake_host_set_mode_protected32(fake_host *h)
{
    h->regs[NVMX_REG_CR0] = 0x80000031ull;
    h->regs[NVMX_REG_EFER] = 0;
    h->regs[NVMX_REG_RFLAGS] = 0x2;
    flat_segments(h, 1u << 14); /* CS.D */
}

void fake_host_set_mode_compat(fake_host *h)
{
    fake_host_set_mode_long64(h);
    h->segs[NVMX_SEG_CS].access_rights = AR_CODE | (1u << 15) | (1u << 14); /* L=0, D=1 */
}

void fake_host_set_mode_v8086(fake_host *h)
{
    fake_host_set_mode_protected32(h);
    h->regs[NVMX_REG_RFLAGS] |= 1ull << 17;
}

void fake_host_set_mode_real(fake_host *h)
{
    h->regs[NVMX_REG_CR0] = 0x10;
    h->regs[NVMX_REG_EFER] = 0;
    h->regs[NVMX_REG_RFLAGS] = 0x2;
    flat_segments(h, 0);
}

void fake_host_set_cpl(fake_host *h, unsigned cpl)
{
    h->segs[NVMX_SEG_SS].access_rights = (h->segs[NVMX_SEG_SS].access_rights & ~0x60u) | (cpl << 5);
    h->segs[NVMX_SEG_CS].access_rights = (h->segs[NVMX_SEG_CS].access_rights & ~0x60u) | (cpl << 5);
    h->segs[NVMX_SEG_CS].selector = (uint16_t)((h->segs[NVMX_SEG_CS].selector & ~3u) | cpl);
    h->segs[NVMX_SEG_SS].selector = (uint16_t)((h->segs[NVMX_SEG_SS].selector & ~3u) | cpl);
}

void fake_host_init(fake_host *h, size_t ram_size)
{
    memset(h, 0, sizeof(*h));
    h->ram = calloc(1, ram_size);
    h->ram_size = ram_size;
    h->regs[NVMX_REG_CR4] = (1ull << 13); /* VMXE */
    fake_host_set_mode_long64(h);
    h->regs[NVMX_REG_RIP] = 0x100000;
}

void fake_host_fini(fake_host *h)
{
    free(h->ram);
    h->ram = NULL;
}

void fake_host_write32(fake_host *h, uint64_t gpa, uint32_t value)
{
    memcpy(h->ram + gpa, &value, 4);
}

void fake_host_write64(fake_host *h, uint64_t gpa, uint64_t value)
{
    memcpy(h->ram + gpa, &value, 8);
}

uint32_t fake_host_read32(const fake_host *h, uint64_t gpa)
{
    uint32_t v;
    memcpy(&v, h->ram + gpa, 4);
    return v;
}

uint64_t fake_host_read64(const fake_host *h, uint64_t gpa)
{
    uint64_t v;
    memcpy(&v, h->ram + gpa, 8);
    return v;
}
