/* SPDX-License-Identifier: MIT */
/*
 * fuzz_vmcs12_entry: random vmcs12 contents, written by L1's VMWRITEs or directly into the
 * cached vmcs12 (as L1 may write its VMCS region in memory before VMPTRLD: every slot then
 * holds what the region said, cut to its width), random MSR lists and bitmaps in L1 memory,
 * then VMLAUNCH/VMRESUME: the VM-entry checks (SDM 27.2, 27.3), the vmcs02 build and the MSR
 * loads (27.4), and, once L2 runs, exits back to L1 (SDM 28). Invariants: fuzz_env.h.
 *
 * Script: byte 0 picks the VM set-up; L1 starts in VMX operation with the known-good vmcs12
 * of tests/unit/entry_fixture.c current (sec_nested_init); then steps of one action byte and
 * its operands.
 */
#include "fuzz_env.h"

#include <string.h>

#define MSR_LISTS 0x30000ull /* 0x30000-0x5FFFF: room for the lists the script points at */

static unsigned field_ordinal(fuzz_input *in)
{
    return fuzz_u16(in) % VMCS12_FIELD_COUNT;
}

static vmcs12 *current_vmcs12(fuzz_env *e)
{
    return e->h.vcpu->current ? &e->h.vcpu->current->data : NULL;
}

/* VMWRITE of a random value or of the current value with one bit flipped. */
static void vmwrite_field(fuzz_env *e, fuzz_input *in, bool flip)
{
    const vmcs_field_info *f = &vmcs_field_table[field_ordinal(in)];
    uint64_t value = fuzz_value(in);
    vmcs12 *v = current_vmcs12(e);
    if (flip && v)
        value = vmcs12_get(v, f->ordinal) ^ (1ull << (fuzz_u8(in) % 64));
    if (nvmx_vcpu_in_guest_mode(e->h.vcpu))
        return; /* L1 does not run */
    fuzz_vmwrite(e, f->encoding, value);
}

/* Direct fill of one slot, bypassing VMWRITE's read-only and existence rules. */
static void fill_field(fuzz_env *e, fuzz_input *in)
{
    const vmcs_field_info *f = &vmcs_field_table[field_ordinal(in)];
    uint64_t value = fuzz_value(in);
    vmcs12 *v = current_vmcs12(e);
    if (v && !nvmx_vcpu_in_guest_mode(e->h.vcpu))
        vmcs12_write(v, f, f->encoding, value);
}

/* Point a VM-entry/exit MSR list at a page of random entries {index, reserved, value}. */
static void msr_list(fuzz_env *e, fuzz_input *in)
{
    static const uint32_t counts[] = {NVMX_FIELD_VM_ENTRY_MSR_LOAD_COUNT,
                                      NVMX_FIELD_VM_EXIT_MSR_STORE_COUNT,
                                      NVMX_FIELD_VM_EXIT_MSR_LOAD_COUNT};
    static const uint32_t addrs[] = {NVMX_FIELD_VM_ENTRY_MSR_LOAD_ADDR,
                                     NVMX_FIELD_VM_EXIT_MSR_STORE_ADDR,
                                     NVMX_FIELD_VM_EXIT_MSR_LOAD_ADDR};
    static const uint32_t indexes[] = {0x10,       0x1B,  0x3A,  0x174,      0x277,
                                       0x480,      0x808, 0x8B,  0xC0000080, 0xC0000100,
                                       0xC0000102, 0x1D9, 0x6E0, 0};
    unsigned which = fuzz_u8(in) % 3;
    uint64_t gpa = MSR_LISTS + (uint64_t)which * 0x10000 + (fuzz_u8(in) % 16) * 16;
    unsigned n = fuzz_u8(in) % 8;
    for (unsigned i = 0; i < n; i++) {
        uint64_t index = fuzz_u8(in) < 200 ? FUZZ_PICK(in, indexes) : fuzz_u64(in);
        fake_host_write64(&e->h.host, gpa + 16 * i, index);
        fake_host_write64(&e->h.host, gpa + 16 * i + 8, fuzz_value(in));
    }
    if (nvmx_vcpu_in_guest_mode(e->h.vcpu))
        return;
    uint8_t count = fuzz_u8(in);
    fuzz_vmwrite(e, addrs[which], fuzz_u8(in) < 240 ? gpa : fuzz_value(in));
    fuzz_vmwrite(e, counts[which], count < 240 ? n : fuzz_value(in));
}

/* VMCLEAR and VMPTRLD of the current VMCS: the region goes to memory and is read back. */
static void reload(fuzz_env *e, fuzz_input *in)
{
    uint64_t vmptr = nvmx_vcpu_current_vmcs(e->h.vcpu);
    if (vmptr == NVMX_INVALID_VMPTR || nvmx_vcpu_in_guest_mode(e->h.vcpu))
        return;
    fuzz_pointer_insn(e, NVMX_EXIT_VMCLEAR, vmptr);
    if (fuzz_u8(in) & 1)
        fuzz_act_memory(e, in); /* L1 edits the region while it is not current */
    fuzz_pointer_insn(e, NVMX_EXIT_VMPTRLD, vmptr);
}

static void enter(fuzz_env *e, fuzz_input *in)
{
    if (nvmx_vcpu_in_guest_mode(e->h.vcpu)) {
        fuzz_act_l2_exit(e, in);
        return;
    }
    fuzz_simple_insn(e, fuzz_u8(in) & 1 ? NVMX_EXIT_VMRESUME : NVMX_EXIT_VMLAUNCH);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_env e;
    fuzz_input in = {data, size, 0};
    fuzz_env_init(&e, &in, true);
    for (int step = 0; step < FUZZ_MAX_STEPS && fuzz_more(&in) && !e.shut_down; step++) {
        switch (fuzz_u8(&in) % 10) {
        case 0:
        case 1:
            vmwrite_field(&e, &in, false);
            break;
        case 2:
            vmwrite_field(&e, &in, true);
            break;
        case 3:
            fill_field(&e, &in);
            break;
        case 4:
            msr_list(&e, &in);
            break;
        case 5:
        case 6:
            enter(&e, &in);
            break;
        case 7:
            reload(&e, &in);
            break;
        case 8:
            fuzz_act_memory(&e, &in);
            break;
        default:
            fuzz_act_host_failure(&e, &in);
            break;
        }
    }
    fuzz_env_fini(&e);
    return 0;
}
