//! Hotplug scripts, run as libxl runs them (`libxl_device.c` `device_hotplug`,
//! `libxl_linux.c` `libxl__hotplug_disk`/`libxl__hotplug_nic`/`get_hotplug_env`;
//! reference/toolstack-abi.md §2.6): for a vbd or vif whose backend is in this domain, once the
//! backend has reached `InitWait` (libxl waits up to 10 s), the backend's `script` runs with
//! `add` (vbd) or `online type_if=vif` (vif) and, when the device goes after its backend
//! closed, with `remove` or `offline type_if=vif`; the environment names the device
//! (`XENBUS_TYPE`, `XENBUS_PATH` relative to this domain's home, `XENBUS_BASE_PATH=backend`,
//! `script`, and for a vif `netdev`, its `gatewaydev`, and `vif`, the kernel netback's
//! interface `vif<domid>.<devid>`). A script gets 40 s
//! (`LIBXL_HOTPLUG_TIMEOUT`) and is killed after that; its output goes to fxl's stderr.
//!
//! This is what lets Linux's in-kernel backends serve fxl's domains: `block` sets up the loop
//! device blkback opens (`physical-device`), `vif-bridge` puts netback's `vif<domid>.<devid>`
//! in the bridge and writes `hotplug-status=connected`, which the kernel's netback waits for.
//! Ferrite's own backends need no script; `ferrite-vbd`/`ferrite-vif` only report success.

use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xenstore::{Xenstore, NO_TX};

/// How long a backend gets to reach `InitWait` (`LIBXL_INIT_TIMEOUT`).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a script may run (`LIBXL_HOTPLUG_TIMEOUT`).
pub const HOTPLUG_TIMEOUT: Duration = Duration::from_secs(40);

/// `XenbusStateInitWait`.
const INIT_WAIT: u32 = 2;
/// `XenbusStateConnected`.
const CONNECTED: u32 = 4;

/// Setting a device up or taking it down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// After the backend reached `InitWait`.
    Add,
    /// After the backend closed, before its directories go.
    Remove,
}

/// What runs for one device: the program, its arguments and the environment added to ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The script (the backend's `script` node).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Added to the environment.
    pub env: Vec<(String, String)>,
}

/// The invocation libxl makes for the device whose backend directory is `be`
/// (`/local/domain/<me>/backend/<type>/<domid>/<devid>`, `me` being this domain), with the
/// backend's `script` and (vif) `gatewaydev`; `None` for a device type with no hotplug script
/// (anything but vbd and vif) or a path not of that shape.
pub fn invocation(
    be: &str,
    me: u16,
    script: &str,
    gatewaydev: Option<&str>,
    action: Action,
) -> Option<Invocation> {
    let rel = be.strip_prefix(&format!("/local/domain/{me}/"))?;
    let mut parts = rel.split('/');
    let (Some("backend"), Some(kind), Some(domid), Some(devid), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    domid.parse::<u16>().ok()?;
    devid.parse::<u32>().ok()?;
    let mut env = vec![
        ("script".to_string(), script.to_string()),
        ("XENBUS_TYPE".to_string(), kind.to_string()),
        ("XENBUS_PATH".to_string(), rel.to_string()),
        ("XENBUS_BASE_PATH".to_string(), "backend".to_string()),
    ];
    let args = match (kind, action) {
        ("vbd", Action::Add) => vec!["add".to_string()],
        ("vbd", Action::Remove) => vec!["remove".to_string()],
        ("vif", a) => {
            env.push((
                "netdev".to_string(),
                gatewaydev.unwrap_or_default().to_string(),
            ));
            // The kernel netback's interface (`libxl__device_nic_devname`, a PV nic):
            // vif-common.sh requires it.
            env.push(("vif".to_string(), format!("vif{domid}.{devid}")));
            let verb = if a == Action::Add {
                "online"
            } else {
                "offline"
            };
            vec![verb.to_string(), "type_if=vif".to_string()]
        }
        _ => return None,
    };
    Some(Invocation {
        program: script.to_string(),
        args,
        env,
    })
}

/// This domain's id (`domid` in its xenstore home; dom0 when it cannot be read).
fn my_domid(xs: &Xenstore) -> u16 {
    xs.read_parse(NO_TX, "domid").unwrap_or(0)
}

/// Waits up to `timeout` for the backend at `be` to reach `InitWait` (or, if the frontend was
/// quicker than this poll, anything up to `Connected`).
pub fn wait_init_wait(xs: &Xenstore, be: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let state: Option<u32> = xs.read_parse(NO_TX, &format!("{be}/state"));
        if state.is_some_and(|s| (INIT_WAIT..=CONNECTED).contains(&s)) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "the backend {be} did not reach InitWait within {} s (state {}): is its backend \
                 (a kernel module, blkback or netback) running?",
                timeout.as_secs(),
                state.map_or("missing".to_string(), |s| s.to_string())
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the hotplug script of the device at backend path `be` for `action`, if it has one and
/// its backend is this domain: `Ok` once the script exited 0.
pub fn run(xs: &Xenstore, be: &str, action: Action) -> Result<()> {
    let Ok(script) = xs.read_string(NO_TX, &format!("{be}/script")) else {
        return Ok(());
    };
    if script.is_empty() {
        return Ok(());
    }
    let gatewaydev = xs.read_string(NO_TX, &format!("{be}/gatewaydev")).ok();
    let Some(inv) = invocation(be, my_domid(xs), &script, gatewaydev.as_deref(), action) else {
        return Ok(());
    };
    execute(&inv, HOTPLUG_TIMEOUT)
}

/// Runs `inv` with `timeout`, its output on our stderr.
pub fn execute(inv: &Invocation, timeout: Duration) -> Result<()> {
    let what = format!("hotplug script {} {}", inv.program, inv.args.join(" "));
    let mut child = Command::new(&inv.program)
        .args(&inv.args)
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .stderr(std::io::stderr())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child
            .try_wait()
            .with_context(|| format!("waiting for {what}"))?
        {
            if !st.success() {
                bail!("{what} failed ({st})");
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{what} did not finish within {} s; killed",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What `create` and the attach verbs do for each new device: wait for its backend's
/// `InitWait`, then run its script with `add`/`online`.
pub fn add(xs: &Xenstore, be: &str) -> Result<()> {
    wait_init_wait(xs, be, INIT_TIMEOUT)?;
    run(xs, be, Action::Add)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(inv: &Invocation, k: &str) -> Option<String> {
        inv.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_vbd_gets_add_and_remove_with_libxl_s_environment() {
        let be = "/local/domain/0/backend/vbd/3/51712";
        let inv = invocation(be, 0, "/etc/xen/scripts/block", None, Action::Add).expect("vbd");
        assert_eq!(inv.program, "/etc/xen/scripts/block");
        assert_eq!(inv.args, ["add"]);
        assert_eq!(
            env(&inv, "XENBUS_PATH").as_deref(),
            Some("backend/vbd/3/51712")
        );
        assert_eq!(env(&inv, "XENBUS_TYPE").as_deref(), Some("vbd"));
        assert_eq!(env(&inv, "XENBUS_BASE_PATH").as_deref(), Some("backend"));
        assert_eq!(
            env(&inv, "script").as_deref(),
            Some("/etc/xen/scripts/block")
        );
        assert_eq!(env(&inv, "netdev"), None);
        let rm = invocation(be, 0, "/etc/xen/scripts/block", None, Action::Remove).expect("vbd");
        assert_eq!(rm.args, ["remove"]);
    }

    #[test]
    fn a_vif_gets_online_and_offline_type_if_vif_and_its_netdev() {
        let be = "/local/domain/0/backend/vif/3/0";
        let s = "/etc/xen/scripts/vif-bridge";
        let inv = invocation(be, 0, s, Some("eth1"), Action::Add).expect("vif");
        assert_eq!(inv.args, ["online", "type_if=vif"]);
        assert_eq!(env(&inv, "netdev").as_deref(), Some("eth1"));
        assert_eq!(env(&inv, "vif").as_deref(), Some("vif3.0"));
        assert_eq!(env(&inv, "XENBUS_PATH").as_deref(), Some("backend/vif/3/0"));
        let off = invocation(be, 0, s, None, Action::Remove).expect("vif");
        assert_eq!(off.args, ["offline", "type_if=vif"]);
        assert_eq!(env(&off, "netdev").as_deref(), Some(""));
    }

    #[test]
    fn other_devices_and_other_domains_backends_run_nothing() {
        for be in [
            "/local/domain/0/backend/console/3/0",
            "/local/domain/0/backend/vkbd/3/0",
            "/local/domain/1/backend/vif/3/0",
            "/local/domain/0/backend/vif/3",
            "/local/domain/0/backend/vif/3/0/extra",
            "/local/domain/0/backend/vif/x/0",
            "backend/vif/3/0",
        ] {
            assert_eq!(invocation(be, 0, "/s", None, Action::Add), None, "{be}");
        }
        assert!(invocation(
            "/local/domain/1/backend/vif/3/0",
            1,
            "/s",
            None,
            Action::Add
        )
        .is_some());
    }

    #[test]
    fn a_script_s_failure_or_timeout_is_an_error_naming_it() {
        let ok = |program: &str, args: &[&str]| Invocation {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec![("XENBUS_PATH".into(), "backend/vif/1/0".into())],
        };
        execute(
            &ok(
                "/bin/sh",
                &["-c", "test \"$XENBUS_PATH\" = backend/vif/1/0"],
            ),
            HOTPLUG_TIMEOUT,
        )
        .expect("the environment is passed");
        let e = execute(&ok("/bin/sh", &["-c", "exit 3"]), HOTPLUG_TIMEOUT).unwrap_err();
        assert!(format!("{e:#}").contains("failed"), "{e:#}");
        let e = execute(&ok("/bin/sleep", &["5"]), Duration::from_millis(200)).unwrap_err();
        assert!(format!("{e:#}").contains("killed"), "{e:#}");
        let e = execute(&ok("/nonexistent/vif-bridge", &["online"]), HOTPLUG_TIMEOUT).unwrap_err();
        assert!(
            format!("{e:#}").contains("/nonexistent/vif-bridge"),
            "{e:#}"
        );
    }
}
