//! Building the bare-metal hypervisor image.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The target triple of the hypervisor.
pub const HYPERVISOR_TARGET: &str = "x86_64-unknown-none";

/// `cargo build --release --target x86_64-unknown-none` of `what` in the workspace; returns
/// the directory the bare-metal binaries land in.
fn build_bare_metal(what: &[&str], name: &str) -> Result<PathBuf> {
    crate::tools::ensure_rust_targets()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(crate::workspace_root())
        .args(["build", "--release", "--target", HYPERVISOR_TARGET])
        .args(what)
        .status()
        .with_context(|| format!("running cargo build for {name}"))?;
    if !status.success() {
        bail!("building {name} failed ({status})");
    }
    Ok(crate::target_dir().join(HYPERVISOR_TARGET).join("release"))
}

/// Builds the hypervisor (release profile) and returns the path of its ELF image.
pub fn hypervisor() -> Result<PathBuf> {
    let elf = build_bare_metal(
        &["--package", "hypervisor", "--bin", "ferrite"],
        "the hypervisor",
    )?
    .join("ferrite");
    if !elf.is_file() {
        bail!("the hypervisor build produced no {}", elf.display());
    }
    Ok(elf)
}

/// Builds the PV test guests (`tests/guests`) and returns the directory holding their ELFs.
pub fn guests() -> Result<PathBuf> {
    build_bare_metal(&["--package", "guests"], "the test guests")
}

/// Debian's Xen 4.17 hypervisor image, the reference the test guests are also run on.
pub const XEN_IMAGE: &str = "/boot/xen-4.17-amd64.gz";

/// Makes sure Debian's Xen 4.17 is installed and returns its image.
pub fn xen() -> Result<PathBuf> {
    crate::tools::ensure(crate::tools::XEN_TOOLS)?;
    Ok(PathBuf::from(XEN_IMAGE))
}
