//! `blkfront-hostile DEVID`: a deliberately malformed blkif frontend for the rig. Run in a domU
//! (without xen-blkfront loaded) for a vbd the toolstack attached, it connects a ring by hand,
//! sends requests a correct frontend never would, checks each answer, and finally makes its
//! producer index jump; blkback must answer every bad request with an error and then close the
//! device. It then reconnects the same device as Linux's `xenbus_reset_frontend` does after a
//! kexec (`Closed` → `Initialising`, the backend back to `InitWait`, a fresh ring, `Connected`),
//! writes and reads back a page, and closes cleanly. Prints `HOSTILE-PASS` on success.

use anyhow::{bail, Context, Result};
use dom0_sys::evtchn::Evtchn;
use dom0_sys::gntalloc::Gntalloc;
use std::time::{Duration, Instant};
use xen_abi::io::blkif::{
    BlkifFrontRing, BlkifRequest, BlkifRequestDiscard, BlkifRequestIndirect, BlkifRequestSegment,
    BlkifResponse, BLKIF_OP_DISCARD, BLKIF_OP_INDIRECT, BLKIF_OP_READ, BLKIF_OP_WRITE,
    BLKIF_OP_WRITE_BARRIER, BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY,
    XEN_IO_PROTO_ABI_NATIVE,
};
use xen_abi::io::ring::{RingMemory, REQ_PROD_OFFSET};
use xen_abi::types::{DomId, GrantRef};
use xenstore::{Xenstore, NO_TX};

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
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn seg(gref: GrantRef, first: u8, last: u8) -> BlkifRequestSegment {
    BlkifRequestSegment {
        gref,
        first_sect: first,
        last_sect: last,
        ..Default::default()
    }
}

fn rw(op: u8, id: u64, sector: u64, segs: &[BlkifRequestSegment]) -> BlkifRequest {
    let mut r = BlkifRequest {
        operation: op,
        nr_segments: segs.len() as u8,
        id,
        sector_number: sector,
        ..Default::default()
    };
    for (i, s) in segs.iter().enumerate() {
        r.seg[i] = *s;
    }
    r
}

fn main() -> Result<()> {
    let devid = std::env::args()
        .nth(1)
        .context("usage: blkfront-hostile DEVID")?;
    let xs = Xenstore::open()?;
    let fe = format!("device/vbd/{devid}");
    // The toolstack attaches the device after this program starts.
    let end = Instant::now() + Duration::from_secs(120);
    let be = loop {
        match xs.read_string(NO_TX, &format!("{fe}/backend")) {
            Ok(b) => break b,
            Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => return Err(e).context("waiting for the vbd to be attached"),
        }
    };
    let be_dom: u16 = xs
        .read_parse(NO_TX, &format!("{fe}/backend-id"))
        .context("backend-id")?;
    wait_state(&xs, &format!("{be}/state"), 2, 60)?;
    let sectors: u64 = xs
        .read_parse(NO_TX, &format!("{be}/sectors"))
        .context("sectors")?;
    let ga = Gntalloc::open()?;
    let mut data = ga.alloc(DomId(be_dom), 1)?;
    let ev = Evtchn::open()?;
    let mut q = Queue::connect(&xs, &fe, &be, DomId(be_dom), &ga, &ev)?;
    println!("HOSTILE: connected to {be}, {sectors} sectors");
    let good = data.refs()[0];
    let mut cases: Vec<(&str, BlkifRequest, i16)> = vec![
        (
            "valid read",
            rw(BLKIF_OP_READ, 1, 0, &[seg(good, 0, 7)]),
            BLKIF_RSP_OKAY,
        ),
        (
            "zero segments",
            rw(BLKIF_OP_READ, 2, 0, &[]),
            BLKIF_RSP_ERROR,
        ),
        (
            "sector past the end",
            rw(BLKIF_OP_READ, 3, sectors, &[seg(good, 0, 0)]),
            BLKIF_RSP_ERROR,
        ),
        (
            "range over the end",
            rw(BLKIF_OP_WRITE, 4, sectors - 4, &[seg(good, 0, 7)]),
            BLKIF_RSP_ERROR,
        ),
        (
            "segment beyond its page",
            rw(BLKIF_OP_READ, 5, 0, &[seg(good, 0, 8)]),
            BLKIF_RSP_ERROR,
        ),
        (
            "inverted segment",
            rw(BLKIF_OP_READ, 6, 0, &[seg(good, 5, 2)]),
            BLKIF_RSP_ERROR,
        ),
        (
            "unknown operation",
            rw(0x77, 7, 0, &[seg(good, 0, 0)]),
            BLKIF_RSP_EOPNOTSUPP,
        ),
        (
            "write barrier",
            rw(BLKIF_OP_WRITE_BARRIER, 8, 0, &[]),
            BLKIF_RSP_EOPNOTSUPP,
        ),
        (
            "foreign grant",
            rw(BLKIF_OP_READ, 9, 0, &[seg(GrantRef(0x7fff_0000), 0, 0)]),
            BLKIF_RSP_ERROR,
        ),
        (
            "valid write",
            rw(BLKIF_OP_WRITE, 10, 8, &[seg(good, 0, 7)]),
            BLKIF_RSP_OKAY,
        ),
    ];
    let mut too_many = rw(BLKIF_OP_READ, 11, 0, &[seg(good, 0, 0)]);
    too_many.nr_segments = 200;
    cases.push(("200 direct segments", too_many, BLKIF_RSP_ERROR));
    cases.push((
        "discard past the end",
        BlkifRequest::from(BlkifRequestDiscard {
            operation: BLKIF_OP_DISCARD,
            id: 12,
            sector_number: sectors - 1,
            nr_sectors: 2,
            ..Default::default()
        }),
        BLKIF_RSP_ERROR,
    ));
    cases.push((
        "indirect with 60000 segments",
        BlkifRequest::from(BlkifRequestIndirect {
            operation: BLKIF_OP_INDIRECT,
            indirect_op: BLKIF_OP_READ,
            nr_segments: 60000,
            id: 13,
            ..Default::default()
        }),
        BLKIF_RSP_ERROR,
    ));
    for (name, req, want) in &cases {
        q.expect(&ev, name, req, *want)?;
    }
    // The producer index jumps far past anything a frontend could have produced.
    let bogus = q.front.req_prod_pvt().wrapping_add(1000);
    q.ring_page.write_index(REQ_PROD_OFFSET, bogus);
    ev.notify(q.port)?;
    wait_state(&xs, &format!("{be}/state"), 5, 30)?;
    println!("HOSTILE: jumping index closed the device");
    xs.write(NO_TX, &format!("{fe}/state"), b"6")?;
    wait_state(&xs, &format!("{be}/state"), 6, 30)?;
    ev.unbind(q.port)?;
    drop(q);

    // Reconnection of the same device (Linux's xenbus_reset_frontend after a kexec): the backend
    // must leave Closed for InitWait when the frontend is Initialising again, and serve a new ring.
    xs.write(NO_TX, &format!("{fe}/state"), b"1")?;
    wait_state(&xs, &format!("{be}/state"), 2, 30)?;
    let mut q = Queue::connect(&xs, &fe, &be, DomId(be_dom), &ga, &ev)?;
    println!("HOSTILE: reconnected to {be}");
    let pattern = [0xa5u8; 4096];
    data.write_bytes(0, &pattern);
    let page = [seg(data.refs()[0], 0, 7)];
    q.expect(
        &ev,
        "write after reconnect",
        &rw(BLKIF_OP_WRITE, 20, 16, &page),
        BLKIF_RSP_OKAY,
    )?;
    data.write_bytes(0, &[0u8; 4096]);
    q.expect(
        &ev,
        "read after reconnect",
        &rw(BLKIF_OP_READ, 21, 16, &page),
        BLKIF_RSP_OKAY,
    )?;
    let mut back = [0u8; 4096];
    data.read_bytes(0, &mut back);
    if back != pattern {
        bail!("read after reconnect: the page read back is not the page written");
    }
    xs.write(NO_TX, &format!("{fe}/state"), b"5")?;
    wait_state(&xs, &format!("{be}/state"), 5, 30)?;
    xs.write(NO_TX, &format!("{fe}/state"), b"6")?;
    wait_state(&xs, &format!("{be}/state"), 6, 30)?;
    println!("HOSTILE: reconnected ring served and closed");
    ev.unbind(q.port)?;
    drop(q);
    println!("HOSTILE-PASS");
    Ok(())
}

/// One connected ring: its granted page, the front ring state and the event channel.
struct Queue {
    ring_page: dom0_sys::gntalloc::GrantedPages,
    front: BlkifFrontRing,
    port: xen_abi::types::Port,
}

impl Queue {
    /// Grants a fresh ring page to the backend, binds a channel, writes the ring nodes and
    /// `Initialised`, and waits for the backend's `Connected`.
    fn connect(
        xs: &Xenstore,
        fe: &str,
        be: &str,
        be_dom: DomId,
        ga: &std::sync::Arc<Gntalloc>,
        ev: &Evtchn,
    ) -> Result<Queue> {
        let mut ring_page = ga.alloc(be_dom, 1)?;
        let front = BlkifFrontRing::init(&mut *ring_page).map_err(|e| anyhow::anyhow!("{e}"))?;
        let port = ev.bind_unbound_port(be_dom)?;
        xs.write(
            NO_TX,
            &format!("{fe}/ring-ref"),
            ring_page.refs()[0].0.to_string().as_bytes(),
        )?;
        xs.write(
            NO_TX,
            &format!("{fe}/event-channel"),
            port.0.to_string().as_bytes(),
        )?;
        xs.write(
            NO_TX,
            &format!("{fe}/protocol"),
            XEN_IO_PROTO_ABI_NATIVE.as_bytes(),
        )?;
        // Ask for persistent grants, so the hostile requests also meet blkback's mapping path (a
        // grant that cannot be mapped must fall back to grant copy and fail there, not crash).
        xs.write(NO_TX, &format!("{fe}/feature-persistent"), b"1")?;
        xs.write(NO_TX, &format!("{fe}/state"), b"3")?;
        wait_state(xs, &format!("{be}/state"), 4, 60)?;
        Ok(Queue {
            ring_page,
            front,
            port,
        })
    }

    /// Sends `req` and requires its response to carry its id and status `want`.
    fn expect(&mut self, ev: &Evtchn, name: &str, req: &BlkifRequest, want: i16) -> Result<()> {
        self.front
            .put_request(&mut *self.ring_page, req)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if self
            .front
            .push_requests_and_check_notify(&mut *self.ring_page)
        {
            ev.notify(self.port)?;
        }
        let end = Instant::now() + Duration::from_secs(20);
        let rsp: BlkifResponse = loop {
            if let Some(r) = self
                .front
                .take_response(&*self.ring_page)
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                break r;
            }
            if Instant::now() > end {
                bail!("{name}: no response");
            }
            let _ = ev.pending(50)?.map(|p| ev.unmask(p));
        };
        println!("HOSTILE: {name}: id {} status {}", rsp.id, rsp.status);
        if rsp.id != req.id || rsp.status != want {
            bail!(
                "{name}: got id {} status {}, wanted status {want}",
                rsp.id,
                rsp.status
            );
        }
        Ok(())
    }
}
