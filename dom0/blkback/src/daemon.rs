//! The daemon: one process for every `backend/vbd/<domid>/<devid>` of this domain. A single
//! event loop follows xenstore (the backend directory, each frontend's state, `@releaseDomain`)
//! and drives each device's handshake ([`crate::xenbus`]); each connected device's queues and
//! I/O run on their own threads ([`crate::device`]).

use crate::device::{Backing, Connection, Engine, Options, QueueSpec};
use crate::request::{Limits, MAX_INDIRECT_SEGMENTS, SECTOR_SIZE};
use crate::xenbus::{self, Action, Observed, Phase};
use anyhow::{bail, Context, Result};
use dom0_sys::gntdev::Gntdev;
use std::collections::BTreeMap;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use xen_abi::io::blkif::{keys, VDISK_READONLY, XEN_IO_PROTO_ABI_NATIVE};
use xen_abi::io::xenbus::XenbusState;
use xen_abi::types::{DomId, GrantRef, Port};
use xenstore::{Tx, WatchEvent, Xenstore, NO_TX};

/// Daemon settings (command-line options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// `multi-queue-max-queues`.
    pub max_queues: u32,
    /// `max-ring-page-order`.
    pub max_ring_page_order: u32,
    /// Open backings with `O_DIRECT`.
    pub direct_io: bool,
    /// Offer `feature-persistent`.
    pub persistent: bool,
    /// Offer indirect descriptors.
    pub indirect: bool,
    /// The I/O engine.
    pub engine: Engine,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_queues: 4,
            max_ring_page_order: 4,
            direct_io: false,
            persistent: true,
            indirect: true,
            engine: Engine::Uring,
        }
    }
}

struct Device {
    be: String,
    fe: String,
    fe_domid: DomId,
    phase: Phase,
    backing: Option<Arc<Backing>>,
    conn: Option<Connection>,
    token: String,
    failed: bool,
}

/// Runs the daemon until xenstore goes away.
pub fn run(cfg: Config) -> Result<()> {
    let xs = Xenstore::open().context("connecting to xenstore")?;
    let own: u16 = xs.read_parse(NO_TX, "domid").unwrap_or(0);
    let base = format!("/local/domain/{own}/backend/vbd");
    let gntdev = Gntdev::open().context("opening /dev/xen/gntdev")?;
    let (tx, rx) = mpsc::channel::<WatchEvent>();
    xs.watch_with(&base, "vbd", tx.clone())?;
    xs.watch_with("@releaseDomain", "release", tx.clone())?;
    match dom0_sys::privcmd::Privcmd::open().and_then(|p| p.xen_version()) {
        Ok((major, minor)) => {
            log::info!("blkback: on Xen {major}.{minor}, serving {base} ({cfg:?})")
        }
        Err(e) => log::info!("blkback: serving {base} ({cfg:?}); xen_version: {e}"),
    }
    let mut devices: BTreeMap<(u16, u32), Device> = BTreeMap::new();
    while let Ok(ev) = rx.recv() {
        let mut broken = Vec::new();
        let mut note = |ev: WatchEvent| {
            if let Some(k) = ev.token.strip_prefix("broken/") {
                broken.push(k.to_string());
            }
        };
        note(ev);
        while let Ok(ev) = rx.try_recv() {
            note(ev);
        }
        for key in broken {
            let found = devices
                .iter_mut()
                .find(|(_, d)| d.token == format!("fe/{key}"));
            if let Some((_, d)) = found {
                log::warn!("{}: frontend broke the ring; closing", d.be);
                if let Some(c) = d.conn.take() {
                    c.disconnect();
                }
                d.phase = Phase::Closing;
                let _ = xs.write(NO_TX, &format!("{}/state", d.be), b"5");
            }
        }
        rescan(&xs, &base, &gntdev, &cfg, &tx, &mut devices);
    }
    Ok(())
}

fn list(xs: &Xenstore, path: &str) -> Vec<String> {
    xs.directory(NO_TX, path).unwrap_or_default()
}

fn rescan(
    xs: &Xenstore,
    base: &str,
    gntdev: &Arc<Gntdev>,
    cfg: &Config,
    tx: &Sender<WatchEvent>,
    devices: &mut BTreeMap<(u16, u32), Device>,
) {
    for d in list(xs, base) {
        let Ok(domid) = d.parse::<u16>() else {
            continue;
        };
        for v in list(xs, &format!("{base}/{d}")) {
            let Ok(devid) = v.parse::<u32>() else {
                continue;
            };
            if devices.contains_key(&(domid, devid)) {
                continue;
            }
            let be = format!("{base}/{domid}/{devid}");
            // A device the toolstack is unplugging (online=0) is not adopted again after it was
            // released: its directory lingers until libxl removes it.
            if xs.read_parse::<u32>(NO_TX, &format!("{be}/online")) == Some(0) {
                continue;
            }
            let Ok(fe) = xs.read_string(NO_TX, &format!("{be}/frontend")) else {
                continue;
            };
            let token = format!("fe/{domid}/{devid}");
            if let Err(e) = xs.watch_with(&format!("{fe}/state"), &token, tx.clone()) {
                log::warn!("{be}: watching {fe}/state: {e}");
                continue;
            }
            log::info!("{be}: new device, frontend {fe}");
            devices.insert(
                (domid, devid),
                Device {
                    be,
                    fe,
                    fe_domid: DomId(domid),
                    phase: Phase::New,
                    backing: None,
                    conn: None,
                    token,
                    failed: false,
                },
            );
        }
    }
    let mut gone = Vec::new();
    for (key, dev) in devices.iter_mut() {
        if dev.failed {
            // Keep watching only for the directory going away.
            if xs.read(NO_TX, &format!("{}/frontend", dev.be)).is_err() {
                gone.push(*key);
            }
            continue;
        }
        let o = observe(xs, dev);
        let (next, actions) = xenbus::step(dev.phase, &o);
        if !actions.is_empty() {
            log::info!(
                "{}: {:?} -> {next:?} ({o:?}): {actions:?}",
                dev.be,
                dev.phase
            );
        }
        dev.phase = next;
        for a in actions {
            if let Err(e) = act(xs, gntdev, cfg, tx, dev, a) {
                log::warn!("{}: {a:?} failed: {e:#}", dev.be);
                let _ = xs.write(
                    NO_TX,
                    &format!("{}/error", dev.be),
                    format!("{e:#}").as_bytes(),
                );
                let _ = xs.write(NO_TX, &format!("{}/state", dev.be), b"5");
                if a == Action::Advertise {
                    dev.failed = true;
                }
                dev.phase = Phase::Closing;
                break;
            }
            if a == Action::Forget {
                gone.push(*key);
            }
        }
    }
    for key in gone {
        if let Some(mut d) = devices.remove(&key) {
            if let Some(c) = d.conn.take() {
                c.disconnect();
            }
            let _ = xs.unwatch(&format!("{}/state", d.fe), &d.token);
            log::info!("{}: released", d.be);
        }
    }
}

fn state_of(xs: &Xenstore, path: &str) -> XenbusState {
    xs.read_parse::<u32>(NO_TX, path)
        .and_then(|v| XenbusState::try_from(v).ok())
        .unwrap_or(XenbusState::Unknown)
}

fn observe(xs: &Xenstore, dev: &Device) -> Observed {
    Observed {
        backend_present: xs.read(NO_TX, &format!("{}/frontend", dev.be)).is_ok(),
        frontend: state_of(xs, &format!("{}/state", dev.fe)),
        backend_node: state_of(xs, &format!("{}/state", dev.be)),
        online: xs
            .read_parse::<u32>(NO_TX, &format!("{}/online", dev.be))
            .is_none_or(|v| v != 0),
    }
}

fn act(
    xs: &Xenstore,
    gntdev: &Arc<Gntdev>,
    cfg: &Config,
    tx: &Sender<WatchEvent>,
    dev: &mut Device,
    a: Action,
) -> Result<()> {
    match a {
        Action::Advertise => {
            let b = open_backing(xs, &dev.be, cfg)?;
            advertise(xs, &dev.be, &b, cfg)?;
            dev.backing = Some(Arc::new(b));
        }
        Action::Connect => {
            let backing = dev.backing.clone().context("connect before advertise")?;
            let specs = read_frontend(xs, &dev.fe, cfg)?;
            let tx = tx.clone();
            let token = format!("broken/{}", dev.token.trim_start_matches("fe/"));
            let on_broken = Arc::new(move || {
                let _ = tx.send(WatchEvent {
                    path: String::new(),
                    token: token.clone(),
                });
            });
            // Persistent grants when both ends want them (blkfront writes its own
            // `feature-persistent`).
            let fe_persistent = xs
                .read_parse::<u32>(NO_TX, &format!("{}/{}", dev.fe, keys::FEATURE_PERSISTENT))
                .unwrap_or(0)
                == 1;
            let opts = Options {
                engine: cfg.engine,
                persistent: cfg.persistent && fe_persistent,
            };
            let conn = Connection::connect(
                &dev.be,
                dev.fe_domid,
                gntdev,
                backing,
                &specs,
                opts,
                on_broken,
            )?;
            log::info!(
                "{}: connected, {} queue(s), {} ring page(s) each, persistent grants {}, {:?} engine",
                dev.be,
                specs.len(),
                specs[0].ring_refs.len(),
                if opts.persistent { "on" } else { "off" },
                conn.engine()
            );
            dev.conn = Some(conn);
        }
        Action::Disconnect => {
            if let Some(c) = dev.conn.take() {
                c.disconnect();
            }
        }
        Action::SetState(s) => {
            xs.write(
                NO_TX,
                &format!("{}/state", dev.be),
                (s as u32).to_string().as_bytes(),
            )?;
        }
        Action::Forget => {
            if let Some(c) = dev.conn.take() {
                c.disconnect();
            }
            dev.backing = None;
        }
    }
    Ok(())
}

/// Opens what `params` names (a `kind:` prefix such as `aio:` is ignored) in the mode `mode`
/// asks for, and works out the request limits.
fn open_backing(xs: &Xenstore, be: &str, cfg: &Config) -> Result<Backing> {
    let params = xs.read_string(NO_TX, &format!("{be}/{}", keys::PARAMS))?;
    let path = match params.rsplit_once(':') {
        Some((_, p)) if !params.starts_with('/') => p.to_string(),
        _ => params.clone(),
    };
    let mode = xs
        .read_string(NO_TX, &format!("{be}/{}", keys::MODE))
        .unwrap_or_else(|_| "w".into());
    let read_only = !mode.starts_with('w');
    let file = dom0_sys::file::open_backing(&path, !read_only, cfg.direct_io)
        .with_context(|| format!("opening {path}"))?;
    let bytes = dom0_sys::file::size_bytes(&file).with_context(|| format!("size of {path}"))?;
    Ok(Backing {
        file: Arc::new(file),
        limits: Limits {
            sectors: bytes / SECTOR_SIZE,
            read_only,
            flush: true,
            discard: !read_only,
            max_indirect_segments: if cfg.indirect {
                MAX_INDIRECT_SEGMENTS
            } else {
                0
            },
        },
    })
}

fn advertise(xs: &Xenstore, be: &str, b: &Backing, cfg: &Config) -> Result<()> {
    let phys = dom0_sys::file::logical_sector_size(&b.file)
        .unwrap_or(512)
        .max(512);
    let l = b.limits;
    let mut nodes: Vec<(&str, String)> = vec![
        (keys::FEATURE_FLUSH_CACHE, "1".into()),
        (
            keys::FEATURE_PERSISTENT,
            u8::from(cfg.persistent).to_string(),
        ),
        (
            keys::MAX_RING_PAGE_ORDER,
            cfg.max_ring_page_order.to_string(),
        ),
        (keys::MULTI_QUEUE_MAX_QUEUES, cfg.max_queues.to_string()),
        (keys::SECTOR_SIZE, "512".into()),
        (keys::PHYSICAL_SECTOR_SIZE, phys.to_string()),
        (keys::SECTORS, l.sectors.to_string()),
        (
            keys::INFO,
            if l.read_only { VDISK_READONLY } else { 0 }.to_string(),
        ),
    ];
    if l.max_indirect_segments > 0 {
        nodes.push((
            keys::FEATURE_MAX_INDIRECT_SEGMENTS,
            l.max_indirect_segments.to_string(),
        ));
    }
    if l.discard {
        nodes.push((keys::FEATURE_DISCARD, "1".into()));
        nodes.push((keys::DISCARD_GRANULARITY, "4096".into()));
        nodes.push((keys::DISCARD_ALIGNMENT, "0".into()));
        nodes.push((keys::DISCARD_SECURE, "0".into()));
    }
    xs.transaction(|t: Tx| {
        for (k, v) in &nodes {
            xs.write(t, &format!("{be}/{k}"), v.as_bytes())?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Reads the frontend's rings: `multi-queue-num-queues`, `ring-page-order`, and per queue the
/// `ring-ref`s and `event-channel`, checked against what was offered.
fn read_frontend(xs: &Xenstore, fe: &str, cfg: &Config) -> Result<Vec<QueueSpec>> {
    if let Ok(p) = xs.read_string(NO_TX, &format!("{fe}/{}", keys::PROTOCOL)) {
        if p != XEN_IO_PROTO_ABI_NATIVE {
            bail!("{fe}: unsupported protocol '{p}'");
        }
    }
    let queues: u32 = xs
        .read_parse(NO_TX, &format!("{fe}/{}", keys::MULTI_QUEUE_NUM_QUEUES))
        .unwrap_or(1);
    if queues == 0 || queues > cfg.max_queues {
        bail!("{fe}: {queues} queues (at most {} offered)", cfg.max_queues);
    }
    let order: u32 = xs
        .read_parse(NO_TX, &format!("{fe}/{}", keys::RING_PAGE_ORDER))
        .unwrap_or(0);
    if order > cfg.max_ring_page_order {
        bail!(
            "{fe}: ring-page-order {order} (at most {} offered)",
            cfg.max_ring_page_order
        );
    }
    (0..queues)
        .map(|q| {
            let dir = if queues == 1 {
                fe.to_string()
            } else {
                format!("{fe}/queue-{q}")
            };
            let read_u32 = |k: &str| -> Result<u32> {
                xs.read_parse(NO_TX, &format!("{dir}/{k}"))
                    .with_context(|| format!("{dir}/{k} missing or not a number"))
            };
            let ring_refs = if order == 0 {
                vec![GrantRef(read_u32(keys::RING_REF)?)]
            } else {
                (0..1u32 << order)
                    .map(|i| read_u32(&format!("{}{i}", keys::RING_REF_PREFIX)).map(GrantRef))
                    .collect::<Result<_>>()?
            };
            Ok(QueueSpec {
                ring_refs,
                event_channel: Port(read_u32(keys::EVENT_CHANNEL)?),
            })
        })
        .collect()
}
