//! Frames that belong to domains: zeroing, writing and reading them through the direct map, and
//! the machine-to-phys table (M2P) every PV guest may read at `MACH2PHYS_VIRT_START`.

use super::{alloc_frame, phys_to_virt};
use core::sync::atomic::{AtomicU64, Ordering};
use xen_abi::{Maddr, Mfn, Pfn};

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
    Ok(phys_to_virt(mfn.maddr() + offset as u64))
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

/// Copies `len` bytes from frame `src` at `src_off` to frame `dst` at `dst_off` in one pass
/// (`memmove`: the two ranges may be the same frame and overlap), as Xen's grant copy does
/// with both pages mapped.
pub fn frame_copy(
    src: Mfn,
    src_off: usize,
    dst: Mfn,
    dst_off: usize,
    len: usize,
) -> Result<(), FrameAccessError> {
    let from = check(src, src_off, len)?;
    let to = check(dst, dst_off, len)?;
    // SAFETY: both ranges lie inside RAM frames (checked), reached through the direct map, and
    // alias no Rust object (as in `frame_write`); `copy` allows them to overlap.
    unsafe { core::ptr::copy(from, to, len) };
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

/// Allocates a zeroed frame.
pub fn alloc_zeroed() -> Option<Mfn> {
    let mfn = alloc_frame()?;
    frame_zero(mfn).ok()?;
    Some(mfn)
}

/// `INVALID_M2P_ENTRY`.
pub const INVALID_M2P_ENTRY: Pfn = Pfn(u64::MAX);

static M2P_PA: AtomicU64 = AtomicU64::new(0);
static M2P_ENTRIES: AtomicU64 = AtomicU64::new(0);

/// Records the M2P table's location (set up by `mm::init`).
pub(super) fn set_m2p(pa: Maddr, entries: u64) {
    M2P_PA.store(pa.0, Ordering::Relaxed);
    M2P_ENTRIES.store(entries, Ordering::Relaxed);
}

/// The M2P entry of `mfn` through the direct map.
fn m2p_entry(mfn: Mfn) -> *mut u64 {
    phys_to_virt(Maddr(M2P_PA.load(Ordering::Relaxed)) + mfn.0 * 8).cast::<u64>()
}

/// Sets M2P[mfn] = pfn (or `INVALID_M2P_ENTRY`).
pub fn m2p_set(mfn: Mfn, pfn: Pfn) {
    if mfn.0 >= M2P_ENTRIES.load(Ordering::Relaxed) {
        return;
    }
    let p = m2p_entry(mfn);
    // SAFETY: the M2P table is a contiguous hypervisor allocation of M2P_ENTRIES u64s,
    // direct-mapped; mfn is in range (checked). Guests only read it.
    unsafe { p.write_volatile(pfn.0) };
}

/// M2P[mfn].
pub fn m2p_get(mfn: Mfn) -> Pfn {
    if mfn.0 >= M2P_ENTRIES.load(Ordering::Relaxed) {
        return INVALID_M2P_ENTRY;
    }
    let p = m2p_entry(mfn);
    // SAFETY: as in `m2p_set`.
    Pfn(unsafe { p.read_volatile() })
}

/// Number of M2P entries (one per machine frame up to the top of RAM).
pub fn m2p_entries() -> u64 {
    M2P_ENTRIES.load(Ordering::Relaxed)
}

/// Atomically sets bit `bit` (< 64) of the aligned u64 at `offset` of frame `mfn`; returns the
/// old bit (`lock bts`). `None` if the word is not inside a RAM frame.
pub fn frame_test_and_set_bit(mfn: Mfn, offset: usize, bit: u32) -> Option<bool> {
    word_op(mfn, offset, |w| {
        w.fetch_or(1 << (bit & 63), core::sync::atomic::Ordering::SeqCst) & (1 << (bit & 63)) != 0
    })
}

/// Atomically clears bit `bit` and returns the old bit (`lock btr`).
pub fn frame_test_and_clear_bit(mfn: Mfn, offset: usize, bit: u32) -> Option<bool> {
    word_op(mfn, offset, |w| {
        w.fetch_and(!(1 << (bit & 63)), core::sync::atomic::Ordering::SeqCst) & (1 << (bit & 63))
            != 0
    })
}

/// Reads bit `bit` of the aligned u64 at `offset`.
pub fn frame_test_bit(mfn: Mfn, offset: usize, bit: u32) -> Option<bool> {
    word_op(mfn, offset, |w| {
        w.load(core::sync::atomic::Ordering::SeqCst) & (1 << (bit & 63)) != 0
    })
}

/// Atomically swaps the byte at `offset` with `v`, returning the old byte.
pub fn frame_swap_u8(mfn: Mfn, offset: usize, v: u8) -> Option<u8> {
    let p = check(mfn, offset, 1).ok()?;
    // SAFETY: one byte inside a RAM frame (checked), reached through the direct map; guest
    // frames are shared with the guest, so every access is atomic and no reference is kept.
    let a = unsafe { &*(p as *const core::sync::atomic::AtomicU8) };
    Some(a.swap(v, core::sync::atomic::Ordering::SeqCst))
}

/// Atomically replaces the aligned u64 at `offset` of frame `mfn` with `new` if it equals
/// `old` (`lock cmpxchg`): `Ok(old)` on success, `Err(found)` otherwise. `None` if the word is not
/// inside a RAM frame.
pub fn frame_cmpxchg_u64(mfn: Mfn, offset: usize, old: u64, new: u64) -> Option<Result<u64, u64>> {
    word_op(mfn, offset, |w| {
        w.compare_exchange(
            old,
            new,
            core::sync::atomic::Ordering::SeqCst,
            core::sync::atomic::Ordering::SeqCst,
        )
    })
}

/// Atomically ANDs the aligned u64 at `offset` of frame `mfn` with `mask` (`lock and`).
pub fn frame_fetch_and_u64(mfn: Mfn, offset: usize, mask: u64) -> Option<u64> {
    word_op(mfn, offset, |w| {
        w.fetch_and(mask, core::sync::atomic::Ordering::SeqCst)
    })
}

/// Runs `f` on the aligned u32 at `offset` of frame `mfn` as an atomic (the FIFO event-channel
/// words and control blocks). `None` if it is not inside a RAM frame or not 4-aligned.
pub fn frame_u32_op<R>(
    mfn: Mfn,
    offset: usize,
    f: impl FnOnce(&core::sync::atomic::AtomicU32) -> R,
) -> Option<R> {
    if !offset.is_multiple_of(4) {
        return None;
    }
    let p = check(mfn, offset, 4).ok()?;
    // SAFETY: an aligned u32 inside a RAM frame (checked), direct-mapped; accessed only atomically
    // and only for this call (the guest may change it concurrently, which atomics allow).
    let a = unsafe { &*(p as *const core::sync::atomic::AtomicU32) };
    Some(f(a))
}

fn word_op<R>(
    mfn: Mfn,
    offset: usize,
    f: impl FnOnce(&core::sync::atomic::AtomicU64) -> R,
) -> Option<R> {
    if !offset.is_multiple_of(8) {
        return None;
    }
    let p = check(mfn, offset, 8).ok()?;
    // SAFETY: an aligned u64 inside a RAM frame (checked), direct-mapped; accessed only atomically
    // and only for this call (the guest may change it concurrently, which atomics allow).
    let a = unsafe { &*(p as *const core::sync::atomic::AtomicU64) };
    Some(f(a))
}
