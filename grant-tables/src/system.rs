//! The grant-table hub: [`GrantSystem`] holds every domain's table, creates and destroys them,
//! counts foreign mappings of frames, and answers the hypervisor's queries.
//!
//! Behaviour follows Xen 4.17's `xen/common/grant_table.c`; each step names the function it
//! mirrors. The `GNTTABOP_*` sub-ops are filed by concept beside this module (`map`, `unmap`,
//! `copy`, `table`, `cache_flush`), the pins and `GTF_*` status bits in `active`, the batch loop
//! and hypercall-level checks in `dispatch`. Operations never touch hardware: they return what
//! the hypervisor must install or undo ([`Mapping`](crate::Mapping), [`Unmapping`],
//! [`DestroyedDomain`]) and reach guest memory only through [`GrantMemory`].

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use xen_abi::grant_table::{GNTMAP_DEVICE_MAP, GNTMAP_HOST_MAP, GNTMAP_READONLY};
use xen_abi::{DomId, Errno, GrantHandle, GrantRef, Mfn, XenResult};

use crate::active::{ActiveEntry, ActiveTable};
use crate::mem::GrantMemory;
use crate::table::{DomainConfig, DomainGrants, MaptrackEntry, INITIAL_NR_GRANT_FRAMES};
use crate::unmap::Unmapping;

/// A change in the foreign-mapping reference count of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRef {
    /// The frame.
    pub mfn: Mfn,
    /// +n taken, −n dropped.
    pub delta: i32,
}

/// What `destroy_domain` leaves the hypervisor to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestroyedDomain {
    /// The dying domain's own mappings of others' grants that were released
    /// (`gnttab_release_mappings`): drop its PTEs/IOMMU entries for them.
    pub released: Vec<Unmapping>,
    /// Frames owned by the dying domain that other domains still map: keep them allocated;
    /// each comes back as `Unmapping::free_frame` after its last unmap.
    pub retained_frames: Vec<Mfn>,
    /// The domain's grant table can be freed now (no foreign pins left); otherwise it is kept
    /// until an `Unmapping::table_released` names it.
    pub table_released: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FrameInfo {
    owner: DomId,
    refs: u32,
    orphaned: bool,
}

/// Every domain's grant table, keyed by `DomId`, plus foreign-mapping counts of frames.
#[derive(Clone, Debug, Default)]
pub struct GrantSystem {
    pub(crate) domains: BTreeMap<DomId, DomainGrants>,
    frames: BTreeMap<Mfn, FrameInfo>,
}

impl GrantSystem {
    /// An empty system.
    pub fn new() -> Self {
        Self::default()
    }

    // -----------------------------------------------------------------------------------------
    // Domains
    // -----------------------------------------------------------------------------------------

    /// Create `dom`'s grant table (`grant_table_init`): version 1, [`INITIAL_NR_GRANT_FRAMES`]
    /// frames, which the hypervisor must already back.
    ///
    /// `EINVAL` for a reserved id or limits Xen refuses (`max_grant_frames` below the initial
    /// size); `EEXIST` if `dom` exists (including a dying domain whose table is still pinned).
    pub fn create_domain(&mut self, dom: DomId, cfg: DomainConfig) -> XenResult<()> {
        if !dom.is_ordinary() || cfg.max_grant_frames < INITIAL_NR_GRANT_FRAMES {
            return Err(Errno::EINVAL);
        }
        if self.domains.contains_key(&dom) {
            return Err(Errno::EEXIST);
        }
        self.domains.insert(
            dom,
            DomainGrants {
                cfg,
                dying: false,
                version: 1,
                nr_frames: INITIAL_NR_GRANT_FRAMES,
                nr_status_frames: 0,
                active: ActiveTable::default(),
                maptrack: Vec::new(),
                free_handles: Vec::new(),
                live_handles: 0,
            },
        );
        Ok(())
    }

    /// Whether `dom` exists and is not dying.
    pub fn domain_exists(&self, dom: DomId) -> bool {
        self.domains.get(&dom).is_some_and(|d| !d.dying)
    }

    /// Whether `dom` is dying but its table is kept for foreign pins.
    pub fn domain_is_zombie(&self, dom: DomId) -> bool {
        self.domains.get(&dom).is_some_and(|d| d.dying)
    }

    /// Domain destruction (`gnttab_release_mappings` + the deferred `grant_table_destroy`).
    ///
    /// Releases the domain's mappings of other domains' grants, marks its frames that others
    /// still map as retained, and keeps its table (for the `GTF_*` bits the remaining unmaps
    /// clear) until no foreign pins remain. `ESRCH` if `dom` does not exist or is already dying.
    pub fn destroy_domain<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        dom: DomId,
    ) -> XenResult<DestroyedDomain> {
        if !self.domain_exists(dom) {
            return Err(Errno::ESRCH);
        }
        let mut out = DestroyedDomain::default();
        // Release its own mappings of others' grants, handle by handle.
        let handles: Vec<u32> = self
            .domains
            .get(&dom)
            .map(|d| {
                d.maptrack
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.is_some())
                    .filter_map(|(h, _)| u32::try_from(h).ok())
                    .collect()
            })
            .unwrap_or_default();
        for h in handles {
            let Some(m) = self.maptrack_entry(dom, GrantHandle(h)) else {
                continue;
            };
            let done = m.flags & (GNTMAP_HOST_MAP | GNTMAP_DEVICE_MAP | GNTMAP_READONLY);
            if let Some(d) = self.domains.get_mut(&dom) {
                d.put_handle(h);
            }
            let u = self.unmap_complete(mem, m, done, None);
            out.released.push(u);
        }
        // Only now is it dying: releasing its self-mappings above must not reap its table.
        if let Some(d) = self.domains.get_mut(&dom) {
            d.dying = true;
        }
        // Frames it owns that others still map stay alive.
        for (mfn, f) in self.frames.iter_mut() {
            if f.owner == dom && f.refs > 0 {
                f.orphaned = true;
                out.retained_frames.push(*mfn);
            }
        }
        out.table_released = self.reap_if_unpinned(dom);
        Ok(out)
    }

    /// The deferred `grant_table_destroy`: drop a dying domain's table once nothing pins it.
    pub(crate) fn reap_if_unpinned(&mut self, dom: DomId) -> bool {
        let reap = self
            .domains
            .get(&dom)
            .is_some_and(|d| d.dying && d.active.is_empty());
        if reap {
            self.domains.remove(&dom);
        }
        reap
    }

    /// `rcu_lock_domain_by_any_id`: `DOMID_SELF` names the caller; dying domains are not found.
    pub(crate) fn resolve_any(&self, caller: DomId, dom: DomId) -> Option<DomId> {
        let d = if dom == DomId::SELF { caller } else { dom };
        self.domain_exists(d).then_some(d)
    }

    /// `XSM_TARGET` under the dummy policy: the domain itself or a control domain.
    pub(crate) fn xsm_target(&self, caller: DomId, target: DomId) -> bool {
        caller == target || self.domains.get(&caller).is_some_and(|d| d.cfg.privileged)
    }

    // -----------------------------------------------------------------------------------------
    // Queries
    // -----------------------------------------------------------------------------------------

    /// Current table size in frames.
    pub fn nr_frames(&self, dom: DomId) -> Option<u32> {
        self.domains.get(&dom).map(|d| d.nr_frames)
    }

    /// The active (pinned) entry for `gref` of `dom`, if pinned.
    pub fn active_entry(&self, dom: DomId, gref: GrantRef) -> Option<ActiveEntry> {
        self.domains.get(&dom)?.active.get(gref.0).copied()
    }

    /// Every pinned entry of `dom`.
    pub fn active_entries(&self, dom: DomId) -> impl Iterator<Item = (GrantRef, ActiveEntry)> + '_ {
        self.domains
            .get(&dom)
            .into_iter()
            .flat_map(|d| d.active.iter().map(|(r, a)| (GrantRef(r), *a)))
    }

    /// The live maptrack entry behind `handle` of mapping domain `dom`.
    pub fn maptrack_entry(&self, dom: DomId, handle: GrantHandle) -> Option<MaptrackEntry> {
        self.domains
            .get(&dom)?
            .maptrack
            .get(handle.0 as usize)
            .copied()
            .flatten()
    }

    /// Every live handle of mapping domain `dom`.
    pub fn live_handles(
        &self,
        dom: DomId,
    ) -> impl Iterator<Item = (GrantHandle, MaptrackEntry)> + '_ {
        self.domains.get(&dom).into_iter().flat_map(|d| {
            d.maptrack
                .iter()
                .enumerate()
                .filter_map(|(h, m)| Some((GrantHandle(u32::try_from(h).ok()?), (*m)?)))
        })
    }

    /// Number of live handles of `dom`.
    pub fn live_handle_count(&self, dom: DomId) -> usize {
        self.domains.get(&dom).map_or(0, |d| d.live_handles)
    }

    /// Every domain the system holds (including dying ones kept for pins).
    pub fn domains(&self) -> impl Iterator<Item = DomId> + '_ {
        self.domains.keys().copied()
    }

    /// Foreign-mapping references on `mfn` (host and device mappings each count one).
    pub fn foreign_map_count(&self, mfn: Mfn) -> u32 {
        self.frames.get(&mfn).map_or(0, |f| f.refs)
    }

    /// Whether another domain maps `mfn`: it must not be freed or handed to another domain.
    pub fn frame_is_mapped(&self, mfn: Mfn) -> bool {
        self.foreign_map_count(mfn) != 0
    }

    /// Frames whose owner died while they were mapped, and which are still mapped.
    pub fn retained_frames(&self) -> impl Iterator<Item = Mfn> + '_ {
        self.frames
            .iter()
            .filter(|(_, f)| f.orphaned)
            .map(|(m, _)| *m)
    }

    pub(crate) fn frame_get(&mut self, owner: DomId, mfn: Mfn, n: u32) {
        if n == 0 {
            return;
        }
        let f = self.frames.entry(mfn).or_insert(FrameInfo {
            owner,
            refs: 0,
            orphaned: false,
        });
        f.refs = f.refs.saturating_add(n);
    }

    /// Drop `n` references; `Some(mfn)` if the frame must be freed now.
    pub(crate) fn frame_put(&mut self, mfn: Mfn, n: u32) -> Option<Mfn> {
        let f = self.frames.get_mut(&mfn)?;
        f.refs = f.refs.saturating_sub(n);
        if f.refs == 0 {
            let orphaned = f.orphaned;
            self.frames.remove(&mfn);
            return orphaned.then_some(mfn);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    //! Domain lifetime: creation, destruction, zombie tables and retained frames.
    use super::*;
    use crate::fixtures::*;

    use alloc::vec;
    use xen_abi::grant_table::{GnttabUnmapGrantRef, GTF_PERMIT_ACCESS};

    #[test]
    fn destroy_domain_with_mapped_frame_retains_it_until_last_unmap() {
        // A granted page keeps a reference per mapping (map_grant_ref get_page), so the
        // owner's death does not free it; the last put (unmap_common_complete) does.
        let (mut sys, mut mem) = granted(false);
        let a = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map a");
        let b = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("map b");
        let d = sys.destroy_domain(&mut mem, FRONT).expect("destroy");
        assert_eq!(d.retained_frames, vec![frame(FRONT, 1)]);
        assert!(!d.table_released);
        assert!(sys.domain_is_zombie(FRONT) && !sys.domain_exists(FRONT));
        assert!(sys.frame_is_mapped(frame(FRONT, 1)));
        let u = sys
            .unmap_grant_ref(&mut mem, BACK, &uop(a.handle))
            .expect("unmap a");
        assert_eq!((u.free_frame, u.table_released), (None, None));
        let u = sys
            .unmap_grant_ref(&mut mem, BACK, &uop(b.handle))
            .expect("unmap b");
        assert_eq!(u.free_frame, Some(frame(FRONT, 1)));
        assert_eq!(u.table_released, Some(FRONT));
        assert!(!sys.domains().any(|d| d == FRONT));
        assert_eq!(sys.retained_frames().count(), 0);
    }

    #[test]
    fn destroy_domain_releases_its_own_mappings() {
        // gnttab_release_mappings: the dying domain's maptrack entries are dropped and the
        // granters' pins and GTF_* bits go with them.
        let (mut sys, mut mem) = granted(false);
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW | GNTMAP_DEVICE_MAP))
            .expect("map");
        let d = sys.destroy_domain(&mut mem, BACK).expect("destroy");
        assert_eq!(d.released.len(), 1);
        assert_eq!(d.released[0].frame_ref.delta, -2);
        assert!(d.table_released);
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
        assert!(!sys.frame_is_mapped(frame(FRONT, 1)));
    }

    #[test]
    fn destroy_domain_unknown_or_dying_is_esrch() {
        let (mut sys, mut mem) = granted(false);
        assert_eq!(sys.destroy_domain(&mut mem, DomId(30)), Err(Errno::ESRCH));
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("map");
        sys.destroy_domain(&mut mem, FRONT).expect("first");
        assert_eq!(sys.destroy_domain(&mut mem, FRONT), Err(Errno::ESRCH));
    }

    #[test]
    fn create_domain_while_zombie_is_eexist() {
        // The domain id stays taken until the last foreign mapping is gone.
        let (mut sys, mut mem) = granted(false);
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("map");
        sys.destroy_domain(&mut mem, FRONT).expect("destroy");
        assert_eq!(
            sys.create_domain(FRONT, DomainConfig::default()),
            Err(Errno::EEXIST)
        );
    }

    #[test]
    fn create_domain_reserved_id_or_bad_limits_is_einval() {
        // grant_table_init: max_grant_frames < INITIAL_NR_GRANT_FRAMES -> -EINVAL.
        let mut sys = GrantSystem::new();
        assert_eq!(
            sys.create_domain(DomId::SELF, DomainConfig::default()),
            Err(Errno::EINVAL)
        );
        let cfg = DomainConfig {
            max_grant_frames: 0,
            ..DomainConfig::default()
        };
        assert_eq!(sys.create_domain(DomId(3), cfg), Err(Errno::EINVAL));
    }

    #[test]
    fn frame_is_mapped_counts_every_mapping() {
        let (mut sys, mut mem) = granted(false);
        let f = frame(FRONT, 1);
        assert!(!sys.frame_is_mapped(f));
        let a = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("a");
        let b = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO | GNTMAP_DEVICE_MAP))
            .expect("b");
        assert_eq!(sys.foreign_map_count(f), 3);
        sys.unmap_grant_ref(&mut mem, BACK, &uop(a.handle))
            .expect("ua");
        assert_eq!(sys.foreign_map_count(f), 2);
        let both = GnttabUnmapGrantRef {
            dev_bus_addr: f.addr(),
            ..uop(b.handle)
        };
        sys.unmap_grant_ref(&mut mem, BACK, &both).expect("ub");
        assert!(!sys.frame_is_mapped(f));
    }
}
