/* SPDX-License-Identifier: MIT */
/*
 * VMREAD and VMWRITE (SDM Vol. 3C 31.3), in VMX root operation on the current vmcs12 and, with
 * VMCS shadowing, in non-root operation on the VMCS the link pointer references (SDM 25.10).
 */
#include "vmx_outcome.h"

/* The field encoding operand: 64 bits in 64-bit mode, else 32 (SDM 31.3 VMREAD/VMWRITE). */
uint64_t vmcs_encoding_operand(const nvmx_vcpu *vcpu, cpu_mode mode, unsigned reg)
{
    uint64_t value = vcpu->vm->ops.reg_get(vcpu->ctx, (nvmx_reg)reg);
    return mode == CPU_MODE_LONG64 ? value : (value & 0xFFFFFFFFull);
}

static uint64_t field_encoding(const vmx_exec *x)
{
    return vmcs_encoding_operand(x->vcpu, x->mode, x->insn->reg);
}

/* SDM 25.6.2: secondary controls act only while "activate secondary controls" is 1. */
static bool shadowing_enabled(const vmcs12 *v)
{
    return (vmcs12_get(v, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(SECONDARY_CONTROLS)) &&
           (vmcs12_get(v, VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL) & NVMX_CTL(SHADOW_VMCS));
}

/* In non-root operation: does L2's VMREAD/VMWRITE exit to L1? (SDM 31.3, 25.10) SDM 25.6.15:
 * bits 14:0 of the encoding index the 4-KiB VMREAD/VMWRITE bitmap; an encoding with bits 63:15
 * set always exits. */
bool vmcs_shadowing_exits_to_l1(const nvmx_vcpu *vcpu, bool write, uint64_t encoding)
{
    const vmcs12 *v = &vcpu->current->data;
    if (!shadowing_enabled(v) || (encoding >> 15))
        return true;
    unsigned bitmap = write ? VMCS12_ORD_VMWRITE_BITMAP : VMCS12_ORD_VMREAD_BITMAP;
    return l1_bitmap_bit(vcpu->vm, vmcs12_get(v, bitmap), encoding);
}

/* The VMCS the instruction accesses, or NULL with *outcome set (VMfailInvalid or a host
 * error). Root: the current VMCS. Non-root: the VMCS link pointer's. */
static vmcs12_cached *target_vmcs(vmx_exec *x, vmx_outcome *outcome)
{
    nvmx_vcpu *vcpu = x->vcpu;
    if (!vcpu->guest_mode) {
        if (!vcpu->current)
            *outcome = vmx_fail_invalid(x);
        return vcpu->current;
    }
    uint64_t link = vmcs12_get(&vcpu->current->data, VMCS12_ORD_VMCS_LINK_POINTER);
    if (link == NVMX_INVALID_VMPTR) {
        *outcome = vmx_fail_invalid(x);
        return NULL;
    }
    vmcs12_cached *shadow;
    bool loaded;
    nvmx_status status =
        vmcs12_cache_get(vcpu->vm, &vcpu->cache, link, vcpu->current, &shadow, &loaded);
    if (status != NVMX_OK) {
        x->host_error = status;
        *outcome = VMX_HOST_ERROR;
        return NULL;
    }
    return shadow;
}

/* The field, if it exists for this VM's L1 (SDM 31.3: "does not correspond to any VMCS
 * field" — a field whose feature is not exposed does not exist). */
static const vmcs_field_info *existing_field(const nvmx_vm *vm, uint64_t encoding)
{
    const vmcs_field_info *field = vmcs_field_lookup(encoding);
    if (!field || !((vm->field_exists[field->ordinal / 64] >> (field->ordinal % 64)) & 1))
        return NULL;
    return field;
}

static vmx_outcome operand_fault_or_error(vmx_exec *x, nvmx_status status,
                                          const nvmx_exception *fault)
{
    if (status == NVMX_ERR_BAD_L1_ADDRESS)
        return vmx_fault(x, fault);
    x->host_error = status;
    return VMX_HOST_ERROR;
}

/* The order of the first checks is the same for both instructions. */
static bool leading_checks(vmx_exec *x, bool write, uint64_t encoding, vmx_outcome *outcome)
{
    if (vmx_ud_outside_vmx(x))
        *outcome = vmx_raise_ud(x);
    else if (x->vcpu->guest_mode && vmcs_shadowing_exits_to_l1(x->vcpu, write, encoding))
        *outcome = VMX_EXIT_TO_L1;
    else if (cpu_cpl(x->vcpu) > 0)
        *outcome = vmx_raise_gp0(x);
    else
        return false;
    return true;
}

vmx_outcome handle_vmread(vmx_exec *x)
{
    vmx_outcome outcome;
    /* Outside VMX operation the encoding register is not looked at; reading it is harmless. */
    uint64_t encoding = field_encoding(x);
    if (leading_checks(x, false, encoding, &outcome))
        return outcome;
    vmcs12_cached *target = target_vmcs(x, &outcome);
    if (!target)
        return outcome;
    const vmcs_field_info *field = existing_field(x->vcpu->vm, encoding);
    if (!field)
        return vmx_fail_valid(x, NVMX_VMERR_UNSUPPORTED_VMCS_COMPONENT);
    /* A shorter field is zero-extended; a longer one is cut to the operand size. */
    size_t size = vmx_operand_size(x);
    uint64_t value = vmcs12_read(&target->data, field, encoding);
    if (size == 4)
        value &= 0xFFFFFFFFull;
    nvmx_exception fault;
    nvmx_status status = operand_write(x->vcpu, x->insn, size, value, &fault);
    if (status != NVMX_OK)
        return operand_fault_or_error(x, status, &fault);
    return vmx_succeed(x);
}

vmx_outcome handle_vmwrite(vmx_exec *x)
{
    vmx_outcome outcome;
    uint64_t encoding = field_encoding(x);
    if (leading_checks(x, true, encoding, &outcome))
        return outcome;
    vmcs12_cached *target = target_vmcs(x, &outcome);
    if (!target)
        return outcome;
    /* SDM 31.3 VMWRITE: a memory source faults after the VMCS-pointer check and before the
     * field checks. */
    uint64_t value;
    nvmx_exception fault;
    nvmx_status status = operand_read(x->vcpu, x->insn, vmx_operand_size(x), &value, &fault);
    if (status != NVMX_OK)
        return operand_fault_or_error(x, status, &fault);
    const vmcs_field_info *field = existing_field(x->vcpu->vm, encoding);
    if (!field)
        return vmx_fail_valid(x, NVMX_VMERR_UNSUPPORTED_VMCS_COMPONENT);
    /* VM-exit information fields are read-only unless IA32_VMX_MISC[29] is exposed. */
    if (NVMX_FIELD_TYPE(field->encoding) == NVMX_FIELD_TYPE_READ_ONLY_DATA &&
        !nvmx_vm_has_feature(x->vcpu->vm, NVMX_FEATURE_VMWRITE_ANY_FIELD))
        return vmx_fail_valid(x, NVMX_VMERR_VMWRITE_READ_ONLY_COMPONENT);
    vmcs12_write(&target->data, field, encoding, value);
    target->memory_stale = true;
    return vmx_succeed(x);
}
