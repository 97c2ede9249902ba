/* SPDX-License-Identifier: MIT */
/*
 * Coherence of EPT02 with L0's EPT01 (issue 4 item 6): when L0 changes what an L1 GPA maps to,
 * every EPT02 leaf derived from it goes (ept02_invalidate_l1_range, which asks the host to
 * flush the hardware's cached translations of each EPT02 that lost one, SDM 29.4.3).
 */
#include "ept02.h"

nvmx_status nvmx_vcpu_ept01_changed(nvmx_vcpu *vcpu, uint64_t l1_gpa, uint64_t len)
{
    if (!vcpu)
        return NVMX_ERR_INVALID_ARGUMENT;
    ept02_invalidate_l1_range(vcpu, l1_gpa, len);
    return NVMX_OK;
}

nvmx_status nvmx_ept01_changed(nvmx_vm *vm, uint64_t l1_gpa, uint64_t len)
{
    if (!vm)
        return NVMX_ERR_INVALID_ARGUMENT;
    /* The list has vcpu_count entries: bounded by what the embedder created. */
    for (nvmx_vcpu *vcpu = vm->vcpus; vcpu; vcpu = vcpu->next_in_vm)
        ept02_invalidate_l1_range(vcpu, l1_gpa, len);
    return NVMX_OK;
}
