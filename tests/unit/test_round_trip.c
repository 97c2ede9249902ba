/* SPDX-License-Identifier: MIT */
/*
 * Nested round trips through the public entry points, on a fake hardware host whose registers
 * live in vmcs01 (L1) and vmcs02 (L2): VMLAUNCH -> L2 exit -> L1 handler -> VMRESUME.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "vmx_harness.h"

static harness h;

static void setup(void)
{
    harness_nested_init(&h, NULL, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(round_trip, .init = setup, .fini = teardown);

static uint64_t v01(unsigned ordinal)
{
    return h.host.vmcs[NVMX_HW_VMCS01][ordinal];
}
static uint64_t v02(unsigned ordinal)
{
    return h.host.vmcs[NVMX_HW_VMCS02][ordinal];
}
static uint64_t vmread(uint32_t field)
{
    uint64_t value;
    cr_assert_eq(harness_vmread(&h, field, &value), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    return value;
}

static void launch(uint32_t reason)
{
    uint64_t l1_rip = v01(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(harness_exit(&h, reason, 0, 0), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L2, "entry failed: %s", h.host.last_log);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(v01(VMCS12_ORD_GUEST_RIP), l1_rip, "a VM entry does not move L1's RIP");
    h.host.running = NVMX_HW_VMCS02;
}

static nvmx_status l2_exits(uint32_t reason, uint32_t length)
{
    nvmx_exit exit = {.reason = reason, .instruction_length = length};
    nvmx_status status = nvmx_on_l2_exit(h.vcpu, &exit, &h.next);
    if (h.next.run == NVMX_RUN_L1)
        h.host.running = NVMX_HW_VMCS01;
    return status;
}

/* SDM 27.3.2, 31.3 VMLAUNCH: L2 starts with vmcs12's guest state; the VMCS becomes launched. */
Test(round_trip, vmlaunch_enters_l2_with_vmcs12_guest_state)
{
    uint64_t guest_rip = vmread(NVMX_FIELD_GUEST_RIP);
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(v02(VMCS12_ORD_GUEST_RIP), guest_rip);
    cr_assert_eq(v02(VMCS12_ORD_GUEST_CR3), 0x100000);
    cr_assert_eq(h.vcpu->current->launch_state, VMCS12_STATE_LAUNCHED);
}

/* SDM 28.2, 28.5: an L2 CPUID exits to L1 with reason 10 and L1 continues at HOST_RIP with
 * the host state of vmcs12. */
Test(round_trip, cpuid_in_l2_exits_to_l1_at_host_rip)
{
    launch(NVMX_EXIT_VMLAUNCH);
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_RIP] += 0x20; /* L2 ran to its CPUID */
    uint64_t l2_rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(l2_exits(NVMX_EXIT_CPUID, 2), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(v01(VMCS12_ORD_GUEST_RIP), 0x400000, "HOST_RIP of the fixture");
    cr_assert_eq(v01(VMCS12_ORD_GUEST_RSP), 0x7000);
    cr_assert_eq(v01(VMCS12_ORD_GUEST_RFLAGS), 0x2);
    cr_assert_eq(v01(VMCS12_ORD_GUEST_CS_SELECTOR), 0x08);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_CPUID);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_INSTRUCTION_LEN), 2);
    cr_assert_eq(vmread(NVMX_FIELD_GUEST_RIP), l2_rip, "L2's state saved into vmcs12");
}

/* The full round trip: L1 skips L2's CPUID and resumes; only what L1 changed is rewritten. */
Test(round_trip, vmresume_after_handler_rewrites_only_what_changed)
{
    launch(NVMX_EXIT_VMLAUNCH);
    l2_exits(NVMX_EXIT_CPUID, 2);
    uint64_t rip = vmread(NVMX_FIELD_GUEST_RIP);
    uint64_t length = vmread(NVMX_FIELD_VM_EXIT_INSTRUCTION_LEN);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, rip + length);
    long writes = h.host.vmcs_writes[NVMX_HW_VMCS02];
    launch(NVMX_EXIT_VMRESUME);
    cr_assert_eq(v02(VMCS12_ORD_GUEST_RIP), rip + length);
    cr_assert_leq(h.host.vmcs_writes[NVMX_HW_VMCS02] - writes, 8,
                  "a resume rewrites GUEST_RIP and the per-entry fields, not the VMCS");
}

/* An exit L1 did not ask for (HLT without HLT exiting) stays with L0; vmcs12 is untouched. */
Test(round_trip, exit_l1_did_not_ask_for_stays_in_l0)
{
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(l2_exits(NVMX_EXIT_HLT, 1), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_VM_EXIT_REASON), 0);
}

/* SDM 27.8: a guest-state check failure is a VM exit to L1 with reason 33 | bit 31. */
Test(round_trip, invalid_guest_state_fails_entry_with_reason_33)
{
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RFLAGS, 0); /* bit 1 must be 1 (SDM 27.3.1.4) */
    uint64_t l1_rip = v01(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_neq(v01(VMCS12_ORD_GUEST_RIP), l1_rip);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_REASON_ENTRY_FAILURE | 33u);
    cr_assert_eq(vmread(NVMX_FIELD_EXIT_QUALIFICATION), 0);
    cr_assert_eq(h.vcpu->current->launch_state, VMCS12_STATE_CLEAR);
}

/* VMX instructions of L2 exit to L1 with their exit information (SDM 28.2.5). */
Test(round_trip, vmx_instruction_in_l2_exits_to_l1)
{
    launch(NVMX_EXIT_VMLAUNCH);
    h.host.regs[NVMX_REG_RAX] = OPERAND;
    nvmx_exit exit = {.reason = NVMX_EXIT_VMPTRLD,
                      .instruction_info = INFO_MEM_RAX,
                      .qualification = 0x18,
                      .instruction_length = 3};
    cr_assert_eq(nvmx_on_l2_exit(h.vcpu, &exit, &h.next), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    h.host.running = NVMX_HW_VMCS01;
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_VMPTRLD);
    cr_assert_eq(vmread(NVMX_FIELD_VMX_INSTRUCTION_INFO), INFO_MEM_RAX);
    cr_assert_eq(vmread(NVMX_FIELD_EXIT_QUALIFICATION), 0x18);
}

/* ---- VMX-preemption timer (SDM 26.7, 27.7.4, 28.3.4), on the fake host's TSC ------------------
 */

/* The software host's rate, which L1 reads in IA32_VMX_MISC[4:0] and vmcs02's timer uses. */
#define RATE 5u

static void l1_sets_timer(uint32_t value, bool save)
{
    uint64_t pin = vmread(NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL);
    harness_vmwrite(&h, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL, pin | NVMX_CTL(PREEMPTION_TIMER));
    harness_vmwrite(&h, NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE, value);
    if (save) {
        uint64_t exit = vmread(NVMX_FIELD_VM_EXIT_CONTROLS);
        harness_vmwrite(&h, NVMX_FIELD_VM_EXIT_CONTROLS,
                        exit | NVMX_CTL(EXIT_SAVE_PREEMPTION_TIMER));
    }
    cr_assert(harness_succeeded(&h));
}

/* 26.7.1: started with 100 at TSC 1000, the timer reaches 0 at the 100th change of TSC bit 5:
 * TSC ((1000 >> 5) + 100) << 5 = 4192. */
#define T0 1000ull
#define DEADLINE 4192ull

Test(round_trip, preemption_timer_value_in_vmcs02_expires_no_later_than_l1_deadline)
{
    cr_assert_eq(h.vm->caps.misc & 0x1F, RATE);
    l1_sets_timer(100, false);
    h.host.tsc = T0;
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert(v02(VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL) & NVMX_CTL(PREEMPTION_TIMER));
    cr_assert_eq(v02(VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE), (DEADLINE - T0) >> RATE);
    cr_assert_leq(T0 + (v02(VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE) << RATE), DEADLINE);
    uint64_t deadline;
    cr_assert(nvmx_l2_timer_deadline(h.vcpu, &deadline));
    cr_assert_eq(deadline, DEADLINE);
}

/* 26.7.1: a timer exit before L1's deadline is not L1's; L0 resumes L2 with the share left. */
Test(round_trip, preemption_timer_exit_before_l1_deadline_stays_in_l0)
{
    l1_sets_timer(100, true);
    h.host.tsc = T0;
    launch(NVMX_EXIT_VMLAUNCH);
    h.host.tsc = 2000;
    cr_assert_eq(l2_exits(NVMX_EXIT_PREEMPTION_TIMER, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
    h.host.tsc = 3000; /* L0 took its time */
    cr_assert_eq(nvmx_before_l2_resume(h.vcpu), NVMX_OK);
    cr_assert_eq(v02(VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE), (DEADLINE - 3000) >> RATE);
}

/* 26.7.1, 28.3.4: once L1's deadline passed the exit is L1's (reason 52), and with "save
 * VMX-preemption-timer value" vmcs12 holds 0. */
Test(round_trip, preemption_timer_exit_after_l1_deadline_exits_to_l1_saving_zero)
{
    l1_sets_timer(100, true);
    h.host.tsc = T0;
    launch(NVMX_EXIT_VMLAUNCH);
    h.host.tsc = DEADLINE;
    cr_assert_eq(l2_exits(NVMX_EXIT_PREEMPTION_TIMER, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_PREEMPTION_TIMER);
    cr_assert_eq(vmread(NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE), 0);
    uint64_t deadline;
    cr_assert_not(nvmx_l2_timer_deadline(h.vcpu, &deadline), "no timer in root operation");
}

/* 28.3.4, 27.7.4: an exit for another reason saves what is left in L1's units, and the next
 * VMRESUME restarts the timer from it. */
Test(round_trip, saved_preemption_timer_value_continues_across_vmresume)
{
    l1_sets_timer(100, true);
    h.host.tsc = T0;
    launch(NVMX_EXIT_VMLAUNCH);
    h.host.tsc = 2000;
    l2_exits(NVMX_EXIT_CPUID, 2);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    uint64_t left = (DEADLINE >> RATE) - (2000 >> RATE);
    cr_assert_eq(vmread(NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE), left);
    h.host.tsc = 2100;
    launch(NVMX_EXIT_VMRESUME);
    uint64_t deadline;
    cr_assert(nvmx_l2_timer_deadline(h.vcpu, &deadline));
    cr_assert_eq(deadline, ((2100 >> RATE) + left) << RATE);
}

/* 28.3.4: without "save VMX-preemption-timer value" vmcs12 keeps L1's value, and each entry
 * starts the timer from it again (27.7.4). */
Test(round_trip, without_save_control_vmcs12_keeps_l1_timer_value)
{
    l1_sets_timer(100, false);
    h.host.tsc = T0;
    launch(NVMX_EXIT_VMLAUNCH);
    h.host.tsc = 2000;
    l2_exits(NVMX_EXIT_CPUID, 2);
    cr_assert_eq(vmread(NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE), 100);
}

/* 27.7.4: a timer value of 0 makes L2 exit before its first instruction: vmcs02 gets 0, and
 * the exit is L1's. */
Test(round_trip, zero_preemption_timer_value_exits_to_l1_before_any_instruction)
{
    l1_sets_timer(0, false);
    h.host.tsc = T0 + 7; /* not on a tick boundary */
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(v02(VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE), 0);
    cr_assert_eq(l2_exits(NVMX_EXIT_PREEMPTION_TIMER, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
}

/* L0 running its own timer for L2: vmcs02 keeps the sooner of L0's value and L1's share. */
Test(round_trip, l0_own_preemption_timer_merges_as_the_minimum)
{
    h.vm->l0.pin = NVMX_CTL(PREEMPTION_TIMER);
    l1_sets_timer(100, false);
    h.host.tsc = T0;
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE] = 10;
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(v02(VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE), 10, "L0's is sooner");
    cr_assert_eq(l2_exits(NVMX_EXIT_PREEMPTION_TIMER, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES, "L1's deadline has not passed");
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE] = 1000;
    cr_assert_eq(nvmx_before_l2_resume(h.vcpu), NVMX_OK);
    cr_assert_eq(v02(VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE), (DEADLINE - T0) >> RATE,
                 "L1's is sooner");
}

/* L1 without the timer: vmcs02's timer value is L0's alone, never vmcs12's. */
Test(round_trip, vmcs02_timer_value_is_untouched_without_l1_timer)
{
    harness_vmwrite(&h, NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE, 5);
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE] = 77;
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(v02(VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE), 77);
    cr_assert_eq(l2_exits(NVMX_EXIT_PREEMPTION_TIMER, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
}

/* ---- Event windows, NMIs, MTF, HLT (SDM 26.2, 26.7.2, 27.6, 28.2-28.3) ------------------------
 */

static void l1_sets_controls(uint32_t pin, uint32_t proc)
{
    harness_vmwrite(&h, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL,
                    vmread(NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL) | pin);
    harness_vmwrite(&h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL,
                    vmread(NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL) | proc);
    cr_assert(harness_succeeded(&h));
}

static nvmx_status l2_event_exit(const nvmx_exit *exit)
{
    nvmx_status status = nvmx_on_l2_exit(h.vcpu, exit, &h.next);
    if (h.next.run == NVMX_RUN_L1)
        h.host.running = NVMX_HW_VMCS01;
    return status;
}

/* SDM 26.2 "interrupt-window exiting": vmcs02 carries L1's control and the exit is L1's. */
Test(round_trip, interrupt_window_exit_goes_to_l1_when_l1_asked)
{
    l1_sets_controls(0, NVMX_CTL(INTR_WINDOW_EXITING));
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert(v02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(INTR_WINDOW_EXITING));
    cr_assert_eq(l2_exits(NVMX_EXIT_INTERRUPT_WINDOW, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_INTERRUPT_WINDOW);
}

/* SDM 26.2: an interrupt window only L0 asked for (to inject into L2) is L0's. */
Test(round_trip, interrupt_window_exit_l1_did_not_ask_for_stays_in_l0)
{
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(l2_exits(NVMX_EXIT_INTERRUPT_WINDOW, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
}

/* SDM 26.2, 28.2.2, 28.5.5: an NMI with L1's "NMI exiting" exits to L1 with the NMI in the
 * interruption information, and L1 resumes with NMIs blocked. */
Test(round_trip, nmi_exits_to_l1_with_nmi_exiting_and_blocks_nmis_in_l1)
{
    l1_sets_controls(NVMX_CTL(NMI_EXITING), 0);
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert(v02(VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL) & NVMX_CTL(NMI_EXITING));
    const uint32_t nmi =
        NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_NMI << NVMX_INTR_INFO_TYPE_SHIFT) | NVMX_VECTOR_NMI;
    nvmx_exit exit = {.reason = NVMX_EXIT_EXCEPTION_NMI, .interruption_info = nmi};
    cr_assert_eq(l2_event_exit(&exit), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_INTR_INFO), nmi);
    cr_assert(v01(VMCS12_ORD_GUEST_INTERRUPTIBILITY_INFO) & NVMX_BLOCKING_NMI);
}

/* SDM 26.2: without L1's "NMI exiting" an NMI is L0's to deliver to L2. */
Test(round_trip, nmi_without_nmi_exiting_stays_in_l0)
{
    launch(NVMX_EXIT_VMLAUNCH);
    nvmx_exit exit = {.reason = NVMX_EXIT_EXCEPTION_NMI,
                      .interruption_info = NVMX_INTR_INFO_VALID |
                                           (NVMX_INTR_TYPE_NMI << NVMX_INTR_INFO_TYPE_SHIFT) |
                                           NVMX_VECTOR_NMI};
    cr_assert_eq(l2_event_exit(&exit), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
}

/* SDM 25.4.2, 27.3.2, 28.3.4: with "virtual NMIs", interruptibility bit 3 is virtual-NMI
 * blocking: L1's value reaches vmcs02, L2's comes back into vmcs12; the NMI window is L1's. */
Test(round_trip, virtual_nmi_blocking_round_trips_and_nmi_window_goes_to_l1)
{
    l1_sets_controls(NVMX_CTL(NMI_EXITING) | NVMX_CTL(VIRTUAL_NMIS), NVMX_CTL(NMI_WINDOW_EXITING));
    harness_vmwrite(&h, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_NMI);
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert(v02(VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL) & NVMX_CTL(VIRTUAL_NMIS));
    cr_assert(v02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(NMI_WINDOW_EXITING));
    cr_assert_eq(v02(VMCS12_ORD_GUEST_INTERRUPTIBILITY_INFO), NVMX_BLOCKING_NMI);
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_INTERRUPTIBILITY_INFO] = 0; /* L2's IRET */
    cr_assert_eq(l2_exits(NVMX_EXIT_NMI_WINDOW, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_NMI_WINDOW);
    cr_assert_eq(vmread(NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO), 0);
}

/* SDM 28.2.3, 28.2.4: an exit that interrupted event delivery gives L1 the IDT-vectoring
 * information and error code; "NMI unblocking due to IRET" (bit 12) passes through. */
Test(round_trip, idt_vectoring_information_and_iret_unblocking_go_to_l1)
{
    l1_sets_controls(NVMX_CTL(NMI_EXITING) | NVMX_CTL(VIRTUAL_NMIS), 0);
    harness_vmwrite(&h, NVMX_FIELD_EXCEPTION_BITMAP, 1u << NVMX_VECTOR_GP);
    launch(NVMX_EXIT_VMLAUNCH);
    const uint32_t gp = NVMX_INTR_INFO_VALID | NVMX_INTR_INFO_DELIVER_ERROR_CODE |
                        (NVMX_INTR_TYPE_HARDWARE_EXCEPTION << NVMX_INTR_INFO_TYPE_SHIFT) |
                        NVMX_VECTOR_GP | (1u << 12);
    const uint32_t vectoring =
        NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_EXTERNAL << NVMX_INTR_INFO_TYPE_SHIFT) | 0x30;
    nvmx_exit exit = {.reason = NVMX_EXIT_EXCEPTION_NMI,
                      .interruption_info = gp,
                      .interruption_error_code = 0x18,
                      .idt_vectoring_info = vectoring,
                      .idt_vectoring_error_code = 0};
    cr_assert_eq(l2_event_exit(&exit), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_INTR_INFO), gp);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_INTR_ERROR_CODE), 0x18);
    cr_assert_eq(vmread(NVMX_FIELD_IDT_VECTORING_INFO_FIELD), vectoring);
}

/* SDM 26.7.2: with L1's "monitor trap flag" vmcs02 single-steps L2 and the MTF exit is L1's. */
Test(round_trip, mtf_exit_goes_to_l1_when_l1_set_monitor_trap_flag)
{
    l1_sets_controls(0, NVMX_CTL(MONITOR_TRAP_FLAG));
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert(v02(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(MONITOR_TRAP_FLAG));
    cr_assert_eq(l2_exits(NVMX_EXIT_MONITOR_TRAP_FLAG, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_MONITOR_TRAP_FLAG);
}

/* SDM 27.6.2, 27.7.2: injecting a pending MTF VM exit (type 7, vector 0) makes the next MTF
 * exit L1's without the control; it is consumed by that exit. */
Test(round_trip, injected_pending_mtf_exit_goes_to_l1_once)
{
    const uint32_t pending_mtf =
        NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_OTHER_EVENT << NVMX_INTR_INFO_TYPE_SHIFT);
    harness_vmwrite(&h, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD, pending_mtf);
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(v02(VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD), pending_mtf);
    cr_assert_eq(l2_exits(NVMX_EXIT_MONITOR_TRAP_FLAG, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    launch(NVMX_EXIT_VMRESUME); /* the exit cleared the valid bit: nothing injected */
    cr_assert_eq(l2_exits(NVMX_EXIT_MONITOR_TRAP_FLAG, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES, "L0's own single step");
}

/* SDM 26.7.2: an L2 VMREAD the library completes through the shadow VMCS is an instruction
 * L2 executed; with L1's MTF an MTF exit to L1 follows it, RIP past the instruction. */
Test(round_trip, mtf_exit_follows_l2_vmread_completed_through_shadow_vmcs)
{
    harness_vmwrite(&h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL,
                    vmread(NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL) | NVMX_CTL(MONITOR_TRAP_FLAG) |
                        NVMX_CTL(SECONDARY_CONTROLS));
    harness_vmwrite(&h, NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL, NVMX_CTL(SHADOW_VMCS));
    harness_vmwrite(&h, NVMX_FIELD_VMREAD_BITMAP, VMREAD_BITMAP_GPA);
    harness_vmwrite(&h, NVMX_FIELD_VMWRITE_BITMAP, VMWRITE_BITMAP_GPA);
    harness_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, SHADOW_VMCS);
    cr_assert(harness_succeeded(&h));
    launch(NVMX_EXIT_VMLAUNCH); /* bitmaps all zero: every VMREAD reads the shadow VMCS */
    uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
    cr_assert_eq(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    h.host.running = NVMX_HW_VMCS01;
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_MONITOR_TRAP_FLAG);
    cr_assert_eq(vmread(NVMX_FIELD_GUEST_RIP), rip + INSN_LENGTH);
}

/* SDM 25.4.2, 27.3.1.5, 28.3.4: L1 enters L2 in the HLT state (vmcs02 halts it), and an exit
 * saves the activity state L2 had; here an NMI L1 intercepts wakes it. */
Test(round_trip, hlt_activity_state_reaches_vmcs02_and_is_saved_on_exit)
{
    l1_sets_controls(NVMX_CTL(NMI_EXITING), 0);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_HLT);
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(v02(VMCS12_ORD_GUEST_ACTIVITY_STATE), NVMX_ACTIVITY_HLT);
    nvmx_exit exit = {.reason = NVMX_EXIT_EXCEPTION_NMI,
                      .interruption_info = NVMX_INTR_INFO_VALID |
                                           (NVMX_INTR_TYPE_NMI << NVMX_INTR_INFO_TYPE_SHIFT) |
                                           NVMX_VECTOR_NMI};
    cr_assert_eq(l2_event_exit(&exit), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(vmread(NVMX_FIELD_GUEST_ACTIVITY_STATE), NVMX_ACTIVITY_HLT);
}

/* SDM 25.4.2, A.6, 27.3.1.5: activity states beyond 3 do not exist: entry in one fails. */
Test(round_trip, undefined_activity_state_is_not_supported)
{
    harness_vmwrite(&h, NVMX_FIELD_GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_WAIT_SIPI + 1);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_REASON_ENTRY_FAILURE | 33u);
}

/* ---- Interrupts of L1's platform while L2 runs (SDM 25.6.1, 25.7.1, 26.2, 28.2.2) ----------
 */

#define L1_VECTOR 0x41u
static const uint32_t external_0x41 =
    NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_EXTERNAL << NVMX_INTR_INFO_TYPE_SHIFT) | L1_VECTOR;

static void l1_sets_exit_controls(uint32_t exit)
{
    harness_vmwrite(&h, NVMX_FIELD_VM_EXIT_CONTROLS, vmread(NVMX_FIELD_VM_EXIT_CONTROLS) | exit);
    cr_assert(harness_succeeded(&h));
}

/* L0 reports an interrupt of L1's platform while L2 runs. */
static nvmx_status l1_interrupt(uint8_t vector, bool *acknowledge)
{
    *acknowledge = !*acknowledge; /* the call must set it either way */
    nvmx_status status = nvmx_l1_interrupt_pending(h.vcpu, vector, acknowledge, &h.next);
    if (h.next.run == NVMX_RUN_L1)
        h.host.running = NVMX_HW_VMCS01;
    return status;
}

static void l2_rflags(uint64_t rflags)
{
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_RFLAGS] = rflags;
}

/* SDM 25.6.1, 25.7.1, 28.2.2: with external-interrupt exiting and acknowledge interrupt on
 * exit, the interrupt exits to L1 (reason 1) and is acknowledged: the VM-exit interruption
 * information is valid, type 0, with the vector, and L0 must consume the vector. SDM 26.2: the
 * exit happens although L2 has RFLAGS.IF = 0 and blocking by MOV SS. The round trip: L1 runs at
 * HOST_RIP with RFLAGS = 2 (28.5.3), reads the information, resumes L2. */
Test(round_trip, external_interrupt_with_ack_on_exit_exits_to_l1_with_vector)
{
    l1_sets_controls(NVMX_CTL(EXT_INTR_EXITING), 0);
    l1_sets_exit_controls(NVMX_CTL(EXIT_ACK_INTR));
    launch(NVMX_EXIT_VMLAUNCH);
    cr_assert(v02(VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL) & NVMX_CTL(EXT_INTR_EXITING));
    l2_rflags(0x2); /* IF = 0 */
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_INTERRUPTIBILITY_INFO] = NVMX_BLOCKING_MOV_SS;
    uint64_t l2_rip = v02(VMCS12_ORD_GUEST_RIP);
    bool acknowledge = false;
    cr_assert_eq(l1_interrupt(L1_VECTOR, &acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert(acknowledge, "L1 acknowledges on exit: L0 consumes the vector");
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(v01(VMCS12_ORD_GUEST_RIP), 0x400000, "HOST_RIP of the fixture");
    cr_assert_eq(v01(VMCS12_ORD_GUEST_RFLAGS), 0x2, "L1 runs with interrupts disabled");
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_EXTERNAL_INTERRUPT);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_INTR_INFO), external_0x41);
    cr_assert_eq(vmread(NVMX_FIELD_EXIT_QUALIFICATION), 0);
    cr_assert_eq(vmread(NVMX_FIELD_IDT_VECTORING_INFO_FIELD) & NVMX_INTR_INFO_VALID, 0);
    cr_assert_eq(vmread(NVMX_FIELD_GUEST_RIP), l2_rip, "an interrupt moves no RIP");
    cr_assert_eq(vmread(NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO), NVMX_BLOCKING_MOV_SS);
    launch(NVMX_EXIT_VMRESUME);
    cr_assert_eq(v02(VMCS12_ORD_GUEST_RIP), l2_rip);
}

/* SDM 25.7.1, 28.2.2: without acknowledge interrupt on exit the VM-exit interruption
 * information is invalid and the interrupt stays pending in L1's interrupt controller. */
Test(round_trip, external_interrupt_without_ack_on_exit_exits_to_l1_unacknowledged)
{
    l1_sets_controls(NVMX_CTL(EXT_INTR_EXITING), 0);
    launch(NVMX_EXIT_VMLAUNCH);
    bool acknowledge = true;
    cr_assert_eq(l1_interrupt(L1_VECTOR, &acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_not(acknowledge, "the interrupt stays pending for L1");
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_EXTERNAL_INTERRUPT);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_INTR_INFO) & NVMX_INTR_INFO_VALID, 0);
    launch(NVMX_EXIT_VMRESUME);
}

/* SDM 26.2: without external-interrupt exiting the interrupt is delivered through L2's IDT:
 * L0 injects it into L2; nothing changes in vmcs12 or vmcs02. */
Test(round_trip, external_interrupt_l1_does_not_intercept_is_injected_into_l2_by_l0)
{
    l1_sets_exit_controls(NVMX_CTL(EXIT_ACK_INTR));
    launch(NVMX_EXIT_VMLAUNCH);
    l2_rflags(0x202);
    long writes = h.host.vmcs_writes[NVMX_HW_VMCS02];
    bool acknowledge = true;
    cr_assert_eq(l1_interrupt(L1_VECTOR, &acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
    cr_assert_not(acknowledge, "L0 acknowledges when it injects");
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(h.host.vmcs_writes[NVMX_HW_VMCS02], writes);
    cr_assert_eq(vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_VM_EXIT_REASON), 0);
}

/* SDM 27.6, 27.7.1: an event vmcs02's next entry injects (here L1's) is delivered before the
 * interrupt is recognized: not yet (NVMX_RUN_L2); once the entry delivered it, the exit. */
Test(round_trip, external_interrupt_waits_for_the_injected_event)
{
    l1_sets_controls(NVMX_CTL(EXT_INTR_EXITING), 0);
    l1_sets_exit_controls(NVMX_CTL(EXIT_ACK_INTR));
    const uint32_t l1_event =
        NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_EXTERNAL << NVMX_INTR_INFO_TYPE_SHIFT) | 0x30;
    harness_vmwrite(&h, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD, l1_event);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RFLAGS, 0x202); /* SDM 27.3.1.4: IF = 1 to inject */
    launch(NVMX_EXIT_VMLAUNCH);
    bool acknowledge = true;
    cr_assert_eq(l1_interrupt(L1_VECTOR, &acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
    cr_assert_not(acknowledge);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(v02(VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD), l1_event, "L1's event kept");
    /* L2 entered, the event was delivered, the exit cleared the valid bit (SDM 28.2). */
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD] &= ~NVMX_INTR_INFO_VALID;
    cr_assert_eq(l1_interrupt(L1_VECTOR, &acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert(acknowledge);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_INTR_INFO), external_0x41);
}

/* SDM 27.7.5: a VM exit caused by interrupt-window exiting takes priority over external
 * interrupts: with L1's window open the interrupt waits for that exit; closed (IF = 0), the
 * interrupt exits to L1 at once. */
Test(round_trip, external_interrupt_yields_to_l1_open_interrupt_window)
{
    l1_sets_controls(NVMX_CTL(EXT_INTR_EXITING), NVMX_CTL(INTR_WINDOW_EXITING));
    launch(NVMX_EXIT_VMLAUNCH);
    l2_rflags(0x202);
    bool acknowledge = true;
    cr_assert_eq(l1_interrupt(L1_VECTOR, &acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L2, "the window exit comes first");
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    l2_rflags(0x2);
    cr_assert_eq(l1_interrupt(L1_VECTOR, &acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_EXTERNAL_INTERRUPT);
}

/* SDM 26.2, 28.3.4: an interrupt L1 intercepts wakes a halted L2 by exiting to L1, which
 * finds the activity state HLT saved. */
Test(round_trip, external_interrupt_exit_saves_hlt_activity_state)
{
    l1_sets_controls(NVMX_CTL(EXT_INTR_EXITING), 0);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_HLT);
    launch(NVMX_EXIT_VMLAUNCH);
    bool acknowledge = true;
    cr_assert_eq(l1_interrupt(L1_VECTOR, &acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(vmread(NVMX_FIELD_GUEST_ACTIVITY_STATE), NVMX_ACTIVITY_HLT);
}

/* Only while L2 runs: while L1 runs the interrupt is L1's (NVMX_ERR_STATE); NULL arguments. */
Test(round_trip, l1_interrupt_pending_outside_guest_mode_is_a_state_error)
{
    bool acknowledge = true;
    cr_assert_eq(nvmx_l1_interrupt_pending(h.vcpu, L1_VECTOR, &acknowledge, &h.next),
                 NVMX_ERR_STATE);
    cr_assert_not(acknowledge);
    cr_assert_eq(nvmx_l1_interrupt_pending(NULL, L1_VECTOR, &acknowledge, &h.next),
                 NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_l1_interrupt_pending(h.vcpu, L1_VECTOR, NULL, &h.next),
                 NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_l1_interrupt_pending(h.vcpu, L1_VECTOR, &acknowledge, NULL),
                 NVMX_ERR_INVALID_ARGUMENT);
    l1_sets_controls(NVMX_CTL(EXT_INTR_EXITING), 0);
    launch(NVMX_EXIT_VMLAUNCH);
    l1_interrupt(L1_VECTOR, &acknowledge);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(nvmx_l1_interrupt_pending(h.vcpu, L1_VECTOR, &acknowledge, &h.next),
                 NVMX_ERR_STATE, "after the exit L1 runs");
}

/* A hardware host's own reason-1 exit carrying L1's interrupt (SDM 28.2.2): passed to L1 when
 * its acknowledgement matches L1's control. */
Test(round_trip, hardware_reason_1_with_vector_goes_to_l1_acknowledging_on_exit)
{
    l1_sets_controls(NVMX_CTL(EXT_INTR_EXITING), 0);
    l1_sets_exit_controls(NVMX_CTL(EXIT_ACK_INTR));
    launch(NVMX_EXIT_VMLAUNCH);
    nvmx_exit exit = {.reason = NVMX_EXIT_EXTERNAL_INTERRUPT, .interruption_info = external_0x41};
    cr_assert_eq(l2_event_exit(&exit), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_INTR_INFO), external_0x41);
}

Test(round_trip, hardware_reason_1_unacknowledged_goes_to_l1_not_acknowledging)
{
    l1_sets_controls(NVMX_CTL(EXT_INTR_EXITING), 0);
    launch(NVMX_EXIT_VMLAUNCH);
    nvmx_exit exit = {.reason = NVMX_EXIT_EXTERNAL_INTERRUPT};
    cr_assert_eq(l2_event_exit(&exit), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(vmread(NVMX_FIELD_VM_EXIT_INTR_INFO) & NVMX_INTR_INFO_VALID, 0);
}

/* When the host's acknowledgement differs from L1's, the library cannot make the exit L1
 * expects (no vector, or a vector L1 did not acknowledge): an argument error, nothing done. */
Test(round_trip, hardware_reason_1_with_mismatched_acknowledgement_is_refused)
{
    l1_sets_controls(NVMX_CTL(EXT_INTR_EXITING), 0);
    launch(NVMX_EXIT_VMLAUNCH);
    nvmx_exit acked = {.reason = NVMX_EXIT_EXTERNAL_INTERRUPT, .interruption_info = external_0x41};
    cr_assert_eq(l2_event_exit(&acked), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_VM_EXIT_REASON), 0);
}

Test(round_trip, hardware_reason_1_without_vector_when_l1_acknowledges_is_refused)
{
    l1_sets_controls(NVMX_CTL(EXT_INTR_EXITING), 0);
    l1_sets_exit_controls(NVMX_CTL(EXIT_ACK_INTR));
    launch(NVMX_EXIT_VMLAUNCH);
    nvmx_exit exit = {.reason = NVMX_EXIT_EXTERNAL_INTERRUPT};
    cr_assert_eq(l2_event_exit(&exit), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
}

/* L1 may set its TSC just below 2^64 (WRMSR): arming the timer saturates instead of wrapping,
 * so the deadline lies in the future, not in the past. */
Test(round_trip, preemption_timer_deadline_saturates_near_tsc_wrap)
{
    h.vm->caps.misc &= ~0x1Full; /* rate 0: the timer counts every TSC increment */
    l1_sets_timer(0xFFFFFFFFu, true);
    h.host.tsc = UINT64_MAX - 10;
    launch(NVMX_EXIT_VMLAUNCH);
    uint64_t deadline;
    cr_assert(nvmx_l2_timer_deadline(h.vcpu, &deadline));
    cr_assert_geq(deadline, UINT64_MAX - 10, "a wrapped deadline would have expired already");
    cr_assert_eq(l2_exits(NVMX_EXIT_PREEMPTION_TIMER, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES, "not L1's: its deadline has not passed");
}
