/* SPDX-License-Identifier: MIT */
/**
 * @file exit_reasons.h
 * @brief Basic VM-exit reasons (SDM Vol. 3D, Appendix C, Table C-1).
 */
#ifndef NESTVMX_EXIT_REASONS_H
#define NESTVMX_EXIT_REASONS_H

#include "api.h"
#ifdef __cplusplus
extern "C" {
#endif

/* clang-format off */
/** X-macro list: X(NAME, number). Numbers not listed (35, 38, 42, 71) are unused by the SDM. */
#define NVMX_EXIT_REASON_LIST(X)                    \
    X(EXCEPTION_NMI,               0)               \
    X(EXTERNAL_INTERRUPT,          1)               \
    X(TRIPLE_FAULT,                2)               \
    X(INIT_SIGNAL,                 3)               \
    X(SIPI,                        4)               \
    X(IO_SMI,                      5)               \
    X(OTHER_SMI,                   6)               \
    X(INTERRUPT_WINDOW,            7)               \
    X(NMI_WINDOW,                  8)               \
    X(TASK_SWITCH,                 9)               \
    X(CPUID,                       10)              \
    X(GETSEC,                      11)              \
    X(HLT,                         12)              \
    X(INVD,                        13)              \
    X(INVLPG,                      14)              \
    X(RDPMC,                       15)              \
    X(RDTSC,                       16)              \
    X(RSM,                         17)              \
    X(VMCALL,                      18)              \
    X(VMCLEAR,                     19)              \
    X(VMLAUNCH,                    20)              \
    X(VMPTRLD,                     21)              \
    X(VMPTRST,                     22)              \
    X(VMREAD,                      23)              \
    X(VMRESUME,                    24)              \
    X(VMWRITE,                     25)              \
    X(VMXOFF,                      26)              \
    X(VMXON,                       27)              \
    X(CR_ACCESS,                   28)              \
    X(DR_ACCESS,                   29)              \
    X(IO_INSTRUCTION,              30)              \
    X(RDMSR,                       31)              \
    X(WRMSR,                       32)              \
    X(ENTRY_FAIL_GUEST_STATE,      33)              \
    X(ENTRY_FAIL_MSR_LOADING,      34)              \
    X(MWAIT,                       36)              \
    X(MONITOR_TRAP_FLAG,           37)              \
    X(MONITOR,                     39)              \
    X(PAUSE,                       40)              \
    X(ENTRY_FAIL_MACHINE_CHECK,    41)              \
    X(TPR_BELOW_THRESHOLD,         43)              \
    X(APIC_ACCESS,                 44)              \
    X(VIRTUALIZED_EOI,             45)              \
    X(GDTR_IDTR_ACCESS,            46)              \
    X(LDTR_TR_ACCESS,              47)              \
    X(EPT_VIOLATION,               48)              \
    X(EPT_MISCONFIG,               49)              \
    X(INVEPT,                      50)              \
    X(RDTSCP,                      51)              \
    X(PREEMPTION_TIMER,            52)              \
    X(INVVPID,                     53)              \
    X(WBINVD,                      54)              \
    X(XSETBV,                      55)              \
    X(APIC_WRITE,                  56)              \
    X(RDRAND,                      57)              \
    X(INVPCID,                     58)              \
    X(VMFUNC,                      59)              \
    X(ENCLS,                       60)              \
    X(RDSEED,                      61)              \
    X(PML_FULL,                    62)              \
    X(XSAVES,                      63)              \
    X(XRSTORS,                     64)              \
    X(PCONFIG,                     65)              \
    X(SPP_EVENT,                   66)              \
    X(UMWAIT,                      67)              \
    X(TPAUSE,                      68)              \
    X(LOADIWKEY,                   69)              \
    X(ENCLV,                       70)              \
    X(ENQCMD_PASID_FAIL,           72)              \
    X(ENQCMDS_PASID_FAIL,          73)              \
    X(BUS_LOCK,                    74)              \
    X(INSTRUCTION_TIMEOUT,         75)              \
    X(SEAMCALL,                    76)              \
    X(TDCALL,                      77)              \
    X(RDMSRLIST,                   78)              \
    X(WRMSRLIST,                   79)
/* clang-format on */

/** @brief Basic exit reasons, named NVMX_EXIT_<NAME>. */
enum nvmx_exit_reason {
#define NVMX_EXIT_REASON_ENUM(name, number) NVMX_EXIT_##name = number,
    NVMX_EXIT_REASON_LIST(NVMX_EXIT_REASON_ENUM)
#undef NVMX_EXIT_REASON_ENUM
};

/** Bit 31 of the exit-reason field: VM-entry failure (SDM 25.9.1, Table 25-18). */
#define NVMX_EXIT_REASON_ENTRY_FAILURE (1u << 31)

/** @brief The SDM name of a basic exit reason ("VMREAD"); NULL if the number is unused. */
NVMX_API const char *nvmx_exit_reason_name(unsigned reason);

#ifdef __cplusplus
}
#endif

#endif
