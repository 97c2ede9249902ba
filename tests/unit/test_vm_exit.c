/* SPDX-License-Identifier: MIT */
/* VM exits to L1 (SDM Vol. 3C 28.2, 28.3, 28.7) and VM-entry failures (27.8). */
#include <criterion/criterion.h>
#include <string.h>

#include "exit_fixture.h"

static exit_fixture x;
static void setup(void)
{
    exit_fixture_init(&x);
}
static void teardown(void)
{
    exit_fixture_fini(&x);
}
TestSuite(vm_exit, .init = setup, .fini = teardown);

/* Every control the save table depends on, set. */
static void enable_every_save(void)
{
    V12(&x, VM_EXIT_CONTROLS) |= NVMX_CTL(EXIT_SAVE_DEBUG) | NVMX_CTL(EXIT_SAVE_PAT) |
                                 NVMX_CTL(EXIT_SAVE_EFER) | NVMX_CTL(EXIT_SAVE_PREEMPTION_TIMER) |
                                 NVMX_CTL(EXIT_SAVE_PERF_GLOBAL);
    V12(&x, CPU_BASED_VM_EXEC_CONTROL) |= NVMX_CTL(SECONDARY_CONTROLS);
    V12(&x, SECONDARY_VM_EXEC_CONTROL) |=
        NVMX_CTL(EPT) | NVMX_CTL(VIRTUAL_INTR_DELIVERY) | NVMX_CTL(PML);
}

/* A value for row i that differs from every other row's and from the vmcs12 slot. */
static uint64_t distinct(size_t i)
{
    return 0x5A00000000000000ull | ((uint64_t)(i + 1) << 24) | ((i + 1) * 0x0101u);
}

static bool dirty(unsigned ordinal)
{
    return V12_DIRTY(&x, ordinal);
}

/* ---- 28.2: exit information ------------------------------------------------------------- */

/* 28.2.1: bits 15:0 basic reason, bit 27 enclave mode kept; bits 31:28, 26:16 cleared. */
Test(vm_exit, exit_reason_keeps_basic_reason_and_enclave_bit_only)
{
    nested_exit e = exit_fixture_cpuid();
    e.reason = NVMX_EXIT_CPUID | (1u << 27) | (1u << 31) | (1u << 29) | (1u << 16);
    exit_fixture_exit(&x, &e);
    cr_assert_eq(V12(&x, VM_EXIT_REASON), NVMX_EXIT_CPUID | (1u << 27));
}

/* 28.2.1-28.2.5: qualification, interruption and IDT-vectoring information, instruction
 * length and information are all written from the exit. */
Test(vm_exit, every_exit_information_field_is_written)
{
    nested_exit e = {
        .reason = NVMX_EXIT_EXCEPTION_NMI,
        .qualification = 0xDEAD0000BEEFull,
        .interruption_info = (1u << 31) | (1u << 11) | (3u << 8) | 14u,
        .interruption_error_code = 0x6,
        .idt_vectoring_info = (1u << 31) | (4u << 8) | 0x80,
        .idt_vectoring_error_code = 0x11,
        .instruction_length = 2,
        .instruction_info = 0x1234,
    };
    exit_fixture_exit(&x, &e);
    cr_assert_eq(V12(&x, VM_EXIT_REASON), 0);
    cr_assert_eq(V12(&x, EXIT_QUALIFICATION), 0xDEAD0000BEEFull);
    cr_assert_eq(V12(&x, VM_EXIT_INTR_INFO), e.interruption_info);
    cr_assert_eq(V12(&x, VM_EXIT_INTR_ERROR_CODE), 0x6);
    cr_assert_eq(V12(&x, IDT_VECTORING_INFO_FIELD), e.idt_vectoring_info);
    cr_assert_eq(V12(&x, IDT_VECTORING_ERROR_CODE), 0x11);
    cr_assert_eq(V12(&x, VM_EXIT_INSTRUCTION_LEN), 2);
    cr_assert_eq(V12(&x, VMX_INSTRUCTION_INFO), 0x1234);
    const unsigned written[] = {
        VMCS12_ORD_VM_EXIT_REASON,           VMCS12_ORD_EXIT_QUALIFICATION,
        VMCS12_ORD_VM_EXIT_INTR_INFO,        VMCS12_ORD_VM_EXIT_INTR_ERROR_CODE,
        VMCS12_ORD_IDT_VECTORING_INFO_FIELD, VMCS12_ORD_IDT_VECTORING_ERROR_CODE,
        VMCS12_ORD_VM_EXIT_INSTRUCTION_LEN,  VMCS12_ORD_VMX_INSTRUCTION_INFO};
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(written); i++)
        cr_assert(dirty(written[i]), "%s not marked dirty", vmcs_field_table[written[i]].name);
}

/* 28.2.1: EPT violations define the guest-linear and guest-physical addresses. */
Test(vm_exit, ept_violation_writes_guest_linear_and_physical_address)
{
    nested_exit e = {.reason = NVMX_EXIT_EPT_VIOLATION,
                     .guest_linear_address = 0x7FFF0000,
                     .guest_physical_address = 0x123456};
    exit_fixture_exit(&x, &e);
    cr_assert_eq(V12(&x, GUEST_LINEAR_ADDRESS), 0x7FFF0000);
    cr_assert_eq(V12(&x, GUEST_PHYSICAL_ADDRESS), 0x123456);
}

/* 28.2.1: EPT misconfigurations define the guest-physical address only; other reasons leave
 * both fields (undefined for them) as they were. */
Test(vm_exit, address_fields_written_only_where_the_reason_defines_them)
{
    V12(&x, GUEST_LINEAR_ADDRESS) = 0x1111;
    V12(&x, GUEST_PHYSICAL_ADDRESS) = 0x2222;
    nested_exit e = {.reason = NVMX_EXIT_EPT_MISCONFIG,
                     .guest_linear_address = 0x3333,
                     .guest_physical_address = 0x4444};
    exit_fixture_exit(&x, &e);
    cr_assert_eq(V12(&x, GUEST_LINEAR_ADDRESS), 0x1111);
    cr_assert_eq(V12(&x, GUEST_PHYSICAL_ADDRESS), 0x4444);

    exit_fixture_fini(&x);
    exit_fixture_init(&x);
    V12(&x, GUEST_LINEAR_ADDRESS) = 0x1111;
    V12(&x, GUEST_PHYSICAL_ADDRESS) = 0x2222;
    e.reason = NVMX_EXIT_CPUID;
    exit_fixture_exit(&x, &e);
    cr_assert_eq(V12(&x, GUEST_LINEAR_ADDRESS), 0x1111);
    cr_assert_eq(V12(&x, GUEST_PHYSICAL_ADDRESS), 0x2222);
}

/* 28.2.1: INS/OUTS (I/O instruction) and LMSW (control-register access) define the
 * guest-linear address. */
Test(vm_exit, io_and_cr_access_exits_write_the_guest_linear_address)
{
    nested_exit e = {.reason = NVMX_EXIT_IO_INSTRUCTION, .guest_linear_address = 0x5000};
    exit_fixture_exit(&x, &e);
    cr_assert_eq(V12(&x, GUEST_LINEAR_ADDRESS), 0x5000);
    exit_fixture_fini(&x);
    exit_fixture_init(&x);
    e = (nested_exit){.reason = NVMX_EXIT_CR_ACCESS, .guest_linear_address = 0x6000};
    exit_fixture_exit(&x, &e);
    cr_assert_eq(V12(&x, GUEST_LINEAR_ADDRESS), 0x6000);
}

/* 28.2: every VM exit clears the valid bit of the VM-entry interruption information. */
Test(vm_exit, exit_clears_the_valid_bit_of_entry_interruption_info)
{
    V12(&x, VM_ENTRY_INTR_INFO_FIELD) = NVMX_INTR_INFO_VALID | (3u << 8) | 13u;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(V12(&x, VM_ENTRY_INTR_INFO_FIELD), (3u << 8) | 13u);
}

/* ---- 28.3: saving guest state ------------------------------------------------------------- */

/* 28.3: every field of the save table goes from vmcs02 to vmcs12 (cut to its width, the bits
 * the SDM saves as 0 cleared) and is marked dirty. */
Test(vm_exit, every_saved_guest_field_is_copied_from_vmcs02)
{
    enable_every_save();
    for (size_t i = 0; i < exit_saved_field_count; i++) {
        const exit_saved_field *f = &exit_saved_fields[i];
        x.f.host.vmcs[NVMX_HW_VMCS02][f->ordinal] = distinct(i);
        if (f->ordinal == VMCS12_ORD_GUEST_IA32_EFER) /* stay in IA-32e mode (abort 6) */
            x.f.host.vmcs[NVMX_HW_VMCS02][f->ordinal] |= NVMX_EFER_LMA | NVMX_EFER_LME;
    }
    exit_fixture_exit_ok(&x);
    for (size_t i = 0; i < exit_saved_field_count; i++) {
        const exit_saved_field *f = &exit_saved_fields[i];
        /* L1's timer value comes from L1's deadline, not vmcs02 (its own test below). */
        if (f->ordinal == VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE)
            continue;
        uint64_t expected = x.f.host.vmcs[NVMX_HW_VMCS02][f->ordinal] & f->keep &
                            vmcs_field_width_mask(f->encoding);
        cr_assert_eq(x.cur->data.field[f->ordinal], expected, "%s: %#lx, expected %#lx",
                     vmcs_field_table[f->ordinal].name, x.cur->data.field[f->ordinal], expected);
        cr_assert(dirty(f->ordinal), "%s not marked dirty", vmcs_field_table[f->ordinal].name);
    }
    cr_assert(x.cur->memory_stale);
}

/* The guest-state fields an exit does not save (28.3), each with the reason. */
static bool not_saved_by_design(unsigned ordinal)
{
    static const unsigned excluded[] = {
        VMCS12_ORD_VMCS_LINK_POINTER, /* 28.3.4: not saved */
        VMCS12_ORD_GUEST_SMBASE,      /* saved only by SMM VM exits */
        /* FRED and IA32_SPEC_CTRL: their capabilities are not in features.h */
        VMCS12_ORD_GUEST_IA32_FRED_CONFIG, VMCS12_ORD_GUEST_IA32_FRED_RSP1,
        VMCS12_ORD_GUEST_IA32_FRED_RSP2, VMCS12_ORD_GUEST_IA32_FRED_RSP3,
        VMCS12_ORD_GUEST_IA32_FRED_STKLVLS, VMCS12_ORD_GUEST_IA32_FRED_SSP1,
        VMCS12_ORD_GUEST_IA32_FRED_SSP2, VMCS12_ORD_GUEST_IA32_FRED_SSP3,
        VMCS12_ORD_GUEST_IA32_SPEC_CTRL};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(excluded); i++) {
        if (excluded[i] == ordinal)
            return true;
    }
    return false;
}

/* 28.3: the save table covers every guest-state field but the ones 28.3 does not save. */
Test(vm_exit, save_table_covers_every_guest_state_field)
{
    for (unsigned ord = 0; ord < VMCS12_FIELD_COUNT; ord++) {
        if (NVMX_FIELD_TYPE(vmcs_field_table[ord].encoding) != NVMX_FIELD_TYPE_GUEST ||
            not_saved_by_design(ord))
            continue;
        bool found = false;
        for (size_t i = 0; i < exit_saved_field_count; i++)
            found |= exit_saved_fields[i].ordinal == ord &&
                     exit_saved_fields[i].encoding == vmcs_field_table[ord].encoding;
        cr_assert(found, "guest-state field %s is not in the save table",
                  vmcs_field_table[ord].name);
    }
}

/* 28.3.1: with "save debug controls" 0, DR7 and IA32_DEBUGCTL are not saved. */
Test(vm_exit, save_debug_controls_0_leaves_dr7_and_debugctl)
{
    V12(&x, VM_EXIT_CONTROLS) &= ~NVMX_CTL(EXIT_SAVE_DEBUG);
    V12(&x, GUEST_DR7) = 0x400;
    V12(&x, GUEST_IA32_DEBUGCTL) = 0;
    VMCS02(&x, GUEST_DR7) = 0x455;
    VMCS02(&x, GUEST_IA32_DEBUGCTL) = 0x1;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(V12(&x, GUEST_DR7), 0x400);
    cr_assert_eq(V12(&x, GUEST_IA32_DEBUGCTL), 0);
    cr_assert_not(dirty(VMCS12_ORD_GUEST_DR7));
}

/* 28.3.1, 28.3.4: a field saved under a control is left as it was when that control is 0
 * (save IA32_PAT/EFER/PERF_GLOBAL_CTRL, preemption timer value; EPT PDPTEs, guest
 * interrupt status with virtual-interrupt delivery, PML index). */
Test(vm_exit, controlled_fields_are_not_saved_with_their_control_0)
{
    enable_every_save();
    for (size_t i = 0; i < exit_saved_field_count; i++) {
        const exit_saved_field *f = &exit_saved_fields[i];
        if (!f->exit_control && !f->proc2_control)
            continue;
        V12(&x, VM_EXIT_CONTROLS) &= ~(uint64_t)f->exit_control;
        V12(&x, SECONDARY_VM_EXEC_CONTROL) &= ~(uint64_t)f->proc2_control;
        x.cur->data.field[f->ordinal] = 0x77;
        x.f.host.vmcs[NVMX_HW_VMCS02][f->ordinal] = 0x66;
    }
    exit_fixture_exit_ok(&x);
    for (size_t i = 0; i < exit_saved_field_count; i++) {
        const exit_saved_field *f = &exit_saved_fields[i];
        if (f->exit_control || f->proc2_control)
            cr_assert_eq(x.cur->data.field[f->ordinal], 0x77, "%s was saved",
                         vmcs_field_table[f->ordinal].name);
    }
}

/* 28.3.2: access rights are saved with bits 31:17 and 11:8 cleared. */
Test(vm_exit, access_rights_saved_without_reserved_bits)
{
    VMCS02(&x, GUEST_DS_AR_BYTES) = 0xFFFFFFFF;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(V12(&x, GUEST_DS_AR_BYTES), 0x1F0FF);
}

/* 28.3.4: an exit that ends outside SMM saves blocking by SMI as 0. */
Test(vm_exit, interruptibility_saved_without_smi_blocking)
{
    VMCS02(&x, GUEST_INTERRUPTIBILITY_INFO) = 0xF;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(V12(&x, GUEST_INTERRUPTIBILITY_INFO), 0xB);
}

/* 28.2: with IA32_VMX_MISC[5], IA32_EFER.LMA is stored into "IA-32e mode guest". */
Test(vm_exit, ia32e_mode_guest_control_follows_the_saved_efer_lma)
{
    V12(&x, VM_ENTRY_CONTROLS) |= NVMX_CTL(ENTRY_IA32E_MODE);
    VMCS02(&x, GUEST_IA32_EFER) = 0;
    exit_fixture_exit_ok(&x);
    cr_assert_not(V12(&x, VM_ENTRY_CONTROLS) & NVMX_CTL(ENTRY_IA32E_MODE));
    cr_assert(dirty(VMCS12_ORD_VM_ENTRY_CONTROLS));

    exit_fixture_fini(&x);
    exit_fixture_init(&x);
    V12(&x, VM_ENTRY_CONTROLS) &= ~NVMX_CTL(ENTRY_IA32E_MODE);
    VMCS02(&x, GUEST_IA32_EFER) = NVMX_EFER_LMA | NVMX_EFER_LME;
    exit_fixture_exit_ok(&x);
    cr_assert(V12(&x, VM_ENTRY_CONTROLS) & NVMX_CTL(ENTRY_IA32E_MODE));
}

/* ---- The vCPU after the exit ------------------------------------------------------------ */

/* The exit leaves L2: root operation, no pending exit, L1 runs, the region is stale. */
Test(vm_exit, exit_returns_to_l1_in_root_operation)
{
    x.f.vcpu.pending_exit = exit_fixture_cpuid();
    nvmx_run run = NVMX_RUN_L2;
    cr_assert_eq(vm_exit_to_l1(&x.f.vcpu, &x.f.vcpu.pending_exit, &run), NVMX_OK);
    cr_assert_eq(run, NVMX_RUN_L1);
    cr_assert_not(x.f.vcpu.guest_mode);
    cr_assert_not(x.f.vcpu.pending_exit.pending);
    cr_assert(x.cur->memory_stale);
    cr_assert_eq(V12(&x, VM_EXIT_REASON), NVMX_EXIT_CPUID);
}

/* An exit needs L2 running and a current VMCS. */
Test(vm_exit, exit_outside_guest_mode_is_a_state_error)
{
    nvmx_run run;
    nested_exit e = exit_fixture_cpuid();
    x.f.vcpu.guest_mode = false;
    cr_assert_eq(vm_exit_to_l1(&x.f.vcpu, &e, &run), NVMX_ERR_STATE);
    x.f.vcpu.guest_mode = true;
    x.f.vcpu.current = NULL;
    cr_assert_eq(vm_exit_to_l1(&x.f.vcpu, &e, &run), NVMX_ERR_STATE);
    x.f.vcpu.current = x.cur;
}

/* Without the hardware-VMCS ops there is no exit, and nothing changes. */
Test(vm_exit, exit_without_hw_vmcs_ops_is_unsupported)
{
    nvmx_run run;
    nested_exit e = exit_fixture_cpuid();
    x.f.vm.ops.hw_vmcs_write = NULL;
    cr_assert_eq(vm_exit_to_l1(&x.f.vcpu, &e, &run), NVMX_ERR_UNSUPPORTED);
    cr_assert(x.f.vcpu.guest_mode);
}

/* A failing vmcs02 read changes nothing: vmcs12, vmcs01 and the vCPU stay as they were. */
Test(vm_exit, vmcs02_read_failure_changes_nothing)
{
    uint64_t reason = V12(&x, VM_EXIT_REASON);
    x.f.host.fail_vmcs_read_at = 3;
    nvmx_run run;
    nested_exit e = exit_fixture_cpuid();
    cr_assert_eq(vm_exit_to_l1(&x.f.vcpu, &e, &run), NVMX_ERR_HOST);
    cr_assert(x.f.vcpu.guest_mode);
    cr_assert_eq(V12(&x, VM_EXIT_REASON), reason);
    cr_assert_eq(x.f.host.vmcs_writes[0] + x.f.host.vmcs_writes[1], 0);
    cr_assert_not(x.cur->memory_stale);
}

/* ---- 27.8: VM-entry failures ------------------------------------------------------------- */

static void enter_root_mode(void)
{
    x.f.vcpu.guest_mode = false;
}

/* 27.8: exit reason = basic reason | bit 31, qualification as given. */
Test(vm_exit, entry_failure_records_reason_with_bit_31_and_qualification)
{
    enter_root_mode();
    nvmx_run run = NVMX_RUN_L2;
    cr_assert_eq(vm_entry_failure_exit(&x.f.vcpu, NVMX_EXIT_ENTRY_FAIL_GUEST_STATE, 4, &run),
                 NVMX_OK);
    cr_assert_eq(run, NVMX_RUN_L1);
    cr_assert_eq(V12(&x, VM_EXIT_REASON), 0x80000000u | NVMX_EXIT_ENTRY_FAIL_GUEST_STATE);
    cr_assert_eq(V12(&x, EXIT_QUALIFICATION), 4);
    cr_assert(x.cur->memory_stale);
}

/* 27.8: the other exit-information fields, the VM-entry interruption information (valid bit
 * included) and the guest-state area are not modified. */
Test(vm_exit, entry_failure_leaves_guest_state_and_other_exit_information)
{
    enter_root_mode();
    V12(&x, VM_EXIT_INTR_INFO) = 0x80000b0e;
    V12(&x, IDT_VECTORING_INFO_FIELD) = 0x80000300;
    V12(&x, VM_EXIT_INSTRUCTION_LEN) = 3;
    V12(&x, VMX_INSTRUCTION_INFO) = 0x99;
    V12(&x, VM_ENTRY_INTR_INFO_FIELD) = NVMX_INTR_INFO_VALID | 0x30E;
    uint64_t before[VMCS12_FIELD_COUNT];
    memcpy(before, x.cur->data.field, sizeof(before));
    for (size_t i = 0; i < exit_saved_field_count; i++)
        x.f.host.vmcs[NVMX_HW_VMCS02][exit_saved_fields[i].ordinal] = distinct(i);
    nvmx_run run;
    cr_assert_eq(vm_entry_failure_exit(&x.f.vcpu, NVMX_EXIT_ENTRY_FAIL_MSR_LOADING, 2, &run),
                 NVMX_OK);
    for (unsigned ord = 0; ord < VMCS12_FIELD_COUNT; ord++) {
        if (ord == VMCS12_ORD_VM_EXIT_REASON || ord == VMCS12_ORD_EXIT_QUALIFICATION)
            continue;
        cr_assert_eq(x.cur->data.field[ord], before[ord], "%s changed", vmcs_field_table[ord].name);
    }
}

/* 27.8: host state is loaded as for a VM exit, blocking by NMI as before the entry. */
Test(vm_exit, entry_failure_loads_host_state_keeping_nmi_blocking)
{
    enter_root_mode();
    VMCS01(&x, GUEST_INTERRUPTIBILITY_INFO) = 0x9; /* STI + NMI */
    nvmx_run run;
    cr_assert_eq(vm_entry_failure_exit(&x.f.vcpu, NVMX_EXIT_ENTRY_FAIL_GUEST_STATE, 0, &run),
                 NVMX_OK);
    cr_assert_eq(VMCS01(&x, GUEST_RIP), 0x400000);
    cr_assert_eq(VMCS01(&x, GUEST_RFLAGS), 0x2);
    cr_assert_eq(VMCS01(&x, GUEST_INTERRUPTIBILITY_INFO), 0x8);
    cr_assert_not(x.f.vcpu.guest_mode);

    exit_fixture_fini(&x);
    exit_fixture_init(&x);
    enter_root_mode();
    VMCS01(&x, GUEST_INTERRUPTIBILITY_INFO) = 0;
    cr_assert_eq(vm_entry_failure_exit(&x.f.vcpu, NVMX_EXIT_ENTRY_FAIL_GUEST_STATE, 0, &run),
                 NVMX_OK);
    cr_assert_eq(VMCS01(&x, GUEST_INTERRUPTIBILITY_INFO), 0);
}

/* SDM 28.3.4, 26.7.1: "save VMX-preemption-timer value" stores what L1's timer holds: the
 * ticks of L1's rate (IA32_VMX_MISC[4:0]) left to its deadline, never vmcs02's value (which
 * counts at the host's rate toward a deadline that may be L0's). */
Test(vm_exit, saved_timer_value_is_what_l1_timer_has_left)
{
    enable_every_save();
    unsigned rate = (unsigned)(x.f.vm.caps.misc & 0x1F);
    x.f.vcpu.timer_active = true;
    x.f.host.tsc = 100ull << rate;
    x.f.vcpu.timer_deadline = 130ull << rate;
    VMCS02(&x, VMX_PREEMPTION_TIMER_VALUE) = 7;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(V12(&x, VMX_PREEMPTION_TIMER_VALUE), 30);
}

/* SDM 28.3.4: a deadline already passed saves 0. */
Test(vm_exit, saved_timer_value_is_zero_once_deadline_passed)
{
    enable_every_save();
    x.f.vcpu.timer_active = true;
    x.f.host.tsc = 5000;
    x.f.vcpu.timer_deadline = 4000;
    VMCS02(&x, VMX_PREEMPTION_TIMER_VALUE) = 7;
    exit_fixture_exit_ok(&x);
    cr_assert_eq(V12(&x, VMX_PREEMPTION_TIMER_VALUE), 0);
}
