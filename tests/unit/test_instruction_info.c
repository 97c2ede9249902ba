/* SPDX-License-Identifier: MIT */
/* VMX instruction operands from and to the VM-exit instruction-information field and the exit
 * qualification (SDM Vol. 3C 28.2.1, 28.2.5). */
#include <criterion/criterion.h>

#include "internal.h"

#define NO_REG (-1)

/* A memory-operand information field as hardware writes it, undefined bits 0. */
static uint32_t mem_info(unsigned asz_code, unsigned seg, int base, int index, unsigned scale)
{
    uint32_t v = (asz_code << 7) | (seg << 15);
    v |= index == NO_REG ? 1u << 22 : ((uint32_t)index << 18) | scale;
    v |= base == NO_REG ? 1u << 27 : (uint32_t)base << 23;
    return v;
}

static uint32_t reg2(unsigned reg)
{
    return reg << 28;
}

static const uint32_t all_reasons[] = {
    NVMX_EXIT_VMCALL, NVMX_EXIT_VMCLEAR,  NVMX_EXIT_VMLAUNCH, NVMX_EXIT_VMPTRLD, NVMX_EXIT_VMPTRST,
    NVMX_EXIT_VMREAD, NVMX_EXIT_VMRESUME, NVMX_EXIT_VMWRITE,  NVMX_EXIT_VMXOFF,  NVMX_EXIT_VMXON,
    NVMX_EXIT_INVEPT, NVMX_EXIT_INVVPID,  NVMX_EXIT_VMFUNC,
};

/* SDM 28.2.5 (VMCLEAR/VMPTRLD/VMPTRST/VMXON table): scale 1:0, address size 9:7, segment 17:15,
 * index 21:18, base 26:23; SDM 28.2.1: the displacement is in the exit qualification. */
Test(instruction_info, memory_operand_every_field_decoded)
{
    vmx_instruction insn;
    uint32_t info = mem_info(2, NVMX_SEG_FS, NVMX_REG_R14, NVMX_REG_R9, 3);
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMPTRLD, (uint64_t)-8, info, 9, &insn),
                 NVMX_OK);
    cr_assert_eq(insn.exit_reason, NVMX_EXIT_VMPTRLD);
    cr_assert_eq(insn.length, 9);
    cr_assert_not(insn.rm_is_register);
    cr_assert_eq(insn.memory.segment, NVMX_SEG_FS);
    cr_assert(insn.memory.has_base);
    cr_assert_eq(insn.memory.base, NVMX_REG_R14);
    cr_assert(insn.memory.has_index);
    cr_assert_eq(insn.memory.index, NVMX_REG_R9);
    cr_assert_eq(insn.memory.scale_log2, 3);
    cr_assert_eq(insn.memory.address_size, 8);
    cr_assert_eq(insn.memory.displacement, -8);
    cr_assert_not(insn.memory.rip_relative);
    cr_assert_eq(insn.reg, 0);
}

/* SDM 28.2.5: address size 0 = 16-bit, 1 = 32-bit, 2 = 64-bit. */
Test(instruction_info, address_size_codes_0_1_2_are_2_4_8_bytes)
{
    static const uint8_t bytes[] = {2, 4, 8};
    for (unsigned code = 0; code < 3; code++) {
        vmx_instruction insn;
        cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMCLEAR, 0,
                                               mem_info(code, NVMX_SEG_DS, 0, NO_REG, 0), 3, &insn),
                     NVMX_OK);
        cr_assert_eq(insn.memory.address_size, bytes[code]);
    }
}

/* SDM 28.2.5: address-size values 3-7 are "not used", so a memory operand with one is malformed. */
Test(instruction_info, reserved_address_size_rejected)
{
    static const uint32_t reasons[] = {NVMX_EXIT_VMXON, NVMX_EXIT_VMWRITE, NVMX_EXIT_INVEPT};
    for (unsigned r = 0; r < NVMX_ARRAY_SIZE(reasons); r++) {
        for (unsigned code = 3; code < 8; code++) {
            vmx_instruction insn = {.exit_reason = 0xABCD};
            cr_assert_eq(vmx_instruction_from_info(
                             reasons[r], 0, mem_info(code, NVMX_SEG_DS, 0, NO_REG, 0), 3, &insn),
                         NVMX_ERR_INVALID_ARGUMENT);
            cr_assert_eq(insn.exit_reason, 0xABCD, "out untouched on error");
        }
    }
}

/* SDM 28.2.5: segment values 0-5 are ES..GS; 6 and 7 are not used. */
Test(instruction_info, segment_above_gs_rejected)
{
    vmx_instruction insn;
    for (unsigned seg = 0; seg < 8; seg++) {
        nvmx_status expect = seg <= NVMX_SEG_GS ? NVMX_OK : NVMX_ERR_INVALID_ARGUMENT;
        cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMPTRST, 0, mem_info(1, seg, 0, NO_REG, 0),
                                               3, &insn),
                     expect, "segment %u", seg);
        if (expect == NVMX_OK)
            cr_assert_eq(insn.memory.segment, seg);
    }
}

/* SDM 28.2.5: bit 22 set = no index register; index and scale are then undefined. */
Test(instruction_info, index_invalid_ignores_index_and_scale)
{
    vmx_instruction insn;
    uint32_t info = mem_info(2, NVMX_SEG_DS, 0, NO_REG, 0) | (0xFu << 18) | 3u;
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMPTRLD, 0, info, 3, &insn), NVMX_OK);
    cr_assert_not(insn.memory.has_index);
    cr_assert_eq(insn.memory.index, 0);
    cr_assert_eq(insn.memory.scale_log2, 0);
}

/* SDM 28.2.5: bit 27 set = no base register; the base field is then undefined. */
Test(instruction_info, base_invalid_ignores_base)
{
    vmx_instruction insn;
    uint32_t info = mem_info(2, NVMX_SEG_DS, NO_REG, NVMX_REG_RCX, 2) | (0xFu << 23);
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMPTRLD, 0x1000, info, 8, &insn), NVMX_OK);
    cr_assert_not(insn.memory.has_base);
    cr_assert_eq(insn.memory.base, 0);
    cr_assert(insn.memory.has_index);
    cr_assert_eq(insn.memory.index, NVMX_REG_RCX);
    cr_assert_eq(insn.memory.scale_log2, 2);
    cr_assert_eq(insn.memory.displacement, 0x1000);
}

/* SDM 28.2.1: the qualification holds the displacement sign-extended to 64 bits. */
Test(instruction_info, displacement_is_sign_extended_qualification)
{
    vmx_instruction insn;
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMXON, 0xFFFFFFFF80000000ull,
                                           mem_info(2, NVMX_SEG_DS, 0, NO_REG, 0), 8, &insn),
                 NVMX_OK);
    cr_assert_eq(insn.memory.displacement, INT32_MIN);
}

/* SDM 28.2.5 (VMREAD/VMWRITE table): bit 10 = 1 is a register operand Reg1 (6:3); the memory
 * fields, address size included, are undefined; Reg2 is 31:28. */
Test(instruction_info, vmread_register_form_uses_reg1_and_ignores_memory_fields)
{
    vmx_instruction insn;
    uint32_t info = (NVMX_REG_R13 << 3) | (1u << 10) | reg2(NVMX_REG_RDX) | (7u << 7) | (7u << 15) |
                    3u; /* undefined bits, even reserved values */
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMREAD, 0x1234, info, 4, &insn), NVMX_OK);
    cr_assert(insn.rm_is_register);
    cr_assert_eq(insn.rm_register, NVMX_REG_R13);
    cr_assert_eq(insn.reg, NVMX_REG_RDX);
    cr_assert_eq(insn.memory.address_size, 0);
    cr_assert_eq(insn.memory.displacement, 0, "qualification not used for a register form");
}

/* SDM 28.2.5 (VMREAD/VMWRITE table): bit 10 = 0 is a memory operand; Reg2 is 31:28. */
Test(instruction_info, vmwrite_memory_form_has_memory_and_reg2)
{
    vmx_instruction insn;
    uint32_t info = mem_info(1, NVMX_SEG_SS, NVMX_REG_RBP, NO_REG, 0) | reg2(NVMX_REG_R15);
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMWRITE, 0x10, info, 4, &insn), NVMX_OK);
    cr_assert_not(insn.rm_is_register);
    cr_assert_eq(insn.reg, NVMX_REG_R15);
    cr_assert_eq(insn.memory.segment, NVMX_SEG_SS);
    cr_assert_eq(insn.memory.base, NVMX_REG_RBP);
    cr_assert_eq(insn.memory.address_size, 4);
    cr_assert_eq(insn.memory.displacement, 0x10);
}

/* SDM 28.2.5 (INVEPT/INVPCID/INVVPID table): a memory descriptor plus Reg2 (31:28). */
Test(instruction_info, invept_invvpid_have_descriptor_and_reg2)
{
    static const uint32_t reasons[] = {NVMX_EXIT_INVEPT, NVMX_EXIT_INVVPID};
    for (unsigned r = 0; r < 2; r++) {
        vmx_instruction insn;
        uint32_t info = mem_info(2, NVMX_SEG_DS, NVMX_REG_RAX, NO_REG, 0) | reg2(NVMX_REG_RCX);
        cr_assert_eq(vmx_instruction_from_info(reasons[r], 0, info, 5, &insn), NVMX_OK);
        cr_assert_eq(insn.exit_reason, reasons[r]);
        cr_assert_not(insn.rm_is_register);
        cr_assert_eq(insn.reg, NVMX_REG_RCX);
        cr_assert_eq(insn.memory.base, NVMX_REG_RAX);
    }
}

/* SDM 28.2.5 (VMCLEAR/VMPTRLD/VMPTRST/VMXON table): bit 10 is 0 and bits 31:28 undefined:
 * these have only a memory operand, whatever those bits hold. */
Test(instruction_info, pointer_instructions_are_memory_only)
{
    static const uint32_t reasons[] = {NVMX_EXIT_VMCLEAR, NVMX_EXIT_VMPTRLD, NVMX_EXIT_VMPTRST,
                                       NVMX_EXIT_VMXON};
    for (unsigned r = 0; r < NVMX_ARRAY_SIZE(reasons); r++) {
        vmx_instruction insn;
        uint32_t info = mem_info(2, NVMX_SEG_DS, NVMX_REG_RSI, NO_REG, 0) | reg2(9) | (1u << 10);
        cr_assert_eq(vmx_instruction_from_info(reasons[r], 0, info, 4, &insn), NVMX_OK);
        cr_assert_not(insn.rm_is_register);
        cr_assert_eq(insn.reg, 0);
        cr_assert_eq(insn.memory.base, NVMX_REG_RSI);
    }
}

/* SDM 28.2.5: the field is undefined for VMCALL, VMLAUNCH, VMRESUME, VMXOFF and VMFUNC. */
Test(instruction_info, operandless_instructions_ignore_info)
{
    static const uint32_t reasons[] = {NVMX_EXIT_VMCALL, NVMX_EXIT_VMLAUNCH, NVMX_EXIT_VMRESUME,
                                       NVMX_EXIT_VMXOFF, NVMX_EXIT_VMFUNC};
    for (unsigned r = 0; r < NVMX_ARRAY_SIZE(reasons); r++) {
        vmx_instruction insn;
        cr_assert_eq(vmx_instruction_from_info(reasons[r], UINT64_MAX, UINT32_MAX, 3, &insn),
                     NVMX_OK);
        cr_assert_eq(insn.exit_reason, reasons[r]);
        cr_assert_eq(insn.length, 3);
        cr_assert_not(insn.rm_is_register);
        cr_assert_eq(insn.reg, 0);
        cr_assert_eq(insn.memory.address_size, 0);
    }
}

/* SDM Appendix C: only the VMX instruction exit reasons carry VMX operands. */
Test(instruction_info, every_vmx_reason_accepted_other_reasons_rejected)
{
    vmx_instruction insn;
    uint32_t info = mem_info(2, NVMX_SEG_DS, 0, NO_REG, 0);
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(all_reasons); i++)
        cr_assert_eq(vmx_instruction_from_info(all_reasons[i], 0, info, 3, &insn), NVMX_OK,
                     "reason %u", all_reasons[i]);
    static const uint32_t others[] = {
        0, 17, 28, 31, 49, 51, 58, 60, 63, 0xFFFF, 1u << 31 | 21, NVMX_EXIT_UNDECODED, UINT32_MAX};
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(others); i++)
        cr_assert_eq(vmx_instruction_from_info(others[i], 0, info, 3, &insn),
                     NVMX_ERR_INVALID_ARGUMENT, "reason %u", others[i]);
}

/* SDM 28.2.4: the instruction length is 1-15 bytes (an x86 instruction is at most 15). */
Test(instruction_info, length_outside_1_to_15_rejected)
{
    vmx_instruction insn;
    uint32_t info = mem_info(2, NVMX_SEG_DS, 0, NO_REG, 0);
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMCLEAR, 0, info, 0, &insn),
                 NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMCLEAR, 0, info, 16, &insn),
                 NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMLAUNCH, 0, 0, UINT32_MAX, &insn),
                 NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMCLEAR, 0, info, 1, &insn), NVMX_OK);
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMCLEAR, 0, info, 15, &insn), NVMX_OK);
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMCLEAR, 0, info, 3, NULL),
                 NVMX_ERR_INVALID_ARGUMENT);
}

/* SDM 28.2.5: register fields are 4 bits; no input, however malformed, yields a register
 * above R15, a segment above GS or an address size other than 2/4/8. */
Test(instruction_info, any_info_yields_in_range_numbers)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (unsigned n = 0; n < 20000; n++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        vmx_instruction insn;
        uint32_t reason = all_reasons[n % NVMX_ARRAY_SIZE(all_reasons)];
        if (vmx_instruction_from_info(reason, x, (uint32_t)x, 1 + (n % 15), &insn) != NVMX_OK)
            continue;
        cr_assert_leq(insn.reg, 15);
        cr_assert_leq(insn.rm_register, 15);
        cr_assert_leq(insn.memory.base, 15);
        cr_assert_leq(insn.memory.index, 15);
        cr_assert_leq(insn.memory.scale_log2, 3);
        cr_assert_leq(insn.memory.segment, NVMX_SEG_GS);
        cr_assert(insn.memory.address_size == 0 || insn.memory.address_size == 2 ||
                  insn.memory.address_size == 4 || insn.memory.address_size == 8);
    }
}

static void assert_round_trip(uint32_t reason, uint32_t info, uint64_t qualification)
{
    vmx_instruction insn;
    uint32_t info2;
    uint64_t qual2;
    cr_assert_eq(vmx_instruction_from_info(reason, qualification, info, 5, &insn), NVMX_OK,
                 "reason %u info %#x", reason, info);
    vmx_instruction_to_info(&insn, 0x1000, &info2, &qual2);
    cr_assert_eq(info2, info, "reason %u: info %#x came back as %#x", reason, info, info2);
    cr_assert_eq(qual2, qualification, "reason %u info %#x", reason, info);
}

/* SDM 28.2.5: to_info(from_info(x)) == x for every well-formed memory field (undefined bits 0). */
Test(instruction_info, memory_forms_round_trip)
{
    static const uint32_t reasons[] = {NVMX_EXIT_VMCLEAR, NVMX_EXIT_VMPTRLD, NVMX_EXIT_VMPTRST,
                                       NVMX_EXIT_VMXON,   NVMX_EXIT_VMREAD,  NVMX_EXIT_VMWRITE,
                                       NVMX_EXIT_INVEPT,  NVMX_EXIT_INVVPID};
    static const int regs[] = {NO_REG, 0, 4, 5, 8, 15};
    for (unsigned r = 0; r < NVMX_ARRAY_SIZE(reasons); r++) {
        vmx_operand_form form;
        cr_assert(vmx_instruction_form(reasons[r], &form));
        for (unsigned asz = 0; asz < 3; asz++)
            for (unsigned seg = 0; seg <= NVMX_SEG_GS; seg++)
                for (unsigned b = 0; b < NVMX_ARRAY_SIZE(regs); b++)
                    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(regs); i++) {
                        unsigned scale = regs[i] == NO_REG ? 0 : (b + i) % 4;
                        uint32_t info = mem_info(asz, seg, regs[b], regs[i], scale);
                        if (form != VMX_FORM_MEMORY)
                            info |= reg2((b * 7 + i) % 16);
                        assert_round_trip(reasons[r], info, (uint64_t)(int64_t)(-17 * (int)b));
                    }
    }
}

/* SDM 28.2.5/28.2.1: the register forms of VMREAD/VMWRITE round-trip, with qualification 0. */
Test(instruction_info, register_forms_round_trip_with_zero_qualification)
{
    static const uint32_t reasons[] = {NVMX_EXIT_VMREAD, NVMX_EXIT_VMWRITE};
    for (unsigned r = 0; r < 2; r++)
        for (unsigned reg1 = 0; reg1 < 16; reg1++)
            assert_round_trip(reasons[r], (reg1 << 3) | (1u << 10) | reg2(15 - reg1), 0);
}

/* SDM 28.2.5: operandless instructions round-trip as info 0, qualification 0. */
Test(instruction_info, operandless_round_trip_as_zero)
{
    static const uint32_t reasons[] = {NVMX_EXIT_VMCALL, NVMX_EXIT_VMLAUNCH, NVMX_EXIT_VMRESUME,
                                       NVMX_EXIT_VMXOFF, NVMX_EXIT_VMFUNC};
    for (unsigned r = 0; r < NVMX_ARRAY_SIZE(reasons); r++)
        assert_round_trip(reasons[r], 0, 0);
}

/* SDM 28.2.5: bits the tables leave undefined (2, 6:3 and 31:28 for the pointer instructions,
 * 14:11, ...) are produced as 0, whatever stray values the instruction struct carries. */
Test(instruction_info, to_info_writes_undefined_bits_as_zero)
{
    vmx_instruction insn = {.exit_reason = NVMX_EXIT_VMPTRLD,
                            .length = 3,
                            .reg = 9,
                            .rm_register = 7,
                            .memory = {.segment = NVMX_SEG_DS,
                                       .has_base = true,
                                       .base = 0,
                                       .index = 12,
                                       .scale_log2 = 3,
                                       .address_size = 8}};
    uint32_t info;
    uint64_t qual;
    vmx_instruction_to_info(&insn, 0, &info, &qual);
    cr_assert_eq(info, mem_info(2, NVMX_SEG_DS, 0, NO_REG, 0));
    cr_assert_eq(qual, 0);
}

/* SDM 28.2.1: for a register operand the qualification is 0. */
Test(instruction_info, to_info_register_form_qualification_zero)
{
    vmx_instruction insn = {.exit_reason = NVMX_EXIT_VMREAD,
                            .length = 3,
                            .rm_is_register = true,
                            .rm_register = 3,
                            .reg = 1,
                            .memory = {.displacement = 0x55, .address_size = 8}};
    uint32_t info;
    uint64_t qual;
    vmx_instruction_to_info(&insn, 0, &info, &qual);
    cr_assert_eq(info, (3u << 3) | (1u << 10) | reg2(1));
    cr_assert_eq(qual, 0);
}

/* SDM 28.2.1: for RIP-relative addressing hardware stores displacement + RIP of the next
 * instruction in the qualification; base and index are reported invalid. */
Test(instruction_info, to_info_rip_relative_reports_absolute_qualification)
{
    /* vmptrld [rip + 0x10], 7 bytes: displacement holds 0x10 + 7 (see vmx_memory_operand). */
    vmx_instruction insn = {
        .exit_reason = NVMX_EXIT_VMPTRLD,
        .length = 7,
        .memory = {
            .segment = NVMX_SEG_DS, .address_size = 8, .displacement = 0x17, .rip_relative = true}};
    uint32_t info;
    uint64_t qual;
    vmx_instruction_to_info(&insn, 0x7FFF00001000ull, &info, &qual);
    cr_assert_eq(info, mem_info(2, NVMX_SEG_DS, NO_REG, NO_REG, 0));
    cr_assert_eq(qual, 0x7FFF00001017ull);
}

/* SDM Vol. 2A 2.2.1.6: with a 32-bit address size RIP-relative addressing uses EIP; the sum
 * is a 32-bit address. */
Test(instruction_info, to_info_rip_relative_32bit_address_wraps)
{
    vmx_instruction insn = {
        .exit_reason = NVMX_EXIT_VMCLEAR,
        .length = 9,
        .memory = {
            .segment = NVMX_SEG_DS, .address_size = 4, .displacement = 0x19, .rip_relative = true}};
    uint32_t info;
    uint64_t qual;
    vmx_instruction_to_info(&insn, 0x1FFFFFFF0ull, &info, &qual);
    cr_assert_eq(info, mem_info(1, NVMX_SEG_DS, NO_REG, NO_REG, 0));
    cr_assert_eq(qual, 0x9ull);
}

/* SDM Appendix C: the operand form follows the exit reason. */
Test(instruction_info, form_by_reason)
{
    vmx_operand_form form;
    cr_assert(vmx_instruction_form(NVMX_EXIT_VMXON, &form));
    cr_assert_eq(form, VMX_FORM_MEMORY);
    cr_assert(vmx_instruction_form(NVMX_EXIT_VMREAD, &form));
    cr_assert_eq(form, VMX_FORM_RM_AND_REG);
    cr_assert(vmx_instruction_form(NVMX_EXIT_INVVPID, &form));
    cr_assert_eq(form, VMX_FORM_MEMORY_AND_REG);
    cr_assert(vmx_instruction_form(NVMX_EXIT_VMFUNC, &form));
    cr_assert_eq(form, VMX_FORM_NONE);
    cr_assert_not(vmx_instruction_form(NVMX_EXIT_CPUID, &form));
}
