//! `netfront-hostile DEVID`: a deliberately malformed netif frontend for the rig. Run in a domU
//! (without xen-netfront loaded) that has a vif on Ferrite's netback, it connects the TX and RX
//! rings by hand and sends what a correct netfront never would.
//!
//! Requests Linux's netback answers (`NETIF_RSP_ERROR` per slot for a dropped packet,
//! `NETIF_RSP_OKAY` for one it takes, `NETIF_RSP_NULL` per extra-info slot) are sent on one
//! connection and every response is checked, slot by slot; so is an RX buffer with a bad grant
//! (a negative status), 256 packets filling the ring, and an event storm. Frontend nodes
//! Linux's netback refuses at connect (0 or 9 queues, `request-rx-copy` 0, bad or missing ring
//! grants, an unbound event channel) must be refused (the backend's `error` node, `Closing`).
//! Requests Linux's netback treats as fatal (`xenvif_fatal_tx_err`: a slot
//! crossing its page, too many slots, extra-info chains that never end or of a bad type, bad GSO,
//! a chain past the producer, a producer index far ahead on either ring) must make our netback
//! close only this vif (backend `Closing`); the program then reconnects the same device
//! (`Initialising` → the backend's `InitWait` → fresh rings → `Connected`) for the next case.
//! At the end a valid ARP exchange with dom0 (10.0.0.1) shows the vif is served again, and the
//! device is closed cleanly. Before the malformed requests it waits for `data/go` in its own
//! xenstore directory, so dom0 can start a well-behaved guest's traffic first.
//! Prints `NETHOSTILE-PASS` on success.

use anyhow::{bail, Context, Result};
use dom0_sys::evtchn::Evtchn;
use dom0_sys::gntalloc::{Gntalloc, GrantedPages};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xen_abi::io::netif::{
    NetifExtraGso, NetifExtraHash, NetifExtraInfo, NetifExtraMcast, NetifRxFrontRing,
    NetifRxRequest, NetifRxResponse, NetifTxFrontRing, NetifTxRequest, NetifTxResponse,
    NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETRXF_EXTRA_INFO, NETTXF_CSUM_BLANK,
    NETTXF_DATA_VALIDATED, NETTXF_EXTRA_INFO, NETTXF_MORE_DATA, XEN_NETIF_EXTRA_FLAG_MORE,
    XEN_NETIF_EXTRA_TYPE_MCAST_ADD, XEN_NETIF_EXTRA_TYPE_MCAST_DEL, XEN_NETIF_GSO_TYPE_TCPV4,
};
use xen_abi::io::ring::{RingMemory, REQ_PROD_OFFSET};
use xen_abi::types::{DomId, GrantRef, Port, PAGE_SIZE};
use xenstore::{Xenstore, NO_TX};

/// Our address on xenbr0 and dom0's.
const OUR_IP: [u8; 4] = [10, 0, 0, 3];
const DOM0_IP: [u8; 4] = [10, 0, 0, 1];
/// A grant reference far beyond any grant table.
const BAD_GREF: GrantRef = GrantRef(0x7fff_0000);
/// RX buffers posted at a time.
const RX_BUFS: u32 = 16;
/// Where in the data page a frame to our own MAC lies.
const JUNK_AT: u16 = 2048;
/// Events sent in the storm.
const STORM: u32 = 100_000;

fn wait_state(xs: &Xenstore, path: &str, want: u32, secs: u64) -> Result<()> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let s: Option<u32> = xs.read_parse(NO_TX, path);
        if s == Some(want) {
            return Ok(());
        }
        if Instant::now() > end {
            bail!("{path} is {s:?}, not {want}, after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tx(gref: GrantRef, offset: u16, flags: u16, id: u16, size: u16) -> NetifTxRequest {
    NetifTxRequest {
        gref,
        offset,
        flags,
        id,
        size,
    }
}

fn extra(e: NetifExtraInfo) -> NetifTxRequest {
    e.to_tx_slot()
}

fn raw_extra(r#type: u8, flags: u8) -> NetifTxRequest {
    extra(NetifExtraInfo {
        r#type,
        flags,
        u: [0; 3],
    })
}

fn gso(flags: u8, size: u16, r#type: u8) -> NetifTxRequest {
    extra(NetifExtraInfo::with_gso(
        flags,
        NetifExtraGso {
            size,
            r#type,
            pad: 0,
            features: 0,
        },
    ))
}

/// An ARP request "who has 10.0.0.1, tell 10.0.0.3" from `mac`, padded to 60 bytes.
fn arp_request(mac: [u8; 6]) -> [u8; 60] {
    let mut f = [0u8; 60];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    f[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&OUR_IP);
    f[38..42].copy_from_slice(&DOM0_IP);
    f
}

/// A 60-byte frame from `mac` to `mac` of ethertype 0x88b5 (IEEE's local experimental).
fn to_ourselves(mac: [u8; 6]) -> [u8; 60] {
    let mut f = [0u8; 60];
    f[0..6].copy_from_slice(&mac);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

/// Whether `f` is dom0's ARP reply to `mac`.
fn is_arp_reply(f: &[u8], mac: [u8; 6]) -> bool {
    f.len() >= 42
        && f[0..6] == mac
        && f[12..14] == [0x08, 0x06]
        && f[20..22] == [0, 2]
        && f[28..32] == DOM0_IP
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let mut mac = [0u8; 6];
    let parts: Vec<&str> = s.trim().split(':').collect();
    if parts.len() != 6 {
        bail!("bad mac '{s}'");
    }
    for (m, p) in mac.iter_mut().zip(parts) {
        *m = u8::from_str_radix(p, 16).with_context(|| format!("bad mac '{s}'"))?;
    }
    Ok(mac)
}

/// What a slot's response must be: its id (`None` for an extra-info slot's `NETIF_RSP_NULL`,
/// whose id means nothing) and status.
type Want = (Option<u16>, i16);

fn ok(id: u16) -> Want {
    (Some(id), NETIF_RSP_OKAY)
}
fn err(id: u16) -> Want {
    (Some(id), NETIF_RSP_ERROR)
}
const NULL: Want = (None, NETIF_RSP_NULL);

/// One connection: both rings, their pages and the one event channel.
struct Conn {
    txp: GrantedPages,
    txr: NetifTxFrontRing,
    rxp: GrantedPages,
    rxr: NetifRxFrontRing,
    port: Port,
    /// RX buffers posted and not answered yet.
    rx_posted: u32,
}

struct Front {
    xs: Xenstore,
    fe: String,
    be: String,
    be_dom: DomId,
    ga: Arc<Gntalloc>,
    ev: Evtchn,
    mac: [u8; 6],
    /// A page holding an ARP request at offset 0, granted to the backend.
    data: GrantedPages,
    /// The pages RX buffers point at.
    rx_bufs: GrantedPages,
    next_id: u16,
}

impl Front {
    fn id(&mut self) -> u16 {
        self.next_id = self.next_id.wrapping_add(1) % 256;
        self.next_id
    }

    /// Grants fresh ring pages, binds a channel, writes the frontend's nodes and `Connected` (as
    /// netfront does, never `Initialised`), and waits for the backend's `Connected`.
    fn connect(&self) -> Result<Conn> {
        self.connect_with(&|_, _| Ok(()), 4)
    }

    /// [`Front::connect`] with `tweak` applied to the frontend's nodes before `Connected`,
    /// waiting for the backend's state `want`.
    fn connect_with(
        &self,
        tweak: &dyn Fn(&Xenstore, &str) -> Result<()>,
        want: u32,
    ) -> Result<Conn> {
        wait_state(&self.xs, &format!("{}/state", self.be), 2, 60)?;
        let mut txp = self.ga.alloc(self.be_dom, 1)?;
        let mut rxp = self.ga.alloc(self.be_dom, 1)?;
        let txr = NetifTxFrontRing::init(&mut *txp).map_err(|e| anyhow::anyhow!("{e}"))?;
        let rxr = NetifRxFrontRing::init(&mut *rxp).map_err(|e| anyhow::anyhow!("{e}"))?;
        let port = self.ev.bind_unbound_port(self.be_dom)?;
        let fe = &self.fe;
        let w = |k: &str, v: String| self.xs.write(NO_TX, &format!("{fe}/{k}"), v.as_bytes());
        w("tx-ring-ref", txp.refs()[0].0.to_string())?;
        w("rx-ring-ref", rxp.refs()[0].0.to_string())?;
        w("event-channel", port.0.to_string())?;
        w("request-rx-copy", "1".into())?;
        w("feature-rx-notify", "1".into())?;
        w("feature-sg", "1".into())?;
        w("feature-gso-tcpv4", "1".into())?;
        tweak(&self.xs, fe)?;
        w("state", "4".into())?;
        wait_state(&self.xs, &format!("{}/state", self.be), want, 60)?;
        Ok(Conn {
            txp,
            txr,
            rxp,
            rxr,
            port,
            rx_posted: 0,
        })
    }

    /// Nodes netback must refuse at connect: it writes its `error` node and goes `Closing`;
    /// the frontend then starts again from `Initialising`.
    fn refused(&self, name: &str, tweak: &dyn Fn(&Xenstore, &str) -> Result<()>) -> Result<()> {
        let c = self
            .connect_with(tweak, 5)
            .with_context(|| format!("{name}: netback did not refuse to connect"))?;
        let why = self
            .xs
            .read_string(NO_TX, &format!("{}/error", self.be))
            .unwrap_or_default();
        println!("NETHOSTILE: {name}: refused ({why})");
        self.ev.unbind(c.port)?;
        drop(c);
        let fe = &self.fe;
        let _ = self.xs.rm(NO_TX, &format!("{fe}/multi-queue-num-queues"));
        self.xs.write(NO_TX, &format!("{fe}/state"), b"1")?;
        Ok(())
    }

    /// After a fatal case: the backend must close the vif (`Closing`); the frontend then
    /// restarts from `Initialising` and connects fresh rings.
    fn expect_closed_and_reconnect(&self, name: &str, c: Conn) -> Result<Conn> {
        wait_state(&self.xs, &format!("{}/state", self.be), 5, 30)
            .with_context(|| format!("{name}: netback did not close the vif"))?;
        println!("NETHOSTILE: {name}: vif closed");
        self.ev.unbind(c.port)?;
        drop(c);
        self.xs.write(NO_TX, &format!("{}/state", self.fe), b"1")?;
        let c = self
            .connect()
            .with_context(|| format!("reconnecting after {name}"))?;
        Ok(c)
    }

    /// Puts `reqs` on the TX ring, publishes them and notifies.
    fn send(&self, c: &mut Conn, reqs: &[NetifTxRequest]) -> Result<()> {
        for r in reqs {
            c.txr
                .put_request(&mut *c.txp, r)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        c.txr.push_requests(&mut *c.txp);
        self.ev.notify(c.port)?;
        Ok(())
    }

    /// Sends `reqs` and requires exactly `want`, in ring order.
    fn expect(
        &self,
        c: &mut Conn,
        name: &str,
        reqs: &[NetifTxRequest],
        want: &[Want],
    ) -> Result<()> {
        self.send(c, reqs)?;
        let end = Instant::now() + Duration::from_secs(20);
        let mut got: Vec<NetifTxResponse> = Vec::new();
        while got.len() < want.len() {
            match c
                .txr
                .take_response(&*c.txp)
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                Some(r) => got.push(r),
                None => {
                    if Instant::now() > end {
                        bail!("{name}: {} of {} responses", got.len(), want.len());
                    }
                    let _ = self.ev.pending(20)?.map(|p| self.ev.unmask(p));
                }
            }
        }
        let shown: Vec<String> = got
            .iter()
            .map(|r| format!("{}:{}", r.id, r.status))
            .collect();
        println!("NETHOSTILE: {name}: {}", shown.join(" "));
        for (i, (r, (id, st))) in got.iter().zip(want).enumerate() {
            if r.status != *st || id.is_some_and(|id| id != r.id) {
                bail!(
                    "{name}: response {i} is id {} status {}, wanted {id:?} {st}",
                    r.id,
                    r.status
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        if let Some(r) = c
            .txr
            .take_response(&*c.txp)
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            bail!(
                "{name}: a response too many: id {} status {}",
                r.id,
                r.status
            );
        }
        Ok(())
    }

    /// Posts RX buffers up to [`RX_BUFS`] outstanding, each a whole page (`gref` overrides the
    /// page's grant).
    fn post_rx(&self, c: &mut Conn, gref: Option<GrantRef>) -> Result<()> {
        while c.rx_posted < RX_BUFS {
            let idx = c.rxr.req_prod_pvt();
            let slot = (idx % 256) as u16;
            let page = usize::from(slot) % RX_BUFS as usize;
            let req = NetifRxRequest {
                id: slot,
                pad: 0,
                gref: gref.unwrap_or(self.rx_bufs.refs()[page]),
            };
            c.rxr
                .put_request(&mut *c.rxp, &req)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            c.rx_posted += 1;
        }
        c.rxr.push_requests(&mut *c.rxp);
        self.ev.notify(c.port)?;
        Ok(())
    }

    /// Sends an ARP request to dom0 and waits for the reply in an RX buffer (other frames that
    /// arrive meanwhile are skipped); with `bad_rx`, instead waits for an RX response with a
    /// negative status (the buffers' grants were bad).
    fn arp(&mut self, c: &mut Conn, name: &str, bad_rx: bool) -> Result<()> {
        let id = self.id();
        self.expect(c, name, &[tx(self.data.refs()[0], 0, 0, id, 60)], &[ok(id)])?;
        let end = Instant::now() + Duration::from_secs(20);
        let mut skip_extra = false;
        loop {
            let rsp: NetifRxResponse = match c
                .rxr
                .take_response(&*c.rxp)
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                Some(r) => r,
                None => {
                    if Instant::now() > end {
                        bail!("{name}: no ARP reply from dom0 in an RX buffer");
                    }
                    let _ = self.ev.pending(20)?.map(|p| self.ev.unmask(p));
                    continue;
                }
            };
            c.rx_posted = c.rx_posted.saturating_sub(1);
            if std::mem::take(&mut skip_extra) {
                continue;
            }
            skip_extra = rsp.flags & NETRXF_EXTRA_INFO != 0;
            if bad_rx {
                println!("NETHOSTILE: {name}: RX id {} status {}", rsp.id, rsp.status);
                if rsp.status >= 0 {
                    bail!("{name}: RX buffer with a bad grant answered {}", rsp.status);
                }
                return Ok(());
            }
            if rsp.status < 0 {
                bail!("{name}: RX response id {} status {}", rsp.id, rsp.status);
            }
            let page = usize::from(rsp.id) % RX_BUFS as usize;
            let len = usize::from(rsp.status as u16).min(PAGE_SIZE - usize::from(rsp.offset));
            let mut f = vec![0u8; len];
            self.rx_bufs
                .read_bytes(page * PAGE_SIZE + usize::from(rsp.offset), &mut f);
            if is_arp_reply(&f, self.mac) {
                println!("NETHOSTILE: {name}: ARP reply from dom0 ({len} bytes)");
                self.post_rx(c, None)?;
                return Ok(());
            }
            self.post_rx(c, None)?;
        }
    }
}

fn main() -> Result<()> {
    let devid = std::env::args()
        .nth(1)
        .context("usage: netfront-hostile DEVID")?;
    let xs = Xenstore::open()?;
    let fe = format!("device/vif/{devid}");
    let be = xs
        .read_string(NO_TX, &format!("{fe}/backend"))
        .context("the vif's backend node")?;
    let be_dom: u16 = xs
        .read_parse(NO_TX, &format!("{fe}/backend-id"))
        .context("backend-id")?;
    let mac = parse_mac(&xs.read_string(NO_TX, &format!("{fe}/mac"))?)?;
    let ga = Gntalloc::open()?;
    let mut data = ga.alloc(DomId(be_dom), 1)?;
    data.write_bytes(0, &arp_request(mac));
    data.write_bytes(usize::from(JUNK_AT), &to_ourselves(mac));
    let rx_bufs = ga.alloc(DomId(be_dom), RX_BUFS)?;
    let mut f = Front {
        xs,
        fe,
        be,
        be_dom: DomId(be_dom),
        ga,
        ev: Evtchn::open()?,
        mac,
        data,
        rx_bufs,
        next_id: 0,
    };
    let mut c = f.connect()?;
    println!("NETHOSTILE: connected to {}", f.be);
    // Dom0 lets us go once the good guest's traffic runs.
    let end = Instant::now() + Duration::from_secs(300);
    println!("NETHOSTILE-WAITING");
    while f.xs.read_string(NO_TX, "data/go").is_err() {
        if Instant::now() > end {
            bail!("no data/go from dom0");
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    // An RX buffer whose grant is bad: the frame is answered with an error in its slot.
    f.post_rx(&mut c, Some(BAD_GREF))?;
    f.arp(&mut c, "RX buffer with a bad grant", true)?;
    // Whatever bad buffers are left go before the good ones: reconnect for a clean RX ring.
    f.xs.write(NO_TX, &format!("{}/state", f.fe), b"5")?;
    wait_state(&f.xs, &format!("{}/state", f.be), 5, 30)?;
    f.ev.unbind(c.port)?;
    drop(c);
    f.xs.write(NO_TX, &format!("{}/state", f.fe), b"1")?;
    let mut c = f.connect()?;
    f.post_rx(&mut c, None)?;
    f.arp(&mut c, "valid ARP request", false)?;

    let g = f.data.refs()[0];
    let (a, b) = (f.id(), f.id());
    f.expect(
        &mut c,
        "first slot under 14 bytes",
        &[tx(g, 0, 0, a, 10)],
        &[err(a)],
    )?;
    // 20 slots in all: 19 follow-on slots, one more than Linux accepts.
    let mut reqs = vec![tx(g, 0, NETTXF_MORE_DATA, a, 20 * 64)];
    let mut want = vec![err(a)];
    for i in 0..19 {
        let id = f.id();
        let more = if i < 18 { NETTXF_MORE_DATA } else { 0 };
        reqs.push(tx(g, 64, more, id, 64));
        want.push(err(id));
    }
    f.expect(&mut c, "20 slots", &reqs, &want)?;
    f.expect(
        &mut c,
        "follow-on slot larger than the packet",
        &[tx(g, 0, NETTXF_MORE_DATA, a, 100), tx(g, 0, 0, b, 200)],
        &[err(a), err(b)],
    )?;
    f.expect(&mut c, "bad grant", &[tx(BAD_GREF, 0, 0, a, 60)], &[err(a)])?;
    f.expect(
        &mut c,
        "bad grant in a follow-on slot",
        &[
            tx(g, 0, NETTXF_MORE_DATA, a, 120),
            tx(BAD_GREF, 0, 0, b, 60),
        ],
        &[err(a), err(b)],
    )?;
    f.expect(
        &mut c,
        "zero-length follow-on slot",
        &[tx(g, 0, NETTXF_MORE_DATA, a, 60), tx(g, 0, 0, b, 0)],
        &[ok(a), ok(b)],
    )?;
    let mcast = |t, flags| {
        extra(NetifExtraInfo::with_mcast(
            t,
            flags,
            NetifExtraMcast {
                addr: [0x01, 0, 0x5e, 0, 0, 1],
            },
        ))
    };
    f.expect(
        &mut c,
        "multicast add",
        &[
            tx(g, 0, NETTXF_EXTRA_INFO, a, 60),
            mcast(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, 0),
        ],
        &[ok(a), NULL],
    )?;
    // A multicast request consumes only its first slot and extras: the data slot that follows
    // is a packet of its own.
    f.expect(
        &mut c,
        "GSO, hash and multicast delete chained, then a packet",
        &[
            tx(g, 0, NETTXF_EXTRA_INFO, a, 60),
            gso(XEN_NETIF_EXTRA_FLAG_MORE, 1400, XEN_NETIF_GSO_TYPE_TCPV4),
            extra(NetifExtraInfo::with_hash(
                XEN_NETIF_EXTRA_FLAG_MORE,
                NetifExtraHash::default(),
            )),
            mcast(XEN_NETIF_EXTRA_TYPE_MCAST_DEL, 0),
            tx(g, 0, 0, b, 60),
        ],
        &[ok(a), NULL, NULL, NULL, ok(b)],
    )?;
    // The multicast list holds 64 addresses (Linux's XEN_NETBK_MCAST_MAX): 65 adds of
    // different addresses, the last answered ERROR; then 64 deletes empty it again.
    let listed = |t, i: u8| {
        extra(NetifExtraInfo::with_mcast(
            t,
            0,
            NetifExtraMcast {
                addr: [0x01, 0, 0x5e, 0, 1, i],
            },
        ))
    };
    for (name, t, n, last_ok) in [
        (
            "65 multicast adds",
            XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
            65u8,
            false,
        ),
        (
            "64 multicast deletes",
            XEN_NETIF_EXTRA_TYPE_MCAST_DEL,
            64,
            true,
        ),
    ] {
        let (mut reqs, mut want) = (Vec::new(), Vec::new());
        for i in 0..n {
            let id = f.id();
            reqs.push(tx(g, 0, NETTXF_EXTRA_INFO, id, 60));
            reqs.push(listed(t, i));
            want.push(if i + 1 < n || last_ok {
                ok(id)
            } else {
                err(id)
            });
            want.push(NULL);
        }
        f.expect(&mut c, name, &reqs, &want)?;
    }
    // Checksum offload or GSO asked for an ARP frame: dropped, answered OKAY (as Linux).
    f.expect(
        &mut c,
        "csum_blank on a frame that is not TCP or UDP",
        &[tx(g, 0, NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED, a, 60)],
        &[ok(a)],
    )?;
    f.expect(
        &mut c,
        "GSO on a frame that is not TCP",
        &[
            tx(g, 0, NETTXF_CSUM_BLANK | NETTXF_EXTRA_INFO, a, 60),
            gso(0, 1400, XEN_NETIF_GSO_TYPE_TCPV4),
        ],
        &[ok(a), NULL],
    )?;
    f.arp(&mut c, "ARP after the dropped packets", false)?;

    // 256 packets at once, the whole ring: every one answered OKAY. They go to our own MAC
    // (an experimental ethertype), so the bridge, which learned that MAC on this port, drops
    // them instead of flooding the good guest.
    let mut reqs = Vec::new();
    let mut want = Vec::new();
    for _ in 0..256 {
        let id = f.id();
        reqs.push(tx(g, JUNK_AT, 0, id, 60));
        want.push(ok(id));
    }
    f.expect(&mut c, "256 packets filling the ring", &reqs, &want)?;
    // An event storm on the vif's channel: netback's threads only take what is published, and
    // the vif works afterwards.
    let t = Instant::now();
    for _ in 0..STORM {
        f.ev.notify(c.port)?;
    }
    println!("NETHOSTILE: {STORM} events sent in {:?}", t.elapsed());
    f.arp(&mut c, "ARP after an event storm", false)?;
    f.xs.write(NO_TX, &format!("{}/state", f.fe), b"5")?;
    wait_state(&f.xs, &format!("{}/state", f.be), 5, 30)?;
    f.ev.unbind(c.port)?;
    drop(c);
    f.xs.write(NO_TX, &format!("{}/state", f.fe), b"1")?;

    // Frontend nodes netback must refuse at connect (Linux's `connect()` fails them the same).
    type Tweak = Box<dyn Fn(&Xenstore, &str) -> Result<()>>;
    let set = |k: &'static str, v: &'static str| -> Tweak {
        Box::new(move |xs: &Xenstore, fe: &str| {
            xs.write(NO_TX, &format!("{fe}/{k}"), v.as_bytes())?;
            Ok(())
        })
    };
    let refusals: Vec<(&str, Tweak)> = vec![
        ("0 queues", set("multi-queue-num-queues", "0")),
        ("9 queues", set("multi-queue-num-queues", "9")),
        ("request-rx-copy 0", set("request-rx-copy", "0")),
        (
            "TX ring grant that is bad",
            set("tx-ring-ref", "2147418112"),
        ),
        (
            "RX ring grant that is bad",
            set("rx-ring-ref", "2147418112"),
        ),
        (
            "event channel that is not bound",
            set("event-channel", "4000"),
        ),
        ("TX ring grant not a number", set("tx-ring-ref", "ring")),
        (
            "no TX ring grant",
            Box::new(|xs: &Xenstore, fe: &str| {
                xs.rm(NO_TX, &format!("{fe}/tx-ring-ref"))?;
                Ok(())
            }),
        ),
    ];
    for (name, tweak) in &refusals {
        f.refused(name, tweak.as_ref())?;
    }
    let mut c = f.connect()?;
    f.post_rx(&mut c, None)?;
    f.arp(&mut c, "ARP after the refused connections", false)?;

    // Fatal: each closes the vif, and the device is reconnected for the next.
    let fatal: Vec<(&str, Vec<NetifTxRequest>)> = vec![
        ("slot crossing its page", vec![tx(g, 4000, 0, a, 200)]),
        (
            "follow-on slot crossing its page",
            vec![tx(g, 0, NETTXF_MORE_DATA, a, 160), tx(g, 4090, 0, b, 100)],
        ),
        ("22 slots", {
            let mut r = vec![tx(g, 0, NETTXF_MORE_DATA, a, 22 * 64)];
            for i in 0..21u16 {
                let more = if i < 20 { NETTXF_MORE_DATA } else { 0 };
                r.push(tx(g, 64, more, i + 1, 64));
            }
            r
        }),
        ("extra-info chain that never ends", {
            let mut r = vec![tx(g, 0, NETTXF_EXTRA_INFO, a, 60)];
            for _ in 0..255 {
                r.push(gso(
                    XEN_NETIF_EXTRA_FLAG_MORE,
                    1400,
                    XEN_NETIF_GSO_TYPE_TCPV4,
                ));
            }
            r
        }),
        (
            "extra-info of type 0",
            vec![tx(g, 0, NETTXF_EXTRA_INFO, a, 60), raw_extra(0, 0)],
        ),
        (
            "extra-info of type 200",
            vec![tx(g, 0, NETTXF_EXTRA_INFO, a, 60), raw_extra(200, 0)],
        ),
        (
            "GSO size 0",
            vec![
                tx(g, 0, NETTXF_CSUM_BLANK | NETTXF_EXTRA_INFO, a, 60),
                gso(0, 0, XEN_NETIF_GSO_TYPE_TCPV4),
            ],
        ),
        (
            "GSO type 7",
            vec![
                tx(g, 0, NETTXF_CSUM_BLANK | NETTXF_EXTRA_INFO, a, 60),
                gso(0, 1400, 7),
            ],
        ),
        (
            "data chain past the producer",
            vec![
                tx(g, 0, NETTXF_MORE_DATA, a, 180),
                tx(g, 0, NETTXF_MORE_DATA, b, 60),
            ],
        ),
    ];
    for (name, reqs) in fatal {
        f.send(&mut c, &reqs)?;
        c = f.expect_closed_and_reconnect(name, c)?;
    }
    // The TX producer jumps far ahead, then just past the ring (257 published).
    for (name, ahead) in [
        ("TX producer 1000 ahead", 1000u32),
        ("TX producer 257 ahead", 257),
    ] {
        let p = c.txr.req_prod_pvt().wrapping_add(ahead);
        c.txp.write_index(REQ_PROD_OFFSET, p);
        f.ev.notify(c.port)?;
        c = f.expect_closed_and_reconnect(name, c)?;
    }
    // The RX producer jumps far ahead; the next frame for us (dom0's ARP reply) finds it.
    let p = c.rxr.req_prod_pvt().wrapping_add(1000);
    c.rxp.write_index(REQ_PROD_OFFSET, p);
    f.ev.notify(c.port)?;
    let id = f.id();
    f.expect(
        &mut c,
        "ARP request with the RX producer 1000 ahead",
        &[tx(f.data.refs()[0], 0, 0, id, 60)],
        &[ok(id)],
    )?;
    c = f.expect_closed_and_reconnect("RX producer 1000 ahead", c)?;

    // Served again: a valid exchange on the last connection, then a clean close.
    f.post_rx(&mut c, None)?;
    f.arp(&mut c, "ARP after reconnecting", false)?;
    f.xs.write(NO_TX, &format!("{}/state", f.fe), b"5")?;
    wait_state(&f.xs, &format!("{}/state", f.be), 5, 30)?;
    f.xs.write(NO_TX, &format!("{}/state", f.fe), b"6")?;
    wait_state(&f.xs, &format!("{}/state", f.be), 6, 30)?;
    f.ev.unbind(c.port)?;
    drop(c);
    println!("NETHOSTILE: closed cleanly");
    println!("NETHOSTILE-PASS");
    Ok(())
}
