/* SPDX-License-Identifier: MIT */
/*
 * The smallest embedder of libnestvmx: an "L0" that emulates one vCPU over a buffer of RAM.
 * It feeds the library what an L1 hypervisor does — its VMX instructions as raw bytes, the way
 * an emulator that traps #UD sees them — and what L2 does, as the VM exits a CPU would report,
 * and prints what the library answered.
 *
 *   1. VMXON, VMPTRLD, VMWRITE, VMREAD, and a VMPTRLD that fails.
 *   2. A nested round trip: L1 builds a VMCS for a 64-bit L2 and launches it; L2's CPUID exits
 *      to L1, whose handler skips it and resumes L2; L2's RDTSC is L0's business (L1 did not
 *      ask for it); L2's HLT exits to L1 (HLT exiting), which then leaves VMX operation.
 *
 * Like a hardware host, this L0 keeps two VMCSs: vmcs01 runs L1, vmcs02 runs L2. Being an
 * emulator, it keeps them as plain arrays, one slot per field, behind the hw_vmcs ops. RIP,
 * RSP, RFLAGS, CR0, CR3, CR4, EFER and the segments of the running guest live in the
 * guest-state area of its VMCS (vmcs01 while L1 runs, vmcs02 while L2 runs); the
 * general-purpose registers are one register file, shared as on hardware.
 *
 * Every step checks the library's answer; an unexpected one ends the demo with status 1.
 */
#include <nestvmx/nestvmx.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* L1's RAM, 1 MiB. Only the VMX regions and pointers are real data; the other addresses are
 * what L1's registers and VMCS fields point at (nothing fetches code or walks page tables). */
#define RAM_SIZE (1u << 20)
#define L1_CODE 0x1000u         /* where the demo's L1 instructions "are" */
#define L1_EXIT_HANDLER 0x4000u /* L1's VM-exit handler: HOST_RIP */
#define L1_PAGE_TABLES 0x30000u /* L1's CR3, and HOST_CR3 */
#define L2_PAGE_TABLES 0x40000u /* L2's CR3 */
#define L2_CODE 0x50000u        /* L2's first instruction: GUEST_RIP */
#define L2_CPUID 0x50010u       /* the instructions of L2 that exit, in the order it runs */
#define L2_RDTSC 0x50022u
#define L2_HLT 0x50032u

/* The emulated vCPU and L1's RAM: the context of every op. */
typedef struct machine {
    uint8_t ram[RAM_SIZE];
    uint64_t gpr[16];     /* RAX ... R15 (the RSP slot is unused: RSP is guest state) */
    uint64_t *vmcs[2];    /* vmcs01 and vmcs02, nvmx_vmcs_field_count() slots each */
    nvmx_hw_vmcs running; /* the VMCS of the guest that runs: follows nvmx_next.run */
    uint64_t tsc;         /* the host's time-stamp counter */
} machine;

/* One field and its value: how the demo writes a VMCS, in L1 (VMWRITE) or in L0 (vmcs01). */
typedef struct field_value {
    uint32_t field;
    uint64_t value;
} field_value;

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* An answer the demo did not expect ends it: the ctest checks the output and the status. */
static void expect(bool ok, const char *format, ...)
{
    if (ok)
        return;
    va_list args;
    va_start(args, format);
    fflush(stdout);
    fprintf(stderr, "embed-minimal: FAILED: ");
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(1);
}

/* ---- vmcs01 and vmcs02: arrays indexed by the library's dense field index ---- */

/* The slot of a field. The high-access encoding of a 64-bit field (bit 0 set) names the same
 * slot as the full encoding. NULL for encodings that name no field. */
static uint64_t *field_slot(machine *m, nvmx_hw_vmcs which, uint32_t field)
{
    int index = nvmx_vmcs_field_index(field);
    if (index < 0 || (which != NVMX_HW_VMCS01 && which != NVMX_HW_VMCS02))
        return NULL;
    return &m->vmcs[which][index];
}

/* High access reads and writes bits 63:32 of the field; full access the whole field. */
static nvmx_status hw_vmcs_read(void *ctx, nvmx_hw_vmcs which, uint32_t field, uint64_t *value)
{
    const uint64_t *slot = field_slot(ctx, which, field);
    if (!slot)
        return NVMX_ERR_INVALID_ARGUMENT;
    *value = NVMX_FIELD_HIGH_ACCESS(field) ? *slot >> 32 : *slot;
    return NVMX_OK;
}
static nvmx_status hw_vmcs_write(void *ctx, nvmx_hw_vmcs which, uint32_t field, uint64_t value)
{
    uint64_t *slot = field_slot(ctx, which, field);
    if (!slot)
        return NVMX_ERR_INVALID_ARGUMENT;
    if (NVMX_FIELD_HIGH_ACCESS(field))
        *slot = (*slot & 0xFFFFFFFFull) | (value << 32);
    else
        *slot = value & NVMX_FIELD_WIDTH_MASK(field) /* as VMWRITE keeps it */;
    return NVMX_OK;
}

/* L0's own access, for fields it names itself (always valid encodings). */
static uint64_t vmcs_get(machine *m, nvmx_hw_vmcs which, uint32_t field)
{
    uint64_t value = 0;
    (void)hw_vmcs_read(m, which, field, &value);
    return value;
}
static void vmcs_set(machine *m, nvmx_hw_vmcs which, uint32_t field, uint64_t value)
{
    (void)hw_vmcs_write(m, which, field, value);
}

/* ---- registers: guest state in the running guest's VMCS, GPRs in the register file ---- */

/* The field that holds a register of the running guest, as a hardware host finds it; -1 for
 * the general-purpose registers. */
static int guest_state_field(nvmx_reg reg)
{
    switch (reg) {
    case NVMX_REG_RIP:
        return NVMX_FIELD_GUEST_RIP;
    case NVMX_REG_RSP:
        return NVMX_FIELD_GUEST_RSP;
    case NVMX_REG_RFLAGS:
        return NVMX_FIELD_GUEST_RFLAGS;
    case NVMX_REG_CR0:
        return NVMX_FIELD_GUEST_CR0;
    case NVMX_REG_CR3:
        return NVMX_FIELD_GUEST_CR3;
    case NVMX_REG_CR4:
        return NVMX_FIELD_GUEST_CR4;
    case NVMX_REG_EFER:
        return NVMX_FIELD_GUEST_IA32_EFER;
    default:
        return -1;
    }
}

static uint64_t reg_get(void *ctx, nvmx_reg reg)
{
    machine *m = ctx;
    int field = guest_state_field(reg);
    if (field >= 0)
        return vmcs_get(m, m->running, (uint32_t)field);
    return (unsigned)reg < COUNT(m->gpr) ? m->gpr[reg] : 0;
}
static void reg_set(void *ctx, nvmx_reg reg, uint64_t value)
{
    machine *m = ctx;
    int field = guest_state_field(reg);
    if (field >= 0)
        vmcs_set(m, m->running, (uint32_t)field, value);
    else if ((unsigned)reg < COUNT(m->gpr))
        m->gpr[reg] = value;
}

/* Selector, base, limit and access rights of each segment register (SDM 25.4.1). */
#define SEGMENT_FIELDS(s)                                                                          \
    {                                                                                              \
        NVMX_FIELD_GUEST_##s##_SELECTOR, NVMX_FIELD_GUEST_##s##_BASE,                              \
            NVMX_FIELD_GUEST_##s##_LIMIT, NVMX_FIELD_GUEST_##s##_AR_BYTES                          \
    }
static const uint32_t segment_fields[NVMX_SEG_COUNT][4] = {
    [NVMX_SEG_ES] = SEGMENT_FIELDS(ES),     [NVMX_SEG_CS] = SEGMENT_FIELDS(CS),
    [NVMX_SEG_SS] = SEGMENT_FIELDS(SS),     [NVMX_SEG_DS] = SEGMENT_FIELDS(DS),
    [NVMX_SEG_FS] = SEGMENT_FIELDS(FS),     [NVMX_SEG_GS] = SEGMENT_FIELDS(GS),
    [NVMX_SEG_LDTR] = SEGMENT_FIELDS(LDTR), [NVMX_SEG_TR] = SEGMENT_FIELDS(TR),
};

static void segment_get(void *ctx, nvmx_seg seg, nvmx_segment *out)
{
    machine *m = ctx;
    const uint32_t *f = segment_fields[seg];
    *out = (nvmx_segment){.selector = (uint16_t)vmcs_get(m, m->running, f[0]),
                          .base = vmcs_get(m, m->running, f[1]),
                          .limit = (uint32_t)vmcs_get(m, m->running, f[2]),
                          .access_rights = (uint32_t)vmcs_get(m, m->running, f[3])};
}

/* ---- the other ops: plain memory, identity paging, allocation from libc ---- */

static void *mem_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return aligned_alloc(16, (size + 15) & ~(size_t)15);
}
static void mem_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    (void)size;
    free(p);
}
static nvmx_status l1_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    machine *m = ctx;
    if (gpa > RAM_SIZE || len > RAM_SIZE - gpa)
        return NVMX_ERR_BAD_L1_ADDRESS;
    memcpy(buf, m->ram + gpa, len);
    return NVMX_OK;
}
static nvmx_status l1_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    machine *m = ctx;
    if (gpa > RAM_SIZE || len > RAM_SIZE - gpa)
        return NVMX_ERR_BAD_L1_ADDRESS;
    memcpy(m->ram + gpa, buf, len);
    return NVMX_OK;
}
static nvmx_status translate(void *ctx, uint64_t la, nvmx_access a, uint64_t *gpa,
                             nvmx_exception *f)
{
    (void)ctx;
    (void)a;
    (void)f;
    *gpa = la; /* the guests run with identity paging */
    return NVMX_OK;
}
static void inject(void *ctx, const nvmx_exception *e)
{
    machine *m = ctx;
    printf("    -> exception %u injected into L%d\n", e->vector,
           m->running == NVMX_HW_VMCS01 ? 1 : 2);
}
static void log_line(void *ctx, nvmx_log_level level, const char *msg)
{
    (void)ctx;
    printf("    [libnestvmx %d] %s\n", level, msg);
}

/* msr_read/msr_write stay NULL: the demo's VMCS has empty VM-entry/VM-exit MSR lists, and the
 * library needs the MSR ops only for lists that are not empty. */
static const nvmx_host_ops ops = {
    .mem_alloc = mem_alloc,
    .mem_free = mem_free,
    .l1_read = l1_read,
    .l1_write = l1_write,
    .translate = translate,
    .reg_get = reg_get,
    .reg_set = reg_set,
    .segment_get = segment_get,
    .inject_exception = inject,
    .hw_vmcs_read = hw_vmcs_read,
    .hw_vmcs_write = hw_vmcs_write,
    .log = log_line,
};

/* ---- guest state ---- */

/* Access rights (SDM 25.4.1): 64-bit code (type 11, S, P, L, G), data (type 3, S, P, D/B, G),
 * busy 64-bit TSS (type 11, P). */
#define AR_CODE64 (0xBu | NVMX_AR_S | NVMX_AR_P | NVMX_AR_L | NVMX_AR_G)
#define AR_DATA (0x3u | NVMX_AR_S | NVMX_AR_P | NVMX_AR_DB | NVMX_AR_G)
#define AR_TSS64_BUSY (0xBu | NVMX_AR_P)

/* Flat 64-bit segments: code 0x08, data 0x10, TSS 0x18, no LDT. L1 and L2 both use them. The
 * bases not listed are 0, as the VMCS starts. */
static const field_value flat64_segments[] = {
    {NVMX_FIELD_GUEST_CS_SELECTOR, 0x08},
    {NVMX_FIELD_GUEST_CS_LIMIT, 0xFFFFFFFF},
    {NVMX_FIELD_GUEST_CS_AR_BYTES, AR_CODE64},
    {NVMX_FIELD_GUEST_SS_SELECTOR, 0x10},
    {NVMX_FIELD_GUEST_SS_LIMIT, 0xFFFFFFFF},
    {NVMX_FIELD_GUEST_SS_AR_BYTES, AR_DATA},
    {NVMX_FIELD_GUEST_DS_SELECTOR, 0x10},
    {NVMX_FIELD_GUEST_DS_LIMIT, 0xFFFFFFFF},
    {NVMX_FIELD_GUEST_DS_AR_BYTES, AR_DATA},
    {NVMX_FIELD_GUEST_ES_SELECTOR, 0x10},
    {NVMX_FIELD_GUEST_ES_LIMIT, 0xFFFFFFFF},
    {NVMX_FIELD_GUEST_ES_AR_BYTES, AR_DATA},
    {NVMX_FIELD_GUEST_FS_SELECTOR, 0x10},
    {NVMX_FIELD_GUEST_FS_LIMIT, 0xFFFFFFFF},
    {NVMX_FIELD_GUEST_FS_AR_BYTES, AR_DATA},
    {NVMX_FIELD_GUEST_GS_SELECTOR, 0x10},
    {NVMX_FIELD_GUEST_GS_LIMIT, 0xFFFFFFFF},
    {NVMX_FIELD_GUEST_GS_AR_BYTES, AR_DATA},
    {NVMX_FIELD_GUEST_TR_SELECTOR, 0x18},
    {NVMX_FIELD_GUEST_TR_BASE, 0x7000},
    {NVMX_FIELD_GUEST_TR_LIMIT, 0x67},
    {NVMX_FIELD_GUEST_TR_AR_BYTES, AR_TSS64_BUSY},
    {NVMX_FIELD_GUEST_LDTR_AR_BYTES, NVMX_AR_UNUSABLE},
    {NVMX_FIELD_GUEST_GDTR_BASE, 0x5000},
    {NVMX_FIELD_GUEST_GDTR_LIMIT, 0xFFF},
    {NVMX_FIELD_GUEST_IDTR_BASE, 0x6000},
    {NVMX_FIELD_GUEST_IDTR_LIMIT, 0xFFF},
};

/* L1 when the demo starts: 64-bit mode, CPL 0, CR4.VMXE set (it is about to run VMXON). */
static const field_value l1_registers[] = {
    {NVMX_FIELD_GUEST_CR0, NVMX_CR0_PG | NVMX_CR0_NE | 0x10 /* ET */ | NVMX_CR0_PE},
    {NVMX_FIELD_GUEST_CR3, L1_PAGE_TABLES},
    {NVMX_FIELD_GUEST_CR4, NVMX_CR4_VMXE | NVMX_CR4_PAE},
    {NVMX_FIELD_GUEST_IA32_EFER, NVMX_EFER_LME | NVMX_EFER_LMA},
    {NVMX_FIELD_GUEST_RFLAGS, 0x2},
    {NVMX_FIELD_GUEST_RSP, 0x8000},
    {NVMX_FIELD_GUEST_RIP, L1_CODE},
};

/* L0 starts L1: its state goes where a hardware host keeps it, vmcs01's guest-state area. */
static void l1_reset(machine *m)
{
    m->running = NVMX_HW_VMCS01;
    for (size_t i = 0; i < COUNT(flat64_segments); i++)
        vmcs_set(m, NVMX_HW_VMCS01, flat64_segments[i].field, flat64_segments[i].value);
    for (size_t i = 0; i < COUNT(l1_registers); i++)
        vmcs_set(m, NVMX_HW_VMCS01, l1_registers[i].field, l1_registers[i].value);
}

/* ---- events: L1 and L2 do something, the library answers ---- */

/* The embedder runs whichever guest the answer names; for NVMX_RUN_L0_HANDLES it handles the
 * event itself and resumes the guest that caused it. */
static void follow(machine *m, const nvmx_next *next)
{
    if (next->run == NVMX_RUN_L1)
        m->running = NVMX_HW_VMCS01;
    else if (next->run == NVMX_RUN_L2)
        m->running = NVMX_HW_VMCS02;
}

static const char *run_name(nvmx_run run)
{
    switch (run) {
    case NVMX_RUN_L1:
        return "run L1";
    case NVMX_RUN_L2:
        return "run L2";
    case NVMX_RUN_L0_HANDLES:
        return "L0 handles";
    case NVMX_RUN_SHUTDOWN_L1:
        return "shut down L1";
    case NVMX_RUN_L2_PARKED:
        return "L2 parked";
    }
    return "?";
}

/* How a VMX instruction ended, from L1's RFLAGS (SDM 31.2). */
typedef enum vmx_result { VMSUCCEED, VMFAIL_INVALID, VMFAIL_VALID } vmx_result;
static const char *const vmx_result_names[] = {"VMsucceed", "VMfailInvalid", "VMfailValid"};

static vmx_result l1_result(machine *m)
{
    uint64_t f = vmcs_get(m, NVMX_HW_VMCS01, NVMX_FIELD_GUEST_RFLAGS);
    return (f & NVMX_RFLAGS_CF) ? VMFAIL_INVALID : (f & NVMX_RFLAGS_ZF) ? VMFAIL_VALID : VMSUCCEED;
}

static unsigned long long l1_rip(machine *m)
{
    return vmcs_get(m, NVMX_HW_VMCS01, NVMX_FIELD_GUEST_RIP);
}
static unsigned long long l2_field(machine *m, uint32_t field)
{
    return vmcs_get(m, NVMX_HW_VMCS02, field);
}

typedef struct instruction {
    uint8_t length;
    uint8_t bytes[4];
} instruction;

static const instruction vmxon_rax = {4, {0xF3, 0x0F, 0xC7, 0x30}};   /* vmxon [rax] */
static const instruction vmptrld_rax = {3, {0x0F, 0xC7, 0x30}};       /* vmptrld [rax] */
static const instruction vmwrite_rdx_rcx = {3, {0x0F, 0x79, 0xCA}};   /* vmwrite rcx, rdx */
static const instruction vmread_rdx_rcx = {3, {0x0F, 0x78, 0xCA}};    /* vmread rdx, rcx */
static const instruction vmlaunch = {3, {0x0F, 0x01, 0xC2}};          /* vmlaunch */
static const instruction vmresume = {3, {0x0F, 0x01, 0xC3}};          /* vmresume */
static const instruction vmclear_rax = {4, {0x66, 0x0F, 0xC7, 0x30}}; /* vmclear [rax] */
static const instruction vmxoff = {3, {0x0F, 0x01, 0xC4}};            /* vmxoff */

/* L1 executes an instruction: the host trapped it and hands its bytes to the library. */
static nvmx_next l1_traps(nvmx_vcpu *vcpu, machine *m, const char *text, const instruction *insn)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_UNDECODED, .bytes_length = insn->length};
    memcpy(exit.bytes, insn->bytes, insn->length);
    nvmx_next next;
    nvmx_status status = nvmx_on_l1_exit(vcpu, &exit, &next);
    expect(status == NVMX_OK, "%s: nvmx_on_l1_exit returned %s", text, nvmx_status_str(status));
    follow(m, &next);
    return next;
}

/* A VMX instruction L1 completes: the answer is "run L1", the outcome `expected`. */
static void l1_vmx(nvmx_vcpu *vcpu, machine *m, const char *text, const instruction *insn,
                   vmx_result expected)
{
    nvmx_next next = l1_traps(vcpu, m, text, insn);
    vmx_result result = l1_result(m);
    printf("  %-34s %s, %s, RIP=%#llx\n", text, run_name(next.run), vmx_result_names[result],
           l1_rip(m));
    expect(next.run == NVMX_RUN_L1 && next.exception_vector < 0 && result == expected,
           "%s: expected run L1 with %s, got %s with %s", text, vmx_result_names[expected],
           run_name(next.run), vmx_result_names[result]);
}

static void l1_vmwrite(nvmx_vcpu *vcpu, machine *m, const char *text, uint32_t field,
                       uint64_t value)
{
    m->gpr[NVMX_REG_RCX] = field;
    m->gpr[NVMX_REG_RDX] = value;
    l1_vmx(vcpu, m, text, &vmwrite_rdx_rcx, VMSUCCEED);
}

/* VMREAD into RDX; prints and returns the value read. */
static uint64_t l1_vmread(nvmx_vcpu *vcpu, machine *m, const char *text, uint32_t field)
{
    m->gpr[NVMX_REG_RCX] = field;
    m->gpr[NVMX_REG_RDX] = 0;
    l1_vmx(vcpu, m, text, &vmread_rdx_rcx, VMSUCCEED);
    printf("    -> RDX = %#llx\n", (unsigned long long)m->gpr[NVMX_REG_RDX]);
    return m->gpr[NVMX_REG_RDX];
}

/* VMLAUNCH or VMRESUME: the library checks vmcs12, writes vmcs02 and answers "run L2"; the
 * embedder then runs L2 from vmcs02, which must start at `l2_rip`. */
static void l1_enters_l2(nvmx_vcpu *vcpu, machine *m, const char *text, const instruction *insn,
                         uint64_t l2_rip)
{
    nvmx_next next = l1_traps(vcpu, m, text, insn);
    printf("  %-34s %s at RIP=%#llx RSP=%#llx CR3=%#llx (vmcs02)\n", text, run_name(next.run),
           l2_field(m, NVMX_FIELD_GUEST_RIP), l2_field(m, NVMX_FIELD_GUEST_RSP),
           l2_field(m, NVMX_FIELD_GUEST_CR3));
    expect(next.run == NVMX_RUN_L2 && nvmx_vcpu_in_guest_mode(vcpu),
           "%s: expected run L2, got %s (L1: %s)", text, run_name(next.run),
           vmx_result_names[l1_result(m)]);
    expect(l2_field(m, NVMX_FIELD_GUEST_RIP) == l2_rip, "%s: L2 should start at %#llx", text,
           (unsigned long long)l2_rip);
}

/* The pretend CPU runs L2 through instructions that do not exit (vmcs02's GUEST_RIP moves on)
 * up to `mnemonic` at `rip`, which does; L0 reports that exit as the CPU describes it and
 * prints the library's answer. */
static nvmx_next l2_runs_to_exit(nvmx_vcpu *vcpu, machine *m, uint64_t rip, const char *mnemonic,
                                 uint32_t reason, uint32_t length)
{
    expect(m->running == NVMX_HW_VMCS02, "%s: L2 should be running", mnemonic);
    expect(rip >= vmcs_get(m, NVMX_HW_VMCS02, NVMX_FIELD_GUEST_RIP), "%s: L2 runs forward",
           mnemonic);
    vmcs_set(m, NVMX_HW_VMCS02, NVMX_FIELD_GUEST_RIP, rip);
    char text[40];
    snprintf(text, sizeof(text), "%-6s at %#llx (exit %u, len %u)", mnemonic,
             (unsigned long long)rip, reason, length);
    nvmx_exit exit = {.reason = reason, .instruction_length = length};
    nvmx_next next;
    nvmx_status status = nvmx_on_l2_exit(vcpu, &exit, &next);
    expect(status == NVMX_OK, "%s: nvmx_on_l2_exit returned %s", text, nvmx_status_str(status));
    follow(m, &next);
    if (next.run == NVMX_RUN_L1)
        printf("  %-34s %s at RIP=%#llx RSP=%#llx (HOST_RIP/RSP)\n", text, run_name(next.run),
               l1_rip(m), (unsigned long long)vmcs_get(m, NVMX_HW_VMCS01, NVMX_FIELD_GUEST_RSP));
    else
        printf("  %-34s %s, L2 at RIP=%#llx\n", text, run_name(next.run),
               l2_field(m, NVMX_FIELD_GUEST_RIP));
    return next;
}

/* An L2 exit L1 asked for: L1 now runs its exit handler (HOST_RIP) with vmcs12's host state. */
static void expect_exit_to_l1(nvmx_vcpu *vcpu, machine *m, const char *mnemonic, nvmx_next next)
{
    expect(next.run == NVMX_RUN_L1 && !nvmx_vcpu_in_guest_mode(vcpu),
           "L2 %s: expected an exit to L1, got %s", mnemonic, run_name(next.run));
    expect(l1_rip(m) == L1_EXIT_HANDLER, "L2 %s: L1 should continue at HOST_RIP %#x", mnemonic,
           L1_EXIT_HANDLER);
}

/* ---- part 1: the VMX instructions of L1 ---- */

static void vmx_basics(nvmx_vcpu *vcpu, machine *m, uint32_t revision)
{
    /* L1 prepares a VMXON region and two VMCS regions, each starting with the revision, and
     * the pointers the memory operands of VMXON/VMPTRLD/VMCLEAR read. */
    memcpy(m->ram + 0x10000, &revision, 4);
    memcpy(m->ram + 0x11000, &revision, 4);
    uint32_t wrong = 0xBAD;
    memcpy(m->ram + 0x12000, &wrong, 4);
    uint64_t ptr[] = {0x10000, 0x11000, 0x12000};
    memcpy(m->ram + 0x20000, ptr, sizeof(ptr));

    printf("L1 runs:\n");
    m->gpr[NVMX_REG_RAX] = 0x20000;
    l1_vmx(vcpu, m, "vmxon [rax]    (region 0x10000)", &vmxon_rax, VMSUCCEED);
    m->gpr[NVMX_REG_RAX] = 0x20008;
    l1_vmx(vcpu, m, "vmptrld [rax]  (VMCS 0x11000)", &vmptrld_rax, VMSUCCEED);
    l1_vmwrite(vcpu, m, "vmwrite GUEST_RIP, 0xfffff000", NVMX_FIELD_GUEST_RIP, 0xFFFFF000);
    uint64_t rip = l1_vmread(vcpu, m, "vmread GUEST_RIP", NVMX_FIELD_GUEST_RIP);
    expect(rip == 0xFFFFF000, "vmread GUEST_RIP should give what vmwrite wrote");
    /* A failing VMPTRLD leaves the current VMCS (0x11000) current. */
    m->gpr[NVMX_REG_RAX] = 0x20010;
    l1_vmx(vcpu, m, "vmptrld [rax]  (bad revision)", &vmptrld_rax, VMFAIL_VALID);
    uint64_t error =
        l1_vmread(vcpu, m, "vmread VM_INSTRUCTION_ERROR", NVMX_FIELD_VM_INSTRUCTION_ERROR);
    printf("    -> error %llu: %s\n", (unsigned long long)error,
           nvmx_vm_instruction_error_str((unsigned)error));
    expect(error == NVMX_VMERR_VMPTRLD_INCORRECT_REVISION,
           "VMPTRLD of a wrong revision should fail with error 11");
}

/* ---- part 2: a nested round trip ---- */

/* A control field's value: the must-be-1 bits of its TRUE capability MSR (bits 31:0, SDM
 * A.3-A.5) plus the controls L1 wants, which must be allowed-1 (bits 63:32). */
static uint64_t control(uint64_t true_cap, uint64_t wanted, const char *name)
{
    expect((wanted & ~(true_cap >> 32)) == 0, "%s: a wanted control is not allowed-1", name);
    return (true_cap & 0xFFFFFFFF) | wanted;
}

/* L1's host state: where its VM-exit handler runs, in 64-bit mode (host address-space size). */
static const field_value l1_host_state[] = {
    {NVMX_FIELD_HOST_CR0, NVMX_CR0_PG | NVMX_CR0_NE | 0x10 /* ET */ | NVMX_CR0_PE},
    {NVMX_FIELD_HOST_CR3, L1_PAGE_TABLES},
    {NVMX_FIELD_HOST_CR4, NVMX_CR4_VMXE | NVMX_CR4_PAE},
    {NVMX_FIELD_HOST_CS_SELECTOR, 0x08},
    {NVMX_FIELD_HOST_SS_SELECTOR, 0x10},
    {NVMX_FIELD_HOST_DS_SELECTOR, 0x10},
    {NVMX_FIELD_HOST_ES_SELECTOR, 0x10},
    {NVMX_FIELD_HOST_FS_SELECTOR, 0x10},
    {NVMX_FIELD_HOST_GS_SELECTOR, 0x10},
    {NVMX_FIELD_HOST_TR_SELECTOR, 0x18},
    {NVMX_FIELD_HOST_TR_BASE, 0x7000},
    {NVMX_FIELD_HOST_GDTR_BASE, 0x5000},
    {NVMX_FIELD_HOST_IDTR_BASE, 0x6000},
    {NVMX_FIELD_HOST_RSP, 0x9000},
    {NVMX_FIELD_HOST_RIP, L1_EXIT_HANDLER},
};

/* L2: 64-bit, CPL 0, paging on (SDM 27.3.1). IA32_EFER is written although "load IA32_EFER"
 * is 0: vmcs02 gets vmcs12's field as it is, and this L0 runs L2 from vmcs02's fields without
 * doing what a CPU's VM entry would (27.3.2.1: EFER.LMA = "IA-32e mode guest"). Left 0, the
 * first exit would read LMA = 0 there and clear "IA-32e mode guest" in vmcs12 (28.2). */
static const field_value l2_registers[] = {
    {NVMX_FIELD_GUEST_CR0, NVMX_CR0_PG | NVMX_CR0_NE | 0x10 /* ET */ | NVMX_CR0_PE},
    {NVMX_FIELD_GUEST_CR3, L2_PAGE_TABLES},
    {NVMX_FIELD_GUEST_CR4, NVMX_CR4_VMXE | NVMX_CR4_PAE},
    {NVMX_FIELD_GUEST_DR7, 0x400},
    {NVMX_FIELD_GUEST_IA32_EFER, NVMX_EFER_LME | NVMX_EFER_LMA},
    {NVMX_FIELD_GUEST_RFLAGS, 0x2},
    {NVMX_FIELD_GUEST_RSP, 0x58000},
    {NVMX_FIELD_GUEST_RIP, L2_CODE},
};

/* VMWRITE of each field of a table, quietly: one line for the lot is printed after. */
static unsigned l1_vmwrites(nvmx_vcpu *vcpu, machine *m, const field_value *fields, size_t n)
{
    char text[40];
    for (size_t i = 0; i < n; i++) {
        snprintf(text, sizeof(text), "vmwrite %#x, %#llx", fields[i].field,
                 (unsigned long long)fields[i].value);
        m->gpr[NVMX_REG_RCX] = fields[i].field;
        m->gpr[NVMX_REG_RDX] = fields[i].value;
        nvmx_next next = l1_traps(vcpu, m, text, &vmwrite_rdx_rcx);
        expect(next.run == NVMX_RUN_L1 && l1_result(m) == VMSUCCEED,
               "%s: expected VMsucceed, got %s", text, vmx_result_names[l1_result(m)]);
    }
    return (unsigned)n;
}

/* L1 fills the current VMCS (0x11000) with VMWRITEs: controls, its host state, L2's state.
 * L1 would read the capabilities with RDMSR; the library answers those with these values. */
static void l1_builds_vmcs(nvmx_vcpu *vcpu, machine *m, const nvmx_vm *vm)
{
    nvmx_vmx_caps caps;
    nvmx_vm_get_caps(vm, &caps);
    const field_value controls[] = {
        {NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL, control(caps.true_pinbased, 0, "pin-based")},
        /* HLT exiting: L2's HLT goes to L1. No RDTSC exiting: L2's RDTSC is not L1's. */
        {NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL,
         control(caps.true_procbased, NVMX_CTL(HLT_EXITING), "processor-based")},
        {NVMX_FIELD_VM_EXIT_CONTROLS,
         control(caps.true_exit, NVMX_CTL(EXIT_HOST_ADDR_SPACE), "VM-exit")},
        {NVMX_FIELD_VM_ENTRY_CONTROLS,
         control(caps.true_entry, NVMX_CTL(ENTRY_IA32E_MODE), "VM-entry")},
        {NVMX_FIELD_VMCS_LINK_POINTER, ~0ull}, /* no shadow VMCS */
    };
    printf("L1 builds a VMCS for L2 (controls from IA32_VMX_TRUE_*_CTLS + HLT exiting):\n");
    unsigned n = l1_vmwrites(vcpu, m, controls, COUNT(controls));
    n += l1_vmwrites(vcpu, m, l1_host_state, COUNT(l1_host_state));
    n += l1_vmwrites(vcpu, m, flat64_segments, COUNT(flat64_segments));
    n += l1_vmwrites(vcpu, m, l2_registers, COUNT(l2_registers));
    char text[40];
    snprintf(text, sizeof(text), "%u x vmwrite rcx, rdx", n);
    printf("  %-34s run L1, all VMsucceed, RIP=%#llx\n", text, l1_rip(m));
    printf("    -> pin %#llx, proc %#llx, exit %#llx, entry %#llx\n",
           (unsigned long long)controls[0].value, (unsigned long long)controls[1].value,
           (unsigned long long)controls[2].value, (unsigned long long)controls[3].value);
    printf("    -> 64-bit L2 at GUEST_RIP %#x, 64-bit host at HOST_RIP %#x\n", L2_CODE,
           L1_EXIT_HANDLER);
}

/* L2 runs to a CPUID; L1's handler skips it and resumes L2 after it. */
static void cpuid_round_trip(nvmx_vcpu *vcpu, machine *m)
{
    printf("L2 runs:\n");
    nvmx_next next = l2_runs_to_exit(vcpu, m, L2_CPUID, "cpuid", NVMX_EXIT_CPUID, 2);
    expect_exit_to_l1(vcpu, m, "cpuid", next);

    printf("L1's exit handler:\n");
    uint64_t reason = l1_vmread(vcpu, m, "vmread VM_EXIT_REASON", NVMX_FIELD_VM_EXIT_REASON);
    expect(reason == NVMX_EXIT_CPUID, "VM_EXIT_REASON should be 10 (CPUID)");
    uint64_t rip = l1_vmread(vcpu, m, "vmread GUEST_RIP", NVMX_FIELD_GUEST_RIP);
    expect(rip == L2_CPUID, "GUEST_RIP should be L2's CPUID");
    uint64_t length =
        l1_vmread(vcpu, m, "vmread VM_EXIT_INSTRUCTION_LEN", NVMX_FIELD_VM_EXIT_INSTRUCTION_LEN);
    expect(length == 2, "VM_EXIT_INSTRUCTION_LEN should be 2");
    char text[40];
    snprintf(text, sizeof(text), "vmwrite GUEST_RIP, %#llx", (unsigned long long)(rip + length));
    l1_vmwrite(vcpu, m, text, NVMX_FIELD_GUEST_RIP, rip + length);
    l1_enters_l2(vcpu, m, "vmresume", &vmresume, rip + length);
}

/* L2's RDTSC: L1 did not ask for it (no RDTSC exiting), so it is L0's. This L0 gets it because
 * it asked itself (config.l0.proc): it emulates RDTSC with vmcs02's TSC offset, into which the
 * library merged L1's, and L2 goes on. */
static void rdtsc_stays_in_l0(nvmx_vcpu *vcpu, machine *m)
{
    printf("L2 runs again:\n");
    nvmx_next next = l2_runs_to_exit(vcpu, m, L2_RDTSC, "rdtsc", NVMX_EXIT_RDTSC, 2);
    expect(next.run == NVMX_RUN_L0_HANDLES && nvmx_vcpu_in_guest_mode(vcpu),
           "L2 RDTSC: expected L0 handles, got %s", run_name(next.run));
    uint64_t proc = vmcs_get(m, NVMX_HW_VMCS02, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL);
    expect(proc & NVMX_CTL(RDTSC_EXITING), "vmcs02 should have L0's RDTSC exiting");
    uint64_t tsc = m->tsc + vmcs_get(m, NVMX_HW_VMCS02, NVMX_FIELD_TSC_OFFSET);
    m->gpr[NVMX_REG_RAX] = tsc & 0xFFFFFFFF;
    m->gpr[NVMX_REG_RDX] = tsc >> 32;
    vmcs_set(m, NVMX_HW_VMCS02, NVMX_FIELD_GUEST_RIP, l2_field(m, NVMX_FIELD_GUEST_RIP) + 2);
    /* Before L0 resumes L2 on its own, the library refreshes what depends on the time L0
     * spent (L1's preemption timer in vmcs02). */
    expect(nvmx_before_l2_resume(vcpu) == NVMX_OK, "nvmx_before_l2_resume failed");
    printf("    -> vmcs02 proc %#llx has L0's RDTSC exiting, L1's VMCS not\n",
           (unsigned long long)proc);
    printf("    -> L0 emulates it: EDX:EAX = %#llx, L2 goes on at RIP=%#llx\n",
           (unsigned long long)tsc, l2_field(m, NVMX_FIELD_GUEST_RIP));
}

/* L2's HLT exits to L1 (HLT exiting); L1 reads why. */
static void hlt_exits_to_l1(nvmx_vcpu *vcpu, machine *m)
{
    nvmx_next next = l2_runs_to_exit(vcpu, m, L2_HLT, "hlt", NVMX_EXIT_HLT, 1);
    expect_exit_to_l1(vcpu, m, "hlt", next);
    printf("L1's exit handler:\n");
    uint64_t reason = l1_vmread(vcpu, m, "vmread VM_EXIT_REASON", NVMX_FIELD_VM_EXIT_REASON);
    expect(reason == NVMX_EXIT_HLT, "VM_EXIT_REASON should be 12 (HLT)");
    uint64_t rip = l1_vmread(vcpu, m, "vmread GUEST_RIP", NVMX_FIELD_GUEST_RIP);
    expect(rip == L2_HLT, "GUEST_RIP should be L2's HLT");
}

/* --entry-checks: the VM-entry checks the library runs, one per line. */
static int print_entry_checks(void)
{
    size_t n = nvmx_entry_check_count();
    for (size_t i = 0; i < n; i++) {
        const nvmx_entry_check_info *c = nvmx_entry_check_get(i);
        printf("%-60s %-12s SDM %s\n", c->name, nvmx_entry_check_category_name(c->category),
               c->sdm_section);
    }
    printf("%zu VM-entry checks\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (argc == 2 && strcmp(argv[1], "--entry-checks") == 0)
            return print_entry_checks();
        fprintf(
            stderr,
            "%s: unknown option '%s'\n"
            "usage: %s                 run the embedding demo\n"
            "       %s --entry-checks  list the VM-entry checks (name, category, SDM section)\n",
            argv[0], argv[1], argv[0], argv[0]);
        return 2;
    }
    static machine m;
    m.vmcs[NVMX_HW_VMCS01] = calloc(nvmx_vmcs_field_count(), sizeof(uint64_t));
    m.vmcs[NVMX_HW_VMCS02] = calloc(nvmx_vmcs_field_count(), sizeof(uint64_t));
    expect(m.vmcs[NVMX_HW_VMCS01] && m.vmcs[NVMX_HW_VMCS02], "out of memory");
    m.tsc = 0x123456789ull;
    l1_reset(&m);
    printf("libnestvmx %u.%u.%u - minimal embedding example\n", NVMX_VERSION_MAJOR,
           NVMX_VERSION_MINOR, NVMX_VERSION_PATCH);

    nvmx_vm_config config;
    nvmx_vm_config_init(&config);             /* software host, VMX exposed */
    config.l0.proc = NVMX_CTL(RDTSC_EXITING); /* L0 wants every RDTSC of L2 (see rdtsc step) */
    nvmx_vm *vm;
    nvmx_vcpu *vcpu;
    if (nvmx_vm_create(&config, &ops, &m, &vm) != NVMX_OK ||
        nvmx_vcpu_create(vm, &m, &vcpu) != NVMX_OK) {
        fprintf(stderr, "cannot create the VM\n");
        return 1;
    }
    nvmx_vmx_caps caps;
    nvmx_vm_get_caps(vm, &caps);
    printf("L1 sees IA32_VMX_BASIC = %#llx (VMCS revision %#llx)\n", (unsigned long long)caps.basic,
           (unsigned long long)(caps.basic & NVMX_BASIC_REVISION_MASK));

    vmx_basics(vcpu, &m, (uint32_t)(caps.basic & NVMX_BASIC_REVISION_MASK));
    l1_builds_vmcs(vcpu, &m, vm);
    l1_enters_l2(vcpu, &m, "vmlaunch", &vmlaunch, L2_CODE);
    cpuid_round_trip(vcpu, &m);
    rdtsc_stays_in_l0(vcpu, &m);
    hlt_exits_to_l1(vcpu, &m);

    /* L1 is done with L2: it clears the VMCS (written back to 0x11000) and leaves VMX. */
    m.gpr[NVMX_REG_RAX] = 0x20008;
    l1_vmx(vcpu, &m, "vmclear [rax]  (VMCS 0x11000)", &vmclear_rax, VMSUCCEED);
    l1_vmx(vcpu, &m, "vmxoff", &vmxoff, VMSUCCEED);

    nvmx_vcpu_destroy(vcpu);
    nvmx_vm_destroy(vm);
    free(m.vmcs[NVMX_HW_VMCS01]);
    free(m.vmcs[NVMX_HW_VMCS02]);
    printf("round trip: L2 CPUID -> L1 -> VMRESUME -> L2 ok\n");
    printf("L2 HLT -> L1 (HLT exiting) ok, L2 RDTSC -> L0 (not asked for by L1) ok\n");
    printf("done: L1 left VMX operation; its VMCS data was written back to its region.\n");
    return 0;
}
