//! multicall: a batch of hypercalls runs in order, each entry's result written back, a failing
//! entry not stopping the others; a multicall inside a multicall is -EINVAL, a list reaching
//! into the hypervisor's range -EFAULT with nothing run; an `iret` entry returns to its frame
//! and ends the batch there (XSA-213: the entries after it do not run, in whatever mode the
//! frame chose), its result the frame's RAX.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::arch_x86::IretContext,
    abi::xen::{Hypercall, MulticallEntry},
    println, sys,
    sys::traps,
    Test,
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

    // A multicall inside a multicall (Xen's _MCSF_in_multicall): -EINVAL for that entry.
    let mut inner = [e(Hypercall::XenVersion, [0; 6])];
    let mut nested = [
        e(
            Hypercall::Multicall,
            [inner.as_mut_ptr() as u64, 1, 0, 0, 0, 0],
        ),
        e(Hypercall::XenVersion, [0; 6]),
    ];
    t.eq(
        sys::multicall(&mut nested),
        0,
        "a batch with a nested multicall",
    );
    t.eq(
        (
            nested[0].result as i64,
            nested[1].result as i64,
            inner[0].result,
        ),
        (-22, (4 << 16) | 17, 0xdead),
        "the nested multicall is -EINVAL, the rest runs",
    );
    // A list that runs into the hypervisor's range: -EFAULT before any entry runs.
    // SAFETY: the hypervisor refuses the list without touching it.
    let rc = unsafe {
        sys::hypercall(
            Hypercall::Multicall as u32,
            0xffff_8000_0000_0000 - 64,
            2,
            0,
            0,
            0,
        )
    };
    t.eq(rc, -14, "a list into the hypervisor's range: -EFAULT");
    // The count is 32 bits wide (Xen's `uint32_t nr_calls`): 2^32 + 1 is one call.
    let mut one = [
        e(Hypercall::XenVersion, [0; 6]),
        e(Hypercall::XenVersion, [0; 6]),
    ];
    // SAFETY: a live list of two entries; the hypervisor runs the first only.
    let rc = unsafe {
        sys::hypercall(
            Hypercall::Multicall as u32,
            one.as_mut_ptr() as u64,
            (1 << 32) | 1,
            0,
            0,
            0,
        )
    };
    t.eq(
        (rc, one[0].result as i64, one[1].result),
        (0, (4 << 16) | 17, 0xdead),
        "a count of 2^32 + 1 runs one entry",
    );

    // XSA-213: `iret` in a multicall returns to its frame and ends the batch.
    t.eq(traps::install(&[]), 0, "set_trap_table");
    let stack = [0u64; 64];
    let frame = IretContext {
        rax: 0x1234_5678,
        r11: 0,
        rcx: 0,
        flags: 0,
        rip: traps::iret_landing(),
        cs: 0xe030,
        rflags: 0x2,
        rsp: stack.as_ptr() as u64 + 256,
        ss: 0xe02b,
    };
    let mut with_iret = [
        e(Hypercall::XenVersion, [0; 6]),
        e(Hypercall::Iret, [0; 6]),
        e(Hypercall::XenVersion, [0; 6]),
    ];
    t.eq(
        traps::multicall_iret_probe(&frame, &mut with_iret).map(|x| x.vector),
        None,
        "the iret entry returns to its frame (no return from the multicall)",
    );
    t.eq(
        (
            with_iret[0].result as i64,
            with_iret[1].result,
            with_iret[2].result,
        ),
        ((4 << 16) | 17, 0x1234_5678, 0xdead),
        "the entry before ran, the iret's result is the frame's RAX, the one after did not run",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
