//! Layout fragments for `io/ring.h`, `io/blkif.h`, `io/netif.h`, `io/console.h`, `io/xs_wire.h`
//! and `io/xenbus.h` (one fragment per header).

use std::mem::{offset_of, size_of};

use crate::checker::{field_size, Fragment};
use xen_abi::io::blkif::{self as b, *};
use xen_abi::io::console::{self as c, *};
use xen_abi::io::netif::{self as n, *};
use xen_abi::io::ring::{self as r, *};
use xen_abi::io::xenbus::XenbusState;
use xen_abi::io::xs_wire::{self as x, *};
use xen_abi::Errno;

/// `io/ring.h`: the `sring` header (through `struct blkif_sring`, whose header every ring
/// shares), entry sizes and `__CONST_RING_SIZE` of every ring type 4.17 defines that we mirror.
pub fn ring() -> Fragment {
    let mut f = Fragment::new(
        "io/ring.h",
        &["xen/xen.h", "xen/io/blkif.h", "xen/io/netif.h"],
    );
    let blk = entry_size::<BlkifRequest, BlkifResponse>();
    let tx = entry_size::<NetifTxRequest, NetifTxResponse>();
    let rx = entry_size::<NetifRxRequest, NetifRxResponse>();
    let ctrl = entry_size::<XenNetifCtrlRequest, XenNetifCtrlResponse>();
    consts!(f;
        "offsetof(struct blkif_sring, req_prod)" = r::REQ_PROD_OFFSET,
        "offsetof(struct blkif_sring, req_event)" = r::REQ_EVENT_OFFSET,
        "offsetof(struct blkif_sring, rsp_prod)" = r::RSP_PROD_OFFSET,
        "offsetof(struct blkif_sring, rsp_event)" = r::RSP_EVENT_OFFSET,
        "offsetof(struct blkif_sring, pvt)" = r::PVT_OFFSET,
        "offsetof(struct blkif_sring, pvt)" = offset_of!(SharedRingHeader, pvt),
        "sizeof(((struct blkif_sring *)0)->pvt)" = field_size::<SharedRingHeader, _>(|h| &h.pvt),
        "offsetof(struct blkif_sring, __pad)" = offset_of!(SharedRingHeader, pad),
        "sizeof(((struct blkif_sring *)0)->__pad)" = field_size::<SharedRingHeader, _>(|h| &h.pad),
        "offsetof(struct blkif_sring, ring)" = r::RING_ENTRIES_OFFSET,
        "offsetof(struct netif_tx_sring, ring)" = r::RING_ENTRIES_OFFSET,
        "offsetof(struct xen_netif_ctrl_sring, ring)" = size_of::<SharedRingHeader>(),
        "sizeof(RING_IDX)" = size_of::<RingIdx>(),

        "sizeof(union blkif_sring_entry)" = blk,
        "sizeof(union netif_tx_sring_entry)" = tx,
        "sizeof(union netif_rx_sring_entry)" = rx,
        "sizeof(union xen_netif_ctrl_sring_entry)" = ctrl,

        "__CONST_RING_SIZE(blkif, 4096)" = b::BLKIF_RING_SIZE,
        "__CONST_RING_SIZE(blkif, 4096 << 1)" = ring_size(4096 << 1, blk),
        "__CONST_RING_SIZE(blkif, 4096 << 4)" = ring_size(4096 << 4, blk),
        "__CONST_RING_SIZE(blkif, 4096 - 37)" = ring_size(4096 - 37, blk),
        "__CONST_RING_SIZE(netif_tx, 4096)" = n::NET_TX_RING_SIZE,
        "__CONST_RING_SIZE(netif_tx, 4096 << 3)" = ring_size(4096 << 3, tx),
        "__CONST_RING_SIZE(netif_rx, 4096)" = n::NET_RX_RING_SIZE,
        "__CONST_RING_SIZE(xen_netif_ctrl, 4096)" = n::NET_CTRL_RING_SIZE,

        "__RD32(0)" = round_down_pow2(0),
        "__RD32(1)" = round_down_pow2(1),
        "__RD32(36)" = round_down_pow2(36),
        "__RD32(0x10001)" = round_down_pow2(0x10001),
        "__RD32(0xffffffffu)" = round_down_pow2(u32::MAX),
    );
    f
}

/// `io/blkif.h` (and the `XEN_IO_PROTO_ABI_*` strings of `io/protocols.h` it names).
pub fn blkif() -> Fragment {
    let mut f = Fragment::new(
        "io/blkif.h",
        &["xen/xen.h", "xen/io/blkif.h", "xen/io/protocols.h"],
    );
    layout!(f, BlkifRequestSegment => "struct blkif_request_segment" {
        gref, first_sect, last_sect, _pad0,
    });
    layout!(f, BlkifRequest => "struct blkif_request" {
        operation, nr_segments, handle, _pad0, id, sector_number, seg,
    });
    layout!(f, BlkifRequest => "blkif_request_t" {
        operation, nr_segments, handle, _pad0, id, sector_number, seg,
    });
    layout!(f, BlkifRequestDiscard => "struct blkif_request_discard" {
        operation, flag, handle, _pad0, id, sector_number, nr_sectors,
    });
    layout!(f, BlkifRequestIndirect => "struct blkif_request_indirect" {
        operation, indirect_op, nr_segments, _pad0, id, sector_number, handle, _pad1,
        indirect_grefs, _pad2,
    });
    layout!(f, BlkifResponse => "struct blkif_response" { id, operation, _pad0, status, _pad1 });
    layout!(f, BlkifResponse => "blkif_response_t" { id, operation, _pad0, status, _pad1 });

    consts!(f;
        BLKIF_OP_READ = b::BLKIF_OP_READ,
        BLKIF_OP_WRITE = b::BLKIF_OP_WRITE,
        BLKIF_OP_WRITE_BARRIER = b::BLKIF_OP_WRITE_BARRIER,
        BLKIF_OP_FLUSH_DISKCACHE = b::BLKIF_OP_FLUSH_DISKCACHE,
        BLKIF_OP_RESERVED_1 = b::BLKIF_OP_RESERVED_1,
        BLKIF_OP_DISCARD = b::BLKIF_OP_DISCARD,
        BLKIF_OP_INDIRECT = b::BLKIF_OP_INDIRECT,
        BLKIF_OP_READ = BlkifOp::Read,
        BLKIF_OP_WRITE = BlkifOp::Write,
        BLKIF_OP_WRITE_BARRIER = BlkifOp::WriteBarrier,
        BLKIF_OP_FLUSH_DISKCACHE = BlkifOp::FlushDiskcache,
        BLKIF_OP_RESERVED_1 = BlkifOp::Reserved1,
        BLKIF_OP_DISCARD = BlkifOp::Discard,
        BLKIF_OP_INDIRECT = BlkifOp::Indirect,
        BLKIF_MAX_SEGMENTS_PER_REQUEST = b::BLKIF_MAX_SEGMENTS_PER_REQUEST,
        BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST = b::BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
        "4096 / sizeof(struct blkif_request_segment)" = b::BLKIF_SEGS_PER_INDIRECT_FRAME,
        "BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * (4096 / sizeof(struct blkif_request_segment))"
            = b::BLKIF_MAX_INDIRECT_SEGMENTS,
        BLKIF_DISCARD_SECURE = b::BLKIF_DISCARD_SECURE,
        BLKIF_RSP_EOPNOTSUPP = b::BLKIF_RSP_EOPNOTSUPP,
        BLKIF_RSP_ERROR = b::BLKIF_RSP_ERROR,
        BLKIF_RSP_OKAY = b::BLKIF_RSP_OKAY,
        VDISK_CDROM = b::VDISK_CDROM,
        VDISK_REMOVABLE = b::VDISK_REMOVABLE,
        VDISK_READONLY = b::VDISK_READONLY,
        VDISK_CDROM = VdiskInfo::CDROM.bits(),
        VDISK_REMOVABLE = VdiskInfo::REMOVABLE.bits(),
        VDISK_READONLY = VdiskInfo::READONLY.bits(),
        "sizeof(blkif_vdev_t)" = size_of::<BlkifVdev>(),
        "sizeof(blkif_sector_t)" = size_of::<BlkifSector>(),
    );
    check_str(
        &mut f,
        "XEN_IO_PROTO_ABI_X86_32",
        b::XEN_IO_PROTO_ABI_X86_32,
    );
    check_str(
        &mut f,
        "XEN_IO_PROTO_ABI_X86_64",
        b::XEN_IO_PROTO_ABI_X86_64,
    );
    check_str(&mut f, "XEN_IO_PROTO_ABI_ARM", b::XEN_IO_PROTO_ABI_ARM);
    check_str(
        &mut f,
        "XEN_IO_PROTO_ABI_NATIVE",
        b::XEN_IO_PROTO_ABI_NATIVE,
    );
    f
}

/// `io/netif.h`.
pub fn netif() -> Fragment {
    let mut f = Fragment::new("io/netif.h", &["xen/xen.h", "xen/io/netif.h"]);
    layout!(f, NetifTxRequest => "struct netif_tx_request" { gref, offset, flags, id, size });
    layout!(f, NetifTxRequest => "netif_tx_request_t" { gref, offset, flags, id, size });
    layout!(f, NetifTxResponse => "struct netif_tx_response" { id, status });
    layout!(f, NetifRxRequest => "struct netif_rx_request" { id, pad, gref });
    layout!(f, NetifRxResponse => "struct netif_rx_response" { id, offset, flags, status });
    layout!(f, NetifExtraInfo => "struct netif_extra_info" { r#type, flags, u });
    layout!(f, NetifExtraInfo => "netif_extra_info_t" { r#type, flags, u });
    layout!(f, XenNetifCtrlRequest => "struct xen_netif_ctrl_request" { id, r#type, data });
    layout!(f, XenNetifCtrlResponse => "struct xen_netif_ctrl_response" {
        id, r#type, status, data,
    });
    layout!(f, XenNetifGref => "struct xen_netif_gref" { r#ref, flags, status });

    // The extra-info union's members, mirrored as separate structs read from `u`'s bytes.
    let u = offset_of!(NetifExtraInfo, u);
    consts!(f;
        "offsetof(struct netif_extra_info, u.gso.size)" = u + offset_of!(NetifExtraGso, size),
        "offsetof(struct netif_extra_info, u.gso.type)" = u + offset_of!(NetifExtraGso, r#type),
        "offsetof(struct netif_extra_info, u.gso.pad)" = u + offset_of!(NetifExtraGso, pad),
        "offsetof(struct netif_extra_info, u.gso.features)"
            = u + offset_of!(NetifExtraGso, features),
        "sizeof(((struct netif_extra_info *)0)->u.gso)" = size_of::<NetifExtraGso>(),
        "offsetof(struct netif_extra_info, u.mcast.addr)" = u + offset_of!(NetifExtraMcast, addr),
        "sizeof(((struct netif_extra_info *)0)->u.mcast)" = size_of::<NetifExtraMcast>(),
        "offsetof(struct netif_extra_info, u.hash.type)" = u + offset_of!(NetifExtraHash, r#type),
        "offsetof(struct netif_extra_info, u.hash.algorithm)"
            = u + offset_of!(NetifExtraHash, algorithm),
        "offsetof(struct netif_extra_info, u.hash.value)" = u + offset_of!(NetifExtraHash, value),
        "sizeof(((struct netif_extra_info *)0)->u.hash)" = size_of::<NetifExtraHash>(),
        "offsetof(struct netif_extra_info, u.pad)" = u,
        "_Alignof(struct netif_extra_info)" = std::mem::align_of::<NetifExtraInfo>(),

        XEN_NETIF_NR_SLOTS_MIN = n::XEN_NETIF_NR_SLOTS_MIN,
        _XEN_NETIF_CTRL_HASH_TYPE_IPV4 = n::XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT,
        XEN_NETIF_CTRL_HASH_TYPE_IPV4 = n::XEN_NETIF_CTRL_HASH_TYPE_IPV4,
        _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP = n::XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT,
        XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP = n::XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
        _XEN_NETIF_CTRL_HASH_TYPE_IPV6 = n::XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT,
        XEN_NETIF_CTRL_HASH_TYPE_IPV6 = n::XEN_NETIF_CTRL_HASH_TYPE_IPV6,
        _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP = n::XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT,
        XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP = n::XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP,
        XEN_NETIF_CTRL_HASH_ALGORITHM_NONE = n::XEN_NETIF_CTRL_HASH_ALGORITHM_NONE,
        XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ = n::XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
        XEN_NETIF_CTRL_TYPE_INVALID = n::XEN_NETIF_CTRL_TYPE_INVALID,
        XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS = n::XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS,
        XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS = n::XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
        XEN_NETIF_CTRL_TYPE_SET_HASH_KEY = n::XEN_NETIF_CTRL_TYPE_SET_HASH_KEY,
        XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE = n::XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE,
        XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE = n::XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
        XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING = n::XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
        XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM = n::XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
        XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE = n::XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE,
        XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING = n::XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING,
        XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING = n::XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING,
        XEN_NETIF_CTRL_TYPE_INVALID = XenNetifCtrlType::Invalid,
        XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS = XenNetifCtrlType::GetHashFlags,
        XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS = XenNetifCtrlType::SetHashFlags,
        XEN_NETIF_CTRL_TYPE_SET_HASH_KEY = XenNetifCtrlType::SetHashKey,
        XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE = XenNetifCtrlType::GetHashMappingSize,
        XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE = XenNetifCtrlType::SetHashMappingSize,
        XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING = XenNetifCtrlType::SetHashMapping,
        XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM = XenNetifCtrlType::SetHashAlgorithm,
        XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE = XenNetifCtrlType::GetGrefMappingSize,
        XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING = XenNetifCtrlType::AddGrefMapping,
        XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING = XenNetifCtrlType::DelGrefMapping,
        XEN_NETIF_CTRL_STATUS_SUCCESS = n::XEN_NETIF_CTRL_STATUS_SUCCESS,
        XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED = n::XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED,
        XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER = n::XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
        XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW = n::XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW,
        _XEN_NETIF_CTRLF_GREF_readonly = n::XEN_NETIF_CTRLF_GREF_READONLY_BIT,
        XEN_NETIF_CTRLF_GREF_readonly = n::XEN_NETIF_CTRLF_GREF_READONLY,

        _NETTXF_csum_blank = n::NETTXF_CSUM_BLANK_BIT,
        NETTXF_csum_blank = n::NETTXF_CSUM_BLANK,
        _NETTXF_data_validated = n::NETTXF_DATA_VALIDATED_BIT,
        NETTXF_data_validated = n::NETTXF_DATA_VALIDATED,
        _NETTXF_more_data = n::NETTXF_MORE_DATA_BIT,
        NETTXF_more_data = n::NETTXF_MORE_DATA,
        _NETTXF_extra_info = n::NETTXF_EXTRA_INFO_BIT,
        NETTXF_extra_info = n::NETTXF_EXTRA_INFO,
        XEN_NETIF_MAX_TX_SIZE = n::XEN_NETIF_MAX_TX_SIZE,

        XEN_NETIF_EXTRA_TYPE_NONE = n::XEN_NETIF_EXTRA_TYPE_NONE,
        XEN_NETIF_EXTRA_TYPE_GSO = n::XEN_NETIF_EXTRA_TYPE_GSO,
        XEN_NETIF_EXTRA_TYPE_MCAST_ADD = n::XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
        XEN_NETIF_EXTRA_TYPE_MCAST_DEL = n::XEN_NETIF_EXTRA_TYPE_MCAST_DEL,
        XEN_NETIF_EXTRA_TYPE_HASH = n::XEN_NETIF_EXTRA_TYPE_HASH,
        XEN_NETIF_EXTRA_TYPE_MAX = n::XEN_NETIF_EXTRA_TYPE_MAX,
        XEN_NETIF_EXTRA_TYPE_GSO = XenNetifExtraType::Gso,
        XEN_NETIF_EXTRA_TYPE_MCAST_ADD = XenNetifExtraType::McastAdd,
        XEN_NETIF_EXTRA_TYPE_MCAST_DEL = XenNetifExtraType::McastDel,
        XEN_NETIF_EXTRA_TYPE_HASH = XenNetifExtraType::Hash,
        _XEN_NETIF_EXTRA_FLAG_MORE = n::XEN_NETIF_EXTRA_FLAG_MORE_BIT,
        XEN_NETIF_EXTRA_FLAG_MORE = n::XEN_NETIF_EXTRA_FLAG_MORE,
        XEN_NETIF_GSO_TYPE_NONE = n::XEN_NETIF_GSO_TYPE_NONE,
        XEN_NETIF_GSO_TYPE_TCPV4 = n::XEN_NETIF_GSO_TYPE_TCPV4,
        XEN_NETIF_GSO_TYPE_TCPV6 = n::XEN_NETIF_GSO_TYPE_TCPV6,

        _NETRXF_data_validated = n::NETRXF_DATA_VALIDATED_BIT,
        NETRXF_data_validated = n::NETRXF_DATA_VALIDATED,
        _NETRXF_csum_blank = n::NETRXF_CSUM_BLANK_BIT,
        NETRXF_csum_blank = n::NETRXF_CSUM_BLANK,
        _NETRXF_more_data = n::NETRXF_MORE_DATA_BIT,
        NETRXF_more_data = n::NETRXF_MORE_DATA,
        _NETRXF_extra_info = n::NETRXF_EXTRA_INFO_BIT,
        NETRXF_extra_info = n::NETRXF_EXTRA_INFO,
        _NETRXF_gso_prefix = n::NETRXF_GSO_PREFIX_BIT,
        NETRXF_gso_prefix = n::NETRXF_GSO_PREFIX,

        NETIF_RSP_DROPPED = n::NETIF_RSP_DROPPED,
        NETIF_RSP_ERROR = n::NETIF_RSP_ERROR,
        NETIF_RSP_OKAY = n::NETIF_RSP_OKAY,
        NETIF_RSP_NULL = n::NETIF_RSP_NULL,
    );
    f
}

/// `io/console.h`.
pub fn console() -> Fragment {
    let mut f = Fragment::new("io/console.h", &["xen/xen.h", "xen/io/console.h"]);
    layout!(f, XenconsInterface => "struct xencons_interface" {
        r#in, out, in_cons, in_prod, out_cons, out_prod,
    });
    consts!(f;
        "sizeof(XENCONS_RING_IDX)" = size_of::<XenconsRingIdx>(),
        "sizeof(((struct xencons_interface *)0)->in)" = c::XENCONS_IN_SIZE,
        "sizeof(((struct xencons_interface *)0)->out)" = c::XENCONS_OUT_SIZE,
        "MASK_XENCONS_IDX(1025, ((struct xencons_interface *)0)->in)" = mask_xencons_in_idx(1025),
        "MASK_XENCONS_IDX(0xffffffffu, ((struct xencons_interface *)0)->in)"
            = mask_xencons_in_idx(u32::MAX),
        "MASK_XENCONS_IDX(2049, ((struct xencons_interface *)0)->out)"
            = mask_xencons_out_idx(2049),
        "MASK_XENCONS_IDX(0xffffffffu, ((struct xencons_interface *)0)->out)"
            = mask_xencons_out_idx(u32::MAX),
        "offsetof(struct xencons_interface, in)" = c::XENCONS_IN.data_offset,
        "offsetof(struct xencons_interface, in_cons)" = c::XENCONS_IN.cons_offset,
        "offsetof(struct xencons_interface, in_prod)" = c::XENCONS_IN.prod_offset,
        "offsetof(struct xencons_interface, out)" = c::XENCONS_OUT.data_offset,
        "offsetof(struct xencons_interface, out_cons)" = c::XENCONS_OUT.cons_offset,
        "offsetof(struct xencons_interface, out_prod)" = c::XENCONS_OUT.prod_offset,
    );
    f
}

/// `io/xs_wire.h` (with `<errno.h>` first, so the header defines `xsd_errors[]`).
pub fn xs_wire() -> Fragment {
    let mut f = Fragment::new(
        "io/xs_wire.h",
        &["errno.h", "xen/xen.h", "xen/io/xs_wire.h"],
    );
    layout!(f, XsdSockmsg => "struct xsd_sockmsg" { r#type, req_id, tx_id, len });
    layout!(f, XenstoreDomainInterface => "struct xenstore_domain_interface" {
        req, rsp, req_cons, req_prod, rsp_cons, rsp_prod, server_features, connection, error,
    });
    sub_ops!(f, XsdSockmsgType;
        XS_CONTROL = Control, XS_DIRECTORY = Directory, XS_READ = Read, XS_GET_PERMS = GetPerms,
        XS_WATCH = Watch, XS_UNWATCH = Unwatch, XS_TRANSACTION_START = TransactionStart,
        XS_TRANSACTION_END = TransactionEnd, XS_INTRODUCE = Introduce, XS_RELEASE = Release,
        XS_GET_DOMAIN_PATH = GetDomainPath, XS_WRITE = Write, XS_MKDIR = Mkdir, XS_RM = Rm,
        XS_SET_PERMS = SetPerms, XS_WATCH_EVENT = WatchEvent, XS_ERROR = Error,
        XS_IS_DOMAIN_INTRODUCED = IsDomainIntroduced, XS_RESUME = Resume,
        XS_SET_TARGET = SetTarget, XS_RESET_WATCHES = ResetWatches,
        XS_DIRECTORY_PART = DirectoryPart,
    );
    // `c_name()` must agree with the C names checked above.
    for t in XsdSockmsgType::ALL {
        f.push_const(t.c_name(), t as i128);
    }
    consts!(f;
        XS_DEBUG = XsdSockmsgType::Control,
        XS_TYPE_COUNT = x::XS_TYPE_COUNT,
        XS_INVALID = x::XS_INVALID,
        XS_WATCH_PATH = x::XS_WATCH_PATH,
        XS_WATCH_TOKEN = x::XS_WATCH_TOKEN,
        XENSTORE_RING_SIZE = x::XENSTORE_RING_SIZE,
        "sizeof(XENSTORE_RING_IDX)" = size_of::<XenstoreRingIdx>(),
        "MASK_XENSTORE_IDX(1030)" = mask_xenstore_idx(1030),
        "MASK_XENSTORE_IDX(0xffffffffu)" = mask_xenstore_idx(u32::MAX),
        "offsetof(struct xenstore_domain_interface, req)" = x::XENSTORE_REQ.data_offset,
        "offsetof(struct xenstore_domain_interface, req_cons)" = x::XENSTORE_REQ.cons_offset,
        "offsetof(struct xenstore_domain_interface, req_prod)" = x::XENSTORE_REQ.prod_offset,
        "offsetof(struct xenstore_domain_interface, rsp)" = x::XENSTORE_RSP.data_offset,
        "offsetof(struct xenstore_domain_interface, rsp_cons)" = x::XENSTORE_RSP.cons_offset,
        "offsetof(struct xenstore_domain_interface, rsp_prod)" = x::XENSTORE_RSP.prod_offset,
        XENSTORE_PAYLOAD_MAX = x::XENSTORE_PAYLOAD_MAX,
        XENSTORE_ABS_PATH_MAX = x::XENSTORE_ABS_PATH_MAX,
        XENSTORE_REL_PATH_MAX = x::XENSTORE_REL_PATH_MAX,
        XENSTORE_SERVER_FEATURE_RECONNECTION = x::XENSTORE_SERVER_FEATURE_RECONNECTION,
        XENSTORE_SERVER_FEATURE_ERROR = x::XENSTORE_SERVER_FEATURE_ERROR,
        XENSTORE_CONNECTED = x::XENSTORE_CONNECTED,
        XENSTORE_RECONNECT = x::XENSTORE_RECONNECT,
        XENSTORE_CONNECTED = XenstoreConnection::Connected,
        XENSTORE_RECONNECT = XenstoreConnection::Reconnect,
        XENSTORE_ERROR_NONE = x::XENSTORE_ERROR_NONE,
        XENSTORE_ERROR_COMM = x::XENSTORE_ERROR_COMM,
        XENSTORE_ERROR_RINGIDX = x::XENSTORE_ERROR_RINGIDX,
        XENSTORE_ERROR_PROTO = x::XENSTORE_ERROR_PROTO,
        XENSTORE_ERROR_NONE = XenstoreError::None,
        XENSTORE_ERROR_COMM = XenstoreError::Comm,
        XENSTORE_ERROR_RINGIDX = XenstoreError::RingIdx,
        XENSTORE_ERROR_PROTO = XenstoreError::Proto,
        "sizeof(xsd_errors) / sizeof(xsd_errors[0])" = x::XSD_ERRORS.len(),
    );
    check_str(&mut f, "XS_WRITE_NONE", x::XS_WRITE_NONE);
    check_str(&mut f, "XS_WRITE_CREATE", x::XS_WRITE_CREATE);
    check_str(&mut f, "XS_WRITE_CREATE_EXCL", x::XS_WRITE_CREATE_EXCL);
    // The table, entry by entry: the host errno (Xen's errno values are Linux's) and its name.
    for (i, (e, s)) in x::XSD_ERRORS.iter().enumerate() {
        f.push_const(&format!("xsd_errors[{i}].errnum"), Errno::code(*e).into());
        f.push_const(&format!("xsd_errors[{i}].errnum == {}", e.name()), 1);
        check_str(&mut f, &format!("xsd_errors[{i}].errstring"), s);
    }
    f
}

/// `io/xenbus.h`.
pub fn xenbus() -> Fragment {
    let mut f = Fragment::new("io/xenbus.h", &["xen/xen.h", "xen/io/xenbus.h"]);
    for s in XenbusState::ALL {
        f.push_const(s.c_name(), s as i128);
    }
    consts!(f; "sizeof(XenbusState)" = size_of::<XenbusState>());
    f
}

/// A C string expression equals `s`: same length, same bytes.
fn check_str(f: &mut Fragment, c_expr: &str, s: &str) {
    f.push_const(&format!("__builtin_strlen({c_expr})"), s.len() as i128);
    f.push_const(&format!("__builtin_strcmp({c_expr}, {s:?})"), 0);
}
