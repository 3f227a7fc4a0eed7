//! `netback`: Ferrite's network backend daemon (see docs/netback.md).

use anyhow::{bail, Result};

const USAGE: &str = "usage: netback [--no-split-event-channels] [--max-queues N] [--verbose]
Serves every backend/vif device of this domain in xenstore (one process for all vifs), each
from a TAP device named vif<domid>.<devid> (or the vif's vifname), added to the vif's bridge.
A frontend may use up to N queues (default: this domain's CPUs, as Linux's netback), each
with its own rings, TAP queue and thread.";

fn main() {
    if let Err(e) = real_main() {
        eprintln!("netback: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let mut level = log::LevelFilter::Info;
    let mut split = true;
    let mut max_queues = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--verbose" => level = log::LevelFilter::Debug,
            "--no-split-event-channels" => split = false,
            "--max-queues" => {
                max_queues = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n: &u32| (1..=64).contains(&n))
                    .ok_or_else(|| anyhow::anyhow!("--max-queues wants a number from 1 to 64"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown option '{other}'\n{USAGE}"),
        }
    }
    xenbus_backend::logger::to_stderr("netback", level)
        .map_err(|e| anyhow::anyhow!("installing the logger: {e}"))?;
    netback::daemon::run(split, max_queues)
}
