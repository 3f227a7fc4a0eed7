//! The multiboot2 header and the 32-bit entry: GRUB jumps here in protected mode with paging off;
//! this builds boot page tables (identity + the image window), enters long mode and calls
//! `ferrite_main` on the BSP's boot stack. Also the real-mode trampoline APs start in.

core::arch::global_asm!(
    r#"
    .section .multiboot2_header, "a"
    .balign 8
mb2_header_start:
    .long 0xe85250d6
    .long 0
    .long mb2_header_end - mb2_header_start
    .long 0x100000000 - (0xe85250d6 + (mb2_header_end - mb2_header_start))
    .balign 8
    .short 0
    .short 0
    .long 8
mb2_header_end:

    .section .boot.bss, "aw", @nobits
    .balign 4096
    .global boot_pml4
boot_pml4:      .skip 4096
    .global boot_pdpt_lo
boot_pdpt_lo:   .skip 4096
boot_pdpt_hi:   .skip 4096
boot_pd:        .skip 4096
boot_stack32:   .skip 4096
boot_stack32_top:

    .section .boot.data, "aw"
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
boot_gdt_ptr:
    .short boot_gdt_ptr - boot_gdt - 1
    .long boot_gdt
boot_nolm_msg:
    .asciz "Ferrite: this CPU has no long mode\r\n"

    .section .boot.text, "ax"
    .code32
    .global ferrite_start32
ferrite_start32:
    cli
    cld
    movl $boot_stack32_top, %esp
    movl %eax, %edi
    movl %ebx, %esi

    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb 9f
    movl $0x80000001, %eax
    cpuid
    testl $(1 << 29), %edx
    jz 9f
    movl %edx, %ebp

    pushl %edi
    movl $boot_pml4, %edi
    xorl %eax, %eax
    movl $(4 * 1024), %ecx
    rep stosl
    popl %edi

    movl $boot_pd, %ebx
    movl $0x83, %eax
    xorl %ecx, %ecx
1:  movl %eax, (%ebx, %ecx, 8)
    movl $0, 4(%ebx, %ecx, 8)
    addl $0x200000, %eax
    incl %ecx
    cmpl $512, %ecx
    jne 1b

    movl $boot_pd + 3, %eax
    movl %eax, boot_pdpt_lo
    movl %eax, boot_pdpt_hi + 321 * 8
    movl $boot_pdpt_lo + 3, %eax
    movl %eax, boot_pml4
    movl $boot_pdpt_hi + 3, %eax
    movl %eax, boot_pml4 + 261 * 8

    movl %cr4, %eax
    orl $(1 << 5), %eax
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3

    movl $0xc0000080, %ecx
    rdmsr
    orl $(1 << 8), %eax
    testl $(1 << 20), %ebp
    jz 2f
    orl $(1 << 11), %eax
2:  wrmsr

    movl %cr0, %eax
    orl $0x80010001, %eax
    movl %eax, %cr0

    lgdt boot_gdt_ptr
    ljmpl $0x08, $boot_long

9:  movl $boot_nolm_msg, %esi
3:  movb (%esi), %al
    testb %al, %al
    jz 4f
    movw $0x3f8, %dx
    outb %al, %dx
    incl %esi
    jmp 3b
4:  hlt
    jmp 4b

    .code64
boot_long:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movl %edi, %edi
    movl %esi, %esi
    movabsq $ferrite_start64, %rax
    jmp *%rax

    .section .text.ferrite_start64, "ax"
    .global ferrite_start64
ferrite_start64:
    movabsq $bsp_boot_stack_top, %rsp
    xorl %ebp, %ebp
    call ferrite_main
    ud2

    .section .bss.bsp_boot_stack, "aw", @nobits
    .balign 4096
bsp_boot_stack:
    .skip 128 * 1024
bsp_boot_stack_top:
"#,
    options(att_syntax)
);

core::arch::global_asm!(
    r#"
    .section .trampoline, "a"
    .code16
    .global ferrite_trampoline_start
ferrite_trampoline_start:
    cli
    cld
    xorw %ax, %ax
    movw %ax, %ds
    lgdtl (tramp_gdt_ptr - ferrite_trampoline_start + 0x8000)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $(tramp_pm - ferrite_trampoline_start + 0x8000)

    .code32
tramp_pm:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl %cr4, %eax
    orl $(1 << 5), %eax
    movl %eax, %cr4
    movl (tramp_cr3 - ferrite_trampoline_start + 0x8000), %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    rdmsr
    orl (tramp_efer - ferrite_trampoline_start + 0x8000), %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80010000, %eax
    movl %eax, %cr0
    ljmpl $0x18, $(tramp_lm - ferrite_trampoline_start + 0x8000)

    .code64
tramp_lm:
    movq (tramp_stack - ferrite_trampoline_start + 0x8000), %rsp
    movq (tramp_arg - ferrite_trampoline_start + 0x8000), %rdi
    movq (tramp_entry - ferrite_trampoline_start + 0x8000), %rax
    # `call`, not `jmp`: the entry then sees the ABI's stack alignment (rsp = 8 mod 16).
    call *%rax
    ud2

    .balign 8
tramp_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00af9a000000ffff
tramp_gdt_ptr:
    .short 31
    .long tramp_gdt - ferrite_trampoline_start + 0x8000
    .balign 8
    .global ferrite_trampoline_params
ferrite_trampoline_params:
tramp_cr3:   .quad 0
tramp_stack: .quad 0
tramp_arg:   .quad 0
tramp_entry: .quad 0
tramp_efer:  .quad 0
    .global ferrite_trampoline_end
ferrite_trampoline_end:
    .code64
"#,
    options(att_syntax)
);
