//! A failsafe callback for tests: records the data selectors the hypervisor could not reload
//! (the `{RCX, R11, DS, ES, FS, GS, RIP, CS, RFLAGS, RSP, SS}` frame) and returns through the
//! `iret` hypercall.

use core::sync::atomic::{AtomicU64, Ordering};

/// Times the failsafe callback ran.
#[no_mangle]
static DOMU_SYS_FAILSAFE_COUNT: AtomicU64 = AtomicU64::new(0);
/// DS, ES, FS, GS of the last failsafe frame.
#[no_mangle]
static DOMU_SYS_FAILSAFE_WORDS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
#[no_mangle]
static DOMU_SYS_FAILSAFE_SCRATCH: AtomicU64 = AtomicU64::new(0);

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .section .text.domu_failsafe, "ax"
    .global domu_sys_failsafe_entry
domu_sys_failsafe_entry:
    movq %rax, DOMU_SYS_FAILSAFE_SCRATCH(%rip)
    movq 16(%rsp), %rax
    movq %rax, DOMU_SYS_FAILSAFE_WORDS(%rip)
    movq 24(%rsp), %rax
    movq %rax, DOMU_SYS_FAILSAFE_WORDS+8(%rip)
    movq 32(%rsp), %rax
    movq %rax, DOMU_SYS_FAILSAFE_WORDS+16(%rip)
    movq 40(%rsp), %rax
    movq %rax, DOMU_SYS_FAILSAFE_WORDS+24(%rip)
    lock incq DOMU_SYS_FAILSAFE_COUNT(%rip)
    # Turn (rcx, r11, ds, es, fs, gs, rip, ...) into the iret frame (rax, r11, rcx, flags, rip, ...).
    movq (%rsp), %rcx
    movq 8(%rsp), %r11
    movq %r11, 24(%rsp)
    movq %rcx, 32(%rsp)
    movq DOMU_SYS_FAILSAFE_SCRATCH(%rip), %rax
    movq %rax, 16(%rsp)
    movq $0, 40(%rsp)
    addq $16, %rsp
    movl $23, %eax
    syscall
    ud2
"#,
    options(att_syntax)
);

/// Registers the recording failsafe callback (`CALLBACKTYPE_failsafe`).
#[cfg(target_os = "none")]
pub fn register() -> i64 {
    extern "C" {
        fn domu_sys_failsafe_entry();
    }
    crate::register_callback(1, domu_sys_failsafe_entry as *const () as u64, true)
}

/// How often the failsafe callback ran, and the DS/ES/FS/GS of its last frame.
pub fn last() -> (u64, [u64; 4]) {
    (
        DOMU_SYS_FAILSAFE_COUNT.load(Ordering::SeqCst),
        [0, 1, 2, 3].map(|i| DOMU_SYS_FAILSAFE_WORDS[i].load(Ordering::SeqCst)),
    )
}

/// DS as the CPU has it now.
pub fn ds() -> u16 {
    let v: u16;
    // SAFETY: reading a segment register has no side effects.
    unsafe { core::arch::asm!("mov {0:x}, ds", out(reg) v, options(nomem, nostack)) };
    v
}

/// Loads DS with `sel`; the #GP of a bad selector goes to the trap table (the caller installs
/// a recovery point with `traps`).
pub fn load_ds(sel: u16) -> Option<crate::traps::Trap> {
    crate::traps::load_ds(sel)
}
