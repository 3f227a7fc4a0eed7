//! `xenstore-hostile`: a hostile xenstore client for a domU on the reference rig (scenario
//! `xenstored-hostile`). Through the domU kernel's `/dev/xen/xenbus` — so over the domain's ring
//! — it pushes past every quota an unprivileged domain has and reaches for other domains' nodes,
//! checking each answer is the error Xen's xenstored gives; then it floods the daemon with
//! requests until dom0 writes `data/stop` in its home, while another domU's disk handshake must
//! still complete. Lines `XSH-OK …` report each check, `XSH-PASS` the end.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xen_abi::Errno;
use xenstore::{Error, Tx, Xenstore};

const NO_TX: Tx = Tx(0);

/// The error xenstored answered, or the kernel's for a request it refused itself: the domU's
/// `/dev/xen/xenbus` turns a failed `WATCH` into a failed `write(2)` with that errno.
fn errno_of(e: &Error) -> Option<Errno> {
    match e {
        Error::Io(io) => io.raw_os_error().and_then(Errno::from_code),
        e => e.errno(),
    }
}

/// Fails unless `r` is xenstored's `want`.
fn refused<T: std::fmt::Debug>(what: &str, r: Result<T, Error>, want: Errno) -> Result<()> {
    match r {
        Err(e) if errno_of(&e) == Some(want) => {
            println!("XSH-OK {what}: {want:?}");
            Ok(())
        }
        other => bail!("{what}: want {want:?}, got {other:?}"),
    }
}

/// Repeats `op(i)` until it fails; the failure must be `want`, within `limit` tries.
fn until_refused(
    what: &str,
    limit: usize,
    want: Errno,
    mut op: impl FnMut(usize) -> Result<(), Error>,
) -> Result<usize> {
    for i in 0..limit {
        if let Err(e) = op(i) {
            if errno_of(&e) == Some(want) {
                println!("XSH-OK {what}: {want:?} after {i}");
                return Ok(i);
            }
            bail!("{what}: #{i} failed with {e}, want {want:?}");
        }
    }
    bail!("{what}: {limit} accepted, no quota")
}

/// A child's phase: push, print, exit (which drops everything it holds).
fn phase(name: &str, data: &str) -> Result<()> {
    let xs = Xenstore::open()?;
    match name {
        // 128 per domain (+1, C's comparison); the domU's kernel holds a few of its own.
        "watches" => {
            let mut rx = Vec::new();
            until_refused("watches", 200, Errno::E2BIG, |i| {
                xs.watch(&format!("{data}/w{i}"), &format!("t{i}"))
                    .map(|r| rx.push(r))
            })?;
        }
        // 10 per connection (+1).
        "transactions" => {
            until_refused("transactions", 50, Errno::ENOSPC, |_| {
                xs.transaction_start().map(drop)
            })?;
        }
        // A write inside a transaction that is never ended.
        "ghost" => {
            let tx = xs.transaction_start()?;
            xs.write(tx, &format!("{data}/ghost"), b"boo")?;
        }
        _ => bail!("unknown phase {name}"),
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [name, data] = args.as_slice() {
        return phase(name, data);
    }
    let xs = Xenstore::open().context("opening /dev/xen/xenbus")?;
    let domid: u32 = xs.read_parse(NO_TX, "domid").context("reading domid")?;
    let home = format!("/local/domain/{domid}");
    let data = format!("{home}/data");
    println!("XSH: domain {domid}");

    // Nodes: C's default is 1000 owned per domain (some are the toolstack's, owned by us). In
    // directories of 40: a parent's record counts its children's names against the node size.
    let made = until_refused("nodes", 1100, Errno::ENOSPC, |i| {
        xs.write(NO_TX, &format!("{data}/flood/{}/{}", i / 40, i % 40), b"x")
    })?;
    if made < 900 {
        bail!("nodes: only {made} before ENOSPC");
    }
    xs.rm(NO_TX, &format!("{data}/flood"))
        .context("removing the flood")?;
    // Node size: value, perms and children under 2048 bytes.
    refused(
        "3000-byte node",
        xs.write(NO_TX, &format!("{data}/big"), &[b'a'; 3000]),
        Errno::ENOSPC,
    )?;
    xs.write(NO_TX, &format!("{data}/small"), &[b'a'; 1000])
        .context("a 1000-byte node")?;

    // Watches, transactions and a transaction left open are each pushed by a child process
    // that then exits: only closing the last descriptor of /dev/xen/xenbus makes the kernel
    // unregister the watches and end the transactions (the client's reader thread holds one).
    for phase in ["watches", "transactions", "ghost"] {
        println!("XSH: phase {phase}");
        let st = std::process::Command::new(std::env::current_exe()?)
            .arg(phase)
            .arg(&data)
            .status()
            .with_context(|| format!("running phase {phase}"))?;
        if !st.success() {
            bail!("phase {phase}: {st}");
        }
    }
    refused(
        "read of a write whose transaction was dropped",
        xs.read(NO_TX, &format!("{data}/ghost")),
        Errno::ENOENT,
    )?;
    // After the dropped watches and transactions, the domain is served as before.
    xs.transaction(|tx| xs.write(tx, &format!("{data}/after"), b"ok"))
        .context("a transaction after the dropped ones")?;

    // Other domains' nodes.
    refused(
        "read /local/domain/0/name",
        xs.read(NO_TX, "/local/domain/0/name"),
        Errno::EACCES,
    )?;
    refused(
        "write /local/domain/0/evil",
        xs.write(NO_TX, "/local/domain/0/evil", b"x"),
        Errno::EACCES,
    )?;
    // No permission at all is malformed before anything is looked up (C: EINVAL); taking
    // over dom0's home is refused.
    refused(
        "set no perms on /local/domain/0",
        xs.set_perms(NO_TX, "/local/domain/0", &[]),
        Errno::EINVAL,
    )?;
    let mine = xenstore::wire::Perm::parse(&format!("n{domid}")).context("perm")?;
    refused(
        "set perms of /local/domain/0",
        xs.set_perms(NO_TX, "/local/domain/0", &[mine]),
        Errno::EACCES,
    )?;
    refused("rm /tool", xs.rm(NO_TX, "/tool"), Errno::EACCES)?;

    // Flood until dom0 says stop (or 300 s): writes, reads, directories, transactions.
    println!("XSH-FLOOD-START");
    let start = Instant::now();
    let mut ops = 0u64;
    let stop = format!("{data}/stop");
    while start.elapsed() < Duration::from_secs(300) {
        for i in 0..50 {
            xs.write(NO_TX, &format!("{data}/f/{i}"), &[b'z'; 512])?;
            xs.read(NO_TX, &format!("{data}/f/{i}"))?;
        }
        xs.directory(NO_TX, &format!("{data}/f"))?;
        xs.transaction(|tx| {
            for i in 0..5 {
                xs.write(tx, &format!("{data}/t/{i}"), b"t")?;
            }
            Ok(())
        })?;
        ops += 107;
        if xs.read(NO_TX, &stop).is_ok() {
            break;
        }
    }
    println!(
        "XSH-FLOOD-DONE {ops} requests in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    println!("XSH-PASS");
    Ok(())
}
