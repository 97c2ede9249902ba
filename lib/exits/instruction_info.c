/* SPDX-License-Identifier: MIT */
/*
 * VMX instruction operands from the VM-exit instruction-information field and the exit
 * qualification, and back (SDM Vol. 3C 28.2.1 and 28.2.5; in other SDM editions 27.2.x or
 * 29.2.x): the tables "Format of the VM-Exit Instruction-Information Field as Used for VMCLEAR,
 * VMPTRLD, VMPTRST, VMXON, XRSTORS, and XSAVES", "... for VMREAD and VMWRITE" and "... for
 * INVEPT, INVPCID, and INVVPID".
 *
 * The field comes from the embedder (copied from the hardware VMCS), so it is validated: no
 * value, however malformed, yields a register number above 15 or a segment above GS.
 */
#include "internal.h"

/* Bit layout shared by the three tables (SDM 28.2.5). */
#define INFO_SCALE_SHIFT 0
#define INFO_SCALE_MASK 0x3u
#define INFO_REG1_SHIFT 3
#define INFO_ADDR_SIZE_SHIFT 7
#define INFO_ADDR_SIZE_MASK 0x7u
#define INFO_REGISTER_FORM (1u << 10)
#define INFO_SEGMENT_SHIFT 15
#define INFO_SEGMENT_MASK 0x7u
#define INFO_INDEX_SHIFT 18
#define INFO_INDEX_INVALID (1u << 22)
#define INFO_BASE_SHIFT 23
#define INFO_BASE_INVALID (1u << 27)
#define INFO_REG2_SHIFT 28
#define INFO_GPR_MASK 0xFu

static uint8_t info_gpr(uint32_t info, unsigned shift)
{
    return (uint8_t)((info >> shift) & INFO_GPR_MASK);
}

bool vmx_instruction_form(uint32_t exit_reason, vmx_operand_form *form)
{
    switch (exit_reason) {
    case NVMX_EXIT_VMCALL:
    case NVMX_EXIT_VMLAUNCH:
    case NVMX_EXIT_VMRESUME:
    case NVMX_EXIT_VMXOFF:
    case NVMX_EXIT_VMFUNC:
        *form = VMX_FORM_NONE;
        return true;
    case NVMX_EXIT_VMCLEAR:
    case NVMX_EXIT_VMPTRLD:
    case NVMX_EXIT_VMPTRST:
    case NVMX_EXIT_VMXON:
        *form = VMX_FORM_MEMORY;
        return true;
    case NVMX_EXIT_VMREAD:
    case NVMX_EXIT_VMWRITE:
        *form = VMX_FORM_RM_AND_REG;
        return true;
    case NVMX_EXIT_INVEPT:
    case NVMX_EXIT_INVVPID:
        *form = VMX_FORM_MEMORY_AND_REG;
        return true;
    default:
        return false;
    }
}

/* Address-size encoding 0/1/2 = 16/32/64 bits; "other values not used" (SDM 28.2.5), so they
 * are malformed rather than guessed at. */
static bool address_size_from_info(uint32_t info, uint8_t *bytes)
{
    switch ((info >> INFO_ADDR_SIZE_SHIFT) & INFO_ADDR_SIZE_MASK) {
    case 0:
        *bytes = 2;
        return true;
    case 1:
        *bytes = 4;
        return true;
    case 2:
        *bytes = 8;
        return true;
    default:
        return false;
    }
}

/* The memory operand. The displacement is the whole qualification: bits beyond the address
 * size are undefined (SDM 28.2.1) but harmless, as the effective address is truncated to the
 * address size; keeping them makes to_info(from_info(x)) reproduce x exactly. Fields the SDM
 * leaves undefined (scale and index without an index, base without a base) are left 0. */
static nvmx_status memory_from_info(uint32_t info, uint64_t qualification, vmx_memory_operand *mem)
{
    uint32_t segment = (info >> INFO_SEGMENT_SHIFT) & INFO_SEGMENT_MASK;
    if (segment > NVMX_SEG_GS || !address_size_from_info(info, &mem->address_size))
        return NVMX_ERR_INVALID_ARGUMENT;
    mem->segment = (uint8_t)segment;
    mem->has_index = !(info & INFO_INDEX_INVALID);
    if (mem->has_index) {
        mem->index = info_gpr(info, INFO_INDEX_SHIFT);
        mem->scale_log2 = (uint8_t)((info >> INFO_SCALE_SHIFT) & INFO_SCALE_MASK);
    }
    mem->has_base = !(info & INFO_BASE_INVALID);
    if (mem->has_base)
        mem->base = info_gpr(info, INFO_BASE_SHIFT);
    mem->displacement = (int64_t)qualification;
    return NVMX_OK;
}

/* VMREAD/VMWRITE: bit 10 selects a register r/m operand (Reg1, bits 6:3); the memory fields
 * are then undefined and ignored, as is the qualification (hardware stores 0, SDM 28.2.1). */
static nvmx_status rm_from_info(uint32_t info, uint64_t qualification, vmx_instruction *out)
{
    if (info & INFO_REGISTER_FORM) {
        out->rm_is_register = true;
        out->rm_register = info_gpr(info, INFO_REG1_SHIFT);
        return NVMX_OK;
    }
    return memory_from_info(info, qualification, &out->memory);
}

nvmx_status vmx_instruction_from_info(uint32_t exit_reason, uint64_t qualification,
                                      uint32_t instruction_info, uint32_t length,
                                      vmx_instruction *out)
{
    vmx_operand_form form;
    if (!out || !vmx_instruction_form(exit_reason, &form) || length == 0 ||
        length > NVMX_MAX_INSTRUCTION_LENGTH)
        return NVMX_ERR_INVALID_ARGUMENT;
    vmx_instruction insn;
    nvmx_memset(&insn, 0, sizeof(insn));
    insn.exit_reason = exit_reason;
    insn.length = (uint8_t)length;
    nvmx_status status = NVMX_OK;
    switch (form) {
    case VMX_FORM_NONE:
        /* The field is undefined for these exits (SDM 28.2.5): nothing to read. */
        break;
    case VMX_FORM_MEMORY:
        /* Bit 10 is "cleared to 0" and bits 31:28 undefined: only memory forms exist. */
        status = memory_from_info(instruction_info, qualification, &insn.memory);
        break;
    case VMX_FORM_RM_AND_REG:
        status = rm_from_info(instruction_info, qualification, &insn);
        insn.reg = info_gpr(instruction_info, INFO_REG2_SHIFT);
        break;
    case VMX_FORM_MEMORY_AND_REG:
        status = memory_from_info(instruction_info, qualification, &insn.memory);
        insn.reg = info_gpr(instruction_info, INFO_REG2_SHIFT);
        break;
    }
    if (status == NVMX_OK)
        *out = insn;
    return status;
}

static uint32_t address_size_to_info(uint8_t bytes)
{
    return bytes == 2 ? 0u : bytes == 4 ? 1u : 2u;
}

static uint64_t address_size_mask(uint8_t bytes)
{
    return bytes == 2 ? 0xFFFFull : bytes == 4 ? 0xFFFFFFFFull : UINT64_MAX;
}

/* The memory fields and the qualification. A RIP-relative operand is reported the way
 * hardware reports one: RIP has no number in the 4-bit register fields, so base and index are
 * invalid and the qualification holds the displacement plus the RIP of the next instruction
 * (SDM 28.2.1; our displacement already includes the length, see vmx_memory_operand). That sum
 * is truncated to the address size, the width of the address it is (bits above it are
 * undefined in the qualification anyway). */
static void memory_to_info(const vmx_memory_operand *mem, uint64_t rip, uint32_t *info,
                           uint64_t *qualification)
{
    uint32_t v = (address_size_to_info(mem->address_size) << INFO_ADDR_SIZE_SHIFT) |
                 ((uint32_t)(mem->segment & INFO_SEGMENT_MASK) << INFO_SEGMENT_SHIFT);
    if (mem->has_index && !mem->rip_relative)
        v |= ((uint32_t)(mem->index & INFO_GPR_MASK) << INFO_INDEX_SHIFT) |
             ((uint32_t)(mem->scale_log2 & INFO_SCALE_MASK) << INFO_SCALE_SHIFT);
    else
        v |= INFO_INDEX_INVALID;
    if (mem->has_base && !mem->rip_relative)
        v |= (uint32_t)(mem->base & INFO_GPR_MASK) << INFO_BASE_SHIFT;
    else
        v |= INFO_BASE_INVALID;
    *info = v;
    if (mem->rip_relative)
        *qualification = (rip + (uint64_t)mem->displacement) & address_size_mask(mem->address_size);
    else
        *qualification = (uint64_t)mem->displacement;
}

/* Undefined bits are written as 0: the SDM lets hardware store anything there, and 0 is the
 * one value that cannot make L1 depend on a bit that carries no meaning. */
void vmx_instruction_to_info(const vmx_instruction *insn, uint64_t rip, uint32_t *instruction_info,
                             uint64_t *qualification)
{
    vmx_operand_form form;
    *instruction_info = 0;
    *qualification = 0;
    if (!vmx_instruction_form(insn->exit_reason, &form) || form == VMX_FORM_NONE)
        return;
    if (form == VMX_FORM_RM_AND_REG && insn->rm_is_register)
        *instruction_info =
            INFO_REGISTER_FORM | ((uint32_t)(insn->rm_register & INFO_GPR_MASK) << INFO_REG1_SHIFT);
    else
        memory_to_info(&insn->memory, rip, instruction_info, qualification);
    if (form != VMX_FORM_MEMORY)
        *instruction_info |= (uint32_t)(insn->reg & INFO_GPR_MASK) << INFO_REG2_SHIFT;
}
