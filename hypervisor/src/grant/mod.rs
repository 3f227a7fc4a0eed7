//! Grant tables wired to real guest memory: the `grant-tables` state machine with each domain's
//! entries (v1, or v2 with its status frames) in frames the domain owns and maps itself, the
//! `grant_table_op` hypercall, and
//! the effects it returns acted on — a host mapping is a PTE in the mapping vCPU's page tables
//! (Xen's `create_grant_pv_mapping` / `replace_grant_pv_mapping`), holding the references
//! `map_grant_ref` takes on the granted frame (a general reference, plus a writable type
//! reference for a writable mapping), so the granter can neither turn the frame into a page
//! table nor free it while it is mapped.
//!
//! Who drops those references: an explicit unmap (here); or, as in Xen for PV, the de-validation
//! of the L1 holding the PTE (`put_page_from_l1e`) — when the mapper dies its released mappings
//! are *not* dropped again here (`docs/abi/grant_table.md`). A frame whose owner died while it
//! was mapped elsewhere goes back to the allocator at its last put (the frame table does that);
//! such frames are remembered only to log when they go ([`reap_orphans`]).

use crate::domain::{Domain, Vcpu};
use crate::hypercall::{Outcome, Preempt};
use crate::mm::guest::{frame_cmpxchg_u64, frame_fetch_and_u64, frame_read_u64, frame_write_u64};
use crate::mm::typing::{
    l1_table_offset, pte_mfn, PageType, PTE_A, PTE_D, PTE_P, PTE_PCD, PTE_PSE, PTE_PWT, PTE_RW,
    PTE_US,
};
use crate::pv::{read_guest_struct, write_guest};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use grant_tables::{
    check_count, is_unimplemented, DomainConfig, GrantEntries, GrantSystem, GuestFrames, Mapping,
    Unmapping,
};
use spin::Mutex;
use xen_abi::grant_table::{
    GnttabCacheFlush, GnttabCopy, GnttabGetStatusFrames, GnttabGetVersion, GnttabMapGrantRef,
    GnttabOp, GnttabQuerySize, GnttabSetVersion, GnttabSetupTable, GnttabStatus,
    GnttabSwapGrantRef, GnttabUnmapAndReplace, GnttabUnmapGrantRef, GrantEntryV1, GrantEntryV2,
    GNTMAP_CONTAINS_PTE, GNTMAP_READONLY, GTF_PAT, GTF_PCD, GTF_PWT,
};
use xen_abi::{DomId, Errno, Gfn, GrantRef, Maddr, Mfn, XenResult};
use zerocopy::IntoBytes;

/// v1 entries per frame.
const ENTRIES_PER_FRAME: u32 = grant_tables::GRANT_ENTRIES_PER_FRAME;
/// v2 entries per frame.
const ENTRIES_PER_FRAME_V2: u32 = grant_tables::GRANT_ENTRIES_PER_FRAME_V2;
/// v2 status words per status frame.
const STATUS_PER_FRAME: u32 = grant_tables::STATUS_PER_FRAME;

/// Every domain's grant-table frames, and the guest-memory side of the state machine.
#[derive(Debug, Default)]
struct Frames {
    /// Each domain's table frames, in order (frame `i` holds v1 entries `512 i ..`, or v2
    /// entries `256 i ..`).
    tables: BTreeMap<DomId, Vec<Mfn>>,
    /// Each v2 domain's status frames (frame `i` holds the status words of `2048 i ..`).
    status: BTreeMap<DomId, Vec<Mfn>>,
}

/// Frame `index / per_frame` of `frames` and the byte offset of item `index` of `size` bytes.
fn slot_in(frames: &[Mfn], index: u32, per_frame: u32, size: usize) -> Option<(Mfn, usize)> {
    let f = *frames.get((index / per_frame) as usize)?;
    Some((f, (index % per_frame) as usize * size))
}

impl Frames {
    fn entry_at(&self, dom: DomId, gref: GrantRef) -> Option<(Mfn, usize)> {
        slot_in(self.tables.get(&dom)?, gref.0, ENTRIES_PER_FRAME, 8)
    }

    fn entry_v2_at(&self, dom: DomId, gref: GrantRef) -> Option<(Mfn, usize)> {
        slot_in(self.tables.get(&dom)?, gref.0, ENTRIES_PER_FRAME_V2, 16)
    }

    /// Runs `f` on the status word of `gref` as the aligned u32 holding it, with the word's
    /// shift in it.
    fn status_op<R>(
        &self,
        dom: DomId,
        gref: GrantRef,
        f: impl FnOnce(&core::sync::atomic::AtomicU32, u32) -> R,
    ) -> Option<R> {
        let (frame, off) = slot_in(self.status.get(&dom)?, gref.0, STATUS_PER_FRAME, 2)?;
        let shift = (off as u32 & 2) * 8;
        crate::mm::guest::frame_u32_op(frame, off & !3, |w| f(w, shift))
    }
}

fn entry_from_word(w: u64) -> GrantEntryV1 {
    GrantEntryV1 {
        flags: w as u16,
        domid: DomId((w >> 16) as u16),
        frame: (w >> 32) as u32,
    }
}

impl GrantEntries for Frames {
    fn read_entry(&self, dom: DomId, gref: GrantRef) -> Option<GrantEntryV1> {
        let (f, off) = self.entry_at(dom, gref)?;
        frame_read_u64(f, off).ok().map(entry_from_word)
    }

    fn write_entry(&mut self, dom: DomId, gref: GrantRef, e: GrantEntryV1) -> Option<()> {
        let (f, off) = self.entry_at(dom, gref)?;
        let w = u64::from(e.flags) | u64::from(e.domid.0) << 16 | u64::from(e.frame) << 32;
        frame_write_u64(f, off, w).ok()
    }

    fn cmpxchg_header(&mut self, dom: DomId, gref: GrantRef, old: u32, new: u32) -> Option<u32> {
        let (f, off) = self.entry_at(dom, gref)?;
        // A 32-bit compare-and-swap of the header, built from 64-bit ones: retry only when the
        // guest changed the `frame` half meanwhile.
        let mut w = frame_read_u64(f, off).ok()?;
        loop {
            if w as u32 != old {
                return Some(w as u32);
            }
            let next = (w & !0xffff_ffff) | u64::from(new);
            match frame_cmpxchg_u64(f, off, w, next)? {
                Ok(_) => return Some(old),
                Err(now) => w = now,
            }
        }
    }

    fn clear_flags(&mut self, dom: DomId, gref: GrantRef, mask: u16) {
        if let Some((f, off)) = self.entry_at(dom, gref) {
            let _ = frame_fetch_and_u64(f, off, !u64::from(mask));
        }
    }

    fn grow_table(&mut self, dom: DomId, nr_frames: u32) -> XenResult<()> {
        grow_shared(&mut self.tables, dom, nr_frames)
    }

    fn read_entry_v2(&self, dom: DomId, gref: GrantRef) -> Option<GrantEntryV2> {
        let (f, off) = self.entry_v2_at(dom, gref)?;
        let mut e = GrantEntryV2::default();
        let lo = frame_read_u64(f, off).ok()?;
        let hi = frame_read_u64(f, off + 8).ok()?;
        e.bytes[..8].copy_from_slice(&lo.to_le_bytes());
        e.bytes[8..].copy_from_slice(&hi.to_le_bytes());
        Some(e)
    }

    fn write_entry_v2(&mut self, dom: DomId, gref: GrantRef, e: GrantEntryV2) -> Option<()> {
        let (f, off) = self.entry_v2_at(dom, gref)?;
        let word = |i: usize| {
            let mut b = [0; 8];
            b.copy_from_slice(&e.bytes[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        frame_write_u64(f, off, word(0)).ok()?;
        frame_write_u64(f, off + 8, word(1)).ok()
    }

    fn read_status(&self, dom: DomId, gref: GrantRef) -> Option<u16> {
        self.status_op(dom, gref, |w, shift| {
            (w.load(core::sync::atomic::Ordering::SeqCst) >> shift) as u16
        })
    }

    fn write_status(&mut self, dom: DomId, gref: GrantRef, status: u16) -> Option<()> {
        self.status_op(dom, gref, |w, shift| {
            let mask = 0xffff_u32 << shift;
            let _ = w.fetch_update(
                core::sync::atomic::Ordering::SeqCst,
                core::sync::atomic::Ordering::SeqCst,
                |old| Some((old & !mask) | (u32::from(status) << shift)),
            );
        })
    }

    fn set_status_bits(&mut self, dom: DomId, gref: GrantRef, mask: u16) -> Option<()> {
        self.status_op(dom, gref, |w, shift| {
            w.fetch_or(
                u32::from(mask) << shift,
                core::sync::atomic::Ordering::SeqCst,
            );
        })
    }

    fn clear_status_bits(&mut self, dom: DomId, gref: GrantRef, mask: u16) {
        let _ = self.status_op(dom, gref, |w, shift| {
            w.fetch_and(
                !(u32::from(mask) << shift),
                core::sync::atomic::Ordering::SeqCst,
            );
        });
    }

    fn grow_status(&mut self, dom: DomId, nr_frames: u32) -> XenResult<()> {
        grow_shared(&mut self.status, dom, nr_frames)
    }

    fn release_status(&mut self, dom: DomId) -> XenResult<()> {
        let ft = crate::mm::frame_table();
        let frames = self.status.get(&dom).cloned().unwrap_or_default();
        // Only the allocation and the permanent writable type reference may remain: a frame
        // the guest still maps is busy (`gnttab_unpopulate_status_frames`).
        if frames
            .iter()
            .any(|&f| ft.count(f) > 1 || ft.type_state(f).count > 1)
        {
            return Err(Errno::EBUSY);
        }
        self.status.remove(&dom);
        frames.into_iter().for_each(release_table_frame);
        Ok(())
    }

    fn clear_shared(&mut self, dom: DomId) {
        for &f in self.tables.get(&dom).into_iter().flatten() {
            let _ = crate::mm::guest::frame_zero(f);
        }
    }
}

/// Grows `dom`'s list in `lists` to `nr_frames` new shared frames (all or none).
fn grow_shared(lists: &mut BTreeMap<DomId, Vec<Mfn>>, dom: DomId, nr_frames: u32) -> XenResult<()> {
    let have = lists.get(&dom).map_or(0, Vec::len);
    let mut new = Vec::new();
    for _ in have..nr_frames as usize {
        match share_new_frame(dom) {
            Some(f) => new.push(f),
            None => {
                for f in new {
                    release_table_frame(f);
                }
                return Err(Errno::ENOMEM);
            }
        }
    }
    lists.entry(dom).or_default().extend(new);
    Ok(())
}

impl GuestFrames for Frames {
    fn resolve_frame(&self, owner: DomId, gfn: Gfn) -> Result<Mfn, GnttabStatus> {
        // A PV domain names its frames by machine frame number.
        let mfn = Mfn(gfn.0);
        let ft = crate::mm::frame_table();
        if ft.owner(mfn) != Some(owner) || ft.count(mfn) == 0 {
            return Err(GnttabStatus::BadPage);
        }
        Ok(mfn)
    }

    fn writable_type_ok(&self, mfn: Mfn) -> bool {
        let ts = crate::mm::frame_table().type_state(mfn);
        ts.count == 0 || ts.ty == PageType::Writable
    }

    fn owner_of(&self, mfn: Mfn) -> Option<DomId> {
        crate::mm::frame_table()
            .owner(mfn)
            .filter(|&o| o != DomId::IO)
    }

    fn hold_frame(&mut self, owner: DomId, mfn: Mfn) -> bool {
        // Checks the owner and takes the reference in one step: a frame freed and given to
        // another domain since the lookup is refused.
        crate::mm::frame_table().get_page(mfn, owner).is_ok()
    }

    fn release_frame(&mut self, mfn: Mfn) {
        // The last put frees a frame its owner let go during the copy.
        crate::mm::frame_table().put_page(mfn);
    }

    fn copy_bytes(&mut self, src: Mfn, src_off: u16, dst: Mfn, dst_off: u16, len: u16) {
        let _ = crate::mm::guest::frame_copy(
            src,
            src_off as usize,
            dst,
            dst_off as usize,
            len as usize,
        );
    }
}

/// A zeroed frame owned by `dom` with a permanent writable type reference: the guest may map
/// it writable, never as a page table (Xen's `share_xen_page_with_guest(.., SHARE_rw)`).
fn share_new_frame(dom: DomId) -> Option<Mfn> {
    let f = crate::mm::guest::alloc_zeroed()?;
    let ft = crate::mm::frame_table();
    ft.assign(f, dom);
    let asker = crate::mm::typing::Asker {
        id: dom,
        io: false,
        iomem: false,
    };
    if ft.get_page_type(f, PageType::Writable, asker).is_err() {
        // The allocation reference is the only one: the frame table frees it.
        ft.release(f);
        return None;
    }
    Some(f)
}

/// Drops a table frame's permanent type reference and its allocation reference: it is freed
/// now, or at its last put if something else still holds it.
fn release_table_frame(f: Mfn) {
    let ft = crate::mm::frame_table();
    let owner = ft.owner(f);
    ft.put_page_type(f);
    if !ft.release(f) {
        add_orphan(f, owner);
    }
}

struct Hub {
    sys: GrantSystem,
    mem: Frames,
}

static GNTTAB: Mutex<Option<Hub>> = Mutex::new(None);

/// Frames whose owner died while others still referenced them, with that owner: the frame
/// table frees each at its last put; they are kept here to account for them.
static ORPHANS: Mutex<Vec<(Mfn, Option<DomId>)>> = Mutex::new(Vec::new());

fn with_hub<R>(f: impl FnOnce(&mut Hub) -> R) -> R {
    let mut g = GNTTAB.lock();
    let hub = g.get_or_insert_with(|| Hub {
        sys: GrantSystem::new(),
        mem: Frames::default(),
    });
    f(hub)
}

/// Remembers a frame a dying domain (`owner`) leaves behind, still referenced by others.
pub fn add_orphan(f: Mfn, owner: Option<DomId>) {
    ORPHANS.lock().push((f, owner));
}

/// Forgets (and logs) the orphans whose last reference went since the last call — by an
/// unmap, or by the de-validation of another domain's page table; returns how many.
pub fn reap_orphans() -> usize {
    let ft = crate::mm::frame_table();
    let mut orphans = ORPHANS.lock();
    let before = orphans.len();
    orphans.retain(|&(f, owner)| ft.count(f) != 0 && ft.owner(f) == owner);
    let n = before - orphans.len();
    drop(orphans);
    if n > 0 {
        log::info!(
            "gnttab: {n} frame(s) of dead domains freed after their last mapping; free frames {}",
            crate::mm::free_frames()
        );
    }
    n
}

/// Number of frames of dead domains still referenced by others.
pub fn orphan_count() -> usize {
    ORPHANS.lock().len()
}

/// Creates `id`'s grant table (`grant_table_init`) with its first frame.
pub fn domain_create(id: DomId, privileged: bool) -> XenResult<()> {
    domain_create_with(
        id,
        DomainConfig {
            privileged,
            ..DomainConfig::default()
        },
    )
}

/// [`domain_create`] with the toolstack's limits (`grant_table_init`).
pub fn domain_create_with(id: DomId, cfg: DomainConfig) -> XenResult<()> {
    with_hub(|h| {
        h.mem
            .grow_table(id, grant_tables::INITIAL_NR_GRANT_FRAMES)?;
        if let Err(e) = h.sys.create_domain(id, cfg) {
            h.mem.take_frames(id).for_each(release_table_frame);
            return Err(e);
        }
        Ok(())
    })
}

/// True while `id` has a grant table (live, or dead but kept for others' pins): the id is
/// not free for a new domain.
/// True if `mfn` is one of `dom`'s grant-table or status frames (Xen's shared xenheap
/// pages: the domain maps them, but they are not its memory).
pub fn is_table_frame(dom: DomId, mfn: Mfn) -> bool {
    with_hub(|h| {
        h.mem.tables.get(&dom).is_some_and(|f| f.contains(&mfn))
            || h.mem.status.get(&dom).is_some_and(|f| f.contains(&mfn))
    })
}

pub fn id_in_use(id: DomId) -> bool {
    with_hub(|h| h.sys.domains().any(|d| d == id) || h.mem.tables.contains_key(&id))
}

/// Tears down a dying domain's grant state (`gnttab_release_mappings` + `grant_table_destroy`):
/// its mappings of others' grants are released (the PTEs' references go with its page tables;
/// device mappings' references are dropped here), and its table frames are released now, or
/// kept until the last foreign pin on its entries goes. Returns the table frames, which the
/// caller must not release itself.
pub fn domain_destroy(id: DomId) -> Vec<Mfn> {
    let r = with_hub(|h| {
        let frames = h.mem.tables.get(&id).cloned().unwrap_or_default();
        let r = h.sys.destroy_domain(&mut h.mem, id);
        (frames, r)
    });
    let (frames, r) = r;
    let Ok(r) = r else {
        // No grant table (a build that failed early): release what was allocated.
        release_table(id);
        return frames;
    };
    for u in &r.released {
        // Host mappings: the references live in the dying domain's PTEs (dropped when its
        // page tables are de-validated). Device mappings hold theirs here.
        if u.device_unmapped {
            put_ref(u.mfn, u.readonly);
        }
        if let Some(g) = u.table_released {
            release_table(g);
        }
    }
    if r.table_released {
        release_table(id);
    } else {
        log::info!(
            "d{}: grant table kept for {} frame(s) still mapped by other domains",
            id.0,
            r.retained_frames.len()
        );
    }
    frames
}

/// Frees a dead domain's table and status frames (its table has no pins left).
fn release_table(id: DomId) {
    let frames: Vec<Mfn> = with_hub(|h| h.mem.take_frames(id).collect());
    frames.into_iter().for_each(release_table_frame);
}

impl Frames {
    /// Forgets `id`'s table and status frames, yielding them.
    fn take_frames(&mut self, id: DomId) -> impl Iterator<Item = Mfn> {
        let t = self.tables.remove(&id).unwrap_or_default();
        let s = self.status.remove(&id).unwrap_or_default();
        t.into_iter().chain(s)
    }
}

/// Drops one mapping's references on `mfn` (general, plus writable type unless read-only); the
/// frame table frees a dead domain's frame at its last put.
fn put_ref(mfn: Mfn, readonly: bool) {
    let ft = crate::mm::frame_table();
    if readonly {
        ft.put_page(mfn);
    } else {
        ft.put_page_and_type(mfn);
    }
}

/// Takes one mapping's references on `mfn` of `granter`.
fn get_ref(mfn: Mfn, granter: DomId, readonly: bool) -> Result<(), GnttabStatus> {
    let ft = crate::mm::frame_table();
    let a = crate::mm::typing::Asker {
        id: granter,
        io: false,
        iomem: false,
    };
    ft.get_page(mfn, a.id)
        .map_err(|_| GnttabStatus::GeneralError)?;
    if !readonly && ft.get_page_type(mfn, PageType::Writable, a).is_err() {
        ft.put_page(mfn);
        return Err(GnttabStatus::GeneralError);
    }
    Ok(())
}

/// The L1 table and slot a grant's `host_addr` names: with `GNTMAP_contains_pte` the machine
/// address of the PTE itself, else a virtual address in the vCPU's current page tables. The L1
/// must be a validated L1 of `dom`.
fn locate(dom: &Domain, v: &Vcpu, addr: u64, contains_pte: bool) -> Result<(Mfn, usize), ()> {
    let (l1, index) = if contains_pte {
        if !addr.is_multiple_of(8) {
            return Err(());
        }
        let pte = Maddr(addr);
        (pte.mfn(), pte.page_offset() / 8)
    } else {
        use crate::layout::{HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};
        if (HYPERVISOR_VIRT_START..HYPERVISOR_VIRT_END).contains(&addr)
            || crate::arch::x86_64::guest::GuestVa::new(addr).is_none()
        {
            return Err(());
        }
        let l4 = v.state.lock().active_l4().ok_or(())?;
        let l1 = crate::hypercall::mmu::l1_of(l4, addr).map_err(|_| ())?;
        (l1, l1_table_offset(addr))
    };
    let ft = crate::mm::frame_table();
    let ts = ft.type_state(l1);
    if ft.owner(l1) != Some(dom.id) || ts.ty != PageType::L1 || !ts.validated {
        return Err(());
    }
    Ok((l1, index))
}

/// The PTE flags of a grant mapping (Xen's `grant_to_pte_flags` + `adjust_guest_l1e`): present,
/// accessed, dirty, not executable (where the CPU has NX), user (the PV kernel runs in ring 3),
/// writable unless read-only, the guest's `GNTMAP_guest_avail` bits in the PTE's available bits
/// 9–11 (`XENFEAT_gnttab_map_avail_bits`: Linux's gntdev asks for bit 9, its `_PAGE_SPECIAL`,
/// so that `get_user_pages` finds the page behind a grant mapped into a process), the grant's
/// cache attributes.
fn grant_pte(mfn: Mfn, flags: u32, cache_flags: u16) -> u64 {
    let mut pte = mfn.addr() | PTE_P | PTE_A | PTE_D | PTE_US | nx();
    if flags & GNTMAP_READONLY == 0 {
        pte |= PTE_RW;
    }
    pte |= (u64::from(flags >> xen_abi::grant_table::GNTMAP_GUEST_AVAIL0_BIT) << 9) & 0xe00;
    if cache_flags & GTF_PWT != 0 {
        pte |= PTE_PWT;
    }
    if cache_flags & GTF_PCD != 0 {
        pte |= PTE_PCD;
    }
    if cache_flags & GTF_PAT != 0 {
        pte |= PTE_PSE;
    }
    pte
}

/// `_PAGE_NX` when the CPU runs with EFER.NXE (set at boot where the CPU has NX), else 0.
fn nx() -> u64 {
    static NX: spin::Once<u64> = spin::Once::new();
    *NX.call_once(|| {
        #[cfg(target_os = "none")]
        let on = crate::arch::x86_64::cpu::rdmsr(0xc000_0080) & (1 << 11) != 0;
        #[cfg(not(target_os = "none"))]
        let on = false;
        if on {
            crate::mm::typing::PTE_NX
        } else {
            0
        }
    })
}

fn flush(addr: u64, contains_pte: bool) {
    if contains_pte {
        crate::arch::x86_64::cpu::flush_tlb_local();
    } else {
        x86_64::instructions::tlb::flush(x86_64::VirtAddr::new_truncate(addr));
    }
}

/// `create_grant_pv_mapping`: writes the grant PTE over whatever the slot held, releasing the
/// old entry's references. The grant's cache attributes apply to I/O frames only: a frame of
/// RAM is mapped write-back whatever the entry asks (`map_grant_ref` passes 0 for a page the
/// granter owns), so that no domain gets a non-coherent mapping of RAM (XSA-154, 402).
fn create_host_mapping(dom: &Domain, v: &Vcpu, m: &Mapping) -> Result<(), GnttabStatus> {
    let cpte = m.flags & GNTMAP_CONTAINS_PTE != 0;
    let ft = crate::mm::frame_table();
    let cache_flags = if ft.owner(m.mfn) == Some(xen_abi::DomId::IO) {
        m.cache_flags
    } else {
        0
    };
    let _mmu = dom.mmu.lock();
    let (l1, index) = locate(dom, v, m.host_addr, cpte).map_err(|()| GnttabStatus::GeneralError)?;
    let old = frame_read_u64(l1, index * 8).map_err(|_| GnttabStatus::GeneralError)?;
    frame_write_u64(l1, index * 8, grant_pte(m.mfn, m.flags, cache_flags))
        .map_err(|_| GnttabStatus::GeneralError)?;
    ft.put_l1e(old);
    flush(m.host_addr, cpte);
    Ok(())
}

/// `replace_grant_pv_mapping`: the slot at `addr` must still map `mfn` with the grant's access
/// (and, in Ferrite, `addr` be the address mapped: `recorded`); it is cleared, or with
/// `new_addr` gets the entry moved from there. As Xen, `new_addr`'s entry is taken (its slot
/// cleared) before `addr` is checked: if the check fails, the entry taken is released.
fn replace_host_mapping(
    dom: &Domain,
    v: &Vcpu,
    addr: u64,
    recorded: bool,
    mfn: Mfn,
    flags: u32,
    new_addr: u64,
) -> Result<(), GnttabStatus> {
    let cpte = flags & GNTMAP_CONTAINS_PTE != 0;
    if cpte && new_addr != 0 {
        return Err(GnttabStatus::GeneralError);
    }
    let _mmu = dom.mmu.lock();
    let mut new = 0;
    if new_addr != 0 {
        // `steal_linear_address`.
        let (nl1, nindex) =
            locate(dom, v, new_addr, false).map_err(|()| GnttabStatus::GeneralError)?;
        new = frame_read_u64(nl1, nindex * 8).map_err(|_| GnttabStatus::GeneralError)?;
        frame_write_u64(nl1, nindex * 8, 0).map_err(|_| GnttabStatus::GeneralError)?;
        flush(new_addr, false);
    }
    let r = (|| {
        if !recorded {
            return Err(GnttabStatus::GeneralError);
        }
        let (l1, index) = locate(dom, v, addr, cpte).map_err(|()| GnttabStatus::GeneralError)?;
        let old = frame_read_u64(l1, index * 8).map_err(|_| GnttabStatus::GeneralError)?;
        let want = grant_pte(mfn, flags, 0);
        if pte_mfn(old) != mfn || (old ^ want) & (PTE_P | PTE_RW) != 0 {
            return Err(GnttabStatus::GeneralError);
        }
        frame_write_u64(l1, index * 8, new).map_err(|_| GnttabStatus::GeneralError)?;
        flush(addr, cpte);
        Ok(())
    })();
    if r.is_err() {
        // "If there was an error, we are still responsible for the stolen pte."
        crate::mm::frame_table().put_l1e(new);
    }
    r
}

fn map_one(dom: &Domain, v: &Vcpu, op: &mut GnttabMapGrantRef) {
    // `map_grant_ref`: one reference per host and per device mapping (writable types for a
    // writable one), taken in the same critical section that makes the handle live, so that
    // no other vCPU of the mapper can see the handle — and unmap a side of it, dropping that
    // side's reference — before the reference exists (Xen sets the maptrack flags last).
    let r = with_hub(|h| {
        let m = h
            .sys
            .map_grant_ref(&mut h.mem, dom.id, op)
            .map_err(|e| (e, None))?;
        let kinds = u32::from(m.host_map) + u32::from(m.device_map);
        for taken in 0..kinds {
            if let Err(e) = get_ref(m.mfn, op.dom, m.readonly) {
                for _ in 0..taken {
                    put_ref(m.mfn, m.readonly);
                }
                // Nothing else ran meanwhile: the cancel releases exactly this map's sides.
                let released = h.sys.cancel_map(&mut h.mem, dom.id, m.handle);
                return Err((e, released.ok().and_then(|u| u.table_released)));
            }
        }
        Ok(m)
    });
    let r = match r {
        Ok(m) => Ok(m),
        Err((e, table)) => {
            if let Some(g) = table {
                release_table(g);
            }
            Err(e)
        }
    };
    // Then the PTE. If it cannot be installed, the map is undone (`undo_out`): the sides still
    // mapped now are released with their references (another vCPU may have unmapped the device
    // side meanwhile, and dropped that reference itself).
    let r = r.and_then(|m| {
        if m.host_map {
            if let Err(e) = create_host_mapping(dom, v, &m) {
                if let Ok(u) = with_hub(|h| h.sys.cancel_map(&mut h.mem, dom.id, m.handle)) {
                    after_unmap(&u);
                }
                return Err(e);
            }
        }
        Ok(m)
    });
    op.status = r.map_or_else(GnttabStatus::code, |_| GnttabStatus::Okay.code());
    if let Ok(m) = r {
        op.handle = m.handle;
        op.dev_bus_addr = m.dev_bus_addr;
    }
}

/// Drops what an unmap released and acts on the table it may have freed.
fn after_unmap(u: &Unmapping) {
    if u.host_unmapped {
        put_ref(u.mfn, u.readonly);
    }
    if u.device_unmapped {
        put_ref(u.mfn, u.readonly);
    }
    if let Some(g) = u.table_released {
        release_table(g);
        log::info!(
            "d{}: grant table released at the last unmap of its grants; free frames {}",
            g.0,
            crate::mm::free_frames()
        );
    }
}

fn unmap_one(
    dom: &Domain,
    v: &Vcpu,
    handle: xen_abi::GrantHandle,
    host_addr: u64,
    dev_bus_addr: u64,
    new_addr: Option<u64>,
) -> Result<(), GnttabStatus> {
    // `unmap_common`: the PTE is checked and cleared first; only if that works does the grant
    // bookkeeping change (a failure leaves the handle mapped).
    let m = with_hub(|h| h.sys.maptrack_entry(dom.id, handle));
    if let Some(m) = m {
        let host = m.flags & xen_abi::grant_table::GNTMAP_HOST_MAP != 0;
        let dev_ok = dev_bus_addr == 0 || dev_bus_addr == m.mfn.addr();
        if host_addr != 0 && host && dev_ok {
            replace_host_mapping(
                dom,
                v,
                host_addr,
                host_addr == m.host_addr,
                m.mfn,
                m.flags,
                new_addr.unwrap_or(0),
            )?;
        }
    }
    let u = with_hub(|h| match new_addr {
        None => h.sys.unmap_grant_ref(
            &mut h.mem,
            dom.id,
            &GnttabUnmapGrantRef {
                host_addr,
                dev_bus_addr,
                handle,
                status: 0,
                _pad: [0; 2],
            },
        ),
        Some(n) => h.sys.unmap_and_replace(
            &mut h.mem,
            dom.id,
            &GnttabUnmapAndReplace {
                host_addr,
                new_addr: n,
                handle,
                status: 0,
                _pad: [0; 2],
            },
        ),
    })?;
    after_unmap(&u);
    Ok(())
}

fn code<T>(r: &Result<T, GnttabStatus>) -> i16 {
    r.as_ref()
        .map_or_else(|s| s.code(), |_| GnttabStatus::Okay.code())
}

/// Runs `one` over `count` ops of type `T` at `uop`, each copied in, run and copied back;
/// preemptible between ops, when `rest` gets where the ops left begin and how many there are.
/// The whole array must lie in guest space (Xen's `guest_handle_okay`), else `-EFAULT` before
/// any op runs.
fn each<T>(
    uop: u64,
    count: u32,
    rest: &mut Option<(u64, u32)>,
    mut one: impl FnMut(&mut T) -> XenResult<()>,
) -> XenResult<u64>
where
    T: zerocopy::FromBytes + zerocopy::IntoBytes + zerocopy::Immutable,
{
    let size = core::mem::size_of::<T>() as u64;
    if !crate::arch::x86_64::guest::guest_range_ok(uop, count as usize * size as usize) {
        return Err(Errno::EFAULT);
    }
    let mut preempt = Preempt::new();
    for i in 0..count {
        let at = uop.wrapping_add(u64::from(i) * size);
        if i > 0 && preempt.due() {
            *rest = Some((at, count - i));
            return Ok(0);
        }
        let mut op: T = read_guest_struct(at)?;
        one(&mut op)?;
        write_guest(at, op.as_bytes())?;
    }
    Ok(0)
}

/// The `grant_table_op(cmd, uop, count)` hypercall (`do_grant_table_op`): `cmd` and `count`
/// are 32 bits wide; a negative count, or bits above the sub-op (`GNTTABOP_CMD_MASK`) with any
/// sub-op but `cache_flush`, are `-EINVAL`. The batches are preemptible between ops: the
/// continuation is the same sub-op over the ops left.
pub fn grant_table_op(dom: &Domain, v: &Vcpu, cmd: u64, uop: u64, count: u64) -> Outcome {
    let cmd = cmd as u32;
    let sub = cmd & xen_abi::grant_table::GNTTABOP_CMD_MASK;
    if (count as u32 as i32) < 0 || (cmd != sub && sub != GnttabOp::CacheFlush as u32) {
        return Outcome::Done(Err(Errno::EINVAL));
    }
    let mut rest = None;
    let r = table_op(dom, v, sub, uop, count as u32, &mut rest);
    match (r, rest) {
        (Ok(_), Some((at, left))) => Outcome::resume(&[u64::from(sub), at, u64::from(left)]),
        (r, _) => Outcome::Done(r),
    }
}

fn table_op(
    dom: &Domain,
    v: &Vcpu,
    cmd: u32,
    uop: u64,
    count: u32,
    rest: &mut Option<(u64, u32)>,
) -> XenResult<u64> {
    let op = GnttabOp::try_from(cmd)?;
    check_count(op, count)?;
    if is_unimplemented(op) {
        return Err(Errno::ENOSYS);
    }
    let id = dom.id;
    let r = match op {
        GnttabOp::MapGrantRef => each(uop, count, rest, |o: &mut GnttabMapGrantRef| {
            map_one(dom, v, o);
            Ok(())
        }),
        GnttabOp::UnmapGrantRef => each(uop, count, rest, |o: &mut GnttabUnmapGrantRef| {
            o.status = code(&unmap_one(
                dom,
                v,
                o.handle,
                o.host_addr,
                o.dev_bus_addr,
                None,
            ));
            Ok(())
        }),
        GnttabOp::UnmapAndReplace => each(uop, count, rest, |o: &mut GnttabUnmapAndReplace| {
            o.status = code(&unmap_one(
                dom,
                v,
                o.handle,
                o.host_addr,
                0,
                Some(o.new_addr),
            ));
            Ok(())
        }),
        GnttabOp::Copy => each(uop, count, rest, |o: &mut GnttabCopy| {
            o.status = code(&with_hub(|h| h.sys.copy(&mut h.mem, id, o)));
            Ok(())
        }),
        GnttabOp::SetupTable => each(uop, count, rest, |o: &mut GnttabSetupTable| {
            setup_table(id, o);
            Ok(())
        }),
        GnttabOp::QuerySize => each(uop, count, rest, |o: &mut GnttabQuerySize| {
            let r = with_hub(|h| h.sys.query_size(id, o.dom));
            o.status = code(&r);
            if let Ok((n, max)) = r {
                o.nr_frames = n;
                o.max_nr_frames = max;
            }
            Ok(())
        }),
        GnttabOp::SetVersion => {
            let mut o: GnttabSetVersion = read_guest_struct(uop)?;
            let (r, now) = with_hub(|h| h.sys.set_version(&mut h.mem, id, o.version));
            o.version = now;
            write_guest(uop, o.as_bytes())?;
            r.map(|()| 0)
        }
        GnttabOp::GetVersion => {
            let mut o: GnttabGetVersion = read_guest_struct(uop)?;
            o.version = with_hub(|h| h.sys.get_version(id, o.dom))?;
            write_guest(uop, o.as_bytes())?;
            Ok(0)
        }
        GnttabOp::GetStatusFrames => each(uop, count, rest, |o: &mut GnttabGetStatusFrames| {
            get_status_frames(id, o)
        }),
        GnttabOp::SwapGrantRef => each(uop, count, rest, |o: &mut GnttabSwapGrantRef| {
            o.status = code(&with_hub(|h| {
                h.sys.swap_grant_ref(&mut h.mem, id, o.ref_a, o.ref_b)
            }));
            Ok(())
        }),
        // Read, never written back.
        GnttabOp::CacheFlush => 'flush: {
            let size = core::mem::size_of::<GnttabCacheFlush>() as u64;
            let mut preempt = Preempt::new();
            for i in 0..count {
                let at = uop.wrapping_add(u64::from(i) * size);
                if i > 0 && preempt.due() {
                    *rest = Some((at, count - i));
                    break 'flush Ok(0);
                }
                let o: GnttabCacheFlush = match read_guest_struct(at) {
                    Ok(o) => o,
                    Err(e) => break 'flush Err(e),
                };
                if let Err(e) = with_hub(|h| h.sys.cache_flush(&h.mem, id, &o)) {
                    break 'flush Err(e);
                }
            }
            Ok(0)
        }
        GnttabOp::DumpTable | GnttabOp::Transfer => Err(Errno::ENOSYS),
    };
    reap_orphans();
    r
}

/// `GNTTABOP_setup_table`: grows the table and lists its frames (machine frames: a PV domain
/// maps them itself).
fn setup_table(caller: DomId, o: &mut GnttabSetupTable) {
    let r = with_hub(|h| {
        let n = h.sys.setup_table(&mut h.mem, caller, o.dom, o.nr_frames)?;
        let d = if o.dom == DomId::SELF { caller } else { o.dom };
        let frames = h.mem.tables.get(&d).cloned().unwrap_or_default();
        Ok::<_, GnttabStatus>(frames.into_iter().take(n as usize).collect::<Vec<_>>())
    });
    o.status = code(&r);
    if let Ok(frames) = r {
        for (i, f) in frames.iter().enumerate() {
            let at = o.frame_list.wrapping_add(i as u64 * 8);
            if write_guest(at, &f.0.to_le_bytes()).is_err() {
                o.status = GnttabStatus::BadVirtAddr.code();
                break;
            }
        }
    }
}

/// `GNTTABOP_get_status_frames`: the list must lie in guest space (`guest_handle_okay`,
/// else `-EFAULT`); the status frames' machine frames are written to it (a PV domain maps them
/// itself), `GNTST_bad_virt_addr` where a write faults.
fn get_status_frames(caller: DomId, o: &mut GnttabGetStatusFrames) -> XenResult<()> {
    let len = (o.nr_frames as usize).saturating_mul(8);
    if !crate::arch::x86_64::guest::guest_range_ok(o.frame_list, len) {
        return Err(Errno::EFAULT);
    }
    let r = with_hub(|h| {
        let d = h.sys.get_status_frames(caller, o.dom, o.nr_frames)?;
        let frames = h.mem.status.get(&d).cloned().unwrap_or_default();
        Ok::<_, GnttabStatus>(
            frames
                .into_iter()
                .take(o.nr_frames as usize)
                .collect::<Vec<_>>(),
        )
    });
    o.status = code(&r);
    if let Ok(frames) = r {
        for (i, f) in frames.iter().enumerate() {
            let at = o.frame_list.wrapping_add(i as u64 * 8);
            if write_guest(at, &f.0.to_le_bytes()).is_err() {
                o.status = GnttabStatus::BadVirtAddr.code();
            }
        }
    }
    Ok(())
}

/// `XENMEM_add_to_physmap` (`XENMAPSPACE_grant_table` and every other space) for a PV
/// domain, as Xen 4.17 answers it: -EFAULT for an unreadable argument, -ENOSYS for
/// `XENMAPSPACE_gmfn_foreign`, -ESRCH for an unknown domain, then -EACCES
/// (`xatp_permission_check`: the domain is not translated). A PV guest learns its grant-table
/// frames from `GNTTABOP_setup_table` (machine frames it owns, permanently writable) and maps
/// them itself with `update_va_mapping` or `mmu_update`.
pub fn add_to_physmap(dom: &Domain, arg: u64) -> XenResult<u64> {
    let x: xen_abi::memory::XenAddToPhysmap = read_guest_struct(arg)?;
    // "Foreign mapping is only possible via add_to_physmap_batch."
    if x.space == xen_abi::memory::XenMapSpace::GmfnForeign as u32 {
        return Err(Errno::ENOSYS);
    }
    let target = if x.domid == DomId::SELF {
        dom.id
    } else {
        x.domid
    };
    if crate::domain::get(target).is_none() {
        return Err(Errno::ESRCH);
    }
    Err(Errno::EACCES)
}
