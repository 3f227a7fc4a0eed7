//! The grant-table hub: every domain's v1 table, active entries and maptrack, and the `GNTTABOP_*`s.
//!
//! Behaviour follows Xen 4.17's `xen/common/grant_table.c`; each step names the function it
//! mirrors. Operations never touch hardware: they return what the hypervisor must install or
//! undo ([`Mapping`], [`Unmapping`], [`DestroyedDomain`]) and reach guest memory only through
//! [`GrantMemory`].

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use xen_abi::grant_table::{
    GnttabCacheFlush, GnttabCopy, GnttabCopyPtr, GnttabMapGrantRef, GnttabOp, GnttabStatus,
    GnttabUnmapAndReplace, GnttabUnmapGrantRef, GrantEntryV1, GNTCOPY_DEST_GREF,
    GNTCOPY_SOURCE_GREF, GNTMAP_APPLICATION_MAP, GNTMAP_CONTAINS_PTE, GNTMAP_DEVICE_MAP,
    GNTMAP_HOST_MAP, GNTMAP_READONLY, GNTTAB_CACHE_CLEAN, GNTTAB_CACHE_INVAL,
    GNTTAB_NR_RESERVED_ENTRIES, GTF_PAT, GTF_PCD, GTF_PERMIT_ACCESS, GTF_PWT, GTF_READING,
    GTF_READONLY, GTF_SUB_PAGE, GTF_TYPE_MASK, GTF_WRITING,
};
use xen_abi::{DomId, Errno, Gfn, GrantHandle, GrantRef, Mfn, XenResult, PAGE_SIZE};

use crate::mem::{header_word, split_header_word, GrantMemory};

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
/// Retries of the shared-entry `cmpxchg` before giving up (`_set_status_v1`: `retries++ == 4`).
pub const CMPXCHG_RETRIES: u32 = 5;

/// The `GNTMAP_*` bits a maptrack entry keeps (`grant_mapping.flags`: "0-4: GNTMAP_*").
const MAPTRACK_FLAG_MASK: u32 = GNTMAP_DEVICE_MAP
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

/// Pin counts of one active entry (`active_grant_entry.pin`: four 8-bit counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pins {
    /// Writable host-CPU mappings (and in-flight copies writing the frame).
    pub hstw: u8,
    /// Read-only host-CPU mappings (and in-flight copies reading the frame).
    pub hstr: u8,
    /// Writable device mappings.
    pub devw: u8,
    /// Read-only device mappings.
    pub devr: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PinKind {
    Host,
    Device,
}

impl Pins {
    /// Any pin at all.
    pub fn any(&self) -> bool {
        (self.hstw | self.hstr | self.devw | self.devr) != 0
    }
    /// Any writable pin (`GNTPIN_hstw_mask | GNTPIN_devw_mask`).
    pub fn writable(&self) -> bool {
        (self.hstw | self.devw) != 0
    }
    /// `act->pin & 0x80808080`: one more pin could overflow a counter.
    pub fn near_overflow(&self) -> bool {
        ((self.hstw | self.hstr | self.devw | self.devr) & 0x80) != 0
    }
    fn slot(&mut self, kind: PinKind, readonly: bool) -> &mut u8 {
        match (kind, readonly) {
            (PinKind::Host, false) => &mut self.hstw,
            (PinKind::Host, true) => &mut self.hstr,
            (PinKind::Device, false) => &mut self.devw,
            (PinKind::Device, true) => &mut self.devr,
        }
    }
    fn inc(&mut self, kind: PinKind, readonly: bool) {
        let s = self.slot(kind, readonly);
        *s = s.saturating_add(1);
    }
    fn dec(&mut self, kind: PinKind, readonly: bool) {
        let s = self.slot(kind, readonly);
        *s = s.saturating_sub(1);
    }
}

/// The hypervisor's shadow of a pinned entry (`active_grant_entry`). Exists only while pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveEntry {
    /// Pin counts.
    pub pins: Pins,
    /// The domain the pins belong to.
    pub domid: DomId,
    /// The frame pinned.
    pub mfn: Mfn,
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

#[derive(Clone, Debug)]
struct DomainGrants {
    cfg: DomainConfig,
    dying: bool,
    version: u32,
    nr_frames: u32,
    active: BTreeMap<u32, ActiveEntry>,
    maptrack: Vec<Option<MaptrackEntry>>,
    free_handles: Vec<u32>,
    live_handles: usize,
}

impl DomainGrants {
    fn nr_entries(&self) -> u32 {
        self.nr_frames.saturating_mul(GRANT_ENTRIES_PER_FRAME)
    }

    fn maptrack_limit(&self) -> u64 {
        u64::from(self.cfg.max_maptrack_frames) * u64::from(MAPTRACK_PER_FRAME)
    }

    /// Whether `get_maptrack_handle` would succeed.
    fn can_get_handle(&self) -> bool {
        !self.free_handles.is_empty() || (self.maptrack.len() as u64) < self.maptrack_limit()
    }

    /// `get_maptrack_handle`: a free handle, growing the table by one frame when empty.
    fn get_handle(&mut self) -> Option<u32> {
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

    fn put_handle(&mut self, handle: u32) {
        if let Some(slot) = self.maptrack.get_mut(handle as usize) {
            if slot.take().is_some() {
                self.live_handles = self.live_handles.saturating_sub(1);
                self.free_handles.push(handle);
            }
        }
    }
}

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

/// What the hypervisor tears down after a successful unmap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unmapping {
    /// The frame that was mapped.
    pub mfn: Mfn,
    /// The granting domain.
    pub granter: DomId,
    /// Remove the host mapping at `host_addr`.
    pub host_unmapped: bool,
    /// Remove the device mapping.
    pub device_unmapped: bool,
    /// The host address to clear.
    pub host_addr: u64,
    /// `GNTTABOP_unmap_and_replace`: move the PTE at this address into `host_addr` and zap it.
    pub new_addr: Option<u64>,
    /// The mapping was read-only (writable ones mark the frame dirty).
    pub readonly: bool,
    /// The handle is free again (both sides unmapped).
    pub handle_freed: bool,
    /// References dropped on `mfn`.
    pub frame_ref: FrameRef,
    /// The owner is gone and this was the frame's last foreign reference: free it now.
    pub free_frame: Option<Mfn>,
    /// The granter died earlier and its grant table has no pins left: release its table frames.
    pub table_released: Option<DomId>,
}

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

/// A held grant during a copy (`gnttab_copy_buf`).
#[derive(Clone, Copy)]
struct CopyBuf {
    mfn: Mfn,
    grant: Option<(DomId, GrantRef)>,
}

/// Every domain's grant table, keyed by `DomId`, plus foreign-mapping counts of frames.
#[derive(Clone, Debug, Default)]
pub struct GrantSystem {
    domains: BTreeMap<DomId, DomainGrants>,
    frames: BTreeMap<Mfn, FrameInfo>,
}

fn ok_or_general<T>(v: Option<T>) -> Result<T, GnttabStatus> {
    v.ok_or(GnttabStatus::GeneralError)
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
                active: BTreeMap::new(),
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

    fn reap_if_unpinned(&mut self, dom: DomId) -> bool {
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
    fn resolve_any(&self, caller: DomId, dom: DomId) -> Option<DomId> {
        let d = if dom == DomId::SELF { caller } else { dom };
        self.domain_exists(d).then_some(d)
    }

    /// `XSM_TARGET` under the dummy policy: the domain itself or a control domain.
    fn xsm_target(&self, caller: DomId, target: DomId) -> bool {
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
        self.domains.get(&dom)?.active.get(&gref.0).copied()
    }

    /// Every pinned entry of `dom`.
    pub fn active_entries(&self, dom: DomId) -> impl Iterator<Item = (GrantRef, ActiveEntry)> + '_ {
        self.domains
            .get(&dom)
            .into_iter()
            .flat_map(|d| d.active.iter().map(|(r, a)| (GrantRef(*r), *a)))
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

    fn frame_get(&mut self, owner: DomId, mfn: Mfn, n: u32) {
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
    fn frame_put(&mut self, mfn: Mfn, n: u32) -> Option<Mfn> {
        let f = self.frames.get_mut(&mfn)?;
        f.refs = f.refs.saturating_sub(n);
        if f.refs == 0 {
            let orphaned = f.orphaned;
            self.frames.remove(&mfn);
            return orphaned.then_some(mfn);
        }
        None
    }

    // -----------------------------------------------------------------------------------------
    // GTF_reading / GTF_writing
    // -----------------------------------------------------------------------------------------

    /// `_set_status_v1`: check the entry (when not yet pinned) and set `GTF_reading`, plus
    /// `GTF_writing` for a writable pin, with a bounded compare-and-swap loop.
    fn set_status_v1<M: GrantMemory>(
        mem: &mut M,
        rd: DomId,
        gref: GrantRef,
        pinned: bool,
        readonly: bool,
        mapflag: bool,
        ld: DomId,
    ) -> Result<(), GnttabStatus> {
        let mask = if mapflag {
            GTF_TYPE_MASK | GTF_SUB_PAGE
        } else {
            GTF_TYPE_MASK
        };
        let e = ok_or_general(mem.read_entry(rd, gref))?;
        let mut cur = header_word(e.flags, e.domid);
        for _ in 0..CMPXCHG_RETRIES {
            let (flags, domid) = split_header_word(cur);
            if !pinned && ((flags & mask) != GTF_PERMIT_ACCESS || domid != ld) {
                return Err(GnttabStatus::GeneralError);
            }
            let mut new = flags | GTF_READING;
            if !readonly {
                if flags & GTF_READONLY != 0 {
                    return Err(GnttabStatus::GeneralError);
                }
                new |= GTF_WRITING;
            }
            let prev = ok_or_general(mem.cmpxchg_header(rd, gref, cur, header_word(new, domid)))?;
            if prev == cur {
                return Ok(());
            }
            cur = prev;
        }
        // "Shared grant entry is unstable".
        Err(GnttabStatus::GeneralError)
    }

    /// The `unlock_out_clear` tail shared by every release path: drop `GTF_writing` when the
    /// last writable pin went (and this op was writable), `GTF_reading` when the last pin went.
    fn clear_status<M: GrantMemory>(
        mem: &mut M,
        rd: DomId,
        gref: GrantRef,
        pins: Pins,
        readonly: bool,
    ) {
        let mut clear = 0;
        if !readonly && !pins.writable() {
            clear |= GTF_WRITING;
        }
        if !pins.any() {
            clear |= GTF_READING;
        }
        if clear != 0 {
            mem.clear_flags(rd, gref, clear);
        }
    }

    /// Pin `gref` of `rd` for `ld` (the common core of `map_grant_ref` and
    /// `acquire_grant_for_copy`). Returns the frame.
    #[allow(clippy::too_many_arguments)]
    fn pin<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        ld: DomId,
        rd: DomId,
        gref: GrantRef,
        readonly: bool,
        mapflag: bool,
        kinds: &[PinKind],
    ) -> Result<Mfn, GnttabStatus> {
        let rgt = ok_or_general(self.domains.get(&rd))?;
        if gref.0 >= rgt.nr_entries() {
            return Err(GnttabStatus::BadGntref);
        }
        let act = rgt.active.get(&gref.0).copied();
        if let Some(a) = act {
            if a.domid != ld || a.pins.near_overflow() {
                return Err(GnttabStatus::GeneralError);
            }
        }
        let need_status = match act {
            None => true,
            Some(a) => !readonly && !a.pins.writable(),
        };
        if need_status {
            Self::set_status_v1(mem, rd, gref, act.is_some(), readonly, mapflag, ld)?;
        }
        let mut entry = match act {
            Some(a) => a,
            None => {
                // Read the frame after the flags are set, as Xen re-reads `shared_entry_v1().frame`.
                let resolved = mem
                    .read_entry(rd, gref)
                    .ok_or(GnttabStatus::GeneralError)
                    .and_then(|e| mem.resolve_frame(rd, Gfn(u64::from(e.frame))));
                match resolved {
                    Ok(mfn) => ActiveEntry {
                        pins: Pins::default(),
                        domid: ld,
                        mfn,
                    },
                    Err(s) => {
                        Self::clear_status(mem, rd, gref, Pins::default(), readonly);
                        return Err(s);
                    }
                }
            }
        };
        for k in kinds {
            entry.pins.inc(*k, readonly);
        }
        if let Some(rgt) = self.domains.get_mut(&rd) {
            rgt.active.insert(gref.0, entry);
        }
        Ok(entry.mfn)
    }

    /// Undo `pin` (`undo_out` / `release_grant_for_copy`).
    fn unpin<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        rd: DomId,
        gref: GrantRef,
        readonly: bool,
        kinds: &[PinKind],
    ) -> Option<DomId> {
        let rgt = self.domains.get_mut(&rd)?;
        let act = rgt.active.get_mut(&gref.0)?;
        for k in kinds {
            act.pins.dec(*k, readonly);
        }
        let pins = act.pins;
        if !pins.any() {
            rgt.active.remove(&gref.0);
        }
        Self::clear_status(mem, rd, gref, pins, readonly);
        self.reap_if_unpinned(rd).then_some(rd)
    }

    // -----------------------------------------------------------------------------------------
    // GNTTABOP_map_grant_ref
    // -----------------------------------------------------------------------------------------

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
        let mfn = self.pin(mem, caller, rd, op.r#ref, readonly, true, &kinds)?;
        // A writable mapping needs the frame to take a writable type (`get_page_type`).
        if !readonly && !mem.writable_type_ok(mfn) {
            self.unpin(mem, rd, op.r#ref, readonly, &kinds);
            return Err(GnttabStatus::GeneralError);
        }
        let cache_flags = mem
            .read_entry(rd, op.r#ref)
            .map_or(0, |e| e.flags & (GTF_PAT | GTF_PWT | GTF_PCD));
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

    // -----------------------------------------------------------------------------------------
    // GNTTABOP_unmap_grant_ref / GNTTABOP_unmap_and_replace
    // -----------------------------------------------------------------------------------------

    /// `GNTTABOP_unmap_grant_ref` for one op (`unmap_common` + `unmap_common_complete`).
    pub fn unmap_grant_ref<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        op: &GnttabUnmapGrantRef,
    ) -> Result<Unmapping, GnttabStatus> {
        self.unmap_common(mem, caller, op.handle, op.host_addr, op.dev_bus_addr, None)
    }

    /// `GNTTABOP_unmap_and_replace` for one op: as unmap with `dev_bus_addr = 0`, reporting
    /// `new_addr` for the hypervisor's PTE replacement.
    pub fn unmap_and_replace<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        op: &GnttabUnmapAndReplace,
    ) -> Result<Unmapping, GnttabStatus> {
        self.unmap_common(mem, caller, op.handle, op.host_addr, 0, Some(op.new_addr))
    }

    fn unmap_common<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        handle: GrantHandle,
        host_addr: u64,
        dev_bus_addr: u64,
        new_addr: Option<u64>,
    ) -> Result<Unmapping, GnttabStatus> {
        let lgt = self
            .domains
            .get(&caller)
            .ok_or(GnttabStatus::GeneralError)?;
        // `op->handle >= lgt->maptrack_limit` and "Zero flags" are both GNTST_bad_handle.
        let m = lgt
            .maptrack
            .get(handle.0 as usize)
            .copied()
            .flatten()
            .ok_or(GnttabStatus::BadHandle)?;
        let act = self
            .active_entry(m.dom, m.gref)
            .ok_or(GnttabStatus::BadHandle)?;
        if dev_bus_addr != 0 && dev_bus_addr != act.mfn.addr() {
            // "Bus address doesn't match gntref".
            return Err(GnttabStatus::GeneralError);
        }
        let mut done = 0;
        let mut remaining = m.flags;
        if host_addr != 0 && m.flags & GNTMAP_HOST_MAP != 0 {
            // `replace_grant_host_mapping` fails with GNTST_general_error when the PTE does not
            // map the frame; Ferrite compares with the address recorded at map time.
            if host_addr != m.host_addr {
                return Err(GnttabStatus::GeneralError);
            }
            remaining &= !GNTMAP_HOST_MAP;
            done |= GNTMAP_HOST_MAP | (m.flags & GNTMAP_READONLY);
        }
        if dev_bus_addr != 0 && m.flags & GNTMAP_DEVICE_MAP != 0 {
            remaining &= !GNTMAP_DEVICE_MAP;
            done |= GNTMAP_DEVICE_MAP | (m.flags & GNTMAP_READONLY);
        }
        let freed = remaining & (GNTMAP_HOST_MAP | GNTMAP_DEVICE_MAP) == 0;
        if let Some(d) = self.domains.get_mut(&caller) {
            if freed {
                d.put_handle(handle.0);
            } else if let Some(Some(slot)) = d.maptrack.get_mut(handle.0 as usize) {
                slot.flags = remaining;
            }
        }
        let mut u = self.unmap_complete(mem, m, done, new_addr);
        u.handle_freed = freed;
        Ok(u)
    }

    /// `unmap_common_complete`: drop the pins and frame references for the sides in `done`.
    fn unmap_complete<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        m: MaptrackEntry,
        done: u32,
        new_addr: Option<u64>,
    ) -> Unmapping {
        let readonly = done & GNTMAP_READONLY != 0;
        let mut kinds: heapless::Vec<PinKind, 2> = heapless::Vec::new();
        if done & GNTMAP_DEVICE_MAP != 0 {
            let _ = kinds.push(PinKind::Device);
        }
        if done & GNTMAP_HOST_MAP != 0 {
            let _ = kinds.push(PinKind::Host);
        }
        let n = kinds.len() as u32;
        let table_released = if n == 0 {
            None
        } else {
            self.unpin(mem, m.dom, m.gref, readonly, &kinds)
        };
        let free_frame = self.frame_put(m.mfn, n);
        Unmapping {
            mfn: m.mfn,
            granter: m.dom,
            host_unmapped: done & GNTMAP_HOST_MAP != 0,
            device_unmapped: done & GNTMAP_DEVICE_MAP != 0,
            host_addr: m.host_addr,
            new_addr,
            readonly: m.flags & GNTMAP_READONLY != 0,
            handle_freed: true,
            frame_ref: FrameRef {
                mfn: m.mfn,
                delta: -(n as i32),
            },
            free_frame,
            table_released,
        }
    }

    /// A batch of `GNTTABOP_unmap_grant_ref`, each op's status written back.
    pub fn unmap_grant_ref_batch<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        ops: &mut [GnttabUnmapGrantRef],
    ) -> Vec<Result<Unmapping, GnttabStatus>> {
        batch(
            ops,
            |op| self.unmap_grant_ref(mem, caller, op),
            |op, r| op.status = status_code(r),
        )
    }

    /// A batch of `GNTTABOP_unmap_and_replace`, each op's status written back.
    pub fn unmap_and_replace_batch<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        ops: &mut [GnttabUnmapAndReplace],
    ) -> Vec<Result<Unmapping, GnttabStatus>> {
        batch(
            ops,
            |op| self.unmap_and_replace(mem, caller, op),
            |op, r| op.status = status_code(r),
        )
    }

    // -----------------------------------------------------------------------------------------
    // GNTTABOP_copy
    // -----------------------------------------------------------------------------------------

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
        let buf = if is_gref {
            let gref = ptr.gref();
            let mfn = self.pin(mem, caller, dom, gref, readonly, false, &[PinKind::Host])?;
            CopyBuf {
                mfn,
                grant: Some((dom, gref)),
            }
        } else {
            CopyBuf {
                mfn: mem.resolve_frame(dom, ptr.gmfn())?,
                grant: None,
            }
        };
        // The frame stays allocated for the copy even if its owner frees it meanwhile.
        if !mem.hold_frame(dom, buf.mfn) {
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
        // `gnttab_copy_buf`: v1 grants always cover the whole page, so only the page bound applies.
        let page = PAGE_SIZE as u32;
        let len = u32::from(op.len);
        let r =
            if u32::from(op.source.offset) + len > page || u32::from(op.dest.offset) + len > page {
                Err(GnttabStatus::BadCopyArg)
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

    // -----------------------------------------------------------------------------------------
    // Table management
    // -----------------------------------------------------------------------------------------

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

    /// `GNTTABOP_cache_flush` (`cache_flush`) as on x86: argument checks, then the frame must be
    /// the caller's or mapped by it through a grant. `GNTTAB_CACHE_INVAL` alone is
    /// `EOPNOTSUPP` (x86's `invalidate_dcache_va_range`); a clean is a no-op that succeeds.
    pub fn cache_flush<M: GrantMemory>(
        &self,
        mem: &M,
        caller: DomId,
        op: &GnttabCacheFlush,
    ) -> XenResult<()> {
        let page = PAGE_SIZE as u32;
        let (off, len) = (u32::from(op.offset), u32::from(op.length));
        if off >= page
            || len > page
            || off + len > page
            || op.op & !(GNTTAB_CACHE_INVAL | GNTTAB_CACHE_CLEAN) != 0
        {
            return Err(Errno::EINVAL);
        }
        if len == 0 || op.op == 0 {
            return Ok(());
        }
        let mfn = Mfn::containing(op.dev_bus_addr());
        let owner = mem.owner_of(mfn).ok_or(Errno::EINVAL)?;
        let Some(ogt) = self.domains.get(&owner) else {
            return Err(Errno::EPERM);
        };
        if owner != caller
            && !ogt
                .active
                .values()
                .any(|a| a.domid == caller && a.mfn == mfn)
        {
            // `grant_map_exists` scanned the whole table: ERR_PTR(-EINVAL).
            return Err(Errno::EINVAL);
        }
        if op.op == GNTTAB_CACHE_INVAL {
            return Err(Errno::EOPNOTSUPP);
        }
        Ok(())
    }
}

/// `do_grant_table_op`'s checks on `count` before dispatch: `EINVAL` if it is negative as an
/// `int`, and for the sub-ops that take exactly one argument (`setup_table`, `query_size`,
/// `get_status_frames`) when it is not 1.
pub fn check_count(op: GnttabOp, count: u32) -> XenResult<()> {
    if (count as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    match op {
        GnttabOp::SetupTable | GnttabOp::QuerySize | GnttabOp::GetStatusFrames if count != 1 => {
            Err(Errno::EINVAL)
        }
        _ => Ok(()),
    }
}

/// The sub-ops Ferrite answers with `ENOSYS`: `dump_table` (Xen 4.17 has no handler either) and
/// `transfer` (page flipping; no current frontend needs it).
pub fn is_unimplemented(op: GnttabOp) -> bool {
    matches!(op, GnttabOp::DumpTable | GnttabOp::Transfer)
}

/// The first grant reference a guest may use freely (`GNTTAB_NR_RESERVED_ENTRIES`).
pub const FIRST_FREE_GREF: GrantRef = GrantRef(GNTTAB_NR_RESERVED_ENTRIES);

/// Runs every op of a batch in turn, writing each one's outcome back into it (`write`), as Xen
/// does for the batched grant-table sub-ops: a failure does not stop the batch.
fn batch<Op, T>(
    ops: &mut [Op],
    mut run: impl FnMut(&mut Op) -> Result<T, GnttabStatus>,
    mut write: impl FnMut(&mut Op, &Result<T, GnttabStatus>),
) -> Vec<Result<T, GnttabStatus>> {
    ops.iter_mut()
        .map(|op| {
            let r = run(op);
            write(op, &r);
            r
        })
        .collect()
}

/// The `GNTST_*` code of an outcome.
fn status_code<T>(r: &Result<T, GnttabStatus>) -> i16 {
    r.as_ref()
        .map_or_else(|s| s.code(), |_| GnttabStatus::Okay.code())
}

#[cfg(test)]
mod tests {
    //! Every sub-op and every error path, each citing the Xen 4.17 behaviour it checks
    //! (`xen/common/grant_table.c` unless stated).
    use super::*;
    use crate::fuzzing::SimMemory;
    use crate::mem::GrantEntries;
    use alloc::vec;
    use xen_abi::grant_table::{GNTTAB_CACHE_SOURCE_GREF, GTF_ACCEPT_TRANSFER};

    const BACK: DomId = DomId(0); // privileged backend (dom0)
    const FRONT: DomId = DomId(1); // granting frontend
    const OTHER: DomId = DomId(2); // an unprivileged third domain
    const R: GrantRef = GrantRef(8);
    const VA: u64 = 0x7000_0000;

    fn frame(d: DomId, i: u64) -> Mfn {
        Mfn(0x100 * (u64::from(d.0) + 1) + i)
    }
    /// Frame 7 of every domain is a page table (no writable type).
    fn pt(d: DomId) -> Mfn {
        frame(d, 7)
    }

    fn world() -> (GrantSystem, SimMemory) {
        let mut sys = GrantSystem::new();
        let mut mem = SimMemory::new();
        for d in [BACK, FRONT, OTHER] {
            let cfg = DomainConfig {
                privileged: d == BACK,
                ..DomainConfig::default()
            };
            sys.create_domain(d, cfg).expect("fresh ids");
            mem.add_domain(d, (0..8).map(|i| frame(d, i)));
            mem.page_tables.insert(pt(d));
        }
        (sys, mem)
    }

    fn granted(ro: bool) -> (GrantSystem, SimMemory) {
        let (sys, mut mem) = world();
        mem.grant(FRONT, R, BACK, frame(FRONT, 1), ro);
        (sys, mem)
    }

    fn mop(dom: DomId, gref: GrantRef, flags: u32) -> GnttabMapGrantRef {
        GnttabMapGrantRef {
            host_addr: VA,
            flags,
            r#ref: gref,
            dom,
            ..Default::default()
        }
    }

    fn uop(h: GrantHandle) -> GnttabUnmapGrantRef {
        GnttabUnmapGrantRef {
            host_addr: VA,
            dev_bus_addr: 0,
            handle: h,
            ..Default::default()
        }
    }

    fn flags(mem: &SimMemory, d: DomId, r: GrantRef) -> u16 {
        mem.entry(d, r).flags
    }

    fn gref_ptr(d: DomId, r: GrantRef, off: u16) -> GnttabCopyPtr {
        let mut p = GnttabCopyPtr {
            domid: d,
            offset: off,
            ..Default::default()
        };
        p.set_gref(r);
        p
    }

    fn frame_ptr(m: Mfn, off: u16) -> GnttabCopyPtr {
        GnttabCopyPtr {
            u: m.0,
            domid: DomId::SELF,
            offset: off,
            ..Default::default()
        }
    }

    const RW: u32 = GNTMAP_HOST_MAP;
    const RO: u32 = GNTMAP_HOST_MAP | GNTMAP_READONLY;

    // ----- map_grant_ref --------------------------------------------------------------------

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

    // ----- unmap_grant_ref / unmap_and_replace ---------------------------------------------

    #[test]
    fn unmap_grant_ref_never_allocated_handle_is_bad_handle() {
        // unmap_common: op->handle >= lgt->maptrack_limit -> GNTST_bad_handle.
        let (mut sys, mut mem) = granted(false);
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, BACK, &uop(GrantHandle(0))),
            Err(GnttabStatus::BadHandle)
        );
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, BACK, &uop(GrantHandle(u32::MAX))),
            Err(GnttabStatus::BadHandle)
        );
    }

    #[test]
    fn unmap_grant_ref_free_handle_is_bad_handle() {
        // unmap_common: "Zero flags for handle" -> GNTST_bad_handle (also a second unmap).
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        assert!(sys.unmap_grant_ref(&mut mem, BACK, &uop(m.handle)).is_ok());
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, BACK, &uop(m.handle)),
            Err(GnttabStatus::BadHandle)
        );
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, BACK, &uop(GrantHandle(m.handle.0 + 1))),
            Err(GnttabStatus::BadHandle)
        );
    }

    #[test]
    fn unmap_grant_ref_other_domains_handle_is_bad_handle() {
        // Handles index the caller's own maptrack table.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, OTHER, &uop(m.handle)),
            Err(GnttabStatus::BadHandle)
        );
    }

    #[test]
    fn unmap_grant_ref_wrong_host_addr_is_general_error() {
        // unmap_common: replace_grant_host_mapping fails -> GNTST_general_error; the mapping stays.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        let op = GnttabUnmapGrantRef {
            host_addr: VA + 0x1000,
            ..uop(m.handle)
        };
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, BACK, &op),
            Err(GnttabStatus::GeneralError)
        );
        assert!(sys.maptrack_entry(BACK, m.handle).is_some());
        assert_ne!(flags(&mem, FRONT, R) & GTF_WRITING, 0);
    }

    #[test]
    fn unmap_grant_ref_wrong_dev_bus_addr_is_general_error() {
        // unmap_common: "Bus address doesn't match gntref" -> GNTST_general_error.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW | GNTMAP_DEVICE_MAP))
            .expect("map");
        let op = GnttabUnmapGrantRef {
            dev_bus_addr: m.dev_bus_addr + 0x1000,
            ..uop(m.handle)
        };
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, BACK, &op),
            Err(GnttabStatus::GeneralError)
        );
    }

    #[test]
    fn unmap_grant_ref_last_mapping_clears_reading_and_writing() {
        // unmap_common_complete: no writable pins -> clear GTF_writing; pin == 0 -> GTF_reading.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        let u = sys
            .unmap_grant_ref(&mut mem, BACK, &uop(m.handle))
            .expect("unmap");
        assert!(u.host_unmapped && u.handle_freed && !u.readonly);
        assert_eq!(
            u.frame_ref,
            FrameRef {
                mfn: m.mfn,
                delta: -1
            }
        );
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
        assert_eq!(sys.active_entry(FRONT, R), None);
        assert!(!sys.frame_is_mapped(m.mfn));
    }

    #[test]
    fn unmap_grant_ref_rw_with_ro_remaining_clears_only_writing() {
        // unmap_common_complete: GTF_writing goes with the last writable pin, GTF_reading stays.
        let (mut sys, mut mem) = granted(false);
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("ro");
        let w = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("rw");
        sys.unmap_grant_ref(&mut mem, BACK, &uop(w.handle))
            .expect("unmap rw");
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS | GTF_READING);
    }

    #[test]
    fn unmap_grant_ref_host_side_of_host_and_device_map_keeps_handle() {
        // unmap_common: only the sides named are unmapped; the handle is freed when no
        // GNTMAP_host_map/device_map remains.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW | GNTMAP_DEVICE_MAP))
            .expect("map");
        let u = sys
            .unmap_grant_ref(&mut mem, BACK, &uop(m.handle))
            .expect("host side");
        assert!(u.host_unmapped && !u.device_unmapped && !u.handle_freed);
        assert_eq!(sys.foreign_map_count(m.mfn), 1);
        assert_ne!(
            flags(&mem, FRONT, R) & GTF_WRITING,
            0,
            "device pin still writable"
        );
        let dev = GnttabUnmapGrantRef {
            host_addr: 0,
            dev_bus_addr: m.dev_bus_addr,
            handle: m.handle,
            ..Default::default()
        };
        let u = sys
            .unmap_grant_ref(&mut mem, BACK, &dev)
            .expect("device side");
        assert!(u.device_unmapped && u.handle_freed);
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
    }

    #[test]
    fn unmap_grant_ref_zero_addresses_is_okay_and_keeps_mapping() {
        // unmap_common: host_addr == 0 and dev_bus_addr == 0 unmap nothing, status okay.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        let op = GnttabUnmapGrantRef {
            host_addr: 0,
            ..uop(m.handle)
        };
        let u = sys.unmap_grant_ref(&mut mem, BACK, &op).expect("no-op");
        assert!(!u.host_unmapped && !u.handle_freed);
        assert!(sys.maptrack_entry(BACK, m.handle).is_some());
    }

    #[test]
    fn unmap_and_replace_reports_new_addr_and_frees_handle() {
        // unmap_and_replace: unmap_common with new_addr and dev_bus_addr = 0.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        let op = GnttabUnmapAndReplace {
            host_addr: VA,
            new_addr: 0x5000,
            handle: m.handle,
            ..Default::default()
        };
        let u = sys.unmap_and_replace(&mut mem, BACK, &op).expect("replace");
        assert_eq!(u.new_addr, Some(0x5000));
        assert!(u.handle_freed);
        let mut ops = [op];
        sys.unmap_and_replace_batch(&mut mem, BACK, &mut ops);
        assert_eq!(ops[0].status, GnttabStatus::BadHandle.code());
    }

    #[test]
    fn unmap_grant_ref_batch_reports_each_status() {
        // gnttab_unmap_grant_ref: each op's status is copied back individually.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        let mut ops = [uop(GrantHandle(77)), uop(m.handle), uop(m.handle)];
        sys.unmap_grant_ref_batch(&mut mem, BACK, &mut ops);
        assert_eq!(ops.map(|o| o.status), [-4, 0, -4]);
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

    // ----- copy -----------------------------------------------------------------------------

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

    // ----- cache_flush ------------------------------------------------------------------------

    fn flush(mfn: Mfn, offset: u16, length: u16, op: u32) -> GnttabCacheFlush {
        GnttabCacheFlush {
            a: mfn.addr(),
            offset,
            length,
            op,
        }
    }

    #[test]
    fn cache_flush_bad_range_or_op_is_einval() {
        // cache_flush: offset >= PAGE_SIZE, offset + length > PAGE_SIZE, or unknown op bits
        // (GNTTAB_CACHE_SOURCE_GREF included, so it never reaches the -EOPNOTSUPP branch).
        let (sys, mem) = world();
        let f = frame(FRONT, 1);
        assert_eq!(
            sys.cache_flush(&mem, FRONT, &flush(f, 4096, 0, GNTTAB_CACHE_CLEAN)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            sys.cache_flush(&mem, FRONT, &flush(f, 4000, 100, GNTTAB_CACHE_CLEAN)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            sys.cache_flush(&mem, FRONT, &flush(f, 0, 8, GNTTAB_CACHE_SOURCE_GREF)),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn cache_flush_zero_length_or_op_is_okay() {
        // cache_flush: length == 0 or op == 0 -> 0 with nothing done.
        let (sys, mem) = world();
        assert_eq!(
            sys.cache_flush(&mem, FRONT, &flush(Mfn(0xdead), 0, 0, GNTTAB_CACHE_CLEAN)),
            Ok(())
        );
        assert_eq!(
            sys.cache_flush(&mem, FRONT, &flush(Mfn(0xdead), 0, 8, 0)),
            Ok(())
        );
    }

    #[test]
    fn cache_flush_invalid_frame_is_einval() {
        // cache_flush: !mfn_valid(mfn) -> -EINVAL.
        let (sys, mem) = world();
        assert_eq!(
            sys.cache_flush(&mem, FRONT, &flush(Mfn(0xdead), 0, 8, GNTTAB_CACHE_CLEAN)),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn cache_flush_foreign_unmapped_frame_is_einval() {
        // cache_flush: grant_map_exists finds no pin of the caller on the frame -> -EINVAL.
        let (sys, mem) = world();
        assert_eq!(
            sys.cache_flush(
                &mem,
                BACK,
                &flush(frame(FRONT, 1), 0, 8, GNTTAB_CACHE_CLEAN)
            ),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn cache_flush_own_or_mapped_frame_clean_is_okay() {
        // cache_flush: d == owner, or an active grant of the owner pinned by the caller.
        let (mut sys, mut mem) = granted(false);
        assert_eq!(
            sys.cache_flush(
                &mem,
                FRONT,
                &flush(frame(FRONT, 1), 0, 8, GNTTAB_CACHE_CLEAN)
            ),
            Ok(())
        );
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("map");
        let both = GNTTAB_CACHE_CLEAN | GNTTAB_CACHE_INVAL;
        assert_eq!(
            sys.cache_flush(&mem, BACK, &flush(frame(FRONT, 1), 0, 8, both)),
            Ok(())
        );
    }

    #[test]
    fn cache_flush_inval_only_is_eopnotsupp() {
        // x86 invalidate_dcache_va_range() returns -EOPNOTSUPP.
        let (sys, mem) = world();
        assert_eq!(
            sys.cache_flush(
                &mem,
                FRONT,
                &flush(frame(FRONT, 1), 0, 8, GNTTAB_CACHE_INVAL)
            ),
            Err(Errno::EOPNOTSUPP)
        );
    }

    // ----- lifetime -----------------------------------------------------------------------------

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

    // ----- dispatch helpers -----------------------------------------------------------------

    #[test]
    fn check_count_single_arg_ops_other_than_one_is_einval() {
        // gnttab_setup_table / gnttab_query_size / gnttab_get_status_frames: count != 1 -> -EINVAL.
        assert_eq!(check_count(GnttabOp::SetupTable, 2), Err(Errno::EINVAL));
        assert_eq!(check_count(GnttabOp::QuerySize, 0), Err(Errno::EINVAL));
        assert_eq!(check_count(GnttabOp::GetStatusFrames, 1), Ok(()));
        assert_eq!(check_count(GnttabOp::MapGrantRef, 0), Ok(()));
    }

    #[test]
    fn check_count_negative_is_einval() {
        // do_grant_table_op: (int)count < 0 -> -EINVAL.
        assert_eq!(check_count(GnttabOp::Copy, 0x8000_0000), Err(Errno::EINVAL));
    }

    #[test]
    fn transfer_and_dump_table_are_enosys() {
        // do_grant_table_op has no GNTTABOP_dump_table case (ENOSYS); Ferrite also leaves
        // GNTTABOP_transfer unimplemented (docs/abi/grant_table.md).
        assert!(is_unimplemented(GnttabOp::DumpTable));
        assert!(is_unimplemented(GnttabOp::Transfer));
        assert!(!is_unimplemented(GnttabOp::Copy));
        assert_eq!(FIRST_FREE_GREF, GrantRef(8));
    }

    #[test]
    fn grant_entries_cmpxchg_header_word_layout_is_flags_then_domid() {
        // union grant_combo: flags in the low 16 bits, domid in the high 16 bits.
        let (_, mut mem) = granted(false);
        let word = header_word(GTF_PERMIT_ACCESS, BACK);
        assert_eq!(
            mem.cmpxchg_header(FRONT, R, word, word | u32::from(GTF_READING)),
            Some(word)
        );
        assert_eq!(
            split_header_word(word | 8),
            (GTF_PERMIT_ACCESS | GTF_READING, BACK)
        );
    }
}
