/* SPDX-License-Identifier: MIT */
/* VMX instruction operands in guest memory: effective address, segmentation, canonical checks,
 * paging through the translate op and the access (lib/exits/operand_memory.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "fake_host.h"
#include "internal.h"

#define RAM_SIZE (1u << 20)

typedef struct env {
    fake_host host;
    struct nvmx_vm vm;
    struct nvmx_vcpu vcpu;
} env;

static void env_init(env *e)
{
    memset(e, 0, sizeof(*e));
    fake_host_init(&e->host, RAM_SIZE);
    e->vm.ops = *fake_host_ops();
    e->vm.host_ctx = &e->host;
    e->vcpu.vm = &e->vm;
    e->vcpu.ctx = &e->host;
}

static vmx_memory_operand mem(uint8_t segment, int base, int index, uint8_t scale_log2,
                              uint8_t address_size, int64_t displacement)
{
    return (vmx_memory_operand){.segment = segment,
                                .has_base = base >= 0,
                                .base = (uint8_t)(base >= 0 ? base : 0),
                                .has_index = index >= 0,
                                .index = (uint8_t)(index >= 0 ? index : 0),
                                .scale_log2 = scale_log2,
                                .address_size = address_size,
                                .displacement = displacement};
}

static nvmx_status linear_of(env *e, vmx_memory_operand op, size_t size, nvmx_access access,
                             uint64_t *linear, nvmx_exception *fault)
{
    return operand_linear_address(&e->vcpu, &op, size, access, linear, fault);
}

static uint64_t linear_ok(env *e, vmx_memory_operand op, size_t size, nvmx_access access)
{
    uint64_t linear = 0xBAD;
    nvmx_exception fault;
    cr_assert_eq(linear_of(e, op, size, access, &linear, &fault), NVMX_OK);
    return linear;
}

static void assert_fault(env *e, vmx_memory_operand op, size_t size, nvmx_access access,
                         uint8_t vector)
{
    uint64_t linear;
    nvmx_exception fault = {.vector = 0xFF};
    cr_assert_eq(linear_of(e, op, size, access, &linear, &fault), NVMX_ERR_BAD_L1_ADDRESS);
    cr_assert_eq(fault.vector, vector, "vector %u, expected %u", fault.vector, vector);
    cr_assert(fault.has_error_code);
    cr_assert_eq(fault.error_code, 0);
}

/* Present, S, and an accessed type (SDM Vol. 3A 3.4.5.1): data read/write (93H), data
 * read-only (91H), data expand-down read/write (97H), code execute-only (99H), code
 * execute/read (9BH). */
#define PRESENT_S (NVMX_AR_P | NVMX_AR_S)
#define DATA_RW (PRESENT_S | NVMX_AR_TYPE_DATA_RW_ACCESSED)
#define DATA_RO (PRESENT_S | NVMX_AR_TYPE_ACCESSED)
#define DATA_DOWN_RW (PRESENT_S | NVMX_AR_TYPE_DATA_RW_DOWN_ACCESSED)
#define CODE_XO (PRESENT_S | NVMX_AR_TYPE_CODE | NVMX_AR_TYPE_ACCESSED)
#define CODE_XR (PRESENT_S | NVMX_AR_TYPE_CODE_ER_ACCESSED)

static void set_segment(env *e, nvmx_seg seg, uint64_t base, uint32_t limit, uint32_t ar)
{
    e->host.segs[seg] =
        (nvmx_segment){.selector = 0x10, .base = base, .limit = limit, .access_rights = ar};
}

/* ---- Effective address ------------------------------------------------------------------- */

/* SDM Vol. 1 3.7.5: offset = base + index * scale + displacement. */
Test(linear_address, base_plus_scaled_index_plus_displacement)
{
    env e;
    env_init(&e);
    e.host.regs[NVMX_REG_RAX] = 0x1000;
    e.host.regs[NVMX_REG_R11] = 0x10;
    cr_assert_eq(
        linear_ok(&e, mem(NVMX_SEG_DS, NVMX_REG_RAX, NVMX_REG_R11, 3, 8, -8), 8, NVMX_ACCESS_READ),
        0x1000 + 0x80 - 8);
    fake_host_fini(&e.host);
}

/* SDM Vol. 1 3.7.5 / 3.3.7: a 32-bit address size computes the offset modulo 2^32 (the upper
 * halves of the registers do not count) and zero-extends it in 64-bit mode. */
Test(linear_address, address_size_32_wraps_and_ignores_upper_bits)
{
    env e;
    env_init(&e);
    e.host.regs[NVMX_REG_RAX] = 0xFFFFFFF0;
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 4, 0x20), 8, NVMX_ACCESS_READ),
                 0x10);
    e.host.regs[NVMX_REG_RAX] = 0xDEAD00001000ull;
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 4, 0), 8, NVMX_ACCESS_READ),
                 0x1000);
    fake_host_fini(&e.host);
}

/* SDM Vol. 1 3.7.5: a 16-bit address size computes the offset modulo 2^16. */
Test(linear_address, address_size_16_wraps)
{
    env e;
    env_init(&e);
    fake_host_set_mode_protected32(&e.host);
    e.host.segs[NVMX_SEG_DS].base = 0x20000;
    e.host.regs[NVMX_REG_RBX] = 0xFFF0;
    e.host.regs[NVMX_REG_RSI] = 0x20;
    cr_assert_eq(
        linear_ok(&e, mem(NVMX_SEG_DS, NVMX_REG_RBX, NVMX_REG_RSI, 0, 2, 0), 8, NVMX_ACCESS_READ),
        0x20010);
    fake_host_fini(&e.host);
}

/* Operands no encoding produces are the embedder's bug, not a guest fault. */
Test(linear_address, malformed_operand_rejected)
{
    env e;
    env_init(&e);
    uint64_t linear;
    nvmx_exception fault;
    vmx_memory_operand ok = mem(NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 8, 0);
    vmx_memory_operand bad = ok;
    bad.segment = NVMX_SEG_LDTR;
    cr_assert_eq(linear_of(&e, bad, 8, NVMX_ACCESS_READ, &linear, &fault),
                 NVMX_ERR_INVALID_ARGUMENT);
    bad = ok, bad.address_size = 3;
    cr_assert_eq(linear_of(&e, bad, 8, NVMX_ACCESS_READ, &linear, &fault),
                 NVMX_ERR_INVALID_ARGUMENT);
    bad = ok, bad.base = 16;
    cr_assert_eq(linear_of(&e, bad, 8, NVMX_ACCESS_READ, &linear, &fault),
                 NVMX_ERR_INVALID_ARGUMENT);
    bad = ok, bad.index = 200;
    cr_assert_eq(linear_of(&e, bad, 8, NVMX_ACCESS_READ, &linear, &fault),
                 NVMX_ERR_INVALID_ARGUMENT);
    bad = ok, bad.scale_log2 = 4;
    cr_assert_eq(linear_of(&e, bad, 8, NVMX_ACCESS_READ, &linear, &fault),
                 NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(linear_of(&e, ok, 0, NVMX_ACCESS_READ, &linear, &fault),
                 NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(linear_of(&e, ok, GUEST_LINEAR_MAX_LEN + 1, NVMX_ACCESS_READ, &linear, &fault),
                 NVMX_ERR_INVALID_ARGUMENT);
    fake_host_fini(&e.host);
}

/* ---- 64-bit mode ------------------------------------------------------------------------- */

/* SDM Vol. 1 3.3.7.1: a non-canonical address faults with #GP(0)... */
Test(linear_address, non_canonical_is_gp)
{
    env e;
    env_init(&e);
    e.host.regs[NVMX_REG_RAX] = 0x0000800000000000ull;
    assert_fault(&e, mem(NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 8, 0), 8, NVMX_ACCESS_READ,
                 NVMX_VECTOR_GP);
    e.host.regs[NVMX_REG_RAX] = 0xFFFF7FFFFFFFFFF8ull;
    assert_fault(&e, mem(NVMX_SEG_ES, NVMX_REG_RAX, -1, 0, 8, 0), 8, NVMX_ACCESS_WRITE,
                 NVMX_VECTOR_GP);
    fake_host_fini(&e.host);
}

/* SDM Vol. 1 3.3.7.1 and the VMX instructions' "64-Bit Mode Exceptions" (Vol. 3C ch. 31):
 * ...or #SS(0) when the operand is in the SS segment. */
Test(linear_address, non_canonical_through_ss_is_ss)
{
    env e;
    env_init(&e);
    e.host.regs[NVMX_REG_RSP] = 0x0000800000000000ull;
    assert_fault(&e, mem(NVMX_SEG_SS, NVMX_REG_RSP, -1, 0, 8, 0), 8, NVMX_ACCESS_READ,
                 NVMX_VECTOR_SS);
    fake_host_fini(&e.host);
}

/* SDM Vol. 1 3.3.7.1: every byte must be canonical; an access running past the top of the
 * lower half faults, the upper half is canonical. */
Test(linear_address, last_byte_must_be_canonical)
{
    env e;
    env_init(&e);
    e.host.regs[NVMX_REG_RAX] = 0x00007FFFFFFFFFFCull;
    assert_fault(&e, mem(NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 8, 0), 8, NVMX_ACCESS_READ,
                 NVMX_VECTOR_GP);
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 8, 0), 4, NVMX_ACCESS_READ),
                 0x00007FFFFFFFFFFCull);
    e.host.regs[NVMX_REG_RAX] = 0xFFFF800000000000ull;
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 8, 0), 8, NVMX_ACCESS_READ),
                 0xFFFF800000000000ull);
    fake_host_fini(&e.host);
}

/* SDM Vol. 1 3.4.2.1: in 64-bit mode the FS and GS bases apply, the others are treated as 0,
 * and no limit or type is checked. */
Test(linear_address, only_fs_gs_bases_in_64bit_mode)
{
    env e;
    env_init(&e);
    e.host.regs[NVMX_REG_RAX] = 0x100;
    set_segment(&e, NVMX_SEG_FS, 0x5000, 0, DATA_RO);
    set_segment(&e, NVMX_SEG_GS, 0x7FFF00000000ull, 0, DATA_RW);
    set_segment(&e, NVMX_SEG_DS, 0x9000, 0, DATA_RO | NVMX_AR_UNUSABLE);
    vmx_memory_operand op = mem(NVMX_SEG_FS, NVMX_REG_RAX, -1, 0, 8, 0);
    cr_assert_eq(linear_ok(&e, op, 8, NVMX_ACCESS_WRITE), 0x5100);
    op.segment = NVMX_SEG_GS;
    cr_assert_eq(linear_ok(&e, op, 8, NVMX_ACCESS_READ), 0x7FFF00000100ull);
    op.segment = NVMX_SEG_DS;
    cr_assert_eq(linear_ok(&e, op, 8, NVMX_ACCESS_WRITE), 0x100);
    fake_host_fini(&e.host);
}

/* SDM Vol. 1 3.3.7.1: the canonical check applies to the address after the FS/GS base. */
Test(linear_address, fs_base_can_make_address_non_canonical)
{
    env e;
    env_init(&e);
    e.host.regs[NVMX_REG_RAX] = 0x1000;
    set_segment(&e, NVMX_SEG_FS, 0x00007FFFFFFFF000ull, 0, DATA_RW);
    assert_fault(&e, mem(NVMX_SEG_FS, NVMX_REG_RAX, -1, 0, 8, 0), 8, NVMX_ACCESS_READ,
                 NVMX_VECTOR_GP);
    fake_host_fini(&e.host);
}

/* SDM Vol. 2A 2.2.1.6: RIP-relative = RIP of the next instruction + disp32; the decoded operand
 * and hardware's exit information (SDM 28.2.1) give the same linear address. */
Test(linear_address, rip_relative_same_as_hardware_report)
{
    env e;
    env_init(&e);
    static const uint8_t bytes[] = {0x0f, 0xc7, 0x35, 0x10, 0x00, 0x00, 0x00};
    vmx_instruction decoded, reported;
    if (vmx_instruction_decode(bytes, sizeof(bytes), CPU_MODE_LONG64, &decoded) ==
        NVMX_ERR_UNSUPPORTED)
        cr_skip_test("built without Zydis");
    e.host.regs[NVMX_REG_RIP] = 0x100000;
    cr_assert_eq(linear_ok(&e, decoded.memory, 8, NVMX_ACCESS_READ), 0x100000 + 7 + 0x10);
    uint32_t info;
    uint64_t qual;
    vmx_instruction_to_info(&decoded, e.host.regs[NVMX_REG_RIP], &info, &qual);
    cr_assert_eq(vmx_instruction_from_info(NVMX_EXIT_VMPTRLD, qual, info, 7, &reported), NVMX_OK);
    cr_assert_eq(linear_ok(&e, reported.memory, 8, NVMX_ACCESS_READ), 0x100000 + 7 + 0x10);
    fake_host_fini(&e.host);
}

/* SDM Vol. 2A 2.2.1.6: with 67H the RIP-relative address is EIP-relative, 32 bits wide. */
Test(linear_address, rip_relative_32bit_address_wraps)
{
    env e;
    env_init(&e);
    vmx_memory_operand op = mem(NVMX_SEG_DS, -1, -1, 0, 4, 0x10 + 8);
    op.rip_relative = true;
    e.host.regs[NVMX_REG_RIP] = 0xFFFFFFF0;
    cr_assert_eq(linear_ok(&e, op, 8, NVMX_ACCESS_READ), 0x8);
    fake_host_fini(&e.host);
}

/* ---- Segmentation outside 64-bit mode ------------------------------------------------------ */

/* SDM Vol. 3A 3.4: linear address = segment base + offset, 32 bits. */
Test(linear_address, segment_base_added_and_wraps_at_4g)
{
    env e;
    env_init(&e);
    fake_host_set_mode_protected32(&e.host);
    e.host.regs[NVMX_REG_RAX] = 0x100;
    set_segment(&e, NVMX_SEG_DS, 0x10000, 0xFFFFFFFF, DATA_RW | NVMX_AR_DB);
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 4, 0), 8, NVMX_ACCESS_READ),
                 0x10100);
    set_segment(&e, NVMX_SEG_DS, 0xFFFFF000, 0xFFFFFFFF, DATA_RW | NVMX_AR_DB);
    e.host.regs[NVMX_REG_RAX] = 0x2000;
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_DS, NVMX_REG_RAX, -1, 0, 4, 0), 8, NVMX_ACCESS_READ),
                 0x1000);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 5.3: an expand-up segment allows offsets 0..limit; the last byte of the access
 * must be within it (#GP(0)). */
Test(linear_address, expand_up_limit_exact_boundary)
{
    env e;
    env_init(&e);
    fake_host_set_mode_protected32(&e.host);
    set_segment(&e, NVMX_SEG_ES, 0, 0xFFF, DATA_RW | NVMX_AR_DB);
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_ES, -1, -1, 0, 4, 0xFF8), 8, NVMX_ACCESS_READ), 0xFF8);
    assert_fault(&e, mem(NVMX_SEG_ES, -1, -1, 0, 4, 0xFF9), 8, NVMX_ACCESS_READ, NVMX_VECTOR_GP);
    assert_fault(&e, mem(NVMX_SEG_ES, -1, -1, 0, 4, 0x1000), 1, NVMX_ACCESS_READ, NVMX_VECTOR_GP);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 5.3 and the VMX instructions' "Protected Mode Exceptions": a limit violation
 * through SS is #SS(0). */
Test(linear_address, limit_violation_through_ss_is_ss)
{
    env e;
    env_init(&e);
    fake_host_set_mode_protected32(&e.host);
    set_segment(&e, NVMX_SEG_SS, 0, 0xFFF, DATA_RW | NVMX_AR_DB);
    e.host.regs[NVMX_REG_RSP] = 0xFFC;
    assert_fault(&e, mem(NVMX_SEG_SS, NVMX_REG_RSP, -1, 0, 4, 0), 8, NVMX_ACCESS_READ,
                 NVMX_VECTOR_SS);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 5.3: an expand-down segment allows limit+1..FFFFFFFFH when B = 1. */
Test(linear_address, expand_down_limit_big)
{
    env e;
    env_init(&e);
    fake_host_set_mode_protected32(&e.host);
    set_segment(&e, NVMX_SEG_DS, 0, 0xFFF, DATA_DOWN_RW | NVMX_AR_DB);
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_DS, -1, -1, 0, 4, 0x1000), 8, NVMX_ACCESS_READ),
                 0x1000);
    assert_fault(&e, mem(NVMX_SEG_DS, -1, -1, 0, 4, 0xFFF), 8, NVMX_ACCESS_READ, NVMX_VECTOR_GP);
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_DS, -1, -1, 0, 4, 0xFFFFFFF8), 8, NVMX_ACCESS_READ),
                 0xFFFFFFF8);
    assert_fault(&e, mem(NVMX_SEG_DS, -1, -1, 0, 4, 0xFFFFFFF9), 8, NVMX_ACCESS_READ,
                 NVMX_VECTOR_GP);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 5.3: with B = 0 an expand-down segment ends at FFFFH. */
Test(linear_address, expand_down_limit_small)
{
    env e;
    env_init(&e);
    fake_host_set_mode_protected32(&e.host);
    set_segment(&e, NVMX_SEG_SS, 0, 0xFFF, DATA_DOWN_RW);
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_SS, -1, -1, 0, 4, 0xFFF8), 8, NVMX_ACCESS_WRITE),
                 0xFFF8);
    assert_fault(&e, mem(NVMX_SEG_SS, -1, -1, 0, 4, 0xFFF9), 8, NVMX_ACCESS_WRITE, NVMX_VECTOR_SS);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3C ch. 31 (e.g. VMPTRLD "Protected Mode Exceptions"): a null (unusable) DS, ES, FS
 * or GS gives #GP(0); an unusable SS is treated the same way (see operand_memory.c). */
Test(linear_address, unusable_segment_is_gp)
{
    env e;
    env_init(&e);
    fake_host_set_mode_protected32(&e.host);
    e.host.segs[NVMX_SEG_GS].access_rights |= NVMX_AR_UNUSABLE;
    assert_fault(&e, mem(NVMX_SEG_GS, -1, -1, 0, 4, 0x100), 8, NVMX_ACCESS_READ, NVMX_VECTOR_GP);
    e.host.segs[NVMX_SEG_SS].access_rights |= NVMX_AR_UNUSABLE;
    assert_fault(&e, mem(NVMX_SEG_SS, -1, -1, 0, 4, 0x100), 8, NVMX_ACCESS_READ, NVMX_VECTOR_GP);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 5.4 and VMREAD/VMPTRST "Protected Mode Exceptions": writing a read-only data
 * segment is #GP(0); reading it is fine. */
Test(linear_address, write_to_read_only_segment_is_gp)
{
    env e;
    env_init(&e);
    fake_host_set_mode_protected32(&e.host);
    set_segment(&e, NVMX_SEG_DS, 0, 0xFFFFFFFF, DATA_RO | NVMX_AR_DB);
    vmx_memory_operand op = mem(NVMX_SEG_DS, -1, -1, 0, 4, 0x100);
    assert_fault(&e, op, 8, NVMX_ACCESS_WRITE, NVMX_VECTOR_GP);
    cr_assert_eq(linear_ok(&e, op, 8, NVMX_ACCESS_READ), 0x100);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 5.4: code segments are never writable; readable ones can be read through. */
Test(linear_address, code_segment_never_writable)
{
    env e;
    env_init(&e);
    fake_host_set_mode_protected32(&e.host);
    vmx_memory_operand op = mem(NVMX_SEG_CS, -1, -1, 0, 4, 0x100);
    assert_fault(&e, op, 8, NVMX_ACCESS_WRITE, NVMX_VECTOR_GP);
    cr_assert_eq(linear_ok(&e, op, 8, NVMX_ACCESS_READ), 0x100);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 5.4 and VMWRITE/VMPTRLD "Protected Mode Exceptions": reading an execute-only
 * code segment is #GP(0). */
Test(linear_address, execute_only_code_read_is_gp)
{
    env e;
    env_init(&e);
    fake_host_set_mode_protected32(&e.host);
    set_segment(&e, NVMX_SEG_ES, 0, 0xFFFFFFFF, CODE_XO | NVMX_AR_DB);
    assert_fault(&e, mem(NVMX_SEG_ES, -1, -1, 0, 4, 0x100), 8, NVMX_ACCESS_READ, NVMX_VECTOR_GP);
    set_segment(&e, NVMX_SEG_ES, 0, 0xFFFFFFFF, CODE_XR | NVMX_AR_DB);
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_ES, -1, -1, 0, 4, 0x100), 8, NVMX_ACCESS_READ), 0x100);
    fake_host_fini(&e.host);
}

/* SDM Vol. 1 3.3.7: compatibility mode uses segmentation like protected mode. */
Test(linear_address, compatibility_mode_checks_limits)
{
    env e;
    env_init(&e);
    fake_host_set_mode_compat(&e.host);
    set_segment(&e, NVMX_SEG_DS, 0x1000, 0xFFF, DATA_RW | NVMX_AR_DB);
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_DS, -1, -1, 0, 4, 0x10), 8, NVMX_ACCESS_READ), 0x1010);
    assert_fault(&e, mem(NVMX_SEG_DS, -1, -1, 0, 4, 0xFFC), 8, NVMX_ACCESS_READ, NVMX_VECTOR_GP);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 20.1 (real-address mode): base + offset with the limit check, no type checks. */
Test(linear_address, real_mode_base_and_limit_only)
{
    env e;
    env_init(&e);
    fake_host_set_mode_real(&e.host);
    set_segment(&e, NVMX_SEG_DS, 0x12340, 0xFFFF, DATA_RO);
    cr_assert_eq(linear_ok(&e, mem(NVMX_SEG_DS, -1, -1, 0, 2, 0x10), 8, NVMX_ACCESS_WRITE),
                 0x12350);
    assert_fault(&e, mem(NVMX_SEG_DS, -1, -1, 0, 2, 0xFFFC), 8, NVMX_ACCESS_READ, NVMX_VECTOR_GP);
    fake_host_fini(&e.host);
}

/* ---- Paging and access ------------------------------------------------------------------- */

static void fill(env *e, uint64_t gpa, size_t len, uint8_t first)
{
    for (size_t i = 0; i < len; i++)
        e->host.ram[gpa + i] = (uint8_t)(first + i);
}

/* SDM Vol. 3A 4.1: paging maps each 4-KiB page separately, so an access crossing a page
 * boundary is translated page by page. */
Test(guest_memory, read_crossing_page_translates_each_page)
{
    env e;
    env_init(&e);
    e.host.remap_linear[0] = 0x5000, e.host.remap_gpa[0] = 0x9000;
    e.host.remap_linear[1] = 0x6000, e.host.remap_gpa[1] = 0x3000;
    e.host.remap_count = 2;
    fill(&e, 0x9FFC, 4, 0x10);
    fill(&e, 0x3000, 4, 0x20);
    uint8_t buf[8];
    nvmx_exception fault;
    cr_assert_eq(guest_linear_read(&e.vcpu, 0x5FFC, buf, 8, &fault), NVMX_OK);
    static const uint8_t expect[] = {0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x22, 0x23};
    cr_assert_arr_eq(buf, expect, 8);
    cr_assert_eq(e.host.translates, 2);
    cr_assert_eq(e.host.l1_reads, 2);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 4.1: same for writes. */
Test(guest_memory, write_crossing_page_translates_each_page)
{
    env e;
    env_init(&e);
    e.host.remap_linear[0] = 0x5000, e.host.remap_gpa[0] = 0x9000;
    e.host.remap_linear[1] = 0x6000, e.host.remap_gpa[1] = 0x3000;
    e.host.remap_count = 2;
    static const uint8_t data[] = {1, 2, 3, 4, 5, 6, 7, 8};
    nvmx_exception fault;
    cr_assert_eq(guest_linear_write(&e.vcpu, 0x5FFA, data, 8, &fault), NVMX_OK);
    cr_assert_arr_eq(e.host.ram + 0x9FFA, data, 6);
    cr_assert_arr_eq(e.host.ram + 0x3000, data + 6, 2);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 6.15 (#PF is a fault: no part of the instruction completes): a write whose
 * second page faults writes no byte, and the #PF names the first byte of that page. */
Test(guest_memory, write_faulting_on_second_page_writes_nothing)
{
    env e;
    env_init(&e);
    e.host.fault_pages[0] = 0x3000;
    e.host.fault_page_count = 1;
    fill(&e, 0x2FF8, 16, 0x40);
    uint8_t before[16];
    memcpy(before, e.host.ram + 0x2FF8, 16);
    static const uint8_t data[8] = {0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE};
    nvmx_exception fault;
    cr_assert_eq(guest_linear_write(&e.vcpu, 0x2FFC, data, 8, &fault), NVMX_ERR_BAD_L1_ADDRESS);
    cr_assert_eq(fault.vector, NVMX_VECTOR_PF);
    cr_assert_eq(fault.cr2, 0x3000);
    cr_assert_eq(fault.error_code & 2u, 2u, "write access in the error code");
    cr_assert_arr_eq(e.host.ram + 0x2FF8, before, 16);
    cr_assert_eq(e.host.l1_writes, 0);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 6.15: a read whose second page faults reads nothing (device memory is not
 * touched twice when the instruction restarts). */
Test(guest_memory, read_faulting_on_second_page_reads_nothing)
{
    env e;
    env_init(&e);
    e.host.fault_pages[0] = 0x3000;
    e.host.fault_page_count = 1;
    uint8_t buf[8];
    nvmx_exception fault;
    cr_assert_eq(guest_linear_read(&e.vcpu, 0x2FFC, buf, 8, &fault), NVMX_ERR_BAD_L1_ADDRESS);
    cr_assert_eq(fault.vector, NVMX_VECTOR_PF);
    cr_assert_eq(fault.cr2, 0x3000);
    cr_assert_eq(e.host.l1_reads, 0);
    fake_host_fini(&e.host);
}

/* Physical addresses that are not RAM read as all ones and ignore writes. */
Test(guest_memory, unbacked_memory_reads_ones_and_drops_writes)
{
    env e;
    env_init(&e);
    uint8_t buf[8];
    nvmx_exception fault;
    cr_assert_eq(guest_linear_read(&e.vcpu, RAM_SIZE + 0x100, buf, 8, &fault), NVMX_OK);
    static const uint8_t ones[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    cr_assert_arr_eq(buf, ones, 8);
    cr_assert_eq(guest_linear_write(&e.vcpu, RAM_SIZE + 0x100, buf, 8, &fault), NVMX_OK);
    fake_host_fini(&e.host);
}

/* Backing is per page: the RAM page reads its bytes, the unbacked one all ones. */
Test(guest_memory, partly_backed_access_reads_ram_then_ones)
{
    env e;
    env_init(&e);
    fill(&e, RAM_SIZE - 4, 4, 0x30);
    uint8_t buf[8];
    nvmx_exception fault;
    cr_assert_eq(guest_linear_read(&e.vcpu, RAM_SIZE - 4, buf, 8, &fault), NVMX_OK);
    static const uint8_t expect[] = {0x30, 0x31, 0x32, 0x33, 0xFF, 0xFF, 0xFF, 0xFF};
    cr_assert_arr_eq(buf, expect, 8);
    fake_host_fini(&e.host);
}

/* SDM Vol. 1 3.3.7 (32-bit linear addresses outside 64-bit mode): an access at the top of the
 * 4-GiB space continues at linear address 0. */
Test(guest_memory, linear_address_wraps_at_4g_outside_64bit_mode)
{
    env e;
    env_init(&e);
    fake_host_set_mode_protected32(&e.host);
    fill(&e, 0, 4, 0x11);
    uint8_t buf[8];
    nvmx_exception fault;
    cr_assert_eq(guest_linear_read(&e.vcpu, 0xFFFFFFFC, buf, 8, &fault), NVMX_OK);
    static const uint8_t expect[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x11, 0x12, 0x13, 0x14};
    cr_assert_arr_eq(buf, expect, 8);
    fake_host_fini(&e.host);
}

static nvmx_status failing_l1_access(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    (void)ctx, (void)gpa, (void)buf, (void)len;
    return NVMX_ERR_NO_MEMORY;
}

static nvmx_status failing_l1_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    (void)ctx, (void)gpa, (void)buf, (void)len;
    return NVMX_ERR_INVALID_ARGUMENT;
}

/* An op failing other than with a fault is the embedder's problem: NVMX_ERR_HOST. */
Test(guest_memory, op_failures_are_host_errors)
{
    env e;
    env_init(&e);
    uint8_t buf[8] = {0};
    nvmx_exception fault;
    e.host.translate_status = NVMX_ERR_NO_MEMORY;
    cr_assert_eq(guest_linear_read(&e.vcpu, 0x1000, buf, 8, &fault), NVMX_ERR_HOST);
    cr_assert_eq(guest_linear_write(&e.vcpu, 0x1000, buf, 8, &fault), NVMX_ERR_HOST);
    e.host.translate_status = NVMX_OK;
    e.vm.ops.l1_read = failing_l1_access;
    e.vm.ops.l1_write = failing_l1_write;
    cr_assert_eq(guest_linear_read(&e.vcpu, 0x1000, buf, 8, &fault), NVMX_ERR_HOST);
    cr_assert_eq(guest_linear_write(&e.vcpu, 0x1000, buf, 8, &fault), NVMX_ERR_HOST);
    fake_host_fini(&e.host);
}

static nvmx_status bogus_fault_translate(void *ctx, uint64_t linear, nvmx_access access,
                                         uint64_t *gpa, nvmx_exception *fault)
{
    (void)ctx, (void)linear, (void)access, (void)gpa;
    fault->vector = 200;
    return NVMX_ERR_BAD_L1_ADDRESS;
}

/* Exception vectors are 0-31: a "fault" with another vector is an embedder error. */
Test(guest_memory, translate_fault_with_bad_vector_is_host_error)
{
    env e;
    env_init(&e);
    e.vm.ops.translate = bogus_fault_translate;
    uint8_t buf[8];
    nvmx_exception fault = {0};
    cr_assert_eq(guest_linear_read(&e.vcpu, 0x1000, buf, 8, &fault), NVMX_ERR_HOST);
    cr_assert_eq(fault.vector, 0, "fault not filled");
    fake_host_fini(&e.host);
}

/* The access size is bounded, so at most two pages are translated. */
Test(guest_memory, oversized_access_rejected)
{
    env e;
    env_init(&e);
    static uint8_t buf[GUEST_LINEAR_MAX_LEN + 1];
    nvmx_exception fault;
    cr_assert_eq(guest_linear_read(&e.vcpu, 0x1000, buf, sizeof(buf), &fault),
                 NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(guest_linear_read(&e.vcpu, 0x1001, buf, GUEST_LINEAR_MAX_LEN, &fault), NVMX_OK);
    cr_assert_eq(e.host.translates, 2);
    cr_assert_eq(guest_linear_read(&e.vcpu, 0x1000, NULL, 8, &fault), NVMX_ERR_INVALID_ARGUMENT);
    fake_host_fini(&e.host);
}

/* ---- The r/m operand ------------------------------------------------------------------------ */

static vmx_instruction reg_insn(uint8_t reg)
{
    return (vmx_instruction){
        .exit_reason = NVMX_EXIT_VMREAD, .length = 3, .rm_is_register = true, .rm_register = reg};
}

static vmx_instruction mem_insn(vmx_memory_operand op)
{
    return (vmx_instruction){.exit_reason = NVMX_EXIT_VMPTRLD, .length = 3, .memory = op};
}

/* SDM Vol. 1 3.4.1.1: a 32-bit register operand is the low half of the 64-bit register. */
Test(operand_access, register_read_sizes)
{
    env e;
    env_init(&e);
    e.host.regs[NVMX_REG_R10] = 0x1122334455667788ull;
    vmx_instruction insn = reg_insn(NVMX_REG_R10);
    uint64_t v;
    nvmx_exception fault;
    cr_assert_eq(operand_read(&e.vcpu, &insn, 8, &v, &fault), NVMX_OK);
    cr_assert_eq(v, 0x1122334455667788ull);
    cr_assert_eq(operand_read(&e.vcpu, &insn, 4, &v, &fault), NVMX_OK);
    cr_assert_eq(v, 0x55667788ull);
    fake_host_fini(&e.host);
}

/* SDM Vol. 1 3.4.1.1: a 32-bit register destination is zero-extended (architectural in 64-bit
 * mode; the upper half is undefined elsewhere and the library zeroes it too). */
Test(operand_access, register_write_32_zero_extends)
{
    env e;
    env_init(&e);
    e.host.regs[NVMX_REG_RBX] = UINT64_MAX;
    vmx_instruction insn = reg_insn(NVMX_REG_RBX);
    nvmx_exception fault;
    cr_assert_eq(operand_write(&e.vcpu, &insn, 4, 0xAAAABBBBCCCCDDDDull, &fault), NVMX_OK);
    cr_assert_eq(e.host.regs[NVMX_REG_RBX], 0xCCCCDDDDull);
    fake_host_set_mode_protected32(&e.host);
    e.host.regs[NVMX_REG_RBX] = UINT64_MAX;
    cr_assert_eq(operand_write(&e.vcpu, &insn, 4, 0x12345678, &fault), NVMX_OK);
    cr_assert_eq(e.host.regs[NVMX_REG_RBX], 0x12345678ull);
    cr_assert_eq(operand_write(&e.vcpu, &insn, 8, 0xAAAABBBBCCCCDDDDull, &fault), NVMX_OK);
    cr_assert_eq(e.host.regs[NVMX_REG_RBX], 0xAAAABBBBCCCCDDDDull);
    fake_host_fini(&e.host);
}

/* SDM Vol. 1 1.3.1: memory operands are little-endian. */
Test(operand_access, memory_read_write_little_endian)
{
    env e;
    env_init(&e);
    e.host.regs[NVMX_REG_RSI] = 0x4000;
    vmx_instruction insn = mem_insn(mem(NVMX_SEG_DS, NVMX_REG_RSI, -1, 0, 8, 0x10));
    fake_host_write64(&e.host, 0x4010, 0x0102030405060708ull);
    uint64_t v;
    nvmx_exception fault;
    cr_assert_eq(operand_read(&e.vcpu, &insn, 8, &v, &fault), NVMX_OK);
    cr_assert_eq(v, 0x0102030405060708ull);
    cr_assert_eq(operand_read(&e.vcpu, &insn, 4, &v, &fault), NVMX_OK);
    cr_assert_eq(v, 0x05060708ull);
    cr_assert_eq(operand_write(&e.vcpu, &insn, 4, 0xA1B2C3D4E5F60718ull, &fault), NVMX_OK);
    cr_assert_eq(fake_host_read64(&e.host, 0x4010), 0x01020304E5F60718ull);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 5.4: the write goes through the type check; nothing is written on #GP. */
Test(operand_access, memory_write_to_read_only_segment_faults_and_writes_nothing)
{
    env e;
    env_init(&e);
    fake_host_set_mode_protected32(&e.host);
    set_segment(&e, NVMX_SEG_DS, 0, 0xFFFFFFFF, DATA_RO | NVMX_AR_DB);
    vmx_instruction insn = mem_insn(mem(NVMX_SEG_DS, -1, -1, 0, 4, 0x4000));
    nvmx_exception fault;
    cr_assert_eq(operand_write(&e.vcpu, &insn, 8, UINT64_MAX, &fault), NVMX_ERR_BAD_L1_ADDRESS);
    cr_assert_eq(fault.vector, NVMX_VECTOR_GP);
    cr_assert_eq(fake_host_read64(&e.host, 0x4000), 0);
    cr_assert_eq(e.host.l1_writes, 0);
    fake_host_fini(&e.host);
}

/* SDM Vol. 3A 4.7: a #PF from the translation comes back to the caller to inject. */
Test(operand_access, memory_read_page_fault_returned)
{
    env e;
    env_init(&e);
    e.host.fault_pages[0] = 0x4000;
    e.host.fault_page_count = 1;
    vmx_instruction insn = mem_insn(mem(NVMX_SEG_DS, -1, -1, 0, 8, 0x4008));
    uint64_t v = 7;
    nvmx_exception fault;
    cr_assert_eq(operand_read(&e.vcpu, &insn, 8, &v, &fault), NVMX_ERR_BAD_L1_ADDRESS);
    cr_assert_eq(fault.vector, NVMX_VECTOR_PF);
    cr_assert_eq(fault.cr2, 0x4008);
    cr_assert_eq(v, 7, "value untouched");
    fake_host_fini(&e.host);
}

/* Sizes other than 4 and 8 and register numbers above R15 are embedder bugs. */
Test(operand_access, bad_size_or_register_rejected)
{
    env e;
    env_init(&e);
    vmx_instruction insn = reg_insn(NVMX_REG_RAX);
    uint64_t v;
    nvmx_exception fault;
    cr_assert_eq(operand_read(&e.vcpu, &insn, 2, &v, &fault), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(operand_write(&e.vcpu, &insn, 16, 0, &fault), NVMX_ERR_INVALID_ARGUMENT);
    insn.rm_register = NVMX_REG_RIP;
    cr_assert_eq(operand_read(&e.vcpu, &insn, 8, &v, &fault), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(operand_write(&e.vcpu, &insn, 8, 0, &fault), NVMX_ERR_INVALID_ARGUMENT);
    fake_host_fini(&e.host);
}
