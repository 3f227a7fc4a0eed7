//! `fxl create`: builds a PV domU as `xl create` does on Xen 4.17 (libxl's
//! `libxl__domain_make`, `libxl__build_pre`, libxenguest's `xc_dom_*`, `libxl__build_post`
//! and the device code; reference/toolstack-abi.md §2): the hypercalls in libxl's order, the
//! guest's contents from [`super::image`], the xenstore entries from [`super::xs`]. Any
//! failure after `createdomain` destroys the half-built domain and names the step.

use super::cache;
use super::image::{self, StartInfoInput};
use super::layout::{input, unpack_kernel};
use super::xs::{self, Entry, Facts};
use crate::config::DomainConfig;
use anyhow::{anyhow, bail, Context, Result};
use dom0_sys::privcmd::{ForeignMapping, Privcmd};
use kernel_image::elf;
use kernel_image::layout::{self, DomuLayout, PAGE};
use std::io::{IsTerminal, Write};
use std::time::Instant;
use xen_abi::domctl::{
    DomInfFlags, Domctl, XenDomctlAddressSize, XenDomctlCreatedomain, XenDomctlMaxMem,
    XenDomctlMaxVcpus, XenDomctlTscInfo,
};
use xen_abi::io::ring::RingMemory;
use xen_abi::memory::{E820Entry, E820_RAM, XENMEM_RESOURCE_GRANT_TABLE};
use xen_abi::types::{DomId, Mfn};
use xenstore::{Node, Xenstore, NO_TX};
use zerocopy::IntoBytes;

/// `LIBXL_MAXMEM_CONSTANT` (KiB).
const MAXMEM_SLACK_KIB: u64 = 1024;
/// The ssidref libxl passes for a domU (`SECINITSID_DOMU`; ignored without XSM).
const SSIDREF_DOMU: u32 = 12;
/// Pages in a 2 MiB superpage (`SUPERPAGE_2MB_NR_PFNS`).
const SUPERPAGE_PAGES: u64 = 512;

/// Progress lines on a terminal, nothing otherwise; with `verbose`, each step's time.
struct Progress {
    on: bool,
    verbose: bool,
    last: std::cell::Cell<Instant>,
}

impl Progress {
    /// With `verbose`: the time since the previous step, for the step `what` just done.
    fn took(&self, what: &str) {
        let now = Instant::now();
        if self.verbose {
            self.done();
            eprintln!(
                "fxl: {what}: {:.3} s",
                now.duration_since(self.last.get()).as_secs_f64()
            );
        }
        self.last.set(now);
    }
    fn say(&self, what: &str) {
        if self.on {
            eprint!("\r\x1b[Kfxl: {what}");
            let _ = std::io::stderr().flush();
        }
    }
    fn done(&self) {
        if self.on {
            eprint!("\r\x1b[K");
        }
    }
}

/// What `create` prints and keeps from a build.
pub struct Created {
    /// The new domain.
    pub domid: u16,
    /// Seconds from the start to the unpause.
    pub seconds: f64,
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .context("reading /dev/urandom")?;
    Ok(b)
}

/// A random version-4 UUID, as libxl makes one.
pub(crate) fn random_uuid() -> Result<[u8; 16]> {
    let mut u = random_bytes::<16>()?;
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    Ok(u)
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut u = [0u8; 16];
    for (i, b) in u.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(u)
}

fn uuid_string(u: &[u8; 16]) -> String {
    let h: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..].concat()
    )
}

/// A backend named by `backend=` (a domain ID; names are not looked up yet), dom0 by default.
pub(crate) fn backend_domid(b: Option<&str>) -> Result<u16> {
    match b {
        None => Ok(0),
        Some(s) => s
            .parse()
            .map_err(|_| anyhow!("backend={s}: only a domain ID is supported")),
    }
}

/// What `create` can build, checked before the domain exists: disks go to the `phy` backend
/// (blkback, or Linux's `xen-blkback`), which serves raw images and block devices; `qdisk`
/// (QEMU), `tap` and `standalone` (libxl takes it only for virtio disks) are refused, as are
/// other formats; backends are named by domain ID.
fn check_devices(cfg: &DomainConfig) -> Result<()> {
    for d in &cfg.disks {
        check_disk(d)?;
    }
    for (h, v) in cfg.vifs.iter().enumerate() {
        backend_domid(v.backend.as_deref()).with_context(|| format!("vif {h}"))?;
    }
    Ok(())
}

/// One disk of [`check_devices`] (also `block-attach`'s check).
pub(crate) fn check_disk(d: &crate::config::Disk) -> Result<()> {
    use crate::config::{BackendType, DiskFormat};
    match d.backendtype {
        None | Some(BackendType::Phy) => {}
        Some(t) => bail!(
            "disk {}: backendtype={}: fxl create writes disks for the phy backend only",
            d.vdev,
            t.name()
        ),
    }
    if d.format != DiskFormat::Raw {
        bail!(
            "disk {}: format={}: the phy backend serves raw images and block devices only",
            d.vdev,
            d.format.name()
        );
    }
    backend_domid(d.backend.as_deref()).with_context(|| format!("disk {}", d.vdev))?;
    Ok(())
}

/// A random MAC in Xen's `00:16:3e` range, as libxl makes one for a vif without `mac=`.
pub(crate) fn random_mac() -> Result<String> {
    let r = random_bytes::<3>()?;
    Ok(format!(
        "00:16:3e:{:02x}:{:02x}:{:02x}",
        r[0] & 0x7f,
        r[1],
        r[2]
    ))
}

/// Everything read and planned before the domain exists: a bad kernel creates nothing.
struct Prepared {
    elf: Vec<u8>,
    kernel: elf::XenImage,
    ramdisk: Option<Vec<u8>>,
    layout: DomuLayout,
    nr_pages: u64,
    /// Where to keep the unpacked kernel once the domain is built (a cache miss).
    cache_entry: Option<std::path::PathBuf>,
}

fn prepare(cfg: &DomainConfig, progress: &Progress) -> Result<Prepared> {
    let read = |p: &str| std::fs::read(p).with_context(|| format!("cannot read {p}"));
    let entry = cache::entry(std::path::Path::new(cache::DIR), &cfg.kernel);
    let cached = entry
        .as_deref()
        .and_then(cache::load)
        .filter(|e| elf::parse(e).is_ok());
    let (elf_bytes, cache_entry) = match cached {
        Some(e) => {
            progress.took("reading the unpacked kernel from the cache");
            (e, None)
        }
        None => {
            progress.say(&format!("loading {}", cfg.kernel));
            let file = read(&cfg.kernel)?;
            progress.took("reading the kernel");
            progress.say(&format!("decompressing {}", cfg.kernel));
            let e = unpack_kernel(&cfg.kernel, &file).map_err(|e| anyhow!("{e}"))?;
            progress.took("decompressing the kernel");
            // A plain ELF gains nothing from the cache.
            (e, entry.filter(|_| !file.starts_with(b"\x7fELF")))
        }
    };
    let kernel =
        elf::parse(&elf_bytes).map_err(|e| anyhow!("{}: not a PV kernel: {e:?}", cfg.kernel))?;
    let ramdisk = cfg.ramdisk.as_deref().map(read).transpose()?;
    progress.took("parsing the kernel, reading the ramdisk");
    let i = input(&kernel, ramdisk.as_deref(), cfg.memory_mib);
    let layout = layout::domu(&i).map_err(|e| anyhow!("the layout does not fit: {e:?}"))?;
    Ok(Prepared {
        elf: elf_bytes,
        kernel,
        ramdisk,
        layout,
        nr_pages: i.nr_pages,
        cache_entry,
    })
}

/// `fxl create` without `-n`: builds the domain and, unless `paused`, starts it.
pub fn create(cfg: &DomainConfig, paused: bool, verbose: bool) -> Result<Created> {
    let t0 = Instant::now();
    let progress = Progress {
        on: std::io::stderr().is_terminal(),
        verbose,
        last: std::cell::Cell::new(t0),
    };
    let pc = Privcmd::open()
        .context("cannot open /dev/xen/privcmd (is this a Xen dom0, and are you root?)")?;
    let xs = crate::ops::xenstore()?;
    check_devices(cfg)?;
    let prep = prepare(cfg, &progress)?;
    if name_taken(&pc, &xs, &cfg.name) {
        bail!("domain name '{}' is already in use", cfg.name);
    }
    let uuid = match &cfg.uuid {
        Some(s) => parse_uuid(s).ok_or_else(|| anyhow!("uuid {s}: not a UUID"))?,
        None => random_uuid()?,
    };
    // createdomain, as libxl__domain_make.
    let mut cd = XenDomctlCreatedomain {
        ssidref: SSIDREF_DOMU,
        handle: uuid,
        flags: 0,
        max_vcpus: cfg.maxvcpus,
        max_evtchn_port: 1023,
        max_grant_frames: cfg.max_grant_frames.map_or(-1, |v| v as i32),
        max_maptrack_frames: cfg.max_maptrack_frames.map_or(-1, |v| v as i32),
        grant_opts: xen_abi::domctl::xen_domctl_grant_version(2),
        ..Default::default()
    };
    progress.took("checking the name");
    let op = pc
        .domctl(Domctl::Createdomain, DomId(0xffff), &mut cd)
        .context("createdomain")?;
    progress.took("createdomain");
    let domid = op.domain;
    match build(&pc, &xs, cfg, &prep, domid, &uuid, paused, &progress) {
        Ok(()) => {
            let seconds = t0.elapsed().as_secs_f64();
            if let Some(e) = &prep.cache_entry {
                cache::store(e, &prep.elf);
                progress.took("keeping the unpacked kernel in the cache");
            }
            progress.done();
            Ok(Created {
                domid: domid.0,
                seconds,
            })
        }
        Err(e) => {
            progress.done();
            // As `fxl destroy` (devices closed, directories removed); where that stops short
            // (nothing in xenstore yet), the domain and whatever directories it has.
            if crate::ops::destroy(&domid.0.to_string()).is_err() {
                let _ = pc.domctl(Domctl::Destroydomain, domid, &mut ());
                let _ = xs.rm(NO_TX, &format!("/local/domain/{}", domid.0));
                let _ = xs.rm(NO_TX, &format!("/libxl/{}", domid.0));
                let _ = xs.rm(NO_TX, &format!("/vm/{}", uuid_string(&uuid)));
                let gone = pc.getdomaininfo(domid).map_or(true, |d| {
                    d.domain != domid || d.flags & DomInfFlags::DYING.bits() != 0
                });
                if !gone {
                    eprintln!(
                        "fxl: warning: the half-built domain {} is still there",
                        domid.0
                    );
                }
            }
            Err(e.context(format!(
                "creating domain {} failed; it was destroyed",
                domid.0
            )))
        }
    }
}

fn name_taken(pc: &Privcmd, xs: &Xenstore, name: &str) -> bool {
    pc.domains().unwrap_or_default().iter().any(|d| {
        xs.read_string(NO_TX, &format!("/local/domain/{}/name", d.domain.0))
            .is_ok_and(|n| n == name)
    })
}

fn map(pc: &Privcmd, domid: DomId, p2m: &[Mfn], pfn: u64, pages: u64) -> Result<ForeignMapping> {
    let frames = p2m
        .get(pfn as usize..(pfn + pages) as usize)
        .ok_or_else(|| anyhow!("PFNs {pfn:#x}+{pages} beyond the domain's memory"))?;
    pc.map_foreign(domid, frames, true)
        .map_err(|e| anyhow!("mapping PFNs {pfn:#x}+{pages}: {e}"))
}

/// Populates `nr_pages` from PFN 0, 2 MiB superpages first and single pages for the rest (or
/// where Xen has no superpage left), as `meminit_pv`; returns the p2m.
fn populate(pc: &Privcmd, domid: DomId, nr_pages: u64, progress: &Progress) -> Result<Vec<Mfn>> {
    let mut p2m = vec![Mfn(u64::MAX); nr_pages as usize];
    let mut pfn = 0u64;
    let mut superpages = true;
    while pfn < nr_pages {
        progress.say(&format!(
            "populating {} MiB: {} MiB",
            nr_pages / 256,
            pfn / 256
        ));
        if superpages && nr_pages - pfn >= SUPERPAGE_PAGES {
            let n = ((nr_pages - pfn) / SUPERPAGE_PAGES).min(512);
            let mut frames: Vec<u64> = (0..n).map(|i| pfn + i * SUPERPAGE_PAGES).collect();
            let done = pc
                .populate_physmap(domid, 9, &mut frames)
                .context("populate_physmap (order 9)")?;
            for (i, mfn) in frames[..done].iter().enumerate() {
                for j in 0..SUPERPAGE_PAGES {
                    p2m[(pfn + i as u64 * SUPERPAGE_PAGES + j) as usize] = Mfn(mfn + j);
                }
            }
            pfn += done as u64 * SUPERPAGE_PAGES;
            if (done as u64) < n {
                superpages = false;
            }
        } else {
            let n = (nr_pages - pfn).min(4096);
            let mut frames: Vec<u64> = (pfn..pfn + n).collect();
            let done = pc
                .populate_physmap(domid, 0, &mut frames)
                .context("populate_physmap (order 0)")?;
            for (i, mfn) in frames[..done].iter().enumerate() {
                p2m[(pfn + i as u64) as usize] = Mfn(*mfn);
            }
            if (done as u64) < n {
                bail!(
                    "populate_physmap: Xen gave {} of {nr_pages} pages (out of memory)",
                    pfn + done as u64
                );
            }
            pfn += n;
        }
    }
    Ok(p2m)
}

/// Writes `entries` in one transaction, all requests sent before any reply is read.
pub(crate) fn write_tx(xs: &Xenstore, entries: &[Entry]) -> Result<(), xenstore::Error> {
    let nodes: Vec<Node<'_>> = entries
        .iter()
        .map(|e| Node {
            path: &e.path,
            value: e.value.as_bytes(),
            perms: e.perms.as_deref(),
        })
        .collect();
    xs.transaction(|tx| xs.write_nodes(tx, &nodes))
}

#[allow(clippy::too_many_arguments)]
fn build(
    pc: &Privcmd,
    xs: &Xenstore,
    cfg: &DomainConfig,
    prep: &Prepared,
    domid: DomId,
    uuid: &[u8; 16],
    paused: bool,
    progress: &Progress,
) -> Result<()> {
    let l = &prep.layout;
    let n = domid.0;
    // libxl__build_pre.
    pc.domctl(
        Domctl::MaxVcpus,
        domid,
        &mut XenDomctlMaxVcpus { max: cfg.maxvcpus },
    )
    .context("max_vcpus")?;
    pc.domctl(
        Domctl::MaxMem,
        domid,
        &mut XenDomctlMaxMem {
            max_memkb: cfg.maxmem_mib * 1024 + MAXMEM_SLACK_KIB,
        },
    )
    .context("max_mem")?;
    let tool = |t: &str| -> u16 {
        xs.read_parse(NO_TX, &format!("/tool/{t}/domid"))
            .unwrap_or(0)
    };
    let (xs_dom, cons_dom) = (tool("xenstored"), tool("xenconsoled"));
    let store_port = pc
        .evtchn_alloc_unbound(domid, DomId(xs_dom))
        .context("evtchn alloc_unbound (xenstore)")?;
    let console_port = pc
        .evtchn_alloc_unbound(domid, DomId(cons_dom))
        .context("evtchn alloc_unbound (console)")?;
    pc.set_memory_map(
        domid,
        &[E820Entry {
            addr: 0,
            size: cfg.maxmem_mib << 20,
            r#type: E820_RAM,
        }],
    )
    .context("set_memory_map")?;
    pc.domctl(Domctl::Settscinfo, domid, &mut XenDomctlTscInfo::default())
        .context("settscinfo")?;
    pc.domctl(
        Domctl::SetAddressSize,
        domid,
        &mut XenDomctlAddressSize { size: 64 },
    )
    .context("set_address_size")?;
    progress.took("build_pre (max_vcpus .. set_address_size)");

    // meminit_pv.
    let p2m = populate(pc, domid, prep.nr_pages, progress)?;
    progress.took("populate_physmap");

    // The image: kernel, ramdisk, the magic pages and page tables, the p2m.
    progress.say("loading the kernel");
    let pieces = image::kernel_pieces(&prep.elf, &prep.kernel, l.kernel.vstart, l.kernel.pages)
        .context("loading the kernel")?;
    {
        let mut m = map(pc, domid, &p2m, l.kernel.pfn.0, l.kernel.pages).context("kernel")?;
        progress.took("mapping the kernel's frames");
        let zeros = vec![0u8; 1 << 16];
        for (off, p) in pieces {
            match p {
                image::KernelPiece::File(r) => m.write_bytes(off, &prep.elf[r]),
                image::KernelPiece::Zero(mut n) => {
                    let mut at = off;
                    while n > 0 {
                        let k = n.min(zeros.len());
                        m.write_bytes(at, &zeros[..k]);
                        (at, n) = (at + k, n - k);
                    }
                }
            }
        }
        progress.took("copying the kernel");
    }
    let ramdisk_len = prep.ramdisk.as_ref().map_or(0, |r| r.len() as u64);
    if let (Some(rd), Some(seg)) = (&prep.ramdisk, l.ramdisk) {
        progress.say("loading the ramdisk");
        // Only the pages the file fills (the segment is sized as libxenguest unpacks a gzip
        // ramdisk; fxl leaves that to the guest).
        let pages = (rd.len() as u64).div_ceil(PAGE).min(seg.pages);
        let mut m = map(pc, domid, &p2m, seg.pfn.0, pages).context("ramdisk")?;
        progress.took("mapping the ramdisk's frames");
        m.write_bytes(0, rd);
        progress.took("copying the ramdisk");
    }
    let (pt, p2m_pt) = image::page_tables(l, &p2m).context("page tables")?;
    {
        let mut m = map(pc, domid, &p2m, l.p2m.pfn.0, l.p2m.pages).context("p2m")?;
        let list = image::p2m_bytes(&p2m);
        let data_pages = l.p2m.pages - l.p2m_pt_pages;
        m.write_bytes(0, &list[..(data_pages * PAGE) as usize]);
        m.write_bytes((data_pages * PAGE) as usize, &p2m_pt);
    }
    let info = pc.getdomaininfo(domid).context("getdomaininfo")?;
    if info.domain != domid {
        bail!("getdomaininfo: domain {} is gone", domid.0);
    }
    let shared_info = Mfn(info.shared_info_frame.0);
    let store_mfn = p2m[l.xenstore.pfn.0 as usize];
    let console_mfn = p2m[l.console.pfn.0 as usize];
    {
        // start_info, xenstore, console, page tables and boot stack are consecutive PFNs.
        let first = l.start_info.pfn.0;
        let pages = l.boot_stack.pfn.0 + 1 - first;
        let mut m = map(pc, domid, &p2m, first, pages).context("start_info and page tables")?;
        m.write_bytes(0, &vec![0u8; (pages * PAGE) as usize]);
        let si = image::start_info(
            l,
            &StartInfoInput {
                nr_pages: prep.nr_pages,
                shared_info,
                store: (store_mfn, store_port),
                console: (console_mfn, console_port),
                ramdisk_len,
                cmdline: &cfg.cmdline,
            },
        );
        m.write_bytes(0, si.as_bytes());
        m.write_bytes(((l.page_tables.pfn.0 - first) * PAGE) as usize, &pt);
    }
    {
        let mut m = pc
            .map_foreign(domid, &[shared_info], true)
            .map_err(|e| anyhow!("mapping shared_info: {e}"))?;
        m.write_bytes(0, image::shared_info().as_bytes());
    }
    // Every mapping is gone: Xen types the tables only when nothing else maps them writable.
    progress.took("p2m, page tables, start_info, shared_info");
    let l4 = p2m[l.page_tables.pfn.0 as usize];
    pc.pin_l4_table(domid, l4)
        .context("mmuext_op PIN_L4_TABLE")?;
    pc.setvcpucontext(domid, 0, &image::vcpu_context(&prep.kernel, l, l4))
        .context("setvcpucontext")?;
    seed_grants(
        pc,
        domid,
        (console_mfn, DomId(cons_dom)),
        (store_mfn, DomId(xs_dom)),
    )?;
    progress.took("pin, setvcpucontext, grant seeding");

    // libxl__domain_make's and libxl__build_post's xenstore transactions, then INTRODUCE.
    progress.say("writing xenstore");
    let facts = Facts {
        domid: n,
        uuid: uuid_string(uuid),
        store: (store_mfn.0, store_port.0),
        console: (console_mfn.0, console_port.0),
        start_time: start_time(),
    };
    write_tx(xs, &xs::domain_entries(cfg, &facts)).context("xenstore: the domain's entries")?;
    // The console before INTRODUCE: xenconsoled looks for it on `@introduceDomain`.
    write_tx(xs, &xs::console_entries(&facts, cons_dom)).context("xenstore: console")?;
    xs.introduce(n, store_mfn.0, store_port.0)
        .context("xenstore: INTRODUCE")?;
    for d in &cfg.disks {
        let be = backend_domid(d.backend.as_deref())?;
        write_tx(xs, &xs::vbd_entries(n, d, be))
            .with_context(|| format!("xenstore: disk {}", d.vdev))?;
    }
    for (h, v) in cfg.vifs.iter().enumerate() {
        let be = backend_domid(v.backend.as_deref())?;
        let mac = match &v.mac {
            Some(m) => m.clone(),
            None => random_mac()?,
        };
        write_tx(xs, &xs::vif_entries(n, h as u32, v, &mac, be))
            .with_context(|| format!("xenstore: vif {h}"))?;
    }
    progress.took("xenstore");
    // Each vbd's and vif's hotplug script, once its backend is in InitWait (libxl's
    // `libxl__wait_device_connection` then `device_hotplug`).
    for d in crate::ops::devices(xs, n) {
        if let Some(be) = d.backend.filter(|_| d.kind == "vbd" || d.kind == "vif") {
            crate::hotplug::add(xs, &be)?;
        }
    }
    progress.took("hotplug scripts");
    if !paused {
        pc.domctl(Domctl::Unpausedomain, domid, &mut ())
            .context("unpausedomain")?;
    }
    Ok(())
}

/// `/vm/<uuid>/start_time`: seconds since the epoch with two decimals, as libxl.
fn start_time() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:02}", t.as_secs(), t.subsec_millis() / 10)
}

/// Grant entries 0 (console) and 1 (xenstore), through the guest's grant table mapped with
/// `XENMEM_acquire_resource` (`xc_dom_gnttab_seed`); where Xen lacks it (`EOPNOTSUPP`), the
/// table's first frame from `GNTTABOP_setup_table`, mapped as a foreign frame (libxenguest's
/// fallback).
fn seed_grants(
    pc: &Privcmd,
    domid: DomId,
    console: (Mfn, DomId),
    store: (Mfn, DomId),
) -> Result<()> {
    let entries = image::seed_grants(domid, console, store);
    let mut m = match pc.map_resource(domid, XENMEM_RESOURCE_GRANT_TABLE, 0, 0, 1) {
        Ok(m) => m,
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            let frame = pc
                .gnttab_first_frame(domid)
                .context("grant seeding: GNTTABOP_setup_table")?;
            pc.map_foreign(domid, &[frame], true)
                .map_err(|e| anyhow!("grant seeding: mapping grant frame {:#x}: {e}", frame.0))?
        }
        Err(e) => {
            return Err(e).context("grant seeding: XENMEM_acquire_resource of the grant table")
        }
    };
    for (i, e) in entries.iter().enumerate() {
        if let Some(e) = e {
            m.write_bytes(i * 8, e.as_bytes());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_round_trips_and_random_is_version_4() {
        let s = "7f1a2b3c-0000-4000-8000-0000000000a1";
        assert_eq!(uuid_string(&parse_uuid(s).expect("parses")), s);
        assert_eq!(parse_uuid("nope"), None);
        let u = random_uuid().expect("urandom");
        assert_eq!(u[6] >> 4, 4);
        assert_eq!(u[8] >> 6, 2);
    }

    #[test]
    fn check_devices_refuses_what_phy_cannot_serve() {
        let cfg = |disk: &str| {
            let text = format!("name = \"g\"\nkernel = \"/k\"\ndisk = [\"{disk}\"]\n");
            crate::config::DomainConfig::parse("g.cfg", &text, &[]).expect("parses")
        };
        assert!(check_devices(&cfg("vdev=xvda, target=/d.img")).is_ok());
        assert!(check_devices(&cfg("backendtype=phy, vdev=xvda, target=/d.img")).is_ok());
        let e =
            check_devices(&cfg("backendtype=qdisk, vdev=xvda, target=/d.img")).expect_err("qdisk");
        assert_eq!(
            format!("{e:#}"),
            "disk xvda: backendtype=qdisk: fxl create writes disks for the phy backend only"
        );
        let e = check_devices(&cfg("format=qcow2, vdev=xvda, target=/d.img")).expect_err("qcow2");
        assert_eq!(
            format!("{e:#}"),
            "disk xvda: format=qcow2: the phy backend serves raw images and block devices only"
        );
        let e = check_devices(&cfg("backend=dd, vdev=xvda, target=/d.img")).expect_err("name");
        assert!(
            format!("{e:#}").starts_with("disk xvda: backend=dd"),
            "{e:#}"
        );
    }

    #[test]
    fn backend_domid_takes_ids_only() {
        assert_eq!(backend_domid(None).ok(), Some(0));
        assert_eq!(backend_domid(Some("3")).ok(), Some(3));
        assert!(backend_domid(Some("driverdom")).is_err());
    }
}
