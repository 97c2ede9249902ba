/* SPDX-License-Identifier: MIT */
/*
 * The instructions Unicorn cannot hook. RDMSR, WRMSR and HLT have no instruction hook in
 * Unicorn 2.1 (UC_ERR_HOOK), unknown MSRs read 0 there, and CPUID/IN/OUT hooks run in the
 * middle of a translated block, too late to exit from L2 before the instruction. So one code
 * hook over all addresses looks at every instruction before it executes: it counts the
 * instruction budget, classifies the bytes, and completes or exits. Measured on Unicorn
 * 2.1.4: a stop requested from a code hook ends emulation before that instruction runs, and a
 * single RIP write there skips it (see examples/emu-host/README.md).
 */
#include "emu.h"

#include <inttypes.h>
#include <stdio.h>

/* Legacy prefixes (SDM Vol. 2A 2.1.1) and REX (2.2.1). */
static bool is_legacy_prefix(uint8_t b)
{
    return b == 0x66 || b == 0x67 || b == 0xF0 || b == 0xF2 || b == 0xF3 || b == 0x2E ||
           b == 0x36 || b == 0x3E || b == 0x26 || b == 0x64 || b == 0x65;
}

/* IN/OUT/INS/OUTS (SDM Vol. 2A/2B): opcode bit 0 = not byte-sized; E4-E7 take an immediate
 * port; bit 1 of E4-E7/EC-EF and bit 1 of 6C-6F = OUT. */
static bool classify_io(uint8_t op, const uint8_t *next, const uint8_t *end, bool opsize16,
                        bool rep, emu_insn *out)
{
    bool immediate = op >= 0xE4 && op <= 0xE7;
    bool string = op >= 0x6C && op <= 0x6F;
    if (!immediate && !string && !(op >= 0xEC && op <= 0xEF))
        return false;
    if (immediate && next >= end)
        return false;
    out->kind = EMU_INSN_IO;
    out->io_size = (op & 1) ? (opsize16 ? 2 : 4) : 1;
    out->io_in = !(op & 2);
    out->io_string = string;
    out->io_rep = string && rep;
    out->io_immediate = immediate;
    out->io_port_immediate = immediate ? *next : 0;
    return true;
}

bool emu_classify(const uint8_t *bytes, uint8_t length, emu_insn *out)
{
    *out = (emu_insn){.kind = EMU_INSN_OTHER, .length = length};
    const uint8_t *p = bytes, *end = bytes + length;
    bool opsize16 = false, rep = false, repe = false;
    uint8_t rex = 0;
    while (p < end && is_legacy_prefix(*p)) {
        opsize16 |= *p == 0x66;
        rep |= *p == 0xF3 || *p == 0xF2;
        repe |= *p == 0xF3;
        out->addr32 |= *p == 0x67;
        out->segment = *p == 0x64 ? 4 : *p == 0x65 ? 5 : out->segment;
        p++;
    }
    if (p < end && (*p & 0xF0) == 0x40) /* REX: 64-bit mode only, which is all L1/L2 use */
        rex = *p++;
    if (p >= end)
        return false;
    if (*p == 0xF4) {
        out->kind = EMU_INSN_HLT;
        return true;
    }
    if (*p == 0x90 && repe && !(rex & 1)) { /* F3 90 is PAUSE; REX.B makes it XCHG R8 */
        out->kind = EMU_INSN_PAUSE;
        return true;
    }
    if (*p == 0xCC) {
        out->kind = EMU_INSN_INT3;
        return true;
    }
    if (*p == 0xCD && p + 1 < end) {
        out->kind = EMU_INSN_INTN;
        out->vector = p[1];
        return true;
    }
    if (*p != 0x0F)
        return classify_io(*p, p + 1, end, opsize16, rep, out);
    if (++p >= end)
        return false;
    switch (*p) {
    case 0x30:
        out->kind = EMU_INSN_WRMSR;
        return true;
    case 0x31:
        out->kind = EMU_INSN_RDTSC;
        return true;
    case 0x32:
        out->kind = EMU_INSN_RDMSR;
        return true;
    case 0xA2:
        out->kind = EMU_INSN_CPUID;
        return true;
    case 0x06:
        out->kind = EMU_INSN_CLTS;
        return true;
    case 0x08:
        out->kind = EMU_INSN_INVD;
        return true;
    case 0x09:
        out->kind = EMU_INSN_WBINVD;
        return true;
    case 0x20:
    case 0x22: /* MOV CR: ModRM.reg (+REX.R) is the CR, ModRM.rm (+REX.B) the GPR; mod is
                  ignored (SDM Vol. 2B MOV-Move to/from Control Registers) */
    case 0x21:
    case 0x23: /* MOV DR: the same layout (Vol. 2B MOV-Move to/from Debug Registers) */
        if (p + 1 >= end)
            return false;
        out->kind = *p == 0x22   ? EMU_INSN_MOV_TO_CR
                    : *p == 0x20 ? EMU_INSN_MOV_FROM_CR
                    : *p == 0x23 ? EMU_INSN_MOV_TO_DR
                                 : EMU_INSN_MOV_FROM_DR;
        out->cr = (uint8_t)(((p[1] >> 3) & 7) | ((rex & 4) << 1));
        out->gpr = (uint8_t)((p[1] & 7) | ((rex & 1) << 3));
        return true;
    case 0x01:
        if (p + 1 < end && p[1] == 0xF9) {
            out->kind = EMU_INSN_RDTSCP;
            return true;
        }
        /* INVLPG m: 0F 01 /7 with a memory operand (mod 3 /7 is SWAPGS, RDTSCP, ...) */
        if (p + 1 < end && ((p[1] >> 3) & 7) == 7 && (p[1] >> 6) != 3) {
            out->kind = EMU_INSN_INVLPG;
            out->modrm_at = (uint8_t)(p + 1 - bytes);
            out->rex = rex;
            return true;
        }
        return false;
    case 0x38:
        if (opsize16 && p + 1 < end && p[1] == 0x82) {
            out->kind = EMU_INSN_INVPCID;
            return true;
        }
        return false;
    default:
        return false;
    }
}

/* The I/O exit qualification (SDM 28.2.1, Table 28-5). */
static uint64_t io_qualification(emu *e, const emu_insn *insn)
{
    uint16_t port =
        insn->io_immediate ? insn->io_port_immediate : (uint16_t)emu_reg(e, UC_X86_REG_RDX);
    return (uint64_t)(insn->io_size - 1u) | (insn->io_in ? 1u << 3 : 0) |
           (insn->io_string ? 1u << 4 : 0) | (insn->io_rep ? 1u << 5 : 0) |
           (insn->io_immediate ? 1u << 6 : 0) | ((uint64_t)port << 16);
}

static bool vmcs02_control(emu *e, uint64_t bit)
{
    return emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL) & bit;
}

/* RDTSC of L1 or L2: the TSC of the running guest (emu_tsc, SDM 25.6.5). */
static void rdtsc(emu *e, uint8_t length)
{
    uint64_t value = emu_tsc(e);
    uint64_t low = value & 0xFFFFFFFFu, high = value >> 32;
    uc_reg_write(e->uc, UC_X86_REG_RAX, &low);
    uc_reg_write(e->uc, UC_X86_REG_RDX, &high);
    uint64_t rip = emu_reg(e, UC_X86_REG_RIP) + length;
    uc_reg_write(e->uc, UC_X86_REG_RIP, &rip);
}

/* The linear address of INVLPG's memory operand, 64-bit mode (SDM Vol. 2A 2.1.3, 2.1.5,
 * 2.2.1.3-2.2.1.6): ModRM, SIB, disp8/disp32, RIP-relative from the next instruction, REX.B/X,
 * the 67 prefix (32-bit address), and an FS/GS base (the other segments have base 0 in
 * 64-bit mode, Vol. 3A 3.4.4). False when the bytes end early. */
static bool operand_linear(emu *e, const uint8_t *bytes, const emu_insn *insn, uint64_t *out)
{
    unsigned at = insn->modrm_at, end = insn->length;
    uint8_t modrm = bytes[at++], mod = modrm >> 6, rm = modrm & 7;
    uint64_t address = 0;
    unsigned disp_size = mod == 1 ? 1 : mod == 2 ? 4 : 0;
    if (rm == 4) { /* SIB */
        if (at >= end)
            return false;
        uint8_t sib = bytes[at++];
        unsigned index = ((sib >> 3) & 7) | ((insn->rex & 2u) << 2);
        unsigned base = (sib & 7) | ((insn->rex & 1u) << 3);
        if (index != 4) /* index 100b without REX.X: none */
            address = emu_reg(e, emu_uc_gpr(index)) << (sib >> 6);
        if ((sib & 7) == 5 && mod == 0)
            disp_size = 4; /* no base, disp32 */
        else
            address += emu_reg(e, emu_uc_gpr(base));
    } else if (rm == 5 && mod == 0) { /* RIP-relative */
        disp_size = 4;
        address = emu_reg(e, UC_X86_REG_RIP) + insn->length;
    } else {
        address = emu_reg(e, emu_uc_gpr(rm | ((insn->rex & 1u) << 3)));
    }
    if (at + disp_size > end)
        return false;
    if (disp_size == 1)
        address += (uint64_t)(int64_t)(int8_t)bytes[at];
    else if (disp_size == 4)
        address += (uint64_t)(int64_t)(int32_t)((uint32_t)bytes[at] | (uint32_t)bytes[at + 1] << 8 |
                                                (uint32_t)bytes[at + 2] << 16 |
                                                (uint32_t)bytes[at + 3] << 24);
    if (insn->addr32)
        address &= 0xFFFFFFFFu;
    if (insn->segment)
        address += emu_reg(e, insn->segment == 4 ? UC_X86_REG_FS_BASE : UC_X86_REG_GS_BASE);
    *out = address;
    return true;
}

/* INVLPG of L2 (SDM 26.1.3): an exit with the linear operand as qualification (28.2.1; L2
 * is in 64-bit mode, so all 64 bits) when vmcs02 has INVLPG exiting; else Unicorn runs it
 * and this L0 drops its whole software TLB, a superset of the page (29.4.1 allows it).
 * Choice: the operand is not checked for canonicality before the exit (the SDM does not
 * order that #GP against the exit; rests on memory: hardware exits). */
static void invlpg(emu *e, const uint8_t *bytes, const emu_insn *insn)
{
    uint64_t linear;
    if (!vmcs02_control(e, NVMX_CTL(INVLPG_EXITING)) || !operand_linear(e, bytes, insn, &linear)) {
        uc_ctl_flush_tlb(e->uc);
        return;
    }
    emu_l2_exit_at(e, NVMX_EXIT_INVLPG, linear, insn->length);
}

/* WBINVD and WBNOINVD exit with "WBINVD exiting", a secondary control (SDM 26.1.3). */
static bool wbinvd_exits(emu *e)
{
    return vmcs02_control(e, NVMX_CTL(SECONDARY_CONTROLS)) &&
           (emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL) &
            NVMX_CTL(WBINVD_EXITING));
}

/* MOV DR of L2 (SDM 26.1.3: exits with "MOV-DR exiting"). The faults that come first are
 * Unicorn's own when it runs the instruction (26.1.1: #UD has priority over the exit): DR8-
 * DR15 (REX.R) and DR4/DR5 with CR4.DE. L2 runs at CPL 0 here, so the CPL #GP cannot occur.
 * The general-detect #DB (DR7.GD) comes after the exit (resting on memory: KVM, as L0, emulates
 * GD after this exit; the SDM text on that order was not found). Qualification (28.2.1, Table
 * 28-4): DR number in 2:0, direction in 4 (1 = MOV from DR), GPR in 11:8. */
static void mov_dr(emu *e, const emu_insn *insn)
{
    uint64_t cr4 = emu_reg(e, UC_X86_REG_CR4);
    bool undefined = insn->cr > 7 || ((insn->cr == 4 || insn->cr == 5) && (cr4 & (1u << 3)));
    if (undefined || !vmcs02_control(e, NVMX_CTL(MOV_DR_EXITING)))
        return;
    uint64_t q =
        insn->cr | (insn->kind == EMU_INSN_MOV_FROM_DR ? 1u << 4 : 0) | ((uint64_t)insn->gpr << 8);
    emu_l2_exit_at(e, NVMX_EXIT_DR_ACCESS, q, insn->length);
}

/* L2 executes an instruction that exits per vmcs02 (SDM 26.1: CPUID, and with this emu's
 * vmcs02 also every I/O and MSR access, which has unconditional I/O exiting and no MSR
 * bitmaps; 26.2: HLT and RDTSC per their controls). */
static void l2_instruction(emu *e, const uint8_t *bytes, const emu_insn *insn)
{
    switch (insn->kind) {
    case EMU_INSN_CPUID:
        emu_l2_exit_at(e, NVMX_EXIT_CPUID, 0, insn->length);
        break;
    case EMU_INSN_RDMSR:
        emu_l2_exit_at(e, NVMX_EXIT_RDMSR, 0, insn->length);
        break;
    case EMU_INSN_WRMSR:
        emu_l2_exit_at(e, NVMX_EXIT_WRMSR, 0, insn->length);
        break;
    case EMU_INSN_IO:
        emu_l2_exit_at(e, NVMX_EXIT_IO_INSTRUCTION, io_qualification(e, insn), insn->length);
        if (insn->io_string) /* 28.2.1: the linear address of the memory operand */
            e->exit_info.guest_linear_address =
                emu_reg(e, insn->io_in ? UC_X86_REG_RDI : UC_X86_REG_RSI);
        break;
    case EMU_INSN_HLT:
        if (vmcs02_control(e, NVMX_CTL(HLT_EXITING))) {
            emu_l2_exit_at(e, NVMX_EXIT_HLT, 0, insn->length);
        } else { /* L2 halts after the HLT: only its timer wakes it here (timer.c) */
            uint64_t rip = emu_reg(e, UC_X86_REG_RIP) + insn->length;
            uc_reg_write(e->uc, UC_X86_REG_RIP, &rip);
            e->l2_halted = true;
            if (!emu_l2_halt(e))
                e->stop = EMU_STOP_L2_HALTED;
        }
        break;
    case EMU_INSN_RDTSC:
        if (vmcs02_control(e, NVMX_CTL(RDTSC_EXITING)))
            emu_l2_exit_at(e, NVMX_EXIT_RDTSC, 0, insn->length);
        else
            rdtsc(e, insn->length);
        break;
    case EMU_INSN_MOV_TO_CR:
    case EMU_INSN_MOV_FROM_CR:
    case EMU_INSN_CLTS:
        emu_l2_cr_instruction(e, insn);
        break;
    case EMU_INSN_RDTSCP:
    case EMU_INSN_INVPCID:
        /* 25.6.2: without "enable RDTSCP" / "enable INVPCID" (which nestvmx-emu does not
         * expose) they raise #UD in L2. */
        e->pending = (nvmx_exception){.vector = NVMX_VECTOR_UD};
        e->stop = EMU_STOP_EXCEPTION;
        break;
    case EMU_INSN_INVD: /* 26.1.2: exits unconditionally */
        emu_l2_exit_at(e, NVMX_EXIT_INVD, 0, insn->length);
        break;
    case EMU_INSN_INVLPG:
        invlpg(e, bytes, insn);
        break;
    case EMU_INSN_MOV_TO_DR:
    case EMU_INSN_MOV_FROM_DR:
        mov_dr(e, insn);
        break;
    case EMU_INSN_PAUSE: /* 26.1.3: "PAUSE exiting" (PAUSE-loop exiting is not exposed) */
        if (vmcs02_control(e, NVMX_CTL(PAUSE_EXITING)))
            emu_l2_exit_at(e, NVMX_EXIT_PAUSE, 0, insn->length);
        break;
    case EMU_INSN_WBINVD:
        if (wbinvd_exits(e))
            emu_l2_exit_at(e, NVMX_EXIT_WBINVD, 0, insn->length);
        break;
    case EMU_INSN_INT3:
    case EMU_INSN_INTN:
        e->soft_vector = insn->kind == EMU_INSN_INT3 ? 3 : insn->vector;
        e->soft_length = insn->length;
        e->soft_is_exception = insn->kind == EMU_INSN_INT3;
        e->stop = EMU_STOP_L2_SOFTWARE_EVENT;
        break;
    case EMU_INSN_OTHER:
        break;
    }
}

static void on_code(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    emu *e = user;
    if (e->probing) { /* replaying one instruction to find an address (l2_memory.c) */
        if (e->probe_steps++)
            uc_emu_stop(uc);
        return;
    }
    if (e->budget == 0) {
        e->stop = EMU_STOP_BUDGET;
        uc_emu_stop(uc);
        return;
    }
    e->budget--;
    if (emu_timer_expired(e)) { /* 26.7.1: before this instruction of L2 (timer.c) */
        emu_l2_exit_at(e, NVMX_EXIT_PREEMPTION_TIMER, 0, 0);
        uc_emu_stop(uc);
        return;
    }
    uint8_t bytes[NVMX_MAX_INSTRUCTION_LENGTH];
    if (size == 0 || size > sizeof(bytes) ||
        !emu_vmem_read(e, address, UC_PROT_EXEC, bytes, size, false))
        return; /* Unicorn raises the fault or #UD itself */
    if (!e->in_l2)
        emu_note_l1_instruction(e, address, bytes, size);
    emu_insn insn;
    if (!emu_classify(bytes, (uint8_t)size, &insn))
        return;
    if (e->in_l2)
        l2_instruction(e, bytes, &insn);
    else if (insn.kind == EMU_INSN_RDMSR || insn.kind == EMU_INSN_WRMSR)
        emu_msr_instruction(e, insn.kind == EMU_INSN_WRMSR, insn.length);
    else if (insn.kind == EMU_INSN_RDTSC)
        rdtsc(e, insn.length);
    else if (insn.kind == EMU_INSN_MOV_TO_CR)
        emu_l1_cr_write(e, &insn);
    if (e->stop != EMU_RUNNING)
        uc_emu_stop(uc);
}

bool emu_add_code_hook(emu *e)
{
    uc_hook h;
    uc_err err = uc_hook_add(e->uc, &h, UC_HOOK_CODE, on_code, e, 1, 0);
    if (err)
        fprintf(stderr, "nestvmx-emu: cannot install the code hook: %s\n", uc_strerror(err));
    return !err;
}
