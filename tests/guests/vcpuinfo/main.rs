//! vcpuinfo: `VCPUOP_register_vcpu_info` moves vCPU 0's `vcpu_info` into a page of the guest's
//! own: a page-crossing or misaligned (XSA-327) offset is `-ENXIO`; the call succeeds once (a
//! second one is `-EINVAL`), the moved copy has every selector bit
//! set (so no event is lost), and time and timer events then arrive at the new location.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{println, sys::events, Test};

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);
    t.eq(
        events::register_vcpu_info_at(4090),
        -6,
        "a vcpu_info that would cross its page is -ENXIO",
    );
    t.eq(
        events::register_vcpu_info_at(4),
        -6,
        "a misaligned vcpu_info is -ENXIO (XSA-327)",
    );
    t.eq(events::register_vcpu_info(), 0, "VCPUOP_register_vcpu_info");
    t.eq(
        events::pending_sel(),
        u64::MAX,
        "the moved vcpu_info has every selector bit set",
    );
    t.eq(
        events::register_vcpu_info(),
        -22,
        "a second registration is -EINVAL",
    );
    let port = events::bind_virq(0).unwrap_or(0);
    t.check(port != 0, format_args!("bind VIRQ_TIMER"));
    let start = events::system_time();
    t.check(
        start > 0 && events::tsc_to_system_mul() != 0,
        format_args!("time in the new vcpu_info"),
    );
    t.eq(
        events::set_timer_op(start + 20_000_000),
        0,
        "set_timer_op(+20 ms)",
    );
    let before = events::events(port);
    // Block until the timer: a spurious upcall from the registration may wake us first.
    events::wait_until(|| {
        events::events(port) != before || events::system_time() >= start + 2_000_000_000
    });
    let woke = events::system_time();
    println!(
        "timer event after {} us through the moved vcpu_info",
        (woke - start) / 1000
    );
    t.check(
        events::events(port) > before,
        format_args!("VIRQ_TIMER delivered through the moved vcpu_info"),
    );
    t.check(
        woke >= start + 20_000_000,
        format_args!("not before the deadline"),
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
