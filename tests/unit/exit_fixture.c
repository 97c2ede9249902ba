/* SPDX-License-Identifier: MIT */
#include "exit_fixture.h"

#include <criterion/criterion.h>
#include <string.h>

/* L1 as it ran before VMLAUNCH: 64-bit, CPL 0, the fixture's host values. */
static void l1_state(exit_fixture *x)
{
    VMCS01(x, GUEST_CR0) = L1_CR0;
    VMCS01(x, GUEST_CR4) = L1_CR4;
    VMCS01(x, GUEST_IA32_EFER) = L1_EFER;
    VMCS01(x, GUEST_INTERRUPTIBILITY_INFO) = 0;
    /* L2 as it ran when it exited: the processor state whose values survive where an exit
     * loads nothing (SDM 28.5). */
    VMCS02(x, GUEST_CR0) = L1_CR0;
    VMCS02(x, GUEST_CR4) = L1_CR4;
    VMCS02(x, GUEST_IA32_EFER) = L1_EFER;
}

void exit_fixture_init(exit_fixture *x)
{
    memset(x, 0, sizeof(*x));
    entry_fixture_init(&x->f);
    nvmx_status status =
        vmcs12_cache_load(&x->f.vm, &x->f.vcpu.cache, EXIT_VMCS12_GPA, NULL, &x->cur);
    cr_assert_eq(status, NVMX_OK);
    memcpy(x->cur->data.field, x->f.v.field, sizeof(x->cur->data.field));
    memset(x->cur->data.dirty, 0, sizeof(x->cur->data.dirty));
    x->cur->revision = NVMX_VMCS_REVISION_ID;
    x->cur->abort = 0;
    x->cur->launch_state = VMCS12_STATE_LAUNCHED;
    x->f.vcpu.current = x->cur;
    x->f.vcpu.current_vmptr = EXIT_VMCS12_GPA;
    x->f.vcpu.guest_mode = true;
    /* vmcs02 holds L2's state: the fixture's guest fields (and a copy of the rest). */
    memcpy(x->f.host.vmcs[NVMX_HW_VMCS02], x->f.v.field, sizeof(x->f.v.field));
    l1_state(x);
}

void exit_fixture_fini(exit_fixture *x)
{
    entry_fixture_fini(&x->f);
}

void exit_fixture_msr_list(exit_fixture *x, uint64_t gpa, const uint64_t entries[][2], unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        fake_host_write64(&x->f.host, gpa + 16 * i, entries[i][0]);
        fake_host_write64(&x->f.host, gpa + 16 * i + 8, entries[i][1]);
    }
}

nested_exit exit_fixture_cpuid(void)
{
    return (nested_exit){.pending = true, .reason = NVMX_EXIT_CPUID, .instruction_length = 2};
}

nvmx_run exit_fixture_exit(exit_fixture *x, const nested_exit *e)
{
    nvmx_run run = NVMX_RUN_L2;
    cr_assert_eq(vm_exit_to_l1(&x->f.vcpu, e, &run), NVMX_OK);
    return run;
}

void exit_fixture_exit_ok(exit_fixture *x)
{
    nested_exit e = exit_fixture_cpuid();
    cr_assert_eq(exit_fixture_exit(x, &e), NVMX_RUN_L1);
    cr_assert_not(x->f.vcpu.guest_mode);
}
