//! The queue against a ring in ordinary memory, with a frontend ([`FrontRing`]) on the same
//! bytes and a fake event channel.

use super::*;
use std::sync::atomic::AtomicU32;
use xen_abi::io::ring::{FrontRing, RingIdx};
use xen_abi::types::PAGE_SIZE;

/// One ring page shared by the test's frontend and the queue (through a `Box`).
#[derive(Clone)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl RingMemory for Shared {
    fn size(&self) -> usize {
        PAGE_SIZE
    }
    fn read_index(&self, offset: usize) -> RingIdx {
        let mut b = [0; 4];
        self.read_bytes(offset, &mut b);
        u32::from_le_bytes(b)
    }
    fn write_index(&mut self, offset: usize, value: RingIdx) {
        self.write_bytes(offset, &value.to_le_bytes());
    }
    fn full_fence(&self) {}
    fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        let m = self.0.lock().expect("test memory lock");
        dst.copy_from_slice(&m[offset..offset + dst.len()]);
    }
    fn write_bytes(&mut self, offset: usize, src: &[u8]) {
        let mut m = self.0.lock().expect("test memory lock");
        m[offset..offset + src.len()].copy_from_slice(src);
    }
}

/// Counts notifications; `pending` reports the next queued port, if any.
#[derive(Default)]
struct FakeEvtchn {
    notified: AtomicU32,
    pending: Mutex<Vec<Port>>,
    unmasked: AtomicU32,
}

impl EventChannel for FakeEvtchn {
    fn notify(&self, _port: Port) -> io::Result<()> {
        self.notified.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn pending(&self, _timeout_ms: i32) -> io::Result<Option<Port>> {
        Ok(self.pending.lock().expect("fake lock").pop())
    }
    fn unmask(&self, _port: Port) -> io::Result<()> {
        self.unmasked.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

type Queue = BackQueue<u64, u64, Box<Shared>, FakeEvtchn>;

fn setup() -> (FrontRing<u64, u64>, Shared, Queue) {
    let mut mem = Shared(Arc::new(Mutex::new(vec![0; PAGE_SIZE])));
    let front = FrontRing::init(&mut mem).expect("a page holds a ring");
    let q = Queue::new(
        "test",
        Box::new(mem.clone()),
        FakeEvtchn::default(),
        Port(7),
    )
    .expect("a page holds a ring");
    (front, mem, q)
}

fn produce(front: &mut FrontRing<u64, u64>, mem: &mut Shared, reqs: &[u64]) {
    for r in reqs {
        front.put_request(mem, r).expect("room in the ring");
    }
    front.push_requests(mem);
}

#[test]
fn take_published_requests_returns_copies_in_order() {
    let (mut front, mut mem, q) = setup();
    produce(&mut front, &mut mem, &[1, 2, 3]);
    let (batch, more) = q.take(usize::MAX);
    assert_eq!(batch, vec![1, 2, 3]);
    assert!(!more);
    assert_eq!(q.in_flight(), 3);
    assert_eq!(q.stats().taken, 3);
    assert!(!q.is_broken());
}

#[test]
fn take_with_no_requests_is_empty() {
    let (_front, _mem, q) = setup();
    assert_eq!(q.take(usize::MAX), (vec![], false));
    assert_eq!(q.in_flight(), 0);
}

#[test]
fn take_bounded_by_room_leaves_the_rest() {
    let (mut front, mut mem, q) = setup();
    produce(&mut front, &mut mem, &[1, 2, 3, 4, 5]);
    assert_eq!(q.take(2).0, vec![1, 2]);
    let (batch, more) = q.take(10);
    assert_eq!(batch, vec![3, 4, 5]);
    assert!(!more);
    assert_eq!(q.in_flight(), 5);
}

#[test]
fn take_producer_index_beyond_ring_size_is_broken() {
    let (front, mut mem, q) = setup();
    // The frontend claims more requests than the ring can hold.
    mem.write_index(0, front.size() + 1);
    let (batch, more) = q.take(usize::MAX);
    assert!(batch.is_empty());
    assert!(!more);
    assert!(q.is_broken());
    assert_eq!(q.in_flight(), 0);
}

#[test]
fn take_producer_index_jump_after_valid_requests_keeps_nothing_new() {
    let (mut front, mut mem, q) = setup();
    produce(&mut front, &mut mem, &[9]);
    assert_eq!(q.take(usize::MAX).0, vec![9]);
    mem.write_index(0, 1000);
    assert!(q.take(usize::MAX).0.is_empty());
    assert!(q.is_broken());
}

#[test]
fn answer_posts_response_notifies_and_settles_in_flight() {
    let (mut front, mut mem, q) = setup();
    produce(&mut front, &mut mem, &[1, 2]);
    let (batch, _) = q.take(usize::MAX);
    for r in batch {
        q.answer(&(r * 10));
    }
    assert_eq!(q.in_flight(), 0);
    // The frontend waits for a response (rsp_event = 1): the first push notifies.
    assert!(q.evtchn().notified.load(Ordering::SeqCst) >= 1);
    assert_eq!(front.take_response(&mem).expect("valid ring"), Some(10));
    assert_eq!(front.take_response(&mem).expect("valid ring"), Some(20));
    assert_eq!(front.take_response(&mem).expect("valid ring"), None);
}

#[test]
fn wait_event_counts_events_and_timeouts_and_unmasks() {
    let (_front, _mem, q) = setup();
    q.evtchn().pending.lock().expect("fake lock").push(Port(7));
    q.wait_event(0);
    q.wait_event(0);
    q.note_refused();
    let s = q.stats();
    assert_eq!((s.events, s.timeouts, s.refused), (1, 1, 1));
    assert_eq!(q.evtchn().unmasked.load(Ordering::SeqCst), 1);
    assert_eq!(
        s.to_string(),
        "0 requests, 1 refused, 1 wake-ups by event, 1 by timeout"
    );
}

#[test]
fn stop_is_seen() {
    let (_front, _mem, q) = setup();
    assert!(!q.is_stopped());
    q.stop();
    assert!(q.is_stopped());
}

#[test]
fn answer_all_posts_every_response_with_one_notification() {
    let (mut front, mut mem, q) = setup();
    produce(&mut front, &mut mem, &[1, 2, 3]);
    let (batch, _) = q.take(usize::MAX);
    q.answer_all(&[10, 20, 30]);
    assert_eq!(q.in_flight(), 0);
    assert_eq!(q.evtchn().notified.load(Ordering::SeqCst), 1);
    let mut got = Vec::new();
    while let Some(r) = front.take_response(&mem).expect("responses well formed") {
        got.push(r);
    }
    assert_eq!(got, vec![10, 20, 30]);
    assert_eq!(batch.len(), 3);
}
