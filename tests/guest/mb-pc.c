/* SPDX-License-Identifier: MIT */
/*
 * A multiboot v1 kernel (ELF32) for nestvmx-emu's multiboot path and its minimal PC. It prints
 * TAP on COM1 and checks: the machine state at entry (Multiboot Specification 3.2), the
 * multiboot information (3.3: memory sizes, memory map, command line, module), the 16550, fw_cfg,
 * the xAPIC page and IA32_APIC_BASE, and IA32_FEATURE_CONTROL as --feature-control leaves it.
 * It ends through port 0xF4 with a 32-bit write (or a 16-bit one, built with -DEXIT16).
 * Expected: run with --mem 16M --append "hello world" --module mb-module.txt [fc-unlocked].
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MB_HEADER_FLAGS 0x3u /* page-aligned modules, memory information */
#ifdef BAD_FLAGS
#undef MB_HEADER_FLAGS
#define MB_HEADER_FLAGS 0x8u /* bit 3: a requirement no loader knows */
#endif

__attribute__((section(".multiboot"), used, aligned(4))) static const uint32_t mb_header[3] = {
    0x1BADB002u, MB_HEADER_FLAGS, (uint32_t)(0u - 0x1BADB002u - MB_HEADER_FLAGS)};

__attribute__((used)) static uint8_t stack[8192] __attribute__((aligned(16)));
__attribute__((used)) static uint32_t entry_eax, entry_ebx, entry_cr0, entry_eflags;
__attribute__((used)) static uint16_t entry_cs, entry_ds, entry_ss;
void kmain(void);

/* The entry: keep the registers the specification defines, take a stack, go to C. */
__asm__(".text\n.globl start\nstart:\n"
        "  mov %eax, entry_eax\n  mov %ebx, entry_ebx\n"
        "  mov %cr0, %eax\n  mov %eax, entry_cr0\n"
        "  mov $stack + 8192, %esp\n" /* ESP is undefined at entry (spec 3.2) */
        "  pushf\n  popl entry_eflags\n"
        "  mov %cs, entry_cs\n  mov %ds, entry_ds\n  mov %ss, entry_ss\n"
        "  call kmain\n1: hlt\n  jmp 1b\n");

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint64_t rdmsr(uint32_t index)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index));
    return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t index, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(index), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline uint32_t mmio_read(uint32_t addr)
{
    return *(volatile uint32_t *)addr;
}
static inline void mmio_write(uint32_t addr, uint32_t v)
{
    *(volatile uint32_t *)addr = v;
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
static void putu(uint32_t v)
{
    char b[11];
    int n = 0;
    do
        b[n++] = (char)('0' + v % 10);
    while (v /= 10);
    while (n)
        putc_com1(b[--n]);
}

static uint32_t tests;
static void ok(bool cond, const char *what)
{
    tests++;
    puts_com1(cond ? "ok " : "not ok ");
    putu(tests);
    puts_com1(" - ");
    puts_com1(what);
    putc_com1('\n');
}

static size_t slen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}
static bool ends_with(const char *s, const char *tail)
{
    size_t a = slen(s), b = slen(tail);
    if (b > a)
        return false;
    for (size_t i = 0; i < b; i++)
        if (s[a - b + i] != tail[i])
            return false;
    return true;
}
static bool contains(const char *s, const char *w)
{
    size_t a = slen(s), b = slen(w);
    for (size_t i = 0; i + b <= a; i++) {
        size_t j = 0;
        while (j < b && s[i + j] == w[j])
            j++;
        if (j == b)
            return true;
    }
    return false;
}

typedef struct __attribute__((packed)) mmap_entry {
    uint32_t size;
    uint64_t base, length;
    uint32_t type;
} mmap_entry;

static const char *check_entry_state(void)
{
    ok(entry_eax == 0x2BADB002u, "EAX = 0x2BADB002 at entry");
    ok((entry_cr0 & 1) && !(entry_cr0 >> 31), "CR0.PE set, CR0.PG clear");
    ok(!(entry_eflags & (1u << 9)) && !(entry_eflags & (1u << 17)), "EFLAGS.IF and VM clear");
    ok(entry_cs != 0 && entry_ds != 0 && entry_ds == entry_ss, "CS, DS, SS loaded");
    const uint32_t *mbi = (const uint32_t *)entry_ebx;
    ok((mbi[0] & 0x4D) == 0x4D, "MBI flags: mem, cmdline, mods, mmap");
    ok(mbi[1] == 639, "mem_lower 639 KiB");
    ok(mbi[2] == 15 * 1024, "mem_upper 15 MiB (--mem 16M)");
    const char *cmdline = (const char *)mbi[4];
    ok(contains(cmdline, ".elf hello world") && !contains(cmdline, "--"),
       "command line: the kernel's name, then --append");
    ok(mbi[5] == 1, "one module");
    const uint32_t *mod = (const uint32_t *)mbi[6];
    const char *bytes = (const char *)mod[0];
    ok((mod[0] & 0xFFF) == 0 && mod[1] - mod[0] == 15 && bytes[0] == 'n' && bytes[7] == '-' &&
           bytes[14] == '\n',
       "module page-aligned with its file's bytes");
    ok(ends_with((const char *)mod[2], "mb-module.txt"), "module string: its file name");
    const mmap_entry *m = (const mmap_entry *)mbi[12];
    ok(mbi[11] == 3 * sizeof(mmap_entry), "memory map: three entries");
    ok(m[0].size == 20 && m[0].base == 0 && m[0].length == 0x9FC00 && m[0].type == 1,
       "memory map: conventional memory available");
    ok(m[1].type == 2 && m[1].base == 0x9FC00 && m[1].base + m[1].length == 0x100000,
       "memory map: 0x9FC00-1 MiB reserved");
    ok(m[2].type == 1 && m[2].base == 0x100000 && m[2].length == 15u << 20,
       "memory map: 1 MiB to the end of RAM available");
    return cmdline;
}

static void check_uart(void)
{
    outb(0x3FB, 0x80); /* DLAB */
    outb(0x3F8, 0x01); /* divisor 1: 115200 baud */
    outb(0x3F9, 0x00);
    uint8_t dll = inb(0x3F8), dlm = inb(0x3F9);
    outb(0x3FB, 0x03); /* 8N1; DLAB clear before anything is printed again */
    ok(dll == 1 && dlm == 0, "16550 divisor latch reads back with DLAB");
    ok(inb(0x3FB) == 0x03, "16550 LCR reads back");
    outb(0x3FA, 0xC7); /* FIFO on and cleared */
    outb(0x3FC, 0x0B);
    ok(inb(0x3FC) == 0x0B, "16550 MCR reads back");
    outb(0x3FF, 0x5A);
    ok(inb(0x3FF) == 0x5A, "16550 scratch register");
    ok((inb(0x3FD) & 0x60) == 0x60, "16550 LSR: transmitter empty");
    ok(inb(0x3FA) == 0x01, "16550 IIR: no interrupt pending");
}

static uint64_t fwcfg(uint16_t key, int bytes)
{
    outw(0x510, key);
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)inb(0x511) << (8 * i);
    return v;
}

static void check_fwcfg(void)
{
    ok(fwcfg(0x00, 4) == 0x554D4551u, "fw_cfg signature QEMU");
    ok(fwcfg(0x05, 2) == 1, "fw_cfg NB_CPUS 1");
    ok(fwcfg(0x03, 8) == 16u << 20, "fw_cfg RAM_SIZE 16 MiB");
    ok(fwcfg(0x11, 8) == 0, "fw_cfg MAX_RAM 0 (no limit)");
    ok(fwcfg(0x1234, 4) == 0, "fw_cfg absent item reads 0");
    ok(fwcfg(0x05, 4) == 1, "fw_cfg reads past an item's end give 0");
}

static void check_apic(void)
{
    const uint32_t apic = 0xFEE00000u;
    ok(rdmsr(0x1B) == (0xFEE00000u | 0x900u), "IA32_APIC_BASE: 0xFEE00000, enabled, BSP");
    ok(mmio_read(apic + 0x20) >> 24 == 0, "APIC ID 0");
    ok((mmio_read(apic + 0x30) & 0xFF) == 0x14 && (mmio_read(apic + 0x30) >> 16 & 0xFF) == 5,
       "APIC version 0x14, max LVT 5");
    ok(mmio_read(apic + 0xF0) == 0xFF, "SPIV 0xFF at reset");
    mmio_write(apic + 0xF0, 0x1FF);
    ok(mmio_read(apic + 0xF0) == 0x1FF, "SPIV: the enable bit and vector are kept");
    mmio_write(apic + 0x310, 0);
    mmio_write(apic + 0x300, 0x000C4500u); /* INIT to all excluding self */
    ok(!(mmio_read(apic + 0x300) & (1u << 12)), "ICR: an INIT to absent CPUs is idle at once");
    mmio_write(apic + 0x300, 0x000C4600u); /* SIPI */
    ok((mmio_read(apic + 0x300) & 0xFFF00) == 0xC4600u, "ICR: a SIPI reads back, idle");
    ok(mmio_read(apic + 0x320) & 0x10000u, "LVT timer masked at reset");
    uint32_t cpuid1_edx, cpuid1_ecx, ebx, eax = 1;
    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "=c"(cpuid1_ecx), "=d"(cpuid1_edx));
    ok((cpuid1_edx & (1u << 9)) && !(cpuid1_ecx & (1u << 21)), "CPUID: APIC, no x2APIC");
    ok((cpuid1_ecx & (1u << 5)) != 0, "CPUID: VMX");
    eax = 0x80000008u;
    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "=c"(cpuid1_ecx), "=d"(cpuid1_edx));
    ok((eax & 0xFF) >= 40, "CPUID: MAXPHYADDR at least 40");
}

/* ---- exceptions through a 32-bit IDT (interrupt gates to handlers that record the vector,
 * error code and saved CS, and return past the faulting instruction) ---- */
__attribute__((used)) static volatile uint32_t fault_count, fault_vector, fault_error, fault_skip,
    fault_cs;
void isr0(void), isr6(void), isr13(void);
__asm__(".text\n"
        "isr0: push $0\n push $0\n jmp isr_common\n"
        "isr6: push $0\n push $6\n jmp isr_common\n"
        "isr13: push $13\n jmp isr_common\n" /* #GP pushes an error code itself */
        "isr_common:\n"
        "  push %eax\n"
        "  mov 4(%esp), %eax\n  mov %eax, fault_vector\n"
        "  mov 8(%esp), %eax\n  mov %eax, fault_error\n"
        "  mov 16(%esp), %eax\n  mov %eax, fault_cs\n"
        "  mov fault_skip, %eax\n  add %eax, 12(%esp)\n"
        "  incl fault_count\n"
        "  pop %eax\n  add $8, %esp\n  iret\n");

static uint64_t idt[32] __attribute__((aligned(8)));

static void set_gate(unsigned vector, void (*handler)(void), uint16_t cs)
{
    uint32_t offset = (uint32_t)(uintptr_t)handler;
    idt[vector] = (offset & 0xFFFFu) | ((uint64_t)cs << 16) | (0x8Eull << 40) | /* P, int gate */
                  ((uint64_t)(offset >> 16) << 48);
}

static void load_idt(uint16_t limit)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint32_t base;
    } idtr = {limit, (uint32_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" ::"m"(idtr));
}

static void check_exceptions(void)
{
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    set_gate(0, isr0, cs);
    set_gate(6, isr6, cs);
    set_gate(13, isr13, cs);
    load_idt(sizeof(idt) - 1);
    fault_skip = 2;
    __asm__ volatile("ud2" ::: "memory");
    ok(fault_count == 1 && fault_vector == 6, "#UD (UD2) through the 32-bit IDT");
    ok(fault_cs == cs, "the frame holds the interrupted CS");
    __asm__ volatile("xor %%ecx, %%ecx\n\tdiv %%ecx" ::"a"(1), "d"(0) : "ecx", "memory");
    ok(fault_count == 2 && fault_vector == 0, "#DE (DIV by 0) through the 32-bit IDT");
    wrmsr(0x1B, 0xFEE00000u | 0x900u | (1u << 10)); /* x2APIC enable without x2APIC */
    ok(fault_count == 3 && fault_vector == 13 && fault_error == 0,
       "#GP(0) for WRMSR IA32_APIC_BASE.EXTD without x2APIC (11.4.4)");
    ok(rdmsr(0x1B) == (0xFEE00000u | 0x900u), "IA32_APIC_BASE unchanged by the faulting write");
#ifdef TRIPLE
    load_idt(0); /* vector 6 outside the IDT: no gate, a triple fault ends the run */
    __asm__ volatile("ud2" ::: "memory");
#endif
}

static void check_feature_control(bool unlocked)
{
    if (!unlocked) {
        ok(rdmsr(0x3A) == 5, "IA32_FEATURE_CONTROL locked with VMX by default");
        return;
    }
    ok(rdmsr(0x3A) == 0, "--feature-control unlocked: IA32_FEATURE_CONTROL 0");
    wrmsr(0x3A, 5);
    ok(rdmsr(0x3A) == 5, "the kernel locks it with VMX enabled");
}

void kmain(void)
{
    const char *cmdline = check_entry_state();
    check_uart();
    check_fwcfg();
    check_apic();
    check_exceptions();
    check_feature_control(contains(cmdline, "fc-unlocked"));
    puts_com1("1..");
    putu(tests);
    putc_com1('\n');
#ifdef EXIT16
    outw(0xF4, 0x1207); /* status: the low byte, 7 */
#else
    outl(0xF4, 0xABCDEF00u); /* status: the low byte, 0 */
#endif
}
