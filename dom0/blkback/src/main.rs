//! `blkback`: Ferrite's block backend daemon (see docs/blkback.md).

use anyhow::{bail, Context, Result};
use blkback::daemon::{self, Config};
use blkback::device::Engine;

const USAGE: &str = "usage: blkback [--max-queues N] [--max-ring-page-order N] [--direct-io]
               [--no-persistent] [--no-indirect] [--io pool|uring] [--verbose]
Serves every backend/vbd device of this domain in xenstore (one process for all devices).";

fn main() {
    if let Err(e) = real_main() {
        eprintln!("blkback: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let mut cfg = Config::default();
    let mut level = log::LevelFilter::Info;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> Result<u32> {
            args.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} takes a number"))
        };
        match a.as_str() {
            "--max-queues" => cfg.max_queues = num("--max-queues")?.max(1),
            "--max-ring-page-order" => {
                cfg.max_ring_page_order = num("--max-ring-page-order")?.min(4)
            }
            "--direct-io" => cfg.direct_io = true,
            "--no-persistent" => cfg.persistent = false,
            "--no-indirect" => cfg.indirect = false,
            "--io" => {
                cfg.engine = match args.next().as_deref() {
                    Some("pool") => Engine::Pool,
                    Some("uring") => Engine::Uring,
                    _ => bail!("--io takes 'pool' or 'uring'"),
                }
            }
            "--verbose" => level = log::LevelFilter::Debug,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown option '{other}'\n{USAGE}"),
        }
    }
    xenbus_backend::logger::to_stderr("blkback", level)
        .map_err(|e| anyhow::anyhow!("installing the logger: {e}"))?;
    daemon::run(cfg)
}
