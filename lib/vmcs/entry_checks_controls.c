/* SPDX-License-Identifier: MIT */
/*
 * Checks on VMX controls (SDM Vol. 3C 27.2.1): VM-execution (27.2.1.1), VM-exit (27.2.1.2) and
 * VM-entry (27.2.1.3) control fields. A failure is VMfailValid(7), "VM entry with invalid
 * control field(s)". One predicate per rule, in the order the SDM lists them; every field is
 * L1's and may hold anything, so each predicate is total and computes without wrapping.
 *
 * The capability MSRs consulted are the ones the VM exposes to L1 (c->vm->caps): VM entry of L2
 * must fail exactly where it would on a processor reporting those values.
 */
#include "../ept/eptp.h"
#include "entry_checks.h"

#include "../caps_model.h"

/* ---- Architecture facts used below ----------------------------------------------------------- */

/* Alignments the SDM requires of addresses in control fields (27.2.1); 4-KByte pages are
 * PAGE_SIZE_4K and MSR-list entries MSR_ENTRY_SIZE (lib/arch.h). */
#define ALIGN_PI_DESC 64u  /* posted-interrupt descriptor: bits 5:0 (27.2.1.1) */
#define ALIGN_MSR_LIST 16u /* VM-exit/VM-entry MSR areas: bits 3:0 (27.2.1.2, 27.2.1.3) */

/* Memory that is not L1 RAM reads as all ones, as unbacked physical memory does. */
#define UNBACKED_BYTE 0xFFu

/* Posted-interrupt notification vector: a vector is 8 bits, bits 15:8 must be 0 (27.2.1.1). */
#define VECTOR_BITS 8u

/* "Other event" vector 0 is a pending MTF VM exit (27.2.1.3). */
#define VECTOR_PENDING_MTF 0u
/* Exceptions that deliver an error code, as the deliver-error-code rule lists them (27.2.1.3,
 * checked against SDM text): #DF, #TS, #NP, #SS, #GP, #PF, #AC. #CP (21) is not in the SDM's
 * list (KVM maintainers call that an SDM omission); the library follows the text. It matters
 * only with IA32_VMX_BASIC[56] 0 (the library never exposes 1) and a #CP L1 injects on purpose:
 * CET is not exposed, so L2 raises none. That CET processors report BASIC[56] 1 rests on
 * memory. */
#define VECTORS_WITH_ERROR_CODE                                                                    \
    ((1u << NVMX_VECTOR_DF) | (1u << NVMX_VECTOR_TS) | (1u << NVMX_VECTOR_NP) |                    \
     (1u << NVMX_VECTOR_SS) | (1u << NVMX_VECTOR_GP) | (1u << NVMX_VECTOR_PF) |                    \
     (1u << NVMX_VECTOR_AC))
/* VM-entry exception error code: bits 31:16 must be 0 when one is delivered (27.2.1.3). */
#define ERROR_CODE_BITS 16u

/* ---- Helpers --------------------------------------------------------------------------------- */

#define PIN(c, id) (((c)->pin & NVMX_CTL(id)) != 0)
#define PROC(c, id) (((c)->proc & NVMX_CTL(id)) != 0)
#define PROC2(c, id) (((c)->proc2 & NVMX_CTL(id)) != 0)
#define PROC3(c, id) (((c)->proc3 & NVMX_CTL(id)) != 0)
#define EXIT(c, id) (((c)->exit & NVMX_CTL(id)) != 0)
#define ENTRY(c, id) (((c)->entry & NVMX_CTL(id)) != 0)
#define CAP(c, field, id) (((c)->vm->caps.field & NVMX_CTL(id)) != 0)

static bool implies(bool condition, bool consequence)
{
    return !condition || consequence;
}

/* Low bits clear to the alignment and nothing beyond the physical-address width: the shape
 * 27.2.1 requires of every address held in a control field. */
static bool address_ok(const entry_check_ctx *c, uint64_t address, uint64_t alignment)
{
    return (address & (alignment - 1)) == 0 && !entry_address_too_wide(c, address);
}

static bool page_ok(const entry_check_ctx *c, uint64_t address)
{
    return address_ok(c, address, PAGE_SIZE_4K);
}

/* The capability MSR VM entry consults for a control field with a TRUE counterpart: the TRUE
 * MSR when IA32_VMX_BASIC[55] is 1, else the plain one (A.3.1, A.3.2, A.4.1, A.5). */
static uint64_t control_msr(const entry_check_ctx *c, uint64_t plain, uint64_t true_msr)
{
    return CAP(c, basic, TRUE_CTLS) ? true_msr : plain;
}

/* A 32-bit control field against its capability MSR: bits 31:0 of the MSR are the controls
 * that must be 1, bits 63:32 those that may be 1 (A.3-A.5). */
static bool control_fits(uint32_t value, uint64_t msr)
{
    uint32_t must_be_one = (uint32_t)msr;
    uint32_t allowed_one = (uint32_t)(msr >> 32);
    return (value & must_be_one) == must_be_one && (value & ~allowed_one) == 0;
}

/* A control the processor supports the 1-setting of, from the effective MSR (A.3.2). */
static bool proc_allowed_one(const entry_check_ctx *c, uint64_t control)
{
    uint64_t msr = control_msr(c, c->vm->caps.procbased, c->vm->caps.true_procbased);
    return ((msr >> 32) & control) != 0;
}

/* An MSR area of `count` 16-byte entries: its last byte, address + 16 * count - 1, within
 * the width. An address that is itself too wide has a last byte that is too wide too; below
 * the width (at most 52 bits) the sum cannot wrap, since 16 * count < 2^36. */
static bool msr_area_end_ok(const entry_check_ctx *c, uint64_t address, uint32_t count)
{
    if (count == 0)
        return true;
    if (entry_address_too_wide(c, address))
        return false;
    uint64_t last = address + (uint64_t)count * MSR_ENTRY_SIZE - 1;
    return !entry_address_too_wide(c, last);
}

static bool msr_area_start_ok(const entry_check_ctx *c, uint64_t address, uint32_t count)
{
    return count == 0 || address_ok(c, address, ALIGN_MSR_LIST);
}

/* ---- 27.2.1.1 VM-execution control fields ---------------------------------------------------- */

/* Reserved bits of the pin-based and primary processor-based controls set properly. */
static bool pin_reserved_ok(const entry_check_ctx *c)
{
    return control_fits(c->pin, control_msr(c, c->vm->caps.pinbased, c->vm->caps.true_pinbased));
}

static bool proc_reserved_ok(const entry_check_ctx *c)
{
    return control_fits(c->proc, control_msr(c, c->vm->caps.procbased, c->vm->caps.true_procbased));
}

/* With "activate secondary controls" 0 no check is made on the secondary controls (27.2.1.1);
 * with it 1 they are checked against IA32_VMX_PROCBASED_CTLS2, which has no TRUE MSR (A.3.3). */
static bool proc2_reserved_ok(const entry_check_ctx *c)
{
    return !PROC(c, SECONDARY_CONTROLS) || control_fits(c->proc2, c->vm->caps.procbased2);
}

/* Tertiary controls, when activated: IA32_VMX_PROCBASED_CTLS3 is a 64-bit allowed-1 mask
 * (A.3.4). */
static bool proc3_reserved_ok(const entry_check_ctx *c)
{
    return !PROC(c, TERTIARY_CONTROLS) || (c->proc3 & ~c->vm->caps.procbased3) == 0;
}

/* CR3-target count at most the number IA32_VMX_MISC[24:16] reports (27.2.1.1, A.6). */
static bool cr3_target_count_ok(const entry_check_ctx *c)
{
    uint64_t supported =
        (c->vm->caps.misc & CAPS_MISC_CR3_TARGETS_MASK) >> CAPS_MISC_CR3_TARGETS_SHIFT;
    return (uint32_t)FIELD(c, CR3_TARGET_COUNT) <= supported;
}

/* "use I/O bitmaps": each I/O-bitmap address 4-KByte aligned and within the width. */
static bool io_bitmap_a_ok(const entry_check_ctx *c)
{
    return !PROC(c, IO_BITMAPS) || page_ok(c, FIELD(c, IO_BITMAP_A));
}

static bool io_bitmap_b_ok(const entry_check_ctx *c)
{
    return !PROC(c, IO_BITMAPS) || page_ok(c, FIELD(c, IO_BITMAP_B));
}

/* "use MSR bitmaps": the MSR-bitmap address 4-KByte aligned and within the width. */
static bool msr_bitmap_ok(const entry_check_ctx *c)
{
    return !PROC(c, MSR_BITMAPS) || page_ok(c, FIELD(c, MSR_BITMAP));
}

/* "use TPR shadow": the virtual-APIC address 4-KByte aligned and within the width. */
static bool virtual_apic_ok(const entry_check_ctx *c)
{
    return !PROC(c, TPR_SHADOW) || page_ok(c, FIELD(c, VIRTUAL_APIC_PAGE_ADDR));
}

/* "use TPR shadow" 1 and "virtual-interrupt delivery" 0: TPR threshold bits 31:4 are 0. */
static bool tpr_threshold_reserved_ok(const entry_check_ctx *c)
{
    if (!PROC(c, TPR_SHADOW) || PROC2(c, VIRTUAL_INTR_DELIVERY))
        return true;
    return ((uint32_t)FIELD(c, TPR_THRESHOLD) >> TPR_THRESHOLD_BITS) == 0;
}

/* The TPR-threshold rule reads VTPR only with "use TPR shadow" 1 and both "virtualize APIC
 * accesses" and "virtual-interrupt delivery" 0 (27.2.1.1). */
static bool vtpr_rule_applies(const entry_check_ctx *c)
{
    return PROC(c, TPR_SHADOW) && !PROC2(c, VIRTUALIZE_APIC_ACCESSES) &&
           !PROC2(c, VIRTUAL_INTR_DELIVERY);
}

/* Then TPR threshold bits 3:0 are at most VTPR bits 7:4. */
static bool tpr_threshold_vtpr_ok(const entry_check_ctx *c)
{
    if (!vtpr_rule_applies(c))
        return true;
    uint32_t threshold = (uint32_t)FIELD(c, TPR_THRESHOLD) & TPR_THRESHOLD_MASK;
    return threshold <= (uint32_t)(c->vtpr >> VTPR_CLASS_SHIFT);
}

/* "use TPR shadow" 0: "virtualize x2APIC mode", "APIC-register virtualization" and
 * "virtual-interrupt delivery" are 0. */
static bool x2apic_needs_tpr_shadow(const entry_check_ctx *c)
{
    return implies(PROC2(c, VIRTUALIZE_X2APIC), PROC(c, TPR_SHADOW));
}

static bool apic_register_virt_needs_tpr_shadow(const entry_check_ctx *c)
{
    return implies(PROC2(c, APIC_REGISTER_VIRT), PROC(c, TPR_SHADOW));
}

static bool vid_needs_tpr_shadow(const entry_check_ctx *c)
{
    return implies(PROC2(c, VIRTUAL_INTR_DELIVERY), PROC(c, TPR_SHADOW));
}

/* "NMI exiting" 0 -> "virtual NMIs" 0. */
static bool virtual_nmis_need_nmi_exiting(const entry_check_ctx *c)
{
    return implies(PIN(c, VIRTUAL_NMIS), PIN(c, NMI_EXITING));
}

/* "virtual NMIs" 0 -> "NMI-window exiting" 0. */
static bool nmi_window_needs_virtual_nmis(const entry_check_ctx *c)
{
    return implies(PROC(c, NMI_WINDOW_EXITING), PIN(c, VIRTUAL_NMIS));
}

/* "virtualize APIC accesses": the APIC-access address 4-KByte aligned and within the width. */
static bool apic_access_ok(const entry_check_ctx *c)
{
    return !PROC2(c, VIRTUALIZE_APIC_ACCESSES) || page_ok(c, FIELD(c, APIC_ACCESS_ADDR));
}

/* "virtualize x2APIC mode" 1 -> "virtualize APIC accesses" 0. */
static bool x2apic_excludes_apic_accesses(const entry_check_ctx *c)
{
    return !(PROC2(c, VIRTUALIZE_X2APIC) && PROC2(c, VIRTUALIZE_APIC_ACCESSES));
}

/* "virtual-interrupt delivery" 1 -> "external-interrupt exiting" 1. */
static bool vid_needs_external_interrupt_exiting(const entry_check_ctx *c)
{
    return implies(PROC2(c, VIRTUAL_INTR_DELIVERY), PIN(c, EXT_INTR_EXITING));
}

/* "process posted interrupts" 1 requires, in this order: virtual-interrupt delivery, the
 * "acknowledge interrupt on exit" VM-exit control, a notification vector with bits 15:8 0,
 * a descriptor address with bits 5:0 0 and within the width. */
static bool posted_needs_vid(const entry_check_ctx *c)
{
    return implies(PIN(c, POSTED_INTERRUPTS), PROC2(c, VIRTUAL_INTR_DELIVERY));
}

static bool posted_needs_ack_on_exit(const entry_check_ctx *c)
{
    return implies(PIN(c, POSTED_INTERRUPTS), EXIT(c, EXIT_ACK_INTR));
}

static bool posted_vector_ok(const entry_check_ctx *c)
{
    return !PIN(c, POSTED_INTERRUPTS) || ((uint16_t)FIELD(c, POSTED_INTR_NV) >> VECTOR_BITS) == 0;
}

static bool posted_descriptor_aligned(const entry_check_ctx *c)
{
    return !PIN(c, POSTED_INTERRUPTS) ||
           (FIELD(c, POSTED_INTR_DESC_ADDR) & (ALIGN_PI_DESC - 1)) == 0;
}

static bool posted_descriptor_width_ok(const entry_check_ctx *c)
{
    return !PIN(c, POSTED_INTERRUPTS) ||
           !entry_address_too_wide(c, FIELD(c, POSTED_INTR_DESC_ADDR));
}

/* "enable VPID" 1 -> VPID is not 0000H. */
static bool vpid_nonzero(const entry_check_ctx *c)
{
    return !PROC2(c, VPID) || (uint16_t)FIELD(c, VIRTUAL_PROCESSOR_ID) != 0;
}

/* "enable EPT" 1: the EPTP is one the exposed capabilities allow, rule by rule (lib/ept). */
static bool eptp_memory_type_ok(const entry_check_ctx *c)
{
    return !PROC2(c, EPT) || eptp_memory_type_supported(c->vm, FIELD(c, EPT_POINTER));
}

static bool eptp_walk_length_ok(const entry_check_ctx *c)
{
    return !PROC2(c, EPT) || eptp_walk_length_supported(c->vm, FIELD(c, EPT_POINTER));
}

static bool eptp_accessed_dirty_ok(const entry_check_ctx *c)
{
    return !PROC2(c, EPT) || eptp_accessed_dirty_allowed(c->vm, FIELD(c, EPT_POINTER));
}

static bool eptp_shadow_stack_ok(const entry_check_ctx *c)
{
    return !PROC2(c, EPT) || eptp_shadow_stack_allowed(c->vm, FIELD(c, EPT_POINTER));
}

static bool eptp_reserved_ok(const entry_check_ctx *c)
{
    return !PROC2(c, EPT) || eptp_reserved_bits_clear(c->vm, FIELD(c, EPT_POINTER));
}

/* "enable PML" 1 -> "enable EPT" 1, and the PML address 4-KByte aligned within the width. */
static bool pml_needs_ept(const entry_check_ctx *c)
{
    return implies(PROC2(c, PML), PROC2(c, EPT));
}

static bool pml_address_ok(const entry_check_ctx *c)
{
    return !PROC2(c, PML) || page_ok(c, FIELD(c, PML_ADDRESS));
}

/* "unrestricted guest" or "mode-based execute control for EPT" 1 -> "enable EPT" 1. */
static bool unrestricted_guest_needs_ept(const entry_check_ctx *c)
{
    return implies(PROC2(c, UNRESTRICTED_GUEST), PROC2(c, EPT));
}

static bool mode_based_execute_needs_ept(const entry_check_ctx *c)
{
    return implies(PROC2(c, MODE_BASED_EPT_EXEC), PROC2(c, EPT));
}

/* "sub-page write permissions for EPT" 1 -> "enable EPT" 1, and the SPPTP has bits 11:0 and
 * the bits beyond the width 0. */
static bool sub_page_write_needs_ept(const entry_check_ctx *c)
{
    return implies(PROC2(c, SUBPAGE_WRITE), PROC2(c, EPT));
}

static bool spptp_ok(const entry_check_ctx *c)
{
    return !PROC2(c, SUBPAGE_WRITE) || page_ok(c, FIELD(c, SPPT_POINTER));
}

/* "enable VM functions" 1: reserved VM-function controls (not allowed by IA32_VMX_VMFUNC,
 * A.11) are 0. */
static bool vm_functions_reserved_ok(const entry_check_ctx *c)
{
    return !PROC2(c, ENABLE_VMFUNC) || (FIELD(c, VM_FUNCTION_CONTROL) & ~c->vm->caps.vmfunc) == 0;
}

/* The "EPTP switching" VM-function control, which counts only with VM functions enabled. */
static bool eptp_switching(const entry_check_ctx *c)
{
    return PROC2(c, ENABLE_VMFUNC) && (FIELD(c, VM_FUNCTION_CONTROL) & NVMX_CTL(EPTP_SWITCHING));
}

/* "EPTP switching" 1 -> "enable EPT" 1, and the EPTP-list address 4-KByte aligned within the
 * width. */
static bool eptp_switching_needs_ept(const entry_check_ctx *c)
{
    return implies(eptp_switching(c), PROC2(c, EPT));
}

static bool eptp_list_ok(const entry_check_ctx *c)
{
    return !eptp_switching(c) || page_ok(c, FIELD(c, EPTP_LIST_ADDRESS));
}

/* "VMCS shadowing" 1: the VMREAD- and VMWRITE-bitmap addresses each 4-KByte aligned within
 * the width. */
static bool vmread_bitmap_ok(const entry_check_ctx *c)
{
    return !PROC2(c, SHADOW_VMCS) || page_ok(c, FIELD(c, VMREAD_BITMAP));
}

static bool vmwrite_bitmap_ok(const entry_check_ctx *c)
{
    return !PROC2(c, SHADOW_VMCS) || page_ok(c, FIELD(c, VMWRITE_BITMAP));
}

/* "EPT-violation #VE" 1: the virtualization-exception information address 4-KByte aligned
 * within the width. */
static bool ve_information_ok(const entry_check_ctx *c)
{
    return !PROC2(c, EPT_VIOLATION_VE) || page_ok(c, FIELD(c, VE_INFORMATION_ADDRESS));
}

/* "Intel PT uses guest physical addresses" 1 -> "enable EPT", the "load IA32_RTIT_CTL"
 * VM-entry control and the "clear IA32_RTIT_CTL" VM-exit control are 1. */
static bool pt_gpa_needs_ept(const entry_check_ctx *c)
{
    return implies(PROC2(c, PT_USES_GPA), PROC2(c, EPT));
}

static bool pt_gpa_needs_load_rtit_ctl(const entry_check_ctx *c)
{
    return implies(PROC2(c, PT_USES_GPA), ENTRY(c, ENTRY_LOAD_RTIT_CTL));
}

static bool pt_gpa_needs_clear_rtit_ctl(const entry_check_ctx *c)
{
    return implies(PROC2(c, PT_USES_GPA), EXIT(c, EXIT_CLEAR_RTIT_CTL));
}

/* The tertiary controls that act on EPT translations need "enable EPT" 1: HLAT (its
 * translations end in guest-physical addresses), EPT paging-write control and guest-paging
 * verification (both bits of EPT entries). */
static bool hlat_needs_ept(const entry_check_ctx *c)
{
    return implies(PROC3(c, HLAT), PROC2(c, EPT));
}

static bool paging_write_needs_ept(const entry_check_ctx *c)
{
    return implies(PROC3(c, EPT_PAGING_WRITE), PROC2(c, EPT));
}

static bool guest_paging_verify_needs_ept(const entry_check_ctx *c)
{
    return implies(PROC3(c, GUEST_PAGING_VERIFY), PROC2(c, EPT));
}

/* ---- 27.2.1.2 VM-exit control fields --------------------------------------------------------- */

/* Reserved bits of the primary VM-exit controls set properly (A.4.1). */
static bool exit_reserved_ok(const entry_check_ctx *c)
{
    return control_fits(c->exit, control_msr(c, c->vm->caps.exit, c->vm->caps.true_exit));
}

/* Secondary VM-exit controls, when activated: IA32_VMX_EXIT_CTLS2 is a 64-bit allowed-1 mask
 * (A.4.2). */
static bool exit2_reserved_ok(const entry_check_ctx *c)
{
    return !EXIT(c, SECONDARY_EXIT_CONTROLS) || (c->exit2 & ~c->vm->caps.exit2) == 0;
}

/* "activate VMX-preemption timer" 0 -> "save VMX-preemption-timer value" 0. */
static bool save_timer_needs_timer(const entry_check_ctx *c)
{
    return implies(EXIT(c, EXIT_SAVE_PREEMPTION_TIMER), PIN(c, PREEMPTION_TIMER));
}

/* A non-zero MSR count: the area's address has bits 3:0 0 and is within the width, and so is
 * the address of its last byte. */
static bool exit_msr_store_address_ok(const entry_check_ctx *c)
{
    return msr_area_start_ok(c, FIELD(c, VM_EXIT_MSR_STORE_ADDR),
                             (uint32_t)FIELD(c, VM_EXIT_MSR_STORE_COUNT));
}

static bool exit_msr_store_end_ok(const entry_check_ctx *c)
{
    return msr_area_end_ok(c, FIELD(c, VM_EXIT_MSR_STORE_ADDR),
                           (uint32_t)FIELD(c, VM_EXIT_MSR_STORE_COUNT));
}

static bool exit_msr_load_address_ok(const entry_check_ctx *c)
{
    return msr_area_start_ok(c, FIELD(c, VM_EXIT_MSR_LOAD_ADDR),
                             (uint32_t)FIELD(c, VM_EXIT_MSR_LOAD_COUNT));
}

static bool exit_msr_load_end_ok(const entry_check_ctx *c)
{
    return msr_area_end_ok(c, FIELD(c, VM_EXIT_MSR_LOAD_ADDR),
                           (uint32_t)FIELD(c, VM_EXIT_MSR_LOAD_COUNT));
}

/* ---- 27.2.1.3 VM-entry control fields -------------------------------------------------------- */

/* Reserved bits of the VM-entry controls set properly (A.5). */
static bool entry_reserved_ok(const entry_check_ctx *c)
{
    return control_fits(c->entry, control_msr(c, c->vm->caps.entry, c->vm->caps.true_entry));
}

/* The event-injection rules apply only when the interruption-information field is valid. */
static uint32_t injected(const entry_check_ctx *c)
{
    uint32_t info = (uint32_t)FIELD(c, VM_ENTRY_INTR_INFO_FIELD);
    return (info & NVMX_INTR_INFO_VALID) ? info : 0;
}

/* The interruption type is not reserved: 1 always, 7 (other event) without the 1-setting of
 * "monitor trap flag". */
static bool intr_type_ok(const entry_check_ctx *c)
{
    uint32_t info = injected(c);
    if (!info)
        return true;
    unsigned type = intr_info_type(info);
    if (type == INTR_TYPE_RESERVED)
        return false;
    return type != NVMX_INTR_TYPE_OTHER_EVENT || proc_allowed_one(c, NVMX_CTL(MONITOR_TRAP_FLAG));
}

/* The vector fits the type: NMI is vector 2, a hardware exception at most 31, other event 0. */
static bool intr_nmi_vector_ok(const entry_check_ctx *c)
{
    uint32_t info = injected(c);
    return intr_info_type(info) != NVMX_INTR_TYPE_NMI || intr_info_vector(info) == NVMX_VECTOR_NMI;
}

static bool intr_exception_vector_ok(const entry_check_ctx *c)
{
    uint32_t info = injected(c);
    return intr_info_type(info) != NVMX_INTR_TYPE_HARDWARE_EXCEPTION ||
           intr_info_vector(info) <= NVMX_VECTOR_LAST_EXCEPTION;
}

static bool intr_other_event_vector_ok(const entry_check_ctx *c)
{
    uint32_t info = injected(c);
    return intr_info_type(info) != NVMX_INTR_TYPE_OTHER_EVENT ||
           intr_info_vector(info) == VECTOR_PENDING_MTF;
}

/* The deliver-error-code bit is 1 exactly for a hardware exception with an error code (8, 10-14,
 * 17) delivered in protected mode: "unrestricted guest" 0 or CR0.PE set in the guest CR0 field.
 * IA32_VMX_BASIC[56] lifts the vector part (A.1), not the type and mode parts. */
static bool error_code_possible(const entry_check_ctx *c, uint32_t info)
{
    bool protected_mode = !PROC2(c, UNRESTRICTED_GUEST) || (FIELD(c, GUEST_CR0) & NVMX_CR0_PE);
    return intr_info_type(info) == NVMX_INTR_TYPE_HARDWARE_EXCEPTION && protected_mode;
}

static bool vector_has_error_code(unsigned vector)
{
    return vector <= NVMX_VECTOR_LAST_EXCEPTION && ((VECTORS_WITH_ERROR_CODE >> vector) & 1u);
}

static bool error_code_checked(const entry_check_ctx *c)
{
    return !(c->vm->caps.basic & NVMX_BASIC_NO_HW_ERROR_CODE_CHECK);
}

/* Required: a protected-mode hardware exception of a listed vector, BASIC[56] 0. */
static bool intr_error_code_present(const entry_check_ctx *c)
{
    uint32_t info = injected(c);
    if (!info || !error_code_possible(c, info) || !error_code_checked(c) ||
        !vector_has_error_code(intr_info_vector(info)))
        return true;
    return (info & NVMX_INTR_INFO_DELIVER_ERROR_CODE) != 0;
}

/* Forbidden: not a hardware exception, CR0.PE clear with "unrestricted guest", or (BASIC[56] 0)
 * a vector without an error code. */
static bool intr_error_code_absent(const entry_check_ctx *c)
{
    uint32_t info = injected(c);
    if (!(info & NVMX_INTR_INFO_DELIVER_ERROR_CODE))
        return true;
    return error_code_possible(c, info) &&
           (!error_code_checked(c) || vector_has_error_code(intr_info_vector(info)));
}

/* Reserved bits 30:12 of the field are 0. */
static bool intr_reserved_ok(const entry_check_ctx *c)
{
    return (injected(c) & INTR_INFO_ENTRY_RESERVED) == 0;
}

/* With an error code delivered, bits 31:16 of the VM-entry exception error code are 0 (bit 15
 * is the ENCL bit of a #CP error code, SDM Vol. 1 18.3). */
static bool error_code_reserved_ok(const entry_check_ctx *c)
{
    if (!(injected(c) & NVMX_INTR_INFO_DELIVER_ERROR_CODE))
        return true;
    return ((uint32_t)FIELD(c, VM_ENTRY_EXCEPTION_ERROR_CODE) >> ERROR_CODE_BITS) == 0;
}

/* Software interrupts and (privileged) software exceptions carry an instruction length. */
static bool intr_has_length(uint32_t info)
{
    unsigned type = intr_info_type(info);
    return info && (type == NVMX_INTR_TYPE_SOFTWARE_INTERRUPT ||
                    type == NVMX_INTR_TYPE_PRIVILEGED_SOFTWARE_EXCEPTION ||
                    type == NVMX_INTR_TYPE_SOFTWARE_EXCEPTION);
}

/* Their VM-entry instruction length is in the range 0-15 ... */
static bool instruction_length_max_ok(const entry_check_ctx *c)
{
    return !intr_has_length(injected(c)) ||
           (uint32_t)FIELD(c, VM_ENTRY_INSTRUCTION_LEN) <= NVMX_MAX_INSTRUCTION_LENGTH;
}

/* ... and 0 only if IA32_VMX_MISC[30] is 1 (A.6). */
static bool instruction_length_zero_ok(const entry_check_ctx *c)
{
    return !intr_has_length(injected(c)) || (uint32_t)FIELD(c, VM_ENTRY_INSTRUCTION_LEN) != 0 ||
           CAP(c, misc, ZERO_LEN_INJECT);
}

/* A non-zero VM-entry MSR-load count: bits 3:0 of the address 0, the address and the address of
 * the last byte within the width. */
static bool entry_msr_load_address_ok(const entry_check_ctx *c)
{
    return msr_area_start_ok(c, FIELD(c, VM_ENTRY_MSR_LOAD_ADDR),
                             (uint32_t)FIELD(c, VM_ENTRY_MSR_LOAD_COUNT));
}

static bool entry_msr_load_end_ok(const entry_check_ctx *c)
{
    return msr_area_end_ok(c, FIELD(c, VM_ENTRY_MSR_LOAD_ADDR),
                           (uint32_t)FIELD(c, VM_ENTRY_MSR_LOAD_COUNT));
}

/* Outside SMM, "entry to SMM" and "deactivate dual-monitor treatment" are 0. L1 never runs in
 * SMM: the library does not virtualize SMM or the dual-monitor treatment. (The rule that the two
 * are not both 1 can then never be the first to fail, so it has no entry of its own.) */
static bool entry_to_smm_ok(const entry_check_ctx *c)
{
    return !ENTRY(c, ENTRY_SMM);
}

static bool deactivate_dual_monitor_ok(const entry_check_ctx *c)
{
    return !ENTRY(c, ENTRY_DEACT_DUAL_MONITOR);
}

/* ---- The table ------------------------------------------------------------------------------- */

#define EXEC(name, fn) ENTRY_CHECK("controls." name, NVMX_CHECK_CONTROLS, "27.2.1.1", 0, fn)
#define EXIT_CHECK(name, fn) ENTRY_CHECK("controls." name, NVMX_CHECK_CONTROLS, "27.2.1.2", 0, fn)
#define ENTRY_CTL(name, fn) ENTRY_CHECK("controls." name, NVMX_CHECK_CONTROLS, "27.2.1.3", 0, fn)

const entry_check entry_checks_controls[] = {
    /* 27.2.1.1 */
    EXEC("pin_based.reserved_bits", pin_reserved_ok),
    EXEC("primary_proc_based.reserved_bits", proc_reserved_ok),
    EXEC("secondary_proc_based.reserved_bits", proc2_reserved_ok),
    EXEC("tertiary_proc_based.reserved_bits", proc3_reserved_ok),
    EXEC("cr3_target.count", cr3_target_count_ok),
    EXEC("io_bitmap_a.address", io_bitmap_a_ok),
    EXEC("io_bitmap_b.address", io_bitmap_b_ok),
    EXEC("msr_bitmap.address", msr_bitmap_ok),
    EXEC("virtual_apic.address", virtual_apic_ok),
    EXEC("tpr_threshold.reserved_bits", tpr_threshold_reserved_ok),
    EXEC("tpr_threshold.vtpr", tpr_threshold_vtpr_ok),
    EXEC("virtualize_x2apic.requires_tpr_shadow", x2apic_needs_tpr_shadow),
    EXEC("apic_register_virtualization.requires_tpr_shadow", apic_register_virt_needs_tpr_shadow),
    EXEC("virtual_interrupt_delivery.requires_tpr_shadow", vid_needs_tpr_shadow),
    EXEC("virtual_nmis.requires_nmi_exiting", virtual_nmis_need_nmi_exiting),
    EXEC("nmi_window_exiting.requires_virtual_nmis", nmi_window_needs_virtual_nmis),
    EXEC("apic_access.address", apic_access_ok),
    EXEC("virtualize_x2apic.excludes_apic_accesses", x2apic_excludes_apic_accesses),
    EXEC("virtual_interrupt_delivery.requires_external_interrupt_exiting",
         vid_needs_external_interrupt_exiting),
    EXEC("posted_interrupts.requires_virtual_interrupt_delivery", posted_needs_vid),
    EXEC("posted_interrupts.requires_acknowledge_interrupt_on_exit", posted_needs_ack_on_exit),
    EXEC("posted_interrupts.notification_vector", posted_vector_ok),
    EXEC("posted_interrupts.descriptor_alignment", posted_descriptor_aligned),
    EXEC("posted_interrupts.descriptor_width", posted_descriptor_width_ok),
    EXEC("vpid.nonzero", vpid_nonzero),
    EXEC("eptp.memory_type", eptp_memory_type_ok),
    EXEC("eptp.walk_length", eptp_walk_length_ok),
    EXEC("eptp.accessed_dirty", eptp_accessed_dirty_ok),
    EXEC("eptp.supervisor_shadow_stack", eptp_shadow_stack_ok),
    EXEC("eptp.reserved_bits", eptp_reserved_ok),
    EXEC("pml.requires_ept", pml_needs_ept),
    EXEC("pml.address", pml_address_ok),
    EXEC("unrestricted_guest.requires_ept", unrestricted_guest_needs_ept),
    EXEC("mode_based_execute.requires_ept", mode_based_execute_needs_ept),
    EXEC("sub_page_write.requires_ept", sub_page_write_needs_ept),
    EXEC("sub_page_write.spptp", spptp_ok),
    EXEC("vm_functions.reserved_bits", vm_functions_reserved_ok),
    EXEC("eptp_switching.requires_ept", eptp_switching_needs_ept),
    EXEC("eptp_list.address", eptp_list_ok),
    EXEC("vmread_bitmap.address", vmread_bitmap_ok),
    EXEC("vmwrite_bitmap.address", vmwrite_bitmap_ok),
    EXEC("ve_information.address", ve_information_ok),
    EXEC("pt_guest_physical.requires_ept", pt_gpa_needs_ept),
    EXEC("pt_guest_physical.requires_load_rtit_ctl", pt_gpa_needs_load_rtit_ctl),
    EXEC("pt_guest_physical.requires_clear_rtit_ctl", pt_gpa_needs_clear_rtit_ctl),
    EXEC("hlat.requires_ept", hlat_needs_ept),
    EXEC("ept_paging_write.requires_ept", paging_write_needs_ept),
    EXEC("guest_paging_verification.requires_ept", guest_paging_verify_needs_ept),
    /* 27.2.1.2 */
    EXIT_CHECK("exit.reserved_bits", exit_reserved_ok),
    EXIT_CHECK("exit_secondary.reserved_bits", exit2_reserved_ok),
    EXIT_CHECK("save_preemption_timer.requires_preemption_timer", save_timer_needs_timer),
    EXIT_CHECK("exit_msr_store.address", exit_msr_store_address_ok),
    EXIT_CHECK("exit_msr_store.last_byte", exit_msr_store_end_ok),
    EXIT_CHECK("exit_msr_load.address", exit_msr_load_address_ok),
    EXIT_CHECK("exit_msr_load.last_byte", exit_msr_load_end_ok),
    /* 27.2.1.3 */
    ENTRY_CTL("entry.reserved_bits", entry_reserved_ok),
    ENTRY_CTL("entry_interruption.type", intr_type_ok),
    ENTRY_CTL("entry_interruption.vector_nmi", intr_nmi_vector_ok),
    ENTRY_CTL("entry_interruption.vector_hardware_exception", intr_exception_vector_ok),
    ENTRY_CTL("entry_interruption.vector_other_event", intr_other_event_vector_ok),
    ENTRY_CTL("entry_interruption.error_code_required", intr_error_code_present),
    ENTRY_CTL("entry_interruption.error_code_forbidden", intr_error_code_absent),
    ENTRY_CTL("entry_interruption.reserved_bits", intr_reserved_ok),
    ENTRY_CTL("entry_exception_error_code.reserved_bits", error_code_reserved_ok),
    ENTRY_CTL("entry_instruction_length.maximum", instruction_length_max_ok),
    ENTRY_CTL("entry_instruction_length.zero", instruction_length_zero_ok),
    ENTRY_CTL("entry_msr_load.address", entry_msr_load_address_ok),
    ENTRY_CTL("entry_msr_load.last_byte", entry_msr_load_end_ok),
    ENTRY_CTL("entry.entry_to_smm", entry_to_smm_ok),
    ENTRY_CTL("entry.deactivate_dual_monitor", deactivate_dual_monitor_ok),
};
const size_t entry_checks_controls_count = NVMX_ARRAY_SIZE(entry_checks_controls);

/* ---- Guest memory the checks read ------------------------------------------------------------ */

/* VTPR, read once and only when the TPR-threshold rule applies. A virtual-APIC address the
 * address check rejects is not read (that check fails first; the sum could wrap): VTPR then
 * stays all ones, as it does for a page that is not L1 RAM. */
void entry_check_ctx_prepare_controls(entry_check_ctx *c)
{
    c->vtpr = UNBACKED_BYTE;
    uint64_t page = FIELD(c, VIRTUAL_APIC_PAGE_ADDR);
    if (!vtpr_rule_applies(c) || !page_ok(c, page))
        return;
    uint8_t vtpr;
    if (c->vm->ops.l1_read(c->vm->host_ctx, page + VTPR_OFFSET, &vtpr, sizeof(vtpr)) == NVMX_OK)
        c->vtpr = vtpr;
}
