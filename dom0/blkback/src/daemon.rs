//! The daemon: one process for every `backend/vbd/<domid>/<devid>` of this domain. The
//! discovery loop and the handshake are `xenbus-backend`'s ([`xenbus_backend::driver`]); this
//! is blkback's [`Backend`]: what a `vbd` advertises (from its backing) and how it connects
//! (reading the frontend's rings). Each connected device's queues and I/O run on their own
//! threads ([`crate::device`]).

use crate::device::{Backing, Connection, Engine, Options, QueueSpec};
use crate::request::{Limits, MAX_INDIRECT_SEGMENTS, SECTOR_SIZE};
use anyhow::{bail, Context, Result};
use dom0_sys::gntdev::Gntdev;
use std::sync::Arc;
use xen_abi::io::blkif::{keys, VDISK_READONLY, XEN_IO_PROTO_ABI_NATIVE};
use xen_abi::types::{GrantRef, Port};
use xenbus_backend::driver::{self, Backend, Broken, DeviceInfo};
use xenstore::{Tx, Xenstore, NO_TX};

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

/// blkback as a [`Backend`] of the discovery loop: the devices are `vbd`s, advertising opens
/// the backing, connecting maps the rings and starts the queues.
pub struct Blkback {
    cfg: Config,
    gntdev: Arc<Gntdev>,
}

impl std::fmt::Debug for Blkback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.cfg)
    }
}

impl Backend for Blkback {
    const TYPE: &'static str = "vbd";
    type Store = Xenstore;
    type Device = Arc<Backing>;
    type Conn = Connection;
    type Error = anyhow::Error;

    fn advertise(&mut self, xs: &Xenstore, dev: &DeviceInfo) -> Result<Arc<Backing>> {
        let b = open_backing(xs, &dev.backend, &self.cfg)?;
        advertise(xs, &dev.backend, &b, &self.cfg)?;
        Ok(Arc::new(b))
    }

    fn connect(
        &mut self,
        xs: &Xenstore,
        dev: &DeviceInfo,
        backing: &Arc<Backing>,
        broken: Broken,
    ) -> Result<Connection> {
        let cfg = &self.cfg;
        let specs = read_frontend(xs, &dev.frontend, cfg)?;
        // Persistent grants when both ends want them (blkfront writes its own
        // `feature-persistent`).
        let fe_persistent = xs
            .read_parse::<u32>(
                NO_TX,
                &format!("{}/{}", dev.frontend, keys::FEATURE_PERSISTENT),
            )
            .unwrap_or(0)
            == 1;
        let opts = Options {
            engine: cfg.engine,
            persistent: cfg.persistent && fe_persistent,
        };
        let conn = Connection::connect(
            &dev.backend,
            dev.domid,
            &self.gntdev,
            Arc::clone(backing),
            &specs,
            opts,
            Arc::new(move || broken.signal()),
        )?;
        log::info!(
            "{}: connected, {} queue(s), {} ring page(s) each, persistent grants {}, {:?} engine",
            dev.backend,
            specs.len(),
            specs[0].ring_refs.len(),
            if opts.persistent { "on" } else { "off" },
            conn.engine()
        );
        Ok(conn)
    }

    fn disconnect(&mut self, _dev: &DeviceInfo, conn: Connection) {
        conn.disconnect();
    }
}

/// Runs the daemon until xenstore goes away.
pub fn run(cfg: Config) -> Result<()> {
    let gntdev = Gntdev::open().context("opening /dev/xen/gntdev")?;
    driver::run(Blkback { cfg, gntdev }).context("serving backend/vbd")
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
