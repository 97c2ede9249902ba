/* SPDX-License-Identifier: MIT */
/*
 * x86 architecture facts only the library needs: reserved-bit masks, memory layouts the VMX
 * rules read, and the canonical-address helpers. Facts embedders also need (control-register,
 * EFER and RFLAGS bits, access rights, vectors, interruption information, activity and
 * interruptibility state) are in include/nestvmx/controls.h. Each fact is defined once, here or
 * there; units include this header (through internal.h) and never keep a copy. Not installed.
 */
#ifndef NESTVMX_LIB_ARCH_H
#define NESTVMX_LIB_ARCH_H

#include <nestvmx/controls.h>

#include "freestanding.h"

/* ---- Linear addresses ------------------------------------------------------------------- */

/* The linear-address width the library models: 48 bits (SDM Vol. 1 3.3.7.1). LA57 (57-bit
 * linear addresses, CR4.LA57) is future work: it would check bits 63:56. */
#define LINEAR_ADDRESS_WIDTH 48

/* Canonical for a 48-bit linear-address width: bits 63:47 all equal (SDM Vol. 1 3.3.7.1). */
static inline bool canonical48(uint64_t address)
{
    uint64_t top = address >> (LINEAR_ADDRESS_WIDTH - 1);
    return top == 0 || top == (~0ull >> (LINEAR_ADDRESS_WIDTH - 1));
}

/* Bits 63:48 set to bit 47: what "bits 63:N are set to the value of bit N-1" gives for the
 * 48 linear-address bits the library models (SDM 28.5.1, 28.5.2). */
static inline uint64_t make_canonical48(uint64_t address)
{
    const uint64_t high = ~0ull << LINEAR_ADDRESS_WIDTH;
    return (address & (1ull << (LINEAR_ADDRESS_WIDTH - 1))) ? address | high : address & ~high;
}

/* Bits 63:48 identical, the form 27.3.1.4 gives for RIP and SSP (one bit looser than
 * canonical, which also includes bit 47). */
static inline bool upper_bits_identical48(uint64_t value)
{
    uint64_t top = value >> LINEAR_ADDRESS_WIDTH;
    return top == 0 || top == (~0ull >> LINEAR_ADDRESS_WIDTH);
}

/* A value that fits 32 bits: bits 63:32 are 0 (32-bit RIP, SSP, bases; the reserved upper
 * halves of DR7 and IA32_PKRS). */
static inline bool upper_32_clear(uint64_t value)
{
    return (value >> 32) == 0;
}

/* ---- Paging ----------------------------------------------------------------------------- */

/* 4-KByte pages (SDM Vol. 3A chapter 4, "Paging"); VMCS regions, bitmaps and the pages control
 * fields point to are 4-KByte aligned (27.2.1). */
#define PAGE_SIZE_4K 4096u
#define PAGE_OFFSET_MASK 0xFFFull

/* PAE-paging PDPTEs (SDM Vol. 3A 4.4.1, Table 4-8): P, reserved 2:1 and 8:5, and every bit
 * at or above MAXPHYADDR (including 63: no execute-disable in a PDPTE). */
#define PDPTE_PRESENT 1ull
#define PDPTE_RESERVED_LOW 0x1E6ull
/* CR3 bits 31:5 locate the PDPT under PAE paging (SDM Vol. 3A 4.4.1). */
#define CR3_PDPT_MASK 0xFFFFFFE0ull

/* Memory types (SDM Vol. 3A, "Memory Types and Their Properties"; "Page Attribute Table"):
 * also the encodings of the EPTP memory type (SDM 25.6.11) and of IA32_PAT entries. */
#define MEMTYPE_UC 0u
#define MEMTYPE_WC 1u
#define MEMTYPE_WT 4u
#define MEMTYPE_WP 5u
#define MEMTYPE_WB 6u
#define MEMTYPE_UC_MINUS 7u /* PAT only */

/* ---- Control registers ------------------------------------------------------------------ */

/* CR4 bits the SDM defines (Vol. 3A 2.5): VME through SMXE (0-14), FSGSBASE through UINTR
 * (16-25), LASS (27), LAM_SUP (28), FRED (32). */
#define CR4_DEFINED_BITS (0x7FFFull | (0x3FFull << 16) | (3ull << 27) | (1ull << 32))

/* The CR0 bits LMSW loads: PE, MP, EM, TS (SDM Vol. 2A "LMSW"). */
#define CR0_LMSW_BITS (NVMX_CR0_PE | NVMX_CR0_MP | NVMX_CR0_EM | NVMX_CR0_TS)

/* RFLAGS bits 27.3.1.4 reserves (63:22, 15, 5, 3; SDM Vol. 1 3.4.3); bit 1 is 1. */
#define RFLAGS_RESERVED ((~0ull << 22) | (1ull << 15) | (1ull << 5) | (1ull << 3))

/* ---- MSRs ------------------------------------------------------------------------------- */

/* IA32_EFER (SDM Vol. 3A 2.2.1, Vol. 4 Table 2-2): Intel defines SCE (0), LME (8), LMA (10) and
 * NXE (11); every other bit is reserved. */
#define EFER_DEFINED (NVMX_EFER_SCE | NVMX_EFER_LME | NVMX_EFER_LMA | NVMX_EFER_NXE)

/* IA32_DEBUGCTL (SDM Vol. 3B "IA32_DEBUGCTL MSR", Vol. 4 Table 2-2): LBR, BTF, BLD (0-2) and TR
 * through RTM_DEBUG (6-15) are defined; 5:3 and 63:16 are reserved. */
#define DEBUGCTL_BTF (1ull << 1)
#define DEBUGCTL_RESERVED (~0xFFC7ull)

/* IA32_PAT (SDM Vol. 3A, "Page Attribute Table (PAT)"): a byte per entry, valid memory types
 * 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB), 7 (UC-); bit n of this mask says whether type n is. */
#define PAT_ENTRIES 8
#define PAT_VALID_TYPES                                                                            \
    ((1u << MEMTYPE_UC) | (1u << MEMTYPE_WC) | (1u << MEMTYPE_WT) | (1u << MEMTYPE_WP) |           \
     (1u << MEMTYPE_WB) | (1u << MEMTYPE_UC_MINUS))

/* A value WRMSR accepts for IA32_PAT at CPL 0: every entry a valid memory type. */
static inline bool pat_valid(uint64_t pat)
{
    for (unsigned i = 0; i < PAT_ENTRIES; i++) {
        uint8_t type = (uint8_t)(pat >> (8 * i));
        if (type >= 8 || !((PAT_VALID_TYPES >> type) & 1))
            return false;
    }
    return true;
}

/* IA32_PERF_GLOBAL_CTRL (SDM Vol. 3B, architectural performance monitoring; Vol. 4): bits
 * 31:0 enable general-purpose counters, bits 47:32 fixed-function counters, bit 48
 * PERF_METRICS. Which of those exist depends on L1's CPUID leaf 0AH, which the library does
 * not see, so the reserved bits are those no processor defines: 63:49. The layout rests on
 * memory (no stored SDM page with it); the choice only ever accepts more than a given PMU
 * would, and "load IA32_PERF_GLOBAL_CTRL" is not exposed (lib/capabilities.c). */
#define PERF_GLOBAL_CTRL_RESERVED (~0ull << 49)

/* IA32_BNDCFGS (SDM Vol. 1, Intel MPX): EN, BNDPRESERVE, reserved 11:2, base in 63:12. */
#define BNDCFGS_RESERVED 0xFFCull
#define BNDCFGS_BASE (~0xFFFull)

/* IA32_RTIT_CTL (SDM Vol. 3C, Intel Processor Trace, "IA32_RTIT_CTL MSR"): bits 18, 23, 30:28,
 * 54:48, 63:57. */
#define RTIT_CTL_RESERVED                                                                          \
    ((1ull << 18) | (1ull << 23) | (7ull << 28) | (0x7Full << 48) | (~0ull << 57))

/* IA32_S_CET (SDM Vol. 1, "Control-flow Enforcement Technology", "CET MSRs"; Vol. 4):
 * SH_STK_EN (0), ENDBR_EN (2); bits 9:6 are reserved; bit 10 SUPPRESS and bit 11 TRACKER
 * (WAIT_FOR_ENDBRANCH) cannot both be 1, since indirect-branch tracking cannot be suppressed
 * while it waits for an ENDBRANCH. Bits 63:12 hold the legacy-code-page bitmap address. */
#define S_CET_SH_STK_EN (1ull << 0)
#define S_CET_ENDBR_EN (1ull << 2)
#define S_CET_RESERVED (0xFull << 6)
#define S_CET_SUPPRESS (1ull << 10)
#define S_CET_TRACKER (1ull << 11)

/* SSP points at shadow-stack entries of 4 bytes at least: bits 1:0 are 0 (SDM Vol. 1, CET). */
#define SSP_ALIGNMENT_BITS 0x3ull

/* IA32_LBR_CTL (SDM Vol. 3B, architectural last branch records): LBREn, OS, USR, CALL_STACK (3:0)
 * and the branch-type filters (22:16) are defined. */
#define LBR_CTL_RESERVED (~0x7F000Full)

/* ---- Segments --------------------------------------------------------------------------- */

/* Access-rights bits of 25.4.1 that controls.h does not name: reserved 11:8 and 31:17. */
#define AR_RESERVED_11_8 0xF00u
#define AR_RESERVED_31_17 (~0x1FFFFu)
/* The access rights of every segment register in virtual-8086 mode (27.3.1.2): a read/write
 * accessed data segment, S, DPL 3, P. */
#define AR_V8086 0xF3u

/* ---- Events and guest non-register state ------------------------------------------------ */

/* Interruption type 1 is reserved (SDM 25.8.3, Table 25-17). */
#define INTR_TYPE_RESERVED 1u
/* Bits 30:12 of the VM-entry interruption-information field are reserved (SDM 25.8.3). */
#define INTR_INFO_ENTRY_RESERVED (0x7FFFFu << 12)

/* The type and vector of an interruption-information field (SDM 25.8.3, 28.2.2). */
static inline unsigned intr_info_type(uint32_t info)
{
    return (info & NVMX_INTR_INFO_TYPE_MASK) >> NVMX_INTR_INFO_TYPE_SHIFT;
}

static inline unsigned intr_info_vector(uint32_t info)
{
    return info & NVMX_INTR_INFO_VECTOR_MASK;
}

/* Interruptibility state (SDM 25.4.2, Table 25-3): bits 31:5 are reserved. */
#define INTERRUPTIBILITY_RESERVED (~0x1Full)

/* Pending debug exceptions (SDM 25.4.2, Table 25-4): B3-B0, enabled breakpoint (12), BS (14),
 * RTM (16); 11:4, 13, 15 and 63:17 reserved. With RTM set, everything but bit 12 must be 0. */
#define PENDING_DBG_RESERVED ((~0ull << 17) | (1ull << 15) | (1ull << 13) | 0xFF0ull)
#define PENDING_DBG_RTM_ZERO ((~0ull << 17) | (7ull << 13) | 0xFFFull)

/* UINV is an 8-bit vector in a 16-bit field (SDM 25.4.2). */
#define UINV_RESERVED 0xFF00ull

/* ---- APIC virtualization ---------------------------------------------------------------- */

/* VTPR is byte 80H of the virtual-APIC page (SDM 30.1.1); its bits 7:4 are the priority class
 * compared with the TPR threshold (27.2.1.1, 30.1.2). */
#define VTPR_OFFSET 0x80u
#define VTPR_CLASS_SHIFT 4u
/* TPR threshold: bits 3:0 hold the threshold, bits 31:4 are reserved (25.6.8). */
#define TPR_THRESHOLD_BITS 4u
#define TPR_THRESHOLD_MASK ((1u << TPR_THRESHOLD_BITS) - 1)

/* ---- MSR bitmaps and lists -------------------------------------------------------------- */

/* The four 1-KByte quarters of the MSR bitmap (SDM 25.6.9): reads and writes of MSRs
 * 00000000H-00001FFFH (low) and C0000000H-C0001FFFH (high), one bit per MSR. */
#define MSR_BITMAP_READ_LOW 0x000u
#define MSR_BITMAP_READ_HIGH 0x400u
#define MSR_BITMAP_WRITE_LOW 0x800u
#define MSR_BITMAP_WRITE_HIGH 0xC00u
#define MSR_BITMAP_SIZE 0x1000u

/* Bytes per MSR-list entry: index in bits 31:0, reserved bits 63:32, value in bits 127:64
 * (SDM 25.7.2, 25.8.2, Table 25-15). */
#define MSR_ENTRY_SIZE 16u

/* ---- EPT paging-structure entries (SDM Vol. 3C 29.3.2, Tables 29-1 to 29-7) ---------------- */

/* Every EPT entry: read (0), write (1), execute (2; supervisor-mode execute under mode-based
 * execute control), accessed (8, with EPT A/D), execute for user-mode linear addresses (10,
 * under mode-based execute control). Bit 7 maps a page in a PDPTE (1 GiB) or PDE (2 MiB);
 * entries that map a page hold the memory type in 5:3, ignore-PAT in 6 and dirty in 9. */
#define EPT_ENTRY_READ (1ull << 0)
#define EPT_ENTRY_WRITE (1ull << 1)
#define EPT_ENTRY_EXECUTE (1ull << 2)
#define EPT_ENTRY_RWX (EPT_ENTRY_READ | EPT_ENTRY_WRITE | EPT_ENTRY_EXECUTE)
#define EPT_ENTRY_MEMTYPE_SHIFT 3u
#define EPT_ENTRY_MEMTYPE_MASK (7ull << EPT_ENTRY_MEMTYPE_SHIFT)
#define EPT_ENTRY_IGNORE_PAT (1ull << 6)
#define EPT_ENTRY_PAGE_SIZE (1ull << 7)
#define EPT_ENTRY_ACCESSED (1ull << 8)
#define EPT_ENTRY_DIRTY (1ull << 9)
#define EPT_ENTRY_USER_EXECUTE (1ull << 10)
/* Bits 7:3 are reserved in PML5Es and PML4Es, 6:3 in PDPTEs and PDEs that reference a table;
 * 29:12 in a PDPTE mapping 1 GiB, 20:12 in a PDE mapping 2 MiB; in all, 51:M (M = MAXPHYADDR). */
#define EPT_RESERVED_PML4E (0x1Full << 3)
#define EPT_RESERVED_NONLEAF (0xFull << 3)
#define EPT_RESERVED_1G (0x3FFFFull << 12)
#define EPT_RESERVED_2M (0x1FFull << 12)
/* EPT memory types 2, 3 and 7 are reserved in an entry that maps a page (29.3.3.1); bit n of
 * this mask says whether type n is valid (UC, WC, WT, WP, WB). */
#define EPT_VALID_MEMTYPES                                                                         \
    ((1u << MEMTYPE_UC) | (1u << MEMTYPE_WC) | (1u << MEMTYPE_WT) | (1u << MEMTYPE_WP) |           \
     (1u << MEMTYPE_WB))
/* Physical-address bits of entries: 51:12 at most (bits 63:52 are ignored or other flags). */
#define EPT_ADDRESS_BITS 52u

/* Exit qualification for EPT violations (SDM 28.2.1, Table 28-7): the access (0 data read,
 * 1 data write, 2 instruction fetch), the AND over the entries used of bits 0, 1, 2 (3-5)
 * and, under mode-based execute control, of bit 10 (6); bit 7 guest-linear address valid,
 * bit 8 the access is the translation of a linear address (not a guest paging-structure
 * entry); bit 12 NMI unblocking due to IRET. */
#define EPT_QUAL_READ (1ull << 0)
#define EPT_QUAL_WRITE (1ull << 1)
#define EPT_QUAL_FETCH (1ull << 2)
#define EPT_QUAL_READABLE (1ull << 3)
#define EPT_QUAL_WRITABLE (1ull << 4)
#define EPT_QUAL_EXECUTABLE (1ull << 5)
#define EPT_QUAL_USER_EXECUTABLE (1ull << 6)
#define EPT_QUAL_LINEAR_VALID (1ull << 7)
#define EPT_QUAL_LINEAR_TRANSLATION (1ull << 8)
#define EPT_QUAL_NMI_UNBLOCKING (1ull << 12)

#endif
