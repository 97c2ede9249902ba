/* SPDX-License-Identifier: MIT */
/*
 * The event entry points: an exit from L1 or from L2 arrives, the library finds what
 * instruction it was (from the VM-exit information or by decoding the bytes), carries it out
 * and says what runs next.
 */
#include "../vmcs/vmcs02.h"
#include "ept_exits.h"
#include "vmx_outcome.h"

typedef vmx_outcome (*vmx_handler)(vmx_exec *);

/* Handlers by exit reason: the table is the list of instructions the library owns. */
static const vmx_handler handlers[] = {
    [NVMX_EXIT_VMCALL] = handle_vmcall,
    [NVMX_EXIT_VMCLEAR] = handle_vmclear,
    [NVMX_EXIT_VMLAUNCH] = handle_vmlaunch_vmresume,
    [NVMX_EXIT_VMPTRLD] = handle_vmptrld,
    [NVMX_EXIT_VMPTRST] = handle_vmptrst,
    [NVMX_EXIT_VMREAD] = handle_vmread,
    [NVMX_EXIT_VMRESUME] = handle_vmlaunch_vmresume,
    [NVMX_EXIT_VMWRITE] = handle_vmwrite,
    [NVMX_EXIT_VMXOFF] = handle_vmxoff,
    [NVMX_EXIT_VMXON] = handle_vmxon,
    [NVMX_EXIT_INVEPT] = handle_invept,
    [NVMX_EXIT_INVVPID] = handle_invvpid,
    [NVMX_EXIT_VMFUNC] = handle_vmfunc,
};

static vmx_handler handler_for(uint32_t reason)
{
    return reason < NVMX_ARRAY_SIZE(handlers) ? handlers[reason] : NULL;
}

static void next_init(nvmx_next *next, nvmx_run run)
{
    *next = (nvmx_next){.run = run, .exception_vector = -1};
}

/* The instruction behind an exit: decoded from bytes, or from the VM-exit information. */
static nvmx_status instruction_of(const nvmx_exit *exit, cpu_mode mode, vmx_instruction *insn)
{
    if (exit->reason != NVMX_EXIT_UNDECODED)
        return vmx_instruction_from_info(exit->reason, exit->qualification, exit->instruction_info,
                                         exit->instruction_length, insn);
    if (exit->bytes_length == 0 || exit->bytes_length > NVMX_MAX_INSTRUCTION_LENGTH)
        return NVMX_ERR_INVALID_ARGUMENT;
    return vmx_instruction_decode(exit->bytes, exit->bytes_length, mode, insn);
}

/* Run the handler; outside a VM that exposes VMX every VMX instruction is #UD, as on a
 * processor without VMX (CPUID.1:ECX.VMX = 0). */
static vmx_outcome execute(vmx_exec *x)
{
    if (!x->vcpu->vm->vmx_exposed)
        return vmx_raise_ud(x);
    return handler_for(x->insn->exit_reason)(x);
}

/* An outcome only L2's path produces (an exit to L1 from an instruction of L2) reached L1's:
 * a library bug, reported rather than carried out. */
static nvmx_status not_implemented(nvmx_vcpu *vcpu, uint32_t reason)
{
    vm_log_hex(vcpu->vm, NVMX_LOG_ERROR,
               "internal error: an L2 outcome for an instruction of L1; exit reason", reason);
    return NVMX_ERR_NOT_IMPLEMENTED;
}

/* RDMSR/WRMSR of the MSRs the library owns (SDM Vol. 4; Vol. 3D Appendix A). */
static nvmx_status msr_exit(nvmx_vcpu *vcpu, const nvmx_exit *exit, nvmx_next *next)
{
    if (exit->instruction_length == 0 || exit->instruction_length > NVMX_MAX_INSTRUCTION_LENGTH)
        return NVMX_ERR_INVALID_ARGUMENT;
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    uint32_t index = (uint32_t)ops->reg_get(vcpu->ctx, NVMX_REG_RCX);
    uint64_t value = 0;
    msr_result result;
    if (exit->reason == NVMX_EXIT_RDMSR) {
        result = vmx_msr_read(vcpu, index, &value);
    } else {
        value = (ops->reg_get(vcpu->ctx, NVMX_REG_RDX) << 32) |
                (ops->reg_get(vcpu->ctx, NVMX_REG_RAX) & 0xFFFFFFFFull);
        result = vmx_msr_write(vcpu, index, value);
    }
    if (result == MSR_NOT_OURS) {
        next->run = NVMX_RUN_L0_HANDLES;
        return NVMX_OK;
    }
    if (result == MSR_GP) {
        nvmx_exception gp = {.vector = NVMX_VECTOR_GP, .has_error_code = true};
        ops->inject_exception(vcpu->ctx, &gp);
        next->exception_vector = NVMX_VECTOR_GP;
        return NVMX_OK;
    }
    if (exit->reason == NVMX_EXIT_RDMSR) {
        /* RDMSR loads EDX:EAX; in 64-bit mode the upper halves of RAX and RDX clear. */
        ops->reg_set(vcpu->ctx, NVMX_REG_RAX, value & 0xFFFFFFFFull);
        ops->reg_set(vcpu->ctx, NVMX_REG_RDX, value >> 32);
    }
    instruction_retire(vcpu, cpu_mode_of(vcpu), (uint8_t)exit->instruction_length, next);
    return NVMX_OK;
}

static bool is_vmx_instruction(uint32_t reason)
{
    return reason == NVMX_EXIT_UNDECODED || handler_for(reason) != NULL;
}

static nvmx_status outcome_status(vmx_exec *x, vmx_outcome outcome)
{
    switch (outcome) {
    case VMX_COMPLETED:
    case VMX_FAULTED:
    case VMX_EXITED_TO_L1: /* next->run was set by the exit */
        return NVMX_OK;
    case VMX_ENTERED_L2:
        x->next->run = x->vcpu->parked ? NVMX_RUN_L2_PARKED : NVMX_RUN_L2;
        return NVMX_OK;
    case VMX_HOST_ERROR:
        return x->host_error;
    case VMX_EXIT_TO_L1:
    case VMX_FAULT_TO_L1:
        break;
    }
    return not_implemented(x->vcpu, x->insn->exit_reason);
}

nvmx_status nvmx_on_l1_exit(nvmx_vcpu *vcpu, const nvmx_exit *exit, nvmx_next *next)
{
    if (!vcpu || !exit || !next)
        return NVMX_ERR_INVALID_ARGUMENT;
    next_init(next, NVMX_RUN_L1);
    if (vcpu->guest_mode) {
        vm_log(vcpu->vm, NVMX_LOG_ERROR,
               "nvmx_on_l1_exit called while L2 runs: use nvmx_on_l2_exit");
        return NVMX_ERR_STATE;
    }
    if (exit->reason == NVMX_EXIT_RDMSR || exit->reason == NVMX_EXIT_WRMSR)
        return msr_exit(vcpu, exit, next);
    if (!is_vmx_instruction(exit->reason)) {
        next->run = NVMX_RUN_L0_HANDLES;
        return NVMX_OK;
    }
    vmx_instruction insn;
    vmx_exec x = {.vcpu = vcpu, .insn = &insn, .mode = cpu_mode_of(vcpu), .next = next};
    nvmx_status status = instruction_of(exit, x.mode, &insn);
    if (status == NVMX_ERR_DECODE) {
        next->run = NVMX_RUN_L0_HANDLES; /* not a VMX instruction: the embedder's #UD */
        return NVMX_OK;
    }
    if (status != NVMX_OK)
        return status;
    return outcome_status(&x, execute(&x));
}

/* The exit L1 gets: what L0 saw of L2's exit (SDM 28.2). */
void nested_exit_record(nvmx_vcpu *vcpu, const nvmx_exit *exit)
{
    vcpu->pending_exit = (nested_exit){
        .pending = true,
        .reason = exit->reason,
        .qualification = exit->qualification,
        .instruction_info = exit->instruction_info,
        .instruction_length = exit->instruction_length,
        .interruption_info = exit->interruption_info,
        .interruption_error_code = exit->interruption_error_code,
        .idt_vectoring_info = exit->idt_vectoring_info,
        .idt_vectoring_error_code = exit->idt_vectoring_error_code,
        .guest_linear_address = exit->guest_linear_address,
        .guest_physical_address = exit->guest_physical_address,
    };
}

/* For a VMX instruction of L2: the hardware's information when the host has it, else the
 * same fields built from the decoded instruction (SDM 28.2.1, 28.2.5). */
static void record_instruction_exit(nvmx_vcpu *vcpu, const nvmx_exit *exit,
                                    const vmx_instruction *insn)
{
    nested_exit *e = &vcpu->pending_exit;
    nested_exit_record(vcpu, exit);
    e->reason = insn->exit_reason;
    e->instruction_length = insn->length;
    if (exit->reason == NVMX_EXIT_UNDECODED)
        vmx_instruction_to_info(insn, vcpu->vm->ops.reg_get(vcpu->ctx, NVMX_REG_RIP),
                                &e->instruction_info, &e->qualification);
}

/* The VM exit to L1 the pending exit describes (lib/exits/vm_exit.c). */
nvmx_status nested_exit_perform(nvmx_vcpu *vcpu, nvmx_next *next)
{
    uint64_t entry_controls = vmcs12_get(&vcpu->current->data, VMCS12_ORD_VM_ENTRY_CONTROLS);
    nvmx_status status = vm_exit_to_l1(vcpu, &vcpu->pending_exit, &next->run);
    if (status == NVMX_OK)
        vmcs02_synced_by_exit(vcpu, entry_controls);
    return status;
}

/* SDM 26.7.2: with "monitor trap flag" an MTF VM exit occurs on the instruction boundary after
 * an instruction of L2 completes. The library completed this one (VMREAD/VMWRITE through the
 * shadow VMCS, an EPTP switch) without L2 executing it, so vmcs02's MTF did not see it: the
 * exit is made here. */
static bool mtf_after_emulated_instruction(const nvmx_vcpu *vcpu)
{
    uint64_t proc = vmcs12_get(&vcpu->current->data, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL);
    return (proc & NVMX_CTL(MONITOR_TRAP_FLAG)) != 0;
}

/* An MTF VM exit: no qualification or event information (SDM 28.2.1). SDM 26.7.2 (checked
 * against SDM text): "MTF VM exits take priority over debug-trap exceptions", so a single-step
 * trap the instruction raised is not delivered to L2 now; it is a debug exception pending at
 * the exit, which the exit saves with BS (bit 14) in the pending debug exceptions field
 * (28.3.4, an MTF exit saves the causes of pending debug exceptions). L1's next VM entry then
 * delivers it (27.7.3). */
static nvmx_status mtf_exit_to_l1(nvmx_vcpu *vcpu, nvmx_next *next)
{
    bool single_step = next->single_step_trap;
    next->single_step_trap = false;
    vcpu->pending_exit = (nested_exit){.pending = true, .reason = NVMX_EXIT_MONITOR_TRAP_FLAG};
    nvmx_status status = nested_exit_perform(vcpu, next);
    if (status != NVMX_OK || !single_step)
        return status;
    const vmcs_field_info *field = &vmcs_field_table[VMCS12_ORD_GUEST_PENDING_DBG_EXCEPTIONS];
    uint64_t pending = vmcs12_get(&vcpu->current->data, VMCS12_ORD_GUEST_PENDING_DBG_EXCEPTIONS);
    vmcs12_write(&vcpu->current->data, field, field->encoding, pending | NVMX_PENDING_DBG_BS);
    vcpu->current->memory_stale = true;
    return NVMX_OK;
}

/* A VMX instruction of L2: completed for L2 (shadow VMCS), faulted, or an exit to L1. */
static nvmx_status l2_vmx_instruction(nvmx_vcpu *vcpu, const nvmx_exit *exit, nvmx_next *next)
{
    vmx_instruction insn;
    vmx_exec x = {.vcpu = vcpu, .insn = &insn, .mode = cpu_mode_of(vcpu), .next = next};
    nvmx_status status = instruction_of(exit, x.mode, &insn);
    if (status == NVMX_ERR_DECODE) {
        next->run = NVMX_RUN_L0_HANDLES;
        return NVMX_OK;
    }
    if (status != NVMX_OK)
        return status;
    vmx_outcome outcome = handler_for(insn.exit_reason)(&x);
    if (outcome == VMX_FAULT_TO_L1)
        return nested_exit_perform(vcpu, next);
    if (outcome == VMX_COMPLETED && mtf_after_emulated_instruction(vcpu))
        return mtf_exit_to_l1(vcpu, next);
    if (outcome != VMX_EXIT_TO_L1)
        return outcome_status(&x, outcome);
    record_instruction_exit(vcpu, exit, &insn);
    return nested_exit_perform(vcpu, next);
}

nvmx_status nvmx_on_l2_exit(nvmx_vcpu *vcpu, const nvmx_exit *exit, nvmx_next *next)
{
    if (!vcpu || !exit || !next)
        return NVMX_ERR_INVALID_ARGUMENT;
    next_init(next, NVMX_RUN_L2);
    if (!vcpu->guest_mode) {
        vm_log(vcpu->vm, NVMX_LOG_ERROR,
               "nvmx_on_l2_exit called while L1 runs: use nvmx_on_l1_exit");
        return NVMX_ERR_STATE;
    }
    if (vcpu->parked)
        return activity_parked_event(vcpu, exit, next);
    if (is_vmx_instruction(exit->reason))
        return l2_vmx_instruction(vcpu, exit, next);
    if (exit->reason == NVMX_EXIT_EPT_VIOLATION || exit->reason == NVMX_EXIT_EPT_MISCONFIG)
        return ept_exit_from_l2(vcpu, exit, next);
    /* SDM 26.1, 26.2: L1 gets the exits its controls ask for; the rest were L0's. */
    if (!exit_wanted_by_l1(vcpu, exit)) {
        next->run = NVMX_RUN_L0_HANDLES;
        return NVMX_OK;
    }
    if (exit->reason == NVMX_EXIT_EXTERNAL_INTERRUPT && !l2_interrupt_exit_consistent(vcpu, exit))
        return NVMX_ERR_INVALID_ARGUMENT;
    nested_exit_record(vcpu, exit);
    return nested_exit_perform(vcpu, next);
}

nvmx_status nvmx_before_l2_resume(nvmx_vcpu *vcpu)
{
    if (!vcpu || !vcpu->guest_mode || !vcpu->current)
        return NVMX_OK;
    return preemption_timer_write_vmcs02(vcpu);
}

bool nvmx_l2_timer_deadline(const nvmx_vcpu *vcpu, uint64_t *tsc)
{
    /* SDM 26.7.1: in wait-for-SIPI the timer causes no VM exit. */
    if (!vcpu || !tsc || !vcpu->guest_mode || !vcpu->timer_active ||
        vcpu->parked == NVMX_ACTIVITY_WAIT_SIPI)
        return false;
    *tsc = vcpu->timer_deadline;
    return true;
}
