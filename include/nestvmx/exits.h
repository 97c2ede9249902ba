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
} nvmx_run;

/** @brief The library's answer to an event. */
typedef struct nvmx_next {
    nvmx_run run;
    /**
     * An instruction completed with RFLAGS.TF = 1: the embedder delivers the single-step
     * debug exception (#DB, DR6.BS = 1) before the next instruction (SDM Vol. 3B 18.3.1.4).
     */
    bool single_step_trap;
    /** For NVMX_RUN_L1 after an instruction: the exception injected, if any (vector), else -1. */
    int16_t exception_vector;
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
 * INVEPT/INVVPID when exposed, and VMFUNC in L2 with L1's "enable VM functions", are not
 * implemented in this version: they return NVMX_ERR_NOT_IMPLEMENTED without touching the vCPU
 * (none is exposed today; VMFUNC in L2 without that control is #UD of L2, SDM 31.3).
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
 * Events (SDM 28.2.2-28.2.4, 27.6): the interruption information, the IDT-vectoring
 * information and their error codes go to L1 exactly as given, including bit 12 ("NMI
 * unblocking due to IRET", which is virtual-NMI unblocking when vmcs12 has "virtual NMIs").
 * An exit that interrupted the delivery of an event (IDT-vectoring information valid) and
 * goes to L1 leaves the re-injection to L1, as hardware does. An exit that stays with L0
 * (NVMX_RUN_L0_HANDLES) may have interrupted the delivery of an event to L2, including one
 * L1 injected at its VM entry: the embedder re-injects it through vmcs02's VM-entry
 * interruption fields before resuming L2, exactly as for its own guests (the library writes
 * those fields only at L1's VM entries), and, when bit 12 is set, restores blocking by NMI in
 * vmcs02's interruptibility state (28.2.3). Events L0 delivers to L1's virtual platform while
 * L2 runs (never the host's own) are reported here as the exits they would be: an external
 * interrupt as reason 1 (with the vector in the interruption information;
 * acknowledge-interrupt-on-exit is not exposed), an NMI as reason 0 with an NMI in the interruption
 * information. If L1 does not intercept them the answer is NVMX_RUN_L0_HANDLES and the embedder
 * injects them into L2 through vmcs02 (which also wakes an L2 in the HLT activity state), when L2's
 * interruptibility allows, using the interrupt or NMI window as usual.
 *
 * Blocking by NMI (interruptibility bit 3) is L2's as vmcs12 defines it: virtual-NMI
 * blocking when L1 set "virtual NMIs", else blocking by NMI. vmcs02 has "virtual NMIs" when
 * L1 or L0 asks for it, and always "NMI exiting" with it (SDM 27.2.1.1), so every NMI L2
 * receives is injected and the bit has the same meaning in both VMCSs.
 */
NVMX_API nvmx_status nvmx_on_l2_exit(nvmx_vcpu *vcpu, const nvmx_exit *exit, nvmx_next *next);

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
 * @return true with *tsc set while L2 runs with L1's timer active; false otherwise.
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
