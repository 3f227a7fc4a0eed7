//! Small wrappers around CPU instructions and registers.

use core::arch::x86_64::{__cpuid_count, CpuidResult};
use x86_64::registers::control::{Cr0, Cr2, Cr3, Cr4};
use x86_64::registers::model_specific::Msr;

/// CPUID leaf `leaf`, sub-leaf `sub`.
pub fn cpuid(leaf: u32, sub: u32) -> CpuidResult {
    __cpuid_count(leaf, sub)
}

/// Physical address bits (CPUID.80000008h:EAX[7:0]; 36 where the leaf is missing).
pub fn phys_addr_bits() -> u8 {
    if cpuid(0x8000_0000, 0).eax >= 0x8000_0008 {
        cpuid(0x8000_0008, 0).eax as u8
    } else {
        36
    }
}

/// True if the CPU supports x2APIC (CPUID.1:ECX[21]).
pub fn has_x2apic() -> bool {
    cpuid(1, 0).ecx & (1 << 21) != 0
}

/// True if the CPU supports TSC-deadline timer mode (CPUID.1:ECX[24]).
pub fn has_tsc_deadline() -> bool {
    cpuid(1, 0).ecx & (1 << 24) != 0
}

/// Reads a model-specific register.
pub fn rdmsr(msr: u32) -> u64 {
    // SAFETY: callers only name architectural MSRs this CPU has (checked through CPUID where
    // optional); reading them has no side effects.
    unsafe { Msr::new(msr).read() }
}

/// Writes a model-specific register.
///
/// # Safety
/// The MSR must exist and the value must not break memory safety (e.g. EFER, segment bases
/// that code relies on).
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: forwarded from the caller.
    unsafe { Msr::new(msr).write(value) }
}

/// Loads CR3 with the L4 at physical address `root` (flushing non-global TLB entries).
///
/// # Safety
/// `root` must be an L4 that maps the running code, stack and data at the same virtual
/// addresses as the current one (the hypervisor's address space): the kernel root, or a guest
/// L4 the frame table validated (`mm::load_guest_l4` checks that).
pub unsafe fn load_cr3(root: xen_abi::Maddr) {
    let frame =
        x86_64::structures::paging::PhysFrame::containing_address(x86_64::PhysAddr::new(root.0));
    let (_, flags) = Cr3::read();
    // SAFETY: forwarded from the caller.
    unsafe { Cr3::write(frame, flags) };
}

/// Flushes this CPU's non-global TLB entries by reloading CR3 with itself.
pub fn flush_tlb_local() {
    // SAFETY: the L4 already loaded maps the running code, stack and data.
    unsafe { load_cr3(xen_abi::Maddr(read_cr3())) }
}

/// Sets or clears CR0.TS (a guest's virtual TS: its next FPU instruction raises #NM).
pub fn set_ts(on: bool) {
    let (cr0, _) = read_cr0_cr4();
    let want = if on { cr0 | 8 } else { cr0 & !8 };
    if want != cr0 {
        // SAFETY: only the task-switched flag changes; the hypervisor saves and restores guest
        // FPU state with TS clear (see `sched`).
        unsafe { core::arch::asm!("mov cr0, {}", in(reg) want, options(nostack)) };
    }
}

/// Flushes this CPU's whole TLB, global entries included (CR4.PGE toggled).
pub fn flush_tlb_all() {
    let (_, cr4) = read_cr0_cr4();
    // SAFETY: clearing and restoring CR4.PGE only flushes the TLB; nothing else changes.
    unsafe {
        core::arch::asm!("mov cr4, {}", in(reg) cr4 & !(1u64 << 7), options(nostack));
        core::arch::asm!("mov cr4, {}", in(reg) cr4, options(nostack));
    }
}

/// The current CR3 (physical address of the L4).
pub fn read_cr3() -> u64 {
    Cr3::read().0.start_address().as_u64()
}

/// CR2: the faulting linear address of the last page fault.
pub fn read_cr2() -> u64 {
    Cr2::read_raw()
}

/// CR0 and CR4 as raw values (for dumps).
pub fn read_cr0_cr4() -> (u64, u64) {
    (Cr0::read_raw(), Cr4::read_raw())
}

/// Time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is always available in long mode at CPL 0 and has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Halts until the next interrupt (interrupts must be enabled to wake).
pub fn halt() {
    x86_64::instructions::hlt();
}

/// Enables interrupts and halts atomically (`sti; hlt`), so no wakeup is lost in between.
pub fn enable_and_halt() {
    x86_64::instructions::interrupts::enable_and_hlt();
}

/// Enables maskable interrupts.
pub fn enable_interrupts() {
    x86_64::instructions::interrupts::enable();
}

/// Disables maskable interrupts.
pub fn disable_interrupts() {
    x86_64::instructions::interrupts::disable();
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        disable_interrupts();
        halt();
    }
}

/// Writes a byte to an I/O port.
///
/// # Safety
/// The port must belong to a device the caller drives, and the write must be valid for it.
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: forwarded from the caller.
    unsafe { x86_64::instructions::port::Port::new(port).write(value) }
}

/// Reads a byte from an I/O port.
///
/// # Safety
/// The port must belong to a device the caller drives; reads may have side effects.
pub unsafe fn inb(port: u16) -> u8 {
    // SAFETY: forwarded from the caller.
    unsafe { x86_64::instructions::port::Port::new(port).read() }
}

/// Writes a 32-bit value to an I/O port.
///
/// # Safety
/// As for [`outb`].
pub unsafe fn outl(port: u16, value: u32) {
    // SAFETY: forwarded from the caller.
    unsafe { x86_64::instructions::port::Port::new(port).write(value) }
}

/// Reads 1, 2 or 4 bytes from an I/O port (zero-extended).
///
/// # Safety
/// As for [`inb`].
pub unsafe fn port_read(port: u16, size: u8) -> u32 {
    use x86_64::instructions::port::Port;
    // SAFETY: forwarded from the caller.
    unsafe {
        match size {
            1 => u32::from(Port::<u8>::new(port).read()),
            2 => u32::from(Port::<u16>::new(port).read()),
            _ => Port::<u32>::new(port).read(),
        }
    }
}

/// Writes 1, 2 or 4 bytes (the low ones of `value`) to an I/O port.
///
/// # Safety
/// As for [`outb`].
pub unsafe fn port_write(port: u16, size: u8, value: u32) {
    use x86_64::instructions::port::Port;
    // SAFETY: forwarded from the caller.
    unsafe {
        match size {
            1 => Port::<u8>::new(port).write(value as u8),
            2 => Port::<u16>::new(port).write(value as u16),
            _ => Port::<u32>::new(port).write(value),
        }
    }
}

/// The current stack pointer.
#[inline(always)]
pub fn rsp() -> u64 {
    let rsp: u64;
    // SAFETY: reads a register; no memory access.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags))
    };
    rsp
}

/// Spin-loop hint.
pub fn pause() {
    core::hint::spin_loop();
}
