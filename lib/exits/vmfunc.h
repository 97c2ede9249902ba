/* SPDX-License-Identifier: MIT */
/*
 * VMFUNC executed by L2 (SDM Vol. 3C 26.5.6 "VM Functions", 31.3 "VMFUNC"): what the
 * instruction does under L1's vmcs12, decided once from L2's EAX/ECX and, for EPTP switching,
 * one read of L1's EPTP list. lib/exits/vmfunc.c carries the decision out (handle_vmfunc);
 * exit reflection (lib/exits/reflect.c) asks the same decision whether L1 gets reason 59.
 */
#ifndef NESTVMX_LIB_EXITS_VMFUNC_H
#define NESTVMX_LIB_EXITS_VMFUNC_H

#include "../internal.h"

/* SDM 26.5.6.2: only VM functions 0-63 exist; VMFUNC with EAX > 63 is #UD. */
#define VMFUNC_FUNCTION_COUNT 64u
/* SDM 25.6.14, 26.5.6.3: EPTP switching is VM function 0, the bit of its VM-function control. */
#define VMFUNC_EPTP_SWITCHING NVMX_FEATURE_BIT_EPTP_SWITCHING
/* SDM 25.6.14: the EPTP list is one 4-KByte page of 8-byte EPTPs: 512 entries. */
#define EPTP_LIST_ENTRIES (PAGE_SIZE_4K / sizeof(uint64_t))

typedef enum vmfunc_result {
    /* #UD in L2 (SDM 31.3): "enable VM functions" is 0 (or the vCPU is not in VMX non-root
     * operation), or EAX > 63. An exception of L2, which L1's exception bitmap may turn into
     * a VM exit (26.2). */
    VMFUNC_UD,
    /* VM exit to L1, reason 59 (26.5.6.2): the function's VM-function control is 0, or EPTP
     * switching failed (26.5.6.3: ECX >= 512, or the list entry is not a valid EPTP). */
    VMFUNC_EXIT_TO_L1,
    /* EPTP switching succeeds with `eptp` (the entry ECX selects): the library completes it. */
    VMFUNC_EPTP_SWITCH,
} vmfunc_result;

typedef struct vmfunc_decision {
    vmfunc_result result;
    uint64_t eptp;  /* VMFUNC_EPTP_SWITCH: the EPTP-list entry, read once */
    uint16_t index; /* VMFUNC_EPTP_SWITCH: ECX[15:0], the EPTP index (26.5.6.3) */
} vmfunc_decision;

/* What L2's VMFUNC does under vcpu->current, from L2's EAX and ECX (reg ops) and, for EPTP
 * switching, the 8 bytes of L1's EPTP list at list + 8 * ECX, read once (not L1 RAM: all
 * ones, never a valid EPTP). Outside guest mode: VMFUNC_UD. */
void vmfunc_decide(nvmx_vcpu *vcpu, vmfunc_decision *out);

#endif
