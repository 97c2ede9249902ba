/* SPDX-License-Identifier: MIT */
/* Completion of VMX instructions: VMsucceed / VMfailInvalid / VMfailValid and faults. */
#include "vmx_outcome.h"

static uint64_t rip_mask(cpu_mode mode)
{
    switch (mode) {
    case CPU_MODE_LONG64:
        return ~0ull;
    case CPU_MODE_PROTECTED16:
    case CPU_MODE_COMPAT16:
    case CPU_MODE_REAL:
    case CPU_MODE_V8086:
        return 0xFFFFull; /* IP wraps within a 16-bit code segment */
    default:
        return 0xFFFFFFFFull;
    }
}

/* The instruction retires: RIP moves past it, RF clears (SDM Vol. 3A 18.3.1.1) and a set TF
 * asks for the single-step trap (SDM Vol. 3A 18.3.1.4), which the embedder delivers.
 * `clear` and `set` are the RFLAGS bits the instruction itself reports through. */
static void retire(nvmx_vcpu *vcpu, cpu_mode mode, uint8_t length, nvmx_next *next, uint64_t clear,
                   uint64_t set)
{
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    uint64_t rflags = ops->reg_get(vcpu->ctx, NVMX_REG_RFLAGS);
    uint64_t rip = ops->reg_get(vcpu->ctx, NVMX_REG_RIP);
    ops->reg_set(vcpu->ctx, NVMX_REG_RFLAGS, (rflags & ~(clear | NVMX_RFLAGS_RF)) | set);
    ops->reg_set(vcpu->ctx, NVMX_REG_RIP, (rip + length) & rip_mask(mode));
    if (rflags & NVMX_RFLAGS_TF)
        next->single_step_trap = true;
}

void instruction_retire(nvmx_vcpu *vcpu, cpu_mode mode, uint8_t length, nvmx_next *next)
{
    retire(vcpu, mode, length, next, 0, 0);
}

static vmx_outcome complete(vmx_exec *x, uint64_t set_flags)
{
    retire(x->vcpu, x->mode, x->insn->length, x->next, NVMX_RFLAGS_ARITH, set_flags);
    return VMX_COMPLETED;
}

/* SDM 31.2: VMsucceed clears CF, PF, AF, ZF, SF and OF. */
vmx_outcome vmx_succeed(vmx_exec *x)
{
    return complete(x, 0);
}

/* SDM 31.2: VMfailInvalid sets CF and clears the other five. */
vmx_outcome vmx_fail_invalid(vmx_exec *x)
{
    return complete(x, NVMX_RFLAGS_CF);
}

/* SDM 31.2: VMfailValid sets ZF, clears the other five, and stores the error number in the
 * VM-instruction error field of the current VMCS. */
vmx_outcome vmx_fail_valid(vmx_exec *x, unsigned error_number)
{
    vmcs12_cached *current = x->vcpu->current;
    const vmcs_field_info *field = &vmcs_field_table[VMCS12_ORD_VM_INSTRUCTION_ERROR];
    vmcs12_write(&current->data, field, field->encoding, error_number);
    current->memory_stale = true;
    return complete(x, NVMX_RFLAGS_ZF);
}

/* SDM 31.2: VMfail(n) is VMfailValid(n) when the current-VMCS pointer is valid, else
 * VMfailInvalid. */
vmx_outcome vmx_fail(vmx_exec *x, unsigned error_number)
{
    if (x->vcpu->current)
        return vmx_fail_valid(x, error_number);
    return vmx_fail_invalid(x);
}

/* SDM 26.2: an exception L2 raises is a VM exit to L1 when L1's exception bitmap (with the
 * #PF error-code filter) says so; the exit carries the exception as interruption information
 * (28.2.2: vector, type 3 "hardware exception", error-code valid bit) and, for #PF, the
 * faulting linear address as exit qualification (28.2.1). Returns true when recorded. */
static bool exception_exits_to_l1(nvmx_vcpu *vcpu, const nvmx_exception *exception)
{
    nvmx_exit exit = {
        .reason = NVMX_EXIT_EXCEPTION_NMI,
        .qualification = exception->vector == NVMX_VECTOR_PF ? exception->cr2 : 0,
        .interruption_info = NVMX_INTR_INFO_VALID |
                             (NVMX_INTR_TYPE_HARDWARE_EXCEPTION << NVMX_INTR_INFO_TYPE_SHIFT) |
                             exception->vector |
                             (exception->has_error_code ? NVMX_INTR_INFO_DELIVER_ERROR_CODE : 0),
        .interruption_error_code = exception->has_error_code ? exception->error_code : 0,
    };
    if (!exit_wanted_by_l1(vcpu, &exit))
        return false;
    nested_exit_record(vcpu, &exit);
    return true;
}

bool vmx_operand_accessed(vmx_exec *x, nvmx_status status, const nvmx_exception *fault,
                          vmx_outcome *outcome)
{
    if (status == NVMX_OK)
        return true;
    if (status == NVMX_ERR_BAD_L1_ADDRESS) {
        *outcome = vmx_fault(x, fault);
    } else {
        x->host_error = status;
        *outcome = VMX_HOST_ERROR;
    }
    return false;
}

vmx_outcome vmx_fault(vmx_exec *x, const nvmx_exception *exception)
{
    /* Not exceptions: an EPT12 fault of an operand access of L2 (lib/exits/ept_exits.c). The
     * EPT exit to L1 is recorded; a retry completes nothing, RIP stays, L2 repeats. */
    if (exception->vector == OPERAND_EPT12_EXIT_VECTOR)
        return VMX_FAULT_TO_L1;
    if (exception->vector == OPERAND_EPT12_RETRY_VECTOR)
        return VMX_FAULTED;
    if (x->vcpu->guest_mode && exception_exits_to_l1(x->vcpu, exception))
        return VMX_FAULT_TO_L1;
    x->vcpu->vm->ops.inject_exception(x->vcpu->ctx, exception);
    x->next->exception_vector = exception->vector;
    return VMX_FAULTED;
}

vmx_outcome vmx_raise_ud(vmx_exec *x)
{
    nvmx_exception ud = {.vector = NVMX_VECTOR_UD};
    return vmx_fault(x, &ud);
}

vmx_outcome vmx_raise_gp0(vmx_exec *x)
{
    nvmx_exception gp = {.vector = NVMX_VECTOR_GP, .has_error_code = true, .error_code = 0};
    return vmx_fault(x, &gp);
}

/* The first three lines shared by VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMLAUNCH, VMRESUME,
 * INVEPT, INVVPID (SDM 31.3): #UD, then VM exit in non-root operation, then #GP(0) at CPL > 0.
 * Returns true with *outcome set when one of them applies. */
bool vmx_common_checks(vmx_exec *x, vmx_outcome *outcome)
{
    if (vmx_ud_outside_vmx(x))
        *outcome = vmx_raise_ud(x);
    else if (x->vcpu->guest_mode)
        *outcome = VMX_EXIT_TO_L1;
    else if (cpu_cpl(x->vcpu) > 0)
        *outcome = vmx_raise_gp0(x);
    else
        return false;
    return true;
}

size_t vmx_operand_size(const vmx_exec *x)
{
    return x->mode == CPU_MODE_LONG64 ? 8 : 4;
}

bool vmx_ud_outside_vmx(const vmx_exec *x)
{
    if (!x->vcpu->vmx_operation)
        return true;
    switch (x->mode) {
    case CPU_MODE_REAL:  /* CR0.PE = 0 */
    case CPU_MODE_V8086: /* RFLAGS.VM = 1 */
    case CPU_MODE_COMPAT16:
    case CPU_MODE_COMPAT32: /* IA32_EFER.LMA = 1 and CS.L = 0 */
        return true;
    default:
        return false;
    }
}

bool vmx_pointer_invalid(const nvmx_vcpu *vcpu, uint64_t address)
{
    uint64_t beyond_width = ~0ull << vcpu->vm->phys_addr_width;
    return (address & PAGE_OFFSET_MASK) || (address & beyond_width);
}
