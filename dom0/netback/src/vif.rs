//! A connected vif: its TX ring (guest → TAP) and RX ring (TAP → guest), each served by its
//! own thread over a [`BackQueue`], with batched grant copies (`IOCTL_GNTDEV_GRANT_COPY`) and
//! the TAP's `virtio_net_hdr` for checksum and segmentation offloads.
//!
//! TX: every published request is taken (netfront publishes whole packets), decoded by
//! [`crate::tx`], each packet's slots grant-copied in one ioctl behind a vnet header, written
//! to the TAP, and every consumed slot answered once, in one push. A fatal request disables the
//! vif (the loop closes the device), as Linux's `xenvif_fatal_tx_err`.
//!
//! With one event channel for both rings, the TX thread reads it and relays every event to the
//! RX thread ([`crate::chan`]).
//!
//! RX: one frame is read from the TAP at a time and waits until the guest has posted the
//! slots it needs; the TAP's own queue (bounded, dropping when full) holds the rest, and a
//! frame that waits longer than [`RX_DRAIN`] is dropped (XSA-392).

use crate::chan::VifChannel;
use crate::rx::{self, RxPacket, RxSlot};
use crate::tx::{self, TxItem, TxPacket};
use crate::vnet::{self, RxOffers, VnetHdr, VNET_HDR_LEN};
use anyhow::{anyhow, Context, Result};
use dom0_sys::evtchn::Evtchn;
use dom0_sys::gntdev::{ForeignSpan, Gntdev, GrantMapping};
use dom0_sys::tap::Tap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use xen_abi::io::netif::{
    NetifRxRequest, NetifRxResponse, NetifTxRequest, NetifTxResponse, NETIF_RSP_ERROR,
    NETIF_RSP_OKAY,
};
use xen_abi::io::ring::RingEntry;
use xen_abi::types::{DomId, GrantRef, Port};
use xenbus_backend::driver::Broken;
use xenbus_backend::queue::BackQueue;

/// A frame waiting for RX slots longer than this is dropped (Linux's `rx_drain_timeout_msecs`).
pub const RX_DRAIN: Duration = Duration::from_secs(10);
/// Slots in a one-page netif ring.
const RING_SLOTS: usize = 256;
/// The largest frame read from the TAP: its vnet header, 64 KiB and a VLAN tag.
const RX_BUF: usize = VNET_HDR_LEN + 65536 + 4;
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

/// A connected vif: its two queues and threads.
pub struct Connection {
    name: String,
    tap: Arc<Tap>,
    tx: Arc<TxQueue>,
    rx: Arc<RxQueue>,
    threads: Vec<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl Connection {
    /// Maps both rings, binds both event channels and starts the threads.
    pub fn connect(
        name: &str,
        domid: DomId,
        gntdev: &Arc<Gntdev>,
        tap: Arc<Tap>,
        rings: Rings,
        offers: RxOffers,
        broken: Broken,
    ) -> Result<Connection> {
        let (txc, rxc) = match rings.ports {
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
            map_queue(&format!("{name} tx"), gntdev, domid, rings.tx_ref, txc)
                .context("TX ring")?,
        );
        let rx: Arc<RxQueue> = Arc::new(
            map_queue(&format!("{name} rx"), gntdev, domid, rings.rx_ref, rxc)
                .context("RX ring")?,
        );
        let counters = Arc::new(Counters::default());
        let txw = TxWorker {
            name: name.to_string(),
            domid,
            q: Arc::clone(&tx),
            gntdev: Arc::clone(gntdev),
            tap: Arc::clone(&tap),
            broken: broken.clone(),
            counters: Arc::clone(&counters),
        };
        let rxw = RxWorker {
            name: name.to_string(),
            domid,
            q: Arc::clone(&rx),
            gntdev: Arc::clone(gntdev),
            tap: Arc::clone(&tap),
            broken,
            offers,
            counters: Arc::clone(&counters),
        };
        let threads = vec![
            std::thread::Builder::new()
                .name("netback-tx".into())
                .spawn(move || txw.run())
                .context("starting the TX thread")?,
            std::thread::Builder::new()
                .name("netback-rx".into())
                .spawn(move || rxw.run())
                .context("starting the RX thread")?,
        ];
        Ok(Connection {
            name: name.to_string(),
            tap,
            tx,
            rx,
            threads,
            counters,
        })
    }

    /// Stops both threads, logs the counters, and unmaps the rings and unbinds the event
    /// channels (when the queues go); returns the TAP, which stays with the device.
    pub fn disconnect(mut self) -> Arc<Tap> {
        self.stop();
        Arc::clone(&self.tap)
    }

    fn stop(&mut self) {
        self.tx.stop();
        self.rx.stop();
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        log::info!(
            "{}: TX {} packets {} bytes {} dropped ({}); RX {} packets {} bytes {} dropped ({})",
            self.name,
            l(&c.tx_packets),
            l(&c.tx_bytes),
            l(&c.tx_dropped),
            self.tx.stats(),
            l(&c.rx_packets),
            l(&c.rx_bytes),
            l(&c.rx_dropped),
            self.rx.stats()
        );
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
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
}

impl TxWorker {
    fn run(self) {
        let mut buf = vec![0u8; VNET_HDR_LEN + usize::from(u16::MAX)];
        while !self.q.is_stopped() {
            let (reqs, more) = self.q.take(RING_SLOTS);
            if self.q.is_broken() {
                log::warn!("{}: TX ring broken; disabling the vif", self.name);
                self.broken.signal();
                return;
            }
            if reqs.is_empty() {
                if !more {
                    self.q.wait_event(IDLE_MS);
                }
                continue;
            }
            let (items, fatal) = tx::decode_all(&reqs);
            let mut rsps = Vec::with_capacity(reqs.len());
            for (item, _) in &items {
                let status = match item {
                    TxItem::Packet(p) => self.send(p, &mut buf),
                    TxItem::Mcast { .. } => NETIF_RSP_OKAY,
                    TxItem::Dropped { why, .. } => {
                        log::debug!("{}: TX packet dropped: {why}", self.name);
                        bump(&self.counters.tx_dropped, 1);
                        NETIF_RSP_ERROR
                    }
                };
                rsps.extend(tx::responses(item, status));
            }
            self.q.answer_all(&rsps);
            if let Some(f) = fatal {
                log::warn!("{}: TX: {f}; disabling the vif", self.name);
                self.q.note_refused();
                self.broken.signal();
                return;
            }
        }
    }

    /// Copies one packet in behind its vnet header and writes it to the TAP; the status its
    /// slots get (OKAY once copied, even if the TAP refuses it, as Linux).
    fn send(&self, p: &TxPacket, buf: &mut [u8]) -> i16 {
        let size = usize::from(p.size);
        let spans: Vec<ForeignSpan> = p
            .frags
            .iter()
            .filter(|f| f.len > 0)
            .map(|f| ForeignSpan {
                domid: self.domid,
                gref: f.gref,
                offset: f.offset,
                len: f.len,
            })
            .collect();
        let Some(data) = buf.get_mut(VNET_HDR_LEN..VNET_HDR_LEN + size) else {
            bump(&self.counters.tx_dropped, 1);
            return NETIF_RSP_ERROR;
        };
        if let Err(e) = self.gntdev.copy_in(&spans, data) {
            log::debug!("{}: TX copy: {e}", self.name);
            bump(&self.counters.tx_dropped, 1);
            return NETIF_RSP_ERROR;
        }
        let hdr = match vnet::tx_header(data, p.csum_blank(), p.gso) {
            Ok(h) => h,
            Err(e) => {
                log::debug!("{}: TX packet dropped: {e}", self.name);
                bump(&self.counters.tx_dropped, 1);
                return NETIF_RSP_OKAY;
            }
        };
        buf[..VNET_HDR_LEN].copy_from_slice(&hdr.to_bytes());
        match self.tap.write_frame(&buf[..VNET_HDR_LEN + size]) {
            Ok(()) => {
                bump(&self.counters.tx_packets, 1);
                bump(&self.counters.tx_bytes, size as u64);
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
}

/// A frame read from the TAP, waiting for slots.
struct Pending {
    len: usize,
    packet: RxPacket,
    since: Instant,
}

impl RxWorker {
    fn run(self) {
        let mut buf = vec![0u8; RX_BUF];
        let mut posted: VecDeque<RxSlot> = VecDeque::new();
        let mut pending: Option<Pending> = None;
        while !self.q.is_stopped() {
            if self.q.is_broken() {
                log::warn!("{}: RX ring broken; disabling the vif", self.name);
                self.broken.signal();
                return;
            }
            let Some(p) = pending.take().or_else(|| self.read(&mut buf)) else {
                continue;
            };
            let need = rx::slots_needed(&p.packet);
            if posted.len() < need {
                let (reqs, _) = self.q.take(need - posted.len());
                posted.extend(reqs.iter().map(RxSlot::from));
            }
            if posted.len() < need {
                if p.since.elapsed() > RX_DRAIN {
                    log::debug!(
                        "{}: RX frame dropped after waiting {RX_DRAIN:?} for slots",
                        self.name
                    );
                    bump(&self.counters.rx_dropped, 1);
                } else {
                    pending = Some(p);
                    self.q.wait_event(IDLE_MS);
                }
                continue;
            }
            self.deliver(
                &p,
                &buf[VNET_HDR_LEN..VNET_HDR_LEN + p.len],
                &mut posted,
                need,
            );
        }
    }

    /// Reads one frame and works out its netif form; `None` when there is none (after waiting
    /// a while) or it is dropped.
    fn read(&self, buf: &mut [u8]) -> Option<Pending> {
        let n = match self.tap.read_frame(buf) {
            Ok(Some(n)) => n,
            Ok(None) => {
                let _ = self.tap.wait_readable(IDLE_MS);
                return None;
            }
            Err(e) => {
                log::warn!("{}: TAP read: {e}", self.name);
                std::thread::sleep(Duration::from_millis(IDLE_MS as u64));
                return None;
            }
        };
        let (hdr, frame) = buf.get_mut(..n)?.split_at_mut_checked(VNET_HDR_LEN)?;
        let hdr = VnetHdr::from_bytes(<&[u8; VNET_HDR_LEN]>::try_from(&*hdr).ok()?);
        let len = frame.len();
        match vnet::rx_meta(&hdr, frame, self.offers) {
            Ok((csum, gso)) => Some(Pending {
                len,
                packet: RxPacket { len, csum, gso },
                since: Instant::now(),
            }),
            Err(e) => {
                log::debug!("{}: RX frame dropped: {e}", self.name);
                bump(&self.counters.rx_dropped, 1);
                None
            }
        }
    }

    /// Lays the frame out over the first `need` posted slots, copies it out and answers them.
    fn deliver(&self, p: &Pending, frame: &[u8], posted: &mut VecDeque<RxSlot>, need: usize) {
        let layout = match rx::layout(&p.packet, posted.make_contiguous()) {
            Ok(l) => l,
            Err(e) => {
                log::debug!("{}: RX frame dropped: {e}", self.name);
                bump(&self.counters.rx_dropped, 1);
                return;
            }
        };
        posted.drain(..need);
        let spans: Vec<ForeignSpan> = layout
            .copies
            .iter()
            .map(|c| ForeignSpan {
                domid: self.domid,
                gref: c.gref,
                offset: 0,
                // At most a page.
                len: u16::try_from(c.len).expect("an RX copy is at most a page"),
            })
            .collect();
        let mut rsps = layout.responses;
        if let Err(e) = self.gntdev.copy_out(&spans, frame) {
            log::debug!("{}: RX copy: {e}", self.name);
            bump(&self.counters.rx_dropped, 1);
            for c in &layout.copies {
                if let Some(r) = rsps.get_mut(c.slot) {
                    r.status = NETIF_RSP_ERROR;
                }
            }
        } else {
            bump(&self.counters.rx_packets, 1);
            bump(&self.counters.rx_bytes, p.len as u64);
        }
        self.q.answer_all(&rsps);
    }
}
