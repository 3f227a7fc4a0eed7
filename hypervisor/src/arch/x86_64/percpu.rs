//! Per-CPU data, found from the stack pointer: every stack a CPU runs on (primary and IST) lies
//! inside its own `PERCPU_STRIDE`-aligned area, whose first bytes hold its [`PerCpu`].

use crate::layout::{percpu, MAX_CPUS, PERCPU_BASE, PERCPU_STRIDE};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use x86_64::structures::tss::TaskStateSegment;

/// The data at the start of each CPU's area.
#[repr(C)]
#[derive(Debug)]
pub struct PerCpu {
    /// Ferrite's CPU index (0 = the boot CPU).
    pub cpu: u32,
    /// The local APIC id.
    pub apic_id: AtomicU32,
    /// Set once the CPU runs on its own tables and idles.
    pub online: AtomicBool,
    /// Local APIC timer interrupts taken.
    pub timer_ticks: AtomicU64,
    /// One-shot timer expiries taken.
    pub oneshot_fired: AtomicU64,
    /// True while the timer is in one-shot mode.
    pub oneshot_mode: AtomicBool,
    /// Guest RSP saved by the SYSCALL stub.
    pub syscall_saved_rsp: AtomicU64,
    /// Stack the SYSCALL stub switches to (the top of this CPU's stack).
    pub syscall_stack_top: AtomicU64,
    /// Where the SYSCALL stub jumps.
    pub syscall_target: AtomicU64,
    /// This CPU's TSS (IST stacks, ring-0 stack).
    pub tss: TaskStateSegment,
}

const _: () = assert!(core::mem::size_of::<PerCpu>() as u64 <= percpu::DATA_SIZE);

/// Base address of CPU `cpu`'s area.
pub const fn area_base(cpu: usize) -> u64 {
    PERCPU_BASE + cpu as u64 * PERCPU_STRIDE
}

/// Initialises the `PerCpu` at the start of a freshly mapped, zeroed area and returns it.
///
/// # Safety
/// `cpu`'s area must be mapped (see `mm::map_percpu_area`) and not yet in use by any CPU.
pub unsafe fn init_area(cpu: usize) -> &'static PerCpu {
    let base = area_base(cpu);
    let mut tss = TaskStateSegment::new();
    tss.interrupt_stack_table[0] = x86_64::VirtAddr::new(base + percpu::IST_DF.1);
    tss.interrupt_stack_table[1] = x86_64::VirtAddr::new(base + percpu::IST_NMI.1);
    tss.interrupt_stack_table[2] = x86_64::VirtAddr::new(base + percpu::IST_MC.1);
    tss.interrupt_stack_table[3] = x86_64::VirtAddr::new(base + percpu::IST_DB.1);
    tss.privilege_stack_table[0] = x86_64::VirtAddr::new(base + percpu::STACK.1);
    let value = PerCpu {
        cpu: cpu as u32,
        apic_id: AtomicU32::new(0),
        online: AtomicBool::new(false),
        timer_ticks: AtomicU64::new(0),
        oneshot_fired: AtomicU64::new(0),
        oneshot_mode: AtomicBool::new(false),
        syscall_saved_rsp: AtomicU64::new(0),
        syscall_stack_top: AtomicU64::new(base + percpu::STACK.1),
        syscall_target: AtomicU64::new(0),
        tss,
    };
    let p = base as *mut PerCpu;
    // SAFETY: the caller guarantees the area is mapped, writable and unused; `PerCpu` fits in the
    // data pages (asserted above) and the base is page-aligned.
    unsafe {
        p.write(value);
        &*p
    }
}

/// The `PerCpu` of CPU `cpu`, if its area has been initialised (its `cpu` field matches).
pub fn of(cpu: usize) -> Option<&'static PerCpu> {
    if cpu >= MAX_CPUS || !INITIALISED[cpu].load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: INITIALISED[cpu] is set only after `init_area(cpu)` wrote a valid `PerCpu` there;
    // areas are never unmapped.
    Some(unsafe { &*(area_base(cpu) as *const PerCpu) })
}

static INITIALISED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Records that `cpu`'s area holds a valid `PerCpu`.
pub fn mark_initialised(cpu: usize) {
    if let Some(f) = INITIALISED.get(cpu) {
        f.store(true, Ordering::Release);
    }
}

/// The current CPU's `PerCpu`, or `None` while the boot CPU still runs on its boot stack.
pub fn this_cpu() -> Option<&'static PerCpu> {
    let rsp = super::cpu::rsp();
    if !(PERCPU_BASE..PERCPU_BASE + MAX_CPUS as u64 * PERCPU_STRIDE).contains(&rsp) {
        return None;
    }
    of(((rsp - PERCPU_BASE) / PERCPU_STRIDE) as usize)
}

/// The current CPU's index (0 before per-CPU areas exist).
pub fn cpu_index() -> u32 {
    this_cpu().map_or(0, |c| c.cpu)
}
