/* SPDX-License-Identifier: MIT */
/*
 * L1 test image: VMCS shadowing (SDM 25.10, 26.1.3 "VMREAD"/"VMWRITE", 31.3). L2's VMREAD and
 * VMWRITE of fields whose bitmap bit is clear use the shadow VMCS without a VM exit (the
 * library completes them, nestvmx-emu continues L2); a set bit makes them exit to L1
 * (reasons 23, 25).
 */
#include "vmcs_setup.h"

#define PROC_SECONDARY (1u << 31)
#define PROC2_SHADOW_VMCS (1u << 14)
#define F_VMREAD_BITMAP 0x2026u
#define F_VMWRITE_BITMAP 0x2028u

static uint8_t vmcs[4096] __attribute__((aligned(4096)));
static uint8_t shadow[4096] __attribute__((aligned(4096)));
static uint8_t vmread_bitmap[4096] __attribute__((aligned(4096)));
static uint8_t vmwrite_bitmap[4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[4096] __attribute__((aligned(16)));
volatile uint64_t l2_result, l2_flags;

void l2_read(void), l2_write_shadowed(void), l2_write_exits(void), l2_write_exits_insn(void);
__asm__(".text\n"
        "l2_read: mov $0x681E, %eax\n"
        "  vmread %rax, %rdx\n"
        "  pushfq\n"
        "  popq l2_flags(%rip)\n"
        "  mov %rdx, l2_result(%rip)\n"
        "  vmcall\n"
        "l2_write_shadowed: mov $0x681E, %eax\n"
        "  mov $0x5678, %edx\n"
        "  vmwrite %rdx, %rax\n"
        "  vmcall\n"
        "l2_write_exits: mov $0x681C, %eax\n"
        "l2_write_exits_insn: vmwrite %rdx, %rax\n"
        "  vmcall\n");

static uint64_t addr(void (*f)(void))
{
    return (uint64_t)(uintptr_t)f;
}

static bool launched;
static void enter_at(void (*rip)(void), uint64_t reason, const char *what)
{
    vmwrite(F_GUEST_RIP, addr(rip));
    vmwrite(F_GUEST_RSP, (uint64_t)(uintptr_t)(l2_stack + sizeof(l2_stack)));
    check_eq2(l1_vm_enter(launched), 0, what, "the VM entry succeeded and L2 exited");
    launched = true;
    check_eq2(vmread_value(F_EXIT_REASON), reason, what, "exit reason");
}

/* VMPTRLD of the shadow region, `op` on it, VMPTRLD of L2's VMCS again. */
static uint64_t shadow_access(bool write, uint64_t field, uint64_t value)
{
    uint64_t s = (uint64_t)(uintptr_t)shadow, v = (uint64_t)(uintptr_t)vmcs;
    vmptrld(&s);
    if (write)
        vmwrite(field, value);
    else
        value = vmread_value(field);
    vmptrld(&v);
    return value;
}

int l1_main(uint64_t memory_size)
{
    (void)memory_size;
    rt_load_gdt();
    rt_load_idt();
    check(vs_vmxon(), "VMXON");
    uint64_t proc2_caps = rdmsr(0x48B);
    if (!check((proc2_caps >> 32) & PROC2_SHADOW_VMCS,
               "IA32_VMX_PROCBASED_CTLS2 allows VMCS shadowing"))
        return tap_done();
    /* 25.10: a shadow VMCS has bit 31 of its revision word set */
    *(uint32_t *)shadow = vs_revision | 0x80000000u;
    uint64_t s = (uint64_t)(uintptr_t)shadow;
    check_eq(vmclear(&s), 0, "VMCLEAR of the shadow VMCS");
    check_eq(vmptrld(&s), 0, "VMPTRLD of a shadow VMCS (shadow-indicator 1)");
    check(vs_load_vmcs(vmcs), "VMCLEAR and VMPTRLD of the VMCS for L2");
    shadow_access(true, F_GUEST_RIP, 0xABCDEF);
    vs_controls(PROC_UNCOND_IO | PROC_SECONDARY);
    vmwrite(F_PROC2, PROC2_SHADOW_VMCS);
    vmwrite(F_VMREAD_BITMAP, (uint64_t)(uintptr_t)vmread_bitmap);
    vmwrite(F_VMWRITE_BITMAP, (uint64_t)(uintptr_t)vmwrite_bitmap);
    for (unsigned i = 0; i < sizeof(vmwrite_bitmap); i++)
        vmwrite_bitmap[i] = 0xFF;
    vmwrite_bitmap[0x681E / 8] &= (uint8_t) ~(1u << (0x681E % 8)); /* GUEST_RIP: shadowed */
    vs_host_state();
    vs_guest_state(addr(l2_read), 0, (uint64_t)(uintptr_t)rt_idt, sizeof(rt_idt) - 1);
    vmwrite(F_LINK_POINTER, s);

    enter_at(l2_read, 18, "L2 VMREAD of a field clear in the VMREAD bitmap");
    check_eq(l2_result, 0xABCDEF, "L2's VMREAD returned the shadow VMCS's value without an exit");
    check_eq(l2_flags & (RFLAGS_CF | RFLAGS_ZF), 0, "L2's VMREAD: VMsucceed");
    enter_at(l2_write_shadowed, 18, "L2 VMWRITE of a field clear in the VMWRITE bitmap");
    check_eq(shadow_access(false, F_GUEST_RIP, 0), 0x5678,
             "L2's VMWRITE went to the shadow VMCS without an exit");
    enter_at(l2_write_exits, 25, "L2 VMWRITE of a field set in the VMWRITE bitmap");
    check_eq(vmread_value(F_GUEST_RIP), addr(l2_write_exits_insn),
             "VMWRITE exit: guest RIP is the instruction's");
    check_eq(vmxoff(), 0, "VMXOFF after running L2");
    return tap_done();
}
