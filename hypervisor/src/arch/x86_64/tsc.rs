//! The time-stamp counter: calibrated once against the PIT, then the hypervisor's clock.

use super::cpu::{inb, outb, rdtsc};
use core::sync::atomic::{AtomicU64, Ordering};

static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// PIT input clock (Hz).
const PIT_HZ: u64 = 1_193_182;

/// Records the TSC value that is time zero.
pub fn mark_boot() {
    BOOT_TSC.store(rdtsc(), Ordering::Relaxed);
}

/// TSC frequency in Hz (0 before calibration).
pub fn hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Measures the TSC against PIT channel 2 over `ms` milliseconds; returns Hz or `None` if the PIT
/// never counted down (no PIT).
fn measure(ms: u64) -> Option<u64> {
    let count = (PIT_HZ * ms / 1000) as u16;
    // SAFETY: ports 0x42/0x43/0x61 are PIT channel 2 and its gate, which only this calibration
    // uses; the speaker output stays disabled (bit 1 of 0x61 clear).
    unsafe {
        let gate = inb(0x61);
        outb(0x61, (gate & !0x02) & !0x01);
        outb(0x43, 0xb0); // channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count)
        outb(0x42, (count & 0xff) as u8);
        outb(0x42, (count >> 8) as u8);
        outb(0x61, (gate & !0x02) | 0x01); // gate high: start counting
    }
    let start = rdtsc();
    let mut spins = 0u64;
    loop {
        // SAFETY: reading port 0x61 (the PIT channel 2 output bit) has no side effects.
        let status = unsafe { inb(0x61) };
        if status & 0x20 != 0 {
            break;
        }
        spins += 1;
        if spins > 200_000_000 {
            return None;
        }
    }
    let end = rdtsc();
    Some((end - start) * 1000 / ms)
}

/// Calibrates the TSC; falls back to CPUID leaf 0x16 or 1 GHz if the PIT does not work.
pub fn calibrate() -> u64 {
    let hz = measure(50)
        .filter(|&hz| hz > 10_000_000)
        .or_else(|| {
            let base_mhz = u64::from(super::cpu::cpuid(0x16, 0).eax);
            (base_mhz != 0).then_some(base_mhz * 1_000_000)
        })
        .unwrap_or(1_000_000_000);
    TSC_HZ.store(hz, Ordering::Relaxed);
    hz
}

/// Nanoseconds since boot (0 before calibration).
pub fn uptime_ns() -> u64 {
    let hz = hz();
    if hz == 0 {
        return 0;
    }
    let delta = rdtsc().wrapping_sub(BOOT_TSC.load(Ordering::Relaxed));
    (u128::from(delta) * 1_000_000_000 / u128::from(hz)) as u64
}

/// Busy-waits `us` microseconds.
pub fn delay_us(us: u64) {
    let target = rdtsc() + hz() / 1_000_000 * us;
    while rdtsc() < target {
        super::cpu::pause();
    }
}
