//! grantv2: grant tables version 2 as Xen 4.17 answers them, within one domain (the initial
//! domain grants to itself). `GNTTABOP_set_version` refusals (`-EINVAL`, `-EBUSY` while an
//! entry past the reserved eight is mapped) and the switch: the reserved entries kept (a grant
//! mapped across the switch, its `GTF_reading` moving to the status word), the others cleared;
//! `get_status_frames` (`-EFAULT` for a list in the hypervisor's range, too many frames
//! `GNTST_general_error`) and the status frame mapped by the guest; a full-page grant mapped
//! with its busy bits in the status word and the header left alone; read-only, sub-page and
//! transitive grants and their refusals; a sub-page grant copied within its bytes only; a
//! reference past the (now 256-entry) frame; `swap_grant_ref`; and the way back to v1 —
//! `-EBUSY` while the status frame is mapped, `-ERANGE` for a reserved transitive grant, then
//! the reserved entry converted back.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::grant_table::{
        GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTMAP_HOST_MAP, GNTMAP_READONLY,
        GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_WRITING,
    },
    abi::xen::SifFlags,
    abi::DomId,
    sys,
    sys::gnttab::{self, Table, TableV2},
    sys::mmu::{self, PTE_RO, PTE_RW},
    sys::traps,
    sys::{read_u64, write_u64},
    Test,
};

#[cfg(target_os = "none")]
const UVMF_INVLPG: u64 = 2;
#[cfg(target_os = "none")]
const GENERAL_ERROR: i16 = -1;
#[cfg(target_os = "none")]
const BAD_GNTREF: i16 = -3;
#[cfg(target_os = "none")]
const EFAULT: i64 = -14;
#[cfg(target_os = "none")]
const EBUSY: i64 = -16;
#[cfg(target_os = "none")]
const EINVAL: i64 = -22;
#[cfg(target_os = "none")]
const ERANGE: i64 = -34;
/// A guest address nothing maps (1 GiB: past the initial mapping).
#[cfg(target_os = "none")]
const UNMAPPED: u64 = 0x4000_0000;
#[cfg(target_os = "none")]
const BAD_VIRT_ADDR: i16 = -5;
/// An address in the hypervisor's range.
#[cfg(target_os = "none")]
const HYPERVISOR_ADDR: u64 = 0xffff_8000_0000_0000;

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table");
    let si = sys::start_info();
    let me = DomId(0);
    t.check(
        SifFlags::from_bits_truncate(si.flags).contains(SifFlags::INITDOMAIN),
        format_args!("runs as the initial domain (domain 0)"),
    );

    let buf = sys::static_buffer();
    let base = (buf.as_ptr() as u64 + 4095) & !4095;
    let page = |i: u64| base + i * 4096;
    let (gt_va, st_va, a, a2, d, list, a3) = (
        page(0),
        page(1),
        page(2),
        page(3),
        page(4),
        page(5),
        page(6),
    );
    for i in 0..512 {
        write_u64(a + i * 8, 0xa000_0000 + i);
        write_u64(d + i * 8, 0);
    }
    let (a_mfn, d_mfn) = (mmu::va_to_mfn(a), mmu::va_to_mfn(d));

    let mut frames = [0u64; 2];
    t.eq(
        gnttab::setup_table(DomId::SELF, 1, &mut frames),
        (0, 0),
        "setup_table(SELF, 1)",
    );
    t.eq(
        mmu::update_va_mapping(gt_va, (frames[0] << 12) | PTE_RW, UVMF_INVLPG),
        0,
        "map the grant-table frame",
    );
    let v1 = Table { va: gt_va };

    // Version 1 to start with; bad versions.
    t.eq(gnttab::get_version(DomId::SELF), (0, 1), "get_version: 1");
    t.eq(
        gnttab::set_version(0),
        (EINVAL, 1),
        "set_version(0): -EINVAL, version 1",
    );
    t.eq(
        gnttab::set_version(3),
        (EINVAL, 1),
        "set_version(3): -EINVAL",
    );
    t.eq(
        gnttab::set_version(1),
        (0, 1),
        "set_version(1) in v1: nothing to do",
    );
    t.eq(
        gnttab::get_status_frames(DomId::SELF, 1, list),
        (0, GENERAL_ERROR),
        "v1 has no status frames",
    );

    // A reserved entry (1, the xenstore one) mapped read-only across the switch; entry 10
    // mapped writable blocks it.
    v1.grant(1, me, a_mfn, GTF_PERMIT_ACCESS);
    v1.grant(10, me, a_mfn, GTF_PERMIT_ACCESS);
    let (rc, st, h1) = gnttab::map(me, 1, a2, GNTMAP_HOST_MAP | GNTMAP_READONLY);
    t.eq((rc, st), (0, 0), "map reserved entry 1 read-only");
    let (rc, st, h10) = gnttab::map(me, 10, a3, GNTMAP_HOST_MAP);
    t.eq((rc, st), (0, 0), "map entry 10 writable");
    t.eq(
        gnttab::set_version(2),
        (EBUSY, 1),
        "set_version(2) with entry 10 mapped: -EBUSY",
    );
    t.eq(gnttab::unmap(h10, a3), (0, 0), "unmap entry 10");
    t.eq(gnttab::set_version(2), (0, 2), "set_version(2)");
    t.eq(gnttab::get_version(DomId::SELF), (0, 2), "get_version: 2");
    t.eq(
        gnttab::set_version(2),
        (0, 2),
        "set_version(2) again: nothing to do",
    );

    // Status frames.
    t.eq(
        gnttab::get_status_frames(DomId::SELF, 2, list),
        (0, GENERAL_ERROR),
        "two status frames of a one-frame table",
    );
    t.eq(
        gnttab::get_status_frames(DomId::SELF, 1, HYPERVISOR_ADDR).0,
        EFAULT,
        "a frame list in the hypervisor's range: -EFAULT",
    );
    t.eq(
        gnttab::get_status_frames(DomId::SELF, 1, UNMAPPED),
        (0, BAD_VIRT_ADDR),
        "a frame list in guest space but unmapped: GNTST_bad_virt_addr",
    );
    write_u64(list, u64::MAX);
    t.eq(
        gnttab::get_status_frames(DomId::SELF, 1, list),
        (0, 0),
        "get_status_frames(SELF, 1)",
    );
    let status_mfn = read_u64(list);
    t.check(
        status_mfn != u64::MAX && status_mfn != frames[0],
        format_args!("a status frame {status_mfn:#x} apart from the table"),
    );
    t.eq(
        mmu::update_va_mapping(st_va, (status_mfn << 12) | PTE_RO, UVMF_INVLPG),
        0,
        "map the status frame",
    );
    let v2 = TableV2 {
        va: gt_va,
        status_va: st_va,
    };

    // The reserved entry kept, its GTF_reading now in the status word; entry 10 cleared.
    t.eq(
        v2.raw(1),
        (
            u64::from(GTF_PERMIT_ACCESS) | (u64::from(me.0) << 16),
            a_mfn,
        ),
        "reserved entry 1 as a v2 full-page grant",
    );
    t.eq(
        v2.status(1),
        GTF_READING,
        "its GTF_reading in the status word",
    );
    t.eq(v2.raw(10), (0, 0), "entry 10 cleared by the switch");
    t.eq(
        read_u64(a2 + 8),
        0xa000_0001,
        "the mapping made under v1 still works",
    );
    t.eq(gnttab::unmap(h1, a2), (0, 0), "unmap entry 1");
    t.eq(v2.status(1), 0, "its status word clear");

    // A full-page grant: busy bits in the status word only.
    v2.grant(10, me, a_mfn, GTF_PERMIT_ACCESS);
    let (rc, st, h) = gnttab::map(me, 10, a2, GNTMAP_HOST_MAP);
    t.eq((rc, st), (0, 0), "map a v2 grant writable");
    t.eq(read_u64(a2 + 16), 0xa000_0002, "the alias shows the page");
    t.eq(
        v2.status(10),
        GTF_READING | GTF_WRITING,
        "GTF_reading|GTF_writing in the status word",
    );
    t.eq(v2.flags(10), GTF_PERMIT_ACCESS, "the header is left alone");
    t.check(
        !v2.end_access(10),
        format_args!("revoking a mapped grant: still in use"),
    );
    t.eq(gnttab::unmap(h, a2), (0, 0), "unmap");
    t.eq(v2.status(10), 0, "status clear after the unmap");
    t.eq(
        gnttab::map(me, 10, a2, GNTMAP_HOST_MAP).1,
        GENERAL_ERROR,
        "a revoked v2 grant cannot be mapped",
    );

    // Read-only.
    v2.grant(11, me, a_mfn, GTF_PERMIT_ACCESS | GTF_READONLY);
    t.eq(
        gnttab::map(me, 11, a2, GNTMAP_HOST_MAP).1,
        GENERAL_ERROR,
        "writable map of a read-only v2 grant",
    );
    t.eq(v2.status(11), 0, "the refusal leaves the status word clear");
    let (rc, st, h) = gnttab::map(me, 11, a2, GNTMAP_HOST_MAP | GNTMAP_READONLY);
    t.eq((rc, st), (0, 0), "read-only map of it");
    t.eq(v2.status(11), GTF_READING, "GTF_reading only");
    t.eq(gnttab::unmap(h, a2), (0, 0), "unmap it");

    // Sub-page: copy only, and only its bytes.
    v2.grant_sub(12, me, a_mfn, 256, 128, GTF_PERMIT_ACCESS);
    t.eq(
        gnttab::map(me, 12, a2, GNTMAP_HOST_MAP | GNTMAP_READONLY).1,
        GENERAL_ERROR,
        "a sub-page grant cannot be mapped",
    );
    t.eq(
        gnttab::copy_between(
            gnttab::copy_ptr(12, me, 256),
            gnttab::copy_ptr(d_mfn, DomId::SELF, 256),
            128,
            GNTCOPY_SOURCE_GREF,
        ),
        (0, 0),
        "copy the sub-page grant's 128 bytes",
    );
    t.eq(
        (read_u64(d + 256), read_u64(d + 376), read_u64(d + 384)),
        (0xa000_0020, 0xa000_002f, 0),
        "the copy holds exactly those bytes",
    );
    for (off, len, what) in [
        (248u16, 8u16, "copy 8 bytes before the sub-page"),
        (256, 136, "copy past the sub-page's end"),
        (384, 8, "copy 8 bytes after the sub-page"),
    ] {
        t.eq(
            gnttab::copy_between(
                gnttab::copy_ptr(12, me, off),
                gnttab::copy_ptr(d_mfn, DomId::SELF, 0),
                len,
                GNTCOPY_SOURCE_GREF,
            ),
            (0, GENERAL_ERROR),
            what,
        );
    }
    write_u64(d + 512, 0x5151);
    t.eq(
        gnttab::copy_between(
            gnttab::copy_ptr(d_mfn, DomId::SELF, 512),
            gnttab::copy_ptr(12, me, 320),
            8,
            GNTCOPY_DEST_GREF,
        ),
        (0, 0),
        "copy into the sub-page grant",
    );
    t.eq(read_u64(a + 320), 0x5151, "it landed in the granted bytes");
    t.eq(v2.status(12), 0, "copies leave the status word clear");

    // Transitive grants that cannot work within one domain.
    v2.grant_transitive(13, me, me, 10);
    t.eq(
        gnttab::copy_between(
            gnttab::copy_ptr(13, me, 0),
            gnttab::copy_ptr(d_mfn, DomId::SELF, 0),
            8,
            GNTCOPY_SOURCE_GREF,
        ),
        (0, GENERAL_ERROR),
        "a self-referential transitive grant",
    );
    v2.grant_transitive(13, me, DomId(4000), 10);
    t.eq(
        gnttab::copy_between(
            gnttab::copy_ptr(13, me, 0),
            gnttab::copy_ptr(d_mfn, DomId::SELF, 0),
            8,
            GNTCOPY_SOURCE_GREF,
        ),
        (0, GENERAL_ERROR),
        "a transitive grant of a domain that does not exist",
    );
    t.eq(
        gnttab::map(me, 13, a2, GNTMAP_HOST_MAP | GNTMAP_READONLY).1,
        GENERAL_ERROR,
        "a transitive grant cannot be mapped",
    );
    t.eq(
        v2.status(13),
        0,
        "refused transitive grants leave the status word clear",
    );

    // 256 entries a frame now (entry 256 would be in the next page: nothing to write there).
    t.eq(
        gnttab::map(me, 256, a2, GNTMAP_HOST_MAP).1,
        BAD_GNTREF,
        "entry 256 is past a one-frame v2 table",
    );

    // swap_grant_ref.
    let (e11, e12) = (v2.raw(11), v2.raw(12));
    t.eq(gnttab::swap(11, 12), (0, 0), "swap_grant_ref(11, 12)");
    t.eq((v2.raw(11), v2.raw(12)), (e12, e11), "the entries swapped");

    // Back to v1: not while the status frame is mapped, not with a reserved transitive grant.
    t.eq(
        gnttab::set_version(1),
        (EBUSY, 2),
        "set_version(1) with the status frame mapped: -EBUSY",
    );
    t.eq(
        mmu::update_va_mapping(st_va, 0, UVMF_INVLPG),
        0,
        "unmap the status frame",
    );
    v2.grant_transitive(2, me, DomId(1), 10);
    t.eq(
        gnttab::set_version(1),
        (ERANGE, 2),
        "a reserved transitive grant: -ERANGE",
    );
    v2.write(2, 0, 0, 0);
    t.eq(gnttab::set_version(1), (0, 1), "set_version(1)");
    t.eq(
        gnttab::get_version(DomId::SELF),
        (0, 1),
        "get_version: 1 again",
    );
    t.eq(
        gnttab::get_status_frames(DomId::SELF, 1, list),
        (0, GENERAL_ERROR),
        "no status frames in v1",
    );
    t.eq(
        read_u64(gt_va + 8),
        (a_mfn << 32) | (u64::from(me.0) << 16) | u64::from(GTF_PERMIT_ACCESS),
        "reserved entry 1 back as a v1 grant",
    );
    t.eq(read_u64(gt_va + 11 * 8), 0, "entry 11 cleared");
    let (rc, st, h) = gnttab::map(me, 1, a2, GNTMAP_HOST_MAP | GNTMAP_READONLY);
    t.eq((rc, st), (0, 0), "the kept grant maps under v1");
    t.eq(
        v1.flags(1),
        GTF_PERMIT_ACCESS | GTF_READING,
        "GTF_reading in the v1 entry",
    );
    t.eq(gnttab::unmap(h, a2), (0, 0), "unmap it");
    t.check(v1.end_access(1), format_args!("revoke it"));
    t.finish();
}

#[cfg(not(target_os = "none"))]
fn main() {}
