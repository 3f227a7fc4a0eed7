//! `xenstore-bench`: the xenstore request workload of `cargo xtask bench xenstored`, run in a
//! domU on the reference rig through its kernel's `/dev/xen/xenbus`, so over the domain's ring
//! (grant page and event channel) to whichever xenstored dom0 runs. Prints `BENCH <name> <rate>
//! req/s` lines (the rig's bench format) and `BENCH-DONE`.

use std::time::Instant;

use anyhow::{Context, Result};
use xenstore::{Tx, Xenstore};

const NO_TX: Tx = Tx(0);
// 600 nodes (and their 15 directories) stay under the 1000-node quota of a domain.
const N: usize = 600;

fn report(name: &str, n: usize, t: Instant) {
    println!(
        "BENCH {name} {:.0} req/s",
        n as f64 / t.elapsed().as_secs_f64()
    );
}

fn main() -> Result<()> {
    let xs = Xenstore::open().context("opening /dev/xen/xenbus")?;
    let domid: u32 = xs.read_parse(NO_TX, "domid").context("reading domid")?;
    let data = format!("/local/domain/{domid}/data/bench");
    // Directories of 40: a domain's node records count their children against the node size.
    let node = |i: usize| format!("{data}/w/{}/{}", i / 40, i % 40);
    let t = Instant::now();
    for i in 0..N {
        xs.write(NO_TX, &node(i), b"0123456789abcdef")?;
    }
    report("write", N, t);
    let t = Instant::now();
    for i in 0..N {
        xs.read(NO_TX, &node(i))?;
    }
    report("read", N, t);
    let t = Instant::now();
    for _ in 0..N {
        xs.directory(NO_TX, &format!("{data}/w/0"))?;
    }
    report("directory-40", N, t);
    let rounds = N / 20;
    let t = Instant::now();
    for r in 0..rounds {
        xs.transaction(|tx| {
            for i in 0..10 {
                xs.write(tx, &format!("{data}/t/{}/{i}", r % 20), b"v")?;
            }
            Ok(())
        })?;
    }
    report("transaction-10", rounds, t);
    let watched = format!("{data}/watched");
    xs.write(NO_TX, &watched, b"0")?;
    let events = xs.watch(&watched, "bench")?;
    events.recv().context("the initial watch event")?;
    let t = Instant::now();
    for i in 0..N / 4 {
        xs.write(NO_TX, &watched, i.to_string().as_bytes())?;
        events.recv().context("a watch event")?;
    }
    report("watch-write-event", N / 4, t);
    println!("BENCH-DONE");
    Ok(())
}
