/* SPDX-License-Identifier: MIT */
/*
 * A floppy boot stub that gives an L1 image on Bochs the nestvmx-emu L1 contract
 * (examples/emu-host/README.md): Bochs is the independent VMX oracle the same TAP images run on.
 *
 * Floppy layout: sector 0 this boot sector, sectors 1-3 the rest of the stub, then the L1 ELF64
 * image as is. The BIOS loads sector 0 at 0x7C00; it reads the stub and the image (the sector
 * count is patched at offset 508 by the build script) to 0x7E00 onwards, one sector per BIOS
 * call, enters 32-bit protected mode, builds identity paging of 4 GiB with 2-MiB pages at
 * 0x1000-0x6FFF (below 1 MiB, as the contract says), enters 64-bit mode, copies the image's
 * PT_LOAD segments to their physical addresses (at or above 1 MiB) with BSS zeroed, sets COM1
 * to 8N1 (Bochs writes COM1 to its file only then), loads an empty IDT and jumps to the entry
 * with RDI = guest memory size (MEM_SIZE, given when assembling).
 */
        .set STUB_SECTORS, 4
        .set PAYLOAD, 0x7C00 + STUB_SECTORS * 512
        .set PML4, 0x1000
        .set PDPT, 0x2000
        .set PD0, 0x3000

        .code16
        .section .text
        .global start
start:
        cli
        xorw %ax, %ax
        movw %ax, %ds
        movw %ax, %ss
        movw $0x7C00, %sp
        movb %dl, boot_drive
        movw $0x07E0, %ax               /* ES:0 = 0x7E00, one segment step per sector */
        movw %ax, %es
        movw $1, %si                    /* LBA of the next sector */
load_next:
        cmpw sector_count, %si
        ja loaded
        movw %si, %ax                   /* LBA -> CHS, 18 sectors per track, 2 heads */
        xorw %dx, %dx
        movw $18, %bx
        divw %bx                        /* ax = track, dx = sector - 1 */
        movb %dl, %cl
        incb %cl
        movb %al, %dh
        andb $1, %dh                    /* head */
        shrw $1, %ax
        movb %al, %ch                   /* cylinder */
        movb boot_drive, %dl
        xorw %bx, %bx
        movw $0x0201, %ax               /* read one sector to ES:BX */
        int $0x13
        jc load_failed
        movw %es, %ax
        addw $0x20, %ax
        movw %ax, %es
        incw %si
        jmp load_next
load_failed:
        movw $0xE9, %dx
        movb $'!', %al
        outb %al, %dx
        hlt
        jmp load_failed
loaded:
        jmp stage2

boot_drive:
        .byte 0
        .org 508
sector_count:                           /* sectors after the boot sector: patched by the script */
        .word 0
        .word 0xAA55

/* ---- stage 2: protected mode, paging, long mode ------------------------------------------ */
stage2:
        inb $0x92, %al                  /* A20 through the system control port */
        orb $2, %al
        outb %al, $0x92
        lgdtl gdt_descriptor
        movl %cr0, %eax
        orl $1, %eax
        movl %eax, %cr0
        ljmpl $0x08, $protected32

        .code32
protected32:
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movl $0x7C00, %esp
        movl $PML4, %edi                /* clear PML4, PDPT and four PDs */
        xorl %eax, %eax
        movl $(6 * 4096 / 4), %ecx
        rep stosl
        movl $(PDPT | 3), PML4
        movl $PDPT, %edi
        movl $(PD0 | 3), %eax
        movl $4, %ecx
1:      movl %eax, (%edi)
        addl $8, %edi
        addl $0x1000, %eax
        loop 1b
        movl $PD0, %edi                 /* 2048 entries of 2 MiB: 4 GiB identity */
        movl $0x83, %eax                /* present, writable, page size */
        xorl %edx, %edx
        movl $2048, %ecx
2:      movl %eax, (%edi)
        movl %edx, 4(%edi)
        addl $8, %edi
        addl $0x200000, %eax
        adcl $0, %edx
        loop 2b
        movl %cr4, %eax
        orl $0x20, %eax                 /* PAE */
        movl %eax, %cr4
        movl $PML4, %eax
        movl %eax, %cr3
        movl $0xC0000080, %ecx          /* IA32_EFER.LME */
        rdmsr
        orl $0x100, %eax
        wrmsr
        movl $0x80010033, %eax          /* PG, WP, NE, ET, MP, PE */
        movl %eax, %cr0
        ljmpl $0x18, $long64

        .code64
long64:
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movw %ax, %fs
        movw %ax, %gs
        movq $PAYLOAD, %rbx
        cmpl $0x464C457F, (%rbx)        /* "\x7FELF" */
        jne bad_image
        movzwq 0x38(%rbx), %r12         /* e_phnum */
        movzwq 0x36(%rbx), %r13         /* e_phentsize */
        movq 0x20(%rbx), %r14           /* e_phoff */
        addq %rbx, %r14
segment:
        testq %r12, %r12
        jz segments_done
        cmpl $1, (%r14)                 /* PT_LOAD */
        jne next_segment
        movq 0x08(%r14), %rsi           /* p_offset */
        addq %rbx, %rsi
        movq 0x18(%r14), %rdi           /* p_paddr */
        movq 0x20(%r14), %rcx           /* p_filesz */
        movq 0x28(%r14), %rdx           /* p_memsz */
        subq %rcx, %rdx
        cld
        rep movsb
        movq %rdx, %rcx                 /* BSS */
        xorl %eax, %eax
        rep stosb
next_segment:
        addq %r13, %r14
        decq %r12
        jmp segment
segments_done:
        movw $0x3FB, %dx                /* COM1: 115200 8N1, FIFO */
        movb $0x80, %al
        outb %al, %dx
        movw $0x3F8, %dx
        movb $1, %al
        outb %al, %dx
        movw $0x3F9, %dx
        xorb %al, %al
        outb %al, %dx
        movw $0x3FB, %dx
        movb $3, %al
        outb %al, %dx
        movw $0x3FA, %dx
        movb $0xC7, %al
        outb %al, %dx
        movw $0x3FC, %dx
        movb $0x0B, %al
        outb %al, %dx
        lidt empty_idt
        movq 0x18(%rbx), %rax           /* e_entry */
        movq $MEM_SIZE, %rdi
        xorl %esi, %esi
        jmp *%rax
bad_image:
        movw $0xE9, %dx
        movb $'?', %al
        outb %al, %dx
        hlt
        jmp bad_image

        .p2align 3
gdt:
        .quad 0
        .quad 0x00CF9A000000FFFF        /* 0x08: 32-bit code */
        .quad 0x00CF92000000FFFF        /* 0x10: data */
        .quad 0x00AF9A000000FFFF        /* 0x18: 64-bit code */
gdt_end:
gdt_descriptor:
        .word gdt_end - gdt - 1
        .long gdt
empty_idt:
        .word 0
        .quad 0
        .org STUB_SECTORS * 512
