/* SPDX-License-Identifier: MIT */
/*
 * A VM with one vCPU over the fake host, and short ways to run VMX instructions through
 * nvmx_on_l1_exit as a hardware host reports them (exit reason + instruction information).
 */
#ifndef NESTVMX_TESTS_VMX_HARNESS_H
#define NESTVMX_TESTS_VMX_HARNESS_H

#include "fake_host.h"
#include "internal.h"

#define HARNESS_RAM (16u << 20)
#define VMXON_REGION 0x10000ull
#define VMCS_A 0x11000ull
#define VMCS_B 0x12000ull
#define VMCS_C 0x13000ull
#define SHADOW_VMCS 0x14000ull
#define VMREAD_BITMAP_GPA 0x15000ull
#define VMWRITE_BITMAP_GPA 0x16000ull
#define OPERAND 0x20000ull /* where memory operands live */
#define INSN_LENGTH 3u

/* Instruction information (SDM 28.2.5): a memory operand [RAX], 64-bit address, DS. */
#define INFO_MEM_RAX ((2u << 7) | (3u << 15) | (1u << 22))
/* The same memory operand with RCX as the register operand (reg2): the VMREAD/VMWRITE field
 * encoding, or the INVEPT/INVVPID type (SDM 28.2.5, Tables 28-12 to 28-14). */
#define INFO_MEM_RAX_REG_RCX (INFO_MEM_RAX | ((unsigned)NVMX_REG_RCX << 28))
/* VMREAD/VMWRITE register form: reg1 (r/m) and reg2 (field encoding). */
#define INFO_REGS(reg1, reg2) ((1u << 10) | ((unsigned)(reg1) << 3) | ((unsigned)(reg2) << 28))

typedef struct harness {
    fake_host host;
    nvmx_vm *vm;
    nvmx_vcpu *vcpu;
    nvmx_next next;
} harness;

/* Create the VM (config NULL = defaults) and a vCPU; fails the test on error. */
void harness_init(harness *h, const nvmx_vm_config *config);
/* The same with another ops table (NULL = the fake host's), e.g. hostile memory ops. */
void harness_init_with_ops(harness *h, const nvmx_vm_config *config, const nvmx_host_ops *ops);
/* L1's registers move from the fake register file into vmcs01's guest-state area, where a
 * hardware host keeps them (fake_host.vmcs_backed). */
void harness_l1_into_vmcs01(harness *h);
/* L1 fills the current vmcs12 with VMWRITEs: the known-good L2 and host state of the
 * entry-check fixture, with the controls the VM exposes. */
void harness_l1_builds_vmcs12(harness *h);
/* A VM ready to launch L2: init (with ops), L1 into vmcs01, VMXON + VMPTRLD of VMCS_A, a
 * known-good vmcs12. */
void harness_nested_init(harness *h, const nvmx_vm_config *config, const nvmx_host_ops *ops);
/* Destroy vCPU and VM, and check every allocation, host page and VPID was freed. */
void harness_fini(harness *h);

/* Write a VMCS/VMXON region header: revision identifier at gpa. */
void harness_region(harness *h, uint64_t gpa, uint32_t revision);

/* Run an exit through nvmx_on_l1_exit (or nvmx_on_l2_exit while in guest mode). */
nvmx_status harness_exit(harness *h, uint32_t reason, uint32_t info, uint64_t qualification);
/* VMXON/VMCLEAR/VMPTRLD with the pointer as [RAX] memory operand at OPERAND. */
nvmx_status harness_pointer_insn(harness *h, uint32_t reason, uint64_t pointer);
/* VMXON of a fresh valid region, VMPTRLD of VMCS_A: asserts both succeed. */
void harness_vmxon_vmptrld(harness *h);
/* VMREAD/VMWRITE with register operands (RAX value, RCX encoding). */
nvmx_status harness_vmread(harness *h, uint64_t encoding, uint64_t *value);
nvmx_status harness_vmwrite(harness *h, uint64_t encoding, uint64_t value);

/* RFLAGS checks (SDM 31.2): exactly the outcome's flags among CF, PF, AF, ZF, SF, OF. */
bool harness_succeeded(const harness *h);
bool harness_failed_invalid(const harness *h);
/* VMfailValid with this error number in the current VMCS's VM-instruction error field. */
bool harness_failed_valid(const harness *h, unsigned error_number);
/* The last exception injected, with the count checked to be exactly one. */
const nvmx_exception *harness_single_exception(const harness *h);

#endif
