//! `cargo xtask`: build, iso, run, test, bench and fuzz Ferrite.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;
use xtask::iso::{IsoSpec, Module};
use xtask::qemu::Machine;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build                     build the hypervisor (x86_64-unknown-none) and every host crate
  iso [-o FILE] [--cmdline S] [--module PATH[,CMDLINE]]...
                            build a GRUB ISO (default target/xtask/ferrite.iso)
  run [--smp N] [--mem MIB] [--cmdline S] [--module PATH[,CMDLINE]]... [--guest NAME | --no-guest | --linux]
                            boot Ferrite in QEMU (TCG) with the serial console on this terminal;
                            without modules it runs the `hello` test guest (or --guest NAME from
                            tests/guests) as dom0; --linux boots Debian's Linux (linux-image-amd64)
                            as dom0 with a busybox initramfs and a shell on the console (2 GiB, and
                            dom0_mem=512M unless --cmdline says otherwise); the run ends when dom0
                            shuts down; Ctrl-C quits
  test                      everything: fmt check, clippy, host unit/property/layout tests of every
                            crate, the QEMU integration tests and the essential rig scenarios
  rig [--scenario NAME]... [--hypervisor IMAGE] [--quiet]
                            the reference rig: Debian's Xen 4.17 (or IMAGE) + Debian Linux dom0 in
                            QEMU running Ferrite's dom0 binaries; every scenario, or those named
                            (see docs/rig.md)
  bench [pv|rig-blk|rig-net|rig-xenstored|rig-create|linux-boot|xenstored]
                            benchmarks (criterion baselines of the state machines and the PV
                            operations); pv: the PV operations alone, Ferrite vs Xen 4.17;
                            rig-blk: fio in a PV domU on blkback vs Linux's xen-blkback on the rig;
                            rig-net: iperf3 and ping, a PV domU on netback vs xen-netback;
                            linux-boot: Debian's Linux to dom0 /init and to a verdict, Ferrite vs
                            Xen 4.17; xenstored: requests per second and memory for 10,000 nodes,
                            ours vs Debian's C xenstored over a socket; rig-xenstored: the same
                            from a domU over its ring on the rig; rig-create: Debian's xl create
                            (built, /init) and destroy of a PV domU, Ferrite vs Xen 4.17; all as
                            ratios
  fuzz [--seconds N]        run every cargo-fuzz target for N seconds (default 60; needs nightly)
";

fn main() {
    if let Err(e) = real_main() {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

#[derive(Debug, Default, Clone)]
struct Opts {
    smp: Option<u32>,
    mem: Option<u32>,
    cmdline: Option<String>,
    modules: Vec<Module>,
    out: Option<PathBuf>,
    seconds: Option<u64>,
    guest: Option<String>,
    no_guest: bool,
    linux: bool,
    scenarios: Vec<String>,
    hypervisor: Option<PathBuf>,
    quiet: bool,
}

fn parse_opts(args: &[String]) -> Result<Opts> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--smp" => o.smp = Some(val("--smp")?.parse().context("--smp takes a number")?),
            "--mem" => {
                o.mem = Some(
                    val("--mem")?
                        .parse()
                        .context("--mem takes MiB as a number")?,
                )
            }
            "--cmdline" => o.cmdline = Some(val("--cmdline")?),
            "--module" => o.modules.push(Module::parse(&val("--module")?)),
            "-o" => o.out = Some(val("-o")?.into()),
            "--guest" => o.guest = Some(val("--guest")?),
            "--no-guest" => o.no_guest = true,
            "--linux" => o.linux = true,
            "--scenario" => o.scenarios.push(val("--scenario")?),
            "--hypervisor" => o.hypervisor = Some(val("--hypervisor")?.into()),
            "--quiet" => o.quiet = true,
            "--seconds" => {
                o.seconds = Some(
                    val("--seconds")?
                        .parse()
                        .context("--seconds takes a number")?,
                )
            }
            other => bail!("unknown option '{other}'\n{USAGE}"),
        }
    }
    Ok(o)
}

fn real_main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        print!("{USAGE}");
        return Ok(());
    };
    // `bench` takes a benchmark name, not options.
    let opts = if cmd == "bench" {
        Opts::default()
    } else {
        parse_opts(&args[1..])?
    };
    match cmd.as_str() {
        "build" => build(),
        "iso" => {
            let out = iso(&opts)?;
            println!("{}", out.display());
            Ok(())
        }
        "run" => run(&opts),
        "test" => test(),
        "rig" => rig(&opts),
        "bench" => bench(&args[1..]),
        "fuzz" => fuzz(opts.seconds.unwrap_or(60)),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command '{other}'\n{USAGE}"),
    }
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(xtask::workspace_root());
    c
}

fn step(name: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: == {name}");
    let status = cmd.status().with_context(|| format!("running {name}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

fn build() -> Result<()> {
    let elf = xtask::build::hypervisor()?;
    step("host crates", cargo().args(["build", "--workspace"]))?;
    println!("hypervisor: {}", elf.display());
    Ok(())
}

fn iso(o: &Opts) -> Result<PathBuf> {
    let hv = xtask::build::hypervisor()?;
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| xtask::target_dir().join("xtask").join("ferrite.iso"));
    if let Some(d) = out.parent() {
        std::fs::create_dir_all(d)?;
    }
    let spec = IsoSpec {
        hypervisor: hv,
        cmdline: o.cmdline.clone().unwrap_or_else(|| "loglvl=info".into()),
        modules: o.modules.clone(),
    };
    xtask::iso::build(&spec, &out)?;
    Ok(out)
}

fn run(o: &Opts) -> Result<()> {
    let mut o = o.clone();
    // --linux: Debian's kernel as dom0 with a busybox shell.
    if o.linux {
        let initrd = xtask::target_dir()
            .join("xtask")
            .join("linux-shell-initrd.gz");
        xtask::linux::initramfs(xtask::linux::SHELL_INIT, &initrd)?;
        o.modules.push(Module {
            path: xtask::linux::kernel()?,
            cmdline: xtask::linux::DOM0_CMDLINE.into(),
        });
        o.modules.push(Module {
            path: initrd,
            cmdline: String::new(),
        });
        o.cmdline
            .get_or_insert_with(|| "loglvl=info dom0_mem=512M".into());
        o.mem.get_or_insert(2048);
    }
    // With no module given, boot a demo guest as dom0 (the `hello` test guest unless --guest).
    if o.modules.is_empty() && !o.no_guest {
        let name = o.guest.clone().unwrap_or_else(|| "hello".into());
        let path = xtask::build::guests()?.join(&name);
        if !path.is_file() {
            bail!("no test guest named '{name}' (see tests/guests/Cargo.toml)");
        }
        o.modules.push(Module {
            path,
            cmdline: String::new(),
        });
    }
    let iso = iso(&o)?;
    let m = Machine {
        iso,
        smp: o.smp.unwrap_or(2),
        mem_mib: o.mem.unwrap_or(512),
        no_reboot: false, // `reboot` in dom0 restarts the machine, as on hardware
    };
    eprintln!(
        "xtask: booting Ferrite in QEMU (TCG, -smp {} -m {}M); Ctrl-C quits",
        m.smp, m.mem_mib
    );
    let status = m
        .command()
        .status()
        .context("starting qemu-system-x86_64")?;
    match status.code() {
        Some(0) | None => Ok(()),
        Some(c) => {
            eprintln!("xtask: QEMU exited with status {c}");
            Ok(())
        }
    }
}

fn test() -> Result<()> {
    xtask::tools::ensure(xtask::tools::BOOT_TOOLS)?;
    xtask::tools::ensure(xtask::tools::ABI_TOOLS)?;
    xtask::tools::ensure(xtask::tools::XEN_TOOLS)?;
    xtask::tools::ensure_rust_targets()?;
    step(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    step(
        "clippy (host)",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    step(
        "clippy (bare metal: hypervisor and test guests)",
        cargo().args([
            "clippy",
            "--package",
            "hypervisor",
            "--package",
            "guests",
            "--target",
            xtask::build::HYPERVISOR_TARGET,
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    step(
        "unit, property and layout tests",
        cargo().args(["test", "--workspace", "--exclude", "tests"]),
    )?;
    let hv = xtask::build::hypervisor()?;
    let guests = xtask::build::guests()?;
    step(
        "QEMU integration tests (Ferrite; the test guests also on Xen 4.17)",
        cargo()
            .args(["test", "--package", "tests", "--", "--test-threads=2"])
            .env("FERRITE_HYPERVISOR", &hv)
            .env("FERRITE_GUESTS", &guests),
    )?;
    eprintln!(
        "xtask: == reference rig: essential scenarios (Xen 4.17 + Debian Linux dom0: blkback, xenstored, netback)"
    );
    let rig = xtask::rig::Rig::prepare(None)?;
    xtask::rig::run_scenarios(&rig, &[], true, false)?;
    eprintln!(
        "xtask: == reference rig on Ferrite: blk and xenstored with Ferrite in Xen's place \
         (Debian's xl creating Linux domUs on it)"
    );
    let rig = xtask::rig::Rig::prepare(Some(hv))?;
    xtask::rig::run_scenarios(&rig, &["blk".into(), "xenstored".into()], false, false)?;
    eprintln!("xtask: all tests passed");
    Ok(())
}

fn rig(o: &Opts) -> Result<()> {
    let rig = xtask::rig::Rig::prepare(o.hypervisor.clone())?;
    xtask::rig::run_scenarios(&rig, &o.scenarios, false, !o.quiet)
}

fn bench(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("xenstored") {
        // Ours and Debian's C xenstored over a socket, in the same run (an ignored test).
        xtask::tools::ensure(xtask::tools::XEN_TOOLS)?;
        xtask::tools::ensure(xtask::tools::ABI_TOOLS)?;
        return step(
            "xenstored benchmark (socket, ours vs C)",
            cargo().args([
                "test",
                "--release",
                "-p",
                "xenstored",
                "--test",
                "bench",
                "--",
                "--ignored",
                "--nocapture",
            ]),
        );
    }
    if args.first().map(String::as_str) == Some("rig-xenstored") {
        let rig = xtask::rig::Rig::prepare(None)?;
        return xtask::rig::bench_xenstored(&rig);
    }
    if args.first().map(String::as_str) == Some("rig-create") {
        return xtask::rig::bench_create(xtask::build::hypervisor()?);
    }
    if args.first().map(String::as_str) == Some("rig-blk") {
        let rig = xtask::rig::Rig::prepare(None)?;
        return xtask::rig::bench_blk(&rig);
    }
    if args.first().map(String::as_str) == Some("rig-net") {
        let rig = xtask::rig::Rig::prepare(None)?;
        return xtask::rig::bench_net(&rig);
    }
    if args.first().map(String::as_str) == Some("pv") {
        return xtask::pvbench::run();
    }
    if args.first().map(String::as_str) == Some("linux-boot") {
        return xtask::linux::bench_boot();
    }
    step(
        "criterion benchmarks",
        cargo().args([
            "bench",
            "--package",
            "event-channels",
            "--package",
            "grant-tables",
        ]),
    )?;
    // The side-by-side PV benchmark: Ferrite against Xen 4.17 in the same QEMU.
    xtask::pvbench::run()
}

const FUZZ_CRATES: &[&str] = &[
    "hypervisor/abi",
    "event-channels",
    "grant-tables",
    "dom0/blkback",
    "dom0/netback",
    "dom0/xenstored",
];

fn fuzz(seconds: u64) -> Result<()> {
    for dir in FUZZ_CRATES {
        let crate_dir = xtask::workspace_root().join(dir);
        let list = Command::new("cargo")
            .current_dir(&crate_dir)
            .args(["+nightly", "fuzz", "list"])
            .output()
            .context(
                "running cargo +nightly fuzz list (install with `cargo install cargo-fuzz`)",
            )?;
        for target in String::from_utf8_lossy(&list.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let mut c = Command::new("cargo");
            c.current_dir(&crate_dir).args([
                "+nightly",
                "fuzz",
                "run",
                target,
                "--",
                &format!("-max_total_time={seconds}"),
            ]);
            step(&format!("fuzz {dir}:{target} for {seconds}s"), &mut c)?;
        }
    }
    Ok(())
}
