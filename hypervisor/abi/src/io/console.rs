//! `io/console.h`: the PV console page (`struct xencons_interface`) and the byte-ring index
//! helpers the console and xenstore pages share.
//!
//! Both pages hold two byte rings whose producer *and* consumer indices live in shared memory.
//! [`ByteRing`] reads and writes such a ring through [`RingMemory`], validating the indices it
//! reads: a peer that moves an index backwards or more than the ring ahead gets
//! [`RingError::Overflow`], never an out-of-bounds copy.

use core::mem::{offset_of, size_of};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::ring::{RingError, RingIdx, RingMemory};

/// A console ring index (`XENCONS_RING_IDX`), free-running like every ring index.
#[doc(alias = "XENCONS_RING_IDX")]
pub type XenconsRingIdx = u32;

/// Size of the guest-input ring `in` (bytes the console daemon sends to the guest).
pub const XENCONS_IN_SIZE: u32 = 1024;
/// Size of the guest-output ring `out` (bytes the guest writes to its console).
pub const XENCONS_OUT_SIZE: u32 = 2048;

/// The PV console page (`struct xencons_interface`), shared by the guest and the console daemon.
#[doc(alias = "xencons_interface")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenconsInterface {
    /// `in`: daemon → guest bytes.
    pub r#in: [u8; XENCONS_IN_SIZE as usize],
    /// `out`: guest → daemon bytes.
    pub out: [u8; XENCONS_OUT_SIZE as usize],
    /// Guest's consumer index into `in`.
    pub in_cons: XenconsRingIdx,
    /// Daemon's producer index into `in`.
    pub in_prod: XenconsRingIdx,
    /// Daemon's consumer index into `out`.
    pub out_cons: XenconsRingIdx,
    /// Guest's producer index into `out`.
    pub out_prod: XenconsRingIdx,
}
const _: () = assert!(size_of::<XenconsInterface>() == 3088);

/// `MASK_XENCONS_IDX(idx, in)`: the byte offset of `idx` inside `in`.
#[doc(alias = "MASK_XENCONS_IDX")]
pub const fn mask_xencons_in_idx(idx: XenconsRingIdx) -> u32 {
    idx & (XENCONS_IN_SIZE - 1)
}

/// `MASK_XENCONS_IDX(idx, out)`: the byte offset of `idx` inside `out`.
#[doc(alias = "MASK_XENCONS_IDX")]
pub const fn mask_xencons_out_idx(idx: XenconsRingIdx) -> u32 {
    idx & (XENCONS_OUT_SIZE - 1)
}

/// One byte ring inside a shared page: where its data and its two indices are.
///
/// `size` must be a power of two (all of Xen's are); the constructors for the rings Xen defines
/// are [`XENCONS_IN`], [`XENCONS_OUT`] and `xs_wire`'s `XENSTORE_REQ`/`XENSTORE_RSP`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRing {
    /// Offset of the first data byte in the page.
    pub data_offset: usize,
    /// Data bytes; a power of two.
    pub size: u32,
    /// Offset of the consumer index.
    pub cons_offset: usize,
    /// Offset of the producer index.
    pub prod_offset: usize,
}

/// The console's `in` ring (the daemon produces, the guest consumes).
pub const XENCONS_IN: ByteRing = ByteRing {
    data_offset: offset_of!(XenconsInterface, r#in),
    size: XENCONS_IN_SIZE,
    cons_offset: offset_of!(XenconsInterface, in_cons),
    prod_offset: offset_of!(XenconsInterface, in_prod),
};

/// The console's `out` ring (the guest produces, the daemon consumes).
pub const XENCONS_OUT: ByteRing = ByteRing {
    data_offset: offset_of!(XenconsInterface, out),
    size: XENCONS_OUT_SIZE,
    cons_offset: offset_of!(XenconsInterface, out_cons),
    prod_offset: offset_of!(XenconsInterface, out_prod),
};

impl ByteRing {
    fn check<M: RingMemory + ?Sized>(&self, mem: &M) -> Result<(), RingError> {
        let needed = self
            .data_offset
            .saturating_add(self.size as usize)
            .max(self.cons_offset.saturating_add(4))
            .max(self.prod_offset.saturating_add(4));
        let size = mem.size();
        if self.size == 0 || !self.size.is_power_of_two() || size < needed {
            return Err(RingError::MemoryTooSmall { needed, size });
        }
        Ok(())
    }

    /// Read both indices (producer with acquire) and check `0 <= prod - cons <= size`.
    fn indices<M: RingMemory + ?Sized>(&self, mem: &M) -> Result<(RingIdx, RingIdx), RingError> {
        let cons = mem.read_index(self.cons_offset);
        let prod = mem.read_index(self.prod_offset);
        if prod.wrapping_sub(cons) > self.size {
            return Err(RingError::Overflow {
                prod,
                cons,
                max: cons.wrapping_add(self.size),
            });
        }
        Ok((prod, cons))
    }

    /// Bytes queued (`prod - cons`), validated.
    pub fn queued<M: RingMemory + ?Sized>(&self, mem: &M) -> Result<u32, RingError> {
        self.check(mem)?;
        let (prod, cons) = self.indices(mem)?;
        Ok(prod.wrapping_sub(cons))
    }

    /// Consumer side: copy up to `dst.len()` queued bytes into `dst`, then publish the new
    /// consumer index (release). Returns the number of bytes copied.
    pub fn read<M: RingMemory + ?Sized>(
        &self,
        mem: &mut M,
        dst: &mut [u8],
    ) -> Result<usize, RingError> {
        self.check(mem)?;
        let (prod, cons) = self.indices(mem)?;
        // `queued <= size <= u32::MAX`, so the count fits both types.
        let n = (prod.wrapping_sub(cons) as usize).min(dst.len());
        self.copy(cons, n, |off, range| {
            if let Some(d) = dst.get_mut(range) {
                mem.read_bytes(off, d);
            }
        });
        mem.write_index(self.cons_offset, cons.wrapping_add(n as u32));
        Ok(n)
    }

    /// Producer side: copy as much of `src` as fits, then publish the new producer index
    /// (release). Returns the number of bytes copied.
    pub fn write<M: RingMemory + ?Sized>(
        &self,
        mem: &mut M,
        src: &[u8],
    ) -> Result<usize, RingError> {
        self.check(mem)?;
        let (prod, cons) = self.indices(mem)?;
        let space = self.size - prod.wrapping_sub(cons);
        let n = (space as usize).min(src.len());
        self.copy(prod, n, |off, range| {
            if let Some(s) = src.get(range) {
                mem.write_bytes(off, s);
            }
        });
        mem.write_index(self.prod_offset, prod.wrapping_add(n as u32));
        Ok(n)
    }

    /// Consumer side, after [`RingError::Overflow`]: give up on what the producer claims is
    /// queued and publish `cons = prod` (release), so a peer that corrupted its indices starts
    /// again from its own producer index. No data is copied. Returns that producer index.
    pub fn resync<M: RingMemory + ?Sized>(&self, mem: &mut M) -> Result<RingIdx, RingError> {
        self.check(mem)?;
        let prod = mem.read_index(self.prod_offset);
        mem.write_index(self.cons_offset, prod);
        Ok(prod)
    }

    /// Observer side: copy the last `min(dst.len(), size, prod)` bytes the producer wrote, in
    /// order and ending at its current index, into the start of `dst`, consuming nothing (a
    /// console dump reads what is still in the ring, whether or not the daemon has taken it).
    /// Only the producer index is read. Returns the number of bytes copied.
    ///
    /// A producer still writing may overwrite the oldest of these bytes while they are copied;
    /// the newest ones are as it published them.
    pub fn recent<M: RingMemory + ?Sized>(
        &self,
        mem: &M,
        dst: &mut [u8],
    ) -> Result<usize, RingError> {
        self.check(mem)?;
        let prod = mem.read_index(self.prod_offset);
        // A free-running index below `size` has written only `prod` bytes since it started at 0
        // (after a wrap of 2^32 this under-reports the history; it never reads unwritten bytes).
        let n = (self.size.min(prod) as usize).min(dst.len());
        let start = prod.wrapping_sub(n as u32);
        self.copy(start, n, |off, range| {
            if let Some(d) = dst.get_mut(range) {
                mem.read_bytes(off, d);
            }
        });
        Ok(n)
    }

    /// Split `n <= size` bytes starting at free-running `idx` into at most two contiguous chunks:
    /// `f(page_offset, buffer_range)`.
    fn copy(&self, idx: RingIdx, n: usize, mut f: impl FnMut(usize, core::ops::Range<usize>)) {
        let start = (idx & (self.size - 1)) as usize;
        let first = n.min(self.size as usize - start);
        if first > 0 {
            f(self.data_offset + start, 0..first);
        }
        if n > first {
            f(self.data_offset, first..n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    struct Mem(XenconsInterface);

    impl RingMemory for Mem {
        fn size(&self) -> usize {
            size_of::<XenconsInterface>()
        }
        fn read_index(&self, offset: usize) -> RingIdx {
            let b = self.0.as_bytes();
            u32::from_le_bytes([b[offset], b[offset + 1], b[offset + 2], b[offset + 3]])
        }
        fn write_index(&mut self, offset: usize, value: RingIdx) {
            self.0.as_mut_bytes()[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
        }
        fn full_fence(&self) {}
        fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
            dst.copy_from_slice(&self.0.as_bytes()[offset..offset + dst.len()]);
        }
        fn write_bytes(&mut self, offset: usize, src: &[u8]) {
            self.0.as_mut_bytes()[offset..offset + src.len()].copy_from_slice(src);
        }
    }

    #[test]
    fn write_then_read_across_wrap_returns_same_bytes() {
        let mut m = Mem(XenconsInterface::new_zeroed());
        m.0.out_cons = u32::MAX - 2;
        m.0.out_prod = u32::MAX - 2;
        let msg = *b"hello, console";
        assert_eq!(XENCONS_OUT.write(&mut m, &msg), Ok(msg.len()));
        assert_eq!(XENCONS_OUT.queued(&m), Ok(msg.len() as u32));
        let mut buf = [0u8; 32];
        assert_eq!(XENCONS_OUT.read(&mut m, &mut buf), Ok(msg.len()));
        assert_eq!(&buf[..msg.len()], &msg);
        assert_eq!(m.0.out_cons, m.0.out_prod);
    }

    #[test]
    fn write_full_ring_copies_only_space() {
        let mut m = Mem(XenconsInterface::new_zeroed());
        let big = [7u8; 3000];
        assert_eq!(XENCONS_IN.write(&mut m, &big), Ok(1024));
        assert_eq!(XENCONS_IN.write(&mut m, &big), Ok(0));
    }

    #[test]
    fn read_prod_too_far_ahead_is_overflow() {
        let mut m = Mem(XenconsInterface::new_zeroed());
        m.0.out_cons = 10;
        m.0.out_prod = 10 + 2049;
        let mut buf = [0u8; 8];
        assert_eq!(
            XENCONS_OUT.read(&mut m, &mut buf),
            Err(RingError::Overflow {
                prod: 2059,
                cons: 10,
                max: 2058
            })
        );
    }

    #[test]
    fn read_prod_behind_cons_is_overflow() {
        let mut m = Mem(XenconsInterface::new_zeroed());
        m.0.out_cons = 10;
        m.0.out_prod = 9;
        let mut buf = [0u8; 8];
        assert!(matches!(
            XENCONS_OUT.read(&mut m, &mut buf),
            Err(RingError::Overflow { .. })
        ));
    }

    #[test]
    fn resync_after_overflow_publishes_prod_and_ring_reads_again() {
        let mut m = Mem(XenconsInterface::new_zeroed());
        m.0.out_cons = 10;
        m.0.out_prod = 10 + 5000;
        let overflow = RingError::Overflow {
            prod: 5010,
            cons: 10,
            max: 2058,
        };
        assert_eq!(XENCONS_OUT.queued(&m), Err(overflow));
        assert_eq!(XENCONS_OUT.resync(&mut m), Ok(5010));
        assert_eq!(m.0.out_cons, 5010);
        assert_eq!(XENCONS_OUT.queued(&m), Ok(0));
        assert_eq!(XENCONS_OUT.write(&mut m, b"again"), Ok(5));
        let mut buf = [0u8; 8];
        assert_eq!(XENCONS_OUT.read(&mut m, &mut buf), Ok(5));
        assert_eq!(&buf[..5], b"again");
    }

    #[test]
    fn recent_before_wrap_returns_everything_written_and_consumes_nothing() {
        let mut m = Mem(XenconsInterface::new_zeroed());
        assert_eq!(XENCONS_OUT.write(&mut m, b"first line\n"), Ok(11));
        let mut buf = [0u8; 4096];
        assert_eq!(XENCONS_OUT.recent(&m, &mut buf), Ok(11));
        assert_eq!(&buf[..11], b"first line\n");
        assert_eq!(m.0.out_cons, 0);
        assert_eq!(XENCONS_OUT.queued(&m), Ok(11));
    }

    #[test]
    fn recent_after_wrap_returns_last_ring_size_bytes_in_order() {
        let mut m = Mem(XenconsInterface::new_zeroed());
        m.0.out_cons = u32::MAX - 100;
        m.0.out_prod = u32::MAX - 100;
        let mut sink = [0u8; 2048];
        // 5000 bytes numbered 0..5000 (mod 251), drained as they go so the ring never fills.
        let mut data = [0u8; 5000];
        for (i, x) in data.iter_mut().enumerate() {
            *x = (i % 251) as u8;
        }
        for chunk in data.chunks(1000) {
            assert_eq!(XENCONS_OUT.write(&mut m, chunk), Ok(chunk.len()));
            assert_eq!(XENCONS_OUT.read(&mut m, &mut sink), Ok(chunk.len()));
        }
        let mut buf = [0u8; 4096];
        assert_eq!(XENCONS_OUT.recent(&m, &mut buf), Ok(2048));
        assert_eq!(&buf[..2048], &data[5000 - 2048..]);
        let mut small = [0u8; 10];
        assert_eq!(XENCONS_OUT.recent(&m, &mut small), Ok(10));
        assert_eq!(&small, &data[4990..]);
    }

    #[test]
    fn mask_idx_wraps_at_ring_size() {
        assert_eq!(mask_xencons_in_idx(1025), 1);
        assert_eq!(mask_xencons_out_idx(2049), 1);
    }
}
