/* SPDX-License-Identifier: MIT */
/**
 * @file capabilities.h
 * @brief The VMX capability set exposed to L1 (IA32_VMX_* MSRs, SDM Vol. 3D Appendix A).
 *
 * Exposed = host capabilities ∩ what the library implements ∩ the embedder's policy.
 */
#ifndef NESTVMX_CAPABILITIES_H
#define NESTVMX_CAPABILITIES_H

#include "api.h"
#include <stdbool.h>
#include <stdint.h>

#include "features.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Values of the VMX capability MSRs. For the control MSRs, bits 31:0 are the
 * allowed-0 settings (a 1 means "must be 1") and bits 63:32 the allowed-1 settings
 * (SDM A.3-A.5); PROCBASED3 and EXIT2 are 64-bit allowed-1 masks (A.3.4, A.4.2).
 */
typedef struct nvmx_vmx_caps {
    uint64_t basic;          /**< IA32_VMX_BASIC (0x480) */
    uint64_t pinbased;       /**< IA32_VMX_PINBASED_CTLS (0x481) */
    uint64_t procbased;      /**< IA32_VMX_PROCBASED_CTLS (0x482) */
    uint64_t exit;           /**< IA32_VMX_EXIT_CTLS (0x483) */
    uint64_t entry;          /**< IA32_VMX_ENTRY_CTLS (0x484) */
    uint64_t misc;           /**< IA32_VMX_MISC (0x485) */
    uint64_t cr0_fixed0;     /**< IA32_VMX_CR0_FIXED0 (0x486) */
    uint64_t cr0_fixed1;     /**< IA32_VMX_CR0_FIXED1 (0x487) */
    uint64_t cr4_fixed0;     /**< IA32_VMX_CR4_FIXED0 (0x488) */
    uint64_t cr4_fixed1;     /**< IA32_VMX_CR4_FIXED1 (0x489) */
    uint64_t vmcs_enum;      /**< IA32_VMX_VMCS_ENUM (0x48A) */
    uint64_t procbased2;     /**< IA32_VMX_PROCBASED_CTLS2 (0x48B) */
    uint64_t ept_vpid_cap;   /**< IA32_VMX_EPT_VPID_CAP (0x48C) */
    uint64_t true_pinbased;  /**< IA32_VMX_TRUE_PINBASED_CTLS (0x48D) */
    uint64_t true_procbased; /**< IA32_VMX_TRUE_PROCBASED_CTLS (0x48E) */
    uint64_t true_exit;      /**< IA32_VMX_TRUE_EXIT_CTLS (0x48F) */
    uint64_t true_entry;     /**< IA32_VMX_TRUE_ENTRY_CTLS (0x490) */
    uint64_t vmfunc;         /**< IA32_VMX_VMFUNC (0x491) */
    uint64_t procbased3;     /**< IA32_VMX_PROCBASED_CTLS3 (0x492) */
    uint64_t exit2;          /**< IA32_VMX_EXIT_CTLS2 (0x493) */
} nvmx_vmx_caps;

struct nvmx_vm;

/**
 * @brief The capabilities of a software CPU that can do everything the SDM defines, for
 * emulator hosts that have no hardware capability MSRs to report: every feature of
 * NVMX_FEATURE_LIST, the library's VMCS revision and region size, WB, TRUE MSRs that let the
 * CR3-load/store-exiting and debug-control default1 bits be 0, 4 CR3-target values,
 * preemption-timer rate 5, CR0 FIXED0 = PE|NE|PG, CR4 FIXED0 = VMXE, every defined CR bit
 * allowed; never IA32_VMX_BASIC[48] or [49]. NULL out is ignored.
 * @param phys_addr_width the physical-address width of that CPU (CPUID 0x80000008 EAX[7:0]).
 *        No capability bit depends on it (a 64-bit CPU never sets IA32_VMX_BASIC[48]).
 */
NVMX_API void nvmx_caps_software_host(nvmx_vmx_caps *out, uint8_t phys_addr_width);

/** @brief The capability set the VM exposes to L1 (all zero if VMX is not exposed). */
NVMX_API void nvmx_vm_get_caps(const struct nvmx_vm *vm, nvmx_vmx_caps *out);

/**
 * @brief Whether the VM exposes a feature to L1.
 *
 * For most features this is the feature's bit (the allowed-1 bit for a control). The four
 * features that name a default1 control (vmx-cr3-load-noexit, vmx-cr3-store-noexit,
 * vmx-exit-nosave-debugctl, vmx-entry-noload-debugctl) mean, as in QEMU, that L1 may *clear*
 * the control: true only if IA32_VMX_BASIC[55] is exposed and the TRUE MSR reports the control
 * as allowed-0 (SDM A.2). Their allowed-1 bit is always set. False for values outside the enum
 * and when VMX is not exposed.
 */
NVMX_API bool nvmx_vm_has_feature(const struct nvmx_vm *vm, nvmx_feature feature);

/** @brief The QEMU-style name of a feature ("vmx-ept"); NULL for values outside the enum. */
NVMX_API const char *nvmx_feature_name(nvmx_feature feature);

/**
 * @brief Look a feature up by its QEMU-style name (exact, case-sensitive match).
 * @return NVMX_OK; NVMX_ERR_UNKNOWN_FEATURE (*out untouched); NVMX_ERR_INVALID_ARGUMENT if
 *         name or out is NULL.
 */
NVMX_API nvmx_status nvmx_feature_from_name(const char *name, nvmx_feature *out);

#ifdef __cplusplus
}
#endif

#endif
