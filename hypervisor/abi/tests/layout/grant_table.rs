//! Layout fragment for `grant_table.h`.

use std::mem::{align_of, offset_of, size_of};

use crate::checker::{byte_offset as at, field_size, Fragment};
use xen_abi::grant_table::*;
use xen_abi::types::{GrantHandle, GrantRef};

/// Every variant of a fieldless enum against its C number: a variant the list leaves out is a
/// compile error (exhaustive `match`), one missing from the enum's `ALL` (so never decoded) a
/// reported problem.
macro_rules! every_variant {
    ($f:expr, $enum:ident; $($c:ident = $v:ident),* $(,)?) => {{
        #[allow(dead_code)]
        fn exhaustive(v: $enum) {
            match v {
                $($enum::$v => {})*
            }
        }
        $(
            if !$enum::ALL.contains(&$enum::$v) {
                $f.problems.push(format!(
                    "{}: {}::{} is missing from {}::ALL",
                    $f.header,
                    stringify!($enum),
                    stringify!($v),
                    stringify!($enum),
                ));
            }
            $f.push_const(stringify!($c), $enum::$v as i128);
        )*
    }};
}

/// A member of a C union that is an anonymous struct, mirrored by a Rust struct of its own: its
/// size and alignment, and every field's offset and size, through `offsetof`/`sizeof` on the
/// union. The field list must name every Rust field (destructured exhaustively, as in `layout!`).
macro_rules! anonymous_member {
    ($f:expr, $outer:literal . $member:literal => $ty:ident { $($field:ident),* $(,)? }) => {{
        #[allow(dead_code, clippy::needless_pass_by_value)]
        fn exhaustive(v: $ty) {
            let $ty { $($field: _),* } = v;
        }
        let m = concat!("((", $outer, " *)0)->", $member);
        $f.push_const(&format!("sizeof({m})"), size_of::<$ty>() as i128);
        $f.push_const(&format!("__alignof__({m})"), align_of::<$ty>() as i128);
        $(
            $f.push_const(
                concat!("offsetof(", $outer, ", ", $member, ".", stringify!($field), ")"),
                offset_of!($ty, $field) as i128,
            );
            $f.push_const(
                &format!("sizeof({m}.{})", stringify!($field)),
                field_size::<$ty, _>(|s| &s.$field) as i128,
            );
        )*
    }};
}

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("grant_table.h", &["xen/grant_table.h"]);

    layout!(f, GrantEntryV1 => "struct grant_entry_v1" { flags, domid, frame });
    layout!(f, GrantEntryHeader => "struct grant_entry_header" { flags, domid });
    layout!(f, GrantEntryV2 => "union grant_entry_v2" { bytes });
    layout!(f, GnttabMapGrantRef => "struct gnttab_map_grant_ref" {
        host_addr, flags, r#ref, dom, status, handle, dev_bus_addr,
    });
    layout!(f, GnttabUnmapGrantRef => "struct gnttab_unmap_grant_ref" {
        host_addr, dev_bus_addr, handle, status, _pad,
    });
    layout!(f, GnttabSetupTable => "struct gnttab_setup_table" {
        dom, _pad0, nr_frames, status, _pad1, frame_list,
    });
    layout!(f, GnttabDumpTable => "struct gnttab_dump_table" { dom, status });
    layout!(f, GnttabTransfer => "struct gnttab_transfer" {
        mfn, domid, _pad0, r#ref, status, _pad1,
    });
    layout!(f, GnttabCopyPtr => "struct gnttab_copy_ptr" { u, domid, offset, _pad });
    layout!(f, GnttabCopy => "struct gnttab_copy" { source, dest, len, flags, status, _pad });
    layout!(f, GnttabQuerySize => "struct gnttab_query_size" {
        dom, _pad0, nr_frames, max_nr_frames, status, _pad1,
    });
    layout!(f, GnttabUnmapAndReplace => "struct gnttab_unmap_and_replace" {
        host_addr, new_addr, handle, status, _pad,
    });
    layout!(f, GnttabSetVersion => "struct gnttab_set_version" { version });
    layout!(f, GnttabGetStatusFrames => "struct gnttab_get_status_frames" {
        nr_frames, dom, status, frame_list,
    });
    layout!(f, GnttabGetVersion => "struct gnttab_get_version" { dom, pad, version });
    layout!(f, GnttabSwapGrantRef => "struct gnttab_swap_grant_ref" {
        ref_a, ref_b, status, _pad,
    });
    layout!(f, GnttabCacheFlush => "struct gnttab_cache_flush" { a, offset, length, op });

    // `union grant_entry_v2` is held as raw bytes; its views (`hdr` is the checked
    // `grant_entry_header`) are read from offset 0.
    anonymous_member!(f, "union grant_entry_v2"."full_page" => GrantEntryV2FullPage {
        hdr, pad0, frame,
    });
    anonymous_member!(f, "union grant_entry_v2"."sub_page" => GrantEntryV2SubPage {
        hdr, page_off, length, frame,
    });
    anonymous_member!(f, "union grant_entry_v2"."transitive" => GrantEntryV2Transitive {
        hdr, trans_domid, pad0, gref,
    });

    // The unions held as one 64-bit word: where the accessors find each member.
    let word = 0x1122_3344_5566_7788u64;
    let ptr = GnttabCopyPtr {
        u: word,
        ..Default::default()
    };
    let flush = GnttabCacheFlush {
        a: word,
        ..Default::default()
    };
    consts!(f;
        "sizeof(((struct gnttab_copy_ptr *)0)->u)" = size_of::<u64>(),
        "offsetof(struct gnttab_copy_ptr, u.ref)" = at(&ptr, &ptr.gref().0),
        "sizeof(((struct gnttab_copy_ptr *)0)->u.ref)" = size_of::<GrantRef>(),
        "offsetof(struct gnttab_copy_ptr, u.gmfn)" = at(&ptr, &ptr.gmfn().0),
        "sizeof(((struct gnttab_copy_ptr *)0)->u.gmfn)" = size_of_val(&ptr.gmfn()),
        "sizeof(((struct gnttab_cache_flush *)0)->a)" = size_of::<u64>(),
        "offsetof(struct gnttab_cache_flush, a.ref)" = at(&flush, &flush.gref().0),
        "sizeof(((struct gnttab_cache_flush *)0)->a.ref)" = size_of::<GrantRef>(),
        "offsetof(struct gnttab_cache_flush, a.dev_bus_addr)" = at(&flush, &flush.dev_bus_addr()),
        "sizeof(((struct gnttab_cache_flush *)0)->a.dev_bus_addr)" = size_of::<u64>(),
    );

    every_variant!(f, GnttabOp;
        GNTTABOP_map_grant_ref = MapGrantRef,
        GNTTABOP_unmap_grant_ref = UnmapGrantRef,
        GNTTABOP_setup_table = SetupTable,
        GNTTABOP_dump_table = DumpTable,
        GNTTABOP_transfer = Transfer,
        GNTTABOP_copy = Copy,
        GNTTABOP_query_size = QuerySize,
        GNTTABOP_unmap_and_replace = UnmapAndReplace,
        GNTTABOP_set_version = SetVersion,
        GNTTABOP_get_status_frames = GetStatusFrames,
        GNTTABOP_get_version = GetVersion,
        GNTTABOP_swap_grant_ref = SwapGrantRef,
        GNTTABOP_cache_flush = CacheFlush,
    );
    every_variant!(f, GnttabStatus;
        GNTST_okay = Okay,
        GNTST_general_error = GeneralError,
        GNTST_bad_domain = BadDomain,
        GNTST_bad_gntref = BadGntref,
        GNTST_bad_handle = BadHandle,
        GNTST_bad_virt_addr = BadVirtAddr,
        GNTST_bad_dev_addr = BadDevAddr,
        GNTST_no_device_space = NoDeviceSpace,
        GNTST_permission_denied = PermissionDenied,
        GNTST_bad_page = BadPage,
        GNTST_bad_copy_arg = BadCopyArg,
        GNTST_address_too_big = AddressTooBig,
        GNTST_eagain = Eagain,
        GNTST_no_space = NoSpace,
    );
    // `GnttabStatus::name()` spells the C name: each one must be a C name with the same value.
    for s in GnttabStatus::ALL {
        if f.consts.iter().all(|c| c.c_expr != s.name()) {
            f.problems.push(format!(
                "grant_table.h: GnttabStatus::{s:?}.name() is `{}`",
                s.name()
            ));
        }
    }

    // `GNTTABOP_error_msgs` is a brace initialiser of strings: compare the count and each one.
    let msgs = "((const char *[])GNTTABOP_error_msgs)";
    f.push_const(
        &format!("sizeof({msgs}) / sizeof(const char *)"),
        GNTTABOP_ERROR_MSGS.len() as i128,
    );
    for (i, m) in GNTTABOP_ERROR_MSGS.iter().enumerate() {
        assert!(!m.contains(['"', '\\']), "message {m:?} needs C escaping");
        f.push_const(&format!("__builtin_strcmp({msgs}[{i}], \"{m}\")"), 0);
    }

    consts!(f;
        "sizeof(grant_ref_t)" = size_of::<GrantRef>(),
        "sizeof(grant_handle_t)" = size_of::<GrantHandle>(),
        "sizeof(grant_status_t)" = size_of::<GrantStatus>(),

        GNTTAB_NR_RESERVED_ENTRIES = GNTTAB_NR_RESERVED_ENTRIES,
        GNTTAB_RESERVED_CONSOLE = GNTTAB_RESERVED_CONSOLE.0,
        GNTTAB_RESERVED_XENSTORE = GNTTAB_RESERVED_XENSTORE.0,

        GTF_invalid = GTF_INVALID,
        GTF_permit_access = GTF_PERMIT_ACCESS,
        GTF_accept_transfer = GTF_ACCEPT_TRANSFER,
        GTF_transitive = GTF_TRANSITIVE,
        GTF_type_mask = GTF_TYPE_MASK,
        _GTF_readonly = GTF_READONLY_BIT,
        GTF_readonly = GTF_READONLY,
        _GTF_reading = GTF_READING_BIT,
        GTF_reading = GTF_READING,
        _GTF_writing = GTF_WRITING_BIT,
        GTF_writing = GTF_WRITING,
        _GTF_PWT = GTF_PWT.trailing_zeros(),
        GTF_PWT = GTF_PWT,
        _GTF_PCD = GTF_PCD.trailing_zeros(),
        GTF_PCD = GTF_PCD,
        _GTF_PAT = GTF_PAT.trailing_zeros(),
        GTF_PAT = GTF_PAT,
        _GTF_sub_page = GTF_SUB_PAGE.trailing_zeros(),
        GTF_sub_page = GTF_SUB_PAGE,
        _GTF_transfer_committed = GTF_TRANSFER_COMMITTED.trailing_zeros(),
        GTF_transfer_committed = GTF_TRANSFER_COMMITTED,
        _GTF_transfer_completed = GTF_TRANSFER_COMPLETED.trailing_zeros(),
        GTF_transfer_completed = GTF_TRANSFER_COMPLETED,

        _GNTCOPY_source_gref = GNTCOPY_SOURCE_GREF_BIT,
        GNTCOPY_source_gref = GNTCOPY_SOURCE_GREF,
        _GNTCOPY_dest_gref = GNTCOPY_DEST_GREF_BIT,
        GNTCOPY_dest_gref = GNTCOPY_DEST_GREF,

        GNTTAB_CACHE_CLEAN = GNTTAB_CACHE_CLEAN,
        GNTTAB_CACHE_INVAL = GNTTAB_CACHE_INVAL,
        GNTTAB_CACHE_SOURCE_GREF = GNTTAB_CACHE_SOURCE_GREF,

        _GNTMAP_device_map = GNTMAP_DEVICE_MAP.trailing_zeros(),
        GNTMAP_device_map = GNTMAP_DEVICE_MAP,
        _GNTMAP_host_map = GNTMAP_HOST_MAP.trailing_zeros(),
        GNTMAP_host_map = GNTMAP_HOST_MAP,
        _GNTMAP_readonly = GNTMAP_READONLY.trailing_zeros(),
        GNTMAP_readonly = GNTMAP_READONLY,
        _GNTMAP_application_map = GNTMAP_APPLICATION_MAP.trailing_zeros(),
        GNTMAP_application_map = GNTMAP_APPLICATION_MAP,
        _GNTMAP_contains_pte = GNTMAP_CONTAINS_PTE.trailing_zeros(),
        GNTMAP_contains_pte = GNTMAP_CONTAINS_PTE,
        _GNTMAP_guest_avail0 = GNTMAP_GUEST_AVAIL0_BIT,
        GNTMAP_guest_avail_mask = GNTMAP_GUEST_AVAIL_MASK,
    );
    f
}
