/* SPDX-License-Identifier: MIT */
/* VMREAD and VMWRITE in VMX root operation (SDM Vol. 3C 31.3, 25.11.2). */
#include <criterion/criterion.h>

#include "vmx_harness.h"

static harness h;
static void setup(void)
{
    harness_init(&h, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}

TestSuite(vmread, .init = setup, .fini = teardown);
TestSuite(vmwrite, .init = setup, .fini = teardown);

static bool field_exists(const vmcs_field_info *f)
{
    return (h.vm->field_exists[f->ordinal / 64] >> (f->ordinal % 64)) & 1;
}

/* SDM 31.3 VMREAD: #UD outside VMX operation. */
Test(vmread, ud_outside_vmx_operation)
{
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
}

/* SDM 31.3 VMREAD: #GP(0) at CPL > 0. */
Test(vmread, gp_at_cpl_above_0)
{
    harness_vmxon_vmptrld(&h);
    fake_host_set_cpl(&h.host, 3);
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_GP);
}

/* SDM 31.3 VMREAD: no current VMCS -> VMfailInvalid. */
Test(vmread, fail_invalid_without_current_vmcs)
{
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    uint64_t value;
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, &value);
    cr_assert(harness_failed_invalid(&h));
    cr_assert_eq(value, 0xDEADBEEFDEADBEEFull, "a failing VMREAD writes no destination");
}

/* SDM 31.3 VMREAD: an encoding that names no field -> VMfailValid(12). */
Test(vmread, unknown_encoding_fails_12)
{
    harness_vmxon_vmptrld(&h);
    harness_vmread(&h, 0x6FFE, NULL);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_UNSUPPORTED_VMCS_COMPONENT));
}

/* SDM 31.3 VMREAD: in 64-bit mode, encoding bits 63:32 set -> VMfailValid(12). */
Test(vmread, encoding_with_high_bits_fails_12)
{
    harness_vmxon_vmptrld(&h);
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP | (1ull << 32), NULL);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_UNSUPPORTED_VMCS_COMPONENT));
}

/* SDM 25.11.2: the high-access encoding of a field that is not 64-bit names no field (12). */
Test(vmread, high_access_of_natural_width_field_fails_12)
{
    harness_vmxon_vmptrld(&h);
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP | 1u, NULL);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_UNSUPPORTED_VMCS_COMPONENT));
}

/* SDM Appendix B: a field of a feature not exposed to L1 does not exist (12). */
Test(vmread, field_of_unexposed_feature_fails_12)
{
    harness_vmxon_vmptrld(&h);
    cr_assert_not(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_PML));
    harness_vmread(&h, NVMX_FIELD_PML_ADDRESS, NULL);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_UNSUPPORTED_VMCS_COMPONENT));
}

/* SDM 31.2: VMfailValid sets ZF and clears CF, PF, AF, SF, OF. */
Test(vmread, fail_valid_sets_only_zf)
{
    harness_vmxon_vmptrld(&h);
    h.host.regs[NVMX_REG_RFLAGS] |= NVMX_RFLAGS_ARITH;
    harness_vmread(&h, 0x6FFE, NULL);
    cr_assert_eq(h.host.regs[NVMX_REG_RFLAGS] & NVMX_RFLAGS_ARITH, NVMX_RFLAGS_ZF);
}

/* SDM 31.3, 25.11.2: every field that exists round-trips through VMWRITE and VMREAD, cut to
 * its width (VM-exit information fields are writable because IA32_VMX_MISC[29] is exposed). */
Test(vmwrite, every_existing_field_round_trips_with_width_truncation)
{
    harness_vmxon_vmptrld(&h);
    cr_assert(nvmx_vm_has_feature(h.vm, NVMX_FEATURE_VMWRITE_ANY_FIELD));
    unsigned checked = 0;
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        const vmcs_field_info *f = &vmcs_field_table[i];
        if (!field_exists(f))
            continue;
        uint64_t pattern = 0xF0E1D2C3B4A59687ull ^ i, value;
        harness_vmwrite(&h, f->encoding, pattern);
        cr_assert(harness_succeeded(&h), "VMWRITE %s", f->name);
        harness_vmread(&h, f->encoding, &value);
        cr_assert(harness_succeeded(&h), "VMREAD %s", f->name);
        uint64_t expected = pattern;
        if (NVMX_FIELD_WIDTH(f->encoding) == NVMX_WIDTH_16)
            expected &= 0xFFFF;
        else if (NVMX_FIELD_WIDTH(f->encoding) == NVMX_WIDTH_32)
            expected &= 0xFFFFFFFF;
        cr_assert_eq(value, expected, "field %s", f->name);
        checked++;
    }
    cr_assert_gt(checked, 10);
}

/* SDM 25.11.2: the high half of a 64-bit field reads and writes bits 63:32. */
Test(vmwrite, high_half_of_64bit_field_aliases)
{
    harness_vmxon_vmptrld(&h);
    harness_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, 0x1111222233334444ull);
    uint64_t value;
    harness_vmread(&h, NVMX_FIELD_VMCS_LINK_POINTER | 1u, &value);
    cr_assert_eq(value, 0x11112222ull);
    harness_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER | 1u, 0x99999999AAAAAAAAull);
    harness_vmread(&h, NVMX_FIELD_VMCS_LINK_POINTER, &value);
    cr_assert_eq(value, 0xAAAAAAAA33334444ull);
}

/* SDM 31.3 VMWRITE: VM-exit information fields without IA32_VMX_MISC[29] -> VMfailValid(13). */
Test(vmwrite, read_only_field_fails_13_without_misc_bit_29)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    const char *hide[] = {"vmx-vmwrite-vmexit-fields"};
    config.disabled_features = hide;
    config.disabled_feature_count = 1;
    harness_init(&h, &config);
    harness_vmxon_vmptrld(&h);
    harness_vmwrite(&h, NVMX_FIELD_EXIT_QUALIFICATION, 5);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_VMWRITE_READ_ONLY_COMPONENT));
}

/* SDM 31.3 VMWRITE: the order is VMCS pointer, then memory source, then field checks: a
 * faulting source with an unknown field raises #PF, not error 12. */
Test(vmwrite, memory_source_faults_before_field_check)
{
    harness_vmxon_vmptrld(&h);
    h.host.fault_pages[h.host.fault_page_count++] = OPERAND;
    h.host.regs[NVMX_REG_RCX] = 0x6FFE;
    h.host.regs[NVMX_REG_RAX] = OPERAND;
    uint32_t info = INFO_MEM_RAX_REG_RCX;
    harness_exit(&h, NVMX_EXIT_VMWRITE, info, 0);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_PF);
}

/* SDM 31.3 VMWRITE: without a current VMCS, VMfailInvalid comes before any memory access. */
Test(vmwrite, fail_invalid_before_memory_source_fault)
{
    harness_pointer_insn(&h, NVMX_EXIT_VMXON, VMXON_REGION);
    h.host.fault_pages[h.host.fault_page_count++] = OPERAND;
    h.host.regs[NVMX_REG_RCX] = NVMX_FIELD_GUEST_RIP;
    h.host.regs[NVMX_REG_RAX] = OPERAND;
    harness_exit(&h, NVMX_EXIT_VMWRITE, INFO_MEM_RAX_REG_RCX, 0);
    cr_assert(harness_failed_invalid(&h));
}

/* SDM 31.3 VMWRITE: a memory source operand is read (64 bits in 64-bit mode). */
Test(vmwrite, memory_source_operand)
{
    harness_vmxon_vmptrld(&h);
    fake_host_write64(&h.host, OPERAND, 0x0123456789ABCDEFull);
    h.host.regs[NVMX_REG_RCX] = NVMX_FIELD_GUEST_RIP;
    h.host.regs[NVMX_REG_RAX] = OPERAND;
    harness_exit(&h, NVMX_EXIT_VMWRITE, INFO_MEM_RAX_REG_RCX, 0);
    cr_assert(harness_succeeded(&h));
    uint64_t value;
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, &value);
    cr_assert_eq(value, 0x0123456789ABCDEFull);
}

/* SDM 31.3 VMREAD: a memory destination is written after the field checks: a faulting
 * destination with an unknown field gives error 12, not #PF. */
Test(vmread, field_check_before_memory_destination_fault)
{
    harness_vmxon_vmptrld(&h);
    h.host.fault_pages[h.host.fault_page_count++] = OPERAND;
    h.host.regs[NVMX_REG_RCX] = 0x6FFE;
    h.host.regs[NVMX_REG_RAX] = OPERAND;
    harness_exit(&h, NVMX_EXIT_VMREAD, INFO_MEM_RAX_REG_RCX, 0);
    cr_assert(harness_failed_valid(&h, NVMX_VMERR_UNSUPPORTED_VMCS_COMPONENT));
}

/* SDM 31.3 VMREAD: a faulting memory destination is delivered; RIP stays. */
Test(vmread, memory_destination_fault_is_delivered)
{
    harness_vmxon_vmptrld(&h);
    h.host.fault_pages[h.host.fault_page_count++] = OPERAND;
    h.host.regs[NVMX_REG_RCX] = NVMX_FIELD_GUEST_RIP;
    h.host.regs[NVMX_REG_RAX] = OPERAND;
    uint64_t rip = h.host.regs[NVMX_REG_RIP];
    harness_exit(&h, NVMX_EXIT_VMREAD, INFO_MEM_RAX_REG_RCX, 0);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_PF);
    cr_assert_eq(h.host.regs[NVMX_REG_RIP], rip);
}

/* SDM 31.3 VMREAD: outside IA-32e mode the operand is 32 bits: a natural-width field is cut. */
Test(vmread, protected_mode_reads_32_bits)
{
    harness_vmxon_vmptrld(&h);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0x1122334455667788ull);
    fake_host_set_mode_protected32(&h.host);
    h.host.regs[NVMX_REG_RCX] = NVMX_FIELD_GUEST_RIP | (0xFFFFFFFFull << 32); /* ignored */
    h.host.regs[NVMX_REG_RAX] = 0;
    harness_exit(&h, NVMX_EXIT_VMREAD, INFO_REGS(NVMX_REG_RAX, NVMX_REG_RCX), 0);
    cr_assert(harness_succeeded(&h));
    cr_assert_eq(h.host.regs[NVMX_REG_RAX], 0x55667788ull);
}

/* SDM 31.3 VMWRITE: outside IA-32e mode the source is 32 bits; a longer field's high bits clear. */
Test(vmwrite, protected_mode_writes_32_bits)
{
    harness_vmxon_vmptrld(&h);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, ~0ull);
    fake_host_set_mode_protected32(&h.host);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0xAAAABBBBCCCCDDDDull);
    fake_host_set_mode_long64(&h.host);
    uint64_t value;
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, &value);
    cr_assert_eq(value, 0xCCCCDDDDull);
}

/* SDM 25.11.2 (checked against SDM text): outside IA-32e mode a full-access VMWRITE of a
 * 64-bit field establishes bits 31:0 "while clearing bits 63:32"; the high access then
 * writes bits 63:32 and keeps bits 31:0. */
Test(vmwrite, full_access_outside_ia32e_clears_bits_63_32_of_a_64bit_field_25_11_2)
{
    harness_vmxon_vmptrld(&h);
    harness_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, ~0ull);
    fake_host_set_mode_protected32(&h.host);
    harness_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, 0x12345000ull);
    fake_host_set_mode_long64(&h.host);
    uint64_t value;
    harness_vmread(&h, NVMX_FIELD_VMCS_LINK_POINTER, &value);
    cr_assert_eq(value, 0x12345000ull);
    fake_host_set_mode_protected32(&h.host);
    harness_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER | 1u, 0xABCDull);
    fake_host_set_mode_long64(&h.host);
    harness_vmread(&h, NVMX_FIELD_VMCS_LINK_POINTER, &value);
    cr_assert_eq(value, 0x0000ABCD12345000ull);
}

/* SDM 31.3 VMREAD/VMWRITE: compatibility mode -> #UD. */
Test(vmread, ud_in_compatibility_mode)
{
    harness_vmxon_vmptrld(&h);
    fake_host_set_mode_compat(&h.host);
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL);
    cr_assert_eq(harness_single_exception(&h)->vector, NVMX_VECTOR_UD);
}

/* A VMCS made current by VMPTRLD of a shadow VMCS is read and written like any other
 * (SDM 25.10: VMREAD/VMWRITE work on a current shadow VMCS). */
Test(vmwrite, current_shadow_vmcs_is_accessible)
{
    harness_vmxon_vmptrld(&h);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, SHADOW_VMCS);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 42);
    cr_assert(harness_succeeded(&h));
    uint64_t value;
    harness_vmread(&h, NVMX_FIELD_GUEST_RIP, &value);
    cr_assert_eq(value, 42);
}
