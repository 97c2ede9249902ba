/* SPDX-License-Identifier: MIT */
/*
 * Running L2 as hardware would run it from vmcs02: VM entries load vmcs02's guest state and
 * inject its event (SDM 27.3.2, 27.6); every exit of L2 saves L2's state and writes the
 * exit-information fields into vmcs02 (28.2, 28.3) and goes to nvmx_on_l2_exit; the library's
 * answer says whether L1 runs (its state from vmcs01), L2 goes on, or L0 (this program)
 * handles the exit itself. L2's memory goes through l2_memory.c (its paging, then EPT02 when
 * vmcs12 enables EPT, else L1's guest-physical space); L2 runs in 64-bit mode at CPL 0 with
 * flat segments (see state.c).
 */
#include "emu.h"

#include <inttypes.h>
#include <stdio.h>

#define RFLAGS_KEEP_ON_DELIVERY ~(NVMX_RFLAGS_TF | NVMX_RFLAGS_RF | NVMX_RFLAGS_VM)

/* ---- event delivery through the running guest's 64-bit IDT (SDM Vol. 3A 6.14) ---- */

static bool push(emu *e, uint64_t *rsp, uint64_t value)
{
    *rsp -= 8;
    return emu_vmem_write(e, *rsp, &value, 8, true);
}

/* The gate of a vector: a present 64-bit interrupt or trap gate, else false. */
static bool idt_gate(emu *e, unsigned vector, uint64_t gate[2])
{
    uc_x86_mmr idtr = {0};
    uc_reg_read(e->uc, UC_X86_REG_IDTR, &idtr);
    if ((uint64_t)vector * 16 + 15 > idtr.limit ||
        !emu_vmem_read(e, idtr.base + vector * 16, UC_PROT_READ, gate, 16, true))
        return false;
    unsigned type = (gate[0] >> 40) & 0x1F; /* S and type */
    return (gate[0] & (1ull << 47)) && (type == 0xE || type == 0xF);
}

/* Deliver an event at CPL 0 without a stack switch (no IST: a limit of this version): the
 * frame SS, RSP, RFLAGS, CS, return RIP, error code; an interrupt gate clears IF. False when
 * the gate or the stack is unusable (the caller treats it as a triple fault: #GP/#DF
 * escalation is not modelled). */
static bool deliver(emu *e, unsigned vector, bool has_error_code, uint32_t error_code,
                    uint64_t return_rip)
{
    uint64_t gate[2];
    if (!idt_gate(e, vector, gate))
        return false;
    uint64_t rsp = emu_reg(e, UC_X86_REG_RSP), old_rsp = rsp;
    uint64_t rflags = emu_reg(e, UC_X86_REG_RFLAGS);
    rsp &= ~15ull;
    if (!push(e, &rsp, emu_reg(e, UC_X86_REG_SS)) || !push(e, &rsp, old_rsp) ||
        !push(e, &rsp, rflags) || !push(e, &rsp, emu_reg(e, UC_X86_REG_CS)) ||
        !push(e, &rsp, return_rip) || (has_error_code && !push(e, &rsp, error_code)))
        return false;
    uint64_t target = (gate[0] & 0xFFFF) | ((gate[0] >> 32) & 0xFFFF0000) | (gate[1] << 32);
    uint64_t selector = (gate[0] >> 16) & 0xFFFF;
    if (((gate[0] >> 40) & 0xF) == 0xE)
        rflags &= ~NVMX_RFLAGS_IF;
    rflags &= RFLAGS_KEEP_ON_DELIVERY;
    uc_reg_write(e->uc, UC_X86_REG_RSP, &rsp);
    uc_reg_write(e->uc, UC_X86_REG_RFLAGS, &rflags);
    uc_reg_write(e->uc, UC_X86_REG_CS, &selector);
    uc_reg_write(e->uc, UC_X86_REG_RIP, &target);
    return true;
}

bool emu_deliver_exception(emu *e, const nvmx_exception *x)
{
    if (x->vector == NVMX_VECTOR_PF)
        uc_reg_write(e->uc, UC_X86_REG_CR2, &x->cr2);
    return deliver(e, x->vector, x->has_error_code, x->error_code, emu_reg(e, UC_X86_REG_RIP));
}

/* ---- exits ---- */

void emu_l2_exit_at(emu *e, uint32_t reason, uint64_t qualification, uint8_t length)
{
    e->exit_info =
        (nvmx_exit){.reason = reason, .qualification = qualification, .instruction_length = length};
    e->stop = EMU_STOP_L2_EXIT;
}

/* The delivery of an event to L2 failed. When an access of the delivery (IDT gate, stack)
 * met an EPT violation or misconfiguration, that is the exit, with the event in the
 * IDT-vectoring information (SDM 28.2.4; for software events the VM-exit instruction length
 * is the instruction's, 28.2.5); else the event could not be delivered: a triple fault (#DF
 * escalation is not modelled, README). */
static void delivery_failed(emu *e, uint32_t type, uint8_t vector, bool has_error,
                            uint32_t error_code, uint8_t length)
{
    bool ept = e->stop == EMU_STOP_L2_EXIT && (e->exit_info.reason == NVMX_EXIT_EPT_VIOLATION ||
                                               e->exit_info.reason == NVMX_EXIT_EPT_MISCONFIG);
    if (!ept) {
        emu_l2_exit_at(e, NVMX_EXIT_TRIPLE_FAULT, 0, 0); /* 28.2.1: no information */
        return;
    }
    e->exit_info.idt_vectoring_info = NVMX_INTR_INFO_VALID | vector |
                                      (type << NVMX_INTR_INFO_TYPE_SHIFT) |
                                      (has_error ? NVMX_INTR_INFO_DELIVER_ERROR_CODE : 0);
    e->exit_info.idt_vectoring_error_code = has_error ? error_code : 0;
    e->exit_info.instruction_length = length;
}

/* SDM 26.2, 25.2: an exception exits when its bit in the exception bitmap is set; for #PF the
 * bit is compared with whether PFEC & mask == match. */
static bool exception_exits(emu *e, const nvmx_exception *x)
{
    if (x->vector > NVMX_VECTOR_LAST_EXCEPTION)
        return false;
    uint64_t bitmap = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_EXCEPTION_BITMAP);
    bool bit = (bitmap >> x->vector) & 1;
    if (x->vector != NVMX_VECTOR_PF)
        return bit;
    uint64_t mask = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_PAGE_FAULT_ERROR_CODE_MASK);
    uint64_t match = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_PAGE_FAULT_ERROR_CODE_MATCH);
    return bit == ((x->error_code & mask) == match);
}

void emu_l2_exception(emu *e, const nvmx_exception *x)
{
    if (!exception_exits(e, x)) {
        if (!emu_deliver_exception(e, x))
            delivery_failed(e, NVMX_INTR_TYPE_HARDWARE_EXCEPTION, x->vector, x->has_error_code,
                            x->error_code, 0);
        else
            e->stop = EMU_RUNNING;
        return;
    }
    /* 28.2.2: hardware exception, vector, error code; #PF: CR2 is not written, the
     * qualification has the linear address (28.2.1). */
    emu_l2_exit_at(e, NVMX_EXIT_EXCEPTION_NMI, x->vector == NVMX_VECTOR_PF ? x->cr2 : 0, 0);
    e->exit_info.interruption_info =
        NVMX_INTR_INFO_VALID | x->vector |
        (NVMX_INTR_TYPE_HARDWARE_EXCEPTION << NVMX_INTR_INFO_TYPE_SHIFT) |
        (x->has_error_code ? NVMX_INTR_INFO_DELIVER_ERROR_CODE : 0);
    e->exit_info.interruption_error_code = x->has_error_code ? x->error_code : 0;
}

/* INT3 (a software exception, type 6) or INT n (a software interrupt, type 4) of L2, before
 * it executes: INT3 exits when the exception bitmap has #BP, with the instruction length
 * (SDM 26.2, 28.2.2, 28.2.4); otherwise the event goes through L2's IDT and returns after
 * the instruction. INT n never exits by the exception bitmap. */
int emu_l2_software_event(emu *e)
{
    nvmx_exception x = {.vector = e->soft_vector};
    uint8_t length = e->soft_length;
    if (e->soft_is_exception && exception_exits(e, &x)) {
        emu_l2_exit_at(e, NVMX_EXIT_EXCEPTION_NMI, 0, length);
        e->exit_info.interruption_info =
            NVMX_INTR_INFO_VALID | x.vector |
            (NVMX_INTR_TYPE_SOFTWARE_EXCEPTION << NVMX_INTR_INFO_TYPE_SHIFT);
        return emu_l2_handle_exit(e);
    }
    if (deliver(e, x.vector, false, 0, emu_reg(e, UC_X86_REG_RIP) + length))
        return -1;
    delivery_failed(e,
                    e->soft_is_exception ? NVMX_INTR_TYPE_SOFTWARE_EXCEPTION
                                         : NVMX_INTR_TYPE_SOFTWARE_INTERRUPT,
                    x.vector, false, 0, length);
    return emu_l2_handle_exit(e);
}

/* The exit-information fields of vmcs02 (28.2) and the cleared VM-entry interruption-
 * information valid bit (every VM exit clears it, 28.2 / exits.h). */
static void write_exit_information(emu *e)
{
    const nvmx_exit *x = &e->exit_info;
    nvmx_hw_vmcs v = NVMX_HW_VMCS02;
    emu_vmcs_set(e, v, NVMX_FIELD_VM_EXIT_REASON, x->reason);
    emu_vmcs_set(e, v, NVMX_FIELD_EXIT_QUALIFICATION, x->qualification);
    emu_vmcs_set(e, v, NVMX_FIELD_VM_EXIT_INSTRUCTION_LEN, x->instruction_length);
    emu_vmcs_set(e, v, NVMX_FIELD_VMX_INSTRUCTION_INFO, x->instruction_info);
    emu_vmcs_set(e, v, NVMX_FIELD_VM_EXIT_INTR_INFO, x->interruption_info);
    emu_vmcs_set(e, v, NVMX_FIELD_VM_EXIT_INTR_ERROR_CODE, x->interruption_error_code);
    emu_vmcs_set(e, v, NVMX_FIELD_IDT_VECTORING_INFO_FIELD, x->idt_vectoring_info);
    emu_vmcs_set(e, v, NVMX_FIELD_IDT_VECTORING_ERROR_CODE, x->idt_vectoring_error_code);
    emu_vmcs_set(e, v, NVMX_FIELD_GUEST_LINEAR_ADDRESS, x->guest_linear_address);
    emu_vmcs_set(e, v, NVMX_FIELD_GUEST_PHYSICAL_ADDRESS, x->guest_physical_address);
    uint64_t entry = emu_vmcs_get(e, v, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD);
    emu_vmcs_set(e, v, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD,
                 entry & ~(uint64_t)NVMX_INTR_INFO_VALID);
}

/* SDM 27.6: the event vmcs02's VM-entry interruption information injects, delivered through
 * L2's IDT; software interrupts and exceptions (types 4-6) return after the instruction
 * (VM-entry instruction length). Type 7 (a pending MTF VM exit) is not supported yet. */
static int inject_entry_event(emu *e)
{
    uint64_t info = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD);
    if (!(info & NVMX_INTR_INFO_VALID))
        return -1;
    unsigned type = (unsigned)(info & NVMX_INTR_INFO_TYPE_MASK) >> NVMX_INTR_INFO_TYPE_SHIFT;
    uint64_t rip = emu_reg(e, UC_X86_REG_RIP);
    if (type >= NVMX_INTR_TYPE_SOFTWARE_INTERRUPT && type <= NVMX_INTR_TYPE_SOFTWARE_EXCEPTION)
        rip += emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_VM_ENTRY_INSTRUCTION_LEN);
    if (type == NVMX_INTR_TYPE_OTHER_EVENT) {
        fprintf(stderr, "nestvmx-emu: injecting a pending MTF VM exit is not supported\n");
        return EMU_STATUS_HOST_FAILURE;
    }
    bool has_error = info & NVMX_INTR_INFO_DELIVER_ERROR_CODE;
    uint32_t error =
        (uint32_t)emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_VM_ENTRY_EXCEPTION_ERROR_CODE);
    if (deliver(e, (unsigned)(info & NVMX_INTR_INFO_VECTOR_MASK), has_error, error, rip))
        return -1;
    delivery_failed(e, type, (uint8_t)(info & NVMX_INTR_INFO_VECTOR_MASK), has_error, error,
                    (uint8_t)emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_VM_ENTRY_INSTRUCTION_LEN));
    return emu_l2_handle_exit(e);
}

/* What Unicorn can run of an L2 state: 64-bit mode at CPL 0 (in 64-bit mode a segment write
 * sets only the selector, so neither the mode nor the CPL of a vmcs02 state can be loaded).
 * Other L2 states end the run with a clear message instead of running L2 wrongly. */
static bool l2_state_supported(emu *e)
{
    uint64_t entry = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_VM_ENTRY_CONTROLS);
    uint64_t cs = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_GUEST_CS_AR_BYTES);
    uint64_t ss = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_GUEST_SS_AR_BYTES);
    if ((entry & NVMX_CTL(ENTRY_IA32E_MODE)) && (cs & NVMX_AR_L) && !(cs & NVMX_AR_DPL_MASK) &&
        ((ss & NVMX_AR_UNUSABLE) || !(ss & NVMX_AR_DPL_MASK)))
        return true;
    fflush(stdout);
    fprintf(stderr,
            "nestvmx-emu: L1 entered an L2 that is not in 64-bit mode at CPL 0 (CS access rights "
            "%#" PRIx64 "); this version of nestvmx-emu runs only such L2s\n",
            cs);
    return false;
}

/* A VM entry in the HLT activity state without an event to inject (SDM 27.7.2: an injected
 * event is delivered and L2 is active) leaves L2 halted: its timer is the only wake-up here. */
static int enter_halted(emu *e)
{
    e->l2_halted = true;
    emu_timer_refresh(e);
    if (emu_l2_halt(e))
        return emu_l2_handle_exit(e);
    fflush(stdout);
    fprintf(stderr, "nestvmx-emu: L1 entered L2 in the HLT activity state and nothing can wake "
                    "it (no VMX-preemption timer; nestvmx-emu has no interrupt sources)\n");
    return EMU_STATUS_L2_HALTED;
}

/* SDM 27.7.3 (Vol. 3C "Delivery of Pending Debug Exceptions after VM Entry"): a VM entry that
 * injects nothing, without blocking by MOV SS, delivers the valid pending debug exceptions
 * (BS or enabled breakpoint set) as a #DB trap before L2's first instruction: an exit when
 * the exception bitmap has #DB (qualification in the DR6-like layout of 28.2.1, Table 28-1:
 * B3-B0, BS, RTM), else through L2's IDT with DR6 updated. Choice: a halted L2 (HLT activity state)
 * takes the #DB like an injected event and becomes active (27.7.2 names only injection; this rests
 * on "treated as if encountered normally in guest execution"). */
#define PENDING_DBG_TO_QUALIFICATION (0xFull | NVMX_PENDING_DBG_BS | NVMX_PENDING_DBG_RTM)
#define DR6_B_AND_BS (0xFull | (1ull << 14))
typedef enum { NO_PENDING_DEBUG, PENDING_DEBUG_DELIVERED, PENDING_DEBUG_EXITS } pending_debug;
static pending_debug deliver_pending_debug(emu *e)
{
    uint64_t pending = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_GUEST_PENDING_DBG_EXCEPTIONS);
    uint64_t blocking = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO);
    if (!(pending & (NVMX_PENDING_DBG_BS | NVMX_PENDING_DBG_ENABLED_BP)) ||
        (blocking & NVMX_BLOCKING_MOV_SS))
        return NO_PENDING_DEBUG;
    nvmx_exception x = {.vector = NVMX_VECTOR_DB};
    if (exception_exits(e, &x)) {
        emu_l2_exit_at(e, NVMX_EXIT_EXCEPTION_NMI, pending & PENDING_DBG_TO_QUALIFICATION, 0);
        e->exit_info.interruption_info =
            NVMX_INTR_INFO_VALID | NVMX_VECTOR_DB |
            (NVMX_INTR_TYPE_HARDWARE_EXCEPTION << NVMX_INTR_INFO_TYPE_SHIFT);
        return PENDING_DEBUG_EXITS;
    }
    uint64_t dr6 = emu_reg(e, UC_X86_REG_DR6) | (pending & DR6_B_AND_BS);
    uc_reg_write(e->uc, UC_X86_REG_DR6, &dr6);
    if (deliver(e, NVMX_VECTOR_DB, false, 0, emu_reg(e, UC_X86_REG_RIP)))
        return PENDING_DEBUG_DELIVERED;
    delivery_failed(e, NVMX_INTR_TYPE_HARDWARE_EXCEPTION, NVMX_VECTOR_DB, false, 0, 0);
    return PENDING_DEBUG_EXITS;
}

int emu_enter_l2(emu *e)
{
    if (!l2_state_supported(e))
        return EMU_STATUS_UNSUPPORTED;
    e->in_l2 = true;
    e->l2_halted = false;
    if (!emu_state_load(e, NVMX_HW_VMCS02))
        return EMU_STATUS_HOST_FAILURE;
    uint64_t entry_info = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD);
    pending_debug debug =
        entry_info & NVMX_INTR_INFO_VALID ? NO_PENDING_DEBUG : deliver_pending_debug(e);
    if (debug == PENDING_DEBUG_EXITS)
        return emu_l2_handle_exit(e);
    if (debug == NO_PENDING_DEBUG &&
        emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_GUEST_ACTIVITY_STATE) == NVMX_ACTIVITY_HLT &&
        !(entry_info & NVMX_INTR_INFO_VALID))
        return enter_halted(e);
    return inject_entry_event(e);
}

/* Port I/O that L1 does not intercept: L0's platform (the L1 contract's ports). */
static int l0_io(emu *e)
{
    uint64_t q = e->exit_info.qualification;
    unsigned port = (unsigned)(q >> 16), size = (unsigned)(q & 7) + 1;
    if (q & (1u << 4)) {
        fprintf(stderr, "nestvmx-emu: string I/O of L2 that L1 does not intercept is not "
                        "supported\n");
        return EMU_STATUS_HOST_FAILURE;
    }
    uint64_t rax = emu_reg(e, UC_X86_REG_RAX);
    if (q & (1u << 3)) {
        uint64_t mask = size == 4 ? 0xFFFFFFFFull : size == 2 ? 0xFFFFull : 0xFFull;
        uint64_t in = emu_port_in(port, (int)size);
        rax = size == 4 ? (in & mask) : (rax & ~mask) | (in & mask);
        uc_reg_write(e->uc, UC_X86_REG_RAX, &rax);
    } else if (emu_port_out(e, port, (uint32_t)rax)) {
        return e->exit_status;
    }
    return -1;
}

static void skip_instruction(emu *e)
{
    uint64_t rip = emu_reg(e, UC_X86_REG_RIP) + e->exit_info.instruction_length;
    uc_reg_write(e->uc, UC_X86_REG_RIP, &rip);
}

/* An exit the library gave back to L0 (NVMX_RUN_L0_HANDLES): handle it as for any guest. */
static int l0_handles(emu *e)
{
    switch (e->exit_info.reason) {
    case NVMX_EXIT_IO_INSTRUCTION: {
        int status = l0_io(e);
        if (status < 0)
            skip_instruction(e);
        return status;
    }
    case NVMX_EXIT_CR_ACCESS:
        emu_cr_l0_complete(e);
        return -1;
    case NVMX_EXIT_RDMSR:
    case NVMX_EXIT_WRMSR:
        emu_msr_instruction(e, e->exit_info.reason == NVMX_EXIT_WRMSR,
                            (uint8_t)e->exit_info.instruction_length);
        if (e->stop == EMU_STOP_EXCEPTION) {
            e->stop = EMU_RUNNING;
            emu_l2_exception(e, &e->pending);
            return e->stop == EMU_STOP_L2_EXIT ? emu_l2_handle_exit(e) : -1;
        }
        return -1;
    case NVMX_EXIT_UNDECODED: /* not a VMX instruction: #UD of L2 */
        emu_l2_exception(e, &(nvmx_exception){.vector = NVMX_VECTOR_UD});
        return e->stop == EMU_STOP_L2_EXIT ? emu_l2_handle_exit(e) : -1;
    case NVMX_EXIT_EXCEPTION_NMI: { /* L0 asked for it in vmcs02, L1 did not: deliver */
        nvmx_exception x = {.vector = (uint8_t)e->exit_info.interruption_info,
                            .has_error_code =
                                e->exit_info.interruption_info & NVMX_INTR_INFO_DELIVER_ERROR_CODE,
                            .error_code = e->exit_info.interruption_error_code,
                            .cr2 = e->exit_info.qualification};
        if (emu_deliver_exception(e, &x))
            return -1;
        delivery_failed(e, NVMX_INTR_TYPE_HARDWARE_EXCEPTION, x.vector, x.has_error_code,
                        x.error_code, 0);
        return emu_l2_handle_exit(e);
    }
    case NVMX_EXIT_EPT_VIOLATION:
    case NVMX_EXIT_EPT_MISCONFIG: {
        /* L1's EPT12 sent L2 to an L1 guest-physical address without RAM: MMIO of L1's
         * platform, which has none for L2 (a choice of this L0: a clear error, no guessing). */
        fflush(stdout);
        fprintf(stderr,
                "nestvmx-emu: L2 accessed L2 guest-physical %#" PRIx64 " (at RIP %#" PRIx64
                "), which L1's EPT maps to L1 guest-physical %#" PRIx64
                ", not RAM; nestvmx-emu has no MMIO for L2\n",
                e->exit_info.guest_physical_address, emu_reg(e, UC_X86_REG_RIP), e->l1_gpa);
        return EMU_STATUS_HOST_FAILURE;
    }
    default:
        fflush(stdout);
        fprintf(stderr,
                "nestvmx-emu: L2 exit reason %u at RIP %#" PRIx64
                " is L0's and nestvmx-emu does not handle it\n",
                e->exit_info.reason, emu_reg(e, UC_X86_REG_RIP));
        return EMU_STATUS_HOST_FAILURE;
    }
}

/* An exit L0 handled (an EPT02 fill) interrupted the delivery of an event: L0 delivers it
 * again through vmcs02's VM-entry interruption information (exits.h, SDM 27.6). Bit 12 of
 * the IDT-vectoring information (NMI unblocking) is not an entry field bit. */
static void reinject_vectored_event(emu *e)
{
    uint32_t info = e->exit_info.idt_vectoring_info;
    if (!(info & NVMX_INTR_INFO_VALID))
        return;
    nvmx_hw_vmcs v = NVMX_HW_VMCS02;
    emu_vmcs_set(e, v, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD, info & ~(1u << 12));
    emu_vmcs_set(e, v, NVMX_FIELD_VM_ENTRY_EXCEPTION_ERROR_CODE,
                 e->exit_info.idt_vectoring_error_code);
    emu_vmcs_set(e, v, NVMX_FIELD_VM_ENTRY_INSTRUCTION_LEN, e->exit_info.instruction_length);
}

static int handle_exit(emu *e);

/* Exits can nest: an event re-injected after an exit L0 handled may meet another EPT02 fill.
 * Each level either installs an EPT02 entry or goes to L1, so the depth is bounded by the
 * accesses one delivery makes; a hostile L1 cannot make it unbounded (a limit, not a loop). */
#define EMU_MAX_EXIT_DEPTH 16

int emu_l2_handle_exit(emu *e)
{
    if (e->exit_depth >= EMU_MAX_EXIT_DEPTH) {
        fflush(stdout);
        fprintf(stderr, "nestvmx-emu: L2's event delivery keeps exiting (%u nested exits)\n",
                e->exit_depth);
        return EMU_STATUS_HOST_FAILURE;
    }
    e->exit_depth++;
    int status = handle_exit(e);
    e->exit_depth--;
    return status;
}

static int handle_exit(emu *e)
{
    e->stop = EMU_RUNNING;
    emu_state_save(e, NVMX_HW_VMCS02);
    write_exit_information(e);
    nvmx_next next;
    uint64_t rip = emu_reg(e, UC_X86_REG_RIP);
    uint64_t eptp = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_EPT_POINTER);
    nvmx_status status = nvmx_on_l2_exit(e->vcpu, &e->exit_info, &next);
    e->l2_halted = false; /* the exit saved it (state.c); whoever runs next starts active */
    /* EPTP switching (VMFUNC 0) changed vmcs02's EPTP: hardware tags its TLB by EPTP, Unicorn's
     * one TLB must forget the old EPT02's translations (29.4) */
    if (eptp != emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_EPT_POINTER))
        uc_ctl_flush_tlb(e->uc);
    if (status == NVMX_OK)
        emu_note_l2_exit(e, rip, &e->exit_info, next.run);
    if (status != NVMX_OK) {
        fflush(stdout);
        fprintf(stderr, "nestvmx-emu: libnestvmx failed on L2's exit (reason %u): %s\n",
                e->exit_info.reason, nvmx_status_str(status));
        return EMU_STATUS_HOST_FAILURE;
    }
    switch (next.run) {
    case NVMX_RUN_L1:
        e->in_l2 = false;
        return emu_state_load(e, NVMX_HW_VMCS01) ? -1 : EMU_STATUS_HOST_FAILURE;
    case NVMX_RUN_L2: /* completed for L2 by the library (its registers are Unicorn's) */
        reinject_vectored_event(e);
        return inject_entry_event(e);
    case NVMX_RUN_L2_PARKED: /* activity states are not exposed by this L0 (main.c) */
        fflush(stdout);
        fprintf(stderr, "nestvmx-emu: L2 parked in shutdown or wait-for-SIPI, not modelled\n");
        return EMU_STATUS_HOST_FAILURE;
    case NVMX_RUN_L0_HANDLES:
        e->l1_gpa = next.l1_gpa_valid ? next.l1_gpa : e->exit_info.guest_physical_address;
        return l0_handles(e);
    case NVMX_RUN_SHUTDOWN_L1:
        fflush(stdout);
        fprintf(stderr, "nestvmx-emu: L1 shut down (VMX abort) on an exit from L2\n");
        return EMU_STATUS_TRIPLE_FAULT;
    }
    return EMU_STATUS_HOST_FAILURE;
}
