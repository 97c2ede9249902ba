/* SPDX-License-Identifier: MIT */
/*
 * VM-entry checks (SDM Vol. 3C 27.2, 27.3) as tables of named predicates. Each category lives
 * in its own file (entry_checks_controls.c, entry_checks_host.c, entry_checks_guest.c) as one
 * array of `entry_check`, in the order they run; this header is what they share.
 */
#ifndef NESTVMX_LIB_VMCS_ENTRY_CHECKS_H
#define NESTVMX_LIB_VMCS_ENTRY_CHECKS_H

#include "../internal.h"

/* What the checks see: the vmcs12 being entered, the VM's exposed capabilities, and values
 * derived once per entry. Predicates read only this (and guest memory only through
 * entry_check_ctx_prepare_guest, so each byte of L1 memory is read once per entry). */
typedef struct entry_check_ctx {
    nvmx_vcpu *vcpu;   /* ops for guest memory, the vmcs12 cache (link pointer) */
    const nvmx_vm *vm; /* exposed capabilities (vm->caps), phys_addr_width */
    const vmcs12 *v;   /* the vmcs12 */
    /* Controls as they act (SDM 25.6.2: secondary and tertiary controls count only when
     * activated; 25.7.1: secondary exit controls only when activated). */
    uint32_t pin, proc, proc2, exit, entry;
    uint64_t proc3, exit2;
    /* The processor (L1) is in IA-32e mode: IA32_EFER.LMA of L1 (SDM 27.2.4). */
    bool l1_ia32e;
    /* Filled by entry_check_ctx_prepare_controls() before the control checks. */
    uint8_t vtpr; /* byte 0x80 of the virtual-APIC page (SDM 27.2.1.1, TPR threshold) */
    /* Filled by entry_check_ctx_prepare_guest() before the guest-state checks. */
    bool pdptes_loaded; /* the PDPTEs came from memory (PAE paging without EPT) */
    uint64_t pdpte[4];
    uint32_t link_revision; /* first 32 bits of the VMCS link pointer's region */
} entry_check_ctx;

/* A field of the vmcs12 by name: FIELD(c, GUEST_CR0). */
#define FIELD(c, name) vmcs12_get((c)->v, VMCS12_ORD_##name)

typedef bool (*entry_check_fn)(const entry_check_ctx *c);

typedef struct entry_check {
    nvmx_entry_check_info info;
    entry_check_fn passes; /* true when the rule holds */
} entry_check;

/* Declare a table entry: CHECK(name, category, "27.2.1.1", qualification, function). */
#define ENTRY_CHECK(name_, category_, section_, qualification_, fn_)                               \
    {                                                                                              \
        .info = {.name = (name_),                                                                  \
                 .category = (category_),                                                          \
                 .sdm_section = (section_),                                                        \
                 .exit_qualification = (qualification_)},                                          \
        .passes = (fn_)                                                                            \
    }

extern const entry_check entry_checks_controls[];
extern const size_t entry_checks_controls_count;
extern const entry_check entry_checks_host[];
extern const size_t entry_checks_host_count;
extern const entry_check entry_checks_guest[];
extern const size_t entry_checks_guest_count;

/* The segment registers each family of guest-state segment rules covers, in the SDM's order
 * (27.3.1.2): X(SEG, seg, ...). One list for the check table and its tests. */
#define ENTRY_CODE_DATA_SEGMENTS(X, ...)                                                           \
    X(CS, cs, __VA_ARGS__)                                                                         \
    X(SS, ss, __VA_ARGS__)                                                                         \
    X(DS, ds, __VA_ARGS__)                                                                         \
    X(ES, es, __VA_ARGS__)                                                                         \
    X(FS, fs, __VA_ARGS__)                                                                         \
    X(GS, gs, __VA_ARGS__)
#define ENTRY_DATA_SEGMENTS(X, ...)                                                                \
    X(DS, ds, __VA_ARGS__)                                                                         \
    X(ES, es, __VA_ARGS__)                                                                         \
    X(FS, fs, __VA_ARGS__)                                                                         \
    X(GS, gs, __VA_ARGS__)
#define ENTRY_SYSTEM_SEGMENTS(X, ...)                                                              \
    X(TR, tr, __VA_ARGS__)                                                                         \
    X(LDTR, ldtr, __VA_ARGS__)
#define ENTRY_CANONICAL_BASE_SEGMENTS(X, ...)                                                      \
    X(TR, tr, __VA_ARGS__)                                                                         \
    X(FS, fs, __VA_ARGS__)                                                                         \
    X(GS, gs, __VA_ARGS__)                                                                         \
    X(LDTR, ldtr, __VA_ARGS__)
#define ENTRY_UPPER_BASE_SEGMENTS(X, ...)                                                          \
    X(CS, cs, __VA_ARGS__)                                                                         \
    X(SS, ss, __VA_ARGS__)                                                                         \
    X(DS, ds, __VA_ARGS__)                                                                         \
    X(ES, es, __VA_ARGS__)

/* Fill the context for entering v on vcpu (derived controls). */
void entry_check_ctx_init(entry_check_ctx *c, nvmx_vcpu *vcpu, const vmcs12 *v);
/* Read what the control checks need from L1 memory, once (entry_checks_controls.c). */
void entry_check_ctx_prepare_controls(entry_check_ctx *c);
/* Read what the guest-state checks need from L1 memory, once (entry_checks_guest.c). */
void entry_check_ctx_prepare_guest(entry_check_ctx *c);
/* The first check of a category that fails, or NULL when all pass. */
const entry_check *entry_checks_first_failure(const entry_check_ctx *c,
                                              nvmx_entry_check_category category);

/* The memo (entry_checks.c): the vmcs12 fields the control and host-state checks read, for
 * nvmx_vm.entry_memo_inputs; whether those checks passed on c->v with the inputs c has now;
 * and recording that they did (c->v is v). */
void entry_checks_memo_inputs(uint64_t inputs[VMCS12_FIELD_WORDS]);
bool entry_checks_memo_holds(const entry_check_ctx *c);
void entry_checks_memo_record(const entry_check_ctx *c, vmcs12 *v);

/* Helpers the predicates share; the canonical-address ones (canonical48,
 * upper_bits_identical48, 48 bits, SDM Vol. 1 3.3.7.1) are lib/arch.h's. */
/* An address that sets bits beyond L1's physical-address width. */
bool entry_address_too_wide(const entry_check_ctx *c, uint64_t address);

#endif
