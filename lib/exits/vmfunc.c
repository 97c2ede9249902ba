/* SPDX-License-Identifier: MIT */
/*
 * VMFUNC (SDM Vol. 3C 31.3 "VMFUNC", 26.5.6 "VM Functions").
 *
 * vmcs02 enables VM functions exactly when L1's vmcs12 does, with VM-function controls 0
 * (lib/vmcs/vmcs02.c): L2's VMFUNC with EAX < 64 then exits to L0 as reason 59 instead of
 * running under controls L0 does not own, and EAX > 63 is #UD in L2 by the hardware itself.
 * Here the library applies L1's controls: a function L1 did not enable, or an EPTP switch
 * that fails, is a VM exit to L1 (reason 59); a successful EPTP switch is completed without
 * L1: vmcs12's EPTP becomes the list entry, vmcs02's EPTP the EPT02 root built from it
 * (lib/ept/ept02.c, cached per EPT12 root, so switching back reuses what was built), and RIP
 * moves past the instruction.
 *
 * Everything comes from hostile L1/L2: EAX and ECX are read once, the list entry once (8
 * bytes of L1 memory, l1_read), and the decision is taken on those copies only.
 */
#include "vmfunc.h"

#include "../ept/ept02.h"
#include "../ept/eptp.h"
#include "../vmcs/vmcs02.h"
#include "vmx_outcome.h"

/* "enable VM functions" as VMX non-root operation sees it: a secondary control, which counts
 * only while "activate secondary controls" is 1 (SDM 25.6.2). */
static bool vm_functions_enabled(const vmcs12 *v)
{
    return (vmcs12_get(v, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(SECONDARY_CONTROLS)) &&
           (vmcs12_get(v, VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL) & NVMX_CTL(ENABLE_VMFUNC));
}

/* Entry `index` (< 512) of L1's EPTP list: 8 bytes at EPTP-list address + 8 * index
 * (SDM 26.5.6.3), read once, little-endian. Not L1 RAM: all ones, as unbacked memory reads
 * (docs/ARCHITECTURE.md), which is never a valid EPTP (reserved bits 63:N). VM entry checked
 * that the list address is 4-KByte aligned within the physical-address width (27.2.1.1), so
 * the 8 bytes lie in one page and the sum cannot wrap. */
static uint64_t eptp_list_entry(const nvmx_vm *vm, const vmcs12 *v, uint32_t index)
{
    uint8_t bytes[sizeof(uint64_t)];
    uint64_t gpa = vmcs12_get(v, VMCS12_ORD_EPTP_LIST_ADDRESS) + sizeof(uint64_t) * index;
    if (vm->ops.l1_read(vm->host_ctx, gpa, bytes, sizeof(bytes)) != NVMX_OK)
        return ~0ull;
    uint64_t value = 0;
    for (unsigned i = 0; i < sizeof(bytes); i++)
        value |= (uint64_t)bytes[i] << (8 * i);
    return value;
}

/* SDM 26.5.6.3, pseudocode: ECX >= 512 -> VM exit; else the entry, VM exit unless it is a
 * valid EPTP "(would cause VM entry to fail if in EPTP)": the same rules as the VM-entry check
 * of vmcs12's EPTP (27.2.1.1, lib/ept/eptp.c: memory type and page-walk length supported,
 * A/D and supervisor shadow-stack bits only when exposed, reserved bits 11:8 and 63:N 0).
 * The SDM edition consulted (the "25.5.5.3" numbering) lists no other condition: a switch may
 * change the A/D-enable bit among exposed values (EPT02 keys its cache on it). */
static void eptp_switching(const nvmx_vm *vm, const vmcs12 *v, uint32_t ecx, vmfunc_decision *out)
{
    out->result = VMFUNC_EXIT_TO_L1;
    if (ecx >= EPTP_LIST_ENTRIES)
        return;
    uint64_t entry = eptp_list_entry(vm, v, ecx);
    if (!eptp_valid(vm, entry))
        return;
    out->result = VMFUNC_EPTP_SWITCH;
    out->eptp = entry;
    out->index = (uint16_t)ecx;
}

void vmfunc_decide(nvmx_vcpu *vcpu, vmfunc_decision *out)
{
    *out = (vmfunc_decision){.result = VMFUNC_UD};
    /* SDM 31.3: #UD outside VMX non-root operation and while "enable VM functions" is 0. */
    if (!vcpu->guest_mode || !vcpu->current || !vm_functions_enabled(&vcpu->current->data))
        return;
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    /* EAX and ECX: 32-bit registers in every mode; bits 63:32 of RAX/RCX do not count. */
    uint32_t function = (uint32_t)ops->reg_get(vcpu->ctx, NVMX_REG_RAX);
    /* SDM 26.5.6.2: #UD when EAX > 63, before any VM-function control is looked at. */
    if (function >= VMFUNC_FUNCTION_COUNT)
        return;
    const vmcs12 *v = &vcpu->current->data;
    /* SDM 26.5.6.2: a function whose VM-function control is 0 exits (reason 59). */
    out->result = VMFUNC_EXIT_TO_L1;
    if (!((vmcs12_get(v, VMCS12_ORD_VM_FUNCTION_CONTROL) >> function) & 1))
        return;
    /* EPTP switching is the only function defined; VM entry refuses the other controls
     * (reserved in the exposed IA32_VMX_VMFUNC, 27.2.1.1), so no other one can be enabled
     * here. Should one be, L1 gets the exit rather than a function nobody implements. */
    if (function != VMFUNC_EPTP_SWITCHING)
        return;
    uint32_t ecx = (uint32_t)ops->reg_get(vcpu->ctx, NVMX_REG_RCX);
    eptp_switching(vcpu->vm, v, ecx, out);
}

/* A field of the current vmcs12 changed by the processor in VMX non-root operation: dirty, so
 * the next VM entry sees the new value, and written back to L1's region later. */
static void vmcs12_set(vmcs12_cached *current, unsigned ordinal, uint64_t value)
{
    const vmcs_field_info *field = &vmcs_field_table[ordinal];
    vmcs12_write(&current->data, field, field->encoding, value);
    current->memory_stale = true;
}

/* SDM 26.5.6.3: "write tent_EPTP to the EPTP field in the current VMCS; use tent_EPTP as the
 * new EPTP value for address translation" and, if the processor supports the 1-setting of
 * "EPT-violation #VE", ECX[15:0] into the EPTP-index field. The instruction then completes:
 * no flag changes (EPTP switching defines none), RIP past it, RF cleared, a TF trap taken
 * (instruction_retire); an MTF exit follows it (lib/exits/dispatch.c). vmcs02 is written
 * first: an op failure leaves L1's state untouched. */
static vmx_outcome eptp_switch(vmx_exec *x, const vmfunc_decision *d)
{
    nvmx_vcpu *vcpu = x->vcpu;
    nvmx_status status = vmcs02_write_ept02_eptp(vcpu, d->eptp);
    if (status != NVMX_OK) {
        x->host_error = status;
        return VMX_HOST_ERROR;
    }
    vmcs12_set(vcpu->current, VMCS12_ORD_EPT_POINTER, d->eptp);
    if (nvmx_vm_has_feature(vcpu->vm, NVMX_FEATURE_EPT_VIOLATION_VE))
        vmcs12_set(vcpu->current, VMCS12_ORD_EPTP_INDEX, d->index);
    instruction_retire(vcpu, x->mode, x->insn->length, x->next);
    return VMX_COMPLETED;
}

vmx_outcome handle_vmfunc(vmx_exec *x)
{
    vmfunc_decision d;
    vmfunc_decide(x->vcpu, &d);
    switch (d.result) {
    case VMFUNC_EPTP_SWITCH:
        return eptp_switch(x, &d);
    case VMFUNC_EXIT_TO_L1:
        /* Reason 59 with the instruction length (SDM 28.2.4 lists failing VMFUNCs: function
         * not enabled, ECX >= 512, invalid tentative EPTP; checked against SDM text); the
         * qualification is cleared (28.2.1 names no VMFUNC content; that the field is
         * "cleared" rather than undefined for unlisted exits rests on memory, 0 fits both)
         * and the instruction information undefined (28.2.5): lib/exits/dispatch.c records
         * it. */
        return VMX_EXIT_TO_L1;
    default:
        return vmx_raise_ud(x);
    }
}
