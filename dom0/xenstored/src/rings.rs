//! Serving domains' rings, whatever holds the pages: one request per ring per turn (as sockets
//! get), replies and events written as far as the ring has room, and the domain kicked when
//! its indices moved. [`crate::filering`] (pages in files) and [`crate::xenrings`] (pages
//! mapped from Xen) both serve through [`serve`].

use core::mem::offset_of;

use xen_abi::io::ring::RingMemory;
use xen_abi::io::xs_wire::XenstoreDomainInterface;

use crate::core::{ConnId, DomainConnector, Xenstored};
use crate::ring::RingConn;

/// A set of domain rings the daemon serves.
pub trait Rings {
    /// The domains with a ring.
    fn domids(&self) -> Vec<u32>;
    /// Domain `domid`'s page and protocol state.
    fn ring(&mut self, domid: u32) -> Option<(&mut dyn RingMemory, &mut RingConn)>;
    /// Tells the domain its ring moved (an event on its channel).
    fn kick(&mut self, domid: u32);
}

const REQ_CONS: usize = offset_of!(XenstoreDomainInterface, req_cons);
const REQ_PROD: usize = offset_of!(XenstoreDomainInterface, req_prod);
const RSP_PROD: usize = offset_of!(XenstoreDomainInterface, rsp_prod);

fn indices<R: Rings + ?Sized>(rings: &mut R, domid: u32) -> Option<(u32, u32)> {
    let (mem, _) = rings.ring(domid)?;
    Some((mem.read_index(REQ_CONS), mem.read_index(RSP_PROD)))
}

/// One turn over every ring: write what is queued, take at most one request each (if `read`),
/// write again (replies and events may now be queued for any domain), and kick each domain
/// whose indices moved. Returns true if some ring still holds input the engine would take (the
/// caller should come back without waiting for an event).
pub fn serve<C: DomainConnector + Rings>(engine: &mut Xenstored<C>, read: bool) -> bool {
    let domids = engine.connector.domids();
    let before: Vec<Option<(u32, u32)>> = domids
        .iter()
        .map(|d| indices(&mut engine.connector, *d))
        .collect();
    for &domid in &domids {
        let Some(id) = engine.domain_conn(domid) else {
            continue;
        };
        flush(engine, domid, id);
        if read && engine.can_accept(id) {
            let got = match engine.connector.ring(domid) {
                Some((mem, conn)) if conn.fault().is_none() => conn.read_request(mem),
                _ => continue,
            };
            match got {
                Ok(Some(msg)) => engine.handle(id, &msg),
                Ok(None) => {}
                Err(f) => log::warn!("domain {domid}: ring {f:?}, ignoring it"),
            }
        }
    }
    let mut more = false;
    for (i, &domid) in domids.iter().enumerate() {
        let Some(id) = engine.domain_conn(domid) else {
            continue;
        };
        flush(engine, domid, id);
        if indices(&mut engine.connector, domid) != before[i] {
            engine.connector.kick(domid);
        }
        if engine.can_accept(id) {
            if let Some((mem, conn)) = engine.connector.ring(domid) {
                more |=
                    conn.fault().is_none() && mem.read_index(REQ_PROD) != mem.read_index(REQ_CONS);
            }
        }
    }
    more
}

fn flush<C: DomainConnector + Rings>(engine: &mut Xenstored<C>, domid: u32, id: ConnId) {
    while let Some(out) = engine.output(id).map(<[u8]>::to_vec) {
        let n = match engine.connector.ring(domid) {
            Some((mem, conn)) => conn.write_response(mem, &out).unwrap_or(0),
            None => 0,
        };
        if n == 0 {
            return;
        }
        engine.consume_output(id, n);
    }
}
