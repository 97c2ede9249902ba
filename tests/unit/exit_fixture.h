/* SPDX-License-Identifier: MIT */
/*
 * A vCPU running L2 under the known-good vmcs12 of entry_fixture.h, ready for a VM exit to
 * L1: the vmcs12 is the vCPU's current cached VMCS (region at EXIT_VMCS12_GPA), vmcs02 holds
 * L2's state (the fixture's guest fields) and vmcs01 L1's (a 64-bit L1 in VMX operation).
 */
#ifndef NESTVMX_TESTS_EXIT_FIXTURE_H
#define NESTVMX_TESTS_EXIT_FIXTURE_H

#include "entry_fixture.h"
#include "exits/vm_exit.h"

#define EXIT_VMCS12_GPA 0x11000ull
#define EXIT_MSR_STORE_GPA 0x30000ull
#define EXIT_MSR_LOAD_GPA 0x40000ull
#define ENTRY_MSR_LOAD_GPA 0x50000ull

/* L1's state in vmcs01 before the exit. */
#define L1_CR0 (NVMX_CR0_PG | NVMX_CR0_NE | NVMX_CR0_ET | NVMX_CR0_PE) /* 80000031H */
#define L1_CR4 (NVMX_CR4_VMXE | NVMX_CR4_PAE)
#define L1_EFER (NVMX_EFER_LME | NVMX_EFER_LMA | NVMX_EFER_NXE | NVMX_EFER_SCE)

typedef struct exit_fixture {
    entry_fixture f;    /* fake host, VM, vCPU, known-good vmcs12 (f.v) */
    vmcs12_cached *cur; /* vcpu.current: f.v's fields, no field dirty */
} exit_fixture;

void exit_fixture_init(exit_fixture *x);
void exit_fixture_fini(exit_fixture *x);

/* Fields of the current vmcs12, vmcs01 and vmcs02 by name. */
#define V12(x, name) ((x)->cur->data.field[VMCS12_ORD_##name])
#define VMCS01(x, name) ((x)->f.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_##name])
#define VMCS02(x, name) ((x)->f.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_##name])
#define V12_DIRTY(x, ord) (((x)->cur->data.dirty[(ord) / 64] >> ((ord) % 64)) & 1)

/* Write an MSR list of n entries {index (with reserved bits), value} at gpa. */
void exit_fixture_msr_list(exit_fixture *x, uint64_t gpa, const uint64_t entries[][2], unsigned n);

/* A CPUID exit of L2 (no event information). */
nested_exit exit_fixture_cpuid(void);
/* vm_exit_to_l1 with `e`; asserts NVMX_OK and returns the run answer. */
nvmx_run exit_fixture_exit(exit_fixture *x, const nested_exit *e);
/* A CPUID exit that must complete normally (NVMX_RUN_L1). */
void exit_fixture_exit_ok(exit_fixture *x);

#endif
