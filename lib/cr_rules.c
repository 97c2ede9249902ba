/* SPDX-License-Identifier: MIT */
/*
 * What VMX changes about L1's control registers and CPUID: CR4.VMXE exists only with VMX,
 * and in VMX operation CR0 and CR4 keep their fixed bits (SDM Vol. 3C 24.8, "Restrictions on
 * VMX Operation"); CPUID.1:ECX.VMX says whether VMX exists (SDM 24.6).
 */
#include "internal.h"

/* CPUID.1:ECX[5] reports VMX (SDM 24.6, "Discovering Support for VMX"). */
#define CPUID_LEAF_FEATURES 1u
#define CPUID_1_ECX_VMX (1u << 5)

/* A.7/A.8: bits 1 in FIXED0 must be 1, bits 0 in FIXED1 must be 0. */
static bool fixed_bits_kept(uint64_t value, uint64_t fixed0, uint64_t fixed1)
{
    return (value & fixed0) == fixed0 && (value & ~fixed1) == 0;
}

/*
 * Only L1's writes are checked. In guest mode the write is L2's: what L2 may write to CR0 and
 * CR4 is governed by vmcs12's guest/host masks and read shadows, and handled with VM exits
 * in later work, so this returns true there. A NULL vcpu is refused (false).
 */
bool nvmx_cr_write_allowed(const nvmx_vcpu *vcpu, unsigned cr, uint64_t value)
{
    if (cr != 0 && cr != 4)
        return true;
    if (!vcpu)
        return false;
    const nvmx_vm *vm = vcpu->vm;
    /* SDM Vol. 3A 2.5: CR4.VMXE is reserved when CPUID.1:ECX.VMX = 0, setting it is #GP. */
    if (cr == 4 && (value & NVMX_CR4_VMXE) && !vm->vmx_exposed)
        return false;
    if (!vcpu->vmx_operation || vcpu->guest_mode)
        return true;
    /* SDM 24.8: CR4.VMXE cannot be cleared in VMX operation, and the fixed bits hold. */
    if (cr == 4)
        return (value & NVMX_CR4_VMXE) &&
               fixed_bits_kept(value, vm->caps.cr4_fixed0, vm->caps.cr4_fixed1);
    return fixed_bits_kept(value, vm->caps.cr0_fixed0, vm->caps.cr0_fixed1);
}

void nvmx_cpuid_adjust(const nvmx_vm *vm, uint32_t leaf, uint32_t subleaf, uint32_t *eax,
                       uint32_t *ebx, uint32_t *ecx, uint32_t *edx)
{
    /* Leaf 1 has no subleaves, and only ECX changes. */
    (void)subleaf;
    (void)eax;
    (void)ebx;
    (void)edx;
    if (!vm || !ecx || leaf != CPUID_LEAF_FEATURES)
        return;
    if (vm->vmx_exposed)
        *ecx |= CPUID_1_ECX_VMX;
    else
        *ecx &= ~CPUID_1_ECX_VMX;
}
