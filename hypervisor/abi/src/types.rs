//! Scalar types shared by every header: domain ids, frame numbers, machine addresses, ports,
//! grant references.
//!
//! Each is a distinct `#[repr(transparent)]` newtype so a machine frame can never be passed where a
//! guest frame is meant, nor a frame number where an address is; all derive `zerocopy`'s traits so
//! they can sit inside ABI structs.

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

        impl core::fmt::LowerHex for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::LowerHex::fmt(&self.0, f)
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
    /// A machine (host-physical) address: what an [`Mfn`] shifted left by 12 names, plus an offset
    /// into the frame (Xen's `paddr_t` as `mfn_to_maddr` returns it).
    #[doc(alias = "paddr_t")]
    #[doc(alias = "maddr")]
    Maddr(u64)
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
    /// The machine address of the first byte of the frame, as the integer an ABI field or a
    /// page-table entry holds.
    pub const fn addr(self) -> u64 {
        self.0 << PAGE_SHIFT
    }
    /// The machine address of the first byte of the frame (`mfn_to_maddr`).
    #[doc(alias = "mfn_to_maddr")]
    pub const fn maddr(self) -> Maddr {
        Maddr(self.addr())
    }
    /// The frame containing machine address `addr`.
    pub const fn containing(addr: u64) -> Mfn {
        Mfn(addr >> PAGE_SHIFT)
    }
}

/// The frame `n` frames further on (`mfn_add`).
impl core::ops::Add<u64> for Mfn {
    type Output = Mfn;
    fn add(self, n: u64) -> Mfn {
        Mfn(self.0 + n)
    }
}

impl From<Mfn> for Maddr {
    fn from(mfn: Mfn) -> Maddr {
        mfn.maddr()
    }
}

impl Maddr {
    /// The frame containing the address (`maddr_to_mfn`, `PFN_DOWN`).
    #[doc(alias = "maddr_to_mfn")]
    #[doc(alias = "PFN_DOWN")]
    pub const fn mfn(self) -> Mfn {
        Mfn::containing(self.0)
    }
    /// The first frame that starts at or above the address (`PFN_UP`): the end of a range
    /// rounded out to whole frames.
    #[doc(alias = "PFN_UP")]
    pub const fn mfn_up(self) -> Mfn {
        Mfn(self.0.div_ceil(PAGE_SIZE as u64))
    }
    /// The byte offset of the address inside its frame (`PAGE_OFFSET`).
    pub const fn page_offset(self) -> usize {
        (self.0 & (PAGE_SIZE as u64 - 1)) as usize
    }
}

/// The address `n` bytes further on.
impl core::ops::Add<u64> for Maddr {
    type Output = Maddr;
    fn add(self, n: u64) -> Maddr {
        Maddr(self.0 + n)
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
        assert_eq!(Mfn(0x1234).maddr(), Maddr(0x1234000));
        assert_eq!(Maddr::from(Mfn(0x1234)).mfn(), Mfn(0x1234));
    }

    #[test]
    fn maddr_splits_into_frame_and_offset() {
        let ma = Maddr(0x1234_5ff8);
        assert_eq!((ma.mfn(), ma.page_offset()), (Mfn(0x12345), 0xff8));
        assert_eq!(ma.mfn().maddr() + ma.page_offset() as u64, ma);
        assert_eq!(Maddr(0x2000).mfn_up(), Mfn(2));
        assert_eq!(Maddr(0x2001).mfn_up(), Mfn(3));
        assert_eq!(Maddr(u64::MAX).mfn_up(), Mfn(1 << 52));
        assert_eq!(Mfn(7) + 3, Mfn(10));
    }
}
