/* SPDX-License-Identifier: MIT */
/* Field access on a cached vmcs12 with the SDM's width and high-access rules. */
#include "vmcs12.h"

uint64_t vmcs12_read(const vmcs12 *v, const vmcs_field_info *field, uint64_t encoding)
{
    uint64_t value = v->field[field->ordinal];
    /* SDM 25.11.2: a high access reads bits 63:32 of the 64-bit field into bits 31:0. */
    if (NVMX_FIELD_HIGH_ACCESS(encoding))
        return value >> 32;
    return value;
}

void vmcs12_write(vmcs12 *v, const vmcs_field_info *field, uint64_t encoding, uint64_t value)
{
    uint64_t *slot = &v->field[field->ordinal];
    uint64_t stored;
    if (NVMX_FIELD_HIGH_ACCESS(encoding))
        /* SDM 25.11.2: a high access writes bits 63:32 from bits 31:0, keeping bits 31:0. */
        stored = (*slot & 0xFFFFFFFFull) | (value << 32);
    else
        /* SDM 31.3 VMWRITE: the high bits of a longer source are ignored. */
        stored = value & vmcs_field_width_mask(field->encoding);
    uint64_t bit = 1ull << (field->ordinal % 64);
    /* The memo of the entry checks needs only real changes: a VM exit rewrites fields with
     * the values they already hold (the cleared valid bit of an unused injection field). */
    if (stored != *slot)
        v->unchecked[field->ordinal / 64] |= bit;
    *slot = stored;
    v->dirty[field->ordinal / 64] |= bit;
}
