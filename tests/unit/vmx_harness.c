/* SPDX-License-Identifier: MIT */
#include "vmx_harness.h"

#include "entry_fixture.h"

#include <criterion/criterion.h>

void harness_init_with_ops(harness *h, const nvmx_vm_config *config, const nvmx_host_ops *ops)
{
    fake_host_init(&h->host, HARNESS_RAM);
    nvmx_vm_config defaults;
    nvmx_vm_config_init(&defaults);
    nvmx_status s =
        nvmx_vm_create(config ? config : &defaults, ops ? ops : fake_host_ops(), &h->host, &h->vm);
    cr_assert_eq(s, NVMX_OK, "vm_create: %s (%s)", nvmx_status_str(s), h->host.last_log);
    s = nvmx_vcpu_create(h->vm, &h->host, &h->vcpu);
    cr_assert_eq(s, NVMX_OK);
    harness_region(h, VMXON_REGION, NVMX_VMCS_REVISION_ID);
    harness_region(h, VMCS_A, NVMX_VMCS_REVISION_ID);
    harness_region(h, VMCS_B, NVMX_VMCS_REVISION_ID);
    harness_region(h, VMCS_C, NVMX_VMCS_REVISION_ID);
    harness_region(h, SHADOW_VMCS, NVMX_VMCS_REVISION_ID | VMCS12_SHADOW_INDICATOR);
}

void harness_init(harness *h, const nvmx_vm_config *config)
{
    harness_init_with_ops(h, config, NULL);
}

/* L1's state moves from the fake register file into vmcs01's guest area, where a hardware
 * host keeps it. */
void harness_l1_into_vmcs01(harness *h)
{
    uint64_t *v = h->host.vmcs[NVMX_HW_VMCS01];
    v[VMCS12_ORD_GUEST_RIP] = h->host.regs[NVMX_REG_RIP];
    v[VMCS12_ORD_GUEST_RSP] = 0x9000;
    v[VMCS12_ORD_GUEST_RFLAGS] = h->host.regs[NVMX_REG_RFLAGS];
    v[VMCS12_ORD_GUEST_CR0] = h->host.regs[NVMX_REG_CR0];
    v[VMCS12_ORD_GUEST_CR3] = 0x300000;
    v[VMCS12_ORD_GUEST_CR4] = h->host.regs[NVMX_REG_CR4];
    v[VMCS12_ORD_GUEST_IA32_EFER] = h->host.regs[NVMX_REG_EFER];
    const unsigned seg[NVMX_SEG_COUNT] = {
        VMCS12_ORD_GUEST_ES_SELECTOR,   VMCS12_ORD_GUEST_CS_SELECTOR, VMCS12_ORD_GUEST_SS_SELECTOR,
        VMCS12_ORD_GUEST_DS_SELECTOR,   VMCS12_ORD_GUEST_FS_SELECTOR, VMCS12_ORD_GUEST_GS_SELECTOR,
        VMCS12_ORD_GUEST_LDTR_SELECTOR, VMCS12_ORD_GUEST_TR_SELECTOR};
    const unsigned base[NVMX_SEG_COUNT] = {VMCS12_ORD_GUEST_ES_BASE,   VMCS12_ORD_GUEST_CS_BASE,
                                           VMCS12_ORD_GUEST_SS_BASE,   VMCS12_ORD_GUEST_DS_BASE,
                                           VMCS12_ORD_GUEST_FS_BASE,   VMCS12_ORD_GUEST_GS_BASE,
                                           VMCS12_ORD_GUEST_LDTR_BASE, VMCS12_ORD_GUEST_TR_BASE};
    const unsigned limit[NVMX_SEG_COUNT] = {VMCS12_ORD_GUEST_ES_LIMIT,   VMCS12_ORD_GUEST_CS_LIMIT,
                                            VMCS12_ORD_GUEST_SS_LIMIT,   VMCS12_ORD_GUEST_DS_LIMIT,
                                            VMCS12_ORD_GUEST_FS_LIMIT,   VMCS12_ORD_GUEST_GS_LIMIT,
                                            VMCS12_ORD_GUEST_LDTR_LIMIT, VMCS12_ORD_GUEST_TR_LIMIT};
    const unsigned ar[NVMX_SEG_COUNT] = {
        VMCS12_ORD_GUEST_ES_AR_BYTES,   VMCS12_ORD_GUEST_CS_AR_BYTES, VMCS12_ORD_GUEST_SS_AR_BYTES,
        VMCS12_ORD_GUEST_DS_AR_BYTES,   VMCS12_ORD_GUEST_FS_AR_BYTES, VMCS12_ORD_GUEST_GS_AR_BYTES,
        VMCS12_ORD_GUEST_LDTR_AR_BYTES, VMCS12_ORD_GUEST_TR_AR_BYTES};
    for (int s = 0; s < NVMX_SEG_COUNT; s++) {
        v[seg[s]] = h->host.segs[s].selector;
        v[base[s]] = h->host.segs[s].base;
        v[limit[s]] = h->host.segs[s].limit;
        v[ar[s]] = h->host.segs[s].access_rights;
    }
    h->host.vmcs_backed = true;
    h->host.running = NVMX_HW_VMCS01;
}

/* L1 fills vmcs12 with VMWRITEs: the known-good L2 and host state of the entry-check fixture,
 * with the controls this VM exposes. */
void harness_l1_builds_vmcs12(harness *h)
{
    static entry_fixture good;
    entry_fixture_init(&good);
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        const vmcs_field_info *f = &vmcs_field_table[i];
        nvmx_field_type type = NVMX_FIELD_TYPE(f->encoding);
        if ((type == NVMX_FIELD_TYPE_GUEST || type == NVMX_FIELD_TYPE_HOST) &&
            ((h->vm->field_exists[i / 64] >> (i % 64)) & 1))
            harness_vmwrite(h, f->encoding, good.v.field[i]);
    }
    entry_fixture_fini(&good);
    nvmx_vmx_caps caps;
    nvmx_vm_get_caps(h->vm, &caps);
    harness_vmwrite(h, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL, caps.true_pinbased & 0xFFFFFFFF);
    harness_vmwrite(h, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL, caps.true_procbased & 0xFFFFFFFF);
    harness_vmwrite(h, NVMX_FIELD_VM_EXIT_CONTROLS,
                    (caps.true_exit & 0xFFFFFFFF) | NVMX_CTL(EXIT_HOST_ADDR_SPACE));
    harness_vmwrite(h, NVMX_FIELD_VM_ENTRY_CONTROLS,
                    (caps.true_entry & 0xFFFFFFFF) | NVMX_CTL(ENTRY_IA32E_MODE));
    harness_vmwrite(h, NVMX_FIELD_VMCS_LINK_POINTER, ~0ull);
    cr_assert(harness_succeeded(h));
}

void harness_nested_init(harness *h, const nvmx_vm_config *config, const nvmx_host_ops *ops)
{
    harness_init_with_ops(h, config, ops);
    harness_l1_into_vmcs01(h);
    harness_vmxon_vmptrld(h);
    harness_l1_builds_vmcs12(h);
}

void harness_fini(harness *h)
{
    nvmx_vcpu_destroy(h->vcpu);
    nvmx_vm_destroy(h->vm);
    cr_expect_eq(h->host.live_allocations, 0, "allocations leaked: %ld", h->host.live_allocations);
    cr_expect_eq(h->host.live_bytes, 0);
    cr_expect_eq(h->host.live_pages, 0, "host pages leaked: %ld", h->host.live_pages);
    cr_expect_eq(h->host.live_vpids, 0, "VPIDs leaked: %ld", h->host.live_vpids);
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
