/* SPDX-License-Identifier: MIT */
/*
 * The VMX capability set L1 sees through the IA32_VMX_* MSRs (SDM Vol. 3D Appendix A).
 *
 *   exposed = host ∩ implemented ∩ policy, closed under the dependency table.
 *
 * The work is done on models (caps_model.h): named features plus the numeric fields. The
 * table of what the library implements is `implemented_features` below: enabling a feature
 * once its code exists means adding one line there, nothing else.
 */
#include "caps_model.h"

#include <stddef.h>

/* ---- Features, from NVMX_FEATURE_LIST ------------------------------------------------------ */

const caps_feature_info caps_features[NVMX_FEATURE_COUNT] = {
#define FEATURE_INFO(id, name_, reg_, bit_) [NVMX_FEATURE_##id] = {name_, reg_, bit_},
    NVMX_FEATURE_LIST(FEATURE_INFO)
#undef FEATURE_INFO
};

/* Control registers keep allowed-1 in bits 63:32, so their features must be below bit 32
 * (REG_IS_SPLIT mirrors caps_layout[].split, for this compile-time check only). */
#define REG_IS_SPLIT(reg)                                                                          \
    ((reg) == NVMX_CAP_PINBASED || (reg) == NVMX_CAP_PROCBASED || (reg) == NVMX_CAP_PROCBASED2 ||  \
     (reg) == NVMX_CAP_EXIT || (reg) == NVMX_CAP_ENTRY)
#define FEATURE_BIT_CHECK(id, name_, reg_, bit_)                                                   \
    _Static_assert((bit_) < 64 && (!REG_IS_SPLIT(reg_) || (bit_) < 32), "bit of " #id);
NVMX_FEATURE_LIST(FEATURE_BIT_CHECK)
#undef FEATURE_BIT_CHECK

/* ---- Registers: where each lives and its default1 bits (SDM A.1-A.11) -------------------- */

#define CAPS_OFFSET(field) ((uint16_t)offsetof(nvmx_vmx_caps, field))
#define PLAIN(msr_, field)                                                                         \
    {                                                                                              \
        NVMX_MSR_##msr_, CAPS_OFFSET(field), 0, 0, false, 0                                        \
    }
#define CONTROL(msr_, field, true_msr_, true_field, default1_)                                     \
    {                                                                                              \
        NVMX_MSR_##msr_, CAPS_OFFSET(field), NVMX_MSR_##true_msr_, CAPS_OFFSET(true_field), true,  \
            default1_                                                                              \
    }

const caps_reg_layout caps_layout[NVMX_CAP_REG_COUNT] = {
    [NVMX_CAP_BASIC] = PLAIN(IA32_VMX_BASIC, basic),
    [NVMX_CAP_PINBASED] = CONTROL(IA32_VMX_PINBASED_CTLS, pinbased, IA32_VMX_TRUE_PINBASED_CTLS,
                                  true_pinbased, NVMX_PINBASED_DEFAULT1),
    [NVMX_CAP_PROCBASED] = CONTROL(IA32_VMX_PROCBASED_CTLS, procbased, IA32_VMX_TRUE_PROCBASED_CTLS,
                                   true_procbased, NVMX_PROCBASED_DEFAULT1),
    /* A.3.3: the secondary controls have no default1 bits and no TRUE MSR. */
    [NVMX_CAP_PROCBASED2] = {NVMX_MSR_IA32_VMX_PROCBASED_CTLS2, CAPS_OFFSET(procbased2), 0, 0, true,
                             0},
    [NVMX_CAP_PROCBASED3] = PLAIN(IA32_VMX_PROCBASED_CTLS3, procbased3),
    [NVMX_CAP_EXIT] =
        CONTROL(IA32_VMX_EXIT_CTLS, exit, IA32_VMX_TRUE_EXIT_CTLS, true_exit, NVMX_EXIT_DEFAULT1),
    [NVMX_CAP_EXIT2] = PLAIN(IA32_VMX_EXIT_CTLS2, exit2),
    [NVMX_CAP_ENTRY] = CONTROL(IA32_VMX_ENTRY_CTLS, entry, IA32_VMX_TRUE_ENTRY_CTLS, true_entry,
                               NVMX_ENTRY_DEFAULT1),
    [NVMX_CAP_MISC] = PLAIN(IA32_VMX_MISC, misc),
    [NVMX_CAP_EPT_VPID] = PLAIN(IA32_VMX_EPT_VPID_CAP, ept_vpid_cap),
    [NVMX_CAP_VMFUNC] = PLAIN(IA32_VMX_VMFUNC, vmfunc),
};

static const struct {
    uint32_t index;
    const char *name;
} msr_names[] = {
#define MSR_NAME(name_, index_) {index_, #name_},
    NVMX_MSR_LIST(MSR_NAME)
#undef MSR_NAME
};

const char *caps_msr_name(uint32_t index)
{
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(msr_names); i++)
        if (msr_names[i].index == index)
            return msr_names[i].name;
    return "?";
}

uint64_t capabilities_register(const nvmx_vmx_caps *caps, nvmx_cap_reg reg)
{
    if ((unsigned)reg >= NVMX_CAP_REG_COUNT)
        return 0;
    uint64_t value = caps_msr_get(caps, caps_layout[reg].offset);
    /* A.3-A.5: a control's feature bit is its allowed-1 bit, in bits 63:32. */
    return caps_layout[reg].split ? value >> 32 : value;
}

bool caps_feature_is_default1(nvmx_feature feature)
{
    const caps_feature_info *info = &caps_features[feature];
    return (caps_layout[info->reg].default1 >> info->bit) & 1;
}

bool caps_feature_bit(const nvmx_vmx_caps *caps, nvmx_feature feature)
{
    if ((unsigned)feature >= NVMX_FEATURE_COUNT)
        return false;
    const caps_feature_info *info = &caps_features[feature];
    return (capabilities_register(caps, (nvmx_cap_reg)info->reg) >> info->bit) & 1;
}

bool caps_feature_present(const nvmx_vmx_caps *caps, nvmx_feature feature)
{
    if ((unsigned)feature >= NVMX_FEATURE_COUNT)
        return false;
    if (!caps_feature_is_default1(feature))
        return caps_feature_bit(caps, feature);
    /* A.2: only a TRUE MSR can say a default1 control may be 0 (allowed-1 and not must-be-1). */
    if (!caps_feature_bit(caps, NVMX_FEATURE_TRUE_CTLS))
        return false;
    const caps_feature_info *info = &caps_features[feature];
    uint64_t true_msr = caps_msr_get(caps, caps_layout[info->reg].true_offset);
    return ((true_msr >> 32 >> info->bit) & 1) && !((true_msr >> info->bit) & 1);
}

/* ---- Feature sets -------------------------------------------------------------------------- */

void feature_set_fill(feature_set *set)
{
    nvmx_memset(set, 0, sizeof(*set));
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++)
        feature_set_add(set, f);
}

void feature_set_intersect(feature_set *set, const feature_set *other)
{
    for (unsigned w = 0; w < CAPS_FEATURE_WORDS; w++)
        set->word[w] &= other->word[w];
}

bool feature_set_equal(const feature_set *a, const feature_set *b)
{
    return nvmx_memcmp(a->word, b->word, sizeof(a->word)) == 0;
}

/* ---- WHAT THE LIBRARY IMPLEMENTS ------------------------------------------------------------
 *
 * The single place to enable a feature: add its line here once the code behind it exists.
 * Each line says which code implements it. Everything not listed is hidden from L1 whatever
 * the host can do. The VMX instructions VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD and
 * VMWRITE need no bit: every VMX processor has them (SDM 31). The default1 controls are in
 * every set by construction (caps_model_build, SDM A.2); the default1 *features* (the ability
 * to clear one: vmx-cr3-load-noexit, vmx-cr3-store-noexit, vmx-exit-nosave-debugctl,
 * vmx-entry-noload-debugctl) are not implemented: they need VM entry and exit.
 */
static const uint8_t implemented_features[] = {
    /* IA32_VMX_BASIC[55]: the IA32_VMX_TRUE_*_CTLS MSRs are served by vmx_msr_read
     * (lib/msr.c); while no default1 feature is implemented they equal the non-TRUE MSRs. */
    NVMX_FEATURE_TRUE_CTLS,
    /* Primary control 31: the secondary control field exists in vmcs12 (lib/vmcs) and
     * IA32_VMX_PROCBASED_CTLS2 is served by lib/msr.c; needed for VMCS shadowing. */
    NVMX_FEATURE_SECONDARY_CONTROLS,
    /* Secondary control 14, VMCS shadowing (SDM 25.10): shadow-indicator VMCS regions in the
     * VMCLEAR/VMPTRLD emulation and L2's VMREAD/VMWRITE through the VMREAD/VMWRITE bitmaps,
     * completed without L1 by nvmx_on_l2_exit (lib/exits/). */
    NVMX_FEATURE_SHADOW_VMCS,
    /* IA32_VMX_MISC[29]: VMWRITE to VM-exit information fields, allowed by the VMWRITE
     * emulation (lib/exits/) when this bit is exposed (SDM 31.3, VMWRITE). */
    NVMX_FEATURE_VMWRITE_ANY_FIELD,
    /* VM entry and exit (lib/exits/vm_entry.c, vm_exit.c, load_host_state.c): a 64-bit L1
     * host (SDM 28.5) and a 64-bit L2 (27.3.2, with IA32_VMX_MISC[5] storing EFER.LMA into
     * the control on exit, 28.3), PAT/EFER saved and loaded per control (28.3, 28.5, 27.3.2
     * through vmcs02's entry controls), and L1 may clear "save/load debug controls". */
    NVMX_FEATURE_EXIT_HOST_ADDR_SPACE,
    NVMX_FEATURE_ENTRY_IA32E_MODE,
    NVMX_FEATURE_STORE_LMA,
    NVMX_FEATURE_EXIT_SAVE_PAT,
    NVMX_FEATURE_EXIT_LOAD_PAT,
    NVMX_FEATURE_EXIT_SAVE_EFER,
    NVMX_FEATURE_EXIT_LOAD_EFER,
    NVMX_FEATURE_ENTRY_LOAD_PAT,
    NVMX_FEATURE_ENTRY_LOAD_EFER,
    NVMX_FEATURE_EXIT_SAVE_DEBUG,
    NVMX_FEATURE_ENTRY_LOAD_DEBUG,
    /* Exiting controls: OR'ed into vmcs02 (lib/vmcs/vmcs02.c) and reflected to L1 by the rule
     * of their exit reason (lib/exits/reflect.c). I/O and MSR bitmaps: vmcs02 takes every I/O
     * and MSR access and reflection applies L1's bitmaps. CR3 load/store exiting may be
     * cleared by L1; the CR3-target values are honoured by reflection and copied to vmcs02. */
    NVMX_FEATURE_HLT_EXITING,
    NVMX_FEATURE_INVLPG_EXITING,
    NVMX_FEATURE_MWAIT_EXITING,
    NVMX_FEATURE_RDPMC_EXITING,
    NVMX_FEATURE_RDTSC_EXITING,
    NVMX_FEATURE_CR3_LOAD_EXITING,
    NVMX_FEATURE_CR3_STORE_EXITING,
    NVMX_FEATURE_CR8_LOAD_EXITING,
    NVMX_FEATURE_CR8_STORE_EXITING,
    NVMX_FEATURE_MOV_DR_EXITING,
    NVMX_FEATURE_UNCOND_IO_EXITING,
    NVMX_FEATURE_IO_BITMAPS,
    NVMX_FEATURE_MSR_BITMAPS,
    NVMX_FEATURE_MONITOR_EXITING,
    NVMX_FEATURE_PAUSE_EXITING,
    NVMX_FEATURE_DESC_TABLE_EXITING,
    NVMX_FEATURE_WBINVD_EXITING,
    NVMX_FEATURE_RDRAND_EXITING,
    NVMX_FEATURE_RDSEED_EXITING,
    /* Enabling controls passed to vmcs02 unchanged: the CPU runs L2's RDTSCP and INVPCID, or
     * raises #UD, as L1 chose (SDM 25.6.2). */
    NVMX_FEATURE_RDTSCP,
    NVMX_FEATURE_ENABLE_INVPCID,
    /* L2's TSC offset is vmcs01's + vmcs12's (lib/vmcs/vmcs02.c, SDM 25.6.5). */
    NVMX_FEATURE_TSC_OFFSETTING,
    /* VMX-preemption timer (SDM 26.7) and saving its value (28.3.4): L1's deadline kept per
     * vCPU in L1's TSC (lib/exits/preemption_timer.c, needs the tsc_read op: ceiling_of drops
     * it without), vmcs02's timer set to fire no later (lib/vmcs/vmcs02.c), reason 52
     * reflected only once L1's deadline passed (lib/exits/reflect.c), the remaining value
     * saved on exits to L1 (lib/exits/vm_exit.c). The rate is the host's (A.6). */
    NVMX_FEATURE_PREEMPTION_TIMER,
    NVMX_FEATURE_EXIT_SAVE_PREEMPTION_TIMER,
    /* Event windows and NMIs (SDM 26.2, 25.6.1, 25.6.2): OR'ed into vmcs02 (lib/vmcs/vmcs02.c)
     * and reflected per L1's control (lib/exits/reflect.c: reason 0 with an NMI, 7, 8). The
     * interruptibility state (blocking by NMI / virtual-NMI blocking, bit 3) is copied to
     * vmcs02 and saved from it (vmcs02.c, vm_exit.c): vmcs02 has "virtual NMIs" whenever L1
     * does, and NMI exiting with it, so the bit means in vmcs02 what it means in vmcs12. Event
     * information (28.2.2-28.2.4, bit 12 included) goes to L1 unchanged; what L0 re-injects
     * after its own exits is the embedder's (include/nestvmx/exits.h). An exit caused by an
     * NMI blocks NMIs in L1 (lib/exits/load_host_state.c, 28.5.5). */
    NVMX_FEATURE_INTR_WINDOW_EXITING,
    /* External-interrupt exiting and acknowledge interrupt on exit (SDM 25.6.1, 25.7.1, 26.2,
     * 28.2.2): interrupts of L1's platform are L0's to report (nvmx_l1_interrupt_pending,
     * lib/exits/l1_events.c): reason 1 to L1, with the vector and the embedder told to
     * acknowledge it when L1 acknowledges on exit, else L0 injects them into L2. The pin
     * control is OR'ed into vmcs02; vmcs02's exit controls stay L0's. */
    NVMX_FEATURE_EXT_INTR_EXITING,
    NVMX_FEATURE_EXIT_ACK_INTR,
    NVMX_FEATURE_NMI_EXITING,
    NVMX_FEATURE_VIRTUAL_NMIS,
    NVMX_FEATURE_NMI_WINDOW_EXITING,
    /* Monitor trap flag (SDM 26.7.2): OR'ed into vmcs02, reflected when L1 set it or injected
     * a pending MTF VM exit (type 7 vector 0, 27.6.2; tracked by lib/exits/vm_entry.c), and
     * synthesized after the L2 instructions the library completes itself
     * (lib/exits/dispatch.c). */
    NVMX_FEATURE_MONITOR_TRAP_FLAG,
    /* Activity state HLT (SDM 25.4.2, A.6 bit 6): checked on entry (27.3.1.5), copied into
     * vmcs02 (the CPU or emulator halts L2 there), saved from vmcs02 by every exit (28.3.4).
     * What wakes L2 is docs/ARCHITECTURE.md's "HLT". */
    NVMX_FEATURE_ACTIVITY_HLT,
    /* Shutdown and wait-for-SIPI (A.6 bits 7, 8): never given to the host in vmcs02 (a
     * hardware L0 entering it so could not regain the CPU); the library parks L2
     * (NVMX_RUN_L2_PARKED) and performs what INIT, SIPI, NMIs and the timer do in them
     * (lib/exits/activity.c). */
    NVMX_FEATURE_ACTIVITY_SHUTDOWN,
    NVMX_FEATURE_ACTIVITY_WAIT_SIPI,
    /* EPT for L2 (SDM 29.3, 25.6.11): vmcs02 runs L2 on EPT02, the composition of L1's EPT12
     * with L0's EPT01 (lib/ept/ept02.c), its EPTP written at every VM entry
     * (lib/vmcs/vmcs02.c vmcs02_write_eptp); L2's EPT violations are resolved or reflected
     * with the walker's qualification (lib/exits/ept_exits.c). 4-level walks, EPTP memory
     * types UC and WB, 2-MiB and 1-GiB pages, execute-only entries and accessed/dirty flags
     * are what lib/ept/ept12_walk.c decides. Needs the ept01_lookup, page_alloc, page_free and
     * tlb_flush ops, A/D flags the l1_cmpxchg64 op (ceiling_of drops them without). Not
     * 5-level walks, mode-based execute control (ept02_fault refuses it), advanced VM-exit
     * information for EPT violations or supervisor shadow-stack control. */
    NVMX_FEATURE_EPT,
    NVMX_FEATURE_EPT_WALK_4,
    NVMX_FEATURE_EPT_MEMTYPE_UC,
    NVMX_FEATURE_EPT_MEMTYPE_WB,
    NVMX_FEATURE_EPT_2MB,
    NVMX_FEATURE_EPT_1GB,
    NVMX_FEATURE_EPT_EXECONLY,
    NVMX_FEATURE_EPT_AD,
    /* Unrestricted guest (SDM 25.6.2, needs EPT: the dependency table): the VM-entry checks
     * exempt CR0.PE/PG and apply the real-mode segment rules (lib/vmcs/entry_checks_guest.c,
     * 27.3.1.1-27.3.1.2); the control passes to vmcs02, which runs L2 on EPT02, so a
     * real-mode or unpaged L2 uses L2 guest-physical addresses as EPT12 defines them. L2's
     * VMX instructions in real mode are #UD (lib/exits, 31.3). */
    NVMX_FEATURE_UNRESTRICTED_GUEST,
    /* VPID for L2 (SDM 29.1, 29.4): vmcs12's VPID runs on a VPID02 of its own
     * (lib/vpid02.c, written into vmcs02 by lib/vmcs/vmcs02.c), with the flushes VM entries
     * and exits owe when vmcs12 does not enable VPID; INVVPID of every type
     * (lib/exits/inv_instructions.c). Needs the tlb_flush, vpid_alloc and vpid_free ops
     * (ceiling_of). */
    NVMX_FEATURE_VPID,
    NVMX_FEATURE_INVVPID,
    NVMX_FEATURE_INVVPID_ADDRESS,
    NVMX_FEATURE_INVVPID_SINGLE_CONTEXT,
    NVMX_FEATURE_INVVPID_ALL_CONTEXT,
    NVMX_FEATURE_INVVPID_SINGLE_NONGLOBAL,
    /* INVEPT single- and all-context (lib/exits/inv_instructions.c): drops the EPT02s of the
     * EPTP (or all) and asks tlb_flush for their roots. Only with EPT (dependency). */
    NVMX_FEATURE_INVEPT,
    NVMX_FEATURE_INVEPT_SINGLE_CONTEXT,
    NVMX_FEATURE_INVEPT_ALL_CONTEXT,
    /* EPT for L2: EPT12 walk and EPT02 (lib/ept/), 4-level WB EPTPs. */
    /* VM functions (SDM 26.5.6): vmcs02 enables them with no function, so L2's VMFUNC exits
     * to L0 (lib/vmcs/vmcs02.c); lib/exits/vmfunc.c applies L1's VM-function controls:
     * reason 59 to L1, or EPTP switching (function 0, needs EPT) completed in L0 with the
     * EPT02 of the listed EPT12 root. */
    NVMX_FEATURE_ENABLE_VMFUNC,
    NVMX_FEATURE_EPTP_SWITCHING,
};

/* The implemented set's numeric fields. */
static const caps_numbers implemented_numbers = {
    /* Not used: the rate is the host's (caps_model_restrict), and only with the timer. */
    .timer_rate = 0,
    /* Four CR3-target values, as every processor (A.6): reflection compares MOV to CR3 with
     * them (lib/exits/reflect.c) and vmcs02 carries them. */
    .cr3_targets = 4,
    /* N = 0: MSR lists of up to 512 entries (lib/exits/msr_lists.c enforces the bound). */
    .msr_list = 0,
    /* CR0 and CR4 fixed bits pass through from the host; these are only what VMX operation
     * always needs (SDM 24.8: PE, NE, PG and VMXE set) and CR0's width (bits 63:32 of CR0
     * are reserved, SDM Vol. 3A 2.5). */
    .cr0_fixed0 = NVMX_CR0_PE | NVMX_CR0_NE | NVMX_CR0_PG,
    .cr0_fixed1 = 0xFFFFFFFFull,
    .cr4_fixed0 = NVMX_CR4_VMXE,
    .cr4_fixed1 = ~0ull,
};

void caps_implemented(caps_model *out)
{
    nvmx_memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(implemented_features); i++)
        feature_set_add(&out->features, implemented_features[i]);
    out->numbers = implemented_numbers;
}

/* ---- The software host ----------------------------------------------------------------------- */

static const caps_numbers software_host_numbers = {
    /* The rate of KVM's emulated preemption timer: one tick per 32 TSC cycles. */
    .timer_rate = 5,
    .cr3_targets = 4, /* what Intel processors report (A.6) */
    .msr_list = 0,
    /* A.7: PE, NE and PG must be 1 in VMX operation; every CR0 bit may be 1. */
    .cr0_fixed0 = NVMX_CR0_PE | NVMX_CR0_NE | NVMX_CR0_PG,
    .cr0_fixed1 = 0xFFFFFFFFull,
    /* A.8: VMXE must be 1; every defined CR4 bit may be 1. */
    .cr4_fixed0 = NVMX_CR4_VMXE,
    .cr4_fixed1 = CR4_DEFINED_BITS,
};

void caps_software_host_model(caps_model *out)
{
    feature_set_fill(&out->features);
    out->numbers = software_host_numbers;
}

void nvmx_caps_software_host(nvmx_vmx_caps *out, uint8_t phys_addr_width)
{
    /* The width limits addresses L1 uses (checked against vm->phys_addr_width), not any
     * capability bit: a 64-bit CPU never sets IA32_VMX_BASIC[48] (A.1). */
    (void)phys_addr_width;
    if (!out)
        return;
    caps_model model;
    caps_software_host_model(&model);
    caps_model_build(&model, out);
}

/* ---- Models: raw MSRs <-> features and numbers ----------------------------------------------- */

static uint64_t misc_field(uint64_t misc, uint64_t mask, unsigned shift)
{
    return (misc & mask) >> shift;
}

void caps_model_of(const nvmx_vmx_caps *caps, caps_model *out)
{
    nvmx_memset(out, 0, sizeof(*out));
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++)
        if (caps_feature_present(caps, (nvmx_feature)f))
            feature_set_add(&out->features, f);
    caps_numbers *n = &out->numbers;
    n->timer_rate = (uint8_t)misc_field(caps->misc, CAPS_MISC_TIMER_RATE_MASK, 0);
    n->cr3_targets =
        (uint16_t)misc_field(caps->misc, CAPS_MISC_CR3_TARGETS_MASK, CAPS_MISC_CR3_TARGETS_SHIFT);
    n->msr_list =
        (uint8_t)misc_field(caps->misc, CAPS_MISC_MSR_LIST_MASK, CAPS_MISC_MSR_LIST_SHIFT);
    n->cr0_fixed0 = caps->cr0_fixed0;
    n->cr0_fixed1 = caps->cr0_fixed1;
    n->cr4_fixed0 = caps->cr4_fixed0;
    n->cr4_fixed1 = caps->cr4_fixed1;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

void caps_model_restrict(caps_model *model, const caps_model *limit)
{
    feature_set_intersect(&model->features, &limit->features);
    caps_numbers *n = &model->numbers;
    const caps_numbers *l = &limit->numbers;
    n->cr3_targets = (uint16_t)min_u64(n->cr3_targets, l->cr3_targets);
    n->msr_list = (uint8_t)min_u64(n->msr_list, l->msr_list);
    /* A.7/A.8: a bit is fixed to 1 if either side needs it, may be 1 only if both allow it;
     * a must-be-1 bit is always allowed to be 1, so the pair stays satisfiable. */
    n->cr0_fixed0 |= l->cr0_fixed0;
    n->cr0_fixed1 = (n->cr0_fixed1 & l->cr0_fixed1) | n->cr0_fixed0;
    n->cr4_fixed0 |= l->cr4_fixed0;
    n->cr4_fixed1 = (n->cr4_fixed1 & l->cr4_fixed1) | n->cr4_fixed0;
}

/* Bits 30:0 revision, 44:32 region size, 53:50 memory type: the library's vmcs12 (A.1). */
static uint64_t basic_format(void)
{
    return NVMX_VMCS_REVISION_ID |
           ((uint64_t)NVMX_VMCS_REGION_SIZE << NVMX_BASIC_REGION_SIZE_SHIFT) |
           NVMX_BASIC_MEMTYPE_WB;
}

static uint64_t misc_numbers(const caps_model *model)
{
    const caps_numbers *n = &model->numbers;
    uint64_t misc =
        ((uint64_t)n->cr3_targets << CAPS_MISC_CR3_TARGETS_SHIFT) & CAPS_MISC_CR3_TARGETS_MASK;
    misc |= ((uint64_t)n->msr_list << CAPS_MISC_MSR_LIST_SHIFT) & CAPS_MISC_MSR_LIST_MASK;
    /* A.6: the rate describes the preemption timer; without it there is nothing to report. */
    if (feature_set_has(&model->features, NVMX_FEATURE_PREEMPTION_TIMER))
        misc |= n->timer_rate & CAPS_MISC_TIMER_RATE_MASK;
    return misc;
}

/* Store one register: allowed-1 (or the value) and, for controls, the allowed-0 halves. */
static void store_register(nvmx_vmx_caps *out, const caps_reg_layout *layout, uint64_t bits,
                           uint64_t true_allowed0, bool with_true)
{
    if (!layout->split) {
        caps_msr_set(out, layout->offset, caps_msr_get(out, layout->offset) | bits);
        return;
    }
    /* A.2: the non-TRUE MSR reports every default1 control as must-be-1. The must-be-1 bits
     * are the architectural ones only: what the host itself requires is L0's business in
     * vmcs02, not L1's. */
    caps_msr_set(out, layout->offset, (bits << 32) | layout->default1);
    if (layout->true_msr && with_true)
        caps_msr_set(out, layout->true_offset, (bits << 32) | true_allowed0);
}

void caps_model_build(const caps_model *model, nvmx_vmx_caps *out)
{
    uint64_t bits[NVMX_CAP_REG_COUNT];
    uint64_t true_allowed0[NVMX_CAP_REG_COUNT];
    for (unsigned r = 0; r < NVMX_CAP_REG_COUNT; r++)
        bits[r] = true_allowed0[r] = caps_layout[r].default1;
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++) {
        if (!feature_set_has(&model->features, f))
            continue;
        const caps_feature_info *info = &caps_features[f];
        if (caps_feature_is_default1((nvmx_feature)f))
            true_allowed0[info->reg] &= ~(1ull << info->bit); /* may be 0 (A.2) */
        else
            bits[info->reg] |= 1ull << info->bit;
    }
    nvmx_memset(out, 0, sizeof(*out));
    out->basic = basic_format();
    out->misc = misc_numbers(model);
    bool with_true = feature_set_has(&model->features, NVMX_FEATURE_TRUE_CTLS);
    for (unsigned r = 0; r < NVMX_CAP_REG_COUNT; r++)
        store_register(out, &caps_layout[r], bits[r], true_allowed0[r], with_true);
    out->cr0_fixed0 = model->numbers.cr0_fixed0;
    out->cr0_fixed1 = model->numbers.cr0_fixed1;
    out->cr4_fixed0 = model->numbers.cr4_fixed0;
    out->cr4_fixed1 = model->numbers.cr4_fixed1;
    uint64_t exists[VMCS12_FIELD_WORDS];
    caps_fields_exist(out, exists);
    out->vmcs_enum = caps_vmcs_enum(exists);
}

/* ---- Dependencies ---------------------------------------------------------------------------
 *
 * A feature is exposed only with what it needs. Applied after policy, so hiding "vmx-ept"
 * also hides everything that needs EPT; applied until nothing changes, so chains work
 * (no secondary controls -> no EPT -> no EPT capabilities).
 */
typedef enum dependency_scope {
    DEP_FEATURE,  /* one feature */
    DEP_REGISTER, /* every feature of a register */
    DEP_DEFAULT1, /* every default1 feature */
} dependency_scope;

typedef struct dependency {
    uint8_t needs;  /* nvmx_feature */
    uint8_t scope;  /* dependency_scope */
    uint8_t target; /* nvmx_feature for DEP_FEATURE, nvmx_cap_reg for DEP_REGISTER */
} dependency;

#define NEEDS(dependent, prerequisite)                                                             \
    {                                                                                              \
        NVMX_FEATURE_##prerequisite, DEP_FEATURE, NVMX_FEATURE_##dependent                         \
    }
#define REGISTER_NEEDS(reg, prerequisite)                                                          \
    {                                                                                              \
        NVMX_FEATURE_##prerequisite, DEP_REGISTER, NVMX_CAP_##reg                                  \
    }

static const dependency dependencies[] = {
    /* Registers that exist only with the control that activates them: A.3.3, A.3.4, A.4.2,
     * and A.11 (VM functions are enabled by the "enable VM functions" control). */
    REGISTER_NEEDS(PROCBASED2, SECONDARY_CONTROLS),
    REGISTER_NEEDS(PROCBASED3, TERTIARY_CONTROLS),
    REGISTER_NEEDS(EXIT2, SECONDARY_EXIT_CONTROLS),
    REGISTER_NEEDS(VMFUNC, ENABLE_VMFUNC),
    /* A.2: only the TRUE MSRs can report a default1 control as clearable. */
    {NVMX_FEATURE_TRUE_CTLS, DEP_DEFAULT1, 0},
    /* A.10, bits 31:0: the EPT capabilities describe EPT; the INVEPT types describe INVEPT. */
    NEEDS(EPT_EXECONLY, EPT),
    NEEDS(EPT_WALK_4, EPT),
    NEEDS(EPT_WALK_5, EPT),
    NEEDS(EPT_MEMTYPE_UC, EPT),
    NEEDS(EPT_MEMTYPE_WB, EPT),
    NEEDS(EPT_2MB, EPT),
    NEEDS(EPT_1GB, EPT),
    NEEDS(INVEPT, EPT),
    NEEDS(EPT_AD, EPT),
    NEEDS(EPT_ADVANCED_EXITINFO, EPT),
    NEEDS(EPT_SHADOW_STACK, EPT),
    NEEDS(INVEPT_SINGLE_CONTEXT, INVEPT),
    NEEDS(INVEPT_ALL_CONTEXT, INVEPT),
    /* A.10, bits 43:32: INVVPID needs VPIDs; its types describe INVVPID. */
    NEEDS(INVVPID, VPID),
    NEEDS(INVVPID_ADDRESS, INVVPID),
    NEEDS(INVVPID_SINGLE_CONTEXT, INVVPID),
    NEEDS(INVVPID_ALL_CONTEXT, INVVPID),
    NEEDS(INVVPID_SINGLE_NONGLOBAL, INVVPID),
    /* SDM 27.2.1.1: VM entry requires "enable EPT" with each of these. */
    NEEDS(UNRESTRICTED_GUEST, EPT),
    NEEDS(PML, EPT),
    NEEDS(EPT_VIOLATION_VE, EPT),
    NEEDS(MODE_BASED_EPT_EXEC, EPT),
    NEEDS(SUBPAGE_WRITE, EPT),
    NEEDS(PT_USES_GPA, EPT),
    NEEDS(EPTP_SWITCHING, EPT),
    NEEDS(HLAT, EPT),
    NEEDS(EPT_PAGING_WRITE, EPT),
    NEEDS(GUEST_PAGING_VERIFY, EPT),
    /* SDM 27.2.1.1: "use TPR shadow" is required by these APIC-virtualization controls,
     * external-interrupt exiting by virtual-interrupt delivery, and virtual-interrupt
     * delivery plus acknowledge-interrupt-on-exit by posted interrupts. */
    NEEDS(VIRTUALIZE_X2APIC, TPR_SHADOW),
    NEEDS(APIC_REGISTER_VIRT, TPR_SHADOW),
    NEEDS(VIRTUAL_INTR_DELIVERY, TPR_SHADOW),
    NEEDS(VIRTUAL_INTR_DELIVERY, EXT_INTR_EXITING),
    NEEDS(POSTED_INTERRUPTS, VIRTUAL_INTR_DELIVERY),
    NEEDS(POSTED_INTERRUPTS, EXIT_ACK_INTR),
    /* SDM 27.2.1.1: virtual NMIs need NMI exiting; NMI-window exiting needs virtual NMIs. */
    NEEDS(VIRTUAL_NMIS, NMI_EXITING),
    NEEDS(NMI_WINDOW_EXITING, VIRTUAL_NMIS),
    /* A.4.1 / 26.7.1: saving the timer value is about the preemption timer. */
    NEEDS(EXIT_SAVE_PREEMPTION_TIMER, PREEMPTION_TIMER),
};

static bool dependency_covers(const dependency *dep, unsigned feature)
{
    switch (dep->scope) {
    case DEP_FEATURE:
        return feature == dep->target;
    case DEP_REGISTER:
        return caps_features[feature].reg == dep->target;
    default:
        return caps_feature_is_default1((nvmx_feature)feature);
    }
}

/* Remove what one dependency forbids; returns whether anything was removed. */
static bool apply_dependency(feature_set *set, const dependency *dep)
{
    if (feature_set_has(set, dep->needs))
        return false;
    bool changed = false;
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++) {
        if (feature_set_has(set, f) && dependency_covers(dep, f)) {
            feature_set_remove(set, f);
            changed = true;
        }
    }
    return changed;
}

void caps_apply_dependencies(feature_set *set)
{
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < NVMX_ARRAY_SIZE(dependencies); i++)
            changed |= apply_dependency(set, &dependencies[i]);
    }
}

bool caps_dependency_broken(const feature_set *set, nvmx_feature *feature, nvmx_feature *needs)
{
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(dependencies); i++) {
        const dependency *dep = &dependencies[i];
        if (feature_set_has(set, dep->needs))
            continue;
        for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++) {
            if (feature_set_has(set, f) && dependency_covers(dep, f)) {
                *feature = (nvmx_feature)f;
                *needs = (nvmx_feature)dep->needs;
                return true;
            }
        }
    }
    return false;
}

/* ---- VMCS fields ----------------------------------------------------------------------------- */

void caps_fields_exist(const nvmx_vmx_caps *caps, uint64_t exists[VMCS12_FIELD_WORDS])
{
    nvmx_memset(exists, 0, VMCS12_FIELD_WORDS * sizeof(uint64_t));
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        nvmx_feature feature = (nvmx_feature)vmcs_field_table[i].feature;
        /* Appendix B: a field exists if the processor supports the 1-setting of its control. */
        if (feature == NVMX_FEATURE_NONE || caps_feature_bit(caps, feature))
            exists[i / 64] |= 1ull << (i % 64);
    }
}

uint64_t caps_vmcs_enum(const uint64_t exists[VMCS12_FIELD_WORDS])
{
    uint64_t highest = 0;
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        uint64_t index = NVMX_FIELD_INDEX(vmcs_field_table[i].encoding);
        if (((exists[i / 64] >> (i % 64)) & 1) && index > highest)
            highest = index;
    }
    /* A.9: bits 9:1 hold the highest index value of any field encoding. */
    return highest << 1;
}

/* ---- Names ----------------------------------------------------------------------------------- */

const char *nvmx_feature_name(nvmx_feature feature)
{
    if ((unsigned)feature >= NVMX_FEATURE_COUNT)
        return NULL;
    return caps_features[feature].name;
}

/* Exact, case-sensitive string equality (no libc in lib/). */
static bool string_equal(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

nvmx_status nvmx_feature_from_name(const char *name, nvmx_feature *out)
{
    if (!name || !out)
        return NVMX_ERR_INVALID_ARGUMENT;
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++) {
        if (string_equal(caps_features[f].name, name)) {
            *out = (nvmx_feature)f;
            return NVMX_OK;
        }
    }
    return NVMX_ERR_UNKNOWN_FEATURE;
}

/* ---- The exposed set ------------------------------------------------------------------------- */

#define PHYS_ADDR_WIDTH_MIN 32 /* VMX needs at least 32-bit physical addresses (A.1) */
#define PHYS_ADDR_WIDTH_MAX 52 /* MAXPHYADDR is at most 52 (SDM Vol. 3A 4.1.4) */

static nvmx_status check_config(const nvmx_vm *vm, const nvmx_vm_config *config)
{
    if (config->phys_addr_width < PHYS_ADDR_WIDTH_MIN ||
        config->phys_addr_width > PHYS_ADDR_WIDTH_MAX) {
        caps_line line;
        caps_line_init(&line);
        caps_line_add(&line, "phys_addr_width must be 32 to 52, not ");
        caps_line_decimal(&line, config->phys_addr_width);
        vm_log(vm, NVMX_LOG_ERROR, line.text);
        return NVMX_ERR_INVALID_ARGUMENT;
    }
    if (config->disabled_feature_count && !config->disabled_features) {
        vm_log(vm, NVMX_LOG_ERROR, "disabled_features is NULL but disabled_feature_count is not 0");
        return NVMX_ERR_INVALID_ARGUMENT;
    }
    return NVMX_OK;
}

/* The policy as the set of features it allows: all but the disabled ones. Unknown names fail,
 * even when pinned caps make the policy moot: a typo in an operator's list must not pass. */
static nvmx_status policy_of(const nvmx_vm *vm, const nvmx_vm_config *config, feature_set *out)
{
    feature_set_fill(out);
    for (size_t i = 0; i < config->disabled_feature_count; i++) {
        const char *name = config->disabled_features[i];
        nvmx_feature feature;
        nvmx_status status = nvmx_feature_from_name(name, &feature);
        if (status == NVMX_ERR_INVALID_ARGUMENT) {
            vm_log(vm, NVMX_LOG_ERROR, "disabled_features holds a NULL name");
            return status;
        }
        if (status != NVMX_OK) {
            caps_line line;
            caps_line_init(&line);
            caps_line_add(&line, "unknown VMX feature in disabled_features: ");
            caps_line_add(&line, name);
            vm_log(vm, NVMX_LOG_ERROR, line.text);
            return status;
        }
        feature_set_remove(out, feature);
    }
    return NVMX_OK;
}

/* host ∩ implemented, closed under the dependencies. What is implemented also depends on the
 * ops: the preemption timer is emulated from tsc_read (lib/exits/preemption_timer.c), EPT
 * needs the EPT01, page and TLB ops, EPT A/D flags l1_cmpxchg64, VPID needs tlb_flush,
 * vpid_alloc and vpid_free (lib/vpid02.c). */
static void ceiling_of(const nvmx_vm *vm, const nvmx_vm_config *config, caps_model *out)
{
    if (config->host_caps) {
        caps_model_of(config->host_caps, out);
    } else {
        caps_software_host_model(out);
    }
    caps_model implemented;
    caps_implemented(&implemented);
    if (!vm->ops.tsc_read)
        feature_set_remove(&implemented.features, NVMX_FEATURE_PREEMPTION_TIMER);
    /* EPT02 is built from EPT01 lookups into pages of the page ops, and the hardware is told
     * when its leaves go (lib/ept/ept02.c); the dependencies then drop the EPT capabilities. */
    const nvmx_host_ops *ops = &vm->ops;
    if (!ops->ept01_lookup || !ops->page_alloc || !ops->page_free || !ops->tlb_flush)
        feature_set_remove(&implemented.features, NVMX_FEATURE_EPT);
    /* EPT A/D flags are set in L1's EPT12 entries only by compare-exchange (29.3.4). */
    if (!ops->l1_cmpxchg64)
        feature_set_remove(&implemented.features, NVMX_FEATURE_EPT_AD);
    /* VPID for L2 runs on VPID02s from vpid_alloc and flushes through tlb_flush
     * (lib/vpid02.c); INVVPID follows by the dependencies. */
    if (!ops->tlb_flush || !ops->vpid_alloc || !ops->vpid_free)
        feature_set_remove(&implemented.features, NVMX_FEATURE_VPID);
    caps_model_restrict(out, &implemented);
    caps_apply_dependencies(&out->features);
}

static nvmx_status exposed_of(const nvmx_vm *vm, const nvmx_vm_config *config,
                              const feature_set *policy, nvmx_vmx_caps *out)
{
    caps_model model;
    ceiling_of(vm, config, &model);
    if (config->pinned_caps) {
        nvmx_vmx_caps ceiling;
        caps_model_build(&model, &ceiling);
        nvmx_status status = caps_check_pinned(vm, config->pinned_caps, &ceiling);
        if (status == NVMX_OK)
            *out = *config->pinned_caps; /* exactly, as migration requires */
        return status;
    }
    feature_set_intersect(&model.features, policy);
    caps_apply_dependencies(&model.features);
    caps_model_build(&model, out);
    return NVMX_OK;
}

nvmx_status capabilities_compute(nvmx_vm *vm, const nvmx_vm_config *config)
{
    if (!vm || !config)
        return NVMX_ERR_INVALID_ARGUMENT;
    vm->vmx_exposed = false;
    nvmx_memset(&vm->caps, 0, sizeof(vm->caps));
    nvmx_memset(vm->field_exists, 0, sizeof(vm->field_exists));
    nvmx_status status = check_config(vm, config);
    feature_set policy;
    if (status == NVMX_OK)
        status = policy_of(vm, config, &policy);
    if (status != NVMX_OK || !config->expose_vmx)
        return status;
    /* The rate vmcs02's timer counts at (A.6): the host's, which L1's may differ from when
     * pinned. */
    caps_model host;
    if (config->host_caps)
        caps_model_of(config->host_caps, &host);
    else
        caps_software_host_model(&host);
    vm->host_timer_rate = host.numbers.timer_rate;
    nvmx_vmx_caps exposed;
    status = exposed_of(vm, config, &policy, &exposed);
    if (status != NVMX_OK)
        return status;
    vm->caps = exposed;
    vm->vmx_exposed = true;
    caps_fields_exist(&vm->caps, vm->field_exists);
    return NVMX_OK;
}

/* ---- Public queries -------------------------------------------------------------------------- */

void nvmx_vm_get_caps(const nvmx_vm *vm, nvmx_vmx_caps *out)
{
    if (!out)
        return;
    if (!vm || !vm->vmx_exposed) {
        nvmx_memset(out, 0, sizeof(*out));
        return;
    }
    *out = vm->caps;
}

bool nvmx_vm_has_feature(const nvmx_vm *vm, nvmx_feature feature)
{
    return vm && vm->vmx_exposed && caps_feature_present(&vm->caps, feature);
}
