/* SPDX-License-Identifier: MIT */
/*
 * vmcs12: the VMCS L1 builds for L2, in the library's own format (SDM 25.2: the format of a
 * VMCS region beyond its first 8 bytes is implementation-specific).
 *
 * Region layout in L1 memory, all little-endian:
 *   0   revision identifier, bits 30:0; bit 31 = shadow-VMCS indicator (SDM 25.2)
 *   4   VMX-abort indicator (SDM 25.2)
 *   8   launch state: VMCS12_LAUNCHED, anything else = clear (SDM 25.1)
 *   12  VMX generation of the launch: the vCPU's count of VMXOFFs when it was launched
 *   16  one 64-bit slot per field, in the order of NVMX_VMCS_FIELD_LIST
 * The slot order is generated from the one field list; NVMX_VMCS_REVISION_ID must change
 * whenever that list changes (a test checks the layout fingerprint).
 */
#ifndef NESTVMX_LIB_VMCS_VMCS12_H
#define NESTVMX_LIB_VMCS_VMCS12_H

#include <nestvmx/status.h>
#include <nestvmx/vmcs_fields.h>

#include "../freestanding.h"

/* The library's VMCS revision identifier (IA32_VMX_BASIC[30:0]) and the fingerprint of the
 * layout it names (vmcs12_layout_fingerprint()); the two change together. */
#define NVMX_VMCS_REVISION_ID 0x4E560001u
#define NVMX_VMCS12_LAYOUT_FINGERPRINT 0xC829674Bu
/* IA32_VMX_BASIC[44:32]: bytes L1 must allocate for a VMCS region. */
#define NVMX_VMCS_REGION_SIZE 4096u
#define VMCS12_SHADOW_INDICATOR (1u << 31)
/* Launch-state word in the region ("LAUN"). A launched VMCS whose generation differs from the
 * vCPU's was launched before a VMXOFF: VMRESUME of it fails with error 6 (SDM 31.4,
 * "VMRESUME after VMXOFF"). */
#define VMCS12_LAUNCHED 0x4E55414Cu

typedef enum vmcs12_launch_state {
    VMCS12_STATE_CLEAR = 0,
    VMCS12_STATE_LAUNCHED,
    VMCS12_STATE_LAUNCHED_BEFORE_VMXOFF,
} vmcs12_launch_state;

#define VMCS12_HEADER_SIZE 16u

/* Ordinal of each field in the list: VMCS12_ORD_<NAME>. */
enum vmcs12_ordinal {
#define VMCS12_ORD_ENUM(name, enc, feature) VMCS12_ORD_##name,
    NVMX_VMCS_FIELD_LIST(VMCS12_ORD_ENUM)
#undef VMCS12_ORD_ENUM
        VMCS12_FIELD_COUNT
};

#define VMCS12_FIELD_WORDS ((VMCS12_FIELD_COUNT + 63) / 64)
#define VMCS12_DATA_SIZE (VMCS12_HEADER_SIZE + 8u * VMCS12_FIELD_COUNT)

_Static_assert(VMCS12_DATA_SIZE <= NVMX_VMCS_REGION_SIZE, "vmcs12 must fit in a VMCS region");

/* Static facts about one field, generated from the list (lib/vmcs/field_table.c). */
typedef struct vmcs_field_info {
    uint32_t encoding; /* full encoding, access type 0 */
    uint16_t ordinal;  /* slot index in the vmcs12 */
    uint8_t feature;   /* nvmx_feature that makes it exist, NVMX_FEATURE_NONE = always */
    const char *name;  /* "GUEST_RIP" */
} vmcs_field_info;

extern const vmcs_field_info vmcs_field_table[VMCS12_FIELD_COUNT];

/* The field an encoding names (including the high-access alias of a 64-bit field), or NULL
 * if no field of the list has it. Bits 63:15 and 12 set -> NULL (SDM 25.11.2). */
const vmcs_field_info *vmcs_field_lookup(uint64_t encoding);

/* A fingerprint of the layout (encodings and their order), for the revision-bump test. */
uint32_t vmcs12_layout_fingerprint(void);

/* The slot values of one vmcs12 and what changed since the last sync. */
typedef struct vmcs12 {
    uint64_t field[VMCS12_FIELD_COUNT];
    uint64_t dirty[VMCS12_FIELD_WORDS]; /* fields written since vmcs02 was last built from it */
    /* Fields whose value changed since the control and host-state entry checks last passed
     * on it (lib/vmcs/entry_checks.c, "the memo"); all ones after a load or a restore. */
    uint64_t unchecked[VMCS12_FIELD_WORDS];
} vmcs12;

/* The bits a field of this encoding holds: 16, 32 or 64 (64-bit and natural width, since the
 * library models a 64-bit processor; SDM 25.11.2). */
static inline uint64_t vmcs_field_width_mask(uint32_t encoding)
{
    return NVMX_FIELD_WIDTH_MASK(encoding);
}

/* Store a whole field by ordinal, cut to the field's width (a full access, SDM 25.11.2), and
 * mark it dirty, and unchecked when its value changes (vmcs12.unchecked). */
static inline void vmcs12_store(vmcs12 *v, unsigned ordinal, uint32_t encoding, uint64_t value)
{
    uint64_t stored = value & vmcs_field_width_mask(encoding);
    uint64_t bit = 1ull << (ordinal % 64);
    if (stored != v->field[ordinal])
        v->unchecked[ordinal / 64] |= bit;
    v->field[ordinal] = stored;
    v->dirty[ordinal / 64] |= bit;
}

/* Read a field by encoding, with width and high-access semantics (SDM 25.11.2, 31.3 VMREAD):
 * a high access returns bits 63:32 of a 64-bit field; other widths return the slot value.
 * The caller has checked the field exists. */
uint64_t vmcs12_read(const vmcs12 *v, const vmcs_field_info *field, uint64_t encoding);
/* Write a field by encoding: the value is truncated to the field width; a high access
 * writes bits 63:32 from bits 31:0 of value (SDM 31.3 VMWRITE). Marks the field dirty. */
void vmcs12_write(vmcs12 *v, const vmcs_field_info *field, uint64_t encoding, uint64_t value);
/* Fast accessors by ordinal for library code (no width handling needed: slots hold
 * already-truncated values). */
static inline uint64_t vmcs12_get(const vmcs12 *v, unsigned ordinal)
{
    return v->field[ordinal];
}

/* ---- Cache of vmcs12s held by a vCPU (lib/vmcs/vmcs12_cache.c) ------------------------- */

struct nvmx_vm;

typedef struct vmcs12_cached {
    uint64_t gpa;               /* the VMCS region's L1 guest-physical address */
    uint32_t revision;          /* as read from / to be written to offset 0 */
    uint32_t abort;             /* VMX-abort indicator */
    uint8_t launch_state;       /* vmcs12_launch_state (SDM 25.1) */
    uint32_t launch_generation; /* cache generation when launched */
    bool memory_stale;          /* L1's copy of the region differs from this one */
    uint64_t last_use;          /* for least-recently-used write-back */
    vmcs12 data;
} vmcs12_cached;

typedef struct vmcs12_cache {
    void *index; /* hash index by gpa (uthash, allocated through the ops) */
    uint32_t count;
    uint64_t clock;
    uint32_t generation; /* VMXOFFs so far on this vCPU */
} vmcs12_cache;

void vmcs12_cache_init(vmcs12_cache *cache);
/* The cached vmcs12 at gpa, or NULL. Marks it used. */
vmcs12_cached *vmcs12_cache_find(struct nvmx_vm *vm, vmcs12_cache *cache, uint64_t gpa);
/* Load the VMCS region at gpa into the cache (reading L1 memory once), evicting the least
 * recently used entry other than `keep` when full. A region not backed by RAM reads as all
 * ones, as unbacked physical memory does (the revision check then fails).
 * Returns NVMX_OK or NVMX_ERR_NO_MEMORY. */
nvmx_status vmcs12_cache_load(struct nvmx_vm *vm, vmcs12_cache *cache, uint64_t gpa,
                              const vmcs12_cached *keep, vmcs12_cached **out);
/* The cached vmcs12 at gpa, loaded if it is not cached yet (*loaded says which). */
nvmx_status vmcs12_cache_get(struct nvmx_vm *vm, vmcs12_cache *cache, uint64_t gpa,
                             const vmcs12_cached *keep, vmcs12_cached **out, bool *loaded);
/* Write one entry back to L1 memory if stale. */
void vmcs12_cache_writeback(struct nvmx_vm *vm, vmcs12_cached *entry);
/* Drop one entry without writing it back (a region that failed VMPTRLD's revision check). */
void vmcs12_cache_drop(struct nvmx_vm *vm, vmcs12_cache *cache, vmcs12_cached *entry);
/* Set the launch-state word of a region that is not cached (VMCLEAR of an inactive VMCS). */
void vmcs12_region_set_launch_state(struct nvmx_vm *vm, uint64_t gpa, vmcs12_launch_state state);
/* VMXOFF: write back and drop every entry (the data of active VMCSs is not lost), and start a
 * new generation, so VMCSs launched before are "launched before VMXOFF". */
void vmcs12_cache_vmxoff(struct nvmx_vm *vm, vmcs12_cache *cache);
/* Write back and drop one entry. */
void vmcs12_cache_evict(struct nvmx_vm *vm, vmcs12_cache *cache, vmcs12_cached *entry);
/* Write back and drop every entry. */
void vmcs12_cache_flush(struct nvmx_vm *vm, vmcs12_cache *cache);
/* Drop every entry without writing any back (a restored state replaces them). */
void vmcs12_cache_discard(struct nvmx_vm *vm, vmcs12_cache *cache);
/* The entry with the smallest region address above after's (after = NULL: the smallest), or
 * NULL: a deterministic order for the state format, without allocation. */
const vmcs12_cached *vmcs12_cache_next_by_gpa(const vmcs12_cache *cache,
                                              const vmcs12_cached *after);
/* Add an entry with the given content (a restored one), without reading L1 memory; its gpa
 * must not be cached. NVMX_ERR_NO_MEMORY, else NVMX_OK. */
nvmx_status vmcs12_cache_insert(struct nvmx_vm *vm, vmcs12_cache *cache,
                                const vmcs12_cached *entry);

#endif
