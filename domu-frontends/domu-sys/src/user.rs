//! Guest user mode for tests: enter user mode through the `iret` hypercall, run a fixed user
//! program (`syscall`, `int $0x20`, `ud2`), and come back to the kernel when the program's
//! final `ud2` arrives.

use crate::traps::GuestFrame;
use core::sync::atomic::{AtomicU64, Ordering};

/// What the kernel saw of the user program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserReport {
    /// RIP the syscall callback's frame named (just after the user `syscall`).
    pub syscall_rip: u64,
    /// CS in the syscall frame.
    pub syscall_cs: u64,
    /// Vector the `int $0x20` arrived as (0x20; 13 on Xen under QEMU < 8).
    pub int_vector: u64,
    /// CS in that frame (user mode: RPL 3).
    pub int_cs: u64,
    /// The final `ud2` arrived (vector 6) from user mode.
    pub returned: bool,
    /// A page fault the user program took: (error code, CR2), if any.
    pub page_fault: Option<(u64, u64)>,
}

static SYSCALL_RIP: AtomicU64 = AtomicU64::new(0);
static SYSCALL_CS: AtomicU64 = AtomicU64::new(0);
static INT_VECTOR: AtomicU64 = AtomicU64::new(0);
static INT_CS: AtomicU64 = AtomicU64::new(0);
static RETURNED: AtomicU64 = AtomicU64::new(0);
static PF_ERROR: AtomicU64 = AtomicU64::new(u64::MAX);
static PF_CR2: AtomicU64 = AtomicU64::new(0);
static KERNEL_RSP: AtomicU64 = AtomicU64::new(0);
static ACTIVE: AtomicU64 = AtomicU64::new(0);

/// Pseudo-vector of the syscall callback's stub.
pub const SYSCALL_STUB_VECTOR: u8 = 0xfe;

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .section .text.domu_user, "ax"
    .global domu_sys_user_program
domu_sys_user_program:
    syscall
    int $0x20
    ud2
    ud2

    # Loads from the address in rbx (a 3-byte instruction the #PF handler skips), then ends.
    .global domu_sys_user_probe
domu_sys_user_probe:
    movq (%rbx), %rax
    ud2
    ud2

    # `sysenter` with EFLAGS.NT set (XSA-339's pattern), then ends.
    .global domu_sys_user_sysenter
domu_sys_user_sysenter:
    pushfq
    orl $0x4000, (%rsp)
    popfq
    sysenter
    ud2
    ud2

    .global domu_sys_enter_user
    # rdi = user entry, rsi = user stack top, rdx = &KERNEL_RSP, rcx = rbx for the program
domu_sys_enter_user:
"#,
    crate::push_callee_saved!(),
    r#"
    movq %rcx, %rbx
    movq %rsp, (%rdx)
    pushq $0xe02b
    pushq %rsi
    pushq $0x202
    pushq $0xe033
    pushq %rdi
    pushq $0
    pushq $0
    pushq $0
    pushq $0
    movl $23, %eax
    syscall
    ud2

    .global domu_sys_user_resume
domu_sys_user_resume:
"#,
    crate::pop_callee_saved!(),
    r#"
    ret
"#,
    options(att_syntax)
);

#[repr(C, align(16))]
struct Stack([u8; 16384]);
static mut USER_STACK: Stack = Stack([0; 16384]);
static mut KERNEL_STACK: Stack = Stack([0; 16384]);

/// Called from the trap handler for every exception: returns true if it belonged to the user
/// program (and adjusted the frame).
pub(crate) fn handle(f: &mut GuestFrame) -> bool {
    if ACTIVE.load(Ordering::SeqCst) == 0 {
        return false;
    }
    let from_user = f.cs & 3 == 3;
    match f.vector {
        v if v == u64::from(SYSCALL_STUB_VECTOR) => {
            SYSCALL_RIP.store(f.rip, Ordering::SeqCst);
            SYSCALL_CS.store(f.cs, Ordering::SeqCst);
            true
        }
        0x20 if from_user => {
            INT_VECTOR.store(0x20, Ordering::SeqCst);
            INT_CS.store(f.cs, Ordering::SeqCst);
            true
        }
        13 if from_user => {
            // `int $0x20` seen as #GP (Xen under QEMU < 8), or a refused `sysenter`: skip it
            // (both are 2 bytes), and drop the NT flag the sysenter program set.
            INT_VECTOR.store(13, Ordering::SeqCst);
            INT_CS.store(f.cs, Ordering::SeqCst);
            f.rip += 2;
            f.rflags &= !0x4000;
            true
        }
        14 if from_user => {
            PF_ERROR.store(f.error_code, Ordering::SeqCst);
            PF_CR2.store(crate::traps::read_cr2(), Ordering::SeqCst);
            // Skip the probe's `movq (%rbx), %rax`.
            f.rip += 3;
            true
        }
        6 if from_user => {
            RETURNED.store(1, Ordering::SeqCst);
            #[cfg(target_os = "none")]
            {
                extern "C" {
                    fn domu_sys_user_resume();
                }
                f.rip = domu_sys_user_resume as *const () as u64;
            }
            f.cs = 0xe030;
            f.ss = 0xe02b;
            f.rsp = KERNEL_RSP.load(Ordering::SeqCst);
            f.rflags = 0x202;
            true
        }
        _ => false,
    }
}

/// Runs the user program once and reports what the kernel saw. Needs the trap table from
/// `traps::install(&[0x20])`, the syscall callback at the stub for
/// [`SYSCALL_STUB_VECTOR`], and a user page table (`MMUEXT_NEW_USER_BASEPTR`).
#[cfg(target_os = "none")]
pub fn run_user_program() -> UserReport {
    extern "C" {
        fn domu_sys_user_program();
    }
    run(domu_sys_user_program as *const () as u64, 0)
}

/// Runs a user program that loads from `va` and reports the page fault it took, if any (the
/// user page table must map the program and the user stack; see [`probe_start`]).
#[cfg(target_os = "none")]
pub fn run_user_probe(va: u64) -> UserReport {
    run(probe_start(), va)
}

/// Runs `sysenter` from user mode with EFLAGS.NT set (XSA-339): the CPU refuses it (#GP(0)
/// when SYSENTER is not set up, as for a 64-bit PV guest, or #UD), which reaches the kernel
/// once, from user mode; the report's `int_vector` is 13 for #GP, 0 when #UD ended the program.
#[cfg(target_os = "none")]
pub fn run_user_sysenter_nt() -> UserReport {
    extern "C" {
        fn domu_sys_user_sysenter();
    }
    run(domu_sys_user_sysenter as *const () as u64, 0)
}

/// Address of the probe program (one page of code: map it in the user page table).
#[cfg(target_os = "none")]
pub fn probe_start() -> u64 {
    extern "C" {
        fn domu_sys_user_probe();
    }
    domu_sys_user_probe as *const () as u64
}

/// The user stack's address range (map it writable in the user page table).
pub fn user_stack() -> (u64, u64) {
    let lo = core::ptr::addr_of!(USER_STACK) as u64;
    (lo, lo + 16384)
}

#[cfg(target_os = "none")]
fn run(entry: u64, rbx: u64) -> UserReport {
    extern "C" {
        fn domu_sys_enter_user(entry: u64, stack: u64, save: *const AtomicU64, rbx: u64);
    }
    PF_ERROR.store(u64::MAX, Ordering::SeqCst);
    RETURNED.store(0, Ordering::SeqCst);
    INT_VECTOR.store(0, Ordering::SeqCst);
    let kstack = core::ptr::addr_of!(KERNEL_STACK) as u64 + 16384;
    let ustack = core::ptr::addr_of!(USER_STACK) as u64 + 16384;
    // stack_switch: the kernel stack for entries from user mode.
    crate::hypercall_ints(
        xen_abi::xen::Hypercall::StackSwitch as u32,
        [0xe02b, kstack, 0, 0, 0],
    );
    ACTIVE.store(1, Ordering::SeqCst);
    // SAFETY: enters user mode via the iret hypercall; the user program ends in `ud2`, whose
    // handler resumes at `domu_sys_user_resume` on the kernel stack saved in KERNEL_RSP, which
    // pops the callee-saved registers this call pushed and returns here.
    unsafe { domu_sys_enter_user(entry, ustack, core::ptr::addr_of!(KERNEL_RSP), rbx) };
    ACTIVE.store(0, Ordering::SeqCst);
    UserReport {
        syscall_rip: SYSCALL_RIP.load(Ordering::SeqCst),
        syscall_cs: SYSCALL_CS.load(Ordering::SeqCst),
        int_vector: INT_VECTOR.load(Ordering::SeqCst),
        int_cs: INT_CS.load(Ordering::SeqCst),
        returned: RETURNED.load(Ordering::SeqCst) == 1,
        page_fault: match PF_ERROR.load(Ordering::SeqCst) {
            u64::MAX => None,
            e => Some((e, PF_CR2.load(Ordering::SeqCst))),
        },
    }
}

/// Address of the user program's first instruction (its `syscall`).
#[cfg(target_os = "none")]
pub fn program_start() -> u64 {
    extern "C" {
        fn domu_sys_user_program();
    }
    domu_sys_user_program as *const () as u64
}
