//! The local APIC, in x2APIC mode where the CPU has it (MSRs) and xAPIC mode otherwise (MMIO):
//! enabling, EOI, IPIs and the timer (periodic and one-shot).

use super::cpu::{has_x2apic, rdmsr, wrmsr};
use super::idt::{SPURIOUS_VECTOR, TIMER_VECTOR};
use super::percpu;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const IA32_APIC_BASE: u32 = 0x1b;
const REG_ID: u32 = 0x20;
const REG_EOI: u32 = 0xb0;
const REG_SVR: u32 = 0xf0;
const REG_ICR_LOW: u32 = 0x300;
const REG_ICR_HIGH: u32 = 0x310;
const REG_LVT_TIMER: u32 = 0x320;
const REG_TIMER_INIT: u32 = 0x380;
const REG_TIMER_CUR: u32 = 0x390;
const REG_TIMER_DIV: u32 = 0x3e0;

static X2APIC: AtomicBool = AtomicBool::new(false);
static XAPIC_VA: AtomicU64 = AtomicU64::new(0);
/// Timer ticks (after the divide-by-16) per millisecond, measured against the TSC.
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);

/// True when running in x2APIC mode.
pub fn is_x2apic() -> bool {
    X2APIC.load(Ordering::Relaxed)
}

fn read(reg: u32) -> u32 {
    if is_x2apic() {
        rdmsr(0x800 + (reg >> 4)) as u32
    } else {
        let va = XAPIC_VA.load(Ordering::Relaxed) + u64::from(reg);
        // SAFETY: the xAPIC page is mapped uncached at XAPIC_VA by `init_bsp`; registers are
        // 32-bit aligned.
        unsafe { (va as *const u32).read_volatile() }
    }
}

fn write(reg: u32, value: u32) {
    if is_x2apic() {
        // SAFETY: x2APIC registers are MSRs 0x800 + reg/16; writing them affects only interrupt
        // delivery, which this module owns.
        unsafe { wrmsr(0x800 + (reg >> 4), u64::from(value)) };
    } else {
        let va = XAPIC_VA.load(Ordering::Relaxed) + u64::from(reg);
        // SAFETY: as in `read`.
        unsafe { (va as *mut u32).write_volatile(value) };
    }
}

/// Chooses the mode and maps the xAPIC page if needed (boot CPU, once).
pub fn init_bsp(lapic_pa: u64) -> Result<(), crate::mm::MmError> {
    if has_x2apic() {
        X2APIC.store(true, Ordering::Relaxed);
    } else {
        let va = crate::mm::map_device_page(0, xen_abi::Maddr(lapic_pa))?;
        XAPIC_VA.store(va, Ordering::Relaxed);
    }
    Ok(())
}

/// Enables this CPU's local APIC (in the mode the boot CPU chose) with all LVTs quiet.
pub fn init_local() {
    let base = rdmsr(IA32_APIC_BASE);
    let mode = if is_x2apic() {
        (1 << 11) | (1 << 10)
    } else {
        1 << 11
    };
    // SAFETY: sets the global enable (and x2APIC) bits of IA32_APIC_BASE, keeping the base.
    unsafe { wrmsr(IA32_APIC_BASE, base | mode) };
    write(REG_SVR, 0x100 | u32::from(SPURIOUS_VECTOR));
    write(REG_LVT_TIMER, 1 << 16); // masked
    if let Some(p) = percpu::this_cpu() {
        p.apic_id.store(id(), Ordering::Relaxed);
    }
}

/// This CPU's APIC id.
pub fn id() -> u32 {
    let raw = read(REG_ID);
    if is_x2apic() {
        raw
    } else {
        raw >> 24
    }
}

/// The interrupt request register for vectors 0xe0–0xff (`IRR` 7 of 0..7, 32 vectors each,
/// 16 bytes apart from 0x200).
const REG_IRR7: u32 = 0x270;

/// Whether an interrupt waits at this CPU's local APIC: the tick or a wake IPI — every vector
/// Ferrite raises (`idt::TIMER_VECTOR`, `idt::WAKE_VECTOR`) lies in 0xe0–0xff, so one register
/// read answers (a register read is a slow MMIO exit under emulation; a device vector outside
/// that range would have to be added here). Read with interrupts off, by long hypercalls
/// deciding to make way.
pub fn interrupt_pending() -> bool {
    const _: () = assert!(super::idt::TIMER_VECTOR >= 0xe0 && super::idt::WAKE_VECTOR >= 0xe0);
    read(REG_IRR7) != 0
}

/// Signals end of interrupt.
pub fn eoi() {
    write(REG_EOI, 0);
}

/// Sends an IPI with ICR low word `icr_low` to APIC id `dest`.
///
/// # Safety
/// `icr_low` must describe an IPI `dest` may receive now: INIT and STARTUP only to a CPU being
/// brought up (`smp`), a fixed vector only one the IDT handles.
pub unsafe fn send_ipi(dest: u32, icr_low: u32) {
    if is_x2apic() {
        // SAFETY: writing the x2APIC ICR sends the IPI described, which the caller vouches for.
        unsafe { wrmsr(0x830, (u64::from(dest) << 32) | u64::from(icr_low)) };
    } else {
        write(REG_ICR_HIGH, dest << 24);
        write(REG_ICR_LOW, icr_low);
        for _ in 0..1_000_000 {
            if read(REG_ICR_LOW) & (1 << 12) == 0 {
                break;
            }
            super::cpu::pause();
        }
    }
}

/// Sends the "wake up and look" IPI (a fixed `WAKE_VECTOR`, which every CPU handles by
/// returning through its scheduler) to APIC id `dest`.
pub fn send_wake(dest: u32) {
    // SAFETY: a fixed IPI of `WAKE_VECTOR`, which the IDT routes to the dispatcher on every CPU.
    unsafe { send_ipi(dest, 0x4000 | u32::from(super::idt::WAKE_VECTOR)) }
}

/// Measures the timer rate against the (calibrated) TSC.
pub fn calibrate_timer() -> u64 {
    write(REG_TIMER_DIV, 0x3); // divide by 16
    write(REG_LVT_TIMER, 1 << 16);
    write(REG_TIMER_INIT, u32::MAX);
    super::tsc::delay_us(10_000);
    let elapsed = u64::from(u32::MAX - read(REG_TIMER_CUR));
    write(REG_TIMER_INIT, 0);
    let per_ms = (elapsed / 10).max(1);
    TICKS_PER_MS.store(per_ms, Ordering::Relaxed);
    per_ms
}

/// Starts the periodic timer at `hz` interrupts per second on this CPU.
pub fn start_periodic(hz: u64) {
    let per_ms = TICKS_PER_MS.load(Ordering::Relaxed);
    let count = (per_ms * 1000 / hz.max(1)).clamp(1, u64::from(u32::MAX)) as u32;
    if let Some(p) = percpu::this_cpu() {
        p.oneshot_mode.store(false, Ordering::Relaxed);
    }
    write(REG_TIMER_DIV, 0x3);
    write(REG_LVT_TIMER, (1 << 17) | u32::from(TIMER_VECTOR));
    write(REG_TIMER_INIT, count);
}

/// Arms a one-shot timer `us` microseconds from now on this CPU (stopping the periodic one).
pub fn start_oneshot(us: u64) {
    let per_ms = TICKS_PER_MS.load(Ordering::Relaxed);
    let count = (per_ms * us / 1000).clamp(1, u64::from(u32::MAX)) as u32;
    if let Some(p) = percpu::this_cpu() {
        p.oneshot_mode.store(true, Ordering::Relaxed);
    }
    write(REG_TIMER_DIV, 0x3);
    write(REG_LVT_TIMER, u32::from(TIMER_VECTOR));
    write(REG_TIMER_INIT, count);
}

/// Stops this CPU's timer.
pub fn stop_timer() {
    write(REG_LVT_TIMER, 1 << 16);
    write(REG_TIMER_INIT, 0);
}

/// The timer interrupt's work (called from the dispatcher before EOI).
pub fn timer_interrupt() {
    if let Some(p) = percpu::this_cpu() {
        p.timer_ticks.fetch_add(1, Ordering::Relaxed);
        if p.oneshot_mode.load(Ordering::Relaxed) {
            p.oneshot_fired.fetch_add(1, Ordering::Relaxed);
        }
    }
}
