/* SPDX-License-Identifier: MIT */
/*
 * What the units of a VM exit to L1 share (SDM Vol. 3C chapter 28, 27.4, 27.8):
 * lib/exits/vm_exit.c (exit information, guest-state save, the two entry points of
 * internal.h), lib/exits/load_host_state.c (L1's state from vmcs12's host-state area) and
 * lib/exits/msr_lists.c (the VM-entry MSR-load, VM-exit MSR-store and VM-exit MSR-load
 * lists). The tables are exported so the unit tests can walk them.
 */
#ifndef NESTVMX_LIB_EXITS_VM_EXIT_H
#define NESTVMX_LIB_EXITS_VM_EXIT_H

#include "../internal.h"

/* A vmcs12 field by name: VMCS12_GET(v, HOST_CR0). */
#define VMCS12_GET(v, name) vmcs12_get((v), VMCS12_ORD_##name)

/* VMX-abort indicators written at byte 4 of the VMCS region (SDM 28.7). 3 (corrupted VMCS)
 * and 5 (machine check) cannot happen here: the cache holds the vmcs12 and there is no
 * machine check to model. */
typedef enum vmx_abort {
    VMX_ABORT_NONE = 0,
    VMX_ABORT_SAVE_MSR = 1,    /* VM-exit MSR-store list (28.4) */
    VMX_ABORT_HOST_PDPTE = 2,  /* PDPTEs of a PAE-paging host (28.5.4) */
    VMX_ABORT_LOAD_MSR = 4,    /* VM-exit MSR-load list (28.6) */
    VMX_ABORT_HOST_NOT_64 = 6, /* in IA-32e mode before the exit, host address-space size 0 */
} vmx_abort;

/* ---- Saving guest state (lib/exits/vm_exit.c, SDM 28.3) ------------------------------- */

/* One guest-state field the exit saves from vmcs02 into vmcs12: the field is saved when it
 * exists for the VM and the VM-exit control / secondary execution control named (0 = none)
 * is 1 in vmcs12; the value saved is vmcs02's ANDed with `keep` (bits the SDM says are
 * saved as 0). */
typedef struct exit_saved_field {
    uint32_t encoding;
    uint16_t ordinal;
    uint32_t exit_control;  /* VM-exit control that must be 1, or 0 */
    uint32_t proc2_control; /* secondary processor-based control that must be 1, or 0 */
    uint64_t keep;
    int8_t host_load_input; /* which l1_before value the host-state load takes from it, or -1 */
} exit_saved_field;

extern const exit_saved_field exit_saved_fields[];
extern const size_t exit_saved_field_count;

/* ---- Loading host state (lib/exits/load_host_state.c, SDM 28.5) ---------------------- */

/* The vmcs01 guest-state writes one exit makes, computed before any is made. */
#define HOST_LOAD_MAX 80
typedef struct host_load {
    uint32_t field[HOST_LOAD_MAX];
    uint64_t value[HOST_LOAD_MAX];
    unsigned count;
    vmx_abort abort; /* a VMX abort the loading calls for (28.5.4), VMX_ABORT_NONE if none */
} host_load;

/* The processor's state at an exit that survives where the exit loads nothing (28.5: CR0/CR4
 * bits not loaded, EFER and PAT when their exit control is 0, blocking by NMI). */
typedef struct l1_before {
    uint64_t cr0, cr4, efer, pat, interruptibility;
} l1_before;

/* Compute L1's state after an exit from vmcs12 `v` (its host-state area and VM-exit
 * controls), reading vmcs01 for the bits an exit leaves unmodified and L1 memory for the
 * PDPTEs of a PAE-paging host. Writes nothing. nmi_exit: the exit was caused directly by an
 * NMI, which blocks NMIs (28.5.5); else blocking by NMI stays what nmi_state holds. `state` is
 * the VMCS holding the processor's state at the exit, whose values survive where the exit
 * loads nothing (vmcs02 after L2 ran or was loaded, vmcs01 before).
 * NVMX_ERR_UNSUPPORTED without the hardware-VMCS ops, NVMX_ERR_HOST when a read fails. */
nvmx_status host_load_prepare(nvmx_vcpu *vcpu, const vmcs12 *v, bool nmi_exit, nvmx_hw_vmcs state,
                              nvmx_hw_vmcs nmi_state, host_load *out);
/* The same from values the caller already read from those VMCSs (the exit from L2 has them
 * from the state save): no hardware-VMCS read but the PDPTEs' memory. */
nvmx_status host_load_compute(nvmx_vcpu *vcpu, const vmcs12 *v, bool nmi_exit,
                              const l1_before *before_exit, host_load *out);
/* Write a prepared load into vmcs01's guest-state area, in order; NVMX_ERR_HOST on the first
 * write that fails. */
nvmx_status host_load_write(nvmx_vcpu *vcpu, const host_load *load);

/* One host-state field copied into a vmcs01 guest-state field (28.5.1-28.5.3). */
typedef struct host_copy {
    uint16_t host_ordinal; /* vmcs12 host-state field */
    uint32_t guest_field;  /* vmcs01 guest-state field it becomes */
    uint32_t exit_control; /* VM-exit control that must be 1, or 0 = always */
    uint8_t how;           /* host_copy_how */
} host_copy;

typedef enum host_copy_how {
    HOST_COPY_PLAIN,     /* the field as it is */
    HOST_COPY_CANONICAL, /* bits 63:48 set to bit 47 (linear addresses, 28.5.1, 28.5.2) */
    HOST_COPY_PHYS,      /* bits at and above L1's physical-address width cleared (CR3) */
} host_copy_how;

extern const host_copy host_copies[];
extern const size_t host_copy_count;

/* ---- MSR lists (lib/exits/msr_lists.c, SDM 27.4, 28.4, 28.6) ----------------------- */

typedef enum msr_list_kind {
    MSR_LIST_ENTRY_LOAD, /* VM-entry MSR-load list (27.4) */
    MSR_LIST_EXIT_STORE, /* VM-exit MSR-store list (28.4) */
    MSR_LIST_EXIT_LOAD,  /* VM-exit MSR-load list (28.6) */
    MSR_LIST_KIND_COUNT
} msr_list_kind;

/* The most entries a list may have: 512 * (N + 1) with N = IA32_VMX_MISC[27:25] of the
 * capabilities exposed to L1 (SDM A.6). The SDM leaves longer lists undefined; the library
 * fails the entry after the last one allowed. */
uint32_t msr_list_max_entries(const nvmx_vm *vm);
/* Whether the first quadword of an entry (index and reserved bits) may be processed on a
 * list of this kind; false for the failures 27.4, 28.4 and 28.6 name by index or reserved
 * bits (the ops decide the rest: an MSR that RDMSR/WRMSR would fault on). */
bool msr_entry_allowed(msr_list_kind kind, uint64_t first_quadword);
/* NVMX_ERR_UNSUPPORTED when the list of vcpu->current is not empty and the op it needs
 * (msr_read for the store list, msr_write for the load lists) is missing; else NVMX_OK. */
nvmx_status msr_list_ops_ready(const nvmx_vcpu *vcpu, msr_list_kind kind);
/* Process the list of vcpu->current in order: 0 when every entry was processed, else the
 * 1-based index of the entry that failed (no later entry is processed). Call
 * msr_list_ops_ready() first. */
uint32_t msr_list_process(nvmx_vcpu *vcpu, msr_list_kind kind);

#endif
