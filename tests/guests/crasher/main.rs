//! crasher: a domU that prints a line and then stores to its own read-only page tables with no
//! trap table: the hypervisor must crash this domain (and only it). Used beside `survivor`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{println, sys};

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    println!("crasher: about to fault with no handler");
    let _ = sys::traps::write_fault(sys::start_info().pt_base);
    println!("crasher: still alive after an unhandled fault (wrong)");
}

#[cfg(not(target_os = "none"))]
fn main() {}
