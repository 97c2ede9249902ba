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
    /* SDM 25.11.2: a high access writes bits 63:32 from bits 31:0, keeping bits 31:0. SDM
     * 31.3 VMWRITE: otherwise the high bits of a longer source are ignored (vmcs12_store);
     * outside IA-32e mode the 32-bit source of a full access clears bits 63:32 (25.11.2,
     * checked against SDM text: "establishing bits 31:0 of the field while clearing bits
     * 63:32"). */
    if (NVMX_FIELD_HIGH_ACCESS(encoding))
        value = (v->field[field->ordinal] & 0xFFFFFFFFull) | (value << 32);
    /* Only real changes count for the memo of the entry checks: a VM exit rewrites fields
     * with the values they already hold (the cleared valid bit of an unused injection). */
    vmcs12_store(v, field->ordinal, field->encoding, value);
}
