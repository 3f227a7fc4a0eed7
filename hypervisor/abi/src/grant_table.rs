//! `grant_table.h`: grant entries (v1, v2), `GTF_*`, `GNTMAP_*`, `GNTST_*` and every `GNTTABOP_*` struct.
//!
//! Layouts follow Xen 4.17's `xen/include/public/grant_table.h` for x86_64 (interface version
//! 0x00040e00): `XEN_GUEST_HANDLE(T)` is one 64-bit pointer, `xen_pfn_t` is 64 bits. C unions are
//! held as their widest member (plain integers or bytes) with typed accessors, so every struct
//! stays `FromBytes`/`IntoBytes` and a guest value is never transmuted into a Rust enum.

use crate::errno::Errno;
use crate::types::{DomId, Gfn, GrantHandle, GrantRef, Mfn};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

// ---------------------------------------------------------------------------------------------
// Grant entries
// ---------------------------------------------------------------------------------------------

/// A version-1 grant entry, as the granting guest writes it into its grant-table frames.
#[doc(alias = "grant_entry_v1")]
#[doc(alias = "grant_entry_v1_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GrantEntryV1 {
    /// `GTF_*`: type and flag information. Written by the guest and (`GTF_reading`,
    /// `GTF_writing`, transfer flags) by Xen.
    pub flags: u16,
    /// The domain being granted foreign privileges.
    pub domid: DomId,
    /// `GTF_permit_access`: the frame `domid` may map; `GTF_accept_transfer`: the frame
    /// `domid` may transfer into; `GTF_transfer_completed`: the transferred MFN.
    pub frame: u32,
}
const _: () = assert!(core::mem::size_of::<GrantEntryV1>() == 8);

/// Number of reserved grant entries at the start of a table (`GNTTAB_NR_RESERVED_ENTRIES`).
pub const GNTTAB_NR_RESERVED_ENTRIES: u32 = 8;
/// Reserved entry for the console ring (`GNTTAB_RESERVED_CONSOLE`).
pub const GNTTAB_RESERVED_CONSOLE: GrantRef = GrantRef(0);
/// Reserved entry for the xenstore ring (`GNTTAB_RESERVED_XENSTORE`).
pub const GNTTAB_RESERVED_XENSTORE: GrantRef = GrantRef(1);

/// `GTF_invalid`: the entry grants nothing.
#[doc(alias = "GTF_invalid")]
pub const GTF_INVALID: u16 = 0;
/// `GTF_permit_access`: `domid` may map or copy `frame`.
#[doc(alias = "GTF_permit_access")]
pub const GTF_PERMIT_ACCESS: u16 = 1;
/// `GTF_accept_transfer`: `domid` may transfer a page into this entry.
#[doc(alias = "GTF_accept_transfer")]
pub const GTF_ACCEPT_TRANSFER: u16 = 2;
/// `GTF_transitive` (v2 only): grant access to another domain's grant.
#[doc(alias = "GTF_transitive")]
pub const GTF_TRANSITIVE: u16 = 3;
/// `GTF_type_mask`: the bits holding the entry type.
#[doc(alias = "GTF_type_mask")]
pub const GTF_TYPE_MASK: u16 = 3;
/// `_GTF_readonly`: bit number of [`GTF_READONLY`].
#[doc(alias = "_GTF_readonly")]
pub const GTF_READONLY_BIT: u32 = 2;
/// `GTF_readonly`: restrict the grantee to read-only access.
#[doc(alias = "GTF_readonly")]
pub const GTF_READONLY: u16 = 1 << GTF_READONLY_BIT;
/// `_GTF_reading`: bit number of [`GTF_READING`].
#[doc(alias = "_GTF_reading")]
pub const GTF_READING_BIT: u32 = 3;
/// `GTF_reading`: set by Xen while the grantee may read the frame.
#[doc(alias = "GTF_reading")]
pub const GTF_READING: u16 = 1 << GTF_READING_BIT;
/// `_GTF_writing`: bit number of [`GTF_WRITING`].
#[doc(alias = "_GTF_writing")]
pub const GTF_WRITING_BIT: u32 = 4;
/// `GTF_writing`: set by Xen while the grantee may write the frame.
#[doc(alias = "GTF_writing")]
pub const GTF_WRITING: u16 = 1 << GTF_WRITING_BIT;
/// `GTF_PWT`: map with write-through caching.
pub const GTF_PWT: u16 = 1 << 5;
/// `GTF_PCD`: map with caching disabled.
pub const GTF_PCD: u16 = 1 << 6;
/// `GTF_PAT`: map with the PAT bit set.
pub const GTF_PAT: u16 = 1 << 7;
/// `GTF_sub_page` (v2 only): the grant covers part of a page.
#[doc(alias = "GTF_sub_page")]
pub const GTF_SUB_PAGE: u16 = 1 << 8;
/// `GTF_transfer_committed`: Xen has committed to transferring a page into the entry.
#[doc(alias = "GTF_transfer_committed")]
pub const GTF_TRANSFER_COMMITTED: u16 = 1 << 2;
/// `GTF_transfer_completed`: the transfer is complete; `frame` holds the new MFN.
#[doc(alias = "GTF_transfer_completed")]
pub const GTF_TRANSFER_COMPLETED: u16 = 1 << 3;

/// The common header of a v2 grant entry (`grant_entry_header`).
#[doc(alias = "grant_entry_header")]
#[doc(alias = "grant_entry_header_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GrantEntryHeader {
    /// `GTF_*` type and flags.
    pub flags: u16,
    /// The domain being granted foreign privileges.
    pub domid: DomId,
}
const _: () = assert!(core::mem::size_of::<GrantEntryHeader>() == 4);

/// A version-2 grant entry (`union grant_entry_v2`), held as its 16 raw bytes.
///
/// Read it through the typed views ([`GrantEntryV2::full_page`], [`GrantEntryV2::sub_page`],
/// [`GrantEntryV2::transitive`]), which decode a copy.
#[doc(alias = "grant_entry_v2")]
#[doc(alias = "grant_entry_v2_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C, align(8))]
pub struct GrantEntryV2 {
    /// The union's bytes (`uint32_t __spacer[4]`).
    pub bytes: [u8; 16],
}
const _: () = assert!(core::mem::size_of::<GrantEntryV2>() == 16);

/// The `full_page` member of `grant_entry_v2`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GrantEntryV2FullPage {
    /// Type and flags.
    pub hdr: GrantEntryHeader,
    /// Explicit padding (`pad0`).
    pub pad0: u32,
    /// The frame, with v1 semantics.
    pub frame: u64,
}
const _: () = assert!(core::mem::size_of::<GrantEntryV2FullPage>() == 16);

/// The `sub_page` member of `grant_entry_v2`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GrantEntryV2SubPage {
    /// Type and flags (`GTF_permit_access | GTF_sub_page`).
    pub hdr: GrantEntryHeader,
    /// First byte granted.
    pub page_off: u16,
    /// Number of bytes granted.
    pub length: u16,
    /// The frame.
    pub frame: u64,
}
const _: () = assert!(core::mem::size_of::<GrantEntryV2SubPage>() == 16);

/// The `transitive` member of `grant_entry_v2`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GrantEntryV2Transitive {
    /// Type and flags (`GTF_transitive`).
    pub hdr: GrantEntryHeader,
    /// The domain whose grant is passed on.
    pub trans_domid: DomId,
    /// Explicit padding (`pad0`).
    pub pad0: u16,
    /// The grant in `trans_domid`'s table.
    pub gref: GrantRef,
}
const _: () = assert!(core::mem::size_of::<GrantEntryV2Transitive>() == 12);

impl GrantEntryV2 {
    /// The `hdr` member.
    pub fn hdr(&self) -> GrantEntryHeader {
        let (h, _) = GrantEntryHeader::read_from_prefix(&self.bytes).unwrap_or_default();
        h
    }
    /// The `full_page` member.
    pub fn full_page(&self) -> GrantEntryV2FullPage {
        GrantEntryV2FullPage::read_from_bytes(&self.bytes).unwrap_or_default()
    }
    /// The `sub_page` member.
    pub fn sub_page(&self) -> GrantEntryV2SubPage {
        GrantEntryV2SubPage::read_from_bytes(&self.bytes).unwrap_or_default()
    }
    /// The `transitive` member.
    pub fn transitive(&self) -> GrantEntryV2Transitive {
        let (t, _) = GrantEntryV2Transitive::read_from_prefix(&self.bytes).unwrap_or_default();
        t
    }
    /// An entry holding `full_page`.
    pub fn from_full_page(v: GrantEntryV2FullPage) -> Self {
        let mut e = Self::default();
        e.bytes.copy_from_slice(v.as_bytes());
        e
    }
    /// An entry holding `sub_page`.
    pub fn from_sub_page(v: GrantEntryV2SubPage) -> Self {
        let mut e = Self::default();
        e.bytes.copy_from_slice(v.as_bytes());
        e
    }
    /// An entry holding `transitive` (the last four bytes zero).
    pub fn from_transitive(v: GrantEntryV2Transitive) -> Self {
        let mut e = Self::default();
        e.bytes[..12].copy_from_slice(v.as_bytes());
        e
    }
}

/// A v2 status word (`grant_status_t`): `GTF_reading`/`GTF_writing` live here in v2.
#[doc(alias = "grant_status_t")]
pub type GrantStatus = u16;

// ---------------------------------------------------------------------------------------------
// Sub-ops
// ---------------------------------------------------------------------------------------------

/// Bits of `grant_table_op`'s 32-bit command above the sub-op: an argument only
/// `GNTTABOP_cache_flush`'s continuation may carry (Xen's `GNTTABOP_CONTINUATION_ARG_SHIFT`, from
/// its `common/grant_table.c`, not the public headers); with any other sub-op they are `-EINVAL`.
pub const GNTTABOP_CONTINUATION_ARG_SHIFT: u32 = 12;
/// Mask of the sub-op in `grant_table_op`'s command (Xen's `GNTTABOP_CMD_MASK`).
pub const GNTTABOP_CMD_MASK: u32 = (1 << GNTTABOP_CONTINUATION_ARG_SHIFT) - 1;

/// The `GNTTABOP_*` sub-op numbers of `HYPERVISOR_grant_table_op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum GnttabOp {
    /// Map a grant into the caller's address space.
    #[doc(alias = "GNTTABOP_map_grant_ref")]
    MapGrantRef = 0,
    /// Tear down a grant mapping by handle.
    #[doc(alias = "GNTTABOP_unmap_grant_ref")]
    UnmapGrantRef = 1,
    /// Size the grant table and return its frames.
    #[doc(alias = "GNTTABOP_setup_table")]
    SetupTable = 2,
    /// Dump a domain's grant table to the console (debug).
    #[doc(alias = "GNTTABOP_dump_table")]
    DumpTable = 3,
    /// Transfer a page to another domain.
    #[doc(alias = "GNTTABOP_transfer")]
    Transfer = 4,
    /// Copy between granted and/or local frames.
    #[doc(alias = "GNTTABOP_copy")]
    Copy = 5,
    /// Report the table's current and maximum size in frames.
    #[doc(alias = "GNTTABOP_query_size")]
    QuerySize = 6,
    /// Unmap a grant and put another PTE in its place.
    #[doc(alias = "GNTTABOP_unmap_and_replace")]
    UnmapAndReplace = 7,
    /// Select the grant-table format version.
    #[doc(alias = "GNTTABOP_set_version")]
    SetVersion = 8,
    /// Return the v2 status frames.
    #[doc(alias = "GNTTABOP_get_status_frames")]
    GetStatusFrames = 9,
    /// Report a domain's grant-table version.
    #[doc(alias = "GNTTABOP_get_version")]
    GetVersion = 10,
    /// Swap two grant entries.
    #[doc(alias = "GNTTABOP_swap_grant_ref")]
    SwapGrantRef = 11,
    /// Clean or invalidate caches for a grant (Arm).
    #[doc(alias = "GNTTABOP_cache_flush")]
    CacheFlush = 12,
}

impl GnttabOp {
    /// Every sub-op, in number order.
    pub const ALL: &'static [GnttabOp] = &[
        GnttabOp::MapGrantRef,
        GnttabOp::UnmapGrantRef,
        GnttabOp::SetupTable,
        GnttabOp::DumpTable,
        GnttabOp::Transfer,
        GnttabOp::Copy,
        GnttabOp::QuerySize,
        GnttabOp::UnmapAndReplace,
        GnttabOp::SetVersion,
        GnttabOp::GetStatusFrames,
        GnttabOp::GetVersion,
        GnttabOp::SwapGrantRef,
        GnttabOp::CacheFlush,
    ];
}

impl TryFrom<u32> for GnttabOp {
    type Error = Errno;

    /// An unknown sub-op is `ENOSYS`, as `do_grant_table_op`'s default case returns.
    fn try_from(v: u32) -> Result<Self, Errno> {
        Self::ALL
            .iter()
            .copied()
            .find(|op| *op as u32 == v)
            .ok_or(Errno::ENOSYS)
    }
}

impl From<GnttabOp> for u32 {
    fn from(op: GnttabOp) -> u32 {
        op as u32
    }
}

/// `GNTTABOP_map_grant_ref` argument.
#[doc(alias = "gnttab_map_grant_ref")]
#[doc(alias = "gnttab_map_grant_ref_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabMapGrantRef {
    /// IN: virtual address (or PTE machine address with `GNTMAP_contains_pte`).
    pub host_addr: u64,
    /// IN: `GNTMAP_*`.
    pub flags: u32,
    /// IN: the grant reference in `dom`'s table.
    pub r#ref: GrantRef,
    /// IN: the granting domain.
    pub dom: DomId,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// OUT: the maptrack handle.
    pub handle: GrantHandle,
    /// OUT: bus address for `GNTMAP_device_map`.
    pub dev_bus_addr: u64,
}
const _: () = assert!(core::mem::size_of::<GnttabMapGrantRef>() == 32);

/// `GNTTABOP_unmap_grant_ref` argument.
#[doc(alias = "gnttab_unmap_grant_ref")]
#[doc(alias = "gnttab_unmap_grant_ref_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabUnmapGrantRef {
    /// IN: the host address that was mapped (0 to skip the host side).
    pub host_addr: u64,
    /// IN: the device address that was mapped (0 to skip the device side).
    pub dev_bus_addr: u64,
    /// IN: the handle `map_grant_ref` returned.
    pub handle: GrantHandle,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Explicit tail padding.
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<GnttabUnmapGrantRef>() == 24);

/// `GNTTABOP_setup_table` argument.
#[doc(alias = "gnttab_setup_table")]
#[doc(alias = "gnttab_setup_table_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabSetupTable {
    /// IN: the domain (`DOMID_SELF` or, privileged, another).
    pub dom: DomId,
    /// Explicit padding.
    pub _pad0: [u8; 2],
    /// IN: number of frames wanted.
    pub nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Explicit padding.
    pub _pad1: [u8; 6],
    /// OUT: guest pointer to `nr_frames` `xen_pfn_t`s (`XEN_GUEST_HANDLE(xen_pfn_t)`).
    pub frame_list: u64,
}
const _: () = assert!(core::mem::size_of::<GnttabSetupTable>() == 24);

/// `GNTTABOP_dump_table` argument.
#[doc(alias = "gnttab_dump_table")]
#[doc(alias = "gnttab_dump_table_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabDumpTable {
    /// IN: the domain.
    pub dom: DomId,
    /// OUT: `GNTST_*`.
    pub status: i16,
}
const _: () = assert!(core::mem::size_of::<GnttabDumpTable>() == 4);

/// `GNTTABOP_transfer` argument.
#[doc(alias = "gnttab_transfer")]
#[doc(alias = "gnttab_transfer_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabTransfer {
    /// IN: the frame to give away (an MFN for PV guests).
    pub mfn: Mfn,
    /// IN: the receiving domain.
    pub domid: DomId,
    /// Explicit padding.
    pub _pad0: [u8; 2],
    /// IN: the receiver's `GTF_accept_transfer` entry.
    pub r#ref: GrantRef,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Explicit tail padding.
    pub _pad1: [u8; 6],
}
const _: () = assert!(core::mem::size_of::<GnttabTransfer>() == 24);

/// `_GNTCOPY_source_gref`: bit number of [`GNTCOPY_SOURCE_GREF`].
#[doc(alias = "_GNTCOPY_source_gref")]
pub const GNTCOPY_SOURCE_GREF_BIT: u32 = 0;
/// `GNTCOPY_source_gref`: `source.u` is a grant reference (else a local frame).
#[doc(alias = "GNTCOPY_source_gref")]
pub const GNTCOPY_SOURCE_GREF: u16 = 1 << GNTCOPY_SOURCE_GREF_BIT;
/// `_GNTCOPY_dest_gref`: bit number of [`GNTCOPY_DEST_GREF`].
#[doc(alias = "_GNTCOPY_dest_gref")]
pub const GNTCOPY_DEST_GREF_BIT: u32 = 1;
/// `GNTCOPY_dest_gref`: `dest.u` is a grant reference (else a local frame).
#[doc(alias = "GNTCOPY_dest_gref")]
pub const GNTCOPY_DEST_GREF: u16 = 1 << GNTCOPY_DEST_GREF_BIT;

/// One side of a `GNTTABOP_copy` (`struct gnttab_copy_ptr`).
#[doc(alias = "gnttab_copy_ptr")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabCopyPtr {
    /// `union { grant_ref_t ref; xen_pfn_t gmfn; } u`, as its 64-bit member; see
    /// [`GnttabCopyPtr::gref`] and [`GnttabCopyPtr::gmfn`].
    pub u: u64,
    /// The domain owning the grant or frame.
    pub domid: DomId,
    /// Byte offset in the page.
    pub offset: u16,
    /// Explicit tail padding.
    pub _pad: [u8; 4],
}
const _: () = assert!(core::mem::size_of::<GnttabCopyPtr>() == 16);

impl GnttabCopyPtr {
    /// `u.ref`: the low 32 bits of the union (x86 is little-endian).
    pub fn gref(&self) -> GrantRef {
        GrantRef(self.u as u32)
    }
    /// `u.gmfn`.
    pub fn gmfn(&self) -> Gfn {
        Gfn(self.u)
    }
    /// Store `r` as `u.ref`, leaving the union's upper bytes zero.
    pub fn set_gref(&mut self, r: GrantRef) {
        self.u = u64::from(r.0);
    }
}

/// `GNTTABOP_copy` argument.
#[doc(alias = "gnttab_copy")]
#[doc(alias = "gnttab_copy_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabCopy {
    /// IN: where to copy from.
    pub source: GnttabCopyPtr,
    /// IN: where to copy to.
    pub dest: GnttabCopyPtr,
    /// IN: number of bytes.
    pub len: u16,
    /// IN: `GNTCOPY_*`.
    pub flags: u16,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Explicit tail padding.
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<GnttabCopy>() == 40);

/// `GNTTABOP_query_size` argument.
#[doc(alias = "gnttab_query_size")]
#[doc(alias = "gnttab_query_size_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabQuerySize {
    /// IN: the domain.
    pub dom: DomId,
    /// Explicit padding.
    pub _pad0: [u8; 2],
    /// OUT: current number of frames.
    pub nr_frames: u32,
    /// OUT: maximum number of frames.
    pub max_nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Explicit tail padding.
    pub _pad1: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<GnttabQuerySize>() == 16);

/// `GNTTABOP_unmap_and_replace` argument.
#[doc(alias = "gnttab_unmap_and_replace")]
#[doc(alias = "gnttab_unmap_and_replace_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabUnmapAndReplace {
    /// IN: the mapped address.
    pub host_addr: u64,
    /// IN: the address whose PTE replaces it (and is zapped).
    pub new_addr: u64,
    /// IN: the mapping's handle.
    pub handle: GrantHandle,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Explicit tail padding.
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<GnttabUnmapAndReplace>() == 24);

/// `GNTTABOP_set_version` argument.
#[doc(alias = "gnttab_set_version")]
#[doc(alias = "gnttab_set_version_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabSetVersion {
    /// IN: the version wanted; OUT: the version in force.
    pub version: u32,
}
const _: () = assert!(core::mem::size_of::<GnttabSetVersion>() == 4);

/// `GNTTABOP_get_status_frames` argument.
#[doc(alias = "gnttab_get_status_frames")]
#[doc(alias = "gnttab_get_status_frames_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabGetStatusFrames {
    /// IN: number of frames the list holds.
    pub nr_frames: u32,
    /// IN: the domain.
    pub dom: DomId,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// OUT: guest pointer to `nr_frames` `uint64_t`s (`XEN_GUEST_HANDLE(uint64_t)`).
    pub frame_list: u64,
}
const _: () = assert!(core::mem::size_of::<GnttabGetStatusFrames>() == 16);

/// `GNTTABOP_get_version` argument.
#[doc(alias = "gnttab_get_version")]
#[doc(alias = "gnttab_get_version_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabGetVersion {
    /// IN: the domain.
    pub dom: DomId,
    /// Padding (`pad`).
    pub pad: u16,
    /// OUT: the version.
    pub version: u32,
}
const _: () = assert!(core::mem::size_of::<GnttabGetVersion>() == 8);

/// `GNTTABOP_swap_grant_ref` argument.
#[doc(alias = "gnttab_swap_grant_ref")]
#[doc(alias = "gnttab_swap_grant_ref_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabSwapGrantRef {
    /// IN: first entry.
    pub ref_a: GrantRef,
    /// IN: second entry.
    pub ref_b: GrantRef,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Explicit tail padding.
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<GnttabSwapGrantRef>() == 12);

/// `GNTTAB_CACHE_CLEAN`: clean the range.
pub const GNTTAB_CACHE_CLEAN: u32 = 1 << 0;
/// `GNTTAB_CACHE_INVAL`: invalidate the range.
pub const GNTTAB_CACHE_INVAL: u32 = 1 << 1;
/// `GNTTAB_CACHE_SOURCE_GREF`: `a.ref` names a grant (else `a.dev_bus_addr`).
pub const GNTTAB_CACHE_SOURCE_GREF: u32 = 1 << 31;

/// `GNTTABOP_cache_flush` argument.
#[doc(alias = "gnttab_cache_flush")]
#[doc(alias = "gnttab_cache_flush_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabCacheFlush {
    /// `union { uint64_t dev_bus_addr; grant_ref_t ref; } a`, as its 64-bit member.
    pub a: u64,
    /// Offset from the start of the grant.
    pub offset: u16,
    /// Size within the grant.
    pub length: u16,
    /// `GNTTAB_CACHE_*`.
    pub op: u32,
}
const _: () = assert!(core::mem::size_of::<GnttabCacheFlush>() == 16);

impl GnttabCacheFlush {
    /// `a.ref`.
    pub fn gref(&self) -> GrantRef {
        GrantRef(self.a as u32)
    }
    /// `a.dev_bus_addr`.
    pub fn dev_bus_addr(&self) -> u64 {
        self.a
    }
}

// ---------------------------------------------------------------------------------------------
// GNTMAP_*
// ---------------------------------------------------------------------------------------------

/// `GNTMAP_device_map`: map for access by I/O devices.
#[doc(alias = "GNTMAP_device_map")]
pub const GNTMAP_DEVICE_MAP: u32 = 1 << 0;
/// `GNTMAP_host_map`: map for access by host CPUs.
#[doc(alias = "GNTMAP_host_map")]
pub const GNTMAP_HOST_MAP: u32 = 1 << 1;
/// `GNTMAP_readonly`: read-only access.
#[doc(alias = "GNTMAP_readonly")]
pub const GNTMAP_READONLY: u32 = 1 << 2;
/// `GNTMAP_application_map`: the host mapping is usable by applications too.
#[doc(alias = "GNTMAP_application_map")]
pub const GNTMAP_APPLICATION_MAP: u32 = 1 << 3;
/// `GNTMAP_contains_pte`: `host_addr` is the machine address of the PTE to update.
#[doc(alias = "GNTMAP_contains_pte")]
pub const GNTMAP_CONTAINS_PTE: u32 = 1 << 4;
/// `_GNTMAP_guest_avail0`: first bit left to the guest.
#[doc(alias = "_GNTMAP_guest_avail0")]
pub const GNTMAP_GUEST_AVAIL0_BIT: u32 = 16;
/// `GNTMAP_guest_avail_mask`: bits Xen ignores and guests may use.
#[doc(alias = "GNTMAP_guest_avail_mask")]
pub const GNTMAP_GUEST_AVAIL_MASK: u32 = u32::MAX << GNTMAP_GUEST_AVAIL0_BIT;

// ---------------------------------------------------------------------------------------------
// GNTST_*
// ---------------------------------------------------------------------------------------------

/// A per-operation grant status (`GNTST_*`), as written to each op's `status` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i16)]
pub enum GnttabStatus {
    /// Normal return.
    #[doc(alias = "GNTST_okay")]
    Okay = 0,
    /// General undefined error.
    #[doc(alias = "GNTST_general_error")]
    GeneralError = -1,
    /// Unrecognised domain id.
    #[doc(alias = "GNTST_bad_domain")]
    BadDomain = -2,
    /// Unrecognised or inappropriate gntref.
    #[doc(alias = "GNTST_bad_gntref")]
    BadGntref = -3,
    /// Unrecognised or inappropriate handle.
    #[doc(alias = "GNTST_bad_handle")]
    BadHandle = -4,
    /// Inappropriate virtual address to map.
    #[doc(alias = "GNTST_bad_virt_addr")]
    BadVirtAddr = -5,
    /// Inappropriate device address to unmap.
    #[doc(alias = "GNTST_bad_dev_addr")]
    BadDevAddr = -6,
    /// Out of space in I/O MMU.
    #[doc(alias = "GNTST_no_device_space")]
    NoDeviceSpace = -7,
    /// Not enough privilege for operation.
    #[doc(alias = "GNTST_permission_denied")]
    PermissionDenied = -8,
    /// Specified page was invalid for op.
    #[doc(alias = "GNTST_bad_page")]
    BadPage = -9,
    /// Copy arguments cross page boundary.
    #[doc(alias = "GNTST_bad_copy_arg")]
    BadCopyArg = -10,
    /// Transfer page address too large.
    #[doc(alias = "GNTST_address_too_big")]
    AddressTooBig = -11,
    /// Operation not done; try again.
    #[doc(alias = "GNTST_eagain")]
    Eagain = -12,
    /// Out of space (handles etc).
    #[doc(alias = "GNTST_no_space")]
    NoSpace = -13,
}

/// `GNTTABOP_error_msgs`: the message for each status, indexed by `-status`.
#[doc(alias = "GNTTABOP_error_msgs")]
pub const GNTTABOP_ERROR_MSGS: [&str; 14] = [
    "okay",
    "undefined error",
    "unrecognised domain id",
    "invalid grant reference",
    "invalid mapping handle",
    "invalid virtual address",
    "invalid device address",
    "no spare translation slot in the I/O MMU",
    "permission denied",
    "bad page",
    "copy arguments cross page boundary",
    "page address size too large",
    "operation not done; try again",
    "out of space",
];

impl GnttabStatus {
    /// Every status, from `GNTST_okay` down to `GNTST_no_space`.
    pub const ALL: &'static [GnttabStatus] = &[
        GnttabStatus::Okay,
        GnttabStatus::GeneralError,
        GnttabStatus::BadDomain,
        GnttabStatus::BadGntref,
        GnttabStatus::BadHandle,
        GnttabStatus::BadVirtAddr,
        GnttabStatus::BadDevAddr,
        GnttabStatus::NoDeviceSpace,
        GnttabStatus::PermissionDenied,
        GnttabStatus::BadPage,
        GnttabStatus::BadCopyArg,
        GnttabStatus::AddressTooBig,
        GnttabStatus::Eagain,
        GnttabStatus::NoSpace,
    ];

    /// The raw value written to a `status` field.
    pub const fn code(self) -> i16 {
        self as i16
    }

    /// The status for a raw value, if defined.
    pub fn from_code(code: i16) -> Option<GnttabStatus> {
        Self::ALL.iter().copied().find(|s| s.code() == code)
    }

    /// The `GNTTABOP_error_msgs` string.
    pub fn msg(self) -> &'static str {
        let idx = usize::from(self.code().unsigned_abs());
        GNTTABOP_ERROR_MSGS
            .get(idx)
            .copied()
            .unwrap_or("undefined error")
    }

    /// The C name, e.g. `"GNTST_bad_gntref"`.
    pub const fn name(self) -> &'static str {
        match self {
            GnttabStatus::Okay => "GNTST_okay",
            GnttabStatus::GeneralError => "GNTST_general_error",
            GnttabStatus::BadDomain => "GNTST_bad_domain",
            GnttabStatus::BadGntref => "GNTST_bad_gntref",
            GnttabStatus::BadHandle => "GNTST_bad_handle",
            GnttabStatus::BadVirtAddr => "GNTST_bad_virt_addr",
            GnttabStatus::BadDevAddr => "GNTST_bad_dev_addr",
            GnttabStatus::NoDeviceSpace => "GNTST_no_device_space",
            GnttabStatus::PermissionDenied => "GNTST_permission_denied",
            GnttabStatus::BadPage => "GNTST_bad_page",
            GnttabStatus::BadCopyArg => "GNTST_bad_copy_arg",
            GnttabStatus::AddressTooBig => "GNTST_address_too_big",
            GnttabStatus::Eagain => "GNTST_eagain",
            GnttabStatus::NoSpace => "GNTST_no_space",
        }
    }
}

impl From<GnttabStatus> for i16 {
    fn from(s: GnttabStatus) -> i16 {
        s.code()
    }
}

impl core::fmt::Display for GnttabStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.msg())
    }
}

// Field offsets that padding could silently move, checked against the C headers (x86_64).
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(GnttabMapGrantRef, status) == 18);
    assert!(offset_of!(GnttabMapGrantRef, handle) == 20);
    assert!(offset_of!(GnttabMapGrantRef, dev_bus_addr) == 24);
    assert!(offset_of!(GnttabUnmapGrantRef, status) == 20);
    assert!(offset_of!(GnttabSetupTable, nr_frames) == 4);
    assert!(offset_of!(GnttabSetupTable, status) == 8);
    assert!(offset_of!(GnttabSetupTable, frame_list) == 16);
    assert!(offset_of!(GnttabTransfer, r#ref) == 12);
    assert!(offset_of!(GnttabTransfer, status) == 16);
    assert!(offset_of!(GnttabCopy, dest) == 16);
    assert!(offset_of!(GnttabCopy, len) == 32);
    assert!(offset_of!(GnttabCopy, status) == 36);
    assert!(offset_of!(GnttabQuerySize, nr_frames) == 4);
    assert!(offset_of!(GnttabQuerySize, status) == 12);
    assert!(offset_of!(GnttabGetStatusFrames, status) == 6);
    assert!(offset_of!(GnttabGetStatusFrames, frame_list) == 8);
    assert!(offset_of!(GnttabCacheFlush, op) == 12);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnttab_op_try_from_unknown_is_enosys() {
        // grant_table.c do_grant_table_op: `default: rc = -ENOSYS`.
        assert_eq!(GnttabOp::try_from(13), Err(Errno::ENOSYS));
        assert_eq!(GnttabOp::try_from(u32::MAX), Err(Errno::ENOSYS));
    }

    #[test]
    fn gnttab_op_try_from_every_number_round_trips() {
        for (i, op) in GnttabOp::ALL.iter().enumerate() {
            assert_eq!(*op as u32, i as u32);
            assert_eq!(GnttabOp::try_from(i as u32), Ok(*op));
        }
    }

    #[test]
    fn gnttab_status_msg_matches_error_msgs_table() {
        // grant_table.h GNTTABOP_error_msgs is indexed by -GNTST_*.
        assert_eq!(GnttabStatus::Okay.msg(), "okay");
        assert_eq!(
            GnttabStatus::BadCopyArg.msg(),
            "copy arguments cross page boundary"
        );
        assert_eq!(GnttabStatus::NoSpace.msg(), "out of space");
        for s in GnttabStatus::ALL {
            assert_eq!(GnttabStatus::from_code(s.code()), Some(*s));
        }
        assert_eq!(GnttabStatus::from_code(-14), None);
    }

    #[test]
    fn grant_entry_v2_views_decode_header_and_frame() {
        let e = GrantEntryV2::from_full_page(GrantEntryV2FullPage {
            hdr: GrantEntryHeader {
                flags: GTF_PERMIT_ACCESS,
                domid: DomId(3),
            },
            pad0: 0,
            frame: 0x1234_5678_9abc,
        });
        assert_eq!(e.hdr().domid, DomId(3));
        assert_eq!(e.full_page().frame, 0x1234_5678_9abc);
        let t = GrantEntryV2::from_transitive(GrantEntryV2Transitive {
            hdr: GrantEntryHeader {
                flags: GTF_TRANSITIVE,
                domid: DomId(1),
            },
            trans_domid: DomId(2),
            pad0: 0,
            gref: GrantRef(9),
        });
        assert_eq!(t.transitive().gref, GrantRef(9));
        assert_eq!(t.transitive().trans_domid, DomId(2));
    }

    #[test]
    fn gnttab_copy_ptr_gref_is_low_half_of_union() {
        let mut p = GnttabCopyPtr::default();
        p.set_gref(GrantRef(7));
        assert_eq!(p.gref(), GrantRef(7));
        assert_eq!(p.as_bytes()[..4], [7, 0, 0, 0]);
    }

    #[test]
    fn gnttab_map_grant_ref_field_offsets_match_c() {
        // struct gnttab_map_grant_ref on x86_64: host_addr@0 flags@8 ref@12 dom@16 status@18
        // handle@20 dev_bus_addr@24.
        let m = GnttabMapGrantRef {
            host_addr: 0,
            flags: 0,
            r#ref: GrantRef(0),
            dom: DomId(0),
            status: -1,
            handle: GrantHandle(0x0102_0304),
            dev_bus_addr: 0,
        };
        let b = m.as_bytes();
        assert_eq!(&b[18..20], &[0xff, 0xff]);
        assert_eq!(&b[20..24], &[4, 3, 2, 1]);
    }
}
