//! runstate: a vCPU's runstate accounting. Registering a runstate area fills it at once (state
//! running); `VCPUOP_get_runstate_info` charges time spent running; after blocking 50 ms on a
//! timer the area (rewritten when the vCPU runs again) shows it running again with at least
//! ~50 ms more blocked time; with `VMASST_TYPE_runstate_update_flag` the update flag is clear
//! whenever the guest looks; an area in the hypervisor's range is -EFAULT.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{abi::xen::Hypercall, println, sys, sys::events, Test};

#[cfg(target_os = "none")]
#[repr(C, align(64))]
struct Area([u64; 6]);

#[cfg(target_os = "none")]
static mut AREA: Area = Area([u64::MAX; 6]);

#[cfg(target_os = "none")]
fn area() -> [u64; 6] {
    // SAFETY: the hypervisor writes the area only while this vCPU is not running (or during a
    // hypercall it made); a volatile read sees each word as written.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!(AREA.0)) }
}

#[cfg(target_os = "none")]
fn get_runstate() -> [u64; 6] {
    let mut b = [0u8; 48];
    let rc = events::vcpu_op(4, &mut b);
    let mut w = [0u64; 6];
    for (i, c) in b.chunks(8).enumerate() {
        w[i] = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
    }
    if rc != 0 {
        w[0] = rc as u64;
    }
    w
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);
    // VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag (5).
    t.eq(
        sys::hypercall_ints(Hypercall::VmAssist as u32, [0, 5, 0, 0, 0]),
        0,
        "enable runstate_update_flag",
    );
    let mut bad = 0xffff_8300_0000_0000u64.to_le_bytes();
    t.eq(
        events::vcpu_op(5, &mut bad),
        -14,
        "a runstate area in the hypervisor's range is -EFAULT",
    );
    let mut reg = (core::ptr::addr_of!(AREA) as u64).to_le_bytes();
    t.eq(
        events::vcpu_op(5, &mut reg),
        0,
        "register the runstate area",
    );
    let a0 = area();
    println!("area at registration: {:x?}", a0);
    t.eq(a0[0] & 0xffff_ffff, 0, "state is RUNSTATE_running");
    t.check(
        a0[1] != u64::MAX && a0[1] & (1 << 63) == 0 && a0[1] <= events::system_time(),
        format_args!("state_entry_time {:#x} is a past system time", a0[1]),
    );

    // Run for 20 ms: the running time grows by at least that much.
    let r1 = get_runstate();
    let spin_until = events::system_time() + 20_000_000;
    while events::system_time() < spin_until {
        core::hint::spin_loop();
    }
    let r2 = get_runstate();
    println!("running time {} -> {} ns", r1[2], r2[2]);
    t.eq(r2[0], 0, "get_runstate_info: running");
    t.check(
        r2[2] >= r1[2] + 20_000_000,
        format_args!(
            "running time grew by {} ns over a 20 ms spin",
            r2[2] - r1[2]
        ),
    );

    // Block 50 ms on a timer: blocked time grows, and the area is rewritten when we run again.
    let port = events::bind_virq(0).unwrap_or(0);
    let blocked_before = a0[4];
    let start = events::system_time();
    t.eq(
        events::set_timer_op(start + 50_000_000),
        0,
        "set_timer_op(+50 ms)",
    );
    let before = events::events(port);
    // The last time the condition was seen false: the (last) block began after it, and it
    // lasted until the wake-up at the deadline at the earliest. How long the guest ran between
    // `start` and blocking is not the hypervisor's business (under TCG it varies by
    // milliseconds), so the check counts from here, not from `start`.
    let mut last_false = start;
    events::wait_until(|| {
        let now = events::system_time();
        let done = events::events(port) != before || now >= start + 5_000_000_000;
        if !done {
            last_false = now;
        }
        done
    });
    let a1 = area();
    println!("area after blocking: {:x?}", a1);
    t.eq(a1[0] & 0xffff_ffff, 0, "area: running again");
    t.eq(a1[1] >> 63, 0, "the update flag is clear once we run");
    t.check(
        a1[1] >= start,
        format_args!("state_entry_time moved to the wake-up"),
    );
    // The block began within a microsecond-scale hypercall of `last_false`; 1 ms of slack.
    let want = (start + 50_000_000).saturating_sub(last_false + 1_000_000);
    t.check(
        a1[4].wrapping_sub(blocked_before) >= want.max(1),
        format_args!(
            "blocked time grew by {} ns, want at least {want} ns (blocked {} ns before the 50 ms deadline)",
            a1[4].wrapping_sub(blocked_before),
            (start + 50_000_000).saturating_sub(last_false)
        ),
    );
    let total: u64 = a1[2..].iter().sum();
    t.check(
        total <= a1[1],
        format_args!("time in all states ({total}) fits before the last state change"),
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
