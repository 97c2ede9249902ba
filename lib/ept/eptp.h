/* SPDX-License-Identifier: MIT */
/*
 * The EPT pointer (SDM Vol. 3C 25.6.11, Table 25-9) and what makes one valid for L1, against
 * the capabilities the VM exposes (IA32_VMX_EPT_VPID_CAP, SDM A.10). One set of rules for the
 * VM-entry checks (27.2.1.1), EPTP switching (26.5.6.3) and INVEPT.
 */
#ifndef NESTVMX_LIB_EPT_EPTP_H
#define NESTVMX_LIB_EPT_EPTP_H

#include "../internal.h"

#define EPTP_MEMTYPE_MASK 0x7ull
#define EPTP_WALK_SHIFT 3u
#define EPTP_WALK_MASK (0x7ull << EPTP_WALK_SHIFT) /* page-walk length minus 1 */
#define EPTP_ACCESSED_DIRTY (1ull << 6)
#define EPTP_SUPERVISOR_SHADOW_STACK (1ull << 7)
#define EPTP_RESERVED_LOW (0xFull << 8) /* bits 11:8 */

/* Bits 2:0: UC (0) with EPT_VPID_CAP[8] or WB (6) with [14]; other types are reserved. */
bool eptp_memory_type_supported(const nvmx_vm *vm, uint64_t eptp);
/* Bits 5:3: 3 (4-level) with EPT_VPID_CAP[6] or 4 (5-level) with [7]. */
bool eptp_walk_length_supported(const nvmx_vm *vm, uint64_t eptp);
/* Bit 6 (accessed/dirty flags) only with EPT_VPID_CAP[21]. */
bool eptp_accessed_dirty_allowed(const nvmx_vm *vm, uint64_t eptp);
/* Bit 7 (supervisor shadow-stack control) only with EPT_VPID_CAP[23]. */
bool eptp_shadow_stack_allowed(const nvmx_vm *vm, uint64_t eptp);
/* Bits 11:8 and those beyond L1's physical-address width are 0. */
bool eptp_reserved_bits_clear(const nvmx_vm *vm, uint64_t eptp);
/* All of the above. */
bool eptp_valid(const nvmx_vm *vm, uint64_t eptp);

#endif
