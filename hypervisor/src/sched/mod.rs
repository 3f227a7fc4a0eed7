//! vCPU scheduling: a run queue per physical CPU, round-robin with a 10 ms slice (the hypervisor
//! tick), and the switch of guest state (registers, page tables, segments, FPU) between vCPUs.

use crate::arch::x86_64::{cpu, guest, idt::TrapFrame, percpu};
use crate::domain::{runstate, Vcpu};
use crate::layout::MAX_CPUS;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::Mutex;

static RUNQ: [Mutex<Vec<Arc<Vcpu>>>; MAX_CPUS] = [const { Mutex::new(Vec::new()) }; MAX_CPUS];
static CURRENT: [Mutex<Option<Arc<Vcpu>>>; MAX_CPUS] = [const { Mutex::new(None) }; MAX_CPUS];
static NEED_RESCHED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static STARTED: AtomicBool = AtomicBool::new(false);
/// Per CPU: a vCPU of its queue is to move elsewhere ([`migrate`]).
static MIGRATE_PENDING: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Per CPU: running guest code (between the return to a guest and the next entry to the
/// hypervisor). Only such CPUs can use stale TLB entries; the others flush before they return.
static IN_GUEST: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Per CPU: TLB flushes asked of it, and done by it.
static FLUSH_REQ: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static FLUSH_DONE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Called on every entry to the hypervisor from a guest.
pub fn left_guest() {
    if let Some(f) = IN_GUEST.get(this()) {
        f.store(false, Ordering::SeqCst);
    }
}

/// Called last before returning to a guest: carries out any TLB flush asked of this CPU while
/// it was in the hypervisor, then marks it as running guest code.
pub fn entering_guest() {
    let cpu = this();
    let (Some(g), Some(req), Some(done)) =
        (IN_GUEST.get(cpu), FLUSH_REQ.get(cpu), FLUSH_DONE.get(cpu))
    else {
        return;
    };
    // Dekker with `shootdown`: either it sees us in the guest and waits for us, or we see its
    // request here.
    g.store(true, Ordering::SeqCst);
    let want = req.load(Ordering::SeqCst);
    if done.load(Ordering::SeqCst) < want {
        cpu::flush_tlb_all();
        done.store(want, Ordering::SeqCst);
    }
}

/// TLB shootdown: flushes this CPU's TLB and makes sure no other CPU runs guest code with a
/// TLB entry older than now (they are interrupted and flush before they return to a guest).
/// Safe with locks held and interrupts off: it waits only for CPUs running guest code, which
/// take the interrupt at once.
pub fn shootdown() {
    cpu::flush_tlb_all();
    let me = this();
    let mut waiting: heapless::Vec<(usize, u64), MAX_CPUS> = heapless::Vec::new();
    for c in (0..MAX_CPUS).filter(|&c| c != me) {
        let Some(p) = percpu::of(c).filter(|p| p.online.load(Ordering::Acquire)) else {
            continue;
        };
        let want = FLUSH_REQ[c].fetch_add(1, Ordering::SeqCst) + 1;
        if IN_GUEST[c].load(Ordering::SeqCst) {
            crate::arch::x86_64::apic::send_wake(p.apic_id.load(Ordering::Relaxed));
            let _ = waiting.push((c, want));
        }
    }
    for (c, want) in waiting {
        while IN_GUEST[c].load(Ordering::SeqCst) && FLUSH_DONE[c].load(Ordering::SeqCst) < want {
            cpu::pause();
        }
    }
}

fn this() -> usize {
    percpu::cpu_index() as usize
}

/// Queues `v` on its physical CPU.
pub fn add(v: Arc<Vcpu>) {
    if let Some(q) = RUNQ.get(v.pcpu()) {
        q.lock().push(v);
    }
}

/// Asks that `v` move to physical CPU `to` (`XEN_DOMCTL_setvcpuaffinity` with a hard
/// affinity that leaves out its CPU): its CPU is kicked, and moves it as soon as it is not
/// running there ([`migrate_out`]).
pub fn migrate(v: &Vcpu, to: usize) {
    if to >= MAX_CPUS || to == v.pcpu() {
        v.migrate_to
            .store(crate::domain::NO_MIGRATION, Ordering::Release);
        return;
    }
    v.migrate_to.store(to, Ordering::Release);
    let from = v.pcpu();
    if let Some(f) = MIGRATE_PENDING.get(from) {
        f.store(true, Ordering::Release);
    }
    kick(from);
}

fn migrating(v: &Vcpu) -> bool {
    v.migrate_to.load(Ordering::Acquire) != crate::domain::NO_MIGRATION
}

/// Moves the vCPUs of this CPU's queue that are to migrate and are not running here to their
/// new CPU's queue (Xen's `vcpu_migrate`). Only a vCPU's own CPU changes its CPU, and only
/// while the vCPU is off it (its state saved), so a vCPU is never current on two CPUs; the two
/// queues are never locked together.
fn migrate_out(cpu: usize) {
    let Some(q) = RUNQ.get(cpu) else { return };
    let current = CURRENT.get(cpu).and_then(|c| c.lock().clone());
    let mut moving: heapless::Vec<Arc<Vcpu>, 8> = heapless::Vec::new();
    {
        let mut q = q.lock();
        let mut i = 0;
        while i < q.len() {
            let v = &q[i];
            let here = current.as_ref().is_some_and(|c| Arc::ptr_eq(c, v));
            if migrating(v) && !here && !moving.is_full() {
                let _ = moving.push(q.remove(i));
            } else {
                i += 1;
            }
        }
    }
    if moving.is_full() {
        // More next time round.
        MIGRATE_PENDING[cpu].store(true, Ordering::Release);
    }
    for v in moving {
        let to = v
            .migrate_to
            .swap(crate::domain::NO_MIGRATION, Ordering::AcqRel);
        let to = if to < MAX_CPUS { to } else { cpu };
        v.cpu.store(to, Ordering::Release);
        // A domain being destroyed meanwhile has had its vCPUs taken off every queue: this one
        // is not put back.
        let alive = v
            .domain()
            .is_some_and(|d| *d.state.lock() != crate::domain::DomainState::Dying);
        if !alive {
            continue;
        }
        log::debug!(
            "d{}v{}: moved from CPU {cpu} to CPU {to}",
            v.domid.0,
            v.id.0
        );
        if let Some(tq) = RUNQ.get(to) {
            tq.lock().push(v);
        }
        kick(to);
    }
}

/// Takes every vCPU of domain `dom` off the run queues (domain destruction).
pub fn remove_domain(dom: xen_abi::DomId) {
    for q in &RUNQ {
        q.lock().retain(|v| v.domid != dom);
    }
}

/// True if a vCPU of domain `dom` is current on some CPU (its page tables may be loaded
/// there); that CPU is kicked so it reschedules.
pub fn is_current_anywhere(dom: xen_abi::DomId) -> bool {
    let mut any = false;
    for (cpu, c) in CURRENT.iter().enumerate() {
        if c.lock().as_ref().is_some_and(|v| v.domid == dom) {
            any = true;
            if cpu != this() {
                kick(cpu);
            }
        }
    }
    any
}

/// Lets every CPU start running guests, waking the idle ones.
pub fn start() {
    STARTED.store(true, Ordering::Release);
    let me = this();
    for cpu in (0..MAX_CPUS).filter(|&c| c != me) {
        kick(cpu);
    }
}

/// Wakes physical CPU `cpu` (if online) so it re-examines its run queue.
pub fn kick(cpu: usize) {
    if let Some(p) = percpu::of(cpu).filter(|p| p.online.load(Ordering::Acquire)) {
        crate::arch::x86_64::apic::send_wake(p.apic_id.load(Ordering::Relaxed));
    }
}

/// True once guests may run.
pub fn started() -> bool {
    STARTED.load(Ordering::Acquire)
}

/// The vCPU running on this CPU.
pub fn current() -> Option<Arc<Vcpu>> {
    CURRENT.get(this())?.lock().clone()
}

/// What CPU `cpu` runs, as `(domain, vCPU)`, without waiting for its lock (for the debug dump):
/// `None` if nothing or the lock is busy.
pub fn current_try(cpu: usize) -> Option<(u16, u32)> {
    let g = CURRENT.get(cpu)?.try_lock()?;
    g.as_ref().map(|v| (v.domid.0, v.id.0))
}

/// Asks this CPU to reconsider what runs (the slice ended).
pub fn tick() {
    if let Some(f) = NEED_RESCHED.get(this()) {
        f.store(true, Ordering::Relaxed);
    }
}

fn runnable(v: &Vcpu) -> bool {
    if migrating(v) {
        return false;
    }
    let dom_ok = v.domain().is_some_and(|d| d.is_running());
    let st = v.state.lock();
    dom_ok && st.up && !st.blocked
}

/// The next runnable vCPU after `after` in this CPU's queue (round-robin), if any.
fn pick(cpu: usize, after: Option<&Arc<Vcpu>>) -> Option<Arc<Vcpu>> {
    let q = RUNQ.get(cpu)?.lock();
    if q.is_empty() {
        return None;
    }
    let start = after
        .and_then(|a| q.iter().position(|v| Arc::ptr_eq(v, a)))
        .map_or(0, |i| i + 1);
    (0..q.len())
        .map(|k| &q[(start + k) % q.len()])
        .find(|v| runnable(v))
        .cloned()
}

fn save(v: &Vcpu, frame: &TrapFrame) {
    let dom_running = v.domain().is_some_and(|d| d.is_running());
    let mut st = v.state.lock();
    st.regs = *frame;
    st.segments = guest::save_segments();
    // The state is saved (and restored) with TS clear; the guest's virtual TS goes back in
    // when it runs again.
    cpu::set_ts(false);
    guest::fpu_save(&mut st.fpu);
    // Xen's `vcpu_runstate_change` on the way out.
    let next = if st.blocked {
        runstate::BLOCKED
    } else if st.up && dom_running {
        runstate::RUNNABLE
    } else {
        runstate::OFFLINE
    };
    st.runstate.change(next, crate::time::now());
}

/// Writes `st`'s runstate to its registered area (in the page tables now loaded), with Xen's
/// `XEN_RUNSTATE_UPDATE` protocol when the domain enabled `VMASST_TYPE_runstate_update_flag`.
/// A bad area is the guest's problem: the write is skipped, as Xen's is.
pub fn write_runstate_area(dom_assist: u64, st: &crate::domain::VcpuState) {
    let Some(va) = st.runstate_area else { return };
    let flag = dom_assist & (1 << xen_abi::xen::VMASST_TYPE_RUNSTATE_UPDATE_FLAG) != 0;
    let bytes = st.runstate.to_bytes(flag);
    if flag {
        let _ = guest::copy_to_guest(va + 8, &bytes[8..16]);
    }
    let _ = guest::copy_to_guest(va, &bytes);
    if flag {
        let _ = guest::copy_to_guest(va + 8, &st.runstate.entry.to_le_bytes());
    }
}

/// Loads `v`'s state into this CPU and returns the frame to resume it with.
fn load(v: &Vcpu) -> TrapFrame {
    crate::time::update_vcpu_time(v.vcpu_info_at());
    let assist = v
        .domain()
        .map_or(0, |d| d.vm_assist.load(Ordering::Relaxed));
    let mut st = v.state.lock();
    st.runstate.change(runstate::RUNNING, crate::time::now());
    crate::pv::reload_cr3(&st);
    write_runstate_area(assist, &st);
    if let Some(va) = st.time_area {
        crate::time::update_time_area(va);
    }
    crate::pv::descriptors::install(&st.gdt_frames);
    crate::pv::descriptors::install_ldt(&st.ldt_frames, st.ldt_ents);
    let segs_ok = guest::load_segments(&st.segments);
    guest::fpu_restore(&st.fpu);
    crate::arch::x86_64::debugreg::load(&st.debug);
    guest::load_tsc_aux(st.tsc_aux);
    cpu::set_ts(st.fpu_ts);
    let mut regs = st.regs;
    if !segs_ok {
        // A selector the guest left behind no longer loads: Xen's failsafe callback.
        let seg = st.segments;
        drop(st);
        crate::pv::failsafe(v, &mut regs, &seg);
    }
    regs
}

/// Called on every return to a guest with the frame about to be resumed: keeps the current
/// vCPU if it may run and its slice is not over, otherwise switches to the next runnable one,
/// idling (interrupts on) while there is none.
pub fn schedule(frame: &mut TrapFrame) {
    let cpu = this();
    let resched = NEED_RESCHED
        .get(cpu)
        .is_some_and(|f| f.swap(false, Ordering::Relaxed));
    // Every return to a guest passes here: a plain load first, the swap only when set.
    if MIGRATE_PENDING
        .get(cpu)
        .is_some_and(|f| f.load(Ordering::Relaxed) && f.swap(false, Ordering::AcqRel))
    {
        migrate_out(cpu);
    }
    let cur = current();
    if let Some(c) = &cur {
        if !resched && runnable(c) {
            return;
        }
    }
    let next = pick(cpu, cur.as_ref());
    match (&cur, next) {
        (Some(c), Some(n)) if Arc::ptr_eq(c, &n) => {}
        (_, Some(n)) => {
            if let Some(c) = &cur {
                save(c, frame);
            }
            *frame = load(&n);
            *CURRENT[cpu].lock() = Some(n);
            // The previous vCPU's page tables are no longer loaded here.
            crate::domain::destroy::reap();
            migrate_out(cpu);
        }
        (_, None) => {
            if let Some(c) = &cur {
                save(c, frame);
            }
            *CURRENT[cpu].lock() = None;
            let n = idle_until_runnable(cpu);
            *frame = load(&n);
            *CURRENT[cpu].lock() = Some(n);
        }
    }
}

fn idle_until_runnable(cpu: usize) -> Arc<Vcpu> {
    // Run queues are also read by the tick's timer check: look at them with interrupts off.
    cpu::disable_interrupts();
    crate::mm::load_kernel_root();
    loop {
        crate::domain::destroy::reap();
        migrate_out(cpu);
        if started() {
            if let Some(n) = pick(cpu, None) {
                cpu::disable_interrupts();
                return n;
            }
        }
        cpu::enable_and_halt();
        cpu::disable_interrupts();
    }
}

/// Calls `f` for every vCPU queued on this CPU, from the tick. If the queue is busy (it is
/// only ever held with interrupts off, so that means another CPU holds it), this tick skips it.
pub fn for_each_local_vcpu(mut f: impl FnMut(&Arc<Vcpu>)) {
    if let Some(q) = RUNQ.get(this()).and_then(|q| q.try_lock()) {
        for v in q.iter() {
            f(v);
        }
    }
}

/// This CPU's scheduler loop entry: waits for a runnable vCPU and enters it. Never returns.
pub fn run() -> ! {
    let cpu = this();
    let n = idle_until_runnable(cpu);
    let regs = load(&n);
    *CURRENT[cpu].lock() = Some(n);
    entering_guest();
    crate::arch::x86_64::trap::enter_guest(&regs)
}
