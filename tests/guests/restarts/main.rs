//! restarts: the initial domain watches a domU that is rebuilt 100 times (`restarts=100` on its
//! module; each death is a destruction, each rebuild takes the next domain id, as xl's
//! `on_poweroff=restart` does). It waits for the last generation (domain 101, or `last=N` on
//! its command line) to appear and to be destroyed, then checks that no generation is left. The hypervisor logs the free-frame
//! count after each destruction; the test compares the last with the count before the first
//! build. Ferrite only: Xen 4.17 on x86 cannot build domains from boot modules.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{abi::xen::Hypercall, println, sys, Test};

/// The last generation's domain id by default: the first is 1, each restart takes the next.
#[cfg(target_os = "none")]
const LAST: u16 = 101;

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    let last = domu_frontends::arg(b"last")
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(LAST);
    let mut seen = false;
    let mut polls = 0u64;
    loop {
        let r = sys::memory::of_domain(3, last);
        if r >= 0 {
            seen = true;
        } else if seen {
            break;
        }
        polls += 1;
        if polls.is_multiple_of(20_000) {
            println!("restarts: waiting for d{} (poll {})", last, polls);
        }
        sys::hypercall_ints(Hypercall::SchedOp as u32, [0, 0, 0, 0, 0]);
    }
    println!("restarts: d{} came and went", last);
    let left: u16 = (1..=last)
        .filter(|&d| sys::memory::of_domain(3, d) != -3)
        .count() as u16;
    t.check(
        left == 0,
        format_args!("domains 1..={last} are all destroyed: {left} left"),
    );
    t.finish();
}

#[cfg(not(target_os = "none"))]
fn main() {}
