/* SPDX-License-Identifier: MIT */
/**
 * @file exits.h
 * @brief The event entry points: the embedder reports what L1 or L2 did, the library
 * carries out the architectural outcome and says what to run next.
 */
#ifndef NESTVMX_EXITS_H
#define NESTVMX_EXITS_H

#include "api.h"
#include <stdbool.h>
#include <stdint.h>

#include "status.h"
#include "vm.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Exit reason for ::nvmx_exit when the host only has the instruction bytes (a #UD trap). */
#define NVMX_EXIT_UNDECODED 0xFFFFu

/** Longest x86 instruction. */
#define NVMX_MAX_INSTRUCTION_LENGTH 15u

/**
 * @brief One exit to L0, as the embedder saw it.
 *
 * Hardware hosts copy reason, qualification, instruction_info and instruction_length from
 * the VMCS (SDM 28.2.1, 28.2.4, 28.2.5). Hosts without VM-exit information (emulators,
 * #UD trapping) set reason = NVMX_EXIT_UNDECODED and give the instruction bytes; the library
 * decodes them with Zydis.
 */
typedef struct nvmx_exit {
    uint32_t reason;             /**< basic exit reason, or NVMX_EXIT_UNDECODED */
    uint64_t qualification;      /**< exit qualification (displacement for memory operands) */
    uint32_t instruction_info;   /**< VM-exit instruction-information field */
    uint32_t instruction_length; /**< VM-exit instruction length */
    uint8_t bytes[NVMX_MAX_INSTRUCTION_LENGTH]; /**< instruction bytes (NVMX_EXIT_UNDECODED) */
    uint8_t bytes_length;              /**< valid bytes in `bytes` (at least the instruction) */
    uint32_t interruption_info;        /**< VM-exit interruption information (SDM 28.2.2) */
    uint32_t interruption_error_code;  /**< VM-exit interruption error code */
    uint32_t idt_vectoring_info;       /**< IDT-vectoring information (SDM 28.2.4) */
    uint32_t idt_vectoring_error_code; /**< IDT-vectoring error code */
    uint64_t guest_linear_address;     /**< where the exit reason defines it (SDM 28.2.1) */
    uint64_t guest_physical_address;   /**< EPT violations and misconfigurations */
} nvmx_exit;

/** @brief What the embedder runs after an event. */
typedef enum nvmx_run {
    NVMX_RUN_L1 = 0,      /**< continue L1: the library updated its registers / injected */
    NVMX_RUN_L2,          /**< continue L2 */
    NVMX_RUN_L0_HANDLES,  /**< not a nested-virtualization event: handle it as usual */
    NVMX_RUN_SHUTDOWN_L1, /**< L1 must shut down (VMX abort, triple fault) */
    /**
     * L2 is in the shutdown or wait-for-SIPI activity state (L1 entered it so, SDM 25.4.2,
     * 27.7.2): it executes nothing and the library tracks the state; vmcs02 must not be
     * entered. Report L1's platform events while it lasts: INIT (nvmx_l1_init_signal), SIPI
     * (nvmx_l1_sipi), NMIs (nvmx_on_l2_exit with an NMI, see there), interrupts
     * (nvmx_l1_interrupt_pending), and L1's VMX-preemption timer (nvmx_l2_parked_timer once
     * nvmx_l2_timer_deadline has passed). Each answers NVMX_RUN_L2_PARKED while L2 stays
     * parked. See docs/ARCHITECTURE.md, "Activity states".
     */
    NVMX_RUN_L2_PARKED,
} nvmx_run;

/** @brief The library's answer to an event. */
typedef struct nvmx_next {
    nvmx_run run;
    /**
     * An instruction completed with RFLAGS.TF = 1: the embedder delivers the single-step
     * debug exception (#DB, DR6.BS = 1) before the next instruction (SDM Vol. 3B 18.3.1.4).
     * Never set with an MTF VM exit to L1: that exit has priority and keeps the trap pending
     * in vmcs12's pending debug exceptions (SDM 26.7.2, 28.3.4).
     */
    bool single_step_trap;
    /** For NVMX_RUN_L1 after an instruction: the exception injected, if any (vector), else -1. */
    int16_t exception_vector;
    /**
     * The event just reported (an INIT, or an NMI for a parked L2 in wait-for-SIPI) is blocked
     * (SDM 24.8, 27.7.2): nothing happened; the embedder keeps it pending and reports it again
     * after L1's next VM entry (NVMX_RUN_L2 or NVMX_RUN_L2_PARKED), after the next VM exit to
     * L1, or after L1's VMXOFF. `run` says what runs meanwhile.
     */
    bool event_held;
    /**
     * With NVMX_RUN_L0_HANDLES after an EPT violation of L2 whose vmcs12 enables EPT: L1's EPT
     * translated L2's access (at the exit's guest-physical address, an L2 GPA) to the L1
     * guest-physical address `l1_gpa` (byte-exact), which EPT01 does not back (`ept01_backed`
     * false: MMIO or no memory; L0 emulates the access as for L1 at `l1_gpa`, or handles the
     * hole) or backs without allowing this access (`ept01_backed` true: e.g. a page L0
     * write-protects for dirty logging; L0 marks `l1_gpa`'s page dirty, makes it writable in
     * EPT01 and resumes L2). Without EPT in vmcs12 `l1_gpa_valid` is false: L2's
     * guest-physical addresses are L1's and the exit's is the one to handle.
     */
    bool l1_gpa_valid;
    uint64_t l1_gpa;   /**< see l1_gpa_valid */
    bool ept01_backed; /**< see l1_gpa_valid */
} nvmx_next;

/**
 * @brief L1 (in VMX root operation or not yet in VMX operation) caused an exit that may be
 * the library's: a VMX instruction (reasons 18-27, 50, 53, 59, or NVMX_EXIT_UNDECODED),
 * RDMSR/WRMSR of a VMX MSR (reasons 31/32). Everything else gives NVMX_RUN_L0_HANDLES.
 *
 * The library completes the instruction as the SDM says: it advances RIP and sets RFLAGS
 * (VMsucceed / VMfailInvalid / VMfailValid), or injects the exception through the ops and
 * leaves RIP. VMLAUNCH/VMRESUME run the VM-entry checks and either fail (VMfail, or a
 * VM-entry-failure exit to L1: NVMX_RUN_L1) or enter L2 (NVMX_RUN_L2: vmcs02 is ready).
 * INVEPT/INVVPID (when exposed) drop the EPT02s they name and request the hardware flushes
 * through the tlb_flush op before completing. VMFUNC in L1 (VMX root operation) is #UD
 * (SDM 31.3).
 *
 * @return NVMX_OK when *next says what to run; an error status only for embedder errors
 *         (bad arguments, an op failing in a way the architecture has no answer for).
 */
NVMX_API nvmx_status nvmx_on_l1_exit(nvmx_vcpu *vcpu, const nvmx_exit *exit, nvmx_next *next);

/**
 * @brief L2 caused an exit (the fields of `exit` as the CPU reported them for L2).
 *
 * VMREAD/VMWRITE that VMCS shadowing lets L2 complete are emulated (NVMX_RUN_L2). An exit L1
 * asked for (its controls, bitmaps, exception bitmap; SDM 26.1, 26.2) becomes a VM exit to L1,
 * performed as hardware does (exit information and L2's state into vmcs12, L1's host state
 * into vmcs01): NVMX_RUN_L1, or NVMX_RUN_SHUTDOWN_L1 after a VMX abort. Any other exit was
 * L0's own: NVMX_RUN_L0_HANDLES, and L0 resumes L2 when it has handled it (calling
 * nvmx_before_l2_resume first).
 *
 * EPT (SDM 29.3): when vmcs12 enables EPT, vmcs02 runs L2 on EPT02 (L2 GPA -> host, the
 * composition of L1's EPT12 with L0's EPT01), built lazily: give every EPT violation
 * (reason 48) and misconfiguration (49) of L2 here, with the qualification, guest-physical and
 * guest-linear addresses as hardware reported them. Reason 48: the library walks EPT12 and
 * EPT01 and answers NVMX_RUN_L2 when it installed the missing EPT02 entry (or lost a race
 * with L1's other vCPUs updating EPT12 A/D flags: the access repeats); a VM exit to L1
 * (NVMX_RUN_L1) when L1's EPT12 causes an EPT violation (reason 48, qualification bits 0-8
 * and 12 as L1's processor would report them, L2 GPA and guest-linear address) or an EPT
 * misconfiguration (reason 49, L2 GPA); NVMX_RUN_L0_HANDLES with nvmx_next.l1_gpa when EPT01
 * does not back or allow the access. Reason 49 with EPT in vmcs12 cannot come from EPT02 as
 * the library builds it: NVMX_ERR_HOST and an error log line, nothing changed. Without EPT in
 * vmcs12 both reasons are EPT01's: NVMX_RUN_L0_HANDLES. NVMX_RUN_L2 after an EPT violation is
 * an exit L0 handled: the embedder re-injects an event whose delivery it interrupted and, with
 * qualification bit 12, restores blocking by NMI, as described below, then calls
 * nvmx_before_l2_resume. Errors: NVMX_ERR_NO_MEMORY (no EPT02 page: nothing half-built, L2
 * may be resumed to retry), NVMX_ERR_HOST (an op failed or EPT01 answered a malformed
 * mapping), NVMX_ERR_INVALID_ARGUMENT (qualification bits 2:0 name no access).
 *
 * VMFUNC (reason 59; SDM 26.5.6): vmcs02 enables VM functions when L1 does, with none enabled
 * (its VM-function controls are the library's), so every VMFUNC of L2 with EAX < 64 exits
 * to L0. A successful EPTP switch is completed (vmcs12's EPTP, vmcs02's EPTP := the EPT02
 * root of the new EPT12 root, RIP: NVMX_RUN_L2; NVMX_ERR_NO_MEMORY with nothing changed when
 * no page is left for that root); a function L1 did not enable or a failing switch is a VM
 * exit to L1 (reason 59); EAX > 63, or VMFUNC without L1's control, is #UD of L2.
 *
 * Events (SDM 28.2.2-28.2.4, 27.6): the interruption information, the IDT-vectoring
 * information and their error codes go to L1 exactly as given, including bit 12 ("NMI
 * unblocking due to IRET", which is virtual-NMI unblocking when vmcs12 has "virtual NMIs").
 * An exit that interrupted the delivery of an event (IDT-vectoring information valid) and
 * goes to L1 leaves the re-injection to L1, as hardware does. An exit that stays with L0
 * (NVMX_RUN_L0_HANDLES) may have interrupted the delivery of an event to L2, including one
 * L1 injected at its VM entry: the embedder re-injects it through vmcs02's VM-entry
 * interruption fields before resuming L2, exactly as for its own guests (the library writes
 * those fields only at L1's VM entries), and, when bit 12 is set, restores blocking by NMI in
 * vmcs02's interruptibility state (28.2.3). The same holds for a pending MTF VM exit L1
 * injected (type 7, vector 0): if an exit L0 keeps comes before it, the embedder injects it
 * again through vmcs02, or L1 never sees that MTF exit.
 *
 * Events of L1's platform (never the host's own: L0 handles those itself and resumes L2):
 * - An external interrupt for L1: nvmx_l1_interrupt_pending() is the entry point for every
 *   host. Reason 1 is accepted here too, for a hardware host whose own exit reports an
 *   interrupt that belongs to L1 (e.g. of a device L0 passes to L1): when L1 intercepts it
 *   ("external-interrupt exiting"), the exit's acknowledgement must match L1's "acknowledge
 *   interrupt on exit" — interruption information valid, type 0, with the vector when L1's
 *   control is 1 (vmcs02 acknowledged it: "acknowledge interrupt on exit" in
 *   nvmx_l0_controls.exit); invalid when it is 0 (the interrupt is still pending in the
 *   interrupt controller). Otherwise NVMX_ERR_INVALID_ARGUMENT, nothing changed: call
 *   nvmx_l1_interrupt_pending() with the vector, which says whether to acknowledge it. When L1
 *   does not intercept it the answer is NVMX_RUN_L0_HANDLES: L0 injects it into L2.
 * - An NMI for L1: reason 0 with an NMI (type 2, vector 2) in the interruption information.
 *   NMIs have no acknowledgement and a fixed vector, so no separate entry point; the
 *   embedder reports it when L2 could take it (no blocking by MOV SS, no blocking by NMI
 *   unless vmcs12 has "virtual NMIs", no event in vmcs02's VM-entry interruption information).
 *   When L1 does not intercept it (NMI exiting) the answer is NVMX_RUN_L0_HANDLES.
 * - INIT and SIPI for L1: nvmx_l1_init_signal() and nvmx_l1_sipi(), which also cover VMX
 *   root operation and a parked L2.
 * The embedder injects what L1 does not intercept into L2 through vmcs02 (which also wakes an
 * L2 in the HLT activity state), when L2's interruptibility allows, using the interrupt or NMI
 * window as usual.
 *
 * A parked L2 (NVMX_RUN_L2_PARKED) causes no exits; the only event accepted for it here is an
 * NMI for L1 (reason 0, type 2, vector 2), anything else is NVMX_ERR_STATE. In wait-for-SIPI
 * NMIs are blocked (SDM 27.7.2): NVMX_RUN_L2_PARKED with event_held; with blocking by NMI
 * (without "virtual NMIs") likewise. In shutdown an NMI L1 intercepts exits to L1 with the
 * activity state shutdown saved; one it does not intercept takes L2 out of shutdown through
 * its IDT: NVMX_RUN_L0_HANDLES, L2 is active again and L0 injects the NMI into vmcs02 as usual
 * (SDM 27.7.7 describes such an NMI leaving shutdown in VMX non-root operation).
 *
 * Blocking by NMI (interruptibility bit 3) is L2's as vmcs12 defines it: virtual-NMI
 * blocking when L1 set "virtual NMIs", else blocking by NMI. vmcs02 has "virtual NMIs" when
 * L1 or L0 asks for it, and always "NMI exiting" with it (SDM 27.2.1.1), so every NMI L2
 * receives is injected and the bit has the same meaning in both VMCSs.
 */
NVMX_API nvmx_status nvmx_on_l2_exit(nvmx_vcpu *vcpu, const nvmx_exit *exit, nvmx_next *next);

/**
 * @brief For the translate op while L2 runs: the L1 guest-physical address of an L2
 * guest-physical address. When vmcs12 enables EPT, L2's guest-physical addresses go through
 * L1's EPT (EPT12, SDM 29.3) before L0's: the translate op, walking L2's paging for `linear`,
 * calls this for every guest-physical address it uses — each guest paging-structure entry it
 * reads (paging_structure = true; access NVMX_ACCESS_WRITE when it will set accessed/dirty
 * flags in it) and the final address (paging_structure = false, the op's access) — and
 * accesses the L1 GPA it returns. EPT12 accessed/dirty flags are set as the processor sets
 * them (29.3.4).
 * @return NVMX_OK with *l1_gpa (l2_gpa itself when L2 does not run or vmcs12 does not enable
 *         EPT); NVMX_ERR_BAD_L1_ADDRESS when EPT12 does not allow the access (EPT violation or
 *         misconfiguration, or A/D-flag races lost to L1's other vCPUs): the translate op then
 *         returns NVMX_ERR_BAD_L1_ADDRESS at once (the fault it sets is ignored) and the
 *         library performs the VM exit to L1 (reason 48 with qualification bits 0-8 and the
 *         guest-linear address, or 49), or lets L2 repeat the instruction;
 *         NVMX_ERR_INVALID_ARGUMENT for NULL, a bad access or an L2 GPA beyond L1's
 *         physical-address width; NVMX_ERR_HOST when an op fails.
 */
NVMX_API nvmx_status nvmx_l2_gpa_to_l1(nvmx_vcpu *vcpu, uint64_t l2_gpa, uint64_t linear,
                                       nvmx_access access, bool paging_structure, uint64_t *l1_gpa);

/**
 * @brief An interrupt of L1's platform became deliverable while L2 runs (L0 owns L1's
 * interrupt controller, the virtual one or a physical one it passes to L1): the library
 * decides what the processor L1 programmed would do with it (SDM Vol. 3C 25.6.1, 25.7.1,
 * 26.2, 28.2.2). Both hardware hosts and emulators use this entry point; call it at an
 * instruction boundary of L2 (after an L2 exit, or before entering L2), with the vector the
 * interrupt controller would deliver next (highest priority), without acknowledging it.
 *
 * @param vector       the interrupt's vector (as the interrupt controller would give it)
 * @param acknowledge  out: true only with NVMX_RUN_L1 when L1's "acknowledge interrupt on
 *                     exit" is 1: the exit acknowledged the interrupt, so L0 acknowledges it in
 *                     L1's interrupt controller now (for a local APIC: IRR bit to ISR, as the
 *                     processor's interrupt acknowledge). False otherwise: the interrupt stays
 *                     pending there.
 * @param next         out: what to run:
 *  - NVMX_RUN_L1: a VM exit to L1 was performed (L1 set "external-interrupt exiting"; the exit
 *    happens whatever L2's RFLAGS.IF and blocking by STI or MOV SS, SDM 26.2): exit reason 1,
 *    no qualification. With L1's "acknowledge interrupt on exit" = 1 the VM-exit
 *    interruption information is valid, type 0 (external interrupt), with `vector`, and
 *    *acknowledge is true. With it = 0 the information is invalid and *acknowledge false: the
 *    interrupt stays pending and L0 delivers it to L1 through L1's IDT as for any guest, once
 *    L1 has RFLAGS.IF = 1 and no blocking (L1 runs with interrupts disabled after the exit,
 *    RFLAGS being loaded with only bit 1 set, SDM 28.5.3). Run L1.
 *  - NVMX_RUN_L0_HANDLES: L1 did not set "external-interrupt exiting": the interrupt goes to
 *    L2 through L2's IDT. L0 injects it into L2 as into any guest: through vmcs02's VM-entry
 *    interruption information (valid, type 0, `vector`) when L2 has RFLAGS.IF = 1 and no
 *    blocking by STI or MOV SS (vmcs02's guest state), acknowledging it in L1's interrupt
 *    controller then, else later with an interrupt window in vmcs02. The injection wakes an
 *    L2 in the HLT activity state (SDM 27.6). The library writes nothing; the interrupt
 *    stays pending until L0 injects it.
 *  - NVMX_RUN_L2: not yet. vmcs02's next VM entry does something first: it injects an event
 *    (vmcs02's VM-entry interruption information is valid: L1's injected event, a pending MTF
 *    VM exit, or an event L0 re-injects; SDM 27.6), or it exits to L1 at once for a reason
 *    with priority over external interrupts that L1 asked for (its VMX-preemption timer
 *    expired, the NMI window or the interrupt window open; SDM 27.7.4-27.7.6). The interrupt
 *    stays pending: L0 enters L2 (after nvmx_before_l2_resume) and calls again after L2's
 *    next exit if the interrupt is still pending and L2 still runs. The windows and the timer
 *    make that exit immediate; after an injection L0 makes it immediate itself (a hardware
 *    host: a self-IPI sent with interrupts disabled before the entry, or a VMX-preemption
 *    timer value of 0 in vmcs02; an emulator: at L2's first instruction boundary after the
 *    event delivery).
 *  - NVMX_RUN_SHUTDOWN_L1: the exit to L1 ended in a VMX abort (SDM 28.7); *acknowledge false.
 *  - NVMX_RUN_L2_PARKED: L2 is in the shutdown or wait-for-SIPI state, which block external
 *    interrupts whatever "external-interrupt exiting" says (SDM 27.7.2): the interrupt stays
 *    pending; L2 does not run.
 *
 * The "not yet" reasons, in the priority order of SDM Vol. 3A 6.9 and 27.7: an injection;
 * pending debug exceptions in vmcs02's guest state (BS or an enabled breakpoint, bit 14 or
 * 12) without blocking by MOV SS, delivered as a trap on the previous instruction before
 * external interrupts and the window exits (27.7.3); L1's timer expired (26.7.1); the NMI
 * window open (no blocking by NMI or virtual-NMI blocking, no blocking by MOV SS, 26.7.6;
 * the SDM lets a processor also hold this exit back for blocking by STI; the library's
 * processor does not); the interrupt window open (RFLAGS.IF = 1, no blocking by STI or
 * MOV SS, 26.7.5).
 *
 * vmcs02's VM-entry interruption information must be what the next entry injects: every VM
 * exit clears its valid bit (SDM 28.2), which hardware does and an emulator must do too.
 *
 * @return NVMX_OK when *next says what to run; NVMX_ERR_INVALID_ARGUMENT for NULL
 *         arguments; NVMX_ERR_STATE when L2 does not run (L1 runs: L0 delivers the interrupt
 *         to L1 as to any guest); NVMX_ERR_UNSUPPORTED without the hardware-VMCS ops;
 *         NVMX_ERR_HOST when one fails.
 */
NVMX_API nvmx_status nvmx_l1_interrupt_pending(nvmx_vcpu *vcpu, uint8_t vector, bool *acknowledge,
                                               nvmx_next *next);

/**
 * @brief An INIT signal of L1's platform arrived for this vCPU (SDM 24.8, 26.2, 27.7.2).
 *
 * *next says what happened:
 *  - outside VMX operation: NVMX_RUN_L0_HANDLES: L0 performs the INIT on L1 as for any guest.
 *  - VMX root operation (L1 runs): INIT is blocked (24.8): NVMX_RUN_L1 with event_held.
 *  - L2 in wait-for-SIPI: blocked too (27.7.2): NVMX_RUN_L2_PARKED with event_held.
 *  - L2 runs or is parked in shutdown: a VM exit to L1, reason 3, no qualification, nothing
 *    else of INIT's usual effect (26.2); the activity state L2 had is saved (28.3.4):
 *    NVMX_RUN_L1 (NVMX_RUN_SHUTDOWN_L1 after a VMX abort). Not yet (NVMX_RUN_L2 with
 *    event_held) while vmcs02's next entry injects an event, which is delivered first
 *    (27.6; a pending MTF VM exit, type 7, is no delivery and INIT precedes it, 27.7.8): L0
 *    enters L2, makes it exit at once as for nvmx_l1_interrupt_pending, and calls again.
 * A held INIT stays with the embedder (as pending INITs do in its interrupt controller).
 * Choice, where the SDM orders things the library cannot see: exits that a VM entry makes at
 * once (timer, NMI window; 27.7.4, 27.7.6) come before a held INIT that is reported after the
 * entry, though INIT has priority over them; a hardware L1 would see the INIT exit first.
 *
 * @return NVMX_OK when *next says what to run; NVMX_ERR_INVALID_ARGUMENT for NULL arguments;
 *         NVMX_ERR_UNSUPPORTED without the hardware-VMCS ops; NVMX_ERR_HOST when one fails.
 */
NVMX_API nvmx_status nvmx_l1_init_signal(nvmx_vcpu *vcpu, nvmx_next *next);

/**
 * @brief A start-up IPI (SIPI) of L1's platform with `vector` arrived for this vCPU (SDM 26.2,
 * 27.7.2, 28.2.1).
 *
 *  - outside VMX operation: NVMX_RUN_L0_HANDLES (L0 starts L1 if it waits for a SIPI).
 *  - L2 parked in wait-for-SIPI: a VM exit to L1, reason 4, exit qualification = vector
 *    (28.2.1), activity state wait-for-SIPI saved (28.3.4): NVMX_RUN_L1 (or
 *    NVMX_RUN_SHUTDOWN_L1 after a VMX abort).
 *  - otherwise the SIPI is discarded (a processor in VMX operation that does not wait for a
 *    SIPI ignores it; 27.7.2: the active, HLT and shutdown states block SIPIs, which cause no
 *    VM exit): nothing changes, *next names what runs (NVMX_RUN_L1, NVMX_RUN_L2 or
 *    NVMX_RUN_L2_PARKED).
 * @return as nvmx_l1_init_signal.
 */
NVMX_API nvmx_status nvmx_l1_sipi(nvmx_vcpu *vcpu, uint8_t vector, nvmx_next *next);

/**
 * @brief L2 is parked (NVMX_RUN_L2_PARKED) and nvmx_l2_timer_deadline's deadline has passed:
 * in the shutdown state L1's VMX-preemption timer exits to L1 (reason 52; the timer runs and
 * exits in shutdown, not in wait-for-SIPI, SDM 26.7.1), NVMX_RUN_L1. Before the deadline, or
 * in wait-for-SIPI, nothing happens: NVMX_RUN_L2_PARKED.
 * @return NVMX_OK; NVMX_ERR_INVALID_ARGUMENT for NULL arguments; NVMX_ERR_STATE when L2 is
 *         not parked; NVMX_ERR_HOST when an op fails.
 */
NVMX_API nvmx_status nvmx_l2_parked_timer(nvmx_vcpu *vcpu, nvmx_next *next);

/**
 * @brief Call before resuming L2 after NVMX_RUN_L0_HANDLES (whenever L2 did not run for a
 * while): brings vmcs02's time-based state up to date. Today that is the VMX-preemption timer
 * of L1 (SDM 26.7): vmcs02's timer value is recomputed from L1's deadline so that it expires
 * no later than L1's timer, counting the time L0 spent; 0 once the deadline has passed, so
 * L2 exits (reason 52) before its next instruction and the exit goes to L1. An L0 that runs
 * its own timer for L2 (nvmx_l0_controls.pin) writes its value into vmcs02 first; the library
 * keeps the smaller one. Does nothing when L2 is not running or L1's timer is off.
 * @return NVMX_OK; NVMX_ERR_HOST when a hardware-VMCS op fails.
 */
NVMX_API nvmx_status nvmx_before_l2_resume(nvmx_vcpu *vcpu);

/**
 * @brief L1's VMX-preemption-timer deadline for the running L2, in L1's TSC (the tsc_read op):
 * an L0 that blocks while L2 halts (HLT that L1 does not intercept) wakes L2 no later than
 * this, then calls nvmx_before_l2_resume and resumes it.
 * A parked L2 in the shutdown state is woken the same way, through nvmx_l2_parked_timer.
 * @return true with *tsc set while L2 runs (or is parked in shutdown) with L1's timer active;
 *         false otherwise, also in wait-for-SIPI, where the timer causes no exit (SDM 26.7.1).
 */
NVMX_API bool nvmx_l2_timer_deadline(const nvmx_vcpu *vcpu, uint64_t *tsc);

/**
 * @brief Check a guest write to CR0 or CR4 against VMX rules: CR4.VMXE is reserved when VMX is
 * not exposed and cannot be cleared in VMX operation; in VMX operation CR0 and CR4 must keep
 * their fixed bits (SDM 24.8, "Restrictions on VMX Operation").
 * @param cr    0 or 4.
 * @return true if the write is allowed; false if it raises #GP(0).
 */
NVMX_API bool nvmx_cr_write_allowed(const nvmx_vcpu *vcpu, unsigned cr, uint64_t value);

/**
 * @brief Adjust a CPUID result for the VM: CPUID.1:ECX[5] (VMX) follows whether VMX is exposed.
 */
NVMX_API void nvmx_cpuid_adjust(const nvmx_vm *vm, uint32_t leaf, uint32_t subleaf, uint32_t *eax,
                                uint32_t *ebx, uint32_t *ecx, uint32_t *edx);

#ifdef __cplusplus
}
#endif

#endif
