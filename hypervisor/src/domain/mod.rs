//! Domains and their virtual CPUs: the state Xen keeps in `struct domain` and `struct vcpu`.

#[cfg(target_os = "none")]
pub mod build;
#[cfg(target_os = "none")]
pub mod claims;
#[cfg(target_os = "none")]
pub mod create;
#[cfg(target_os = "none")]
pub mod destroy;
pub mod ioports;
pub mod runstate;
pub mod watchdog;

use crate::arch::x86_64::guest::{FpuState, SegmentState};
use crate::arch::x86_64::idt::TrapFrame;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use spin::Mutex;
use xen_abi::{DomId, Maddr, Mfn, VcpuId};

/// Why a domain stopped running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainState {
    /// Its vCPUs may run.
    Running,
    /// Paused by the toolstack.
    Paused,
    /// `SCHEDOP_shutdown` with this `SHUTDOWN_*` reason.
    Shutdown(u32),
    /// Killed by the hypervisor for a fault it could not deliver.
    Crashed,
    /// Being torn down.
    Dying,
}

/// One entry of a vCPU's virtual IDT (`trap_info`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapEntry {
    /// Handler address (0: none).
    pub address: u64,
    /// `flags`: bits 0–1 the DPL, bit 2 "mask events" (an interrupt gate).
    pub flags: u8,
}

/// A registered callback (`CALLBACKOP_register`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Callback {
    /// Entry point (0: none).
    pub address: u64,
    /// Mask events on entry (`CALLBACKF_mask_events`).
    pub mask_events: bool,
}

/// A vCPU's saved state: everything not live in hardware while it does not run.
#[derive(Debug)]
pub struct VcpuState {
    /// General registers and the IRET frame.
    pub regs: TrapFrame,
    /// Guest-kernel mode (as opposed to guest-user mode); both run in ring 3.
    pub kernel_mode: bool,
    /// The guest kernel's L4 (`MMUEXT_NEW_BASEPTR`), held with a type reference; none for a
    /// vCPU that was never initialised (as Xen's `guest_table` of dom0's secondary vCPUs).
    pub kernel_l4: Option<Mfn>,
    /// The guest user L4 (`MMUEXT_NEW_USER_BASEPTR`), if any.
    pub user_l4: Option<Mfn>,
    /// The virtual IDT.
    pub traps: [TrapEntry; 256],
    /// Event upcall entry.
    pub event_callback: Callback,
    /// Failsafe entry (segment reload failures).
    pub failsafe_callback: Callback,
    /// Guest-user `syscall` entry.
    pub syscall_callback: Callback,
    /// `stack_switch`: the kernel stack used when entering kernel mode from user mode.
    pub kernel_ss: u16,
    /// See `kernel_ss`.
    pub kernel_sp: u64,
    /// Selectors and FS/GS bases.
    pub segments: SegmentState,
    /// x87/SSE/AVX state and the guest's XCR0.
    pub fpu: FpuState,
    /// The guest kernel's virtual CR4.OSXSAVE (it must set it before `xsetbv`).
    pub cr4_osxsave: bool,
    /// Virtual CR0.TS (`fpu_taskswitch`).
    pub fpu_ts: bool,
    /// The vCPU has been brought up (`VCPUOP_up` or boot).
    pub up: bool,
    /// It has a context (vCPU 0 from the builder, others from `VCPUOP_initialise`).
    pub initialised: bool,
    /// Blocked in `SCHEDOP_block` until an event.
    pub blocked: bool,
    /// Nesting of trap delivery: a fault while delivering one crashes the domain.
    pub bouncing: bool,
    /// An NMI was delivered and the guest has not left its handler through `iret` yet: further
    /// NMIs wait (Xen's `async_exception_mask` bit for NMIs).
    pub nmi_masked: bool,
    /// Absolute system time (ns) at which the single-shot `VIRQ_TIMER` is due, if armed.
    pub timer_deadline: Option<u64>,
    /// Period of the periodic timer in ns (0: stopped). PV vCPUs start with Xen's 10 ms.
    pub periodic_ns: u64,
    /// When the periodic timer fires next.
    pub periodic_next: u64,
    /// `VCPUOP_register_runstate_memory_area`: the guest virtual address, if registered.
    pub runstate_area: Option<u64>,
    /// `VCPUOP_register_vcpu_time_memory_area`: the guest virtual address of a second copy of
    /// this vCPU's `vcpu_time_info` (Linux's vDSO clock), if registered.
    pub time_area: Option<u64>,
    /// `SCHEDOP_poll`: the ports this blocked vCPU waits on.
    pub poll: Option<heapless::Vec<u32, 128>>,
    /// `SCHEDOP_poll`: when the poll times out (absolute system time), if ever.
    pub poll_deadline: Option<u64>,
    /// Virtual IOPL (`PHYSDEVOP_set_iopl`), 0–3.
    pub iopl: u8,
    /// The debug registers (`set_debugreg`), live in the CPU while a breakpoint is enabled.
    pub debug: crate::arch::x86_64::debugreg::DebugRegs,
    /// `MSR_TSC_AUX` (what `rdtscp`/`rdpid` read), loaded into the CPU whenever the vCPU
    /// runs, when the CPU has the register.
    pub tsc_aux: u32,
    /// Runstate accounting.
    pub runstate: runstate::Runstate,
    /// The guest GDT's frames (`set_gdt`), each holding a descriptor-page type reference.
    pub gdt_frames: heapless::Vec<Mfn, 14>,
    /// Descriptors in the guest GDT.
    pub gdt_ents: u32,
    /// The guest LDT's frames (`MMUEXT_SET_LDT`), each holding a descriptor-page type
    /// reference, and its number of descriptors (0: none).
    pub ldt_frames: heapless::Vec<Mfn, 16>,
    /// See `ldt_frames`.
    pub ldt_ents: u32,
    /// The LDT's linear address, as the guest gave it.
    pub ldt_base: u64,
}

impl VcpuState {
    /// The L4 the vCPU runs on now (none before it was initialised): its user L4 in guest-user mode (the kernel's if it set
    /// none), its kernel L4 otherwise.
    pub fn active_l4(&self) -> Option<Mfn> {
        if self.kernel_mode {
            self.kernel_l4
        } else {
            self.user_l4.or(self.kernel_l4)
        }
    }
}

/// The machine frames a domain has ever been given lie in `[lo, hi)`: its teardown walks only
/// them (Xen walks the domain's page list; the frame table here has no per-domain list).
#[derive(Debug)]
pub struct FrameSpan {
    lo: core::sync::atomic::AtomicU64,
    hi: core::sync::atomic::AtomicU64,
}

impl FrameSpan {
    /// A span holding `frames`.
    pub fn of(frames: impl IntoIterator<Item = Mfn>) -> Self {
        let s = FrameSpan {
            lo: core::sync::atomic::AtomicU64::new(u64::MAX),
            hi: core::sync::atomic::AtomicU64::new(0),
        };
        for m in frames {
            s.note(m, 1);
        }
        s
    }

    /// Frames `first..first + n` were given to the domain.
    pub fn note(&self, first: Mfn, n: u64) {
        use core::sync::atomic::Ordering;
        if n == 0 {
            return;
        }
        self.lo.fetch_min(first.0, Ordering::AcqRel);
        self.hi
            .fetch_max(first.0.saturating_add(n), Ordering::AcqRel);
    }

    /// `[lo, hi)` (empty when nothing was given).
    pub fn range(&self) -> core::ops::Range<u64> {
        use core::sync::atomic::Ordering;
        let (lo, hi) = (
            self.lo.load(Ordering::Acquire),
            self.hi.load(Ordering::Acquire),
        );
        lo.min(hi)..hi
    }
}

/// A dirty-bitmap read (`XEN_DOMCTL_shadow_op` PEEK/CLEAN) stopped halfway (Xen's
/// `d->arch.paging.preempt`): who asked, which op, and how many bits are done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogDirtyProgress {
    pub by: DomId,
    pub op: u32,
    pub done: u64,
}

/// A virtual CPU.
/// [`Vcpu::migrate_to`] when no move is pending.
pub const NO_MIGRATION: usize = usize::MAX;

#[derive(Debug)]
pub struct Vcpu {
    /// Its domain's id (Xen's `v->domain->domain_id`).
    pub domid: DomId,
    /// Its domain, without a reference cycle (the domain owns its vCPUs): see
    /// [`Vcpu::domain`].
    pub dom: alloc::sync::Weak<Domain>,
    /// Its index in the domain (`vcpu_id`).
    pub id: VcpuId,
    /// The physical CPU whose run queue holds it ([`Vcpu::pcpu`]); changed only by that CPU,
    /// while the vCPU is not running there (`sched::migrate_out`).
    pub cpu: core::sync::atomic::AtomicUsize,
    /// The CPU it is to move to ([`NO_MIGRATION`]: none), set by `XEN_DOMCTL_setvcpuaffinity`
    /// and carried out by its current CPU's scheduler.
    pub migrate_to: core::sync::atomic::AtomicUsize,
    /// Saved state.
    pub state: Mutex<VcpuState>,
    /// The machine address of its `vcpu_info`, a [`Maddr`] (in `shared_info` until
    /// `VCPUOP_register_vcpu_info` moves it).
    pub vcpu_info: core::sync::atomic::AtomicU64,
    /// `VCPUOP_send_nmi` raised an NMI not yet delivered (Xen's `nmi_pending`): outside the
    /// state lock, so every return to the guest checks it with one load.
    pub nmi_pending: core::sync::atomic::AtomicBool,
    /// Hard and soft CPU affinity as the toolstack set them (`XEN_DOMCTL_setvcpuaffinity`), one
    /// bit per physical CPU; all CPUs until set. The hard mask always holds `pcpu`, the one CPU
    /// the vCPU runs on, so the scheduler never runs it outside it.
    pub affinity: Mutex<Affinity>,
}

/// A vCPU's CPU affinity masks (bit `n`: physical CPU `n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affinity {
    /// Where it may run.
    pub hard: u64,
    /// Where it prefers to run.
    pub soft: u64,
}

impl Default for Affinity {
    fn default() -> Self {
        Affinity { hard: !0, soft: !0 }
    }
}

impl Vcpu {
    /// Its domain, while it exists (no global lookup: this is on every return to a guest).
    pub fn domain(&self) -> Option<Arc<Domain>> {
        self.dom.upgrade()
    }

    /// The physical CPU it runs on (whose run queue holds it).
    pub fn pcpu(&self) -> usize {
        self.cpu.load(core::sync::atomic::Ordering::Acquire)
    }

    /// The frame and byte offset of this vCPU's `vcpu_info`.
    pub fn vcpu_info_at(&self) -> (Mfn, usize) {
        let at = Maddr(self.vcpu_info.load(core::sync::atomic::Ordering::Acquire));
        (at.mfn(), at.page_offset())
    }
}

/// A console line being assembled from `CONSOLEIO_write` output.
#[derive(Debug, Default)]
pub struct ConsoleLine {
    /// Bytes of the current line.
    pub buf: heapless::Vec<u8, 256>,
}

/// A domain.
#[derive(Debug)]
pub struct Domain {
    /// Its id.
    pub id: DomId,
    /// Its name.
    pub name: heapless::String<32>,
    /// The privileged (initial) domain.
    pub privileged: bool,
    /// Run state.
    pub state: Mutex<DomainState>,
    /// pfn → mfn.
    pub p2m: Vec<Mfn>,
    /// Its `shared_info` frame (hypervisor-owned, shared writable).
    pub shared_info: Mfn,
    /// The vCPUs.
    pub vcpus: Vec<Arc<Vcpu>>,
    /// Console output being assembled into lines.
    pub console: Mutex<ConsoleLine>,
    /// `VMASST_*` bits enabled.
    pub vm_assist: core::sync::atomic::AtomicU64,
    /// Frames the domain owns (its memory and page tables), to free on destruction.
    pub frames: Vec<Mfn>,
    /// Serialises the domain's page-table operations (validation, updates, pins).
    pub mmu: Mutex<()>,
    /// Pages it holds now (`XENMEM_current_reservation`): its memory, ballooned.
    pub tot_pages: core::sync::atomic::AtomicU64,
    /// Pages it may hold (`XENMEM_maximum_reservation`; `XEN_DOMCTL_max_mem` sets it).
    pub max_pages: core::sync::atomic::AtomicU64,
    /// A domU's console ring (`start_info.console.domU.mfn`) and the hypervisor's end of its
    /// console channel, drained by the hypervisor until a dom0 console daemon exists.
    pub console_ring: Option<(Mfn, xen_abi::Port)>,
    /// Unsupported hypercall numbers already logged (bit `min(nr, 63)`).
    pub unsupported_logged: core::sync::atomic::AtomicU64,
    /// The I/O ports it may reach (all but the hypervisor's for the hardware domain).
    pub ioports: ioports::IoPorts,
    /// The toolstack's pause count (`controller_pause_count`, at most 255): the domain's
    /// vCPUs run only while it is 0. A domain made by `XEN_DOMCTL_createdomain` starts at 1.
    pub controller_pause: core::sync::atomic::AtomicU32,
    /// Its vCPUs exist for the toolstack (Xen's `d->vcpu[i] != NULL`): from the build, or
    /// from `XEN_DOMCTL_max_vcpus` for a domain the toolstack created.
    pub vcpus_ready: core::sync::atomic::AtomicBool,
    /// The toolstack's 16-byte handle (`xen_domain_handle_t`, a UUID).
    pub handle: Mutex<[u8; 16]>,
    /// Made by `XEN_DOMCTL_createdomain`: when it shuts down it stays, shut down, until the
    /// toolstack destroys it (a boot-module domU is torn down at once, as xl's
    /// `on_poweroff=destroy`).
    pub by_toolstack: bool,
    /// `XEN_DOMCTL_settscinfo`'s mode and the incarnation it leaves (Xen's `d->arch.tsc_mode`
    /// and `incarnation`; domain creation counts as the first setting).
    pub tsc: Mutex<(u32, u32)>,
    /// Its claim on memory not yet allocated (`outstanding_pages`; [`claims`]).
    pub outstanding: core::sync::atomic::AtomicU64,
    /// `XEN_DOMCTL_setnodeaffinity`'s NUMA nodes (bit `n`: node `n`); all until set.
    pub node_affinity: core::sync::atomic::AtomicU64,
    /// Its pseudo-physical memory map (`XENMEM_set_memory_map`, Xen's `d->arch.e820`); empty
    /// until set — a boot-module domU gets the one RAM entry libxl would set.
    pub e820: Mutex<Vec<xen_abi::memory::E820Entry>>,
    /// Seconds added to the wallclock it sees (`XEN_DOMCTL_settimeoffset`, Xen's
    /// `d->time_offset.seconds`).
    pub time_offset: core::sync::atomic::AtomicI64,
    /// Its CPU policy once the toolstack set one (`XEN_DOMCTL_set_cpu_policy`); until then
    /// the system's PV default (`pv::cpu_policy`).
    pub cpu_policy: Mutex<Option<alloc::boxed::Box<xen_abi::cpu_policy::CpuPolicy>>>,
    /// The toolstack's pause count first fell to 0 (Xen's `creation_finished`): the domain
    /// has run, and its CPU policy is fixed. Boot domains are finished from the start.
    pub creation_finished: core::sync::atomic::AtomicBool,
    /// Where its frames lie (see [`FrameSpan`]): every frame assigned to it is noted here.
    pub frame_span: FrameSpan,
    /// A dirty-bitmap read (`XEN_DOMCTL_shadow_op`) stopped halfway, to be resumed.
    pub log_dirty_progress: Mutex<Option<LogDirtyProgress>>,
    /// Its two watchdogs (`SCHEDOP_watchdog`).
    pub watchdogs: Mutex<watchdog::Watchdogs>,
    /// How far its destruction has got (resumed by each slice of `destroydomain`).
    #[cfg(target_os = "none")]
    pub teardown: Mutex<destroy::Teardown>,
}

#[cfg(target_os = "none")]
impl Domain {
    /// What follows a domU's shutdown or crash: the control domain hears of it
    /// (`VIRQ_DOM_EXC`, as Xen's `domain_shutdown`), and a boot-module domain is torn down.
    pub fn after_shutdown(&self) {
        crate::event::send_global_virq(xen_abi::xen::VIRQ_DOM_EXC);
        if !self.by_toolstack {
            destroy::request(self.id);
        }
    }
}

impl Domain {
    /// Who the frame table sees asking: this domain, with I/O privilege if it is the hardware
    /// domain.
    pub fn asker(&self) -> crate::mm::typing::Asker {
        crate::mm::typing::Asker {
            id: self.id,
            io: self.privileged,
            iomem: self.privileged,
        }
    }

    /// True while its vCPUs may run: running, and not paused by the toolstack.
    pub fn is_running(&self) -> bool {
        *self.state.lock() == DomainState::Running
            && self
                .controller_pause
                .load(core::sync::atomic::Ordering::Acquire)
                == 0
    }

    /// Appends console bytes; complete lines are logged as `(d<id>) text`.
    pub fn console_write(&self, bytes: &[u8]) {
        let mut line = self.console.lock();
        for &b in bytes {
            if b == b'\n' || line.buf.is_full() {
                self.flush_line(&mut line);
                if b == b'\n' {
                    continue;
                }
            }
            if b != b'\r' {
                let _ = line
                    .buf
                    .push(if b.is_ascii_graphic() || b == b' ' || b == b'\t' {
                        b
                    } else {
                        b'?'
                    });
            }
        }
    }

    fn flush_line(&self, line: &mut ConsoleLine) {
        let text = core::str::from_utf8(&line.buf).unwrap_or("?");
        crate::console::guest_line(self.id, text);
        line.buf.clear();
    }

    /// Flushes a partial console line (at shutdown).
    pub fn console_flush(&self) {
        let mut line = self.console.lock();
        if !line.buf.is_empty() {
            self.flush_line(&mut line);
        }
    }
}

/// Every domain, by id.
pub static DOMAINS: Mutex<BTreeMap<DomId, Arc<Domain>>> = Mutex::new(BTreeMap::new());

/// The domain with id `id`.
pub fn get(id: DomId) -> Option<Arc<Domain>> {
    DOMAINS.lock().get(&id).cloned()
}
