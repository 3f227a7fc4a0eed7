//! The request engine: connections, domains, watches and one handler per message type, with
//! C xenstored 4.17's checks in its order and its error names. It does no I/O: requests come in
//! as [`Message`]s and replies and watch events wait in each connection's output queue.

use std::collections::{BTreeMap, HashMap, VecDeque};

use xen_abi::io::xs_wire::{xsd_error_string, XsdSockmsgType, XENSTORE_PAYLOAD_MAX};
use xen_abi::Errno;

use crate::path::{self, atoi, canonicalize, domain_path, is_valid_nodename};
use crate::perms::{Caller, Perms, PERM_IGNORE, PERM_OWNER, PERM_READ, PERM_WRITE};
use crate::quota::Quota;
use crate::store::{Limits, Node, Store, Transaction, Value};

/// `DOMID_SELF`.
const DOMID_SELF: u32 = 0x7ff0;
/// `DOMID_FIRST_RESERVED`: no domain has this id or a higher one.
const DOMID_FIRST_RESERVED: u32 = 0x7ff0;
/// Bytes of a message header.
pub const HDR_LEN: usize = 16;

/// One message: a header's fields and its payload (the client crate's type).
pub use xenstore::wire::Message;

/// A connection's handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// What is at the other end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnKind {
    /// A Unix socket client: dom0, privileged, relative paths under `/local/domain/0`.
    Socket,
    /// A domain's ring.
    Domain(u32),
}

/// Maps and binds a domain's ring when it is introduced (`map_interface` and
/// `xenevtchn_bind_interdomain` in C). The daemon implements it over `/dev/xen`; tests over
/// memory.
pub trait DomainConnector {
    /// `INTRODUCE` of a new domain: map its ring and bind `port`.
    fn connect(&mut self, domid: u32, port: u32) -> Result<(), Errno>;
    /// `INTRODUCE` of an introduced domain: rebind `port` and reset the ring indices.
    fn reset(&mut self, domid: u32, port: u32);
    /// The domain is released: unbind and unmap.
    fn disconnect(&mut self, domid: u32);

    /// Called by the daemon each turn: move bytes between the rings and `engine`.
    fn service(engine: &mut Xenstored<Self>)
    where
        Self: Sized,
    {
        let _ = engine;
    }

    /// Called by the daemon at the end of each turn: write what the turn queued for domains.
    fn flush(engine: &mut Xenstored<Self>)
    where
        Self: Sized,
    {
        let _ = engine;
    }

    /// How long the daemon may sleep in `poll` without looking at the rings (-1: forever).
    fn poll_timeout_ms(&self) -> i32 {
        -1
    }

    /// A descriptor that becomes readable when a ring needs service (an event channel).
    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
}

/// No rings can be mapped (a host without Xen): `INTRODUCE` answers `EINVAL`.
#[derive(Debug, Default)]
pub struct NoRings;

impl DomainConnector for NoRings {
    fn connect(&mut self, _domid: u32, _port: u32) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    fn reset(&mut self, _domid: u32, _port: u32) {}
    fn disconnect(&mut self, _domid: u32) {}
}

#[derive(Clone, Debug)]
struct Watch {
    /// Absolute path or `@` name.
    node: String,
    /// The same as it came (an `@` name is not checked and may be any bytes).
    raw: Vec<u8>,
    token: Vec<u8>,
    /// The implicit path the watch was relative to.
    relative: Option<String>,
}

#[derive(Debug)]
struct OutMsg {
    data: Vec<u8>,
    watch_event: bool,
}

#[derive(Debug)]
struct Conn {
    kind: ConnKind,
    watches: Vec<Watch>,
    transactions: Vec<Transaction>,
    next_tx: u32,
    out: VecDeque<OutMsg>,
    /// Bytes of the front message already written.
    out_sent: usize,
    out_bytes: usize,
    /// Replies queued and not yet fully written (C's `nboutstanding`).
    replies_pending: usize,
    /// Hashes of the queued watch events, to find a duplicate without scanning the queue.
    event_hashes: HashMap<u64, u32>,
}

fn event_hash(data: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

#[derive(Debug)]
struct Domain {
    conn: Option<ConnId>,
    port: u32,
    target: Option<u32>,
    /// `@releaseDomain` already fired for its shutdown (C's `domain->shutdown`; `RESUME`
    /// clears it).
    shutdown: bool,
}

/// What the hypervisor says of a domain, for [`Xenstored::check_domains`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomainState {
    /// Shut down or crashed (`XEN_DOMINF_shutdown`).
    pub shutdown: bool,
    /// Being destroyed (`XEN_DOMINF_dying`).
    pub dying: bool,
}

/// The request being handled.
struct Req {
    conn: ConnId,
    caller: Caller,
    implicit: String,
    tx: Option<Transaction>,
    limits: Limits,
    unpriv: bool,
}

/// The daemon's state: the store, the connections and domains, and the quotas.
pub struct Xenstored<C: DomainConnector = NoRings> {
    /// The node tree.
    pub store: Store,
    /// Current quotas (`CONTROL quota set` changes them).
    pub quota: Quota,
    /// The ring mapper.
    pub connector: C,
    conns: BTreeMap<ConnId, Conn>,
    domains: BTreeMap<u32, Domain>,
    /// Generation count when xenstored first heard of each domain (C's `struct domain`, made by
    /// `INTRODUCE` or by a permission naming it, gone with `RELEASE`). A permission entry for a
    /// domain younger than the node, or gone, grants nothing (XSA-322: domids are reused).
    known: BTreeMap<u32, u64>,
    introduce_perms: Perms,
    release_perms: Perms,
    next_conn: u64,
    priv_domid: u32,
    /// The level `CONTROL log on` restores.
    log_level: log::LevelFilter,
}

fn errno_reply(e: Errno) -> &'static str {
    xsd_error_string(e).unwrap_or("EINVAL")
}

/// The NUL-terminated strings at the start of `payload` (`get_strings`: data after the last NUL
/// is not a string).
fn strings(payload: &[u8]) -> Vec<&[u8]> {
    let mut v = Vec::new();
    let mut rest = payload;
    while let Some(i) = rest.iter().position(|b| *b == 0) {
        v.push(&rest[..i]);
        rest = &rest[i + 1..];
    }
    v
}

/// `onearg`: exactly one string, NUL-terminated at the end of the payload.
fn onearg(payload: &[u8]) -> Option<String> {
    match payload.iter().position(|b| *b == 0) {
        Some(i) if i + 1 == payload.len() => Some(String::from_utf8_lossy(&payload[..i]).into()),
        _ => None,
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Xenstored<NoRings> {
    /// A daemon that cannot map rings, with default quotas.
    pub fn new() -> Self {
        Xenstored::with_connector(NoRings, Quota::default())
    }
}

impl Default for Xenstored<NoRings> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: DomainConnector> Xenstored<C> {
    /// A daemon with the initial tree; dom0 counts as introduced (C's `dom0_init`).
    pub fn with_connector(connector: C, quota: Quota) -> Self {
        let mut domains = BTreeMap::new();
        domains.insert(
            0,
            Domain {
                conn: None,
                port: 0,
                target: None,
                shutdown: false,
            },
        );
        Xenstored {
            store: Store::new(),
            quota,
            connector,
            conns: BTreeMap::new(),
            domains,
            known: BTreeMap::from([(0, 0)]),
            introduce_perms: Perms::owner_only(0),
            release_perms: Perms::owner_only(0),
            next_conn: 1,
            priv_domid: 0,
            log_level: log::LevelFilter::Info,
        }
    }

    /// The log level `CONTROL log on` turns logging back on at.
    pub fn set_log_level(&mut self, level: log::LevelFilter) {
        self.log_level = level;
    }

    /// `--priv-domid`: another domain that is privileged like dom0.
    pub fn set_priv_domid(&mut self, domid: u32) {
        self.priv_domid = domid;
    }

    /// Connects dom0's own ring at start, as C's `dom0_init` does (no `@introduceDomain`):
    /// `port` is the event channel dom0's kernel allocated (`/proc/xen/xsd_port`). Its requests
    /// are privileged, its relative paths under `/local/domain/0`.
    pub fn connect_master(&mut self, port: u32) -> Result<ConnId, Errno> {
        self.connector.connect(0, port)?;
        let id = self.new_connection(ConnKind::Domain(0));
        self.domains.insert(
            0,
            Domain {
                conn: Some(id),
                port,
                target: None,
                shutdown: false,
            },
        );
        Ok(id)
    }

    /// A new connection; domain connections are made by `INTRODUCE`.
    pub fn new_connection(&mut self, kind: ConnKind) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                kind,
                watches: Vec::new(),
                transactions: Vec::new(),
                next_tx: 0,
                out: VecDeque::new(),
                out_sent: 0,
                out_bytes: 0,
                replies_pending: 0,
                event_hashes: HashMap::new(),
            },
        );
        id
    }

    /// Drops a connection with its watches, transactions and unsent output (idempotent).
    pub fn close_connection(&mut self, id: ConnId) {
        self.conns.remove(&id);
        for d in self.domains.values_mut() {
            if d.conn == Some(id) {
                d.conn = None;
            }
        }
    }

    /// The connection serving domain `domid`, if it is introduced.
    pub fn domain_conn(&self, domid: u32) -> Option<ConnId> {
        self.domains.get(&domid).and_then(|d| d.conn)
    }

    /// Open connections.
    pub fn connections(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// The unsent part of the oldest queued message of `id`.
    pub fn output(&self, id: ConnId) -> Option<&[u8]> {
        let c = self.conns.get(&id)?;
        c.out.front().and_then(|m| m.data.get(c.out_sent..))
    }

    /// `n` bytes of `output(id)` were written.
    pub fn consume_output(&mut self, id: ConnId, n: usize) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.out_sent += n;
        if let Some(front) = c.out.front() {
            if c.out_sent >= front.data.len() {
                c.out_bytes = c.out_bytes.saturating_sub(front.data.len());
                if front.watch_event {
                    let h = event_hash(&front.data);
                    if let Some(n) = c.event_hashes.get_mut(&h) {
                        *n -= 1;
                        if *n == 0 {
                            c.event_hashes.remove(&h);
                        }
                    }
                } else {
                    c.replies_pending = c.replies_pending.saturating_sub(1);
                }
                c.out.pop_front();
                c.out_sent = 0;
            }
        }
    }

    /// Bytes queued for `id` and not yet written.
    pub fn pending_output(&self, id: ConnId) -> usize {
        self.conns
            .get(&id)
            .map_or(0, |c| c.out_bytes.saturating_sub(c.out_sent))
    }

    /// Takes every queued message of `id` whole (tests and simple transports).
    pub fn take_output(&mut self, id: ConnId) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(b) = self.output(id).map(<[u8]>::to_vec) {
            let n = b.len();
            if let Some(m) = crate::wire::decode(&b) {
                out.push(m);
            }
            self.consume_output(id, n);
        }
        out
    }

    /// Whether the daemon should take another request from `id` now: a connection with too much
    /// unsent output waits, and so does a domain with `outstanding` replies it has not taken or
    /// whose output and transaction copies reach the memory quota (C's `domain_can_read`: the
    /// domain stalls until it takes its replies or is released).
    pub fn can_accept(&self, id: ConnId) -> bool {
        let Some(c) = self.conns.get(&id) else {
            return false;
        };
        if c.out_bytes >= self.quota.memory {
            return false;
        }
        if !self.conn_unprivileged(c) {
            return true;
        }
        let held = c.out_bytes + c.transactions.iter().map(Transaction::bytes).sum::<usize>();
        c.replies_pending < self.quota.outstanding && held < self.quota.memory
    }

    fn conn_unprivileged(&self, c: &Conn) -> bool {
        match c.kind {
            ConnKind::Socket => false,
            ConnKind::Domain(d) => d != 0 && d != self.priv_domid,
        }
    }

    fn caller_of(&self, c: &Conn) -> Caller {
        match c.kind {
            ConnKind::Socket => Caller::DOM0,
            ConnKind::Domain(d) => Caller {
                domid: d,
                privileged: !self.conn_unprivileged(c),
                target: self.domains.get(&d).and_then(|dom| dom.target),
            },
        }
    }

    fn queue(&mut self, id: ConnId, msg: Message, watch_event: bool) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let data = msg.encode();
        c.out_bytes += data.len();
        if watch_event {
            *c.event_hashes.entry(event_hash(&data)).or_insert(0) += 1;
        } else {
            c.replies_pending += 1;
        }
        c.out.push_back(OutMsg { data, watch_event });
    }

    /// `send_reply`: a payload over the limit becomes `E2BIG`.
    fn reply(&mut self, id: ConnId, req: &Message, kind: u32, payload: Vec<u8>) {
        if payload.len() > XENSTORE_PAYLOAD_MAX as usize {
            return self.error(id, req, Errno::E2BIG);
        }
        let m = Message {
            kind,
            req_id: req.req_id,
            tx_id: req.tx_id,
            payload,
        };
        self.queue(id, m, false);
    }

    fn error(&mut self, id: ConnId, req: &Message, e: Errno) {
        let mut p = errno_reply(e).as_bytes().to_vec();
        p.push(0);
        self.reply(id, req, XsdSockmsgType::Error as u32, p);
    }

    fn ack(&mut self, id: ConnId, req: &Message) {
        self.reply(id, req, req.kind, b"OK\0".to_vec());
    }

    /// `send_event`: drops events over the payload limit, duplicates of an event still queued
    /// (except `@` events), and events for a connection whose output is full.
    fn send_event(&mut self, id: ConnId, path: &[u8], token: &[u8]) {
        let mut payload = Vec::with_capacity(path.len() + token.len() + 2);
        payload.extend_from_slice(path);
        payload.push(0);
        payload.extend_from_slice(token);
        payload.push(0);
        if payload.len() > XENSTORE_PAYLOAD_MAX as usize {
            return;
        }
        let m = Message {
            kind: XsdSockmsgType::WatchEvent as u32,
            req_id: 0,
            tx_id: 0,
            payload,
        };
        let data = m.encode();
        let memory = self.quota.memory;
        let Some(c) = self.conns.get(&id) else {
            return;
        };
        if !path.starts_with(b"@")
            && c.event_hashes.contains_key(&event_hash(&data))
            && c.out.iter().any(|o| o.watch_event && o.data == data)
        {
            return;
        }
        if c.out_bytes + data.len() > memory {
            log::debug!("dropping watch event for connection {}: output full", id.0);
            return;
        }
        self.queue(id, m, true);
    }

    /// Handles one request of connection `id`; replies and events are queued.
    pub fn handle(&mut self, id: ConnId, msg: &Message) {
        let Some(c) = self.conns.get(&id) else {
            return;
        };
        let caller = self.caller_of(c);
        let unpriv = self.conn_unprivileged(c);
        let implicit = match c.kind {
            ConnKind::Socket => domain_path(0),
            ConnKind::Domain(d) => domain_path(d),
        };
        let Ok(kind) = XsdSockmsgType::try_from(msg.kind) else {
            return self.error(id, msg, Errno::ENOSYS);
        };
        use XsdSockmsgType as T;
        if matches!(kind, T::WatchEvent | T::Error) {
            return self.error(id, msg, Errno::ENOSYS);
        }
        let privileged_only = matches!(
            kind,
            T::Control
                | T::Introduce
                | T::Release
                | T::IsDomainIntroduced
                | T::Resume
                | T::SetTarget
        );
        if privileged_only && unpriv {
            return self.error(id, msg, Errno::EACCES);
        }
        let mut tx = None;
        if !matches!(kind, T::Watch | T::Unwatch) && msg.tx_id != 0 {
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            match c.transactions.iter().position(|t| t.id == msg.tx_id) {
                Some(i) => tx = Some(c.transactions.remove(i)),
                None => return self.error(id, msg, Errno::ENOENT),
            }
        }
        let limits = if unpriv {
            Limits {
                trans_nodes: Some(self.quota.trans_nodes),
                node_size: Some(self.quota.node_size),
            }
        } else {
            Limits::default()
        };
        let mut r = Req {
            conn: id,
            caller,
            implicit,
            tx,
            limits,
            unpriv,
        };
        let result = match kind {
            // XS_CONTROL
            T::Control => self.do_control(&mut r, msg),
            // XS_DIRECTORY
            T::Directory => self.do_directory(&mut r, msg),
            // XS_READ
            T::Read => self.do_read(&mut r, msg),
            // XS_GET_PERMS
            T::GetPerms => self.do_get_perms(&mut r, msg),
            // XS_WATCH
            T::Watch => self.do_watch(&mut r, msg),
            // XS_UNWATCH
            T::Unwatch => self.do_unwatch(&mut r, msg),
            // XS_TRANSACTION_START
            T::TransactionStart => self.do_transaction_start(&mut r, msg),
            // XS_TRANSACTION_END
            T::TransactionEnd => self.do_transaction_end(&mut r, msg),
            // XS_INTRODUCE
            T::Introduce => self.do_introduce(&mut r, msg),
            // XS_RELEASE
            T::Release => self.do_release(&mut r, msg),
            // XS_GET_DOMAIN_PATH
            T::GetDomainPath => self.do_get_domain_path(msg),
            // XS_WRITE
            T::Write => self.do_write(&mut r, msg),
            // XS_MKDIR
            T::Mkdir => self.do_mkdir(&mut r, msg),
            // XS_RM
            T::Rm => self.do_rm(&mut r, msg),
            // XS_SET_PERMS
            T::SetPerms => self.do_set_perms(&mut r, msg),
            // XS_IS_DOMAIN_INTRODUCED
            T::IsDomainIntroduced => self.do_is_domain_introduced(msg),
            // XS_RESUME
            T::Resume => self.do_resume(msg),
            // XS_SET_TARGET
            T::SetTarget => self.do_set_target(msg),
            // XS_RESET_WATCHES
            T::ResetWatches => self.do_reset_watches(&mut r, msg),
            // XS_DIRECTORY_PART
            T::DirectoryPart => self.do_directory_part(&mut r, msg),
            T::WatchEvent | T::Error => Err(Errno::ENOSYS),
        };
        match result {
            Ok(Some((kind, payload))) => self.reply(id, msg, kind, payload),
            Ok(None) => {}
            Err(e) => self.error(id, msg, e),
        }
        // The transaction goes back to its connection unless the request ended it.
        if let Some(t) = r.tx.take() {
            if let Some(c) = self.conns.get_mut(&id) {
                c.transactions.push(t);
            }
        }
    }

    // ---- node access (get_node, ask_parents, construct/create, rm) ----

    /// `perm_for_conn` on a node after `domain_adjust_node_perms`: entries (other than the
    /// owner's) for domains that are gone or younger than the node are ignored.
    fn node_perm(&self, caller: &Caller, perms: &Perms, generation: u64) -> u8 {
        let stale = |p: &crate::perms::Perm| {
            p.perms & PERM_IGNORE == 0 && self.known.get(&p.id).is_none_or(|g| *g > generation)
        };
        if !perms.0.iter().skip(1).any(stale) {
            return caller.perm_for(perms);
        }
        let mut adjusted = perms.clone();
        for p in adjusted.0.iter_mut().skip(1) {
            if stale(p) {
                p.perms |= PERM_IGNORE;
            }
        }
        caller.perm_for(&adjusted)
    }

    fn read(&mut self, r: &mut Req, name: &str) -> Result<Option<Node>, Errno> {
        self.store.read(r.tx.as_mut(), name, r.limits)
    }

    /// `errno_from_parents`: a missing or forbidden node reports `EACCES` unless its nearest
    /// existing ancestor grants `perm`.
    fn errno_from_parents(&mut self, r: &mut Req, name: &str, errnum: Errno, perm: u8) -> Errno {
        let mut n = name.to_string();
        let mut found = None;
        loop {
            n = path::parent(&n).to_string();
            match self.read(r, &n) {
                Err(e) => return e,
                Ok(Some(node)) => {
                    found = Some(node);
                    break;
                }
                Ok(None) => {}
            }
            if n == "/" {
                break;
            }
        }
        let parent_perm = found.map_or(0, |node| {
            self.node_perm(&r.caller, &node.perms, node.generation)
        });
        if parent_perm & perm != 0 {
            errnum
        } else {
            Errno::EACCES
        }
    }

    /// `get_node`: the canonical name and the node if the caller has `perm` on it.
    fn get_node(
        &mut self,
        r: &mut Req,
        name: Option<&str>,
        perm: u8,
    ) -> (Option<String>, Result<Node, Errno>) {
        let Some(name) = name else {
            return (None, Err(Errno::EINVAL));
        };
        let cname = canonicalize(&r.implicit, name);
        if !is_valid_nodename(&cname, self.quota.path_max) {
            return (Some(cname), Err(Errno::EINVAL));
        }
        let e = match self.read(r, &cname) {
            Err(e) => return (Some(cname), Err(e)),
            Ok(Some(node)) => {
                if self.node_perm(&r.caller, &node.perms, node.generation) & perm == perm {
                    return (Some(cname), Ok(node));
                }
                Errno::EACCES
            }
            Ok(None) => Errno::ENOENT,
        };
        let e = self.errno_from_parents(r, &cname, e, perm);
        (Some(cname), Err(e))
    }

    fn write_node(
        &mut self,
        r: &mut Req,
        name: &str,
        node: Node,
        quota_check: bool,
    ) -> Result<(), Errno> {
        let mut limits = r.limits;
        if !quota_check {
            limits.node_size = None;
        }
        self.store.write(r.tx.as_mut(), name, node, limits)
    }

    /// `create_node`: `name` and its missing parents, each inheriting its parent's permissions
    /// (owned by the caller if unprivileged), written leaf first, then the existing ancestor.
    fn create_node(&mut self, r: &mut Req, name: &str, value: Vec<u8>) -> Result<Node, Errno> {
        let mut names = vec![name.to_string()];
        let mut pname = name.to_string();
        let (top_name, mut top) = loop {
            pname = path::parent(&pname).to_string();
            match self.read(r, &pname)? {
                Some(n) => break (pname, n),
                None => {
                    if pname == "/" {
                        return Err(Errno::ENOENT);
                    }
                    names.push(pname.clone());
                }
            }
        };
        if let Some(t) = r.tx.as_mut() {
            t.node_created = true;
        }
        // Build the chain top-down: chain[0] is the existing ancestor.
        let mut chain: Vec<(String, Node)> = Vec::with_capacity(names.len() + 1);
        let mut parent_perms = top.perms.clone();
        for (i, n) in names.iter().rev().enumerate() {
            let base = path::basename(n).to_string();
            if i == 0 {
                top.children.push(&base);
            } else if let Some((_, p)) = chain.last_mut() {
                p.children.push(&base);
            }
            let mut perms = parent_perms.clone();
            if r.unpriv {
                if let Some(p0) = perms.0.first_mut() {
                    p0.id = r.caller.domid;
                }
            }
            parent_perms = perms.clone();
            chain.push((n.clone(), Node::new(perms)));
        }
        if let Some((_, leaf)) = chain.last_mut() {
            leaf.value = Value::from_slice(&value);
        }
        // Write bottom-up.
        let mut written: Vec<(String, u32)> = Vec::new();
        let mut result = Ok(());
        for (n, node) in chain.iter().rev() {
            if r.unpriv && self.store.entries(r.caller.domid) >= self.quota.nodes {
                result = Err(Errno::ENOSPC);
                break;
            }
            if let Err(e) = self.write_node(r, n, node.clone(), true) {
                result = Err(e);
                break;
            }
            let owner = node.perms.owner();
            self.store.entry_inc(r.tx.as_mut(), owner);
            written.push((n.clone(), owner));
        }
        if result.is_ok() {
            result = self.write_node(r, &top_name, top, true);
        }
        if let Err(e) = result {
            for (n, owner) in written {
                self.store.undo_create(r.tx.as_mut(), &n);
                self.store.entry_dec(r.tx.as_mut(), owner);
            }
            return Err(e);
        }
        let leaf = chain.pop().map(|(_, n)| n).ok_or(Errno::EINVAL)?;
        // The leaf's generation as written: read it back (records nothing new).
        Ok(self.read(r, name)?.unwrap_or(leaf))
    }

    /// `rm_node`: removes `name` (read as `node`) and its subtree, firing watches as each node
    /// goes (exact watches for descendants), then updates the parent.
    fn rm_node(&mut self, r: &mut Req, name: &str, node: Node) -> Result<(), Errno> {
        let pname = path::parent(name).to_string();
        let parent = match self.read(r, &pname) {
            Ok(Some(p)) => p,
            Ok(None) => return Err(Errno::EINVAL),
            Err(e) => return Err(e),
        };
        let nodes = self
            .store
            .subtree_postorder(r.tx.as_mut(), name, node, r.limits)?;
        let perms_of: HashMap<String, Perms> = nodes
            .iter()
            .map(|(n, node)| (n.clone(), node.perms.clone()))
            .collect();
        for (n, node) in &nodes {
            if self.store.delete(r.tx.as_mut(), n, r.limits).is_err() {
                break;
            }
            let exact = n != name;
            let parent_perms = if exact {
                perms_of.get(path::parent(n)).cloned()
            } else {
                Some(parent.perms.clone())
            };
            self.fire_watches(
                Some(r),
                n,
                Some(&node.perms),
                parent_perms.as_ref(),
                exact,
                None,
            );
            self.store.entry_dec(r.tx.as_mut(), node.perms.owner());
            if exact {
                // C rewrites the in-subtree parent's child list before removing it.
                self.store.bump_generation();
            }
        }
        let mut parent = parent;
        let base = path::basename(name);
        if !parent.children.remove(base) {
            return Err(Errno::EIO);
        }
        self.write_node(r, &pname, parent, false)
    }

    // ---- watches ----

    /// `watch_permitted`: the watcher may read the node (with its old or new permissions) or
    /// its parent.
    fn watch_permitted(
        &self,
        caller: &Caller,
        name: &str,
        node_perms: Option<&Perms>,
        parent_perms: Option<&Perms>,
        old_perms: Option<&Perms>,
    ) -> bool {
        // Permissions handed in are as just written: only entries of domains that are gone
        // are stale.
        const NEWEST: u64 = u64::MAX - 1;
        if let Some(p) = old_perms {
            if self.node_perm(caller, p, NEWEST) & PERM_READ != 0 {
                return true;
            }
        }
        let allowed = match node_perms {
            Some(p) => self.node_perm(caller, p, NEWEST),
            None => match self.store.peek(name) {
                Some(n) => self.node_perm(caller, &n.perms, n.generation),
                None => return false,
            },
        };
        if allowed & PERM_READ != 0 {
            return true;
        }
        let allowed = match parent_perms {
            Some(p) => self.node_perm(caller, p, NEWEST),
            None => match self.store.peek(path::parent(name)) {
                Some(n) => self.node_perm(caller, &n.perms, n.generation),
                None => return false,
            },
        };
        allowed & PERM_READ != 0
    }

    /// `fire_watches`: in a transaction, remember the event for the commit; otherwise send it to
    /// every watch on `name` (exactly, or on it or an ancestor) whose owner may see it.
    fn fire_watches(
        &mut self,
        r: Option<&mut Req>,
        name: &str,
        node_perms: Option<&Perms>,
        parent_perms: Option<&Perms>,
        exact: bool,
        old_perms: Option<&Perms>,
    ) {
        if let Some(t) = r.and_then(|r| r.tx.as_mut()) {
            t.queue_watch(name, exact);
            return;
        }
        let special = name.starts_with('@');
        let mut events: Vec<(ConnId, String, Vec<u8>)> = Vec::new();
        for (id, c) in &self.conns {
            let caller = self.caller_of(c);
            let permitted = if special {
                match name {
                    "@releaseDomain" => caller.perm_for(&self.release_perms) & PERM_READ != 0,
                    "@introduceDomain" => caller.perm_for(&self.introduce_perms) & PERM_READ != 0,
                    _ => false,
                }
            } else {
                self.watch_permitted(&caller, name, node_perms, parent_perms, old_perms)
            };
            if !permitted {
                continue;
            }
            for w in &c.watches {
                let hit = if exact {
                    name == w.node
                } else {
                    path::is_child(name, &w.node)
                };
                if hit {
                    events.push((*id, watch_path(w, name).to_string(), w.token.clone()));
                }
            }
        }
        for (id, p, t) in events {
            self.send_event(id, p.as_bytes(), &t);
        }
    }

    // ---- handlers ----

    fn do_read(&mut self, r: &mut Req, msg: &Message) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let arg = onearg(&msg.payload);
        let node = self.get_node(r, arg.as_deref(), PERM_READ).1?;
        Ok(Some((msg.kind, node.value.into_vec())))
    }

    fn do_directory(
        &mut self,
        r: &mut Req,
        msg: &Message,
    ) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let arg = onearg(&msg.payload);
        let node = self.get_node(r, arg.as_deref(), PERM_READ).1?;
        Ok(Some((msg.kind, node.children_wire().to_vec())))
    }

    /// `DIRECTORY_PART`: `"<generation>\0"` and as many child names from byte `offset` as fit;
    /// the last chunk ends with an extra NUL.
    fn do_directory_part(
        &mut self,
        r: &mut Req,
        msg: &Message,
    ) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        if msg.payload.iter().filter(|b| **b == 0).count() != 2 {
            return Err(Errno::EINVAL);
        }
        let s = strings(&msg.payload);
        let name = lossy(s.first().ok_or(Errno::EINVAL)?);
        let node = self.get_node(r, Some(&name), PERM_READ).1?;
        let off = atoi(&lossy(s.get(1).ok_or(Errno::EINVAL)?));
        let children = node.children_wire();
        let mut out = format!("{}", node.generation).into_bytes();
        out.push(0);
        let genlen = out.len();
        // C compares a signed offset with an unsigned length: a negative one is "behind".
        let off = u32::try_from(off).map_or(usize::MAX, |o| o as usize);
        if off >= children.len() {
            out.push(0);
            return Ok(Some((msg.kind, out)));
        }
        let maxlen = XENSTORE_PAYLOAD_MAX as usize - genlen - 1;
        let mut len = 0;
        let tail = &children[off..];
        while let Some(rest) = tail.get(len..) {
            let clen = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
            if len + clen >= maxlen {
                break;
            }
            len += clen + 1;
            if off + len >= children.len() {
                break;
            }
        }
        let len = len.min(tail.len());
        out.extend_from_slice(&tail[..len]);
        if off + len == children.len() {
            out.push(0);
        }
        Ok(Some((msg.kind, out)))
    }

    fn do_get_perms(
        &mut self,
        r: &mut Req,
        msg: &Message,
    ) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let arg = onearg(&msg.payload);
        let node = self.get_node(r, arg.as_deref(), PERM_READ).1?;
        Ok(Some((msg.kind, node.perms.to_wire())))
    }

    fn do_write(&mut self, r: &mut Req, msg: &Message) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let Some(nul) = msg.payload.iter().position(|b| *b == 0) else {
            return Err(Errno::EINVAL);
        };
        let name = lossy(&msg.payload[..nul]);
        let value = msg.payload[nul + 1..].to_vec();
        let (cname, got) = self.get_node(r, Some(&name), PERM_WRITE);
        let cname = cname.ok_or(Errno::EINVAL)?;
        let node = match got {
            Ok(mut node) => {
                node.value = Value::from_slice(&value);
                self.write_node(r, &cname, node.clone(), true)?;
                node
            }
            Err(Errno::ENOENT) => self.create_node(r, &cname, value)?,
            Err(e) => return Err(e),
        };
        self.fire_watches(Some(r), &cname, Some(&node.perms), None, false, None);
        Ok(Some((msg.kind, b"OK\0".to_vec())))
    }

    fn do_mkdir(&mut self, r: &mut Req, msg: &Message) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let arg = onearg(&msg.payload);
        let (cname, got) = self.get_node(r, arg.as_deref(), PERM_WRITE);
        match got {
            Ok(_) => {}
            Err(Errno::ENOENT) => {
                let cname = cname.ok_or(Errno::EINVAL)?;
                let node = self.create_node(r, &cname, Vec::new())?;
                self.fire_watches(Some(r), &cname, Some(&node.perms), None, false, None);
            }
            Err(e) => return Err(e),
        }
        Ok(Some((msg.kind, b"OK\0".to_vec())))
    }

    fn do_rm(&mut self, r: &mut Req, msg: &Message) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let arg = onearg(&msg.payload);
        let (cname, got) = self.get_node(r, arg.as_deref(), PERM_WRITE);
        let node = match got {
            Ok(n) => n,
            Err(Errno::ENOENT) => {
                let cname = cname.ok_or(Errno::EINVAL)?;
                // Missing is fine if the parent exists.
                return match self.read(r, path::parent(&cname)) {
                    Ok(Some(_)) => Ok(Some((msg.kind, b"OK\0".to_vec()))),
                    Ok(None) => Err(Errno::ENOENT),
                    Err(e) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let cname = cname.ok_or(Errno::EINVAL)?;
        if cname == "/" {
            return Err(Errno::EINVAL);
        }
        self.rm_node(r, &cname, node)?;
        Ok(Some((msg.kind, b"OK\0".to_vec())))
    }

    fn do_set_perms(
        &mut self,
        r: &mut Req,
        msg: &Message,
    ) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let count = msg.payload.iter().filter(|b| **b == 0).count();
        if count < 2 {
            return Err(Errno::EINVAL);
        }
        let num = count - 1;
        if r.unpriv && num > self.quota.perms {
            return Err(Errno::ENOSPC);
        }
        let s = strings(&msg.payload);
        let name = lossy(s.first().ok_or(Errno::EINVAL)?);
        let perm_strs: Vec<String> = s.iter().skip(1).take(num).map(|b| lossy(b)).collect();
        let perm_refs: Vec<&str> = perm_strs.iter().map(String::as_str).collect();
        let mut perms = Perms::parse(&perm_refs).ok_or(Errno::EINVAL)?;
        // domain_alloc_permrefs: remember each named domain; no domain has a reserved id.
        for p in perms.0.iter_mut() {
            if p.id >= DOMID_FIRST_RESERVED {
                p.perms |= PERM_IGNORE;
            } else {
                let g = self.domain_generation();
                self.known.entry(p.id).or_insert(g);
            }
        }
        if perms.0.first().is_some_and(|p| p.perms & PERM_IGNORE != 0) {
            return Err(Errno::ENOENT);
        }
        if name.starts_with('@') {
            let special = match name.as_str() {
                "@releaseDomain" => &self.release_perms,
                "@introduceDomain" => &self.introduce_perms,
                _ => return Err(Errno::EINVAL),
            };
            let need = PERM_WRITE | PERM_OWNER;
            if r.caller.perm_for(special) & need != need {
                return Err(Errno::EACCES);
            }
            if name == "@releaseDomain" {
                self.release_perms = perms;
            } else {
                self.introduce_perms = perms;
            }
            return Ok(Some((msg.kind, b"OK\0".to_vec())));
        }
        let (cname, got) = self.get_node(r, Some(&name), PERM_WRITE | PERM_OWNER);
        let mut node = got?;
        let cname = cname.ok_or(Errno::EINVAL)?;
        if r.unpriv && perms.owner() != node.perms.owner() {
            return Err(Errno::EPERM);
        }
        let old = node.perms.clone();
        self.store.entry_dec(r.tx.as_mut(), old.owner());
        node.perms = perms;
        self.store.entry_inc(r.tx.as_mut(), node.perms.owner());
        if let Err(e) = self.write_node(r, &cname, node.clone(), true) {
            self.store.entry_dec(r.tx.as_mut(), node.perms.owner());
            self.store.entry_inc(r.tx.as_mut(), old.owner());
            return Err(e);
        }
        self.fire_watches(Some(r), &cname, Some(&node.perms), None, false, Some(&old));
        Ok(Some((msg.kind, b"OK\0".to_vec())))
    }

    fn do_watch(&mut self, r: &mut Req, msg: &Message) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let s = strings(&msg.payload);
        if s.len() != 2 {
            return Err(Errno::EINVAL);
        }
        let (p, token) = (lossy(s[0]), s[1].to_vec());
        let mut raw = s[0].to_vec();
        let (node, relative) = if p.starts_with('@') {
            if p.len() > xen_abi::io::xs_wire::XENSTORE_REL_PATH_MAX as usize {
                return Err(Errno::EINVAL);
            }
            (p, None)
        } else {
            let relative = !p.starts_with('/');
            let c = canonicalize(&r.implicit, &p);
            if !is_valid_nodename(&c, self.quota.path_max) {
                return Err(Errno::EINVAL);
            }
            raw = c.as_bytes().to_vec();
            (c, relative.then(|| r.implicit.clone()))
        };
        let watches_quota = self.quota.watches;
        let unpriv = r.unpriv;
        let domid = r.caller.domid;
        let domain_watches: usize = if unpriv {
            self.conns
                .values()
                .filter(|c| c.kind == ConnKind::Domain(domid))
                .map(|c| c.watches.len())
                .sum()
        } else {
            0
        };
        let c = self.conns.get_mut(&r.conn).ok_or(Errno::EINVAL)?;
        if c.watches.iter().any(|w| w.raw == raw && w.token == token) {
            return Err(Errno::EEXIST);
        }
        if domain_watches > watches_quota {
            return Err(Errno::E2BIG);
        }
        let w = Watch {
            node,
            raw,
            token,
            relative,
        };
        c.watches.push(w.clone());
        self.ack(r.conn, msg);
        let first: &[u8] = if w.node.starts_with('@') {
            &w.raw
        } else {
            watch_path(&w, &w.node).as_bytes()
        };
        self.send_event(r.conn, first, &w.token);
        Ok(None)
    }

    fn do_unwatch(&mut self, r: &mut Req, msg: &Message) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let s = strings(&msg.payload);
        if s.len() != 2 {
            return Err(Errno::EINVAL);
        }
        let raw = match s[0].first() {
            Some(b'/' | b'@') => s[0].to_vec(),
            _ => [r.implicit.as_bytes(), b"/", s[0]].concat(),
        };
        let token = s[1];
        let c = self.conns.get_mut(&r.conn).ok_or(Errno::EINVAL)?;
        match c
            .watches
            .iter()
            .position(|w| w.raw == raw && w.token == token)
        {
            Some(i) => {
                c.watches.remove(i);
                Ok(Some((msg.kind, b"OK\0".to_vec())))
            }
            None => Err(Errno::ENOENT),
        }
    }

    fn do_transaction_start(
        &mut self,
        r: &mut Req,
        msg: &Message,
    ) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        if r.tx.is_some() {
            return Err(Errno::EBUSY);
        }
        let quota = self.quota.transactions;
        let c = self.conns.get_mut(&r.conn).ok_or(Errno::EINVAL)?;
        // C compares the count before this one with `>`: quota + 1 may be open.
        if r.unpriv && c.transactions.len() > quota {
            return Err(Errno::ENOSPC);
        }
        self.store.generation += 1;
        let generation = self.store.generation;
        let mut id;
        loop {
            id = c.next_tx;
            c.next_tx = c.next_tx.wrapping_add(1);
            if id != 0 && !c.transactions.iter().any(|t| t.id == id) {
                break;
            }
        }
        c.transactions.push(Transaction::new(id, generation));
        let mut p = id.to_string().into_bytes();
        p.push(0);
        Ok(Some((msg.kind, p)))
    }

    fn do_transaction_end(
        &mut self,
        r: &mut Req,
        msg: &Message,
    ) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let arg = onearg(&msg.payload);
        let commit = match arg.as_deref() {
            Some("T") => true,
            Some("F") => false,
            _ => return Err(Errno::EINVAL),
        };
        let tx = r.tx.take().ok_or(Errno::ENOENT)?;
        if commit {
            let quota = (tx.node_created && r.unpriv).then_some(self.quota.nodes);
            let events = self.store.commit(tx, quota)?;
            for (name, exact, old) in events {
                self.fire_watches(None, &name, None, None, exact, old.as_ref());
            }
        }
        Ok(Some((msg.kind, b"OK\0".to_vec())))
    }

    fn do_reset_watches(
        &mut self,
        r: &mut Req,
        msg: &Message,
    ) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        r.tx = None;
        let c = self.conns.get_mut(&r.conn).ok_or(Errno::EINVAL)?;
        c.watches.clear();
        c.transactions.clear();
        Ok(Some((msg.kind, b"OK\0".to_vec())))
    }

    fn do_get_domain_path(&mut self, msg: &Message) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let arg = onearg(&msg.payload).ok_or(Errno::EINVAL)?;
        let mut p = domain_path(atoi(&arg) as u32).into_bytes();
        p.push(0);
        Ok(Some((msg.kind, p)))
    }

    fn do_is_domain_introduced(&mut self, msg: &Message) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let arg = onearg(&msg.payload).ok_or(Errno::EINVAL)?;
        let domid = atoi(&arg) as u32;
        let yes = domid == DOMID_SELF || self.domains.contains_key(&domid);
        Ok(Some((
            msg.kind,
            if yes {
                b"T\0".to_vec()
            } else {
                b"F\0".to_vec()
            },
        )))
    }

    /// `INTRODUCE domid mfn port`: map and bind a new domain (firing `@introduceDomain`), or
    /// rebind an introduced one; either way its connection starts afresh.
    fn do_introduce(
        &mut self,
        _r: &mut Req,
        msg: &Message,
    ) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let s = strings(&msg.payload);
        if s.len() < 3 {
            return Err(Errno::EINVAL);
        }
        let domid = atoi(&lossy(s[0])) as u32;
        let port = atoi(&lossy(s[2])) as u32;
        if port == 0 {
            return Err(Errno::EINVAL);
        }
        if let Some(d) = self.domains.get_mut(&domid) {
            d.port = port;
            self.connector.reset(domid, port);
            if let Some(id) = d.conn {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.watches.clear();
                    c.transactions.clear();
                    c.out.clear();
                    c.event_hashes.clear();
                    c.out_bytes = 0;
                    c.out_sent = 0;
                    c.replies_pending = 0;
                }
            }
        } else {
            self.connector.connect(domid, port)?;
            let g = self.domain_generation();
            self.known.entry(domid).or_insert(g);
            let id = self.new_connection(ConnKind::Domain(domid));
            self.domains.insert(
                domid,
                Domain {
                    conn: Some(id),
                    port,
                    target: None,
                    shutdown: false,
                },
            );
            if domid != 0 {
                self.fire_watches(None, "@introduceDomain", None, None, true, None);
            }
        }
        Ok(Some((msg.kind, b"OK\0".to_vec())))
    }

    /// `find_connected_domain`: `ENOENT` if not introduced, `EINVAL` if it has no connection.
    /// dom0 counts as connected (C connects it at start; its ring is not served here yet).
    fn connected_domain(&self, domid: u32) -> Result<(), Errno> {
        let d = self.domains.get(&domid).ok_or(Errno::ENOENT)?;
        if d.conn.is_none() && domid != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    fn onearg_domain(&self, msg: &Message) -> Result<u32, Errno> {
        let arg = onearg(&msg.payload).ok_or(Errno::EINVAL)?;
        let domid = atoi(&arg) as u32;
        if domid == 0 {
            return Err(Errno::EINVAL);
        }
        self.connected_domain(domid)?;
        Ok(domid)
    }

    /// `RELEASE domid`: drops the domain's connection, deletes the nodes it owns (XSA-322),
    /// takes it out of the special watches' permissions and fires `@releaseDomain`.
    fn do_release(&mut self, _r: &mut Req, msg: &Message) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let domid = self.onearg_domain(msg)?;
        self.release_domain(domid);
        Ok(Some((msg.kind, b"OK\0".to_vec())))
    }

    /// Forgets domain `domid` as C's `destroy_domain` does.
    pub fn release_domain(&mut self, domid: u32) {
        let Some(d) = self.domains.remove(&domid) else {
            return;
        };
        self.known.remove(&domid);
        if let Some(id) = d.conn {
            self.conns.remove(&id);
        }
        for other in self.domains.values_mut() {
            if other.target == Some(domid) {
                other.target = None;
            }
        }
        self.connector.disconnect(domid);
        self.remove_domain_nodes(domid);
        let priv_domid = self.priv_domid;
        for p in [&mut self.release_perms, &mut self.introduce_perms] {
            if p.0.is_empty() {
                continue;
            }
            let mut owner = p.0.remove(0);
            if owner.id == domid {
                owner.id = priv_domid;
            }
            p.0.retain(|e| e.id != domid);
            p.0.insert(0, owner);
        }
        self.fire_watches(None, "@releaseDomain", None, None, true, None);
    }

    /// `domain_tree_remove`: removes every subtree whose top node `domid` owns.
    fn remove_domain_nodes(&mut self, domid: u32) {
        if self.store.entries(domid) <= 0 {
            return;
        }
        let mut doomed = Vec::new();
        let mut stack = vec!["/".to_string()];
        while let Some(n) = stack.pop() {
            let Some(node) = self.store.peek(&n) else {
                continue;
            };
            if node.perms.owner() == domid && n != "/" {
                doomed.push(n);
                continue;
            }
            for c in node.children.iter().rev() {
                stack.push(path::child(&n, c));
            }
        }
        for n in doomed {
            let Some(node) = self.store.peek(&n).cloned() else {
                continue;
            };
            let mut r = Req {
                conn: ConnId(0),
                caller: Caller::DOM0,
                implicit: domain_path(0),
                tx: None,
                limits: Limits::default(),
                unpriv: false,
            };
            if let Err(e) = self.rm_node(&mut r, &n, node) {
                log::error!("error when deleting orphaned node {n}: {e:?}");
            }
        }
    }

    fn do_resume(&mut self, msg: &Message) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let domid = self.onearg_domain(msg)?;
        if let Some(d) = self.domains.get_mut(&domid) {
            d.shutdown = false;
        }
        Ok(Some((msg.kind, b"OK\0".to_vec())))
    }

    /// C's `check_domains`, run when `VIRQ_DOM_EXC` fires: `state(domid)` is what the
    /// hypervisor says of each introduced domain (`None`: it no longer exists). A domain newly
    /// seen shut down fires `@releaseDomain` once (until `RESUME`); a dying or vanished one is
    /// released ([`Xenstored::release_domain`], which fires it too). dom0 is never released.
    pub fn check_domains(&mut self, state: impl Fn(u32) -> Option<DomainState>) {
        let mut notify = false;
        let domids: Vec<u32> = self.domains.keys().copied().filter(|&d| d != 0).collect();
        for domid in domids {
            if let Some(st) = state(domid) {
                if let Some(d) = self.domains.get_mut(&domid) {
                    if st.shutdown && !d.shutdown {
                        d.shutdown = true;
                        notify = true;
                    }
                }
                if !st.dying {
                    continue;
                }
            }
            log::info!("domain {domid} is gone: releasing it");
            self.release_domain(domid);
            // release_domain fired the watch.
            notify = false;
        }
        // Domains known only from permissions (C's unintroduced `struct domain`s) are
        // forgotten once gone, so a later domain with the same id is younger than the nodes.
        let gone: Vec<u32> = self
            .known
            .keys()
            .copied()
            .filter(|d| *d != 0 && !self.domains.contains_key(d) && state(*d).is_none())
            .collect();
        for d in gone {
            self.known.remove(&d);
        }
        if notify {
            self.fire_watches(None, "@releaseDomain", None, None, true, None);
        }
    }

    /// The generation a domain first heard of now gets: C's global `generation`, which is one
    /// past the last node written (C stamps a node with `generation++`), so a node written
    /// before the domain existed is older than it.
    fn domain_generation(&self) -> u64 {
        self.store.generation + 1
    }

    /// The domains introduced (dom0 included once connected).
    pub fn introduced(&self) -> Vec<u32> {
        self.domains.keys().copied().collect()
    }

    /// `SET_TARGET domid tdomid`: `domid` acts with `tdomid`'s rights (a stub device model).
    fn do_set_target(&mut self, msg: &Message) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let s = strings(&msg.payload);
        if s.len() < 2 {
            return Err(Errno::EINVAL);
        }
        let domid = atoi(&lossy(s[0])) as u32;
        let tdomid = atoi(&lossy(s[1])) as u32;
        self.connected_domain(domid)?;
        self.connected_domain(tdomid)?;
        if let Some(d) = self.domains.get_mut(&domid) {
            d.target = Some(tdomid);
        }
        Ok(Some((msg.kind, b"OK\0".to_vec())))
    }

    /// `CONTROL`: `check`, `log`, `print`, `quota`, `quota-soft`, `help`. C's `logfile`,
    /// `memreport` and `live-update` are not implemented and answer `EINVAL` like any unknown
    /// command.
    fn do_control(&mut self, _r: &mut Req, msg: &Message) -> Result<Option<(u32, Vec<u8>)>, Errno> {
        let s = strings(&msg.payload);
        let cmd = lossy(s.first().ok_or(Errno::EINVAL)?);
        let args: Vec<String> = s.iter().skip(1).map(|b| lossy(b)).collect();
        let text = |t: String| {
            let mut v = t.into_bytes();
            v.push(0);
            Ok(Some((msg.kind, v)))
        };
        let ok = Ok(Some((msg.kind, b"OK\0".to_vec())));
        match cmd.as_str() {
            "check" => {
                if !args.is_empty() {
                    return Err(Errno::EINVAL);
                }
                self.check_store();
                ok
            }
            "log" => match args.as_slice() {
                [a] if a == "on" => {
                    log::set_max_level(self.log_level);
                    ok
                }
                [a] if a == "off" => {
                    log::set_max_level(log::LevelFilter::Off);
                    ok
                }
                _ => Err(Errno::EINVAL),
            },
            "print" => match args.as_slice() {
                [a] => {
                    log::info!("{a}");
                    ok
                }
                _ => Err(Errno::EINVAL),
            },
            "quota" | "quota-soft" => {
                let soft = cmd == "quota-soft";
                match args.as_slice() {
                    [] => text(if soft {
                        self.quota.show_soft()
                    } else {
                        self.quota.show_hard()
                    }),
                    [set, name, val] if set == "set" => {
                        let v = atoi(val);
                        if v < 1 {
                            return Err(Errno::EINVAL);
                        }
                        if self.quota.set(name, v as usize, soft) {
                            ok
                        } else {
                            Err(Errno::EINVAL)
                        }
                    }
                    [set, ..] if set == "set" => Err(Errno::EINVAL),
                    [domid] if !soft => {
                        let domid = atoi(domid) as u32;
                        if !self.known.contains_key(&domid) {
                            return Err(Errno::ENOENT);
                        }
                        text(self.domain_quota_report(domid))
                    }
                    _ => Err(Errno::EINVAL),
                }
            }
            "help" => {
                if !args.is_empty() {
                    return Err(Errno::EINVAL);
                }
                text(
                    "check\t\nlog\ton|off\nprint\t<string>\nquota\t[set <name> <val>|<domid>]\n\
                     quota-soft\t[set <name> <val>]\nhelp\t\n"
                        .to_string(),
                )
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// `quota <domid>`, in C's layout. `memory` here is the domain's unsent output (C counts
    /// all the memory a domain makes xenstored hold).
    fn domain_quota_report(&self, domid: u32) -> String {
        let conns = || {
            self.conns
                .values()
                .filter(move |c| c.kind == ConnKind::Domain(domid))
        };
        let watches: usize = conns().map(|c| c.watches.len()).sum();
        let txs: usize = conns().map(|c| c.transactions.len()).sum();
        let outstanding: usize = conns().map(|c| c.replies_pending).sum();
        let memory: usize = conns().map(|c| c.out_bytes).sum();
        let mut s = format!("Domain {domid}:\n");
        for (name, v) in [
            ("nodes", self.store.entries(domid)),
            ("watches", watches as i64),
            ("transactions", txs as i64),
            ("outstanding", outstanding as i64),
            ("memory", memory as i64),
        ] {
            s.push_str(&format!("{name:<16}: {v:>8}\n"));
        }
        s
    }

    /// `CONTROL check`: every child a node lists exists (logged, never repaired).
    fn check_store(&self) {
        for n in self.store.names() {
            if let Some(node) = self.store.peek(n) {
                for c in node.children.iter() {
                    if self.store.peek(&path::child(n, c)).is_none() {
                        log::error!("store check: {n} lists missing child {c}");
                    }
                }
            }
        }
    }

    /// Watches of connection `id` (tests).
    pub fn watch_count(&self, id: ConnId) -> usize {
        self.conns.get(&id).map_or(0, |c| c.watches.len())
    }

    /// Open transactions of connection `id` (tests).
    pub fn transaction_count(&self, id: ConnId) -> usize {
        self.conns.get(&id).map_or(0, |c| c.transactions.len())
    }
}

/// `get_watch_path`: the event path as the watcher named it (relative if it was).
fn watch_path<'a>(w: &Watch, name: &'a str) -> &'a str {
    match &w.relative {
        Some(rel) => {
            let p = name.get(rel.len()..).unwrap_or("");
            p.strip_prefix('/').unwrap_or(p)
        }
        None => name,
    }
}

#[cfg(test)]
mod tests;
