/* SPDX-License-Identifier: MIT */
/*
 * Every pointer L1 controls that the library dereferences today, aimed where it hurts:
 * unbacked memory, beyond the physical-address width, at the VMXON region, at the current
 * VMCS, straddling the end of L1 RAM. The outcome is architectural (VMfail, a VM-entry
 * failure, all-ones reads, dropped writes, a VMX abort), never an out-of-bounds access (the
 * fake host's RAM is a heap buffer: ASan catches any). And L1 memory that changes between two
 * reads (another vCPU of L1 racing the library): each decision uses one snapshot.
 *
 * Classes: out-of-bounds access to L1-controlled structures; CVE-2021-29657 (KVM nested SVM:
 * a field of the guest's control block fetched twice, checked then used). SDM Vol. 3C 31.3
 * (VMXON/VMCLEAR/VMPTRLD/VMPTRST pointer checks), 27.2.1.1
 * (bitmap and MSR-list addresses), 27.3.1.5 (VMCS link pointer, qualification 4), 27.4, 27.8,
 * 28.4, 28.7.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sec_env.h"

static harness h;

#define RAM_END ((uint64_t)HARNESS_RAM)
#define UNBACKED 0x3FFFFFFF0000ull /* within 46 bits, not RAM */
#define TOO_WIDE (1ull << 46)
#define LIST_GPA 0x300000ull

static void setup(void)
{
    sec_nested_init(&h, NULL, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(sec_memory, .init = setup, .fini = teardown);

static uint64_t l1_rflags(void)
{
    return h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RFLAGS] & NVMX_RFLAGS_ARITH;
}

static uint64_t instruction_error(void)
{
    return vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_VM_INSTRUCTION_ERROR);
}

static void pointer_insn_fails_valid(uint32_t reason, uint64_t pointer, unsigned error)
{
    cr_assert_eq(harness_pointer_insn(&h, reason, pointer), NVMX_OK);
    cr_assert_eq(h.host.exception_count, 0);
    cr_assert_eq(l1_rflags(), NVMX_RFLAGS_ZF, "reason %u pointer %llx", reason,
                 (unsigned long long)pointer);
    cr_assert_eq(instruction_error(), error, "reason %u pointer %llx", reason,
                 (unsigned long long)pointer);
}

static void pointer_insn_succeeds(uint32_t reason, uint64_t pointer)
{
    cr_assert_eq(harness_pointer_insn(&h, reason, pointer), NVMX_OK);
    cr_assert_eq(h.host.exception_count, 0);
    cr_assert_eq(l1_rflags(), 0, "reason %u pointer %llx", reason, (unsigned long long)pointer);
}

/* SDM 31.3 VMPTRLD / VMCLEAR: beyond the width -> 9 / 2; the VMXON pointer -> 10 / 3;
 * unbacked memory reads as all ones -> wrong revision 11 for VMPTRLD, while VMCLEAR of it
 * succeeds (the write is dropped); the current VMCS is a valid VMPTRLD; the last page of RAM
 * is a VMCS like any other. The current VMCS never changes on a failure. */
Test(sec_memory, vmcs_pointers_at_hostile_addresses)
{
    pointer_insn_fails_valid(NVMX_EXIT_VMPTRLD, TOO_WIDE, NVMX_VMERR_VMPTRLD_INVALID_ADDRESS);
    pointer_insn_fails_valid(NVMX_EXIT_VMPTRLD, ~0ull & ~0xFFFull,
                             NVMX_VMERR_VMPTRLD_INVALID_ADDRESS);
    pointer_insn_fails_valid(NVMX_EXIT_VMPTRLD, VMXON_REGION, NVMX_VMERR_VMPTRLD_VMXON_POINTER);
    pointer_insn_fails_valid(NVMX_EXIT_VMPTRLD, UNBACKED, NVMX_VMERR_VMPTRLD_INCORRECT_REVISION);
    pointer_insn_fails_valid(NVMX_EXIT_VMCLEAR, TOO_WIDE, NVMX_VMERR_VMCLEAR_INVALID_ADDRESS);
    pointer_insn_fails_valid(NVMX_EXIT_VMCLEAR, VMXON_REGION, NVMX_VMERR_VMCLEAR_VMXON_POINTER);
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), VMCS_A);
    pointer_insn_succeeds(NVMX_EXIT_VMCLEAR, UNBACKED);
    pointer_insn_succeeds(NVMX_EXIT_VMPTRLD, VMCS_A);
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), VMCS_A);
    harness_region(&h, RAM_END - 4096, NVMX_VMCS_REVISION_ID);
    pointer_insn_succeeds(NVMX_EXIT_VMPTRLD, RAM_END - 4096);
    sec_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0x1234);
    pointer_insn_succeeds(NVMX_EXIT_VMCLEAR, RAM_END - 4096);
    pointer_insn_succeeds(NVMX_EXIT_VMPTRLD, RAM_END - 4096);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_RIP), 0x1234);
}

/* An 8-byte memory operand whose last 4 bytes lie beyond L1 RAM (the access splits at the page
 * boundary): the bytes in RAM are read / written, the rest reads as all ones and takes no
 * write. VMPTRLD then sees FFFFFFFF_00000000 (beyond the width: VMfailValid 9); VMPTRST and
 * VMREAD store their low half; VMWRITE gets the high half as ones; no byte past RAM is
 * touched (ASan: the RAM buffer ends there). */
Test(sec_memory, operand_straddling_end_of_ram)
{
    h.host.regs[NVMX_REG_RAX] = RAM_END - 4;
    memset(h.host.ram + RAM_END - 4, 0, 4);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMPTRLD, INFO_MEM_RAX, 0), NVMX_OK);
    cr_assert_eq(l1_rflags(), NVMX_RFLAGS_ZF);
    cr_assert_eq(instruction_error(), NVMX_VMERR_VMPTRLD_INVALID_ADDRESS);
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), VMCS_A);
    h.host.regs[NVMX_REG_RAX] = RAM_END - 4;
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMPTRST, INFO_MEM_RAX, 0), NVMX_OK);
    cr_assert_eq(l1_rflags(), 0);
    cr_assert_eq(fake_host_read32(&h.host, RAM_END - 4), (uint32_t)VMCS_A);
    /* VMREAD to memory: r/m is [RAX], reg2 = RCX holds the encoding. */
    sec_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0x1122334455667788ull);
    h.host.regs[NVMX_REG_RAX] = RAM_END - 4;
    h.host.regs[NVMX_REG_RCX] = NVMX_FIELD_GUEST_RIP;
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMREAD, INFO_MEM_RAX_REG_RCX, 0), NVMX_OK);
    cr_assert_eq(l1_rflags(), 0);
    cr_assert_eq(fake_host_read32(&h.host, RAM_END - 4), 0x55667788u);
    /* VMWRITE from memory straddling the end: the high half reads as all ones. */
    h.host.regs[NVMX_REG_RAX] = RAM_END - 4;
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMWRITE, INFO_MEM_RAX_REG_RCX, 0), NVMX_OK);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_RIP), 0xFFFFFFFF55667788ull);
}

static void entry_fails(uint32_t basic, uint64_t qualification)
{
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_VM_EXIT_REASON), NVMX_EXIT_REASON_ENTRY_FAILURE | basic);
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_EXIT_QUALIFICATION), qualification);
}

static void entry_fails_valid(unsigned error)
{
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(l1_rflags(), NVMX_RFLAGS_ZF);
    cr_assert_eq(instruction_error(), error);
}

/* VM-entry MSR-load list (27.2.1.2, 27.4): beyond the width -> VMfailValid 7; unbacked, or a
 * 16-byte entry straddling the end of RAM -> the entry reads as all ones, fails its reserved
 * bits: reason 34, qualification 1. */
Test(sec_memory, entry_msr_load_list_at_hostile_addresses)
{
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_MSR_LOAD_COUNT, 1);
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_MSR_LOAD_ADDR, TOO_WIDE);
    entry_fails_valid(NVMX_VMERR_ENTRY_INVALID_CONTROL_FIELD);
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_MSR_LOAD_ADDR, UNBACKED);
    entry_fails(NVMX_EXIT_ENTRY_FAIL_MSR_LOADING, 1);
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_MSR_LOAD_ADDR, RAM_END - 16);
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_MSR_LOAD_COUNT, 2);
    fake_host_write64(&h.host, RAM_END - 16, 0x174);
    fake_host_write64(&h.host, RAM_END - 8, 0x99);
    entry_fails(NVMX_EXIT_ENTRY_FAIL_MSR_LOADING, 2);
    uint64_t value;
    cr_assert(fake_host_get_msr(&h.host, 0x174, &value));
    cr_assert_eq(value, 0x99, "the entry inside RAM was loaded");
}

/* VM-exit MSR-store list whose second entry lies beyond RAM: the entry reads as all ones and
 * fails, which is a VMX abort (28.4, 28.7); the first entry got its value, nothing was
 * written past RAM. */
Test(sec_memory, exit_msr_store_list_straddling_end_of_ram_aborts)
{
    fake_host_write64(&h.host, RAM_END - 16, 0x174);
    fake_host_set_msr(&h.host, 0x174, 0x4242);
    sec_vmwrite(&h, NVMX_FIELD_VM_EXIT_MSR_STORE_ADDR, RAM_END - 16);
    sec_vmwrite(&h, NVMX_FIELD_VM_EXIT_MSR_STORE_COUNT, 2);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_CPUID, 2), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_SHUTDOWN_L1);
    cr_assert_eq(fake_host_read64(&h.host, RAM_END - 8), 0x4242);
}

/* MSR, I/O and VMREAD bitmaps in unbacked memory read as all ones: every access L1 could
 * intercept goes to L1 (26.1.3); beyond the width or unaligned they fail entry (27.2.1.1). */
Test(sec_memory, bitmaps_in_unbacked_memory_send_everything_to_l1)
{
    sec_set_proc(&h, NVMX_CTL(MSR_BITMAPS) | NVMX_CTL(IO_BITMAPS), NVMX_CTL(SHADOW_VMCS));
    sec_vmwrite(&h, NVMX_FIELD_MSR_BITMAP, TOO_WIDE);
    entry_fails_valid(NVMX_VMERR_ENTRY_INVALID_CONTROL_FIELD);
    sec_vmwrite(&h, NVMX_FIELD_MSR_BITMAP, UNBACKED + 0x800);
    entry_fails_valid(NVMX_VMERR_ENTRY_INVALID_CONTROL_FIELD);
    sec_vmwrite(&h, NVMX_FIELD_MSR_BITMAP, UNBACKED);
    sec_vmwrite(&h, NVMX_FIELD_IO_BITMAP_A, TOO_WIDE);
    entry_fails_valid(NVMX_VMERR_ENTRY_INVALID_CONTROL_FIELD);
    sec_vmwrite(&h, NVMX_FIELD_IO_BITMAP_A, UNBACKED);
    sec_vmwrite(&h, NVMX_FIELD_IO_BITMAP_B, RAM_END - 4096); /* the last page: in bounds */
    sec_vmwrite(&h, NVMX_FIELD_VMREAD_BITMAP, TOO_WIDE);
    entry_fails_valid(NVMX_VMERR_ENTRY_INVALID_CONTROL_FIELD);
    sec_vmwrite(&h, NVMX_FIELD_VMREAD_BITMAP, UNBACKED);
    sec_vmwrite(&h, NVMX_FIELD_VMWRITE_BITMAP, UNBACKED);
    sec_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, SHADOW_VMCS);
    memset(h.host.ram + RAM_END - 4096, 0, 4096);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    h.host.regs[NVMX_REG_RCX] = 0x808;
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_RDMSR, 2), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    sec_launch(&h, NVMX_EXIT_VMRESUME);
    nvmx_exit io = {.reason = NVMX_EXIT_IO_INSTRUCTION,
                    .qualification = 0x60ull << 16,
                    .instruction_length = 1};
    cr_assert_eq(sec_l2_exit(&h, &io), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1, "port A: unbacked bitmap");
    sec_launch(&h, NVMX_EXIT_VMRESUME);
    /* A 4-byte access at FFFEH..10001H wraps past the port space: always L1's (26.1.3). */
    io.qualification = (0xFFFEull << 16) | 3;
    cr_assert_eq(sec_l2_exit(&h, &io), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    sec_launch(&h, NVMX_EXIT_VMRESUME);
    io.qualification = 0xFFF0ull << 16; /* bitmap B on the last page of RAM, bit clear */
    cr_assert_eq(sec_l2_exit(&h, &io), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
    cr_assert_eq(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1, "VMREAD bitmap unbacked");
}

/* VMCS link pointer (27.3.1.5, qualification 4): unbacked (revision all ones), beyond the
 * width, unaligned, the VMXON region (no shadow indicator while shadowing is on), the current
 * VMCS itself: each a VM-entry failure, reason 33, before anything reads through it. */
Test(sec_memory, vmcs_link_pointer_at_hostile_addresses)
{
    sec_set_proc(&h, 0, NVMX_CTL(SHADOW_VMCS));
    sec_vmwrite(&h, NVMX_FIELD_VMREAD_BITMAP, VMREAD_BITMAP_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VMWRITE_BITMAP, VMWRITE_BITMAP_GPA);
    const uint64_t links[] = {UNBACKED, TOO_WIDE, SHADOW_VMCS + 8, VMXON_REGION, VMCS_A, RAM_END};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(links); i++) {
        sec_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, links[i]);
        entry_fails(NVMX_EXIT_ENTRY_FAIL_GUEST_STATE, 4);
    }
}

/* ---- Memory that changes between two reads ---------------------------------------------------
 * The l1_read op below flips every byte it returned (L1 racing the library from another
 * vCPU): a second read of the same address sees the complement. Decisions must come from one
 * read: each byte of the MSR-load list, of the VMPTRLD region, of a bitmap is read once per
 * decision. */

#define READ_LOG 64
static bool flipping;
typedef struct logged_read {
    uint64_t gpa;
    size_t len;
} logged_read;
static logged_read read_log[READ_LOG];
static int read_count;

static nvmx_status flipping_l1_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    fake_host *host = ctx;
    nvmx_status status = fake_host_ops()->l1_read(ctx, gpa, buf, len);
    if (!flipping || status != NVMX_OK)
        return status;
    if (read_count < READ_LOG)
        read_log[read_count] = (logged_read){gpa, len};
    read_count++;
    for (size_t i = 0; i < len; i++)
        host->ram[gpa + i] ^= 0xFF;
    return status;
}

static nvmx_host_ops flipping_ops;

static void flipping_setup(void)
{
    flipping_ops = *fake_host_ops();
    flipping_ops.l1_read = flipping_l1_read;
    flipping = false;
    read_count = 0;
    sec_nested_init(&h, NULL, &flipping_ops);
}
TestSuite(sec_double_fetch, .init = flipping_setup, .fini = teardown);

/* Reads that touched [gpa, gpa + len), and whether any byte was read twice. */
static int reads_of(uint64_t gpa, uint64_t len, bool *overlap)
{
    static uint8_t seen[8192];
    cr_assert_leq(len, sizeof(seen));
    memset(seen, 0, len);
    int n = 0;
    *overlap = false;
    cr_assert_leq(read_count, READ_LOG);
    for (int i = 0; i < read_count; i++) {
        uint64_t a = read_log[i].gpa, b = a + read_log[i].len;
        if (b <= gpa || a >= gpa + len)
            continue;
        n++;
        for (uint64_t x = a > gpa ? a : gpa; x < b && x < gpa + len; x++) {
            if (seen[x - gpa]++)
                *overlap = true;
        }
    }
    return n;
}

/* 27.4: the VM-entry MSR-load list: each 16-byte entry is read once, and what is loaded is
 * that read (index and value of the same snapshot). */
Test(sec_double_fetch, entry_msr_load_entries_are_read_once)
{
    fake_host_write64(&h.host, LIST_GPA, 0x174);
    fake_host_write64(&h.host, LIST_GPA + 8, 0x10);
    fake_host_write64(&h.host, LIST_GPA + 16, 0x175);
    fake_host_write64(&h.host, LIST_GPA + 24, 0x20);
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_MSR_LOAD_ADDR, LIST_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VM_ENTRY_MSR_LOAD_COUNT, 2);
    flipping = true;
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    flipping = false;
    bool overlap;
    cr_assert_eq(reads_of(LIST_GPA, 32, &overlap), 2);
    cr_assert_not(overlap);
    uint64_t value;
    cr_assert(fake_host_get_msr(&h.host, 0x174, &value));
    cr_assert_eq(value, 0x10);
    cr_assert(fake_host_get_msr(&h.host, 0x175, &value));
    cr_assert_eq(value, 0x20);
}

/* 31.3 VMPTRLD: the region is read once; the revision check and the data L1 then reads come
 * from that one read. */
Test(sec_double_fetch, vmptrld_reads_the_region_once)
{
    sec_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0xABCDEF);
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMCLEAR, VMCS_A), NVMX_OK);
    flipping = true;
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_A), NVMX_OK);
    flipping = false;
    cr_assert_eq(l1_rflags(), 0, "the revision of the one snapshot was valid");
    bool overlap;
    cr_assert_geq(reads_of(VMCS_A, 4096, &overlap), 1);
    cr_assert_not(overlap, "a byte of the VMCS region was read twice");
    cr_assert_eq(sec_vmread(&h, NVMX_FIELD_GUEST_RIP), 0xABCDEF);
}

/* 25.6.15, 26.1.3: one byte of the VMREAD bitmap per L2 VMREAD; the decision is that byte's.
 * The first read sees the bit clear (served from the shadow VMCS), the flip then sets it and
 * the next VMREAD exits to L1: each consistent with its own single read. Same for the MSR
 * bitmap and L2's RDMSR. */
Test(sec_double_fetch, bitmap_bytes_are_read_once_per_decision)
{
    sec_set_proc(&h, NVMX_CTL(MSR_BITMAPS), NVMX_CTL(SHADOW_VMCS));
    sec_vmwrite(&h, NVMX_FIELD_MSR_BITMAP, 0x17000);
    sec_vmwrite(&h, NVMX_FIELD_VMREAD_BITMAP, VMREAD_BITMAP_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VMWRITE_BITMAP, VMWRITE_BITMAP_GPA);
    sec_vmwrite(&h, NVMX_FIELD_VMCS_LINK_POINTER, SHADOW_VMCS);
    sec_launch(&h, NVMX_EXIT_VMLAUNCH);
    const uint64_t byte = VMREAD_BITMAP_GPA + (NVMX_FIELD_GUEST_RIP >> 3);
    flipping = true;
    cr_assert_eq(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2);
    bool overlap;
    cr_assert_eq(reads_of(byte, 1, &overlap), 1);
    cr_assert_not(overlap);
    /* RDMSR 10H: byte 2 of the read-low bitmap. */
    read_count = 0;
    h.host.regs[NVMX_REG_RCX] = 0x10;
    cr_assert_eq(sec_l2_exit_simple(&h, NVMX_EXIT_RDMSR, 2), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L0_HANDLES);
    cr_assert_eq(reads_of(0x17000 + 2, 1, &overlap), 1);
    cr_assert_not(overlap);
    /* The bytes are now all ones: the next decisions send both to L1. */
    read_count = 0;
    cr_assert_eq(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, NULL), NVMX_OK);
    flipping = false;
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    cr_assert_eq(reads_of(byte, 1, &overlap), 1);
}
