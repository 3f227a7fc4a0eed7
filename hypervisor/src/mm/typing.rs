//! Page ownership, types and reference counts for every machine frame, as Xen keeps them
//! (`struct page_info`: `count_info` and `type_info`; `xen/arch/x86/mm.c`).
//!
//! A frame has an owner and a general reference count (one reference is the owner's allocation
//! itself, Xen's `PGC_allocated`). It also has one *type* at a time — none, L1, L2, L3, L4,
//! writable or segment descriptors — with a type count: the number of uses that need that type
//! (a writable mapping, a parent table's entry, a pin, a vCPU's base pointer). The type can only
//! change while the type count is zero. Taking a page-table type for the first time *validates*
//! the page: every present entry is checked (owned frames only, no writable mapping of a page
//! table, no entry in the hypervisor's reserved L4 slots, reserved bits clear) and takes its own
//! references — recursively, so a validated L4 holds its whole tree. When the type count drops
//! to zero the page is de-validated at once and the references of its entries are released.
//!
//! Linear ("recursive") page tables, as Xen 4.17 allows them by default (`pv-linear-pt`): an
//! L2, L3 or L4 entry may map, read-only, its own table (taking nothing) or another already
//! validated table of the same level (taking a type reference on it). XSA-240's rule keeps
//! those references from chaining: a table that holds linear entries cannot be a linear
//! target, and a linear target cannot hold linear entries (Xen's `linear_pt_count`).
//!
//! This module is pure logic over a [`PtMemory`] (the frames' contents) so that it is
//! host-tested; the hypervisor supplies the direct-mapped implementation.
//!
//! Concurrency: counts are atomics updated with compare-and-swap, so domains may take
//! references to each other's frames (grants) at any time; the page-table operations of one
//! domain (validation, entry updates, pins) run under that domain's MMU lock, so a page is never
//! validated by two CPUs at once. A frame seen with its type taken but not yet validated is busy.

use core::sync::atomic::{AtomicI16, AtomicU16, AtomicU32, AtomicU64, Ordering};
use xen_abi::{DomId, Errno, Maddr, Mfn};

/// How [`FrameInfo`] stores "no owner" (no domain id, not even a special one, is `0xffff`).
const OWNER_NONE: u16 = u16::MAX;

fn owner_word(owner: Option<DomId>) -> u16 {
    owner.map_or(OWNER_NONE, |d| d.0)
}

fn owner_of_word(w: u16) -> Option<DomId> {
    (w != OWNER_NONE).then_some(DomId(w))
}

/// Present.
pub const PTE_P: u64 = 1 << 0;
/// Writable.
pub const PTE_RW: u64 = 1 << 1;
/// User.
pub const PTE_US: u64 = 1 << 2;
/// Write-through.
pub const PTE_PWT: u64 = 1 << 3;
/// Cache disable.
pub const PTE_PCD: u64 = 1 << 4;
/// Accessed.
pub const PTE_A: u64 = 1 << 5;
/// Dirty.
pub const PTE_D: u64 = 1 << 6;
/// Page size (L2/L3), PAT (L1).
pub const PTE_PSE: u64 = 1 << 7;
/// Global.
pub const PTE_G: u64 = 1 << 8;
/// No-execute.
pub const PTE_NX: u64 = 1 << 63;
/// The frame-number bits of an entry.
pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The frame a page-table entry points at (Xen's `l*e_get_mfn`).
pub const fn pte_mfn(e: u64) -> Mfn {
    Maddr(e & ADDR_MASK).mfn()
}

/// The index of the L1 entry that maps virtual address `va` (Xen's `l1_table_offset`).
pub const fn l1_table_offset(va: u64) -> usize {
    ((va >> xen_abi::PAGE_SHIFT) & 511) as usize
}

/// First and last L4 slot the hypervisor reserves (Xen's `ROOT_PAGETABLE_{FIRST,LAST}_XEN_SLOT`).
pub const XEN_L4_FIRST: usize = 256;
/// See [`XEN_L4_FIRST`].
pub const XEN_L4_LAST: usize = 271;

/// True if a guest may use L4 slot `i` (Xen's `is_guest_l4_slot`).
pub fn is_guest_l4_slot(i: usize) -> bool {
    !(XEN_L4_FIRST..=XEN_L4_LAST).contains(&i)
}

/// A frame's type (Xen's `PGT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum PageType {
    /// No use that needs a type.
    None = 0,
    /// An L1 page table.
    L1 = 1,
    /// An L2 page table.
    L2 = 2,
    /// An L3 page table.
    L3 = 3,
    /// An L4 page table.
    L4 = 4,
    /// Mapped writable somewhere.
    Writable = 5,
    /// Holds GDT/LDT descriptors.
    SegDesc = 6,
}

impl PageType {
    fn from_bits(b: u64) -> PageType {
        match b {
            1 => PageType::L1,
            2 => PageType::L2,
            3 => PageType::L3,
            4 => PageType::L4,
            5 => PageType::Writable,
            6 => PageType::SegDesc,
            _ => PageType::None,
        }
    }

    /// The page-table type of `level` (1–4).
    pub fn table(level: u32) -> Option<PageType> {
        match level {
            1 => Some(PageType::L1),
            2 => Some(PageType::L2),
            3 => Some(PageType::L3),
            4 => Some(PageType::L4),
            _ => None,
        }
    }

    /// The level (1–4) of a page-table type.
    pub fn level(self) -> Option<u32> {
        match self {
            PageType::L1 => Some(1),
            PageType::L2 => Some(2),
            PageType::L3 => Some(3),
            PageType::L4 => Some(4),
            _ => None,
        }
    }

    fn needs_validation(self) -> bool {
        self.level().is_some() || self == PageType::SegDesc
    }
}

const COUNT_MASK: u64 = 0xffff_ffff;
/// In the general count: the owner still holds its allocation reference (Xen's
/// `PGC_allocated`), so it is dropped at most once, by the owner giving the frame back or by
/// its destruction.
const ALLOCATED: u32 = 1 << 31;
const REFS: u32 = !ALLOCATED;
const TYPE_SHIFT: u32 = 32;
const TYPE_MASK: u64 = 0xf << TYPE_SHIFT;
const VALIDATED: u64 = 1 << 40;
const PINNED: u64 = 1 << 41;

/// What Xen keeps per frame.
#[derive(Debug)]
pub struct FrameInfo {
    owner: AtomicU16,
    /// Xen's `linear_pt_count` (XSA-240): while the frame is a page table, positive = the
    /// linear entries it holds, negative = the linear entries of other tables that use it.
    /// Never both, so linear references cannot form chains or cycles.
    linear: AtomicI16,
    count: AtomicU32,
    type_info: AtomicU64,
}

impl FrameInfo {
    /// An unowned frame.
    pub const fn new() -> FrameInfo {
        FrameInfo {
            owner: AtomicU16::new(OWNER_NONE),
            linear: AtomicI16::new(0),
            count: AtomicU32::new(0),
            type_info: AtomicU64::new(0),
        }
    }
}

impl Default for FrameInfo {
    fn default() -> Self {
        FrameInfo::new()
    }
}

/// A frame's type state, as read at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeState {
    /// The type.
    pub ty: PageType,
    /// Uses needing the type.
    pub count: u32,
    /// Validated (page tables, descriptor pages).
    pub validated: bool,
    /// Pinned (`MMUEXT_PIN_L*_TABLE`).
    pub pinned: bool,
}

/// The contents of frames, as the validation code reads and writes them.
pub trait PtMemory {
    /// Entry `index` (0–511) of frame `mfn`.
    fn read(&self, mfn: Mfn, index: usize) -> u64;
    /// Sets entry `index` of frame `mfn`.
    fn write(&self, mfn: Mfn, index: usize, value: u64);
    /// The hypervisor's entry for reserved L4 slot `slot`.
    fn xen_l4_entry(&self, slot: usize) -> u64;
    /// True if an I/O frame may be mapped by a domain with I/O privilege (the hypervisor keeps
    /// its interrupt controllers and timers, as Xen's `dom0_setup_permissions` does).
    fn io_allowed(&self, _mfn: Mfn) -> bool {
        true
    }
    /// True if an I/O frame may be mapped only read-only (Xen's `mmio_ro_ranges`: a writable
    /// mapping is made read-only).
    fn io_read_only(&self, _mfn: Mfn) -> bool {
        false
    }
    /// Called when the last reference to a frame is dropped: it goes back to the allocator.
    fn freed(&self, _mfn: Mfn) {}
    /// Called when a frame's type changes from writable to something a guest must not write
    /// (stale writable TLB entries must go).
    fn flush_tlbs(&self) {}
    /// True if a page table may map itself or another table of its own level read-only
    /// ("linear" or "recursive" page tables): Xen's `opt_pv_linear_pt`, the command-line
    /// option `pv-linear-pt`, on by default.
    fn pv_linear_pt(&self) -> bool {
        true
    }
}

/// Who is asking: a domain id and whether it may map I/O frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asker {
    /// The domain id.
    pub id: DomId,
    /// The page tables' owner may use cache attributes in L1 entries (Xen's
    /// `l1_disallow_mask` for domains with I/O capabilities).
    pub io: bool,
    /// The frames' owner (`pg_owner`: the asker itself, or the domain a privileged caller maps
    /// for) may have non-RAM (I/O) frames mapped (Xen's `iomem_access_permitted(pg_owner)`).
    pub iomem: bool,
}

/// Flags a guest may not set at each level (Xen's `L*_DISALLOW_MASK` on x86-64: PWT, PCD,
/// PSE/PAT and G; G is allowed in L1; a domain with I/O privilege may set the cache bits in L1).
pub fn disallowed(level: u32, io: bool) -> u64 {
    let base = PTE_PWT | PTE_PCD | PTE_PSE | PTE_G;
    match level {
        1 if io => 0,
        1 => base & !PTE_G,
        _ => base,
    }
}

/// The frame table over `frames` (indexed by machine frame number) and their contents.
pub struct FrameTable<'a, M: PtMemory> {
    /// One entry per machine frame.
    pub frames: &'a [FrameInfo],
    /// The frames' contents.
    pub mem: M,
}

impl<M: PtMemory> FrameTable<'_, M> {
    fn info(&self, mfn: Mfn) -> Option<&FrameInfo> {
        self.frames.get(usize::try_from(mfn.0).ok()?)
    }

    /// Gives frame `mfn` to `owner` with the allocation reference (count 1, no type).
    pub fn assign(&self, mfn: Mfn, owner: DomId) {
        if let Some(f) = self.info(mfn) {
            f.type_info.store(0, Ordering::Release);
            f.linear.store(0, Ordering::Release);
            f.count.store(ALLOCATED | 1, Ordering::Release);
            f.owner.store(owner_word(Some(owner)), Ordering::Release);
        }
    }

    /// Forgets everything about `mfn` (a frame going back to the allocator unused).
    pub fn clear(&self, mfn: Mfn) {
        if let Some(f) = self.info(mfn) {
            f.type_info.store(0, Ordering::Release);
            f.linear.store(0, Ordering::Release);
            f.count.store(0, Ordering::Release);
            f.owner.store(OWNER_NONE, Ordering::Release);
        }
    }

    /// Marks frame `mfn` as an I/O frame (not RAM a domain can own): its owner is `DOMID_IO`.
    pub fn mark_io(&self, mfn: Mfn) {
        if let Some(f) = self.info(mfn) {
            f.owner
                .store(owner_word(Some(DomId::IO)), Ordering::Release);
        }
    }

    /// Drops the owner's allocation reference: returns true if that was the last reference
    /// (the frame went back through [`PtMemory::freed`]), false if others still hold
    /// references (it stays until they drop them).
    /// A second release of the same allocation (the frame given back, then its domain
    /// destroyed) drops nothing.
    pub fn release(&self, mfn: Mfn) -> bool {
        let Some(f) = self.info(mfn) else {
            return false;
        };
        if f.count.fetch_and(REFS, Ordering::AcqRel) & ALLOCATED == 0 {
            return false;
        }
        self.put_page(mfn)
    }

    /// Xen's `steal_page` (after XSA-287): takes frame `mfn` from `dom` if nothing but the
    /// allocation references it. Its count goes from the allocation's alone to zero in one
    /// atomic step, so no reference can be taken meanwhile ([`Self::get_page`] needs a non-zero
    /// count) and none can be dropped under it ([`Self::release`] finds no allocation). The
    /// frame then belongs to the caller, to hand back ([`Self::unsteal`]) or free
    /// ([`Self::free_stolen`]). False, with nothing changed, if `dom` does not own it or
    /// anything else holds a reference or a type use.
    pub fn steal(&self, mfn: Mfn, dom: DomId) -> bool {
        let Some(f) = self.info(mfn) else {
            return false;
        };
        if f.owner.load(Ordering::Acquire) != owner_word(Some(dom))
            || f.count
                .compare_exchange(ALLOCATED | 1, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return false;
        }
        // A type use comes with a general reference, which the exchange above ruled out; a
        // frame still typed (which would be a bookkeeping bug) is handed back, not freed.
        if self.type_state(mfn).count != 0 {
            self.unsteal(mfn);
            return false;
        }
        true
    }

    /// Gives a frame taken by [`Self::steal`] back to its owner with its allocation reference.
    pub fn unsteal(&self, mfn: Mfn) {
        if let Some(f) = self.info(mfn) {
            f.count.store(ALLOCATED | 1, Ordering::Release);
        }
    }

    /// Frees a frame taken by [`Self::steal`] (through [`PtMemory::freed`]).
    pub fn free_stolen(&self, mfn: Mfn) {
        if let Some(f) = self.info(mfn) {
            f.owner.store(OWNER_NONE, Ordering::Release);
            f.type_info.store(0, Ordering::Release);
            f.linear.store(0, Ordering::Release);
            self.mem.freed(mfn);
        }
    }

    /// True while the owner holds its allocation reference.
    pub fn allocated(&self, mfn: Mfn) -> bool {
        self.info(mfn)
            .is_some_and(|f| f.count.load(Ordering::Acquire) & ALLOCATED != 0)
    }

    /// The owner of `mfn` (`None` if none; `DOMID_IO` for I/O frames and frames beyond the
    /// table).
    pub fn owner(&self, mfn: Mfn) -> Option<DomId> {
        self.info(mfn).map_or(Some(DomId::IO), |f| {
            owner_of_word(f.owner.load(Ordering::Acquire))
        })
    }

    /// The general reference count of `mfn`.
    pub fn count(&self, mfn: Mfn) -> u32 {
        self.info(mfn)
            .map_or(0, |f| f.count.load(Ordering::Acquire) & REFS)
    }

    /// Xen's `linear_pt_count` of `mfn`: the linear entries the table holds (positive), or
    /// minus the linear entries that use it (negative).
    pub fn linear_count(&self, mfn: Mfn) -> i16 {
        self.info(mfn)
            .map_or(0, |f| f.linear.load(Ordering::Acquire))
    }

    /// The type state of `mfn`.
    pub fn type_state(&self, mfn: Mfn) -> TypeState {
        let x = self
            .info(mfn)
            .map_or(0, |f| f.type_info.load(Ordering::Acquire));
        TypeState {
            ty: PageType::from_bits((x & TYPE_MASK) >> TYPE_SHIFT),
            count: (x & COUNT_MASK) as u32,
            validated: x & VALIDATED != 0,
            pinned: x & PINNED != 0,
        }
    }

    /// Takes a general reference on `mfn` for domain `dom` (Xen's `get_page`): the frame must be
    /// owned by `dom` and allocated. -EINVAL otherwise.
    pub fn get_page(&self, mfn: Mfn, dom: DomId) -> Result<(), Errno> {
        let f = self.info(mfn).ok_or(Errno::EINVAL)?;
        if f.owner.load(Ordering::Acquire) != owner_word(Some(dom)) {
            return Err(Errno::EINVAL);
        }
        let mut c = f.count.load(Ordering::Acquire);
        loop {
            if c & REFS == 0 || c & REFS == REFS {
                return Err(Errno::EINVAL);
            }
            match f
                .count
                .compare_exchange_weak(c, c + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => c = now,
            }
        }
        // The owner could have changed between the check and the increment only if the frame
        // was freed and reassigned, which needs the count to reach zero first: it did not.
        Ok(())
    }

    /// Drops a general reference; returns true when it was the last one (the frame is free and
    /// was handed to [`PtMemory::freed`]).
    pub fn put_page(&self, mfn: Mfn) -> bool {
        let Some(f) = self.info(mfn) else {
            return false;
        };
        // The allocation bit goes with its reference (`release`), so the count can only reach
        // zero with the bit clear.
        let prev = f
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c & REFS != 0).then(|| c - 1)
            })
            .unwrap_or(0);
        if prev == 1 {
            f.owner.store(OWNER_NONE, Ordering::Release);
            f.type_info.store(0, Ordering::Release);
            f.linear.store(0, Ordering::Release);
            self.mem.freed(mfn);
            true
        } else {
            false
        }
    }

    /// Takes a type reference of type `ty` on `mfn` (Xen's `get_page_type`), validating the
    /// page if it takes a page-table or descriptor type afresh. -EINVAL for a type conflict or a
    /// page that fails validation; -EBUSY for a page still being validated.
    pub fn get_page_type(&self, mfn: Mfn, ty: PageType, a: Asker) -> Result<(), Errno> {
        let f = self.info(mfn).ok_or(Errno::EINVAL)?;
        let mut x = f.type_info.load(Ordering::Acquire);
        loop {
            let count = x & COUNT_MASK;
            let cur = PageType::from_bits((x & TYPE_MASK) >> TYPE_SHIFT);
            if count == 0 {
                let fresh = (u64::from(ty as u8) << TYPE_SHIFT) | 1;
                let new = if ty.needs_validation() {
                    fresh
                } else {
                    fresh | VALIDATED
                };
                match f
                    .type_info
                    .compare_exchange(x, new, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        if !ty.needs_validation() {
                            return Ok(());
                        }
                        if cur == PageType::Writable {
                            self.mem.flush_tlbs();
                        }
                        return match self.validate(mfn, ty, a) {
                            Ok(()) => {
                                f.type_info.fetch_or(VALIDATED, Ordering::AcqRel);
                                Ok(())
                            }
                            Err(e) => {
                                f.type_info.store(0, Ordering::Release);
                                Err(e)
                            }
                        };
                    }
                    Err(now) => {
                        x = now;
                        continue;
                    }
                }
            }
            if cur != ty {
                log::debug!("{mfn}: wanted as {ty:?}, has type {cur:?} ({count} uses)");
                return Err(Errno::EINVAL);
            }
            if x & VALIDATED == 0 {
                return Err(Errno::EBUSY);
            }
            if count == COUNT_MASK {
                return Err(Errno::EINVAL);
            }
            match f
                .type_info
                .compare_exchange_weak(x, x + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(now) => x = now,
            }
        }
    }

    /// Drops a type reference; the last one of a page-table type de-validates the page,
    /// releasing what its entries hold.
    pub fn put_page_type(&self, mfn: Mfn) {
        self.put_page_type_from(mfn, None);
    }

    /// [`put_page_type`](Self::put_page_type) for a reference held by an entry of the page
    /// table `ptpg` (Xen's `_put_page_type` with `ptpg`): if the frame has the parent's own
    /// type, the entry was a linear one, and both linear counts drop with the reference.
    fn put_page_type_from(&self, mfn: Mfn, ptpg: Option<Mfn>) {
        let Some(f) = self.info(mfn) else { return };
        let mut x = f.type_info.load(Ordering::Acquire);
        loop {
            if x & COUNT_MASK == 0 {
                return;
            }
            let last = x & COUNT_MASK == 1;
            let ty = PageType::from_bits((x & TYPE_MASK) >> TYPE_SHIFT);
            // The last reference of a table: keep the type (count 1, not validated: busy)
            // while its entries are released, then clear it. The last writable reference
            // keeps the writable type with no uses (Xen's types persist until changed): the
            // next type change sees it and flushes the TLBs that may still hold a writable
            // mapping of the frame — a guest that drops the mapping without a flush and then
            // makes the frame a page table must not keep writing it through a stale entry.
            let new = if last && ty.needs_validation() {
                x & !VALIDATED & !PINNED
            } else if last && ty == PageType::Writable {
                x & !COUNT_MASK
            } else if last {
                0
            } else {
                x - 1
            };
            // Xen's `PGT_type_equal(x, ptpg->u.inuse.type_info)`: the parent keeps its type
            // while it is being de-validated, so this holds for every put of a linear entry.
            let linear = ptpg.filter(|&p| p != mfn && self.type_state(p).ty == ty);
            match f
                .type_info
                .compare_exchange_weak(x, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if last && ty.needs_validation() {
                        self.devalidate(mfn, ty);
                    }
                    if let Some(p) = linear {
                        self.dec_linear_uses(mfn);
                        self.dec_linear_entries(p);
                    }
                    if last && ty.needs_validation() {
                        if self.linear_count(mfn) != 0 {
                            log::error!(
                                "{mfn}: de-validated with linear count {}",
                                self.linear_count(mfn)
                            );
                        }
                        f.type_info.store(0, Ordering::Release);
                    }
                    return;
                }
                Err(now) => x = now,
            }
        }
    }

    /// [`get_page`](Self::get_page) and [`get_page_type`](Self::get_page_type) together.
    pub fn get_page_and_type(&self, mfn: Mfn, ty: PageType, a: Asker) -> Result<(), Errno> {
        self.get_page(mfn, a.id)?;
        if let Err(e) = self.get_page_type(mfn, ty, a) {
            self.put_page(mfn);
            return Err(e);
        }
        Ok(())
    }

    /// Drops a type and a general reference.
    pub fn put_page_and_type(&self, mfn: Mfn) -> bool {
        self.put_page_type(mfn);
        self.put_page(mfn)
    }

    /// `MMUEXT_PIN_L*_TABLE`: takes a type and general reference held by the pin. -EINVAL if
    /// already pinned or the page fails validation.
    pub fn pin(&self, mfn: Mfn, ty: PageType, a: Asker) -> Result<(), Errno> {
        if ty.level().is_none() {
            return Err(Errno::EINVAL);
        }
        self.get_page_and_type(mfn, ty, a)?;
        let f = self.info(mfn).ok_or(Errno::EINVAL)?;
        let prev = f.type_info.fetch_or(PINNED, Ordering::AcqRel);
        if prev & PINNED != 0 {
            self.put_page_and_type(mfn);
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// `MMUEXT_UNPIN_TABLE`: drops the pin's references. -EINVAL if `mfn` is not `dom`'s or not
    /// pinned.
    pub fn unpin(&self, mfn: Mfn, dom: DomId) -> Result<(), Errno> {
        let f = self.info(mfn).ok_or(Errno::EINVAL)?;
        if f.owner.load(Ordering::Acquire) != owner_word(Some(dom)) {
            return Err(Errno::EINVAL);
        }
        let prev = f.type_info.fetch_and(!PINNED, Ordering::AcqRel);
        if prev & PINNED == 0 {
            return Err(Errno::EINVAL);
        }
        self.put_page_and_type(mfn);
        Ok(())
    }

    /// Takes what a present L1 entry needs: a general reference, and a writable type
    /// reference if it maps writable. I/O frames need I/O privilege and take nothing.
    fn get_l1e(&self, e: u64, a: Asker) -> Result<(), Errno> {
        if e & PTE_P == 0 {
            return Ok(());
        }
        if e & disallowed(1, a.io) != 0 {
            return Err(Errno::EINVAL);
        }
        let mfn = pte_mfn(e);
        if self.owner(mfn) == Some(DomId::IO) {
            return if a.iomem && self.mem.io_allowed(mfn) {
                Ok(())
            } else {
                Err(Errno::EPERM)
            };
        }
        // Xen's `get_page_from_l1e`: a frame of another owner, or a writable mapping of a frame
        // that has another type, "could not pin": -EBUSY.
        self.get_page(mfn, a.id).map_err(|_| Errno::EBUSY)?;
        if e & PTE_RW != 0 && self.get_page_type(mfn, PageType::Writable, a).is_err() {
            self.put_page(mfn);
            return Err(Errno::EBUSY);
        }
        Ok(())
    }

    /// Releases what a present L1 entry holds (Xen's `put_page_from_l1e`): its general
    /// reference, and the writable type reference if it maps writable.
    pub fn put_l1e(&self, e: u64) {
        if e & PTE_P == 0 {
            return;
        }
        let mfn = pte_mfn(e);
        if self.owner(mfn) == Some(DomId::IO) {
            return;
        }
        if e & PTE_RW != 0 {
            self.put_page_and_type(mfn);
        } else {
            self.put_page(mfn);
        }
    }

    /// Takes what a present entry of the level-`level` (2–4) table `table` needs (Xen's
    /// `get_page_from_l2e`/`l3e`/`l4e`): the child table, validated as level `level - 1`; or,
    /// when that is a type conflict (-EINVAL), a linear reference (see
    /// [`get_linear`](Self::get_linear)).
    fn get_upper(&self, level: u32, e: u64, table: Mfn, a: Asker) -> Result<(), Errno> {
        if e & PTE_P == 0 {
            return Ok(());
        }
        // Superpages are not supported for PV guests (as Xen without `allowsuperpage`).
        if e & disallowed(level, a.io) != 0 {
            return Err(Errno::EINVAL);
        }
        let child = PageType::table(level - 1).ok_or(Errno::EINVAL)?;
        match self.get_page_and_type(pte_mfn(e), child, a) {
            Err(Errno::EINVAL) => self.get_linear(level, e, table, a),
            r => r,
        }
    }

    /// A linear (recursive) entry: `e` in the level-`level` table `table` maps `table` itself
    /// or another table of level `level` (Xen's `get_l2/l3/l4_linear_pagetable`). Refused
    /// (-EINVAL) when `pv-linear-pt` is off or the entry is writable (the guest would write its
    /// own page tables). An entry mapping its own table takes nothing (that reference would
    /// keep the table alive forever). Otherwise `table` must be `a`'s, the target `a`'s and
    /// already a validated table of level `level` (validating it here could need `table`'s own
    /// validation to finish first), and — XSA-240 — `table` must not itself be used as a
    /// linear target, nor may the target hold linear entries: the target gets a general and a
    /// type reference, and both linear counts move.
    fn get_linear(&self, level: u32, e: u64, table: Mfn, a: Asker) -> Result<(), Errno> {
        if !self.mem.pv_linear_pt() {
            log::debug!("{table}: linear page table refused (pv-linear-pt=0)");
            return Err(Errno::EINVAL);
        }
        if e & PTE_RW != 0 {
            log::debug!("{table}: linear page table refused: writable");
            return Err(Errno::EINVAL);
        }
        let target = pte_mfn(e);
        if target == table {
            return Ok(());
        }
        if self.owner(table) != Some(a.id) {
            return Err(Errno::EINVAL);
        }
        self.get_page(target, a.id)?;
        if !self.inc_linear_entries(table) {
            self.put_page(target);
            return Err(Errno::EINVAL);
        }
        if !self.inc_linear_uses(target) {
            self.dec_linear_entries(table);
            self.put_page(target);
            return Err(Errno::EINVAL);
        }
        let want = PageType::table(level).ok_or(Errno::EINVAL)?;
        let taken = self.info(target).is_some_and(|f| {
            f.type_info
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |x| {
                    let ty = PageType::from_bits((x & TYPE_MASK) >> TYPE_SHIFT);
                    (ty == want && x & VALIDATED != 0 && x & COUNT_MASK != COUNT_MASK)
                        .then_some(x + 1)
                })
                .is_ok()
        });
        if !taken {
            self.dec_linear_uses(target);
            self.dec_linear_entries(table);
            self.put_page(target);
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// Updates `mfn`'s signed linear count with `f` (`None`: refused); true if it changed.
    fn linear_update(&self, mfn: Mfn, f: impl FnMut(i16) -> Option<i16>) -> bool {
        self.info(mfn).is_some_and(|i| {
            i.linear
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, f)
                .is_ok()
        })
    }

    /// Xen's `inc_linear_entries`: `table` holds one more linear entry; false if it is used as
    /// a linear target itself, or at the count's limit.
    fn inc_linear_entries(&self, table: Mfn) -> bool {
        self.linear_update(table, |c| if c >= 0 { c.checked_add(1) } else { None })
    }

    /// Xen's `dec_linear_entries`.
    fn dec_linear_entries(&self, table: Mfn) {
        self.linear_update(table, |c| (c > 0).then(|| c - 1));
    }

    /// Xen's `inc_linear_uses`: one more linear entry uses `target`; false if it holds linear
    /// entries itself, or at the count's limit.
    fn inc_linear_uses(&self, target: Mfn) -> bool {
        self.linear_update(target, |c| if c <= 0 { c.checked_sub(1) } else { None })
    }

    /// Xen's `dec_linear_uses`.
    fn dec_linear_uses(&self, target: Mfn) {
        self.linear_update(target, |c| (c < 0).then(|| c + 1));
    }

    /// Releases what a present entry of the upper-level table `table` holds (Xen's
    /// `put_page_from_l2e`/`l3e`/`l4e`): nothing for an entry that maps its own table, else a
    /// type and a general reference (and the linear counts of a linear entry).
    fn put_upper(&self, e: u64, table: Mfn) {
        if e & PTE_P == 0 || pte_mfn(e) == table {
            return;
        }
        self.put_page_type_from(pte_mfn(e), Some(table));
        self.put_page(pte_mfn(e));
    }

    fn get_entry(&self, level: u32, e: u64, table: Mfn, a: Asker) -> Result<(), Errno> {
        if level == 1 {
            self.get_l1e(e, a)
        } else {
            self.get_upper(level, e, table, a)
        }
    }

    fn put_entry(&self, level: u32, e: u64, table: Mfn) {
        if level == 1 {
            self.put_l1e(e)
        } else {
            self.put_upper(e, table)
        }
    }

    /// Guest entries get the user bit (the guest kernel runs in ring 3, Xen's
    /// `adjust_guest_l*e`) and lose the global bit: a global guest mapping would survive the
    /// switch to another domain's page tables.
    fn adjust(e: u64) -> u64 {
        if e & PTE_P != 0 {
            (e | PTE_US) & !PTE_G
        } else {
            e
        }
    }

    /// Validates `mfn` as `ty`, taking the references of its entries; on failure releases the
    /// ones taken.
    fn validate(&self, mfn: Mfn, ty: PageType, a: Asker) -> Result<(), Errno> {
        let Some(level) = ty.level() else {
            // A descriptor page: every descriptor checked (and fixed up), no references.
            for i in 0..512 {
                let d = crate::arch::x86_64::segments::check_descriptor(self.mem.read(mfn, i))
                    .ok_or(Errno::EINVAL)?;
                self.mem.write(mfn, i, d);
            }
            return Ok(());
        };
        for i in 0..512 {
            if level == 4 && !is_guest_l4_slot(i) {
                self.mem.write(mfn, i, self.mem.xen_l4_entry(i));
                continue;
            }
            let e = Self::adjust(self.mem.read(mfn, i));
            if let Err(err) = self.get_entry(level, e, mfn, a) {
                log::debug!("validating {mfn} as L{level}: entry {i} {e:#x} refused ({err:?})");
                for j in (0..i).rev() {
                    if level == 4 && !is_guest_l4_slot(j) {
                        continue;
                    }
                    self.put_entry(level, self.mem.read(mfn, j), mfn);
                }
                return Err(err);
            }
            self.mem.write(mfn, i, e);
        }
        Ok(())
    }

    fn devalidate(&self, mfn: Mfn, ty: PageType) {
        let Some(level) = ty.level() else { return };
        for i in 0..512 {
            if level == 4 && !is_guest_l4_slot(i) {
                continue;
            }
            self.put_entry(level, self.mem.read(mfn, i), mfn);
        }
    }

    /// Changes entry `index` of the validated page table `table` to `new` (Xen's
    /// `mod_l*_entry`): the new entry's references are taken before the old one's are dropped.
    /// With `preserve_ad`, the accessed and dirty bits of the old entry are kept
    /// (`MMU_PT_UPDATE_PRESERVE_AD`). Returns the level of the table.
    pub fn mod_entry(
        &self,
        table: Mfn,
        index: usize,
        new: u64,
        preserve_ad: bool,
        a: Asker,
    ) -> Result<u32, Errno> {
        let ts = self.type_state(table);
        let level = ts.ty.level().ok_or(Errno::EINVAL)?;
        if !ts.validated || index >= 512 {
            return Err(Errno::EINVAL);
        }
        if level == 4 && !is_guest_l4_slot(index) {
            return Err(Errno::EINVAL);
        }
        let old = self.mem.read(table, index);
        let mut new = Self::adjust(new);
        // Xen's `get_page_from_l1e` for `mmio_ro_ranges`: "Forcing read-only access".
        if level == 1
            && new & (PTE_P | PTE_RW) == PTE_P | PTE_RW
            && a.io
            && self.owner(pte_mfn(new)) == Some(DomId::IO)
            && self.mem.io_read_only(pte_mfn(new))
        {
            new &= !PTE_RW;
        }
        if preserve_ad {
            new |= old & (PTE_A | PTE_D);
        }
        // Same frame, same access (only A/D or nothing-to-count bits changed): no counting, as
        // Xen's fast path (`FASTPATH_FLAG_WHITELIST`). RW is not among those bits at any level:
        // in an L1 it decides the writable type, and above it a linear entry must stay
        // read-only — so a change of RW takes the new entry's references afresh (and refuses
        // a writable linear entry) before the old ones go.
        let refs = |e: u64| (e & PTE_P != 0).then_some((e & ADDR_MASK, e & PTE_RW));
        if refs(old) == refs(new) {
            if new & PTE_P != 0 && new & disallowed(level, a.io) != 0 {
                return Err(Errno::EINVAL);
            }
            self.mem.write(table, index, new);
            return Ok(level);
        }
        self.get_entry(level, new, table, a)?;
        self.mem.write(table, index, new);
        self.put_entry(level, old, table);
        Ok(level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    struct Mem {
        pages: RefCell<HashMap<Mfn, [u64; 512]>>,
        freed: RefCell<Vec<Mfn>>,
        flushes: std::cell::Cell<u32>,
        /// `pv-linear-pt`.
        linear_pt: std::cell::Cell<bool>,
    }

    impl PtMemory for &Mem {
        fn read(&self, mfn: Mfn, index: usize) -> u64 {
            self.pages.borrow().get(&mfn).map_or(0, |p| p[index])
        }
        fn write(&self, mfn: Mfn, index: usize, value: u64) {
            self.pages.borrow_mut().entry(mfn).or_insert([0; 512])[index] = value;
        }
        fn xen_l4_entry(&self, slot: usize) -> u64 {
            0x8000_0000 | Mfn(slot as u64).addr() | 0x63
        }
        fn freed(&self, mfn: Mfn) {
            self.freed.borrow_mut().push(mfn);
        }
        fn flush_tlbs(&self) {
            self.flushes.set(self.flushes.get() + 1);
        }
        fn io_read_only(&self, mfn: Mfn) -> bool {
            mfn == Mfn(98)
        }
        fn pv_linear_pt(&self) -> bool {
            self.linear_pt.get()
        }
    }

    const D: Asker = Asker {
        id: DomId(1),
        io: false,
        iomem: false,
    };
    const OTHER: Asker = Asker {
        id: DomId(2),
        io: false,
        iomem: false,
    };

    fn setup(n: usize) -> (Vec<FrameInfo>, Mem) {
        let frames: Vec<FrameInfo> = (0..n).map(|_| FrameInfo::new()).collect();
        (
            frames,
            Mem {
                pages: RefCell::new(HashMap::new()),
                freed: RefCell::new(Vec::new()),
                flushes: std::cell::Cell::new(0),
                linear_pt: std::cell::Cell::new(true),
            },
        )
    }

    fn pte(mfn: Mfn, flags: u64) -> u64 {
        mfn.addr() | flags
    }

    /// Frames 10 (L4), 11 (L3), 12 (L2), 13 (L1); 20.. data; all owned by domain 1; frame 90
    /// owned by domain 2.
    fn tree(t: &FrameTable<'_, &Mem>) {
        for m in [10, 11, 12, 13, 20, 21, 22, 23] {
            t.assign(Mfn(m), DomId(1));
        }
        t.assign(Mfn(90), DomId(2));
        t.mem.write(Mfn(10), 0, pte(Mfn(11), PTE_P | PTE_RW));
        t.mem.write(Mfn(11), 0, pte(Mfn(12), PTE_P | PTE_RW));
        t.mem.write(Mfn(12), 0, pte(Mfn(13), PTE_P | PTE_RW));
        t.mem.write(Mfn(13), 0, pte(Mfn(20), PTE_P | PTE_RW));
        t.mem.write(Mfn(13), 1, pte(Mfn(21), PTE_P));
        // The tables themselves mapped read-only, as Linux and the builder do.
        t.mem.write(Mfn(13), 2, pte(Mfn(13), PTE_P));
    }

    #[test]
    fn validating_an_l4_types_the_whole_tree_and_unpin_releases_it() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        tree(&t);
        t.pin(Mfn(10), PageType::L4, D).unwrap();
        let st = |m| t.type_state(Mfn(m));
        assert_eq!(
            (st(10).ty, st(10).count, st(10).pinned),
            (PageType::L4, 1, true)
        );
        assert_eq!((st(11).ty, st(11).count), (PageType::L3, 1));
        assert_eq!((st(12).ty, st(12).count), (PageType::L2, 1));
        assert_eq!((st(13).ty, st(13).count), (PageType::L1, 1));
        assert_eq!((st(20).ty, st(20).count), (PageType::Writable, 1));
        assert_eq!(st(21).ty, PageType::None);
        assert_eq!(t.count(Mfn(21)), 2, "allocation + read-only mapping");
        assert_eq!(
            t.count(Mfn(13)),
            3,
            "allocation + L2 entry + its own mapping"
        );
        // The reserved slots were filled and the user bit added to guest entries.
        assert_eq!((&mem).read(Mfn(10), 256) & 0x8000_0000, 0x8000_0000);
        assert_ne!((&mem).read(Mfn(13), 0) & PTE_US, 0);
        assert_eq!(
            t.pin(Mfn(10), PageType::L4, D),
            Err(Errno::EINVAL),
            "pinned twice"
        );
        t.unpin(Mfn(10), DomId(1)).unwrap();
        assert_eq!(t.unpin(Mfn(10), DomId(1)), Err(Errno::EINVAL), "not pinned");
        assert_eq!(
            (st(20).ty, st(20).count),
            (PageType::Writable, 0),
            "a writable type outlives its last use"
        );
        for m in [10, 11, 12, 13, 21] {
            assert_eq!(st(m).ty, PageType::None, "frame {m}");
            assert_eq!(
                t.count(Mfn(m)),
                1,
                "frame {m} back to its allocation reference"
            );
        }
    }

    #[test]
    fn a_writable_mapping_of_a_page_table_is_refused() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        tree(&t);
        (&mem).write(Mfn(13), 3, pte(Mfn(12), PTE_P | PTE_RW));
        assert_eq!(t.pin(Mfn(10), PageType::L4, D), Err(Errno::EBUSY));
        for m in [10, 11, 12, 13, 20, 21] {
            assert_eq!(
                t.type_state(Mfn(m)).count,
                0,
                "frame {m} released after the failure"
            );
            assert_eq!(t.count(Mfn(m)), 1, "frame {m}");
        }
        // And the other way: a page mapped writable cannot become a table.
        (&mem).write(Mfn(13), 3, 0);
        t.pin(Mfn(13), PageType::L1, D).unwrap();
        assert_eq!(
            t.get_page_and_type(Mfn(20), PageType::L1, D),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn foreign_frames_reserved_slots_and_bad_flags_are_refused() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        tree(&t);
        t.pin(Mfn(13), PageType::L1, D).unwrap();
        assert_eq!(
            t.mod_entry(Mfn(13), 5, pte(Mfn(90), PTE_P), false, D),
            Err(Errno::EBUSY)
        );
        assert_eq!(
            t.mod_entry(Mfn(13), 5, pte(Mfn(22), PTE_P | PTE_PCD), false, D),
            Err(Errno::EINVAL),
            "cache attributes without I/O privilege"
        );
        assert_eq!(
            t.mod_entry(Mfn(13), 5, pte(Mfn(99), PTE_P), false, D),
            Err(Errno::EBUSY)
        );
        t.mark_io(Mfn(99));
        assert_eq!(
            t.mod_entry(Mfn(13), 5, pte(Mfn(99), PTE_P), false, D),
            Err(Errno::EPERM)
        );
        // The control domain mapping for a domain without I/O memory (`foreigndom`): it may
        // use cache bits in its own tables, but the I/O frame is the page owner's to have.
        assert_eq!(
            t.mod_entry(
                Mfn(13),
                5,
                pte(Mfn(99), PTE_P | PTE_PCD),
                false,
                Asker {
                    id: DomId(1),
                    io: true,
                    iomem: false,
                }
            ),
            Err(Errno::EPERM)
        );
        assert_eq!(
            t.mod_entry(
                Mfn(13),
                5,
                pte(Mfn(99), PTE_P | PTE_PCD),
                false,
                Asker {
                    id: DomId(1),
                    io: true,
                    iomem: true,
                }
            ),
            Ok(1)
        );
        // An I/O frame in the read-only set: a writable mapping is made read-only.
        t.mark_io(Mfn(98));
        let io = Asker {
            id: DomId(1),
            io: true,
            iomem: true,
        };
        assert_eq!(
            t.mod_entry(Mfn(13), 6, pte(Mfn(98), PTE_P | PTE_RW), false, io),
            Ok(1)
        );
        let e = (&mem).read(Mfn(13), 6);
        assert_eq!((pte_mfn(e), e & PTE_RW), (Mfn(98), 0), "forced read-only");
        // The pinned L1 is shared by the tree: pinning the L4 takes another L1 reference.
        t.pin(Mfn(10), PageType::L4, D).unwrap();
        assert_eq!(t.type_state(Mfn(13)).count, 2);
        assert_eq!(
            t.mod_entry(Mfn(10), 260, pte(Mfn(11), PTE_P), false, D),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            t.mod_entry(Mfn(12), 1, pte(Mfn(22), PTE_P | PTE_PSE), false, D),
            Err(Errno::EINVAL),
            "superpages"
        );
        assert_eq!(t.get_page(Mfn(90), DomId(1)), Err(Errno::EINVAL));
        assert_eq!(t.get_page(Mfn(90), OTHER.id), Ok(()));
    }

    #[test]
    fn mod_entry_moves_references() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        tree(&t);
        t.pin(Mfn(10), PageType::L4, D).unwrap();
        // Map 22 writable, then remap the slot read-only to 23, then clear it.
        t.mod_entry(Mfn(13), 7, pte(Mfn(22), PTE_P | PTE_RW), false, D)
            .unwrap();
        assert_eq!(t.type_state(Mfn(22)).ty, PageType::Writable);
        t.mod_entry(Mfn(13), 7, pte(Mfn(23), PTE_P), false, D)
            .unwrap();
        assert_eq!(t.type_state(Mfn(22)).count, 0);
        assert_eq!((t.count(Mfn(22)), t.count(Mfn(23))), (1, 2));
        t.mod_entry(Mfn(13), 7, 0, false, D).unwrap();
        assert_eq!(t.count(Mfn(23)), 1);
        // A/D preserved on request; flags-only change of the same frame counts nothing.
        (&mem).write(Mfn(13), 0, (&mem).read(Mfn(13), 0) | PTE_A | PTE_D);
        t.mod_entry(Mfn(13), 0, pte(Mfn(20), PTE_P | PTE_RW), true, D)
            .unwrap();
        assert_eq!((&mem).read(Mfn(13), 0) & (PTE_A | PTE_D), PTE_A | PTE_D);
        assert_eq!(t.type_state(Mfn(20)).count, 1);
        // Dropping write access to 20 releases its writable type.
        t.mod_entry(Mfn(13), 0, pte(Mfn(20), PTE_P), false, D)
            .unwrap();
        assert_eq!(t.type_state(Mfn(20)).count, 0);
        // Now 20 can become an L1 (empty), and be hooked into the L2: the writable mapping may
        // still be in some TLB, so the type change flushes them.
        let flushes = mem.flushes.get();
        t.mod_entry(Mfn(12), 1, pte(Mfn(20), PTE_P | PTE_RW), false, D)
            .unwrap();
        assert_eq!(t.type_state(Mfn(20)).ty, PageType::L1);
        assert_eq!(
            mem.flushes.get(),
            flushes + 1,
            "TLBs flushed at the type change"
        );
        // Unhooking it releases the L1 type.
        t.mod_entry(Mfn(12), 1, 0, false, D).unwrap();
        assert_eq!(t.type_state(Mfn(20)).ty, PageType::None);
        // Updates to a page that is not a validated table are refused here.
        assert_eq!(t.mod_entry(Mfn(21), 0, 0, false, D), Err(Errno::EINVAL));
    }

    #[test]
    fn steal_takes_only_an_unreferenced_frame_and_shuts_out_new_references() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        t.assign(Mfn(60), DomId(1));
        assert!(!t.steal(Mfn(60), DomId(2)), "not the owner");
        t.get_page(Mfn(60), DomId(1)).unwrap();
        assert!(!t.steal(Mfn(60), DomId(1)), "a mapping holds it");
        assert_eq!(t.count(Mfn(60)), 2, "nothing changed");
        assert!(t.allocated(Mfn(60)));
        t.put_page(Mfn(60));
        assert!(t.steal(Mfn(60), DomId(1)));
        assert_eq!(
            t.get_page(Mfn(60), DomId(1)),
            Err(Errno::EINVAL),
            "no new reference"
        );
        assert!(!t.release(Mfn(60)), "nor a second giving back");
        t.unsteal(Mfn(60));
        assert_eq!((t.count(Mfn(60)), t.allocated(Mfn(60))), (1, true));
        assert!(t.steal(Mfn(60), DomId(1)));
        t.free_stolen(Mfn(60));
        assert_eq!(t.owner(Mfn(60)), None);
        assert_eq!(*mem.freed.borrow(), vec![Mfn(60)]);
    }

    #[test]
    fn release_keeps_a_frame_others_still_reference() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        t.assign(Mfn(50), DomId(1));
        t.get_page(Mfn(50), DomId(1)).unwrap();
        assert!(!t.release(Mfn(50)), "still referenced");
        assert!(!t.allocated(Mfn(50)));
        assert!(!t.release(Mfn(50)), "a second release drops nothing");
        assert_eq!(t.count(Mfn(50)), 1, "the other reference is intact");
        assert_eq!(t.owner(Mfn(50)), Some(DomId(1)));
        assert!(mem.freed.borrow().is_empty());
        assert!(t.put_page(Mfn(50)), "last reference frees it");
        assert_eq!(t.owner(Mfn(50)), None);
        assert_eq!(*mem.freed.borrow(), vec![Mfn(50)]);
        assert_eq!(t.get_page(Mfn(50), DomId(1)), Err(Errno::EINVAL));
    }

    #[test]
    fn self_referencing_tables_read_only_accepted_writable_refused_never_looped() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        t.assign(Mfn(10), DomId(1));
        t.assign(Mfn(11), DomId(1));
        // L4 → L3 → (the L4 as an L2): a type conflict, and no linear entry either (the L4 is
        // no L3), not an infinite recursion.
        (&mem).write(Mfn(10), 0, pte(Mfn(11), PTE_P));
        (&mem).write(Mfn(11), 0, pte(Mfn(10), PTE_P));
        assert_eq!(t.pin(Mfn(10), PageType::L4, D), Err(Errno::EINVAL));
        assert_eq!((t.count(Mfn(10)), t.count(Mfn(11))), (1, 1));
        assert_eq!((t.linear_count(Mfn(10)), t.linear_count(Mfn(11))), (0, 0));
        // An L2 that maps itself read-only as its own L1: a linear entry to its own table,
        // accepted with no reference taken (Xen's `get_l2_linear_pagetable`, `pde_mfn` case).
        (&mem).write(Mfn(11), 0, pte(Mfn(11), PTE_P));
        t.pin(Mfn(11), PageType::L2, D).unwrap();
        assert_eq!(
            t.count(Mfn(11)),
            2,
            "allocation + pin, nothing for the self entry"
        );
        assert_eq!(t.type_state(Mfn(11)).count, 1);
        t.unpin(Mfn(11), DomId(1)).unwrap();
        assert_eq!(
            (t.count(Mfn(11)), t.type_state(Mfn(11)).ty),
            (1, PageType::None)
        );
        // Writable, it would let the guest write its own entries: refused ("Attempt to create
        // linear p.t. with write perms").
        (&mem).write(Mfn(11), 0, pte(Mfn(11), PTE_P | PTE_RW));
        assert_eq!(t.pin(Mfn(11), PageType::L2, D), Err(Errno::EINVAL));
        assert_eq!(t.count(Mfn(11)), 1);
        // The same for an L4 slot (`get_l4_linear_pagetable`), the usual recursive mapping.
        (&mem).write(Mfn(10), 0, 0);
        (&mem).write(Mfn(10), 300, pte(Mfn(10), PTE_P | PTE_RW));
        assert_eq!(t.pin(Mfn(10), PageType::L4, D), Err(Errno::EINVAL));
        (&mem).write(Mfn(10), 300, pte(Mfn(10), PTE_P));
        t.pin(Mfn(10), PageType::L4, D).unwrap();
        assert_eq!((t.count(Mfn(10)), t.type_state(Mfn(10)).count), (2, 1));
        t.unpin(Mfn(10), DomId(1)).unwrap();
        assert_eq!((t.count(Mfn(10)), t.type_state(Mfn(10)).count), (1, 0));
    }

    /// Frames 14 and 15: two more empty L2s of domain 1, pinned; frame 16 an empty L3 and 17
    /// an empty L4 of domain 1, pinned too.
    fn more_tables(t: &FrameTable<'_, &Mem>) {
        for m in [14, 15, 16, 17] {
            t.assign(Mfn(m), DomId(1));
        }
        t.pin(Mfn(14), PageType::L2, D).unwrap();
        t.pin(Mfn(15), PageType::L2, D).unwrap();
        t.pin(Mfn(16), PageType::L3, D).unwrap();
        t.pin(Mfn(17), PageType::L4, D).unwrap();
    }

    /// (general count, type count, linear count) of `m`.
    fn counts(t: &FrameTable<'_, &Mem>, m: u64) -> (u32, u32, i16) {
        (
            t.count(Mfn(m)),
            t.type_state(Mfn(m)).count,
            t.linear_count(Mfn(m)),
        )
    }

    #[test]
    fn a_read_only_linear_entry_to_another_validated_table_takes_a_type_reference() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        tree(&t);
        more_tables(&t);
        t.pin(Mfn(10), PageType::L4, D).unwrap();
        assert_eq!(counts(&t, 12), (2, 1, 0));
        assert_eq!(counts(&t, 14), (2, 1, 0));
        // L2 12 maps L2 14 (`get_l2_linear_pagetable`): 14 gains a general and a type
        // reference and is used once (-1); 12 holds one linear entry (+1).
        assert_eq!(
            t.mod_entry(Mfn(12), 5, pte(Mfn(14), PTE_P), false, D),
            Ok(2)
        );
        assert_eq!(counts(&t, 14), (3, 2, -1));
        assert_eq!(counts(&t, 12), (2, 1, 1));
        // A second use of the same target from the same table.
        t.mod_entry(Mfn(12), 6, pte(Mfn(14), PTE_P), false, D)
            .unwrap();
        assert_eq!(counts(&t, 14), (4, 3, -2));
        assert_eq!(counts(&t, 12), (2, 1, 2));
        // Clearing the entries (`put_page_from_l2e` → `_put_page_type` with `ptpg` of the same
        // type) drops both counts with the references.
        t.mod_entry(Mfn(12), 5, 0, false, D).unwrap();
        t.mod_entry(Mfn(12), 6, 0, false, D).unwrap();
        assert_eq!(counts(&t, 14), (2, 1, 0));
        assert_eq!(counts(&t, 12), (2, 1, 0));
        // The same at the other levels: L3 11 → L3 16 (`get_l3_linear_pagetable`) and L4 10
        // → L4 17 (`get_l4_linear_pagetable`).
        assert_eq!(
            t.mod_entry(Mfn(11), 7, pte(Mfn(16), PTE_P), false, D),
            Ok(3)
        );
        assert_eq!((counts(&t, 16), t.linear_count(Mfn(11))), ((3, 2, -1), 1));
        assert_eq!(
            t.mod_entry(Mfn(10), 300, pte(Mfn(17), PTE_P), false, D),
            Ok(4)
        );
        assert_eq!((counts(&t, 17), t.linear_count(Mfn(10))), ((3, 2, -1), 1));
        // Unpinning the L4 de-validates the tree, linear entries included
        // (`demote_l*_table` → `put_page_from_l*e`).
        t.unpin(Mfn(10), DomId(1)).unwrap();
        for m in [16, 17] {
            assert_eq!(counts(&t, m), (2, 1, 0), "frame {m}");
        }
        for m in [10, 11, 12, 13] {
            assert_eq!(counts(&t, m), (1, 0, 0), "frame {m}");
        }
    }

    #[test]
    fn a_writable_linear_entry_is_refused() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        tree(&t);
        more_tables(&t);
        t.pin(Mfn(10), PageType::L4, D).unwrap();
        // `define_get_linear_pagetable`: "Attempt to create linear p.t. with write perms".
        for (table, target, index) in [(12, 14, 5), (12, 12, 5), (11, 16, 7), (10, 10, 300)] {
            assert_eq!(
                t.mod_entry(
                    Mfn(table),
                    index,
                    pte(Mfn(target), PTE_P | PTE_RW),
                    false,
                    D
                ),
                Err(Errno::EINVAL),
                "L{} {table} → {target}",
                t.type_state(Mfn(table)).ty.level().unwrap_or(0)
            );
            assert_eq!((&mem).read(Mfn(table), index), 0);
        }
        assert_eq!(counts(&t, 14), (2, 1, 0));
        assert_eq!(counts(&t, 12), (2, 1, 0));
    }

    #[test]
    fn the_fast_path_never_makes_a_linear_entry_writable() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        tree(&t);
        more_tables(&t);
        t.pin(Mfn(10), PageType::L4, D).unwrap();
        // Xen's `mod_l2_entry` fast path changes only `FASTPATH_FLAG_WHITELIST` bits (no RW):
        // RO → RW of an existing linear entry goes through `get_page_from_l2e` and is refused.
        t.mod_entry(Mfn(12), 5, pte(Mfn(14), PTE_P), false, D)
            .unwrap();
        assert_eq!(
            t.mod_entry(Mfn(12), 5, pte(Mfn(14), PTE_P | PTE_RW), false, D),
            Err(Errno::EINVAL)
        );
        assert_eq!((&mem).read(Mfn(12), 5) & PTE_RW, 0, "still read-only");
        // Whitelisted bits (accessed, NX) stay on the fast path.
        t.mod_entry(Mfn(12), 5, pte(Mfn(14), PTE_P | PTE_A | PTE_NX), false, D)
            .unwrap();
        assert_eq!(counts(&t, 14), (3, 2, -1));
        // The self-referencing L4 slot likewise (`mod_l4_entry`).
        t.mod_entry(Mfn(10), 300, pte(Mfn(10), PTE_P), false, D)
            .unwrap();
        assert_eq!(
            t.mod_entry(Mfn(10), 300, pte(Mfn(10), PTE_P | PTE_RW), false, D),
            Err(Errno::EINVAL)
        );
        assert_eq!((&mem).read(Mfn(10), 300) & PTE_RW, 0);
        // An ordinary entry may change RW both ways; the references balance.
        t.mod_entry(Mfn(12), 0, pte(Mfn(13), PTE_P), false, D)
            .unwrap();
        t.mod_entry(Mfn(12), 0, pte(Mfn(13), PTE_P | PTE_RW), false, D)
            .unwrap();
        assert_eq!(
            counts(&t, 13),
            (3, 1, 0),
            "allocation + L2 entry + own mapping"
        );
        t.mod_entry(Mfn(12), 5, 0, false, D).unwrap();
        t.mod_entry(Mfn(10), 300, 0, false, D).unwrap();
        assert_eq!(counts(&t, 14), (2, 1, 0));
        assert_eq!(counts(&t, 10), (2, 1, 0));
    }

    #[test]
    fn a_linear_entry_needs_a_validated_table_of_the_same_level_of_the_same_domain() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        tree(&t);
        more_tables(&t);
        t.pin(Mfn(10), PageType::L4, D).unwrap();
        // `get_l2_linear_pagetable`: the target must be `PGT_l2_page_table|PGT_validated`.
        // An L3 is neither an L1 nor an L2.
        assert_eq!(
            t.mod_entry(Mfn(12), 5, pte(Mfn(11), PTE_P), false, D),
            Err(Errno::EINVAL)
        );
        // A page mapped writable (20) cannot become an L1, and is no L2.
        assert_eq!(
            t.mod_entry(Mfn(12), 5, pte(Mfn(20), PTE_P), false, D),
            Err(Errno::EINVAL)
        );
        // Another domain's L2: `get_page_from_mfn` fails.
        t.assign(Mfn(30), DomId(2));
        t.pin(Mfn(30), PageType::L2, OTHER).unwrap();
        assert_eq!(
            t.mod_entry(Mfn(12), 5, pte(Mfn(30), PTE_P), false, D),
            Err(Errno::EINVAL)
        );
        // A table of another domain holding the entry: "Make sure the page table belongs to
        // the correct domain".
        t.assign(Mfn(31), DomId(2));
        t.pin(Mfn(31), PageType::L2, OTHER).unwrap();
        assert_eq!(
            t.mod_entry(Mfn(31), 5, pte(Mfn(14), PTE_P), false, D),
            Err(Errno::EINVAL)
        );
        // An L2 no longer validated (its type gone with its last use) is taken as an L1 when
        // it validates as one: an ordinary entry, not a linear one.
        t.unpin(Mfn(15), DomId(1)).unwrap();
        assert_eq!(
            t.mod_entry(Mfn(12), 5, pte(Mfn(15), PTE_P), false, D),
            Ok(2)
        );
        assert_eq!(t.type_state(Mfn(15)).ty, PageType::L1);
        assert_eq!(t.linear_count(Mfn(12)), 0);
        t.mod_entry(Mfn(12), 5, 0, false, D).unwrap();
        // …and when it does not validate as an L1 (a writable mapping of a page table), that
        // error stands: no linear attempt for anything but -EINVAL.
        (&mem).write(Mfn(15), 0, pte(Mfn(13), PTE_P | PTE_RW));
        assert_eq!(
            t.mod_entry(Mfn(12), 5, pte(Mfn(15), PTE_P), false, D),
            Err(Errno::EBUSY)
        );
        for m in [11, 14, 15, 20, 30, 31] {
            assert_eq!(t.linear_count(Mfn(m)), 0, "frame {m}");
        }
        assert_eq!(counts(&t, 14), (2, 1, 0));
        assert_eq!(t.count(Mfn(15)), 1);
        assert_eq!(t.linear_count(Mfn(12)), 0);
    }

    #[test]
    fn xsa240_a_linear_target_holds_no_linear_entries_and_a_holder_is_no_target() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        tree(&t);
        more_tables(&t);
        t.pin(Mfn(10), PageType::L4, D).unwrap();
        t.mod_entry(Mfn(12), 5, pte(Mfn(14), PTE_P), false, D)
            .unwrap();
        // 14 is a linear target: `inc_linear_entries` refuses it any linear entry.
        assert_eq!(
            t.mod_entry(Mfn(14), 0, pte(Mfn(15), PTE_P), false, D),
            Err(Errno::EINVAL)
        );
        // 12 holds a linear entry: `inc_linear_uses` refuses it as a target.
        assert_eq!(
            t.mod_entry(Mfn(15), 0, pte(Mfn(12), PTE_P), false, D),
            Err(Errno::EINVAL)
        );
        // Neither refusal left a count behind.
        assert_eq!(counts(&t, 15), (2, 1, 0));
        assert_eq!(counts(&t, 14), (3, 2, -1));
        assert_eq!(counts(&t, 12), (2, 1, 1));
        // A self-reference counts for nothing, so it is allowed on either side.
        t.mod_entry(Mfn(14), 1, pte(Mfn(14), PTE_P), false, D)
            .unwrap();
        t.mod_entry(Mfn(12), 7, pte(Mfn(12), PTE_P), false, D)
            .unwrap();
        assert_eq!((t.linear_count(Mfn(14)), t.linear_count(Mfn(12))), (-1, 1));
        // Once the linear entry goes, both may take the other role.
        t.mod_entry(Mfn(12), 5, 0, false, D).unwrap();
        assert_eq!(
            t.mod_entry(Mfn(15), 0, pte(Mfn(12), PTE_P), false, D),
            Ok(2)
        );
        assert_eq!(
            t.mod_entry(Mfn(14), 0, pte(Mfn(15), PTE_P), false, D),
            Err(Errno::EINVAL),
            "15 holds a linear entry now"
        );
        t.mod_entry(Mfn(15), 0, 0, false, D).unwrap();
        assert_eq!(
            t.mod_entry(Mfn(14), 0, pte(Mfn(15), PTE_P), false, D),
            Ok(2)
        );
        t.mod_entry(Mfn(14), 0, 0, false, D).unwrap();
        for m in [12, 14, 15] {
            assert_eq!(t.linear_count(Mfn(m)), 0, "frame {m}");
        }
    }

    #[test]
    fn the_last_reference_of_a_linear_target_through_its_entry_devalidates_it() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        tree(&t);
        more_tables(&t);
        // 14 maps L1 13, so its de-validation is visible.
        t.mod_entry(Mfn(14), 0, pte(Mfn(13), PTE_P), false, D)
            .unwrap();
        t.pin(Mfn(10), PageType::L4, D).unwrap();
        t.mod_entry(Mfn(12), 5, pte(Mfn(14), PTE_P), false, D)
            .unwrap();
        t.unpin(Mfn(14), DomId(1)).unwrap();
        assert_eq!(counts(&t, 14), (2, 1, -1), "held by the linear entry alone");
        assert!(t.type_state(Mfn(14)).validated);
        // Clearing the entry drops the last type reference: `_put_final_page_type`
        // de-validates 14 (releasing its L1) and adjusts both linear counts.
        let l1 = t.type_state(Mfn(13)).count;
        t.mod_entry(Mfn(12), 5, 0, false, D).unwrap();
        assert_eq!(counts(&t, 14), (1, 0, 0));
        assert_eq!(t.type_state(Mfn(14)).ty, PageType::None);
        assert_eq!(t.type_state(Mfn(13)).count, l1 - 1);
        assert_eq!(t.linear_count(Mfn(12)), 0);
        // And when the holder goes first (unpinning the tree), the same.
        t.pin(Mfn(14), PageType::L2, D).unwrap();
        t.mod_entry(Mfn(12), 5, pte(Mfn(14), PTE_P), false, D)
            .unwrap();
        t.unpin(Mfn(14), DomId(1)).unwrap();
        t.unpin(Mfn(10), DomId(1)).unwrap();
        for m in [10, 11, 12, 13, 14] {
            assert_eq!(counts(&t, m), (1, 0, 0), "frame {m}");
        }
    }

    #[test]
    fn a_failed_validation_releases_the_linear_entries_it_took() {
        let (frames, mem) = setup(100);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        tree(&t);
        more_tables(&t);
        t.assign(Mfn(40), DomId(1));
        // 40 as an L2: entry 0 linear to 14, entry 1 itself, entry 2 another domain's frame.
        (&mem).write(Mfn(40), 0, pte(Mfn(14), PTE_P));
        (&mem).write(Mfn(40), 1, pte(Mfn(40), PTE_P));
        (&mem).write(Mfn(40), 2, pte(Mfn(90), PTE_P));
        assert_eq!(t.pin(Mfn(40), PageType::L2, D), Err(Errno::EINVAL));
        assert_eq!(counts(&t, 14), (2, 1, 0));
        assert_eq!(counts(&t, 40), (1, 0, 0));
        // Without the bad entry it validates, holding one linear entry (the self entry counts
        // nothing), and its unpin releases it.
        (&mem).write(Mfn(40), 2, 0);
        t.pin(Mfn(40), PageType::L2, D).unwrap();
        assert_eq!(counts(&t, 14), (3, 2, -1));
        assert_eq!(counts(&t, 40), (2, 1, 1));
        t.unpin(Mfn(40), DomId(1)).unwrap();
        assert_eq!(counts(&t, 14), (2, 1, 0));
        assert_eq!(counts(&t, 40), (1, 0, 0));
    }

    #[test]
    fn linear_entries_are_refused_with_pv_linear_pt_off() {
        let (frames, mem) = setup(100);
        mem.linear_pt.set(false);
        let t = FrameTable {
            frames: &frames,
            mem: &mem,
        };
        tree(&t);
        more_tables(&t);
        t.pin(Mfn(10), PageType::L4, D).unwrap();
        // `define_get_linear_pagetable`: "Attempt to create linear p.t. (feature disabled)" —
        // self references and other tables alike, at every level.
        for (table, target, index) in [(12, 14, 5), (12, 12, 5), (11, 16, 7), (10, 10, 300)] {
            assert_eq!(
                t.mod_entry(Mfn(table), index, pte(Mfn(target), PTE_P), false, D),
                Err(Errno::EINVAL),
                "{table} → {target}"
            );
        }
        t.assign(Mfn(40), DomId(1));
        (&mem).write(Mfn(40), 1, pte(Mfn(40), PTE_P));
        assert_eq!(t.pin(Mfn(40), PageType::L2, D), Err(Errno::EINVAL));
        // Ordinary entries are unaffected.
        assert_eq!(
            t.mod_entry(Mfn(12), 5, pte(Mfn(13), PTE_P), false, D),
            Ok(2)
        );
        for m in [10, 12, 14, 16, 40] {
            assert_eq!(t.linear_count(Mfn(m)), 0, "frame {m}");
        }
    }
}
