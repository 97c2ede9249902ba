/* SPDX-License-Identifier: MIT */
/*
 * L2's control-register instructions under vmcs02 (SDM 26.1.3 "MOV to CR0/CR3/CR4", "MOV
 * from CR3", "CLTS"; 26.3 for the ones that do not exit): the guest/host masks own bits, whose
 * reads return the read shadow and whose writes either exit (a value different from the
 * shadow) or leave the bit unchanged. Exits carry the qualification of Table 28-3. CR8 and
 * LMSW/SMSW: CR8 load/store exiting is not exposed by nestvmx-emu; LMSW and SMSW run natively
 * in Unicorn, which is exact only while L1's CR0 mask leaves CR0[3:0] alone (a known gap).
 */
#include "emu.h"

static const int gprs[16] = {
    UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX, UC_X86_REG_RSP, UC_X86_REG_RBP,
    UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
    UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
};

int emu_uc_gpr(unsigned index)
{
    return index < 16 ? gprs[index] : UC_X86_REG_INVALID;
}

#define CR0_TS (1ull << 3)
#define QUAL_MOV_FROM_CR (1u << 4) /* access type 1 (Table 28-3) */
#define QUAL_CLTS (2u << 4)        /* access type 2 */

static uint64_t field02(emu *e, uint32_t field)
{
    return emu_vmcs_get(e, NVMX_HW_VMCS02, field);
}

static int cr_reg(unsigned cr)
{
    return cr == 0 ? UC_X86_REG_CR0 : cr == 3 ? UC_X86_REG_CR3 : UC_X86_REG_CR4;
}

static bool mask_and_shadow(emu *e, unsigned cr, uint64_t *mask, uint64_t *shadow)
{
    if (cr != 0 && cr != 4)
        return false;
    *mask = field02(e, cr == 0 ? NVMX_FIELD_CR0_GUEST_HOST_MASK : NVMX_FIELD_CR4_GUEST_HOST_MASK);
    *shadow = field02(e, cr == 0 ? NVMX_FIELD_CR0_READ_SHADOW : NVMX_FIELD_CR4_READ_SHADOW);
    return true;
}

static void set_reg(emu *e, int reg, uint64_t value)
{
    uc_reg_write(e->uc, reg, &value);
}

static void complete(emu *e, uint8_t length)
{
    set_reg(e, UC_X86_REG_RIP, emu_reg(e, UC_X86_REG_RIP) + length);
}

/* A control-register write from the host side: Unicorn needs a TLB flush after it. */
static void write_cr(emu *e, unsigned cr, uint64_t value)
{
    set_reg(e, cr_reg(cr), value);
    uc_ctl_flush_tlb(e->uc);
}

/* 26.1.3 "MOV to CR3": exits with CR3-load exiting unless the value is one of the first
 * CR3-target-count target values. */
static bool cr3_load_exits(emu *e, uint64_t value)
{
    if (!(field02(e, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(CR3_LOAD_EXITING)))
        return false;
    uint64_t count = field02(e, NVMX_FIELD_CR3_TARGET_COUNT);
    for (uint64_t i = 0; i < count && i < 4; i++)
        if (field02(e, NVMX_FIELD_CR3_TARGET_VALUE0 + 2 * (uint32_t)i) == value)
            return false;
    return true;
}

#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)

/* A CR0/CR4 value the (emulated) processor accepts in VMX operation: the fixed bits of the
 * capability MSRs hold (SDM 23.8, A.7, A.8), and CR0.NW = 1 needs CR0.CD = 1 (Vol. 2B MOV
 * to CR). */
static bool vmx_supported(emu *e, unsigned cr, uint64_t value)
{
    nvmx_vmx_caps caps;
    nvmx_vm_get_caps(e->vm, &caps);
    uint64_t fixed0 = cr == 0 ? caps.cr0_fixed0 : caps.cr4_fixed0;
    uint64_t fixed1 = cr == 0 ? caps.cr0_fixed1 : caps.cr4_fixed1;
    if ((value & fixed0) != fixed0 || (value & ~fixed1))
        return false;
    return cr != 0 || !(value & CR0_NW) || (value & CR0_CD);
}

static bool mov_to_cr(emu *e, const emu_insn *insn)
{
    uint64_t value = emu_reg(e, emu_uc_gpr(insn->gpr)), mask, shadow;
    uint64_t qualification = insn->cr | ((uint64_t)insn->gpr << 8); /* access type 0 */
    if (insn->cr == 3) {
        if (cr3_load_exits(e, value))
            emu_l2_exit_at(e, NVMX_EXIT_CR_ACCESS, qualification, insn->length);
        return cr3_load_exits(e, value);
    }
    if (!mask_and_shadow(e, insn->cr, &mask, &shadow))
        return false; /* CR2, CR8: Unicorn (CR8 exiting is not exposed) */
    if ((value ^ shadow) & mask) {
        emu_l2_exit_at(e, NVMX_EXIT_CR_ACCESS, qualification, insn->length);
        return true;
    }
    /* 26.3: the owned bits keep their value; a value VMX operation does not support (the
     * fixed bits, 23.8) is #GP. Unicorn's register write checks nothing, so the #GP rules of
     * MOV to CR (Vol. 2B) are applied here: those and, for CR0, NW without CD and PG without
     * PE (PE/PG are fixed-1 anyway, no unrestricted guest). */
    uint64_t current = emu_reg(e, cr_reg(insn->cr));
    uint64_t written = (value & ~mask) | (current & mask);
    if (!vmx_supported(e, insn->cr, written)) {
        e->pending = (nvmx_exception){.vector = NVMX_VECTOR_GP, .has_error_code = true};
        e->stop = EMU_STOP_EXCEPTION;
        return true;
    }
    write_cr(e, insn->cr, written);
    complete(e, insn->length);
    return true;
}

static bool mov_from_cr(emu *e, const emu_insn *insn)
{
    uint64_t mask, shadow;
    if (insn->cr == 3) {
        bool exits = field02(e, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(CR3_STORE_EXITING);
        if (exits)
            emu_l2_exit_at(e, NVMX_EXIT_CR_ACCESS,
                           3 | QUAL_MOV_FROM_CR | ((uint64_t)insn->gpr << 8), insn->length);
        return exits;
    }
    if (!mask_and_shadow(e, insn->cr, &mask, &shadow) || !mask)
        return false;
    /* 26.3: owned bits read from the shadow */
    uint64_t value = (emu_reg(e, cr_reg(insn->cr)) & ~mask) | (shadow & mask);
    set_reg(e, emu_uc_gpr(insn->gpr), value);
    complete(e, insn->length);
    return true;
}

/* 26.1.3 "CLTS": exits when the mask and the shadow both have TS; 26.3: with TS owned and the
 * shadow's TS clear, CLTS leaves CR0.TS alone. */
static bool clts(emu *e, const emu_insn *insn)
{
    uint64_t mask = field02(e, NVMX_FIELD_CR0_GUEST_HOST_MASK);
    uint64_t shadow = field02(e, NVMX_FIELD_CR0_READ_SHADOW);
    if (!(mask & CR0_TS))
        return false;
    if (shadow & CR0_TS)
        emu_l2_exit_at(e, NVMX_EXIT_CR_ACCESS, QUAL_CLTS, insn->length);
    else
        complete(e, insn->length);
    return true;
}

/* L1's MOV to CR0/CR4 (Unicorn runs it): #GP when the library's VMX rules refuse the value
 * (CR4.VMXE without VMX, clearing it or a fixed bit in VMX operation; SDM 23.8, 24.8). */
void emu_l1_cr_write(emu *e, const emu_insn *insn)
{
    if (insn->kind != EMU_INSN_MOV_TO_CR || (insn->cr != 0 && insn->cr != 4))
        return;
    uint64_t value = emu_reg(e, emu_uc_gpr(insn->gpr));
    if (emu_cr_reserved(insn->cr, value) || !nvmx_cr_write_allowed(e->vcpu, insn->cr, value)) {
        e->pending = (nvmx_exception){.vector = NVMX_VECTOR_GP, .has_error_code = true};
        e->stop = EMU_STOP_EXCEPTION;
    }
}

bool emu_l2_cr_instruction(emu *e, const emu_insn *insn)
{
    switch (insn->kind) {
    case EMU_INSN_MOV_TO_CR:
        return mov_to_cr(e, insn);
    case EMU_INSN_MOV_FROM_CR:
        return mov_from_cr(e, insn);
    case EMU_INSN_CLTS:
        return clts(e, insn);
    default:
        return false;
    }
}

/* A CR-access exit that was L0's (vmcs02 exited for L0's own mask bits, which nestvmx-emu does
 * not set, or a CR3 load L1 does not intercept): carry the instruction out for L2. */
void emu_cr_l0_complete(emu *e)
{
    uint64_t q = e->exit_info.qualification;
    unsigned cr = q & 15, type = (q >> 4) & 3, gpr = (q >> 8) & 15;
    if (type == 0 && (cr == 0 || cr == 3 || cr == 4))
        write_cr(e, cr, emu_reg(e, emu_uc_gpr(gpr)));
    else if (type == 1 && (cr == 0 || cr == 3 || cr == 4))
        set_reg(e, emu_uc_gpr(gpr), emu_reg(e, cr_reg(cr)));
    else if (type == 2)
        write_cr(e, 0, emu_reg(e, UC_X86_REG_CR0) & ~CR0_TS);
    complete(e, (uint8_t)e->exit_info.instruction_length);
}
