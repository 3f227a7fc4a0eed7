//! The device verbs, as libxl adds and removes PV devices in xenstore (reference/toolstack-abi.md
//! §2.5, §3): `block-attach`/`block-detach`, `network-attach`/`network-detach`/`network-list`,
//! and `vcpu-set` (`cpu/N/availability`); and the closing of a device's backend that `destroy`
//! shares. A new device's hotplug script runs once its backend is in `InitWait`, a device's
//! `remove`/`offline` once its backend closed ([`crate::hotplug`]).

use crate::build::domain::{backend_domid, check_disk, random_mac, write_tx};
use crate::build::xs;
use crate::config::{parse_disk, parse_vif, vdev_to_devid};
use crate::ops::{find_domain, privcmd, xenstore};
use anyhow::{anyhow, bail, Context, Result};
use std::io::Write;
use std::time::{Duration, Instant};
use xenstore::{Xenstore, NO_TX};

/// How long a backend gets to close a device (libxl's `LIBXL_DESTROY_TIMEOUT`).
pub const BACKEND_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// `XenbusStateClosed`.
const CLOSED: u32 = 6;

/// Tells each backend to close (`online=0`, `state=5`, as libxl's
/// `libxl__initiate_device_generic_remove`) and waits up to `timeout` for them to reach
/// `Closed`; returns those that did not (they are removed anyway, as libxl forces it).
pub fn close_backends(xs: &Xenstore, backends: &[String], timeout: Duration) -> Vec<String> {
    let mut waiting = Vec::new();
    for be in backends {
        let state: Option<u32> = xs.read_parse(NO_TX, &format!("{be}/state"));
        if state.is_none() || state == Some(CLOSED) {
            continue;
        }
        let _ = xs.transaction(|tx| {
            xs.write(tx, &format!("{be}/online"), b"0")?;
            xs.write(tx, &format!("{be}/state"), b"5")
        });
        waiting.push(be.clone());
    }
    let deadline = Instant::now() + timeout;
    while !waiting.is_empty() && Instant::now() < deadline {
        waiting.retain(|be| {
            let state: Option<u32> = xs.read_parse(NO_TX, &format!("{be}/state"));
            state.is_some_and(|s| s != CLOSED)
        });
        if !waiting.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    waiting
}

/// Runs a device's hotplug script with `remove`/`offline` (its backend closed); a failure is
/// reported and the removal goes on, as libxl's.
pub fn hotplug_remove(xs: &Xenstore, be: &str) {
    if let Err(e) = crate::hotplug::run(xs, be, crate::hotplug::Action::Remove) {
        eprintln!("fxl: warning: {e:#}");
    }
}

/// Removes a device's frontend and backend directories, and the per-domain backend directory
/// (`…/backend/vbd/N`) once it is empty (`libxl__device_destroy`).
pub fn remove_dirs(xs: &Xenstore, frontend: &str, backend: Option<&str>) {
    let _ = xs.rm(NO_TX, frontend);
    if let Some(be) = backend {
        let _ = xs.rm(NO_TX, be);
        if let Some((parent, _)) = be.rsplit_once('/') {
            if xs.directory(NO_TX, parent).is_ok_and(|l| l.is_empty()) {
                let _ = xs.rm(NO_TX, parent);
            }
        }
    }
}

/// The devices of `kind` a domain has: their IDs, from libxl's and the frontend's directories.
fn device_ids(xs: &Xenstore, id: u16, kind: &str) -> Vec<u32> {
    let mut ids: Vec<u32> = [
        format!("/libxl/{id}/device/{kind}"),
        format!("/local/domain/{id}/device/{kind}"),
    ]
    .iter()
    .flat_map(|p| xs.directory(NO_TX, p).unwrap_or_default())
    .filter_map(|d| d.parse().ok())
    .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Takes device `devid` of `kind` away from domain `id`: the backend closes (up to 10 s, or not
/// waited for with `force`), then its directories and libxl's record go.
fn detach(xs: &Xenstore, id: u16, kind: &str, devid: u32, force: bool) -> Result<()> {
    let fe = format!("/local/domain/{id}/device/{kind}/{devid}");
    let rec = format!("/libxl/{id}/device/{kind}/{devid}");
    let backend = xs
        .read_string(NO_TX, &format!("{rec}/backend"))
        .or_else(|_| xs.read_string(NO_TX, &format!("{fe}/backend")))
        .ok();
    let Some(be) = backend else {
        bail!("domain {id} has no {kind} device {devid}");
    };
    if !force {
        for b in close_backends(xs, std::slice::from_ref(&be), BACKEND_CLOSE_TIMEOUT) {
            eprintln!("fxl: warning: backend {b} did not close within 10 s; removing it anyway");
        }
    } else {
        let _ = xs.write(NO_TX, &format!("{be}/online"), b"0");
    }
    hotplug_remove(xs, &be);
    remove_dirs(xs, &fe, Some(&be));
    let _ = xs.rm(NO_TX, &rec);
    Ok(())
}

/// `block-attach DOMAIN DISKSPEC…`: the words of the spec are its comma-separated items, as
/// xl's `parse_disk_config_multistring`; the vbd is written as `create` writes one.
pub fn block_attach(q: &str, spec: &[String]) -> Result<()> {
    if spec.is_empty() {
        bail!("block-attach: no disk spec given");
    }
    let joined = spec.join(",");
    let disk = parse_disk(&joined).map_err(|e| anyhow!("disk spec \"{joined}\": {e}"))?;
    check_disk(&disk)?;
    let (pc, xs) = (privcmd()?, xenstore()?);
    let id = find_domain(&pc, &xs, q)?.domain.0;
    if id == 0 {
        bail!("block-attach to domain 0 is not supported");
    }
    if device_ids(&xs, id, "vbd").contains(&disk.devid) {
        bail!(
            "domain {id} already has a disk {} ({})",
            disk.vdev,
            disk.devid
        );
    }
    let be = backend_domid(disk.backend.as_deref())?;
    write_tx(&xs, &xs::vbd_entries(id, &disk, be))
        .with_context(|| format!("xenstore: disk {}", disk.vdev))?;
    hotplug_new(&xs, id, "vbd", disk.devid, be)
}

/// Runs a newly written device's hotplug script (after its backend's `InitWait`); if that
/// fails, the device is taken away again, as libxl does, and the error returned.
fn hotplug_new(xs: &Xenstore, id: u16, kind: &str, devid: u32, be: u16) -> Result<()> {
    let path = format!("/local/domain/{be}/backend/{kind}/{id}/{devid}");
    if let Err(e) = crate::hotplug::add(xs, &path) {
        let _ = detach(xs, id, kind, devid, true);
        return Err(e.context(format!("{kind} {devid} of domain {id} was not attached")));
    }
    Ok(())
}

/// A disk named by its vdev (`xvdb`) or its number (`51728`).
pub fn disk_devid(dev: &str) -> Option<u32> {
    if !dev.is_empty() && dev.bytes().all(|c| c.is_ascii_digit()) {
        dev.parse().ok()
    } else {
        vdev_to_devid(dev)
    }
}

/// `block-detach [--force] DOMAIN VDEV`.
pub fn block_detach(q: &str, dev: &str, force: bool) -> Result<()> {
    let devid = disk_devid(dev).ok_or_else(|| anyhow!("{dev}: not a disk name or number"))?;
    let (pc, xs) = (privcmd()?, xenstore()?);
    let id = find_domain(&pc, &xs, q)?.domain.0;
    if !device_ids(&xs, id, "vbd").contains(&devid) {
        bail!("Error: Device {dev} not connected.");
    }
    detach(&xs, id, "vbd", devid, force)
}

/// `network-attach DOMAIN [KEY=VALUE…]`: the words are the vif spec's items (xl's
/// `parse_nic_config` per word); the new vif takes the next free number (`libxl__device_nextid`)
/// and a random MAC if it names none.
pub fn network_attach(q: &str, spec: &[String]) -> Result<()> {
    let joined = spec.join(",");
    let vif = parse_vif(&joined).map_err(|e| anyhow!("vif spec \"{joined}\": {e}"))?;
    let (pc, xs) = (privcmd()?, xenstore()?);
    let id = find_domain(&pc, &xs, q)?.domain.0;
    if id == 0 {
        bail!("network-attach to domain 0 is not supported");
    }
    let devid = device_ids(&xs, id, "vif").last().map_or(0, |d| d + 1);
    let mac = match &vif.mac {
        Some(m) => m.clone(),
        None => random_mac()?,
    };
    let be = backend_domid(vif.backend.as_deref())?;
    write_tx(&xs, &xs::vif_entries(id, devid, &vif, &mac, be))
        .with_context(|| format!("xenstore: vif {devid}"))?;
    hotplug_new(&xs, id, "vif", devid, be)
}

/// `network-detach DOMAIN DEVID|MAC`.
pub fn network_detach(q: &str, dev: &str) -> Result<()> {
    let (pc, xs) = (privcmd()?, xenstore()?);
    let id = find_domain(&pc, &xs, q)?.domain.0;
    let ids = device_ids(&xs, id, "vif");
    let devid = if dev.contains(':') {
        let want = dev.to_ascii_lowercase();
        ids.iter().copied().find(|d| {
            xs.read_string(NO_TX, &format!("/local/domain/{id}/device/vif/{d}/mac"))
                .is_ok_and(|m| m.to_ascii_lowercase() == want)
        })
    } else {
        dev.parse().ok().filter(|d| ids.contains(d))
    };
    let devid = devid.ok_or_else(|| anyhow!("Unknown device {dev}."))?;
    detach(&xs, id, "vif", devid, false)
}

/// xl's network-list header (`xl_nic.c main_networklist`).
pub fn nic_header() -> String {
    format!(
        "{:<3} {:<2} {:<17} {:<6} {:<5} {:<6} {:>5}/{:<5} {:<30}",
        "Idx", "BE", "Mac Addr.", "handle", "state", "evt-ch", "tx-", "rx-ring-ref", "BE-path"
    )
}

/// One network-list row: number, backend domain, MAC, handle, frontend state, event channel,
/// TX and RX ring references (-1 until the frontend connects), backend path.
#[allow(clippy::too_many_arguments)]
pub fn nic_row(
    devid: u32,
    be: i64,
    mac: &str,
    state: i64,
    evtch: i64,
    tx: i64,
    rx: i64,
    path: &str,
) -> String {
    format!("{devid:<3} {be:<2} {mac}{devid:>6} {state:>5} {evtch:>6} {tx:>5}/{rx:<11} {path:<30}")
}

/// `network-list DOMAIN…`.
pub fn network_list(qs: &[String]) -> Result<()> {
    if qs.is_empty() {
        bail!("network-list: no domain given");
    }
    let (pc, xs) = (privcmd()?, xenstore()?);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", nic_header())?;
    for q in qs {
        let id = find_domain(&pc, &xs, q)?.domain.0;
        for devid in device_ids(&xs, id, "vif") {
            let fe = format!("/local/domain/{id}/device/vif/{devid}");
            let num = |k: &str| -> i64 { xs.read_parse(NO_TX, &format!("{fe}/{k}")).unwrap_or(-1) };
            let Ok(backend) = xs.read_string(NO_TX, &format!("{fe}/backend")) else {
                continue;
            };
            let mac = xs
                .read_string(NO_TX, &format!("{fe}/mac"))
                .unwrap_or_default();
            // As libxl: -1 for a frontend with split event channels (`event-channel-tx`).
            let evtch = num("event-channel");
            writeln!(
                out,
                "{}",
                nic_row(
                    devid,
                    num("backend-id"),
                    &mac,
                    num("state"),
                    evtch,
                    num("tx-ring-ref"),
                    num("rx-ring-ref"),
                    &backend
                )
            )?;
        }
    }
    Ok(())
}

/// The `cpu/N/availability` values for `online` of `max` vCPUs.
pub fn availability(online: u32, max: u32) -> Vec<(u32, &'static str)> {
    (0..max)
        .map(|v| (v, if v < online { "online" } else { "offline" }))
        .collect()
}

/// `vcpu-set [-i] DOMAIN N`, as `libxl_set_vcpuonline` for a PV guest: vCPUs `0..N` online and
/// the rest offline in `cpu/*/availability` (one transaction); the guest's kernel brings them up
/// or down. N may not exceed the domain's maximum, nor (without `-i`) the host's CPUs.
pub fn vcpu_set(q: &str, n: u32, ignore_host: bool) -> Result<()> {
    if n == 0 {
        bail!("vcpu-set: a domain needs at least one vCPU");
    }
    let (pc, xs) = (privcmd()?, xenstore()?);
    let d = find_domain(&pc, &xs, q)?;
    let id = d.domain.0;
    if id == 0 {
        bail!("vcpu-set of domain 0: not implemented yet in fxl");
    }
    let max = d.max_vcpu_id.wrapping_add(1);
    if n > max {
        bail!("Requested {n} VCPUs, however maxcpus is {max}!");
    }
    let host = pc.physinfo().context("sysctl physinfo")?.nr_cpus;
    if n > host && !ignore_host {
        bail!("You are overcommmitting! You have {host} physical CPUs and want {n} VCPUs! Aborting, use --ignore-host to continue");
    }
    let dir = format!("/local/domain/{id}/cpu");
    xs.transaction(|tx| {
        for (v, state) in availability(n, max) {
            xs.write(tx, &format!("{dir}/{v}/availability"), state.as_bytes())?;
        }
        Ok(())
    })
    .with_context(|| format!("xenstore: {dir}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_devid_takes_names_and_numbers() {
        assert_eq!(disk_devid("xvdb"), Some(51728));
        assert_eq!(disk_devid("51728"), Some(51728));
        assert_eq!(disk_devid("xvda1"), Some(51713));
        assert_eq!(disk_devid("floppy"), None);
        assert_eq!(disk_devid(""), None);
    }

    #[test]
    fn network_list_as_xl() {
        assert_eq!(
            nic_header(),
            "Idx BE Mac Addr.         handle state evt-ch   tx-/rx-ring-ref BE-path                       "
        );
        assert_eq!(
            nic_row(0, 0, "00:16:3e:00:00:42", 4, 18, 768, 769, "/local/domain/0/backend/vif/3/0"),
            "0   0  00:16:3e:00:00:42     0     4     18   768/769         /local/domain/0/backend/vif/3/0"
        );
    }

    #[test]
    fn availability_as_libxl() {
        assert_eq!(
            availability(1, 3),
            vec![(0, "online"), (1, "offline"), (2, "offline")]
        );
        assert_eq!(availability(2, 2), vec![(0, "online"), (1, "online")]);
    }
}
