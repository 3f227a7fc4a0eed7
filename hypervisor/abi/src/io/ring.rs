//! `io/ring.h`: the generic shared request/response ring — its layout, and the front and back
//! index logic over a narrow [`RingMemory`] trait.
//!
//! # Layout
//!
//! A shared ring is one or more contiguous pages (`PAGE_SIZE << ring-page-order` bytes): a 64-byte
//! [`SharedRingHeader`] (`req_prod`, `req_event`, `rsp_prod`, `rsp_event`, 4 bytes of `pvt`, 44
//! bytes of `__pad`) followed by an array of entries. Each entry is the C
//! `union { req; rsp; }`: [`entry_size`] bytes. The number of entries is the largest power of two
//! that fits ([`ring_size`], C's `__RING_SIZE`), so an index maps to a slot by masking.
//!
//! # Indices
//!
//! All four indices are free-running `u32` ([`RingIdx`]) that wrap at 2³²; every distance is a
//! wrapping subtraction. The front end owns `req_prod` and `rsp_event`, the back end `rsp_prod` and
//! `req_event`. Each side keeps its producer and consumer positions privately ([`FrontRing`],
//! [`BackRing`]) and publishes its producer index with a release store.
//!
//! # Trust
//!
//! The peer can write anything into the shared area at any time. The ring therefore:
//! * never hands out references into shared memory: [`BackRing::take_request`] and
//!   [`FrontRing::take_response`] copy the entry once into a local value;
//! * reads the peer's producer index once per call and checks it against what the peer could
//!   legitimately have produced; an index that moved backwards or too far ahead is
//!   [`RingError::Overflow`] carrying the offending values;
//! * computes every slot offset from its own private, masked indices, so no peer value can make it
//!   read or write outside the ring.
//!
//! Memory is a parameter: the same `FrontRing`/`BackRing` run over a backend's mapped grant pages,
//! a frontend's own page, or a test's `Vec`.

use core::marker::PhantomData;
use core::mem::{align_of, offset_of, size_of};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::errno::Errno;
use crate::types::{PAGE_SHIFT, PAGE_SIZE};

/// A free-running ring index (`RING_IDX`, `unsigned int`).
#[doc(alias = "RING_IDX")]
pub type RingIdx = u32;

/// The header at the start of every shared ring (the fixed part of C's `struct <name>_sring`).
///
/// `pvt` is C's `union { netif.smartpoll_active; tapif_user.msg; pvt_pad[4] }`, kept as raw bytes:
/// nothing in the 4.17 protocols reads it. `__pad` is 44 bytes, so the entries start at byte 64.
#[doc(alias = "sring")]
#[doc(alias = "DEFINE_RING_TYPES")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct SharedRingHeader {
    /// Requests produced by the front end.
    pub req_prod: RingIdx,
    /// The back end wants a notification when `req_prod` passes this index.
    pub req_event: RingIdx,
    /// Responses produced by the back end.
    pub rsp_prod: RingIdx,
    /// The front end wants a notification when `rsp_prod` passes this index.
    pub rsp_event: RingIdx,
    /// `pvt`: protocol-private bytes (`pvt_pad[4]`).
    #[doc(alias = "pvt_pad")]
    pub pvt: [u8; 4],
    /// `__pad`: reserved, zeroed by `SHARED_RING_INIT`.
    #[doc(alias = "__pad")]
    pub pad: [u8; 44],
}
const _: () = assert!(size_of::<SharedRingHeader>() == 64);

/// Byte offset of `req_prod` in the shared ring.
pub const REQ_PROD_OFFSET: usize = offset_of!(SharedRingHeader, req_prod);
/// Byte offset of `req_event` in the shared ring.
pub const REQ_EVENT_OFFSET: usize = offset_of!(SharedRingHeader, req_event);
/// Byte offset of `rsp_prod` in the shared ring.
pub const RSP_PROD_OFFSET: usize = offset_of!(SharedRingHeader, rsp_prod);
/// Byte offset of `rsp_event` in the shared ring.
pub const RSP_EVENT_OFFSET: usize = offset_of!(SharedRingHeader, rsp_event);
/// Byte offset of `pvt` in the shared ring.
pub const PVT_OFFSET: usize = offset_of!(SharedRingHeader, pvt);
/// Byte offset of the entry array (`offsetof(struct <name>_sring, ring)`).
pub const RING_ENTRIES_OFFSET: usize = size_of::<SharedRingHeader>();

/// Round down to a power of two (`__RD32`); zero stays zero.
#[doc(alias = "__RD32")]
pub const fn round_down_pow2(x: u32) -> u32 {
    if x == 0 {
        0
    } else {
        1 << (31 - x.leading_zeros())
    }
}

/// Size of one ring entry: `sizeof(union { Req req; Rsp rsp; })`, the larger of the two rounded up
/// to the stricter alignment.
pub const fn entry_size<Req, Rsp>() -> usize {
    let size = if size_of::<Req>() > size_of::<Rsp>() {
        size_of::<Req>()
    } else {
        size_of::<Rsp>()
    };
    let align = if align_of::<Req>() > align_of::<Rsp>() {
        align_of::<Req>()
    } else {
        align_of::<Rsp>()
    };
    size.div_ceil(align) * align
}

/// Number of entries of `entry_size` bytes in a shared area of `area_bytes` (`__RING_SIZE`): as
/// many as fit after the header, rounded down to a power of two. Zero if none fits.
///
/// C's `__RD32` silently drops bits above 31; here a quotient that does not fit 32 bits counts as
/// `u32::MAX` (so the result is 2³¹). No real ring comes near either.
#[doc(alias = "__RING_SIZE")]
#[doc(alias = "__CONST_RING_SIZE")]
pub const fn ring_size(area_bytes: usize, entry_size: usize) -> u32 {
    if entry_size == 0 || area_bytes < RING_ENTRIES_OFFSET {
        return 0;
    }
    let n = (area_bytes - RING_ENTRIES_OFFSET) / entry_size;
    let n = if n > u32::MAX as usize {
        u32::MAX
    } else {
        n as u32
    };
    round_down_pow2(n)
}

/// Bytes of a shared area of `2^order` pages (blkif/netif `ring-page-order`), or `None` if that
/// does not fit a `usize`.
pub const fn ring_area_bytes(order: u32) -> Option<usize> {
    if order >= usize::BITS - PAGE_SHIFT {
        None
    } else {
        Some(PAGE_SIZE << order)
    }
}

/// The notification decision of `RING_PUSH_{REQUESTS,RESPONSES}_AND_CHECK_NOTIFY`: having moved the
/// producer index from `old` to `new`, notify the peer iff its event index `event` lies in
/// `(old, new]`, computed as `(new - event) < (new - old)` in wrapping `u32` arithmetic.
pub const fn need_notify(old: RingIdx, new: RingIdx, event: RingIdx) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

/// The shared memory a ring lives in.
///
/// Offsets are bytes from the start of the shared area. The ring only ever passes offsets with
/// `offset + len <= self.size()` (it checks [`RingMemory::size`] before each access), and index
/// offsets that are 4-byte aligned. Implementations over memory the peer can write must perform the
/// accesses as single, untorn accesses (atomics or volatile), not through Rust references that
/// assume exclusivity.
pub trait RingMemory {
    /// Size of the shared area in bytes (`PAGE_SIZE << ring-page-order`).
    fn size(&self) -> usize;

    /// Load the `u32` index at `offset` with **acquire** ordering: entry reads that follow see at
    /// least what the peer wrote before it published this index (the consumer's `xen_rmb()`).
    fn read_index(&self, offset: usize) -> RingIdx;

    /// Store the `u32` index at `offset` with **release** ordering: entry writes that precede it are
    /// visible to the peer before the index is (the producer's `xen_wmb()`).
    fn write_index(&mut self, offset: usize, value: RingIdx);

    /// A full (sequentially consistent) fence, `xen_mb()`: orders an earlier index store before a
    /// later index load.
    fn full_fence(&self);

    /// Copy `dst.len()` bytes at `offset` out of the shared area.
    fn read_bytes(&self, offset: usize, dst: &mut [u8]);

    /// Copy `src` into the shared area at `offset`.
    fn write_bytes(&mut self, offset: usize, src: &[u8]);
}

/// A type that can travel in a ring slot: plain bytes both ways.
pub trait RingEntry: FromBytes + IntoBytes + Immutable + KnownLayout + Copy {}
impl<T: FromBytes + IntoBytes + Immutable + KnownLayout + Copy> RingEntry for T {}

/// What went wrong on a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The shared area cannot hold the header and at least one entry.
    AreaTooSmall {
        /// Size of the area offered.
        bytes: usize,
        /// Size of one entry.
        entry_size: usize,
    },
    /// The memory passed to an operation is smaller than the ring attached to it.
    MemoryTooSmall {
        /// Bytes the ring needs.
        needed: usize,
        /// Bytes the memory has.
        size: usize,
    },
    /// The peer's producer index is outside what it could legitimately have produced: a valid
    /// `prod` lies in `cons..=max` (wrapping). It moved backwards or more than the ring ahead.
    Overflow {
        /// The producer index as read from shared memory.
        prod: RingIdx,
        /// Our consumer index.
        cons: RingIdx,
        /// The furthest the producer may be.
        max: RingIdx,
    },
    /// `put_request` on a full ring (`RING_FULL`).
    Full,
    /// `put_response` with no consumed request left to answer.
    NoRequestOutstanding,
}

impl core::fmt::Display for RingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            RingError::AreaTooSmall { bytes, entry_size } => write!(
                f,
                "shared ring of {bytes} bytes cannot hold one {entry_size}-byte entry"
            ),
            RingError::MemoryTooSmall { needed, size } => {
                write!(f, "ring needs {needed} bytes of memory, got {size}")
            }
            RingError::Overflow { prod, cons, max } => write!(
                f,
                "peer producer index {prod:#x} outside {cons:#x}..={max:#x}"
            ),
            RingError::Full => f.write_str("ring full"),
            RingError::NoRequestOutstanding => f.write_str("no consumed request to respond to"),
        }
    }
}

impl core::error::Error for RingError {}

/// The errno a guest-facing caller reports: a misbehaving peer is `EIO` (as blkback fails a ring),
/// a full ring `EAGAIN`, a misuse by the caller `EINVAL`.
impl From<RingError> for Errno {
    fn from(e: RingError) -> Errno {
        match e {
            RingError::Overflow { .. } => Errno::EIO,
            RingError::Full => Errno::EAGAIN,
            RingError::AreaTooSmall { .. }
            | RingError::MemoryTooSmall { .. }
            | RingError::NoRequestOutstanding => Errno::EINVAL,
        }
    }
}

/// Geometry shared by both halves: entry count and the memory it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    nr_ents: u32,
    entry_size: usize,
}

impl Geometry {
    fn new(area_bytes: usize, entry_size: usize) -> Result<Self, RingError> {
        let nr_ents = ring_size(area_bytes, entry_size);
        if nr_ents == 0 {
            return Err(RingError::AreaTooSmall {
                bytes: area_bytes,
                entry_size,
            });
        }
        Ok(Geometry {
            nr_ents,
            entry_size,
        })
    }

    /// Bytes from the start of the area to the end of the last entry. Cannot overflow: `nr_ents`
    /// entries fit in an area whose size is a `usize`.
    fn needed(&self) -> usize {
        RING_ENTRIES_OFFSET + self.nr_ents as usize * self.entry_size
    }

    fn check<M: RingMemory + ?Sized>(&self, mem: &M) -> Result<(), RingError> {
        let needed = self.needed();
        let size = mem.size();
        if size < needed {
            Err(RingError::MemoryTooSmall { needed, size })
        } else {
            Ok(())
        }
    }

    /// Byte offset of the slot of private index `idx` (`RING_GET_REQUEST`'s masking).
    fn slot_offset(&self, idx: RingIdx) -> usize {
        RING_ENTRIES_OFFSET + (idx & (self.nr_ents - 1)) as usize * self.entry_size
    }
}

fn read_entry<T: RingEntry, M: RingMemory + ?Sized>(mem: &M, offset: usize) -> T {
    let mut v = T::new_zeroed();
    mem.read_bytes(offset, v.as_mut_bytes());
    v
}

/// `SHARED_RING_INIT`: indices to 0, event indices to 1, `pvt` and `__pad` zeroed.
#[doc(alias = "SHARED_RING_INIT")]
pub fn shared_ring_init<M: RingMemory + ?Sized>(mem: &mut M) -> Result<(), RingError> {
    if mem.size() < RING_ENTRIES_OFFSET {
        return Err(RingError::MemoryTooSmall {
            needed: RING_ENTRIES_OFFSET,
            size: mem.size(),
        });
    }
    mem.write_bytes(PVT_OFFSET, &[0; RING_ENTRIES_OFFSET - PVT_OFFSET]);
    mem.write_index(REQ_EVENT_OFFSET, 1);
    mem.write_index(RSP_EVENT_OFFSET, 1);
    mem.write_index(REQ_PROD_OFFSET, 0);
    mem.write_index(RSP_PROD_OFFSET, 0);
    Ok(())
}

/// The front end of a ring (`<name>_front_ring`): puts requests, takes responses.
///
/// Holds only private indices; the shared memory is passed to each operation.
#[doc(alias = "front_ring")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrontRing<Req, Rsp> {
    /// `req_prod_pvt`: next request slot to fill.
    req_prod_pvt: RingIdx,
    /// `rsp_cons`: next response to take.
    rsp_cons: RingIdx,
    /// The `req_prod` we last published (C re-reads it from the shared page; ours cannot be
    /// scribbled on by the peer).
    req_prod_pushed: RingIdx,
    geometry: Geometry,
    _entries: PhantomData<fn() -> (Req, Rsp)>,
}

impl<Req: RingEntry, Rsp: RingEntry> FrontRing<Req, Rsp> {
    /// Bytes per slot: `sizeof(union { Req; Rsp; })`.
    pub const ENTRY_SIZE: usize = entry_size::<Req, Rsp>();

    /// `XEN_FRONT_RING_INIT`: initialise the shared header ([`shared_ring_init`]) and attach at 0.
    #[doc(alias = "XEN_FRONT_RING_INIT")]
    #[doc(alias = "FRONT_RING_INIT")]
    pub fn init<M: RingMemory + ?Sized>(mem: &mut M) -> Result<Self, RingError> {
        let ring = Self::attach(mem, 0)?;
        shared_ring_init(mem)?;
        Ok(ring)
    }

    /// `FRONT_RING_ATTACH`: attach to an already initialised ring whose indices are all `start`
    /// (e.g. after migration), sized from `mem.size()`.
    #[doc(alias = "FRONT_RING_ATTACH")]
    pub fn attach<M: RingMemory + ?Sized>(mem: &M, start: RingIdx) -> Result<Self, RingError> {
        let geometry = Geometry::new(mem.size(), Self::ENTRY_SIZE)?;
        Ok(FrontRing {
            req_prod_pvt: start,
            rsp_cons: start,
            req_prod_pushed: start,
            geometry,
            _entries: PhantomData,
        })
    }

    /// Number of slots (`RING_SIZE`), a power of two.
    #[doc(alias = "RING_SIZE")]
    pub fn size(&self) -> u32 {
        self.geometry.nr_ents
    }

    /// `req_prod_pvt`: the index the next [`put_request`](Self::put_request) fills.
    pub fn req_prod_pvt(&self) -> RingIdx {
        self.req_prod_pvt
    }

    /// `rsp_cons`: the index of the next response to take.
    pub fn rsp_cons(&self) -> RingIdx {
        self.rsp_cons
    }

    /// `RING_FREE_REQUESTS`: slots not holding an unanswered request.
    #[doc(alias = "RING_FREE_REQUESTS")]
    pub fn free_requests(&self) -> u32 {
        self.size()
            .wrapping_sub(self.req_prod_pvt.wrapping_sub(self.rsp_cons))
    }

    /// `RING_FULL`: no free slot for another request.
    #[doc(alias = "RING_FULL")]
    pub fn is_full(&self) -> bool {
        self.free_requests() == 0
    }

    /// Write `req` into the slot at `req_prod_pvt` and advance it; the back end sees it after
    /// [`push_requests`](Self::push_requests). Returns the index used.
    pub fn put_request<M: RingMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        req: &Req,
    ) -> Result<RingIdx, RingError> {
        self.geometry.check(mem)?;
        if self.is_full() {
            return Err(RingError::Full);
        }
        let idx = self.req_prod_pvt;
        mem.write_bytes(self.geometry.slot_offset(idx), req.as_bytes());
        self.req_prod_pvt = idx.wrapping_add(1);
        Ok(idx)
    }

    /// `RING_PUSH_REQUESTS`: publish `req_prod_pvt` as `req_prod` (release).
    #[doc(alias = "RING_PUSH_REQUESTS")]
    pub fn push_requests<M: RingMemory + ?Sized>(&mut self, mem: &mut M) {
        mem.write_index(REQ_PROD_OFFSET, self.req_prod_pvt);
        self.req_prod_pushed = self.req_prod_pvt;
    }

    /// `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`: publish `req_prod` (release), full fence, read
    /// `req_event`; true iff the back end asked to be notified ([`need_notify`]).
    #[doc(alias = "RING_PUSH_REQUESTS_AND_CHECK_NOTIFY")]
    pub fn push_requests_and_check_notify<M: RingMemory + ?Sized>(&mut self, mem: &mut M) -> bool {
        let old = self.req_prod_pushed;
        let new = self.req_prod_pvt;
        self.push_requests(mem);
        mem.full_fence();
        let event = mem.read_index(REQ_EVENT_OFFSET);
        need_notify(old, new, event)
    }

    /// `RING_HAS_UNCONSUMED_RESPONSES` (the count form): responses published and not yet taken.
    ///
    /// The back end can only answer requests we published, so `rsp_prod` must lie in
    /// `rsp_cons..=req_prod` (a stricter form of `RING_RESPONSE_PROD_OVERFLOW`); anything else is
    /// [`RingError::Overflow`].
    #[doc(alias = "RING_HAS_UNCONSUMED_RESPONSES")]
    #[doc(alias = "XEN_RING_NR_UNCONSUMED_RESPONSES")]
    #[doc(alias = "RING_RESPONSE_PROD_OVERFLOW")]
    pub fn unconsumed_responses<M: RingMemory + ?Sized>(&self, mem: &M) -> Result<u32, RingError> {
        let prod = mem.read_index(RSP_PROD_OFFSET);
        let n = prod.wrapping_sub(self.rsp_cons);
        let outstanding = self.req_prod_pushed.wrapping_sub(self.rsp_cons);
        if n > outstanding {
            return Err(RingError::Overflow {
                prod,
                cons: self.rsp_cons,
                max: self.req_prod_pushed,
            });
        }
        Ok(n)
    }

    /// True iff [`unconsumed_responses`](Self::unconsumed_responses) is non-zero.
    pub fn has_unconsumed_responses<M: RingMemory + ?Sized>(
        &self,
        mem: &M,
    ) -> Result<bool, RingError> {
        Ok(self.unconsumed_responses(mem)? != 0)
    }

    /// Take the next response, if one is published: a copy read once from its slot
    /// (`RING_COPY_RESPONSE`), then `rsp_cons` advances.
    #[doc(alias = "RING_COPY_RESPONSE")]
    pub fn take_response<M: RingMemory + ?Sized>(
        &mut self,
        mem: &M,
    ) -> Result<Option<Rsp>, RingError> {
        self.geometry.check(mem)?;
        if self.unconsumed_responses(mem)? == 0 {
            return Ok(None);
        }
        let rsp = read_entry(mem, self.geometry.slot_offset(self.rsp_cons));
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        Ok(Some(rsp))
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`: if nothing is pending, set `rsp_event = rsp_cons + 1`,
    /// full fence, and check again. True means more responses arrived: do not sleep.
    #[doc(alias = "RING_FINAL_CHECK_FOR_RESPONSES")]
    pub fn final_check_for_responses<M: RingMemory + ?Sized>(
        &mut self,
        mem: &mut M,
    ) -> Result<bool, RingError> {
        if self.has_unconsumed_responses(mem)? {
            return Ok(true);
        }
        mem.write_index(RSP_EVENT_OFFSET, self.rsp_cons.wrapping_add(1));
        mem.full_fence();
        self.has_unconsumed_responses(mem)
    }
}

/// The back end of a ring (`<name>_back_ring`): takes requests, puts responses.
///
/// Holds only private indices; the shared memory is passed to each operation.
#[doc(alias = "back_ring")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackRing<Req, Rsp> {
    /// `rsp_prod_pvt`: next response slot to fill.
    rsp_prod_pvt: RingIdx,
    /// `req_cons`: next request to take.
    req_cons: RingIdx,
    /// The `rsp_prod` we last published.
    rsp_prod_pushed: RingIdx,
    geometry: Geometry,
    _entries: PhantomData<fn() -> (Req, Rsp)>,
}

impl<Req: RingEntry, Rsp: RingEntry> BackRing<Req, Rsp> {
    /// Bytes per slot: `sizeof(union { Req; Rsp; })`.
    pub const ENTRY_SIZE: usize = entry_size::<Req, Rsp>();

    /// `BACK_RING_INIT`: attach at index 0 (only the front end initialises the shared header).
    #[doc(alias = "BACK_RING_INIT")]
    pub fn init<M: RingMemory + ?Sized>(mem: &M) -> Result<Self, RingError> {
        Self::attach(mem, 0)
    }

    /// `BACK_RING_ATTACH`: attach with private indices at `start`, sized from `mem.size()`.
    #[doc(alias = "BACK_RING_ATTACH")]
    pub fn attach<M: RingMemory + ?Sized>(mem: &M, start: RingIdx) -> Result<Self, RingError> {
        let geometry = Geometry::new(mem.size(), Self::ENTRY_SIZE)?;
        Ok(BackRing {
            rsp_prod_pvt: start,
            req_cons: start,
            rsp_prod_pushed: start,
            geometry,
            _entries: PhantomData,
        })
    }

    /// Number of slots (`RING_SIZE`), a power of two.
    #[doc(alias = "RING_SIZE")]
    pub fn size(&self) -> u32 {
        self.geometry.nr_ents
    }

    /// `req_cons`: the index of the next request to take.
    pub fn req_cons(&self) -> RingIdx {
        self.req_cons
    }

    /// `rsp_prod_pvt`: the index the next [`put_response`](Self::put_response) fills.
    pub fn rsp_prod_pvt(&self) -> RingIdx {
        self.rsp_prod_pvt
    }

    /// Requests taken and not yet answered.
    pub fn requests_in_flight(&self) -> u32 {
        self.req_cons.wrapping_sub(self.rsp_prod_pvt)
    }

    /// `RING_HAS_UNCONSUMED_REQUESTS` (the count form, `XEN_RING_NR_UNCONSUMED_REQUESTS`): requests
    /// published and not yet taken, capped by the slots we can still answer into.
    ///
    /// The front end cannot have more than `RING_SIZE` requests unanswered, and `req_prod` never
    /// moves backwards, so it must lie in `req_cons..=rsp_prod_pvt + RING_SIZE` (this contains
    /// `RING_REQUEST_PROD_OVERFLOW` and also catches a `req_prod` moved back behind `req_cons`);
    /// anything else is [`RingError::Overflow`].
    #[doc(alias = "RING_HAS_UNCONSUMED_REQUESTS")]
    #[doc(alias = "XEN_RING_NR_UNCONSUMED_REQUESTS")]
    #[doc(alias = "RING_REQUEST_PROD_OVERFLOW")]
    pub fn unconsumed_requests<M: RingMemory + ?Sized>(&self, mem: &M) -> Result<u32, RingError> {
        let prod = mem.read_index(REQ_PROD_OFFSET);
        let size = self.size();
        let in_flight = self.requests_in_flight();
        let ahead_of_rsp = prod.wrapping_sub(self.rsp_prod_pvt);
        if ahead_of_rsp > size || ahead_of_rsp < in_flight {
            return Err(RingError::Overflow {
                prod,
                cons: self.req_cons,
                max: self.rsp_prod_pvt.wrapping_add(size),
            });
        }
        let req = prod.wrapping_sub(self.req_cons);
        let rsp = size - in_flight;
        Ok(req.min(rsp))
    }

    /// True iff [`unconsumed_requests`](Self::unconsumed_requests) is non-zero.
    pub fn has_unconsumed_requests<M: RingMemory + ?Sized>(
        &self,
        mem: &M,
    ) -> Result<bool, RingError> {
        Ok(self.unconsumed_requests(mem)? != 0)
    }

    /// Take the next request, if one is published: a copy read once from its slot
    /// (`RING_COPY_REQUEST`), then `req_cons` advances. Validate the copy, then act on it.
    #[doc(alias = "RING_COPY_REQUEST")]
    pub fn take_request<M: RingMemory + ?Sized>(
        &mut self,
        mem: &M,
    ) -> Result<Option<Req>, RingError> {
        self.geometry.check(mem)?;
        if self.unconsumed_requests(mem)? == 0 {
            return Ok(None);
        }
        let req = read_entry(mem, self.geometry.slot_offset(self.req_cons));
        self.req_cons = self.req_cons.wrapping_add(1);
        Ok(Some(req))
    }

    /// Write `rsp` into the slot at `rsp_prod_pvt` (the oldest unanswered request's slot) and
    /// advance it; the front end sees it after [`push_responses`](Self::push_responses).
    /// Returns the index used.
    pub fn put_response<M: RingMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        rsp: &Rsp,
    ) -> Result<RingIdx, RingError> {
        self.geometry.check(mem)?;
        if self.requests_in_flight() == 0 {
            return Err(RingError::NoRequestOutstanding);
        }
        let idx = self.rsp_prod_pvt;
        mem.write_bytes(self.geometry.slot_offset(idx), rsp.as_bytes());
        self.rsp_prod_pvt = idx.wrapping_add(1);
        Ok(idx)
    }

    /// `RING_PUSH_RESPONSES`: publish `rsp_prod_pvt` as `rsp_prod` (release).
    #[doc(alias = "RING_PUSH_RESPONSES")]
    pub fn push_responses<M: RingMemory + ?Sized>(&mut self, mem: &mut M) {
        mem.write_index(RSP_PROD_OFFSET, self.rsp_prod_pvt);
        self.rsp_prod_pushed = self.rsp_prod_pvt;
    }

    /// `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`: publish `rsp_prod` (release), full fence, read
    /// `rsp_event`; true iff the front end asked to be notified ([`need_notify`]).
    #[doc(alias = "RING_PUSH_RESPONSES_AND_CHECK_NOTIFY")]
    pub fn push_responses_and_check_notify<M: RingMemory + ?Sized>(&mut self, mem: &mut M) -> bool {
        let old = self.rsp_prod_pushed;
        let new = self.rsp_prod_pvt;
        self.push_responses(mem);
        mem.full_fence();
        let event = mem.read_index(RSP_EVENT_OFFSET);
        need_notify(old, new, event)
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS`: if nothing is pending, set `req_event = req_cons + 1`,
    /// full fence, and check again. True means more requests arrived: do not sleep.
    #[doc(alias = "RING_FINAL_CHECK_FOR_REQUESTS")]
    pub fn final_check_for_requests<M: RingMemory + ?Sized>(
        &mut self,
        mem: &mut M,
    ) -> Result<bool, RingError> {
        if self.has_unconsumed_requests(mem)? {
            return Ok(true);
        }
        mem.write_index(REQ_EVENT_OFFSET, self.req_cons.wrapping_add(1));
        mem.full_fence();
        self.has_unconsumed_requests(mem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring area over a fixed array; single-threaded, so plain copies are the right semantics.
    struct Page([u8; PAGE_SIZE]);

    impl RingMemory for Page {
        fn size(&self) -> usize {
            self.0.len()
        }
        fn read_index(&self, offset: usize) -> RingIdx {
            let mut b = [0; 4];
            b.copy_from_slice(&self.0[offset..offset + 4]);
            u32::from_le_bytes(b)
        }
        fn write_index(&mut self, offset: usize, value: RingIdx) {
            self.0[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
        }
        fn full_fence(&self) {}
        fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
            dst.copy_from_slice(&self.0[offset..offset + dst.len()]);
        }
        fn write_bytes(&mut self, offset: usize, src: &[u8]) {
            self.0[offset..offset + src.len()].copy_from_slice(src);
        }
    }

    #[test]
    fn round_down_pow2_matches_rd32() {
        assert_eq!(round_down_pow2(0), 0);
        assert_eq!(round_down_pow2(1), 1);
        assert_eq!(round_down_pow2(36), 32);
        assert_eq!(round_down_pow2(336), 256);
        assert_eq!(round_down_pow2(u32::MAX), 1 << 31);
    }

    #[test]
    fn ring_size_one_page_matches_c() {
        // blkif: 112-byte entries; netif tx: 12; netif rx: 8.
        assert_eq!(ring_size(PAGE_SIZE, 112), 32);
        assert_eq!(ring_size(PAGE_SIZE, 12), 256);
        assert_eq!(ring_size(PAGE_SIZE, 8), 256);
        assert_eq!(ring_size(PAGE_SIZE * 2, 112), 64);
        assert_eq!(ring_size(63, 1), 0);
        assert_eq!(ring_size(PAGE_SIZE, 0), 0);
    }

    #[test]
    fn entry_size_rounds_to_stricter_alignment() {
        assert_eq!(entry_size::<[u32; 3], u64>(), 16);
        assert_eq!(entry_size::<[u32; 3], u32>(), 12);
    }

    #[test]
    fn ring_area_bytes_huge_order_is_none() {
        assert_eq!(ring_area_bytes(0), Some(PAGE_SIZE));
        assert_eq!(ring_area_bytes(3), Some(8 * PAGE_SIZE));
        assert_eq!(ring_area_bytes(64), None);
    }

    #[test]
    fn init_fresh_page_sets_event_indices_to_one() {
        let mut page = Page([0xAA; PAGE_SIZE]);
        let front = FrontRing::<u64, u64>::init(&mut page).expect("one page fits u64 entries");
        assert_eq!(front.size(), 256);
        let hdr = SharedRingHeader::read_from_prefix(&page.0[..])
            .expect("page holds header")
            .0;
        assert_eq!(
            (hdr.req_prod, hdr.req_event, hdr.rsp_prod, hdr.rsp_event),
            (0, 1, 0, 1)
        );
        assert_eq!(hdr.pvt, [0; 4]);
        assert_eq!(hdr.pad, [0; 44]);
    }

    #[test]
    fn round_trip_one_request_is_copied_back() {
        let mut page = Page([0; PAGE_SIZE]);
        let mut front = FrontRing::<u64, u32>::init(&mut page).expect("fits");
        let mut back = BackRing::<u64, u32>::init(&page).expect("fits");
        front.put_request(&mut page, &0xDEAD_BEEF).expect("room");
        assert!(front.push_requests_and_check_notify(&mut page));
        assert_eq!(back.take_request(&page), Ok(Some(0xDEAD_BEEF)));
        assert_eq!(back.take_request(&page), Ok(None));
        back.put_response(&mut page, &7).expect("one in flight");
        assert!(back.push_responses_and_check_notify(&mut page));
        assert_eq!(front.take_response(&page), Ok(Some(7)));
        assert_eq!(front.final_check_for_responses(&mut page), Ok(false));
    }

    #[test]
    fn put_response_without_request_is_no_request_outstanding() {
        let page = Page([0; PAGE_SIZE]);
        let mut back = BackRing::<u64, u32>::init(&page).expect("fits");
        let mut page = page;
        assert_eq!(
            back.put_response(&mut page, &1),
            Err(RingError::NoRequestOutstanding)
        );
    }

    #[test]
    fn attach_area_too_small_is_error() {
        struct Tiny;
        impl RingMemory for Tiny {
            fn size(&self) -> usize {
                64
            }
            fn read_index(&self, _: usize) -> RingIdx {
                0
            }
            fn write_index(&mut self, _: usize, _: RingIdx) {}
            fn full_fence(&self) {}
            fn read_bytes(&self, _: usize, _: &mut [u8]) {}
            fn write_bytes(&mut self, _: usize, _: &[u8]) {}
        }
        assert_eq!(
            BackRing::<u64, u64>::init(&Tiny),
            Err(RingError::AreaTooSmall {
                bytes: 64,
                entry_size: 8
            })
        );
    }
}
