/* SPDX-License-Identifier: MIT */
/*
 * nestvmx-bench: times the exit paths libnestvmx owns on a synthetic L0 host that uses only
 * the public API. The host keeps vmcs01 and vmcs02 as field arrays (nvmx_vmcs_field_index),
 * L1's RAM as a buffer with identity paging, and counts every op the library calls, so each
 * benchmark reports what a path costs in time and in host work (allocations, VMCS accesses).
 */
#ifndef NESTVMX_BENCH_H
#define NESTVMX_BENCH_H

#include <nestvmx/nestvmx.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

/* L1's guest-physical memory: the VMXON region, the vmcs12 regions, and the 64-bit memory
 * operands of VMPTRLD/VMCLEAR (one per vmcs12, so an instruction only needs RAX set). */
#define BENCH_RAM_SIZE (1u << 20)
#define BENCH_VMCS_COUNT 8u
#define GPA_VMXON 0x10000ull
#define GPA_VMCS(i) (0x20000ull + (uint64_t)(i)*0x1000ull)
#define GPA_POINTER(i) (0x40000ull + (uint64_t)(i)*8ull)
/* L1's MSR bitmap, in the benchmarks where L0 has an MSR policy for L2. */
#define GPA_MSR_BITMAP 0x50000ull
#define MSR_BITMAP_BYTES 4096u
/* L1's EPT12 (SDM 29.3), in the EPT benchmarks: PML4, PDPT, PD and PT, one page each. It maps
 * L2's 1 GiB at EPT_L2_BASE: the first 2 MiB with the PT's 4 KiB pages, the rest with 2 MiB
 * pages of the PD, each to the L1 GPA EPT_L1_OF(l2 GPA) (backed by host_ept01_lookup). */
#define GPA_EPT12_PML4 0x80000ull
#define GPA_EPT12_PDPT 0x81000ull
#define GPA_EPT12_PD 0x82000ull
#define GPA_EPT12_PT 0x83000ull
#define EPT_L2_BASE 0x40000000ull
#define EPT_L1_OF(l2) ((l2)-EPT_L2_BASE + 0x10000000ull)
#define PAGE_4K 0x1000ull
#define PAGE_2M 0x200000ull
/* INVEPT's 128-bit descriptor (SDM 31.3): EPTP, then 64 reserved bits. */
#define GPA_INVEPT_DESCRIPTOR 0x60000ull

/* Every op call of the library, counted by the host. */
typedef struct bench_counts {
    long allocs, frees;
    long vmcs_reads[2], vmcs_writes[2]; /* indexed by nvmx_hw_vmcs */
    long reg_ops;                       /* reg_get, reg_set, segment_get */
    long mem_ops;                       /* l1_read, l1_write, translate, ept01_lookup */
    long tlb_flushes;                   /* tlb_flush requests */
    long exceptions;                    /* inject_exception: never expected here */
} bench_counts;

typedef struct bench_host {
    uint8_t *ram;
    uint64_t gpr[NVMX_REG_COUNT]; /* GPRs; RIP, RSP, RFLAGS, CRs, EFER live in the VMCS */
    uint64_t *vmcs[2];            /* vmcs01, vmcs02: one slot per nvmx_vmcs_field_index */
    nvmx_hw_vmcs running;         /* the VMCS whose guest state is the running guest's */
    long live_allocations;
    bench_counts counts;
    char last_log[256];
} bench_host;

const nvmx_host_ops *bench_host_ops(void);
/* Returns false when memory for the host cannot be had. */
bool bench_host_init(bench_host *host);
void bench_host_fini(bench_host *host);
/* A field of vmcs01/vmcs02 by encoding, as the hardware-VMCS ops see it. */
uint64_t bench_host_vmcs_get(const bench_host *host, nvmx_hw_vmcs which, uint32_t field);
void bench_host_vmcs_set(bench_host *host, nvmx_hw_vmcs which, uint32_t field, uint64_t value);
void bench_host_write64(bench_host *host, uint64_t gpa, uint64_t value);
/* A register of the running guest, read without counting (for the benchmark's own checks). */
uint64_t bench_host_reg(const bench_host *host, nvmx_reg reg);

/* One benchmark's L0: the host, a VM with one vCPU, and the name reported on failure. */
typedef struct world {
    bench_host host;
    nvmx_vm *vm;
    nvmx_vcpu *vcpu;
    nvmx_next next;
    const char *benchmark;
    unsigned turn; /* round-robin position for benchmarks that alternate vmcs12s */
    /* L0's MSR policy for L2 (nvmx_l0_controls.msr_bitmap), used when l0_msr_policy. */
    bool l0_msr_policy;
    uint8_t l0_msr_bitmap[MSR_BITMAP_BYTES];
    /* vmcs12 enables EPT with EPT12 at GPA_EPT12_PML4 (world_use_l1_ept). */
    bool l1_ept;
} world;

/* A VM (default configuration) whose L1 is in 64-bit mode at CPL 0, outside VMX operation. */
void world_init(world *w, const char *benchmark);
/* Recreate the VM (from world_init's state) with an L0 MSR policy for L2 that passes a few
 * MSRs through; every vmcs12 built afterwards uses an MSR bitmap, so vmcs02 gets the merged
 * one. For setups, before anything else. */
void world_use_l0_msr_policy(world *w);
/* Every vmcs12 built afterwards enables EPT with the EPTP of the EPT12 this builds in L1's
 * memory (see GPA_EPT12_PML4). For setups, before any vmcs12 is built. */
void world_use_l1_ept(world *w);
/* The EPTP of that EPT12 in vmcs12: 4-level walk, write-back, no accessed/dirty flags. */
uint64_t world_eptp12(void);
/* Destroys vCPU and VM; a leaked allocation is a failure. */
void world_fini(world *w);

/* Print what went wrong (which operation, what happened, the library's last log line) and
 * exit with status 1: a benchmark of a path that fails measures nothing. */
noreturn void bench_fail(const world *w, const char *operation, const char *problem);
/* The same for a call that returned `status` instead of NVMX_OK. */
noreturn void bench_fail_status(const world *w, const char *operation, nvmx_status status);

/* L1's VMX instructions and L2's exits through the public entry points. Each checks the
 * library's answer (status, what runs next, VMsucceed, no exception) and fails otherwise. */
void l1_vmxon(world *w);
void l1_vmptrld(world *w, unsigned vmcs);
void l1_vmclear(world *w, unsigned vmcs);
uint64_t l1_vmread(world *w, uint32_t field);
/* The same VMREAD given as instruction bytes (NVMX_EXIT_UNDECODED): the Zydis path. */
uint64_t l1_vmread_decoded(world *w, uint32_t field);
void l1_vmwrite(world *w, uint32_t field, uint64_t value);
/* VMPTRLD of the vmcs12, then VMWRITEs of a valid 64-bit L2 under a 64-bit L1 host. */
void l1_build_vmcs12(world *w, unsigned vmcs);
void l1_vmlaunch(world *w);
void l1_vmresume(world *w);
/* An exit of L2 that L1 asked for (NVMX_RUN_L1) or did not (NVMX_RUN_L0_HANDLES). */
void l2_exit_to_l1(world *w, uint32_t reason, uint32_t instruction_length);
void l2_exit_to_l0(world *w, uint32_t reason, uint32_t instruction_length);
/* L2's read of l2_gpa faulted in EPT02 (reason 48, as hardware reports it): the library fills
 * EPT02 from EPT12 x EPT01 and L2 runs on (NVMX_RUN_L2). */
void l2_ept_fill(world *w, uint64_t l2_gpa);
/* L1's INVEPT single-context of vmcs12's EPTP, descriptor at GPA_INVEPT_DESCRIPTOR. */
void l1_invept_single(world *w);

/* What L2's guest RIP starts at, and the CPUID length the exits report. */
#define L2_START_RIP 0x500000ull
#define CPUID_LENGTH 2u

typedef struct benchmark {
    const char *name;
    const char *measures;
    void (*setup)(world *w);   /* brings the world to where the first op starts */
    void (*prepare)(world *w); /* untimed, before each op; NULL: ops are timed in batches */
    void (*op)(world *w);      /* the timed operation; checks its own outcome */
    /* 0: --ops operations per batch; N: 1/N of them outside --quick (slow operations or
     * prepare steps, so that a full run stays well under a minute). */
    unsigned ops_divisor;
} benchmark;

extern const benchmark benchmarks[];
extern const size_t benchmark_count;

typedef struct run_config {
    unsigned batches;
    unsigned ops_per_batch;
    bool quick;
} run_config;

typedef struct result {
    const char *name;
    bool per_op_timing;
    double median_ns, p99_ns, median_cycles;
    double allocs_per_op;
    double vmcs_reads_per_op[2], vmcs_writes_per_op[2]; /* indexed by nvmx_hw_vmcs */
    double reg_ops_per_op, mem_ops_per_op;
} result;

/* Calibrates the TSC against CLOCK_MONOTONIC and the cost of reading it. */
void measure_init(bool quick);
double measure_tsc_ghz(void);
void measure(const benchmark *b, const run_config *config, result *out);

#endif
