/* SPDX-License-Identifier: MIT */
/*
 * The nested-state blob (docs/STATE-FORMAT.md is the normative description; this header is
 * its one source in code). Little-endian throughout, whatever the host's byte order.
 *
 *   header (32 bytes): magic "NVMXSTAT", u16 major, u16 minor, u32 header size, u32 total
 *     size, u32 section count, u32 flags (0), u32 CRC-32C of the blob with this field left out
 *   sections, each: u16 type, u16 flags (bit 0: required), u32 payload length, the payload,
 *     zero padding to a multiple of 8 bytes
 *
 * A reader skips sections it does not know unless they are required; it refuses a major
 * version other than its own.
 */
#ifndef NESTVMX_LIB_STATE_STATE_FORMAT_H
#define NESTVMX_LIB_STATE_STATE_FORMAT_H

#include "../internal.h"

#define STATE_MAGIC "NVMXSTAT"
#define STATE_HEADER_SIZE 32u
#define STATE_CRC_OFFSET 28u
#define STATE_SECTION_HEADER_SIZE 8u
#define STATE_SECTION_REQUIRED 1u

typedef enum state_section_type {
    /* The exposed capability MSRs: u32 count, u32 0, then count x (u32 index, u32 0, u64). */
    STATE_SECTION_CAPS = 1,
    /* The vCPU: u32 flags (STATE_VCPU_*), u32 VMXOFF generation, u64 VMXON pointer, u64
     * current-VMCS pointer, u64 IA32_FEATURE_CONTROL, u64 preemption-timer deadline. */
    STATE_SECTION_VCPU = 2,
    /* One cached vmcs12: u64 region address, u32 revision word, u32 VMX-abort indicator,
     * u32 launch generation, u8 launch state, u8 flags (STATE_VMCS12_*), u16 0, u32 field
     * count, u32 0, then count x (u32 encoding, u32 0, u64 value), in field-list order. */
    STATE_SECTION_VMCS12 = 3,
    /* While L2 runs: vmcs02's guest-state fields and VM-entry event fields, as
     * u32 count, u32 0, count x (u32 encoding, u32 0, u64 value). */
    STATE_SECTION_L2 = 4,
} state_section_type;

#define STATE_VCPU_VMX_OPERATION (1u << 0)
#define STATE_VCPU_L2_RUNNING (1u << 1)
#define STATE_VCPU_TIMER_ACTIVE (1u << 2)
#define STATE_VCPU_MTF_INJECTED (1u << 3)
/* L2 parked by the library in shutdown or wait-for-SIPI (lib/exits/activity.c); vmcs02 holds
 * the active state meanwhile. At most one of the two. */
#define STATE_VCPU_PARKED_SHUTDOWN (1u << 4)
#define STATE_VCPU_PARKED_WAIT_SIPI (1u << 5)
#define STATE_VCPU_FLAGS_KNOWN 0x3Fu

#define STATE_VMCS12_MEMORY_STALE (1u << 0)
#define STATE_VMCS12_FLAGS_KNOWN 0x1u

#define STATE_CAPS_FIXED 8u /* count + pad */
#define STATE_CAP_ENTRY 16u /* index + pad + value */
#define STATE_VCPU_SIZE 40u
#define STATE_VMCS12_FIXED 32u /* everything before the field pairs */
#define STATE_FIELD_ENTRY 16u  /* encoding + pad + value */
#define STATE_L2_FIXED 8u

/* Whether vmcs02's field `ordinal` is part of L2's saved state (the L2 section): its
 * guest-state fields that exist for the VM, except the two vmcs02 holds for its own sake (the
 * VMX-preemption-timer value, derived from L1's deadline, and the VMCS link pointer, L0's:
 * L0 emulates L2's shadowing), and the event the next entry injects (L1's, or one L0
 * re-injects after its own exit; SDM 27.6). One definition for save and restore. */
bool state_l2_field(const nvmx_vm *vm, unsigned ordinal);

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), continuing from `crc` (start: 0). */
uint32_t state_crc32c(uint32_t crc, const uint8_t *data, size_t len);
/* The CRC of a blob with its CRC field left out. */
uint32_t state_blob_crc(const uint8_t *blob, size_t total);

/* Little-endian stores and loads. */
void state_put16(uint8_t *p, uint16_t v);
void state_put32(uint8_t *p, uint32_t v);
void state_put64(uint8_t *p, uint64_t v);
uint16_t state_get16(const uint8_t *p);
uint32_t state_get32(const uint8_t *p);
uint64_t state_get64(const uint8_t *p);

static inline size_t state_pad8(size_t n)
{
    return (n + 7u) & ~(size_t)7u;
}

/* Check the header and checksum of a blob and walk to its sections: NVMX_OK with *sections
 * and *count, NVMX_ERR_BAD_STATE or NVMX_ERR_STATE_VERSION (logged when vm is not NULL). */
nvmx_status state_check_header(const nvmx_vm *vm, const uint8_t *blob, size_t size,
                               uint32_t *count);

/* Iterate sections: *offset starts at STATE_HEADER_SIZE. NVMX_OK with the section, or
 * NVMX_ERR_BAD_STATE when one does not fit or its padding is not zero. */
typedef struct state_section {
    uint16_t type, flags;
    uint32_t length;
    const uint8_t *payload;
} state_section;
nvmx_status state_next_section(const uint8_t *blob, size_t total, size_t *offset,
                               state_section *out);

/* The capabilities in a CAPS section payload; NVMX_ERR_BAD_STATE when malformed. */
nvmx_status state_parse_caps(const state_section *s, nvmx_vmx_caps *out);

#endif
