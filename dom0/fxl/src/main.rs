//! `fxl`: Ferrite's dom0 toolstack CLI, with `xl`'s verbs, options, config files and exit codes
//! (docs/fxl.md).
#![forbid(unsafe_code)]

mod build;
mod cfg;
mod config;
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
    /// Attach to a domain's PV console (not implemented yet).
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
    /// Set the number of online vCPUs (not implemented yet).
    VcpuSet { domain: String, vcpus: u32 },
    /// Set a domain's memory target, which its balloon driver follows (MEM: a number with an
    /// optional unit b, k, m (default), g, t).
    MemSet { domain: String, mem: String },
    /// Set a domain's maximum memory (MEM: a number with an optional unit b, k, m (default), g, t).
    MemMax { domain: String, mem: String },
    /// Attach a disk to a domain (not implemented yet).
    BlockAttach {
        domain: String,
        /// A disk spec (xl-disk-configuration).
        disk_spec: Vec<String>,
    },
    /// Detach a disk (not implemented yet).
    BlockDetach {
        /// Force.
        #[arg(long)]
        force: bool,
        domain: String,
        device: String,
    },
    /// List the disks of domains.
    BlockList { domains: Vec<String> },
    /// Attach a network interface (not implemented yet).
    NetworkAttach {
        domain: String,
        /// A vif spec (xl-network-configuration).
        vif_spec: Vec<String>,
    },
    /// Detach a network interface (not implemented yet).
    NetworkDetach { domain: String, device: String },
    /// List a domain's network interfaces (not implemented yet).
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
    /// Print a completion script for SHELL.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn not_implemented(verb: &str) -> anyhow::Result<()> {
    anyhow::bail!("{verb}: not implemented yet in fxl (see docs/fxl.md)")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.verb {
        Verb::Create {
            paused,
            console,
            dry_run,
            print_cfg,
            quiet,
            verbose,
            file,
            args,
        } => {
            if console && !dry_run {
                eprintln!("fxl: create -c: attaching to the console is not implemented yet; use xl console");
            }
            ops::create(
                ops::CreateOpts {
                    dry_run,
                    print_cfg,
                    paused,
                    quiet,
                    verbose,
                },
                file,
                args,
            )
        }
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
        Verb::Console { .. } => not_implemented("console"),
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
        Verb::VcpuSet { .. } => not_implemented("vcpu-set"),
        Verb::MemSet { domain, mem } => ops::mem_set(&domain, &mem),
        Verb::BlockAttach { .. } => not_implemented("block-attach"),
        Verb::BlockDetach { .. } => not_implemented("block-detach"),
        Verb::BlockList { domains } => ops::block_list(&domains),
        Verb::NetworkAttach { .. } => not_implemented("network-attach"),
        Verb::NetworkDetach { .. } => not_implemented("network-detach"),
        Verb::NetworkList { .. } => not_implemented("network-list"),
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
    fn cli_unimplemented_verb_fails() {
        let cli = Cli::try_parse_from(["fxl", "network-list", "d"]).expect("parses");
        let e = run(cli).expect_err("not implemented");
        assert!(e.to_string().contains("network-list: not implemented yet"));
    }

    #[test]
    fn cli_bad_usage_is_exit_2() {
        let e = Cli::try_parse_from(["fxl", "pause"]).expect_err("missing domain");
        assert_eq!(e.exit_code(), 2);
    }
}
