/* SPDX-License-Identifier: MIT */
/*
 * Library-internal types shared by the units of lib/. Not installed.
 * Each section names the unit that owns the functions it declares.
 */
#ifndef NESTVMX_LIB_INTERNAL_H
#define NESTVMX_LIB_INTERNAL_H

#include <nestvmx/nestvmx.h>

#include "arch.h"
#include "freestanding.h"
#include "vmcs/vmcs12.h"

/* ---- VM and vCPU (lib/vm.c, lib/vcpu.c) ---------------------------------------------- */

struct nvmx_vm {
    nvmx_host_ops ops;
    void *host_ctx;
    bool vmx_exposed;
    nvmx_vmx_caps caps;      /* exposed to L1; all zero when VMX is not exposed */
    uint8_t phys_addr_width; /* L1's MAXPHYADDR */
    uint32_t max_cached_vmcs;
    uint32_t max_ept02_pages; /* EPT02 table pages per vCPU (lib/ept/ept02.c) */
    uint32_t max_vpid02;      /* hardware VPIDs per vCPU for L2 (lib/vpid02.c) */
    uint64_t feature_control_at_reset;
    nvmx_l0_controls l0;     /* what L0 needs in every vmcs02 */
    uint8_t host_timer_rate; /* IA32_VMX_MISC[4:0] of the host: vmcs02's timer rate (A.6) */
    uint32_t vcpu_count;
    struct nvmx_vcpu *vcpus; /* every vCPU of the VM, linked by next_in_vm (nvmx_ept01_changed) */
    /* One bit per entry of the field table: the field exists for this VM's L1. */
    uint64_t field_exists[VMCS12_FIELD_WORDS];
    /* One bit per guest-state field that exists: what vmcs02 copies from vmcs12. */
    uint64_t guest_fields[VMCS12_FIELD_WORDS];
    /* The vmcs12 fields the control and host-state entry checks read (entry_checks_memo). */
    uint64_t entry_memo_inputs[VMCS12_FIELD_WORDS];
};

/* A VM exit to L1 that an L2 event calls for: the data L1 will find in vmcs12's exit-information
 * fields (SDM 28.2). Performing the exit (state save and host-state load) comes with VM-entry
 * support; until then the data is recorded here. */
typedef struct nested_exit {
    bool pending;
    uint32_t reason; /* the whole exit-reason field: basic reason and bits 27-31 (SDM 28.2.1) */
    uint64_t qualification;
    uint32_t instruction_info;
    uint32_t instruction_length;
    uint32_t interruption_info;
    uint32_t interruption_error_code;
    uint32_t idt_vectoring_info;
    uint32_t idt_vectoring_error_code;
    uint64_t guest_linear_address;
    uint64_t guest_physical_address;
} nested_exit;

/* The EPT02s a vCPU built (lib/ept/ept02.c): roots indexed by EPT12 root (uthash), the
 * number of table pages they hold (at most vm->max_ept02_pages) and an LRU clock. */
typedef struct ept02_cache {
    struct ept02_root *roots;
    uint32_t pages;
    uint32_t root_count;
    uint64_t clock;
} ept02_cache;

/* vmcs02's merged MSR bitmap (lib/vmcs/msr_bitmap02.c): a page_alloc page, NULL when L0 has
 * no MSR policy for L2, and the merge's working memory (mem_alloc). */
typedef struct msr_bitmap02 {
    uint64_t *page;
    uint64_t hpa;
    struct msr_bitmap02_work *work;
    bool relist; /* L0's policy is new or changed: list its pass-through words again */
} msr_bitmap02;
/* The VPIDs a vCPU runs L2 with (lib/vpid02.c): slot i serves L1's VPID `vpid12` (0: an L2
 * whose vmcs12 does not enable VPID, "VPID 0" in L1's view) with the hardware VPID `vpid02`
 * (0: the slot is free). At most vm->max_vpid02 slots are used. */
typedef struct vpid02_slot {
    uint16_t vpid12;
    uint16_t vpid02;
    uint64_t last_use;
} vpid02_slot;

typedef struct vpid02_map {
    vpid02_slot slot[NVMX_MAX_VPID02_LIMIT];
    uint32_t count; /* slots holding a hardware VPID */
    uint64_t clock;
} vpid02_map;

struct nvmx_vcpu {
    nvmx_vm *vm;
    void *ctx;
    bool vmx_operation; /* between VMXON and VMXOFF (SDM 24.7) */
    bool guest_mode;    /* VMX non-root operation: L2 runs */
    uint64_t vmxon_ptr;
    uint64_t current_vmptr;        /* NVMX_INVALID_VMPTR when none (SDM 25.1) */
    struct vmcs12_cached *current; /* cache entry of current_vmptr, or NULL */
    struct vmcs12_cache cache;     /* every vmcs12 the vCPU holds (lib/vmcs/vmcs12_cache.c) */
    ept02_cache ept02;             /* shadow EPTs for L2 (lib/ept/ept02.c) */
    msr_bitmap02 msr_bitmap02;     /* vmcs02's MSR bitmap (lib/vmcs/msr_bitmap02.c) */
    vpid02_map vpid02;             /* hardware VPIDs for L2 (lib/vpid02.c) */
    uint64_t feature_control;      /* IA32_FEATURE_CONTROL of this logical processor */
    nested_exit pending_exit;      /* the exit to L1 the last L2 event called for */
    uint64_t vmcs02_source;        /* vmcs12 vmcs02 was last built from; all ones = none */
    /* The vmcs12 (cache node) the control and host-state entry checks last passed on, and the
     * inputs of theirs that are not vmcs12 fields (lib/vmcs/entry_checks.c, the memo). */
    struct {
        const void *node;
        bool l1_ia32e;
        uint8_t vtpr;
    } entry_memo;
    /* L1's VMX-preemption timer while L2 runs (lib/exits/preemption_timer.c): active when the
     * last VM entry had "activate VMX-preemption timer"; deadline in L1's TSC. Meaningful
     * only in guest mode: VMXOFF cannot happen there, and every entry re-arms it. */
    bool timer_active;
    uint64_t timer_deadline;
    /* nvmx_l2_gpa_to_l1 met an EPT12 fault during the translate op (lib/exits/ept_exits.c):
     * the EPT exit to L1 it recorded in pending_exit, or a repeat after lost A/D races. */
    uint8_t ept12_operand_fault; /* ept12_operand_fault values, 0 = none */
    /* The last VM entry injected a pending MTF VM exit (type 7, vector 0; SDM 27.6.2): the
     * next MTF exit is L1's even without the "monitor trap flag" control. */
    bool mtf_injected;
    /* L2 is parked (lib/exits/activity.c): NVMX_ACTIVITY_SHUTDOWN or NVMX_ACTIVITY_WAIT_SIPI
     * after a non-vectoring VM entry in that state, until a VM exit or an NMI leaving
     * shutdown; 0 (active) otherwise. vmcs02 is never entered meanwhile. */
    uint8_t parked;
    /* The next vCPU of vm->vcpus (nvmx_ept01_changed). */
    struct nvmx_vcpu *next_in_vm;
};

#define NVMX_INVALID_VMPTR UINT64_MAX

/* Allocation and logging through the ops (lib/vm.c). */
void *vm_alloc(nvmx_vm *vm, size_t size);
void vm_free(nvmx_vm *vm, void *ptr, size_t size);
void vm_log(const nvmx_vm *vm, nvmx_log_level level, const char *message);
/* Log "prefix: text" with one unsigned number appended in hex; no libc formatting here. */
void vm_log_hex(const nvmx_vm *vm, nvmx_log_level level, const char *message, uint64_t value);
/* Log the concatenation of `count` strings (cut to one line of at most 255 bytes). */
void vm_log_parts(const nvmx_vm *vm, nvmx_log_level level, const char *const *parts,
                  unsigned count);

/* ---- Capabilities (lib/capabilities.c, lib/msr.c) ------------------------------------ */

/* Compute the exposed set from config; fills vm->caps and vm->vmx_exposed, logs why on error. */
nvmx_status capabilities_compute(nvmx_vm *vm, const nvmx_vm_config *config);
/* The capability register value a feature lives in, from an exposed set: for control
 * registers the 32-bit allowed-1 mask (so `(reg >> bit) & 1` tests a feature bit), else the
 * 64-bit MSR value; 0 for a reg outside the enum. Default1 controls are always allowed-1:
 * whether L1 may clear one is nvmx_vm_has_feature() (lib/caps_model.h for the model). */
uint64_t capabilities_register(const nvmx_vmx_caps *caps, nvmx_cap_reg reg);

/* RDMSR/WRMSR of VMX MSRs and IA32_FEATURE_CONTROL (lib/msr.c).
 * Returns MSR_HANDLED (value read / write done), MSR_GP (raise #GP(0)) or MSR_NOT_OURS. */
typedef enum msr_result { MSR_HANDLED, MSR_GP, MSR_NOT_OURS } msr_result;
msr_result vmx_msr_read(nvmx_vcpu *vcpu, uint32_t index, uint64_t *value);
msr_result vmx_msr_write(nvmx_vcpu *vcpu, uint32_t index, uint64_t value);
/* The VMX capability MSRs, indexes NVMX_MSR_IA32_VMX_BASIC + 0 .. + vmx_cap_msr_count - 1:
 * the value of the i-th in a capability set, and setting it (for the state format). */
extern const unsigned vmx_cap_msr_count;
uint64_t vmx_cap_msr_value(const nvmx_vmx_caps *caps, unsigned i);
void vmx_cap_msr_set(nvmx_vmx_caps *caps, unsigned i, uint64_t value);

/* ---- VM exits to L1 (lib/exits/vm_exit.c, lib/exits/load_host_state.c, msr_lists.c) ---- */

/* The VM exit from L2 to L1 that `exit` describes, as hardware performs it (SDM 28.1-28.7):
 * record the exit information in vmcs12 (vcpu->current), save L2's guest state from vmcs02,
 * store the VM-exit MSR-store list, load L1's host state from vmcs12 into vmcs01, load the
 * VM-exit MSR-load list. Leaves the vCPU in root operation. *run = NVMX_RUN_L1, or
 * NVMX_RUN_SHUTDOWN_L1 after a VMX abort (28.7). Errors only for op failures. */
nvmx_status vm_exit_to_l1(nvmx_vcpu *vcpu, const nested_exit *exit, nvmx_run *run);
/* A VM-entry failure during or after loading guest state (SDM 27.8): exit reason
 * `basic_reason` | bit 31 (33: invalid guest state, 34: MSR loading) and the qualification
 * in vmcs12, other exit information unchanged, guest state not saved, no MSR store; host
 * state loaded and the VM-exit MSR-load list processed as for a VM exit. */
nvmx_status vm_entry_failure_exit(nvmx_vcpu *vcpu, uint32_t basic_reason, uint64_t qualification,
                                  nvmx_run *run);
/* Load the VM-entry MSR-load list of vcpu->current (SDM 27.4). Returns 0 when every entry
 * loaded, else the 1-based index of the failing entry (nothing after it is loaded). */
uint32_t entry_msr_load(nvmx_vcpu *vcpu, nvmx_status *host_error);

/* ---- VMX-preemption timer of L1 (lib/exits/preemption_timer.c, SDM 26.7) ------------ */

/* At VM entry to L2 (before vmcs02 is written): records L1's deadline when vmcs12 activates
 * the timer, else marks it inactive. */
void preemption_timer_arm(nvmx_vcpu *vcpu);
/* Whether L1's timer is active and its deadline has passed (a reason-52 exit is L1's). */
bool preemption_timer_expired(const nvmx_vcpu *vcpu);
/* The value L1's timer holds now, in L1's units (0 once the deadline passed): what a VM exit
 * with "save VMX-preemption-timer value" stores (28.3.4). */
uint32_t preemption_timer_remaining(const nvmx_vcpu *vcpu);
/* Write vmcs02's timer value so that the hardware timer fires no later than L1's deadline
 * (merged as the minimum with L0's value when L0 runs its own timer). No-op when L1's timer
 * is inactive. NVMX_ERR_HOST when an op fails. */
nvmx_status preemption_timer_write_vmcs02(nvmx_vcpu *vcpu);

/* ---- Activity states shutdown and wait-for-SIPI of L2 (lib/exits/activity.c) ---------- */

/* At a VM entry to L2, after vmcs02_build: vmcs02 never holds shutdown or wait-for-SIPI (it
 * gets active; the library keeps the state, SDM 27.7.2), and a non-vectoring entry in one of
 * them parks L2. NVMX_ERR_HOST when an op fails. */
nvmx_status activity_enter(nvmx_vcpu *vcpu);
/* The activity state a VM exit saves (SDM 28.3.4), given vmcs02's. */
uint64_t activity_saved(const nvmx_vcpu *vcpu, uint64_t vmcs02_state);

/* ---- Exit reflection (lib/exits/reflect.c) ------------------------------------------ */

/* Does L1 (vmcs12 = vcpu->current) want this exit of L2, per its controls, bitmaps, masks
 * (SDM 26.1, 26.2, "Instructions That Cause VM Exits" / "Other Causes of VM Exits")?
 * false = L0 caused it and handles it. Guest registers are L2's (reg ops). */
bool exit_wanted_by_l1(nvmx_vcpu *vcpu, const nvmx_exit *exit);
/* The name of the reflection rule for a basic exit reason, NULL if the reason has none. */
const char *exit_reflection_rule_name(uint32_t basic_reason);
/* Bit `index` of a bitmap L1 keeps in its memory at bitmap_gpa (I/O, MSR, VMREAD and VMWRITE
 * bitmaps, SDM 25.6.4, 25.6.9, 25.6.15): one byte is read; memory that is not L1 RAM reads as
 * all ones, so the bit is set and the access exits to L1. */
bool l1_bitmap_bit(const nvmx_vm *vm, uint64_t bitmap_gpa, uint64_t index);

/* ---- EPT12 faults of operand accesses by L2 (lib/exits/ept_exits.c) ----------------- */

/* What nvmx_l2_gpa_to_l1 found (vcpu->ept12_operand_fault). guest_linear_read/write report it
 * as NVMX_ERR_BAD_L1_ADDRESS with a fault whose vector is one of the OPERAND_* values below
 * (never an exception vector); vmx_fault turns them into the outcome. */
enum ept12_operand_fault {
    EPT12_OPERAND_NONE = 0,
    EPT12_OPERAND_EXIT,  /* an EPT violation/misconfiguration VM exit is in pending_exit */
    EPT12_OPERAND_RETRY, /* lost A/D races: L2 repeats the instruction, nothing happened */
};
#define OPERAND_EPT12_EXIT_VECTOR 0xFFu
#define OPERAND_EPT12_RETRY_VECTOR 0xFEu

/* ---- CPU mode (lib/cpu_mode.c) ------------------------------------------------------- */

typedef enum cpu_mode {
    CPU_MODE_REAL,
    CPU_MODE_V8086,
    CPU_MODE_PROTECTED16, /* CS.D = 0 */
    CPU_MODE_PROTECTED32, /* CS.D = 1 */
    CPU_MODE_COMPAT16,    /* IA-32e, CS.L = 0, CS.D = 0 */
    CPU_MODE_COMPAT32,    /* IA-32e, CS.L = 0, CS.D = 1 */
    CPU_MODE_LONG64,      /* IA-32e, CS.L = 1 */
} cpu_mode;

cpu_mode cpu_mode_of(const nvmx_vcpu *vcpu);
/* CPL as the VMX instructions see it: SS.DPL in protected and long mode (SDM 25.4.1). */
unsigned cpu_cpl(const nvmx_vcpu *vcpu);

/* ---- VMCS shadowing (lib/exits/vmread_vmwrite.c) -------------------------------------- */

/* The field-encoding operand of VMREAD/VMWRITE in GPR `reg`: 64 bits in 64-bit mode, else the
 * low 32 (SDM 31.3). */
uint64_t vmcs_encoding_operand(const nvmx_vcpu *vcpu, cpu_mode mode, unsigned reg);
/* In VMX non-root operation: does VMREAD (write = false) or VMWRITE of `encoding` exit to L1,
 * per the "VMCS shadowing" control and the VMREAD/VMWRITE bitmaps of vcpu->current
 * (SDM 26.1.3, 25.6.15)? The one decision for L2's VMREAD/VMWRITE, used by the instruction
 * handlers and by exit reflection. */
bool vmcs_shadowing_exits_to_l1(const nvmx_vcpu *vcpu, bool write, uint64_t encoding);

/* ---- VMX instruction operands (lib/exits/instruction_info.c, lib/decode.c) ----------- */

/* A memory operand as the instruction encodes it, before segmentation. */
typedef struct vmx_memory_operand {
    uint8_t segment; /* nvmx_seg */
    bool has_base;
    uint8_t base; /* nvmx_reg GPR number */
    bool has_index;
    uint8_t index;        /* nvmx_reg GPR number */
    uint8_t scale_log2;   /* 0-3 */
    uint8_t address_size; /* in bytes: 2, 4 or 8 */
    int64_t displacement; /* sign-extended */
    /* RIP-relative addressing (64-bit mode, SDM Vol. 2A 2.2.1.6); only vmx_instruction_decode
     * sets it, with has_base and has_index false. The CPU adds the RIP of the *next*
     * instruction; decode folds the instruction length into displacement, so the effective
     * address is RIP + displacement with RIP still pointing at the instruction itself (as it
     * does when the exit is handled). Hardware never reports this form: it stores next RIP +
     * disp32 in the exit qualification (SDM 28.2.1) and, RIP having no register number, base
     * and index invalid (the SDM does not spell out bits 22/27 for this case; the
     * qualification is the whole address). vmx_instruction_from_info reads that as a
     * base-less absolute displacement. */
    bool rip_relative;
} vmx_memory_operand;

/* A decoded VMX instruction, whichever way it was obtained. */
typedef struct vmx_instruction {
    uint32_t exit_reason; /* which instruction, as its exit reason (NVMX_EXIT_VMREAD, ...) */
    uint8_t length;       /* instruction length in bytes */
    /* The ModRM r/m operand: VMREAD destination, VMWRITE source, the 64-bit memory operand of
     * VMXON/VMCLEAR/VMPTRLD/VMPTRST, the 128-bit descriptor of INVEPT/INVVPID. */
    bool rm_is_register;
    uint8_t rm_register; /* nvmx_reg GPR number when rm_is_register */
    vmx_memory_operand memory;
    /* The ModRM reg operand: VMREAD/VMWRITE field encoding, INVEPT/INVVPID type. */
    uint8_t reg; /* nvmx_reg GPR number */
} vmx_instruction;

/* Which operands a VMX instruction has, by exit reason (SDM 28.2.5, Tables 28-12 to 28-14). */
typedef enum vmx_operand_form {
    VMX_FORM_NONE,           /* VMCALL, VMLAUNCH, VMRESUME, VMXOFF, VMFUNC */
    VMX_FORM_MEMORY,         /* VMXON, VMCLEAR, VMPTRLD, VMPTRST: one 64-bit memory operand */
    VMX_FORM_RM_AND_REG,     /* VMREAD, VMWRITE: r/m (register or memory) and a register */
    VMX_FORM_MEMORY_AND_REG, /* INVEPT, INVVPID: 128-bit memory descriptor and a register */
} vmx_operand_form;
/* The form of the VMX instruction behind exit_reason; false for any other reason. */
bool vmx_instruction_form(uint32_t exit_reason, vmx_operand_form *form);

/* From the VM-exit instruction-information field and exit qualification (SDM 28.2.5,
 * Tables 28-12 to 28-14). Unknown reason or malformed info -> NVMX_ERR_INVALID_ARGUMENT. */
nvmx_status vmx_instruction_from_info(uint32_t exit_reason, uint64_t qualification,
                                      uint32_t instruction_info, uint32_t length,
                                      vmx_instruction *out);
/* The instruction-information field and exit qualification hardware would report for insn,
 * for reflecting an L2 VMX instruction to L1; bits the SDM leaves undefined are 0. rip is the
 * address of the instruction (guest RIP at the exit): a rip_relative operand is reported as
 * hardware reports it, base and index invalid and qualification = rip + displacement
 * (SDM 28.2.1); other operands ignore rip. */
void vmx_instruction_to_info(const vmx_instruction *insn, uint64_t rip, uint32_t *instruction_info,
                             uint64_t *qualification);
/* Decode instruction bytes with Zydis (lib/decode.c). Not a VMX instruction -> NVMX_ERR_DECODE;
 * built without Zydis -> NVMX_ERR_UNSUPPORTED. */
nvmx_status vmx_instruction_decode(const uint8_t *bytes, size_t length, cpu_mode mode,
                                   vmx_instruction *out);

/* ---- Guest memory through linear addresses (lib/exits/operand_memory.c) --------------- */

/* The linear address of a memory operand of `size` bytes (1 to GUEST_LINEAR_MAX_LEN), with
 * the segmentation checks of SDM Vol. 3A 5.3 / 3.4.5 and the canonical check in 64-bit mode.
 * On a fault returns NVMX_ERR_BAD_L1_ADDRESS with *fault = #GP(0) or #SS(0); an operand no
 * instruction can encode (segment > GS, register > R15, address size not 2/4/8) gives
 * NVMX_ERR_INVALID_ARGUMENT. */
nvmx_status operand_linear_address(nvmx_vcpu *vcpu, const vmx_memory_operand *operand, size_t size,
                                   nvmx_access access, uint64_t *linear, nvmx_exception *fault);
/* Read/write guest memory by linear address (split at page boundaries, translated through the
 * translate op). A translation fault returns NVMX_ERR_BAD_L1_ADDRESS with *fault set. All
 * pages are translated before any byte is accessed, so a faulting write changes nothing and a
 * faulting read touches no memory. Outside 64-bit mode linear addresses wrap at 4 GiB.
 * Guest-physical pages that are not L1 RAM (l1_read/l1_write report NVMX_ERR_BAD_L1_ADDRESS)
 * read as all ones and drop writes, as unbacked physical memory does. len is at most
 * GUEST_LINEAR_MAX_LEN (the access then spans at most two pages), else
 * NVMX_ERR_INVALID_ARGUMENT; a failing op other than a fault gives NVMX_ERR_HOST. */
#define GUEST_LINEAR_MAX_LEN 4096u
nvmx_status guest_linear_read(nvmx_vcpu *vcpu, uint64_t linear, void *buf, size_t len,
                              nvmx_exception *fault);
nvmx_status guest_linear_write(nvmx_vcpu *vcpu, uint64_t linear, const void *buf, size_t len,
                               nvmx_exception *fault);
/* Read/write the r/m operand of insn (register or memory) of `size` bytes (4 or 8): computes
 * the address, checks segmentation, translates and accesses. A register operand of size 4 is
 * its low 32 bits; writing it zero-extends into the 64-bit register. Call before RIP is
 * advanced (a rip_relative operand is relative to the instruction's own RIP). */
nvmx_status operand_read(nvmx_vcpu *vcpu, const vmx_instruction *insn, size_t size, uint64_t *value,
                         nvmx_exception *fault);
nvmx_status operand_write(nvmx_vcpu *vcpu, const vmx_instruction *insn, size_t size, uint64_t value,
                          nvmx_exception *fault);
/* Read the 128-bit memory operand of insn (the INVEPT/INVVPID descriptor) in one access:
 * out[0] = bits 63:0, out[1] = bits 127:64. Same faults as operand_read; a register operand
 * is NVMX_ERR_INVALID_ARGUMENT. */
nvmx_status operand_read_m128(nvmx_vcpu *vcpu, const vmx_instruction *insn, uint64_t out[2],
                              nvmx_exception *fault);

#endif
