/* SPDX-License-Identifier: MIT */
/*
 * Exit reflection (lib/exits/reflect.c): for every basic exit reason, whether L1's vmcs12 asks
 * for L2's exit (SDM Vol. 3C 26.1, 26.2, Appendix C). Each rule is tested in both directions
 * (or, for unconditional and impossible reasons, in the one it has), named after the rule.
 * Controls are written straight into the cached vmcs12; bitmaps live in the fake L1 RAM.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "ept/eptp.h"
#include "vmx_harness.h"

static harness h;

#define IO_A 0x30000ull
#define IO_B 0x31000ull
#define MSRS 0x32000ull
#define VAPIC 0x33000ull
#define EPTP_LIST 0x34000ull
#define UNBACKED 0x100000000ull /* beyond the fake RAM: reads as all ones */

static void setup(void)
{
    harness_init(&h, NULL);
    harness_vmxon_vmptrld(&h);
    h.vcpu->guest_mode = true;
    /* L1's preemption timer, as a VM entry with the timer active arms it, has already expired
     * (deadline 0): the control alone decides, as the PIN_TESTS below assume. The deadline
     * tests are in the preemption-timer section. */
    h.vcpu->timer_active = true;
    h.vcpu->timer_deadline = 0;
}

static void teardown(void)
{
    h.vcpu->guest_mode = false;
    harness_fini(&h);
}

TestSuite(reflect, .init = setup, .fini = teardown);

/* ---- Helpers ------------------------------------------------------------------------------ */

static void set(unsigned ordinal, uint64_t value)
{
    h.vcpu->current->data.field[ordinal] = value;
}

static uint64_t get(unsigned ordinal)
{
    return h.vcpu->current->data.field[ordinal];
}

static void set_pin(uint64_t value)
{
    set(VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL, value);
}

static void set_proc(uint64_t value)
{
    set(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL, value);
}

static void add_proc(uint64_t bits)
{
    set_proc(get(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) | bits);
}

/* Secondary controls, activated ("activate secondary controls" = 1) or not (SDM 25.6.2). */
static void set_proc2(uint64_t value)
{
    add_proc(NVMX_CTL(SECONDARY_CONTROLS));
    set(VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL, value);
}

static void set_proc2_inactive(uint64_t value)
{
    set_proc(get(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & ~NVMX_CTL(SECONDARY_CONTROLS));
    set(VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL, value);
}

static void set_proc3(uint64_t value)
{
    add_proc(NVMX_CTL(TERTIARY_CONTROLS));
    set(VMCS12_ORD_TERTIARY_VM_EXEC_CONTROL, value);
}

static void set_proc3_inactive(uint64_t value)
{
    set_proc(get(VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & ~NVMX_CTL(TERTIARY_CONTROLS));
    set(VMCS12_ORD_TERTIARY_VM_EXEC_CONTROL, value);
}

/* Every control of every word set: for rules that must not depend on controls. */
static void set_all_controls(void)
{
    set_pin(~0ull);
    set_proc(0xFFFFFFFFull);
    set(VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL, 0xFFFFFFFFull);
    set(VMCS12_ORD_TERTIARY_VM_EXEC_CONTROL, ~0ull);
}

static bool wanted_exit(const nvmx_exit *exit)
{
    return exit_wanted_by_l1(h.vcpu, exit);
}

static bool wanted_q(uint32_t reason, uint64_t qualification)
{
    nvmx_exit exit = {.reason = reason, .qualification = qualification, .instruction_length = 2};
    return wanted_exit(&exit);
}

static bool wanted(uint32_t reason)
{
    return wanted_q(reason, 0);
}

static void set_ram_bit(uint64_t gpa, uint64_t bit)
{
    h.host.ram[gpa + bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* ---- Unconditional and impossible rules --------------------------------------------------- */

#define ALWAYS_TEST(test_name, reason)                                                             \
    Test(reflect, test_name)                                                                       \
    {                                                                                              \
        cr_assert(wanted(reason), "no control may be needed");                                     \
    }

ALWAYS_TEST(triple_fault_always_exits_to_l1, NVMX_EXIT_TRIPLE_FAULT)
ALWAYS_TEST(task_switch_always_exits_to_l1, NVMX_EXIT_TASK_SWITCH)
ALWAYS_TEST(cpuid_always_exits_to_l1, NVMX_EXIT_CPUID)
ALWAYS_TEST(getsec_always_exits_to_l1, NVMX_EXIT_GETSEC)
ALWAYS_TEST(invd_always_exits_to_l1, NVMX_EXIT_INVD)
ALWAYS_TEST(vmcall_always_exits_to_l1, NVMX_EXIT_VMCALL)
ALWAYS_TEST(vmclear_always_exits_to_l1, NVMX_EXIT_VMCLEAR)
ALWAYS_TEST(vmlaunch_always_exits_to_l1, NVMX_EXIT_VMLAUNCH)
ALWAYS_TEST(vmptrld_always_exits_to_l1, NVMX_EXIT_VMPTRLD)
ALWAYS_TEST(vmptrst_always_exits_to_l1, NVMX_EXIT_VMPTRST)
ALWAYS_TEST(vmresume_always_exits_to_l1, NVMX_EXIT_VMRESUME)
ALWAYS_TEST(vmxoff_always_exits_to_l1, NVMX_EXIT_VMXOFF)
ALWAYS_TEST(vmxon_always_exits_to_l1, NVMX_EXIT_VMXON)
ALWAYS_TEST(invept_always_exits_to_l1, NVMX_EXIT_INVEPT)
ALWAYS_TEST(invvpid_always_exits_to_l1, NVMX_EXIT_INVVPID)
ALWAYS_TEST(xsetbv_always_exits_to_l1, NVMX_EXIT_XSETBV)
ALWAYS_TEST(seamcall_always_exits_to_l1, NVMX_EXIT_SEAMCALL)
ALWAYS_TEST(tdcall_always_exits_to_l1, NVMX_EXIT_TDCALL)

#define NEVER_TEST(test_name, reason)                                                              \
    Test(reflect, test_name)                                                                       \
    {                                                                                              \
        set_all_controls();                                                                        \
        cr_assert_not(wanted(reason), "not an exit L1 can ask for, whatever its controls");        \
    }

NEVER_TEST(io_smi_never_exits_to_l1, NVMX_EXIT_IO_SMI)
NEVER_TEST(other_smi_never_exits_to_l1, NVMX_EXIT_OTHER_SMI)
NEVER_TEST(rsm_never_exits_to_l1, NVMX_EXIT_RSM)
NEVER_TEST(entry_fail_guest_state_is_not_an_l2_exit, NVMX_EXIT_ENTRY_FAIL_GUEST_STATE)
NEVER_TEST(entry_fail_msr_loading_is_not_an_l2_exit, NVMX_EXIT_ENTRY_FAIL_MSR_LOADING)
NEVER_TEST(entry_fail_machine_check_is_not_an_l2_exit, NVMX_EXIT_ENTRY_FAIL_MACHINE_CHECK)
NEVER_TEST(enqcmd_pasid_fail_never_exits_to_l1, NVMX_EXIT_ENQCMD_PASID_FAIL)
NEVER_TEST(enqcmds_pasid_fail_never_exits_to_l1, NVMX_EXIT_ENQCMDS_PASID_FAIL)
NEVER_TEST(rdmsrlist_never_exits_to_l1, NVMX_EXIT_RDMSRLIST)
NEVER_TEST(wrmsrlist_never_exits_to_l1, NVMX_EXIT_WRMSRLIST)

/* ---- Rules that are one control (or two) -------------------------------------------------- */

/* The "stays" test sets every other control of the word, so only the rule's bit matters. */
#define PIN_TESTS(exits_name, stays_name, reason, control)                                         \
    Test(reflect, exits_name)                                                                      \
    {                                                                                              \
        set_pin(control);                                                                          \
        cr_assert(wanted(reason));                                                                 \
    }                                                                                              \
    Test(reflect, stays_name)                                                                      \
    {                                                                                              \
        set_pin(~(uint64_t)(control));                                                             \
        cr_assert_not(wanted(reason));                                                             \
    }

#define PROC_TESTS(exits_name, stays_name, reason, control)                                        \
    Test(reflect, exits_name)                                                                      \
    {                                                                                              \
        set_proc(control);                                                                         \
        cr_assert(wanted(reason));                                                                 \
    }                                                                                              \
    Test(reflect, stays_name)                                                                      \
    {                                                                                              \
        set_proc(0xFFFFFFFFull & ~(uint64_t)(control));                                            \
        cr_assert_not(wanted(reason));                                                             \
    }

/* Secondary and tertiary controls also stay in L0 when set but not activated. */
#define PROC2_TESTS(exits_name, stays_name, inactive_name, reason, control)                        \
    Test(reflect, exits_name)                                                                      \
    {                                                                                              \
        set_proc2(control);                                                                        \
        cr_assert(wanted(reason));                                                                 \
    }                                                                                              \
    Test(reflect, stays_name)                                                                      \
    {                                                                                              \
        set_proc(0xFFFFFFFFull);                                                                   \
        set_proc2(0xFFFFFFFFull & ~(uint64_t)(control));                                           \
        cr_assert_not(wanted(reason));                                                             \
    }                                                                                              \
    Test(reflect, inactive_name)                                                                   \
    {                                                                                              \
        set_proc(0xFFFFFFFFull);                                                                   \
        set_proc2_inactive(control);                                                               \
        cr_assert_not(wanted(reason));                                                             \
    }

PIN_TESTS(external_interrupt_exits_to_l1_with_external_interrupt_exiting,
          external_interrupt_stays_in_l0_without_external_interrupt_exiting,
          NVMX_EXIT_EXTERNAL_INTERRUPT, NVMX_CTL(EXT_INTR_EXITING))
PIN_TESTS(preemption_timer_exits_to_l1_with_activate_preemption_timer,
          preemption_timer_stays_in_l0_without_activate_preemption_timer,
          NVMX_EXIT_PREEMPTION_TIMER, NVMX_CTL(PREEMPTION_TIMER))

PROC_TESTS(interrupt_window_exits_to_l1_with_interrupt_window_exiting,
           interrupt_window_stays_in_l0_without_interrupt_window_exiting,
           NVMX_EXIT_INTERRUPT_WINDOW, NVMX_CTL(INTR_WINDOW_EXITING))
PROC_TESTS(nmi_window_exits_to_l1_with_nmi_window_exiting,
           nmi_window_stays_in_l0_without_nmi_window_exiting, NVMX_EXIT_NMI_WINDOW,
           NVMX_CTL(NMI_WINDOW_EXITING))
PROC_TESTS(hlt_exits_to_l1_with_hlt_exiting, hlt_stays_in_l0_without_hlt_exiting, NVMX_EXIT_HLT,
           NVMX_CTL(HLT_EXITING))
PROC_TESTS(invlpg_exits_to_l1_with_invlpg_exiting, invlpg_stays_in_l0_without_invlpg_exiting,
           NVMX_EXIT_INVLPG, NVMX_CTL(INVLPG_EXITING))
PROC_TESTS(rdpmc_exits_to_l1_with_rdpmc_exiting, rdpmc_stays_in_l0_without_rdpmc_exiting,
           NVMX_EXIT_RDPMC, NVMX_CTL(RDPMC_EXITING))
PROC_TESTS(rdtsc_exits_to_l1_with_rdtsc_exiting, rdtsc_stays_in_l0_without_rdtsc_exiting,
           NVMX_EXIT_RDTSC, NVMX_CTL(RDTSC_EXITING))
PROC_TESTS(dr_access_exits_to_l1_with_mov_dr_exiting, dr_access_stays_in_l0_without_mov_dr_exiting,
           NVMX_EXIT_DR_ACCESS, NVMX_CTL(MOV_DR_EXITING))
PROC_TESTS(mwait_exits_to_l1_with_mwait_exiting, mwait_stays_in_l0_without_mwait_exiting,
           NVMX_EXIT_MWAIT, NVMX_CTL(MWAIT_EXITING))
PROC_TESTS(mtf_exits_to_l1_with_monitor_trap_flag, mtf_stays_in_l0_without_monitor_trap_flag,
           NVMX_EXIT_MONITOR_TRAP_FLAG, NVMX_CTL(MONITOR_TRAP_FLAG))
PROC_TESTS(monitor_exits_to_l1_with_monitor_exiting, monitor_stays_in_l0_without_monitor_exiting,
           NVMX_EXIT_MONITOR, NVMX_CTL(MONITOR_EXITING))

PROC2_TESTS(apic_access_exits_to_l1_with_virtualize_apic_accesses,
            apic_access_stays_in_l0_without_virtualize_apic_accesses,
            apic_access_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_APIC_ACCESS,
            NVMX_CTL(VIRTUALIZE_APIC_ACCESSES))
PROC2_TESTS(gdtr_idtr_exits_to_l1_with_descriptor_table_exiting,
            gdtr_idtr_stays_in_l0_without_descriptor_table_exiting,
            gdtr_idtr_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_GDTR_IDTR_ACCESS,
            NVMX_CTL(DESC_TABLE_EXITING))
PROC2_TESTS(ldtr_tr_exits_to_l1_with_descriptor_table_exiting,
            ldtr_tr_stays_in_l0_without_descriptor_table_exiting,
            ldtr_tr_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_LDTR_TR_ACCESS,
            NVMX_CTL(DESC_TABLE_EXITING))
PROC2_TESTS(ept_violation_exits_to_l1_with_l1_ept, ept_violation_stays_in_l0_without_l1_ept,
            ept_violation_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_EPT_VIOLATION,
            NVMX_CTL(EPT))
PROC2_TESTS(ept_misconfig_exits_to_l1_with_l1_ept, ept_misconfig_stays_in_l0_without_l1_ept,
            ept_misconfig_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_EPT_MISCONFIG,
            NVMX_CTL(EPT))
PROC2_TESTS(wbinvd_exits_to_l1_with_wbinvd_exiting, wbinvd_stays_in_l0_without_wbinvd_exiting,
            wbinvd_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_WBINVD,
            NVMX_CTL(WBINVD_EXITING))
PROC2_TESTS(rdrand_exits_to_l1_with_rdrand_exiting, rdrand_stays_in_l0_without_rdrand_exiting,
            rdrand_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_RDRAND,
            NVMX_CTL(RDRAND_EXITING))
PROC2_TESTS(rdseed_exits_to_l1_with_rdseed_exiting, rdseed_stays_in_l0_without_rdseed_exiting,
            rdseed_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_RDSEED,
            NVMX_CTL(RDSEED_EXITING))
PROC2_TESTS(pml_full_exits_to_l1_with_enable_pml, pml_full_stays_in_l0_without_enable_pml,
            pml_full_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_PML_FULL,
            NVMX_CTL(PML))
PROC2_TESTS(spp_exits_to_l1_with_subpage_write_permissions,
            spp_stays_in_l0_without_subpage_write_permissions,
            spp_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_SPP_EVENT,
            NVMX_CTL(SUBPAGE_WRITE))
PROC2_TESTS(bus_lock_exits_to_l1_with_bus_lock_detection,
            bus_lock_stays_in_l0_without_bus_lock_detection,
            bus_lock_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_BUS_LOCK,
            NVMX_CTL(BUS_LOCK_DETECTION))
PROC2_TESTS(instruction_timeout_exits_to_l1_with_instruction_timeout_control,
            instruction_timeout_stays_in_l0_without_instruction_timeout_control,
            instruction_timeout_stays_in_l0_with_secondary_controls_inactive,
            NVMX_EXIT_INSTRUCTION_TIMEOUT, NVMX_CTL(INSTRUCTION_TIMEOUT))

Test(reflect, loadiwkey_exits_to_l1_with_loadiwkey_exiting)
{
    set_proc3(NVMX_CTL(LOADIWKEY_EXITING));
    cr_assert(wanted(NVMX_EXIT_LOADIWKEY));
}

Test(reflect, loadiwkey_stays_in_l0_without_loadiwkey_exiting)
{
    set_proc(0xFFFFFFFFull);
    set_proc3(~NVMX_CTL(LOADIWKEY_EXITING));
    cr_assert_not(wanted(NVMX_EXIT_LOADIWKEY));
}

Test(reflect, loadiwkey_stays_in_l0_with_tertiary_controls_inactive)
{
    set_proc(0xFFFFFFFFull);
    set_proc3_inactive(NVMX_CTL(LOADIWKEY_EXITING));
    cr_assert_not(wanted(NVMX_EXIT_LOADIWKEY));
}

/* Two controls: a primary exiting control and the secondary control that makes the
 * instruction exist (without it the instruction is #UD, SDM 26.3). */
#define TWO_CONTROL_TESTS(exits_name, no_primary_name, no_secondary_name, inactive_name, reason,   \
                          primary, secondary)                                                      \
    Test(reflect, exits_name)                                                                      \
    {                                                                                              \
        set_proc(primary);                                                                         \
        set_proc2(secondary);                                                                      \
        cr_assert(wanted(reason));                                                                 \
    }                                                                                              \
    Test(reflect, no_primary_name)                                                                 \
    {                                                                                              \
        set_proc(0xFFFFFFFFull & ~(uint64_t)(primary));                                            \
        set_proc2(0xFFFFFFFFull);                                                                  \
        cr_assert_not(wanted(reason));                                                             \
    }                                                                                              \
    Test(reflect, no_secondary_name)                                                               \
    {                                                                                              \
        set_proc(0xFFFFFFFFull);                                                                   \
        set_proc2(0xFFFFFFFFull & ~(uint64_t)(secondary));                                         \
        cr_assert_not(wanted(reason));                                                             \
    }                                                                                              \
    Test(reflect, inactive_name)                                                                   \
    {                                                                                              \
        set_proc(0xFFFFFFFFull);                                                                   \
        set_proc2_inactive(secondary);                                                             \
        cr_assert_not(wanted(reason));                                                             \
    }

TWO_CONTROL_TESTS(rdtscp_exits_to_l1_with_rdtsc_exiting_and_enable_rdtscp,
                  rdtscp_stays_in_l0_without_rdtsc_exiting,
                  rdtscp_stays_in_l0_without_enable_rdtscp,
                  rdtscp_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_RDTSCP,
                  NVMX_CTL(RDTSC_EXITING), NVMX_CTL(RDTSCP))
TWO_CONTROL_TESTS(invpcid_exits_to_l1_with_invlpg_exiting_and_enable_invpcid,
                  invpcid_stays_in_l0_without_invlpg_exiting,
                  invpcid_stays_in_l0_without_enable_invpcid,
                  invpcid_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_INVPCID,
                  NVMX_CTL(INVLPG_EXITING), NVMX_CTL(ENABLE_INVPCID))
TWO_CONTROL_TESTS(umwait_exits_to_l1_with_rdtsc_exiting_and_user_wait_pause,
                  umwait_stays_in_l0_without_rdtsc_exiting,
                  umwait_stays_in_l0_without_user_wait_pause,
                  umwait_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_UMWAIT,
                  NVMX_CTL(RDTSC_EXITING), NVMX_CTL(USER_WAIT_PAUSE))
TWO_CONTROL_TESTS(tpause_exits_to_l1_with_rdtsc_exiting_and_user_wait_pause,
                  tpause_stays_in_l0_without_rdtsc_exiting,
                  tpause_stays_in_l0_without_user_wait_pause,
                  tpause_stays_in_l0_with_secondary_controls_inactive, NVMX_EXIT_TPAUSE,
                  NVMX_CTL(RDTSC_EXITING), NVMX_CTL(USER_WAIT_PAUSE))

/* ---- Exceptions and NMIs (SDM 26.2) ------------------------------------------------------- */

/* VM-exit interruption information (SDM 28.2.2): valid, type, vector. */
#define INFO(type, vector) (NVMX_INTR_INFO_VALID | ((type) << NVMX_INTR_INFO_TYPE_SHIFT) | (vector))
#define INFO_NMI INFO(NVMX_INTR_TYPE_NMI, (unsigned)NVMX_VECTOR_NMI)
#define INFO_HW_EXCEPTION(vector) INFO(NVMX_INTR_TYPE_HARDWARE_EXCEPTION, vector)
#define INFO_SW_EXCEPTION(vector) INFO(NVMX_INTR_TYPE_SOFTWARE_EXCEPTION, vector)
#define INFO_SW_INTERRUPT(vector) INFO(NVMX_INTR_TYPE_SOFTWARE_INTERRUPT, vector)

static bool exception_wanted(uint32_t info, uint32_t error_code)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_EXCEPTION_NMI,
                      .interruption_info = info | NVMX_INTR_INFO_DELIVER_ERROR_CODE,
                      .interruption_error_code = error_code};
    return wanted_exit(&exit);
}

Test(reflect, exception_exits_to_l1_with_exception_bitmap_bit)
{
    set(VMCS12_ORD_EXCEPTION_BITMAP, 1u << NVMX_VECTOR_GP);
    cr_assert(exception_wanted(INFO_HW_EXCEPTION(NVMX_VECTOR_GP), 0));
}

Test(reflect, exception_stays_in_l0_without_exception_bitmap_bit)
{
    set(VMCS12_ORD_EXCEPTION_BITMAP, ~(1u << NVMX_VECTOR_GP));
    cr_assert_not(exception_wanted(INFO_HW_EXCEPTION(NVMX_VECTOR_GP), 0));
}

/* SDM 26.2: INT3 and INTO use the exception bitmap too. */
Test(reflect, exception_int3_follows_exception_bitmap)
{
    cr_assert_not(exception_wanted(INFO_SW_EXCEPTION(3), 0));
    set(VMCS12_ORD_EXCEPTION_BITMAP, 1u << 3);
    cr_assert(exception_wanted(INFO_SW_EXCEPTION(3), 0));
}

Test(reflect, exception_nmi_exits_to_l1_with_nmi_exiting)
{
    set_pin(NVMX_CTL(NMI_EXITING));
    cr_assert(exception_wanted(INFO_NMI, 0));
}

Test(reflect, exception_nmi_stays_in_l0_without_nmi_exiting)
{
    set_pin(~NVMX_CTL(NMI_EXITING));
    set(VMCS12_ORD_EXCEPTION_BITMAP, ~0ull); /* the bitmap is not about NMIs */
    cr_assert_not(exception_wanted(INFO_NMI, 0));
}

Test(reflect, exception_stays_in_l0_for_events_reason_0_never_reports)
{
    set(VMCS12_ORD_EXCEPTION_BITMAP, ~0ull);
    cr_assert_not(exception_wanted(INFO_SW_INTERRUPT(0x80), 0), "INT n is no exception");
    cr_assert_not(exception_wanted(INFO_HW_EXCEPTION(NVMX_VECTOR_GP) & ~NVMX_INTR_INFO_VALID, 0),
                  "no valid event");
}

/* SDM 26.2 #PF: bit 14 is followed when (PFEC & MASK) == MATCH and reversed otherwise. */
#define PFEC_WRITE 2u
#define PFEC_USER 4u

static void pf_filter(bool bit14, uint32_t mask, uint32_t match)
{
    set(VMCS12_ORD_EXCEPTION_BITMAP, bit14 ? 1u << NVMX_VECTOR_PF : 0);
    set(VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MASK, mask);
    set(VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MATCH, match);
}

Test(reflect, exception_pf_exits_to_l1_with_bit_set_and_error_code_matching)
{
    pf_filter(true, PFEC_USER, PFEC_USER);
    cr_assert(exception_wanted(INFO_HW_EXCEPTION(NVMX_VECTOR_PF), PFEC_USER | PFEC_WRITE));
}

Test(reflect, exception_pf_stays_in_l0_with_bit_set_and_error_code_not_matching)
{
    pf_filter(true, PFEC_USER, PFEC_USER);
    cr_assert_not(exception_wanted(INFO_HW_EXCEPTION(NVMX_VECTOR_PF), PFEC_WRITE));
}

Test(reflect, exception_pf_exits_to_l1_with_bit_clear_and_error_code_not_matching)
{
    pf_filter(false, PFEC_USER, PFEC_USER);
    cr_assert(exception_wanted(INFO_HW_EXCEPTION(NVMX_VECTOR_PF), PFEC_WRITE));
}

Test(reflect, exception_pf_stays_in_l0_with_bit_clear_and_error_code_matching)
{
    pf_filter(false, PFEC_USER, PFEC_USER);
    cr_assert_not(exception_wanted(INFO_HW_EXCEPTION(NVMX_VECTOR_PF), PFEC_USER));
    /* mask = match = 0 matches every error code: bit 14 alone decides. */
    pf_filter(false, 0, 0);
    cr_assert_not(exception_wanted(INFO_HW_EXCEPTION(NVMX_VECTOR_PF), 0x1F));
    pf_filter(true, 0, 0);
    cr_assert(exception_wanted(INFO_HW_EXCEPTION(NVMX_VECTOR_PF), 0x1F));
}

/* ---- INIT and SIPI (SDM 26.2, 27.7.2) ----------------------------------------------------- */

Test(reflect, init_exits_to_l1_outside_wait_for_sipi)
{
    cr_assert(wanted(NVMX_EXIT_INIT_SIGNAL));
    set(VMCS12_ORD_GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_HLT);
    cr_assert(wanted(NVMX_EXIT_INIT_SIGNAL));
}

Test(reflect, init_stays_in_l0_in_wait_for_sipi)
{
    set(VMCS12_ORD_GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_WAIT_SIPI);
    cr_assert_not(wanted(NVMX_EXIT_INIT_SIGNAL));
}

Test(reflect, sipi_exits_to_l1_in_wait_for_sipi)
{
    set(VMCS12_ORD_GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_WAIT_SIPI);
    cr_assert(wanted(NVMX_EXIT_SIPI));
}

Test(reflect, sipi_stays_in_l0_outside_wait_for_sipi)
{
    cr_assert_not(wanted(NVMX_EXIT_SIPI));
    set(VMCS12_ORD_GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_HLT);
    cr_assert_not(wanted(NVMX_EXIT_SIPI));
}

/* ---- Control-register accesses (SDM 26.1.3, Table 28-3) ----------------------------------- */

static uint64_t cr_qual(unsigned cr, unsigned access, unsigned gpr)
{
    return cr | (access << 4) | ((uint64_t)gpr << 8);
}

static bool mov_to_cr(unsigned cr, uint64_t value)
{
    h.host.regs[NVMX_REG_RBX] = value;
    return wanted_q(NVMX_EXIT_CR_ACCESS, cr_qual(cr, 0, NVMX_REG_RBX));
}

static bool mov_from_cr(unsigned cr)
{
    return wanted_q(NVMX_EXIT_CR_ACCESS, cr_qual(cr, 1, NVMX_REG_RDX));
}

static bool clts(void)
{
    return wanted_q(NVMX_EXIT_CR_ACCESS, cr_qual(0, 2, 0));
}

static bool lmsw(uint16_t source, bool memory)
{
    return wanted_q(NVMX_EXIT_CR_ACCESS,
                    cr_qual(0, 3, 0) | (memory ? 1u << 6 : 0) | ((uint64_t)source << 16));
}

Test(reflect, cr_access_mov_to_cr0_exits_to_l1_when_owned_bit_differs_from_shadow)
{
    set(VMCS12_ORD_CR0_GUEST_HOST_MASK, NVMX_CR0_TS);
    set(VMCS12_ORD_CR0_READ_SHADOW, 0);
    cr_assert(mov_to_cr(0, 0x80000031ull | NVMX_CR0_TS));
}

Test(reflect, cr_access_mov_to_cr0_stays_in_l0_when_owned_bits_match_shadow)
{
    set(VMCS12_ORD_CR0_GUEST_HOST_MASK, NVMX_CR0_TS | NVMX_CR0_PE);
    set(VMCS12_ORD_CR0_READ_SHADOW, NVMX_CR0_TS | NVMX_CR0_PE);
    cr_assert_not(mov_to_cr(0, 0x80000031ull | NVMX_CR0_TS), "PG/NE/ET differ but are not owned");
    set(VMCS12_ORD_CR0_GUEST_HOST_MASK, 0);
    cr_assert_not(mov_to_cr(0, ~0ull), "an empty mask never exits");
}

/* Outside 64-bit mode MOV to CR0 writes the low 32 bits of the register. */
Test(reflect, cr_access_mov_to_cr0_uses_32_bit_operand_outside_64_bit_mode)
{
    set(VMCS12_ORD_CR0_GUEST_HOST_MASK, 1ull << 32);
    set(VMCS12_ORD_CR0_READ_SHADOW, 0);
    cr_assert(mov_to_cr(0, 1ull << 32));
    fake_host_set_mode_protected32(&h.host);
    cr_assert_not(mov_to_cr(0, 1ull << 32));
}

Test(reflect, cr_access_mov_to_cr4_exits_to_l1_when_owned_bit_differs_from_shadow)
{
    set(VMCS12_ORD_CR4_GUEST_HOST_MASK, NVMX_CR4_PGE);
    set(VMCS12_ORD_CR4_READ_SHADOW, NVMX_CR4_PGE);
    cr_assert(mov_to_cr(4, NVMX_CR4_PAE));
}

Test(reflect, cr_access_mov_to_cr4_stays_in_l0_when_owned_bits_match_shadow)
{
    set(VMCS12_ORD_CR4_GUEST_HOST_MASK, NVMX_CR4_PGE);
    set(VMCS12_ORD_CR4_READ_SHADOW, NVMX_CR4_PGE);
    cr_assert_not(mov_to_cr(4, NVMX_CR4_PGE | NVMX_CR4_PAE | NVMX_CR4_VMXE));
}

Test(reflect, cr_access_mov_from_cr0_and_cr4_stay_in_l0)
{
    set(VMCS12_ORD_CR0_GUEST_HOST_MASK, ~0ull);
    set(VMCS12_ORD_CR4_GUEST_HOST_MASK, ~0ull);
    set_proc(0xFFFFFFFFull);
    cr_assert_not(mov_from_cr(0));
    cr_assert_not(mov_from_cr(4));
    cr_assert_not(mov_to_cr(2, 0x1234), "CR2 accesses never exit");
}

Test(reflect, cr_access_mov_to_cr3_stays_in_l0_without_cr3_load_exiting)
{
    set_proc(0xFFFFFFFFull & ~NVMX_CTL(CR3_LOAD_EXITING));
    cr_assert_not(mov_to_cr(3, 0x5000));
}

Test(reflect, cr_access_mov_to_cr3_exits_to_l1_with_cr3_load_exiting_and_no_targets)
{
    set_proc(NVMX_CTL(CR3_LOAD_EXITING));
    set(VMCS12_ORD_CR3_TARGET_VALUE0, 0x5000);
    set(VMCS12_ORD_CR3_TARGET_COUNT, 0);
    cr_assert(mov_to_cr(3, 0x5000), "count 0: every MOV to CR3 exits");
}

/* For counts 1 to 4, the first `count` targets let the load through, the others do not. */
Test(reflect, cr_access_mov_to_cr3_stays_in_l0_for_the_first_count_targets)
{
    set_proc(NVMX_CTL(CR3_LOAD_EXITING));
    for (unsigned t = 0; t < 4; t++)
        set(VMCS12_ORD_CR3_TARGET_VALUE0 + t, 0x1000ull * (t + 1));
    for (unsigned count = 1; count <= 4; count++) {
        set(VMCS12_ORD_CR3_TARGET_COUNT, count);
        for (unsigned t = 0; t < 4; t++) {
            bool exits = mov_to_cr(3, 0x1000ull * (t + 1));
            cr_assert_eq(exits, t >= count, "count %u, target %u", count, t);
        }
        cr_assert(mov_to_cr(3, 0x9000), "count %u: not a target", count);
    }
}

/* A count above 4 cannot pass VM entry; it is read as 4, never beyond the four fields. */
Test(reflect, cr_access_mov_to_cr3_count_above_4_compares_four_targets)
{
    set_proc(NVMX_CTL(CR3_LOAD_EXITING));
    set(VMCS12_ORD_CR3_TARGET_VALUE3, 0x4000);
    set(VMCS12_ORD_CR3_TARGET_COUNT, 0xFFFFFFFFull);
    cr_assert_not(mov_to_cr(3, 0x4000));
    cr_assert(mov_to_cr(3, 0x8000));
}

Test(reflect, cr_access_mov_from_cr3_exits_to_l1_with_cr3_store_exiting)
{
    set_proc(NVMX_CTL(CR3_STORE_EXITING));
    cr_assert(mov_from_cr(3));
}

Test(reflect, cr_access_mov_from_cr3_stays_in_l0_without_cr3_store_exiting)
{
    set_proc(0xFFFFFFFFull & ~NVMX_CTL(CR3_STORE_EXITING));
    cr_assert_not(mov_from_cr(3));
}

Test(reflect, cr_access_mov_to_cr8_exits_to_l1_with_cr8_load_exiting)
{
    set_proc(NVMX_CTL(CR8_LOAD_EXITING) | NVMX_CTL(TPR_SHADOW));
    cr_assert(mov_to_cr(8, 3));
}

/* With "use TPR shadow" and no CR8 exiting, MOV CR8 uses the virtual TPR: a CR8 exit L0 got
 * is L0's own (it then emulates on L1's virtual-APIC page). */
Test(reflect, cr_access_mov_to_cr8_stays_in_l0_without_cr8_load_exiting)
{
    set_proc(NVMX_CTL(TPR_SHADOW) | NVMX_CTL(CR8_STORE_EXITING));
    cr_assert_not(mov_to_cr(8, 3));
}

Test(reflect, cr_access_mov_from_cr8_exits_to_l1_with_cr8_store_exiting)
{
    set_proc(NVMX_CTL(CR8_STORE_EXITING));
    cr_assert(mov_from_cr(8));
}

Test(reflect, cr_access_mov_from_cr8_stays_in_l0_without_cr8_store_exiting)
{
    set_proc(NVMX_CTL(TPR_SHADOW) | NVMX_CTL(CR8_LOAD_EXITING));
    cr_assert_not(mov_from_cr(8));
}

Test(reflect, cr_access_clts_exits_to_l1_when_ts_owned_and_shadow_ts_set)
{
    set(VMCS12_ORD_CR0_GUEST_HOST_MASK, NVMX_CR0_TS);
    set(VMCS12_ORD_CR0_READ_SHADOW, NVMX_CR0_TS);
    cr_assert(clts());
}

Test(reflect, cr_access_clts_stays_in_l0_unless_ts_owned_and_shadow_ts_set)
{
    set(VMCS12_ORD_CR0_GUEST_HOST_MASK, NVMX_CR0_TS);
    set(VMCS12_ORD_CR0_READ_SHADOW, ~NVMX_CR0_TS);
    cr_assert_not(clts(), "shadow TS clear");
    set(VMCS12_ORD_CR0_GUEST_HOST_MASK, ~NVMX_CR0_TS);
    set(VMCS12_ORD_CR0_READ_SHADOW, ~0ull);
    cr_assert_not(clts(), "TS not owned");
}

Test(reflect, cr_access_lmsw_exits_to_l1_when_owned_bit_changes)
{
    set(VMCS12_ORD_CR0_GUEST_HOST_MASK, NVMX_CR0_PE | NVMX_CR0_MP);
    set(VMCS12_ORD_CR0_READ_SHADOW, 0);
    cr_assert(lmsw(NVMX_CR0_PE, false), "sets an owned PE that the shadow has clear");
    set(VMCS12_ORD_CR0_READ_SHADOW, NVMX_CR0_PE | NVMX_CR0_MP);
    cr_assert(lmsw(NVMX_CR0_PE, false), "clears an owned MP");
    cr_assert(lmsw(NVMX_CR0_PE, true), "memory operand: same source data in the qualification");
}

Test(reflect, cr_access_lmsw_stays_in_l0_when_owned_bits_keep_shadow)
{
    set(VMCS12_ORD_CR0_GUEST_HOST_MASK, 0xF);
    set(VMCS12_ORD_CR0_READ_SHADOW, NVMX_CR0_PE | NVMX_CR0_TS);
    cr_assert_not(lmsw(NVMX_CR0_PE | NVMX_CR0_TS, false));
    cr_assert_not(lmsw(NVMX_CR0_TS | 0xFFF0, true), "LMSW cannot clear PE; bits 15:4 are ignored");
    set(VMCS12_ORD_CR0_GUEST_HOST_MASK, ~0xFull);
    set(VMCS12_ORD_CR0_READ_SHADOW, 0);
    cr_assert_not(lmsw(0xF, false), "only CR0[3:0] of the mask matter");
}

/* ---- I/O instructions (SDM 26.1.3, 25.6.4; qualification Table 28-5) ---------------------- */

static bool io(uint32_t port, unsigned size)
{
    return wanted_q(NVMX_EXIT_IO_INSTRUCTION, ((uint64_t)port << 16) | (size - 1));
}

static void use_io_bitmaps(void)
{
    set_proc(NVMX_CTL(IO_BITMAPS) | NVMX_CTL(UNCOND_IO_EXITING));
    set(VMCS12_ORD_IO_BITMAP_A, IO_A);
    set(VMCS12_ORD_IO_BITMAP_B, IO_B);
}

Test(reflect, io_exits_to_l1_with_unconditional_io_exiting_without_bitmaps)
{
    set_proc(NVMX_CTL(UNCOND_IO_EXITING));
    cr_assert(io(0x80, 1));
}

Test(reflect, io_stays_in_l0_without_unconditional_io_exiting_or_bitmaps)
{
    set_proc(0xFFFFFFFFull & ~(NVMX_CTL(UNCOND_IO_EXITING) | NVMX_CTL(IO_BITMAPS)));
    cr_assert_not(io(0x80, 1));
}

Test(reflect, io_exits_to_l1_with_bitmap_a_or_b_bit_set)
{
    use_io_bitmaps();
    set_ram_bit(IO_A, 0x80);
    set_ram_bit(IO_B, 0); /* port 8000H */
    cr_assert(io(0x80, 1));
    cr_assert(io(0x8000, 1));
}

/* With bitmaps, "unconditional I/O exiting" is ignored: clear bits stay in L0. */
Test(reflect, io_stays_in_l0_with_bitmap_bits_clear)
{
    use_io_bitmaps();
    set_ram_bit(IO_A, 0x81);
    set_ram_bit(IO_B, 0x0001);
    cr_assert_not(io(0x80, 1));
    cr_assert_not(io(0x8000, 1));
    cr_assert_not(io(0xFFFC, 4), "FFFCH-FFFFH does not wrap");
}

/* A 4-byte access at 3EH touches ports 3EH-41H: bits in two bitmap bytes, each read once. */
Test(reflect, io_access_crossing_a_bitmap_byte_checks_every_port)
{
    use_io_bitmaps();
    long reads = h.host.l1_reads;
    cr_assert_not(io(0x3E, 4));
    cr_assert_eq(h.host.l1_reads - reads, 2, "one read per bitmap byte");
    set_ram_bit(IO_A, 0x42);
    cr_assert_not(io(0x3E, 4), "port 42H is not touched");
    set_ram_bit(IO_A, 0x41);
    cr_assert(io(0x3E, 4), "last port, second byte");
    h.host.ram[IO_A + 8] = 0;
    set_ram_bit(IO_A, 0x3E);
    cr_assert(io(0x3E, 2), "first port");
}

/* Ports 7FFEH-8001H are split between bitmap A and bitmap B. */
Test(reflect, io_access_crossing_from_bitmap_a_to_b_checks_both)
{
    use_io_bitmaps();
    cr_assert_not(io(0x7FFE, 4));
    set_ram_bit(IO_B, 1); /* port 8001H */
    cr_assert(io(0x7FFE, 4));
}

Test(reflect, io_access_wrapping_past_ffff_exits_to_l1)
{
    use_io_bitmaps();
    cr_assert(io(0xFFFF, 2), "FFFFH and 0000H");
    cr_assert(io(0xFFFD, 4));
    cr_assert_not(io(0xFFFE, 2), "FFFEH-FFFFH does not wrap");
}

Test(reflect, io_bitmap_in_unbacked_memory_exits_to_l1)
{
    use_io_bitmaps();
    set(VMCS12_ORD_IO_BITMAP_A, UNBACKED);
    cr_assert(io(0x60, 1));
}

/* ---- RDMSR/WRMSR (SDM 26.1.3, 25.6.9) ----------------------------------------------------- */

static bool msr(uint32_t reason, uint64_t rcx)
{
    h.host.regs[NVMX_REG_RCX] = rcx;
    return wanted(reason);
}

static void use_msr_bitmaps(void)
{
    set_proc(NVMX_CTL(MSR_BITMAPS));
    set(VMCS12_ORD_MSR_BITMAP, MSRS);
}

Test(reflect, msr_read_exits_to_l1_without_use_msr_bitmaps)
{
    set_proc(0xFFFFFFFFull & ~NVMX_CTL(MSR_BITMAPS));
    set(VMCS12_ORD_MSR_BITMAP, MSRS);
    cr_assert(msr(NVMX_EXIT_RDMSR, 0x10));
}

Test(reflect, msr_write_exits_to_l1_without_use_msr_bitmaps)
{
    set_proc(0xFFFFFFFFull & ~NVMX_CTL(MSR_BITMAPS));
    set(VMCS12_ORD_MSR_BITMAP, MSRS);
    cr_assert(msr(NVMX_EXIT_WRMSR, 0x10));
}

Test(reflect, msr_read_exits_to_l1_with_read_bitmap_bit_set)
{
    use_msr_bitmaps();
    set_ram_bit(MSRS + MSR_BITMAP_READ_LOW, 0x0);
    set_ram_bit(MSRS + MSR_BITMAP_READ_LOW, 0x1FFF);
    set_ram_bit(MSRS + MSR_BITMAP_READ_HIGH, 0x0);
    set_ram_bit(MSRS + MSR_BITMAP_READ_HIGH, 0x1FFF);
    cr_assert(msr(NVMX_EXIT_RDMSR, 0x0));
    cr_assert(msr(NVMX_EXIT_RDMSR, 0x1FFF));
    cr_assert(msr(NVMX_EXIT_RDMSR, 0xC0000000));
    cr_assert(msr(NVMX_EXIT_RDMSR, 0xC0001FFF));
}

Test(reflect, msr_read_stays_in_l0_with_read_bitmap_bit_clear)
{
    use_msr_bitmaps();
    /* The write quarters do not count for reads. */
    nvmx_memset(h.host.ram + MSRS + MSR_BITMAP_WRITE_LOW, 0xFF, 0x800);
    cr_assert_not(msr(NVMX_EXIT_RDMSR, 0x0));
    cr_assert_not(msr(NVMX_EXIT_RDMSR, 0x1FFF));
    cr_assert_not(msr(NVMX_EXIT_RDMSR, 0xC0000000));
    cr_assert_not(msr(NVMX_EXIT_RDMSR, 0xC0001FFF));
    cr_assert_not(msr(NVMX_EXIT_RDMSR, 0xFFFFFFFF00000010ull), "only ECX counts");
}

Test(reflect, msr_write_exits_to_l1_with_write_bitmap_bit_set)
{
    use_msr_bitmaps();
    set_ram_bit(MSRS + MSR_BITMAP_WRITE_LOW, 0x1FFF);
    set_ram_bit(MSRS + MSR_BITMAP_WRITE_HIGH, 0x80);
    cr_assert(msr(NVMX_EXIT_WRMSR, 0x1FFF));
    cr_assert(msr(NVMX_EXIT_WRMSR, 0xC0000080));
}

Test(reflect, msr_write_stays_in_l0_with_write_bitmap_bit_clear)
{
    use_msr_bitmaps();
    nvmx_memset(h.host.ram + MSRS + MSR_BITMAP_READ_LOW, 0xFF,
                0x800); /* read quarters: not for writes */
    cr_assert_not(msr(NVMX_EXIT_WRMSR, 0x1FFF));
    cr_assert_not(msr(NVMX_EXIT_WRMSR, 0xC0000080));
}

/* Indices just outside both ranges always exit, whatever the bitmaps hold. */
Test(reflect, msr_outside_both_ranges_exits_to_l1)
{
    use_msr_bitmaps();
    uint32_t outside[] = {0x2000, 0xBFFFFFFF, 0xC0002000, 0x40000000, 0xFFFFFFFF};
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(outside); i++) {
        cr_assert(msr(NVMX_EXIT_RDMSR, outside[i]), "RDMSR %x", outside[i]);
        cr_assert(msr(NVMX_EXIT_WRMSR, outside[i]), "WRMSR %x", outside[i]);
    }
}

Test(reflect, msr_bitmap_in_unbacked_memory_exits_to_l1)
{
    use_msr_bitmaps();
    set(VMCS12_ORD_MSR_BITMAP, UNBACKED);
    cr_assert(msr(NVMX_EXIT_RDMSR, 0x10));
    cr_assert(msr(NVMX_EXIT_WRMSR, 0x10));
}

/* ---- VMREAD/VMWRITE: the decision of vmread_vmwrite.c (SDM 26.1.3, 25.6.15) --------------- */

static bool vmcs_access(uint32_t reason, uint64_t encoding)
{
    h.host.regs[NVMX_REG_RCX] = encoding;
    nvmx_exit exit = {.reason = reason, .instruction_info = INFO_REGS(NVMX_REG_RAX, NVMX_REG_RCX)};
    return wanted_exit(&exit);
}

static void use_shadowing(void)
{
    set_proc2(NVMX_CTL(SHADOW_VMCS));
    set(VMCS12_ORD_VMREAD_BITMAP, VMREAD_BITMAP_GPA);
    set(VMCS12_ORD_VMWRITE_BITMAP, VMWRITE_BITMAP_GPA);
}

Test(reflect, vmread_exits_to_l1_with_vmread_bitmap_bit_set)
{
    use_shadowing();
    set_ram_bit(VMREAD_BITMAP_GPA, NVMX_FIELD_GUEST_RIP & 0x7FFF);
    cr_assert(vmcs_access(NVMX_EXIT_VMREAD, NVMX_FIELD_GUEST_RIP));
    cr_assert(vmcs_access(NVMX_EXIT_VMREAD, 0x8000), "encodings above 7FFFH always exit");
}

Test(reflect, vmread_stays_in_l0_with_vmread_bitmap_bit_clear)
{
    use_shadowing();
    set_ram_bit(VMWRITE_BITMAP_GPA, NVMX_FIELD_GUEST_RIP & 0x7FFF);
    cr_assert_not(vmcs_access(NVMX_EXIT_VMREAD, NVMX_FIELD_GUEST_RIP));
}

Test(reflect, vmread_exits_to_l1_without_vmcs_shadowing)
{
    use_shadowing();
    set_proc2_inactive(NVMX_CTL(SHADOW_VMCS));
    cr_assert(vmcs_access(NVMX_EXIT_VMREAD, NVMX_FIELD_GUEST_RIP));
}

Test(reflect, vmwrite_exits_to_l1_with_vmwrite_bitmap_bit_set)
{
    use_shadowing();
    set_ram_bit(VMWRITE_BITMAP_GPA, NVMX_FIELD_GUEST_RIP & 0x7FFF);
    cr_assert(vmcs_access(NVMX_EXIT_VMWRITE, NVMX_FIELD_GUEST_RIP));
}

Test(reflect, vmwrite_stays_in_l0_with_vmwrite_bitmap_bit_clear)
{
    use_shadowing();
    set_ram_bit(VMREAD_BITMAP_GPA, NVMX_FIELD_GUEST_RIP & 0x7FFF);
    cr_assert_not(vmcs_access(NVMX_EXIT_VMWRITE, NVMX_FIELD_GUEST_RIP));
}

/* Outside 64-bit mode the encoding operand is 32 bits: high register bits do not count. */
Test(reflect, vmwrite_encoding_is_32_bits_outside_64_bit_mode)
{
    use_shadowing();
    uint64_t encoding = (1ull << 40) | NVMX_FIELD_GUEST_RIP;
    cr_assert(vmcs_access(NVMX_EXIT_VMWRITE, encoding));
    fake_host_set_mode_protected32(&h.host);
    cr_assert_not(vmcs_access(NVMX_EXIT_VMWRITE, encoding));
}

/* ---- PAUSE (SDM 26.1.3) -------------------------------------------------------------------- */

Test(reflect, pause_exits_to_l1_with_pause_exiting)
{
    set_proc(NVMX_CTL(PAUSE_EXITING));
    fake_host_set_cpl(&h.host, 3);
    cr_assert(wanted(NVMX_EXIT_PAUSE));
}

Test(reflect, pause_stays_in_l0_without_pause_exiting_or_ple)
{
    set_proc(0xFFFFFFFFull & ~NVMX_CTL(PAUSE_EXITING));
    set_proc2(0xFFFFFFFFull & ~NVMX_CTL(PAUSE_LOOP_EXITING));
    cr_assert_not(wanted(NVMX_EXIT_PAUSE));
}

Test(reflect, pause_exits_to_l1_with_ple_at_cpl0)
{
    set_proc2(NVMX_CTL(PAUSE_LOOP_EXITING));
    cr_assert(wanted(NVMX_EXIT_PAUSE));
}

Test(reflect, pause_stays_in_l0_with_ple_above_cpl0_or_inactive)
{
    set_proc2(NVMX_CTL(PAUSE_LOOP_EXITING));
    fake_host_set_cpl(&h.host, 3);
    cr_assert_not(wanted(NVMX_EXIT_PAUSE), "PLE does not apply at CPL > 0");
    fake_host_set_cpl(&h.host, 0);
    set_proc2_inactive(NVMX_CTL(PAUSE_LOOP_EXITING));
    cr_assert_not(wanted(NVMX_EXIT_PAUSE), "secondary controls not activated");
}

/* ---- APIC virtualization ----------------------------------------------------------------- */

static void tpr_shadow(uint8_t vtpr, uint32_t threshold)
{
    set_proc(NVMX_CTL(TPR_SHADOW));
    set(VMCS12_ORD_VIRTUAL_APIC_PAGE_ADDR, VAPIC);
    set(VMCS12_ORD_TPR_THRESHOLD, threshold);
    h.host.ram[VAPIC + 0x80] = vtpr;
}

Test(reflect, tpr_below_threshold_exits_to_l1_when_vtpr_class_below_threshold)
{
    tpr_shadow(0x4F, 5);
    cr_assert(wanted(NVMX_EXIT_TPR_BELOW_THRESHOLD));
}

Test(reflect, tpr_below_threshold_stays_in_l0_unless_vtpr_below_l1_threshold)
{
    tpr_shadow(0x50, 5);
    cr_assert_not(wanted(NVMX_EXIT_TPR_BELOW_THRESHOLD), "VTPR[7:4] = threshold");
    tpr_shadow(0x40, 5);
    set_proc2(NVMX_CTL(VIRTUAL_INTR_DELIVERY));
    cr_assert_not(wanted(NVMX_EXIT_TPR_BELOW_THRESHOLD), "virtual-interrupt delivery");
    tpr_shadow(0x40, 5);
    set_proc(0xFFFFFFFFull & ~NVMX_CTL(TPR_SHADOW) & ~NVMX_CTL(SECONDARY_CONTROLS));
    cr_assert_not(wanted(NVMX_EXIT_TPR_BELOW_THRESHOLD), "no TPR shadow");
    tpr_shadow(0x40, 5);
    set(VMCS12_ORD_VIRTUAL_APIC_PAGE_ADDR, UNBACKED);
    cr_assert_not(wanted(NVMX_EXIT_TPR_BELOW_THRESHOLD), "unbacked page reads VTPR FFH");
}

static bool eoi(uint8_t vector)
{
    return wanted_q(NVMX_EXIT_VIRTUALIZED_EOI, vector);
}

Test(reflect, virtualized_eoi_exits_to_l1_with_eoi_exit_bitmap_bit)
{
    set_proc2(NVMX_CTL(VIRTUAL_INTR_DELIVERY));
    set(VMCS12_ORD_EOI_EXIT_BITMAP0, 1ull << 0x31);
    set(VMCS12_ORD_EOI_EXIT_BITMAP3, 1ull << (0xF1 - 0xC0));
    cr_assert(eoi(0x31));
    cr_assert(eoi(0xF1));
}

Test(reflect, virtualized_eoi_stays_in_l0_without_eoi_exit_bitmap_bit)
{
    set_proc2(NVMX_CTL(VIRTUAL_INTR_DELIVERY));
    set(VMCS12_ORD_EOI_EXIT_BITMAP0, ~(1ull << 0x31));
    cr_assert_not(eoi(0x31));
    set(VMCS12_ORD_EOI_EXIT_BITMAP0, ~0ull);
    set_proc2_inactive(NVMX_CTL(VIRTUAL_INTR_DELIVERY));
    cr_assert_not(eoi(0x31), "secondary controls not activated");
}

Test(reflect, apic_write_exits_to_l1_with_apic_virtualization)
{
    set_proc2(NVMX_CTL(VIRTUALIZE_APIC_ACCESSES));
    cr_assert(wanted(NVMX_EXIT_APIC_WRITE));
    set_proc2(NVMX_CTL(VIRTUALIZE_X2APIC));
    cr_assert(wanted(NVMX_EXIT_APIC_WRITE));
}

Test(reflect, apic_write_stays_in_l0_without_apic_virtualization)
{
    set_proc2(0xFFFFFFFFull & ~(NVMX_CTL(VIRTUALIZE_APIC_ACCESSES) | NVMX_CTL(VIRTUALIZE_X2APIC)));
    cr_assert_not(wanted(NVMX_EXIT_APIC_WRITE));
    set_proc2_inactive(NVMX_CTL(VIRTUALIZE_APIC_ACCESSES) | NVMX_CTL(VIRTUALIZE_X2APIC));
    cr_assert_not(wanted(NVMX_EXIT_APIC_WRITE), "secondary controls not activated");
}

/* ---- VMFUNC (SDM 26.1.3, 26.5 "EPTP Switching") ------------------------------------------ */

/* A valid EPTP for the capabilities below: WB, 4-level walk. */
#define GOOD_EPTP (0x50000ull | (3u << EPTP_WALK_SHIFT) | MEMTYPE_WB)

static bool vmfunc(uint32_t function, uint64_t index)
{
    h.host.regs[NVMX_REG_RAX] = function;
    h.host.regs[NVMX_REG_RCX] = index;
    return wanted(NVMX_EXIT_VMFUNC);
}

static void use_eptp_switching(void)
{
    /* The default VM does not expose EPT: give L1 the EPT capabilities an EPTP is checked
     * against (IA32_VMX_EPT_VPID_CAP bits 6 and 14, SDM A.10). */
    h.vm->caps.ept_vpid_cap |= (1ull << 6) | (1ull << 14);
    set_proc2(NVMX_CTL(ENABLE_VMFUNC) | NVMX_CTL(EPT));
    set(VMCS12_ORD_VM_FUNCTION_CONTROL, 1); /* EPTP switching */
    set(VMCS12_ORD_EPTP_LIST_ADDRESS, EPTP_LIST);
    fake_host_write64(&h.host, EPTP_LIST + 8 * 5, GOOD_EPTP);
    fake_host_write64(&h.host, EPTP_LIST + 8 * 6,
                      GOOD_EPTP | (1u << 7)); /* shadow stack: not exposed */
    fake_host_write64(&h.host, EPTP_LIST + 8 * 7, (GOOD_EPTP & ~7ull) | 1u); /* WC: reserved */
}

Test(reflect, vmfunc_exits_to_l1_for_a_function_not_enabled)
{
    use_eptp_switching();
    cr_assert(vmfunc(1, 0), "function 1 is not enabled");
    cr_assert(vmfunc(63, 0), "function 63 is not enabled");
    set(VMCS12_ORD_VM_FUNCTION_CONTROL, 0);
    cr_assert(vmfunc(0, 5), "EPTP switching not enabled");
}

Test(reflect, vmfunc_exits_to_l1_when_eptp_switching_fails)
{
    use_eptp_switching();
    cr_assert(vmfunc(0, 512), "ECX >= 512");
    cr_assert(vmfunc(0, 6), "shadow-stack bit without the capability");
    cr_assert(vmfunc(0, 7), "reserved memory type");
    cr_assert(vmfunc(0, 8), "a zero entry has page-walk length 1, which is not exposed");
    set(VMCS12_ORD_EPTP_LIST_ADDRESS, UNBACKED);
    cr_assert(vmfunc(0, 5), "unbacked list reads as all ones");
}

Test(reflect, vmfunc_stays_in_l0_when_eptp_switching_succeeds)
{
    use_eptp_switching();
    cr_assert_not(vmfunc(0, 5));
    cr_assert_not(vmfunc(0, 0xFFFFFFFF00000005ull), "only ECX counts");
}

Test(reflect, vmfunc_stays_in_l0_without_enable_vm_functions)
{
    use_eptp_switching();
    set_proc2_inactive(NVMX_CTL(ENABLE_VMFUNC) | NVMX_CTL(EPT));
    cr_assert_not(vmfunc(1, 0), "VMFUNC is #UD for L2, not an exit to L1");
    set_proc2(NVMX_CTL(EPT));
    cr_assert_not(vmfunc(1, 0));
}

/* SDM 26.5.6.2, 31.3 VMFUNC: EAX > 63 is #UD (an exception of L2), never reason 59. */
Test(reflect, vmfunc_above_function_63_is_ud_not_an_exit)
{
    use_eptp_switching();
    set(VMCS12_ORD_VM_FUNCTION_CONTROL, ~0ull);
    cr_assert_not(vmfunc(64, 5));
    cr_assert_not(vmfunc(0xFFFFFFFF, 5));
    set(VMCS12_ORD_VM_FUNCTION_CONTROL, 1);
    h.host.regs[NVMX_REG_RAX] = 0xFFFFFFFF00000001ull;
    cr_assert(wanted(NVMX_EXIT_VMFUNC), "EAX is 1 (not enabled): bits 63:32 of RAX do not count");
}

/* ---- ENCLS, ENCLV, PCONFIG: 64-bit exiting bitmaps indexed by EAX (SDM 26.1.3) ------------ */

#define LEAF_BITMAP_TESTS(exits_name, stays_name, reason, control, bitmap)                         \
    Test(reflect, exits_name)                                                                      \
    {                                                                                              \
        set_proc2(control);                                                                        \
        set(bitmap, (1ull << 5) | (1ull << 62) | (1ull << 63));                                    \
        h.host.regs[NVMX_REG_RAX] = 5;                                                             \
        cr_assert(wanted(reason), "leaf 5");                                                       \
        h.host.regs[NVMX_REG_RAX] = 0xFFFFFFFF0000003Eull;                                         \
        cr_assert(wanted(reason), "leaf 62, EAX only");                                            \
        h.host.regs[NVMX_REG_RAX] = 1000;                                                          \
        cr_assert(wanted(reason), "bit 63 stands for every leaf >= 63");                           \
    }                                                                                              \
    Test(reflect, stays_name)                                                                      \
    {                                                                                              \
        set_proc2(control);                                                                        \
        set(bitmap, ~((1ull << 5) | (1ull << 63)));                                                \
        h.host.regs[NVMX_REG_RAX] = 5;                                                             \
        cr_assert_not(wanted(reason), "leaf 5 clear");                                             \
        h.host.regs[NVMX_REG_RAX] = 63;                                                            \
        cr_assert_not(wanted(reason), "leaf 63, bit 63 clear");                                    \
        set(bitmap, ~0ull);                                                                        \
        set_proc2(0xFFFFFFFFull & ~(uint64_t)(control));                                           \
        cr_assert_not(wanted(reason), "control clear");                                            \
        set_proc2_inactive(control);                                                               \
        cr_assert_not(wanted(reason), "secondary controls not activated");                         \
    }

LEAF_BITMAP_TESTS(encls_exits_to_l1_with_encls_exiting_bitmap_bit,
                  encls_stays_in_l0_without_encls_exiting_bitmap_bit, NVMX_EXIT_ENCLS,
                  NVMX_CTL(ENCLS_EXITING), VMCS12_ORD_ENCLS_EXITING_BITMAP)
LEAF_BITMAP_TESTS(enclv_exits_to_l1_with_enclv_exiting_bitmap_bit,
                  enclv_stays_in_l0_without_enclv_exiting_bitmap_bit, NVMX_EXIT_ENCLV,
                  NVMX_CTL(ENCLV_EXITING), VMCS12_ORD_ENCLV_EXITING_BITMAP)
LEAF_BITMAP_TESTS(pconfig_exits_to_l1_with_pconfig_exiting_bitmap_bit,
                  pconfig_stays_in_l0_without_pconfig_exiting_bitmap_bit, NVMX_EXIT_PCONFIG,
                  NVMX_CTL(PCONFIG), VMCS12_ORD_PCONFIG_EXITING_BITMAP)

/* ---- XSAVES/XRSTORS: EDX:EAX & IA32_XSS & XSS-exiting bitmap (SDM 26.1.3) ----------------- */

static uint64_t test_xss;

static nvmx_status xss_msr_read(void *vcpu_ctx, uint32_t index, uint64_t *value)
{
    (void)vcpu_ctx;
    if (index != 0xDA0)
        return NVMX_ERR_HOST;
    *value = test_xss;
    return NVMX_OK;
}

static bool xsaves(uint32_t reason, uint64_t edx_eax)
{
    h.host.regs[NVMX_REG_RDX] = (edx_eax >> 32) | 0xABCD00000000ull; /* high half ignored */
    h.host.regs[NVMX_REG_RAX] = (edx_eax & 0xFFFFFFFFull) | (0x1234ull << 32);
    return wanted(reason);
}

static void use_xss_exiting(uint64_t bitmap, uint64_t xss)
{
    h.vm->ops.msr_read = xss_msr_read;
    test_xss = xss;
    set_proc2(NVMX_CTL(XSAVES));
    set(VMCS12_ORD_XSS_EXIT_BITMAP, bitmap);
}

Test(reflect, xsaves_exits_to_l1_with_xss_exiting_bitmap_bit)
{
    use_xss_exiting(1ull << 40, 1ull << 40);
    cr_assert(xsaves(NVMX_EXIT_XSAVES, 1ull << 40));
}

Test(reflect, xsaves_stays_in_l0_without_xss_exiting_bitmap_bit)
{
    use_xss_exiting(~(1ull << 8), ~0ull);
    cr_assert_not(xsaves(NVMX_EXIT_XSAVES, 1ull << 8), "bitmap bit clear");
    use_xss_exiting(~0ull, ~(1ull << 8));
    cr_assert_not(xsaves(NVMX_EXIT_XSAVES, 1ull << 8), "IA32_XSS bit clear");
    use_xss_exiting(~0ull, ~0ull);
    set_proc2_inactive(NVMX_CTL(XSAVES));
    cr_assert_not(xsaves(NVMX_EXIT_XSAVES, ~0ull), "XSAVES is #UD for L2");
}

Test(reflect, xrstors_exits_to_l1_with_xss_exiting_bitmap_bit)
{
    use_xss_exiting(1ull << 11, 1ull << 11);
    cr_assert(xsaves(NVMX_EXIT_XRSTORS, (1ull << 11) | 3));
}

Test(reflect, xrstors_stays_in_l0_without_xss_exiting_bitmap_bit)
{
    use_xss_exiting(1ull << 11, 1ull << 11);
    cr_assert_not(xsaves(NVMX_EXIT_XRSTORS, ~(1ull << 11)), "EDX:EAX bit clear");
}

/* Without the msr_read op IA32_XSS is unknown: every component counts as enabled. */
Test(reflect, xsaves_without_msr_read_op_uses_bitmap_and_edx_eax)
{
    use_xss_exiting(1ull << 12, 0);
    h.vm->ops.msr_read = NULL;
    cr_assert(xsaves(NVMX_EXIT_XSAVES, 1ull << 12));
    cr_assert_not(xsaves(NVMX_EXIT_XSAVES, 1ull << 13));
}

/* ---- The table ----------------------------------------------------------------------------- */

static const uint32_t listed_reasons[] = {
#define LISTED_REASON(name, number) number,
    NVMX_EXIT_REASON_LIST(LISTED_REASON)
#undef LISTED_REASON
};

Test(reflect, every_exit_reason_has_a_rule_name)
{
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(listed_reasons); i++) {
        uint32_t reason = listed_reasons[i];
        const char *name = exit_reflection_rule_name(reason);
        cr_assert_not_null(name, "exit reason %u (%s) has no reflection rule", reason,
                           nvmx_exit_reason_name(reason));
        cr_assert_not_null(strchr(name, '.'), "rule name \"%s\" is <reason>.<condition>", name);
        for (unsigned j = 0; j < i; j++)
            cr_assert_str_neq(name, exit_reflection_rule_name(listed_reasons[j]),
                              "rule names are unique");
    }
}

Test(reflect, unused_exit_reasons_have_no_rule)
{
    uint32_t unused[] = {35, 38, 42, 71, 80, 255, NVMX_EXIT_UNDECODED, 0x80000021u};
    set_all_controls();
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(unused); i++) {
        cr_assert_null(exit_reflection_rule_name(unused[i]), "reason %u", unused[i]);
        cr_assert_not(wanted(unused[i]), "reason %u", unused[i]);
    }
}

Test(reflect, rule_names_are_the_stable_ones)
{
    cr_assert_str_eq(exit_reflection_rule_name(NVMX_EXIT_CPUID), "cpuid.unconditional");
    cr_assert_str_eq(exit_reflection_rule_name(NVMX_EXIT_HLT), "hlt.hlt_exiting");
    cr_assert_str_eq(exit_reflection_rule_name(NVMX_EXIT_IO_INSTRUCTION),
                     "io.bitmaps_or_unconditional");
    cr_assert_str_eq(exit_reflection_rule_name(NVMX_EXIT_RDMSR), "msr_read.msr_bitmap");
    cr_assert_str_eq(exit_reflection_rule_name(NVMX_EXIT_CR_ACCESS), "cr_access.masks_and_targets");
    cr_assert_str_eq(exit_reflection_rule_name(NVMX_EXIT_EXCEPTION_NMI),
                     "exception.bitmap_and_pf_filter");
}

/* Without L2 running from a vmcs12 nothing is L1's. */
Test(reflect, nothing_is_wanted_outside_guest_mode)
{
    h.vcpu->guest_mode = false;
    cr_assert_not(wanted(NVMX_EXIT_CPUID));
    h.vcpu->guest_mode = true;
    cr_assert(wanted(NVMX_EXIT_CPUID));
}

/* ---- VMX-preemption timer and MTF: state of the last VM entry ------------------------------ */

/* SDM 26.7.1: L1's timer causes an exit only once it has counted down to 0; an earlier
 * reason-52 exit is vmcs02's timer (L0's own, or L1's share refreshed by L0). */
Test(reflect, preemption_timer_before_l1_deadline_stays_in_l0)
{
    set_pin(NVMX_CTL(PREEMPTION_TIMER));
    h.vcpu->timer_deadline = 1000;
    h.host.tsc = 999;
    cr_assert_not(wanted(NVMX_EXIT_PREEMPTION_TIMER));
    h.host.tsc = 1000;
    cr_assert(wanted(NVMX_EXIT_PREEMPTION_TIMER));
}

/* SDM 26.7.2, 27.7.2: a pending MTF VM exit injected by L1's VM entry is L1's even without the
 * "monitor trap flag" control. */
Test(reflect, mtf_after_injected_pending_mtf_exits_to_l1_without_the_control)
{
    set_proc(0);
    cr_assert_not(wanted(NVMX_EXIT_MONITOR_TRAP_FLAG));
    h.vcpu->mtf_injected = true;
    cr_assert(wanted(NVMX_EXIT_MONITOR_TRAP_FLAG));
}
