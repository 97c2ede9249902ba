/* SPDX-License-Identifier: MIT */
/*
 * Loading L1's state on a VM exit to it (SDM Vol. 3C 28.5), also used by VM-entry failures
 * (27.8). L1's processor state is vmcs01's guest-state area, so "loading host state" means
 * writing vmcs01's guest-state fields from vmcs12's host-state area, the VM-exit controls and
 * the constants the SDM fixes.
 *
 * The whole load is computed first (host_load_prepare: reads only) and written afterwards
 * (host_load_write), so a failing read leaves vmcs01 untouched. 28.5 lets the processor load
 * in any order; the library writes in table order.
 */
#include "vm_exit.h"

/* 28.5.1: CR0 bits a VM exit does not modify: ET, CD, NW, bits 63:32, 28:19, 17 and 15:6
 * (plus the bits fixed in VMX operation, from the capabilities). */
#define CR0_NOT_LOADED                                                                             \
    (NVMX_CR0_ET | NVMX_CR0_NW | NVMX_CR0_CD | 0xFFFFFFFF00000000ull | (0x3FFull << 19) |          \
     (1ull << 17) | (0x3FFull << 6))

#define DR7_AT_EXIT 0x400ull              /* 28.5.1 */
#define RFLAGS_AT_EXIT NVMX_RFLAGS_FIXED1 /* 28.5.3: cleared but bit 1, which is always 1 */
#define DESC_LIMIT_AT_EXIT 0xFFFFu        /* 28.5.2: GDTR and IDTR limits */
#define FLAT_LIMIT 0xFFFFFFFFu            /* 28.5.2: CS and usable SS, DS, ES, FS, GS */
#define TSS_LIMIT 0x67u                   /* 28.5.2: TR */

/* ---- Tables ------------------------------------------------------------------------------- */

#define COPY(host, guest, control, how)                                                            \
    {                                                                                              \
        VMCS12_ORD_##host, NVMX_FIELD_##guest, (uint32_t)(control), HOST_COPY_##how                \
    }

const host_copy host_copies[] = {
    /* 28.5.1. CR3: the bits beyond the physical-address width are cleared. SYSENTER_ESP/EIP:
     * on a 64-bit processor the whole field is loaded, bits 63:N set to bit N-1 (N = 48
     * linear-address bits), whatever the host address-space size. */
    COPY(HOST_CR3, GUEST_CR3, 0, PHYS),
    COPY(HOST_IA32_SYSENTER_CS, GUEST_SYSENTER_CS, 0, PLAIN),
    COPY(HOST_IA32_SYSENTER_ESP, GUEST_SYSENTER_ESP, 0, CANONICAL),
    COPY(HOST_IA32_SYSENTER_EIP, GUEST_SYSENTER_EIP, 0, CANONICAL),
    COPY(HOST_IA32_PERF_GLOBAL_CTRL, GUEST_IA32_PERF_GLOBAL_CTRL, NVMX_CTL(EXIT_LOAD_PERF_GLOBAL),
         PLAIN),
    COPY(HOST_IA32_PAT, GUEST_IA32_PAT, NVMX_CTL(EXIT_LOAD_PAT), PLAIN),
    COPY(HOST_IA32_PKRS, GUEST_IA32_PKRS, NVMX_CTL(EXIT_LOAD_PKRS), PLAIN),
    COPY(HOST_S_CET, GUEST_S_CET, NVMX_CTL(EXIT_LOAD_CET), PLAIN),
    COPY(HOST_SSP, GUEST_SSP, NVMX_CTL(EXIT_LOAD_CET), PLAIN),
    COPY(HOST_INTR_SSP_TABLE, GUEST_INTR_SSP_TABLE, NVMX_CTL(EXIT_LOAD_CET), PLAIN),
    /* 28.5.2: GDTR and IDTR bases, bits 63:N set to bit N-1. */
    COPY(HOST_GDTR_BASE, GUEST_GDTR_BASE, 0, CANONICAL),
    COPY(HOST_IDTR_BASE, GUEST_IDTR_BASE, 0, CANONICAL),
    /* 28.5.3 */
    COPY(HOST_RIP, GUEST_RIP, 0, PLAIN),
    COPY(HOST_RSP, GUEST_RSP, 0, PLAIN),
};
const size_t host_copy_count = NVMX_ARRAY_SIZE(host_copies);

/* A vmcs01 guest-state field every exit (or every exit with `control` set) sets to `value`. */
typedef struct host_constant {
    uint32_t guest_field;
    uint32_t exit_control; /* 0 = always */
    uint64_t value;
} host_constant;

#define CONSTANT(guest, control, value)                                                            \
    {                                                                                              \
        NVMX_FIELD_##guest, (uint32_t)(control), (value)                                           \
    }

static const host_constant host_constants[] = {
    /* 28.5.1 */
    CONSTANT(GUEST_DR7, 0, DR7_AT_EXIT),
    CONSTANT(GUEST_IA32_DEBUGCTL, 0, 0),
    CONSTANT(GUEST_BNDCFGS, NVMX_CTL(EXIT_CLEAR_BNDCFGS), 0),
    CONSTANT(GUEST_IA32_RTIT_CTL, NVMX_CTL(EXIT_CLEAR_RTIT_CTL), 0),
    CONSTANT(GUEST_IA32_LBR_CTL, NVMX_CTL(EXIT_CLEAR_LBR_CTL), 0),
    CONSTANT(GUEST_UINV, NVMX_CTL(EXIT_CLEAR_UINV), 0),
    /* 28.5.2: LDTR gets selector 0 and is unusable; its base (canonical) and limit are
     * undefined, the library writes 0. */
    CONSTANT(GUEST_LDTR_SELECTOR, 0, 0),
    CONSTANT(GUEST_LDTR_BASE, 0, 0),
    CONSTANT(GUEST_LDTR_LIMIT, 0, 0),
    CONSTANT(GUEST_LDTR_AR_BYTES, 0, NVMX_AR_UNUSABLE),
    CONSTANT(GUEST_GDTR_LIMIT, 0, DESC_LIMIT_AT_EXIT),
    CONSTANT(GUEST_IDTR_LIMIT, 0, DESC_LIMIT_AT_EXIT),
    /* 28.5.3 */
    CONSTANT(GUEST_RFLAGS, 0, RFLAGS_AT_EXIT),
    /* 28.5.5: always active after an exit, no pending debug exceptions. */
    CONSTANT(GUEST_ACTIVITY_STATE, 0, 0),
    CONSTANT(GUEST_PENDING_DBG_EXCEPTIONS, 0, 0),
};

/* How 28.5.2 fixes a register's attributes. */
typedef enum segment_kind { SEGMENT_CODE, SEGMENT_DATA, SEGMENT_TSS } segment_kind;

#define NO_BASE_FIELD UINT16_MAX

typedef struct host_segment {
    uint16_t host_selector; /* vmcs12 ordinal */
    uint16_t host_base;     /* vmcs12 ordinal of the base field, NO_BASE_FIELD = base 0 */
    uint32_t selector, base, limit, access_rights; /* vmcs01 guest-state fields */
    uint8_t kind;
} host_segment;

#define SEGMENT(seg, base_ordinal, kind)                                                           \
    {                                                                                              \
        VMCS12_ORD_HOST_##seg##_SELECTOR, (base_ordinal), NVMX_FIELD_GUEST_##seg##_SELECTOR,       \
            NVMX_FIELD_GUEST_##seg##_BASE, NVMX_FIELD_GUEST_##seg##_LIMIT,                         \
            NVMX_FIELD_GUEST_##seg##_AR_BYTES, (kind)                                              \
    }

/* 28.5.2: CS, SS, DS, ES get base 0; FS, GS and TR their base fields. */
static const host_segment host_segments[] = {
    SEGMENT(CS, NO_BASE_FIELD, SEGMENT_CODE),
    SEGMENT(SS, NO_BASE_FIELD, SEGMENT_DATA),
    SEGMENT(DS, NO_BASE_FIELD, SEGMENT_DATA),
    SEGMENT(ES, NO_BASE_FIELD, SEGMENT_DATA),
    SEGMENT(FS, VMCS12_ORD_HOST_FS_BASE, SEGMENT_DATA),
    SEGMENT(GS, VMCS12_ORD_HOST_GS_BASE, SEGMENT_DATA),
    SEGMENT(TR, VMCS12_ORD_HOST_TR_BASE, SEGMENT_TSS),
};

/* CR0, CR4, EFER, interruptibility, 4 fields per segment, 4 PDPTEs. */
_Static_assert(NVMX_ARRAY_SIZE(host_copies) + NVMX_ARRAY_SIZE(host_constants) + 4 +
                       4 * NVMX_ARRAY_SIZE(host_segments) + 4 <=
                   HOST_LOAD_MAX,
               "host_load must hold every write of an exit");

/* ---- Computing the load ------------------------------------------------------------------ */

/* The processor's state at the exit, for what an exit leaves as it is (SDM 28.5: CR0/CR4 bits
 * not loaded, EFER and PAT when their exit control is 0, blocking by NMI). It is L2's (vmcs02)
 * for an exit from L2 and for a VM-entry failure after L2's state was loaded, L1's (vmcs01)
 * for a failure before; blocking by NMI of an entry failure is L1's (27.8). */
static nvmx_status read_l1_before(nvmx_vcpu *vcpu, nvmx_hw_vmcs state, nvmx_hw_vmcs nmi_state,
                                  l1_before *out)
{
    const struct {
        nvmx_hw_vmcs which;
        uint32_t field;
        uint64_t *value;
    } reads[] = {
        {state, NVMX_FIELD_GUEST_CR0, &out->cr0},
        {state, NVMX_FIELD_GUEST_CR4, &out->cr4},
        {state, NVMX_FIELD_GUEST_IA32_EFER, &out->efer},
        {state, NVMX_FIELD_GUEST_IA32_PAT, &out->pat},
        {nmi_state, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO, &out->interruptibility},
    };
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(reads); i++) {
        if (ops->hw_vmcs_read(vcpu->ctx, reads[i].which, reads[i].field, reads[i].value) != NVMX_OK)
            return NVMX_ERR_HOST;
    }
    return NVMX_OK;
}

static void push(host_load *load, uint32_t field, uint64_t value)
{
    /* The static assertion above makes overflow unreachable; the check keeps memory safe
     * even so. */
    if (load->count < HOST_LOAD_MAX) {
        load->field[load->count] = field;
        load->value[load->count] = value;
        load->count++;
    }
}

static uint64_t copy_value(const nvmx_vm *vm, uint8_t how, uint64_t value)
{
    switch (how) {
    case HOST_COPY_CANONICAL:
        return make_canonical48(value);
    case HOST_COPY_PHYS:
        return vm->phys_addr_width >= 64 ? value : value & ((1ull << vm->phys_addr_width) - 1);
    default:
        return value;
    }
}

static void push_copies_and_constants(const nvmx_vm *vm, const vmcs12 *v, uint32_t exit,
                                      host_load *load)
{
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(host_copies); i++) {
        const host_copy *c = &host_copies[i];
        if (!c->exit_control || (exit & c->exit_control))
            push(load, c->guest_field, copy_value(vm, c->how, vmcs12_get(v, c->host_ordinal)));
    }
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(host_constants); i++) {
        const host_constant *c = &host_constants[i];
        if (!c->exit_control || (exit & c->exit_control))
            push(load, c->guest_field, c->value);
    }
}

/* 28.5.1: CR0 and CR4 from their fields except the bits the exit does not modify, which keep
 * L1's values: the ones listed for CR0 and, for both, the bits fixed in VMX operation
 * (IA32_VMX_CR0/CR4_FIXED0 = 1 or FIXED1 = 0, SDM A.7, A.8). CR4.PAE is set by a 64-bit
 * host, CR4.PCIDE cleared by a 32-bit one. IA32_EFER: from its field with "load IA32_EFER",
 * else L1's; LMA and LME are the host address-space size either way (the VM-entry checks make
 * the field agree, so the order of the two SDM rules does not matter). */
static void push_control_registers(const nvmx_vm *vm, const vmcs12 *v, const l1_before *before,
                                   uint32_t exit, host_load *load)
{
    bool host64 = exit & NVMX_CTL(EXIT_HOST_ADDR_SPACE);
    uint64_t cr0_keep = CR0_NOT_LOADED | vm->caps.cr0_fixed0 | ~vm->caps.cr0_fixed1;
    uint64_t cr4_keep = vm->caps.cr4_fixed0 | ~vm->caps.cr4_fixed1;
    uint64_t cr0 = (VMCS12_GET(v, HOST_CR0) & ~cr0_keep) | (before->cr0 & cr0_keep);
    uint64_t cr4 = (VMCS12_GET(v, HOST_CR4) & ~cr4_keep) | (before->cr4 & cr4_keep);
    cr4 = host64 ? cr4 | NVMX_CR4_PAE : cr4 & ~NVMX_CR4_PCIDE;
    uint64_t efer =
        (exit & NVMX_CTL(EXIT_LOAD_EFER)) ? VMCS12_GET(v, HOST_IA32_EFER) : before->efer;
    const uint64_t long_mode = NVMX_EFER_LME | NVMX_EFER_LMA;
    efer = host64 ? efer | long_mode : efer & ~long_mode;
    push(load, NVMX_FIELD_GUEST_CR0, cr0);
    push(load, NVMX_FIELD_GUEST_CR4, cr4);
    push(load, NVMX_FIELD_GUEST_IA32_EFER, efer);
    /* 28.5.1: without "load IA32_PAT" the PAT keeps the processor's value. */
    if (!(exit & NVMX_CTL(EXIT_LOAD_PAT)))
        push(load, NVMX_FIELD_GUEST_IA32_PAT, before->pat);
}

/* 28.5.2 attributes: CS type 11, S, P, G, L = host address-space size, D/B = its inverse;
 * usable data segments type 3, S, P, D/B, G; TR type 11 (busy TSS), P. DPL is 0 everywhere
 * (CPL 0 after the exit). An unusable segment (selector 0; never CS or TR) gets only the
 * unusable bit: the rest is undefined, and SS.DPL stays 0. */
static uint32_t segment_access_rights(uint8_t kind, bool unusable, bool host64)
{
    switch (kind) {
    case SEGMENT_CODE:
        return NVMX_AR_TYPE_CODE_ER_ACCESSED | NVMX_AR_S | NVMX_AR_P | NVMX_AR_G |
               (host64 ? NVMX_AR_L : NVMX_AR_DB);
    case SEGMENT_TSS:
        return NVMX_AR_TYPE_TSS_BUSY | NVMX_AR_P;
    default:
        if (unusable)
            return NVMX_AR_UNUSABLE;
        return NVMX_AR_TYPE_DATA_RW_ACCESSED | NVMX_AR_S | NVMX_AR_P | NVMX_AR_DB | NVMX_AR_G;
    }
}

/* 28.5.2: limits CS and usable data segments FFFFFFFFH, TR 67H; undefined for an unusable
 * segment (the library writes 0). Bases 0 for CS, SS, DS, ES (undefined when unusable: 0);
 * FS, GS and TR from their fields made canonical (FS/GS of an unusable segment outside
 * 64-bit mode are undefined but canonical: the field is as good a choice as any). */
static void push_segments(const vmcs12 *v, bool host64, host_load *load)
{
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(host_segments); i++) {
        const host_segment *s = &host_segments[i];
        uint16_t selector = (uint16_t)vmcs12_get(v, s->host_selector);
        bool unusable = selector == 0 && s->kind == SEGMENT_DATA;
        uint32_t limit = s->kind == SEGMENT_TSS ? TSS_LIMIT : unusable ? 0 : FLAT_LIMIT;
        uint64_t base =
            s->host_base == NO_BASE_FIELD ? 0 : make_canonical48(vmcs12_get(v, s->host_base));
        push(load, s->selector, selector);
        push(load, s->base, base);
        push(load, s->limit, limit);
        push(load, s->access_rights, segment_access_rights(s->kind, unusable, host64));
    }
}

/* 28.5.5: no blocking by STI or MOV SS (nor an enclave interruption) after an exit; an exit
 * caused directly by an NMI blocks NMIs, other exits leave blocking by NMI as it was, and
 * blocking by SMI is not the exit's business. */
static uint64_t interruptibility_after(const l1_before *before, bool nmi_exit)
{
    uint64_t kept = before->interruptibility & (NVMX_BLOCKING_SMI | NVMX_BLOCKING_NMI);
    return nmi_exit ? kept | NVMX_BLOCKING_NMI : kept;
}

static bool pdpte_valid(const nvmx_vm *vm, uint64_t pdpte)
{
    uint64_t beyond = vm->phys_addr_width >= 64 ? 0 : ~0ull << vm->phys_addr_width;
    return !(pdpte & PDPTE_PRESENT) || !(pdpte & (PDPTE_RESERVED_LOW | beyond));
}

/* 28.5.4: an exit to a host using PAE paging (CR4.PAE in the host field, host address-space
 * size 0) may check the PDPTEs CR3 references, and must when PAE paging was not in use or
 * CR3 changes; the library always checks (the SDM's "may"). A PDPTE that MOV to CR3 would
 * refuse is a VMX abort (indicator 2); valid ones go to vmcs01's PDPTE fields. The table is
 * read from L1 memory once; memory that is not L1 RAM reads as all ones (and fails). */
static void push_pdptes(const nvmx_vcpu *vcpu, const vmcs12 *v, uint32_t exit, host_load *load)
{
    if ((exit & NVMX_CTL(EXIT_HOST_ADDR_SPACE)) || !(VMCS12_GET(v, HOST_CR4) & NVMX_CR4_PAE))
        return;
    const nvmx_vm *vm = vcpu->vm;
    uint64_t pdpte[4];
    uint64_t table = VMCS12_GET(v, HOST_CR3) & CR3_PDPT_MASK;
    if (vm->ops.l1_read(vm->host_ctx, table, pdpte, sizeof(pdpte)) != NVMX_OK)
        nvmx_memset(pdpte, 0xFF, sizeof(pdpte));
    for (unsigned i = 0; i < 4; i++) {
        if (!pdpte_valid(vm, pdpte[i])) {
            load->abort = VMX_ABORT_HOST_PDPTE;
            return;
        }
    }
    static const uint32_t fields[4] = {NVMX_FIELD_GUEST_PDPTR0, NVMX_FIELD_GUEST_PDPTR1,
                                       NVMX_FIELD_GUEST_PDPTR2, NVMX_FIELD_GUEST_PDPTR3};
    for (unsigned i = 0; i < 4; i++)
        push(load, fields[i], pdpte[i]);
}

nvmx_status host_load_prepare(nvmx_vcpu *vcpu, const vmcs12 *v, bool nmi_exit, nvmx_hw_vmcs state,
                              nvmx_hw_vmcs nmi_state, host_load *out)
{
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    if (!ops->hw_vmcs_read || !ops->hw_vmcs_write)
        return NVMX_ERR_UNSUPPORTED;
    l1_before before;
    if (read_l1_before(vcpu, state, nmi_state, &before) != NVMX_OK) {
        vm_log(vcpu->vm, NVMX_LOG_ERROR, "VM exit to L1: hw_vmcs_read failed");
        return NVMX_ERR_HOST;
    }
    return host_load_compute(vcpu, v, nmi_exit, &before, out);
}

nvmx_status host_load_compute(nvmx_vcpu *vcpu, const vmcs12 *v, bool nmi_exit,
                              const l1_before *before_exit, host_load *out)
{
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    if (!ops->hw_vmcs_read || !ops->hw_vmcs_write)
        return NVMX_ERR_UNSUPPORTED;
    l1_before before = *before_exit;
    out->count = 0;
    out->abort = VMX_ABORT_NONE;
    uint32_t exit = (uint32_t)VMCS12_GET(v, VM_EXIT_CONTROLS);
    push_control_registers(vcpu->vm, v, &before, exit, out);
    push_copies_and_constants(vcpu->vm, v, exit, out);
    push_segments(v, exit & NVMX_CTL(EXIT_HOST_ADDR_SPACE), out);
    push(out, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO, interruptibility_after(&before, nmi_exit));
    push_pdptes(vcpu, v, exit, out);
    return NVMX_OK;
}

nvmx_status host_load_write(nvmx_vcpu *vcpu, const host_load *load)
{
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    for (unsigned i = 0; i < load->count; i++) {
        if (ops->hw_vmcs_write(vcpu->ctx, NVMX_HW_VMCS01, load->field[i], load->value[i]) !=
            NVMX_OK) {
            vm_log_hex(vcpu->vm, NVMX_LOG_ERROR,
                       "VM exit to L1: hw_vmcs_write of vmcs01 failed, field", load->field[i]);
            return NVMX_ERR_HOST;
        }
    }
    return NVMX_OK;
}
