//! `netback`: Ferrite's network backend daemon (see docs/netback.md).

use anyhow::{bail, Result};

const USAGE: &str = "usage: netback [--no-split-event-channels] [--verbose]
Serves every backend/vif device of this domain in xenstore (one process for all vifs), each
from a TAP device named vif<domid>.<devid> (or the vif's vifname), added to the vif's bridge.";

struct Logger(log::LevelFilter);

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= self.0
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("netback: {} {}", r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("netback: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let mut level = log::LevelFilter::Info;
    let mut split = true;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--verbose" => level = log::LevelFilter::Debug,
            "--no-split-event-channels" => split = false,
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
    netback::daemon::run(split)
}
