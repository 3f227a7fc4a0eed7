//! Host tools Ferrite's build and tests need, installed with `apt-get` when missing.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// A host tool: how to tell it is present, and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// What the check looks for: a command on `PATH` or an absolute file path.
    pub probe: &'static str,
    /// The Debian package.
    pub package: &'static str,
}

/// Tools for booting Ferrite in QEMU from a GRUB ISO.
pub const BOOT_TOOLS: &[Tool] = &[
    Tool {
        probe: "qemu-system-x86_64",
        package: "qemu-system-x86",
    },
    Tool {
        probe: "grub-mkrescue",
        package: "grub-common",
    },
    Tool {
        probe: "/usr/lib/grub/i386-pc/multiboot2.mod",
        package: "grub-pc-bin",
    },
    Tool {
        probe: "xorriso",
        package: "xorriso",
    },
    Tool {
        probe: "mformat",
        package: "mtools",
    },
];

/// The reference hypervisor: Debian's Xen 4.17, and its C xenstored (xenstored's differential
/// test runs both daemons side by side).
pub const XEN_TOOLS: &[Tool] = &[
    Tool {
        probe: "/boot/xen-4.17-amd64.gz",
        package: "xen-hypervisor-4.17-amd64",
    },
    Tool {
        probe: "/usr/lib/xen-4.17/bin/xenstored",
        package: "xen-utils-4.17",
    },
];

/// Tools for the ABI layout check.
pub const ABI_TOOLS: &[Tool] = &[
    Tool {
        probe: "/usr/include/xen/xen.h",
        package: "libxen-dev",
    },
    Tool {
        probe: "cc",
        package: "gcc",
    },
];

fn present(t: &Tool) -> bool {
    if t.probe.starts_with('/') {
        return Path::new(t.probe).exists();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(t.probe).is_file()))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Makes sure every tool is present: installs missing packages with `apt-get` when running as
/// root, otherwise fails with the exact command to run.
pub fn ensure(tools: &[Tool]) -> Result<()> {
    let mut missing: Vec<&str> = tools
        .iter()
        .filter(|t| !present(t))
        .map(|t| t.package)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let cmd = format!(
        "apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !is_root() {
        bail!(
            "missing host packages: {}\nrun: sudo apt-get update && sudo {cmd}",
            missing.join(", ")
        );
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    // Another package manager run (unattended upgrades, a second xtask) holds dpkg's and apt's
    // locks for a while: wait for them (DPkg::Lock::Timeout) rather than fail, and retry
    // `update`, whose lists lock apt does not wait for.
    let lock_wait = ["-o", "DPkg::Lock::Timeout=600"];
    let mut attempt = 0;
    loop {
        let update = Command::new("apt-get")
            .args(lock_wait)
            .args(["update", "-qq"])
            .envs(env)
            .status()
            .context("running apt-get update")?;
        if update.success() {
            break;
        }
        attempt += 1;
        if attempt == 20 {
            bail!("apt-get update failed {attempt} times ({update})");
        }
        eprintln!("xtask: apt-get update failed ({update}); another apt may hold its lock, retrying in 15 s");
        std::thread::sleep(std::time::Duration::from_secs(15));
    }
    let status = Command::new("apt-get")
        .args(lock_wait)
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .envs(env)
        .status()
        .context("running apt-get install")?;
    if !status.success() {
        bail!("`{cmd}` failed ({status})");
    }
    if let Some(t) = tools.iter().find(|t| !present(t)) {
        bail!("{} still missing after installing {}", t.probe, t.package);
    }
    Ok(())
}

/// Bare-metal and dom0 targets the workspace builds for (also listed in `rust-toolchain.toml`,
/// which rustup normally honours; this covers a toolchain installed before the file listed them).
pub const RUST_TARGETS: &[&str] = &["x86_64-unknown-none", "x86_64-unknown-linux-musl"];

/// Makes sure the pinned toolchain has the targets, adding them with rustup if it can.
pub fn ensure_rust_targets() -> Result<()> {
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(crate::workspace_root())
        .output()
    else {
        // No rustup: the toolchain manager is someone else's; the build will say what is missing.
        return Ok(());
    };
    let installed = String::from_utf8_lossy(&out.stdout);
    let missing: Vec<&str> = RUST_TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: adding Rust targets {}", missing.join(" "));
    let status = Command::new("rustup")
        .args(["target", "add"])
        .args(&missing)
        .current_dir(crate::workspace_root())
        .status()
        .context("running rustup target add")?;
    if !status.success() {
        bail!(
            "`rustup target add {}` failed ({status})",
            missing.join(" ")
        );
    }
    Ok(())
}
