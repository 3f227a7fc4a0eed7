//! Port I/O on behalf of guests (the emulated `in`/`out` of a vCPU with I/O privilege): the
//! ports the hypervisor drives itself are never touched, whatever the caller's policy says.

/// Port ranges (inclusive) the hypervisor keeps for itself, as Xen's `dom0_setup_permissions`
/// does, plus the serial port of the hypervisor's console (Xen's ns16550 denies it likewise).
pub const HYPERVISOR_PORTS: &[(u16, u16)] = &[
    (0x20, 0x21),   // master PIC
    (0xa0, 0xa1),   // slave PIC
    (0x40, 0x43),   // PIT
    (0x61, 0x61),   // PIT channel 2 gate / speaker
    (0xcfc, 0xcff), // PCI configuration data
    (0x3f8, 0x3ff), // COM1: the hypervisor's console
];

/// True if an access of `size` bytes at `port` is a valid size and touches none of
/// [`HYPERVISOR_PORTS`] (an access wrapping past 0xffff never is).
pub fn guest_may_touch(port: u16, size: u8) -> bool {
    let first = u32::from(port);
    let last = first + u32::from(size).saturating_sub(1);
    matches!(size, 1 | 2 | 4)
        && last <= 0xffff
        && HYPERVISOR_PORTS
            .iter()
            .all(|&(a, b)| last < u32::from(a) || first > u32::from(b))
}

/// Reads `size` (1, 2 or 4) bytes from `port` for a guest whose right to the port the caller
/// checked (the domain's I/O permissions and the vCPU's IOPL); `None` for a port of the
/// hypervisor's or a bad size.
pub fn guest_read(port: u16, size: u8) -> Option<u32> {
    if !guest_may_touch(port, size) {
        return None;
    }
    // SAFETY: not a port the hypervisor drives (checked): the device belongs to the domain the
    // caller permitted, and a read cannot affect the hypervisor's memory or devices.
    Some(unsafe { super::cpu::port_read(port, size) })
}

/// Writes the low `size` bytes of `value` to `port` for a guest, as [`guest_read`]; false for a
/// port of the hypervisor's or a bad size (nothing is written).
pub fn guest_write(port: u16, size: u8, value: u32) -> bool {
    if !guest_may_touch(port, size) {
        return false;
    }
    // SAFETY: as in `guest_read`.
    unsafe { super::cpu::port_write(port, size, value) };
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypervisor_ports_and_bad_sizes_are_never_touched() {
        assert!(guest_may_touch(0x70, 1), "CMOS index");
        assert!(guest_may_touch(0x71, 1), "CMOS data");
        assert!(!guest_may_touch(0x3f8, 1), "COM1");
        assert!(!guest_may_touch(0x3f6, 4), "a dword reaching COM1");
        assert!(!guest_may_touch(0x1e, 4), "a dword reaching the PIC");
        assert!(guest_may_touch(0x1c, 4), "the dword just below the PIC");
        assert!(!guest_may_touch(0xcfc, 4), "PCI config data");
        assert!(!guest_may_touch(0xfffe, 4), "wrapping past 0xffff");
        assert!(guest_may_touch(0xfffc, 4));
        assert!(!guest_may_touch(0x80, 3), "size 3");
        assert!(!guest_may_touch(0x80, 0), "size 0");
    }
}
