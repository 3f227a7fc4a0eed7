//! The per-domain monitor `fxl create` leaves behind, as `xl create` does (its daemon): a
//! process that watches `@releaseDomain` and, when the domain shuts down, carries out
//! `on_poweroff`/`on_reboot`/`on_watchdog`/`on_crash`/`on_soft_reset` (destroy, restart,
//! rename-restart, preserve). It keeps the configuration it was given (a restart builds the
//! same domain again, whatever became of the file) and ends with the domain. docs/fxl.md says
//! why one process per domain.

use crate::config::{Action, DomainConfig};
use crate::ops::{privcmd, xenstore};
use anyhow::{anyhow, Context, Result};
use dom0_sys::privcmd::Privcmd;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;
use xen_abi::domctl::{DomInfFlags, Domctl, XenDomctlSetdomainhandle};
use xen_abi::types::DomId;
use xenstore::wire::{Access, Perm};
use xenstore::NO_TX;

/// What became of a monitored domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Running, blocked or paused: nothing to do.
    Up,
    /// Shut down with this code (`SHUTDOWN_*`).
    Shutdown(u32),
    /// Dying or gone: destroyed by someone else.
    Gone,
}

/// What the monitor does about a shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Destroy it; the monitor ends.
    Destroy,
    /// Destroy it (or, with `rename`, keep it under a new name) and build it again.
    Restart {
        /// `rename-restart`: the old domain stays, renamed `NAME-YYYYMMDDTHHMMZ`.
        rename: bool,
    },
    /// Leave it as it is; the monitor ends.
    Preserve,
}

/// The domain's state from getdomaininfo's `flags`.
pub fn state_of(flags: u32) -> State {
    let f = DomInfFlags::from_bits_retain(flags);
    if f.contains(DomInfFlags::DYING) {
        State::Gone
    } else if f.contains(DomInfFlags::SHUTDOWN) {
        State::Shutdown((flags >> 16) & 0xff)
    } else {
        State::Up
    }
}

/// The `on_*` action for shutdown `code`, as xl's `handle_domain_death`: poweroff, reboot,
/// suspend (left alone: a save is under way), crash, watchdog, soft reset. A core dump is not
/// taken (fxl has none yet): `coredump-destroy` destroys, `coredump-restart` restarts; a soft
/// reset of a PV guest is a restart.
pub fn decide(code: u32, cfg: &DomainConfig) -> Decision {
    let action = match code {
        0 => cfg.on_poweroff,
        1 => cfg.on_reboot,
        2 => return Decision::Preserve,
        3 => cfg.on_crash,
        4 => cfg.on_watchdog,
        5 => cfg.on_soft_reset,
        _ => cfg.on_crash,
    };
    match action {
        Action::Destroy | Action::CoredumpDestroy => Decision::Destroy,
        Action::Restart | Action::CoredumpRestart | Action::SoftReset => {
            Decision::Restart { rename: false }
        }
        Action::RenameRestart => Decision::Restart { rename: true },
        Action::Preserve => Decision::Preserve,
    }
}

/// `-YYYYMMDDTHHMMZ` for `secs` since the epoch (UTC), the suffix xl's `preserve_domain` gives.
pub fn preserve_suffix(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let (h, m) = (secs / 3600 % 24, secs / 60 % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("-{y:04}{mo:02}{d:02}T{h:02}{m:02}Z")
}

/// The monitor's log: `/var/log/xen/fxl-NAME.log` (as xl's `xl-NAME.log`), appended to.
fn log_file(name: &str) -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("/var/log/xen/fxl-{name}.log"))
        .ok()
}

/// Starts the monitor of `domid` (`fxl monitor DOMID`, the configuration on its stdin as JSON),
/// in its own process group with its output in its log, and returns its PID. It is not waited
/// for: it outlives this process.
#[allow(clippy::zombie_processes)]
pub fn spawn(domid: u16, cfg: &DomainConfig) -> Result<u32> {
    let exe = std::env::current_exe().context("finding fxl's own executable")?;
    let (out, err) = match log_file(&cfg.name) {
        Some(f) => match f.try_clone() {
            Ok(g) => (Stdio::from(f), Stdio::from(g)),
            Err(_) => (Stdio::null(), Stdio::null()),
        },
        None => (Stdio::null(), Stdio::null()),
    };
    let mut child = std::os::unix::process::CommandExt::process_group(
        Command::new(exe)
            .arg("monitor")
            .arg(domid.to_string())
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err),
        0,
    )
    .spawn()
    .context("starting the domain's monitor")?;
    let json = serde_json::to_vec(cfg)?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("the monitor has no stdin"))?
        .write_all(&json)
        .context("handing the configuration to the monitor")?;
    Ok(child.id())
}

fn say(msg: &str) {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    eprintln!("[{}.{:03}] {msg}", t.as_secs(), t.subsec_millis());
}

fn state(pc: &Privcmd, domid: u16) -> State {
    match pc.getdomaininfo(DomId(domid)) {
        Ok(i) if i.domain.0 == domid => state_of(i.flags),
        _ => State::Gone,
    }
}

/// `rename-restart`'s first half, as libxl's `libxl_domain_preserve`: the old domain gets the
/// name `NAME-YYYYMMDDTHHMMZ`, a new UUID (domctl `setdomainhandle`) and its own `/vm/<uuid>`, so
/// that the new domain can have the name and the configuration's UUID.
fn preserve(pc: &Privcmd, domid: u16, name: &str) -> Result<()> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let new_name = format!("{name}{}", preserve_suffix(secs));
    let uuid = crate::build::domain::random_uuid()?;
    pc.domctl(
        Domctl::Setdomainhandle,
        DomId(domid),
        &mut XenDomctlSetdomainhandle { handle: uuid },
    )
    .context("setdomainhandle")?;
    let xs = xenstore()?;
    let dom = format!("/local/domain/{domid}");
    let new_vm = format!("/vm/{}", crate::ops::uuid_of(&uuid));
    let old_vm = xs.read_string(NO_TX, &format!("{dom}/vm")).ok();
    xs.transaction(|tx| {
        xs.write(tx, &new_vm, b"")?;
        xs.set_perms(
            tx,
            &new_vm,
            &[
                Perm {
                    access: Access::None,
                    domid: 0,
                },
                Perm {
                    access: Access::Read,
                    domid,
                },
            ],
        )?;
        xs.write(
            tx,
            &format!("{new_vm}/uuid"),
            crate::ops::uuid_of(&uuid).as_bytes(),
        )?;
        xs.write(tx, &format!("{new_vm}/name"), new_name.as_bytes())?;
        xs.write(tx, &format!("{dom}/vm"), new_vm.as_bytes())?;
        xs.write(tx, &format!("{dom}/name"), new_name.as_bytes())?;
        if let Some(old) = old_vm.as_deref().filter(|v| v.starts_with("/vm/")) {
            xs.rm(tx, old)?;
        }
        Ok(())
    })
    .context("renaming the old domain in xenstore")?;
    say(&format!("domain {domid} preserved as {new_name}"));
    Ok(())
}

/// `fxl monitor DOMID`: reads the configuration (JSON) from stdin, then watches the domain
/// until it is gone or has been dealt with.
pub fn run(domid: u16) -> Result<()> {
    let mut json = Vec::new();
    std::io::stdin()
        .read_to_end(&mut json)
        .context("reading the configuration")?;
    let cfg: DomainConfig =
        serde_json::from_slice(&json).context("the configuration on stdin is not fxl's JSON")?;
    watch(domid, &cfg)
}

/// Watches domain `domid`, built from `cfg`, and carries out its `on_*` actions until it is gone
/// or preserved.
pub fn watch(mut domid: u16, cfg: &DomainConfig) -> Result<()> {
    let pc = privcmd()?;
    let xs = xenstore()?;
    let events = xs
        .watch(
            "@releaseDomain",
            &format!("fxl-monitor-{}", std::process::id()),
        )
        .context("watching @releaseDomain")?;
    say(&format!(
        "monitoring domain {domid} ({}): on_poweroff={} on_reboot={} on_crash={}",
        cfg.name,
        cfg.on_poweroff.name(),
        cfg.on_reboot.name(),
        cfg.on_crash.name()
    ));
    loop {
        match state(&pc, domid) {
            State::Up => {}
            State::Gone => {
                say(&format!("domain {domid} is gone; done"));
                return Ok(());
            }
            State::Shutdown(code) => {
                let d = decide(code, cfg);
                say(&format!("domain {domid} shut down (code {code}): {d:?}"));
                match d {
                    Decision::Preserve => return Ok(()),
                    Decision::Destroy => {
                        crate::ops::destroy(&domid.to_string())?;
                        say(&format!("domain {domid} destroyed; done"));
                        return Ok(());
                    }
                    Decision::Restart { rename } => {
                        if rename {
                            preserve(&pc, domid, &cfg.name)?;
                        } else {
                            crate::ops::destroy(&domid.to_string())?;
                        }
                        let c = crate::build::domain::create(cfg, false, false)
                            .context("restarting")?;
                        say(&format!(
                            "domain {domid} restarted as domain {} ({:.2} s)",
                            c.domid, c.seconds
                        ));
                        domid = c.domid;
                    }
                }
            }
        }
        // @releaseDomain fires on every shutdown and death (of any domain); the timeout is a
        // safety net.
        match events.recv_timeout(Duration::from_secs(10)) {
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(Duration::from_secs(1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> DomainConfig {
        let text = format!("name = \"g\"\nkernel = \"/k\"\n{extra}");
        DomainConfig::parse("g.cfg", &text, &[]).expect("parses")
    }

    #[test]
    fn state_of_reads_the_flags() {
        assert_eq!(state_of(0xffff_0020), State::Up);
        assert_eq!(state_of(0xffff_0008), State::Up);
        assert_eq!(state_of(0x0000_0004), State::Shutdown(0));
        assert_eq!(state_of(0x0001_000c), State::Shutdown(1));
        assert_eq!(state_of(0x0003_0004), State::Shutdown(3));
        assert_eq!(state_of(0x0000_000d), State::Gone);
    }

    #[test]
    fn decide_defaults_as_xl() {
        let c = cfg("");
        assert_eq!(decide(0, &c), Decision::Destroy);
        assert_eq!(decide(1, &c), Decision::Restart { rename: false });
        assert_eq!(decide(2, &c), Decision::Preserve);
        assert_eq!(decide(3, &c), Decision::Destroy);
        assert_eq!(decide(4, &c), Decision::Destroy);
    }

    #[test]
    fn decide_follows_the_configuration() {
        let c = cfg(
            "on_poweroff = \"preserve\"\non_reboot = \"rename-restart\"\n\
                     on_crash = \"coredump-restart\"\non_watchdog = \"restart\"\n",
        );
        assert_eq!(decide(0, &c), Decision::Preserve);
        assert_eq!(decide(1, &c), Decision::Restart { rename: true });
        assert_eq!(decide(3, &c), Decision::Restart { rename: false });
        assert_eq!(decide(4, &c), Decision::Restart { rename: false });
        let c = cfg("on_reboot = \"destroy\"\non_crash = \"coredump-destroy\"\n");
        assert_eq!(decide(1, &c), Decision::Destroy);
        assert_eq!(decide(3, &c), Decision::Destroy);
    }

    #[test]
    fn preserve_suffix_as_xl_strftime() {
        assert_eq!(preserve_suffix(0), "-19700101T0000Z");
        // 2026-12-06 07:12:34 UTC.
        assert_eq!(preserve_suffix(1_796_541_154), "-20261206T0712Z");
        // 2000-02-29 23:59 UTC (a leap day).
        assert_eq!(preserve_suffix(951_868_740), "-20000229T2359Z");
    }

    #[test]
    fn the_configuration_survives_the_trip_to_the_monitor() {
        let c = cfg("on_reboot = \"rename-restart\"\nmemory = 96\n");
        let back: DomainConfig =
            serde_json::from_slice(&serde_json::to_vec(&c).expect("JSON")).expect("parses");
        assert_eq!(back, c);
    }
}
