/* SPDX-License-Identifier: MIT */
/*
 * The event entry points: which exits the library owns, the decode path for hosts without
 * VM-exit information, RDMSR/WRMSR of VMX MSRs, and the instructions whose main work comes later.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "vmx_harness.h"

static harness h;
static void setup(void)
{
    harness_init(&h, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(dispatch, .init = setup, .fini = teardown);

static nvmx_status run_bytes(const uint8_t *bytes, uint8_t length)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_UNDECODED, .bytes_length = length};
    memcpy(exit.bytes, bytes, length);
    return nvmx_on_l1_exit(h.vcpu, &exit, &h.next);
}

static nvmx_status run_msr(uint32_t reason, uint32_t index, uint64_t value)
{
    h.host.regs[NVMX_REG_RCX] = index;
    h.host.regs[NVMX_REG_RAX] = value & 0xFFFFFFFF;
    h.host.regs[NVMX_REG_RDX] = value >> 32;
    nvmx_exit exit = {.reason = reason, .instruction_length = 2};
    return nvmx_on_l1_exit(h.vcpu, &exit, &h.next);
}

/* Exits that are not nested-virtualization events go back to the embedder untouched. */
Test(dispatch, unrelated_exit_is_left_to_l0)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_CPUID, .instruction_length = 2};
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    cr_assert_eq(nvmx_on_l1_exit(h.vcpu, &exit, &h.next), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip);
}

/* Hosts without VM-exit information pass bytes: VMXON [rax] (F3 0F C7 30) works the same. */
Test(dispatch, decoded_vmxon_enters_vmx_operation)
{
    static const uint8_t vmxon_rax[] = {0xF3, 0x0F, 0xC7, 0x30};
    fake_host_write64(&h.host, OPERAND, VMXON_REGION);
    h.host.regs[NVMX_REG_RAX] = OPERAND;
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    cr_assert_eq(run_bytes(vmxon_rax, sizeof(vmxon_rax)), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    cr_assert(nvmx_vcpu_in_vmx_operation(h.vcpu));
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip + sizeof(vmxon_rax), "length from the decoder");
}

/* Bytes of a non-VMX instruction (the host's #UD trap caught something else) go back to L0. */
Test(dispatch, decoded_non_vmx_instruction_is_left_to_l0)
{
    static const uint8_t ud2[] = {0x0F, 0x0B};
    cr_assert_eq(run_bytes(ud2, sizeof(ud2)), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
    cr_assert_eq(h.host.exception_count, 0);
}

/* A byte count of 0 or more than 15 is an embedder error. */
Test(dispatch, decoded_exit_with_bad_byte_count_is_rejected)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_UNDECODED, .bytes_length = 16};
    cr_assert_eq(nvmx_on_l1_exit(h.vcpu, &exit, &h.next), NVMX_ERR_INVALID_ARGUMENT);
    exit.bytes_length = 0;
    cr_assert_eq(nvmx_on_l1_exit(h.vcpu, &exit, &h.next), NVMX_ERR_INVALID_ARGUMENT);
}

/* On a VM that does not expose VMX, VMX instructions raise #UD (CPUID.1:ECX.VMX = 0). */
Test(dispatch, vmx_instruction_without_exposed_vmx_is_ud)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.expose_vmx = false;
    harness_init(&h, &config);
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
    cr_assert_not(nvmx_vcpu_in_vmx_operation(h.vcpu));
}

/* SDM A.1: RDMSR of IA32_VMX_BASIC returns the exposed value in EDX:EAX and retires. */
Test(dispatch, rdmsr_of_vmx_basic_returns_exposed_value)
{
    nvmx_vmx_caps caps;
    nvmx_vm_get_caps(h.vm, &caps);
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    h.host.regs[NVMX_REG_RAX] = ~0ull;
    cr_assert_eq(run_msr(NVMX_EXIT_RDMSR, NVMX_MSR_IA32_VMX_BASIC, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(h.host.regs[NVMX_REG_RAX], caps.basic & 0xFFFFFFFF);
    cr_assert_eq(h.host.regs[NVMX_REG_RDX], caps.basic >> 32);
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip + 2);
    cr_assert_eq(caps.basic & 0x7FFFFFFF, NVMX_VMCS_REVISION_ID);
}

/* SDM A.1: the VMX capability MSRs are read-only: WRMSR raises #GP(0), RIP stays. */
Test(dispatch, wrmsr_of_vmx_capability_msr_is_gp)
{
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    cr_assert_eq(run_msr(NVMX_EXIT_WRMSR, NVMX_MSR_IA32_VMX_BASIC, 0), NVMX_OK);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_GP);
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip);
}

/* MSRs that are not VMX MSRs are the embedder's. */
Test(dispatch, other_msr_is_left_to_l0)
{
    cr_assert_eq(run_msr(NVMX_EXIT_RDMSR, 0xC0000080u, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
}

/* SDM 31.3 VMCALL: in VMX root operation without an SMM monitor -> VMfail(1). */
Test(dispatch, vmcall_in_root_fails_1)
{
    harness_vmxon_vmptrld(&h);
    harness_exit(&h, NVMX_EXIT_VMCALL, 0, 0);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMCALL_IN_ROOT));
}

/* SDM 31.3 VMCALL: outside VMX operation -> #UD. */
Test(dispatch, vmcall_outside_vmx_operation_is_ud)
{
    harness_exit(&h, NVMX_EXIT_VMCALL, 0, 0);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
}

/* SDM 31.3 VMLAUNCH: no current VMCS -> VMfailInvalid. */
Test(dispatch, vmlaunch_without_current_vmcs_fails_invalid)
{
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert(harness_failed_invalid(&h));
}

/* SDM 31.3 VMLAUNCH: a shadow VMCS as current VMCS -> VMfailInvalid. */
Test(dispatch, vmlaunch_of_shadow_vmcs_fails_invalid)
{
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, SHADOW_VMCS);
    harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0);
    cr_assert(harness_failed_invalid(&h));
}

/* SDM 27.2.2-27.2.4: a failed host-state check is VMfailValid(8), and the log names the check. */
Test(dispatch, vmlaunch_failing_a_host_state_check_fails_8)
{
    harness_vmxon_vmptrld(&h);
    harness_vmwrite(&h, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL, NVMX_PINBASED_DEFAULT1);
    harness_vmwrite(&h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL, NVMX_PROCBASED_DEFAULT1);
    harness_vmwrite(&h, NVMX_FIELD_VM_EXIT_CONTROLS, NVMX_EXIT_DEFAULT1);
    harness_vmwrite(&h, NVMX_FIELD_VM_ENTRY_CONTROLS, NVMX_ENTRY_DEFAULT1);
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_ENTRY_INVALID_HOST_STATE));
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip + INSN_LENGTH);
    cr_assert(strstr(h.host.last_log, "host.") != NULL, "log: %s", h.host.last_log);
    cr_assert_eq(h.vcpu->current->launch_state, VMCS12_STATE_CLEAR);
}

/* A VM that hides one feature by name (the policy of nvmx_vm_config). */
static void harness_without(const char *feature)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.disabled_features = &feature;
    config.disabled_feature_count = 1;
    harness_init(&h, &config);
}

/* SDM 31.3 INVEPT: #UD when EPT (or INVEPT) is not supported. */
Test(dispatch, invept_without_ept_is_ud)
{
    harness_without("vmx-ept");
    harness_vmxon_vmptrld(&h);
    harness_exit(&h, NVMX_EXIT_INVEPT, INFO_MEM_RAX, 0);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
}

/* SDM 31.3 INVVPID: #UD when VPID (or INVVPID) is not supported. */
Test(dispatch, invvpid_without_vpid_is_ud)
{
    harness_without("vmx-vpid");
    harness_vmxon_vmptrld(&h);
    harness_exit(&h, NVMX_EXIT_INVVPID, INFO_MEM_RAX, 0);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
}

/* SDM 31.3 VMFUNC: #UD in VMX root operation. */
Test(dispatch, vmfunc_in_root_is_ud)
{
    harness_vmxon_vmptrld(&h);
    harness_exit(&h, NVMX_EXIT_VMFUNC, 0, 0);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
}

/* The L1 and L2 entry points refuse to be called for the wrong level. */
Test(dispatch, wrong_level_entry_point_is_a_state_error)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_VMREAD};
    cr_assert_eq(nvmx_on_l2_exit(h.vcpu, &exit, &h.next), NVMX_ERR_STATE);
    h.vcpu->guest_mode = true;
    cr_assert_eq(nvmx_on_l1_exit(h.vcpu, &exit, &h.next), NVMX_ERR_STATE);
    h.vcpu->guest_mode = false;
}

/* SDM 31.3 VMLAUNCH: events blocked by MOV SS in L1 -> VMfailValid(26), before the launch
 * state is looked at. */
Test(dispatch, vmlaunch_blocked_by_mov_ss_fails_26)
{
    harness_vmxon_vmptrld(&h);
    h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_INTERRUPTIBILITY_INFO] = 2;
    h.vcpu->current->launch_state = VMCS12_STATE_LAUNCHED;
    harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS));
}

/* SDM 31.3 VMLAUNCH: a launched VMCS -> VMfailValid(4). */
Test(dispatch, vmlaunch_of_launched_vmcs_fails_4)
{
    harness_vmxon_vmptrld(&h);
    h.vcpu->current->launch_state = VMCS12_STATE_LAUNCHED;
    harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMLAUNCH_NONCLEAR_VMCS));
}

/* SDM 31.3 VMRESUME: a clear VMCS -> VMfailValid(5). */
Test(dispatch, vmresume_of_clear_vmcs_fails_5)
{
    harness_vmxon_vmptrld(&h);
    harness_exit(&h, NVMX_EXIT_VMRESUME, 0, 0);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMRESUME_NONLAUNCHED_VMCS));
}

/* SDM 31.3, 31.4 error 6: VMRESUME of a VMCS launched before VMXOFF and VMXON -> VMfailValid(6). */
Test(dispatch, vmresume_after_vmxoff_fails_6)
{
    harness_vmxon_vmptrld(&h);
    vmcs12_cached *a = h.vcpu->current;
    a->launch_state = VMCS12_STATE_LAUNCHED;
    a->launch_generation = h.vcpu->cache.generation;
    a->memory_stale = true;
    harness_exit(&h, NVMX_EXIT_VMXOFF, 0, 0);
    harness_vmxon_vmptrld(&h);
    harness_exit(&h, NVMX_EXIT_VMRESUME, 0, 0);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMRESUME_AFTER_VMXOFF));
}

/* A hardware-VMCS read op is needed to enter: without it the embedder is told, L1 untouched. */
Test(dispatch, vmlaunch_without_hw_vmcs_op_is_an_embedder_error)
{
    harness_fini(&h);
    fake_host_init(&h.host, HARNESS_RAM);
    nvmx_host_ops ops = *fake_host_ops();
    ops.hw_vmcs_read = NULL;
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    cr_assert_eq(nvmx_vm_create(&config, &ops, &h.host, &h.vm), NVMX_OK);
    cr_assert_eq(nvmx_vcpu_create(h.vm, &h.host, &h.vcpu), NVMX_OK);
    harness_region(&h, VMXON_REGION, NVMX_VMCS_REVISION_ID);
    harness_region(&h, VMCS_A, NVMX_VMCS_REVISION_ID);
    harness_vmxon_vmptrld(&h);
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_ERR_UNSUPPORTED);
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip);
    cr_assert(strstr(h.host.last_log, "hw_vmcs_read") != NULL);
}

/* SDM 27.2.1: a failed control check is VMfailValid(7), before any host-state check. */
Test(dispatch, vmlaunch_failing_a_control_check_fails_7)
{
    harness_vmxon_vmptrld(&h);
    harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_ENTRY_INVALID_CONTROL_FIELD));
    cr_assert(strstr(h.host.last_log, "controls.pin_based") != NULL, "log: %s", h.host.last_log);
}
