//! `GNTTABOP_map_grant_ref`: one op, its batch, and `cancel_map`, the undo the hypervisor calls
//! when it cannot install a mapping the table already granted.

use alloc::vec::Vec;

use xen_abi::grant_table::{
    GnttabMapGrantRef, GnttabStatus, GNTMAP_DEVICE_MAP, GNTMAP_HOST_MAP, GNTMAP_READONLY, GTF_PAT,
    GTF_PCD, GTF_PWT,
};
use xen_abi::{DomId, GrantHandle, Mfn};

use crate::active::PinKind;
use crate::dispatch::{batch, status_code};
use crate::mem::GrantMemory;
use crate::system::{FrameRef, GrantSystem};
use crate::table::{MaptrackEntry, MAPTRACK_FLAG_MASK};
use crate::unmap::Unmapping;

/// What the hypervisor installs after a successful `GNTTABOP_map_grant_ref`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The handle to report (`op.handle`).
    pub handle: GrantHandle,
    /// The frame to map.
    pub mfn: Mfn,
    /// `op.dev_bus_addr` (`mfn_to_maddr(mfn)`; Xen reports it for host-only maps too).
    pub dev_bus_addr: u64,
    /// Map read-only.
    pub readonly: bool,
    /// Install a host mapping at `host_addr` (`GNTMAP_host_map`).
    pub host_map: bool,
    /// Install an IOMMU/device mapping (`GNTMAP_device_map`).
    pub device_map: bool,
    /// Where (`GNTMAP_contains_pte` says whether it names the PTE itself).
    pub host_addr: u64,
    /// The request's `GNTMAP_*` flags.
    pub flags: u32,
    /// `GTF_PAT | GTF_PWT | GTF_PCD` from the entry, for the PTE's cache attributes.
    pub cache_flags: u16,
    /// References taken on `mfn` (one per host and per device mapping).
    pub frame_ref: FrameRef,
}

impl GrantSystem {
    /// `GNTTABOP_map_grant_ref` for one op (`map_grant_ref`). `caller` is the mapping domain.
    pub fn map_grant_ref<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        op: &GnttabMapGrantRef,
    ) -> Result<Mapping, GnttabStatus> {
        let flags = op.flags;
        if flags & (GNTMAP_DEVICE_MAP | GNTMAP_HOST_MAP) == 0 {
            return Err(GnttabStatus::BadGntref);
        }
        if !self.domain_exists(caller) {
            return Err(GnttabStatus::GeneralError);
        }
        // `rcu_lock_domain_by_id`: DOMID_SELF is not an id, so it is a bad domain.
        let rd = op.dom;
        if !self.domain_exists(rd) {
            return Err(GnttabStatus::BadDomain);
        }
        if !self
            .domains
            .get(&caller)
            .is_some_and(|d| d.can_get_handle())
        {
            return Err(GnttabStatus::NoDeviceSpace);
        }
        let readonly = flags & GNTMAP_READONLY != 0;
        let mut kinds: heapless::Vec<PinKind, 2> = heapless::Vec::new();
        if flags & GNTMAP_DEVICE_MAP != 0 {
            let _ = kinds.push(PinKind::Device);
        }
        if flags & GNTMAP_HOST_MAP != 0 {
            let _ = kinds.push(PinKind::Host);
        }
        let mfn = self
            .pin(mem, caller, rd, op.r#ref, readonly, true, &kinds, false)?
            .mfn;
        // A writable mapping needs the frame to take a writable type (`get_page_type`).
        if !readonly && !mem.writable_type_ok(mfn) {
            self.unpin(mem, rd, op.r#ref, readonly, &kinds);
            return Err(GnttabStatus::GeneralError);
        }
        let cache_flags = self.entry_flags(mem, rd, op.r#ref) & (GTF_PAT | GTF_PWT | GTF_PCD);
        let Some(handle) = self.domains.get_mut(&caller).and_then(|d| d.get_handle()) else {
            self.unpin(mem, rd, op.r#ref, readonly, &kinds);
            return Err(GnttabStatus::NoDeviceSpace);
        };
        if let Some(d) = self.domains.get_mut(&caller) {
            if let Some(slot) = d.maptrack.get_mut(handle as usize) {
                *slot = Some(MaptrackEntry {
                    dom: rd,
                    gref: op.r#ref,
                    flags: flags & MAPTRACK_FLAG_MASK,
                    host_addr: op.host_addr,
                    mfn,
                });
                d.live_handles += 1;
            }
        }
        let refs = kinds.len() as u32;
        self.frame_get(rd, mfn, refs);
        Ok(Mapping {
            handle: GrantHandle(handle),
            mfn,
            dev_bus_addr: mfn.addr(),
            readonly,
            host_map: flags & GNTMAP_HOST_MAP != 0,
            device_map: flags & GNTMAP_DEVICE_MAP != 0,
            host_addr: op.host_addr,
            flags,
            cache_flags,
            frame_ref: FrameRef {
                mfn,
                delta: refs as i32,
            },
        })
    }

    /// Undo a successful map whose host mapping the hypervisor then failed to install
    /// (Xen's `undo_out`): the handle is released as if fully unmapped.
    pub fn cancel_map<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        handle: GrantHandle,
    ) -> Result<Unmapping, GnttabStatus> {
        let m = self
            .maptrack_entry(caller, handle)
            .ok_or(GnttabStatus::BadHandle)?;
        if let Some(d) = self.domains.get_mut(&caller) {
            d.put_handle(handle.0);
        }
        let done = m.flags & (GNTMAP_HOST_MAP | GNTMAP_DEVICE_MAP | GNTMAP_READONLY);
        Ok(self.unmap_complete(mem, m, done, None))
    }

    /// A batch of `GNTTABOP_map_grant_ref`: every op runs and gets its own status, handle and
    /// `dev_bus_addr` written back, as `gnttab_map_grant_ref` does.
    pub fn map_grant_ref_batch<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        ops: &mut [GnttabMapGrantRef],
    ) -> Vec<Result<Mapping, GnttabStatus>> {
        batch(
            ops,
            |op| self.map_grant_ref(mem, caller, op),
            |op, r| {
                op.status = status_code(r);
                if let Ok(m) = r {
                    op.handle = m.handle;
                    op.dev_bus_addr = m.dev_bus_addr;
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    //! map_grant_ref, its batch and cancel_map, each citing the Xen 4.17 behaviour it checks.
    use super::*;
    use crate::fixtures::*;

    use crate::active::CMPXCHG_RETRIES;
    use crate::table::{DomainConfig, GRANT_ENTRIES_PER_FRAME, MAPTRACK_PER_FRAME};
    use xen_abi::grant_table::{
        GrantEntryV1, GTF_ACCEPT_TRANSFER, GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY,
        GTF_SUB_PAGE, GTF_WRITING,
    };
    use xen_abi::GrantRef;

    #[test]
    fn map_grant_ref_no_host_or_device_flag_is_bad_gntref() {
        // map_grant_ref: "Bad flags in grant map op" -> GNTST_bad_gntref.
        let (mut sys, mut mem) = granted(false);
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, GNTMAP_READONLY)),
            Err(GnttabStatus::BadGntref)
        );
    }

    #[test]
    fn map_grant_ref_unknown_domain_is_bad_domain() {
        // map_grant_ref: rcu_lock_domain_by_id fails -> GNTST_bad_domain.
        let (mut sys, mut mem) = granted(false);
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &mop(DomId(9), R, RW)),
            Err(GnttabStatus::BadDomain)
        );
    }

    #[test]
    fn map_grant_ref_domid_self_is_bad_domain() {
        // map_grant_ref uses rcu_lock_domain_by_id (not _by_any_id): DOMID_SELF is not found.
        let (mut sys, mut mem) = granted(false);
        assert_eq!(
            sys.map_grant_ref(&mut mem, FRONT, &mop(DomId::SELF, R, RW)),
            Err(GnttabStatus::BadDomain)
        );
    }

    #[test]
    fn map_grant_ref_dying_domain_is_bad_domain() {
        // Ferrite deviation (docs/abi/grant_table.md): a dying granter is refused up front.
        let (mut sys, mut mem) = granted(false);
        sys.destroy_domain(&mut mem, FRONT).expect("exists");
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW)),
            Err(GnttabStatus::BadDomain)
        );
    }

    #[test]
    fn map_grant_ref_ref_beyond_table_is_bad_gntref() {
        // map_grant_ref: "Bad ref" (op->ref >= nr_grant_entries) -> GNTST_bad_gntref.
        let (mut sys, mut mem) = granted(false);
        let op = mop(FRONT, GrantRef(GRANT_ENTRIES_PER_FRAME), RW);
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &op),
            Err(GnttabStatus::BadGntref)
        );
    }

    #[test]
    fn map_grant_ref_entry_not_permit_access_is_general_error() {
        // _set_status_v1: (flags & GTF_type_mask) != GTF_permit_access -> GNTST_general_error.
        let (mut sys, mut mem) = world();
        mem.set_entry(
            FRONT,
            R,
            GrantEntryV1 {
                flags: GTF_ACCEPT_TRANSFER,
                domid: BACK,
                frame: 0x201,
            },
        );
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW)),
            Err(GnttabStatus::GeneralError)
        );
        assert_eq!(flags(&mem, FRONT, R), GTF_ACCEPT_TRANSFER);
    }

    #[test]
    fn map_grant_ref_entry_for_other_domain_is_general_error() {
        // _set_status_v1: scombo.domid != ldomid -> GNTST_general_error.
        let (mut sys, mut mem) = granted(false);
        assert_eq!(
            sys.map_grant_ref(&mut mem, OTHER, &mop(FRONT, R, RW)),
            Err(GnttabStatus::GeneralError)
        );
    }

    #[test]
    fn map_grant_ref_sub_page_entry_is_general_error() {
        // _set_status_v1: for maps (mapflag) the mask includes GTF_sub_page.
        let (mut sys, mut mem) = world();
        let e = GrantEntryV1 {
            flags: GTF_PERMIT_ACCESS | GTF_SUB_PAGE,
            domid: BACK,
            frame: frame(FRONT, 1).0 as u32,
        };
        mem.set_entry(FRONT, R, e);
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW)),
            Err(GnttabStatus::GeneralError)
        );
    }

    #[test]
    fn map_grant_ref_readonly_entry_rw_request_is_general_error() {
        // _set_status_v1: "Attempt to write-pin a r/o grant entry" -> GNTST_general_error
        // (Xen 4.17 does not use GNTST_permission_denied here); the entry is left untouched.
        let (mut sys, mut mem) = granted(true);
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW)),
            Err(GnttabStatus::GeneralError)
        );
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS | GTF_READONLY);
    }

    #[test]
    fn map_grant_ref_readonly_entry_ro_request_sets_only_reading() {
        // _set_status_v1: a read-only pin sets GTF_reading and never GTF_writing.
        let (mut sys, mut mem) = granted(true);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("ro map");
        assert!(m.readonly);
        assert_eq!(
            flags(&mem, FRONT, R),
            GTF_PERMIT_ACCESS | GTF_READONLY | GTF_READING
        );
    }

    #[test]
    fn map_grant_ref_rw_sets_reading_and_writing_and_returns_frame() {
        // map_grant_ref: GTF_reading|GTF_writing set, op->dev_bus_addr = mfn_to_maddr(mfn),
        // a maptrack handle returned; the active entry holds one hstw pin.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("rw map");
        assert_eq!(m.mfn, frame(FRONT, 1));
        assert_eq!(m.dev_bus_addr, frame(FRONT, 1).addr());
        assert!(m.host_map && !m.device_map && !m.readonly);
        assert_eq!(
            flags(&mem, FRONT, R),
            GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING
        );
        let a = sys.active_entry(FRONT, R).expect("pinned");
        assert_eq!((a.pins.hstw, a.domid), (1, BACK));
        let mt = sys.maptrack_entry(BACK, m.handle).expect("live handle");
        assert_eq!((mt.dom, mt.gref, mt.host_addr), (FRONT, R, VA));
    }

    #[test]
    fn map_grant_ref_pinned_by_other_domain_is_general_error() {
        // map_grant_ref: act->pin && act->domid != ld->domain_id -> GNTST_general_error.
        let (mut sys, mut mem) = granted(false);
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("first");
        mem.grant(FRONT, R, OTHER, frame(FRONT, 1), true); // guest misbehaves: re-grants in use
        assert_eq!(
            sys.map_grant_ref(&mut mem, OTHER, &mop(FRONT, R, RO)),
            Err(GnttabStatus::GeneralError)
        );
    }

    #[test]
    fn map_grant_ref_pin_counter_near_overflow_is_general_error() {
        // map_grant_ref: (act->pin & 0x80808080U) != 0 -> GNTST_general_error: 128 pins of one
        // kind succeed, the 129th is refused.
        let (mut sys, mut mem) = granted(false);
        for _ in 0..128 {
            sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
                .expect("below the limit");
        }
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO)),
            Err(GnttabStatus::GeneralError)
        );
        assert_eq!(sys.active_entry(FRONT, R).map(|a| a.pins.hstr), Some(128));
    }

    #[test]
    fn map_grant_ref_unowned_frame_is_bad_page_and_clears_flags() {
        // get_paged_frame: a frame the granter does not own -> GNTST_bad_page, then
        // unlock_out_clear drops GTF_reading/GTF_writing again.
        let (mut sys, mut mem) = world();
        mem.grant(FRONT, R, BACK, frame(OTHER, 1), false);
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW)),
            Err(GnttabStatus::BadPage)
        );
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
        assert_eq!(sys.active_entry(FRONT, R), None);
        assert_eq!(sys.live_handle_count(BACK), 0);
    }

    #[test]
    fn map_grant_ref_paged_out_frame_is_eagain() {
        // get_paged_frame: check_get_page_from_gfn -EAGAIN -> GNTST_eagain.
        let (mut sys, mut mem) = granted(false);
        mem.paged_out.insert(frame(FRONT, 1));
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO)),
            Err(GnttabStatus::Eagain)
        );
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
    }

    #[test]
    fn map_grant_ref_page_table_frame_rw_is_general_error_and_clears_flags() {
        // map_grant_ref: get_page_type(pg, PGT_writable_page) fails -> could_not_pin ->
        // GNTST_general_error, undo_out drops the pin and the flags.
        let (mut sys, mut mem) = world();
        mem.grant(FRONT, R, BACK, pt(FRONT), false);
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW)),
            Err(GnttabStatus::GeneralError)
        );
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
        assert_eq!(sys.active_entry(FRONT, R), None);
        // A read-only map of the same page table is fine.
        assert!(sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .is_ok());
    }

    #[test]
    fn map_grant_ref_maptrack_exhausted_is_no_device_space() {
        // map_grant_ref: get_maptrack_handle fails -> GNTST_no_device_space.
        let (mut sys, mut mem) = world();
        let cfg = DomainConfig {
            privileged: false,
            max_grant_frames: 4,
            max_maptrack_frames: 1,
            ..DomainConfig::default()
        };
        sys.create_domain(DomId(5), cfg).expect("new");
        mem.add_domain(DomId(5), []);
        for i in 0..MAPTRACK_PER_FRAME {
            mem.grant(
                FRONT,
                GrantRef(i),
                DomId(5),
                frame(FRONT, u64::from(i % 6)),
                true,
            );
        }
        sys.setup_table(&mut mem, FRONT, DomId::SELF, 2)
            .expect("grow");
        mem.grant(
            FRONT,
            GrantRef(MAPTRACK_PER_FRAME),
            DomId(5),
            frame(FRONT, 1),
            true,
        );
        for i in 0..MAPTRACK_PER_FRAME {
            sys.map_grant_ref(&mut mem, DomId(5), &mop(FRONT, GrantRef(i), RO))
                .expect("fits");
        }
        let last = mop(FRONT, GrantRef(MAPTRACK_PER_FRAME), RO);
        assert_eq!(
            sys.map_grant_ref(&mut mem, DomId(5), &last),
            Err(GnttabStatus::NoDeviceSpace)
        );
        // The failed op left the entry alone.
        assert_eq!(
            flags(&mem, FRONT, GrantRef(MAPTRACK_PER_FRAME)),
            GTF_PERMIT_ACCESS | GTF_READONLY
        );
    }

    #[test]
    fn map_grant_ref_unstable_entry_is_general_error() {
        // _set_status_v1: cmpxchg lost five times -> "Shared grant entry is unstable".
        let (mut sys, mut mem) = granted(false);
        mem.contention = CMPXCHG_RETRIES;
        assert_eq!(
            sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW)),
            Err(GnttabStatus::GeneralError)
        );
        assert_eq!(flags(&mem, FRONT, R) & (GTF_READING | GTF_WRITING), 0);
    }

    #[test]
    fn map_grant_ref_racing_guest_retries_and_succeeds() {
        // _set_status_v1: up to four lost cmpxchgs are retried with the value found.
        let (mut sys, mut mem) = granted(false);
        mem.contention = CMPXCHG_RETRIES - 1;
        assert!(sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .is_ok());
        assert_eq!(
            flags(&mem, FRONT, R) & (GTF_READING | GTF_WRITING),
            GTF_READING | GTF_WRITING
        );
    }

    #[test]
    fn map_grant_ref_pinned_ro_skips_entry_checks_and_reuses_frame() {
        // map_grant_ref: with a pin held, a read-only map does not call _set_status and uses
        // act->mfn, even if the guest has since rewritten the entry's frame.
        let (mut sys, mut mem) = granted(false);
        let a = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("first");
        let mut e = mem.entry(FRONT, R);
        e.frame = frame(FRONT, 2).0 as u32;
        mem.set_entry(FRONT, R, e);
        let b = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("second");
        assert_eq!(a.mfn, b.mfn);
        assert_ne!(a.handle, b.handle);
    }

    #[test]
    fn map_grant_ref_rw_after_ro_pin_sets_writing() {
        // map_grant_ref: a writable map with only read-only pins calls _set_status again.
        let (mut sys, mut mem) = granted(false);
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("ro");
        assert_eq!(flags(&mem, FRONT, R) & GTF_WRITING, 0);
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("rw");
        assert_ne!(flags(&mem, FRONT, R) & GTF_WRITING, 0);
    }

    #[test]
    fn map_grant_ref_host_and_device_take_two_frame_refs() {
        // map_grant_ref: device_map and host_map each take a page reference (refcnt++).
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW | GNTMAP_DEVICE_MAP))
            .expect("map");
        assert_eq!(
            m.frame_ref,
            FrameRef {
                mfn: frame(FRONT, 1),
                delta: 2
            }
        );
        assert_eq!(sys.foreign_map_count(frame(FRONT, 1)), 2);
        let a = sys.active_entry(FRONT, R).expect("pinned");
        assert_eq!((a.pins.hstw, a.pins.devw), (1, 1));
    }

    #[test]
    fn map_grant_ref_reports_cache_flags() {
        // map_grant_ref: cache_flags = shah->flags & (GTF_PAT | GTF_PWT | GTF_PCD).
        let (mut sys, mut mem) = granted(false);
        let mut e = mem.entry(FRONT, R);
        e.flags |= GTF_PCD | GTF_PWT;
        mem.set_entry(FRONT, R, e);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        assert_eq!(m.cache_flags, GTF_PCD | GTF_PWT);
    }

    #[test]
    fn map_grant_ref_batch_continues_after_failure() {
        // gnttab_map_grant_ref: each op is handled and its status copied back; a failure
        // does not stop the batch.
        let (mut sys, mut mem) = granted(false);
        let mut ops = [
            mop(FRONT, GrantRef(9999), RW),
            mop(FRONT, R, RW),
            mop(DomId(9), R, RW),
        ];
        let r = sys.map_grant_ref_batch(&mut mem, BACK, &mut ops);
        assert_eq!(r.len(), 3);
        assert_eq!(ops.map(|o| o.status), [-3, 0, -2]);
        assert_eq!(ops[1].dev_bus_addr, frame(FRONT, 1).addr());
        assert_eq!(Ok(ops[1].handle), r[1].map(|m| m.handle));
    }

    #[test]
    fn cancel_map_undoes_pins_and_refs() {
        // map_grant_ref undo_out: the hypervisor could not install the PTE.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        let u = sys.cancel_map(&mut mem, BACK, m.handle).expect("cancel");
        assert_eq!(u.frame_ref.delta, -1);
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
        assert_eq!(sys.live_handle_count(BACK), 0);
        assert_eq!(
            sys.cancel_map(&mut mem, BACK, m.handle),
            Err(GnttabStatus::BadHandle)
        );
    }
}
