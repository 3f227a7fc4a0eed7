//! The IDT, the entry stubs of all 256 vectors (they save a [`TrapFrame`] and call
//! `trap::ferrite_trap_dispatch`), the one restore-and-`iretq` path, and the register dump of an
//! exception the hypervisor cannot handle, which stops the machine cleanly.

use super::trap::Vector;
use super::{cpu, exit, percpu};
use crate::layout::selectors;
use core::fmt::Write;

/// Vector of the local APIC timer.
pub const TIMER_VECTOR: u8 = 0xf0;
/// Vector of the "wake up and look" IPI.
pub const WAKE_VECTOR: u8 = 0xf1;
/// The local APIC's spurious-interrupt vector.
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// Registers saved by the entry stubs, lowest address first.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    /// The vector number (pushed by the stub).
    pub vector: u64,
    /// The CPU's error code, or 0 for vectors without one.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 22 * 8);

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .section .text.ferrite_vectors, "ax"
    .balign 16
    .global ferrite_vector_stubs
ferrite_vector_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if vec == 1
    pushq $0
    pushq $vec
    jmp ferrite_db_common
    .elseif (vec < 32) && (({ec} >> vec) & 1)
    pushq $vec
    .else
    pushq $0
    pushq $vec
    .endif
    jmp ferrite_trap_common
    .set vec, vec + 1
    .endr

    # #DB arrives on its own IST stack. From the hypervisor (a guest's breakpoint on memory it
    # touched, or the SYSCALL stub's first instruction) it is handled there. From a guest, the
    # frame moves to the top of this CPU's primary stack (idle while the guest ran; the frame
    # slot, where any guest exception lands) before anything else, so that the handling —
    # which may touch guest memory and so raise another #DB — never runs on the IST stack.
ferrite_db_common:
    testb $3, 24(%rsp)
    jz ferrite_trap_common
    pushq %rax
    pushq %rcx
    movq %rsp, %rax
    andq ${area_mask}, %rax
    addq ${stack_top} - 72, %rax
    .set w, 0
    .rept 9
    movq w(%rsp), %rcx
    movq %rcx, w(%rax)
    .set w, w + 8
    .endr
    movq %rax, %rsp
    popq %rcx
    popq %rax

    .global ferrite_trap_common
ferrite_trap_common:
    pushq %r15
    pushq %r14
    pushq %r13
    pushq %r12
    pushq %r11
    pushq %r10
    pushq %r9
    pushq %r8
    pushq %rbp
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rcx
    pushq %rbx
    pushq %rax
    movq %rsp, %rdi
    cld
    call ferrite_trap_dispatch
    .global ferrite_restore_frame
ferrite_restore_frame:
    popq %rax
    popq %rbx
    popq %rcx
    popq %rdx
    popq %rsi
    popq %rdi
    popq %rbp
    popq %r8
    popq %r9
    popq %r10
    popq %r11
    popq %r12
    popq %r13
    popq %r14
    popq %r15
    addq $16, %rsp
    # The one instruction that returns to a guest; what it loads was checked by
    # `trap::exit_check`, and a fault here is the guest's (`extable`).
    .global ferrite_exit_iretq
ferrite_exit_iretq:
    iretq
"#,
    crate::extable_entry!("ferrite_exit_iretq", "0"),
    ec = const super::trap::ERROR_CODE_VECTORS,
    area_mask = const -(crate::layout::PERCPU_STRIDE as i64),
    stack_top = const crate::layout::percpu::STACK.1,
    options(att_syntax)
);

/// One 16-byte interrupt gate.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct Gate([u64; 2]);

#[repr(C, align(4096))]
struct Idt([Gate; 256]);

static mut IDT: Idt = Idt([Gate([0; 2]); 256]);

#[cfg_attr(not(target_os = "none"), allow(dead_code))]
fn gate(handler: u64, ist: u8, dpl: u8) -> Gate {
    let low = (handler & 0xffff)
        | (u64::from(selectors::HYPERVISOR_CS) << 16)
        | (u64::from(ist & 7) << 32)
        | (u64::from(0x8e | ((dpl & 3) << 5)) << 40) // present interrupt gate
        | (((handler >> 16) & 0xffff) << 48);
    Gate([low, handler >> 32])
}

/// Fills the IDT (once, on the boot CPU, before any other CPU loads it).
///
/// # Safety
/// Must run once, before any CPU executes [`load`], with no concurrent access to the IDT.
#[cfg(target_os = "none")]
pub unsafe fn init() {
    extern "C" {
        static ferrite_vector_stubs: u8;
    }
    // SAFETY: only the symbol's address is taken.
    let stubs = unsafe { &ferrite_vector_stubs as *const u8 as u64 };
    for v in 0..256u64 {
        let ist = match v {
            8 => 1,
            2 => 2,
            18 => 3,
            1 => 4,
            _ => 0,
        };
        // Like Xen, #BP and #OF may be raised from ring 3 (int3, into).
        let dpl = if v == 3 || v == 4 { 3 } else { 0 };
        // SAFETY: the caller guarantees exclusive access during initialisation.
        unsafe { (*core::ptr::addr_of_mut!(IDT)).0[v as usize] = gate(stubs + v * 16, ist, dpl) };
    }
}

/// Loads the IDT on this CPU.
pub fn load() {
    let ptr = x86_64::structures::DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: x86_64::VirtAddr::new(core::ptr::addr_of!(IDT) as u64),
    };
    // SAFETY: the IDT is a static that lives forever and was filled by `init` before any CPU
    // enables interrupts.
    unsafe { x86_64::instructions::tables::lidt(&ptr) };
}

/// Reports an NMI taken while the hypervisor ran.
pub fn report_nmi(frame: &TrapFrame) {
    let _ = writeln!(
        RawWriter,
        "NMI on CPU {} at RIP {:#x}",
        percpu::cpu_index(),
        frame.rip
    );
}

/// Writes to the serial port without any lock (register dumps).
struct RawWriter;

impl Write for RawWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        super::uart::puts(s);
        Ok(())
    }
}

/// Prints the register dump of an exception the hypervisor cannot handle and stops the machine.
pub fn fatal_exception(f: &TrapFrame) -> ! {
    let mut w = RawWriter;
    let (cr0, cr4) = cpu::read_cr0_cr4();
    let _ = write!(
        w,
        "\n*** FATAL EXCEPTION on CPU {} ***\n\
         vector {} ({}) error code {:#06x}\n\
         RIP {:#018x}  CS {:#06x}  RFLAGS {:#018x}\n\
         RSP {:#018x}  SS {:#06x}  CR2 {:#018x}\n\
         RAX {:#018x}  RBX {:#018x}  RCX {:#018x}  RDX {:#018x}\n\
         RSI {:#018x}  RDI {:#018x}  RBP {:#018x}  R8  {:#018x}\n\
         R9  {:#018x}  R10 {:#018x}  R11 {:#018x}  R12 {:#018x}\n\
         R13 {:#018x}  R14 {:#018x}  R15 {:#018x}\n\
         CR0 {:#018x}  CR3 {:#018x}  CR4 {:#018x}\n\
         Machine stopped.\n",
        percpu::cpu_index(),
        f.vector,
        u8::try_from(f.vector).map_or("interrupt", |v| Vector(v).name()),
        f.error_code,
        f.rip,
        f.cs,
        f.rflags,
        f.rsp,
        f.ss,
        cpu::read_cr2(),
        f.rax,
        f.rbx,
        f.rcx,
        f.rdx,
        f.rsi,
        f.rdi,
        f.rbp,
        f.r8,
        f.r9,
        f.r10,
        f.r11,
        f.r12,
        f.r13,
        f.r14,
        f.r15,
        cr0,
        cpu::read_cr3(),
        cr4,
    );
    exit::debug_exit(exit::ExitCode::Exception);
    cpu::halt_forever()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_encodes_handler_selector_ist_and_dpl() {
        let g = gate(0xffff_82d0_4021_3456, 1, 3);
        assert_eq!(g.0[0] & 0xffff, 0x3456);
        assert_eq!((g.0[0] >> 16) & 0xffff, 0xe008);
        assert_eq!((g.0[0] >> 32) & 7, 1);
        assert_eq!((g.0[0] >> 40) & 0xff, 0xee);
        assert_eq!((g.0[0] >> 48) & 0xffff, 0x4021);
        assert_eq!(g.0[1], 0xffff_82d0);
    }
}
