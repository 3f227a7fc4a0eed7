//! timer: `VIRQ_TIMER` through a bound event channel and the event callback. With the default
//! periodic timer stopped, `set_timer_op` 50 ms ahead and `SCHEDOP_block` wake the vCPU with
//! one upcall at (not before) the deadline; a single-shot `VCPUOP` timer in the past is accepted
//! (`VCPU_SSHOTTMR_future` is ignored, as Xen does); a 20 ms single-shot timer wakes a block again.
//! `SCHEDOP_watchdog`: two watchdogs per domain (ids 1 and 2, then -ENOSPC as Xen returns it,
//! zero-extended from 32 bits), kicked or stopped
//! by id (-EINVAL for one not in use or past the last), and a bad pointer -EFAULT. With
//! `watchdog` on its command line it instead arms a 2 s watchdog, kicks it every 500 ms for
//! 3 s, then stops kicking and spins: the watchdog must shut it down (`SHUTDOWN_watchdog`)
//! before 6 s, or it reports failure.
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
    if domu_frontends::flag(b"watchdog") {
        watchdog_fires(t);
    }
    watchdogs(&mut t);
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

/// `SCHEDOP_watchdog(id, timeout)`.
#[cfg(target_os = "none")]
fn watchdog(id: u32, timeout: u32) -> i64 {
    let arg = (u64::from(timeout) << 32) | u64::from(id);
    domu_frontends::sys::hypercall_ints(29, [6, core::ptr::addr_of!(arg) as u64, 0, 0, 0])
}

#[cfg(target_os = "none")]
fn watchdogs(t: &mut Test) {
    t.eq(watchdog(1, 60), -22, "kicking watchdog 1 before it exists");
    t.eq(watchdog(3, 60), -22, "watchdog 3 (there are two)");
    t.eq(watchdog(u32::MAX, 0), -22, "watchdog id 0xffffffff");
    t.eq(
        domu_frontends::sys::hypercall_ints(29, [6, 0x8000_0000_0000_0000, 0, 0, 0]),
        -14,
        "SCHEDOP_watchdog with a non-canonical argument",
    );
    t.eq(watchdog(0, 600), 1, "the first watchdog is id 1");
    t.eq(watchdog(0, 600), 2, "the second is id 2");
    // Xen 4.17 answers -ENOSPC through an unsigned int (`id == NR ? -ENOSPC : id + 1`, `id`
    // a uint32_t): 4294967268 in the 64-bit register, -ENOSPC to a C caller's `int`.
    t.eq(
        watchdog(0, 600),
        0xffff_ffe4,
        "a third is -ENOSPC as a 32-bit value",
    );
    t.eq(watchdog(2, 900), 0, "kicking watchdog 2");
    t.eq(watchdog(1, 0), 0, "stopping watchdog 1");
    t.eq(watchdog(1, 600), -22, "kicking the stopped watchdog 1");
    t.eq(watchdog(0, 600), 1, "id 1 is free again");
    t.eq(watchdog(1, 0), 0, "stopping watchdog 1");
    t.eq(watchdog(2, 0), 0, "stopping watchdog 2");
    t.eq(watchdog(2, 0), -22, "stopping it twice");
}

/// Arms a 2 s watchdog, keeps it alive for 3 s, then lets it expire.
#[cfg(target_os = "none")]
fn watchdog_fires(mut t: Test) -> ! {
    t.eq(events::map_shared_info(), 0, "map shared_info");
    let id = watchdog(0, 2);
    t.eq(id, 1, "a 2 s watchdog");
    let start = events::system_time();
    let mut next = start;
    while events::system_time() < start + 3_000_000_000 {
        if events::system_time() >= next {
            t.eq(watchdog(id as u32, 2), 0, "kicking the watchdog");
            next += 500_000_000;
        }
        core::hint::spin_loop();
    }
    println!("watchdog: kicked for 3 s, alive; no more kicks");
    while events::system_time() < start + 8_000_000_000 {
        core::hint::spin_loop();
    }
    t.check(false, format_args!("the watchdog did not fire within 5 s"));
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
