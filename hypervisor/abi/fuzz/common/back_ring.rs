//! The body of the `back_ring_consumer` fuzz target and a bounds-checking `Vec` ring memory,
//! shared (via `#[path]`) by the fuzz crate and xen-abi's stable tests, so every fuzz finding
//! replays as a regression test.
//!
//! Input bytes → a shared ring image plus a sequence of peer moves and back-end operations. The
//! memory asserts that every entry access lands exactly on a slot inside the ring; the body asserts
//! the back ring's invariants after every step. Any panic is a finding.
#![allow(dead_code)]

use xen_abi::io::blkif::{BlkifRequest, BlkifResponse};
use xen_abi::io::netif::{NetifRxRequest, NetifRxResponse, NetifTxRequest, NetifTxResponse};
use xen_abi::io::ring::{
    ring_size, BackRing, RingEntry, RingError, RingIdx, RingMemory, REQ_EVENT_OFFSET,
    REQ_PROD_OFFSET, RING_ENTRIES_OFFSET, RSP_EVENT_OFFSET, RSP_PROD_OFFSET,
};
use xen_abi::PAGE_SIZE;

/// A shared ring area over a `Vec`, single-threaded. Every access is bounds-checked with an
/// assertion; once [`VecMemory::set_slots`] is called, every access past the header must also be
/// exactly one slot (or a prefix of one) inside the ring.
#[derive(Clone, Debug)]
pub struct VecMemory {
    pub bytes: Vec<u8>,
    slots: Option<(usize, u32)>,
    /// Full fences executed (for tests that check the ordering calls).
    pub fences: usize,
}

impl VecMemory {
    pub fn new(size: usize) -> Self {
        VecMemory {
            bytes: vec![0; size],
            slots: None,
            fences: 0,
        }
    }

    /// Restrict entry accesses to `nr` slots of `entry_size` bytes after the header.
    pub fn set_slots(&mut self, entry_size: usize, nr: u32) {
        self.slots = Some((entry_size, nr));
    }

    /// Peer-side store of an index (no ordering needed single-threaded).
    pub fn poke_index(&mut self, offset: usize, v: RingIdx) {
        self.check(offset, 4, true);
        self.bytes[offset..offset + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Peer-side load of an index.
    pub fn peek_index(&self, offset: usize) -> RingIdx {
        self.check(offset, 4, true);
        let mut b = [0; 4];
        b.copy_from_slice(&self.bytes[offset..offset + 4]);
        u32::from_le_bytes(b)
    }

    fn check(&self, offset: usize, len: usize, index: bool) {
        let end = offset
            .checked_add(len)
            .expect("ring access offset overflows");
        assert!(
            end <= self.bytes.len(),
            "ring access {offset}+{len} outside {} bytes",
            self.bytes.len()
        );
        if index {
            assert!(
                offset.is_multiple_of(4) && end <= RING_ENTRIES_OFFSET,
                "index access at {offset} not an aligned header word"
            );
            return;
        }
        if let (Some((entry, nr)), true) = (self.slots, offset >= RING_ENTRIES_OFFSET) {
            let rel = offset - RING_ENTRIES_OFFSET;
            assert!(
                rel.is_multiple_of(entry),
                "entry access at {offset} not on a slot"
            );
            assert!(
                rel / entry < nr as usize,
                "entry access at {offset} is slot {} of {nr}",
                rel / entry
            );
            assert!(len <= entry, "entry access of {len} bytes > slot {entry}");
        }
    }
}

impl RingMemory for VecMemory {
    fn size(&self) -> usize {
        self.bytes.len()
    }
    fn read_index(&self, offset: usize) -> RingIdx {
        self.peek_index(offset)
    }
    fn write_index(&mut self, offset: usize, value: RingIdx) {
        self.poke_index(offset, value)
    }
    fn full_fence(&self) {}
    fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        self.check(offset, dst.len(), false);
        dst.copy_from_slice(&self.bytes[offset..offset + dst.len()]);
    }
    fn write_bytes(&mut self, offset: usize, src: &[u8]) {
        self.check(offset, src.len(), false);
        self.bytes[offset..offset + src.len()].copy_from_slice(src);
    }
}

/// What one run did (for the replay test's sanity checks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub taken: u64,
    pub responded: u64,
    pub overflows: u64,
}

/// Read a little-endian `u32` from the front of `b` (zero-extended if short).
fn le32(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    for (d, s) in w.iter_mut().zip(b) {
        *d = *s;
    }
    u32::from_le_bytes(w)
}

/// The fuzz body: byte 0 chooses the protocol and ring geometry, bytes 1..3 the length of the
/// page image that follows, bytes after the image are 5-byte operations.
pub fn run_back_ring_consumer(data: &[u8]) -> Outcome {
    let Some((&cfg, rest)) = data.split_first() else {
        return Outcome::default();
    };
    let order = u32::from((cfg >> 2) & 1);
    // Trim the area by 0..=7 * 37 bytes so some rings are not a whole number of entries.
    let area = (PAGE_SIZE << order) - usize::from(cfg >> 5) * 37;
    match cfg & 3 {
        0 | 3 => run::<BlkifRequest, BlkifResponse>(area, rest),
        1 => run::<NetifTxRequest, NetifTxResponse>(area, rest),
        _ => run::<NetifRxRequest, NetifRxResponse>(area, rest),
    }
}

fn run<Req: RingEntry, Rsp: RingEntry + Default>(area: usize, data: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    let mut mem = VecMemory::new(area);
    let image_len = (le32(data.get(..2).unwrap_or(&[])) as usize).min(area);
    let data = data.get(2..).unwrap_or(&[]);
    let (image, ops) = data.split_at(image_len.min(data.len()));
    mem.bytes[..image.len()].copy_from_slice(image);

    let start = le32(ops.get(..4).unwrap_or(&[]));
    let ops = ops.get(4..).unwrap_or(&[]);
    let mut back = match BackRing::<Req, Rsp>::attach(&mem, start) {
        Ok(b) => b,
        Err(e) => panic!("a ring of {area} bytes must attach: {e}"),
    };
    let size = back.size();
    assert_eq!(size, ring_size(area, BackRing::<Req, Rsp>::ENTRY_SIZE));
    assert!(size.is_power_of_two());
    mem.set_slots(BackRing::<Req, Rsp>::ENTRY_SIZE, size);

    for op in ops.chunks(5) {
        let (&code, arg) = op.split_first().expect("chunks are non-empty");
        let v = le32(arg);
        match code % 8 {
            // Peer: req_prod = anything.
            0 => mem.poke_index(REQ_PROD_OFFSET, v),
            // Peer: req_prod near req_cons, forwards or backwards by up to 32767.
            1 => {
                let delta = i32::from(v as i16) as u32;
                mem.poke_index(REQ_PROD_OFFSET, back.req_cons().wrapping_add(delta));
            }
            // Back: take up to 1..=64 requests.
            2 => {
                for _ in 0..=(v % 64) {
                    let before = back.req_cons();
                    match back.take_request(&mem) {
                        Ok(Some(_req)) => {
                            out.taken += 1;
                            assert_eq!(back.req_cons(), before.wrapping_add(1));
                        }
                        Ok(None) => break,
                        Err(e) => {
                            check_overflow(&e, &back, &mem);
                            out.overflows += 1;
                            assert_eq!(back.req_cons(), before, "an error consumed a request");
                            break;
                        }
                    }
                }
            }
            // Back: answer up to 1..=8 requests, then push and check notify.
            3 => {
                for _ in 0..=(v % 8) {
                    match back.put_response(&mut mem, &Rsp::default()) {
                        Ok(_) => out.responded += 1,
                        Err(RingError::NoRequestOutstanding) => break,
                        Err(e) => panic!("put_response: unexpected {e}"),
                    }
                }
                let _notify = back.push_responses_and_check_notify(&mut mem);
            }
            // Back: final check before sleeping.
            4 => match back.final_check_for_requests(&mut mem) {
                Ok(_) => {}
                Err(e) => {
                    check_overflow(&e, &back, &mem);
                    out.overflows += 1;
                }
            },
            // Peer: scribble one byte anywhere in the area.
            5 => {
                let at = (v & 0x00ff_ffff) as usize % area;
                mem.bytes[at] = (v >> 24) as u8;
            }
            // Peer: write an index it does not own (events, rsp_prod).
            6 => {
                let off = [REQ_EVENT_OFFSET, RSP_EVENT_OFFSET, RSP_PROD_OFFSET][(v % 3) as usize];
                mem.poke_index(off, v);
            }
            // Back: count unconsumed requests.
            _ => match back.unconsumed_requests(&mem) {
                Ok(n) => assert!(n <= size - back.requests_in_flight()),
                Err(e) => {
                    check_overflow(&e, &back, &mem);
                    out.overflows += 1;
                }
            },
        }
        assert!(
            back.requests_in_flight() <= size,
            "{} requests in flight on a ring of {size}",
            back.requests_in_flight()
        );
    }
    out
}

/// An error from the consumer must be an `Overflow` naming the producer index actually in memory,
/// which must really lie outside `req_cons..=rsp_prod_pvt + size`.
fn check_overflow<Req: RingEntry, Rsp: RingEntry>(
    e: &RingError,
    back: &BackRing<Req, Rsp>,
    mem: &VecMemory,
) {
    let RingError::Overflow { prod, cons, max } = *e else {
        panic!("consumer error other than Overflow: {e}");
    };
    assert_eq!(prod, mem.peek_index(REQ_PROD_OFFSET));
    assert_eq!(cons, back.req_cons());
    assert_eq!(max, back.rsp_prod_pvt().wrapping_add(back.size()));
    let in_window = prod.wrapping_sub(cons) <= max.wrapping_sub(cons);
    assert!(!in_window, "Overflow reported for in-window prod {prod:#x}");
}
