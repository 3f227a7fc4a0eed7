//! The per-domain grant table: its limits and size, the maptrack handles of its mappings of
//! others' grants, and the sub-ops on the table itself (`setup_table`, `query_size`,
//! `set_version`, `get_version`, `get_status_frames`, `swap_grant_ref`).

use alloc::vec::Vec;

use xen_abi::grant_table::{
    GnttabStatus, GrantEntryHeader, GrantEntryV1, GrantEntryV2, GrantEntryV2FullPage,
    GNTMAP_APPLICATION_MAP, GNTMAP_CONTAINS_PTE, GNTMAP_DEVICE_MAP, GNTMAP_HOST_MAP,
    GNTMAP_READONLY, GNTTAB_NR_RESERVED_ENTRIES, GTF_PERMIT_ACCESS, GTF_READING, GTF_TRANSITIVE,
    GTF_TYPE_MASK, GTF_WRITING,
};
use xen_abi::{DomId, Errno, GrantRef, Mfn, XenResult, PAGE_SIZE};

use crate::active::{ok_or_general, ActiveTable};
use crate::mem::GrantMemory;
use crate::system::GrantSystem;

/// v1 entries per grant-table frame (`PAGE_SIZE / sizeof(grant_entry_v1_t)`).
pub const GRANT_ENTRIES_PER_FRAME: u32 = (PAGE_SIZE / core::mem::size_of::<GrantEntryV1>()) as u32;
/// v2 entries per grant-table frame (`SHGNT_PER_PAGE_V2`).
pub const GRANT_ENTRIES_PER_FRAME_V2: u32 =
    (PAGE_SIZE / core::mem::size_of::<GrantEntryV2>()) as u32;
/// v2 status words per status frame (`STGNT_PER_PAGE`).
pub const STATUS_PER_FRAME: u32 = (PAGE_SIZE / core::mem::size_of::<u16>()) as u32;

/// The status frames a v2 table of `grant_frames` frames needs (`grant_to_status_frames`).
pub const fn status_frames_for(grant_frames: u32) -> u32 {
    let entries = grant_frames as u64 * GRANT_ENTRIES_PER_FRAME_V2 as u64;
    entries.div_ceil(STATUS_PER_FRAME as u64) as u32
}
/// Maptrack entries per maptrack frame (`MAPTRACK_PER_PAGE`: Xen's `grant_mapping` is 16 bytes).
pub const MAPTRACK_PER_FRAME: u32 = (PAGE_SIZE / 16) as u32;
/// Frames a table starts with (`INITIAL_NR_GRANT_FRAMES`).
pub const INITIAL_NR_GRANT_FRAMES: u32 = 1;
/// Xen's default `gnttab_max_frames`.
pub const DEFAULT_MAX_GRANT_FRAMES: u32 = 64;
/// Xen's default `gnttab_max_maptrack_frames`.
pub const DEFAULT_MAX_MAPTRACK_FRAMES: u32 = 1024;
/// The highest grant-table version Ferrite offers (`opt_gnttab_max_version`, Xen 4.17's
/// default); a domain may be limited further ([`DomainConfig::max_version`]).
pub const MAX_VERSION: u32 = 2;

/// The first grant reference a guest may use freely (`GNTTAB_NR_RESERVED_ENTRIES`).
pub const FIRST_FREE_GREF: GrantRef = GrantRef(GNTTAB_NR_RESERVED_ENTRIES);

/// The `GNTMAP_*` bits a maptrack entry keeps (`grant_mapping.flags`: "0-4: GNTMAP_*").
pub(crate) const MAPTRACK_FLAG_MASK: u32 = GNTMAP_DEVICE_MAP
    | GNTMAP_HOST_MAP
    | GNTMAP_READONLY
    | GNTMAP_APPLICATION_MAP
    | GNTMAP_CONTAINS_PTE;

/// Per-domain limits and privilege, fixed at domain creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainConfig {
    /// A control domain (dom0): may set up and query other domains' tables (`XSM_TARGET`).
    pub privileged: bool,
    /// Upper bound for `setup_table` (`max_grant_frames`).
    pub max_grant_frames: u32,
    /// Upper bound for the maptrack table, in frames of [`MAPTRACK_PER_FRAME`] handles.
    pub max_maptrack_frames: u32,
    /// The highest version `set_version` accepts (`gt->max_version`, from the domain's
    /// `XEN_DOMCTL_GRANT_version`): 1 makes `set_version(2)` `ENOSYS`.
    pub max_version: u32,
}

impl Default for DomainConfig {
    fn default() -> Self {
        Self {
            privileged: false,
            max_grant_frames: DEFAULT_MAX_GRANT_FRAMES,
            max_maptrack_frames: DEFAULT_MAX_MAPTRACK_FRAMES,
            max_version: MAX_VERSION,
        }
    }
}

/// One live mapping of another domain's grant (`grant_mapping`), indexed by its handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaptrackEntry {
    /// The granting domain.
    pub dom: DomId,
    /// The grant in `dom`'s table.
    pub gref: GrantRef,
    /// `GNTMAP_*` still mapped (bits 0–4; host/device cleared as each side is unmapped).
    pub flags: u32,
    /// The `host_addr` given at map time (virtual address or PTE address).
    pub host_addr: u64,
    /// The frame mapped.
    pub mfn: Mfn,
}

/// One domain's grant table (Xen's `struct grant_table`): limits, size and version, the
/// active entries of its grants that others pin, and the maptrack of its own mappings.
#[derive(Clone, Debug)]
pub(crate) struct DomainGrants {
    pub(crate) cfg: DomainConfig,
    pub(crate) dying: bool,
    pub(crate) version: u32,
    pub(crate) nr_frames: u32,
    /// Status frames (v2 only; 0 in v1).
    pub(crate) nr_status_frames: u32,
    pub(crate) active: ActiveTable,
    pub(crate) maptrack: Vec<Option<MaptrackEntry>>,
    pub(crate) free_handles: Vec<u32>,
    pub(crate) live_handles: usize,
}

impl DomainGrants {
    pub(crate) fn nr_entries(&self) -> u32 {
        let per_frame = if self.version == 2 {
            GRANT_ENTRIES_PER_FRAME_V2
        } else {
            GRANT_ENTRIES_PER_FRAME
        };
        self.nr_frames.saturating_mul(per_frame)
    }

    fn maptrack_limit(&self) -> u64 {
        u64::from(self.cfg.max_maptrack_frames) * u64::from(MAPTRACK_PER_FRAME)
    }

    /// Whether `get_maptrack_handle` would succeed.
    pub(crate) fn can_get_handle(&self) -> bool {
        !self.free_handles.is_empty() || (self.maptrack.len() as u64) < self.maptrack_limit()
    }

    /// `get_maptrack_handle`: a free handle, growing the table by one frame when empty.
    pub(crate) fn get_handle(&mut self) -> Option<u32> {
        if self.free_handles.is_empty() {
            if (self.maptrack.len() as u64) >= self.maptrack_limit() {
                return None;
            }
            let base = u32::try_from(self.maptrack.len()).ok()?;
            let top = base.checked_add(MAPTRACK_PER_FRAME)?;
            self.maptrack
                .resize(self.maptrack.len() + MAPTRACK_PER_FRAME as usize, None);
            // Lowest handle first: push in reverse so `pop` yields ascending handles.
            self.free_handles.extend((base..top).rev());
        }
        self.free_handles.pop()
    }

    /// `put_maptrack_handle`: free a live handle (a free or unknown one is ignored).
    pub(crate) fn put_handle(&mut self, handle: u32) {
        if let Some(slot) = self.maptrack.get_mut(handle as usize) {
            if slot.take().is_some() {
                self.live_handles = self.live_handles.saturating_sub(1);
                self.free_handles.push(handle);
            }
        }
    }
}

impl GrantSystem {
    /// `GNTTABOP_setup_table` (`gnttab_setup_table`): grow `dom`'s table to at least
    /// `nr_frames`; on success the hypervisor writes the gmfns of frames `0..nr_frames` to
    /// `frame_list` (`GNTST_bad_virt_addr` if that faults).
    pub fn setup_table<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        dom: DomId,
        nr_frames: u32,
    ) -> Result<u32, GnttabStatus> {
        let d = self
            .resolve_any(caller, dom)
            .ok_or(GnttabStatus::BadDomain)?;
        if !self.xsm_target(caller, d) {
            return Err(GnttabStatus::PermissionDenied);
        }
        let gt = self.domains.get_mut(&d).ok_or(GnttabStatus::BadDomain)?;
        if nr_frames > gt.cfg.max_grant_frames {
            return Err(GnttabStatus::GeneralError);
        }
        let want_status = if gt.version == 2 {
            status_frames_for(nr_frames)
        } else {
            0
        };
        // `gnttab_grow_table`: the shared frames, and in v2 the status frames they need.
        if nr_frames > gt.nr_frames {
            mem.grow_table(d, nr_frames)
                .map_err(|_| GnttabStatus::GeneralError)?;
            gt.nr_frames = nr_frames;
        }
        if want_status > gt.nr_status_frames {
            mem.grow_status(d, want_status)
                .map_err(|_| GnttabStatus::GeneralError)?;
            gt.nr_status_frames = want_status;
        }
        Ok(nr_frames)
    }

    /// `GNTTABOP_query_size` (`gnttab_query_size`): `(nr_frames, max_nr_frames)`.
    pub fn query_size(&self, caller: DomId, dom: DomId) -> Result<(u32, u32), GnttabStatus> {
        let d = self
            .resolve_any(caller, dom)
            .ok_or(GnttabStatus::BadDomain)?;
        if !self.xsm_target(caller, d) {
            return Err(GnttabStatus::PermissionDenied);
        }
        let gt = self.domains.get(&d).ok_or(GnttabStatus::BadDomain)?;
        Ok((gt.nr_frames, gt.cfg.max_grant_frames))
    }

    /// `GNTTABOP_set_version` (`gnttab_set_version`) for the caller's own table. Returns the
    /// outcome and the version in force afterwards, which the hypervisor writes back to
    /// `op.version` whatever the outcome.
    ///
    /// `EINVAL` for a version other than 1 or 2; `ENOSYS` for 2 when the domain is limited to
    /// v1; `EBUSY` while any entry past the reserved eight is pinned; `ERANGE` going back to
    /// v1 with a reserved entry v1 cannot hold (a transitive grant, a frame above 2^32);
    /// `EBUSY` going back to v1 while the guest still maps a status frame; `ENOMEM` if the
    /// status frames cannot be allocated. On a switch every entry is cleared except the
    /// reserved ones (console, xenstore: the toolstack's), which are converted, their
    /// `GTF_reading`/`GTF_writing` moving between the entry and the status word.
    pub fn set_version<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        version: u32,
    ) -> (XenResult<()>, u32) {
        let Some(gt) = self.domains.get(&caller) else {
            return (Err(Errno::ESRCH), 0);
        };
        let now = gt.version;
        let r = Self::switch_version(gt, mem, caller, version);
        match r {
            Ok(Some(status_frames)) => {
                if let Some(gt) = self.domains.get_mut(&caller) {
                    gt.version = version;
                    gt.nr_status_frames = status_frames;
                }
                (Ok(()), version)
            }
            Ok(None) => (Ok(()), now),
            Err(e) => (Err(e), now),
        }
    }

    /// The body of [`GrantSystem::set_version`]: `Ok(None)` when nothing changes, else the
    /// status frames the table has after the switch.
    fn switch_version<M: GrantMemory>(
        gt: &DomainGrants,
        mem: &mut M,
        dom: DomId,
        version: u32,
    ) -> XenResult<Option<u32>> {
        if version != 1 && version != 2 {
            return Err(Errno::EINVAL);
        }
        if version == 2 && gt.cfg.max_version < 2 {
            // "Behave as before set_version was introduced."
            return Err(Errno::ENOSYS);
        }
        if gt.version == version {
            return Ok(None);
        }
        if gt.active.any_from(GNTTAB_NR_RESERVED_ENTRIES) {
            return Err(Errno::EBUSY);
        }
        let reserved = 0..GNTTAB_NR_RESERVED_ENTRIES;
        // The reserved entries, kept in v1's form (with v2's status folded into the flags).
        let mut keep = [GrantEntryV1::default(); GNTTAB_NR_RESERVED_ENTRIES as usize];
        if gt.version == 1 {
            mem.grow_status(dom, status_frames_for(gt.nr_frames))?;
            for (i, k) in reserved.clone().zip(keep.iter_mut()) {
                *k = mem.read_entry(dom, GrantRef(i)).unwrap_or_default();
            }
        } else {
            let mut v2 = [GrantEntryV2::default(); GNTTAB_NR_RESERVED_ENTRIES as usize];
            for (i, e) in reserved.clone().zip(v2.iter_mut()) {
                *e = mem.read_entry_v2(dom, GrantRef(i)).unwrap_or_default();
                let full = e.full_page();
                match full.hdr.flags & GTF_TYPE_MASK {
                    GTF_PERMIT_ACCESS if full.frame >> 32 == 0 => {}
                    GTF_PERMIT_ACCESS | GTF_TRANSITIVE => return Err(Errno::ERANGE),
                    _ => {}
                }
            }
            for ((i, e), k) in reserved.clone().zip(v2.iter()).zip(keep.iter_mut()) {
                let full = e.full_page();
                if full.hdr.flags & GTF_TYPE_MASK == GTF_PERMIT_ACCESS {
                    let status = mem.read_status(dom, GrantRef(i)).unwrap_or(0);
                    *k = GrantEntryV1 {
                        flags: full.hdr.flags | status,
                        domid: full.hdr.domid,
                        frame: full.frame as u32,
                    };
                }
            }
            mem.release_status(dom)?;
        }
        mem.clear_shared(dom);
        for (i, k) in reserved.zip(keep.iter()) {
            let gref = GrantRef(i);
            if version == 1 {
                mem.write_entry(dom, gref, *k);
            } else {
                let busy = GTF_READING | GTF_WRITING;
                mem.write_status(dom, gref, k.flags & busy);
                let flags = k.flags & !busy;
                mem.write_entry_v2(
                    dom,
                    gref,
                    GrantEntryV2::from_full_page(GrantEntryV2FullPage {
                        hdr: GrantEntryHeader {
                            flags,
                            domid: k.domid,
                        },
                        pad0: 0,
                        frame: u64::from(k.frame),
                    }),
                );
            }
        }
        Ok(Some(if version == 2 {
            status_frames_for(gt.nr_frames)
        } else {
            0
        }))
    }

    /// `GNTTABOP_get_version` (`gnttab_get_version`): `ESRCH` for an unknown domain, `EPERM`
    /// for another domain without privilege.
    pub fn get_version(&self, caller: DomId, dom: DomId) -> XenResult<u32> {
        let d = self.resolve_any(caller, dom).ok_or(Errno::ESRCH)?;
        if !self.xsm_target(caller, d) {
            return Err(Errno::EPERM);
        }
        self.domains.get(&d).map(|g| g.version).ok_or(Errno::ESRCH)
    }

    /// `GNTTABOP_get_status_frames` (`gnttab_get_status_frames`): `Ok(dom)` (the domain the
    /// frames are of) when `nr_frames` is within its status frames, which the hypervisor then
    /// lists; more frames than it has (all of them in v1, which has none) is
    /// `GNTST_general_error`.
    pub fn get_status_frames(
        &self,
        caller: DomId,
        dom: DomId,
        nr_frames: u32,
    ) -> Result<DomId, GnttabStatus> {
        let d = self
            .resolve_any(caller, dom)
            .ok_or(GnttabStatus::BadDomain)?;
        if !self.xsm_target(caller, d) {
            return Err(GnttabStatus::PermissionDenied);
        }
        let gt = self.domains.get(&d).ok_or(GnttabStatus::BadDomain)?;
        if nr_frames > gt.nr_status_frames {
            return Err(GnttabStatus::GeneralError);
        }
        Ok(d)
    }

    /// `GNTTABOP_swap_grant_ref` (`swap_grant_ref`) in the caller's own table.
    pub fn swap_grant_ref<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        ref_a: GrantRef,
        ref_b: GrantRef,
    ) -> Result<(), GnttabStatus> {
        let gt = self
            .domains
            .get(&caller)
            .ok_or(GnttabStatus::GeneralError)?;
        let n = gt.nr_entries();
        if ref_a.0 >= n || ref_b.0 >= n {
            return Err(GnttabStatus::BadGntref);
        }
        if ref_a == ref_b {
            return Ok(());
        }
        if gt.active.contains_key(ref_a.0) || gt.active.contains_key(ref_b.0) {
            return Err(GnttabStatus::Eagain);
        }
        if gt.version == 1 {
            let a = ok_or_general(mem.read_entry(caller, ref_a))?;
            let b = ok_or_general(mem.read_entry(caller, ref_b))?;
            ok_or_general(mem.write_entry(caller, ref_a, b))?;
            ok_or_general(mem.write_entry(caller, ref_b, a))?;
        } else {
            // The entries and their status words.
            let a = ok_or_general(mem.read_entry_v2(caller, ref_a))?;
            let b = ok_or_general(mem.read_entry_v2(caller, ref_b))?;
            let sa = ok_or_general(mem.read_status(caller, ref_a))?;
            let sb = ok_or_general(mem.read_status(caller, ref_b))?;
            ok_or_general(mem.write_entry_v2(caller, ref_a, b))?;
            ok_or_general(mem.write_status(caller, ref_a, sb))?;
            ok_or_general(mem.write_entry_v2(caller, ref_b, a))?;
            ok_or_general(mem.write_status(caller, ref_b, sa))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! setup_table, query_size, set_version/get_version, get_status_frames, swap_grant_ref.
    use super::*;
    use crate::fixtures::*;

    // ----- setup_table / query_size / versions / status frames --------------------------------

    #[test]
    fn setup_table_grows_table_to_nr_frames() {
        // gnttab_setup_table: nr_frames > nr_grant_frames -> gnttab_grow_table.
        let (mut sys, mut mem) = world();
        assert_eq!(sys.setup_table(&mut mem, FRONT, DomId::SELF, 4), Ok(4));
        assert_eq!(
            sys.query_size(FRONT, DomId::SELF),
            Ok((4, DEFAULT_MAX_GRANT_FRAMES))
        );
        // Refs in the new frames are usable.
        mem.grant(
            FRONT,
            GrantRef(4 * GRANT_ENTRIES_PER_FRAME - 1),
            BACK,
            frame(FRONT, 1),
            true,
        );
        let op = mop(FRONT, GrantRef(4 * GRANT_ENTRIES_PER_FRAME - 1), RO);
        assert!(sys.map_grant_ref(&mut mem, BACK, &op).is_ok());
    }

    #[test]
    fn setup_table_smaller_than_current_keeps_size() {
        // gnttab_setup_table: tables never shrink; the op succeeds for the frames asked.
        let (mut sys, mut mem) = world();
        sys.setup_table(&mut mem, FRONT, DomId::SELF, 3)
            .expect("grow");
        assert_eq!(sys.setup_table(&mut mem, FRONT, DomId::SELF, 1), Ok(1));
        assert_eq!(sys.nr_frames(FRONT), Some(3));
    }

    #[test]
    fn setup_table_beyond_max_is_general_error() {
        // gnttab_setup_table: "is limited to %u grant-table frames" -> GNTST_general_error.
        let (mut sys, mut mem) = world();
        let too_many = DEFAULT_MAX_GRANT_FRAMES + 1;
        assert_eq!(
            sys.setup_table(&mut mem, FRONT, DomId::SELF, too_many),
            Err(GnttabStatus::GeneralError)
        );
        assert_eq!(sys.nr_frames(FRONT), Some(INITIAL_NR_GRANT_FRAMES));
    }

    #[test]
    fn setup_table_grow_failure_is_general_error() {
        // gnttab_setup_table: gnttab_grow_table fails (-ENOMEM) -> GNTST_general_error.
        let (mut sys, mut mem) = world();
        mem.fail_grow = true;
        assert_eq!(
            sys.setup_table(&mut mem, FRONT, DomId::SELF, 2),
            Err(GnttabStatus::GeneralError)
        );
        assert_eq!(sys.nr_frames(FRONT), Some(1));
    }

    #[test]
    fn setup_table_other_domain_unprivileged_is_permission_denied() {
        // xsm_grant_setup(XSM_TARGET): neither the domain itself nor privileged.
        let (mut sys, mut mem) = world();
        assert_eq!(
            sys.setup_table(&mut mem, OTHER, FRONT, 2),
            Err(GnttabStatus::PermissionDenied)
        );
    }

    #[test]
    fn setup_table_other_domain_privileged_is_okay() {
        // xsm_grant_setup(XSM_TARGET): a control domain may set up any table.
        let (mut sys, mut mem) = world();
        assert_eq!(sys.setup_table(&mut mem, BACK, FRONT, 2), Ok(2));
    }

    #[test]
    fn setup_table_unknown_domain_is_bad_domain() {
        // gnttab_setup_table: rcu_lock_domain_by_any_id fails -> GNTST_bad_domain.
        let (mut sys, mut mem) = world();
        assert_eq!(
            sys.setup_table(&mut mem, BACK, DomId(33), 1),
            Err(GnttabStatus::BadDomain)
        );
    }

    #[test]
    fn query_size_reports_current_and_max() {
        // gnttab_query_size: nr_frames = nr_grant_frames, max_nr_frames = max_grant_frames.
        let (sys, _) = world();
        assert_eq!(
            sys.query_size(FRONT, DomId::SELF),
            Ok((1, DEFAULT_MAX_GRANT_FRAMES))
        );
        assert_eq!(
            sys.query_size(BACK, FRONT),
            Ok((1, DEFAULT_MAX_GRANT_FRAMES))
        );
    }

    #[test]
    fn query_size_other_domain_unprivileged_is_permission_denied() {
        // xsm_grant_query_size(XSM_TARGET) -> GNTST_permission_denied.
        let (sys, _) = world();
        assert_eq!(
            sys.query_size(OTHER, FRONT),
            Err(GnttabStatus::PermissionDenied)
        );
    }

    #[test]
    fn query_size_unknown_domain_is_bad_domain() {
        // gnttab_query_size: rcu_lock_domain_by_any_id fails -> GNTST_bad_domain.
        let (sys, _) = world();
        assert_eq!(
            sys.query_size(BACK, DomId(33)),
            Err(GnttabStatus::BadDomain)
        );
    }

    #[test]
    fn set_version_1_is_okay() {
        // gnttab_set_version: gt_version == op.version -> 0, op.version = 1.
        let (mut sys, mut mem) = world();
        assert_eq!(sys.set_version(&mut mem, FRONT, 1), (Ok(()), 1));
    }

    #[test]
    fn set_version_2_limited_to_v1_is_enosys() {
        // gnttab_set_version: version 2 with gt->max_version == 1 -> -ENOSYS, op.version = 1.
        let (mut sys, mut mem) = world();
        let cfg = DomainConfig {
            max_version: 1,
            ..DomainConfig::default()
        };
        sys.create_domain(DomId(5), cfg).expect("new");
        mem.add_domain(DomId(5), []);
        assert_eq!(
            sys.set_version(&mut mem, DomId(5), 2),
            (Err(Errno::ENOSYS), 1)
        );
        assert_eq!(sys.get_version(DomId(5), DomId::SELF), Ok(1));
    }

    #[test]
    fn set_version_other_is_einval() {
        // gnttab_set_version: op.version not 1 or 2 -> -EINVAL, op.version = the one in force.
        let (mut sys, mut mem) = world();
        assert_eq!(sys.set_version(&mut mem, FRONT, 0), (Err(Errno::EINVAL), 1));
        assert_eq!(sys.set_version(&mut mem, FRONT, 3), (Err(Errno::EINVAL), 1));
    }

    #[test]
    fn get_version_self_is_1() {
        // gnttab_get_version: DOMID_SELF via rcu_lock_domain_by_any_id.
        let (sys, _) = world();
        assert_eq!(sys.get_version(FRONT, DomId::SELF), Ok(1));
        assert_eq!(sys.get_version(BACK, FRONT), Ok(1));
    }

    #[test]
    fn get_version_unknown_domain_is_esrch() {
        // gnttab_get_version: domain not found -> -ESRCH.
        let (sys, _) = world();
        assert_eq!(sys.get_version(FRONT, DomId(44)), Err(Errno::ESRCH));
    }

    #[test]
    fn get_version_other_domain_unprivileged_is_eperm() {
        // gnttab_get_version: xsm_grant_query_size(XSM_TARGET) -> -EPERM under the dummy policy.
        let (sys, _) = world();
        assert_eq!(sys.get_version(OTHER, FRONT), Err(Errno::EPERM));
    }

    #[test]
    fn get_status_frames_v1_nonzero_is_general_error() {
        // gnttab_get_status_frames: nr_frames > nr_status_frames (0 in v1) -> GNTST_general_error.
        let (sys, _) = world();
        assert_eq!(
            sys.get_status_frames(FRONT, DomId::SELF, 1),
            Err(GnttabStatus::GeneralError)
        );
    }

    #[test]
    fn get_status_frames_zero_is_okay() {
        // gnttab_get_status_frames: zero frames asked, nothing copied, GNTST_okay.
        let (sys, _) = world();
        assert_eq!(sys.get_status_frames(FRONT, DomId::SELF, 0), Ok(FRONT));
        assert_eq!(
            sys.get_status_frames(OTHER, FRONT, 0),
            Err(GnttabStatus::PermissionDenied)
        );
        assert_eq!(
            sys.get_status_frames(OTHER, DomId(50), 0),
            Err(GnttabStatus::BadDomain)
        );
    }

    // ----- swap_grant_ref ---------------------------------------------------------------------

    #[test]
    fn swap_grant_ref_swaps_entries() {
        // swap_grant_ref: v1 entries exchanged.
        let (mut sys, mut mem) = world();
        mem.grant(FRONT, GrantRef(8), BACK, frame(FRONT, 1), true);
        mem.grant(FRONT, GrantRef(9), OTHER, frame(FRONT, 2), false);
        let (a, b) = (mem.entry(FRONT, GrantRef(8)), mem.entry(FRONT, GrantRef(9)));
        assert_eq!(
            sys.swap_grant_ref(&mut mem, FRONT, GrantRef(8), GrantRef(9)),
            Ok(())
        );
        assert_eq!(
            (mem.entry(FRONT, GrantRef(8)), mem.entry(FRONT, GrantRef(9))),
            (b, a)
        );
    }

    #[test]
    fn swap_grant_ref_out_of_range_is_bad_gntref() {
        // swap_grant_ref: "Bad ref-a" / "Bad ref-b" -> GNTST_bad_gntref.
        let (mut sys, mut mem) = world();
        assert_eq!(
            sys.swap_grant_ref(&mut mem, FRONT, GrantRef(512), GrantRef(1)),
            Err(GnttabStatus::BadGntref)
        );
        assert_eq!(
            sys.swap_grant_ref(&mut mem, FRONT, GrantRef(1), GrantRef(512)),
            Err(GnttabStatus::BadGntref)
        );
    }

    #[test]
    fn swap_grant_ref_pinned_is_eagain() {
        // swap_grant_ref: "ref a busy" / "ref b busy" -> GNTST_eagain.
        let (mut sys, mut mem) = granted(false);
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("map");
        assert_eq!(
            sys.swap_grant_ref(&mut mem, FRONT, R, GrantRef(9)),
            Err(GnttabStatus::Eagain)
        );
        assert_eq!(
            sys.swap_grant_ref(&mut mem, FRONT, GrantRef(9), R),
            Err(GnttabStatus::Eagain)
        );
    }

    #[test]
    fn swap_grant_ref_same_ref_is_okay() {
        // swap_grant_ref: "Swapping the same ref is a no-op", even when pinned.
        let (mut sys, mut mem) = granted(false);
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("map");
        assert_eq!(sys.swap_grant_ref(&mut mem, FRONT, R, R), Ok(()));
    }
}
