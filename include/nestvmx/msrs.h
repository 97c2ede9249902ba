/* SPDX-License-Identifier: MIT */
/**
 * @file msrs.h
 * @brief Indices of the MSRs the library emulates (SDM Vol. 4, Table 2-2; Vol. 3D Appendix A).
 */
#ifndef NESTVMX_MSRS_H
#define NESTVMX_MSRS_H

#ifdef __cplusplus
extern "C" {
#endif

/* clang-format off */
/** X-macro list: X(NAME, index). */
#define NVMX_MSR_LIST(X)                              \
    X(IA32_FEATURE_CONTROL,        0x0000003Au)       \
    X(IA32_VMX_BASIC,              0x00000480u)       \
    X(IA32_VMX_PINBASED_CTLS,      0x00000481u)       \
    X(IA32_VMX_PROCBASED_CTLS,     0x00000482u)       \
    X(IA32_VMX_EXIT_CTLS,          0x00000483u)       \
    X(IA32_VMX_ENTRY_CTLS,         0x00000484u)       \
    X(IA32_VMX_MISC,               0x00000485u)       \
    X(IA32_VMX_CR0_FIXED0,         0x00000486u)       \
    X(IA32_VMX_CR0_FIXED1,         0x00000487u)       \
    X(IA32_VMX_CR4_FIXED0,         0x00000488u)       \
    X(IA32_VMX_CR4_FIXED1,         0x00000489u)       \
    X(IA32_VMX_VMCS_ENUM,          0x0000048Au)       \
    X(IA32_VMX_PROCBASED_CTLS2,    0x0000048Bu)       \
    X(IA32_VMX_EPT_VPID_CAP,       0x0000048Cu)       \
    X(IA32_VMX_TRUE_PINBASED_CTLS, 0x0000048Du)       \
    X(IA32_VMX_TRUE_PROCBASED_CTLS,0x0000048Eu)       \
    X(IA32_VMX_TRUE_EXIT_CTLS,     0x0000048Fu)       \
    X(IA32_VMX_TRUE_ENTRY_CTLS,    0x00000490u)       \
    X(IA32_VMX_VMFUNC,             0x00000491u)       \
    X(IA32_VMX_PROCBASED_CTLS3,    0x00000492u)       \
    X(IA32_VMX_EXIT_CTLS2,         0x00000493u)
/* clang-format on */

/** @brief MSR indices, named NVMX_MSR_<NAME>. */
enum nvmx_msr_index {
#define NVMX_MSR_ENUM(name, index) NVMX_MSR_##name = index,
    NVMX_MSR_LIST(NVMX_MSR_ENUM)
#undef NVMX_MSR_ENUM
};

/** IA32_FEATURE_CONTROL bits (SDM Vol. 3C 24.7, "Enabling and Entering VMX Operation"). */
#define NVMX_FEATURE_CONTROL_LOCK (1ull << 0)
#define NVMX_FEATURE_CONTROL_VMX_INSIDE_SMX (1ull << 1)
#define NVMX_FEATURE_CONTROL_VMX_OUTSIDE_SMX (1ull << 2)

#ifdef __cplusplus
}
#endif

#endif
