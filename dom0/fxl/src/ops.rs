//! The verbs that need only hypercalls (through `/dev/xen/privcmd`) and xenstore, with xl's
//! output formats. The formatting is pure and tested on the host; the rig compares it with xl.

use crate::config::DomainConfig;
use anyhow::{anyhow, bail, Context, Result};
use dom0_sys::privcmd::{c_string, Privcmd};
use serde::Serialize;
use std::io::Write;
use xen_abi::domctl::{DomInfFlags, Domctl, XenDomctlGetdomaininfo, XenDomctlMaxMem};
use xen_abi::types::DomId;
use xen_abi::version::XenVer;
use xenstore::{Xenstore, NO_TX};

/// `SHUTDOWN_crash`: the shutdown code xl shows as `c`.
const SHUTDOWN_CRASH: u32 = 3;
/// `LIBXL_MAXMEM_CONSTANT`: libxl gives every domain this much (KiB) over its maximum.
const MAXMEM_SLACK_KIB: u64 = 1024;

pub(crate) fn privcmd() -> Result<Privcmd> {
    Privcmd::open().context("cannot open /dev/xen/privcmd (is this a Xen dom0, and are you root?)")
}

/// xenstored's socket where there is one (as libxenstore's `xs_open`: one hop, where
/// `/dev/xen/xenbus` relays every message through dom0's kernel and the ring), else the device.
pub(crate) fn xenstore() -> Result<Xenstore> {
    if let Ok(s) = std::os::unix::net::UnixStream::connect("/run/xenstored/socket") {
        if let Ok(r) = s.try_clone() {
            return Ok(Xenstore::over(Box::new(r), Box::new(s)));
        }
    }
    Xenstore::open().context("cannot connect to xenstored")
}

/// Where the domain's monitor ([`crate::monitor`]) runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Monitor {
    /// A process of its own that outlives `create` (xl's default).
    #[default]
    Background,
    /// `create` itself becomes the monitor (`-F`).
    Foreground,
    /// None (`-e`).
    None,
}

/// How `create` was asked to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateOpts {
    /// `-n`: parse and print, create nothing.
    pub dry_run: bool,
    /// `--print-cfg` (with `-n`).
    pub print_cfg: bool,
    /// `-p`: leave the domain paused.
    pub paused: bool,
    /// `-c`: attach to its console.
    pub console: bool,
    /// The monitor that carries out `on_*` (`-e`: none, `-F`: this process).
    pub monitor: Monitor,
    /// `-q`.
    pub quiet: bool,
    /// `-v`: each step's time on stderr.
    pub verbose: bool,
}

/// `create`: the dry run prints the configuration; otherwise the domain is built
/// ([`crate::build::domain`]) and started unless paused.
pub fn create(o: CreateOpts, file: Option<String>, mut args: Vec<String>) -> Result<()> {
    let file = match file {
        Some(f) => f,
        None if !args.is_empty() && !args[0].contains('=') => args.remove(0),
        None => bail!("create: no config file given"),
    };
    if o.dry_run {
        let text = create_output(o.print_cfg, &file, &args)?;
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(());
    }
    if !o.quiet {
        eprintln!("Parsing config from {file}");
    }
    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?;
    let cfg = DomainConfig::parse(&file, &text, &args)?;
    // With -c the domain starts once the console is attached, so none of its boot is missed.
    let c = crate::build::domain::create(&cfg, o.paused || o.console, o.verbose)?;
    if !o.quiet {
        eprintln!(
            "fxl: domain {} ({}) created in {:.2} s{}",
            c.domid,
            cfg.name,
            c.seconds,
            if o.paused { ", paused" } else { "" }
        );
    }
    if o.monitor == Monitor::Background {
        if let Err(e) = crate::monitor::spawn(c.domid, &cfg) {
            eprintln!("fxl: warning: {e:#}: nothing will carry out on_poweroff/on_reboot/on_crash");
        }
    }
    if o.console {
        let domid = c.domid;
        crate::console::attach(domid, || {
            if o.paused {
                return Ok(());
            }
            privcmd()?
                .domctl(Domctl::Unpausedomain, DomId(domid), &mut ())
                .with_context(|| format!("unpausedomain {domid}"))?;
            Ok(())
        })?;
    }
    if o.monitor == Monitor::Foreground {
        crate::monitor::watch(c.domid, &cfg)?;
    }
    Ok(())
}

/// What a dry run prints: the configuration (JSON, or xl.cfg with `print_cfg`).
fn create_output(print_cfg: bool, file: &str, args: &[String]) -> Result<String> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    let cfg = DomainConfig::parse(file, &text, args)?;
    Ok(if print_cfg {
        cfg.to_xl_cfg()
    } else {
        // The layout needs the kernel and ramdisk; a dry run for another host may lack them.
        let layout = match crate::build::layout::plan(&cfg) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("fxl: create -n: no layout: {e}");
                None
            }
        };
        serde_json::to_string_pretty(&DryRun { cfg, layout })? + "\n"
    })
}

/// What `create -n` prints: the configuration's fields, then `layout` (null without one).
#[derive(Serialize)]
struct DryRun {
    #[serde(flatten)]
    cfg: DomainConfig,
    layout: Option<crate::build::layout::Plan>,
}

/// One domain as `fxl list --json` shows it (schema in docs/fxl.md).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListEntry {
    /// `/local/domain/<id>/name`, or null if it has none.
    pub name: Option<String>,
    /// The domain ID.
    pub domid: u16,
    /// The domain handle, as a UUID.
    pub uuid: String,
    /// The state letters as xl prints them (`r b p s c d` or `-`).
    pub state: String,
    /// Running on a CPU now.
    pub running: bool,
    /// Blocked.
    pub blocked: bool,
    /// Paused.
    pub paused: bool,
    /// Shut down (not yet destroyed).
    pub shutdown: bool,
    /// The shutdown reason if shut down: `poweroff`, `reboot`, `suspend`, `crash`,
    /// `watchdog`, `soft_reset`, or the number.
    pub shutdown_reason: Option<String>,
    /// Being destroyed.
    pub dying: bool,
    /// Memory in KiB: pages held plus outstanding claims, as xl's `Mem` (in MiB).
    pub mem_kib: u64,
    /// Maximum memory in KiB (`max_pages`).
    pub max_mem_kib: u64,
    /// Online vCPUs.
    pub vcpus_online: u32,
    /// Highest vCPU ID + 1.
    pub vcpus_max: u32,
    /// CPU time used, seconds.
    pub cpu_time_s: f64,
    /// CPU pool.
    pub cpupool: u32,
}

/// The domain handle as a UUID string.
pub(crate) fn uuid_of(h: &[u8; 16]) -> String {
    let x: Vec<String> = h.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        x[0..4].concat(),
        x[4..6].concat(),
        x[6..8].concat(),
        x[8..10].concat(),
        x[10..16].concat()
    )
}

fn shutdown_reason_name(code: u32) -> String {
    match code {
        0 => "poweroff".into(),
        1 => "reboot".into(),
        2 => "suspend".into(),
        3 => "crash".into(),
        4 => "watchdog".into(),
        5 => "soft_reset".into(),
        n => n.to_string(),
    }
}

impl ListEntry {
    /// The entry for `info`, named `name`.
    pub fn new(info: &XenDomctlGetdomaininfo, name: Option<String>) -> ListEntry {
        let f = DomInfFlags::from_bits_retain(info.flags);
        let shutdown = f.contains(DomInfFlags::SHUTDOWN);
        let code = (info.flags >> 16) & 0xff;
        // xl's fifth letter is the shutdown reason (`shutdown_reason_letters` "-rscw"): `c`
        // for a crash, and `r`, `s`, `w` for reboot, suspend, watchdog, `?` beyond.
        let reason = match (shutdown, code) {
            (false, _) | (true, 0) => '-',
            (true, 1) => 'r',
            (true, 2) => 's',
            (true, SHUTDOWN_CRASH) => 'c',
            (true, 4) => 'w',
            (true, _) => '?',
        };
        let flag = |on: bool, c: char| if on { c } else { '-' };
        let (running, blocked, paused, dying) = (
            f.contains(DomInfFlags::RUNNING),
            f.contains(DomInfFlags::BLOCKED),
            f.contains(DomInfFlags::PAUSED),
            f.contains(DomInfFlags::DYING),
        );
        let state = [
            flag(running, 'r'),
            flag(blocked, 'b'),
            flag(paused, 'p'),
            flag(shutdown, 's'),
            reason,
            flag(dying, 'd'),
        ]
        .iter()
        .collect();
        ListEntry {
            name,
            domid: info.domain.0,
            uuid: uuid_of(&info.handle),
            state,
            running,
            blocked,
            paused,
            shutdown,
            shutdown_reason: shutdown.then(|| shutdown_reason_name(code)),
            dying,
            mem_kib: (info.tot_pages + info.outstanding_pages) * 4,
            max_mem_kib: info.max_pages.saturating_mul(4),
            vcpus_online: info.nr_online_vcpus,
            vcpus_max: info.max_vcpu_id.wrapping_add(1),
            cpu_time_s: info.cpu_time as f64 / 1e9,
            cpupool: info.cpupool,
        }
    }

    /// xl's table row (`xl_list.c list_domains`).
    pub fn row(&self) -> String {
        format!(
            "{:<40} {:>5} {:>5} {:>5}     {}  {:>8.1}",
            self.name.as_deref().unwrap_or("(null)"),
            self.domid,
            self.mem_kib / 1024,
            self.vcpus_online,
            self.state,
            self.cpu_time_s
        )
    }
}

/// xl's table header.
pub const LIST_HEADER: &str =
    "Name                                        ID   Mem VCPUs\tState\tTime(s)";

fn name_of(xs: &Xenstore, domid: u16) -> Option<String> {
    xs.read_string(NO_TX, &format!("/local/domain/{domid}/name"))
        .ok()
}

/// Finds a domain by name or ID as xl does (all digits: an ID).
pub(crate) fn find_domain(pc: &Privcmd, xs: &Xenstore, q: &str) -> Result<XenDomctlGetdomaininfo> {
    if !q.is_empty() && q.bytes().all(|c| c.is_ascii_digit()) {
        let id: u16 = q
            .parse()
            .map_err(|_| anyhow!("{q} is an invalid domain identifier"))?;
        return match pc.getdomaininfo(DomId(id)) {
            Ok(i) if i.domain.0 == id => Ok(i),
            _ => bail!("{q} is an invalid domain identifier"),
        };
    }
    let all = pc.domains().context("getdomaininfolist")?;
    all.into_iter()
        .find(|d| name_of(xs, d.domain.0).as_deref() == Some(q))
        .ok_or_else(|| anyhow!("{q} is an invalid domain identifier (no domain has that name)"))
}

/// The ID of the domain named or numbered `q`.
pub(crate) fn domain_id(q: &str) -> Result<u16> {
    let (pc, xs) = (privcmd()?, xenstore()?);
    Ok(find_domain(&pc, &xs, q)?.domain.0)
}

fn selected(pc: &Privcmd, xs: &Xenstore, qs: &[String]) -> Result<Vec<XenDomctlGetdomaininfo>> {
    if qs.is_empty() {
        return pc.domains().context("getdomaininfolist");
    }
    qs.iter().map(|q| find_domain(pc, xs, q)).collect()
}

/// `list [-l|--json] [DOMAIN…]`.
pub fn list(json: bool, qs: &[String]) -> Result<()> {
    let (pc, xs) = (privcmd()?, xenstore()?);
    let entries: Vec<ListEntry> = selected(&pc, &xs, qs)?
        .iter()
        .map(|d| ListEntry::new(d, name_of(&xs, d.domain.0)))
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &entries)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{LIST_HEADER}")?;
        for e in &entries {
            writeln!(out, "{}", e.row())?;
        }
    }
    Ok(())
}

/// The scheduler's name for `XEN_SCHEDULER_*`.
fn scheduler_name(id: u32) -> String {
    match id {
        5 => "credit".into(),
        6 => "credit2".into(),
        7 => "arinc653".into(),
        8 => "rtds".into(),
        9 => "null".into(),
        n => format!("unknown ({n})"),
    }
}

/// `virt_caps` as xl prints it.
pub fn virt_caps(caps: u32) -> String {
    use xen_abi::sysctl::PhysCap;
    let c = PhysCap::from_bits_retain(caps);
    let mut s = String::new();
    let mut put = |on: bool, w: &str| {
        if on {
            s.push(' ');
            s.push_str(w);
        }
    };
    put(c.contains(PhysCap::PV), "pv");
    put(c.contains(PhysCap::HVM), "hvm");
    put(
        c.contains(PhysCap::HVM) && c.contains(PhysCap::DIRECTIO),
        "hvm_directio",
    );
    put(
        c.contains(PhysCap::PV) && c.contains(PhysCap::DIRECTIO),
        "pv_directio",
    );
    put(c.contains(PhysCap::HAP), "hap");
    put(c.contains(PhysCap::SHADOW), "shadow");
    put(
        c.contains(PhysCap::IOMMU_HAP_PT_SHARE),
        "iommu_hap_pt_share",
    );
    put(c.contains(PhysCap::VMTRACE), "vmtrace");
    put(c.contains(PhysCap::VPMU), "vpmu");
    put(c.contains(PhysCap::GNTTAB_V1), "gnttab-v1");
    put(c.contains(PhysCap::GNTTAB_V2), "gnttab-v2");
    s
}

fn info_line(out: &mut impl Write, key: &str, value: impl std::fmt::Display) -> Result<()> {
    writeln!(out, "{key:<23}: {value}")?;
    Ok(())
}

/// `info`: what `xl info` prints from uname, physinfo and xen_version.
pub fn info() -> Result<()> {
    let pc = privcmd()?;
    let p = pc.physinfo().context("sysctl physinfo")?;
    let (major, minor) = pc.xen_version().context("xen_version")?;
    let extra = pc.xen_version_string(XenVer::Extraversion)?;
    let caps = pc.xen_version_string(XenVer::Capabilities)?;
    let changeset = pc.xen_version_string(XenVer::Changeset)?;
    let cmdline = pc.xen_version_string(XenVer::Commandline)?;
    let ci = pc.xen_compile_info()?;
    let pp = pc.xen_platform_parameters()?;
    let pagesize = u64::from(pc.xen_pagesize()?.max(1));
    let sched = pc.sched_id().context("sysctl sched_id")?;
    let uts = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default()
    };
    let per_mib = (1u64 << 20) / pagesize;
    let mut o = std::io::stdout().lock();
    info_line(&mut o, "host", uts("hostname"))?;
    info_line(&mut o, "release", uts("osrelease"))?;
    info_line(&mut o, "version", uts("version"))?;
    info_line(&mut o, "machine", std::env::consts::ARCH)?;
    info_line(&mut o, "nr_cpus", p.nr_cpus)?;
    info_line(&mut o, "max_cpu_id", p.max_cpu_id)?;
    info_line(&mut o, "nr_nodes", p.nr_nodes)?;
    info_line(&mut o, "cores_per_socket", p.cores_per_socket)?;
    info_line(&mut o, "threads_per_core", p.threads_per_core)?;
    info_line(
        &mut o,
        "cpu_mhz",
        format!("{}.{:03}", p.cpu_khz / 1000, p.cpu_khz % 1000),
    )?;
    let hw: Vec<String> = p.hw_cap.iter().map(|w| format!("{w:08x}")).collect();
    info_line(&mut o, "hw_caps", hw.join(":"))?;
    writeln!(o, "{:<23}:{}", "virt_caps", virt_caps(p.capabilities))?;
    info_line(&mut o, "total_memory", p.total_pages / per_mib)?;
    info_line(
        &mut o,
        "free_memory",
        p.free_pages.saturating_sub(p.outstanding_pages) / per_mib,
    )?;
    info_line(&mut o, "outstanding_claims", p.outstanding_pages / per_mib)?;
    info_line(&mut o, "xen_major", major)?;
    info_line(&mut o, "xen_minor", minor)?;
    info_line(&mut o, "xen_extra", &extra)?;
    info_line(&mut o, "xen_version", format!("{major}.{minor}{extra}"))?;
    info_line(&mut o, "xen_caps", &caps)?;
    info_line(&mut o, "xen_scheduler", scheduler_name(sched))?;
    info_line(&mut o, "xen_pagesize", pagesize)?;
    info_line(
        &mut o,
        "platform_params",
        format!("virt_start=0x{:x}", pp.virt_start),
    )?;
    info_line(&mut o, "xen_changeset", changeset)?;
    info_line(&mut o, "xen_commandline", cmdline)?;
    info_line(&mut o, "cc_compiler", c_string(&ci.compiler))?;
    info_line(&mut o, "cc_compile_by", c_string(&ci.compile_by))?;
    info_line(&mut o, "cc_compile_domain", c_string(&ci.compile_domain))?;
    info_line(&mut o, "cc_compile_date", c_string(&ci.compile_date))?;
    info_line(&mut o, "xend_config_format", 4)?;
    Ok(())
}

/// `dmesg [-c]`: the console ring, read incrementally as xl does.
pub fn dmesg(clear: bool) -> Result<()> {
    let pc = privcmd()?;
    let mut buf = vec![0u8; 16384];
    let mut index = 0u32;
    let mut out = std::io::stdout().lock();
    loop {
        let (n, next) = pc
            .readconsole(&mut buf, Some(index), clear)
            .context("sysctl readconsole")?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        index = next;
    }
    Ok(())
}

/// `domid NAME`.
pub fn domid(name: &str) -> Result<()> {
    let (pc, xs) = (privcmd()?, xenstore()?);
    let d = pc
        .domains()?
        .into_iter()
        .find(|d| name_of(&xs, d.domain.0).as_deref() == Some(name))
        .ok_or_else(|| {
            anyhow!("Can't get domid of domain name '{name}', maybe this domain does not exist.")
        })?;
    println!("{}", d.domain.0);
    Ok(())
}

/// `domname ID`.
pub fn domname(id: &str) -> Result<()> {
    let (pc, xs) = (privcmd()?, xenstore()?);
    let n: u16 = id
        .parse()
        .map_err(|_| anyhow!("Invalid domain id '{id}'."))?;
    let exists = matches!(pc.getdomaininfo(DomId(n)), Ok(i) if i.domain.0 == n);
    match (exists, name_of(&xs, n)) {
        (true, Some(name)) => {
            println!("{name}");
            Ok(())
        }
        _ => bail!("Can't get domain name of domain id '{n}', maybe this domain does not exist."),
    }
}

/// `pause`/`unpause`.
pub fn pause(q: &str, pause: bool) -> Result<()> {
    let (pc, xs) = (privcmd()?, xenstore()?);
    let d = find_domain(&pc, &xs, q)?;
    let (op, what) = if pause {
        (Domctl::Pausedomain, "pausedomain")
    } else {
        (Domctl::Unpausedomain, "unpausedomain")
    };
    pc.domctl(op, d.domain, &mut ())
        .with_context(|| format!("{what} {}", d.domain.0))?;
    Ok(())
}

/// `rename DOMAIN NEW`: the name in xenstore (`/local/domain/N/name` and `/vm/<uuid>/name`),
/// refused if another domain has it.
pub fn rename(q: &str, new: &str) -> Result<()> {
    let (pc, xs) = (privcmd()?, xenstore()?);
    if new.is_empty() || new.contains('/') || new.bytes().all(|c| c.is_ascii_digit()) {
        bail!("invalid domain name \"{new}\"");
    }
    let d = find_domain(&pc, &xs, q)?;
    let id = d.domain.0;
    let others = pc.domains()?;
    xs.transaction(|tx| {
        for o in &others {
            if o.domain.0 != id
                && xs
                    .read_string(tx, &format!("/local/domain/{}/name", o.domain.0))
                    .ok()
                    .as_deref()
                    == Some(new)
            {
                return Ok(Err(o.domain.0));
            }
        }
        xs.write(tx, &format!("/local/domain/{id}/name"), new.as_bytes())?;
        if let Ok(vm) = xs.read_string(tx, &format!("/local/domain/{id}/vm")) {
            if xs.read(tx, &format!("{vm}/name")).is_ok() {
                xs.write(tx, &format!("{vm}/name"), new.as_bytes())?;
            }
        }
        Ok(Ok(()))
    })?
    .map_err(|other| anyhow!("domain with name \"{new}\" already exists (domain {other})"))
}

/// A cpumap as xl prints it: `all`, `none`, or ranges `0-2,5`.
pub fn cpumap_string(map: &[u8], nr_cpus: u32) -> String {
    let bit = |i: u32| {
        map.get(i as usize / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    };
    let set = (0..nr_cpus).filter(|&i| bit(i)).count() as u32;
    if set == 0 {
        return "none".into();
    }
    if set == nr_cpus {
        return "all".into();
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < nr_cpus {
        if !bit(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < nr_cpus && bit(i + 1) {
            i += 1;
        }
        parts.push(if start == i {
            format!("{start}")
        } else {
            format!("{start}-{i}")
        });
        i += 1;
    }
    parts.join(",")
}

/// xl's vcpu-list header.
pub fn vcpu_header() -> String {
    format!(
        "{:<32} {:>5} {:>5} {:>5} {:>5} {:>9} {}",
        "Name", "ID", "VCPU", "CPU", "State", "Time(s)", "Affinity (Hard / Soft)"
    )
}

/// One vcpu-list row (`xl_vcpu.c print_vcpuinfo`).
pub fn vcpu_row(
    name: &str,
    domid: u16,
    v: &xen_abi::domctl::XenDomctlGetvcpuinfo,
    hard: &str,
    soft: &str,
) -> String {
    let mut s = format!("{name:<32} {domid:>5} {:>5}", v.vcpu);
    if v.online == 0 {
        s.push_str(&format!("{:>5} {:>3}{}p ", '-', '-', '-'));
    } else {
        s.push_str(&format!(
            "{:>5} {:>3}{}- ",
            v.cpu,
            if v.running != 0 { 'r' } else { '-' },
            if v.blocked != 0 { 'b' } else { '-' }
        ));
    }
    s.push_str(&format!(
        "{:>9.1}  {hard} / {soft}",
        v.cpu_time as f64 / 1e9
    ));
    s
}

/// `vcpu-list [DOMAIN…]`.
pub fn vcpu_list(qs: &[String]) -> Result<()> {
    let (pc, xs) = (privcmd()?, xenstore()?);
    let p = pc.physinfo().context("sysctl physinfo")?;
    let nr_cpus = p.max_cpu_id + 1;
    let doms = selected(&pc, &xs, qs)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", vcpu_header())?;
    for d in doms {
        if d.max_vcpu_id == xen_abi::domctl::XEN_INVALID_MAX_VCPU_ID {
            continue;
        }
        let name = name_of(&xs, d.domain.0).unwrap_or_else(|| "(null)".into());
        for v in 0..=d.max_vcpu_id {
            let info = pc
                .getvcpuinfo(d.domain, v)
                .with_context(|| format!("getvcpuinfo {} {v}", d.domain.0))?;
            let (hard, soft) = pc
                .getvcpuaffinity(d.domain, v, nr_cpus)
                .with_context(|| format!("getvcpuaffinity {} {v}", d.domain.0))?;
            writeln!(
                out,
                "{}",
                vcpu_row(
                    &name,
                    d.domain.0,
                    &info,
                    &cpumap_string(&hard, nr_cpus),
                    &cpumap_string(&soft, nr_cpus)
                )
            )?;
        }
    }
    Ok(())
}

/// xl's `parse_mem_size_kb`: a number with an optional unit `b`, `k`, `m` (the default), `g`,
/// `t`; in KiB.
pub fn parse_mem_kb(s: &str) -> Option<u64> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits == 0 {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    match s[digits..].to_ascii_lowercase().as_str() {
        "" | "m" => n.checked_mul(1 << 10),
        "k" => Some(n),
        "b" => Some(n >> 10),
        "g" => n.checked_mul(1 << 20),
        "t" => n.checked_mul(1 << 30),
        _ => None,
    }
}

/// `mem-max DOMAIN MEM`: as `libxl_domain_setmaxmem`: not below the balloon target, then
/// `max_mem` of MEM + 1024 KiB and `memory/static-max`.
pub fn mem_max(q: &str, mem: &str) -> Result<()> {
    let kb = parse_mem_kb(mem).ok_or_else(|| anyhow!("invalid memory size: {mem}"))?;
    let (pc, xs) = (privcmd()?, xenstore()?);
    let d = find_domain(&pc, &xs, q)?;
    let id = d.domain.0;
    let target_path = format!("/local/domain/{id}/memory/target");
    let target: u64 = xs
        .read_parse(NO_TX, &target_path)
        .ok_or_else(|| anyhow!("cannot get memory info from {target_path}"))?;
    if kb < target {
        bail!("memory_static_max must be greater than or equal to memory_dynamic_max ({kb} KiB < target {target} KiB)");
    }
    pc.domctl(
        Domctl::MaxMem,
        d.domain,
        &mut XenDomctlMaxMem {
            max_memkb: kb + MAXMEM_SLACK_KIB,
        },
    )
    .with_context(|| format!("max_mem {id}"))?;
    xs.write(
        NO_TX,
        &format!("/local/domain/{id}/memory/static-max"),
        kb.to_string().as_bytes(),
    )?;
    Ok(())
}

/// `mem-set DOMAIN MEM`, as `libxl_set_memory_target` (absolute, enforced): not above
/// `memory/static-max`; `max_mem` of MEM + 1024 KiB; then in one transaction
/// `memory/target` = MEM − videoram (KiB) and `/vm/<uuid>/memory` (MiB). The guest's balloon
/// driver follows `memory/target`.
pub fn mem_set(q: &str, mem: &str) -> Result<()> {
    let kb = parse_mem_kb(mem).ok_or_else(|| anyhow!("invalid memory size: {mem}"))?;
    let (pc, xs) = (privcmd()?, xenstore()?);
    let d = find_domain(&pc, &xs, q)?;
    let id = d.domain.0;
    if id == 0 {
        bail!("mem-set of domain 0: not implemented yet in fxl");
    }
    let dir = format!("/local/domain/{id}/memory");
    let static_max: u64 = xs
        .read_parse(NO_TX, &format!("{dir}/static-max"))
        .ok_or_else(|| anyhow!("cannot get memory info from {dir}/static-max"))?;
    let videoram: u64 = xs
        .read_parse(NO_TX, &format!("{dir}/videoram"))
        .unwrap_or(0);
    if kb > static_max {
        bail!("memory_dynamic_max must be less than or equal to memory_static_max ({kb} KiB > static-max {static_max} KiB)");
    }
    if kb < videoram {
        bail!("the target ({kb} KiB) is below the video RAM ({videoram} KiB)");
    }
    pc.domctl(
        Domctl::MaxMem,
        d.domain,
        &mut XenDomctlMaxMem {
            max_memkb: kb + MAXMEM_SLACK_KIB,
        },
    )
    .with_context(|| format!("max_mem {id}"))?;
    let vm = xs
        .read_string(NO_TX, &format!("/local/domain/{id}/vm"))
        .ok();
    xs.transaction(|tx| {
        xs.write(
            tx,
            &format!("{dir}/target"),
            (kb - videoram).to_string().as_bytes(),
        )?;
        if let Some(vm) = &vm {
            xs.write(
                tx,
                &format!("{vm}/memory"),
                (kb / 1024).to_string().as_bytes(),
            )?;
        }
        Ok(())
    })?;
    Ok(())
}

/// xl's `parse_cpurange`: comma-separated `all`, `N`, `N-M`, each optionally `^` (remove),
/// applied in order, as a bitmap of `nr_cpus` CPUs.
pub fn parse_cpurange(s: &str, nr_cpus: u32) -> Result<Vec<u8>, String> {
    let mut map = vec![0u8; nr_cpus.div_ceil(8).max(1) as usize];
    for tok in s.split(',') {
        let t = tok.trim();
        let (neg, t) = match t.strip_prefix('^') {
            Some(r) => (true, r),
            None => (false, t),
        };
        let (a, b) = if t == "all" {
            (0, nr_cpus.saturating_sub(1))
        } else {
            let (a, b) = t.split_once('-').unwrap_or((t, t));
            match (a.parse::<u32>(), b.parse::<u32>()) {
                (Ok(a), Ok(b)) if a <= b => (a, b),
                _ => {
                    return Err(format!(
                        "invalid CPU range \"{tok}\" (expected all, N, N-M, ^N)"
                    ))
                }
            }
        };
        if b >= nr_cpus {
            return Err(format!("CPU {b} does not exist (this host has {nr_cpus})"));
        }
        for c in a..=b {
            let (byte, bit) = ((c / 8) as usize, 1u8 << (c % 8));
            if neg {
                map[byte] &= !bit;
            } else {
                map[byte] |= bit;
            }
        }
    }
    Ok(map)
}

/// `vcpu-pin DOMAIN VCPU|all CPUS|- [CPUS|-]`: hard (and soft) affinity, as xl.
pub fn vcpu_pin(q: &str, vcpu: &str, hard: &str, soft: Option<&str>) -> Result<()> {
    let (pc, xs) = (privcmd()?, xenstore()?);
    let d = find_domain(&pc, &xs, q)?;
    let nr_cpus = pc.physinfo().context("sysctl physinfo")?.max_cpu_id + 1;
    let parse = |s: &str| -> Result<Option<Vec<u8>>> {
        if s == "-" {
            Ok(None)
        } else {
            parse_cpurange(s, nr_cpus).map(Some).map_err(|e| anyhow!(e))
        }
    };
    let (hard, soft) = (parse(hard)?, soft.map(parse).transpose()?.flatten());
    let vcpus: Vec<u32> = if vcpu == "all" {
        if d.max_vcpu_id == xen_abi::domctl::XEN_INVALID_MAX_VCPU_ID {
            Vec::new()
        } else {
            (0..=d.max_vcpu_id).collect()
        }
    } else {
        vec![vcpu
            .parse()
            .map_err(|_| anyhow!("Invalid argument {vcpu} as VCPU."))?]
    };
    for v in vcpus {
        let (mut h, mut s) = (hard.clone(), soft.clone());
        pc.setvcpuaffinity(d.domain, v, h.as_deref_mut(), s.as_deref_mut())
            .with_context(|| format!("Could not set affinity for vcpu `{v}'"))?;
    }
    Ok(())
}

/// `uptime` as xl formats it.
pub fn uptime_string(secs: u64, short: bool) -> String {
    let (s, m, h, d) = (secs % 60, secs / 60 % 60, secs / 3600 % 24, secs / 86400);
    let days = match d {
        0 => String::new(),
        1 => "1 day, ".into(),
        n => format!("{n} days, "),
    };
    if short {
        format!("{days}{h:>2}:{m:02}")
    } else {
        format!("{days}{h:>2}:{m:02}:{s:02}")
    }
}

/// `uptime [DOMAIN…]` (not `-s`).
pub fn uptime(short: bool, qs: &[String]) -> Result<()> {
    if short {
        bail!("uptime -s: not implemented yet in fxl");
    }
    let (pc, xs) = (privcmd()?, xenstore()?);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let host_up: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<33} {:>4} Uptime", "Name", "ID")?;
    for d in selected(&pc, &xs, qs)? {
        let id = d.domain.0;
        let up = if id == 0 {
            host_up
        } else {
            let start = xs
                .read_string(NO_TX, &format!("/local/domain/{id}/vm"))
                .ok()
                .and_then(|vm| xs.read_string(NO_TX, &format!("{vm}/start_time")).ok())
                .and_then(|s| s.trim().parse::<f64>().ok());
            match start {
                Some(s) => (now - s).max(0.0),
                None => continue,
            }
        };
        let name = name_of(&xs, id).unwrap_or_else(|| "(null)".into());
        writeln!(
            out,
            "{name:<33} {id:>4} {}",
            uptime_string(up as u64, false)
        )?;
    }
    Ok(())
}

/// `shutdown`/`reboot [-a] [-w] [DOMAIN]` of PV guests, as libxl: `control/shutdown` =
/// `poweroff` or `reboot` (the guest's kernel reads it, clears it and acts); with `-w`, wait
/// until each domain has shut down or is gone. `-a`: every domain but 0.
pub fn shutdown(q: Option<&str>, all: bool, wait: bool, reboot: bool) -> Result<()> {
    let (pc, xs) = (privcmd()?, xenstore()?);
    let cmd = if reboot { "reboot" } else { "poweroff" };
    let doms: Vec<XenDomctlGetdomaininfo> = match (q, all) {
        (Some(_), true) => bail!("give either -a or a domain, not both"),
        (None, false) => bail!("no domain given (or -a for all)"),
        (Some(q), false) => vec![find_domain(&pc, &xs, q)?],
        (None, true) => pc
            .domains()?
            .into_iter()
            .filter(|d| d.domain.0 != 0)
            .collect(),
    };
    for d in &doms {
        let id = d.domain.0;
        let control = format!("/local/domain/{id}/control");
        if xs.read(NO_TX, &control).is_err() {
            bail!("domain {id}: PV control interface not available: external graceful shutdown not possible");
        }
        xs.transaction(|tx| xs.write(tx, &format!("{control}/shutdown"), cmd.as_bytes()))
            .with_context(|| format!("write {control}/shutdown"))?;
    }
    if !wait {
        return Ok(());
    }
    eprintln!("Waiting for {} domains", doms.len());
    let mut pending: Vec<u16> = doms.iter().map(|d| d.domain.0).collect();
    while !pending.is_empty() {
        pending.retain(|&id| match pc.getdomaininfo(DomId(id)) {
            Ok(i) if i.domain.0 == id => {
                if i.flags & DomInfFlags::SHUTDOWN.bits() == 0 {
                    return true;
                }
                eprintln!(
                    "Domain {id} has been shut down, reason code {}",
                    (i.flags >> 16) & 0xff
                );
                false
            }
            _ => {
                eprintln!("Domain {id} has been destroyed.");
                false
            }
        });
        if !pending.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }
    Ok(())
}

/// xl's block-list header.
pub fn block_header() -> String {
    format!(
        "{:<5} {:<3} {:<6} {:<5} {:<6} {:<8} {:<30}",
        "Vdev", "BE", "handle", "state", "evt-ch", "ring-ref", "BE-path"
    )
}

/// One block-list row (`xl_block.c main_blocklist`): vdev number, backend domain, frontend
/// domain, frontend state, event channel and ring reference (-1 until the frontend connects),
/// backend path.
pub fn block_row(
    devid: u32,
    be: i64,
    fe: u16,
    state: i64,
    evtch: i64,
    rref: i64,
    path: &str,
) -> String {
    format!("{devid:<5} {be:<3} {fe:<6} {state:<5} {evtch:<6} {rref:<8} {path:<30}")
}

/// `block-list DOMAIN…`: each domain's disks, from the frontend directories libxl reads
/// (`libxl_device_disk_getinfo`).
pub fn block_list(qs: &[String]) -> Result<()> {
    if qs.is_empty() {
        bail!("block-list: no domain given");
    }
    let (pc, xs) = (privcmd()?, xenstore()?);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", block_header())?;
    for q in qs {
        let id = find_domain(&pc, &xs, q)?.domain.0;
        let mut devs: Vec<u32> = xs
            .directory(NO_TX, &format!("/libxl/{id}/device/vbd"))
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.parse().ok())
            .collect();
        devs.sort_unstable();
        for devid in devs {
            let fe = format!("/local/domain/{id}/device/vbd/{devid}");
            let num = |k: &str| -> i64 { xs.read_parse(NO_TX, &format!("{fe}/{k}")).unwrap_or(-1) };
            let Ok(backend) = xs.read_string(NO_TX, &format!("{fe}/backend")) else {
                continue;
            };
            writeln!(
                out,
                "{}",
                block_row(
                    devid,
                    num("backend-id"),
                    id,
                    num("state"),
                    num("event-channel"),
                    num("ring-ref"),
                    &backend
                )
            )?;
        }
    }
    Ok(())
}

/// One device of a domain: its kind, frontend path and backend path.
pub(crate) struct Device {
    pub(crate) kind: String,
    pub(crate) frontend: String,
    pub(crate) backend: Option<String>,
}

/// A domain's devices, from libxl's record and the frontend's directory.
pub(crate) fn devices(xs: &Xenstore, id: u16) -> Vec<Device> {
    let mut out = Vec::new();
    for base in [
        format!("/libxl/{id}/device"),
        format!("/local/domain/{id}/device"),
    ] {
        for kind in xs.directory(NO_TX, &base).unwrap_or_default() {
            for dev in xs
                .directory(NO_TX, &format!("{base}/{kind}"))
                .unwrap_or_default()
            {
                let node = format!("{base}/{kind}/{dev}");
                let frontend = xs
                    .read_string(NO_TX, &format!("{node}/frontend"))
                    .unwrap_or_else(|_| format!("/local/domain/{id}/device/{kind}/{dev}"));
                let backend = xs.read_string(NO_TX, &format!("{node}/backend")).ok();
                if !out.iter().any(|d: &Device| d.frontend == frontend) {
                    out.push(Device {
                        kind: kind.clone(),
                        frontend,
                        backend,
                    });
                }
            }
        }
    }
    out
}

/// `destroy DOMAIN`, as libxl's `libxl_domain_destroy`: pause; each device's backend told to
/// close (`online=0`, `state=5`) and given 10 s to reach `Closed` (the console is removed at
/// once), then its hotplug script run with `remove`/`offline`; `destroydomain`; then the backend, `/vm/<uuid>`, `/local/domain/N` and `/libxl/N`
/// directories and xl's saved configuration are removed.
pub fn destroy(q: &str) -> Result<()> {
    let (pc, xs) = (privcmd()?, xenstore()?);
    let d = find_domain(&pc, &xs, q)?;
    let id = d.domain.0;
    if id == 0 {
        bail!("cannot destroy domain 0");
    }
    // A domain already dying cannot be paused; that is fine.
    let _ = pc.domctl(Domctl::Pausedomain, d.domain, &mut ());

    let devs = devices(&xs, id);
    let backends: Vec<String> = devs
        .iter()
        .filter(|d| d.kind != "console")
        .filter_map(|d| d.backend.clone())
        .collect();
    let waiting =
        crate::device::close_backends(&xs, &backends, crate::device::BACKEND_CLOSE_TIMEOUT);
    for be in &waiting {
        eprintln!("fxl: warning: backend {be} did not close within 10 s; removing it anyway");
    }
    for be in &backends {
        crate::device::hotplug_remove(&xs, be);
    }

    pc.domctl(Domctl::Destroydomain, d.domain, &mut ())
        .with_context(|| format!("destroydomain {id}"))?;

    let vm = xs
        .read_string(NO_TX, &format!("/local/domain/{id}/vm"))
        .ok();
    for dev in &devs {
        crate::device::remove_dirs(&xs, &dev.frontend, dev.backend.as_deref());
    }
    if let Some(vm) = vm.filter(|v| v.starts_with("/vm/")) {
        let _ = xs.rm(NO_TX, &vm);
    }
    xs.rm(NO_TX, &format!("/local/domain/{id}"))
        .with_context(|| format!("rm /local/domain/{id}"))?;
    let _ = xs.rm(NO_TX, &format!("/libxl/{id}"));
    // xl's saved configuration: /var/lib/xen/userdata-d.<id>.<uuid>.*
    let prefix = format!("userdata-d.{id}.{}.", uuid_of(&d.handle));
    if let Ok(dir) = std::fs::read_dir("/var/lib/xen") {
        for e in dir.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(flags: u32) -> XenDomctlGetdomaininfo {
        XenDomctlGetdomaininfo {
            domain: DomId(3),
            flags,
            tot_pages: 40960,
            max_pages: 41216,
            nr_online_vcpus: 2,
            max_vcpu_id: 1,
            cpu_time: 12_345_000_000,
            handle: [0x12; 16],
            ..Default::default()
        }
    }

    #[test]
    fn list_state_letters_as_xl() {
        let e = |f| ListEntry::new(&dom(f), None).state;
        assert_eq!(e(0xffff_0020), "r-----");
        assert_eq!(e(0xffff_0010), "-b----");
        assert_eq!(e(0xffff_0008), "--p---");
        assert_eq!(e(0x0000_0004), "---s--");
        assert_eq!(e(0x0003_000c), "--psc-");
        assert_eq!(e(0x0000_000d), "--ps-d");
        assert_eq!(e(0x0001_0004), "---sr-");
        assert_eq!(e(0x0004_0004), "---sw-");
        assert_eq!(e(0x0005_0004), "---s?-");
    }

    #[test]
    fn list_row_as_xl() {
        let e = ListEntry::new(&dom(0xffff_0010), Some("g".into()));
        assert_eq!(
            e.row(),
            format!("g{}     3   160     2     -b----      12.3", " ".repeat(39))
        );
        assert_eq!((e.mem_kib, e.max_mem_kib, e.vcpus_max), (163840, 164864, 2));
        assert_eq!(e.uuid, "12121212-1212-1212-1212-121212121212");
        assert_eq!(e.shutdown_reason, None);
        let z = ListEntry::new(&dom(0x0003_0004), None);
        assert!(z.row().starts_with("(null) "));
        assert_eq!(z.shutdown_reason.as_deref(), Some("crash"));
    }

    #[test]
    fn list_json_schema_is_stable() {
        let v = serde_json::to_value(ListEntry::new(&dom(0xffff_0008), Some("g".into())))
            .expect("serialises");
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut want = vec![
            "name",
            "domid",
            "uuid",
            "state",
            "running",
            "blocked",
            "paused",
            "shutdown",
            "shutdown_reason",
            "dying",
            "mem_kib",
            "max_mem_kib",
            "vcpus_online",
            "vcpus_max",
            "cpu_time_s",
            "cpupool",
        ];
        want.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, want);
    }

    #[test]
    fn cpumap_as_xl() {
        assert_eq!(cpumap_string(&[0b11], 2), "all");
        assert_eq!(cpumap_string(&[0], 2), "none");
        assert_eq!(cpumap_string(&[0b1011_0111], 8), "0-2,4-5,7");
        assert_eq!(cpumap_string(&[0b10], 4), "1");
        assert_eq!(cpumap_string(&[0xff, 0xff], 2), "all");
    }

    #[test]
    fn vcpu_row_as_xl() {
        let mut v = xen_abi::domctl::XenDomctlGetvcpuinfo {
            vcpu: 1,
            online: 1,
            blocked: 1,
            cpu: 0,
            cpu_time: 1_500_000_000,
            ..Default::default()
        };
        assert_eq!(
            vcpu_row("d", 2, &v, "all", "all"),
            format!(
                "d{}     2     1    0   -b-       1.5  all / all",
                " ".repeat(31)
            )
        );
        v.online = 0;
        assert!(vcpu_row("d", 2, &v, "all", "all").contains("    -   --p "));
    }

    #[test]
    fn mem_sizes_as_xl() {
        assert_eq!(parse_mem_kb("256"), Some(262144));
        assert_eq!(parse_mem_kb("256m"), Some(262144));
        assert_eq!(parse_mem_kb("1G"), Some(1 << 20));
        assert_eq!(parse_mem_kb("100k"), Some(100));
        assert_eq!(parse_mem_kb("2048b"), Some(2));
        assert_eq!(parse_mem_kb("lots"), None);
        assert_eq!(parse_mem_kb("1x"), None);
        assert_eq!(parse_mem_kb(""), None);
    }

    const PVLINUX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/xlexample.pvlinux");

    #[test]
    fn create_dry_run_prints_json_and_cfg() {
        let json = create_output(false, PVLINUX, &["vcpus=3".into()]).expect("dry run");
        let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(
            (v["name"].as_str(), v["vcpus"].as_u64()),
            (Some("example.pvlinux"), Some(3))
        );
        assert_eq!(v["disks"][0]["devid"].as_u64(), Some(51712));
        // Debian's example names /boot/vmlinuz: without one, no layout but still a dry run.
        if std::fs::metadata("/boot/vmlinuz").is_err() {
            assert!(v["layout"].is_null(), "{json}");
        }
        let cfg = create_output(true, PVLINUX, &[]).expect("dry run");
        let back = DomainConfig::parse("printed", &cfg, &[]).expect("parses back");
        assert_eq!(back.name, "example.pvlinux");
    }

    #[test]
    fn create_without_a_file_or_with_a_missing_one_is_an_error() {
        let dry = CreateOpts {
            dry_run: true,
            ..CreateOpts::default()
        };
        let e = create(dry, None, vec!["memory=1".into()]).expect_err("no file");
        assert!(e.to_string().contains("no config file"), "{e}");
        let e = create_output(false, "/nonexistent.cfg", &[]).expect_err("no file");
        assert!(
            e.to_string().contains("cannot read /nonexistent.cfg"),
            "{e}"
        );
    }

    #[test]
    fn block_list_as_xl() {
        assert_eq!(
            block_header(),
            format!(
                "Vdev  BE  handle state evt-ch ring-ref BE-path{}",
                " ".repeat(23)
            )
        );
        assert_eq!(
            block_row(51712, 0, 3, 4, 17, 8, "/local/domain/0/backend/vbd/3/51712"),
            "51712 0   3      4     17     8        /local/domain/0/backend/vbd/3/51712"
        );
        assert!(block_row(51712, 0, 3, 1, -1, -1, "/b")
            .starts_with("51712 0   3      1     -1     -1       /b"));
    }

    #[test]
    fn cpurange_as_xl() {
        assert_eq!(parse_cpurange("all", 4), Ok(vec![0x0f]));
        assert_eq!(parse_cpurange("0-3,^2", 4), Ok(vec![0x0b]));
        assert_eq!(parse_cpurange("1", 2), Ok(vec![0x02]));
        assert_eq!(parse_cpurange("8,9", 10), Ok(vec![0, 3]));
        assert!(parse_cpurange("2", 2)
            .expect_err("no CPU 2")
            .contains("CPU 2 does not exist"));
        assert!(parse_cpurange("x", 2)
            .expect_err("bad")
            .contains("invalid CPU range"));
        assert!(parse_cpurange("3-1", 4).is_err());
    }

    #[test]
    fn uptime_as_xl() {
        assert_eq!(uptime_string(59, false), " 0:00:59");
        assert_eq!(uptime_string(3600 * 25 + 61, false), "1 day,  1:01:01");
        assert_eq!(uptime_string(86400 * 3, true), "3 days,  0:00");
    }

    #[test]
    fn virt_caps_as_xl() {
        assert_eq!(virt_caps(0x30b), " pv hvm hap gnttab-v1 gnttab-v2");
    }

    #[test]
    fn scheduler_names() {
        assert_eq!(scheduler_name(6), "credit2");
        assert_eq!(scheduler_name(42), "unknown (42)");
    }
}
