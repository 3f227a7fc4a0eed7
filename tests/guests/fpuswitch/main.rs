//! fpuswitch: the virtual CR0.TS of a PV vCPU. `fpu_taskswitch(1)` sets it (a read of CR0
//! shows TS), the next SSE instruction raises #NM for the guest, and the delivery clears TS (the
//! instruction then runs); `fpu_taskswitch(0)` clears it with no #NM; a `mov` to CR0 with TS
//! set has the same effect as `fpu_taskswitch(1)`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{abi::xen::Hypercall, sys, sys::traps, Test};

#[cfg(target_os = "none")]
fn fpu_taskswitch(set: u64) -> i64 {
    sys::hypercall_ints(Hypercall::FpuTaskswitch as u32, [set, 0, 0, 0, 0])
}

#[cfg(target_os = "none")]
fn cr0() -> u64 {
    let v: u64;
    // SAFETY: a privileged read the hypervisor emulates for the guest kernel.
    unsafe { core::arch::asm!("mov {}, cr0", out(reg) v, options(nomem, nostack)) };
    v
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table");
    t.eq(
        traps::sse_op().map(|x| x.vector),
        None,
        "SSE runs with TS clear",
    );
    t.eq(fpu_taskswitch(1), 0, "fpu_taskswitch(1)");
    t.eq(cr0() & 8, 8, "CR0 reads with TS set");
    t.eq(
        traps::sse_op().map(|x| x.vector),
        Some(7),
        "SSE with TS set: #NM",
    );
    t.eq(cr0() & 8, 0, "delivering #NM cleared TS");
    t.eq(traps::sse_op().map(|x| x.vector), None, "SSE runs again");
    t.eq(fpu_taskswitch(1), 0, "fpu_taskswitch(1)");
    t.eq(fpu_taskswitch(0), 0, "fpu_taskswitch(0)");
    t.eq(
        traps::sse_op().map(|x| x.vector),
        None,
        "no #NM after TS is cleared",
    );
    // mov %cr0 with TS: the same virtual flag.
    let v = cr0() | 8;
    // SAFETY: a privileged write the hypervisor emulates (only TS matters to it).
    unsafe { core::arch::asm!("mov cr0, {}", in(reg) v, options(nomem, nostack)) };
    t.eq(
        traps::sse_op().map(|x| x.vector),
        Some(7),
        "mov %cr0 with TS: #NM",
    );
    t.eq(traps::sse_op().map(|x| x.vector), None, "and TS cleared");
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
