//! PV execution: each test guest from `tests/guests` runs as the initial domain on Ferrite
//! (`-smp 1` and `-smp 2`, judged by its `Test result:` line and QEMU's exit status) and on
//! Debian's Xen 4.17 (judged by its `Test result:` line), proving the test checks Xen's behaviour.

use anyhow::Result;
use tests::{guest, Boot, EXIT_SUCCESS};

fn on_ferrite(name: &str, smp: u32) -> Result<()> {
    let run = Boot::new(&format!("{name}_ferrite_smp{smp}"))
        .smp(smp)
        .module(guest(name)?, "")
        .run()?;
    run.line("Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
}

fn on_xen(name: &str) -> Result<()> {
    let run = Boot::new(&format!("{name}_xen"))
        .on_xen()
        .smp(1)
        .module(guest(name)?, "")
        .run()?;
    run.line("Test result: SUCCESS")?;
    Ok(())
}

macro_rules! guest_tests {
    ($($name:ident),* $(,)?) => {
        mod ferrite_smp1 {
            $(#[test] fn $name() -> anyhow::Result<()> { super::on_ferrite(stringify!($name), 1) })*
        }
        mod ferrite_smp2 {
            $(#[test] fn $name() -> anyhow::Result<()> { super::on_ferrite(stringify!($name), 2) })*
        }
        mod xen {
            $(#[test] fn $name() -> anyhow::Result<()> { super::on_xen(stringify!($name)) })*
        }
    };
}

guest_tests!(hello, version, traps, cpuid, multicall, memop, badcalls, usermode);
