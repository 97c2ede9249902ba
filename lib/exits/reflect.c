/* SPDX-License-Identifier: MIT */
/*
 * Exit reflection: L2 caused a VM exit, L0 got it. Did L1 ask for it?
 *
 * vmcs02 asks for every exit L1 asks for and for every exit L0 needs (lib/vmcs/vmcs02.c), so
 * each L2 exit reaches L0 first. This unit answers, per basic exit reason, whether L1's
 * vmcs12 (controls, bitmaps, masks) would have caused the same exit on a processor running L2
 * directly under L1 (SDM Vol. 3C 26.1 "Instructions That Cause VM Exits", 26.2 "Other Causes
 * of VM Exits", Appendix C). If not, only L0 asked, and L0 handles it and resumes L2.
 *
 * One table, indexed by basic exit reason: every reason of NVMX_EXIT_REASON_LIST has one named
 * rule. Most are "always" or "these controls are 1"; the rest are predicates below. Reasons no
 * L2 exit that L1 asked for can have (VM-entry failures are entry outcomes, SMM VM exits need
 * the dual-monitor treatment) have a "never" rule that says why.
 *
 * Everything here comes from L1 and is hostile: bitmaps are L1 guest-physical addresses, read
 * one byte (one EPTP-list entry) per decision through l1_read; memory that is not L1 RAM reads
 * as all ones, which means "exit" for every bitmap. The work per decision is bounded.
 * Secondary and tertiary controls count only while the primary control that activates them is
 * 1 (SDM 25.6.2).
 *
 * The answer is about L1's controls only. Where L0 may itself use the same mechanism for L2
 * (shadow paging #PF, EPT02 built lazily, its own preemption timer, PML, bus-lock or
 * instruction-timeout exits), the caller resolves what L0 caused before asking.
 */
#include "../internal.h"
#include "vmfunc.h"

/* ---- Reading L1's state ----------------------------------------------------------------- */

typedef struct reflect_ctx {
    nvmx_vcpu *vcpu;
    const vmcs12 *v;
    const nvmx_exit *exit;
} reflect_ctx;

static uint64_t field(const reflect_ctx *c, unsigned ordinal)
{
    return vmcs12_get(c->v, ordinal);
}

/* A register of L2 (the running guest). */
static uint64_t reg(const reflect_ctx *c, nvmx_reg r)
{
    return c->vcpu->vm->ops.reg_get(c->vcpu->ctx, r);
}

/* The value of a control word as VMX non-root operation sees it: secondary and tertiary
 * processor-based controls act as 0 unless activated by the primary controls (SDM 25.6.2). */
static uint64_t control_word(const vmcs12 *v, unsigned cap_reg)
{
    uint64_t primary = vmcs12_get(v, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL);
    switch (cap_reg) {
    case NVMX_CAP_PINBASED:
        return vmcs12_get(v, VMCS12_ORD_PIN_BASED_VM_EXEC_CONTROL);
    case NVMX_CAP_PROCBASED:
        return primary;
    case NVMX_CAP_PROCBASED2:
        return (primary & NVMX_CTL(SECONDARY_CONTROLS))
                   ? vmcs12_get(v, VMCS12_ORD_SECONDARY_VM_EXEC_CONTROL)
                   : 0;
    case NVMX_CAP_PROCBASED3:
        return (primary & NVMX_CTL(TERTIARY_CONTROLS))
                   ? vmcs12_get(v, VMCS12_ORD_TERTIARY_VM_EXEC_CONTROL)
                   : 0;
    default:
        return 0;
    }
}

/* The control register each feature lives in, from the one feature list, so a rule names a
 * control once (CTL(c, HLT_EXITING)) and cannot pair it with the wrong control word. */
enum control_register {
#define CONTROL_REGISTER(id, name, reg, bit) CONTROL_REG_##id = reg,
    NVMX_FEATURE_LIST(CONTROL_REGISTER)
#undef CONTROL_REGISTER
};

#define CTL(c, id) ((control_word((c)->v, CONTROL_REG_##id) & NVMX_CTL(id)) != 0)

/* One byte of L1 memory; all ones where it is not L1 RAM (docs/ARCHITECTURE.md). */
static uint8_t l1_byte(const nvmx_vm *vm, uint64_t gpa)
{
    uint8_t byte;
    if (vm->ops.l1_read(vm->host_ctx, gpa, &byte, 1) != NVMX_OK)
        byte = 0xFF;
    return byte;
}

bool l1_bitmap_bit(const nvmx_vm *vm, uint64_t bitmap_gpa, uint64_t index)
{
    return (l1_byte(vm, bitmap_gpa + (index >> 3)) >> (index & 7)) & 1;
}

/* The 64-bit operand of an instruction whose operand size follows the mode: 64 bits in 64-bit
 * mode, else the low 32 (MOV CR, SDM Vol. 2B "MOV: Move to/from Control Registers"). */
static uint64_t mode_sized(const reflect_ctx *c, uint64_t value)
{
    return cpu_mode_of(c->vcpu) == CPU_MODE_LONG64 ? value : (value & 0xFFFFFFFFull);
}

static uint32_t eax(const reflect_ctx *c)
{
    return (uint32_t)reg(c, NVMX_REG_RAX);
}

/* Bit min(EAX, 63) of a 64-bit exiting bitmap held in vmcs12: the ENCLS-, ENCLV- and
 * PCONFIG-exiting bitmaps index leaves by EAX, and bit 63 stands for every EAX >= 63
 * (SDM 26.1.3; 25.6.16-25.6.18). */
static bool leaf_bitmap_bit(const reflect_ctx *c, unsigned bitmap_ordinal)
{
    uint32_t leaf = eax(c) < 63 ? eax(c) : 63;
    return (field(c, bitmap_ordinal) >> leaf) & 1;
}

/* L2 entered wait-for-SIPI by VM entry (activity state 3, SDM 25.4.2) and is still in it: no
 * instruction runs in that state and only a VM exit (a SIPI) ends it, so vmcs12's activity
 * state, written by L1 before the entry, is still L2's (SDM 27.7.2). */
static bool l2_waits_for_sipi(const reflect_ctx *c)
{
    return field(c, VMCS12_ORD_GUEST_ACTIVITY_STATE) == NVMX_ACTIVITY_WAIT_SIPI;
}

/* ---- Predicates ------------------------------------------------------------------------- */

/* SDM 26.2: an NMI exits with "NMI exiting". An exception (also from INT1, INT3, INTO, BOUND,
 * UD0-2) exits when its vector's bit in the exception bitmap is 1; for #PF the bit's meaning
 * is kept when (PFEC & PFEC_MASK) == PFEC_MATCH and reversed otherwise. Other event types
 * (external interrupts have their own reason, INT n never exits by itself) are not reason 0. */
static bool exception_or_nmi(const reflect_ctx *c)
{
    uint32_t info = c->exit->interruption_info;
    if (!(info & NVMX_INTR_INFO_VALID))
        return false;
    uint32_t vector = intr_info_vector(info);
    switch (intr_info_type(info)) {
    case NVMX_INTR_TYPE_NMI:
        return CTL(c, NMI_EXITING);
    case NVMX_INTR_TYPE_HARDWARE_EXCEPTION:
    case NVMX_INTR_TYPE_PRIVILEGED_SOFTWARE_EXCEPTION: /* INT1 */
    case NVMX_INTR_TYPE_SOFTWARE_EXCEPTION:            /* INT3, INTO */
        break;
    default:
        return false;
    }
    if (vector > NVMX_VECTOR_LAST_EXCEPTION)
        return false;
    bool bit = (field(c, VMCS12_ORD_EXCEPTION_BITMAP) >> vector) & 1;
    if (vector != NVMX_VECTOR_PF)
        return bit;
    uint64_t pfec = c->exit->interruption_error_code;
    bool match = (pfec & field(c, VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MASK)) ==
                 field(c, VMCS12_ORD_PAGE_FAULT_ERROR_CODE_MATCH);
    return bit == match;
}

/* SDM 26.2: INIT signals exit, except that the wait-for-SIPI state blocks them (27.7.2). */
static bool init_signal(const reflect_ctx *c)
{
    return !l2_waits_for_sipi(c);
}

/* SDM 26.2: a SIPI exits only in the wait-for-SIPI state; elsewhere it is discarded. */
static bool sipi(const reflect_ctx *c)
{
    return l2_waits_for_sipi(c);
}

/* Exit qualification for control-register accesses (SDM 28.2.1, Table 28-3). */
#define CRQ_NUMBER(q) ((unsigned)((q)&0xF))
#define CRQ_ACCESS(q) ((unsigned)(((q) >> 4) & 3))
#define CRQ_GPR(q) ((unsigned)(((q) >> 8) & 0xF))
#define CRQ_LMSW_DATA(q) ((uint64_t)(((q) >> 16) & 0xFFFF))
#define CR_ACCESS_MOV_TO 0u
#define CR_ACCESS_MOV_FROM 1u
#define CR_ACCESS_CLTS 2u
#define CR_ACCESS_LMSW 3u

/* SDM 26.1.3 "MOV to CR0"/"MOV to CR4": exit unless the written value equals the read shadow
 * in every bit the guest/host mask owns. */
static bool cr_owned_bit_changes(const reflect_ctx *c, uint64_t value, unsigned mask_ord,
                                 unsigned shadow_ord)
{
    return ((value ^ field(c, shadow_ord)) & field(c, mask_ord)) != 0;
}

/* SDM 26.1.3 "MOV to CR3": with "CR3-load exiting", exit unless the value equals one of the
 * first n CR3-target values, n = CR3-target count. VM entry fails with a count above 4
 * (SDM 27.2.1.1); only the four target fields exist, so at most four are compared. */
static bool cr3_load(const reflect_ctx *c, uint64_t value)
{
    if (!CTL(c, CR3_LOAD_EXITING))
        return false;
    uint64_t count = field(c, VMCS12_ORD_CR3_TARGET_COUNT);
    for (uint64_t i = 0; i < count && i < 4; i++) {
        if (value == field(c, VMCS12_ORD_CR3_TARGET_VALUE0 + (unsigned)i))
            return false;
    }
    return true;
}

/* SDM 26.1.3 "LMSW": for the bits of CR0[3:0] the mask owns, exit if LMSW would write a value
 * other than the shadow's; LMSW never clears PE, so PE exits only when set in the source and
 * clear in the shadow. The source operand (register or memory) is in the qualification. */
static bool lmsw(const reflect_ctx *c, uint64_t source)
{
    uint64_t mask = field(c, VMCS12_ORD_CR0_GUEST_HOST_MASK) & CR0_LMSW_BITS;
    uint64_t shadow = field(c, VMCS12_ORD_CR0_READ_SHADOW);
    if (mask & NVMX_CR0_PE & source & ~shadow)
        return true;
    return (mask & (CR0_LMSW_BITS & ~NVMX_CR0_PE) & (source ^ shadow)) != 0;
}

/* SDM 26.1.3, CLTS, LMSW, MOV to/from CR0, CR3, CR4, CR8. MOV from CR0/CR4 never exits (it
 * reads the shadow, 26.3), nor does an access to another CR. With "use TPR shadow" and the
 * CR8 exiting controls 0, MOV to/from CR8 uses the virtual TPR (26.3, 30.1) and exits, if at
 * all, as "TPR below threshold": a reason-28 CR8 exit is then L0's own. */
static bool cr_access(const reflect_ctx *c)
{
    uint64_t q = c->exit->qualification;
    unsigned cr = CRQ_NUMBER(q);
    switch (CRQ_ACCESS(q)) {
    case CR_ACCESS_MOV_TO: {
        uint64_t value = mode_sized(c, reg(c, (nvmx_reg)CRQ_GPR(q)));
        switch (cr) {
        case 0:
            return cr_owned_bit_changes(c, value, VMCS12_ORD_CR0_GUEST_HOST_MASK,
                                        VMCS12_ORD_CR0_READ_SHADOW);
        case 3:
            return cr3_load(c, value);
        case 4:
            return cr_owned_bit_changes(c, value, VMCS12_ORD_CR4_GUEST_HOST_MASK,
                                        VMCS12_ORD_CR4_READ_SHADOW);
        case 8:
            return CTL(c, CR8_LOAD_EXITING);
        default:
            return false;
        }
    }
    case CR_ACCESS_MOV_FROM:
        if (cr == 3)
            return CTL(c, CR3_STORE_EXITING);
        if (cr == 8)
            return CTL(c, CR8_STORE_EXITING);
        return false;
    case CR_ACCESS_CLTS:
        /* SDM 26.1.3 "CLTS": exits if CR0.TS is set in both the mask and the read shadow. */
        return (field(c, VMCS12_ORD_CR0_GUEST_HOST_MASK) & field(c, VMCS12_ORD_CR0_READ_SHADOW) &
                NVMX_CR0_TS) != 0;
    default: /* CR_ACCESS_LMSW */
        return lmsw(c, CRQ_LMSW_DATA(q));
    }
}

/* Exit qualification for I/O instructions (SDM 28.2.1, Table 28-5): bits 2:0 size - 1,
 * bits 31:16 port. */
#define IOQ_SIZE(q) ((uint32_t)((q)&7) + 1)
#define IOQ_PORT(q) ((uint32_t)(((q) >> 16) & 0xFFFF))

/* SDM 26.1.3 "IN, INS, OUT, OUTS": with "use I/O bitmaps" the access exits if the bit of any
 * port it touches is 1 in bitmap A (ports 0-7FFFH) or B (8000H-FFFFH), and always if it wraps
 * past FFFFH; "unconditional I/O exiting" is then ignored. Without bitmaps it decides alone.
 * Each bitmap byte the access touches is read once: at most two for an access of up to 8
 * ports (sizes 1, 2 and 4 are defined; a malformed size is read as 1 to 8 ports). */
static bool io_instruction(const reflect_ctx *c)
{
    if (!CTL(c, IO_BITMAPS))
        return CTL(c, UNCOND_IO_EXITING);
    uint64_t q = c->exit->qualification;
    uint32_t first = IOQ_PORT(q);
    uint32_t last = first + IOQ_SIZE(q) - 1;
    if (last > 0xFFFF)
        return true;
    for (uint32_t port = first; port <= last;) {
        /* A byte never straddles the A/B boundary: 8000H is a multiple of 8. */
        uint64_t bitmap = field(c, port < 0x8000 ? VMCS12_ORD_IO_BITMAP_A : VMCS12_ORD_IO_BITMAP_B);
        uint32_t byte_last = (port | 7) < last ? (port | 7) : last;
        uint32_t bits = ((1u << (byte_last - port + 1)) - 1) << (port & 7);
        if (l1_byte(c->vcpu->vm, bitmap + ((port & 0x7FFF) >> 3)) & bits)
            return true;
        port = byte_last + 1;
    }
    return false;
}

/* SDM 26.1.3 "RDMSR"/"WRMSR", 25.6.9: without "use MSR bitmaps" every access exits; with
 * them, ECX in 0-1FFFH or C0000000H-C0001FFFH selects a bit of the read-low (offset 0),
 * read-high (400H), write-low (800H) or write-high (C00H) quarter; any other ECX exits. */
static bool msr_access(const reflect_ctx *c, bool write)
{
    if (!CTL(c, MSR_BITMAPS))
        return true;
    uint32_t msr = (uint32_t)reg(c, NVMX_REG_RCX);
    uint64_t quarter;
    if (msr <= 0x1FFFu)
        quarter = write ? MSR_BITMAP_WRITE_LOW : MSR_BITMAP_READ_LOW;
    else if (msr - 0xC0000000u <= 0x1FFFu)
        quarter = write ? MSR_BITMAP_WRITE_HIGH : MSR_BITMAP_READ_HIGH;
    else
        return true;
    return l1_bitmap_bit(c->vcpu->vm, field(c, VMCS12_ORD_MSR_BITMAP) + quarter, msr & 0x1FFF);
}

static bool rdmsr(const reflect_ctx *c)
{
    return msr_access(c, false);
}

static bool wrmsr(const reflect_ctx *c)
{
    return msr_access(c, true);
}

/* VMREAD/VMWRITE: the decision of lib/exits/vmread_vmwrite.c, with the field encoding taken
 * from reg2 of the instruction information (SDM 28.2.5, Table 28-14, bits 31:28). */
static bool vmcs_access(const reflect_ctx *c, bool write)
{
    unsigned reg2 = (c->exit->instruction_info >> 28) & 0xF;
    uint64_t encoding = vmcs_encoding_operand(c->vcpu, cpu_mode_of(c->vcpu), reg2);
    return vmcs_shadowing_exits_to_l1(c->vcpu, write, encoding);
}

static bool vmread(const reflect_ctx *c)
{
    return vmcs_access(c, false);
}

static bool vmwrite(const reflect_ctx *c)
{
    return vmcs_access(c, true);
}

/* SDM 26.1.3 "PAUSE": "PAUSE exiting" makes every PAUSE exit. Otherwise, at CPL 0 only,
 * "PAUSE-loop exiting" makes a PAUSE exit once a spin loop has lasted longer than PLE_Window.
 * The hardware reports both as reason 40, and L0 cannot see how long L2 has been spinning
 * against L1's PLE_Gap/PLE_Window: with L1's PLE active at CPL 0 the exit is L1's (PLE is a
 * hint that the guest spins; delivering it is what L1 asked for). At CPL > 0 L1's PLE does
 * not apply, so the exit is L0's. */
static bool pause_instruction(const reflect_ctx *c)
{
    if (CTL(c, PAUSE_EXITING))
        return true;
    return CTL(c, PAUSE_LOOP_EXITING) && cpu_cpl(c->vcpu) == 0;
}

/* SDM 30.1.2 "TPR Virtualization", 27.7.7: with "use TPR shadow" and without "virtual-interrupt
 * delivery", a write of the virtual TPR (MOV to CR8, the APIC-access page, WRMSR 808H) exits after
 * the fact when TPR threshold[3:0] > VTPR[7:4], VTPR being byte 80H of L1's virtual-APIC page. L1
 * asked for the exit only if its own threshold and page say so. */
static bool tpr_below_threshold(const reflect_ctx *c)
{
    if (!CTL(c, TPR_SHADOW) || CTL(c, VIRTUAL_INTR_DELIVERY))
        return false;
    uint8_t vtpr = l1_byte(c->vcpu->vm, field(c, VMCS12_ORD_VIRTUAL_APIC_PAGE_ADDR) + VTPR_OFFSET);
    return (field(c, VMCS12_ORD_TPR_THRESHOLD) & TPR_THRESHOLD_MASK) >
           (uint64_t)(vtpr >> VTPR_CLASS_SHIFT);
}

/* SDM 30.1.4 EOI virtualization: with "virtual-interrupt delivery", a virtualized EOI exits
 * when the EOI-exit bitmap bit of the vector (qualification bits 7:0, 28.2.1) is 1. */
static bool virtualized_eoi(const reflect_ctx *c)
{
    if (!CTL(c, VIRTUAL_INTR_DELIVERY))
        return false;
    unsigned vector = (unsigned)(c->exit->qualification & 0xFF);
    uint64_t bitmap = field(c, VMCS12_ORD_EOI_EXIT_BITMAP0 + vector / 64);
    return (bitmap >> (vector % 64)) & 1;
}

/* SDM 30.4.3.3, 30.5: APIC-write exits follow writes that APIC virtualization lets complete
 * (to the APIC-access page, or to x2APIC MSRs with "virtualize x2APIC mode"). L1 virtualizes
 * its APIC for L2 only with one of these two controls; otherwise the exit is L0's. */
static bool apic_write(const reflect_ctx *c)
{
    return CTL(c, VIRTUALIZE_APIC_ACCESSES) || CTL(c, VIRTUALIZE_X2APIC);
}

/* SDM 26.1.3 "VMFUNC", 26.5.6.2, 26.5.6.3: with "enable VM functions" 0, or EAX > 63, VMFUNC is
 * #UD (an exception of L2, not this exit). Otherwise it exits when the function's VM-function
 * control is 0 or EPTP switching fails (ECX >= 512, or the list entry is not a valid EPTP); a
 * successful switch is L0's to complete. One decision, lib/exits/vmfunc.c. */
static bool vmfunc(const reflect_ctx *c)
{
    vmfunc_decision d;
    vmfunc_decide(c->vcpu, &d);
    return d.result == VMFUNC_EXIT_TO_L1;
}

/* SDM 26.1.3 "ENCLS": with "enable ENCLS exiting", by the ENCLS-exiting bitmap (25.6.16). */
static bool encls(const reflect_ctx *c)
{
    return CTL(c, ENCLS_EXITING) && leaf_bitmap_bit(c, VMCS12_ORD_ENCLS_EXITING_BITMAP);
}

/* SDM 26.1.3 "ENCLV": with "enable ENCLV exiting", by the ENCLV-exiting bitmap (25.6.17). */
static bool enclv(const reflect_ctx *c)
{
    return CTL(c, ENCLV_EXITING) && leaf_bitmap_bit(c, VMCS12_ORD_ENCLV_EXITING_BITMAP);
}

/* SDM 26.1.3 "PCONFIG": with "enable PCONFIG" 0 the instruction is #UD (L0 delivers it);
 * with it, by the PCONFIG-exiting bitmap (25.6.18). */
static bool pconfig(const reflect_ctx *c)
{
    return CTL(c, PCONFIG) && leaf_bitmap_bit(c, VMCS12_ORD_PCONFIG_EXITING_BITMAP);
}

#define MSR_IA32_XSS 0xDA0u

/* SDM 26.1.3 "XSAVES"/"XRSTORS": with "enable XSAVES/XRSTORS" 0 they are #UD (26.3; L0
 * delivers it). With it they exit if EDX:EAX & IA32_XSS & the XSS-exiting bitmap (a 64-bit
 * vmcs12 field, SDM 25.6 "XSS-Exiting Bitmap") is not 0. IA32_XSS is L2's, read through the
 * optional msr_read op; without it every state component counts as enabled, so the bitmap and
 * EDX:EAX decide. */
static bool xsaves_xrstors(const reflect_ctx *c)
{
    if (!CTL(c, XSAVES))
        return false;
    uint64_t mask = (reg(c, NVMX_REG_RDX) << 32) | eax(c);
    uint64_t xss = ~0ull;
    const nvmx_vm *vm = c->vcpu->vm;
    if (!vm->ops.msr_read || vm->ops.msr_read(c->vcpu->ctx, MSR_IA32_XSS, &xss) != NVMX_OK)
        xss = ~0ull;
    return (mask & xss & field(c, VMCS12_ORD_XSS_EXIT_BITMAP)) != 0;
}

/* SDM 26.7.1: a timer exit is L1's when L1's timer has counted down to 0, i.e. its deadline
 * (lib/exits/preemption_timer.c) has passed. vmcs02's timer fires no later than that; an
 * earlier expiry is L0's own timer, or vmcs02's share of L1's time running out while L2 spent
 * time outside (L0 refreshes it with nvmx_before_l2_resume). */
static bool preemption_timer(const reflect_ctx *c)
{
    return CTL(c, PREEMPTION_TIMER) && preemption_timer_expired(c->vcpu);
}

/* SDM 26.7.2: MTF VM exits come with "monitor trap flag" 1, or from a pending MTF VM exit that
 * L1's VM entry injected (type 7, vector 0; 27.6.2, 27.7.2), which exists whatever the
 * control. An L0 that single-steps L2 with its own MTF resolves its own step first. */
static bool monitor_trap_flag(const reflect_ctx *c)
{
    return CTL(c, MONITOR_TRAP_FLAG) || c->vcpu->mtf_injected;
}

/* ---- The table ---------------------------------------------------------------------------- */

typedef enum rule_kind {
    RULE_NONE = 0, /* a number Appendix C does not use (35, 38, 42, 71) */
    RULE_ALWAYS,   /* unconditional (SDM 26.1.2, 26.2) */
    RULE_NEVER,    /* no exit L1 asked for can have this reason: the comment says why */
    RULE_CONTROLS, /* every listed control is 1 (and active) */
    RULE_PREDICATE,
} rule_kind;

typedef struct reflect_rule {
    const char *name; /* "<reason>.<condition>", stable: logs and tests use it */
    uint8_t kind;     /* rule_kind */
    uint8_t control_reg[2];
    uint64_t control[2]; /* RULE_CONTROLS: masks in control_reg; 0 = unused */
    bool (*wanted)(const reflect_ctx *c);
} reflect_rule;

#define ALWAYS(n)                                                                                  \
    {                                                                                              \
        .name = n, .kind = RULE_ALWAYS                                                             \
    }
#define NEVER(n)                                                                                   \
    {                                                                                              \
        .name = n, .kind = RULE_NEVER                                                              \
    }
#define CONTROL(n, id)                                                                             \
    {                                                                                              \
        .name = n, .kind = RULE_CONTROLS, .control_reg = {CONTROL_REG_##id},                       \
        .control = {NVMX_CTL(id)},                                                                 \
    }
#define CONTROLS(n, a, b)                                                                          \
    {                                                                                              \
        .name = n, .kind = RULE_CONTROLS, .control_reg = {CONTROL_REG_##a, CONTROL_REG_##b},       \
        .control = {NVMX_CTL(a), NVMX_CTL(b)},                                                     \
    }
#define PREDICATE(n, fn)                                                                           \
    {                                                                                              \
        .name = n, .kind = RULE_PREDICATE, .wanted = fn                                            \
    }

/* clang-format off */
static const reflect_rule rules[] = {
    [NVMX_EXIT_EXCEPTION_NMI] = PREDICATE("exception.bitmap_and_pf_filter", exception_or_nmi),
    /* SDM 26.2: external interrupts exit with "external-interrupt exiting"; otherwise they
     * are delivered through L2's IDT. The embedder reports here interrupts that belong to
     * L1's platform, never its own host interrupts; nvmx_l1_interrupt_pending
     * (lib/exits/l1_events.c) is the general path, which also handles acknowledgement. */
    [NVMX_EXIT_EXTERNAL_INTERRUPT] =
        CONTROL("external_interrupt.external_interrupt_exiting", EXT_INTR_EXITING),
    /* SDM 26.2: a triple fault always exits; task switches are not allowed in VMX non-root
     * operation and always exit. */
    [NVMX_EXIT_TRIPLE_FAULT] = ALWAYS("triple_fault.unconditional"),
    [NVMX_EXIT_INIT_SIGNAL] = PREDICATE("init.unconditional_outside_wait_for_sipi", init_signal),
    [NVMX_EXIT_SIPI] = PREDICATE("sipi.wait_for_sipi_only", sipi),
    /* Appendix C, SDM 26.2 "System-management interrupts": I/O SMI and other SMI are SMM
     * VM exits of the dual-monitor treatment, which L1 never has (docs/ARCHITECTURE.md). An SMI while L2 runs is L0's. */
    [NVMX_EXIT_IO_SMI] = NEVER("io_smi.dual_monitor_not_exposed"),
    [NVMX_EXIT_OTHER_SMI] = NEVER("other_smi.dual_monitor_not_exposed"),
    /* SDM 26.2 "interrupt-window exiting", "NMI-window exiting". */
    [NVMX_EXIT_INTERRUPT_WINDOW] =
        CONTROL("interrupt_window.interrupt_window_exiting", INTR_WINDOW_EXITING),
    [NVMX_EXIT_NMI_WINDOW] = CONTROL("nmi_window.nmi_window_exiting", NMI_WINDOW_EXITING),
    [NVMX_EXIT_TASK_SWITCH] = ALWAYS("task_switch.unconditional"),
    /* SDM 26.1.2: CPUID, GETSEC, INVD, XSETBV and the VMX instructions exit unconditionally
     * (GETSEC only once CR4.SMXE = 1 let it past #UD, which the exit shows). */
    [NVMX_EXIT_CPUID] = ALWAYS("cpuid.unconditional"),
    [NVMX_EXIT_GETSEC] = ALWAYS("getsec.unconditional"),
    /* SDM 26.1.3: these exit exactly when their primary control is 1. */
    [NVMX_EXIT_HLT] = CONTROL("hlt.hlt_exiting", HLT_EXITING),
    [NVMX_EXIT_INVD] = ALWAYS("invd.unconditional"),
    [NVMX_EXIT_INVLPG] = CONTROL("invlpg.invlpg_exiting", INVLPG_EXITING),
    [NVMX_EXIT_RDPMC] = CONTROL("rdpmc.rdpmc_exiting", RDPMC_EXITING),
    [NVMX_EXIT_RDTSC] = CONTROL("rdtsc.rdtsc_exiting", RDTSC_EXITING),
    /* Appendix C: RSM exits only when executed in SMM, and L2 is never in SMM: "entry to SMM"
     * needs VM entry from SMM (SDM 27.2.1.3), and L1 is never in SMM (no dual monitor). */
    [NVMX_EXIT_RSM] = NEVER("rsm.l2_never_in_smm"),
    [NVMX_EXIT_VMCALL] = ALWAYS("vmcall.unconditional"),
    [NVMX_EXIT_VMCLEAR] = ALWAYS("vmclear.unconditional"),
    [NVMX_EXIT_VMLAUNCH] = ALWAYS("vmlaunch.unconditional"),
    [NVMX_EXIT_VMPTRLD] = ALWAYS("vmptrld.unconditional"),
    [NVMX_EXIT_VMPTRST] = ALWAYS("vmptrst.unconditional"),
    /* SDM 26.1.3, 25.10: VMREAD/VMWRITE exit unless VMCS shadowing lets them through. */
    [NVMX_EXIT_VMREAD] = PREDICATE("vmread.vmcs_shadowing_bitmap", vmread),
    [NVMX_EXIT_VMRESUME] = ALWAYS("vmresume.unconditional"),
    [NVMX_EXIT_VMWRITE] = PREDICATE("vmwrite.vmcs_shadowing_bitmap", vmwrite),
    [NVMX_EXIT_VMXOFF] = ALWAYS("vmxoff.unconditional"),
    [NVMX_EXIT_VMXON] = ALWAYS("vmxon.unconditional"),
    [NVMX_EXIT_CR_ACCESS] = PREDICATE("cr_access.masks_and_targets", cr_access),
    [NVMX_EXIT_DR_ACCESS] = CONTROL("dr_access.mov_dr_exiting", MOV_DR_EXITING),
    [NVMX_EXIT_IO_INSTRUCTION] = PREDICATE("io.bitmaps_or_unconditional", io_instruction),
    [NVMX_EXIT_RDMSR] = PREDICATE("msr_read.msr_bitmap", rdmsr),
    [NVMX_EXIT_WRMSR] = PREDICATE("msr_write.msr_bitmap", wrmsr),
    /* Appendix C, SDM 27.8: 33, 34 and 41 report failed VM entries (bit 31 set): outcomes of
     * L0 entering vmcs02, which lib/exits handles as entry failures, never L2 exits. */
    [NVMX_EXIT_ENTRY_FAIL_GUEST_STATE] = NEVER("entry_fail_guest_state.not_an_l2_exit"),
    [NVMX_EXIT_ENTRY_FAIL_MSR_LOADING] = NEVER("entry_fail_msr_loading.not_an_l2_exit"),
    [NVMX_EXIT_MWAIT] = CONTROL("mwait.mwait_exiting", MWAIT_EXITING),
    [NVMX_EXIT_MONITOR_TRAP_FLAG] =
        PREDICATE("mtf.monitor_trap_flag_or_injected_pending_mtf", monitor_trap_flag),
    [NVMX_EXIT_MONITOR] = CONTROL("monitor.monitor_exiting", MONITOR_EXITING),
    [NVMX_EXIT_PAUSE] = PREDICATE("pause.pause_exiting_or_ple_at_cpl0", pause_instruction),
    [NVMX_EXIT_ENTRY_FAIL_MACHINE_CHECK] = NEVER("entry_fail_machine_check.not_an_l2_exit"),
    [NVMX_EXIT_TPR_BELOW_THRESHOLD] =
        PREDICATE("tpr_below_threshold.tpr_shadow_and_threshold", tpr_below_threshold),
    /* SDM 30.4: APIC-access exits exist only with "virtualize APIC accesses"; without it an
     * access to an APIC-access page is L0's virtualization of L1's APIC. */
    [NVMX_EXIT_APIC_ACCESS] =
        CONTROL("apic_access.virtualize_apic_accesses", VIRTUALIZE_APIC_ACCESSES),
    [NVMX_EXIT_VIRTUALIZED_EOI] = PREDICATE("virtualized_eoi.eoi_exit_bitmap", virtualized_eoi),
    /* SDM 26.1.3: LGDT, LIDT, SGDT, SIDT (46) and LLDT, LTR, SLDT, STR (47). */
    [NVMX_EXIT_GDTR_IDTR_ACCESS] =
        CONTROL("gdtr_idtr.descriptor_table_exiting", DESC_TABLE_EXITING),
    [NVMX_EXIT_LDTR_TR_ACCESS] = CONTROL("ldtr_tr.descriptor_table_exiting", DESC_TABLE_EXITING),
    /* SDM 29.3.3 "EPT-Induced VM Exits": EPT violations and misconfigurations exist for L1 only with its "enable
     * EPT"; without it, L2's guest-physical addresses are L1's, translated by L0's EPT01, and
     * the fault is L0's. With it, lib/exits/ept_exits.c applies this rule first, then
     * resolves the fault in EPT02 (entries not built yet), leaves EPT01's to L0, and reflects
     * only a fault of L1's EPT12, with the exit information its walk decides. */
    [NVMX_EXIT_EPT_VIOLATION] = CONTROL("ept_violation.l1_ept", EPT),
    [NVMX_EXIT_EPT_MISCONFIG] = CONTROL("ept_misconfig.l1_ept", EPT),
    [NVMX_EXIT_INVEPT] = ALWAYS("invept.unconditional"),
    /* SDM 26.1.3 "RDTSCP": exits with "RDTSC exiting" and "enable RDTSCP"; without the
     * latter it is #UD (26.3), which L0 delivers. */
    [NVMX_EXIT_RDTSCP] =
        CONTROLS("rdtscp.rdtsc_exiting_and_enable_rdtscp", RDTSC_EXITING, RDTSCP),
    /* SDM 26.7.1: an L0 that runs its own timer in vmcs02 checks its own deadline first. */
    [NVMX_EXIT_PREEMPTION_TIMER] =
        PREDICATE("preemption_timer.l1_deadline_passed", preemption_timer),
    [NVMX_EXIT_INVVPID] = ALWAYS("invvpid.unconditional"),
    /* SDM 26.1.3: WBINVD and WBNOINVD exit with "WBINVD exiting". */
    [NVMX_EXIT_WBINVD] = CONTROL("wbinvd.wbinvd_exiting", WBINVD_EXITING),
    [NVMX_EXIT_XSETBV] = ALWAYS("xsetbv.unconditional"),
    [NVMX_EXIT_APIC_WRITE] = PREDICATE("apic_write.apic_virtualization", apic_write),
    [NVMX_EXIT_RDRAND] = CONTROL("rdrand.rdrand_exiting", RDRAND_EXITING),
    /* SDM 26.1.3 "INVPCID": exits with "INVLPG exiting" and "enable INVPCID"; without the
     * latter it is #UD (26.3). */
    [NVMX_EXIT_INVPCID] =
        CONTROLS("invpcid.invlpg_exiting_and_enable_invpcid", INVLPG_EXITING, ENABLE_INVPCID),
    [NVMX_EXIT_VMFUNC] = PREDICATE("vmfunc.disabled_function_or_eptp_switch_failure", vmfunc),
    [NVMX_EXIT_ENCLS] = PREDICATE("encls.encls_exiting_bitmap", encls),
    [NVMX_EXIT_RDSEED] = CONTROL("rdseed.rdseed_exiting", RDSEED_EXITING),
    /* SDM ch. 29 "Page-Modification Logging": PML-full exits need L1's "enable PML"; an L0 that logs L2's writes with
     * its own PML buffer handles its own log first. */
    [NVMX_EXIT_PML_FULL] = CONTROL("pml_full.enable_pml", PML),
    [NVMX_EXIT_XSAVES] = PREDICATE("xsaves.xss_exiting_bitmap", xsaves_xrstors),
    [NVMX_EXIT_XRSTORS] = PREDICATE("xrstors.xss_exiting_bitmap", xsaves_xrstors),
    [NVMX_EXIT_PCONFIG] = PREDICATE("pconfig.pconfig_exiting_bitmap", pconfig),
    /* SDM ch. 29 "Sub-Page Write Permissions": SPP misses and misconfigurations need L1's "sub-page write permissions
     * for EPT". */
    [NVMX_EXIT_SPP_EVENT] = CONTROL("spp.subpage_write_permissions", SUBPAGE_WRITE),
    /* SDM 26.1.3 "UMWAIT"/"TPAUSE": exit with "RDTSC exiting" and "enable user wait and
     * pause"; without the latter they are #UD (26.3). */
    [NVMX_EXIT_UMWAIT] =
        CONTROLS("umwait.rdtsc_exiting_and_user_wait_pause", RDTSC_EXITING, USER_WAIT_PAUSE),
    [NVMX_EXIT_TPAUSE] =
        CONTROLS("tpause.rdtsc_exiting_and_user_wait_pause", RDTSC_EXITING, USER_WAIT_PAUSE),
    /* SDM 26.1.3 "LOADIWKEY": a tertiary control. */
    [NVMX_EXIT_LOADIWKEY] = CONTROL("loadiwkey.loadiwkey_exiting", LOADIWKEY_EXITING),
    [NVMX_EXIT_ENCLV] = PREDICATE("enclv.enclv_exiting_bitmap", enclv),
    /* Appendix C: ENQCMD/ENQCMDS PASID-translation failures need the "PASID translation"
     * secondary control, which is not among the features L1 can be given (features.h): VM
     * entry fails with it set, so L2 never runs with it. */
    [NVMX_EXIT_ENQCMD_PASID_FAIL] = NEVER("enqcmd_pasid_fail.pasid_translation_not_exposed"),
    [NVMX_EXIT_ENQCMDS_PASID_FAIL] = NEVER("enqcmds_pasid_fail.pasid_translation_not_exposed"),
    /* Appendix C: bus-lock exits need "bus-lock detection"; instruction-timeout exits need
     * the "instruction timeout" control. An L0 using either for itself while L2 runs decides
     * its own first. */
    [NVMX_EXIT_BUS_LOCK] = CONTROL("bus_lock.bus_lock_detection", BUS_LOCK_DETECTION),
    [NVMX_EXIT_INSTRUCTION_TIMEOUT] =
        CONTROL("instruction_timeout.instruction_timeout_control", INSTRUCTION_TIMEOUT),
    /* Appendix C: SEAMCALL and TDCALL in VMX non-root operation exit unconditionally. */
    [NVMX_EXIT_SEAMCALL] = ALWAYS("seamcall.unconditional"),
    [NVMX_EXIT_TDCALL] = ALWAYS("tdcall.unconditional"),
    /* Appendix C: RDMSRLIST/WRMSRLIST exit per MSR-bitmap bit only with the tertiary control
     * "enable MSR-list instructions", without which they are #UD; that control is not among
     * the features L1 can be given (features.h), so L2 never runs with it. */
    [NVMX_EXIT_RDMSRLIST] = NEVER("rdmsrlist.msr_list_instructions_not_exposed"),
    [NVMX_EXIT_WRMSRLIST] = NEVER("wrmsrlist.msr_list_instructions_not_exposed"),
};
/* clang-format on */

static const reflect_rule *rule_for(uint32_t basic_reason)
{
    if (basic_reason >= NVMX_ARRAY_SIZE(rules) || rules[basic_reason].kind == RULE_NONE)
        return NULL;
    return &rules[basic_reason];
}

static bool controls_set(const reflect_ctx *c, const reflect_rule *rule)
{
    for (unsigned i = 0; i < 2; i++) {
        if (rule->control[i] && !(control_word(c->v, rule->control_reg[i]) & rule->control[i]))
            return false;
    }
    return true;
}

bool exit_wanted_by_l1(nvmx_vcpu *vcpu, const nvmx_exit *exit)
{
    /* Reflection is about an L2 exit: without L2 running from a vmcs12 there is no L1 that
     * asked for anything. */
    if (!vcpu || !exit || !vcpu->guest_mode || !vcpu->current)
        return false;
    const reflect_rule *rule = rule_for(exit->reason);
    if (!rule)
        return false;
    reflect_ctx c = {.vcpu = vcpu, .v = &vcpu->current->data, .exit = exit};
    switch (rule->kind) {
    case RULE_ALWAYS:
        return true;
    case RULE_CONTROLS:
        return controls_set(&c, rule);
    case RULE_PREDICATE:
        return rule->wanted(&c);
    default:
        return false;
    }
}

const char *exit_reflection_rule_name(uint32_t basic_reason)
{
    const reflect_rule *rule = rule_for(basic_reason);
    return rule ? rule->name : NULL;
}
