/* SPDX-License-Identifier: MIT */
/*
 * The benchmarks: one exit path of the library each. A setup brings the world to where the
 * first operation starts; an operation must leave it where the next one starts, or a
 * prepare step (untimed) brings it back there.
 */
#include "bench.h"

/* ---- setups ------------------------------------------------------------------------------ */

/* L1 in VMX root operation with a valid, current vmcs12 (vmcs 0). */
static void setup_root(world *w)
{
    l1_vmxon(w);
    l1_build_vmcs12(w, 0);
}

/* L2 running from vmcs 0. */
static void setup_in_l2(world *w)
{
    setup_root(w);
    l1_vmlaunch(w);
}

/* Every vmcs12 loaded once, so that each later VMPTRLD finds it in the cache. */
static void setup_all_cached(world *w)
{
    l1_vmxon(w);
    for (unsigned i = 0; i < BENCH_VMCS_COUNT; i++)
        l1_vmptrld(w, i);
}

/* Two valid vmcs12s: VMLAUNCH alternates between them, so each launch builds vmcs02 whole
 * (vmcs02 last came from the other one), as for a VMCS L1 has just set up. */
static void setup_two_valid(world *w)
{
    l1_vmxon(w);
    l1_build_vmcs12(w, 0);
    l1_build_vmcs12(w, 1);
}

/* The same with an L0 MSR policy for L2 and L1 using an MSR bitmap. */
static void setup_in_l2_msr_policy(world *w)
{
    world_use_l0_msr_policy(w);
    setup_in_l2(w);
}

static void setup_two_valid_msr_policy(world *w)
{
    world_use_l0_msr_policy(w);
    setup_two_valid(w);
}

/* L2 on EPT (vmcs12 enables it): EPT02 already holds a 4 KiB leaf in the PT and a 2 MiB leaf
 * in the PD of EPT_L2_BASE's path, so a fill there needs no new table (the steady state of a
 * running L2; invalidating the filled leaf would otherwise free the emptied tables). */
#define FILL_4K (EPT_L2_BASE + PAGE_4K)
#define FILL_2M (EPT_L2_BASE + 2 * PAGE_2M)

static void setup_in_l2_ept(world *w)
{
    world_use_l1_ept(w);
    setup_in_l2(w);
    l2_ept_fill(w, EPT_L2_BASE);
    l2_ept_fill(w, EPT_L2_BASE + PAGE_2M);
}

/* ---- L1's exit handler ---------------------------------------------------------------- */

/* What a minimal L1 does for L2's CPUID: read why and where, skip the instruction. */
static void l1_cpuid_handler(world *w)
{
    if (l1_vmread(w, NVMX_FIELD_VM_EXIT_REASON) != NVMX_EXIT_CPUID)
        bench_fail(w, "VMREAD of VM_EXIT_REASON", "not the CPUID exit L2 caused");
    uint64_t rip = l1_vmread(w, NVMX_FIELD_GUEST_RIP);
    uint64_t length = l1_vmread(w, NVMX_FIELD_VM_EXIT_INSTRUCTION_LEN);
    if (length != CPUID_LENGTH)
        bench_fail(w, "VMREAD of VM_EXIT_INSTRUCTION_LEN", "not the CPUID's length");
    l1_vmwrite(w, NVMX_FIELD_GUEST_RIP, rip + length);
}

static bool l2_runs(const world *w)
{
    return w->host.running == NVMX_HW_VMCS02;
}

/* ---- operations ---------------------------------------------------------------------- */

static void op_vmread(world *w)
{
    if (l1_vmread(w, NVMX_FIELD_GUEST_RIP) != L2_START_RIP)
        bench_fail(w, "VMREAD of GUEST_RIP", "not the value L1 wrote");
}

static void op_vmwrite(world *w)
{
    l1_vmwrite(w, NVMX_FIELD_GUEST_RIP, L2_START_RIP);
}

static void op_vmread_decoded(world *w)
{
    if (l1_vmread_decoded(w, NVMX_FIELD_GUEST_RIP) != L2_START_RIP)
        bench_fail(w, "VMREAD of GUEST_RIP from bytes", "not the value L1 wrote");
}

static void op_vmptrld_switch(world *w)
{
    w->turn = (w->turn + 1) % BENCH_VMCS_COUNT;
    l1_vmptrld(w, w->turn);
}

/* Back in L1, then VMCLEAR and VMPTRLD of the other vmcs12: the launch starts from a clear
 * VMCS, as after L1 set it up. */
static void prepare_vmlaunch(world *w)
{
    if (l2_runs(w))
        l2_exit_to_l1(w, NVMX_EXIT_CPUID, CPUID_LENGTH);
    w->turn ^= 1;
    l1_vmclear(w, w->turn);
    l1_vmptrld(w, w->turn);
}

static void op_vmlaunch(world *w)
{
    l1_vmlaunch(w);
}

/* Back in L2 (an unchanged vmcs12: the clean resume). */
static void prepare_reflect(world *w)
{
    if (!l2_runs(w))
        l1_vmresume(w);
}

static void op_reflect_exit(world *w)
{
    l2_exit_to_l1(w, NVMX_EXIT_CPUID, CPUID_LENGTH);
}

/* L2's CPUID exits to L1, whose handler moves GUEST_RIP: the resume has a dirty field. */
static void prepare_vmresume(world *w)
{
    if (l2_runs(w))
        l2_exit_to_l1(w, NVMX_EXIT_CPUID, CPUID_LENGTH);
    l1_cpuid_handler(w);
}

static void op_vmresume(world *w)
{
    l1_vmresume(w);
}

static void op_round_trip(world *w)
{
    l2_exit_to_l1(w, NVMX_EXIT_CPUID, CPUID_LENGTH);
    l1_cpuid_handler(w);
    l1_vmresume(w);
}

/* HLT without "HLT exiting" in vmcs12: L1 did not ask, L0 handles it and L2 stays. */
static void op_l0_exit(world *w)
{
    l2_exit_to_l0(w, NVMX_EXIT_HLT, 1);
}

/* The filled leaf goes again (L0 changed its EPT01 mapping): the next fill installs it anew. */
static void unfill(world *w, uint64_t l2_gpa, uint64_t size)
{
    nvmx_status status = nvmx_vcpu_ept01_changed(w->vcpu, EPT_L1_OF(l2_gpa), size);
    if (status != NVMX_OK)
        bench_fail_status(w, "nvmx_vcpu_ept01_changed", status);
}

static void prepare_ept02_fill_4k(world *w)
{
    unfill(w, FILL_4K, PAGE_4K);
}

static void prepare_ept02_fill_2m(world *w)
{
    unfill(w, FILL_2M, PAGE_2M);
}

static void op_ept02_fill_4k(world *w)
{
    l2_ept_fill(w, FILL_4K);
}

static void op_ept02_fill_2m(world *w)
{
    l2_ept_fill(w, FILL_2M);
}

/* L2 back on a fresh EPT02 (the previous INVEPT dropped it), N 4 KiB leaves filled, then
 * L2's CPUID exits to L1, which runs INVEPT. */
static void prepare_invept(world *w, unsigned entries)
{
    if (!l2_runs(w))
        l1_vmresume(w);
    for (unsigned i = 0; i < entries; i++)
        l2_ept_fill(w, EPT_L2_BASE + i * PAGE_4K);
    l2_exit_to_l1(w, NVMX_EXIT_CPUID, CPUID_LENGTH);
}

static void prepare_invept_16(world *w)
{
    prepare_invept(w, 16);
}

static void prepare_invept_256(world *w)
{
    prepare_invept(w, 256);
}

static void op_invept_single(world *w)
{
    l1_invept_single(w);
}

/* Nested state of the vCPU while L2 runs (the checkpoint of a running VM that hosts VMs). */
static uint8_t state_blob[64 * 1024];
static size_t state_size;

static void op_state_save(world *w)
{
    nvmx_status status = nvmx_vcpu_state_save(w->vcpu, state_blob, sizeof(state_blob), &state_size);
    if (status != NVMX_OK)
        bench_fail_status(w, "nvmx_vcpu_state_save", status);
}

static void setup_saved_in_l2(world *w)
{
    setup_in_l2(w);
    op_state_save(w);
}

/* Restoring onto the same vCPU: every check, the cache rebuilt, vmcs02 rebuilt for L2. */
static void op_state_restore(world *w)
{
    nvmx_status status = nvmx_vcpu_state_restore(w->vcpu, state_blob, state_size);
    if (status != NVMX_OK)
        bench_fail_status(w, "nvmx_vcpu_state_restore", status);
}

const benchmark benchmarks[] = {
    {"vmread", "L1 VMREAD, register operands, hardware exit information", setup_root, NULL,
     op_vmread, 0},
    {"vmwrite", "L1 VMWRITE, register operands, hardware exit information", setup_root, NULL,
     op_vmwrite, 0},
    {"vmread_decoded", "L1 VMREAD from instruction bytes (Zydis decode)", setup_root, NULL,
     op_vmread_decoded, 0},
    {"vmptrld_switch", "L1 VMPTRLD round-robin over 8 cached vmcs12s", setup_all_cached, NULL,
     op_vmptrld_switch, 0},
    {"vmlaunch", "VMLAUNCH of a clear valid vmcs12: all checks, full vmcs02 build", setup_two_valid,
     prepare_vmlaunch, op_vmlaunch, 0},
    {"reflect_exit", "L2 CPUID reflected to L1: decision, vmcs12 sync, host-state load",
     setup_in_l2, prepare_reflect, op_reflect_exit, 0},
    {"vmresume", "VMRESUME after L1's handler changed GUEST_RIP", setup_in_l2, prepare_vmresume,
     op_vmresume, 0},
    {"round_trip", "L2 CPUID -> L1 (3 VMREADs, 1 VMWRITE) -> VMRESUME", setup_in_l2, NULL,
     op_round_trip, 0},
    {"l0_exit", "L2 HLT L1 did not ask for: decision only", setup_in_l2, NULL, op_l0_exit, 0},
    {"state_save", "nested state of a vCPU running L2, one cached vmcs12", setup_in_l2, NULL,
     op_state_save, 10},
    {"state_restore", "restore of that state: checks, vmcs12 cache, vmcs02 for L2",
     setup_saved_in_l2, NULL, op_state_restore, 10},
    {"ept02_fill_4k", "L2 EPT violation -> EPT12 walk, EPT01 lookup, 4 KiB EPT02 leaf",
     setup_in_l2_ept, prepare_ept02_fill_4k, op_ept02_fill_4k, 0},
    {"ept02_fill_2m", "L2 EPT violation -> EPT12 walk, EPT01 lookup, 2 MiB EPT02 leaf",
     setup_in_l2_ept, prepare_ept02_fill_2m, op_ept02_fill_2m, 0},
    {"invept_single_16", "L1 INVEPT single-context of an EPT02 with 16 4 KiB leaves",
     setup_in_l2_ept, prepare_invept_16, op_invept_single, 0},
    {"invept_single_256", "L1 INVEPT single-context of an EPT02 with 256 4 KiB leaves",
     setup_in_l2_ept, prepare_invept_256, op_invept_single, 50},
    /* The same paths with an L0 MSR policy for L2 and L1 using MSR bitmaps: vmcs02's bitmap
     * is merged at every entry (lib/vmcs/msr_bitmap02.c). */
    {"vmlaunch_msrs", "vmlaunch with an L0 MSR policy: + whole merged MSR bitmap",
     setup_two_valid_msr_policy, prepare_vmlaunch, op_vmlaunch, 0},
    {"vmresume_msrs", "vmresume with an L0 MSR policy: + MSR-bitmap merge", setup_in_l2_msr_policy,
     prepare_vmresume, op_vmresume, 0},
    {"round_trip_msrs", "round_trip with an L0 MSR policy", setup_in_l2_msr_policy, NULL,
     op_round_trip, 0},
};
const size_t benchmark_count = sizeof(benchmarks) / sizeof(benchmarks[0]);
