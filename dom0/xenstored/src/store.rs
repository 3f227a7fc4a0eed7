//! The node tree and transactions: C xenstored's database (`read_node`, `write_node`,
//! `access_node`) and its per-transaction copies, with generation counts and node accounting.
//!
//! A transaction keeps a copy of every node it touched, in the order it first touched them. A
//! node first touched by a read records the generation it had (or that it was missing), and the
//! commit fails with `EAGAIN` if any such node has changed since (Xen's conflict rule:
//! `xenstored_transaction.c`).

use std::collections::{BTreeMap, HashMap};

use xen_abi::Errno;

use crate::path;
use crate::perms::Perms;

/// The generation of a node that does not exist (`NO_GENERATION`).
pub const NO_GENERATION: u64 = u64::MAX;

/// Bytes of C's node record header (`struct xs_tdb_record_hdr`, padded to 8).
const RECORD_HDR: usize = 24;

/// Child names in creation order, stored as `DIRECTORY` sends them: each NUL-terminated (one
/// allocation however many children; a copy is one `memcpy`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Children(Vec<u8>);

impl Children {
    /// The names, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &str> + '_ {
        self.0
            .split(|b| *b == 0)
            .filter(|c| !c.is_empty())
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
    }

    /// Appends `name` (a node name component: never empty, never containing NUL).
    pub fn push(&mut self, name: &str) {
        self.0.extend_from_slice(name.as_bytes());
        self.0.push(0);
    }

    /// Removes `name`; false if it is not listed.
    pub fn remove(&mut self, name: &str) -> bool {
        let mut off = 0;
        for c in self.0.split(|b| *b == 0) {
            if c.is_empty() {
                break;
            }
            if c == name.as_bytes() {
                self.0.drain(off..off + c.len() + 1);
                return true;
            }
            off += c.len() + 1;
        }
        false
    }

    /// Whether `name` is listed.
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|c| c == name)
    }

    /// The name starting at byte `off` and the offset after it.
    pub fn next_at(&self, off: usize) -> Option<(&str, usize)> {
        let rest = self.0.get(off..)?;
        let len = rest.iter().position(|b| *b == 0)?;
        let name = std::str::from_utf8(&rest[..len]).unwrap_or("");
        Some((name, off + len + 1))
    }

    /// The wire form.
    pub fn wire(&self) -> &[u8] {
        &self.0
    }

    /// Bytes of the wire form (C's `childlen`).
    pub fn len_bytes(&self) -> usize {
        self.0.len()
    }

    /// No children.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A node's value.
pub type Value = smallvec::SmallVec<[u8; 16]>;

/// One node: its value, permissions, children (in creation order) and generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The value: any bytes (inline up to 16: most values are a number, a state or a short
    /// name, and need no allocation).
    pub value: Value,
    /// Owner and access list.
    pub perms: Perms,
    /// Child names, in the order they were created.
    pub children: Children,
    /// The global generation count when the node was last written.
    pub generation: u64,
}

impl Node {
    /// A node with no value and no children.
    pub fn new(perms: Perms) -> Node {
        Node {
            value: Value::new(),
            perms,
            children: Children::default(),
            generation: 0,
        }
    }

    /// The children as `DIRECTORY` sends them: each name NUL-terminated.
    pub fn children_wire(&self) -> &[u8] {
        self.children.wire()
    }

    /// Bytes of the NUL-terminated child list.
    pub fn childlen(&self) -> usize {
        self.children.len_bytes()
    }

    /// Size of the node's record as C xenstored stores it (what the `node-size` quota limits).
    pub fn record_len(&self) -> usize {
        RECORD_HDR + self.perms.record_len() + self.value.len() + self.childlen()
    }
}

/// A node as a transaction saw or changed it.
#[derive(Clone, Debug)]
pub struct Accessed {
    /// The node's name.
    pub name: String,
    /// Generation when first read (`NO_GENERATION` if it was missing).
    pub generation: u64,
    /// First touched by a read: check the generation at commit.
    pub check_gen: bool,
    /// Written or deleted in the transaction.
    pub modified: bool,
    /// The transaction's copy (`None`: missing or deleted).
    pub node: Option<Node>,
    /// Fire watches for this node at commit.
    pub fire_watch: bool,
    /// Only watches on exactly this node (a child of a removed subtree).
    pub watch_exact: bool,
    /// The node's permissions when first touched (watch permission check at commit).
    pub old_perms: Option<Perms>,
}

/// An open transaction of one connection.
#[derive(Clone, Debug)]
pub struct Transaction {
    /// The id the connection uses in `tx_id`.
    pub id: u32,
    /// The global generation when it started.
    pub generation: u64,
    accessed: Vec<Accessed>,
    index: HashMap<String, usize>,
    /// An operation failed half-way: the commit answers `ENOMEM`, as C xenstored.
    pub fail: bool,
    /// A node was created (the commit checks the node quota).
    pub node_created: bool,
    /// Change of the number of nodes each domain owns.
    pub entry_delta: BTreeMap<u32, i64>,
    /// Bytes the transaction's copies hold (names and records).
    bytes: usize,
}

impl Transaction {
    /// A new transaction `id` starting at global generation `generation`.
    pub fn new(id: u32, generation: u64) -> Transaction {
        Transaction {
            id,
            generation,
            accessed: Vec::new(),
            bytes: 0,
            index: HashMap::new(),
            fail: false,
            node_created: false,
            entry_delta: BTreeMap::new(),
        }
    }

    /// Nodes touched so far.
    pub fn nodes(&self) -> usize {
        self.accessed.len()
    }

    fn find(&mut self, name: &str) -> Option<&mut Accessed> {
        let i = *self.index.get(name)?;
        self.accessed.get_mut(i)
    }

    /// Bytes the transaction's copies hold: what an unprivileged domain makes the daemon keep.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Replaces the copy of `name` (already touched), keeping the byte count.
    fn set_node(&mut self, name: &str, node: Option<Node>) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        if let Some(a) = self.accessed.get_mut(i) {
            let old = a.node.as_ref().map_or(0, Node::record_len);
            let new = node.as_ref().map_or(0, Node::record_len);
            self.bytes = (self.bytes + new).saturating_sub(old);
            a.node = node;
        }
    }

    fn push(&mut self, a: Accessed) {
        self.bytes += a.name.len() + a.node.as_ref().map_or(0, Node::record_len);
        self.index.insert(a.name.clone(), self.accessed.len());
        self.accessed.push(a);
    }

    /// `queue_watches`: fire watches for `name` at commit (a non-exact event wins over an exact
    /// one). A node the transaction never touched fails the transaction, as in C.
    pub fn queue_watch(&mut self, name: &str, exact: bool) {
        match self.find(name) {
            Some(a) => {
                if !a.fire_watch {
                    a.fire_watch = true;
                    a.watch_exact = exact;
                } else if !exact {
                    a.watch_exact = false;
                }
            }
            None => self.fail = true,
        }
    }
}

/// A watch event to fire after a commit: name, exact, the node's permissions before.
pub type CommitEvent = (String, bool, Option<Perms>);

/// Limits the store checks for an unprivileged caller (`None`: exempt).
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Most nodes one transaction may touch (`transaction-nodes`).
    pub trans_nodes: Option<usize>,
    /// Record size a write must stay below (`node-size`).
    pub node_size: Option<usize>,
}

/// The node database.
#[derive(Debug)]
pub struct Store {
    /// By full path (a boxed `str`: 8 bytes less per entry than a `String`).
    nodes: HashMap<Box<str>, Node>,
    /// The global generation count: incremented before each write, delete, transaction start.
    pub generation: u64,
    entries: HashMap<u32, i64>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// The tree C xenstored builds at start (`setup_structure`): `/`, `/tool`,
    /// `/tool/xenstored`, all `n0`.
    pub fn new() -> Store {
        let mut s = Store {
            nodes: HashMap::new(),
            generation: 0,
            entries: HashMap::new(),
        };
        for (name, child) in [
            ("/", Some("tool")),
            ("/tool", Some("xenstored")),
            ("/tool/xenstored", None),
        ] {
            s.generation += 1;
            let mut n = Node::new(Perms::owner_only(0));
            if let Some(c) = child {
                n.children.push(c);
            }
            n.generation = s.generation;
            s.nodes.insert(name.into(), n);
        }
        s.entries.insert(0, 3);
        s
    }

    /// Number of nodes in the committed tree.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: `/` exists.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The committed node `name`, outside any transaction and without recording an access.
    pub fn peek(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// Nodes owned by `domid` in the committed tree.
    pub fn entries(&self, domid: u32) -> i64 {
        self.entries.get(&domid).copied().unwrap_or(0)
    }

    /// `read_node`: the node as the caller sees it (its transaction's copy if it has one). In a
    /// transaction the first access records the node's generation (`ENOSPC` past the
    /// transaction-nodes quota).
    pub fn read(
        &mut self,
        tx: Option<&mut Transaction>,
        name: &str,
        limits: Limits,
    ) -> Result<Option<Node>, Errno> {
        let Some(t) = tx else {
            return Ok(self.nodes.get(name).cloned());
        };
        if let Some(a) = t.find(name) {
            return Ok(a.node.clone());
        }
        let g = self.nodes.get(name).cloned();
        if limits.trans_nodes.is_some_and(|l| t.nodes() >= l) {
            t.fail = true;
            return Err(Errno::ENOSPC);
        }
        t.push(Accessed {
            name: name.to_string(),
            generation: g.as_ref().map_or(NO_GENERATION, |n| n.generation),
            check_gen: true,
            modified: false,
            old_perms: g.as_ref().map(|n| n.perms.clone()),
            node: g.clone(),
            fire_watch: false,
            watch_exact: false,
        });
        Ok(g)
    }

    /// Records a modifying access (`access_node` for a write or delete): bumps the generation.
    fn access_modify(
        &mut self,
        tx: Option<&mut Transaction>,
        name: &str,
        node: Option<&Node>,
        limits: Limits,
    ) -> Result<u64, Errno> {
        self.generation += 1;
        let g = self.generation;
        if let Some(t) = tx {
            if let Some(a) = t.find(name) {
                a.modified = true;
            } else {
                if limits.trans_nodes.is_some_and(|l| t.nodes() >= l) {
                    t.fail = true;
                    return Err(Errno::ENOSPC);
                }
                t.push(Accessed {
                    name: name.to_string(),
                    generation: 0,
                    check_gen: false,
                    modified: true,
                    node: None,
                    fire_watch: false,
                    watch_exact: false,
                    old_perms: node.map(|n| n.perms.clone()),
                });
            }
        }
        Ok(g)
    }

    /// `write_node`: stores `node` as `name` with a new generation, in the transaction if there
    /// is one. A record at or above `limits.node_size` is `ENOSPC` (and fails the transaction).
    pub fn write(
        &mut self,
        mut tx: Option<&mut Transaction>,
        name: &str,
        mut node: Node,
        limits: Limits,
    ) -> Result<(), Errno> {
        node.generation = self.access_modify(tx.as_deref_mut(), name, Some(&node), limits)?;
        if limits.node_size.is_some_and(|l| node.record_len() >= l) {
            if let Some(t) = tx {
                t.fail = true;
            }
            return Err(Errno::ENOSPC);
        }
        match tx {
            Some(t) => t.set_node(name, Some(node)),
            None => {
                self.nodes.insert(name.into(), node);
            }
        }
        Ok(())
    }

    /// Deletes node `name` (not its children), in the transaction if there is one.
    pub fn delete(
        &mut self,
        mut tx: Option<&mut Transaction>,
        name: &str,
        limits: Limits,
    ) -> Result<(), Errno> {
        self.access_modify(tx.as_deref_mut(), name, None, limits)?;
        match tx {
            Some(t) => t.set_node(name, None),
            None => {
                self.nodes.remove(name);
            }
        }
        Ok(())
    }

    /// Takes back a node `create_node` wrote before a later step failed (no generation change).
    /// In a transaction the transaction is failed, as in C.
    pub fn undo_create(&mut self, tx: Option<&mut Transaction>, name: &str) {
        match tx {
            Some(t) => {
                t.fail = true;
                t.set_node(name, None);
            }
            None => {
                self.nodes.remove(name);
            }
        }
    }

    /// Bumps the generation count without storing anything (C rewrites a parent in the middle of
    /// removing a subtree; the parent is removed right after).
    pub fn bump_generation(&mut self) {
        self.generation += 1;
    }

    /// One more node owned by `domid` (in the transaction's count if there is one).
    pub fn entry_inc(&mut self, tx: Option<&mut Transaction>, domid: u32) {
        self.entry_add(tx, domid, 1);
    }

    /// One node fewer owned by `domid`.
    pub fn entry_dec(&mut self, tx: Option<&mut Transaction>, domid: u32) {
        self.entry_add(tx, domid, -1);
    }

    fn entry_add(&mut self, tx: Option<&mut Transaction>, domid: u32, d: i64) {
        match tx {
            Some(t) => *t.entry_delta.entry(domid).or_insert(0) += d,
            None => *self.entries.entry(domid).or_insert(0) += d,
        }
    }

    /// The names of the subtree at `root` (which the caller has read), children before parents,
    /// each read through the transaction (so the commit checks them). Iterative: a deep tree
    /// cannot overflow the stack.
    pub fn subtree_postorder(
        &mut self,
        mut tx: Option<&mut Transaction>,
        root: &str,
        root_node: Node,
        limits: Limits,
    ) -> Result<Vec<(String, Node)>, Errno> {
        let mut out = Vec::new();
        // (name, node, byte offset of the next child)
        let mut stack: Vec<(String, Node, usize)> = vec![(root.to_string(), root_node, 0)];
        while let Some((name, node, idx)) = stack.pop() {
            if let Some((c, next)) = node.children.next_at(idx) {
                let cname = path::child(&name, c);
                stack.push((name, node, next));
                if let Some(cn) = self.read(tx.as_deref_mut(), &cname, limits)? {
                    stack.push((cname, cn, 0));
                }
            } else {
                out.push((name, node));
            }
        }
        Ok(out)
    }

    /// `do_transaction_end` with `T`: checks the node quota (`nodes_quota`, unprivileged callers
    /// that created nodes), then every node the transaction read, then applies its changes.
    /// Returns the watch events to fire, in the order the nodes were first touched.
    pub fn commit(
        &mut self,
        tx: Transaction,
        nodes_quota: Option<i64>,
    ) -> Result<Vec<CommitEvent>, Errno> {
        if tx.fail {
            return Err(Errno::ENOMEM);
        }
        if let Some(q) = nodes_quota {
            for (domid, d) in &tx.entry_delta {
                if self.entries(*domid) + d >= q {
                    return Err(Errno::ENOSPC);
                }
            }
        }
        for a in &tx.accessed {
            if a.check_gen {
                let g = self
                    .nodes
                    .get(a.name.as_str())
                    .map_or(NO_GENERATION, |n| n.generation);
                if g != a.generation {
                    return Err(Errno::EAGAIN);
                }
            }
        }
        let mut events = Vec::new();
        for a in tx.accessed {
            if !a.modified {
                continue;
            }
            match a.node {
                Some(mut n) => {
                    self.generation += 1;
                    n.generation = self.generation;
                    self.nodes.insert(a.name.as_str().into(), n);
                }
                None => {
                    if a.generation != NO_GENERATION {
                        self.nodes.remove(a.name.as_str());
                    }
                }
            }
            if a.fire_watch {
                events.push((a.name, a.watch_exact, a.old_perms));
            }
        }
        for (domid, d) in tx.entry_delta {
            *self.entries.entry(domid).or_insert(0) += d;
        }
        Ok(events)
    }

    /// Every committed node name (tests and the `check` control command).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(|k| &**k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_push_remove_and_walk_keep_order() {
        let mut c = Children::default();
        for n in ["a", "bb", "ccc"] {
            c.push(n);
        }
        assert_eq!(c.wire(), b"a\0bb\0ccc\0");
        assert!(c.remove("bb"));
        assert!(!c.remove("b"));
        assert_eq!(c.iter().collect::<Vec<_>>(), ["a", "ccc"]);
        assert_eq!(c.next_at(0), Some(("a", 2)));
        assert_eq!(c.next_at(2), Some(("ccc", 6)));
        assert_eq!(c.next_at(6), None);
        assert!(c.remove("ccc") && c.remove("a") && c.is_empty());
    }

    #[test]
    fn record_len_counts_header_perms_value_and_children() {
        let mut n = Node::new(Perms::owner_only(5));
        n.value = Value::from_slice(&[0; 10]);
        n.children.push("abc");
        assert_eq!(n.record_len(), 24 + 8 + 10 + 4);
    }
}
