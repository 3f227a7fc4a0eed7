//! timer: `VIRQ_TIMER` through a bound event channel and the event callback. With the default
//! periodic timer stopped, `set_timer_op` 50 ms ahead and `SCHEDOP_block` wake the vCPU with
//! one upcall at (not before) the deadline; a single-shot `VCPUOP` timer in the past is accepted
//! (`VCPU_SSHOTTMR_future` is ignored, as Xen does); a 20 ms single-shot timer wakes a block again.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{println, sys::events, Test};

/// How late a timer may fire under TCG (the hypervisor checks timers on its 10 ms tick).
#[cfg(target_os = "none")]
const TOLERANCE_NS: u64 = 100_000_000;

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);
    t.eq(
        events::vcpu_op(6, &mut 500_000u64.to_le_bytes()),
        -22,
        "a periodic timer under 1 ms is -EINVAL",
    );
    t.eq(
        events::vcpu_op(6, &mut u64::MAX.to_le_bytes()),
        -22,
        "a periodic timer beyond STIME_DELTA_MAX is -EINVAL",
    );
    let port = match events::bind_virq(0) {
        Ok(p) => p,
        Err(e) => {
            t.check(
                false,
                format_args!("EVTCHNOP_bind_virq(VIRQ_TIMER) failed: {e}"),
            );
            t.finish()
        }
    };
    println!("VIRQ_TIMER on port {}", port);

    let start = events::system_time();
    t.eq(
        events::set_timer_op(start + 50_000_000),
        0,
        "set_timer_op(+50 ms)",
    );
    let before = events::events(port);
    t.eq(events::block(), 0, "SCHEDOP_block");
    let woke = events::system_time();
    let late = woke.saturating_sub(start + 50_000_000);
    println!(
        "woke after {} us; events on the timer port: {}",
        (woke - start) / 1000,
        events::events(port) - before
    );
    t.check(
        events::events(port) > before,
        format_args!("the timer event arrived"),
    );
    t.check(
        woke >= start + 50_000_000,
        format_args!("woke no earlier than the deadline"),
    );
    t.check(
        late < TOLERANCE_NS,
        format_args!("woke {late} ns after the deadline"),
    );
    t.check(
        !events::upcall_mask(),
        format_args!("events are enabled again after block"),
    );

    let mut past = [0u8; 16];
    past[..8].copy_from_slice(&1u64.to_le_bytes());
    past[8..12].copy_from_slice(&1u32.to_le_bytes()); // VCPU_SSHOTTMR_future
                                                      // Xen ignores VCPU_SSHOTTMR_future since 4.6 (xen/include/public/vcpu.h): a deadline in the
                                                      // past is accepted and fires at once.
    t.eq(
        events::vcpu_op(8, &mut past),
        0,
        "single-shot timer in the past with SSHOTTMR_future",
    );

    let start = events::system_time();
    let mut shot = [0u8; 16];
    shot[..8].copy_from_slice(&(start + 20_000_000).to_le_bytes());
    t.eq(
        events::vcpu_op(8, &mut shot),
        0,
        "VCPUOP_set_singleshot_timer(+20 ms)",
    );
    let before = events::events(port);
    t.eq(events::block(), 0, "SCHEDOP_block");
    let woke = events::system_time();
    t.check(
        events::events(port) > before,
        format_args!("the single-shot timer event arrived"),
    );
    t.check(
        woke >= start + 20_000_000 && woke < start + 20_000_000 + TOLERANCE_NS,
        format_args!("woke after {} us", (woke - start) / 1000),
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
