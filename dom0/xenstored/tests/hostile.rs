//! Hostile clients against Ferrite's xenstored over its socket and over (file-backed) domain
//! rings: malformed headers, floods past every quota, oversized nodes, foreign nodes, broken
//! ring indices, connections dropped mid-transaction. Each gets Xen's answer, memory stays
//! bounded, and other clients keep being served.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{rss_kib, start_ours, z, Client, Proc, RingGuest, TempDir};
use xenstored::Message;

const READ: u32 = 2;
const WATCH: u32 = 4;
const TX_START: u32 = 6;
const TX_END: u32 = 7;
const INTRODUCE: u32 = 8;
const WRITE: u32 = 11;
const MKDIR: u32 = 12;
const SET_PERMS: u32 = 14;
const ERROR: u32 = 16;

/// Most one request of a well-behaved client may wait while another floods.
const LATENCY_BOUND: Duration = Duration::from_secs(2);

fn daemon(dir: &TempDir) -> Proc {
    let rings = dir.0.join("rings");
    std::fs::create_dir_all(&rings).expect("mkdir");
    start_ours(&dir.0, &["--ring-dir", rings.to_str().expect("utf-8 path")])
}

/// Introduces `domid`, gives it `/local/domain/<domid>`, and returns its ring.
fn guest(dir: &TempDir, admin: &mut Client, domid: u32) -> RingGuest {
    let d = domid.to_string();
    admin.ok(INTRODUCE, 0, &z(&[&d, "0", "1"]));
    let home = format!("/local/domain/{d}");
    admin.ok(MKDIR, 0, &z(&[&home]));
    admin.ok(SET_PERMS, 0, &z(&[&home, &format!("n{d}")]));
    RingGuest::open(&dir.0.join("rings").join(format!("ring-{d}")), None)
}

fn error_name(m: &Message) -> Option<String> {
    (m.kind == ERROR).then(|| {
        String::from_utf8_lossy(&m.payload)
            .trim_end_matches('\0')
            .to_string()
    })
}

#[test]
fn header_over_4096_closes_only_that_connection() {
    let dir = TempDir::new("hdr");
    let p = daemon(&dir);
    let mut bad = Client::connect(&p.socket);
    let mut good = Client::connect(&p.socket);
    let mut h = Message {
        kind: READ,
        req_id: 1,
        tx_id: 0,
        payload: Vec::new(),
    }
    .encode();
    h[12..16].copy_from_slice(&4097u32.to_le_bytes());
    bad.send_raw(&h).expect("send header");
    assert!(
        bad.recv().is_none(),
        "the daemon closes a connection that sent len 4097"
    );
    assert_eq!(good.ok(READ, 0, &z(&["/tool/xenstored"])), b"");
}

#[test]
fn flooding_socket_client_does_not_starve_another_and_memory_stays_bounded() {
    let dir = TempDir::new("flood");
    let p = daemon(&dir);
    let pid = p.child.id();
    let mut good = Client::connect(&p.socket);
    good.ok(WRITE, 0, b"/flood\0x");
    let before = rss_kib(pid);
    // The flooder pipelines writes and never reads a reply.
    let mut flooder = std::os::unix::net::UnixStream::connect(&p.socket).expect("connect");
    flooder
        .set_write_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let req = Message {
        kind: WRITE,
        req_id: 0,
        tx_id: 0,
        payload: [b"/flood\0".as_slice(), &[b'v'; 1000]].concat(),
    }
    .encode();
    let flood = std::thread::spawn(move || {
        let mut sent = 0u32;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(4) {
            if flooder.write_all(&req).is_err() {
                break;
            }
            sent += 1;
        }
        (sent, flooder)
    });
    let mut worst = Duration::ZERO;
    let start = Instant::now();
    let mut answered = 0;
    while start.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        good.ok(WRITE, 0, format!("/good/{}\0v", answered % 10).as_bytes());
        assert_eq!(good.ok(READ, 0, &z(&["/tool/xenstored"])), b"");
        worst = worst.max(t.elapsed());
        answered += 1;
    }
    let (sent, flooder) = flood.join().expect("flood thread");
    let after = rss_kib(pid);
    println!(
        "flooder queued {sent} requests; the other client got {answered} answered pairs, \
         worst {worst:?}; RSS {before} KiB -> {after} KiB"
    );
    assert!(answered > 10, "the well-behaved client was starved");
    assert!(worst < LATENCY_BOUND, "a request waited {worst:?}");
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    drop(flooder);
    assert_eq!(good.ok(READ, 0, &z(&["/good/0"])), b"v");
}

#[test]
fn watch_event_flood_to_a_client_that_never_reads_is_bounded() {
    let dir = TempDir::new("evflood");
    let p = daemon(&dir);
    let pid = p.child.id();
    let mut watcher = Client::connect(&p.socket);
    let mut writer = Client::connect(&p.socket);
    for i in 0..100 {
        watcher.send(WATCH, 0, &z(&["/", &format!("{i:0>1000}")]));
    }
    // Let the daemon register them (the watcher never reads again).
    writer.ok(READ, 0, &z(&["/tool/xenstored"]));
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib(pid);
    let start = Instant::now();
    for i in 0..1000 {
        writer.ok(WRITE, 0, format!("/e/{}\0v", i % 50).as_bytes());
    }
    let after = rss_kib(pid);
    println!(
        "1000 writes x 100 watches of 1 KiB tokens in {:?}; RSS {before} KiB -> {after} KiB",
        start.elapsed()
    );
    // Undropped, the events would be about 100 MB.
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn domain_floods_past_each_quota_get_xens_errors() {
    let dir = TempDir::new("quota");
    let p = daemon(&dir);
    let mut admin = Client::connect(&p.socket);
    let mut g = guest(&dir, &mut admin, 5);
    // Nodes: the domain owns /local/domain/5 and 20 directories (each directory's child list
    // stays under the node-size quota); the 1000th owned node is refused.
    for d in 0..20 {
        let (m, _) = g.req(MKDIR, 0, &z(&[&format!("d{d}")]));
        assert_eq!(m.payload, b"OK\0");
    }
    let mut created = 21;
    let mut refused = None;
    for i in 0..1100 {
        let (m, _) = g.req(WRITE, 0, format!("d{}/n{}\0v", i % 20, i / 20).as_bytes());
        match error_name(&m) {
            None => created += 1,
            Some(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert_eq!(refused.as_deref(), Some("ENOSPC"));
    assert_eq!(created, 1000);
    // Oversized node.
    let (m, _) = g.req(WRITE, 0, &[b"d0/n0\0".as_slice(), &[b'v'; 3000]].concat());
    assert_eq!(error_name(&m).as_deref(), Some("ENOSPC"));
    // Watches: 128 (+1, as C counts) then E2BIG.
    let mut watch_err = None;
    for i in 0..200 {
        let (m, _) = g.req(WATCH, 0, &z(&[&format!("w{i}"), "t"]));
        if let Some(e) = error_name(&m) {
            watch_err = Some((i, e));
            break;
        }
    }
    assert_eq!(watch_err, Some((129, "E2BIG".to_string())));
    // Transactions: 10 (+1) then ENOSPC.
    let mut tx_err = None;
    for i in 0..20 {
        let (m, _) = g.req(TX_START, 0, b"\0");
        if let Some(e) = error_name(&m) {
            tx_err = Some((i, e));
            break;
        }
    }
    assert_eq!(tx_err, Some((11, "ENOSPC".to_string())));
    // Another domain's nodes, and dom0's.
    let _g6 = guest(&dir, &mut admin, 6);
    admin.ok(WRITE, 0, b"/local/domain/6/secret\0s");
    let (m, _) = g.req(READ, 0, &z(&["/local/domain/6/secret"]));
    assert_eq!(error_name(&m).as_deref(), Some("EACCES"));
    let (m, _) = g.req(WRITE, 0, b"/local/domain/6/mine\0x");
    assert_eq!(error_name(&m).as_deref(), Some("EACCES"));
    let (m, _) = g.req(WRITE, 0, b"/tool/xenstored\0x");
    assert_eq!(error_name(&m).as_deref(), Some("EACCES"));
    // dom0 is unaffected.
    admin.ok(WRITE, 0, b"/local/domain/5/by-dom0\0x");
}

#[test]
fn broken_ring_indices_set_the_error_field_and_others_keep_working() {
    let dir = TempDir::new("ring");
    let p = daemon(&dir);
    let mut admin = Client::connect(&p.socket);
    let mut bad = guest(&dir, &mut admin, 5);
    let mut good = guest(&dir, &mut admin, 6);
    use xen_abi::io::ring::RingMemory;
    // req_prod far beyond req_cons.
    bad.mem.write_index(2052, 5000);
    let deadline = Instant::now() + Duration::from_secs(5);
    while bad.mem.read_index(2072) == 0 {
        assert!(Instant::now() < deadline, "error field never set");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(bad.mem.read_index(2072), 2, "XENSTORE_ERROR_RINGIDX");
    let (m, _) = good.req(READ, 0, &z(&["/local/domain/6"]));
    assert_eq!(m.payload, b"");
    assert_eq!(admin.ok(READ, 0, &z(&["/tool/xenstored"])), b"");
}

#[test]
fn oversized_header_on_a_ring_is_proto_error() {
    let dir = TempDir::new("proto");
    let p = daemon(&dir);
    let mut admin = Client::connect(&p.socket);
    let mut bad = guest(&dir, &mut admin, 5);
    let mut h = Message {
        kind: READ,
        req_id: 1,
        tx_id: 0,
        payload: Vec::new(),
    }
    .encode();
    h[12..16].copy_from_slice(&100_000u32.to_le_bytes());
    bad.send_bytes(&h);
    use xen_abi::io::ring::RingMemory;
    let deadline = Instant::now() + Duration::from_secs(5);
    while bad.mem.read_index(2072) == 0 {
        assert!(Instant::now() < deadline, "error field never set");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(bad.mem.read_index(2072), 3, "XENSTORE_ERROR_PROTO");
    assert_eq!(admin.ok(READ, 0, &z(&["/tool/xenstored"])), b"");
}

#[test]
fn connection_dropped_mid_transaction_leaves_nothing_behind() {
    let dir = TempDir::new("droptx");
    let p = daemon(&dir);
    let mut a = Client::connect(&p.socket);
    let mut b = Client::connect(&p.socket);
    b.ok(WRITE, 0, b"/shared\0before");
    a.ok(TX_START, 0, b"\0");
    a.ok(READ, 1, &z(&["/shared"]));
    a.ok(WRITE, 1, b"/shared\0uncommitted");
    a.ok(WRITE, 1, b"/only-in-tx\0x");
    drop(a);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(b.ok(READ, 0, &z(&["/shared"])), b"before");
    let (m, _) = b.req(READ, 0, &z(&["/only-in-tx"]));
    assert_eq!(error_name(&m).as_deref(), Some("ENOENT"));
    b.ok(TX_START, 0, b"\0");
    b.ok(WRITE, 1, b"/shared\0after");
    b.ok(TX_END, 1, &z(&["T"]));
    assert_eq!(b.ok(READ, 0, &z(&["/shared"])), b"after");
}
