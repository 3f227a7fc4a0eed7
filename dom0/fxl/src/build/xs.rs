//! The xenstore entries of a new PV domain, as libxl writes them on Xen 4.17
//! (`libxl__domain_make`, `libxl__build_post`, `libxl__device_console_add`, the vbd and vif
//! device code; reference/toolstack-abi.md §2.5): pure lists, one per transaction, that
//! [`super::domain`] writes.

use crate::config::{parse_rate, Disk, DomainConfig, Vif};
use xenstore::wire::{Access, Perm};

/// One node: its path, value and, where libxl sets them, its permissions (otherwise it
/// inherits its parent's, as a node created by a write does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Absolute path.
    pub path: String,
    /// Value.
    pub value: String,
    /// `SET_PERMS` after the write, or inherited.
    pub perms: Option<Vec<Perm>>,
}

fn p(access: Access, domid: u16) -> Perm {
    Perm { access, domid }
}

/// What the entries depend on besides the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The new domain.
    pub domid: u16,
    /// Its UUID, `xxxxxxxx-xxxx-…`.
    pub uuid: String,
    /// The xenstore ring: MFN and port.
    pub store: (u64, u32),
    /// The console ring: MFN and port.
    pub console: (u64, u32),
    /// `/vm/<uuid>/start_time`.
    pub start_time: String,
}

struct List(Vec<Entry>);

impl List {
    fn node(&mut self, path: String, value: &str, perms: Option<Vec<Perm>>) {
        self.0.push(Entry {
            path,
            value: value.to_owned(),
            perms,
        });
    }
    fn add(&mut self, path: String, value: &str) {
        self.node(path, value, None);
    }
}

/// The domain's own directories (`libxl__domain_make`'s transaction, then
/// `libxl__build_post`'s), in libxl's order.
pub fn domain_entries(cfg: &DomainConfig, f: &Facts) -> Vec<Entry> {
    let n = f.domid;
    let dom = format!("/local/domain/{n}");
    let vm = format!("/vm/{}", f.uuid);
    let ro = || Some(vec![p(Access::None, 0), p(Access::Read, n)]);
    let rw = || Some(vec![p(Access::None, n)]);
    let mut l = List(Vec::new());
    l.node(dom.clone(), "", ro());
    l.node(vm.clone(), "", ro());
    l.node(format!("/libxl/{n}"), "", Some(vec![p(Access::None, 0)]));
    l.add(format!("/libxl/{n}/device"), "");
    l.add(format!("/libxl/{n}/type"), "pv");
    l.add(format!("/libxl/{n}/dm-version"), "qemu_xen");
    l.add(format!("{dom}/vm"), &vm);
    l.add(format!("{dom}/name"), &cfg.name);
    for d in ["cpu", "memory", "device", "control"] {
        l.node(format!("{dom}/{d}"), "", ro());
    }
    l.node(format!("{dom}/device/suspend/event-channel"), "", rw());
    for c in [
        "shutdown",
        "feature-poweroff",
        "feature-reboot",
        "feature-suspend",
        "sysrq",
    ] {
        l.node(format!("{dom}/control/{c}"), "", rw());
    }
    for d in ["data", "drivers", "feature", "attr", "error"] {
        l.node(format!("{dom}/{d}"), "", rw());
    }
    for c in [
        "platform-feature-multiprocessor-suspend",
        "platform-feature-xs_reset_watches",
    ] {
        l.node(format!("{dom}/control/{c}"), "1", ro());
    }
    l.add(format!("{vm}/uuid"), &f.uuid);
    l.add(format!("{vm}/name"), &cfg.name);
    l.add(format!("{vm}/image/ostype"), "linux");
    l.add(format!("{vm}/image/kernel"), &cfg.kernel);
    if let Some(rd) = &cfg.ramdisk {
        l.add(format!("{vm}/image/ramdisk"), rd);
    }
    l.add(format!("{vm}/image/cmdline"), &cfg.cmdline);
    l.add(format!("{vm}/start_time"), &f.start_time);
    // libxl__build_post.
    let kib = |mib: u64| (mib * 1024).to_string();
    l.add(format!("{dom}/memory/static-max"), &kib(cfg.maxmem_mib));
    l.add(format!("{dom}/memory/target"), &kib(cfg.memory_mib));
    l.add(format!("{dom}/memory/videoram"), "0");
    l.add(format!("{dom}/domid"), &n.to_string());
    l.add(format!("{dom}/store/port"), &f.store.1.to_string());
    l.add(format!("{dom}/store/ring-ref"), &f.store.0.to_string());
    for v in 0..cfg.maxvcpus {
        let state = if v < cfg.vcpus { "online" } else { "offline" };
        l.add(format!("{dom}/cpu/{v}/availability"), state);
    }
    l.0
}

/// Console 0 (`libxl__device_console_add`): the frontend is `/local/domain/N/console` itself,
/// served by xenconsoled in `backend_dom`.
pub fn console_entries(f: &Facts, backend_dom: u16) -> Vec<Entry> {
    let n = f.domid;
    let fe = format!("/local/domain/{n}/console");
    let be = format!("/local/domain/{backend_dom}/backend/console/{n}/0");
    let mut l = List(Vec::new());
    l.node(
        be.clone(),
        "",
        Some(vec![p(Access::None, backend_dom), p(Access::Read, n)]),
    );
    l.add(format!("{be}/frontend"), &fe);
    l.add(format!("{be}/frontend-id"), &n.to_string());
    l.add(format!("{be}/online"), "1");
    l.add(format!("{be}/state"), "1");
    l.add(format!("{be}/protocol"), "vt100");
    l.node(
        fe.clone(),
        "",
        Some(vec![p(Access::None, 0), p(Access::Read, n)]),
    );
    l.add(format!("{fe}/backend"), &be);
    l.node(
        format!("{fe}/backend-id"),
        &backend_dom.to_string(),
        Some(vec![p(Access::None, n), p(Access::Read, backend_dom)]),
    );
    l.add(format!("{fe}/limit"), "1048576");
    l.add(format!("{fe}/type"), "xenconsoled");
    l.add(format!("{fe}/output"), "pty");
    l.add(format!("{fe}/tty"), "");
    l.add(format!("{fe}/port"), &f.console.1.to_string());
    l.add(format!("{fe}/ring-ref"), &f.console.0.to_string());
    libxl_copy(&mut l, n, "console", 0, &fe, &be);
    l.0
}

/// `/libxl/N/device/KIND/ID`: where libxl keeps each device's frontend and backend paths and a
/// copy of every backend entry (`libxl__device_generic_add`); xl reads a device back from there
/// (`xl block-list` of a disk without the copy's `type` lists nothing). Call it after the backend
/// entries are in `l`.
fn libxl_copy(l: &mut List, n: u16, kind: &str, id: u32, fe: &str, be: &str) {
    let base = format!("/libxl/{n}/device/{kind}/{id}");
    let prefix = format!("{be}/");
    let copies: Vec<(String, String)> =
        l.0.iter()
            .filter_map(|e| {
                let key = e.path.strip_prefix(&prefix)?;
                (key != "frontend").then(|| (key.to_owned(), e.value.clone()))
            })
            .collect();
    l.add(format!("{base}/frontend"), fe);
    l.add(format!("{base}/backend"), be);
    for (k, v) in copies {
        l.add(format!("{base}/{k}"), &v);
    }
}

/// A hotplug script's path as libxl writes it: relative names are under `/etc/xen/scripts`.
fn script_path(s: &str) -> String {
    if s.starts_with('/') {
        s.to_owned()
    } else {
        format!("/etc/xen/scripts/{s}")
    }
}

/// One vbd, served by `backend_dom` (the `phy` backend type, as libxl picks it for a raw
/// target with a script).
pub fn vbd_entries(n: u16, d: &Disk, backend_dom: u16) -> Vec<Entry> {
    let id = d.devid;
    let fe = format!("/local/domain/{n}/device/vbd/{id}");
    let be = format!("/local/domain/{backend_dom}/backend/vbd/{n}/{id}");
    let devtype = if d.cdrom { "cdrom" } else { "disk" };
    let mut l = List(Vec::new());
    l.node(
        fe.clone(),
        "",
        Some(vec![p(Access::None, n), p(Access::Read, backend_dom)]),
    );
    l.add(format!("{fe}/backend"), &be);
    l.add(format!("{fe}/backend-id"), &backend_dom.to_string());
    l.add(format!("{fe}/state"), "1");
    l.add(format!("{fe}/virtual-device"), &id.to_string());
    l.add(format!("{fe}/device-type"), devtype);
    l.add(format!("{fe}/trusted"), "1");
    l.add(format!("{fe}/protocol"), "x86_64-abi");
    l.node(
        be.clone(),
        "",
        Some(vec![p(Access::None, backend_dom), p(Access::Read, n)]),
    );
    let mut bk: Vec<(&str, String)> = vec![
        ("frontend", fe.clone()),
        ("params", d.target.clone().unwrap_or_default()),
        (
            "script",
            script_path(d.script.as_deref().unwrap_or("block")),
        ),
        ("frontend-id", n.to_string()),
        ("online", "1".into()),
        ("removable", "0".into()),
        ("bootable", "1".into()),
        ("state", "1".into()),
        ("dev", d.vdev.clone()),
        ("type", "phy".into()),
        ("mode", if d.readonly { "r" } else { "w" }.into()),
        ("device-type", devtype.into()),
    ];
    if !d.readonly {
        bk.push(("discard-enable", if d.discard { "1" } else { "0" }.into()));
    }
    if d.direct_io_safe {
        bk.push(("direct-io-safe", "1".into()));
    }
    bk.push(("specification", "xen".into()));
    for (k, v) in &bk {
        l.add(format!("{be}/{k}"), v);
    }
    libxl_copy(&mut l, n, "vbd", id, &fe, &be);
    l.0
}

/// One vif (`handle` = its place in the list), served by `backend_dom`, with `mac`.
pub fn vif_entries(n: u16, handle: u32, v: &Vif, mac: &str, backend_dom: u16) -> Vec<Entry> {
    let fe = format!("/local/domain/{n}/device/vif/{handle}");
    let be = format!("/local/domain/{backend_dom}/backend/vif/{n}/{handle}");
    let mut l = List(Vec::new());
    l.node(
        fe.clone(),
        "",
        Some(vec![p(Access::None, n), p(Access::Read, backend_dom)]),
    );
    l.add(format!("{fe}/backend"), &be);
    l.add(format!("{fe}/backend-id"), &backend_dom.to_string());
    l.add(format!("{fe}/state"), "1");
    l.add(format!("{fe}/handle"), &handle.to_string());
    l.add(format!("{fe}/mac"), mac);
    l.add(format!("{fe}/trusted"), "1");
    l.node(
        format!("{fe}/mtu"),
        &v.mtu.unwrap_or(1500).to_string(),
        Some(vec![p(Access::None, 0), p(Access::Read, n)]),
    );
    l.node(
        be.clone(),
        "",
        Some(vec![p(Access::None, backend_dom), p(Access::Read, n)]),
    );
    l.add(format!("{be}/frontend"), &fe);
    l.add(format!("{be}/frontend-id"), &n.to_string());
    l.add(format!("{be}/online"), "1");
    l.add(format!("{be}/state"), "1");
    l.add(
        format!("{be}/script"),
        &script_path(v.script.as_deref().unwrap_or("vif-bridge")),
    );
    l.add(format!("{be}/mac"), mac);
    l.add(
        format!("{be}/bridge"),
        v.bridge.as_deref().unwrap_or("xenbr0"),
    );
    if let Some(ip) = &v.ip {
        l.add(format!("{be}/ip"), ip);
    }
    if let Some(name) = &v.vifname {
        l.add(format!("{be}/vifname"), name);
    }
    if let Some(mtu) = v.mtu {
        l.add(format!("{be}/mtu"), &mtu.to_string());
    }
    // libxl: `rate` = "<bytes per interval>,<interval µs>", the guest's transmit limit.
    if let Some((bytes, usecs)) = v.rate.as_deref().and_then(|r| parse_rate(r).ok()) {
        l.add(format!("{be}/rate"), &format!("{bytes},{usecs}"));
    }
    l.add(format!("{be}/handle"), &handle.to_string());
    l.add(format!("{be}/type"), "vif");
    l.add(format!("{be}/hotplug-status"), "");
    libxl_copy(&mut l, n, "vif", handle, &fe, &be);
    l.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DomainConfig {
        let text = "name = \"domu1\"\ntype = \"pv\"\nkernel = \"/k\"\nramdisk = \"/r\"\n\
                    extra = \"console=hvc0\"\nmemory = 128\nvcpus = 1\n\
                    disk = [\"format=raw, vdev=xvda, access=rw, target=/tmp/disk.img\"]\n\
                    vif = [\"bridge=xenbr0\"]\n";
        DomainConfig::parse("domu1.cfg", text, &[]).expect("parses")
    }

    fn facts() -> Facts {
        Facts {
            domid: 1,
            uuid: "7f1a2b3c-0000-4000-8000-000000000001".into(),
            store: (259585, 1),
            console: (259586, 2),
            start_time: "1796470213.67".into(),
        }
    }

    fn find<'a>(l: &'a [Entry], path: &str) -> &'a Entry {
        l.iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no {path}"))
    }

    fn perms(e: &Entry) -> String {
        e.perms.as_ref().map_or("inherited".into(), |v| {
            v.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// The values and permissions of reference/toolstack-abi.md §2.5 (the xl trace).
    #[test]
    fn domain_entries_are_the_traced_ones() {
        let l = domain_entries(&cfg(), &facts());
        let v = |p: &str| find(&l, p).value.clone();
        let pm = |p: &str| perms(find(&l, p));
        assert_eq!(pm("/local/domain/1"), "n0,r1");
        assert_eq!(pm("/vm/7f1a2b3c-0000-4000-8000-000000000001"), "n0,r1");
        assert_eq!(pm("/libxl/1"), "n0");
        assert_eq!(v("/libxl/1/type"), "pv");
        assert_eq!(v("/libxl/1/dm-version"), "qemu_xen");
        assert_eq!(
            v("/local/domain/1/vm"),
            "/vm/7f1a2b3c-0000-4000-8000-000000000001"
        );
        assert_eq!(v("/local/domain/1/name"), "domu1");
        for d in ["cpu", "memory", "device", "control"] {
            assert_eq!(pm(&format!("/local/domain/1/{d}")), "n0,r1");
        }
        assert_eq!(pm("/local/domain/1/device/suspend/event-channel"), "n1");
        for c in [
            "shutdown",
            "feature-poweroff",
            "feature-reboot",
            "feature-suspend",
            "sysrq",
        ] {
            assert_eq!(pm(&format!("/local/domain/1/control/{c}")), "n1");
        }
        for d in ["data", "drivers", "feature", "attr", "error"] {
            assert_eq!(pm(&format!("/local/domain/1/{d}")), "n1");
        }
        assert_eq!(
            v("/local/domain/1/control/platform-feature-xs_reset_watches"),
            "1"
        );
        assert_eq!(v("/local/domain/1/memory/static-max"), "131072");
        assert_eq!(v("/local/domain/1/memory/target"), "131072");
        assert_eq!(v("/local/domain/1/memory/videoram"), "0");
        assert_eq!(v("/local/domain/1/domid"), "1");
        assert_eq!(v("/local/domain/1/store/port"), "1");
        assert_eq!(v("/local/domain/1/store/ring-ref"), "259585");
        assert_eq!(v("/local/domain/1/cpu/0/availability"), "online");
        let vm = "/vm/7f1a2b3c-0000-4000-8000-000000000001";
        assert_eq!(v(&format!("{vm}/image/ostype")), "linux");
        assert_eq!(v(&format!("{vm}/image/cmdline")), "console=hvc0");
        assert_eq!(v(&format!("{vm}/start_time")), "1796470213.67");
        // The domain's directory comes first: everything below inherits from it.
        assert_eq!(l[0].path, "/local/domain/1");
    }

    #[test]
    fn console_entries_are_the_traced_ones() {
        let l = console_entries(&facts(), 0);
        let v = |p: &str| find(&l, p).value.clone();
        let be = "/local/domain/0/backend/console/1/0";
        assert_eq!(perms(find(&l, be)), "n0,r1");
        assert_eq!(v(&format!("{be}/frontend")), "/local/domain/1/console");
        assert_eq!(v(&format!("{be}/protocol")), "vt100");
        assert_eq!(v(&format!("{be}/state")), "1");
        assert_eq!(perms(find(&l, "/local/domain/1/console")), "n0,r1");
        assert_eq!(
            perms(find(&l, "/local/domain/1/console/backend-id")),
            "n1,r0"
        );
        assert_eq!(v("/local/domain/1/console/port"), "2");
        assert_eq!(v("/local/domain/1/console/ring-ref"), "259586");
        assert_eq!(v("/local/domain/1/console/type"), "xenconsoled");
        assert_eq!(v("/local/domain/1/console/limit"), "1048576");
        assert_eq!(v("/libxl/1/device/console/0/backend"), be);
    }

    #[test]
    fn vbd_entries_are_the_traced_ones() {
        let c = cfg();
        let l = vbd_entries(1, &c.disks[0], 0);
        let v = |p: &str| find(&l, p).value.clone();
        let fe = "/local/domain/1/device/vbd/51712";
        let be = "/local/domain/0/backend/vbd/1/51712";
        assert_eq!(perms(find(&l, fe)), "n1,r0");
        assert_eq!(perms(find(&l, be)), "n0,r1");
        let want_fe = [
            ("backend", be),
            ("backend-id", "0"),
            ("state", "1"),
            ("virtual-device", "51712"),
            ("device-type", "disk"),
            ("trusted", "1"),
            ("protocol", "x86_64-abi"),
        ];
        for (k, want) in want_fe {
            assert_eq!(v(&format!("{fe}/{k}")), want, "{k}");
        }
        let want_be = [
            ("frontend", fe),
            ("params", "/tmp/disk.img"),
            ("script", "/etc/xen/scripts/block"),
            ("frontend-id", "1"),
            ("online", "1"),
            ("removable", "0"),
            ("bootable", "1"),
            ("state", "1"),
            ("dev", "xvda"),
            ("type", "phy"),
            ("mode", "w"),
            ("device-type", "disk"),
            ("discard-enable", "1"),
            ("specification", "xen"),
        ];
        for (k, want) in want_be {
            assert_eq!(v(&format!("{be}/{k}")), want, "{k}");
        }
        assert_eq!(v("/libxl/1/device/vbd/51712/frontend"), fe);
        // libxl's copy of the backend entries, which xl reads the disk back from.
        for (k, want) in want_be {
            assert_eq!(v(&format!("/libxl/1/device/vbd/51712/{k}")), want, "{k}");
        }
    }

    #[test]
    fn vif_entries_are_the_traced_ones() {
        let c = cfg();
        let l = vif_entries(1, 0, &c.vifs[0], "00:16:3e:27:10:3b", 0);
        let v = |p: &str| find(&l, p).value.clone();
        let fe = "/local/domain/1/device/vif/0";
        let be = "/local/domain/0/backend/vif/1/0";
        assert_eq!(perms(find(&l, fe)), "n1,r0");
        assert_eq!(perms(find(&l, &format!("{fe}/mtu"))), "n0,r1");
        assert_eq!(v(&format!("{fe}/mtu")), "1500");
        assert_eq!(v(&format!("{fe}/mac")), "00:16:3e:27:10:3b");
        assert_eq!(v(&format!("{be}/script")), "/etc/xen/scripts/vif-bridge");
        assert_eq!(v(&format!("{be}/bridge")), "xenbr0");
        assert_eq!(v(&format!("{be}/type")), "vif");
        assert_eq!(v(&format!("{be}/hotplug-status")), "");
        assert_eq!(perms(find(&l, be)), "n0,r1");
        assert_eq!(v("/libxl/1/device/vif/0/backend"), be);
        assert_eq!(v("/libxl/1/device/vif/0/mac"), "00:16:3e:27:10:3b");
        assert_eq!(v("/libxl/1/device/vif/0/bridge"), "xenbr0");
        assert!(
            !l.iter().any(|e| e.path == format!("{be}/rate")),
            "no rate unless given"
        );
    }

    #[test]
    fn a_vif_rate_becomes_libxl_s_backend_rate_node() {
        let vif = Vif {
            rate: Some("4Mb/s@20ms".into()),
            ..Vif::default()
        };
        let l = vif_entries(1, 0, &vif, "00:16:3e:27:10:3b", 0);
        assert_eq!(
            find(&l, "/local/domain/0/backend/vif/1/0/rate").value,
            "10000,20000"
        );
    }
}
