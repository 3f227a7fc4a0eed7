//! pvclock: `shared_info` maps with `update_va_mapping`; `vcpu_time_info` has a usable scale,
//! system time read the pvclock way is monotonic across 10^6 reads and advances, and the
//! wallclock is a plausible date.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{println, sys::events, Test};

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(
        events::map_shared_info(),
        0,
        "update_va_mapping of shared_info",
    );
    t.check(
        events::tsc_to_system_mul() != 0,
        format_args!("tsc_to_system_mul is set"),
    );
    let first = events::system_time();
    let mut last = first;
    let mut backwards = 0u32;
    for _ in 0..1_000_000 {
        let now = events::system_time();
        if now < last {
            backwards += 1;
        }
        last = now;
    }
    println!("system time {} ns -> {} ns over 10^6 reads", first, last);
    t.eq(backwards, 0, "reads that went backwards");
    t.check(last > first, format_args!("system time advances"));
    let wc = events::wallclock_secs();
    println!("wallclock at boot: {} s since the epoch", wc);
    // 2020-01-01 .. 2100-01-01
    t.check(
        (1_577_836_800..4_102_444_800).contains(&wc),
        format_args!("plausible wallclock {wc}"),
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
