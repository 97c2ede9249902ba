/* SPDX-License-Identifier: MIT */
#include "sec_env.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

void sec_init(harness *h, const nvmx_vm_config *config, const nvmx_host_ops *ops)
{
    harness_init_with_ops(h, config, ops);
}

void sec_nested_init(harness *h, const nvmx_vm_config *config, const nvmx_host_ops *ops)
{
    harness_nested_init(h, config, ops);
}

/* VMsucceed as L1 sees it: RFLAGS lives in vmcs01 on the fake hardware host. */
static bool l1_succeeded(const harness *h)
{
    uint64_t rflags = h->host.vmcs_backed ? h->host.vmcs[h->host.running][VMCS12_ORD_GUEST_RFLAGS]
                                          : h->host.regs[NVMX_REG_RFLAGS];
    return h->host.exception_count == 0 && (rflags & NVMX_RFLAGS_ARITH) == 0;
}

uint64_t sec_vmread(harness *h, uint32_t field)
{
    uint64_t value;
    cr_assert_eq(harness_vmread(h, field, &value), NVMX_OK);
    cr_assert(l1_succeeded(h), "VMREAD %x failed", field);
    return value;
}

void sec_vmwrite(harness *h, uint32_t field, uint64_t value)
{
    cr_assert_eq(harness_vmwrite(h, field, value), NVMX_OK);
    cr_assert(l1_succeeded(h), "VMWRITE %x failed", field);
}

void sec_set_proc(harness *h, uint32_t proc, uint32_t proc2)
{
    if (proc2)
        proc |= NVMX_CTL(SECONDARY_CONTROLS);
    sec_vmwrite(h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL,
                sec_vmread(h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL) | proc);
    if (proc2)
        sec_vmwrite(h, NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL,
                    sec_vmread(h, NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL) | proc2);
}

void sec_launch(harness *h, uint32_t reason)
{
    cr_assert_eq(harness_exit(h, reason, 0, 0), NVMX_OK, "%s", h->host.last_log);
    cr_assert_eq(h->next.run, NVMX_RUN_L2, "entry failed: %s", h->host.last_log);
    cr_assert(nvmx_vcpu_in_guest_mode(h->vcpu));
    h->host.running = NVMX_HW_VMCS02;
}

nvmx_status sec_l2_exit(harness *h, const nvmx_exit *exit)
{
    nvmx_status status = nvmx_on_l2_exit(h->vcpu, exit, &h->next);
    if (h->next.run == NVMX_RUN_L1 || h->next.run == NVMX_RUN_SHUTDOWN_L1)
        h->host.running = NVMX_HW_VMCS01;
    return status;
}

nvmx_status sec_l2_exit_simple(harness *h, uint32_t reason, uint32_t length)
{
    nvmx_exit exit = {.reason = reason, .instruction_length = length};
    return sec_l2_exit(h, &exit);
}

void sec_l1_enables_eptp_switching(harness *h, uint64_t eptp, uint64_t list_gpa)
{
    sec_set_proc(h, 0, NVMX_CTL(EPT) | NVMX_CTL(ENABLE_VMFUNC));
    sec_vmwrite(h, NVMX_FIELD_EPT_POINTER, eptp);
    sec_vmwrite(h, NVMX_FIELD_VM_FUNCTION_CONTROL, NVMX_CTL(EPTP_SWITCHING));
    sec_vmwrite(h, NVMX_FIELD_EPTP_LIST_ADDRESS, list_gpa);
}

nvmx_status sec_l2_vmfunc(harness *h, uint64_t rax, uint64_t rcx)
{
    h->host.regs[NVMX_REG_RAX] = rax;
    h->host.regs[NVMX_REG_RCX] = rcx;
    nvmx_exit exit = {.reason = NVMX_EXIT_VMFUNC, .instruction_length = SEC_VMFUNC_LENGTH};
    return sec_l2_exit(h, &exit);
}

void sec_snapshot_take(const harness *h, sec_snapshot *s)
{
    memcpy(s->regs, h->host.regs, sizeof(s->regs));
    memcpy(s->segs, h->host.segs, sizeof(s->segs));
    memcpy(s->vmcs, h->host.vmcs, sizeof(s->vmcs));
    s->ram = malloc(SEC_RAM_WINDOW);
    cr_assert_not_null(s->ram);
    memcpy(s->ram, h->host.ram, SEC_RAM_WINDOW);
    s->exception_count = h->host.exception_count;
    s->vmx_operation = h->vcpu->vmx_operation;
    s->guest_mode = h->vcpu->guest_mode;
    s->current_vmptr = h->vcpu->current_vmptr;
    s->live_allocations = h->host.live_allocations;
}

void sec_snapshot_free(sec_snapshot *s)
{
    free(s->ram);
    s->ram = NULL;
}

static bool excepted(const int *except, unsigned ordinal)
{
    for (; except && *except >= 0; except++) {
        if ((unsigned)*except == ordinal)
            return true;
    }
    return false;
}

void sec_assert_unchanged_except(const harness *h, const sec_snapshot *s, const int *vmcs01_except)
{
    for (int r = 0; r < NVMX_REG_COUNT; r++)
        cr_assert_eq(h->host.regs[r], s->regs[r], "register %d changed", r);
    cr_assert(memcmp(h->host.segs, s->segs, sizeof(s->segs)) == 0, "segments changed");
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        if (!excepted(vmcs01_except, i))
            cr_assert_eq(h->host.vmcs[NVMX_HW_VMCS01][i], s->vmcs[NVMX_HW_VMCS01][i],
                         "vmcs01 %s changed", vmcs_field_table[i].name);
        cr_assert_eq(h->host.vmcs[NVMX_HW_VMCS02][i], s->vmcs[NVMX_HW_VMCS02][i],
                     "vmcs02 %s changed", vmcs_field_table[i].name);
    }
    if (memcmp(h->host.ram, s->ram, SEC_RAM_WINDOW) != 0) {
        size_t i = 0;
        while (h->host.ram[i] == s->ram[i])
            i++;
        cr_assert_fail("L1 RAM changed at %zx", i);
    }
    cr_assert_eq(h->vcpu->vmx_operation, s->vmx_operation);
    cr_assert_eq(h->vcpu->guest_mode, s->guest_mode);
    cr_assert_eq(h->vcpu->current_vmptr, s->current_vmptr);
    cr_assert_eq(h->host.live_allocations, s->live_allocations, "allocations changed");
}

void sec_assert_unchanged(const harness *h, const sec_snapshot *s)
{
    sec_assert_unchanged_except(h, s, NULL);
    cr_assert_eq(h->host.exception_count, s->exception_count);
}
