//! Which I/O ports a domain may reach (Xen's `ioports_permit_access`/`ioports_deny_access`
//! rangeset), as a 64 Ki-bit bitmap. Access also needs the vCPU's virtual IOPL
//! (`PHYSDEVOP_set_iopl`): without it an `in`/`out` is a #GP for the guest; with it, a port the
//! domain may not reach reads as all ones and ignores writes, as on Xen.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU64, Ordering};

pub use crate::arch::x86_64::ioport::HYPERVISOR_PORTS;

/// A set of I/O ports, changeable while the domain runs (`XEN_DOMCTL_ioport_permission`).
pub struct IoPorts(Box<[AtomicU64; 1024]>);

impl core::fmt::Debug for IoPorts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n: u32 = self
            .0
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones())
            .sum();
        write!(f, "IoPorts({n} ports)")
    }
}

impl IoPorts {
    /// No ports.
    pub fn none() -> Self {
        IoPorts(Box::new([const { AtomicU64::new(0) }; 1024]))
    }

    /// What the hardware domain gets: every port but [`HYPERVISOR_PORTS`].
    pub fn hardware_domain() -> Self {
        let p = IoPorts(Box::new([const { AtomicU64::new(u64::MAX) }; 1024]));
        for &(a, b) in HYPERVISOR_PORTS {
            p.set(a, b, false);
        }
        p
    }

    /// Permits (`allow`) or denies ports `first..=last`.
    pub fn set(&self, first: u16, last: u16, allow: bool) {
        for port in first..=last {
            let (w, b) = (usize::from(port) / 64, port % 64);
            if allow {
                self.0[w].fetch_or(1 << b, Ordering::AcqRel);
            } else {
                self.0[w].fetch_and(!(1 << b), Ordering::AcqRel);
            }
        }
    }

    /// True if all of `port..port + size` may be reached (an access wrapping past 0xffff may
    /// not).
    pub fn permitted(&self, port: u16, size: u8) -> bool {
        self.all_permitted(u32::from(port), u32::from(size))
    }

    /// True if all of `first..first + count` may be reached (none past 0xffff).
    pub fn all_permitted(&self, first: u32, count: u32) -> bool {
        (0..count).all(|i| {
            let p = first.saturating_add(i);
            p <= 0xffff && self.0[p as usize / 64].load(Ordering::Acquire) & (1 << (p % 64)) != 0
        })
    }
}

/// `XEN_DOMCTL_ioport_permission` of `target` by `caller` (Xen's `arch_do_domctl`): a range
/// that is empty or runs past port 0xffff is `-EINVAL`; one the caller may not reach itself
/// `-EPERM`; else the target gains or loses it.
pub fn grant_permission(
    caller: &IoPorts,
    target: &IoPorts,
    first: u32,
    count: u32,
    allow: bool,
) -> Result<(), xen_abi::Errno> {
    let end = first.checked_add(count).ok_or(xen_abi::Errno::EINVAL)?;
    if end <= first || end > 0x1_0000 {
        return Err(xen_abi::Errno::EINVAL);
    }
    if !caller.all_permitted(first, count) {
        return Err(xen_abi::Errno::EPERM);
    }
    target.set(first as u16, (end - 1) as u16, allow);
    Ok(())
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
        let p = IoPorts::none();
        assert!(!p.permitted(0x80, 1));
        p.set(0x80, 0x83, true);
        assert!(p.permitted(0x80, 4) && !p.permitted(0x81, 4));
        p.set(0x81, 0x81, false);
        assert!(!p.permitted(0x80, 2) && p.permitted(0x82, 2));
    }

    #[test]
    fn permission_is_granted_as_xen_does() {
        let dom0 = IoPorts::hardware_domain();
        let d = IoPorts::none();
        assert_eq!(
            grant_permission(&dom0, &d, 0x80, 0, true),
            Err(xen_abi::Errno::EINVAL)
        );
        assert_eq!(
            grant_permission(&dom0, &d, 0xffff, 2, true),
            Err(xen_abi::Errno::EINVAL)
        );
        assert_eq!(
            grant_permission(&dom0, &d, u32::MAX, 2, true),
            Err(xen_abi::Errno::EINVAL)
        );
        assert_eq!(
            grant_permission(&dom0, &d, 0x3f8, 8, true),
            Err(xen_abi::Errno::EPERM)
        );
        assert!(!d.permitted(0x3f8, 1), "a refusal changes nothing");
        assert_eq!(grant_permission(&dom0, &d, 0x300, 0x20, true), Ok(()));
        assert!(d.permitted(0x300, 4) && d.permitted(0x31f, 1) && !d.permitted(0x320, 1));
        assert_eq!(grant_permission(&dom0, &d, 0x310, 0x10, false), Ok(()));
        assert!(d.permitted(0x30f, 1) && !d.permitted(0x310, 1));
        assert_eq!(grant_permission(&dom0, &d, 0xffff, 1, true), Ok(()));
        assert!(d.permitted(0xffff, 1));
    }

    #[test]
    fn iopl_rules_match_xen() {
        assert!(!iopl_ok(0, true, false) && iopl_ok(0, true, true));
        assert!(iopl_ok(1, true, false) && !iopl_ok(1, false, false));
        assert!(!iopl_ok(2, false, true) && iopl_ok(3, false, false));
    }
}
