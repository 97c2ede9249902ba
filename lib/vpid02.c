/* SPDX-License-Identifier: MIT */
/*
 * VPID02s and the VPID flush rules (SDM Vol. 3C 29.1, 29.4.3). See vpid02.h for the design.
 *
 * Why the rules are what they are:
 * - 29.4.3.1: with "enable VPID" 0, VM entries and VM exits invalidate the linear and combined
 *   mappings of VPID 0000H. In L1's view L1 itself and such an L2 are both VPID 0000H, while
 *   the hardware runs them with different tags (vmcs01's and a VPID02): the entry flushes L2's
 *   VPID02 and the exit L1's own context, so neither sees what the other cached, nor what it
 *   cached itself before the transition.
 * - 29.4.3.2: with "enable VPID" 1, entries and exits need not invalidate anything: L1's and
 *   L2's mappings are tagged apart (vmcs12's VPID is never 0, 27.2.1.1), as they are on the
 *   hardware (a VPID02 is never vmcs01's VPID: both come from L0's allocator). No flush.
 * - A VPID02 handed to another VPID12 (or fresh from vpid_alloc, whose previous user the
 *   library does not know) is flushed before it runs: flushing more than architecturally
 *   needed is always allowed (INVVPID itself "may invalidate mappings for other VPIDs").
 */
#include "vpid02.h"

bool vpid02_managed(const nvmx_vm *vm)
{
    return vm->ops.tlb_flush && vm->ops.vpid_alloc && vm->ops.vpid_free;
}

void vpid02_flush(nvmx_vcpu *vcpu, nvmx_tlb_flush_kind kind, uint16_t vpid, uint64_t linear)
{
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    if (!ops->tlb_flush)
        return;
    nvmx_tlb_flush request = {.kind = kind, .vpid = vpid, .linear = linear};
    ops->tlb_flush(vcpu->ctx, &request);
}

/* The slot serving vpid12, or -1. */
static int slot_index(const vpid02_map *map, uint32_t limit, uint16_t vpid12)
{
    for (uint32_t i = 0; i < limit; i++) {
        if (map->slot[i].vpid02 && map->slot[i].vpid12 == vpid12)
            return (int)i;
    }
    return -1;
}

bool vpid02_find(const nvmx_vcpu *vcpu, uint16_t vpid12, uint16_t *vpid02)
{
    int i = slot_index(&vcpu->vpid02, vcpu->vm->max_vpid02, vpid12);
    if (i < 0)
        return false;
    *vpid02 = vcpu->vpid02.slot[i].vpid02;
    return true;
}

/* A free slot with a new VPID from the host, or NULL (table full, or vpid_alloc has none). */
static vpid02_slot *slot_allocate(nvmx_vcpu *vcpu)
{
    vpid02_map *map = &vcpu->vpid02;
    uint32_t limit = vcpu->vm->max_vpid02;
    if (map->count >= limit)
        return NULL;
    for (uint32_t i = 0; i < limit; i++) {
        if (map->slot[i].vpid02)
            continue;
        uint16_t vpid = vcpu->vm->ops.vpid_alloc(vcpu->vm->host_ctx);
        if (!vpid)
            return NULL;
        map->slot[i].vpid02 = vpid;
        map->count++;
        return &map->slot[i];
    }
    return NULL;
}

/* The least recently used slot holding a VPID, to be shared (NULL when none is held). */
static vpid02_slot *slot_oldest(vpid02_map *map, uint32_t limit)
{
    vpid02_slot *oldest = NULL;
    for (uint32_t i = 0; i < limit; i++) {
        vpid02_slot *s = &map->slot[i];
        if (s->vpid02 && (!oldest || s->last_use < oldest->last_use))
            oldest = s;
    }
    return oldest;
}

/* vpid02_get; *flushed tells whether the VPID02 was just flushed (a new owner). */
static nvmx_status slot_get(nvmx_vcpu *vcpu, uint16_t vpid12, uint16_t *vpid02, bool *flushed)
{
    nvmx_vm *vm = vcpu->vm;
    *flushed = false;
    if (!vpid02_managed(vm))
        return NVMX_ERR_UNSUPPORTED;
    vpid02_map *map = &vcpu->vpid02;
    int found = slot_index(map, vm->max_vpid02, vpid12);
    vpid02_slot *slot = found >= 0 ? &map->slot[found] : NULL;
    if (!slot) {
        slot = slot_allocate(vcpu);
        if (!slot)
            slot = slot_oldest(map, vm->max_vpid02);
        if (!slot) {
            vm_log(vm, NVMX_LOG_ERROR,
                   "vpid_alloc returned 0 and the vCPU holds no VPID to run L2 with");
            return NVMX_ERR_NO_MEMORY;
        }
        /* A new owner starts without the translations of the previous one. */
        slot->vpid12 = vpid12;
        vpid02_flush(vcpu, NVMX_TLB_FLUSH_VPID, slot->vpid02, 0);
        *flushed = true;
    }
    slot->last_use = ++map->clock;
    *vpid02 = slot->vpid02;
    return NVMX_OK;
}

nvmx_status vpid02_get(nvmx_vcpu *vcpu, uint16_t vpid12, uint16_t *vpid02)
{
    bool flushed;
    return slot_get(vcpu, vpid12, vpid02, &flushed);
}

void vpid02_flush_all_vpid12(nvmx_vcpu *vcpu)
{
    vpid02_map *map = &vcpu->vpid02;
    for (uint32_t i = 0; i < vcpu->vm->max_vpid02; i++) {
        const vpid02_slot *s = &map->slot[i];
        if (s->vpid02 && s->vpid12)
            vpid02_flush(vcpu, NVMX_TLB_FLUSH_VPID, s->vpid02, 0);
    }
}

/* vmcs12's "enable VPID", which acts only with the secondary controls activated (25.6.2). */
static bool vmcs12_enables_vpid(const vmcs12 *v)
{
    return (vmcs12_get(v, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(SECONDARY_CONTROLS)) &&
           (vmcs12_get(v, VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL) & NVMX_CTL(VPID));
}

nvmx_status vpid02_enter(nvmx_vcpu *vcpu, uint16_t *vpid02)
{
    const vmcs12 *v = &vcpu->current->data;
    bool l1_vpid = vmcs12_enables_vpid(v);
    *vpid02 = 0;
    /* vmcs02 enables VPID when L1 does (the control reaches vmcs02 only if exposed, which
     * needs the ops) or L0 does; only a managed VPID is the library's to choose. */
    if (!vpid02_managed(vcpu->vm) || !(l1_vpid || (vcpu->vm->l0.proc2 & NVMX_CTL(VPID))))
        return NVMX_OK;
    /* 27.2.1.1: an entry with "enable VPID" has VPID != 0, so key 0 is free for the rest. */
    uint16_t vpid12 = l1_vpid ? (uint16_t)vmcs12_get(v, VMCS12_ORD_VIRTUAL_PROCESSOR_ID) : 0;
    bool flushed;
    nvmx_status status = slot_get(vcpu, vpid12, vpid02, &flushed);
    if (status == NVMX_OK && !l1_vpid && !flushed)
        vpid02_flush(vcpu, NVMX_TLB_FLUSH_VPID, *vpid02, 0); /* 29.4.3.1 */
    return status;
}

void vpid02_exit(nvmx_vcpu *vcpu)
{
    if (vcpu->current && !vmcs12_enables_vpid(&vcpu->current->data))
        vpid02_flush(vcpu, NVMX_TLB_FLUSH_L1_CONTEXT, 0, 0); /* 29.4.3.1 */
}

void vpid02_destroy(nvmx_vcpu *vcpu)
{
    nvmx_vm *vm = vcpu->vm;
    vpid02_map *map = &vcpu->vpid02;
    for (uint32_t i = 0; i < NVMX_MAX_VPID02_LIMIT; i++) {
        if (map->slot[i].vpid02 && vm->ops.vpid_free)
            vm->ops.vpid_free(vm->host_ctx, map->slot[i].vpid02);
        map->slot[i] = (vpid02_slot){0};
    }
    map->count = 0;
}
