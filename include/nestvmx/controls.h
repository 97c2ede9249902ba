/* SPDX-License-Identifier: MIT */
/**
 * @file controls.h
 * @brief Bits of the VMX control fields (SDM Vol. 3C 25.6-25.8).
 *
 * Named control bits are the features of features.h: NVMX_CTL(EPT) is bit 1 of the secondary
 * processor-based controls because the feature list says so; nothing here repeats a bit
 * number. The "default1" masks are the reserved bits a processor without TRUE capability
 * MSRs reports as must-be-1 (SDM A.2, "Reserved Controls and Default Settings").
 */
#ifndef NESTVMX_CONTROLS_H
#define NESTVMX_CONTROLS_H

#include <stdint.h>

#include "features.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Bit positions of features inside their capability register. */
enum nvmx_feature_bit {
#define NVMX_FEATURE_BIT_ENUM(id, name, reg, bit) NVMX_FEATURE_BIT_##id = bit,
    NVMX_FEATURE_LIST(NVMX_FEATURE_BIT_ENUM)
#undef NVMX_FEATURE_BIT_ENUM
};

/** The mask of a feature's bit in its control field or capability MSR: NVMX_CTL(EPT). */
#define NVMX_CTL(id) (1ull << NVMX_FEATURE_BIT_##id)

/** Pin-based controls reserved as 1 (SDM A.3.1): bits 1, 2, 4. */
#define NVMX_PINBASED_DEFAULT1 0x00000016u
/** Primary processor-based controls reserved as 1 (A.3.2): bits 1, 4-6, 8, 13-16, 26. */
#define NVMX_PROCBASED_DEFAULT1 0x0401E172u
/** Primary VM-exit controls reserved as 1 (A.4.1): bits 0-8, 10, 11, 13, 14, 16, 17. */
#define NVMX_EXIT_DEFAULT1 0x00036DFFu
/** VM-entry controls reserved as 1 (A.5): bits 0-8, 12. */
#define NVMX_ENTRY_DEFAULT1 0x000011FFu

/** IA32_VMX_BASIC fields (SDM A.1). */
#define NVMX_BASIC_REVISION_MASK 0x7FFFFFFFull
#define NVMX_BASIC_REGION_SIZE_SHIFT 32
#define NVMX_BASIC_REGION_SIZE_MASK (0x1FFFull << NVMX_BASIC_REGION_SIZE_SHIFT)
#define NVMX_BASIC_32BIT_ADDRESSES (1ull << 48)
#define NVMX_BASIC_DUAL_MONITOR (1ull << 49)
#define NVMX_BASIC_MEMTYPE_SHIFT 50
#define NVMX_BASIC_MEMTYPE_WB (6ull << NVMX_BASIC_MEMTYPE_SHIFT)
#define NVMX_BASIC_NO_HW_ERROR_CODE_CHECK (1ull << 56)

/** RFLAGS bits the VMX instructions report through (SDM 31.2, "Conventions"). */
#define NVMX_RFLAGS_CF (1ull << 0)
#define NVMX_RFLAGS_PF (1ull << 2)
#define NVMX_RFLAGS_AF (1ull << 4)
#define NVMX_RFLAGS_ZF (1ull << 6)
#define NVMX_RFLAGS_SF (1ull << 7)
#define NVMX_RFLAGS_TF (1ull << 8)
#define NVMX_RFLAGS_OF (1ull << 11)
#define NVMX_RFLAGS_RF (1ull << 16)
#define NVMX_RFLAGS_VM (1ull << 17)
/** The six arithmetic flags VMsucceed/VMfail define. */
#define NVMX_RFLAGS_ARITH                                                                          \
    (NVMX_RFLAGS_CF | NVMX_RFLAGS_PF | NVMX_RFLAGS_AF | NVMX_RFLAGS_ZF | NVMX_RFLAGS_SF |          \
     NVMX_RFLAGS_OF)

/** Control-register and EFER bits the VMX rules look at. */
#define NVMX_CR0_PE (1ull << 0)
#define NVMX_CR0_NE (1ull << 5)
#define NVMX_CR0_PG (1ull << 31)
#define NVMX_CR4_PAE (1ull << 5)
#define NVMX_CR4_VMXE (1ull << 13)
#define NVMX_EFER_LME (1ull << 8)
#define NVMX_EFER_LMA (1ull << 10)

/** Segment access-rights bits in the VMCS format (SDM 25.4.1, Table 25-2). */
#define NVMX_AR_TYPE_MASK 0xFu
#define NVMX_AR_S (1u << 4)
#define NVMX_AR_DPL_SHIFT 5
#define NVMX_AR_DPL_MASK (3u << NVMX_AR_DPL_SHIFT)
#define NVMX_AR_P (1u << 7)
#define NVMX_AR_L (1u << 13)
#define NVMX_AR_DB (1u << 14)
#define NVMX_AR_G (1u << 15)
#define NVMX_AR_UNUSABLE (1u << 16)

/** Exception vectors the VMX instructions raise. */
#define NVMX_VECTOR_DB 1
#define NVMX_VECTOR_UD 6
#define NVMX_VECTOR_SS 12
#define NVMX_VECTOR_GP 13
#define NVMX_VECTOR_PF 14

#ifdef __cplusplus
}
#endif

#endif
