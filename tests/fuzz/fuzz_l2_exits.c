/* SPDX-License-Identifier: MIT */
/*
 * fuzz_l2_exits: random vmcs12 execution controls, exception bitmap, #PF filter, CR masks
 * and shadows, bitmaps (I/O, MSR, VMREAD/VMWRITE) and random L2 state, a successful launch,
 * then random L2 exits (reason, qualification, instruction and event information, addresses;
 * SDM 26.1-26.2 and 28.2) with L1 interrupts, preemption-timer expiry and resumes in between:
 * exit reflection (lib/exits/reflect.c), the VM exit to L1 (28.3-28.6) and the emulation of
 * L2's VMREAD/VMWRITE under VMCS shadowing. Invariants: fuzz_env.h.
 *
 * Script: byte 0 picks the VM set-up; L1 starts in VMX operation with the known-good vmcs12
 * current, then up to 16 control writes (their count is byte 1 % 17) and VMLAUNCH; then steps
 * of one action byte and its operands.
 */
#include "fuzz_env.h"

#define IO_BITMAP_A 0x60000ull
#define IO_BITMAP_B 0x61000ull
#define MSR_BITMAP 0x62000ull

static const uint32_t controls[] = {
    NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL,
    NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL,
    NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL,
    NVMX_FIELD_VM_EXIT_CONTROLS,
    NVMX_FIELD_VM_ENTRY_CONTROLS,
    NVMX_FIELD_EXCEPTION_BITMAP,
    NVMX_FIELD_PAGE_FAULT_ERROR_CODE_MASK,
    NVMX_FIELD_PAGE_FAULT_ERROR_CODE_MATCH,
    NVMX_FIELD_CR0_GUEST_HOST_MASK,
    NVMX_FIELD_CR4_GUEST_HOST_MASK,
    NVMX_FIELD_CR0_READ_SHADOW,
    NVMX_FIELD_CR4_READ_SHADOW,
    NVMX_FIELD_CR3_TARGET_COUNT,
    NVMX_FIELD_CR3_TARGET_VALUE0,
    NVMX_FIELD_IO_BITMAP_A,
    NVMX_FIELD_IO_BITMAP_B,
    NVMX_FIELD_MSR_BITMAP,
    NVMX_FIELD_VMREAD_BITMAP,
    NVMX_FIELD_VMWRITE_BITMAP,
    NVMX_FIELD_VMCS_LINK_POINTER,
    NVMX_FIELD_TSC_OFFSET,
    NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE,
    NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD,
    NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO,
    NVMX_FIELD_GUEST_ACTIVITY_STATE,
    NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS,
};

/* A control write: the current value with bits set or cleared, or an address the script
 * filled, or anything. */
static void write_control(fuzz_env *e, fuzz_input *in)
{
    uint32_t field = FUZZ_PICK(in, controls);
    uint8_t how = fuzz_u8(in);
    uint64_t value;
    if (field == NVMX_FIELD_IO_BITMAP_A || field == NVMX_FIELD_IO_BITMAP_B ||
        field == NVMX_FIELD_MSR_BITMAP)
        value = how < 200 ? MSR_BITMAP - 0x1000 * (how % 3) : fuzz_value(in);
    else if (field == NVMX_FIELD_VMREAD_BITMAP || field == NVMX_FIELD_VMWRITE_BITMAP ||
             field == NVMX_FIELD_VMCS_LINK_POINTER)
        value = how < 200 ? fuzz_pointer(in) : fuzz_value(in);
    else if (how < 128) {
        fuzz_vmread(e, field);
        uint64_t bits = fuzz_u32(in);
        value =
            how & 1 ? e->h.host.regs[NVMX_REG_RAX] | bits : e->h.host.regs[NVMX_REG_RAX] & ~bits;
    } else
        value = fuzz_value(in);
    fuzz_vmwrite(e, field, value);
}

/* L1's answer to an exit: change a control, then VMRESUME (VMLAUNCH after a VMCLEAR). */
static void l1_turn(fuzz_env *e, fuzz_input *in)
{
    uint8_t how = fuzz_u8(in);
    if (how & 1)
        write_control(e, in);
    if (how & 2)
        fuzz_act_memory(e, in);
    fuzz_simple_insn(e, how & 4 ? NVMX_EXIT_VMLAUNCH : NVMX_EXIT_VMRESUME);
}

/* Events of L1's platform and the embedder's calls around L2's run (exits.h). */
static void platform(fuzz_env *e, fuzz_input *in)
{
    fake_host *h = &e->h.host;
    long reads = h->l1_reads, writes = h->l1_writes;
    uint8_t how = fuzz_u8(in);
    nvmx_next *next = &e->h.next;
    next->run = NVMX_RUN_L1;
    switch (how % 4) {
    case 0: {
        bool acknowledge = false;
        nvmx_l1_interrupt_pending(e->h.vcpu, fuzz_u8(in), &acknowledge, next);
        break;
    }
    case 1:
        nvmx_before_l2_resume(e->h.vcpu);
        break;
    case 2: {
        uint64_t tsc;
        if (nvmx_l2_timer_deadline(e->h.vcpu, &tsc) && (how & 4))
            h->tsc = tsc; /* the deadline passes: a reason-52 exit is L1's */
        else
            h->tsc += fuzz_u32(in);
        break;
    }
    default:
        nvmx_vcpu_vmcs02_invalidate(e->h.vcpu);
        break;
    }
    h->running = nvmx_vcpu_in_guest_mode(e->h.vcpu) ? NVMX_HW_VMCS02 : NVMX_HW_VMCS01;
    fuzz_env_check(e, reads, writes);
}

/* The register operands L2's exits use: RCX (MSR index, VMREAD/VMWRITE encoding), RAX, RDX,
 * from values that hit the bitmaps' ranges. */
static void l2_registers(fuzz_env *e, fuzz_input *in)
{
    static const uint64_t msrs[] = {0x10,       0x1B,       0x3A,       0x480,      0x48B,
                                    0x808,      0x830,      0x1FFF,     0x2000,     0xC0000080,
                                    0xC0001FFF, 0xC0002000, 0x40000000, 0xFFFFFFFF, 0x6E0};
    e->h.host.regs[NVMX_REG_RCX] =
        fuzz_u8(in) < 160 ? FUZZ_PICK(in, msrs)
                          : vmcs_field_table[fuzz_u16(in) % VMCS12_FIELD_COUNT].encoding;
    e->h.host.regs[NVMX_REG_RAX] = fuzz_value(in);
    e->h.host.regs[NVMX_REG_RDX] = fuzz_value(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_env e;
    fuzz_input in = {data, size, 0};
    fuzz_env_init(&e, &in, true);
    unsigned writes = fuzz_u8(&in) % 17;
    for (unsigned i = 0; i < writes; i++)
        write_control(&e, &in);
    fuzz_simple_insn(&e, NVMX_EXIT_VMLAUNCH);
    for (int step = 0; step < FUZZ_MAX_STEPS && fuzz_more(&in) && !e.shut_down; step++) {
        uint8_t action = fuzz_u8(&in) % 8;
        if (!nvmx_vcpu_in_guest_mode(e.h.vcpu) && action < 4) {
            l1_turn(&e, &in);
            continue;
        }
        switch (action) {
        case 0:
        case 1:
        case 2:
            fuzz_act_l2_exit(&e, &in);
            break;
        case 3:
            l2_registers(&e, &in);
            break;
        case 4:
            fuzz_act_register(&e, &in);
            break;
        case 5:
            platform(&e, &in);
            break;
        case 6:
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
