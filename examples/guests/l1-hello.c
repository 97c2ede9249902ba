/* SPDX-License-Identifier: MIT */
/*
 * The smallest L1 image for nestvmx-emu: it prints over COM1, checks CPUID, installs an IDT
 * with a #UD handler, and checks that VMX instructions reach the library with the outcomes
 * of the SDM (VMXON without CR4.VMXE and VMREAD/VMXOFF outside VMX operation raise #UD; VMXON
 * with a wrong VMCS revision fails with VMfailInvalid). TAP lines; exit status through port
 * 0xF4: 0 when every test passed.
 */
#include <stdbool.h>
#include <stdint.h>

#define CR4_VMXE (1ull << 13)
#define RFLAGS_CF 1ull

static inline void outb(uint16_t port, uint8_t value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

static void putc_com1(char c)
{
    while (!(inb(0x3FD) & 0x20))
        ;
    outb(0x3F8, (uint8_t)c);
}
static void puts_com1(const char *s)
{
    while (*s)
        putc_com1(*s++);
}
static void put_number(unsigned n)
{
    char digits[12];
    int i = 0;
    do {
        digits[i++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (i)
        putc_com1(digits[--i]);
}

static unsigned tests, failures;
static void check(bool ok, const char *name)
{
    tests++;
    failures += !ok;
    puts_com1(ok ? "ok " : "not ok ");
    put_number(tests);
    puts_com1(" - ");
    puts_com1(name);
    puts_com1("\n");
}

/* ---- the IDT: #UD records itself and skips the faulting instruction (ud_skip bytes) ---- */

struct idt_gate {
    uint16_t offset_low, selector;
    uint8_t ist, type;
    uint16_t offset_mid;
    uint32_t offset_high, reserved;
};
static struct idt_gate idt[32] __attribute__((aligned(16)));
volatile uint64_t ud_count, ud_skip;
void ud_handler(void);
__asm__(".text\n"
        "ud_handler:\n"
        "  push %rax\n"
        "  mov ud_skip(%rip), %rax\n"
        "  add %rax, 8(%rsp)\n" /* the saved RIP */
        "  incq ud_count(%rip)\n"
        "  pop %rax\n"
        "  iretq\n");

static void install_idt(void)
{
    uint64_t handler = (uint64_t)(uintptr_t)ud_handler;
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    idt[6] = (struct idt_gate){.offset_low = (uint16_t)handler,
                               .selector = cs,
                               .type = 0x8E, /* present 64-bit interrupt gate */
                               .offset_mid = (uint16_t)(handler >> 16),
                               .offset_high = (uint32_t)(handler >> 32)};
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* ---- VMX ---- */

static uint8_t vmxon_region[4096] __attribute__((aligned(4096)));

/* vmxon [rax] (4 bytes); the RFLAGS it leaves. */
static uint64_t vmxon(uint64_t region)
{
    uint64_t rflags;
    ud_skip = 4;
    __asm__ volatile(".byte 0xF3, 0x0F, 0xC7, 0x30\n\tpushfq\n\tpop %0"
                     : "=r"(rflags)
                     : "a"(region)
                     : "memory", "cc");
    return rflags;
}
/* vmread rax, rcx (3 bytes) */
static void vmread(uint64_t field)
{
    uint64_t value = 0;
    ud_skip = 3;
    __asm__ volatile(".byte 0x0F, 0x78, 0xC8" : "+a"(value) : "c"(field) : "memory", "cc");
}
/* vmxoff (3 bytes) */
static void vmxoff(void)
{
    ud_skip = 3;
    __asm__ volatile(".byte 0x0F, 0x01, 0xC4" : : : "memory", "cc");
}

static bool raises_ud(void (*run)(void))
{
    uint64_t before = ud_count;
    run();
    return ud_count == before + 1;
}
static void vmxon_region_run(void)
{
    vmxon((uint64_t)(uintptr_t)vmxon_region);
}
static void vmread_guest_rip(void)
{
    vmread(0x681E);
}

static void cpuid(uint32_t leaf, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}

static void test_cpuid(void)
{
    uint32_t r[4];
    cpuid(0, r);
    check(r[1] == 0x756E6547 && r[3] == 0x49656E69 && r[2] == 0x6C65746E,
          "CPUID.0 says GenuineIntel");
    cpuid(1, r);
    check(r[2] & (1u << 5), "CPUID.1:ECX.VMX[bit 5] is set");
    cpuid(0x80000008, r);
    check((r[0] & 0xFF) >= 36 && (r[0] & 0xFF) <= 52,
          "CPUID.80000008H reports a physical-address width");
}

static void test_vmx(void)
{
    uint64_t cr4;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    check(!(cr4 & CR4_VMXE), "CR4.VMXE is clear at entry");
    check(raises_ud(vmxon_region_run), "VMXON with CR4.VMXE = 0 raises #UD");
    __asm__ volatile("mov %0, %%cr4" : : "r"(cr4 | CR4_VMXE));
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    check(cr4 & CR4_VMXE, "CR4.VMXE can be set");
    /* The region's revision is 0, not IA32_VMX_BASIC's: VMfailInvalid (SDM 31.3, VMXON). */
    uint64_t before = ud_count;
    uint64_t rflags = vmxon((uint64_t)(uintptr_t)vmxon_region);
    check(ud_count == before && (rflags & RFLAGS_CF),
          "VMXON with a wrong VMCS revision fails with VMfailInvalid");
    check(raises_ud(vmread_guest_rip), "VMREAD outside VMX operation raises #UD");
    check(raises_ud(vmxoff), "VMXOFF outside VMX operation raises #UD");
}

int l1_main(uint64_t memory_size)
{
    puts_com1("hello from L1\n");
    check(memory_size >= (2u << 20), "RDI holds the guest memory size");
    install_idt();
    test_cpuid();
    test_vmx();
    puts_com1("1..");
    put_number(tests);
    puts_com1("\n");
    return failures ? 1 : 0;
}

uint8_t stack[16384] __attribute__((aligned(16)));
__asm__(".section .text.start, \"ax\"\n"
        ".global _start\n"
        "_start:\n"
        "  lea stack+16384(%rip), %rsp\n"
        "  call l1_main\n"
        "  outb %al, $0xF4\n"
        "1: cli\n"
        "  hlt\n"
        "  jmp 1b\n");
