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
 */
#ifndef NESTVMX_VMCS_FIELDS_H
#define NESTVMX_VMCS_FIELDS_H

#include <stdint.h>

#include "features.h"

#ifdef __cplusplus
extern "C" {
#endif

/* clang-format off */
#define NVMX_VMCS_FIELD_LIST(X)                                              \
    /* B.1.1 16-bit control fields */                                        \
    X(VIRTUAL_PROCESSOR_ID,            0x00000000, VPID)                     \
    /* B.2.1 64-bit control fields */                                        \
    X(IO_BITMAP_A,                     0x00002000, NONE)                     \
    X(IO_BITMAP_B,                     0x00002002, NONE)                     \
    X(MSR_BITMAP,                      0x00002004, MSR_BITMAPS)              \
    X(EPT_POINTER,                     0x0000201A, EPT)                      \
    X(VMREAD_BITMAP,                   0x00002026, SHADOW_VMCS)              \
    X(VMWRITE_BITMAP,                  0x00002028, SHADOW_VMCS)              \
    /* B.2.3 64-bit guest-state fields */                                    \
    X(VMCS_LINK_POINTER,               0x00002800, NONE)                     \
    /* B.3.1 32-bit control fields */                                        \
    X(PIN_BASED_VM_EXEC_CONTROL,       0x00004000, NONE)                     \
    X(CPU_BASED_VM_EXEC_CONTROL,       0x00004002, NONE)                     \
    X(EXCEPTION_BITMAP,                0x00004004, NONE)                     \
    X(SECONDARY_VM_EXEC_CONTROL,       0x0000401E, SECONDARY_CONTROLS)       \
    /* B.3.2 32-bit read-only data fields */                                 \
    X(VM_INSTRUCTION_ERROR,            0x00004400, NONE)                     \
    X(VM_EXIT_REASON,                  0x00004402, NONE)                     \
    X(VM_EXIT_INSTRUCTION_LEN,         0x0000440C, NONE)                     \
    X(VMX_INSTRUCTION_INFO,            0x0000440E, NONE)                     \
    /* B.3.3 32-bit guest-state fields */                                    \
    X(GUEST_ES_LIMIT,                  0x00004800, NONE)                     \
    /* B.4.2 natural-width read-only data fields */                          \
    X(EXIT_QUALIFICATION,              0x00006400, NONE)                     \
    /* B.4.3 natural-width guest-state fields */                             \
    X(GUEST_CR0,                       0x00006800, NONE)                     \
    X(GUEST_RIP,                       0x0000681E, NONE)                     \
    /* B.4.4 natural-width host-state fields */                              \
    X(HOST_CR0,                        0x00006C00, NONE)
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
#define NVMX_FIELD_HIGH_ACCESS(enc) ((enc) & 1u)
/** Bits that are reserved in an encoding (63:15 and 12): set means "no such field". */
#define NVMX_FIELD_RESERVED_MASK (~(uint64_t)0x6FFF)

#ifdef __cplusplus
}
#endif

#endif
