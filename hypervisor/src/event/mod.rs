//! Event channels wired to real guest memory: the `event-channels` state machine with its
//! guest-visible words in each domain's `shared_info`, the `event_channel_op` hypercall, and the
//! effects it returns (kick a vCPU: unblock it and wake its CPU).

use crate::domain::{self, Domain};
use crate::hypercall::{Outcome, Preempt};
use crate::mm::guest::{
    frame_swap_u8, frame_test_and_clear_bit, frame_test_and_set_bit, frame_test_bit, frame_u32_op,
};
use core::mem::{offset_of, size_of};
use core::sync::atomic::Ordering::SeqCst;
use event_channels::hub::{DomainConfig, Effect, Effects, EvtchnHub, ResetEnd, XenConsumer};
use event_channels::words::{EventWords, FifoPage};
use spin::Mutex;
use xen_abi::event_channel::EvtchnOp;
use xen_abi::xen::{SharedInfo, VcpuInfo, XEN_LEGACY_MAX_VCPUS};
use xen_abi::{DomId, Errno, Maddr, Mfn, Port, VcpuId, XenResult};

/// Offsets in `shared_info` and `vcpu_info` (xen.h), from the layout-checked `xen-abi` structs.
const PENDING: usize = offset_of!(SharedInfo, evtchn_pending);
const MASK: usize = offset_of!(SharedInfo, evtchn_mask);
const VCPU_INFO: usize = size_of::<VcpuInfo>();
const PENDING_SEL: usize = offset_of!(VcpuInfo, evtchn_pending_sel);
const UPCALL_PENDING: usize = offset_of!(VcpuInfo, evtchn_upcall_pending);

/// The 2-level words of one domain: the pending and mask arrays in its `shared_info`, each
/// vCPU's selector and upcall flag in its `vcpu_info` (in `shared_info` until the guest moves it).
#[derive(Debug, Clone, Copy)]
pub struct SharedInfoWords {
    /// The domain (whose frames the FIFO ABI may keep) and whether it has I/O privilege.
    pub dom: DomId,
    /// See `dom`.
    pub io: bool,
    /// The domain's `shared_info`.
    pub shared_info: Mfn,
    /// The machine address of each vCPU's `vcpu_info`.
    pub vcpu_info: [Maddr; XEN_LEGACY_MAX_VCPUS],
}

impl SharedInfoWords {
    /// Words with every `vcpu_info` in `shared_info`.
    pub fn new(dom: DomId, io: bool, shared_info: Mfn) -> SharedInfoWords {
        SharedInfoWords {
            dom,
            io,
            shared_info,
            vcpu_info: core::array::from_fn(|v| shared_info.maddr() + (v * VCPU_INFO) as u64),
        }
    }

    fn vcpu(&self, vcpu: VcpuId) -> Option<(Mfn, usize)> {
        let at = *self.vcpu_info.get(vcpu.0 as usize)?;
        Some((at.mfn(), at.page_offset()))
    }
}

fn port_word(port: Port) -> (usize, u32) {
    ((port.0 / 64) as usize * 8, port.0 % 64)
}

impl EventWords for SharedInfoWords {
    fn pending_test_and_set(&mut self, port: Port) -> bool {
        let (w, b) = port_word(port);
        frame_test_and_set_bit(self.shared_info, PENDING + w, b).unwrap_or(true)
    }
    fn pending_test(&self, port: Port) -> bool {
        let (w, b) = port_word(port);
        frame_test_bit(self.shared_info, PENDING + w, b).unwrap_or(false)
    }
    fn pending_clear(&mut self, port: Port) {
        let (w, b) = port_word(port);
        let _ = frame_test_and_clear_bit(self.shared_info, PENDING + w, b);
    }
    fn mask_test(&self, port: Port) -> bool {
        let (w, b) = port_word(port);
        frame_test_bit(self.shared_info, MASK + w, b).unwrap_or(true)
    }
    fn mask_test_and_clear(&mut self, port: Port) -> bool {
        let (w, b) = port_word(port);
        frame_test_and_clear_bit(self.shared_info, MASK + w, b).unwrap_or(false)
    }
    fn pending_sel_test_and_set(&mut self, vcpu: VcpuId, bit: u32) -> bool {
        let Some((mfn, off)) = self.vcpu(vcpu) else {
            return true;
        };
        frame_test_and_set_bit(mfn, off + PENDING_SEL, bit).unwrap_or(true)
    }
    fn upcall_pending_test_and_set(&mut self, vcpu: VcpuId) -> bool {
        let Some((mfn, off)) = self.vcpu(vcpu) else {
            return true;
        };
        frame_swap_u8(mfn, off + UPCALL_PENDING, 1).is_none_or(|old| old != 0)
    }

    /// Xen's `map_guest_page` for a PV domain: the "gfn" is a machine frame, which must be the
    /// domain's and take a writable type reference (held until `fifo_unmap`).
    fn fifo_map(&mut self, gfn: u64) -> XenResult<FifoPage> {
        let asker = crate::mm::typing::Asker {
            id: self.dom,
            io: self.io,
            iomem: self.io,
        };
        crate::mm::frame_table()
            .get_page_and_type(Mfn(gfn), crate::mm::typing::PageType::Writable, asker)
            .map_err(|_| Errno::EINVAL)?;
        Ok(FifoPage(gfn))
    }
    fn fifo_unmap(&mut self, page: FifoPage) {
        crate::mm::frame_table().put_page_and_type(Mfn(page.0));
    }
    fn fifo_read(&self, page: FifoPage, offset: u32) -> u32 {
        frame_u32_op(Mfn(page.0), offset as usize, |w| w.load(SeqCst)).unwrap_or(0)
    }
    fn fifo_cmpxchg(&mut self, page: FifoPage, offset: u32, old: u32, new: u32) -> u32 {
        frame_u32_op(Mfn(page.0), offset as usize, |w| {
            w.compare_exchange(old, new, SeqCst, SeqCst)
                .unwrap_or_else(|found| found)
        })
        .unwrap_or(!old)
    }
    fn fifo_test_and_set(&mut self, page: FifoPage, offset: u32, bit: u32) -> bool {
        frame_u32_op(Mfn(page.0), offset as usize, |w| {
            w.fetch_or(1 << (bit & 31), SeqCst) & (1 << (bit & 31)) != 0
        })
        .unwrap_or(true)
    }
    fn fifo_clear(&mut self, page: FifoPage, offset: u32, bit: u32) {
        let _ = frame_u32_op(Mfn(page.0), offset as usize, |w| {
            w.fetch_and(!(1 << (bit & 31)), SeqCst)
        });
    }
    fn fifo_write(&mut self, page: FifoPage, offset: u32, value: u32) {
        let _ = frame_u32_op(Mfn(page.0), offset as usize, |w| w.store(value, SeqCst));
    }
}

/// Every domain's event channels.
pub static EVTCHN: Mutex<EvtchnHub<SharedInfoWords>> = Mutex::new(EvtchnHub::new());

/// The consumer tag of the hypervisor's end of a domU's console channel.
pub const CONSOLE_CONSUMER: XenConsumer = XenConsumer(1);

/// Registers a new domain with the event-channel state machine. For a domU, also creates its
/// console channel: a Xen-attached port (the hypervisor's end, returned second) bound to a
/// guest port (returned first, for `start_info.console.domU.evtchn`).
pub fn domain_create(
    id: DomId,
    vcpus: u32,
    privileged: bool,
    shared_info: Mfn,
) -> XenResult<Option<(Port, Port)>> {
    let config = DomainConfig {
        max_vcpus: vcpus,
        privileged,
        ..DomainConfig::default()
    };
    create_ports(id, config, shared_info)?;
    if privileged {
        return Ok(None);
    }
    let mut hub = EVTCHN.lock();
    let xen_end = hub.alloc_unbound_xen_event_channel(id, 0, id, CONSOLE_CONSUMER)?;
    let (guest_end, _) = hub.bind_interdomain(id, id, xen_end)?;
    Ok(Some((guest_end, xen_end)))
}

/// A domain's event-channel state with `config` (`evtchn_init`), its 2-level words in
/// `shared_info`; no port is bound (the toolstack's domains get theirs from it).
pub fn create_ports(id: DomId, config: DomainConfig, shared_info: Mfn) -> XenResult<()> {
    let privileged = config.privileged;
    EVTCHN.lock().domain_create(
        id,
        config,
        SharedInfoWords::new(id, privileged, shared_info),
    )
}

/// Closes a dead domain's ports (peers fall back to unbound) and acts on the effects.
pub fn domain_kill(id: DomId) {
    let fx = EVTCHN.lock().domain_kill(id);
    if let Ok(fx) = fx {
        apply(&fx);
    }
}

/// Acts on what an operation returned: each vCPU to kick is unblocked and its CPU woken; a
/// send to the hypervisor's console end drains that domain's console ring.
pub fn apply(fx: &Effects) {
    for (dom, vcpu) in fx.kicks() {
        kick(dom, vcpu);
    }
    for e in fx.iter() {
        if let Effect::Raised { dom, port, .. } = e {
            wake_pollers(*dom, *port);
        }
        if let Effect::XenNotify { dom, consumer, .. } = e {
            if *consumer == CONSOLE_CONSUMER {
                if let Some(d) = domain::get(*dom) {
                    crate::console::ring::drain(&d);
                }
            }
        }
    }
}

/// Raises the guest's end of a Xen-attached channel (e.g. "console space freed").
pub fn notify_guest(dom: DomId, xen_end: Port) {
    let fx = EVTCHN.lock().notify_via_xen_event_channel(dom, xen_end);
    apply(&fx);
}

/// Unblocks vCPU `vcpu` of `dom` (ending any poll) and wakes the CPU it runs on.
pub fn kick(dom: DomId, vcpu: VcpuId) {
    let Some(d) = domain::get(dom) else { return };
    let Some(v) = d.vcpus.get(vcpu.0 as usize) else {
        return;
    };
    {
        let mut st = v.state.lock();
        st.blocked = false;
        st.poll = None;
        st.poll_deadline = None;
    }
    crate::sched::kick(v.pcpu());
}

/// `evtchn_check_pollers`: a port became pending; wake the vCPUs of `dom` polling it (whether
/// or not it is masked).
fn wake_pollers(dom: DomId, port: Port) {
    let Some(d) = domain::get(dom) else { return };
    for v in &d.vcpus {
        let polling = v
            .state
            .lock()
            .poll
            .as_ref()
            .is_some_and(|p| p.contains(&port.0));
        if polling {
            kick(dom, v.id);
        }
    }
}

/// The debug dump's view of `dom`'s event channels (`try_lock` only): FIFO READY words and
/// queue heads, and the ports pending and unmasked but on no queue; for 2-level, the pending
/// unmasked ports.
pub fn dump(dom: DomId) {
    use event_channels::words::EventWords;
    let Some(hub) = EVTCHN.try_lock() else {
        crate::console::raw_write(format_args!("dump:   event channels locked\n"));
        return;
    };
    let Some(d) = hub.domain(dom) else { return };
    let w = d.words();
    let mut listed = 0;
    match d.fifo() {
        Some(f) => {
            for (i, v) in f.vcpus.iter().enumerate() {
                if let Some((page, off)) = v.control {
                    let ready = w.fifo_read(page, off);
                    let heads: heapless::Vec<(usize, u32), 16> = (0..16)
                        .map(|q| (q, w.fifo_read(page, off + 8 + 4 * q as u32)))
                        .filter(|&(_, h)| h != 0)
                        .collect();
                    crate::console::raw_write(format_args!(
                        "dump:   FIFO v{i}: ready {ready:#x} heads {heads:?} tails {:?}\n",
                        v.tails
                    ));
                }
            }
            for p in 1..d.valid_evtchns().min(f.num_evtchns()) {
                let Some((page, off)) = f.word(p) else { break };
                let word = w.fifo_read(page, off);
                let (pend, mask, linked) = (
                    word >> 31 & 1 != 0,
                    word >> 30 & 1 != 0,
                    word >> 29 & 1 != 0,
                );
                if (pend || linked) && listed < 24 {
                    listed += 1;
                    let lost = pend && !mask && !linked;
                    crate::console::raw_write(format_args!(
                        "dump:   port {p}: word {word:#010x}{} -> v{}\n",
                        if lost {
                            " LOST (pending, unmasked, on no queue)"
                        } else {
                            ""
                        },
                        d.channel(Port(p)).map_or(0, |c| c.notify_vcpu.0)
                    ));
                }
            }
        }
        None => {
            for p in 1..d.valid_evtchns() {
                if w.pending_test(Port(p)) && listed < 24 {
                    listed += 1;
                    crate::console::raw_write(format_args!(
                        "dump:   port {p}: pending{} -> v{}\n",
                        if w.mask_test(Port(p)) { ", masked" } else { "" },
                        d.channel(Port(p)).map_or(0, |c| c.notify_vcpu.0)
                    ));
                }
            }
        }
    }
}

/// True if `port` of `dom` is pending.
pub fn is_pending(dom: DomId, port: u32) -> bool {
    EVTCHN
        .lock()
        .domain(dom)
        .is_some_and(|d| d.is_pending(Port(port)))
}

/// `evtchn_port_poll` for `SCHEDOP_poll`: whether `port` of `dom` is pending; `EINVAL` for a
/// port not in use.
pub fn poll_port(dom: DomId, port: u32) -> XenResult<bool> {
    EVTCHN
        .lock()
        .domain(dom)
        .ok_or(Errno::EINVAL)?
        .poll_port(Port(port))
}

/// `VIRQ_TIMER` (or another per-vCPU VIRQ) for a vCPU.
pub fn send_vcpu_virq(dom: DomId, vcpu: VcpuId, virq: u32) {
    let fx = EVTCHN.lock().send_guest_vcpu_virq(dom, vcpu, virq);
    apply(&fx);
}

/// A global VIRQ (`VIRQ_CONSOLE`, …) to the domain handling it (the hardware domain unless
/// another was set).
/// `XEN_DOMCTL_set_virq_handler`: `dom` receives global `virq` in place of the hardware
/// domain (until it dies); a VIRQ that is not global, or out of range, is `-EINVAL`.
pub fn set_global_virq_handler(dom: DomId, virq: u32) -> XenResult<()> {
    EVTCHN.lock().set_global_virq_handler(dom, virq)
}

pub fn send_global_virq(virq: u32) {
    let fx = EVTCHN.lock().send_global_virq(virq);
    apply(&fx);
}

/// The `event_channel_op` hypercall. `EVTCHNOP_reset` is preemptible (XSA-344): its
/// continuation is `EVTCHNOP_reset_cont` with the same argument.
pub fn event_channel_op(dom: &Domain, cmd: u64, arg: u64) -> Outcome {
    let op = match u32::try_from(cmd)
        .map_err(|_| Errno::ENOSYS)
        .and_then(EvtchnOp::try_from)
    {
        Ok(op) => op,
        Err(e) => return Outcome::Done(Err(e)),
    };
    if matches!(op, EvtchnOp::Reset | EvtchnOp::ResetCont) {
        return reset(dom, op == EvtchnOp::ResetCont, arg);
    }
    Outcome::Done(other_op(dom, op, arg))
}

/// `EVTCHNOP_reset` / `EVTCHNOP_reset_cont` (`do_event_channel_op`): the closes' effects are
/// applied whether the slice finished, stopped to make way or found a port bound meanwhile.
fn reset(dom: &Domain, resuming: bool, arg: u64) -> Outcome {
    let r: xen_abi::event_channel::EvtchnReset = match crate::pv::read_guest_struct(arg) {
        Ok(r) => r,
        Err(e) => return Outcome::Done(Err(e)),
    };
    let preempt = Preempt::new();
    let r = EVTCHN
        .lock()
        .reset_preemptible(dom.id, r.dom, resuming, &mut || preempt.now());
    let (fx, end) = match r {
        Ok(x) => x,
        Err(e) => return Outcome::Done(Err(e)),
    };
    apply(&fx);
    match end {
        ResetEnd::Done => Outcome::Done(Ok(0)),
        ResetEnd::Rebound => Outcome::Done(Err(Errno::EAGAIN)),
        ResetEnd::Preempted => Outcome::resume(&[EvtchnOp::ResetCont as u64, arg]),
    }
}

fn other_op(dom: &Domain, op: EvtchnOp, arg: u64) -> XenResult<u64> {
    let size = event_channels::dispatch::arg_size(op);
    let mut buf = [0u8; 64];
    let bytes = buf.get_mut(..size).ok_or(Errno::EINVAL)?;
    crate::arch::x86_64::guest::copy_from_guest(arg, bytes).map_err(|_| Errno::EFAULT)?;
    // Physical IRQs are not routed to guests yet.
    let fx = EVTCHN
        .lock()
        .event_channel_op(dom.id, op, bytes, |_, _| Err(Errno::ENOSYS))?;
    if event_channels::dispatch::writes_back(op) {
        crate::arch::x86_64::guest::copy_to_guest(arg, bytes).map_err(|_| Errno::EFAULT)?;
    }
    apply(&fx);
    Ok(0)
}

/// Points vCPU `vcpu`'s selector and upcall flag at its new `vcpu_info`
/// (`VCPUOP_register_vcpu_info`).
pub fn move_vcpu_info(dom: DomId, vcpu: VcpuId, (mfn, offset): (Mfn, usize)) {
    if let Some(d) = EVTCHN.lock().domain_mut(dom) {
        if let Some(slot) = d.words_mut().vcpu_info.get_mut(vcpu.0 as usize) {
            *slot = mfn.maddr() + offset as u64;
        }
    }
}
