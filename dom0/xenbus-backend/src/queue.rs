//! A backend's end of one shared ring and its event channel, whatever the protocol: the ring
//! pages mapped through gntdev, the channel bound, requests taken as copies
//! ([`xen_abi::io::ring::BackRing`]: each entry read once, the producer index checked against
//! the ring size), responses posted with a notification when the frontend asked for one, and
//! the wait for the next event. The ring is locked: one thread takes requests while others may
//! answer them.

use dom0_sys::evtchn::Evtchn;
use dom0_sys::gntdev::{Gntdev, GrantMapping};
use std::fmt;
use std::io;
use std::ops::DerefMut;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use xen_abi::io::ring::{BackRing, RingEntry, RingError, RingMemory};
use xen_abi::types::{DomId, GrantRef, Port};

/// The event channel operations a queue needs: [`Evtchn`] in the daemons, a fake in tests.
pub trait EventChannel {
    /// Sends an event on `port`.
    fn notify(&self, port: Port) -> io::Result<()>;
    /// Waits up to `timeout_ms` for a pending port (masked until [`EventChannel::unmask`]).
    fn pending(&self, timeout_ms: i32) -> io::Result<Option<Port>>;
    /// Unmasks `port` after its event was handled.
    fn unmask(&self, port: Port) -> io::Result<()>;
}

impl EventChannel for Evtchn {
    fn notify(&self, port: Port) -> io::Result<()> {
        Evtchn::notify(self, port)
    }
    fn pending(&self, timeout_ms: i32) -> io::Result<Option<Port>> {
        Evtchn::pending(self, timeout_ms)
    }
    fn unmask(&self, port: Port) -> io::Result<()> {
        Evtchn::unmask(self, port)
    }
}

/// Why a queue could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Mapping the ring or binding the event channel failed.
    #[error("{what}: {err}")]
    Os {
        /// What was being done.
        what: &'static str,
        /// The error.
        err: io::Error,
    },
    /// The ring pages cannot hold a ring.
    #[error("ring: {0}")]
    Ring(RingError),
}

/// A queue's counters, for the log on disconnect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests taken from the ring.
    pub taken: usize,
    /// Requests the backend refused ([`BackQueue::note_refused`]).
    pub refused: usize,
    /// Wake-ups by an event.
    pub events: usize,
    /// Wake-ups by a timeout with no event.
    pub timeouts: usize,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests, {} refused, {} wake-ups by event, {} by timeout",
            self.taken, self.refused, self.events, self.timeouts
        )
    }
}

const TAKEN: usize = 0;
const REFUSED: usize = 1;
const EVENTS: usize = 2;
const TIMEOUTS: usize = 3;

/// One ring of requests `Req` and responses `Rsp` over the shared pages `M`, with its event
/// channel `E`.
pub struct BackQueue<Req, Rsp, M = GrantMapping, E = Evtchn> {
    /// Names the device in the log (its backend path).
    name: String,
    ring: Mutex<(BackRing<Req, Rsp>, M)>,
    evtchn: Arc<E>,
    port: Port,
    stop: AtomicBool,
    /// Requests taken from the ring and not answered yet.
    in_flight: AtomicUsize,
    /// Set when the frontend broke the ring protocol.
    broken: AtomicBool,
    stats: [AtomicUsize; 4],
}

impl<Req: RingEntry, Rsp: RingEntry> BackQueue<Req, Rsp> {
    /// Maps the frontend's ring pages `ring_refs` of `domid` (writable), binds its event channel
    /// `remote_port`, and asks gntdev to send an event on it when the mapping goes (even if
    /// this process dies), so the frontend learns the backend is gone.
    pub fn map(
        name: &str,
        gntdev: &Arc<Gntdev>,
        domid: DomId,
        ring_refs: &[GrantRef],
        remote_port: Port,
    ) -> Result<Self, QueueError> {
        let os = |what| move |err| QueueError::Os { what, err };
        let mem = gntdev
            .map_grant_refs(domid, ring_refs, true)
            .map_err(os("mapping the ring"))?;
        let ring = BackRing::init(&*mem).map_err(QueueError::Ring)?;
        let evtchn = Evtchn::open().map_err(os("opening /dev/xen/evtchn"))?;
        let port = evtchn
            .bind_interdomain(domid, remote_port)
            .map_err(os("binding the event channel"))?;
        let _ = mem.set_unmap_notify(port);
        Ok(Self::with_ring(name, ring, mem, evtchn, port))
    }
}

impl<Req, Rsp, M, E> BackQueue<Req, Rsp, M, E>
where
    Req: RingEntry,
    Rsp: RingEntry,
    M: DerefMut,
    M::Target: RingMemory,
    E: EventChannel,
{
    /// A queue over ring memory the frontend initialised, with the local `port` bound.
    pub fn new(name: &str, mem: M, evtchn: E, port: Port) -> Result<Self, RingError> {
        let ring = BackRing::init(&*mem)?;
        Ok(Self::with_ring(name, ring, mem, evtchn, port))
    }

    fn with_ring(name: &str, ring: BackRing<Req, Rsp>, mem: M, evtchn: E, port: Port) -> Self {
        BackQueue {
            name: name.to_string(),
            ring: Mutex::new((ring, mem)),
            evtchn: Arc::new(evtchn),
            port,
            stop: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
            stats: Default::default(),
        }
    }

    /// Takes what the frontend published, at most `room` requests, as copies (the ring lock is
    /// not held afterwards). Each taken request counts as in flight until [`BackQueue::answer`].
    /// Returns the requests and whether more may be waiting. A producer index outside what the
    /// frontend could have produced marks the queue broken ([`BackQueue::is_broken`]).
    pub fn take(&self, room: usize) -> (Vec<Req>, bool) {
        let mut batch = Vec::new();
        let more = {
            let Ok(mut g) = self.ring.lock() else {
                return (Vec::new(), false);
            };
            let (ring, mem) = &mut *g;
            while batch.len() < room {
                match ring.take_request(&**mem) {
                    Ok(Some(r)) => batch.push(r),
                    Ok(None) => break,
                    Err(e) => {
                        log::warn!("{} ring broken: {e}", self.name);
                        self.broken.store(true, Ordering::SeqCst);
                        break;
                    }
                }
            }
            if self.is_broken() || batch.len() == room {
                false
            } else {
                ring.final_check_for_requests(&mut **mem).unwrap_or(false)
            }
        };
        self.stats[TAKEN].fetch_add(batch.len(), Ordering::Relaxed);
        self.in_flight.fetch_add(batch.len(), Ordering::SeqCst);
        (batch, more)
    }

    /// Posts a response and notifies the frontend if it asked to be.
    pub fn respond(&self, rsp: &Rsp) {
        let notify = {
            let Ok(mut g) = self.ring.lock() else { return };
            let (ring, mem) = &mut *g;
            if let Err(e) = ring.put_response(&mut **mem, rsp) {
                log::warn!("{}: put_response: {e}", self.name);
                return;
            }
            ring.push_responses_and_check_notify(&mut **mem)
        };
        if notify {
            let _ = self.evtchn.notify(self.port);
        }
    }

    /// Answers a request taken from the ring: [`BackQueue::respond`], and one fewer in flight.
    pub fn answer(&self, rsp: &Rsp) {
        self.respond(rsp);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Answers several taken requests at once: the responses posted in order, one push and at
    /// most one notification (a protocol such as netif answers each ring slot of a packet).
    pub fn answer_all(&self, rsps: &[Rsp]) {
        if rsps.is_empty() {
            return;
        }
        let notify = {
            let Ok(mut g) = self.ring.lock() else { return };
            let (ring, mem) = &mut *g;
            for rsp in rsps {
                if let Err(e) = ring.put_response(&mut **mem, rsp) {
                    log::warn!("{}: put_response: {e}", self.name);
                    break;
                }
            }
            ring.push_responses_and_check_notify(&mut **mem)
        };
        if notify {
            let _ = self.evtchn.notify(self.port);
        }
        self.in_flight.fetch_sub(rsps.len(), Ordering::SeqCst);
    }

    /// Waits up to `ms` for the queue's event channel and re-arms it.
    pub fn wait_event(&self, ms: i32) {
        match self.evtchn.pending(ms) {
            Ok(Some(p)) => {
                self.stats[EVENTS].fetch_add(1, Ordering::Relaxed);
                let _ = self.evtchn.unmask(p);
            }
            Ok(None) => {
                self.stats[TIMEOUTS].fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                log::warn!("{}: evtchn: {e}", self.name);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The event channel (e.g. to poll it in an io_uring).
    pub fn evtchn(&self) -> &Arc<E> {
        &self.evtchn
    }

    /// Counts a request the backend refused (for the log).
    pub fn note_refused(&self) {
        self.stats[REFUSED].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a wake-up by an event that did not go through [`BackQueue::wait_event`].
    pub fn note_event(&self) {
        self.stats[EVENTS].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a wake-up by timeout that did not go through [`BackQueue::wait_event`].
    pub fn note_timeout(&self) {
        self.stats[TIMEOUTS].fetch_add(1, Ordering::Relaxed);
    }

    /// Asks the queue's thread to stop taking requests.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether [`BackQueue::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Whether the frontend broke the ring protocol.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    /// Requests taken and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let s = |i: usize| self.stats[i].load(Ordering::Relaxed);
        Stats {
            taken: s(TAKEN),
            refused: s(REFUSED),
            events: s(EVENTS),
            timeouts: s(TIMEOUTS),
        }
    }
}

#[cfg(test)]
#[path = "queue/tests.rs"]
mod tests;
