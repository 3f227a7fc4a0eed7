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
    hello, version, traps, cpuid, multicall, memop, badcalls, badframe, debugreg, usermode,
    pvclock, timer, events, vcpuinfo, ioport, runstate, pagetables, gdt, balloon, xsave, grants,
    fpuswitch, ptwr, ldt, exchange, staletlb, platform, nmi, mca, fifo, grantv2, linearpt, xsa,
    control
);

/// `pv-linear-pt=0` on the hypervisor's command line: the linearpt guest (told `nolinear`)
/// finds every linear entry refused with -EINVAL, and ordinary entries still working.
fn linear_pt_off(xen: bool) -> Result<()> {
    let name = if xen {
        "linearpt_off_xen"
    } else {
        "linearpt_off_ferrite_smp1"
    };
    let mut b = Boot::new(name)
        .cmdline("pv-linear-pt=0")
        .module(guest("linearpt")?, "nolinear");
    if xen {
        b = b.on_xen();
    }
    let run = b.run()?;
    run.line("linearpt: pv-linear-pt=0 mode")?;
    run.line("Test result: SUCCESS")?;
    if !xen {
        run.line("pv-linear-pt=0: linear page tables refused")?;
        run.expect_exit(EXIT_SUCCESS)?;
    }
    Ok(())
}

#[test]
fn linear_page_tables_refused_with_pv_linear_pt_0_ferrite() -> Result<()> {
    linear_pt_off(false)
}

#[test]
fn linear_page_tables_refused_with_pv_linear_pt_0_xen() -> Result<()> {
    linear_pt_off(true)
}

/// `SCHEDOP_watchdog` firing: the timer guest (told `watchdog`) keeps a 2 s watchdog alive for
/// 3 s, then stops kicking it; the watchdog shuts the initial domain down with
/// `SHUTDOWN_watchdog` (on Ferrite the machine ends as after its crash, Xen reboots).
fn watchdog_fires(xen: bool) -> Result<()> {
    let name = if xen {
        "watchdog_xen"
    } else {
        "watchdog_ferrite_smp1"
    };
    let mut b = Boot::new(name).module(guest("timer")?, "watchdog");
    if xen {
        b = b.on_xen();
    }
    let run = b.run()?;
    run.line("watchdog: kicked for 3 s, alive; no more kicks")?;
    anyhow::ensure!(
        !run.log.contains("Test result:"),
        "the watchdog did not end the domain\n{}",
        run.tail()
    );
    if xen {
        run.line("Watchdog timer fired for domain 0")?;
        run.line("Hardware Dom0 shutdown: watchdog")?;
    } else {
        run.line("Watchdog timer 1 fired for d0")?;
        run.line("d0: shutdown: Watchdog")?;
        // `ExitCode::GuestCrash` (0x15) through QEMU's debug-exit device.
        run.expect_exit(0x15 << 1 | 1)?;
    }
    Ok(())
}

#[test]
fn an_unkicked_watchdog_shuts_the_domain_down_ferrite() -> Result<()> {
    watchdog_fires(false)
}

#[test]
fn an_unkicked_watchdog_shuts_the_domain_down_xen() -> Result<()> {
    watchdog_fires(true)
}

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

/// What `fatal_exception` prints when the hypervisor itself faults.
const FATAL_EXCEPTION: &str = "*** FATAL EXCEPTION";

/// hcfuzz (a domU issuing random hypercalls, `seed` reproducing the sequence) beside
/// fuzzwatch (domain 0 checking its memory and answering events the whole time): no
/// hypervisor panic or fatal exception, domain 0 unharmed, the machine powered off by it
/// (Ferrite only, as above). The fuzzer may crash itself; the log says how far it got.
/// `HCFUZZ_TRACE=N` makes the fuzzer print every call from call N on.
pub fn hcfuzz(seed: u64, seconds: u64, smp: u32) -> Result<u64> {
    hcfuzz_run(seed, seconds, smp, false)
}

/// [`hcfuzz`]; with `restarts`, a fuzzer that crashed itself (a callback it registered at a
/// junk address, say: allowed, as on Xen) is rebuilt and fuzzes on with a fresh seed (printed),
/// so a soak keeps fuzzing for its whole time.
fn hcfuzz_run(seed: u64, seconds: u64, smp: u32, restarts: bool) -> Result<u64> {
    let trace = std::env::var("HCFUZZ_TRACE")
        .map(|n| format!(" trace={n}"))
        .unwrap_or_default();
    let (restart, reseed) = if restarts {
        (" restarts=1000", " reseed")
    } else {
        ("", "")
    };
    let run = Boot::new(&format!("hcfuzz_seed{seed}_smp{smp}"))
        .smp(smp)
        .timeout(std::time::Duration::from_secs(seconds + 60))
        .module(guest("fuzzwatch")?, &format!("seconds={seconds}"))
        .module(
            guest("hcfuzz")?,
            &format!(
                "domu name=hcfuzz memory=16{restart} -- seed={seed} seconds={seconds}\
                 {reseed}{trace}"
            ),
        )
        .run()?;
    anyhow::ensure!(
        !run.log.contains(FATAL_EXCEPTION),
        "hcfuzz seed {seed}: the hypervisor took a fatal exception\n{}",
        run.tail()
    );
    anyhow::ensure!(
        !run.log.contains("PANIC"),
        "hcfuzz seed {seed}: the hypervisor panicked\n{}",
        run.tail()
    );
    if restarts {
        // Each generation prints the seed it mixed from the TSC.
        run.line("(d1) hcfuzz: seed=")?;
    } else {
        run.line(&format!("(d1) hcfuzz: seed={seed} seconds={seconds}"))?;
    }
    run.line("hcfuzz: 1000 calls done")?;
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    let calls = hcfuzz_calls(&run.log, false);
    let generations = run.log.matches("hcfuzz: seed=").count();
    let from = |what: &str| {
        run.log
            .lines()
            .find_map(|l| l.split_once(what).map(|(_, n)| n.trim().to_string()))
            .unwrap_or_else(|| "-".into())
    };
    eprintln!(
        "hcfuzz seed {seed} smp {smp}: at least {calls} calls in {generations} generation(s); \
         FIFO events from call {}, grant table v2 from call {}",
        from("FIFO event channels from call"),
        from("grant table v2 from call")
    );
    Ok(calls)
}

#[test]
fn hypercall_fuzzer_leaves_dom0_and_hypervisor_intact_smp2() -> Result<()> {
    let seeds = std::env::var("HCFUZZ_SEED").map_or(vec![1, 2], |s| {
        s.split(',').filter_map(|x| x.parse().ok()).collect()
    });
    for seed in seeds {
        hcfuzz(seed, 12, 2)?;
    }
    Ok(())
}

/// The calls the fuzzer's generations made, from their last `N calls done` line each (and,
/// with `steps`, their `#N` lines: the hostile mode logs its steps by number). A plain run's
/// `#N` lines are left out: a generation that re-entered its own start through a callback it
/// registered there (allowed) prints its clobbered counter.
fn hcfuzz_calls(log: &str, steps: bool) -> u64 {
    let mut last: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for line in log.lines() {
        let Some((dom, rest)) = line.split_once(") hcfuzz: ") else {
            continue;
        };
        let n = if let Some(r) = rest.strip_prefix('#').filter(|_| steps) {
            r.split(' ').next().and_then(|n| n.parse().ok())
        } else {
            rest.strip_suffix(" calls done")
                .and_then(|n| n.parse().ok())
        };
        if let Some(n) = n {
            let e = last.entry(dom).or_default();
            *e = (*e).max(n);
        }
    }
    last.values().sum()
}

/// hcfuzz in its `hostile` mode (it also returns with chosen frames, starts vCPU 1 with a chosen
/// context, installs handlers and callbacks at chosen addresses and then faults or takes events),
/// rebuilt after each death (`restarts`), each generation reseeded from the TSC, beside
/// fuzzwatch: the same verdict as [`hcfuzz`]. Returns (generations, hostile steps, calls).
pub fn hcfuzz_hostile(seed: u64, seconds: u64, restarts: u32) -> Result<(usize, usize, u64)> {
    let run = Boot::new(&format!("hcfuzz_hostile_seed{seed}"))
        .smp(2)
        .timeout(std::time::Duration::from_secs(seconds + 90))
        .module(guest("fuzzwatch")?, &format!("seconds={seconds}"))
        .module(
            guest("hcfuzz")?,
            &format!(
                "domu name=hcfuzz memory=16 vcpus=2 restarts={restarts} -- \
                 hostile reseed seed={seed} seconds={seconds}"
            ),
        )
        .run()?;
    anyhow::ensure!(
        !run.log.contains(FATAL_EXCEPTION) && !run.log.contains("PANIC"),
        "hcfuzz hostile seed {seed}: the hypervisor failed\n{}",
        run.tail()
    );
    let generations = run.log.matches("hcfuzz: seed=").count();
    let steps = run.log.matches(" hostile ").count();
    let calls = hcfuzz_calls(&run.log, true);
    // Generations ended by a watchdog: the stall guard (one stuck in code of its own
    // choosing), or one a fuzzed SCHEDOP_watchdog armed (a short timeout kills it soon).
    let watchdogs = run.log.matches("Watchdog timer").count();
    eprintln!(
        "hcfuzz hostile seed {seed}: {generations} generations, {steps} hostile steps, \
         at least {calls} calls, {watchdogs} ended by a watchdog"
    );
    anyhow::ensure!(
        generations >= 2 && steps >= 10,
        "hcfuzz hostile seed {seed}: only {generations} generations and {steps} hostile steps"
    );
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok((generations, steps, calls))
}

#[test]
fn hostile_hypercall_fuzzer_is_crashed_and_rebuilt_while_dom0_and_hypervisor_stay_intact(
) -> Result<()> {
    let seed = std::env::var("HCFUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    hcfuzz_hostile(seed, 15, 400).map(|_| ())
}

/// The hostile soak: `HCFUZZ_SEEDS` seeds (default 10) of `HCFUZZ_SECONDS` (default 30) from
/// `HCFUZZ_FIRST_SEED` (default 2000); prints the generations, hostile steps and calls in all.
#[test]
#[ignore = "a soak of several minutes"]
fn hcfuzz_hostile_soak() -> Result<()> {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let first = env("HCFUZZ_FIRST_SEED", 2000);
    let seconds = env("HCFUZZ_SECONDS", 30);
    let (mut generations, mut steps, mut calls) = (0, 0, 0);
    let mut failed = Vec::new();
    for seed in first..first + env("HCFUZZ_SEEDS", 10) {
        match hcfuzz_hostile(seed, seconds, 2000) {
            Ok((g, s, c)) => {
                generations += g;
                steps += s;
                calls += c;
            }
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    eprintln!(
        "hcfuzz hostile soak: {generations} generations, {steps} hostile steps, {calls} calls"
    );
    anyhow::ensure!(failed.is_empty(), "{}", failed.join("\n\n"));
    Ok(())
}

/// The soak: `HCFUZZ_SEEDS` seeds (default 20) of `HCFUZZ_SECONDS` (default 15) each, from
/// `HCFUZZ_FIRST_SEED` (default 1000), at `-smp HCFUZZ_SMP` (default 2), the fuzzer rebuilt
/// (reseeded) whenever it kills itself; prints each seed's calls and the total. `cargo test -p tests --test pv hcfuzz_soak -- --ignored --nocapture`.
#[test]
#[ignore = "a soak of several minutes"]
fn hcfuzz_soak() -> Result<()> {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let first = env("HCFUZZ_FIRST_SEED", 1000);
    let seconds = env("HCFUZZ_SECONDS", 15);
    let smp = env("HCFUZZ_SMP", 2) as u32;
    let mut calls = 0;
    let mut failed = Vec::new();
    for seed in first..first + env("HCFUZZ_SEEDS", 20) {
        match hcfuzz_run(seed, seconds, smp, true) {
            Ok(c) => calls += c,
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    eprintln!("hcfuzz soak (smp {smp}): {calls} calls in all");
    anyhow::ensure!(failed.is_empty(), "{}", failed.join("\n\n"));
    Ok(())
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
    run.expect_both_succeeded()?;
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
    run.expect_both_succeeded()?;
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

/// The first and last numbers after `free frames ` in a hypervisor log line
/// (`free frames N (before build M)`, or just `free frames N`).
fn free_frames_in(line: &str) -> Option<(u64, u64)> {
    let after = line.split("free frames ").nth(1)?;
    let nums: Vec<u64> = after
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    Some((*nums.first()?, *nums.last()?))
}

/// A domU (the grants guest, leaving a grant of its own mapped) is destroyed and rebuilt 100
/// times; after the last destruction the free-frame count is what it was before the first
/// build (Ferrite only, as above).
#[test]
fn domu_create_and_destroy_100_times_returns_every_frame() -> Result<()> {
    // dom0 keeps one vCPU so that the domU generations run on the other pCPU: dom0 watches
    // each one come and go by polling, and a generation that lives 30 ms on the pCPU dom0 shares
    // can be gone before dom0 polls again (it waited forever for d101 once, with the default of
    // one dom0 vCPU per pCPU placing the domU beside dom0's vCPU 0).
    let run = Boot::new("restarts")
        .smp(2)
        .cmdline("dom0_max_vcpus=1")
        .timeout(std::time::Duration::from_secs(400))
        .module(guest("restarts")?, "")
        .module(
            guest("grants")?,
            "domu name=again memory=8 restarts=100 -- leave-mapped",
        )
        .run()?;
    run.line("(d1) Test result: SUCCESS")?;
    run.line("(d101) Test result: SUCCESS")?;
    run.line("d100: 'again' restarted as d101 (0 restart(s) left)")?;
    let first = run.line("d1: destroyed: ")?;
    let last = run.line("d101: destroyed: ")?;
    let (now, before) = free_frames_in(last).ok_or_else(|| anyhow::anyhow!("no counts: {last}"))?;
    anyhow::ensure!(
        now == before,
        "free frames {now} after 100 restarts, {before} before"
    );
    let (now1, before1) =
        free_frames_in(first).ok_or_else(|| anyhow::anyhow!("no counts: {first}"))?;
    anyhow::ensure!(now1 == before1, "first destruction: {first}");
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
}

/// A domU that leaves linear page tables in place when it powers off (its L4 mapping itself,
/// an L4 entry to another L4, an L2 entry to an L2 that entry alone holds) is destroyed and
/// rebuilt 10 times; every destruction gives back every frame (Ferrite only, as above).
#[test]
fn domu_with_linear_page_tables_left_in_place_returns_every_frame() -> Result<()> {
    let run = Boot::new("linearpt_restarts")
        .smp(2)
        .cmdline("dom0_max_vcpus=1")
        .module(guest("restarts")?, "last=11")
        .module(
            guest("linearpt")?,
            "domu name=linear memory=16 restarts=10 -- leave",
        )
        .run()?;
    run.line("(d1) linearpt: leaving the linear entries in place")?;
    run.line("(d1) Test result: SUCCESS")?;
    run.line("(d11) Test result: SUCCESS")?;
    for id in [1, 11] {
        let line = run.line(&format!("d{id}: destroyed: "))?;
        let (now, before) =
            free_frames_in(line).ok_or_else(|| anyhow::anyhow!("no counts: {line}"))?;
        anyhow::ensure!(now == before, "d{id}: {line}");
    }
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
}

/// A domU dies while domain 0 maps its granted page: its event channel closes (domain 0's
/// port falls back to unbound), the page stays mapped with its contents, and at domain 0's
/// unmap the page and the dead domain's grant table go back to the allocator, the free-frame
/// count back to its value before the domU was built (Ferrite only, as above).
#[test]
fn domain_destroyed_while_its_grant_is_mapped_elsewhere() -> Result<()> {
    let run = Boot::new("grantdeath")
        .smp(2)
        .module(guest("grantdeath")?, "")
        .module(
            guest("grantdeath")?,
            "domu name=granter memory=8 -- granter",
        )
        .run()?;
    run.line("(d1) Test result: SUCCESS")?;
    let destroyed = run.line("d1: destroyed: ")?;
    anyhow::ensure!(
        destroyed.contains("1 still mapped by other domains"),
        "the granted frame is kept: {destroyed}"
    );
    run.line("d1: grant table kept for 1 frame(s) still mapped by other domains")?;
    run.line("d1: grant table released at the last unmap of its grants")?;
    let freed = run.line("frame(s) of dead domains freed after their last mapping")?;
    let (_, before) =
        free_frames_in(destroyed).ok_or_else(|| anyhow::anyhow!("no counts: {destroyed}"))?;
    let (now, _) = free_frames_in(freed).ok_or_else(|| anyhow::anyhow!("no counts: {freed}"))?;
    anyhow::ensure!(
        now == before,
        "free frames {now} after the unmap, {before} before d1"
    );
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
}

/// A guest with two vCPUs on two CPUs (`dom0_max_vcpus=2`), on Ferrite or on Xen.
fn two_vcpu_guest(guest_name: &str, xen: bool) -> Result<()> {
    vcpus_guest(guest_name, xen, 2)
}

/// A dom0 guest with two vCPUs (`dom0_max_vcpus=2`) on `pcpus` CPUs, on Ferrite or Xen.
fn vcpus_guest(guest_name: &str, xen: bool, pcpus: u32) -> Result<()> {
    let name = if xen {
        format!("{guest_name}_xen")
    } else {
        format!("{guest_name}_ferrite_smp{pcpus}")
    };
    let mut b = Boot::new(&name)
        .smp(pcpus)
        .cmdline("dom0_max_vcpus=2")
        .module(guest(guest_name)?, "");
    if xen {
        b = b.on_xen();
    }
    let run = b.run()?;
    run.line("Test result: SUCCESS")?;
    if !xen {
        run.expect_exit(EXIT_SUCCESS)?;
    }
    Ok(())
}

/// The preempt guest: two vCPUs on one CPU, so that vCPU 1 runs during vCPU 0's long
/// hypercalls only if they make way (continuations); and the continuation encodings.
fn preempt_guest(xen: bool) -> Result<()> {
    vcpus_guest("preempt", xen, 1)
}

#[test]
fn preempt_guest_ferrite() -> Result<()> {
    preempt_guest(false)
}

#[test]
fn preempt_guest_xen() -> Result<()> {
    preempt_guest(true)
}

/// The races guest: two vCPUs racing through event-channel, page-type and grant operations,
/// and vCPU 1's first FPU state.
#[test]
fn races_guest_ferrite() -> Result<()> {
    two_vcpu_guest("races", false)
}

#[test]
fn races_guest_xen() -> Result<()> {
    two_vcpu_guest("races", true)
}

/// A guest's second vCPU: initialised, brought up, running beside the first and exchanging
/// IPIs over event channels, then taken down.
#[test]
fn smp_guest_ferrite() -> Result<()> {
    two_vcpu_guest("smp", false)
}

#[test]
fn smp_guest_xen() -> Result<()> {
    two_vcpu_guest("smp", true)
}

/// A read-only grant from a domU cannot be written by domain 0 through any path (Ferrite only,
/// as above).
#[test]
fn read_only_grant_cannot_be_written_through_any_path() -> Result<()> {
    let run = Boot::new("grantro_smp2")
        .smp(2)
        .module(guest("grantro")?, "")
        .module(guest("grantro")?, "domu name=granter memory=16 -- granter")
        .run()?;
    run.expect_both_succeeded()?;
    Ok(())
}

/// `platform_op` from a domU is -EPERM (the platform guest as a domU beside survivor; Ferrite
/// only, as above).
#[test]
fn platform_op_from_a_domu_is_refused() -> Result<()> {
    let run = Boot::new("platform_domu")
        .smp(2)
        .module(guest("survivor")?, "")
        .module(guest("platform")?, "domu name=platform memory=16")
        .run()?;
    // map shared_info, and the two refusals.
    run.line("(d1) Test result: SUCCESS (3 checks)")?;
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
}

/// A boot that hangs leaves evidence: when it times out the harness types Ctrl-] three times and
/// Ferrite prints what each CPU was running and every vCPU's scheduling and event state into
/// the log (hypervisor/src/debug.rs). Here consread waits for input that never comes.
#[test]
fn a_timed_out_boot_gets_the_hypervisors_state_dump() -> Result<()> {
    let r = Boot::new("dump_on_timeout")
        .smp(2)
        .module(guest("consread")?, "")
        .timeout(std::time::Duration::from_secs(20))
        .run();
    anyhow::ensure!(r.is_err(), "consread finished without input");
    let log = std::fs::read_to_string(
        xtask::target_dir()
            .join("test-logs")
            .join("dump_on_timeout.serial"),
    )?;
    for needle in [
        CONSREAD_PROMPT,
        "dump: CPU0:",
        "dump: CPU1:",
        "dump: d0 state Some(Running)",
        "dump:   v0 pcpu 0 up true",
    ] {
        anyhow::ensure!(log.contains(needle), "no '{needle}' in the log:\n{log}");
    }
    Ok(())
}

/// `sysctl` and `domctl` from a domU are -EPERM, after the version and domain checks (the
/// control guest as a domU beside survivor; Ferrite only, as above).
#[test]
fn control_from_a_domu_is_refused() -> Result<()> {
    let run = Boot::new("control_domu")
        .smp(2)
        .module(guest("survivor")?, "")
        .module(guest("control")?, "domu name=control memory=16")
        .run()?;
    run.line("(d1) Test result: SUCCESS (8 checks)")?;
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
}

/// `mca` from a domU is -EPERM (Ferrite only, as above).
#[test]
fn mca_from_a_domu_is_refused() -> Result<()> {
    let run = Boot::new("mca_domu")
        .smp(2)
        .module(guest("survivor")?, "")
        .module(guest("mca")?, "domu name=mca memory=16")
        .run()?;
    run.line("(d1) Test result: SUCCESS (1 checks)")?;
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
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
    run.expect_both_succeeded()?;
    Ok(())
}

/// badframe as a domU doing every bad frame, callback and trap table, then returning with a
/// null CS and no #GP handler, beside survivor as domain 0: only the domU dies, with the
/// hypervisor's log line, and domain 0 finishes (Ferrite only, as above).
fn bad_frames_beside(smp: u32) -> Result<()> {
    let run = Boot::new(&format!("bad_frames_beside_survivor_smp{smp}"))
        .smp(smp)
        .module(guest("survivor")?, "rounds=3000")
        .module(guest("badframe")?, "domu name=badframe memory=16 -- crash")
        .run()?;
    run.line("(d1) badframe: iret with a null CS and no trap table: this domain must crash")?;
    run.line("d1: domain crashed: unhandled exception: vector 13")?;
    anyhow::ensure!(
        !run.log.contains("(d1) Test result"),
        "the domU reported a verdict instead of crashing"
    );
    anyhow::ensure!(
        !run.log.contains(FATAL_EXCEPTION),
        "the hypervisor took a fatal exception"
    );
    run.line("(d0) Test result: SUCCESS")?;
    run.expect_exit(EXIT_SUCCESS)?;
    Ok(())
}

#[test]
fn bad_frames_of_a_domu_crash_only_it_smp1() -> Result<()> {
    bad_frames_beside(1)
}

#[test]
fn bad_frames_of_a_domu_crash_only_it_smp2() -> Result<()> {
    bad_frames_beside(2)
}
