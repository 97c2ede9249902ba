/* SPDX-License-Identifier: MIT */
/*
 * L1 test image: L1's EPT maps an L2 page to an L1 guest-physical address without RAM (3 GiB,
 * beyond any --mem this image runs with). On hardware that would be MMIO of L1's platform for
 * L0 to emulate (nvmx_next.l1_gpa); nestvmx-emu has none for L2 and must end the run with a
 * clear message naming both addresses and status 6, not crash or hang.
 */
#include "ept_setup.h"

static uint8_t vmcs[4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[4096] __attribute__((aligned(16)));
static ept12 ept;

#define WINDOW (48ull << 20)
#define NO_RAM (3ull << 30)

static void l2_main(void)
{
    (void)*(volatile uint64_t *)(uintptr_t)(WINDOW + 0x10);
    __asm__ volatile("vmcall");
}

int l1_main(uint64_t memory_size)
{
    (void)memory_size;
    rt_load_gdt();
    rt_load_idt();
    check(vs_vmxon() && vs_load_vmcs(vmcs), "VMXON, VMCLEAR and VMPTRLD");
    vs_controls2(PROC_UNCOND_IO, PROC2_EPT);
    vs_host_state();
    vs_guest_state((uint64_t)(uintptr_t)l2_main, ept_pa(l2_stack + sizeof(l2_stack)),
                   (uint64_t)(uintptr_t)rt_idt, sizeof(rt_idt) - 1);
    ept_build(&ept, 64ull << 20, WINDOW);
    *ept_window_entry(&ept, WINDOW) = NO_RAM | EPT_WB | EPT_RWX;
    vmwrite(F_EPT_POINTER, ept_eptp(&ept));
    ept_vm_enter(0);
    check(false, "nestvmx-emu returned to L1 after L2 touched memory without RAM");
    return tap_done();
}
