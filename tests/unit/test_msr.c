/* SPDX-License-Identifier: MIT */
/* RDMSR/WRMSR of the VMX capability MSRs and IA32_FEATURE_CONTROL (lib/msr.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "fake_host.h"
#include "internal.h"

static fake_host host;
static nvmx_vm vm;
static nvmx_vcpu vcpu;

#define VMX_MSR_FIRST 0x480u
#define VMX_MSR_LAST 0x493u

/* A VM exposing the software host's full capability set, and one vCPU out of VMX operation. */
static void setup(void)
{
    fake_host_init(&host, 4096);
    memset(&vm, 0, sizeof(vm));
    memset(&vcpu, 0, sizeof(vcpu));
    vm.ops = *fake_host_ops();
    vm.host_ctx = &host;
    vm.vmx_exposed = true;
    nvmx_caps_software_host(&vm.caps, 46);
    vcpu.vm = &vm;
    vcpu.ctx = &host;
    vcpu.feature_control = 0;
}

static void teardown(void)
{
    fake_host_fini(&host);
}

TestSuite(msr, .init = setup, .fini = teardown);

/* The value of an MSR in the caps struct, which is laid out in index order. */
static uint64_t caps_value(uint32_t index)
{
    uint64_t values[20];
    memcpy(values, &vm.caps, sizeof(values));
    return values[index - VMX_MSR_FIRST];
}

static msr_result read_msr(uint32_t index, uint64_t *value)
{
    *value = 0xDEADBEEFull;
    return vmx_msr_read(&vcpu, index, value);
}

static void assert_absent(uint32_t index)
{
    uint64_t value;
    cr_assert_eq(read_msr(index, &value), MSR_GP, "MSR %#x", index);
    cr_assert_eq(value, 0xDEADBEEFull, "value untouched on #GP");
}

static void assert_present(uint32_t index)
{
    uint64_t value;
    cr_assert_eq(read_msr(index, &value), MSR_HANDLED, "MSR %#x", index);
    cr_assert_eq(value, caps_value(index), "MSR %#x", index);
}

/* SDM A.1: the struct is in MSR order, which caps_value relies on. */
Test(msr, caps_struct_is_in_msr_index_order)
{
    cr_assert_eq(sizeof(nvmx_vmx_caps), 20 * sizeof(uint64_t));
    cr_assert_eq(offsetof(nvmx_vmx_caps, vmcs_enum) / 8,
                 NVMX_MSR_IA32_VMX_VMCS_ENUM - VMX_MSR_FIRST);
    cr_assert_eq(offsetof(nvmx_vmx_caps, exit2) / 8, NVMX_MSR_IA32_VMX_EXIT_CTLS2 - VMX_MSR_FIRST);
}

/* SDM Appendix A: with everything exposed, every VMX MSR reads the exposed value. */
Test(msr, vmx_capability_msrs_read_the_exposed_values)
{
    for (uint32_t index = VMX_MSR_FIRST; index <= VMX_MSR_LAST; index++)
        assert_present(index);
}

/* SDM A.1: without VMX (CPUID.1:ECX.VMX = 0) the VMX MSRs do not exist: #GP. */
Test(msr, vmx_msrs_raise_gp_when_vmx_not_exposed)
{
    vm.vmx_exposed = false;
    for (uint32_t index = VMX_MSR_FIRST; index <= VMX_MSR_LAST; index++) {
        assert_absent(index);
        cr_assert_eq(vmx_msr_write(&vcpu, index, 0), MSR_GP, "MSR %#x", index);
    }
}

/* Without VMX, IA32_FEATURE_CONTROL is the embedder's (other features live in it). */
Test(msr, feature_control_is_not_ours_when_vmx_not_exposed)
{
    vm.vmx_exposed = false;
    uint64_t value;
    cr_assert_eq(read_msr(NVMX_MSR_IA32_FEATURE_CONTROL, &value), MSR_NOT_OURS);
    cr_assert_eq(vmx_msr_write(&vcpu, NVMX_MSR_IA32_FEATURE_CONTROL, 5), MSR_NOT_OURS);
    cr_assert_eq(vcpu.feature_control, 0);
}

/* SDM Appendix A: the VMX capability MSRs are read-only: WRMSR raises #GP. */
Test(msr, vmx_capability_msrs_are_read_only)
{
    nvmx_vmx_caps before = vm.caps;
    for (uint32_t index = VMX_MSR_FIRST; index <= VMX_MSR_LAST; index++) {
        cr_assert_eq(vmx_msr_write(&vcpu, index, 0), MSR_GP, "MSR %#x", index);
        cr_assert_eq(vmx_msr_write(&vcpu, index, caps_value(index)), MSR_GP, "MSR %#x", index);
    }
    cr_assert_eq(memcmp(&before, &vm.caps, sizeof(before)), 0);
}

/* SDM A.3.3: PROCBASED_CTLS2 exists only if "activate secondary controls" is allowed-1. */
Test(msr, procbased_ctls2_absent_without_secondary_controls)
{
    vm.caps.procbased &= ~(NVMX_CTL(SECONDARY_CONTROLS) << 32);
    assert_absent(NVMX_MSR_IA32_VMX_PROCBASED_CTLS2);
    vm.caps.procbased |= NVMX_CTL(SECONDARY_CONTROLS); /* allowed-0 alone does not count */
    assert_absent(NVMX_MSR_IA32_VMX_PROCBASED_CTLS2);
}

/* SDM A.10: EPT_VPID_CAP exists only if "enable EPT" or "enable VPID" is allowed-1. */
Test(msr, ept_vpid_cap_absent_without_ept_and_vpid)
{
    vm.caps.procbased2 &= ~(NVMX_CTL(EPT) << 32);
    assert_present(NVMX_MSR_IA32_VMX_EPT_VPID_CAP);
    vm.caps.procbased2 |= NVMX_CTL(EPT) << 32;
    vm.caps.procbased2 &= ~(NVMX_CTL(VPID) << 32);
    assert_present(NVMX_MSR_IA32_VMX_EPT_VPID_CAP);
    vm.caps.procbased2 &= ~(NVMX_CTL(EPT) << 32);
    assert_absent(NVMX_MSR_IA32_VMX_EPT_VPID_CAP);
}

/* SDM A.1: the TRUE MSRs exist only if IA32_VMX_BASIC[55] is 1. */
Test(msr, true_msrs_absent_without_true_ctls)
{
    vm.caps.basic &= ~NVMX_CTL(TRUE_CTLS);
    assert_absent(NVMX_MSR_IA32_VMX_TRUE_PINBASED_CTLS);
    assert_absent(NVMX_MSR_IA32_VMX_TRUE_PROCBASED_CTLS);
    assert_absent(NVMX_MSR_IA32_VMX_TRUE_EXIT_CTLS);
    assert_absent(NVMX_MSR_IA32_VMX_TRUE_ENTRY_CTLS);
    assert_present(NVMX_MSR_IA32_VMX_PINBASED_CTLS);
}

/* SDM A.11: VMFUNC exists only if "enable VM functions" is allowed-1. */
Test(msr, vmfunc_absent_without_enable_vmfunc)
{
    vm.caps.procbased2 &= ~(NVMX_CTL(ENABLE_VMFUNC) << 32);
    assert_absent(NVMX_MSR_IA32_VMX_VMFUNC);
}

/* SDM A.3.4: PROCBASED_CTLS3 exists only if "activate tertiary controls" is allowed-1. */
Test(msr, procbased_ctls3_absent_without_tertiary_controls)
{
    vm.caps.procbased &= ~(NVMX_CTL(TERTIARY_CONTROLS) << 32);
    assert_absent(NVMX_MSR_IA32_VMX_PROCBASED_CTLS3);
}

/* SDM A.4.2: EXIT_CTLS2 exists only if "activate secondary VM-exit controls" is allowed-1. */
Test(msr, exit_ctls2_absent_without_secondary_exit_controls)
{
    vm.caps.exit &= ~(NVMX_CTL(SECONDARY_EXIT_CONTROLS) << 32);
    assert_absent(NVMX_MSR_IA32_VMX_EXIT_CTLS2);
}

/* SDM A.3.3: a missing MSR is still read-only: WRMSR raises #GP, not "not ours". */
Test(msr, absent_vmx_msr_write_raises_gp)
{
    vm.caps.procbased &= ~(NVMX_CTL(SECONDARY_CONTROLS) << 32);
    cr_assert_eq(vmx_msr_write(&vcpu, NVMX_MSR_IA32_VMX_PROCBASED_CTLS2, 0), MSR_GP);
}

/* SDM 24.7: RDMSR of IA32_FEATURE_CONTROL returns this logical processor's value. */
Test(msr, feature_control_read_returns_the_vcpu_value)
{
    vcpu.feature_control = NVMX_FEATURE_CONTROL_LOCK | NVMX_FEATURE_CONTROL_VMX_OUTSIDE_SMX;
    uint64_t value;
    cr_assert_eq(read_msr(NVMX_MSR_IA32_FEATURE_CONTROL, &value), MSR_HANDLED);
    cr_assert_eq(value, 5);
}

/* SDM 24.7: once locked, WRMSR of IA32_FEATURE_CONTROL raises #GP until reset. */
Test(msr, feature_control_write_when_locked_raises_gp)
{
    vcpu.feature_control = NVMX_FEATURE_CONTROL_LOCK;
    cr_assert_eq(vmx_msr_write(&vcpu, NVMX_MSR_IA32_FEATURE_CONTROL, 5), MSR_GP);
    cr_assert_eq(vmx_msr_write(&vcpu, NVMX_MSR_IA32_FEATURE_CONTROL, 1), MSR_GP);
    cr_assert_eq(vcpu.feature_control, NVMX_FEATURE_CONTROL_LOCK);
}

/* SDM 24.7: unlocked, the lock and VMX-outside-SMX bits are written. */
Test(msr, feature_control_write_unlocked_stores_lock_and_vmx_outside_smx)
{
    cr_assert_eq(vmx_msr_write(&vcpu, NVMX_MSR_IA32_FEATURE_CONTROL, 4), MSR_HANDLED);
    cr_assert_eq(vcpu.feature_control, 4);
    cr_assert_eq(vmx_msr_write(&vcpu, NVMX_MSR_IA32_FEATURE_CONTROL, 0), MSR_HANDLED);
    cr_assert_eq(vcpu.feature_control, 0);
    cr_assert_eq(vmx_msr_write(&vcpu, NVMX_MSR_IA32_FEATURE_CONTROL, 5), MSR_HANDLED);
    cr_assert_eq(vcpu.feature_control, 5);
    cr_assert_eq(vmx_msr_write(&vcpu, NVMX_MSR_IA32_FEATURE_CONTROL, 4), MSR_GP, "now locked");
}

/* SDM 24.7: VMX inside SMX (bit 1) is reserved here because SMX is never exposed: #GP. */
Test(msr, feature_control_write_of_vmx_inside_smx_raises_gp)
{
    cr_assert_eq(
        vmx_msr_write(&vcpu, NVMX_MSR_IA32_FEATURE_CONTROL, NVMX_FEATURE_CONTROL_VMX_INSIDE_SMX),
        MSR_GP);
    cr_assert_eq(vcpu.feature_control, 0);
}

/* SDM Vol. 4 2.1: writing a reserved bit of IA32_FEATURE_CONTROL raises #GP. */
Test(msr, feature_control_write_of_reserved_bits_raises_gp)
{
    const uint64_t reserved[] = {1ull << 3,  1ull << 8,  1ull << 15,         1ull << 18,
                                 1ull << 20, 1ull << 63, 5ull | (1ull << 32)};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        cr_assert_eq(vmx_msr_write(&vcpu, NVMX_MSR_IA32_FEATURE_CONTROL, reserved[i]), MSR_GP,
                     "value %#llx", (unsigned long long)reserved[i]);
    cr_assert_eq(vcpu.feature_control, 0);
}

/* Only the VMX MSRs and IA32_FEATURE_CONTROL are the library's. */
Test(msr, other_msrs_are_not_ours)
{
    const uint32_t others[] = {0x0,   0x10,  0x39,        0x3B,        0x47F,
                               0x494, 0x4FF, 0xC0000080u, 0x80000480u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        uint64_t value;
        cr_assert_eq(read_msr(others[i], &value), MSR_NOT_OURS, "MSR %#x", others[i]);
        cr_assert_eq(vmx_msr_write(&vcpu, others[i], 0), MSR_NOT_OURS, "MSR %#x", others[i]);
    }
}

/* SDM Appendix A: with the library's own exposed set, the MSRs it does not expose are absent. */
Test(msr, library_exposed_set_hides_unimplemented_msrs)
{
    nvmx_vm_config config = {.expose_vmx = true, .phys_addr_width = 46};
    cr_assert_eq(capabilities_compute(&vm, &config), NVMX_OK);
    assert_present(NVMX_MSR_IA32_VMX_PROCBASED_CTLS2);
    assert_present(NVMX_MSR_IA32_VMX_TRUE_PROCBASED_CTLS);
    /* A.10, A.11: EPT and VPID (INVEPT, INVVPID) and VM functions are exposed. */
    assert_present(NVMX_MSR_IA32_VMX_EPT_VPID_CAP);
    assert_present(NVMX_MSR_IA32_VMX_VMFUNC);
    assert_absent(NVMX_MSR_IA32_VMX_PROCBASED_CTLS3);
    assert_absent(NVMX_MSR_IA32_VMX_EXIT_CTLS2);
}
