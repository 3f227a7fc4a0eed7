//! Tests of `xen_abi::io::ring`: notify decisions against the C macros, free-running index
//! wrap-around, a model-based property test of front/back interleavings, and malicious peers.

#[path = "../fuzz/common/back_ring.rs"]
mod back_ring;

use std::collections::VecDeque;

use back_ring::VecMemory;
use proptest::prelude::*;
use xen_abi::io::ring::{
    need_notify, ring_area_bytes, ring_size, BackRing, FrontRing, RingError, RingIdx, RingMemory,
    REQ_EVENT_OFFSET, REQ_PROD_OFFSET, RING_ENTRIES_OFFSET, RSP_EVENT_OFFSET, RSP_PROD_OFFSET,
};
use xen_abi::Errno;

type Front = FrontRing<u64, u64>;
type Back = BackRing<u64, u64>;

/// `RING_PUSH_*_AND_CHECK_NOTIFY`'s decision, transcribed from the C macro:
/// `(RING_IDX)(__new - event) < (RING_IDX)(__new - __old)`.
fn c_check_notify(old: u32, new: u32, event: u32) -> bool {
    let lhs: u32 = new.wrapping_sub(event);
    let rhs: u32 = new.wrapping_sub(old);
    lhs < rhs
}

/// The same decision stated as what it means: the event index lies in the half-open window
/// `(old, new]` of the indices just produced, walking forward from `old`.
fn event_in_window(old: u32, new: u32, event: u32) -> bool {
    let produced = new.wrapping_sub(old);
    let dist = event.wrapping_sub(old);
    dist >= 1 && dist <= produced
}

/// An area holding exactly `n` (a power of two) `u64` entries.
fn area_for(n: u32) -> usize {
    RING_ENTRIES_OFFSET + n as usize * 8
}

/// A front and back attached at `start` over a fresh shared ring of `n` entries.
fn ring_at(n: u32, start: RingIdx) -> (VecMemory, Front, Back) {
    let mut mem = VecMemory::new(area_for(n));
    let front = Front::init(&mut mem).expect("area fits");
    // Re-attach both ends at `start`, as after a resume, with the shared indices to match.
    let front = if start == 0 {
        front
    } else {
        Front::attach(&mem, start).expect("area fits")
    };
    mem.poke_index(REQ_PROD_OFFSET, start);
    mem.poke_index(RSP_PROD_OFFSET, start);
    mem.poke_index(REQ_EVENT_OFFSET, start.wrapping_add(1));
    mem.poke_index(RSP_EVENT_OFFSET, start.wrapping_add(1));
    let back = Back::attach(&mem, start).expect("area fits");
    mem.set_slots(8, n);
    assert_eq!(front.size(), n);
    (mem, front, back)
}

/// Small values and values around the u32 wrap.
const EDGE: [u32; 12] = [
    0,
    1,
    2,
    3,
    5,
    8,
    0x7fff_ffff,
    0x8000_0000,
    u32::MAX - 3,
    u32::MAX - 2,
    u32::MAX - 1,
    u32::MAX,
];

#[test]
fn need_notify_every_small_combination_matches_c_macro() {
    let mut count = 0;
    for old in EDGE.iter().copied().chain(0..16) {
        for new in EDGE.iter().copied().chain(0..16) {
            for event in EDGE.iter().copied().chain(0..16) {
                let c = c_check_notify(old, new, event);
                assert_eq!(need_notify(old, new, event), c, "({old}, {new}, {event})");
                assert_eq!(
                    event_in_window(old, new, event),
                    c,
                    "({old}, {new}, {event})"
                );
                count += 1;
            }
        }
    }
    assert_eq!(count, 28 * 28 * 28);
}

#[test]
fn push_requests_and_check_notify_every_small_combination_matches_c_macro() {
    // The ring's own push path: attach at `old`, put `k` requests, set `req_event`, push.
    for old in EDGE {
        for k in 0..=8u32 {
            for ev_off in 0..=10u32 {
                let (mut mem, mut front, _) = ring_at(8, old);
                for i in 0..k {
                    front.put_request(&mut mem, &u64::from(i)).expect("room");
                }
                let event = old.wrapping_add(ev_off).wrapping_sub(1);
                mem.poke_index(REQ_EVENT_OFFSET, event);
                let new = old.wrapping_add(k);
                assert_eq!(
                    front.push_requests_and_check_notify(&mut mem),
                    c_check_notify(old, new, event),
                    "old {old:#x} k {k} event {event:#x}"
                );
                assert_eq!(mem.peek_index(REQ_PROD_OFFSET), new);
            }
        }
    }
}

#[test]
fn push_responses_and_check_notify_event_in_window_notifies() {
    let (mut mem, mut front, mut back) = ring_at(8, u32::MAX - 1);
    for i in 0..4 {
        front.put_request(&mut mem, &i).expect("room");
    }
    front.push_requests(&mut mem);
    while back.take_request(&mem).expect("honest front").is_some() {}
    // Front wants a notification at the third response (index old + 3).
    mem.poke_index(RSP_EVENT_OFFSET, (u32::MAX - 1).wrapping_add(3));
    back.put_response(&mut mem, &10).expect("in flight");
    back.put_response(&mut mem, &11).expect("in flight");
    assert!(!back.push_responses_and_check_notify(&mut mem));
    back.put_response(&mut mem, &12).expect("in flight");
    assert!(back.push_responses_and_check_notify(&mut mem));
    // Nothing new produced: never a notification.
    assert!(!back.push_responses_and_check_notify(&mut mem));
}

#[test]
fn take_request_across_u32_overflow_returns_in_order() {
    let start = u32::MAX - 5;
    let (mut mem, mut front, mut back) = ring_at(4, start);
    for i in 0..40u64 {
        front.put_request(&mut mem, &(i * 3)).expect("room");
        front.push_requests(&mut mem);
        assert_eq!(back.take_request(&mem), Ok(Some(i * 3)));
        back.put_response(&mut mem, &(i + 100)).expect("in flight");
        back.push_responses(&mut mem);
        assert_eq!(front.take_response(&mem), Ok(Some(i + 100)));
    }
    assert_eq!(back.req_cons(), start.wrapping_add(40));
    assert_eq!(front.rsp_cons(), start.wrapping_add(40));
    assert!(back.req_cons() < start, "indices wrapped past zero");
}

#[test]
fn put_request_full_ring_is_full() {
    let (mut mem, mut front, _) = ring_at(4, u32::MAX - 1);
    for i in 0..4 {
        assert_eq!(front.free_requests(), 4 - i as u32);
        front.put_request(&mut mem, &i).expect("room");
    }
    assert!(front.is_full());
    assert_eq!(front.put_request(&mut mem, &9), Err(RingError::Full));
    assert_eq!(Errno::from(RingError::Full), Errno::EAGAIN);
}

#[test]
fn final_check_for_requests_empty_sets_event_to_cons_plus_one() {
    let (mut mem, mut front, mut back) = ring_at(8, 0xffff_fff0);
    front.put_request(&mut mem, &1).expect("room");
    front.push_requests(&mut mem);
    assert_eq!(back.final_check_for_requests(&mut mem), Ok(true));
    assert_eq!(back.take_request(&mem), Ok(Some(1)));
    assert_eq!(back.final_check_for_requests(&mut mem), Ok(false));
    assert_eq!(mem.peek_index(REQ_EVENT_OFFSET), 0xffff_fff2);
    // The next request the front pushes must notify.
    front.put_request(&mut mem, &2).expect("room");
    assert!(front.push_requests_and_check_notify(&mut mem));
}

#[test]
fn final_check_for_responses_empty_sets_event_to_cons_plus_one() {
    let (mut mem, mut front, mut back) = ring_at(8, 7);
    assert_eq!(front.final_check_for_responses(&mut mem), Ok(false));
    assert_eq!(mem.peek_index(RSP_EVENT_OFFSET), 8);
    front.put_request(&mut mem, &1).expect("room");
    front.push_requests(&mut mem);
    back.take_request(&mem).expect("honest").expect("one");
    back.put_response(&mut mem, &5).expect("in flight");
    assert!(back.push_responses_and_check_notify(&mut mem));
    assert_eq!(front.final_check_for_responses(&mut mem), Ok(true));
}

/// A memory whose full fence lets the peer act: the front end pushes a request exactly between
/// the back end setting `req_event` and re-checking. The re-check must see it.
struct RacingFront {
    mem: VecMemory,
    pending: std::cell::Cell<Option<RingIdx>>,
}

impl RingMemory for RacingFront {
    fn size(&self) -> usize {
        self.mem.size()
    }
    fn read_index(&self, offset: usize) -> RingIdx {
        if let (REQ_PROD_OFFSET, Some(p)) = (offset, self.pending.get()) {
            return p;
        }
        self.mem.read_index(offset)
    }
    fn write_index(&mut self, offset: usize, value: RingIdx) {
        self.mem.write_index(offset, value)
    }
    fn full_fence(&self) {
        // The front's push lands here: after our event store, before our re-read.
        let prod = self.mem.peek_index(REQ_PROD_OFFSET);
        self.pending.set(Some(prod.wrapping_add(1)));
    }
    fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        self.mem.read_bytes(offset, dst)
    }
    fn write_bytes(&mut self, offset: usize, src: &[u8]) {
        self.mem.write_bytes(offset, src)
    }
}

#[test]
fn final_check_for_requests_push_during_fence_reports_work() {
    let (mem, _, mut back) = ring_at(8, 3);
    let mut racing = RacingFront {
        mem,
        pending: std::cell::Cell::new(None),
    };
    assert_eq!(back.final_check_for_requests(&mut racing), Ok(true));
    assert_eq!(racing.mem.peek_index(REQ_EVENT_OFFSET), 4);
}

#[test]
fn take_request_prod_moved_backwards_is_overflow() {
    let (mut mem, mut front, mut back) = ring_at(8, 100);
    for i in 0..5 {
        front.put_request(&mut mem, &i).expect("room");
    }
    front.push_requests(&mut mem);
    for _ in 0..5 {
        back.take_request(&mem).expect("honest").expect("published");
    }
    // req_cons = 105, rsp_prod_pvt = 100: a prod of 103 is inside C's
    // RING_REQUEST_PROD_OVERFLOW window but behind req_cons.
    mem.poke_index(REQ_PROD_OFFSET, 103);
    assert_eq!(
        back.take_request(&mem),
        Err(RingError::Overflow {
            prod: 103,
            cons: 105,
            max: 108
        })
    );
    assert_eq!(back.req_cons(), 105);
    assert_eq!(
        Errno::from(back.take_request(&mem).expect_err("still bad")),
        Errno::EIO
    );
}

#[test]
fn take_request_prod_past_ring_size_is_overflow() {
    let (mut mem, _, mut back) = ring_at(8, u32::MAX - 2);
    // Exactly a ring's worth ahead is legal ...
    mem.poke_index(REQ_PROD_OFFSET, (u32::MAX - 2).wrapping_add(8));
    assert_eq!(back.unconsumed_requests(&mem), Ok(8));
    // ... one more is not.
    mem.poke_index(REQ_PROD_OFFSET, (u32::MAX - 2).wrapping_add(9));
    assert_eq!(
        back.take_request(&mem),
        Err(RingError::Overflow {
            prod: 6,
            cons: u32::MAX - 2,
            max: 5
        })
    );
    assert_eq!(
        back.final_check_for_requests(&mut mem),
        back.take_request(&mem).map(|_| true)
    );
}

#[test]
fn take_response_rsp_prod_past_pushed_requests_is_overflow() {
    let (mut mem, mut front, _) = ring_at(8, 0);
    front.put_request(&mut mem, &1).expect("room");
    front.put_request(&mut mem, &2).expect("room");
    front.push_requests(&mut mem);
    // The back end claims three responses to two requests.
    mem.poke_index(RSP_PROD_OFFSET, 3);
    assert_eq!(
        front.take_response(&mem),
        Err(RingError::Overflow {
            prod: 3,
            cons: 0,
            max: 2
        })
    );
    mem.poke_index(RSP_PROD_OFFSET, u32::MAX);
    assert!(matches!(
        front.take_response(&mem),
        Err(RingError::Overflow { .. })
    ));
    mem.poke_index(RSP_PROD_OFFSET, 2);
    assert_eq!(front.unconsumed_responses(&mem), Ok(2));
}

#[test]
fn take_request_full_in_flight_caps_unconsumed() {
    // XEN_RING_NR_UNCONSUMED_REQUESTS: min(published, slots still answerable).
    let (mut mem, mut front, mut back) = ring_at(4, 0);
    for i in 0..4 {
        front.put_request(&mut mem, &i).expect("room");
    }
    front.push_requests(&mut mem);
    assert_eq!(back.unconsumed_requests(&mem), Ok(4));
    for _ in 0..4 {
        back.take_request(&mem).expect("honest").expect("published");
    }
    assert_eq!(back.requests_in_flight(), 4);
    assert_eq!(back.take_request(&mem), Ok(None));
    back.put_response(&mut mem, &0).expect("in flight");
    assert_eq!(back.unconsumed_requests(&mem), Ok(0));
}

#[test]
fn attach_multi_page_order_sizes_ring_from_area() {
    for (order, blk, tx) in [(0, 32, 256), (1, 64, 512), (2, 128, 1024), (3, 256, 2048)] {
        let bytes = ring_area_bytes(order).expect("small order");
        assert_eq!(ring_size(bytes, 112), blk);
        assert_eq!(ring_size(bytes, 12), tx);
        let mut mem = VecMemory::new(bytes);
        let ring = xen_abi::io::blkif::BlkifFrontRing::init(&mut mem).expect("fits");
        assert_eq!(ring.size(), blk);
    }
}

#[test]
fn take_request_memory_smaller_than_ring_is_memory_too_small() {
    let big = VecMemory::new(area_for(8));
    let mut back = Back::init(&big).expect("fits");
    let small = VecMemory::new(area_for(4));
    assert_eq!(
        back.take_request(&small),
        Err(RingError::MemoryTooSmall {
            needed: area_for(8),
            size: area_for(4)
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Property tests.

/// One step of a front end and a back end sharing a ring.
#[derive(Clone, Debug)]
enum Op {
    FrontPut(u64),
    FrontPush,
    FrontPushNotify,
    FrontTake,
    FrontFinalCheck,
    BackTake,
    BackPut(u64),
    BackPushNotify,
    BackFinalCheck,
}

/// Decode one generated `(kind, value)` pair into an operation, weighted towards puts and takes.
/// (Plain tuples generate far faster than a `prop_oneof!` of nine arms in a debug build.)
fn decode(k: u8, v: u64) -> Op {
    match k {
        0..=2 => Op::FrontPut(v),
        3 => Op::FrontPush,
        4 => Op::FrontPushNotify,
        5 | 6 => Op::FrontTake,
        7 => Op::FrontFinalCheck,
        8 | 9 => Op::BackTake,
        10 | 11 => Op::BackPut(v),
        12 => Op::BackPushNotify,
        _ => Op::BackFinalCheck,
    }
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec((0u8..14, any::<u64>()), 1..48)
        .prop_map(|v| v.into_iter().map(|(k, x)| decode(k, x)).collect())
}

fn start_index() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        (0u32..64).prop_map(|d| u32::MAX - d),
        any::<u32>(),
    ]
}

/// The naive model: where every request and response is.
#[derive(Default)]
struct Model {
    req_unpushed: VecDeque<u64>,
    req_pushed: VecDeque<u64>,
    at_back: usize,
    rsp_unpushed: VecDeque<u64>,
    rsp_pushed: VecDeque<u64>,
}

impl Model {
    fn occupied(&self) -> usize {
        self.req_unpushed.len()
            + self.req_pushed.len()
            + self.at_back
            + self.rsp_unpushed.len()
            + self.rsp_pushed.len()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn need_notify_random_u32s_matches_c_macro(old: u32, new: u32, event: u32) {
        prop_assert_eq!(need_notify(old, new, event), c_check_notify(old, new, event));
        prop_assert_eq!(event_in_window(old, new, event), c_check_notify(old, new, event));
    }

    #[test]
    fn interleaving_random_ops_matches_vecdeque_model(
        log2 in 0u32..4,
        start in start_index(),
        ops in ops(),
    ) {
        let n = 1u32 << log2;
        let (mut mem, mut front, mut back) = ring_at(n, start);
        let mut m = Model::default();
        for op in ops {
            match op {
                Op::FrontPut(v) => {
                    let r = front.put_request(&mut mem, &v);
                    if m.occupied() == n as usize {
                        prop_assert_eq!(r, Err(RingError::Full));
                    } else {
                        prop_assert!(r.is_ok());
                        m.req_unpushed.push_back(v);
                    }
                }
                Op::FrontPush => {
                    front.push_requests(&mut mem);
                    m.req_pushed.extend(m.req_unpushed.drain(..));
                }
                Op::FrontPushNotify => {
                    let old = mem.peek_index(REQ_PROD_OFFSET);
                    let event = mem.peek_index(REQ_EVENT_OFFSET);
                    let new = front.req_prod_pvt();
                    let notify = front.push_requests_and_check_notify(&mut mem);
                    prop_assert_eq!(notify, c_check_notify(old, new, event));
                    m.req_pushed.extend(m.req_unpushed.drain(..));
                }
                Op::FrontTake => {
                    let r = front.take_response(&mem);
                    prop_assert_eq!(r, Ok(m.rsp_pushed.pop_front()));
                }
                Op::FrontFinalCheck => {
                    let r = front.final_check_for_responses(&mut mem);
                    prop_assert_eq!(r, Ok(!m.rsp_pushed.is_empty()));
                    if m.rsp_pushed.is_empty() {
                        prop_assert_eq!(
                            mem.peek_index(RSP_EVENT_OFFSET),
                            front.rsp_cons().wrapping_add(1)
                        );
                    }
                }
                Op::BackTake => {
                    let r = back.take_request(&mem);
                    let expect = m.req_pushed.pop_front();
                    if expect.is_some() {
                        m.at_back += 1;
                    }
                    prop_assert_eq!(r, Ok(expect));
                }
                Op::BackPut(v) => {
                    let r = back.put_response(&mut mem, &v);
                    if m.at_back == 0 {
                        prop_assert_eq!(r, Err(RingError::NoRequestOutstanding));
                    } else {
                        prop_assert!(r.is_ok());
                        m.at_back -= 1;
                        m.rsp_unpushed.push_back(v);
                    }
                }
                Op::BackPushNotify => {
                    let old = mem.peek_index(RSP_PROD_OFFSET);
                    let event = mem.peek_index(RSP_EVENT_OFFSET);
                    let new = back.rsp_prod_pvt();
                    let notify = back.push_responses_and_check_notify(&mut mem);
                    prop_assert_eq!(notify, c_check_notify(old, new, event));
                    m.rsp_pushed.extend(m.rsp_unpushed.drain(..));
                }
                Op::BackFinalCheck => {
                    let r = back.final_check_for_requests(&mut mem);
                    prop_assert_eq!(r, Ok(!m.req_pushed.is_empty()));
                    if m.req_pushed.is_empty() {
                        prop_assert_eq!(
                            mem.peek_index(REQ_EVENT_OFFSET),
                            back.req_cons().wrapping_add(1)
                        );
                    }
                }
            }
            // Invariants after every step.
            prop_assert_eq!(front.free_requests() as usize, n as usize - m.occupied());
            prop_assert_eq!(back.requests_in_flight() as usize, m.at_back);
            prop_assert_eq!(back.unconsumed_requests(&mem), Ok(m.req_pushed.len() as u32));
            prop_assert_eq!(front.unconsumed_responses(&mem), Ok(m.rsp_pushed.len() as u32));
        }
    }

    #[test]
    fn take_request_malicious_prod_is_overflow_iff_outside_window(
        log2 in 0u32..6,
        start in start_index(),
        pushed in 0u32..64,
        taken in 0u32..64,
        answered in 0u32..64,
        prod in prop_oneof![any::<u32>(), (-80i32..80).prop_map(|d| d as u32)],
        relative in any::<bool>(),
    ) {
        let n = 1u32 << log2;
        let (mut mem, mut front, mut back) = ring_at(n, start);
        let pushed = pushed % (n + 1);
        for i in 0..pushed {
            front.put_request(&mut mem, &u64::from(i)).expect("room");
        }
        front.push_requests(&mut mem);
        for _ in 0..taken.min(pushed) {
            back.take_request(&mem).expect("honest").expect("published");
        }
        for _ in 0..answered.min(back.requests_in_flight()) {
            back.put_response(&mut mem, &0).expect("in flight");
        }
        let prod = if relative { back.req_cons().wrapping_add(prod) } else { prod };
        mem.poke_index(REQ_PROD_OFFSET, prod);
        let cons = back.req_cons();
        let max = back.rsp_prod_pvt().wrapping_add(n);
        let in_window = prod.wrapping_sub(cons) <= max.wrapping_sub(cons);
        let r = back.take_request(&mem);
        if in_window {
            prop_assert!(r.is_ok(), "in-window prod rejected: {:?}", r);
            let got = r.expect("checked");
            prop_assert_eq!(got.is_some(), prod != cons);
        } else {
            prop_assert_eq!(r, Err(RingError::Overflow { prod, cons, max }));
            prop_assert_eq!(back.req_cons(), cons);
        }
        prop_assert!(back.requests_in_flight() <= n);
    }

    #[test]
    fn back_ring_consumer_random_bytes_never_panics(
        data in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        back_ring::run_back_ring_consumer(&data);
    }
}
