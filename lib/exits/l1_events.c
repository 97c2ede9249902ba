/* SPDX-License-Identifier: MIT */
/*
 * Interrupts of L1's platform while L2 runs (SDM Vol. 3C 25.6.1, 25.7.1, 26.2, 28.2.2).
 *
 * L0 owns L1's (virtual) interrupt controller. When one of its interrupts becomes deliverable
 * while L2 runs, the processor L1 believes in would either exit to L1 ("external-interrupt
 * exiting" = 1, reason 1; the exit happens whatever L2's RFLAGS.IF and blocking by STI or
 * MOV SS, which only decide delivery through L2's IDT), acknowledging the interrupt as part of
 * the exit when "acknowledge interrupt on exit" = 1 (vector in the VM-exit interruption
 * information, type 0), or deliver it to L2 through L2's IDT (the control = 0), which L0 does
 * by injecting it into vmcs02.
 *
 * Before either comes what vmcs02's next VM entry does first: an injected event is delivered
 * (27.6), pending debug exceptions are delivered as traps on the previous instruction
 * (27.7.3, Vol. 3A 6.9), and the VM exits L1 asked for that have priority over external
 * interrupts happen before the interrupt is recognized (27.7.4 VMX-preemption timer, 27.7.6
 * NMI window, 27.7.5 interrupt window). Then the interrupt waits for that entry
 * (NVMX_RUN_L2). A parked L2 (shutdown, wait-for-SIPI) blocks external interrupts, even with
 * "external-interrupt exiting" (27.7.2): NVMX_RUN_L2_PARKED, the interrupt stays pending.
 */
#include "vmx_outcome.h"

static uint64_t vmcs12_control(const nvmx_vcpu *vcpu, unsigned ordinal)
{
    return vmcs12_get(&vcpu->current->data, ordinal);
}

static bool l1_acknowledges(const nvmx_vcpu *vcpu)
{
    return vmcs12_control(vcpu, VMCS12_ORD_VM_EXIT_CONTROLS) & NVMX_CTL(EXIT_ACK_INTR);
}

static bool l1_intercepts_interrupts(const nvmx_vcpu *vcpu)
{
    return vmcs12_control(vcpu, VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL) & NVMX_CTL(EXT_INTR_EXITING);
}

static bool l1_proc_control(const nvmx_vcpu *vcpu, uint32_t control)
{
    return vmcs12_control(vcpu, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & control;
}

static nvmx_status read02(nvmx_vcpu *vcpu, uint32_t field, uint64_t *value)
{
    if (vcpu->vm->ops.hw_vmcs_read(vcpu->ctx, NVMX_HW_VMCS02, field, value) != NVMX_OK) {
        vm_log(vcpu->vm, NVMX_LOG_ERROR, "L1 interrupt: hw_vmcs_read of vmcs02 failed");
        return NVMX_ERR_HOST;
    }
    return NVMX_OK;
}

/* 27.7.3: pending debug exceptions are valid with BS (bit 14) or an enabled breakpoint (bit
 * 12); blocking by MOV SS holds them back for one instruction. */
#define PENDING_DBG_VALID (NVMX_PENDING_DBG_BS | NVMX_PENDING_DBG_ENABLED_BP)

/* Whether vmcs02's next VM entry does something before L2 could recognize an interrupt at its
 * first instruction boundary:
 *  - an event injection (VM-entry interruption information valid: L1's event, a pending MTF
 *    VM exit, or an event L0 re-injects; every VM exit clears the bit, 28.2): the event is
 *    delivered first (27.6), and the exit or delivery comes after it;
 *  - valid pending debug exceptions without blocking by MOV SS: a #DB with the priority of a
 *    trap on the previous instruction, above NMIs, external interrupts and the window exits
 *    (27.7.3; delivered to L2 or exiting to L1 per its exception bitmap);
 *  - a VM exit L1 asked for with priority over external interrupts that the entry takes at
 *    once: L1's VMX-preemption timer expired (27.7.4), the NMI window open (no virtual-NMI
 *    blocking and no blocking by MOV SS, 27.7.6; the SDM lets a processor also hold this exit
 *    back for blocking by STI, which the library's processor does not), the interrupt window
 *    open (RFLAGS.IF = 1, no blocking by STI or MOV SS, 27.7.5: "VM exits caused by this
 *    control take priority over external interrupts"). */
static nvmx_status entry_comes_first(nvmx_vcpu *vcpu, bool *first)
{
    uint64_t entry_info, rflags, interruptibility, pending_dbg;
    nvmx_status status = read02(vcpu, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD, &entry_info);
    if (status == NVMX_OK)
        status = read02(vcpu, NVMX_FIELD_GUEST_RFLAGS, &rflags);
    if (status == NVMX_OK)
        status = read02(vcpu, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO, &interruptibility);
    if (status == NVMX_OK)
        status = read02(vcpu, NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS, &pending_dbg);
    if (status != NVMX_OK)
        return status;
    bool injection = entry_info & NVMX_INTR_INFO_VALID;
    bool debug_trap =
        (pending_dbg & PENDING_DBG_VALID) && !(interruptibility & NVMX_BLOCKING_MOV_SS);
    bool nmi_window = l1_proc_control(vcpu, NVMX_CTL(NMI_WINDOW_EXITING)) &&
                      !(interruptibility & (NVMX_BLOCKING_NMI | NVMX_BLOCKING_MOV_SS));
    bool interrupt_window = l1_proc_control(vcpu, NVMX_CTL(INTR_WINDOW_EXITING)) &&
                            (rflags & NVMX_RFLAGS_IF) &&
                            !(interruptibility & (NVMX_BLOCKING_STI | NVMX_BLOCKING_MOV_SS));
    *first =
        injection || debug_trap || preemption_timer_expired(vcpu) || nmi_window || interrupt_window;
    return NVMX_OK;
}

nvmx_status nvmx_l1_interrupt_pending(nvmx_vcpu *vcpu, uint8_t vector, bool *acknowledge,
                                      nvmx_next *next)
{
    if (!vcpu || !acknowledge || !next)
        return NVMX_ERR_INVALID_ARGUMENT;
    *acknowledge = false;
    *next = (nvmx_next){.run = NVMX_RUN_L2, .exception_vector = -1};
    if (!vcpu->guest_mode || !vcpu->current) {
        vm_log(vcpu->vm, NVMX_LOG_ERROR,
               "nvmx_l1_interrupt_pending called while L1 runs: deliver the interrupt to L1");
        return NVMX_ERR_STATE;
    }
    if (vcpu->parked) {
        next->run = NVMX_RUN_L2_PARKED; /* 27.7.2: blocked in shutdown and wait-for-SIPI */
        return NVMX_OK;
    }
    if (!vcpu->vm->ops.hw_vmcs_read) {
        vm_log(vcpu->vm, NVMX_LOG_ERROR,
               "nvmx_l1_interrupt_pending: the hw_vmcs_read op is needed");
        return NVMX_ERR_UNSUPPORTED;
    }
    bool first;
    nvmx_status status = entry_comes_first(vcpu, &first);
    if (status != NVMX_OK)
        return status;
    if (first)
        return NVMX_OK; /* NVMX_RUN_L2: the interrupt stays pending until after that entry */
    if (!l1_intercepts_interrupts(vcpu)) {
        /* SDM 26.2: without external-interrupt exiting the interrupt is L2's to take through
         * its IDT once RFLAGS.IF and blocking allow: L0 injects it into vmcs02. */
        next->run = NVMX_RUN_L0_HANDLES;
        return NVMX_OK;
    }
    /* SDM 26.2 / 28.2.2: reason 1; with "acknowledge interrupt on exit" the processor
     * acknowledges the interrupt and the information holds its vector, type 0 (external
     * interrupt), valid; without it the information is invalid and the interrupt stays
     * pending. No qualification, no IDT-vectoring information (no event was being
     * delivered: an injection would have come first). */
    bool ack = l1_acknowledges(vcpu);
    vcpu->pending_exit = (nested_exit){
        .pending = true,
        .reason = NVMX_EXIT_EXTERNAL_INTERRUPT,
        .interruption_info = ack ? NVMX_INTR_INFO_VALID |
                                       (NVMX_INTR_TYPE_EXTERNAL << NVMX_INTR_INFO_TYPE_SHIFT) |
                                       vector
                                 : 0,
    };
    status = nested_exit_perform(vcpu, next);
    if (status == NVMX_OK && next->run == NVMX_RUN_L1)
        *acknowledge = ack;
    return status;
}

bool l2_interrupt_exit_consistent(nvmx_vcpu *vcpu, const nvmx_exit *exit)
{
    uint32_t info = exit->interruption_info;
    bool has_vector =
        (info & NVMX_INTR_INFO_VALID) && intr_info_type(info) == NVMX_INTR_TYPE_EXTERNAL;
    bool ack = l1_acknowledges(vcpu);
    if (ack == has_vector && (has_vector || !(info & NVMX_INTR_INFO_VALID)))
        return true;
    vm_log(vcpu->vm, NVMX_LOG_ERROR,
           ack ? "nvmx_on_l2_exit reason 1: L1 acknowledges interrupts on exit and the exit "
                 "gives no vector (interruption information valid, type 0): call "
                 "nvmx_l1_interrupt_pending with the vector"
               : "nvmx_on_l2_exit reason 1: L1 does not acknowledge interrupts on exit and the "
                 "exit reports an acknowledged one: call nvmx_l1_interrupt_pending with the "
                 "vector and keep it pending for L1");
    return false;
}
