//! A domain's xenstore ring (`struct xenstore_domain_interface`): requests out of `req`,
//! replies and events into `rsp`, with every index the guest writes checked.
//!
//! The page is reached only through [`RingMemory`] (copies, never references), and the index
//! arithmetic is `xen_abi`'s [`XENSTORE_REQ`]/[`XENSTORE_RSP`], which refuse a producer more than
//! a ring ahead of its consumer. A ring that breaks the protocol gets C xenstored's treatment:
//! the `error` field is set (`XENSTORE_ERROR_RINGIDX` for bad indices,
//! `XENSTORE_ERROR_PROTO` for an oversized header) and the connection is ignored from then on.

use core::mem::offset_of;

use xen_abi::io::ring::RingMemory;
use xen_abi::io::xs_wire::{
    XenstoreDomainInterface, XENSTORE_CONNECTED, XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX,
    XENSTORE_RECONNECT, XENSTORE_REQ, XENSTORE_RSP,
};

use crate::core::Message;
use crate::wire::Framer;

/// Why a ring is no longer served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingFault {
    /// Indices out of range (`XENSTORE_ERROR_RINGIDX`).
    RingIdx,
    /// A header announcing more than 4096 bytes (`XENSTORE_ERROR_PROTO`).
    Proto,
}

impl RingFault {
    /// The value C xenstored writes to the page's `error` field.
    pub fn code(self) -> u32 {
        match self {
            RingFault::RingIdx => XENSTORE_ERROR_RINGIDX,
            RingFault::Proto => XENSTORE_ERROR_PROTO,
        }
    }
}

/// The daemon's side of one domain's ring.
#[derive(Debug, Default)]
pub struct RingConn {
    framer: Framer,
    fault: Option<RingFault>,
}

impl RingConn {
    /// A connection at the start of a message.
    pub fn new() -> RingConn {
        RingConn::default()
    }

    /// The fault that stopped this ring, if any.
    pub fn fault(&self) -> Option<RingFault> {
        self.fault
    }

    fn set_fault<M: RingMemory + ?Sized>(&mut self, mem: &mut M, f: RingFault) -> RingFault {
        self.fault = Some(f);
        mem.write_index(offset_of!(XenstoreDomainInterface, error), f.code());
        f
    }

    /// Takes bytes from `req` until one whole request has arrived (`Ok(Some)`) or the ring is
    /// empty (`Ok(None)`). Reads at most one message, so a flooding guest yields its turn.
    pub fn read_request<M: RingMemory + ?Sized>(
        &mut self,
        mem: &mut M,
    ) -> Result<Option<Message>, RingFault> {
        if let Some(f) = self.fault {
            return Err(f);
        }
        let mut buf = [0u8; 1024];
        loop {
            let want = self.framer.want().min(buf.len());
            let n = match XENSTORE_REQ.read(mem, &mut buf[..want]) {
                Ok(n) => n,
                Err(_) => return Err(self.set_fault(mem, RingFault::RingIdx)),
            };
            if n == 0 {
                return Ok(None);
            }
            match self.framer.put(&buf[..n]) {
                Ok((_, Some(m))) => return Ok(Some(m)),
                Ok((_, None)) => {}
                Err(_) => return Err(self.set_fault(mem, RingFault::Proto)),
            }
        }
    }

    /// Copies as much of `bytes` into `rsp` as fits; returns how many went.
    pub fn write_response<M: RingMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        bytes: &[u8],
    ) -> Result<usize, RingFault> {
        if let Some(f) = self.fault {
            return Err(f);
        }
        XENSTORE_RSP
            .write(mem, bytes)
            .map_err(|_| self.set_fault(mem, RingFault::RingIdx))
    }

    /// `domain_conn_reset` on `INTRODUCE` of an introduced domain: zero all four indices, forget
    /// any half-read request and fault, and answer a guest waiting in `XENSTORE_RECONNECT`.
    /// Returns true if the guest should be notified.
    pub fn reset<M: RingMemory + ?Sized>(&mut self, mem: &mut M) -> bool {
        *self = RingConn::new();
        for off in [
            offset_of!(XenstoreDomainInterface, req_cons),
            offset_of!(XenstoreDomainInterface, req_prod),
            offset_of!(XenstoreDomainInterface, rsp_cons),
            offset_of!(XenstoreDomainInterface, rsp_prod),
        ] {
            mem.write_index(off, 0);
        }
        let conn = offset_of!(XenstoreDomainInterface, connection);
        if mem.read_index(conn) == XENSTORE_RECONNECT {
            mem.write_index(conn, XENSTORE_CONNECTED);
            return true;
        }
        false
    }
}

/// A xenstore page in ordinary memory (tests, fuzzing, and a file-backed test ring).
#[derive(Clone, Debug)]
pub struct PageMem(pub Vec<u8>);

impl PageMem {
    /// A zeroed 4 KiB page.
    pub fn new() -> PageMem {
        PageMem(vec![0; 4096])
    }

    /// The `u32` field at `offset`.
    pub fn u32_at(&self, offset: usize) -> u32 {
        let mut b = [0u8; 4];
        if let Some(s) = self.0.get(offset..offset + 4) {
            b.copy_from_slice(s);
        }
        u32::from_le_bytes(b)
    }

    /// Sets the `u32` field at `offset`.
    pub fn set_u32(&mut self, offset: usize, v: u32) {
        if let Some(s) = self.0.get_mut(offset..offset + 4) {
            s.copy_from_slice(&v.to_le_bytes());
        }
    }
}

impl Default for PageMem {
    fn default() -> Self {
        PageMem::new()
    }
}

impl RingMemory for PageMem {
    fn size(&self) -> usize {
        self.0.len()
    }
    fn read_index(&self, offset: usize) -> u32 {
        self.u32_at(offset)
    }
    fn write_index(&mut self, offset: usize, value: u32) {
        self.set_u32(offset, value);
    }
    fn full_fence(&self) {}
    fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        if let Some(s) = self.0.get(offset..offset + dst.len()) {
            dst.copy_from_slice(s);
        }
    }
    fn write_bytes(&mut self, offset: usize, src: &[u8]) {
        if let Some(s) = self.0.get_mut(offset..offset + src.len()) {
            s.copy_from_slice(src);
        }
    }
}

/// The guest's side, for tests: queue a request into `req`, take replies from `rsp`.
pub mod guest {
    use super::*;

    /// Writes `bytes` into the request ring; returns how many fit.
    pub fn send(mem: &mut PageMem, bytes: &[u8]) -> usize {
        XENSTORE_REQ.write(mem, bytes).unwrap_or(0)
    }

    /// Takes everything in the response ring.
    pub fn recv(mem: &mut PageMem) -> Vec<u8> {
        let mut buf = vec![0u8; 1024];
        let n = XENSTORE_RSP.read(mem, &mut buf).unwrap_or(0);
        buf.truncate(n);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REQ_CONS: usize = offset_of!(XenstoreDomainInterface, req_cons);
    const REQ_PROD: usize = offset_of!(XenstoreDomainInterface, req_prod);
    const RSP_CONS: usize = offset_of!(XenstoreDomainInterface, rsp_cons);
    const RSP_PROD: usize = offset_of!(XenstoreDomainInterface, rsp_prod);
    const ERROR: usize = offset_of!(XenstoreDomainInterface, error);

    fn req(len: usize) -> Message {
        Message {
            kind: 2,
            req_id: 1,
            tx_id: 0,
            payload: vec![b'x'; len],
        }
    }

    #[test]
    fn read_request_across_wrap_returns_message() {
        let mut m = PageMem::new();
        m.set_u32(REQ_CONS, u32::MAX - 5);
        m.set_u32(REQ_PROD, u32::MAX - 5);
        let r = req(40);
        assert_eq!(guest::send(&mut m, &r.encode()), 56);
        let mut c = RingConn::new();
        assert_eq!(c.read_request(&mut m), Ok(Some(r)));
        assert_eq!(c.read_request(&mut m), Ok(None));
    }

    #[test]
    fn read_request_larger_than_ring_arrives_in_parts() {
        let mut m = PageMem::new();
        let r = req(3000);
        let bytes = r.encode();
        let mut c = RingConn::new();
        let mut sent = 0;
        let mut got = None;
        while got.is_none() {
            sent += guest::send(&mut m, &bytes[sent..]);
            got = c.read_request(&mut m).expect("valid ring");
        }
        assert_eq!(got, Some(r));
    }

    #[test]
    fn read_request_prod_too_far_ahead_is_ringidx_and_sticks() {
        let mut m = PageMem::new();
        m.set_u32(REQ_PROD, 1025);
        let mut c = RingConn::new();
        assert_eq!(c.read_request(&mut m), Err(RingFault::RingIdx));
        assert_eq!(m.u32_at(ERROR), XENSTORE_ERROR_RINGIDX);
        m.set_u32(REQ_PROD, 0);
        assert_eq!(c.read_request(&mut m), Err(RingFault::RingIdx));
    }

    #[test]
    fn read_request_oversized_header_is_proto() {
        let mut m = PageMem::new();
        let mut h = req(0).encode();
        h[12..16].copy_from_slice(&5000u32.to_le_bytes());
        guest::send(&mut m, &h);
        let mut c = RingConn::new();
        assert_eq!(c.read_request(&mut m), Err(RingFault::Proto));
        assert_eq!(m.u32_at(ERROR), XENSTORE_ERROR_PROTO);
    }

    #[test]
    fn write_response_guest_cons_ahead_of_prod_is_ringidx() {
        let mut m = PageMem::new();
        m.set_u32(RSP_CONS, 10);
        let mut c = RingConn::new();
        assert_eq!(c.write_response(&mut m, b"hello"), Err(RingFault::RingIdx));
    }

    #[test]
    fn write_response_full_ring_takes_only_space() {
        let mut m = PageMem::new();
        let mut c = RingConn::new();
        assert_eq!(c.write_response(&mut m, &[1; 2000]), Ok(1024));
        assert_eq!(c.write_response(&mut m, &[1; 10]), Ok(0));
        assert_eq!(guest::recv(&mut m).len(), 1024);
        assert_eq!(c.write_response(&mut m, &[1; 10]), Ok(10));
    }

    #[test]
    fn reset_zeroes_indices_and_answers_reconnect() {
        let mut m = PageMem::new();
        m.set_u32(REQ_PROD, 7);
        m.set_u32(RSP_PROD, 9);
        m.set_u32(
            offset_of!(XenstoreDomainInterface, connection),
            XENSTORE_RECONNECT,
        );
        let mut c = RingConn::new();
        assert!(c.reset(&mut m));
        assert_eq!(m.u32_at(REQ_PROD), 0);
        assert_eq!(m.u32_at(RSP_PROD), 0);
        assert!(!c.reset(&mut m));
    }

    proptest! {
        /// Whatever a hostile guest puts in the page, reading and writing terminate without a
        /// panic, and never report more than a ring's worth of data.
        #[test]
        fn hostile_page_never_panics(
            req_cons in any::<u32>(), req_prod in any::<u32>(),
            rsp_cons in any::<u32>(), rsp_prod in any::<u32>(),
            data in proptest::collection::vec(any::<u8>(), 2048),
        ) {
            let mut m = PageMem::new();
            m.0[..2048].copy_from_slice(&data);
            m.set_u32(REQ_CONS, req_cons);
            m.set_u32(REQ_PROD, req_prod);
            m.set_u32(RSP_CONS, rsp_cons);
            m.set_u32(RSP_PROD, rsp_prod);
            let mut c = RingConn::new();
            for _ in 0..8 {
                if c.read_request(&mut m).is_err() {
                    break;
                }
            }
            let n = c.write_response(&mut m, &[0; 4096]).unwrap_or(0);
            prop_assert!(n <= 1024);
        }
    }
}
