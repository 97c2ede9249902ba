/* SPDX-License-Identifier: MIT */
/**
 * @file vmcs_fields.h
 * @brief VMCS field encodings (SDM Vol. 3D, Appendix B), as one X-macro list.
 *
 * Each entry is X(NAME, encoding, feature): the feature (see features.h) is the capability
 * whose presence makes the field exist (SDM Appendix B footnotes: "exists only on processors
 * that support the 1-setting of ..."); NONE means every VMX processor has it.
 * Width, type and access come from the encoding itself (SDM 25.11.2, "VMREAD, VMWRITE, and
 * Encodings of VMCS Fields"), so they are derived, never listed twice. 64-bit fields are listed
 * once with their full (access type 0) encoding; encoding | 1 is the high-half alias.
 *
 * Groups follow the appendix: B.1 16-bit, B.2 64-bit, B.3 32-bit, B.4 natural width (the width
 * code of bits 14:13 is the section number minus one), each split by type (bits 11:10), in
 * encoding order. Where the SDM makes a field exist with either of two controls, the list
 * names the VM-entry (guest state) or VM-exit (host state) control. Where the capability that
 * makes a field exist has no ID in features.h (FRED, PASID translation, the IA32_SPEC_CTRL
 * load controls), a comment says so and the closest listed feature stands in.
 * Fields that exist only in SEAM VMX root operation (shared-EPT pointer 0x203C, guest KeyID
 * 0x4026) can never be visible to L1 and are not listed.
 */
#ifndef NESTVMX_VMCS_FIELDS_H
#define NESTVMX_VMCS_FIELDS_H

#include <stdint.h>

#include "api.h"
#include "features.h"

#ifdef __cplusplus
extern "C" {
#endif

/* clang-format off */
#define NVMX_VMCS_FIELD_LIST(X)                                                                   \
    /* B.1.1 16-bit control fields */                                                             \
    X(VIRTUAL_PROCESSOR_ID,            0x00000000, VPID)                                          \
    X(POSTED_INTR_NV,                  0x00000002, POSTED_INTERRUPTS)                             \
    X(EPTP_INDEX,                      0x00000004, EPT_VIOLATION_VE)                              \
    X(HLAT_PREFIX_SIZE,                0x00000006, HLAT)                                          \
    X(LAST_PID_POINTER_INDEX,          0x00000008, IPI_VIRT)                                      \
    /* B.1.2 16-bit guest-state fields */                                                         \
    X(GUEST_ES_SELECTOR,               0x00000800, NONE)                                          \
    X(GUEST_CS_SELECTOR,               0x00000802, NONE)                                          \
    X(GUEST_SS_SELECTOR,               0x00000804, NONE)                                          \
    X(GUEST_DS_SELECTOR,               0x00000806, NONE)                                          \
    X(GUEST_FS_SELECTOR,               0x00000808, NONE)                                          \
    X(GUEST_GS_SELECTOR,               0x0000080A, NONE)                                          \
    X(GUEST_LDTR_SELECTOR,             0x0000080C, NONE)                                          \
    X(GUEST_TR_SELECTOR,               0x0000080E, NONE)                                          \
    X(GUEST_INTR_STATUS,               0x00000810, VIRTUAL_INTR_DELIVERY)                         \
    X(GUEST_PML_INDEX,                 0x00000812, PML)                                           \
    /* "clear UINV" VM-exit or "load UINV" VM-entry control: either makes it exist */             \
    X(GUEST_UINV,                      0x00000814, ENTRY_LOAD_UINV)                               \
    /* B.1.3 16-bit host-state fields */                                                          \
    X(HOST_ES_SELECTOR,                0x00000C00, NONE)                                          \
    X(HOST_CS_SELECTOR,                0x00000C02, NONE)                                          \
    X(HOST_SS_SELECTOR,                0x00000C04, NONE)                                          \
    X(HOST_DS_SELECTOR,                0x00000C06, NONE)                                          \
    X(HOST_FS_SELECTOR,                0x00000C08, NONE)                                          \
    X(HOST_GS_SELECTOR,                0x00000C0A, NONE)                                          \
    X(HOST_TR_SELECTOR,                0x00000C0C, NONE)                                          \
    /* B.2.1 64-bit control fields */                                                             \
    X(IO_BITMAP_A,                     0x00002000, NONE)                                          \
    X(IO_BITMAP_B,                     0x00002002, NONE)                                          \
    X(MSR_BITMAP,                      0x00002004, MSR_BITMAPS)                                   \
    X(VM_EXIT_MSR_STORE_ADDR,          0x00002006, NONE)                                          \
    X(VM_EXIT_MSR_LOAD_ADDR,           0x00002008, NONE)                                          \
    X(VM_ENTRY_MSR_LOAD_ADDR,          0x0000200A, NONE)                                          \
    X(EXECUTIVE_VMCS_POINTER,          0x0000200C, NONE)                                          \
    X(PML_ADDRESS,                     0x0000200E, PML)                                           \
    X(TSC_OFFSET,                      0x00002010, NONE)                                          \
    X(VIRTUAL_APIC_PAGE_ADDR,          0x00002012, TPR_SHADOW)                                    \
    X(APIC_ACCESS_ADDR,                0x00002014, VIRTUALIZE_APIC_ACCESSES)                      \
    X(POSTED_INTR_DESC_ADDR,           0x00002016, POSTED_INTERRUPTS)                             \
    X(VM_FUNCTION_CONTROL,             0x00002018, ENABLE_VMFUNC)                                 \
    X(EPT_POINTER,                     0x0000201A, EPT)                                           \
    X(EOI_EXIT_BITMAP0,                0x0000201C, VIRTUAL_INTR_DELIVERY)                         \
    X(EOI_EXIT_BITMAP1,                0x0000201E, VIRTUAL_INTR_DELIVERY)                         \
    X(EOI_EXIT_BITMAP2,                0x00002020, VIRTUAL_INTR_DELIVERY)                         \
    X(EOI_EXIT_BITMAP3,                0x00002022, VIRTUAL_INTR_DELIVERY)                         \
    X(EPTP_LIST_ADDRESS,               0x00002024, EPTP_SWITCHING)                                \
    X(VMREAD_BITMAP,                   0x00002026, SHADOW_VMCS)                                   \
    X(VMWRITE_BITMAP,                  0x00002028, SHADOW_VMCS)                                   \
    X(VE_INFORMATION_ADDRESS,          0x0000202A, EPT_VIOLATION_VE)                              \
    X(XSS_EXIT_BITMAP,                 0x0000202C, XSAVES)                                        \
    X(ENCLS_EXITING_BITMAP,            0x0000202E, ENCLS_EXITING)                                 \
    X(SPPT_POINTER,                    0x00002030, SUBPAGE_WRITE)                                 \
    X(TSC_MULTIPLIER,                  0x00002032, TSC_SCALING)                                   \
    X(TERTIARY_VM_EXEC_CONTROL,        0x00002034, TERTIARY_CONTROLS)                             \
    X(ENCLV_EXITING_BITMAP,            0x00002036, ENCLV_EXITING)                                 \
    /* "PASID translation" (secondary bit 21) is not in features.h: its control word stands in */ \
    X(LOW_PASID_DIRECTORY_ADDR,        0x00002038, SECONDARY_CONTROLS)                            \
    X(HIGH_PASID_DIRECTORY_ADDR,       0x0000203A, SECONDARY_CONTROLS)                            \
    /* 0x203C (shared-EPT pointer) exists only in SEAM VMX root operation: not listed */          \
    X(PCONFIG_EXITING_BITMAP,          0x0000203E, PCONFIG)                                       \
    X(HLAT_POINTER,                    0x00002040, HLAT)                                          \
    X(PID_POINTER_TABLE,               0x00002042, IPI_VIRT)                                      \
    X(SECONDARY_VM_EXIT_CONTROLS,      0x00002044, SECONDARY_EXIT_CONTROLS)                       \
    X(IA32_SPEC_CTRL_MASK,             0x0000204A, VIRT_IA32_SPEC_CTRL)                           \
    X(IA32_SPEC_CTRL_SHADOW,           0x0000204C, VIRT_IA32_SPEC_CTRL)                           \
    /* FRED (CPUID.(EAX=7,ECX=1):EAX[17]) is not in features.h; FRED's VMX controls are the */    \
    /* "load FRED" VM-entry and secondary VM-exit controls, so those controls stand in */         \
    X(INJECTED_EVENT_DATA,             0x00002052, SECONDARY_EXIT_CONTROLS)                       \
    /* B.2.2 64-bit read-only data fields */                                                      \
    X(GUEST_PHYSICAL_ADDRESS,          0x00002400, EPT)                                           \
    /* FRED event data of the event that caused the exit; same stand-in as above */               \
    X(ORIGINAL_EVENT_DATA,             0x00002404, SECONDARY_EXIT_CONTROLS)                       \
    /* B.2.3 64-bit guest-state fields. MSR fields exist with the "load" VM-entry control or */   \
    /* the matching "save"/"clear" VM-exit control; the VM-entry control is listed */             \
    X(VMCS_LINK_POINTER,               0x00002800, NONE)                                          \
    X(GUEST_IA32_DEBUGCTL,             0x00002802, NONE)                                          \
    X(GUEST_IA32_PAT,                  0x00002804, ENTRY_LOAD_PAT)                                \
    X(GUEST_IA32_EFER,                 0x00002806, ENTRY_LOAD_EFER)                               \
    X(GUEST_IA32_PERF_GLOBAL_CTRL,     0x00002808, ENTRY_LOAD_PERF_GLOBAL)                        \
    X(GUEST_PDPTR0,                    0x0000280A, EPT)                                           \
    X(GUEST_PDPTR1,                    0x0000280C, EPT)                                           \
    X(GUEST_PDPTR2,                    0x0000280E, EPT)                                           \
    X(GUEST_PDPTR3,                    0x00002810, EPT)                                           \
    X(GUEST_BNDCFGS,                   0x00002812, ENTRY_LOAD_BNDCFGS)                            \
    X(GUEST_IA32_RTIT_CTL,             0x00002814, ENTRY_LOAD_RTIT_CTL)                           \
    X(GUEST_IA32_LBR_CTL,              0x00002816, ENTRY_LOAD_LBR_CTL)                            \
    X(GUEST_IA32_PKRS,                 0x00002818, ENTRY_LOAD_PKRS)                               \
    /* "load FRED" VM-entry control (bit 23) is not in features.h: see INJECTED_EVENT_DATA */     \
    X(GUEST_IA32_FRED_CONFIG,          0x0000281A, SECONDARY_EXIT_CONTROLS)                       \
    X(GUEST_IA32_FRED_RSP1,            0x0000281C, SECONDARY_EXIT_CONTROLS)                       \
    X(GUEST_IA32_FRED_RSP2,            0x0000281E, SECONDARY_EXIT_CONTROLS)                       \
    X(GUEST_IA32_FRED_RSP3,            0x00002820, SECONDARY_EXIT_CONTROLS)                       \
    X(GUEST_IA32_FRED_STKLVLS,         0x00002822, SECONDARY_EXIT_CONTROLS)                       \
    X(GUEST_IA32_FRED_SSP1,            0x00002824, SECONDARY_EXIT_CONTROLS)                       \
    X(GUEST_IA32_FRED_SSP2,            0x00002826, SECONDARY_EXIT_CONTROLS)                       \
    X(GUEST_IA32_FRED_SSP3,            0x00002828, SECONDARY_EXIT_CONTROLS)                       \
    /* "load guest IA32_SPEC_CTRL" VM-entry control (bit 24) is not in features.h */              \
    X(GUEST_IA32_SPEC_CTRL,            0x0000282E, VIRT_IA32_SPEC_CTRL)                           \
    /* B.2.4 64-bit host-state fields */                                                          \
    X(HOST_IA32_PAT,                   0x00002C00, EXIT_LOAD_PAT)                                 \
    X(HOST_IA32_EFER,                  0x00002C02, EXIT_LOAD_EFER)                                \
    X(HOST_IA32_PERF_GLOBAL_CTRL,      0x00002C04, EXIT_LOAD_PERF_GLOBAL)                         \
    X(HOST_IA32_PKRS,                  0x00002C06, EXIT_LOAD_PKRS)                                \
    /* "load FRED" secondary VM-exit control (bit 1) is not in features.h */                      \
    X(HOST_IA32_FRED_CONFIG,           0x00002C08, SECONDARY_EXIT_CONTROLS)                       \
    X(HOST_IA32_FRED_RSP1,             0x00002C0A, SECONDARY_EXIT_CONTROLS)                       \
    X(HOST_IA32_FRED_RSP2,             0x00002C0C, SECONDARY_EXIT_CONTROLS)                       \
    X(HOST_IA32_FRED_RSP3,             0x00002C0E, SECONDARY_EXIT_CONTROLS)                       \
    X(HOST_IA32_FRED_STKLVLS,          0x00002C10, SECONDARY_EXIT_CONTROLS)                       \
    X(HOST_IA32_FRED_SSP1,             0x00002C12, SECONDARY_EXIT_CONTROLS)                       \
    X(HOST_IA32_FRED_SSP2,             0x00002C14, SECONDARY_EXIT_CONTROLS)                       \
    X(HOST_IA32_FRED_SSP3,             0x00002C16, SECONDARY_EXIT_CONTROLS)                       \
    /* "load host IA32_SPEC_CTRL" secondary VM-exit control (bit 2) is not in features.h */       \
    X(HOST_IA32_SPEC_CTRL,             0x00002C1A, VIRT_IA32_SPEC_CTRL)                           \
    /* B.3.1 32-bit control fields */                                                             \
    X(PIN_BASED_VM_EXEC_CONTROL,       0x00004000, NONE)                                          \
    X(CPU_BASED_VM_EXEC_CONTROL,       0x00004002, NONE)                                          \
    X(EXCEPTION_BITMAP,                0x00004004, NONE)                                          \
    X(PAGE_FAULT_ERROR_CODE_MASK,      0x00004006, NONE)                                          \
    X(PAGE_FAULT_ERROR_CODE_MATCH,     0x00004008, NONE)                                          \
    X(CR3_TARGET_COUNT,                0x0000400A, NONE)                                          \
    X(VM_EXIT_CONTROLS,                0x0000400C, NONE)                                          \
    X(VM_EXIT_MSR_STORE_COUNT,         0x0000400E, NONE)                                          \
    X(VM_EXIT_MSR_LOAD_COUNT,          0x00004010, NONE)                                          \
    X(VM_ENTRY_CONTROLS,               0x00004012, NONE)                                          \
    X(VM_ENTRY_MSR_LOAD_COUNT,         0x00004014, NONE)                                          \
    X(VM_ENTRY_INTR_INFO_FIELD,        0x00004016, NONE)                                          \
    X(VM_ENTRY_EXCEPTION_ERROR_CODE,   0x00004018, NONE)                                          \
    X(VM_ENTRY_INSTRUCTION_LEN,        0x0000401A, NONE)                                          \
    X(TPR_THRESHOLD,                   0x0000401C, TPR_SHADOW)                                    \
    X(SECONDARY_VM_EXEC_CONTROL,       0x0000401E, SECONDARY_CONTROLS)                            \
    X(PLE_GAP,                         0x00004020, PAUSE_LOOP_EXITING)                            \
    X(PLE_WINDOW,                      0x00004022, PAUSE_LOOP_EXITING)                            \
    /* Instruction-timeout control (KVM: NOTIFY_WINDOW) */                                        \
    X(INSTRUCTION_TIMEOUT_CONTROL,     0x00004024, INSTRUCTION_TIMEOUT)                           \
    /* 0x4026 (guest KeyID) exists only in SEAM VMX root operation: not listed */                 \
    /* B.3.2 32-bit read-only data fields */                                                      \
    X(VM_INSTRUCTION_ERROR,            0x00004400, NONE)                                          \
    X(VM_EXIT_REASON,                  0x00004402, NONE)                                          \
    X(VM_EXIT_INTR_INFO,               0x00004404, NONE)                                          \
    X(VM_EXIT_INTR_ERROR_CODE,         0x00004406, NONE)                                          \
    X(IDT_VECTORING_INFO_FIELD,        0x00004408, NONE)                                          \
    X(IDT_VECTORING_ERROR_CODE,        0x0000440A, NONE)                                          \
    X(VM_EXIT_INSTRUCTION_LEN,         0x0000440C, NONE)                                          \
    X(VMX_INSTRUCTION_INFO,            0x0000440E, NONE)                                          \
    /* B.3.3 32-bit guest-state fields */                                                         \
    X(GUEST_ES_LIMIT,                  0x00004800, NONE)                                          \
    X(GUEST_CS_LIMIT,                  0x00004802, NONE)                                          \
    X(GUEST_SS_LIMIT,                  0x00004804, NONE)                                          \
    X(GUEST_DS_LIMIT,                  0x00004806, NONE)                                          \
    X(GUEST_FS_LIMIT,                  0x00004808, NONE)                                          \
    X(GUEST_GS_LIMIT,                  0x0000480A, NONE)                                          \
    X(GUEST_LDTR_LIMIT,                0x0000480C, NONE)                                          \
    X(GUEST_TR_LIMIT,                  0x0000480E, NONE)                                          \
    X(GUEST_GDTR_LIMIT,                0x00004810, NONE)                                          \
    X(GUEST_IDTR_LIMIT,                0x00004812, NONE)                                          \
    X(GUEST_ES_AR_BYTES,               0x00004814, NONE)                                          \
    X(GUEST_CS_AR_BYTES,               0x00004816, NONE)                                          \
    X(GUEST_SS_AR_BYTES,               0x00004818, NONE)                                          \
    X(GUEST_DS_AR_BYTES,               0x0000481A, NONE)                                          \
    X(GUEST_FS_AR_BYTES,               0x0000481C, NONE)                                          \
    X(GUEST_GS_AR_BYTES,               0x0000481E, NONE)                                          \
    X(GUEST_LDTR_AR_BYTES,             0x00004820, NONE)                                          \
    X(GUEST_TR_AR_BYTES,               0x00004822, NONE)                                          \
    X(GUEST_INTERRUPTIBILITY_INFO,     0x00004824, NONE)                                          \
    X(GUEST_ACTIVITY_STATE,            0x00004826, NONE)                                          \
    X(GUEST_SMBASE,                    0x00004828, NONE)                                          \
    X(GUEST_SYSENTER_CS,               0x0000482A, NONE)                                          \
    X(VMX_PREEMPTION_TIMER_VALUE,      0x0000482E, PREEMPTION_TIMER)                              \
    /* B.3.4 32-bit host-state field */                                                           \
    X(HOST_IA32_SYSENTER_CS,           0x00004C00, NONE)                                          \
    /* B.4.1 natural-width control fields */                                                      \
    X(CR0_GUEST_HOST_MASK,             0x00006000, NONE)                                          \
    X(CR4_GUEST_HOST_MASK,             0x00006002, NONE)                                          \
    X(CR0_READ_SHADOW,                 0x00006004, NONE)                                          \
    X(CR4_READ_SHADOW,                 0x00006006, NONE)                                          \
    X(CR3_TARGET_VALUE0,               0x00006008, NONE)                                          \
    X(CR3_TARGET_VALUE1,               0x0000600A, NONE)                                          \
    X(CR3_TARGET_VALUE2,               0x0000600C, NONE)                                          \
    X(CR3_TARGET_VALUE3,               0x0000600E, NONE)                                          \
    /* B.4.2 natural-width read-only data fields */                                               \
    X(EXIT_QUALIFICATION,              0x00006400, NONE)                                          \
    X(IO_RCX,                          0x00006402, NONE)                                          \
    X(IO_RSI,                          0x00006404, NONE)                                          \
    X(IO_RDI,                          0x00006406, NONE)                                          \
    X(IO_RIP,                          0x00006408, NONE)                                          \
    X(GUEST_LINEAR_ADDRESS,            0x0000640A, NONE)                                          \
    /* B.4.3 natural-width guest-state fields */                                                  \
    X(GUEST_CR0,                       0x00006800, NONE)                                          \
    X(GUEST_CR3,                       0x00006802, NONE)                                          \
    X(GUEST_CR4,                       0x00006804, NONE)                                          \
    X(GUEST_ES_BASE,                   0x00006806, NONE)                                          \
    X(GUEST_CS_BASE,                   0x00006808, NONE)                                          \
    X(GUEST_SS_BASE,                   0x0000680A, NONE)                                          \
    X(GUEST_DS_BASE,                   0x0000680C, NONE)                                          \
    X(GUEST_FS_BASE,                   0x0000680E, NONE)                                          \
    X(GUEST_GS_BASE,                   0x00006810, NONE)                                          \
    X(GUEST_LDTR_BASE,                 0x00006812, NONE)                                          \
    X(GUEST_TR_BASE,                   0x00006814, NONE)                                          \
    X(GUEST_GDTR_BASE,                 0x00006816, NONE)                                          \
    X(GUEST_IDTR_BASE,                 0x00006818, NONE)                                          \
    X(GUEST_DR7,                       0x0000681A, NONE)                                          \
    X(GUEST_RSP,                       0x0000681C, NONE)                                          \
    X(GUEST_RIP,                       0x0000681E, NONE)                                          \
    X(GUEST_RFLAGS,                    0x00006820, NONE)                                          \
    X(GUEST_PENDING_DBG_EXCEPTIONS,    0x00006822, NONE)                                          \
    X(GUEST_SYSENTER_ESP,              0x00006824, NONE)                                          \
    X(GUEST_SYSENTER_EIP,              0x00006826, NONE)                                          \
    X(GUEST_S_CET,                     0x00006828, ENTRY_LOAD_CET)                                \
    X(GUEST_SSP,                       0x0000682A, ENTRY_LOAD_CET)                                \
    X(GUEST_INTR_SSP_TABLE,            0x0000682C, ENTRY_LOAD_CET)                                \
    /* B.4.4 natural-width host-state fields */                                                   \
    X(HOST_CR0,                        0x00006C00, NONE)                                          \
    X(HOST_CR3,                        0x00006C02, NONE)                                          \
    X(HOST_CR4,                        0x00006C04, NONE)                                          \
    X(HOST_FS_BASE,                    0x00006C06, NONE)                                          \
    X(HOST_GS_BASE,                    0x00006C08, NONE)                                          \
    X(HOST_TR_BASE,                    0x00006C0A, NONE)                                          \
    X(HOST_GDTR_BASE,                  0x00006C0C, NONE)                                          \
    X(HOST_IDTR_BASE,                  0x00006C0E, NONE)                                          \
    X(HOST_IA32_SYSENTER_ESP,          0x00006C10, NONE)                                          \
    X(HOST_IA32_SYSENTER_EIP,          0x00006C12, NONE)                                          \
    X(HOST_RSP,                        0x00006C14, NONE)                                          \
    X(HOST_RIP,                        0x00006C16, NONE)                                          \
    X(HOST_S_CET,                      0x00006C18, EXIT_LOAD_CET)                                 \
    X(HOST_SSP,                        0x00006C1A, EXIT_LOAD_CET)                                 \
    X(HOST_INTR_SSP_TABLE,             0x00006C1C, EXIT_LOAD_CET)
/* clang-format on */

/** @brief Field encodings, named NVMX_FIELD_<NAME>. */
typedef enum nvmx_vmcs_field {
#define NVMX_VMCS_FIELD_ENUM(name, enc, feature) NVMX_FIELD_##name = enc,
    NVMX_VMCS_FIELD_LIST(NVMX_VMCS_FIELD_ENUM)
#undef NVMX_VMCS_FIELD_ENUM
} nvmx_vmcs_field;

/** @brief Field width, encoding bits 14:13 (SDM 25.11.2). */
typedef enum nvmx_field_width {
    NVMX_WIDTH_16 = 0,
    NVMX_WIDTH_64 = 1,
    NVMX_WIDTH_32 = 2,
    NVMX_WIDTH_NATURAL = 3
} nvmx_field_width;

/** @brief Field type, encoding bits 11:10 (SDM 25.11.2). */
typedef enum nvmx_field_type {
    NVMX_FIELD_TYPE_CONTROL = 0,
    NVMX_FIELD_TYPE_READ_ONLY_DATA = 1, /**< VM-exit information: read-only unless MISC bit 29 */
    NVMX_FIELD_TYPE_GUEST = 2,
    NVMX_FIELD_TYPE_HOST = 3
} nvmx_field_type;

/** Width of an encoding (bits 14:13). */
#define NVMX_FIELD_WIDTH(enc) ((nvmx_field_width)(((enc) >> 13) & 3u))
/** Type of an encoding (bits 11:10). */
#define NVMX_FIELD_TYPE(enc) ((nvmx_field_type)(((enc) >> 10) & 3u))
/** Index of an encoding (bits 9:1), the value IA32_VMX_VMCS_ENUM reports the maximum of. */
#define NVMX_FIELD_INDEX(enc) (((enc) >> 1) & 0x1FFu)
/** Access type (bit 0): 1 selects the high 32 bits of a 64-bit field. */
#define NVMX_FIELD_HIGH_ACCESS(enc) ((enc)&1u)
/** The bits a field of this encoding holds (SDM 25.11.2): 16, 32, or 64 for 64-bit and
 * natural-width fields (the library models a 64-bit processor). VMWRITE keeps only these. */
#define NVMX_FIELD_WIDTH_MASK(enc)                                                                 \
    (NVMX_FIELD_WIDTH(enc) == NVMX_WIDTH_16   ? 0xFFFFull                                          \
     : NVMX_FIELD_WIDTH(enc) == NVMX_WIDTH_32 ? 0xFFFFFFFFull                                      \
                                              : ~0ull)
/** Bits that are reserved in an encoding (63:15 and 12): set means "no such field". */
#define NVMX_FIELD_RESERVED_MASK (~(uint64_t)0x6FFF)

/** @brief Number of fields in NVMX_VMCS_FIELD_LIST. */
NVMX_API unsigned nvmx_vmcs_field_count(void);

/**
 * @brief A dense index (0 .. nvmx_vmcs_field_count() - 1) for a field encoding, so an emulator
 * can keep vmcs01 and vmcs02 as plain arrays behind the hw_vmcs ops. The high-access encoding of
 * a 64-bit field gives its field's index.
 * @return the index, or -1 when the encoding names no field of the list.
 */
NVMX_API int nvmx_vmcs_field_index(uint64_t encoding);

#ifdef __cplusplus
}
#endif

#endif
