//! Tests of the typed configuration: Debian's examples, every rejected input, and a print →
//! parse round trip.

use super::*;
use proptest::prelude::*;

const PVLINUX: &str = include_str!("../../testdata/xlexample.pvlinux");
const PVHLINUX: &str = include_str!("../../testdata/xlexample.pvhlinux");
const HVM: &str = include_str!("../../testdata/xlexample.hvm");

const BASE: &str = "name = \"g\"\nkernel = \"/k\"\n";

fn ok(extra: &str) -> DomainConfig {
    DomainConfig::parse("guest.cfg", &format!("{BASE}{extra}"), &[]).expect("valid config")
}

fn rejected(extra: &str) -> String {
    DomainConfig::parse("guest.cfg", &format!("{BASE}{extra}"), &[])
        .expect_err("must be rejected")
        .to_string()
}

#[test]
fn debian_pvlinux_parses() {
    let c = DomainConfig::parse("xlexample.pvlinux", PVLINUX, &[]).expect("parses");
    assert_eq!(c.name, "example.pvlinux");
    assert_eq!(c.kernel, "/boot/vmlinuz");
    assert_eq!(c.cmdline, "root=/dev/xvda1");
    assert_eq!(
        (c.memory_mib, c.maxmem_mib, c.vcpus, c.maxvcpus),
        (128, 128, 2, 2)
    );
    assert_eq!(c.vifs, vec![Vif::default()]);
    assert_eq!(c.disks.len(), 1);
    let d = &c.disks[0];
    assert_eq!(d.target.as_deref(), Some("/dev/vg/guest-volume"));
    assert_eq!(
        (d.format, d.vdev.as_str(), d.devid, d.readonly),
        (DiskFormat::Raw, "xvda", 51712, false)
    );
    assert_eq!(
        (c.on_poweroff, c.on_reboot, c.on_crash),
        (Action::Destroy, Action::Restart, Action::Destroy)
    );
}

#[test]
fn debian_pvhlinux_is_refused_as_pvh() {
    let e = DomainConfig::parse("xlexample.pvhlinux", PVHLINUX, &[]).expect_err("PVH");
    assert!(
        e.to_string()
            .contains("type: this is a PVH guest; Ferrite runs PV guests only"),
        "{e}"
    );
}

#[test]
fn debian_hvm_is_refused_as_hvm() {
    let e = DomainConfig::parse("xlexample.hvm", HVM, &[])
        .expect_err("HVM")
        .to_string();
    assert!(e.contains("this is an HVM guest"), "{e}");
}

#[test]
fn overrides_apply_after_the_file() {
    let c =
        DomainConfig::parse("f", PVLINUX, &["memory=256".into(), "name='x'".into()]).expect("ok");
    assert_eq!((c.memory_mib, c.name.as_str()), (256, "x"));
    let e = DomainConfig::parse("f", PVLINUX, &["memroy=256".into()]).expect_err("typo");
    assert_eq!(
        e.to_string(),
        "command line:1: unknown key \"memroy\" (did you mean \"memory\"?)"
    );
}

#[test]
fn unknown_key_names_line_and_nearest() {
    assert_eq!(
        rejected("memroy = 128"),
        "guest.cfg:3: unknown key \"memroy\" (did you mean \"memory\"?)"
    );
    assert_eq!(
        rejected("zzzzzz = 1"),
        "guest.cfg:3: unknown key \"zzzzzz\""
    );
    assert_eq!(
        rejected("vcpu = 1"),
        "guest.cfg:3: unknown key \"vcpu\" (did you mean \"vcpus\"?)"
    );
}

#[test]
fn unsupported_key_says_why() {
    assert!(rejected("pci = ['01:00.0']").starts_with("guest.cfg:3: pci: not supported by fxl"));
}

#[test]
fn memory_not_a_number_is_rejected() {
    assert_eq!(
        rejected("memory = \"lots\""),
        "guest.cfg:3: memory: expected a number of MiB, got \"lots\""
    );
    assert_eq!(
        rejected("memory = [1]"),
        "guest.cfg:3: memory: expected a number of MiB, got a list"
    );
    assert_eq!(
        rejected("memory = 0"),
        "guest.cfg:3: memory: 0 is out of range (1 to 1099511627776)"
    );
    assert!(rejected("memory = 09").contains("expected a number of MiB, got \"09\""));
}

#[test]
fn numbers_are_c_style() {
    assert_eq!(ok("memory = 0x80").memory_mib, 128);
    assert_eq!(ok("memory = 0200").memory_mib, 128);
    assert_eq!(ok("memory = \"128\"").memory_mib, 128);
}

#[test]
fn maxmem_below_memory_is_rejected() {
    assert!(rejected("memory = 256\nmaxmem = 128")
        .starts_with("guest.cfg:4: maxmem: 128 MiB is less than memory"));
}

#[test]
fn vcpus_bad_is_rejected() {
    assert!(rejected("vcpus = 'two'").contains("vcpus: expected a number of vCPUs, got \"two\""));
    assert!(rejected("vcpus = 4\nmaxvcpus = 2").contains("maxvcpus: 2 is less than vcpus (4)"));
    assert!(rejected("vcpus = 0").contains("vcpus: 0 is out of range"));
}

#[test]
fn missing_name_or_kernel_is_rejected() {
    let e = DomainConfig::parse("g.cfg", "kernel = '/k'", &[])
        .expect_err("no name")
        .to_string();
    assert!(e.starts_with("g.cfg: no name"), "{e}");
    let e = DomainConfig::parse("g.cfg", "name = 'x'", &[])
        .expect_err("no kernel")
        .to_string();
    assert!(e.starts_with("g.cfg: no kernel"), "{e}");
}

#[test]
fn bad_name_is_rejected() {
    let e = DomainConfig::parse("g.cfg", "name = '12'\nkernel='/k'", &[]).expect_err("numeric");
    assert!(e
        .to_string()
        .starts_with("g.cfg:1: name: expected a non-empty name"));
    let e = DomainConfig::parse("g.cfg", "name = 'a/b'\nkernel='/k'", &[]).expect_err("slash");
    assert!(e.to_string().contains("without '/'"));
}

#[test]
fn bootloader_is_refused_clearly() {
    assert!(rejected("bootloader = 'pygrub'")
        .starts_with("guest.cfg:3: bootloader: bootloaders (pygrub) are not supported"));
    assert!(rejected("bootloader_args = ['-q']").contains("bootloader_args needs a bootloader"));
}

#[test]
fn type_and_builder() {
    assert_eq!(ok("type = 'pv'").guest_type, GuestType::Pv);
    assert_eq!(ok("builder = 'generic'").guest_type, GuestType::Pv);
    assert!(rejected("type = 'hvm'").contains("this is an HVM guest"));
    assert!(
        rejected("type = 'pvx'").contains("type: expected \"pv\", \"pvh\" or \"hvm\", got \"pvx\"")
    );
    assert!(rejected("builder = 'hvm'").contains("this is an HVM guest"));
    assert!(rejected("builder = 'x'").contains("builder: expected"));
}

#[test]
fn cmdline_root_extra_as_xl() {
    assert_eq!(
        ok("root = '/dev/xvda1'\nextra = 'quiet'").cmdline,
        "root=/dev/xvda1 quiet"
    );
    assert_eq!(ok("root = '/dev/xvda1'").cmdline, "root=/dev/xvda1");
    assert_eq!(ok("extra = 'quiet'").cmdline, "quiet");
    assert_eq!(ok("cmdline = 'a'\nextra = 'quiet'").cmdline, "a");
    assert!(rejected("cmdline = ['a']").contains("cmdline: expected a string, got a list"));
}

#[test]
fn on_actions() {
    let c = ok("on_poweroff = 'preserve'\non_reboot = 'rename-restart'\non_crash = 'coredump-restart'\non_soft_reset='soft-reset'");
    assert_eq!(
        (c.on_poweroff, c.on_reboot, c.on_crash),
        (
            Action::Preserve,
            Action::RenameRestart,
            Action::CoredumpRestart
        )
    );
    assert_eq!(
        rejected("on_crash = 'restrat'"),
        "guest.cfg:3: on_crash: expected one of destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart, soft-reset; got \"restrat\" (did you mean \"restart\"?)"
    );
    assert!(rejected("on_crash = 'soft-reset'").contains("valid only for on_soft_reset"));
}

#[test]
fn uuid_checked() {
    assert_eq!(
        ok("uuid = '01234567-89ab-cdef-0123-456789abcdef'")
            .uuid
            .as_deref(),
        Some("01234567-89ab-cdef-0123-456789abcdef")
    );
    assert!(rejected("uuid = 'nope'").contains("uuid: expected xxxxxxxx-"));
}

#[test]
fn cpus_checked() {
    assert_eq!(ok("cpus = '0-3,^2'").cpus, Some(vec!["0-3,^2".to_string()]));
    assert_eq!(ok("cpus = ['0', '1']").cpus.map(|c| c.len()), Some(2));
    assert_eq!(ok("cpus = 'nodes:0'").cpus.map(|c| c.len()), Some(1));
    assert!(rejected("cpus = 'x'").contains("cpus: expected CPUs"));
    assert!(rejected("cpus_soft = '3-1'").contains("cpus_soft: expected CPUs"));
    assert!(rejected("cpus = [[1]]").contains("nested list"));
}

#[test]
fn list_where_a_string_is_expected_is_rejected() {
    assert!(rejected("kernel = ['/a']").contains("kernel: expected a string, got a list"));
    assert!(rejected("type = ['pv']").contains("type: expected a string, got a list"));
    assert!(rejected("on_poweroff = ['destroy']").contains("on_poweroff: expected a string"));
    assert!(rejected("disk = [['/x,,xvda']]")
        .contains("disk: expected a list of strings, got a nested list"));
}

#[test]
fn grant_frames() {
    assert_eq!(ok("max_grant_frames = 64").max_grant_frames, Some(64));
    assert!(rejected("max_grant_frames = 'x'").contains("expected a number of frames"));
}

#[test]
fn disk_forms_from_the_spec_are_equal() {
    let forms = [
        "/dev/vg/guest-volume,,hda",
        "/dev/vg/guest-volume,raw,hda,rw",
        "format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume",
        "raw:/dev/vg/guest-volume,hda,w",
    ];
    let first = parse_disk(forms[0]).expect("ok");
    assert_eq!(first.devid, 3 << 8);
    for f in forms {
        assert_eq!(parse_disk(f).expect(f), first, "{f}");
    }
    let cd = [
        "/root/image.iso,,hdc,cdrom",
        "/root/image.iso,,hdc,,cdrom",
        "/root/image.iso,raw,hdc,devtype=cdrom",
        "format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso",
        "raw:/root/image.iso,hdc:cdrom,ro",
    ];
    let first = parse_disk(cd[0]).expect("ok");
    assert!(first.cdrom && first.readonly);
    for f in cd {
        assert_eq!(parse_disk(f).expect(f), first, "{f}");
    }
}

#[test]
fn disk_keys() {
    let d = parse_disk("vdev=xvdb, access=ro, backendtype=qdisk, script=ferrite-vbd, backend=dd, no-discard, direct-io-safe, format=qcow2, target=/a,b c").expect("ok");
    assert_eq!(d.target.as_deref(), Some("/a,b c"));
    assert_eq!(
        (d.devid, d.readonly, d.backendtype, d.format),
        (51728, true, Some(BackendType::Qdisk), DiskFormat::Qcow2)
    );
    assert_eq!(
        (
            d.script.as_deref(),
            d.backend.as_deref(),
            d.discard,
            d.direct_io_safe
        ),
        (Some("ferrite-vbd"), Some("dd"), false, true)
    );
    assert_eq!(
        parse_disk("vg/x,,xvda").expect("ok").target.as_deref(),
        Some("/dev/vg/x")
    );
    assert_eq!(
        parse_disk("nbd:host:1,xvda").expect("ok").script.as_deref(),
        Some("block-nbd")
    );
    assert_eq!(parse_disk(",,hdc,cdrom").expect("empty cdrom").target, None);
}

#[test]
fn disk_rejections() {
    for (spec, want) in [
        ("/x,raw", "no vdev"),
        ("vdev=xvda", "no target"),
        ("/x,raw,xvda,rw,extra", "too many positional parameters"),
        (
            "/x,rav,xvda",
            "format: expected raw, qcow, qcow2, vhd or qed, got \"rav\" (did you mean \"raw\"?)",
        ),
        ("/x,raw,xvda,rx", "access: expected ro, r, rw or w"),
        ("/x,raw,vda", "vdev: expected xvdX"),
        ("/x,raw,xvda:floppy", "unknown device type"),
        (
            "vdev=xvda, devtype=tape, target=/x",
            "devtype: expected cdrom",
        ),
        (
            "vdev=xvda, backendtype=phx, target=/x",
            "did you mean \"phy\"",
        ),
        (
            "vdev=xvda, vdevv=1, target=/x",
            "unknown disk key \"vdevv\" (did you mean \"vdev\"?)",
        ),
        ("vdev=xvda, vdev=xvdb, target=/x", "vdev is given twice"),
        ("/x,raw,xvda,format=raw", "format is given twice"),
    ] {
        let e = parse_disk(spec).expect_err(spec);
        assert!(e.contains(want), "{spec}: {e}");
    }
    assert!(rejected("disk = ['/x,,xvda', '/y,,xvda']")
        .contains("entry 1: xvda is the same device as xvda"));
    assert!(rejected("disk = ['/x']").starts_with("guest.cfg:3: disk: entry 0 (\"/x\"): no vdev"));
}

#[test]
fn vdev_numbers() {
    assert_eq!(vdev_to_devid("xvda"), Some(51712));
    assert_eq!(vdev_to_devid("xvdb1"), Some(51729));
    assert_eq!(vdev_to_devid("xvdq"), Some((1 << 28) | (16 << 8)));
    assert_eq!(vdev_to_devid("xvdaa"), Some((1 << 28) | (26 << 8)));
    assert_eq!(vdev_to_devid("sda"), Some(2048));
    assert_eq!(vdev_to_devid("hdb"), Some((3 << 8) | 64));
    assert_eq!(vdev_to_devid("d3p2"), Some((1 << 28) | (3 << 8) | 2));
    assert_eq!(vdev_to_devid("xvda01"), None);
    assert_eq!(vdev_to_devid("xvd"), None);
}

#[test]
fn rates_are_read_as_xl_reads_them() {
    for (r, want) in [
        // 10 Mbit/s = 1.25 MB/s; 20 ms of it.
        ("10Mb/s@20ms", (25_000, 20_000)),
        ("4Mb/s@20ms", (10_000, 20_000)),
        // 50 ms unless said.
        ("10MB/s", (500_000, 50_000)),
        ("100KB/s@1s", (100_000, 1_000_000)),
        ("100Kb/s@1", (12_500, 1_000_000)),
        ("1Gb/s@100us", (12_500, 100)),
        ("1GB/s@5m", (5_000_000, 5_000)),
        ("8b/s@1u", (0, 1)),
        ("800B/s@250ms", (200, 250_000)),
        // strtoull with base 0: a leading 0 is octal.
        ("010MB/s@1s", (8_000_000, 1_000_000)),
        ("4294967295B/s@1s", (4_294_967_295, 1_000_000)),
    ] {
        assert_eq!(parse_rate(r), Ok(want), "{r}");
    }
    for (r, why) in [
        ("", "no rate specified"),
        ("@20ms", "no rate specified"),
        ("10Mb", "invalid rate"),
        ("10mb/s", "invalid rate"),
        ("10kb/s", "invalid rate"),
        ("Mb/s", "invalid rate"),
        ("10 Mb/s", "invalid rate"),
        ("0Mb/s", "rate overflow"),
        ("4294967296B/s", "rate overflow"),
        ("09Mb/s", "rate overflow"),
        ("10Mb/s@", "invalid replenishment interval"),
        ("10Mb/s@20ns", "invalid replenishment interval"),
        ("10Mb/s@ms", "invalid replenishment interval"),
        ("10Mb/s@0ms", "replenishment interval overflow"),
        ("10Mb/s@4295s", "replenishment interval overflow"),
    ] {
        let e = parse_rate(r).expect_err(r);
        assert!(e.contains(why), "{r}: {e}");
    }
}

#[test]
fn vif_keys_and_rejections() {
    let v = parse_vif("mac=00:16:3e:00:00:01, bridge=br0, ip=10.0.0.2, backend=0, script=vif-route, rate=10Mb/s@20ms, model=e1000, mtu=9000, vifname=v").expect("ok");
    assert_eq!(
        (v.mac.as_deref(), v.bridge.as_deref(), v.mtu),
        (Some("00:16:3e:00:00:01"), Some("br0"), Some(9000))
    );
    assert_eq!(parse_vif("").expect("empty"), Vif::default());
    for (spec, want) in [
        ("mac=00:16:3e:00:00", "mac: expected"),
        (
            "brigde=x",
            "unknown vif key \"brigde\" (did you mean \"bridge\"?)",
        ),
        ("bridge", "expected key=value"),
        ("rate=fast", "rate: invalid rate"),
        ("rate=10Mb/s@20h", "rate: invalid replenishment interval"),
        ("mtu=10", "mtu: expected"),
        ("devid=3", "devid"),
    ] {
        let e = parse_vif(spec).expect_err(spec);
        assert!(e.contains(want), "{spec}: {e}");
    }
    assert!(rejected("vif = ['bridge']").starts_with("guest.cfg:3: vif: entry 0"));
}

#[test]
fn syntax_errors_pass_through() {
    assert_eq!(
        rejected("memory = 128 MB"),
        "guest.cfg:3: lexical error at \"MB\" (keys are lower case)"
    );
}

#[test]
fn nearest_is_only_for_typos() {
    assert_eq!(nearest("memroy", KEYS.iter().copied()), Some("memory"));
    assert_eq!(nearest("ramdsik", KEYS.iter().copied()), Some("ramdisk"));
    assert_eq!(nearest("q", KEYS.iter().copied()), None);
}

fn path() -> impl Strategy<Value = String> {
    "/[a-z0-9._/-]{0,20}"
}

fn word() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_.-]{0,10}"
}

fn disk() -> impl Strategy<Value = Disk> {
    (
        prop::option::of("/[a-z0-9, ._/-]{0,20}"),
        0..5usize,
        0..26u32,
        0..16u32,
        any::<(bool, bool, bool, bool)>(),
        prop::option::of(word()),
        prop::option::of(0..4usize),
        prop::option::of(word()),
    )
        .prop_map(
            |(target, f, d, p, (ro, cd, dio, disc), backend, bt, script)| {
                let vdev = format!(
                    "xvd{}{}",
                    (b'a' + d as u8) as char,
                    if p == 0 { String::new() } else { p.to_string() }
                );
                let cdrom = cd || target.is_none();
                Disk {
                    target,
                    format: DiskFormat::ALL[f].1,
                    devid: vdev_to_devid(&vdev).expect("valid vdev"),
                    vdev,
                    readonly: ro,
                    cdrom,
                    backend,
                    backendtype: bt.map(|i| BackendType::ALL[i].1),
                    script,
                    direct_io_safe: dio,
                    discard: disc,
                }
            },
        )
}

fn vif() -> impl Strategy<Value = Vif> {
    (
        prop::option::of("([0-9a-f]{2}:){5}[0-9a-f]{2}"),
        prop::option::of(word()),
        prop::option::of("[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}"),
        prop::option::of(word()),
        prop::option::of(word()),
        prop::option::of(word()),
        prop::option::of("[1-9][0-9]{0,3}(B|b|KB|Kb|MB|Mb|GB|Gb)/s(@[1-9][0-9]{0,2}(ms|us))?"),
        prop::option::of(word()),
        prop::option::of(68..65536u32),
    )
        .prop_map(
            |(mac, bridge, ip, script, vifname, backend, rate, gatewaydev, mtu)| Vif {
                mac,
                bridge,
                ip,
                script,
                vifname,
                backend,
                rate,
                gatewaydev,
                mtu,
            },
        )
}

fn action() -> impl Strategy<Value = Action> {
    (0..6usize).prop_map(|i| Action::ALL[i].1)
}

fn cpus() -> impl Strategy<Value = Option<Vec<String>>> {
    prop::option::of(prop::collection::vec(
        prop_oneof![
            Just("all".to_string()),
            (0..8u32, 0..8u32).prop_map(|(a, b)| format!("{}-{},^{a}", a.min(b), a.max(b)))
        ],
        1..3,
    ))
}

fn config() -> impl Strategy<Value = DomainConfig> {
    (
        (
            "[a-z][a-z0-9 ._'\"\\\\-]{0,15}",
            prop::option::of("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
        ),
        (path(), prop::option::of(path()), "[ -~\t\n]{0,40}"),
        (1..100_000u64, 0..1000u64, 1..64u32, 0..64u32),
        (cpus(), cpus()),
        (
            prop::collection::vec(disk(), 0..4),
            prop::collection::vec(vif(), 0..3),
        ),
        (
            action(),
            action(),
            action(),
            action(),
            prop::option::of(1..1000u32),
            prop::option::of(1..1000u32),
        ),
    )
        .prop_map(
            |(
                (name, uuid),
                (kernel, ramdisk, cmdline),
                (mem, extra_mem, vcpus, extra_vcpus),
                (cpus, cpus_soft),
                (mut disks, vifs),
                (a, b, c, d, g, m),
            )| {
                // Distinct devices, as the parser requires.
                let mut seen = std::collections::HashSet::new();
                disks.retain(|d| seen.insert(d.devid));
                DomainConfig {
                    name,
                    guest_type: GuestType::Pv,
                    uuid,
                    kernel,
                    ramdisk,
                    cmdline,
                    memory_mib: mem,
                    maxmem_mib: mem + extra_mem,
                    vcpus,
                    maxvcpus: vcpus + extra_vcpus,
                    cpus,
                    cpus_soft,
                    disks,
                    vifs,
                    on_poweroff: a,
                    on_reboot: b,
                    on_watchdog: c,
                    on_crash: d,
                    on_soft_reset: Action::SoftReset,
                    max_grant_frames: g,
                    max_maptrack_frames: m,
                }
            },
        )
}

proptest! {
    #[test]
    fn print_parse_round_trip(c in config()) {
        let text = c.to_xl_cfg();
        let back = DomainConfig::parse("printed.cfg", &text, &[]);
        prop_assert_eq!(back, Ok(c), "{}", text);
    }

    #[test]
    fn json_round_trip(c in config()) {
        let j = serde_json::to_string(&c).expect("serialises");
        let back: DomainConfig = serde_json::from_str(&j).expect("parses");
        prop_assert_eq!(back, c);
    }

    #[test]
    fn parser_never_panics(s in "[ -~\t\n]{0,80}") {
        let _ = DomainConfig::parse("any.cfg", &s, &[]);
    }
}
