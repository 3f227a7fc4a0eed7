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
/// computed here, on the host), 2,000 fork+exec, work pinned to each of the first two vCPUs
/// showing up in that vCPU's `/proc/stat` time, and a kernel log without warnings, BUGs, Oopses
/// or failed Xen calls.
pub fn check_init(cpus: u32) -> Result<String> {
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
yes {FILL_PATTERN} | head -c {FILL_BYTES} > /tmp/fill
size=$(stat -c %s /tmp/fill)
[ "$size" = {FILL_BYTES} ]; check "256 MiB written to tmpfs ($size bytes)" $?
got=$(sha256sum /tmp/fill | cut -d' ' -f1)
[ "$got" = {hash} ]; check "256 MiB read back: sha256 $got" $?
rm /tmp/fill
i=0
while [ $i -lt 2000 ]; do /bin/true || break; i=$((i+1)); done
[ $i = 2000 ]; check "2000 fork+exec ($i)" $?
before0=$(awk '/^cpu0 /{{print $2+$4}}' /proc/stat); before1=$(awk '/^cpu1 /{{print $2+$4}}' /proc/stat)
taskset -c 0 sh -c 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done' & p0=$!
taskset -c 1 sh -c 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done' & p1=$!
wait $p0; r0=$?; wait $p1; r1=$?
after0=$(awk '/^cpu0 /{{print $2+$4}}' /proc/stat); after1=$(awk '/^cpu1 /{{print $2+$4}}' /proc/stat)
[ $r0 = 0 ] && [ $r1 = 0 ] && [ $((after0-before0)) -gt 0 ] && [ $((after1-before1)) -gt 0 ]
check "work pinned to vCPU 0 and vCPU 1 ran on each (ticks $((after0-before0)), $((after1-before1)))" $?
bad=$(dmesg | grep -E 'WARNING:|BUG:|Oops|xen:.*failed')
[ -z "$bad" ]; check "kernel log free of warnings, BUGs, Oopses, failed Xen calls" $?
[ -z "$bad" ] || echo "$bad"
if [ $f = 0 ]; then echo "linux-check: PASS ($n checks)"; else echo "linux-check: FAIL ($f of $n checks)"; fi
poweroff -f
"#
    ))
}
