//! The boot CPU's path from parsed boot information to an idle, fully brought-up machine.

use crate::arch::x86_64::{apic, cpu, gdt, idt, percpu, pic, smp, tsc};
use crate::boot::{acpi, cmdline, entry::boot_info, BootInfo};
use crate::mm;
use core::sync::atomic::Ordering;

/// Frequency of the periodic hypervisor tick.
pub const TICK_HZ: u64 = 100;

/// First stage, on the boot stack: logging level, memory, per-CPU area; then moves to CPU 0's
/// own stack.
pub fn bsp_main(info: &'static BootInfo) -> ! {
    match cmdline::log_level(&info.cmdline) {
        Ok(level) => log::set_max_level(level),
        Err(bad) => log::warn!("loglvl={bad}: unknown level (use none, error, warning, info, debug, all); keeping info"),
    }
    log::info!(
        "Ferrite {} starting; loader '{}', command line '{}'",
        crate::VERSION,
        info.loader,
        info.cmdline
    );
    let (linear_pt, bad) = cmdline::boolean(&info.cmdline, "pv-linear-pt", true);
    if let Some(w) = bad {
        log::warn!("{w}: not a boolean (use 0/1, no/yes, off/on, false/true, disable/enable)");
    }
    mm::set_pv_linear_pt(linear_pt);
    if !linear_pt {
        log::info!("pv-linear-pt=0: linear page tables refused");
    }
    for r in &info.regions {
        log::debug!(
            "memory map: {:#014x}-{:#014x} {:?}",
            r.range.start,
            r.range.end,
            r.kind
        );
    }
    let hz = tsc::calibrate();
    log::info!("TSC: {}.{:03} MHz", hz / 1_000_000, (hz / 1000) % 1000);
    let mem = match mm::init(info) {
        Ok(m) => m,
        Err(e) => panic!("memory initialisation failed: {e:?}"),
    };
    log::info!(
        "memory: {} KiB usable, {} frames free, {} KiB heap, direct map up to {:#x}",
        mem.total_usable / 1024,
        mem.free_frames,
        mem.heap_bytes / 1024,
        mem.ram_top
    );
    let base = match mm::map_percpu_area(0) {
        Ok(b) => b,
        Err(e) => panic!("cannot map CPU0's per-CPU area: {e:?}"),
    };
    // SAFETY: CPU0's area was just mapped; no CPU uses it yet.
    let pcpu = unsafe { percpu::init_area(0) };
    percpu::mark_initialised(0);
    // SAFETY: the IDT is filled once, here, before any CPU loads it; this is CPU 0 and its area
    // is initialised.
    unsafe {
        idt::init();
        gdt::load(0, pcpu);
    }
    idt::load();
    MEM.call_once(|| mem);
    smp::run_on_stack(
        base + crate::layout::percpu::STACK.1 - crate::layout::percpu::GUEST_FRAME_RESERVE,
        bsp_main_on_percpu_stack,
    )
}

static MEM: spin::Once<mm::MemInfo> = spin::Once::new();

extern "C" fn bsp_main_on_percpu_stack() -> ! {
    let info = boot_info();
    let mem = *MEM
        .get()
        .expect("memory info recorded before the stack switch");
    let madt = if info.rsdp.is_empty() {
        log::warn!("no ACPI RSDP from the boot loader: running on the boot CPU only");
        None
    } else {
        match acpi::parse_madt(&info.rsdp, &mm::read_phys) {
            Ok(m) => Some(m),
            Err(e) => {
                log::warn!("ACPI MADT unusable ({e:?}): running on the boot CPU only");
                None
            }
        }
    };
    let lapic_pa = madt.as_ref().map_or(0xfee0_0000, |m| m.lapic_addr);
    if let Err(e) = apic::init_bsp(lapic_pa) {
        panic!("cannot map the local APIC: {e:?}");
    }
    pic::disable();
    apic::init_local();
    if let Some(p) = percpu::this_cpu() {
        p.online.store(true, Ordering::Release);
    }
    let per_ms = apic::calibrate_timer();
    log::info!(
        "local APIC: {} mode, id {}, timer {} ticks/ms (÷16), TSC-deadline {}",
        if apic::is_x2apic() { "x2APIC" } else { "xAPIC" },
        apic::id(),
        per_ms,
        if cpu::has_tsc_deadline() {
            "available"
        } else {
            "absent"
        }
    );
    apic::start_periodic(TICK_HZ);
    cpu::enable_interrupts();

    let bsp_id = apic::id();
    let mut expected = 1;
    if let Some(m) = &madt {
        let mut next = 1;
        for c in m.cpus.iter().filter(|c| c.enabled && c.apic_id != bsp_id) {
            expected += 1;
            match smp::start_ap(next, c.apic_id) {
                Ok(()) => next += 1,
                Err(e) => log::error!("CPU with APIC id {} did not start: {e:?}", c.apic_id),
            }
        }
    }

    if let Some(m) = madt {
        acpi::remember(m);
    }
    log::info!(
        "Ferrite {} (Xen 4.17 ABI): memory total {} KiB ({} MiB), {} CPUs online, {} module(s)",
        crate::VERSION,
        mem.total_usable / 1024,
        mem.total_usable >> 20,
        smp::online(),
        info.modules.len()
    );
    for (i, m) in info.modules.iter().enumerate() {
        log::info!(
            "module {i}: {:#x}-{:#x} ({} KiB) '{}'",
            m.range.start,
            m.range.end,
            m.range.len() / 1024,
            m.cmdline
        );
    }

    crate::selftest::run(cmdline::value(&info.cmdline, "selftest"), expected);
    let Some(pcpu) = percpu::this_cpu() else {
        panic!("CPU0 runs on its per-CPU stack")
    };
    // SAFETY: this is CPU 0, its area and GDT set up above.
    if let Err(e) = unsafe { crate::arch::x86_64::guest::init_cpu(0, pcpu) } {
        panic!("CPU0 cannot prepare for guests: {e:?}");
    }
    crate::time::init();
    let built = x86_64::instructions::interrupts::without_interrupts(|| {
        // The tick takes the run-queue and event locks: build with it held off, so it can never
        // interrupt a holder on this CPU.
        crate::boot::domains::build_from_modules(info, smp::online())
    });
    if built == 0 {
        log::info!("no guest to run: idle (boot modules become domains; see docs/boot.md)");
        loop {
            cpu::enable_and_halt();
        }
    }
    log::debug!(
        "CPU0 starts guests after {} ticks",
        pcpu.timer_ticks.load(Ordering::Relaxed)
    );
    crate::sched::start();
    crate::sched::run()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::console::panic(info)
}
