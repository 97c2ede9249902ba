/* SPDX-License-Identifier: MIT */
/*
 * Building vmcs02 from vmcs12 and L0's needs.
 *
 * Guest-state fields are L1's choice and are copied (SDM 27.3.2 then loads them into the CPU).
 * Host-state fields and the VM-exit controls are L0's: L2's exits go to L0 first. Execution
 * controls are L1's | L0's, so that every exit either wants reaches L0, which then reflects to
 * L1 what L1 asked for (lib/exits/reflect.c). I/O accesses always exit to L0 (unconditional
 * I/O exiting, no I/O bitmaps in vmcs02): reflection applies L1's I/O bitmaps (SDM 25.6.4), a
 * choice that is exact and needs no bitmap pages. MSR accesses exit per the merged MSR bitmap
 * when L0 has an MSR policy for L2 (msr_bitmap02.c), else always.
 */
#include "vmcs02.h"

#include "msr_bitmap02.h"
#include "../ept/ept02.h"
#include "../vpid02.h"

/* L2's state the library reads back from vmcs02 at every exit (SDM 28.3) must be saved there
 * by the exit: debug controls, PAT and EFER. */
#define VMCS02_ALWAYS_SAVED                                                                        \
    (NVMX_CTL(EXIT_SAVE_DEBUG) | NVMX_CTL(EXIT_SAVE_PAT) | NVMX_CTL(EXIT_SAVE_EFER))

/* The guest state vmcs02 loads on every entry, whatever L1's controls (write_inherited_state). */
#define VMCS02_ALWAYS_LOADED                                                                       \
    (NVMX_CTL(ENTRY_LOAD_EFER) | NVMX_CTL(ENTRY_LOAD_PAT) | NVMX_CTL(ENTRY_LOAD_DEBUG))

static nvmx_status write_field(nvmx_vcpu *vcpu, unsigned ordinal, uint64_t value)
{
    nvmx_status status = vcpu->vm->ops.hw_vmcs_write(vcpu->ctx, NVMX_HW_VMCS02,
                                                     vmcs_field_table[ordinal].encoding, value);
    return status == NVMX_OK ? NVMX_OK : NVMX_ERR_HOST;
}

static bool dirty(const vmcs12 *v, unsigned ordinal)
{
    return (v->dirty[ordinal / 64] >> (ordinal % 64)) & 1;
}

/* Guest-state fields: L1's values, except the VMCS link pointer, which belongs to the VMCS
 * that runs L2 (L0 emulates L2's VMCS shadowing; SDM 25.10), and the preemption-timer value
 * (written from L1's deadline, lib/exits/preemption_timer.c). */
static nvmx_status copy_guest_state(nvmx_vcpu *vcpu, const vmcs12 *v, bool full)
{
    /* Word by word over the dirty bits: a resume visits only what L1 wrote. */
    for (unsigned w = 0; w < VMCS12_FIELD_WORDS; w++) {
        uint64_t bits = (full ? ~0ull : v->dirty[w]) & vcpu->vm->guest_fields[w];
        while (bits) {
            unsigned i = w * 64 + (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            /* The timer value is derived from L1's deadline (preemption_timer_write_vmcs02),
             * and is L0's own when L1's timer is off. */
            if (i == VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE)
                continue;
            uint64_t value = i == VMCS12_ORD_VMCS_LINK_POINTER ? ~0ull : vmcs12_get(v, i);
            nvmx_status status = write_field(vcpu, i, value);
            if (status != NVMX_OK)
                return status;
        }
    }
    return NVMX_OK;
}

/* The control fields whose vmcs02 value depends on vmcs12: any of them dirty means the
 * merged controls are recomputed. */
static const uint16_t control_inputs[] = {
    VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL,
    VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL,
    VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL,
    VMCS12_ORD_VM_ENTRY_CONTROLS,
    VMCS12_ORD_EXCEPTION_BITMAP,
    VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MASK,
    VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MATCH,
    VMCS12_ORD_CR0_GUEST_HOST_MASK,
    VMCS12_ORD_CR4_GUEST_HOST_MASK,
    VMCS12_ORD_CR0_READ_SHADOW,
    VMCS12_ORD_CR4_READ_SHADOW,
    VMCS12_ORD_GUEST_CR0,
    VMCS12_ORD_GUEST_CR4,
    VMCS12_ORD_CR3_TARGET_COUNT,
    VMCS12_ORD_CR3_TARGET_VALUE0,
    VMCS12_ORD_CR3_TARGET_VALUE1,
    VMCS12_ORD_CR3_TARGET_VALUE2,
    VMCS12_ORD_CR3_TARGET_VALUE3,
    VMCS12_ORD_TSC_OFFSET,
};

static bool controls_dirty(const vmcs12 *v)
{
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(control_inputs); i++) {
        if (dirty(v, control_inputs[i]))
            return true;
    }
    return false;
}

typedef struct control_value {
    uint16_t ordinal;
    uint64_t value;
} control_value;

/* A vmcs12 control cut to what the VM exposes as allowed-1 (bits 63:32 of the capability).
 * The VM-entry checks already refuse anything else; cutting again here means no vmcs12
 * content can ever put a control into vmcs02 that neither L1 may set nor L0 asked for. */
static uint32_t l1_control(const vmcs12 *v, unsigned ordinal, uint64_t capability)
{
    return (uint32_t)vmcs12_get(v, ordinal) & (uint32_t)(capability >> 32);
}

/* Execution controls: L1's | L0's. SDM 25.6.2: secondary controls act only when activated. */
static unsigned merge_execution_controls(const nvmx_vm *vm, const vmcs12 *v, control_value *out)
{
    const nvmx_vmx_caps *caps = &vm->caps;
    uint32_t proc = l1_control(v, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL, caps->procbased);
    uint32_t proc2 = (proc & NVMX_CTL(SECONDARY_CONTROLS))
                         ? l1_control(v, VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL, caps->procbased2)
                         : 0;
    /* L2's VMREAD/VMWRITE exit to L0, which emulates L1's shadow VMCS for it. */
    proc2 = (proc2 & ~(uint32_t)NVMX_CTL(SHADOW_VMCS)) | vm->l0.proc2;
    proc = (proc | vm->l0.proc) & ~(uint32_t)(NVMX_CTL(IO_BITMAPS) | NVMX_CTL(MSR_BITMAPS));
    proc |= NVMX_CTL(UNCOND_IO_EXITING);
    proc |= msr_bitmap02_used(vm, v) ? NVMX_CTL(MSR_BITMAPS) : 0;
    proc = proc2 ? proc | NVMX_CTL(SECONDARY_CONTROLS)
                 : proc & ~(uint32_t)NVMX_CTL(SECONDARY_CONTROLS);
    unsigned n = 0;
    out[n++] = (control_value){VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL,
                               l1_control(v, VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL, caps->pinbased) |
                                   vm->l0.pin};
    out[n++] = (control_value){VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL, proc};
    if (proc2)
        out[n++] = (control_value){VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL, proc2};
    /* L1's "enable VM functions" stays, with no function enabled: L2's VMFUNC exits to L0
     * (reason 59, SDM 26.5.6.2) and L1's functions are emulated (lib/exits/vmfunc.c). */
    if (proc2 & NVMX_CTL(ENABLE_VMFUNC))
        out[n++] = (control_value){VMCS12_ORD_VM_FUNCTION_CONTROL, 0};
    /* L2's state must be readable at every exit (SDM 28.3). */
    out[n++] = (control_value){VMCS12_ORD_VM_EXIT_CONTROLS, vm->l0.exit | VMCS02_ALWAYS_SAVED};
    /* Entry controls: L1's, never entry to SMM (L1 is not in SMM), and vmcs02 always loads
     * EFER, PAT and the debug controls, with the values write_inherited_state computes. */
    out[n++] = (control_value){VMCS12_ORD_VM_ENTRY_CONTROLS,
                               (l1_control(v, VMCS12_ORD_VM_ENTRY_CONTROLS, caps->entry) &
                                ~(NVMX_CTL(ENTRY_SMM) | NVMX_CTL(ENTRY_DEACT_DUAL_MONITOR))) |
                                   VMCS02_ALWAYS_LOADED};
    return n;
}

/* SDM 26.2: a #PF exits when bit 14 of the exception bitmap equals whether
 * (error code & mask) == match. If L0 wants every #PF, vmcs02 takes all of them (mask = match
 * = 0 with bit 14 set) and reflection applies L1's own filter. */
static unsigned merge_exceptions(const nvmx_vm *vm, const vmcs12 *v, control_value *out)
{
    uint32_t bitmap =
        (uint32_t)vmcs12_get(v, VMCS12_ORD_EXCEPTION_BITMAP) | vm->l0.exception_bitmap;
    bool l0_wants_pf = (vm->l0.exception_bitmap >> NVMX_VECTOR_PF) & 1;
    uint64_t mask = l0_wants_pf ? 0 : vmcs12_get(v, VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MASK);
    uint64_t match = l0_wants_pf ? 0 : vmcs12_get(v, VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MATCH);
    out[0] = (control_value){VMCS12_ORD_EXCEPTION_BITMAP, bitmap};
    out[1] = (control_value){VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MASK, mask};
    out[2] = (control_value){VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MATCH, match};
    return 3;
}

/* SDM 25.6.6: a bit set in the guest/host mask is owned by the host, and guest reads of it
 * return the read shadow. L2 must see L1's shadow for bits L1 owns, and the value L1 gave it
 * (the guest CR) for bits only L0 owns. */
static uint64_t read_shadow(const vmcs12 *v, unsigned mask_ord, unsigned shadow_ord,
                            unsigned cr_ord)
{
    uint64_t l1_mask = vmcs12_get(v, mask_ord);
    return (vmcs12_get(v, shadow_ord) & l1_mask) | (vmcs12_get(v, cr_ord) & ~l1_mask);
}

static unsigned merge_control_registers(const nvmx_vm *vm, const vmcs12 *v, control_value *out)
{
    unsigned n = 0;
    out[n++] =
        (control_value){VMCS12_ORD_CR0_GUEST_HOST_MASK,
                        vmcs12_get(v, VMCS12_ORD_CR0_GUEST_HOST_MASK) | vm->l0.cr0_guest_host_mask};
    out[n++] =
        (control_value){VMCS12_ORD_CR4_GUEST_HOST_MASK,
                        vmcs12_get(v, VMCS12_ORD_CR4_GUEST_HOST_MASK) | vm->l0.cr4_guest_host_mask};
    out[n++] = (control_value){VMCS12_ORD_CR0_READ_SHADOW,
                               read_shadow(v, VMCS12_ORD_CR0_GUEST_HOST_MASK,
                                           VMCS12_ORD_CR0_READ_SHADOW, VMCS12_ORD_GUEST_CR0)};
    out[n++] = (control_value){VMCS12_ORD_CR4_READ_SHADOW,
                               read_shadow(v, VMCS12_ORD_CR4_GUEST_HOST_MASK,
                                           VMCS12_ORD_CR4_READ_SHADOW, VMCS12_ORD_GUEST_CR4)};
    /* SDM 26.1.3: MOV to CR3 exits unless the value is a target. When L0 itself wants every
     * CR3 load there are no targets in vmcs02. */
    bool l0_cr3 = vm->l0.proc & NVMX_CTL(CR3_LOAD_EXITING);
    uint64_t count = l0_cr3 ? 0 : vmcs12_get(v, VMCS12_ORD_CR3_TARGET_COUNT);
    out[n++] = (control_value){VMCS12_ORD_CR3_TARGET_COUNT, count};
    for (unsigned t = 0; t < 4; t++)
        out[n++] = (control_value){(uint16_t)(VMCS12_ORD_CR3_TARGET_VALUE0 + t),
                                   vmcs12_get(v, VMCS12_ORD_CR3_TARGET_VALUE0 + t)};
    return n;
}

/* SDM 25.6.5: with "use TSC offsetting" L2's TSC is L1's TSC + vmcs12's offset, and L1's is
 * the host's + vmcs01's offset. */
static nvmx_status merge_tsc_offset(nvmx_vcpu *vcpu, const vmcs12 *v, control_value *out)
{
    uint64_t l1_offset = 0;
    nvmx_status status =
        vcpu->vm->ops.hw_vmcs_read(vcpu->ctx, NVMX_HW_VMCS01, NVMX_FIELD_TSC_OFFSET, &l1_offset);
    if (status != NVMX_OK)
        return NVMX_ERR_HOST;
    if (vmcs12_get(v, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(TSC_OFFSETTING))
        l1_offset += vmcs12_get(v, VMCS12_ORD_TSC_OFFSET);
    *out = (control_value){VMCS12_ORD_TSC_OFFSET, l1_offset};
    return NVMX_OK;
}

/* Every entry: vmcs01's offset is L0's and may change between entries (the embedder sets
 * L1's TSC there), which no vmcs12 dirty bit shows; vmcs02 is written only when it differs. */
static nvmx_status refresh_tsc_offset(nvmx_vcpu *vcpu, const vmcs12 *v)
{
    control_value tsc;
    uint64_t current;
    nvmx_status status = merge_tsc_offset(vcpu, v, &tsc);
    if (status != NVMX_OK)
        return status;
    if (vcpu->vm->ops.hw_vmcs_read(vcpu->ctx, NVMX_HW_VMCS02, NVMX_FIELD_TSC_OFFSET, &current) !=
        NVMX_OK)
        return NVMX_ERR_HOST;
    return current == tsc.value ? NVMX_OK : write_field(vcpu, tsc.ordinal, tsc.value);
}

static nvmx_status write_controls(nvmx_vcpu *vcpu, const vmcs12 *v)
{
    control_value values[24];
    unsigned n = merge_execution_controls(vcpu->vm, v, values);
    n += merge_exceptions(vcpu->vm, v, values + n);
    n += merge_control_registers(vcpu->vm, v, values + n);
    nvmx_status status = NVMX_OK;
    for (unsigned i = 0; status == NVMX_OK && i < n; i++)
        status = write_field(vcpu, values[i].ordinal, values[i].value);
    return status;
}

/* SDM 27.3.2.1: what a VM entry does not load keeps the processor's value, which is L1's. L2
 * must start with exactly that, whatever vmcs02's own controls are, so vmcs02 always loads
 * these fields: vmcs12's value when L1's entry loads it, else L1's current one — for EFER with
 * LMA = "IA-32e mode guest" and, when CR0.PG = 1, LME too. Written on every entry: L1's values
 * may have changed since the last one. */
static const struct {
    uint16_t ordinal;
    uint32_t load_control;
} inherited_state[] = {
    {VMCS12_ORD_GUEST_IA32_EFER, NVMX_CTL(ENTRY_LOAD_EFER)},
    {VMCS12_ORD_GUEST_IA32_PAT, NVMX_CTL(ENTRY_LOAD_PAT)},
    {VMCS12_ORD_GUEST_DR7, NVMX_CTL(ENTRY_LOAD_DEBUG)},
    {VMCS12_ORD_GUEST_IA32_DEBUGCTL, NVMX_CTL(ENTRY_LOAD_DEBUG)},
};

static uint64_t entered_efer(const vmcs12 *v, uint64_t l1_efer)
{
    bool ia32e = vmcs12_get(v, VMCS12_ORD_VM_ENTRY_CONTROLS) & NVMX_CTL(ENTRY_IA32E_MODE);
    bool paging = vmcs12_get(v, VMCS12_ORD_GUEST_CR0) & NVMX_CR0_PG;
    uint64_t efer = l1_efer & ~(NVMX_EFER_LMA | NVMX_EFER_LME);
    if (ia32e)
        efer |= NVMX_EFER_LMA | (paging ? NVMX_EFER_LME : 0);
    return efer;
}

static nvmx_status write_inherited_state(nvmx_vcpu *vcpu, const vmcs12 *v)
{
    uint64_t entry = vmcs12_get(v, VMCS12_ORD_VM_ENTRY_CONTROLS);
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(inherited_state); i++) {
        unsigned ordinal = inherited_state[i].ordinal;
        uint64_t value = vmcs12_get(v, ordinal);
        if (!(entry & inherited_state[i].load_control)) {
            nvmx_status status = vcpu->vm->ops.hw_vmcs_read(
                vcpu->ctx, NVMX_HW_VMCS01, vmcs_field_table[ordinal].encoding, &value);
            if (status != NVMX_OK)
                return NVMX_ERR_HOST;
            if (ordinal == VMCS12_ORD_GUEST_IA32_EFER)
                value = entered_efer(v, value);
        }
        nvmx_status status = write_field(vcpu, ordinal, value);
        if (status != NVMX_OK)
            return status;
    }
    return NVMX_OK;
}

/* Event injection is per entry (SDM 27.5): always copied. The MSR lists are processed by the
 * library (27.4, 28.4, 28.6), so vmcs02 has none. */
static const uint16_t every_entry[] = {
    VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD,
    VMCS12_ORD_VM_ENTRY_EXCEPTION_ERROR_CODE,
    VMCS12_ORD_VM_ENTRY_INSTRUCTION_LEN,
};
static const uint16_t zero_on_build[] = {
    VMCS12_ORD_VM_ENTRY_MSR_LOAD_COUNT,
    VMCS12_ORD_VM_EXIT_MSR_STORE_COUNT,
    VMCS12_ORD_VM_EXIT_MSR_LOAD_COUNT,
};

static nvmx_status write_events_and_lists(nvmx_vcpu *vcpu, const vmcs12 *v, bool full)
{
    nvmx_status status = NVMX_OK;
    for (unsigned i = 0; status == NVMX_OK && i < NVMX_ARRAY_SIZE(every_entry); i++)
        status = write_field(vcpu, every_entry[i], vmcs12_get(v, every_entry[i]));
    for (unsigned i = 0; full && status == NVMX_OK && i < NVMX_ARRAY_SIZE(zero_on_build); i++)
        status = write_field(vcpu, zero_on_build[i], 0);
    return status;
}

/* With EPT in vmcs02 (L0's EPT01) but not in vmcs12, a PAE L2's PDPTEs come from the VMCS
 * (SDM 27.3.2.4); they were read from L2's CR3 by the entry checks. */
static nvmx_status write_pdptes(nvmx_vcpu *vcpu, const uint64_t *pdpte)
{
    nvmx_status status = NVMX_OK;
    for (unsigned i = 0; pdpte && status == NVMX_OK && i < 4; i++)
        status = write_field(vcpu, VMCS12_ORD_GUEST_PDPTR0 + i, pdpte[i]);
    return status;
}

/* ---- vmcs02's EPT pointer ------------------------------------------------------------- */

/* Whether vmcs12 runs L2 with EPT: "enable EPT" with the secondary controls active (25.6.2),
 * cut to what the VM exposes, as merge_execution_controls does. */
static bool l1_enables_ept(const nvmx_vm *vm, const vmcs12 *v)
{
    uint32_t proc = l1_control(v, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL, vm->caps.procbased);
    return (proc & NVMX_CTL(SECONDARY_CONTROLS)) &&
           (l1_control(v, VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL, vm->caps.procbased2) &
            NVMX_CTL(EPT));
}

/* Who writes vmcs02's EPTP (SDM 25.6.11, 29.3):
 *   vmcs12 enables EPT: L2's guest-physical addresses are L2's own, translated by L1's EPT12
 *     then L0's EPT01: vmcs02 gets the EPT02 of vmcs12's EPTP (lib/ept/ept02.c), created
 *     empty when absent and filled per EPT violation (lib/exits/ept_exits.c). Its leaves
 *     point only at host pages EPT01 gave for the L1 GPAs EPT12 names.
 *   else, when vmcs02 has EPT (L0's own, nvmx_l0_controls.proc2): L2's guest-physical space
 *     is L1's, so vmcs02 gets vmcs01's EPTP (EPT01), which L0 keeps in vmcs01.
 *   else vmcs02 has no EPT and nothing is written.
 * Rewritten at every VM entry, not only when vmcs12's EPTP changes: the EPT02 may have been
 * dropped since (INVEPT, eviction at the page cap), and EPT01's pointer is L0's to change. */
nvmx_status vmcs02_write_ept02_eptp(nvmx_vcpu *vcpu, uint64_t eptp12)
{
    uint64_t eptp02;
    nvmx_status status = ept02_root_hpa(vcpu, eptp12, &eptp02);
    return status == NVMX_OK ? write_field(vcpu, VMCS12_ORD_EPT_POINTER, eptp02) : status;
}

nvmx_status vmcs02_write_eptp(nvmx_vcpu *vcpu)
{
    nvmx_vm *vm = vcpu->vm;
    const vmcs12 *v = &vcpu->current->data;
    if (l1_enables_ept(vm, v))
        return vmcs02_write_ept02_eptp(vcpu, vmcs12_get(v, VMCS12_ORD_EPT_POINTER));
    if (!(vm->l0.proc2 & NVMX_CTL(EPT)))
        return NVMX_OK;
    uint64_t eptp01;
    if (vm->ops.hw_vmcs_read(vcpu->ctx, NVMX_HW_VMCS01, NVMX_FIELD_EPT_POINTER, &eptp01) != NVMX_OK)
        return NVMX_ERR_HOST;
    return write_field(vcpu, VMCS12_ORD_EPT_POINTER, eptp01);
}

/* A PAE L2 under EPT in vmcs12 takes its PDPTEs from vmcs12's fields (27.3.2.4), which
 * copy_guest_state writes when L1 changes them. When the controls change (EPT turned on),
 * vmcs02 may still hold PDPTEs write_pdptes read from CR3 for an entry without EPT: write
 * vmcs12's again. */
static nvmx_status write_ept12_pdptes(nvmx_vcpu *vcpu, const vmcs12 *v)
{
    nvmx_status status = NVMX_OK;
    for (unsigned i = 0; status == NVMX_OK && i < 4; i++)
        status = write_field(vcpu, VMCS12_ORD_GUEST_PDPTR0 + i,
                             vmcs12_get(v, VMCS12_ORD_GUEST_PDPTR0 + i));
    return status;
}

/* SDM 25.6.8, 29.1: vmcs02 runs L2 with the VPID02 of vmcs12's VPID (lib/vpid02.c), chosen
 * at every entry (a slot may have changed owner since the last one); the entry's flushes are
 * requested there. Nothing is written when vmcs02 runs without VPID or the VPID is L0's. */
nvmx_status vmcs02_write_vpid(nvmx_vcpu *vcpu)
{
    uint16_t vpid02;
    nvmx_status status = vpid02_enter(vcpu, &vpid02);
    if (status == NVMX_OK && vpid02)
        status = write_field(vcpu, VMCS12_ORD_VIRTUAL_PROCESSOR_ID, vpid02);
    return status;
}

nvmx_status vmcs02_build(nvmx_vcpu *vcpu, const uint64_t *pdpte)
{
    vmcs12 *v = &vcpu->current->data;
    bool full = vcpu->vmcs02_source != vcpu->current_vmptr;
    bool controls_changed = full || controls_dirty(v);
    nvmx_status status = copy_guest_state(vcpu, v, full);
    if (status == NVMX_OK && controls_changed)
        status = write_controls(vcpu, v);
    if (status == NVMX_OK)
        status = refresh_tsc_offset(vcpu, v);
    if (status == NVMX_OK)
        status = msr_bitmap02_update(vcpu, v, full);
    if (status == NVMX_OK)
        status = vmcs02_write_eptp(vcpu);
    if (status == NVMX_OK && controls_changed && l1_enables_ept(vcpu->vm, v))
        status = write_ept12_pdptes(vcpu, v);
    if (status == NVMX_OK)
        status = write_inherited_state(vcpu, v);
    if (status == NVMX_OK)
        status = write_events_and_lists(vcpu, v, full);
    if (status == NVMX_OK)
        status = vmcs02_write_vpid(vcpu);
    if (status == NVMX_OK)
        status = write_pdptes(vcpu, pdpte);
    if (status == NVMX_OK)
        status = preemption_timer_write_vmcs02(vcpu);
    if (status != NVMX_OK) {
        vmcs02_invalidate(vcpu); /* half-written: the next entry rewrites all */
        return status;
    }
    nvmx_memset(v->dirty, 0, sizeof(v->dirty));
    vcpu->vmcs02_source = vcpu->current_vmptr;
    return NVMX_OK;
}

void vmcs02_synced_by_exit(nvmx_vcpu *vcpu, uint64_t entry_controls_before)
{
    vmcs12 *v = &vcpu->current->data;
    for (unsigned w = 0; w < VMCS12_FIELD_WORDS; w++)
        v->dirty[w] &= ~vcpu->vm->guest_fields[w];
    if (vmcs12_get(v, VMCS12_ORD_VM_ENTRY_CONTROLS) == entry_controls_before)
        v->dirty[VMCS12_ORD_VM_ENTRY_CONTROLS / 64] &=
            ~(1ull << (VMCS12_ORD_VM_ENTRY_CONTROLS % 64));
}

void vmcs02_invalidate(nvmx_vcpu *vcpu)
{
    vcpu->vmcs02_source = NVMX_INVALID_VMPTR;
}
