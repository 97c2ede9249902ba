/* SPDX-License-Identifier: MIT */
/*
 * RDMSR/WRMSR of the running guest. The VMX capability MSRs and IA32_FEATURE_CONTROL are the
 * library's (nvmx_on_l1_exit with reasons 31/32); for L2 the library sees every access first
 * (nvmx_on_l2_exit) and gives back the ones L1 does not intercept. The rest is a small model:
 * the MSRs Unicorn keeps itself are read and written through its MSR interface; every other
 * index raises #GP(0), as an MSR the processor does not implement does (SDM Vol. 2B RDMSR,
 * WRMSR). Unicorn does not check written values against reserved bits: a WRMSR of a
 * reserved EFER or PAT bit is not #GP here (a known deviation).
 */
#include "checkpoint.h"

#include <time.h>

#define MSR_TSC 0x10u /* IA32_TIME_STAMP_COUNTER */

/* The host's time-stamp counter: what Unicorn's own RDTSC returns on an x86 host (measured:
 * its MSR interface reads the TSC as 0, so nestvmx-emu serves every TSC read itself). */
static uint64_t host_tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_ia32_rdtsc();
#else
    struct timespec now;
    timespec_get(&now, TIME_UTC);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
#endif
}

/* SDM 25.6.5: RDTSC and RDMSR of the TSC return the host's TSC plus the offset of the VMCS
 * that runs the guest (vmcs01's offset is L1's: WRMSR to the TSC sets it); in L2 the offset
 * applies only with "use TSC offsetting". */
uint64_t emu_l1_tsc(emu *e)
{
    return host_tsc() + emu_vmcs_get(e, NVMX_HW_VMCS01, NVMX_FIELD_TSC_OFFSET);
}

uint64_t emu_tsc(emu *e)
{
    if (!e->in_l2)
        return host_tsc() + emu_vmcs_get(e, NVMX_HW_VMCS01, NVMX_FIELD_TSC_OFFSET);
    bool offsetting = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL) &
                      NVMX_CTL(TSC_OFFSETTING);
    return host_tsc() + (offsetting ? emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_TSC_OFFSET) : 0);
}

/* WRMSR to the TSC (by L1, or by L2 when L1 lets it) sets L1's TSC: TSC offsetting does not
 * apply to the write (SDM 25.6.5 names RDTSC, RDTSCP and RDMSR only). */
static void set_tsc(emu *e, uint64_t value)
{
    emu_vmcs_set(e, NVMX_HW_VMCS01, NVMX_FIELD_TSC_OFFSET, value - host_tsc());
}

/* MSR indices (SDM Vol. 4, Table 2-2). */
static const uint32_t unicorn_msrs[] = {
    0x174u,      /* IA32_SYSENTER_CS */
    0x175u,      /* IA32_SYSENTER_ESP */
    0x176u,      /* IA32_SYSENTER_EIP */
    0x277u,      /* IA32_PAT */
    0xC0000080u, /* IA32_EFER */
    0xC0000081u, /* IA32_STAR */
    0xC0000082u, /* IA32_LSTAR */
    0xC0000083u, /* IA32_CSTAR */
    0xC0000084u, /* IA32_FMASK */
    0xC0000100u, /* IA32_FS_BASE */
    0xC0000101u, /* IA32_GS_BASE */
    0xC0000102u, /* IA32_KERNEL_GS_BASE */
    0xC0000103u, /* IA32_TSC_AUX */
};

static bool modelled(uint32_t index)
{
    for (size_t i = 0; i < sizeof(unicorn_msrs) / sizeof(unicorn_msrs[0]); i++)
        if (unicorn_msrs[i] == index)
            return true;
    return false;
}

bool emu_msr_read(emu *e, uint32_t index, uint64_t *value)
{
    if (emu_pc_msr_read(e, index, value)) /* the multiboot PC's IA32_APIC_BASE */
        return true;
    if (index == MSR_TSC) {
        *value = emu_tsc(e);
        return true;
    }
    if (!modelled(index))
        return false;
    uc_x86_msr msr = {.rid = index};
    if (uc_reg_read(e->uc, UC_X86_REG_MSR, &msr) != UC_ERR_OK)
        return false;
    *value = msr.value;
    return true;
}

bool emu_msr_write(emu *e, uint32_t index, uint64_t value)
{
    bool pc_ok;
    if (emu_pc_msr_write(e, index, value, &pc_ok))
        return pc_ok;
    if (index == MSR_TSC) {
        set_tsc(e, value);
        return true;
    }
    if (!modelled(index))
        return false;
    uc_x86_msr msr = {.rid = index, .value = value};
    return uc_reg_write(e->uc, UC_X86_REG_MSR, &msr) == UC_ERR_OK;
}

static void raise_gp(emu *e)
{
    e->pending = (nvmx_exception){.vector = NVMX_VECTOR_GP, .has_error_code = true};
    e->stop = EMU_STOP_EXCEPTION;
}

/* The model's RDMSR/WRMSR: EDX:EAX, upper halves of RAX/RDX cleared in 64-bit mode. */
static void model_instruction(emu *e, bool write, uint8_t length)
{
    uint32_t index = (uint32_t)emu_reg(e, UC_X86_REG_RCX);
    uint64_t value = 0;
    if (write) {
        value = (emu_reg(e, UC_X86_REG_RDX) << 32) | (emu_reg(e, UC_X86_REG_RAX) & 0xFFFFFFFFu);
        if (!emu_msr_write(e, index, value)) {
            raise_gp(e);
            return;
        }
    } else {
        if (!emu_msr_read(e, index, &value)) {
            raise_gp(e);
            return;
        }
        uint64_t low = value & 0xFFFFFFFFu, high = value >> 32;
        uc_reg_write(e->uc, UC_X86_REG_RAX, &low);
        uc_reg_write(e->uc, UC_X86_REG_RDX, &high);
    }
    uint64_t rip = emu_reg(e, UC_X86_REG_RIP) + length;
    uc_reg_write(e->uc, UC_X86_REG_RIP, &rip); /* one write: Unicorn continues there */
}

void emu_msr_instruction(emu *e, bool write, uint8_t length)
{
    if (e->in_l2) { /* L0's part of an L2 access L1 does not intercept */
        model_instruction(e, write, length);
        return;
    }
    nvmx_exit exit = {.reason = write ? NVMX_EXIT_WRMSR : NVMX_EXIT_RDMSR,
                      .instruction_length = length};
    nvmx_next next;
    nvmx_status status = nvmx_on_l1_exit(e->vcpu, &exit, &next);
    if (status != NVMX_OK) {
        e->stop = EMU_STOP_FAILURE;
        return;
    }
    uint32_t index = (uint32_t)emu_reg(e, UC_X86_REG_RCX);
    if (next.run == NVMX_RUN_L0_HANDLES)
        model_instruction(e, write, length);
    emu_note_l1_msr(e, write, index,
                    next.run != NVMX_RUN_L0_HANDLES
                        ? (next.exception_vector >= 0 ? "#GP (library)" : "library")
                    : e->stop == EMU_STOP_EXCEPTION ? "#GP (L0)"
                                                    : "L0");
    /* NVMX_RUN_L1: the library completed it (registers, RIP) or injected #GP (e->stop) */
    if (e->stop == EMU_RUNNING) /* L1 goes on in this emulation run: an event here */
        emu_checkpoint_note(e);
}
