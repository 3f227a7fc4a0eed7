//! The per-domain grant table: its limits and size, the maptrack handles of its mappings of
//! others' grants, and the sub-ops on the table itself (`setup_table`, `query_size`,
//! `set_version`, `get_version`, `get_status_frames`, `swap_grant_ref`).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use xen_abi::grant_table::{
    GnttabStatus, GrantEntryV1, GNTMAP_APPLICATION_MAP, GNTMAP_CONTAINS_PTE, GNTMAP_DEVICE_MAP,
    GNTMAP_HOST_MAP, GNTMAP_READONLY, GNTTAB_NR_RESERVED_ENTRIES,
};
use xen_abi::{DomId, Errno, GrantRef, Mfn, XenResult, PAGE_SIZE};

use crate::active::{ok_or_general, ActiveEntry};
use crate::mem::GrantMemory;
use crate::system::GrantSystem;

/// v1 entries per grant-table frame (`PAGE_SIZE / sizeof(grant_entry_v1_t)`).
pub const GRANT_ENTRIES_PER_FRAME: u32 = (PAGE_SIZE / core::mem::size_of::<GrantEntryV1>()) as u32;
/// Maptrack entries per maptrack frame (`MAPTRACK_PER_PAGE`: Xen's `grant_mapping` is 16 bytes).
pub const MAPTRACK_PER_FRAME: u32 = (PAGE_SIZE / 16) as u32;
/// Frames a table starts with (`INITIAL_NR_GRANT_FRAMES`).
pub const INITIAL_NR_GRANT_FRAMES: u32 = 1;
/// Xen's default `gnttab_max_frames`.
pub const DEFAULT_MAX_GRANT_FRAMES: u32 = 64;
/// Xen's default `gnttab_max_maptrack_frames`.
pub const DEFAULT_MAX_MAPTRACK_FRAMES: u32 = 1024;
/// The highest grant-table version Ferrite offers (`opt_gnttab_max_version`).
pub const MAX_VERSION: u32 = 1;

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
}

impl Default for DomainConfig {
    fn default() -> Self {
        Self {
            privileged: false,
            max_grant_frames: DEFAULT_MAX_GRANT_FRAMES,
            max_maptrack_frames: DEFAULT_MAX_MAPTRACK_FRAMES,
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
    pub(crate) active: BTreeMap<u32, ActiveEntry>,
    pub(crate) maptrack: Vec<Option<MaptrackEntry>>,
    pub(crate) free_handles: Vec<u32>,
    pub(crate) live_handles: usize,
}

impl DomainGrants {
    pub(crate) fn nr_entries(&self) -> u32 {
        self.nr_frames.saturating_mul(GRANT_ENTRIES_PER_FRAME)
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
        if nr_frames > gt.nr_frames {
            mem.grow_table(d, nr_frames)
                .map_err(|_| GnttabStatus::GeneralError)?;
            gt.nr_frames = nr_frames;
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

    /// `GNTTABOP_set_version` (`gnttab_set_version`) for the caller's own table. Whatever the
    /// result, the hypervisor writes the version in force (`get_version`) back to `op.version`.
    ///
    /// `EINVAL` for a version other than 1 or 2; `ENOSYS` for 2, as Xen with
    /// `gnttab=max-ver:1` ("behave as before set_version was introduced").
    pub fn set_version(&mut self, caller: DomId, version: u32) -> XenResult<u32> {
        if version != 1 && version != 2 {
            return Err(Errno::EINVAL);
        }
        if version > MAX_VERSION {
            return Err(Errno::ENOSYS);
        }
        let gt = self.domains.get(&caller).ok_or(Errno::ESRCH)?;
        Ok(gt.version)
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

    /// `GNTTABOP_get_status_frames` (`gnttab_get_status_frames`): a v1 table has no status
    /// frames, so any `nr_frames > 0` is `GNTST_general_error`; 0 succeeds with an empty list.
    pub fn get_status_frames(
        &self,
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
        if nr_frames > 0 {
            return Err(GnttabStatus::GeneralError);
        }
        Ok(0)
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
        if gt.active.contains_key(&ref_a.0) || gt.active.contains_key(&ref_b.0) {
            return Err(GnttabStatus::Eagain);
        }
        let a = ok_or_general(mem.read_entry(caller, ref_a))?;
        let b = ok_or_general(mem.read_entry(caller, ref_b))?;
        ok_or_general(mem.write_entry(caller, ref_a, b))?;
        ok_or_general(mem.write_entry(caller, ref_b, a))?;
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
        let (mut sys, _) = world();
        assert_eq!(sys.set_version(FRONT, 1), Ok(1));
    }

    #[test]
    fn set_version_2_is_enosys() {
        // gnttab_set_version: version 2 with opt_gnttab_max_version == 1 -> -ENOSYS.
        let (mut sys, _) = world();
        assert_eq!(sys.set_version(FRONT, 2), Err(Errno::ENOSYS));
        assert_eq!(sys.get_version(FRONT, DomId::SELF), Ok(1));
    }

    #[test]
    fn set_version_other_is_einval() {
        // gnttab_set_version: op.version not 1 or 2 -> -EINVAL.
        let (mut sys, _) = world();
        assert_eq!(sys.set_version(FRONT, 0), Err(Errno::EINVAL));
        assert_eq!(sys.set_version(FRONT, 3), Err(Errno::EINVAL));
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
        assert_eq!(sys.get_status_frames(FRONT, DomId::SELF, 0), Ok(0));
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
