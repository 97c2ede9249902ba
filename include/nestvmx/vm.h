/* SPDX-License-Identifier: MIT */
/**
 * @file vm.h
 * @brief Per-VM and per-vCPU objects: configuration, create and destroy.
 *
 * All library state hangs off an ::nvmx_vm (one per VM: capabilities, policy, ops) and its
 * ::nvmx_vcpu objects. There is no global state; the library allocates only through the
 * ops' mem_alloc, and only inside the create calls and the operations documented to do so.
 */
#ifndef NESTVMX_VM_H
#define NESTVMX_VM_H

#include "api.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capabilities.h"
#include "ops.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief A VM that may run nested guests. Opaque. */
typedef struct nvmx_vm nvmx_vm;
/** @brief One virtual CPU of an ::nvmx_vm. Opaque. */
typedef struct nvmx_vcpu nvmx_vcpu;

/** Default number of vmcs12s a vCPU keeps cached before writing the oldest back to L1. */
#define NVMX_DEFAULT_MAX_CACHED_VMCS 64u
/** Upper bound for ::nvmx_vm_config.max_cached_vmcs. */
#define NVMX_MAX_CACHED_VMCS_LIMIT 4096u

/** Default number of EPT02 table pages (4 KiB each, from page_alloc) a vCPU may hold. */
#define NVMX_DEFAULT_MAX_EPT02_PAGES 4096u
/** Bounds for ::nvmx_vm_config.max_ept02_pages: one 4-level path needs 4 pages. */
#define NVMX_MIN_EPT02_PAGES 4u
#define NVMX_MAX_EPT02_PAGES_LIMIT (1u << 20)

/** Default number of hardware VPIDs (from vpid_alloc) a vCPU holds for L2 (VPID02s). */
#define NVMX_DEFAULT_MAX_VPID02 8u
/** Upper bound for ::nvmx_vm_config.max_vpid02. */
#define NVMX_MAX_VPID02_LIMIT 64u

/**
 * @brief What L0 itself needs in every vmcs02, whatever L1 asks for (zero: nothing, as for a
 * software L0 that can observe everything). The library ORs these into vmcs02; exits that only
 * L0 asked for come back to the embedder as NVMX_RUN_L0_HANDLES.
 */
typedef struct nvmx_l0_controls {
    uint32_t pin;                 /**< pin-based controls L0 needs set */
    uint32_t proc;                /**< primary processor-based controls L0 needs set */
    uint32_t proc2;               /**< secondary processor-based controls L0 needs set */
    uint32_t exit;                /**< VM-exit controls of vmcs02 (L0's host state lives there) */
    uint32_t exception_bitmap;    /**< exceptions L0 intercepts while L2 runs */
    uint64_t cr0_guest_host_mask; /**< CR0 bits L0 owns while L2 runs */
    uint64_t cr4_guest_host_mask; /**< CR4 bits L0 owns while L2 runs */
    /**
     * The MSRs L0 intercepts while L2 runs: a 4-KiB MSR bitmap in the SDM's layout (25.6.9:
     * read low, read high, write low, write high; bit set = the access exits). NULL: every
     * RDMSR/WRMSR of L2 exits to L0. Otherwise each vCPU gets a page (page_alloc and
     * page_free required) for vmcs02's merged bitmap, and 9 KiB (mem_alloc) to merge it: an
     * access exits when L0's bit or L1's bit is set, so L1 can never grant what L0 intercepts
     * (the x2APIC range 800H-8FFH included). The library reads the bitmap through this
     * pointer (any alignment) at a vCPU's first VM entry to L2 and at the first after
     * nvmx_vcpu_vmcs02_invalidate(): it must stay valid until the VM is destroyed; after
     * changing its contents call nvmx_vcpu_vmcs02_invalidate() on every vCPU. Set "use MSR
     * bitmaps" in proc only through this (proc's bit is ignored).
     */
    const void *msr_bitmap;
} nvmx_l0_controls;

/** @brief How a VM is set up. Fill with nvmx_vm_config_init(), then change what you need. */
typedef struct nvmx_vm_config {
    /** Expose VMX to L1 at all (Hyper-V's "ExposeVirtualizationExtensions"). */
    bool expose_vmx;
    /** The host's capability MSRs; NULL = a software CPU (nvmx_caps_software_host()). */
    const nvmx_vmx_caps *host_caps;
    /**
     * Pinned capabilities (for migration): expose exactly these. They must be consistent and
     * lie within host ∩ implemented, else creation fails with NVMX_ERR_INCOMPATIBLE_CAPS.
     * disabled_features is then not applied. NULL = compute.
     */
    const nvmx_vmx_caps *pinned_caps;
    /** Features to hide from L1, by QEMU-style name ("vmx-ept"). Unknown names fail creation. */
    const char *const *disabled_features;
    /** Number of entries in disabled_features. */
    size_t disabled_feature_count;
    /** L1's physical-address width (CPUID 0x80000008 EAX[7:0]), 32 to 52. Default 46. */
    uint8_t phys_addr_width;
    /** vmcs12s cached per vCPU, 1 to NVMX_MAX_CACHED_VMCS_LIMIT. Default 64. */
    uint32_t max_cached_vmcs;
    /**
     * EPT02 table pages (from page_alloc) a vCPU may hold, NVMX_MIN_EPT02_PAGES to
     * NVMX_MAX_EPT02_PAGES_LIMIT. Beyond it whole EPT02s are evicted, least recently used
     * first. Default NVMX_DEFAULT_MAX_EPT02_PAGES (16 MiB of tables per vCPU, and about as much
     * again of library bookkeeping through mem_alloc).
     */
    uint32_t max_ept02_pages;
    /**
     * Hardware VPIDs (vpid_alloc) a vCPU holds to run L2 with, 1 to NVMX_MAX_VPID02_LIMIT: one
     * per VPID L1 uses in its vmcs12s, least recently used reassigned (with a flush) beyond
     * it. Default NVMX_DEFAULT_MAX_VPID02. All are given back at nvmx_vcpu_destroy.
     */
    uint32_t max_vpid02;
    /** IA32_FEATURE_CONTROL as firmware leaves it at reset. Default: locked, VMX outside SMX (5).
     */
    uint64_t feature_control;
    /** What L0 needs in every vmcs02. Default: nothing. */
    nvmx_l0_controls l0;
} nvmx_vm_config;

/** @brief Fill a configuration with the defaults (VMX exposed, software host, no policy). */
NVMX_API void nvmx_vm_config_init(nvmx_vm_config *config);

/**
 * @brief Create a VM.
 * @param config   the configuration; copied, need not outlive the call (names are matched
 *                 during the call).
 * @param ops      the host ops; the table is copied.
 * @param host_ctx passed to VM-wide ops.
 * @param out      the new VM.
 * @return NVMX_OK; NVMX_ERR_INVALID_ARGUMENT (NULL pointer, a required op missing, a value out
 *         of range); NVMX_ERR_UNKNOWN_FEATURE; NVMX_ERR_INCOMPATIBLE_CAPS; NVMX_ERR_NO_MEMORY.
 *         On failure nothing is allocated and the reason is logged through the log op.
 */
NVMX_API nvmx_status nvmx_vm_create(const nvmx_vm_config *config, const nvmx_host_ops *ops,
                                    void *host_ctx, nvmx_vm **out);

/** @brief Destroy a VM. All its vCPUs must have been destroyed. NULL is ignored. */
NVMX_API void nvmx_vm_destroy(nvmx_vm *vm);

/**
 * @brief Create a vCPU of a VM, out of VMX operation (as after reset).
 * @param vcpu_ctx passed to per-vCPU ops.
 */
NVMX_API nvmx_status nvmx_vcpu_create(nvmx_vm *vm, void *vcpu_ctx, nvmx_vcpu **out);

/**
 * @brief Destroy a vCPU. Cached vmcs12s are written back to L1 memory first, as a processor
 * may write back cached VMCS data at any time (SDM 25.11.1); EPT02 pages and VPID02s go back
 * to the host (page_free, vpid_free). NULL is ignored.
 */
NVMX_API void nvmx_vcpu_destroy(nvmx_vcpu *vcpu);

/**
 * @brief Tell the library that L0 changed its own part of vmcs02 (or recreated it), or the
 * contents of its L2 MSR bitmap (nvmx_l0_controls.msr_bitmap): the next VM entry rewrites every
 * field vmcs02 takes from vmcs12 instead of only the changed ones, and merges the MSR bitmap
 * whole.
 */
NVMX_API void nvmx_vcpu_vmcs02_invalidate(nvmx_vcpu *vcpu);

/**
 * @brief L0 changed EPT01 (L1 guest-physical -> host) for [l1_gpa, l1_gpa + len): memory
 * hot-add or hot-remove, ballooning, page migration, write-protection for dirty logging, any
 * change of a mapping's host page, permissions or memory type. Every EPT02 leaf of this vCPU
 * derived from an L1 page in the range is removed (EPT02 maps L2 GPAs through EPT12 and
 * EPT01, SDM 29.3), and the tlb_flush op is asked for NVMX_TLB_FLUSH_EPTP of each EPT02 that
 * lost an entry, so L2 never reaches a host page EPT01 no longer gives. L2's next access to
 * such a page faults in EPT02 and is rebuilt from the new EPT01 (nvmx_on_l2_exit, reason 48).
 *
 * Call it on the vCPU's own thread (between its library calls), before the host page is
 * reused and before the vCPU runs L2 again; the flush requests are for that vCPU. Needing no
 * lock, this is the call for multi-threaded embedders: signal each vCPU, each calls it.
 * Dirty logging: write-protect the pages in EPT01, then call this; L2's next write to each
 * page is then reported to L0 with its L1 GPA (::nvmx_next.l1_gpa). Widening EPT01 (a new
 * mapping, more permissions) needs no call: EPT02 is built on demand from EPT01 lookups.
 * @return NVMX_OK (also when nothing was derived from the range, or len = 0);
 *         NVMX_ERR_INVALID_ARGUMENT for NULL. A range past 2^64 - 1 ends there.
 */
NVMX_API nvmx_status nvmx_vcpu_ept01_changed(nvmx_vcpu *vcpu, uint64_t l1_gpa, uint64_t len);

/**
 * @brief nvmx_vcpu_ept01_changed for every vCPU of the VM, for embedders that serialize their
 * vCPUs (one thread, or all vCPUs stopped): the library has no locks, so no other call on any
 * of the VM's vCPUs may run concurrently. The flush requests go to each vCPU's tlb_flush op
 * with that vCPU's context.
 * @return NVMX_OK; NVMX_ERR_INVALID_ARGUMENT for NULL.
 */
NVMX_API nvmx_status nvmx_ept01_changed(nvmx_vm *vm, uint64_t l1_gpa, uint64_t len);

/** @brief Whether the vCPU is in VMX operation (after VMXON, before VMXOFF). */
NVMX_API bool nvmx_vcpu_in_vmx_operation(const nvmx_vcpu *vcpu);

/** @brief Whether the vCPU is in VMX non-root operation (running L2). */
NVMX_API bool nvmx_vcpu_in_guest_mode(const nvmx_vcpu *vcpu);

/** @brief The current-VMCS pointer (all ones when there is none, SDM 25.1). */
NVMX_API uint64_t nvmx_vcpu_current_vmcs(const nvmx_vcpu *vcpu);

#ifdef __cplusplus
}
#endif

#endif
