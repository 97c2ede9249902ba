/* SPDX-License-Identifier: MIT */
/*
 * The VMCS field table, generated from NVMX_VMCS_FIELD_LIST: per field its encoding, vmcs12
 * slot and the feature that makes it exist; and an O(1) lookup from encoding to field.
 */
#include "vmcs12.h"

const vmcs_field_info vmcs_field_table[VMCS12_FIELD_COUNT] = {
#define FIELD_INFO(name_, enc, feature_)                                                           \
    [VMCS12_ORD_##name_] = {.encoding = (enc),                                                     \
                            .ordinal = VMCS12_ORD_##name_,                                         \
                            .feature = NVMX_FEATURE_##feature_,                                    \
                            .name = #name_},
    NVMX_VMCS_FIELD_LIST(FIELD_INFO)
#undef FIELD_INFO
};

/*
 * Lookup key: index (bits 9:1), type (11:10) and width (14:13) packed into 13 bits. Access
 * type (bit 0) is not part of the key: the high alias finds its 64-bit field and is checked
 * by the caller.
 */
#define FIELD_KEY(enc)                                                                             \
    ((((enc) >> 1) & 0x1FFu) | ((((enc) >> 10) & 3u) << 9) | ((((enc) >> 13) & 3u) << 11))
#define FIELD_KEY_COUNT (1u << 13)

_Static_assert(VMCS12_FIELD_COUNT < 0xFFFF, "field ordinals must fit the lookup table");

/* Slot + 1 for each key, 0 = no field. Designated initializers generated from the list. */
static const uint16_t field_by_key[FIELD_KEY_COUNT] = {
#define FIELD_KEY_ENTRY(name_, enc, feature_) [FIELD_KEY(enc)] = VMCS12_ORD_##name_ + 1,
    NVMX_VMCS_FIELD_LIST(FIELD_KEY_ENTRY)
#undef FIELD_KEY_ENTRY
};

/* The field's ordinal for an encoding, or -1. The key holds the width bits, so the encoding
 * has its field's width: the high-access rule needs no table read. */
static inline int field_ordinal(uint64_t encoding)
{
    /* SDM 25.11.2: bits 63:15 and 12 are reserved; an encoding setting them names no field. */
    if (encoding & NVMX_FIELD_RESERVED_MASK)
        return -1;
    /* Only 64-bit fields have a high-access alias (SDM 25.11.2, "Access type"). */
    if (NVMX_FIELD_HIGH_ACCESS(encoding) && NVMX_FIELD_WIDTH(encoding) != NVMX_WIDTH_64)
        return -1;
    return (int)field_by_key[FIELD_KEY((uint32_t)encoding)] - 1;
}

const vmcs_field_info *vmcs_field_lookup(uint64_t encoding)
{
    int ordinal = field_ordinal(encoding);
    return ordinal < 0 ? NULL : &vmcs_field_table[ordinal];
}

unsigned nvmx_vmcs_field_count(void)
{
    return VMCS12_FIELD_COUNT;
}

int nvmx_vmcs_field_index(uint64_t encoding)
{
    return field_ordinal(encoding);
}

uint32_t vmcs12_layout_fingerprint(void)
{
    /* FNV-1a over (encoding, slot) pairs: changes when a field is added, removed or moved. */
    uint32_t hash = 2166136261u;
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        uint32_t words[2] = {vmcs_field_table[i].encoding, i};
        const uint8_t *bytes = (const uint8_t *)words;
        for (unsigned b = 0; b < sizeof(words); b++) {
            hash ^= bytes[b];
            hash *= 16777619u;
        }
    }
    return hash;
}
