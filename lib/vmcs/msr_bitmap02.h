/* SPDX-License-Identifier: MIT */
/*
 * vmcs02's MSR bitmap: L0's policy for L2 (nvmx_l0_controls.msr_bitmap) merged with the
 * bitmap of vmcs12, so that an RDMSR/WRMSR of L2 exits when either L0 or L1 wants it.
 */
#ifndef NESTVMX_LIB_VMCS_MSR_BITMAP02_H
#define NESTVMX_LIB_VMCS_MSR_BITMAP02_H

#include "../internal.h"

/* Give the vCPU its merged-bitmap page when L0 has an MSR policy for L2 and VMX is exposed;
 * nothing otherwise.
 * NVMX_ERR_NO_MEMORY when page_alloc fails, NVMX_ERR_HOST when it returns an address that is
 * not a page below 2^52; nothing is kept on failure. */
nvmx_status msr_bitmap02_create(nvmx_vcpu *vcpu);
/* Free the page (if any). */
void msr_bitmap02_destroy(nvmx_vcpu *vcpu);

/* L0 says its policy may have changed (nvmx_vcpu_vmcs02_invalidate): the next whole build reads
 * it again. */
void msr_bitmap02_policy_changed(nvmx_vcpu *vcpu);

/* Whether vmcs02 runs L2 with "use MSR bitmaps": L0 has a policy (then every vCPU of a VM
 * exposing VMX has its page) and vmcs12 sets the control (cut to what the VM exposes). Otherwise
 * vmcs02 has no bitmap and every access exits. */
bool msr_bitmap02_used(const nvmx_vm *vm, const vmcs12 *v);

/* At every VM entry to L2, after the controls: merge L1's current bitmap into the page (one
 * l1_read of the bytes L0 passes through). full: vmcs02 is rebuilt whole (another vmcs12, or L0
 * changed its vmcs02): write vmcs02's MSR-bitmap address, and reset the page from L0's bitmap
 * if that is new or changed.
 * NVMX_ERR_HOST when an op fails; the page then intercepts every MSR L0 could pass through. */
nvmx_status msr_bitmap02_update(nvmx_vcpu *vcpu, const vmcs12 *v, bool full);

#endif
