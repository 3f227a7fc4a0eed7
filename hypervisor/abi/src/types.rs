//! Scalar types shared by every header: domain ids, frame numbers, ports, grant references.
//!
//! Each is a distinct `#[repr(transparent)]` newtype so a machine frame can never be passed where a
//! guest frame is meant; all derive `zerocopy`'s traits so they can sit inside ABI structs.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

macro_rules! newtype {
    ($(#[$m:meta])* $name:ident($inner:ty)) => {
        $(#[$m])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord,
            FromBytes, IntoBytes, Immutable, KnownLayout,
        )]
        #[repr(transparent)]
        pub struct $name(pub $inner);

        impl From<$inner> for $name {
            fn from(v: $inner) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $inner {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    };
}

newtype!(
    /// A domain id (`domid_t`, 16 bits). Values at or above [`DomId::FIRST_RESERVED`] are special.
    #[doc(alias = "domid_t")]
    DomId(u16)
);
newtype!(
    /// A machine frame number: a host-physical address shifted right by 12 (`xen_pfn_t` used as MFN).
    #[doc(alias = "xen_pfn_t")]
    #[doc(alias = "mfn")]
    Mfn(u64)
);
newtype!(
    /// A guest frame number as the guest names it (for PV: the pseudo-physical frame in its p2m).
    #[doc(alias = "gfn")]
    Gfn(u64)
);
newtype!(
    /// A pseudo-physical frame number inside a PV guest (index into its p2m list).
    #[doc(alias = "pfn")]
    Pfn(u64)
);
newtype!(
    /// An event-channel port (`evtchn_port_t`).
    #[doc(alias = "evtchn_port_t")]
    Port(u32)
);
newtype!(
    /// A grant reference: an index into the granting domain's grant table (`grant_ref_t`).
    #[doc(alias = "grant_ref_t")]
    GrantRef(u32)
);
newtype!(
    /// A handle to a grant mapping: an index into the mapping domain's maptrack table (`grant_handle_t`).
    #[doc(alias = "grant_handle_t")]
    GrantHandle(u32)
);
newtype!(
    /// A virtual CPU number within a domain.
    VcpuId(u32)
);

impl DomId {
    /// `DOMID_FIRST_RESERVED`: ids from here on are not ordinary domains.
    #[doc(alias = "DOMID_FIRST_RESERVED")]
    pub const FIRST_RESERVED: DomId = DomId(0x7FF0);
    /// `DOMID_SELF`: the calling domain.
    #[doc(alias = "DOMID_SELF")]
    pub const SELF: DomId = DomId(0x7FF0);
    /// `DOMID_IO`: owner of I/O memory.
    #[doc(alias = "DOMID_IO")]
    pub const IO: DomId = DomId(0x7FF1);
    /// `DOMID_XEN`: owner of hypervisor pages shared with privileged domains.
    #[doc(alias = "DOMID_XEN")]
    pub const XEN: DomId = DomId(0x7FF2);
    /// `DOMID_COW`: owner of sharable pages.
    #[doc(alias = "DOMID_COW")]
    pub const COW: DomId = DomId(0x7FF3);
    /// `DOMID_INVALID`: an unknown owner.
    #[doc(alias = "DOMID_INVALID")]
    pub const INVALID: DomId = DomId(0x7FF4);
    /// `DOMID_IDLE`: the idle domain.
    #[doc(alias = "DOMID_IDLE")]
    pub const IDLE: DomId = DomId(0x7FFF);
    /// `DOMID_MASK`.
    #[doc(alias = "DOMID_MASK")]
    pub const MASK: DomId = DomId(0x7FFF);

    /// True for an ordinary domain id (below `DOMID_FIRST_RESERVED`).
    pub const fn is_ordinary(self) -> bool {
        self.0 < Self::FIRST_RESERVED.0
    }
}

/// Page size of x86 (`XEN_PAGE_SIZE`).
#[doc(alias = "XEN_PAGE_SIZE")]
pub const PAGE_SIZE: usize = 4096;
/// `XEN_PAGE_SHIFT`.
#[doc(alias = "XEN_PAGE_SHIFT")]
pub const PAGE_SHIFT: u32 = 12;

impl Mfn {
    /// The machine address of the first byte of the frame.
    pub const fn addr(self) -> u64 {
        self.0 << PAGE_SHIFT
    }
    /// The frame containing machine address `addr`.
    pub const fn containing(addr: u64) -> Mfn {
        Mfn(addr >> PAGE_SHIFT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domid_self_is_reserved() {
        assert!(!DomId::SELF.is_ordinary());
        assert!(DomId(0).is_ordinary());
        assert!(DomId(0x7FEF).is_ordinary());
    }

    #[test]
    fn mfn_addr_round_trips() {
        assert_eq!(Mfn(0x1234).addr(), 0x1234000);
        assert_eq!(Mfn::containing(0x1234fff), Mfn(0x1234));
    }
}
