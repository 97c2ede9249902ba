/* SPDX-License-Identifier: MIT */
/*
 * The guest-state area of vmcs01/vmcs02 (SDM 25.4) and Unicorn's CPU. Unicorn runs one guest
 * at a time: L1 from vmcs01, L2 from vmcs02. Saving writes Unicorn's registers into the store
 * (as a VM exit saves the guest's state, 28.3); loading does the opposite (as a VM entry
 * loads it, 27.3.2). GPRs other than RSP are shared, as on hardware.
 *
 * Limits of Unicorn 2.1 (measured, see README.md): in 64-bit mode a segment register write
 * sets only the selector, so the hidden parts of CS/SS/DS/ES stay those of the flat 64-bit
 * descriptors nestvmx-emu starts with; FS/GS bases are set through FS_BASE/GS_BASE. A saved
 * hidden part whose selector did not change is kept from the store (it is what was loaded);
 * a changed selector takes its hidden part from the GDT. Interruptibility and pending debug
 * exceptions are not visible in Unicorn: saved as 0 (none). The activity state is "active".
 */
#include "emu.h"

#include <stdio.h>

uint64_t emu_reg(emu *e, int uc_reg)
{
    uint64_t value = 0;
    uc_reg_read(e->uc, uc_reg, &value);
    return value;
}

static uint64_t *slot(const emu *e, nvmx_hw_vmcs which, uint32_t field)
{
    int index = nvmx_vmcs_field_index(field);
    return index < 0 ? NULL : &e->vmcs[which][index];
}

uint64_t emu_vmcs_get(const emu *e, nvmx_hw_vmcs which, uint32_t field)
{
    const uint64_t *s = slot(e, which, field);
    return s ? *s : 0;
}

void emu_vmcs_set(emu *e, nvmx_hw_vmcs which, uint32_t field, uint64_t value)
{
    uint64_t *s = slot(e, which, field);
    if (s)
        *s = value & NVMX_FIELD_WIDTH_MASK(field);
}

/* Plain registers and their guest-state fields. */
static const struct {
    int reg;
    uint32_t field;
} plain[] = {
    {UC_X86_REG_RIP, NVMX_FIELD_GUEST_RIP},         {UC_X86_REG_RSP, NVMX_FIELD_GUEST_RSP},
    {UC_X86_REG_RFLAGS, NVMX_FIELD_GUEST_RFLAGS},   {UC_X86_REG_DR7, NVMX_FIELD_GUEST_DR7},
    {UC_X86_REG_FS_BASE, NVMX_FIELD_GUEST_FS_BASE}, {UC_X86_REG_GS_BASE, NVMX_FIELD_GUEST_GS_BASE},
};

/* MSRs with a guest-state field (Unicorn keeps them; SDM 25.4.1). */
static const struct {
    uint32_t msr, field;
} msrs[] = {
    {0x174u, NVMX_FIELD_GUEST_SYSENTER_CS},    {0x175u, NVMX_FIELD_GUEST_SYSENTER_ESP},
    {0x176u, NVMX_FIELD_GUEST_SYSENTER_EIP},   {0x277u, NVMX_FIELD_GUEST_IA32_PAT},
    {0xC0000080u, NVMX_FIELD_GUEST_IA32_EFER},
};

/* Segment registers: Unicorn register and the four fields (selector, base, limit, AR). */
typedef struct seg_fields {
    int reg;
    nvmx_seg seg;
    uint32_t selector, base, limit, ar;
} seg_fields;

#define SEG(name, uc)                                                                              \
    {                                                                                              \
        UC_X86_REG_##uc, NVMX_SEG_##name, NVMX_FIELD_GUEST_##name##_SELECTOR,                      \
            NVMX_FIELD_GUEST_##name##_BASE, NVMX_FIELD_GUEST_##name##_LIMIT,                       \
            NVMX_FIELD_GUEST_##name##_AR_BYTES                                                     \
    }
static const seg_fields segs[] = {
    SEG(ES, ES), SEG(CS, CS), SEG(SS, SS),     SEG(DS, DS),
    SEG(FS, FS), SEG(GS, GS), SEG(LDTR, LDTR), SEG(TR, TR),
};
#undef SEG

static void save_segment(emu *e, nvmx_hw_vmcs which, const seg_fields *s)
{
    nvmx_segment now;
    emu_segment(e, s->seg, &now);
    if (now.selector == emu_vmcs_get(e, which, s->selector)) {
        /* the hidden part loaded with it is still the one in use; FS/GS bases are Unicorn's
         * (WRMSR, the plain registers above) */
        return;
    }
    emu_vmcs_set(e, which, s->selector, now.selector);
    emu_vmcs_set(e, which, s->base, now.base);
    emu_vmcs_set(e, which, s->limit, now.limit);
    emu_vmcs_set(e, which, s->ar, now.access_rights);
}

static void save_table(emu *e, nvmx_hw_vmcs which, int reg, uint32_t base, uint32_t limit)
{
    uc_x86_mmr mmr = {0};
    uc_reg_read(e->uc, reg, &mmr);
    emu_vmcs_set(e, which, base, mmr.base);
    emu_vmcs_set(e, which, limit, mmr.limit);
}

void emu_state_save(emu *e, nvmx_hw_vmcs which)
{
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        emu_vmcs_set(e, which, plain[i].field, emu_reg(e, plain[i].reg));
    emu_vmcs_set(e, which, NVMX_FIELD_GUEST_CR0, emu_reg(e, UC_X86_REG_CR0));
    emu_vmcs_set(e, which, NVMX_FIELD_GUEST_CR3, emu_reg(e, UC_X86_REG_CR3));
    emu_vmcs_set(e, which, NVMX_FIELD_GUEST_CR4, emu_reg(e, UC_X86_REG_CR4));
    for (size_t i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
        uc_x86_msr msr = {.rid = msrs[i].msr};
        uc_reg_read(e->uc, UC_X86_REG_MSR, &msr);
        emu_vmcs_set(e, which, msrs[i].field, msr.value);
    }
    for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++)
        save_segment(e, which, &segs[i]);
    save_table(e, which, UC_X86_REG_GDTR, NVMX_FIELD_GUEST_GDTR_BASE, NVMX_FIELD_GUEST_GDTR_LIMIT);
    save_table(e, which, UC_X86_REG_IDTR, NVMX_FIELD_GUEST_IDTR_BASE, NVMX_FIELD_GUEST_IDTR_LIMIT);
    emu_vmcs_set(e, which, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO, 0);
    emu_vmcs_set(e, which, NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS, 0);
    emu_vmcs_set(e, which, NVMX_FIELD_GUEST_ACTIVITY_STATE,
                 which == NVMX_HW_VMCS02 && e->l2_halted ? NVMX_ACTIVITY_HLT
                                                         : NVMX_ACTIVITY_ACTIVE);
}

static bool put(emu *e, int reg, const void *value)
{
    return uc_reg_write(e->uc, reg, value) == UC_ERR_OK;
}

static bool load_segment(emu *e, nvmx_hw_vmcs which, const seg_fields *s)
{
    uint64_t selector = emu_vmcs_get(e, which, s->selector);
    if (s->seg == NVMX_SEG_LDTR || s->seg == NVMX_SEG_TR) {
        uint32_t ar = (uint32_t)emu_vmcs_get(e, which, s->ar);
        uc_x86_mmr mmr = {.selector = (uint16_t)selector,
                          .base = emu_vmcs_get(e, which, s->base),
                          .limit = (uint32_t)emu_vmcs_get(e, which, s->limit),
                          .flags = (ar & NVMX_AR_UNUSABLE) ? 0 : (ar & 0xF0FFu) << 8};
        return put(e, s->reg, &mmr);
    }
    return put(e, s->reg, &selector);
}

/* EFER first, then CR4, CR3, CR0 (the order Unicorn needs, notes pitfall 10). */
static bool load_control_registers(emu *e, nvmx_hw_vmcs which)
{
    uc_x86_msr efer = {.rid = 0xC0000080u,
                       .value = emu_vmcs_get(e, which, NVMX_FIELD_GUEST_IA32_EFER)};
    uint64_t cr4 = emu_vmcs_get(e, which, NVMX_FIELD_GUEST_CR4);
    uint64_t cr3 = emu_vmcs_get(e, which, NVMX_FIELD_GUEST_CR3);
    uint64_t cr0 = emu_vmcs_get(e, which, NVMX_FIELD_GUEST_CR0);
    return put(e, UC_X86_REG_MSR, &efer) && put(e, UC_X86_REG_CR4, &cr4) &&
           put(e, UC_X86_REG_CR3, &cr3) && put(e, UC_X86_REG_CR0, &cr0);
}

bool emu_state_load(emu *e, nvmx_hw_vmcs which)
{
    bool ok = load_control_registers(e, which);
    for (size_t i = 0; ok && i < sizeof(segs) / sizeof(segs[0]); i++)
        ok = load_segment(e, which, &segs[i]);
    for (size_t i = 0; ok && i < sizeof(plain) / sizeof(plain[0]); i++) {
        uint64_t value = emu_vmcs_get(e, which, plain[i].field);
        ok = put(e, plain[i].reg, &value);
    }
    for (size_t i = 0; ok && i < sizeof(msrs) / sizeof(msrs[0]); i++) {
        uc_x86_msr msr = {.rid = msrs[i].msr, .value = emu_vmcs_get(e, which, msrs[i].field)};
        ok = msrs[i].msr == 0xC0000080u || put(e, UC_X86_REG_MSR, &msr);
    }
    uc_x86_mmr gdtr = {.base = emu_vmcs_get(e, which, NVMX_FIELD_GUEST_GDTR_BASE),
                       .limit = (uint32_t)emu_vmcs_get(e, which, NVMX_FIELD_GUEST_GDTR_LIMIT)};
    uc_x86_mmr idtr = {.base = emu_vmcs_get(e, which, NVMX_FIELD_GUEST_IDTR_BASE),
                       .limit = (uint32_t)emu_vmcs_get(e, which, NVMX_FIELD_GUEST_IDTR_LIMIT)};
    /* the TLB mode (and a flush) for the guest loaded: L2 under EPT translates in l2_memory.c */
    ok = ok && put(e, UC_X86_REG_GDTR, &gdtr) && put(e, UC_X86_REG_IDTR, &idtr) &&
         emu_l2_memory_mode(e);
    if (!ok)
        fprintf(stderr, "nestvmx-emu: Unicorn refused %s's state\n",
                which == NVMX_HW_VMCS02 ? "L2" : "L1");
    return ok;
}
