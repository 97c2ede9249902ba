/* SPDX-License-Identifier: MIT */
/* Running and enumerating the VM-entry check tables (SDM Vol. 3C 27.2, 27.3). */
#include "entry_checks.h"

void entry_check_ctx_init(entry_check_ctx *c, nvmx_vcpu *vcpu, const vmcs12 *v)
{
    nvmx_memset(c, 0, sizeof(*c));
    c->vcpu = vcpu;
    c->vm = vcpu->vm;
    c->v = v;
    c->pin = (uint32_t)FIELD(c, PIN_BASED_VM_EXEC_CONTROL);
    c->proc = (uint32_t)FIELD(c, CPU_BASED_VM_EXEC_CONTROL);
    c->exit = (uint32_t)FIELD(c, VM_EXIT_CONTROLS);
    c->entry = (uint32_t)FIELD(c, VM_ENTRY_CONTROLS);
    if (c->proc & NVMX_CTL(SECONDARY_CONTROLS))
        c->proc2 = (uint32_t)FIELD(c, SECONDARY_VM_EXEC_CONTROL);
    if (c->proc & NVMX_CTL(TERTIARY_CONTROLS))
        c->proc3 = FIELD(c, TERTIARY_VM_EXEC_CONTROL);
    if (c->exit & NVMX_CTL(SECONDARY_EXIT_CONTROLS))
        c->exit2 = FIELD(c, SECONDARY_VM_EXIT_CONTROLS);
    c->l1_ia32e = (vcpu->vm->ops.reg_get(vcpu->ctx, NVMX_REG_EFER) & NVMX_EFER_LMA) != 0;
}

bool entry_address_too_wide(const entry_check_ctx *c, uint64_t address)
{
    return (address >> c->vm->phys_addr_width) != 0;
}

typedef struct check_table {
    const entry_check *checks;
    const size_t *count;
} check_table;

static const check_table tables[NVMX_CHECK_CATEGORY_COUNT] = {
    [NVMX_CHECK_CONTROLS] = {entry_checks_controls, &entry_checks_controls_count},
    [NVMX_CHECK_HOST_STATE] = {entry_checks_host, &entry_checks_host_count},
    [NVMX_CHECK_GUEST_STATE] = {entry_checks_guest, &entry_checks_guest_count},
};

const entry_check *entry_checks_first_failure(const entry_check_ctx *c,
                                              nvmx_entry_check_category category)
{
    const check_table *t = &tables[category];
    for (size_t i = 0; i < *t->count; i++) {
        if (!t->checks[i].passes(c))
            return &t->checks[i];
    }
    return NULL;
}

/* ---- The memo: control and host-state checks whose inputs did not change --------------------
 *
 * The control checks (SDM 27.2.1) and the host-state checks (27.2.2-27.2.4) are functions of
 *   - vmcs12's control and host-state fields (and the controls derived from them here),
 *   - GUEST_CR0: 27.2.1.3, an injected exception delivers an error code only when
 *     "unrestricted guest" is 0 or CR0.PE is 1,
 *   - the VM's capabilities and physical-address width (fixed when the VM is created),
 *   - L1's IA32_EFER.LMA (27.2.4: the host address-space size must match it),
 *   - the VTPR byte of the virtual-APIC page (27.2.1.1), which
 *     entry_check_ctx_prepare_controls reads from L1's memory again at every entry.
 * After they all passed on a vmcs12, they pass again as long as none of these changed: then
 * they are skipped. vmcs12_write marks each field whose value changes (vmcs12.unchecked), a
 * vmcs12 loaded, restored or inserted into the cache has every bit set, and the two inputs
 * that are not vmcs12 fields are compared with their values at the last pass. A VM exit
 * changes none of the inputs (it writes guest-state and exit-information fields, and the
 * entry controls and injection field only with the values they had, or with a real change
 * that counts), so the VMRESUME after a typical L1 handler runs only the guest-state checks
 * (27.3), whose inputs every exit changes. tests/unit/test_entry_memo.c proves, for every
 * control and host-state check, that breaking it is visible to the memo. */

/* Guest-state fields the control and host-state checks read. */
static const uint16_t memo_guest_inputs[] = {VMCS12_ORD_GUEST_CR0};

static void set_bit(uint64_t *bits, unsigned ordinal)
{
    bits[ordinal / 64] |= 1ull << (ordinal % 64);
}

void entry_checks_memo_inputs(uint64_t inputs[VMCS12_FIELD_WORDS])
{
    nvmx_memset(inputs, 0, VMCS12_FIELD_WORDS * sizeof(uint64_t));
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        nvmx_field_type type = NVMX_FIELD_TYPE(vmcs_field_table[i].encoding);
        if (type == NVMX_FIELD_TYPE_CONTROL || type == NVMX_FIELD_TYPE_HOST)
            set_bit(inputs, i);
    }
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(memo_guest_inputs); i++)
        set_bit(inputs, memo_guest_inputs[i]);
}

bool entry_checks_memo_holds(const entry_check_ctx *c)
{
    const nvmx_vcpu *vcpu = c->vcpu;
    if (vcpu->entry_memo.node != c->v || vcpu->entry_memo.l1_ia32e != c->l1_ia32e ||
        vcpu->entry_memo.vtpr != c->vtpr)
        return false;
    for (unsigned w = 0; w < VMCS12_FIELD_WORDS; w++) {
        if (c->v->unchecked[w] & c->vm->entry_memo_inputs[w])
            return false;
    }
    return true;
}

void entry_checks_memo_record(const entry_check_ctx *c, vmcs12 *v)
{
    nvmx_vcpu *vcpu = c->vcpu;
    vcpu->entry_memo.node = v;
    vcpu->entry_memo.l1_ia32e = c->l1_ia32e;
    vcpu->entry_memo.vtpr = c->vtpr;
    for (unsigned w = 0; w < VMCS12_FIELD_WORDS; w++)
        v->unchecked[w] &= ~c->vm->entry_memo_inputs[w];
}

size_t nvmx_entry_check_count(void)
{
    return entry_checks_controls_count + entry_checks_host_count + entry_checks_guest_count;
}

const nvmx_entry_check_info *nvmx_entry_check_get(size_t index)
{
    for (unsigned cat = 0; cat < NVMX_CHECK_CATEGORY_COUNT; cat++) {
        if (index < *tables[cat].count)
            return &tables[cat].checks[index].info;
        index -= *tables[cat].count;
    }
    return NULL;
}

const char *nvmx_entry_check_category_name(nvmx_entry_check_category category)
{
    static const char *const names[NVMX_CHECK_CATEGORY_COUNT] = {
        [NVMX_CHECK_CONTROLS] = "controls",
        [NVMX_CHECK_HOST_STATE] = "host-state",
        [NVMX_CHECK_GUEST_STATE] = "guest-state",
    };
    return (unsigned)category < NVMX_CHECK_CATEGORY_COUNT ? names[category] : NULL;
}
