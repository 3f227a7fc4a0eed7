//! `io/netif.h`: the network device rings — transmit and receive requests and responses, the
//! extra-info slot, the control ring, `NETTXF_*`/`NETRXF_*`/`XEN_NETIF_*` constants and the
//! xenstore keys of the netif handshake.

use core::mem::size_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::ring::{entry_size, ring_size, BackRing, FrontRing};
use super::UnknownValue;
use crate::types::{GrantRef, PAGE_SIZE};

/// `XEN_NETIF_NR_SLOTS_MIN`: ring slots per packet every backend must accept.
pub const XEN_NETIF_NR_SLOTS_MIN: u32 = 18;

// ---- Control ring: hash types, algorithms, request types, statuses ----

/// `_XEN_NETIF_CTRL_HASH_TYPE_IPV4`: bit number.
#[doc(alias = "_XEN_NETIF_CTRL_HASH_TYPE_IPV4")]
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT: u32 = 0;
/// `XEN_NETIF_CTRL_HASH_TYPE_IPV4`: hash over IPv4 source and destination addresses.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4: u32 = 1 << XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT;
/// `_XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP`: bit number.
#[doc(alias = "_XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP")]
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT: u32 = 1;
/// `XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP`: hash over IPv4 addresses and TCP ports.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP: u32 = 1 << XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT;
/// `_XEN_NETIF_CTRL_HASH_TYPE_IPV6`: bit number.
#[doc(alias = "_XEN_NETIF_CTRL_HASH_TYPE_IPV6")]
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT: u32 = 2;
/// `XEN_NETIF_CTRL_HASH_TYPE_IPV6`: hash over IPv6 source and destination addresses.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6: u32 = 1 << XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT;
/// `_XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP`: bit number.
#[doc(alias = "_XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP")]
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT: u32 = 3;
/// `XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP`: hash over IPv6 addresses and TCP ports.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP: u32 = 1 << XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT;

/// `XEN_NETIF_CTRL_HASH_ALGORITHM_NONE`.
pub const XEN_NETIF_CTRL_HASH_ALGORITHM_NONE: u32 = 0;
/// `XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ`.
pub const XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ: u32 = 1;

/// `XEN_NETIF_CTRL_TYPE_INVALID`.
pub const XEN_NETIF_CTRL_TYPE_INVALID: u16 = 0;
/// `XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS`.
pub const XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS: u16 = 1;
/// `XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS`.
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS: u16 = 2;
/// `XEN_NETIF_CTRL_TYPE_SET_HASH_KEY`.
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_KEY: u16 = 3;
/// `XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE`.
pub const XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE: u16 = 4;
/// `XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE`.
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE: u16 = 5;
/// `XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING`.
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING: u16 = 6;
/// `XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM`.
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM: u16 = 7;
/// `XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE`.
pub const XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE: u16 = 8;
/// `XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING`.
pub const XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING: u16 = 9;
/// `XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING`.
pub const XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING: u16 = 10;

/// A control-ring request type (`XEN_NETIF_CTRL_TYPE_*`).
///
/// An unknown type is an [`UnknownValue`]: the backend answers it on the control ring with
/// [`XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED`], not with a Xen errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum XenNetifCtrlType {
    /// `XEN_NETIF_CTRL_TYPE_INVALID`.
    #[doc(alias = "XEN_NETIF_CTRL_TYPE_INVALID")]
    Invalid = XEN_NETIF_CTRL_TYPE_INVALID,
    /// `XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS`.
    #[doc(alias = "XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS")]
    GetHashFlags = XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS,
    /// `XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS`.
    #[doc(alias = "XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS")]
    SetHashFlags = XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
    /// `XEN_NETIF_CTRL_TYPE_SET_HASH_KEY`.
    #[doc(alias = "XEN_NETIF_CTRL_TYPE_SET_HASH_KEY")]
    SetHashKey = XEN_NETIF_CTRL_TYPE_SET_HASH_KEY,
    /// `XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE`.
    #[doc(alias = "XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE")]
    GetHashMappingSize = XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE,
    /// `XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE`.
    #[doc(alias = "XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE")]
    SetHashMappingSize = XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
    /// `XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING`.
    #[doc(alias = "XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING")]
    SetHashMapping = XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
    /// `XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM`.
    #[doc(alias = "XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM")]
    SetHashAlgorithm = XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
    /// `XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE`.
    #[doc(alias = "XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE")]
    GetGrefMappingSize = XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE,
    /// `XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING`.
    #[doc(alias = "XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING")]
    AddGrefMapping = XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING,
    /// `XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING`.
    #[doc(alias = "XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING")]
    DelGrefMapping = XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING,
}

impl XenNetifCtrlType {
    /// Every control type, in numeric order.
    pub const ALL: [XenNetifCtrlType; 11] = [
        XenNetifCtrlType::Invalid,
        XenNetifCtrlType::GetHashFlags,
        XenNetifCtrlType::SetHashFlags,
        XenNetifCtrlType::SetHashKey,
        XenNetifCtrlType::GetHashMappingSize,
        XenNetifCtrlType::SetHashMappingSize,
        XenNetifCtrlType::SetHashMapping,
        XenNetifCtrlType::SetHashAlgorithm,
        XenNetifCtrlType::GetGrefMappingSize,
        XenNetifCtrlType::AddGrefMapping,
        XenNetifCtrlType::DelGrefMapping,
    ];
}

impl TryFrom<u16> for XenNetifCtrlType {
    type Error = UnknownValue;

    fn try_from(v: u16) -> Result<Self, UnknownValue> {
        XenNetifCtrlType::ALL
            .iter()
            .copied()
            .find(|t| *t as u16 == v)
            .ok_or(UnknownValue {
                what: "XEN_NETIF_CTRL_TYPE",
                value: v.into(),
            })
    }
}

/// `XEN_NETIF_CTRL_STATUS_SUCCESS`.
pub const XEN_NETIF_CTRL_STATUS_SUCCESS: u32 = 0;
/// `XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED`.
pub const XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED: u32 = 1;
/// `XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER`.
pub const XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER: u32 = 2;
/// `XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW`.
pub const XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW: u32 = 3;

/// `_XEN_NETIF_CTRLF_GREF_readonly`: bit number.
#[doc(alias = "_XEN_NETIF_CTRLF_GREF_readonly")]
pub const XEN_NETIF_CTRLF_GREF_READONLY_BIT: u16 = 0;
/// `XEN_NETIF_CTRLF_GREF_readonly`: map the grant read-only.
#[doc(alias = "XEN_NETIF_CTRLF_GREF_readonly")]
pub const XEN_NETIF_CTRLF_GREF_READONLY: u16 = 1 << XEN_NETIF_CTRLF_GREF_READONLY_BIT;

/// A control-ring request (`struct xen_netif_ctrl_request`).
#[doc(alias = "xen_netif_ctrl_request")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenNetifCtrlRequest {
    /// Request identifier, echoed in the response.
    pub id: u16,
    /// `XEN_NETIF_CTRL_TYPE_*`.
    pub r#type: u16,
    /// Type-specific arguments.
    pub data: [u32; 3],
}
const _: () = assert!(size_of::<XenNetifCtrlRequest>() == 16);

/// A control-ring response (`struct xen_netif_ctrl_response`).
#[doc(alias = "xen_netif_ctrl_response")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenNetifCtrlResponse {
    /// The request's identifier.
    pub id: u16,
    /// The request's type.
    pub r#type: u16,
    /// `XEN_NETIF_CTRL_STATUS_*`.
    pub status: u32,
    /// Type-specific result.
    pub data: u32,
}
const _: () = assert!(size_of::<XenNetifCtrlResponse>() == 12);

/// One entry of a gref mapping list (`struct xen_netif_gref`).
#[doc(alias = "xen_netif_gref")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenNetifGref {
    /// The grant reference (`ref`).
    pub r#ref: GrantRef,
    /// `XEN_NETIF_CTRLF_GREF_*`.
    pub flags: u16,
    /// `XEN_NETIF_CTRL_STATUS_*` (out).
    pub status: u16,
}
const _: () = assert!(size_of::<XenNetifGref>() == 8);

// ---- Transmit ----

/// `_NETTXF_csum_blank`: bit number.
#[doc(alias = "_NETTXF_csum_blank")]
pub const NETTXF_CSUM_BLANK_BIT: u16 = 0;
/// `NETTXF_csum_blank`: protocol checksum field is blank (offload).
#[doc(alias = "NETTXF_csum_blank")]
pub const NETTXF_CSUM_BLANK: u16 = 1 << NETTXF_CSUM_BLANK_BIT;
/// `_NETTXF_data_validated`: bit number.
#[doc(alias = "_NETTXF_data_validated")]
pub const NETTXF_DATA_VALIDATED_BIT: u16 = 1;
/// `NETTXF_data_validated`: data validated against the protocol checksum.
#[doc(alias = "NETTXF_data_validated")]
pub const NETTXF_DATA_VALIDATED: u16 = 1 << NETTXF_DATA_VALIDATED_BIT;
/// `_NETTXF_more_data`: bit number.
#[doc(alias = "_NETTXF_more_data")]
pub const NETTXF_MORE_DATA_BIT: u16 = 2;
/// `NETTXF_more_data`: the packet continues in the next request.
#[doc(alias = "NETTXF_more_data")]
pub const NETTXF_MORE_DATA: u16 = 1 << NETTXF_MORE_DATA_BIT;
/// `_NETTXF_extra_info`: bit number.
#[doc(alias = "_NETTXF_extra_info")]
pub const NETTXF_EXTRA_INFO_BIT: u16 = 3;
/// `NETTXF_extra_info`: the request is followed by extra-info slot(s).
#[doc(alias = "NETTXF_extra_info")]
pub const NETTXF_EXTRA_INFO: u16 = 1 << NETTXF_EXTRA_INFO_BIT;

/// `XEN_NETIF_MAX_TX_SIZE`: largest packet a transmit request can describe.
pub const XEN_NETIF_MAX_TX_SIZE: u32 = 0xFFFF;

/// A transmit request (`struct netif_tx_request`, `netif_tx_request_t`).
#[doc(alias = "netif_tx_request")]
#[doc(alias = "netif_tx_request_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct NetifTxRequest {
    /// Grant of the buffer page.
    pub gref: GrantRef,
    /// Offset within the buffer page.
    pub offset: u16,
    /// `NETTXF_*`.
    pub flags: u16,
    /// Request identifier, echoed in the response.
    pub id: u16,
    /// Packet size (first fragment: whole packet) in bytes.
    pub size: u16,
}
const _: () = assert!(size_of::<NetifTxRequest>() == 12);

/// A transmit response (`struct netif_tx_response`, `netif_tx_response_t`).
#[doc(alias = "netif_tx_response")]
#[doc(alias = "netif_tx_response_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct NetifTxResponse {
    /// The request's id.
    pub id: u16,
    /// `NETIF_RSP_*`.
    pub status: i16,
}
const _: () = assert!(size_of::<NetifTxResponse>() == 4);

// ---- Extra info ----

/// `XEN_NETIF_EXTRA_TYPE_NONE`: never used (invalid).
pub const XEN_NETIF_EXTRA_TYPE_NONE: u8 = 0;
/// `XEN_NETIF_EXTRA_TYPE_GSO`: `u.gso`.
pub const XEN_NETIF_EXTRA_TYPE_GSO: u8 = 1;
/// `XEN_NETIF_EXTRA_TYPE_MCAST_ADD`: `u.mcast`.
pub const XEN_NETIF_EXTRA_TYPE_MCAST_ADD: u8 = 2;
/// `XEN_NETIF_EXTRA_TYPE_MCAST_DEL`: `u.mcast`.
pub const XEN_NETIF_EXTRA_TYPE_MCAST_DEL: u8 = 3;
/// `XEN_NETIF_EXTRA_TYPE_HASH`: `u.hash`.
pub const XEN_NETIF_EXTRA_TYPE_HASH: u8 = 4;
/// `XEN_NETIF_EXTRA_TYPE_MAX`: one past the highest type.
pub const XEN_NETIF_EXTRA_TYPE_MAX: u8 = 5;

/// An extra-info type (`XEN_NETIF_EXTRA_TYPE_*`); `NONE` is invalid on the wire and not a variant.
///
/// An unknown type is an [`UnknownValue`]: netback drops such a packet (`NETIF_RSP_ERROR`), there
/// is no errno to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum XenNetifExtraType {
    /// `XEN_NETIF_EXTRA_TYPE_GSO`.
    #[doc(alias = "XEN_NETIF_EXTRA_TYPE_GSO")]
    Gso = XEN_NETIF_EXTRA_TYPE_GSO,
    /// `XEN_NETIF_EXTRA_TYPE_MCAST_ADD`.
    #[doc(alias = "XEN_NETIF_EXTRA_TYPE_MCAST_ADD")]
    McastAdd = XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
    /// `XEN_NETIF_EXTRA_TYPE_MCAST_DEL`.
    #[doc(alias = "XEN_NETIF_EXTRA_TYPE_MCAST_DEL")]
    McastDel = XEN_NETIF_EXTRA_TYPE_MCAST_DEL,
    /// `XEN_NETIF_EXTRA_TYPE_HASH`.
    #[doc(alias = "XEN_NETIF_EXTRA_TYPE_HASH")]
    Hash = XEN_NETIF_EXTRA_TYPE_HASH,
}

impl TryFrom<u8> for XenNetifExtraType {
    type Error = UnknownValue;

    fn try_from(v: u8) -> Result<Self, UnknownValue> {
        Ok(match v {
            XEN_NETIF_EXTRA_TYPE_GSO => XenNetifExtraType::Gso,
            XEN_NETIF_EXTRA_TYPE_MCAST_ADD => XenNetifExtraType::McastAdd,
            XEN_NETIF_EXTRA_TYPE_MCAST_DEL => XenNetifExtraType::McastDel,
            XEN_NETIF_EXTRA_TYPE_HASH => XenNetifExtraType::Hash,
            _ => {
                return Err(UnknownValue {
                    what: "XEN_NETIF_EXTRA_TYPE",
                    value: v.into(),
                })
            }
        })
    }
}

/// `_XEN_NETIF_EXTRA_FLAG_MORE`: bit number.
#[doc(alias = "_XEN_NETIF_EXTRA_FLAG_MORE")]
pub const XEN_NETIF_EXTRA_FLAG_MORE_BIT: u8 = 0;
/// `XEN_NETIF_EXTRA_FLAG_MORE`: another extra-info slot follows.
pub const XEN_NETIF_EXTRA_FLAG_MORE: u8 = 1 << XEN_NETIF_EXTRA_FLAG_MORE_BIT;

/// `XEN_NETIF_GSO_TYPE_NONE`.
pub const XEN_NETIF_GSO_TYPE_NONE: u8 = 0;
/// `XEN_NETIF_GSO_TYPE_TCPV4`.
pub const XEN_NETIF_GSO_TYPE_TCPV4: u8 = 1;
/// `XEN_NETIF_GSO_TYPE_TCPV6`.
pub const XEN_NETIF_GSO_TYPE_TCPV6: u8 = 2;

/// `u.gso` of an extra-info slot.
#[doc(alias = "gso")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct NetifExtraGso {
    /// Maximum payload per segment (the MSS for TCP).
    pub size: u16,
    /// `XEN_NETIF_GSO_TYPE_*`.
    pub r#type: u8,
    /// Padding (named `pad` in C).
    pub pad: u8,
    /// `XEN_NETIF_GSO_FEAT_*` (none defined in 4.17).
    pub features: u16,
}
const _: () = assert!(size_of::<NetifExtraGso>() == 6);

/// `u.mcast` of an extra-info slot.
#[doc(alias = "mcast")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct NetifExtraMcast {
    /// The multicast MAC address to add or remove.
    pub addr: [u8; 6],
}
const _: () = assert!(size_of::<NetifExtraMcast>() == 6);

/// `u.hash` of an extra-info slot.
#[doc(alias = "hash")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct NetifExtraHash {
    /// `_XEN_NETIF_CTRL_HASH_TYPE_*` (a bit number).
    pub r#type: u8,
    /// `XEN_NETIF_CTRL_HASH_ALGORITHM_*`.
    pub algorithm: u8,
    /// The hash value, least significant byte first.
    pub value: [u8; 4],
}
const _: () = assert!(size_of::<NetifExtraHash>() == 6);

/// An extra-info slot (`struct netif_extra_info`, `netif_extra_info_t`), overlaying a transmit
/// request or a receive response.
///
/// C's `union { gso; mcast; hash; uint16_t pad[3]; } u` is kept as its `pad[3]` member (which
/// gives the union its 2-byte alignment); [`gso`](Self::gso), [`mcast`](Self::mcast) and
/// [`hash`](Self::hash) read the other members as copies, and the `with_*` constructors write them.
#[doc(alias = "netif_extra_info")]
#[doc(alias = "netif_extra_info_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct NetifExtraInfo {
    /// `XEN_NETIF_EXTRA_TYPE_*`.
    pub r#type: u8,
    /// `XEN_NETIF_EXTRA_FLAG_*`.
    pub flags: u8,
    /// The union `u`, as its `pad[3]` member.
    pub u: [u16; 3],
}
const _: () = assert!(size_of::<NetifExtraInfo>() == 8);
const _: () = assert!(size_of::<NetifExtraInfo>() <= size_of::<NetifTxRequest>());
const _: () = assert!(size_of::<NetifExtraInfo>() <= size_of::<NetifRxResponse>());

fn copy_bytes<T: FromBytes + IntoBytes>(src: &[u8]) -> T {
    let mut v = T::new_zeroed();
    for (d, s) in v.as_mut_bytes().iter_mut().zip(src) {
        *d = *s;
    }
    v
}

impl NetifExtraInfo {
    /// `u.gso`, read from the union bytes.
    pub fn gso(&self) -> NetifExtraGso {
        copy_bytes(self.u.as_bytes())
    }
    /// `u.mcast`, read from the union bytes.
    pub fn mcast(&self) -> NetifExtraMcast {
        copy_bytes(self.u.as_bytes())
    }
    /// `u.hash`, read from the union bytes.
    pub fn hash(&self) -> NetifExtraHash {
        copy_bytes(self.u.as_bytes())
    }
    /// A `XEN_NETIF_EXTRA_TYPE_GSO` slot.
    pub fn with_gso(flags: u8, gso: NetifExtraGso) -> Self {
        Self {
            r#type: XEN_NETIF_EXTRA_TYPE_GSO,
            flags,
            u: copy_bytes(gso.as_bytes()),
        }
    }
    /// A `XEN_NETIF_EXTRA_TYPE_MCAST_ADD` or `_DEL` slot (`r#type` chooses).
    pub fn with_mcast(r#type: u8, flags: u8, mcast: NetifExtraMcast) -> Self {
        Self {
            r#type,
            flags,
            u: copy_bytes(mcast.as_bytes()),
        }
    }
    /// A `XEN_NETIF_EXTRA_TYPE_HASH` slot.
    pub fn with_hash(flags: u8, hash: NetifExtraHash) -> Self {
        Self {
            r#type: XEN_NETIF_EXTRA_TYPE_HASH,
            flags,
            u: copy_bytes(hash.as_bytes()),
        }
    }
    /// Read a transmit ring slot (a [`NetifTxRequest`] copy) as an extra-info slot.
    pub fn from_tx_slot(slot: &NetifTxRequest) -> Self {
        copy_bytes(slot.as_bytes())
    }
    /// The transmit ring slot carrying this extra info (trailing bytes zero).
    pub fn to_tx_slot(&self) -> NetifTxRequest {
        copy_bytes(self.as_bytes())
    }
    /// Read a receive response slot as an extra-info slot.
    pub fn from_rx_slot(slot: &NetifRxResponse) -> Self {
        copy_bytes(slot.as_bytes())
    }
    /// The receive response slot carrying this extra info.
    pub fn to_rx_slot(&self) -> NetifRxResponse {
        copy_bytes(self.as_bytes())
    }
}

// ---- Receive ----

/// A receive request (`struct netif_rx_request`, `netif_rx_request_t`).
#[doc(alias = "netif_rx_request")]
#[doc(alias = "netif_rx_request_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct NetifRxRequest {
    /// Echoed in the response.
    pub id: u16,
    /// Padding (named `pad` in C).
    pub pad: u16,
    /// Grant of the page to receive into.
    pub gref: GrantRef,
}
const _: () = assert!(size_of::<NetifRxRequest>() == 8);

/// `_NETRXF_data_validated`: bit number.
#[doc(alias = "_NETRXF_data_validated")]
pub const NETRXF_DATA_VALIDATED_BIT: u16 = 0;
/// `NETRXF_data_validated`: data validated against the protocol checksum.
#[doc(alias = "NETRXF_data_validated")]
pub const NETRXF_DATA_VALIDATED: u16 = 1 << NETRXF_DATA_VALIDATED_BIT;
/// `_NETRXF_csum_blank`: bit number.
#[doc(alias = "_NETRXF_csum_blank")]
pub const NETRXF_CSUM_BLANK_BIT: u16 = 1;
/// `NETRXF_csum_blank`: protocol checksum field is blank.
#[doc(alias = "NETRXF_csum_blank")]
pub const NETRXF_CSUM_BLANK: u16 = 1 << NETRXF_CSUM_BLANK_BIT;
/// `_NETRXF_more_data`: bit number.
#[doc(alias = "_NETRXF_more_data")]
pub const NETRXF_MORE_DATA_BIT: u16 = 2;
/// `NETRXF_more_data`: the packet continues in the next response.
#[doc(alias = "NETRXF_more_data")]
pub const NETRXF_MORE_DATA: u16 = 1 << NETRXF_MORE_DATA_BIT;
/// `_NETRXF_extra_info`: bit number.
#[doc(alias = "_NETRXF_extra_info")]
pub const NETRXF_EXTRA_INFO_BIT: u16 = 3;
/// `NETRXF_extra_info`: followed by extra-info slot(s).
#[doc(alias = "NETRXF_extra_info")]
pub const NETRXF_EXTRA_INFO: u16 = 1 << NETRXF_EXTRA_INFO_BIT;
/// `_NETRXF_gso_prefix`: bit number.
#[doc(alias = "_NETRXF_gso_prefix")]
pub const NETRXF_GSO_PREFIX_BIT: u16 = 4;
/// `NETRXF_gso_prefix`: GSO prefix (deprecated).
#[doc(alias = "NETRXF_gso_prefix")]
pub const NETRXF_GSO_PREFIX: u16 = 1 << NETRXF_GSO_PREFIX_BIT;

/// A receive response (`struct netif_rx_response`, `netif_rx_response_t`).
#[doc(alias = "netif_rx_response")]
#[doc(alias = "netif_rx_response_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct NetifRxResponse {
    /// The request's id.
    pub id: u16,
    /// Offset in the page of the received data.
    pub offset: u16,
    /// `NETRXF_*`.
    pub flags: u16,
    /// Negative: `NETIF_RSP_*`; positive: bytes received.
    pub status: i16,
}
const _: () = assert!(size_of::<NetifRxResponse>() == 8);

/// `NETIF_RSP_DROPPED`.
pub const NETIF_RSP_DROPPED: i16 = -2;
/// `NETIF_RSP_ERROR`.
pub const NETIF_RSP_ERROR: i16 = -1;
/// `NETIF_RSP_OKAY`.
pub const NETIF_RSP_OKAY: i16 = 0;
/// `NETIF_RSP_NULL`: no response (auxiliary request such as an extra-info slot).
pub const NETIF_RSP_NULL: i16 = 1;

// ---- Rings ----

/// Entries of a one-page transmit ring (`__CONST_RING_SIZE(netif_tx, 4096)` = 256).
pub const NET_TX_RING_SIZE: u32 =
    ring_size(PAGE_SIZE, entry_size::<NetifTxRequest, NetifTxResponse>());
const _: () = assert!(NET_TX_RING_SIZE == 256);
/// Entries of a one-page receive ring (`__CONST_RING_SIZE(netif_rx, 4096)` = 256).
pub const NET_RX_RING_SIZE: u32 =
    ring_size(PAGE_SIZE, entry_size::<NetifRxRequest, NetifRxResponse>());
const _: () = assert!(NET_RX_RING_SIZE == 256);
/// Entries of a one-page control ring (`__CONST_RING_SIZE(xen_netif_ctrl, 4096)` = 128).
pub const NET_CTRL_RING_SIZE: u32 = ring_size(
    PAGE_SIZE,
    entry_size::<XenNetifCtrlRequest, XenNetifCtrlResponse>(),
);
const _: () = assert!(NET_CTRL_RING_SIZE == 128);

/// Front end of a transmit ring (`netif_tx_front_ring_t`).
#[doc(alias = "netif_tx_front_ring")]
pub type NetifTxFrontRing = FrontRing<NetifTxRequest, NetifTxResponse>;
/// Back end of a transmit ring (`netif_tx_back_ring_t`).
#[doc(alias = "netif_tx_back_ring")]
pub type NetifTxBackRing = BackRing<NetifTxRequest, NetifTxResponse>;
/// Front end of a receive ring (`netif_rx_front_ring_t`).
#[doc(alias = "netif_rx_front_ring")]
pub type NetifRxFrontRing = FrontRing<NetifRxRequest, NetifRxResponse>;
/// Back end of a receive ring (`netif_rx_back_ring_t`).
#[doc(alias = "netif_rx_back_ring")]
pub type NetifRxBackRing = BackRing<NetifRxRequest, NetifRxResponse>;
/// Front end of a control ring (`xen_netif_ctrl_front_ring_t`).
#[doc(alias = "xen_netif_ctrl_front_ring")]
pub type XenNetifCtrlFrontRing = FrontRing<XenNetifCtrlRequest, XenNetifCtrlResponse>;
/// Back end of a control ring (`xen_netif_ctrl_back_ring_t`).
#[doc(alias = "xen_netif_ctrl_back_ring")]
pub type XenNetifCtrlBackRing = BackRing<XenNetifCtrlRequest, XenNetifCtrlResponse>;

/// Xenstore node names of the netif handshake, relative to the vif's backend or frontend
/// directory.
pub mod keys {
    // Described in netif.h.
    /// `feature-split-event-channels`: 0/1, backend supports separate tx/rx event channels.
    pub const FEATURE_SPLIT_EVENT_CHANNELS: &str = "feature-split-event-channels";
    /// `event-channel`: the single event channel.
    pub const EVENT_CHANNEL: &str = "event-channel";
    /// `event-channel-tx`: transmit event channel (split).
    pub const EVENT_CHANNEL_TX: &str = "event-channel-tx";
    /// `event-channel-rx`: receive event channel (split).
    pub const EVENT_CHANNEL_RX: &str = "event-channel-rx";
    /// `tx-ring-ref`: grant of the transmit ring.
    pub const TX_RING_REF: &str = "tx-ring-ref";
    /// `rx-ring-ref`: grant of the receive ring.
    pub const RX_RING_REF: &str = "rx-ring-ref";
    /// `multi-queue-max-queues`: most queues the backend supports.
    pub const MULTI_QUEUE_MAX_QUEUES: &str = "multi-queue-max-queues";
    /// `multi-queue-num-queues`: queues the frontend uses.
    pub const MULTI_QUEUE_NUM_QUEUES: &str = "multi-queue-num-queues";
    /// `queue-%u` prefix: per-queue subdirectory when more than one queue is used.
    pub const QUEUE_PREFIX: &str = "queue-";
    /// `feature-rx-notify`: the frontend notifies for new rx requests.
    pub const FEATURE_RX_NOTIFY: &str = "feature-rx-notify";
    /// `feature-no-csum-offload`: IPv4 checksum offload off.
    pub const FEATURE_NO_CSUM_OFFLOAD: &str = "feature-no-csum-offload";
    /// `feature-ipv6-csum-offload`: IPv6 checksum offload on.
    pub const FEATURE_IPV6_CSUM_OFFLOAD: &str = "feature-ipv6-csum-offload";
    /// `feature-gso-tcpv4`: large TCPv4 packets.
    pub const FEATURE_GSO_TCPV4: &str = "feature-gso-tcpv4";
    /// `feature-gso-tcpv6`: large TCPv6 packets.
    pub const FEATURE_GSO_TCPV6: &str = "feature-gso-tcpv6";
    /// `feature-multicast-control`: backend filters multicast.
    pub const FEATURE_MULTICAST_CONTROL: &str = "feature-multicast-control";
    /// `feature-dynamic-multicast-control`: the filter can be switched while connected.
    pub const FEATURE_DYNAMIC_MULTICAST_CONTROL: &str = "feature-dynamic-multicast-control";
    /// `request-multicast-control`: frontend asks for multicast filtering.
    pub const REQUEST_MULTICAST_CONTROL: &str = "request-multicast-control";
    /// `trusted`: 0 if the frontend does not trust the backend.
    pub const TRUSTED: &str = "trusted";
    /// `feature-ctrl-ring`: backend supports a control ring.
    pub const FEATURE_CTRL_RING: &str = "feature-ctrl-ring";
    /// `ctrl-ring-ref`: grant of the control ring.
    pub const CTRL_RING_REF: &str = "ctrl-ring-ref";
    /// `event-channel-ctrl`: the control ring's event channel.
    pub const EVENT_CHANNEL_CTRL: &str = "event-channel-ctrl";
    /// `carrier`: backend link state, 0/1.
    pub const CARRIER: &str = "carrier";
    /// `mtu`: MTU the toolstack sets for the frontend.
    pub const MTU: &str = "mtu";

    // Not described in netif.h, but written by every Linux netfront/netback.
    /// `feature-sg`: scatter-gather (multi-slot packets).
    pub const FEATURE_SG: &str = "feature-sg";
    /// `feature-rx-copy`: backend copies into rx buffers.
    pub const FEATURE_RX_COPY: &str = "feature-rx-copy";
    /// `request-rx-copy`: frontend wants copying rx.
    pub const REQUEST_RX_COPY: &str = "request-rx-copy";
    /// `mac`: the vif's MAC address, `xx:xx:xx:xx:xx:xx`.
    pub const MAC: &str = "mac";
    /// `handle`: the vif number.
    pub const HANDLE: &str = "handle";

    /// The common xenbus `state` node (a `XenbusState` in decimal).
    pub const STATE: &str = "state";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_info_gso_round_trips_through_tx_slot() {
        let gso = NetifExtraGso {
            size: 1448,
            r#type: XEN_NETIF_GSO_TYPE_TCPV4,
            pad: 0,
            features: 0,
        };
        let e = NetifExtraInfo::with_gso(XEN_NETIF_EXTRA_FLAG_MORE, gso);
        let slot = e.to_tx_slot();
        let back = NetifExtraInfo::from_tx_slot(&slot);
        assert_eq!(back, e);
        assert_eq!(back.gso(), gso);
        assert_eq!(
            XenNetifExtraType::try_from(back.r#type),
            Ok(XenNetifExtraType::Gso)
        );
    }

    #[test]
    fn extra_info_mcast_and_hash_read_union_bytes() {
        let m = NetifExtraMcast {
            addr: [1, 0, 0x5e, 0, 0, 1],
        };
        let e = NetifExtraInfo::with_mcast(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, 0, m);
        assert_eq!(NetifExtraInfo::from_rx_slot(&e.to_rx_slot()).mcast(), m);
        let h = NetifExtraHash {
            r#type: XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT as u8,
            algorithm: XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ as u8,
            value: [1, 2, 3, 4],
        };
        assert_eq!(NetifExtraInfo::with_hash(0, h).hash(), h);
    }

    #[test]
    fn try_from_extra_type_none_is_unknown_value() {
        assert!(XenNetifExtraType::try_from(XEN_NETIF_EXTRA_TYPE_NONE).is_err());
        assert!(XenNetifExtraType::try_from(XEN_NETIF_EXTRA_TYPE_MAX).is_err());
    }

    #[test]
    fn try_from_ctrl_type_round_trips() {
        for t in XenNetifCtrlType::ALL {
            assert_eq!(XenNetifCtrlType::try_from(t as u16), Ok(t));
        }
        assert!(XenNetifCtrlType::try_from(11).is_err());
    }
}
