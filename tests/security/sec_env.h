/* SPDX-License-Identifier: MIT */
/*
 * Shared set-up of the CVE-class security regressions (docs/SECURITY.md): a VM and vCPU over
 * the fake host, optionally with a replaced ops table (hostile memory), L1 running from
 * vmcs01 as on a hardware host, and a known-good vmcs12 built by L1's own VMWRITEs.
 */
#ifndef NESTVMX_TESTS_SEC_ENV_H
#define NESTVMX_TESTS_SEC_ENV_H

#include "vmx_harness.h"

/* harness_init with another ops table (NULL = the fake host's). */
void sec_init(harness *h, const nvmx_vm_config *config, const nvmx_host_ops *ops);
/* sec_init + L1 in vmcs01 + VMXON + VMPTRLD VMCS_A + the good vmcs12. */
void sec_nested_init(harness *h, const nvmx_vm_config *config, const nvmx_host_ops *ops);

/* VMREAD/VMWRITE by L1 that must succeed. */
uint64_t sec_vmread(harness *h, uint32_t field);
void sec_vmwrite(harness *h, uint32_t field, uint64_t value);
/* OR bits into the primary (and secondary) processor-based controls of vmcs12. */
void sec_set_proc(harness *h, uint32_t proc, uint32_t proc2);

/* VMLAUNCH/VMRESUME that must enter L2; the fake CPU then runs from vmcs02. */
void sec_launch(harness *h, uint32_t reason);
/* An exit of L2; when it goes to L1 the fake CPU runs from vmcs01 again. */
nvmx_status sec_l2_exit(harness *h, const nvmx_exit *exit);
/* The common case: only the reason and the instruction length. */
nvmx_status sec_l2_exit_simple(harness *h, uint32_t reason, uint32_t length);

/* L1 gives L2 EPT (vmcs12 EPTP `eptp`) and the VM function EPTP switching with its EPTP list
 * at list_gpa, by VMWRITEs (SDM 25.6.14). */
void sec_l1_enables_eptp_switching(harness *h, uint64_t eptp, uint64_t list_gpa);
/* L2 executes VMFUNC with these RAX and RCX: reason 59, length SEC_VMFUNC_LENGTH. */
#define SEC_VMFUNC_LENGTH 3u
nvmx_status sec_l2_vmfunc(harness *h, uint64_t rax, uint64_t rcx);

/* The guest state L1 or L2 can observe, to prove that an operation changed nothing (or only
 * what the SDM says): fake registers, both hardware VMCSs, the low 2 MiB of L1 RAM (every
 * region, operand and bitmap of the tests), exceptions injected, and the vCPU's VMX state. */
#define SEC_RAM_WINDOW (2u << 20)
typedef struct sec_snapshot {
    uint64_t regs[NVMX_REG_COUNT];
    nvmx_segment segs[NVMX_SEG_COUNT];
    uint64_t vmcs[2][VMCS12_FIELD_COUNT];
    uint8_t *ram;
    int exception_count;
    bool vmx_operation, guest_mode;
    uint64_t current_vmptr;
    long live_allocations;
} sec_snapshot;

void sec_snapshot_take(const harness *h, sec_snapshot *s);
void sec_snapshot_free(sec_snapshot *s);
/* Asserts that nothing but the listed vmcs01 ordinals (terminated by -1) changed in vmcs01,
 * and that registers, vmcs02, RAM window, vCPU state and allocations are identical. */
void sec_assert_unchanged_except(const harness *h, const sec_snapshot *s, const int *vmcs01_except);
/* Nothing at all changed (exceptions included). */
void sec_assert_unchanged(const harness *h, const sec_snapshot *s);

#endif
