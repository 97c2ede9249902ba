/* SPDX-License-Identifier: MIT */
/*
 * L1's VMX-preemption timer for L2 (SDM Vol. 3C 26.7.1, 27.7.4, 28.3.4), emulated from the
 * TSC as L1 sees it (the tsc_read op).
 *
 * SDM 26.7.1: the timer counts down by 1 every time bit X of the TSC changes because the TSC
 * increments, X = IA32_VMX_MISC[4:0] (A.6) as exposed to L1. Started with value V at TSC t0
 * (27.7.4), it therefore reaches 0 when the TSC reaches ((t0 >> X) + V) << X, and at TSC t
 * it holds (deadline >> X) - (t >> X) until then. The library records that deadline at each
 * VM entry with the timer active; everything else derives from it:
 *  - vmcs02 runs the hardware timer with a value that expires no later than the deadline
 *    (counted at the host's rate), so L0 regains control in time; an early expiry is only
 *    a spurious exit that reflection leaves to L0;
 *  - a reason-52 exit is L1's only once the deadline has passed (lib/exits/reflect.c);
 *  - an exit to L1 with "save VMX-preemption-timer value" stores the remaining value
 *    (lib/exits/vm_exit.c).
 * A value of 0 at entry gives a deadline at or before the entry's TSC: vmcs02 gets 0 and the
 * exit comes before any instruction of L2, as 27.7.4 requires.
 *
 * Lifetime: the deadline belongs to one stay of L2. It is armed by every VM entry (a VM
 * entry without "save" reloads vmcs12's value, 27.7.4), and is meaningless in root
 * operation; VMXOFF happens only in root operation, so it never has to survive one. The
 * library has no vCPU save/restore API: an embedder that migrates a vCPU while L2 runs
 * must first make L2 exit (to L0) and let the destination re-enter through L1's VMRESUME,
 * or the timer is lost with the rest of the in-flight nested state.
 */
#include "../internal.h"

#define TIMER_RATE_MASK 0x1Fu

/* X of 26.7.1 as L1 reads it in IA32_VMX_MISC[4:0]. */
static unsigned l1_rate(const nvmx_vm *vm)
{
    return (unsigned)(vm->caps.misc & TIMER_RATE_MASK);
}

static uint64_t now(const nvmx_vcpu *vcpu)
{
    return vcpu->vm->ops.tsc_read(vcpu->ctx);
}

static bool l1_timer_activated(const nvmx_vcpu *vcpu)
{
    uint64_t pin = vmcs12_get(&vcpu->current->data, VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL);
    return vcpu->vm->ops.tsc_read && (pin & NVMX_CTL(PREEMPTION_TIMER));
}

void preemption_timer_arm(nvmx_vcpu *vcpu)
{
    vcpu->timer_active = l1_timer_activated(vcpu);
    if (!vcpu->timer_active)
        return;
    unsigned x = l1_rate(vcpu->vm);
    uint64_t value =
        (uint32_t)vmcs12_get(&vcpu->current->data, VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE);
    /* L1 can set its own TSC (WRMSR), so its count may sit just below 2^64: the sum and the
     * shift saturate instead of wrapping. A deadline past the TSC's range is never reached. */
    uint64_t base = now(vcpu) >> x;
    uint64_t ticks = base > UINT64_MAX - value ? UINT64_MAX : base + value;
    vcpu->timer_deadline = ticks > (UINT64_MAX >> x) ? UINT64_MAX : ticks << x;
}

bool preemption_timer_expired(const nvmx_vcpu *vcpu)
{
    return vcpu->timer_active && now(vcpu) >= vcpu->timer_deadline;
}

uint32_t preemption_timer_remaining(const nvmx_vcpu *vcpu)
{
    if (!vcpu->timer_active)
        return 0;
    unsigned x = l1_rate(vcpu->vm);
    uint64_t t = now(vcpu);
    if (t >= vcpu->timer_deadline)
        return 0;
    uint64_t left = (vcpu->timer_deadline >> x) - (t >> x);
    return left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

/* The hardware value that expires no later than the deadline: the hardware counts one per
 * change of host TSC bit R after it starts, so n = floor(cycles left / 2^R) ticks are over at
 * most n << R cycles from now. */
static uint32_t vmcs02_value(const nvmx_vcpu *vcpu)
{
    uint64_t t = now(vcpu);
    if (t >= vcpu->timer_deadline)
        return 0;
    uint64_t ticks = (vcpu->timer_deadline - t) >> vcpu->vm->host_timer_rate;
    return ticks > UINT32_MAX ? UINT32_MAX : (uint32_t)ticks;
}

nvmx_status preemption_timer_write_vmcs02(nvmx_vcpu *vcpu)
{
    if (!vcpu->timer_active)
        return NVMX_OK;
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    uint64_t value = vmcs02_value(vcpu);
    /* L0 running its own timer for L2 wrote its value first; the sooner of the two wins and
     * L0 recognises its own expiry by its own deadline (docs/ARCHITECTURE.md). */
    if (vcpu->vm->l0.pin & NVMX_CTL(PREEMPTION_TIMER)) {
        uint64_t l0_value;
        if (ops->hw_vmcs_read(vcpu->ctx, NVMX_HW_VMCS02, NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE,
                              &l0_value) != NVMX_OK)
            return NVMX_ERR_HOST;
        if ((uint32_t)l0_value < value)
            value = (uint32_t)l0_value;
    }
    if (ops->hw_vmcs_write(vcpu->ctx, NVMX_HW_VMCS02, NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE,
                           value) != NVMX_OK)
        return NVMX_ERR_HOST;
    return NVMX_OK;
}
