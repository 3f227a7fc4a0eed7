//! Frames that belong to domains: zeroing, writing and reading them through the direct map, and
//! the machine-to-phys table (M2P) every PV guest may read at `MACH2PHYS_VIRT_START`.

use super::{alloc_frame, phys_to_virt};
use core::sync::atomic::{AtomicU64, Ordering};
use xen_abi::Mfn;

/// Why a frame access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameAccessError {
    /// Offset plus length runs past the end of the frame.
    OutOfFrame,
    /// The frame lies beyond RAM.
    NotRam(Mfn),
}

fn check(mfn: Mfn, offset: usize, len: usize) -> Result<*mut u8, FrameAccessError> {
    if offset.checked_add(len).is_none_or(|end| end > 4096) {
        return Err(FrameAccessError::OutOfFrame);
    }
    if mfn.0 >= super::ram_frames() {
        return Err(FrameAccessError::NotRam(mfn));
    }
    // `offset` < 4096 (checked above), so the sum stays inside the frame.
    Ok(phys_to_virt(mfn.addr() + offset as u64))
}

/// Copies `data` into frame `mfn` at `offset`.
pub fn frame_write(mfn: Mfn, offset: usize, data: &[u8]) -> Result<(), FrameAccessError> {
    let dst = check(mfn, offset, data.len())?;
    // SAFETY: `dst..dst+len` lies inside one RAM frame (checked), reached through the direct map.
    // Domain frames are never Rust objects of the hypervisor (the allocator hands each frame to
    // one owner), so this aliases no Rust reference; guests may race on the bytes, which is why
    // hypervisor code never forms references into them.
    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
    Ok(())
}

/// Copies bytes out of frame `mfn` at `offset` into `buf`.
pub fn frame_read(mfn: Mfn, offset: usize, buf: &mut [u8]) -> Result<(), FrameAccessError> {
    let src = check(mfn, offset, buf.len())?;
    // SAFETY: as in `frame_write`, reading instead of writing.
    unsafe { core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) };
    Ok(())
}

/// Reads the little-endian u64 at `offset` of frame `mfn` (volatile: guests may change it).
pub fn frame_read_u64(mfn: Mfn, offset: usize) -> Result<u64, FrameAccessError> {
    if !offset.is_multiple_of(8) {
        return Err(FrameAccessError::OutOfFrame);
    }
    let p = check(mfn, offset, 8)?.cast::<u64>();
    // SAFETY: aligned, inside one RAM frame (checked), direct-mapped.
    Ok(unsafe { p.read_volatile() })
}

/// Writes the u64 at `offset` of frame `mfn` (volatile).
pub fn frame_write_u64(mfn: Mfn, offset: usize, v: u64) -> Result<(), FrameAccessError> {
    if !offset.is_multiple_of(8) {
        return Err(FrameAccessError::OutOfFrame);
    }
    let p = check(mfn, offset, 8)?.cast::<u64>();
    // SAFETY: aligned, inside one RAM frame (checked), direct-mapped.
    unsafe { p.write_volatile(v) };
    Ok(())
}

/// Zeroes frame `mfn`.
pub fn frame_zero(mfn: Mfn) -> Result<(), FrameAccessError> {
    let p = check(mfn, 0, 4096)?;
    // SAFETY: a whole RAM frame, direct-mapped (checked).
    unsafe { core::ptr::write_bytes(p, 0, 4096) };
    Ok(())
}

/// A pointer to byte `offset` of frame `mfn` for atomic operations on guest-shared words
/// (`shared_info`); only `arch` and `mm` may dereference it.
pub fn frame_ptr(mfn: Mfn, offset: usize, len: usize) -> Result<*mut u8, FrameAccessError> {
    check(mfn, offset, len)
}

/// Allocates a zeroed frame.
pub fn alloc_zeroed() -> Option<Mfn> {
    let pa = alloc_frame()?;
    let mfn = Mfn(pa / 4096);
    frame_zero(mfn).ok()?;
    Some(mfn)
}

/// `INVALID_M2P_ENTRY`.
pub const INVALID_M2P_ENTRY: u64 = u64::MAX;

static M2P_PA: AtomicU64 = AtomicU64::new(0);
static M2P_ENTRIES: AtomicU64 = AtomicU64::new(0);

/// Records the M2P table's location (set up by `mm::init`).
pub(super) fn set_m2p(pa: u64, entries: u64) {
    M2P_PA.store(pa, Ordering::Relaxed);
    M2P_ENTRIES.store(entries, Ordering::Relaxed);
}

/// Sets M2P[mfn] = pfn (or `INVALID_M2P_ENTRY`).
pub fn m2p_set(mfn: Mfn, pfn: u64) {
    if mfn.0 >= M2P_ENTRIES.load(Ordering::Relaxed) {
        return;
    }
    let p = phys_to_virt(M2P_PA.load(Ordering::Relaxed) + mfn.0 * 8).cast::<u64>();
    // SAFETY: the M2P table is a contiguous hypervisor allocation of M2P_ENTRIES u64s,
    // direct-mapped; mfn is in range (checked). Guests only read it.
    unsafe { p.write_volatile(pfn) };
}

/// M2P[mfn].
pub fn m2p_get(mfn: Mfn) -> u64 {
    if mfn.0 >= M2P_ENTRIES.load(Ordering::Relaxed) {
        return INVALID_M2P_ENTRY;
    }
    let p = phys_to_virt(M2P_PA.load(Ordering::Relaxed) + mfn.0 * 8).cast::<u64>();
    // SAFETY: as in `m2p_set`.
    unsafe { p.read_volatile() }
}

/// Number of M2P entries (one per machine frame up to the top of RAM).
pub fn m2p_entries() -> u64 {
    M2P_ENTRIES.load(Ordering::Relaxed)
}
