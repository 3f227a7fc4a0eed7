//! One virtual block device: its backing, its queues (a mapped ring and an event channel each,
//! served by one thread), and the I/O engine, so one slow request does not stall the ring:
//! a pool of worker threads doing `preadv`/`pwritev`, or an io_uring per queue (see
//! docs/blkback.md for the measurements behind the default).

use crate::request::{self, Decoded, Dir, Limits, Reject, Segment, SECTOR_SIZE};
use dom0_sys::blockio::{Bounce, Completion, IoBuf, Uring};
use dom0_sys::gntdev::{ForeignSpan, Gntdev, GrantMapping};
use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use xen_abi::io::blkif::{
    BlkifRequest, BlkifRequestSegment, BlkifResponse, BLKIF_OP_DISCARD, BLKIF_OP_FLUSH_DISKCACHE,
    BLKIF_RSP_ERROR, BLKIF_RSP_OKAY,
};
use xen_abi::types::{DomId, GrantRef, Port, PAGE_SIZE};
use xenbus_backend::queue::{BackQueue, QueueError};
use zerocopy::FromBytes;

/// The disk behind a device.
#[derive(Debug)]
pub struct Backing {
    /// The open file or block device.
    pub file: Arc<File>,
    /// What requests may do.
    pub limits: Limits,
}

/// How a device's reads and writes reach its backing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// [`WORKERS`] threads per device, each doing one blocking `preadv`/`pwritev` at a time.
    Pool,
    /// One io_uring per queue, driven by the queue's own thread (no hand-off).
    Uring,
}

/// Per-connection choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The I/O engine.
    pub engine: Engine,
    /// Both ends agreed on `feature-persistent`: keep the frontend's grants mapped.
    pub persistent: bool,
}

/// Why a device could not connect: setting up queue `queue` failed.
#[derive(Debug, thiserror::Error)]
#[error("queue {queue}: {err}")]
pub struct ConnectError {
    /// The queue's number.
    pub queue: usize,
    /// What failed.
    pub err: QueueError,
}

/// Persistent grants kept mapped per queue, as Linux's blkback (`max_persistent_grants`).
pub const MAX_PERSISTENT_GRANTS: usize = 1056;

/// Requests a queue has in flight at most with the io_uring engine (their bounce buffers are
/// the memory bound); further requests wait in the shared ring.
pub const URING_MAX_IN_FLIGHT: usize = 64;

/// The frontend's persistent grants of one queue: each mapped on first use (writable, as the
/// frontend grants them) and kept until the queue goes; beyond [`MAX_PERSISTENT_GRANTS`], or if
/// a grant cannot be mapped, a request falls back to grant copy.
#[derive(Default)]
struct Persistent {
    maps: Mutex<HashMap<GrantRef, Arc<GrantMapping>>>,
    /// Requests served in place and by copy (for the log).
    in_place: AtomicUsize,
    copied: AtomicUsize,
}

/// A queue: the ring and its event channel (locked inside: the queue thread takes requests,
/// workers put responses), and the persistent grants when they were negotiated.
struct Queue {
    ring: BackQueue<BlkifRequest, BlkifResponse>,
    /// Present when persistent grants were negotiated.
    persistent: Option<Persistent>,
}

impl Queue {
    /// Answers a request taken from the ring.
    fn answer(&self, (id, op, status): (u64, u8, i16)) {
        self.ring.answer(&BlkifResponse {
            id,
            operation: op,
            status,
            ..Default::default()
        });
    }
}

struct Job {
    queue: Arc<Queue>,
    req: Decoded,
}

/// Everything a device needs to serve its queues.
struct Shared {
    /// The backend path, naming the device in the log.
    name: String,
    domid: DomId,
    gntdev: Arc<Gntdev>,
    backing: Arc<Backing>,
}

/// A connected device: its queue threads and worker pool. Dropping it without
/// [`Connection::disconnect`] leaves threads running; always disconnect.
pub struct Connection {
    name: String,
    queues: Vec<(Arc<Queue>, JoinHandle<()>)>,
    workers: Vec<JoinHandle<()>>,
    jobs: Option<Sender<Job>>,
    engine: Engine,
}

/// One queue as the frontend set it up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    /// The ring's grant references (`2^ring-page-order` of them).
    pub ring_refs: Vec<GrantRef>,
    /// The frontend's event channel port.
    pub event_channel: Port,
}

/// Worker threads per device with the pool engine.
pub const WORKERS: usize = 4;

impl Connection {
    /// Maps every queue's ring, binds its event channel and starts serving.
    pub fn connect(
        name: &str,
        domid: DomId,
        gntdev: &Arc<Gntdev>,
        backing: Arc<Backing>,
        specs: &[QueueSpec],
        opts: Options,
        on_broken: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<Connection, ConnectError> {
        let shared = Arc::new(Shared {
            name: name.to_string(),
            domid,
            gntdev: Arc::clone(gntdev),
            backing,
        });
        let mut queues = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            let ring = BackQueue::map(name, gntdev, domid, &s.ring_refs, s.event_channel)
                .map_err(|err| ConnectError { queue: i, err })?;
            queues.push(Arc::new(Queue {
                ring,
                persistent: opts.persistent.then(Persistent::default),
            }));
        }
        let mut uring = Vec::new();
        let mut opts = opts;
        if opts.engine == Engine::Uring {
            let entries = u32::try_from(URING_MAX_IN_FLIGHT * 2).unwrap_or(128);
            match (0..queues.len())
                .map(|_| Uring::new(entries))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(u) => uring = u,
                // E.g. a kernel built without io_uring or with `kernel.io_uring_disabled` set.
                Err(e) => {
                    log::warn!("io_uring_setup: {e}; using the thread pool");
                    opts.engine = Engine::Pool;
                }
            }
        }
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        let workers = match opts.engine {
            Engine::Pool => (0..WORKERS)
                .map(|_| {
                    let rx = Arc::clone(&jobs_rx);
                    let sh = Arc::clone(&shared);
                    std::thread::spawn(move || worker(&sh, &rx))
                })
                .collect(),
            Engine::Uring => Vec::new(),
        };
        let mut uring = uring.into_iter();
        let queues = queues
            .into_iter()
            .map(|q| {
                let q2 = Arc::clone(&q);
                let sh = Arc::clone(&shared);
                let ob = Arc::clone(&on_broken);
                let h = match uring.next() {
                    Some(u) => std::thread::spawn(move || serve_uring(&sh, &q2, u, &*ob)),
                    None => {
                        let tx = jobs_tx.clone();
                        std::thread::spawn(move || serve_pool(&sh, &q2, &tx, &*ob))
                    }
                };
                (q, h)
            })
            .collect();
        Ok(Connection {
            name: name.to_string(),
            queues,
            workers,
            jobs: Some(jobs_tx),
            engine: opts.engine,
        })
    }

    /// Stops serving: the queue threads stop taking requests, in-flight I/O finishes (up to
    /// [`DRAIN_GRACE`]), then the rings are unmapped and the event channels unbound (when the
    /// last reference to each queue goes).
    pub fn disconnect(self) {
        drop(self)
    }

    /// The engine in use (the pool when io_uring was asked for but is not available).
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Requests taken from the rings and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.queues.iter().map(|(q, _)| q.ring.in_flight()).sum()
    }
}

/// How long a disconnect waits for in-flight I/O.
pub const DRAIN_GRACE: Duration = Duration::from_secs(20);

impl Drop for Connection {
    fn drop(&mut self) {
        for (q, _) in &self.queues {
            q.ring.stop();
        }
        for (i, (q, h)) in self.queues.drain(..).enumerate() {
            let _ = h.join();
            log::info!("{}: queue {i}: {}", self.name, q.ring.stats());
            if let Some(p) = &q.persistent {
                let mapped = p.maps.lock().map(|m| m.len()).unwrap_or(0);
                log::info!(
                    "{}: queue {i}: persistent grants: {mapped} mapped, {} requests in place, {} by copy",
                    self.name,
                    p.in_place.load(Ordering::Relaxed),
                    p.copied.load(Ordering::Relaxed)
                );
            }
        }
        // Workers finish what is queued, then see the channel close.
        self.jobs = None;
        let deadline = Instant::now() + DRAIN_GRACE;
        while !self.workers.iter().all(|w| w.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for w in self.workers.drain(..) {
            if w.is_finished() {
                let _ = w.join();
            } else {
                log::warn!("an I/O worker is still busy after {DRAIN_GRACE:?}; leaving it");
            }
        }
    }
}

/// Takes what the frontend published (at most `room` requests, as copies) and decodes it:
/// valid requests are returned, invalid ones answered at once. Returns the requests and whether
/// more may be waiting.
fn take_requests(sh: &Shared, q: &Queue, room: usize) -> (Vec<Decoded>, bool) {
    let (batch, more) = q.ring.take(room);
    let mut ok = Vec::with_capacity(batch.len());
    for r in batch {
        match request::decode(&r, &sh.backing.limits) {
            Ok(d) => ok.push(d),
            Err(Reject {
                id,
                op,
                status,
                why,
            }) => {
                log::debug!("{} request {id:#x} refused: {why}", sh.name);
                q.ring.note_refused();
                q.answer((id, op, status));
            }
        }
    }
    (ok, more)
}

fn serve_pool(
    sh: &Shared,
    q: &Arc<Queue>,
    jobs: &Sender<Job>,
    on_broken: &(dyn Fn() + Send + Sync),
) {
    while !q.ring.is_stopped() {
        let (batch, more) = take_requests(sh, q, usize::MAX);
        for req in batch {
            if let Err(mpsc::SendError(j)) = jobs.send(Job {
                queue: Arc::clone(q),
                req,
            }) {
                q.answer((j.req.id(), j.req.op(), BLKIF_RSP_ERROR));
            }
        }
        if q.ring.is_broken() {
            on_broken();
            return;
        }
        if !more {
            q.ring.wait_event(200);
        }
    }
}

fn worker(sh: &Shared, jobs: &Mutex<Receiver<Job>>) {
    // One bounce buffer per worker, grown to the largest request seen and reused: a fresh
    // allocation per request would fault every page in again (each fault a trap to Xen in a
    // PV dom0).
    let mut spare = Vec::new();
    loop {
        let job = {
            let Ok(rx) = jobs.lock() else { return };
            match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        let q = &job.queue;
        let r = match prepare(sh, q, job.req, &mut spare) {
            Prepared::Done(r) => r,
            Prepared::Flush { id } => (
                id,
                BLKIF_OP_FLUSH_DISKCACHE,
                sync_status(sh.backing.file.sync_data()),
            ),
            Prepared::Data(mut d) => {
                let file = &sh.backing.file;
                let res = match d.dir {
                    Dir::Read => d.buf.read_at(file, d.at),
                    Dir::Write => d.buf.write_at(file, d.at),
                };
                d.finish(sh, res, &mut spare)
            }
        };
        q.answer(r);
    }
}

fn sync_status(r: std::io::Result<()>) -> i16 {
    match r {
        Ok(()) => BLKIF_RSP_OKAY,
        Err(e) => {
            log::debug!("flush: {e}");
            BLKIF_RSP_ERROR
        }
    }
}

/// Tag of the event channel's poll in a queue's io_uring (requests use their slot index).
const EVTCHN_TAG: u64 = u64::MAX;

fn serve_uring(sh: &Shared, q: &Arc<Queue>, mut ring: Uring, on_broken: &(dyn Fn() + Send + Sync)) {
    let mut spare = Vec::new();
    // Requests in the io_uring, by tag.
    let mut slots: Vec<Option<Slot>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut busy = 0usize;
    let mut armed = false;
    let mut stop_at = None;
    loop {
        if q.ring.is_stopped() {
            // Drain: take nothing new, wait for what is in flight (up to DRAIN_GRACE).
            let t = *stop_at.get_or_insert_with(|| Instant::now() + DRAIN_GRACE);
            if busy == 0 || Instant::now() > t {
                if busy > 0 {
                    log::warn!("{busy} requests still in flight after {DRAIN_GRACE:?}");
                }
                return; // dropping the ring waits for the kernel to finish with every buffer
            }
        } else {
            let (batch, _) = take_requests(sh, q, URING_MAX_IN_FLIGHT - busy);
            for req in batch {
                let (id, op) = (req.id(), req.op());
                let slot = match prepare(sh, q, req, &mut spare) {
                    Prepared::Done(r) => {
                        q.answer(r);
                        continue;
                    }
                    Prepared::Flush { id } => Slot::Flush { id },
                    Prepared::Data(d) => Slot::Data(d),
                };
                let tag = match free.pop() {
                    Some(t) => t,
                    None => {
                        slots.push(None);
                        slots.len() - 1
                    }
                };
                let file = &sh.backing.file;
                let started = match slot {
                    Slot::Flush { .. } => ring.sync(file, tag as u64).map(|()| slot),
                    Slot::Data(mut d) => {
                        let buf = std::mem::replace(&mut d.buf, IoBuf::mapped());
                        let r = match d.dir {
                            Dir::Read => ring.read(file, d.at, buf, tag as u64),
                            Dir::Write => ring.write(file, d.at, buf, tag as u64),
                        };
                        match r {
                            Ok(()) => Ok(Slot::Data(d)),
                            Err((e, buf)) => {
                                d.buf = buf;
                                q.answer(d.finish(sh, Err(e), &mut spare));
                                free.push(tag);
                                continue;
                            }
                        }
                    }
                };
                match started {
                    Ok(s) => {
                        slots[tag] = Some(s);
                        busy += 1;
                    }
                    Err(e) => {
                        log::debug!("io_uring: {e}");
                        free.push(tag);
                        q.answer((id, op, BLKIF_RSP_ERROR));
                    }
                }
            }
            if q.ring.is_broken() {
                on_broken();
                q.ring.stop();
                continue;
            }
            if !armed {
                let fd: Arc<dyn std::os::fd::AsRawFd + Send + Sync> = q.ring.evtchn().clone();
                match ring.poll_readable(fd, EVTCHN_TAG) {
                    Ok(()) => armed = true,
                    Err(e) => log::warn!("io_uring poll: {e}"),
                }
            }
        }
        let done = match ring.wait(Duration::from_millis(200)) {
            Ok(c) => c,
            Err(e) => {
                log::warn!("io_uring wait: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if done.is_empty() {
            q.ring.note_timeout();
        }
        for c in done {
            let (tag, result, buf) = match c {
                Completion::Readable { .. } => {
                    armed = false;
                    q.ring.wait_event(0);
                    continue;
                }
                Completion::Sync { tag, result } => (tag, result, None),
                Completion::Data { tag, result, buf } => (tag, result, Some(buf)),
            };
            let Some(slot) = usize::try_from(tag)
                .ok()
                .and_then(|t| slots.get_mut(t))
                .and_then(Option::take)
            else {
                continue;
            };
            free.push(tag as usize);
            busy -= 1;
            q.answer(match (slot, buf) {
                (Slot::Data(mut d), Some(buf)) => {
                    d.buf = buf;
                    d.finish(sh, result, &mut spare)
                }
                (Slot::Flush { id }, _) => (id, BLKIF_OP_FLUSH_DISKCACHE, sync_status(result)),
                (Slot::Data(d), None) => (d.id, d.op, BLKIF_RSP_ERROR),
            });
        }
    }
}

enum Slot {
    Data(DataIo),
    Flush { id: u64 },
}

/// A read or write ready to go: its buffer is the guest's pages (persistent grants) or a bounce
/// buffer already filled for a write.
struct DataIo {
    id: u64,
    op: u8,
    dir: Dir,
    at: u64,
    buf: IoBuf,
    /// Where a read's bounce buffer goes afterwards.
    spans: Vec<ForeignSpan>,
}

enum Prepared {
    /// Answered without I/O (refused, or done synchronously).
    Done((u64, u8, i16)),
    Flush {
        id: u64,
    },
    Data(DataIo),
}

impl DataIo {
    /// After the I/O: a read through a bounce buffer is copied out to the guest; the bounce
    /// buffer goes back to `spare`. Returns the response.
    fn finish(
        self,
        sh: &Shared,
        res: std::io::Result<()>,
        spare: &mut Vec<Bounce>,
    ) -> (u64, u8, i16) {
        let out = match (res, self.dir, self.buf.bounce_bytes()) {
            (Ok(()), Dir::Read, Some(bytes)) => sh
                .gntdev
                .copy_out(&self.spans, bytes)
                .map_err(|e| e.to_string()),
            (Ok(()), _, _) => Ok(()),
            (Err(e), _, _) => Err(e.to_string()),
        };
        if let Some(b) = self.buf.into_bounce() {
            spare.push(b);
        }
        match out {
            Ok(()) => (self.id, self.op, BLKIF_RSP_OKAY),
            Err(e) => {
                log::debug!("{} {:?} at byte {}: {e}", sh.name, self.dir, self.at);
                (self.id, self.op, BLKIF_RSP_ERROR)
            }
        }
    }
}

fn spans(domid: DomId, segs: &[Segment]) -> Vec<ForeignSpan> {
    segs.iter()
        .map(|s| ForeignSpan {
            domid,
            gref: s.gref,
            offset: s.offset(),
            len: s.len(),
        })
        .collect()
}

/// The guest's pages for `segs`, in place, if every grant is (or can now be) kept mapped.
fn in_place(sh: &Shared, p: &Persistent, segs: &[Segment]) -> Option<IoBuf> {
    let Ok(mut maps) = p.maps.lock() else {
        return None;
    };
    let mut buf = IoBuf::mapped();
    for s in segs {
        let m = match maps.get(&s.gref) {
            Some(m) => Arc::clone(m),
            None if maps.len() < MAX_PERSISTENT_GRANTS => {
                match sh.gntdev.map_grant_refs(sh.domid, &[s.gref], true) {
                    Ok(m) => {
                        let m = Arc::new(m);
                        maps.insert(s.gref, Arc::clone(&m));
                        m
                    }
                    Err(e) => {
                        log::debug!("{} grant {}: {e}", sh.name, s.gref.0);
                        return None;
                    }
                }
            }
            None => return None,
        };
        buf.push_mapped(m, usize::from(s.offset()), usize::from(s.len()))
            .ok()?;
    }
    Some(buf)
}

/// Turns a validated request into I/O to do: indirect segment lists are fetched and checked,
/// buffers found (mapped persistent grants) or filled (grant copy into a bounce buffer for a
/// write); discards are done here.
fn prepare(sh: &Shared, q: &Queue, req: Decoded, spare: &mut Vec<Bounce>) -> Prepared {
    let req = match req {
        Decoded::Indirect {
            id,
            op,
            ref pages,
            nr_segments,
            ..
        } => {
            let bytes = usize::from(nr_segments) * size_of::<BlkifRequestSegment>();
            let mut buf = vec![0u8; bytes];
            let page_spans: Vec<ForeignSpan> = pages
                .iter()
                .enumerate()
                .map(|(i, g)| ForeignSpan {
                    domid: sh.domid,
                    gref: *g,
                    offset: 0,
                    len: (bytes - i * PAGE_SIZE).min(PAGE_SIZE) as u16,
                })
                .collect();
            if let Err(e) = sh.gntdev.copy_in(&page_spans, &mut buf) {
                log::debug!("{} indirect pages: {e}", sh.name);
                return Prepared::Done((id, op, BLKIF_RSP_ERROR));
            }
            let Ok(desc) = <[BlkifRequestSegment]>::ref_from_bytes(&buf) else {
                return Prepared::Done((id, op, BLKIF_RSP_ERROR));
            };
            match request::finish_indirect(req.clone(), desc, &sh.backing.limits) {
                Ok(d) => d,
                Err(r) => return Prepared::Done((r.id, r.op, r.status)),
            }
        }
        other => other,
    };
    match req {
        Decoded::Rw {
            id,
            op,
            dir,
            sector,
            segments,
        } => {
            let at = sector * SECTOR_SIZE;
            if let Some(p) = &q.persistent {
                if let Some(buf) = in_place(sh, p, &segments) {
                    p.in_place.fetch_add(1, Ordering::Relaxed);
                    return Prepared::Data(DataIo {
                        id,
                        op,
                        dir,
                        at,
                        buf,
                        spans: Vec::new(),
                    });
                }
                p.copied.fetch_add(1, Ordering::Relaxed);
            }
            let bytes: usize = segments.iter().map(|s| usize::from(s.len())).sum();
            let need = bytes.div_ceil(PAGE_SIZE);
            let mut b = match spare.iter().position(|b| b.len() >= bytes) {
                Some(i) => spare.swap_remove(i),
                None => Bounce::new(need),
            };
            let sp = spans(sh.domid, &segments);
            if dir == Dir::Write {
                if let Err(e) = sh.gntdev.copy_in(&sp, &mut b.as_mut_slice()[..bytes]) {
                    log::debug!("{} write at byte {at}: {e}", sh.name);
                    spare.push(b);
                    return Prepared::Done((id, op, BLKIF_RSP_ERROR));
                }
            }
            match IoBuf::bounce(b, bytes) {
                Ok(buf) => Prepared::Data(DataIo {
                    id,
                    op,
                    dir,
                    at,
                    buf,
                    spans: sp,
                }),
                Err(_) => Prepared::Done((id, op, BLKIF_RSP_ERROR)),
            }
        }
        Decoded::Flush { id } => Prepared::Flush { id },
        Decoded::Discard {
            id,
            sector,
            nr_sectors,
        } => {
            let st = match dom0_sys::file::discard(
                &sh.backing.file,
                sector * SECTOR_SIZE,
                nr_sectors * SECTOR_SIZE,
            ) {
                Ok(()) => BLKIF_RSP_OKAY,
                Err(e) => {
                    log::debug!("discard: {e}");
                    BLKIF_RSP_ERROR
                }
            };
            Prepared::Done((id, BLKIF_OP_DISCARD, st))
        }
        Decoded::Indirect { id, op, .. } => Prepared::Done((id, op, BLKIF_RSP_ERROR)),
    }
}
