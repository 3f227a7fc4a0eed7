//! The guest-visible event words (`shared_info.evtchn_pending/mask`, `vcpu_info.evtchn_pending_sel`,
//! `vcpu_info.evtchn_upcall_pending`), reached only through [`EventWords`].

use alloc::vec;
use alloc::vec::Vec;

use xen_abi::event_channel::EVTCHN_2L_NR_CHANNELS;
use xen_abi::{Port, VcpuId};

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
        }
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
}
