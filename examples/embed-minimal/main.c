/* SPDX-License-Identifier: MIT */
/*
 * The smallest embedder of libnestvmx: an "L0" whose L1 is a few registers and a buffer of
 * RAM. It feeds the library the VMX instructions an L1 hypervisor would execute — as raw
 * instruction bytes, the way an emulator that traps #UD sees them — and prints what the
 * library did to L1's registers and memory.
 */
#include <nestvmx/nestvmx.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE (1u << 20)

typedef struct l1 {
    uint8_t ram[RAM_SIZE];
    uint64_t regs[NVMX_REG_COUNT];
    nvmx_segment segs[NVMX_SEG_COUNT];
} l1;

/* ---- the ops: plain memory, identity paging, registers in an array ---- */
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
    l1 *g = ctx;
    if (gpa > RAM_SIZE || len > RAM_SIZE - gpa)
        return NVMX_ERR_BAD_L1_ADDRESS;
    memcpy(buf, g->ram + gpa, len);
    return NVMX_OK;
}
static nvmx_status l1_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    l1 *g = ctx;
    if (gpa > RAM_SIZE || len > RAM_SIZE - gpa)
        return NVMX_ERR_BAD_L1_ADDRESS;
    memcpy(g->ram + gpa, buf, len);
    return NVMX_OK;
}
static nvmx_status translate(void *ctx, uint64_t la, nvmx_access a, uint64_t *gpa,
                             nvmx_exception *f)
{
    (void)ctx;
    (void)a;
    (void)f;
    *gpa = la; /* L1 runs with identity paging */
    return NVMX_OK;
}
static uint64_t reg_get(void *ctx, nvmx_reg r)
{
    return ((l1 *)ctx)->regs[r];
}
static void reg_set(void *ctx, nvmx_reg r, uint64_t v)
{
    ((l1 *)ctx)->regs[r] = v;
}
static void segment_get(void *ctx, nvmx_seg s, nvmx_segment *out)
{
    *out = ((l1 *)ctx)->segs[s];
}
static void inject(void *ctx, const nvmx_exception *e)
{
    (void)ctx;
    printf("    -> exception %u injected into L1\n", e->vector);
}
static void log_line(void *ctx, nvmx_log_level level, const char *msg)
{
    (void)ctx;
    printf("    [libnestvmx %d] %s\n", level, msg);
}

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
    .log = log_line,
};

/* L1 in 64-bit mode, CPL 0, CR4.VMXE set, flat segments. */
static void l1_reset(l1 *g)
{
    memset(g, 0, sizeof(*g));
    g->regs[NVMX_REG_CR0] = 0x80000031;
    g->regs[NVMX_REG_CR4] = NVMX_CR4_VMXE | NVMX_CR4_PAE;
    g->regs[NVMX_REG_EFER] = NVMX_EFER_LME | NVMX_EFER_LMA;
    g->regs[NVMX_REG_RFLAGS] = 0x2;
    g->regs[NVMX_REG_RIP] = 0x1000;
    for (int s = 0; s < NVMX_SEG_COUNT; s++)
        g->segs[s] =
            (nvmx_segment){.limit = 0xFFFFFFFF, .access_rights = 0x93 | NVMX_AR_DB | NVMX_AR_G};
    g->segs[NVMX_SEG_CS].access_rights = 0x9B | NVMX_AR_L | NVMX_AR_G;
}

static const char *outcome(const l1 *g)
{
    uint64_t f = g->regs[NVMX_REG_RFLAGS];
    return (f & NVMX_RFLAGS_CF)   ? "VMfailInvalid"
           : (f & NVMX_RFLAGS_ZF) ? "VMfailValid"
                                  : "VMsucceed";
}

/* L1 "executes" an instruction: the host trapped it and hands its bytes to the library. */
static void run(nvmx_vcpu *vcpu, l1 *g, const char *text, const uint8_t *bytes, uint8_t n)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_UNDECODED, .bytes_length = n};
    memcpy(exit.bytes, bytes, n);
    nvmx_next next;
    nvmx_status s = nvmx_on_l1_exit(vcpu, &exit, &next);
    printf("  %-34s status=%s, %s, RIP=%#llx\n", text, nvmx_status_str(s), outcome(g),
           (unsigned long long)g->regs[NVMX_REG_RIP]);
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
    static l1 guest;
    l1_reset(&guest);
    printf("libnestvmx %u.%u.%u - minimal embedding example\n", NVMX_VERSION_MAJOR,
           NVMX_VERSION_MINOR, NVMX_VERSION_PATCH);

    nvmx_vm_config config;
    nvmx_vm_config_init(&config); /* software host, VMX exposed */
    nvmx_vm *vm;
    nvmx_vcpu *vcpu;
    if (nvmx_vm_create(&config, &ops, &guest, &vm) != NVMX_OK ||
        nvmx_vcpu_create(vm, &guest, &vcpu) != NVMX_OK) {
        fprintf(stderr, "cannot create the VM\n");
        return 1;
    }
    nvmx_vmx_caps caps;
    nvmx_vm_get_caps(vm, &caps);
    printf("L1 sees IA32_VMX_BASIC = %#llx (VMCS revision %#llx)\n", (unsigned long long)caps.basic,
           (unsigned long long)(caps.basic & 0x7FFFFFFF));

    /* L1 prepares a VMXON region and two VMCS regions, each starting with the revision. */
    uint32_t revision = (uint32_t)(caps.basic & 0x7FFFFFFF);
    memcpy(guest.ram + 0x10000, &revision, 4);
    memcpy(guest.ram + 0x11000, &revision, 4);
    uint32_t wrong = 0xBAD;
    memcpy(guest.ram + 0x12000, &wrong, 4);
    uint64_t ptr[] = {0x10000, 0x11000, 0x12000};
    memcpy(guest.ram + 0x20000, ptr, sizeof(ptr));

    static const uint8_t vmxon_rax[] = {0xF3, 0x0F, 0xC7, 0x30};   /* vmxon [rax] */
    static const uint8_t vmptrld_rax[] = {0x0F, 0xC7, 0x30};       /* vmptrld [rax] */
    static const uint8_t vmwrite_rdx_rcx[] = {0x0F, 0x79, 0xCA};   /* vmwrite rcx, rdx */
    static const uint8_t vmread_rdx_rcx[] = {0x0F, 0x78, 0xCA};    /* vmread rdx, rcx */
    static const uint8_t vmclear_rax[] = {0x66, 0x0F, 0xC7, 0x30}; /* vmclear [rax] */
    static const uint8_t vmxoff[] = {0x0F, 0x01, 0xC4};

    printf("L1 runs:\n");
    guest.regs[NVMX_REG_RAX] = 0x20000;
    run(vcpu, &guest, "vmxon [rax]    (region 0x10000)", vmxon_rax, sizeof(vmxon_rax));
    guest.regs[NVMX_REG_RAX] = 0x20008;
    run(vcpu, &guest, "vmptrld [rax]  (VMCS 0x11000)", vmptrld_rax, sizeof(vmptrld_rax));
    guest.regs[NVMX_REG_RCX] = NVMX_FIELD_GUEST_RIP;
    guest.regs[NVMX_REG_RDX] = 0xFFFFF000;
    run(vcpu, &guest, "vmwrite GUEST_RIP, 0xfffff000", vmwrite_rdx_rcx, sizeof(vmwrite_rdx_rcx));
    guest.regs[NVMX_REG_RDX] = 0;
    run(vcpu, &guest, "vmread GUEST_RIP", vmread_rdx_rcx, sizeof(vmread_rdx_rcx));
    printf("    -> RDX = %#llx\n", (unsigned long long)guest.regs[NVMX_REG_RDX]);
    guest.regs[NVMX_REG_RAX] = 0x20010;
    run(vcpu, &guest, "vmptrld [rax]  (bad revision)", vmptrld_rax, sizeof(vmptrld_rax));
    guest.regs[NVMX_REG_RCX] = NVMX_FIELD_VM_INSTRUCTION_ERROR;
    run(vcpu, &guest, "vmread VM_INSTRUCTION_ERROR", vmread_rdx_rcx, sizeof(vmread_rdx_rcx));
    printf("    -> error %llu: %s\n", (unsigned long long)guest.regs[NVMX_REG_RDX],
           nvmx_vm_instruction_error_str((unsigned)guest.regs[NVMX_REG_RDX]));
    guest.regs[NVMX_REG_RAX] = 0x20008;
    run(vcpu, &guest, "vmclear [rax]  (VMCS 0x11000)", vmclear_rax, sizeof(vmclear_rax));
    run(vcpu, &guest, "vmxoff", vmxoff, sizeof(vmxoff));

    nvmx_vcpu_destroy(vcpu);
    nvmx_vm_destroy(vm);
    printf("done: L1 left VMX operation; its VMCS data was written back to its region.\n");
    return 0;
}
