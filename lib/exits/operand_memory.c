/* SPDX-License-Identifier: MIT */
/*
 * The operands of VMX instructions in guest memory: effective address, segmentation, paging
 * (through the translate op) and the access itself (through l1_read/l1_write).
 *
 * Everything here acts on the running guest through the ops. Register values, segment state
 * and the operand come from the guest or the embedder, so every number is bounded before use:
 * no register index above R15, no access of more than GUEST_LINEAR_MAX_LEN bytes, no more
 * than two pages per access.
 */
#include "internal.h"

#define LINEAR_32_MASK 0xFFFFFFFFull
/* An access of at most GUEST_LINEAR_MAX_LEN bytes touches at most this many pages. */
#define MAX_SPANS (GUEST_LINEAR_MAX_LEN / PAGE_SIZE_4K + 1)

static nvmx_status raise(uint8_t vector, nvmx_exception *fault)
{
    *fault = (nvmx_exception){.vector = vector, .has_error_code = true, .error_code = 0};
    return NVMX_ERR_BAD_L1_ADDRESS;
}

/* Limit and canonical violations through SS are stack faults, #SS(0); through any other
 * segment #GP(0) (SDM Vol. 1 3.3.7.1; Vol. 3A 6.15, interrupts 12 and 13; Vol. 3C ch. 31, the
 * "Protected Mode Exceptions" and "64-Bit Mode Exceptions" of VMPTRLD, VMREAD, ...). */
static nvmx_status segment_fault(uint8_t segment, nvmx_exception *fault)
{
    return raise(segment == NVMX_SEG_SS ? NVMX_VECTOR_SS : NVMX_VECTOR_GP, fault);
}

static uint64_t address_size_mask(uint8_t bytes)
{
    return bytes == 2 ? 0xFFFFull : bytes == 4 ? LINEAR_32_MASK : UINT64_MAX;
}

/* Values no instruction encoding produces; they come only from a buggy embedder. */
static bool operand_valid(const vmx_memory_operand *op)
{
    return op->segment <= NVMX_SEG_GS && op->base <= NVMX_REG_R15 && op->index <= NVMX_REG_R15 &&
           op->scale_log2 <= 3 &&
           (op->address_size == 2 || op->address_size == 4 || op->address_size == 8);
}

/* base + index * scale + displacement, computed modulo the address size (SDM Vol. 1 3.7.5:
 * the effective address wraps within 16, 32 or 64 bits). RIP-relative operands add the RIP
 * of the instruction; the displacement already includes its length (vmx_memory_operand). */
static uint64_t effective_address(nvmx_vcpu *vcpu, const vmx_memory_operand *op)
{
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    uint64_t ea = (uint64_t)op->displacement;
    if (op->has_base)
        ea += ops->reg_get(vcpu->ctx, (nvmx_reg)op->base);
    if (op->has_index)
        ea += ops->reg_get(vcpu->ctx, (nvmx_reg)op->index) << op->scale_log2;
    if (op->rip_relative)
        ea += ops->reg_get(vcpu->ctx, NVMX_REG_RIP);
    return ea & address_size_mask(op->address_size);
}

/* 64-bit mode: segmentation is off except for the FS and GS bases (SDM Vol. 1 3.4.2.1); the
 * first and the last byte must be canonical. */
static nvmx_status linear_64(nvmx_vcpu *vcpu, const vmx_memory_operand *op, uint64_t ea,
                             size_t size, uint64_t *linear, nvmx_exception *fault)
{
    uint64_t base = 0;
    if (op->segment == NVMX_SEG_FS || op->segment == NVMX_SEG_GS) {
        nvmx_segment seg;
        vcpu->vm->ops.segment_get(vcpu->ctx, (nvmx_seg)op->segment, &seg);
        base = seg.base;
    }
    uint64_t first = base + ea;
    if (!canonical48(first) || !canonical48(first + size - 1))
        return segment_fault(op->segment, fault);
    *linear = first;
    return NVMX_OK;
}

/* Type checks of SDM Vol. 3A 5.4 ("Type Checking"): code segments are never writable and are
 * readable only with R = 1; data segments are always readable and writable only with W = 1.
 * A system descriptor cannot sit in a data-segment register (VM entry requires S = 1, SDM
 * 27.3.1.2), so one that does allows nothing. */
static bool type_allows(uint32_t access_rights, nvmx_access access)
{
    uint32_t type = access_rights & NVMX_AR_TYPE_MASK;
    if (!(access_rights & NVMX_AR_S))
        return false;
    if (type & NVMX_AR_TYPE_CODE)
        return access == NVMX_ACCESS_READ && (type & NVMX_AR_TYPE_READABLE);
    return access == NVMX_ACCESS_READ || (type & NVMX_AR_TYPE_WRITABLE);
}

/* Limit checks of SDM Vol. 3A 5.3: an expand-up segment allows offsets 0..limit; an
 * expand-down data segment allows limit+1..FFFFH, or ..FFFFFFFFH when its B flag is set.
 * Every byte of the access must be inside; the offset of the last byte does not wrap. */
static bool within_limit(const nvmx_segment *seg, uint64_t ea, size_t size)
{
    uint32_t type = seg->access_rights & NVMX_AR_TYPE_MASK;
    uint64_t last = ea + size - 1;
    bool expand_down = (seg->access_rights & NVMX_AR_S) && !(type & NVMX_AR_TYPE_CODE) &&
                       (type & NVMX_AR_TYPE_EXPAND_DOWN);
    if (!expand_down)
        return last <= seg->limit;
    uint64_t upper = (seg->access_rights & NVMX_AR_DB) ? LINEAR_32_MASK : 0xFFFFull;
    return ea > seg->limit && last <= upper;
}

/* Outside 64-bit mode: segment base + offset, wrapping at 4 GiB (compatibility mode included:
 * it reaches only the low 4 GiB, SDM Vol. 1 3.3.7). Protected and compatibility mode check
 * usability and type first; real-address and virtual-8086 mode only check the limit.
 * An unusable (null) segment gives #GP(0) whichever register it is: the SDM lists a null
 * DS/ES/FS/GS as #GP(0), and SS can only be unusable here after a VM entry loaded it so.
 * Type violations are #GP(0) even through SS, as the VMX instructions list them. */
static nvmx_status linear_segmented(nvmx_vcpu *vcpu, const vmx_memory_operand *op, uint64_t ea,
                                    size_t size, nvmx_access access, bool protected_mode,
                                    uint64_t *linear, nvmx_exception *fault)
{
    nvmx_segment seg;
    vcpu->vm->ops.segment_get(vcpu->ctx, (nvmx_seg)op->segment, &seg);
    if (protected_mode && (seg.access_rights & NVMX_AR_UNUSABLE))
        return raise(NVMX_VECTOR_GP, fault);
    if (protected_mode && !type_allows(seg.access_rights, access))
        return raise(NVMX_VECTOR_GP, fault);
    if (!within_limit(&seg, ea, size))
        return segment_fault(op->segment, fault);
    *linear = (seg.base + ea) & LINEAR_32_MASK;
    return NVMX_OK;
}

nvmx_status operand_linear_address(nvmx_vcpu *vcpu, const vmx_memory_operand *operand, size_t size,
                                   nvmx_access access, uint64_t *linear, nvmx_exception *fault)
{
    if (!operand_valid(operand) || size == 0 || size > GUEST_LINEAR_MAX_LEN)
        return NVMX_ERR_INVALID_ARGUMENT;
    uint64_t ea = effective_address(vcpu, operand);
    cpu_mode mode = cpu_mode_of(vcpu);
    if (mode == CPU_MODE_LONG64)
        return linear_64(vcpu, operand, ea, size, linear, fault);
    bool protected_mode = mode != CPU_MODE_REAL && mode != CPU_MODE_V8086;
    return linear_segmented(vcpu, operand, ea, size, access, protected_mode, linear, fault);
}

/* ---- Paging and the access -------------------------------------------------------------- */

/* One page's part of an access: buf[offset, offset + len) lives at gpa. */
typedef struct page_span {
    uint64_t gpa;
    size_t offset;
    size_t len;
} page_span;

/* A translate op may only fail with a fault it describes (an exception vector 0-31); any
 * other failure is the embedder's, not the guest's. */
static nvmx_status translate_page(nvmx_vcpu *vcpu, uint64_t linear, nvmx_access access,
                                  uint64_t *gpa, nvmx_exception *fault)
{
    nvmx_exception exception;
    nvmx_memset(&exception, 0, sizeof(exception));
    vcpu->ept12_operand_fault = EPT12_OPERAND_NONE;
    nvmx_status status = vcpu->vm->ops.translate(vcpu->ctx, linear, access, gpa, &exception);
    if (status == NVMX_OK)
        return NVMX_OK;
    /* The op's walk of L2's paging met an EPT12 fault through nvmx_l2_gpa_to_l1. */
    if (status == NVMX_ERR_BAD_L1_ADDRESS && vcpu->ept12_operand_fault != EPT12_OPERAND_NONE) {
        *fault = (nvmx_exception){.vector = vcpu->ept12_operand_fault == EPT12_OPERAND_EXIT
                                                ? OPERAND_EPT12_EXIT_VECTOR
                                                : OPERAND_EPT12_RETRY_VECTOR};
        vcpu->ept12_operand_fault = EPT12_OPERAND_NONE;
        return NVMX_ERR_BAD_L1_ADDRESS;
    }
    if (status == NVMX_ERR_BAD_L1_ADDRESS && exception.vector < 32) {
        *fault = exception;
        return NVMX_ERR_BAD_L1_ADDRESS;
    }
    return NVMX_ERR_HOST;
}

/* Translate every page of the access before any byte is touched, so a fault on a later page
 * leaves memory (and device state) as it was, as the CPU does for a faulting instruction.
 * Linear addresses wrap at 4 GiB outside 64-bit mode (32-bit linear addresses, compatibility
 * mode included: SDM Vol. 1 3.3.7), at 2^64 in it. */
static nvmx_status translate_spans(nvmx_vcpu *vcpu, uint64_t linear, size_t len, nvmx_access access,
                                   page_span spans[MAX_SPANS], size_t *count, nvmx_exception *fault)
{
    uint64_t wrap = cpu_mode_of(vcpu) == CPU_MODE_LONG64 ? UINT64_MAX : LINEAR_32_MASK;
    size_t done = 0, n = 0;
    while (done < len && n < MAX_SPANS) {
        uint64_t at = (linear + done) & wrap;
        size_t chunk = PAGE_SIZE_4K - (size_t)(at & PAGE_OFFSET_MASK);
        if (chunk > len - done)
            chunk = len - done;
        nvmx_status status = translate_page(vcpu, at, access, &spans[n].gpa, fault);
        if (status != NVMX_OK)
            return status;
        spans[n].offset = done;
        spans[n].len = chunk;
        n++;
        done += chunk;
    }
    *count = n;
    return NVMX_OK;
}

nvmx_status guest_linear_read(nvmx_vcpu *vcpu, uint64_t linear, void *buf, size_t len,
                              nvmx_exception *fault)
{
    page_span spans[MAX_SPANS];
    size_t count = 0;
    if ((!buf && len) || len > GUEST_LINEAR_MAX_LEN)
        return NVMX_ERR_INVALID_ARGUMENT;
    nvmx_status status = translate_spans(vcpu, linear, len, NVMX_ACCESS_READ, spans, &count, fault);
    for (size_t i = 0; status == NVMX_OK && i < count; i++) {
        uint8_t *dst = (uint8_t *)buf + spans[i].offset;
        status = vcpu->vm->ops.l1_read(vcpu->vm->host_ctx, spans[i].gpa, dst, spans[i].len);
        /* Not RAM: reads of unbacked physical addresses return all ones. */
        if (status == NVMX_ERR_BAD_L1_ADDRESS) {
            nvmx_memset(dst, 0xFF, spans[i].len);
            status = NVMX_OK;
        } else if (status != NVMX_OK) {
            status = NVMX_ERR_HOST;
        }
    }
    return status;
}

nvmx_status guest_linear_write(nvmx_vcpu *vcpu, uint64_t linear, const void *buf, size_t len,
                               nvmx_exception *fault)
{
    page_span spans[MAX_SPANS];
    size_t count = 0;
    if ((!buf && len) || len > GUEST_LINEAR_MAX_LEN)
        return NVMX_ERR_INVALID_ARGUMENT;
    nvmx_status status =
        translate_spans(vcpu, linear, len, NVMX_ACCESS_WRITE, spans, &count, fault);
    for (size_t i = 0; status == NVMX_OK && i < count; i++) {
        const uint8_t *src = (const uint8_t *)buf + spans[i].offset;
        status = vcpu->vm->ops.l1_write(vcpu->vm->host_ctx, spans[i].gpa, src, spans[i].len);
        /* Not RAM: writes to unbacked physical addresses go nowhere. */
        if (status == NVMX_ERR_BAD_L1_ADDRESS)
            status = NVMX_OK;
        else if (status != NVMX_OK)
            status = NVMX_ERR_HOST;
    }
    return status;
}

/* ---- The r/m operand ---------------------------------------------------------------------- */

/* Guest memory is little-endian whatever the host is. */
static uint64_t load_le(const uint8_t *bytes, size_t size)
{
    uint64_t value = 0;
    for (size_t i = size; i > 0; i--)
        value = (value << 8) | bytes[i - 1];
    return value;
}

static void store_le(uint8_t *bytes, size_t size, uint64_t value)
{
    for (size_t i = 0; i < size; i++, value >>= 8)
        bytes[i] = (uint8_t)value;
}

nvmx_status operand_read(nvmx_vcpu *vcpu, const vmx_instruction *insn, size_t size, uint64_t *value,
                         nvmx_exception *fault)
{
    if ((size != 4 && size != 8) || (insn->rm_is_register && insn->rm_register > NVMX_REG_R15))
        return NVMX_ERR_INVALID_ARGUMENT;
    if (insn->rm_is_register) {
        uint64_t v = vcpu->vm->ops.reg_get(vcpu->ctx, (nvmx_reg)insn->rm_register);
        *value = size == 4 ? (v & LINEAR_32_MASK) : v;
        return NVMX_OK;
    }
    uint64_t linear;
    uint8_t bytes[8];
    nvmx_status status =
        operand_linear_address(vcpu, &insn->memory, size, NVMX_ACCESS_READ, &linear, fault);
    if (status == NVMX_OK)
        status = guest_linear_read(vcpu, linear, bytes, size, fault);
    if (status == NVMX_OK)
        *value = load_le(bytes, size);
    return status;
}

/* A 32-bit register destination is zero-extended to 64 bits: architectural in 64-bit mode
 * (SDM Vol. 1 3.4.1.1); outside it the upper half is undefined (same section), and zero is
 * the value 64-bit mode would see. */
nvmx_status operand_write(nvmx_vcpu *vcpu, const vmx_instruction *insn, size_t size, uint64_t value,
                          nvmx_exception *fault)
{
    if ((size != 4 && size != 8) || (insn->rm_is_register && insn->rm_register > NVMX_REG_R15))
        return NVMX_ERR_INVALID_ARGUMENT;
    if (insn->rm_is_register) {
        uint64_t v = size == 4 ? (value & LINEAR_32_MASK) : value;
        vcpu->vm->ops.reg_set(vcpu->ctx, (nvmx_reg)insn->rm_register, v);
        return NVMX_OK;
    }
    uint64_t linear;
    uint8_t bytes[8];
    store_le(bytes, size, value);
    nvmx_status status =
        operand_linear_address(vcpu, &insn->memory, size, NVMX_ACCESS_WRITE, &linear, fault);
    if (status == NVMX_OK)
        status = guest_linear_write(vcpu, linear, bytes, size, fault);
    return status;
}

nvmx_status operand_read_m128(nvmx_vcpu *vcpu, const vmx_instruction *insn, uint64_t out[2],
                              nvmx_exception *fault)
{
    if (insn->rm_is_register)
        return NVMX_ERR_INVALID_ARGUMENT;
    uint64_t linear;
    uint8_t bytes[16];
    nvmx_status status = operand_linear_address(vcpu, &insn->memory, sizeof(bytes),
                                                NVMX_ACCESS_READ, &linear, fault);
    if (status == NVMX_OK)
        status = guest_linear_read(vcpu, linear, bytes, sizeof(bytes), fault);
    if (status == NVMX_OK) {
        out[0] = load_le(bytes, 8);
        out[1] = load_le(bytes + 8, 8);
    }
    return status;
}
