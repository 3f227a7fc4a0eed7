//! Engine tests: each message type's outcome, permissions, transactions, watches and quotas,
//! and property tests of the tree and of the transaction conflict rule against simple models.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use xen_abi::Errno;

use super::*;

/// Rings that always map (the engine's view of a domain without any I/O).
#[derive(Default)]
struct AnyRing;

impl DomainConnector for AnyRing {
    fn connect(&mut self, _domid: u32, _port: u32) -> Result<(), Errno> {
        Ok(())
    }
    fn reset(&mut self, _domid: u32, _port: u32) {}
    fn disconnect(&mut self, _domid: u32) {}
}

type X = Xenstored<AnyRing>;

const READ: u32 = 2;
const GET_PERMS: u32 = 3;
const WATCH: u32 = 4;
const TX_START: u32 = 6;
const TX_END: u32 = 7;
const INTRODUCE: u32 = 8;
const RELEASE: u32 = 9;
const WRITE: u32 = 11;
const MKDIR: u32 = 12;
const RM: u32 = 13;
const SET_PERMS: u32 = 14;
const EVENT: u32 = 15;
const ERROR: u32 = 16;
const SET_TARGET: u32 = 19;
const RESET_WATCHES: u32 = 21;
const DIRECTORY: u32 = 1;

fn z(parts: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(p.as_bytes());
        v.push(0);
    }
    v
}

fn new() -> (X, ConnId) {
    let mut x = Xenstored::with_connector(AnyRing, Quota::default());
    let s = x.new_connection(ConnKind::Socket);
    (x, s)
}

/// Sends a request; returns the reply (not the events).
fn req(x: &mut X, c: ConnId, kind: u32, tx: u32, payload: &[u8]) -> Message {
    let m = Message {
        kind,
        req_id: 1,
        tx_id: tx,
        payload: payload.to_vec(),
    };
    x.handle(c, &m);
    let out = x.take_output(c);
    let replies: Vec<_> = out.into_iter().filter(|m| m.kind != EVENT).collect();
    assert_eq!(replies.len(), 1, "one reply per request");
    replies.into_iter().next().expect("one reply")
}

/// Like `req`, keeping the events (in order) and the reply.
fn req_all(x: &mut X, c: ConnId, kind: u32, tx: u32, payload: &[u8]) -> Vec<Message> {
    x.handle(
        c,
        &Message {
            kind,
            req_id: 1,
            tx_id: tx,
            payload: payload.to_vec(),
        },
    );
    x.take_output(c)
}

fn ok(x: &mut X, c: ConnId, kind: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
    let m = req(x, c, kind, tx, payload);
    assert_ne!(
        m.kind,
        ERROR,
        "unexpected {}",
        String::from_utf8_lossy(&m.payload)
    );
    m.payload
}

fn err(x: &mut X, c: ConnId, kind: u32, tx: u32, payload: &[u8]) -> String {
    let m = req(x, c, kind, tx, payload);
    assert_eq!(
        m.kind,
        ERROR,
        "expected an error, got {:?}",
        String::from_utf8_lossy(&m.payload)
    );
    String::from_utf8_lossy(m.payload.strip_suffix(&[0]).unwrap_or(&m.payload)).into_owned()
}

fn events(x: &mut X, c: ConnId) -> Vec<String> {
    x.take_output(c)
        .into_iter()
        .filter(|m| m.kind == EVENT)
        .map(|m| {
            String::from_utf8_lossy(&m.payload)
                .replace('\0', " ")
                .trim_end()
                .to_string()
        })
        .collect()
}

/// Introduces `domid` and returns its connection.
fn domain(x: &mut X, dom0: ConnId, domid: u32) -> ConnId {
    ok(x, dom0, INTRODUCE, 0, &z(&[&domid.to_string(), "0", "1"]));
    x.domain_conn(domid)
        .expect("introduced domain has a connection")
}

#[test]
fn initial_tree_is_root_tool_xenstored_owned_by_dom0() {
    let (mut x, s) = new();
    assert_eq!(ok(&mut x, s, DIRECTORY, 0, &z(&["/"])), z(&["tool"]));
    assert_eq!(
        ok(&mut x, s, DIRECTORY, 0, &z(&["/tool"])),
        z(&["xenstored"])
    );
    assert_eq!(
        ok(&mut x, s, GET_PERMS, 0, &z(&["/tool/xenstored"])),
        z(&["n0"])
    );
    assert_eq!(err(&mut x, s, READ, 0, &z(&["/local"])), "ENOENT");
}

#[test]
fn write_creates_parents_and_read_returns_value_without_nul() {
    let (mut x, s) = new();
    assert_eq!(ok(&mut x, s, WRITE, 0, b"/a/b/c\0v\0w"), b"OK\0");
    assert_eq!(ok(&mut x, s, READ, 0, &z(&["/a/b/c"])), b"v\0w");
    assert_eq!(ok(&mut x, s, READ, 0, &z(&["/a/b"])), b"");
    assert_eq!(ok(&mut x, s, DIRECTORY, 0, &z(&["/a"])), z(&["b"]));
}

#[test]
fn rm_missing_node_is_ok_only_if_parent_exists() {
    let (mut x, s) = new();
    ok(&mut x, s, MKDIR, 0, &z(&["/a"]));
    assert_eq!(ok(&mut x, s, RM, 0, &z(&["/a/b"])), b"OK\0");
    assert_eq!(err(&mut x, s, RM, 0, &z(&["/a/b/c"])), "ENOENT");
    assert_eq!(err(&mut x, s, RM, 0, &z(&["/"])), "EINVAL");
}

#[test]
fn malformed_requests_are_einval_and_unknown_types_enosys() {
    let (mut x, s) = new();
    assert_eq!(err(&mut x, s, READ, 0, b"/a"), "EINVAL");
    assert_eq!(err(&mut x, s, READ, 0, &z(&["/a", "b"])), "EINVAL");
    assert_eq!(err(&mut x, s, READ, 0, &z(&["/a/"])), "EINVAL");
    assert_eq!(err(&mut x, s, WRITE, 0, b"/a"), "EINVAL");
    assert_eq!(err(&mut x, s, WATCH, 0, &z(&["/a"])), "EINVAL");
    assert_eq!(err(&mut x, s, 20, 0, b""), "ENOSYS");
    assert_eq!(err(&mut x, s, 1000, 0, b""), "ENOSYS");
}

#[test]
fn unprivileged_read_needs_r_and_missing_nodes_hide_behind_eacces() {
    let (mut x, s) = new();
    let d5 = domain(&mut x, s, 5);
    ok(&mut x, s, WRITE, 0, b"/secret\0s");
    assert_eq!(err(&mut x, d5, READ, 0, &z(&["/secret"])), "EACCES");
    assert_eq!(err(&mut x, d5, READ, 0, &z(&["/nothere"])), "EACCES");
    ok(&mut x, s, SET_PERMS, 0, &z(&["/secret", "n0", "r5"]));
    assert_eq!(ok(&mut x, d5, READ, 0, &z(&["/secret"])), b"s");
    assert_eq!(err(&mut x, d5, READ, 0, &z(&["/secret/x"])), "ENOENT");
    assert_eq!(err(&mut x, d5, WRITE, 0, b"/secret\0t"), "EACCES");
    // The owner's letter applies to every domain not listed.
    ok(&mut x, s, SET_PERMS, 0, &z(&["/secret", "r0", "n5"]));
    assert_eq!(err(&mut x, d5, READ, 0, &z(&["/secret"])), "EACCES");
    let d6 = domain(&mut x, s, 6);
    assert_eq!(ok(&mut x, d6, READ, 0, &z(&["/secret"])), b"s");
}

#[test]
fn unprivileged_creator_owns_new_nodes_and_relative_paths_are_under_its_domain() {
    let (mut x, s) = new();
    let d5 = domain(&mut x, s, 5);
    ok(&mut x, s, MKDIR, 0, &z(&["/local/domain/5"]));
    ok(
        &mut x,
        s,
        SET_PERMS,
        0,
        &z(&["/local/domain/5", "n0", "b5", "r7"]),
    );
    ok(&mut x, d5, WRITE, 0, b"a/b\0x");
    assert_eq!(ok(&mut x, s, READ, 0, &z(&["/local/domain/5/a/b"])), b"x");
    assert_eq!(
        ok(&mut x, s, GET_PERMS, 0, &z(&["/local/domain/5/a/b"])),
        z(&["n5", "b5", "r7"])
    );
    assert_eq!(err(&mut x, d5, SET_PERMS, 0, &z(&["a/b", "n6"])), "EPERM");
    assert_eq!(
        err(&mut x, d5, SET_PERMS, 0, &z(&["/local/domain/5", "n5"])),
        "EACCES"
    );
    ok(&mut x, d5, SET_PERMS, 0, &z(&["a/b", "n5", "r6"]));
}

#[test]
fn set_target_lets_a_domain_act_with_its_targets_rights() {
    let (mut x, s) = new();
    let d5 = domain(&mut x, s, 5);
    let d9 = domain(&mut x, s, 9);
    ok(&mut x, s, WRITE, 0, b"/guest\0g");
    ok(&mut x, s, SET_PERMS, 0, &z(&["/guest", "n5"]));
    assert_eq!(err(&mut x, d9, READ, 0, &z(&["/guest"])), "EACCES");
    ok(&mut x, s, SET_TARGET, 0, &z(&["9", "5"]));
    assert_eq!(ok(&mut x, d9, READ, 0, &z(&["/guest"])), b"g");
    assert_eq!(ok(&mut x, d5, READ, 0, &z(&["/guest"])), b"g");
    assert_eq!(err(&mut x, d5, SET_TARGET, 0, &z(&["9", "5"])), "EACCES");
    assert_eq!(err(&mut x, s, SET_TARGET, 0, &z(&["9", "77"])), "ENOENT");
}

#[test]
fn transaction_read_node_changed_outside_commit_is_eagain() {
    let (mut x, s) = new();
    let other = x.new_connection(ConnKind::Socket);
    ok(&mut x, s, WRITE, 0, b"/a\0a0");
    let t = ok(&mut x, s, TX_START, 0, b"\0");
    assert_eq!(t, b"1\0");
    ok(&mut x, s, READ, 1, &z(&["/a"]));
    ok(&mut x, s, WRITE, 1, b"/b\0b1");
    // Not visible outside before the commit.
    assert_eq!(err(&mut x, other, READ, 0, &z(&["/b"])), "ENOENT");
    ok(&mut x, other, WRITE, 0, b"/a\0changed");
    assert_eq!(err(&mut x, s, TX_END, 1, &z(&["T"])), "EAGAIN");
    assert_eq!(err(&mut x, s, READ, 0, &z(&["/b"])), "ENOENT");
    // The transaction is gone either way.
    assert_eq!(err(&mut x, s, READ, 1, &z(&["/a"])), "ENOENT");
    assert_eq!(x.transaction_count(s), 0);
}

#[test]
fn transaction_commit_applies_writes_and_fires_watches_once() {
    let (mut x, s) = new();
    let w = x.new_connection(ConnKind::Socket);
    ok(&mut x, w, WATCH, 0, &z(&["/t", "tok"]));
    ok(&mut x, s, TX_START, 0, b"\0");
    ok(&mut x, s, WRITE, 1, b"/t/a\0x");
    ok(&mut x, s, WRITE, 1, b"/t/a\0y");
    assert!(events(&mut x, w).is_empty());
    ok(&mut x, s, TX_END, 1, &z(&["T"]));
    assert_eq!(events(&mut x, w), ["/t/a tok"]);
    assert_eq!(ok(&mut x, s, READ, 0, &z(&["/t/a"])), b"y");
}

#[test]
fn transaction_errors_follow_xen() {
    let (mut x, s) = new();
    assert_eq!(err(&mut x, s, TX_END, 0, &z(&["T"])), "ENOENT");
    assert_eq!(err(&mut x, s, READ, 42, &z(&["/"])), "ENOENT");
    ok(&mut x, s, TX_START, 0, b"\0");
    assert_eq!(err(&mut x, s, TX_START, 1, b"\0"), "EBUSY");
    assert_eq!(err(&mut x, s, TX_END, 1, &z(&["X"])), "EINVAL");
    ok(&mut x, s, TX_END, 1, &z(&["F"]));
}

#[test]
fn reset_watches_inside_a_transaction_drops_it_cleanly() {
    let (mut x, s) = new();
    ok(&mut x, s, TX_START, 0, b"\0");
    ok(&mut x, s, WATCH, 0, &z(&["/w", "t"]));
    ok(&mut x, s, RESET_WATCHES, 1, b"\0");
    assert_eq!(x.transaction_count(s), 0);
    assert_eq!(x.watch_count(s), 0);
    assert_eq!(err(&mut x, s, TX_END, 1, &z(&["T"])), "ENOENT");
}

#[test]
fn watch_fires_for_subtree_relative_and_not_for_siblings() {
    let (mut x, s) = new();
    let w = x.new_connection(ConnKind::Socket);
    let out = req_all(&mut x, w, WATCH, 0, &z(&["rel", "r"]));
    assert_eq!(out.len(), 2, "ack then the initial event");
    assert_eq!(out[0].payload, b"OK\0");
    assert_eq!(out[1].payload, z(&["rel", "r"]));
    ok(&mut x, s, WRITE, 0, b"/local/domain/0/rel/x\0v");
    ok(&mut x, s, WRITE, 0, b"/local/domain/0/relative\0v");
    assert_eq!(events(&mut x, w), ["rel/x r"]);
    assert_eq!(err(&mut x, w, WATCH, 0, &z(&["rel", "r"])), "EEXIST");
}

#[test]
fn rm_fires_descendants_exactly_then_the_node() {
    let (mut x, s) = new();
    let w = x.new_connection(ConnKind::Socket);
    ok(&mut x, s, WRITE, 0, b"/r/a/b\0v");
    ok(&mut x, w, WATCH, 0, &z(&["/r/a/b", "deep"]));
    ok(&mut x, w, WATCH, 0, &z(&["/r", "top"]));
    ok(&mut x, w, WATCH, 0, &z(&["/r/a/b/c", "below"]));
    events(&mut x, w);
    ok(&mut x, s, RM, 0, &z(&["/r/a"]));
    assert_eq!(events(&mut x, w), ["/r/a/b deep", "/r/a top"]);
}

#[test]
fn watch_events_are_filtered_by_read_permission() {
    let (mut x, s) = new();
    let d5 = domain(&mut x, s, 5);
    ok(&mut x, d5, WATCH, 0, &z(&["/", "all"]));
    events(&mut x, d5);
    ok(&mut x, s, WRITE, 0, b"/hidden\0h");
    assert!(events(&mut x, d5).is_empty());
    ok(&mut x, s, WRITE, 0, b"/shown\0h");
    ok(&mut x, s, SET_PERMS, 0, &z(&["/shown", "n0", "r5"]));
    assert_eq!(events(&mut x, d5), ["/shown all"]);
    // Losing the permission still tells the watcher (the old permissions are checked).
    ok(&mut x, s, SET_PERMS, 0, &z(&["/shown", "n0"]));
    assert_eq!(events(&mut x, d5), ["/shown all"]);
    ok(&mut x, s, WRITE, 0, b"/shown\0again");
    assert!(events(&mut x, d5).is_empty());
}

#[test]
fn special_watches_reach_privileged_watchers_only_until_perms_allow() {
    let (mut x, s) = new();
    let w = x.new_connection(ConnKind::Socket);
    let d5 = domain(&mut x, s, 5);
    ok(&mut x, w, WATCH, 0, &z(&["@introduceDomain", "i"]));
    ok(&mut x, d5, WATCH, 0, &z(&["@introduceDomain", "i"]));
    events(&mut x, w);
    events(&mut x, d5);
    domain(&mut x, s, 6);
    assert_eq!(events(&mut x, w), ["@introduceDomain i"]);
    assert!(events(&mut x, d5).is_empty());
    ok(
        &mut x,
        s,
        SET_PERMS,
        0,
        &z(&["@introduceDomain", "n0", "r5"]),
    );
    domain(&mut x, s, 7);
    assert_eq!(events(&mut x, d5), ["@introduceDomain i"]);
}

#[test]
fn release_deletes_owned_nodes_and_fires_release_domain() {
    let (mut x, s) = new();
    let w = x.new_connection(ConnKind::Socket);
    let d5 = domain(&mut x, s, 5);
    ok(&mut x, s, MKDIR, 0, &z(&["/local/domain/5"]));
    ok(&mut x, s, SET_PERMS, 0, &z(&["/local/domain/5", "n5"]));
    ok(&mut x, d5, WRITE, 0, b"x\0y");
    ok(&mut x, w, WATCH, 0, &z(&["@releaseDomain", "r"]));
    events(&mut x, w);
    ok(&mut x, s, RELEASE, 0, &z(&["5"]));
    assert_eq!(events(&mut x, w), ["@releaseDomain r"]);
    assert_eq!(err(&mut x, s, READ, 0, &z(&["/local/domain/5"])), "ENOENT");
    assert_eq!(err(&mut x, s, RELEASE, 0, &z(&["5"])), "ENOENT");
    assert_eq!(x.domain_conn(5), None);
}

const RESUME: u32 = 18;

#[test]
fn check_domains_fires_release_domain_once_per_shutdown_until_resume() {
    let (mut x, s) = new();
    let w = x.new_connection(ConnKind::Socket);
    domain(&mut x, s, 5);
    domain(&mut x, s, 6);
    ok(&mut x, w, WATCH, 0, &z(&["@releaseDomain", "r"]));
    events(&mut x, w);
    let running = DomainState::default();
    let down = DomainState {
        shutdown: true,
        dying: false,
    };
    // Nothing changed: no event.
    x.check_domains(|_| Some(running));
    assert!(events(&mut x, w).is_empty());
    // Two domains shut down at once: one event; again: none (already noted).
    x.check_domains(|_| Some(down));
    assert_eq!(events(&mut x, w), ["@releaseDomain r"]);
    x.check_domains(|_| Some(down));
    assert!(events(&mut x, w).is_empty());
    // RESUME forgets the shutdown (a suspended domain resumed): the next one fires again.
    ok(&mut x, s, RESUME, 0, &z(&["5"]));
    x.check_domains(|_| Some(down));
    assert_eq!(events(&mut x, w), ["@releaseDomain r"]);
    assert!(x.domain_conn(5).is_some() && x.domain_conn(6).is_some());
}

#[test]
fn check_domains_releases_dying_and_vanished_domains_with_their_nodes() {
    let (mut x, s) = new();
    let w = x.new_connection(ConnKind::Socket);
    let d5 = domain(&mut x, s, 5);
    domain(&mut x, s, 6);
    domain(&mut x, s, 7);
    ok(&mut x, s, MKDIR, 0, &z(&["/local/domain/5"]));
    ok(&mut x, s, SET_PERMS, 0, &z(&["/local/domain/5", "n5"]));
    ok(&mut x, d5, WRITE, 0, b"x\0y");
    ok(&mut x, w, WATCH, 0, &z(&["@releaseDomain", "r"]));
    events(&mut x, w);
    x.check_domains(|d| match d {
        5 => Some(DomainState {
            shutdown: true,
            dying: true,
        }),
        6 => None,
        _ => Some(DomainState::default()),
    });
    // Each release fires, as each of C's destroy_domain does.
    assert_eq!(events(&mut x, w), ["@releaseDomain r", "@releaseDomain r"]);
    assert_eq!(x.domain_conn(5), None);
    assert_eq!(x.domain_conn(6), None);
    assert!(x.domain_conn(7).is_some());
    assert_eq!(err(&mut x, s, READ, 0, &z(&["/local/domain/5"])), "ENOENT");
    assert_eq!(err(&mut x, s, RELEASE, 0, &z(&["6"])), "ENOENT");
    // dom0 is never released, whatever the lookup says.
    x.check_domains(|_| None);
    assert_eq!(x.introduced(), [0]);
}

#[test]
fn a_gone_domain_named_only_in_perms_grants_nothing_to_its_successor() {
    let (mut x, s) = new();
    // Domain 9 is named in a node's permissions before it is ever introduced.
    ok(&mut x, s, WRITE, 0, b"/shared\0v");
    ok(&mut x, s, SET_PERMS, 0, &z(&["/shared", "n0", "r9"]));
    // It dies; a new domain 9 is introduced later: it is younger than the node.
    x.check_domains(|d| (d != 9).then(DomainState::default));
    let d9 = domain(&mut x, s, 9);
    assert_eq!(err(&mut x, d9, READ, 0, &z(&["/shared"])), "EACCES");
}

#[test]
fn quota_nodes_per_domain_is_enospc() {
    let (mut x, s) = new();
    x.quota.nodes = 3;
    let d5 = domain(&mut x, s, 5);
    ok(&mut x, s, MKDIR, 0, &z(&["/local/domain/5"]));
    ok(
        &mut x,
        s,
        SET_PERMS,
        0,
        &z(&["/local/domain/5", "n0", "b5"]),
    );
    for i in 0..3 {
        ok(&mut x, d5, WRITE, 0, format!("n{i}\0x").as_bytes());
    }
    assert_eq!(err(&mut x, d5, WRITE, 0, b"n3\0x"), "ENOSPC");
    // A failed multi-level create leaves nothing behind.
    assert_eq!(err(&mut x, d5, WRITE, 0, b"p/q/r\0x"), "ENOSPC");
    assert_eq!(
        err(&mut x, s, READ, 0, &z(&["/local/domain/5/p"])),
        "ENOENT"
    );
    // dom0 is exempt.
    for i in 0..10 {
        ok(&mut x, s, WRITE, 0, format!("/d0/n{i}\0x").as_bytes());
    }
}

#[test]
fn quota_node_size_counts_value_perms_and_children() {
    let (mut x, s) = new();
    let d5 = domain(&mut x, s, 5);
    ok(&mut x, s, MKDIR, 0, &z(&["/local/domain/5"]));
    ok(&mut x, s, SET_PERMS, 0, &z(&["/local/domain/5", "n5"]));
    let ok_len = 2048 - 24 - 8 - 1;
    let mut p = b"v\0".to_vec();
    p.extend(vec![b'x'; ok_len]);
    ok(&mut x, d5, WRITE, 0, &p);
    p.push(b'x');
    assert_eq!(err(&mut x, d5, WRITE, 0, &p), "ENOSPC");
    ok(&mut x, s, WRITE, 0, &p);
}

#[test]
fn quota_watches_transactions_perms_and_path() {
    let (mut x, s) = new();
    x.quota.watches = 2;
    x.quota.transactions = 1;
    let d5 = domain(&mut x, s, 5);
    ok(&mut x, s, MKDIR, 0, &z(&["/local/domain/5"]));
    ok(&mut x, s, SET_PERMS, 0, &z(&["/local/domain/5", "n5"]));
    // C checks the count before adding with `>`: quota + 1 are allowed.
    for i in 0..3 {
        ok(&mut x, d5, WATCH, 0, &z(&[&format!("w{i}"), "t"]));
    }
    assert_eq!(err(&mut x, d5, WATCH, 0, &z(&["w9", "t"])), "E2BIG");
    ok(&mut x, d5, TX_START, 0, b"\0");
    ok(&mut x, d5, TX_START, 0, b"\0");
    assert_eq!(err(&mut x, d5, TX_START, 0, b"\0"), "ENOSPC");
    assert_eq!(
        err(
            &mut x,
            d5,
            SET_PERMS,
            0,
            &z(&["w", "n5", "r1", "r2", "r3", "r4", "r6"])
        ),
        "ENOSPC"
    );
    let long = format!("/{}\0", "x".repeat(2048));
    assert_eq!(err(&mut x, s, READ, 0, long.as_bytes()), "EINVAL");
}

#[test]
fn outstanding_replies_stop_reading_an_unprivileged_domain() {
    let (mut x, s) = new();
    let d5 = domain(&mut x, s, 5);
    for _ in 0..x.quota.outstanding {
        assert!(x.can_accept(d5));
        x.handle(
            d5,
            &Message {
                kind: 10,
                req_id: 0,
                tx_id: 0,
                payload: z(&["5"]),
            },
        );
    }
    assert!(!x.can_accept(d5));
    assert!(x.can_accept(s));
    x.take_output(d5);
    assert!(x.can_accept(d5));
}

#[test]
fn events_for_a_full_connection_are_dropped_and_duplicates_merged() {
    let (mut x, s) = new();
    let w = x.new_connection(ConnKind::Socket);
    ok(&mut x, w, WATCH, 0, &z(&["/e", "t"]));
    events(&mut x, w);
    ok(&mut x, s, WRITE, 0, b"/e\0a");
    ok(&mut x, s, WRITE, 0, b"/e\0b");
    assert_eq!(
        events(&mut x, w),
        ["/e t"],
        "an identical pending event is not queued twice"
    );
    x.quota.memory = 200;
    for i in 0..50 {
        ok(&mut x, s, WRITE, 0, format!("/e/{i}\0v").as_bytes());
    }
    assert!(x.pending_output(w) <= 200);
}

#[test]
fn deep_tree_rm_is_iterative() {
    let (mut x, s) = new();
    let deep = "/d".repeat(1000);
    ok(&mut x, s, WRITE, 0, format!("{deep}\0v").as_bytes());
    ok(&mut x, s, RM, 0, &z(&["/d"]));
    assert_eq!(x.store.len(), 3);
}

#[test]
fn directory_part_chunks_join_to_directory() {
    let (mut x, s) = new();
    for i in 0..400 {
        ok(
            &mut x,
            s,
            MKDIR,
            0,
            &z(&[&format!("/big/entry-with-a-long-name-{i}")]),
        );
    }
    assert_eq!(err(&mut x, s, DIRECTORY, 0, &z(&["/big"])), "E2BIG");
    let mut all = Vec::new();
    let mut off = 0;
    loop {
        let p = ok(&mut x, s, 22, 0, &z(&["/big", &off.to_string()]));
        let gen_end = p.iter().position(|b| *b == 0).expect("generation") + 1;
        let body = &p[gen_end..];
        if body == [0] {
            break;
        }
        let end = body.strip_suffix(&[0, 0]).map(|b| [b, &[0]].concat());
        let chunk = end.clone().unwrap_or_else(|| body.to_vec());
        off += chunk.len();
        all.extend_from_slice(&chunk);
        if end.is_some() {
            break;
        }
    }
    let names: Vec<String> = (0..400)
        .map(|i| format!("entry-with-a-long-name-{i}"))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(all, z(&refs));
}

// ---- property tests ----

#[derive(Clone, Debug)]
enum Op {
    Write(String, u8),
    Mkdir(String),
    Rm(String),
    Read(String),
    Directory(String),
}

fn path_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c")], 1..4)
        .prop_map(|v| format!("/m/{}", v.join("/")))
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        (path_strategy(), any::<u8>()).prop_map(|(p, v)| Op::Write(p, v)),
        path_strategy().prop_map(Op::Mkdir),
        path_strategy().prop_map(Op::Rm),
        path_strategy().prop_map(Op::Read),
        path_strategy().prop_map(Op::Directory),
    ]
}

/// The naive model: every node by name, its value and its children in creation order.
#[derive(Default)]
struct Model(BTreeMap<String, (Vec<u8>, Vec<String>)>);

impl Model {
    fn create(&mut self, p: &str, v: Vec<u8>) {
        let parent = path::parent(p).to_string();
        if !self.0.contains_key(&parent) {
            self.create(&parent, Vec::new());
        }
        if let Some(e) = self.0.get_mut(&parent) {
            e.1.push(path::basename(p).to_string());
        }
        self.0.insert(p.to_string(), (v, Vec::new()));
    }
    fn rm(&mut self, p: &str) {
        let keys: Vec<String> = self
            .0
            .keys()
            .filter(|k| path::is_child(k, p))
            .cloned()
            .collect();
        for k in keys {
            self.0.remove(&k);
        }
        if let Some(e) = self.0.get_mut(path::parent(p)) {
            e.1.retain(|c| c != path::basename(p));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Writes, mkdirs, removals, reads and listings agree with the model, and after every step
    /// each node's children exist and every node but `/` is listed by its parent.
    #[test]
    fn tree_ops_match_model(ops in proptest::collection::vec(op_strategy(), 1..40)) {
        let (mut x, s) = new();
        let mut m = Model::default();
        m.0.insert("/".into(), (Vec::new(), vec!["tool".into()]));
        m.0.insert("/tool".into(), (Vec::new(), vec!["xenstored".into()]));
        m.0.insert("/tool/xenstored".into(), (Vec::new(), Vec::new()));
        for op in ops {
            match op {
                Op::Write(p, v) => {
                    ok(&mut x, s, WRITE, 0, &[format!("{p}\0").as_bytes(), &[v]].concat());
                    match m.0.get_mut(&p) {
                        Some(e) => e.0 = vec![v],
                        None => m.create(&p, vec![v]),
                    }
                }
                Op::Mkdir(p) => {
                    ok(&mut x, s, MKDIR, 0, &z(&[&p]));
                    if !m.0.contains_key(&p) {
                        m.create(&p, Vec::new());
                    }
                }
                Op::Rm(p) => {
                    let r = req(&mut x, s, RM, 0, &z(&[&p]));
                    let parent_exists = m.0.contains_key(path::parent(&p));
                    if m.0.contains_key(&p) || parent_exists {
                        prop_assert_eq!(r.payload, b"OK\0".to_vec());
                        m.rm(&p);
                    } else {
                        prop_assert_eq!(r.payload, z(&["ENOENT"]));
                    }
                }
                Op::Read(p) => {
                    let r = req(&mut x, s, READ, 0, &z(&[&p]));
                    match m.0.get(&p) {
                        Some(e) => prop_assert_eq!(r.payload, e.0.clone()),
                        None => prop_assert_eq!(r.payload, z(&["ENOENT"])),
                    }
                }
                Op::Directory(p) => {
                    let r = req(&mut x, s, DIRECTORY, 0, &z(&[&p]));
                    match m.0.get(&p) {
                        Some(e) => {
                            let refs: Vec<&str> = e.1.iter().map(String::as_str).collect();
                            prop_assert_eq!(r.payload, z(&refs));
                        }
                        None => prop_assert_eq!(r.payload, z(&["ENOENT"])),
                    }
                }
            }
            prop_assert_eq!(x.store.len(), m.0.len());
            for name in x.store.names() {
                let node = x.store.peek(name).expect("listed");
                for c in node.children.iter() {
                    prop_assert!(x.store.peek(&path::child(name, c)).is_some());
                }
                if name != "/" {
                    let parent = x.store.peek(path::parent(name)).expect("parent exists");
                    prop_assert!(parent.children.iter().any(|c| c == path::basename(name)));
                }
            }
        }
    }

    /// A transaction reads some nodes and writes others while another connection writes; the
    /// commit fails with EAGAIN exactly when a node the transaction touched by a read (or a
    /// write, which reads first) was changed outside it, and otherwise applies all its writes.
    #[test]
    fn transaction_conflict_rule_matches_model(
        reads in proptest::collection::btree_set(0usize..6, 0..4),
        writes in proptest::collection::btree_set(0usize..6, 0..4),
        outside in proptest::collection::btree_set(0usize..6, 0..3),
    ) {
        let (mut x, s) = new();
        let o = x.new_connection(ConnKind::Socket);
        for i in 0..6 {
            ok(&mut x, s, WRITE, 0, format!("/t/n{i}\0init").as_bytes());
        }
        ok(&mut x, s, TX_START, 0, b"\0");
        for i in &reads {
            ok(&mut x, s, READ, 1, &z(&[&format!("/t/n{i}")]));
        }
        for i in &writes {
            ok(&mut x, s, WRITE, 1, format!("/t/n{i}\0tx").as_bytes());
        }
        for i in &outside {
            ok(&mut x, o, WRITE, 0, format!("/t/n{i}\0out").as_bytes());
        }
        let touched: BTreeSet<usize> = reads.union(&writes).copied().collect();
        let conflict = touched.intersection(&outside).next().is_some();
        let r = req(&mut x, s, TX_END, 1, &z(&["T"]));
        if conflict {
            prop_assert_eq!(r.payload, z(&["EAGAIN"]));
        } else {
            prop_assert_eq!(r.payload, b"OK\0".to_vec());
        }
        for i in 0..6 {
            let v = ok(&mut x, s, READ, 0, &z(&[&format!("/t/n{i}")]));
            let expect: &[u8] = if !conflict && writes.contains(&i) {
                b"tx"
            } else if outside.contains(&i) {
                b"out"
            } else {
                b"init"
            };
            prop_assert_eq!(v, expect.to_vec());
        }
    }

    /// Arbitrary payloads of every type never panic the engine, and each request gets exactly
    /// one reply.
    #[test]
    fn arbitrary_requests_get_one_reply(
        kind in 0u32..25,
        tx in 0u32..3,
        payload in proptest::collection::vec(prop_oneof![Just(0u8), Just(b'/'), Just(b'a'), any::<u8>()], 0..64),
        unprivileged in any::<bool>(),
    ) {
        let (mut x, s) = new();
        let c = if unprivileged { domain(&mut x, s, 5) } else { s };
        ok(&mut x, c, TX_START, 0, b"\0");
        let out = req_all(&mut x, c, kind, tx, &payload);
        prop_assert_eq!(out.iter().filter(|m| m.kind != EVENT).count(), 1);
    }
}

#[test]
fn watch_tokens_are_bytes_echoed_as_sent() {
    let (mut x, s) = new();
    let out = req_all(&mut x, s, WATCH, 0, b"/t\0\xff\x01tok\0");
    assert_eq!(out[1].payload, b"/t\0\xff\x01tok\0");
    ok(&mut x, s, WRITE, 0, b"/t\0v");
    ok(&mut x, s, 5, 0, b"/t\0\xff\x01tok\0");
    assert_eq!(x.watch_count(s), 0);
}

#[test]
fn release_of_a_set_target_target_releases_it_and_clears_the_target() {
    // C only drops one talloc reference here (the domain stays introduced, no @releaseDomain)
    // until the referencing connection goes; this daemon releases at once.
    let (mut x, s) = new();
    let _d5 = domain(&mut x, s, 5);
    let d9 = domain(&mut x, s, 9);
    ok(&mut x, s, WRITE, 0, b"/guest\0g");
    ok(&mut x, s, SET_PERMS, 0, &z(&["/guest", "n5"]));
    ok(&mut x, s, SET_TARGET, 0, &z(&["9", "5"]));
    assert_eq!(ok(&mut x, d9, READ, 0, &z(&["/guest"])), b"g");
    ok(&mut x, s, RELEASE, 0, &z(&["5"]));
    assert_eq!(ok(&mut x, s, 17, 0, &z(&["5"])), b"F\0");
    assert_eq!(err(&mut x, d9, READ, 0, &z(&["/guest"])), "EACCES");
}

#[test]
fn transaction_copies_count_toward_a_domains_memory_quota() {
    let (mut x, s) = new();
    x.quota.memory = 16 * 1024;
    let d5 = domain(&mut x, s, 5);
    ok(&mut x, s, MKDIR, 0, &z(&["/local/domain/5"]));
    ok(&mut x, s, SET_PERMS, 0, &z(&["/local/domain/5", "n5"]));
    ok(&mut x, d5, TX_START, 0, b"\0");
    let value = vec![b'v'; 1500];
    let mut writes = 0;
    while x.can_accept(d5) {
        ok(
            &mut x,
            d5,
            WRITE,
            1,
            &[format!("n{writes}\0").as_bytes(), &value].concat(),
        );
        writes += 1;
        assert!(writes < 100, "the domain was never stopped");
    }
    assert!(
        (10..=12).contains(&writes),
        "stopped after {writes} writes of 1.5 KiB"
    );
    // dom0 is still served.
    assert!(x.can_accept(s));
    ok(&mut x, s, RELEASE, 0, &z(&["5"]));
}
