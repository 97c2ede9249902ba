/* SPDX-License-Identifier: MIT */
/**
 * @file ops.h
 * @brief The host ops table: everything the library needs from the embedder (L0).
 *
 * The library never touches hardware or the OS. It reaches guest memory, registers, the
 * hardware VMCS, memory for its own structures and the log only through these callbacks.
 * Every op gets the context pointer the embedder registered: `host_ctx` for the VM-wide ops,
 * `vcpu_ctx` for per-vCPU ops. Register and memory-translation ops act on the guest that is
 * currently running on the vCPU (L1 in root operation, L2 in non-root operation).
 */
#ifndef NESTVMX_OPS_H
#define NESTVMX_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Registers the library reads or writes. GPRs use the SDM's register numbering
 * (the one of the VM-exit instruction-information field, SDM Table 28-13).
 */
typedef enum nvmx_reg {
    NVMX_REG_RAX = 0,
    NVMX_REG_RCX,
    NVMX_REG_RDX,
    NVMX_REG_RBX,
    NVMX_REG_RSP,
    NVMX_REG_RBP,
    NVMX_REG_RSI,
    NVMX_REG_RDI,
    NVMX_REG_R8,
    NVMX_REG_R9,
    NVMX_REG_R10,
    NVMX_REG_R11,
    NVMX_REG_R12,
    NVMX_REG_R13,
    NVMX_REG_R14,
    NVMX_REG_R15,
    NVMX_REG_RIP,
    NVMX_REG_RFLAGS,
    NVMX_REG_CR0,
    NVMX_REG_CR3,
    NVMX_REG_CR4,
    NVMX_REG_EFER,
    NVMX_REG_COUNT
} nvmx_reg;

/** @brief Segment registers, numbered as in the instruction-information field (ES=0 ... GS=5). */
typedef enum nvmx_seg {
    NVMX_SEG_ES = 0,
    NVMX_SEG_CS,
    NVMX_SEG_SS,
    NVMX_SEG_DS,
    NVMX_SEG_FS,
    NVMX_SEG_GS,
    NVMX_SEG_LDTR,
    NVMX_SEG_TR,
    NVMX_SEG_COUNT
} nvmx_seg;

/**
 * @brief A segment register with its hidden part, access rights in the VMCS format
 * (SDM 25.4.1, Table 25-2: type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13, D/B 14, G 15,
 * unusable 16).
 */
typedef struct nvmx_segment {
    uint16_t selector;
    uint64_t base;
    uint32_t limit;         /**< byte granular (already scaled by G) */
    uint32_t access_rights; /**< VMCS format; bit 16 = unusable */
} nvmx_segment;

/** @brief Kind of a guest memory access, for translation and fault error codes. */
typedef enum nvmx_access {
    NVMX_ACCESS_READ = 0,
    NVMX_ACCESS_WRITE = 1,
} nvmx_access;

/** @brief An exception to deliver to the running guest. */
typedef struct nvmx_exception {
    uint8_t vector;      /**< 0-31 */
    bool has_error_code; /**< true for #GP, #SS, #PF, ... */
    uint32_t error_code;
    uint64_t cr2; /**< the faulting linear address for #PF, else 0 */
} nvmx_exception;

/** @brief What EPT01 maps one L1 guest-physical address to (for EPT02 building). */
typedef struct nvmx_ept01_mapping {
    uint64_t host_phys; /**< host-physical address of the byte that was looked up */
    uint64_t page_size; /**< size of the host mapping that contains it: 4 KiB, 2 MiB or 1 GiB */
    bool read, write, execute;
    uint8_t memory_type; /**< EPT memory type (0 UC, 6 WB, ...) */
} nvmx_ept01_mapping;

/** @brief Which hardware VMCS a hardware-VMCS op addresses. */
typedef enum nvmx_hw_vmcs {
    NVMX_HW_VMCS01 = 0, /**< the VMCS L0 uses to run L1 */
    NVMX_HW_VMCS02 = 1, /**< the VMCS L0 uses to run L2 */
} nvmx_hw_vmcs;

/**
 * @brief Which cached translations of the hardware a ::nvmx_host_ops.tlb_flush request drops
 * (SDM Vol. 3C 29.4: linear, guest-physical and combined mappings). Flushing more than asked
 * is always correct; less never is.
 */
typedef enum nvmx_tlb_flush_kind {
    /** Guest-physical and combined mappings derived from the EPT whose root is `eptp` (an
     *  EPT02 root the library built): hardware hosts run INVEPT single-context of `eptp`. */
    NVMX_TLB_FLUSH_EPTP = 0,
    /** Linear and combined mappings of the linear address `linear` tagged `vpid`
     *  (INVVPID individual-address). */
    NVMX_TLB_FLUSH_VPID_ADDRESS,
    /** All linear and combined mappings tagged `vpid` (INVVPID single-context). */
    NVMX_TLB_FLUSH_VPID,
    /** Those of NVMX_TLB_FLUSH_VPID except global translations (INVVPID single-context
     *  retaining globals). */
    NVMX_TLB_FLUSH_VPID_NONGLOBAL,
    /** Linear and combined mappings of L1's own context (the VPID L0 runs L1 with; every
     *  mapping of L1 when L0 runs it without a VPID). */
    NVMX_TLB_FLUSH_L1_CONTEXT,
} nvmx_tlb_flush_kind;

/** @brief A TLB flush the library asks of the host (the tlb_flush op). */
typedef struct nvmx_tlb_flush {
    nvmx_tlb_flush_kind kind;
    uint16_t vpid;   /**< the hardware VPID (from vpid_alloc) for the VPID kinds */
    uint64_t eptp;   /**< NVMX_TLB_FLUSH_EPTP: the EPTP the library put into vmcs02 */
    uint64_t linear; /**< NVMX_TLB_FLUSH_VPID_ADDRESS: the linear address */
} nvmx_tlb_flush;

/** @brief Severity of a log message. */
typedef enum nvmx_log_level {
    NVMX_LOG_ERROR = 0,
    NVMX_LOG_WARN,
    NVMX_LOG_INFO,
    NVMX_LOG_DEBUG,
    NVMX_LOG_TRACE,
} nvmx_log_level;

/**
 * @brief The host ops table. Ops marked "required" must be set; the rest may be NULL, and the
 * library then reports NVMX_ERR_UNSUPPORTED from the operations that need them.
 */
typedef struct nvmx_host_ops {
    /** Required. Allocate `size` bytes, aligned to 16, for library structures. NULL = no memory. */
    void *(*mem_alloc)(void *host_ctx, size_t size);
    /** Required. Free memory from mem_alloc; `size` is the size that was allocated. */
    void (*mem_free)(void *host_ctx, void *ptr, size_t size);

    /**
     * Required. Read `len` bytes of L1 guest-physical memory at `gpa`.
     * @return NVMX_OK, or NVMX_ERR_BAD_L1_ADDRESS when any byte is not backed by L1 RAM.
     */
    nvmx_status (*l1_read)(void *host_ctx, uint64_t gpa, void *buf, size_t len);
    /** Required. Write L1 guest-physical memory; same contract as l1_read. */
    nvmx_status (*l1_write)(void *host_ctx, uint64_t gpa, const void *buf, size_t len);
    /**
     * Optional; required only for EPT accessed/dirty flags (SDM 29.3.4), used when L1 enables
     * them in an EPTP. Atomically (as LOCK CMPXCHG on the aligned 8 bytes at `gpa`, against
     * L1's other vCPUs): if the 64-bit value at `gpa` equals `expected`, replace it with
     * `desired`. The library sets A/D bits in L1's EPT entries only through this op.
     * @return NVMX_OK when the value was replaced; NVMX_ERR_STATE when memory did not hold
     *         `expected` (nothing written); NVMX_ERR_BAD_L1_ADDRESS when `gpa` is not L1 RAM
     *         (treated as a dropped write); anything else is a host failure.
     */
    nvmx_status (*l1_cmpxchg64)(void *host_ctx, uint64_t gpa, uint64_t expected, uint64_t desired);

    /**
     * Required. Translate a linear address of the running guest to an L1 guest-physical
     * address, as the guest's paging would for a supervisor access of kind `access`
     * (for L2, the embedder walks L2's paging and maps every guest-physical address it uses,
     * paging-structure entries included, to L1's space with nvmx_l2_gpa_to_l1 (exits.h),
     * which applies L1's EPT when vmcs12 enables it; when that fails the op fails too with
     * NVMX_ERR_BAD_L1_ADDRESS).
     * @return NVMX_OK with *gpa set; or NVMX_ERR_BAD_L1_ADDRESS with *fault set to the
     *         exception the access raises (normally #PF with its error code and CR2).
     */
    nvmx_status (*translate)(void *vcpu_ctx, uint64_t linear, nvmx_access access, uint64_t *gpa,
                             nvmx_exception *fault);

    /** Required. Read a register of the running guest. */
    uint64_t (*reg_get)(void *vcpu_ctx, nvmx_reg reg);
    /** Required. Write a register of the running guest. */
    void (*reg_set)(void *vcpu_ctx, nvmx_reg reg, uint64_t value);
    /** Required. Read a segment register (with its hidden part) of the running guest. */
    void (*segment_get)(void *vcpu_ctx, nvmx_seg seg, nvmx_segment *out);

    /** Required. Deliver an exception to the running guest at its current RIP (a fault). */
    void (*inject_exception)(void *vcpu_ctx, const nvmx_exception *exception);

    /**
     * Optional (EPT). Look up EPT01 for an L1 guest-physical address: NVMX_OK with *out (a
     * page aligned alike in both spaces), or NVMX_ERR_BAD_L1_ADDRESS when EPT01 maps nothing
     * there (MMIO, no memory); EPT02 then maps nothing and the access is L0's to handle.
     * EPT02 keeps what it derived from an answer until the embedder calls
     * nvmx_vcpu_ept01_changed (or nvmx_ept01_changed) for that L1 GPA: call it whenever a
     * mapping loses a permission or its host page (vm.h).
     */
    nvmx_status (*ept01_lookup)(void *host_ctx, uint64_t l1_gpa, nvmx_ept01_mapping *out);
    /** Optional (EPT, VMCS pages). Allocate one zeroed 4 KiB page; *host_phys = its address. */
    void *(*page_alloc)(void *host_ctx, uint64_t *host_phys);
    /** Optional. Free a page from page_alloc. */
    void (*page_free)(void *host_ctx, void *page, uint64_t host_phys);

    /**
     * Optional; required for EPT and VPID for L2. Drop the hardware's cached translations
     * `request` names, on this vCPU's logical processor, before the next VM entry. Emulators
     * without a TLB may implement it as nothing. Without it neither EPT nor VPID is exposed.
     * The library asks NVMX_TLB_FLUSH_EPTP of an EPT02 whenever it removes or replaces an
     * entry of it or frees one of its tables (page_free may follow at once: L2 must not run on
     * that EPTP again before the flush).
     */
    void (*tlb_flush)(void *vcpu_ctx, const nvmx_tlb_flush *request);
    /**
     * Optional; required for VPID for L2. Allocate a hardware VPID (1 to 65535) that nobody
     * else uses, for the library to run L2 with; 0 when none is left (the library then shares
     * one it holds, flushing it on each switch).
     */
    uint16_t (*vpid_alloc)(void *host_ctx);
    /** Optional (with vpid_alloc). Give back a VPID from vpid_alloc. */
    void (*vpid_free)(void *host_ctx, uint16_t vpid);

    /**
     * Required for VM entry and exit. Read a field of vmcs01 or vmcs02 (encodings of
     * vmcs_fields.h). The guest-state fields of vmcs01 are L1's state; those of vmcs02 are
     * L2's; the exit-information fields of vmcs02 describe L2's last exit. Hardware hosts
     * access their VMCSs; emulators keep both as plain field stores and run L1 and L2 from
     * them (see docs/ARCHITECTURE.md).
     */
    nvmx_status (*hw_vmcs_read)(void *vcpu_ctx, nvmx_hw_vmcs which, uint32_t field,
                                uint64_t *value);
    /** Required for VM entry and exit. Write a field of vmcs01 or vmcs02. */
    nvmx_status (*hw_vmcs_write)(void *vcpu_ctx, nvmx_hw_vmcs which, uint32_t field,
                                 uint64_t value);

    /**
     * Optional (VM-entry and VM-exit MSR lists, SDM 27.4, 28.4, 28.6). Read an MSR of the vCPU
     * as the guest running at that moment sees it.
     * @return NVMX_OK, or NVMX_ERR_HOST when RDMSR of that index would fault.
     */
    nvmx_status (*msr_read)(void *vcpu_ctx, uint32_t index, uint64_t *value);
    /** Optional. Write an MSR; NVMX_ERR_HOST when WRMSR of that index and value would fault. */
    nvmx_status (*msr_write)(void *vcpu_ctx, uint32_t index, uint64_t value);

    /**
     * Optional (VMX-preemption timer, SDM 26.7). The time-stamp counter as L1 sees it at this
     * moment (what RDTSC executed by L1 would return: the host's TSC with vmcs01's offset, and
     * multiplier if L0 scales it). The library keeps L1's timer deadline for L2 in this clock
     * and converts it into vmcs02's timer value assuming L1's TSC advances no faster than the
     * host's TSC. Without this op the preemption timer is not exposed to L1.
     */
    uint64_t (*tsc_read)(void *vcpu_ctx);

    /** Optional. Receive a log line (NUL-terminated, no newline). */
    void (*log)(void *host_ctx, nvmx_log_level level, const char *message);
} nvmx_host_ops;

#ifdef __cplusplus
}
#endif

#endif
