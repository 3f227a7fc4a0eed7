//! A xenstore client over `xen-abi`'s `xs_wire`: read, write, mkdir, rm, directory,
//! permissions, watches (as a stream of events) and transactions (retried on `EAGAIN`).
//!
//! It talks to xenstored through `/dev/xen/xenbus` (the kernel's xenbus device, which works
//! whatever domain runs xenstored) or, failing that, xenstored's Unix socket. One reader thread
//! splits what arrives into replies (one request is outstanding at a time) and watch events
//! (routed by token).
#![forbid(unsafe_code)]

pub mod wire;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wire::{Message, Perm};
use xen_abi::io::xs_wire::XsdSockmsgType;
use xen_abi::Errno;

/// What a xenstore call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// xenstored answered `XS_ERROR`.
    #[error("xenstore {op} {path}: {errno:?}")]
    Xenstore {
        /// The request.
        op: &'static str,
        /// The path it named.
        path: String,
        /// The error.
        errno: Errno,
    },
    /// The connection failed.
    #[error("xenstore connection: {0}")]
    Io(#[from] std::io::Error),
    /// Something arrived that is not a valid reply.
    #[error("xenstore protocol: {0}")]
    Protocol(String),
    /// No reply within the time limit.
    #[error("xenstore {0}: no reply")]
    Timeout(&'static str),
}

impl Error {
    /// The xenstore errno, if xenstored answered with one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Xenstore { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// A transaction id (`0` = none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Tx(pub u32);

/// One node for [`Xenstore::write_nodes`]: its path and value, and permissions to set after
/// the write (otherwise it keeps what it has, or inherits its parent's when new).
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    /// Absolute path.
    pub path: &'a str,
    /// Value.
    pub value: &'a [u8],
    /// `XS_SET_PERMS` after the write.
    pub perms: Option<&'a [Perm]>,
}

/// No transaction.
pub const NO_TX: Tx = Tx(0);

/// A watch firing: the path that changed and the watch's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The changed path (or the watched special path, e.g. `@releaseDomain`).
    pub path: String,
    /// The token given to [`Xenstore::watch`].
    pub token: String,
}

type WatchMap = Arc<Mutex<HashMap<String, Sender<WatchEvent>>>>;

/// A connection to xenstored. Cheap to clone; all clones share the connection.
#[derive(Clone)]
pub struct Xenstore {
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    replies: Arc<Mutex<Receiver<Message>>>,
    watches: WatchMap,
    next_req: Arc<AtomicU32>,
}

/// How long a request may wait for its reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

impl Xenstore {
    /// Connects through `/dev/xen/xenbus`, or xenstored's socket if that is missing.
    pub fn open() -> Result<Xenstore, Error> {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/xen/xenbus")
        {
            Ok(f) => {
                let r = f.try_clone()?;
                Ok(Xenstore::over(Box::new(r), Box::new(f)))
            }
            Err(_) => {
                let s = std::os::unix::net::UnixStream::connect("/run/xenstored/socket")?;
                let r = s.try_clone()?;
                Ok(Xenstore::over(Box::new(r), Box::new(s)))
            }
        }
    }

    /// A client over any byte stream pair (xenstored's side is `reader`/`writer`).
    pub fn over(reader: Box<dyn Read + Send>, writer: Box<dyn Write + Send>) -> Xenstore {
        let (tx, rx) = mpsc::channel();
        let watches: WatchMap = Arc::new(Mutex::new(HashMap::new()));
        let w = Arc::clone(&watches);
        std::thread::spawn(move || reader_loop(reader, tx, w));
        Xenstore {
            writer: Arc::new(Mutex::new(writer)),
            replies: Arc::new(Mutex::new(rx)),
            watches,
            next_req: Arc::new(AtomicU32::new(1)),
        }
    }

    fn call(
        &self,
        op: XsdSockmsgType,
        tx: Tx,
        payload: &[u8],
        path: &str,
    ) -> Result<Vec<u8>, Error> {
        let name = op.c_name();
        let req_id = self.next_req.fetch_add(1, Ordering::Relaxed);
        let bytes =
            wire::encode(op, req_id, tx.0, payload).map_err(|e| Error::Protocol(e.to_string()))?;
        // One request outstanding at a time: hold the reply channel across write and read.
        let replies = self
            .replies
            .lock()
            .map_err(|_| Error::Protocol("poisoned".into()))?;
        {
            let mut w = self
                .writer
                .lock()
                .map_err(|_| Error::Protocol("poisoned".into()))?;
            w.write_all(&bytes)?;
            w.flush()?;
        }
        let reply = match replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => return Err(Error::Timeout(name)),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Error::Protocol("connection closed".into()))
            }
        };
        if reply.kind == XsdSockmsgType::Error as u32 {
            let s = wire::first_string(&reply.payload);
            let errno = xen_abi::io::xs_wire::xsd_error_from_string(&s).unwrap_or(Errno::EIO);
            return Err(Error::Xenstore {
                op: name,
                path: path.into(),
                errno,
            });
        }
        if reply.kind != op as u32 {
            return Err(Error::Protocol(format!(
                "{name}: reply of type {} (req {})",
                reply.kind, reply.req_id
            )));
        }
        Ok(reply.payload)
    }

    /// Sends every request of `reqs` (type, payload, path for messages) before reading any
    /// reply, then reads the replies in order (xenstored answers a connection's requests in
    /// order): one round trip instead of one per request. Every reply is read; the first
    /// error is returned.
    fn call_many(&self, tx: Tx, reqs: &[(XsdSockmsgType, Vec<u8>, &str)]) -> Result<(), Error> {
        let replies = self
            .replies
            .lock()
            .map_err(|_| Error::Protocol("poisoned".into()))?;
        {
            let mut w = self
                .writer
                .lock()
                .map_err(|_| Error::Protocol("poisoned".into()))?;
            for (op, payload, _) in reqs {
                let req_id = self.next_req.fetch_add(1, Ordering::Relaxed);
                let bytes = wire::encode(*op, req_id, tx.0, payload)
                    .map_err(|e| Error::Protocol(e.to_string()))?;
                w.write_all(&bytes)?;
            }
            w.flush()?;
        }
        let mut first = None;
        for (op, _, path) in reqs {
            let name = op.c_name();
            let reply = match replies.recv_timeout(REPLY_TIMEOUT) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => return Err(Error::Timeout(name)),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::Protocol("connection closed".into()))
                }
            };
            let err = if reply.kind == XsdSockmsgType::Error as u32 {
                let s = wire::first_string(&reply.payload);
                let errno = xen_abi::io::xs_wire::xsd_error_from_string(&s).unwrap_or(Errno::EIO);
                Some(Error::Xenstore {
                    op: name,
                    path: (*path).into(),
                    errno,
                })
            } else if reply.kind != *op as u32 {
                Some(Error::Protocol(format!(
                    "{name}: reply of type {} (req {})",
                    reply.kind, reply.req_id
                )))
            } else {
                None
            };
            if first.is_none() {
                first = err;
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Writes many nodes in one round trip (see [`Node`]): each `XS_WRITE`, then its
    /// `XS_SET_PERMS` where it has permissions, all sent before any reply is read.
    pub fn write_nodes(&self, tx: Tx, nodes: &[Node<'_>]) -> Result<(), Error> {
        let mut reqs = Vec::with_capacity(nodes.len() * 2);
        for n in nodes {
            let mut p = wire::path(n.path);
            p.extend_from_slice(n.value);
            reqs.push((XsdSockmsgType::Write, p, n.path));
            if let Some(perms) = n.perms {
                let mut p = wire::path(n.path);
                for perm in perms {
                    p.extend_from_slice(perm.to_string().as_bytes());
                    p.push(0);
                }
                reqs.push((XsdSockmsgType::SetPerms, p, n.path));
            }
        }
        self.call_many(tx, &reqs)
    }

    /// `XS_READ`.
    pub fn read(&self, tx: Tx, path: &str) -> Result<Vec<u8>, Error> {
        self.call(XsdSockmsgType::Read, tx, &wire::path(path), path)
    }

    /// `XS_READ` as UTF-8 text (lossy).
    pub fn read_string(&self, tx: Tx, path: &str) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(&self.read(tx, path)?).into_owned())
    }

    /// Reads `path` and parses it; `None` if the node is missing or does not parse.
    pub fn read_parse<T: std::str::FromStr>(&self, tx: Tx, path: &str) -> Option<T> {
        self.read_string(tx, path).ok()?.trim().parse().ok()
    }

    /// `XS_WRITE`.
    pub fn write(&self, tx: Tx, path: &str, value: &[u8]) -> Result<(), Error> {
        let mut p = wire::path(path);
        p.extend_from_slice(value);
        self.call(XsdSockmsgType::Write, tx, &p, path).map(drop)
    }

    /// `XS_MKDIR`.
    pub fn mkdir(&self, tx: Tx, path: &str) -> Result<(), Error> {
        self.call(XsdSockmsgType::Mkdir, tx, &wire::path(path), path)
            .map(drop)
    }

    /// `XS_RM`.
    pub fn rm(&self, tx: Tx, path: &str) -> Result<(), Error> {
        self.call(XsdSockmsgType::Rm, tx, &wire::path(path), path)
            .map(drop)
    }

    /// `XS_DIRECTORY`: the children's names.
    pub fn directory(&self, tx: Tx, path: &str) -> Result<Vec<String>, Error> {
        let r = self.call(XsdSockmsgType::Directory, tx, &wire::path(path), path)?;
        Ok(wire::strings(&r))
    }

    /// `XS_GET_PERMS`.
    pub fn get_perms(&self, tx: Tx, path: &str) -> Result<Vec<Perm>, Error> {
        let r = self.call(XsdSockmsgType::GetPerms, tx, &wire::path(path), path)?;
        wire::strings(&r)
            .iter()
            .map(|s| Perm::parse(s).ok_or_else(|| Error::Protocol(format!("bad permission '{s}'"))))
            .collect()
    }

    /// `XS_SET_PERMS`: the first entry names the owner and everyone else's access.
    pub fn set_perms(&self, tx: Tx, path: &str, perms: &[Perm]) -> Result<(), Error> {
        let mut p = wire::path(path);
        for perm in perms {
            p.extend_from_slice(perm.to_string().as_bytes());
            p.push(0);
        }
        self.call(XsdSockmsgType::SetPerms, tx, &p, path).map(drop)
    }

    /// `XS_WATCH`: events for `path` (and below) arrive on the returned stream, starting with one
    /// for `path` itself as xenstored sends on registration.
    pub fn watch(&self, path: &str, token: &str) -> Result<Receiver<WatchEvent>, Error> {
        let (tx, rx) = mpsc::channel();
        self.watches
            .lock()
            .map_err(|_| Error::Protocol("poisoned".into()))?
            .insert(token.into(), tx);
        self.watch_into(path, token)?;
        Ok(rx)
    }

    /// `XS_WATCH` delivering into an existing stream (several watches, one event loop).
    pub fn watch_with(&self, path: &str, token: &str, to: Sender<WatchEvent>) -> Result<(), Error> {
        self.watches
            .lock()
            .map_err(|_| Error::Protocol("poisoned".into()))?
            .insert(token.into(), to);
        self.watch_into(path, token)
    }

    fn watch_into(&self, path: &str, token: &str) -> Result<(), Error> {
        let mut p = wire::path(path);
        p.extend_from_slice(&wire::path(token));
        self.call(XsdSockmsgType::Watch, NO_TX, &p, path).map(drop)
    }

    /// `XS_UNWATCH`.
    pub fn unwatch(&self, path: &str, token: &str) -> Result<(), Error> {
        let mut p = wire::path(path);
        p.extend_from_slice(&wire::path(token));
        let r = self
            .call(XsdSockmsgType::Unwatch, NO_TX, &p, path)
            .map(drop);
        if let Ok(mut w) = self.watches.lock() {
            w.remove(token);
        }
        r
    }

    /// `XS_INTRODUCE`: tells xenstored about domain `domid`, whose ring is the frame `mfn`
    /// (an MFN for a PV guest, which xenstored maps by grant entry 1 where it can) with event
    /// channel `port`.
    pub fn introduce(&self, domid: u16, mfn: u64, port: u32) -> Result<(), Error> {
        let p = format!("{domid}\0{mfn}\0{port}\0");
        self.call(XsdSockmsgType::Introduce, NO_TX, p.as_bytes(), "")
            .map(drop)
    }

    /// `XS_TRANSACTION_START`.
    pub fn transaction_start(&self) -> Result<Tx, Error> {
        let r = self.call(XsdSockmsgType::TransactionStart, NO_TX, b"\0", "")?;
        wire::first_string(&r)
            .parse()
            .map(Tx)
            .map_err(|_| Error::Protocol("bad transaction id".into()))
    }

    /// `XS_TRANSACTION_END`: commit (`true`) or abort.
    pub fn transaction_end(&self, tx: Tx, commit: bool) -> Result<(), Error> {
        let p: &[u8] = if commit { b"T\0" } else { b"F\0" };
        self.call(XsdSockmsgType::TransactionEnd, tx, p, "")
            .map(drop)
    }

    /// Runs `body` in a transaction, retrying the whole transaction while commit says `EAGAIN`
    /// (another writer got in first); aborts if `body` fails.
    pub fn transaction<T>(&self, mut body: impl FnMut(Tx) -> Result<T, Error>) -> Result<T, Error> {
        loop {
            let tx = self.transaction_start()?;
            let v = match body(tx) {
                Ok(v) => v,
                Err(e) => {
                    let _ = self.transaction_end(tx, false);
                    return Err(e);
                }
            };
            match self.transaction_end(tx, true) {
                Ok(()) => return Ok(v),
                Err(e) if e.errno() == Some(Errno::EAGAIN) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

fn reader_loop(mut r: Box<dyn Read + Send>, replies: Sender<Message>, watches: WatchMap) {
    loop {
        let m = match wire::read_message(&mut r) {
            Ok(m) => m,
            Err(e) => {
                log::debug!("xenstore reader stops: {e}");
                return;
            }
        };
        if m.kind == XsdSockmsgType::WatchEvent as u32 {
            let s = wire::strings(&m.payload);
            if let [path, token, ..] = s.as_slice() {
                let ev = WatchEvent {
                    path: path.clone(),
                    token: token.clone(),
                };
                if let Ok(w) = watches.lock() {
                    if let Some(to) = w.get(token) {
                        let _ = to.send(ev);
                    }
                }
            }
            continue;
        }
        if replies.send(m).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
