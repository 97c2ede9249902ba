/* SPDX-License-Identifier: MIT */
/* The VMX MSR lists: VM-entry MSR-load (SDM Vol. 3C 27.4), VM-exit MSR-store (28.4), VM-exit
 * MSR-load (28.6), and the VMX aborts their failures cause on exits (28.7). */
#include <criterion/criterion.h>

#include "exit_fixture.h"

static exit_fixture x;
static void setup(void)
{
    exit_fixture_init(&x);
}
static void teardown(void)
{
    exit_fixture_fini(&x);
}
TestSuite(msr_lists, .init = setup, .fini = teardown);

#define MSR_TSC_AUX 0xC0000103u
#define MSR_STAR 0xC0000081u
#define MSR_LSTAR 0xC0000082u
#define MSR_KERNEL_GS_BASE 0xC0000102u

static void entry_list(const uint64_t entries[][2], unsigned n)
{
    exit_fixture_msr_list(&x, ENTRY_MSR_LOAD_GPA, entries, n);
    V12(&x, VM_ENTRY_MSR_LOAD_ADDR) = ENTRY_MSR_LOAD_GPA;
    V12(&x, VM_ENTRY_MSR_LOAD_COUNT) = n;
}

static void exit_load_list(const uint64_t entries[][2], unsigned n)
{
    exit_fixture_msr_list(&x, EXIT_MSR_LOAD_GPA, entries, n);
    V12(&x, VM_EXIT_MSR_LOAD_ADDR) = EXIT_MSR_LOAD_GPA;
    V12(&x, VM_EXIT_MSR_LOAD_COUNT) = n;
}

static void exit_store_list(const uint64_t entries[][2], unsigned n)
{
    exit_fixture_msr_list(&x, EXIT_MSR_STORE_GPA, entries, n);
    V12(&x, VM_EXIT_MSR_STORE_ADDR) = EXIT_MSR_STORE_GPA;
    V12(&x, VM_EXIT_MSR_STORE_COUNT) = n;
}

static uint32_t load_entry_list(void)
{
    nvmx_status host_error = NVMX_ERR_HOST;
    uint32_t failed = entry_msr_load(&x.f.vcpu, &host_error);
    cr_assert_eq(host_error, NVMX_OK);
    return failed;
}

static uint64_t msr(uint32_t index)
{
    uint64_t value = 0;
    cr_assert(fake_host_get_msr(&x.f.host, index, &value), "MSR %#x was never written", index);
    return value;
}

/* ---- 27.4: VM-entry MSR-load list ------------------------------------------------------- */

/* 27.4: every entry is loaded, in order, with bits 127:64 as WRMSR would write them. */
Test(msr_lists, entry_load_list_loads_every_entry_in_order)
{
    const uint64_t list[][2] = {{MSR_STAR, 0x11}, {MSR_LSTAR, 0x22}, {MSR_TSC_AUX, 0x33}};
    entry_list(list, 3);
    cr_assert_eq(load_entry_list(), 0);
    cr_assert_eq(x.f.host.msr_writes, 3);
    cr_assert_eq(x.f.host.msr_write_log[0], MSR_STAR);
    cr_assert_eq(x.f.host.msr_write_log[2], MSR_TSC_AUX);
    cr_assert_eq(msr(MSR_LSTAR), 0x22);
}

/* 27.4: an entry WRMSR would fault on fails the list at its 1-based index; later entries are
 * not loaded. */
Test(msr_lists, entry_load_failure_at_entry_k_returns_k_and_stops)
{
    for (unsigned k = 1; k <= 3; k++) {
        exit_fixture_fini(&x);
        exit_fixture_init(&x);
        const uint64_t list[][2] = {{MSR_STAR, 1}, {MSR_LSTAR, 2}, {MSR_TSC_AUX, 3}};
        entry_list(list, 3);
        fake_host_fault_msr(&x.f.host, (uint32_t)list[k - 1][0]);
        cr_assert_eq(load_entry_list(), k);
        cr_assert_eq(x.f.host.msr_writes, k - 1, "entries after %u were loaded", k);
    }
}

/* 27.4, 27.8: the failing entry's index is the exit qualification of the VM-entry failure
 * (reason 34), and the exit information records it. */
Test(msr_lists, entry_load_failure_index_becomes_the_qualification)
{
    const uint64_t list[][2] = {{MSR_STAR, 1}, {0x1ull << 32 | MSR_LSTAR, 2}};
    entry_list(list, 2);
    uint32_t k = load_entry_list();
    cr_assert_eq(k, 2);
    x.f.vcpu.guest_mode = false;
    nvmx_run run;
    cr_assert_eq(vm_entry_failure_exit(&x.f.vcpu, NVMX_EXIT_ENTRY_FAIL_MSR_LOADING, k, &run),
                 NVMX_OK);
    cr_assert_eq(V12(&x, VM_EXIT_REASON), 0x80000000u | NVMX_EXIT_ENTRY_FAIL_MSR_LOADING);
    cr_assert_eq(V12(&x, EXIT_QUALIFICATION), 2);
}

/* 27.4: bits 63:32 of an entry are reserved: set, the entry fails. */
Test(msr_lists, entry_with_reserved_bits_set_fails)
{
    const uint64_t list[][2] = {{(1ull << 63) | MSR_STAR, 1}};
    entry_list(list, 1);
    cr_assert_eq(load_entry_list(), 1);
    cr_assert_eq(x.f.host.msr_writes, 0);
}

/* 27.4, 28.4, 28.6: indices the lists refuse, per kind. */
Test(msr_lists, refused_indices_per_list_kind)
{
    const struct {
        uint32_t index;
        bool entry_load, exit_store, exit_load;
    } rows[] = {
        {0xC0000100u, false, true, false}, /* IA32_FS_BASE: loads only */
        {0xC0000101u, false, true, false}, /* IA32_GS_BASE */
        {0x800u, false, false, false},     /* x2APIC range, all lists */
        {0x808u, false, false, false},
        {0x8FFu, false, false, false},
        {0x9Bu, false, true, false},  /* IA32_SMM_MONITOR_CTL: written only in SMM */
        {0x9Eu, false, false, false}, /* IA32_SMBASE: read only in SMM */
        {0x79u, false, true, false},  /* microcode-update trigger: model-specific refusal */
        {0x7FFu, true, true, true},
        {0x900u, true, true, true},
        {MSR_KERNEL_GS_BASE, true, true, true},
    };
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(rows); i++) {
        cr_assert_eq(msr_entry_allowed(MSR_LIST_ENTRY_LOAD, rows[i].index), rows[i].entry_load,
                     "entry load %#x", rows[i].index);
        cr_assert_eq(msr_entry_allowed(MSR_LIST_EXIT_STORE, rows[i].index), rows[i].exit_store,
                     "exit store %#x", rows[i].index);
        cr_assert_eq(msr_entry_allowed(MSR_LIST_EXIT_LOAD, rows[i].index), rows[i].exit_load,
                     "exit load %#x", rows[i].index);
    }
    cr_assert_not(msr_entry_allowed(MSR_LIST_EXIT_STORE, (1ull << 32) | MSR_STAR));
}

/* 27.4: a refused index fails the entry without reaching WRMSR. */
Test(msr_lists, entry_load_of_fs_base_fails_without_writing)
{
    const uint64_t list[][2] = {{MSR_STAR, 1}, {0xC0000100u, 0x1000}};
    entry_list(list, 2);
    cr_assert_eq(load_entry_list(), 2);
    cr_assert_eq(x.f.host.msr_writes, 1);
}

/* A list outside L1 RAM reads as all ones: entry 1 fails on its reserved bits. */
Test(msr_lists, list_outside_l1_ram_fails_entry_1)
{
    V12(&x, VM_ENTRY_MSR_LOAD_ADDR) = 1ull << 40;
    V12(&x, VM_ENTRY_MSR_LOAD_COUNT) = 4;
    cr_assert_eq(load_entry_list(), 1);
    cr_assert_eq(x.f.host.msr_writes, 0);
}

/* A list whose entries would wrap past 2^64 reads as all ones from the wrapping entry on. */
Test(msr_lists, list_wrapping_the_address_space_fails_at_the_wrap)
{
    V12(&x, VM_ENTRY_MSR_LOAD_ADDR) = 0xFFFFFFFFFFFFFFF0ull;
    V12(&x, VM_ENTRY_MSR_LOAD_COUNT) = 2;
    cr_assert_eq(load_entry_list(), 1);
}

/* A.6: lists hold at most 512 * (N + 1) entries (N = IA32_VMX_MISC[27:25]); the entry after
 * the last one allowed fails, the ones before it load. */
Test(msr_lists, entry_beyond_the_recommended_maximum_fails)
{
    cr_assert_eq(msr_list_max_entries(&x.f.vm), 512);
    for (unsigned i = 0; i < 513; i++) {
        fake_host_write64(&x.f.host, ENTRY_MSR_LOAD_GPA + 16 * i, MSR_STAR);
        fake_host_write64(&x.f.host, ENTRY_MSR_LOAD_GPA + 16 * i + 8, i);
    }
    V12(&x, VM_ENTRY_MSR_LOAD_ADDR) = ENTRY_MSR_LOAD_GPA;
    V12(&x, VM_ENTRY_MSR_LOAD_COUNT) = 513;
    cr_assert_eq(load_entry_list(), 513);
    cr_assert_eq(x.f.host.msr_writes, 512);
    cr_assert_eq(msr(MSR_STAR), 511);
}

/* A.6: N = 1 allows 1024 entries. */
Test(msr_lists, maximum_follows_ia32_vmx_misc)
{
    x.f.vm.caps.misc |= 1ull << 25;
    cr_assert_eq(msr_list_max_entries(&x.f.vm), 1024);
    x.f.vm.caps.misc |= 7ull << 25;
    cr_assert_eq(msr_list_max_entries(&x.f.vm), 4096);
}

/* A hostile count costs at most max + 1 entry reads. */
Test(msr_lists, huge_count_is_bounded)
{
    for (unsigned i = 0; i < 512; i++)
        fake_host_write64(&x.f.host, ENTRY_MSR_LOAD_GPA + 16 * i, MSR_STAR);
    V12(&x, VM_ENTRY_MSR_LOAD_ADDR) = ENTRY_MSR_LOAD_GPA;
    V12(&x, VM_ENTRY_MSR_LOAD_COUNT) = 0xFFFFFFFFu;
    long reads = x.f.host.l1_reads;
    cr_assert_eq(load_entry_list(), 513);
    cr_assert_leq(x.f.host.l1_reads - reads, 512);
}

/* Each entry is read from L1 memory once. */
Test(msr_lists, each_entry_is_read_once)
{
    const uint64_t list[][2] = {{MSR_STAR, 1}, {MSR_LSTAR, 2}, {MSR_TSC_AUX, 3}};
    entry_list(list, 3);
    long reads = x.f.host.l1_reads;
    cr_assert_eq(load_entry_list(), 0);
    cr_assert_eq(x.f.host.l1_reads - reads, 3);
}

/* Without the msr_write op a non-empty list cannot be loaded: NVMX_ERR_UNSUPPORTED, nothing
 * loaded; an empty list needs no op. */
Test(msr_lists, missing_msr_op_is_unsupported_only_for_a_non_empty_list)
{
    x.f.vm.ops.msr_write = NULL;
    nvmx_status host_error;
    cr_assert_eq(entry_msr_load(&x.f.vcpu, &host_error), 0);
    cr_assert_eq(host_error, NVMX_OK);
    const uint64_t list[][2] = {{MSR_STAR, 1}};
    entry_list(list, 1);
    cr_assert_eq(entry_msr_load(&x.f.vcpu, &host_error), 0);
    cr_assert_eq(host_error, NVMX_ERR_UNSUPPORTED);
}

/* ---- 28.4: VM-exit MSR-store list ---------------------------------------------------------- */

/* 28.4: each entry gets the MSR's value in bits 127:64; bits 63:0 stay. */
Test(msr_lists, exit_store_list_stores_msr_values)
{
    fake_host_set_msr(&x.f.host, MSR_STAR, 0xAAAA);
    fake_host_set_msr(&x.f.host, MSR_KERNEL_GS_BASE, 0xFFFF800000001000ull);
    const uint64_t list[][2] = {{MSR_STAR, 0x5555}, {MSR_KERNEL_GS_BASE, 0}};
    exit_store_list(list, 2);
    exit_fixture_exit_ok(&x);
    cr_assert_eq(fake_host_read64(&x.f.host, EXIT_MSR_STORE_GPA), MSR_STAR);
    cr_assert_eq(fake_host_read64(&x.f.host, EXIT_MSR_STORE_GPA + 8), 0xAAAA);
    cr_assert_eq(fake_host_read64(&x.f.host, EXIT_MSR_STORE_GPA + 16), MSR_KERNEL_GS_BASE);
    cr_assert_eq(fake_host_read64(&x.f.host, EXIT_MSR_STORE_GPA + 24), 0xFFFF800000001000ull);
}

/* 28.4, 28.7: a failing store entry is VMX abort 1: L1 shuts down, host state not loaded. */
Test(msr_lists, exit_store_failure_is_vmx_abort_1)
{
    fake_host_set_msr(&x.f.host, MSR_STAR, 1);
    const uint64_t list[][2] = {{MSR_STAR, 0}, {0x808u, 0}};
    exit_store_list(list, 2);
    VMCS01(&x, GUEST_RIP) = 0x1234;
    nested_exit e = exit_fixture_cpuid();
    cr_assert_eq(exit_fixture_exit(&x, &e), NVMX_RUN_SHUTDOWN_L1);
    cr_assert_eq(x.cur->abort, 1);
    cr_assert_eq(fake_host_read32(&x.f.host, EXIT_VMCS12_GPA + 4), 1);
    cr_assert_eq(VMCS01(&x, GUEST_RIP), 0x1234);
    cr_assert_not(x.f.vcpu.guest_mode);
}

/* 28.4: RDMSR that would fault fails the entry (an MSR the host does not have). */
Test(msr_lists, exit_store_of_a_faulting_msr_is_vmx_abort_1)
{
    const uint64_t list[][2] = {{0x12345u, 0}};
    exit_store_list(list, 1);
    nested_exit e = exit_fixture_cpuid();
    cr_assert_eq(exit_fixture_exit(&x, &e), NVMX_RUN_SHUTDOWN_L1);
    cr_assert_eq(x.cur->abort, 1);
}

/* ---- 28.6: VM-exit MSR-load list ---------------------------------------------------------- */

/* 28.6: after the host state, every entry is loaded in order. */
Test(msr_lists, exit_load_list_loads_every_entry)
{
    const uint64_t list[][2] = {{MSR_STAR, 0x10}, {MSR_LSTAR, 0x20}};
    exit_load_list(list, 2);
    exit_fixture_exit_ok(&x);
    cr_assert_eq(msr(MSR_STAR), 0x10);
    cr_assert_eq(msr(MSR_LSTAR), 0x20);
}

/* 28.6, 28.7: a failing load entry k is VMX abort 4 after the host state was loaded; entries
 * after k are not loaded. */
Test(msr_lists, exit_load_failure_at_entry_k_is_vmx_abort_4)
{
    for (unsigned k = 1; k <= 3; k++) {
        exit_fixture_fini(&x);
        exit_fixture_init(&x);
        const uint64_t list[][2] = {{MSR_STAR, 1}, {MSR_LSTAR, 2}, {MSR_TSC_AUX, 3}};
        exit_load_list(list, 3);
        fake_host_fault_msr(&x.f.host, (uint32_t)list[k - 1][0]);
        nested_exit e = exit_fixture_cpuid();
        cr_assert_eq(exit_fixture_exit(&x, &e), NVMX_RUN_SHUTDOWN_L1);
        cr_assert_eq(x.cur->abort, 4);
        cr_assert_eq(x.f.host.msr_writes, k - 1);
        cr_assert_eq(VMCS01(&x, GUEST_RIP), 0x400000, "host state loaded before the list");
        cr_assert_not(x.f.vcpu.guest_mode);
    }
}

/* 28.6: IA32_GS_BASE may not be loaded by the list: VMX abort 4. */
Test(msr_lists, exit_load_of_gs_base_is_vmx_abort_4)
{
    const uint64_t list[][2] = {{0xC0000101u, 0}};
    exit_load_list(list, 1);
    nested_exit e = exit_fixture_cpuid();
    cr_assert_eq(exit_fixture_exit(&x, &e), NVMX_RUN_SHUTDOWN_L1);
    cr_assert_eq(x.cur->abort, 4);
}

/* 27.8: a VM-entry failure processes the VM-exit MSR-load list but not the store list. */
Test(msr_lists, entry_failure_loads_exit_msrs_and_stores_none)
{
    const uint64_t load[][2] = {{MSR_STAR, 0x10}};
    const uint64_t store[][2] = {{MSR_LSTAR, 0x5555}};
    fake_host_set_msr(&x.f.host, MSR_LSTAR, 0xAAAA);
    exit_load_list(load, 1);
    exit_store_list(store, 1);
    x.f.vcpu.guest_mode = false;
    nvmx_run run;
    cr_assert_eq(vm_entry_failure_exit(&x.f.vcpu, NVMX_EXIT_ENTRY_FAIL_GUEST_STATE, 0, &run),
                 NVMX_OK);
    cr_assert_eq(run, NVMX_RUN_L1);
    cr_assert_eq(msr(MSR_STAR), 0x10);
    cr_assert_eq(fake_host_read64(&x.f.host, EXIT_MSR_STORE_GPA + 8), 0x5555);
}

/* 27.8, 28.7: a failing VM-exit MSR-load entry after a VM-entry failure is VMX abort 4. */
Test(msr_lists, entry_failure_exit_load_failure_is_vmx_abort_4)
{
    const uint64_t load[][2] = {{0x9Bu, 0}};
    exit_load_list(load, 1);
    x.f.vcpu.guest_mode = false;
    nvmx_run run;
    cr_assert_eq(vm_entry_failure_exit(&x.f.vcpu, NVMX_EXIT_ENTRY_FAIL_GUEST_STATE, 0, &run),
                 NVMX_OK);
    cr_assert_eq(run, NVMX_RUN_SHUTDOWN_L1);
    cr_assert_eq(x.cur->abort, 4);
}

/* An exit with a non-empty list and no MSR op is refused before anything changes. */
Test(msr_lists, exit_with_a_list_and_no_msr_op_is_unsupported)
{
    const uint64_t list[][2] = {{MSR_STAR, 0}};
    exit_store_list(list, 1);
    x.f.vm.ops.msr_read = NULL;
    nvmx_run run;
    nested_exit e = exit_fixture_cpuid();
    cr_assert_eq(vm_exit_to_l1(&x.f.vcpu, &e, &run), NVMX_ERR_UNSUPPORTED);
    cr_assert(x.f.vcpu.guest_mode);
    cr_assert_eq(x.f.host.vmcs_writes[0], 0);
}
