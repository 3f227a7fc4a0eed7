//! `blkback`: Ferrite's block backend daemon (see docs/blkback.md).

use anyhow::{bail, Context, Result};
use blkback::daemon::{self, Config};
use blkback::device::Engine;

const USAGE: &str = "usage: blkback [--max-queues N] [--max-ring-page-order N] [--direct-io]
               [--no-persistent] [--no-indirect] [--io pool|uring] [--verbose]
Serves every backend/vbd device of this domain in xenstore (one process for all devices).";

struct Logger(log::LevelFilter);

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= self.0
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("blkback: {} {}", r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

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
    let logger: &'static Logger = Box::leak(Box::new(Logger(level)));
    log::set_logger(logger).map_err(|e| anyhow::anyhow!("installing the logger: {e}"))?;
    log::set_max_level(level);
    daemon::run(cfg)
}
