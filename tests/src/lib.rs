//! The QEMU integration-test harness: boot an ISO with a given hypervisor command line and
//! modules under a hard timeout, keep the serial log in `target/test-logs/<name>.serial`, require
//! a sign-of-life line, stop at once on `PANIC:`, and report the `isa-debug-exit` status.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
pub use xtask::iso::Module;
pub use xtask::qemu::{EXIT_EXCEPTION, EXIT_FAILURE, EXIT_PANIC, EXIT_SUCCESS};

/// The line every boot must print before anything else counts.
pub const SIGN_OF_LIFE: &str = "] Ferrite ";
/// Xen's sign of life.
pub const XEN_SIGN_OF_LIFE: &str = "Xen version 4.17";

/// The hypervisor ELF: `FERRITE_HYPERVISOR` (set by `cargo xtask test`) or a build of our own in
/// a separate target directory (so plain `cargo test -p tests` works too).
pub fn hypervisor() -> Result<PathBuf> {
    static HV: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    HV.get_or_init(|| {
        if let Some(p) = std::env::var_os("FERRITE_HYPERVISOR") {
            return Ok(PathBuf::from(p));
        }
        // SAFETY-free: set before any thread reads it; tests call this under OnceLock.
        let nested = xtask::target_dir().join("nested");
        std::env::set_var("CARGO_TARGET_DIR", &nested);
        xtask::build::hypervisor().map_err(|e| format!("{e:#}"))
    })
    .clone()
    .map_err(|e| anyhow::anyhow!(e))
}

/// The PV test guest `name` (from `tests/guests`): `FERRITE_GUESTS` (set by `cargo xtask test`)
/// or a build of our own in a separate target directory.
pub fn guest(name: &str) -> Result<PathBuf> {
    static DIR: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("FERRITE_GUESTS") {
                return Ok(PathBuf::from(p));
            }
            hypervisor().map_err(|e| format!("{e:#}"))?;
            xtask::build::guests().map_err(|e| format!("{e:#}"))
        })
        .clone()
        .map_err(|e| anyhow::anyhow!(e))?;
    let p = dir.join(name);
    if !p.is_file() {
        bail!("test guest {} was not built", p.display());
    }
    Ok(p)
}

/// Which hypervisor a boot runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hypervisor {
    /// Ferrite, judged by its exit status and log.
    Ferrite,
    /// Debian's Xen 4.17, the reference: judged by the guest's `Test result:` line.
    Xen,
}

/// Xen's command line for running one test guest as its initial domain.
pub const XEN_CMDLINE: &str = xtask::pvbench::XEN_CMDLINE;

/// One boot of Ferrite (or Xen) in QEMU.
#[derive(Debug, Clone)]
pub struct Boot {
    name: String,
    cmdline: String,
    modules: Vec<Module>,
    smp: u32,
    mem_mib: u32,
    timeout: Duration,
    hv: Hypervisor,
    input: Option<xtask::qemu::SerialInput>,
}

/// What a boot produced.
#[derive(Debug)]
pub struct Run {
    /// The test's name.
    pub name: String,
    /// QEMU's exit status (`None` if killed).
    pub status: Option<i32>,
    /// The serial log.
    pub log: String,
    /// Where the log was kept.
    pub log_path: PathBuf,
}

impl Boot {
    /// A boot named `name` (the log and ISO file names) with one CPU and 256 MiB.
    pub fn new(name: &str) -> Boot {
        Boot {
            name: name.into(),
            cmdline: String::new(),
            modules: Vec::new(),
            smp: 1,
            mem_mib: 256,
            timeout: Duration::from_secs(90),
            hv: Hypervisor::Ferrite,
            input: None,
        }
    }
    /// Types `bytes` on the serial console once a line containing `after` appears.
    pub fn type_after(mut self, after: &str, bytes: &[u8]) -> Boot {
        self.input = Some(xtask::qemu::SerialInput {
            after: after.into(),
            bytes: bytes.into(),
        });
        self
    }
    /// The hypervisor command line.
    pub fn cmdline(mut self, c: &str) -> Boot {
        self.cmdline = c.into();
        self
    }
    /// Adds a boot module.
    pub fn module(mut self, path: impl Into<PathBuf>, cmdline: &str) -> Boot {
        self.modules.push(Module {
            path: path.into(),
            cmdline: cmdline.into(),
        });
        self
    }
    /// Number of CPUs.
    pub fn smp(mut self, n: u32) -> Boot {
        self.smp = n;
        self
    }
    /// Memory in MiB.
    pub fn mem(mut self, mib: u32) -> Boot {
        self.mem_mib = mib;
        self
    }
    /// Boots Debian's Xen 4.17 instead of Ferrite (with [`XEN_CMDLINE`] before the command line).
    pub fn on_xen(mut self) -> Boot {
        self.hv = Hypervisor::Xen;
        self
    }
    /// The hard timeout.
    pub fn timeout(mut self, t: Duration) -> Boot {
        self.timeout = t;
        self
    }

    /// Builds the ISO and boots it. Fails on timeout, on a missing sign of life, and (unless
    /// `allow_panic`) on a `PANIC:` line.
    pub fn run_inner(&self, allow_panic: bool) -> Result<Run> {
        let (hv, cmdline, life) = match self.hv {
            Hypervisor::Ferrite => (hypervisor()?, self.cmdline.clone(), SIGN_OF_LIFE),
            Hypervisor::Xen => (
                xtask::build::xen()?,
                format!("{XEN_CMDLINE} {}", self.cmdline),
                XEN_SIGN_OF_LIFE,
            ),
        };
        let root = xtask::target_dir();
        let iso = root.join("test-isos").join(format!("{}.iso", self.name));
        std::fs::create_dir_all(iso.parent().context("iso dir")?)?;
        let spec = xtask::iso::IsoSpec {
            hypervisor: hv,
            cmdline,
            modules: self.modules.clone(),
        };
        xtask::iso::build(&spec, &iso).with_context(|| format!("building {}", iso.display()))?;
        let log_path = root.join("test-logs").join(format!("{}.serial", self.name));
        let machine = xtask::qemu::Machine {
            iso,
            smp: self.smp,
            mem_mib: self.mem_mib,
            no_reboot: true,
        };
        // Xen does not end the machine when its initial domain powers off: stop at the verdict.
        let xen = self.hv == Hypervisor::Xen;
        let out = xtask::qemu::run_captured_with_input(
            &machine,
            &log_path,
            self.timeout,
            false,
            &|l| {
                l.starts_with("PANIC:")
                    || (xen && (l.contains("Test result:") || l.contains("Hardware Dom0")))
            },
            self.input.clone(),
        )?;
        let run = Run {
            name: self.name.clone(),
            status: out.status,
            log: out.log,
            log_path,
        };
        if out.timed_out {
            bail!(
                "{}: timed out after {:?}\n{}",
                self.name,
                self.timeout,
                run.tail()
            );
        }
        if !run.log.contains(life) {
            bail!(
                "{}: no sign of life ('{life}') on the serial console\n{}",
                self.name,
                run.tail()
            );
        }
        if !allow_panic {
            if let Some(p) = out.stopped_on.filter(|p| p.starts_with("PANIC:")) {
                bail!("{}: hypervisor panicked: {p}\n{}", self.name, run.tail());
            }
        }
        Ok(run)
    }

    /// Boots and requires no panic.
    pub fn run(&self) -> Result<Run> {
        self.run_inner(false)
    }

    /// Boots a run that is expected to panic.
    pub fn run_expecting_panic(&self) -> Result<Run> {
        self.run_inner(true)
    }
}

impl Run {
    /// The last 40 lines of the log, for failure messages.
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.log.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!(
            "--- {} (last lines; full log {}) ---\n{}",
            self.name,
            self.log_path.display(),
            lines[from..].join("\n")
        )
    }

    /// Fails unless QEMU exited with `code`.
    pub fn expect_exit(&self, code: i32) -> Result<&Run> {
        if self.status != Some(code) {
            bail!(
                "{}: QEMU exit status {:?}, expected {code}\n{}",
                self.name,
                self.status,
                self.tail()
            );
        }
        Ok(self)
    }

    /// For a two-domain boot: fails unless domain 1 and domain 0 both reported
    /// `Test result: SUCCESS` and the machine ended with the success status.
    pub fn expect_both_succeeded(&self) -> Result<&Run> {
        self.line("(d1) Test result: SUCCESS")?;
        self.line("(d0) Test result: SUCCESS")?;
        self.expect_exit(EXIT_SUCCESS)
    }

    /// Fails unless some line contains `needle`; returns the first such line.
    pub fn line(&self, needle: &str) -> Result<&str> {
        self.log
            .lines()
            .find(|l| l.contains(needle))
            .with_context(|| {
                format!(
                    "{}: no line contains {needle:?}\n{}",
                    self.name,
                    self.tail()
                )
            })
    }

    /// The number following `prefix` on the first line containing it (e.g. `"memory total "`).
    pub fn number_after(&self, prefix: &str) -> Result<u64> {
        let line = self.line(prefix)?;
        let rest = &line[line.find(prefix).map(|i| i + prefix.len()).unwrap_or(0)..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits
            .parse()
            .with_context(|| format!("{}: no number after {prefix:?} in {line:?}", self.name))
    }
}

/// Checks a log line has the console format `[secs.micros][cpu][LEVEL target] message`.
pub fn is_log_line(l: &str) -> bool {
    let Some(rest) = l.strip_prefix('[') else {
        return false;
    };
    let Some((time, rest)) = rest.split_once("][") else {
        return false;
    };
    let Some((secs, micros)) = time.trim_start().split_once('.') else {
        return false;
    };
    if secs.is_empty()
        || !secs.chars().all(|c| c.is_ascii_digit())
        || micros.len() != 6
        || !micros.chars().all(|c| c.is_ascii_digit())
    {
        return false;
    }
    let Some((cpu, rest)) = rest.split_once("][") else {
        return false;
    };
    if cpu.is_empty() || !cpu.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let Some((head, _msg)) = rest.split_once("] ") else {
        return false;
    };
    let mut parts = head.split_whitespace();
    matches!(
        parts.next(),
        Some("ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE")
    ) && parts.next().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_log_line_accepts_console_format_only() {
        assert!(is_log_line(
            "[    0.123456][0][INFO  hypervisor::boot::start] Ferrite 0.1.0 starting"
        ));
        assert!(is_log_line("[   12.000001][3][DEBUG hypervisor::mm] x"));
        assert!(!is_log_line("[0.12][0][INFO x] y"));
        assert!(!is_log_line("Booting `Ferrite'"));
        assert!(!is_log_line("[    0.123456][a][INFO x] y"));
    }
}
