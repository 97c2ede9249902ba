/* SPDX-License-Identifier: MIT */
/*
 * vmcs02: the VMCS L0 runs L2 with, merged from vmcs12 (what L1 asked for) and L0's own needs
 * (nvmx_l0_controls), written through the hw_vmcs_write op.
 */
#ifndef NESTVMX_LIB_VMCS_VMCS02_H
#define NESTVMX_LIB_VMCS_VMCS02_H

#include "../internal.h"

/* Build vmcs02 for entering vcpu->current (with L1's preemption timer armed first,
 * preemption_timer_arm). Everything on the first entry from this vmcs12 (or
 * after vmcs02_invalidate), else only what L1 changed since the last entry (vmcs12 dirty bits).
 * pdpte: the four PDPTEs of a PAE L2 without EPT in vmcs12, read once by the entry checks, or
 * NULL. Clears the vmcs12 dirty bits. Returns an op failure as NVMX_ERR_HOST. */
nvmx_status vmcs02_build(nvmx_vcpu *vcpu, const uint64_t *pdpte);

/* vmcs02's VPID for this entry: the VPID02 of vmcs12's VPID (or of "VPID 0000H" when vmcs12
 * does not enable VPID) when vmcs02 enables VPID and the host gave the VPID ops; requests the
 * flushes the entry owes (lib/vpid02.c). Called by vmcs02_build. */
nvmx_status vmcs02_write_vpid(nvmx_vcpu *vcpu);

/* After a VM exit to L1 saved L2's state from vmcs02 into vmcs12: those fields are equal in
 * both, so they are not dirty. The "IA-32e mode guest" entry control an exit may update stays
 * dirty only if it changed (entry_controls_before: its value before the exit). */
void vmcs02_synced_by_exit(nvmx_vcpu *vcpu, uint64_t entry_controls_before);

/* Write vmcs02's EPT pointer for vcpu->current: the EPT02 of vmcs12's EPTP when vmcs12
 * enables EPT, else vmcs01's EPTP when L0 runs L2 with EPT (nvmx_l0_controls.proc2), else
 * nothing (who writes what: vmcs02.c). Called by every vmcs02_build; call it after changing
 * vmcs12's EPTP while L2 runs (EPTP switching). NVMX_ERR_NO_MEMORY / NVMX_ERR_UNSUPPORTED from
 * ept02_root_hpa, NVMX_ERR_HOST when a hardware-VMCS op fails. */
/* vmcs02 runs L2 on the EPT02 of eptp12 (created empty when absent): the step of
 * vmcs02_write_eptp that EPTP switching (lib/exits/vmfunc.c) also takes. */
nvmx_status vmcs02_write_ept02_eptp(nvmx_vcpu *vcpu, uint64_t eptp12);
nvmx_status vmcs02_write_eptp(nvmx_vcpu *vcpu);

/* The next vmcs02_build writes every field (L0 changed its own state, or state was restored). */
void vmcs02_invalidate(nvmx_vcpu *vcpu);

#endif
