//! Bringing secondary vCPUs up and down: `VCPUOP_initialise` (a `vcpu_guest_context`, Xen's
//! `arch_set_info_guest` for a 64-bit PV vCPU), `VCPUOP_up` and `VCPUOP_down`.

use crate::arch::x86_64::guest::GuestVa;
use crate::arch::x86_64::idt::TrapFrame;
use crate::domain::{Callback, Domain, TrapEntry, Vcpu};
use crate::mm::typing::PageType;
use xen_abi::arch_x86::{VcpuGuestContext, VgcfFlags};
use xen_abi::{Errno, Mfn, XenResult};

/// `VCPUOP_initialise`: gives a vCPU that has never run its first context. -EEXIST if it was
/// initialised already; -EINVAL, as Xen's `arch_set_info_guest`, for a non-canonical RIP, RSP,
/// kernel stack, segment base, callback or virtual-IDT handler, an LDT (not supported), or page
/// tables / GDT frames that do not validate. Selectors get RPL 3 and are otherwise taken as
/// they are (as Xen's `fixup_guest_*_selector`): one the CPU refuses when the vCPU first runs
/// is the guest's #GP, delivered by the exit path. The FPU starts in its initial state
/// (`fpu_ctxt` is not loaded).
pub fn initialise(dom: &Domain, target: &Vcpu, arg: u64) -> XenResult<u64> {
    let c: VcpuGuestContext = crate::pv::read_guest_struct(arg)?;
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
    let flags = VgcfFlags::from_bits_truncate(c.flags);
    let ft = crate::mm::frame_table();
    let me = dom.asker();
    let _mmu = dom.mmu.lock();
    // Page tables: the kernel L4 (ctrlreg[3]) and, if given, the user L4 (ctrlreg[1]).
    let kernel_l4 = c.ctrlreg[3] >> 12;
    let user_l4 = c.ctrlreg[1] >> 12;
    ft.get_page_and_type(kernel_l4, PageType::L4, me)
        .map_err(|_| Errno::EINVAL)?;
    if user_l4 != 0 {
        if let Err(e) = ft.get_page_and_type(user_l4, PageType::L4, me) {
            ft.put_page_and_type(kernel_l4);
            let _ = e;
            return Err(Errno::EINVAL);
        }
    }
    let n_gdt = c.gdt_ents.div_ceil(512) as usize;
    let mut gdt: heapless::Vec<u64, 14> = heapless::Vec::new();
    for &f in c.gdt_frames.iter().take(n_gdt) {
        if ft.get_page_and_type(f, PageType::SegDesc, me).is_err() {
            for &g in &gdt {
                ft.put_page_and_type(g);
            }
            if user_l4 != 0 {
                ft.put_page_and_type(user_l4);
            }
            ft.put_page_and_type(kernel_l4);
            return Err(Errno::EINVAL);
        }
        let _ = gdt.push(f);
    }
    let mut st = target.state.lock();
    // Releases of what the vCPU held (nothing, for a vCPU that never ran but its boot L4).
    let old_kernel = core::mem::replace(&mut st.kernel_l4, Mfn(kernel_l4));
    ft.put_page_and_type(old_kernel.0);
    if let Some(old) = core::mem::replace(&mut st.user_l4, (user_l4 != 0).then_some(Mfn(user_l4))) {
        ft.put_page_and_type(old.0);
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
    Ok(0)
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
    crate::sched::kick(target.pcpu);
    Ok(0)
}

/// `VCPUOP_down`: the vCPU stops at its next pass through the scheduler. Taking the domain's
/// last vCPU down powers the domain off, as Xen does.
pub fn down(dom: &Domain, target: &Vcpu) -> XenResult<u64> {
    target.state.lock().up = false;
    let any_up = dom.vcpus.iter().any(|v| v.state.lock().up);
    if !any_up {
        super::misc::shutdown(dom, xen_abi::sched::ShutdownReason::Poweroff);
    }
    crate::sched::tick();
    crate::sched::kick(target.pcpu);
    Ok(0)
}
