//! Grant tables v2 (`GNTTABOP_set_version`, status frames, sub-page and transitive grants),
//! each test citing the Xen 4.17 behaviour it checks (`xen/common/grant_table.c`).

use xen_abi::grant_table::{
    GnttabCopy, GnttabStatus, GrantEntryHeader, GrantEntryV1, GrantEntryV2, GrantEntryV2FullPage,
    GrantEntryV2SubPage, GrantEntryV2Transitive, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF,
    GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_SUB_PAGE, GTF_TRANSITIVE, GTF_WRITING,
};
use xen_abi::{DomId, Errno, GrantRef, Mfn};

use crate::fixtures::*;
use crate::fuzzing::SimMemory;
use crate::mem::GrantEntries;
use crate::system::GrantSystem;
use crate::table::{status_frames_for, GRANT_ENTRIES_PER_FRAME_V2};

fn full(flags: u16, domid: DomId, frame: u64) -> GrantEntryV2 {
    GrantEntryV2::from_full_page(GrantEntryV2FullPage {
        hdr: GrantEntryHeader { flags, domid },
        pad0: 0,
        frame,
    })
}

fn sub(domid: DomId, frame: Mfn, page_off: u16, length: u16) -> GrantEntryV2 {
    GrantEntryV2::from_sub_page(GrantEntryV2SubPage {
        hdr: GrantEntryHeader {
            flags: GTF_PERMIT_ACCESS | GTF_SUB_PAGE,
            domid,
        },
        page_off,
        length,
        frame: frame.0,
    })
}

fn trans(domid: DomId, trans_domid: DomId, gref: GrantRef) -> GrantEntryV2 {
    GrantEntryV2::from_transitive(GrantEntryV2Transitive {
        hdr: GrantEntryHeader {
            flags: GTF_TRANSITIVE,
            domid,
        },
        trans_domid,
        pad0: 0,
        gref,
    })
}

/// The world with `doms` switched to v2.
fn world_v2(doms: &[DomId]) -> (GrantSystem, SimMemory) {
    let (mut sys, mut mem) = world();
    for d in doms {
        assert_eq!(sys.set_version(&mut mem, *d, 2), (Ok(()), 2));
    }
    (sys, mem)
}

fn status(mem: &SimMemory, d: DomId, r: GrantRef) -> u16 {
    mem.read_status(d, r).expect("status word")
}

fn copy_from(dom: DomId, gref: GrantRef, src_off: u16, dst: Mfn, len: u16) -> GnttabCopy {
    GnttabCopy {
        source: gref_ptr(dom, gref, src_off),
        dest: frame_ptr(dst, src_off),
        len,
        flags: GNTCOPY_SOURCE_GREF,
        ..Default::default()
    }
}

#[test]
fn set_version_2_sizes_the_table_in_v2_entries_with_status_frames() {
    // gnttab_set_version 1 -> 2: gnttab_populate_status_frames(nr_grant_frames);
    // nr_grant_entries is f2e(nr, 2): 256 entries a frame.
    let (mut sys, mut mem) = world_v2(&[FRONT]);
    assert_eq!(sys.get_version(FRONT, DomId::SELF), Ok(2));
    assert_eq!(sys.get_status_frames(FRONT, DomId::SELF, 1), Ok(FRONT));
    assert_eq!(
        sys.get_status_frames(FRONT, DomId::SELF, 2),
        Err(GnttabStatus::GeneralError)
    );
    // A privileged domain may ask for another's (xsm_grant_setup, XSM_TARGET).
    assert_eq!(sys.get_status_frames(BACK, FRONT, 1), Ok(FRONT));
    let last = GrantRef(GRANT_ENTRIES_PER_FRAME_V2);
    mem.tables_v2
        .get_mut(&FRONT)
        .expect("table")
        .resize(1024, GrantEntryV2::default());
    let _ = mem.write_entry_v2(
        FRONT,
        last,
        full(GTF_PERMIT_ACCESS, BACK, frame(FRONT, 1).0),
    );
    assert_eq!(
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, last, RW)),
        Err(GnttabStatus::BadGntref)
    );
    // setup_table in v2 grows the status frames with the table (gnttab_grow_table).
    assert_eq!(sys.setup_table(&mut mem, FRONT, DomId::SELF, 9), Ok(9));
    assert_eq!(status_frames_for(9), 2);
    assert_eq!(sys.get_status_frames(FRONT, DomId::SELF, 2), Ok(FRONT));
    assert_eq!(
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, last, RW))
            .map(|m| m.mfn),
        Ok(frame(FRONT, 1))
    );
}

#[test]
fn set_version_keeps_the_reserved_entries_and_clears_the_rest() {
    // gnttab_set_version: "Preserve the first 8 entries", clear_page of every shared frame,
    // the busy bits moving to the status word (v1 -> v2) and back (v2 -> v1).
    let (mut sys, mut mem) = world();
    mem.grant(FRONT, GrantRef(1), BACK, frame(FRONT, 2), false);
    mem.grant(FRONT, R, BACK, frame(FRONT, 1), false);
    let m = sys
        .map_grant_ref(&mut mem, BACK, &mop(FRONT, GrantRef(1), RW))
        .expect("map reserved");
    assert_eq!(sys.set_version(&mut mem, FRONT, 2), (Ok(()), 2));
    let e = mem
        .read_entry_v2(FRONT, GrantRef(1))
        .expect("entry")
        .full_page();
    assert_eq!(
        (e.hdr.flags, e.hdr.domid, e.frame),
        (GTF_PERMIT_ACCESS, BACK, frame(FRONT, 2).0)
    );
    assert_eq!(status(&mem, FRONT, GrantRef(1)), GTF_READING | GTF_WRITING);
    assert_eq!(mem.read_entry_v2(FRONT, R), Some(GrantEntryV2::default()));
    // Back to v1: the reserved grant with its busy bits folded into the flags.
    assert_eq!(sys.set_version(&mut mem, FRONT, 1), (Ok(()), 1));
    assert_eq!(
        mem.entry(FRONT, GrantRef(1)),
        GrantEntryV1 {
            flags: GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING,
            domid: BACK,
            frame: frame(FRONT, 2).0 as u32,
        }
    );
    assert_eq!(mem.read_status(FRONT, GrantRef(1)), None);
    // The mapping made under v1 still unmaps cleanly.
    let u = sys
        .unmap_grant_ref(&mut mem, BACK, &uop(m.handle))
        .expect("unmap");
    assert!(u.host_unmapped);
    assert_eq!(flags(&mem, FRONT, GrantRef(1)), GTF_PERMIT_ACCESS);
}

#[test]
fn set_version_2_without_memory_for_status_frames_is_enomem() {
    // gnttab_set_version 1 -> 2: gnttab_populate_status_frames fails -> -ENOMEM, still v1.
    let (mut sys, mut mem) = world();
    mem.fail_grow = true;
    assert_eq!(sys.set_version(&mut mem, FRONT, 2), (Err(Errno::ENOMEM), 1));
    assert_eq!(
        sys.get_status_frames(FRONT, DomId::SELF, 1),
        Err(GnttabStatus::GeneralError)
    );
    mem.fail_grow = false;
    assert_eq!(sys.set_version(&mut mem, FRONT, 2), (Ok(()), 2));
}

#[test]
fn set_version_with_a_pinned_entry_past_the_reserved_ones_is_ebusy() {
    // gnttab_set_version: "some grant entries still in use" -> -EBUSY, op.version unchanged.
    let (mut sys, mut mem) = granted(false);
    let m = sys
        .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
        .expect("map");
    assert_eq!(sys.set_version(&mut mem, FRONT, 2), (Err(Errno::EBUSY), 1));
    assert_eq!(
        flags(&mem, FRONT, R),
        GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING
    );
    sys.unmap_grant_ref(&mut mem, BACK, &uop(m.handle))
        .expect("unmap");
    assert_eq!(sys.set_version(&mut mem, FRONT, 2), (Ok(()), 2));
    assert_eq!(sys.set_version(&mut mem, FRONT, 2), (Ok(()), 2));
}

#[test]
fn set_version_1_with_an_unrepresentable_reserved_entry_is_erange() {
    // gnttab_set_version 2 -> 1: a reserved transitive grant, or one of a frame above 2^32,
    // -> -ERANGE and the table stays v2.
    let (mut sys, mut mem) = world_v2(&[FRONT]);
    let _ = mem.write_entry_v2(FRONT, GrantRef(2), trans(BACK, OTHER, R));
    assert_eq!(sys.set_version(&mut mem, FRONT, 1), (Err(Errno::ERANGE), 2));
    let _ = mem.write_entry_v2(FRONT, GrantRef(2), full(GTF_PERMIT_ACCESS, BACK, 1 << 32));
    assert_eq!(sys.set_version(&mut mem, FRONT, 1), (Err(Errno::ERANGE), 2));
    // Past the reserved entries anything goes (it is cleared).
    let _ = mem.write_entry_v2(FRONT, GrantRef(2), GrantEntryV2::default());
    let _ = mem.write_entry_v2(FRONT, R, trans(BACK, OTHER, R));
    assert_eq!(sys.set_version(&mut mem, FRONT, 1), (Ok(()), 1));
}

#[test]
fn set_version_1_while_a_status_frame_is_mapped_is_ebusy() {
    // gnttab_unpopulate_status_frames: a status frame still referenced (the PV guest maps it)
    // -> -EBUSY, the frames shared again and the table still v2.
    let (mut sys, mut mem) = world_v2(&[FRONT]);
    mem.status_mapped.insert(FRONT);
    assert_eq!(sys.set_version(&mut mem, FRONT, 1), (Err(Errno::EBUSY), 2));
    assert_eq!(sys.get_status_frames(FRONT, DomId::SELF, 1), Ok(FRONT));
    mem.status_mapped.remove(&FRONT);
    assert_eq!(sys.set_version(&mut mem, FRONT, 1), (Ok(()), 1));
    assert_eq!(
        sys.get_status_frames(FRONT, DomId::SELF, 1),
        Err(GnttabStatus::GeneralError)
    );
}

#[test]
fn v2_map_sets_and_unmap_clears_the_status_word_not_the_entry() {
    // map_grant_ref -> _set_status_v2: GTF_reading|GTF_writing in status_entry(); the header
    // is the guest's alone. unmap -> reduce_status_for_pin clears them.
    let (mut sys, mut mem) = world_v2(&[FRONT]);
    let _ = mem.write_entry_v2(FRONT, R, full(GTF_PERMIT_ACCESS, BACK, frame(FRONT, 1).0));
    let m = sys
        .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
        .expect("map");
    assert_eq!(m.mfn, frame(FRONT, 1));
    assert_eq!(status(&mem, FRONT, R), GTF_READING | GTF_WRITING);
    assert_eq!(
        mem.read_entry_v2(FRONT, R).map(|e| e.hdr().flags),
        Some(GTF_PERMIT_ACCESS)
    );
    sys.unmap_grant_ref(&mut mem, BACK, &uop(m.handle))
        .expect("unmap");
    assert_eq!(status(&mem, FRONT, R), 0);
    assert!(sys.active_entry(FRONT, R).is_none());
}

#[test]
fn v2_refusals_leave_the_status_word_clean() {
    // _set_status_v2: a write pin of a GTF_readonly grant, a grant to another domain, a
    // sub-page or transitive grant for a mapping -> GNTST_general_error, nothing set.
    let (mut sys, mut mem) = world_v2(&[FRONT]);
    let f = frame(FRONT, 1);
    for e in [
        full(GTF_PERMIT_ACCESS | GTF_READONLY, BACK, f.0),
        full(GTF_PERMIT_ACCESS, OTHER, f.0),
        sub(BACK, f, 0, 64),
        trans(BACK, OTHER, R),
    ] {
        let _ = mem.write_entry_v2(FRONT, R, e);
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW)),
            Err(GnttabStatus::GeneralError)
        );
        assert_eq!(status(&mem, FRONT, R), 0);
    }
    // A frame the granter does not own: GNTST_bad_page, the bits set for the pin undone.
    let _ = mem.write_entry_v2(FRONT, R, full(GTF_PERMIT_ACCESS, BACK, frame(OTHER, 1).0));
    assert_eq!(
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO)),
        Err(GnttabStatus::BadPage)
    );
    assert_eq!(status(&mem, FRONT, R), 0);
}

#[test]
fn v2_sub_page_grant_copies_only_its_bytes() {
    // acquire_grant_for_copy: a GTF_sub_page grant gives page_off/length; gnttab_copy_buf:
    // "copy source out of bounds" -> GNTST_general_error; beyond the page -> bad_copy_arg.
    let (mut sys, mut mem) = world_v2(&[FRONT]);
    let f = frame(FRONT, 1);
    let _ = mem.write_entry_v2(FRONT, R, sub(BACK, f, 256, 128));
    let dst = frame(BACK, 2);
    assert_eq!(
        sys.copy(&mut mem, BACK, &copy_from(FRONT, R, 256, dst, 128)),
        Ok(())
    );
    assert_eq!(mem.byte(dst, 256), mem.byte(f, 256));
    assert_eq!(mem.byte(dst, 383), mem.byte(f, 383));
    for (off, len) in [(255, 1), (256, 129), (384, 1), (0, 4096)] {
        assert_eq!(
            sys.copy(&mut mem, BACK, &copy_from(FRONT, R, off, dst, len)),
            Err(GnttabStatus::GeneralError),
            "{off}+{len}"
        );
    }
    assert_eq!(
        sys.copy(&mut mem, BACK, &copy_from(FRONT, R, 4000, dst, 128)),
        Err(GnttabStatus::BadCopyArg)
    );
    assert_eq!(status(&mem, FRONT, R), 0);
    assert!(sys.active_entry(FRONT, R).is_none());
}

#[test]
fn v2_transitive_grant_copies_the_original_frame_and_cannot_be_mapped() {
    // acquire_grant_for_copy: a GTF_transitive grant pins trans_gref of trans_domid for the
    // intermediary (one level) and copies from that frame; release_grant_for_copy releases
    // both. map_grant_ref of it is refused (_set_status_v2 with mapflag).
    let (mut sys, mut mem) = world_v2(&[OTHER]);
    // FRONT (v1) grants its frame to OTHER; OTHER passes that grant on to BACK.
    let f = frame(FRONT, 3);
    mem.grant(FRONT, R, OTHER, f, true);
    let tref = GrantRef(12);
    let _ = mem.write_entry_v2(OTHER, tref, trans(BACK, FRONT, R));
    let dst = frame(BACK, 2);
    assert_eq!(
        sys.copy(&mut mem, BACK, &copy_from(OTHER, tref, 100, dst, 200)),
        Ok(())
    );
    assert_eq!(mem.byte(dst, 100), mem.byte(f, 100));
    assert_eq!(mem.byte(dst, 299), mem.byte(f, 299));
    assert_eq!(
        (status(&mem, OTHER, tref), flags(&mem, FRONT, R)),
        (0, GTF_PERMIT_ACCESS | GTF_READONLY)
    );
    assert!(sys.active_entry(OTHER, tref).is_none() && sys.active_entry(FRONT, R).is_none());
    // Writing into it needs a writable original grant.
    let into = GnttabCopy {
        source: frame_ptr(dst, 0),
        dest: gref_ptr(OTHER, tref, 0),
        len: 8,
        flags: GNTCOPY_DEST_GREF,
        ..Default::default()
    };
    assert_eq!(
        sys.copy(&mut mem, BACK, &into),
        Err(GnttabStatus::GeneralError)
    );
    assert_eq!(status(&mem, OTHER, tref), 0);
    assert_eq!(
        sys.map_grant_ref(&mut mem, BACK, &mop(OTHER, tref, RO)),
        Err(GnttabStatus::GeneralError)
    );
}

#[test]
fn v2_transitive_refusals() {
    // acquire_grant_for_copy: self-referential, a domain that does not exist, and a second
    // level of transitivity (allow_transitive false) -> GNTST_general_error, status cleared.
    let (mut sys, mut mem) = world_v2(&[OTHER, FRONT]);
    let dst = frame(BACK, 2);
    let tref = GrantRef(12);
    for e in [
        trans(BACK, OTHER, R),
        trans(BACK, DomId(9), R),
        trans(BACK, FRONT, R),
    ] {
        // FRONT's R is itself transitive (to OTHER), so the last is two levels deep.
        let _ = mem.write_entry_v2(FRONT, R, trans(OTHER, OTHER, tref));
        let _ = mem.write_entry_v2(OTHER, tref, e);
        assert_eq!(
            sys.copy(&mut mem, BACK, &copy_from(OTHER, tref, 0, dst, 8)),
            Err(GnttabStatus::GeneralError)
        );
        assert_eq!((status(&mem, OTHER, tref), status(&mem, FRONT, R)), (0, 0));
        assert!(sys.active_entry(OTHER, tref).is_none() && sys.active_entry(FRONT, R).is_none());
    }
}

#[test]
fn v2_swap_grant_ref_swaps_entries_and_status() {
    // swap_grant_ref for gt_version 2: the entries and their status words are exchanged.
    let (mut sys, mut mem) = world_v2(&[FRONT]);
    let a = full(GTF_PERMIT_ACCESS, BACK, 5);
    let _ = mem.write_entry_v2(FRONT, R, a);
    let _ = mem.write_status(FRONT, R, GTF_READING);
    assert_eq!(sys.swap_grant_ref(&mut mem, FRONT, R, GrantRef(9)), Ok(()));
    assert_eq!(mem.read_entry_v2(FRONT, GrantRef(9)), Some(a));
    assert_eq!(
        (status(&mem, FRONT, GrantRef(9)), status(&mem, FRONT, R)),
        (GTF_READING, 0)
    );
}
