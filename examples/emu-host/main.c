/* SPDX-License-Identifier: MIT */
/*
 * nestvmx-emu IMAGE [--mem SIZE] [--budget N]: the software L0. It boots a static ELF64 L1 image on
 * the Unicorn CPU emulator (>= 2.1) in the L1 contract of docs/ARCHITECTURE.md and is a real
 * embedder of libnestvmx: L1's VMX instructions raise #UD in Unicorn (UC_HOOK_INSN_INVALID)
 * and go to nvmx_on_l1_exit as instruction bytes.
 *
 * RDMSR/WRMSR, HLT and (in L2) CPUID, RDTSC and I/O are found by a code hook (trap.c); L2
 * runs from vmcs02 and its exits go to nvmx_on_l2_exit (l2.c, state.c).
 */
#include "checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MEM (64 * EMU_MIB)
#define MIN_MEM (2 * EMU_MIB)
#define MAX_MEM (4096 * EMU_MIB) /* the identity-mapped range */
#define RFLAGS_IF (1ull << 9)
#define COM1_DATA 0x3F8u
#define COM1_LINE_STATUS 0x3FDu
#define LINE_STATUS_TX_EMPTY 0x60u /* THR empty, transmitter empty */
#define EXIT_PORT 0xF4u

/* ---- the ops: L1's RAM, Unicorn's registers, vmcs01/vmcs02 as field stores ---- */

static void *op_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return aligned_alloc(16, (size + 15) & ~(size_t)15);
}
static void op_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    (void)size;
    free(p);
}
static nvmx_status op_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    uint8_t *ram = emu_ram_at(ctx, gpa, len);
    if (!ram)
        return NVMX_ERR_BAD_L1_ADDRESS;
    memcpy(buf, ram, len);
    return NVMX_OK;
}
static nvmx_status op_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    uint8_t *ram = emu_ram_at(ctx, gpa, len);
    if (!ram)
        return NVMX_ERR_BAD_L1_ADDRESS;
    memcpy(ram, buf, len);
    return NVMX_OK;
}

/* L1's paging, walked by Unicorn's MMU. A failed walk is a #PF (the error code is an
 * approximation: Unicorn does not say whether the page was present). */
static nvmx_status op_translate(void *ctx, uint64_t la, nvmx_access access, uint64_t *gpa,
                                nvmx_exception *fault)
{
    emu *e = ctx;
    if (e->in_l2) /* L2's paging, then L1's EPT12 when vmcs12 has EPT (l2_memory.c) */
        return emu_l2_translate(e, la, access, gpa, fault);
    uc_prot prot = access == NVMX_ACCESS_WRITE ? UC_PROT_WRITE : UC_PROT_READ;
    if (uc_vmem_translate(e->uc, la, prot, gpa) == UC_ERR_OK)
        return NVMX_OK;
    *fault = (nvmx_exception){.vector = 14,
                              .has_error_code = true,
                              .error_code = access == NVMX_ACCESS_WRITE ? 2u : 0u,
                              .cr2 = la};
    return NVMX_ERR_BAD_L1_ADDRESS;
}

static int uc_reg_of(nvmx_reg reg)
{
    if ((unsigned)reg < 16)
        return emu_uc_gpr((unsigned)reg);
    switch (reg) {
    case NVMX_REG_RIP:
        return UC_X86_REG_RIP;
    case NVMX_REG_RFLAGS:
        return UC_X86_REG_RFLAGS;
    case NVMX_REG_CR0:
        return UC_X86_REG_CR0;
    case NVMX_REG_CR3:
        return UC_X86_REG_CR3;
    case NVMX_REG_CR4:
        return UC_X86_REG_CR4;
    default:
        return UC_X86_REG_INVALID;
    }
}

static uint64_t op_reg_get(void *ctx, nvmx_reg reg)
{
    emu *e = ctx;
    if (reg == NVMX_REG_EFER) {
        uc_x86_msr efer = {.rid = 0xC0000080u};
        uc_reg_read(e->uc, UC_X86_REG_MSR, &efer);
        return efer.value;
    }
    uint64_t value = 0;
    uc_reg_read(e->uc, uc_reg_of(reg), &value);
    return value;
}
static void op_reg_set(void *ctx, nvmx_reg reg, uint64_t value)
{
    emu *e = ctx;
    if (reg == NVMX_REG_EFER) {
        uc_x86_msr efer = {.rid = 0xC0000080u, .value = value};
        uc_reg_write(e->uc, UC_X86_REG_MSR, &efer);
        return;
    }
    uc_reg_write(e->uc, uc_reg_of(reg), &value);
}
static void op_segment_get(void *ctx, nvmx_seg seg, nvmx_segment *out)
{
    emu_segment(ctx, seg, out);
}

/* The library raises an exception in L1 (a fault of the trapped instruction): emulation stops
 * and the main loop delivers it. */
static void op_inject(void *ctx, const nvmx_exception *exception)
{
    emu *e = ctx;
    e->pending = *exception;
    e->stop = EMU_STOP_EXCEPTION;
}

static uint64_t *vmcs_slot(emu *e, nvmx_hw_vmcs which, uint32_t field)
{
    int index = nvmx_vmcs_field_index(field);
    if (index < 0 || (which != NVMX_HW_VMCS01 && which != NVMX_HW_VMCS02))
        return NULL;
    return &e->vmcs[which][index];
}
static nvmx_status op_vmcs_read(void *ctx, nvmx_hw_vmcs which, uint32_t field, uint64_t *value)
{
    const uint64_t *slot = vmcs_slot(ctx, which, field);
    if (!slot)
        return NVMX_ERR_INVALID_ARGUMENT;
    *value = NVMX_FIELD_HIGH_ACCESS(field) ? *slot >> 32 : *slot;
    return NVMX_OK;
}
static nvmx_status op_vmcs_write(void *ctx, nvmx_hw_vmcs which, uint32_t field, uint64_t value)
{
    emu *e = ctx;
    /* The library loads L1's host state into vmcs01 (a VM exit, also a VM-entry failure
     * after VMLAUNCH/VMRESUME, SDM 27.8): L1 must be reloaded from there. */
    if (which == NVMX_HW_VMCS01 && field == NVMX_FIELD_GUEST_RIP)
        e->l1_state_loaded = true;
    uint64_t *slot = vmcs_slot(ctx, which, field);
    if (!slot)
        return NVMX_ERR_INVALID_ARGUMENT;
    *slot = NVMX_FIELD_HIGH_ACCESS(field) ? (*slot & 0xFFFFFFFFull) | (value << 32) : value;
    return NVMX_OK;
}
/* VM-entry and VM-exit MSR lists (SDM 27.4, 28.4, 28.6): the MSRs of the guest Unicorn runs
 * at that moment, through the same model as RDMSR/WRMSR (msr.c). A limit: an entry list's value
 * for an MSR that vmcs02's guest-state area also holds (EFER, PAT, SYSENTER, FS/GS base) is
 * overwritten when L2's state is loaded from vmcs02 afterwards. */
static nvmx_status op_msr_read(void *ctx, uint32_t index, uint64_t *value)
{
    emu *e = ctx;
    if (index == 0x10u) { /* IA32_TSC in a list is the TSC itself, L1's: TSC offsetting applies
                             only to L2's RDTSC, RDTSCP and RDMSR (SDM 25.6.5) */
        bool in_l2 = e->in_l2;
        e->in_l2 = false;
        *value = emu_tsc(e);
        e->in_l2 = in_l2;
        return NVMX_OK;
    }
    return emu_msr_read(e, index, value) ? NVMX_OK : NVMX_ERR_HOST;
}
static nvmx_status op_msr_write(void *ctx, uint32_t index, uint64_t value)
{
    return emu_msr_write(ctx, index, value) ? NVMX_OK : NVMX_ERR_HOST;
}
static void op_log(void *ctx, nvmx_log_level level, const char *message)
{
    (void)ctx;
    if (level <= NVMX_LOG_WARN)
        fprintf(stderr, "nestvmx-emu: libnestvmx: %s\n", message);
}

static const nvmx_host_ops ops = {
    .mem_alloc = op_alloc,
    .mem_free = op_free,
    .l1_read = op_read,
    .l1_write = op_write,
    .translate = op_translate,
    .reg_get = op_reg_get,
    .reg_set = op_reg_set,
    .segment_get = op_segment_get,
    .inject_exception = op_inject,
    .hw_vmcs_read = op_vmcs_read,
    .hw_vmcs_write = op_vmcs_write,
    .msr_read = op_msr_read,
    .msr_write = op_msr_write,
    .log = op_log,
};

/* ---- hooks ---- */

/* The contract's ports: COM1 to standard output, 0xF4 ends the run, the rest reads as all
 * ones and ignores writes. */
uint32_t emu_port_in(unsigned port, int size)
{
    if (port == COM1_LINE_STATUS)
        return LINE_STATUS_TX_EMPTY;
    return size == 1 ? 0xFFu : size == 2 ? 0xFFFFu : 0xFFFFFFFFu;
}

bool emu_port_out(emu *e, unsigned port, uint32_t value)
{
    if (emu_pc_out(e, port, value)) /* the multiboot PC's devices */
        return false;
    if (port == COM1_DATA) {
        putchar((int)(value & 0xFF));
    } else if (port == EXIT_PORT) {
        e->exit_status = (int)(value & 0xFF);
        e->stop = EMU_STOP_EXIT;
        return true;
    }
    return false;
}

static uint32_t on_in(uc_engine *uc, uint32_t port, int size, void *user)
{
    (void)uc;
    uint32_t value;
    if (emu_pc_in(user, port, size, &value)) /* the multiboot PC's devices */
        return value;
    return emu_port_in(port, size);
}

static void on_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user)
{
    (void)size;
    if (emu_port_out(user, port, value))
        uc_emu_stop(uc);
}

static int on_cpuid(uc_engine *uc, void *user)
{
    emu *e = user;
    uint32_t regs[4];
    emu_cpuid(e, (uint32_t)emu_reg(e, UC_X86_REG_RAX), (uint32_t)emu_reg(e, UC_X86_REG_RCX), regs);
    static const int out[4] = {UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX};
    for (int i = 0; i < 4; i++) {
        uint64_t value = regs[i];
        uc_reg_write(uc, out[i], &value);
    }
    return 1; /* done: Unicorn does not execute it */
}

static bool has_error_code(unsigned vector)
{
    return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21;
}

/* An exception Unicorn raised in L1 or L2: the main loop delivers it (L1: through L1's IDT;
 * L2: per vmcs02's exception bitmap, an exit or through L2's IDT). Unicorn does not give
 * error codes: #GP's is taken as 0 and #PF's as 0 (not-present read) — an approximation. */
static void on_interrupt(uc_engine *uc, uint32_t vector, void *user)
{
    emu *e = user;
    e->pending = (nvmx_exception){.vector = (uint8_t)vector,
                                  .has_error_code = has_error_code(vector),
                                  .cr2 = vector == 14 ? emu_reg(e, UC_X86_REG_CR2) : 0};
    e->stop = EMU_STOP_EXCEPTION;
    uc_emu_stop(uc);
}

/* The bytes at L1's RIP: up to 15, fewer when the next page is not mapped. */
static uint8_t fetch_instruction(emu *e, uint64_t rip, uint8_t *bytes)
{
    for (uint8_t n = NVMX_MAX_INSTRUCTION_LENGTH; n > 0; n--)
        if (emu_vmem_read(e, rip, UC_PROT_EXEC, bytes, n, false))
            return n;
    return 0;
}

/* MOV SS (8E /2) and POP SS (17) block events until the next instruction ends (SDM Vol. 3A
 * 6.8.3); VMLAUNCH/VMRESUME there fail with error 26 (SDM 31.3, 27.1). Unicorn does not show
 * this blocking, so the code hook notes where L1's last such instruction ends. */
void emu_note_l1_instruction(emu *e, uint64_t rip, const uint8_t *bytes, uint32_t length)
{
    uint32_t i = 0;
    while (i < length &&
           (bytes[i] == 0x66 || bytes[i] == 0x67 || bytes[i] == 0xF0 || bytes[i] == 0xF2 ||
            bytes[i] == 0xF3 || bytes[i] == 0x2E || bytes[i] == 0x36 || bytes[i] == 0x3E ||
            bytes[i] == 0x26 || bytes[i] == 0x64 || bytes[i] == 0x65 || (bytes[i] & 0xF0) == 0x40))
        i++; /* legacy prefixes and REX (MOV SS in 32-bit code has no REX) */
    bool mov_ss = i + 1 < length && bytes[i] == 0x8E && ((bytes[i + 1] >> 3) & 7) == 2;
    bool pop_ss = i < length && bytes[i] == 0x17;
    e->l1_mov_ss_end = mov_ss || pop_ss ? rip + length : 0;
}

/* #UD in L1: a VMX instruction for the library, or a real #UD. Returning false stops Unicorn;
 * the main loop looks at e->stop. */
static bool on_invalid(uc_engine *uc, void *user)
{
    (void)uc;
    emu *e = user;
    if (e->probing) /* a replay of L2's faulting instruction (l2_memory.c) ends here */
        return false;
    /* A trapped instruction counts against the budget too: Unicorn raises #UD for it without
     * calling the code hook, so a VMX instruction that leaves RIP alone would repeat forever. */
    if (e->budget < EMU_TRAP_COST) {
        e->stop = EMU_STOP_BUDGET;
        return false;
    }
    e->budget -= EMU_TRAP_COST;
    nvmx_exit exit = {.reason = NVMX_EXIT_UNDECODED};
    uint64_t rip = emu_reg(e, UC_X86_REG_RIP);
    exit.bytes_length = fetch_instruction(e, rip, exit.bytes);
    if (e->in_l2) { /* a VMX instruction of L2, or its #UD: nvmx_on_l2_exit decides */
        e->exit_info = exit;
        e->stop = EMU_STOP_L2_EXIT;
        return false;
    }
    /* vmcs01 holds L1's state for the library: VMLAUNCH/VMRESUME read it (27.2, 27.3) */
    emu_state_save(e, NVMX_HW_VMCS01);
    if (e->l1_mov_ss_end == rip) /* Unicorn saved no interruptibility: add MOV-SS blocking */
        emu_vmcs_set(e, NVMX_HW_VMCS01, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO,
                     emu_vmcs_get(e, NVMX_HW_VMCS01, NVMX_FIELD_GUEST_INTERRUPTIBILITY_INFO) | 2u);
    e->l1_mov_ss_end = 0;
    nvmx_next next = {0};
    e->l1_state_loaded = false;
    nvmx_status status = nvmx_on_l1_exit(e->vcpu, &exit, &next);
    if (status == NVMX_OK)
        emu_note_l1_vmx(e, rip, &exit, &next);
    if (status != NVMX_OK) {
        fprintf(stderr,
                "nestvmx-emu: libnestvmx failed on L1's instruction at RIP %#" PRIx64 ": %s\n", rip,
                nvmx_status_str(status));
        e->stop = EMU_STOP_FAILURE;
        return false;
    }
    switch (next.run) {
    case NVMX_RUN_L1:
        if (e->l1_state_loaded) /* a VM-entry failure: L1 continues from its host state */
            e->stop = EMU_STOP_RUN_L1;
        if (e->stop == EMU_RUNNING) /* L1 goes on in this emulation run: an event here */
            emu_checkpoint_note(e);
        return e->stop == EMU_RUNNING; /* stop to deliver an exception the library injected */
    case NVMX_RUN_L2:
        e->stop = EMU_STOP_RUN_L2;
        return false;
    case NVMX_RUN_L2_PARKED: /* not exposed here: the activity states are disabled above */
        fprintf(stderr, "nestvmx-emu: L2 parked in shutdown or wait-for-SIPI, which this L0 does "
                        "not model (no INIT/SIPI sources)\n");
        e->stop = EMU_STOP_FAILURE;
        return false;
    case NVMX_RUN_L0_HANDLES:
        op_inject(e, &(nvmx_exception){.vector = 6}); /* not VMX: #UD */
        return false;
    case NVMX_RUN_SHUTDOWN_L1:
        e->stop = EMU_STOP_SHUTDOWN;
        return false;
    }
    return false;
}

static bool add_hooks(emu *e)
{
    uc_hook h;
    uc_err err = uc_hook_add(e->uc, &h, UC_HOOK_INSN, on_in, e, 1, 0, UC_X86_INS_IN);
    if (!err)
        err = uc_hook_add(e->uc, &h, UC_HOOK_INSN, on_out, e, 1, 0, UC_X86_INS_OUT);
    if (!err)
        err = uc_hook_add(e->uc, &h, UC_HOOK_INSN, on_cpuid, e, 1, 0, UC_X86_INS_CPUID);
    if (!err)
        err = uc_hook_add(e->uc, &h, UC_HOOK_INTR, on_interrupt, e, 1, 0);
    if (!err)
        err = uc_hook_add(e->uc, &h, UC_HOOK_INSN_INVALID, on_invalid, e, 1, 0);
    if (err)
        fprintf(stderr, "nestvmx-emu: cannot install the hooks: %s\n", uc_strerror(err));
    return !err && emu_add_code_hook(e) && emu_l2_memory_hook(e);
}

/* ---- the run ---- */

static int halted(emu *e, uint64_t rip)
{
    bool interrupts = emu_reg(e, UC_X86_REG_RFLAGS) & RFLAGS_IF;
    fflush(stdout);
    fprintf(stderr, "nestvmx-emu: L1 halted at RIP %#" PRIx64 " with interrupts %s%s\n", rip,
            interrupts ? "enabled" : "disabled",
            interrupts ? " (nestvmx-emu has no interrupt sources yet)" : "");
    return EMU_STATUS_HALTED;
}

static int stopped_with_message(emu *e, int status, const char *what)
{
    fflush(stdout);
    fprintf(stderr, "nestvmx-emu: %s at RIP %#" PRIx64 "\n", what, emu_reg(e, UC_X86_REG_RIP));
    return status;
}

/* An exception of the running guest: L1 takes it through its IDT (no usable gate: shutdown);
 * for L2, vmcs02's exception bitmap decides between an exit and L2's IDT. */
static int exception(emu *e)
{
    if (e->in_l2) {
        e->stop = EMU_RUNNING;
        emu_l2_exception(e, &e->pending);
        return e->stop == EMU_STOP_L2_EXIT ? emu_l2_handle_exit(e) : -1;
    }
    bool legacy = emu_l1_in_legacy_protected_mode(e); /* a multiboot kernel's first steps */
    if (legacy ? emu_deliver_exception32(e, &e->pending) : emu_deliver_exception(e, &e->pending))
        return -1;
    fflush(stdout);
    fprintf(stderr,
            "nestvmx-emu: L1 triple fault: exception %u at RIP %#" PRIx64
            " and no usable IDT gate for it\n",
            e->pending.vector, emu_reg(e, UC_X86_REG_RIP));
    return EMU_STATUS_TRIPLE_FAULT;
}

/* What one uc_emu_start ended with: -1 to go on, else the program's exit status. */
static int after_stop(emu *e, uc_err err)
{
    emu_l2_fault_address(e); /* the byte of a fault of L2 under EPT (l2_memory.c) */
    switch (e->stop) {
    case EMU_STOP_EXIT:
        return e->exit_status;
    case EMU_STOP_EXCEPTION:
        return exception(e);
    case EMU_STOP_RUN_L2:
        return emu_enter_l2(e);
    case EMU_STOP_RUN_L1:
        e->in_l2 = false;
        return emu_state_load(e, NVMX_HW_VMCS01) ? -1 : EMU_STATUS_HOST_FAILURE;
    case EMU_STOP_L2_EXIT:
        return emu_l2_handle_exit(e);
    case EMU_STOP_L2_SOFTWARE_EVENT:
        return emu_l2_software_event(e);
    case EMU_STOP_L2_HALTED:
        return stopped_with_message(e, EMU_STATUS_L2_HALTED,
                                    "L2 halted (L1 does not intercept HLT and nestvmx-emu has "
                                    "no interrupt sources)");
    case EMU_STOP_BUDGET:
        return stopped_with_message(e, EMU_STATUS_BUDGET,
                                    "the instruction budget ran out (see --budget)");
    case EMU_STOP_SHUTDOWN:
        return stopped_with_message(e, EMU_STATUS_TRIPLE_FAULT, "L1 shut down (VMX abort)");
    case EMU_STOP_FAILURE:
        return EMU_STATUS_HOST_FAILURE;
    case EMU_STOP_CHECKPOINT:
        return emu_checkpoint_write(e);
    case EMU_RUNNING:
        break;
    }
    if (err == UC_ERR_OK)
        return halted(e, emu_reg(e, UC_X86_REG_RIP)); /* Unicorn returns after HLT */
    fflush(stdout);
    fprintf(stderr, "nestvmx-emu: %s stopped at RIP %#" PRIx64 ": %s\n", e->in_l2 ? "L2" : "L1",
            emu_reg(e, UC_X86_REG_RIP), uc_strerror(err));
    return EMU_STATUS_TRIPLE_FAULT;
}

static int run(emu *e)
{
    for (;;) {
        if (e->in_l2 && nvmx_before_l2_resume(e->vcpu) != NVMX_OK)
            return stopped_with_message(e, EMU_STATUS_HOST_FAILURE, "nvmx_before_l2_resume failed");
        emu_timer_refresh(e);          /* L1's timer deadline for L2 (timer.c) */
        if (e->budget < EMU_TRAP_COST) /* each restart counts: a guest that only faults ends */
            return after_stop(e, (e->stop = EMU_STOP_BUDGET, UC_ERR_OK));
        e->budget -= EMU_TRAP_COST;
        e->stop = EMU_RUNNING;
        uc_err err = uc_emu_start(e->uc, emu_reg(e, UC_X86_REG_RIP), 0, 0, 0);
        int status = after_stop(e, err);
        if (status < 0) /* an event: the stop is handled, the guest resumes next */
            status = emu_checkpoint_event(e);
        if (status >= 0)
            return status;
    }
}

/* ---- set-up ---- */

/* A size: a number with an optional K, M or G suffix (binary units). */
static bool parse_size(const char *text, uint64_t *size)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 0);
    if (errno || end == text || text[0] == '-')
        return false;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        end++;
    if (*end || n > (UINT64_MAX >> shift))
        return false;
    *size = (uint64_t)n << shift;
    return true;
}

static int usage(const char *error)
{
    if (error)
        fprintf(stderr, "nestvmx-emu: %s\n", error);
    fprintf(stderr, "usage: nestvmx-emu IMAGE [--mem SIZE] [--budget N] [--trace] [--stats] "
                    "[--stats-json FILE]\n"
                    "                   [--save-at N FILE] | --restore FILE [IMAGE]\n"
                    "                   [--append ARGS] [--module FILE] [--feature-control "
                    "unlocked]\n"
                    "  IMAGE       a static ELF64 x86-64 L1 image, loaded at or above 1 MiB, or\n"
                    "              an ELF32 multiboot kernel (booted on a minimal PC)\n"
                    "  --append ARGS  the multiboot kernel's command line (after its name)\n"
                    "  --module FILE  a multiboot module (repeatable, up to 8)\n"
                    "  --feature-control unlocked  IA32_FEATURE_CONTROL starts at 0 (multiboot)\n"
                    "  --mem SIZE  guest memory, e.g. 64M (default), 2M to 4G, a multiple of "
                    "2 MiB\n"
                    "  --budget N  instructions L1 and L2 may run, a trap or event counting as 64\n"
                    "              (default 200M; then status 7)\n"
                    "  --trace     one line per event L0 sees, on standard error\n"
                    "  --stats     exit counts, exit multiplication and round trips per second\n"
                    "  --stats-json FILE  the same as JSON\n"
                    "  --save-at N FILE  after the N-th event write a checkpoint to FILE and "
                    "exit 0\n"
                    "  --restore FILE  continue the run a checkpoint holds (IMAGE optional, "
                    "unused)\n");
    return EMU_STATUS_BAD_INPUT;
}

/* The multiboot options: 0 taken, -1 not one of them, else a usage error's status. */
static int parse_pc_arg(int argc, char **argv, int *i, emu_pc_options *pc)
{
    if (strcmp(argv[*i], "--append") == 0) {
        if (++*i == argc)
            return usage("--append needs the kernel's arguments");
        pc->append = argv[*i];
        return 0;
    }
    if (strcmp(argv[*i], "--module") == 0) {
        if (++*i == argc || pc->module_count == EMU_PC_MAX_MODULES)
            return usage("--module needs a file name (at most 8 modules)");
        pc->modules[pc->module_count++] = argv[*i];
        return 0;
    }
    if (strcmp(argv[*i], "--feature-control") == 0) {
        if (++*i == argc || strcmp(argv[*i], "unlocked") != 0)
            return usage("--feature-control takes one value: unlocked");
        pc->feature_control_unlocked = true;
        return 0;
    }
    return -1;
}

/* --save-at N FILE and --restore FILE: 0 taken, -1 not one of them, else a usage error. */
static int parse_checkpoint_arg(int argc, char **argv, int *i, emu *e, const char **restore)
{
    if (strcmp(argv[*i], "--save-at") == 0) {
        if (argc - *i < 3 || !parse_size(argv[*i + 1], &e->save_at) || e->save_at == 0)
            return usage("--save-at needs a positive event count and a file name");
        e->save_file = argv[*i + 2];
        *i += 2;
        return 0;
    }
    if (strcmp(argv[*i], "--restore") == 0) {
        if (++*i == argc)
            return usage("--restore needs a checkpoint file");
        *restore = argv[*i];
        return 0;
    }
    return -1;
}

static int parse_args(int argc, char **argv, emu *e, const char **image, uint64_t *mem,
                      uint64_t *budget, emu_pc_options *pc, const char **restore)
{
    bool machine_option = false; /* --mem, --budget, PC options: a checkpoint records them */
    *image = NULL;
    *restore = NULL;
    *mem = DEFAULT_MEM;
    *budget = EMU_DEFAULT_BUDGET;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--trace") == 0) {
            e->trace = true;
            continue;
        }
        if (strcmp(argv[i], "--stats") == 0) {
            e->stats_print = true;
            continue;
        }
        if (strcmp(argv[i], "--stats-json") == 0) {
            if (++i == argc)
                return usage("--stats-json needs a file name");
            e->stats_json = argv[i];
            continue;
        }
        int ckpt_arg = parse_checkpoint_arg(argc, argv, &i, e, restore);
        if (ckpt_arg >= 0) {
            if (ckpt_arg > 0)
                return ckpt_arg;
            continue;
        }
        int pc_arg = parse_pc_arg(argc, argv, &i, pc);
        if (pc_arg > 0)
            return pc_arg;
        if (pc_arg == 0 || strcmp(argv[i], "--budget") == 0 || strcmp(argv[i], "--mem") == 0)
            machine_option = true;
        if (pc_arg == 0)
            continue;
        if (strcmp(argv[i], "--budget") == 0) {
            if (++i == argc || !parse_size(argv[i], budget) || *budget == 0)
                return usage("--budget needs a positive instruction count such as 10M");
            continue;
        }
        if (strcmp(argv[i], "--mem") == 0) {
            if (++i == argc || !parse_size(argv[i], mem))
                return usage("--mem needs a size such as 64M");
            if (*mem < MIN_MEM || *mem > MAX_MEM || *mem % (2 * EMU_MIB))
                return usage("--mem must be a multiple of 2 MiB from 2M to 4G");
        } else if (argv[i][0] == '-' || *image) {
            return usage("unexpected argument");
        } else {
            *image = argv[i];
        }
    }
    if (*restore && machine_option)
        return usage("--restore takes memory, budget and PC options from the checkpoint");
    return *image || *restore ? 0 : usage("no image given");
}

/* The VMX features whose L2 side nestvmx-emu does not run yet: L1 does not see them (the
 * library then reports them as unavailable in the capability MSRs), so every control L1 can
 * set is one this L0 carries out exactly. Interrupt/NMI exiting stay: nestvmx-emu has no
 * interrupt or NMI sources, so those controls never trigger, as on an idle platform. */
static const char *const emu_disabled_features[] = {
    /* exits of L2 instructions nestvmx-emu does not trap yet */
    "vmx-mwait-exit",
    "vmx-rdpmc-exit",
    "vmx-cr8-load-exit",
    "vmx-cr8-store-exit",
    "vmx-monitor-exit",
    "vmx-desc-exit",
    "vmx-rdrand-exit",
    "vmx-rdseed-exit",
    /* L2 behaviour it does not model: single-step, halted entry, windows, RDTSCP/INVPCID
     * enabling, INS/OUTS instruction information, TPR shadow, TSC scaling */
    "vmx-mtf",
    "vmx-activity-shutdown",
    "vmx-activity-wait-sipi",
    "vmx-vintr-pending",
    "vmx-vnmi-pending",
    "vmx-invpcid-exit",
    "vmx-rdtscp-exit",
    "vmx-ins-outs",
    "vmx-flexpriority",
    "vmx-tsc-scaling",
    /* L2 in real mode or unpaged protected mode: Unicorn cannot load such a vmcs02 state in
     * place (segment hidden parts, see state.c), so L2 stays 64-bit */
    "vmx-unrestricted-guest",
};

/* pinned: the capabilities a checkpoint's nested state was saved under, else NULL. */
static bool create_machine(emu *e, const nvmx_vmx_caps *pinned)
{
    uc_err err = uc_open(UC_ARCH_X86, UC_MODE_64, &e->uc);
    if (err) {
        fprintf(stderr, "nestvmx-emu: Unicorn: %s\n", uc_strerror(err));
        return false;
    }
    if (!emu_ram_map(e) || !emu_pc_map_devices(e))
        return false;
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.disabled_features = emu_disabled_features;
    config.disabled_feature_count =
        sizeof(emu_disabled_features) / sizeof(emu_disabled_features[0]);
    /* L1's TSC is the host's plus vmcs01's offset (WRMSR to the TSC sets it), so vmcs02 always
     * offsets too, by vmcs01's + vmcs12's (SDM 25.6.5): L2 sees L1's TSC. */
    config.l0.proc = (uint32_t)NVMX_CTL(TSC_OFFSETTING);
    config.pinned_caps = pinned; /* a restore: exactly what L1 saw before */
    nvmx_host_ops host_ops = ops;
    emu_host_memory_ops(&host_ops); /* EPT, VPID, tsc_read (host_memory.c) */
    emu_pc_config(e, &config);
    e->vmcs[0] = calloc(nvmx_vmcs_field_count(), sizeof(uint64_t));
    e->vmcs[1] = calloc(nvmx_vmcs_field_count(), sizeof(uint64_t));
    if (!e->vmcs[0] || !e->vmcs[1] || nvmx_vm_create(&config, &host_ops, e, &e->vm) != NVMX_OK ||
        nvmx_vcpu_create(e->vm, e, &e->vcpu) != NVMX_OK) {
        fprintf(stderr, "nestvmx-emu: cannot create the VM\n");
        return false;
    }
    return add_hooks(e);
}

static void destroy_machine(emu *e)
{
    nvmx_vcpu_destroy(e->vcpu);
    nvmx_vm_destroy(e->vm);
    emu_pool_destroy(e);
    emu_l2_memory_destroy(e);
    if (e->uc)
        uc_close(e->uc);
    free(e->vmcs[0]);
    free(e->vmcs[1]);
    emu_ram_destroy(e);
    emu_pc_destroy(e);
}

/* The run and what follows it, for a fresh machine and a restored one alike. */
static int run_to_end(emu *e)
{
    emu_stats_start(e);
    int status = run(e);
    fflush(stdout);
    emu_checkpoint_finish(e);
    if (!emu_stats_finish(e) && status == 0)
        status = EMU_STATUS_BAD_INPUT;
    return status;
}

/* --restore FILE: the machine the checkpoint recorded, then the rest of its run. The order
 * is state.h's: VM with pinned capabilities, RAM and vmcs01/vmcs02, nested state, registers. */
static int restore_and_run(emu *e, const char *path)
{
    emu_checkpoint c;
    if (!emu_checkpoint_read(path, &c))
        return EMU_STATUS_BAD_INPUT;
    nvmx_vmx_caps caps;
    int status;
    e->ram_size = c.ram_size;
    if (!emu_checkpoint_caps(&c, &caps))
        status = EMU_STATUS_BAD_INPUT;
    else if (!emu_checkpoint_restore_pc(e, &c) || !emu_ram_create(e) || !create_machine(e, &caps))
        status = EMU_STATUS_HOST_FAILURE;
    else
        status = emu_checkpoint_restore(e, &c);
    emu_checkpoint_free(&c);
    if (status < 0)
        status = run_to_end(e);
    fflush(stdout);
    destroy_machine(e);
    return status;
}

int main(int argc, char **argv)
{
    const char *image, *restore;
    emu e = {0};
    emu_pc_options pc = {0};
    int status = parse_args(argc, argv, &e, &image, &e.ram_size, &e.budget, &pc, &restore);
    if (status)
        return status;
    if (restore)
        return restore_and_run(&e, restore);
    bool multiboot = emu_is_multiboot(image);
    if (!multiboot && (pc.append || pc.module_count || pc.feature_control_unlocked))
        return usage("--append, --module and --feature-control need a multiboot kernel");
    if ((multiboot && !emu_pc_create(&e, &pc)) || !emu_ram_create(&e)) {
        destroy_machine(&e);
        return EMU_STATUS_HOST_FAILURE;
    }
    uint64_t entry;
    if (multiboot ? !emu_multiboot_load(&e, image, &pc, &entry)
                  : !emu_load_elf(image, e.ram, e.ram_size, &entry))
        status = EMU_STATUS_BAD_INPUT;
    else if (!create_machine(&e, NULL) ||
             !(multiboot ? emu_multiboot_reset(&e, entry) : emu_cpu_reset(&e, entry)))
        status = EMU_STATUS_HOST_FAILURE;
    else
        status = run_to_end(&e);
    fflush(stdout);
    destroy_machine(&e);
    return status;
}
