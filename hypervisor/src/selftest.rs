//! `selftest=` on the hypervisor command line: checks run at the end of boot whose outcome ends
//! the QEMU run through `isa-debug-exit`, so integration tests judge by exit code and log.
//!
//! | value | what happens | exit |
//! |---|---|---|
//! | `boot` | timer ticks, one-shot timer, every CPU online, frame allocator and heap round trips | success (33) or failure (35) |
//! | `ud` | `ud2` | exception dump, vector 6 (39) |
//! | `pf` | read of an unmapped hypervisor address | exception dump, vector 14 (39) |
//! | `wx` | write to the hypervisor's text | exception dump, vector 14, error code P\|W (39) |
//! | `nx` | jump into read-only data | exception dump, vector 14, error code P\|I (39) |
//! | `panic` | `panic!` | `PANIC:` line (37) |

use crate::arch::x86_64::{apic, cpu, exit, faults, percpu, smp, tsc};
use core::sync::atomic::Ordering;

/// An address in L4 slot 257, reserved and never mapped.
pub const UNMAPPED_VA: u64 = 0xffff_8080_0000_1000;

/// Runs the self-test named on the command line, if any. Returns only when none was asked for.
pub fn run(name: Option<&str>, expected_cpus: usize) {
    let Some(name) = name else { return };
    log::info!("selftest {name}: starting");
    match name {
        "boot" => {
            let ok = boot_checks(expected_cpus);
            finish(ok, name);
        }
        "ud" => faults::invalid_opcode(),
        "pf" => {
            let v = faults::read_unmapped(UNMAPPED_VA);
            log::error!(
                "selftest pf: read of {UNMAPPED_VA:#x} returned {v:#x} instead of faulting"
            );
            finish(false, name);
        }
        "wx" => {
            faults::write_text();
            log::error!("selftest wx: writing the hypervisor's text did not fault");
            finish(false, name);
        }
        "nx" => {
            faults::execute_data();
            log::error!("selftest nx: executing data did not fault");
            finish(false, name);
        }
        "panic" => panic!("selftest panic requested on the command line"),
        other => {
            log::error!("selftest: unknown test '{other}' (known: boot, ud, pf, wx, nx, panic)");
            finish(false, other);
        }
    }
}

fn finish(ok: bool, name: &str) -> ! {
    if ok {
        log::info!("selftest {name}: PASS");
        exit::debug_exit(exit::ExitCode::Success);
    } else {
        log::error!("selftest {name}: FAIL");
        exit::debug_exit(exit::ExitCode::Failure);
    }
    cpu::halt_forever()
}

fn wait_until(ns: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tsc::uptime_ns() + ns;
    while tsc::uptime_ns() < deadline {
        if cond() {
            return true;
        }
        cpu::enable_interrupts();
        cpu::pause();
    }
    cond()
}

fn boot_checks(expected_cpus: usize) -> bool {
    let mut ok = true;
    let Some(me) = percpu::this_cpu() else {
        log::error!("selftest boot: the boot CPU is not on its per-CPU stack");
        return false;
    };
    // Periodic timer: ticks keep arriving.
    let start = me.timer_ticks.load(Ordering::Relaxed);
    let t0 = tsc::uptime_ns();
    let ticked = wait_until(5_000_000_000, || {
        me.timer_ticks.load(Ordering::Relaxed) >= start + 10
    });
    let took_ms = (tsc::uptime_ns() - t0) / 1_000_000;
    log::info!(
        "timer: {} periodic ticks in {} ms",
        me.timer_ticks.load(Ordering::Relaxed) - start,
        took_ms
    );
    if !ticked {
        log::error!("selftest boot: periodic timer did not tick 10 times in 5 s");
        ok = false;
    }
    // One-shot timer: exactly one expiry.
    let before = me.oneshot_fired.load(Ordering::Relaxed);
    apic::start_oneshot(20_000);
    let fired = wait_until(2_000_000_000, || {
        me.oneshot_fired.load(Ordering::Relaxed) > before
    });
    // Give a wrongly periodic timer the chance to fire again.
    let settle = tsc::uptime_ns() + 100_000_000;
    while tsc::uptime_ns() < settle {
        cpu::pause();
    }
    let shots = me.oneshot_fired.load(Ordering::Relaxed) - before;
    log::info!("timer: one-shot fired {shots} time(s)");
    if !fired || shots != 1 {
        log::error!("selftest boot: one-shot timer fired {shots} times, expected 1");
        ok = false;
    }
    apic::start_periodic(100);
    // CPUs.
    if smp::online() != expected_cpus {
        log::error!(
            "selftest boot: {} CPUs online, firmware lists {}",
            smp::online(),
            expected_cpus
        );
        ok = false;
    }
    // Frame allocator round trip.
    let free = crate::mm::free_frames();
    match crate::mm::alloc_frame() {
        Some(mfn) => {
            let again = crate::mm::free_frame(mfn).is_ok() && crate::mm::free_frame(mfn).is_err();
            if !again || crate::mm::free_frames() != free {
                log::error!(
                    "selftest boot: frame {:#x} did not round-trip through the allocator",
                    mfn.maddr()
                );
                ok = false;
            }
        }
        None => {
            log::error!("selftest boot: no free frame");
            ok = false;
        }
    }
    // Boot modules and the boot information must never be handed out.
    let info = crate::boot::entry::boot_info();
    let kept = info
        .modules
        .iter()
        .map(|m| m.range)
        .chain([info.mbi, crate::mm::image_range()]);
    for r in kept {
        let mut mfn = r.start.mfn();
        while mfn.maddr() < r.end {
            if crate::mm::frame_is_free(mfn) {
                log::error!(
                    "selftest boot: frame {:#x} of reserved range {:#x}-{:#x} is free",
                    mfn.maddr(),
                    r.start,
                    r.end
                );
                ok = false;
                break;
            }
            mfn = mfn + 1;
        }
    }
    log::info!(
        "memory: {} module(s), the boot information and the image are excluded from the allocator",
        info.modules.len()
    );
    // Heap: a hash map of a thousand entries.
    let mut map = hashbrown::HashMap::new();
    for i in 0u64..1000 {
        map.insert(i, i * i);
    }
    if (0u64..1000).any(|i| map.get(&i) != Some(&(i * i))) {
        log::error!("selftest boot: heap-backed map lost entries");
        ok = false;
    }
    ok
}
