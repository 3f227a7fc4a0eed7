//! The physical frame allocator's bookkeeping: one bit per machine frame (1 = free). Pure code
//! over a borrowed word slice, so the host tests run it over a `Vec`; `mm` owns the global one.

use super::memmap::Range;
use xen_abi::Mfn;

/// Why a frame could not be freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The frame was already free: a double free.
    AlreadyFree(Mfn),
    /// The frame lies beyond the bitmap.
    OutOfRange(Mfn),
}

/// A bitmap of frames `0..nframes`.
#[derive(Debug)]
pub struct FrameBitmap<'a> {
    words: &'a mut [u64],
    nframes: u64,
    free: u64,
    /// Where the next single-frame search starts (a rotor keeps allocation O(1) amortised).
    next: u64,
}

/// Words needed for `nframes` frames.
pub const fn words_for(nframes: u64) -> usize {
    nframes.div_ceil(64) as usize
}

impl<'a> FrameBitmap<'a> {
    /// A bitmap with every frame in use; `words` must hold at least `words_for(nframes)` words.
    pub fn new(words: &'a mut [u64], nframes: u64) -> FrameBitmap<'a> {
        let nframes = nframes.min(words.len() as u64 * 64);
        words.fill(0);
        FrameBitmap {
            words,
            nframes,
            free: 0,
            next: 0,
        }
    }

    /// Moves the bitmap to another view of the same words (the boot window → the direct map).
    /// `words` must hold the same contents as the old slice.
    pub fn rebase(&mut self, words: &'a mut [u64]) {
        self.words = words;
    }

    /// Number of frames tracked.
    pub fn nframes(&self) -> u64 {
        self.nframes
    }

    /// Number of free frames.
    pub fn free_count(&self) -> u64 {
        self.free
    }

    fn bit(frame: u64) -> (usize, u64) {
        ((frame / 64) as usize, 1u64 << (frame % 64))
    }

    /// True if `mfn` is free.
    pub fn is_free(&self, mfn: Mfn) -> bool {
        let frame = mfn.0;
        if frame >= self.nframes {
            return false;
        }
        let (w, m) = Self::bit(frame);
        self.words.get(w).is_some_and(|word| word & m != 0)
    }

    fn set_free(&mut self, frame: u64, free: bool) {
        let (w, m) = Self::bit(frame);
        if let Some(word) = self.words.get_mut(w) {
            let was = *word & m != 0;
            if free && !was {
                *word |= m;
                self.free += 1;
            } else if !free && was {
                *word &= !m;
                self.free -= 1;
            }
        }
    }

    /// Marks every whole frame inside the page-aligned part of `range` free (idempotent).
    pub fn add_free_range(&mut self, range: Range) {
        let r = range.shrink_to_pages();
        let first = r.start.mfn().0;
        let last = r.end.mfn().0.min(self.nframes);
        for f in first..last {
            self.set_free(f, true);
        }
    }

    /// Marks every frame touching `range` in use (idempotent).
    pub fn reserve_range(&mut self, range: Range) {
        if range.is_empty() {
            return;
        }
        let first = range.start.mfn().0;
        let last = range.end.mfn_up().0.min(self.nframes);
        for f in first..last {
            self.set_free(f, false);
        }
    }

    /// Allocates one frame below frame `below` (exclusive).
    pub fn alloc_below(&mut self, below: Mfn) -> Option<Mfn> {
        let limit = below.0.min(self.nframes);
        if self.free == 0 || limit == 0 {
            return None;
        }
        let start = if self.next < limit { self.next } else { 0 };
        let found = self
            .find_free(start, limit)
            .or_else(|| self.find_free(0, start))?;
        self.set_free(found, false);
        self.next = found + 1;
        Some(Mfn(found))
    }

    /// Allocates one frame anywhere.
    pub fn alloc(&mut self) -> Option<Mfn> {
        self.alloc_below(Mfn(u64::MAX))
    }

    fn find_free(&self, from: u64, to: u64) -> Option<u64> {
        let mut f = from;
        while f < to {
            let (w, _) = Self::bit(f);
            let word = *self.words.get(w)?;
            let masked = word & (!0u64 << (f % 64));
            if masked != 0 {
                let cand = (w as u64) * 64 + u64::from(masked.trailing_zeros());
                return (cand < to).then_some(cand);
            }
            f = (w as u64 + 1) * 64;
        }
        None
    }

    /// Allocates `count` physically contiguous frames whose first frame is a multiple of `align`
    /// (in frames, a power of two), all below frame `below`. Returns the first frame.
    pub fn alloc_contiguous(&mut self, count: u64, align: u64, below: Mfn) -> Option<Mfn> {
        if count == 0 || !align.is_power_of_two() {
            return None;
        }
        let limit = below.0.min(self.nframes);
        let mut start = 0u64;
        while start.checked_add(count)? <= limit {
            match (start..start + count).find(|&f| !self.is_free(Mfn(f))) {
                None => {
                    for f in start..start + count {
                        self.set_free(f, false);
                    }
                    return Some(Mfn(start));
                }
                Some(busy) => start = (busy + 1).next_multiple_of(align),
            }
        }
        None
    }

    /// Returns a frame to the pool.
    pub fn free(&mut self, mfn: Mfn) -> Result<(), FrameError> {
        if mfn.0 >= self.nframes {
            return Err(FrameError::OutOfRange(mfn));
        }
        if self.is_free(mfn) {
            return Err(FrameError::AlreadyFree(mfn));
        }
        self.set_free(mfn.0, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use xen_abi::Maddr;

    /// `[start, end)` of physical memory.
    fn range(start: u64, end: u64) -> Range {
        Range::new(Maddr(start), Maddr(end))
    }

    #[test]
    fn new_bitmap_has_no_free_frame() {
        let mut w = vec![0xffff_ffff_ffff_ffffu64; 4];
        let mut b = FrameBitmap::new(&mut w, 256);
        assert_eq!(b.free_count(), 0);
        assert_eq!(b.alloc(), None);
    }

    #[test]
    fn alloc_returns_only_frames_of_free_ranges() {
        let mut w = vec![0u64; 4];
        let mut b = FrameBitmap::new(&mut w, 256);
        b.add_free_range(range(0x10000, 0x12000)); // frames 16, 17
        let a = b.alloc().unwrap();
        let c = b.alloc().unwrap();
        assert_eq!(BTreeSet::from([a, c]), BTreeSet::from([Mfn(16), Mfn(17)]));
        assert_eq!(b.alloc(), None);
    }

    #[test]
    fn free_twice_is_already_free_error() {
        let mut w = vec![0u64; 1];
        let mut b = FrameBitmap::new(&mut w, 64);
        b.add_free_range(range(0, 0x1000));
        let f = b.alloc().unwrap();
        assert_eq!(b.free(f), Ok(()));
        assert_eq!(b.free(f), Err(FrameError::AlreadyFree(f)));
        assert_eq!(b.free(Mfn(64)), Err(FrameError::OutOfRange(Mfn(64))));
    }

    #[test]
    fn alloc_below_respects_limit() {
        let mut w = vec![0u64; 2];
        let mut b = FrameBitmap::new(&mut w, 128);
        b.add_free_range(range(100 * 4096, 128 * 4096));
        assert_eq!(b.alloc_below(Mfn(100)), None);
        assert_eq!(b.alloc_below(Mfn(101)), Some(Mfn(100)));
    }

    #[test]
    fn alloc_contiguous_skips_busy_frames_and_aligns() {
        let mut w = vec![0u64; 2];
        let mut b = FrameBitmap::new(&mut w, 128);
        b.add_free_range(range(0, 128 * 4096));
        b.reserve_range(range(5 * 4096, 6 * 4096));
        assert_eq!(b.alloc_contiguous(8, 8, Mfn(128)), Some(Mfn(8)));
        assert_eq!(b.alloc_contiguous(4, 1, Mfn(128)), Some(Mfn(0)));
        assert_eq!(b.alloc_contiguous(200, 1, Mfn(128)), None);
        assert_eq!(b.free_count(), 128 - 1 - 8 - 4);
    }

    #[test]
    fn reserve_range_covers_partial_pages() {
        let mut w = vec![0u64; 1];
        let mut b = FrameBitmap::new(&mut w, 64);
        b.add_free_range(range(0, 64 * 4096));
        b.reserve_range(range(0x1fff, 0x2001)); // touches frames 1 and 2
        assert!(b.is_free(Mfn(0)) && !b.is_free(Mfn(1)) && !b.is_free(Mfn(2)) && b.is_free(Mfn(3)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        /// Against a set model: allocations are unique and free, frees of allocated frames succeed,
        /// the free count always equals the model's.
        #[test]
        fn bitmap_matches_set_model(ops in prop::collection::vec((0u8..3, 0u64..300), 1..200)) {
            let mut w = vec![0u64; words_for(300)];
            let mut b = FrameBitmap::new(&mut w, 300);
            b.add_free_range(range(0, 300 * 4096));
            let mut used = BTreeSet::new();
            for (op, arg) in ops {
                match op {
                    0 => if let Some(f) = b.alloc() { prop_assert!(used.insert(f)); },
                    1 => if let Some(f) = b.alloc_contiguous(arg % 7 + 1, 1, Mfn(300)) {
                        for x in 0..arg % 7 + 1 { prop_assert!(used.insert(f + x)); }
                    },
                    _ => {
                        let expect_ok = used.remove(&Mfn(arg));
                        prop_assert_eq!(b.free(Mfn(arg)).is_ok(), expect_ok);
                    }
                }
                prop_assert_eq!(b.free_count(), 300 - used.len() as u64);
            }
        }
    }
}
