/* SPDX-License-Identifier: MIT */
/*
 * VMLAUNCH and VMRESUME (SDM Vol. 3C 31.3) up to the VM entry: the instruction's own checks,
 * then the VM-entry checks of chapter 27 in their order — controls (VMfailValid(7)), host
 * state (VMfailValid(8)), guest state (VM-entry failure, exit reason 33).
 */
#include "../vmcs/entry_checks.h"
#include "../vmcs/vmcs02.h"
#include "vmx_outcome.h"

/* Blocking by MOV SS of L1 (interruptibility bit 1, SDM 25.4.2), from vmcs01's guest state. */
static nvmx_status l1_blocked_by_mov_ss(const vmx_exec *x, bool *blocked)
{
    const nvmx_host_ops *ops = &x->vcpu->vm->ops;
    uint64_t interruptibility;
    if (!ops->hw_vmcs_read)
        return NVMX_ERR_UNSUPPORTED;
    nvmx_status status = ops->hw_vmcs_read(
        x->vcpu->ctx, NVMX_HW_VMCS01, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO, &interruptibility);
    *blocked = (interruptibility & NVMX_BLOCKING_MOV_SS) != 0;
    return status == NVMX_OK ? NVMX_OK : NVMX_ERR_HOST;
}

/* SDM 31.3: VMLAUNCH needs a clear VMCS (error 4); VMRESUME a launched one (error 5), and not
 * one launched before a VMXOFF/VMXON pair (error 6). Returns 0 when the state fits. */
static unsigned launch_state_error(const vmx_exec *x, const vmcs12_cached *current)
{
    if (x->insn->exit_reason == NVMX_EXIT_VMLAUNCH)
        return current->launch_state == VMCS12_STATE_CLEAR ? 0 : NVMX_VMERR_VMLAUNCH_NONCLEAR_VMCS;
    if (current->launch_state == VMCS12_STATE_CLEAR)
        return NVMX_VMERR_VMRESUME_NONLAUNCHED_VMCS;
    if (current->launch_state == VMCS12_STATE_LAUNCHED_BEFORE_VMXOFF)
        return NVMX_VMERR_VMRESUME_AFTER_VMXOFF;
    return 0;
}

static void log_failed_check(const nvmx_vm *vm, const entry_check *check)
{
    const char *parts[] = {"VM entry failed: check ", check->info.name, " (SDM ",
                           check->info.sdm_section, ")"};
    vm_log_parts(vm, NVMX_LOG_INFO, parts, NVMX_ARRAY_SIZE(parts));
}

/* SDM 27.2: the control and host-state checks fail the instruction with VMfailValid(7)/(8).
 * Returns true with *outcome set when one fails. Skipped when they passed on this vmcs12 and
 * none of their inputs changed since (the memo, lib/vmcs/entry_checks.c). */
static bool controls_or_host_fail(vmx_exec *x, entry_check_ctx *c, vmx_outcome *outcome)
{
    entry_check_ctx_prepare_controls(c);
    if (entry_checks_memo_holds(c))
        return false;
    const entry_check *failed = entry_checks_first_failure(c, NVMX_CHECK_CONTROLS);
    unsigned error = NVMX_VMERR_ENTRY_INVALID_CONTROL_FIELD;
    if (!failed) {
        failed = entry_checks_first_failure(c, NVMX_CHECK_HOST_STATE);
        error = NVMX_VMERR_ENTRY_INVALID_HOST_STATE;
    }
    if (!failed) {
        entry_checks_memo_record(c, &x->vcpu->current->data);
        return false;
    }
    log_failed_check(x->vcpu->vm, failed);
    *outcome = vmx_fail_valid(x, error);
    return true;
}

/* A VM-entry failure after the guest-state checks began is a VM exit to L1 (SDM 27.8). */
static vmx_outcome entry_fails_to_l1(vmx_exec *x, uint32_t basic_reason, uint64_t qualification)
{
    nvmx_status status = vm_entry_failure_exit(x->vcpu, basic_reason, qualification, &x->next->run);
    if (status != NVMX_OK) {
        x->host_error = status;
        return VMX_HOST_ERROR;
    }
    return VMX_EXITED_TO_L1;
}

/* SDM 27.3.2-27.5: guest state goes to vmcs02, the VM-entry MSR-load list is loaded, and L2
 * runs; VMLAUNCH makes the VMCS launched (31.3). */
static vmx_outcome enter_l2(vmx_exec *x, const entry_check_ctx *c)
{
    nvmx_vcpu *vcpu = x->vcpu;
    /* 27.7.4: the timer starts with vmcs12's value at this entry; vmcs02 gets its share. */
    preemption_timer_arm(vcpu);
    /* 27.6.2 / 27.7.2: injecting type 7 vector 0 makes an MTF VM exit pending, whatever the
     * "monitor trap flag" control: that exit is L1's (lib/exits/reflect.c). */
    uint32_t injected =
        (uint32_t)vmcs12_get(&vcpu->current->data, VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD);
    vcpu->mtf_injected = (injected & NVMX_INTR_INFO_VALID) &&
                         intr_info_type(injected) == NVMX_INTR_TYPE_OTHER_EVENT &&
                         intr_info_vector(injected) == 0;
    nvmx_status status = vmcs02_build(vcpu, c->pdptes_loaded ? c->pdpte : NULL);
    if (status != NVMX_OK) {
        x->host_error = status;
        return VMX_HOST_ERROR;
    }
    /* The MSRs are L2's from here: msr_write acts on the guest that is entered. */
    vcpu->guest_mode = true;
    uint32_t failed_entry = entry_msr_load(vcpu, &status);
    if (status != NVMX_OK) {
        vcpu->guest_mode = false;
        x->host_error = status;
        return VMX_HOST_ERROR;
    }
    if (failed_entry)
        return entry_fails_to_l1(x, NVMX_EXIT_ENTRY_FAIL_MSR_LOADING, failed_entry);
    /* 27.7.2: the activity state after the entry (shutdown and wait-for-SIPI park L2). */
    status = activity_enter(vcpu);
    if (status != NVMX_OK) {
        vcpu->guest_mode = false;
        x->host_error = status;
        return VMX_HOST_ERROR;
    }
    vmcs12_cached *current = vcpu->current;
    if (x->insn->exit_reason == NVMX_EXIT_VMLAUNCH) {
        current->launch_state = VMCS12_STATE_LAUNCHED;
        current->launch_generation = vcpu->cache.generation;
        current->memory_stale = true;
    }
    return VMX_ENTERED_L2;
}

vmx_outcome handle_vmlaunch_vmresume(vmx_exec *x)
{
    vmx_outcome outcome;
    if (vmx_common_checks(x, &outcome))
        return outcome;
    /* SDM 31.3: no current VMCS, or a shadow VMCS as current -> VMfailInvalid. */
    vmcs12_cached *current = x->vcpu->current;
    if (!current || (current->revision & VMCS12_SHADOW_INDICATOR))
        return vmx_fail_invalid(x);
    bool mov_ss;
    nvmx_status status = l1_blocked_by_mov_ss(x, &mov_ss);
    if (status != NVMX_OK) {
        vm_log(x->vcpu->vm, NVMX_LOG_ERROR,
               "VMLAUNCH/VMRESUME: the hw_vmcs_read op is needed to read L1's interruptibility");
        x->host_error = status;
        return VMX_HOST_ERROR;
    }
    if (mov_ss)
        return vmx_fail_valid(x, NVMX_VMERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS);
    unsigned error = launch_state_error(x, current);
    if (error)
        return vmx_fail_valid(x, error);
    entry_check_ctx c;
    entry_check_ctx_init(&c, x->vcpu, &current->data);
    if (controls_or_host_fail(x, &c, &outcome))
        return outcome;
    entry_check_ctx_prepare_guest(&c);
    const entry_check *failed = entry_checks_first_failure(&c, NVMX_CHECK_GUEST_STATE);
    if (failed) {
        log_failed_check(x->vcpu->vm, failed);
        return entry_fails_to_l1(x, NVMX_EXIT_ENTRY_FAIL_GUEST_STATE,
                                 failed->info.exit_qualification);
    }
    outcome = enter_l2(x, &c);
    return outcome == VMX_ENTERED_L2 && x->vcpu->parked ? activity_parked_entry(x) : outcome;
}
