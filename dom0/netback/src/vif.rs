//! A connected vif: its TX ring (guest → TAP) and RX ring (TAP → guest), each over a
//! [`BackQueue`], served in turn by the vif's one thread, with batched grant copies
//! (`IOCTL_GNTDEV_GRANT_COPY`) and the TAP's `virtio_net_hdr` for checksum and segmentation
//! offloads.
//!
//! TX: every published request is taken (netfront publishes whole packets), decoded by
//! [`crate::tx`], all the batch's packets grant-copied in one ioctl, each behind room for its
//! vnet header, written to the TAP one by one, and every consumed slot answered once, in one
//! push. A fatal request disables the vif (the loop closes the device), as Linux's
//! `xenvif_fatal_tx_err`. With a rate limit ([`crate::credit`]) only the packets within the
//! credit are handled; the rest keep their slots (copies held here, unanswered, so the ring
//! stays full for the guest) until the window's refill.
//!
//! The thread does not sleep while either ring has work; then it waits for an event on either
//! channel (one descriptor when both rings share a channel, [`crate::chan`]) or, when it holds
//! no frame, for the TAP.
//!
//! RX: up to [`RX_BATCH`] frames are read from the TAP into one buffer, and as many of them as
//! the guest has posted slots for are copied out in one ioctl and answered in one push (at most
//! one event); the rest wait for slots, the TAP's own queue (bounded, dropping when full) holds
//! what follows, and a frame that waits longer than [`RX_DRAIN`] is dropped (XSA-392).

use crate::chan::VifChannel;
use crate::credit::Credit;
use crate::mcast::McastFilter;
use crate::rx::{self, RxPacket, RxSlot};
use crate::tx::{self, TxItem, TxPacket};
use crate::vnet::{self, RxOffers, VnetHdr, VNET_HDR_LEN};
use anyhow::{anyhow, Context, Result};
use dom0_sys::evtchn::Evtchn;
use dom0_sys::gntdev::{ForeignSpan, Gntdev, GrantMapping};
use dom0_sys::tap::Tap;
use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use xen_abi::io::netif::{
    NetifRxRequest, NetifRxResponse, NetifTxRequest, NetifTxResponse, NETIF_RSP_ERROR,
    NETIF_RSP_OKAY,
};
use xen_abi::io::ring::RingEntry;
use xen_abi::types::{DomId, GrantRef, Port, PAGE_SIZE};
use xenbus_backend::driver::Broken;
use xenbus_backend::queue::{BackQueue, EventChannel};

/// A frame waiting for RX slots longer than this is dropped (Linux's `rx_drain_timeout_msecs`).
pub const RX_DRAIN: Duration = Duration::from_secs(10);
/// Slots in a one-page netif ring.
const RING_SLOTS: usize = 256;
/// The largest frame read from the TAP: its vnet header, 64 KiB and a VLAN tag.
const RX_BUF: usize = VNET_HDR_LEN + 65536 + 4;
/// Frames read from the TAP and delivered together (one grant copy, one push): Linux's
/// netback handles up to 64 per pass.
const RX_BATCH: usize = 64;
/// The RX batch buffer: room for 64 MTU-sized frames or about 31 of 64 KiB.
const RX_BULK: usize = 2 * 1024 * 1024;
/// The TX batch buffer: every slot of the ring a whole page, each packet behind a vnet header.
const TX_BULK: usize = RING_SLOTS * (PAGE_SIZE + VNET_HDR_LEN);
/// How long a thread sleeps before looking at its stop flag again.
const IDLE_MS: i32 = 200;

/// The frontend's event channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    /// `event-channel-tx` and `event-channel-rx`.
    Split {
        /// The TX ring's.
        tx: Port,
        /// The RX ring's.
        rx: Port,
    },
    /// `event-channel`, for both rings.
    Single(Port),
}

/// What the vif was set up with: the offloads the frontend takes, and its transmit limit.
#[derive(Clone, Copy, Debug)]
pub struct VifOptions {
    /// The GSO and checksum offloads the frontend accepts on RX.
    pub offers: RxOffers,
    /// The `rate` limit on what the guest sends.
    pub credit: Credit,
    /// The frontend's `request-multicast-control`: filter multicast frames by its list.
    pub multicast_control: bool,
}

/// The frontend's rings and event channels.
#[derive(Clone, Copy, Debug)]
pub struct Rings {
    /// `tx-ring-ref`.
    pub tx_ref: GrantRef,
    /// `rx-ring-ref`.
    pub rx_ref: GrantRef,
    /// The event channels.
    pub ports: Ports,
}

type TxQueue = BackQueue<NetifTxRequest, NetifTxResponse, GrantMapping, VifChannel<Evtchn>>;
type RxQueue = BackQueue<NetifRxRequest, NetifRxResponse, GrantMapping, VifChannel<Evtchn>>;

/// Binds the frontend's `remote` port.
fn bind(domid: DomId, remote: Port) -> Result<(Evtchn, Port)> {
    let e = Evtchn::open().context("opening /dev/xen/evtchn")?;
    let p = e
        .bind_interdomain(domid, remote)
        .with_context(|| format!("binding event channel {}", remote.0))?;
    Ok((e, p))
}

/// Maps a one-page ring `gref` of `domid` with its channel (gntdev sends an event on it when
/// the mapping goes, even if this process dies, so the frontend learns the backend is gone).
fn map_queue<Req: RingEntry, Rsp: RingEntry>(
    name: &str,
    gntdev: &Arc<Gntdev>,
    domid: DomId,
    gref: GrantRef,
    chan: VifChannel<Evtchn>,
) -> Result<BackQueue<Req, Rsp, GrantMapping, VifChannel<Evtchn>>> {
    let mem = gntdev
        .map_grant_refs(domid, &[gref], true)
        .with_context(|| format!("mapping ring grant {}", gref.0))?;
    let port = chan.port();
    let _ = mem.set_unmap_notify(port);
    BackQueue::new(name, mem, chan, port).map_err(|e| anyhow!("ring: {e}"))
}

/// Packet counters, logged on disconnect.
#[derive(Debug, Default)]
struct Counters {
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_dropped: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// One queue of a connected vif: its two rings, their counters and its thread.
struct QueueConn {
    /// Names it in the log: the vif's name, with `/queue-N` when there are several.
    name: String,
    tx: Arc<TxQueue>,
    rx: Arc<RxQueue>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

/// A connected vif: one or more queues (netif multi-queue), each with its TX and RX rings,
/// its own queue of the TAP and its own thread.
pub struct Connection {
    name: String,
    tap: Arc<Tap>,
    queues: Vec<QueueConn>,
}

impl Connection {
    /// For each queue `i`: maps both rings of `rings[i]`, binds its event channels and starts
    /// its thread over TAP queue `taps[i]` (`taps[0]` is the device's own, kept after a
    /// disconnect).
    pub fn connect(
        name: &str,
        domid: DomId,
        gntdev: &Arc<Gntdev>,
        taps: Vec<Arc<Tap>>,
        rings: &[Rings],
        opts: VifOptions,
        broken: Broken,
    ) -> Result<Connection> {
        let VifOptions {
            offers,
            credit,
            multicast_control,
        } = opts;
        // The multicast list is the vif's, whichever queue's TX ring changes it.
        let mcast = Arc::new(McastFilter::new(multicast_control));
        let tap = taps.first().cloned().context("no TAP queue")?;
        anyhow::ensure!(taps.len() == rings.len(), "one TAP queue per ring pair");
        // Built up queue by queue: if one fails, dropping this stops those already running.
        let mut conn = Connection {
            name: name.to_string(),
            tap,
            queues: Vec::with_capacity(rings.len()),
        };
        for (i, (r, tap)) in rings.iter().zip(taps).enumerate() {
            let qname = if rings.len() == 1 {
                name.to_string()
            } else {
                format!("{name}/queue-{i}")
            };
            let (txc, rxc) = match r.ports {
                Ports::Split { tx, rx } => {
                    let (te, tp) = bind(domid, tx)?;
                    let (re, rp) = bind(domid, rx)?;
                    (VifChannel::own(te, tp), VifChannel::own(re, rp))
                }
                Ports::Single(port) => {
                    let (e, p) = bind(domid, port)?;
                    VifChannel::shared(e, p)
                }
            };
            let tx: Arc<TxQueue> = Arc::new(
                map_queue(&format!("{qname} tx"), gntdev, domid, r.tx_ref, txc)
                    .with_context(|| format!("{qname}: TX ring"))?,
            );
            let rx: Arc<RxQueue> = Arc::new(
                map_queue(&format!("{qname} rx"), gntdev, domid, r.rx_ref, rxc)
                    .with_context(|| format!("{qname}: RX ring"))?,
            );
            let counters = Arc::new(Counters::default());
            let txw = TxWorker {
                name: qname.clone(),
                domid,
                q: Arc::clone(&tx),
                gntdev: Arc::clone(gntdev),
                tap: Arc::clone(&tap),
                broken: broken.clone(),
                counters: Arc::clone(&counters),
                credit,
                mcast: Arc::clone(&mcast),
            };
            let rxw = RxWorker {
                name: qname.clone(),
                domid,
                q: Arc::clone(&rx),
                gntdev: Arc::clone(gntdev),
                tap,
                broken: broken.clone(),
                offers,
                counters: Arc::clone(&counters),
                mcast: Arc::clone(&mcast),
            };
            let mut q = QueueConn {
                name: qname,
                tx,
                rx,
                counters,
                thread: None,
            };
            q.thread = Some(
                std::thread::Builder::new()
                    .name("netback-vif".into())
                    .spawn(move || run(txw, rxw))
                    .context("starting the queue's thread")?,
            );
            conn.queues.push(q);
        }
        Ok(conn)
    }

    /// Stops the threads, logs the counters, and unmaps the rings and unbinds the event
    /// channels (when the queues go); returns the device's TAP (its first queue), which stays
    /// with the device; the other TAP queues are closed.
    pub fn disconnect(mut self) -> Arc<Tap> {
        self.stop();
        Arc::clone(&self.tap)
    }

    fn stop(&mut self) {
        for q in &self.queues {
            q.tx.stop();
            q.rx.stop();
        }
        for q in &mut self.queues {
            if let Some(h) = q.thread.take() {
                let _ = h.join();
            }
        }
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let sum = |f: fn(&Counters) -> &AtomicU64| -> u64 {
            self.queues.iter().map(|q| l(f(&q.counters))).sum()
        };
        let several = self.queues.len() > 1;
        for q in self.queues.iter().filter(|_| several) {
            let c = &q.counters;
            log::info!(
                "{}: TX {} packets {} bytes ({}); RX {} packets {} bytes ({})",
                q.name,
                l(&c.tx_packets),
                l(&c.tx_bytes),
                q.tx.stats(),
                l(&c.rx_packets),
                l(&c.rx_bytes),
                q.rx.stats()
            );
        }
        let stats = |i: usize| {
            self.queues
                .get(i)
                .filter(|_| !several)
                .map(|q| format!(" ({}; {})", q.tx.stats(), q.rx.stats()))
                .unwrap_or_default()
        };
        log::info!(
            "{}: TX {} packets {} bytes {} dropped; RX {} packets {} bytes {} dropped{}",
            self.name,
            sum(|c| &c.tx_packets),
            sum(|c| &c.tx_bytes),
            sum(|c| &c.tx_dropped),
            sum(|c| &c.rx_packets),
            sum(|c| &c.rx_bytes),
            sum(|c| &c.rx_dropped),
            stats(0)
        );
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.queues.iter().any(|q| q.thread.is_some()) {
            self.stop();
        }
    }
}

struct TxWorker {
    name: String,
    domid: DomId,
    q: Arc<TxQueue>,
    gntdev: Arc<Gntdev>,
    tap: Arc<Tap>,
    broken: Broken,
    counters: Arc<Counters>,
    /// The `rate` limit.
    credit: Credit,
    /// The multicast list MCAST_ADD/DEL requests change.
    mcast: Arc<McastFilter>,
}

/// What the TX side holds between passes: requests taken from the ring and not yet handled
/// (held back by the rate limit), and the limit's state.
struct TxState {
    held: Vec<NetifTxRequest>,
    credit: Credit,
    /// The clock the credit counts in (µs since this).
    epoch: Instant,
    /// Held back until then.
    until: Option<Instant>,
}

/// The instant `us` µs after `epoch` (the credit's clock); a refill further away than an
/// hour (a `rate` with an absurd interval) is taken as an hour away, so no sum overflows.
fn credit_deadline(epoch: Instant, us: u64) -> Instant {
    let hour = Duration::from_secs(3600);
    let far = Instant::now() + hour;
    epoch
        .checked_add(Duration::from_micros(us))
        .map_or(far, |t| t.min(far))
}

/// A `poll` timeout (ms) for a wait of `left`: rounded up, and at most [`IDLE_MS`].
fn poll_ms(left: Duration) -> i32 {
    (left.as_millis() + 1).min(IDLE_MS as u128) as i32
}

impl TxState {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

/// What a pass over one ring did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Work was done, or more is waiting: go round again without sleeping.
    Busy,
    /// Nothing to do until an event (or, for RX with nothing read, the TAP).
    Idle,
    /// The frontend broke the protocol; the vif is disabled (the loop was told).
    Broken,
}

/// The vif's one thread: both rings in turn, without sleeping while either has work; when
/// neither has, it waits for an event on either channel or, when it holds no frame, for the
/// TAP. One thread rather than one per ring: on one dom0 vCPU two threads only take turns, each
/// with its own wake-ups and polls; one thread does both rings' batches per wake-up (measured
/// in the rig's `net`: 38 s instead of 63 s for 32 MiB each way).
fn run(tx: TxWorker, rx: RxWorker) {
    let mut tx_bulk = vec![0u8; TX_BULK];
    let mut st = RxState::new();
    let mut ts = TxState {
        held: Vec::new(),
        credit: tx.credit,
        epoch: Instant::now(),
        until: None,
    };
    let txfd = tx.q.evtchn().fd();
    let rxfd = rx.q.evtchn().fd();
    let tapfd = tx.tap.as_raw_fd();
    while !tx.q.is_stopped() && !rx.q.is_stopped() {
        let t = tx.step(&mut tx_bulk, &mut ts);
        if t == Step::Broken {
            return;
        }
        let r = rx.step(&mut st);
        if r == Step::Broken {
            return;
        }
        if t == Step::Busy || r == Step::Busy {
            continue;
        }
        let mut fds = vec![txfd];
        if rxfd != txfd {
            fds.push(rxfd);
        }
        if st.frames.is_empty() {
            fds.push(tapfd);
        }
        // Held back by the rate limit: wake for the refill.
        let wait = ts.until.map_or(IDLE_MS, |t| {
            let left = t.saturating_duration_since(Instant::now());
            poll_ms(left)
        });
        let ready = match dom0_sys::poll_readable_any(&fds, wait) {
            Ok(r) => r,
            Err(e) => {
                log::warn!("{}: poll: {e}", tx.name);
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if !ready.iter().any(|r| *r) {
            tx.q.note_timeout();
            continue;
        }
        // Events: read each port once and unmask it (a shared channel serves both rings).
        if ready.first().copied().unwrap_or(false) {
            take_event(&tx.q);
        }
        if rxfd != txfd && ready.get(1).copied().unwrap_or(false) {
            take_event(&rx.q);
        }
    }
}

/// Reads the pending port of a queue's channel, if any, and unmasks it.
fn take_event<Req: RingEntry, Rsp: RingEntry>(
    q: &BackQueue<Req, Rsp, GrantMapping, VifChannel<Evtchn>>,
) {
    match q.evtchn().pending(0) {
        Ok(Some(p)) => {
            q.note_event();
            let _ = q.evtchn().unmask(p);
        }
        Ok(None) => {}
        Err(e) => log::warn!("evtchn: {e}"),
    }
}

impl TxWorker {
    /// Takes what the frontend published and handles it, without waiting: all of it, or with
    /// a rate limit the packets the credit covers (Linux charges each packet's first-slot
    /// `size` before looking further, dropped ones too); the rest stay in `ts.held`.
    fn step(&self, bulk: &mut [u8], ts: &mut TxState) -> Step {
        if ts.until.is_some_and(|t| Instant::now() < t) {
            return Step::Idle;
        }
        ts.until = None;
        let (taken, more) = self.q.take(RING_SLOTS - ts.held.len());
        if self.q.is_broken() {
            log::warn!("{}: TX ring broken; disabling the vif", self.name);
            self.broken.signal();
            return Step::Broken;
        }
        ts.held.extend(taken);
        if ts.held.is_empty() {
            return if more { Step::Busy } else { Step::Idle };
        }
        let (mut items, mut fatal) = tx::decode_all(&ts.held);
        if ts.credit.is_limited() {
            let now = ts.now_us();
            let mut at = 0;
            let mut admitted = 0;
            for (_, used) in &items {
                let size = u64::from(ts.held[at].size);
                if let Err(t) = ts.credit.take(size, now) {
                    ts.until = Some(credit_deadline(ts.epoch, t));
                    break;
                }
                at += used;
                admitted += 1;
            }
            if admitted < items.len() {
                // The fatal request (if any) lies beyond: met when its turn comes.
                items.truncate(admitted);
                fatal = None;
            }
        }
        let consumed: usize = items.iter().map(|(_, used)| used).sum();
        let reqs: Vec<NetifTxRequest> = if fatal.is_some() {
            std::mem::take(&mut ts.held)
        } else {
            ts.held.drain(..consumed).collect()
        };
        if items.is_empty() && fatal.is_none() {
            return Step::Idle;
        }
        let statuses = self.send_all(&items, bulk);
        let mut rsps = Vec::with_capacity(reqs.len());
        for ((item, _), status) in items.iter().zip(statuses) {
            rsps.extend(tx::responses(item, status));
        }
        self.q.answer_all(&rsps);
        if let Some(f) = fatal {
            log::warn!("{}: TX: {f}; disabling the vif", self.name);
            self.q.note_refused();
            self.broken.signal();
            return Step::Broken;
        }
        Step::Busy
    }

    /// Copies in every packet of a batch with **one** grant copy, each behind room for its
    /// vnet header in `bulk`, and writes each to the TAP; returns the status each item's slots
    /// get (OKAY once copied, even if the TAP refuses it, as Linux; ERROR for a packet with a
    /// slot Xen would not copy, or a dropped one).
    fn send_all(&self, items: &[(TxItem, usize)], bulk: &mut [u8]) -> Vec<i16> {
        let mut spans = Vec::new();
        // The item each span belongs to.
        let mut owner = Vec::new();
        // Where each packet lies in `bulk` (its vnet header first).
        let mut place = vec![None; items.len()];
        let mut at = 0usize;
        for (i, (item, _)) in items.iter().enumerate() {
            let TxItem::Packet(p) = item else { continue };
            let end = at + VNET_HDR_LEN + usize::from(p.size);
            if end > bulk.len() {
                // Cannot happen: a ring's slots hold at most TX_BULK bytes.
                continue;
            }
            place[i] = Some(at..end);
            let mut d = at + VNET_HDR_LEN;
            for f in p.frags.iter().filter(|f| f.len > 0) {
                spans.push((
                    ForeignSpan {
                        domid: self.domid,
                        gref: f.gref,
                        offset: f.offset,
                        len: f.len,
                    },
                    d,
                ));
                owner.push(i);
                d += usize::from(f.len);
            }
            at = end;
        }
        let mut failed = vec![false; items.len()];
        match self.gntdev.copy_in_placed(&spans, bulk) {
            Ok(st) => {
                for (s, i) in st.iter().zip(&owner) {
                    if *s != 0 {
                        if let Some(f) = failed.get_mut(*i) {
                            *f = true;
                        }
                    }
                }
            }
            Err(e) => {
                log::debug!("{}: TX copy: {e}", self.name);
                failed.iter_mut().for_each(|f| *f = true);
            }
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, (item, _)) in items.iter().enumerate() {
            let status = match item {
                TxItem::Packet(p) => match place.get(i).cloned().flatten() {
                    Some(r) if !failed.get(i).copied().unwrap_or(true) => match bulk.get_mut(r) {
                        Some(frame) => self.write(p, frame),
                        None => NETIF_RSP_ERROR,
                    },
                    _ => {
                        log::debug!("{}: TX packet not copied", self.name);
                        bump(&self.counters.tx_dropped, 1);
                        NETIF_RSP_ERROR
                    }
                },
                TxItem::Mcast { op, addr, .. } => {
                    if self.mcast.apply(*op, *addr) {
                        NETIF_RSP_OKAY
                    } else {
                        log::debug!("{}: multicast list full", self.name);
                        NETIF_RSP_ERROR
                    }
                }
                TxItem::Dropped { why, .. } => {
                    log::debug!("{}: TX packet dropped: {why}", self.name);
                    bump(&self.counters.tx_dropped, 1);
                    NETIF_RSP_ERROR
                }
            };
            out.push(status);
        }
        out
    }

    /// Fills in the vnet header of a copied packet (`frame`: header room, then the packet) and
    /// writes it to the TAP; the status its slots get.
    fn write(&self, p: &TxPacket, frame: &mut [u8]) -> i16 {
        let Some((hdr, data)) = frame.split_at_mut_checked(VNET_HDR_LEN) else {
            return NETIF_RSP_ERROR;
        };
        let h = match vnet::tx_header(data, p.csum_blank(), p.gso) {
            Ok(h) => h,
            Err(e) => {
                log::debug!("{}: TX packet dropped: {e}", self.name);
                bump(&self.counters.tx_dropped, 1);
                return NETIF_RSP_OKAY;
            }
        };
        hdr.copy_from_slice(&h.to_bytes());
        match self.tap.write_frame(frame) {
            Ok(()) => {
                bump(&self.counters.tx_packets, 1);
                bump(&self.counters.tx_bytes, u64::from(p.size));
            }
            Err(e) => {
                log::debug!("{}: TAP write: {e}", self.name);
                bump(&self.counters.tx_dropped, 1);
            }
        }
        NETIF_RSP_OKAY
    }
}

struct RxWorker {
    name: String,
    domid: DomId,
    q: Arc<RxQueue>,
    gntdev: Arc<Gntdev>,
    tap: Arc<Tap>,
    broken: Broken,
    offers: RxOffers,
    counters: Arc<Counters>,
    /// Which multicast frames go to the guest.
    mcast: Arc<McastFilter>,
}

/// A frame read from the TAP into the batch buffer, waiting for slots.
struct Pending {
    /// Where its bytes start in the batch buffer (after its vnet header).
    at: usize,
    packet: RxPacket,
    since: Instant,
}

/// The RX side's state between passes: the frames read from the TAP and the posted slots.
struct RxState {
    bulk: Vec<u8>,
    /// Where the next frame is read to in `bulk`.
    fill: usize,
    posted: VecDeque<RxSlot>,
    frames: VecDeque<Pending>,
}

impl RxState {
    fn new() -> RxState {
        RxState {
            bulk: vec![0u8; RX_BULK],
            fill: 0,
            posted: VecDeque::new(),
            frames: VecDeque::new(),
        }
    }
}

impl RxWorker {
    /// Reads what the TAP holds (up to a batch) and delivers what the posted slots allow,
    /// without waiting.
    fn step(&self, st: &mut RxState) -> Step {
        if self.q.is_broken() {
            log::warn!("{}: RX ring broken; disabling the vif", self.name);
            self.broken.signal();
            return Step::Broken;
        }
        if st.frames.is_empty() {
            st.fill = 0;
        }
        // Whatever the TAP holds, up to a batch.
        let mut read_any = false;
        while st.frames.len() < RX_BATCH && st.fill + RX_BUF <= st.bulk.len() {
            let fill = st.fill;
            match self.read(&mut st.bulk[fill..fill + RX_BUF]) {
                Read::Frame(len, packet) => {
                    st.frames.push_back(Pending {
                        at: fill + VNET_HDR_LEN,
                        packet,
                        since: Instant::now(),
                    });
                    st.fill += (VNET_HDR_LEN + len).next_multiple_of(64);
                    read_any = true;
                }
                Read::Dropped => read_any = true,
                Read::Empty => break,
            }
        }
        if st.frames.is_empty() {
            return if read_any { Step::Busy } else { Step::Idle };
        }
        let need: usize = st.frames.iter().map(|f| rx::slots_needed(&f.packet)).sum();
        if st.posted.len() < need {
            let (reqs, _) = self.q.take(need - st.posted.len());
            st.posted.extend(reqs.iter().map(RxSlot::from));
        }
        let done = self.deliver(&st.frames, &st.bulk, &mut st.posted);
        if done > 0 {
            st.frames.drain(..done);
            return Step::Busy;
        }
        let waited = st.frames.front().map(|f| f.since.elapsed());
        if waited.is_some_and(|w| w > RX_DRAIN) {
            log::debug!(
                "{}: RX frame dropped after waiting {RX_DRAIN:?} for slots",
                self.name
            );
            bump(&self.counters.rx_dropped, 1);
            st.frames.pop_front();
            return Step::Busy;
        }
        Step::Idle
    }

    /// Reads one frame into `buf` (its vnet header first) and works out its netif form.
    fn read(&self, buf: &mut [u8]) -> Read {
        let n = match self.tap.read_frame(buf) {
            Ok(Some(n)) => n,
            Ok(None) => return Read::Empty,
            Err(e) => {
                log::warn!("{}: TAP read: {e}", self.name);
                std::thread::sleep(Duration::from_millis(IDLE_MS as u64));
                return Read::Empty;
            }
        };
        let Some((hdr, frame)) = buf
            .get_mut(..n)
            .and_then(|b| b.split_at_mut_checked(VNET_HDR_LEN))
        else {
            return Read::Dropped;
        };
        let Ok(hdr) = <&[u8; VNET_HDR_LEN]>::try_from(&*hdr) else {
            return Read::Dropped;
        };
        if !self.mcast.admits(frame) {
            bump(&self.counters.rx_dropped, 1);
            return Read::Dropped;
        }
        let hdr = VnetHdr::from_bytes(hdr);
        let len = frame.len();
        match vnet::rx_meta(&hdr, frame, self.offers) {
            Ok((csum, gso)) => Read::Frame(len, RxPacket { len, csum, gso }),
            Err(e) => {
                log::debug!("{}: RX frame dropped: {e}", self.name);
                bump(&self.counters.rx_dropped, 1);
                Read::Dropped
            }
        }
    }

    /// Lays out as many of `frames`, in order, as the posted slots hold, copies them all out
    /// with **one** grant copy and answers all their slots with one push (at most one event);
    /// returns how many frames were handled (delivered, or dropped when they cannot be laid
    /// out).
    fn deliver(
        &self,
        frames: &VecDeque<Pending>,
        bulk: &[u8],
        posted: &mut VecDeque<RxSlot>,
    ) -> usize {
        let slots = posted.make_contiguous();
        let mut used = 0usize;
        let mut done = 0usize;
        let mut rsps: Vec<NetifRxResponse> = Vec::new();
        let mut spans = Vec::new();
        // Per span: the response it fills and the frame it belongs to.
        let mut owner: Vec<(usize, usize)> = Vec::new();
        let mut delivered = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let need = rx::slots_needed(&f.packet);
            let Some(mine) = slots.get(used..used + need) else {
                break;
            };
            done += 1;
            let layout = match rx::layout(&f.packet, mine) {
                Ok(l) => l,
                Err(e) => {
                    log::debug!("{}: RX frame dropped: {e}", self.name);
                    bump(&self.counters.rx_dropped, 1);
                    continue;
                }
            };
            let base = rsps.len();
            for c in &layout.copies {
                spans.push((
                    ForeignSpan {
                        domid: self.domid,
                        gref: c.gref,
                        offset: 0,
                        // At most a page.
                        len: u16::try_from(c.len).expect("an RX copy is at most a page"),
                    },
                    f.at + c.src,
                ));
                owner.push((base + c.slot, i));
            }
            rsps.extend(layout.responses);
            used += need;
            delivered.push(i);
        }
        if done == 0 {
            return 0;
        }
        posted.drain(..used);
        let mut failed = vec![false; frames.len()];
        let fail =
            |rsps: &mut Vec<NetifRxResponse>, failed: &mut Vec<bool>, (r, i): (usize, usize)| {
                if let Some(x) = rsps.get_mut(r) {
                    x.status = NETIF_RSP_ERROR;
                }
                if let Some(x) = failed.get_mut(i) {
                    *x = true;
                }
            };
        match self.gntdev.copy_out_placed(&spans, bulk) {
            Ok(st) => {
                for (s, o) in st.iter().zip(&owner) {
                    if *s != 0 {
                        fail(&mut rsps, &mut failed, *o);
                    }
                }
            }
            Err(e) => {
                log::debug!("{}: RX copy: {e}", self.name);
                for o in &owner {
                    fail(&mut rsps, &mut failed, *o);
                }
            }
        }
        for i in delivered {
            if failed.get(i).copied().unwrap_or(true) {
                log::debug!("{}: RX copy failed", self.name);
                bump(&self.counters.rx_dropped, 1);
            } else if let Some(f) = frames.get(i) {
                bump(&self.counters.rx_packets, 1);
                bump(&self.counters.rx_bytes, f.packet.len as u64);
            }
        }
        self.q.answer_all(&rsps);
        done
    }
}

/// What reading the TAP gave.
enum Read {
    /// A frame of this many bytes (after the vnet header), to deliver.
    Frame(usize, RxPacket),
    /// A frame that was dropped.
    Dropped,
    /// Nothing waiting.
    Empty,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_deadlines_never_overflow_and_poll_waits_stay_short() {
        let epoch = Instant::now();
        assert_eq!(
            credit_deadline(epoch, 20_000),
            epoch + Duration::from_micros(20_000)
        );
        for us in [u64::MAX, u64::MAX / 2, 1 << 60] {
            let d = credit_deadline(epoch, us);
            assert!(d <= Instant::now() + Duration::from_secs(3600), "{us}");
        }
        assert_eq!(poll_ms(Duration::ZERO), 1);
        assert_eq!(poll_ms(Duration::from_micros(1500)), 2);
        assert_eq!(poll_ms(Duration::from_secs(3600)), IDLE_MS);
        assert_eq!(poll_ms(Duration::MAX), IDLE_MS);
    }
}
