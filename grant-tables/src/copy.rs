//! `GNTTABOP_copy` (`gnttab_copy_one`): claim both buffers (pinning grants for the duration of
//! the op), move the bytes, release; one op and batched.

use alloc::vec::Vec;

use xen_abi::grant_table::{
    GnttabCopy, GnttabCopyPtr, GnttabStatus, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF,
};
use xen_abi::{DomId, GrantRef, Mfn, PAGE_SIZE};

use crate::active::PinKind;
use crate::dispatch::{batch, status_code};
use crate::mem::GrantMemory;
use crate::system::GrantSystem;

/// A held grant during a copy (`gnttab_copy_buf`).
#[derive(Clone, Copy)]
struct CopyBuf {
    mfn: Mfn,
    grant: Option<(DomId, GrantRef)>,
    /// The bytes the grant covers (`ptr.offset`, `len`): the whole page for a frame.
    start: u16,
    length: u16,
}

impl CopyBuf {
    /// Whether `offset..offset + len` lies within what the grant covers (`gnttab_copy_buf`).
    fn covers(&self, offset: u16, len: u16) -> bool {
        offset >= self.start
            && u32::from(offset) + u32::from(len) <= u32::from(self.start) + u32::from(self.length)
    }
}

impl GrantSystem {
    /// `gnttab_copy_lock_domain`: only `DOMID_SELF` may name a local frame.
    fn copy_lock_domain(
        &self,
        caller: DomId,
        ptr: &GnttabCopyPtr,
        is_gref: bool,
    ) -> Result<DomId, GnttabStatus> {
        if ptr.domid != DomId::SELF && !is_gref {
            return Err(GnttabStatus::PermissionDenied);
        }
        self.resolve_any(caller, ptr.domid)
            .ok_or(GnttabStatus::BadDomain)
    }

    /// `gnttab_copy_claim_buf`: pin the grant (`acquire_grant_for_copy`) or look up the frame.
    fn copy_claim<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        dom: DomId,
        ptr: &GnttabCopyPtr,
        is_gref: bool,
        readonly: bool,
    ) -> Result<CopyBuf, GnttabStatus> {
        let (buf, owner) = if is_gref {
            let gref = ptr.gref();
            let p = self.pin(
                mem,
                caller,
                dom,
                gref,
                readonly,
                false,
                &[PinKind::Host],
                true,
            )?;
            let buf = CopyBuf {
                mfn: p.mfn,
                grant: Some((dom, gref)),
                start: p.start,
                length: p.length,
            };
            (buf, p.owner)
        } else {
            let buf = CopyBuf {
                mfn: mem.resolve_frame(dom, ptr.gmfn())?,
                grant: None,
                start: 0,
                length: PAGE_SIZE as u16,
            };
            (buf, dom)
        };
        // The frame stays allocated for the copy even if its owner frees it meanwhile (a
        // transitive grant's frame is the original granter's).
        if !mem.hold_frame(owner, buf.mfn) {
            self.copy_unpin(mem, &buf, readonly);
            return Err(GnttabStatus::GeneralError);
        }
        if !readonly && !mem.writable_type_ok(buf.mfn) {
            self.copy_release(mem, buf, readonly);
            return Err(GnttabStatus::GeneralError);
        }
        Ok(buf)
    }

    fn copy_unpin<M: GrantMemory>(&mut self, mem: &mut M, buf: &CopyBuf, readonly: bool) {
        if let Some((dom, gref)) = buf.grant {
            self.unpin(mem, dom, gref, readonly, &[PinKind::Host]);
        }
    }

    /// `gnttab_copy_release_buf` / `release_grant_for_copy`: the frame reference, then the pin.
    fn copy_release<M: GrantMemory>(&mut self, mem: &mut M, buf: CopyBuf, readonly: bool) {
        mem.release_frame(buf.mfn);
        self.copy_unpin(mem, &buf, readonly);
    }

    /// `GNTTABOP_copy` for one op (`gnttab_copy_one`). The grants are pinned (and
    /// `GTF_reading`/`GTF_writing` set) only for the duration of this call; the bytes move
    /// through [`crate::mem::GuestFrames::copy_bytes`].
    pub fn copy<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        op: &GnttabCopy,
    ) -> Result<(), GnttabStatus> {
        if !self.domain_exists(caller) {
            return Err(GnttabStatus::GeneralError);
        }
        let src_gref = op.flags & GNTCOPY_SOURCE_GREF != 0;
        let dst_gref = op.flags & GNTCOPY_DEST_GREF != 0;
        let sd = self.copy_lock_domain(caller, &op.source, src_gref)?;
        let dd = self.copy_lock_domain(caller, &op.dest, dst_gref)?;
        let src = self.copy_claim(mem, caller, sd, &op.source, src_gref, true)?;
        let dst = match self.copy_claim(mem, caller, dd, &op.dest, dst_gref, false) {
            Ok(d) => d,
            Err(s) => {
                self.copy_release(mem, src, true);
                return Err(s);
            }
        };
        // `gnttab_copy_buf`: within the page, then within what each grant covers (a v2
        // sub-page or transitive grant covers part of it).
        let page = PAGE_SIZE as u32;
        let len = u32::from(op.len);
        let r =
            if u32::from(op.source.offset) + len > page || u32::from(op.dest.offset) + len > page {
                Err(GnttabStatus::BadCopyArg)
            } else if !src.covers(op.source.offset, op.len) || !dst.covers(op.dest.offset, op.len) {
                Err(GnttabStatus::GeneralError)
            } else {
                mem.copy_bytes(src.mfn, op.source.offset, dst.mfn, op.dest.offset, op.len);
                Ok(())
            };
        self.copy_release(mem, dst, false);
        self.copy_release(mem, src, true);
        r
    }

    /// A batch of `GNTTABOP_copy`, each op's status written back; failures do not stop the batch.
    pub fn copy_batch<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        ops: &mut [GnttabCopy],
    ) -> Vec<Result<(), GnttabStatus>> {
        batch(
            ops,
            |op| self.copy(mem, caller, op),
            |op, r| op.status = status_code(r),
        )
    }
}

#[cfg(test)]
mod tests {
    //! GNTTABOP_copy and its batch, each citing the Xen 4.17 behaviour it checks.
    use super::*;
    use crate::fixtures::*;

    use crate::active::Pins;
    use xen_abi::grant_table::{
        GrantEntryV1, GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_SUB_PAGE,
    };

    fn copy_op(source: GnttabCopyPtr, dest: GnttabCopyPtr, len: u16, flags: u16) -> GnttabCopy {
        GnttabCopy {
            source,
            dest,
            len,
            flags,
            ..Default::default()
        }
    }

    #[test]
    fn copy_fails_cleanly_when_a_frame_is_freed_under_it() {
        // The backend's destination frame is ballooned out on another CPU between the lookup
        // and the copy: the copy must not write into the freed frame, and the source grant's
        // pin (GTF_reading) must not outlive the failed op.
        let (mut sys, mut mem) = granted(true);
        let dst = frame(BACK, 2);
        mem.vanish_on_hold.insert(dst);
        let op = copy_op(
            gref_ptr(FRONT, R, 100),
            frame_ptr(dst, 200),
            300,
            GNTCOPY_SOURCE_GREF,
        );
        assert_eq!(
            sys.copy(&mut mem, BACK, &op),
            Err(GnttabStatus::GeneralError)
        );
        assert!(mem.freed.contains(&dst));
        assert!(
            !mem.data.contains_key(&dst),
            "nothing written into the freed frame"
        );
        assert!(
            mem.held.is_empty(),
            "source reference released: {:?}",
            mem.held
        );
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS | GTF_READONLY);
        assert_eq!(sys.active_entry(FRONT, R), None);
        // The granted source frame going away fails the same way.
        let src = frame(FRONT, 1);
        mem.vanish_on_hold.insert(src);
        let op = copy_op(
            gref_ptr(FRONT, R, 0),
            frame_ptr(frame(BACK, 3), 0),
            16,
            GNTCOPY_SOURCE_GREF,
        );
        assert_eq!(
            sys.copy(&mut mem, BACK, &op),
            Err(GnttabStatus::GeneralError)
        );
        assert!(mem.held.is_empty());
        assert_eq!(sys.active_entry(FRONT, R), None);
    }

    #[test]
    fn copy_gref_to_frame_moves_bytes_and_leaves_no_flags() {
        // gnttab_copy_one: acquire (GTF_reading), memcpy, release_grant_for_copy (cleared).
        let (mut sys, mut mem) = granted(true);
        let op = copy_op(
            gref_ptr(FRONT, R, 100),
            frame_ptr(frame(BACK, 2), 200),
            300,
            GNTCOPY_SOURCE_GREF,
        );
        sys.copy(&mut mem, BACK, &op).expect("copy");
        for i in 0..300 {
            assert_eq!(
                mem.byte(frame(BACK, 2), 200 + i),
                mem.byte(frame(FRONT, 1), 100 + i)
            );
        }
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS | GTF_READONLY);
        assert_eq!(sys.active_entry(FRONT, R), None);
    }

    #[test]
    fn copy_frame_to_gref_writes_granted_frame() {
        // gnttab_copy_claim_buf: the destination grant is pinned writable for the copy.
        let (mut sys, mut mem) = granted(false);
        let op = copy_op(
            frame_ptr(frame(BACK, 3), 0),
            gref_ptr(FRONT, R, 0),
            4096,
            GNTCOPY_DEST_GREF,
        );
        sys.copy(&mut mem, BACK, &op).expect("copy");
        assert_eq!(
            mem.byte(frame(FRONT, 1), 4095),
            mem.byte(frame(BACK, 3), 4095)
        );
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
    }

    #[test]
    fn copy_frame_without_domid_self_is_permission_denied() {
        // gnttab_copy_lock_domain: "Only DOMID_SELF may reference via frame".
        let (mut sys, mut mem) = granted(false);
        let mut src = frame_ptr(frame(BACK, 2), 0);
        src.domid = BACK; // its own id, but not DOMID_SELF
        let op = copy_op(src, gref_ptr(FRONT, R, 0), 8, GNTCOPY_DEST_GREF);
        assert_eq!(
            sys.copy(&mut mem, BACK, &op),
            Err(GnttabStatus::PermissionDenied)
        );
    }

    #[test]
    fn copy_unknown_domain_is_bad_domain() {
        // gnttab_copy_lock_domain: rcu_lock_domain_by_any_id fails -> GNTST_bad_domain.
        let (mut sys, mut mem) = granted(false);
        let op = copy_op(
            gref_ptr(DomId(40), R, 0),
            frame_ptr(frame(BACK, 2), 0),
            8,
            GNTCOPY_SOURCE_GREF,
        );
        assert_eq!(sys.copy(&mut mem, BACK, &op), Err(GnttabStatus::BadDomain));
    }

    #[test]
    fn copy_source_offset_plus_len_beyond_page_is_bad_copy_arg_and_releases() {
        // gnttab_copy_buf: source.offset + len > PAGE_SIZE -> GNTST_bad_copy_arg, checked after
        // the grants are claimed, which are released again.
        let (mut sys, mut mem) = granted(false);
        let op = copy_op(
            gref_ptr(FRONT, R, 4000),
            frame_ptr(frame(BACK, 2), 0),
            100,
            GNTCOPY_SOURCE_GREF,
        );
        assert_eq!(sys.copy(&mut mem, BACK, &op), Err(GnttabStatus::BadCopyArg));
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
        assert_eq!(sys.active_entry(FRONT, R), None);
    }

    #[test]
    fn copy_dest_offset_plus_len_beyond_page_is_bad_copy_arg() {
        // gnttab_copy_buf: dest.offset + len > PAGE_SIZE -> GNTST_bad_copy_arg.
        let (mut sys, mut mem) = granted(false);
        let op = copy_op(
            frame_ptr(frame(BACK, 2), 0),
            gref_ptr(FRONT, R, 4095),
            2,
            GNTCOPY_DEST_GREF,
        );
        assert_eq!(sys.copy(&mut mem, BACK, &op), Err(GnttabStatus::BadCopyArg));
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
    }

    #[test]
    fn copy_bad_args_on_bad_gref_report_bad_gntref_first() {
        // gnttab_copy_one: buffers are claimed before gnttab_copy_buf checks the bounds.
        let (mut sys, mut mem) = granted(false);
        let op = copy_op(
            gref_ptr(FRONT, GrantRef(600), 4000),
            frame_ptr(frame(BACK, 2), 0),
            200,
            GNTCOPY_SOURCE_GREF,
        );
        assert_eq!(sys.copy(&mut mem, BACK, &op), Err(GnttabStatus::BadGntref));
    }

    #[test]
    fn copy_dest_readonly_grant_is_general_error() {
        // acquire_grant_for_copy -> _set_status_v1: write-pin of a GTF_readonly entry.
        let (mut sys, mut mem) = granted(true);
        let op = copy_op(
            frame_ptr(frame(BACK, 2), 0),
            gref_ptr(FRONT, R, 0),
            8,
            GNTCOPY_DEST_GREF,
        );
        assert_eq!(
            sys.copy(&mut mem, BACK, &op),
            Err(GnttabStatus::GeneralError)
        );
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS | GTF_READONLY);
    }

    #[test]
    fn copy_entry_for_other_domain_is_general_error() {
        // acquire_grant_for_copy -> _set_status_v1: domid mismatch.
        let (mut sys, mut mem) = granted(false);
        let op = copy_op(
            gref_ptr(FRONT, R, 0),
            frame_ptr(frame(OTHER, 2), 0),
            8,
            GNTCOPY_SOURCE_GREF,
        );
        assert_eq!(
            sys.copy(&mut mem, OTHER, &op),
            Err(GnttabStatus::GeneralError)
        );
    }

    #[test]
    fn copy_sub_page_flag_on_v1_entry_is_allowed() {
        // _set_status_v1 with mapflag = 0: only the type is checked, GTF_sub_page is ignored.
        let (mut sys, mut mem) = world();
        let e = GrantEntryV1 {
            flags: GTF_PERMIT_ACCESS | GTF_SUB_PAGE,
            domid: BACK,
            frame: frame(FRONT, 1).0 as u32,
        };
        mem.set_entry(FRONT, R, e);
        let op = copy_op(
            gref_ptr(FRONT, R, 0),
            frame_ptr(frame(BACK, 2), 0),
            8,
            GNTCOPY_SOURCE_GREF,
        );
        assert!(sys.copy(&mut mem, BACK, &op).is_ok());
    }

    #[test]
    fn copy_dest_page_table_frame_is_general_error() {
        // gnttab_copy_claim_buf: get_page_type(PGT_writable_page) fails -> GNTST_general_error.
        let (mut sys, mut mem) = granted(false);
        let op = copy_op(
            gref_ptr(FRONT, R, 0),
            frame_ptr(pt(BACK), 0),
            8,
            GNTCOPY_SOURCE_GREF,
        );
        assert_eq!(
            sys.copy(&mut mem, BACK, &op),
            Err(GnttabStatus::GeneralError)
        );
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
    }

    #[test]
    fn copy_unowned_frame_is_bad_page() {
        // gnttab_copy_claim_buf -> get_paged_frame: not the caller's frame -> GNTST_bad_page.
        let (mut sys, mut mem) = granted(false);
        let op = copy_op(
            frame_ptr(frame(FRONT, 2), 0),
            frame_ptr(frame(BACK, 2), 0),
            8,
            0,
        );
        assert_eq!(sys.copy(&mut mem, BACK, &op), Err(GnttabStatus::BadPage));
    }

    #[test]
    fn copy_into_readonly_mapped_grant_sets_writing_only_during_copy() {
        // acquire_grant_for_copy: a write with only read pins calls _set_status (GTF_writing);
        // release_grant_for_copy clears GTF_writing, GTF_reading stays for the mapping.
        let (mut sys, mut mem) = granted(false);
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("ro map");
        let op = copy_op(
            frame_ptr(frame(BACK, 2), 0),
            gref_ptr(FRONT, R, 0),
            64,
            GNTCOPY_DEST_GREF,
        );
        sys.copy(&mut mem, BACK, &op).expect("copy");
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS | GTF_READING);
        assert_eq!(
            sys.active_entry(FRONT, R).map(|a| a.pins),
            Some(Pins {
                hstr: 1,
                ..Pins::default()
            })
        );
    }

    #[test]
    fn copy_same_grant_both_sides_is_okay() {
        // acquire_grant_for_copy twice on one entry: read pin, then write pin on the pinned entry.
        let (mut sys, mut mem) = granted(false);
        let op = copy_op(
            gref_ptr(FRONT, R, 0),
            gref_ptr(FRONT, R, 2048),
            2048,
            GNTCOPY_SOURCE_GREF | GNTCOPY_DEST_GREF,
        );
        sys.copy(&mut mem, BACK, &op).expect("copy");
        assert_eq!(
            mem.byte(frame(FRONT, 1), 2048),
            mem.byte(frame(FRONT, 1), 0)
        );
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
    }

    #[test]
    fn copy_batch_continues_after_failure() {
        // gnttab_copy: a failed op gets its status; the loop goes on.
        let (mut sys, mut mem) = granted(false);
        let good = copy_op(
            gref_ptr(FRONT, R, 0),
            frame_ptr(frame(BACK, 2), 0),
            8,
            GNTCOPY_SOURCE_GREF,
        );
        let bad = copy_op(
            gref_ptr(FRONT, R, 4090),
            frame_ptr(frame(BACK, 2), 0),
            8,
            GNTCOPY_SOURCE_GREF,
        );
        let mut ops = [bad, good, bad];
        sys.copy_batch(&mut mem, BACK, &mut ops);
        assert_eq!(ops.map(|o| o.status), [-10, 0, -10]);
    }
}
