/* SPDX-License-Identifier: MIT */
/*
 * What every fuzz target shares (docs/SECURITY.md, "Fuzzing"): the fuzz input read as a
 * script, an L1 over the fake host of tests/unit (set up with tests/security/sec_env.c), the
 * ops the targets add to the fake (page tracking, an EPT01 model, a compare-exchange), and
 * the invariants checked after every step. A violated invariant aborts with a message:
 * libFuzzer reports it as a crash and keeps the input.
 */
#ifndef NESTVMX_TESTS_FUZZ_ENV_H
#define NESTVMX_TESTS_FUZZ_ENV_H

#include "sec_env.h"

/* ---- The input as a script ------------------------------------------------------------ */

typedef struct fuzz_input {
    const uint8_t *data;
    size_t size, pos;
} fuzz_input;

/* Steps per input: bounds the run time of one input whatever its size. */
#define FUZZ_MAX_STEPS 256

bool fuzz_more(const fuzz_input *in);
/* Little-endian integers of the next bytes; zeros once the input is used up. */
uint8_t fuzz_u8(fuzz_input *in);
uint16_t fuzz_u16(fuzz_input *in);
uint32_t fuzz_u32(fuzz_input *in);
uint64_t fuzz_u64(fuzz_input *in);
void fuzz_bytes(fuzz_input *in, void *buf, size_t n);
/* One of `count` table entries. */
#define FUZZ_PICK(in, table) ((table)[fuzz_u8(in) % (sizeof(table) / sizeof((table)[0]))])
/* A 64-bit value shaped like the ones that matter: small, a page of L1 RAM, all ones, a
 * single bit, 32 or 64 random bits, or a valid event (bit 31 and 16 low bits). */
uint64_t fuzz_value(fuzz_input *in);

/* ---- Invariant failures ---------------------------------------------------------------- */

_Noreturn void fuzz_violation(const char *invariant, const char *detail, uint64_t value);
#define FUZZ_REQUIRE(cond, invariant, value)                                                       \
    ((cond) ? (void)0 : fuzz_violation((invariant), #cond, (uint64_t)(value)))

/* ---- The host side: EPT01 model and page tracking --------------------------------------- */

/* EPT01 as the ept01_lookup op of every target answers it: L1 RAM maps 1:1 in 4-KiB RWX WB
 * pages to FAKE_EPT01_HOST_BASE + gpa (as tests/unit/fake_host.c), except where one of
 * FUZZ_EPT01_REGIONS regions (lower slot first) says otherwise. Each region setting gets host
 * addresses never used before (FUZZ_EPT01_REGION_HOST + generation * 1 GiB), so the map from
 * host address back to L1 address is unique and a stale EPT02 leaf cannot pass for a live one. */
#define FUZZ_EPT01_REGIONS 8
#define FUZZ_EPT01_REGION_HOST (1ull << 46)
typedef struct fuzz_ept01_region {
    bool used, present;
    uint64_t l1_base, size; /* size: 4 KiB, 2 MiB or 1 GiB, l1_base aligned to it */
    uint64_t host_base;
    bool read, write, execute;
    uint8_t memory_type;
} fuzz_ept01_region;

/* The ops of the fake host plus: page_alloc/page_free recorded (the EPT02 walk below finds the
 * tables among them), ept01_lookup from the model, l1_cmpxchg64 on the fake RAM. */
const nvmx_host_ops *fuzz_host_ops(void);
/* Reset the model and the page records (at the start of each input). */
void fuzz_host_reset(void);
/* Set or clear a region (slot % FUZZ_EPT01_REGIONS); returns the L1 ranges whose EPT01
 * translation changed (old and new range), which L0 must pass to ept02_invalidate_l1_range. */
void fuzz_ept01_set(unsigned slot, const fuzz_ept01_region *region, uint64_t changed[2][2]);
nvmx_status fuzz_ept01_lookup(void *ctx, uint64_t l1_gpa, nvmx_ept01_mapping *out);

/* Invariant: every EPT02 table reachable from a root (a recorded page no table points to) has
 * leaves that map only host addresses the current EPT01 gives for one L1 range, with at most
 * EPT01's permissions and UC where EPT01 is UC; every non-leaf entry points at a live page. */
void fuzz_check_ept02_tables(const fake_host *host);
/* The EPT02 leaf that maps l2_gpa under the root page at root_hpa, or false. */
bool fuzz_ept02_leaf(uint64_t root_hpa, uint64_t l2_gpa, uint64_t *entry, uint64_t *size);

/* ---- One L1 in a VM over the fake host ------------------------------------------------- */

typedef struct fuzz_env {
    harness h;
    nvmx_vm_config config;
    long max_reads, max_writes; /* per step (fuzz_env_step) */
    bool shut_down;             /* NVMX_RUN_SHUTDOWN_L1: the script ends */
} fuzz_env;

/* The VM set-up one input byte picks: L0's needs in vmcs02 (nvmx_l0_controls), cached
 * vmcs12s, physical-address width. `nested`: L1 also did VMXON, VMPTRLD and wrote the
 * known-good vmcs12 (sec_nested_init); else L1 runs from vmcs01, before VMXON. vmcs01's and
 * vmcs02's host-state areas are filled with L0's values (fuzz_check_l0_state). */
void fuzz_env_init(fuzz_env *e, fuzz_input *in, bool nested);
/* Destroy vCPU and VM; invariant: every mem_alloc, page and VPID was given back. */
void fuzz_env_fini(fuzz_env *e);

/* One event: nvmx_on_l2_exit in guest mode, else nvmx_on_l1_exit; the fake CPU then runs
 * from the VMCS of the guest that runs. Checks every invariant after it and the bounds on
 * guest-memory accesses during it. Returns the status (any status is allowed). */
nvmx_status fuzz_env_step(fuzz_env *e, const nvmx_exit *exit);
/* The end of every step (fuzz_env_step calls it; steps that call another entry point call it
 * themselves, with e->h.next set or NVMX_RUN_L1): the one-step host failures are cleared, an
 * NVMX_RUN_SHUTDOWN_L1 answer ends the script, and every invariant is checked (the bounds on
 * reads and writes since `reads_before` / `writes_before`). */
void fuzz_env_check(fuzz_env *e, long reads_before, long writes_before);

/* ---- Script actions several targets share ---------------------------------------------- */

/* Write up to 64 input bytes into L1 RAM at a region, operand, bitmap, list or random page. */
void fuzz_act_memory(fuzz_env *e, fuzz_input *in);
/* Change a GPR, or flip a bit of a register or segment field of the running guest's VMCS. */
void fuzz_act_register(fuzz_env *e, fuzz_input *in);
/* Make the next mem_alloc, page_alloc, hardware-VMCS access, translation or MSR access fail
 * (one step long: fuzz_env_step clears them). */
void fuzz_act_host_failure(fuzz_env *e, fuzz_input *in);
/* VMXON/VMCLEAR/VMPTRLD/VMPTRST with a [RAX] operand at OPERAND holding `pointer`. */
nvmx_status fuzz_pointer_insn(fuzz_env *e, uint32_t reason, uint64_t pointer);
/* VMREAD/VMWRITE, register form (RAX value, RCX encoding). */
nvmx_status fuzz_vmwrite(fuzz_env *e, uint64_t encoding, uint64_t value);
nvmx_status fuzz_vmread(fuzz_env *e, uint64_t encoding);
/* An instruction without operands (VMLAUNCH, VMRESUME, VMXOFF, VMCALL). */
nvmx_status fuzz_simple_insn(fuzz_env *e, uint32_t reason);
/* An L2 exit with input-chosen reason, qualification, information fields and addresses. */
nvmx_status fuzz_act_l2_exit(fuzz_env *e, fuzz_input *in);
/* A pointer L1 might use: one of the harness regions, a page of RAM or a random value. */
uint64_t fuzz_pointer(fuzz_input *in);

#endif
