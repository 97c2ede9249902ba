/* SPDX-License-Identifier: MIT */
/*
 * Exceptions of L1 in 32-bit protected mode (a multiboot kernel before it enters long mode):
 * delivery through L1's 32-bit IDT (SDM Vol. 3A 6.10, 6.12.1, Figure 6-2). Like the 64-bit
 * path (l2.c), this version delivers at CPL 0 only, without a stack switch, task gates or
 * 16-bit gates, and does not escalate to #DF: an event it cannot deliver is a triple fault.
 */
#include "pc.h"

#define EFER_MSR 0xC0000080u
#define EFER_LMA (1ull << 10)
#define CR0_PE 1ull
#define GATE_PRESENT (1ull << 47)
#define GATE_INTERRUPT32 0xEu
#define GATE_TRAP32 0xFu
/* 6.12.1.3: delivery clears TF, VM, RF and NT; an interrupt gate clears IF too. */
#define RFLAGS_TF (1ull << 8)
#define RFLAGS_IF (1ull << 9)
#define RFLAGS_NT (1ull << 14)
#define RFLAGS_RF (1ull << 16)
#define RFLAGS_VM (1ull << 17)

bool emu_l1_in_legacy_protected_mode(emu *e)
{
    uc_x86_msr efer = {.rid = EFER_MSR};
    uc_reg_read(e->uc, UC_X86_REG_MSR, &efer);
    return !(efer.value & EFER_LMA) && (emu_reg(e, UC_X86_REG_CR0) & CR0_PE);
}

static bool push32(emu *e, uint32_t *esp, uint32_t value)
{
    *esp -= 4;
    return uc_vmem_write(e->uc, *esp, UC_PROT_WRITE, &value, 4) == UC_ERR_OK;
}

/* The frame (6.12.1, no privilege change): EFLAGS, CS, EIP, then the error code. SS is taken
 * as flat (base 0), as a multiboot kernel's is: Unicorn does not show segment bases. */
bool emu_deliver_exception32(emu *e, const nvmx_exception *x)
{
    uc_x86_mmr idtr = {0};
    uint64_t gate = 0;
    uc_reg_read(e->uc, UC_X86_REG_IDTR, &idtr);
    if ((uint64_t)x->vector * 8 + 7 > idtr.limit ||
        uc_vmem_read(e->uc, idtr.base + x->vector * 8u, UC_PROT_READ, &gate, 8) != UC_ERR_OK)
        return false;
    unsigned type = (gate >> 40) & 0x1F; /* S = 0 and the type */
    uint64_t cs = emu_reg(e, UC_X86_REG_CS);
    if (!(gate & GATE_PRESENT) || (type != GATE_INTERRUPT32 && type != GATE_TRAP32) || (cs & 3))
        return false;
    uint64_t rflags = emu_reg(e, UC_X86_REG_RFLAGS);
    uint32_t esp = (uint32_t)emu_reg(e, UC_X86_REG_RSP);
    if (!push32(e, &esp, (uint32_t)rflags) || !push32(e, &esp, (uint32_t)cs) ||
        !push32(e, &esp, (uint32_t)emu_reg(e, UC_X86_REG_RIP)) ||
        (x->has_error_code && !push32(e, &esp, x->error_code)))
        return false;
    if (x->vector == NVMX_VECTOR_PF)
        uc_reg_write(e->uc, UC_X86_REG_CR2, &x->cr2);
    rflags &= ~(RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM);
    if (type == GATE_INTERRUPT32)
        rflags &= ~RFLAGS_IF;
    uint64_t rsp = esp, selector = (gate >> 16) & 0xFFFF;
    uint64_t target = (gate & 0xFFFF) | ((gate >> 32) & 0xFFFF0000u);
    uc_reg_write(e->uc, UC_X86_REG_RSP, &rsp);
    uc_reg_write(e->uc, UC_X86_REG_RFLAGS, &rflags);
    if (selector != cs) /* the kernel's own code segment in practice */
        uc_reg_write(e->uc, UC_X86_REG_CS, &selector);
    uc_reg_write(e->uc, UC_X86_REG_RIP, &target);
    return true;
}
