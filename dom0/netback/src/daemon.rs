//! The daemon: one process for every `backend/vif/<domid>/<devid>` of this domain. The
//! discovery loop and the handshake are `xenbus-backend`'s; this is netback's [`Backend`]: a
//! new vif gets its TAP (named as `vif-bridge` expects, up, in the vif's `bridge`) and its
//! features before `InitWait`; connecting reads the frontend's rings, event channels and
//! features and starts the vif's two threads ([`crate::vif`]).

use crate::credit::Credit;
use crate::vif::{Connection, Ports, Rings, VifOptions};
use crate::vnet::{RxOffers, VNET_HDR_LEN};
use anyhow::{bail, Context, Result};
use dom0_sys::gntdev::Gntdev;
use dom0_sys::tap::{Tap, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6};
use std::process::Command;
use std::sync::Arc;
use xen_abi::types::{GrantRef, Port};
use xenbus_backend::driver::{self, Backend, Broken, DeviceInfo};
use xenstore::{Tx, Xenstore, NO_TX};

/// The features written before `InitWait` (reference netif.md §1.2), then
/// `multi-queue-max-queues` and `feature-split-event-channels` unless
/// `--no-split-event-channels`. No control ring or XDP headroom (yet); multicast control
/// without the dynamic variant (`request-multicast-control` is read at connection).
const FEATURES: &[(&str, &str)] = &[
    ("feature-sg", "1"),
    ("feature-gso-tcpv4", "1"),
    ("feature-gso-tcpv6", "1"),
    ("feature-ipv6-csum-offload", "1"),
    ("feature-rx-copy", "1"),
    ("feature-rx-flip", "0"),
    ("feature-multicast-control", "1"),
];

/// netback as a [`Backend`] of the discovery loop.
pub struct Netback {
    gntdev: Arc<Gntdev>,
    /// Offer `feature-split-event-channels`.
    split: bool,
    /// `multi-queue-max-queues`: the most queues a frontend may use.
    max_queues: u32,
}

impl std::fmt::Debug for Netback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "up to {} queue(s) per vif, split event channels {}, TAP with vnet headers",
            self.max_queues,
            if self.split { "offered" } else { "not offered" }
        )
    }
}

/// Runs `ip` (iproute2 or busybox) with `args`.
fn ip(args: &[&str]) -> Result<()> {
    let st = Command::new("ip")
        .args(args)
        .status()
        .with_context(|| format!("running ip {}", args.join(" ")))?;
    if !st.success() {
        bail!("ip {} failed ({st})", args.join(" "));
    }
    Ok(())
}

/// Puts `tap` into `bridge`: `ip link set … master`, else `brctl addif`.
fn add_to_bridge(tap: &str, bridge: &str) -> Result<()> {
    if ip(&["link", "set", "dev", tap, "master", bridge]).is_ok() {
        return Ok(());
    }
    let st = Command::new("brctl")
        .args(["addif", bridge, tap])
        .status()
        .context("running brctl")?;
    if !st.success() {
        bail!("adding {tap} to bridge {bridge} failed ({st})");
    }
    Ok(())
}

impl Backend for Netback {
    const TYPE: &'static str = "vif";
    type Store = Xenstore;
    type Device = Arc<Tap>;
    type Conn = Connection;
    type Error = anyhow::Error;

    fn advertise(&mut self, xs: &Xenstore, dev: &DeviceInfo) -> Result<Arc<Tap>> {
        let be = &dev.backend;
        let name = xs
            .read_string(NO_TX, &format!("{be}/vifname"))
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("vif{}.{}", dev.domid.0, dev.devid));
        let tap = Tap::create(&name).with_context(|| format!("creating TAP {name}"))?;
        tap.set_vnet_hdr_size(VNET_HDR_LEN as i32)
            .context("TUNSETVNETHDRSZ")?;
        // No offloads towards us until the frontend says what it takes.
        tap.set_offload(0).context("TUNSETOFFLOAD")?;
        // The address Linux's netback and vif-bridge give a vif: never the bridge's own.
        ip(&[
            "link",
            "set",
            "dev",
            tap.name(),
            "address",
            "fe:ff:ff:ff:ff:ff",
        ])?;
        ip(&["link", "set", "dev", tap.name(), "up"])?;
        let bridge = xs
            .read_string(NO_TX, &format!("{be}/bridge"))
            .ok()
            .filter(|b| !b.is_empty());
        if let Some(b) = &bridge {
            add_to_bridge(tap.name(), b)?;
        }
        xs.transaction(|t: Tx| {
            for (k, v) in FEATURES {
                xs.write(t, &format!("{be}/{k}"), v.as_bytes())?;
            }
            xs.write(
                t,
                &format!("{be}/multi-queue-max-queues"),
                self.max_queues.to_string().as_bytes(),
            )?;
            if self.split {
                xs.write(t, &format!("{be}/feature-split-event-channels"), b"1")?;
            }
            Ok(())
        })?;
        log::info!(
            "{be}: TAP {} up{}",
            tap.name(),
            bridge
                .map(|b| format!(" in bridge {b}"))
                .unwrap_or_default()
        );
        Ok(Arc::new(tap))
    }

    fn connect(
        &mut self,
        xs: &Xenstore,
        dev: &DeviceInfo,
        tap: &Arc<Tap>,
        broken: Broken,
    ) -> Result<Connection> {
        let fe = &dev.frontend;
        let read_u32 = |k: &str| -> Option<u32> { xs.read_parse(NO_TX, &format!("{fe}/{k}")) };
        let flag = |k: &str| read_u32(k).unwrap_or(0) == 1;
        // Linux's `connect()`: the frontend's count, 1 if absent; above what was offered (or 0)
        // it is refused. One queue keeps its keys in the frontend's directory, several each in
        // `queue-N/`.
        let dirs = queue_dirs(fe, read_u32("multi-queue-num-queues"), self.max_queues)?;
        let nq = dirs.len() as u32;
        if !flag("request-rx-copy") {
            bail!("{fe}: request-rx-copy is not 1 (flipping is not supported)");
        }
        let mut rings = Vec::with_capacity(dirs.len());
        for dir in &dirs {
            let get = |k: &str| -> Option<u32> { xs.read_parse(NO_TX, &format!("{dir}/{k}")) };
            let need =
                |k: &str| get(k).with_context(|| format!("{dir}/{k} missing or not a number"));
            // The split pair first, as Linux's `connect_data_rings()`.
            let ports = match (get("event-channel-tx"), get("event-channel-rx")) {
                (Some(tx), Some(rx)) if self.split => Ports::Split {
                    tx: Port(tx),
                    rx: Port(rx),
                },
                _ => Ports::Single(Port(need("event-channel")?)),
            };
            rings.push(Rings {
                tx_ref: GrantRef(need("tx-ring-ref")?),
                rx_ref: GrantRef(need("rx-ring-ref")?),
                ports,
            });
        }
        let sg = flag("feature-sg");
        let offers = RxOffers {
            gso_tcpv4: sg && flag("feature-gso-tcpv4"),
            gso_tcpv6: sg && flag("feature-gso-tcpv6"),
            ipv6_csum: flag("feature-ipv6-csum-offload"),
        };
        let csum = !flag("feature-no-csum-offload");
        let mut offload = 0;
        if csum {
            offload |= TUN_F_CSUM;
            if offers.gso_tcpv4 {
                offload |= TUN_F_TSO4;
            }
            if offers.gso_tcpv6 {
                offload |= TUN_F_TSO6;
            }
        }
        tap.set_offload(offload).context("TUNSETOFFLOAD")?;
        // The guest's transmit limit (libxl writes it from `rate=`), read at each connection.
        let rate = xs.read_string(NO_TX, &format!("{}/rate", dev.backend)).ok();
        let credit = Credit::from_node(rate.as_deref(), 0);
        if rate.is_some() && !credit.is_limited() {
            log::warn!(
                "{}: rate {:?} is not <bytes>,<usec>: traffic unlimited",
                dev.backend,
                rate.as_deref().unwrap_or_default()
            );
        }
        // Queue 0 is the device's TAP; each further queue of the frontend gets one of its own.
        let mut taps = vec![Arc::clone(tap)];
        for _ in 1..nq {
            taps.push(Arc::new(
                tap.attach_queue().context("attaching a TAP queue")?,
            ));
        }
        let conn = Connection::connect(
            &dev.backend,
            dev.domid,
            &self.gntdev,
            taps,
            &rings,
            VifOptions {
                offers,
                credit,
                multicast_control: flag("request-multicast-control"),
            },
            broken,
        )?;
        log::info!(
            "{}: connected, {nq} queue{}, {} event channel(s){}, sg {}, gso v4 {} v6 {}, csum offload {}, rx-notify {}{}",
            dev.backend,
            if nq == 1 { "" } else { "s" },
            match rings[0].ports {
                Ports::Split { .. } => 2,
                Ports::Single(_) => 1,
            },
            if nq == 1 { "" } else { " each" },
            u8::from(sg),
            u8::from(offers.gso_tcpv4),
            u8::from(offers.gso_tcpv6),
            u8::from(csum),
            u8::from(flag("feature-rx-notify")),
            rate.filter(|_| credit.is_limited())
                .map(|r| format!(", TX rate limit {r} (bytes,usec)"))
                .unwrap_or_default()
        );
        Ok(conn)
    }

    fn disconnect(&mut self, _dev: &DeviceInfo, conn: Connection) {
        let tap = conn.disconnect();
        let _ = tap.set_offload(0);
    }

    fn remove(&mut self, dev: &DeviceInfo, tap: Arc<Tap>) {
        let name = tap.name().to_string();
        drop(tap);
        log::info!("{}: TAP {name} removed", dev.backend);
    }
}

/// Where each queue's keys are (Linux's `connect()`): the frontend's
/// `multi-queue-num-queues` (absent: 1) must be 1 to `max`; one queue keeps its keys in the
/// frontend's directory `fe`, several each in `fe/queue-N`.
pub fn queue_dirs(fe: &str, asked: Option<u32>, max: u32) -> Result<Vec<String>> {
    let n = asked.unwrap_or(1);
    if n == 0 || n > max {
        bail!("{fe}: the frontend asks for {n} queues (1 to {max} offered)");
    }
    Ok(if n == 1 {
        vec![fe.to_string()]
    } else {
        (0..n).map(|q| format!("{fe}/queue-{q}")).collect()
    })
}

/// Runs the daemon until xenstore goes away, offering `max_queues` queues per vif.
pub fn run(split: bool, max_queues: u32) -> Result<()> {
    let gntdev = Gntdev::open().context("opening /dev/xen/gntdev")?;
    driver::run(Netback {
        gntdev,
        split,
        max_queues: max_queues.max(1),
    })
    .context("serving backend/vif")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_directories_as_linux_reads_them() {
        let fe = "/local/domain/3/device/vif/0";
        assert_eq!(queue_dirs(fe, None, 4).unwrap(), [fe]);
        assert_eq!(queue_dirs(fe, Some(1), 4).unwrap(), [fe]);
        assert_eq!(
            queue_dirs(fe, Some(2), 2).unwrap(),
            [format!("{fe}/queue-0"), format!("{fe}/queue-1")]
        );
        for bad in [0, 3, u32::MAX] {
            let e = queue_dirs(fe, Some(bad), 2).unwrap_err().to_string();
            assert!(
                e.contains(&format!("asks for {bad} queues (1 to 2 offered)")),
                "{e}"
            );
        }
    }
}
