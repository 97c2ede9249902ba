/* SPDX-License-Identifier: MIT */
/*
 * The EPT12 walker (SDM Vol. 3C 29.3.2 translation, 29.3.3.1 misconfigurations, 29.3.3.2
 * violations, 29.3.4 accessed and dirty flags, Table 28-7 exit qualification).
 *
 * Order of decisions, as the SDM defines them: the walk goes from the top level down, reading
 * each entry once. A not-present entry ends it with an EPT violation (29.3.3.2, first bullet);
 * a present entry with an unsupported value ends it with an EPT misconfiguration (29.3.3.1).
 * Only a walk that reached the entry mapping the page without a misconfiguration checks the
 * access against the permissions (a violation "occurs when there is no EPT misconfiguration",
 * 29.3.3), so a misconfigured entry below an entry that denies the access is a
 * misconfiguration. The accessed and dirty flags are set only when the access is allowed.
 */
#include "ept12_walk.h"

#include "eptp.h"

/* Bits of the guest-physical address each level translates (29.3.2): 9 per level above the
 * 12-bit page offset. */
#define EPT_LEVEL_BITS 9u
#define EPT_INDEX_MASK 0x1FFull
#define EPT_ENTRY_SIZE 8u
/* A 4-level walk translates bits 47:0. */
#define EPT_4LEVEL_WIDTH 48u

/* What one walk decides from the VM, the EPTP and the access, before reading anything. */
typedef struct walk_rules {
    const nvmx_vm *vm;
    unsigned levels;
    uint64_t root;          /* the top-level table: EPTP bits M-1:12 */
    uint64_t address_mask;  /* bits M-1:12 */
    uint64_t reserved_high; /* bits 51:M */
    bool mode_based;
    bool accessed_dirty;
    bool execute_only;
    bool pages_2m, pages_1g;
    bool write_like; /* needs write permission and sets the dirty flag */
    const ept12_access *access;
} walk_rules;

/* One entry as the walk read it: where, and the one value every decision is made from. */
typedef struct walk_entry {
    uint64_t gpa;
    uint64_t value;
} walk_entry;

typedef enum walk_end { WALK_DONE, WALK_LOST_RACE } walk_end;

static uint64_t bits_below(unsigned width)
{
    return width >= 64 ? ~0ull : (1ull << width) - 1;
}

static uint64_t level_page_size(unsigned level)
{
    return 1ull << (12u + EPT_LEVEL_BITS * (level - 1u));
}

/* Present: any of bits 2:0, or bit 10 under mode-based execute control (29.3.2). */
static bool entry_present(const walk_rules *r, uint64_t e)
{
    return (e & EPT_ENTRY_RWX) || (r->mode_based && (e & EPT_ENTRY_USER_EXECUTE));
}

/* Whether a present entry has an unsupported value (29.3.3.1); *maps_page says whether it
 * maps a page (PTE, or PDE/PDPTE with bit 7). */
static bool entry_misconfigured(const walk_rules *r, uint64_t e, unsigned level, bool *maps_page)
{
    *maps_page = false;
    /* Write without read: 010b, 110b (and 011x never, since bit 0 is set there). */
    if ((e & EPT_ENTRY_WRITE) && !(e & EPT_ENTRY_READ))
        return true;
    /* Execute-only (bits 1:0 clear in a present entry: bit 2, or bit 10 under mode-based
     * execute control) without EPT_VPID_CAP[0]. */
    if (!(e & (EPT_ENTRY_READ | EPT_ENTRY_WRITE)) && !r->execute_only)
        return true;
    uint64_t reserved = r->reserved_high;
    switch (level) {
    case EPT12_LEVEL_PML5E:
    case EPT12_LEVEL_PML4E:
        reserved |= EPT_RESERVED_PML4E; /* 7:3, bit 7 included: no 512-GiB pages */
        break;
    case 3:
    case 2:
        if (e & EPT_ENTRY_PAGE_SIZE) {
            /* Bit 7 is reserved where the capability for that page size is not exposed. */
            if (!(level == 3 ? r->pages_1g : r->pages_2m))
                return true;
            reserved |= level == 3 ? EPT_RESERVED_1G : EPT_RESERVED_2M;
            *maps_page = true;
        } else {
            reserved |= EPT_RESERVED_NONLEAF; /* 6:3 */
        }
        break;
    default:
        *maps_page = true; /* a PTE; its bit 7 is ignored */
        break;
    }
    if (e & reserved)
        return true;
    if (*maps_page) {
        unsigned type = (unsigned)((e & EPT_ENTRY_MEMTYPE_MASK) >> EPT_ENTRY_MEMTYPE_SHIFT);
        if (!((EPT_VALID_MEMTYPES >> type) & 1u))
            return true; /* 2, 3, 7 */
    }
    return false;
}

/* One entry read: unbacked memory reads as all ones. */
static nvmx_status read_entry(const nvmx_vm *vm, uint64_t gpa, uint64_t *value)
{
    uint64_t v = 0;
    nvmx_status status = vm->ops.l1_read(vm->host_ctx, gpa, &v, sizeof(v));
    if (status == NVMX_ERR_BAD_L1_ADDRESS)
        v = ~0ull;
    else if (status != NVMX_OK)
        return NVMX_ERR_HOST;
    *value = v;
    return NVMX_OK;
}

static bool access_allowed(const walk_rules *r, const ept12_result *out)
{
    if (r->write_like)
        return out->write;
    switch (r->access->kind) {
    case EPT12_ACCESS_READ:
        return out->read;
    case EPT12_ACCESS_WRITE:
        return out->write;
    default: /* EPT12_ACCESS_FETCH */
        return r->mode_based && r->access->user ? out->user_execute : out->execute;
    }
}

/* Table 28-7 bits 0-6 for a violation, from the permissions ANDed so far. */
static uint64_t violation_qualification(const walk_rules *r, const ept12_result *out)
{
    uint64_t q = (uint64_t)r->access->kind;
    if (r->access->guest_paging && r->accessed_dirty)
        q |= EPT_QUAL_READ | EPT_QUAL_WRITE; /* footnote to bits 0-1 */
    if (out->read)
        q |= EPT_QUAL_READABLE;
    if (out->write)
        q |= EPT_QUAL_WRITABLE;
    if (out->execute)
        q |= EPT_QUAL_EXECUTABLE;
    if (r->mode_based && out->user_execute)
        q |= EPT_QUAL_USER_EXECUTABLE; /* undefined without the control: 0 */
    return q;
}

/* Set A in every entry used and D in the one mapping the page for write-like accesses
 * (29.3.4.2), each by compare-exchange against the value the walk decided from. */
static nvmx_status set_accessed_dirty(const walk_rules *r, const walk_entry *entries,
                                      unsigned count, walk_end *end)
{
    const nvmx_vm *vm = r->vm;
    for (unsigned i = 0; i < count; i++) {
        uint64_t desired = entries[i].value | EPT_ENTRY_ACCESSED;
        if (i + 1 == count && r->write_like)
            desired |= EPT_ENTRY_DIRTY;
        if (desired == entries[i].value)
            continue;
        nvmx_status status =
            vm->ops.l1_cmpxchg64(vm->host_ctx, entries[i].gpa, entries[i].value, desired);
        if (status == NVMX_ERR_STATE) {
            *end = WALK_LOST_RACE;
            return NVMX_OK;
        }
        if (status != NVMX_OK && status != NVMX_ERR_BAD_L1_ADDRESS)
            return NVMX_ERR_HOST;
    }
    *end = WALK_DONE;
    return NVMX_OK;
}

static nvmx_status walk_once(const walk_rules *r, uint64_t gpa, ept12_result *out, walk_end *end)
{
    nvmx_memset(out, 0, sizeof(*out));
    *end = WALK_DONE;
    out->read = out->write = out->execute = out->user_execute = true;

    if (r->levels == EPT12_LEVEL_PML4E && (gpa >> EPT_4LEVEL_WIDTH)) {
        /* Bits a 4-level walk cannot translate (possible only with MAXPHYADDR > 48). */
        out->outcome = EPT12_VIOLATION;
        out->level = (uint8_t)r->levels;
        out->read = out->write = out->execute = out->user_execute = false;
        out->qualification = violation_qualification(r, out);
        return NVMX_OK;
    }

    walk_entry entries[EPT12_MAX_LEVELS];
    unsigned count = 0;
    uint64_t table = r->root;
    unsigned level = r->levels;
    for (;; level--) {
        unsigned shift = 12u + EPT_LEVEL_BITS * (level - 1u);
        uint64_t entry_gpa = table + ((gpa >> shift) & EPT_INDEX_MASK) * EPT_ENTRY_SIZE;
        uint64_t e;
        nvmx_status status = read_entry(r->vm, entry_gpa, &e);
        if (status != NVMX_OK)
            return status;
        entries[count++] = (walk_entry){entry_gpa, e};
        out->level = (uint8_t)level;

        out->read = out->read && (e & EPT_ENTRY_READ);
        out->write = out->write && (e & EPT_ENTRY_WRITE);
        out->execute = out->execute && (e & EPT_ENTRY_EXECUTE);
        out->user_execute = out->user_execute && (r->mode_based ? (e & EPT_ENTRY_USER_EXECUTE)
                                                                : (e & EPT_ENTRY_EXECUTE));
        if (!entry_present(r, e)) {
            out->outcome = EPT12_VIOLATION;
            out->qualification = violation_qualification(r, out);
            return NVMX_OK;
        }
        bool maps_page;
        if (entry_misconfigured(r, e, level, &maps_page)) {
            out->outcome = EPT12_MISCONFIG;
            out->read = out->write = out->execute = out->user_execute = false;
            return NVMX_OK;
        }
        if (maps_page)
            break;
        table = e & r->address_mask;
    }

    const uint64_t leaf = entries[count - 1].value;
    if (!access_allowed(r, out)) {
        out->outcome = EPT12_VIOLATION;
        out->leaf_reached = true;
        out->qualification = violation_qualification(r, out);
        return NVMX_OK;
    }
    if (r->accessed_dirty) {
        nvmx_status status = set_accessed_dirty(r, entries, count, end);
        if (status != NVMX_OK || *end == WALK_LOST_RACE)
            return status;
    }
    out->outcome = EPT12_TRANSLATED;
    out->page_size = level_page_size(level);
    out->l1_gpa = (leaf & r->address_mask & ~(out->page_size - 1)) | (gpa & (out->page_size - 1));
    out->memory_type = (uint8_t)((leaf & EPT_ENTRY_MEMTYPE_MASK) >> EPT_ENTRY_MEMTYPE_SHIFT);
    out->ignore_pat = (leaf & EPT_ENTRY_IGNORE_PAT) != 0;
    return NVMX_OK;
}

nvmx_status ept12_walk(const nvmx_vm *vm, uint64_t eptp, uint64_t l2_gpa,
                       const ept12_access *access, ept12_result *out)
{
    if (!vm || !access || !out || !eptp_valid(vm, eptp))
        return NVMX_ERR_INVALID_ARGUMENT;
    if (access->kind != EPT12_ACCESS_READ && access->kind != EPT12_ACCESS_WRITE &&
        access->kind != EPT12_ACCESS_FETCH)
        return NVMX_ERR_INVALID_ARGUMENT;
    unsigned width = vm->phys_addr_width;
    if (width > EPT_ADDRESS_BITS || (l2_gpa >> width))
        return NVMX_ERR_INVALID_ARGUMENT;

    walk_rules r = {
        .vm = vm,
        .levels = (unsigned)((eptp & EPTP_WALK_MASK) >> EPTP_WALK_SHIFT) + 1u,
        .address_mask = bits_below(width) & ~PAGE_OFFSET_MASK,
        .reserved_high = bits_below(EPT_ADDRESS_BITS) & ~bits_below(width),
        .mode_based =
            access->mode_based_execute && nvmx_vm_has_feature(vm, NVMX_FEATURE_MODE_BASED_EPT_EXEC),
        .accessed_dirty = (eptp & EPTP_ACCESSED_DIRTY) != 0, /* eptp_valid: only with the cap */
        .execute_only = nvmx_vm_has_feature(vm, NVMX_FEATURE_EPT_EXECONLY),
        .pages_2m = nvmx_vm_has_feature(vm, NVMX_FEATURE_EPT_2MB),
        .pages_1g = nvmx_vm_has_feature(vm, NVMX_FEATURE_EPT_1GB),
        .access = access,
    };
    r.root = eptp & r.address_mask;
    r.write_like = access->kind == EPT12_ACCESS_WRITE || (access->guest_paging && r.accessed_dirty);
    if (r.accessed_dirty && !vm->ops.l1_cmpxchg64)
        return NVMX_ERR_UNSUPPORTED;

    for (unsigned attempt = 0; attempt < EPT12_AD_MAX_WALKS; attempt++) {
        walk_end end;
        nvmx_status status = walk_once(&r, l2_gpa, out, &end);
        if (status != NVMX_OK || end == WALK_DONE)
            return status;
    }
    nvmx_memset(out, 0, sizeof(*out));
    out->outcome = EPT12_RETRY;
    return NVMX_OK;
}
