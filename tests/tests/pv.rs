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

guest_tests!(
    hello, version, traps, cpuid, multicall, memop, badcalls, usermode, pvclock, timer, events,
    vcpuinfo, ioport, runstate, pagetables, gdt, balloon, xsave, grants
);

/// What the consread guest waits for, and what is typed then.
const CONSREAD_PROMPT: &str = "consread: waiting for console input";
const CONSREAD_INPUT: &[u8] = b"ferrite-input-42\n";

fn consread(hv_xen: bool, smp: u32) -> Result<()> {
    let name = if hv_xen {
        "consread_xen".to_string()
    } else {
        format!("consread_ferrite_smp{smp}")
    };
    let mut b = Boot::new(&name)
        .smp(smp)
        .module(guest("consread")?, "")
        .type_after(CONSREAD_PROMPT, CONSREAD_INPUT);
    if hv_xen {
        b = b.on_xen();
    }
    let run = b.run()?;
    run.line("Test result: SUCCESS")?;
    if !hv_xen {
        run.expect_exit(EXIT_SUCCESS)?;
    }
    Ok(())
}

/// Serial input reaches the initial domain through `VIRQ_CONSOLE` and `CONSOLEIO_read` (the
/// harness types a line when the guest asks).
#[test]
fn console_input_ferrite_smp1() -> Result<()> {
    consread(false, 1)
}

#[test]
fn console_input_ferrite_smp2() -> Result<()> {
    consread(false, 2)
}

#[test]
fn console_input_xen() -> Result<()> {
    consread(true, 1)
}

/// A guest that crashes itself while a second guest keeps running and finishes (Ferrite only:
/// Xen 4.17 on x86 cannot start a second domain from a boot module).
fn crash_beside(smp: u32) -> Result<()> {
    let run = Boot::new(&format!("crash_beside_survivor_smp{smp}"))
        .smp(smp)
        .module(guest("survivor")?, "")
        .module(guest("crasher")?, "domu name=crasher memory=16")
        .run()?;
    run.line("(d1) crasher: about to fault with no handler")?;
    run.line("d1: domain crashed: unhandled exception: vector 14")?;
    anyhow::ensure!(
        !run.log.contains("still alive after an unhandled fault"),
        "the crasher survived its fault"
    );
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
}

#[test]
fn crash_of_one_guest_leaves_the_other_running_smp1() -> Result<()> {
    crash_beside(1)
}

#[test]
fn crash_of_one_guest_leaves_the_other_running_smp2() -> Result<()> {
    crash_beside(2)
}

/// `memory_op` as seen by an unprivileged domain: its own one-entry E820, no host map
/// (Ferrite only, as above).
#[test]
fn memop_as_domu() -> Result<()> {
    let run = Boot::new("memop_domu")
        .smp(2)
        .module(guest("survivor")?, "")
        .module(guest("memop")?, "domu name=memop memory=16")
        .run()?;
    run.line("(d1) Test result: SUCCESS")?;
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
}

/// Two domains exchange 10,000 event round trips over an interdomain channel (Ferrite only,
/// as above).
fn evping(smp: u32) -> Result<()> {
    let run = Boot::new(&format!("evping_smp{smp}"))
        .smp(smp)
        .timeout(std::time::Duration::from_secs(120))
        .module(guest("evping")?, "")
        .module(guest("evping")?, "domu name=client memory=16")
        .run()?;
    run.line("(d1) Test result: SUCCESS")?;
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
}

#[test]
fn interdomain_event_round_trips_smp1() -> Result<()> {
    evping(1)
}

#[test]
fn interdomain_event_round_trips_smp2() -> Result<()> {
    evping(2)
}

/// A domU's console ring is drained into the log by the hypervisor (Ferrite only, as above).
#[test]
fn domu_console_ring_is_drained_into_the_log() -> Result<()> {
    let run = Boot::new("domu_console_ring")
        .smp(2)
        .module(guest("survivor")?, "")
        .module(guest("ringcons")?, "domu name=ringcons memory=16")
        .run()?;
    run.line("(d1) ring console: hello from a domU through its console ring")?;
    run.line("(d1) ring console: second line, after the first was consumed")?;
    run.line("d1: shutdown: Poweroff")?;
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
}

/// Two domains share one CPU, each with its own pattern in the x87 stack, MXCSR and YMM
/// registers, and yield to each other hundreds of times; each checks its pattern after every
/// yield and that the other ran meanwhile, so state left behind by the other domain would show
/// (Ferrite only, as above).
#[test]
fn xsave_state_is_switched_between_domains_smp1() -> Result<()> {
    let run = Boot::new("xsave_two_domains_smp1")
        .smp(1)
        .module(guest("xsave")?, "peer seed=1 yield_ms=2500")
        .module(
            guest("xsave")?,
            "domu name=xsave2 memory=16 -- peer seed=2 yield_ms=500",
        )
        .run()?;
    run.line("(d1) Test result: SUCCESS")?;
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
}
