/* SPDX-License-Identifier: MIT */
/*
 * What L2 does is L1's to see: VMX instructions, VMCALL, VMREAD/VMWRITE outside what L1's
 * shadow VMCS lets through, triple faults and intercepted software exceptions exit to L1 with
 * exactly the information L0 saw; nothing L2 does acts on L1's VMX state. Plus the lifetime
 * cases: a vCPU destroyed while L2 runs with L1's preemption timer, and shadow VMCSs that were
 * cleared or evicted before L2 reads them.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sec_env.h"

/* #BP (INT3) and #OF (INTO), SDM Vol. 3A Table 6-1. */
#define VEC_BP 3u
#define VEC_OF 4u

static harness h;

static void setup(void)
{
    sec_nested_init(&h, NULL, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(sec_l2, .init = setup, .fini = teardown);

static uint64_t v02(unsigned ordinal)
{
    return h.host.vmcs[NVMX_HW_VMCS02][ordinal];
}

/* L2 at CPL `cpl`: SS.DPL (the CPL the VMX instructions see) and CS.DPL in vmcs02. */
static void l2_cpl(unsigned cpl)
{
    uint64_t *v = h.host.vmcs[NVMX_HW_VMCS02];
    v[VMCS12_ORD_GUEST_SS_AR_BYTES] = (v[VMCS12_ORD_GUEST_SS_AR_BYTES] & ~0x60ull) | (cpl << 5);
    v[VMCS12_ORD_GUEST_CS_AR_BYTES] = (v[VMCS12_ORD_GUEST_CS_AR_BYTES] & ~0x60ull) | (cpl << 5);
    v[VMCS12_ORD_GUEST_SS_SELECTOR] = (v[VMCS12_ORD_GUEST_SS_SELECTOR] & ~3ull) | cpl;
    v[VMCS12_ORD_GUEST_CS_SELECTOR] = (v[VMCS12_ORD_GUEST_CS_SELECTOR] & ~3ull) | cpl;
}

typedef struct l2_insn {
    uint32_t reason;
    uint32_t info;
} l2_insn;

/* CVE-2018-12904 (from L2), XSA-278. SDM 26.1.2, 31.3: in VMX non-root operation VMXON,
 * VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD/VMWRITE (without VMCS shadowing), VMLAUNCH,
 * VMRESUME, VMCALL, INVEPT and INVVPID cause VM exits unconditionally, before the CPL check: the
 * exit carries L0's reason, qualification, instruction information and length, and the instruction
 * has no effect on L1's VMX state (still in VMX operation, same current VMCS, still launched). */
Test(sec_l2, vmx_instructions_of_l2_exit_to_l1_at_any_cpl_and_do_nothing)
{
    const l2_insn insns[] = {
        {NVMX_EXIT_VMXON, INFO_MEM_RAX},
        {NVMX_EXIT_VMXOFF, 0},
        {NVMX_EXIT_VMCLEAR, INFO_MEM_RAX},
        {NVMX_EXIT_VMPTRLD, INFO_MEM_RAX},
        {NVMX_EXIT_VMPTRST, INFO_MEM_RAX},
        {NVMX_EXIT_VMREAD, INFO_REGS(NVMX_REG_RAX, NVMX_REG_RCX)},
        {NVMX_EXIT_VMWRITE, INFO_REGS(NVMX_REG_RAX, NVMX_REG_RCX)},
        {NVMX_EXIT_VMLAUNCH, 0},
        {NVMX_EXIT_VMRESUME, 0},
        {NVMX_EXIT_VMCALL, 0},
        /* exposed on this VM: exits too, whatever the type in RCX */
        {NVMX_EXIT_INVEPT, INFO_MEM_RAX_REG_RCX},
        {NVMX_EXIT_INVVPID, INFO_MEM_RAX_REG_RCX},
    };
    bool launched = false;
    for (unsigned cpl = 0; cpl <= 3; cpl += 3) {
        for (size_t i = 0; i < NVMX_ARRAY_SIZE(insns); i++) {
            sec_launch(&h, launched ? NVMX_EXIT_VMRESUME : NVMX_EXIT_VMLAUNCH);
            launched = true;
            l2_cpl(cpl);
            /* L2 aims at L1's own structures: the current VMCS, the VMXON region. */
            fake_host_write64(&h.host, OPERAND, i % 2 ? VMCS_A : VMXON_REGION);
            h.host.regs[NVMX_REG_RAX] = OPERAND;
            h.host.regs[NVMX_REG_RCX] = NVMX_FIELD_GUEST_RIP;
            nvmx_exit exit = {.reason = insns[i].reason,
                              .qualification = 0x40 + i,
                              .instruction_info = insns[i].info,
                              .instruction_length = 3};
            int exceptions = h.host.exception_count;
            cr_assert_eq(sec_l2_exit(&h, &exit), NVMX_OK, "%s", h.host.last_log);
            cr_assert_eq(h.next.run, NVMX_RUN_L1, "reason %u at CPL %u", insns[i].reason, cpl);
            cr_assert_eq(h.host.exception_count, exceptions, "no exception: a VM exit");
            cr_assert(nvmx_vcpu_in_vmx_operation(h.vcpu));
            cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
            cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), VMCS_A);
            cr_assert_eq(h.vcpu->current->launch_state, VMCS12_STATE_LAUNCHED);
            cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), insns[i].reason);
            cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EXIT_QUALIFICATION), 0x40 + i);
            cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VMX_INSTRUCTION_INFO), insns[i].info);
            cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_INSTRUCTION_LEN), 3);
        }
    }
}

/* CVE-2014-3645, CVE-2014-3646, CVE-2017-8106, from L2. SDM 31.3 INVEPT/INVVPID, VMFUNC: on an
 * L1 without EPT, VPID and VM functions the instructions are #UD in L2 too, whatever the type
 * and function. #UD is an exception of L2: delivered to L2 when L1 does not intercept it,
 * else a VM exit (reason 0, #UD) to L1 (SDM 26.2). Never an error for the embedder. (With
 * EPT and VPID exposed: tests/security/test_sec_inv.c.) */
Test(sec_l2, invept_invvpid_vmfunc_of_l2_are_ud_of_l2)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    const char *hidden[] = {"vmx-ept", "vmx-vpid"};
    config.disabled_features = hidden;
    config.disabled_feature_count = NVMX_ARRAY_SIZE(hidden);
    sec_nested_init(&h, &config, NULL);
    const l2_insn insns[] = {
        {NVMX_EXIT_INVEPT, INFO_MEM_RAX_REG_RCX},
        {NVMX_EXIT_INVVPID, INFO_MEM_RAX_REG_RCX},
        {NVMX_EXIT_VMFUNC, 0},
    };
    const uint64_t types[] = {0, 1, 2, 3, 4, ~0ull};
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(insns); i++) {
        for (size_t t = 0; t < NVMX_ARRAY_SIZE(types); t++) {
            h.host.regs[NVMX_REG_RAX] = insns[i].reason == NVMX_EXIT_VMFUNC ? types[t] : OPERAND;
            h.host.regs[NVMX_REG_RCX] = types[t];
            uint64_t rip = v02(VMCS12_ORD_GUEST_RIP);
            h.host.exception_count = 0;
            nvmx_exit exit = {.reason = insns[i].reason,
                              .instruction_info = insns[i].info,
                              .instruction_length = 3};
            cr_assert_eq(sec_l2_exit(&h, &exit), NVMX_OK, "reason %u: %s", insns[i].reason,
                         h.host.last_log);
            cr_assert_eq(h.next.run, NVMX_RUN_L2);
            cr_assert_eq(h.host.exception_count, 1);
            cr_assert_eq(h.host.exceptions[0].vector, NVMX_VECTOR_UD);
            cr_assert_eq(v02(VMCS12_ORD_GUEST_RIP), rip, "a fault does not retire");
        }
    }
    /* L1 intercepts #UD: the same instructions exit to L1 as exception exits. */
    h.host.exception_count = 0;
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    sec_vmwrite(&h, NVMX_FIELD_EXCEPTION_BITMAP, 1u << NVMX_VECTOR_UD);
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(insns); i++) {
        sec_launch(&h, NVMX_EXIT_VMRESUME);
        h.host.exception_count = 0;
        nvmx_exit exit = {
            .reason = insns[i].reason, .instruction_info = insns[i].info, .instruction_length = 3};
        cr_assert_eq(sec_l2_exit(&h, &exit), NVMX_OK, "%s", h.host.last_log);
        cr_assert_eq(h.next.run, NVMX_RUN_L1);
        cr_assert_eq(h.host.exception_count, 0);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_EXCEPTION_NMI);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_INTR_INFO) & 0x7FF,
                     (NVMX_INTR_TYPE_HARDWARE_EXCEPTION << NVMX_INTR_INFO_TYPE_SHIFT) |
                         NVMX_VECTOR_UD);
    }
}

/* CVE-2020-2732 class (KVM let L2 reach instructions L0 emulated without checking L1's
 * intercepts). SDM 26.1.3, 25.6.15, 25.10: with VMCS shadowing an L2 VMREAD/VMWRITE whose
 * bitmap bit is set exits to L1 (reason 23/25); the shadow VMCS is untouched. */
Test(sec_l2, l2_vmread_vmwrite_with_bitmap_bit_set_exit_to_l1)
{
    sec_set_proc(&h, 0, NVMX_CTL(SHADOW_VMCS));
    sec_vmwrite(&h, NVMX_FIELD_VMREAD_BITMAP, VMREAD_BITMAP_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VMWRITE_BITMAP, VMWRITE_BITMAP_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, SHADOW_VMCS);
    const uint32_t field = NVMX_FIELD_GUEST_RIP;
    h.host.ram[VMREAD_BITMAP_GPA + (field >> 3)] |= (uint8_t)(1u << (field & 7));
    h.host.ram[VMWRITE_BITMAP_GPA + (field >> 3)] |= (uint8_t)(1u << (field & 7));
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(harness_vmread(&h, field, NULL), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    h.host.running = NVMX_HW_VMCS01;
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_VMREAD);

    sec_launch(&h, NVMX_EXIT_VMRESUME);
    cr_assert_eq(harness_vmwrite(&h, field, 0x1234), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    h.host.running = NVMX_HW_VMCS01;
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_VMWRITE);
    /* The shadow VMCS never received L2's value. */
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, SHADOW_VMCS), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    cr_assert_neq(sec_vmread(&h, field), 0x1234);
}

/* SDM 25.6.15: an encoding with bits 63:15 set always exits, whatever the bitmaps (L2 cannot
 * index outside the 4-KiB bitmap). */
Test(sec_l2, l2_vmread_of_wide_encoding_exits_to_l1)
{
    sec_set_proc(&h, 0, NVMX_CTL(SHADOW_VMCS));
    sec_vmwrite(&h, NVMX_FIELD_VMREAD_BITMAP, VMREAD_BITMAP_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VMWRITE_BITMAP, VMWRITE_BITMAP_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, SHADOW_VMCS);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    long reads = h.host.l1_reads;
    cr_assert_eq(harness_vmread(&h, 0xFFFFFFFF00000000ull | NVMX_FIELD_GUEST_RIP, NULL), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(h.host.l1_reads, reads, "no bitmap byte read for an out-of-range encoding");
}

/* CVE-2020-2732 class. SDM 26.1.2, 31.3 VMCALL: VMCALL in VMX non-root operation always exits
 * to L1 (reason 18), whatever L1's controls and at any CPL. */
Test(sec_l2, l2_vmcall_always_exits_to_l1)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    for (unsigned cpl = 0; cpl <= 3; cpl++) {
        l2_cpl(cpl);
        cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_VMCALL, 3), NVMX_OK);
        cr_assert_eq(h.next.run, NVMX_RUN_L1);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_VMCALL);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_INSTRUCTION_LEN), 3);
        sec_launch(&h, NVMX_EXIT_VMRESUME);
    }
}

/* CVE-2022-3344 class (KVM mishandled a shutdown of L2). SDM 26.2, 28.2: a triple fault in
 * L2 is a VM exit to L1 with reason 2; L1 keeps running (NVMX_RUN_L1, not a shutdown of L1). */
Test(sec_l2, l2_triple_fault_exits_to_l1_with_reason_2)
{
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_TRIPLE_FAULT, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RIP], 0x400000, "HOST_RIP");
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_TRIPLE_FAULT);
}

/* CVE-2016-9588 (KVM: #BP/#OF of L2 went to L0 and crashed it). SDM 26.2, 28.2.2-28.2.4: INT3
 * and INTO are software exceptions (type 6). With L1's exception-bitmap bit the exit goes to
 * L1 carrying interruption type, vector, error-code validity, the instruction length and the
 * IDT-vectoring information exactly as the embedder reported them; without it the exit is
 * L0's (it delivers the exception into L2) and vmcs12 is untouched. */
Test(sec_l2, l2_int3_into_exit_with_type_vector_length_and_vectoring_info)
{
    const uint8_t vectors[] = {VEC_BP, VEC_OF};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(vectors); i++) {
        uint8_t vector = vectors[i];
        const uint32_t info = NVMX_INTR_INFO_VALID |
                              (NVMX_INTR_TYPE_SOFTWARE_EXCEPTION << NVMX_INTR_INFO_TYPE_SHIFT) |
                              vector;
        const uint32_t vectoring =
            NVMX_INTR_INFO_VALID | NVMX_INTR_INFO_DELIVER_ERROR_CODE |
            (NVMX_INTR_TYPE_HARDWARE_EXCEPTION << NVMX_INTR_INFO_TYPE_SHIFT) | NVMX_VECTOR_PF;
        nvmx_exit exit = {.reason = NVMX_EXIT_EXCEPTION_NMI,
                          .interruption_info = info,
                          .instruction_length = vector == VEC_BP ? 1 : 2,
                          .idt_vectoring_info = vectoring,
                          .idt_vectoring_error_code = 0x6};

        /* Not intercepted: L0's. */
        sec_vmwrite(&h, NVMX_FIELD_EXCEPTION_BITMAP, 0);
        sec_launch(&h, i == 0 ? NVMX_EXIT_VMLAUNCH : NVMX_EXIT_VMRESUME);
        uint64_t reason_before = vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_VM_EXIT_REASON);
        cr_assert_eq(sec_l2_exit(&h, &exit), NVMX_OK);
        cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
        cr_assert(nvmx_vcpu_in_guest_mode(h.vcpu));
        cr_assert_eq(vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_VM_EXIT_REASON), reason_before);
        cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);

        /* Intercepted: L1's, with everything as reported. */
        sec_vmwrite(&h, NVMX_FIELD_EXCEPTION_BITMAP, 1u << vector);
        sec_launch(&h, NVMX_EXIT_VMRESUME);
        cr_assert_eq(sec_l2_exit(&h, &exit), NVMX_OK);
        cr_assert_eq(h.next.run, NVMX_RUN_L1);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_EXCEPTION_NMI);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_INTR_INFO), info);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_INSTRUCTION_LEN), exit.instruction_length);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_IDT_VECTORING_INFO_FIELD), vectoring);
        cr_assert_eq(sec_vmread(&h, NVMX_FIELD_IDT_VECTORING_ERROR_CODE), 0x6);
    }
}

/* CVE-2019-7221 (KVM: the preemption-timer hrtimer of a nested guest fired after the vCPU was
 * freed). The library keeps L1's timer deadline as plain vCPU state: destroying the vCPU
 * while L2 runs with L1's timer armed frees everything and leaves nothing behind (the harness
 * checks the allocation count; ASan checks for use after free). */
Test(sec_l2, vcpu_destroyed_with_l2_preemption_timer_armed_leaks_nothing)
{
    sec_vmwrite(&h, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL,
                sec_vmread(&h, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL) | NVMX_CTL(PREEMPTION_TIMER));
    sec_vmwrite(&h, NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE, 1000);
    h.host.tsc = 5000;
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    uint64_t deadline;
    cr_assert(nvmx_l2_timer_deadline(h.vcpu, &deadline));
    long tsc_reads = h.host.tsc_reads;
    nvmx_vcpu_destroy(h.vcpu);
    h.vcpu = NULL;
    cr_assert_eq(h.host.tsc_reads, tsc_reads, "destruction runs no timer");
    nvmx_vm_destroy(h.vm);
    h.vm = NULL;
    cr_assert_eq(h.host.live_allocations, 0);
    cr_assert_eq(h.host.live_bytes, 0);
}

/* The shadow VMCS L1 prepared, then VMCLEARed (its data written to its region and dropped
 * from the cache) and pushed out by thousands of other VMPTRLDs: L2's VMREAD through the link
 * pointer reads the region again and sees L1's value; the cache stays within its bound and
 * never frees the current VMCS while loading the linked one (CVE-2026-64562 class: a freed
 * shadow/current VMCS reachable from L2; ASan checks every access). */
Test(sec_l2, l2_vmread_through_cleared_and_evicted_shadow_vmcs)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.max_cached_vmcs = 2;
    sec_nested_init(&h, &config, NULL);
    /* L1 fills its shadow VMCS, then clears it. */
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, SHADOW_VMCS), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    sec_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0xC0FFEE);
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, SHADOW_VMCS), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    /* Many other VMCSs go through the cache. */
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t region = 0x200000 + i * 4096;
        harness_region(&h, region, NVMX_VMCS_REVISION_ID);
        cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, region), NVMX_OK);
        cr_assert(harness_succeeded(&h));
        cr_assert_leq(h.vcpu->cache.count, 2);
    }
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_A), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    sec_set_proc(&h, 0, NVMX_CTL(SHADOW_VMCS));
    sec_vmwrite(&h, NVMX_FIELD_VMREAD_BITMAP, VMREAD_BITMAP_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VMWRITE_BITMAP, VMWRITE_BITMAP_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, SHADOW_VMCS);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    vmcs12_cached *current = h.vcpu->current;
    uint64_t value;
    cr_assert_eq(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, &value), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
    cr_assert_eq(value, 0xC0FFEE);
    cr_assert_eq(h.vcpu->current, current, "the current VMCS survives loading the linked one");
    cr_assert_leq(h.vcpu->cache.count, 2);
    /* L2 writes through the link, then exits: L1 reads its current VMCS (still valid). */
    cr_assert_eq(harness_vmwrite(&h, NVMX_FIELD_GUEST_RSP, 0x5151), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_CPUID);
    /* L1 clears its shadow VMCS after L2 wrote it: the region holds L2's value. */
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, SHADOW_VMCS), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, SHADOW_VMCS), NVMX_OK);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_RSP), 0x5151);
}

/* With the smallest cache (one VMCS) the linked shadow VMCS and the current one coexist only
 * for the access: the current VMCS is never the victim (ASan: no use after free), and L1's
 * current VMCS keeps its data. */
Test(sec_l2, l2_vmread_through_shadow_with_one_entry_cache_keeps_current)
{
    harness_fini(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.max_cached_vmcs = 1;
    sec_nested_init(&h, &config, NULL);
    sec_set_proc(&h, 0, NVMX_CTL(SHADOW_VMCS));
    sec_vmwrite(&h, NVMX_FIELD_VMREAD_BITMAP, VMREAD_BITMAP_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VMWRITE_BITMAP, VMWRITE_BITMAP_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, SHADOW_VMCS);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    vmcs12_cached *current = h.vcpu->current;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL), NVMX_OK);
        cr_assert_eq(h.next.run, NVMX_RUN_L2);
        cr_assert_eq(h.vcpu->current, current);
    }
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_CPUID);
}
