//! Which I/O ports a domain may reach (Xen's `ioports_permit_access`/`ioports_deny_access`
//! rangeset), as a 64 Ki-bit bitmap. Access also needs the vCPU's virtual IOPL
//! (`PHYSDEVOP_set_iopl`): without it an `in`/`out` is a #GP for the guest; with it, a port the
//! domain may not reach reads as all ones and ignores writes, as on Xen.

use alloc::boxed::Box;

pub use crate::arch::x86_64::ioport::HYPERVISOR_PORTS;

/// A set of I/O ports.
#[derive(Clone)]
pub struct IoPorts(Box<[u64; 1024]>);

impl core::fmt::Debug for IoPorts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n: u32 = self.0.iter().map(|w| w.count_ones()).sum();
        write!(f, "IoPorts({n} ports)")
    }
}

impl IoPorts {
    /// No ports.
    pub fn none() -> Self {
        IoPorts(Box::new([0; 1024]))
    }

    /// What the hardware domain gets: every port but [`HYPERVISOR_PORTS`].
    pub fn hardware_domain() -> Self {
        let mut p = IoPorts(Box::new([u64::MAX; 1024]));
        for &(a, b) in HYPERVISOR_PORTS {
            p.set(a, b, false);
        }
        p
    }

    /// Permits (`allow`) or denies ports `first..=last`.
    pub fn set(&mut self, first: u16, last: u16, allow: bool) {
        for port in first..=last {
            let (w, b) = (usize::from(port) / 64, port % 64);
            if allow {
                self.0[w] |= 1 << b;
            } else {
                self.0[w] &= !(1 << b);
            }
        }
    }

    /// True if all of `port..port + size` may be reached (an access wrapping past 0xffff may
    /// not).
    pub fn permitted(&self, port: u16, size: u8) -> bool {
        (0..u32::from(size)).all(|i| {
            let p = u32::from(port) + i;
            p <= 0xffff && self.0[p as usize / 64] & (1 << (p % 64)) != 0
        })
    }
}

/// True if a vCPU with virtual IOPL `iopl` may issue I/O instructions in the given guest mode
/// (Xen's `iopl_ok`: the guest kernel counts as ring 1, or ring 0 under
/// `VMASST_TYPE_architectural_iopl`; guest user as ring 3).
pub fn iopl_ok(iopl: u8, kernel_mode: bool, architectural: bool) -> bool {
    let cpl = match (kernel_mode, architectural) {
        (true, true) => 0,
        (true, false) => 1,
        (false, _) => 3,
    };
    cpl <= iopl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_domain_gets_all_but_the_hypervisor_ports() {
        let p = IoPorts::hardware_domain();
        assert!(p.permitted(0x70, 2));
        assert!(p.permitted(0xcf8, 4));
        assert!(!p.permitted(0xcfc, 1));
        assert!(!p.permitted(0x3fd, 1));
        assert!(
            !p.permitted(0x3f6, 4),
            "an access overlapping COM1 is denied"
        );
        assert!(!p.permitted(0x20, 1) && !p.permitted(0x43, 1) && !p.permitted(0x61, 1));
        assert!(p.permitted(0x44, 1) && p.permitted(0x62, 1) && p.permitted(0xffff, 1));
        assert!(!p.permitted(0xfffe, 4), "wrapping past the last port");
    }

    #[test]
    fn set_and_none() {
        let mut p = IoPorts::none();
        assert!(!p.permitted(0x80, 1));
        p.set(0x80, 0x83, true);
        assert!(p.permitted(0x80, 4) && !p.permitted(0x81, 4));
        p.set(0x81, 0x81, false);
        assert!(!p.permitted(0x80, 2) && p.permitted(0x82, 2));
    }

    #[test]
    fn iopl_rules_match_xen() {
        assert!(!iopl_ok(0, true, false) && iopl_ok(0, true, true));
        assert!(iopl_ok(1, true, false) && !iopl_ok(1, false, false));
        assert!(!iopl_ok(2, false, true) && iopl_ok(3, false, false));
    }
}
