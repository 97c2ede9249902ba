/* SPDX-License-Identifier: MIT */
/*
 * How a VMX instruction ends (SDM Vol. 3C 31.2, "Conventions"): it succeeds or fails and
 * completes (RIP advances, RFLAGS reports), or faults (an exception, RIP stays), or — in VMX
 * non-root operation — causes a VM exit to L1.
 */
#ifndef NESTVMX_LIB_EXITS_VMX_OUTCOME_H
#define NESTVMX_LIB_EXITS_VMX_OUTCOME_H

#include "../internal.h"

typedef enum vmx_outcome {
    VMX_COMPLETED,    /* RIP advanced, RFLAGS set (VMsucceed or VMfail) */
    VMX_FAULTED,      /* an exception was delivered to the running guest */
    VMX_EXIT_TO_L1,   /* executed in VMX non-root operation: a VM exit to L1 */
    VMX_FAULT_TO_L1,  /* L2's instruction faulted and L1 intercepts the exception: the
                       * exit is recorded in vcpu->pending_exit */
    VMX_ENTERED_L2,   /* VMLAUNCH/VMRESUME entered L2 (vmcs02 ready) */
    VMX_EXITED_TO_L1, /* a VM entry failed as a VM exit to L1 (next->run says L1 or shutdown) */
    VMX_HOST_ERROR,   /* an op failed in a way the architecture has no answer for */
} vmx_outcome;

/* One VMX instruction being carried out. */
typedef struct vmx_exec {
    nvmx_vcpu *vcpu;
    const vmx_instruction *insn;
    cpu_mode mode;
    nvmx_next *next;
    nvmx_status host_error; /* with VMX_HOST_ERROR: what to tell the embedder */
} vmx_exec;

/* An instruction retires without reporting through RFLAGS (RDMSR, WRMSR): RIP moves past it,
 * RF clears, a set TF asks for the single-step trap. */
void instruction_retire(nvmx_vcpu *vcpu, cpu_mode mode, uint8_t length, nvmx_next *next);

vmx_outcome vmx_succeed(vmx_exec *x);
vmx_outcome vmx_fail_invalid(vmx_exec *x);
vmx_outcome vmx_fail_valid(vmx_exec *x, unsigned error_number);
/* VMfail: VMfailValid if there is a current VMCS, else VMfailInvalid. */
vmx_outcome vmx_fail(vmx_exec *x, unsigned error_number);
vmx_outcome vmx_fault(vmx_exec *x, const nvmx_exception *exception);
/* After an access to a memory operand: true to go on (NVMX_OK), else *outcome is the fault it
 * raised (NVMX_ERR_BAD_L1_ADDRESS) or VMX_HOST_ERROR with the status recorded. */
bool vmx_operand_accessed(vmx_exec *x, nvmx_status status, const nvmx_exception *fault,
                          vmx_outcome *outcome);
vmx_outcome vmx_raise_ud(vmx_exec *x);
vmx_outcome vmx_raise_gp0(vmx_exec *x);

/* Record an exit of L2 as the exit L1 will see (SDM 28.2), in vcpu->pending_exit. */
void nested_exit_record(nvmx_vcpu *vcpu, const nvmx_exit *exit);
/* Perform the VM exit to L1 vcpu->pending_exit describes (lib/exits/vm_exit.c) and mark
 * vmcs02's fields the exit saved as in sync; next->run = NVMX_RUN_L1 or NVMX_RUN_SHUTDOWN_L1. */
nvmx_status nested_exit_perform(nvmx_vcpu *vcpu, nvmx_next *next);
/* A reason-1 exit of L2 that L1 intercepts (lib/exits/l1_events.c): whether the host's
 * acknowledgement (interruption information valid or not) matches L1's "acknowledge interrupt
 * on exit"; logs what to do when it does not. */
bool l2_interrupt_exit_consistent(nvmx_vcpu *vcpu, const nvmx_exit *exit);

/* L2 parked in shutdown or wait-for-SIPI (lib/exits/activity.c): right after the VM entry
 * that parked it, the exits that wake shutdown (timer, NMI window), VMX_EXITED_TO_L1, else
 * VMX_ENTERED_L2; and an event nvmx_on_l2_exit reports for it (only an NMI is one). */
vmx_outcome activity_parked_entry(vmx_exec *x);
nvmx_status activity_parked_event(nvmx_vcpu *vcpu, const nvmx_exit *exit, nvmx_next *next);

/* Operand size of VMREAD/VMWRITE and of register forms: 8 in 64-bit mode, else 4 (SDM 31.3). */
size_t vmx_operand_size(const vmx_exec *x);
/* SDM 31.3, first line of every VMX instruction but VMXON: #UD outside VMX operation, in real
 * or virtual-8086 mode, or in compatibility mode. */
bool vmx_ud_outside_vmx(const vmx_exec *x);
/* SDM 31.3, the first lines of VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMLAUNCH, VMRESUME, INVEPT,
 * INVVPID: #UD, then VM exit in non-root operation, then #GP(0) at CPL > 0. Returns true with
 * *outcome set when one of them applies. */
bool vmx_common_checks(vmx_exec *x, vmx_outcome *outcome);
/* A VMXON/VMCLEAR/VMPTRLD pointer that is not 4-KiB aligned or sets bits beyond L1's
 * physical-address width (SDM 31.3). */
bool vmx_pointer_invalid(const nvmx_vcpu *vcpu, uint64_t address);

/* The instruction handlers, one per instruction (lib/exits/vmx_instructions.c,
 * lib/exits/vmread_vmwrite.c, lib/exits/vm_entry.c, lib/exits/inv_instructions.c). */
vmx_outcome handle_vmxon(vmx_exec *x);
vmx_outcome handle_vmxoff(vmx_exec *x);
vmx_outcome handle_vmclear(vmx_exec *x);
vmx_outcome handle_vmptrld(vmx_exec *x);
vmx_outcome handle_vmptrst(vmx_exec *x);
vmx_outcome handle_vmcall(vmx_exec *x);
vmx_outcome handle_vmread(vmx_exec *x);
vmx_outcome handle_vmwrite(vmx_exec *x);
vmx_outcome handle_vmlaunch_vmresume(vmx_exec *x);
vmx_outcome handle_invept(vmx_exec *x);
vmx_outcome handle_invvpid(vmx_exec *x);
vmx_outcome handle_vmfunc(vmx_exec *x);

#endif
