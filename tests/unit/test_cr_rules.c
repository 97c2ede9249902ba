/* SPDX-License-Identifier: MIT */
/* CR0/CR4 write rules and CPUID.1:ECX.VMX (SDM 24.6, 24.8; lib/cr_rules.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "fake_host.h"
#include "internal.h"

static fake_host host;
static nvmx_vm vm;
static nvmx_vcpu vcpu;

#define CR0_OK (NVMX_CR0_PG | NVMX_CR0_NE | NVMX_CR0_ET | NVMX_CR0_PE) /* 80000031H */
#define CR4_OK (NVMX_CR4_VMXE | NVMX_CR4_PAE)

static void setup(void)
{
    fake_host_init(&host, 4096);
    memset(&vm, 0, sizeof(vm));
    memset(&vcpu, 0, sizeof(vcpu));
    vm.ops = *fake_host_ops();
    vm.host_ctx = &host;
    vm.vmx_exposed = true;
    nvmx_caps_software_host(&vm.caps, 46);
    vcpu.vm = &vm;
    vcpu.ctx = &host;
}

static void teardown(void)
{
    fake_host_fini(&host);
}

TestSuite(cr_rules, .init = setup, .fini = teardown);
TestSuite(cpuid, .init = setup, .fini = teardown);

static void enter_vmx_operation(void)
{
    vcpu.vmx_operation = true;
}

/* SDM Vol. 3A 2.5: CR4.VMXE is reserved without VMX, so setting it raises #GP. */
Test(cr_rules, cr4_vmxe_set_without_vmx_exposed_is_not_allowed)
{
    vm.vmx_exposed = false;
    memset(&vm.caps, 0, sizeof(vm.caps));
    cr_assert_not(nvmx_cr_write_allowed(&vcpu, 4, CR4_OK));
    cr_assert(nvmx_cr_write_allowed(&vcpu, 4, NVMX_CR4_PAE));
    cr_assert(nvmx_cr_write_allowed(&vcpu, 0, 0x11), "CR0 is not VMX's business here");
}

/* SDM 24.7: with VMX exposed, CR4.VMXE may be set and cleared outside VMX operation. */
Test(cr_rules, cr4_vmxe_free_outside_vmx_operation)
{
    cr_assert(nvmx_cr_write_allowed(&vcpu, 4, CR4_OK));
    cr_assert(nvmx_cr_write_allowed(&vcpu, 4, NVMX_CR4_PAE));
}

/* SDM 24.8: outside VMX operation the fixed bits do not apply. */
Test(cr_rules, fixed_bits_not_enforced_outside_vmx_operation)
{
    cr_assert(nvmx_cr_write_allowed(&vcpu, 0, 0x10), "real mode, paging off");
    cr_assert(nvmx_cr_write_allowed(&vcpu, 4, 0));
}

/* SDM 24.8: software cannot clear CR4.VMXE in VMX operation. */
Test(cr_rules, clearing_cr4_vmxe_in_vmx_operation_is_not_allowed)
{
    enter_vmx_operation();
    cr_assert_not(nvmx_cr_write_allowed(&vcpu, 4, NVMX_CR4_PAE));
    cr_assert(nvmx_cr_write_allowed(&vcpu, 4, CR4_OK));
    vm.caps.cr4_fixed0 = 0; /* the rule holds on its own, not only through FIXED0 */
    cr_assert_not(nvmx_cr_write_allowed(&vcpu, 4, NVMX_CR4_PAE));
}

/* SDM 24.8, A.7: in VMX operation CR0 bits 1 in FIXED0 (PE, NE, PG) must stay 1. */
Test(cr_rules, cr0_fixed0_bits_must_stay_set_in_vmx_operation)
{
    enter_vmx_operation();
    cr_assert(nvmx_cr_write_allowed(&vcpu, 0, CR0_OK));
    cr_assert_not(nvmx_cr_write_allowed(&vcpu, 0, CR0_OK & ~NVMX_CR0_PE));
    cr_assert_not(nvmx_cr_write_allowed(&vcpu, 0, CR0_OK & ~NVMX_CR0_NE));
    cr_assert_not(nvmx_cr_write_allowed(&vcpu, 0, CR0_OK & ~NVMX_CR0_PG));
}

/* SDM 24.8, A.7: in VMX operation CR0 bits 0 in FIXED1 must stay 0. */
Test(cr_rules, cr0_fixed1_zero_bits_must_stay_clear_in_vmx_operation)
{
    enter_vmx_operation();
    vm.caps.cr0_fixed1 = 0x9FFFFFFFull; /* CD and NW fixed to 0 */
    cr_assert_not(nvmx_cr_write_allowed(&vcpu, 0, CR0_OK | (1ull << 30)));
    cr_assert_not(nvmx_cr_write_allowed(&vcpu, 0, CR0_OK | (1ull << 29)));
    cr_assert_not(nvmx_cr_write_allowed(&vcpu, 0, CR0_OK | (1ull << 32)), "above FIXED1");
    cr_assert(nvmx_cr_write_allowed(&vcpu, 0, CR0_OK | (1ull << 16)), "WP may be 1");
}

/* SDM 24.8, A.8: in VMX operation CR4 follows FIXED0 and FIXED1. */
Test(cr_rules, cr4_fixed_bits_hold_in_vmx_operation)
{
    enter_vmx_operation();
    vm.caps.cr4_fixed0 = NVMX_CR4_VMXE | NVMX_CR4_PAE;
    vm.caps.cr4_fixed1 = 0x3FFFull;
    cr_assert(nvmx_cr_write_allowed(&vcpu, 4, CR4_OK));
    cr_assert_not(nvmx_cr_write_allowed(&vcpu, 4, NVMX_CR4_VMXE), "PAE fixed to 1");
    cr_assert_not(nvmx_cr_write_allowed(&vcpu, 4, CR4_OK | (1ull << 14)), "SMXE fixed to 0");
}

/* L2's CR writes are governed by vmcs12's guest/host masks (later work), not by these rules. */
Test(cr_rules, guest_mode_writes_are_not_checked_here)
{
    enter_vmx_operation();
    vcpu.guest_mode = true;
    cr_assert(nvmx_cr_write_allowed(&vcpu, 0, 0));
    cr_assert(nvmx_cr_write_allowed(&vcpu, 4, 0));
}

/* SDM 24.8 restricts only CR0 and CR4. */
Test(cr_rules, other_control_registers_are_not_checked)
{
    enter_vmx_operation();
    cr_assert(nvmx_cr_write_allowed(&vcpu, 3, 0));
    cr_assert(nvmx_cr_write_allowed(&vcpu, 8, ~0ull));
    vm.vmx_exposed = false;
    cr_assert(nvmx_cr_write_allowed(&vcpu, 2, NVMX_CR4_VMXE));
}

/* API: a NULL vCPU is refused for CR0/CR4. */
Test(cr_rules, null_vcpu_is_refused)
{
    cr_assert_not(nvmx_cr_write_allowed(NULL, 4, CR4_OK));
    cr_assert_not(nvmx_cr_write_allowed(NULL, 0, CR0_OK));
}

/* SDM 24.6: CPUID.1:ECX[5] is set when VMX is exposed, whatever the host said. */
Test(cpuid, leaf1_ecx_vmx_set_when_exposed)
{
    uint32_t eax = 1, ebx = 2, ecx = 0x80000000u, edx = 4;
    nvmx_cpuid_adjust(&vm, 1, 0, &eax, &ebx, &ecx, &edx);
    cr_assert_eq(ecx, 0x80000020u);
    cr_assert_eq(eax, 1);
    cr_assert_eq(ebx, 2);
    cr_assert_eq(edx, 4);
}

/* SDM 24.6: CPUID.1:ECX[5] is cleared when VMX is not exposed; nothing else changes. */
Test(cpuid, leaf1_ecx_vmx_cleared_when_not_exposed)
{
    vm.vmx_exposed = false;
    uint32_t eax = ~0u, ebx = ~0u, ecx = ~0u, edx = ~0u;
    nvmx_cpuid_adjust(&vm, 1, 0, &eax, &ebx, &ecx, &edx);
    cr_assert_eq(ecx, ~0u & ~(1u << 5));
    cr_assert_eq(eax & ebx & edx, ~0u);
}

/* SDM 24.6: only leaf 1 reports VMX; other leaves are untouched. */
Test(cpuid, other_leaves_untouched)
{
    const uint32_t leaves[] = {0, 7, 0xD, 0x80000001u, 0x40000000u};
    for (int exposed = 0; exposed < 2; exposed++) {
        vm.vmx_exposed = exposed;
        for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
            uint32_t eax = 0x11, ebx = 0x22, ecx = 0x33, edx = 0x44;
            nvmx_cpuid_adjust(&vm, leaves[i], 1, &eax, &ebx, &ecx, &edx);
            cr_assert(eax == 0x11 && ebx == 0x22 && ecx == 0x33 && edx == 0x44, "leaf %#x",
                      leaves[i]);
        }
    }
}

/* API: NULL VM or register pointers are ignored. */
Test(cpuid, null_arguments_are_ignored)
{
    uint32_t r = 0;
    nvmx_cpuid_adjust(NULL, 1, 0, &r, &r, &r, &r);
    cr_assert_eq(r, 0);
    nvmx_cpuid_adjust(&vm, 1, 0, NULL, NULL, NULL, NULL);
}
