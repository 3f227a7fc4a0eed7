//! `io/xs_wire.h`: the xenstore wire protocol — message types, the message header, error names,
//! and the shared xenstore ring page.

use core::mem::{offset_of, size_of};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::console::ByteRing;
use super::UnknownValue;
use crate::errno::Errno;

/// A xenstore message type (`enum xsd_sockmsg_type`), the `type` field of [`XsdSockmsg`].
///
/// Number 20 (`XS_RESTRICT`) was removed from the protocol and is not a variant. An unknown type
/// converts to `ENOSYS`, which is what xenstored answers (as an `XS_ERROR` message) to a request
/// of a type it does not know.
#[doc(alias = "xsd_sockmsg_type")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum XsdSockmsgType {
    /// `XS_CONTROL` (also `XS_DEBUG`).
    #[doc(alias = "XS_CONTROL")]
    #[doc(alias = "XS_DEBUG")]
    Control = 0,
    /// `XS_DIRECTORY`.
    #[doc(alias = "XS_DIRECTORY")]
    Directory = 1,
    /// `XS_READ`.
    #[doc(alias = "XS_READ")]
    Read = 2,
    /// `XS_GET_PERMS`.
    #[doc(alias = "XS_GET_PERMS")]
    GetPerms = 3,
    /// `XS_WATCH`.
    #[doc(alias = "XS_WATCH")]
    Watch = 4,
    /// `XS_UNWATCH`.
    #[doc(alias = "XS_UNWATCH")]
    Unwatch = 5,
    /// `XS_TRANSACTION_START`.
    #[doc(alias = "XS_TRANSACTION_START")]
    TransactionStart = 6,
    /// `XS_TRANSACTION_END`.
    #[doc(alias = "XS_TRANSACTION_END")]
    TransactionEnd = 7,
    /// `XS_INTRODUCE`.
    #[doc(alias = "XS_INTRODUCE")]
    Introduce = 8,
    /// `XS_RELEASE`.
    #[doc(alias = "XS_RELEASE")]
    Release = 9,
    /// `XS_GET_DOMAIN_PATH`.
    #[doc(alias = "XS_GET_DOMAIN_PATH")]
    GetDomainPath = 10,
    /// `XS_WRITE`.
    #[doc(alias = "XS_WRITE")]
    Write = 11,
    /// `XS_MKDIR`.
    #[doc(alias = "XS_MKDIR")]
    Mkdir = 12,
    /// `XS_RM`.
    #[doc(alias = "XS_RM")]
    Rm = 13,
    /// `XS_SET_PERMS`.
    #[doc(alias = "XS_SET_PERMS")]
    SetPerms = 14,
    /// `XS_WATCH_EVENT`.
    #[doc(alias = "XS_WATCH_EVENT")]
    WatchEvent = 15,
    /// `XS_ERROR`.
    #[doc(alias = "XS_ERROR")]
    Error = 16,
    /// `XS_IS_DOMAIN_INTRODUCED`.
    #[doc(alias = "XS_IS_DOMAIN_INTRODUCED")]
    IsDomainIntroduced = 17,
    /// `XS_RESUME`.
    #[doc(alias = "XS_RESUME")]
    Resume = 18,
    /// `XS_SET_TARGET`.
    #[doc(alias = "XS_SET_TARGET")]
    SetTarget = 19,
    /// `XS_RESET_WATCHES` (`XS_SET_TARGET + 2`; 20 was `XS_RESTRICT`).
    #[doc(alias = "XS_RESET_WATCHES")]
    ResetWatches = 21,
    /// `XS_DIRECTORY_PART`.
    #[doc(alias = "XS_DIRECTORY_PART")]
    DirectoryPart = 22,
}

/// `XS_TYPE_COUNT`: one past the highest valid type.
pub const XS_TYPE_COUNT: u32 = 23;
/// `XS_INVALID`: a type guaranteed to stay invalid.
pub const XS_INVALID: u32 = 0xffff;

impl XsdSockmsgType {
    /// Every message type, in numeric order.
    pub const ALL: [XsdSockmsgType; 22] = [
        XsdSockmsgType::Control,
        XsdSockmsgType::Directory,
        XsdSockmsgType::Read,
        XsdSockmsgType::GetPerms,
        XsdSockmsgType::Watch,
        XsdSockmsgType::Unwatch,
        XsdSockmsgType::TransactionStart,
        XsdSockmsgType::TransactionEnd,
        XsdSockmsgType::Introduce,
        XsdSockmsgType::Release,
        XsdSockmsgType::GetDomainPath,
        XsdSockmsgType::Write,
        XsdSockmsgType::Mkdir,
        XsdSockmsgType::Rm,
        XsdSockmsgType::SetPerms,
        XsdSockmsgType::WatchEvent,
        XsdSockmsgType::Error,
        XsdSockmsgType::IsDomainIntroduced,
        XsdSockmsgType::Resume,
        XsdSockmsgType::SetTarget,
        XsdSockmsgType::ResetWatches,
        XsdSockmsgType::DirectoryPart,
    ];

    /// The C enumerator name, e.g. `"XS_READ"`.
    pub const fn c_name(self) -> &'static str {
        match self {
            XsdSockmsgType::Control => "XS_CONTROL",
            XsdSockmsgType::Directory => "XS_DIRECTORY",
            XsdSockmsgType::Read => "XS_READ",
            XsdSockmsgType::GetPerms => "XS_GET_PERMS",
            XsdSockmsgType::Watch => "XS_WATCH",
            XsdSockmsgType::Unwatch => "XS_UNWATCH",
            XsdSockmsgType::TransactionStart => "XS_TRANSACTION_START",
            XsdSockmsgType::TransactionEnd => "XS_TRANSACTION_END",
            XsdSockmsgType::Introduce => "XS_INTRODUCE",
            XsdSockmsgType::Release => "XS_RELEASE",
            XsdSockmsgType::GetDomainPath => "XS_GET_DOMAIN_PATH",
            XsdSockmsgType::Write => "XS_WRITE",
            XsdSockmsgType::Mkdir => "XS_MKDIR",
            XsdSockmsgType::Rm => "XS_RM",
            XsdSockmsgType::SetPerms => "XS_SET_PERMS",
            XsdSockmsgType::WatchEvent => "XS_WATCH_EVENT",
            XsdSockmsgType::Error => "XS_ERROR",
            XsdSockmsgType::IsDomainIntroduced => "XS_IS_DOMAIN_INTRODUCED",
            XsdSockmsgType::Resume => "XS_RESUME",
            XsdSockmsgType::SetTarget => "XS_SET_TARGET",
            XsdSockmsgType::ResetWatches => "XS_RESET_WATCHES",
            XsdSockmsgType::DirectoryPart => "XS_DIRECTORY_PART",
        }
    }
}

impl TryFrom<u32> for XsdSockmsgType {
    type Error = Errno;

    fn try_from(v: u32) -> Result<Self, Errno> {
        XsdSockmsgType::ALL
            .iter()
            .copied()
            .find(|t| *t as u32 == v)
            .ok_or(Errno::ENOSYS)
    }
}

impl From<XsdSockmsgType> for u32 {
    fn from(t: XsdSockmsgType) -> u32 {
        t as u32
    }
}

impl crate::sub_op::SubOp for XsdSockmsgType {
    const ALL: &'static [Self] = &XsdSockmsgType::ALL;
}

/// `XS_WRITE_NONE`: legacy write flag string.
pub const XS_WRITE_NONE: &str = "NONE";
/// `XS_WRITE_CREATE`: legacy write flag string.
pub const XS_WRITE_CREATE: &str = "CREATE";
/// `XS_WRITE_CREATE_EXCL`: legacy write flag string.
pub const XS_WRITE_CREATE_EXCL: &str = "CREATE|EXCL";

/// `xsd_errors[]`: the errors xenstored sends, as the errno and the string an `XS_ERROR` payload
/// carries. Order as in the header (new errors are appended there).
#[doc(alias = "xsd_errors")]
pub const XSD_ERRORS: [(Errno, &str); 16] = [
    (Errno::EINVAL, "EINVAL"),
    (Errno::EACCES, "EACCES"),
    (Errno::EEXIST, "EEXIST"),
    (Errno::EISDIR, "EISDIR"),
    (Errno::ENOENT, "ENOENT"),
    (Errno::ENOMEM, "ENOMEM"),
    (Errno::ENOSPC, "ENOSPC"),
    (Errno::EIO, "EIO"),
    (Errno::ENOTEMPTY, "ENOTEMPTY"),
    (Errno::ENOSYS, "ENOSYS"),
    (Errno::EROFS, "EROFS"),
    (Errno::EBUSY, "EBUSY"),
    (Errno::EAGAIN, "EAGAIN"),
    (Errno::EISCONN, "EISCONN"),
    (Errno::E2BIG, "E2BIG"),
    (Errno::EPERM, "EPERM"),
];

/// The `XS_ERROR` payload string for `e`, if xenstore's table has it.
pub fn xsd_error_string(e: Errno) -> Option<&'static str> {
    XSD_ERRORS.iter().find(|(n, _)| *n == e).map(|(_, s)| *s)
}

/// The errno an `XS_ERROR` payload string names, if xenstore's table has it.
pub fn xsd_error_from_string(s: &str) -> Option<Errno> {
    XSD_ERRORS.iter().find(|(_, n)| *n == s).map(|(e, _)| *e)
}

/// The header of every xenstore message (`struct xsd_sockmsg`); `len` payload bytes follow.
#[doc(alias = "xsd_sockmsg")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XsdSockmsg {
    /// `XS_*` message type (see [`XsdSockmsgType`]).
    pub r#type: u32,
    /// Request identifier, echoed in the daemon's response.
    pub req_id: u32,
    /// Transaction id (0 if not in a transaction).
    pub tx_id: u32,
    /// Payload bytes following the header (at most [`XENSTORE_PAYLOAD_MAX`]).
    pub len: u32,
}
const _: () = assert!(size_of::<XsdSockmsg>() == 16);

/// `XS_WATCH_PATH`: index of the path in an `XS_WATCH_EVENT` payload (`enum xs_watch_type`).
#[doc(alias = "xs_watch_type")]
pub const XS_WATCH_PATH: u32 = 0;
/// `XS_WATCH_TOKEN`: index of the token in an `XS_WATCH_EVENT` payload.
pub const XS_WATCH_TOKEN: u32 = 1;

/// `XENSTORE_RING_SIZE`: bytes in each of the two rings of the xenstore page.
pub const XENSTORE_RING_SIZE: u32 = 1024;

/// A xenstore ring index (`XENSTORE_RING_IDX`).
#[doc(alias = "XENSTORE_RING_IDX")]
pub type XenstoreRingIdx = u32;

/// `MASK_XENSTORE_IDX`: the byte offset of `idx` in a xenstore ring.
#[doc(alias = "MASK_XENSTORE_IDX")]
pub const fn mask_xenstore_idx(idx: XenstoreRingIdx) -> u32 {
    idx & (XENSTORE_RING_SIZE - 1)
}

/// The shared xenstore page of a domain (`struct xenstore_domain_interface`).
#[doc(alias = "xenstore_domain_interface")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenstoreDomainInterface {
    /// Requests to the xenstore daemon.
    pub req: [u8; XENSTORE_RING_SIZE as usize],
    /// Replies and asynchronous watch events.
    pub rsp: [u8; XENSTORE_RING_SIZE as usize],
    /// Daemon's consumer index into `req`.
    pub req_cons: XenstoreRingIdx,
    /// Guest's producer index into `req`.
    pub req_prod: XenstoreRingIdx,
    /// Guest's consumer index into `rsp`.
    pub rsp_cons: XenstoreRingIdx,
    /// Daemon's producer index into `rsp`.
    pub rsp_prod: XenstoreRingIdx,
    /// `XENSTORE_SERVER_FEATURE_*` bits the server supports.
    pub server_features: u32,
    /// `XENSTORE_CONNECTED` or `XENSTORE_RECONNECT`.
    pub connection: u32,
    /// `XENSTORE_ERROR_*`.
    pub error: u32,
}
const _: () = assert!(size_of::<XenstoreDomainInterface>() == 2076);

/// The request ring of the xenstore page (the guest produces, the daemon consumes).
pub const XENSTORE_REQ: ByteRing = ByteRing {
    data_offset: offset_of!(XenstoreDomainInterface, req),
    size: XENSTORE_RING_SIZE,
    cons_offset: offset_of!(XenstoreDomainInterface, req_cons),
    prod_offset: offset_of!(XenstoreDomainInterface, req_prod),
};

/// The response ring of the xenstore page (the daemon produces, the guest consumes).
pub const XENSTORE_RSP: ByteRing = ByteRing {
    data_offset: offset_of!(XenstoreDomainInterface, rsp),
    size: XENSTORE_RING_SIZE,
    cons_offset: offset_of!(XenstoreDomainInterface, rsp_cons),
    prod_offset: offset_of!(XenstoreDomainInterface, rsp_prod),
};

/// `XENSTORE_PAYLOAD_MAX`: the most payload bytes one message may carry.
pub const XENSTORE_PAYLOAD_MAX: u32 = 4096;
/// `XENSTORE_ABS_PATH_MAX`: the longest absolute path.
pub const XENSTORE_ABS_PATH_MAX: u32 = 3072;
/// `XENSTORE_REL_PATH_MAX`: the longest relative path.
pub const XENSTORE_REL_PATH_MAX: u32 = 2048;

/// `XENSTORE_SERVER_FEATURE_RECONNECTION`: the ring can be reconnected.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
/// `XENSTORE_SERVER_FEATURE_ERROR`: the page has the `error` field.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;

/// `XENSTORE_CONNECTED`: the steady state of `connection`.
pub const XENSTORE_CONNECTED: u32 = 0;
/// `XENSTORE_RECONNECT`: a reconnect is in progress.
pub const XENSTORE_RECONNECT: u32 = 1;

/// `XENSTORE_ERROR_NONE`.
pub const XENSTORE_ERROR_NONE: u32 = 0;
/// `XENSTORE_ERROR_COMM`: communication problem.
pub const XENSTORE_ERROR_COMM: u32 = 1;
/// `XENSTORE_ERROR_RINGIDX`: invalid ring index.
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
/// `XENSTORE_ERROR_PROTO`: protocol violation (payload too long).
pub const XENSTORE_ERROR_PROTO: u32 = 3;

/// The `connection` field of the xenstore page. An unknown value is an [`UnknownValue`]: the
/// field is state, not a sub-op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum XenstoreConnection {
    /// `XENSTORE_CONNECTED`.
    #[doc(alias = "XENSTORE_CONNECTED")]
    Connected = XENSTORE_CONNECTED,
    /// `XENSTORE_RECONNECT`.
    #[doc(alias = "XENSTORE_RECONNECT")]
    Reconnect = XENSTORE_RECONNECT,
}

impl TryFrom<u32> for XenstoreConnection {
    type Error = UnknownValue;

    fn try_from(v: u32) -> Result<Self, UnknownValue> {
        match v {
            XENSTORE_CONNECTED => Ok(XenstoreConnection::Connected),
            XENSTORE_RECONNECT => Ok(XenstoreConnection::Reconnect),
            _ => Err(UnknownValue {
                what: "xenstore_domain_interface.connection",
                value: v,
            }),
        }
    }
}

/// The `error` field of the xenstore page. An unknown value is an [`UnknownValue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum XenstoreError {
    /// `XENSTORE_ERROR_NONE`.
    #[doc(alias = "XENSTORE_ERROR_NONE")]
    None = XENSTORE_ERROR_NONE,
    /// `XENSTORE_ERROR_COMM`.
    #[doc(alias = "XENSTORE_ERROR_COMM")]
    Comm = XENSTORE_ERROR_COMM,
    /// `XENSTORE_ERROR_RINGIDX`.
    #[doc(alias = "XENSTORE_ERROR_RINGIDX")]
    RingIdx = XENSTORE_ERROR_RINGIDX,
    /// `XENSTORE_ERROR_PROTO`.
    #[doc(alias = "XENSTORE_ERROR_PROTO")]
    Proto = XENSTORE_ERROR_PROTO,
}

impl TryFrom<u32> for XenstoreError {
    type Error = UnknownValue;

    fn try_from(v: u32) -> Result<Self, UnknownValue> {
        match v {
            XENSTORE_ERROR_NONE => Ok(XenstoreError::None),
            XENSTORE_ERROR_COMM => Ok(XenstoreError::Comm),
            XENSTORE_ERROR_RINGIDX => Ok(XenstoreError::RingIdx),
            XENSTORE_ERROR_PROTO => Ok(XenstoreError::Proto),
            _ => Err(UnknownValue {
                what: "xenstore_domain_interface.error",
                value: v,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_from_every_type_round_trips() {
        for t in XsdSockmsgType::ALL {
            assert_eq!(XsdSockmsgType::try_from(u32::from(t)), Ok(t));
        }
    }

    #[test]
    fn try_from_every_other_number_is_enosys() {
        crate::sub_op::assert_sub_op::<XsdSockmsgType>();
    }

    #[test]
    fn try_from_removed_restrict_is_enosys() {
        assert_eq!(XsdSockmsgType::try_from(20), Err(Errno::ENOSYS));
        assert_eq!(XsdSockmsgType::try_from(XS_TYPE_COUNT), Err(Errno::ENOSYS));
        assert_eq!(XsdSockmsgType::try_from(XS_INVALID), Err(Errno::ENOSYS));
    }

    #[test]
    fn xsd_error_string_round_trips() {
        for (e, s) in XSD_ERRORS {
            assert_eq!(e.name(), s);
            assert_eq!(xsd_error_string(e), Some(s));
            assert_eq!(xsd_error_from_string(s), Some(e));
        }
        assert_eq!(xsd_error_string(Errno::EFAULT), None);
        assert_eq!(xsd_error_from_string("EWHATEVER"), None);
    }

    #[test]
    fn try_from_unknown_connection_is_unknown_value() {
        assert_eq!(
            XenstoreConnection::try_from(1),
            Ok(XenstoreConnection::Reconnect)
        );
        assert!(XenstoreConnection::try_from(2).is_err());
        assert_eq!(XenstoreError::try_from(3), Ok(XenstoreError::Proto));
        assert!(XenstoreError::try_from(4).is_err());
    }
}
