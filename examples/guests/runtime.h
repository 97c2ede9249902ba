/* SPDX-License-Identifier: MIT */
/*
 * The runtime of the L1 images for nestvmx-emu (freestanding, header-only): COM1 output, TAP
 * assertions, a GDT with a 64-bit TSS, an IDT whose handlers record the exception and skip
 * the faulting instruction, MSR access, and the VMX instructions with their RFLAGS outcome.
 * Include it once per image; the image defines l1_main and gets _start from here.
 */
#ifndef NESTVMX_GUEST_RUNTIME_H
#define NESTVMX_GUEST_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#define RFLAGS_CF 0x1ull
#define RFLAGS_ZF 0x40ull
#define CR4_VMXE (1ull << 13)

/* ---- ports, COM1, TAP ---- */

static inline __attribute__((unused)) void outb(uint16_t port, uint8_t value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}
static inline __attribute__((unused)) uint8_t inb(uint16_t port)
{
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
static __attribute__((unused)) void putc_com1(char c)
{
    while (!(inb(0x3FD) & 0x20))
        ;
    outb(0x3F8, (uint8_t)c);
}
static __attribute__((unused)) void puts_com1(const char *s)
{
    while (*s)
        putc_com1(*s++);
}
static __attribute__((unused)) void put_number(uint64_t n)
{
    char digits[24];
    int i = 0;
    do {
        digits[i++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (i)
        putc_com1(digits[--i]);
}
static __attribute__((unused)) void put_hex(uint64_t n)
{
    puts_com1("0x");
    for (int shift = 60; shift >= 0; shift -= 4) {
        unsigned d = (unsigned)(n >> shift) & 0xF;
        if (d || shift == 0 || (n >> shift))
            putc_com1((char)(d < 10 ? '0' + d : 'a' + d - 10));
    }
}

static unsigned tap_tests, tap_failures;
/* One TAP line; the name is `what` or "what: detail". */
static __attribute__((unused)) bool check2(bool ok, const char *what, const char *detail)
{
    tap_tests++;
    tap_failures += !ok;
    puts_com1(ok ? "ok " : "not ok ");
    put_number(tap_tests);
    puts_com1(" - ");
    puts_com1(what);
    if (detail) {
        puts_com1(": ");
        puts_com1(detail);
    }
    puts_com1("\n");
    return ok;
}
static __attribute__((unused)) bool check(bool ok, const char *name)
{
    return check2(ok, name, 0);
}
/* An equality assertion that prints both values when it fails. */
static __attribute__((unused)) bool check_eq2(uint64_t got, uint64_t want, const char *what,
                                              const char *detail)
{
    bool ok = check2(got == want, what, detail);
    if (!ok) {
        puts_com1("# got ");
        put_hex(got);
        puts_com1(", expected ");
        put_hex(want);
        puts_com1("\n");
    }
    return ok;
}
static __attribute__((unused)) bool check_eq(uint64_t got, uint64_t want, const char *name)
{
    return check_eq2(got, want, name, 0);
}
static __attribute__((unused)) int tap_done(void)
{
    puts_com1("1..");
    put_number(tap_tests);
    puts_com1("\n");
    return tap_failures ? 1 : 0;
}

/* ---- GDT with a TSS: null, code64 0x08, data 0x10, TSS 0x18 (16 bytes) ---- */

#define SEL_CODE 0x08u
#define SEL_DATA 0x10u
#define SEL_TSS 0x18u

static uint64_t rt_gdt[5] __attribute__((aligned(16)));
static uint8_t rt_tss[104] __attribute__((aligned(16)));

struct __attribute__((packed)) rt_table_register {
    uint16_t limit;
    uint64_t base;
};

static __attribute__((unused)) void rt_load_gdt(void)
{
    uint64_t tss = (uint64_t)(uintptr_t)rt_tss;
    rt_gdt[0] = 0;
    rt_gdt[1] = 0x00AF9B000000FFFFull; /* 64-bit code, accessed */
    rt_gdt[2] = 0x00CF93000000FFFFull; /* data, accessed */
    rt_gdt[3] = (sizeof(rt_tss) - 1) | ((tss & 0xFFFFFF) << 16) | (0x89ull << 40) |
                ((tss >> 24 & 0xFF) << 56); /* available 64-bit TSS */
    rt_gdt[4] = tss >> 32;
    struct rt_table_register gdtr = {sizeof(rt_gdt) - 1, (uint64_t)(uintptr_t)rt_gdt};
    __asm__ volatile("lgdt %0\n\t"
                     "pushq $0x08\n\t"
                     "lea 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1: mov $0x10, %%eax\n\t"
                     "mov %%eax, %%ds\n\tmov %%eax, %%es\n\tmov %%eax, %%ss\n\t"
                     "mov %%eax, %%fs\n\tmov %%eax, %%gs\n\t"
                     "mov $0x18, %%eax\n\tltr %%ax"
                     :
                     : "m"(gdtr)
                     : "rax", "memory");
}

/* ---- IDT: every exception vector records itself and resumes at RIP + rt_fault_skip ---- */

struct rt_gate {
    uint16_t offset_low, selector;
    uint8_t ist, type;
    uint16_t offset_mid;
    uint32_t offset_high, reserved;
};
static struct rt_gate rt_idt[32] __attribute__((aligned(16)));
volatile uint64_t rt_fault_count, rt_fault_vector, rt_fault_error, rt_fault_skip;

/* Stubs: vectors with an error code (8, 10-14, 17, 21) have it on the stack; the others push
 * a 0 so the common part sees one layout. */
#define RT_STUB(n, push0)                                                                          \
    ".global rt_vector" #n "\nrt_vector" #n ":\n" push0 "  pushq $" #n "\n  jmp rt_common\n"
#define RT_NOERR "  pushq $0\n"
__asm__(".text\n" RT_STUB(0, RT_NOERR) RT_STUB(1, RT_NOERR) RT_STUB(2, RT_NOERR)
            RT_STUB(3, RT_NOERR) RT_STUB(4, RT_NOERR) RT_STUB(5, RT_NOERR) RT_STUB(6, RT_NOERR)
                RT_STUB(7, RT_NOERR) RT_STUB(8, "") RT_STUB(9, RT_NOERR) RT_STUB(10, "")
                    RT_STUB(11, "") RT_STUB(12, "") RT_STUB(13, "") RT_STUB(14, "")
                        RT_STUB(16, RT_NOERR) RT_STUB(17, "") RT_STUB(18, RT_NOERR)
                            RT_STUB(19, RT_NOERR) "rt_common:\n"
                                                  "  push %rax\n"
                                                  "  mov 8(%rsp), %rax\n"
                                                  "  mov %rax, rt_fault_vector(%rip)\n"
                                                  "  mov 16(%rsp), %rax\n"
                                                  "  mov %rax, rt_fault_error(%rip)\n"
                                                  "  mov rt_fault_skip(%rip), %rax\n"
                                                  "  add %rax, 24(%rsp)\n"
                                                  "  incq rt_fault_count(%rip)\n"
                                                  "  pop %rax\n"
                                                  "  add $16, %rsp\n"
                                                  "  iretq\n");
#define RT_DECLARE(n) void rt_vector##n(void);
RT_DECLARE(0)
RT_DECLARE(1)
RT_DECLARE(2)
RT_DECLARE(3)
RT_DECLARE(4)
RT_DECLARE(5)
RT_DECLARE(6)
RT_DECLARE(7)
RT_DECLARE(8)
RT_DECLARE(9)
RT_DECLARE(10)
RT_DECLARE(11)
RT_DECLARE(12)
RT_DECLARE(13)
RT_DECLARE(14)
RT_DECLARE(16)
RT_DECLARE(17)
RT_DECLARE(18)
RT_DECLARE(19)

static __attribute__((unused)) void rt_set_gate(unsigned vector, void (*handler)(void))
{
    uint64_t h = (uint64_t)(uintptr_t)handler;
    rt_idt[vector] = (struct rt_gate){.offset_low = (uint16_t)h,
                                      .selector = SEL_CODE,
                                      .type = 0x8E, /* present 64-bit interrupt gate */
                                      .offset_mid = (uint16_t)(h >> 16),
                                      .offset_high = (uint32_t)(h >> 32)};
}

static __attribute__((unused)) void rt_load_idt(void)
{
    void (*handlers[20])(void) = {rt_vector0,  rt_vector1,  rt_vector2,  rt_vector3,  rt_vector4,
                                  rt_vector5,  rt_vector6,  rt_vector7,  rt_vector8,  rt_vector9,
                                  rt_vector10, rt_vector11, rt_vector12, rt_vector13, rt_vector14,
                                  0,           rt_vector16, rt_vector17, rt_vector18, rt_vector19};
    for (unsigned v = 0; v < 20; v++)
        if (handlers[v])
            rt_set_gate(v, handlers[v]);
    struct rt_table_register idtr = {sizeof(rt_idt) - 1, (uint64_t)(uintptr_t)rt_idt};
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* The exception the last guarded instruction raised, or -1 (rt_guard before it). */
static uint64_t rt_guard_count;
static __attribute__((unused)) void rt_guard(uint64_t skip)
{
    rt_fault_skip = skip;
    rt_guard_count = rt_fault_count;
}
static __attribute__((unused)) int rt_fault(void)
{
    return rt_fault_count == rt_guard_count ? -1 : (int)rt_fault_vector;
}

/* ---- registers, MSRs ---- */

static inline __attribute__((unused)) uint64_t read_cr3(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}
static inline __attribute__((unused)) uint64_t read_cr0(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}
static inline __attribute__((unused)) uint64_t read_cr4(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}
static inline __attribute__((unused)) void write_cr4(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

/* RDMSR/WRMSR (2 bytes each): the value, and the exception (rt_fault) if one was raised. */
static __attribute__((unused)) uint64_t rdmsr(uint32_t index)
{
    uint32_t lo = 0, hi = 0;
    rt_guard(2);
    __asm__ volatile("rdmsr" : "+a"(lo), "+d"(hi) : "c"(index) : "memory");
    return ((uint64_t)hi << 32) | lo;
}
static __attribute__((unused)) void wrmsr(uint32_t index, uint64_t value)
{
    rt_guard(2);
    __asm__ volatile("wrmsr"
                     :
                     : "c"(index), "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
                     : "memory");
}

/* ---- VMX instructions: each returns RFLAGS & (CF | ZF) after it; rt_fault() says whether it
 * raised an exception (the handler skips it: lengths are those of the encodings below) ---- */

#define RT_FLAGS(insn, skip, ...)                                                                  \
    uint64_t rflags;                                                                               \
    rt_guard(skip);                                                                                \
    __asm__ volatile(insn "\n\tpushfq\n\tpop %0" : "=r"(rflags) : __VA_ARGS__ : "memory", "cc");   \
    return rflags & (RFLAGS_CF | RFLAGS_ZF)

/* vmxon/vmclear/vmptrld (%rax): F3/66/-- 0F C7 /6 or /7 with ModRM 0x30/0x38: 4 or 3 bytes */
static __attribute__((unused)) uint64_t vmxon(uint64_t *pa)
{
    RT_FLAGS("vmxon (%1)", 4, "a"(pa));
}
static __attribute__((unused)) uint64_t vmclear(uint64_t *pa)
{
    RT_FLAGS("vmclear (%1)", 4, "a"(pa));
}
static __attribute__((unused)) uint64_t vmptrld(uint64_t *pa)
{
    RT_FLAGS("vmptrld (%1)", 3, "a"(pa));
}
static __attribute__((unused)) uint64_t vmptrst(uint64_t *pa)
{
    RT_FLAGS("vmptrst (%1)", 3, "a"(pa));
}
static __attribute__((unused)) uint64_t vmxoff(void)
{
    RT_FLAGS("vmxoff", 3, "i"(0));
}
/* vmwrite %rdx, %rax (0F 79 /r, ModRM reg = rax field, rm = rdx value: 3 bytes) */
static __attribute__((unused)) uint64_t vmwrite(uint64_t field, uint64_t value)
{
    RT_FLAGS("vmwrite %2, %1", 3, "a"(field), "d"(value));
}
/* vmread %rax, %rdx (0F 78 /r: 3 bytes); *value is unchanged on failure */
static __attribute__((unused)) uint64_t vmread(uint64_t field, uint64_t *value)
{
    uint64_t rflags, v = *value;
    rt_guard(3);
    __asm__ volatile("vmread %2, %1\n\tpushfq\n\tpop %0"
                     : "=r"(rflags), "+d"(v)
                     : "a"(field)
                     : "memory", "cc");
    *value = v;
    return rflags & (RFLAGS_CF | RFLAGS_ZF);
}
static __attribute__((unused)) uint64_t vmread_value(uint64_t field)
{
    uint64_t v = 0;
    vmread(field, &v);
    return v;
}

/* ---- start: stack, l1_main(memory size), exit status through port 0xF4 ---- */

int l1_main(uint64_t memory_size);
uint8_t rt_stack[16384] __attribute__((aligned(16)));
__asm__(".section .text.start, \"ax\"\n"
        ".global _start\n"
        "_start:\n"
        "  lea rt_stack+16384(%rip), %rsp\n"
        "  call l1_main\n"
        "  outb %al, $0xF4\n"
        "1: cli\n"
        "  hlt\n"
        "  jmp 1b\n"
        ".text\n");

#endif
