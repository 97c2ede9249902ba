/* SPDX-License-Identifier: MIT */
/*
 * nestvmx-emu: the software L0. It runs an L1 image (a static ELF64) on the Unicorn CPU
 * emulator (>= 2.1) in the L1 contract of docs/ARCHITECTURE.md and hands L1's VMX instructions
 * to libnestvmx.
 */
#ifndef NESTVMX_EMU_H
#define NESTVMX_EMU_H

#include <nestvmx/nestvmx.h>
#include <unicorn/unicorn.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses of the program itself; a guest's own status comes through port 0xF4. */
enum emu_status {
    EMU_STATUS_BAD_INPUT = 2,    /* usage, --mem or a malformed image */
    EMU_STATUS_TRIPLE_FAULT = 3, /* L1 shut down (triple fault, emulation error) */
    EMU_STATUS_HALTED = 4,       /* L1 halted and nothing can wake it */
    EMU_STATUS_L2_HALTED = 5,    /* L2 halted, L1 does not intercept HLT, nothing wakes it */
    EMU_STATUS_HOST_FAILURE = 6, /* Unicorn or libnestvmx failed */
    EMU_STATUS_BUDGET = 7,       /* the instruction budget ran out (a guest that never ends) */
    EMU_STATUS_UNSUPPORTED = 8,  /* L1 asked for something this version cannot run (an L2
                                    outside 64-bit mode or CPL 0) */
};

/* Instructions L1 and L2 may run together before the run ends with EMU_STATUS_BUDGET. */
#define EMU_DEFAULT_BUDGET 200000000ull
/* What a trapped instruction or a restart of emulation (an exit, an event) costs of the budget:
 * about the time of that many plain instructions, so the budget bounds run time either way. */
#define EMU_TRAP_COST 64u

#define EMU_MIB (1ull << 20)
#define EMU_IMAGE_MIN_ADDRESS EMU_MIB /* images load at or above 1 MiB */

/* The physical layout below 1 MiB that the host builds (the contract reserves it). */
#define EMU_GDT 0x800u
#define EMU_PML4 0x1000u
#define EMU_PDPT 0x2000u
#define EMU_PD 0x3000u /* four page directories: 0x3000-0x6FFF map 4 GiB with 2 MiB pages */
#define EMU_STACK_TOP 0x80000u
#define EMU_CODE_SELECTOR 0x08u
#define EMU_DATA_SELECTOR 0x10u

/* Exit reasons counted one by one; VMX instructions of L2 (given to the library undecoded)
 * and anything above go to this bucket. */
#define EMU_STATS_VMX_BUCKET 80u

/* --stats: counts of the events L0 saw. l2_exits is indexed by reason and by the library's
 * answer (NVMX_RUN_L1, NVMX_RUN_L2, NVMX_RUN_L0_HANDLES). */
typedef struct emu_stats {
    uint64_t l1_vmx, l1_msr, entries;
    uint64_t l2_exits[EMU_STATS_VMX_BUCKET + 1][3];
    double start;
} emu_stats;

/* Why emulation stopped, as the hooks recorded it. */
typedef enum emu_stop {
    EMU_RUNNING = 0,
    EMU_STOP_EXIT,              /* port 0xF4 */
    EMU_STOP_EXCEPTION,         /* an exception for L1 to take (pending_vector) */
    EMU_STOP_RUN_L2,            /* the library entered L2: load L2 from vmcs02 */
    EMU_STOP_RUN_L1,            /* a VM exit to L1: load L1 from vmcs01 */
    EMU_STOP_L2_EXIT,           /* L2 exits at its current instruction (exit_info) */
    EMU_STOP_L2_HALTED,         /* L2 halted without HLT exiting */
    EMU_STOP_L2_SOFTWARE_EVENT, /* L2's INT3 / INT n (soft_*) */
    EMU_STOP_BUDGET,            /* the instruction budget ran out */
    EMU_STOP_SHUTDOWN,          /* the library shut L1 down (VMX abort) */
    EMU_STOP_FAILURE,           /* the host failed (message printed) */
    EMU_STOP_CHECKPOINT,        /* --save-at's event came inside a hook (checkpoint.c) */
} emu_stop;

/* host_memory.c: pages from page_alloc (EPT02 tables), at host-physical EMU_POOL_BASE + 4 KiB *
 * slot, outside L1 RAM (which sits at host-physical 0). */
#define EMU_POOL_BASE (1ull << 40)
#define EMU_POOL_MAX_PAGES (1u << 20)
typedef struct emu_page_pool {
    void **pages; /* by slot; NULL = free */
    size_t count, capacity;
} emu_page_pool;

typedef struct emu {
    uc_engine *uc;
    uint8_t *ram;
    uint64_t ram_size;
    uint64_t ram_low;  /* RAM below 4 GiB; the rest is at 4 GiB (memory.c) */
    struct emu_pc *pc; /* the multiboot PC's devices, NULL for an ELF64 image (pc.c) */
    nvmx_vm *vm;
    nvmx_vcpu *vcpu;
    uint64_t *vmcs[2];    /* vmcs01 and vmcs02 as field stores, indexed by nvmx_hw_vmcs */
    bool in_l2;           /* Unicorn holds L2's state (vmcs02), else L1's (vmcs01) */
    bool l1_state_loaded; /* the library wrote L1's state into vmcs01 during the last call */
    emu_stop stop;
    int exit_status;
    nvmx_exception pending;           /* valid with EMU_STOP_EXCEPTION */
    nvmx_exit exit_info;              /* valid with EMU_STOP_L2_EXIT */
    uint8_t soft_vector, soft_length; /* valid with EMU_STOP_L2_SOFTWARE_EVENT */
    bool soft_is_exception;
    uint64_t l1_mov_ss_end; /* RIP after L1's last MOV SS / POP SS: the next instruction is
                               in its shadow (blocking by MOV SS), else 0 */
    uint64_t budget;        /* instructions left */
    bool trace, stats_print;
    const char *stats_json;
    emu_stats stats;
    /* EPT for L2 (host_memory.c, l2_memory.c) */
    emu_page_pool pool;
    uint64_t vpid_used[65536 / 64];
    unsigned vpid_next;
    uint64_t l1_gpa; /* the L1 GPA of an EPT exit L0 handles (nvmx_next.l1_gpa) */
    /* a failed TLB fill of L2 under EPT: Unicorn names only the page; l2_memory.c finds the
     * byte (emu_l2_fault_address) before the fault is handled */
    bool fill_fault, fill_fault_final, probing, probe_found;
    unsigned fill_fault_access, probe_steps;
    bool timer_armed, l2_halted; /* timer.c: L1's timer deadline for L2; L2 in HLT */
    uint64_t timer_deadline;     /* in L1's TSC */
    unsigned exit_depth;         /* nested L2 exits during event delivery (l2.c) */
    uint64_t fill_fault_page, probe_address;
    uc_context *probe_context;
    _Alignas(4096) uint8_t scratch[4096]; /* what a replayed access touches instead */
    bool l2_ept; /* L2 runs on vmcs02's EPT02 (else L2 GPA = L1 GPA); either way Unicorn is in
                    UC_TLB_VIRTUAL for L2 and l2_memory.c translates */
    /* checkpoint.c: the run loop's events so far; --save-at N FILE */
    uint64_t events, save_at;
    const char *save_file;
} emu;

/* What a trapped instruction is, from its bytes (trap.c). */
typedef enum emu_insn_kind {
    EMU_INSN_OTHER = 0,
    EMU_INSN_RDMSR,
    EMU_INSN_WRMSR,
    EMU_INSN_HLT,
    EMU_INSN_CPUID,
    EMU_INSN_RDTSC,
    EMU_INSN_IO,
    EMU_INSN_MOV_TO_CR,   /* 0F 22 /r */
    EMU_INSN_MOV_FROM_CR, /* 0F 20 /r */
    EMU_INSN_CLTS,        /* 0F 06 */
    EMU_INSN_RDTSCP,      /* 0F 01 F9 */
    EMU_INSN_INVPCID,     /* 66 0F 38 82 /r */
    EMU_INSN_INT3,        /* CC */
    EMU_INSN_INTN,        /* CD ib */
    EMU_INSN_INVD,        /* 0F 08 */
    EMU_INSN_INVLPG,      /* 0F 01 /7, memory operand */
    EMU_INSN_PAUSE,       /* F3 90 */
    EMU_INSN_WBINVD,      /* 0F 09 */
    EMU_INSN_MOV_TO_DR,   /* 0F 23 /r */
    EMU_INSN_MOV_FROM_DR, /* 0F 21 /r */
} emu_insn_kind;

typedef struct emu_insn {
    emu_insn_kind kind;
    uint8_t length;
    /* EMU_INSN_IO: the exit qualification's parts (SDM 28.2.1, Table 28-5) */
    uint8_t io_size; /* 1, 2 or 4 */
    bool io_in, io_string, io_rep, io_immediate;
    uint16_t io_port_immediate;
    /* EMU_INSN_MOV_TO_CR / MOV_FROM_CR (and _DR): the control (debug) register and the GPR
     * (SDM numbering) */
    uint8_t cr, gpr;
    uint8_t vector; /* EMU_INSN_INTN */
    /* EMU_INSN_INVLPG: where its ModRM byte is, its REX, and the address-size and segment
     * (FS 4 / GS 5, else 0) overrides, for the linear address (trap.c) */
    uint8_t modrm_at, rex, segment;
    bool addr32;
} emu_insn;

/* main.c: the contract's ports; emu_port_out returns true when the write ends the run. */
uint32_t emu_port_in(unsigned port, int size);
bool emu_port_out(emu *e, unsigned port, uint32_t value);

/* trap.c: the code hook that finds the instructions Unicorn cannot hook (RDMSR, WRMSR, HLT;
 * for L2 also CPUID, RDTSC, I/O) and counts the instruction budget. */
bool emu_classify(const uint8_t *bytes, uint8_t length, emu_insn *out);
bool emu_add_code_hook(emu *e);
/* main.c: every L1 instruction before it executes (notes a MOV SS / POP SS shadow). */
void emu_note_l1_instruction(emu *e, uint64_t rip, const uint8_t *bytes, uint32_t length);

/* cr.c: L2's MOV to/from CR0, CR3, CR4 and CLTS as vmcs02 has them behave (SDM 26.1.3,
 * 26.3): an exit (emu_l2_exit_at), or the instruction completed here, or false: Unicorn runs
 * it itself. emu_cr_l0_write completes a MOV to CR the library gave back to L0. */
bool emu_l2_cr_instruction(emu *e, const emu_insn *insn);
void emu_cr_l0_complete(emu *e);
void emu_l1_cr_write(emu *e, const emu_insn *insn);
/* The Unicorn register of a GPR in the SDM's numbering (0 RAX ... 15 R15). */
int emu_uc_gpr(unsigned index);

/* msr.c: RDMSR/WRMSR of the running guest: the library's MSRs, then the small model of the
 * rest; false means #GP(0). */
bool emu_msr_read(emu *e, uint32_t index, uint64_t *value);
/* The running guest's time-stamp counter (RDTSC, RDMSR). */
uint64_t emu_tsc(emu *e);
bool emu_msr_write(emu *e, uint32_t index, uint64_t value);
/* Complete RDMSR or WRMSR of L1 (or of L2 as L0): registers, RIP, or a pending #GP. */
void emu_msr_instruction(emu *e, bool write, uint8_t length);

/* state.c: Unicorn's CPU state <-> a field store's guest-state area (SDM 25.4). */
void emu_state_save(emu *e, nvmx_hw_vmcs which);
bool emu_state_load(emu *e, nvmx_hw_vmcs which);
uint64_t emu_vmcs_get(const emu *e, nvmx_hw_vmcs which, uint32_t field);
void emu_vmcs_set(emu *e, nvmx_hw_vmcs which, uint32_t field, uint64_t value);

/* trace.c: --trace lines and --stats counts. */
void emu_stats_start(emu *e);
void emu_note_l1_vmx(emu *e, uint64_t rip, const nvmx_exit *exit, const nvmx_next *next);
void emu_note_l1_msr(emu *e, bool write, uint32_t index, const char *outcome);
void emu_note_l2_exit(emu *e, uint64_t rip, const nvmx_exit *exit, nvmx_run run);
bool emu_stats_finish(const emu *e);

/* l2.c: L2's exits and VM entries. */
void emu_l2_exit_at(emu *e, uint32_t reason, uint64_t qualification, uint8_t length);
/* After EMU_STOP_L2_EXIT / an entry: what to do; -1 to go on, else an exit status. */
int emu_l2_handle_exit(emu *e);
int emu_enter_l2(emu *e);
int emu_l2_software_event(emu *e);
void emu_l2_exception(emu *e, const nvmx_exception *x);
bool emu_deliver_exception(emu *e, const nvmx_exception *x);
uint64_t emu_reg(emu *e, int uc_reg);

/* host_memory.c: the EPT ops (ept01_lookup, page_alloc/free, tlb_flush, l1_cmpxchg64,
 * vpid_alloc/free, tsc_read) and the page pool. */
void emu_host_memory_ops(nvmx_host_ops *ops);
void *emu_pool_page(const emu *e, uint64_t host_phys);
void emu_pool_destroy(emu *e);

/* l2_memory.c: L2's memory under EPT02 (L2 linear -> L2 paging -> EPT02 -> L1 RAM). */
bool emu_l2_memory_hook(emu *e);
/* After a stop: make the address of a fault the TLB-fill hook reported byte-exact. */
void emu_l2_fault_address(emu *e);
void emu_l2_memory_destroy(emu *e);
/* Unicorn's TLB mode for the guest just loaded (state.c calls it after a load). */
bool emu_l2_memory_mode(emu *e);
/* Reads/writes of the running guest's linear memory for nestvmx-emu itself (instruction
 * bytes, IDT gates, event frames): through Unicorn, or for L2 under EPT through the walk.
 * On an EPT violation or #PF the access fails; with `report` the fault is recorded as the
 * hardware would raise it (e->stop, exit_info / pending). */
bool emu_vmem_read(emu *e, uint64_t la, uc_prot prot, void *buf, size_t len, bool report);
bool emu_vmem_write(emu *e, uint64_t la, const void *buf, size_t len, bool report);
/* The translate op for L2 under EPT (L2 paging, nvmx_l2_gpa_to_l1 per guest-physical address). */
nvmx_status emu_l2_translate(emu *e, uint64_t la, nvmx_access access, uint64_t *l1_gpa,
                             nvmx_exception *fault);

/* timer.c: L1's VMX-preemption timer for L2 and a halted L2. */
void emu_timer_refresh(emu *e);
bool emu_timer_expired(emu *e);
/* L2 halts: wait for the timer (true: the exit is recorded, L2 halted), else false. */
bool emu_l2_halt(emu *e);
/* L1's time-stamp counter (msr.c), whoever runs. */
uint64_t emu_l1_tsc(emu *e);

/* elf.c: load a static ELF64 x86-64 image into RAM; prints what is wrong and returns false. */
bool emu_load_elf(const char *path, uint8_t *ram, uint64_t ram_size, uint64_t *entry);

/* cpu.c: the CPU as the contract describes it at L1's entry, and CPUID. */
bool emu_cpu_reset(emu *e, uint64_t entry);
void emu_cpuid(const emu *e, uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);
/* True when a MOV to CR0/CR4 of that value sets a bit this CPU reserves (#GP(0)). */
bool emu_cr_reserved(uint8_t cr, uint64_t value);
/* A segment register of L1 with its hidden part, from the selector and L1's GDT. */
void emu_segment(emu *e, nvmx_seg seg, nvmx_segment *out);

#endif
