//! `cargo xtask bench xenstored` (an ignored test, run in release): the same request workload
//! over a Unix socket to Debian's C xenstored 4.17 (under the fakexen shim, as the differential
//! test runs it) and to ours, in the same run, printed as rates and ratios; and the resident
//! memory each needs for 10,000 more nodes. Three rounds, alternating daemons; the best rate of
//! each is kept (these machines are noisy).

mod common;

use std::path::Path;
use std::time::Instant;

use common::{build_shim, rss_kib, start_c, start_ours, Client, TempDir, C_XENSTORED, WATCH_EVENT};

const DIRECTORY: u32 = 1;
const READ: u32 = 2;
const WATCH: u32 = 4;
const TX_START: u32 = 6;
const TX_END: u32 = 7;
const WRITE: u32 = 11;

const N: usize = 4000;

fn write_payload(path: &str, value: &[u8]) -> Vec<u8> {
    let mut p = path.as_bytes().to_vec();
    p.push(0);
    p.extend_from_slice(value);
    p
}

fn path(p: &str) -> Vec<u8> {
    let mut v = p.as_bytes().to_vec();
    v.push(0);
    v
}

/// Requests per second of each kind (watch: events delivered per second, one at a time).
fn workload(sock: &Path, round: usize) -> Vec<(&'static str, f64)> {
    let mut c = Client::connect(sock);
    let base = format!("/bench{round}");
    let mut out = Vec::new();
    let t = Instant::now();
    for i in 0..N {
        c.ok(
            WRITE,
            0,
            &write_payload(&format!("{base}/w/{i}"), b"0123456789abcdef"),
        );
    }
    out.push(("write", N as f64 / t.elapsed().as_secs_f64()));
    let t = Instant::now();
    for i in 0..N {
        c.ok(READ, 0, &path(&format!("{base}/w/{i}")));
    }
    out.push(("read", N as f64 / t.elapsed().as_secs_f64()));
    for i in 0..100 {
        c.ok(
            WRITE,
            0,
            &write_payload(&format!("{base}/d/child-{i}"), b"x"),
        );
    }
    let t = Instant::now();
    for _ in 0..N / 2 {
        c.ok(DIRECTORY, 0, &path(&format!("{base}/d")));
    }
    out.push((
        "directory (100 children)",
        (N / 2) as f64 / t.elapsed().as_secs_f64(),
    ));
    let rounds = N / 20;
    let t = Instant::now();
    for r in 0..rounds {
        let id: u32 = String::from_utf8_lossy(&c.ok(TX_START, 0, b"\0"))
            .trim_end_matches('\0')
            .parse()
            .expect("transaction id");
        for i in 0..10 {
            c.ok(
                WRITE,
                id,
                &write_payload(&format!("{base}/t/{r}/{i}"), b"v"),
            );
        }
        c.ok(TX_END, id, b"T\0");
    }
    out.push((
        "transaction of 10 writes",
        rounds as f64 / t.elapsed().as_secs_f64(),
    ));
    // Pipelined: 100 requests sent, then their 100 replies read (the daemon's own cost).
    let piped = |c: &mut Client, kind: u32, mk: &dyn Fn(usize) -> Vec<u8>| {
        let t = Instant::now();
        for batch in 0..N / 100 {
            for i in 0..100 {
                c.send(kind, 0, &mk(batch * 100 + i));
            }
            for _ in 0..100 {
                let m = c.recv().expect("reply");
                assert_ne!(m.kind, 16, "{}", String::from_utf8_lossy(&m.payload));
            }
        }
        N as f64 / t.elapsed().as_secs_f64()
    };
    let r = piped(&mut c, WRITE, &|i| {
        write_payload(&format!("{base}/p/{i}"), b"0123456789abcdef")
    });
    out.push(("write, pipelined by 100", r));
    let r = piped(&mut c, READ, &|i| path(&format!("{base}/p/{i}")));
    out.push(("read, pipelined by 100", r));
    let r = piped(&mut c, DIRECTORY, &|_| path(&format!("{base}/d")));
    out.push(("directory, pipelined by 100", r));
    let mut w = Client::connect(sock);
    let watched = format!("{base}/watched");
    let mut p = path(&watched);
    p.extend_from_slice(b"tok\0");
    w.ok(WATCH, 0, &p);
    assert_eq!(w.recv().map(|m| m.kind), Some(WATCH_EVENT), "initial event");
    let t = Instant::now();
    for i in 0..N / 4 {
        c.ok(WRITE, 0, &write_payload(&watched, i.to_string().as_bytes()));
        let m = w.recv().expect("event");
        assert_eq!(m.kind, WATCH_EVENT);
    }
    out.push((
        "watch: write + event",
        (N / 4) as f64 / t.elapsed().as_secs_f64(),
    ));
    out
}

/// RSS growth in KiB for 10,000 nodes of 16 bytes in directories of 100, on a fresh daemon.
fn memory(sock: &Path, pid: u32) -> u64 {
    let mut c = Client::connect(sock);
    let before = rss_kib(pid);
    for i in 0..10_000 {
        let p = format!("/mem/{}/{}", i / 100, i % 100);
        c.ok(WRITE, 0, &write_payload(&p, b"0123456789abcdef"));
    }
    rss_kib(pid).saturating_sub(before)
}

#[test]
#[ignore = "benchmark: cargo xtask bench xenstored"]
fn socket_requests_and_memory_against_c() {
    if !Path::new(C_XENSTORED).exists() {
        println!("SKIPPED: {C_XENSTORED} is missing (Debian package xen-utils-4.17)");
        return;
    }
    let dir = TempDir::new("bench");
    let shim = build_shim(&dir.0);
    // Memory first, on fresh daemons (the allocator's state after a workload blurs it).
    let (mc, mo) = {
        let mdir = TempDir::new("bench-mem");
        let c = start_c(&mdir.0, &shim);
        let ours = start_ours(&mdir.0, &["-D"]);
        (
            memory(&c.socket, c.child.id()),
            memory(&ours.socket, ours.child.id()),
        )
    };
    let c = start_c(&dir.0, &shim);
    let ours = start_ours(&dir.0, &["-D"]);
    let mut best: Vec<(&'static str, f64, f64)> = Vec::new();
    for round in 0..3 {
        let rc = workload(&c.socket, round);
        let ro = workload(&ours.socket, round);
        for ((name, a), (_, b)) in rc.into_iter().zip(ro) {
            match best.iter_mut().find(|e| e.0 == name) {
                Some(e) => {
                    e.1 = e.1.max(a);
                    e.2 = e.2.max(b);
                }
                None => best.push((name, a, b)),
            }
        }
    }
    println!();
    println!("xenstored over a Unix socket, one request at a time unless said (best of 3 rounds)");
    println!(
        "{:<28} {:>12} {:>12} {:>8}",
        "request", "C req/s", "ours req/s", "ours/C"
    );
    for (name, a, b) in &best {
        println!("{name:<28} {a:>12.0} {b:>12.0} {:>8.2}", b / a);
    }
    println!(
        "resident memory for 10,000 nodes (fresh daemons): C {mc} KiB, ours {mo} KiB ({:.2}x C's)",
        mo as f64 / mc.max(1) as f64
    );
}
