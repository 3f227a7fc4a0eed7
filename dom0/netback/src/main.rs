//! `netback`: Ferrite's network backend daemon (see docs/netback.md).

use anyhow::{bail, Result};

const USAGE: &str = "usage: netback [--no-split-event-channels] [--verbose]
Serves every backend/vif device of this domain in xenstore (one process for all vifs), each
from a TAP device named vif<domid>.<devid> (or the vif's vifname), added to the vif's bridge.";

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
    xenbus_backend::logger::to_stderr("netback", level)
        .map_err(|e| anyhow::anyhow!("installing the logger: {e}"))?;
    netback::daemon::run(split)
}
