/* SPDX-License-Identifier: MIT */
/* VMX instructions decoded from their bytes with Zydis (lib/decode.c), into the operand form of
 * the VM-exit instruction-information field (SDM Vol. 3C 28.2.5). */
#include <criterion/criterion.h>

#include "internal.h"

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static const uint8_t vmlaunch[] = {0x0f, 0x01, 0xc2};

/* The decode tests need Zydis; a build without it must say so for every input. */
static void require_zydis(void)
{
    vmx_instruction insn;
    if (vmx_instruction_decode(vmlaunch, sizeof(vmlaunch), CPU_MODE_LONG64, &insn) ==
        NVMX_ERR_UNSUPPORTED)
        cr_skip_test("built without Zydis (NESTVMX_WITH_ZYDIS off)");
}

TestSuite(decode, .init = require_zydis);

static vmx_instruction decode_ok(cpu_mode mode, const uint8_t *bytes, size_t len)
{
    vmx_instruction insn;
    nvmx_status status = vmx_instruction_decode(bytes, len, mode, &insn);
    cr_assert_eq(status, NVMX_OK, "decode failed: %s", nvmx_status_str(status));
    return insn;
}

static nvmx_status decode_status(cpu_mode mode, const uint8_t *bytes, size_t len)
{
    vmx_instruction insn;
    return vmx_instruction_decode(bytes, len, mode, &insn);
}

static void assert_memory(const vmx_instruction *insn, uint8_t segment, int base, int index,
                          uint8_t scale_log2, uint8_t address_size, int64_t displacement)
{
    const vmx_memory_operand *m = &insn->memory;
    cr_assert_not(insn->rm_is_register);
    cr_assert_eq(m->segment, segment, "segment %u", m->segment);
    cr_assert_eq(m->has_base, base >= 0);
    if (base >= 0)
        cr_assert_eq(m->base, base, "base %u", m->base);
    cr_assert_eq(m->has_index, index >= 0);
    if (index >= 0)
        cr_assert_eq(m->index, index, "index %u", m->index);
    cr_assert_eq(m->scale_log2, scale_log2);
    cr_assert_eq(m->address_size, address_size);
    cr_assert_eq(m->displacement, displacement, "displacement %lld", (long long)m->displacement);
    cr_assert_not(m->rip_relative);
}

/* SDM Vol. 1 3.7.4 (Table 3-5): an RSP base selects SS; vmptrld [rsp] is 0F C7 /6. */
Test(decode, vmptrld_rsp_base_uses_ss)
{
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0x34, 0x24));
    cr_assert_eq(i.exit_reason, NVMX_EXIT_VMPTRLD);
    cr_assert_eq(i.length, 4);
    assert_memory(&i, NVMX_SEG_SS, NVMX_REG_RSP, -1, 0, 8, 0);
}

/* SDM Vol. 3C 31.3 VMXON: F3 0F C7 /6. */
Test(decode, vmxon_memory)
{
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0xf3, 0x0f, 0xc7, 0x30));
    cr_assert_eq(i.exit_reason, NVMX_EXIT_VMXON);
    cr_assert_eq(i.length, 4);
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 8, 0);
}

/* SDM Vol. 3C 31.3 VMCLEAR: 66 0F C7 /6. */
Test(decode, vmclear_memory)
{
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x66, 0x0f, 0xc7, 0x30));
    cr_assert_eq(i.exit_reason, NVMX_EXIT_VMCLEAR);
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 8, 0);
}

/* SDM Vol. 3C 31.3 VMPTRST: 0F C7 /7. */
Test(decode, vmptrst_memory)
{
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0x38));
    cr_assert_eq(i.exit_reason, NVMX_EXIT_VMPTRST);
    cr_assert_eq(i.length, 3);
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 8, 0);
}

/* SDM Vol. 3C 31.3 VMREAD r/m64, r64 (0F 78 /r): r/m is the destination, reg the field. */
Test(decode, vmread_register_form)
{
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0x78, 0xc8));
    cr_assert_eq(i.exit_reason, NVMX_EXIT_VMREAD);
    cr_assert(i.rm_is_register);
    cr_assert_eq(i.rm_register, NVMX_REG_RAX);
    cr_assert_eq(i.reg, NVMX_REG_RCX);
    cr_assert_eq(i.memory.address_size, 0, "no memory operand");
}

/* SDM Vol. 3C 31.3 VMWRITE r64, r/m64 (0F 79 /r): reg is the field, r/m the source. */
Test(decode, vmwrite_register_form)
{
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0x79, 0xc8));
    cr_assert_eq(i.exit_reason, NVMX_EXIT_VMWRITE);
    cr_assert(i.rm_is_register);
    cr_assert_eq(i.rm_register, NVMX_REG_RAX);
    cr_assert_eq(i.reg, NVMX_REG_RCX);
}

/* SDM Vol. 3C 31.3: VMLAUNCH 0F 01 C2, VMRESUME C3, VMXOFF C4, VMCALL C1, VMFUNC D4. */
Test(decode, operandless_instructions)
{
    static const struct {
        uint8_t modrm;
        uint32_t reason;
    } cases[] = {
        {0xc2, NVMX_EXIT_VMLAUNCH}, {0xc3, NVMX_EXIT_VMRESUME}, {0xc4, NVMX_EXIT_VMXOFF},
        {0xc1, NVMX_EXIT_VMCALL},   {0xd4, NVMX_EXIT_VMFUNC},
    };
    for (unsigned c = 0; c < NVMX_ARRAY_SIZE(cases); c++) {
        vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0x01, cases[c].modrm));
        cr_assert_eq(i.exit_reason, cases[c].reason);
        cr_assert_eq(i.length, 3);
        cr_assert_not(i.rm_is_register);
        cr_assert_eq(i.reg, 0);
        cr_assert_eq(i.memory.address_size, 0);
    }
}

/* SDM Vol. 3C 31.3 INVEPT r64, m128 (66 0F 38 80 /r) and INVVPID (66 0F 38 81 /r). */
Test(decode, invept_invvpid_register_and_descriptor)
{
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x66, 0x0f, 0x38, 0x80, 0x08));
    cr_assert_eq(i.exit_reason, NVMX_EXIT_INVEPT);
    cr_assert_eq(i.length, 5);
    cr_assert_eq(i.reg, NVMX_REG_RCX);
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 8, 0);
    i = decode_ok(CPU_MODE_LONG64, BYTES(0x66, 0x0f, 0x38, 0x81, 0x08));
    cr_assert_eq(i.exit_reason, NVMX_EXIT_INVVPID);
    cr_assert_eq(i.reg, NVMX_REG_RCX);
}

/* SDM Vol. 1 3.3.7.1: FS and GS overrides apply in 64-bit mode. */
Test(decode, fs_gs_overrides_in_64bit_mode)
{
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x64, 0x0f, 0xc7, 0x30));
    assert_memory(&i, NVMX_SEG_FS, NVMX_REG_RAX, -1, 0, 8, 0);
    i = decode_ok(CPU_MODE_LONG64, BYTES(0x65, 0x0f, 0xc7, 0x30));
    assert_memory(&i, NVMX_SEG_GS, NVMX_REG_RAX, -1, 0, 8, 0);
}

/* SDM Vol. 1 3.3.7.1: CS/DS/ES/SS overrides are ignored in 64-bit mode (an SS override on a
 * non-stack base still faults with #GP), so the default segment stays. */
Test(decode, es_cs_ss_overrides_ignored_in_64bit_mode)
{
    static const uint8_t prefixes[] = {0x26, 0x2e, 0x36, 0x3e};
    for (unsigned p = 0; p < 4; p++) {
        vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(prefixes[p], 0x0f, 0xc7, 0x30));
        assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 8, 0);
    }
}

/* SDM Vol. 1 3.7.4: outside 64-bit mode every segment override applies. */
Test(decode, segment_overrides_in_32bit_mode)
{
    static const struct {
        uint8_t prefix, seg;
    } cases[] = {
        {0x26, NVMX_SEG_ES}, {0x2e, NVMX_SEG_CS}, {0x36, NVMX_SEG_SS},
        {0x3e, NVMX_SEG_DS}, {0x64, NVMX_SEG_FS}, {0x65, NVMX_SEG_GS},
    };
    for (unsigned c = 0; c < NVMX_ARRAY_SIZE(cases); c++) {
        vmx_instruction i =
            decode_ok(CPU_MODE_PROTECTED32, BYTES(cases[c].prefix, 0x0f, 0xc7, 0x30));
        assert_memory(&i, cases[c].seg, NVMX_REG_RAX, -1, 0, 4, 0);
    }
}

/* SDM Vol. 2A 2.2.1 (REX.B, REX.X): R8-R15 as base and index, SIB scale. */
Test(decode, rex_registers_and_sib_scale)
{
    /* vmptrld [r8 + rcx*8] */
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x41, 0x0f, 0xc7, 0x34, 0xc8));
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_R8, NVMX_REG_RCX, 3, 8, 0);
    /* vmptrld [rax + r12*2] */
    i = decode_ok(CPU_MODE_LONG64, BYTES(0x42, 0x0f, 0xc7, 0x34, 0x60));
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, NVMX_REG_R12, 1, 8, 0);
    /* vmwrite r9, [rax + r9*8] (REX.W R X) */
    i = decode_ok(CPU_MODE_LONG64, BYTES(0x4e, 0x0f, 0x79, 0x0c, 0xc8));
    cr_assert_eq(i.exit_reason, NVMX_EXIT_VMWRITE);
    cr_assert_eq(i.reg, NVMX_REG_R9);
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, NVMX_REG_R9, 3, 8, 0);
    /* vmread rax, r9 (REX.W R): reg field extended */
    i = decode_ok(CPU_MODE_LONG64, BYTES(0x4c, 0x0f, 0x78, 0xc8));
    cr_assert(i.rm_is_register);
    cr_assert_eq(i.rm_register, NVMX_REG_RAX);
    cr_assert_eq(i.reg, NVMX_REG_R9);
}

/* SDM Vol. 2A 2.1.5: disp8 and disp32 are sign-extended; an RBP base selects SS. */
Test(decode, disp8_disp32_sign_extended)
{
    /* vmptrld [rax + rbx*2 + 8] */
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0x74, 0x58, 0x08));
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, NVMX_REG_RBX, 1, 8, 8);
    /* vmptrld [rax - 8] */
    i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0x70, 0xf8));
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 8, -8);
    /* vmptrld [rbp + 0x12345678] */
    i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0xb5, 0x78, 0x56, 0x34, 0x12));
    cr_assert_eq(i.length, 7);
    assert_memory(&i, NVMX_SEG_SS, NVMX_REG_RBP, -1, 0, 8, 0x12345678);
    /* vmptrld [rcx*8 + 0x1000] (SIB without base) and [0x1000] (SIB without base or index) */
    i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0x34, 0xcd, 0x00, 0x10, 0x00, 0x00));
    assert_memory(&i, NVMX_SEG_DS, -1, NVMX_REG_RCX, 3, 8, 0x1000);
    i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0x34, 0x25, 0x00, 0x00, 0x00, 0x80));
    assert_memory(&i, NVMX_SEG_DS, -1, -1, 0, 8, INT32_MIN);
}

/* SDM Vol. 2A 2.2.1.6: mod 00 r/m 101 is RIP + disp32 in 64-bit mode; the decoded operand is
 * relative to the instruction's own RIP (displacement + length). */
Test(decode, rip_relative_folds_length_into_displacement)
{
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0x35, 0x10, 0, 0, 0));
    cr_assert_eq(i.length, 7);
    cr_assert(i.memory.rip_relative);
    cr_assert_not(i.memory.has_base);
    cr_assert_not(i.memory.has_index);
    cr_assert_eq(i.memory.displacement, 0x17);
    cr_assert_eq(i.memory.address_size, 8);
    /* With 67H it is EIP-relative, 32-bit address size. */
    i = decode_ok(CPU_MODE_LONG64, BYTES(0x67, 0x0f, 0xc7, 0x35, 0xf0, 0xff, 0xff, 0xff));
    cr_assert(i.memory.rip_relative);
    cr_assert_eq(i.memory.displacement, -0x10 + 8);
    cr_assert_eq(i.memory.address_size, 4);
}

/* SDM Vol. 1 3.3.7 / Vol. 2A 2.2.1.3: 67H selects 32-bit addressing in 64-bit mode; EAX maps to
 * register number 0 like RAX. */
Test(decode, address_size_prefix_in_64bit_mode)
{
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x67, 0x0f, 0xc7, 0x30));
    cr_assert_eq(i.length, 4);
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 4, 0);
}

/* SDM Vol. 3C 31.3: outside 64-bit mode VMREAD/VMWRITE use 32-bit registers, same numbers. */
Test(decode, protected32_forms)
{
    vmx_instruction i = decode_ok(CPU_MODE_PROTECTED32, BYTES(0x0f, 0xc7, 0x30));
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 4, 0);
    i = decode_ok(CPU_MODE_PROTECTED32, BYTES(0x0f, 0xc7, 0x34, 0x24));
    assert_memory(&i, NVMX_SEG_SS, NVMX_REG_RSP, -1, 0, 4, 0);
    i = decode_ok(CPU_MODE_PROTECTED32, BYTES(0x0f, 0x78, 0xc8));
    cr_assert(i.rm_is_register);
    cr_assert_eq(i.rm_register, NVMX_REG_RAX);
    cr_assert_eq(i.reg, NVMX_REG_RCX);
    i = decode_ok(CPU_MODE_PROTECTED32, BYTES(0x0f, 0xc7, 0x34, 0xcd, 0x00, 0x10, 0x00, 0x00));
    assert_memory(&i, NVMX_SEG_DS, -1, NVMX_REG_RCX, 3, 4, 0x1000);
    i = decode_ok(CPU_MODE_PROTECTED32, BYTES(0x66, 0x0f, 0x38, 0x80, 0x08));
    cr_assert_eq(i.exit_reason, NVMX_EXIT_INVEPT);
    cr_assert_eq(i.reg, NVMX_REG_RCX);
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 4, 0);
}

/* SDM Vol. 1 3.3.7: compatibility mode decodes like legacy 32-bit protected mode. */
Test(decode, compat32_forms)
{
    vmx_instruction i = decode_ok(CPU_MODE_COMPAT32, BYTES(0x0f, 0xc7, 0x74, 0x58, 0x08));
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RAX, NVMX_REG_RBX, 1, 4, 8);
}

/* SDM Vol. 2A 2.1.5 (Table 2-1): 16-bit addressing, [BX+SI] and [BP+disp8] (SS default). */
Test(decode, sixteen_bit_addressing)
{
    vmx_instruction i = decode_ok(CPU_MODE_PROTECTED16, BYTES(0x66, 0x0f, 0xc7, 0x30));
    cr_assert_eq(i.exit_reason, NVMX_EXIT_VMCLEAR);
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RBX, NVMX_REG_RSI, 0, 2, 0);
    i = decode_ok(CPU_MODE_PROTECTED16, BYTES(0x0f, 0xc7, 0x76, 0xfe));
    assert_memory(&i, NVMX_SEG_SS, NVMX_REG_RBP, -1, 0, 2, -2);
    /* 67H in 32-bit mode: vmptrld [si] */
    i = decode_ok(CPU_MODE_PROTECTED32, BYTES(0x67, 0x0f, 0xc7, 0x34));
    assert_memory(&i, NVMX_SEG_DS, NVMX_REG_RSI, -1, 0, 2, 0);
}

/* SDM Vol. 3C 31.3: VMX instructions are #UD in real-address and virtual-8086 mode, so there
 * they decode as nothing the library handles. */
Test(decode, real_and_v8086_mode_not_vmx)
{
    cr_assert_eq(decode_status(CPU_MODE_REAL, BYTES(0x0f, 0xc7, 0x30)), NVMX_ERR_DECODE);
    cr_assert_eq(decode_status(CPU_MODE_V8086, BYTES(0x0f, 0x78, 0xc8)), NVMX_ERR_DECODE);
}

/* Only the VMX instructions are the library's: anything else is NVMX_ERR_DECODE. */
Test(decode, non_vmx_instructions_rejected)
{
    cr_assert_eq(decode_status(CPU_MODE_LONG64, BYTES(0x90)), NVMX_ERR_DECODE);       /* nop */
    cr_assert_eq(decode_status(CPU_MODE_LONG64, BYTES(0x0f, 0xa2)), NVMX_ERR_DECODE); /* cpuid */
    cr_assert_eq(decode_status(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0xf0)),
                 NVMX_ERR_DECODE); /* rdrand */
    cr_assert_eq(decode_status(CPU_MODE_LONG64, BYTES(0x0f, 0x01, 0xd9)),
                 NVMX_ERR_DECODE); /* vmmcall */
    cr_assert_eq(decode_status(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0x0c, 0x24)),
                 NVMX_ERR_DECODE); /* cmpxchg8b [rsp] */
    cr_assert_eq(decode_status(CPU_MODE_LONG64, BYTES(0xf0, 0x0f, 0xc7, 0x30)),
                 NVMX_ERR_DECODE); /* lock vmptrld: #UD */
    cr_assert_eq(decode_status(CPU_MODE_LONG64, BYTES(0x0f, 0x0b)), NVMX_ERR_DECODE); /* ud2 */
}

/* An instruction longer than the bytes given is not decoded (never read past them). */
Test(decode, truncated_bytes_rejected)
{
    cr_assert_eq(decode_status(CPU_MODE_LONG64, BYTES(0x0f, 0x78)), NVMX_ERR_DECODE);
    cr_assert_eq(decode_status(CPU_MODE_LONG64, BYTES(0x66, 0x0f, 0x38, 0x80)), NVMX_ERR_DECODE);
    cr_assert_eq(decode_status(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0xb5, 0x78, 0x56)),
                 NVMX_ERR_DECODE);
    static const uint8_t vmptrld_rsp[] = {0x0f, 0xc7, 0x34, 0x24};
    cr_assert_eq(decode_status(CPU_MODE_LONG64, vmptrld_rsp, 3), NVMX_ERR_DECODE);
    cr_assert_eq(decode_status(CPU_MODE_LONG64, vmptrld_rsp, 0), NVMX_ERR_DECODE);
}

/* Trailing bytes after the instruction are not part of it: the length is the instruction's. */
Test(decode, length_is_instruction_length_not_buffer_length)
{
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0x01, 0xc4, 0x90, 0x90, 0x90));
    cr_assert_eq(i.exit_reason, NVMX_EXIT_VMXOFF);
    cr_assert_eq(i.length, 3);
}

/* SDM Vol. 2A 2.3.11: more than 15 bytes is no instruction (#GP); 15 prefixes + opcode fails. */
Test(decode, over_long_instruction_rejected)
{
    uint8_t bytes[20];
    for (unsigned n = 0; n < 14; n++)
        bytes[n] = 0x3e;
    bytes[14] = 0x0f, bytes[15] = 0xc7, bytes[16] = 0x30;
    cr_assert_eq(decode_status(CPU_MODE_LONG64, bytes, 17), NVMX_ERR_DECODE);
}

Test(decode, bad_arguments_rejected)
{
    vmx_instruction insn;
    cr_assert_eq(vmx_instruction_decode(NULL, 3, CPU_MODE_LONG64, &insn),
                 NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vmx_instruction_decode(vmlaunch, 3, CPU_MODE_LONG64, NULL),
                 NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(vmx_instruction_decode(vmlaunch, 3, (cpu_mode)99, &insn),
                 NVMX_ERR_INVALID_ARGUMENT);
}

static void assert_same(const vmx_instruction *a, const vmx_instruction *b)
{
    cr_assert_eq(a->exit_reason, b->exit_reason);
    cr_assert_eq(a->length, b->length);
    cr_assert_eq(a->rm_is_register, b->rm_is_register);
    cr_assert_eq(a->rm_register, b->rm_register);
    cr_assert_eq(a->reg, b->reg);
    cr_assert_eq(a->memory.segment, b->memory.segment);
    cr_assert_eq(a->memory.has_base, b->memory.has_base);
    cr_assert_eq(a->memory.base, b->memory.base);
    cr_assert_eq(a->memory.has_index, b->memory.has_index);
    cr_assert_eq(a->memory.index, b->memory.index);
    cr_assert_eq(a->memory.scale_log2, b->memory.scale_log2);
    cr_assert_eq(a->memory.address_size, b->memory.address_size);
    cr_assert_eq(a->memory.displacement, b->memory.displacement);
    cr_assert_eq(a->memory.rip_relative, b->memory.rip_relative);
}

static void assert_decode_matches_info(cpu_mode mode, const uint8_t *bytes, size_t len,
                                       uint32_t reason, uint32_t info, uint64_t qualification)
{
    vmx_instruction decoded = decode_ok(mode, bytes, len), from_info;
    cr_assert_eq(vmx_instruction_from_info(reason, qualification, info, decoded.length, &from_info),
                 NVMX_OK);
    assert_same(&decoded, &from_info);
    /* and back: what hardware would have reported */
    uint32_t info2;
    uint64_t qual2;
    vmx_instruction_to_info(&decoded, 0, &info2, &qual2);
    cr_assert_eq(info2, info, "info %#x vs %#x", info2, info);
    cr_assert_eq(qual2, qualification);
}

/* SDM 28.2.1/28.2.5: decoding the bytes and reading hardware's exit information describe the
 * same instruction the same way. */
Test(decode, same_instruction_as_from_info)
{
    const uint32_t no_index = 1u << 22, no_base = 1u << 27;
    /* vmptrld [rsp]: 64-bit address, SS, base RSP */
    assert_decode_matches_info(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0x34, 0x24), NVMX_EXIT_VMPTRLD,
                               (2u << 7) | (2u << 15) | no_index | (4u << 23), 0);
    /* vmread rax, rcx */
    assert_decode_matches_info(CPU_MODE_LONG64, BYTES(0x0f, 0x78, 0xc8), NVMX_EXIT_VMREAD,
                               (0u << 3) | (1u << 10) | (1u << 28), 0);
    /* vmwrite r9, [rax + r9*8] */
    assert_decode_matches_info(
        CPU_MODE_LONG64, BYTES(0x4e, 0x0f, 0x79, 0x0c, 0xc8), NVMX_EXIT_VMWRITE,
        3u | (2u << 7) | (3u << 15) | (9u << 18) | (0u << 23) | (9u << 28), 0);
    /* invept rcx, [rax] */
    assert_decode_matches_info(CPU_MODE_LONG64, BYTES(0x66, 0x0f, 0x38, 0x80, 0x08),
                               NVMX_EXIT_INVEPT,
                               (2u << 7) | (3u << 15) | no_index | (0u << 23) | (1u << 28), 0);
    /* vmptrld [rbp + 0x12345678] */
    assert_decode_matches_info(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0xb5, 0x78, 0x56, 0x34, 0x12),
                               NVMX_EXIT_VMPTRLD, (2u << 7) | (2u << 15) | no_index | (5u << 23),
                               0x12345678);
    /* vmptrld [rax - 8] */
    assert_decode_matches_info(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0x70, 0xf8), NVMX_EXIT_VMPTRLD,
                               (2u << 7) | (3u << 15) | no_index, (uint64_t)-8);
    /* gs: vmxon [0x1000] (no base, no index) */
    assert_decode_matches_info(
        CPU_MODE_LONG64, BYTES(0x65, 0xf3, 0x0f, 0xc7, 0x34, 0x25, 0x00, 0x10, 0x00, 0x00),
        NVMX_EXIT_VMXON, (2u << 7) | (5u << 15) | no_index | no_base, 0x1000);
    /* 16-bit vmclear [bx+si] */
    assert_decode_matches_info(CPU_MODE_PROTECTED16, BYTES(0x66, 0x0f, 0xc7, 0x30),
                               NVMX_EXIT_VMCLEAR, (0u << 7) | (3u << 15) | (6u << 18) | (3u << 23),
                               0);
    /* 32-bit es: vmptrst [ecx*4 + ebx - 4] */
    assert_decode_matches_info(CPU_MODE_PROTECTED32, BYTES(0x26, 0x0f, 0xc7, 0x7c, 0x8b, 0xfc),
                               NVMX_EXIT_VMPTRST,
                               2u | (1u << 7) | (0u << 15) | (1u << 18) | (3u << 23), (uint64_t)-4);
    /* vmlaunch */
    assert_decode_matches_info(CPU_MODE_LONG64, BYTES(0x0f, 0x01, 0xc2), NVMX_EXIT_VMLAUNCH, 0, 0);
}

/* SDM 28.2.1: hardware reports a RIP-relative operand as base-less with the qualification
 * holding next RIP + disp32; to_info of the decoded operand gives exactly that. */
Test(decode, rip_relative_to_info_matches_hardware)
{
    vmx_instruction i = decode_ok(CPU_MODE_LONG64, BYTES(0x0f, 0xc7, 0x35, 0x10, 0, 0, 0));
    uint32_t info;
    uint64_t qual;
    vmx_instruction_to_info(&i, 0xFFFFFFFF80001000ull, &info, &qual);
    cr_assert_eq(info, (2u << 7) | (3u << 15) | (1u << 22) | (1u << 27));
    cr_assert_eq(qual, 0xFFFFFFFF80001000ull + 7 + 0x10);
}

/* Without Zydis the decoder reports it is unsupported, for every input. */
Test(decode_build, decode_available_or_unsupported_everywhere)
{
    vmx_instruction insn;
    nvmx_status status = vmx_instruction_decode(vmlaunch, sizeof(vmlaunch), CPU_MODE_LONG64, &insn);
    cr_assert(status == NVMX_OK || status == NVMX_ERR_UNSUPPORTED);
    if (status == NVMX_ERR_UNSUPPORTED)
        cr_assert_eq(vmx_instruction_decode(BYTES(0x90), CPU_MODE_PROTECTED32, &insn),
                     NVMX_ERR_UNSUPPORTED);
}
