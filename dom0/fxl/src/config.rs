//! The typed PV domain configuration read from an xl.cfg ([`crate::cfg`]): each key checked
//! and given its meaning as xl gives it (`xl/xl_parse.c`), with errors that name the file, the
//! line, the key and what was expected. [`DomainConfig::to_xl_cfg`] prints it back.

use crate::cfg::{quote, Cfg, Setting, Value};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A configuration error: where, and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Bad syntax.
    #[error(transparent)]
    Syntax(#[from] crate::cfg::SyntaxError),
    /// A key or value error at a line.
    #[error("{source_name}:{line}: {msg}")]
    At {
        /// File or `command line`.
        source_name: String,
        /// 1-based line.
        line: u32,
        /// What was wrong.
        msg: String,
    },
    /// Something missing from the whole file.
    #[error("{source_name}: {msg}")]
    File {
        /// File.
        source_name: String,
        /// What was wrong.
        msg: String,
    },
}

/// The guest type. Only PV runs on Ferrite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestType {
    /// Paravirtualised.
    Pv,
}

/// What to do when the guest powers off, reboots, crashes… (`on_poweroff` etc.).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Destroy the domain.
    Destroy,
    /// Destroy it and create it again from the same configuration.
    Restart,
    /// Rename it and restart a new one.
    RenameRestart,
    /// Keep it, as it is, for inspection.
    Preserve,
    /// Dump its core, then destroy it.
    CoredumpDestroy,
    /// Dump its core, then restart it.
    CoredumpRestart,
    /// Soft reset (kexec-like); only for `on_soft_reset`.
    SoftReset,
}

impl Action {
    /// Every action with its xl.cfg name.
    pub const ALL: [(&'static str, Action); 7] = [
        ("destroy", Action::Destroy),
        ("restart", Action::Restart),
        ("rename-restart", Action::RenameRestart),
        ("preserve", Action::Preserve),
        ("coredump-destroy", Action::CoredumpDestroy),
        ("coredump-restart", Action::CoredumpRestart),
        ("soft-reset", Action::SoftReset),
    ];

    /// Its xl.cfg name.
    pub fn name(self) -> &'static str {
        Action::ALL
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("destroy", |(n, _)| n)
    }
}

/// Disk image formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskFormat {
    /// Raw image or block device.
    Raw,
    /// qcow.
    Qcow,
    /// qcow2.
    Qcow2,
    /// VHD.
    Vhd,
    /// QED.
    Qed,
}

impl DiskFormat {
    const ALL: [(&'static str, DiskFormat); 5] = [
        ("raw", DiskFormat::Raw),
        ("qcow", DiskFormat::Qcow),
        ("qcow2", DiskFormat::Qcow2),
        ("vhd", DiskFormat::Vhd),
        ("qed", DiskFormat::Qed),
    ];
    /// Its xl.cfg name.
    pub fn name(self) -> &'static str {
        DiskFormat::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("raw", |(n, _)| n)
    }
}

/// Disk backend implementations (`backendtype=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendType {
    /// A kernel or user backend serving a block device or raw file (`phy`).
    Phy,
    /// QEMU's (`qdisk`).
    Qdisk,
    /// blktap (`tap`).
    Tap,
    /// A standalone user backend (`standalone`).
    Standalone,
}

impl BackendType {
    const ALL: [(&'static str, BackendType); 4] = [
        ("phy", BackendType::Phy),
        ("qdisk", BackendType::Qdisk),
        ("tap", BackendType::Tap),
        ("standalone", BackendType::Standalone),
    ];
    /// Its xl.cfg name.
    pub fn name(self) -> &'static str {
        BackendType::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("phy", |(n, _)| n)
    }
}

/// One `disk=[…]` entry (xl-disk-configuration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    /// Image or device path (`None`: an empty CD-ROM drive).
    pub target: Option<String>,
    /// Image format.
    pub format: DiskFormat,
    /// The guest's name for it (`xvda`).
    pub vdev: String,
    /// Its xenstore device number (xen-vbd-interface: `xvda` = 51712).
    pub devid: u32,
    /// Read-only.
    pub readonly: bool,
    /// A CD-ROM.
    pub cdrom: bool,
    /// Backend domain (name or ID), default dom0.
    pub backend: Option<String>,
    /// Backend implementation, default chosen by the toolstack.
    pub backendtype: Option<BackendType>,
    /// Hotplug script.
    pub script: Option<String>,
    /// `direct-io-safe`.
    pub direct_io_safe: bool,
    /// `discard` (default) or `no-discard`.
    pub discard: bool,
}

/// One `vif=[…]` entry (xl-network-configuration).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vif {
    /// `mac=` (`None`: random `00:16:3e:…` at creation).
    pub mac: Option<String>,
    /// `bridge=` (`None`: `xenbr0`).
    pub bridge: Option<String>,
    /// `ip=`.
    pub ip: Option<String>,
    /// `script=` (`None`: `vif-bridge`).
    pub script: Option<String>,
    /// `vifname=`.
    pub vifname: Option<String>,
    /// `backend=` domain.
    pub backend: Option<String>,
    /// `rate=` (e.g. `10Mb/s@20ms`).
    pub rate: Option<String>,
    /// `gatewaydev=` (`netdev=`).
    pub gatewaydev: Option<String>,
    /// `mtu=`.
    pub mtu: Option<u32>,
}

/// A PV domain's configuration: what `fxl create -n` prints (schema in docs/fxl.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainConfig {
    /// `name`.
    pub name: String,
    /// `type` (always `pv`).
    #[serde(rename = "type")]
    pub guest_type: GuestType,
    /// `uuid` (`None`: a random one at creation).
    pub uuid: Option<String>,
    /// `kernel`.
    pub kernel: String,
    /// `ramdisk`.
    pub ramdisk: Option<String>,
    /// The kernel command line, from `cmdline` or `root` + `extra`.
    pub cmdline: String,
    /// `memory` in MiB.
    pub memory_mib: u64,
    /// `maxmem` in MiB (default `memory`).
    pub maxmem_mib: u64,
    /// `vcpus`: online at boot.
    pub vcpus: u32,
    /// `maxvcpus` (default `vcpus`).
    pub maxvcpus: u32,
    /// `cpus`: hard affinity (`None`: all). One string, or one per vCPU.
    pub cpus: Option<Vec<String>>,
    /// `cpus_soft`.
    pub cpus_soft: Option<Vec<String>>,
    /// `disk`.
    pub disks: Vec<Disk>,
    /// `vif`.
    pub vifs: Vec<Vif>,
    /// `on_poweroff`.
    pub on_poweroff: Action,
    /// `on_reboot`.
    pub on_reboot: Action,
    /// `on_watchdog`.
    pub on_watchdog: Action,
    /// `on_crash`.
    pub on_crash: Action,
    /// `on_soft_reset`.
    pub on_soft_reset: Action,
    /// `max_grant_frames`.
    pub max_grant_frames: Option<u32>,
    /// `max_maptrack_frames`.
    pub max_maptrack_frames: Option<u32>,
}

/// Every key fxl reads.
pub const KEYS: &[&str] = &[
    "name",
    "type",
    "builder",
    "uuid",
    "kernel",
    "ramdisk",
    "cmdline",
    "extra",
    "root",
    "memory",
    "maxmem",
    "vcpus",
    "maxvcpus",
    "cpus",
    "cpus_soft",
    "disk",
    "vif",
    "on_poweroff",
    "on_reboot",
    "on_watchdog",
    "on_crash",
    "on_soft_reset",
    "max_grant_frames",
    "max_maptrack_frames",
    "bootloader",
    "bootloader_args",
];

/// xl keys fxl knows but does not (yet) offer, with why.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "vfb",
        "virtual framebuffers need QEMU, which Ferrite does not run",
    ),
    (
        "vkb",
        "virtual keyboards need QEMU, which Ferrite does not run",
    ),
    ("pci", "PCI passthrough is not supported"),
    ("vtpm", "vTPMs are not supported"),
    ("channel", "channels are not supported yet"),
    ("usbctrl", "USB is not supported"),
    ("usbdev", "USB is not supported"),
    ("p9", "9pfs is not supported"),
    ("irqs", "IRQ passthrough is not supported"),
    ("iomem", "iomem passthrough is not supported"),
    ("ioports", "I/O port passthrough is not supported"),
    (
        "device_model_version",
        "there is no device model for PV guests on Ferrite",
    ),
    (
        "device_model_override",
        "there is no device model for PV guests on Ferrite",
    ),
    ("pool", "CPU pools are not supported yet"),
    ("seclabel", "XSM labels are not supported"),
];

/// The number of single-character edits from `a` to `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The valid name nearest to `got`, if it is near enough to be a typo.
pub fn nearest<'a>(got: &str, valid: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    valid
        .into_iter()
        .map(|k| (edit_distance(got, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3) && *d < k.len().max(got.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn did_you_mean<'a>(got: &str, valid: impl IntoIterator<Item = &'a str>) -> String {
    nearest(got, valid).map_or(String::new(), |k| format!(" (did you mean \"{k}\"?)"))
}

/// `strtol(s, &end, 0)` that must consume all of `s`: decimal, `0x` hex, `0` octal.
pub fn parse_c_long(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8).ok()?
    } else {
        t.parse::<i64>().ok()?
    };
    if t.is_empty() {
        return None;
    }
    Some(if neg { -v } else { v })
}

struct Reader<'a> {
    cfg: &'a Cfg,
}

impl Reader<'_> {
    fn err(&self, s: &Setting, msg: impl Into<String>) -> ConfigError {
        ConfigError::At {
            source_name: s.source.clone(),
            line: s.line,
            msg: format!("{}: {}", s.key, msg.into()),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        let Some(s) = self.cfg.get(key) else {
            return Ok(None);
        };
        match s.value.atom() {
            Some(a) => Ok(Some(a.to_string())),
            None => Err(self.err(s, "expected a string, got a list")),
        }
    }

    fn number(
        &self,
        key: &str,
        what: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, ConfigError> {
        let Some(s) = self.cfg.get(key) else {
            return Ok(None);
        };
        let v = match s.value.atom() {
            Some(a) => parse_c_long(a)
                .ok_or_else(|| self.err(s, format!("expected {what}, got {}", quote(a))))?,
            None => return Err(self.err(s, format!("expected {what}, got a list"))),
        };
        if v < min || v > max {
            return Err(self.err(s, format!("{v} is out of range ({min} to {max})")));
        }
        Ok(Some(v))
    }

    fn action(&self, key: &str, default: Action) -> Result<Action, ConfigError> {
        let Some(v) = self.string(key)? else {
            return Ok(default);
        };
        let s = self.cfg.get(key).expect("string() found it");
        match Action::ALL.iter().find(|(n, _)| *n == v) {
            Some((_, Action::SoftReset)) if key != "on_soft_reset" => Err(self.err(
                s,
                "\"soft-reset\" is valid only for on_soft_reset",
            )),
            Some((_, a)) => Ok(*a),
            None => Err(self.err(
                s,
                format!(
                    "expected one of destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart, soft-reset; got {}{}",
                    quote(&v),
                    did_you_mean(&v, Action::ALL.iter().map(|(n, _)| *n))
                ),
            )),
        }
    }

    /// A list of strings (or one string, as xl accepts for `cpus`).
    fn strings(&self, key: &str) -> Result<Option<(Vec<String>, &Setting)>, ConfigError> {
        let Some(s) = self.cfg.get(key) else {
            return Ok(None);
        };
        let items = match &s.value {
            Value::List(l) => l
                .iter()
                .map(|v| {
                    v.atom()
                        .map(str::to_string)
                        .ok_or_else(|| self.err(s, "expected a list of strings, got a nested list"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            v => vec![v.atom().unwrap_or_default().to_string()],
        };
        Ok(Some((items, s)))
    }
}

/// `cpus`/`cpus_soft` values: `all`, `nodes:…`, or ranges `0-3,^2`.
fn check_cpulist(s: &str) -> Result<(), String> {
    if s == "all" {
        return Ok(());
    }
    for part in s.split(',') {
        let p = part.trim();
        let p = p.strip_prefix('^').unwrap_or(p);
        let p = p
            .strip_prefix("nodes:")
            .or_else(|| p.strip_prefix("node:"))
            .unwrap_or(p);
        let ok = match p.split_once('-') {
            Some((a, b)) => {
                matches!((a.parse::<u32>(), b.parse::<u32>()), (Ok(a), Ok(b)) if a <= b)
            }
            None => p == "all" || p.parse::<u32>().is_ok(),
        };
        if !ok {
            return Err(format!(
                "expected CPUs as \"all\", \"N\", \"N-M\", \"^N\" or \"nodes:N\", comma-separated; got {}",
                quote(s)
            ));
        }
    }
    Ok(())
}

/// The xenstore device number of a vdev (`docs/man/xen-vbd-interface.7`).
pub fn vdev_to_devid(vdev: &str) -> Option<u32> {
    fn letters(s: &str) -> Option<(u32, &str)> {
        let end = s.find(|c: char| !c.is_ascii_lowercase()).unwrap_or(s.len());
        if end == 0 || end > 3 {
            return None;
        }
        let mut n: u32 = 0;
        for c in s[..end].bytes() {
            n = n * 26 + u32::from(c - b'a') + 1;
        }
        Some((n - 1, &s[end..]))
    }
    fn part(s: &str) -> Option<u32> {
        if s.is_empty() {
            Some(0)
        } else if s.starts_with('0') {
            None
        } else {
            s.parse().ok()
        }
    }
    if let Some(r) = vdev.strip_prefix("xvd") {
        let (disk, rest) = letters(r)?;
        let p = part(rest)?;
        return if disk < 16 && p < 16 {
            Some((202 << 8) | (disk << 4) | p)
        } else if disk < (1 << 20) && p < 256 {
            Some((1 << 28) | (disk << 8) | p)
        } else {
            None
        };
    }
    if let Some(r) = vdev.strip_prefix("sd") {
        let (disk, rest) = letters(r)?;
        let p = part(rest)?;
        return (disk < 16 && p < 16).then_some((8 << 8) | (disk << 4) | p);
    }
    if let Some(r) = vdev.strip_prefix("hd") {
        let (disk, rest) = letters(r)?;
        let p = part(rest)?;
        let major = [3, 22, 33, 34].get(disk as usize / 2)?;
        return (p < 64).then_some((major << 8) | ((disk % 2) * 64) | p);
    }
    if let Some(r) = vdev.strip_prefix('d') {
        let (d, p) = r.split_once('p').unwrap_or((r, "0"));
        let (d, p) = (d.parse::<u32>().ok()?, p.parse::<u32>().ok()?);
        return (d < (1 << 20) && p < 256).then_some((1 << 28) | (d << 8) | p);
    }
    None
}

/// Parses one disk spec (xl-disk-configuration).
pub fn parse_disk(spec: &str) -> Result<Disk, String> {
    let mut target: Option<Option<String>> = None;
    let mut format: Option<Option<DiskFormat>> = None;
    let mut vdev: Option<String> = None;
    let mut access: Option<Option<bool>> = None;
    let mut cdrom = false;
    let mut backend = None;
    let mut backendtype = None;
    let mut script = None;
    let mut direct_io_safe = false;
    let mut discard = true;
    let mut depr_prefix = false;

    fn fmt_of(v: &str) -> Result<Option<DiskFormat>, String> {
        if v.is_empty() {
            return Ok(None);
        }
        DiskFormat::ALL
            .iter()
            .find(|(n, _)| *n == v)
            .map(|(_, f)| Some(*f))
            .ok_or_else(|| {
                format!(
                    "format: expected raw, qcow, qcow2, vhd or qed, got {}{}",
                    quote(v),
                    did_you_mean(v, DiskFormat::ALL.iter().map(|(n, _)| *n))
                )
            })
    }
    fn access_of(v: &str) -> Result<Option<bool>, String> {
        match v {
            "" => Ok(None),
            "ro" | "r" => Ok(Some(true)),
            "rw" | "w" => Ok(Some(false)),
            _ => Err(format!("access: expected ro, r, rw or w, got {}", quote(v))),
        }
    }
    fn once<T>(slot: &mut Option<T>, v: T, what: &str) -> Result<(), String> {
        if slot.is_some() {
            return Err(format!("{what} is given twice"));
        }
        *slot = Some(v);
        Ok(())
    }

    let mut rest = spec;
    while !rest.is_empty() {
        let item_full = rest.trim_start();
        if let Some(t) = item_full.strip_prefix("target=") {
            // target= takes the rest of the spec, commas included.
            target = Some((!t.is_empty()).then(|| t.to_string()));
            break;
        }
        let (item, next) = match item_full.find(',') {
            Some(i) => (&item_full[..i], &item_full[i + 1..]),
            None => (item_full, ""),
        };
        rest = next;
        let item = item.trim_end();
        if let Some((k, v)) = item.split_once('=') {
            match k {
                "format" => once(&mut format, fmt_of(v)?, "format")?,
                "vdev" => once(&mut vdev, v.to_string(), "vdev")?,
                "access" => once(&mut access, access_of(v)?, "access")?,
                "devtype" => match v {
                    "cdrom" => cdrom = true,
                    "disk" | "" => {}
                    _ => return Err(format!("devtype: expected cdrom, got {}", quote(v))),
                },
                "backend" => backend = Some(v.to_string()),
                "backendtype" => {
                    backendtype = Some(
                        BackendType::ALL
                            .iter()
                            .find(|(n, _)| *n == v)
                            .map(|(_, b)| *b)
                            .ok_or_else(|| {
                                format!(
                                    "backendtype: expected phy, qdisk, tap or standalone, got {}{}",
                                    quote(v),
                                    did_you_mean(v, BackendType::ALL.iter().map(|(n, _)| *n))
                                )
                            })?,
                    )
                }
                "script" => script = Some(v.to_string()),
                _ => {
                    const KEYS: [&str; 8] = [
                        "target",
                        "format",
                        "vdev",
                        "access",
                        "devtype",
                        "backend",
                        "backendtype",
                        "script",
                    ];
                    return Err(format!("unknown disk key \"{k}\"{}", did_you_mean(k, KEYS)));
                }
            }
            continue;
        }
        match item {
            "cdrom" => cdrom = true,
            "direct-io-safe" => direct_io_safe = true,
            "discard" => discard = true,
            "no-discard" => discard = false,
            _ if target.is_none() => {
                let mut t = item;
                // Deprecated prefixes: `raw:`, `phy:`, `tap:aio:`, …
                while let Some((p, r)) = t.split_once(':') {
                    match p {
                        "raw" | "qcow" | "qcow2" | "vhd" => format = Some(fmt_of(p)?),
                        "iscsi" | "nbd" | "enbd" | "drbd" => script = Some(format!("block-{p}")),
                        "tapdisk" | "tap2" | "tap" | "aio" | "ioemu" | "file" | "phy" => {}
                        _ => break,
                    }
                    depr_prefix = true;
                    t = r;
                }
                target = Some((!t.is_empty()).then(|| t.to_string()));
            }
            _ if format.is_none() && !depr_prefix => format = Some(fmt_of(item)?),
            _ if vdev.is_none() => {
                let v = match item.split_once(':') {
                    Some((v, "cdrom")) => {
                        cdrom = true;
                        v
                    }
                    Some((_, t)) => return Err(format!("vdev: unknown device type \"{t}\"")),
                    None => item,
                };
                vdev = Some(v.to_string());
            }
            _ if access.is_none() => access = Some(access_of(item)?),
            _ => return Err(format!("too many positional parameters at {}", quote(item))),
        }
    }
    let vdev = vdev
        .filter(|v| !v.is_empty())
        .ok_or_else(|| "no vdev (the guest's name for the disk, e.g. vdev=xvda)".to_string())?;
    let devid = vdev_to_devid(&vdev).ok_or_else(|| {
        format!(
            "vdev: expected xvdX, hdX, sdX or dN[pM], got {}",
            quote(&vdev)
        )
    })?;
    let target = target.flatten().map(|t| {
        if t.starts_with('/') || script.is_some() {
            t
        } else {
            format!("/dev/{t}")
        }
    });
    if target.is_none() && !cdrom {
        return Err("no target (the image or device, e.g. target=/dev/vg/guest)".into());
    }
    Ok(Disk {
        target,
        format: format.flatten().unwrap_or(DiskFormat::Raw),
        vdev,
        devid,
        readonly: access.flatten().unwrap_or(cdrom),
        cdrom,
        backend,
        backendtype,
        script,
        direct_io_safe,
        discard,
    })
}

impl fmt::Display for Disk {
    /// The spec in xl's keyword form (it parses back to the same disk).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "format={}, vdev={}, access={}",
            self.format.name(),
            self.vdev,
            if self.readonly { "ro" } else { "rw" }
        )?;
        if self.cdrom {
            f.write_str(", devtype=cdrom")?;
        }
        if let Some(b) = &self.backend {
            write!(f, ", backend={b}")?;
        }
        if let Some(b) = self.backendtype {
            write!(f, ", backendtype={}", b.name())?;
        }
        if let Some(s) = &self.script {
            write!(f, ", script={s}")?;
        }
        if self.direct_io_safe {
            f.write_str(", direct-io-safe")?;
        }
        if !self.discard {
            f.write_str(", no-discard")?;
        }
        if let Some(t) = &self.target {
            write!(f, ", target={t}")?;
        }
        Ok(())
    }
}

/// Parses one vif spec (xl-network-configuration).
pub fn parse_vif(spec: &str) -> Result<Vif, String> {
    const KEYS: [&str; 14] = [
        "mac",
        "bridge",
        "ip",
        "script",
        "vifname",
        "backend",
        "rate",
        "gatewaydev",
        "netdev",
        "mtu",
        "model",
        "type",
        "accel",
        "devid",
    ];
    let mut v = Vif::default();
    for item in spec.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((k, val)) = item.split_once('=') else {
            return Err(format!("expected key=value, got {}", quote(item)));
        };
        let val = val.trim().to_string();
        match k.trim() {
            "mac" => {
                let ok = val.split(':').count() == 6
                    && val
                        .split(':')
                        .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
                if !ok {
                    return Err(format!(
                        "mac: expected xx:xx:xx:xx:xx:xx, got {}",
                        quote(&val)
                    ));
                }
                v.mac = Some(val);
            }
            "bridge" => v.bridge = Some(val),
            "ip" => v.ip = Some(val),
            "script" => v.script = Some(val),
            "vifname" => v.vifname = Some(val),
            "backend" => v.backend = Some(val),
            "rate" => {
                parse_rate(&val)?;
                v.rate = Some(val);
            }
            "gatewaydev" | "netdev" => v.gatewaydev = Some(val),
            "mtu" => {
                v.mtu = Some(
                    parse_c_long(&val)
                        .and_then(|m| u32::try_from(m).ok())
                        .filter(|m| (68..=65535).contains(m))
                        .ok_or_else(|| {
                            format!(
                                "mtu: expected a number from 68 to 65535, got {}",
                                quote(&val)
                            )
                        })?,
                )
            }
            // HVM emulated NIC models; ignored for PV, as xl does.
            "model" | "type" | "accel" => {}
            "devid" => {
                return Err("devid: fxl numbers vifs by their place in the list".into());
            }
            k => return Err(format!("unknown vif key \"{k}\"{}", did_you_mean(k, KEYS))),
        }
    }
    Ok(v)
}

/// `rate=` as xl reads it (`xlu_vif_parse_rate`): `RATE[@INTERVAL]`, RATE matching
/// `^[0-9]+[GMK]?[Bb]/s$` (a number C's `strtoull` reads with base 0 — a leading 0 is octal —
/// from 1 to 2^32-1, times 10^9, 10^6 or 10^3, over 8 for bits), INTERVAL matching
/// `^[0-9]+[mu]?s?$` (1 to 2^32-1 seconds, or ms with `m`, µs with `u`; 50 ms when absent).
/// Returns what libxl writes to the vif's backend `rate` node: the bytes per interval and
/// the interval in µs.
pub fn parse_rate(r: &str) -> Result<(u64, u32), String> {
    let bad = |what: &str| format!("rate: {what} in {} (e.g. \"10Mb/s@20ms\")", quote(r));
    let (rate, interval) = r.split_once('@').map_or((r, None), |(a, b)| (a, Some(b)));
    if rate.is_empty() {
        return Err(bad("no rate specified"));
    }
    // `^[0-9]+[GMK]?[Bb]/s$`
    let unit = rate.trim_start_matches(|c: char| c.is_ascii_digit());
    if unit.len() == rate.len()
        || !matches!(
            unit,
            "B/s" | "b/s" | "GB/s" | "Gb/s" | "MB/s" | "Mb/s" | "KB/s" | "Kb/s"
        )
    {
        return Err(bad("invalid rate"));
    }
    let (n, rest) = strtoull_base0(rate);
    if n == 0 || n > u64::from(u32::MAX) {
        return Err(bad("rate overflow"));
    }
    let mut bytes = n * match rest.as_bytes().first() {
        Some(b'G') => 1_000_000_000,
        Some(b'M') => 1_000_000,
        Some(b'K') => 1_000,
        _ => 1,
    };
    let rb = rest.as_bytes();
    if rb.first() == Some(&b'b') || rb.get(1) == Some(&b'b') {
        bytes /= 8;
    }
    let mut usecs: u64 = 50_000;
    if let Some(i) = interval {
        // `^[0-9]+[mu]?s?$`
        let unit = i.trim_start_matches(|c: char| c.is_ascii_digit());
        if unit.len() == i.len() || !matches!(unit, "" | "s" | "m" | "ms" | "u" | "us") {
            return Err(bad("invalid replenishment interval"));
        }
        let (n, rest) = strtoull_base0(i);
        if n == 0 || n > u64::from(u32::MAX) {
            return Err(bad("replenishment interval overflow"));
        }
        usecs = n * match rest.as_bytes().first() {
            Some(b's') | None => 1_000_000,
            Some(b'm') => 1_000,
            _ => 1,
        };
        if usecs > u64::from(u32::MAX) {
            return Err(bad("replenishment interval overflow"));
        }
    }
    if bytes > u64::MAX / usecs {
        return Err(bad("rate overflow"));
    }
    Ok((bytes * usecs / 1_000_000, usecs as u32))
}

/// C's `strtoull(s, &end, 0)` over a string that starts with decimal digits: a leading 0 makes
/// it octal (stopping at 8 or 9). Returns the value (saturated) and what follows.
fn strtoull_base0(s: &str) -> (u64, &str) {
    let (radix, digits): (u64, fn(&u8) -> bool) = if s.starts_with('0') {
        (8, |b| (b'0'..=b'7').contains(b))
    } else {
        (10, |b| b.is_ascii_digit())
    };
    let end = s.bytes().take_while(digits).count();
    let n = s.as_bytes()[..end].iter().fold(0u64, |n, b| {
        n.saturating_mul(radix).saturating_add(u64::from(b - b'0'))
    });
    (n, &s[end..])
}

impl fmt::Display for Vif {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        };
        put("mac", &self.mac);
        put("bridge", &self.bridge);
        put("ip", &self.ip);
        put("script", &self.script);
        put("vifname", &self.vifname);
        put("backend", &self.backend);
        put("rate", &self.rate);
        put("gatewaydev", &self.gatewaydev);
        put("mtu", &self.mtu.map(|m| m.to_string()));
        f.write_str(&parts.join(", "))
    }
}

impl DomainConfig {
    /// The typed configuration of `cfg` (read from `file`).
    pub fn from_cfg(cfg: &Cfg, file: &str) -> Result<DomainConfig, ConfigError> {
        let r = Reader { cfg };
        // The type first: a PVH or HVM file is refused before its other keys are judged, then
        // keys xl has and fxl does not.
        match (r.string("type")?, r.string("builder")?) {
            (Some(t), _) => {
                let s = cfg.get("type").expect("set");
                match t.as_str() {
                    "pv" => {}
                    "pvh" => {
                        return Err(r.err(
                            s,
                            "this is a PVH guest; Ferrite runs PV guests only (type = \"pv\")",
                        ))
                    }
                    "hvm" => {
                        return Err(r.err(
                            s,
                            "this is an HVM guest; Ferrite runs PV guests only (type = \"pv\")",
                        ))
                    }
                    _ => {
                        return Err(r.err(
                            s,
                            format!("expected \"pv\", \"pvh\" or \"hvm\", got {}", quote(&t)),
                        ))
                    }
                }
            }
            (None, Some(b)) => {
                let s = cfg.get("builder").expect("set");
                match b.as_str() {
                    "generic" | "linux" => {}
                    "hvm" => {
                        return Err(r.err(s, "this is an HVM guest; Ferrite runs PV guests only"))
                    }
                    _ => {
                        return Err(r.err(
                            s,
                            format!("expected \"generic\" or \"hvm\", got {}", quote(&b)),
                        ))
                    }
                }
            }
            (None, None) => {}
        }
        if let Some(s) = cfg.get("bootloader") {
            return Err(r.err(
                s,
                "bootloaders (pygrub) are not supported: give the guest's kernel and ramdisk as kernel= and ramdisk= (copy them out of the guest's disk), or boot PV GRUB as the kernel",
            ));
        }
        if let Some(s) = cfg.get("bootloader_args") {
            return Err(r.err(
                s,
                "bootloader_args needs a bootloader, which fxl does not support",
            ));
        }

        for s in &cfg.settings {
            if KEYS.contains(&s.key.as_str()) {
                continue;
            }
            if let Some((_, why)) = UNSUPPORTED.iter().find(|(k, _)| *k == s.key) {
                return Err(r.err(s, format!("not supported by fxl: {why}")));
            }
            return Err(ConfigError::At {
                source_name: s.source.clone(),
                line: s.line,
                msg: format!(
                    "unknown key \"{}\"{}",
                    s.key,
                    did_you_mean(&s.key, KEYS.iter().copied())
                ),
            });
        }

        let missing = |k: &str, what: &str| ConfigError::File {
            source_name: file.to_string(),
            msg: format!("no {k} (the {what}); add e.g. {k} = ..."),
        };
        let name = r
            .string("name")?
            .ok_or_else(|| missing("name", "domain's name"))?;
        if name.is_empty()
            || name.chars().any(|c| c.is_control() || c == '/')
            || name.parse::<u32>().is_ok()
        {
            let s = cfg.get("name").expect("set");
            return Err(r.err(
                s,
                format!(
                    "expected a non-empty name without '/', not a number; got {}",
                    quote(&name)
                ),
            ));
        }
        let kernel = r
            .string("kernel")?
            .ok_or_else(|| missing("kernel", "guest kernel's path in dom0"))?;
        let ramdisk = r.string("ramdisk")?;

        let uuid = r.string("uuid")?;
        if let Some(u) = &uuid {
            let ok = u.len() == 36
                && u.char_indices().all(|(i, c)| {
                    if matches!(i, 8 | 13 | 18 | 23) {
                        c == '-'
                    } else {
                        c.is_ascii_hexdigit()
                    }
                });
            if !ok {
                let s = cfg.get("uuid").expect("set");
                return Err(r.err(
                    s,
                    format!(
                        "expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, got {}",
                        quote(u)
                    ),
                ));
            }
        }

        let cmdline = match (r.string("cmdline")?, r.string("root")?, r.string("extra")?) {
            (Some(c), _, _) => c,
            (None, Some(root), Some(extra)) => format!("root={root} {extra}"),
            (None, Some(root), None) => format!("root={root}"),
            (None, None, Some(extra)) => extra,
            (None, None, None) => String::new(),
        };

        const MIB: &str = "a number of MiB";
        let memory = r.number("memory", MIB, 1, 1 << 40)?.unwrap_or(128) as u64;
        let maxmem = r
            .number("maxmem", MIB, 1, 1 << 40)?
            .map_or(memory, |m| m as u64);
        if maxmem < memory {
            let s = cfg.get("maxmem").expect("set");
            return Err(r.err(
                s,
                format!("{maxmem} MiB is less than memory ({memory} MiB)"),
            ));
        }
        const N: &str = "a number of vCPUs";
        let vcpus = r.number("vcpus", N, 1, 4096)?.unwrap_or(1) as u32;
        let maxvcpus = r
            .number("maxvcpus", N, 1, 4096)?
            .map_or(vcpus, |m| m as u32);
        if maxvcpus < vcpus {
            let s = cfg.get("maxvcpus").expect("set");
            return Err(r.err(s, format!("{maxvcpus} is less than vcpus ({vcpus})")));
        }
        let cpus = |k: &str| -> Result<Option<Vec<String>>, ConfigError> {
            let Some((items, s)) = r.strings(k)? else {
                return Ok(None);
            };
            for c in &items {
                check_cpulist(c).map_err(|m| r.err(s, m))?;
            }
            Ok(Some(items))
        };
        let (cpus_hard, cpus_soft) = (cpus("cpus")?, cpus("cpus_soft")?);

        let mut disks = Vec::new();
        if let Some((items, s)) = r.strings("disk")? {
            for (i, d) in items.iter().enumerate() {
                let disk = parse_disk(d)
                    .map_err(|m| r.err(s, format!("entry {i} ({}): {m}", quote(d))))?;
                if let Some(prev) = disks.iter().find(|p: &&Disk| p.devid == disk.devid) {
                    return Err(r.err(
                        s,
                        format!(
                            "entry {i}: {} is the same device as {}",
                            disk.vdev, prev.vdev
                        ),
                    ));
                }
                disks.push(disk);
            }
        }
        let mut vifs = Vec::new();
        if let Some((items, s)) = r.strings("vif")? {
            for (i, v) in items.iter().enumerate() {
                vifs.push(
                    parse_vif(v).map_err(|m| r.err(s, format!("entry {i} ({}): {m}", quote(v))))?,
                );
            }
        }
        let frames = |k: &str| -> Result<Option<u32>, ConfigError> {
            Ok(r.number(k, "a number of frames", 1, i64::from(u32::MAX))?
                .map(|v| v as u32))
        };

        Ok(DomainConfig {
            name,
            guest_type: GuestType::Pv,
            uuid,
            kernel,
            ramdisk,
            cmdline,
            memory_mib: memory,
            maxmem_mib: maxmem,
            vcpus,
            maxvcpus,
            cpus: cpus_hard,
            cpus_soft,
            disks,
            vifs,
            on_poweroff: r.action("on_poweroff", Action::Destroy)?,
            on_reboot: r.action("on_reboot", Action::Restart)?,
            on_watchdog: r.action("on_watchdog", Action::Destroy)?,
            on_crash: r.action("on_crash", Action::Destroy)?,
            on_soft_reset: r.action("on_soft_reset", Action::SoftReset)?,
            max_grant_frames: frames("max_grant_frames")?,
            max_maptrack_frames: frames("max_maptrack_frames")?,
        })
    }

    /// Parses an xl.cfg text named `file`, then the command line's `KEY=VALUE` overrides.
    pub fn parse(
        file: &str,
        text: &str,
        overrides: &[String],
    ) -> Result<DomainConfig, ConfigError> {
        let mut cfg = Cfg::parse(file, text)?;
        crate::cfg::apply_overrides(&mut cfg, overrides)?;
        DomainConfig::from_cfg(&cfg, file)
    }

    /// The configuration as an xl.cfg file (every key explicit; it parses back to `self`).
    pub fn to_xl_cfg(&self) -> String {
        let mut o = String::new();
        let mut kv = |k: &str, v: String| o.push_str(&format!("{k} = {v}\n"));
        kv("name", quote(&self.name));
        kv("type", quote("pv"));
        if let Some(u) = &self.uuid {
            kv("uuid", quote(u));
        }
        kv("kernel", quote(&self.kernel));
        if let Some(r) = &self.ramdisk {
            kv("ramdisk", quote(r));
        }
        kv("cmdline", quote(&self.cmdline));
        kv("memory", self.memory_mib.to_string());
        kv("maxmem", self.maxmem_mib.to_string());
        kv("vcpus", self.vcpus.to_string());
        kv("maxvcpus", self.maxvcpus.to_string());
        let list = |v: &[String]| {
            Value::List(v.iter().map(|s| Value::String(s.clone())).collect()).to_string()
        };
        if let Some(c) = &self.cpus {
            kv("cpus", list(c));
        }
        if let Some(c) = &self.cpus_soft {
            kv("cpus_soft", list(c));
        }
        kv(
            "disk",
            list(&self.disks.iter().map(Disk::to_string).collect::<Vec<_>>()),
        );
        kv(
            "vif",
            list(&self.vifs.iter().map(Vif::to_string).collect::<Vec<_>>()),
        );
        kv("on_poweroff", quote(self.on_poweroff.name()));
        kv("on_reboot", quote(self.on_reboot.name()));
        kv("on_watchdog", quote(self.on_watchdog.name()));
        kv("on_crash", quote(self.on_crash.name()));
        kv("on_soft_reset", quote(self.on_soft_reset.name()));
        if let Some(f) = self.max_grant_frames {
            kv("max_grant_frames", f.to_string());
        }
        if let Some(f) = self.max_maptrack_frames {
            kv("max_maptrack_frames", f.to_string());
        }
        o
    }
}

#[cfg(test)]
mod tests;
