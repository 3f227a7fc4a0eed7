//! Building the bare-metal hypervisor image.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The target triple of the hypervisor.
pub const HYPERVISOR_TARGET: &str = "x86_64-unknown-none";

/// Builds the hypervisor (release profile) and returns the path of its ELF image.
pub fn hypervisor() -> Result<PathBuf> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--package",
            "hypervisor",
            "--bin",
            "ferrite",
            "--target",
            HYPERVISOR_TARGET,
        ])
        .status()
        .context("running cargo build for the hypervisor")?;
    if !status.success() {
        bail!("building the hypervisor failed ({status})");
    }
    let elf = crate::target_dir()
        .join(HYPERVISOR_TARGET)
        .join("release")
        .join("ferrite");
    if !elf.is_file() {
        bail!("the hypervisor build produced no {}", elf.display());
    }
    Ok(elf)
}

/// Builds the PV test guests (`tests/guests`) and returns the directory holding their ELFs.
pub fn guests() -> Result<PathBuf> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--package",
            "guests",
            "--target",
            HYPERVISOR_TARGET,
        ])
        .status()
        .context("running cargo build for the test guests")?;
    if !status.success() {
        bail!("building the test guests failed ({status})");
    }
    Ok(crate::target_dir().join(HYPERVISOR_TARGET).join("release"))
}

/// Debian's Xen 4.17 hypervisor image, the reference the test guests are also run on.
pub const XEN_IMAGE: &str = "/boot/xen-4.17-amd64.gz";

/// Makes sure Debian's Xen 4.17 is installed and returns its image.
pub fn xen() -> Result<PathBuf> {
    crate::tools::ensure(crate::tools::XEN_TOOLS)?;
    Ok(PathBuf::from(XEN_IMAGE))
}
