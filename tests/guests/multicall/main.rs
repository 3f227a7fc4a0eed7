//! multicall: a batch of hypercalls runs in order, each entry's result written back, a failing
//! entry not stopping the others.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::xen::{Hypercall, MulticallEntry},
    println, sys, Test,
};

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    let msg = b"(written from inside a multicall)\n";
    let e = |op: Hypercall, args: [u64; 6]| MulticallEntry {
        op: op as u64,
        result: 0xdead,
        args,
    };
    let mut batch = [
        e(Hypercall::XenVersion, [0, 0, 0, 0, 0, 0]),
        e(Hypercall::XenVersion, [0x7777, 0, 0, 0, 0, 0]),
        e(
            Hypercall::ConsoleIo,
            [0, msg.len() as u64, msg.as_ptr() as u64, 0, 0, 0],
        ),
        e(Hypercall::XenVersion, [7, 0, 0, 0, 0, 0]),
    ];
    t.eq(sys::multicall(&mut batch), 0, "multicall returns 0");
    let results: [i64; 4] = core::array::from_fn(|i| batch[i].result as i64);
    println!("results {:?}", results);
    t.eq(results, [(4 << 16) | 17, -38, 0, 4096], "per-entry results");
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
