/* SPDX-License-Identifier: MIT */
/*
 * The MSR lists of VMX transitions (SDM Vol. 3C 27.4 VM-entry MSR-load, 28.4 VM-exit
 * MSR-store, 28.6 VM-exit MSR-load): tables of 16-byte entries in L1 memory, processed in
 * order, the first entry that fails ending the list.
 *
 * Everything here is L1's and hostile: the count (a 32-bit field), the address and every
 * entry. A list is cut at the recommended maximum of IA32_VMX_MISC, each entry is read from
 * L1 memory exactly once, and memory that is not L1 RAM reads as all ones (such an entry
 * fails on its reserved bits).
 */
#include "../caps_model.h"
#include "vm_exit.h"

/* MSR indices the list rules name (SDM Vol. 4, Table 2-2). */
#define MSR_BIOS_UPDT_TRIG 0x00000079u
#define MSR_SMM_MONITOR_CTL 0x0000009Bu
#define MSR_SMBASE 0x0000009Eu
#define MSR_X2APIC_FIRST 0x00000800u
#define MSR_X2APIC_LAST 0x000008FFu
#define MSR_FS_BASE 0xC0000100u
#define MSR_GS_BASE 0xC0000101u

#define LIST(kind) (1u << (kind))
#define LOAD_LISTS (LIST(MSR_LIST_ENTRY_LOAD) | LIST(MSR_LIST_EXIT_LOAD))
#define ALL_LISTS (LOAD_LISTS | LIST(MSR_LIST_EXIT_STORE))

/* A range of MSR indices on which an entry fails, on the lists of `lists`. */
typedef struct msr_refused {
    uint32_t first, last;
    uint8_t lists;
} msr_refused;

static const msr_refused refused[] = {
    /* 27.4, 28.4, 28.6: bits 31:8 = 000008H, the MSRs that reach APIC registers in x2APIC
     * mode; whatever the APIC mode is. */
    {MSR_X2APIC_FIRST, MSR_X2APIC_LAST, ALL_LISTS},
    /* 27.4, 28.6: IA32_FS_BASE and IA32_GS_BASE (the segment fields load them). */
    {MSR_FS_BASE, MSR_GS_BASE, LOAD_LISTS},
    /* 27.4, 28.6: an MSR writable only in SMM when the transition neither starts nor ends in
     * SMM (the SDM's example is IA32_SMM_MONITOR_CTL); L1 never runs in SMM here. */
    {MSR_SMM_MONITOR_CTL, MSR_SMM_MONITOR_CTL, LOAD_LISTS},
    /* 28.4: an MSR readable only in SMM (the SDM's example is IA32_SMBASE). WRMSR of it
     * faults outside SMM as well, so the load lists refuse it without asking the op. */
    {MSR_SMBASE, MSR_SMBASE, ALL_LISTS},
    /* 27.4, 28.6 let a processor refuse MSRs "for model-specific reasons". The library
     * refuses the microcode-update trigger: L1 cannot start a microcode update in the middle
     * of a VMX transition. */
    {MSR_BIOS_UPDT_TRIG, MSR_BIOS_UPDT_TRIG, LOAD_LISTS},
};

/* Where each list lives in vmcs12 (SDM 25.7.2, 25.8.2) and what to log when it fails. */
typedef struct msr_list_info {
    uint16_t count, address; /* vmcs12 ordinals */
    const char *entry_failed;
    const char *too_long;
} msr_list_info;

static const msr_list_info lists[MSR_LIST_KIND_COUNT] = {
    [MSR_LIST_ENTRY_LOAD] = {VMCS12_ORD_VM_ENTRY_MSR_LOAD_COUNT, VMCS12_ORD_VM_ENTRY_MSR_LOAD_ADDR,
                             "VM-entry MSR-load list: cannot load MSR (SDM 27.4)",
                             "VM-entry MSR-load list longer than IA32_VMX_MISC allows, "
                             "failing entry"},
    [MSR_LIST_EXIT_STORE] = {VMCS12_ORD_VM_EXIT_MSR_STORE_COUNT, VMCS12_ORD_VM_EXIT_MSR_STORE_ADDR,
                             "VM-exit MSR-store list: cannot store MSR (SDM 28.4)",
                             "VM-exit MSR-store list longer than IA32_VMX_MISC allows, "
                             "failing entry"},
    [MSR_LIST_EXIT_LOAD] = {VMCS12_ORD_VM_EXIT_MSR_LOAD_COUNT, VMCS12_ORD_VM_EXIT_MSR_LOAD_ADDR,
                            "VM-exit MSR-load list: cannot load MSR (SDM 28.6)",
                            "VM-exit MSR-load list longer than IA32_VMX_MISC allows, "
                            "failing entry"},
};

uint32_t msr_list_max_entries(const nvmx_vm *vm)
{
    uint32_t n = (uint32_t)((vm->caps.misc & CAPS_MISC_MSR_LIST_MASK) >> CAPS_MISC_MSR_LIST_SHIFT);
    return 512u * (n + 1u);
}

bool msr_entry_allowed(msr_list_kind kind, uint64_t first_quadword)
{
    /* 27.4, 28.4, 28.6: bits 63:32 of the entry are reserved and must be 0. */
    if (first_quadword >> 32)
        return false;
    uint32_t index = (uint32_t)first_quadword;
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(refused); i++) {
        if ((refused[i].lists & LIST(kind)) && index >= refused[i].first &&
            index <= refused[i].last)
            return false;
    }
    return true;
}

static uint32_t list_count(const nvmx_vcpu *vcpu, msr_list_kind kind)
{
    return (uint32_t)vmcs12_get(&vcpu->current->data, lists[kind].count);
}

nvmx_status msr_list_ops_ready(const nvmx_vcpu *vcpu, msr_list_kind kind)
{
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    bool has_op = kind == MSR_LIST_EXIT_STORE ? ops->msr_read != NULL : ops->msr_write != NULL;
    if (has_op || list_count(vcpu, kind) == 0)
        return NVMX_OK;
    vm_log(vcpu->vm, NVMX_LOG_ERROR,
           "L1 uses a VMX MSR list: the msr_read and msr_write ops are needed (SDM 27.4, 28.4, "
           "28.6)");
    return NVMX_ERR_UNSUPPORTED;
}

/* Read entry i of the list at `base` once, whole. An entry outside L1 RAM, or whose address
 * would wrap past 2^64, reads as all ones. *gpa is the entry's address. */
static void entry_read(const nvmx_vm *vm, uint64_t base, uint32_t i, uint64_t entry[2],
                       uint64_t *gpa)
{
    uint64_t offset = (uint64_t)i * MSR_ENTRY_SIZE;
    bool wraps = base > UINT64_MAX - offset - (MSR_ENTRY_SIZE - 1);
    *gpa = base + offset;
    if (wraps || vm->ops.l1_read(vm->host_ctx, *gpa, entry, MSR_ENTRY_SIZE) != NVMX_OK)
        nvmx_memset(entry, 0xFF, MSR_ENTRY_SIZE);
}

/* Process one entry. The ops answer whether RDMSR/WRMSR at CPL 0 would fault; any status but
 * NVMX_OK is taken as that fault (27.4, 28.4, 28.6: the entry fails). */
static bool entry_process(nvmx_vcpu *vcpu, msr_list_kind kind, const uint64_t entry[2],
                          uint64_t gpa)
{
    const nvmx_vm *vm = vcpu->vm;
    uint32_t index = (uint32_t)entry[0];
    if (!msr_entry_allowed(kind, entry[0]))
        return false;
    if (kind != MSR_LIST_EXIT_STORE)
        /* Bits 127:64 "as they would be written by WRMSR". */
        return vm->ops.msr_write(vcpu->ctx, index, entry[1]) == NVMX_OK;
    uint64_t value;
    if (vm->ops.msr_read(vcpu->ctx, index, &value) != NVMX_OK)
        return false;
    /* 28.4: the value "as it would be read by RDMSR" goes to bits 127:64. The entry was read
     * from L1 RAM, so its second half is RAM as well. */
    (void)vm->ops.l1_write(vm->host_ctx, gpa + 8, &value, sizeof(value));
    return true;
}

uint32_t msr_list_process(nvmx_vcpu *vcpu, msr_list_kind kind)
{
    const msr_list_info *list = &lists[kind];
    uint32_t count = list_count(vcpu, kind);
    uint64_t base = vmcs12_get(&vcpu->current->data, list->address);
    uint32_t max = msr_list_max_entries(vcpu->vm);
    for (uint32_t i = 0; i < count; i++) {
        /* A.6 recommends at most `max` entries and leaves longer lists undefined; the entry
         * after the last one allowed fails, so a hostile count costs at most max + 1 reads. */
        if (i >= max) {
            vm_log_hex(vcpu->vm, NVMX_LOG_INFO, list->too_long, (uint64_t)i + 1);
            return i + 1;
        }
        uint64_t entry[2], gpa;
        entry_read(vcpu->vm, base, i, entry, &gpa);
        if (!entry_process(vcpu, kind, entry, gpa)) {
            vm_log_hex(vcpu->vm, NVMX_LOG_INFO, list->entry_failed, entry[0]);
            return i + 1;
        }
    }
    return 0;
}

/* SDM 27.4. The msr_write op acts on the guest running at that moment: the caller decides
 * whether that is already L2. *host_error is NVMX_ERR_STATE without a current VMCS and
 * NVMX_ERR_UNSUPPORTED for a non-empty list without the msr_write op (then nothing is
 * loaded and 0 is returned); every other failure is architectural: the returned index. */
uint32_t entry_msr_load(nvmx_vcpu *vcpu, nvmx_status *host_error)
{
    if (!vcpu->current) {
        *host_error = NVMX_ERR_STATE;
        return 0;
    }
    *host_error = msr_list_ops_ready(vcpu, MSR_LIST_ENTRY_LOAD);
    if (*host_error != NVMX_OK)
        return 0;
    return msr_list_process(vcpu, MSR_LIST_ENTRY_LOAD);
}
