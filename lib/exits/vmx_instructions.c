/* SPDX-License-Identifier: MIT */
/*
 * VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMCALL and the checks of the instructions whose
 * main work lives elsewhere (VMLAUNCH/VMRESUME in vm_entry.c, VMFUNC in vmfunc.c, INVEPT and
 * INVVPID in inv_instructions.c). Each handler follows
 * the "Operation" pseudocode of its SDM Vol. 3C 31.3 entry, in its order.
 */
#include "vmx_outcome.h"

static uint64_t reg(const vmx_exec *x, nvmx_reg r)
{
    return x->vcpu->vm->ops.reg_get(x->vcpu->ctx, r);
}

/* SDM 24.8: in VMX operation CR0 and CR4 must have the bits FIXED0 requires and none that
 * FIXED1 forbids; VMXON checks the same (#GP). */
static bool cr_fixed_bits_ok(const nvmx_vm *vm, uint64_t cr0, uint64_t cr4)
{
    const nvmx_vmx_caps *c = &vm->caps;
    return (cr0 & c->cr0_fixed0) == c->cr0_fixed0 && !(cr0 & ~c->cr0_fixed1) &&
           (cr4 & c->cr4_fixed0) == c->cr4_fixed0 && !(cr4 & ~c->cr4_fixed1);
}

/* Read the 64-bit memory operand of VMXON/VMCLEAR/VMPTRLD. */
static bool read_pointer(vmx_exec *x, uint64_t *address, vmx_outcome *outcome)
{
    nvmx_exception fault;
    nvmx_status status = operand_read(x->vcpu, x->insn, 8, address, &fault);
    return vmx_operand_accessed(x, status, &fault, outcome);
}

/* The 32 bits at a physical address; unbacked memory reads as all ones. */
static uint32_t read_revision(const nvmx_vm *vm, uint64_t address)
{
    uint32_t revision;
    if (vm->ops.l1_read(vm->host_ctx, address, &revision, sizeof(revision)) != NVMX_OK)
        revision = 0xFFFFFFFFu;
    return revision;
}

/* VMXON outside VMX operation: the #GP conditions, then the pointer checks. In-SMX operation
 * and A20M are not modelled (never true for an L1 of this library). */
static vmx_outcome vmxon_enter(vmx_exec *x)
{
    nvmx_vcpu *vcpu = x->vcpu;
    uint64_t fc = vcpu->feature_control;
    if (cpu_cpl(vcpu) > 0 ||
        !cr_fixed_bits_ok(vcpu->vm, reg(x, NVMX_REG_CR0), reg(x, NVMX_REG_CR4)) ||
        !(fc & NVMX_FEATURE_CONTROL_LOCK) || !(fc & NVMX_FEATURE_CONTROL_VMX_OUTSIDE_SMX))
        return vmx_raise_gp0(x);
    uint64_t address;
    vmx_outcome outcome;
    if (!read_pointer(x, &address, &outcome))
        return outcome;
    if (vmx_pointer_invalid(vcpu, address))
        return vmx_fail_invalid(x);
    /* The VMXON region's revision must be ours with bit 31 clear. */
    if (read_revision(vcpu->vm, address) != NVMX_VMCS_REVISION_ID)
        return vmx_fail_invalid(x);
    vcpu->vmx_operation = true;
    vcpu->vmxon_ptr = address;
    vcpu->current_vmptr = NVMX_INVALID_VMPTR;
    vcpu->current = NULL;
    return vmx_succeed(x);
}

vmx_outcome handle_vmxon(vmx_exec *x)
{
    /* SDM 31.3 VMXON: #UD with a register operand, CR0.PE = 0, CR4.VMXE = 0, RFLAGS.VM = 1
     * or in compatibility mode — checked before whether in VMX operation. */
    bool wrong_mode = x->mode == CPU_MODE_REAL || x->mode == CPU_MODE_V8086 ||
                      x->mode == CPU_MODE_COMPAT16 || x->mode == CPU_MODE_COMPAT32;
    if (x->insn->rm_is_register || wrong_mode || !(reg(x, NVMX_REG_CR4) & NVMX_CR4_VMXE))
        return vmx_raise_ud(x);
    if (!x->vcpu->vmx_operation)
        return vmxon_enter(x);
    if (x->vcpu->guest_mode)
        return VMX_EXIT_TO_L1;
    if (cpu_cpl(x->vcpu) > 0)
        return vmx_raise_gp0(x);
    return vmx_fail(x, NVMX_VMERR_VMXON_IN_ROOT);
}

vmx_outcome handle_vmxoff(vmx_exec *x)
{
    vmx_outcome outcome;
    if (vmx_common_checks(x, &outcome))
        return outcome;
    /* Dual-monitor treatment of SMIs is never active here, so error 23 cannot arise. Active
     * VMCSs are written back, which the SDM allows at any time (SDM 25.11.1). */
    nvmx_vcpu *vcpu = x->vcpu;
    vmcs12_cache_vmxoff(vcpu->vm, &vcpu->cache);
    vcpu->vmx_operation = false;
    vcpu->vmxon_ptr = NVMX_INVALID_VMPTR;
    vcpu->current_vmptr = NVMX_INVALID_VMPTR;
    vcpu->current = NULL;
    return vmx_succeed(x);
}

/* The shared start of VMCLEAR and VMPTRLD (SDM 31.3): the common checks, the 64-bit pointer
 * operand, then VMfail for an invalid pointer and for the VMXON pointer. Returns true with
 * the pointer when the instruction goes on; else *outcome is set. */
static bool vmcs_pointer_operand(vmx_exec *x, unsigned invalid_error, unsigned vmxon_error,
                                 uint64_t *address, vmx_outcome *outcome)
{
    if (vmx_common_checks(x, outcome) || !read_pointer(x, address, outcome))
        return false;
    if (vmx_pointer_invalid(x->vcpu, *address))
        *outcome = vmx_fail(x, invalid_error);
    else if (*address == x->vcpu->vmxon_ptr)
        *outcome = vmx_fail(x, vmxon_error);
    else
        return true;
    return false;
}

vmx_outcome handle_vmclear(vmx_exec *x)
{
    vmx_outcome outcome;
    uint64_t address;
    if (!vmcs_pointer_operand(x, NVMX_VMERR_VMCLEAR_INVALID_ADDRESS,
                              NVMX_VMERR_VMCLEAR_VMXON_POINTER, &address, &outcome))
        return outcome;
    nvmx_vcpu *vcpu = x->vcpu;
    /* The VMCS's data goes to memory, its launch state becomes clear and it stops being
     * active, so L1 may now move it (SDM 25.1, 25.11.3). */
    vmcs12_cached *entry = vmcs12_cache_find(vcpu->vm, &vcpu->cache, address);
    if (entry) {
        entry->launch_state = VMCS12_STATE_CLEAR;
        entry->memory_stale = true;
        if (entry == vcpu->current)
            vcpu->current = NULL;
        vmcs12_cache_evict(vcpu->vm, &vcpu->cache, entry);
    } else {
        vmcs12_region_set_launch_state(vcpu->vm, address, VMCS12_STATE_CLEAR);
    }
    if (address == vcpu->current_vmptr)
        vcpu->current_vmptr = NVMX_INVALID_VMPTR;
    return vmx_succeed(x);
}

/* SDM 31.3 VMPTRLD: the revision must be ours; bit 31 (shadow VMCS) only if VMCS shadowing
 * is supported. */
static bool vmptrld_revision_ok(const nvmx_vm *vm, uint32_t revision)
{
    if ((revision & ~VMCS12_SHADOW_INDICATOR) != NVMX_VMCS_REVISION_ID)
        return false;
    return !(revision & VMCS12_SHADOW_INDICATOR) ||
           nvmx_vm_has_feature(vm, NVMX_FEATURE_SHADOW_VMCS);
}

vmx_outcome handle_vmptrld(vmx_exec *x)
{
    vmx_outcome outcome;
    uint64_t address;
    if (!vmcs_pointer_operand(x, NVMX_VMERR_VMPTRLD_INVALID_ADDRESS,
                              NVMX_VMERR_VMPTRLD_VMXON_POINTER, &address, &outcome))
        return outcome;
    nvmx_vcpu *vcpu = x->vcpu;
    vmcs12_cached *entry;
    bool loaded;
    nvmx_status status =
        vmcs12_cache_get(vcpu->vm, &vcpu->cache, address, vcpu->current, &entry, &loaded);
    if (status != NVMX_OK) {
        x->host_error = status;
        return VMX_HOST_ERROR;
    }
    if (!vmptrld_revision_ok(vcpu->vm, entry->revision)) {
        if (loaded)
            vmcs12_cache_drop(vcpu->vm, &vcpu->cache, entry);
        return vmx_fail(x, NVMX_VMERR_VMPTRLD_INCORRECT_REVISION);
    }
    /* The previous VMCS stays active (cached) and its data is flushed to its region. Loading
     * `entry` could not evict it (it was current): with max_cached_vmcs = 1 it is the one
     * entry too many, and leaves the cache now. */
    if (vcpu->current && vcpu->current != entry) {
        vmcs12_cache_writeback(vcpu->vm, vcpu->current);
        if (vcpu->cache.count > vcpu->vm->max_cached_vmcs)
            vmcs12_cache_evict(vcpu->vm, &vcpu->cache, vcpu->current);
    }
    vcpu->current = entry;
    vcpu->current_vmptr = address;
    return vmx_succeed(x);
}

vmx_outcome handle_vmptrst(vmx_exec *x)
{
    vmx_outcome outcome;
    if (vmx_common_checks(x, &outcome))
        return outcome;
    nvmx_exception fault;
    nvmx_status status = operand_write(x->vcpu, x->insn, 8, x->vcpu->current_vmptr, &fault);
    if (status == NVMX_ERR_BAD_L1_ADDRESS)
        return vmx_fault(x, &fault);
    if (status != NVMX_OK) {
        x->host_error = status;
        return VMX_HOST_ERROR;
    }
    return vmx_succeed(x);
}

vmx_outcome handle_vmcall(vmx_exec *x)
{
    /* SDM 31.3 VMCALL: unlike the others, VMCALL exits from non-root operation before the
     * mode checks. In root operation without an SMM monitor it fails with error 1. */
    if (!x->vcpu->vmx_operation)
        return vmx_raise_ud(x);
    if (x->vcpu->guest_mode)
        return VMX_EXIT_TO_L1;
    if (vmx_ud_outside_vmx(x))
        return vmx_raise_ud(x);
    if (cpu_cpl(x->vcpu) > 0)
        return vmx_raise_gp0(x);
    return vmx_fail(x, NVMX_VMERR_VMCALL_IN_ROOT);
}
