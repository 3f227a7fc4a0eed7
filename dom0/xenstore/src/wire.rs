//! Encoding and decoding xenstore messages (`struct xsd_sockmsg` + payload).

use std::io::Read;
use xen_abi::io::xs_wire::{XsdSockmsg, XsdSockmsgType, XENSTORE_PAYLOAD_MAX};
use zerocopy::{FromBytes, IntoBytes};

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `XS_*` type (raw: replies may carry types this client does not know).
    pub kind: u32,
    /// Request id.
    pub req_id: u32,
    /// Transaction id.
    pub tx_id: u32,
    /// Payload.
    pub payload: Vec<u8>,
}

impl Message {
    /// Header and payload as they travel (the payload's size is the caller's to bound).
    pub fn encode(&self) -> Vec<u8> {
        let h = XsdSockmsg {
            r#type: self.kind,
            req_id: self.req_id,
            tx_id: self.tx_id,
            len: self.payload.len() as u32,
        };
        let mut v = Vec::with_capacity(size_of::<XsdSockmsg>() + self.payload.len());
        v.extend_from_slice(h.as_bytes());
        v.extend_from_slice(&self.payload);
        v
    }
}

/// A payload too large for the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("xenstore payload of {0} bytes exceeds {XENSTORE_PAYLOAD_MAX}")]
pub struct TooLarge(pub usize);

/// Header + payload of a request.
pub fn encode(
    op: XsdSockmsgType,
    req_id: u32,
    tx_id: u32,
    payload: &[u8],
) -> Result<Vec<u8>, TooLarge> {
    if payload.len() > XENSTORE_PAYLOAD_MAX as usize {
        return Err(TooLarge(payload.len()));
    }
    let h = XsdSockmsg {
        r#type: op as u32,
        req_id,
        tx_id,
        len: payload.len() as u32,
    };
    let mut v = h.as_bytes().to_vec();
    v.extend_from_slice(payload);
    Ok(v)
}

/// Reads one message; a header announcing more than the protocol allows is an error.
pub fn read_message(r: &mut dyn Read) -> std::io::Result<Message> {
    let mut h = [0u8; 16];
    r.read_exact(&mut h)?;
    let hdr = XsdSockmsg::read_from_bytes(&h).map_err(|_| std::io::Error::other("short header"))?;
    if hdr.len > XENSTORE_PAYLOAD_MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("xenstore message of {} bytes", hdr.len),
        ));
    }
    let mut payload = vec![0u8; hdr.len as usize];
    r.read_exact(&mut payload)?;
    Ok(Message {
        kind: hdr.r#type,
        req_id: hdr.req_id,
        tx_id: hdr.tx_id,
        payload,
    })
}

/// A path (or token) as the protocol carries it: NUL-terminated.
pub fn path(p: &str) -> Vec<u8> {
    let mut v = p.as_bytes().to_vec();
    v.push(0);
    v
}

/// The NUL-separated strings of a payload (a trailing NUL ends the list, it adds no item).
pub fn strings(payload: &[u8]) -> Vec<String> {
    let body = payload.strip_suffix(&[0]).unwrap_or(payload);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The payload up to its first NUL.
pub fn first_string(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

/// Access in a permission entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `n`: none.
    None,
    /// `r`: read.
    Read,
    /// `w`: write.
    Write,
    /// `b`: both.
    Both,
}

/// One permission entry: `<access><domid>`, e.g. `r5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// The access.
    pub access: Access,
    /// The domain.
    pub domid: u16,
}

impl Perm {
    /// Parses `n0`, `r5`, ...
    pub fn parse(s: &str) -> Option<Perm> {
        let mut c = s.chars();
        let access = match c.next()? {
            'n' => Access::None,
            'r' => Access::Read,
            'w' => Access::Write,
            'b' => Access::Both,
            _ => return None,
        };
        Some(Perm {
            access,
            domid: c.as_str().parse().ok()?,
        })
    }
}

impl std::fmt::Display for Perm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = match self.access {
            Access::None => 'n',
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Both => 'b',
        };
        write!(f, "{a}{}", self.domid)
    }
}
