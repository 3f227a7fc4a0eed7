//! The FIFO event-channel ABI (`xen/common/event_fifo.c`): one 32-bit event word per port in
//! guest pages the guest adds with `EVTCHNOP_expand_array`, and per vCPU a control block with a
//! ready bitmap and the heads of 16 priority queues, linked through the event words' LINK fields.
//!
//! The hub holds the domain exclusively for each operation, so Xen's per-queue locks have no
//! counterpart; the guest still changes the words concurrently, which is why every access is one
//! of [`EventWords`]' atomic operations and the linking follows Xen's `cmpxchg` protocol.

use alloc::vec::Vec;

use xen_abi::event_channel::{
    EVTCHN_FIFO_BUSY, EVTCHN_FIFO_LINKED, EVTCHN_FIFO_LINK_MASK, EVTCHN_FIFO_MASKED,
    EVTCHN_FIFO_MAX_QUEUES, EVTCHN_FIFO_NR_CHANNELS, EVTCHN_FIFO_PENDING,
    EVTCHN_FIFO_PRIORITY_DEFAULT, EVTCHN_FIFO_PRIORITY_MIN,
};
use xen_abi::{Errno, Port, VcpuId, XenResult};

use crate::words::{EventWords, FifoPage};

/// Event words per event-array page.
pub const EVENT_WORDS_PER_PAGE: u32 = 1024;
/// Most event-array pages (`EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES`).
pub const MAX_EVENT_ARRAY_PAGES: usize = (EVTCHN_FIFO_NR_CHANNELS / EVENT_WORDS_PER_PAGE) as usize;
/// Bytes of `struct evtchn_fifo_control_block`.
pub const CONTROL_BLOCK_SIZE: u32 = 72;
/// Byte offset of `head[0]` in the control block.
const HEAD_OFFSET: u32 = 8;

/// One vCPU's FIFO state (`struct evtchn_fifo_vcpu`): its control block and the tail of each
/// queue (the heads live in the control block).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FifoVcpu {
    /// The control block's page and byte offset, once `init_control` mapped it.
    pub control: Option<(FifoPage, u32)>,
    /// `queue[i].tail` (0: empty).
    pub tails: [u32; EVTCHN_FIFO_MAX_QUEUES],
}

/// What the FIFO ABI keeps of one port (the FIFO fields of Xen's `struct evtchn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FifoPort {
    /// Its queue's priority (0 highest, 15 lowest).
    pub priority: u8,
    /// Raised while its event-array page did not exist (`evtchn->pending`).
    pub pending: bool,
    /// The queue it was last linked on (`fifo_lastq`): vCPU and priority.
    pub last_vcpu: VcpuId,
    /// See `last_vcpu`.
    pub last_priority: u8,
}

impl Default for FifoPort {
    fn default() -> Self {
        FifoPort {
            priority: DEFAULT_PRIORITY,
            pending: false,
            last_vcpu: VcpuId(0),
            last_priority: 0,
        }
    }
}

/// A domain's FIFO state (`struct evtchn_fifo_domain` and its vCPUs').
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FifoState {
    /// The event-array pages in order: port `p` is word `p % 1024` of page `p / 1024`.
    pub pages: Vec<FifoPage>,
    /// One per vCPU.
    pub vcpus: Vec<FifoVcpu>,
    /// Per port, grown as ports are touched.
    pub ports: Vec<FifoPort>,
}

/// What `set_pending` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FifoDelivery {
    /// The PENDING bit was already set (pollers need not be checked).
    pub was_pending: bool,
    /// The vCPU whose upcall went from 0 to 1.
    pub kick: Option<VcpuId>,
}

impl FifoState {
    /// `setup_event_array` + `setup_control_block` for every vCPU: no pages, no control blocks.
    pub fn new(vcpus: u32) -> FifoState {
        FifoState {
            pages: Vec::new(),
            vcpus: (0..vcpus).map(|_| FifoVcpu::default()).collect(),
            ports: Vec::new(),
        }
    }

    /// `port`'s FIFO fields, made on first use.
    pub fn port_mut(&mut self, port: Port) -> &mut FifoPort {
        let i = port.0 as usize;
        if self.ports.len() <= i {
            self.ports.resize(i + 1, FifoPort::default());
        }
        &mut self.ports[i]
    }

    /// `port`'s FIFO fields.
    pub fn port(&self, port: Port) -> FifoPort {
        self.ports.get(port.0 as usize).copied().unwrap_or_default()
    }

    /// `num_evtchns`: ports with an event word.
    pub fn num_evtchns(&self) -> u32 {
        self.pages.len() as u32 * EVENT_WORDS_PER_PAGE
    }

    /// `evtchn_fifo_word_from_port`: the page and byte offset of `port`'s event word.
    pub fn word(&self, port: u32) -> Option<(FifoPage, u32)> {
        let page = *self.pages.get((port / EVENT_WORDS_PER_PAGE) as usize)?;
        Some((page, (port % EVENT_WORDS_PER_PAGE) * 4))
    }

    /// `map_control_block`: `EINVAL` if `vcpu` has one already; the page as the words map it.
    pub fn map_control_block<W: EventWords>(
        &mut self,
        words: &mut W,
        vcpu: VcpuId,
        gfn: u64,
        offset: u32,
    ) -> XenResult<()> {
        let v = self.vcpus.get_mut(vcpu.0 as usize).ok_or(Errno::ENOENT)?;
        if v.control.is_some() {
            return Err(Errno::EINVAL);
        }
        let page = words.fifo_map(gfn)?;
        v.control = Some((page, offset));
        Ok(())
    }

    /// `add_page_to_event_array`: `ENOSPC` past 128 pages, else the page is kept; returns the
    /// range of ports it newly covers.
    pub fn add_page<W: EventWords>(
        &mut self,
        words: &mut W,
        gfn: u64,
    ) -> XenResult<core::ops::Range<u32>> {
        if self.pages.len() >= MAX_EVENT_ARRAY_PAGES {
            return Err(Errno::ENOSPC);
        }
        let first = self.num_evtchns();
        let page = words.fifo_map(gfn)?;
        self.pages.push(page);
        Ok(first..self.num_evtchns())
    }

    /// `evtchn_fifo_destroy`: every page and control block given back.
    pub fn destroy<W: EventWords>(&mut self, words: &mut W) {
        for v in &mut self.vcpus {
            if let Some((page, _)) = v.control.take() {
                words.fifo_unmap(page);
            }
        }
        for page in self.pages.drain(..) {
            words.fifo_unmap(page);
        }
    }

    /// `evtchn_fifo_set_pending` of `port` for `vcpu`.
    pub fn set_pending<W: EventWords>(
        &mut self,
        words: &mut W,
        vcpu: VcpuId,
        port: Port,
    ) -> FifoDelivery {
        let nothing = FifoDelivery {
            was_pending: true,
            kick: None,
        };
        // The event array page may not exist yet: keep the pending state for when it does.
        let Some((page, off)) = self.word(port.0) else {
            self.port_mut(port).pending = true;
            return nothing;
        };
        let fp = self.port(port);
        let priority = usize::from(fp.priority).min(EVTCHN_FIFO_MAX_QUEUES - 1);
        let (old_v, old_prio) = (fp.last_vcpu, usize::from(fp.last_priority));
        self.port_mut(port).pending = false;
        let was_pending = words.fifo_test_and_set(page, off, EVTCHN_FIFO_PENDING);
        let Some(control) = self.vcpus.get(vcpu.0 as usize).and_then(|v| v.control) else {
            // No control block: the guest must not unmask before it has one; the event stays
            // pending in its word.
            return FifoDelivery {
                was_pending,
                kick: None,
            };
        };
        let mut linked = true;
        if words.fifo_read(page, off) & (1 << EVTCHN_FIFO_MASKED) == 0
            && !words.fifo_test_and_set(page, off, EVTCHN_FIFO_LINKED)
        {
            // If this event was the old queue's tail, that queue is now empty.
            if let Some(t) = self
                .vcpus
                .get_mut(old_v.0 as usize)
                .and_then(|v| v.tails.get_mut(old_prio))
            {
                if *t == port.0 {
                    *t = 0;
                }
            }
            let p = self.port_mut(port);
            p.last_vcpu = vcpu;
            p.last_priority = priority as u8;
            linked = false;
            let tail = self.vcpus[vcpu.0 as usize].tails[priority];
            if tail != 0 {
                if let Some((tp, toff)) = self.word(tail) {
                    linked = set_link(words, tp, toff, port.0);
                }
            }
            if !linked {
                words.fifo_write(
                    control.0,
                    control.1 + HEAD_OFFSET + 4 * priority as u32,
                    port.0,
                );
            }
            self.vcpus[vcpu.0 as usize].tails[priority] = port.0;
        }
        let kick = if !linked && !words.fifo_test_and_set(control.0, control.1, priority as u32) {
            (!words.upcall_pending_test_and_set(vcpu)).then_some(vcpu)
        } else {
            None
        };
        FifoDelivery { was_pending, kick }
    }

    /// `evtchn_fifo_clear_pending`: the P bit only (the guest unlinks what is not pending).
    pub fn clear_pending<W: EventWords>(&self, words: &mut W, port: Port) {
        if let Some((page, off)) = self.word(port.0) {
            words.fifo_clear(page, off, EVTCHN_FIFO_PENDING);
        }
    }

    /// `evtchn_fifo_unmask`: clear MASKED and relink if pending (for `vcpu`, the port's
    /// notify vCPU).
    pub fn unmask<W: EventWords>(
        &mut self,
        words: &mut W,
        vcpu: VcpuId,
        port: Port,
    ) -> Option<VcpuId> {
        let (page, off) = self.word(port.0)?;
        words.fifo_clear(page, off, EVTCHN_FIFO_MASKED);
        if words.fifo_read(page, off) & (1 << EVTCHN_FIFO_PENDING) != 0 {
            self.set_pending(words, vcpu, port).kick
        } else {
            None
        }
    }

    /// `evtchn_fifo_is_busy`: still LINKED on a queue (the port cannot be reused yet).
    pub fn is_busy<W: EventWords>(&self, words: &W, port: Port) -> bool {
        self.word(port.0)
            .is_some_and(|(p, o)| words.fifo_read(p, o) & (1 << EVTCHN_FIFO_LINKED) != 0)
    }

    /// `evtchn_fifo_is_pending`.
    pub fn is_pending<W: EventWords>(&self, words: &W, port: Port) -> bool {
        self.word(port.0)
            .is_some_and(|(p, o)| words.fifo_read(p, o) & (1 << EVTCHN_FIFO_PENDING) != 0)
    }

    /// `evtchn_fifo_is_masked`: a port without an event word counts as masked.
    pub fn is_masked<W: EventWords>(&self, words: &W, port: Port) -> bool {
        self.word(port.0)
            .is_none_or(|(p, o)| words.fifo_read(p, o) & (1 << EVTCHN_FIFO_MASKED) != 0)
    }
}

impl FifoState {
    /// `evtchn_fifo_set_priority`: `EINVAL` above the lowest priority; future events of the
    /// port go to the new queue.
    pub fn set_priority(&mut self, port: Port, priority: u32) -> XenResult<()> {
        if priority > EVTCHN_FIFO_PRIORITY_MIN {
            return Err(Errno::EINVAL);
        }
        self.port_mut(port).priority = priority as u8;
        Ok(())
    }
}

/// The priority a port starts with (`evtchn_fifo_init`).
pub const DEFAULT_PRIORITY: u8 = EVTCHN_FIFO_PRIORITY_DEFAULT as u8;

/// `try_set_link`: `Some(true)` linked, `Some(false)` the word is no longer LINKED (the queue
/// went empty), `None` the guest changed the word meanwhile (`w` holds what it found).
fn try_set_link<W: EventWords>(
    words: &mut W,
    page: FifoPage,
    off: u32,
    w: &mut u32,
    link: u32,
) -> Option<bool> {
    if *w & (1 << EVTCHN_FIFO_LINKED) == 0 {
        return Some(false);
    }
    let old = *w;
    let new = (old & !((1 << EVTCHN_FIFO_BUSY) | EVTCHN_FIFO_LINK_MASK)) | link;
    *w = words.fifo_cmpxchg(page, off, old, new);
    (*w == old).then_some(true)
}

/// `evtchn_fifo_set_link`: set the tail word's LINK iff it is still LINKED. After one lost
/// race the word is marked BUSY (the guest may not unmask it meanwhile), so the `cmpxchg` can
/// fail at most four more times; after that the event counts as linked, as in Xen.
fn set_link<W: EventWords>(words: &mut W, page: FifoPage, off: u32, link: u32) -> bool {
    let mut w = words.fifo_read(page, off);
    if let Some(r) = try_set_link(words, page, off, &mut w, link) {
        return r;
    }
    words.fifo_test_and_set(page, off, EVTCHN_FIFO_BUSY);
    w = words.fifo_read(page, off);
    for _ in 0..4 {
        if let Some(r) = try_set_link(words, page, off, &mut w, link) {
            if !r {
                words.fifo_clear(page, off, EVTCHN_FIFO_BUSY);
            }
            return r;
        }
    }
    words.fifo_clear(page, off, EVTCHN_FIFO_BUSY);
    true
}
