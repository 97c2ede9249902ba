/* SPDX-License-Identifier: MIT */
/*
 * VMX instructions where they must not run: at CPL 3, before VMXON, with CR4.VMXE = 0, in
 * compatibility and virtual-8086 mode, on a VM without VMX, and from L2; INVEPT/INVVPID of
 * every type while EPT and VPID are not exposed (exposed: test_sec_inv.c). Each case asserts the
 * SDM outcome (#UD, #GP(0) or a VM exit to L1) and that nothing else changed.
 *
 * CVE-2018-12904 (KVM: VMX instructions of L1 at CPL > 0 were not checked), XSA-278 (Xen:
 * nested VT-x instructions usable while VMX was disabled), CVE-2014-3645 / CVE-2014-3646
 * (KVM: INVEPT / INVVPID not handled -> host crash), CVE-2017-8106 (KVM: INVEPT with an
 * invalid context / type crashed the host). SDM Vol. 3C 31.3 (each instruction's
 * "Operation" and exception lists), 24.7, 26.1.2.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sec_env.h"

static harness h;

typedef struct vmx_insn {
    uint32_t reason;
    uint32_t info;
} vmx_insn;

/* INVEPT/INVVPID: a 128-bit [RAX] descriptor and the type in RCX (SDM 28.2.5 Table 28-13). */
#define INFO_INV INFO_MEM_RAX_REG_RCX

static const vmx_insn all_insns[] = {
    {NVMX_EXIT_VMXON, INFO_MEM_RAX},
    {NVMX_EXIT_VMXOFF, 0},
    {NVMX_EXIT_VMCLEAR, INFO_MEM_RAX},
    {NVMX_EXIT_VMPTRLD, INFO_MEM_RAX},
    {NVMX_EXIT_VMPTRST, INFO_MEM_RAX},
    {NVMX_EXIT_VMREAD, INFO_REGS(NVMX_REG_RAX, NVMX_REG_RCX)},
    {NVMX_EXIT_VMWRITE, INFO_REGS(NVMX_REG_RAX, NVMX_REG_RCX)},
    {NVMX_EXIT_VMLAUNCH, 0},
    {NVMX_EXIT_VMRESUME, 0},
    {NVMX_EXIT_VMCALL, 0},
    {NVMX_EXIT_INVEPT, INFO_INV},
    {NVMX_EXIT_INVVPID, INFO_INV},
    {NVMX_EXIT_VMFUNC, 0},
};

/* Operands every instruction can use: [RAX] holds VMCS_B, RCX is GUEST_RIP's encoding. */
static void operands(void)
{
    fake_host_write64(&h.host, OPERAND, VMCS_B);
    h.host.regs[NVMX_REG_RAX] = OPERAND;
    h.host.regs[NVMX_REG_RCX] = NVMX_FIELD_GUEST_RIP;
}

/* Run one instruction of L1 and assert: exactly one exception `vector` (with error code 0 for
 * #GP), and nothing else changed: RIP, RFLAGS, registers, memory, VMX state, allocations. */
static void assert_faults_changing_nothing(const vmx_insn *insn, uint8_t vector)
{
    operands();
    sec_snapshot s;
    sec_snapshot_take(&h, &s);
    nvmx_exit exit = {
        .reason = insn->reason, .instruction_info = insn->info, .instruction_length = INSN_LENGTH};
    cr_assert_eq(nvmx_on_l1_exit(h.vcpu, &exit, &h.next), NVMX_OK, "reason %u: %s", insn->reason,
                 h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(h.host.exception_count, s.exception_count + 1, "reason %u: no exception",
                 insn->reason);
    const nvmx_exception *e = &h.host.exceptions[h.host.exception_count - 1];
    cr_assert_eq(e->vector, vector, "reason %u: vector %u, expected %u", insn->reason, e->vector,
                 vector);
    cr_assert_eq(e->has_error_code, vector == NVMX_VECTOR_GP);
    cr_assert_eq(e->error_code, 0);
    cr_assert_eq(h.next.exception_vector, vector);
    h.host.exception_count = s.exception_count;
    sec_assert_unchanged(&h, &s);
    sec_snapshot_free(&s);
}

static void setup(void)
{
    harness_init(&h, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(sec_vmx_insn, .init = setup, .fini = teardown);

/* CVE-2018-12904. SDM 31.3: in VMX root operation at CPL > 0 every VMX instruction that
 * exists is #GP(0) (VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE, VMLAUNCH,
 * VMRESUME, VMCALL, INVEPT, INVVPID), before any operand is looked at; VMFUNC is #UD outside
 * non-root operation. */
Test(sec_vmx_insn, cpl3_in_vmx_root_raises_gp0_and_changes_nothing)
{
    harness_vmxon_vmptrld(&h);
    fake_host_set_cpl(&h.host, 3);
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(all_insns); i++) {
        bool ud = all_insns[i].reason == NVMX_EXIT_VMFUNC;
        assert_faults_changing_nothing(&all_insns[i], ud ? NVMX_VECTOR_UD : NVMX_VECTOR_GP);
    }
}

/* The VM without EPT and VPID (policy), where INVEPT and INVVPID do not exist. */
static void hide_ept_and_vpid(void)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    const char *hidden[] = {"vmx-ept", "vmx-vpid"};
    config.disabled_features = hidden;
    config.disabled_feature_count = NVMX_ARRAY_SIZE(hidden);
    harness_init(&h, &config);
}

/* CVE-2018-12904, XSA-278. SDM 31.3: outside VMX operation every VMX instruction but VMXON is
 * #UD, at any CPL. */
Test(sec_vmx_insn, before_vmxon_every_instruction_but_vmxon_raises_ud)
{
    for (unsigned cpl = 0; cpl <= 3; cpl += 3) {
        fake_host_set_cpl(&h.host, cpl);
        for (size_t i = 0; i < NVMX_ARRAY_SIZE(all_insns); i++) {
            if (all_insns[i].reason != NVMX_EXIT_VMXON)
                assert_faults_changing_nothing(&all_insns[i], NVMX_VECTOR_UD);
        }
    }
}

/* CVE-2018-12904. SDM 31.3 VMXON: outside VMX operation, CPL > 0 is #GP(0) (after the #UD
 * conditions); the vCPU stays out of VMX operation. */
Test(sec_vmx_insn, vmxon_at_cpl3_raises_gp0)
{
    fake_host_set_cpl(&h.host, 3);
    assert_faults_changing_nothing(&all_insns[0], NVMX_VECTOR_GP);
    cr_assert_not(nvmx_vcpu_in_vmx_operation(h.vcpu));
}

/* XSA-278. SDM 31.3 VMXON: CR4.VMXE = 0 is #UD; every other VMX instruction is #UD outside VMX
 * operation too. */
Test(sec_vmx_insn, cr4_vmxe_clear_raises_ud_for_every_instruction)
{
    h.host.regs[NVMX_REG_CR4] &= ~NVMX_CR4_VMXE;
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(all_insns); i++)
        assert_faults_changing_nothing(&all_insns[i], NVMX_VECTOR_UD);
    cr_assert_not(nvmx_vcpu_in_vmx_operation(h.vcpu));
}

/* SDM 31.3: IA32_EFER.LMA = 1 with CS.L = 0 (compatibility mode) is #UD for every VMX
 * instruction, in VMX operation or not, before any CPL or VMX-state check. */
Test(sec_vmx_insn, compatibility_mode_raises_ud_for_every_instruction)
{
    fake_host_set_mode_compat(&h.host);
    assert_faults_changing_nothing(&all_insns[0], NVMX_VECTOR_UD);
    fake_host_set_mode_long64(&h.host);
    harness_vmxon_vmptrld(&h);
    fake_host_set_mode_compat(&h.host);
    for (unsigned cpl = 0; cpl <= 3; cpl += 3) {
        fake_host_set_cpl(&h.host, cpl);
        for (size_t i = 0; i < NVMX_ARRAY_SIZE(all_insns); i++)
            assert_faults_changing_nothing(&all_insns[i], NVMX_VECTOR_UD);
    }
}

/* SDM 31.3: RFLAGS.VM = 1 (virtual-8086 mode) is #UD for every VMX instruction. */
Test(sec_vmx_insn, virtual_8086_mode_raises_ud_for_every_instruction)
{
    harness_vmxon_vmptrld(&h);
    fake_host_set_mode_v8086(&h.host);
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(all_insns); i++)
        assert_faults_changing_nothing(&all_insns[i], NVMX_VECTOR_UD);
}

/* XSA-278. A VM that does not expose VMX (CPUID.1:ECX.VMX = 0): every VMX instruction is #UD
 * whatever CR4 says, and RDMSR of a VMX capability MSR is #GP(0) (SDM Vol. 4). */
Test(sec_vmx_insn, vm_without_vmx_raises_ud_for_every_instruction)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.expose_vmx = false;
    harness_init(&h, &config);
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(all_insns); i++)
        assert_faults_changing_nothing(&all_insns[i], NVMX_VECTOR_UD);
    cr_assert_not(nvmx_vcpu_in_vmx_operation(h.vcpu));
    h.host.regs[NVMX_REG_RCX] = NVMX_MSR_IA32_VMX_BASIC;
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_RDMSR, 0, 0), NVMX_OK);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_GP);
}

/* CVE-2014-3645, CVE-2014-3646, CVE-2017-8106. SDM 31.3 INVEPT/INVVPID: without INVEPT/VPID (and
 * the instructions) exposed to L1 both are #UD for every type, the four architectural ones
 * and reserved ones alike, with any descriptor, in VMX root operation at CPL 0. */
Test(sec_vmx_insn, invept_invvpid_every_type_raise_ud_while_not_exposed)
{
    hide_ept_and_vpid();
    harness_vmxon_vmptrld(&h);
    cr_assert_not(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_INVEPT));
    cr_assert_not(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_VPID));
    const uint64_t types[] = {0,    1, 2, 3, 4, 5, 7, 0xFF, 0xFFFFFFFFull, 0x8000000000000001ull,
                              ~0ull};
    for (size_t t = 0; t < NVMX_ARRAY_SIZE(types); t++) {
        for (int which = 0; which < 2; which++) {
            vmx_insn insn = {which ? NVMX_EXIT_INVVPID : NVMX_EXIT_INVEPT, INFO_INV};
            operands();
            /* a descriptor of hostile bits */
            fake_host_write64(&h.host, OPERAND, ~0ull);
            fake_host_write64(&h.host, OPERAND + 8, 0x8000000000000000ull);
            h.host.regs[NVMX_REG_RCX] = types[t];
            sec_snapshot s;
            sec_snapshot_take(&h, &s);
            nvmx_exit exit = {.reason = insn.reason,
                              .instruction_info = insn.info,
                              .instruction_length = INSN_LENGTH};
            cr_assert_eq(nvmx_on_l1_exit(h.vcpu, &exit, &h.next), NVMX_OK);
            cr_assert_eq(h.host.exception_count, 1);
            cr_assert_eq(h.host.exceptions[0].vector, NVMX_VECTOR_UD);
            h.host.exception_count = 0;
            sec_assert_unchanged(&h, &s);
            sec_snapshot_free(&s);
        }
    }
}

/* The same through the undecoded path (a host that traps #UD and passes the bytes): INVEPT
 * rcx, [rax] = 66 0F 38 80 08, INVVPID = 66 0F 38 81 08. */
Test(sec_vmx_insn, undecoded_invept_invvpid_raise_ud)
{
    hide_ept_and_vpid();
    harness_vmxon_vmptrld(&h);
    const uint8_t invept[] = {0x66, 0x0F, 0x38, 0x80, 0x08};
    const uint8_t invvpid[] = {0x66, 0x0F, 0x38, 0x81, 0x08};
    for (int which = 0; which < 2; which++) {
        nvmx_exit exit = {.reason = NVMX_EXIT_UNDECODED, .bytes_length = 5};
        memcpy(exit.bytes, which ? invvpid : invept, 5);
        operands();
        h.host.regs[NVMX_REG_RCX] = 0x12345;
        uint64_t rip = h.host.regs[NVMX_REG_RIP];
        nvmx_status status = nvmx_on_l1_exit(h.vcpu, &exit, &h.next);
        if (status == NVMX_ERR_UNSUPPORTED)
            cr_skip_test("built without Zydis");
        cr_assert_eq(status, NVMX_OK);
        cr_assert_eq(h.host.exception_count, 1);
        cr_assert_eq(h.host.exceptions[0].vector, NVMX_VECTOR_UD);
        cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip);
        h.host.exception_count = 0;
    }
}
