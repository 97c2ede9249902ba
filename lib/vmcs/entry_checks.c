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
