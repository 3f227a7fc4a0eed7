//! survivor: runs as dom0 beside `crasher` (a domU that kills itself): keeps a memory pattern,
//! yields the CPU 200 times (`rounds=N` on its command line for more) so the crasher gets to
//! run and die, then checks its memory is intact and reports. Ferrite only: Xen 4.17 on x86 cannot build extra domains from boot modules (its
//! dom0less boot is Arm-only), so there is no second guest to run beside it there.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{abi::xen::Hypercall, println, sys, Test};

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    let buf = sys::static_buffer();
    for (i, w) in buf.iter_mut().enumerate() {
        *w = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    // Yield often, and keep going for at least ~300 ms of TSC time, so that the crasher runs
    // (and dies) whether it shares this CPU or has its own.
    let start = sys::rdtsc();
    let rounds = domu_frontends::arg(b"rounds").unwrap_or(200);
    let mut round = 0u64;
    while round < rounds || sys::rdtsc().wrapping_sub(start) < 600_000_000 {
        t.eq(
            sys::hypercall_ints(Hypercall::SchedOp as u32, [0, 0, 0, 0, 0]),
            0,
            "SCHEDOP_yield",
        );
        if round.is_multiple_of(50) && round < 200 {
            println!("survivor: round {}", round);
        }
        round += 1;
    }
    let intact = buf
        .iter()
        .enumerate()
        .all(|(i, w)| *w == (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    t.check(
        intact,
        format_args!("memory pattern intact after the other guest crashed"),
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
