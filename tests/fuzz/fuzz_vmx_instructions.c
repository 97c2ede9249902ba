/* SPDX-License-Identifier: MIT */
/*
 * fuzz_vmx_instructions: L1 runs sequences of VMX instructions (SDM Vol. 3C 31) with random
 * operands, random guest memory (regions, operands, INVEPT/INVVPID descriptors), random
 * register and mode state, raw exit information and raw instruction bytes for hosts without
 * exit information (NVMX_EXIT_UNDECODED, decoded by the library). Invariants: fuzz_env.h.
 *
 * Script: byte 0 picks the VM set-up (fuzz_env_init), byte 1 bit 0 whether L1 starts in VMX
 * operation with a current VMCS; then steps of one action byte and its operands.
 */
#include "fuzz_env.h"

#include <string.h>

static const uint32_t vmx_reasons[] = {
    NVMX_EXIT_VMXON,  NVMX_EXIT_VMCLEAR, NVMX_EXIT_VMPTRLD,  NVMX_EXIT_VMPTRST,
    NVMX_EXIT_VMREAD, NVMX_EXIT_VMWRITE, NVMX_EXIT_VMLAUNCH, NVMX_EXIT_VMRESUME,
    NVMX_EXIT_VMXOFF, NVMX_EXIT_INVEPT,  NVMX_EXIT_INVVPID,  NVMX_EXIT_VMCALL,
    NVMX_EXIT_VMFUNC, NVMX_EXIT_RDMSR,   NVMX_EXIT_WRMSR,    NVMX_EXIT_UNDECODED,
};

/* Exit information as the CPU gives it, every field from the input. */
static void raw_exit(fuzz_env *e, fuzz_input *in)
{
    nvmx_exit exit = {.reason = FUZZ_PICK(in, vmx_reasons)};
    exit.qualification = fuzz_value(in);
    exit.instruction_info = fuzz_u32(in);
    exit.instruction_length = fuzz_u8(in) % 17;
    exit.bytes_length = fuzz_u8(in) % (NVMX_MAX_INSTRUCTION_LENGTH + 1);
    fuzz_bytes(in, exit.bytes, exit.bytes_length);
    fuzz_env_step(e, &exit);
}

static void pointer_insn(fuzz_env *e, fuzz_input *in)
{
    static const uint32_t reasons[] = {NVMX_EXIT_VMXON, NVMX_EXIT_VMCLEAR, NVMX_EXIT_VMPTRLD,
                                       NVMX_EXIT_VMPTRST};
    uint32_t reason = FUZZ_PICK(in, reasons);
    fuzz_pointer_insn(e, reason, fuzz_pointer(in));
}

static uint64_t field_encoding(fuzz_input *in)
{
    uint8_t how = fuzz_u8(in);
    if (how < 224)
        return vmcs_field_table[fuzz_u16(in) % VMCS12_FIELD_COUNT].encoding;
    return how & 1 ? fuzz_u64(in) : fuzz_u32(in);
}

/* VMREAD/VMWRITE, register or [RAX] memory form. */
static void vmread_vmwrite(fuzz_env *e, fuzz_input *in)
{
    uint8_t how = fuzz_u8(in);
    uint64_t encoding = field_encoding(in);
    uint64_t value = fuzz_value(in);
    if (!(how & 2)) {
        if (how & 1)
            fuzz_vmwrite(e, encoding, value);
        else
            fuzz_vmread(e, encoding);
        return;
    }
    fake_host_write64(&e->h.host, OPERAND, value);
    e->h.host.regs[NVMX_REG_RAX] = OPERAND + (how >> 2);
    e->h.host.regs[NVMX_REG_RCX] = encoding;
    nvmx_exit exit = {.reason = how & 1 ? NVMX_EXIT_VMWRITE : NVMX_EXIT_VMREAD,
                      .instruction_info = INFO_MEM_RAX_REG_RCX,
                      .instruction_length = INSN_LENGTH};
    fuzz_env_step(e, &exit);
}

/* INVEPT/INVVPID: type in RCX, 128-bit descriptor at [RAX] (SDM 31.3). */
static void invalidation(fuzz_env *e, fuzz_input *in)
{
    uint8_t how = fuzz_u8(in);
    uint8_t descriptor[16];
    fuzz_bytes(in, descriptor, sizeof(descriptor));
    memcpy(e->h.host.ram + OPERAND, descriptor, sizeof(descriptor));
    e->h.host.regs[NVMX_REG_RAX] = OPERAND + (how >> 4);
    e->h.host.regs[NVMX_REG_RCX] = how & 8 ? fuzz_u64(in) : (how & 7);
    nvmx_exit exit = {.reason = how & 1 ? NVMX_EXIT_INVVPID : NVMX_EXIT_INVEPT,
                      .instruction_info = INFO_MEM_RAX_REG_RCX,
                      .instruction_length = INSN_LENGTH};
    fuzz_env_step(e, &exit);
}

static void no_operand(fuzz_env *e, fuzz_input *in)
{
    static const uint32_t reasons[] = {NVMX_EXIT_VMLAUNCH, NVMX_EXIT_VMRESUME, NVMX_EXIT_VMXOFF,
                                       NVMX_EXIT_VMCALL};
    fuzz_simple_insn(e, FUZZ_PICK(in, reasons));
}

/* Instruction bytes for NVMX_EXIT_UNDECODED: a VMX opcode (SDM Vol. 2, VMX instructions) with
 * random prefixes, ModRM, SIB and displacement after it. */
static void undecoded(fuzz_env *e, fuzz_input *in)
{
    static const uint8_t opcodes[][4] = {
        {3, 0x0F, 0x01, 0xC1}, /* VMCALL */ {3, 0x0F, 0x01, 0xC2},   /* VMLAUNCH */
        {3, 0x0F, 0x01, 0xC3}, /* VMRESUME */ {3, 0x0F, 0x01, 0xC4}, /* VMXOFF */
        {3, 0x0F, 0x01, 0xD4}, /* VMFUNC */ {2, 0x0F, 0xC7},         /* VMPTRLD/ST, VMXON */
        {2, 0x0F, 0x78},       /* VMREAD */ {2, 0x0F, 0x79},         /* VMWRITE */
        {3, 0x0F, 0x38, 0x80}, /* INVEPT */ {3, 0x0F, 0x38, 0x81},   /* INVVPID */
    };
    nvmx_exit exit = {.reason = NVMX_EXIT_UNDECODED};
    uint8_t how = fuzz_u8(in);
    size_t n = 0;
    static const uint8_t prefixes[] = {0x66, 0xF3, 0xF2, 0x48, 0x41, 0x67, 0x2E, 0x64};
    for (unsigned p = 0; p < (how & 3u); p++)
        exit.bytes[n++] = FUZZ_PICK(in, prefixes);
    const uint8_t *op = opcodes[fuzz_u8(in) % (sizeof(opcodes) / sizeof(opcodes[0]))];
    memcpy(exit.bytes + n, op + 1, op[0]);
    n += op[0];
    fuzz_bytes(in, exit.bytes + n, NVMX_MAX_INSTRUCTION_LENGTH - n);
    exit.bytes_length = (uint8_t)(how & 4 ? NVMX_MAX_INSTRUCTION_LENGTH : n + (how >> 4));
    exit.instruction_length = how & 8 ? fuzz_u8(in) % 16 : 0;
    fuzz_env_step(e, &exit);
}

/* RDMSR/WRMSR of the VMX capability MSRs and IA32_FEATURE_CONTROL (lib/msr.c). */
static void vmx_msr(fuzz_env *e, fuzz_input *in)
{
    uint8_t how = fuzz_u8(in);
    e->h.host.regs[NVMX_REG_RCX] = how & 0x80 ? 0x3A : 0x480u + (how & 0x1F);
    e->h.host.regs[NVMX_REG_RAX] = fuzz_u32(in);
    e->h.host.regs[NVMX_REG_RDX] = fuzz_u32(in);
    fuzz_simple_insn(e, how & 0x40 ? NVMX_EXIT_WRMSR : NVMX_EXIT_RDMSR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_env e;
    fuzz_input in = {data, size, 0};
    uint8_t setup = in.size > 1 ? in.data[1] : 0;
    fuzz_env_init(&e, &in, setup & 1);
    fuzz_u8(&in);
    for (int step = 0; step < FUZZ_MAX_STEPS && fuzz_more(&in) && !e.shut_down; step++) {
        switch (fuzz_u8(&in) % 12) {
        case 0:
            raw_exit(&e, &in);
            break;
        case 1:
            pointer_insn(&e, &in);
            break;
        case 2:
        case 3:
            vmread_vmwrite(&e, &in);
            break;
        case 4:
            invalidation(&e, &in);
            break;
        case 5:
            no_operand(&e, &in);
            break;
        case 6:
            undecoded(&e, &in);
            break;
        case 7:
            fuzz_act_memory(&e, &in);
            break;
        case 8:
            fuzz_act_register(&e, &in);
            break;
        case 9:
            vmx_msr(&e, &in);
            break;
        case 10:
            fuzz_act_host_failure(&e, &in);
            break;
        default:
            if (nvmx_vcpu_in_guest_mode(e.h.vcpu))
                fuzz_act_l2_exit(&e, &in);
            else
                pointer_insn(&e, &in);
            break;
        }
    }
    fuzz_env_fini(&e);
    return 0;
}
