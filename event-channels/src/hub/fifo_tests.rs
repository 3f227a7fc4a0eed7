//! The FIFO ABI (`xen/common/event_fifo.c`) through the hub: `init_control`, `expand_array`,
//! `set_priority`, delivery into the guest's queues, masking, the pending state kept while a
//! page is missing, going back to 2-level on reset, and a property test that a guest consuming
//! its queues the way Linux does never loses an event.

use super::*;
use crate::words::VecEventWords;
use proptest::prelude::*;
use xen_abi::event_channel::{
    EVTCHN_FIFO_BUSY, EVTCHN_FIFO_LINKED, EVTCHN_FIFO_LINK_MASK, EVTCHN_FIFO_MASKED,
    EVTCHN_FIFO_PENDING,
};

const D1: DomId = DomId(1);
/// The control block's frame, and the first event-array frame.
const CB: u64 = 100;
const ARRAY: u64 = 200;

type Hub = EvtchnHub<VecEventWords>;

fn ctl(vcpu: u32, gfn: u64, offset: u32) -> EvtchnInitControl {
    EvtchnInitControl {
        control_gfn: gfn,
        offset,
        vcpu,
        ..EvtchnInitControl::default()
    }
}

/// D1 with `vcpus` vCPUs, each with a control block (vCPU v at offset 128·v of frame `CB`),
/// and one event-array page.
fn fifo_hub(vcpus: u32) -> Hub {
    let mut h = Hub::new();
    let c = DomainConfig {
        max_vcpus: vcpus,
        ..DomainConfig::default()
    };
    h.domain_create(D1, c, VecEventWords::new(vcpus)).unwrap();
    for v in 0..vcpus {
        assert_eq!(h.init_control(D1, &ctl(v, CB, 128 * v)), Ok(17));
    }
    assert!(h.expand_array(D1, ARRAY).unwrap().is_empty());
    h
}

fn w(h: &Hub) -> &VecEventWords {
    h.domain(D1).unwrap().words()
}

fn word(h: &Hub, port: Port) -> u32 {
    w(h).guest_word(ARRAY + u64::from(port.0 / 1024), (port.0 % 1024) * 4)
}

fn ready(h: &Hub, vcpu: u32) -> u32 {
    w(h).guest_word(CB, 128 * vcpu)
}

fn head(h: &Hub, vcpu: u32, prio: u32) -> u32 {
    w(h).guest_word(CB, 128 * vcpu + 8 + 4 * prio)
}

const P: u32 = 1 << EVTCHN_FIFO_PENDING;
const M: u32 = 1 << EVTCHN_FIFO_MASKED;
const L: u32 = 1 << EVTCHN_FIFO_LINKED;

#[test]
fn init_control_checks_in_xens_order() {
    // evtchn_fifo_init_control: domain_vcpu → ENOENT, crossing the page → EINVAL, not
    // 8-aligned → EINVAL, a second block for the vCPU → EINVAL (map_control_block).
    let mut h = Hub::new();
    h.domain_create(D1, DomainConfig::default(), VecEventWords::new(1))
        .unwrap();
    assert_eq!(h.init_control(D1, &ctl(1, CB, 0)), Err(Errno::ENOENT));
    assert_eq!(
        h.init_control(D1, &ctl(0, CB, 4096 - 64)),
        Err(Errno::EINVAL)
    );
    assert_eq!(h.init_control(D1, &ctl(0, CB, 4)), Err(Errno::EINVAL));
    // A frame the domain may not give: still 2-level afterwards.
    h.domain_mut(D1).unwrap().words_mut().refused.insert(7);
    assert_eq!(h.init_control(D1, &ctl(0, 7, 0)), Err(Errno::EINVAL));
    assert_eq!(h.expand_array(D1, ARRAY), Err(Errno::EOPNOTSUPP));
    // The last offset that fits: 4096 - 72.
    assert_eq!(h.init_control(D1, &ctl(0, CB, 4024)), Ok(17));
    assert_eq!(h.init_control(D1, &ctl(0, CB, 0)), Err(Errno::EINVAL));
    assert!(h.domain(D1).unwrap().fifo().is_some());
}

#[test]
fn expand_array_needs_fifo_and_stops_at_128_pages() {
    // evtchn_fifo_expand_array: EOPNOTSUPP without FIFO; add_page_to_event_array: ENOSPC when
    // every slot is used.
    let mut h = Hub::new();
    h.domain_create(D1, DomainConfig::default(), VecEventWords::new(1))
        .unwrap();
    assert_eq!(h.expand_array(D1, ARRAY), Err(Errno::EOPNOTSUPP));
    h.init_control(D1, &ctl(0, CB, 0)).unwrap();
    for i in 0..128 {
        assert!(h.expand_array(D1, ARRAY + i).is_ok(), "page {i}");
    }
    assert_eq!(h.expand_array(D1, ARRAY + 128), Err(Errno::ENOSPC));
    assert_eq!(h.domain(D1).unwrap().fifo().unwrap().num_evtchns(), 131072);
}

#[test]
fn send_links_the_first_event_as_head_and_the_next_through_link() {
    // evtchn_fifo_set_pending: PENDING and LINKED set; an empty queue gets the port as head,
    // its READY bit and an upcall; the next event is linked from the tail's LINK field.
    let mut h = fifo_hub(1);
    let a = h.bind_ipi(D1, 0).unwrap();
    let b = h.bind_ipi(D1, 0).unwrap();
    let fx = h.send(D1, a).unwrap();
    assert_eq!(fx.kicks().collect::<Vec<_>>(), [(D1, VcpuId(0))]);
    assert_eq!(word(&h, a), P | L);
    assert_eq!(head(&h, 0, 7), a.0);
    assert_eq!(ready(&h, 0), 1 << 7);
    assert!(w(&h).upcall_pending[0]);
    let fx = h.send(D1, b).unwrap();
    assert_eq!(
        fx.kicks().count(),
        0,
        "the queue was not empty: no new upcall"
    );
    assert_eq!(word(&h, a) & EVTCHN_FIFO_LINK_MASK, b.0);
    assert_eq!(word(&h, b), P | L);
    assert!(h.domain(D1).unwrap().is_pending(b));
    // A second send of a pending port changes nothing.
    assert!(h.send(D1, b).unwrap().is_empty());
}

#[test]
fn masked_events_wait_pending_until_unmasked() {
    // A MASKED word gets PENDING only; evtchn_fifo_unmask clears MASKED and relinks it.
    let mut h = fifo_hub(1);
    let a = h.bind_ipi(D1, 0).unwrap();
    h.domain_mut(D1)
        .unwrap()
        .words_mut()
        .guest_set_word(ARRAY, a.0 * 4, M);
    assert!(h.domain(D1).unwrap().is_masked(a));
    h.send(D1, a).unwrap();
    assert_eq!(word(&h, a), P | M);
    assert_eq!(ready(&h, 0), 0);
    let fx = h.unmask(D1, a).unwrap();
    assert_eq!(fx.kicks().collect::<Vec<_>>(), [(D1, VcpuId(0))]);
    assert_eq!(word(&h, a), P | L);
    assert_eq!(head(&h, 0, 7), a.0);
}

#[test]
fn an_event_without_its_page_is_raised_when_the_page_arrives() {
    // set_pending with no event word keeps evtchn->pending; add_page_to_event_array re-raises.
    let mut h = fifo_hub(1);
    // Ports 1..1024 are on the first page: fill them so the next port is on the second.
    let mut last = Port(0);
    for _ in 1..1024 {
        last = h.bind_ipi(D1, 0).unwrap();
    }
    assert_eq!(last, Port(1023));
    let p = h.bind_ipi(D1, 0).unwrap();
    assert_eq!(p, Port(1024));
    assert!(h.send(D1, p).unwrap().is_empty());
    assert!(!h.domain(D1).unwrap().is_pending(p));
    let fx = h.expand_array(D1, ARRAY + 1).unwrap();
    assert_eq!(fx.kicks().collect::<Vec<_>>(), [(D1, VcpuId(0))]);
    assert_eq!(word(&h, p), P | L);
    assert_eq!(head(&h, 0, 7), p.0);
}

#[test]
fn two_level_pending_bits_carry_over_to_fifo() {
    // setup_ports: a port pending in shared_info before init_control stays pending.
    let mut h = Hub::new();
    h.domain_create(D1, DomainConfig::default(), VecEventWords::new(1))
        .unwrap();
    let p = h.bind_ipi(D1, 0).unwrap();
    h.send(D1, p).unwrap();
    h.init_control(D1, &ctl(0, CB, 0)).unwrap();
    h.expand_array(D1, ARRAY).unwrap();
    assert_eq!(word(&h, p), P | L);
    assert_eq!(ready(&h, 0), 1 << 7);
}

#[test]
fn priorities_pick_the_queue_and_are_checked() {
    // evtchn_fifo_set_priority: > EVTCHN_FIFO_PRIORITY_MIN is EINVAL; later events go to the
    // new queue.
    let mut h = fifo_hub(2);
    let p = h.bind_ipi(D1, 1).unwrap();
    assert_eq!(h.set_priority(D1, p, 16), Err(Errno::EINVAL));
    assert_eq!(h.set_priority(D1, Port(4000), 1), Err(Errno::EINVAL));
    h.set_priority(D1, p, 2).unwrap();
    h.send(D1, p).unwrap();
    assert_eq!(head(&h, 1, 2), p.0);
    assert_eq!(ready(&h, 1), 1 << 2);
    assert_eq!(ready(&h, 0), 0);
}

#[test]
fn set_priority_of_a_port_not_in_use_is_eacces() {
    // evtchn_port_set_priority: !evtchn_usable (a free or reserved port) -> -EACCES, before the
    // priority's own check; under 2-level the ABI has no set_priority: -ENOSYS first.
    let mut h = fifo_hub(2);
    let p = h.bind_ipi(D1, 1).unwrap();
    h.close(D1, p).unwrap();
    assert_eq!(h.set_priority(D1, p, 2), Err(Errno::EACCES));
    assert_eq!(h.set_priority(D1, p, 16), Err(Errno::EACCES));
    assert_eq!(h.set_priority(D1, Port(0), 2), Err(Errno::EACCES));
}

#[test]
fn reset_returns_to_two_level_and_gives_the_pages_back() {
    // evtchn_reset: every port closed, then evtchn_fifo_destroy and the 2-level ops again.
    let mut h = fifo_hub(2);
    assert_eq!(w(&h).mapped.len(), 2);
    h.reset(D1, D1).unwrap();
    assert!(h.domain(D1).unwrap().fifo().is_none());
    assert!(w(&h).mapped.is_empty());
    assert_eq!(h.expand_array(D1, ARRAY), Err(Errno::EOPNOTSUPP));
}

#[test]
fn kill_gives_the_pages_back() {
    let mut h = fifo_hub(2);
    h.domain_kill(D1).unwrap();
    assert!(w(&h).mapped.is_empty());
}

#[test]
fn a_port_still_linked_is_not_reused() {
    // get_free_port skips free ports that evtchn_is_busy (still LINKED on a queue).
    let mut h = fifo_hub(1);
    let a = h.bind_ipi(D1, 0).unwrap();
    h.send(D1, a).unwrap();
    h.close(D1, a).unwrap();
    assert_eq!(word(&h, a), L, "closing clears PENDING only");
    let b = h.bind_ipi(D1, 0).unwrap();
    assert_ne!(a, b);
    // Once the guest unlinks it, it is free again.
    h.domain_mut(D1)
        .unwrap()
        .words_mut()
        .guest_set_word(ARRAY, a.0 * 4, 0);
    assert_eq!(h.bind_ipi(D1, 0).unwrap(), a);
}

#[test]
fn a_busy_tail_is_still_linked_to() {
    // evtchn_fifo_set_link with the guest holding BUSY on the tail: the link lands and BUSY is
    // cleared by the cmpxchg.
    let mut h = fifo_hub(1);
    let a = h.bind_ipi(D1, 0).unwrap();
    let b = h.bind_ipi(D1, 0).unwrap();
    h.send(D1, a).unwrap();
    let wa = word(&h, a);
    h.domain_mut(D1).unwrap().words_mut().guest_set_word(
        ARRAY,
        a.0 * 4,
        wa | (1 << EVTCHN_FIFO_BUSY),
    );
    h.send(D1, b).unwrap();
    assert_eq!(word(&h, a), P | L | b.0);
}

/// The guest's side, as Linux's `evtchn_fifo_handle_events` does it: for each READY queue,
/// from the head, unlink each event (clear LINKED, take LINK), and deliver it if it is PENDING
/// and not MASKED (clearing PENDING); a queue walked to its end loses its READY bit.
fn guest_consume(h: &mut Hub, vcpus: u32, out: &mut Vec<u32>) {
    let ws = h.domain_mut(D1).unwrap().words_mut();
    for v in 0..vcpus {
        let base = 128 * v;
        loop {
            let r = ws.guest_word(CB, base);
            if r == 0 {
                break;
            }
            let q = r.trailing_zeros();
            let mut port = ws.guest_word(CB, base + 8 + 4 * q);
            ws.guest_set_word(CB, base + 8 + 4 * q, 0);
            while port != 0 {
                let at = port * 4;
                let wv = ws.guest_word(ARRAY, at);
                ws.guest_set_word(ARRAY, at, wv & !(L | EVTCHN_FIFO_LINK_MASK));
                if wv & P != 0 && wv & M == 0 {
                    let now = ws.guest_word(ARRAY, at);
                    ws.guest_set_word(ARRAY, at, now & !P);
                    out.push(port);
                }
                port = wv & EVTCHN_FIFO_LINK_MASK;
            }
            let r = ws.guest_word(CB, base);
            ws.guest_set_word(CB, base, r & !(1 << q));
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    Send(usize),
    Mask(usize),
    Unmask(usize),
    Priority(usize, u32),
    Consume,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..6usize).prop_map(Step::Send),
        1 => (0..6usize).prop_map(Step::Mask),
        1 => (0..6usize).prop_map(Step::Unmask),
        1 => (0..6usize, 0..16u32).prop_map(|(p, q)| Step::Priority(p, q)),
        2 => Just(Step::Consume),
    ]
}

proptest! {
    /// Sends, masks, unmasks, priority changes and guest consumption in any order: every port
    /// sent is delivered once per send that found it not pending, none that was not sent is,
    /// and after unmasking everything and consuming, nothing is left pending or linked.
    #[test]
    fn no_event_is_lost_or_invented(steps in proptest::collection::vec(step(), 1..80)) {
        let mut h = fifo_hub(2);
        let ports: Vec<Port> = (0..6).map(|i| h.bind_ipi(D1, i % 2).unwrap()).collect();
        let mut owed = [0u32; 6];
        let mut got = Vec::new();
        let consume = |h: &mut Hub, owed: &mut [u32; 6], got: &mut Vec<u32>| {
            got.clear();
            guest_consume(h, 2, got);
            for p in got.iter() {
                let i = ports.iter().position(|q| q.0 == *p).expect("a bound port");
                prop_assert!(owed[i] > 0, "port {} delivered without a send", p);
                owed[i] = 0;
            }
            Ok(())
        };
        for s in steps {
            match s {
                Step::Send(i) => {
                    if !h.domain(D1).unwrap().is_pending(ports[i]) {
                        owed[i] = 1;
                    }
                    h.send(D1, ports[i]).unwrap();
                }
                Step::Mask(i) => {
                    let at = ports[i].0 * 4;
                    let ws = h.domain_mut(D1).unwrap().words_mut();
                    let v = ws.guest_word(ARRAY, at);
                    ws.guest_set_word(ARRAY, at, v | M);
                }
                Step::Unmask(i) => {
                    h.unmask(D1, ports[i]).unwrap();
                }
                Step::Priority(i, q) => h.set_priority(D1, ports[i], q).unwrap(),
                Step::Consume => consume(&mut h, &mut owed, &mut got)?,
            }
        }
        for p in &ports {
            h.unmask(D1, *p).unwrap();
        }
        consume(&mut h, &mut owed, &mut got)?;
        prop_assert_eq!(owed, [0; 6], "events lost");
        for p in &ports {
            prop_assert_eq!(word(&h, *p) & (P | L), 0);
        }
    }
}
