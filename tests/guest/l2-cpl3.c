/* SPDX-License-Identifier: MIT */
/*
 * L1 test image for a limit of nestvmx-emu: an L2 at CPL 3 passes the VM-entry checks (SDM
 * 27.3.1.2: CS.DPL = SS.DPL = 3, RPLs 3) but Unicorn cannot load it, so nestvmx-emu ends the
 * run with status 8 and says why, instead of running L2 at the wrong privilege. The ctest
 * expects that status; reaching the TAP plan would mean the limit went unnoticed.
 */
#include "vmcs_setup.h"

static uint8_t vmcs[4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[4096] __attribute__((aligned(16)));

void l2_code(void);
__asm__(".text\nl2_code: vmcall\n");

int l1_main(uint64_t memory_size)
{
    (void)memory_size;
    rt_load_gdt();
    rt_load_idt();
    check(vs_vmxon(), "VMXON");
    check(vs_load_vmcs(vmcs), "VMCLEAR and VMPTRLD of the VMCS for L2");
    vs_controls(PROC_UNCOND_IO);
    vs_host_state();
    vs_guest_state((uint64_t)(uintptr_t)l2_code, (uint64_t)(uintptr_t)(l2_stack + 4096),
                   (uint64_t)(uintptr_t)rt_idt, sizeof(rt_idt) - 1);
    for (unsigned i = 0; i < 6; i++) { /* ES CS SS DS FS GS at DPL/RPL 3 */
        bool code = i == 1;
        vmwrite(F_GUEST_ES_SELECTOR + 2 * i, (code ? SEL_CODE : SEL_DATA) | 3);
        vmwrite(F_GUEST_ES_AR + 2 * i, (code ? AR_CODE64 : AR_DATA) | (3u << 5));
    }
    puts_com1("# entering a CPL-3 L2\n");
    uint64_t result = l1_vm_enter(0);
    check_eq(result, 0, "VMLAUNCH of a CPL-3 L2 ran it (not expected on nestvmx-emu)");
    return tap_done();
}
