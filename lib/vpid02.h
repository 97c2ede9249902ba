/* SPDX-License-Identifier: MIT */
/*
 * VPID for L2 (SDM Vol. 3C 29.1 VPIDs, 29.4 caching of translations): the hardware VPIDs
 * ("VPID02s") L2 runs with, and the TLB flushes the VPID rules of VM entries, VM exits and
 * INVVPID call for, through the tlb_flush op.
 *
 * Each VPID L1 uses in a vmcs12 ("VPID12") gets its own VPID02 from the vpid_alloc op, in a
 * bounded per-vCPU table (vm->max_vpid02 slots, struct vpid02_map in internal.h). A VPID12
 * without a slot takes a free one, or, when the table is full or vpid_alloc has none left,
 * the least recently used slot: that VPID02 changes owner and is flushed first, so the new
 * owner never sees the old owner's translations. An L2 whose vmcs12 does not enable VPID has
 * the slot of key 0: L1's "VPID 0000H" as seen from L2.
 *
 * The library runs vmcs02's VPID only when the host gives it the tlb_flush, vpid_alloc and
 * vpid_free ops (vpid02_managed); otherwise vmcs02's VPID stays L0's, as before.
 */
#ifndef NESTVMX_LIB_VPID02_H
#define NESTVMX_LIB_VPID02_H

#include "internal.h"

/* Whether the library owns vmcs02's VPID field: the host gave it tlb_flush, vpid_alloc and
 * vpid_free. */
bool vpid02_managed(const nvmx_vm *vm);

/* The VPID02 of L1's VPID `vpid12` (0 = an L2 without "enable VPID"), taking a slot when it
 * has none (flushing a reassigned VPID02 and a newly allocated one). NVMX_ERR_UNSUPPORTED
 * when the ops are missing, NVMX_ERR_NO_MEMORY when vpid_alloc has nothing and the vCPU holds
 * no VPID to share. */
nvmx_status vpid02_get(nvmx_vcpu *vcpu, uint16_t vpid12, uint16_t *vpid02);
/* The VPID02 `vpid12` has now, without taking a slot: false when it has none (its
 * translations were flushed when its slot was taken away, or it never ran). */
bool vpid02_find(const nvmx_vcpu *vcpu, uint16_t vpid12, uint16_t *vpid02);

/* Ask the host to drop cached translations (no-op without the tlb_flush op). */
void vpid02_flush(nvmx_vcpu *vcpu, nvmx_tlb_flush_kind kind, uint16_t vpid, uint64_t linear);
/* INVVPID all-context (SDM 31.3): every VPID02 that serves a VPID12 other than 0. */
void vpid02_flush_all_vpid12(nvmx_vcpu *vcpu);

/* VM entry to L2 with vcpu->current (SDM 27.x / 29.4.3.1): *vpid02 = the VPID vmcs02 runs L2
 * with when vmcs02 enables VPID (vmcs12's "enable VPID" or L0's own), else 0. With vmcs12's
 * "enable VPID" 0 the entry invalidates L1's "VPID 0000H" mappings, which L2 then uses: the
 * VPID02 of key 0 is flushed. Errors as vpid02_get. */
nvmx_status vpid02_enter(nvmx_vcpu *vcpu, uint16_t *vpid02);
/* VM exit to L1 from vcpu->current, or a VM-entry failure that loads L1's host state
 * (SDM 29.4.3.1): with vmcs12's "enable VPID" 0 the transition invalidates the "VPID 0000H"
 * mappings, which are L1's own: L1's context is flushed. */
void vpid02_exit(nvmx_vcpu *vcpu);

/* Give every VPID02 back (vCPU destroy). */
void vpid02_destroy(nvmx_vcpu *vcpu);

#endif
