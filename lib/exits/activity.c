/* SPDX-License-Identifier: MIT */
/*
 * L2 in the shutdown and wait-for-SIPI activity states, and the INIT and SIPI signals of L1's
 * platform (SDM Vol. 3C 24.8, 25.4.2, 26.2, 26.7.1, 27.7.2-27.7.6, 28.2.1, 28.3.4).
 *
 * A non-vectoring VM entry leaves L2 in the activity state vmcs12 names (27.7.2). HLT is
 * given to the host in vmcs02: events L0 injects or its own interrupts wake it. Shutdown and
 * wait-for-SIPI are not: they block external interrupts (both) and NMIs and INIT (wait-for-
 * SIPI), so a hardware L0 that entered vmcs02 in them could not regain the CPU. The library
 * "parks" L2 instead: vmcs02 gets the active state and is never entered, the state lives in
 * vcpu->parked, the embedder is told NVMX_RUN_L2_PARKED and reports L1's platform events,
 * and the library performs what the processor L1 programmed would do:
 *
 *   event                 shutdown                          wait-for-SIPI
 *   INIT                  exit, reason 3 (26.2)             blocked (26.2, 27.7.2)
 *   SIPI                  discarded (27.7.2)                exit, reason 4, qual = vector
 *   NMI, NMI exiting = 1  exit, reason 0 (26.2)             blocked (26.2, 27.7.2)
 *   NMI, NMI exiting = 0  delivered through L2's IDT,       blocked
 *                         L2 active again (27.7.7, 26.7.2)
 *   external interrupt    blocked, even with external-interrupt exiting (27.7.2)
 *   preemption timer = 0  exit, reason 52 (26.7.1)          no exit (26.7.1)
 *   NMI window            exit at entry, reason 8 (27.7.6)  none (27.7.6)
 *   interrupt window,
 *   MTF, TPR threshold    none (27.7.5, 26.7.2, 27.7.7)     none
 *   pending debug exc.    not valid after such an entry (27.7.3)
 *
 * An unblocked event that exits leaves the activity state as it was until the exit
 * completes (28.1), so the exit saves shutdown or wait-for-SIPI (28.3.4).
 *
 * Checked against SDM text: the events each state blocks (27.7.2: shutdown blocks external
 * interrupts and SIPIs; wait-for-SIPI external interrupts, NMIs, INIT and SMIs), NMI blocking
 * by interruptibility bit 3 (27.7.1), no valid pending debug exceptions after a non-vectoring
 * entry into either state (27.7.3), and the pending debug exceptions an INIT exit saves
 * (28.3.4: those pending at the exit, here none for a parked L2, and vmcs02's value otherwise;
 * "may match that which was loaded on VM entry" right after an entry).
 */
#include "vmx_outcome.h"

static uint64_t v12(const nvmx_vcpu *vcpu, unsigned ordinal)
{
    return vmcs12_get(&vcpu->current->data, ordinal);
}

static bool parked_state(uint64_t state)
{
    return state == NVMX_ACTIVITY_SHUTDOWN || state == NVMX_ACTIVITY_WAIT_SIPI;
}

/* 27.7 (terminology): an entry is vectoring when it injects an event of type 0 or 2-6;
 * type 7 (a pending MTF VM exit) is not. */
static bool entry_vectoring(uint32_t info)
{
    return (info & NVMX_INTR_INFO_VALID) && intr_info_type(info) != NVMX_INTR_TYPE_OTHER_EVENT;
}

static nvmx_status write02(nvmx_vcpu *vcpu, uint32_t field, uint64_t value)
{
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    if (ops->hw_vmcs_write(vcpu->ctx, NVMX_HW_VMCS02, field, value) != NVMX_OK) {
        vm_log(vcpu->vm, NVMX_LOG_ERROR, "activity state: hw_vmcs_write of vmcs02 failed");
        return NVMX_ERR_HOST;
    }
    return NVMX_OK;
}

nvmx_status activity_enter(nvmx_vcpu *vcpu)
{
    vcpu->parked = 0;
    uint64_t state = v12(vcpu, VMCS12_ORD_GUEST_ACTIVITY_STATE);
    if (!parked_state(state))
        return NVMX_OK;
    /* Whatever follows, the host never gets these states. A vectoring entry leaves L2 active
     * (27.7.2), which is then exact; the consistency checks on the field applied (27.3.1.5). */
    nvmx_status status = write02(vcpu, NVMX_FIELD_GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_ACTIVE);
    if (status != NVMX_OK ||
        entry_vectoring((uint32_t)v12(vcpu, VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD)))
        return status;
    /* 27.7.3: after a non-vectoring entry in shutdown or wait-for-SIPI there are no valid
     * pending debug exceptions; exits from these states save the field as clear (28.3.4). */
    status = write02(vcpu, NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS, 0);
    if (status == NVMX_OK)
        vcpu->parked = (uint8_t)state;
    return status;
}

uint64_t activity_saved(const nvmx_vcpu *vcpu, uint64_t vmcs02_state)
{
    return vcpu->parked ? vcpu->parked : vmcs02_state;
}

/* A VM exit to L1 for an event of L1's platform while L2 is in non-root operation: no
 * instruction information, no IDT-vectoring information (no event was being delivered). */
static nvmx_status exit_to_l1(nvmx_vcpu *vcpu, uint32_t reason, uint64_t qualification,
                              uint32_t interruption_info, nvmx_next *next)
{
    vcpu->pending_exit = (nested_exit){
        .pending = true,
        .reason = reason,
        .qualification = qualification,
        .interruption_info = interruption_info,
    };
    return nested_exit_perform(vcpu, next);
}

/* 26.7.1 / 27.7.4: the timer exits in shutdown (not in wait-for-SIPI); 27.7.6: the NMI window
 * wakes shutdown when there is no blocking by NMI (virtual-NMI blocking with "virtual NMIs";
 * the entry checks leave no blocking by STI or MOV SS in an inactive state). The timer has
 * priority over the NMI window (26.2). Interrupt window, MTF and TPR threshold do not occur
 * in shutdown (27.7.5, 26.7.2, 27.7.7). */
static bool shutdown_wake_reason(const nvmx_vcpu *vcpu, uint32_t *reason)
{
    if (preemption_timer_expired(vcpu)) {
        *reason = NVMX_EXIT_PREEMPTION_TIMER;
        return true;
    }
    bool window = v12(vcpu, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(NMI_WINDOW_EXITING);
    bool blocked = v12(vcpu, VMCS12_ORD_GUEST_INTERRUPTIBILITY_INFO) & NVMX_BLOCKING_NMI;
    *reason = NVMX_EXIT_NMI_WINDOW;
    return window && !blocked;
}

vmx_outcome activity_parked_entry(vmx_exec *x)
{
    uint32_t reason;
    if (x->vcpu->parked != NVMX_ACTIVITY_SHUTDOWN || !shutdown_wake_reason(x->vcpu, &reason))
        return VMX_ENTERED_L2;
    nvmx_status status = exit_to_l1(x->vcpu, reason, 0, 0, x->next);
    if (status != NVMX_OK) {
        x->host_error = status;
        return VMX_HOST_ERROR;
    }
    return VMX_EXITED_TO_L1;
}

static void next_reset(nvmx_next *next, nvmx_run run)
{
    *next = (nvmx_next){.run = run, .exception_vector = -1};
}

static nvmx_run what_runs(const nvmx_vcpu *vcpu)
{
    if (!vcpu->guest_mode)
        return NVMX_RUN_L1;
    return vcpu->parked ? NVMX_RUN_L2_PARKED : NVMX_RUN_L2;
}

static nvmx_status held(const nvmx_vcpu *vcpu, nvmx_next *next)
{
    next->run = what_runs(vcpu);
    next->event_held = true;
    return NVMX_OK;
}

/* 27.6: an event vmcs02's next entry injects is delivered before anything else is
 * recognized. A pending MTF VM exit (type 7, not vectoring) is not: INIT has priority over
 * it (27.7.8), and the INIT exit clears the valid bit (28.2). */
static nvmx_status injection_pending(nvmx_vcpu *vcpu, bool *pending)
{
    uint64_t info;
    if (vcpu->vm->ops.hw_vmcs_read(vcpu->ctx, NVMX_HW_VMCS02, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD,
                                   &info) != NVMX_OK) {
        vm_log(vcpu->vm, NVMX_LOG_ERROR, "INIT: hw_vmcs_read of vmcs02 failed");
        return NVMX_ERR_HOST;
    }
    *pending = entry_vectoring((uint32_t)info);
    return NVMX_OK;
}

static bool hw_vmcs_ops(const nvmx_vcpu *vcpu)
{
    if (vcpu->vm->ops.hw_vmcs_read && vcpu->vm->ops.hw_vmcs_write)
        return true;
    vm_log(vcpu->vm, NVMX_LOG_ERROR,
           "INIT/SIPI: the hw_vmcs_read and hw_vmcs_write ops are needed");
    return false;
}

nvmx_status nvmx_l1_init_signal(nvmx_vcpu *vcpu, nvmx_next *next)
{
    if (!vcpu || !next)
        return NVMX_ERR_INVALID_ARGUMENT;
    next_reset(next, NVMX_RUN_L0_HANDLES);
    if (!vcpu->vmx_operation)
        return NVMX_OK; /* outside VMX operation an INIT is L0's to perform on L1 */
    /* 24.8: INIT signals are blocked in VMX root operation; 26.2, 27.7.2: in wait-for-SIPI. */
    if (!vcpu->guest_mode || vcpu->parked == NVMX_ACTIVITY_WAIT_SIPI)
        return held(vcpu, next);
    if (!hw_vmcs_ops(vcpu))
        return NVMX_ERR_UNSUPPORTED;
    if (!vcpu->parked) {
        bool pending;
        nvmx_status status = injection_pending(vcpu, &pending);
        if (status != NVMX_OK)
            return status;
        if (pending)
            return held(vcpu, next);
    }
    /* 26.2: INIT exits and does nothing else; 28.2.1: no exit qualification. */
    return exit_to_l1(vcpu, NVMX_EXIT_INIT_SIGNAL, 0, 0, next);
}

nvmx_status nvmx_l1_sipi(nvmx_vcpu *vcpu, uint8_t vector, nvmx_next *next)
{
    if (!vcpu || !next)
        return NVMX_ERR_INVALID_ARGUMENT;
    next_reset(next, NVMX_RUN_L0_HANDLES);
    if (!vcpu->vmx_operation)
        return NVMX_OK;
    /* 26.2, 27.7.2: outside wait-for-SIPI a SIPI is discarded. In root operation L1 cannot
     * wait for one: INIT, which leads there, is blocked (24.8). */
    if (vcpu->parked != NVMX_ACTIVITY_WAIT_SIPI) {
        next->run = what_runs(vcpu);
        return NVMX_OK;
    }
    if (!hw_vmcs_ops(vcpu))
        return NVMX_ERR_UNSUPPORTED;
    /* 28.2.1: the qualification holds the SIPI vector in bits 7:0, the rest cleared. */
    return exit_to_l1(vcpu, NVMX_EXIT_SIPI, vector, 0, next);
}

nvmx_status nvmx_l2_parked_timer(nvmx_vcpu *vcpu, nvmx_next *next)
{
    if (!vcpu || !next)
        return NVMX_ERR_INVALID_ARGUMENT;
    next_reset(next, NVMX_RUN_L2_PARKED);
    if (!vcpu->guest_mode || !vcpu->parked) {
        vm_log(vcpu->vm, NVMX_LOG_ERROR, "nvmx_l2_parked_timer called while L2 is not parked");
        next->run = what_runs(vcpu);
        return NVMX_ERR_STATE;
    }
    /* 26.7.1: the timer causes no exit in wait-for-SIPI. */
    if (vcpu->parked != NVMX_ACTIVITY_SHUTDOWN || !preemption_timer_expired(vcpu))
        return NVMX_OK;
    return exit_to_l1(vcpu, NVMX_EXIT_PREEMPTION_TIMER, 0, 0, next);
}

#define NMI_INFO                                                                                   \
    (NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_NMI << NVMX_INTR_INFO_TYPE_SHIFT) | NVMX_VECTOR_NMI)

/* The report of an NMI for L1's platform: reason 0 with an NMI, as nvmx_on_l2_exit takes it
 * (no IRET ran, so bit 12, NMI unblocking due to IRET, is 0). */
static bool nmi_report(const nvmx_exit *exit)
{
    return exit->reason == NVMX_EXIT_EXCEPTION_NMI && exit->interruption_info == NMI_INFO;
}

/* 27.7.1: without "virtual NMIs", interruptibility bit 3 blocks NMIs (for as long as L2 stays
 * in non-root operation when L1 has "NMI exiting"); with it, NMIs are not blocked by it. The
 * field is vmcs12's as entered: a parked L2 executes nothing that could change it. */
static bool nmi_blocked(const nvmx_vcpu *vcpu)
{
    bool virtual_nmis = v12(vcpu, VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL) & NVMX_CTL(VIRTUAL_NMIS);
    return !virtual_nmis && (v12(vcpu, VMCS12_ORD_GUEST_INTERRUPTIBILITY_INFO) & NVMX_BLOCKING_NMI);
}

nvmx_status activity_parked_event(nvmx_vcpu *vcpu, const nvmx_exit *exit, nvmx_next *next)
{
    next->run = NVMX_RUN_L2_PARKED;
    if (!nmi_report(exit)) {
        vm_log_hex(vcpu->vm, NVMX_LOG_ERROR,
                   "nvmx_on_l2_exit: L2 is parked (shutdown or wait-for-SIPI) and causes no "
                   "exits; only an NMI of L1's platform can be reported; exit reason",
                   exit->reason);
        return NVMX_ERR_STATE;
    }
    /* 26.2, 27.7.2: wait-for-SIPI blocks NMIs; so does blocking by NMI. */
    if (vcpu->parked == NVMX_ACTIVITY_WAIT_SIPI || nmi_blocked(vcpu))
        return held(vcpu, next);
    if (!(v12(vcpu, VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL) & NVMX_CTL(NMI_EXITING))) {
        /* The NMI is delivered through L2's IDT, which ends the shutdown state in VMX
         * non-root operation (27.7.7); vmcs02 holds the active state already. */
        vcpu->parked = 0;
        next->run = NVMX_RUN_L0_HANDLES;
        return NVMX_OK;
    }
    if (!hw_vmcs_ops(vcpu))
        return NVMX_ERR_UNSUPPORTED;
    return exit_to_l1(vcpu, NVMX_EXIT_EXCEPTION_NMI, 0, NMI_INFO, next);
}
