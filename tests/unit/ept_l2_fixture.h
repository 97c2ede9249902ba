/* SPDX-License-Identifier: MIT */
/*
 * L2 running on EPT through the public entry points: the security environment's nested set-up
 * (tests/security/sec_env.h: L1 in vmcs01, the known-good vmcs12 by VMWRITE) with "enable EPT"
 * and an EPTP whose EPT12 tables L1 keeps in its RAM (built here), L2 launched. EPT violations
 * are reported as a hardware host reports them, and EPT02 is walked through vmcs02's EPTP as
 * the hardware would walk it (table host-physical addresses are the fake host's pointers).
 */
#ifndef NESTVMX_TESTS_EPT_L2_FIXTURE_H
#define NESTVMX_TESTS_EPT_L2_FIXTURE_H

#include "sec_env.h"

#define EPT12_TABLES 0xC00000ull /* L1 RAM for EPT12 tables: 3 MiB up to the 15 MiB mark */
#define EPT12_TABLES_END 0xF00000ull
#define EPT_R EPT_ENTRY_READ
#define EPT_W EPT_ENTRY_WRITE
#define EPT_X EPT_ENTRY_EXECUTE
#define EPT_RWX EPT_ENTRY_RWX
#define EPT_WB ((uint64_t)MEMTYPE_WB << EPT_ENTRY_MEMTYPE_SHIFT)
#define EPT_2M (1ull << 21)
#define EPT_1G (1ull << 30)

typedef struct ept_l2 {
    harness h;
    uint64_t eptp12; /* vmcs12's EPTP: root at EPT12_TABLES, WB, 4-level, A/D as asked */
    uint64_t next_table;
} ept_l2;

/* Nested set-up (ops NULL = the fake host's) with EPT in vmcs12, then VMLAUNCH into L2. */
void ept_l2_init(ept_l2 *e, const nvmx_vm_config *config, const nvmx_host_ops *ops,
                 bool accessed_dirty);
void ept_l2_fini(ept_l2 *e);

/* Map [l2, l2 + size) to [l1, ...) in EPT12 with a leaf of `size` (4 KiB, 2 MiB, 1 GiB) and
 * `leaf_bits` (permissions, memory type, ...); tables on the way are created with RWX.
 * Returns the L1 GPA of the leaf entry. */
uint64_t ept12_map(ept_l2 *e, uint64_t l2, uint64_t l1, uint64_t size, uint64_t leaf_bits);
/* The L1 GPA of the EPT12 entry of `level` (4 = PML4E) on l2's path; the tables above it must
 * exist. */
uint64_t ept12_entry_gpa(const ept_l2 *e, uint64_t l2, unsigned level);

/* An EPT violation of L2 at l2_gpa as hardware reports it, through nvmx_on_l2_exit. */
nvmx_status ept_l2_violation(ept_l2 *e, uint64_t l2_gpa, uint64_t qualification, uint64_t gla);
/* After an exit to L1: VMRESUME must enter L2 again. */
void ept_l2_resume(ept_l2 *e);

/* vmcs02's EPTP, and EPT02 walked from it as the hardware does: false when no leaf maps
 * l2_gpa, else the leaf entry and its page size. */
uint64_t ept_l2_eptp02(const ept_l2 *e);
bool ept02_hw_walk(uint64_t eptp02, uint64_t l2_gpa, uint64_t *leaf, uint64_t *page_size);
/* Call visit for every leaf of the EPT02 under eptp02 (L2 GPA of its first byte, entry, size). */
void ept02_for_each_leaf(uint64_t eptp02,
                         void (*visit)(void *ctx, uint64_t l2_gpa, uint64_t leaf, uint64_t size),
                         void *ctx);

#endif
