/* SPDX-License-Identifier: MIT */
/*
 * A VM exit from L2 to L1 as the processor performs it (SDM Vol. 3C chapter 28), and the
 * VM-entry failures that end the same way (27.8).
 *
 * Order, chosen so that a failing op leaves the vCPU as it was (still running L2, vmcs12
 * untouched; at most the MSR-store area of L1 was written, which a retried exit rewrites)
 * rather than half-way through an exit:
 *   1. read: L2's guest state from vmcs02, L1's vmcs01 bits the exit keeps, the host PDPTEs;
 *   2. VM-exit MSR-store list (28.4; reads MSRs as L2 sees them: guest_mode is still true);
 *   3. VMX aborts decided by the reads (28.5: 6 and 2);
 *   4. write vmcs01 (28.5), the only op that can fail half-way;
 *   5. record the exit information and L2's state in vmcs12 (28.2, 28.3): memory only;
 *   6. root operation: guest_mode = false;
 *   7. VM-exit MSR-load list (28.6; writes MSRs of L1).
 * Architecturally 5 comes before 2; nothing can observe the difference, since vmcs12 lives
 * in the cache and the MSR lists touch only MSRs and the list memory.
 */
#include "vm_exit.h"

#include "../vpid02.h"

/* ---- Saving guest state: the table (SDM 28.3) --------------------------------------------- */

#define SAVED_FOR(name, exit_ctl, proc2_ctl, keep, input)                                          \
    {                                                                                              \
        NVMX_FIELD_##name, VMCS12_ORD_##name, (uint32_t)(exit_ctl), (uint32_t)(proc2_ctl), (keep), \
            (input)                                                                                \
    }
#define SAVED(name, exit_ctl, proc2_ctl, keep) SAVED_FOR(name, exit_ctl, proc2_ctl, keep, -1)
#define SAVE(name) SAVED(name, 0, 0, ~0ull)
#define SAVE_IF_EXIT(name, control) SAVED(name, NVMX_CTL(control), 0, ~0ull)
#define SAVE_IF_EXEC2(name, control) SAVED(name, 0, NVMX_CTL(control), ~0ull)

/* 28.3.2: bits 31:17 and 11:8 of an access-rights field are saved as 0; bit 16 = unusable. */
#define AR_SAVED_BITS ((uint64_t)(uint32_t) ~(AR_RESERVED_31_17 | AR_RESERVED_11_8))
/* 28.3.4: exits that end outside SMM save blocking by SMI (bit 2) as 0. */
#define INTERRUPTIBILITY_SAVED_BITS (~(uint64_t)NVMX_BLOCKING_SMI)

#define SAVE_SEGMENT(seg)                                                                          \
    SAVE(GUEST_##seg##_SELECTOR), SAVE(GUEST_##seg##_BASE), SAVE(GUEST_##seg##_LIMIT),             \
        SAVED(GUEST_##seg##_AR_BYTES, 0, 0, AR_SAVED_BITS)

/* Every field is also saved only if it exists for the VM: that covers the MSRs the SDM saves
 * "if the processor supports the 1-setting" of their load/clear controls. Not saved: SMBASE
 * (SMM exits only), the VMCS link pointer (28.3.4), and the FRED and IA32_SPEC_CTRL fields,
 * whose capabilities features.h does not name (their stand-ins would make the library read
 * fields the hardware may not have). */
/* The saved fields the host-state load also needs (28.5: CR0/CR4 bits it keeps, PAT when not
 * loaded, blocking by NMI): taken from the state save's reads, each vmcs02 field read once
 * per exit. Index into host_load_inputs. */
enum { HOST_LOAD_CR0, HOST_LOAD_CR4, HOST_LOAD_PAT, HOST_LOAD_INTERRUPTIBILITY, HOST_LOAD_INPUTS };

const exit_saved_field exit_saved_fields[] = {
    /* 28.3.1: control registers, debug registers, MSRs */
    SAVED_FOR(GUEST_CR0, 0, 0, ~0ull, HOST_LOAD_CR0),
    SAVE(GUEST_CR3),
    SAVED_FOR(GUEST_CR4, 0, 0, ~0ull, HOST_LOAD_CR4),
    SAVE_IF_EXIT(GUEST_DR7, EXIT_SAVE_DEBUG),
    SAVE_IF_EXIT(GUEST_IA32_DEBUGCTL, EXIT_SAVE_DEBUG),
    SAVE(GUEST_SYSENTER_CS),
    SAVE(GUEST_SYSENTER_ESP),
    SAVE(GUEST_SYSENTER_EIP),
    SAVED_FOR(GUEST_IA32_PAT, NVMX_CTL(EXIT_SAVE_PAT), 0, ~0ull, HOST_LOAD_PAT),
    SAVE_IF_EXIT(GUEST_IA32_EFER, EXIT_SAVE_EFER),
    SAVE_IF_EXIT(GUEST_IA32_PERF_GLOBAL_CTRL, EXIT_SAVE_PERF_GLOBAL),
    SAVE(GUEST_BNDCFGS),
    SAVE(GUEST_IA32_RTIT_CTL),
    SAVE(GUEST_IA32_LBR_CTL),
    SAVE(GUEST_S_CET),
    SAVE(GUEST_INTR_SSP_TABLE),
    SAVE(GUEST_IA32_PKRS),
    SAVE(GUEST_UINV),
    /* 28.3.2: segment and descriptor-table registers */
    SAVE_SEGMENT(ES),
    SAVE_SEGMENT(CS),
    SAVE_SEGMENT(SS),
    SAVE_SEGMENT(DS),
    SAVE_SEGMENT(FS),
    SAVE_SEGMENT(GS),
    SAVE_SEGMENT(LDTR),
    SAVE_SEGMENT(TR),
    SAVE(GUEST_GDTR_BASE),
    SAVE(GUEST_GDTR_LIMIT),
    SAVE(GUEST_IDTR_BASE),
    SAVE(GUEST_IDTR_LIMIT),
    /* 28.3.3: RIP, RSP, RFLAGS, SSP */
    SAVE(GUEST_RIP),
    SAVE(GUEST_RSP),
    SAVE(GUEST_RFLAGS),
    SAVE(GUEST_SSP),
    /* 28.3.4: non-register state */
    SAVE(GUEST_ACTIVITY_STATE),
    SAVED_FOR(GUEST_INTERRUPTIBILITY_INFO, 0, 0, INTERRUPTIBILITY_SAVED_BITS,
              HOST_LOAD_INTERRUPTIBILITY),
    SAVE(GUEST_PENDING_DBG_EXCEPTIONS),
    SAVE_IF_EXIT(VMX_PREEMPTION_TIMER_VALUE, EXIT_SAVE_PREEMPTION_TIMER),
    SAVE_IF_EXEC2(GUEST_INTR_STATUS, VIRTUAL_INTR_DELIVERY),
    SAVE_IF_EXEC2(GUEST_PML_INDEX, PML),
    /* 28.3.4: the PDPTEs with "enable EPT" when L2 used PAE paging, undefined otherwise, so
     * saving them whenever EPT is on is exact where the SDM defines them. */
    SAVE_IF_EXEC2(GUEST_PDPTR0, EPT),
    SAVE_IF_EXEC2(GUEST_PDPTR1, EPT),
    SAVE_IF_EXEC2(GUEST_PDPTR2, EPT),
    SAVE_IF_EXEC2(GUEST_PDPTR3, EPT),
};
const size_t exit_saved_field_count = NVMX_ARRAY_SIZE(exit_saved_fields);

#define SAVED_MAX 80
_Static_assert(NVMX_ARRAY_SIZE(exit_saved_fields) <= SAVED_MAX, "guest_state holds the table");

/* ---- vmcs12 access ----------------------------------------------------------------------------
 */

/* A vmcs12 field by ordinal, cut to its width and marked dirty (vmcs02 is rebuilt from it on
 * the next VM entry). */
static void field_set(vmcs12 *v, unsigned ordinal, uint64_t value)
{
    vmcs12_store(v, ordinal, vmcs_field_table[ordinal].encoding, value);
}

static bool field_exists(const nvmx_vm *vm, unsigned ordinal)
{
    return (vm->field_exists[ordinal / 64] >> (ordinal % 64)) & 1;
}

/* SDM 25.6.2: the secondary controls act only when the primary control activates them. */
static uint32_t secondary_controls(const vmcs12 *v)
{
    if (!(VMCS12_GET(v, CPU_BASED_VM_EXEC_CONTROL) & NVMX_CTL(SECONDARY_CONTROLS)))
        return 0;
    return (uint32_t)VMCS12_GET(v, SECONDARY_VM_EXEC_CONTROL);
}

/* ---- Exit information (SDM 28.2) ---------------------------------------------------------- */

/* 28.2.1: bits 15:0 basic reason, bit 27 enclave mode; bits 31:28 and 26:16 cleared (28 and
 * 29 only for SMM VM exits, which L1 never gets). */
#define EXIT_REASON_BITS 0x0800FFFFu

/* 28.2.1: the reasons that define the guest-linear address (LMSW with a memory operand, INS
 * and OUTS, EPT violations) and the guest-physical address (EPT violations and
 * misconfigurations, SPP-related events). Other exits leave the fields undefined: the
 * library leaves them as they were. */
static bool reason_in(uint32_t basic, const uint8_t *reasons, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (reasons[i] == basic)
            return true;
    }
    return false;
}

static const uint8_t linear_address_reasons[] = {NVMX_EXIT_CR_ACCESS, NVMX_EXIT_IO_INSTRUCTION,
                                                 NVMX_EXIT_EPT_VIOLATION};
static const uint8_t physical_address_reasons[] = {NVMX_EXIT_EPT_VIOLATION, NVMX_EXIT_EPT_MISCONFIG,
                                                   NVMX_EXIT_SPP_EVENT};

static void record_exit_information(vmcs12 *v, const nested_exit *e)
{
    const struct {
        uint16_t ordinal;
        uint64_t value;
    } info[] = {
        {VMCS12_ORD_VM_EXIT_REASON, e->reason & EXIT_REASON_BITS},
        {VMCS12_ORD_EXIT_QUALIFICATION, e->qualification},
        {VMCS12_ORD_VM_EXIT_INTR_INFO, e->interruption_info},
        {VMCS12_ORD_VM_EXIT_INTR_ERROR_CODE, e->interruption_error_code},
        {VMCS12_ORD_IDT_VECTORING_INFO_FIELD, e->idt_vectoring_info},
        {VMCS12_ORD_IDT_VECTORING_ERROR_CODE, e->idt_vectoring_error_code},
        {VMCS12_ORD_VM_EXIT_INSTRUCTION_LEN, e->instruction_length},
        {VMCS12_ORD_VMX_INSTRUCTION_INFO, e->instruction_info},
    };
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(info); i++)
        field_set(v, info[i].ordinal, info[i].value);
    uint32_t basic = e->reason & 0xFFFFu;
    if (reason_in(basic, linear_address_reasons, NVMX_ARRAY_SIZE(linear_address_reasons)))
        field_set(v, VMCS12_ORD_GUEST_LINEAR_ADDRESS, e->guest_linear_address);
    if (reason_in(basic, physical_address_reasons, NVMX_ARRAY_SIZE(physical_address_reasons)))
        field_set(v, VMCS12_ORD_GUEST_PHYSICAL_ADDRESS, e->guest_physical_address);
    /* 28.2: every VM exit clears the valid bit of the VM-entry interruption information. */
    field_set(v, VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD,
              VMCS12_GET(v, VM_ENTRY_INTR_INFO_FIELD) & ~(uint64_t)NVMX_INTR_INFO_VALID);
}

/* 28.5.5: an exit "caused directly by an NMI": reason 0 with an NMI in the interruption
 * information. */
static bool caused_by_nmi(const nested_exit *e)
{
    return (e->reason & 0xFFFFu) == NVMX_EXIT_EXCEPTION_NMI &&
           (e->interruption_info & NVMX_INTR_INFO_VALID) &&
           intr_info_type(e->interruption_info) == NVMX_INTR_TYPE_NMI;
}

/* ---- Saving guest state (SDM 28.3) ---------------------------------------------------------- */

/* L2's state as read from vmcs02, before anything is written. */
typedef struct guest_state {
    uint64_t value[SAVED_MAX];
    bool saved[SAVED_MAX];
    uint64_t efer; /* IA32_EFER of L2, saved or not: LMA decides 28.2 and VMX abort 6 */
    /* What the host-state load keeps of L2's state (28.5), from the same reads: each vmcs02
     * field is read once per exit. */
    l1_before before;
} guest_state;

/* The same fields by HOST_LOAD_* index, and where each goes: read from vmcs02 afterwards when
 * the state save did not read it (PAT when L1 does not ask for it; vmcs02 always saves it). */
static const uint16_t host_load_inputs[HOST_LOAD_INPUTS] = {
    VMCS12_ORD_GUEST_CR0, VMCS12_ORD_GUEST_CR4, VMCS12_ORD_GUEST_IA32_PAT,
    VMCS12_ORD_GUEST_INTERRUPTIBILITY_INFO};

static uint64_t *host_load_input(l1_before *before, unsigned k)
{
    uint64_t *slots[HOST_LOAD_INPUTS] = {&before->cr0, &before->cr4, &before->pat,
                                         &before->interruptibility};
    return slots[k];
}

static nvmx_status read_missing_host_load_inputs(nvmx_vcpu *vcpu, l1_before *before, unsigned known)
{
    for (unsigned k = 0; k < HOST_LOAD_INPUTS; k++) {
        if (!((known >> k) & 1) &&
            vcpu->vm->ops.hw_vmcs_read(vcpu->ctx, NVMX_HW_VMCS02,
                                       vmcs_field_table[host_load_inputs[k]].encoding,
                                       host_load_input(before, k)) != NVMX_OK)
            return NVMX_ERR_HOST;
    }
    return NVMX_OK;
}

/* The controls that decide which fields are saved, read once per exit. */
typedef struct save_controls {
    uint32_t exit, proc2;
} save_controls;

static bool is_saved(const nvmx_vm *vm, save_controls s, const exit_saved_field *f)
{
    if (!field_exists(vm, f->ordinal))
        return false;
    if (f->exit_control && !(s.exit & f->exit_control))
        return false;
    return !f->proc2_control || (s.proc2 & f->proc2_control);
}

static nvmx_status read_guest_state(nvmx_vcpu *vcpu, const vmcs12 *v, guest_state *out)
{
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    if (ops->hw_vmcs_read(vcpu->ctx, NVMX_HW_VMCS02, NVMX_FIELD_GUEST_IA32_EFER, &out->efer) !=
        NVMX_OK)
        return NVMX_ERR_HOST;
    save_controls s = {(uint32_t)VMCS12_GET(v, VM_EXIT_CONTROLS), secondary_controls(v)};
    unsigned known = 0;
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(exit_saved_fields); i++) {
        const exit_saved_field *f = &exit_saved_fields[i];
        out->saved[i] = is_saved(vcpu->vm, s, f);
        if (!out->saved[i])
            continue;
        /* 28.3.4: the timer value saved is L1's timer's, from L1's deadline; vmcs02's counts
         * at the host's rate toward a deadline that may also be L0's. */
        if (f->ordinal == VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE) {
            out->value[i] = preemption_timer_remaining(vcpu);
            continue;
        }
        if (f->ordinal == VMCS12_ORD_GUEST_IA32_EFER)
            out->value[i] = out->efer;
        else if (ops->hw_vmcs_read(vcpu->ctx, NVMX_HW_VMCS02, f->encoding, &out->value[i]) !=
                 NVMX_OK)
            return NVMX_ERR_HOST;
        if (f->host_load_input >= 0) {
            *host_load_input(&out->before, (unsigned)f->host_load_input) = out->value[i];
            known |= 1u << f->host_load_input;
        }
        /* 28.3.4: shutdown and wait-for-SIPI live in the vCPU, never in vmcs02. */
        if (f->ordinal == VMCS12_ORD_GUEST_ACTIVITY_STATE)
            out->value[i] = activity_saved(vcpu, out->value[i]);
    }
    out->before.efer = out->efer;
    return read_missing_host_load_inputs(vcpu, &out->before, known);
}

static void record_guest_state(const nvmx_vm *vm, vmcs12 *v, const guest_state *g)
{
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(exit_saved_fields); i++) {
        if (g->saved[i])
            field_set(v, exit_saved_fields[i].ordinal, g->value[i] & exit_saved_fields[i].keep);
    }
    /* 28.2: with IA32_VMX_MISC[5] exposed, IA32_EFER.LMA goes to the "IA-32e mode guest"
     * VM-entry control (L2 may have changed mode, e.g. under unrestricted guest). */
    if (nvmx_vm_has_feature(vm, NVMX_FEATURE_STORE_LMA)) {
        uint64_t entry = VMCS12_GET(v, VM_ENTRY_CONTROLS) & ~NVMX_CTL(ENTRY_IA32E_MODE);
        if (g->efer & NVMX_EFER_LMA)
            entry |= NVMX_CTL(ENTRY_IA32E_MODE);
        field_set(v, VMCS12_ORD_VM_ENTRY_CONTROLS, entry);
    }
}

/* ---- Ending the exit ------------------------------------------------------------------------- */

/* 28.7: the indicator goes to byte 4 of the region of the VMCS that caused the abort, and L1
 * shuts down. The cached copy carries it to every later write-back; it is also written to
 * L1 memory at once, since a shut-down L1 may never cause one. Memory that is not L1 RAM
 * drops it, as unbacked memory does. */
static nvmx_status abort_to_shutdown(nvmx_vcpu *vcpu, vmx_abort indicator, nvmx_run *run)
{
    const nvmx_vm *vm = vcpu->vm;
    vmcs12_cached *current = vcpu->current;
    uint32_t value = (uint32_t)indicator;
    current->abort = value;
    current->memory_stale = true;
    (void)vm->ops.l1_write(vm->host_ctx, current->gpa + 4, &value, sizeof(value));
    vm_log_hex(vm, NVMX_LOG_WARN, "VMX abort (SDM 28.7), L1 shuts down; indicator", value);
    vcpu->guest_mode = false;
    vcpu->parked = 0;
    vcpu->pending_exit.pending = false;
    *run = NVMX_RUN_SHUTDOWN_L1;
    return NVMX_OK;
}

/* 28.6 (and 27.8 step 4): the VM-exit MSR-load list, in root operation; a failing entry is a
 * VMX abort (indicator 4). */
static nvmx_status load_exit_msrs(nvmx_vcpu *vcpu, nvmx_run *run)
{
    if (msr_list_process(vcpu, MSR_LIST_EXIT_LOAD))
        return abort_to_shutdown(vcpu, VMX_ABORT_LOAD_MSR, run);
    *run = NVMX_RUN_L1;
    return NVMX_OK;
}

/* What both entry points need before changing anything: a current vmcs12, the hardware-VMCS
 * ops, and the MSR ops the lists of this exit use. */
static nvmx_status exit_ready(const nvmx_vcpu *vcpu, bool store_list)
{
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    if (!vcpu->current)
        return NVMX_ERR_STATE;
    if (!ops->hw_vmcs_read || !ops->hw_vmcs_write) {
        vm_log(vcpu->vm, NVMX_LOG_ERROR,
               "VM exit to L1: the hw_vmcs_read and hw_vmcs_write ops are needed");
        return NVMX_ERR_UNSUPPORTED;
    }
    nvmx_status status = msr_list_ops_ready(vcpu, MSR_LIST_EXIT_LOAD);
    if (status == NVMX_OK && store_list)
        status = msr_list_ops_ready(vcpu, MSR_LIST_EXIT_STORE);
    return status;
}

/* 28.5 / 28.7: in IA-32e mode before the exit with host address-space size 0 is abort 6;
 * otherwise whatever the host-state load calls for (2). */
static vmx_abort host_state_abort(const vmcs12 *v, const guest_state *g, const host_load *load)
{
    bool host64 = VMCS12_GET(v, VM_EXIT_CONTROLS) & NVMX_CTL(EXIT_HOST_ADDR_SPACE);
    if ((g->efer & NVMX_EFER_LMA) && !host64)
        return VMX_ABORT_HOST_NOT_64;
    return load->abort;
}

nvmx_status vm_exit_to_l1(nvmx_vcpu *vcpu, const nested_exit *exit, nvmx_run *run)
{
    if (!vcpu || !exit || !run)
        return NVMX_ERR_INVALID_ARGUMENT;
    if (!vcpu->guest_mode)
        return NVMX_ERR_STATE;
    nvmx_status status = exit_ready(vcpu, true);
    if (status != NVMX_OK)
        return status;
    vmcs12 *v = &vcpu->current->data;
    guest_state guest;
    host_load load;
    if (read_guest_state(vcpu, v, &guest) != NVMX_OK) {
        vm_log(vcpu->vm, NVMX_LOG_ERROR, "VM exit to L1: hw_vmcs_read of vmcs02 failed");
        return NVMX_ERR_HOST;
    }
    status = host_load_compute(vcpu, v, caused_by_nmi(exit), &guest.before, &load);
    if (status != NVMX_OK)
        return status;
    bool store_failed = msr_list_process(vcpu, MSR_LIST_EXIT_STORE) != 0;
    vmx_abort abort = store_failed ? VMX_ABORT_SAVE_MSR : host_state_abort(v, &guest, &load);
    if (abort == VMX_ABORT_NONE) {
        status = host_load_write(vcpu, &load);
        if (status != NVMX_OK)
            return status;
    }
    record_exit_information(v, exit);
    record_guest_state(vcpu->vm, v, &guest);
    vcpu->current->memory_stale = true;
    if (abort != VMX_ABORT_NONE)
        return abort_to_shutdown(vcpu, abort, run);
    vcpu->guest_mode = false;
    vcpu->parked = 0;
    vcpu->pending_exit.pending = false;
    vcpu->timer_active = false;
    vcpu->mtf_injected = false;
    vpid02_exit(vcpu);
    return load_exit_msrs(vcpu, run);
}

/* 27.8: exit reason with bit 31 and the qualification; every other exit-information field,
 * the VM-entry interruption information and the guest-state area stay as they are; no
 * MSR-store list. Host state is loaded as on an exit, blocking by NMI as before the entry
 * (vmcs01 still holds it), then the VM-exit MSR-load list. */
nvmx_status vm_entry_failure_exit(nvmx_vcpu *vcpu, uint32_t basic_reason, uint64_t qualification,
                                  nvmx_run *run)
{
    if (!vcpu || !run)
        return NVMX_ERR_INVALID_ARGUMENT;
    nvmx_status status = exit_ready(vcpu, false);
    if (status != NVMX_OK)
        return status;
    vmcs12 *v = &vcpu->current->data;
    host_load load;
    /* L2's state was loaded (into vmcs02) only when the MSR loading failed (27.4 comes after
     * 27.3.2); blocking by NMI is L1's either way (27.8). */
    nvmx_hw_vmcs state = (basic_reason & 0xFFFFu) == NVMX_EXIT_ENTRY_FAIL_MSR_LOADING
                             ? NVMX_HW_VMCS02
                             : NVMX_HW_VMCS01;
    status = host_load_prepare(vcpu, v, false, state, NVMX_HW_VMCS01, &load);
    if (status != NVMX_OK)
        return status;
    if (load.abort == VMX_ABORT_NONE) {
        status = host_load_write(vcpu, &load);
        if (status != NVMX_OK)
            return status;
    }
    field_set(v, VMCS12_ORD_VM_EXIT_REASON,
              (basic_reason & 0xFFFFu) | NVMX_EXIT_REASON_ENTRY_FAILURE);
    field_set(v, VMCS12_ORD_EXIT_QUALIFICATION, qualification);
    vcpu->current->memory_stale = true;
    vcpu->guest_mode = false;
    if (load.abort != VMX_ABORT_NONE)
        return abort_to_shutdown(vcpu, load.abort, run);
    /* Treated as an exit for the TLB (29.4.3.1): flushing L1's context here is at worst more
     * than the entry that failed would have invalidated. */
    vpid02_exit(vcpu);
    return load_exit_msrs(vcpu, run);
}
