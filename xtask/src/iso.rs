//! Assembling a GRUB ISO: the hypervisor as the `multiboot2` kernel, boot modules as `module2`.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One boot module: a file and its command line.
#[derive(Debug, Clone)]
pub struct Module {
    /// The file to load.
    pub path: PathBuf,
    /// Its command line (the text after the path on the `module2` line).
    pub cmdline: String,
}

impl Module {
    /// Parses `PATH[,cmdline]`, the form `cargo xtask run --module` takes.
    pub fn parse(spec: &str) -> Module {
        match spec.split_once(',') {
            Some((p, c)) => Module {
                path: p.into(),
                cmdline: c.into(),
            },
            None => Module {
                path: spec.into(),
                cmdline: String::new(),
            },
        }
    }
}

/// What goes into one ISO.
#[derive(Debug, Clone)]
pub struct IsoSpec {
    /// The hypervisor ELF.
    pub hypervisor: PathBuf,
    /// The hypervisor's command line.
    pub cmdline: String,
    /// Boot modules, in order.
    pub modules: Vec<Module>,
}

/// The `grub.cfg` for a spec (module files are staged as `/boot/mod<N>`).
pub fn grub_cfg(spec: &IsoSpec) -> String {
    let mut cfg = String::from(
        "serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\nset timeout=0\nset default=0\n",
    );
    let _ = writeln!(cfg, "menuentry 'Ferrite' {{");
    let _ = writeln!(cfg, "    multiboot2 /boot/ferrite {}", spec.cmdline);
    for (i, m) in spec.modules.iter().enumerate() {
        let _ = writeln!(cfg, "    module2 --nounzip /boot/mod{i} {}", m.cmdline);
    }
    let _ = writeln!(cfg, "    boot\n}}");
    cfg
}

/// Writes the ISO for `spec` to `out`, staging files under `out`'s sibling directory.
pub fn build(spec: &IsoSpec, out: &Path) -> Result<()> {
    crate::tools::ensure(crate::tools::BOOT_TOOLS)?;
    let stage = out.with_extension("stage");
    if stage.exists() {
        std::fs::remove_dir_all(&stage).with_context(|| format!("clearing {}", stage.display()))?;
    }
    let boot = stage.join("boot");
    std::fs::create_dir_all(boot.join("grub"))
        .with_context(|| format!("creating {}", boot.display()))?;
    std::fs::copy(&spec.hypervisor, boot.join("ferrite"))
        .with_context(|| format!("staging the hypervisor {}", spec.hypervisor.display()))?;
    for (i, m) in spec.modules.iter().enumerate() {
        std::fs::copy(&m.path, boot.join(format!("mod{i}")))
            .with_context(|| format!("staging module {}", m.path.display()))?;
    }
    std::fs::write(boot.join("grub").join("grub.cfg"), grub_cfg(spec))
        .context("writing grub.cfg")?;
    let output = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(out)
        .arg(&stage)
        .output()
        .context("running grub-mkrescue")?;
    if !output.status.success() {
        bail!(
            "grub-mkrescue failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&stage);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_cfg_lists_kernel_and_modules_in_order() {
        let spec = IsoSpec {
            hypervisor: "x".into(),
            cmdline: "loglvl=all".into(),
            modules: vec![
                Module::parse("a.elf,dom0 console=hvc0"),
                Module::parse("b.img"),
            ],
        };
        let cfg = grub_cfg(&spec);
        assert!(cfg.contains("multiboot2 /boot/ferrite loglvl=all\n"));
        let a = cfg
            .find("module2 --nounzip /boot/mod0 dom0 console=hvc0")
            .unwrap();
        let b = cfg.find("module2 --nounzip /boot/mod1 \n").unwrap();
        assert!(a < b);
    }

    #[test]
    fn module_parse_splits_at_first_comma() {
        let m = Module::parse("k.elf,domu name=a,b");
        assert_eq!(m.path, PathBuf::from("k.elf"));
        assert_eq!(m.cmdline, "domu name=a,b");
    }
}
