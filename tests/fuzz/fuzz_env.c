/* SPDX-License-Identifier: MIT */
#include "fuzz_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exits/vm_exit.h"

/* ---- The input as a script ------------------------------------------------------------ */

bool fuzz_more(const fuzz_input *in)
{
    return in->pos < in->size;
}

static uint64_t take(fuzz_input *in, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        uint64_t b = in->pos < in->size ? in->data[in->pos++] : 0;
        v |= b << (8 * i);
    }
    return v;
}

uint8_t fuzz_u8(fuzz_input *in)
{
    return (uint8_t)take(in, 1);
}
uint16_t fuzz_u16(fuzz_input *in)
{
    return (uint16_t)take(in, 2);
}
uint32_t fuzz_u32(fuzz_input *in)
{
    return (uint32_t)take(in, 4);
}
uint64_t fuzz_u64(fuzz_input *in)
{
    return take(in, 8);
}

void fuzz_bytes(fuzz_input *in, void *buf, size_t n)
{
    uint8_t *out = buf;
    for (size_t i = 0; i < n; i++)
        out[i] = fuzz_u8(in);
}

uint64_t fuzz_value(fuzz_input *in)
{
    switch (fuzz_u8(in) % 7) {
    case 0:
        return fuzz_u8(in);
    case 1:
        return (uint64_t)fuzz_u16(in) << 12; /* a page of (or beyond) the 16 MiB of L1 RAM */
    case 2:
        return ~0ull;
    case 3:
        return 1ull << (fuzz_u8(in) % 64);
    case 4:
        return fuzz_u32(in);
    case 5:
        return fuzz_u64(in);
    default:
        /* Bit 31 "valid" and low fields: interruption information (SDM 25.8.3, 28.2.2). */
        return 0x80000000u | fuzz_u16(in);
    }
}

uint64_t fuzz_pointer(fuzz_input *in)
{
    static const uint64_t known[] = {VMXON_REGION,
                                     VMCS_A,
                                     VMCS_B,
                                     VMCS_C,
                                     SHADOW_VMCS,
                                     OPERAND,
                                     HARNESS_RAM - 4096,
                                     VMREAD_BITMAP_GPA,
                                     VMWRITE_BITMAP_GPA};
    uint8_t how = fuzz_u8(in);
    if (how < 192)
        return known[how % (sizeof(known) / sizeof(known[0]))];
    return fuzz_value(in);
}

_Noreturn void fuzz_violation(const char *invariant, const char *detail, uint64_t value)
{
    fprintf(stderr, "INVARIANT VIOLATED: %s\n  (%s; value %#llx)\n", invariant, detail,
            (unsigned long long)value);
    abort();
}

/* ---- EPT01 model and page tracking ------------------------------------------------------ */

static fuzz_ept01_region regions[FUZZ_EPT01_REGIONS];
static uint64_t region_generation;
static nvmx_host_ops ops;

/* Pages from page_alloc that are live. A vCPU holds at most max_ept02_pages of them; the
 * record grows as needed (test code). */
static void **pages;
static size_t page_count, page_capacity;

static void *(*fake_page_alloc)(void *, uint64_t *);
static void (*fake_page_free)(void *, void *, uint64_t);

static void *tracked_page_alloc(void *ctx, uint64_t *host_phys)
{
    void *page = fake_page_alloc(ctx, host_phys);
    if (!page)
        return NULL;
    if (page_count == page_capacity) {
        page_capacity = page_capacity ? 2 * page_capacity : 64;
        pages = realloc(pages, page_capacity * sizeof(*pages));
        if (!pages)
            abort();
    }
    pages[page_count++] = page;
    return page;
}

static void tracked_page_free(void *ctx, void *page, uint64_t host_phys)
{
    for (size_t i = 0; i < page_count; i++) {
        if (pages[i] == page) {
            pages[i] = pages[--page_count];
            fake_page_free(ctx, page, host_phys);
            return;
        }
    }
    fuzz_violation("page_free only of live pages from page_alloc", "unknown page", host_phys);
}

static bool page_live(uint64_t host_phys)
{
    for (size_t i = 0; i < page_count; i++) {
        if ((uint64_t)(uintptr_t)pages[i] == host_phys)
            return true;
    }
    return false;
}

/* The region that translates l1_gpa (the lowest slot covering it), or -1 for the default. */
static int region_of(uint64_t l1_gpa)
{
    for (int i = 0; i < FUZZ_EPT01_REGIONS; i++) {
        const fuzz_ept01_region *r = &regions[i];
        if (r->used && l1_gpa >= r->l1_base && l1_gpa - r->l1_base < r->size)
            return i;
    }
    return -1;
}

nvmx_status fuzz_ept01_lookup(void *ctx, uint64_t l1_gpa, nvmx_ept01_mapping *out)
{
    fake_host *h = ctx;
    h->ept01_lookups++;
    int i = region_of(l1_gpa);
    if (i < 0) {
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
    const fuzz_ept01_region *r = &regions[i];
    if (!r->present)
        return NVMX_ERR_BAD_L1_ADDRESS;
    *out = (nvmx_ept01_mapping){.host_phys = r->host_base + (l1_gpa - r->l1_base),
                                .page_size = r->size,
                                .read = r->read,
                                .write = r->write,
                                .execute = r->execute,
                                .memory_type = r->memory_type};
    return NVMX_OK;
}

void fuzz_ept01_set(unsigned slot, const fuzz_ept01_region *region, uint64_t changed[2][2])
{
    fuzz_ept01_region *r = &regions[slot % FUZZ_EPT01_REGIONS];
    changed[0][0] = r->used ? r->l1_base : 0;
    changed[0][1] = r->used ? r->size : 0;
    *r = *region;
    if (r->used)
        r->host_base = FUZZ_EPT01_REGION_HOST + (region_generation++ << 30);
    changed[1][0] = r->used ? r->l1_base : 0;
    changed[1][1] = r->used ? r->size : 0;
}

static nvmx_status fuzz_cmpxchg64(void *ctx, uint64_t gpa, uint64_t expected, uint64_t desired)
{
    fake_host *h = ctx;
    h->l1_reads++;
    if (gpa > h->ram_size - 8)
        return NVMX_ERR_BAD_L1_ADDRESS;
    if (fake_host_read64(h, gpa) != expected)
        return NVMX_ERR_STATE;
    fake_host_write64(h, gpa, desired);
    return NVMX_OK;
}

const nvmx_host_ops *fuzz_host_ops(void)
{
    if (!fake_page_alloc) {
        ops = *fake_host_ops();
        fake_page_alloc = ops.page_alloc;
        fake_page_free = ops.page_free;
        ops.page_alloc = tracked_page_alloc;
        ops.page_free = tracked_page_free;
        ops.ept01_lookup = fuzz_ept01_lookup;
        ops.l1_cmpxchg64 = fuzz_cmpxchg64;
    }
    return &ops;
}

void fuzz_host_reset(void)
{
    memset(regions, 0, sizeof(regions));
    region_generation = 0;
    page_count = 0;
}

/* ---- EPT02 tables (SDM 29.3.2: bits 2:0 RWX, not present when all 0; 5:3 memory type and
 * 7 page size in leaves; 51:12 address) -------------------------------------------------- */

#define EPT_ADDR_MASK 0x000FFFFFFFFFF000ull
#define EPT_RWX 7ull

/* The EPT01 translation a leaf mapping [host, host + size) with permissions perms must come
 * from: one region (or the default 1:1 map) gives exactly that host range for one L1 range,
 * nothing of higher priority covers part of it, and it allows at least perms. */
static void check_leaf(uint64_t entry, uint64_t size)
{
    uint64_t host = entry & EPT_ADDR_MASK & ~(size - 1);
    uint64_t l1;
    int owner = -2;
    bool r = true, w = true, x = true;
    uint8_t type = 6;
    for (int i = 0; i < FUZZ_EPT01_REGIONS; i++) {
        const fuzz_ept01_region *g = &regions[i];
        if (g->used && g->present && host >= g->host_base && host - g->host_base < g->size) {
            FUZZ_REQUIRE(host - g->host_base <= g->size - size,
                         "EPT02 leaf within one EPT01 page (SDM 29.3.2)", host);
            owner = i;
            l1 = g->l1_base + (host - g->host_base);
            r = g->read, w = g->write, x = g->execute, type = g->memory_type;
        }
    }
    if (owner == -2) {
        FUZZ_REQUIRE(host >= FAKE_EPT01_HOST_BASE && host - FAKE_EPT01_HOST_BASE < HARNESS_RAM &&
                         size == 4096,
                     "EPT02 leaf maps a host address EPT01 gives", host);
        owner = -1;
        l1 = host - FAKE_EPT01_HOST_BASE;
    }
    /* Every 4-KiB piece of [l1, l1 + size) must be translated by that owner (no region of a
     * lower slot covers part of it): checked at the ends and at each region boundary inside. */
    FUZZ_REQUIRE(region_of(l1) == owner && region_of(l1 + size - 1) == owner,
                 "EPT02 leaf maps what EPT01 gives for that L1 address now", host);
    for (int i = 0; i < owner || (owner < 0 && i < FUZZ_EPT01_REGIONS); i++) {
        const fuzz_ept01_region *g = &regions[i];
        FUZZ_REQUIRE(!g->used || g->l1_base >= l1 + size || g->l1_base + g->size <= l1,
                     "EPT02 leaf maps what EPT01 gives for that L1 address now", host);
    }
    FUZZ_REQUIRE(!(entry & 1) || r, "EPT02 leaf readable only if EPT01 is", entry);
    FUZZ_REQUIRE(!(entry & 2) || w, "EPT02 leaf writable only if EPT01 is", entry);
    FUZZ_REQUIRE(!(entry & 4) || x, "EPT02 leaf executable only if EPT01 is", entry);
    FUZZ_REQUIRE(type != 0 || ((entry >> 3) & 7) == 0, "EPT02 leaf UC where EPT01 is UC", entry);
}

static void check_table(uint64_t hpa, unsigned level)
{
    const uint64_t *t = fake_host_page(hpa);
    for (unsigned i = 0; i < 512; i++) {
        uint64_t e = t[i];
        if (!(e & EPT_RWX))
            continue; /* not present: the processor ignores bits 63:3 (SDM 29.3.2) */
        bool large = (e >> 7) & 1;
        FUZZ_REQUIRE(!large || level == 2 || level == 3, "EPT02 large pages at levels 2-3 only", e);
        if (level == 1 || large) {
            check_leaf(e, 1ull << (12 + 9 * (level - 1)));
            continue;
        }
        FUZZ_REQUIRE(page_live(e & EPT_ADDR_MASK), "EPT02 tables point at live tables", e);
        check_table(e & EPT_ADDR_MASK, level - 1);
    }
}

static bool referenced(uint64_t hpa)
{
    for (size_t p = 0; p < page_count; p++) {
        const uint64_t *t = pages[p];
        for (unsigned i = 0; i < 512; i++) {
            if ((t[i] & EPT_RWX) && (t[i] & EPT_ADDR_MASK) == hpa)
                return true;
        }
    }
    return false;
}

void fuzz_check_ept02_tables(const fake_host *host)
{
    (void)host;
    for (size_t p = 0; p < page_count; p++) {
        uint64_t hpa = (uint64_t)(uintptr_t)pages[p];
        if (!referenced(hpa))
            check_table(hpa, 4); /* a root: EPT02 is always 4 levels (ept02.h) */
    }
}

bool fuzz_ept02_leaf(uint64_t root_hpa, uint64_t l2_gpa, uint64_t *entry, uint64_t *size)
{
    uint64_t hpa = root_hpa & EPT_ADDR_MASK;
    for (unsigned level = 4; level >= 1; level--) {
        if (!page_live(hpa))
            return false;
        const uint64_t *t = fake_host_page(hpa);
        uint64_t e = t[(l2_gpa >> (12 + 9 * (level - 1))) & 511];
        if (!(e & EPT_RWX))
            return false;
        if (level == 1 || ((e >> 7) & 1)) {
            *entry = e;
            *size = 1ull << (12 + 9 * (level - 1));
            return true;
        }
        hpa = e & EPT_ADDR_MASK;
    }
    return false;
}

/* ---- The environment ------------------------------------------------------------------- */

/* L0's host state in vmcs01 and vmcs02: a value per field no vmcs12 of the scripts holds. */
static uint64_t l0_host_value(unsigned ordinal)
{
    return (0x4C30F00D00000000ull | (ordinal * 0x1001u)) &
           vmcs_field_width_mask(vmcs_field_table[ordinal].encoding);
}

static bool is_host_field(unsigned ordinal)
{
    return NVMX_FIELD_TYPE(vmcs_field_table[ordinal].encoding) == NVMX_FIELD_TYPE_HOST;
}

/* vmcs02 fields the processor reads as host-physical addresses (SDM 25.6: bitmaps, MSR lists,
 * APIC pages, descriptors, EPTP and its list, PML, SPP, HLAT, PASID, IPI tables): L1's values
 * are guest-physical, so vmcs02 may hold only L0's value or a page the library got from
 * page_alloc (an EPT02 root, a merged bitmap), never a value of vmcs12. */
static const uint16_t vmcs02_host_pointers[] = {
    VMCS12_ORD_IO_BITMAP_A,
    VMCS12_ORD_IO_BITMAP_B,
    VMCS12_ORD_MSR_BITMAP,
    VMCS12_ORD_VM_EXIT_MSR_STORE_ADDR,
    VMCS12_ORD_VM_EXIT_MSR_LOAD_ADDR,
    VMCS12_ORD_VM_ENTRY_MSR_LOAD_ADDR,
    VMCS12_ORD_EXECUTIVE_VMCS_POINTER,
    VMCS12_ORD_PML_ADDRESS,
    VMCS12_ORD_VIRTUAL_APIC_PAGE_ADDR,
    VMCS12_ORD_APIC_ACCESS_ADDR,
    VMCS12_ORD_POSTED_INTR_DESC_ADDR,
    VMCS12_ORD_EPT_POINTER,
    VMCS12_ORD_EPTP_LIST_ADDRESS,
    VMCS12_ORD_VMREAD_BITMAP,
    VMCS12_ORD_VMWRITE_BITMAP,
    VMCS12_ORD_VE_INFORMATION_ADDRESS,
    VMCS12_ORD_SPPT_POINTER,
    VMCS12_ORD_LOW_PASID_DIRECTORY_ADDR,
    VMCS12_ORD_HIGH_PASID_DIRECTORY_ADDR,
    VMCS12_ORD_HLAT_POINTER,
    VMCS12_ORD_PID_POINTER_TABLE,
};

/* L0's needs in vmcs02 (nvmx_l0_controls): none, a typical hardware host (external
 * interrupts, HLT, EPT, #PF and #MC, CR0.PG/CR4.VMXE owned), and one that wants much more. */
static const nvmx_l0_controls l0_presets[] = {
    {0},
    {.pin = NVMX_CTL(EXT_INTR_EXITING),
     .proc = NVMX_CTL(HLT_EXITING),
     .proc2 = NVMX_CTL(EPT),
     .exit = NVMX_CTL(EXIT_HOST_ADDR_SPACE),
     .exception_bitmap = (1u << 14) | (1u << 18),
     .cr0_guest_host_mask = NVMX_CR0_PG,
     .cr4_guest_host_mask = NVMX_CR4_VMXE},
    {.pin = NVMX_CTL(EXT_INTR_EXITING) | NVMX_CTL(NMI_EXITING) | NVMX_CTL(VIRTUAL_NMIS),
     .proc = NVMX_CTL(CR3_LOAD_EXITING) | NVMX_CTL(RDTSC_EXITING) | NVMX_CTL(MOV_DR_EXITING) |
             NVMX_CTL(TSC_OFFSETTING),
     .proc2 = NVMX_CTL(EPT) | NVMX_CTL(VPID) | NVMX_CTL(UNRESTRICTED_GUEST),
     .exit = NVMX_CTL(EXIT_HOST_ADDR_SPACE) | NVMX_CTL(EXIT_ACK_INTR),
     .exception_bitmap = 1u << 6,
     .cr0_guest_host_mask = NVMX_CR0_PG | NVMX_CR0_NE,
     .cr4_guest_host_mask = NVMX_CR4_VMXE | NVMX_CR4_PAE},
};

void fuzz_env_init(fuzz_env *e, fuzz_input *in, bool nested)
{
    memset(e, 0, sizeof(*e));
    fuzz_host_reset();
    uint8_t setup = fuzz_u8(in);
    nvmx_vm_config_init(&e->config);
    e->config.l0 = l0_presets[setup % 3];
    e->config.max_cached_vmcs = 1u + ((setup >> 2) & 3u); /* 1-4: eviction is reachable */
    e->config.phys_addr_width = (setup & 0x10) ? 36 : 46;
    e->config.max_ept02_pages = NVMX_MIN_EPT02_PAGES;
    if (nested)
        sec_nested_init(&e->h, &e->config, fuzz_host_ops());
    else {
        sec_init(&e->h, &e->config, fuzz_host_ops());
        harness_l1_into_vmcs01(&e->h);
    }
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        if (is_host_field(i)) {
            e->h.host.vmcs[NVMX_HW_VMCS01][i] = l0_host_value(i);
            e->h.host.vmcs[NVMX_HW_VMCS02][i] = l0_host_value(i);
        }
    }
    for (size_t i = 0; i < sizeof(vmcs02_host_pointers) / sizeof(vmcs02_host_pointers[0]); i++)
        e->h.host.vmcs[NVMX_HW_VMCS02][vmcs02_host_pointers[i]] =
            l0_host_value(vmcs02_host_pointers[i]);
    e->h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VIRTUAL_PROCESSOR_ID] =
        l0_host_value(VMCS12_ORD_VIRTUAL_PROCESSOR_ID);
    e->h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VMCS_LINK_POINTER] =
        l0_host_value(VMCS12_ORD_VMCS_LINK_POINTER);
    /* Bounds of one step (fuzz_env_step): a VM entry whose MSR-load list fails exits with the
     * VM-exit MSR-load list (SDM 27.8), and a VM exit stores then loads (28.4, 28.6), each list
     * cut at IA32_VMX_MISC's recommended maximum plus the failing entry (msr_lists.c); 64
     * more for the operand (two pages), the VMCS region, link pointer, PDPTEs, bitmap bytes
     * and EPT walks, each read once per decision (docs/SECURITY.md, invariant 3). */
    long list = (long)msr_list_max_entries(e->h.vm) + 1;
    e->max_reads = 2 * list + 64;
    e->max_writes = 2 * list + 64;
}

void fuzz_env_fini(fuzz_env *e)
{
    nvmx_vcpu_destroy(e->h.vcpu);
    nvmx_vm_destroy(e->h.vm);
    const fake_host *host = &e->h.host;
    FUZZ_REQUIRE(host->live_allocations == 0, "allocations balance after destroy",
                 host->live_allocations);
    FUZZ_REQUIRE(host->live_bytes == 0, "allocated bytes balance after destroy", host->live_bytes);
    FUZZ_REQUIRE(host->live_pages == 0, "pages balance after destroy", host->live_pages);
    FUZZ_REQUIRE(page_count == 0, "pages balance after destroy", page_count);
    FUZZ_REQUIRE(host->live_vpids == 0, "VPIDs balance after destroy", host->live_vpids);
    fake_host_fini(&e->h.host);
}

/* vmcs02's control fields hold only L0's needs, the allowed-1 settings exposed to L1 and
 * what the library as L0 always sets (SDM A.3-A.5; lib/vmcs/vmcs02.c). */
static void check_within(uint64_t value, uint64_t capability, uint64_t l0, uint64_t library,
                         const char *what)
{
    uint64_t allowed = (capability >> 32) | l0 | library;
    FUZZ_REQUIRE((value & ~allowed) == 0, what, value & ~allowed);
}

static void check_vmcs02_controls(const fuzz_env *e)
{
    const uint64_t *v = e->h.host.vmcs[NVMX_HW_VMCS02];
    const nvmx_vmx_caps *caps = &e->h.vm->caps;
    const nvmx_l0_controls *l0 = &e->config.l0;
    uint64_t pin = v[VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL];
    uint64_t proc = v[VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL];
    uint64_t proc2 = v[VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL];
    uint64_t exit = v[VMCS12_ORD_VM_EXIT_CONTROLS];
    uint64_t entry = v[VMCS12_ORD_VM_ENTRY_CONTROLS];
    check_within(pin, caps->pinbased, l0->pin, 0,
                 "vmcs02 pin-based controls within L0 | allowed-1");
    check_within(proc, caps->procbased, l0->proc,
                 NVMX_CTL(UNCOND_IO_EXITING) | NVMX_CTL(SECONDARY_CONTROLS),
                 "vmcs02 processor-based controls within L0 | allowed-1");
    check_within(proc2, caps->procbased2, l0->proc2, 0,
                 "vmcs02 secondary controls within L0 | allowed-1");
    check_within(exit, caps->exit, l0->exit,
                 NVMX_CTL(EXIT_SAVE_DEBUG) | NVMX_CTL(EXIT_SAVE_PAT) | NVMX_CTL(EXIT_SAVE_EFER),
                 "vmcs02 VM-exit controls within L0 | allowed-1");
    check_within(entry, caps->entry, 0,
                 NVMX_CTL(ENTRY_LOAD_DEBUG) | NVMX_CTL(ENTRY_LOAD_PAT) | NVMX_CTL(ENTRY_LOAD_EFER),
                 "vmcs02 VM-entry controls within allowed-1");
    FUZZ_REQUIRE(!(entry & (NVMX_CTL(ENTRY_SMM) | NVMX_CTL(ENTRY_DEACT_DUAL_MONITOR))),
                 "vmcs02 never enters SMM", entry);
    /* Every I/O and MSR access of L2 exits to L0, which applies L1's bitmaps; L1's shadow VMCS
     * is emulated, never given to hardware (docs/SECURITY.md, invariant 5). */
    FUZZ_REQUIRE(!(proc & (NVMX_CTL(IO_BITMAPS) | NVMX_CTL(MSR_BITMAPS))),
                 "vmcs02 has no I/O or MSR bitmaps", proc);
    FUZZ_REQUIRE(!(proc2 & NVMX_CTL(SHADOW_VMCS)), "vmcs02 has no shadow VMCS", proc2);
    if (!e->h.vcpu->guest_mode)
        return;
    /* While L2 runs, nothing L0 needs was dropped (CVE-2017-12154 class). */
    FUZZ_REQUIRE((pin & l0->pin) == l0->pin, "vmcs02 keeps L0's pin-based controls", pin);
    FUZZ_REQUIRE((proc & l0->proc) == l0->proc, "vmcs02 keeps L0's processor-based controls", proc);
    FUZZ_REQUIRE((proc2 & l0->proc2) == l0->proc2, "vmcs02 keeps L0's secondary controls", proc2);
    FUZZ_REQUIRE(!proc2 || (proc & NVMX_CTL(SECONDARY_CONTROLS)),
                 "vmcs02 activates its secondary controls", proc);
    FUZZ_REQUIRE((exit & l0->exit) == l0->exit, "vmcs02 keeps L0's VM-exit controls", exit);
    uint64_t bitmap = v[VMCS12_ORD_EXCEPTION_BITMAP];
    FUZZ_REQUIRE((bitmap & l0->exception_bitmap) == l0->exception_bitmap,
                 "vmcs02 keeps L0's exception bitmap", bitmap);
    uint64_t cr0 = v[VMCS12_ORD_CR0_GUEST_HOST_MASK], cr4 = v[VMCS12_ORD_CR4_GUEST_HOST_MASK];
    FUZZ_REQUIRE((cr0 & l0->cr0_guest_host_mask) == l0->cr0_guest_host_mask,
                 "vmcs02 keeps L0's CR0 guest/host mask", cr0);
    FUZZ_REQUIRE((cr4 & l0->cr4_guest_host_mask) == l0->cr4_guest_host_mask,
                 "vmcs02 keeps L0's CR4 guest/host mask", cr4);
}

/* vmcs01's and vmcs02's host-state areas are L0's: never a value from vmcs12. */
static void check_l0_host_state(const fuzz_env *e)
{
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        if (!is_host_field(i))
            continue;
        FUZZ_REQUIRE(e->h.host.vmcs[NVMX_HW_VMCS02][i] == l0_host_value(i),
                     "vmcs02 host state is L0's", i);
        FUZZ_REQUIRE(e->h.host.vmcs[NVMX_HW_VMCS01][i] == l0_host_value(i),
                     "vmcs01 host state is L0's", i);
    }
}

static void clear_host_failures(fake_host *h);

/* Pointers and tags of vmcs02 are L0's or the library's own (vmcs02_host_pointers): the
 * VPID is L0's or one vpid_alloc gave; the link pointer L0's or ~0 (the library emulates
 * L1's shadow VMCS, SDM 25.10). */
static void check_vmcs02_pointers(const fuzz_env *e)
{
    const uint64_t *v = e->h.host.vmcs[NVMX_HW_VMCS02];
    for (size_t i = 0; i < sizeof(vmcs02_host_pointers) / sizeof(vmcs02_host_pointers[0]); i++) {
        unsigned o = vmcs02_host_pointers[i];
        /* vmcs02's EPTP may also be vmcs01's (EPT01: L2 without EPT in vmcs12 runs in L1's
         * guest-physical space when L0 uses EPT, lib/vmcs/vmcs02.c vmcs02_write_eptp). */
        bool ept01 = o == VMCS12_ORD_EPT_POINTER && v[o] == e->h.host.vmcs[NVMX_HW_VMCS01][o];
        FUZZ_REQUIRE(v[o] == l0_host_value(o) || ept01 || page_live(v[o] & EPT_ADDR_MASK),
                     "vmcs02 host-physical pointers are L0's or library pages", o);
    }
    uint64_t vpid = v[VMCS12_ORD_VIRTUAL_PROCESSOR_ID];
    FUZZ_REQUIRE(vpid == l0_host_value(VMCS12_ORD_VIRTUAL_PROCESSOR_ID) ||
                     (vpid >= 1 && vpid <= e->h.host.next_vpid),
                 "vmcs02 VPID is L0's or from vpid_alloc", vpid);
    uint64_t link = v[VMCS12_ORD_VMCS_LINK_POINTER];
    FUZZ_REQUIRE(link == l0_host_value(VMCS12_ORD_VMCS_LINK_POINTER) || link == ~0ull,
                 "vmcs02 link pointer is never L1's", link);
}

void fuzz_env_check(fuzz_env *e, long reads_before, long writes_before)
{
    clear_host_failures(&e->h.host);
    if (e->h.next.run == NVMX_RUN_SHUTDOWN_L1)
        e->shut_down = true;
    FUZZ_REQUIRE(e->h.host.l1_reads - reads_before <= e->max_reads,
                 "guest-memory reads per step bounded", e->h.host.l1_reads - reads_before);
    FUZZ_REQUIRE(e->h.host.l1_writes - writes_before <= e->max_writes,
                 "guest-memory writes per step bounded", e->h.host.l1_writes - writes_before);
    check_vmcs02_controls(e);
    check_vmcs02_pointers(e);
    check_l0_host_state(e);
    fuzz_check_ept02_tables(&e->h.host);
    FUZZ_REQUIRE(e->h.vcpu->vmx_operation || !e->h.vcpu->guest_mode,
                 "guest mode only in VMX operation", 0);
}

static void clear_host_failures(fake_host *h)
{
    h->fail_alloc_at = 0;
    h->fail_page_at = 0;
    h->fail_vmcs_read_at = 0;
    h->fail_vmcs_write_at = 0;
    h->translate_status = NVMX_OK;
    h->fault_page_count = 0;
    h->msr_faulting_count = 0;
}

/* FUZZ_TRACE=1 in the environment: one line per step on stderr, to read a finding's script. */
static bool trace(void)
{
    static int on = -1;
    if (on < 0)
        on = getenv("FUZZ_TRACE") != NULL;
    return on;
}

nvmx_status fuzz_env_step(fuzz_env *e, const nvmx_exit *exit)
{
    fake_host *host = &e->h.host;
    long reads = host->l1_reads, writes = host->l1_writes;
    host->exception_count = 0;
    nvmx_status status = nvmx_vcpu_in_guest_mode(e->h.vcpu)
                             ? nvmx_on_l2_exit(e->h.vcpu, exit, &e->h.next)
                             : nvmx_on_l1_exit(e->h.vcpu, exit, &e->h.next);
    host->running = nvmx_vcpu_in_guest_mode(e->h.vcpu) ? NVMX_HW_VMCS02 : NVMX_HW_VMCS01;
    if (trace())
        fprintf(stderr,
                "step: reason %#x info %#x qual %#llx -> %s, run %d, exceptions %d, l1 reads %ld "
                "writes %ld%s%s\n",
                exit->reason, exit->instruction_info, (unsigned long long)exit->qualification,
                nvmx_status_str(status), (int)e->h.next.run, host->exception_count,
                host->l1_reads - reads, host->l1_writes - writes, host->log_count ? ", log: " : "",
                host->log_count ? host->last_log : "");
    host->log_count = 0;
    if (status != NVMX_OK)
        e->h.next.run = NVMX_RUN_L1; /* no answer: L1 or L2 continues as it was */
    fuzz_env_check(e, reads, writes);
    return status;
}

/* ---- Shared actions -------------------------------------------------------------------- */

nvmx_status fuzz_pointer_insn(fuzz_env *e, uint32_t reason, uint64_t pointer)
{
    fake_host_write64(&e->h.host, OPERAND, pointer);
    e->h.host.regs[NVMX_REG_RAX] = OPERAND;
    nvmx_exit exit = {
        .reason = reason, .instruction_info = INFO_MEM_RAX, .instruction_length = INSN_LENGTH};
    return fuzz_env_step(e, &exit);
}

nvmx_status fuzz_vmwrite(fuzz_env *e, uint64_t encoding, uint64_t value)
{
    e->h.host.regs[NVMX_REG_RCX] = encoding;
    e->h.host.regs[NVMX_REG_RAX] = value;
    nvmx_exit exit = {.reason = NVMX_EXIT_VMWRITE,
                      .instruction_info = INFO_REGS(NVMX_REG_RAX, NVMX_REG_RCX),
                      .instruction_length = INSN_LENGTH};
    return fuzz_env_step(e, &exit);
}

nvmx_status fuzz_vmread(fuzz_env *e, uint64_t encoding)
{
    e->h.host.regs[NVMX_REG_RCX] = encoding;
    nvmx_exit exit = {.reason = NVMX_EXIT_VMREAD,
                      .instruction_info = INFO_REGS(NVMX_REG_RAX, NVMX_REG_RCX),
                      .instruction_length = INSN_LENGTH};
    return fuzz_env_step(e, &exit);
}

nvmx_status fuzz_simple_insn(fuzz_env *e, uint32_t reason)
{
    nvmx_exit exit = {.reason = reason, .instruction_length = INSN_LENGTH};
    return fuzz_env_step(e, &exit);
}

void fuzz_act_memory(fuzz_env *e, fuzz_input *in)
{
    static const uint64_t where[] = {
        VMXON_REGION, VMCS_A,  VMCS_B,  VMCS_C,  SHADOW_VMCS, VMREAD_BITMAP_GPA, VMWRITE_BITMAP_GPA,
        OPERAND,      0x30000, 0x40000, 0x50000, 0x60000,     0x61000,           0x62000,
    };
    uint64_t base =
        fuzz_u8(in) < 200 ? FUZZ_PICK(in, where) : (uint64_t)(fuzz_u16(in) % 4096) << 12;
    uint64_t gpa = base + fuzz_u16(in) % 4096;
    size_t len = fuzz_u8(in) % 65;
    uint8_t buf[64];
    fuzz_bytes(in, buf, len);
    if (gpa + len > e->h.host.ram_size)
        return;
    memcpy(e->h.host.ram + gpa, buf, len);
}

void fuzz_act_register(fuzz_env *e, fuzz_input *in)
{
    static const unsigned state[] = {
        VMCS12_ORD_GUEST_RIP,
        VMCS12_ORD_GUEST_RFLAGS,
        VMCS12_ORD_GUEST_CR0,
        VMCS12_ORD_GUEST_CR4,
        VMCS12_ORD_GUEST_IA32_EFER,
        VMCS12_ORD_GUEST_CS_AR_BYTES,
        VMCS12_ORD_GUEST_SS_AR_BYTES,
        VMCS12_ORD_GUEST_DS_AR_BYTES,
        VMCS12_ORD_GUEST_DS_BASE,
        VMCS12_ORD_GUEST_DS_LIMIT,
        VMCS12_ORD_GUEST_CS_BASE,
        VMCS12_ORD_GUEST_RSP,
        VMCS12_ORD_GUEST_CR3,
        VMCS12_ORD_GUEST_INTERRUPTIBILITY_INFO,
        VMCS12_ORD_GUEST_ACTIVITY_STATE,
    };
    uint8_t how = fuzz_u8(in);
    if (how & 1) {
        e->h.host.regs[(how >> 1) % 16] = fuzz_value(in);
        return;
    }
    unsigned ordinal = FUZZ_PICK(in, state);
    uint64_t *slot = &e->h.host.vmcs[e->h.host.running][ordinal];
    *slot = (*slot ^ (1ull << (fuzz_u8(in) % 64))) &
            vmcs_field_width_mask(vmcs_field_table[ordinal].encoding);
}

void fuzz_act_host_failure(fuzz_env *e, fuzz_input *in)
{
    fake_host *h = &e->h.host;
    uint8_t which = fuzz_u8(in), n = 1 + fuzz_u8(in) % 8;
    switch (which % 6) {
    case 0:
        h->fail_alloc_at = h->alloc_calls + n;
        break;
    case 1:
        h->fail_page_at = h->page_allocs + n;
        break;
    case 2:
        h->fail_vmcs_read_at = h->vmcs_reads[0] + h->vmcs_reads[1] + n;
        break;
    case 3:
        h->fail_vmcs_write_at = h->vmcs_writes[0] + h->vmcs_writes[1] + n;
        break;
    case 4:
        /* #PF on the operand page (the fake's translate op). */
        h->fault_pages[0] = OPERAND;
        h->fault_page_count = 1;
        break;
    default:
        fake_host_fault_msr(h, 0x480u + n);
        break;
    }
}

nvmx_status fuzz_act_l2_exit(fuzz_env *e, fuzz_input *in)
{
    static const uint32_t common[] = {
        NVMX_EXIT_EXCEPTION_NMI,
        NVMX_EXIT_EXTERNAL_INTERRUPT,
        NVMX_EXIT_TRIPLE_FAULT,
        NVMX_EXIT_CPUID,
        NVMX_EXIT_HLT,
        NVMX_EXIT_CR_ACCESS,
        NVMX_EXIT_IO_INSTRUCTION,
        NVMX_EXIT_RDMSR,
        NVMX_EXIT_WRMSR,
        NVMX_EXIT_VMCALL,
        NVMX_EXIT_VMREAD,
        NVMX_EXIT_VMWRITE,
        NVMX_EXIT_EPT_VIOLATION,
        NVMX_EXIT_PREEMPTION_TIMER,
        NVMX_EXIT_MONITOR_TRAP_FLAG,
        NVMX_EXIT_INTERRUPT_WINDOW,
        NVMX_EXIT_DR_ACCESS,
        NVMX_EXIT_RDTSC,
    };
    nvmx_exit exit = {0};
    uint8_t how = fuzz_u8(in);
    exit.reason = how < 160 ? FUZZ_PICK(in, common) : fuzz_u8(in) % 81u;
    if (how & 1)
        exit.reason = fuzz_u32(in); /* upper bits and unknown reasons too */
    exit.qualification = fuzz_value(in);
    exit.instruction_length = fuzz_u8(in) % 16;
    if (how & 2) {
        exit.instruction_info = fuzz_u32(in);
        exit.interruption_info = (uint32_t)fuzz_value(in);
        exit.interruption_error_code = fuzz_u32(in);
        exit.idt_vectoring_info = (uint32_t)fuzz_value(in);
        exit.idt_vectoring_error_code = fuzz_u32(in);
    }
    if (how & 4) {
        exit.guest_linear_address = fuzz_value(in);
        exit.guest_physical_address = fuzz_value(in);
    }
    return fuzz_env_step(e, &exit);
}
