/* SPDX-License-Identifier: MIT */
/*
 * L2's EPT-induced exits (SDM Vol. 3C 29.3.3) when vmcs02 runs L2 on EPT02 = EPT12 x EPT01.
 *
 *   hardware EPT violation at L2 GPA g (reason 48)
 *     vmcs12 without EPT -> g is an L1 GPA and EPT01 faulted: L0's (NVMX_RUN_L0_HANDLES)
 *     vmcs12 with EPT    -> ept02_fault(g, access from the qualification):
 *        INSTALLED / RETRY -> NVMX_RUN_L2 (the access repeats)
 *        REFLECT           -> VM exit to L1: reason 48 or 49 as the EPT12 walk decided
 *        L0                -> NVMX_RUN_L0_HANDLES with next->l1_gpa (MMIO, dirty logging)
 *   hardware EPT misconfiguration (reason 49)
 *     vmcs12 without EPT -> EPT01's: L0's
 *     vmcs12 with EPT    -> EPT02 is built only from checked entries: a library or host bug,
 *                           reported as NVMX_ERR_HOST with a log line, never passed to L1.
 *
 * Whether vmcs12 enables EPT is the reflection rule of reasons 48/49 (lib/exits/reflect.c):
 * one rule, applied here first.
 */
#include "ept_exits.h"

#include "../ept/ept02.h"
#include "vmx_outcome.h"

/* Table 28-7 bits of the hardware's qualification that describe L2's access itself, not the
 * EPT02 entries: they carry over to L1's exit. Bit 8 has a meaning only with bit 7 (checked
 * against SDM text, "If bit 7 is 1: ..."); with bit 7 clear (the PDPTE loads of MOV to CR3)
 * L1 gets 0 for it, right whether the SDM leaves it undefined or reserved (the words for
 * that case could not be read in the stored SDM pages). */
#define QUAL_ACCESS_BITS (EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_FETCH)

/* The access that faulted, from bits 0-2, 7 and 8 of the hardware's qualification. A write
 * that also reads (read-modify-write) may set bits 0 and 1 (implementation-specific, 28.2.1):
 * it is a write. false when the bits describe no access hardware makes (an embedder error). */
static bool access_of(uint64_t qualification, ept12_access *access)
{
    uint64_t bits = qualification & QUAL_ACCESS_BITS;
    *access = (ept12_access){0};
    if (bits == EPT_QUAL_FETCH)
        access->kind = EPT12_ACCESS_FETCH;
    else if (bits & EPT_QUAL_FETCH || !bits)
        return false;
    else
        access->kind = (bits & EPT_QUAL_WRITE) ? EPT12_ACCESS_WRITE : EPT12_ACCESS_READ;
    /* Bit 7 with bit 8 clear: the access was to a guest paging-structure entry during a walk
     * (28.2.1); under EPT12 A/D flags it is a write for EPT12 (29.3.3.2). The PDPTE loads of
     * MOV to CR3 (bit 7 clear) are reads even then (29.3.3.2). */
    access->guest_paging =
        (qualification & EPT_QUAL_LINEAR_VALID) && !(qualification & EPT_QUAL_LINEAR_TRANSLATION);
    return true;
}

/* The qualification L1 sees for an EPT12 violation (28.2.1, Table 28-7):
 *   0-2  the access: the hardware's bits, with the walker's (which add bit 0 and 1 for a
 *        guest paging-structure access under EPT12's A/D flags, as L1's processor reports it)
 *   3-6  the AND over the EPT12 entries of R, W, X (and user X under mode-based execute
 *        control, never exposed: 0), from the walker: EPT02's permissions are not L1's
 *   7-8  guest-linear address valid, translation vs. paging-structure access: the hardware's
 *   9-11 advanced VM-exit information for EPT violations: not exposed, 0
 *   12   NMI unblocking due to IRET: the hardware's (vmcs02's NMI blocking is L2's, 25.4.2)
 *   13+  shadow-stack and other bits of features not exposed: 0 */
static uint64_t l1_violation_qualification(uint64_t hardware, uint64_t walker)
{
    uint64_t linear = hardware & EPT_QUAL_LINEAR_VALID;
    if (linear)
        linear |= hardware & EPT_QUAL_LINEAR_TRANSLATION;
    return ((hardware | walker) & QUAL_ACCESS_BITS) |
           (walker & (EPT_QUAL_READABLE | EPT_QUAL_WRITABLE | EPT_QUAL_EXECUTABLE |
                      EPT_QUAL_USER_EXECUTABLE)) |
           linear | (hardware & EPT_QUAL_NMI_UNBLOCKING);
}

/* The VM exit L1's EPT12 calls for: reason 48 with the qualification above, the L2 GPA and,
 * with bit 7, the guest-linear address; or reason 49 with the L2 GPA (28.2.1 lists no
 * qualification for EPT misconfigurations: 0, right whether the field is cleared or undefined
 * for them; checked against SDM text, which lists EPT violations but not misconfigurations). Event
 * information (IDT vectoring, instruction length during event delivery) is the hardware's, as for
 * every reflected exit. */
static nvmx_status reflect_walk(nvmx_vcpu *vcpu, const nvmx_exit *exit, const ept12_result *walk,
                                nvmx_next *next)
{
    nested_exit_record(vcpu, exit);
    nested_exit *e = &vcpu->pending_exit;
    e->guest_physical_address = exit->guest_physical_address;
    if (walk->outcome == EPT12_MISCONFIG) {
        e->reason = NVMX_EXIT_EPT_MISCONFIG;
        e->qualification = 0;
        e->guest_linear_address = 0;
    } else {
        e->reason = NVMX_EXIT_EPT_VIOLATION;
        e->qualification = l1_violation_qualification(exit->qualification, walk->qualification);
        e->guest_linear_address =
            (e->qualification & EPT_QUAL_LINEAR_VALID) ? exit->guest_linear_address : 0;
    }
    return nested_exit_perform(vcpu, next);
}

static nvmx_status ept02_violation(nvmx_vcpu *vcpu, const nvmx_exit *exit, nvmx_next *next)
{
    ept12_access access;
    if (!access_of(exit->qualification, &access)) {
        vm_log_hex(vcpu->vm, NVMX_LOG_ERROR,
                   "EPT violation of L2: bits 2:0 of the exit qualification name no access",
                   exit->qualification);
        return NVMX_ERR_INVALID_ARGUMENT;
    }
    uint64_t eptp12 = vmcs12_get(&vcpu->current->data, VMCS12_ORD_EPT_POINTER);
    ept02_fault_result r;
    nvmx_status status = ept02_fault(vcpu, eptp12, exit->guest_physical_address, &access, &r);
    if (status != NVMX_OK)
        return status;
    switch (r.outcome) {
    case EPT02_INSTALLED:
    case EPT02_RETRY:
        next->run = NVMX_RUN_L2;
        return NVMX_OK;
    case EPT02_REFLECT:
        return reflect_walk(vcpu, exit, &r.walk, next);
    case EPT02_L0:
        break;
    }
    next->run = NVMX_RUN_L0_HANDLES;
    next->l1_gpa_valid = true;
    next->l1_gpa = r.l1_gpa;
    next->ept01_backed = r.ept01_backed;
    return NVMX_OK;
}

/* ---- Guest-physical accesses the embedder makes for L2 (the translate op) -------------- */

/* Whether vmcs12 gives L2 an EPT: the reflection rule of reason 48 (one rule, reflect.c). */
static bool l2_on_ept12(nvmx_vcpu *vcpu)
{
    nvmx_exit probe = {.reason = NVMX_EXIT_EPT_VIOLATION};
    return vcpu->guest_mode && vcpu->current && exit_wanted_by_l1(vcpu, &probe);
}

/* An EPT12 fault of an access the library makes for L2 by linear address (an instruction
 * operand, or a guest paging-structure entry of its translation): the exit L1's processor
 * would take (28.2.1): bits 0-6 from the walker, bit 7 set (a linear address was being
 * accessed), bit 8 for the final translation, no NMI unblocking, no event information. */
static void record_operand_exit(nvmx_vcpu *vcpu, const ept12_result *walk, uint64_t l2_gpa,
                                uint64_t linear, bool paging_structure)
{
    nested_exit *e = &vcpu->pending_exit;
    *e = (nested_exit){.pending = true, .guest_physical_address = l2_gpa};
    if (walk->outcome == EPT12_MISCONFIG) {
        e->reason = NVMX_EXIT_EPT_MISCONFIG;
        return;
    }
    e->reason = NVMX_EXIT_EPT_VIOLATION;
    e->qualification =
        (walk->qualification & (QUAL_ACCESS_BITS | EPT_QUAL_READABLE | EPT_QUAL_WRITABLE |
                                EPT_QUAL_EXECUTABLE | EPT_QUAL_USER_EXECUTABLE)) |
        EPT_QUAL_LINEAR_VALID | (paging_structure ? 0 : EPT_QUAL_LINEAR_TRANSLATION);
    e->guest_linear_address = linear;
}

nvmx_status nvmx_l2_gpa_to_l1(nvmx_vcpu *vcpu, uint64_t l2_gpa, uint64_t linear, nvmx_access access,
                              bool paging_structure, uint64_t *l1_gpa)
{
    if (!vcpu || !l1_gpa || (access != NVMX_ACCESS_READ && access != NVMX_ACCESS_WRITE))
        return NVMX_ERR_INVALID_ARGUMENT;
    if (!l2_on_ept12(vcpu)) {
        *l1_gpa = l2_gpa; /* L2's guest-physical space is L1's */
        return NVMX_OK;
    }
    ept12_access a = {.kind = access == NVMX_ACCESS_WRITE ? EPT12_ACCESS_WRITE : EPT12_ACCESS_READ,
                      .guest_paging = paging_structure};
    ept12_result walk;
    uint64_t eptp12 = vmcs12_get(&vcpu->current->data, VMCS12_ORD_EPT_POINTER);
    nvmx_status status = ept12_walk(vcpu->vm, eptp12, l2_gpa, &a, &walk);
    if (status == NVMX_ERR_INVALID_ARGUMENT)
        return status; /* an L2 GPA beyond MAXPHYADDR: the embedder's walk is wrong */
    if (status != NVMX_OK)
        return NVMX_ERR_HOST;
    switch (walk.outcome) {
    case EPT12_TRANSLATED:
        *l1_gpa = walk.l1_gpa;
        return NVMX_OK;
    case EPT12_RETRY:
        vcpu->ept12_operand_fault = EPT12_OPERAND_RETRY;
        return NVMX_ERR_BAD_L1_ADDRESS;
    default:
        record_operand_exit(vcpu, &walk, l2_gpa, linear, paging_structure);
        vcpu->ept12_operand_fault = EPT12_OPERAND_EXIT;
        return NVMX_ERR_BAD_L1_ADDRESS;
    }
}

/* ---- EPT-induced exits of L2 ------------------------------------------------------------ */

nvmx_status ept_exit_from_l2(nvmx_vcpu *vcpu, const nvmx_exit *exit, nvmx_next *next)
{
    if (!exit_wanted_by_l1(vcpu, exit)) {
        next->run = NVMX_RUN_L0_HANDLES; /* EPT01's own fault: L2's GPA is L1's */
        return NVMX_OK;
    }
    if (exit->reason == NVMX_EXIT_EPT_MISCONFIG) {
        vm_log_hex(vcpu->vm, NVMX_LOG_ERROR,
                   "EPT misconfiguration in EPT02 (built from checked EPT12 entries and EPT01 "
                   "lookups): the host's EPT01 answers or hardware do not match; L2 GPA",
                   exit->guest_physical_address);
        return NVMX_ERR_HOST;
    }
    return ept02_violation(vcpu, exit, next);
}
