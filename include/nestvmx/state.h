/* SPDX-License-Identifier: MIT */
/**
 * @file state.h
 * @brief Nested state of a vCPU as a byte blob: checkpoint, save/restore, migration.
 *
 * The blob holds what the library keeps for a vCPU and what L1 cannot see elsewhere: VMX
 * operation and the VMXON pointer, the current-VMCS pointer, every vmcs12 the vCPU holds (with
 * launch state), whether L2 runs and, then, L2's state as vmcs02 holds it and the event
 * vmcs02's next entry injects, the VMX-preemption timer deadline, a pending MTF VM exit, and
 * the capabilities L1 was given. EPT02 and other derived structures are not saved; they are
 * rebuilt. The layout is docs/STATE-FORMAT.md: versioned, little-endian, CRC-32C checked,
 * made of typed sections so that later versions can add optional ones.
 *
 * What the embedder saves itself, as for any VM: L1's memory, the vCPU's registers (the
 * running guest's: L2's GPRs while L2 runs), and vmcs01 (L1's state while L1 runs; while L2
 * runs, the state an exit to L1 leaves unmodified: EFER, PAT, TSC offset...). Restore order on
 * the destination: create the VM with the capabilities of the blob (nvmx_state_caps() then
 * nvmx_vm_config.pinned_caps), create the vCPU, restore L1's memory, vmcs01 and L0's own part
 * of vmcs02, then nvmx_vcpu_state_restore(), then the registers.
 */
#ifndef NESTVMX_STATE_H
#define NESTVMX_STATE_H

#include "api.h"
#include <stddef.h>
#include <stdint.h>

#include "capabilities.h"
#include "status.h"
#include "vm.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Format version the library writes (major; a reader accepts only its own major). */
#define NVMX_STATE_FORMAT_MAJOR 1u
/** Minor version: adds optional sections only. */
#define NVMX_STATE_FORMAT_MINOR 0u

/**
 * @brief The size of the blob nvmx_vcpu_state_save() would write now.
 * @return NVMX_OK; NVMX_ERR_INVALID_ARGUMENT for NULL.
 */
NVMX_API nvmx_status nvmx_vcpu_state_size(const nvmx_vcpu *vcpu, size_t *size);

/**
 * @brief Write the vCPU's nested state into `buffer`. Changes nothing in the vCPU, L1's memory
 * or the VMCSs (vmcs02 is only read, when L2 runs). Call at an instruction boundary of the
 * running guest, not between an exit and its nvmx_on_*_exit call.
 * @param written out: the bytes written.
 * @return NVMX_OK; NVMX_ERR_BUFFER_TOO_SMALL (*written = the size needed, nothing written);
 *         NVMX_ERR_INVALID_ARGUMENT; NVMX_ERR_UNSUPPORTED when L2 runs and the hardware-VMCS
 *         ops are missing; NVMX_ERR_HOST when one fails.
 */
NVMX_API nvmx_status nvmx_vcpu_state_save(nvmx_vcpu *vcpu, void *buffer, size_t size,
                                          size_t *written);

/**
 * @brief Replace the vCPU's nested state with a blob's. Everything is checked before anything
 * changes: the format (magic, version, sizes, CRC-32C, every section), the capabilities (they
 * must equal the VM's exposed ones: features that differ are logged by name), the consistency
 * of the state (pointers, launch states, a vmcs12 for the current pointer), every vmcs12 field
 * against its width and existence, and, when L2 was running, the VM-entry checks on the vmcs12
 * and on L2's saved state. On failure the vCPU is as before and the log op says why.
 * On success while L2 runs, vmcs02 is rebuilt from the vmcs12 and L2's saved state (L0's own
 * part of vmcs02 must be in place); the vCPU's cached vmcs12s are replaced (not written back:
 * the blob is the truth) and EPT02 is dropped.
 * @return NVMX_OK; NVMX_ERR_BAD_STATE (truncated, corrupted or inconsistent blob);
 *         NVMX_ERR_STATE_VERSION (a format this library cannot read);
 *         NVMX_ERR_INCOMPATIBLE_CAPS (saved under other capabilities); NVMX_ERR_NO_MEMORY;
 *         NVMX_ERR_INVALID_ARGUMENT; NVMX_ERR_UNSUPPORTED / NVMX_ERR_HOST (hardware-VMCS ops
 *         when L2 runs). After NVMX_ERR_HOST the library's state is as before but vmcs02 may
 *         be partly rewritten: the embedder treats it as lost (restore again, or rebuild it
 *         and call nvmx_vcpu_vmcs02_invalidate).
 */
NVMX_API nvmx_status nvmx_vcpu_state_restore(nvmx_vcpu *vcpu, const void *buffer, size_t size);

/**
 * @brief The capabilities a blob was saved under, for creating the destination VM with them
 * (nvmx_vm_config.pinned_caps). Checks the format and checksum first.
 * @return NVMX_OK; NVMX_ERR_BAD_STATE; NVMX_ERR_STATE_VERSION; NVMX_ERR_INVALID_ARGUMENT.
 */
NVMX_API nvmx_status nvmx_state_caps(const void *buffer, size_t size, nvmx_vmx_caps *out);

#ifdef __cplusplus
}
#endif

#endif
