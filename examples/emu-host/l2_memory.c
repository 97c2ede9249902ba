/* SPDX-License-Identifier: MIT */
/*
 * L2's memory. While L2 runs, Unicorn is in UC_TLB_VIRTUAL and every TLB miss comes here, as
 * a hardware page walk would (SDM Vol. 3C 29.3, Vol. 3A 4.5). When vmcs02 has EPT (L1 enabled
 * EPT in vmcs12; the library put the root of EPT02 into vmcs02's EPT pointer):
 *   L2 linear -> L2's 4-level paging (L2 runs in 64-bit mode, so paging is on; the entries
 *   live at L2 guest-physical addresses, each translated through EPT02 too)
 *   -> L2 guest-physical -> EPT02 (the library's tables, walked with their R/W/X)
 *   -> host-physical = an offset into L1 RAM (host_memory.c: EPT01 is the identity).
 * A missing or insufficient EPT02 entry is an EPT violation (exit reason 48) reported to the
 * library as hardware reports it (28.2.1, Table 28-7); L2's own paging faults are #PF with
 * the error code computed here (Vol. 3A 4.7), through the exception bitmap (l2.c).
 * Without EPT in vmcs02 the same walk runs with L2 GPA = L1 GPA (an L1 RAM offset), so #PF
 * error codes are exact for every L2. L1 itself runs on Unicorn's own MMU (UC_TLB_CPU).
 */
#include "emu.h"
#include "pc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define PAGE_SIZE 4096ull
#define PAGE_MASK (~(PAGE_SIZE - 1))
/* Unicorn-physical address of the scratch page a replayed access is sent to (above anything
 * L1 RAM or the 4 GiB L1 identity map reaches). */
#define EMU_SCRATCH_PHYS (1ull << 45)
#define ADDRESS_MASK 0x000FFFFFFFFFF000ull /* bits 51:12 of paging and EPT entries */
#define EMU_MAXPHYADDR 46u                 /* CPUID 0x80000008 (cpu.c) */
#define PHYS_RESERVED (ADDRESS_MASK & ~((1ull << EMU_MAXPHYADDR) - 1))

/* Paging-entry bits (Vol. 3A 4.5, Tables 4-14 to 4-19). */
#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_XD (1ull << 63)
/* #PF error code (Vol. 3A 4.7). */
#define PFEC_P (1u << 0)
#define PFEC_W (1u << 1)
#define PFEC_RSVD (1u << 3)
#define PFEC_I (1u << 4)
/* EPT entries (29.3.2) and the violation qualification (28.2.1, Table 28-7). */
#define EPT_RWX 7ull
#define EPT_PAGE_SIZE (1ull << 7)
#define EPTQ_GLA_VALID (1ull << 7)
#define EPTQ_TRANSLATION (1ull << 8)

#define CR0_WP (1ull << 16)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)
#define EFER_NXE (1ull << 11)
#define RFLAGS_AC (1ull << 18)

/* Access kinds as EPT qualification bits 2:0 have them. */
enum { ACC_READ = 1u, ACC_WRITE = 2u, ACC_FETCH = 4u };

/* The outcome of one walk. */
typedef enum walk_outcome {
    WALK_OK = 0,
    WALK_EPT_VIOLATION, /* exit_info below */
    WALK_EPT_MISCONFIG,
    WALK_PAGE_FAULT, /* fault below */
    WALK_HOST_FAILURE,
    WALK_NO_RAM, /* L2 without EPT reached an L1 guest-physical address without RAM */
} walk_outcome;

typedef struct walk {
    uint64_t la;
    unsigned access;
    walk_outcome outcome;
    uint64_t gpa; /* the guest-physical address that faulted in EPT (48/49) */
    uint64_t qualification;
    nvmx_exception fault; /* WALK_PAGE_FAULT */
    unsigned ept_rwx;     /* WALK_OK: EPT02's R/W/X of the final page */
    bool final;           /* the fault was at the final translation, not a paging entry */
    bool library;         /* guest-physical addresses through nvmx_l2_gpa_to_l1, not EPT02 */
} walk;

/* ---- EPT02 (29.3.2): 4 levels from vmcs02's EPT pointer; the tables are pool pages ---- */

/* The EPT02 translation of `gpa` for `access` (ACC_*): host-physical = an L1 RAM offset.
 * EPT02 is the library's: entries it never writes (write without read, a large page at
 * level 4) are misconfigurations as the hardware would see them (29.3.3.1); the other
 * misconfiguration checks (memory types, reserved bits) are not repeated here — the library
 * writes only checked entries (lib/ept/ept02.c). */
static walk_outcome ept02_translate(emu *e, uint64_t gpa, unsigned access, bool translation,
                                    uint64_t *hpa, walk *w)
{
    uint64_t table = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_EPT_POINTER) & ADDRESS_MASK;
    unsigned rwx = (unsigned)EPT_RWX;
    for (unsigned level = 4; level >= 1; level--) {
        const uint64_t *entries = emu_pool_page(e, table);
        if (!entries || (gpa >> 48))
            return w->outcome = WALK_HOST_FAILURE;
        uint64_t entry =
            __atomic_load_n(&entries[(gpa >> (12 + 9 * (level - 1))) & 511], __ATOMIC_ACQUIRE);
        unsigned present = (unsigned)(entry & EPT_RWX);
        rwx &= present;
        bool leaf = level == 1 || (level <= 3 && (entry & EPT_PAGE_SIZE));
        w->gpa = gpa;
        w->final = translation;
        if (present && (((present & ACC_WRITE) && !(present & ACC_READ)) ||
                        (level == 4 && (entry & EPT_PAGE_SIZE))))
            return w->outcome = WALK_EPT_MISCONFIG;
        if (!present || (leaf && (access & ~rwx))) {
            /* 28.2.1: bits 2:0 the access, 5:3 the AND of R/W/X of every entry walked (0 for
             * a not-present one), 7 the linear address is valid (always: L2 runs with paging),
             * 8 the access was the final translation, not a paging-structure entry. */
            w->qualification = access | ((uint64_t)(present ? rwx : 0) << 3) | EPTQ_GLA_VALID |
                               (translation ? EPTQ_TRANSLATION : 0);
            return w->outcome = WALK_EPT_VIOLATION;
        }
        if (leaf) {
            uint64_t size = 1ull << (12 + 9 * (level - 1));
            *hpa = ((entry & ADDRESS_MASK) & ~(size - 1)) | (gpa & (size - 1));
            w->ept_rwx = rwx;
            if (*hpa >= e->ram_size)
                return w->outcome = WALK_HOST_FAILURE; /* EPT02 leaves point into L1 RAM */
            return WALK_OK;
        }
        table = entry & ADDRESS_MASK;
    }
    return w->outcome = WALK_HOST_FAILURE;
}

/* ---- L2's paging (Vol. 3A 4.5, 4-level; L2 runs in 64-bit mode at CPL 0) ---- */

static walk_outcome page_fault(walk *w, uint32_t error_code)
{
    w->fault = (nvmx_exception){
        .vector = NVMX_VECTOR_PF, .has_error_code = true, .error_code = error_code, .cr2 = w->la};
    return w->outcome = WALK_PAGE_FAULT;
}

/* Reserved bits of an entry at `level` (Vol. 3A 4.5.4, Tables 4-14 to 4-19): physical bits
 * at and above MAXPHYADDR, XD without EFER.NXE, PS in a PML4E, bits 29:13 of a 1 GiB page
 * and 20:13 of a 2 MiB page. */
static bool reserved_bits(uint64_t entry, unsigned level, bool nxe)
{
    if ((entry & PHYS_RESERVED) || (!nxe && (entry & PTE_XD)))
        return true;
    if (level == 4)
        return entry & PTE_PS;
    if (level == 3 && (entry & PTE_PS))
        return entry & 0x3FFFE000ull;
    if (level == 2 && (entry & PTE_PS))
        return entry & 0x1FE000ull;
    return false;
}

/* An L2 guest-physical address -> offset in the RAM buffer (host-physical addresses are those
 * offsets, host_memory.c): through EPT02 as the hardware walks it, or (the library's translate
 * op) through nvmx_l2_gpa_to_l1, which walks L1's EPT12 itself — there the final address stays
 * the L1 GPA the op answers. */
static walk_outcome gpa_to_host(emu *e, uint64_t gpa, unsigned access, bool translation,
                                uint64_t *hpa, walk *w)
{
    if (!w->library && e->l2_ept)
        return ept02_translate(e, gpa, access, translation, hpa, w);
    if (!w->library) { /* no EPT in vmcs02: L2's guest-physical addresses are L1's (L1 RAM) */
        const uint8_t *byte = emu_ram_at(e, gpa, 1);
        *hpa = byte ? (uint64_t)(byte - e->ram) : 0;
        w->ept_rwx = (unsigned)EPT_RWX;
        w->gpa = gpa;
        return byte ? WALK_OK : (w->outcome = WALK_NO_RAM);
    }
    nvmx_access kind = access == ACC_WRITE ? NVMX_ACCESS_WRITE : NVMX_ACCESS_READ;
    nvmx_status status = nvmx_l2_gpa_to_l1(e->vcpu, gpa, w->la, kind, !translation, hpa);
    w->ept_rwx = (unsigned)EPT_RWX;
    if (status == NVMX_ERR_BAD_L1_ADDRESS)
        return w->outcome = WALK_EPT_VIOLATION; /* the library performs the exit */
    if (status != NVMX_OK)
        return w->outcome = WALK_HOST_FAILURE;
    /* the final address may lie outside L1 RAM: the library's l1_read/l1_write then answer
     * NVMX_ERR_BAD_L1_ADDRESS; a paging-structure entry there cannot be read here */
    if (translation)
        return WALK_OK; /* an L1 GPA, what the translate op answers */
    const uint8_t *byte = emu_ram_at(e, *hpa, 8);
    if (!byte) {
        w->gpa = gpa;
        return w->outcome = WALK_NO_RAM;
    }
    *hpa = (uint64_t)(byte - e->ram); /* a paging-structure entry, read from the buffer */
    return WALK_OK;
}

/* Supervisor-mode permission of the final page (4.6): CPL 0 here. */
static bool denied(emu *e, unsigned access, bool writable, bool user, bool xd)
{
    uint64_t cr0 = emu_reg(e, UC_X86_REG_CR0), cr4 = emu_reg(e, UC_X86_REG_CR4);
    bool nxe = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_GUEST_IA32_EFER) & EFER_NXE;
    if (access == ACC_FETCH)
        return (xd && nxe) || (user && (cr4 & CR4_SMEP));
    bool smap = user && (cr4 & CR4_SMAP) && !(emu_reg(e, UC_X86_REG_RFLAGS) & RFLAGS_AC);
    return smap || (access == ACC_WRITE && !writable && (cr0 & CR0_WP));
}

/* L2 linear `la` -> host-physical (L1 RAM offset) for `access`; the A and D flags of L2's
 * entries are set as the processor sets them (4.8), each as a locked update of the entry. */
static walk_outcome translate(emu *e, walk *w, uint64_t *hpa_out, unsigned *perms)
{
    uint64_t la = w->la;
    unsigned access = w->access;
    bool nxe = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_GUEST_IA32_EFER) & EFER_NXE;
    uint64_t cr4 = emu_reg(e, UC_X86_REG_CR4);
    uint32_t fetch_bit = (access == ACC_FETCH && (nxe || (cr4 & CR4_SMEP))) ? PFEC_I : 0;
    uint32_t write_bit = access == ACC_WRITE ? PFEC_W : 0;
    /* non-canonical addresses raise #GP in Unicorn before any fill: not seen here */
    uint64_t table = emu_reg(e, UC_X86_REG_CR3) & ADDRESS_MASK & ~PHYS_RESERVED;
    uint64_t entry_hpa[4], entry_gpa[4];
    uint64_t entry = 0;
    bool writable = true, user = true, xd = false;
    unsigned level = 4, used = 0;
    for (;; level--) {
        uint64_t gpa = table | (((la >> (12 + 9 * (level - 1))) & 511) << 3);
        entry_gpa[used] = gpa;
        if (gpa_to_host(e, gpa, ACC_READ, false, &entry_hpa[used], w) != WALK_OK)
            return w->outcome;
        entry = __atomic_load_n((uint64_t *)(void *)(e->ram + entry_hpa[used]), __ATOMIC_ACQUIRE);
        used++;
        if (!(entry & PTE_P))
            return page_fault(w, write_bit | fetch_bit);
        if (reserved_bits(entry, level, nxe))
            return page_fault(w, PFEC_P | PFEC_RSVD | write_bit | fetch_bit);
        writable &= (entry & PTE_RW) != 0;
        user &= (entry & PTE_US) != 0;
        xd |= (entry & PTE_XD) != 0;
        if (level == 1 || (entry & PTE_PS))
            break;
        table = entry & ADDRESS_MASK;
    }
    if (denied(e, access, writable, user, xd))
        return page_fault(w, PFEC_P | write_bit | fetch_bit);
    uint64_t size = 1ull << (12 + 9 * (level - 1));
    uint64_t gpa = ((entry & ADDRESS_MASK) & ~(size - 1)) | (la & (size - 1));
    if (gpa_to_host(e, gpa, access, true, hpa_out, w) != WALK_OK)
        return w->outcome;
    unsigned final_rwx = w->ept_rwx;
    /* 4.8: accessed flags on every entry used, the dirty flag of the final one on a write;
     * each update is a write of a paging-structure entry (EPT02 must allow it: 29.3.3.2). */
    for (unsigned i = 0; i < used; i++) {
        uint64_t *p = (uint64_t *)(void *)(e->ram + entry_hpa[i]);
        uint64_t old = __atomic_load_n(p, __ATOMIC_ACQUIRE);
        uint64_t set = PTE_A | ((i == used - 1 && access == ACC_WRITE) ? PTE_D : 0);
        if ((old & set) == set)
            continue;
        uint64_t hpa;
        if (gpa_to_host(e, entry_gpa[i], ACC_WRITE, false, &hpa, w) != WALK_OK)
            return w->outcome;
        __atomic_fetch_or(p, set, __ATOMIC_ACQ_REL);
        entry = i == used - 1 ? old | set : entry;
    }
    /* What the TLB entry may allow beyond this access without another walk: only what needs
     * no further A/D update (D already set for writes) and passes both checks. */
    *perms = 0;
    if ((final_rwx & ACC_READ) && !denied(e, ACC_READ, writable, user, xd))
        *perms |= UC_PROT_READ;
    if ((final_rwx & ACC_WRITE) && (entry & PTE_D) && !denied(e, ACC_WRITE, writable, user, xd))
        *perms |= UC_PROT_WRITE;
    if ((final_rwx & ACC_FETCH) && !denied(e, ACC_FETCH, writable, user, xd))
        *perms |= UC_PROT_EXEC;
    return WALK_OK;
}

/* ---- what a failed walk is for L2 ---- */

/* Record the fault of a walk as the hardware raises it: an EPT violation or misconfiguration
 * exit (28.2.1; the guest-physical and linear addresses), or #PF for l2.c to route through
 * the exception bitmap, or a host failure. */
static void report(emu *e, const walk *w)
{
    switch (w->outcome) {
    case WALK_EPT_VIOLATION:
    case WALK_EPT_MISCONFIG: {
        bool violation = w->outcome == WALK_EPT_VIOLATION;
        emu_l2_exit_at(e, violation ? NVMX_EXIT_EPT_VIOLATION : NVMX_EXIT_EPT_MISCONFIG,
                       violation ? w->qualification : 0, 0);
        e->exit_info.guest_physical_address = w->gpa;
        e->exit_info.guest_linear_address = w->la; /* 28.2.1: with qualification bit 7 */
        break;
    }
    case WALK_PAGE_FAULT:
        e->pending = w->fault;
        e->stop = EMU_STOP_EXCEPTION;
        break;
    case WALK_HOST_FAILURE:
        fflush(stdout);
        fprintf(stderr,
                "nestvmx-emu: EPT02 walk of L2 linear address %#" PRIx64
                " met a table or page outside what the host gave the library\n",
                w->la);
        e->stop = EMU_STOP_FAILURE;
        break;
    case WALK_NO_RAM:
        fflush(stdout);
        fprintf(stderr,
                "nestvmx-emu: L2 accessed guest-physical %#" PRIx64 " (linear %#" PRIx64
                "), which is not L1 RAM; nestvmx-emu has no MMIO for L2\n",
                w->gpa, w->la);
        e->stop = EMU_STOP_FAILURE;
        break;
    case WALK_OK:
        break;
    }
}

static unsigned access_of(uc_prot prot)
{
    return prot == UC_PROT_WRITE ? ACC_WRITE : prot == UC_PROT_EXEC ? ACC_FETCH : ACC_READ;
}

/* UC_HOOK_TLB_FILL: Unicorn missed its TLB for L2's `vaddr`. A false return stops emulation
 * before the access (RIP at the instruction, measured); e->stop says why. */
static bool on_tlb_fill(uc_engine *uc, uint64_t vaddr, uc_mem_type type, uc_tlb_entry *result,
                        void *user)
{
    (void)uc;
    emu *e = user;
    walk w = {.la = vaddr,
              .access = type == UC_MEM_WRITE   ? ACC_WRITE
                        : type == UC_MEM_FETCH ? ACC_FETCH
                                               : ACC_READ};
    uint64_t hpa;
    unsigned perms;
    if (!e->in_l2) { /* not ours: identity, as UC_TLB_VIRTUAL defaults */
        result->paddr = vaddr & ~(PAGE_SIZE - 1);
        result->perms = UC_PROT_ALL;
        return true;
    }
    if (e->probing && (vaddr & PAGE_MASK) == e->fill_fault_page) {
        result->paddr = EMU_SCRATCH_PHYS;
        result->perms = UC_PROT_ALL;
        return true;
    }
    if (translate(e, &w, &hpa, &perms) != WALK_OK) {
        if (e->probing)
            return false;
        report(e, &w);
        e->fill_fault = true;
        e->fill_fault_page = vaddr & PAGE_MASK;
        e->fill_fault_access = w.access;
        e->fill_fault_final =
            w.outcome == WALK_PAGE_FAULT ||
            (w.outcome == WALK_EPT_VIOLATION && (w.qualification & EPTQ_TRANSLATION)) ||
            (w.outcome == WALK_EPT_MISCONFIG && w.final);
        return false;
    }
    result->paddr = hpa & ~(PAGE_SIZE - 1);
    result->perms = (uc_prot)perms;
    return true;
}

bool emu_l2_memory_hook(emu *e)
{
    uc_hook h;
    uc_err err = uc_hook_add(e->uc, &h, UC_HOOK_TLB_FILL, on_tlb_fill, e, 1, 0);
    if (!err)
        err = uc_mem_map_ptr(e->uc, EMU_SCRATCH_PHYS, PAGE_SIZE, UC_PROT_ALL, e->scratch);
    if (!err)
        err = uc_context_alloc(e->uc, &e->probe_context);
    if (err)
        fprintf(stderr, "nestvmx-emu: cannot install the TLB-fill hook: %s\n", uc_strerror(err));
    return !err;
}

/* After a state load: L2 under EPT (vmcs02's secondary controls enable EPT, 25.6.2) runs
 * with the TLB-fill translation, everything else with Unicorn's MMU. */
bool emu_l2_memory_mode(emu *e)
{
    uint64_t proc = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_CPU_BASED_VM_EXEC_CONTROL);
    uint64_t proc2 = emu_vmcs_get(e, NVMX_HW_VMCS02, NVMX_FIELD_SECONDARY_VM_EXEC_CONTROL);
    e->l2_ept = e->in_l2 && (proc & NVMX_CTL(SECONDARY_CONTROLS)) && (proc2 & NVMX_CTL(EPT));
    return uc_ctl_tlb_mode(e->uc, e->in_l2 ? UC_TLB_VIRTUAL : UC_TLB_CPU) == UC_ERR_OK &&
           uc_ctl_flush_tlb(e->uc) == UC_ERR_OK;
}

/* ---- nestvmx-emu's own accesses to the running guest's memory ---- */

static bool copy(emu *e, uint64_t la, unsigned access, void *buf, const void *src, size_t len,
                 bool report_fault)
{
    uint8_t *out = buf;
    const uint8_t *in = src;
    while (len) {
        walk w = {.la = la, .access = access};
        uint64_t hpa;
        unsigned perms;
        if (translate(e, &w, &hpa, &perms) != WALK_OK) {
            if (report_fault)
                report(e, &w);
            return false;
        }
        size_t chunk = PAGE_SIZE - (la & (PAGE_SIZE - 1));
        chunk = chunk < len ? chunk : len;
        if (out)
            memcpy(out, e->ram + hpa, chunk), out += chunk;
        else
            memcpy(e->ram + hpa, in, chunk), in += chunk;
        la += chunk;
        len -= chunk;
    }
    return true;
}

bool emu_vmem_read(emu *e, uint64_t la, uc_prot prot, void *buf, size_t len, bool report_fault)
{
    if (!e->in_l2)
        return uc_vmem_read(e->uc, la, prot, buf, len) == UC_ERR_OK;
    return copy(e, la, access_of(prot), buf, NULL, len, report_fault);
}

bool emu_vmem_write(emu *e, uint64_t la, const void *buf, size_t len, bool report_fault)
{
    if (!e->in_l2)
        return uc_vmem_write(e->uc, la, UC_PROT_WRITE, (void *)(uintptr_t)buf, len) == UC_ERR_OK;
    if (!copy(e, la, ACC_WRITE, NULL, buf, len, report_fault))
        return false;
    uc_ctl_remove_cache(e->uc, la, la + len); /* code L2 may run from these bytes */
    return true;
}

nvmx_status emu_l2_translate(emu *e, uint64_t la, nvmx_access access, uint64_t *l1_gpa,
                             nvmx_exception *fault)
{
    walk w = {
        .la = la, .access = access == NVMX_ACCESS_WRITE ? ACC_WRITE : ACC_READ, .library = true};
    unsigned perms;
    switch (translate(e, &w, l1_gpa, &perms)) {
    case WALK_OK:
        return NVMX_OK;
    case WALK_PAGE_FAULT:
        *fault = w.fault;
        return NVMX_ERR_BAD_L1_ADDRESS;
    case WALK_EPT_VIOLATION:
    case WALK_EPT_MISCONFIG:
        *fault = (nvmx_exception){0}; /* ignored: the library exits to L1 (exits.h) */
        return NVMX_ERR_BAD_L1_ADDRESS;
    case WALK_NO_RAM:
    case WALK_HOST_FAILURE:
        report(e, &w); /* the message; the library's call fails with NVMX_ERR_HOST */
        break;
    }
    return NVMX_ERR_HOST;
}

/* ---- the byte a fault is about ---- */

static void on_probe_access(uc_engine *uc, uc_mem_type type, uint64_t address, int size,
                            int64_t value, void *user)
{
    (void)uc, (void)type, (void)value;
    emu *e = user;
    /* memory hooks see Unicorn-physical addresses: the scratch page stands for the page */
    uint64_t last = address + (uint64_t)(size > 0 ? size - 1 : 0);
    if (e->probe_found ||
        ((address & PAGE_MASK) != EMU_SCRATCH_PHYS && (last & PAGE_MASK) != EMU_SCRATCH_PHYS))
        return;
    e->probe_found = true;
    e->probe_address = e->fill_fault_page +
                       ((address & PAGE_MASK) == EMU_SCRATCH_PHYS ? (address & ~PAGE_MASK) : 0);
}

/* Unicorn's TLB-fill hook gets the page, not the byte (measured on 2.1.4), while CR2 and the
 * exit's guest-linear and guest-physical addresses name the byte (SDM Vol. 3A 4.7, Vol. 3C
 * 28.2.1). So the instruction is replayed once with the faulting page sent to a scratch page
 * and a memory hook noting the first access to it; then Unicorn's state is put back. A
 * replay that touches other memory first writes what the real execution writes again after
 * the fault is resolved (a limit, documented in the README). For a fetch the byte is RIP when
 * the instruction starts on the page, else the page's first byte (it crosses into it). */
static uint64_t exact_address(emu *e)
{
    uint64_t rip = emu_reg(e, UC_X86_REG_RIP);
    if (e->fill_fault_access == ACC_FETCH)
        return (rip & PAGE_MASK) == e->fill_fault_page ? rip : e->fill_fault_page;
    uc_hook h;
    if (uc_context_save(e->uc, e->probe_context) != UC_ERR_OK ||
        uc_hook_add(e->uc, &h, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, on_probe_access, e, 1, 0) !=
            UC_ERR_OK)
        return e->fill_fault_page;
    e->probing = true;
    e->probe_found = false;
    uc_ctl_flush_tlb(e->uc);
    e->probe_steps = 0;
    uc_emu_start(e->uc, rip, 0, 0, 0); /* trap.c stops it before the next instruction */
    e->probing = false;
    uc_hook_del(e->uc, h);
    uc_context_restore(e->uc, e->probe_context);
    uc_ctl_flush_tlb(e->uc);
    return e->probe_found ? e->probe_address : e->fill_fault_page;
}

void emu_l2_fault_address(emu *e)
{
    if (!e->fill_fault)
        return;
    e->fill_fault = false;
    emu_stop stop = e->stop;
    nvmx_exit saved_exit = e->exit_info;
    nvmx_exception saved_fault = e->pending;
    uint64_t exact = exact_address(e);
    e->stop = stop;
    e->exit_info = saved_exit;
    e->pending = saved_fault;
    if (stop == EMU_STOP_EXCEPTION) {
        e->pending.cr2 = exact;
        return;
    }
    e->exit_info.guest_linear_address = exact;
    if (e->fill_fault_final) /* else the GPA is the paging-structure entry's, already exact */
        e->exit_info.guest_physical_address =
            (e->exit_info.guest_physical_address & PAGE_MASK) | (exact & ~PAGE_MASK);
}

void emu_l2_memory_destroy(emu *e)
{
    if (e->probe_context)
        uc_context_free(e->probe_context);
}
