//! Framing: messages out of a byte stream (a socket or a ring), one header then `len` bytes,
//! with C xenstored's rule that a header announcing more than 4096 bytes breaks the connection.

use xen_abi::io::xs_wire::{XsdSockmsg, XENSTORE_PAYLOAD_MAX};
use zerocopy::FromBytes;

use crate::core::{Message, HDR_LEN};

/// A header announced a payload over `XENSTORE_PAYLOAD_MAX` (C: `XENSTORE_ERROR_PROTO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong(pub u32);

/// Collects one message at a time from a byte stream.
#[derive(Debug, Default)]
pub struct Framer {
    hdr: [u8; HDR_LEN],
    hdr_used: usize,
    len: usize,
    payload: Vec<u8>,
}

impl Framer {
    /// A framer waiting for a header.
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Bytes to read next: the rest of the header, or the rest of the payload. Reading no more
    /// than this keeps each connection to one message in memory.
    pub fn want(&self) -> usize {
        if self.hdr_used < HDR_LEN {
            HDR_LEN - self.hdr_used
        } else {
            self.len - self.payload.len()
        }
    }

    /// Nothing of a message has arrived yet.
    pub fn is_idle(&self) -> bool {
        self.hdr_used == 0
    }

    /// Takes `bytes` (at most `want()` of them are used); returns the message when complete.
    /// Returns how many bytes were used.
    pub fn put(&mut self, bytes: &[u8]) -> Result<(usize, Option<Message>), TooLong> {
        let mut used = 0;
        if self.hdr_used < HDR_LEN {
            let n = (HDR_LEN - self.hdr_used).min(bytes.len());
            self.hdr[self.hdr_used..self.hdr_used + n].copy_from_slice(&bytes[..n]);
            self.hdr_used += n;
            used = n;
            if self.hdr_used < HDR_LEN {
                return Ok((used, None));
            }
            let h = header(&self.hdr);
            if h.len > XENSTORE_PAYLOAD_MAX {
                return Err(TooLong(h.len));
            }
            self.len = h.len as usize;
            self.payload = Vec::with_capacity(self.len);
        }
        let rest = &bytes[used..];
        let n = (self.len - self.payload.len()).min(rest.len());
        self.payload.extend_from_slice(&rest[..n]);
        used += n;
        if self.payload.len() < self.len {
            return Ok((used, None));
        }
        let h = header(&self.hdr);
        let msg = Message {
            kind: h.r#type,
            req_id: h.req_id,
            tx_id: h.tx_id,
            payload: std::mem::take(&mut self.payload),
        };
        self.hdr_used = 0;
        self.len = 0;
        Ok((used, Some(msg)))
    }
}

fn header(b: &[u8; HDR_LEN]) -> XsdSockmsg {
    // A 16-byte array always holds a header.
    XsdSockmsg::read_from_bytes(b).unwrap_or_default()
}

/// One whole encoded message (header and exactly its payload), or `None`.
pub fn decode(bytes: &[u8]) -> Option<Message> {
    let mut f = Framer::new();
    match f.put(bytes) {
        Ok((n, Some(m))) if n == bytes.len() => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(len: usize) -> Message {
        Message {
            kind: 2,
            req_id: 7,
            tx_id: 0,
            payload: vec![b'a'; len],
        }
    }

    #[test]
    fn put_byte_by_byte_yields_message_once() {
        let m = msg(10);
        let bytes = m.encode();
        let mut f = Framer::new();
        let mut got = None;
        for b in &bytes {
            assert!(f.want() >= 1);
            let (n, out) = f.put(std::slice::from_ref(b)).expect("short message");
            assert_eq!(n, 1);
            if out.is_some() {
                got = out;
            }
        }
        assert_eq!(got, Some(m));
        assert!(f.is_idle());
    }

    #[test]
    fn put_header_over_limit_is_too_long() {
        let mut bytes = msg(0).encode();
        bytes[12..16].copy_from_slice(&4097u32.to_le_bytes());
        assert_eq!(Framer::new().put(&bytes), Err(TooLong(4097)));
        bytes[12..16].copy_from_slice(&4096u32.to_le_bytes());
        assert!(Framer::new().put(&bytes).is_ok());
    }

    #[test]
    fn put_stops_at_message_end() {
        let mut bytes = msg(3).encode();
        bytes.extend_from_slice(&msg(4).encode());
        let mut f = Framer::new();
        let (n, m) = f.put(&bytes).expect("valid");
        assert_eq!(n, HDR_LEN + 3);
        assert_eq!(m, Some(msg(3)));
    }
}
