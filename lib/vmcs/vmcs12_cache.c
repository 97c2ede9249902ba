/* SPDX-License-Identifier: MIT */
/*
 * The vmcs12s a vCPU holds: a processor may keep the data of active VMCSs in its own storage
 * and write it to the VMCS region at any time (SDM 25.11.1). The cache plays that role,
 * bounded by max_cached_vmcs: beyond it the least recently used VMCS is written back.
 * Allocation goes through the ops; the index is uthash.
 */
#include "../internal.h"

#include "../uthash_ops.h"

typedef struct cache_node {
    vmcs12_cached entry; /* first: a node and its entry share an address */
    UT_hash_handle hh;
} cache_node;

typedef struct region_header {
    uint32_t revision;
    uint32_t abort;
    uint32_t launch;
    uint32_t generation;
} region_header;

_Static_assert(sizeof(region_header) == VMCS12_HEADER_SIZE, "header layout");

void vmcs12_cache_init(vmcs12_cache *cache)
{
    nvmx_memset(cache, 0, sizeof(*cache));
}

vmcs12_cached *vmcs12_cache_find(nvmx_vm *vm, vmcs12_cache *cache, uint64_t gpa)
{
    (void)vm;
    cache_node *head = cache->index, *node;
    HASH_FIND(hh, head, &gpa, sizeof(gpa), node);
    if (!node)
        return NULL;
    node->entry.last_use = ++cache->clock;
    return &node->entry;
}

/* Read the region once. L1 may have written anything into it, so every slot is cut to its
 * field's width: a VMREAD can never return more bits than the field has. */
static void region_read(nvmx_vm *vm, const vmcs12_cache *cache, uint64_t gpa, vmcs12_cached *e)
{
    region_header header;
    if (vm->ops.l1_read(vm->host_ctx, gpa, &header, sizeof(header)) != NVMX_OK)
        nvmx_memset(&header, 0xFF, sizeof(header)); /* unbacked memory reads as all ones */
    if (vm->ops.l1_read(vm->host_ctx, gpa + VMCS12_HEADER_SIZE, e->data.field,
                        sizeof(e->data.field)) != NVMX_OK)
        nvmx_memset(e->data.field, 0xFF, sizeof(e->data.field));
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++)
        e->data.field[i] &= vmcs_field_width_mask(vmcs_field_table[i].encoding);
    /* A freshly loaded VMCS must be merged whole into vmcs02 the first time. */
    nvmx_memset(e->data.dirty, 0xFF, sizeof(e->data.dirty));
    nvmx_memset(e->data.unchecked, 0xFF, sizeof(e->data.unchecked));
    e->gpa = gpa;
    e->revision = header.revision;
    e->abort = header.abort;
    e->launch_generation = header.generation;
    if (header.launch != VMCS12_LAUNCHED)
        e->launch_state = VMCS12_STATE_CLEAR;
    else if (header.generation == cache->generation)
        e->launch_state = VMCS12_STATE_LAUNCHED;
    else
        e->launch_state = VMCS12_STATE_LAUNCHED_BEFORE_VMXOFF;
    e->memory_stale = false;
}

static cache_node *least_recently_used(vmcs12_cache *cache, const vmcs12_cached *keep)
{
    cache_node *head = cache->index, *node, *tmp, *oldest = NULL;
    HASH_ITER(hh, head, node, tmp)
    {
        if (&node->entry != keep && (!oldest || node->entry.last_use < oldest->entry.last_use))
            oldest = node;
    }
    return oldest;
}

/* Index a filled node: it becomes the most recently used entry. On NVMX_ERR_NO_MEMORY the
 * node is freed and nothing changed. */
static nvmx_status cache_add(nvmx_vm *vm, vmcs12_cache *cache, cache_node *node)
{
    node->entry.last_use = ++cache->clock;
    nvmx_vm *hash_vm = vm;
    bool hash_oom = false;
    cache_node *head = cache->index;
    HASH_ADD(hh, head, entry.gpa, sizeof(uint64_t), node);
    cache->index = head;
    if (hash_oom) {
        vm_free(vm, node, sizeof(*node));
        return NVMX_ERR_NO_MEMORY;
    }
    cache->count++;
    return NVMX_OK;
}

nvmx_status vmcs12_cache_load(nvmx_vm *vm, vmcs12_cache *cache, uint64_t gpa,
                              const vmcs12_cached *keep, vmcs12_cached **out)
{
    if (cache->count >= vm->max_cached_vmcs) {
        cache_node *victim = least_recently_used(cache, keep);
        if (victim)
            vmcs12_cache_evict(vm, cache, &victim->entry);
    }
    cache_node *node = vm_alloc(vm, sizeof(*node));
    if (!node)
        return NVMX_ERR_NO_MEMORY;
    nvmx_memset(node, 0, sizeof(*node));
    region_read(vm, cache, gpa, &node->entry);
    nvmx_status status = cache_add(vm, cache, node);
    if (status == NVMX_OK)
        *out = &node->entry;
    return status;
}

nvmx_status vmcs12_cache_get(nvmx_vm *vm, vmcs12_cache *cache, uint64_t gpa,
                             const vmcs12_cached *keep, vmcs12_cached **out, bool *loaded)
{
    *out = vmcs12_cache_find(vm, cache, gpa);
    *loaded = *out == NULL;
    if (*out)
        return NVMX_OK;
    return vmcs12_cache_load(vm, cache, gpa, keep, out);
}

void vmcs12_cache_writeback(nvmx_vm *vm, vmcs12_cached *e)
{
    if (!e->memory_stale)
        return;
    region_header header = {
        .revision = e->revision,
        .abort = e->abort,
        .launch = e->launch_state == VMCS12_STATE_CLEAR ? 0 : VMCS12_LAUNCHED,
        .generation = e->launch_generation,
    };
    /* A region outside L1 RAM takes the write as unbacked memory does: it is dropped. */
    (void)vm->ops.l1_write(vm->host_ctx, e->gpa, &header, sizeof(header));
    (void)vm->ops.l1_write(vm->host_ctx, e->gpa + VMCS12_HEADER_SIZE, e->data.field,
                           sizeof(e->data.field));
    e->memory_stale = false;
}

void vmcs12_cache_drop(nvmx_vm *vm, vmcs12_cache *cache, vmcs12_cached *entry)
{
    nvmx_vm *hash_vm = vm;
    cache_node *head = cache->index, *node = (cache_node *)entry;
    HASH_DELETE(hh, head, node);
    cache->index = head;
    cache->count--;
    vm_free(vm, node, sizeof(*node));
}

void vmcs12_cache_evict(nvmx_vm *vm, vmcs12_cache *cache, vmcs12_cached *entry)
{
    vmcs12_cache_writeback(vm, entry);
    vmcs12_cache_drop(vm, cache, entry);
}

void vmcs12_cache_flush(nvmx_vm *vm, vmcs12_cache *cache)
{
    cache_node *head = cache->index, *node, *tmp;
    HASH_ITER(hh, head, node, tmp)
    {
        vmcs12_cache_evict(vm, cache, &node->entry);
    }
}

void vmcs12_cache_vmxoff(nvmx_vm *vm, vmcs12_cache *cache)
{
    vmcs12_cache_flush(vm, cache);
    cache->generation++;
}

void vmcs12_region_set_launch_state(nvmx_vm *vm, uint64_t gpa, vmcs12_launch_state state)
{
    uint32_t launch = state == VMCS12_STATE_CLEAR ? 0 : VMCS12_LAUNCHED;
    (void)vm->ops.l1_write(vm->host_ctx, gpa + 8, &launch, sizeof(launch));
}

void vmcs12_cache_discard(nvmx_vm *vm, vmcs12_cache *cache)
{
    cache_node *head = cache->index, *node, *tmp;
    HASH_ITER(hh, head, node, tmp)
    {
        vmcs12_cache_drop(vm, cache, &node->entry);
    }
}

const vmcs12_cached *vmcs12_cache_next_by_gpa(const vmcs12_cache *cache, const vmcs12_cached *after)
{
    const cache_node *head = cache->index, *node, *best = NULL;
    for (node = head; node; node = node->hh.next) {
        if (after && node->entry.gpa <= after->gpa)
            continue;
        if (!best || node->entry.gpa < best->entry.gpa)
            best = node;
    }
    return best ? &best->entry : NULL;
}

nvmx_status vmcs12_cache_insert(nvmx_vm *vm, vmcs12_cache *cache, const vmcs12_cached *entry)
{
    cache_node *node = vm_alloc(vm, sizeof(*node));
    if (!node)
        return NVMX_ERR_NO_MEMORY;
    nvmx_memset(node, 0, sizeof(*node));
    node->entry = *entry;
    /* A new node has never passed the entry checks (entry_checks_memo_*). */
    nvmx_memset(node->entry.data.unchecked, 0xFF, sizeof(node->entry.data.unchecked));
    return cache_add(vm, cache, node);
}
