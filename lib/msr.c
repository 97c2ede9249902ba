/* SPDX-License-Identifier: MIT */
/*
 * RDMSR/WRMSR of the VMX capability MSRs and IA32_FEATURE_CONTROL for L1.
 *
 * The capability MSRs report vm->caps, and exist only as SDM Vol. 3D Appendix A says:
 * reading one that does not exist, or writing any of them (they are read-only), raises
 * #GP(0). IA32_FEATURE_CONTROL is the library's only while VMX is exposed.
 */
#include "caps_model.h"

#include <stddef.h>

/*
 * The VMX capability MSRs: X(MSR, nvmx_vmx_caps field, feature, feature). An MSR exists if both
 * features are NONE, or if the allowed-1 bit of either is set in the exposed set.
 */
#define VMX_CAP_MSRS(X)                                                                            \
    X(IA32_VMX_BASIC, basic, NONE, NONE)                                                           \
    X(IA32_VMX_PINBASED_CTLS, pinbased, NONE, NONE)                                                \
    X(IA32_VMX_PROCBASED_CTLS, procbased, NONE, NONE)                                              \
    X(IA32_VMX_EXIT_CTLS, exit, NONE, NONE)                                                        \
    X(IA32_VMX_ENTRY_CTLS, entry, NONE, NONE)                                                      \
    X(IA32_VMX_MISC, misc, NONE, NONE)                                                             \
    X(IA32_VMX_CR0_FIXED0, cr0_fixed0, NONE, NONE)                                                 \
    X(IA32_VMX_CR0_FIXED1, cr0_fixed1, NONE, NONE)                                                 \
    X(IA32_VMX_CR4_FIXED0, cr4_fixed0, NONE, NONE)                                                 \
    X(IA32_VMX_CR4_FIXED1, cr4_fixed1, NONE, NONE)                                                 \
    X(IA32_VMX_VMCS_ENUM, vmcs_enum, NONE, NONE)                                                   \
    /* A.3.3: only with the 1-setting of "activate secondary controls" */                          \
    X(IA32_VMX_PROCBASED_CTLS2, procbased2, SECONDARY_CONTROLS, NONE)                              \
    /* A.10: only with the 1-setting of "enable EPT" or "enable VPID" */                           \
    X(IA32_VMX_EPT_VPID_CAP, ept_vpid_cap, EPT, VPID)                                              \
    /* A.3.1, A.3.2, A.4.1, A.5: only if IA32_VMX_BASIC[55] is 1 */                                \
    X(IA32_VMX_TRUE_PINBASED_CTLS, true_pinbased, TRUE_CTLS, NONE)                                 \
    X(IA32_VMX_TRUE_PROCBASED_CTLS, true_procbased, TRUE_CTLS, NONE)                               \
    X(IA32_VMX_TRUE_EXIT_CTLS, true_exit, TRUE_CTLS, NONE)                                         \
    X(IA32_VMX_TRUE_ENTRY_CTLS, true_entry, TRUE_CTLS, NONE)                                       \
    /* A.11: only with the 1-setting of "enable VM functions" */                                   \
    X(IA32_VMX_VMFUNC, vmfunc, ENABLE_VMFUNC, NONE)                                                \
    /* A.3.4: only with the 1-setting of "activate tertiary controls" */                           \
    X(IA32_VMX_PROCBASED_CTLS3, procbased3, TERTIARY_CONTROLS, NONE)                               \
    /* A.4.2: only with the 1-setting of "activate secondary VM-exit controls" */                  \
    X(IA32_VMX_EXIT_CTLS2, exit2, SECONDARY_EXIT_CONTROLS, NONE)

typedef struct vmx_cap_msr {
    uint16_t offset;  /* of the value in nvmx_vmx_caps */
    uint8_t needs[2]; /* nvmx_feature, NVMX_FEATURE_NONE = no condition */
} vmx_cap_msr;

#define VMX_MSR_FIRST NVMX_MSR_IA32_VMX_BASIC

static const vmx_cap_msr cap_msrs[] = {
#define CAP_MSR(name, field, a, b)                                                                 \
    [NVMX_MSR_##name - VMX_MSR_FIRST] = {(uint16_t)offsetof(nvmx_vmx_caps, field),                 \
                                         {NVMX_FEATURE_##a, NVMX_FEATURE_##b}},
    VMX_CAP_MSRS(CAP_MSR)
#undef CAP_MSR
};

/* Every VMX MSR of NVMX_MSR_LIST (all but IA32_FEATURE_CONTROL) is in the table, without gaps. */
#define COUNT_ONE(...) +1
enum { MSR_LIST_COUNT = 0 NVMX_MSR_LIST(COUNT_ONE), CAP_MSR_COUNT = 0 VMX_CAP_MSRS(COUNT_ONE) };
#undef COUNT_ONE
_Static_assert(CAP_MSR_COUNT == MSR_LIST_COUNT - 1, "a VMX MSR of NVMX_MSR_LIST lacks a row");
_Static_assert(NVMX_ARRAY_SIZE(cap_msrs) == CAP_MSR_COUNT, "the VMX MSRs must be contiguous");

const unsigned vmx_cap_msr_count = NVMX_ARRAY_SIZE(cap_msrs);

uint64_t vmx_cap_msr_value(const nvmx_vmx_caps *caps, unsigned i)
{
    return i < NVMX_ARRAY_SIZE(cap_msrs) ? caps_msr_get(caps, cap_msrs[i].offset) : 0;
}

void vmx_cap_msr_set(nvmx_vmx_caps *caps, unsigned i, uint64_t value)
{
    if (i < NVMX_ARRAY_SIZE(cap_msrs))
        caps_msr_set(caps, cap_msrs[i].offset, value);
}

/* The table row of a VMX capability MSR, NULL for any other index. */
static const vmx_cap_msr *cap_msr_find(uint32_t index)
{
    if (index < VMX_MSR_FIRST || index - VMX_MSR_FIRST >= NVMX_ARRAY_SIZE(cap_msrs))
        return NULL;
    return &cap_msrs[index - VMX_MSR_FIRST];
}

static bool cap_msr_exists(const nvmx_vmx_caps *caps, const vmx_cap_msr *msr)
{
    if (msr->needs[0] == NVMX_FEATURE_NONE && msr->needs[1] == NVMX_FEATURE_NONE)
        return true;
    return caps_feature_bit(caps, (nvmx_feature)msr->needs[0]) ||
           caps_feature_bit(caps, (nvmx_feature)msr->needs[1]);
}

msr_result vmx_msr_read(nvmx_vcpu *vcpu, uint32_t index, uint64_t *value)
{
    const nvmx_vm *vm = vcpu->vm;
    if (index == NVMX_MSR_IA32_FEATURE_CONTROL) {
        /* Without VMX the embedder owns the MSR (it may emulate other bits of it). */
        if (!vm->vmx_exposed)
            return MSR_NOT_OURS;
        *value = vcpu->feature_control;
        return MSR_HANDLED;
    }
    const vmx_cap_msr *msr = cap_msr_find(index);
    if (!msr)
        return MSR_NOT_OURS;
    /* A.1: the VMX MSRs exist only if CPUID.1:ECX.VMX = 1; reading one that does not raises
     * #GP(0) like any unimplemented MSR (SDM Vol. 4 2.1). */
    if (!vm->vmx_exposed || !cap_msr_exists(&vm->caps, msr))
        return MSR_GP;
    *value = caps_msr_get(&vm->caps, msr->offset);
    return MSR_HANDLED;
}

/*
 * IA32_FEATURE_CONTROL bits L1 may write (SDM 24.7): lock (0) and "enable VMX outside SMX"
 * (2). Bit 1, "enable VMX inside SMX", is reserved here because SMX is never exposed to L1
 * (GETSEC is not emulated), and so are the bits of features this library does not own
 * (SENTER, SGX, LMCE...): writing any of them raises #GP(0).
 */
#define FEATURE_CONTROL_WRITABLE (NVMX_FEATURE_CONTROL_LOCK | NVMX_FEATURE_CONTROL_VMX_OUTSIDE_SMX)

static msr_result feature_control_write(nvmx_vcpu *vcpu, uint64_t value)
{
    /* SDM 24.7: once the lock bit is set, WRMSR to the MSR raises #GP until reset. */
    if (vcpu->feature_control & NVMX_FEATURE_CONTROL_LOCK)
        return MSR_GP;
    if (value & ~FEATURE_CONTROL_WRITABLE)
        return MSR_GP;
    vcpu->feature_control = value;
    return MSR_HANDLED;
}

msr_result vmx_msr_write(nvmx_vcpu *vcpu, uint32_t index, uint64_t value)
{
    const nvmx_vm *vm = vcpu->vm;
    if (index == NVMX_MSR_IA32_FEATURE_CONTROL) {
        if (!vm->vmx_exposed)
            return MSR_NOT_OURS;
        return feature_control_write(vcpu, value);
    }
    /* Appendix A: every VMX capability MSR is read-only, and a missing one raises #GP too. */
    if (cap_msr_find(index))
        return MSR_GP;
    return MSR_NOT_OURS;
}
