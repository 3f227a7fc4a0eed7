//! `xenstored`: Ferrite's xenstore daemon, with C xenstored 4.17's options for quotas.

use anyhow::{bail, Context, Result};
use xenstored::daemon::{socket_path, Daemon};
use xenstored::filering::FileRings;
use xenstored::xenrings::XenRings;
use xenstored::{DomainConnector, NoRings, Quota, Xenstored};

const USAGE: &str = "\
Usage: xenstored [options]

  -N, --no-fork                accepted for compatibility (xenstored never forks)
  -D, --no-domain-init         serve the socket only: no rings, dom0's included
  -E, --entry-nb <nb>          nodes per domain (default 1000)
  -S, --entry-size <size>      node size limit in bytes (default 2048)
  -W, --watch-nb <nb>          watches per domain (default 128)
  -t, --transaction <nb>       transactions per connection (default 10)
  -A, --perm-nb <nb>           permissions per node (default 5)
  -M, --path-max <chars>       path length below /local/domain/<id>/ (default 2048)
  -Q, --quota <what>=<nb>      transaction-nodes, memory, outstanding
  -q, --quota-soft <what>=<nb> memory
  -p, --priv-domid <domid>     another privileged domain
      --ring-dir <dir>         serve dom0's and introduced domains' rings from files
                               <dir>/ring-<domid> (host tests; no Xen needed)
  -F, --pid-file <file>        write the daemon's process id to <file>
  -I, --internal-db            accepted for compatibility (the only database)
  -V, --verbose                log at debug level
  -H, --help                   this text

The socket is $XENSTORED_PATH, else $XENSTORED_RUNDIR/socket, else /run/xenstored/socket.
In a Xen dom0 (/proc/xen/xsd_port exists) it serves dom0's kernel through /proc/xen/xsd_kva
and each introduced domain through its xenstore grant and event channel, and releases
domains that die (VIRQ_DOM_EXC); elsewhere it serves the socket only.
";

fn number(opt: &str, v: Option<String>) -> Result<usize> {
    let v = v.with_context(|| format!("{opt} needs a value"))?;
    v.parse()
        .with_context(|| format!("{opt}: '{v}' is not a number"))
}

fn main() -> Result<()> {
    let mut quota = Quota::default();
    let mut priv_domid = 0;
    let mut verbose = false;
    let mut ring_dir = None;
    let mut no_domain_init = false;
    let mut pid_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (opt, inline) = match a.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut val = || inline.clone().or_else(|| args.next());
        match opt.as_str() {
            "-N" | "--no-fork" | "-I" | "--internal-db" => {}
            "-F" | "--pid-file" => pid_file = Some(val().context("--pid-file needs a file")?),
            "-D" | "--no-domain-init" => no_domain_init = true,
            "-V" | "--verbose" => verbose = true,
            "-H" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            "-E" | "--entry-nb" => quota.nodes = number(&opt, val())? as i64,
            "-S" | "--entry-size" => quota.node_size = number(&opt, val())?,
            "-W" | "--watch-nb" => quota.watches = number(&opt, val())?,
            "-t" | "--transaction" => quota.transactions = number(&opt, val())?,
            "-A" | "--perm-nb" => quota.perms = number(&opt, val())?,
            "-M" | "--path-max" => quota.path_max = number(&opt, val())?,
            "-p" | "--priv-domid" => priv_domid = number(&opt, val())? as u32,
            "--ring-dir" => ring_dir = Some(val().context("--ring-dir needs a directory")?),
            "-Q" | "--quota" | "-q" | "--quota-soft" => {
                let soft = opt == "-q" || opt == "--quota-soft";
                let v = val().with_context(|| format!("{opt} needs <what>=<nb>"))?;
                let (what, n) = v
                    .split_once('=')
                    .with_context(|| format!("{opt}: '{v}' is not <what>=<nb>"))?;
                let n = number(&opt, Some(n.to_string()))?;
                let known = if soft {
                    what == "memory"
                } else {
                    matches!(what, "transaction-nodes" | "memory" | "outstanding")
                };
                if !known || !quota.set(what, n, soft) {
                    bail!("{opt}: unknown quota '{what}'");
                }
            }
            _ => bail!("unknown option '{a}'\n{USAGE}"),
        }
    }
    let level = if verbose {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    // Only fails if a logger is already set, which nothing else here does.
    let _ = xenbus_backend::logger::to_stderr("xenstored", level);
    if let Some(f) = pid_file {
        std::fs::write(&f, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {f}"))?;
    }
    let path = socket_path();
    match ring_dir {
        Some(dir) => {
            let mut engine = Xenstored::with_connector(FileRings::new(dir.into()), quota);
            engine.set_priv_domid(priv_domid);
            engine.set_log_level(level);
            // dom0's own ring is <dir>/ring-0, as /proc/xen/xsd_kva would be.
            engine
                .connect_master(1)
                .map_err(|e| anyhow::anyhow!("dom0's ring in the ring directory: {e:?}"))?;
            serve(&path, engine)
        }
        None if !no_domain_init && std::path::Path::new(dom0_sys::xsd::XSD_PORT).exists() => {
            let rings = XenRings::open().context("opening /dev/xen/{evtchn,gntdev,privcmd}")?;
            let port = XenRings::master_port()
                .with_context(|| format!("reading {}", dom0_sys::xsd::XSD_PORT))?;
            let mut engine = Xenstored::with_connector(rings, quota);
            engine.set_priv_domid(priv_domid);
            engine.set_log_level(level);
            engine
                .connect_master(port)
                .map_err(|e| anyhow::anyhow!("connecting dom0's ring: {e:?}"))?;
            // dom0's kernel waits for this event before probing xenbus (C's dom0_init).
            engine.connector.notify(0);
            log::info!("serving dom0's ring (port {port}) and the socket");
            serve(&path, engine)
        }
        None => {
            if !no_domain_init {
                log::warn!(
                    "{} is missing (not a Xen dom0): serving the socket only",
                    dom0_sys::xsd::XSD_PORT
                );
            }
            let mut engine = Xenstored::with_connector(NoRings, quota);
            engine.set_priv_domid(priv_domid);
            engine.set_log_level(level);
            serve(&path, engine)
        }
    }
}

fn serve<C: DomainConnector>(path: &std::path::Path, engine: Xenstored<C>) -> Result<()> {
    let mut daemon =
        Daemon::bind(path, engine).with_context(|| format!("binding {}", path.display()))?;
    daemon.run().context("serving")
}
