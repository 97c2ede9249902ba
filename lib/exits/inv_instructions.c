/* SPDX-License-Identifier: MIT */
/*
 * INVEPT and INVVPID of L1 (SDM Vol. 3C 31.3, "Operation" of each, in its order; 29.4.3).
 *
 * What L1 invalidates lives in two places: the EPT02s built from its EPT12s (lib/ept/ept02.c),
 * and the hardware's TLBs, tagged with the EPT02 roots and the VPID02s that stand for L1's
 * EPTPs and VPIDs (lib/vpid02.c). Each instruction drops exactly the EPT02s and asks the host
 * (tlb_flush op) for exactly the hardware flushes that correspond to what it names; an EPTP
 * or VPID of L1 that never ran, or whose EPT02 / VPID02 was since given up (which flushed it),
 * has nothing cached and needs nothing.
 *
 * In VMX non-root operation both always exit to L1 (31.3; lib/exits/reflect.c).
 */
#include "../ept/ept02.h"
#include "../ept/eptp.h"
#include "../vmcs/vmcs02.h"
#include "../vpid02.h"
#include "vmx_outcome.h"

/* The INVEPT and INVVPID types (SDM 31.3, register operand) with the IA32_VMX_EPT_VPID_CAP bit
 * that says the processor supports each (A.10). Every other value is unsupported. */
enum {
    INVEPT_SINGLE_CONTEXT = 1,
    INVEPT_ALL_CONTEXT = 2,
    INVVPID_INDIVIDUAL_ADDRESS = 0,
    INVVPID_SINGLE_CONTEXT = 1,
    INVVPID_ALL_CONTEXT = 2,
    INVVPID_SINGLE_CONTEXT_RETAINING_GLOBALS = 3,
};

typedef struct inv_type {
    uint8_t type;
    uint8_t capability; /* nvmx_feature */
} inv_type;

static const inv_type invept_types[] = {
    {INVEPT_SINGLE_CONTEXT, NVMX_FEATURE_INVEPT_SINGLE_CONTEXT},
    {INVEPT_ALL_CONTEXT, NVMX_FEATURE_INVEPT_ALL_CONTEXT},
};

static const inv_type invvpid_types[] = {
    {INVVPID_INDIVIDUAL_ADDRESS, NVMX_FEATURE_INVVPID_ADDRESS},
    {INVVPID_SINGLE_CONTEXT, NVMX_FEATURE_INVVPID_SINGLE_CONTEXT},
    {INVVPID_ALL_CONTEXT, NVMX_FEATURE_INVVPID_ALL_CONTEXT},
    {INVVPID_SINGLE_CONTEXT_RETAINING_GLOBALS, NVMX_FEATURE_INVVPID_SINGLE_NONGLOBAL},
};

/* INVVPID descriptor (31.3, Figure "INVVPID Descriptor"): VPID in bits 15:0, bits 63:16
 * reserved, linear address in bits 127:64. */
#define INVVPID_DESC_RESERVED (~0xFFFFull)

static bool type_supported(const nvmx_vm *vm, const inv_type *types, size_t count, uint64_t type)
{
    for (size_t i = 0; i < count; i++) {
        if (types[i].type == type)
            return nvmx_vm_has_feature(vm, (nvmx_feature)types[i].capability);
    }
    return false;
}

/* 31.3: the register operand has 64 bits in 64-bit mode and 32 outside IA-32e mode, whatever
 * CS.D (compatibility mode never gets here: #UD). In 64-bit mode a value with bits 63:32 set
 * is simply an unsupported type. */
static uint64_t type_operand(const vmx_exec *x)
{
    uint64_t value = x->vcpu->vm->ops.reg_get(x->vcpu->ctx, (nvmx_reg)(x->insn->reg & 0xF));
    return x->mode == CPU_MODE_LONG64 ? value : (uint32_t)value;
}

/* The lines both instructions start with. #UD when the instruction does not exist on L1's
 * processor (31.3 exceptions: "enable EPT"/"enable VPID" not allowed-1 or the INVEPT/INVVPID
 * bit of IA32_VMX_EPT_VPID_CAP clear) and for a register r/m operand (only m128 encodes; an
 * undecodable form is #UD before anything else, like the mode checks); then the first lines of
 * the Operation: #UD outside VMX operation or in the wrong mode, VM exit in non-root
 * operation, #GP(0) at CPL > 0. Returns true with *outcome when one applies. */
static bool inv_prologue(vmx_exec *x, nvmx_feature control, nvmx_feature instruction,
                         vmx_outcome *outcome)
{
    const nvmx_vm *vm = x->vcpu->vm;
    if (!nvmx_vm_has_feature(vm, control) || !nvmx_vm_has_feature(vm, instruction) ||
        x->insn->rm_is_register) {
        *outcome = vmx_raise_ud(x);
        return true;
    }
    return vmx_common_checks(x, outcome);
}

/* The 128-bit descriptor, read once ("value of memory operand"): a segmentation or paging
 * fault is delivered (#GP(0), #SS(0), #PF) with nothing changed. */
static bool read_descriptor(vmx_exec *x, uint64_t desc[2], vmx_outcome *outcome)
{
    nvmx_exception fault;
    nvmx_status status = operand_read_m128(x->vcpu, x->insn, desc, &fault);
    return vmx_operand_accessed(x, status, &fault, outcome);
}

/* ---- INVEPT ------------------------------------------------------------------------------- */

/* 29.4.3.1: single-context INVEPT invalidates the guest-physical and combined mappings of
 * EPTP[51:12], for all VPIDs: its EPT02 goes, and ept02.c asks tlb_flush for the hardware's
 * mappings tagged with that EPT02's root. vmcs02_write_eptp gives the next VM entry a fresh
 * root. */
static void invept_single_context(nvmx_vcpu *vcpu, uint64_t eptp12)
{
    ept02_invalidate_root(vcpu, eptp12);
}

/* 29.4.3.1: all-context INVEPT invalidates the mappings of every EPTP: every EPT02 and the
 * hardware's mappings under each. Mappings under L0's EPT01 (an L2 without EPT, L1 itself)
 * are not derived from any EPTP of L1 and stay. */
static void invept_all_context(nvmx_vcpu *vcpu)
{
    ept02_invalidate_all(vcpu);
}

vmx_outcome handle_invept(vmx_exec *x)
{
    vmx_outcome outcome;
    if (inv_prologue(x, NVMX_FEATURE_EPT, NVMX_FEATURE_INVEPT, &outcome))
        return outcome;
    uint64_t type = type_operand(x);
    if (!type_supported(x->vcpu->vm, invept_types, NVMX_ARRAY_SIZE(invept_types), type))
        return vmx_fail(x, NVMX_VMERR_INVALID_INVEPT_INVVPID_OPERAND);
    uint64_t desc[2];
    if (!read_descriptor(x, desc, &outcome))
        return outcome;
    /* 31.3: the EPTP is in bits 63:0. Checked against SDM text: the figure calls bits 127:64
     * "reserved (must be zero)" but the Operation never reads them, so they are not checked. */
    if (type == INVEPT_SINGLE_CONTEXT) {
        /* "VM entry with enable EPT = 1 would fail due to the EPTP value" (27.2.1.1). */
        if (!eptp_valid(x->vcpu->vm, desc[0]))
            return vmx_fail(x, NVMX_VMERR_INVALID_INVEPT_INVVPID_OPERAND);
        invept_single_context(x->vcpu, desc[0]);
    } else {
        invept_all_context(x->vcpu);
    }
    return vmx_succeed(x);
}

/* ---- INVVPID ------------------------------------------------------------------------------ */

/* Types 0, 1 and 3 name one VPID of L1: the flush goes to its VPID02, if it has one. */
static void flush_vpid12(nvmx_vcpu *vcpu, uint16_t vpid12, nvmx_tlb_flush_kind kind,
                         uint64_t linear)
{
    uint16_t vpid02;
    if (vpid02_find(vcpu, vpid12, &vpid02))
        vpid02_flush(vcpu, kind, vpid02, linear);
}

/* 31.3 INVVPID, after the descriptor is read: the descriptor checks of each type and the
 * invalidation, in the Operation's order (checked against SDM text): bits 63:16 for every
 * type, then VPID 0 (types 0, 1, 3), then a canonical address (type 0). Returns the
 * VM-instruction error, or 0 on success. */
static unsigned invvpid_execute(nvmx_vcpu *vcpu, uint64_t type, const uint64_t desc[2])
{
    const unsigned invalid = NVMX_VMERR_INVALID_INVEPT_INVVPID_OPERAND;
    if (desc[0] & INVVPID_DESC_RESERVED)
        return invalid;
    uint16_t vpid = (uint16_t)desc[0];
    switch (type) {
    case INVVPID_INDIVIDUAL_ADDRESS:
        /* Canonical for the 48-bit linear addresses of the processor the library models
         * (lib/arch.h, as every canonical check of the library). */
        if (!vpid || !canonical48(desc[1]))
            return invalid;
        flush_vpid12(vcpu, vpid, NVMX_TLB_FLUSH_VPID_ADDRESS, desc[1]);
        return 0;
    case INVVPID_SINGLE_CONTEXT:
        if (!vpid)
            return invalid;
        flush_vpid12(vcpu, vpid, NVMX_TLB_FLUSH_VPID, 0);
        return 0;
    case INVVPID_ALL_CONTEXT:
        /* "All VPIDs except VPID 0000H": L1's own context and an L2 without VPID keep theirs
         * (the latter is flushed at each of its entries anyway). */
        vpid02_flush_all_vpid12(vcpu);
        return 0;
    default: /* INVVPID_SINGLE_CONTEXT_RETAINING_GLOBALS: type_supported let nothing else in */
        if (!vpid)
            return invalid;
        flush_vpid12(vcpu, vpid, NVMX_TLB_FLUSH_VPID_NONGLOBAL, 0);
        return 0;
    }
}

vmx_outcome handle_invvpid(vmx_exec *x)
{
    vmx_outcome outcome;
    if (inv_prologue(x, NVMX_FEATURE_VPID, NVMX_FEATURE_INVVPID, &outcome))
        return outcome;
    uint64_t type = type_operand(x);
    if (!type_supported(x->vcpu->vm, invvpid_types, NVMX_ARRAY_SIZE(invvpid_types), type))
        return vmx_fail(x, NVMX_VMERR_INVALID_INVEPT_INVVPID_OPERAND);
    uint64_t desc[2];
    if (!read_descriptor(x, desc, &outcome))
        return outcome;
    unsigned error = invvpid_execute(x->vcpu, type, desc);
    return error ? vmx_fail(x, error) : vmx_succeed(x);
}
