//! One virtual block device: its backing, its queues (a mapped ring and an event channel each,
//! served by one thread), and the worker pool that does the I/O so one slow request does not
//! stall the ring.

use crate::request::{self, Decoded, Dir, Limits, Reject, Segment, SECTOR_SIZE};
use dom0_sys::evtchn::Evtchn;
use dom0_sys::gntdev::{ForeignSpan, Gntdev, GrantMapping};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use xen_abi::io::blkif::{
    BlkifBackRing, BlkifRequestSegment, BlkifResponse, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY,
};
use xen_abi::types::{DomId, GrantRef, Port, PAGE_SIZE};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A page-aligned page, so local buffers suit `O_DIRECT`.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C, align(4096))]
struct Page([u8; PAGE_SIZE]);

/// The disk behind a device.
#[derive(Debug)]
pub struct Backing {
    /// The open file or block device.
    pub file: File,
    /// What requests may do.
    pub limits: Limits,
}

/// Why a device could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Mapping a ring or binding an event channel failed.
    #[error("{what}: {err}")]
    Os {
        /// What was being done.
        what: String,
        /// The error.
        err: std::io::Error,
    },
    /// The ring pages cannot hold a ring.
    #[error("ring: {0}")]
    Ring(xen_abi::io::ring::RingError),
}

/// A queue's shared state: the ring (locked: the queue thread takes requests, workers put
/// responses) and its event channel.
struct Queue {
    ring: Mutex<(BlkifBackRing, GrantMapping)>,
    evtchn: Evtchn,
    port: Port,
    stop: AtomicBool,
    /// Requests handed to workers and not answered yet.
    in_flight: AtomicUsize,
    /// Set when the frontend broke the ring protocol.
    broken: AtomicBool,
    /// Requests taken, refused, and wake-ups by event or by timeout (for the log).
    stats: [AtomicUsize; 4],
}

const TAKEN: usize = 0;
const REFUSED: usize = 1;
const EVENTS: usize = 2;
const TIMEOUTS: usize = 3;

impl Queue {
    fn respond(&self, id: u64, op: u8, status: i16) {
        let rsp = BlkifResponse {
            id,
            operation: op,
            status,
            ..Default::default()
        };
        let notify = {
            let Ok(mut g) = self.ring.lock() else { return };
            let (ring, mem) = &mut *g;
            if let Err(e) = ring.put_response(&mut **mem, &rsp) {
                log::warn!("put_response: {e}");
                return;
            }
            ring.push_responses_and_check_notify(&mut **mem)
        };
        if notify {
            let _ = self.evtchn.notify(self.port);
        }
    }
}

struct Job {
    queue: Arc<Queue>,
    req: Decoded,
}

/// Everything a device needs to serve its queues.
struct Shared {
    domid: DomId,
    gntdev: Arc<Gntdev>,
    backing: Arc<Backing>,
}

/// A connected device: its queue threads and worker pool. Dropping it without
/// [`Connection::disconnect`] leaves threads running; always disconnect.
pub struct Connection {
    queues: Vec<(Arc<Queue>, JoinHandle<()>)>,
    workers: Vec<JoinHandle<()>>,
    jobs: Option<Sender<Job>>,
}

/// One queue as the frontend set it up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    /// The ring's grant references (`2^ring-page-order` of them).
    pub ring_refs: Vec<GrantRef>,
    /// The frontend's event channel port.
    pub event_channel: Port,
}

/// Worker threads per device.
pub const WORKERS: usize = 4;

impl Connection {
    /// Maps every queue's ring, binds its event channel and starts serving.
    pub fn connect(
        domid: DomId,
        gntdev: &Arc<Gntdev>,
        backing: Arc<Backing>,
        specs: &[QueueSpec],
        on_broken: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<Connection, ConnectError> {
        let shared = Arc::new(Shared {
            domid,
            gntdev: Arc::clone(gntdev),
            backing,
        });
        let mut queues = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            let os = |what: &str| {
                let what = format!("queue {i}: {what}");
                move |err| ConnectError::Os { what, err }
            };
            let mem = gntdev
                .map_grant_refs(domid, &s.ring_refs, true)
                .map_err(os("mapping the ring"))?;
            let ring = BlkifBackRing::init(&*mem).map_err(ConnectError::Ring)?;
            let evtchn = Evtchn::open().map_err(os("opening /dev/xen/evtchn"))?;
            let port = evtchn
                .bind_interdomain(domid, s.event_channel)
                .map_err(os("binding the event channel"))?;
            // If this process dies, the frontend gets an event and sees the ring go.
            let _ = mem.set_unmap_notify(port);
            queues.push(Arc::new(Queue {
                ring: Mutex::new((ring, mem)),
                evtchn,
                port,
                stop: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
                broken: AtomicBool::new(false),
                stats: Default::default(),
            }));
        }
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        let workers = (0..WORKERS)
            .map(|_| {
                let rx = Arc::clone(&jobs_rx);
                let sh = Arc::clone(&shared);
                std::thread::spawn(move || worker(&sh, &rx))
            })
            .collect();
        let queues = queues
            .into_iter()
            .map(|q| {
                let q2 = Arc::clone(&q);
                let sh = Arc::clone(&shared);
                let tx = jobs_tx.clone();
                let ob = Arc::clone(&on_broken);
                let h = std::thread::spawn(move || serve_queue(&sh, &q2, &tx, &*ob));
                (q, h)
            })
            .collect();
        Ok(Connection {
            queues,
            workers,
            jobs: Some(jobs_tx),
        })
    }

    /// Stops serving: the queue threads stop taking requests, in-flight I/O finishes (up to
    /// [`DRAIN_GRACE`]), then the rings are unmapped and the event channels unbound (when the
    /// last reference to each queue goes).
    pub fn disconnect(self) {
        drop(self)
    }

    /// Requests taken from the rings and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.queues
            .iter()
            .map(|(q, _)| q.in_flight.load(Ordering::SeqCst))
            .sum()
    }
}

/// How long a disconnect waits for in-flight I/O.
pub const DRAIN_GRACE: Duration = Duration::from_secs(20);

impl Drop for Connection {
    fn drop(&mut self) {
        for (q, _) in &self.queues {
            q.stop.store(true, Ordering::SeqCst);
        }
        for (i, (q, h)) in self.queues.drain(..).enumerate() {
            let _ = h.join();
            let st: Vec<usize> = q.stats.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            log::info!(
                "queue {i}: {} requests, {} refused, {} wake-ups by event, {} by timeout",
                st[TAKEN],
                st[REFUSED],
                st[EVENTS],
                st[TIMEOUTS]
            );
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

fn serve_queue(
    sh: &Shared,
    q: &Arc<Queue>,
    jobs: &Sender<Job>,
    on_broken: &(dyn Fn() + Send + Sync),
) {
    while !q.stop.load(Ordering::SeqCst) {
        // Take what is published; copies only, the lock is not held during I/O.
        let mut batch = Vec::new();
        let more = {
            let Ok(mut g) = q.ring.lock() else { return };
            let (ring, mem) = &mut *g;
            loop {
                match ring.take_request(&**mem) {
                    Ok(Some(r)) => batch.push(r),
                    Ok(None) => break,
                    Err(e) => {
                        log::warn!("domain {} ring broken: {e}", sh.domid.0);
                        q.broken.store(true, Ordering::SeqCst);
                        break;
                    }
                }
            }
            if q.broken.load(Ordering::SeqCst) {
                false
            } else {
                ring.final_check_for_requests(&mut **mem).unwrap_or(false)
            }
        };
        q.stats[TAKEN].fetch_add(batch.len(), Ordering::Relaxed);
        for r in batch {
            match request::decode(&r, &sh.backing.limits) {
                Ok(d) => {
                    q.in_flight.fetch_add(1, Ordering::SeqCst);
                    if jobs
                        .send(Job {
                            queue: Arc::clone(q),
                            req: d,
                        })
                        .is_err()
                    {
                        q.in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                Err(Reject {
                    id,
                    op,
                    status,
                    why,
                }) => {
                    log::debug!("domain {} request {id:#x} refused: {why}", sh.domid.0);
                    q.stats[REFUSED].fetch_add(1, Ordering::Relaxed);
                    q.respond(id, op, status);
                }
            }
        }
        if q.broken.load(Ordering::SeqCst) {
            on_broken();
            return;
        }
        if more {
            continue;
        }
        match q.evtchn.pending(200) {
            Ok(Some(p)) => {
                q.stats[EVENTS].fetch_add(1, Ordering::Relaxed);
                let _ = q.evtchn.unmask(p);
            }
            Ok(None) => {
                q.stats[TIMEOUTS].fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                log::warn!("evtchn: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn worker(sh: &Shared, jobs: &Mutex<Receiver<Job>>) {
    // One buffer per worker, grown to the largest request seen and reused: a fresh allocation
    // per request would fault every page in again (each fault a trap to Xen in a PV dom0).
    let mut pages: Vec<Page> = Vec::new();
    loop {
        let job = {
            let Ok(rx) = jobs.lock() else { return };
            match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        let (id, op, status) = execute(sh, job.req, &mut pages);
        job.queue.respond(id, op, status);
        job.queue.in_flight.fetch_sub(1, Ordering::SeqCst);
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

/// Carries out a validated request; returns (id, op, status) for the response.
fn execute(sh: &Shared, req: Decoded, pages: &mut Vec<Page>) -> (u64, u8, i16) {
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
                log::debug!("domain {} indirect pages: {e}", sh.domid.0);
                return (id, op, BLKIF_RSP_ERROR);
            }
            let Ok(desc) = <[BlkifRequestSegment]>::ref_from_bytes(&buf) else {
                return (id, op, BLKIF_RSP_ERROR);
            };
            match request::finish_indirect(req.clone(), desc, &sh.backing.limits) {
                Ok(d) => d,
                Err(r) => return (r.id, r.op, r.status),
            }
        }
        other => other,
    };
    let file = &sh.backing.file;
    match req {
        Decoded::Rw {
            id,
            op,
            dir,
            sector,
            segments,
        } => {
            let bytes: usize = segments.iter().map(|s| usize::from(s.len())).sum();
            let need = bytes.div_ceil(PAGE_SIZE);
            if pages.len() < need {
                pages.resize(need, Page([0; PAGE_SIZE]));
            }
            let buf = &mut pages.as_mut_bytes()[..bytes];
            let sp = spans(sh.domid, &segments);
            let at = sector * SECTOR_SIZE;
            let ok = match dir {
                Dir::Write => sh
                    .gntdev
                    .copy_in(&sp, buf)
                    .map_err(|e| e.to_string())
                    .and_then(|()| file.write_all_at(buf, at).map_err(|e| e.to_string())),
                Dir::Read => file
                    .read_exact_at(buf, at)
                    .map_err(|e| e.to_string())
                    .and_then(|()| sh.gntdev.copy_out(&sp, buf).map_err(|e| e.to_string())),
            };
            match ok {
                Ok(()) => (id, op, BLKIF_RSP_OKAY),
                Err(e) => {
                    log::debug!("domain {} {dir:?} at sector {sector}: {e}", sh.domid.0);
                    (id, op, BLKIF_RSP_ERROR)
                }
            }
        }
        Decoded::Flush { id } => {
            let st = if file.sync_data().is_ok() {
                BLKIF_RSP_OKAY
            } else {
                BLKIF_RSP_ERROR
            };
            (id, xen_abi::io::blkif::BLKIF_OP_FLUSH_DISKCACHE, st)
        }
        Decoded::Discard {
            id,
            sector,
            nr_sectors,
        } => {
            let st =
                match dom0_sys::file::discard(file, sector * SECTOR_SIZE, nr_sectors * SECTOR_SIZE)
                {
                    Ok(()) => BLKIF_RSP_OKAY,
                    Err(e) => {
                        log::debug!("discard: {e}");
                        BLKIF_RSP_ERROR
                    }
                };
            (id, xen_abi::io::blkif::BLKIF_OP_DISCARD, st)
        }
        Decoded::Indirect { id, op, .. } => (id, op, BLKIF_RSP_ERROR),
    }
}
