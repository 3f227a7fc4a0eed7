//! `cargo xtask bench pv`: the side-by-side PV benchmark. The `bench` test guest runs as the
//! initial domain on Ferrite and on Debian's Xen 4.17 under the same QEMU (TCG, one CPU),
//! several times each; every figure (TSC cycles per operation, on the same machine) is the
//! median of the runs, printed with its Ferrite/Xen ratio.

use crate::iso::{IsoSpec, Module};
use crate::qemu::{run_captured, Machine};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::time::Duration;

/// Xen's command line for one test guest as its initial domain (shared with the tests).
pub const XEN_CMDLINE: &str =
    "console=com1 com1=115200,8n1 dom0_mem=64M dom0_max_vcpus=1 loglvl=all guest_loglvl=all";

/// Runs per hypervisor.
const RUNS: usize = 3;

/// The `bench: <name> <cycles>` figures in a serial log.
pub fn parse(log: &str) -> BTreeMap<String, u64> {
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find("bench: ")? + 7..];
            let mut it = rest.split_whitespace();
            let name = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((name.to_string(), v))
        })
        .collect()
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn boot(
    name: &str,
    hv: std::path::PathBuf,
    cmdline: &str,
    guest: &std::path::Path,
) -> Result<String> {
    let dir = crate::target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let iso = dir.join(format!("{name}.iso"));
    crate::iso::build(
        &IsoSpec {
            hypervisor: hv,
            cmdline: cmdline.into(),
            modules: vec![Module {
                path: guest.into(),
                cmdline: String::new(),
            }],
        },
        &iso,
    )?;
    let m = Machine {
        iso,
        smp: 1,
        mem_mib: 256,
        no_reboot: true,
    };
    let out = run_captured(
        &m,
        &dir.join(format!("{name}.serial")),
        Duration::from_secs(240),
        false,
        &|l| l.contains("Test result:") || l.starts_with("PANIC:"),
    )?;
    if !out.log.contains("Test result: SUCCESS") {
        bail!(
            "{name}: the bench guest did not succeed (log in {})",
            dir.join(format!("{name}.serial")).display()
        );
    }
    Ok(out.log)
}

/// Builds everything, runs the bench guest on both hypervisors and prints the table.
pub fn run() -> Result<()> {
    crate::tools::ensure(crate::tools::BOOT_TOOLS)?;
    crate::tools::ensure(crate::tools::XEN_TOOLS)?;
    let ferrite = crate::build::hypervisor()?;
    let guest = crate::build::guests()?.join("bench");
    let xen = crate::build::xen().context("Debian's Xen 4.17 (xen-hypervisor-4.17-amd64)")?;
    let mut figures: BTreeMap<String, (Vec<u64>, Vec<u64>)> = BTreeMap::new();
    for run in 0..RUNS {
        eprintln!("xtask: bench run {} of {RUNS} (Ferrite, then Xen)", run + 1);
        let f = parse(&boot(
            &format!("pv_ferrite_{run}"),
            ferrite.clone(),
            "",
            &guest,
        )?);
        let x = parse(&boot(
            &format!("pv_xen_{run}"),
            xen.clone(),
            XEN_CMDLINE,
            &guest,
        )?);
        for (k, v) in f {
            figures.entry(k).or_default().0.push(v);
        }
        for (k, v) in x {
            figures.entry(k).or_default().1.push(v);
        }
    }
    println!("PV operations, TSC cycles per operation (median of {RUNS} runs, QEMU TCG, 1 CPU)");
    println!(
        "{:<20} {:>12} {:>12} {:>14}",
        "operation", "Ferrite", "Xen 4.17", "Ferrite/Xen"
    );
    for (name, (f, x)) in figures {
        let (f, x) = (median(f), median(x));
        let ratio = if x == 0 {
            "-".to_string()
        } else {
            format!("{:.2}", f as f64 / x as f64)
        };
        println!("{name:<20} {f:>12} {x:>12} {ratio:>14}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bench_lines_from_either_console() {
        let log = "(d0) bench: null_hypercall 1234\nbench: grant_copy_4k 99 extra\nnoise bench:\n";
        let p = parse(log);
        assert_eq!(p.get("null_hypercall"), Some(&1234));
        assert_eq!(p.get("grant_copy_4k"), Some(&99));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![5, 1, 3]), 3);
        assert_eq!(median(vec![4, 1]), 4);
        assert_eq!(median(vec![]), 0);
    }
}
