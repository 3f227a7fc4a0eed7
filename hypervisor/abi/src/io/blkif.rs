//! `io/blkif.h`: the block device ring — requests (plain, discard, indirect), segments, responses,
//! `BLKIF_OP_*`, `BLKIF_RSP_*`, `VDISK_*` and the xenstore keys of the blkif handshake.
//!
//! The ring entry is [`BlkifRequest`] (112 bytes); a backend takes a copy off the ring and, by its
//! `operation`, reads the same bytes as a [`BlkifRequestDiscard`] or [`BlkifRequestIndirect`] with
//! [`BlkifRequest::as_discard`] / [`BlkifRequest::as_indirect`] — copies again, never casts of
//! shared memory.

use core::mem::size_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::ring::{entry_size, ring_size, BackRing, FrontRing};
use super::UnknownValue;
use crate::types::{GrantRef, PAGE_SIZE};

/// A virtual device handle (`blkif_vdev_t`).
#[doc(alias = "blkif_vdev_t")]
pub type BlkifVdev = u16;
/// A sector number (`blkif_sector_t`), in units of 512 bytes unless `feature-large-sector-size`.
#[doc(alias = "blkif_sector_t")]
pub type BlkifSector = u64;

/// `BLKIF_OP_READ`.
pub const BLKIF_OP_READ: u8 = 0;
/// `BLKIF_OP_WRITE`.
pub const BLKIF_OP_WRITE: u8 = 1;
/// `BLKIF_OP_WRITE_BARRIER` (optional, `feature-barrier`).
pub const BLKIF_OP_WRITE_BARRIER: u8 = 2;
/// `BLKIF_OP_FLUSH_DISKCACHE` (optional, `feature-flush-cache`).
pub const BLKIF_OP_FLUSH_DISKCACHE: u8 = 3;
/// `BLKIF_OP_RESERVED_1`: reserved (SLES device-specific packets).
pub const BLKIF_OP_RESERVED_1: u8 = 4;
/// `BLKIF_OP_DISCARD` (optional, `feature-discard`): the request is a [`BlkifRequestDiscard`].
pub const BLKIF_OP_DISCARD: u8 = 5;
/// `BLKIF_OP_INDIRECT` (optional, `feature-max-indirect-segments`): the request is a
/// [`BlkifRequestIndirect`].
pub const BLKIF_OP_INDIRECT: u8 = 6;

/// A block request opcode (`BLKIF_OP_*`), the `operation` byte of a request.
///
/// An unknown opcode is an [`UnknownValue`]: the backend answers it on the ring with
/// [`BLKIF_RSP_EOPNOTSUPP`], not with a Xen errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BlkifOp {
    /// `BLKIF_OP_READ`.
    #[doc(alias = "BLKIF_OP_READ")]
    Read = BLKIF_OP_READ,
    /// `BLKIF_OP_WRITE`.
    #[doc(alias = "BLKIF_OP_WRITE")]
    Write = BLKIF_OP_WRITE,
    /// `BLKIF_OP_WRITE_BARRIER`.
    #[doc(alias = "BLKIF_OP_WRITE_BARRIER")]
    WriteBarrier = BLKIF_OP_WRITE_BARRIER,
    /// `BLKIF_OP_FLUSH_DISKCACHE`.
    #[doc(alias = "BLKIF_OP_FLUSH_DISKCACHE")]
    FlushDiskcache = BLKIF_OP_FLUSH_DISKCACHE,
    /// `BLKIF_OP_RESERVED_1`.
    #[doc(alias = "BLKIF_OP_RESERVED_1")]
    Reserved1 = BLKIF_OP_RESERVED_1,
    /// `BLKIF_OP_DISCARD`.
    #[doc(alias = "BLKIF_OP_DISCARD")]
    Discard = BLKIF_OP_DISCARD,
    /// `BLKIF_OP_INDIRECT`.
    #[doc(alias = "BLKIF_OP_INDIRECT")]
    Indirect = BLKIF_OP_INDIRECT,
}

impl TryFrom<u8> for BlkifOp {
    type Error = UnknownValue;

    fn try_from(v: u8) -> Result<Self, UnknownValue> {
        Ok(match v {
            BLKIF_OP_READ => BlkifOp::Read,
            BLKIF_OP_WRITE => BlkifOp::Write,
            BLKIF_OP_WRITE_BARRIER => BlkifOp::WriteBarrier,
            BLKIF_OP_FLUSH_DISKCACHE => BlkifOp::FlushDiskcache,
            BLKIF_OP_RESERVED_1 => BlkifOp::Reserved1,
            BLKIF_OP_DISCARD => BlkifOp::Discard,
            BLKIF_OP_INDIRECT => BlkifOp::Indirect,
            _ => {
                return Err(UnknownValue {
                    what: "BLKIF_OP",
                    value: v.into(),
                })
            }
        })
    }
}

/// `BLKIF_MAX_SEGMENTS_PER_REQUEST`: segments in a direct request.
pub const BLKIF_MAX_SEGMENTS_PER_REQUEST: usize = 11;
/// `BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST`: indirect segment pages one indirect request may name.
pub const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST: usize = 8;
/// Segments per indirect page: `PAGE_SIZE / sizeof(struct blkif_request_segment)` (the header
/// spells out the formula; Linux calls it `SEGS_PER_INDIRECT_FRAME`).
#[doc(alias = "SEGS_PER_INDIRECT_FRAME")]
pub const BLKIF_SEGS_PER_INDIRECT_FRAME: usize = PAGE_SIZE / size_of::<BlkifRequestSegment>();
/// The most segments an indirect request can carry: all its pages full.
pub const BLKIF_MAX_INDIRECT_SEGMENTS: usize =
    BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * BLKIF_SEGS_PER_INDIRECT_FRAME;

/// `BLKIF_DISCARD_SECURE`: the `flag` bit of a secure discard (ignored unless `discard-secure`).
pub const BLKIF_DISCARD_SECURE: u8 = 1 << 0;

/// `BLKIF_RSP_EOPNOTSUPP`: operation not supported.
pub const BLKIF_RSP_EOPNOTSUPP: i16 = -2;
/// `BLKIF_RSP_ERROR`: operation failed (`-EIO`).
pub const BLKIF_RSP_ERROR: i16 = -1;
/// `BLKIF_RSP_OKAY`: operation completed.
pub const BLKIF_RSP_OKAY: i16 = 0;

/// `VDISK_CDROM`: bit of the backend's `info` node.
pub const VDISK_CDROM: u32 = 0x1;
/// `VDISK_REMOVABLE`: bit of the backend's `info` node.
pub const VDISK_REMOVABLE: u32 = 0x2;
/// `VDISK_READONLY`: bit of the backend's `info` node.
pub const VDISK_READONLY: u32 = 0x4;

bitflags::bitflags! {
    /// The backend's `info` node: `VDISK_*` bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct VdiskInfo: u32 {
        /// `VDISK_CDROM`.
        const CDROM = VDISK_CDROM;
        /// `VDISK_REMOVABLE`.
        const REMOVABLE = VDISK_REMOVABLE;
        /// `VDISK_READONLY`.
        const READONLY = VDISK_READONLY;
    }
}

/// One scatter/gather segment (`struct blkif_request_segment`): sectors `first_sect..=last_sect`
/// of the granted frame `gref`.
#[doc(alias = "blkif_request_segment")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct BlkifRequestSegment {
    /// Grant of the I/O buffer frame.
    pub gref: GrantRef,
    /// First sector in the frame to transfer (inclusive).
    pub first_sect: u8,
    /// Last sector in the frame to transfer (inclusive).
    pub last_sect: u8,
    /// Implicit C padding, made explicit.
    pub _pad0: [u8; 2],
}
const _: () = assert!(size_of::<BlkifRequestSegment>() == 8);

/// The ring entry for every block request (`struct blkif_request`, `blkif_request_t`).
#[doc(alias = "blkif_request")]
#[doc(alias = "blkif_request_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct BlkifRequest {
    /// `BLKIF_OP_*`.
    pub operation: u8,
    /// Number of valid entries in `seg`.
    pub nr_segments: u8,
    /// Virtual device (read/write requests only).
    pub handle: BlkifVdev,
    /// Implicit C padding, made explicit.
    pub _pad0: [u8; 4],
    /// Private guest value, echoed in the response.
    pub id: u64,
    /// Start sector on disk (read/write only).
    pub sector_number: BlkifSector,
    /// Segments; the first `nr_segments` are valid.
    pub seg: [BlkifRequestSegment; BLKIF_MAX_SEGMENTS_PER_REQUEST],
}
const _: () = assert!(size_of::<BlkifRequest>() == 112);

/// A discard request (`struct blkif_request_discard`): the ring entry when `operation ==
/// BLKIF_OP_DISCARD`.
#[doc(alias = "blkif_request_discard")]
#[doc(alias = "blkif_request_discard_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct BlkifRequestDiscard {
    /// `BLKIF_OP_DISCARD`.
    pub operation: u8,
    /// [`BLKIF_DISCARD_SECURE`] or zero.
    pub flag: u8,
    /// Virtual device.
    pub handle: BlkifVdev,
    /// Implicit C padding, made explicit.
    pub _pad0: [u8; 4],
    /// Private guest value, echoed in the response.
    pub id: u64,
    /// Start sector.
    pub sector_number: BlkifSector,
    /// Number of contiguous sectors to discard.
    pub nr_sectors: u64,
}
const _: () = assert!(size_of::<BlkifRequestDiscard>() == 32);

/// An indirect request (`struct blkif_request_indirect`, x86_64 layout): the ring entry when
/// `operation == BLKIF_OP_INDIRECT`. Its segments live in the granted pages `indirect_grefs`, each
/// an array of [`BLKIF_SEGS_PER_INDIRECT_FRAME`] segments.
#[doc(alias = "blkif_request_indirect")]
#[doc(alias = "blkif_request_indirect_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct BlkifRequestIndirect {
    /// `BLKIF_OP_INDIRECT`.
    pub operation: u8,
    /// `BLKIF_OP_READ` or `BLKIF_OP_WRITE`.
    pub indirect_op: u8,
    /// Number of segments across the indirect pages.
    pub nr_segments: u16,
    /// Implicit C padding, made explicit.
    pub _pad0: [u8; 4],
    /// Private guest value, echoed in the response.
    pub id: u64,
    /// Start sector.
    pub sector_number: BlkifSector,
    /// Virtual device.
    pub handle: BlkifVdev,
    /// Implicit C padding, made explicit.
    pub _pad1: [u8; 2],
    /// Grants of the pages holding the segments.
    pub indirect_grefs: [GrantRef; BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST],
    /// Implicit C tail padding (to 8-byte alignment), made explicit.
    pub _pad2: [u8; 4],
}
const _: () = assert!(size_of::<BlkifRequestIndirect>() == 64);

/// One page of indirect segments, as named by [`BlkifRequestIndirect::indirect_grefs`].
pub type BlkifIndirectPage = [BlkifRequestSegment; BLKIF_SEGS_PER_INDIRECT_FRAME];
const _: () = assert!(size_of::<BlkifIndirectPage>() == PAGE_SIZE);

/// A block response (`struct blkif_response`, `blkif_response_t`).
#[doc(alias = "blkif_response")]
#[doc(alias = "blkif_response_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct BlkifResponse {
    /// Copied from the request.
    pub id: u64,
    /// Copied from the request.
    pub operation: u8,
    /// Implicit C padding, made explicit.
    pub _pad0: u8,
    /// `BLKIF_RSP_*`.
    pub status: i16,
    /// Implicit C tail padding, made explicit.
    pub _pad1: [u8; 4],
}
const _: () = assert!(size_of::<BlkifResponse>() == 16);

/// Copy the leading bytes of `src` into a new `T` (which is no larger).
fn reinterpret_prefix<T: FromBytes + IntoBytes>(src: &[u8]) -> T {
    let mut v = T::new_zeroed();
    for (d, s) in v.as_mut_bytes().iter_mut().zip(src) {
        *d = *s;
    }
    v
}

const _: () = assert!(size_of::<BlkifRequestDiscard>() <= size_of::<BlkifRequest>());
const _: () = assert!(size_of::<BlkifRequestIndirect>() <= size_of::<BlkifRequest>());

impl BlkifRequest {
    /// The same ring entry read as a discard request (a copy).
    pub fn as_discard(&self) -> BlkifRequestDiscard {
        reinterpret_prefix(self.as_bytes())
    }

    /// The same ring entry read as an indirect request (a copy).
    pub fn as_indirect(&self) -> BlkifRequestIndirect {
        reinterpret_prefix(self.as_bytes())
    }
}

impl From<BlkifRequestDiscard> for BlkifRequest {
    /// The ring entry carrying `d` (trailing bytes zero).
    fn from(d: BlkifRequestDiscard) -> Self {
        reinterpret_prefix(d.as_bytes())
    }
}

impl From<BlkifRequestIndirect> for BlkifRequest {
    /// The ring entry carrying `i` (trailing bytes zero).
    fn from(i: BlkifRequestIndirect) -> Self {
        reinterpret_prefix(i.as_bytes())
    }
}

/// Entries of a one-page blkif ring: `__CONST_RING_SIZE(blkif, 4096)` = 32.
pub const BLKIF_RING_SIZE: u32 = ring_size(PAGE_SIZE, entry_size::<BlkifRequest, BlkifResponse>());
const _: () = assert!(BLKIF_RING_SIZE == 32);

/// The front end of a blkif ring (`blkif_front_ring_t`).
#[doc(alias = "blkif_front_ring")]
pub type BlkifFrontRing = FrontRing<BlkifRequest, BlkifResponse>;
/// The back end of a blkif ring (`blkif_back_ring_t`).
#[doc(alias = "blkif_back_ring")]
pub type BlkifBackRing = BackRing<BlkifRequest, BlkifResponse>;

/// `XEN_IO_PROTO_ABI_X86_32` (`io/protocols.h`): value of the frontend's `protocol` node.
pub const XEN_IO_PROTO_ABI_X86_32: &str = "x86_32-abi";
/// `XEN_IO_PROTO_ABI_X86_64` (`io/protocols.h`).
pub const XEN_IO_PROTO_ABI_X86_64: &str = "x86_64-abi";
/// `XEN_IO_PROTO_ABI_ARM` (`io/protocols.h`).
pub const XEN_IO_PROTO_ABI_ARM: &str = "arm-abi";
/// `XEN_IO_PROTO_ABI_NATIVE` on x86_64: the default `protocol`, and the only one whose ring layout
/// this module describes.
pub const XEN_IO_PROTO_ABI_NATIVE: &str = XEN_IO_PROTO_ABI_X86_64;

/// Xenstore node names of the blkif handshake, relative to the device's backend or frontend
/// directory.
pub mod keys {
    // Backend: device identification (private to the backend side).
    /// `mode`: `"r"` or `"w"`.
    pub const MODE: &str = "mode";
    /// `params`: free-form string for the hotplug script.
    pub const PARAMS: &str = "params";
    /// `physical-device`: `"MAJOR:MINOR"`.
    pub const PHYSICAL_DEVICE: &str = "physical-device";
    /// `physical-device-path`: path of the backing device or image.
    pub const PHYSICAL_DEVICE_PATH: &str = "physical-device-path";
    /// `type`: `"file"`, `"phy"` or `"tap"`.
    pub const TYPE: &str = "type";
    /// `direct-io-safe`: 0/1.
    pub const DIRECT_IO_SAFE: &str = "direct-io-safe";

    // Backend: features.
    /// `feature-barrier`: 0/1, `BLKIF_OP_WRITE_BARRIER` supported.
    pub const FEATURE_BARRIER: &str = "feature-barrier";
    /// `feature-flush-cache`: 0/1, `BLKIF_OP_FLUSH_DISKCACHE` supported.
    pub const FEATURE_FLUSH_CACHE: &str = "feature-flush-cache";
    /// `feature-discard`: 0/1, `BLKIF_OP_DISCARD` supported.
    pub const FEATURE_DISCARD: &str = "feature-discard";
    /// `feature-persistent`: 0/1, persistent grants (both ends publish it).
    pub const FEATURE_PERSISTENT: &str = "feature-persistent";
    /// `feature-max-indirect-segments`: most segments per `BLKIF_OP_INDIRECT` request.
    pub const FEATURE_MAX_INDIRECT_SEGMENTS: &str = "feature-max-indirect-segments";

    // Backend: transport parameters.
    /// `max-ring-page-order`: log2 of the most ring pages the backend accepts.
    pub const MAX_RING_PAGE_ORDER: &str = "max-ring-page-order";
    /// `max-ring-pages` (deprecated): most ring pages, a power of two.
    pub const MAX_RING_PAGES: &str = "max-ring-pages";
    /// `multi-queue-max-queues`: most queues (rings) the backend supports.
    pub const MULTI_QUEUE_MAX_QUEUES: &str = "multi-queue-max-queues";

    // Backend: device properties.
    /// `discard-enable`: 0/1, toolstack tells the backend whether to offer discard.
    pub const DISCARD_ENABLE: &str = "discard-enable";
    /// `discard-alignment`: bytes.
    pub const DISCARD_ALIGNMENT: &str = "discard-alignment";
    /// `discard-granularity`: bytes.
    pub const DISCARD_GRANULARITY: &str = "discard-granularity";
    /// `discard-secure`: 0/1, `BLKIF_DISCARD_SECURE` honoured.
    pub const DISCARD_SECURE: &str = "discard-secure";
    /// `info`: `VDISK_*` bitmap.
    pub const INFO: &str = "info";
    /// `sector-size`: logical block size in bytes.
    pub const SECTOR_SIZE: &str = "sector-size";
    /// `physical-sector-size`: physical block size in bytes.
    pub const PHYSICAL_SECTOR_SIZE: &str = "physical-sector-size";
    /// `sectors`: device size in units of `sector-size`.
    pub const SECTORS: &str = "sectors";

    // Frontend: transport parameters.
    /// `event-channel`: the ring's event channel port.
    pub const EVENT_CHANNEL: &str = "event-channel";
    /// `ring-ref`: grant of a one-page ring.
    pub const RING_REF: &str = "ring-ref";
    /// `ring-ref%u` prefix: grants of a multi-page ring are `ring-ref0`, `ring-ref1`, ...
    pub const RING_REF_PREFIX: &str = "ring-ref";
    /// `protocol`: `XEN_IO_PROTO_ABI_*`.
    pub const PROTOCOL: &str = "protocol";
    /// `ring-page-order`: log2 of the ring pages the frontend allocated.
    pub const RING_PAGE_ORDER: &str = "ring-page-order";
    /// `num-ring-pages` (deprecated): ring pages allocated.
    pub const NUM_RING_PAGES: &str = "num-ring-pages";
    /// `multi-queue-num-queues`: queues the frontend uses.
    pub const MULTI_QUEUE_NUM_QUEUES: &str = "multi-queue-num-queues";
    /// `queue-%u` prefix: per-queue subdirectory when more than one queue is used.
    pub const QUEUE_PREFIX: &str = "queue-";

    // Frontend: features and device properties.
    /// `feature-large-sector-size`: 0/1, the frontend honours a `sector-size` other than 512.
    pub const FEATURE_LARGE_SECTOR_SIZE: &str = "feature-large-sector-size";
    /// `trusted`: 0/1, whether the frontend trusts the backend.
    pub const TRUSTED: &str = "trusted";
    /// `device-type`: `"disk"`, `"cdrom"`, `"floppy"`, ...
    pub const DEVICE_TYPE: &str = "device-type";
    /// `virtual-device`: the virtual device number (see `docs/misc/vbd-interface.txt`).
    pub const VIRTUAL_DEVICE: &str = "virtual-device";

    /// The common xenbus `state` node (a `XenbusState` in decimal).
    pub const STATE: &str = "state";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_discard_reads_same_bytes() {
        let d = BlkifRequestDiscard {
            operation: BLKIF_OP_DISCARD,
            flag: BLKIF_DISCARD_SECURE,
            handle: 0x51,
            id: 42,
            sector_number: 8,
            nr_sectors: 1 << 20,
            ..Default::default()
        };
        let r = BlkifRequest::from(d);
        assert_eq!(BlkifOp::try_from(r.operation), Ok(BlkifOp::Discard));
        assert_eq!(r.id, 42);
        assert_eq!(r.as_discard(), d);
    }

    #[test]
    fn as_indirect_reads_same_bytes() {
        let mut i = BlkifRequestIndirect {
            operation: BLKIF_OP_INDIRECT,
            indirect_op: BLKIF_OP_WRITE,
            nr_segments: 600,
            id: 7,
            sector_number: 1024,
            handle: 3,
            ..Default::default()
        };
        i.indirect_grefs[1] = GrantRef(99);
        let r = BlkifRequest::from(i);
        assert_eq!(r.as_indirect(), i);
    }

    #[test]
    fn try_from_unknown_op_is_unknown_value() {
        assert_eq!(BlkifOp::try_from(6), Ok(BlkifOp::Indirect));
        assert_eq!(
            BlkifOp::try_from(7),
            Err(UnknownValue {
                what: "BLKIF_OP",
                value: 7
            })
        );
    }

    #[test]
    fn segs_per_indirect_frame_is_512() {
        assert_eq!(BLKIF_SEGS_PER_INDIRECT_FRAME, 512);
        assert_eq!(BLKIF_MAX_INDIRECT_SEGMENTS, 4096);
    }
}
