//! x86-64: boot entry, CPU control, descriptor tables, traps, local APIC, TSC, SMP bring-up.

pub mod apic;
#[cfg(target_os = "none")]
mod boot;
pub mod cpu;
pub mod debugreg;
pub mod exit;
pub mod extable;
pub mod faults;
pub mod gdt;
pub mod guest;
pub mod idt;
pub mod ioport;
pub mod percpu;
pub mod pic;
pub mod ptwr;
pub mod rtc;
pub mod segments;
#[cfg(target_os = "none")]
pub mod smp;
pub mod trap;
pub mod tsc;
pub mod uart;
