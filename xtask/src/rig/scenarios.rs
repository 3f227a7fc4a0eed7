//! The rig's scenarios: a dom0 script each (run after the toolstack is up), and the domU tests.

use std::time::Duration;

/// One scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Its name (`cargo xtask rig --scenario NAME`).
    pub name: &'static str,
    /// Run by `cargo xtask test`.
    pub essential: bool,
    /// Hard timeout of the whole boot.
    pub timeout: Duration,
    /// Kernel modules beyond the rig's base set.
    pub dom0_modules: &'static [&'static str],
    /// dom0's vCPUs (`dom0_max_vcpus`).
    pub dom0_vcpus: u32,
    /// Whether the domU kernel and initramfs go into dom0.
    pub needs_domu: bool,
    /// Host binaries (with their libraries) the domU's initramfs carries beyond the usual ones
    /// (fio and its ~80 MB of libraries for the disk benchmark, iperf3 for the net one).
    pub domu_bins: &'static [&'static str],
    /// Host binaries (with their libraries) dom0's initramfs carries beyond Xen's tools.
    pub dom0_bins: &'static [&'static str],
    /// Kernel modules put into dom0 but not loaded at boot (the scenario loads them).
    pub dom0_extra_modules: &'static [&'static str],
    /// The dom0 script (`/rig/scenario.sh`); exit status 0 is a pass.
    pub script: &'static str,
    /// Which xenstored dom0 runs.
    pub xenstored: Xenstored,
}

/// The xenstore daemon of a scenario's dom0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Xenstored {
    /// Xen's C xenstored from xen-utils-4.17.
    C,
    /// Ferrite's (`dom0/xenstored`), as the only xenstored.
    Ferrite,
}

impl Xenstored {
    /// The word dom0's `/init` reads from `/rig/xenstored`.
    pub fn word(self) -> &'static str {
        match self {
            Xenstored::C => "c",
            Xenstored::Ferrite => "ferrite",
        }
    }
}

/// Every scenario, in the order `cargo xtask rig` runs them.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "dom0",
        essential: false,
        timeout: Duration::from_secs(180),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: false,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/dom0.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "blk",
        essential: true,
        // Measured 181-254 s on the project's machine; TCG varies a lot between runs.
        timeout: Duration::from_secs(540),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/blk.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "xenstored",
        essential: true,
        timeout: Duration::from_secs(540),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/xenstored.sh"),
        xenstored: Xenstored::Ferrite,
    },
    Scenario {
        name: "xenstored-hostile",
        essential: false,
        timeout: Duration::from_secs(600),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/xenstored-hostile.sh"),
        xenstored: Xenstored::Ferrite,
    },
    Scenario {
        name: "blk-variants",
        essential: false,
        timeout: Duration::from_secs(600),
        dom0_modules: &[],
        // blkback's two queue threads run in parallel.
        dom0_vcpus: 2,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/blk-variants.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "blk-lifecycle",
        essential: false,
        timeout: Duration::from_secs(420),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/blk-lifecycle.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "blk-hostile",
        essential: false,
        timeout: Duration::from_secs(540),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/blk-hostile.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "fxl",
        essential: false,
        timeout: Duration::from_secs(480),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/fxl.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        // fxl's hotplug scripts with Linux's in-kernel blkback and netback.
        name: "fxl-hotplug",
        essential: false,
        timeout: Duration::from_secs(900),
        dom0_modules: &["tun", "bridge"],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &["xen-blkback", "xen-netback"],
        script: include_str!("scripts/fxl-hotplug.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        // The same with Ferrite's xenstored as dom0's only one: xl, fxl, xenconsoled and blkback
        // all on it.
        name: "fxl-xenstored",
        essential: false,
        timeout: Duration::from_secs(480),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/fxl.sh"),
        xenstored: Xenstored::Ferrite,
    },
    Scenario {
        // fxl's own domain builder: `fxl create` of a Debian PV domU with a disk on blkback.
        name: "fxl-create",
        essential: false,
        timeout: Duration::from_secs(540),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/fxl-create.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        // The same with Ferrite's xenstored as dom0's only one: fxl's INTRODUCE, xenconsoled,
        // blkback and xl all on it.
        name: "fxl-create-xenstored",
        essential: false,
        timeout: Duration::from_secs(540),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/fxl-create.sh"),
        xenstored: Xenstored::Ferrite,
    },
    Scenario {
        // fxl's console (`console`, `create -c`), its monitor (on_reboot restart, on_poweroff
        // destroy) and device verbs (vcpu-set, block-*, network-*) on a domU fxl creates.
        name: "fxl-verbs",
        essential: false,
        timeout: Duration::from_secs(900),
        dom0_modules: &["tun", "bridge"],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/fxl-verbs.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        // 20 fxl create/destroy cycles (monitor and fxl destroy); nothing may leak.
        name: "fxl-soak",
        essential: false,
        timeout: Duration::from_secs(1200),
        dom0_modules: &["tun", "bridge"],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/fxl-soak.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "net",
        // 114-120 s on the project's machine (2026-12-06, net1 on 2 queues).
        essential: true,
        timeout: Duration::from_secs(780),
        dom0_modules: &["tun", "bridge"],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/net.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "net-hostile",
        essential: false,
        timeout: Duration::from_secs(780),
        dom0_modules: &["tun", "bridge"],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/net-hostile.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "net-lifecycle",
        essential: false,
        timeout: Duration::from_secs(600),
        dom0_modules: &["tun", "bridge"],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/net-lifecycle.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        // 256 MiB each way (issue #20).
        name: "net-big",
        essential: false,
        timeout: Duration::from_secs(1500),
        dom0_modules: &["tun", "bridge"],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/net-big.sh"),
        xenstored: Xenstored::C,
    },
];

/// Diagnostics, run only by name (`cargo xtask rig --scenario stress`), never by `rig`/`test`.
pub const DIAGNOSTICS: &[Scenario] = &[
    SOAK,
    Scenario {
        name: "stress",
        essential: false,
        timeout: Duration::from_secs(480),
        dom0_modules: &[],
        dom0_vcpus: 2,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/stress.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "stress-nodisk",
        essential: false,
        timeout: Duration::from_secs(480),
        dom0_modules: &[],
        dom0_vcpus: 2,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        // The same without disks: the guests only compute; blkback serves nothing.
        script: concat!("STRESS_DISK=0\n", include_str!("scripts/stress.sh")),
        xenstored: Xenstored::C,
    },
];

/// The create/destroy soak (issue #17): 200 cycles by default (`RIG_SOAK_CYCLES` sets
/// another count), at about 20 s each under TCG. Run only when named.
pub const SOAK: Scenario = Scenario {
    name: "create-soak",
    essential: false,
    timeout: Duration::from_secs(3 * 3600),
    dom0_modules: &[],
    dom0_vcpus: 1,
    needs_domu: true,
    domu_bins: &[],
    dom0_bins: &[],
    dom0_extra_modules: &[],
    script: include_str!("scripts/create-soak.sh"),
    xenstored: Xenstored::C,
};

/// Benchmarks (`cargo xtask bench rig-blk`), run on their own, never by `cargo xtask rig`.
pub const BENCHES: &[Scenario] = &[
    Scenario {
        name: "bench-create",
        essential: false,
        timeout: Duration::from_secs(900),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/bench-create.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "bench-blk",
        essential: false,
        timeout: Duration::from_secs(900),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &["/usr/bin/fio"],
        dom0_bins: &[],
        dom0_extra_modules: &["xen-blkback"],
        script: include_str!("scripts/bench-blk.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "bench-net",
        essential: false,
        timeout: Duration::from_secs(1500),
        dom0_modules: &["tun", "bridge"],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &["/usr/bin/iperf3"],
        dom0_bins: &["/usr/bin/iperf3"],
        dom0_extra_modules: &["xen-netback"],
        script: include_str!("scripts/bench-net.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "bench-xenstored-c",
        essential: false,
        timeout: Duration::from_secs(600),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/bench-xenstored.sh"),
        xenstored: Xenstored::C,
    },
    Scenario {
        name: "bench-xenstored-ferrite",
        essential: false,
        timeout: Duration::from_secs(600),
        dom0_modules: &[],
        dom0_vcpus: 1,
        needs_domu: true,
        domu_bins: &[],
        dom0_bins: &[],
        dom0_extra_modules: &[],
        script: include_str!("scripts/bench-xenstored.sh"),
        xenstored: Xenstored::Ferrite,
    },
];

/// The domU tests, `/tests/<name>.sh`, chosen by `rigtest=<name>` on the domU's command line.
pub const DOMU_TESTS: &[(&str, &str)] = &[
    ("pattern", include_str!("scripts/domu-pattern.sh")),
    ("readonly", include_str!("scripts/domu-readonly.sh")),
    ("hotplug", include_str!("scripts/domu-hotplug.sh")),
    ("hostile", include_str!("scripts/domu-hostile.sh")),
    ("fio", include_str!("scripts/domu-fio.sh")),
    ("busy", include_str!("scripts/domu-busy.sh")),
    ("spin", include_str!("scripts/domu-spin.sh")),
    ("steady", include_str!("scripts/domu-steady.sh")),
    ("xshostile", include_str!("scripts/domu-xshostile.sh")),
    ("xsbench", include_str!("scripts/domu-xsbench.sh")),
    ("net", include_str!("scripts/domu-net.sh")),
    ("nethostile", include_str!("scripts/domu-nethostile.sh")),
    ("iperf", include_str!("scripts/domu-iperf.sh")),
    ("shell", include_str!("scripts/domu-shell.sh")),
];
