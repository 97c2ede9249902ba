/* SPDX-License-Identifier: MIT */
/*
 * A hostile L1 and the activity states (SDM 25.4.2, 27.3.1.5, 27.7.2): whatever activity
 * state and injection L1 asks for, vmcs02 never holds shutdown or wait-for-SIPI (a hardware
 * L0 entering it so could not regain the CPU), undefined states fail the entry before vmcs02
 * is written, and a parked L2 turns every report but an NMI into an embedder error that
 * changes nothing.
 */
#include <criterion/criterion.h>

#include "sec_env.h"

#define NMI_INFO                                                                                   \
    (NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_NMI << NVMX_INTR_INFO_TYPE_SHIFT) | NVMX_VECTOR_NMI)
#define MC_INFO                                                                                    \
    (NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_HARDWARE_EXCEPTION << NVMX_INTR_INFO_TYPE_SHIFT) |     \
     NVMX_VECTOR_MC)

/* Every defined state with no injection and with each injection 27.3.1.5 allows in the
 * inactive states (NMI, #MC): the host's vmcs02 is active or HLT, and only non-vectoring
 * entries in shutdown or wait-for-SIPI park L2. */
Test(sec_activity, vmcs02_never_holds_shutdown_or_wait_for_sipi)
{
    static const uint32_t injections[] = {0, NMI_INFO, MC_INFO};
    for (uint32_t state = NVMX_ACTIVITY_ACTIVE; state <= NVMX_ACTIVITY_WAIT_SIPI; state++) {
        for (unsigned i = 0; i < sizeof(injections) / sizeof(injections[0]); i++) {
            harness h;
            sec_nested_init(&h, NULL, NULL);
            sec_vmwrite(&h, NVMX_FIELD_GUEST_ACTIVITY_STATE, state);
            sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD, injections[i]);
            cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
            bool allowed = injections[i] == 0 || state != NVMX_ACTIVITY_WAIT_SIPI;
            bool inactive = state == NVMX_ACTIVITY_SHUTDOWN || state == NVMX_ACTIVITY_WAIT_SIPI;
            nvmx_run expected = !allowed                     ? NVMX_RUN_L1
                                : inactive && !injections[i] ? NVMX_RUN_L2_PARKED
                                                             : NVMX_RUN_L2;
            cr_assert_eq(h.next.run, expected, "state %u injection %x: %s", state, injections[i],
                         h.host.last_log);
            uint64_t in_vmcs02 = h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_ACTIVITY_STATE];
            if (expected != NVMX_RUN_L1)
                cr_assert(in_vmcs02 == NVMX_ACTIVITY_ACTIVE || in_vmcs02 == NVMX_ACTIVITY_HLT,
                          "state %u injection %x: vmcs02 has %llu", state, injections[i],
                          (unsigned long long)in_vmcs02);
            harness_fini(&h);
        }
    }
}

static harness h;

static void setup(void)
{
    sec_nested_init(&h, NULL, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}

/* 25.4.2, 27.3.1.5: states beyond 3 (the field is 32 bits) fail the entry (reason 33) before
 * vmcs02 is written. */
Test(sec_activity, undefined_activity_states_fail_entry_before_vmcs02, .init = setup,
     .fini = teardown)
{
    static const uint64_t hostile[] = {4, 0x80000002u, 0xFFFFFFFFu};
    for (unsigned i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        sec_vmwrite(&h, NVMX_FIELD_GUEST_ACTIVITY_STATE, hostile[i]);
        long writes = h.host.vmcs_writes[NVMX_HW_VMCS02];
        cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
        cr_assert_eq(h.next.run, NVMX_RUN_L1, "value %llx entered L2",
                     (unsigned long long)hostile[i]);
        cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
        cr_assert_eq(h.host.vmcs_writes[NVMX_HW_VMCS02], writes);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON),
                     NVMX_EXIT_REASON_ENTRY_FAILURE | 33u);
    }
    /* VMWRITE keeps only the 32 bits of the field (SDM 25.11.2): 3 remains. */
    sec_vmwrite(&h, NVMX_FIELD_GUEST_ACTIVITY_STATE, 0x100000003ull);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_ACTIVITY_STATE), NVMX_ACTIVITY_WAIT_SIPI);
}

/* A parked L2 executes nothing, so no exit can come from it: every reason (with arbitrary
 * exit information) but a plain NMI report is NVMX_ERR_STATE and nothing changes. */
Test(sec_activity, parked_l2_refuses_every_report_but_an_nmi, .init = setup, .fini = teardown)
{
    sec_vmwrite(&h, NVMX_FIELD_GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_WAIT_SIPI);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2_PARKED);
    h.host.running = NVMX_HW_VMCS02;
    sec_snapshot before;
    sec_snapshot_take(&h, &before);
    uint64_t reason_before = vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_VM_EXIT_REASON);
    for (uint32_t reason = 0; reason <= 80; reason++) {
        nvmx_exit exit = {.reason = reason,
                          .qualification = ~0ull,
                          .instruction_length = 3,
                          .interruption_info = reason ? NMI_INFO : MC_INFO,
                          .idt_vectoring_info = NMI_INFO};
        cr_assert_eq(nvmx_on_l2_exit(h.vcpu, &exit, &h.next), NVMX_ERR_STATE, "reason %u", reason);
    }
    nvmx_exit undecoded = {
        .reason = NVMX_EXIT_UNDECODED, .bytes = {0x0F, 0x01, 0xC1}, .bytes_length = 3};
    cr_assert_eq(nvmx_on_l2_exit(h.vcpu, &undecoded, &h.next), NVMX_ERR_STATE);
    sec_assert_unchanged(&h, &before);
    sec_snapshot_free(&before);
    cr_assert_eq(vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_VM_EXIT_REASON), reason_before);
    cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
}

/* Blocked events repeated without end (an embedder that keeps reporting a held INIT or NMI
 * to an L2 waiting for SIPI) change nothing and allocate nothing. */
Test(sec_activity, held_events_repeated_change_nothing, .init = setup, .fini = teardown)
{
    sec_vmwrite(&h, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL,
                sec_vmread(&h, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL) | NVMX_CTL(NMI_EXITING) |
                    NVMX_CTL(EXT_INTR_EXITING));
    sec_vmwrite(&h, NVMX_FIELD_GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_WAIT_SIPI);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    h.host.running = NVMX_HW_VMCS02;
    sec_snapshot before;
    sec_snapshot_take(&h, &before);
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(nvmx_l1_init_signal(h.vcpu, &h.next), NVMX_OK);
        cr_assert(h.next.event_held && h.next.run == NVMX_RUN_L2_PARKED);
        nvmx_exit exit = {.reason = NVMX_EXIT_EXCEPTION_NMI, .interruption_info = NMI_INFO};
        cr_assert_eq(nvmx_on_l2_exit(h.vcpu, &exit, &h.next), NVMX_OK);
        cr_assert(h.next.event_held && h.next.run == NVMX_RUN_L2_PARKED);
        bool acknowledge = true;
        cr_assert_eq(nvmx_l1_interrupt_pending(h.vcpu, (uint8_t)i, &acknowledge, &h.next), NVMX_OK);
        cr_assert(!acknowledge && h.next.run == NVMX_RUN_L2_PARKED);
        cr_assert_eq(nvmx_l2_parked_timer(h.vcpu, &h.next), NVMX_OK);
        cr_assert_eq(h.next.run, NVMX_RUN_L2_PARKED);
    }
    sec_assert_unchanged(&h, &before);
    sec_snapshot_free(&before);
}
