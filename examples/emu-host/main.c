/* SPDX-License-Identifier: MIT */
/*
 * nestvmx-emu IMAGE [--mem SIZE]: the software L0. It boots a static ELF64 L1 image on the
 * Unicorn CPU emulator (>= 2.1) in the L1 contract of docs/ARCHITECTURE.md and is a real
 * embedder of libnestvmx: L1's VMX instructions raise #UD in Unicorn (UC_HOOK_INSN_INVALID)
 * and go to nvmx_on_l1_exit as instruction bytes.
 *
 * This version runs L1 only: when the library enters L2 (VMLAUNCH/VMRESUME succeed) the run
 * ends with EMU_STATUS_L2_NOT_IMPL. RDMSR/WRMSR are not trapped yet (Unicorn reads unknown
 * MSRs as 0), so L1 cannot read IA32_VMX_BASIC.
 */
#include "emu.h"

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
    emu *e = ctx;
    if (gpa > e->ram_size || len > e->ram_size - gpa)
        return NVMX_ERR_BAD_L1_ADDRESS;
    memcpy(buf, e->ram + gpa, len);
    return NVMX_OK;
}
static nvmx_status op_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    emu *e = ctx;
    if (gpa > e->ram_size || len > e->ram_size - gpa)
        return NVMX_ERR_BAD_L1_ADDRESS;
    memcpy(e->ram + gpa, buf, len);
    return NVMX_OK;
}

/* L1's paging, walked by Unicorn's MMU. A failed walk is a #PF (the error code is an
 * approximation: Unicorn does not say whether the page was present). */
static nvmx_status op_translate(void *ctx, uint64_t la, nvmx_access access, uint64_t *gpa,
                                nvmx_exception *fault)
{
    emu *e = ctx;
    uc_prot prot = access == NVMX_ACCESS_WRITE ? UC_PROT_WRITE : UC_PROT_READ;
    if (uc_vmem_translate(e->uc, la, prot, gpa) == UC_ERR_OK)
        return NVMX_OK;
    *fault = (nvmx_exception){.vector = 14,
                              .has_error_code = true,
                              .error_code = access == NVMX_ACCESS_WRITE ? 2u : 0u,
                              .cr2 = la};
    return NVMX_ERR_BAD_L1_ADDRESS;
}

static const int gpr_regs[16] = {
    UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX, UC_X86_REG_RSP, UC_X86_REG_RBP,
    UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
    UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
};

static int uc_reg_of(nvmx_reg reg)
{
    if ((unsigned)reg < 16)
        return gpr_regs[reg];
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
    uint64_t *slot = vmcs_slot(ctx, which, field);
    if (!slot)
        return NVMX_ERR_INVALID_ARGUMENT;
    *slot = NVMX_FIELD_HIGH_ACCESS(field) ? (*slot & 0xFFFFFFFFull) | (value << 32) : value;
    return NVMX_OK;
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
    .log = op_log,
};

/* ---- hooks ---- */

static uint64_t reg(emu *e, int uc_reg)
{
    uint64_t value = 0;
    uc_reg_read(e->uc, uc_reg, &value);
    return value;
}

static uint32_t on_in(uc_engine *uc, uint32_t port, int size, void *user)
{
    (void)uc;
    (void)user;
    if (port == COM1_LINE_STATUS)
        return LINE_STATUS_TX_EMPTY;
    return size == 1 ? 0xFFu : size == 2 ? 0xFFFFu : 0xFFFFFFFFu;
}

static void on_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user)
{
    (void)size;
    emu *e = user;
    if (port == COM1_DATA) {
        putchar((int)(value & 0xFF));
    } else if (port == EXIT_PORT) {
        e->exit_status = (int)(value & 0xFF);
        e->stop = EMU_STOP_EXIT;
        uc_emu_stop(uc);
    }
}

static int on_cpuid(uc_engine *uc, void *user)
{
    emu *e = user;
    uint32_t regs[4];
    emu_cpuid(e, (uint32_t)reg(e, UC_X86_REG_RAX), (uint32_t)reg(e, UC_X86_REG_RCX), regs);
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

/* An exception Unicorn raised in L1: the main loop delivers it through L1's IDT. */
static void on_interrupt(uc_engine *uc, uint32_t vector, void *user)
{
    emu *e = user;
    e->pending = (nvmx_exception){.vector = (uint8_t)vector,
                                  .has_error_code = has_error_code(vector),
                                  .cr2 = vector == 14 ? reg(e, UC_X86_REG_CR2) : 0};
    e->stop = EMU_STOP_EXCEPTION;
    uc_emu_stop(uc);
}

/* The bytes at L1's RIP: up to 15, fewer when the next page is not mapped. */
static uint8_t fetch_instruction(emu *e, uint64_t rip, uint8_t *bytes)
{
    for (uint8_t n = NVMX_MAX_INSTRUCTION_LENGTH; n > 0; n--)
        if (uc_vmem_read(e->uc, rip, UC_PROT_EXEC, bytes, n) == UC_ERR_OK)
            return n;
    return 0;
}

/* #UD in L1: a VMX instruction for the library, or a real #UD. Returning false stops Unicorn;
 * the main loop looks at e->stop. */
static bool on_invalid(uc_engine *uc, void *user)
{
    (void)uc;
    emu *e = user;
    nvmx_exit exit = {.reason = NVMX_EXIT_UNDECODED};
    uint64_t rip = reg(e, UC_X86_REG_RIP);
    exit.bytes_length = fetch_instruction(e, rip, exit.bytes);
    nvmx_next next = {0};
    nvmx_status status = nvmx_on_l1_exit(e->vcpu, &exit, &next);
    if (status != NVMX_OK) {
        fprintf(stderr,
                "nestvmx-emu: libnestvmx failed on L1's instruction at RIP %#" PRIx64 ": %s\n", rip,
                nvmx_status_str(status));
        e->stop = EMU_STOP_FAILURE;
        return false;
    }
    switch (next.run) {
    case NVMX_RUN_L1:
        return e->stop == EMU_RUNNING; /* stop to deliver an exception the library injected */
    case NVMX_RUN_L2:
    case NVMX_RUN_L2_PARKED: /* L2 entered in shutdown or wait-for-SIPI: L2 all the same */
        e->stop = EMU_STOP_RUN_L2;
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
    return !err;
}

/* ---- exceptions: delivered through L1's 64-bit IDT (no IST, no #DF escalation yet) ---- */

static bool push(emu *e, uint64_t *rsp, uint64_t value)
{
    *rsp -= 8;
    return uc_vmem_write(e->uc, *rsp, UC_PROT_WRITE, &value, 8) == UC_ERR_OK;
}

/* The gate of a vector in L1's IDT: a present 64-bit interrupt or trap gate, else false. */
static bool idt_gate(emu *e, unsigned vector, uint64_t gate[2])
{
    uc_x86_mmr idtr = {0};
    uc_reg_read(e->uc, UC_X86_REG_IDTR, &idtr);
    if ((uint64_t)vector * 16 + 15 > idtr.limit ||
        uc_vmem_read(e->uc, idtr.base + vector * 16, UC_PROT_READ, gate, 16) != UC_ERR_OK)
        return false;
    unsigned type = (gate[0] >> 40) & 0x1F; /* S and type */
    return (gate[0] & (1ull << 47)) && (type == 0xE || type == 0xF);
}

static bool deliver_exception(emu *e)
{
    uint64_t gate[2];
    const nvmx_exception *x = &e->pending;
    if (!idt_gate(e, x->vector, gate))
        return false;
    uint64_t rsp = reg(e, UC_X86_REG_RSP), ss = reg(e, UC_X86_REG_SS);
    uint64_t rflags = reg(e, UC_X86_REG_RFLAGS), cs = reg(e, UC_X86_REG_CS);
    uint64_t old_rsp = rsp;
    rsp &= ~15ull;
    if (!push(e, &rsp, ss) || !push(e, &rsp, old_rsp) || !push(e, &rsp, rflags) ||
        !push(e, &rsp, cs) || !push(e, &rsp, reg(e, UC_X86_REG_RIP)) ||
        (x->has_error_code && !push(e, &rsp, x->error_code)))
        return false;
    if (x->vector == 14)
        uc_reg_write(e->uc, UC_X86_REG_CR2, &x->cr2);
    uint64_t target = (gate[0] & 0xFFFF) | ((gate[0] >> 32) & 0xFFFF0000) | (gate[1] << 32);
    uint64_t selector = (gate[0] >> 16) & 0xFFFF;
    if (((gate[0] >> 40) & 0xF) == 0xE)
        rflags &= ~RFLAGS_IF;
    rflags &= ~((1ull << 8) | (1ull << 16) | (1ull << 17)); /* TF, RF, VM */
    uc_reg_write(e->uc, UC_X86_REG_RSP, &rsp);
    uc_reg_write(e->uc, UC_X86_REG_RFLAGS, &rflags);
    uc_reg_write(e->uc, UC_X86_REG_CS, &selector);
    uc_reg_write(e->uc, UC_X86_REG_RIP, &target);
    return true;
}

/* ---- the run ---- */

static int halted(emu *e, uint64_t rip)
{
    bool interrupts = reg(e, UC_X86_REG_RFLAGS) & RFLAGS_IF;
    fflush(stdout);
    fprintf(stderr, "nestvmx-emu: L1 halted at RIP %#" PRIx64 " with interrupts %s%s\n", rip,
            interrupts ? "enabled" : "disabled",
            interrupts ? " (nestvmx-emu has no interrupt sources yet)" : "");
    return EMU_STATUS_HALTED;
}

/* What one uc_emu_start ended with: -1 to go on, else the program's exit status. */
static int after_stop(emu *e, uc_err err)
{
    uint64_t rip = reg(e, UC_X86_REG_RIP);
    switch (e->stop) {
    case EMU_STOP_EXIT:
        return e->exit_status;
    case EMU_STOP_EXCEPTION:
        if (deliver_exception(e))
            return -1;
        fflush(stdout);
        fprintf(stderr,
                "nestvmx-emu: L1 triple fault: exception %u at RIP %#" PRIx64
                " and no usable IDT gate for it\n",
                e->pending.vector, rip);
        return EMU_STATUS_TRIPLE_FAULT;
    case EMU_STOP_RUN_L2:
        fflush(stdout);
        fprintf(stderr,
                "nestvmx-emu: L1 entered L2 at RIP %#" PRIx64
                ": running L2 is not implemented yet in nestvmx-emu\n",
                rip);
        return EMU_STATUS_L2_NOT_IMPL;
    case EMU_STOP_SHUTDOWN:
        fflush(stdout);
        fprintf(stderr, "nestvmx-emu: L1 shut down (VMX abort) at RIP %#" PRIx64 "\n", rip);
        return EMU_STATUS_TRIPLE_FAULT;
    case EMU_STOP_FAILURE:
        return EMU_STATUS_HOST_FAILURE;
    case EMU_RUNNING:
        break;
    }
    if (err == UC_ERR_OK)
        return halted(e, rip); /* Unicorn returns after HLT */
    fflush(stdout);
    fprintf(stderr, "nestvmx-emu: L1 stopped at RIP %#" PRIx64 ": %s\n", rip, uc_strerror(err));
    return EMU_STATUS_TRIPLE_FAULT;
}

static int run(emu *e)
{
    for (;;) {
        e->stop = EMU_RUNNING;
        uc_err err = uc_emu_start(e->uc, reg(e, UC_X86_REG_RIP), 0, 0, 0);
        int status = after_stop(e, err);
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
    fprintf(stderr, "usage: nestvmx-emu IMAGE [--mem SIZE]\n"
                    "  IMAGE       a static ELF64 x86-64 L1 image, loaded at or above 1 MiB\n"
                    "  --mem SIZE  guest memory, e.g. 64M (default), 2M to 4G, a multiple of "
                    "2 MiB\n");
    return EMU_STATUS_BAD_INPUT;
}

static int parse_args(int argc, char **argv, const char **image, uint64_t *mem)
{
    *image = NULL;
    *mem = DEFAULT_MEM;
    for (int i = 1; i < argc; i++) {
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
    return *image ? 0 : usage("no image given");
}

static bool create_machine(emu *e)
{
    uc_err err = uc_open(UC_ARCH_X86, UC_MODE_64, &e->uc);
    if (!err)
        err = uc_mem_map_ptr(e->uc, 0, e->ram_size, UC_PROT_ALL, e->ram);
    if (err) {
        fprintf(stderr, "nestvmx-emu: Unicorn: %s\n", uc_strerror(err));
        return false;
    }
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    e->vmcs[0] = calloc(nvmx_vmcs_field_count(), sizeof(uint64_t));
    e->vmcs[1] = calloc(nvmx_vmcs_field_count(), sizeof(uint64_t));
    if (!e->vmcs[0] || !e->vmcs[1] || nvmx_vm_create(&config, &ops, e, &e->vm) != NVMX_OK ||
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
    if (e->uc)
        uc_close(e->uc);
    free(e->vmcs[0]);
    free(e->vmcs[1]);
    free(e->ram);
}

int main(int argc, char **argv)
{
    const char *image;
    emu e = {0};
    int status = parse_args(argc, argv, &image, &e.ram_size);
    if (status)
        return status;
    e.ram = calloc(1, e.ram_size);
    if (!e.ram) {
        fprintf(stderr, "nestvmx-emu: cannot allocate %llu MiB of guest memory\n",
                (unsigned long long)(e.ram_size / EMU_MIB));
        return EMU_STATUS_HOST_FAILURE;
    }
    uint64_t entry;
    if (!emu_load_elf(image, e.ram, e.ram_size, &entry))
        status = EMU_STATUS_BAD_INPUT;
    else if (!create_machine(&e) || !emu_cpu_reset(&e, entry))
        status = EMU_STATUS_HOST_FAILURE;
    else
        status = run(&e);
    fflush(stdout);
    destroy_machine(&e);
    return status;
}
