//! Debian's Linux as dom0 on Ferrite: the kernel from `linux-image-amd64` (a bzImage Ferrite
//! unpacks itself) and a small busybox initramfs built on the rig's root, for `cargo xtask run
//! --linux` (an interactive shell on `hvc0`) and the integration test (a script that checks and
//! prints a verdict).

use anyhow::Result;
use std::path::{Path, PathBuf};

/// The packages Linux on Ferrite needs on the host (the kernel and busybox-static).
pub const LINUX_TOOLS: &[crate::tools::Tool] = &[
    crate::tools::Tool {
        probe: "/usr/share/doc/linux-image-amd64",
        package: "linux-image-amd64",
    },
    crate::tools::Tool {
        probe: "/bin/busybox",
        package: "busybox-static",
    },
];

/// dom0's kernel command line: the PV console, early output through the hypervisor.
pub const DOM0_CMDLINE: &str = "console=hvc0 earlyprintk=xen";

/// The `/init` of the interactive initramfs: the usual mounts, then a shell on the console.
pub const SHELL_INIT: &str = r#"#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "Linux $(uname -r) as dom0 on $(cat /sys/hypervisor/type 2>/dev/null) $(cat /sys/hypervisor/version/major 2>/dev/null).$(cat /sys/hypervisor/version/minor 2>/dev/null)$(cat /sys/hypervisor/version/extra 2>/dev/null): 'poweroff -f' ends the machine"
exec setsid cttyhack /bin/sh
"#;

/// Debian's kernel, installed if missing.
pub fn kernel() -> Result<PathBuf> {
    crate::tools::ensure(LINUX_TOOLS)?;
    let kver = crate::rig::debian_kernel()?;
    Ok(PathBuf::from(format!("/boot/vmlinuz-{kver}")))
}

/// Debian's own initramfs for that kernel (`/boot/initrd.img-*`, what `initramfs-tools` built
/// when the kernel was installed), made with `update-initramfs` if it is missing.
pub fn debian_initrd() -> Result<PathBuf> {
    crate::tools::ensure(LINUX_TOOLS)?;
    let kver = crate::rig::debian_kernel()?;
    let path = PathBuf::from(format!("/boot/initrd.img-{kver}"));
    if !path.is_file() {
        let status = std::process::Command::new("update-initramfs")
            .args(["-c", "-k", &kver])
            .status()?;
        anyhow::ensure!(
            status.success() && path.is_file(),
            "update-initramfs -c -k {kver} did not make {}",
            path.display()
        );
    }
    Ok(path)
}

/// Writes a gzipped initramfs with busybox and `init` as `/init` to `out`.
pub fn initramfs(init: &str, out: &Path) -> Result<()> {
    crate::tools::ensure(LINUX_TOOLS)?;
    let mut a = crate::rig::busybox_root()?;
    a.add_script("init", init);
    if let Some(d) = out.parent() {
        std::fs::create_dir_all(d)?;
    }
    a.write_gz(out)
}

/// The fill pattern of the check script's memory test (a `yes` stream).
const FILL_PATTERN: &str = "ferrite-fill-pattern-0123456789";
/// How much of it the check script writes to tmpfs and hashes.
const FILL_BYTES: u64 = 256 << 20;

/// The `/init` of the check initramfs: every check prints `linux-check ok:` or
/// `linux-check FAIL:`, then one verdict line `linux-check: PASS (N checks)` or
/// `linux-check: FAIL (F of N checks)`, then it powers off. `cpus` is how many vCPUs
/// `/proc/cpuinfo` must show. The checks hold on any Xen 4.17 dom0: the vCPUs, Xen's identity in
/// `/sys/hypervisor`, 256 MiB written to tmpfs and read back through SHA-256 (the expected hash
/// computed here, on the host), 2,000 fork+exec, work pinned to each vCPU showing up in that
/// vCPU's `/proc/stat` time, and a kernel log without warnings, BUGs, Oopses or failed Xen
/// calls. [`CheckLoad::Light`] leaves out the memory and fork+exec loads (for the SMP matrix,
/// where the vCPUs are the point and TCG is slow).
pub fn check_init(cpus: u32) -> Result<String> {
    check_init_with(cpus, CheckLoad::Full)
}

/// How much work the check script does besides the vCPU and kernel-log checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckLoad {
    /// Everything: 256 MiB through tmpfs and SHA-256, 2,000 fork+exec.
    Full,
    /// The vCPUs, Xen's identity, work on every vCPU and the kernel log only.
    Light,
}

/// [`check_init`] with a choice of load.
pub fn check_init_with(cpus: u32, load: CheckLoad) -> Result<String> {
    let full = if load == CheckLoad::Full { 1 } else { 0 };
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "yes {FILL_PATTERN} | head -c {FILL_BYTES} | sha256sum"
        ))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "hashing the fill pattern on the host failed"
    );
    let stdout = String::from_utf8(out.stdout)?;
    let hash = stdout
        .split_whitespace()
        .next()
        .filter(|h| h.len() == 64)
        .ok_or_else(|| anyhow::anyhow!("no SHA-256 from the host's sha256sum: {stdout:?}"))?;
    Ok(format!(
        r#"#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o size=300m tmpfs /tmp
n=0; f=0
check() {{
    n=$((n+1))
    if [ "$2" = 0 ]; then echo "linux-check ok: $1"; else echo "linux-check FAIL: $1"; f=$((f+1)); fi
}}
cpus=$(grep -c '^processor' /proc/cpuinfo)
[ "$cpus" = {cpus} ]; check "/proc/cpuinfo shows $cpus vCPUs (want {cpus})" $?
[ "$(cat /sys/hypervisor/type)" = xen ]; check "/sys/hypervisor/type is $(cat /sys/hypervisor/type)" $?
v="$(cat /sys/hypervisor/version/major).$(cat /sys/hypervisor/version/minor)"
[ "$v" = 4.17 ]; check "/sys/hypervisor/version is $v" $?
caps="$(cat /sys/hypervisor/properties/capabilities)"
case "$caps" in xen-3.0-x86_64*) true;; *) false;; esac; check "capabilities '$caps'" $?
if [ {full} = 1 ]; then
yes {FILL_PATTERN} | head -c {FILL_BYTES} > /tmp/fill
size=$(stat -c %s /tmp/fill)
[ "$size" = {FILL_BYTES} ]; check "256 MiB written to tmpfs ($size bytes)" $?
got=$(sha256sum /tmp/fill | cut -d' ' -f1)
[ "$got" = {hash} ]; check "256 MiB read back: sha256 $got" $?
rm /tmp/fill
i=0
while [ $i -lt 2000 ]; do /bin/true || break; i=$((i+1)); done
[ $i = 2000 ]; check "2000 fork+exec ($i)" $?
fi
# Work pinned to every vCPU at once: each must show it in its own /proc/stat line.
c=0
while [ $c -lt {cpus} ]; do
    eval "b$c=$(awk "/^cpu$c /{{print \$2+\$4}}" /proc/stat)"
    c=$((c+1))
done
c=0
while [ $c -lt {cpus} ]; do
    taskset -c $c sh -c 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done' &
    eval "p$c=$!"
    c=$((c+1))
done
c=0
while [ $c -lt {cpus} ]; do
    eval "wait \$p$c"; r=$?
    eval "before=\$b$c"
    after=$(awk "/^cpu$c /{{print \$2+\$4}}" /proc/stat)
    [ $r = 0 ] && [ $((after-before)) -gt 0 ]
    check "work pinned to vCPU $c ran there (ticks $((after-before)))" $?
    c=$((c+1))
done
bad=$(dmesg | grep -E 'WARNING:|BUG:|Oops|xen:.*failed')
[ -z "$bad" ]; check "kernel log free of warnings, BUGs, Oopses, failed Xen calls" $?
[ -z "$bad" ] || echo "$bad"
if [ $f = 0 ]; then echo "linux-check: PASS ($n checks)"; else echo "linux-check: FAIL ($f of $n checks)"; fi
poweroff -f
"#
    ))
}

/// Runs per hypervisor in `cargo xtask bench linux-boot`.
const BOOT_BENCH_RUNS: usize = 3;

/// The two moments `cargo xtask bench linux-boot` times, from QEMU's start.
#[derive(Clone, Copy, Debug)]
struct BootTimes {
    init: std::time::Duration,
    verdict: std::time::Duration,
}

fn timed_boot(name: &str, hv: &Path, xen: bool, kernel: &Path, initrd: &Path) -> Result<BootTimes> {
    let dir = crate::target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let iso = dir.join(format!("{name}.iso"));
    let cmdline = if xen {
        format!(
            "{} dom0_mem=512M,max:512M dom0_max_vcpus=2 spec-ctrl=eager-fpu",
            crate::pvbench::XEN_CMDLINE
                .replace("dom0_mem=64M", "")
                .replace("dom0_max_vcpus=1", "")
        )
    } else {
        "dom0_mem=512M,max:512M dom0_max_vcpus=2".to_string()
    };
    crate::iso::build(
        &crate::iso::IsoSpec {
            hypervisor: hv.into(),
            cmdline,
            modules: vec![
                crate::iso::Module {
                    path: kernel.into(),
                    cmdline: DOM0_CMDLINE.into(),
                },
                crate::iso::Module {
                    path: initrd.into(),
                    cmdline: String::new(),
                },
            ],
        },
        &iso,
    )?;
    let log = dir.join(format!("{name}.serial"));
    let out = crate::qemu::run_captured(
        &crate::qemu::Machine {
            iso,
            smp: 2,
            mem_mib: 2048,
            no_reboot: true,
        },
        &log,
        std::time::Duration::from_secs(900),
        false,
        &|l| l.contains("linux-check: ") || l.starts_with("PANIC:"),
    )?;
    let verdict = out
        .log
        .lines()
        .find(|l| l.contains("linux-check: "))
        .unwrap_or("");
    anyhow::ensure!(
        verdict.contains("linux-check: PASS"),
        "{name}: no passing verdict (log in {})",
        log.display()
    );
    let at = |needle: &str| {
        out.time_of(needle)
            .ok_or_else(|| anyhow::anyhow!("{name}: no '{needle}' (log in {})", log.display()))
    };
    Ok(BootTimes {
        init: at("Run /init as init process")?,
        verdict: at("linux-check: ")?,
    })
}

/// `cargo xtask bench linux-boot`: Debian's kernel with the check initramfs as a 2-vCPU dom0 on
/// Ferrite and on Debian's Xen 4.17, alternately, in the same QEMU (TCG, 2 CPUs, 2 GiB): the
/// median time from QEMU's start to dom0's `/init` and to the check script's verdict, and the
/// Ferrite/Xen ratios.
pub fn bench_boot() -> Result<()> {
    crate::tools::ensure(crate::tools::BOOT_TOOLS)?;
    crate::tools::ensure(crate::tools::XEN_TOOLS)?;
    let kernel = kernel()?;
    let ferrite = crate::build::hypervisor()?;
    let xen = crate::build::xen()?;
    let initrd = crate::target_dir()
        .join("bench")
        .join("linux-check-initrd.gz");
    initramfs(&check_init(2)?, &initrd)?;
    let mut f = Vec::new();
    let mut x = Vec::new();
    for run in 0..BOOT_BENCH_RUNS {
        eprintln!(
            "xtask: linux-boot run {} of {BOOT_BENCH_RUNS} (Ferrite, then Xen)",
            run + 1
        );
        f.push(timed_boot(
            &format!("linux_boot_ferrite_{run}"),
            &ferrite,
            false,
            &kernel,
            &initrd,
        )?);
        x.push(timed_boot(
            &format!("linux_boot_xen_{run}"),
            &xen,
            true,
            &kernel,
            &initrd,
        )?);
    }
    let med = |v: &[BootTimes], pick: fn(&BootTimes) -> std::time::Duration| {
        let mut d: Vec<_> = v.iter().map(pick).collect();
        d.sort();
        d[d.len() / 2]
    };
    println!(
        "Debian's Linux as a 2-vCPU dom0, seconds from QEMU's start (median of {BOOT_BENCH_RUNS} \
         runs, QEMU TCG, 2 CPUs)"
    );
    println!(
        "{:<24} {:>10} {:>10} {:>12}",
        "moment", "Ferrite", "Xen 4.17", "Ferrite/Xen"
    );
    for (what, pick) in [
        (
            "dom0 /init",
            (|t: &BootTimes| t.init) as fn(&BootTimes) -> _,
        ),
        ("check script verdict", |t: &BootTimes| t.verdict),
    ] {
        let (a, b) = (med(&f, pick), med(&x, pick));
        println!(
            "{what:<24} {:>10.1} {:>10.1} {:>12.2}",
            a.as_secs_f64(),
            b.as_secs_f64(),
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form of the check script is valid shell (`sh -n`), and the light one leaves out
    /// the memory and fork loads but still checks every vCPU.
    #[test]
    fn check_scripts_parse_and_cover_every_vcpu() {
        for (cpus, load) in [
            (2, CheckLoad::Full),
            (4, CheckLoad::Light),
            (1, CheckLoad::Light),
        ] {
            let script = check_init_with(cpus, load).unwrap();
            let dir =
                std::env::temp_dir().join(format!("ferrite-check-{}-{cpus}", std::process::id()));
            std::fs::write(&dir, &script).unwrap();
            let ok = std::process::Command::new("sh")
                .arg("-n")
                .arg(&dir)
                .status()
                .unwrap()
                .success();
            let _ = std::fs::remove_file(&dir);
            assert!(
                ok,
                "sh -n rejects the script for {cpus} vCPUs ({load:?}):\n{script}"
            );
            assert!(script.contains(&format!("while [ $c -lt {cpus} ]")));
            assert!(script.contains(&format!("[ \"$cpus\" = {cpus} ]")));
            assert_eq!(script.contains("if [ 1 = 1 ]"), load == CheckLoad::Full);
        }
    }
}
