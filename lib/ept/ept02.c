/* SPDX-License-Identifier: MIT */
/*
 * EPT02, the composition EPT12 x EPT01 (SDM Vol. 3C 29.3 EPT, 29.4 caching of translations,
 * 25.6.11 EPTP). See ept02.h for the contract and the choices.
 *
 * Layout: a root (one per EPT12 root address, uthash) owns a list of tables; the top table
 * is level 4. Each table is a page from page_alloc (`entries`, the host pointer; `hpa`) plus
 * a node from mem_alloc with, per entry, either the child table (a non-leaf entry) or the L1
 * GPA the leaf was derived from, and the number of entries in use (empty tables other than
 * the top are freed when invalidation empties them).
 */
#include "ept02.h"

#include "eptp.h"

#include "../uthash_ops.h"

#define EPT02_ENTRIES 512u
#define EPT02_INDEX_MASK 0x1FFull
#define EPT02_ADDRESS_MASK 0x000FFFFFFFFFF000ull /* bits 51:12 */
#define EPT02_GPA_LIMIT (1ull << 48)             /* what a 4-level walk translates */
#define EPT02_NONLEAF EPT_ENTRY_RWX              /* permissions live in the leaves */
#define PAGE_2M (1ull << 21)
#define PAGE_1G (1ull << 30)

typedef struct ept02_table {
    uint64_t *entries; /* the page, through the host pointer page_alloc returned */
    uint64_t hpa;
    uint8_t level; /* 1 = PT ... 4 = PML4 */
    uint16_t index_in_parent;
    uint16_t used; /* entries that are not 0 */
    struct ept02_table *parent;
    struct ept02_table *next; /* the root's list */
    union {
        struct ept02_table *child; /* non-leaf entry */
        uint64_t l1_gpa;           /* leaf entry: the L1 GPA of its first byte */
    } aux[EPT02_ENTRIES];
} ept02_table;

typedef struct ept02_root {
    uint64_t key;        /* EPT12 root: eptp12 bits 51:12 */
    uint64_t eptp_flags; /* the eptp12 bits 11:0 the tables were built under */
    ept02_table *top;
    ept02_table *tables; /* every table, top included */
    uint32_t pages;
    uint64_t last_use;
    UT_hash_handle hh;
} ept02_root;

static uint64_t level_size(unsigned level)
{
    return 1ull << (12u + 9u * (level - 1u));
}

static unsigned index_at(uint64_t gpa, unsigned level)
{
    return (unsigned)((gpa >> (12u + 9u * (level - 1u))) & EPT02_INDEX_MASK);
}

static bool entry_is_leaf(uint64_t e, unsigned level)
{
    return e && (level == 1 || (e & EPT_ENTRY_PAGE_SIZE));
}

static bool page_ops_present(const nvmx_vm *vm)
{
    return vm->ops.page_alloc && vm->ops.page_free;
}

/* ---- The hardware's cached translations ------------------------------------------------- */

/* The EPTP of a root as vmcs02 holds it (ept02_root_hpa). */
static uint64_t root_eptp02(const struct ept02_root *root);

/* SDM 29.4.3: the processor may keep guest-physical and combined mappings derived from EPT02
 * after an entry changes; whenever the library removes or replaces a present EPT02 entry (or
 * frees a table), the host drops what the hardware cached for that EPT02 (INVEPT single-context
 * of its EPTP) before L2 runs again, so L2 never reaches a host page through a stale entry.
 * ept02_fault refuses to build without the op, so nothing exists to flush without it. */
static void flush_root(nvmx_vcpu *vcpu, const struct ept02_root *root)
{
    nvmx_vm *vm = vcpu->vm;
    if (!vm->ops.tlb_flush)
        return;
    nvmx_tlb_flush request = {.kind = NVMX_TLB_FLUSH_EPTP, .eptp = root_eptp02(root)};
    vm->ops.tlb_flush(vcpu->ctx, &request);
}

/* ---- Tables and roots ------------------------------------------------------------------ */

static nvmx_status table_new(nvmx_vcpu *vcpu, ept02_root *root, ept02_table *parent, unsigned index,
                             unsigned level, ept02_table **out)
{
    nvmx_vm *vm = vcpu->vm;
    ept02_table *t = vm_alloc(vm, sizeof(*t));
    if (!t)
        return NVMX_ERR_NO_MEMORY;
    nvmx_memset(t, 0, sizeof(*t));
    uint64_t hpa = 0;
    void *page = vm->ops.page_alloc(vm->host_ctx, &hpa);
    if (!page) {
        vm_free(vm, t, sizeof(*t));
        return NVMX_ERR_NO_MEMORY;
    }
    if (hpa & ~EPT02_ADDRESS_MASK) {
        vm_log_hex(vm, NVMX_LOG_ERROR, "page_alloc: host-physical address not a page below 2^52",
                   hpa);
        vm->ops.page_free(vm->host_ctx, page, hpa);
        vm_free(vm, t, sizeof(*t));
        return NVMX_ERR_HOST;
    }
    nvmx_memset(page, 0, PAGE_SIZE_4K); /* the op zeroes it; an EPT table must be */
    t->entries = page;
    t->hpa = hpa;
    t->level = (uint8_t)level;
    t->parent = parent;
    t->index_in_parent = (uint16_t)index;
    t->next = root->tables;
    root->tables = t;
    root->pages++;
    vcpu->ept02.pages++;
    if (parent) {
        parent->entries[index] = hpa | EPT02_NONLEAF;
        parent->aux[index].child = t;
        parent->used++;
    }
    *out = t;
    return NVMX_OK;
}

static void table_free(nvmx_vcpu *vcpu, ept02_root *root, ept02_table *t)
{
    nvmx_vm *vm = vcpu->vm;
    vm->ops.page_free(vm->host_ctx, t->entries, t->hpa);
    vm_free(vm, t, sizeof(*t));
    root->pages--;
    vcpu->ept02.pages--;
}

static uint64_t root_eptp02(const ept02_root *root)
{
    return root->top->hpa | ((uint64_t)(EPT02_LEVELS - 1u) << EPTP_WALK_SHIFT) | EPT02_EPTP_MEMTYPE;
}

/* Free every table but the top and empty the top: the root's EPTP stays valid. */
static void root_clear(nvmx_vcpu *vcpu, ept02_root *root)
{
    flush_root(vcpu, root);
    ept02_table *t = root->tables, *next;
    root->tables = NULL;
    for (; t; t = next) {
        next = t->next;
        if (t == root->top) {
            t->next = NULL;
            root->tables = t;
        } else {
            table_free(vcpu, root, t);
        }
    }
    nvmx_memset(root->top->entries, 0, PAGE_SIZE_4K);
    nvmx_memset(root->top->aux, 0, sizeof(root->top->aux));
    root->top->used = 0;
}

static void root_evict(nvmx_vcpu *vcpu, ept02_root *root)
{
    nvmx_vm *hash_vm = vcpu->vm;
    flush_root(vcpu, root); /* before its pages can be reused */
    ept02_table *t = root->tables, *next;
    for (; t; t = next) {
        next = t->next;
        table_free(vcpu, root, t);
    }
    ept02_root *head = vcpu->ept02.roots;
    HASH_DELETE(hh, head, root);
    vcpu->ept02.roots = head;
    vcpu->ept02.root_count--;
    vm_free(hash_vm, root, sizeof(*root));
}

static ept02_root *root_find(nvmx_vcpu *vcpu, uint64_t key)
{
    ept02_root *head = vcpu->ept02.roots, *root;
    HASH_FIND(hh, head, &key, sizeof(key), root);
    return root;
}

/* Make room for `need` more pages: evict least recently used roots other than `keep`.
 * false when only `keep` is left and the pages still do not fit. */
static bool make_room(nvmx_vcpu *vcpu, const ept02_root *keep, uint32_t need)
{
    while (vcpu->ept02.pages + need > vcpu->vm->max_ept02_pages) {
        ept02_root *head = vcpu->ept02.roots, *r, *tmp, *oldest = NULL;
        HASH_ITER(hh, head, r, tmp)
        {
            if (r != keep && (!oldest || r->last_use < oldest->last_use))
                oldest = r;
        }
        if (!oldest)
            return false;
        root_evict(vcpu, oldest);
    }
    return true;
}

/* The root of eptp12 (created when absent). A root built under other EPTP bits 11:0 (walk
 * length, A/D flags) is emptied: its translations followed another walk. */
static nvmx_status root_get(nvmx_vcpu *vcpu, uint64_t eptp12, ept02_root **out)
{
    nvmx_vm *vm = vcpu->vm;
    uint64_t key = eptp12 & EPT02_ADDRESS_MASK;
    uint64_t flags = eptp12 & PAGE_OFFSET_MASK & ~EPTP_MEMTYPE_MASK;
    ept02_root *root = root_find(vcpu, key);
    if (root) {
        if (root->eptp_flags != flags) {
            root_clear(vcpu, root);
            root->eptp_flags = flags;
        }
        root->last_use = ++vcpu->ept02.clock;
        *out = root;
        return NVMX_OK;
    }
    (void)make_room(vcpu, NULL, 1); /* cap >= 4: always succeeds with keep = NULL */
    root = vm_alloc(vm, sizeof(*root));
    if (!root)
        return NVMX_ERR_NO_MEMORY;
    nvmx_memset(root, 0, sizeof(*root));
    root->key = key;
    root->eptp_flags = flags;
    nvmx_status status = table_new(vcpu, root, NULL, 0, EPT02_LEVELS, &root->top);
    if (status != NVMX_OK) {
        vm_free(vm, root, sizeof(*root));
        return status;
    }
    nvmx_vm *hash_vm = vm;
    bool hash_oom = false;
    ept02_root *head = vcpu->ept02.roots;
    HASH_ADD(hh, head, key, sizeof(uint64_t), root);
    vcpu->ept02.roots = head;
    if (hash_oom) {
        table_free(vcpu, root, root->top);
        vm_free(vm, root, sizeof(*root));
        return NVMX_ERR_NO_MEMORY;
    }
    vcpu->ept02.root_count++;
    root->last_use = ++vcpu->ept02.clock;
    *out = root;
    return NVMX_OK;
}

/* ---- Installing a leaf ------------------------------------------------------------------ */

/* Tables missing on l2_gpa's path down to leaf_level (0 to 3). */
static uint32_t tables_missing(const ept02_root *root, uint64_t l2_gpa, unsigned leaf_level)
{
    const ept02_table *t = root->top;
    for (unsigned level = EPT02_LEVELS; level > leaf_level; level--) {
        unsigned i = index_at(l2_gpa, level);
        uint64_t e = t->entries[i];
        if (!e || entry_is_leaf(e, level))
            return level - leaf_level;
        t = t->aux[i].child;
    }
    return 0;
}

typedef struct leaf_spec {
    uint64_t l2_gpa, l1_gpa, host_phys; /* of the faulting byte */
    uint64_t page_size;
    uint64_t bits; /* permissions, memory type, ignore-PAT */
} leaf_spec;

/* Clear entry i of t (a leaf) and keep the count; true when it was present. */
static bool entry_clear(ept02_table *t, unsigned i)
{
    if (!t->entries[i])
        return false;
    t->entries[i] = 0;
    t->aux[i].l1_gpa = 0;
    t->used--;
    return true;
}

/* Descend from the top to the leaf's level, creating tables; a smaller-page table already
 * there is kept and the leaf shrinks to fit under it; a large leaf in the way (stale: the
 * access faulted) is replaced by a table. Room for the tables was made by the caller. */
static nvmx_status leaf_install(nvmx_vcpu *vcpu, ept02_root *root, leaf_spec *leaf)
{
    ept02_table *t = root->top;
    for (unsigned level = EPT02_LEVELS;; level--) {
        unsigned i = index_at(leaf->l2_gpa, level);
        uint64_t e = t->entries[i];
        if (level_size(level) == leaf->page_size) {
            if (e && !entry_is_leaf(e, level)) {
                leaf->page_size = level_size(level - 1); /* go below the existing table */
                t = t->aux[i].child;
                continue;
            }
            uint64_t mask = leaf->page_size - 1;
            if (entry_clear(t, i))
                flush_root(vcpu, root); /* a leaf with other permissions was cached */
            t->entries[i] =
                (leaf->host_phys & ~mask) | leaf->bits | (level > 1 ? EPT_ENTRY_PAGE_SIZE : 0);
            t->aux[i].l1_gpa = leaf->l1_gpa & ~mask;
            t->used++;
            return NVMX_OK;
        }
        if (entry_is_leaf(e, level) && entry_clear(t, i))
            flush_root(vcpu, root); /* a larger page was cached for this range */
        if (!t->entries[i]) {
            ept02_table *child;
            nvmx_status status = table_new(vcpu, root, t, i, level - 1, &child);
            if (status != NVMX_OK)
                return status;
            t = child;
        } else {
            t = t->aux[i].child;
        }
    }
}

static bool ept01_mapping_sane(const nvmx_ept01_mapping *m, uint64_t l1_gpa)
{
    if (m->page_size != PAGE_SIZE_4K && m->page_size != PAGE_2M && m->page_size != PAGE_1G)
        return false;
    if (m->host_phys >> EPT_ADDRESS_BITS)
        return false;
    /* A page is aligned in both spaces: the byte keeps its offset in the page. */
    return ((m->host_phys ^ l1_gpa) & (m->page_size - 1)) == 0;
}

nvmx_status ept02_fault(nvmx_vcpu *vcpu, uint64_t eptp12, uint64_t l2_gpa,
                        const ept12_access *access, ept02_fault_result *out)
{
    if (!vcpu || !access || !out)
        return NVMX_ERR_INVALID_ARGUMENT;
    nvmx_vm *vm = vcpu->vm;
    nvmx_memset(out, 0, sizeof(*out));
    if (!vm->ops.ept01_lookup || !page_ops_present(vm) || !vm->ops.tlb_flush ||
        access->mode_based_execute)
        return NVMX_ERR_UNSUPPORTED;

    nvmx_status status = ept12_walk(vm, eptp12, l2_gpa, access, &out->walk);
    if (status != NVMX_OK)
        return status;
    switch (out->walk.outcome) {
    case EPT12_MISCONFIG:
    case EPT12_VIOLATION:
        out->outcome = EPT02_REFLECT;
        return NVMX_OK;
    case EPT12_RETRY:
        out->outcome = EPT02_RETRY;
        return NVMX_OK;
    default:
        break;
    }
    if (l2_gpa >= EPT02_GPA_LIMIT)
        return NVMX_ERR_UNSUPPORTED;

    const ept12_result *w = &out->walk;
    out->l1_gpa = w->l1_gpa;
    nvmx_ept01_mapping m;
    nvmx_memset(&m, 0, sizeof(m));
    status = vm->ops.ept01_lookup(vm->host_ctx, w->l1_gpa, &m);
    if (status == NVMX_ERR_BAD_L1_ADDRESS ||
        (status == NVMX_OK && !m.read && !m.write && !m.execute)) {
        out->outcome = EPT02_L0;
        return NVMX_OK;
    }
    if (status != NVMX_OK)
        return NVMX_ERR_HOST;
    if (!ept01_mapping_sane(&m, w->l1_gpa)) {
        vm_log_hex(vm, NVMX_LOG_ERROR, "ept01_lookup: mapping is not a whole page below 2^52",
                   m.host_phys);
        return NVMX_ERR_HOST;
    }
    out->ept01_backed = true;

    bool ad = (eptp12 & EPTP_ACCESSED_DIRTY) != 0;
    bool write_like = access->kind == EPT12_ACCESS_WRITE || (access->guest_paging && ad);
    bool read = w->read && m.read;
    /* Writable only where readable (write-only is a misconfiguration); with A/D only after a
     * write-like access, which set the dirty flag in EPT12. */
    bool write = read && w->write && m.write && (!ad || write_like);
    bool execute = w->execute && m.execute;
    bool allowed = write_like ? write : access->kind == EPT12_ACCESS_READ ? read : execute;
    if (!allowed) {
        out->outcome = EPT02_L0;
        return NVMX_OK;
    }

    uint64_t size = w->page_size < m.page_size ? w->page_size : m.page_size;
    uint8_t type = m.memory_type == MEMTYPE_UC ? (uint8_t)MEMTYPE_UC : w->memory_type;
    leaf_spec leaf = {
        .l2_gpa = l2_gpa,
        .l1_gpa = w->l1_gpa,
        .host_phys = m.host_phys,
        .page_size = size,
        .bits = (read ? EPT_ENTRY_READ : 0) | (write ? EPT_ENTRY_WRITE : 0) |
                (execute ? EPT_ENTRY_EXECUTE : 0) | ((uint64_t)type << EPT_ENTRY_MEMTYPE_SHIFT) |
                (w->ignore_pat ? EPT_ENTRY_IGNORE_PAT : 0),
    };

    ept02_root *root;
    status = root_get(vcpu, eptp12, &root);
    if (status != NVMX_OK)
        return status;
    unsigned leaf_level = size == PAGE_1G ? 3u : size == PAGE_2M ? 2u : 1u;
    uint32_t need = tables_missing(root, l2_gpa, leaf_level);
    if (!make_room(vcpu, root, need))
        root_clear(vcpu, root); /* then the path needs at most 3 tables: the cap is >= 4 */
    status = leaf_install(vcpu, root, &leaf);
    if (status != NVMX_OK)
        return status;

    out->outcome = EPT02_INSTALLED;
    out->page_size = leaf.page_size;
    out->host_phys = m.host_phys;
    out->read = read;
    out->write = write;
    out->execute = execute;
    out->memory_type = type;
    out->ignore_pat = w->ignore_pat;
    return NVMX_OK;
}

bool ept02_root_eptp(nvmx_vcpu *vcpu, uint64_t eptp12, uint64_t *eptp02)
{
    ept02_root *root = root_find(vcpu, eptp12 & EPT02_ADDRESS_MASK);
    if (root)
        *eptp02 = root_eptp02(root);
    return root != NULL;
}

nvmx_status ept02_root_hpa(nvmx_vcpu *vcpu, uint64_t eptp12, uint64_t *eptp02)
{
    if (!vcpu || !eptp02)
        return NVMX_ERR_INVALID_ARGUMENT;
    if (!page_ops_present(vcpu->vm))
        return NVMX_ERR_UNSUPPORTED;
    ept02_root *root;
    nvmx_status status = root_get(vcpu, eptp12, &root);
    if (status != NVMX_OK)
        return status;
    *eptp02 = root_eptp02(root);
    return NVMX_OK;
}

/* ---- Invalidation ----------------------------------------------------------------------- */

void ept02_invalidate_root(nvmx_vcpu *vcpu, uint64_t eptp12)
{
    if (!vcpu)
        return;
    ept02_root *root = root_find(vcpu, eptp12 & EPT02_ADDRESS_MASK);
    if (root)
        root_evict(vcpu, root);
}

void ept02_invalidate_all(nvmx_vcpu *vcpu)
{
    if (!vcpu)
        return;
    ept02_root *head = vcpu->ept02.roots, *r, *tmp;
    HASH_ITER(hh, head, r, tmp)
    {
        root_evict(vcpu, r);
    }
}

/* Free the tables of `level` that are empty (never the top), unlinking them from their
 * parent; true when one was freed. */
static bool prune_level(nvmx_vcpu *vcpu, ept02_root *root, unsigned level)
{
    bool pruned = false;
    ept02_table **link = &root->tables;
    while (*link) {
        ept02_table *t = *link;
        if (t->level == level && t != root->top && t->used == 0) {
            ept02_table *parent = t->parent;
            parent->entries[t->index_in_parent] = 0;
            parent->aux[t->index_in_parent].child = NULL;
            parent->used--;
            *link = t->next;
            table_free(vcpu, root, t);
            pruned = true;
        } else {
            link = &t->next;
        }
    }
    return pruned;
}

void ept02_invalidate_l1_range(nvmx_vcpu *vcpu, uint64_t l1_gpa, uint64_t len)
{
    if (!vcpu || !len)
        return;
    uint64_t last = l1_gpa + (len - 1);
    if (last < l1_gpa)
        last = UINT64_MAX;
    ept02_root *head = vcpu->ept02.roots, *r, *tmp;
    HASH_ITER(hh, head, r, tmp)
    {
        bool removed = false;
        for (ept02_table *t = r->tables; t; t = t->next) {
            if (t->level == EPT02_LEVELS || !t->used)
                continue; /* no leaves in the PML4 */
            uint64_t size = level_size(t->level);
            for (unsigned i = 0; i < EPT02_ENTRIES; i++) {
                if (!entry_is_leaf(t->entries[i], t->level))
                    continue;
                uint64_t first = t->aux[i].l1_gpa;
                if (first <= last && first + (size - 1) >= l1_gpa)
                    removed |= entry_clear(t, i);
            }
        }
        /* A freed table may hold anything once the host reuses its page: the hardware must
         * forget it as it forgets the leaves (the flush takes effect before L2 runs again). */
        for (unsigned level = 1; level < EPT02_LEVELS; level++)
            removed |= prune_level(vcpu, r, level);
        if (removed)
            flush_root(vcpu, r);
    }
}

void ept02_destroy(nvmx_vcpu *vcpu)
{
    ept02_invalidate_all(vcpu);
}
