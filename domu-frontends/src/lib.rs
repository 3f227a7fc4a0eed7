//! The safe side of Ferrite's PV guest runtime, shared by the test kernels in `tests/guests`:
//! console output, test reporting in XTF's format (`Test result: SUCCESS`), and shutdown.
#![no_std]
#![forbid(unsafe_code)]

pub use domu_sys as sys;
pub use xen_abi as abi;

use core::fmt::{self, Write};
use xen_abi::sched::ShutdownReason;

/// This CPU as CPUID names it: the vendor string and the display family, model and stepping
/// (the extended family added for family 0xf, the extended model for families 6 and 0xf),
/// read through the forced-emulation prefix.
pub fn cpu_signature() -> ([u8; 12], u32, u32, u32) {
    let v = sys::traps::fep_cpuid(0, 0);
    let mut vendor = [0u8; 12];
    vendor[..4].copy_from_slice(&v[1].to_le_bytes());
    vendor[4..8].copy_from_slice(&v[3].to_le_bytes());
    vendor[8..].copy_from_slice(&v[2].to_le_bytes());
    let eax = sys::traps::fep_cpuid(1, 0)[0];
    let base = (eax >> 8) & 0xf;
    let family = if base == 0xf {
        base + ((eax >> 20) & 0xff)
    } else {
        base
    };
    let model = if base == 6 || base == 0xf {
        ((eax >> 4) & 0xf) | (((eax >> 16) & 0xf) << 4)
    } else {
        (eax >> 4) & 0xf
    };
    (vendor, family, model, eax & 0xf)
}

/// Writes to the hypervisor console (`CONSOLEIO_write`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        sys::console_write(s.as_bytes());
        Ok(())
    }
}

/// Prints a formatted line on the console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::Console, $($arg)*);
    }};
}

/// A test's running verdict: every failed check is printed; `finish` reports and shuts down.
#[derive(Debug, Default)]
pub struct Test {
    failures: u32,
    checks: u32,
}

impl Test {
    /// A test with no checks yet.
    pub const fn new() -> Test {
        Test {
            failures: 0,
            checks: 0,
        }
    }

    /// Records a check; prints `FAIL: what` when it does not hold.
    /// The number of failed checks so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn check(&mut self, ok: bool, what: fmt::Arguments<'_>) -> bool {
        self.checks += 1;
        if !ok {
            self.failures += 1;
            let _ = writeln!(Console, "FAIL: {what}");
        }
        ok
    }

    /// Checks `got == want`, printing both on failure.
    pub fn eq<T: PartialEq + fmt::Debug>(&mut self, got: T, want: T, what: &str) -> bool {
        let ok = got == want;
        self.check(ok, format_args!("{what}: got {got:?}, want {want:?}"))
    }

    /// Prints `Test result: SUCCESS` (or the failure count) and shuts down: poweroff on success,
    /// crash on failure, so the hypervisor's exit status carries the verdict too.
    pub fn finish(self) -> ! {
        self.finish_then(|| {})
    }

    /// As [`finish`](Self::finish), running `last` after the verdict is printed and before the
    /// shutdown (to tell a peer domain the verdict is out).
    pub fn finish_then(self, last: impl FnOnce()) -> ! {
        if self.failures == 0 {
            let _ = writeln!(Console, "Test result: SUCCESS ({} checks)", self.checks);
            last();
            sys::shutdown(ShutdownReason::Poweroff)
        } else {
            let _ = writeln!(
                Console,
                "Test result: FAILURE: {} of {} checks failed",
                self.failures, self.checks
            );
            last();
            sys::shutdown(ShutdownReason::Crash)
        }
    }
}

/// The number given as `key=N` on a command line (words separated by spaces).
pub fn arg_in(cl: &[u8], key: &[u8]) -> Option<u64> {
    cl.split(|&b| b == b' ' || b == 0)
        .find_map(|w| w.strip_prefix(key)?.strip_prefix(b"="))
        .and_then(|v| core::str::from_utf8(v).ok()?.parse().ok())
}

/// True if `word` stands alone on a command line.
pub fn flag_in(cl: &[u8], word: &[u8]) -> bool {
    cl.split(|&b| b == b' ' || b == 0).any(|w| w == word)
}

/// The number given as `key=N` on this guest's command line (`start_info.cmd_line`).
#[cfg(target_os = "none")]
pub fn arg(key: &[u8]) -> Option<u64> {
    arg_in(&sys::start_info().cmd_line, key)
}

/// True if `word` stands alone on this guest's command line.
#[cfg(target_os = "none")]
pub fn flag(word: &[u8]) -> bool {
    flag_in(&sys::start_info().cmd_line, word)
}

/// Prepares event delivery as the event tests need it, checking each step: a trap table, the
/// event callback, `shared_info` mapped, and the default 10 ms periodic timer stopped.
#[cfg(target_os = "none")]
pub fn setup_events(t: &mut Test) {
    use sys::{events, traps};
    t.eq(traps::install(&[]), 0, "set_trap_table");
    t.eq(
        sys::register_callback(0, traps::stub(events::EVENT_STUB_VECTOR), true),
        0,
        "register the event callback",
    );
    t.eq(events::map_shared_info(), 0, "map shared_info");
    t.eq(events::vcpu_op(7, &mut []), 0, "VCPUOP_stop_periodic_timer");
}

/// Brings up vCPU 1 at `entry` on the stack ending at `stack_top` (`VCPUOP_initialise` with
/// [`sys::traps::ap_context`], then `VCPUOP_up`), checking each step, and waits (yielding, so
/// that it also works with both vCPUs on one CPU) up to 10 s for it to set `started`.
#[cfg(target_os = "none")]
pub fn start_second_vcpu(
    t: &mut Test,
    entry: u64,
    stack_top: u64,
    started: &core::sync::atomic::AtomicU32,
) {
    use core::sync::atomic::Ordering;
    use sys::events;
    let ctx = sys::traps::ap_context(entry, stack_top);
    t.eq(
        events::vcpu_op_on(0, 1, core::ptr::addr_of!(ctx) as u64),
        0,
        "VCPUOP_initialise(1)",
    );
    t.eq(events::vcpu_op_on(1, 1, 0), 0, "VCPUOP_up(1)");
    let deadline = events::system_time() + 10_000_000_000;
    while started.load(Ordering::SeqCst) == 0 && events::system_time() < deadline {
        sys::yield_cpu();
    }
    t.eq(started.load(Ordering::SeqCst), 1, "vCPU 1 runs");
}
