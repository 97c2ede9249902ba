/* SPDX-License-Identifier: MIT */
/*
 * The synthetic L0: what an emulator host would give the library. vmcs01 and vmcs02 are plain
 * field arrays (indexed with the public nvmx_vmcs_field_index), the running guest's RIP, RSP,
 * RFLAGS, CR0/3/4, EFER and segments are the guest-state fields of the VMCS that runs it, as
 * on a hardware host, and L1's memory is a buffer with identity paging. Every op is counted.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field slots resolved once: the register and segment ops run on every instruction. */
static struct {
    int reg[NVMX_REG_COUNT];    /* -1: a GPR, kept in bench_host.gpr */
    int seg[NVMX_SEG_COUNT][4]; /* selector, base, limit, access rights */
} slots;

static const uint32_t reg_fields[NVMX_REG_COUNT] = {
    [NVMX_REG_RSP] = NVMX_FIELD_GUEST_RSP,        [NVMX_REG_RIP] = NVMX_FIELD_GUEST_RIP,
    [NVMX_REG_RFLAGS] = NVMX_FIELD_GUEST_RFLAGS,  [NVMX_REG_CR0] = NVMX_FIELD_GUEST_CR0,
    [NVMX_REG_CR3] = NVMX_FIELD_GUEST_CR3,        [NVMX_REG_CR4] = NVMX_FIELD_GUEST_CR4,
    [NVMX_REG_EFER] = NVMX_FIELD_GUEST_IA32_EFER,
};

#define SEG_FIELDS(s)                                                                              \
    {                                                                                              \
        NVMX_FIELD_GUEST_##s##_SELECTOR, NVMX_FIELD_GUEST_##s##_BASE,                              \
            NVMX_FIELD_GUEST_##s##_LIMIT, NVMX_FIELD_GUEST_##s##_AR_BYTES                          \
    }
static const uint32_t seg_fields[NVMX_SEG_COUNT][4] = {
    SEG_FIELDS(ES), SEG_FIELDS(CS), SEG_FIELDS(SS),   SEG_FIELDS(DS),
    SEG_FIELDS(FS), SEG_FIELDS(GS), SEG_FIELDS(LDTR), SEG_FIELDS(TR),
};

static void resolve_slots(void)
{
    for (int r = 0; r < NVMX_REG_COUNT; r++)
        slots.reg[r] = reg_fields[r] ? nvmx_vmcs_field_index(reg_fields[r]) : -1;
    for (int s = 0; s < NVMX_SEG_COUNT; s++) {
        for (int i = 0; i < 4; i++)
            slots.seg[s][i] = nvmx_vmcs_field_index(seg_fields[s][i]);
    }
}

static void *host_alloc(void *ctx, size_t size)
{
    bench_host *h = ctx;
    h->counts.allocs++;
    void *p = aligned_alloc(16, (size + 15) & ~(size_t)15);
    if (p)
        h->live_allocations++;
    return p;
}

static void host_free(void *ctx, void *ptr, size_t size)
{
    bench_host *h = ctx;
    (void)size;
    if (!ptr)
        return;
    h->counts.frees++;
    h->live_allocations--;
    free(ptr);
}

static bool in_ram(uint64_t gpa, size_t len)
{
    return gpa <= BENCH_RAM_SIZE && len <= BENCH_RAM_SIZE - gpa;
}

static nvmx_status host_l1_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    bench_host *h = ctx;
    h->counts.mem_ops++;
    if (!in_ram(gpa, len))
        return NVMX_ERR_BAD_L1_ADDRESS;
    memcpy(buf, h->ram + gpa, len);
    return NVMX_OK;
}

static nvmx_status host_l1_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    bench_host *h = ctx;
    h->counts.mem_ops++;
    if (!in_ram(gpa, len))
        return NVMX_ERR_BAD_L1_ADDRESS;
    memcpy(h->ram + gpa, buf, len);
    return NVMX_OK;
}

/* Pages for vmcs02's merged MSR bitmap; host_phys is the pointer. Not mem_alloc: not counted
 * as allocations, but a page left at the end is a leak. */
static void *host_page_alloc(void *ctx, uint64_t *host_phys)
{
    bench_host *h = ctx;
    void *page = aligned_alloc(4096, 4096);
    if (!page)
        return NULL;
    memset(page, 0, 4096);
    h->live_allocations++;
    *host_phys = (uint64_t)(uintptr_t)page;
    return page;
}

static void host_page_free(void *ctx, void *page, uint64_t host_phys)
{
    bench_host *h = ctx;
    (void)host_phys;
    h->live_allocations--;
    free(page);
}

/* EPT01: L1's guest-physical space below 4 GiB is backed by host memory at a fixed offset in
 * 2 MiB pages, read/write/execute, write-back. Nothing dereferences these host addresses: EPT02
 * leaves only point at them. */
#define EPT01_HOST_BASE (1ull << 40)
#define EPT01_PAGE (2ull << 20)
#define EPT01_LIMIT (4ull << 30)
#define EPT_MEMTYPE_WB 6

static nvmx_status host_ept01_lookup(void *ctx, uint64_t l1_gpa, nvmx_ept01_mapping *out)
{
    bench_host *h = ctx;
    h->counts.mem_ops++;
    if (l1_gpa >= EPT01_LIMIT)
        return NVMX_ERR_BAD_L1_ADDRESS;
    *out = (nvmx_ept01_mapping){.host_phys = EPT01_HOST_BASE + l1_gpa,
                                .page_size = EPT01_PAGE,
                                .read = true,
                                .write = true,
                                .execute = true,
                                .memory_type = EPT_MEMTYPE_WB};
    return NVMX_OK;
}

/* No TLB to flush: counted, as a hardware host's INVEPT would be. */
static void host_tlb_flush(void *ctx, const nvmx_tlb_flush *request)
{
    bench_host *h = ctx;
    (void)request;
    h->counts.tlb_flushes++;
}

/* L1 and L2 both run with identity paging over L1's memory. */
static nvmx_status host_translate(void *ctx, uint64_t linear, nvmx_access access, uint64_t *gpa,
                                  nvmx_exception *fault)
{
    bench_host *h = ctx;
    (void)access;
    (void)fault;
    h->counts.mem_ops++;
    *gpa = linear;
    return NVMX_OK;
}

static uint64_t host_reg_get(void *ctx, nvmx_reg reg)
{
    bench_host *h = ctx;
    h->counts.reg_ops++;
    int slot = slots.reg[reg];
    return slot >= 0 ? h->vmcs[h->running][slot] : h->gpr[reg];
}

static void host_reg_set(void *ctx, nvmx_reg reg, uint64_t value)
{
    bench_host *h = ctx;
    h->counts.reg_ops++;
    int slot = slots.reg[reg];
    if (slot >= 0)
        h->vmcs[h->running][slot] = value;
    else
        h->gpr[reg] = value;
}

static void host_segment_get(void *ctx, nvmx_seg seg, nvmx_segment *out)
{
    bench_host *h = ctx;
    h->counts.reg_ops++;
    const uint64_t *v = h->vmcs[h->running];
    const int *s = slots.seg[seg];
    *out = (nvmx_segment){.selector = (uint16_t)v[s[0]],
                          .base = v[s[1]],
                          .limit = (uint32_t)v[s[2]],
                          .access_rights = (uint32_t)v[s[3]]};
}

static void host_inject(void *ctx, const nvmx_exception *exception)
{
    bench_host *h = ctx;
    h->counts.exceptions++;
    snprintf(h->last_log, sizeof(h->last_log), "exception %u injected into the running guest",
             exception->vector);
}

static void host_log(void *ctx, nvmx_log_level level, const char *message)
{
    bench_host *h = ctx;
    (void)level;
    snprintf(h->last_log, sizeof(h->last_log), "%s", message);
}

/* SDM 25.11.2: the high-access encoding of a 64-bit field reaches its upper 32 bits. */
static nvmx_status host_vmcs_read(void *ctx, nvmx_hw_vmcs which, uint32_t field, uint64_t *value)
{
    bench_host *h = ctx;
    int slot = nvmx_vmcs_field_index(field);
    if (slot < 0 || (unsigned)which > NVMX_HW_VMCS02)
        return NVMX_ERR_INVALID_ARGUMENT;
    h->counts.vmcs_reads[which]++;
    uint64_t stored = h->vmcs[which][slot];
    *value = NVMX_FIELD_HIGH_ACCESS(field) ? stored >> 32 : stored;
    return NVMX_OK;
}

static nvmx_status host_vmcs_write(void *ctx, nvmx_hw_vmcs which, uint32_t field, uint64_t value)
{
    bench_host *h = ctx;
    int slot = nvmx_vmcs_field_index(field);
    if (slot < 0 || (unsigned)which > NVMX_HW_VMCS02)
        return NVMX_ERR_INVALID_ARGUMENT;
    h->counts.vmcs_writes[which]++;
    uint64_t *stored = &h->vmcs[which][slot];
    if (NVMX_FIELD_HIGH_ACCESS(field))
        *stored = (*stored & 0xFFFFFFFFull) | (value << 32);
    else
        *stored = value & NVMX_FIELD_WIDTH_MASK(field);
    return NVMX_OK;
}

static const nvmx_host_ops ops = {
    .mem_alloc = host_alloc,
    .mem_free = host_free,
    .l1_read = host_l1_read,
    .l1_write = host_l1_write,
    .translate = host_translate,
    .reg_get = host_reg_get,
    .reg_set = host_reg_set,
    .segment_get = host_segment_get,
    .inject_exception = host_inject,
    .hw_vmcs_read = host_vmcs_read,
    .hw_vmcs_write = host_vmcs_write,
    .page_alloc = host_page_alloc,
    .page_free = host_page_free,
    .ept01_lookup = host_ept01_lookup,
    .tlb_flush = host_tlb_flush,
    .log = host_log,
};

const nvmx_host_ops *bench_host_ops(void)
{
    return &ops;
}

bool bench_host_init(bench_host *h)
{
    memset(h, 0, sizeof(*h));
    resolve_slots();
    unsigned fields = nvmx_vmcs_field_count();
    h->ram = calloc(1, BENCH_RAM_SIZE);
    h->vmcs[0] = calloc(fields, sizeof(uint64_t));
    h->vmcs[1] = calloc(fields, sizeof(uint64_t));
    h->running = NVMX_HW_VMCS01;
    return h->ram && h->vmcs[0] && h->vmcs[1];
}

void bench_host_fini(bench_host *h)
{
    free(h->ram);
    free(h->vmcs[0]);
    free(h->vmcs[1]);
    h->ram = NULL;
    h->vmcs[0] = h->vmcs[1] = NULL;
}

uint64_t bench_host_vmcs_get(const bench_host *h, nvmx_hw_vmcs which, uint32_t field)
{
    return h->vmcs[which][nvmx_vmcs_field_index(field)];
}

void bench_host_vmcs_set(bench_host *h, nvmx_hw_vmcs which, uint32_t field, uint64_t value)
{
    h->vmcs[which][nvmx_vmcs_field_index(field)] = value & NVMX_FIELD_WIDTH_MASK(field);
}

void bench_host_write64(bench_host *h, uint64_t gpa, uint64_t value)
{
    memcpy(h->ram + gpa, &value, sizeof(value));
}

uint64_t bench_host_reg(const bench_host *h, nvmx_reg reg)
{
    int slot = slots.reg[reg];
    return slot >= 0 ? h->vmcs[h->running][slot] : h->gpr[reg];
}
