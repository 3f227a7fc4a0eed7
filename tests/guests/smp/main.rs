//! smp: a second vCPU of the guest. `VCPUOP_up` of a vCPU never initialised is -EINVAL;
//! `VCPUOP_initialise` refuses a context with a non-canonical address (-EINVAL), then gives
//! vCPU 1 its context (entry, stack, page tables, trap table), a second initialise is -EEXIST;
//! after `VCPUOP_up` it runs — at the same time as vCPU 0 (its counter advances while vCPU 0
//! spins) — and the two exchange 1,000 IPIs over event channels bound
//! with `EVTCHNOP_bind_ipi`, each waiting in `SCHEDOP_poll`. vCPU 1 then takes itself down
//! (`VCPUOP_down`) and `VCPUOP_is_up` says so. XSA-107: with FIFO events set up for vCPU 0
//! only, an event bound to vCPU 1 is sent without harm, and vCPU 1's control block can follow.
//! Needs two vCPUs on two CPUs (`-smp 2`, `dom0_max_vcpus=2`).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(target_os = "none")]
use domu_frontends::{
    abi::arch_x86::VcpuGuestContext, println, sys, sys::events, sys::traps, Test,
};

#[cfg(target_os = "none")]
const ROUNDS: u64 = 1000;

#[cfg(target_os = "none")]
static STARTED: AtomicU64 = AtomicU64::new(0);
#[cfg(target_os = "none")]
static SPIN: AtomicU64 = AtomicU64::new(0);
#[cfg(target_os = "none")]
static STOP_SPIN: AtomicU64 = AtomicU64::new(0);
#[cfg(target_os = "none")]
static PONGS: AtomicU64 = AtomicU64::new(0);
#[cfg(target_os = "none")]
static PORT_A: AtomicU32 = AtomicU32::new(0);
#[cfg(target_os = "none")]
static PORT_B: AtomicU32 = AtomicU32::new(0);
#[cfg(target_os = "none")]
static AP_DONE: AtomicU64 = AtomicU64::new(0);

#[cfg(target_os = "none")]
#[repr(C, align(16))]
struct Stack([u8; 32768]);
#[cfg(target_os = "none")]
static mut AP_STACK: Stack = Stack([0; 32768]);

/// Waits (SCHEDOP_poll) for `port` and consumes its event; false after 10 s.
#[cfg(target_os = "none")]
fn take(port: u32) -> bool {
    let deadline = events::system_time() + 10_000_000_000;
    while !events::port_pending(port) {
        if events::system_time() > deadline {
            return false;
        }
        events::poll(&[port], deadline);
    }
    events::clear_port(port);
    true
}

/// vCPU 1's entry (from its `vcpu_guest_context`).
#[cfg(target_os = "none")]
extern "C" fn ap_main() -> ! {
    STARTED.store(1, Ordering::SeqCst);
    while STOP_SPIN.load(Ordering::SeqCst) == 0 {
        SPIN.fetch_add(1, Ordering::SeqCst);
    }
    let (a, b) = (PORT_A.load(Ordering::SeqCst), PORT_B.load(Ordering::SeqCst));
    for _ in 0..ROUNDS {
        if !take(b) || events::send(a) != 0 {
            break;
        }
        PONGS.fetch_add(1, Ordering::SeqCst);
    }
    AP_DONE.store(1, Ordering::SeqCst);
    events::vcpu_op_on(2, 1, 0); // VCPUOP_down on itself
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);
    t.eq(
        events::vcpu_op_on(3, 1, 0),
        0,
        "vCPU 1 starts down (VCPUOP_is_up)",
    );
    t.eq(
        events::vcpu_op_on(1, 1, 0),
        -22,
        "VCPUOP_up of a vCPU never initialised",
    );

    let top = core::ptr::addr_of!(AP_STACK) as u64 + 32768;
    let mut ctx = traps::ap_context(ap_main as *const () as u64, top);
    // Xen's `arch_set_info_guest` refuses a non-canonical address anywhere the hypervisor would
    // later load it (RIP, stacks, segment bases, callbacks, virtual-IDT handlers): -EINVAL, and
    // the vCPU stays uninitialised (the good context below is still accepted).
    let bad = 0x8000_0000_0000_0000u64;
    type Set = fn(&mut VcpuGuestContext, u64);
    let refusals: [(&str, Set); 7] = [
        ("RIP", |c, v| c.user_regs.rip = v),
        ("RSP", |c, v| c.user_regs.rsp = v),
        ("kernel_sp", |c, v| c.kernel_sp = v),
        ("fs_base", |c, v| c.fs_base = v),
        ("gs_base_user", |c, v| c.gs_base_user = v),
        ("event_callback_eip", |c, v| c.event_callback_eip = v),
        ("the #GP handler", |c, v| c.trap_ctxt[13].address = v),
    ];
    for (what, set) in refusals {
        let mut bad_ctx = ctx;
        set(&mut bad_ctx, bad);
        let r = events::vcpu_op_on(0, 1, core::ptr::addr_of!(bad_ctx) as u64);
        t.check(
            r == -22,
            format_args!("VCPUOP_initialise with a non-canonical {what}: got {r}, want -22"),
        );
    }
    // XSA-296: vCPU 1's page tables are a fresh L4 (a copy of the live one's guest slots) that
    // the call must validate, and an upcall is due on vCPU 0 as it is made (where Xen once hit
    // a continuation it could not take): the call succeeds, the upcall arrives afterwards.
    let si = sys::start_info();
    let l4 = sys::read_cr3() >> 12;
    let fresh = sys::mmu::pfn_to_mfn(si.nr_pages - 1);
    let copied = (0..512usize)
        .filter(|&i| !(256..272).contains(&i))
        .all(|i| {
            let e = sys::mmu::read_table(l4, i);
            e == 0 || sys::mmu::mmu_update((fresh << 12) | (i as u64 * 8), e) == 0
        });
    t.check(copied, format_args!("XSA-296: a fresh L4 for vCPU 1"));
    ctx.ctrlreg[3] = fresh << 12;
    let arg = core::ptr::addr_of!(ctx) as u64;
    let upcalls = events::upcalls();
    events::set_upcall_pending();
    events::set_upcall_mask(false);
    t.eq(
        events::vcpu_op_on(0, 1, arg),
        0,
        "VCPUOP_initialise(1) with a fresh L4 and an upcall due (XSA-296)",
    );
    events::set_upcall_mask(true);
    t.check(
        events::upcalls() > upcalls,
        format_args!("XSA-296: the upcall due arrived"),
    );
    t.eq(
        events::vcpu_op_on(0, 1, arg),
        -17,
        "a second initialise is -EEXIST",
    );

    let a = events::bind_ipi(0);
    let b = events::bind_ipi(1);
    t.check(
        a != 0 && b != 0,
        format_args!("bind_ipi for vCPU 0 ({a}) and 1 ({b})"),
    );
    PORT_A.store(a, Ordering::SeqCst);
    PORT_B.store(b, Ordering::SeqCst);

    t.eq(events::vcpu_op_on(1, 1, 0), 0, "VCPUOP_up(1)");
    t.eq(events::vcpu_op_on(3, 1, 0), 1, "vCPU 1 is up");
    let deadline = events::system_time() + 10_000_000_000;
    while STARTED.load(Ordering::SeqCst) == 0 && events::system_time() < deadline {
        core::hint::spin_loop();
    }
    t.eq(STARTED.load(Ordering::SeqCst), 1, "vCPU 1 ran");
    // Both at once: vCPU 1's counter moves while vCPU 0 spins without giving up its CPU.
    let c1 = SPIN.load(Ordering::SeqCst);
    let until = events::system_time() + 20_000_000;
    while events::system_time() < until {
        core::hint::spin_loop();
    }
    let c2 = SPIN.load(Ordering::SeqCst);
    println!("vCPU 1 counted {} while vCPU 0 spun 20 ms", c2 - c1);
    t.check(c2 > c1, format_args!("vCPU 1 runs while vCPU 0 runs"));
    STOP_SPIN.store(1, Ordering::SeqCst);

    let mut pings = 0;
    for _ in 0..ROUNDS {
        if events::send(b) != 0 || !take(a) {
            break;
        }
        pings += 1;
    }
    t.eq(pings, ROUNDS, "IPI round trips (vCPU 0's side)");
    let deadline = events::system_time() + 10_000_000_000;
    while events::vcpu_op_on(3, 1, 0) != 0 && events::system_time() < deadline {
        core::hint::spin_loop();
    }
    t.eq(AP_DONE.load(Ordering::SeqCst), 1, "vCPU 1 finished");
    // Only now: vCPU 1 counts an answer after its send returns, and vCPU 0 can take the last
    // event (and get here) while vCPU 1 is still in that hypercall. Reading PONGS before vCPU 1
    // finished was the "999 of 1000" flake: a race in this test, not a lost event.
    t.eq(
        PONGS.load(Ordering::SeqCst),
        ROUNDS,
        "IPIs answered by vCPU 1",
    );
    t.eq(events::vcpu_op_on(3, 1, 0), 0, "vCPU 1 took itself down");

    // XSA-107: FIFO events with a control block for vCPU 0 only; an IPI port bound to vCPU 1
    // (which has none yet) is sent on, then vCPU 1 gets its control block too.
    events::set_upcall_mask(true);
    let frame = |p: &Page| sys::mmu::va_to_mfn(core::ptr::addr_of!(*p) as u64);
    t.eq(
        fifo_op(11, frame(&FIFO_CONTROL), 0),
        0,
        "XSA-107: init_control for vCPU 0 only",
    );
    t.eq(
        fifo_op(12, frame(&FIFO_ARRAY), 0),
        0,
        "XSA-107: an event-array page",
    );
    let c = events::bind_ipi(1);
    t.check(c != 0, format_args!("XSA-107: bind_ipi for vCPU 1 ({c})"));
    t.eq(
        events::send(c),
        0,
        "XSA-107: an event for vCPU 1, which has no control block",
    );
    t.eq(
        fifo_op(11, frame(&FIFO_CONTROL), 2048),
        0,
        "XSA-107: init_control for vCPU 1 afterwards",
    );
    t.eq(events::send(c), 0, "XSA-107: another event for vCPU 1");
    let mut dom = 0x7ff0u16.to_le_bytes();
    t.eq(
        events::evtchn_op(10, &mut dom),
        0,
        "XSA-107: EVTCHNOP_reset",
    );
    t.finish()
}

/// A page for FIFO control blocks (vCPU 0 at 0, vCPU 1 at 2048) and one of event words.
#[cfg(target_os = "none")]
#[repr(C, align(4096))]
struct Page([AtomicU32; 1024]);
#[cfg(target_os = "none")]
static FIFO_CONTROL: Page = Page([const { AtomicU32::new(0) }; 1024]);
#[cfg(target_os = "none")]
static FIFO_ARRAY: Page = Page([const { AtomicU32::new(0) }; 1024]);

/// `EVTCHNOP_init_control` (11: `gfn`, `offset`, vCPU `offset / 2048`) or `expand_array` (12:
/// `gfn`).
#[cfg(target_os = "none")]
fn fifo_op(cmd: u64, gfn: u64, offset: u32) -> i64 {
    let mut a = [0u8; 24];
    a[..8].copy_from_slice(&gfn.to_le_bytes());
    a[8..12].copy_from_slice(&offset.to_le_bytes());
    a[12..16].copy_from_slice(&(offset / 2048).to_le_bytes());
    events::evtchn_op(cmd, &mut a[..if cmd == 11 { 24 } else { 8 }])
}

#[cfg(not(target_os = "none"))]
fn main() {}
