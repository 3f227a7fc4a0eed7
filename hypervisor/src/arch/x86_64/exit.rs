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
    // 0x14 (QEMU 41) was `SHUTDOWN_reboot` of the initial domain, which now resets the machine.
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

/// Resets the machine, as Xen's `machine_restart` does when the hardware domain reboots: the
/// PCI reset control register (port 0xcf9: system reset, then full reset), then the keyboard
/// controller's reset line (0xfe to port 0x64), and last a triple fault (an empty IDT and an
/// exception). Interrupts are off throughout; it never returns.
pub fn machine_restart() -> ! {
    super::cpu::disable_interrupts();
    // SAFETY: 0xcf9 is the chipset's reset control register (PIIX/ICH and Q35 alike) and 0x64
    // the keyboard controller's command port; the hypervisor drives neither otherwise, and
    // resetting the machine is the intent. The empty IDT makes the `int3` a triple fault.
    unsafe {
        super::cpu::outb(0xcf9, 0x02);
        super::cpu::outb(0xcf9, 0x06);
        for _ in 0..0x10000 {
            // Wait for the controller's input buffer to empty (bit 1 of the status port).
            if super::cpu::inb(0x64) & 0x02 == 0 {
                break;
            }
        }
        super::cpu::outb(0x64, 0xfe);
        let empty = x86_64::structures::DescriptorTablePointer {
            limit: 0,
            base: x86_64::VirtAddr::zero(),
        };
        x86_64::instructions::tables::lidt(&empty);
        core::arch::asm!("int3", options(nomem, nostack));
    }
    super::cpu::halt_forever()
}
