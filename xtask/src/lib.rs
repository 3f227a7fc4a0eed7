//! xtask as a library: building Ferrite, assembling GRUB ISOs and running QEMU, shared by the
//! `cargo xtask` commands and the integration tests in `tests/`.

pub mod build;
pub mod iso;
pub mod linux;
pub mod pvbench;
pub mod qemu;
pub mod rig;
pub mod tools;

use std::path::PathBuf;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `target/` of the workspace (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}
