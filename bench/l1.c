/* SPDX-License-Identifier: MIT */
/*
 * The guests of the synthetic host: L1, a 64-bit hypervisor that executes VMX instructions
 * (reported to the library as a hardware host reports them: exit reason plus VM-exit
 * instruction information), and L2, which only exits. Every answer of the library is checked.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* VM-exit instruction information (SDM 28.2.5). VMREAD/VMWRITE with register operands:
 * bit 10 = register form, reg1 (bits 6:3) = RAX (value), reg2 (bits 31:28) = RCX (field). */
#define INFO_REGS_RAX_RCX                                                                          \
    ((1u << 10) | ((unsigned)NVMX_REG_RAX << 3) | ((unsigned)NVMX_REG_RCX << 28))
/* VMXON/VMCLEAR/VMPTRLD [RAX]: 64-bit address size, DS, base RAX, no index. */
#define INFO_MEM_RAX ((2u << 7) | (3u << 15) | (1u << 22))

/* The exits, built once: the embedder's side of an exit should cost nothing measurable. */
static const nvmx_exit vmread_exit = {
    .reason = NVMX_EXIT_VMREAD, .instruction_info = INFO_REGS_RAX_RCX, .instruction_length = 3};
static const nvmx_exit vmwrite_exit = {
    .reason = NVMX_EXIT_VMWRITE, .instruction_info = INFO_REGS_RAX_RCX, .instruction_length = 3};
/* vmread rax, rcx (0F 78 /r, ModRM C8: r/m = RAX destination, reg = RCX field). */
static const nvmx_exit vmread_bytes_exit = {
    .reason = NVMX_EXIT_UNDECODED, .bytes = {0x0F, 0x78, 0xC8}, .bytes_length = 3};
static const nvmx_exit vmxon_exit = {
    .reason = NVMX_EXIT_VMXON, .instruction_info = INFO_MEM_RAX, .instruction_length = 4};
static const nvmx_exit vmptrld_exit = {
    .reason = NVMX_EXIT_VMPTRLD, .instruction_info = INFO_MEM_RAX, .instruction_length = 3};
static const nvmx_exit vmclear_exit = {
    .reason = NVMX_EXIT_VMCLEAR, .instruction_info = INFO_MEM_RAX, .instruction_length = 4};
/* INVEPT RCX, [RAX]: the memory operand as for VMPTRLD, reg2 (bits 31:28) = RCX, the type. */
static const nvmx_exit invept_exit = {.reason = NVMX_EXIT_INVEPT,
                                      .instruction_info =
                                          INFO_MEM_RAX | ((unsigned)NVMX_REG_RCX << 28),
                                      .instruction_length = 5};
static const nvmx_exit vmlaunch_exit = {.reason = NVMX_EXIT_VMLAUNCH, .instruction_length = 3};
static const nvmx_exit vmresume_exit = {.reason = NVMX_EXIT_VMRESUME, .instruction_length = 3};

static const char *run_name(nvmx_run run)
{
    switch (run) {
    case NVMX_RUN_L1:
        return "RUN_L1";
    case NVMX_RUN_L2:
        return "RUN_L2";
    case NVMX_RUN_L0_HANDLES:
        return "RUN_L0_HANDLES";
    case NVMX_RUN_SHUTDOWN_L1:
        return "RUN_SHUTDOWN_L1";
    case NVMX_RUN_L2_PARKED:
        return "RUN_L2_PARKED";
    }
    return "an unknown run value";
}

noreturn void bench_fail(const world *w, const char *operation, const char *problem)
{
    fprintf(stderr, "nestvmx-bench: benchmark '%s': %s: %s\n", w->benchmark, operation, problem);
    if (w->host.last_log[0])
        fprintf(stderr, "nestvmx-bench: last library message: %s\n", w->host.last_log);
    exit(1);
}

noreturn void bench_fail_status(const world *w, const char *operation, nvmx_status status)
{
    char problem[160];
    snprintf(problem, sizeof(problem), "returned '%s', expected success", nvmx_status_str(status));
    bench_fail(w, operation, problem);
}

/* The call went through, the library answered `want`, and L1 or L2 got no exception. */
static void expect_run(world *w, const char *operation, nvmx_status status, nvmx_run want)
{
    if (status != NVMX_OK)
        bench_fail_status(w, operation, status);
    if (w->next.run == want && w->next.exception_vector < 0 && w->host.counts.exceptions == 0)
        return;
    char problem[160];
    snprintf(problem, sizeof(problem), "answered %s, expected %s (exception vector %d)",
             run_name(w->next.run), run_name(want), w->next.exception_vector);
    bench_fail(w, operation, problem);
}

/* SDM 31.2: VMsucceed clears CF, PF, AF, ZF, SF and OF. */
static void expect_vmsucceed(world *w, const char *operation)
{
    uint64_t rflags = bench_host_reg(&w->host, NVMX_REG_RFLAGS);
    if (rflags & NVMX_RFLAGS_ARITH)
        bench_fail(w, operation,
                   (rflags & NVMX_RFLAGS_CF) ? "VMfailInvalid, expected VMsucceed"
                                             : "VMfailValid, expected VMsucceed");
}

static void l1_instruction(world *w, const nvmx_exit *exit, const char *operation)
{
    expect_run(w, operation, nvmx_on_l1_exit(w->vcpu, exit, &w->next), NVMX_RUN_L1);
    expect_vmsucceed(w, operation);
}

void l1_vmxon(world *w)
{
    bench_host_write64(&w->host, GPA_POINTER(0), GPA_VMXON);
    w->host.gpr[NVMX_REG_RAX] = GPA_POINTER(0);
    l1_instruction(w, &vmxon_exit, "VMXON");
}

/* The pointer operands are in memory from world_init: the instruction only sets RAX. */
void l1_vmptrld(world *w, unsigned vmcs)
{
    w->host.gpr[NVMX_REG_RAX] = GPA_POINTER(vmcs + 1);
    l1_instruction(w, &vmptrld_exit, "VMPTRLD");
}

void l1_vmclear(world *w, unsigned vmcs)
{
    w->host.gpr[NVMX_REG_RAX] = GPA_POINTER(vmcs + 1);
    l1_instruction(w, &vmclear_exit, "VMCLEAR");
}

uint64_t l1_vmread(world *w, uint32_t field)
{
    w->host.gpr[NVMX_REG_RCX] = field;
    l1_instruction(w, &vmread_exit, "VMREAD");
    return w->host.gpr[NVMX_REG_RAX];
}

uint64_t l1_vmread_decoded(world *w, uint32_t field)
{
    w->host.gpr[NVMX_REG_RCX] = field;
    l1_instruction(w, &vmread_bytes_exit, "VMREAD (decoded from bytes)");
    return w->host.gpr[NVMX_REG_RAX];
}

void l1_vmwrite(world *w, uint32_t field, uint64_t value)
{
    w->host.gpr[NVMX_REG_RCX] = field;
    w->host.gpr[NVMX_REG_RAX] = value;
    l1_instruction(w, &vmwrite_exit, "VMWRITE");
}

/* VMLAUNCH/VMRESUME succeed by entering L2: RIP and RFLAGS of L1 are not touched. */
static void l1_enter(world *w, const nvmx_exit *exit, const char *operation)
{
    expect_run(w, operation, nvmx_on_l1_exit(w->vcpu, exit, &w->next), NVMX_RUN_L2);
    w->host.running = NVMX_HW_VMCS02;
}

void l1_vmlaunch(world *w)
{
    l1_enter(w, &vmlaunch_exit, "VMLAUNCH");
}

void l1_vmresume(world *w)
{
    l1_enter(w, &vmresume_exit, "VMRESUME");
}

void l2_exit_to_l1(world *w, uint32_t reason, uint32_t instruction_length)
{
    nvmx_exit exit = {.reason = reason, .instruction_length = instruction_length};
    expect_run(w, "L2 exit reflected to L1", nvmx_on_l2_exit(w->vcpu, &exit, &w->next),
               NVMX_RUN_L1);
    w->host.running = NVMX_HW_VMCS01;
}

void l2_exit_to_l0(world *w, uint32_t reason, uint32_t instruction_length)
{
    nvmx_exit exit = {.reason = reason, .instruction_length = instruction_length};
    expect_run(w, "L2 exit kept by L0", nvmx_on_l2_exit(w->vcpu, &exit, &w->next),
               NVMX_RUN_L0_HANDLES);
}

/* SDM Table 28-7: bit 0, a data read; no guest-linear address (bits 7 and 8 clear). */
#define EPT_QUAL_DATA_READ 1u

void l2_ept_fill(world *w, uint64_t l2_gpa)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_EPT_VIOLATION,
                      .qualification = EPT_QUAL_DATA_READ,
                      .guest_physical_address = l2_gpa};
    expect_run(w, "L2 EPT violation filled into EPT02", nvmx_on_l2_exit(w->vcpu, &exit, &w->next),
               NVMX_RUN_L2);
}

/* SDM 31.3 INVEPT: type 1 = single-context. */
void l1_invept_single(world *w)
{
    w->host.gpr[NVMX_REG_RAX] = GPA_INVEPT_DESCRIPTOR;
    w->host.gpr[NVMX_REG_RCX] = 1;
    l1_instruction(w, &invept_exit, "INVEPT single-context");
}

/* ---- a valid vmcs12 ------------------------------------------------------------------- */

typedef struct field_value {
    uint32_t field;
    uint64_t value;
} field_value;

/* Access rights (SDM 25.4.1): 64-bit code (type 11, S, P, L, G), data (type 3, S, P, D/B,
 * G), busy 64-bit TSS, unusable. */
#define AR_CODE64 0xA09Bu
#define AR_DATA 0xC093u
#define AR_TSS64_BUSY 0x008Bu
#define AR_UNUSABLE 0x10000u
#define PAT_DEFAULT 0x0007040600070406ull

#define FLAT(seg, selector, ar)                                                                    \
    {NVMX_FIELD_GUEST_##seg##_SELECTOR, (selector)}, {NVMX_FIELD_GUEST_##seg##_LIMIT, 0xFFFFFFFF}, \
    {                                                                                              \
        NVMX_FIELD_GUEST_##seg##_AR_BYTES, (ar)                                                    \
    }

/* A 64-bit L2 that passes every guest-state check of SDM 27.3.1 (the values of the unit
 * tests' entry fixture; fields not listed stay 0 from the zeroed region). */
static const field_value l2_guest_state[] = {
    {NVMX_FIELD_GUEST_CR0, 0x80000031},
    {NVMX_FIELD_GUEST_CR3, 0x100000},
    {NVMX_FIELD_GUEST_CR4, NVMX_CR4_VMXE | NVMX_CR4_PAE},
    {NVMX_FIELD_GUEST_DR7, 0x400},
    {NVMX_FIELD_GUEST_IA32_PAT, PAT_DEFAULT},
    {NVMX_FIELD_GUEST_IA32_EFER, NVMX_EFER_LME | NVMX_EFER_LMA},
    FLAT(CS, 0x08, AR_CODE64),
    FLAT(SS, 0x10, AR_DATA),
    FLAT(DS, 0x10, AR_DATA),
    FLAT(ES, 0x10, AR_DATA),
    FLAT(FS, 0x10, AR_DATA),
    FLAT(GS, 0x10, AR_DATA),
    {NVMX_FIELD_GUEST_TR_SELECTOR, 0x18},
    {NVMX_FIELD_GUEST_TR_BASE, 0x3000},
    {NVMX_FIELD_GUEST_TR_LIMIT, 0x67},
    {NVMX_FIELD_GUEST_TR_AR_BYTES, AR_TSS64_BUSY},
    {NVMX_FIELD_GUEST_LDTR_AR_BYTES, AR_UNUSABLE},
    {NVMX_FIELD_GUEST_GDTR_BASE, 0x1000},
    {NVMX_FIELD_GUEST_GDTR_LIMIT, 0xFFF},
    {NVMX_FIELD_GUEST_IDTR_BASE, 0x2000},
    {NVMX_FIELD_GUEST_IDTR_LIMIT, 0xFFF},
    {NVMX_FIELD_GUEST_RSP, 0x8000},
    {NVMX_FIELD_GUEST_RIP, L2_START_RIP},
    {NVMX_FIELD_GUEST_RFLAGS, 0x2},
    {NVMX_FIELD_VMCS_LINK_POINTER, ~0ull},
};

/* A 64-bit L1 host that passes the host-state checks of SDM 27.2.2-27.2.4. */
static const field_value l1_host_state[] = {
    {NVMX_FIELD_HOST_CR0, 0x80000031},
    {NVMX_FIELD_HOST_CR3, 0x200000},
    {NVMX_FIELD_HOST_CR4, NVMX_CR4_VMXE | NVMX_CR4_PAE},
    {NVMX_FIELD_HOST_CS_SELECTOR, 0x08},
    {NVMX_FIELD_HOST_SS_SELECTOR, 0x10},
    {NVMX_FIELD_HOST_DS_SELECTOR, 0x10},
    {NVMX_FIELD_HOST_ES_SELECTOR, 0x10},
    {NVMX_FIELD_HOST_FS_SELECTOR, 0x10},
    {NVMX_FIELD_HOST_GS_SELECTOR, 0x10},
    {NVMX_FIELD_HOST_TR_SELECTOR, 0x18},
    {NVMX_FIELD_HOST_TR_BASE, 0x3000},
    {NVMX_FIELD_HOST_GDTR_BASE, 0x1000},
    {NVMX_FIELD_HOST_IDTR_BASE, 0x2000},
    {NVMX_FIELD_HOST_RSP, 0x7000},
    {NVMX_FIELD_HOST_RIP, 0x400000},
    {NVMX_FIELD_HOST_IA32_PAT, PAT_DEFAULT},
    {NVMX_FIELD_HOST_IA32_EFER, NVMX_EFER_LME | NVMX_EFER_LMA},
};

static void write_all(world *w, const field_value *values, size_t count)
{
    for (size_t i = 0; i < count; i++)
        l1_vmwrite(w, values[i].field, values[i].value);
}

/* The controls: the must-be-1 bits of the TRUE capability MSRs (SDM A.3-A.5), a 64-bit host
 * and a 64-bit guest; nothing else, so HLT (and most exits) stay L0's. */
static void write_controls(world *w)
{
    nvmx_vmx_caps caps;
    nvmx_vm_get_caps(w->vm, &caps);
    l1_vmwrite(w, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL, caps.true_pinbased & 0xFFFFFFFF);
    uint64_t proc = caps.true_procbased & 0xFFFFFFFF;
    if (w->l1_ept) {
        proc |= NVMX_CTL(SECONDARY_CONTROLS);
        l1_vmwrite(w, NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL,
                   (caps.procbased2 & 0xFFFFFFFF) | NVMX_CTL(EPT));
        l1_vmwrite(w, NVMX_FIELD_EPT_POINTER, world_eptp12());
    }
    if (w->l0_msr_policy) {
        proc |= NVMX_CTL(MSR_BITMAPS);
        l1_vmwrite(w, NVMX_FIELD_MSR_BITMAP, GPA_MSR_BITMAP);
    }
    l1_vmwrite(w, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL, proc);
    l1_vmwrite(w, NVMX_FIELD_VM_EXIT_CONTROLS,
               (caps.true_exit & 0xFFFFFFFF) | NVMX_CTL(EXIT_HOST_ADDR_SPACE));
    l1_vmwrite(w, NVMX_FIELD_VM_ENTRY_CONTROLS,
               (caps.true_entry & 0xFFFFFFFF) | NVMX_CTL(ENTRY_IA32E_MODE));
}

void l1_build_vmcs12(world *w, unsigned vmcs)
{
    l1_vmptrld(w, vmcs);
    write_all(w, l2_guest_state, sizeof(l2_guest_state) / sizeof(l2_guest_state[0]));
    write_all(w, l1_host_state, sizeof(l1_host_state) / sizeof(l1_host_state[0]));
    write_controls(w);
}

/* ---- the world ------------------------------------------------------------------------- */

/* L1 as a hardware host keeps it in vmcs01's guest-state area: 64-bit mode, CPL 0, paging,
 * CR4.VMXE, flat segments. */
static void l1_reset(bench_host *h)
{
    static const field_value state[] = {
        {NVMX_FIELD_GUEST_RIP, 0x100000},
        {NVMX_FIELD_GUEST_RSP, 0x9000},
        {NVMX_FIELD_GUEST_RFLAGS, 0x2},
        {NVMX_FIELD_GUEST_CR0, 0x80000031},
        {NVMX_FIELD_GUEST_CR3, 0x300000},
        {NVMX_FIELD_GUEST_CR4, NVMX_CR4_VMXE | NVMX_CR4_PAE},
        {NVMX_FIELD_GUEST_IA32_EFER, NVMX_EFER_LME | NVMX_EFER_LMA},
        FLAT(CS, 0x08, AR_CODE64),
        FLAT(SS, 0x10, AR_DATA),
        FLAT(DS, 0x10, AR_DATA),
        FLAT(ES, 0x10, AR_DATA),
        FLAT(FS, 0x10, AR_DATA),
        FLAT(GS, 0x10, AR_DATA),
        {NVMX_FIELD_GUEST_TR_SELECTOR, 0x18},
        {NVMX_FIELD_GUEST_TR_LIMIT, 0x67},
        {NVMX_FIELD_GUEST_TR_AR_BYTES, AR_TSS64_BUSY},
        {NVMX_FIELD_GUEST_LDTR_AR_BYTES, AR_UNUSABLE},
    };
    for (size_t i = 0; i < sizeof(state) / sizeof(state[0]); i++)
        bench_host_vmcs_set(h, NVMX_HW_VMCS01, state[i].field, state[i].value);
    h->running = NVMX_HW_VMCS01;
}

/* The VMXON region and every vmcs12 region start with the revision L1 reads from
 * IA32_VMX_BASIC; GPA_POINTER(i + 1) holds the address of vmcs12 i. */
static void l1_prepare_regions(world *w)
{
    nvmx_vmx_caps caps;
    nvmx_vm_get_caps(w->vm, &caps);
    uint32_t revision = (uint32_t)(caps.basic & NVMX_BASIC_REVISION_MASK);
    bench_host_write64(&w->host, GPA_VMXON, revision);
    for (unsigned i = 0; i < BENCH_VMCS_COUNT; i++) {
        bench_host_write64(&w->host, GPA_VMCS(i), revision);
        bench_host_write64(&w->host, GPA_POINTER(i + 1), GPA_VMCS(i));
    }
}

/* A KVM-like policy for L2: reads and writes of SPEC_CTRL (48H), SYSENTER_CS/ESP/EIP
 * (174H-176H), FS_BASE, GS_BASE, KERNEL_GS_BASE (C0000100H-C0000102H) and writes of PRED_CMD
 * (49H) pass through, everything else exits (SDM 25.6.9 layout). L1's bitmap passes
 * everything through but the x2APIC MSRs; that the merge is right is the unit tests' job. */
static void set_msr_policy(world *w)
{
    static const struct {
        uint32_t msr;
        bool read, write;
    } pass[] = {{0x48, true, true},        {0x49, false, true},      {0x174, true, true},
                {0x175, true, true},       {0x176, true, true},      {0xC0000100u, true, true},
                {0xC0000101u, true, true}, {0xC0000102u, true, true}};
    memset(w->l0_msr_bitmap, 0xFF, MSR_BITMAP_BYTES);
    for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
        unsigned bit = pass[i].msr & 0x1FFF, high = pass[i].msr > 0x1FFF ? 1024 : 0;
        if (pass[i].read)
            w->l0_msr_bitmap[high + bit / 8] &= (uint8_t) ~(1u << (bit % 8));
        if (pass[i].write)
            w->l0_msr_bitmap[2048 + high + bit / 8] &= (uint8_t) ~(1u << (bit % 8));
    }
    memset(w->host.ram + GPA_MSR_BITMAP, 0, MSR_BITMAP_BYTES);
    memset(w->host.ram + GPA_MSR_BITMAP + 0x800 / 8, 0xFF, 0x100 / 8);
    memset(w->host.ram + GPA_MSR_BITMAP + 2048 + 0x800 / 8, 0xFF, 0x100 / 8);
}

/* SDM 25.6.11: EPTP bits 2:0 memory type (6 = WB), 5:3 walk length - 1. */
uint64_t world_eptp12(void)
{
    return GPA_EPT12_PML4 | (3u << 3) | 6u;
}

/* SDM 29.3.2: entries with R, W, X (bits 0-2); leaves with memory type WB (bits 5:3) and, in
 * the PD, the page-size bit 7. */
#define EPT12_RWX 7ull
#define EPT12_LEAF_WB (6ull << 3)
#define EPT12_PAGE_SIZE (1ull << 7)

void world_use_l1_ept(world *w)
{
    w->l1_ept = true;
    memset(w->host.ram + GPA_EPT12_PML4, 0, 4 * PAGE_4K);
    unsigned gib = (unsigned)(EPT_L2_BASE >> 30);
    bench_host_write64(&w->host, GPA_EPT12_PML4, GPA_EPT12_PDPT | EPT12_RWX);
    bench_host_write64(&w->host, GPA_EPT12_PDPT + 8 * gib, GPA_EPT12_PD | EPT12_RWX);
    bench_host_write64(&w->host, GPA_EPT12_PD, GPA_EPT12_PT | EPT12_RWX);
    for (unsigned i = 0; i < 512; i++) {
        uint64_t l2_4k = EPT_L2_BASE + i * PAGE_4K, l2_2m = EPT_L2_BASE + i * PAGE_2M;
        bench_host_write64(&w->host, GPA_EPT12_PT + 8 * i,
                           EPT_L1_OF(l2_4k) | EPT12_LEAF_WB | EPT12_RWX);
        if (i > 0)
            bench_host_write64(&w->host, GPA_EPT12_PD + 8 * i,
                               EPT_L1_OF(l2_2m) | EPT12_PAGE_SIZE | EPT12_LEAF_WB | EPT12_RWX);
    }
    bench_host_write64(&w->host, GPA_INVEPT_DESCRIPTOR, world_eptp12());
    bench_host_write64(&w->host, GPA_INVEPT_DESCRIPTOR + 8, 0);
}

static void create_vm(world *w)
{
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    if (w->l0_msr_policy)
        config.l0.msr_bitmap = w->l0_msr_bitmap;
    nvmx_status status = nvmx_vm_create(&config, bench_host_ops(), &w->host, &w->vm);
    if (status != NVMX_OK)
        bench_fail_status(w, "nvmx_vm_create", status);
    status = nvmx_vcpu_create(w->vm, &w->host, &w->vcpu);
    if (status != NVMX_OK)
        bench_fail_status(w, "nvmx_vcpu_create", status);
}

void world_use_l0_msr_policy(world *w)
{
    nvmx_vcpu_destroy(w->vcpu);
    nvmx_vm_destroy(w->vm);
    w->l0_msr_policy = true;
    set_msr_policy(w);
    create_vm(w);
}

void world_init(world *w, const char *benchmark)
{
    memset(w, 0, sizeof(*w));
    w->benchmark = benchmark;
    if (!bench_host_init(&w->host))
        bench_fail(w, "allocating the host's memory", "out of memory");
    l1_reset(&w->host);
    create_vm(w);
    l1_prepare_regions(w);
}

void world_fini(world *w)
{
    nvmx_vcpu_destroy(w->vcpu);
    nvmx_vm_destroy(w->vm);
    if (w->host.live_allocations != 0) {
        char detail[64];
        snprintf(detail, sizeof(detail), "%ld allocations not freed", w->host.live_allocations);
        bench_fail(w, "destroying the VM", detail);
    }
    bench_host_fini(&w->host);
}
