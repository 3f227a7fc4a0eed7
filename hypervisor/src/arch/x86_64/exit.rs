//! Ending a test run: QEMU's `isa-debug-exit` device turns a byte written to port 0xf4 into the
//! emulator's exit status `(byte << 1) | 1`. On real hardware the port is unused and the write is
//! harmless; the caller then halts.

/// The I/O port the test harness gives `isa-debug-exit`.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Why the run ended, as the QEMU exit status encodes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// A self-test passed (QEMU exits with 33).
    Success = 0x10,
    /// A self-test failed (QEMU exits with 35).
    Failure = 0x11,
    /// The hypervisor panicked (QEMU exits with 37).
    Panic = 0x12,
    /// An unexpected exception stopped the hypervisor (QEMU exits with 39).
    Exception = 0x13,
    /// The initial domain shut down with `SHUTDOWN_reboot` (QEMU exits with 41).
    GuestReboot = 0x14,
    /// The initial domain shut down with `SHUTDOWN_crash` or `SHUTDOWN_watchdog` (43).
    GuestCrash = 0x15,
    /// The hypervisor crashed the initial domain for a fault it could not deliver (45).
    DomainCrashed = 0x16,
}

impl ExitCode {
    /// The status QEMU exits with.
    pub const fn qemu_status(self) -> i32 {
        ((self as i32) << 1) | 1
    }
}

/// Asks QEMU to exit with `code`; returns if no such device exists.
pub fn debug_exit(code: ExitCode) {
    // SAFETY: port 0xf4 is reserved for the debug-exit device in Ferrite's machine model; no
    // other device is driven there.
    unsafe { super::cpu::outl(DEBUG_EXIT_PORT, code as u32) };
}
