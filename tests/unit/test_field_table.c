/* SPDX-License-Identifier: MIT */
/* The VMCS field table and vmcs12 field access (SDM 25.11.2, Appendix B). */
#include <criterion/criterion.h>

#include "vmcs/vmcs12.h"

/* SDM 25.11.2: bits 63:15 and 12 of an encoding are reserved; setting any names no field. */
Test(field_encoding, reserved_bits_name_no_field)
{
    cr_assert_not_null(vmcs_field_lookup(NVMX_FIELD_GUEST_RIP));
    cr_assert_null(vmcs_field_lookup(NVMX_FIELD_GUEST_RIP | 0x1000u));
    cr_assert_null(vmcs_field_lookup(NVMX_FIELD_GUEST_RIP | (1ull << 15)));
    cr_assert_null(vmcs_field_lookup(NVMX_FIELD_GUEST_RIP | (1ull << 32)));
}

/* SDM 25.11.2: only 64-bit fields have a high-access (bit 0 = 1) alias. */
Test(field_encoding, high_access_only_for_64bit_fields)
{
    cr_assert_not_null(vmcs_field_lookup(NVMX_FIELD_VMCS_LINK_POINTER | 1u));
    cr_assert_null(vmcs_field_lookup(NVMX_FIELD_GUEST_RIP | 1u));
    cr_assert_null(vmcs_field_lookup(NVMX_FIELD_VM_INSTRUCTION_ERROR | 1u));
}

/* Every listed field is found by its own encoding, at its own slot. */
Test(field_table, every_field_round_trips_through_lookup)
{
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        const vmcs_field_info *f = vmcs_field_lookup(vmcs_field_table[i].encoding);
        cr_assert_eq(f, &vmcs_field_table[i], "field %s", vmcs_field_table[i].name);
    }
}

/* SDM 31.3 VMWRITE: a shorter field ignores the high bits of the source. */
Test(vmcs12_access, write_truncates_to_field_width)
{
    vmcs12 v = {0};
    const vmcs_field_info *f16 = vmcs_field_lookup(NVMX_FIELD_VIRTUAL_PROCESSOR_ID);
    const vmcs_field_info *f32 = vmcs_field_lookup(NVMX_FIELD_EXCEPTION_BITMAP);
    vmcs12_write(&v, f16, f16->encoding, 0x123456789ABCDEF0ull);
    vmcs12_write(&v, f32, f32->encoding, 0x123456789ABCDEF0ull);
    cr_assert_eq(vmcs12_read(&v, f16, f16->encoding), 0xDEF0ull);
    cr_assert_eq(vmcs12_read(&v, f32, f32->encoding), 0x9ABCDEF0ull);
}

/* SDM 25.11.2: the high access reads and writes bits 63:32 of a 64-bit field. */
Test(vmcs12_access, high_half_aliases_bits_63_32)
{
    vmcs12 v = {0};
    uint32_t enc = NVMX_FIELD_VMCS_LINK_POINTER;
    const vmcs_field_info *f = vmcs_field_lookup(enc);
    vmcs12_write(&v, f, enc, 0x1111222233334444ull);
    cr_assert_eq(vmcs12_read(&v, f, enc | 1u), 0x11112222ull);
    vmcs12_write(&v, f, enc | 1u, 0xFFFFFFFFAAAABBBBull);
    cr_assert_eq(vmcs12_read(&v, f, enc), 0xAAAABBBB33334444ull);
}

/* A write marks exactly its field dirty, for the vmcs02 sync. */
Test(vmcs12_access, write_marks_only_its_field_dirty)
{
    vmcs12 v = {0};
    const vmcs_field_info *f = vmcs_field_lookup(NVMX_FIELD_GUEST_RIP);
    vmcs12_write(&v, f, f->encoding, 1);
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        bool dirty = (v.dirty[i / 64] >> (i % 64)) & 1;
        cr_assert_eq(dirty, i == f->ordinal, "field %s", vmcs_field_table[i].name);
    }
}

/* The public dense index agrees with the table and rejects what names no field. */
Test(field_table, public_index_matches_table)
{
    cr_assert_eq(nvmx_vmcs_field_count(), VMCS12_FIELD_COUNT);
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++)
        cr_assert_eq(nvmx_vmcs_field_index(vmcs_field_table[i].encoding), (int)i);
    cr_assert_eq(nvmx_vmcs_field_index(NVMX_FIELD_VMCS_LINK_POINTER | 1u),
                 (int)VMCS12_ORD_VMCS_LINK_POINTER);
    cr_assert_eq(nvmx_vmcs_field_index(0x6FFE), -1);
    cr_assert_eq(nvmx_vmcs_field_index(NVMX_FIELD_GUEST_RIP | (1ull << 40)), -1);
}
