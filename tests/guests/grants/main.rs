//! grants: grant tables within one domain, as Xen answers them (a domain may grant to itself
//! and map or copy its own grants). The guest sets up its table (`GNTTABOP_setup_table` gives
//! machine frames it maps itself; `XENMEM_add_to_physmap` of a grant frame is -EACCES for a PV
//! guest), grants page A writable and page B read-only to its own id, then: maps A writable and
//! B read-only (the aliases show the pages, a write through A's alias lands in A, a write
//! through B's faults, `GTF_reading`/`GTF_writing` as Xen sets them), refuses a writable map of
//! the read-only grant, a copy into it and a local frame named by a domain id; copies both ways
//! through a grant; maps through `GNTMAP_contains_pte`; unmaps (a wrong address is refused and
//! leaves the mapping; afterwards the alias is gone and the handle dead); a grant in use cannot
//! be revoked, an unused one can, and a revoked one cannot be mapped; and Xen's status codes for
//! a bad reference, a bad domain, no map flags and a bad handle.
//!
//! With the command line `leave-mapped` it ends with a grant of its own still mapped and an
//! event channel open (the restart test: destruction must release both).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::grant_table::{
        GnttabOp, GnttabQuerySize, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTMAP_CONTAINS_PTE,
        GNTMAP_HOST_MAP, GNTMAP_READONLY, GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY,
        GTF_WRITING,
    },
    abi::xen::SifFlags,
    abi::{DomId, GrantHandle},
    println, sys,
    sys::gnttab::{self, Table},
    sys::mmu::{self, PTE_RW},
    sys::traps,
    Test,
};

#[cfg(target_os = "none")]
use domu_frontends::sys::{read_u64, write_u64};

#[cfg(target_os = "none")]
const UVMF_INVLPG: u64 = 2;
#[cfg(target_os = "none")]
const GENERAL_ERROR: i16 = -1;
#[cfg(target_os = "none")]
const BAD_DOMAIN: i16 = -2;
#[cfg(target_os = "none")]
const BAD_GNTREF: i16 = -3;
#[cfg(target_os = "none")]
const BAD_HANDLE: i16 = -4;
#[cfg(target_os = "none")]
const PERMISSION_DENIED: i16 = -8;

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table");
    let si = sys::start_info();
    let leave_mapped = si.cmd_line.starts_with(b"leave-mapped");

    let buf = sys::static_buffer();
    let base = (buf.as_ptr() as u64 + 4095) & !4095;
    let page = |i: u64| base + i * 4096;
    let (gt_va, a, b, a2, b2, d, e, c2) = (
        page(0),
        page(1),
        page(2),
        page(3),
        page(4),
        page(5),
        page(6),
        page(7),
    );
    for i in 0..512 {
        write_u64(a + i * 8, 0xa000_0000 + i);
        write_u64(b + i * 8, 0xb000_0000 + i);
        write_u64(e + i * 8, 0xe000_0000 + i);
        write_u64(d + i * 8, 0);
    }
    let (a_mfn, b_mfn, d_mfn, e_mfn) = (
        mmu::va_to_mfn(a),
        mmu::va_to_mfn(b),
        mmu::va_to_mfn(d),
        mmu::va_to_mfn(e),
    );

    // The table: its machine frames from setup_table, mapped by the guest itself.
    let mut frames = [0u64; 1];
    t.eq(
        gnttab::setup_table(DomId::SELF, 1, &mut frames),
        (0, 0),
        "GNTTABOP_setup_table(SELF, 1)",
    );
    let mut q = [GnttabQuerySize {
        dom: DomId::SELF,
        _pad0: [0; 2],
        nr_frames: 0,
        max_nr_frames: 0,
        status: -99,
        _pad1: [0; 2],
    }];
    t.eq(gnttab::op(GnttabOp::QuerySize, &mut q), 0, "query_size");
    t.eq(
        (q[0].status, q[0].nr_frames),
        (0, 1),
        "query_size: one frame",
    );
    t.check(
        q[0].max_nr_frames >= 1,
        format_args!("query_size: max {} frames", q[0].max_nr_frames),
    );
    // XENMEM_add_to_physmap(XENMAPSPACE_grant_table): a PV guest is not translated.
    let mut xatp = [0u8; 24];
    xatp[..2].copy_from_slice(&DomId::SELF.0.to_le_bytes());
    xatp[4..8].copy_from_slice(&1u32.to_le_bytes()); // XENMAPSPACE_grant_table
    xatp[16..24].copy_from_slice(&(si.nr_pages - 1).to_le_bytes());
    t.eq(
        sys::hypercall_buf(12, 7, &mut xatp),
        -13,
        "add_to_physmap(grant_table) of a PV guest: -EACCES",
    );
    t.eq(
        mmu::update_va_mapping(gt_va, (frames[0] << 12) | PTE_RW, UVMF_INVLPG),
        0,
        "map the grant-table frame writable",
    );
    let gt = Table { va: gt_va };
    t.eq(gt.flags(10), 0, "a fresh table is empty");

    // Granting to oneself needs one's own id (0 for the initial domain; a restarted domU's
    // changes): a grant names the domain allowed to map it, and a map names the granter, so
    // only the guest's own id maps an entry of its own table granted to that id.
    let Some(me) = (0..1024u16).map(DomId).find(|&c| {
        gt.grant(12, c, a_mfn, GTF_PERMIT_ACCESS);
        let (_, st, h) = gnttab::map(c, 12, a2, GNTMAP_HOST_MAP);
        if st == 0 {
            gnttab::unmap(h, a2);
        }
        gt.end_access(12);
        st == 0
    }) else {
        t.check(false, format_args!("no domain id maps our own grant"));
        t.finish();
    };
    println!("grants: running as domain {}", me.0);
    if SifFlags::from_bits_truncate(si.flags).contains(SifFlags::INITDOMAIN) {
        t.eq(me, DomId(0), "the initial domain is domain 0");
    }

    gt.grant(10, me, a_mfn, GTF_PERMIT_ACCESS);
    gt.grant(11, me, b_mfn, GTF_PERMIT_ACCESS | GTF_READONLY);

    // Map A writable, B read-only.
    let (rc, st, ha) = gnttab::map(me, 10, a2, GNTMAP_HOST_MAP);
    t.eq((rc, st), (0, 0), "map A writable");
    t.eq(read_u64(a2 + 8), 0xa000_0001, "A's alias shows A");
    write_u64(a2 + 16, 0x1234);
    t.eq(
        read_u64(a + 16),
        0x1234,
        "a write through the alias lands in A",
    );
    t.eq(
        gt.flags(10),
        GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING,
        "a writable map sets GTF_reading|GTF_writing",
    );
    let (rc, st, hb) = gnttab::map(me, 11, b2, GNTMAP_HOST_MAP | GNTMAP_READONLY);
    t.eq((rc, st), (0, 0), "map B read-only");
    t.eq(read_u64(b2 + 8), 0xb000_0001, "B's alias shows B");
    t.eq(
        traps::write_fault(b2).map(|x| (x.vector, x.error_code & 3)),
        Some((14, 3)),
        "a write through the read-only mapping faults",
    );
    t.eq(
        gt.flags(11),
        GTF_PERMIT_ACCESS | GTF_READONLY | GTF_READING,
        "a read-only map sets GTF_reading only",
    );

    // A read-only grant cannot be written through a grant.
    let (rc, st, _) = gnttab::map(me, 11, c2, GNTMAP_HOST_MAP);
    t.eq(
        (rc, st),
        (0, GENERAL_ERROR),
        "writable map of a read-only grant",
    );
    t.eq(
        gnttab::copy_between(
            gnttab::copy_ptr(e_mfn, DomId::SELF, 0),
            gnttab::copy_ptr(11, me, 0),
            8,
            GNTCOPY_DEST_GREF,
        ),
        (0, GENERAL_ERROR),
        "copy into a read-only grant",
    );
    t.eq(read_u64(b), 0xb000_0000, "B unchanged");

    // Copy both ways.
    t.eq(
        gnttab::copy_between(
            gnttab::copy_ptr(10, me, 8),
            gnttab::copy_ptr(d_mfn, DomId::SELF, 0),
            64,
            GNTCOPY_SOURCE_GREF,
        ),
        (0, 0),
        "copy from a grant to a local frame",
    );
    t.eq(
        (read_u64(d), read_u64(d + 8)),
        (0xa000_0001, 0x1234),
        "the copy shows A's bytes",
    );
    t.eq(
        gnttab::copy_between(
            gnttab::copy_ptr(e_mfn, DomId::SELF, 256),
            gnttab::copy_ptr(10, me, 0),
            16,
            GNTCOPY_DEST_GREF,
        ),
        (0, 0),
        "copy from a local frame to a grant",
    );
    t.eq(
        (read_u64(a2), read_u64(a2 + 8)),
        (0xe000_0020, 0xe000_0021),
        "A shows the copied bytes",
    );
    t.eq(
        gnttab::copy_between(
            gnttab::copy_ptr(e_mfn, me, 0),
            gnttab::copy_ptr(10, me, 0),
            8,
            GNTCOPY_DEST_GREF,
        ),
        (0, PERMISSION_DENIED),
        "a local frame named by a domain id, not DOMID_SELF",
    );
    t.eq(
        gnttab::copy_between(
            gnttab::copy_ptr(e_mfn, DomId::SELF, 4000),
            gnttab::copy_ptr(10, me, 0),
            200,
            GNTCOPY_DEST_GREF,
        ),
        (0, -10),
        "a copy crossing the page: GNTST_bad_copy_arg",
    );
    t.eq(
        gt.flags(10),
        GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING,
        "copies leave the mapping's flags",
    );

    // A grant in use cannot be revoked.
    t.check(!gt.end_access(10), format_args!("revoke a mapped grant"));

    // Unmap: the wrong address is refused and changes nothing.
    t.eq(
        gnttab::unmap(ha, b2),
        (0, GENERAL_ERROR),
        "unmap at the wrong address",
    );
    t.eq(read_u64(a2 + 16), 0x1234, "still mapped");
    t.eq(gnttab::unmap(ha, a2), (0, 0), "unmap A");
    t.eq(
        traps::read_fault(a2).map(|x| x.vector),
        Some(14),
        "the alias is gone",
    );
    t.eq(
        gnttab::unmap(ha, a2),
        (0, BAD_HANDLE),
        "unmap a dead handle",
    );
    t.eq(gt.flags(10), GTF_PERMIT_ACCESS, "unmapped: flags clear");
    t.eq(gnttab::unmap(hb, b2), (0, 0), "unmap B");
    t.eq(
        gt.flags(11),
        GTF_PERMIT_ACCESS | GTF_READONLY,
        "B's flags clear",
    );

    // GNTMAP_contains_pte: host_addr is the PTE's machine address.
    // With guest-available bits 0 and 2 (`GNTMAP_guest_avail0 << 0 | << 2`, as Linux's gntdev
    // asks bit 0 for its `_PAGE_SPECIAL`): they land in the PTE's bits 9 and 11
    // (`XENFEAT_gnttab_map_avail_bits`), and the mapping is not executable.
    let (pte, _) = mmu::pte_address(c2);
    let avail = 5 << 16;
    let (rc, st, hc) = gnttab::map(me, 10, pte, GNTMAP_HOST_MAP | GNTMAP_CONTAINS_PTE | avail);
    t.eq((rc, st), (0, 0), "map through GNTMAP_contains_pte");
    t.eq(read_u64(c2 + 8), 0xe000_0021, "the PTE maps A");
    let written = mmu::read_table(pte >> 12, ((pte & 0xfff) / 8) as usize);
    t.eq(
        ((written >> 9) & 7, written >> 63),
        (5, 1),
        "the grant PTE holds the guest's available bits (9-11) and NX",
    );
    t.eq(gnttab::unmap(hc, pte), (0, 0), "unmap through the PTE");

    // Revoke, then the grant is gone.
    t.check(gt.end_access(10), format_args!("revoke an unused grant"));
    t.check(
        gt.end_access(11),
        format_args!("revoke the read-only grant"),
    );
    t.eq(gt.flags(10), 0, "revoked");
    let (rc, st, _) = gnttab::map(me, 10, a2, GNTMAP_HOST_MAP);
    t.eq((rc, st), (0, GENERAL_ERROR), "map a revoked grant");

    // Xen's status codes for bad arguments.
    gt.grant(12, me, a_mfn, GTF_PERMIT_ACCESS);
    t.eq(
        gnttab::map(me, 12, a2, 0).1,
        BAD_GNTREF,
        "neither host nor device map",
    );
    t.eq(
        gnttab::map(me, 1 << 20, a2, GNTMAP_HOST_MAP).1,
        BAD_GNTREF,
        "a reference beyond the table",
    );
    t.eq(
        gnttab::map(DomId::SELF, 12, a2, GNTMAP_HOST_MAP).1,
        BAD_DOMAIN,
        "DOMID_SELF is no domain to map from",
    );
    t.eq(
        gnttab::unmap(GrantHandle(12345), a2).1,
        BAD_HANDLE,
        "a handle never given",
    );

    if leave_mapped {
        let (rc, st, _) = gnttab::map(me, 12, a2, GNTMAP_HOST_MAP);
        t.eq((rc, st), (0, 0), "map and leave mapped");
    } else {
        t.check(gt.end_access(12), format_args!("revoke the last grant"));
    }
    t.finish();
}

#[cfg(not(target_os = "none"))]
fn main() {}
