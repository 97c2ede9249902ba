/* SPDX-License-Identifier: MIT */
#include "vmx_harness.h"

#include <criterion/criterion.h>

void harness_init(harness *h, const nvmx_vm_config *config)
{
    fake_host_init(&h->host, HARNESS_RAM);
    nvmx_vm_config defaults;
    nvmx_vm_config_init(&defaults);
    nvmx_status s = nvmx_vm_create(config ? config : &defaults, fake_host_ops(), &h->host, &h->vm);
    cr_assert_eq(s, NVMX_OK, "vm_create: %s (%s)", nvmx_status_str(s), h->host.last_log);
    s = nvmx_vcpu_create(h->vm, &h->host, &h->vcpu);
    cr_assert_eq(s, NVMX_OK);
    harness_region(h, VMXON_REGION, NVMX_VMCS_REVISION_ID);
    harness_region(h, VMCS_A, NVMX_VMCS_REVISION_ID);
    harness_region(h, VMCS_B, NVMX_VMCS_REVISION_ID);
    harness_region(h, VMCS_C, NVMX_VMCS_REVISION_ID);
    harness_region(h, SHADOW_VMCS, NVMX_VMCS_REVISION_ID | VMCS12_SHADOW_INDICATOR);
}

void harness_fini(harness *h)
{
    nvmx_vcpu_destroy(h->vcpu);
    nvmx_vm_destroy(h->vm);
    cr_expect_eq(h->host.live_allocations, 0, "allocations leaked: %ld", h->host.live_allocations);
    cr_expect_eq(h->host.live_bytes, 0);
    cr_expect_eq(h->host.live_pages, 0, "pages leaked: %ld", h->host.live_pages);
    fake_host_fini(&h->host);
}

void harness_region(harness *h, uint64_t gpa, uint32_t revision)
{
    fake_host_write32(&h->host, gpa, revision);
}

nvmx_status harness_exit(harness *h, uint32_t reason, uint32_t info, uint64_t qualification)
{
    nvmx_exit exit = {.reason = reason,
                      .qualification = qualification,
                      .instruction_info = info,
                      .instruction_length = INSN_LENGTH};
    if (nvmx_vcpu_in_guest_mode(h->vcpu))
        return nvmx_on_l2_exit(h->vcpu, &exit, &h->next);
    return nvmx_on_l1_exit(h->vcpu, &exit, &h->next);
}

nvmx_status harness_pointer_insn(harness *h, uint32_t reason, uint64_t pointer)
{
    fake_host_write64(&h->host, OPERAND, pointer);
    h->host.regs[NVMX_REG_RAX] = OPERAND;
    return harness_exit(h, reason, INFO_MEM_RAX, 0);
}

void harness_vmxon_vmptrld(harness *h)
{
    cr_assert_eq(harness_pointer_insn(h, NVMX_EXIT_VMXON, VMXON_REGION), NVMX_OK);
    cr_assert(harness_succeeded(h), "VMXON failed");
    cr_assert_eq(harness_pointer_insn(h, NVMX_EXIT_VMPTRLD, VMCS_A), NVMX_OK);
    cr_assert(harness_succeeded(h), "VMPTRLD failed");
}

nvmx_status harness_vmread(harness *h, uint64_t encoding, uint64_t *value)
{
    h->host.regs[NVMX_REG_RCX] = encoding;
    h->host.regs[NVMX_REG_RAX] = 0xDEADBEEFDEADBEEFull;
    nvmx_status s = harness_exit(h, NVMX_EXIT_VMREAD, INFO_REGS(NVMX_REG_RAX, NVMX_REG_RCX), 0);
    if (value)
        *value = h->host.regs[NVMX_REG_RAX];
    return s;
}

nvmx_status harness_vmwrite(harness *h, uint64_t encoding, uint64_t value)
{
    h->host.regs[NVMX_REG_RCX] = encoding;
    h->host.regs[NVMX_REG_RAX] = value;
    return harness_exit(h, NVMX_EXIT_VMWRITE, INFO_REGS(NVMX_REG_RAX, NVMX_REG_RCX), 0);
}

static uint64_t arith_flags(const harness *h)
{
    return h->host.regs[NVMX_REG_RFLAGS] & NVMX_RFLAGS_ARITH;
}

bool harness_succeeded(const harness *h)
{
    return h->host.exception_count == 0 && arith_flags(h) == 0;
}

bool harness_failed_invalid(const harness *h)
{
    return h->host.exception_count == 0 && arith_flags(h) == NVMX_RFLAGS_CF;
}

bool harness_failed_valid(const harness *h, unsigned error_number)
{
    const vmcs12_cached *current = h->vcpu->current;
    return h->host.exception_count == 0 && arith_flags(h) == NVMX_RFLAGS_ZF && current &&
           vmcs12_get(&current->data, VMCS12_ORD_VM_INSTRUCTION_ERROR) == error_number;
}

const nvmx_exception *harness_single_exception(const harness *h)
{
    cr_assert_eq(h->host.exception_count, 1, "expected one exception, got %d",
                 h->host.exception_count);
    return &h->host.exceptions[0];
}
