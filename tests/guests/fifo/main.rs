//! fifo: the FIFO event-channel ABI, driven with upcalls masked and checked in guest memory.
//! `expand_array` before `init_control` is -EOPNOTSUPP; `init_control` refuses a vCPU beyond the
//! domain (-ENOENT), an unaligned or page-crossing block and a second block for the vCPU
//! (-EINVAL), and frames it cannot give the hypervisor — its own L4, one not its own — for a
//! control block or an event-array page (-EINVAL); it writes back 17 link bits. With one
//! event-array page: a sent IPI port becomes PENDING|LINKED, the head of queue 7, READY bit 7 and
//! an upcall; the next one is linked from its LINK field; a MASKED port is only PENDING until
//! `EVTCHNOP_unmask` links it; priorities above 15 are -EINVAL and a port at priority 3 heads
//! queue 3; `EVTCHNOP_reset` takes the domain back to the 2-level ABI.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use core::sync::atomic::{AtomicU32, Ordering};
#[cfg(target_os = "none")]
use domu_frontends::{
    println,
    sys::{self, events, mmu},
    Test,
};

#[cfg(target_os = "none")]
#[repr(C, align(4096))]
struct Page([AtomicU32; 1024]);

#[cfg(target_os = "none")]
static CONTROL: Page = Page([const { AtomicU32::new(0) }; 1024]);
#[cfg(target_os = "none")]
static ARRAY: Page = Page([const { AtomicU32::new(0) }; 1024]);

#[cfg(target_os = "none")]
const PENDING: u32 = 1 << 31;
#[cfg(target_os = "none")]
const MASKED: u32 = 1 << 30;
#[cfg(target_os = "none")]
const LINKED: u32 = 1 << 29;
#[cfg(target_os = "none")]
const LINK_MASK: u32 = (1 << 17) - 1;

#[cfg(target_os = "none")]
fn word(port: u32) -> &'static AtomicU32 {
    &ARRAY.0[port as usize]
}

#[cfg(target_os = "none")]
fn ready() -> u32 {
    CONTROL.0[0].load(Ordering::SeqCst)
}

#[cfg(target_os = "none")]
fn head(q: usize) -> u32 {
    CONTROL.0[2 + q].load(Ordering::SeqCst)
}

#[cfg(target_os = "none")]
fn init_control(gfn: u64, offset: u32, vcpu: u32) -> (i64, u8) {
    let mut a = [0u8; 24];
    a[..8].copy_from_slice(&gfn.to_le_bytes());
    a[8..12].copy_from_slice(&offset.to_le_bytes());
    a[12..16].copy_from_slice(&vcpu.to_le_bytes());
    let rc = events::evtchn_op(11, &mut a);
    (rc, a[16])
}

#[cfg(target_os = "none")]
fn expand_array(gfn: u64) -> i64 {
    events::evtchn_op(12, &mut gfn.to_le_bytes())
}

#[cfg(target_os = "none")]
fn set_priority(port: u32, priority: u32) -> i64 {
    let mut a = [0u8; 8];
    a[..4].copy_from_slice(&port.to_le_bytes());
    a[4..].copy_from_slice(&priority.to_le_bytes());
    events::evtchn_op(13, &mut a)
}

#[cfg(target_os = "none")]
fn bind_ipi() -> u32 {
    let mut a = [0u8; 8];
    let rc = events::evtchn_op(7, &mut a);
    if rc == 0 {
        u32::from_le_bytes([a[4], a[5], a[6], a[7]])
    } else {
        0
    }
}

#[cfg(target_os = "none")]
fn op_port(cmd: u64, port: u32) -> i64 {
    events::evtchn_op(cmd, &mut port.to_le_bytes())
}

/// What a guest's upcall handler does with everything queued: unlink and clear every event,
/// empty the heads and the READY bitmap, clear the upcall flag.
#[cfg(target_os = "none")]
fn consume_all() {
    for w in ARRAY.0.iter() {
        w.fetch_and(!(PENDING | LINKED | LINK_MASK), Ordering::SeqCst);
    }
    for c in CONTROL.0.iter().take(18) {
        c.store(0, Ordering::SeqCst);
    }
    events::clear_upcall_pending();
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(events::map_shared_info(), 0, "map shared_info");
    events::set_upcall_mask(true);
    let cb = mmu::va_to_mfn(core::ptr::addr_of!(CONTROL) as u64);
    let arr = mmu::va_to_mfn(core::ptr::addr_of!(ARRAY) as u64);

    t.eq(
        expand_array(arr),
        -95,
        "expand_array under 2-level is -EOPNOTSUPP",
    );
    t.eq(
        init_control(cb, 0, 99).0,
        -2,
        "init_control for vCPU 99 is -ENOENT",
    );
    t.eq(
        init_control(cb, 4, 0).0,
        -22,
        "an unaligned control block is -EINVAL",
    );
    t.eq(
        init_control(cb, 4096 - 64, 0).0,
        -22,
        "a control block crossing the page is -EINVAL",
    );
    let l4 = sys::read_cr3() >> 12;
    t.eq(
        init_control(l4, 0, 0).0,
        -22,
        "a control block in its own L4 (no writable type) is -EINVAL",
    );
    t.eq(
        init_control(0, 0, 0).0,
        -22,
        "a control block in a frame not its own is -EINVAL",
    );
    t.eq(
        init_control(cb, 0, 0),
        (0, 17),
        "init_control: 17 link bits",
    );
    t.eq(
        init_control(cb, 0, 0).0,
        -22,
        "a second control block is -EINVAL",
    );
    t.eq(
        expand_array(l4),
        -22,
        "an event array page in its own L4 is -EINVAL",
    );
    t.eq(
        expand_array(0),
        -22,
        "an event array page not its own is -EINVAL",
    );
    t.eq(expand_array(arr), 0, "expand_array");

    let a = bind_ipi();
    let b = bind_ipi();
    let c = bind_ipi();
    println!("IPI ports {a}, {b}, {c}");
    t.check(a != 0 && b != 0 && c != 0, format_args!("three IPI ports"));
    t.eq(op_port(4, a), 0, "send a");
    t.eq(
        word(a).load(Ordering::SeqCst),
        PENDING | LINKED,
        "a: PENDING|LINKED",
    );
    t.eq(head(7), a, "a heads queue 7");
    t.eq(ready(), 1 << 7, "READY bit 7");
    t.check(
        events::upcall_pending(),
        format_args!("an upcall is pending"),
    );
    t.eq(op_port(4, b), 0, "send b");
    t.eq(
        word(a).load(Ordering::SeqCst) & LINK_MASK,
        b,
        "a links to b",
    );

    word(c).fetch_or(MASKED, Ordering::SeqCst);
    t.eq(op_port(4, c), 0, "send c (masked)");
    t.eq(
        word(c).load(Ordering::SeqCst),
        PENDING | MASKED,
        "c: PENDING|MASKED only",
    );
    t.eq(op_port(9, c), 0, "EVTCHNOP_unmask c");
    t.eq(
        word(c).load(Ordering::SeqCst),
        PENDING | LINKED,
        "c linked by the unmask",
    );
    t.eq(
        word(b).load(Ordering::SeqCst) & LINK_MASK,
        c,
        "b links to c",
    );

    t.eq(set_priority(a, 16), -22, "priority 16 is -EINVAL");
    t.eq(set_priority(a, 3), 0, "priority 3");
    consume_all();
    t.eq(op_port(4, a), 0, "send a at priority 3");
    t.eq(head(3), a, "a heads queue 3");
    t.eq(ready(), 1 << 3, "READY bit 3");
    consume_all();

    // EVTCHNOP_reset of itself: every port closed, back to the 2-level ABI.
    let mut dom = 0x7ff0u16.to_le_bytes();
    t.eq(events::evtchn_op(10, &mut dom), 0, "EVTCHNOP_reset");
    t.eq(
        expand_array(arr),
        -95,
        "2-level again: expand_array is -EOPNOTSUPP",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
