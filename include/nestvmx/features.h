/* SPDX-License-Identifier: MIT */
/**
 * @file features.h
 * @brief Named VMX features: one capability bit each, the unit of policy and of field existence.
 *
 * Each feature is one bit of one VMX capability register: for a control field it is the
 * allowed-1 bit of that control (SDM Vol. 3D, Appendix A.3-A.5), for IA32_VMX_BASIC, MISC,
 * EPT_VPID_CAP and VMFUNC the bit itself (A.1, A.6, A.10, A.11). Names follow QEMU/libvirt
 * ("vmx-ept"), so an operator's `-cpu ...,-vmx-ept` translates one to one.
 */
#ifndef NESTVMX_FEATURES_H
#define NESTVMX_FEATURES_H

#ifdef __cplusplus
extern "C" {
#endif

/** @brief The capability registers a feature bit can live in. */
typedef enum nvmx_cap_reg {
    NVMX_CAP_BASIC,      /**< IA32_VMX_BASIC (A.1) */
    NVMX_CAP_PINBASED,   /**< allowed-1 of pin-based controls (A.3.1) */
    NVMX_CAP_PROCBASED,  /**< allowed-1 of primary processor-based controls (A.3.2) */
    NVMX_CAP_PROCBASED2, /**< allowed-1 of secondary processor-based controls (A.3.3) */
    NVMX_CAP_PROCBASED3, /**< tertiary processor-based controls, 64 bits, allowed-1 only (A.3.4) */
    NVMX_CAP_EXIT,       /**< allowed-1 of primary VM-exit controls (A.4.1) */
    NVMX_CAP_EXIT2,      /**< secondary VM-exit controls, 64 bits, allowed-1 only (A.4.2) */
    NVMX_CAP_ENTRY,      /**< allowed-1 of VM-entry controls (A.5) */
    NVMX_CAP_MISC,       /**< IA32_VMX_MISC (A.6) */
    NVMX_CAP_EPT_VPID,   /**< IA32_VMX_EPT_VPID_CAP (A.10) */
    NVMX_CAP_VMFUNC,     /**< IA32_VMX_VMFUNC (A.11) */
    NVMX_CAP_REG_COUNT
} nvmx_cap_reg;

/**
 * X-macro list of features: X(ID, "name", register, bit).
 * The single source for the feature enum, name lookup and policy.
 */
/* clang-format off */
#define NVMX_FEATURE_LIST(X)                                                        \
    /* IA32_VMX_BASIC */                                                            \
    X(INS_OUTS_INFO, "vmx-ins-outs", NVMX_CAP_BASIC, 54)                            \
    X(TRUE_CTLS, "vmx-true-ctls", NVMX_CAP_BASIC, 55)                               \
    /* pin-based */                                                                 \
    X(EXT_INTR_EXITING, "vmx-intr-exit", NVMX_CAP_PINBASED, 0)                      \
    X(NMI_EXITING, "vmx-nmi-exit", NVMX_CAP_PINBASED, 3)                            \
    X(VIRTUAL_NMIS, "vmx-vnmi", NVMX_CAP_PINBASED, 5)                               \
    X(PREEMPTION_TIMER, "vmx-preemption-timer", NVMX_CAP_PINBASED, 6)               \
    X(POSTED_INTERRUPTS, "vmx-posted-intr", NVMX_CAP_PINBASED, 7)                   \
    /* primary processor-based */                                                   \
    X(INTR_WINDOW_EXITING, "vmx-vintr-pending", NVMX_CAP_PROCBASED, 2)              \
    X(TSC_OFFSETTING, "vmx-tsc-offset", NVMX_CAP_PROCBASED, 3)                      \
    X(HLT_EXITING, "vmx-hlt-exit", NVMX_CAP_PROCBASED, 7)                           \
    X(INVLPG_EXITING, "vmx-invlpg-exit", NVMX_CAP_PROCBASED, 9)                     \
    X(MWAIT_EXITING, "vmx-mwait-exit", NVMX_CAP_PROCBASED, 10)                      \
    X(RDPMC_EXITING, "vmx-rdpmc-exit", NVMX_CAP_PROCBASED, 11)                      \
    X(RDTSC_EXITING, "vmx-rdtsc-exit", NVMX_CAP_PROCBASED, 12)                      \
    X(CR3_LOAD_EXITING, "vmx-cr3-load-noexit", NVMX_CAP_PROCBASED, 15)              \
    X(CR3_STORE_EXITING, "vmx-cr3-store-noexit", NVMX_CAP_PROCBASED, 16)            \
    X(TERTIARY_CONTROLS, "vmx-activate-tertiary-controls", NVMX_CAP_PROCBASED, 17)  \
    X(CR8_LOAD_EXITING, "vmx-cr8-load-exit", NVMX_CAP_PROCBASED, 19)                \
    X(CR8_STORE_EXITING, "vmx-cr8-store-exit", NVMX_CAP_PROCBASED, 20)              \
    X(TPR_SHADOW, "vmx-flexpriority", NVMX_CAP_PROCBASED, 21)                       \
    X(NMI_WINDOW_EXITING, "vmx-vnmi-pending", NVMX_CAP_PROCBASED, 22)               \
    X(MOV_DR_EXITING, "vmx-movdr-exit", NVMX_CAP_PROCBASED, 23)                     \
    X(UNCOND_IO_EXITING, "vmx-io-exit", NVMX_CAP_PROCBASED, 24)                     \
    X(IO_BITMAPS, "vmx-io-bitmap", NVMX_CAP_PROCBASED, 25)                          \
    X(MONITOR_TRAP_FLAG, "vmx-mtf", NVMX_CAP_PROCBASED, 27)                         \
    X(MSR_BITMAPS, "vmx-msr-bitmap", NVMX_CAP_PROCBASED, 28)                        \
    X(MONITOR_EXITING, "vmx-monitor-exit", NVMX_CAP_PROCBASED, 29)                  \
    X(PAUSE_EXITING, "vmx-pause-exit", NVMX_CAP_PROCBASED, 30)                      \
    X(SECONDARY_CONTROLS, "vmx-secondary-ctls", NVMX_CAP_PROCBASED, 31)             \
    /* secondary processor-based */                                                 \
    X(VIRTUALIZE_APIC_ACCESSES, "vmx-apicv-xapic", NVMX_CAP_PROCBASED2, 0)          \
    X(EPT, "vmx-ept", NVMX_CAP_PROCBASED2, 1)                                       \
    X(DESC_TABLE_EXITING, "vmx-desc-exit", NVMX_CAP_PROCBASED2, 2)                  \
    X(RDTSCP, "vmx-rdtscp-exit", NVMX_CAP_PROCBASED2, 3)                            \
    X(VIRTUALIZE_X2APIC, "vmx-apicv-x2apic", NVMX_CAP_PROCBASED2, 4)                \
    X(VPID, "vmx-vpid", NVMX_CAP_PROCBASED2, 5)                                     \
    X(WBINVD_EXITING, "vmx-wbinvd-exit", NVMX_CAP_PROCBASED2, 6)                    \
    X(UNRESTRICTED_GUEST, "vmx-unrestricted-guest", NVMX_CAP_PROCBASED2, 7)         \
    X(APIC_REGISTER_VIRT, "vmx-apicv-register", NVMX_CAP_PROCBASED2, 8)             \
    X(VIRTUAL_INTR_DELIVERY, "vmx-apicv-vid", NVMX_CAP_PROCBASED2, 9)               \
    X(PAUSE_LOOP_EXITING, "vmx-ple", NVMX_CAP_PROCBASED2, 10)                       \
    X(RDRAND_EXITING, "vmx-rdrand-exit", NVMX_CAP_PROCBASED2, 11)                   \
    X(ENABLE_INVPCID, "vmx-invpcid-exit", NVMX_CAP_PROCBASED2, 12)                  \
    X(ENABLE_VMFUNC, "vmx-vmfunc", NVMX_CAP_PROCBASED2, 13)                         \
    X(SHADOW_VMCS, "vmx-shadow-vmcs", NVMX_CAP_PROCBASED2, 14)                      \
    X(ENCLS_EXITING, "vmx-encls-exit", NVMX_CAP_PROCBASED2, 15)                     \
    X(RDSEED_EXITING, "vmx-rdseed-exit", NVMX_CAP_PROCBASED2, 16)                   \
    X(PML, "vmx-pml", NVMX_CAP_PROCBASED2, 17)                                      \
    X(EPT_VIOLATION_VE, "vmx-ept-violation-ve", NVMX_CAP_PROCBASED2, 18)            \
    X(CONCEAL_VMX_FROM_PT, "vmx-conceal-from-pt", NVMX_CAP_PROCBASED2, 19)          \
    X(XSAVES, "vmx-xsaves", NVMX_CAP_PROCBASED2, 20)                                \
    X(MODE_BASED_EPT_EXEC, "vmx-mbec", NVMX_CAP_PROCBASED2, 22)                     \
    X(SUBPAGE_WRITE, "vmx-spp", NVMX_CAP_PROCBASED2, 23)                            \
    X(PT_USES_GPA, "vmx-pt-guest-physical", NVMX_CAP_PROCBASED2, 24)                \
    X(TSC_SCALING, "vmx-tsc-scaling", NVMX_CAP_PROCBASED2, 25)                      \
    X(USER_WAIT_PAUSE, "vmx-enable-user-wait-pause", NVMX_CAP_PROCBASED2, 26)       \
    X(PCONFIG, "vmx-pconfig", NVMX_CAP_PROCBASED2, 27)                              \
    X(ENCLV_EXITING, "vmx-enclv-exit", NVMX_CAP_PROCBASED2, 28)                     \
    X(BUS_LOCK_DETECTION, "vmx-bus-lock-detection", NVMX_CAP_PROCBASED2, 30)        \
    X(INSTRUCTION_TIMEOUT, "vmx-instruction-timeout", NVMX_CAP_PROCBASED2, 31)      \
    /* tertiary processor-based */                                                  \
    X(LOADIWKEY_EXITING, "vmx-loadiwkey-exit", NVMX_CAP_PROCBASED3, 0)              \
    X(HLAT, "vmx-hlat", NVMX_CAP_PROCBASED3, 1)                                     \
    X(EPT_PAGING_WRITE, "vmx-ept-paging-write", NVMX_CAP_PROCBASED3, 2)             \
    X(GUEST_PAGING_VERIFY, "vmx-guest-paging-verify", NVMX_CAP_PROCBASED3, 3)       \
    X(IPI_VIRT, "vmx-ipi-virt", NVMX_CAP_PROCBASED3, 4)                             \
    X(VIRT_IA32_SPEC_CTRL, "vmx-virt-spec-ctrl", NVMX_CAP_PROCBASED3, 7)            \
    /* primary VM-exit */                                                           \
    X(EXIT_SAVE_DEBUG, "vmx-exit-nosave-debugctl", NVMX_CAP_EXIT, 2)                \
    X(EXIT_HOST_ADDR_SPACE, "vmx-exit-host-addr-space-size", NVMX_CAP_EXIT, 9)      \
    X(EXIT_LOAD_PERF_GLOBAL, "vmx-exit-load-perf-global-ctrl", NVMX_CAP_EXIT, 12)   \
    X(EXIT_ACK_INTR, "vmx-exit-ack-intr", NVMX_CAP_EXIT, 15)                        \
    X(EXIT_SAVE_PAT, "vmx-exit-save-pat", NVMX_CAP_EXIT, 18)                        \
    X(EXIT_LOAD_PAT, "vmx-exit-load-pat", NVMX_CAP_EXIT, 19)                        \
    X(EXIT_SAVE_EFER, "vmx-exit-save-efer", NVMX_CAP_EXIT, 20)                      \
    X(EXIT_LOAD_EFER, "vmx-exit-load-efer", NVMX_CAP_EXIT, 21)                      \
    X(EXIT_SAVE_PREEMPTION_TIMER, "vmx-exit-save-preemption-timer", NVMX_CAP_EXIT, 22) \
    X(EXIT_CLEAR_BNDCFGS, "vmx-exit-clear-bndcfgs", NVMX_CAP_EXIT, 23)              \
    X(EXIT_CONCEAL_FROM_PT, "vmx-exit-conceal-from-pt", NVMX_CAP_EXIT, 24)          \
    X(EXIT_CLEAR_RTIT_CTL, "vmx-exit-clear-rtit-ctl", NVMX_CAP_EXIT, 25)            \
    X(EXIT_CLEAR_LBR_CTL, "vmx-exit-clear-lbr-ctl", NVMX_CAP_EXIT, 26)              \
    X(EXIT_CLEAR_UINV, "vmx-exit-clear-uinv", NVMX_CAP_EXIT, 27)                    \
    X(EXIT_LOAD_CET, "vmx-exit-load-cet", NVMX_CAP_EXIT, 28)                        \
    X(EXIT_LOAD_PKRS, "vmx-exit-load-pkrs", NVMX_CAP_EXIT, 29)                      \
    X(EXIT_SAVE_PERF_GLOBAL, "vmx-exit-save-perf-global-ctrl", NVMX_CAP_EXIT, 30)   \
    X(SECONDARY_EXIT_CONTROLS, "vmx-exit-secondary-ctls", NVMX_CAP_EXIT, 31)        \
    /* VM-entry */                                                                  \
    X(ENTRY_LOAD_DEBUG, "vmx-entry-noload-debugctl", NVMX_CAP_ENTRY, 2)             \
    X(ENTRY_IA32E_MODE, "vmx-entry-ia32e-mode", NVMX_CAP_ENTRY, 9)                  \
    X(ENTRY_SMM, "vmx-entry-smm", NVMX_CAP_ENTRY, 10)                               \
    X(ENTRY_DEACT_DUAL_MONITOR, "vmx-entry-deact-dual-monitor", NVMX_CAP_ENTRY, 11) \
    X(ENTRY_LOAD_PERF_GLOBAL, "vmx-entry-load-perf-global-ctrl", NVMX_CAP_ENTRY, 13) \
    X(ENTRY_LOAD_PAT, "vmx-entry-load-pat", NVMX_CAP_ENTRY, 14)                     \
    X(ENTRY_LOAD_EFER, "vmx-entry-load-efer", NVMX_CAP_ENTRY, 15)                   \
    X(ENTRY_LOAD_BNDCFGS, "vmx-entry-load-bndcfgs", NVMX_CAP_ENTRY, 16)             \
    X(ENTRY_CONCEAL_FROM_PT, "vmx-entry-conceal-from-pt", NVMX_CAP_ENTRY, 17)       \
    X(ENTRY_LOAD_RTIT_CTL, "vmx-entry-load-rtit-ctl", NVMX_CAP_ENTRY, 18)           \
    X(ENTRY_LOAD_UINV, "vmx-entry-load-uinv", NVMX_CAP_ENTRY, 19)                   \
    X(ENTRY_LOAD_CET, "vmx-entry-load-cet", NVMX_CAP_ENTRY, 20)                     \
    X(ENTRY_LOAD_LBR_CTL, "vmx-entry-load-lbr-ctl", NVMX_CAP_ENTRY, 21)             \
    X(ENTRY_LOAD_PKRS, "vmx-entry-load-pkrs", NVMX_CAP_ENTRY, 22)                   \
    /* IA32_VMX_MISC */                                                             \
    X(STORE_LMA, "vmx-store-lma", NVMX_CAP_MISC, 5)                                 \
    X(ACTIVITY_HLT, "vmx-activity-hlt", NVMX_CAP_MISC, 6)                           \
    X(ACTIVITY_SHUTDOWN, "vmx-activity-shutdown", NVMX_CAP_MISC, 7)                 \
    X(ACTIVITY_WAIT_SIPI, "vmx-activity-wait-sipi", NVMX_CAP_MISC, 8)               \
    X(PT_IN_VMX, "vmx-pt-in-vmx", NVMX_CAP_MISC, 14)                                \
    X(SMBASE_READ, "vmx-smbase-read", NVMX_CAP_MISC, 15)                            \
    X(VMWRITE_ANY_FIELD, "vmx-vmwrite-vmexit-fields", NVMX_CAP_MISC, 29)            \
    X(ZERO_LEN_INJECT, "vmx-zero-len-inject", NVMX_CAP_MISC, 30)                    \
    /* IA32_VMX_EPT_VPID_CAP */                                                     \
    X(EPT_EXECONLY, "vmx-ept-execonly", NVMX_CAP_EPT_VPID, 0)                       \
    X(EPT_WALK_4, "vmx-page-walk-4", NVMX_CAP_EPT_VPID, 6)                          \
    X(EPT_WALK_5, "vmx-page-walk-5", NVMX_CAP_EPT_VPID, 7)                          \
    X(EPT_MEMTYPE_UC, "vmx-ept-uc", NVMX_CAP_EPT_VPID, 8)                           \
    X(EPT_MEMTYPE_WB, "vmx-ept-wb", NVMX_CAP_EPT_VPID, 14)                          \
    X(EPT_2MB, "vmx-ept-2mb", NVMX_CAP_EPT_VPID, 16)                                \
    X(EPT_1GB, "vmx-ept-1gb", NVMX_CAP_EPT_VPID, 17)                                \
    X(INVEPT, "vmx-invept", NVMX_CAP_EPT_VPID, 20)                                  \
    X(EPT_AD, "vmx-eptad", NVMX_CAP_EPT_VPID, 21)                                   \
    X(EPT_ADVANCED_EXITINFO, "vmx-ept-advanced-exitinfo", NVMX_CAP_EPT_VPID, 22)    \
    X(EPT_SHADOW_STACK, "vmx-ept-shadow-stack", NVMX_CAP_EPT_VPID, 23)              \
    X(INVEPT_SINGLE_CONTEXT, "vmx-invept-single-context", NVMX_CAP_EPT_VPID, 25)    \
    X(INVEPT_ALL_CONTEXT, "vmx-invept-all-context", NVMX_CAP_EPT_VPID, 26)          \
    X(INVVPID, "vmx-invvpid", NVMX_CAP_EPT_VPID, 32)                                \
    X(INVVPID_ADDRESS, "vmx-invvpid-single-addr", NVMX_CAP_EPT_VPID, 40)            \
    X(INVVPID_SINGLE_CONTEXT, "vmx-invvpid-single-context", NVMX_CAP_EPT_VPID, 41)  \
    X(INVVPID_ALL_CONTEXT, "vmx-invvpid-all-context", NVMX_CAP_EPT_VPID, 42)        \
    X(INVVPID_SINGLE_NONGLOBAL, "vmx-invvpid-single-context-noglobals", NVMX_CAP_EPT_VPID, 43) \
    /* IA32_VMX_VMFUNC */                                                           \
    X(EPTP_SWITCHING, "vmx-eptp-switching", NVMX_CAP_VMFUNC, 0)
/* clang-format on */

/** @brief A named VMX feature. NVMX_FEATURE_NONE marks "always present" in tables. */
typedef enum nvmx_feature {
#define NVMX_FEATURE_ENUM(id, name, reg, bit) NVMX_FEATURE_##id,
    NVMX_FEATURE_LIST(NVMX_FEATURE_ENUM)
#undef NVMX_FEATURE_ENUM
        NVMX_FEATURE_COUNT,
    NVMX_FEATURE_NONE = NVMX_FEATURE_COUNT
} nvmx_feature;

#ifdef __cplusplus
}
#endif

#endif
