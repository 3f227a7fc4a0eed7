//! Differential test: the same scripted requests to Debian's C xenstored 4.17 and to ours, each
//! on its own socket, must get byte-identical replies and watch events.
//!
//! C xenstored cannot serve requests on a host without Xen even with `-D` (it never builds its
//! database and crashes on the first request), so it runs without `-D` under
//! `tests/fakexen/fakexen.c`, an `LD_PRELOAD` shim that stands in for Xen's libraries and dom0's
//! ring (see the file). Every socket connection is privileged in both daemons; unprivileged
//! behaviour is covered by the engine's unit and property tests.

mod common;

use std::path::{Path, PathBuf};

use common::{build_shim, start_c, start_ours, z, Client, Proc, RingGuest, TempDir, C_XENSTORED};
use xenstored::Message;

const INTRODUCE: u32 = 8;

const CONTROL: u32 = 0;
const DIRECTORY: u32 = 1;
const READ: u32 = 2;
const GET_PERMS: u32 = 3;
const WATCH: u32 = 4;
const UNWATCH: u32 = 5;
const TX_START: u32 = 6;
const TX_END: u32 = 7;
const RELEASE: u32 = 9;
const GET_DOMAIN_PATH: u32 = 10;
const WRITE: u32 = 11;
const MKDIR: u32 = 12;
const RM: u32 = 13;
const SET_PERMS: u32 = 14;
const IS_INTRODUCED: u32 = 17;
const RESUME: u32 = 18;
const SET_TARGET: u32 = 19;
const RESET_WATCHES: u32 = 21;
const DIRECTORY_PART: u32 = 22;

enum Endpoint {
    Socket(Client),
    Ring(RingGuest),
}

impl Endpoint {
    fn req(&mut self, kind: u32, tx: u32, payload: &[u8]) -> (Message, Vec<Message>) {
        match self {
            Endpoint::Socket(c) => c.req(kind, tx, payload),
            Endpoint::Ring(g) => g.req(kind, tx, payload),
        }
    }
}

/// Where each daemon keeps domain ring files, and C's event FIFO.
struct Rigs {
    c_rings: PathBuf,
    r_rings: PathBuf,
}

fn show(m: &Message) -> String {
    format!(
        "type {} req {} tx {} \"{}\"",
        m.kind,
        m.req_id,
        m.tx_id,
        m.payload.escape_ascii()
    )
}

/// Both daemons, the same number of connections to each, and what each said.
struct Pair {
    c: Vec<Endpoint>,
    r: Vec<Endpoint>,
    c_log: Vec<String>,
    r_log: Vec<String>,
}

impl Pair {
    fn new(c: &Proc, r: &Proc, conns: usize) -> Pair {
        Pair {
            c: (0..conns)
                .map(|_| Endpoint::Socket(Client::connect(&c.socket)))
                .collect(),
            r: (0..conns)
                .map(|_| Endpoint::Socket(Client::connect(&r.socket)))
                .collect(),
            c_log: Vec::new(),
            r_log: Vec::new(),
        }
    }

    /// Connects to the ring of introduced domain `domid` in both daemons; returns its index.
    fn add_guest(&mut self, rigs: &Rigs, domid: u32) -> usize {
        let ring = format!("ring-{domid}");
        self.c.push(Endpoint::Ring(RingGuest::open(
            &rigs.c_rings.join(&ring),
            Some(&rigs.c_rings.join("evtchn")),
        )));
        self.r.push(Endpoint::Ring(RingGuest::open(
            &rigs.r_rings.join(&ring),
            None,
        )));
        self.c.len() - 1
    }

    /// Connects to dom0's own ring in both daemons (C: `/proc/xen/xsd_kva`, ours: `ring-0`).
    fn add_dom0_ring(&mut self, rigs: &Rigs) -> usize {
        self.c.push(Endpoint::Ring(RingGuest::open(
            &rigs.c_rings.join("xsd_kva"),
            Some(&rigs.c_rings.join("evtchn")),
        )));
        self.r.push(Endpoint::Ring(RingGuest::open(
            &rigs.r_rings.join("ring-0"),
            None,
        )));
        self.c.len() - 1
    }

    /// Forgets endpoint `i` (a released domain); later indices shift down.
    fn drop_endpoint(&mut self, i: usize) {
        self.c.remove(i);
        self.r.remove(i);
    }

    /// Sends one request on connection `i` of both daemons, then a `GET_DOMAIN_PATH` on every
    /// connection so that each one's pending watch events arrive (in order) before its reply.
    fn step(&mut self, i: usize, kind: u32, tx: u32, payload: &[u8]) {
        let head = format!(
            "conn {i} sends type {kind} tx {tx} \"{}\"",
            payload.escape_ascii()
        );
        for (clients, log) in [
            (&mut self.c, &mut self.c_log),
            (&mut self.r, &mut self.r_log),
        ] {
            log.push(head.clone());
            let (reply, events) = clients[i].req(kind, tx, payload);
            for e in &events {
                log.push(format!("  conn {i} event {}", show(e)));
            }
            log.push(format!("  conn {i} reply {}", show(&reply)));
            for (j, c) in clients.iter_mut().enumerate() {
                let (_, events) = c.req(GET_DOMAIN_PATH, 0, b"0\0");
                for e in &events {
                    log.push(format!("  conn {j} event {}", show(e)));
                }
            }
        }
    }

    /// Sends several requests on socket connection `i` back to back before reading anything, then
    /// collects every reply and event (pipelining, as libxenstore's reader thread allows).
    fn pipeline(&mut self, i: usize, reqs: &[(u32, u32, &[u8])]) {
        let head = format!("conn {i} pipelines {} requests", reqs.len());
        for (clients, log) in [
            (&mut self.c, &mut self.c_log),
            (&mut self.r, &mut self.r_log),
        ] {
            log.push(head.clone());
            let Endpoint::Socket(c) = &mut clients[i] else {
                panic!("pipelining is for socket connections");
            };
            for (kind, tx, payload) in reqs {
                log.push(format!(
                    "  sends type {kind} tx {tx} \"{}\"",
                    payload.escape_ascii()
                ));
                c.send(*kind, *tx, payload);
            }
            let mut replies = 0;
            while replies < reqs.len() {
                let m = c.recv().expect("reply to a pipelined request");
                if m.kind != common::WATCH_EVENT {
                    replies += 1;
                }
                log.push(format!("  conn {i} got {}", show(&m)));
            }
        }
    }

    /// The transcripts must be equal; prints both around the first difference.
    fn check(&self, name: &str) {
        if std::env::var_os("XENSTORED_DIFF_LOG").is_some() {
            for l in &self.c_log {
                println!("{name}: {l}");
            }
        }
        if self.c_log == self.r_log {
            println!("{name}: {} lines identical", self.c_log.len());
            return;
        }
        let first = self
            .c_log
            .iter()
            .zip(&self.r_log)
            .position(|(a, b)| a != b)
            .unwrap_or(self.c_log.len().min(self.r_log.len()));
        let from = first.saturating_sub(6);
        let mut msg = format!("{name}: transcripts differ at line {first}\n--- C xenstored\n");
        for l in self.c_log.iter().skip(from).take(14) {
            msg.push_str(&format!("{l}\n"));
        }
        msg.push_str("--- ours\n");
        for l in self.r_log.iter().skip(from).take(14) {
            msg.push_str(&format!("{l}\n"));
        }
        panic!("{msg}");
    }
}

fn basics(p: &mut Pair) {
    p.step(0, DIRECTORY, 0, &z(&["/"]));
    p.step(0, DIRECTORY, 0, &z(&["/tool"]));
    p.step(0, READ, 0, &z(&["/tool/xenstored"]));
    p.step(0, GET_PERMS, 0, &z(&["/tool"]));
    p.step(0, WRITE, 0, b"/basic/a/b\0hello");
    p.step(0, READ, 0, &z(&["/basic/a/b"]));
    p.step(0, READ, 0, &z(&["/basic/a"]));
    p.step(0, DIRECTORY, 0, &z(&["/basic"]));
    p.step(0, WRITE, 0, b"/basic/bin\0a\0b\0c");
    p.step(0, READ, 0, &z(&["/basic/bin"]));
    p.step(0, WRITE, 0, b"/basic/empty\0");
    p.step(0, READ, 0, &z(&["/basic/empty"]));
    p.step(0, MKDIR, 0, &z(&["/basic/dir/sub"]));
    p.step(0, MKDIR, 0, &z(&["/basic/dir/sub"]));
    p.step(0, DIRECTORY, 0, &z(&["/basic/dir"]));
    // Relative paths are under /local/domain/0 for a socket client.
    p.step(0, WRITE, 0, b"rel/x\0relative");
    p.step(0, READ, 0, &z(&["/local/domain/0/rel/x"]));
    p.step(0, READ, 0, &z(&["rel/x"]));
    p.step(0, DIRECTORY, 0, &z(&["/local/domain"]));
    // Errors.
    p.step(0, READ, 0, &z(&["/basic/nothere"]));
    p.step(0, READ, 0, &z(&["/nothere/deeper"]));
    p.step(0, READ, 0, &z(&["/basic/"]));
    p.step(0, READ, 0, &z(&["/basic//a"]));
    p.step(0, READ, 0, &z(&["/basic/a b"]));
    p.step(0, READ, 0, &z(&["/basic/a.b"]));
    p.step(0, READ, 0, &z(&[""]));
    p.step(0, READ, 0, b"/basic/a");
    p.step(0, READ, 0, &z(&["/basic/a", "extra"]));
    p.step(0, READ, 0, b"");
    p.step(0, WRITE, 0, b"/basic/nonul");
    p.step(0, MKDIR, 0, &z(&["/basic/bad/"]));
    p.step(0, READ, 0, &z(&[&format!("/{}", "x".repeat(2047))]));
    p.step(0, READ, 0, &z(&[&format!("/{}", "x".repeat(2048))]));
    p.step(
        0,
        WRITE,
        0,
        format!("/local/domain/7/{}\0v", "y".repeat(2048)).as_bytes(),
    );
    p.step(
        0,
        WRITE,
        0,
        format!("/local/domain/7/{}y\0v", "y".repeat(2048)).as_bytes(),
    );
    p.step(0, RM, 0, &z(&["/local/domain/7"]));
    // RM: subtree, missing with parent, missing without parent, root.
    p.step(0, RM, 0, &z(&["/basic/a"]));
    p.step(0, RM, 0, &z(&["/basic/a"]));
    p.step(0, RM, 0, &z(&["/basic/a/b/c"]));
    p.step(0, RM, 0, &z(&["/"]));
    p.step(0, DIRECTORY, 0, &z(&["/basic"]));
    // Unknown and reply-only types.
    p.step(0, 15, 0, &z(&["/"]));
    p.step(0, 16, 0, &z(&["/"]));
    p.step(0, 20, 0, &z(&["/"]));
    p.step(0, 23, 0, &z(&["/"]));
    p.step(0, 9999, 0, b"");
    // Domains (none introduced besides dom0).
    p.step(0, GET_DOMAIN_PATH, 0, &z(&["5"]));
    p.step(0, GET_DOMAIN_PATH, 0, &z(&["abc"]));
    p.step(0, GET_DOMAIN_PATH, 0, &z(&["-1"]));
    p.step(0, GET_DOMAIN_PATH, 0, b"5");
    p.step(0, IS_INTRODUCED, 0, &z(&["0"]));
    p.step(0, IS_INTRODUCED, 0, &z(&["3"]));
    p.step(0, IS_INTRODUCED, 0, &z(&["32752"]));
    p.step(0, IS_INTRODUCED, 0, b"");
    p.step(0, RELEASE, 0, &z(&["0"]));
    p.step(0, RELEASE, 0, &z(&["7"]));
    p.step(0, RESUME, 0, &z(&["7"]));
    p.step(0, SET_TARGET, 0, &z(&["7", "8"]));
    p.step(0, SET_TARGET, 0, &z(&["7"]));
    // A value near the payload limit, and a reply that would exceed it.
    let mut big = b"/basic/big\0".to_vec();
    big.extend(std::iter::repeat_n(b'v', 4096 - big.len()));
    p.step(0, WRITE, 0, &big);
    p.step(0, READ, 0, &z(&["/basic/big"]));
}

fn perms(p: &mut Pair) {
    p.step(0, WRITE, 0, b"/perm/node\0v");
    p.step(0, SET_PERMS, 0, &z(&["/perm/node", "n0", "r1", "w2", "b3"]));
    p.step(0, GET_PERMS, 0, &z(&["/perm/node"]));
    // Children inherit their parent's perms.
    p.step(0, WRITE, 0, b"/perm/node/child/grand\0v");
    p.step(0, GET_PERMS, 0, &z(&["/perm/node/child/grand"]));
    p.step(0, SET_PERMS, 0, &z(&["/perm/node", "r5"]));
    p.step(0, GET_PERMS, 0, &z(&["/perm/node"]));
    p.step(0, SET_PERMS, 0, &z(&["/perm/node", "b0x10", "r010"]));
    p.step(0, GET_PERMS, 0, &z(&["/perm/node"]));
    p.step(0, SET_PERMS, 0, &z(&["/perm/node", "n-1"]));
    p.step(0, GET_PERMS, 0, &z(&["/perm/node"]));
    // Errors.
    p.step(0, SET_PERMS, 0, &z(&["/perm/node"]));
    p.step(0, SET_PERMS, 0, &z(&["/perm/node", "x1"]));
    p.step(0, SET_PERMS, 0, &z(&["/perm/node", "r"]));
    p.step(0, SET_PERMS, 0, &z(&["/perm/node", "r1x"]));
    p.step(0, SET_PERMS, 0, &z(&["/perm/node", "08"]));
    p.step(0, SET_PERMS, 0, b"/perm/node\0r1");
    p.step(0, SET_PERMS, 0, b"/perm/node\0r1\0n2");
    p.step(0, GET_PERMS, 0, &z(&["/perm/node"]));
    p.step(0, SET_PERMS, 0, &z(&["/perm/missing", "r1"]));
    p.step(0, SET_PERMS, 0, &z(&["/perm/bad/", "r1"]));
    p.step(0, SET_PERMS, 0, &z(&["@releaseDomain", "n0", "r3"]));
    p.step(0, SET_PERMS, 0, &z(&["@introduceDomain", "r0"]));
    p.step(0, SET_PERMS, 0, &z(&["@other", "r0"]));
    p.step(0, GET_PERMS, 0, &z(&["@releaseDomain"]));
    p.step(0, GET_PERMS, 0, &z(&["/perm/missing"]));
    // Many perms are fine for a privileged caller.
    let many: Vec<String> = (0..40).map(|i| format!("r{i}")).collect();
    let mut args = vec!["/perm/node".to_string()];
    args.extend(many);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    p.step(0, SET_PERMS, 0, &z(&refs));
    p.step(0, GET_PERMS, 0, &z(&["/perm/node"]));
}

fn transactions(p: &mut Pair) {
    p.step(0, WRITE, 0, b"/tx/a\0a0");
    p.step(0, WRITE, 0, b"/tx/b\0b0");
    // A plain commit, visible to others only after it.
    p.step(0, TX_START, 0, b"\0");
    p.step(0, WRITE, 1, b"/tx/a\0a1");
    p.step(1, READ, 0, &z(&["/tx/a"]));
    p.step(0, READ, 1, &z(&["/tx/a"]));
    p.step(0, TX_END, 1, &z(&["T"]));
    p.step(1, READ, 0, &z(&["/tx/a"]));
    // Conflict: a node read in the transaction changes outside it.
    p.step(0, TX_START, 0, b"\0");
    p.step(0, READ, 2, &z(&["/tx/a"]));
    p.step(1, WRITE, 0, b"/tx/a\0outside");
    p.step(0, WRITE, 2, b"/tx/b\0inside");
    p.step(0, TX_END, 2, &z(&["T"]));
    p.step(0, READ, 0, &z(&["/tx/b"]));
    // Conflict on a node read as missing and created outside.
    p.step(0, TX_START, 0, b"\0");
    p.step(0, READ, 3, &z(&["/tx/new"]));
    p.step(1, WRITE, 0, b"/tx/new\0x");
    p.step(0, TX_END, 3, &z(&["T"]));
    // Written-only nodes do not conflict.
    p.step(0, TX_START, 0, b"\0");
    p.step(0, WRITE, 4, b"/tx/a\0blind");
    p.step(1, WRITE, 0, b"/tx/a\0other");
    p.step(0, TX_END, 4, &z(&["T"]));
    p.step(0, READ, 0, &z(&["/tx/a"]));
    // Two transactions of two connections, the second loses.
    p.step(0, TX_START, 0, b"\0");
    p.step(1, TX_START, 0, b"\0");
    p.step(0, READ, 5, &z(&["/tx/a"]));
    p.step(1, READ, 1, &z(&["/tx/b"]));
    p.step(0, WRITE, 5, b"/tx/b\0from0");
    p.step(1, WRITE, 1, b"/tx/a\0from1");
    p.step(0, TX_END, 5, &z(&["T"]));
    p.step(1, TX_END, 1, &z(&["T"]));
    // Abort, RM and MKDIR inside, DIRECTORY inside.
    p.step(0, TX_START, 0, b"\0");
    p.step(0, RM, 6, &z(&["/tx/b"]));
    p.step(0, MKDIR, 6, &z(&["/tx/d/e"]));
    p.step(0, DIRECTORY, 6, &z(&["/tx"]));
    p.step(1, DIRECTORY, 0, &z(&["/tx"]));
    p.step(0, TX_END, 6, &z(&["F"]));
    p.step(0, DIRECTORY, 0, &z(&["/tx"]));
    p.step(0, TX_START, 0, b"\0");
    p.step(0, RM, 7, &z(&["/tx/b"]));
    p.step(0, MKDIR, 7, &z(&["/tx/d/e"]));
    p.step(0, DIRECTORY_PART, 7, &z(&["/tx", "0"]));
    p.step(0, TX_END, 7, &z(&["T"]));
    p.step(0, DIRECTORY_PART, 0, &z(&["/tx", "0"]));
    // Errors.
    p.step(0, TX_END, 0, &z(&["T"]));
    p.step(0, TX_END, 99, &z(&["T"]));
    p.step(0, READ, 99, &z(&["/tx/a"]));
    p.step(0, TX_START, 0, b"\0");
    p.step(0, TX_START, 8, b"\0");
    p.step(0, TX_END, 8, &z(&["X"]));
    p.step(0, TX_END, 8, b"T");
    p.step(0, TX_END, 8, &z(&["F"]));
    p.step(0, TX_END, 8, &z(&["F"]));
    // Many open transactions are fine for a privileged caller.
    for _ in 0..12 {
        p.step(1, TX_START, 0, b"\0");
    }
    p.step(1, RESET_WATCHES, 0, b"\0");
    p.step(1, READ, 3, &z(&["/tx/a"]));
    p.step(1, TX_START, 0, b"\0");
}

fn watches(p: &mut Pair) {
    p.step(1, WATCH, 0, &z(&["/w", "tok"]));
    p.step(1, WATCH, 0, &z(&["/w", "tok"]));
    p.step(1, WATCH, 0, &z(&["/w", "tok2"]));
    p.step(1, WATCH, 0, &z(&["/w/a/b", "deep"]));
    p.step(1, WATCH, 0, &z(&["rel/w", "relative"]));
    p.step(1, WATCH, 0, &z(&["@introduceDomain", "intro"]));
    p.step(1, WATCH, 0, &z(&["@releaseDomain", "rel"]));
    p.step(1, WATCH, 0, &z(&["/", "root"]));
    p.step(0, WRITE, 0, b"/w/a\0x");
    p.step(0, WRITE, 0, b"/w/a/b/c\0x");
    p.step(0, WRITE, 0, b"rel/w/x\0x");
    p.step(0, WRITE, 0, b"/elsewhere\0x");
    p.step(0, SET_PERMS, 0, &z(&["/w/a", "n0", "r4"]));
    p.step(0, MKDIR, 0, &z(&["/w/a"]));
    p.step(0, MKDIR, 0, &z(&["/w/m"]));
    p.step(0, RM, 0, &z(&["/w/a"]));
    p.step(0, RM, 0, &z(&["/w/a"]));
    // Transactions fire at commit, once per node, and not at all on abort.
    p.step(0, TX_START, 0, b"\0");
    p.step(0, WRITE, 1, b"/w/t1\0x");
    p.step(0, WRITE, 1, b"/w/t1\0y");
    p.step(0, WRITE, 1, b"/w/t2/u\0x");
    p.step(0, TX_END, 1, &z(&["T"]));
    p.step(0, TX_START, 0, b"\0");
    p.step(0, WRITE, 2, b"/w/t3\0x");
    p.step(0, TX_END, 2, &z(&["F"]));
    p.step(0, TX_START, 0, b"\0");
    p.step(0, RM, 3, &z(&["/w/t2"]));
    p.step(0, TX_END, 3, &z(&["T"]));
    // WATCH and UNWATCH ignore tx_id.
    p.step(1, WATCH, 77, &z(&["/w/txid", "t"]));
    p.step(1, UNWATCH, 77, &z(&["/w/txid", "t"]));
    // Errors and unwatch.
    p.step(1, WATCH, 0, &z(&["/w"]));
    p.step(1, WATCH, 0, &z(&["/w", "a", "b"]));
    p.step(1, WATCH, 0, &z(&["/w/", "bad"]));
    p.step(1, WATCH, 0, &z(&["@anything", "special"]));
    p.step(1, UNWATCH, 0, &z(&["/w", "nope"]));
    p.step(1, UNWATCH, 0, &z(&["/w", "tok2"]));
    p.step(1, UNWATCH, 0, &z(&["rel/w", "relative"]));
    p.step(0, WRITE, 0, b"/w/after\0x");
    p.step(1, RESET_WATCHES, 0, b"\0");
    p.step(0, WRITE, 0, b"/w/after\0y");
    // Tokens are bytes, echoed as they came.
    p.step(1, WATCH, 0, b"/w\0\xff\xfe\x01\0");
    p.step(0, WRITE, 0, b"/w/bytes\0x");
    p.step(1, UNWATCH, 0, b"/w\0\xff\xfe\x01\0");
    p.step(1, WATCH, 0, b"@\xff\0t\0");
    p.step(1, UNWATCH, 0, b"@\xff\0t\0");
    // A huge token: the initial event is over the limit and is dropped.
    p.step(1, WATCH, 0, &z(&["/w", &"t".repeat(4080)]));
    p.step(1, RESET_WATCHES, 0, b"\0");
}

fn directory_part(p: &mut Pair) {
    p.step(0, MKDIR, 0, &z(&["/big"]));
    for i in 0..260 {
        p.step(0, MKDIR, 0, &z(&[&format!("/big/child-number-{i:04}")]));
    }
    p.step(0, DIRECTORY, 0, &z(&["/big"]));
    for off in ["0", "4072", "4075", "6000", "6500", "-1", "x"] {
        p.step(0, DIRECTORY_PART, 0, &z(&["/big", off]));
    }
    p.step(0, DIRECTORY_PART, 0, &z(&["/big"]));
    p.step(0, DIRECTORY_PART, 0, &z(&["/big", "0", "0"]));
    p.step(0, DIRECTORY_PART, 0, &z(&["/nothere", "0"]));
    p.step(0, RM, 0, &z(&["/big"]));
    p.step(0, DIRECTORY_PART, 0, &z(&["/", "0"]));
}

fn control(p: &mut Pair) {
    p.step(0, CONTROL, 0, &z(&["quota"]));
    p.step(0, CONTROL, 0, &z(&["quota-soft"]));
    p.step(0, CONTROL, 0, &z(&["quota", "set", "nodes", "500"]));
    p.step(0, CONTROL, 0, &z(&["quota"]));
    p.step(0, CONTROL, 0, &z(&["quota", "set", "nodes", "0"]));
    p.step(0, CONTROL, 0, &z(&["quota", "set", "bogus", "3"]));
    p.step(0, CONTROL, 0, &z(&["quota", "set", "nodes"]));
    p.step(
        0,
        CONTROL,
        0,
        &z(&["quota-soft", "set", "memory", "1000000"]),
    );
    p.step(0, CONTROL, 0, &z(&["quota-soft", "x"]));
    p.step(0, CONTROL, 0, &z(&["quota", "set", "nodes", "1000"]));
    p.step(0, CONTROL, 0, &z(&["log", "on"]));
    p.step(0, CONTROL, 0, &z(&["log", "maybe"]));
    p.step(0, CONTROL, 0, &z(&["log"]));
    p.step(0, CONTROL, 0, &z(&["check"]));
    p.step(0, CONTROL, 0, &z(&["check", "x"]));
    p.step(
        0,
        CONTROL,
        0,
        &z(&["print", "hello from the differential test"]),
    );
    p.step(0, CONTROL, 0, &z(&["nonsense"]));
    p.step(0, CONTROL, 0, b"quota");
    p.step(0, CONTROL, 0, b"");
}

/// Corners: transactions interleaved on one connection, deletes and permission changes inside
/// transactions, malformed domain requests, pipelining.
fn edges(p: &mut Pair) {
    p.step(1, WATCH, 0, &z(&["/e", "all"]));
    p.step(1, WATCH, 0, &z(&["/e/sub/leaf", "leaf"]));
    p.step(0, WRITE, 0, b"/e/sub/leaf\0l");
    p.step(0, WRITE, 0, b"/e/x\0x0");
    // Two open transactions on one connection touching the same node.
    p.step(0, TX_START, 0, b"\0");
    p.step(0, TX_START, 0, b"\0");
    p.step(0, WRITE, 1, b"/e/x\0from1");
    p.step(0, WRITE, 2, b"/e/x\0from2");
    p.step(0, TX_END, 1, &z(&["T"]));
    p.step(0, TX_END, 2, &z(&["T"]));
    p.step(0, READ, 0, &z(&["/e/x"]));
    // Removal and permission changes inside a transaction fire at commit, in first-touch order.
    p.step(0, TX_START, 0, b"\0");
    p.step(0, SET_PERMS, 3, &z(&["/e/x", "n0", "r3"]));
    p.step(0, RM, 3, &z(&["/e/sub"]));
    p.step(0, MKDIR, 3, &z(&["/e/x"]));
    p.step(0, WRITE, 3, b"/e/new/a\0a");
    p.step(0, WRITE, 3, b"/e/new/b\0b");
    p.step(0, DIRECTORY_PART, 3, &z(&["/e/new", "0"]));
    p.step(0, DIRECTORY, 3, &z(&["/e"]));
    p.step(0, TX_END, 3, &z(&["T"]));
    p.step(0, DIRECTORY_PART, 0, &z(&["/e", "0"]));
    p.step(0, GET_PERMS, 0, &z(&["/e/x"]));
    // A parent deleted outside a transaction that creates under it.
    p.step(0, TX_START, 0, b"\0");
    p.step(0, WRITE, 4, b"/e/new/c\0c");
    p.step(1, RM, 0, &z(&["/e/new"]));
    p.step(0, TX_END, 4, &z(&["T"]));
    p.step(0, READ, 0, &z(&["/e/new/c"]));
    // A node deleted outside after the transaction read it; one created outside unseen.
    p.step(0, TX_START, 0, b"\0");
    p.step(0, READ, 5, &z(&["/e/x"]));
    p.step(1, WRITE, 0, b"/e/unseen\0u");
    p.step(0, TX_END, 5, &z(&["T"]));
    p.step(0, TX_START, 0, b"\0");
    p.step(0, READ, 6, &z(&["/e/x"]));
    p.step(1, RM, 0, &z(&["/e/x"]));
    p.step(0, TX_END, 6, &z(&["T"]));
    // Odd payloads.
    p.step(0, TX_START, 0, b"garbage");
    p.step(0, TX_END, 7, b"T\0\0");
    p.step(0, TX_END, 7, b"F\0");
    p.step(0, WRITE, 0, b"\0empty-path");
    p.step(0, READ, 0, &z(&["@introduceDomain"]));
    p.step(0, RM, 0, &z(&[""]));
    p.step(0, DIRECTORY, 0, &z(&["/e/unseen"]));
    p.step(0, GET_PERMS, 0, &z(&["/"]));
    p.step(0, SET_PERMS, 0, &z(&["/", "n0", "r3"]));
    p.step(0, GET_PERMS, 0, &z(&["/"]));
    p.step(0, SET_PERMS, 0, &z(&["/", "n0"]));
    p.step(0, WATCH, 0, &z(&["a.b", "dot"]));
    p.step(0, INTRODUCE, 0, &z(&["8", "0"]));
    p.step(0, INTRODUCE, 0, &z(&["8", "0", "0"]));
    p.step(0, INTRODUCE, 0, &z(&["8", "0", "abc"]));
    p.step(0, RESUME, 0, &z(&["0"]));
    p.step(0, RESUME, 0, b"8");
    // Pipelined requests, with events in between.
    p.pipeline(
        1,
        &[
            (WRITE, 0, b"/e/p1\0one"),
            (READ, 0, b"/e/p1\0"),
            (MKDIR, 0, b"/e/p2\0"),
            (RM, 0, b"/e/p1\0"),
            (DIRECTORY, 0, b"/e\0"),
            (READ, 0, b"/e/p1\0"),
        ],
    );
    p.step(1, RESET_WATCHES, 0, b"\0");
}

/// dom0's kernel on its own ring: privileged, relative paths under `/local/domain/0`, watches.
fn dom0_ring(p: &mut Pair, rigs: &Rigs) {
    let k = p.add_dom0_ring(rigs);
    p.step(k, WATCH, 0, &z(&["device", "kernel"]));
    p.step(k, WATCH, 0, &z(&["/local/domain/0/backend", "backend"]));
    p.step(k, WRITE, 0, b"control/feature-poweroff\x001");
    p.step(
        k,
        READ,
        0,
        &z(&["/local/domain/0/control/feature-poweroff"]),
    );
    p.step(0, WRITE, 0, b"/local/domain/0/device/vbd/51712/state\x001");
    p.step(k, READ, 0, &z(&["/tool/xenstored"]));
    p.step(k, GET_PERMS, 0, &z(&["device/vbd"]));
    p.step(k, CONTROL, 0, &z(&["quota-soft"]));
    p.step(k, IS_INTRODUCED, 0, &z(&["0"]));
    p.step(k, TX_START, 0, b"\0");
    p.step(
        k,
        WRITE,
        1,
        b"/local/domain/0/backend/vbd/1/51712/state\x002",
    );
    p.step(k, TX_END, 1, &z(&["T"]));
    p.step(k, SET_TARGET, 0, &z(&["0", "0"]));
    p.step(k, RESET_WATCHES, 0, b"\0");
    p.step(0, INTRODUCE, 0, &z(&["0", "0", "1"]));
    p.step(k, READ, 0, &z(&["control/feature-poweroff"]));
}

/// Unprivileged domains on rings: permissions, quotas, relative paths, watch filtering,
/// `SET_TARGET`, `RELEASE` and domid reuse.
fn domains(p: &mut Pair, rigs: &Rigs) {
    p.step(1, WATCH, 0, &z(&["@introduceDomain", "intro"]));
    p.step(1, WATCH, 0, &z(&["@releaseDomain", "release"]));
    p.step(1, WATCH, 0, &z(&["/local/domain", "dom"]));
    p.step(0, INTRODUCE, 0, &z(&["5", "0", "7"]));
    let g5 = p.add_guest(rigs, 5);
    p.step(0, IS_INTRODUCED, 0, &z(&["5"]));
    p.step(0, MKDIR, 0, &z(&["/local/domain/5"]));
    p.step(0, SET_PERMS, 0, &z(&["/local/domain/5", "n0", "r5"]));
    p.step(0, MKDIR, 0, &z(&["/local/domain/5/data"]));
    p.step(0, SET_PERMS, 0, &z(&["/local/domain/5/data", "n5"]));
    p.step(0, WRITE, 0, b"/local/domain/5/name\0guest");
    // Reads: own area, relative paths, dom0's nodes.
    p.step(g5, READ, 0, &z(&["name"]));
    p.step(g5, READ, 0, &z(&["/local/domain/5/name"]));
    p.step(g5, GET_PERMS, 0, &z(&["name"]));
    p.step(g5, READ, 0, &z(&["/tool/xenstored"]));
    p.step(g5, READ, 0, &z(&["/nothere"]));
    p.step(g5, READ, 0, &z(&["data/nothere"]));
    p.step(g5, READ, 0, &z(&["nothere"]));
    p.step(g5, DIRECTORY, 0, &z(&["/"]));
    p.step(g5, DIRECTORY, 0, &z(&["/local/domain/5"]));
    p.step(g5, GET_DOMAIN_PATH, 0, &z(&["5"]));
    // Writes: only where it may; what it creates it owns.
    p.step(g5, WRITE, 0, b"name\0renamed");
    p.step(g5, WRITE, 0, b"newnode\0x");
    p.step(g5, WRITE, 0, b"/tool/x\0x");
    p.step(g5, MKDIR, 0, &z(&["/local/domain/5/other"]));
    p.step(g5, RM, 0, &z(&["name"]));
    p.step(g5, WRITE, 0, b"data/x\0v1");
    p.step(g5, WRITE, 0, b"data/sub/deep\0d");
    p.step(g5, GET_PERMS, 0, &z(&["data/sub/deep"]));
    p.step(g5, DIRECTORY, 0, &z(&["data"]));
    // Permissions.
    p.step(g5, SET_PERMS, 0, &z(&["data/x", "n5", "r0", "b6"]));
    p.step(g5, GET_PERMS, 0, &z(&["data/x"]));
    p.step(g5, SET_PERMS, 0, &z(&["data/x", "n6"]));
    p.step(
        g5,
        SET_PERMS,
        0,
        &z(&["data/x", "n5", "r1", "r2", "r3", "r4", "r6"]),
    );
    p.step(
        g5,
        SET_PERMS,
        0,
        &z(&["data/x", "n5", "r1", "r2", "r3", "r4"]),
    );
    p.step(g5, SET_PERMS, 0, &z(&["/local/domain/5", "n5"]));
    p.step(g5, SET_PERMS, 0, &z(&["name", "n5"]));
    p.step(g5, SET_PERMS, 0, &z(&["@releaseDomain", "n5"]));
    p.step(g5, SET_PERMS, 0, &z(&["data/x", "n5", "r65535"]));
    p.step(g5, SET_PERMS, 0, &z(&["data/x", "n65535"]));
    // Privileged-only requests.
    p.step(g5, CONTROL, 0, &z(&["quota"]));
    p.step(g5, INTRODUCE, 0, &z(&["6", "0", "1"]));
    p.step(g5, IS_INTRODUCED, 0, &z(&["5"]));
    p.step(g5, RELEASE, 0, &z(&["5"]));
    p.step(g5, SET_TARGET, 0, &z(&["5", "0"]));
    p.step(g5, RESUME, 0, &z(&["5"]));
    // Node size: the record (24 + 8 per perm + value + child names) must stay below 2048.
    p.step(
        g5,
        WRITE,
        0,
        &[b"data/s\0".as_slice(), &[b'v'; 2015]].concat(),
    );
    p.step(
        g5,
        WRITE,
        0,
        &[b"data/s\0".as_slice(), &[b'v'; 2016]].concat(),
    );
    p.step(g5, READ, 0, &z(&["data/s"]));
    for i in 0..11 {
        let name = format!("data/{i:0200}");
        p.step(g5, WRITE, 0, format!("{name}\0").as_bytes());
    }
    p.step(g5, RM, 0, &z(&["data"]));
    p.step(g5, MKDIR, 0, &z(&["data"]));
    p.step(0, MKDIR, 0, &z(&["/local/domain/5/data"]));
    p.step(0, SET_PERMS, 0, &z(&["/local/domain/5/data", "n5"]));
    p.step(g5, WRITE, 0, b"data/x\0v1");
    // Watches: filtered by read permission, relative events.
    p.step(g5, WATCH, 0, &z(&["/tool", "tool"]));
    p.step(g5, WATCH, 0, &z(&["data", "rel"]));
    p.step(g5, WATCH, 0, &z(&["@introduceDomain", "i"]));
    p.step(0, WRITE, 0, b"/tool/secret\0s");
    p.step(0, WRITE, 0, b"/local/domain/5/data/fromdom0\0x");
    p.step(
        0,
        SET_PERMS,
        0,
        &z(&["/local/domain/5/data/fromdom0", "n0"]),
    );
    p.step(0, WRITE, 0, b"/local/domain/5/data/fromdom0\0y");
    p.step(0, RM, 0, &z(&["/local/domain/5/data/fromdom0"]));
    p.step(g5, RESET_WATCHES, 0, b"\0");
    // Transactions: conflicts and the node and transaction quotas.
    p.step(g5, TX_START, 0, b"\0");
    p.step(g5, READ, 1, &z(&["data"]));
    p.step(0, WRITE, 0, b"/local/domain/5/data/c\0c");
    p.step(g5, WRITE, 1, b"data/t\0t");
    p.step(g5, TX_END, 1, &z(&["T"]));
    p.step(0, CONTROL, 0, &z(&["quota", "set", "transactions", "2"]));
    for _ in 0..4 {
        p.step(g5, TX_START, 0, b"\0");
    }
    p.step(g5, RESET_WATCHES, 0, b"\0");
    p.step(0, CONTROL, 0, &z(&["quota", "set", "transactions", "10"]));
    p.step(
        0,
        CONTROL,
        0,
        &z(&["quota", "set", "transaction-nodes", "4"]),
    );
    p.step(g5, TX_START, 0, b"\0");
    for n in ["data", "data/a", "data/b", "data/c", "data/d"] {
        p.step(g5, READ, 5, &z(&[n]));
    }
    p.step(g5, TX_END, 5, &z(&["T"]));
    p.step(
        0,
        CONTROL,
        0,
        &z(&["quota", "set", "transaction-nodes", "1024"]),
    );
    p.step(0, CONTROL, 0, &z(&["quota", "set", "nodes", "8"]));
    for i in 0..8 {
        p.step(g5, WRITE, 0, format!("data/n{i}\0x").as_bytes());
    }
    p.step(g5, TX_START, 0, b"\0");
    p.step(g5, WRITE, 6, b"data/tx-n\0x");
    p.step(g5, TX_END, 6, &z(&["T"]));
    p.step(0, CONTROL, 0, &z(&["quota", "set", "nodes", "1000"]));
    p.step(0, CONTROL, 0, &z(&["quota", "set", "watches", "3"]));
    for i in 0..6 {
        p.step(g5, WATCH, 0, &z(&[&format!("data/w{i}"), "w"]));
    }
    p.step(g5, RESET_WATCHES, 0, b"\0");
    p.step(0, CONTROL, 0, &z(&["quota", "set", "watches", "128"]));
    // SET_TARGET: domain 6 acts with domain 5's rights.
    p.step(0, INTRODUCE, 0, &z(&["6", "0", "8"]));
    let g6 = p.add_guest(rigs, 6);
    p.step(g6, READ, 0, &z(&["/local/domain/5/data/n0"]));
    p.step(0, SET_TARGET, 0, &z(&["6", "5"]));
    p.step(0, SET_TARGET, 0, &z(&["6", "9"]));
    p.step(g6, READ, 0, &z(&["/local/domain/5/data/n0"]));
    p.step(g6, WRITE, 0, b"/local/domain/5/data/by6\0x");
    p.step(g6, GET_PERMS, 0, &z(&["/local/domain/5/data/by6"]));
    // INTRODUCE of an introduced domain drops its watches and transactions.
    p.step(g6, WATCH, 0, &z(&["/local/domain/5/data", "six"]));
    p.step(0, INTRODUCE, 0, &z(&["6", "0", "8"]));
    p.step(0, WRITE, 0, b"/local/domain/5/data/after\0x");
    // A target of dom0 gives dom0's rights over what dom0 owns.
    p.step(g6, READ, 0, &z(&["/tool/xenstored"]));
    p.step(0, SET_TARGET, 0, &z(&["6", "0"]));
    p.step(g6, READ, 0, &z(&["/tool/xenstored"]));
    p.step(g6, WRITE, 0, b"/tool/by6\0x");
    p.step(0, RM, 0, &z(&["/tool/by6"]));
    // RELEASE: the domain's nodes go, @releaseDomain fires; its domid's permissions lapse.
    p.drop_endpoint(g6);
    p.step(0, RELEASE, 0, &z(&["6"]));
    p.drop_endpoint(g5);
    p.step(0, RELEASE, 0, &z(&["5"]));
    p.step(0, IS_INTRODUCED, 0, &z(&["5"]));
    p.step(0, DIRECTORY, 0, &z(&["/local/domain/5"]));
    p.step(0, GET_PERMS, 0, &z(&["/local/domain/5"]));
    p.step(0, INTRODUCE, 0, &z(&["5", "0", "7"]));
    let g5 = p.add_guest(rigs, 5);
    p.step(g5, READ, 0, &z(&["name"]));
    p.step(0, SET_PERMS, 0, &z(&["/local/domain/5", "n0", "r5"]));
    p.step(g5, READ, 0, &z(&["name"]));
    p.drop_endpoint(g5);
    p.step(0, RELEASE, 0, &z(&["5"]));
}

#[test]
fn differential_same_replies_and_events_as_c_xenstored() {
    if !Path::new(C_XENSTORED).exists() {
        println!("SKIPPED: {C_XENSTORED} is missing (Debian package xen-utils-4.17)");
        return;
    }
    let dir = TempDir::new("diff");
    let shim = build_shim(&dir.0);
    let c = start_c(&dir.0, &shim);
    let r_rings = dir.0.join("r-rings");
    std::fs::create_dir_all(&r_rings).expect("mkdir");
    let r = start_ours(
        &dir.0,
        &["--ring-dir", r_rings.to_str().expect("utf-8 temp path")],
    );
    let rigs = Rigs {
        c_rings: dir.0.join("c-rings"),
        r_rings,
    };
    type Script = fn(&mut Pair);
    let scripts: [(&str, Script, usize); 7] = [
        ("basics", basics, 1),
        ("perms", perms, 1),
        ("transactions", transactions, 2),
        ("watches", watches, 2),
        ("directory_part", directory_part, 1),
        ("control", control, 1),
        ("edges", edges, 2),
    ];
    for (name, script, conns) in scripts {
        let mut p = Pair::new(&c, &r, conns);
        script(&mut p);
        p.check(name);
    }
    let mut p = Pair::new(&c, &r, 1);
    dom0_ring(&mut p, &rigs);
    p.check("dom0_ring");
    let mut p = Pair::new(&c, &r, 2);
    domains(&mut p, &rigs);
    p.check("domains");
    report_memory(&c, &r);
}

/// Resident memory of both daemons after 10,000 more nodes (a figure, not an assertion).
fn report_memory(c: &Proc, r: &Proc) {
    let mut rss = Vec::new();
    for proc in [c, r] {
        let before = common::rss_kib(proc.child.id());
        let mut client = Client::connect(&proc.socket);
        for chunk in 0..100 {
            for i in 0..100 {
                let path = format!("/mem/d{chunk}/node{i}\0value-{chunk}-{i}");
                client.send(WRITE, 0, path.as_bytes());
            }
            for _ in 0..100 {
                client.recv().expect("reply");
            }
        }
        rss.push((before, common::rss_kib(proc.child.id())));
    }
    println!(
        "RSS before/after 10,000 nodes: C xenstored {} -> {} KiB, ours {} -> {} KiB",
        rss[0].0, rss[0].1, rss[1].0, rss[1].1
    );
}
