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
