//! Exception entry for test guests: a virtual IDT of stubs that take Xen's bounce frame
//! (`RCX, R11, [error,] RIP, CS, RFLAGS, RSP, SS`), hand a register frame to a Rust handler, and
//! return through the `iret` hypercall; plus deliberate faults whose recovery point the handler
//! resumes at.

use core::sync::atomic::{AtomicU64, Ordering};
use xen_abi::arch_x86::TrapInfo;

/// What a stub hands the handler (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestFrame {
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
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    /// CS, with the saved upcall mask in bits 32–39.
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// The last exception taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trap {
    /// Vector.
    pub vector: u64,
    /// Error code (0 if the vector has none).
    pub error_code: u64,
    /// RIP the frame named.
    pub rip: u64,
    /// CS word of the frame (selector and saved upcall mask).
    pub cs: u64,
    /// CR2 at the time (read through the emulated `mov %cr2`).
    pub cr2: u64,
    /// The frame's RFLAGS.
    pub rflags: u64,
}

static LAST: [AtomicU64; 6] = [const { AtomicU64::new(u64::MAX) }; 6];
static FIXUP: AtomicU64 = AtomicU64::new(0);
/// The kernel stack [`iret_probe`] resumes on when its `iret` faults (0: none set).
#[no_mangle]
static DOMU_SYS_IRET_RECOVER_RSP: AtomicU64 = AtomicU64::new(0);
/// Number of exceptions taken.
pub static COUNT: AtomicU64 = AtomicU64::new(0);
/// Number of NMIs taken (vector 2, counted apart from the exceptions).
pub static NMI_COUNT: AtomicU64 = AtomicU64::new(0);
/// A function the NMI handler calls after counting (0: none).
static NMI_HOOK: AtomicU64 = AtomicU64::new(0);

/// Makes the NMI handler call `hook` (with the frame it was given) after counting each NMI.
pub fn set_nmi_hook(hook: Option<fn(&GuestFrame)>) {
    NMI_HOOK.store(hook.map_or(0, |f| f as usize as u64), Ordering::SeqCst);
}

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .section .text.domu_traps, "ax"
    .balign 16
    .global domu_sys_trap_stubs
domu_sys_trap_stubs:
    .set vec, 0
    .rept 256
    .balign 32
    popq %rcx
    popq %r11
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21)
    pushq $vec
    .else
    pushq $0
    pushq $vec
    .endif
    jmp domu_sys_trap_common
    .set vec, vec + 1
    .endr

domu_sys_trap_common:
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
    call domu_sys_trap
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
    pushq $0
    pushq %rcx
    pushq %r11
    pushq %rax
    movl $23, %eax
    syscall
    ud2
"#,
    options(att_syntax)
);

/// Reads CR2 the PV way: `mov %cr2` is emulated by the hypervisor.
pub fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: a privileged read the hypervisor emulates for the guest kernel; no memory access.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) v, options(nomem, nostack)) };
    v
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn domu_sys_trap(f: &mut GuestFrame) {
    if f.vector == u64::from(crate::events::EVENT_STUB_VECTOR) {
        crate::events::upcall();
        return;
    }
    if f.vector == 2 {
        NMI_COUNT.fetch_add(1, Ordering::SeqCst);
        let hook = NMI_HOOK.load(Ordering::SeqCst);
        if hook != 0 {
            // SAFETY: only `set_nmi_hook` stores here, always a `fn(&GuestFrame)`.
            let f2: fn(&GuestFrame) = unsafe { core::mem::transmute(hook as usize) };
            f2(f);
        }
        return;
    }
    let cr2 = if f.vector == 14 { read_cr2() } else { 0 };
    for (slot, v) in LAST
        .iter()
        .zip([f.vector, f.error_code, f.rip, f.cs, cr2, f.rflags])
    {
        slot.store(v, Ordering::SeqCst);
    }
    COUNT.fetch_add(1, Ordering::SeqCst);
    if crate::user::handle(f) {
        return;
    }
    let fixup = FIXUP.swap(0, Ordering::SeqCst);
    let recover_rsp = DOMU_SYS_IRET_RECOVER_RSP.swap(0, Ordering::SeqCst);
    if fixup != 0 && recover_rsp != 0 {
        // An `iret_probe` frame that did not load: the frame is whatever it asked for (perhaps
        // user mode, a bad stack): resume in the kernel on the probe's own stack.
        f.rip = fixup;
        f.rsp = recover_rsp;
        f.cs = 0xe030 | (f.cs & !0xffff);
        f.ss = 0xe02b;
    } else if fixup != 0 {
        f.rip = fixup;
    } else if f.vector != 3 && f.vector != 4 && f.vector < 32 {
        // An unexpected fault with no recovery point: report and stop.
        let mut msg =
            *b"Test result: FAILURE: unexpected exception, vector 0x.. at RIP 0x................\n";
        let hex = |v: u64, out: &mut [u8]| {
            for (i, b) in out.iter_mut().rev().enumerate() {
                *b = b"0123456789abcdef"[((v >> (4 * i)) & 15) as usize];
            }
        };
        hex(f.vector, &mut msg[52..54]);
        hex(f.rip, &mut msg[64..80]);
        let _ = crate::console_write(&msg);
        crate::shutdown(xen_abi::sched::ShutdownReason::Crash);
    }
}

/// The last exception taken, if any since `clear`.
pub fn last() -> Option<Trap> {
    let v = LAST[0].load(Ordering::SeqCst);
    (v != u64::MAX).then(|| Trap {
        vector: v,
        error_code: LAST[1].load(Ordering::SeqCst),
        rip: LAST[2].load(Ordering::SeqCst),
        cs: LAST[3].load(Ordering::SeqCst),
        cr2: LAST[4].load(Ordering::SeqCst),
        rflags: LAST[5].load(Ordering::SeqCst),
    })
}

/// Forgets the last exception.
pub fn clear() {
    LAST[0].store(u64::MAX, Ordering::SeqCst);
}

/// Address of the stub for `vector`.
#[cfg(target_os = "none")]
pub fn stub(vector: u8) -> u64 {
    extern "C" {
        static domu_sys_trap_stubs: u8;
    }
    let base = core::ptr::addr_of!(domu_sys_trap_stubs) as u64;
    base + u64::from(vector) * 32
}

/// Installs stubs for vectors 0–31 (DPL 0; #BP and #OF DPL 3, as native IDTs) plus
/// `extra` software-interrupt vectors with DPL 3, via `set_trap_table`. Returns its result.
#[cfg(target_os = "none")]
pub fn install(extra: &[u8]) -> i64 {
    let mut table = [TrapInfo::default(); 64];
    let mut n = 0;
    for v in 0..32u8 {
        let dpl = if v == 3 || v == 4 { 3 } else { 0 };
        table[n] = TrapInfo {
            vector: v,
            flags: dpl,
            cs: 0xe033,
            _pad0: 0,
            address: stub(v),
        };
        n += 1;
    }
    for &v in extra.iter().take(31) {
        table[n] = TrapInfo {
            vector: v,
            flags: 3,
            cs: 0xe033,
            _pad0: 0,
            address: stub(v),
        };
        n += 1;
    }
    // table[n] stays zero: the terminator.
    // SAFETY: a live, zero-terminated `trap_info` array.
    unsafe {
        crate::hypercall(
            xen_abi::xen::Hypercall::SetTrapTable as u32,
            table.as_ptr() as u64,
            0,
            0,
            0,
            0,
        )
    }
}

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .section .text.domu_iret_probe, "ax"
    # rdi = the 9-word iret_context to return with, rsi = &FIXUP. Returns when the frame's
    # target was `domu_sys_iret_landing` or the iret faulted and the handler resumed at 2.
    .global domu_sys_iret_probe
domu_sys_iret_probe:
"#,
    crate::push_callee_saved!(),
    r#"
    movq %rsp, DOMU_SYS_IRET_RECOVER_RSP(%rip)
    leaq 2f(%rip), %rax
    movq %rax, (%rsi)
    pushq 64(%rdi)
    pushq 56(%rdi)
    pushq 48(%rdi)
    pushq 40(%rdi)
    pushq 32(%rdi)
    pushq 24(%rdi)
    pushq 16(%rdi)
    pushq 8(%rdi)
    pushq 0(%rdi)
    movl $23, %eax
    syscall
    ud2

    # rdi = the iret_context, rsi = &FIXUP, rdx = a multicall list, rcx = its count: the same
    # frame pushed, then `multicall(list, count)` — whose `iret` entry returns to the frame.
    # A multicall that comes back instead hits the ud2 (#UD), and the handler resumes at the
    # landing.
    .global domu_sys_multicall_iret_probe
domu_sys_multicall_iret_probe:
"#,
    crate::push_callee_saved!(),
    r#"
    movq %rsp, DOMU_SYS_IRET_RECOVER_RSP(%rip)
    leaq domu_sys_iret_landing(%rip), %rax
    movq %rax, (%rsi)
    pushq 64(%rdi)
    pushq 56(%rdi)
    pushq 48(%rdi)
    pushq 40(%rdi)
    pushq 32(%rdi)
    pushq 24(%rdi)
    pushq 16(%rdi)
    pushq 8(%rdi)
    pushq 0(%rdi)
    movq %rdx, %rdi
    movq %rcx, %rsi
    movl $13, %eax
    syscall
    ud2

    # A target that takes its stack back without touching the one it arrived with. Reached
    # with no probe in flight (handed out as a handler, say), it has nothing to return to and
    # the domain crashes itself (SCHEDOP_shutdown, SHUTDOWN_crash).
    .global domu_sys_iret_landing
domu_sys_iret_landing:
    movq DOMU_SYS_IRET_RECOVER_RSP(%rip), %rsp
    testq %rsp, %rsp
    jz 3f
2:
"#,
    crate::pop_callee_saved!(),
    r#"
    ret
3:
    movl $29, %eax
    movl $2, %edi
    leaq domu_sys_crash_reason(%rip), %rsi
    syscall
    ud2
    .section .rodata.domu_iret_probe, "a"
domu_sys_crash_reason:
    .long 3
"#,
    options(att_syntax)
);

/// The address of a target for [`iret_probe`] that arrives without using its stack (so a
/// frame with any RSP can return there) and ends the probe with no exception.
#[cfg(target_os = "none")]
pub fn iret_landing() -> u64 {
    extern "C" {
        fn domu_sys_iret_landing();
    }
    domu_sys_iret_landing as *const () as u64
}

/// Makes the `iret` hypercall with `ctx` as the frame (from guest-kernel mode) and returns the
/// exception it led to, if any: the frame may name any selectors, flags, stack or target (user
/// mode needs a user page table and a `stack_switch` stack). A frame that loads must return to
/// [`iret_landing`]. On an exception the handler resumes here in kernel mode on this call's
/// stack, with RAX, RCX and R11 as the frame gave them.
#[cfg(target_os = "none")]
pub fn iret_probe(ctx: &xen_abi::arch_x86::IretContext) -> Option<Trap> {
    extern "C" {
        fn domu_sys_iret_probe(ctx: *const xen_abi::arch_x86::IretContext, fixup: *const AtomicU64);
    }
    clear();
    // SAFETY: the callee saves the callee-saved registers, records its stack for the trap
    // handler and makes the iret hypercall with `ctx`; it comes back either through the
    // landing (which reloads that stack) or through the handler's resume at its label 2. RAX,
    // RCX and R11 come back as the frame set them.
    unsafe {
        core::arch::asm!(
            "call {probe}",
            probe = sym domu_sys_iret_probe,
            in("rdi") ctx as *const _,
            in("rsi") core::ptr::addr_of!(FIXUP),
            out("rax") _, out("rcx") _, out("rdx") _, out("r8") _, out("r9") _, out("r10") _,
            out("r11") _,
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    DOMU_SYS_IRET_RECOVER_RSP.store(0, Ordering::SeqCst);
    last()
}

/// [`iret_probe`] through a multicall: the frame is on the stack when `multicall(list)` is
/// made, and one of `list`'s entries is `iret`. Xen ends the batch at the `iret`, returning to
/// the frame (which must target [`iret_landing`]): `None`. A multicall that returns normally
/// instead is `Some(#UD)`.
#[cfg(target_os = "none")]
pub fn multicall_iret_probe(
    ctx: &xen_abi::arch_x86::IretContext,
    list: &mut [xen_abi::xen::MulticallEntry],
) -> Option<Trap> {
    extern "C" {
        fn domu_sys_multicall_iret_probe();
    }
    clear();
    // SAFETY: as `iret_probe`; the hypervisor reads and writes only `list`'s entries.
    unsafe {
        core::arch::asm!(
            "call {probe}",
            probe = sym domu_sys_multicall_iret_probe,
            in("rdi") ctx as *const _,
            in("rsi") core::ptr::addr_of!(FIXUP),
            inout("rdx") list.as_mut_ptr() => _,
            inout("rcx") list.len() => _,
            out("rax") _, out("r8") _, out("r9") _, out("r10") _,
            out("r11") _,
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    DOMU_SYS_IRET_RECOVER_RSP.store(0, Ordering::SeqCst);
    last()
}

macro_rules! fault {
    ($(#[$m:meta])* $name:ident, $($asm:tt)*) => {
        $(#[$m])*
        pub fn $name() -> Option<Trap> {
            clear();
            // SAFETY: the instruction faults on purpose; the handler resumes at label 2, which
            // this block set as the recovery point, with every register as the block left it.
            unsafe {
                core::arch::asm!(
                    "lea {t}, [rip + 2f]",
                    "mov [{fixup}], {t}",
                    $($asm)*,
                    "2:",
                    t = out(reg) _,
                    fixup = in(reg) core::ptr::addr_of!(FIXUP),
                    out("rax") _, out("rcx") _, out("rdx") _,
                );
            }
            FIXUP.store(0, Ordering::SeqCst);
            last()
        }
    };
}

fault!(
    /// `div` by zero: #DE.
    divide_error,
    "xor edx, edx", "mov eax, 1", "xor ecx, ecx", "div ecx"
);
fault!(
    /// `ud2`: #UD.
    invalid_opcode,
    "ud2"
);
fault!(
    /// An SSE instruction (`xorps xmm0, xmm0`): #NM while the guest's CR0.TS is set.
    sse_op,
    "xorps xmm0, xmm0"
);
fault!(
    /// `int3`: #BP (a trap: RIP after the instruction).
    breakpoint,
    "int3"
);
fault!(
    /// A load from a non-canonical address: #GP(0).
    general_protection,
    "mov rax, 0x8000000000000000", "mov rax, [rax]"
);

/// A load from `va`: #PF if it is unmapped.
pub fn read_fault(va: u64) -> Option<Trap> {
    clear();
    // SAFETY: the load faults on purpose (or reads `va` if mapped); the handler resumes at label
    // 2 on a fault.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "mov {t}, [{va}]",
            "2:",
            t = out(reg) _,
            va = in(reg) va,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    last()
}

/// A store to `va`: #PF if it is unmapped or read-only. The value written is the one read.
pub fn write_fault(va: u64) -> Option<Trap> {
    clear();
    // SAFETY: the store faults on purpose (read-only or unmapped page); the handler resumes at
    // label 2. If it did not fault, it rewrote the byte with its own value.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "mov {b}, byte ptr [{va}]",
            "mov byte ptr [{va}], {b}",
            "2:",
            t = out(reg) _,
            b = out(reg_byte) _,
            va = in(reg) va,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    last()
}

fault!(
    /// `int $0x80` from the guest kernel: with no trap-table entry for it, the guest's
    /// #GP((0x80 << 3) | 2) (XSA-259).
    software_interrupt_0x80,
    "int 0x80"
);
fault!(
    /// `int $0x20` from the guest kernel (needs a stub installed by `install(&[0x20])`). Under
    /// QEMU < 8 Xen mistakes it for a #GP (QEMU reports a wrong error code), which then resumes
    /// after the instruction too.
    software_interrupt_0x20,
    "int 0x20"
);

/// `in al, dx` from `port`: the byte read, or the exception it raised (#GP without I/O
/// privilege).
pub fn port_in8(port: u16) -> Result<u8, Trap> {
    clear();
    let mut v: u64 = 0x5a;
    // SAFETY: a port read the hypervisor emulates or refuses with #GP; the handler resumes at
    // label 2 on a fault.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "in al, dx",
            "2:",
            t = out(reg) _,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
            in("dx") port,
            inout("rax") v,
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    match last() {
        Some(t) => Err(t),
        None => Ok(v as u8),
    }
}

/// `in al, 0x71` (the immediate form): the CMOS data port.
pub fn cmos_data_in8() -> Result<u8, Trap> {
    clear();
    let mut v: u64 = 0;
    // SAFETY: as in `port_in8`.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "in al, 0x71",
            "2:",
            t = out(reg) _,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
            inout("rax") v,
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    match last() {
        Some(t) => Err(t),
        None => Ok(v as u8),
    }
}

/// `in eax, dx` from `port`: the 32-bit value read, with RAX's upper half as it was left.
pub fn port_in32(port: u16) -> Result<u64, Trap> {
    clear();
    let mut v: u64 = 0xdead_beef_0000_0000;
    // SAFETY: as in `port_in8`.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "in eax, dx",
            "2:",
            t = out(reg) _,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
            in("dx") port,
            inout("rax") v,
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    match last() {
        Some(t) => Err(t),
        None => Ok(v),
    }
}

/// `out dx, al`: writes `value` to `port`, or the exception it raised.
pub fn port_out8(port: u16, value: u8) -> Result<(), Trap> {
    clear();
    // SAFETY: as in `port_in8`.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "out dx, al",
            "2:",
            t = out(reg) _,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
            in("dx") port,
            in("al") value,
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    match last() {
        Some(t) => Err(t),
        None => Ok(()),
    }
}

/// CPUID through Xen's forced-emulation prefix (`ud2; .ascii "xen"; cpuid`).
pub fn fep_cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    let (a, b, c, d): (u32, u32, u32, u32);
    // SAFETY: the hypervisor emulates the prefixed CPUID; rbx is saved around it because LLVM
    // reserves it.
    unsafe {
        core::arch::asm!(
            "mov {tmp:r}, rbx",
            "ud2",
            ".ascii \"xen\"",
            "cpuid",
            "xchg {tmp:r}, rbx",
            tmp = out(reg) b,
            inout("eax") leaf => a,
            inout("ecx") sub => c,
            out("edx") d,
        );
    }
    [a, b, c, d]
}

/// `mov ds, sel`: `None` if it loaded, or the exception it raised (#GP for a bad selector).
pub fn load_ds(sel: u16) -> Option<Trap> {
    clear();
    // SAFETY: a selector load the CPU checks; a fault resumes at label 2 via the handler.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "mov ds, {s:x}",
            "2:",
            t = out(reg) _,
            s = in(reg) sel,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    last()
}

/// `mov ss, sel` (SS restored afterwards if it loaded): `None` if it loaded, or the
/// exception it raised (#GP for a bad selector, #SS for a not-present one).
pub fn load_ss(sel: u16) -> Option<Trap> {
    clear();
    // SAFETY: a selector load the CPU checks; a fault resumes at label 2 via the handler, and
    // a load that worked is undone at once (the old SS is a valid ring-3 stack selector).
    unsafe {
        core::arch::asm!(
            "mov {old:x}, ss",
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "mov ss, {s:x}",
            "2:",
            "mov ss, {old:x}",
            t = out(reg) _,
            old = out(reg) _,
            s = in(reg) sel,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    last()
}

/// A far call through `sel` (`call m16:64`, REX.W FF /3): the exception it raised (a guest's
/// call gate has DPL 0, so it faults: #GP(gate selector)). `None` would mean it went through,
/// which a test treats as a failure (the target is this function's own landing point).
pub fn far_call(sel: u16) -> Option<Trap> {
    clear();
    let mut target: [u64; 2] = [0, u64::from(sel)];
    // SAFETY: a far call the CPU checks; a fault resumes at label 2 via the handler. Were it
    // to go through, it lands at label 2 with a far return frame pushed, which is dropped.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "mov [{m}], {t}",
            "mov {sp}, rsp",
            ".byte 0x48, 0xff, 0x1e", // call far [rsi] (m16:64)
            "2:",
            "mov rsp, {sp}",
            t = out(reg) _,
            sp = out(reg) _,
            m = in(reg) target.as_mut_ptr(),
            in("rsi") target.as_mut_ptr(),
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    last()
}

/// `mov %ss, (ss_at)` immediately followed by the hypercall `nr(a0)` through `syscall` (the
/// XSA-260 pattern: a breakpoint on `ss_at` raises a #DB held back for one instruction). A
/// #DB the guest itself takes at the `syscall` resumes there, so the hypercall is made either
/// way. Returns its result and the exception the guest saw, if any.
pub fn mov_ss_syscall(ss_at: u64, nr: u64, a0: u64) -> (i64, Option<Trap>) {
    clear();
    let r: i64;
    // SAFETY: SS is reloaded with the selector at `ss_at` (the caller's own SS); an exception
    // at the `syscall` resumes at it (label 2) via the handler; the hypercall clobbers RAX, RCX
    // and R11.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "mov ss, word ptr [{v}]",
            "2:",
            "syscall",
            t = out(reg) _,
            v = in(reg) ss_at,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
            inout("rax") nr => r,
            in("rdi") a0,
            out("rcx") _,
            out("r11") _,
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    (r, last())
}

/// `rdmsr`, or the exception it raised (#GP for an MSR the hypervisor refuses).
pub fn rdmsr_safe(msr: u32) -> Result<u64, Trap> {
    clear();
    let (lo, hi): (u32, u32);
    // SAFETY: a privileged read the hypervisor emulates or refuses with #GP; the handler
    // resumes at label 2 (EAX/EDX then hold what they held).
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "xor eax, eax",
            "xor edx, edx",
            "rdmsr",
            "2:",
            t = out(reg) _,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
            in("ecx") msr,
            out("eax") lo,
            out("edx") hi,
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    match last() {
        Some(t) => Err(t),
        None => Ok((u64::from(hi) << 32) | u64::from(lo)),
    }
}

/// `wrmsr` of `value`: `None` if it was taken, or the exception it raised.
pub fn wrmsr_safe(msr: u32, value: u64) -> Option<Trap> {
    clear();
    // SAFETY: a privileged write the hypervisor emulates or refuses with #GP; the handler
    // resumes at label 2.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "wrmsr",
            "2:",
            t = out(reg) _,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
            in("ecx") msr,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    last()
}

/// `mov %ss, (ss_at)` immediately followed by `int3` (XSA-265's pattern): the exception the
/// guest saw (#DB from a breakpoint on `ss_at`, else #BP), resuming after the `int3`.
pub fn mov_ss_int3(ss_at: u64) -> Option<Trap> {
    clear();
    // SAFETY: SS is reloaded with the selector at `ss_at` (the caller's own SS); the handler
    // resumes at label 2 after whichever exception came.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "mov ss, word ptr [{v}]",
            "int3",
            "2:",
            t = out(reg) _,
            v = in(reg) ss_at,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    last()
}

/// `lar sel`: the access rights, or `None` if the CPU refuses (ZF clear).
pub fn lar(sel: u16) -> Option<u32> {
    let (ar, ok): (u32, u8);
    // SAFETY: `lar` only reads the descriptor and sets ZF; it never faults for a selector.
    unsafe {
        core::arch::asm!("lar {a:e}, {s:e}", "setz {z}", a = out(reg) ar, s = in(reg) u32::from(sel), z = out(reg_byte) ok);
    }
    (ok != 0).then_some(ar)
}

/// `lsl sel`: the segment limit, or `None` if the CPU refuses.
pub fn lsl(sel: u16) -> Option<u32> {
    let (l, ok): (u32, u8);
    // SAFETY: as `lar`.
    unsafe {
        core::arch::asm!("lsl {l:e}, {s:e}", "setz {z}", l = out(reg) l, s = in(reg) u32::from(sel), z = out(reg_byte) ok);
    }
    (ok != 0).then_some(l)
}

/// `verr sel` and `verw sel`: whether the segment is readable and writable from here.
pub fn verr_verw(sel: u16) -> (bool, bool) {
    let (r, w): (u8, u8);
    // SAFETY: `verr`/`verw` only read the descriptor and set ZF.
    unsafe {
        core::arch::asm!(
            "verr {s:x}",
            "setz {r}",
            "verw {s:x}",
            "setz {w}",
            s = in(reg) sel,
            r = out(reg_byte) r,
            w = out(reg_byte) w,
        );
    }
    (r != 0, w != 0)
}

/// `xsetbv`: writes `value` to extended control register `xcr`, or the exception it raised
/// (#UD while the guest's CR4.OSXSAVE is clear, #GP for a value the hypervisor refuses).
pub fn xsetbv(xcr: u32, value: u64) -> Option<Trap> {
    clear();
    // SAFETY: the hypervisor emulates `xsetbv` for the guest kernel or raises an exception, and
    // the handler resumes at label 2; XCR0 governs only the x87/SSE/AVX state, which Rust code
    // in the soft-float guest never uses.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov [{fixup}], {t}",
            "xsetbv",
            "2:",
            t = out(reg) _,
            fixup = in(reg) core::ptr::addr_of!(FIXUP),
            in("ecx") xcr,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
        );
    }
    FIXUP.store(0, Ordering::SeqCst);
    last()
}

/// Page-table write forms (writable page tables): each runs one instruction on the u64 at
/// `va` and returns the exception it raised, if any, with what the instruction left behind.
pub mod pte {
    use super::{clear, last, Trap, FIXUP};
    use core::sync::atomic::Ordering;

    macro_rules! op {
        ($(#[$m:meta])* $name:ident, $insn:literal) => {
            $(#[$m])*
            pub fn $name(va: u64, value: u64) -> Option<Trap> {
                clear();
                // SAFETY: a write to `va` the hypervisor emulates or refuses with #PF; the
                // handler resumes at label 2 on a fault.
                unsafe {
                    core::arch::asm!(
                        "lea {t}, [rip + 2f]",
                        "mov [{fixup}], {t}",
                        $insn,
                        "2:",
                        t = out(reg) _,
                        fixup = in(reg) core::ptr::addr_of!(FIXUP),
                        va = in(reg) va,
                        v = in(reg) value,
                    );
                }
                FIXUP.store(0, Ordering::SeqCst);
                last()
            }
        };
    }

    op!(
        /// `mov %v, (%va)`.
        store,
        "mov qword ptr [{va}], {v}"
    );
    op!(
        /// `lock and %v, (%va)`.
        lock_and,
        "lock and qword ptr [{va}], {v}"
    );
    op!(
        /// `lock or %v, (%va)`.
        lock_or,
        "lock or qword ptr [{va}], {v}"
    );

    /// `xchg %v, (%va)`: the old value, or the exception.
    pub fn xchg(va: u64, value: u64) -> Result<u64, Trap> {
        clear();
        let mut r = value;
        // SAFETY: as in `store`.
        unsafe {
            core::arch::asm!(
                "lea {t}, [rip + 2f]",
                "mov [{fixup}], {t}",
                "xchg qword ptr [{va}], {r}",
                "2:",
                t = out(reg) _,
                fixup = in(reg) core::ptr::addr_of!(FIXUP),
                va = in(reg) va,
                r = inout(reg) r,
            );
        }
        FIXUP.store(0, Ordering::SeqCst);
        last().map_or(Ok(r), Err)
    }

    /// `lock cmpxchg %new, (%va)` with RAX = `expected`: (ZF, RAX after), or the exception.
    /// `lock cmpxchg8b [va]` (with an operand-size prefix if `opsize16`, which the CPU and
    /// Xen's emulator ignore): (ZF, EDX:EAX after), or the exception.
    pub fn cmpxchg8b(
        va: u64,
        expected: u64,
        new: u64,
        opsize16: bool,
    ) -> Result<(bool, u64), Trap> {
        clear();
        let (mut eax, mut edx) = (expected & 0xffff_ffff, expected >> 32);
        let zf: u8;
        // SAFETY: as in `store`; on a fault `setz` is skipped and ZF is read as it was. RBX is
        // saved around the instruction (the compiler may use it).
        unsafe {
            if opsize16 {
                core::arch::asm!(
                    "xchg {b}, rbx",
                    "lea {t}, [rip + 2f]",
                    "mov [{fixup}], {t}",
                    ".byte 0xf0, 0x66, 0x0f, 0xc7, 0x0e", // lock (o16) cmpxchg8b [rsi]
                    "2:",
                    "setz {z}",
                    "xchg {b}, rbx",
                    t = out(reg) _,
                    b = inout(reg) new & 0xffff_ffff => _,
                    fixup = in(reg) core::ptr::addr_of!(FIXUP),
                    z = out(reg_byte) zf,
                    in("rsi") va,
                    in("rcx") new >> 32,
                    inout("rax") eax,
                    inout("rdx") edx,
                );
            } else {
                core::arch::asm!(
                    "xchg {b}, rbx",
                    "lea {t}, [rip + 2f]",
                    "mov [{fixup}], {t}",
                    "lock cmpxchg8b qword ptr [rsi]",
                    "2:",
                    "setz {z}",
                    "xchg {b}, rbx",
                    t = out(reg) _,
                    b = inout(reg) new & 0xffff_ffff => _,
                    fixup = in(reg) core::ptr::addr_of!(FIXUP),
                    z = out(reg_byte) zf,
                    in("rsi") va,
                    in("rcx") new >> 32,
                    inout("rax") eax,
                    inout("rdx") edx,
                );
            }
        }
        FIXUP.store(0, Ordering::SeqCst);
        last().map_or(Ok((zf != 0, (edx << 32) | (eax & 0xffff_ffff))), Err)
    }

    pub fn cmpxchg(va: u64, expected: u64, new: u64) -> Result<(bool, u64), Trap> {
        clear();
        let mut rax = expected;
        let zf: u8;
        // SAFETY: as in `store`; on a fault `setz` is skipped and ZF is read as it was.
        unsafe {
            core::arch::asm!(
                "lea {t}, [rip + 2f]",
                "mov [{fixup}], {t}",
                "lock cmpxchg qword ptr [{va}], {n}",
                "2:",
                "setz {z}",
                t = out(reg) _,
                fixup = in(reg) core::ptr::addr_of!(FIXUP),
                va = in(reg) va,
                n = in(reg) new,
                z = out(reg_byte) zf,
                inout("rax") rax,
            );
        }
        FIXUP.store(0, Ordering::SeqCst);
        last().map_or(Ok((zf != 0, rax)), Err)
    }

    /// `lock btrq $1, (%va)` (clear the RW bit): the old bit (CF), or the exception.
    pub fn lock_btr_rw(va: u64) -> Result<bool, Trap> {
        clear();
        let cf: u8;
        // SAFETY: as in `cmpxchg`.
        unsafe {
            core::arch::asm!(
                "lea {t}, [rip + 2f]",
                "mov [{fixup}], {t}",
                "lock btr qword ptr [{va}], 1",
                "2:",
                "setc {c}",
                t = out(reg) _,
                fixup = in(reg) core::ptr::addr_of!(FIXUP),
                va = in(reg) va,
                c = out(reg_byte) cf,
            );
        }
        FIXUP.store(0, Ordering::SeqCst);
        last().map_or(Ok(cf != 0), Err)
    }

    /// `lock andb $0xfd, (%va)`: Linux's `clear_bit(_PAGE_BIT_RW)` on the low byte.
    pub fn lock_andb_clear_rw(va: u64) -> Option<Trap> {
        clear();
        // SAFETY: as in `store`.
        unsafe {
            core::arch::asm!(
                "lea {t}, [rip + 2f]",
                "mov [{fixup}], {t}",
                "lock and byte ptr [{va}], 0xfd",
                "2:",
                t = out(reg) _,
                fixup = in(reg) core::ptr::addr_of!(FIXUP),
                va = in(reg) va,
            );
        }
        FIXUP.store(0, Ordering::SeqCst);
        last()
    }
}

/// The context a test kernel gives a second vCPU (`VCPUOP_initialise`): kernel mode at `entry`
/// with `rsp` just below `stack_top` (16-byte aligned, as after a call), the flat selectors,
/// interrupts on, this vCPU's page tables, and every exception on the shared stubs (#BP and
/// #OF reachable from ring 3).
#[cfg(target_os = "none")]
pub fn ap_context(entry: u64, stack_top: u64) -> xen_abi::arch_x86::VcpuGuestContext {
    // SAFETY: all-zero bytes are a valid `vcpu_guest_context` (plain integers).
    let mut ctx: xen_abi::arch_x86::VcpuGuestContext = unsafe { core::mem::zeroed() };
    ctx.flags = 1 << 2; // VGCF_in_kernel
    ctx.user_regs.rip = entry;
    ctx.user_regs.rsp = stack_top - 8;
    ctx.user_regs.cs = 0xe033;
    ctx.user_regs.ss = 0xe02b;
    ctx.user_regs.rflags = 0x200;
    ctx.ctrlreg[3] = crate::read_cr3();
    ctx.kernel_ss = 0xe02b;
    ctx.kernel_sp = stack_top;
    for v in 0..32u8 {
        let t = &mut ctx.trap_ctxt[usize::from(v)];
        t.vector = v;
        t.flags = if v == 3 || v == 4 { 3 } else { 0 };
        t.cs = 0xe033;
        t.address = stub(v);
    }
    ctx
}
