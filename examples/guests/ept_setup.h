/* SPDX-License-Identifier: MIT */
/*
 * EPT helpers for the L1 images (after vmcs_setup.h): an EPT (L1's EPT12 for L2) that maps
 * L2 guest-physical addresses to L1 guest-physical ones, identity with 2 MiB pages for the
 * first `size` bytes, except one 2 MiB "window" mapped with 4 KiB pages whose entries a test
 * changes one by one; INVEPT, INVVPID and the controls (SDM Vol. 3C 25.6.2, 25.6.11, 29.3.2,
 * 31 INVEPT/INVVPID).
 */
#ifndef NESTVMX_GUEST_EPT_SETUP_H
#define NESTVMX_GUEST_EPT_SETUP_H

#include "vmcs_setup.h"

#define F_VPID 0x0000
#define F_VMFUNC_CONTROLS 0x2018
#define F_EPT_POINTER 0x201A
#define F_EPTP_LIST 0x2024
#define F_GUEST_PHYSICAL_ADDRESS 0x2400

#define PROC_SECONDARY (1u << 31)
#define PROC2_EPT (1u << 1)
#define PROC2_VPID (1u << 5)
#define PROC2_VMFUNC (1u << 13)

/* EPT entries (29.3.2) and the EPTP (25.6.11). */
#define EPT_R 1ull
#define EPT_W 2ull
#define EPT_X 4ull
#define EPT_RWX 7ull
#define EPT_WB (6ull << 3) /* leaf memory type, bits 5:3 */
#define EPT_LARGE (1ull << 7)
#define EPT_ACCESSED (1ull << 8)
#define EPT_DIRTY (1ull << 9)
#define EPTP_WB_4LEVEL (6ull | (3ull << 3))
#define EPTP_AD (1ull << 6)

#define MIB2 0x200000ull
#define EPT_WINDOW_ENTRIES 512

/* IA32_VMX_EPT_VPID_CAP (A.10). */
#define EPT_CAP_EXECONLY (1ull << 0)
#define EPT_CAP_1G (1ull << 17)
#define EPT_CAP_AD (1ull << 21)
#define EPT_CAP_INVEPT_SINGLE (1ull << 25)

typedef struct ept12 {
    uint64_t pml4[512] __attribute__((aligned(4096)));
    uint64_t pdpt[512] __attribute__((aligned(4096)));
    uint64_t pd[512] __attribute__((aligned(4096)));
    uint64_t window[EPT_WINDOW_ENTRIES] __attribute__((aligned(4096))); /* a page table */
    uint64_t window_base; /* the 2 MiB region mapped by `window` */
} ept12;

static __attribute__((unused)) uint64_t ept_pa(const void *p)
{
    return (uint64_t)(uintptr_t)p; /* L1 runs on identity paging */
}

/* Identity for [0, size) (size <= 1 GiB, a multiple of 2 MiB) with 2 MiB pages RWX WB; the 2
 * MiB region at window_base through `window` with 4 KiB identity pages RWX WB. */
static __attribute__((unused)) void ept_build(ept12 *t, uint64_t size, uint64_t window_base)
{
    for (unsigned i = 0; i < 512; i++)
        t->pml4[i] = t->pdpt[i] = t->pd[i] = 0;
    t->pml4[0] = ept_pa(t->pdpt) | EPT_RWX;
    t->pdpt[0] = ept_pa(t->pd) | EPT_RWX;
    for (uint64_t a = 0; a < size; a += MIB2)
        t->pd[a / MIB2] = a | EPT_LARGE | EPT_WB | EPT_RWX;
    t->window_base = window_base;
    t->pd[window_base / MIB2] = ept_pa(t->window) | EPT_RWX;
    for (unsigned i = 0; i < EPT_WINDOW_ENTRIES; i++)
        t->window[i] = (window_base + 4096ull * i) | EPT_WB | EPT_RWX;
}

/* The window's entry for L2 guest-physical `gpa`. */
static __attribute__((unused)) uint64_t *ept_window_entry(ept12 *t, uint64_t gpa)
{
    return &t->window[(gpa - t->window_base) / 4096];
}

static __attribute__((unused)) uint64_t ept_eptp(const ept12 *t)
{
    return ept_pa(t->pml4) | EPTP_WB_4LEVEL;
}

/* INVEPT type, descriptor {EPTP, 0} (66 0F 38 80 /r with (%rax): 5 bytes) */
static __attribute__((unused)) uint64_t invept(uint64_t type, uint64_t eptp)
{
    uint64_t descriptor[2] = {eptp, 0};
    RT_FLAGS("invept (%1), %2", 5, "a"(descriptor), "c"(type));
}
/* INVVPID type, descriptor {VPID, linear address} (66 0F 38 81 /r: 5 bytes) */
static __attribute__((unused)) uint64_t invvpid(uint64_t type, uint64_t vpid, uint64_t linear)
{
    uint64_t descriptor[2] = {vpid, linear};
    RT_FLAGS("invvpid (%1), %2", 5, "a"(descriptor), "c"(type));
}

/* ept_vm_enter(resume): as l1_vm_enter, but L2's general-purpose registers (but RSP, which
 * the VMCS holds) live in l2_gprs across exits, as a hypervisor keeps them: an access L2
 * repeats after an EPT violation L1 resolved runs on L2's own registers. Order: RAX, RCX,
 * RDX, RBX, (RSP), RBP, RSI, RDI, R8-R15 (the SDM's numbering). */
uint64_t l2_gprs[16], ept_resume_flag;
void ept_vm_exit(void);
uint64_t ept_vm_enter(uint64_t resume);
__asm__(".text\n"
        ".global ept_vm_enter\n"
        "ept_vm_enter:\n"
        "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
        "  mov %rdi, ept_resume_flag(%rip)\n"
        "  mov $0x6C14, %eax\n"
        "  vmwrite %rsp, %rax\n"
        "  mov $0x6C16, %eax\n"
        "  lea ept_vm_exit(%rip), %rdx\n"
        "  vmwrite %rdx, %rax\n"
        "  mov l2_gprs+8(%rip), %rcx\n  mov l2_gprs+16(%rip), %rdx\n"
        "  mov l2_gprs+24(%rip), %rbx\n  mov l2_gprs+40(%rip), %rbp\n"
        "  mov l2_gprs+48(%rip), %rsi\n  mov l2_gprs+56(%rip), %rdi\n"
        "  mov l2_gprs+64(%rip), %r8\n  mov l2_gprs+72(%rip), %r9\n"
        "  mov l2_gprs+80(%rip), %r10\n  mov l2_gprs+88(%rip), %r11\n"
        "  mov l2_gprs+96(%rip), %r12\n  mov l2_gprs+104(%rip), %r13\n"
        "  mov l2_gprs+112(%rip), %r14\n  mov l2_gprs+120(%rip), %r15\n"
        "  cmpq $0, ept_resume_flag(%rip)\n"
        "  mov l2_gprs(%rip), %rax\n"
        "  jnz 1f\n"
        "  vmlaunch\n"
        "  jmp 2f\n"
        "1: vmresume\n"
        "2: pushfq\n"
        "  pop %rax\n"
        "  bts $63, %rax\n"
        "  jmp 3f\n"
        ".global ept_vm_exit\n"
        "ept_vm_exit:\n"
        "  mov %rax, l2_gprs(%rip)\n  mov %rcx, l2_gprs+8(%rip)\n"
        "  mov %rdx, l2_gprs+16(%rip)\n  mov %rbx, l2_gprs+24(%rip)\n"
        "  mov %rbp, l2_gprs+40(%rip)\n  mov %rsi, l2_gprs+48(%rip)\n"
        "  mov %rdi, l2_gprs+56(%rip)\n  mov %r8, l2_gprs+64(%rip)\n"
        "  mov %r9, l2_gprs+72(%rip)\n  mov %r10, l2_gprs+80(%rip)\n"
        "  mov %r11, l2_gprs+88(%rip)\n  mov %r12, l2_gprs+96(%rip)\n"
        "  mov %r13, l2_gprs+104(%rip)\n  mov %r14, l2_gprs+112(%rip)\n"
        "  mov %r15, l2_gprs+120(%rip)\n"
        "  pushfq\n"
        "  popq l1_exit_rflags(%rip)\n"
        "  mov %rsp, l1_exit_rsp(%rip)\n"
        "  xor %eax, %eax\n"
        "3: pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n"
        "  ret\n");

/* Primary controls plus secondary ones (SDM 25.6.2; forced by IA32_VMX_PROCBASED_CTLS2). */
static __attribute__((unused)) void vs_controls2(uint32_t proc, uint32_t proc2)
{
    vs_controls(proc | PROC_SECONDARY);
    vmwrite(F_PROC2, vs_control(0x48B, 0x48B, proc2));
}

#endif
