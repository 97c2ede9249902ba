/* SPDX-License-Identifier: MIT */
/**
 * @file vm_instruction_errors.h
 * @brief VM-instruction error numbers (SDM Vol. 3C 31.4, Table 31-1).
 */
#ifndef NESTVMX_VM_INSTRUCTION_ERRORS_H
#define NESTVMX_VM_INSTRUCTION_ERRORS_H

#include "api.h"
#ifdef __cplusplus
extern "C" {
#endif

/* clang-format off */
/** X-macro list: X(NAME, number, "SDM description"). 14, 21 and 27 are not used by the SDM. */
#define NVMX_VM_INSTRUCTION_ERROR_LIST(X)                                                         \
    X(VMCALL_IN_ROOT,                1,  "VMCALL executed in VMX root operation")                 \
    X(VMCLEAR_INVALID_ADDRESS,       2,  "VMCLEAR with invalid physical address")                 \
    X(VMCLEAR_VMXON_POINTER,         3,  "VMCLEAR with VMXON pointer")                            \
    X(VMLAUNCH_NONCLEAR_VMCS,        4,  "VMLAUNCH with non-clear VMCS")                          \
    X(VMRESUME_NONLAUNCHED_VMCS,     5,  "VMRESUME with non-launched VMCS")                       \
    X(VMRESUME_AFTER_VMXOFF,         6,  "VMRESUME after VMXOFF")                                 \
    X(ENTRY_INVALID_CONTROL_FIELD,   7,  "VM entry with invalid control field(s)")                \
    X(ENTRY_INVALID_HOST_STATE,      8,  "VM entry with invalid host-state field(s)")             \
    X(VMPTRLD_INVALID_ADDRESS,       9,  "VMPTRLD with invalid physical address")                 \
    X(VMPTRLD_VMXON_POINTER,         10, "VMPTRLD with VMXON pointer")                            \
    X(VMPTRLD_INCORRECT_REVISION,    11, "VMPTRLD with incorrect VMCS revision identifier")       \
    X(UNSUPPORTED_VMCS_COMPONENT,    12, "VMREAD/VMWRITE from/to unsupported VMCS component")     \
    X(VMWRITE_READ_ONLY_COMPONENT,   13, "VMWRITE to read-only VMCS component")                   \
    X(VMXON_IN_ROOT,                 15, "VMXON executed in VMX root operation")                  \
    X(ENTRY_INVALID_EXECUTIVE_VMCS,  16, "VM entry with invalid executive-VMCS pointer")          \
    X(ENTRY_NONLAUNCHED_EXECUTIVE,   17, "VM entry with non-launched executive VMCS")             \
    X(ENTRY_EXECUTIVE_NOT_VMXON,     18, "VM entry with executive-VMCS pointer not VMXON pointer") \
    X(VMCALL_NONCLEAR_VMCS,          19, "VMCALL with non-clear VMCS")                            \
    X(VMCALL_INVALID_EXIT_CONTROLS,  20, "VMCALL with invalid VM-exit control fields")            \
    X(VMCALL_INCORRECT_MSEG_REVISION, 22, "VMCALL with incorrect MSEG revision identifier")       \
    X(VMXOFF_DUAL_MONITOR,           23, "VMXOFF under dual-monitor treatment of SMIs and SMM")   \
    X(VMCALL_INVALID_SMM_FEATURES,   24, "VMCALL with invalid SMM-monitor features")              \
    X(ENTRY_INVALID_EXECUTIVE_CONTROLS, 25, "VM entry with invalid VM-execution control fields in executive VMCS") \
    X(ENTRY_EVENTS_BLOCKED_BY_MOV_SS, 26, "VM entry with events blocked by MOV SS")               \
    X(INVALID_INVEPT_INVVPID_OPERAND, 28, "Invalid operand to INVEPT/INVVPID")
/* clang-format on */

/** @brief VM-instruction error numbers, named NVMX_VMERR_<NAME>. */
enum nvmx_vm_instruction_error {
#define NVMX_VMERR_ENUM(name, number, text) NVMX_VMERR_##name = number,
    NVMX_VM_INSTRUCTION_ERROR_LIST(NVMX_VMERR_ENUM)
#undef NVMX_VMERR_ENUM
};

/** @brief The SDM description of an error number; NULL if the number is not in the table. */
NVMX_API const char *nvmx_vm_instruction_error_str(unsigned number);

#ifdef __cplusplus
}
#endif

#endif
