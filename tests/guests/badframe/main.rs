//! badframe: guest-chosen state that the hypervisor loads into the CPU on the way back to the
//! guest. `iret` frames with a null, hypervisor, data or system code selector, a null or
//! hypervisor stack selector, or a non-canonical RIP each become the guest's #GP with the CPU's
//! error code and the frame the guest asked for (Xen's exit fixup), from kernel mode and into
//! user mode; a non-canonical RSP is loaded as it is. `set_callbacks` skips a non-canonical
//! address and returns 0, `callback_op` refuses one (-EINVAL), refuses unknown types (-ENOSYS)
//! and the unregistering of entry points (-EINVAL); `set_trap_table` stops at a non-canonical
//! handler (-EINVAL) keeping the entries before it. With `crash` on its command line it then
//! returns with a null CS and no #GP handler: the domain must crash, and only it.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::arch_x86::{IretContext, TrapInfo},
    abi::xen::Hypercall,
    println, sys,
    sys::{events, traps, user},
    Test,
};

/// The flat kernel selectors a 64-bit PV guest runs with (RPL 3; 0xe030 in a kernel frame).
#[cfg(target_os = "none")]
const KERNEL_CS: u64 = 0xe033;
#[cfg(target_os = "none")]
const KERNEL_SS: u64 = 0xe02b;
/// RFLAGS with IF clear: the probe's frames leave event upcalls masked.
#[cfg(target_os = "none")]
const FLAGS: u64 = 0x2;

#[cfg(target_os = "none")]
fn frame(rip: u64, cs: u64, rsp: u64, ss: u64) -> IretContext {
    IretContext {
        rax: 0x1111,
        r11: 0x2222,
        rcx: 0x3333,
        flags: 0,
        rip,
        cs,
        rflags: FLAGS,
        rsp,
        ss,
    }
}

/// A kernel stack for frames whose own stack is not usable.
#[cfg(target_os = "none")]
fn good_rsp() -> u64 {
    let (lo, hi) = user::user_stack();
    ((lo + hi) / 2) & !15
}

/// One frame that must not load: #GP with `error` and the frame's RIP and CS (RPL cleared when
/// the frame was for kernel mode, as in every kernel bounce frame).
#[cfg(target_os = "none")]
fn expect_gp(t: &mut Test, what: &str, ctx: IretContext, error: u64, user_mode: bool) {
    let r = traps::iret_probe(&ctx);
    let want_cs = if user_mode { ctx.cs | 3 } else { ctx.cs & !3 };
    t.eq(
        r.map(|x| (x.vector, x.error_code, x.rip, x.cs & 0xffff)),
        Some((13, error, ctx.rip, want_cs & 0xffff)),
        what,
    );
}

#[cfg(target_os = "none")]
fn iret_frames(t: &mut Test) {
    let land = traps::iret_landing();
    let sp = good_rsp();
    t.eq(
        traps::iret_probe(&frame(land, KERNEL_CS & !3, sp, KERNEL_SS)),
        None,
        "a good frame returns to its target",
    );
    expect_gp(t, "iret: null CS", frame(land, 0, sp, KERNEL_SS), 0, false);
    expect_gp(
        t,
        "iret: the hypervisor's code selector",
        frame(land, 0xe008, sp, KERNEL_SS),
        0xe008,
        false,
    );
    expect_gp(
        t,
        "iret: a data selector as CS",
        frame(land, KERNEL_SS & !3, sp, KERNEL_SS),
        KERNEL_SS & !3,
        false,
    );
    expect_gp(
        t,
        "iret: a system (TSS) selector as CS",
        frame(land, 0xe040, sp, KERNEL_SS),
        0xe040,
        false,
    );
    expect_gp(
        t,
        "iret: null SS",
        frame(land, KERNEL_CS & !3, sp, 0),
        0,
        false,
    );
    expect_gp(
        t,
        "iret: the hypervisor's data selector as SS",
        frame(land, KERNEL_CS & !3, sp, 0xe010),
        0xe010,
        false,
    );
    expect_gp(
        t,
        "iret: a non-canonical RIP",
        frame(0x8000_0000_0000_0000, KERNEL_CS & !3, sp, KERNEL_SS),
        0,
        false,
    );
    expect_gp(
        t,
        "iret: the last non-canonical RIP below the hole",
        frame(0x0000_8000_0000_0000, KERNEL_CS & !3, sp, KERNEL_SS),
        0,
        false,
    );
    // The stack pointer is not checked by the CPU's iret: the target runs with it (and must
    // not use it; the landing takes its own stack back).
    t.eq(
        traps::iret_probe(&frame(
            land,
            KERNEL_CS & !3,
            0x8000_0000_0000_0000,
            KERNEL_SS,
        )),
        None,
        "iret: a non-canonical RSP is loaded as it is",
    );

    // Into user mode (CS with RPL 3): the vCPU switches to its user page table first, and the
    // #GP comes from user mode, on the kernel stack of `stack_switch`.
    t.eq(
        sys::new_user_baseptr(sys::read_cr3() >> 12),
        0,
        "MMUEXT_NEW_USER_BASEPTR with the kernel's own L4",
    );
    let (_, kstack) = user::user_stack();
    t.eq(
        sys::hypercall_ints(Hypercall::StackSwitch as u32, [KERNEL_SS, kstack, 0, 0, 0]),
        0,
        "stack_switch",
    );
    expect_gp(
        t,
        "iret to user mode: null CS",
        frame(land, 3, sp, KERNEL_SS),
        0,
        true,
    );
    expect_gp(
        t,
        "iret to user mode: the hypervisor's code selector",
        frame(land, 0xe00b, sp, KERNEL_SS),
        0xe008,
        true,
    );
    expect_gp(
        t,
        "iret to user mode: null SS",
        frame(land, KERNEL_CS, sp, 3),
        0,
        true,
    );
    expect_gp(
        t,
        "iret to user mode: a non-canonical RIP",
        frame(0xffff_0000_0000_0000, KERNEL_CS, sp, KERNEL_SS),
        0,
        true,
    );
}

#[cfg(target_os = "none")]
fn callbacks(t: &mut Test) {
    // A loopback channel whose events must keep arriving at the registered callback.
    let local = match events::alloc_unbound(0x7ff0) {
        Ok(p) => p,
        Err(e) => {
            t.check(false, format_args!("alloc_unbound: {e}"));
            return;
        }
    };
    let remote = events::bind_interdomain(0x7ff0, local).unwrap_or(0);
    t.check(remote != 0, format_args!("bind_interdomain to ourselves"));
    let bad = 0x8000_0000_0000_0000u64;
    t.eq(
        sys::hypercall_ints(Hypercall::SetCallbacks as u32, [bad, bad, bad, 0, 0]),
        0,
        "set_callbacks with non-canonical addresses returns 0 (as Xen)",
    );
    let before = events::UPCALLS.load(core::sync::atomic::Ordering::SeqCst);
    let mut send = remote.to_le_bytes();
    t.eq(events::evtchn_op(4, &mut send), 0, "EVTCHNOP_send");
    events::set_upcall_mask(false);
    let deadline = events::system_time() + 2_000_000_000;
    while events::UPCALLS.load(core::sync::atomic::Ordering::SeqCst) == before
        && events::system_time() < deadline
    {
        core::hint::spin_loop();
    }
    events::set_upcall_mask(true);
    t.check(
        events::UPCALLS.load(core::sync::atomic::Ordering::SeqCst) > before,
        format_args!("the event still reaches the callback registered before"),
    );

    let stub = traps::stub(events::EVENT_STUB_VECTOR);
    t.eq(
        sys::register_callback(0, bad, true),
        -22,
        "callback_op register: non-canonical event address is -EINVAL",
    );
    t.eq(
        sys::register_callback(0, 0x0000_8000_0000_0000, true),
        -22,
        "callback_op register: the first non-canonical address is -EINVAL",
    );
    t.eq(
        sys::register_callback(99, stub, true),
        -38,
        "callback_op register: an unknown type is -ENOSYS",
    );
    t.eq(
        sys::register_callback(0, stub, true),
        0,
        "callback_op register: the event callback again",
    );
    let unregister = |ty: u16| {
        let u = domu_frontends::abi::callback::CallbackUnregister {
            r#type: ty,
            _unused: 0,
        };
        // SAFETY: a live `callback_unregister`.
        unsafe {
            sys::hypercall(
                Hypercall::CallbackOp as u32,
                1,
                core::ptr::addr_of!(u) as u64,
                0,
                0,
                0,
            )
        }
    };
    t.eq(
        unregister(0),
        -22,
        "callback_op unregister of the event callback is -EINVAL",
    );
    t.eq(
        unregister(2),
        -22,
        "callback_op unregister of the syscall callback is -EINVAL",
    );
    t.eq(
        unregister(4),
        0,
        "callback_op unregister of the NMI callback",
    );
    t.eq(
        unregister(99),
        -38,
        "callback_op unregister of an unknown type is -ENOSYS",
    );
}

#[cfg(target_os = "none")]
fn trap_table(t: &mut Test) {
    // #DE to the stub of vector 0x30 (so its arrival names 0x30), then a non-canonical #UD
    // handler: -EINVAL, #DE's new entry kept, #UD's old one untouched.
    let table = [
        TrapInfo {
            vector: 0,
            flags: 0,
            cs: 0xe033,
            _pad0: 0,
            address: traps::stub(0x30),
        },
        TrapInfo {
            vector: 6,
            flags: 0,
            cs: 0xe033,
            _pad0: 0,
            address: 0xffff_7000_0000_0000,
        },
        TrapInfo::default(),
    ];
    t.eq(
        sys::hypercall_ints(
            Hypercall::SetTrapTable as u32,
            [table.as_ptr() as u64, 0, 0, 0, 0],
        ),
        -22,
        "set_trap_table with a non-canonical handler is -EINVAL",
    );
    t.eq(
        traps::divide_error().map(|x| x.vector),
        Some(0x30),
        "the entry before the bad one was kept",
    );
    t.eq(
        traps::invalid_opcode().map(|x| x.vector),
        Some(6),
        "the bad entry was not",
    );
    t.eq(traps::install(&[]), 0, "set_trap_table back to the stubs");
}

/// Returns with a null CS after clearing the trap table: nothing can take the #GP, so the
/// domain crashes (as Xen's `pv_inject_hw_exception` without a handler).
#[cfg(target_os = "none")]
fn crash() -> ! {
    println!("badframe: iret with a null CS and no trap table: this domain must crash");
    sys::hypercall_ints(Hypercall::SetTrapTable as u32, [0, 0, 0, 0, 0]);
    let _ = traps::iret_probe(&frame(traps::iret_landing(), 0, good_rsp(), KERNEL_SS));
    println!("Test result: FAILURE: still running after the fatal iret");
    sys::shutdown(domu_frontends::abi::sched::ShutdownReason::Crash)
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);
    events::set_upcall_mask(true);
    callbacks(&mut t);
    trap_table(&mut t);
    iret_frames(&mut t);
    println!(
        "exceptions taken: {}",
        traps::COUNT.load(core::sync::atomic::Ordering::SeqCst)
    );
    if t.failures() == 0 && domu_frontends::flag(b"crash") {
        crash();
    }
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
