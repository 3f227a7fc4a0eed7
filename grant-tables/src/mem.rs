//! The narrow traits through which the grant-table state machine reaches guest memory.
//!
//! The hypervisor implements them over real pages (the guest's grant-table frames, its p2m and
//! page-type bookkeeping); tests and the fuzz target implement them over plain vectors
//! (`fuzzing::SimMemory`, behind the `fuzzing` feature).

use xen_abi::grant_table::{GnttabStatus, GrantEntryV1, GrantEntryV2};
use xen_abi::{DomId, Gfn, GrantRef, Mfn, XenResult};

/// The 32-bit word Xen compare-and-swaps: `flags` in the low half, `domid` in the high half
/// (`union grant_combo` on little-endian x86).
pub const fn header_word(flags: u16, domid: DomId) -> u32 {
    (flags as u32) | ((domid.0 as u32) << 16)
}

/// The `(flags, domid)` halves of a [`header_word`].
pub const fn split_header_word(word: u32) -> (u16, DomId) {
    (word as u16, DomId((word >> 16) as u16))
}

/// A domain's shared grant entries, living in frames the guest can write at any time: v1
/// entries (8 bytes) or v2 entries (16 bytes) in the same frames, whichever version the
/// state machine says is in force, and in v2 the status words (`GTF_reading`/`GTF_writing`,
/// 16 bits an entry) in separate status frames.
///
/// Every method reads or writes guest memory once; callers never hold references into it.
/// `gref` is always below the table size the state machine tracks; an implementation that
/// nevertheless has no backing for it returns `None`, which the caller turns into
/// `GNTST_general_error`.
pub trait GrantEntries {
    /// One snapshot of entry `gref` of `dom`'s table.
    fn read_entry(&self, dom: DomId, gref: GrantRef) -> Option<GrantEntryV1>;

    /// Overwrite entry `gref` (used only by `GNTTABOP_swap_grant_ref`, under the table lock in Xen).
    fn write_entry(&mut self, dom: DomId, gref: GrantRef, entry: GrantEntryV1) -> Option<()>;

    /// Atomically replace the entry's first 32-bit word (see [`header_word`]) with `new` if it
    /// still equals `old`; return the value found (equal to `old` on success), as `cmpxchg`.
    fn cmpxchg_header(&mut self, dom: DomId, gref: GrantRef, old: u32, new: u32) -> Option<u32>;

    /// Atomically clear `mask` in the entry's `flags` (`gnttab_clear_flags`).
    fn clear_flags(&mut self, dom: DomId, gref: GrantRef, mask: u16);

    /// Make `dom`'s table `nr_frames` frames long (growing only). The hypervisor allocates,
    /// zeroes and shares the new frames with the guest. An error (e.g. `ENOMEM`) leaves the
    /// table as it was.
    fn grow_table(&mut self, dom: DomId, nr_frames: u32) -> XenResult<()>;

    /// One snapshot of v2 entry `gref` of `dom`'s table.
    fn read_entry_v2(&self, dom: DomId, gref: GrantRef) -> Option<GrantEntryV2>;

    /// Overwrite v2 entry `gref` (`swap_grant_ref`, and the reserved entries kept across a
    /// version switch).
    fn write_entry_v2(&mut self, dom: DomId, gref: GrantRef, entry: GrantEntryV2) -> Option<()>;

    /// The v2 status word of `gref`.
    fn read_status(&self, dom: DomId, gref: GrantRef) -> Option<u16>;

    /// Overwrite the v2 status word of `gref`.
    fn write_status(&mut self, dom: DomId, gref: GrantRef, status: u16) -> Option<()>;

    /// Atomically set `mask` in the v2 status word of `gref`.
    fn set_status_bits(&mut self, dom: DomId, gref: GrantRef, mask: u16) -> Option<()>;

    /// Atomically clear `mask` in the v2 status word of `gref` (`gnttab_clear_flags` on it).
    fn clear_status_bits(&mut self, dom: DomId, gref: GrantRef, mask: u16);

    /// Make `dom`'s status area `nr_frames` frames long (growing only; zeroed, shared with the
    /// guest writable: `gnttab_populate_status_frames`). An error leaves it as it was.
    fn grow_status(&mut self, dom: DomId, nr_frames: u32) -> XenResult<()>;

    /// Take back every status frame (`gnttab_unpopulate_status_frames`): `EBUSY`, with nothing
    /// changed, while the guest still maps one of them.
    fn release_status(&mut self, dom: DomId) -> XenResult<()>;

    /// Zero every shared frame of `dom`'s table (a version switch leaves no old-format crud).
    fn clear_shared(&mut self, dom: DomId);
}

/// A domain's frames, as the grant code needs them.
pub trait GuestFrames {
    /// The machine frame behind `owner`'s frame `gfn`, if `owner` owns it (`get_paged_frame`):
    /// `Err(GnttabStatus::BadPage)` for a frame that is not `owner`'s, `Err(GnttabStatus::Eagain)`
    /// for one that is paged out.
    fn resolve_frame(&self, owner: DomId, gfn: Gfn) -> Result<Mfn, GnttabStatus>;

    /// Whether `mfn` may take a writable type now (`get_page_type(pg, PGT_writable_page)`):
    /// false for a page-table or descriptor page.
    fn writable_type_ok(&self, mfn: Mfn) -> bool;

    /// The domain owning `mfn`, if the frame is valid and owned.
    fn owner_of(&self, mfn: Mfn) -> Option<DomId>;

    /// Take a general reference on `mfn` for the length of a copy, if `owner` still owns it
    /// (`get_page`, as Xen's `acquire_grant_for_copy` does): the owner may free the frame on
    /// another CPU (ballooning it out) while the copy runs, and a freed frame may already be
    /// someone else's. False means the frame is gone: the copy fails.
    fn hold_frame(&mut self, owner: DomId, mfn: Mfn) -> bool;
    /// Drop a reference [`GuestFrames::hold_frame`] took (`put_page`); the frame is freed now if
    /// its owner let it go meanwhile.
    fn release_frame(&mut self, mfn: Mfn);
    /// Copy `len` bytes from `src` at `src_off` to `dst` at `dst_off`. Both ranges have been
    /// checked to lie within one page, and both frames are held.
    fn copy_bytes(&mut self, src: Mfn, src_off: u16, dst: Mfn, dst_off: u16, len: u16);
}

/// Everything the state machine needs from the hypervisor.
pub trait GrantMemory: GrantEntries + GuestFrames {}

impl<T: GrantEntries + GuestFrames> GrantMemory for T {}
