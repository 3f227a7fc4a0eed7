//! badcalls: bad hypercall numbers are `-ENOSYS` and bad guest pointers `-EFAULT`, with the
//! domain (and hypervisor) unharmed: pointers into the hypervisor's range, unmapped pointers,
//! NULL, and a shutdown request whose argument cannot be read (which must not shut down).
//! `xenpmu_op` is -EOPNOTSUPP for every sub-op, as Xen 4.17 answers with its default `vpmu=off`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{abi::xen::Hypercall, println, sys, Test};

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    const ENOSYS: i64 = -38;
    const EFAULT: i64 = -14;
    for nr in [56u64, 63, 64, 99, 0xffff_ffff, 1 << 32, u64::MAX] {
        // hypercall_ints takes a u32 number; larger ones go through the raw form.
        let r = if nr <= u64::from(u32::MAX) {
            sys::hypercall_ints(nr as u32, [0; 5])
        } else {
            sys::hypercall_raw_nr(nr)
        };
        t.eq(r, ENOSYS, "unknown hypercall number");
    }
    t.eq(
        sys::console_write_raw(0xffff_8300_0000_0000, 16),
        EFAULT,
        "console_io from the hypervisor's direct map",
    );
    t.eq(
        sys::console_write_raw(0xffff_82d0_4000_0000, 16),
        EFAULT,
        "console_io from the hypervisor image",
    );
    t.eq(
        sys::console_write_raw(0x4000_0000, 16),
        EFAULT,
        "console_io from an unmapped page",
    );
    // (NULL itself is mapped for a kernel with VIRT_BASE 0: PFN 0 sits at virtual 0.)
    t.eq(
        sys::hypercall_ints(Hypercall::XenVersion as u32, [1, 0x4000_0000, 0, 0, 0]),
        EFAULT,
        "xen_version into an unmapped page",
    );
    t.eq(
        sys::hypercall_ints(
            Hypercall::XenVersion as u32,
            [1, 0xffff_8000_0000_0000, 0, 0, 0],
        ),
        EFAULT,
        "xen_version into the M2P",
    );
    t.eq(
        sys::hypercall_ints(Hypercall::SetTrapTable as u32, [0x4000_0000, 0, 0, 0, 0]),
        EFAULT,
        "set_trap_table from an unmapped page",
    );
    t.eq(
        sys::hypercall_ints(Hypercall::SchedOp as u32, [2, 0x4000_0000, 0, 0, 0]),
        EFAULT,
        "SCHEDOP_shutdown with an unreadable argument",
    );
    t.eq(
        sys::hypercall_ints(Hypercall::SchedOp as u32, [99, 0, 0, 0, 0]),
        ENOSYS,
        "unknown SCHEDOP",
    );
    // update_va_mapping: no mapping into the hypervisor's range, and never a writable mapping
    // of one of the guest's own page tables.
    let uvm = Hypercall::UpdateVaMapping as u32;
    let l4 = sys::read_cr3() & !0xfff;
    t.eq(
        sys::hypercall_ints(uvm, [0xffff_8300_0000_0000, l4 | 0x7, 2, 0, 0]),
        -22,
        "update_va_mapping into the hypervisor's range",
    );
    let free = sys::events::shared_info_va();
    t.eq(
        sys::hypercall_ints(uvm, [free, l4 | 0x7, 2, 0, 0]),
        -16,
        "update_va_mapping of the L4 writable: a type conflict",
    );
    // An LDT selector with no LDT loaded: the load faults and the null selector is loaded
    // instead (on an AP whose LDTR was never loaded, Ferrite once read the descriptor from
    // guest address 0xfef0 and took a fatal page fault: found by hcfuzz).
    t.eq(
        sys::hypercall_ints(Hypercall::SetSegmentBase as u32, [3, 0xfef7, 0, 0, 0]),
        0,
        "set_segment_base(GS_USER_SEL) with an LDT selector and no LDT",
    );
    println!("still alive after the bad calls");
    for op in [0u64, 2, 4, 99] {
        t.eq(
            sys::hypercall_ints(Hypercall::XenpmuOp as u32, [op, 0, 0, 0, 0]),
            -95,
            "xenpmu_op without a vPMU is -EOPNOTSUPP",
        );
    }
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
