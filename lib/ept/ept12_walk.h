/* SPDX-License-Identifier: MIT */
/*
 * The EPT12 walker: translate an L2 guest-physical address through L1's EPT paging structures
 * (EPT12: L2 GPA -> L1 GPA) exactly as the EPT translation mechanism does (SDM Vol. 3C 29.3.2),
 * deciding EPT misconfigurations (29.3.3.1) and EPT violations (29.3.3.2) with every bit the
 * exit qualification takes from the walk (28.2.1, Table 28-7), and setting the EPT accessed and
 * dirty flags when the EPTP enables them (29.3.4).
 *
 * Pure and bounded: no allocation; each EPT entry is read once per walk (at most 5 reads) through
 * l1_read and decided from that one value (no double fetch); A/D flags are set through the
 * l1_cmpxchg64 op against the value read. Memory that is not L1 RAM reads as all ones, which
 * has reserved bits set in every entry: an EPT misconfiguration.
 */
#ifndef NESTVMX_LIB_EPT_EPT12_WALK_H
#define NESTVMX_LIB_EPT_EPT12_WALK_H

#include "../internal.h"

/* The kind of an access, as bits 2:0 of the EPT-violation exit qualification (Table 28-7). */
typedef enum ept12_access_kind {
    EPT12_ACCESS_READ = 1,  /* data read */
    EPT12_ACCESS_WRITE = 2, /* data write (read-modify-write included) */
    EPT12_ACCESS_FETCH = 4, /* instruction fetch */
} ept12_access_kind;

typedef struct ept12_access {
    ept12_access_kind kind;
    /* An instruction fetch from a user-mode linear address (U/S = 1 in every guest paging
     * entry of its translation); used only under mode-based execute control. */
    bool user;
    /* The access reads (or writes A/D bits in) a guest paging-structure entry. With EPT A/D
     * enabled such accesses are writes for EPT (29.3.3.2, 29.3.4.2): they need write
     * permission, set the dirty flag, and a violation reports bits 0 and 1 (Table 28-7). */
    bool guest_paging;
    /* vmcs12's "mode-based execute control for EPT" (secondary control 22); honored only when
     * the capability is exposed. Bit 2 is then supervisor-mode execute, bit 10 user-mode. */
    bool mode_based_execute;
} ept12_access;

typedef enum ept12_outcome {
    EPT12_TRANSLATED = 0, /* the access is allowed: l1_gpa and the mapping's attributes */
    EPT12_MISCONFIG,      /* an EPT misconfiguration (exit reason 49) at `level` */
    EPT12_VIOLATION,      /* an EPT violation (exit reason 48): `qualification` */
    /* The A/D update lost the race with L1 rewriting its entries EPT12_AD_MAX_WALKS times in a
     * row. Nothing architectural happened yet: the caller resumes L2 without a mapping so the
     * access repeats (as hardware, whose locked update would have retried). Never returned
     * when A/D flags are disabled. */
    EPT12_RETRY,
} ept12_outcome;

/* Walks tried before EPT12_RETRY when every one lost an A/D compare-exchange. */
#define EPT12_AD_MAX_WALKS 4u

/* Levels: 1 = PTE, 2 = PDE, 3 = PDPTE, 4 = PML4E, 5 = PML5E. */
#define EPT12_LEVEL_PTE 1u
#define EPT12_LEVEL_PML4E 4u
#define EPT12_LEVEL_PML5E 5u
#define EPT12_MAX_LEVELS 5u

typedef struct ept12_result {
    ept12_outcome outcome;
    /* TRANSLATED: the level of the entry that maps the page (1, 2 or 3). MISCONFIG: the level
     * of the misconfigured entry. VIOLATION: the level of the last entry read (the not-present
     * one, or the one that maps the page); for a GPA the walk cannot translate (bits above 47
     * with a 4-level walk) the top level, with no entry read. */
    uint8_t level;
    /* VIOLATION: the walk reached the entry that maps the page (a permission violation); false
     * when an entry was not present. */
    bool leaf_reached;
    /* TRANSLATED: the L1 guest-physical address and the size of the EPT12 mapping (4 KiB,
     * 2 MiB or 1 GiB). */
    uint64_t l1_gpa;
    uint64_t page_size;
    /* TRANSLATED and VIOLATION: the AND over the entries used of bit 0 (read), bit 1 (write),
     * bit 2 (execute; supervisor-mode execute under mode-based execute control) and, under
     * mode-based execute control, bit 10 (user_execute; equal to execute without it). */
    bool read, write, execute, user_execute;
    /* TRANSLATED: EPT memory type (bits 5:3) and ignore-PAT (bit 6) of the mapping entry
     * (29.3.7.2). */
    uint8_t memory_type;
    bool ignore_pat;
    /* VIOLATION: exit-qualification bits 0-6 (Table 28-7). The caller adds bits 7-8 (guest-
     * linear address), 9-11 (advanced information), 12 (NMI unblocking) and the rest. */
    uint64_t qualification;
} ept12_result;

/* Walk L1's EPT for an access by L2 to `l2_gpa`. `eptp` is vmcs12's EPT pointer; it must pass
 * eptp_valid() (VM entry checked it), else NVMX_ERR_INVALID_ARGUMENT, as for a NULL pointer,
 * an unknown access kind or an l2_gpa at or above 2^MAXPHYADDR (no guest can produce one).
 * Returns NVMX_OK with *out describing the architectural outcome; NVMX_ERR_UNSUPPORTED when the
 * EPTP enables A/D flags and the embedder has no l1_cmpxchg64 op; NVMX_ERR_HOST when an op
 * fails otherwise than as documented in ops.h. */
nvmx_status ept12_walk(const nvmx_vm *vm, uint64_t eptp, uint64_t l2_gpa,
                       const ept12_access *access, ept12_result *out);

#endif
