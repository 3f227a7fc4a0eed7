//! The reference rig: Debian's Xen 4.17 (or any hypervisor image) with Debian's Linux as PV dom0
//! under QEMU, running Ferrite's dom0 binaries in scenarios that report through serial markers and
//! QEMU's exit code. See docs/rig.md.

pub mod cpio;
pub mod scenarios;

use crate::iso::{IsoSpec, Module};
use crate::qemu::{Machine, Outcome};
use crate::tools::Tool;
use anyhow::{bail, Context, Result};
use cpio::{Archive, Entry};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Debian packages the rig is built from (probe files that tell they are installed).
pub const RIG_TOOLS: &[Tool] = &[
    Tool {
        probe: "/boot/xen-4.17-amd64.gz",
        package: "xen-hypervisor-4.17-amd64",
    },
    Tool {
        probe: "/usr/lib/xen-4.17/bin/xl",
        package: "xen-utils-4.17",
    },
    Tool {
        probe: "/usr/bin/xenstore-read",
        package: "xenstore-utils",
    },
    Tool {
        probe: "/usr/share/doc/linux-image-amd64",
        package: "linux-image-amd64",
    },
    Tool {
        probe: "/bin/busybox",
        package: "busybox-static",
    },
    Tool {
        probe: "mkfs.ext4",
        package: "e2fsprogs",
    },
    Tool {
        probe: "gzip",
        package: "gzip",
    },
    Tool {
        probe: "/usr/sbin/ethtool",
        package: "ethtool",
    },
];

/// The Xen tools dom0 needs, from `/usr/lib/xen-4.17/bin` and `/usr/bin`.
const XEN_BINARIES: &[&str] = &[
    "/usr/lib/xen-4.17/bin/xl",
    "/usr/lib/xen-4.17/bin/xenstored",
    "/usr/lib/xen-4.17/bin/xenconsoled",
    "/usr/lib/xen-4.17/bin/xenconsole",
    "/usr/lib/xen-4.17/bin/xen-init-dom0",
    "/usr/lib/xen-4.17/bin/libxl-save-helper",
    "/usr/lib/xen-4.17/bin/xenstore-control",
    "/usr/bin/xenstore",
    "/usr/bin/xenstore-read",
    "/usr/bin/xenstore-write",
    "/usr/bin/xenstore-list",
    "/usr/bin/xenstore-ls",
    "/usr/bin/xenstore-rm",
    "/usr/bin/xenstore-exists",
    "/usr/bin/xenstore-chmod",
    "/usr/bin/xenstore-watch",
    // libxl calls pthread_cancel(), which dlopen()s libgcc_s: without it `xl create` aborts.
    "/lib/x86_64-linux-gnu/libgcc_s.so.1",
    // The hotplug scripts need bash, flock, losetup and `stat -L -c`.
    "/bin/bash",
    "/usr/bin/flock",
    "/sbin/losetup",
    "/usr/bin/stat",
];

/// Kernel modules every dom0 loads (the scenario adds its own, e.g. `xen-blkback`).
const DOM0_MODULES: &[&str] = &[
    "xenfs",
    "xen-evtchn",
    "xen-privcmd",
    "xen-gntdev",
    "xen-gntalloc",
    "loop",
    "brd",
];

/// Kernel modules the domU's initramfs carries.
const DOMU_MODULES: &[&str] = &[
    "xen-blkfront",
    "ext4",
    "xen-gntalloc",
    "xen-evtchn",
    "xen-netfront",
];

/// Binaries the domU's tests use beside busybox.
const DOMU_BINARIES: &[&str] = &[
    "/usr/sbin/mkfs.ext4",
    "/usr/sbin/mke2fs",
    "/usr/sbin/e2fsck",
    // The net scenario turns the vif's offloads off (`ethtool -K`).
    "/usr/sbin/ethtool",
];

/// The dom0 binaries of Ferrite installed under `/rig/bin` (package, binary).
pub const DOM0_BINARIES: &[(&str, &str)] = &[
    ("blkback", "blkback"),
    ("blkback", "blkfront-hostile"),
    ("dom0", "console-peek"),
    ("dom0", "ptyrun"),
    ("netback", "netback"),
    ("netback", "netfront-hostile"),
    ("xenstored", "xenstored"),
    ("xenstored", "xenstore-hostile"),
    ("xenstored", "xenstore-bench"),
    ("fxl", "fxl"),
];

/// The Rust target of dom0 binaries: static, so they need nothing from dom0's root.
pub const DOM0_TARGET: &str = "x86_64-unknown-linux-musl";

/// Builds [`DOM0_BINARIES`] (release, static musl) and returns the directory holding them.
pub fn dom0_binaries() -> Result<PathBuf> {
    crate::tools::ensure_rust_targets()?;
    let mut packages: Vec<&str> = DOM0_BINARIES.iter().map(|(p, _)| *p).collect();
    packages.dedup();
    if !packages.is_empty() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut c = Command::new(cargo);
        c.current_dir(crate::workspace_root()).args([
            "build",
            "--release",
            "--target",
            DOM0_TARGET,
        ]);
        for p in &packages {
            c.args(["--package", p]);
        }
        let status = c
            .status()
            .context("running cargo build for the dom0 binaries")?;
        if !status.success() {
            bail!("building the dom0 binaries failed ({status})");
        }
    }
    Ok(crate::target_dir().join(DOM0_TARGET).join("release"))
}

/// What the rig boots.
#[derive(Debug, Clone)]
pub struct Rig {
    /// The hypervisor image (`multiboot2` kernel): Debian's `xen.gz`, or Ferrite.
    pub hypervisor: PathBuf,
    /// Its command line.
    pub hypervisor_cmdline: String,
    /// Debian's kernel version (`/lib/modules/<kver>`).
    pub kver: String,
    /// Directory of Ferrite's static dom0 binaries.
    pub dom0_bin_dir: PathBuf,
    /// Work directory (archives, ISOs, logs).
    pub work: PathBuf,
}

/// The Xen command line of the rig (serial console, fixed dom0 memory, verbose logs).
/// `dom0_max_vcpus` is the scenario's ([`scenarios::Scenario::dom0_vcpus`]).
///
/// `spec-ctrl=eager-fpu`: on this (AMD-vendor) CPU model Xen 4.17 otherwise switches vCPUs' FPU
/// state lazily (`CR0.TS`, restored on `#NM`), and under QEMU 7.2 TCG that corrupts the SSE
/// state of whichever vCPU runs next on a CPU shared by two guests' vCPUs: dom0 programs crashed
/// at random and `xl create` failed to decompress the kernel (docs/rig.md, `stress`).
pub const XEN_CMDLINE: &str = "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M \
     spec-ctrl=eager-fpu loglvl=all guest_loglvl=all console_timestamps=boot";

/// QEMU's `-accel` and `-cpu` for the rig, and extra words for Xen's command line; the
/// environment variables `RIG_ACCEL`, `RIG_CPU` and `RIG_XEN_EXTRA` override them (for
/// experiments; see docs/rig.md).
fn machine_options() -> (String, String, String) {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    (
        var("RIG_ACCEL", "tcg"),
        var("RIG_CPU", "max,-smap"),
        var("RIG_XEN_EXTRA", ""),
    )
}

impl Rig {
    /// Installs what is missing, builds Ferrite's dom0 binaries and returns the rig for
    /// `hypervisor` (Debian's Xen when `None`).
    pub fn prepare(hypervisor: Option<PathBuf>) -> Result<Rig> {
        crate::tools::ensure(crate::tools::BOOT_TOOLS)?;
        crate::tools::ensure(RIG_TOOLS)?;
        let kver = debian_kernel()?;
        let dom0_bin_dir = dom0_binaries()?;
        let work = crate::target_dir().join("rig");
        std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
        Ok(Rig {
            hypervisor: hypervisor.unwrap_or_else(|| crate::build::XEN_IMAGE.into()),
            hypervisor_cmdline: XEN_CMDLINE.into(),
            kver,
            dom0_bin_dir,
            work,
        })
    }

    fn vmlinuz(&self) -> PathBuf {
        PathBuf::from(format!("/boot/vmlinuz-{}", self.kver))
    }

    /// Adds `modules` and their dependencies for the rig's kernel, and the `modules.dep` that
    /// `modprobe` reads (made by `depmod` over a staging copy).
    fn add_modules(&self, a: &mut Archive, modules: &[&str], stage: &Path) -> Result<()> {
        if stage.exists() {
            std::fs::remove_dir_all(stage)?;
        }
        let moddir = format!("/lib/modules/{}", self.kver);
        for m in modules {
            let out = Command::new("modprobe")
                .args(["-S", &self.kver, "--show-depends", m])
                .output()
                .context("running modprobe --show-depends")?;
            if !out.status.success() {
                bail!(
                    "modprobe --show-depends {m}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let mut w = line.split_whitespace();
                if w.next() != Some("insmod") {
                    continue;
                }
                let Some(ko) = w.next() else { continue };
                let dst = stage.join(ko.trim_start_matches('/'));
                std::fs::create_dir_all(dst.parent().context("module path has a parent")?)?;
                std::fs::copy(ko, &dst).with_context(|| format!("copying {ko}"))?;
            }
        }
        for f in [
            "modules.order",
            "modules.builtin",
            "modules.builtin.modinfo",
        ] {
            let src = Path::new(&moddir).join(f);
            if src.exists() {
                std::fs::copy(&src, stage.join(moddir.trim_start_matches('/')).join(f))?;
            }
        }
        let status = Command::new("depmod")
            .arg("-b")
            .arg(stage)
            .arg(&self.kver)
            .status()
            .context("running depmod")?;
        if !status.success() {
            bail!("depmod -b {} failed ({status})", stage.display());
        }
        a.add_tree_at(&stage.join(moddir.trim_start_matches('/')), &moddir)
    }

    /// The domU's initramfs: busybox, the block frontend and ext4, e2fsprogs, the tests, and
    /// the host binaries `extra` (a scenario's `domu_bins`).
    fn domu_initrd(&self, extra: &[&str]) -> Result<PathBuf> {
        let mut a = busybox_root()?;
        self.add_modules(&mut a, DOMU_MODULES, &self.work.join("domu-modules"))?;
        add_with_libs(&mut a, DOMU_BINARIES)?;
        add_with_libs(&mut a, extra)?;
        a.add_script("init", include_str!("scripts/domu-init.sh"));
        for bin in [
            "blkfront-hostile",
            "netfront-hostile",
            "xenstore-hostile",
            "xenstore-bench",
        ] {
            a.add(
                &format!("bin/{bin}"),
                Entry::HostFile(self.dom0_bin_dir.join(bin)),
            );
        }
        for (name, text) in scenarios::DOMU_TESTS {
            a.add_script(&format!("tests/{name}.sh"), text);
        }
        let names: Vec<&str> = extra
            .iter()
            .map(|b| b.rsplit('/').next().unwrap_or(b))
            .collect();
        let out = self.work.join(if names.is_empty() {
            "domu-initrd.gz".to_string()
        } else {
            format!("domu-initrd-{}.gz", names.join("-"))
        });
        a.write_gz(&out)?;
        Ok(out)
    }

    /// dom0's initramfs for `scenario`.
    fn dom0_initramfs(&self, scenario: &scenarios::Scenario) -> Result<PathBuf> {
        let mut a = busybox_root()?;
        let mut modules: Vec<&str> = DOM0_MODULES.to_vec();
        modules.extend_from_slice(scenario.dom0_modules);
        let mut shipped = modules.clone();
        shipped.extend_from_slice(scenario.dom0_extra_modules);
        self.add_modules(&mut a, &shipped, &self.work.join("dom0-modules"))?;
        add_with_libs(&mut a, XEN_BINARIES)?;
        add_with_libs(&mut a, scenario.dom0_bins)?;
        a.add(
            "usr/sbin/xl",
            Entry::Symlink("/usr/lib/xen-4.17/bin/xl".into()),
        );
        a.add_host(Path::new("/etc/xen/xl.conf"));
        a.add_host_tree(Path::new("/etc/xen/scripts"))?;
        a.add_script(
            "etc/xen/scripts/ferrite-vbd",
            include_str!("scripts/ferrite-vbd"),
        );
        a.add_script(
            "etc/xen/scripts/ferrite-vif",
            include_str!("scripts/ferrite-vif"),
        );
        a.add_script("init", include_str!("scripts/dom0-init.sh"));
        a.add(
            "rig/modules",
            Entry::Bytes(modules.join("\n").into_bytes(), 0o644),
        );
        a.add(
            "rig/name",
            Entry::Bytes(scenario.name.as_bytes().to_vec(), 0o644),
        );
        a.add_script("rig/scenario.sh", scenario.script);
        a.add(
            "rig/xenstored",
            Entry::Bytes(scenario.xenstored.word().as_bytes().to_vec(), 0o644),
        );
        a.add_script("rig/lib.sh", include_str!("scripts/lib.sh"));
        // The soak's cycle count, when the environment gives one (scenario create-soak).
        if let Ok(n) = std::env::var("RIG_SOAK_CYCLES") {
            let n: u32 = n
                .trim()
                .parse()
                .with_context(|| format!("RIG_SOAK_CYCLES={n:?} is not a number of cycles"))?;
            a.add(
                "rig/soak-cycles",
                Entry::Bytes(n.to_string().into_bytes(), 0o644),
            );
        }
        for (_, bin) in DOM0_BINARIES {
            a.add(
                &format!("rig/bin/{bin}"),
                Entry::HostFile(self.dom0_bin_dir.join(bin)),
            );
        }
        if scenario.needs_domu {
            a.add("guest/vmlinuz", Entry::HostFile(self.vmlinuz()));
            a.add(
                "guest/initrd.gz",
                Entry::HostFile(self.domu_initrd(scenario.domu_bins)?),
            );
        }
        let out = self.work.join(format!("dom0-{}.cpio.gz", scenario.name));
        a.write_gz(&out)?;
        Ok(out)
    }

    /// Builds the ISO for `scenario` and boots it; the outcome's status is QEMU's exit code
    /// ([`crate::qemu::EXIT_SUCCESS`] when the scenario passed).
    pub fn run(&self, scenario: &scenarios::Scenario, echo: bool) -> Result<Outcome> {
        let initramfs = self.dom0_initramfs(scenario)?;
        let iso = self.work.join(format!("{}.iso", scenario.name));
        let (accel, cpu, xen_extra) = machine_options();
        let cmdline = format!(
            "{} dom0_max_vcpus={} {xen_extra}",
            self.hypervisor_cmdline, scenario.dom0_vcpus
        );
        let spec = IsoSpec {
            hypervisor: self.hypervisor.clone(),
            cmdline: cmdline.trim_end().to_string(),
            modules: vec![
                Module {
                    path: self.vmlinuz(),
                    cmdline: "console=hvc0 earlyprintk=xen".into(),
                },
                Module {
                    path: initramfs,
                    cmdline: String::new(),
                },
            ],
        };
        crate::iso::build(&spec, &iso)?;
        let machine = Machine {
            iso,
            smp: 2,
            mem_mib: 2048,
            no_reboot: true,
        };
        let log = crate::target_dir()
            .join("test-logs")
            .join(format!("rig-{}.log", scenario.name));
        eprintln!(
            "xtask: rig scenario '{}' (timeout {} s, log {}; -accel {accel} -cpu {cpu}; xen: {cmdline})",
            scenario.name,
            scenario.timeout.as_secs(),
            log.display()
        );
        crate::qemu::run_command_captured(
            machine.command_with(&accel, &cpu),
            &log,
            scenario.timeout,
            echo,
            &|_| false,
            None,
        )
    }
}

/// Checks an outcome: the pass marker, no fail marker, and QEMU's exit code from dom0's verdict.
pub fn verdict(name: &str, o: &Outcome) -> Result<()> {
    // Under Ferrite (`--hypervisor`) dom0's console lines carry a `(d0) ` prefix.
    let pass = o.log.lines().any(|l| {
        let mut w = l.split_whitespace().skip_while(|w| *w == "(d0)");
        w.next() == Some("RIG-PASS") && w.next() == Some(name)
    });
    let fail = o
        .log
        .lines()
        .find(|l| l.contains("RIG-FAIL") || l.contains("RIG-ERROR"));
    if o.timed_out {
        bail!("rig scenario '{name}' timed out after {:?}", o.elapsed);
    }
    if let Some(l) = fail {
        bail!("rig scenario '{name}' failed: {l}");
    }
    if !pass || o.status != Some(crate::qemu::EXIT_SUCCESS) {
        bail!(
            "rig scenario '{name}': no pass marker or wrong exit status {:?}",
            o.status
        );
    }
    Ok(())
}

/// Debian's generic kernel (`linux-image-amd64`): the newest `/lib/modules/<kver>-amd64`
/// (not a `-cloud-` or `-rt-` flavour) with a `/boot/vmlinuz-<kver>`.
pub fn debian_kernel() -> Result<String> {
    let mut kvers: Vec<String> = std::fs::read_dir("/lib/modules")
        .context("reading /lib/modules")?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|k| k.ends_with("-amd64") && !k.contains("-cloud-") && !k.contains("-rt-"))
        .filter(|k| Path::new(&format!("/boot/vmlinuz-{k}")).is_file())
        .collect();
    // Numeric order: 6.1.0-56 is newer than 6.1.0-9.
    kvers.sort_by_key(|k| {
        k.split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u64>().ok())
            .collect::<Vec<_>>()
    });
    kvers
        .pop()
        .context("no Debian kernel (/boot/vmlinuz-*) with modules installed")
}

/// A root with busybox-static and every applet linked (the rig's initramfs and Linux on
/// Ferrite start from it).
pub fn busybox_root() -> Result<Archive> {
    let mut a = Archive::default();
    for d in [
        "proc", "sys", "dev", "tmp", "run", "root", "mnt", "etc", "var",
    ] {
        a.add(d, Entry::Dir);
    }
    let out = Command::new("/bin/busybox")
        .arg("--list-full")
        .output()
        .context("running busybox --list-full")?;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        a.add(applet, Entry::Symlink("/bin/busybox".into()));
    }
    a.add("bin/busybox", Entry::HostFile("/bin/busybox".into()));
    a.add("var/run", Entry::Symlink("/run".into()));
    a.add(
        "etc/passwd",
        Entry::Bytes(b"root:x:0:0:root:/root:/bin/sh\n".to_vec(), 0o644),
    );
    a.add("etc/group", Entry::Bytes(b"root:x:0:\n".to_vec(), 0o644));
    Ok(a)
}

/// Adds host binaries and every shared library `ldd` lists for them, at their host paths.
fn add_with_libs(a: &mut Archive, files: &[&str]) -> Result<()> {
    for f in files {
        if !Path::new(f).exists() {
            bail!("{f} is missing on the host");
        }
        // A real file replaces a busybox applet link of the same name.
        a.add(f, Entry::HostFile(std::fs::canonicalize(f)?));
        let out = Command::new("ldd").arg(f).output().context("running ldd")?;
        for lib in String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
        {
            if !a.contains(lib) {
                a.add(lib, Entry::HostFile(std::fs::canonicalize(lib)?));
            }
        }
    }
    Ok(())
}

/// Runs scenarios by name (all when `names` is empty, or only the essential ones when
/// `essential_only`), one QEMU at a time; fails on the first failure.
pub fn run_scenarios(rig: &Rig, names: &[String], essential_only: bool, echo: bool) -> Result<()> {
    // Diagnostics run only when named.
    let chosen: Vec<&scenarios::Scenario> = scenarios::ALL
        .iter()
        .chain(scenarios::DIAGNOSTICS)
        .filter(|s| {
            if names.is_empty() {
                !essential_only && !scenarios::DIAGNOSTICS.iter().any(|d| d.name == s.name)
                    || s.essential
            } else {
                names.iter().any(|n| n == s.name)
            }
        })
        .collect();
    if chosen.is_empty() {
        let known: Vec<&str> = scenarios::ALL
            .iter()
            .chain(scenarios::DIAGNOSTICS)
            .map(|s| s.name)
            .collect();
        bail!("no such rig scenario; known: {}", known.join(", "));
    }
    for s in chosen {
        let o = rig.run(s, echo)?;
        verdict(s.name, &o)?;
        eprintln!(
            "xtask: rig scenario '{}' passed in {:.1} s",
            s.name,
            o.elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// The fio results of one backend, as `(test, value, unit)`.
type BenchResults = Vec<(String, f64, String)>;

fn bench_results(log: &str, backend: &str) -> BenchResults {
    let tag = format!("RIG-BENCH {backend} BENCH ");
    log.lines()
        // Ferrite tags dom0's console lines with "(d0) ".
        .filter_map(|l| {
            let l = l.trim_end();
            l.strip_prefix("(d0) ").unwrap_or(l).strip_prefix(&tag)
        })
        .filter_map(|rest| {
            let mut w = rest.split_whitespace();
            let (name, value, unit) = (w.next()?, w.next()?.parse().ok()?, w.next()?);
            Some((name.to_string(), value, unit.to_string()))
        })
        .collect()
}

/// `cargo xtask bench rig-xenstored`: the xenstore workload in a PV domU over its ring, against
/// C xenstored in one boot and Ferrite's in another, printed with the ratio ours / C.
pub fn bench_xenstored(rig: &Rig) -> Result<()> {
    let mut results = Vec::new();
    for name in ["bench-xenstored-c", "bench-xenstored-ferrite"] {
        let s = scenarios::BENCHES
            .iter()
            .find(|s| s.name == name)
            .with_context(|| format!("no {name} scenario"))?;
        let o = rig.run(s, false)?;
        verdict(s.name, &o)?;
        let r = bench_results(&o.log, s.xenstored.word());
        if r.len() != 5 {
            bail!("{name}: incomplete results {r:?}");
        }
        results.push(r);
    }
    println!("rig-xenstored (one request at a time from a PV domU through its ring, QEMU TCG)");
    println!(
        "{:<20} {:>12} {:>12} {:>7}",
        "request", "C", "ours", "ours/C"
    );
    for ((name, c, unit), (_, f, _)) in results[0].iter().zip(&results[1]) {
        println!(
            "{name:<20} {c:>6.0} {unit:<5} {f:>6.0} {unit:<5} {:>7.2}",
            f / c
        );
    }
    Ok(())
}

/// `cargo xtask bench rig-create`: Debian's `xl create` of a PV domU until it is built and
/// until its `/init` starts, and `xl destroy`, on Xen 4.17 and then on Ferrite (`hypervisor`),
/// each the mean of the rounds after the first; printed with the ratio Ferrite / Xen.
pub fn bench_create(hypervisor: PathBuf) -> Result<()> {
    let s = scenarios::BENCHES
        .iter()
        .find(|s| s.name == "bench-create")
        .context("no bench-create scenario")?;
    let mut means = Vec::new();
    for hv in [None, Some(hypervisor)] {
        let rig = Rig::prepare(hv)?;
        let o = rig.run(s, false)?;
        verdict(s.name, &o)?;
        let r = bench_results(&o.log, "create");
        let mean = |what: &str| {
            let v: Vec<f64> = r
                .iter()
                .filter(|(n, _, _)| n.starts_with(what))
                .map(|(_, v, _)| *v)
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        let m = ["xl-built-", "xl-init-", "xl-destroy-"].map(mean);
        if m.iter().any(Option::is_none) {
            bail!("bench-create: incomplete results {r:?}");
        }
        for l in o.log.lines().filter(|l| l.contains("RIG-BENCH round")) {
            eprintln!("xtask: {}", l.trim_end());
        }
        means.push(m.map(Option::unwrap_or_default));
    }
    println!(
        "rig-create (Debian's xl, a 160 MiB Debian PV domU, QEMU TCG; seconds, mean of 3 rounds)"
    );
    println!(
        "{:<26} {:>8} {:>8} {:>13}",
        "", "Xen", "Ferrite", "Ferrite/Xen"
    );
    for (i, what) in ["xl create: built", "xl create: /init starts", "xl destroy"]
        .iter()
        .enumerate()
    {
        let (x, f) = (means[0][i], means[1][i]);
        println!("{what:<26} {x:>8.2} {f:>8.2} {:>13.2}", f / x);
    }
    Ok(())
}

/// `cargo xtask bench rig-blk`: fio in a PV domU on blkback (thread pool, then io_uring) and on
/// Linux's xen-blkback in the same boot; prints each figure and the ratios to xen-blkback.
pub fn bench_blk(rig: &Rig) -> Result<()> {
    crate::tools::ensure(&[Tool {
        probe: "fio",
        package: "fio",
    }])?;
    let s = scenarios::BENCHES
        .iter()
        .find(|s| s.name == "bench-blk")
        .context("no bench-blk scenario")?;
    let o = rig.run(s, false)?;
    verdict(s.name, &o)?;
    let pool = bench_results(&o.log, "pool");
    let uring = bench_results(&o.log, "uring");
    let linux = bench_results(&o.log, "linux");
    if [&pool, &uring, &linux].iter().any(|r| r.len() != 4) {
        bail!(
            "bench-blk: incomplete fio results (pool {pool:?}, uring {uring:?}, xen-blkback {linux:?})"
        );
    }
    println!("rig-blk (fio in a PV domU, RAM-backed image, QEMU TCG; higher is better)");
    println!(
        "{:<10} {:>14} {:>14} {:>14} {:>7} {:>7}",
        "test", "blkback pool", "blkback uring", "xen-blkback", "pool/k", "uring/k"
    );
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    for (((name, p, unit), (_, u, _)), (_, k, _)) in pool.iter().zip(&uring).zip(&linux) {
        println!(
            "{name:<10} {p:>8.0} {unit:<5} {u:>8.0} {unit:<5} {k:>8.0} {unit:<5} {:>7.2} {:>7.2}",
            ratio(*p, *k),
            ratio(*u, *k)
        );
    }
    Ok(())
}

/// `cargo xtask bench rig-net`: iperf3 and ping between a PV domU and dom0, the vif on netback,
/// then on Linux's xen-netback, then on netback again, in one boot; prints each figure and the
/// ratios of both netback runs to xen-netback.
pub fn bench_net(rig: &Rig) -> Result<()> {
    crate::tools::ensure(&[Tool {
        probe: "iperf3",
        package: "iperf3",
    }])?;
    let s = scenarios::BENCHES
        .iter()
        .find(|s| s.name == "bench-net")
        .context("no bench-net scenario")?;
    let o = rig.run(s, false)?;
    verdict(s.name, &o)?;
    let ours = bench_results(&o.log, "ours");
    let linux = bench_results(&o.log, "linux");
    let ours2 = bench_results(&o.log, "ours2");
    if [&ours, &linux, &ours2].iter().any(|r| r.len() != 7) {
        bail!(
            "bench-net: incomplete results (netback {ours:?}, xen-netback {linux:?}, netback again {ours2:?})"
        );
    }
    println!(
        "rig-net (iperf3 and ping, PV domU <-> dom0 over xenbr0, QEMU TCG; run order: a warm-up \
         on netback (not counted), netback, xen-netback, netback; ratios > 1 mean netback is \
         better)"
    );
    println!(
        "{:<11} {:>16} {:>16} {:>16} {:>7} {:>7}",
        "test", "netback", "xen-netback", "netback again", "1st/k", "2nd/k"
    );
    for (((name, a, unit), (_, k, _)), (_, b, _)) in ours.iter().zip(&linux).zip(&ours2) {
        // A round-trip time is better lower: its ratio is xen-netback's over ours.
        let ratio = |x: f64| {
            let (num, den) = if unit == "ms" { (*k, x) } else { (x, *k) };
            if den > 0.0 {
                num / den
            } else {
                f64::NAN
            }
        };
        println!(
            "{name:<11} {a:>9.3} {unit:<6} {k:>9.3} {unit:<6} {b:>9.3} {unit:<6} {:>7.2} {:>7.2}",
            ratio(*a),
            ratio(*b)
        );
    }
    Ok(())
}

/// Default hard timeout of a scenario.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(log: &str, status: Option<i32>, timed_out: bool) -> Outcome {
        Outcome {
            status,
            timed_out,
            stopped_on: None,
            log: log.into(),
            elapsed: Duration::from_secs(1),
            line_times: log.lines().map(|_| Duration::ZERO).collect(),
        }
    }

    #[test]
    fn verdict_needs_marker_exit_code_and_no_failure() {
        let ok = "DOM0-READY\nRIG-PASS blk uptime=1\n";
        assert!(verdict("blk", &outcome(ok, Some(crate::qemu::EXIT_SUCCESS), false)).is_ok());
        // Exit code without the marker, the marker with a failing exit code, a timeout, or a
        // failure line anywhere: all fail.
        assert!(verdict(
            "blk",
            &outcome("x\n", Some(crate::qemu::EXIT_SUCCESS), false)
        )
        .is_err());
        assert!(verdict("blk", &outcome(ok, Some(crate::qemu::EXIT_FAILURE), false)).is_err());
        assert!(verdict("blk", &outcome(ok, Some(crate::qemu::EXIT_SUCCESS), true)).is_err());
        let both = "RIG-FAIL blk: x\nRIG-PASS blk\n";
        assert!(verdict(
            "blk",
            &outcome(both, Some(crate::qemu::EXIT_SUCCESS), false)
        )
        .is_err());
        // Ferrite prefixes dom0's console lines.
        let ferrite = "(d0) RIG-PASS blk uptime=1\n";
        assert!(verdict(
            "blk",
            &outcome(ferrite, Some(crate::qemu::EXIT_SUCCESS), false)
        )
        .is_ok());
        // Another scenario's marker does not count.
        let other = "RIG-PASS blk-variants\n";
        assert!(verdict(
            "blk",
            &outcome(other, Some(crate::qemu::EXIT_SUCCESS), false)
        )
        .is_err());
    }

    #[test]
    fn bench_results_reads_tagged_fio_lines() {
        let log = "RIG-BENCH pool BENCH randread 1234 IOPS\r\n\
                   RIG-BENCH linux BENCH randread 2000 IOPS\n\
                   RIG-BENCH pool BENCH seqread 55 MiB/s\n\
                   [benchf] BENCH randread 1 IOPS\n\
                   (d0) RIG-BENCH linux BENCH seqread 70 MiB/s\n";
        let r = bench_results(log, "pool");
        assert_eq!(
            r,
            vec![
                ("randread".to_string(), 1234.0, "IOPS".to_string()),
                ("seqread".to_string(), 55.0, "MiB/s".to_string())
            ]
        );
        assert_eq!(
            bench_results(log, "linux").len(),
            2,
            "Ferrite's (d0) tag is read through"
        );
    }
}
