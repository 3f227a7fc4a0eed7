//! `vcpu_op` (Xen's `common/domain.c` and `arch_set_info_guest`): bringing vCPUs up and down
//! (`VCPUOP_initialise` of a 64-bit PV `vcpu_guest_context`, `up`, `down`), their timers,
//! runstate areas and `vcpu_info` placement.

use crate::arch::x86_64::guest::GuestVa;
use crate::arch::x86_64::idt::TrapFrame;
use crate::domain::{Callback, Domain, TrapEntry, Vcpu};
use crate::mm::typing::PageType;
use crate::pv::{read_guest_struct, write_guest};
use xen_abi::arch_x86::{xen_cr3_to_pfn, VcpuGuestContext, VgcfFlags};
use xen_abi::vcpu::{
    VcpuOp, VcpuRegisterRunstateMemoryArea, VcpuRegisterTimeMemoryArea, VcpuRegisterVcpuInfo,
    VcpuRunstateInfo, VcpuSetPeriodicTimer, VcpuSetSingleshotTimer,
};
use xen_abi::xen::VcpuInfo;
use xen_abi::{Errno, Mfn, XenResult};
use zerocopy::{FromZeros, IntoBytes};

/// `VCPUOP_initialise`: gives a vCPU that has never run its first context. -EEXIST if it was
/// initialised already; -EINVAL, as Xen's `arch_set_info_guest`, for a non-canonical RIP, RSP,
/// kernel stack, segment base, callback or virtual-IDT handler, an LDT (not supported), or page
/// tables / GDT frames that do not validate. Selectors get RPL 3 and are otherwise taken as
/// they are (as Xen's `fixup_guest_*_selector`): one the CPU refuses when the vCPU first runs
/// is the guest's #GP, delivered by the exit path. The FPU starts in its initial state
/// (`fpu_ctxt` is not loaded).
pub fn initialise(dom: &Domain, target: &Vcpu, arg: u64) -> XenResult<u64> {
    let c: VcpuGuestContext = read_guest_struct(arg)?;
    set_context(dom, target, &c)
}

/// Xen's `arch_set_info_guest` for a 64-bit PV vCPU that has not run: the context's
/// addresses, debug registers, page tables (typed as the domain's L4s) and GDT frames checked
/// and taken, then the vCPU's registers, callbacks, virtual IDT and segments set. `-EEXIST` if
/// it was already initialised, `-EINVAL` for anything refused (nothing is kept).
pub fn set_context(dom: &Domain, target: &Vcpu, c: &VcpuGuestContext) -> XenResult<u64> {
    if target.state.lock().initialised {
        return Err(Errno::EEXIST);
    }
    let r = &c.user_regs;
    let cs = r.cs | 3;
    let ss = r.ss | 3;
    let addresses = [
        r.rip,
        r.rsp,
        c.kernel_sp,
        c.fs_base,
        c.gs_base_kernel,
        c.gs_base_user,
        c.event_callback_eip,
        c.failsafe_callback_eip,
        c.syscall_callback_eip,
    ];
    if !addresses
        .iter()
        .chain(c.trap_ctxt.iter().map(|t| &t.address))
        .all(|&a| GuestVa::new(a).is_some())
        || c.ldt_ents != 0
        || c.gdt_ents > crate::pv::descriptors::MAX_GDT_ENTRIES
    {
        return Err(Errno::EINVAL);
    }
    // The debug registers go through `set_debugreg`'s checks (DR4 and DR5 are aliases, not
    // state, and are ignored): a refused value is -EINVAL here.
    let mut debug = crate::arch::x86_64::debugreg::DebugRegs::default();
    for (reg, &value) in c.debugreg.iter().enumerate() {
        if reg != 4 && reg != 5 {
            debug.set(reg as u64, value).map_err(|_| Errno::EINVAL)?;
        }
    }
    let flags = VgcfFlags::from_bits_truncate(c.flags);
    let ft = crate::mm::frame_table();
    let me = dom.asker();
    let _mmu = dom.mmu.lock();
    // Page tables: the kernel L4 (ctrlreg[3]) and, if given, the user L4 (ctrlreg[1]).
    let kernel_l4 = Mfn(xen_cr3_to_pfn(c.ctrlreg[3]));
    let user_l4 = Some(Mfn(xen_cr3_to_pfn(c.ctrlreg[1]))).filter(|&m| m != Mfn(0));
    ft.get_page_and_type(kernel_l4, PageType::L4, me)
        .map_err(|_| Errno::EINVAL)?;
    if let Some(u) = user_l4 {
        if ft.get_page_and_type(u, PageType::L4, me).is_err() {
            ft.put_page_and_type(kernel_l4);
            return Err(Errno::EINVAL);
        }
    }
    let n_gdt = c.gdt_ents.div_ceil(512) as usize;
    let mut gdt: heapless::Vec<Mfn, 14> = heapless::Vec::new();
    for f in c.gdt_frames.iter().take(n_gdt).map(|&f| Mfn(f)) {
        if ft.get_page_and_type(f, PageType::SegDesc, me).is_err() {
            for &g in &gdt {
                ft.put_page_and_type(g);
            }
            if let Some(u) = user_l4 {
                ft.put_page_and_type(u);
            }
            ft.put_page_and_type(kernel_l4);
            return Err(Errno::EINVAL);
        }
        let _ = gdt.push(f);
    }
    let mut st = target.state.lock();
    // Releases of what the vCPU held (nothing, for a vCPU that never ran).
    if let Some(old) = st.kernel_l4.replace(kernel_l4) {
        ft.put_page_and_type(old);
    }
    if let Some(old) = core::mem::replace(&mut st.user_l4, user_l4) {
        ft.put_page_and_type(old);
    }
    for g in core::mem::replace(&mut st.gdt_frames, gdt) {
        ft.put_page_and_type(g);
    }
    st.gdt_ents = c.gdt_ents as u32;
    st.regs = TrapFrame {
        r15: r.r15,
        r14: r.r14,
        r13: r.r13,
        r12: r.r12,
        rbp: r.rbp,
        rbx: r.rbx,
        r11: r.r11,
        r10: r.r10,
        r9: r.r9,
        r8: r.r8,
        rax: r.rax,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rip: r.rip,
        cs: u64::from(cs),
        // IF always set; the IOPL field becomes the virtual IOPL, as Xen does.
        rflags: (r.rflags & crate::pv::rflags::GUEST_MUTABLE & !crate::pv::rflags::IOPL)
            | crate::pv::rflags::IF
            | crate::pv::rflags::MBS,
        rsp: r.rsp,
        ss: u64::from(ss),
        ..TrapFrame::default()
    };
    st.iopl = ((r.rflags >> 12) & 3) as u8;
    st.debug = debug;
    st.kernel_mode = flags.contains(VgcfFlags::IN_KERNEL);
    for (i, t) in c.trap_ctxt.iter().enumerate() {
        st.traps[i] = TrapEntry {
            address: t.address,
            flags: t.flags,
        };
    }
    st.event_callback = Callback {
        address: c.event_callback_eip,
        mask_events: true,
    };
    st.failsafe_callback = Callback {
        address: c.failsafe_callback_eip,
        mask_events: flags.contains(VgcfFlags::FAILSAFE_DISABLES_EVENTS),
    };
    st.syscall_callback = Callback {
        address: c.syscall_callback_eip,
        mask_events: flags.contains(VgcfFlags::SYSCALL_DISABLES_EVENTS),
    };
    st.kernel_ss = (c.kernel_ss as u16) | 3;
    st.kernel_sp = c.kernel_sp;
    st.segments = crate::arch::x86_64::guest::SegmentState {
        ds: r.ds,
        es: r.es,
        fs: r.fs,
        gs: r.gs,
        fs_base: c.fs_base,
        // The active GS base is the kernel's in kernel mode.
        gs_base: if st.kernel_mode {
            c.gs_base_kernel
        } else {
            c.gs_base_user
        },
        gs_shadow: if st.kernel_mode {
            c.gs_base_user
        } else {
            c.gs_base_kernel
        },
    };
    st.initialised = true;
    drop(st);
    // Xen's `arch_set_info_guest`: the first vCPU's context publishes the wallclock (a domain
    // the toolstack makes has none until then).
    if target.id.0 == 0 {
        crate::time::update_wallclock(dom);
    }
    Ok(0)
}

/// Xen's `arch_get_info_guest` for a 64-bit PV vCPU that is not running (the caller took it
/// off its CPU): its registers, segments and bases, virtual IDT, GDT and LDT, kernel stack, page
/// tables (`ctrlreg[3]` the kernel L4, `ctrlreg[1]` the user one), debug registers, callbacks
/// and flags (`VGCF_online` while up, `VGCF_in_kernel` in kernel mode, the callbacks' event
/// masking). The FPU image is not given (`VGCF_i387_valid` clear).
pub fn get_context(v: &Vcpu) -> VcpuGuestContext {
    let mut c = <VcpuGuestContext as zerocopy::FromZeros>::new_zeroed();
    let st = v.state.lock();
    let r = &st.regs;
    let u = &mut c.user_regs;
    (u.r15, u.r14, u.r13, u.r12, u.rbp, u.rbx) = (r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx);
    (u.r11, u.r10, u.r9, u.r8, u.rax, u.rcx) = (r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx);
    (u.rdx, u.rsi, u.rdi, u.rip, u.rsp) = (r.rdx, r.rsi, r.rdi, r.rip, r.rsp);
    u.cs = r.cs as u16;
    u.ss = r.ss as u16;
    // The virtual IOPL in the IOPL field, as Xen shows it.
    u.rflags = (r.rflags & !crate::pv::rflags::IOPL) | (u64::from(st.iopl) << 12);
    let seg = &st.segments;
    (u.ds, u.es, u.fs, u.gs) = (seg.ds, seg.es, seg.fs, seg.gs);
    c.fs_base = seg.fs_base;
    (c.gs_base_kernel, c.gs_base_user) = if st.kernel_mode {
        (seg.gs_base, seg.gs_shadow)
    } else {
        (seg.gs_shadow, seg.gs_base)
    };
    for (i, (t, e)) in c.trap_ctxt.iter_mut().zip(st.traps.iter()).enumerate() {
        if e.address != 0 {
            t.vector = i as u8;
            t.flags = e.flags;
            t.cs = crate::layout::selectors::FLAT_RING3_CS64;
            t.address = e.address;
        }
    }
    c.ldt_base = st.ldt_base;
    c.ldt_ents = u64::from(st.ldt_ents);
    for (slot, f) in c.gdt_frames.iter_mut().zip(st.gdt_frames.iter()) {
        *slot = f.0;
    }
    c.gdt_ents = u64::from(st.gdt_ents);
    c.kernel_ss = u64::from(st.kernel_ss);
    c.kernel_sp = st.kernel_sp;
    c.ctrlreg[3] = st.kernel_l4.map_or(0, |m| m.0 << 12);
    c.ctrlreg[1] = st.user_l4.map_or(0, |m| m.0 << 12);
    c.debugreg[..4].copy_from_slice(&st.debug.dr);
    c.debugreg[6] = st.debug.dr6;
    c.debugreg[7] = st.debug.dr7;
    c.event_callback_eip = st.event_callback.address;
    c.failsafe_callback_eip = st.failsafe_callback.address;
    c.syscall_callback_eip = st.syscall_callback.address;
    let mut flags = VgcfFlags::empty();
    flags.set(VgcfFlags::ONLINE, st.up);
    flags.set(VgcfFlags::IN_KERNEL, st.kernel_mode);
    flags.set(
        VgcfFlags::FAILSAFE_DISABLES_EVENTS,
        st.failsafe_callback.mask_events,
    );
    flags.set(
        VgcfFlags::SYSCALL_DISABLES_EVENTS,
        st.syscall_callback.mask_events,
    );
    c.flags = flags.bits();
    c
}

/// `VCPUOP_up`: an initialised vCPU becomes runnable. -EINVAL if it never was initialised.
pub fn up(target: &Vcpu) -> XenResult<u64> {
    {
        let mut st = target.state.lock();
        if !st.initialised {
            return Err(Errno::EINVAL);
        }
        if !st.up {
            st.up = true;
            st.runstate
                .change(crate::domain::runstate::RUNNABLE, crate::time::now());
        }
    }
    crate::sched::kick(target.pcpu());
    Ok(0)
}

/// `VCPUOP_down`: the vCPU stops at its next pass through the scheduler. Taking the domain's
/// last vCPU down powers the domain off, as Xen does.
pub fn down(dom: &Domain, target: &Vcpu) -> XenResult<u64> {
    target.state.lock().up = false;
    let any_up = dom.vcpus.iter().any(|v| v.state.lock().up);
    if !any_up {
        super::sched::shutdown(dom, xen_abi::sched::ShutdownReason::Poweroff);
    }
    crate::sched::tick();
    crate::sched::kick(target.pcpu());
    Ok(0)
}

/// `vcpu_op(cmd, vcpu, arg)`: a vCPU of the caller's domain (`-ENOENT` beyond its vCPUs).
pub fn vcpu_op(dom: &Domain, v: &Vcpu, cmd: u64, vcpu: u64, arg: u64) -> XenResult<u64> {
    let op = VcpuOp::try_from(u32::try_from(cmd).map_err(|_| Errno::ENOSYS)?)?;
    let target = dom
        .vcpus
        .get(usize::try_from(vcpu).map_err(|_| Errno::ENOENT)?)
        .ok_or(Errno::ENOENT)?;
    let is_current = target.id == v.id;
    match op {
        // VCPUOP_is_up
        VcpuOp::IsUp => Ok(u64::from(target.state.lock().up)),
        // VCPUOP_initialise
        VcpuOp::Initialise => initialise(dom, target, arg),
        // VCPUOP_up
        VcpuOp::Up => up(target),
        // VCPUOP_down
        VcpuOp::Down => down(dom, target),
        // VCPUOP_set_singleshot_timer: `VCPU_SSHOTTMR_future` is ignored, as by Xen since 4.6
        // (a deadline in the past fires at once).
        VcpuOp::SetSingleshotTimer => {
            if !is_current {
                return Err(Errno::EINVAL);
            }
            let t: VcpuSetSingleshotTimer = read_guest_struct(arg)?;
            v.state.lock().timer_deadline = Some(t.timeout_abs_ns);
            Ok(0)
        }
        // VCPUOP_stop_singleshot_timer
        VcpuOp::StopSingleshotTimer => {
            if !is_current {
                return Err(Errno::EINVAL);
            }
            v.state.lock().timer_deadline = None;
            Ok(0)
        }
        // VCPUOP_set_periodic_timer: Xen refuses periods below 1 ms and above
        // `STIME_DELTA_MAX`.
        VcpuOp::SetPeriodicTimer => {
            let t: VcpuSetPeriodicTimer = read_guest_struct(arg)?;
            let period = t.period_ns;
            if !(1_000_000..=crate::time::STIME_DELTA_MAX).contains(&period) {
                return Err(Errno::EINVAL);
            }
            let mut st = target.state.lock();
            st.periodic_ns = period;
            st.periodic_next = crate::time::now().saturating_add(period);
            Ok(0)
        }
        // VCPUOP_stop_periodic_timer
        VcpuOp::StopPeriodicTimer => {
            target.state.lock().periodic_ns = 0;
            Ok(0)
        }
        // VCPUOP_register_runstate_memory_area
        VcpuOp::RegisterRunstateMemoryArea => {
            let a: VcpuRegisterRunstateMemoryArea = read_guest_struct(arg)?;
            let va = a.addr;
            // Xen's `guest_handle_okay`: the area must lie in guest space (it may be unmapped).
            let len = core::mem::size_of::<VcpuRunstateInfo>();
            if !crate::arch::x86_64::guest::guest_range_ok(va, len) {
                return Err(Errno::EFAULT);
            }
            let mut st = target.state.lock();
            st.runstate_area = Some(va);
            // Written at once: as kept for the current vCPU, as `vcpu_runstate_get` for another.
            let shown = if is_current {
                st.runstate
            } else {
                st.runstate.at(crate::time::now())
            };
            let _ = write_guest(va, &shown.to_bytes(false));
            Ok(0)
        }
        // VCPUOP_send_nmi (Xen's `do_vcpu_op`): no argument; the NMI waits in `nmi_pending`
        // and the target is kicked if it was not pending already. It is delivered on the
        // target's way back to guest context, through its virtual IDT's NMI entry.
        VcpuOp::SendNmi => {
            if arg != 0 {
                return Err(Errno::EINVAL);
            }
            if !target
                .nmi_pending
                .swap(true, core::sync::atomic::Ordering::AcqRel)
            {
                crate::event::kick(dom.id, target.id);
            }
            Ok(0)
        }
        // VCPUOP_register_vcpu_time_memory_area (Xen's `arch_do_vcpu_op`): any guest address
        // (0 unregisters); written at once when the target is the caller, else when it next
        // runs, and whenever the vCPU's `vcpu_time_info` is.
        VcpuOp::RegisterVcpuTimeMemoryArea => {
            let a: VcpuRegisterTimeMemoryArea = read_guest_struct(arg)?;
            let va = a.addr;
            let len = core::mem::size_of::<xen_abi::xen::VcpuTimeInfo>();
            if va != 0 && !crate::arch::x86_64::guest::guest_range_ok(va, len) {
                return Err(Errno::EFAULT);
            }
            let area = (va != 0).then_some(va);
            target.state.lock().time_area = area;
            if let (true, Some(va)) = (is_current, area) {
                crate::time::update_time_area(va);
            }
            Ok(0)
        }
        // VCPUOP_register_vcpu_info
        VcpuOp::RegisterVcpuInfo => register_vcpu_info(dom, target, arg),
        // VCPUOP_get_runstate_info
        VcpuOp::GetRunstateInfo => {
            let r = target.state.lock().runstate.at(crate::time::now());
            write_guest(arg, &r.to_bytes(false)).map(|()| 0)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// `VCPUOP_register_vcpu_info`: move a vCPU's `vcpu_info` to `offset` of one of the domain's own
/// frames (once per vCPU, as Xen's `map_vcpu_info`): the contents move with it, and every
/// selector bit and the upcall flag are set so no event is lost.
fn register_vcpu_info(dom: &Domain, target: &Vcpu, arg: u64) -> XenResult<u64> {
    let r: VcpuRegisterVcpuInfo = read_guest_struct(arg)?;
    let (mfn, offset) = (r.mfn, r.offset as usize);
    // Xen's `map_vcpu_info`: a vcpu_info that would cross its page, or that is not aligned
    // as the structure (XSA-327: its words are updated atomically), is -ENXIO.
    if offset > 4096 - core::mem::size_of::<VcpuInfo>()
        || !offset.is_multiple_of(core::mem::align_of::<VcpuInfo>())
    {
        return Err(Errno::ENXIO);
    }
    let (old_mfn, old_off) = target.vcpu_info_at();
    if old_mfn != dom.shared_info {
        return Err(Errno::EINVAL);
    }
    // Xen's `map_vcpu_info` holds a writable type reference: the page can never become a
    // page table while the hypervisor writes into it.
    let ft = crate::mm::frame_table();
    ft.get_page_and_type(mfn, PageType::Writable, dom.asker())?;
    let mut info = VcpuInfo::new_zeroed();
    crate::mm::guest::frame_read(old_mfn, old_off, info.as_mut_bytes())
        .map_err(|_| Errno::EINVAL)?;
    info.evtchn_pending_sel = u64::MAX;
    info.evtchn_upcall_pending = 1;
    crate::mm::guest::frame_write(mfn, offset, info.as_bytes()).map_err(|_| Errno::EINVAL)?;
    target.vcpu_info.store(
        (mfn.maddr() + offset as u64).0,
        core::sync::atomic::Ordering::Release,
    );
    crate::event::move_vcpu_info(dom.id, target.id, (mfn, offset));
    crate::time::update_vcpu_time((mfn, offset));
    Ok(0)
}
