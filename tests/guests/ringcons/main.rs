//! ringcons: a domU writes through its console ring (`start_info.console.domU`: the page found
//! through the M2P, the port notified with `EVTCHNOP_send`) and waits until the hypervisor's
//! consumer has taken every byte, then powers off. Runs beside `survivor` as dom0 (Ferrite
//! only: Xen 4.17 on x86 cannot start a domU from a boot module).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::sys;

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let ok = sys::console_ring_write(b"ring console: hello from a domU through its console ring\n")
        && sys::console_ring_write(b"ring console: second line, after the first was consumed\n");
    if !ok {
        sys::console_write(b"ring console: no console ring in start_info\n");
        sys::shutdown(domu_frontends::abi::sched::ShutdownReason::Crash);
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
