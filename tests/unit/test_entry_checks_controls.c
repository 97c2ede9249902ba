/* SPDX-License-Identifier: MIT */
/*
 * The checks on VMX controls (SDM Vol. 3C 27.2.1): one row per rule that breaks exactly that
 * rule of the known-good vmcs12 (enabling first what the rule needs), and positive tests for the
 * edges a rule permits.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "caps_model.h"
#include "ept/eptp.h"
#include "entry_fixture.h"

/* ---- Values the rows use ------------------------------------------------------------------- */

/* Page-aligned guest-physical addresses inside the fixture's 16 MiB of L1 RAM. */
#define PAGE_1 0x200000ull
#define PAGE_2 0x201000ull
#define PAGE_3 0x202000ull
#define VAPIC_PAGE 0x300000ull
#define PI_DESC 0x301040ull /* 64-byte aligned */
#define EPT_ROOT 0x400000ull
/* EPTP (SDM 25.6.11; lib/ept/eptp.h): bits 2:0 memory type, 5:3 walk length - 1, 6 A/D, 7
 * supervisor SS. */
#define EPTP_WB ((uint64_t)MEMTYPE_WB)
#define EPTP_UC ((uint64_t)MEMTYPE_UC)
#define EPTP_WALK(levels) ((uint64_t)((levels)-1) << EPTP_WALK_SHIFT)
#define GOOD_EPTP (EPT_ROOT | EPTP_WB | EPTP_WALK(4))
/* VM-entry interruption-information field (SDM 25.8.3): the type in bits 10:8. */
#define INFO_TYPE(t) ((uint32_t)(t) << NVMX_INTR_INFO_TYPE_SHIFT)

static entry_fixture f;

static void setup(void)
{
    entry_fixture_init(&f);
}

static void teardown(void)
{
    entry_fixture_fini(&f);
}

TestSuite(entry_controls, .init = setup, .fini = teardown);

/* The first address bit beyond L1's physical-address width. */
static uint64_t beyond_width(entry_fixture *fx)
{
    return 1ull << fx->vm.phys_addr_width;
}

static uint64_t lowest_bit(uint64_t bits)
{
    return bits & (~bits + 1);
}

/* The lowest control a 32-bit control MSR (A.3-A.5) does not allow to be 1 / requires be 1. */
static uint64_t disallowed_one(uint64_t msr)
{
    return lowest_bit(~(msr >> 32) & 0xFFFFFFFFull);
}

static uint64_t required_one(uint64_t msr)
{
    return lowest_bit(msr & 0xFFFFFFFFull);
}

#define OR(fx, name, bits) SET(fx, name, GET(fx, name) | (uint64_t)(bits))
#define CLEAR(fx, name, bits) SET(fx, name, GET(fx, name) & ~(uint64_t)(bits))

static void pin(entry_fixture *fx, uint64_t bits)
{
    OR(fx, PIN_BASED_VM_EXEC_CONTROL, bits);
}

static void proc(entry_fixture *fx, uint64_t bits)
{
    OR(fx, CPU_BASED_VM_EXEC_CONTROL, bits);
}

static void proc2(entry_fixture *fx, uint64_t bits)
{
    proc(fx, NVMX_CTL(SECONDARY_CONTROLS));
    OR(fx, SECONDARY_VM_EXEC_CONTROL, bits);
}

static void proc3(entry_fixture *fx, uint64_t bits)
{
    proc(fx, NVMX_CTL(TERTIARY_CONTROLS));
    OR(fx, TERTIARY_VM_EXEC_CONTROL, bits);
}

static void exit_ctl(entry_fixture *fx, uint64_t bits)
{
    OR(fx, VM_EXIT_CONTROLS, bits);
}

static void entry_ctl(entry_fixture *fx, uint64_t bits)
{
    OR(fx, VM_ENTRY_CONTROLS, bits);
}

/* ---- What rules need ------------------------------------------------------------------------ */

static void tpr_shadow(entry_fixture *fx)
{
    proc(fx, NVMX_CTL(TPR_SHADOW));
    SET(fx, VIRTUAL_APIC_PAGE_ADDR, VAPIC_PAGE);
    SET(fx, TPR_THRESHOLD, 0);
}

/* TPR shadow, virtual-interrupt delivery and the external-interrupt exiting it needs. */
static void virtual_interrupts(entry_fixture *fx)
{
    tpr_shadow(fx);
    pin(fx, NVMX_CTL(EXT_INTR_EXITING));
    proc2(fx, NVMX_CTL(VIRTUAL_INTR_DELIVERY));
}

static void posted_interrupts(entry_fixture *fx)
{
    virtual_interrupts(fx);
    pin(fx, NVMX_CTL(POSTED_INTERRUPTS));
    exit_ctl(fx, NVMX_CTL(EXIT_ACK_INTR));
    SET(fx, POSTED_INTR_NV, 0xF2);
    SET(fx, POSTED_INTR_DESC_ADDR, PI_DESC);
}

static void ept(entry_fixture *fx)
{
    proc2(fx, NVMX_CTL(EPT));
    SET(fx, EPT_POINTER, GOOD_EPTP);
}

static void vm_functions(entry_fixture *fx, uint64_t functions)
{
    proc2(fx, NVMX_CTL(ENABLE_VMFUNC));
    SET(fx, VM_FUNCTION_CONTROL, functions);
    SET(fx, EPTP_LIST_ADDRESS, PAGE_1);
}

static void io_bitmaps(entry_fixture *fx, uint64_t a, uint64_t b)
{
    proc(fx, NVMX_CTL(IO_BITMAPS));
    SET(fx, IO_BITMAP_A, a);
    SET(fx, IO_BITMAP_B, b);
}

static void shadow_vmcs(entry_fixture *fx, uint64_t vmread, uint64_t vmwrite)
{
    proc2(fx, NVMX_CTL(SHADOW_VMCS));
    SET(fx, VMREAD_BITMAP, vmread);
    SET(fx, VMWRITE_BITMAP, vmwrite);
}

static void pt_guest_physical(entry_fixture *fx)
{
    proc2(fx, NVMX_CTL(PT_USES_GPA));
    entry_ctl(fx, NVMX_CTL(ENTRY_LOAD_RTIT_CTL));
    exit_ctl(fx, NVMX_CTL(EXIT_CLEAR_RTIT_CTL));
}

static void inject(entry_fixture *fx, uint32_t info)
{
    SET(fx, VM_ENTRY_INTR_INFO_FIELD, NVMX_INTR_INFO_VALID | info);
}

/* Remove "monitor trap flag" from the allowed-1 settings, TRUE and plain (A.3.2). */
static void no_mtf(entry_fixture *fx)
{
    fx->vm.caps.procbased &= ~(NVMX_CTL(MONITOR_TRAP_FLAG) << 32);
    fx->vm.caps.true_procbased &= ~(NVMX_CTL(MONITOR_TRAP_FLAG) << 32);
}

/* ---- 27.2.1.1 rows -------------------------------------------------------------------------- */

static void pin_disallowed(entry_fixture *fx)
{
    pin(fx, disallowed_one(fx->vm.caps.true_pinbased));
}

static void pin_required_cleared(entry_fixture *fx)
{
    CLEAR(fx, PIN_BASED_VM_EXEC_CONTROL, required_one(fx->vm.caps.true_pinbased));
}

static void proc_disallowed(entry_fixture *fx)
{
    /* Bits 17 (tertiary) and 31 (secondary) are allowed; some other bit is not. */
    proc(fx, disallowed_one(fx->vm.caps.true_procbased));
}

static void proc_required_cleared(entry_fixture *fx)
{
    CLEAR(fx, CPU_BASED_VM_EXEC_CONTROL, required_one(fx->vm.caps.true_procbased));
}

/* Without IA32_VMX_BASIC[55] the default1 CR3-exiting controls must be 1 (A.2). */
static void proc_default1_without_true(entry_fixture *fx)
{
    fx->vm.caps.basic &= ~NVMX_CTL(TRUE_CTLS);
}

static void proc2_disallowed(entry_fixture *fx)
{
    proc2(fx, disallowed_one(fx->vm.caps.procbased2));
}

static void proc3_disallowed(entry_fixture *fx)
{
    proc3(fx, lowest_bit(~fx->vm.caps.procbased3));
}

static void cr3_targets_too_many(entry_fixture *fx)
{
    uint64_t n = (fx->vm.caps.misc & CAPS_MISC_CR3_TARGETS_MASK) >> CAPS_MISC_CR3_TARGETS_SHIFT;
    SET(fx, CR3_TARGET_COUNT, n + 1);
}

static void io_bitmap_a_unaligned(entry_fixture *fx)
{
    io_bitmaps(fx, PAGE_1 + 8, PAGE_2);
}

static void io_bitmap_a_too_wide(entry_fixture *fx)
{
    io_bitmaps(fx, beyond_width(fx), PAGE_2);
}

static void io_bitmap_b_unaligned(entry_fixture *fx)
{
    io_bitmaps(fx, PAGE_1, PAGE_2 + 0x800);
}

static void msr_bitmap_unaligned(entry_fixture *fx)
{
    proc(fx, NVMX_CTL(MSR_BITMAPS));
    SET(fx, MSR_BITMAP, PAGE_1 | 1);
}

static void virtual_apic_too_wide(entry_fixture *fx)
{
    tpr_shadow(fx);
    SET(fx, VIRTUAL_APIC_PAGE_ADDR, 1ull << 63);
}

static void tpr_threshold_reserved(entry_fixture *fx)
{
    tpr_shadow(fx);
    SET(fx, TPR_THRESHOLD, 0x10);
}

static void tpr_threshold_above_vtpr(entry_fixture *fx)
{
    tpr_shadow(fx);
    fx->host.ram[VAPIC_PAGE + VTPR_OFFSET] = 0x3F; /* priority class 3 */
    SET(fx, TPR_THRESHOLD, 4);
}

static void x2apic_without_tpr_shadow(entry_fixture *fx)
{
    proc2(fx, NVMX_CTL(VIRTUALIZE_X2APIC));
}

static void apic_register_virt_without_tpr_shadow(entry_fixture *fx)
{
    proc2(fx, NVMX_CTL(APIC_REGISTER_VIRT));
}

static void vid_without_tpr_shadow(entry_fixture *fx)
{
    pin(fx, NVMX_CTL(EXT_INTR_EXITING));
    proc2(fx, NVMX_CTL(VIRTUAL_INTR_DELIVERY));
}

static void virtual_nmis_without_nmi_exiting(entry_fixture *fx)
{
    pin(fx, NVMX_CTL(VIRTUAL_NMIS));
}

static void nmi_window_without_virtual_nmis(entry_fixture *fx)
{
    pin(fx, NVMX_CTL(NMI_EXITING));
    proc(fx, NVMX_CTL(NMI_WINDOW_EXITING));
}

static void apic_access_unaligned(entry_fixture *fx)
{
    proc2(fx, NVMX_CTL(VIRTUALIZE_APIC_ACCESSES));
    SET(fx, APIC_ACCESS_ADDR, PAGE_1 + 0x10);
}

static void x2apic_with_apic_accesses(entry_fixture *fx)
{
    tpr_shadow(fx);
    proc2(fx, NVMX_CTL(VIRTUALIZE_X2APIC) | NVMX_CTL(VIRTUALIZE_APIC_ACCESSES));
    SET(fx, APIC_ACCESS_ADDR, PAGE_1);
}

static void vid_without_external_interrupt_exiting(entry_fixture *fx)
{
    tpr_shadow(fx);
    proc2(fx, NVMX_CTL(VIRTUAL_INTR_DELIVERY));
}

static void posted_without_vid(entry_fixture *fx)
{
    posted_interrupts(fx);
    CLEAR(fx, SECONDARY_VM_EXEC_CONTROL, NVMX_CTL(VIRTUAL_INTR_DELIVERY));
}

static void posted_without_ack(entry_fixture *fx)
{
    posted_interrupts(fx);
    CLEAR(fx, VM_EXIT_CONTROLS, NVMX_CTL(EXIT_ACK_INTR));
}

static void posted_vector_too_big(entry_fixture *fx)
{
    posted_interrupts(fx);
    SET(fx, POSTED_INTR_NV, 0x1F2);
}

static void posted_descriptor_unaligned(entry_fixture *fx)
{
    posted_interrupts(fx);
    SET(fx, POSTED_INTR_DESC_ADDR, PI_DESC + 0x20);
}

static void posted_descriptor_too_wide(entry_fixture *fx)
{
    posted_interrupts(fx);
    SET(fx, POSTED_INTR_DESC_ADDR, beyond_width(fx) | PI_DESC);
}

static void vpid_zero(entry_fixture *fx)
{
    proc2(fx, NVMX_CTL(VPID));
    SET(fx, VIRTUAL_PROCESSOR_ID, 0);
}

static void eptp_memory_type_reserved(entry_fixture *fx)
{
    ept(fx);
    SET(fx, EPT_POINTER, EPT_ROOT | 1 | EPTP_WALK(4)); /* 1 = WC, not an EPT type */
}

static void eptp_uc_unsupported(entry_fixture *fx)
{
    ept(fx);
    fx->vm.caps.ept_vpid_cap &= ~NVMX_CTL(EPT_MEMTYPE_UC);
    SET(fx, EPT_POINTER, EPT_ROOT | EPTP_UC | EPTP_WALK(4));
}

static void eptp_walk_length_3(entry_fixture *fx)
{
    ept(fx);
    SET(fx, EPT_POINTER, EPT_ROOT | EPTP_WB | EPTP_WALK(3));
}

static void eptp_walk_length_5_unsupported(entry_fixture *fx)
{
    ept(fx);
    fx->vm.caps.ept_vpid_cap &= ~NVMX_CTL(EPT_WALK_5);
    SET(fx, EPT_POINTER, EPT_ROOT | EPTP_WB | EPTP_WALK(5));
}

static void eptp_ad_unsupported(entry_fixture *fx)
{
    ept(fx);
    fx->vm.caps.ept_vpid_cap &= ~NVMX_CTL(EPT_AD);
    SET(fx, EPT_POINTER, GOOD_EPTP | EPTP_ACCESSED_DIRTY);
}

static void eptp_shadow_stack_unsupported(entry_fixture *fx)
{
    ept(fx);
    fx->vm.caps.ept_vpid_cap &= ~NVMX_CTL(EPT_SHADOW_STACK);
    SET(fx, EPT_POINTER, GOOD_EPTP | EPTP_SUPERVISOR_SHADOW_STACK);
}

static void eptp_reserved_low(entry_fixture *fx)
{
    ept(fx);
    SET(fx, EPT_POINTER, GOOD_EPTP | (1ull << 11));
}

static void eptp_too_wide(entry_fixture *fx)
{
    ept(fx);
    SET(fx, EPT_POINTER, GOOD_EPTP | beyond_width(fx));
}

static void pml_without_ept(entry_fixture *fx)
{
    proc2(fx, NVMX_CTL(PML));
    SET(fx, PML_ADDRESS, PAGE_1);
}

static void pml_address_unaligned(entry_fixture *fx)
{
    ept(fx);
    proc2(fx, NVMX_CTL(PML));
    SET(fx, PML_ADDRESS, PAGE_1 + 0x100);
}

static void unrestricted_guest_without_ept(entry_fixture *fx)
{
    proc2(fx, NVMX_CTL(UNRESTRICTED_GUEST));
}

static void mode_based_execute_without_ept(entry_fixture *fx)
{
    proc2(fx, NVMX_CTL(MODE_BASED_EPT_EXEC));
}

static void sub_page_write_without_ept(entry_fixture *fx)
{
    proc2(fx, NVMX_CTL(SUBPAGE_WRITE));
    SET(fx, SPPT_POINTER, PAGE_1);
}

static void spptp_reserved(entry_fixture *fx)
{
    ept(fx);
    proc2(fx, NVMX_CTL(SUBPAGE_WRITE));
    SET(fx, SPPT_POINTER, PAGE_1 | 0x800);
}

static void vm_function_reserved(entry_fixture *fx)
{
    ept(fx);
    vm_functions(fx, lowest_bit(~fx->vm.caps.vmfunc));
}

static void eptp_switching_without_ept(entry_fixture *fx)
{
    vm_functions(fx, NVMX_CTL(EPTP_SWITCHING));
}

static void eptp_list_too_wide(entry_fixture *fx)
{
    ept(fx);
    vm_functions(fx, NVMX_CTL(EPTP_SWITCHING));
    SET(fx, EPTP_LIST_ADDRESS, beyond_width(fx) | PAGE_1);
}

static void vmread_bitmap_unaligned(entry_fixture *fx)
{
    shadow_vmcs(fx, PAGE_1 + 4, PAGE_2);
}

static void vmwrite_bitmap_too_wide(entry_fixture *fx)
{
    shadow_vmcs(fx, PAGE_1, ~0xFFFull);
}

static void ve_information_unaligned(entry_fixture *fx)
{
    ept(fx);
    proc2(fx, NVMX_CTL(EPT_VIOLATION_VE));
    SET(fx, VE_INFORMATION_ADDRESS, PAGE_1 + 0x40);
}

static void pt_gpa_without_ept(entry_fixture *fx)
{
    pt_guest_physical(fx);
}

static void pt_gpa_without_load_rtit_ctl(entry_fixture *fx)
{
    ept(fx);
    pt_guest_physical(fx);
    CLEAR(fx, VM_ENTRY_CONTROLS, NVMX_CTL(ENTRY_LOAD_RTIT_CTL));
}

static void pt_gpa_without_clear_rtit_ctl(entry_fixture *fx)
{
    ept(fx);
    pt_guest_physical(fx);
    CLEAR(fx, VM_EXIT_CONTROLS, NVMX_CTL(EXIT_CLEAR_RTIT_CTL));
}

static void hlat_without_ept(entry_fixture *fx)
{
    proc3(fx, NVMX_CTL(HLAT));
}

static void paging_write_without_ept(entry_fixture *fx)
{
    proc3(fx, NVMX_CTL(EPT_PAGING_WRITE));
}

static void guest_paging_verify_without_ept(entry_fixture *fx)
{
    proc3(fx, NVMX_CTL(GUEST_PAGING_VERIFY));
}

/* ---- 27.2.1.2 rows -------------------------------------------------------------------------- */

/* The software host allows every primary VM-exit control: take one away, then set it. */
static void exit_disallowed(entry_fixture *fx)
{
    fx->vm.caps.exit &= ~(NVMX_CTL(EXIT_LOAD_PKRS) << 32);
    fx->vm.caps.true_exit &= ~(NVMX_CTL(EXIT_LOAD_PKRS) << 32);
    exit_ctl(fx, NVMX_CTL(EXIT_LOAD_PKRS));
}

static void exit_required_cleared(entry_fixture *fx)
{
    CLEAR(fx, VM_EXIT_CONTROLS, required_one(fx->vm.caps.true_exit));
}

static void exit2_disallowed(entry_fixture *fx)
{
    exit_ctl(fx, NVMX_CTL(SECONDARY_EXIT_CONTROLS));
    SET(fx, SECONDARY_VM_EXIT_CONTROLS, lowest_bit(~fx->vm.caps.exit2));
}

static void save_timer_without_timer(entry_fixture *fx)
{
    exit_ctl(fx, NVMX_CTL(EXIT_SAVE_PREEMPTION_TIMER));
}

static void exit_msr_store_unaligned(entry_fixture *fx)
{
    SET(fx, VM_EXIT_MSR_STORE_COUNT, 1);
    SET(fx, VM_EXIT_MSR_STORE_ADDR, PAGE_1 + 8);
}

static void exit_msr_store_past_width(entry_fixture *fx)
{
    SET(fx, VM_EXIT_MSR_STORE_COUNT, 2);
    SET(fx, VM_EXIT_MSR_STORE_ADDR, beyond_width(fx) - 16);
}

static void exit_msr_load_too_wide(entry_fixture *fx)
{
    SET(fx, VM_EXIT_MSR_LOAD_COUNT, 1);
    SET(fx, VM_EXIT_MSR_LOAD_ADDR, beyond_width(fx));
}

static void exit_msr_load_past_width(entry_fixture *fx)
{
    SET(fx, VM_EXIT_MSR_LOAD_COUNT, 0xFFFFFFFFu);
    /* 16 * count is 2^36 - 16: the area ends 16 bytes past the width. */
    SET(fx, VM_EXIT_MSR_LOAD_ADDR, beyond_width(fx) - (1ull << 36) + 32);
}

/* ---- 27.2.1.3 rows -------------------------------------------------------------------------- */

static void entry_disallowed(entry_fixture *fx)
{
    entry_ctl(fx, disallowed_one(fx->vm.caps.true_entry));
}

static void entry_required_cleared(entry_fixture *fx)
{
    CLEAR(fx, VM_ENTRY_CONTROLS, required_one(fx->vm.caps.true_entry));
}

static void inject_reserved_type(entry_fixture *fx)
{
    inject(fx, INFO_TYPE(INTR_TYPE_RESERVED) | 0x20);
}

static void inject_other_event_without_mtf(entry_fixture *fx)
{
    no_mtf(fx);
    inject(fx, INFO_TYPE(NVMX_INTR_TYPE_OTHER_EVENT));
}

static void inject_nmi_vector_3(entry_fixture *fx)
{
    inject(fx, INFO_TYPE(NVMX_INTR_TYPE_NMI) | 3);
}

static void inject_exception_vector_32(entry_fixture *fx)
{
    inject(fx, INFO_TYPE(NVMX_INTR_TYPE_HARDWARE_EXCEPTION) | 32);
}

static void inject_other_event_vector_1(entry_fixture *fx)
{
    inject(fx, INFO_TYPE(NVMX_INTR_TYPE_OTHER_EVENT) | 1);
}

static void inject_gp_without_error_code(entry_fixture *fx)
{
    inject(fx, INFO_TYPE(NVMX_INTR_TYPE_HARDWARE_EXCEPTION) | NVMX_VECTOR_GP);
}

static void inject_interrupt_with_error_code(entry_fixture *fx)
{
    inject(fx, INFO_TYPE(NVMX_INTR_TYPE_EXTERNAL) | 0x20 | NVMX_INTR_INFO_DELIVER_ERROR_CODE);
}

static void inject_ud_with_error_code(entry_fixture *fx)
{
    inject(fx, INFO_TYPE(NVMX_INTR_TYPE_HARDWARE_EXCEPTION) | NVMX_VECTOR_UD |
                   NVMX_INTR_INFO_DELIVER_ERROR_CODE);
}

/* With "unrestricted guest" and CR0.PE clear, no exception delivers an error code. */
static void inject_real_mode_gp_with_error_code(entry_fixture *fx)
{
    ept(fx);
    proc2(fx, NVMX_CTL(UNRESTRICTED_GUEST));
    CLEAR(fx, GUEST_CR0, NVMX_CR0_PE | NVMX_CR0_PG);
    inject(fx, INFO_TYPE(NVMX_INTR_TYPE_HARDWARE_EXCEPTION) | NVMX_VECTOR_GP |
                   NVMX_INTR_INFO_DELIVER_ERROR_CODE);
}

static void inject_reserved_bit(entry_fixture *fx)
{
    inject(fx, INFO_TYPE(NVMX_INTR_TYPE_EXTERNAL) | 0x20 | (1u << 12));
}

static void inject_error_code_bit_16(entry_fixture *fx)
{
    inject(fx, INFO_TYPE(NVMX_INTR_TYPE_HARDWARE_EXCEPTION) | NVMX_VECTOR_GP |
                   NVMX_INTR_INFO_DELIVER_ERROR_CODE);
    SET(fx, VM_ENTRY_EXCEPTION_ERROR_CODE, 1u << 16);
}

static void inject_instruction_16_bytes(entry_fixture *fx)
{
    inject(fx, INFO_TYPE(NVMX_INTR_TYPE_SOFTWARE_INTERRUPT) | 0x80);
    SET(fx, VM_ENTRY_INSTRUCTION_LEN, 16);
}

static void inject_zero_length_unsupported(entry_fixture *fx)
{
    fx->vm.caps.misc &= ~NVMX_CTL(ZERO_LEN_INJECT);
    inject(fx, INFO_TYPE(NVMX_INTR_TYPE_SOFTWARE_EXCEPTION) | 3);
    SET(fx, VM_ENTRY_INSTRUCTION_LEN, 0);
}

static void entry_msr_load_unaligned(entry_fixture *fx)
{
    SET(fx, VM_ENTRY_MSR_LOAD_COUNT, 3);
    SET(fx, VM_ENTRY_MSR_LOAD_ADDR, PAGE_1 + 4);
}

static void entry_msr_load_past_width(entry_fixture *fx)
{
    SET(fx, VM_ENTRY_MSR_LOAD_COUNT, 2);
    SET(fx, VM_ENTRY_MSR_LOAD_ADDR, beyond_width(fx) - 16);
}

static void entry_to_smm(entry_fixture *fx)
{
    entry_ctl(fx, NVMX_CTL(ENTRY_SMM));
}

static void deactivate_dual_monitor(entry_fixture *fx)
{
    entry_ctl(fx, NVMX_CTL(ENTRY_DEACT_DUAL_MONITOR));
}

/* ---- The table ------------------------------------------------------------------------------ */

const entry_break entry_breaks_controls[] = {
    {"controls.pin_based.reserved_bits", pin_disallowed},
    {"controls.pin_based.reserved_bits", pin_required_cleared},
    {"controls.primary_proc_based.reserved_bits", proc_disallowed},
    {"controls.primary_proc_based.reserved_bits", proc_required_cleared},
    {"controls.primary_proc_based.reserved_bits", proc_default1_without_true},
    {"controls.secondary_proc_based.reserved_bits", proc2_disallowed},
    {"controls.tertiary_proc_based.reserved_bits", proc3_disallowed},
    {"controls.cr3_target.count", cr3_targets_too_many},
    {"controls.io_bitmap_a.address", io_bitmap_a_unaligned},
    {"controls.io_bitmap_a.address", io_bitmap_a_too_wide},
    {"controls.io_bitmap_b.address", io_bitmap_b_unaligned},
    {"controls.msr_bitmap.address", msr_bitmap_unaligned},
    {"controls.virtual_apic.address", virtual_apic_too_wide},
    {"controls.tpr_threshold.reserved_bits", tpr_threshold_reserved},
    {"controls.tpr_threshold.vtpr", tpr_threshold_above_vtpr},
    {"controls.virtualize_x2apic.requires_tpr_shadow", x2apic_without_tpr_shadow},
    {"controls.apic_register_virtualization.requires_tpr_shadow",
     apic_register_virt_without_tpr_shadow},
    {"controls.virtual_interrupt_delivery.requires_tpr_shadow", vid_without_tpr_shadow},
    {"controls.virtual_nmis.requires_nmi_exiting", virtual_nmis_without_nmi_exiting},
    {"controls.nmi_window_exiting.requires_virtual_nmis", nmi_window_without_virtual_nmis},
    {"controls.apic_access.address", apic_access_unaligned},
    {"controls.virtualize_x2apic.excludes_apic_accesses", x2apic_with_apic_accesses},
    {"controls.virtual_interrupt_delivery.requires_external_interrupt_exiting",
     vid_without_external_interrupt_exiting},
    {"controls.posted_interrupts.requires_virtual_interrupt_delivery", posted_without_vid},
    {"controls.posted_interrupts.requires_acknowledge_interrupt_on_exit", posted_without_ack},
    {"controls.posted_interrupts.notification_vector", posted_vector_too_big},
    {"controls.posted_interrupts.descriptor_alignment", posted_descriptor_unaligned},
    {"controls.posted_interrupts.descriptor_width", posted_descriptor_too_wide},
    {"controls.vpid.nonzero", vpid_zero},
    {"controls.eptp.memory_type", eptp_memory_type_reserved},
    {"controls.eptp.memory_type", eptp_uc_unsupported},
    {"controls.eptp.walk_length", eptp_walk_length_3},
    {"controls.eptp.walk_length", eptp_walk_length_5_unsupported},
    {"controls.eptp.accessed_dirty", eptp_ad_unsupported},
    {"controls.eptp.supervisor_shadow_stack", eptp_shadow_stack_unsupported},
    {"controls.eptp.reserved_bits", eptp_reserved_low},
    {"controls.eptp.reserved_bits", eptp_too_wide},
    {"controls.pml.requires_ept", pml_without_ept},
    {"controls.pml.address", pml_address_unaligned},
    {"controls.unrestricted_guest.requires_ept", unrestricted_guest_without_ept},
    {"controls.mode_based_execute.requires_ept", mode_based_execute_without_ept},
    {"controls.sub_page_write.requires_ept", sub_page_write_without_ept},
    {"controls.sub_page_write.spptp", spptp_reserved},
    {"controls.vm_functions.reserved_bits", vm_function_reserved},
    {"controls.eptp_switching.requires_ept", eptp_switching_without_ept},
    {"controls.eptp_list.address", eptp_list_too_wide},
    {"controls.vmread_bitmap.address", vmread_bitmap_unaligned},
    {"controls.vmwrite_bitmap.address", vmwrite_bitmap_too_wide},
    {"controls.ve_information.address", ve_information_unaligned},
    {"controls.pt_guest_physical.requires_ept", pt_gpa_without_ept},
    {"controls.pt_guest_physical.requires_load_rtit_ctl", pt_gpa_without_load_rtit_ctl},
    {"controls.pt_guest_physical.requires_clear_rtit_ctl", pt_gpa_without_clear_rtit_ctl},
    {"controls.hlat.requires_ept", hlat_without_ept},
    {"controls.ept_paging_write.requires_ept", paging_write_without_ept},
    {"controls.guest_paging_verification.requires_ept", guest_paging_verify_without_ept},
    {"controls.exit.reserved_bits", exit_disallowed},
    {"controls.exit.reserved_bits", exit_required_cleared},
    {"controls.exit_secondary.reserved_bits", exit2_disallowed},
    {"controls.save_preemption_timer.requires_preemption_timer", save_timer_without_timer},
    {"controls.exit_msr_store.address", exit_msr_store_unaligned},
    {"controls.exit_msr_store.last_byte", exit_msr_store_past_width},
    {"controls.exit_msr_load.address", exit_msr_load_too_wide},
    {"controls.exit_msr_load.last_byte", exit_msr_load_past_width},
    {"controls.entry.reserved_bits", entry_disallowed},
    {"controls.entry.reserved_bits", entry_required_cleared},
    {"controls.entry_interruption.type", inject_reserved_type},
    {"controls.entry_interruption.type", inject_other_event_without_mtf},
    {"controls.entry_interruption.vector_nmi", inject_nmi_vector_3},
    {"controls.entry_interruption.vector_hardware_exception", inject_exception_vector_32},
    {"controls.entry_interruption.vector_other_event", inject_other_event_vector_1},
    {"controls.entry_interruption.error_code_required", inject_gp_without_error_code},
    {"controls.entry_interruption.error_code_forbidden", inject_interrupt_with_error_code},
    {"controls.entry_interruption.error_code_forbidden", inject_ud_with_error_code},
    {"controls.entry_interruption.error_code_forbidden", inject_real_mode_gp_with_error_code},
    {"controls.entry_interruption.reserved_bits", inject_reserved_bit},
    {"controls.entry_exception_error_code.reserved_bits", inject_error_code_bit_16},
    {"controls.entry_instruction_length.maximum", inject_instruction_16_bytes},
    {"controls.entry_instruction_length.zero", inject_zero_length_unsupported},
    {"controls.entry_msr_load.address", entry_msr_load_unaligned},
    {"controls.entry_msr_load.last_byte", entry_msr_load_past_width},
    {"controls.entry.entry_to_smm", entry_to_smm},
    {"controls.entry.deactivate_dual_monitor", deactivate_dual_monitor},
};
const size_t entry_breaks_controls_count = NVMX_ARRAY_SIZE(entry_breaks_controls);

/* Criterion runs each parameter in a fresh process of a position-independent binary, so the
 * parameters are row indices in Criterion's shared memory, not pointers into this image. */
static void free_row_indices(struct criterion_test_params *params)
{
    cr_free(params->params);
}

ParameterizedTestParameters(entry_controls, each_row_breaks_its_check)
{
    size_t *rows = cr_malloc(entry_breaks_controls_count * sizeof(*rows));
    for (size_t i = 0; i < entry_breaks_controls_count; i++)
        rows[i] = i;
    return cr_make_param_array(size_t, rows, entry_breaks_controls_count, free_row_indices);
}

/* Each row makes its own check the first to fail, over every category in SDM order. */
ParameterizedTest(size_t *index, entry_controls, each_row_breaks_its_check)
{
    const entry_break *row = &entry_breaks_controls[*index];
    row->apply(&f);
    /* ASSERT_FIRST_FAILURE's parameter is called `name` and it reads `info.name`: hand it a
     * variable of that name so the member access survives the expansion. */
    const char *name = row->check;
    ASSERT_FIRST_FAILURE(&f, name);
}

/* ---- Permitted edges ------------------------------------------------------------------------ */

static void assert_controls_pass(void)
{
    const char *failed = entry_fixture_first_failure(&f, NVMX_CHECK_CONTROLS);
    cr_assert_null(failed, "check %s fails", failed ? failed : "");
}

static void assert_controls_fail(const char *check)
{
    const char *failed = entry_fixture_first_failure(&f, NVMX_CHECK_CONTROLS);
    cr_assert_not_null(failed, "expected %s to fail, every control check passed", check);
    cr_assert_str_eq(failed, check);
}

/* Every check of the table is a control check of 27.2.1 with a stable prefix. */
Test(entry_controls, table_entries_are_control_checks)
{
    cr_assert_geq(entry_checks_controls_count, 60);
    for (size_t i = 0; i < entry_checks_controls_count; i++) {
        const nvmx_entry_check_info *info = &entry_checks_controls[i].info;
        cr_assert_eq(info->category, NVMX_CHECK_CONTROLS);
        cr_assert_eq(strncmp(info->name, "controls.", 9), 0, "%s", info->name);
        cr_assert_eq(strncmp(info->sdm_section, "27.2.1.", 7), 0, "%s", info->name);
        cr_assert_eq(info->exit_qualification, 0);
    }
}

/* The highest page below the width is fine; the first page beyond it is not. */
Test(entry_controls, bitmap_address_at_the_width_boundary)
{
    io_bitmaps(&f, beyond_width(&f) - 4096, PAGE_2);
    assert_controls_pass();
    SET(&f, IO_BITMAP_A, beyond_width(&f));
    assert_controls_fail("controls.io_bitmap_a.address");
}

/* Garbage in controls that are not in use is never looked at. */
Test(entry_controls, unused_fields_are_not_checked)
{
    SET(&f, IO_BITMAP_A, ~0ull);
    SET(&f, VIRTUAL_APIC_PAGE_ADDR, ~0ull);
    SET(&f, TPR_THRESHOLD, ~0ull);
    SET(&f, EPT_POINTER, ~0ull);
    SET(&f, SECONDARY_VM_EXEC_CONTROL, ~0ull); /* secondary controls not activated */
    SET(&f, TERTIARY_VM_EXEC_CONTROL, ~0ull);
    SET(&f, SECONDARY_VM_EXIT_CONTROLS, ~0ull);
    SET(&f, VM_ENTRY_EXCEPTION_ERROR_CODE, ~0ull);
    SET(&f, VM_ENTRY_INSTRUCTION_LEN, ~0ull);
    SET(&f, VM_ENTRY_INTR_INFO_FIELD, ~(uint64_t)NVMX_INTR_INFO_VALID); /* not valid */
    assert_controls_pass();
}

/* An MSR area may end on the last byte below the width; a count of 0 ignores the address. */
Test(entry_controls, msr_area_edges)
{
    SET(&f, VM_EXIT_MSR_STORE_COUNT, 2);
    SET(&f, VM_EXIT_MSR_STORE_ADDR, beyond_width(&f) - 32);
    SET(&f, VM_EXIT_MSR_LOAD_COUNT, 0);
    SET(&f, VM_EXIT_MSR_LOAD_ADDR, ~0ull);
    SET(&f, VM_ENTRY_MSR_LOAD_COUNT, 0xFFFFFFFFu); /* 2^36 - 16 bytes from 0: no wrap */
    SET(&f, VM_ENTRY_MSR_LOAD_ADDR, 0);
    assert_controls_pass();
    SET(&f, VM_EXIT_MSR_STORE_ADDR, beyond_width(&f) - 16);
    assert_controls_fail("controls.exit_msr_store.last_byte");
}

/* An address with the top bit set fails the address rule, and its end is not computed by
 * wrapping around to a small value. */
Test(entry_controls, msr_area_address_near_the_top_of_the_space)
{
    SET(&f, VM_ENTRY_MSR_LOAD_COUNT, 0x10);
    SET(&f, VM_ENTRY_MSR_LOAD_ADDR, ~0ull - 0xFF); /* + 16 * 16 - 1 wraps to ~0 */
    assert_controls_fail("controls.entry_msr_load.address");
}

/* A 5-level EPT walk is fine when IA32_VMX_EPT_VPID_CAP[7] allows it; A/D and UC likewise. */
Test(entry_controls, eptp_supported_choices)
{
    ept(&f);
    SET(&f, EPT_POINTER,
        EPT_ROOT | EPTP_WB | EPTP_WALK(5) | EPTP_ACCESSED_DIRTY | EPTP_SUPERVISOR_SHADOW_STACK);
    assert_controls_pass();
    SET(&f, EPT_POINTER, EPT_ROOT | EPTP_UC | EPTP_WALK(4));
    assert_controls_pass();
    SET(&f, EPT_POINTER, (beyond_width(&f) - 4096) | EPTP_WB | EPTP_WALK(4));
    assert_controls_pass();
}

/* The TRUE MSRs let the default1 CR3-exiting controls be 0; the plain MSRs do not (A.2). */
Test(entry_controls, true_msrs_decide_default1_controls)
{
    assert_controls_pass();
    f.vm.caps.basic &= ~NVMX_CTL(TRUE_CTLS);
    proc(&f, NVMX_CTL(CR3_LOAD_EXITING) | NVMX_CTL(CR3_STORE_EXITING));
    exit_ctl(&f, NVMX_CTL(EXIT_SAVE_DEBUG));
    entry_ctl(&f, NVMX_CTL(ENTRY_LOAD_DEBUG));
    assert_controls_pass();
}

/* With virtual-interrupt delivery the TPR threshold is not checked at all. */
Test(entry_controls, tpr_threshold_free_with_virtual_interrupt_delivery)
{
    virtual_interrupts(&f);
    SET(&f, TPR_THRESHOLD, 0xFFFFFFFFu);
    assert_controls_pass();
}

/* VTPR is read once, a single byte, and only when the rule applies. */
Test(entry_controls, vtpr_read_once_when_needed)
{
    tpr_shadow(&f);
    f.host.ram[VAPIC_PAGE + VTPR_OFFSET] = 0x40;
    SET(&f, TPR_THRESHOLD, 4);
    long before = f.host.l1_reads;
    assert_controls_pass();
    cr_assert_eq(f.host.l1_reads - before, 1);

    proc2(&f, NVMX_CTL(VIRTUALIZE_APIC_ACCESSES));
    SET(&f, APIC_ACCESS_ADDR, PAGE_1);
    SET(&f, TPR_THRESHOLD, 0xF);
    before = f.host.l1_reads;
    assert_controls_pass();
    cr_assert_eq(f.host.l1_reads - before, 0);
}

/* A virtual-APIC page outside L1 RAM reads as all ones: every threshold is below it. */
Test(entry_controls, vtpr_of_unbacked_page_reads_all_ones)
{
    tpr_shadow(&f);
    SET(&f, VIRTUAL_APIC_PAGE_ADDR, beyond_width(&f) - 4096);
    SET(&f, TPR_THRESHOLD, 0xF);
    assert_controls_pass();
}

/* A rejected virtual-APIC address is not read (its VTPR address could wrap). */
Test(entry_controls, vtpr_not_read_from_invalid_address)
{
    tpr_shadow(&f);
    SET(&f, VIRTUAL_APIC_PAGE_ADDR, ~0xFFFull);
    long before = f.host.l1_reads;
    assert_controls_fail("controls.virtual_apic.address");
    cr_assert_eq(f.host.l1_reads - before, 0);
}

/* Other-event injection (pending MTF) with vector 0 is fine where MTF is supported. */
Test(entry_controls, pending_mtf_injection)
{
    inject(&f, INFO_TYPE(NVMX_INTR_TYPE_OTHER_EVENT));
    assert_controls_pass();
}

/* Instruction lengths 1 to 15, and 0 with IA32_VMX_MISC[30]. */
Test(entry_controls, software_event_instruction_lengths)
{
    inject(&f, INFO_TYPE(NVMX_INTR_TYPE_SOFTWARE_EXCEPTION) | 3);
    SET(&f, VM_ENTRY_INSTRUCTION_LEN, 15);
    assert_controls_pass();
    SET(&f, VM_ENTRY_INSTRUCTION_LEN, 0);
    assert_controls_pass();
    inject(&f, INFO_TYPE(NVMX_INTR_TYPE_HARDWARE_EXCEPTION) |
                   NVMX_VECTOR_UD); /* no length for hardware events */
    SET(&f, VM_ENTRY_INSTRUCTION_LEN, 99);
    assert_controls_pass();
}

/* Error codes: the listed vectors with one; bit 15 may be set; #CP (21) without one. */
Test(entry_controls, error_code_delivery)
{
    inject(&f, INFO_TYPE(NVMX_INTR_TYPE_HARDWARE_EXCEPTION) | NVMX_VECTOR_PF |
                   NVMX_INTR_INFO_DELIVER_ERROR_CODE);
    SET(&f, VM_ENTRY_EXCEPTION_ERROR_CODE, 0xFFFF);
    assert_controls_pass();
    inject(&f, INFO_TYPE(NVMX_INTR_TYPE_HARDWARE_EXCEPTION) | 21);
    assert_controls_pass();
    inject(&f,
           INFO_TYPE(NVMX_INTR_TYPE_HARDWARE_EXCEPTION) | 21 | NVMX_INTR_INFO_DELIVER_ERROR_CODE);
    assert_controls_fail("controls.entry_interruption.error_code_forbidden");
}

/* In real mode under "unrestricted guest", #GP is injected without an error code. */
Test(entry_controls, real_mode_exception_without_error_code)
{
    ept(&f);
    proc2(&f, NVMX_CTL(UNRESTRICTED_GUEST));
    CLEAR(&f, GUEST_CR0, NVMX_CR0_PE | NVMX_CR0_PG);
    inject(&f, INFO_TYPE(NVMX_INTR_TYPE_HARDWARE_EXCEPTION) | NVMX_VECTOR_GP);
    assert_controls_pass();
}

/* IA32_VMX_BASIC[56]: any hardware exception with or without an error code, but still none
 * for other event types. */
Test(entry_controls, basic_56_lifts_the_vector_rule_only)
{
    f.vm.caps.basic |= NVMX_BASIC_NO_HW_ERROR_CODE_CHECK;
    inject(&f, INFO_TYPE(NVMX_INTR_TYPE_HARDWARE_EXCEPTION) | NVMX_VECTOR_GP);
    assert_controls_pass();
    inject(&f, INFO_TYPE(NVMX_INTR_TYPE_HARDWARE_EXCEPTION) | NVMX_VECTOR_UD |
                   NVMX_INTR_INFO_DELIVER_ERROR_CODE);
    assert_controls_pass();
    inject(&f, INFO_TYPE(NVMX_INTR_TYPE_NMI) | 2 | NVMX_INTR_INFO_DELIVER_ERROR_CODE);
    assert_controls_fail("controls.entry_interruption.error_code_forbidden");
}

/* The full posted-interrupt setup passes, up to notification vector 255. */
Test(entry_controls, posted_interrupts_setup_passes)
{
    posted_interrupts(&f);
    SET(&f, POSTED_INTR_NV, 0xFF);
    assert_controls_pass();
}

/* CR3-target count up to IA32_VMX_MISC[24:16]. */
Test(entry_controls, cr3_target_count_at_the_limit)
{
    uint64_t n = (f.vm.caps.misc & CAPS_MISC_CR3_TARGETS_MASK) >> CAPS_MISC_CR3_TARGETS_SHIFT;
    SET(&f, CR3_TARGET_COUNT, n);
    assert_controls_pass();
}
