/* SPDX-License-Identifier: MIT */
/**
 * @file controls.h
 * @brief Bits of the VMX control fields (SDM Vol. 3C 25.6-25.8), and the x86 architectural
 * facts (control-register, EFER and RFLAGS bits, segment access rights, vectors, event
 * injection and guest non-register state) that embedders and the library share.
 *
 * Named control bits are the features of features.h: NVMX_CTL(EPT) is bit 1 of the secondary
 * processor-based controls because the feature list says so; nothing here repeats a bit
 * number. The "default1" masks are the reserved bits a processor without TRUE capability
 * MSRs reports as must-be-1 (SDM A.2, "Reserved Controls and Default Settings").
 *
 * Each architectural fact is defined here once; facts only the library needs (reserved-bit
 * masks, canonical-address helpers) are in lib/arch.h.
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

/** RFLAGS bits (SDM Vol. 1 3.4.3, Figure 3-8); bit 1 is reserved as 1. */
#define NVMX_RFLAGS_CF (1ull << 0)
#define NVMX_RFLAGS_FIXED1 (1ull << 1)
#define NVMX_RFLAGS_PF (1ull << 2)
#define NVMX_RFLAGS_AF (1ull << 4)
#define NVMX_RFLAGS_ZF (1ull << 6)
#define NVMX_RFLAGS_SF (1ull << 7)
#define NVMX_RFLAGS_TF (1ull << 8)
#define NVMX_RFLAGS_IF (1ull << 9)
#define NVMX_RFLAGS_OF (1ull << 11)
#define NVMX_RFLAGS_RF (1ull << 16)
#define NVMX_RFLAGS_VM (1ull << 17)
/** The six arithmetic flags VMsucceed/VMfail define (SDM 31.2, "Conventions"). */
#define NVMX_RFLAGS_ARITH                                                                          \
    (NVMX_RFLAGS_CF | NVMX_RFLAGS_PF | NVMX_RFLAGS_AF | NVMX_RFLAGS_ZF | NVMX_RFLAGS_SF |          \
     NVMX_RFLAGS_OF)

/** CR0 bits (SDM Vol. 3A 2.5, "Control Registers"). */
#define NVMX_CR0_PE (1ull << 0)
#define NVMX_CR0_MP (1ull << 1)
#define NVMX_CR0_EM (1ull << 2)
#define NVMX_CR0_TS (1ull << 3)
#define NVMX_CR0_ET (1ull << 4)
#define NVMX_CR0_NE (1ull << 5)
#define NVMX_CR0_WP (1ull << 16)
#define NVMX_CR0_AM (1ull << 18)
#define NVMX_CR0_NW (1ull << 29)
#define NVMX_CR0_CD (1ull << 30)
#define NVMX_CR0_PG (1ull << 31)
/** CR4 bits (SDM Vol. 3A 2.5, "Control Registers"). */
#define NVMX_CR4_PAE (1ull << 5)
#define NVMX_CR4_PGE (1ull << 7)
#define NVMX_CR4_OSFXSR (1ull << 9)
#define NVMX_CR4_VMXE (1ull << 13)
#define NVMX_CR4_PCIDE (1ull << 17)
#define NVMX_CR4_CET (1ull << 23)
/** IA32_EFER bits (SDM Vol. 3A 2.2.1, Vol. 4 Table 2-2). */
#define NVMX_EFER_SCE (1ull << 0)
#define NVMX_EFER_LME (1ull << 8)
#define NVMX_EFER_LMA (1ull << 10)
#define NVMX_EFER_NXE (1ull << 11)

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

/** Type bits of code and data segments, S = 1 (SDM Vol. 3A 3.4.5.1, Table 3-1). */
#define NVMX_AR_TYPE_ACCESSED (1u << 0)
#define NVMX_AR_TYPE_WRITABLE (1u << 1)    /**< data segments */
#define NVMX_AR_TYPE_READABLE (1u << 1)    /**< code segments */
#define NVMX_AR_TYPE_EXPAND_DOWN (1u << 2) /**< data segments */
#define NVMX_AR_TYPE_CONFORMING (1u << 2)  /**< code segments */
#define NVMX_AR_TYPE_CODE (1u << 3)
/** Code and data types by value (SDM Vol. 3A 3.4.5.1, Table 3-1). */
#define NVMX_AR_TYPE_DATA_RW_ACCESSED (NVMX_AR_TYPE_WRITABLE | NVMX_AR_TYPE_ACCESSED) /**< 3 */
#define NVMX_AR_TYPE_DATA_RW_DOWN_ACCESSED                                                         \
    (NVMX_AR_TYPE_EXPAND_DOWN | NVMX_AR_TYPE_WRITABLE | NVMX_AR_TYPE_ACCESSED) /**< 7 */
#define NVMX_AR_TYPE_CODE_ER_ACCESSED                                                              \
    (NVMX_AR_TYPE_CODE | NVMX_AR_TYPE_READABLE | NVMX_AR_TYPE_ACCESSED) /**< 11 */
/** System-segment types, S = 0 (SDM Vol. 3A 3.5, Table 3-2). */
#define NVMX_AR_TYPE_LDT 2u
#define NVMX_AR_TYPE_TSS16_BUSY 3u
#define NVMX_AR_TYPE_TSS_BUSY 11u /**< 32-bit, or 64-bit in IA-32e mode */

/** Segment-selector fields (SDM Vol. 3A 3.4.2): RPL in bits 1:0, TI in bit 2. */
#define NVMX_SELECTOR_RPL_MASK 3u
#define NVMX_SELECTOR_TI (1u << 2)

/** Exception and interrupt vectors (SDM Vol. 3A 6.3.1, Table 6-1). */
#define NVMX_VECTOR_DB 1
#define NVMX_VECTOR_NMI 2
#define NVMX_VECTOR_UD 6
#define NVMX_VECTOR_DF 8
#define NVMX_VECTOR_TS 10
#define NVMX_VECTOR_NP 11
#define NVMX_VECTOR_SS 12
#define NVMX_VECTOR_GP 13
#define NVMX_VECTOR_PF 14
#define NVMX_VECTOR_AC 17
#define NVMX_VECTOR_MC 18
/** Vectors 0-31 are the architecture's exceptions (SDM Vol. 3A 6.2). */
#define NVMX_VECTOR_LAST_EXCEPTION 31

/** Interruption-information fields: VM entry (SDM 25.8.3, Table 25-17), VM exit (28.2.2). */
#define NVMX_INTR_INFO_VECTOR_MASK 0xFFu
#define NVMX_INTR_INFO_TYPE_SHIFT 8
#define NVMX_INTR_INFO_TYPE_MASK (7u << NVMX_INTR_INFO_TYPE_SHIFT)
#define NVMX_INTR_INFO_DELIVER_ERROR_CODE (1u << 11)
#define NVMX_INTR_INFO_VALID (1u << 31)
/** Interruption types, bits 10:8 of those fields (SDM 25.8.3); type 1 is reserved. */
#define NVMX_INTR_TYPE_EXTERNAL 0u
#define NVMX_INTR_TYPE_NMI 2u
#define NVMX_INTR_TYPE_HARDWARE_EXCEPTION 3u
#define NVMX_INTR_TYPE_SOFTWARE_INTERRUPT 4u
#define NVMX_INTR_TYPE_PRIVILEGED_SOFTWARE_EXCEPTION 5u /**< INT1 */
#define NVMX_INTR_TYPE_SOFTWARE_EXCEPTION 6u            /**< INT3, INTO */
#define NVMX_INTR_TYPE_OTHER_EVENT 7u

/** Activity states (SDM 25.4.2). */
#define NVMX_ACTIVITY_ACTIVE 0u
#define NVMX_ACTIVITY_HLT 1u
#define NVMX_ACTIVITY_SHUTDOWN 2u
#define NVMX_ACTIVITY_WAIT_SIPI 3u

/** Interruptibility-state bits (SDM 25.4.2, Table 25-3). */
#define NVMX_BLOCKING_STI (1u << 0)
#define NVMX_BLOCKING_MOV_SS (1u << 1)
#define NVMX_BLOCKING_SMI (1u << 2)
#define NVMX_BLOCKING_NMI (1u << 3)
#define NVMX_ENCLAVE_INTERRUPTION (1u << 4)

/** Pending-debug-exceptions bits (SDM 25.4.2, Table 25-4): enabled breakpoint, BS, RTM. */
#define NVMX_PENDING_DBG_ENABLED_BP (1ull << 12)
#define NVMX_PENDING_DBG_BS (1ull << 14)
#define NVMX_PENDING_DBG_RTM (1ull << 16)

#ifdef __cplusplus
}
#endif

#endif
