//! Bringing up the application processors: INIT-SIPI-SIPI into a real-mode trampoline at
//! physical 0x8000, which enters long mode on a transition L4 (the hypervisor's upper half plus
//! an identity map of the first GiB) and jumps to [`ap_entry`] on the CPU's own stack.

use super::{apic, cpu, percpu};
use crate::mm;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Physical address the trampoline runs at (SIPI vector 0x08).
pub const TRAMPOLINE_PA: xen_abi::Maddr = xen_abi::Maddr(0x8000);

static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// CPUs online (the boot CPU counts).
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// Why an AP could not be started.
#[derive(Clone, Copy, Debug)]
pub enum SmpError {
    /// Mapping its per-CPU area or the transition L4 failed.
    Memory(mm::MmError),
    /// It did not report online in time.
    Timeout(u32),
}

/// Brings up one AP with APIC id `apic_id` as CPU `cpu`, waiting until it is online.
#[cfg(target_os = "none")]
pub fn start_ap(cpu: usize, apic_id: u32) -> Result<(), SmpError> {
    extern "C" {
        static ferrite_trampoline_start: u8;
        static ferrite_trampoline_params: u8;
        static ferrite_trampoline_end: u8;
        static boot_pdpt_lo: u8;
    }
    use crate::layout::{percpu as area, MAX_CPUS};
    if cpu >= MAX_CPUS {
        return Err(SmpError::Timeout(apic_id));
    }
    let base = mm::map_percpu_area(cpu).map_err(SmpError::Memory)?;
    // SAFETY: the area was just mapped and zeroed; the AP is not running yet.
    unsafe { percpu::init_area(cpu) };
    percpu::mark_initialised(cpu);

    // Transition L4: the hypervisor's slots plus the boot identity map of the first GiB.
    let l4 = mm::alloc_frame_below(mm::paging::TABLE_FRAME_LIMIT)
        .ok_or(SmpError::Memory(mm::MmError::NoRoomForHeap))?;
    let kernel_l4 = mm::phys_to_virt(mm::kernel_root()) as *const u64;
    let new_l4 = mm::phys_to_virt(l4.maddr()) as *mut u64;
    // SAFETY: both are page-table frames reached through the direct map; `new_l4` was just
    // allocated. The boot tables in .boot.bss stay intact (the image is never freed).
    unsafe {
        core::ptr::write_bytes(new_l4, 0, 512);
        for slot in 256..512 {
            new_l4.add(slot).write(kernel_l4.add(slot).read());
        }
        new_l4.write(&boot_pdpt_lo as *const u8 as u64 | 3);
    }

    // SAFETY: symbols of the trampoline blob in .rodata; the destination page (0x8000) is in the
    // reserved first MiB, used by nobody else, and mapped by the direct map.
    unsafe {
        let start = &ferrite_trampoline_start as *const u8;
        let len = &ferrite_trampoline_end as *const u8 as usize - start as usize;
        let dst = mm::phys_to_virt(TRAMPOLINE_PA);
        core::ptr::copy_nonoverlapping(start, dst, len);
        let params = dst
            .add(&ferrite_trampoline_params as *const u8 as usize - start as usize)
            .cast::<u64>();
        let efer = cpu::rdmsr(0xc000_0080) & ((1 << 8) | (1 << 11) | 1);
        params.write_volatile(l4.addr());
        params
            .add(1)
            .write_volatile(base + area::STACK.1 - crate::layout::percpu::GUEST_FRAME_RESERVE);
        params.add(2).write_volatile(cpu as u64);
        params.add(3).write_volatile(ap_entry as *const () as u64);
        params.add(4).write_volatile(efer);
    }

    // SAFETY: INIT then STARTUP to a CPU the MADT lists and that is not online yet, with the
    // trampoline copied to TRAMPOLINE_PA just above (Intel's INIT-SIPI-SIPI sequence).
    unsafe { apic::send_ipi(apic_id, 0x4500) }; // INIT, level assert
    super::tsc::delay_us(10_000);
    for _ in 0..2 {
        // SAFETY: as above. STARTUP: the vector is the trampoline's page number.
        unsafe { apic::send_ipi(apic_id, 0x4600 | TRAMPOLINE_PA.mfn().0 as u32) };
        super::tsc::delay_us(200);
    }
    let deadline = super::tsc::uptime_ns() + 2_000_000_000;
    while super::tsc::uptime_ns() < deadline {
        if percpu::of(cpu).is_some_and(|p| p.online.load(Ordering::Acquire)) {
            let _ = mm::free_frame(l4);
            return Ok(());
        }
        cpu::pause();
    }
    Err(SmpError::Timeout(apic_id))
}

/// Where an AP arrives in long mode, on its own stack, still on the transition L4.
#[cfg(target_os = "none")]
extern "C" fn ap_entry(cpu: u64) -> ! {
    let cpu = cpu as usize;
    mm::load_kernel_root();
    let Some(pcpu) = percpu::of(cpu) else {
        cpu::halt_forever()
    };
    // SAFETY: the area is mapped and initialised by `start_ap`, and this is CPU `cpu`.
    unsafe { super::gdt::load(cpu, pcpu) };
    super::idt::load();
    apic::init_local();
    pcpu.online.store(true, Ordering::Release);
    ONLINE.fetch_add(1, Ordering::AcqRel);
    log::info!("CPU{} online (APIC id {})", cpu, apic::id());
    // SAFETY: this is CPU `cpu`, whose area and GDT are set up above.
    if let Err(e) = unsafe { super::guest::init_cpu(cpu, pcpu) } {
        log::error!("CPU{cpu}: cannot prepare for guests: {e:?}");
        loop {
            cpu::enable_and_halt();
        }
    }
    apic::start_periodic(crate::boot::start::TICK_HZ);
    crate::sched::run()
}

/// Switches the current CPU to the stack ending at `top` and calls `f` there.
pub fn run_on_stack(top: u64, f: extern "C" fn() -> !) -> ! {
    // SAFETY: `top` is the 16-byte-aligned end of a mapped stack owned by this CPU; `f` never
    // returns, so nothing on the old stack is used again.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {f}",
            "ud2",
            top = in(reg) top,
            f = in(reg) f,
            options(noreturn)
        )
    }
}
