/* SPDX-License-Identifier: MIT */
/*
 * EPT02: the shadow EPT that maps L2 guest-physical addresses to host-physical ones, the
 * composition of L1's EPT (EPT12: L2 GPA -> L1 GPA, lib/ept/ept12_walk.c) with L0's EPT01
 * (L1 GPA -> host, the ept01_lookup op). Built lazily, one leaf per EPT violation L0 gets
 * from hardware walking EPT02 (ept02_fault), and cached per vCPU keyed by the EPT12 root, so
 * L1 switching between its EPTPs reuses what was built. vmcs02's EPTP: vmcs02_write_eptp;
 * L2's EPT violations: lib/exits/ept_exits.c.
 *
 * EPT02 is always a 4-level structure (page-walk length 4, EPTP memory type WB, no A/D
 * flags: ept02_root_hpa). Its tables are 4-KiB pages from the page_alloc op, written through
 * the host pointer page_alloc returned; next to each table the library keeps a node
 * (mem_alloc) with, per entry, the child node (non-leaf) or the L1 GPA the leaf was derived
 * from (the reverse map ept02_invalidate_l1_range scans).
 *
 * Bounded: at most nvmx_vm_config.max_ept02_pages table pages per vCPU (root pages
 * included). Reaching the cap evicts whole roots, least recently used first, never the one
 * being built; if that one alone is at the cap, its tables are freed (its root page kept, so
 * its EPTP stays valid). Every loop is bounded by the 4 EPT02 levels or by the cap: nothing L1
 * controls makes the work or the memory grow beyond them.
 *
 * Caching is architectural: like a processor's EPT TLB (SDM Vol. 3C 29.4), EPT02 may keep a
 * translation after L1 changes EPT12 until L1 executes INVEPT (ept02_invalidate_root /
 * ept02_invalidate_all). When L0 changes EPT01 it calls nvmx_ept01_changed, which calls
 * ept02_invalidate_l1_range.
 */
#ifndef NESTVMX_LIB_EPT_EPT02_H
#define NESTVMX_LIB_EPT_EPT02_H

#include "../internal.h"
#include "ept12_walk.h"

/* The EPTP memory type and page-walk length of every EPT02 (SDM 25.6.11). */
#define EPT02_EPTP_MEMTYPE MEMTYPE_WB
#define EPT02_LEVELS 4u

typedef enum ept02_outcome {
    /* A leaf now maps the page of l2_gpa: resume L2 (the access repeats and succeeds). */
    EPT02_INSTALLED = 0,
    /* The EPT12 walk ended in an EPT misconfiguration or violation: the exit is L1's, with
     * the walker's result in `walk`. Nothing was installed. */
    EPT02_REFLECT,
    /* The walker lost its A/D races (EPT12_RETRY): resume L2 without a mapping. */
    EPT02_RETRY,
    /* L0's business: EPT12 translated to l1_gpa, but EPT01 does not back it (MMIO, or no
     * memory: the ept01_lookup op answered NVMX_ERR_BAD_L1_ADDRESS or a mapping without any
     * permission) or does not allow this access (e.g. L0 write-protects the page). Nothing
     * was installed; `ept01_backed` tells which. Never a fabricated mapping. */
    EPT02_L0,
} ept02_outcome;

typedef struct ept02_fault_result {
    ept02_outcome outcome;
    /* The EPT12 walk (every outcome). */
    ept12_result walk;
    /* INSTALLED and L0: the L1 guest-physical address of l2_gpa. */
    uint64_t l1_gpa;
    /* L0: whether EPT01 backs l1_gpa (then the access was not allowed by it). */
    bool ept01_backed;
    /* INSTALLED: the leaf: host-physical address of l2_gpa, its page size (4 KiB, 2 MiB or
     * 1 GiB: the smaller of EPT12's and EPT01's), permissions and memory type. */
    uint64_t host_phys;
    uint64_t page_size;
    bool read, write, execute;
    uint8_t memory_type;
    bool ignore_pat;
} ept02_fault_result;

/* The per-vCPU state (struct ept02_cache, internal.h) starts zeroed: no roots. */

/* L0 got an EPT violation from hardware walking EPT02 while L2 accessed l2_gpa. `eptp12` is
 * vmcs12's EPT pointer (it passed eptp_valid at VM entry). Walks EPT12, then EPT01, and
 * installs a leaf in the EPT02 of eptp12's root (created if needed):
 *   host-physical from EPT01; permissions EPT12 ∩ EPT01; page size the smaller of the two
 *   (a large EPT12 page backed by smaller EPT01 pages is split: the piece containing l2_gpa
 *   is mapped); memory type and ignore-PAT from EPT12, except UC when EPT01's type is UC
 *   (memory L0 maps uncached, such as a device, never becomes cacheable through L1). With
 *   EPT A/D flags in eptp12 the leaf is writable only after a write (the walker then set the
 *   dirty flag), so L1 sees the dirty flag of every page L2 writes.
 * A leaf already there for a smaller page size (a table) is kept: the new leaf goes below it.
 * Returns NVMX_OK with *out; NVMX_ERR_INVALID_ARGUMENT (NULL, bad eptp12 or access, as
 * ept12_walk); NVMX_ERR_UNSUPPORTED without the ept01_lookup, page_alloc, page_free and tlb_flush
 * ops, under mode-based execute control (not implemented), or when the L2 GPA is at or above 2^48
 * (beyond a 4-level EPT02); NVMX_ERR_NO_MEMORY (nothing half-installed: tables already linked stay,
 * empty, and are counted); NVMX_ERR_HOST when an op fails or ept01_lookup answers a mapping that is
 * not a whole 4 KiB, 2 MiB or 1 GiB page below 2^52. */
nvmx_status ept02_fault(nvmx_vcpu *vcpu, uint64_t eptp12, uint64_t l2_gpa,
                        const ept12_access *access, ept02_fault_result *out);

/* The EPTP vmcs02 would use for eptp12: the EPT02 root's host-physical address, memory type
 * WB, page-walk length 4, no A/D flags. Creates the (empty) root when there is none.
 * NVMX_ERR_UNSUPPORTED without the page ops, NVMX_ERR_NO_MEMORY. */
nvmx_status ept02_root_hpa(nvmx_vcpu *vcpu, uint64_t eptp12, uint64_t *eptp02);
/* The EPTP of eptp12's EPT02 when the vCPU has one (nothing is created). */
bool ept02_root_eptp(nvmx_vcpu *vcpu, uint64_t eptp12, uint64_t *eptp02);

/* The hardware's cached translations (SDM 29.4): every time a present EPT02 entry is removed
 * or replaced, or a table freed (invalidation, eviction, a leaf replaced by a smaller page or
 * one with other permissions), the tlb_flush op gets NVMX_TLB_FLUSH_EPTP with that EPT02's
 * EPTP (as ept02_root_hpa returns it), at most once per EPT02 and call.
 *
 * Drop the EPT02 of eptp12's root (bits 51:12; INVEPT single-context, SDM 29.4.3.1), freeing
 * all its pages. No-op when there is none. vmcs02's EPTP may name it: vmcs02_write_eptp
 * rewrites it at the next VM entry. */
void ept02_invalidate_root(nvmx_vcpu *vcpu, uint64_t eptp12);
/* Drop every EPT02 of the vCPU (INVEPT all-context). */
void ept02_invalidate_all(nvmx_vcpu *vcpu);
/* L0 changed EPT01 for [l1_gpa, l1_gpa + len): remove every EPT02 leaf derived from an L1
 * page in that range, in every root, and free the tables left empty (root pages stay). Work
 * is bounded by the page cap (a scan of the tables). */
void ept02_invalidate_l1_range(nvmx_vcpu *vcpu, uint64_t l1_gpa, uint64_t len);
/* Free everything (vCPU destroy). */
void ept02_destroy(nvmx_vcpu *vcpu);

#endif
