/* SPDX-License-Identifier: MIT */
/*
 * VMX instructions from their bytes, for hosts that have no VM-exit information (emulators,
 * #UD trapping). Zydis does the x86 decoding; this unit maps its answer to the operand form
 * the VM-exit instruction-information field would give (SDM Vol. 3C 28.2.5), so the rest of the
 * library does not care which way an instruction was obtained. This is the only unit that may
 * call Zydis (tests/tools/check-symbols.sh).
 *
 * The bytes come from the guest: anything Zydis rejects, anything that is not one of the VMX
 * instructions below, and any operand that does not fit the expected form gives
 * NVMX_ERR_DECODE. Decoding uses only the stack; Zydis allocates nothing.
 */
#include "internal.h"

#ifdef NESTVMX_WITH_ZYDIS

#include <Zydis/Zydis.h>

typedef struct vmx_mnemonic {
    ZydisMnemonic mnemonic;
    uint16_t exit_reason;
} vmx_mnemonic;

/* The instructions whose exits the library handles (SDM Vol. 3C ch. 31 and Appendix C). */
static const vmx_mnemonic vmx_mnemonics[] = {
    {ZYDIS_MNEMONIC_VMCALL, NVMX_EXIT_VMCALL},     {ZYDIS_MNEMONIC_VMCLEAR, NVMX_EXIT_VMCLEAR},
    {ZYDIS_MNEMONIC_VMLAUNCH, NVMX_EXIT_VMLAUNCH}, {ZYDIS_MNEMONIC_VMPTRLD, NVMX_EXIT_VMPTRLD},
    {ZYDIS_MNEMONIC_VMPTRST, NVMX_EXIT_VMPTRST},   {ZYDIS_MNEMONIC_VMREAD, NVMX_EXIT_VMREAD},
    {ZYDIS_MNEMONIC_VMRESUME, NVMX_EXIT_VMRESUME}, {ZYDIS_MNEMONIC_VMWRITE, NVMX_EXIT_VMWRITE},
    {ZYDIS_MNEMONIC_VMXOFF, NVMX_EXIT_VMXOFF},     {ZYDIS_MNEMONIC_VMXON, NVMX_EXIT_VMXON},
    {ZYDIS_MNEMONIC_INVEPT, NVMX_EXIT_INVEPT},     {ZYDIS_MNEMONIC_INVVPID, NVMX_EXIT_INVVPID},
    {ZYDIS_MNEMONIC_VMFUNC, NVMX_EXIT_VMFUNC},
};

static bool exit_reason_of(ZydisMnemonic mnemonic, uint32_t *reason)
{
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(vmx_mnemonics); i++) {
        if (vmx_mnemonics[i].mnemonic == mnemonic) {
            *reason = vmx_mnemonics[i].exit_reason;
            return true;
        }
    }
    return false;
}

/* The default operand/address size follows CS.D (and CS.L) (SDM Vol. 1 3.6); real-address and
 * virtual-8086 mode are 16-bit. The stack width only matters to Zydis for stack operands. */
static bool zydis_mode(cpu_mode mode, ZydisMachineMode *machine, ZydisStackWidth *stack)
{
    switch (mode) {
    case CPU_MODE_LONG64:
        *machine = ZYDIS_MACHINE_MODE_LONG_64, *stack = ZYDIS_STACK_WIDTH_64;
        return true;
    case CPU_MODE_COMPAT32:
        *machine = ZYDIS_MACHINE_MODE_LONG_COMPAT_32, *stack = ZYDIS_STACK_WIDTH_32;
        return true;
    case CPU_MODE_COMPAT16:
        *machine = ZYDIS_MACHINE_MODE_LONG_COMPAT_16, *stack = ZYDIS_STACK_WIDTH_16;
        return true;
    case CPU_MODE_PROTECTED32:
        *machine = ZYDIS_MACHINE_MODE_LEGACY_32, *stack = ZYDIS_STACK_WIDTH_32;
        return true;
    case CPU_MODE_PROTECTED16:
        *machine = ZYDIS_MACHINE_MODE_LEGACY_16, *stack = ZYDIS_STACK_WIDTH_16;
        return true;
    case CPU_MODE_REAL:
    case CPU_MODE_V8086:
        *machine = ZYDIS_MACHINE_MODE_REAL_16, *stack = ZYDIS_STACK_WIDTH_16;
        return true;
    }
    return false;
}

/* The SDM's GPR number (RAX = 0 ... R15 = 15, SDM 28.2.5): 16-, 32- and 64-bit names of one
 * register share the number, as in the instruction-information field. Zydis numbers registers
 * of these classes in encoding order, which is the SDM order. */
static bool gpr_number(ZydisRegister reg, uint8_t *number)
{
    ZydisRegisterClass cls = ZydisRegisterGetClass(reg);
    if (cls != ZYDIS_REGCLASS_GPR16 && cls != ZYDIS_REGCLASS_GPR32 && cls != ZYDIS_REGCLASS_GPR64)
        return false;
    ZyanI8 id = ZydisRegisterGetId(reg);
    if (id < 0 || id > NVMX_REG_R15)
        return false;
    *number = (uint8_t)id;
    return true;
}

static bool segment_number(ZydisRegister reg, uint8_t *number)
{
    switch (reg) {
    case ZYDIS_REGISTER_ES:
        *number = NVMX_SEG_ES;
        return true;
    case ZYDIS_REGISTER_CS:
        *number = NVMX_SEG_CS;
        return true;
    case ZYDIS_REGISTER_SS:
        *number = NVMX_SEG_SS;
        return true;
    case ZYDIS_REGISTER_DS:
        *number = NVMX_SEG_DS;
        return true;
    case ZYDIS_REGISTER_FS:
        *number = NVMX_SEG_FS;
        return true;
    case ZYDIS_REGISTER_GS:
        *number = NVMX_SEG_GS;
        return true;
    default:
        return false;
    }
}

static bool scale_log2(ZyanU8 scale, uint8_t *log2)
{
    switch (scale) {
    case 1:
        *log2 = 0;
        return true;
    case 2:
        *log2 = 1;
        return true;
    case 4:
        *log2 = 2;
        return true;
    case 8:
        *log2 = 3;
        return true;
    default:
        return false;
    }
}

/* Base register, or RIP-relative addressing: the CPU adds the RIP (EIP with an address-size
 * prefix) of the next instruction (SDM Vol. 2A 2.2.1.6). The length is folded into the
 * displacement so the operand is relative to the instruction's own RIP (vmx_memory_operand). */
static bool convert_base(ZydisRegister base, uint8_t length, vmx_memory_operand *out)
{
    if (base == ZYDIS_REGISTER_NONE)
        return true;
    if (base == ZYDIS_REGISTER_RIP || base == ZYDIS_REGISTER_EIP) {
        out->rip_relative = true;
        out->displacement += length;
        return true;
    }
    out->has_base = true;
    return gpr_number(base, &out->base);
}

static bool convert_index(ZydisRegister index, ZyanU8 scale, vmx_memory_operand *out)
{
    if (index == ZYDIS_REGISTER_NONE)
        return true;
    out->has_index = true;
    return gpr_number(index, &out->index) && scale_log2(scale, &out->scale_log2);
}

/* Zydis reports the effective segment: the override prefix, else SS for RSP/RBP bases and DS
 * otherwise (SDM Vol. 1 3.7.4, Table 3-5). In 64-bit mode it drops ES/CS/SS/DS overrides,
 * which the CPU ignores there (SDM Vol. 1 3.3.7.1); the segment then only selects #SS vs #GP
 * for a non-canonical address and whether the FS/GS base applies (SDM Vol. 1 3.4.2.1). */
static bool convert_memory(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *op,
                           vmx_memory_operand *out)
{
    if (op->type != ZYDIS_OPERAND_TYPE_MEMORY || op->mem.type != ZYDIS_MEMOP_TYPE_MEM)
        return false;
    out->address_size = (uint8_t)(insn->address_width / 8);
    if (out->address_size != 2 && out->address_size != 4 && out->address_size != 8)
        return false;
    out->displacement = op->mem.disp.has_displacement ? op->mem.disp.value : 0;
    return segment_number(op->mem.segment, &out->segment) &&
           convert_base(op->mem.base, insn->length, out) &&
           convert_index(op->mem.index, op->mem.scale, out);
}

static bool convert_register(const ZydisDecodedOperand *op, uint8_t *number)
{
    return op->type == ZYDIS_OPERAND_TYPE_REGISTER && gpr_number(op->reg.value, number);
}

/* The explicit operand Zydis decoded from the given ModRM part, or NULL. */
static const ZydisDecodedOperand *modrm_operand(const ZydisDecodedInstruction *insn,
                                                const ZydisDecodedOperand *ops,
                                                ZydisOperandEncoding encoding)
{
    for (ZyanU8 i = 0; i < insn->operand_count_visible && i < ZYDIS_MAX_OPERAND_COUNT; i++) {
        if (ops[i].encoding == encoding)
            return &ops[i];
    }
    return NULL;
}

/* VMREAD/VMWRITE r/m: a register or a memory operand (bit 10 of the information field). */
static bool convert_rm(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *rm,
                       vmx_instruction *out)
{
    if (rm->type == ZYDIS_OPERAND_TYPE_REGISTER) {
        out->rm_is_register = true;
        return convert_register(rm, &out->rm_register);
    }
    return convert_memory(insn, rm, &out->memory);
}

static bool convert_operands(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
                             vmx_operand_form form, vmx_instruction *out)
{
    if (form == VMX_FORM_NONE)
        return true;
    const ZydisDecodedOperand *rm = modrm_operand(insn, ops, ZYDIS_OPERAND_ENCODING_MODRM_RM);
    const ZydisDecodedOperand *reg = modrm_operand(insn, ops, ZYDIS_OPERAND_ENCODING_MODRM_REG);
    if (!rm || (form != VMX_FORM_MEMORY && !reg))
        return false;
    if (form != VMX_FORM_MEMORY && !convert_register(reg, &out->reg))
        return false;
    if (form == VMX_FORM_RM_AND_REG)
        return convert_rm(insn, rm, out);
    return convert_memory(insn, rm, &out->memory);
}

nvmx_status vmx_instruction_decode(const uint8_t *bytes, size_t length, cpu_mode mode,
                                   vmx_instruction *out)
{
    ZydisMachineMode machine;
    ZydisStackWidth stack;
    if (!bytes || !out || !zydis_mode(mode, &machine, &stack))
        return NVMX_ERR_INVALID_ARGUMENT;
    ZydisDecoder decoder;
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (!ZYAN_SUCCESS(ZydisDecoderInit(&decoder, machine, stack)))
        return NVMX_ERR_DECODE;
    /* Zydis never reads past `length` and fails when the instruction is longer. */
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, bytes, length, &insn, ops)))
        return NVMX_ERR_DECODE;
    vmx_instruction result;
    vmx_operand_form form;
    nvmx_memset(&result, 0, sizeof(result));
    if (insn.length == 0 || insn.length > NVMX_MAX_INSTRUCTION_LENGTH || insn.length > length ||
        !exit_reason_of(insn.mnemonic, &result.exit_reason) ||
        !vmx_instruction_form(result.exit_reason, &form))
        return NVMX_ERR_DECODE;
    result.length = insn.length;
    if (!convert_operands(&insn, ops, form, &result))
        return NVMX_ERR_DECODE;
    *out = result;
    return NVMX_OK;
}

#else /* !NESTVMX_WITH_ZYDIS */

nvmx_status vmx_instruction_decode(const uint8_t *bytes, size_t length, cpu_mode mode,
                                   vmx_instruction *out)
{
    (void)bytes, (void)length, (void)mode, (void)out;
    return NVMX_ERR_UNSUPPORTED;
}

#endif
