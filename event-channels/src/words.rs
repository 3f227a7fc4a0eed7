//! The guest-visible event words (`shared_info.evtchn_pending/mask`, `vcpu_info.evtchn_pending_sel`,
//! `vcpu_info.evtchn_upcall_pending`), reached only through [`EventWords`].

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;

use xen_abi::event_channel::EVTCHN_2L_NR_CHANNELS;
use xen_abi::{Errno, Port, VcpuId, XenResult};

/// A guest page the FIFO ABI keeps for its event words or a control block, as the
/// [`EventWords`] implementation names it (the hypervisor: its machine frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FifoPage(pub u64);

/// Bits per `xen_ulong_t` word of the 2-level ABI on x86_64 (`BITS_PER_EVTCHN_WORD`).
pub const BITS_PER_EVTCHN_WORD: u32 = 64;

/// Number of words in `shared_info.evtchn_pending[]` / `evtchn_mask[]`.
pub const EVTCHN_WORDS: usize = (EVTCHN_2L_NR_CHANNELS / BITS_PER_EVTCHN_WORD) as usize;

/// The guest-visible words the 2-level ABI reads and writes, as atomic bit operations.
///
/// Each method is **one** atomic operation on guest memory (a `lock bts`/`btr`/`bt`), exactly the
/// `guest_test_and_set_bit` & co. that Xen's `event_2l.c` performs; the state machine relies on
/// nothing else, so the guest may change any of these words concurrently between two calls.
///
/// The state machine only passes `port < EVTCHN_2L_NR_CHANNELS`, `bit < BITS_PER_EVTCHN_WORD`
/// and vCPUs below the domain's `max_vcpus`; an implementation must still not panic on other
/// values (ignore them, or report a set bit for `*_test_and_*`).
pub trait EventWords {
    /// `test_and_set_bit(port, shared_info.evtchn_pending)`: returns the old bit.
    fn pending_test_and_set(&mut self, port: Port) -> bool;
    /// `test_bit(port, shared_info.evtchn_pending)`.
    fn pending_test(&self, port: Port) -> bool;
    /// `clear_bit(port, shared_info.evtchn_pending)`.
    fn pending_clear(&mut self, port: Port);
    /// `test_bit(port, shared_info.evtchn_mask)`.
    fn mask_test(&self, port: Port) -> bool;
    /// `test_and_clear_bit(port, shared_info.evtchn_mask)`: returns the old bit.
    fn mask_test_and_clear(&mut self, port: Port) -> bool;
    /// `test_and_set_bit(bit, vcpu_info[vcpu].evtchn_pending_sel)`: returns the old bit.
    fn pending_sel_test_and_set(&mut self, vcpu: VcpuId, bit: u32) -> bool;
    /// `test_and_set_bit(0, vcpu_info[vcpu].evtchn_upcall_pending)`: returns the old value.
    fn upcall_pending_test_and_set(&mut self, vcpu: VcpuId) -> bool;

    // ---- the FIFO ABI's pages (event_fifo.c) ------------------------------------------------

    /// Xen's `map_guest_page`: keep the domain's frame `gfn` as a page the hypervisor writes
    /// (it must be the domain's and able to take a writable type reference, else `EINVAL`).
    fn fifo_map(&mut self, gfn: u64) -> XenResult<FifoPage>;
    /// `unmap_guest_page`: give a page from [`EventWords::fifo_map`] back.
    fn fifo_unmap(&mut self, page: FifoPage);
    /// One atomic read of the 32-bit word at byte `offset` (4-aligned) of `page`.
    fn fifo_read(&self, page: FifoPage, offset: u32) -> u32;
    /// `cmpxchg` on that word: returns the value found (the swap happened iff it is `old`).
    fn fifo_cmpxchg(&mut self, page: FifoPage, offset: u32, old: u32, new: u32) -> u32;
    /// `test_and_set_bit(bit)` on that word: returns the old bit.
    fn fifo_test_and_set(&mut self, page: FifoPage, offset: u32, bit: u32) -> bool;
    /// `clear_bit(bit)` on that word.
    fn fifo_clear(&mut self, page: FifoPage, offset: u32, bit: u32);
    /// An atomic write of that word.
    fn fifo_write(&mut self, page: FifoPage, offset: u32, value: u32);
}

/// [`EventWords`] over plain vectors: what tests, benchmarks and the fuzz target use.
///
/// It also offers the guest's side of the protocol ([`VecEventWords::guest_consume`],
/// [`VecEventWords::guest_mask`]) so a test can act as a guest kernel would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecEventWords {
    /// `shared_info.evtchn_pending[]`.
    pub pending: Vec<u64>,
    /// `shared_info.evtchn_mask[]`.
    pub mask: Vec<u64>,
    /// `vcpu_info[v].evtchn_pending_sel`, one per vCPU.
    pub pending_sel: Vec<u64>,
    /// `vcpu_info[v].evtchn_upcall_pending`, one per vCPU.
    pub upcall_pending: Vec<bool>,
    /// The guest's frames as the FIFO ABI sees them (1024 words each), made on first use.
    pub frames: BTreeMap<u64, Vec<u32>>,
    /// Frames that [`EventWords::fifo_map`] refuses (not the domain's, say).
    pub refused: BTreeSet<u64>,
    /// How many times each frame is mapped now.
    pub mapped: BTreeMap<u64, u32>,
}

fn split(port: Port) -> (usize, u64) {
    let p = port.0 as usize;
    (p / 64, 1u64 << (p % 64))
}

impl VecEventWords {
    /// All-clear words for a domain with `vcpus` vCPUs.
    pub fn new(vcpus: u32) -> Self {
        Self {
            pending: vec![0; EVTCHN_WORDS],
            mask: vec![0; EVTCHN_WORDS],
            pending_sel: vec![0; vcpus as usize],
            upcall_pending: vec![false; vcpus as usize],
            frames: BTreeMap::new(),
            refused: BTreeSet::new(),
            mapped: BTreeMap::new(),
        }
    }

    /// Guest: the 32-bit word at byte `offset` of frame `gfn` (0 for a frame never touched).
    pub fn guest_word(&self, gfn: u64, offset: u32) -> u32 {
        self.frames
            .get(&gfn)
            .and_then(|f| f.get(offset as usize / 4))
            .copied()
            .unwrap_or(0)
    }

    /// Guest: write the 32-bit word at byte `offset` of frame `gfn`.
    pub fn guest_set_word(&mut self, gfn: u64, offset: u32, value: u32) {
        if let Some(w) = self.word_mut(FifoPage(gfn), offset) {
            *w = value;
        }
    }

    fn word_mut(&mut self, page: FifoPage, offset: u32) -> Option<&mut u32> {
        self.frames
            .entry(page.0)
            .or_insert_with(|| vec![0; 1024])
            .get_mut(offset as usize / 4)
    }

    /// Guest: set `port`'s mask bit (Linux's `mask_evtchn`).
    pub fn guest_mask(&mut self, port: Port) {
        let (w, b) = split(port);
        if let Some(word) = self.mask.get_mut(w) {
            *word |= b;
        }
    }

    /// Guest: the upcall handler of vCPU `vcpu` (Linux's `evtchn_2l_handle_events`, simplified):
    /// clear `evtchn_upcall_pending`, take `evtchn_pending_sel`, and for each selected word clear
    /// and return every pending, unmasked port, in ascending order.
    pub fn guest_consume(&mut self, vcpu: VcpuId, out: &mut Vec<Port>) {
        let v = vcpu.0 as usize;
        if let Some(u) = self.upcall_pending.get_mut(v) {
            *u = false;
        }
        let sel = match self.pending_sel.get_mut(v) {
            Some(s) => core::mem::take(s),
            None => return,
        };
        let mut rest = sel;
        while rest != 0 {
            let w = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let (Some(pend), Some(mask)) = (self.pending.get_mut(w), self.mask.get(w)) else {
                continue;
            };
            let mut ready = *pend & !*mask;
            *pend &= !ready;
            while ready != 0 {
                let b = ready.trailing_zeros();
                ready &= ready - 1;
                out.push(Port(w as u32 * 64 + b));
            }
        }
    }
}

impl EventWords for VecEventWords {
    fn pending_test_and_set(&mut self, port: Port) -> bool {
        let (w, b) = split(port);
        match self.pending.get_mut(w) {
            Some(word) => {
                let old = *word & b != 0;
                *word |= b;
                old
            }
            None => true,
        }
    }

    fn pending_test(&self, port: Port) -> bool {
        let (w, b) = split(port);
        self.pending.get(w).is_some_and(|word| word & b != 0)
    }

    fn pending_clear(&mut self, port: Port) {
        let (w, b) = split(port);
        if let Some(word) = self.pending.get_mut(w) {
            *word &= !b;
        }
    }

    fn mask_test(&self, port: Port) -> bool {
        let (w, b) = split(port);
        self.mask.get(w).is_none_or(|word| word & b != 0)
    }

    fn mask_test_and_clear(&mut self, port: Port) -> bool {
        let (w, b) = split(port);
        match self.mask.get_mut(w) {
            Some(word) => {
                let old = *word & b != 0;
                *word &= !b;
                old
            }
            None => false,
        }
    }

    fn pending_sel_test_and_set(&mut self, vcpu: VcpuId, bit: u32) -> bool {
        match (
            self.pending_sel.get_mut(vcpu.0 as usize),
            1u64.checked_shl(bit),
        ) {
            (Some(sel), Some(b)) => {
                let old = *sel & b != 0;
                *sel |= b;
                old
            }
            _ => true,
        }
    }

    fn upcall_pending_test_and_set(&mut self, vcpu: VcpuId) -> bool {
        match self.upcall_pending.get_mut(vcpu.0 as usize) {
            Some(u) => core::mem::replace(u, true),
            None => true,
        }
    }

    fn fifo_map(&mut self, gfn: u64) -> XenResult<FifoPage> {
        if self.refused.contains(&gfn) {
            return Err(Errno::EINVAL);
        }
        self.frames.entry(gfn).or_insert_with(|| vec![0; 1024]);
        *self.mapped.entry(gfn).or_insert(0) += 1;
        Ok(FifoPage(gfn))
    }

    fn fifo_unmap(&mut self, page: FifoPage) {
        if let Some(n) = self.mapped.get_mut(&page.0) {
            *n -= 1;
            if *n == 0 {
                self.mapped.remove(&page.0);
            }
        }
    }

    fn fifo_read(&self, page: FifoPage, offset: u32) -> u32 {
        self.guest_word(page.0, offset)
    }

    fn fifo_cmpxchg(&mut self, page: FifoPage, offset: u32, old: u32, new: u32) -> u32 {
        match self.word_mut(page, offset) {
            Some(w) => {
                let found = *w;
                if found == old {
                    *w = new;
                }
                found
            }
            None => !old,
        }
    }

    fn fifo_test_and_set(&mut self, page: FifoPage, offset: u32, bit: u32) -> bool {
        match self.word_mut(page, offset) {
            Some(w) => {
                let old = *w & (1 << bit) != 0;
                *w |= 1 << bit;
                old
            }
            None => true,
        }
    }

    fn fifo_clear(&mut self, page: FifoPage, offset: u32, bit: u32) {
        if let Some(w) = self.word_mut(page, offset) {
            *w &= !(1 << bit);
        }
    }

    fn fifo_write(&mut self, page: FifoPage, offset: u32, value: u32) {
        if let Some(w) = self.word_mut(page, offset) {
            *w = value;
        }
    }
}
