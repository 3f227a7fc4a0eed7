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
