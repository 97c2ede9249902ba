/* SPDX-License-Identifier: MIT */
/*
 * The demo: a tiny L1 hypervisor. It runs on nestvmx-emu (a software "L0" on Unicorn that
 * embeds libnestvmx), enters VMX operation, gives an L2 guest memory through EPT with a few
 * pages deliberately left out, launches it and handles its VM exits: L2 prints a greeting
 * through an I/O port L1 intercepts (L1 forwards it to the serial port), runs a CPUID / HLT /
 * I-O loop, touches the pages L1 left out (EPT violations: L1 maps each page and runs INVEPT),
 * and says goodbye with VMCALL. L1 then prints a summary of the exits it handled.
 */
#include "ept_setup.h"

static uint8_t vmcs[4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[8192] __attribute__((aligned(16)));
static ept12 ept;

#define L2_CONSOLE_PORT 0xE9 /* L2's "console": an I/O port only L1 sees */
#define WINDOW (48ull << 20) /* 2 MiB of L2 memory that EPT maps page by page */
#define HOLES 4              /* pages of the window L1 leaves unmapped at first */
#define LOOPS 3

/* ---- L2: an ordinary little guest that does not know it is nested ---- */

static void l2_putc(char c)
{
    __asm__ volatile("outb %0, %1" : : "a"(c), "Nd"((uint16_t)L2_CONSOLE_PORT));
}
static void l2_puts(const char *s)
{
    while (*s)
        l2_putc(*s++);
}

static void l2_main(void)
{
    l2_puts("  [L2] Hello from L2, a guest running inside a guest!\n");
    for (int i = 0; i < LOOPS; i++) {
        uint32_t a = 0, b, c = 0, d;
        __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
        __asm__ volatile("hlt");
        l2_puts("  [L2] loop: CPUID, HLT and this line (OUT) each exit to L1\n");
    }
    l2_puts("  [L2] now reading pages L1 has not mapped yet...\n");
    uint64_t sum = 0;
    for (int i = 0; i < HOLES; i++)
        sum += *(volatile uint64_t *)(uintptr_t)(WINDOW + 4096ull * (uint64_t)i * 8);
    l2_puts(sum == 0 ? "  [L2] all pages readable now. Goodbye (VMCALL).\n"
                     : "  [L2] unexpected page contents. Goodbye (VMCALL).\n");
    __asm__ volatile("vmcall");
    for (;;)
        __asm__ volatile("hlt");
}

/* ---- L1: the hypervisor ---- */

static const char *const reason_names[] = {
    [10] = "CPUID", [12] = "HLT", [18] = "VMCALL", [30] = "I/O instruction", [48] = "EPT violation",
};
static uint64_t exit_counts[64];

static void say(const char *s)
{
    puts_com1(s);
}

static void say_hex(const char *before, uint64_t value, const char *after)
{
    puts_com1(before);
    put_hex(value);
    puts_com1(after);
}

static void put_decimal(uint64_t n)
{
    char digits[20];
    int k = 0;
    do
        digits[k++] = (char)('0' + n % 10);
    while ((n /= 10) && k < 20);
    while (k)
        putc_com1(digits[--k]);
}

/* CPUID for L2: L1 runs it itself and passes the result on (a real hypervisor would filter). */
static void emulate_cpuid(void)
{
    uint32_t a = (uint32_t)l2_gprs[0], b, c = (uint32_t)l2_gprs[1], d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    l2_gprs[0] = a, l2_gprs[3] = b, l2_gprs[1] = c, l2_gprs[2] = d;
}

/* An EPT violation: L2 touched guest-physical memory L1's EPT does not map. */
static void map_page(uint64_t gpa)
{
    uint64_t page = gpa & ~0xFFFull;
    say_hex("[L1] EPT violation: L2 read guest-physical ", gpa, "");
    say_hex(" (exit qualification ", vmread_value(F_EXIT_QUALIFICATION),
            ": a read, not mapped).\n");
    say_hex("     I map page ", page, " into L2's EPT and flush L2's EPT TLB (INVEPT).\n");
    *ept_window_entry(&ept, page) = page | EPT_WB | EPT_RWX;
    invept(1, ept_eptp(&ept));
}

/* Handles one exit; false when L2 is done. */
static bool handle_exit(uint64_t reason)
{
    uint64_t q = vmread_value(F_EXIT_QUALIFICATION);
    switch (reason) {
    case 30: /* I/O: L2's console port goes to the real serial port */
        if ((q >> 16) == L2_CONSOLE_PORT && !(q & 8))
            putc_com1((char)l2_gprs[0]);
        vs_skip_instruction();
        return true;
    case 10:
        emulate_cpuid();
        vs_skip_instruction();
        return true;
    case 12: /* HLT: nothing to wait for here, L2 just continues */
        vs_skip_instruction();
        return true;
    case 48:
        map_page(vmread_value(F_GUEST_PHYSICAL_ADDRESS));
        return true; /* L2 repeats the access, now mapped */
    case 18:
        say("[L1] L2 made a VMCALL: it is done.\n");
        return false;
    default:
        say_hex("[L1] unexpected exit reason ", reason, "; stopping L2.\n");
        return false;
    }
}

static void summary(void)
{
    say("\n[L1] Exit summary: every time L2 did something L1 asked to intercept, the CPU left\n"
        "     L2 and ran L1's handler (a \"VM exit\"); L1 then resumed L2 (VMRESUME).\n");
    uint64_t total = 0;
    for (unsigned r = 0; r < 64; r++) {
        if (!exit_counts[r])
            continue;
        say("       exit reason ");
        put_decimal(r);
        say(" (");
        say(r < sizeof(reason_names) / sizeof(reason_names[0]) && reason_names[r] ? reason_names[r]
                                                                                  : "other");
        say("): ");
        put_decimal(exit_counts[r]);
        say("\n");
        total += exit_counts[r];
    }
    say("       total: ");
    put_decimal(total);
    say(" VM exits handled by L1\n");
}

int l1_main(uint64_t memory_size)
{
    (void)memory_size;
    rt_load_gdt();
    rt_load_idt();
    say("[L1] Hello, I am L1: a small hypervisor running as a guest of nestvmx-emu (L0).\n"
        "     My VMX instructions are emulated by libnestvmx; that is nested virtualization.\n");
    if (!vs_vmxon() || !vs_load_vmcs(vmcs)) {
        say("[L1] VMXON failed: VMX is not available.\n");
        return 1;
    }
    say("[L1] VMXON done: I am in VMX root operation. Building a VMCS for my guest, L2.\n");
    vs_controls2(PROC_HLT_EXITING | PROC_UNCOND_IO, PROC2_EPT);
    vs_host_state();
    vs_guest_state((uint64_t)(uintptr_t)l2_main, ept_pa(l2_stack + sizeof(l2_stack)),
                   (uint64_t)(uintptr_t)rt_idt, sizeof(rt_idt) - 1);
    ept_build(&ept, 64ull << 20, WINDOW);
    for (int i = 0; i < HOLES; i++)
        *ept_window_entry(&ept, WINDOW + 4096ull * (uint64_t)i * 8) = 0;
    vmwrite(F_EPT_POINTER, ept_eptp(&ept));
    say("[L1] L2 gets 64 MiB of memory through EPT (extended page tables: L2-physical to\n"
        "     L1-physical), except 4 pages I leave out on purpose. I intercept CPUID, HLT\n"
        "     and all port I/O. VMLAUNCH!\n\n");
    for (uint64_t launched = 0;; launched = 1) {
        uint64_t failed = ept_vm_enter(launched);
        if (failed) {
            say_hex("[L1] VM entry failed, RFLAGS ", failed, "\n");
            return 1;
        }
        uint64_t reason = vmread_value(F_EXIT_REASON) & 0xFFFF;
        exit_counts[reason < 64 ? reason : 63]++;
        if (!handle_exit(reason))
            break;
    }
    summary();
    vmxoff();
    say("[L1] VMXOFF: left VMX operation. Goodbye.\n"
        "(What follows, if shown, is L0's own view: nestvmx-emu --stats counts every event\n"
        " it saw, including the EPT violations libnestvmx resolved for L2 without L1.)\n");
    return 0;
}
