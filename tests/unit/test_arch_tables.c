/* SPDX-License-Identifier: MIT */
/*
 * The architectural tables: the VMCS field list (SDM Vol. 3D, Appendix B), basic exit reasons
 * (Appendix C) and VM-instruction errors (SDM Vol. 3C 31.4), and their name lookups.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <string.h>

#include <nestvmx/nestvmx.h>

#include "vmcs/vmcs12.h"

/* The list as written, independent of the table lib/vmcs/field_table.c builds from it. */
static const struct listed_field {
    const char *name;
    uint32_t encoding;
    unsigned feature;
} listed[] = {
#define LISTED_FIELD(name, enc, feature) {#name, enc, NVMX_FEATURE_##feature},
    NVMX_VMCS_FIELD_LIST(LISTED_FIELD)
#undef LISTED_FIELD
};

#define LISTED_COUNT NVMX_ARRAY_SIZE(listed)

static bool has_prefix(const char *name, const char *prefix)
{
    return strncmp(name, prefix, strlen(prefix)) == 0;
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n >= s && strcmp(name + n - s, suffix) == 0;
}

static const struct listed_field *find_listed(const char *name)
{
    for (unsigned i = 0; i < LISTED_COUNT; i++) {
        if (strcmp(listed[i].name, name) == 0)
            return &listed[i];
    }
    return NULL;
}

static unsigned feature_of(const char *name)
{
    const struct listed_field *f = find_listed(name);
    cr_assert_not_null(f, "%s is not listed", name);
    return f->feature;
}

/* ---- VMCS field list ------------------------------------------------------------------ */

/* SDM 25.11.2 and Appendix B: every field has an encoding of its own. */
Test(vmcs_field_list, encodings_are_unique)
{
    for (unsigned i = 0; i < LISTED_COUNT; i++) {
        for (unsigned j = i + 1; j < LISTED_COUNT; j++)
            cr_assert_neq(listed[i].encoding, listed[j].encoding, "%s and %s share 0x%04x",
                          listed[i].name, listed[j].name, listed[i].encoding);
    }
}

/* SDM 25.11.2: bits 63:15 and 12 are reserved; a 64-bit field is listed by its full (access
 * type 0) encoding, the high alias being derived. */
Test(vmcs_field_list, no_reserved_bits_and_full_access_type)
{
    for (unsigned i = 0; i < LISTED_COUNT; i++) {
        cr_assert_eq(listed[i].encoding & NVMX_FIELD_RESERVED_MASK, 0, "%s", listed[i].name);
        cr_assert_eq(NVMX_FIELD_HIGH_ACCESS(listed[i].encoding), 0, "%s", listed[i].name);
    }
}

/* Appendix B order: B.1 16-bit, B.2 64-bit, B.3 32-bit, B.4 natural width (width code = section
 * number - 1), each by type, each by index. That is ascending encoding order, so a field
 * written under the wrong group comment breaks it. */
Test(vmcs_field_list, list_follows_appendix_b_order)
{
    for (unsigned i = 1; i < LISTED_COUNT; i++)
        cr_assert_lt(listed[i - 1].encoding, listed[i].encoding, "%s listed before %s",
                     listed[i - 1].name, listed[i].name);
}

/* SDM 25.11.2 (type, bits 11:10): guest-state fields are type 2. The exit-information fields
 * named after guest addresses are read-only data (Appendix B.2.2, B.4.2). */
Test(vmcs_field_list, guest_prefix_means_guest_state_type)
{
    for (unsigned i = 0; i < LISTED_COUNT; i++) {
        const char *name = listed[i].name;
        if (!has_prefix(name, "GUEST_"))
            continue;
        bool exit_info = strcmp(name, "GUEST_PHYSICAL_ADDRESS") == 0 ||
                         strcmp(name, "GUEST_LINEAR_ADDRESS") == 0;
        cr_assert_eq(NVMX_FIELD_TYPE(listed[i].encoding),
                     exit_info ? NVMX_FIELD_TYPE_READ_ONLY_DATA : NVMX_FIELD_TYPE_GUEST, "%s",
                     name);
    }
}

/* SDM 25.11.2 (type, bits 11:10): host-state fields are type 3, with no exception. */
Test(vmcs_field_list, host_prefix_means_host_state_type)
{
    for (unsigned i = 0; i < LISTED_COUNT; i++) {
        if (has_prefix(listed[i].name, "HOST_"))
            cr_assert_eq(NVMX_FIELD_TYPE(listed[i].encoding), NVMX_FIELD_TYPE_HOST, "%s",
                         listed[i].name);
    }
}

/* SDM 25.9 (VM-exit information fields) and Appendix B.2.2, B.3.2, B.4.2: exactly these are
 * read-only data (type 1). */
Test(vmcs_field_list, exit_information_fields_are_read_only_data)
{
    static const char *const exit_info[] = {
        "VM_INSTRUCTION_ERROR",
        "VM_EXIT_REASON",
        "VM_EXIT_INTR_INFO",
        "VM_EXIT_INTR_ERROR_CODE",
        "IDT_VECTORING_INFO_FIELD",
        "IDT_VECTORING_ERROR_CODE",
        "VM_EXIT_INSTRUCTION_LEN",
        "VMX_INSTRUCTION_INFO",
        "EXIT_QUALIFICATION",
        "IO_RCX",
        "IO_RSI",
        "IO_RDI",
        "IO_RIP",
        "GUEST_LINEAR_ADDRESS",
        "GUEST_PHYSICAL_ADDRESS",
        "ORIGINAL_EVENT_DATA",
    };
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(exit_info); i++) {
        const struct listed_field *f = find_listed(exit_info[i]);
        cr_assert_not_null(f, "%s is not listed", exit_info[i]);
        cr_assert_eq(NVMX_FIELD_TYPE(f->encoding), NVMX_FIELD_TYPE_READ_ONLY_DATA, "%s", f->name);
    }
    unsigned read_only = 0;
    for (unsigned i = 0; i < LISTED_COUNT; i++)
        read_only += NVMX_FIELD_TYPE(listed[i].encoding) == NVMX_FIELD_TYPE_READ_ONLY_DATA;
    cr_assert_eq(read_only, NVMX_ARRAY_SIZE(exit_info), "a field is read-only data by mistake");
}

/* SDM 25.4.1 (guest register state) and Appendix B: selectors are 16-bit, limits and access
 * rights 32-bit, segment and descriptor-table bases natural width. */
Test(vmcs_field_list, segment_fields_have_their_width)
{
    for (unsigned i = 0; i < LISTED_COUNT; i++) {
        const char *name = listed[i].name;
        nvmx_field_width width = NVMX_FIELD_WIDTH(listed[i].encoding);
        if (has_suffix(name, "_SELECTOR"))
            cr_assert_eq(width, NVMX_WIDTH_16, "%s", name);
        else if (has_suffix(name, "_LIMIT") || has_suffix(name, "_AR_BYTES"))
            cr_assert_eq(width, NVMX_WIDTH_32, "%s", name);
        else if (has_suffix(name, "_BASE"))
            cr_assert_eq(width, NVMX_WIDTH_NATURAL, "%s", name);
    }
}

/* Appendix B, Tables B-1 to B-15: well-known encodings, typed from the tables. */
Test(vmcs_field_list, well_known_encodings)
{
    static const struct {
        const char *name;
        uint32_t encoding;
    } known[] = {
        {"VIRTUAL_PROCESSOR_ID", 0x0000},
        {"POSTED_INTR_NV", 0x0002},
        {"EPTP_INDEX", 0x0004},
        {"GUEST_ES_SELECTOR", 0x0800},
        {"GUEST_TR_SELECTOR", 0x080E},
        {"GUEST_INTR_STATUS", 0x0810},
        {"GUEST_PML_INDEX", 0x0812},
        {"HOST_ES_SELECTOR", 0x0C00},
        {"HOST_TR_SELECTOR", 0x0C0C},
        {"IO_BITMAP_A", 0x2000},
        {"MSR_BITMAP", 0x2004},
        {"TSC_OFFSET", 0x2010},
        {"APIC_ACCESS_ADDR", 0x2014},
        {"POSTED_INTR_DESC_ADDR", 0x2016},
        {"EPT_POINTER", 0x201A},
        {"EPTP_LIST_ADDRESS", 0x2024},
        {"ENCLS_EXITING_BITMAP", 0x202E},
        {"TSC_MULTIPLIER", 0x2032},
        {"TERTIARY_VM_EXEC_CONTROL", 0x2034},
        {"ENCLV_EXITING_BITMAP", 0x2036},
        {"PCONFIG_EXITING_BITMAP", 0x203E},
        {"SECONDARY_VM_EXIT_CONTROLS", 0x2044},
        {"GUEST_PHYSICAL_ADDRESS", 0x2400},
        {"VMCS_LINK_POINTER", 0x2800},
        {"GUEST_IA32_EFER", 0x2806},
        {"GUEST_PDPTR0", 0x280A},
        {"HOST_IA32_PAT", 0x2C00},
        {"PIN_BASED_VM_EXEC_CONTROL", 0x4000},
        {"VM_EXIT_CONTROLS", 0x400C},
        {"VM_ENTRY_INTR_INFO_FIELD", 0x4016},
        {"SECONDARY_VM_EXEC_CONTROL", 0x401E},
        {"VM_INSTRUCTION_ERROR", 0x4400},
        {"VM_EXIT_REASON", 0x4402},
        {"GUEST_ES_LIMIT", 0x4800},
        {"GUEST_INTERRUPTIBILITY_INFO", 0x4824},
        {"GUEST_ACTIVITY_STATE", 0x4826},
        {"VMX_PREEMPTION_TIMER_VALUE", 0x482E},
        {"HOST_IA32_SYSENTER_CS", 0x4C00},
        {"CR0_GUEST_HOST_MASK", 0x6000},
        {"EXIT_QUALIFICATION", 0x6400},
        {"GUEST_LINEAR_ADDRESS", 0x640A},
        {"GUEST_CR0", 0x6800},
        {"GUEST_RIP", 0x681E},
        {"GUEST_PENDING_DBG_EXCEPTIONS", 0x6822},
        {"GUEST_S_CET", 0x6828},
        {"GUEST_SSP", 0x682A},
        {"GUEST_INTR_SSP_TABLE", 0x682C},
        {"HOST_CR0", 0x6C00},
        {"HOST_RIP", 0x6C16},
        {"HOST_S_CET", 0x6C18},
        {"HOST_SSP", 0x6C1A},
        {"HOST_INTR_SSP_TABLE", 0x6C1C},
    };
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(known); i++) {
        const struct listed_field *f = find_listed(known[i].name);
        cr_assert_not_null(f, "%s is not listed", known[i].name);
        cr_assert_eq(f->encoding, known[i].encoding, "%s is 0x%04x, expected 0x%04x", f->name,
                     f->encoding, known[i].encoding);
    }
}

/* Appendix B: the list covers at least the fields of Linux KVM's struct vmcs12 (as of its FRED
 * and CET support). Each name must exist to compile; each is then found by its encoding. */
Test(vmcs_field_list, covers_kvm_vmcs12_fields)
{
    static const uint32_t kvm_vmcs12[] = {
        NVMX_FIELD_VIRTUAL_PROCESSOR_ID,
        NVMX_FIELD_POSTED_INTR_NV,
        NVMX_FIELD_GUEST_ES_SELECTOR,
        NVMX_FIELD_GUEST_CS_SELECTOR,
        NVMX_FIELD_GUEST_SS_SELECTOR,
        NVMX_FIELD_GUEST_DS_SELECTOR,
        NVMX_FIELD_GUEST_FS_SELECTOR,
        NVMX_FIELD_GUEST_GS_SELECTOR,
        NVMX_FIELD_GUEST_LDTR_SELECTOR,
        NVMX_FIELD_GUEST_TR_SELECTOR,
        NVMX_FIELD_GUEST_INTR_STATUS,
        NVMX_FIELD_GUEST_PML_INDEX,
        NVMX_FIELD_HOST_ES_SELECTOR,
        NVMX_FIELD_HOST_CS_SELECTOR,
        NVMX_FIELD_HOST_SS_SELECTOR,
        NVMX_FIELD_HOST_DS_SELECTOR,
        NVMX_FIELD_HOST_FS_SELECTOR,
        NVMX_FIELD_HOST_GS_SELECTOR,
        NVMX_FIELD_HOST_TR_SELECTOR,
        NVMX_FIELD_IO_BITMAP_A,
        NVMX_FIELD_IO_BITMAP_B,
        NVMX_FIELD_MSR_BITMAP,
        NVMX_FIELD_VM_EXIT_MSR_STORE_ADDR,
        NVMX_FIELD_VM_EXIT_MSR_LOAD_ADDR,
        NVMX_FIELD_VM_ENTRY_MSR_LOAD_ADDR,
        NVMX_FIELD_PML_ADDRESS,
        NVMX_FIELD_TSC_OFFSET,
        NVMX_FIELD_TSC_MULTIPLIER,
        NVMX_FIELD_VIRTUAL_APIC_PAGE_ADDR,
        NVMX_FIELD_APIC_ACCESS_ADDR,
        NVMX_FIELD_POSTED_INTR_DESC_ADDR,
        NVMX_FIELD_VM_FUNCTION_CONTROL,
        NVMX_FIELD_EPT_POINTER,
        NVMX_FIELD_EOI_EXIT_BITMAP0,
        NVMX_FIELD_EOI_EXIT_BITMAP1,
        NVMX_FIELD_EOI_EXIT_BITMAP2,
        NVMX_FIELD_EOI_EXIT_BITMAP3,
        NVMX_FIELD_EPTP_LIST_ADDRESS,
        NVMX_FIELD_VMREAD_BITMAP,
        NVMX_FIELD_VMWRITE_BITMAP,
        NVMX_FIELD_XSS_EXIT_BITMAP,
        NVMX_FIELD_ENCLS_EXITING_BITMAP,
        NVMX_FIELD_GUEST_PHYSICAL_ADDRESS,
        NVMX_FIELD_VMCS_LINK_POINTER,
        NVMX_FIELD_GUEST_IA32_DEBUGCTL,
        NVMX_FIELD_GUEST_IA32_PAT,
        NVMX_FIELD_GUEST_IA32_EFER,
        NVMX_FIELD_GUEST_IA32_PERF_GLOBAL_CTRL,
        NVMX_FIELD_GUEST_PDPTR0,
        NVMX_FIELD_GUEST_PDPTR1,
        NVMX_FIELD_GUEST_PDPTR2,
        NVMX_FIELD_GUEST_PDPTR3,
        NVMX_FIELD_GUEST_BNDCFGS,
        NVMX_FIELD_HOST_IA32_PAT,
        NVMX_FIELD_HOST_IA32_EFER,
        NVMX_FIELD_HOST_IA32_PERF_GLOBAL_CTRL,
        NVMX_FIELD_SECONDARY_VM_EXIT_CONTROLS,
        NVMX_FIELD_INJECTED_EVENT_DATA,
        NVMX_FIELD_ORIGINAL_EVENT_DATA,
        NVMX_FIELD_GUEST_IA32_FRED_CONFIG,
        NVMX_FIELD_GUEST_IA32_FRED_RSP1,
        NVMX_FIELD_GUEST_IA32_FRED_RSP2,
        NVMX_FIELD_GUEST_IA32_FRED_RSP3,
        NVMX_FIELD_GUEST_IA32_FRED_STKLVLS,
        NVMX_FIELD_GUEST_IA32_FRED_SSP1,
        NVMX_FIELD_GUEST_IA32_FRED_SSP2,
        NVMX_FIELD_GUEST_IA32_FRED_SSP3,
        NVMX_FIELD_HOST_IA32_FRED_CONFIG,
        NVMX_FIELD_HOST_IA32_FRED_RSP1,
        NVMX_FIELD_HOST_IA32_FRED_RSP2,
        NVMX_FIELD_HOST_IA32_FRED_RSP3,
        NVMX_FIELD_HOST_IA32_FRED_STKLVLS,
        NVMX_FIELD_HOST_IA32_FRED_SSP1,
        NVMX_FIELD_HOST_IA32_FRED_SSP2,
        NVMX_FIELD_HOST_IA32_FRED_SSP3,
        NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL,
        NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL,
        NVMX_FIELD_EXCEPTION_BITMAP,
        NVMX_FIELD_PAGE_FAULT_ERROR_CODE_MASK,
        NVMX_FIELD_PAGE_FAULT_ERROR_CODE_MATCH,
        NVMX_FIELD_CR3_TARGET_COUNT,
        NVMX_FIELD_VM_EXIT_CONTROLS,
        NVMX_FIELD_VM_EXIT_MSR_STORE_COUNT,
        NVMX_FIELD_VM_EXIT_MSR_LOAD_COUNT,
        NVMX_FIELD_VM_ENTRY_CONTROLS,
        NVMX_FIELD_VM_ENTRY_MSR_LOAD_COUNT,
        NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD,
        NVMX_FIELD_VM_ENTRY_EXCEPTION_ERROR_CODE,
        NVMX_FIELD_VM_ENTRY_INSTRUCTION_LEN,
        NVMX_FIELD_TPR_THRESHOLD,
        NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL,
        NVMX_FIELD_VM_INSTRUCTION_ERROR,
        NVMX_FIELD_VM_EXIT_REASON,
        NVMX_FIELD_VM_EXIT_INTR_INFO,
        NVMX_FIELD_VM_EXIT_INTR_ERROR_CODE,
        NVMX_FIELD_IDT_VECTORING_INFO_FIELD,
        NVMX_FIELD_IDT_VECTORING_ERROR_CODE,
        NVMX_FIELD_VM_EXIT_INSTRUCTION_LEN,
        NVMX_FIELD_VMX_INSTRUCTION_INFO,
        NVMX_FIELD_GUEST_ES_LIMIT,
        NVMX_FIELD_GUEST_CS_LIMIT,
        NVMX_FIELD_GUEST_SS_LIMIT,
        NVMX_FIELD_GUEST_DS_LIMIT,
        NVMX_FIELD_GUEST_FS_LIMIT,
        NVMX_FIELD_GUEST_GS_LIMIT,
        NVMX_FIELD_GUEST_LDTR_LIMIT,
        NVMX_FIELD_GUEST_TR_LIMIT,
        NVMX_FIELD_GUEST_GDTR_LIMIT,
        NVMX_FIELD_GUEST_IDTR_LIMIT,
        NVMX_FIELD_GUEST_ES_AR_BYTES,
        NVMX_FIELD_GUEST_CS_AR_BYTES,
        NVMX_FIELD_GUEST_SS_AR_BYTES,
        NVMX_FIELD_GUEST_DS_AR_BYTES,
        NVMX_FIELD_GUEST_FS_AR_BYTES,
        NVMX_FIELD_GUEST_GS_AR_BYTES,
        NVMX_FIELD_GUEST_LDTR_AR_BYTES,
        NVMX_FIELD_GUEST_TR_AR_BYTES,
        NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO,
        NVMX_FIELD_GUEST_ACTIVITY_STATE,
        NVMX_FIELD_GUEST_SYSENTER_CS,
        NVMX_FIELD_HOST_IA32_SYSENTER_CS,
        NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE,
        NVMX_FIELD_CR0_GUEST_HOST_MASK,
        NVMX_FIELD_CR4_GUEST_HOST_MASK,
        NVMX_FIELD_CR0_READ_SHADOW,
        NVMX_FIELD_CR4_READ_SHADOW,
        NVMX_FIELD_CR3_TARGET_VALUE0,
        NVMX_FIELD_CR3_TARGET_VALUE1,
        NVMX_FIELD_CR3_TARGET_VALUE2,
        NVMX_FIELD_CR3_TARGET_VALUE3,
        NVMX_FIELD_EXIT_QUALIFICATION,
        NVMX_FIELD_GUEST_LINEAR_ADDRESS,
        NVMX_FIELD_GUEST_CR0,
        NVMX_FIELD_GUEST_CR3,
        NVMX_FIELD_GUEST_CR4,
        NVMX_FIELD_GUEST_ES_BASE,
        NVMX_FIELD_GUEST_CS_BASE,
        NVMX_FIELD_GUEST_SS_BASE,
        NVMX_FIELD_GUEST_DS_BASE,
        NVMX_FIELD_GUEST_FS_BASE,
        NVMX_FIELD_GUEST_GS_BASE,
        NVMX_FIELD_GUEST_LDTR_BASE,
        NVMX_FIELD_GUEST_TR_BASE,
        NVMX_FIELD_GUEST_GDTR_BASE,
        NVMX_FIELD_GUEST_IDTR_BASE,
        NVMX_FIELD_GUEST_DR7,
        NVMX_FIELD_GUEST_RSP,
        NVMX_FIELD_GUEST_RIP,
        NVMX_FIELD_GUEST_RFLAGS,
        NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS,
        NVMX_FIELD_GUEST_SYSENTER_ESP,
        NVMX_FIELD_GUEST_SYSENTER_EIP,
        NVMX_FIELD_GUEST_S_CET,
        NVMX_FIELD_GUEST_SSP,
        NVMX_FIELD_GUEST_INTR_SSP_TABLE,
        NVMX_FIELD_HOST_CR0,
        NVMX_FIELD_HOST_CR3,
        NVMX_FIELD_HOST_CR4,
        NVMX_FIELD_HOST_FS_BASE,
        NVMX_FIELD_HOST_GS_BASE,
        NVMX_FIELD_HOST_TR_BASE,
        NVMX_FIELD_HOST_GDTR_BASE,
        NVMX_FIELD_HOST_IDTR_BASE,
        NVMX_FIELD_HOST_IA32_SYSENTER_ESP,
        NVMX_FIELD_HOST_IA32_SYSENTER_EIP,
        NVMX_FIELD_HOST_RSP,
        NVMX_FIELD_HOST_RIP,
        NVMX_FIELD_HOST_S_CET,
        NVMX_FIELD_HOST_SSP,
        NVMX_FIELD_HOST_INTR_SSP_TABLE,
    };
    /* 160 fields in KVM's vmcs12 field table, its 4 CR3-target values and 6 CET fields. */
    cr_assert_eq(NVMX_ARRAY_SIZE(kvm_vmcs12), 170);
    cr_assert_geq((size_t)VMCS12_FIELD_COUNT, NVMX_ARRAY_SIZE(kvm_vmcs12));
    for (unsigned i = 0; i < NVMX_ARRAY_SIZE(kvm_vmcs12); i++) {
        const vmcs_field_info *f = vmcs_field_lookup(kvm_vmcs12[i]);
        cr_assert_not_null(f, "0x%04x has no field", kvm_vmcs12[i]);
        cr_assert_eq(f->encoding, kvm_vmcs12[i]);
    }
}

/* The list holds 200 fields: Appendix B with the FRED and IA32_SPEC_CTRL fields. SDM A.9:
 * IA32_VMX_VMCS_ENUM[9:1] reports the highest index of any supported field; with every field
 * present that is 0x29, the injected-event data field (0x2052). Without FRED it would be 0x26
 * (IA32_SPEC_CTRL shadow, 0x204C). */
Test(vmcs_field_list, count_and_highest_index)
{
    cr_assert_eq(LISTED_COUNT, 200);
    cr_assert_eq((size_t)VMCS12_FIELD_COUNT, LISTED_COUNT);
    unsigned highest = 0;
    const char *highest_name = NULL;
    for (unsigned i = 0; i < LISTED_COUNT; i++) {
        if (NVMX_FIELD_INDEX(listed[i].encoding) > highest) {
            highest = NVMX_FIELD_INDEX(listed[i].encoding);
            highest_name = listed[i].name;
        }
    }
    cr_assert_eq(highest, 0x29);
    cr_assert_str_eq(highest_name, "INJECTED_EVENT_DATA");
}

/* Appendix B footnotes: a field's existence depends on a capability of features.h, or on none;
 * the table must hold one of those IDs. */
Test(vmcs_field_list, features_are_valid_ids)
{
    for (unsigned i = 0; i < LISTED_COUNT; i++) {
        unsigned feature = listed[i].feature;
        cr_assert(feature < NVMX_FEATURE_COUNT || feature == NVMX_FEATURE_NONE, "%s: %u",
                  listed[i].name, feature);
        cr_assert_eq(vmcs_field_table[i].feature, feature, "%s", listed[i].name);
    }
}

/* Appendix B: the fields every VMX processor has carry no feature; spot-check both kinds. */
Test(vmcs_field_list, feature_of_well_known_fields)
{
    cr_assert_eq(feature_of("GUEST_RIP"), NVMX_FEATURE_NONE);
    cr_assert_eq(feature_of("TSC_OFFSET"), NVMX_FEATURE_NONE);
    cr_assert_eq(feature_of("EPT_POINTER"), NVMX_FEATURE_EPT);
    cr_assert_eq(feature_of("GUEST_PML_INDEX"), NVMX_FEATURE_PML);
    cr_assert_eq(feature_of("TERTIARY_VM_EXEC_CONTROL"), NVMX_FEATURE_TERTIARY_CONTROLS);
    cr_assert_eq(feature_of("VMX_PREEMPTION_TIMER_VALUE"), NVMX_FEATURE_PREEMPTION_TIMER);
    cr_assert_eq(feature_of("HOST_S_CET"), NVMX_FEATURE_EXIT_LOAD_CET);
    cr_assert_eq(feature_of("GUEST_S_CET"), NVMX_FEATURE_ENTRY_LOAD_CET);
}

/* ---- Exit reasons ---------------------------------------------------------------------- */

/* Appendix C: each listed basic exit reason is named by its list entry. */
Test(exit_reason_name, names_every_listed_reason)
{
#define CHECK_EXIT_REASON(name, number)                                                            \
    cr_assert_str_eq(nvmx_exit_reason_name(number), #name, "reason %u", (unsigned)(number));
    NVMX_EXIT_REASON_LIST(CHECK_EXIT_REASON)
#undef CHECK_EXIT_REASON
}

/* Appendix C, Table C-1: names of well-known reasons. */
Test(exit_reason_name, well_known_names)
{
    cr_assert_str_eq(nvmx_exit_reason_name(0), "EXCEPTION_NMI");
    cr_assert_str_eq(nvmx_exit_reason_name(18), "VMCALL");
    cr_assert_str_eq(nvmx_exit_reason_name(23), "VMREAD");
    cr_assert_str_eq(nvmx_exit_reason_name(33), "ENTRY_FAIL_GUEST_STATE");
    cr_assert_str_eq(nvmx_exit_reason_name(48), "EPT_VIOLATION");
    cr_assert_str_eq(nvmx_exit_reason_name(52), "PREEMPTION_TIMER");
    cr_assert_str_eq(nvmx_exit_reason_name(79), "WRMSRLIST");
}

/* Appendix C: 35, 38, 42 and 71 are the only numbers up to 79 with no exit reason. */
Test(exit_reason_name, null_exactly_for_unused_reasons)
{
    for (unsigned n = 0; n <= 79; n++) {
        bool unused = n == 35 || n == 38 || n == 42 || n == 71;
        if (unused)
            cr_assert_null(nvmx_exit_reason_name(n), "reason %u", n);
        else
            cr_assert_not_null(nvmx_exit_reason_name(n), "reason %u", n);
    }
}

/* Appendix C: numbers past the last defined reason, and full exit-reason values with bit 31
 * (VM-entry failure, SDM 25.9.1) set, are not basic exit reasons. */
Test(exit_reason_name, null_for_out_of_range_numbers)
{
    cr_assert_null(nvmx_exit_reason_name(80));
    cr_assert_null(nvmx_exit_reason_name(0xFFFF));
    cr_assert_null(nvmx_exit_reason_name(NVMX_EXIT_REASON_ENTRY_FAILURE | 33u));
    cr_assert_null(nvmx_exit_reason_name(UINT_MAX));
}

/* ---- VM-instruction errors ------------------------------------------------------------- */

/* SDM 31.4, Table 31-1: each listed error number has its list description. */
Test(vm_instruction_error_str, describes_every_listed_error)
{
#define CHECK_VMERR(name, number, text)                                                            \
    cr_assert_str_eq(nvmx_vm_instruction_error_str(number), text, "error %u", (unsigned)(number));
    NVMX_VM_INSTRUCTION_ERROR_LIST(CHECK_VMERR)
#undef CHECK_VMERR
}

/* SDM 31.4, Table 31-1: well-known descriptions. */
Test(vm_instruction_error_str, well_known_texts)
{
    cr_assert_str_eq(nvmx_vm_instruction_error_str(NVMX_VMERR_VMLAUNCH_NONCLEAR_VMCS),
                     "VMLAUNCH with non-clear VMCS");
    cr_assert_str_eq(nvmx_vm_instruction_error_str(7), "VM entry with invalid control field(s)");
    cr_assert_str_eq(nvmx_vm_instruction_error_str(12),
                     "VMREAD/VMWRITE from/to unsupported VMCS component");
    cr_assert_str_eq(nvmx_vm_instruction_error_str(28), "Invalid operand to INVEPT/INVVPID");
}

/* SDM 31.4, Table 31-1: numbers run from 1 to 28 and 14, 21, 27 are not used. */
Test(vm_instruction_error_str, null_exactly_for_unused_numbers)
{
    cr_assert_null(nvmx_vm_instruction_error_str(0));
    for (unsigned n = 1; n <= 28; n++) {
        bool unused = n == 14 || n == 21 || n == 27;
        if (unused)
            cr_assert_null(nvmx_vm_instruction_error_str(n), "error %u", n);
        else
            cr_assert_not_null(nvmx_vm_instruction_error_str(n), "error %u", n);
    }
}

/* SDM 31.4: nothing past error 28. */
Test(vm_instruction_error_str, null_for_out_of_range_numbers)
{
    cr_assert_null(nvmx_vm_instruction_error_str(29));
    cr_assert_null(nvmx_vm_instruction_error_str(1000));
    cr_assert_null(nvmx_vm_instruction_error_str(UINT_MAX));
}
