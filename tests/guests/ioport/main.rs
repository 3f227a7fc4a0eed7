//! ioport: port I/O of a PV kernel. Without I/O privilege an `in` is a #GP bounced to the guest;
//! after `PHYSDEVOP_set_iopl(1)` the initial domain reaches the CMOS RTC (an NVRAM byte written
//! and read back through ports 0x70/0x71, by the `dx` and immediate forms), while the
//! hypervisor's own serial port reads as all ones and ignores writes; an IOPL above 3 is
//! -EINVAL.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{abi::xen::Hypercall, println, sys, sys::traps, Test};

#[cfg(target_os = "none")]
fn set_iopl(iopl: u32) -> i64 {
    let mut arg = iopl.to_le_bytes();
    // PHYSDEVOP_set_iopl
    sys::hypercall_buf(Hypercall::PhysdevOp as u32, 6, &mut arg)
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table");

    let r = traps::port_in8(0x71);
    t.eq(
        r.err().map(|x| (x.vector, x.error_code)),
        Some((13, 0)),
        "`in` without I/O privilege is #GP(0)",
    );

    t.eq(set_iopl(4), -22, "PHYSDEVOP_set_iopl(4) is -EINVAL");
    t.eq(set_iopl(1), 0, "PHYSDEVOP_set_iopl(1)");

    // CMOS NVRAM byte 0x3f (general purpose, not used by firmware under QEMU).
    let index = 0x3f;
    let old = traps::port_out8(0x70, index).and_then(|()| traps::port_in8(0x71));
    println!("CMOS[{index:#x}] was {old:x?}");
    for value in [0xa5u8, 0x3c] {
        let wrote = traps::port_out8(0x70, index).and_then(|()| traps::port_out8(0x71, value));
        t.eq(wrote.is_ok(), true, "CMOS write");
        let back = traps::port_out8(0x70, index).and_then(|()| traps::cmos_data_in8());
        t.eq(back.ok(), Some(value), "CMOS byte read back (in al, imm8)");
        let back = traps::port_out8(0x70, index).and_then(|()| traps::port_in8(0x71));
        t.eq(back.ok(), Some(value), "CMOS byte read back (in al, dx)");
    }
    if let Ok(v) = old {
        let _ = traps::port_out8(0x70, index).and_then(|()| traps::port_out8(0x71, v));
    }

    // COM1 belongs to the hypervisor's console: reads are all ones, writes vanish.
    let lsr = traps::port_in8(0x3fd);
    t.eq(
        lsr.ok(),
        Some(0xff),
        "the hypervisor's COM1 LSR reads as 0xff",
    );
    t.eq(
        traps::port_out8(0x3f8, b'!').is_ok(),
        true,
        "a write to the hypervisor's COM1 is dropped without a fault",
    );
    // A 32-bit read zero-extends into RAX (the upper half the asm left there is cleared).
    t.eq(
        traps::port_in32(0x3f8).ok(),
        Some(0xffff_ffff),
        "32-bit read of a denied port: all ones, zero-extended",
    );

    // Back to no I/O privilege: #GP again.
    t.eq(set_iopl(0), 0, "PHYSDEVOP_set_iopl(0)");
    t.eq(
        traps::port_in8(0x70).err().map(|x| x.vector),
        Some(13),
        "`in` with IOPL 0 is #GP again",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
