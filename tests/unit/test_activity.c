/* SPDX-License-Identifier: MIT */
/*
 * L2 in the shutdown and wait-for-SIPI activity states (parked: NVMX_RUN_L2_PARKED), and the
 * INIT and SIPI signals of L1's platform (SDM Vol. 3C 24.8, 25.4.2, 26.2, 26.7.1, 27.3.1.5,
 * 27.7.2-27.7.6, 28.2.1, 28.3.4), through the public entry points on the fake hardware host.
 */
#include <criterion/criterion.h>

#include "sec_env.h"

static harness h;

static void setup(void)
{
    sec_nested_init(&h, NULL, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(activity, .init = setup, .fini = teardown);

#define NMI_INFO                                                                                   \
    (NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_NMI << NVMX_INTR_INFO_TYPE_SHIFT) | NVMX_VECTOR_NMI)
#define SIPI_VECTOR 0x9Au
#define L1_VECTOR 0x41u

static uint64_t v02(unsigned ordinal)
{
    return h.host.vmcs[NVMX_HW_VMCS02][ordinal];
}

static void l1_sets_pin(uint32_t pin)
{
    sec_vmwrite(&h, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL,
                sec_vmread(&h, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL) | pin);
}

/* The answer's run value decides which VMCS the fake CPU runs from. */
static void follow(void)
{
    if (h.next.run == NVMX_RUN_L1 || h.next.run == NVMX_RUN_SHUTDOWN_L1)
        h.host.running = NVMX_HW_VMCS01;
    else if (h.next.run == NVMX_RUN_L2)
        h.host.running = NVMX_HW_VMCS02;
}

/* L1 executes VMLAUNCH (or VMRESUME) with vmcs12's activity state set to `state`. */
static nvmx_run l1_enters(uint32_t reason, uint32_t state)
{
    sec_vmwrite(&h, NVMX_FIELD_GUEST_ACTIVITY_STATE, state);
    cr_assert_eq(harness_exit(&h, reason, 0, 0), NVMX_OK, "%s", h.host.last_log);
    follow();
    return h.next.run;
}

static void parks(uint32_t state)
{
    cr_assert_eq(l1_enters(NVMX_EXIT_VMLAUNCH, state), NVMX_RUN_L2_PARKED, "%s", h.host.last_log);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
}

/* After a VM exit to L1: the exit reason and qualification, and the activity state saved. */
static void exited_to_l1(uint32_t reason, uint64_t qualification, uint32_t saved_state)
{
    cr_assert_eq(h.next.run, NVMX_RUN_L1, "%s", h.host.last_log);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), reason);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EXIT_QUALIFICATION), qualification);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_ACTIVITY_STATE), saved_state);
}

static nvmx_status init_signal(void)
{
    nvmx_status status = nvmx_l1_init_signal(h.vcpu, &h.next);
    follow();
    return status;
}

static nvmx_status sipi(uint8_t vector)
{
    nvmx_status status = nvmx_l1_sipi(h.vcpu, vector, &h.next);
    follow();
    return status;
}

static nvmx_status nmi(void)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_EXCEPTION_NMI, .interruption_info = NMI_INFO};
    nvmx_status status = nvmx_on_l2_exit(h.vcpu, &exit, &h.next);
    follow();
    return status;
}

/* ---- Entering the states (SDM 27.7.2, 27.7.3) ------------------------------------------------
 */

/* 27.7.2: a non-vectoring entry in shutdown leaves L2 in it; the host never gets the state
 * (vmcs02 active) and 27.7.3: pending debug exceptions are not valid, so vmcs02 has none. */
Test(activity, shutdown_entry_parks_l2_with_vmcs02_active_and_no_pending_debug_27_7_2)
{
    sec_vmwrite(&h, NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS, NVMX_PENDING_DBG_BS);
    parks(NVMX_ACTIVITY_SHUTDOWN);
    cr_assert_eq(v02(VMCS12_ORD_GUEST_ACTIVITY_STATE), NVMX_ACTIVITY_ACTIVE);
    cr_assert_eq(v02(VMCS12_ORD_GUEST_PENDING_DBG_EXCEPTIONS), 0);
    cr_assert_not(h.next.event_held);
}

Test(activity, wait_for_sipi_entry_parks_l2_with_vmcs02_active_27_7_2)
{
    parks(NVMX_ACTIVITY_WAIT_SIPI);
    cr_assert_eq(v02(VMCS12_ORD_GUEST_ACTIVITY_STATE), NVMX_ACTIVITY_ACTIVE);
}

/* 27.7.2: a vectoring entry leaves L2 active whatever the field says: injecting an NMI into
 * shutdown (allowed by 27.3.1.5) runs L2, which takes the NMI. */
Test(activity, vectoring_entry_in_shutdown_runs_l2_active_27_7_2)
{
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD, NMI_INFO);
    cr_assert_eq(l1_enters(NVMX_EXIT_VMLAUNCH, NVMX_ACTIVITY_SHUTDOWN), NVMX_RUN_L2, "%s",
                 h.host.last_log);
    cr_assert_eq(v02(VMCS12_ORD_GUEST_ACTIVITY_STATE), NVMX_ACTIVITY_ACTIVE);
    cr_assert_eq(v02(VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD), NMI_INFO);
}

/* 27.3.1.5: blocking by STI or MOV SS needs the active state: entry fails (reason 33). */
Test(activity, shutdown_with_blocking_by_mov_ss_fails_entry_27_3_1_5)
{
    sec_vmwrite(&h, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_MOV_SS);
    cr_assert_eq(l1_enters(NVMX_EXIT_VMLAUNCH, NVMX_ACTIVITY_SHUTDOWN), NVMX_RUN_L1);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_REASON_ENTRY_FAILURE | 33u);
}

Test(activity, wait_for_sipi_with_blocking_by_sti_fails_entry_27_3_1_5)
{
    sec_vmwrite(&h, NVMX_FIELD_GUEST_RFLAGS, 0x202);
    sec_vmwrite(&h, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_STI);
    cr_assert_eq(l1_enters(NVMX_EXIT_VMLAUNCH, NVMX_ACTIVITY_WAIT_SIPI), NVMX_RUN_L1);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_REASON_ENTRY_FAILURE | 33u);
}

/* 27.3.1.5: shutdown takes only NMI and #MC injection; wait-for-SIPI none. */
Test(activity, shutdown_with_external_interrupt_injection_fails_entry_27_3_1_5)
{
    sec_vmwrite(&h, NVMX_FIELD_GUEST_RFLAGS, 0x202);
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD,
                NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_EXTERNAL << NVMX_INTR_INFO_TYPE_SHIFT) |
                    L1_VECTOR);
    cr_assert_eq(l1_enters(NVMX_EXIT_VMLAUNCH, NVMX_ACTIVITY_SHUTDOWN), NVMX_RUN_L1);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_REASON_ENTRY_FAILURE | 33u);
}

Test(activity, wait_for_sipi_with_nmi_injection_fails_entry_27_3_1_5)
{
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD, NMI_INFO);
    cr_assert_eq(l1_enters(NVMX_EXIT_VMLAUNCH, NVMX_ACTIVITY_WAIT_SIPI), NVMX_RUN_L1);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_REASON_ENTRY_FAILURE | 33u);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
}

/* ---- INIT (SDM 24.8, 26.2, 27.7.2, 28.3.4) ---------------------------------------------------
 */

/* 26.2: INIT exits (reason 3, no qualification); 28.1/28.3.4: shutdown is saved. */
Test(activity, init_in_shutdown_exits_to_l1_saving_shutdown_26_2)
{
    parks(NVMX_ACTIVITY_SHUTDOWN);
    cr_assert_eq(init_signal(), NVMX_OK, "%s", h.host.last_log);
    cr_assert_not(h.next.event_held);
    exited_to_l1(NVMX_EXIT_INIT_SIGNAL, 0, NVMX_ACTIVITY_SHUTDOWN);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS), 0);
}

/* 26.2, 27.7.2: wait-for-SIPI blocks INIT: held, nothing changes. */
Test(activity, init_in_wait_for_sipi_is_held_26_2)
{
    parks(NVMX_ACTIVITY_WAIT_SIPI);
    cr_assert_eq(init_signal(), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2_PARKED);
    cr_assert(h.next.event_held);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
}

/* 24.8: INIT is blocked in VMX root operation. */
Test(activity, init_in_vmx_root_operation_is_held_24_8)
{
    cr_assert_eq(init_signal(), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert(h.next.event_held);
}

/* Outside VMX operation an INIT is L0's business. */
Test(activity, init_outside_vmx_operation_is_l0s)
{
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMXOFF, 0, 0), NVMX_OK);
    cr_assert_eq(init_signal(), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
    cr_assert_not(h.next.event_held);
}

/* 26.2: an active L2 exits on INIT too, saving active; a halted one saving HLT. */
Test(activity, init_while_l2_runs_exits_to_l1_26_2)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(init_signal(), NVMX_OK, "%s", h.host.last_log);
    exited_to_l1(NVMX_EXIT_INIT_SIGNAL, 0, NVMX_ACTIVITY_ACTIVE);
}

/* 28.3.4 (checked against SDM text): an INIT exit is one of the exits that keep the debug
 * exceptions pending at the exit, here a single-step trap vmcs02 holds for an active L2. */
Test(activity, init_exit_saves_the_pending_debug_exceptions_28_3_4)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_PENDING_DBG_EXCEPTIONS] = NVMX_PENDING_DBG_BS;
    cr_assert_eq(init_signal(), NVMX_OK, "%s", h.host.last_log);
    exited_to_l1(NVMX_EXIT_INIT_SIGNAL, 0, NVMX_ACTIVITY_ACTIVE);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS), NVMX_PENDING_DBG_BS);
}

/* 27.7.3 and 28.3.4: after a non-vectoring entry into shutdown no debug exception is pending,
 * so the INIT exit from the parked L2 saves none, whatever vmcs12 held at the entry. */
Test(activity, init_exit_from_shutdown_saves_no_pending_debug_exceptions_28_3_4)
{
    sec_vmwrite(&h, NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS, NVMX_PENDING_DBG_BS);
    sec_vmwrite(&h, NVMX_FIELD_GUEST_RFLAGS,
                sec_vmread(&h, NVMX_FIELD_GUEST_RFLAGS) | NVMX_RFLAGS_TF);
    parks(NVMX_ACTIVITY_SHUTDOWN);
    cr_assert_eq(init_signal(), NVMX_OK, "%s", h.host.last_log);
    exited_to_l1(NVMX_EXIT_INIT_SIGNAL, 0, NVMX_ACTIVITY_SHUTDOWN);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS), 0);
}

Test(activity, init_in_hlt_exits_to_l1_saving_hlt_26_2)
{
    cr_assert_eq(l1_enters(NVMX_EXIT_VMLAUNCH, NVMX_ACTIVITY_HLT), NVMX_RUN_L2);
    cr_assert_eq(init_signal(), NVMX_OK, "%s", h.host.last_log);
    exited_to_l1(NVMX_EXIT_INIT_SIGNAL, 0, NVMX_ACTIVITY_HLT);
}

/* 27.6: an event vmcs02's next entry injects is delivered first: held, L2 runs. */
Test(activity, init_waits_for_the_injected_event_27_6)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD] = NMI_INFO;
    cr_assert_eq(init_signal(), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
    cr_assert(h.next.event_held);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD] = 0;
    cr_assert_eq(init_signal(), NVMX_OK);
    exited_to_l1(NVMX_EXIT_INIT_SIGNAL, 0, NVMX_ACTIVITY_ACTIVE);
}

/* 27.7.8: INIT has priority over a pending MTF VM exit (type 7, not an event delivery). */
Test(activity, init_comes_before_a_pending_mtf_exit_27_7_8)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD] =
        NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_OTHER_EVENT << NVMX_INTR_INFO_TYPE_SHIFT);
    cr_assert_eq(init_signal(), NVMX_OK, "%s", h.host.last_log);
    cr_assert_not(h.next.event_held);
    exited_to_l1(NVMX_EXIT_INIT_SIGNAL, 0, NVMX_ACTIVITY_ACTIVE);
}

Test(activity, init_without_hw_vmcs_ops_is_unsupported)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    h.vm->ops.hw_vmcs_read = NULL;
    cr_assert_eq(nvmx_l1_init_signal(h.vcpu, &h.next), NVMX_ERR_UNSUPPORTED);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
}

Test(activity, init_sipi_and_parked_timer_refuse_null_arguments)
{
    cr_assert_eq(nvmx_l1_init_signal(NULL, &h.next), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_l1_init_signal(h.vcpu, NULL), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_l1_sipi(NULL, 0, &h.next), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_l1_sipi(h.vcpu, 0, NULL), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_l2_parked_timer(NULL, &h.next), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_l2_parked_timer(h.vcpu, NULL), NVMX_ERR_INVALID_ARGUMENT);
}

/* ---- SIPI (SDM 26.2, 27.7.2, 28.2.1) ---------------------------------------------------------
 */

/* 26.2: a SIPI ends wait-for-SIPI with a VM exit, reason 4, qualification = the vector
 * (28.2.1); the state saved is wait-for-SIPI (28.3.4). L1 then starts L2 (active) with
 * VMRESUME, as an MP start-up does. */
Test(activity, sipi_in_wait_for_sipi_exits_with_the_vector_then_l1_resumes_l2_26_2)
{
    parks(NVMX_ACTIVITY_WAIT_SIPI);
    cr_assert_eq(sipi(SIPI_VECTOR), NVMX_OK, "%s", h.host.last_log);
    exited_to_l1(NVMX_EXIT_SIPI, SIPI_VECTOR, NVMX_ACTIVITY_WAIT_SIPI);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_INTR_INFO), 0);
    cr_assert_eq(l1_enters(NVMX_EXIT_VMRESUME, NVMX_ACTIVITY_ACTIVE), NVMX_RUN_L2, "%s",
                 h.host.last_log);
    cr_assert_eq(v02(VMCS12_ORD_GUEST_ACTIVITY_STATE), NVMX_ACTIVITY_ACTIVE);
}

/* VMRESUME into wait-for-SIPI again parks again (the VMCS stays launched). */
Test(activity, vmresume_into_wait_for_sipi_parks_again)
{
    parks(NVMX_ACTIVITY_WAIT_SIPI);
    cr_assert_eq(sipi(0), NVMX_OK);
    exited_to_l1(NVMX_EXIT_SIPI, 0, NVMX_ACTIVITY_WAIT_SIPI);
    cr_assert_eq(l1_enters(NVMX_EXIT_VMRESUME, NVMX_ACTIVITY_WAIT_SIPI), NVMX_RUN_L2_PARKED);
}

/* 27.7.2: shutdown, active and HLT discard SIPIs: nothing happens. */
Test(activity, sipi_in_shutdown_is_discarded_27_7_2)
{
    parks(NVMX_ACTIVITY_SHUTDOWN);
    cr_assert_eq(sipi(SIPI_VECTOR), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2_PARKED);
    cr_assert_not(h.next.event_held, "discarded, not held");
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
}

Test(activity, sipi_while_l2_runs_is_discarded_27_7_2)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    long writes = h.host.vmcs_writes[NVMX_HW_VMCS02];
    cr_assert_eq(sipi(SIPI_VECTOR), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
    cr_assert_not(h.next.event_held);
    cr_assert_eq(h.host.vmcs_writes[NVMX_HW_VMCS02], writes);
}

Test(activity, sipi_in_root_operation_is_discarded_and_outside_vmx_is_l0s)
{
    cr_assert_eq(sipi(SIPI_VECTOR), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_not(h.next.event_held);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMXOFF, 0, 0), NVMX_OK);
    cr_assert_eq(sipi(SIPI_VECTOR), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
}

/* ---- NMIs (SDM 26.2, 27.7.1, 27.7.2) ---------------------------------------------------------
 */

/* 26.2: with NMI exiting an NMI exits from shutdown, reason 0 with the NMI; shutdown saved. */
Test(activity, nmi_in_shutdown_with_nmi_exiting_exits_to_l1_26_2)
{
    l1_sets_pin(NVMX_CTL(NMI_EXITING));
    parks(NVMX_ACTIVITY_SHUTDOWN);
    cr_assert_eq(nmi(), NVMX_OK, "%s", h.host.last_log);
    exited_to_l1(NVMX_EXIT_EXCEPTION_NMI, 0, NVMX_ACTIVITY_SHUTDOWN);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_INTR_INFO), NMI_INFO);
}

/* 27.7.7 / 26.7.2: without NMI exiting the NMI is delivered through L2's IDT and L2 leaves
 * shutdown: L0 injects it; L2 is no longer parked (interrupts now reach it as usual). */
Test(activity, nmi_in_shutdown_without_nmi_exiting_wakes_l2_through_l0)
{
    parks(NVMX_ACTIVITY_SHUTDOWN);
    cr_assert_eq(nmi(), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(v02(VMCS12_ORD_GUEST_ACTIVITY_STATE), NVMX_ACTIVITY_ACTIVE);
    bool acknowledge = true;
    cr_assert_eq(nvmx_l1_interrupt_pending(h.vcpu, L1_VECTOR, &acknowledge, &h.next), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES, "not parked any more");
}

/* 27.7.1: without virtual NMIs, blocking by NMI blocks the NMI: held. */
Test(activity, nmi_in_shutdown_with_blocking_by_nmi_is_held_27_7_1)
{
    l1_sets_pin(NVMX_CTL(NMI_EXITING));
    sec_vmwrite(&h, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_NMI);
    parks(NVMX_ACTIVITY_SHUTDOWN);
    cr_assert_eq(nmi(), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2_PARKED);
    cr_assert(h.next.event_held);
}

/* 27.7.1: with virtual NMIs, bit 3 is virtual-NMI blocking and does not block NMIs. */
Test(activity, nmi_in_shutdown_with_virtual_nmi_blocking_still_exits_27_7_1)
{
    l1_sets_pin(NVMX_CTL(NMI_EXITING) | NVMX_CTL(VIRTUAL_NMIS));
    sec_vmwrite(&h, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_NMI);
    parks(NVMX_ACTIVITY_SHUTDOWN);
    cr_assert_eq(nmi(), NVMX_OK, "%s", h.host.last_log);
    exited_to_l1(NVMX_EXIT_EXCEPTION_NMI, 0, NVMX_ACTIVITY_SHUTDOWN);
}

/* 26.2, 27.7.2: wait-for-SIPI blocks NMIs whatever NMI exiting says. */
Test(activity, nmi_in_wait_for_sipi_is_held_27_7_2)
{
    l1_sets_pin(NVMX_CTL(NMI_EXITING));
    parks(NVMX_ACTIVITY_WAIT_SIPI);
    cr_assert_eq(nmi(), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2_PARKED);
    cr_assert(h.next.event_held);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
}

/* A parked L2 causes no exits: any other report is an embedder error, nothing changes. */
Test(activity, other_exit_reports_for_a_parked_l2_are_state_errors)
{
    parks(NVMX_ACTIVITY_SHUTDOWN);
    nvmx_exit cpuid = {.reason = NVMX_EXIT_CPUID, .instruction_length = 2};
    cr_assert_eq(nvmx_on_l2_exit(h.vcpu, &cpuid, &h.next), NVMX_ERR_STATE);
    nvmx_exit triple = {.reason = NVMX_EXIT_TRIPLE_FAULT};
    cr_assert_eq(nvmx_on_l2_exit(h.vcpu, &triple, &h.next), NVMX_ERR_STATE);
    nvmx_exit nmi_iret = {.reason = NVMX_EXIT_EXCEPTION_NMI,
                          .interruption_info = NMI_INFO | (1u << 12)};
    cr_assert_eq(nvmx_on_l2_exit(h.vcpu, &nmi_iret, &h.next), NVMX_ERR_STATE);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_VM_EXIT_REASON), 0,
                 "no exit was performed");
}

/* ---- External interrupts (SDM 27.7.2) --------------------------------------------------------
 */

/* 27.7.2: shutdown and wait-for-SIPI block external interrupts even with external-interrupt
 * exiting: no exit, not acknowledged. */
Test(activity, external_interrupt_in_shutdown_is_blocked_even_when_l1_intercepts_27_7_2)
{
    l1_sets_pin(NVMX_CTL(EXT_INTR_EXITING));
    parks(NVMX_ACTIVITY_SHUTDOWN);
    bool acknowledge = true;
    cr_assert_eq(nvmx_l1_interrupt_pending(h.vcpu, L1_VECTOR, &acknowledge, &h.next), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2_PARKED);
    cr_assert_not(acknowledge);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
}

Test(activity, external_interrupt_in_wait_for_sipi_is_blocked_27_7_2)
{
    l1_sets_pin(NVMX_CTL(EXT_INTR_EXITING));
    parks(NVMX_ACTIVITY_WAIT_SIPI);
    bool acknowledge = true;
    cr_assert_eq(nvmx_l1_interrupt_pending(h.vcpu, L1_VECTOR, &acknowledge, &h.next), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2_PARKED);
    cr_assert_not(acknowledge);
}

/* ---- VMX-preemption timer and window exits (SDM 26.7.1, 27.7.4-27.7.6) -----------------------
 */

#define T0 1000ull
#define DEADLINE 4192ull /* value 100 at TSC 1000, rate 5: ((1000 >> 5) + 100) << 5 */

static void l1_sets_timer(uint32_t value)
{
    l1_sets_pin(NVMX_CTL(PREEMPTION_TIMER));
    sec_vmwrite(&h, NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE, value);
    sec_vmwrite(&h, NVMX_FIELD_VM_EXIT_CONTROLS,
                sec_vmread(&h, NVMX_FIELD_VM_EXIT_CONTROLS) | NVMX_CTL(EXIT_SAVE_PREEMPTION_TIMER));
    h.host.tsc = T0;
}

/* 27.7.4 / 26.7.1: a zero timer exits right after the entry into shutdown (not blocked by
 * that state), saving shutdown and the value 0. */
Test(activity, zero_timer_exits_right_after_entry_into_shutdown_26_7_1)
{
    l1_sets_timer(0);
    cr_assert_eq(l1_enters(NVMX_EXIT_VMLAUNCH, NVMX_ACTIVITY_SHUTDOWN), NVMX_RUN_L1, "%s",
                 h.host.last_log);
    exited_to_l1(NVMX_EXIT_PREEMPTION_TIMER, 0, NVMX_ACTIVITY_SHUTDOWN);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE), 0);
}

/* 26.7.1: in shutdown the timer counts and exits at its deadline: nvmx_l2_timer_deadline
 * names it, nvmx_l2_parked_timer does nothing before and exits after. */
Test(activity, timer_in_shutdown_exits_at_the_deadline_26_7_1)
{
    l1_sets_timer(100);
    parks(NVMX_ACTIVITY_SHUTDOWN);
    uint64_t deadline = 0;
    cr_assert(nvmx_l2_timer_deadline(h.vcpu, &deadline));
    cr_assert_eq(deadline, DEADLINE);
    h.host.tsc = DEADLINE - 1;
    cr_assert_eq(nvmx_l2_parked_timer(h.vcpu, &h.next), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2_PARKED);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    h.host.tsc = DEADLINE;
    cr_assert_eq(nvmx_l2_parked_timer(h.vcpu, &h.next), NVMX_OK, "%s", h.host.last_log);
    follow();
    exited_to_l1(NVMX_EXIT_PREEMPTION_TIMER, 0, NVMX_ACTIVITY_SHUTDOWN);
}

/* 26.7.1: in wait-for-SIPI the timer never exits, even at 0; no deadline is given. */
Test(activity, timer_in_wait_for_sipi_never_exits_26_7_1)
{
    l1_sets_timer(0);
    parks(NVMX_ACTIVITY_WAIT_SIPI);
    uint64_t deadline;
    cr_assert_not(nvmx_l2_timer_deadline(h.vcpu, &deadline));
    h.host.tsc = DEADLINE * 10;
    cr_assert_eq(nvmx_l2_parked_timer(h.vcpu, &h.next), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2_PARKED);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
    /* The SIPI exit saves what the timer holds: 0 once the deadline passed (28.3.4). */
    cr_assert_eq(sipi(1), NVMX_OK);
    exited_to_l1(NVMX_EXIT_SIPI, 1, NVMX_ACTIVITY_WAIT_SIPI);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE), 0);
}

Test(activity, parked_timer_when_l2_is_not_parked_is_a_state_error)
{
    cr_assert_eq(nvmx_l2_parked_timer(h.vcpu, &h.next), NVMX_ERR_STATE);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(nvmx_l2_parked_timer(h.vcpu, &h.next), NVMX_ERR_STATE);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
}

/* 27.7.6: the NMI window wakes shutdown right after the entry (reason 8, shutdown saved). */
Test(activity, nmi_window_exits_right_after_entry_into_shutdown_27_7_6)
{
    l1_sets_pin(NVMX_CTL(NMI_EXITING) | NVMX_CTL(VIRTUAL_NMIS));
    sec_set_proc(&h, NVMX_CTL(NMI_WINDOW_EXITING), 0);
    cr_assert_eq(l1_enters(NVMX_EXIT_VMLAUNCH, NVMX_ACTIVITY_SHUTDOWN), NVMX_RUN_L1, "%s",
                 h.host.last_log);
    exited_to_l1(NVMX_EXIT_NMI_WINDOW, 0, NVMX_ACTIVITY_SHUTDOWN);
}

/* 27.7.6: no window with (virtual-)NMI blocking; 26.2: the timer comes before the window. */
Test(activity, nmi_window_with_virtual_nmi_blocking_stays_parked_27_7_6)
{
    l1_sets_pin(NVMX_CTL(NMI_EXITING) | NVMX_CTL(VIRTUAL_NMIS));
    sec_set_proc(&h, NVMX_CTL(NMI_WINDOW_EXITING), 0);
    sec_vmwrite(&h, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO, NVMX_BLOCKING_NMI);
    parks(NVMX_ACTIVITY_SHUTDOWN);
}

Test(activity, timer_exit_comes_before_the_nmi_window_in_shutdown_26_2)
{
    l1_sets_pin(NVMX_CTL(NMI_EXITING) | NVMX_CTL(VIRTUAL_NMIS));
    sec_set_proc(&h, NVMX_CTL(NMI_WINDOW_EXITING), 0);
    l1_sets_timer(0);
    cr_assert_eq(l1_enters(NVMX_EXIT_VMLAUNCH, NVMX_ACTIVITY_SHUTDOWN), NVMX_RUN_L1);
    exited_to_l1(NVMX_EXIT_PREEMPTION_TIMER, 0, NVMX_ACTIVITY_SHUTDOWN);
}

/* 27.7.6: no NMI-window exit in wait-for-SIPI. */
Test(activity, nmi_window_in_wait_for_sipi_stays_parked_27_7_6)
{
    l1_sets_pin(NVMX_CTL(NMI_EXITING) | NVMX_CTL(VIRTUAL_NMIS));
    sec_set_proc(&h, NVMX_CTL(NMI_WINDOW_EXITING), 0);
    parks(NVMX_ACTIVITY_WAIT_SIPI);
}

/* 27.7.5, 26.7.2: neither the interrupt window (IF = 1) nor MTF exits in shutdown. */
Test(activity, interrupt_window_and_mtf_do_not_wake_shutdown_27_7_5)
{
    sec_vmwrite(&h, NVMX_FIELD_GUEST_RFLAGS, 0x202);
    sec_set_proc(&h, NVMX_CTL(INTR_WINDOW_EXITING) | NVMX_CTL(MONITOR_TRAP_FLAG), 0);
    parks(NVMX_ACTIVITY_SHUTDOWN);
}

/* ---- Triple fault and shutdown (SDM 26.2, 27.7.2) --------------------------------------------
 */

/* An L2 triple fault exits to L1 (reason 2, always L1's); L1 may put L2 into shutdown with
 * VMRESUME, which parks it; an INIT then comes back to L1 with shutdown saved. */
Test(activity, triple_fault_then_vmresume_in_shutdown_parks_until_init)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_TRIPLE_FAULT, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_TRIPLE_FAULT);
    cr_assert_eq(l1_enters(NVMX_EXIT_VMRESUME, NVMX_ACTIVITY_SHUTDOWN), NVMX_RUN_L2_PARKED);
    cr_assert_eq(init_signal(), NVMX_OK);
    exited_to_l1(NVMX_EXIT_INIT_SIGNAL, 0, NVMX_ACTIVITY_SHUTDOWN);
}

/* ---- Not-yet answers of nvmx_l1_interrupt_pending (SDM 27.7.3-27.7.6) ------------------------
 */

static nvmx_status l1_interrupt(bool *acknowledge)
{
    nvmx_status status = nvmx_l1_interrupt_pending(h.vcpu, L1_VECTOR, acknowledge, &h.next);
    follow();
    return status;
}

static void l2_state(uint64_t rflags, uint64_t interruptibility, uint64_t pending_dbg)
{
    uint64_t *v = h.host.vmcs[NVMX_HW_VMCS02];
    v[VMCS12_ORD_GUEST_RFLAGS] = rflags;
    v[VMCS12_ORD_GUEST_INTERRUPTIBILITY_INFO] = interruptibility;
    v[VMCS12_ORD_GUEST_PENDING_DBG_EXCEPTIONS] = pending_dbg;
}

static void intercepting_l1_runs_l2(uint32_t proc)
{
    l1_sets_pin(NVMX_CTL(EXT_INTR_EXITING) | NVMX_CTL(NMI_EXITING) | NVMX_CTL(VIRTUAL_NMIS));
    if (proc)
        sec_set_proc(&h, proc, 0);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
}

/* 27.7.3: a pending single-step trap (BS) is delivered before the interrupt: not yet. */
Test(activity, pending_debug_exception_comes_before_an_l1_interrupt_27_7_3)
{
    intercepting_l1_runs_l2(0);
    l2_state(0x2, 0, NVMX_PENDING_DBG_BS);
    bool acknowledge;
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
    l2_state(0x2, 0, NVMX_PENDING_DBG_ENABLED_BP);
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
}

/* 27.7.3: blocking by MOV SS holds the debug exception back, and external-interrupt exiting
 * ignores MOV SS: the exit comes now. A matched breakpoint that is not enabled (bits 3:0
 * only) is not a valid pending debug exception either. */
Test(activity, pending_debug_exception_held_by_mov_ss_lets_the_interrupt_exit_27_7_3)
{
    intercepting_l1_runs_l2(0);
    l2_state(0x2, NVMX_BLOCKING_MOV_SS, NVMX_PENDING_DBG_BS);
    bool acknowledge;
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_EXTERNAL_INTERRUPT);
}

Test(activity, breakpoint_match_without_enabled_bit_is_no_pending_debug_exception_27_7_3)
{
    intercepting_l1_runs_l2(0);
    l2_state(0x2, 0, 0x1); /* B0 */
    bool acknowledge;
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
}

/* 26.7.1 / 27.7.4: L1's expired timer exits before the interrupt: not yet, until it is
 * reported; before the deadline the interrupt exits at once. */
Test(activity, expired_timer_comes_before_an_l1_interrupt_27_7_4)
{
    l1_sets_timer(100);
    intercepting_l1_runs_l2(0);
    l2_state(0x2, 0, 0);
    h.host.tsc = DEADLINE;
    bool acknowledge;
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
    h.host.tsc = DEADLINE - 1;
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
}

/* 27.7.6: the open NMI window exits before the interrupt; virtual-NMI blocking or blocking
 * by MOV SS closes it, and then the interrupt exits. */
Test(activity, open_nmi_window_comes_before_an_l1_interrupt_27_7_6)
{
    intercepting_l1_runs_l2(NVMX_CTL(NMI_WINDOW_EXITING));
    l2_state(0x2, 0, 0);
    bool acknowledge;
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
    l2_state(0x2, NVMX_BLOCKING_STI, 0);
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2, "blocking by STI does not close it here");
    l2_state(0x2, NVMX_BLOCKING_NMI, 0);
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1, "%s", h.host.last_log);
}

Test(activity, nmi_window_closed_by_mov_ss_lets_the_interrupt_exit_27_7_6)
{
    intercepting_l1_runs_l2(NVMX_CTL(NMI_WINDOW_EXITING));
    l2_state(0x2, NVMX_BLOCKING_MOV_SS, 0);
    bool acknowledge;
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
}

/* 27.7.5: the interrupt window is closed by blocking by STI or MOV SS even with IF = 1. */
Test(activity, interrupt_window_closed_by_sti_or_mov_ss_lets_the_interrupt_exit_27_7_5)
{
    intercepting_l1_runs_l2(NVMX_CTL(INTR_WINDOW_EXITING));
    bool acknowledge;
    l2_state(0x202, 0, 0);
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2, "open window first");
    l2_state(0x202, NVMX_BLOCKING_STI, 0);
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
}

Test(activity, interrupt_window_closed_by_mov_ss_lets_the_interrupt_exit_27_7_5)
{
    intercepting_l1_runs_l2(NVMX_CTL(INTR_WINDOW_EXITING));
    l2_state(0x202, NVMX_BLOCKING_MOV_SS, 0);
    bool acknowledge;
    cr_assert_eq(l1_interrupt(&acknowledge), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
}
