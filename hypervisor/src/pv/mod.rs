//! PV guest traps and entries: bouncing exceptions to the guest's virtual IDT with Xen's frame,
//! the `iret` hypercall, guest-user `syscall`, and the instructions Xen emulates for PV kernels
//! (forced-emulation CPUID, privileged register and MSR access, `int n`).

pub mod cpu_policy;
pub mod descriptors;
pub mod emulate;
pub mod ptwr;

use crate::arch::x86_64::guest::{self, copy_from_guest, copy_to_guest};
use crate::arch::x86_64::idt::TrapFrame;
use crate::arch::x86_64::trap::{Exception, ExceptionSource, Trap, Vector};
use crate::arch::x86_64::{cpu, exit, percpu};
use crate::domain::{self, DomainState, Vcpu, VcpuState};
use crate::layout::selectors;
use alloc::sync::Arc;
use xen_abi::arch_x86::{IretContext, VgcfFlags};
use xen_abi::xen::{ArchVcpuInfo, VcpuInfo};

/// RFLAGS bits.
pub mod rflags {
    pub const CF: u64 = 1 << 0;
    pub const MBS: u64 = 1 << 1;
    pub const TF: u64 = 1 << 8;
    pub const IF: u64 = 1 << 9;
    pub const DF: u64 = 1 << 10;
    pub const IOPL: u64 = 3 << 12;
    pub const NT: u64 = 1 << 14;
    pub const RF: u64 = 1 << 16;
    pub const VM: u64 = 1 << 17;
    pub const AC: u64 = 1 << 18;
    /// What a guest may set through `iret` (ALL in Xen's `do_iret`: arithmetic, TF, DF, OF, AC, ID).
    pub const GUEST_MUTABLE: u64 = 0x0025_4dd5 | TF | DF | AC;
}

/// Offsets of `vcpu_info` fields.
const UPCALL_PENDING: usize = core::mem::offset_of!(VcpuInfo, evtchn_upcall_pending);
const UPCALL_MASK: usize = core::mem::offset_of!(VcpuInfo, evtchn_upcall_mask);
const ARCH_CR2: usize =
    core::mem::offset_of!(VcpuInfo, arch) + core::mem::offset_of!(ArchVcpuInfo, cr2);

fn vcpu_info_read(v: &Vcpu, field: usize, buf: &mut [u8]) {
    let (mfn, off) = v.vcpu_info_at();
    let _ = crate::mm::guest::frame_read(mfn, off + field, buf);
}

fn vcpu_info_write(v: &Vcpu, field: usize, data: &[u8]) {
    let (mfn, off) = v.vcpu_info_at();
    let _ = crate::mm::guest::frame_write(mfn, off + field, data);
}

fn upcall_mask_get(v: &Vcpu) -> u8 {
    let mut b = [0u8; 1];
    vcpu_info_read(v, UPCALL_MASK, &mut b);
    b[0]
}

fn upcall_mask_set(v: &Vcpu, m: u8) {
    vcpu_info_write(v, UPCALL_MASK, &[m]);
}

/// The guest's virtual CR2 (`vcpu_info.arch.cr2`).
pub fn guest_cr2(v: &Vcpu) -> u64 {
    let mut b = [0u8; 8];
    vcpu_info_read(v, ARCH_CR2, &mut b);
    u64::from_le_bytes(b)
}

/// Sets the guest's virtual CR2.
pub fn set_guest_cr2(v: &Vcpu, cr2: u64) {
    vcpu_info_write(v, ARCH_CR2, &cr2.to_le_bytes());
}

fn upcall_pending(v: &Vcpu) -> bool {
    let mut b = [0u8; 1];
    vcpu_info_read(v, UPCALL_PENDING, &mut b);
    b[0] != 0
}

/// Kills `dom` for `why` (logged with the guest's registers), as Xen's `domain_crash`. The
/// initial domain's death ends the machine.
pub fn crash_domain(dom: &domain::Domain, frame: &TrapFrame, why: core::fmt::Arguments<'_>) {
    {
        let mut s = dom.state.lock();
        if matches!(*s, DomainState::Crashed | DomainState::Dying) {
            return;
        }
        *s = DomainState::Crashed;
    }
    crate::console::ring::drain(dom);
    dom.console_flush();
    log::error!(
        "d{}: domain crashed: {}\n  RIP {:#018x} CS {:#06x} RFLAGS {:#018x} RSP {:#018x} SS {:#06x}\n  RAX {:#018x} RBX {:#018x} RCX {:#018x} RDX {:#018x}\n  RSI {:#018x} RDI {:#018x} RBP {:#018x} CR2 {:#018x}",
        dom.id.0,
        why,
        frame.rip,
        frame.cs,
        frame.rflags,
        frame.rsp,
        frame.ss,
        frame.rax,
        frame.rbx,
        frame.rcx,
        frame.rdx,
        frame.rsi,
        frame.rdi,
        frame.rbp,
        cpu::read_cr2()
    );
    if dom.privileged {
        end_machine(exit::ExitCode::DomainCrashed, "the initial domain crashed");
    }
    dom.after_shutdown();
}

/// Ends the run after the initial domain is gone: under QEMU's debug-exit device with `code`.
pub fn end_machine(code: exit::ExitCode, why: &str) -> ! {
    log::info!("Ferrite: {why}; halting (exit code {:#x})", code as u8);
    exit::debug_exit(code);
    cpu::halt_forever()
}

/// Switches the vCPU between guest-kernel and guest-user mode (Xen's `toggle_guest_mode`):
/// swaps the active and inactive GS bases and loads the other L4.
fn toggle_mode(st: &mut VcpuState) {
    guest::swap_gs_bases();
    st.kernel_mode = !st.kernel_mode;
    reload_cr3(st);
}

/// Builds Xen's bounce frame (`create_bounce_frame`) on the guest kernel stack and points the
/// frame at `handler`: `{RCX, R11, [error code,] RIP, CS|mask<<32, RFLAGS, RSP, SS}`.
fn bounce(
    v: &Vcpu,
    st: &mut VcpuState,
    frame: &mut TrapFrame,
    handler: u64,
    error: Option<u64>,
    mask: bool,
) -> Result<(), ()> {
    let from_user = !st.kernel_mode;
    let (cs, ss) = (frame.cs, frame.ss);
    let mut sp = if from_user {
        toggle_mode(st);
        st.kernel_sp
    } else {
        frame.rsp
    };
    sp &= !15;
    let saved_mask = upcall_mask_get(v);
    let guest_if = if saved_mask == 0 { rflags::IF } else { 0 };
    let fl = (frame.rflags & !rflags::IF & !rflags::IOPL) | guest_if;
    let cs_word = if from_user { cs } else { cs & !3 } | (u64::from(saved_mask) << 32);
    let mut words: heapless::Vec<u64, 8> = heapless::Vec::new();
    let _ = words.push(frame.rcx);
    let _ = words.push(frame.r11);
    if let Some(e) = error {
        let _ = words.push(e);
    }
    for w in [frame.rip, cs_word, fl, frame.rsp, ss] {
        let _ = words.push(w);
    }
    let bytes: heapless::Vec<u8, 64> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let new_sp = sp.wrapping_sub(bytes.len() as u64);
    if copy_to_guest(new_sp, &bytes).is_err() {
        return Err(());
    }
    frame.rsp = new_sp;
    frame.rip = handler;
    frame.cs = u64::from(selectors::FLAT_RING3_CS64);
    frame.ss = u64::from(selectors::FLAT_RING3_DS);
    frame.rflags = (frame.rflags
        & !(rflags::TF | rflags::VM | rflags::RF | rflags::NT | rflags::AC | rflags::IOPL))
        | rflags::IF
        | rflags::MBS;
    if mask {
        upcall_mask_set(v, 1);
    }
    Ok(())
}

/// A data segment selector of the guest's would not load on its way back in (Xen's
/// `load_segments` failure): enter the failsafe callback on the kernel stack with
/// `{RCX, R11, DS, ES, FS, GS, RIP, CS|mask<<32, RFLAGS, RSP, SS}`, or crash the domain if it
/// registered none.
pub fn failsafe(v: &Vcpu, frame: &mut TrapFrame, seg: &guest::SegmentState) {
    let Some(dom) = v.domain() else { return };
    let mut st = v.state.lock();
    let cb = st.failsafe_callback;
    if cb.address == 0 {
        drop(st);
        crash_domain(
            &dom,
            frame,
            format_args!("a segment selector would not load and there is no failsafe callback"),
        );
        return;
    }
    let from_user = !st.kernel_mode;
    let (cs, ss) = (frame.cs, frame.ss);
    let sp = if from_user {
        toggle_mode(&mut st);
        st.kernel_sp
    } else {
        frame.rsp
    } & !15;
    let mask = upcall_mask_get(v);
    let fl = (frame.rflags & !rflags::IF & !rflags::IOPL) | if mask == 0 { rflags::IF } else { 0 };
    let cs_word = if from_user { cs } else { cs & !3 } | (u64::from(mask) << 32);
    let words = [
        frame.rcx,
        frame.r11,
        u64::from(seg.ds),
        u64::from(seg.es),
        u64::from(seg.fs),
        u64::from(seg.gs),
        frame.rip,
        cs_word,
        fl,
        frame.rsp,
        ss,
    ];
    let bytes: heapless::Vec<u8, 88> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let new_sp = sp.wrapping_sub(bytes.len() as u64);
    drop(st);
    if copy_to_guest(new_sp, &bytes).is_err() {
        crash_domain(
            &dom,
            frame,
            format_args!("cannot write the failsafe frame at {new_sp:#x}"),
        );
        return;
    }
    if cb.mask_events {
        upcall_mask_set(v, 1);
    }
    frame.rsp = new_sp;
    frame.rip = cb.address;
    frame.cs = u64::from(selectors::FLAT_RING3_CS64);
    frame.ss = u64::from(selectors::FLAT_RING3_DS);
    frame.rflags &=
        !(rflags::AC | rflags::VM | rflags::RF | rflags::NT | rflags::IOPL | rflags::TF);
}

/// Delivers `vector` (an exception, or the software interrupt of an `int n`) to the guest's
/// handler, crashing the domain if it has none or the frame cannot be written.
pub fn inject(
    dom: &domain::Domain,
    v: &Vcpu,
    frame: &mut TrapFrame,
    vector: Vector,
    error: Option<u64>,
) {
    let mut st = v.state.lock();
    let te = st.traps[usize::from(vector.0)];
    let vector = vector.0;
    if te.address == 0 {
        drop(st);
        crash_domain(
            dom,
            frame,
            format_args!(
                "unhandled exception: vector {vector} (error {:#x}) and no handler",
                error.unwrap_or(0)
            ),
        );
        return;
    }
    if st.bouncing {
        drop(st);
        crash_domain(
            dom,
            frame,
            format_args!("fault while delivering vector {vector}"),
        );
        return;
    }
    st.bouncing = true;
    let r = bounce(v, &mut st, frame, te.address, error, te.flags & 4 != 0);
    st.bouncing = false;
    drop(st);
    if r.is_err() {
        crash_domain(
            dom,
            frame,
            format_args!(
                "cannot write the exception frame for vector {vector} at {:#x}",
                frame.rsp
            ),
        );
    }
}

fn current_pair() -> Option<(Arc<domain::Domain>, Arc<Vcpu>)> {
    let v = crate::sched::current()?;
    Some((v.domain()?, v))
}

/// The one entry from the trap boundary (`arch`'s dispatcher hands every decoded trap here):
/// the hypervisor's own tick while it idles, or anything that left a guest — a hypercall or
/// system call, an exception, an interrupt — after which the vCPU to resume is chosen and its
/// events delivered on the one way back ([`return_to_guest`]).
pub fn trap(trap: Trap, frame: &mut TrapFrame) {
    if let Trap::Timer { in_guest } = trap {
        crate::debug::tick(frame, in_guest);
    }
    if trap == (Trap::Timer { in_guest: false }) {
        timer_tick();
        return;
    }
    crate::sched::left_guest();
    match trap {
        Trap::Syscall => syscall(frame),
        Trap::Exception(e) => exception(e, frame),
        Trap::Timer { .. } => {
            timer_tick();
            crate::sched::tick();
        }
        Trap::Wake => {}
        Trap::Nmi => {
            if let Some((dom, v)) = current_pair() {
                log::warn!("NMI while d{}v{} ran", dom.id.0, v.id.0);
            }
        }
    }
    return_to_guest(frame);
}

/// The hypervisor tick's generic work: due guest timers, and serial input for the initial
/// domain (`VIRQ_CONSOLE`, polled on CPU 0).
fn timer_tick() {
    crate::time::tick();
    crate::domain::watchdog::tick();
    crate::arch::x86_64::trap::report_hypervisor_db();
    if percpu::cpu_index() == 0 && crate::console::poll_input() {
        crate::event::send_global_virq(xen_abi::xen::VIRQ_CONSOLE);
    }
}

/// Every return to a guest (Xen's `test_all_events`): maybe switch vCPUs, enter the event
/// callback if an upcall is pending and unmasked, then carry out TLB flushes asked of this CPU.
fn return_to_guest(frame: &mut TrapFrame) {
    crate::sched::schedule(frame);
    deliver_events(frame);
    crate::sched::entering_guest();
}

/// An exception raised while a guest ran, or by the hypervisor's return to it.
fn exception(e: Exception, frame: &mut TrapFrame) {
    let Some((dom, v)) = current_pair() else {
        crate::arch::x86_64::idt::fatal_exception(frame);
    };
    let by_guest = e.source == ExceptionSource::Guest;
    match e.vector {
        Vector::INVALID_OPCODE if by_guest && emulate::forced_cpuid(frame) => {}
        // #NM: the guest set its virtual TS (fpu_taskswitch / mov %cr0); Xen clears it and
        // delivers #NM. Without a virtual TS it was the hypervisor's and is just cleared.
        Vector::DEVICE_NOT_AVAILABLE => {
            cpu::set_ts(false);
            let had_ts = core::mem::replace(&mut v.state.lock().fpu_ts, false);
            if had_ts {
                inject(&dom, &v, frame, Vector::DEVICE_NOT_AVAILABLE, None);
            }
        }
        Vector::GENERAL_PROTECTION if by_guest && emulate::privileged(&dom, &v, frame) => {}
        // A write to one of its own page tables: emulated (writable page tables).
        Vector::PAGE_FAULT
            if by_guest
                && e.error_code.unwrap_or(0) & 3 == 3
                && ptwr::write_fault(&dom, &v, frame, e.cr2) => {}
        Vector::PAGE_FAULT => {
            set_guest_cr2(&v, e.cr2);
            // The U/S bit says which guest mode faulted, not the hardware CPL (always 3).
            let kernel = v.state.lock().kernel_mode;
            let ec = e.error_code.unwrap_or(0);
            let ec = if kernel { ec & !4 } else { ec | 4 };
            inject(&dom, &v, frame, Vector::PAGE_FAULT, Some(ec));
        }
        Vector::MACHINE_CHECK => crate::arch::x86_64::idt::fatal_exception(frame),
        // #DB: what the hardware's DR6 reports goes to the vCPU's (Xen's `do_debug`).
        Vector::DEBUG if by_guest => {
            let hw = crate::arch::x86_64::debugreg::take_dr6();
            v.state.lock().debug.record(hw);
            inject(&dom, &v, frame, Vector::DEBUG, None);
        }
        vector => {
            if e.source == ExceptionSource::Exit {
                log::debug!(
                    "d{}v{}: the return frame (RIP {:#x} CS {:#x} SS {:#x}) raised {}",
                    dom.id.0,
                    v.id.0,
                    frame.rip,
                    frame.cs,
                    frame.ss,
                    vector.name()
                );
            }
            inject(&dom, &v, frame, vector, e.error_code);
        }
    }
}

/// Whether `v` has an upcall pending and not masked (Xen's `local_events_need_delivery`).
pub fn upcall_due(v: &Vcpu) -> bool {
    upcall_pending(v) && upcall_mask_get(v) == 0
}

/// On the way back to a guest: if its vCPU has an event upcall pending and not masked, enter the
/// event callback (Xen's `test_guest_events`), masking further upcalls.
pub fn deliver_events(frame: &mut TrapFrame) {
    let Some((dom, v)) = current_pair() else {
        return;
    };
    deliver_nmi(&dom, &v, frame);
    if !upcall_due(&v) {
        return;
    }
    let mut st = v.state.lock();
    let cb = st.event_callback;
    if cb.address == 0 || !dom.is_running() {
        return;
    }
    let r = bounce(&v, &mut st, frame, cb.address, None, true);
    drop(st);
    if r.is_err() {
        crash_domain(
            &dom,
            frame,
            format_args!("cannot write the event callback frame at {:#x}", frame.rsp),
        );
    }
}

/// Xen's `process_nmi`, before events: a pending NMI not masked by one in progress is taken off
/// `nmi_pending` and, if the virtual IDT has an NMI entry, delivered there with further NMIs
/// masked until the guest's next `iret`; without an entry it is dropped.
fn deliver_nmi(dom: &domain::Domain, v: &Vcpu, frame: &mut TrapFrame) {
    use core::sync::atomic::Ordering;
    if !v.nmi_pending.load(Ordering::Acquire) {
        return;
    }
    let mut st = v.state.lock();
    if st.nmi_masked || !dom.is_running() {
        return;
    }
    v.nmi_pending.store(false, Ordering::Release);
    let te = st.traps[usize::from(Vector::NMI.0)];
    if te.address == 0 {
        return;
    }
    st.nmi_masked = true;
    let r = bounce(v, &mut st, frame, te.address, None, te.flags & 4 != 0);
    drop(st);
    if r.is_err() {
        crash_domain(
            dom,
            frame,
            format_args!("cannot write the NMI frame at {:#x}", frame.rsp),
        );
    }
}

/// `SCHEDOP_block`: enable event delivery and sleep until an upcall is pending.
pub fn block(v: &Vcpu) {
    upcall_mask_set(v, 0);
    if upcall_pending(v) {
        return;
    }
    v.state.lock().blocked = true;
    // An event that arrived meanwhile was delivered to the words before its kick: look again.
    if upcall_pending(v) {
        v.state.lock().blocked = false;
    }
}

/// `SYSCALL` from ring 3: a hypercall in guest-kernel mode, the guest's syscall callback in
/// guest-user mode.
fn syscall(frame: &mut TrapFrame) {
    let Some((dom, v)) = current_pair() else {
        crate::arch::x86_64::idt::fatal_exception(frame);
    };
    let kernel = v.state.lock().kernel_mode;
    if kernel {
        crate::hypercall::dispatch(&dom, &v, frame);
    } else {
        user_syscall(&dom, &v, frame);
    }
}

fn user_syscall(dom: &domain::Domain, v: &Vcpu, frame: &mut TrapFrame) {
    let cb = v.state.lock().syscall_callback;
    if cb.address == 0 {
        // Xen rewinds over the SYSCALL and injects #UD.
        frame.rip = frame.rip.wrapping_sub(2);
        inject(dom, v, frame, Vector::INVALID_OPCODE, None);
        return;
    }
    frame.rflags &= !rflags::DF;
    let mut st = v.state.lock();
    let r = bounce(v, &mut st, frame, cb.address, None, cb.mask_events);
    drop(st);
    if r.is_err() {
        crash_domain(
            dom,
            frame,
            format_args!("cannot write the syscall frame on the kernel stack"),
        );
    }
}

/// The `iret` hypercall (`do_iret`): the guest pushed an `iret_context` (`{rax, r11, rcx,
/// flags, rip, cs, rflags, rsp, ss}`) and made the call with `rsp` pointing at it. As in Xen,
/// the values are taken as they are but for RPL 3 on both selectors and RFLAGS without IOPL
/// and VM; a frame the CPU then refuses to load (a null or hypervisor selector, a non-canonical
/// RIP) is the guest's fault on the way back, delivered to it by the exit path
/// (`trap::exit_check` and the fixup of the exit `iretq`), never the hypervisor's.
pub fn iret(dom: &domain::Domain, v: &Vcpu, frame: &mut TrapFrame) {
    let Ok(c) = read_guest_struct::<IretContext>(frame.rsp) else {
        crash_domain(
            dom,
            frame,
            format_args!("iret: cannot read the frame at {:#x}", frame.rsp),
        );
        return;
    };
    let mut st = v.state.lock();
    if c.cs & 3 == 3 && st.kernel_mode {
        if st.user_l4.is_none() {
            drop(st);
            crash_domain(
                dom,
                frame,
                format_args!("iret to user mode without a user page table"),
            );
            return;
        }
        toggle_mode(&mut st);
    }
    frame.rip = c.rip;
    frame.rsp = c.rsp;
    frame.cs = c.cs | 3;
    frame.ss = c.ss | 3;
    frame.rflags = (c.rflags & rflags::GUEST_MUTABLE & !(rflags::IOPL | rflags::VM))
        | rflags::IF
        | rflags::MBS;
    if c.flags & VgcfFlags::IN_SYSCALL.bits() == 0 {
        frame.r11 = c.r11;
        frame.rcx = c.rcx;
    }
    frame.rax = c.rax;
    // `async_exception_cleanup`: leaving a handler through `iret` unmasks NMIs.
    st.nmi_masked = false;
    drop(st);
    upcall_mask_set(v, u8::from(c.rflags & rflags::IF == 0));
}

/// Reads a plain-data ABI struct from guest memory (helper for hypercalls).
pub fn read_guest_struct<T: zerocopy::FromBytes + zerocopy::IntoBytes>(
    va: u64,
) -> Result<T, xen_abi::Errno> {
    let mut t = T::new_zeroed();
    copy_from_guest(va, t.as_mut_bytes()).map_err(|_| xen_abi::Errno::EFAULT)?;
    Ok(t)
}

/// Writes a plain-data ABI value to guest memory (helper for hypercalls).
pub fn write_guest_struct<T: zerocopy::IntoBytes + zerocopy::Immutable>(
    va: u64,
    value: &T,
) -> Result<(), xen_abi::Errno> {
    write_guest(va, value.as_bytes())
}

/// Writes bytes to guest memory (helper for hypercalls).
pub fn write_guest(va: u64, data: &[u8]) -> Result<(), xen_abi::Errno> {
    copy_to_guest(va, data).map_err(|_| xen_abi::Errno::EFAULT)
}

/// Loads `st`'s active L4 (after `MMUEXT_NEW_BASEPTR`-style changes, and when the vCPU is
/// switched in); the hypervisor's own root for a vCPU that has none yet.
pub fn reload_cr3(st: &VcpuState) {
    match st.active_l4() {
        Some(l4) => crate::mm::load_guest_l4(l4),
        None => crate::mm::load_kernel_root(),
    }
}

/// Writes a guest's FS/GS base (`set_segment_base`): canonical bases only (-EINVAL), into
/// the register that holds that base in the vCPU's current mode.
pub fn set_segment_base(st: &VcpuState, which: u32, base: u64) -> Result<(), xen_abi::Errno> {
    use guest::SegmentBase;
    use xen_abi::arch_x86::{SEGBASE_FS, SEGBASE_GS_KERNEL, SEGBASE_GS_USER, SEGBASE_GS_USER_SEL};
    let reg = match which {
        SEGBASE_FS => SegmentBase::Fs,
        SEGBASE_GS_USER if st.kernel_mode => SegmentBase::GsShadow,
        SEGBASE_GS_USER => SegmentBase::Gs,
        SEGBASE_GS_KERNEL if st.kernel_mode => SegmentBase::Gs,
        SEGBASE_GS_KERNEL => SegmentBase::GsShadow,
        SEGBASE_GS_USER_SEL => {
            let mut seg = guest::save_segments();
            seg.gs = (base as u16) | 3;
            // The selector load gives the user GS the descriptor's base (0 for flat selectors).
            if st.kernel_mode {
                seg.gs_shadow = 0;
            } else {
                seg.gs_base = 0;
            }
            if !guest::load_segments(&seg) {
                // Xen loads the null selector when the load faults.
                let _ = guest::load_segments(&guest::SegmentState { gs: 0, ..seg });
            }
            return Ok(());
        }
        _ => return Err(xen_abi::Errno::EINVAL),
    };
    let base = guest::GuestVa::new(base).ok_or(xen_abi::Errno::EINVAL)?;
    guest::set_segment_base(reg, base.get()).map_err(|_| xen_abi::Errno::EINVAL)
}
