/* SPDX-License-Identifier: MIT */
/*
 * A fake L0 over plain memory for unit tests: L1 RAM is a buffer, registers and segments are
 * arrays, linear addresses map 1:1 to L1 guest-physical ones except pages marked as faulting,
 * and every op call is counted so tests can assert what the library did.
 * Both host_ctx and vcpu_ctx are the fake_host pointer.
 */
#ifndef NESTVMX_TESTS_FAKE_HOST_H
#define NESTVMX_TESTS_FAKE_HOST_H

#include <nestvmx/nestvmx.h>

#include "vmcs/vmcs12.h"

#define FAKE_MAX_FAULT_PAGES 8
#define FAKE_MAX_EXCEPTIONS 8
#define FAKE_MAX_REMAPS 8
#define FAKE_MAX_MSRS 32
#define FAKE_MAX_MSR_LOG 32
#define FAKE_MAX_EPT01_PAGES 16
#define FAKE_MAX_TLB_FLUSHES 64

typedef struct fake_host {
    uint8_t *ram;
    size_t ram_size;
    uint64_t regs[NVMX_REG_COUNT];
    nvmx_segment segs[NVMX_SEG_COUNT];

    /* Linear pages whose translation raises #PF. */
    uint64_t fault_pages[FAKE_MAX_FAULT_PAGES];
    int fault_page_count;

    nvmx_exception exceptions[FAKE_MAX_EXCEPTIONS];
    int exception_count;

    /* Allocation accounting; fail_alloc_at = n makes the n-th allocation (1-based) fail. */
    long alloc_calls, free_calls;
    long live_allocations;
    size_t live_bytes;
    long fail_alloc_at;

    long l1_reads, l1_writes;
    long l1_cmpxchgs; /* l1_cmpxchg64 calls (EPT A/D flags) */
    int log_count;
    char last_log[512];

    /* Linear pages translated to another guest-physical page instead of 1:1 (page-aligned
     * addresses), a status every translate call returns instead of translating (NVMX_OK =
     * translate normally), and the number of translate calls. */
    uint64_t remap_linear[FAKE_MAX_REMAPS];
    uint64_t remap_gpa[FAKE_MAX_REMAPS];
    int remap_count;
    nvmx_status translate_status;
    long translates;

    /* vmcs01 and vmcs02 as the hardware-VMCS ops see them: one slot per field of the list
     * (indexed like vmcs12), and the number of reads and writes of each. */
    uint64_t vmcs[2][VMCS12_FIELD_COUNT];
    long vmcs_reads[2], vmcs_writes[2];

    /* As a hardware host: RIP, RSP, RFLAGS, CR0/3/4, EFER and segments are the guest-state
     * fields of the VMCS that runs (`running`: NVMX_HW_VMCS01 = L1, NVMX_HW_VMCS02 = L2);
     * GPRs stay in regs[]. Off by default (registers in regs[] and segs[]). */
    bool vmcs_backed;
    int running;

    /* MSRs behind the msr_read/msr_write ops: a small map index -> value. Reading an index
     * not in the map, or any index of msr_faulting[], fails with NVMX_ERR_HOST (RDMSR/WRMSR
     * would fault); writing an index not in the map adds it. Successful writes are logged
     * in order (msr_write_log, the first FAKE_MAX_MSR_LOG of them). */
    uint32_t msr_index[FAKE_MAX_MSRS];
    uint64_t msr_value[FAKE_MAX_MSRS];
    int msr_count;
    uint32_t msr_faulting[FAKE_MAX_MSRS];
    int msr_faulting_count;
    uint32_t msr_write_log[FAKE_MAX_MSR_LOG];
    long msr_reads, msr_writes;

    /* n > 0: the n-th hw_vmcs_read / hw_vmcs_write (1-based, over both VMCSs, counted from
     * the last reset of vmcs_reads/vmcs_writes) fails with NVMX_ERR_HOST. */
    long fail_vmcs_read_at, fail_vmcs_write_at;

    /* The TSC as L1 sees it, returned by the tsc_read op; tests move it by hand. */
    uint64_t tsc;
    long tsc_reads;

    /* Host pages of page_alloc (host_phys = the pointer's value) and their accounting;
     * fail_page_at = n makes the n-th page_alloc (1-based) fail. */
    long page_allocs, live_pages;
    long fail_page_at;

    /* EPT01 as the ept01_lookup op answers it: L1 RAM maps 1:1 in 4-KiB pages to
     * FAKE_EPT01_HOST_BASE + gpa, RWX, write-back; pages listed in ept01_page[] answer
     * ept01_entry[] instead (present = false: NVMX_ERR_BAD_L1_ADDRESS; host_phys is that of the
     * 4-KiB page's first byte, the lookup adds the byte's offset in it). */
    uint64_t ept01_page[FAKE_MAX_EPT01_PAGES];
    struct fake_ept01_entry {
        bool present;
        nvmx_ept01_mapping mapping;
    } ept01_entry[FAKE_MAX_EPT01_PAGES];
    int ept01_page_count;
    long ept01_lookups;

    /* Every tlb_flush request, in order (the first FAKE_MAX_TLB_FLUSHES), and their count. */
    nvmx_tlb_flush tlb_flushes[FAKE_MAX_TLB_FLUSHES];
    long tlb_flush_count;

    /* vpid_alloc hands out 1, 2, ... up to vpid_limit (0: up to 65535), then 0. */
    uint16_t next_vpid;
    uint16_t vpid_limit;
    long live_vpids;
} fake_host;

#define FAKE_EPT01_HOST_BASE 0x100000000000ull

/* RAM of ram_size bytes; registers as the nestvmx-emu contract: 64-bit mode, CPL 0,
 * CR0.PE|NE|PG, CR4.PAE|VMXE, EFER.LME|LMA, flat segments, RIP 0x100000. */
void fake_host_init(fake_host *host, size_t ram_size);
void fake_host_fini(fake_host *host);
const nvmx_host_ops *fake_host_ops(void);

/* Switch the fake CPU mode: 64-bit, 32-bit protected (CS.D=1), compatibility, v8086, real. */
void fake_host_set_mode_long64(fake_host *host);
void fake_host_set_mode_protected32(fake_host *host);
void fake_host_set_mode_compat(fake_host *host);
void fake_host_set_mode_v8086(fake_host *host);
void fake_host_set_mode_real(fake_host *host);
void fake_host_set_cpl(fake_host *host, unsigned cpl);

void fake_host_write32(fake_host *host, uint64_t gpa, uint32_t value);
void fake_host_write64(fake_host *host, uint64_t gpa, uint64_t value);
uint32_t fake_host_read32(const fake_host *host, uint64_t gpa);
uint64_t fake_host_read64(const fake_host *host, uint64_t gpa);

/* The MSR map of the msr ops: set a value, read it back (false if absent), make an index
 * fault on both read and write. */
void fake_host_set_msr(fake_host *host, uint32_t index, uint64_t value);
bool fake_host_get_msr(const fake_host *host, uint32_t index, uint64_t *value);
void fake_host_fault_msr(fake_host *host, uint32_t index);

/* EPT01 of one L1 page (4 KiB aligned): unmapped (present = false) or as `mapping`. */
void fake_host_set_ept01(fake_host *host, uint64_t gpa, bool present,
                         const nvmx_ept01_mapping *mapping);
/* The host page behind a host-physical address from page_alloc. */
void *fake_host_page(uint64_t host_phys);

#endif
