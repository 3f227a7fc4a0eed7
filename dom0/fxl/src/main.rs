//! `fxl`: Ferrite's dom0 toolstack CLI, with `xl`'s verbs, options, config files and exit codes
//! (docs/fxl.md).
#![forbid(unsafe_code)]

mod build;
mod cfg;
mod config;
mod console;
mod device;
mod hotplug;
mod monitor;
mod ops;

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

/// Ferrite's toolstack: xl's verbs and xl.cfg files.
#[derive(Parser, Debug)]
#[command(name = "fxl", version, about, long_about = None, disable_help_subcommand = false)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Create a domain from an xl.cfg file (or, with -n, only print the configuration).
    Create {
        /// Leave the domain paused after it is created.
        #[arg(short = 'p')]
        paused: bool,
        /// Attach to the domain's console after it is created.
        #[arg(short = 'c')]
        console: bool,
        /// Leave no monitor behind: nothing carries out on_poweroff/on_reboot/on_crash.
        #[arg(short = 'e')]
        no_monitor: bool,
        /// Run the monitor in the foreground (this command returns when the domain is gone).
        #[arg(short = 'F', conflicts_with = "no_monitor")]
        foreground: bool,
        /// Dry run: parse the configuration and print it as JSON (schema in docs/fxl.md).
        #[arg(short = 'n', long = "dryrun")]
        dry_run: bool,
        /// With -n: print the configuration as a normalised xl.cfg instead of JSON.
        #[arg(long = "print-cfg", requires = "dry_run")]
        print_cfg: bool,
        /// Quiet.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Print the time each step of the build takes.
        #[arg(short = 'v', long)]
        verbose: bool,
        /// The config file (instead of the first positional argument).
        #[arg(short = 'f', long = "defconfig", value_name = "FILE")]
        file: Option<String>,
        /// The config file, then KEY=VALUE settings applied after it (xl.cfg syntax).
        #[arg(value_name = "FILE] [KEY=VALUE")]
        args: Vec<String>,
    },
    /// List domains: xl's table, or JSON with --json or -l (schema in docs/fxl.md).
    List {
        /// Long: the JSON listing.
        #[arg(short = 'l', long)]
        long: bool,
        /// The JSON listing.
        #[arg(long)]
        json: bool,
        /// Only these domains (names or IDs).
        domains: Vec<String>,
    },
    /// The host's and the hypervisor's information.
    Info,
    /// The hypervisor's console ring.
    Dmesg {
        /// Clear the ring after reading it.
        #[arg(short = 'c')]
        clear: bool,
    },
    /// Attach to a domain's PV console (xenconsoled's pty); Ctrl-] detaches.
    Console {
        /// Console type (pv or serial).
        #[arg(short = 't')]
        ty: Option<String>,
        /// Console number.
        #[arg(short = 'n')]
        num: Option<u32>,
        domain: String,
    },
    /// Destroy a domain immediately: its devices, xenstore directories and the domain itself.
    Destroy {
        /// Force (accepted for xl compatibility; destroy always forces).
        #[arg(short = 'f')]
        force: bool,
        domain: String,
    },
    /// Ask a PV domain to shut down (it acts on `control/shutdown`).
    Shutdown {
        /// Every domain.
        #[arg(short = 'a', long = "all")]
        all: bool,
        /// Wait until it has shut down.
        #[arg(short = 'w', long = "wait")]
        wait: bool,
        /// Fall back to ACPI (HVM only).
        #[arg(short = 'F')]
        fallback: bool,
        domain: Option<String>,
    },
    /// Ask a PV domain to reboot (it acts on `control/shutdown`).
    Reboot {
        /// Every domain.
        #[arg(short = 'a', long = "all")]
        all: bool,
        /// Wait until it has rebooted.
        #[arg(short = 'w', long = "wait")]
        wait: bool,
        /// Fall back to ACPI (HVM only).
        #[arg(short = 'F')]
        fallback: bool,
        domain: Option<String>,
    },
    /// Pause a domain.
    Pause { domain: String },
    /// Unpause a domain.
    Unpause { domain: String },
    /// Rename a domain.
    Rename { domain: String, new_name: String },
    /// List the vCPUs of all or some domains.
    VcpuList { domains: Vec<String> },
    /// Set a vCPU's hard (and soft) affinity: VCPU is a number or `all`; CPUS is `all`, `N`,
    /// `N-M`, `^N`, comma-separated, or `-` to leave that affinity alone.
    VcpuPin {
        domain: String,
        vcpu: String,
        cpus_hard: String,
        cpus_soft: Option<String>,
    },
    /// Set the number of online vCPUs (the guest brings them up or down).
    VcpuSet {
        /// Allow more vCPUs than the host has CPUs.
        #[arg(short = 'i', long = "ignore-host")]
        ignore_host: bool,
        domain: String,
        vcpus: u32,
    },
    /// Set a domain's memory target, which its balloon driver follows (MEM: a number with an
    /// optional unit b, k, m (default), g, t).
    MemSet { domain: String, mem: String },
    /// Set a domain's maximum memory (MEM: a number with an optional unit b, k, m (default), g, t).
    MemMax { domain: String, mem: String },
    /// Attach a disk to a running domain.
    BlockAttach {
        domain: String,
        /// A disk spec (xl-disk-configuration).
        disk_spec: Vec<String>,
    },
    /// Detach a disk (its vdev, e.g. xvdb, or its number).
    BlockDetach {
        /// Force.
        #[arg(long)]
        force: bool,
        domain: String,
        device: String,
    },
    /// List the disks of domains.
    BlockList { domains: Vec<String> },
    /// Attach a network interface to a running domain.
    NetworkAttach {
        domain: String,
        /// A vif spec (xl-network-configuration).
        vif_spec: Vec<String>,
    },
    /// Detach a network interface (its number or MAC).
    NetworkDetach { domain: String, device: String },
    /// List the network interfaces of domains.
    NetworkList { domains: Vec<String> },
    /// Print the ID of the domain called NAME.
    Domid { name: String },
    /// Print the name of domain ID.
    Domname { id: String },
    /// Print how long domains have been up.
    Uptime {
        /// Short form.
        #[arg(short = 's')]
        short: bool,
        domains: Vec<String>,
    },
    /// The monitor `create` starts for each domain (configuration as JSON on stdin).
    #[command(hide = true)]
    Monitor { domid: u16 },
    /// Print a completion script for SHELL.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.verb {
        Verb::Create {
            paused,
            console,
            no_monitor,
            foreground,
            dry_run,
            print_cfg,
            quiet,
            verbose,
            file,
            args,
        } => ops::create(
            ops::CreateOpts {
                dry_run,
                print_cfg,
                paused,
                console,
                monitor: match (no_monitor, foreground) {
                    (true, _) => ops::Monitor::None,
                    (false, true) => ops::Monitor::Foreground,
                    (false, false) => ops::Monitor::Background,
                },
                quiet,
                verbose,
            },
            file,
            args,
        ),
        Verb::List {
            long,
            json,
            domains,
        } => ops::list(long || json, &domains),
        Verb::Info => ops::info(),
        Verb::Dmesg { clear } => ops::dmesg(clear),
        Verb::Destroy { domain, .. } => ops::destroy(&domain),
        Verb::Pause { domain } => ops::pause(&domain, true),
        Verb::Unpause { domain } => ops::pause(&domain, false),
        Verb::Rename { domain, new_name } => ops::rename(&domain, &new_name),
        Verb::VcpuList { domains } => ops::vcpu_list(&domains),
        Verb::MemMax { domain, mem } => ops::mem_max(&domain, &mem),
        Verb::Domid { name } => ops::domid(&name),
        Verb::Domname { id } => ops::domname(&id),
        Verb::Uptime { short, domains } => ops::uptime(short, &domains),
        Verb::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "fxl", &mut std::io::stdout());
            Ok(())
        }
        Verb::Console { ty, num, domain } => console::console(&domain, ty.as_deref(), num),
        Verb::Monitor { domid } => monitor::run(domid),
        Verb::Shutdown {
            all, wait, domain, ..
        } => ops::shutdown(domain.as_deref(), all, wait, false),
        Verb::Reboot {
            all, wait, domain, ..
        } => ops::shutdown(domain.as_deref(), all, wait, true),
        Verb::VcpuPin {
            domain,
            vcpu,
            cpus_hard,
            cpus_soft,
        } => ops::vcpu_pin(&domain, &vcpu, &cpus_hard, cpus_soft.as_deref()),
        Verb::VcpuSet {
            ignore_host,
            domain,
            vcpus,
        } => device::vcpu_set(&domain, vcpus, ignore_host),
        Verb::MemSet { domain, mem } => ops::mem_set(&domain, &mem),
        Verb::BlockAttach { domain, disk_spec } => device::block_attach(&domain, &disk_spec),
        Verb::BlockDetach {
            force,
            domain,
            device,
        } => device::block_detach(&domain, &device, force),
        Verb::BlockList { domains } => ops::block_list(&domains),
        Verb::NetworkAttach { domain, vif_spec } => device::network_attach(&domain, &vif_spec),
        Verb::NetworkDetach { domain, device } => device::network_detach(&domain, &device),
        Verb::NetworkList { domains } => device::network_list(&domains),
    }
}

fn main() -> ExitCode {
    // Usage errors exit with 2, as xl's; --help and --version with 0.
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fxl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cli_verbs_have_xl_names() {
        let c = Cli::command();
        let names: Vec<&str> = c.get_subcommands().map(|s| s.get_name()).collect();
        for v in [
            "create",
            "list",
            "info",
            "dmesg",
            "console",
            "destroy",
            "shutdown",
            "reboot",
            "pause",
            "unpause",
            "rename",
            "vcpu-list",
            "vcpu-pin",
            "vcpu-set",
            "mem-set",
            "mem-max",
            "block-attach",
            "block-detach",
            "block-list",
            "network-attach",
            "network-detach",
            "network-list",
            "domid",
            "domname",
            "uptime",
            "completion",
        ] {
            assert!(names.contains(&v), "{v} missing");
        }
    }

    #[test]
    fn cli_create_monitor_flags() {
        let cli = Cli::try_parse_from(["fxl", "create", "-e", "-c", "g.cfg"]).expect("parses");
        assert!(matches!(
            cli.verb,
            Verb::Create {
                no_monitor: true,
                console: true,
                ..
            }
        ));
        let e = Cli::try_parse_from(["fxl", "create", "-e", "-F", "g.cfg"]).expect_err("both");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn cli_monitor_is_hidden() {
        let c = Cli::command();
        let m = c
            .get_subcommands()
            .find(|s| s.get_name() == "monitor")
            .expect("monitor verb");
        assert!(m.is_hide_set());
    }

    #[test]
    fn cli_bad_usage_is_exit_2() {
        let e = Cli::try_parse_from(["fxl", "pause"]).expect_err("missing domain");
        assert_eq!(e.exit_code(), 2);
    }
}
