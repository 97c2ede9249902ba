/* SPDX-License-Identifier: MIT */
/* vCPU lifecycle and state queries. */
#include "internal.h"
#include "ept/ept02.h"
#include "vmcs/msr_bitmap02.h"
#include "vpid02.h"
#include "vmcs/vmcs02.h"

nvmx_status nvmx_vcpu_create(nvmx_vm *vm, void *vcpu_ctx, nvmx_vcpu **out)
{
    if (!vm || !out)
        return NVMX_ERR_INVALID_ARGUMENT;
    nvmx_vcpu *vcpu = vm_alloc(vm, sizeof(*vcpu));
    if (!vcpu) {
        *out = NULL;
        return NVMX_ERR_NO_MEMORY;
    }
    nvmx_memset(vcpu, 0, sizeof(*vcpu));
    vcpu->vm = vm;
    vcpu->ctx = vcpu_ctx;
    /* After reset the processor is outside VMX operation with no current VMCS (SDM 24.7). */
    vcpu->current_vmptr = NVMX_INVALID_VMPTR;
    vcpu->vmxon_ptr = NVMX_INVALID_VMPTR;
    vcpu->vmcs02_source = NVMX_INVALID_VMPTR;
    vcpu->feature_control = vm->feature_control_at_reset;
    vmcs12_cache_init(&vcpu->cache);
    nvmx_status status = msr_bitmap02_create(vcpu);
    if (status != NVMX_OK) {
        vm_free(vm, vcpu, sizeof(*vcpu));
        *out = NULL;
        return status;
    }
    vcpu->next_in_vm = vm->vcpus;
    vm->vcpus = vcpu;
    vm->vcpu_count++;
    *out = vcpu;
    return NVMX_OK;
}

void nvmx_vcpu_destroy(nvmx_vcpu *vcpu)
{
    if (!vcpu)
        return;
    nvmx_vm *vm = vcpu->vm;
    vmcs12_cache_flush(vm, &vcpu->cache);
    ept02_destroy(vcpu);
    msr_bitmap02_destroy(vcpu);
    nvmx_vcpu **link = &vm->vcpus;
    while (*link && *link != vcpu)
        link = &(*link)->next_in_vm;
    if (*link)
        *link = vcpu->next_in_vm;
    vpid02_destroy(vcpu);
    vm->vcpu_count--;
    vm_free(vm, vcpu, sizeof(*vcpu));
}

void nvmx_vcpu_vmcs02_invalidate(nvmx_vcpu *vcpu)
{
    if (vcpu) {
        vmcs02_invalidate(vcpu);
        msr_bitmap02_policy_changed(vcpu);
    }
}

bool nvmx_vcpu_in_vmx_operation(const nvmx_vcpu *vcpu)
{
    return vcpu && vcpu->vmx_operation;
}

bool nvmx_vcpu_in_guest_mode(const nvmx_vcpu *vcpu)
{
    return vcpu && vcpu->guest_mode;
}

uint64_t nvmx_vcpu_current_vmcs(const nvmx_vcpu *vcpu)
{
    return vcpu ? vcpu->current_vmptr : NVMX_INVALID_VMPTR;
}
