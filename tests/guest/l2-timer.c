/* SPDX-License-Identifier: MIT */
/*
 * L1 test image: the VMX-preemption timer (SDM Vol. 3C 26.7.1, 27.7.4, 28.2.1, 28.3.4) and the
 * HLT activity state (25.4.2, 27.7.2). L2 spins, halts or runs CPUID; L1 checks the exit
 * reason 52, its guest RIP, the saved timer value and the saved activity state.
 */
#include "vmcs_setup.h"

static uint8_t vmcs[4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[4096] __attribute__((aligned(16)));

#define PIN_PREEMPTION_TIMER (1u << 6)
#define EXIT_SAVE_TIMER (1u << 22)
#define MISC_ACTIVITY_HLT (1u << 6)
#define F_TIMER 0x482E

void l2_spin(void), l2_cpuid(void), l2_hlt(void), l2_after_hlt(void);
__asm__(".text\n"
        "l2_spin: jmp l2_spin\n"
        "l2_cpuid: cpuid\n"
        "  jmp l2_spin\n"
        "l2_hlt: hlt\n"
        "l2_after_hlt: jmp l2_after_hlt\n");

static uint64_t addr(void (*f)(void))
{
    return (uint64_t)(uintptr_t)f;
}

/* L2 at `rip` with the timer at `value`, entered with VMLAUNCH once, then VMRESUME. */
static uint64_t run(void (*rip)(void), uint32_t value, uint32_t activity)
{
    static bool launched;
    vmwrite(F_GUEST_RIP, addr(rip));
    vmwrite(F_TIMER, value);
    vmwrite(F_GUEST_ACTIVITY, activity);
    uint64_t result = l1_vm_enter(launched);
    launched = true;
    return result == 0 ? vmread_value(F_EXIT_REASON) : result;
}

int l1_main(uint64_t memory_size)
{
    (void)memory_size;
    rt_load_gdt();
    rt_load_idt();
    check(vs_vmxon(), "VMXON");
    uint64_t pin_caps = rdmsr(vs_true_controls ? 0x48D : 0x481);
    uint64_t misc = rdmsr(0x485);
    check((pin_caps >> 32) & PIN_PREEMPTION_TIMER, "the VMX-preemption timer is offered");
    check(misc & MISC_ACTIVITY_HLT, "the HLT activity state is offered (IA32_VMX_MISC[6])");
    check(vs_load_vmcs(vmcs), "VMCLEAR and VMPTRLD");
    vs_controls(PROC_UNCOND_IO);
    vmwrite(F_PIN, vs_control(0x481, 0x48D, PIN_PREEMPTION_TIMER));
    vmwrite(F_EXIT_CONTROLS, vs_control(0x483, 0x48F, EXIT_HOST_ADDR_SPACE | EXIT_SAVE_TIMER));
    vs_host_state();
    vs_guest_state(addr(l2_spin), (uint64_t)(uintptr_t)(l2_stack + sizeof(l2_stack)),
                   (uint64_t)(uintptr_t)rt_idt, sizeof(rt_idt) - 1);

    check_eq(run(l2_spin, 2000, 0), 52, "a spinning L2 exits when the timer expires (52)");
    check_eq(vmread_value(F_EXIT_QUALIFICATION), 0, "timer exit: qualification 0");
    check_eq(vmread_value(F_GUEST_RIP), addr(l2_spin), "timer exit: RIP of the next instruction");
    check_eq(vmread_value(F_TIMER), 0, "\"save timer value\": the expired timer saves 0");

    check_eq(run(l2_cpuid, 0, 0), 52, "timer 0: the exit comes before L2's first instruction");
    check_eq(vmread_value(F_GUEST_RIP), addr(l2_cpuid), "timer 0: CPUID did not run");

    check_eq(run(l2_cpuid, 0xFFFFFFFFu, 0), 10, "a distant timer does not fire: CPUID exits");
    uint64_t left = vmread_value(F_TIMER);
    check(left > 0xFFFF0000u && left <= 0xFFFFFFFFu,
          "the saved timer value is what is left (28.3.4)");

    /* Long enough (about 10^8 TSC cycles) that L2 surely reaches its HLT first, however slow
     * the host (sanitizer builds): a halted L2 then waits for the deadline. */
    check_eq(run(l2_hlt, 3000000, 0), 52, "L2 halts (no HLT exiting): the timer wakes it (52)");
    check_eq(vmread_value(F_GUEST_ACTIVITY), 1, "the exit saves the HLT activity state");
    check_eq(vmread_value(F_GUEST_RIP), addr(l2_after_hlt), "RIP is after the HLT");

    check_eq(run(l2_spin, 3000, 1), 52, "VM entry in the HLT activity state: the timer exits");
    check_eq(vmread_value(F_GUEST_ACTIVITY), 1, "still in the HLT activity state");
    check_eq(vmread_value(F_GUEST_RIP), addr(l2_spin), "RIP unchanged: L2 ran nothing");

    check_eq(run(l2_cpuid, 1000000, 0), 10, "after HLT, an active entry runs L2 again");
    check_eq(vmxoff(), 0, "VMXOFF");
    return tap_done();
}
