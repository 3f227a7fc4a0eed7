//! The hypercalls of PV execution: virtual IDT and callbacks, console, version, scheduling,
//! VM assists, segment bases, the memory and vCPU queries, multicall.

use super::{call, ret, Args};
use crate::arch::x86_64::exit::ExitCode;
use crate::arch::x86_64::idt::TrapFrame;
use crate::domain::{Domain, DomainState, Vcpu};
use crate::pv::{read_guest, write_guest};
use xen_abi::sched::{SchedOp, ShutdownReason};
use xen_abi::version::XenVer;
use xen_abi::xen::{ConsoleIoCmd, VmAssistCmd};
use xen_abi::{Errno, XenResult};

pub fn stack_switch(v: &Vcpu, ss: u64, sp: u64) -> XenResult<u64> {
    let mut st = v.state.lock();
    st.kernel_ss = ss as u16;
    st.kernel_sp = sp;
    Ok(0)
}

/// `fpu_taskswitch(set)`: the vCPU's virtual CR0.TS, in the hardware while it runs, so its
/// next FPU instruction raises #NM for the guest (which clears TS, as Xen does).
pub fn fpu_taskswitch(v: &Vcpu, set: u64) -> XenResult<u64> {
    v.state.lock().fpu_ts = set != 0;
    crate::arch::x86_64::cpu::set_ts(set != 0);
    Ok(0)
}

/// `console_io`: every domain may write (as Xen's debug builds allow); reading returns nothing
/// until console input exists.
pub fn console_io(dom: &Domain, cmd: u64, count: u64, buf: u64) -> XenResult<u64> {
    match ConsoleIoCmd::try_from(cmd as u32)? {
        ConsoleIoCmd::Write => {
            let mut left = count as u32 as u64;
            let mut va = buf;
            while left > 0 {
                let n = left.min(128) as usize;
                let mut chunk = [0u8; 128];
                crate::arch::x86_64::guest::copy_from_guest(va, &mut chunk[..n])
                    .map_err(|_| Errno::EFAULT)?;
                dom.console_write(&chunk[..n]);
                left -= n as u64;
                va = va.wrapping_add(n as u64);
            }
            Ok(0)
        }
        // Serial input belongs to the initial domain (Xen's XSM default denies the others).
        ConsoleIoCmd::Read if !dom.privileged => Err(Errno::EPERM),
        ConsoleIoCmd::Read => {
            let mut chunk = [0u8; 256];
            let want = (count as u32 as usize).min(chunk.len());
            let n = crate::console::read_input(&mut chunk[..want]);
            if let Err(e) = write_guest(buf, &chunk[..n]) {
                // Not lost: the bytes go back to the front of the ring.
                crate::console::unread_input(&chunk[..n]);
                return Err(e);
            }
            Ok(n as u64)
        }
    }
}

/// `XENVER_get_features` submap 0 for a PV guest, as Xen 4.17 reports it.
pub fn features(dom: &Domain) -> u32 {
    use xen_abi::features::*;
    let mut f = (1 << XENFEAT_MEMORY_OP_VNODE_SUPPORTED)
        | (1 << XENFEAT_MMU_PT_UPDATE_PRESERVE_AD)
        | (1 << XENFEAT_HIGHMEM_ASSIST)
        | (1 << XENFEAT_GNTTAB_MAP_AVAIL_BITS);
    if dom.privileged {
        f |= 1 << XENFEAT_DOM0;
    }
    if dom.vm_assist.load(core::sync::atomic::Ordering::Relaxed)
        & (1 << xen_abi::xen::VMASST_TYPE_PAE_EXTENDED_CR3)
        != 0
    {
        f |= 1 << XENFEAT_PAE_PGDIR_ABOVE_4GB;
    }
    f
}

fn padded<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut b = [0u8; N];
    let n = s.len().min(N - 1);
    b[..n].copy_from_slice(&s[..n]);
    b
}

pub fn xen_version(dom: &Domain, cmd: u64, arg: u64) -> XenResult<u64> {
    match XenVer::try_from(cmd as u32)? {
        XenVer::Version => Ok((4 << 16) | 17),
        XenVer::Extraversion => write_guest(arg, &padded::<16>(b".0-ferrite")).map(|()| 0),
        XenVer::CompileInfo => {
            let mut b = [0u8; 64 + 16 + 32 + 32];
            b[..64].copy_from_slice(&padded::<64>(b"rustc"));
            b[64..80].copy_from_slice(&padded::<16>(b"ferrite"));
            b[80..112].copy_from_slice(&padded::<32>(b"ferrite"));
            b[112..].copy_from_slice(&padded::<32>(crate::VERSION.as_bytes()));
            write_guest(arg, &b).map(|()| 0)
        }
        XenVer::Capabilities => write_guest(arg, &padded::<1024>(b"xen-3.0-x86_64 ")).map(|()| 0),
        XenVer::Changeset => write_guest(arg, &padded::<64>(b"ferrite")).map(|()| 0),
        XenVer::PlatformParameters => {
            write_guest(arg, &crate::layout::HYPERVISOR_VIRT_START.to_le_bytes()).map(|()| 0)
        }
        XenVer::GetFeatures => {
            let raw: [u8; 8] = read_guest(arg)?;
            let idx = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
            // XENFEAT_NR_SUBMAPS is 1.
            let submap = if idx == 0 {
                features(dom)
            } else {
                return Err(Errno::EINVAL);
            };
            write_guest(arg.wrapping_add(4), &submap.to_le_bytes()).map(|()| 0)
        }
        XenVer::Pagesize => Ok(4096),
        XenVer::GuestHandle => write_guest(arg, &[0u8; 16]).map(|()| 0),
        XenVer::Commandline => {
            if !dom.privileged {
                return Err(Errno::EPERM);
            }
            let cl = crate::boot::entry::boot_info().cmdline.as_bytes();
            write_guest(arg, &padded::<1024>(cl)).map(|()| 0)
        }
        XenVer::BuildId => Err(Errno::ENODATA),
    }
}

pub fn sched_op(dom: &Domain, v: &Vcpu, cmd: u64, arg: u64) -> XenResult<u64> {
    match SchedOp::try_from(cmd as u32)? {
        SchedOp::Yield => {
            // A domU waiting for console space yields: serve its ring now.
            crate::console::ring::drain(dom);
            crate::sched::tick();
            Ok(0)
        }
        SchedOp::Shutdown => {
            let raw: [u8; 4] = read_guest(arg)?;
            let reason = u32::from_le_bytes(raw);
            let r = ShutdownReason::try_from(reason).map_err(|_| Errno::EINVAL)?;
            shutdown(dom, r);
            Ok(0)
        }
        SchedOp::Block => {
            crate::pv::block(v);
            Ok(0)
        }
        SchedOp::Poll => poll(dom, v, arg),
        SchedOp::ShutdownCode => {
            let _: [u8; 4] = read_guest(arg)?;
            Ok(0)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// `SCHEDOP_poll`: block until one of the ports is pending (masked or not) or the timeout.
fn poll(dom: &Domain, v: &Vcpu, arg: u64) -> XenResult<u64> {
    let raw: [u8; 24] = read_guest(arg)?;
    let ports_va = u64::from_le_bytes(raw[..8].try_into().unwrap_or([0; 8]));
    let nr = u32::from_le_bytes(raw[8..12].try_into().unwrap_or([0; 4])) as usize;
    let timeout = u64::from_le_bytes(raw[16..24].try_into().unwrap_or([0; 8]));
    // Xen: at most 128 ports.
    if nr > 128 {
        return Err(Errno::EINVAL);
    }
    let mut bytes = [0u8; 512];
    crate::arch::x86_64::guest::copy_from_guest(ports_va, &mut bytes[..nr * 4])
        .map_err(|_| Errno::EFAULT)?;
    let mut ports: heapless::Vec<u32, 128> = heapless::Vec::new();
    for c in bytes[..nr * 4].chunks_exact(4) {
        let p = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        if p >= xen_abi::event_channel::EVTCHN_2L_NR_CHANNELS {
            return Err(Errno::EINVAL);
        }
        let _ = ports.push(p);
    }
    if ports.iter().any(|&p| crate::event::is_pending(dom.id, p)) {
        return Ok(0);
    }
    {
        let mut st = v.state.lock();
        st.poll = Some(ports.clone());
        st.poll_deadline = (timeout != 0).then_some(timeout);
        st.blocked = true;
    }
    // A port that went pending meanwhile found no poller yet: look again.
    if ports.iter().any(|&p| crate::event::is_pending(dom.id, p)) {
        let mut st = v.state.lock();
        st.poll = None;
        st.poll_deadline = None;
        st.blocked = false;
    }
    crate::sched::tick();
    Ok(0)
}

/// Shuts `dom` down for `reason`; the initial domain's shutdown ends the machine.
pub fn shutdown(dom: &Domain, reason: ShutdownReason) {
    crate::console::ring::drain(dom);
    dom.console_flush();
    *dom.state.lock() = DomainState::Shutdown(reason as u32);
    log::info!("d{}: shutdown: {:?}", dom.id.0, reason);
    if dom.privileged {
        let code = match reason {
            ShutdownReason::Poweroff => ExitCode::Success,
            ShutdownReason::Reboot => ExitCode::GuestReboot,
            ShutdownReason::Crash | ShutdownReason::Watchdog => ExitCode::GuestCrash,
            _ => ExitCode::Failure,
        };
        crate::pv::end_machine(code, "the initial domain has shut down");
    }
    crate::domain::destroy::request(dom.id);
}

/// `physdev_op`: `PHYSDEVOP_set_iopl` (the vCPU's virtual IOPL, 0–3, as Xen keeps it); the
/// interrupt and PCI sub-ops need passthrough and answer `-ENOSYS`.
pub fn physdev_op(v: &Vcpu, cmd: u64, arg: u64) -> XenResult<u64> {
    use xen_abi::physdev::PhysdevOp;
    match PhysdevOp::try_from(cmd as u32)? {
        PhysdevOp::SetIopl => {
            let iopl = u32::from_le_bytes(read_guest::<4>(arg)?);
            if iopl > 3 {
                return Err(Errno::EINVAL);
            }
            v.state.lock().iopl = iopl as u8;
            Ok(0)
        }
        _ => Err(Errno::ENOSYS),
    }
}

pub fn vm_assist(dom: &Domain, cmd: u64, ty: u64) -> XenResult<u64> {
    use xen_abi::xen::{
        VMASST_TYPE_4GB_SEGMENTS, VMASST_TYPE_4GB_SEGMENTS_NOTIFY, VMASST_TYPE_ARCHITECTURAL_IOPL,
        VMASST_TYPE_M2P_STRICT, VMASST_TYPE_PAE_EXTENDED_CR3, VMASST_TYPE_RUNSTATE_UPDATE_FLAG,
        VMASST_TYPE_WRITABLE_PAGETABLES,
    };
    let valid = (1u64 << VMASST_TYPE_4GB_SEGMENTS)
        | (1 << VMASST_TYPE_4GB_SEGMENTS_NOTIFY)
        | (1 << VMASST_TYPE_WRITABLE_PAGETABLES)
        | (1 << VMASST_TYPE_PAE_EXTENDED_CR3)
        | (1 << VMASST_TYPE_ARCHITECTURAL_IOPL)
        | (1 << VMASST_TYPE_RUNSTATE_UPDATE_FLAG)
        | (1 << VMASST_TYPE_M2P_STRICT);
    if ty >= 64 || valid & (1 << ty) == 0 {
        return Err(Errno::EINVAL);
    }
    match VmAssistCmd::try_from(cmd as u32)? {
        VmAssistCmd::Enable => dom
            .vm_assist
            .fetch_or(1 << ty, core::sync::atomic::Ordering::Relaxed),
        VmAssistCmd::Disable => dom
            .vm_assist
            .fetch_and(!(1 << ty), core::sync::atomic::Ordering::Relaxed),
    };
    Ok(0)
}

pub fn memory_op(dom: &Domain, cmd: u64, arg: u64) -> XenResult<u64> {
    use xen_abi::memory::XenMem;
    // The low bits carry the sub-op; the rest is a continuation start (`MEMOP_EXTENT_SHIFT`).
    use super::memory::{reservation, Reservation};
    let start = cmd >> xen_abi::memory::MEMOP_EXTENT_SHIFT;
    match XenMem::try_from((cmd & 0x3f) as u32)? {
        XenMem::IncreaseReservation => reservation(dom, Reservation::Increase, arg, start),
        XenMem::DecreaseReservation => reservation(dom, Reservation::Decrease, arg, start),
        XenMem::PopulatePhysmap => reservation(dom, Reservation::Populate, arg, start),
        XenMem::Exchange => super::memory::exchange(dom, arg),
        XenMem::MaximumRamPage => Ok(crate::mm::ram_frames()),
        XenMem::AddToPhysmap => crate::grant::add_to_physmap(dom, arg),
        XenMem::CurrentReservation | XenMem::MaximumReservation => {
            let raw: [u8; 2] = read_guest(arg)?;
            let id = u16::from_le_bytes(raw);
            let of = |d: &Domain| {
                if XenMem::try_from((cmd & 0x3f) as u32) == Ok(XenMem::CurrentReservation) {
                    d.tot_pages.load(core::sync::atomic::Ordering::Acquire)
                } else {
                    d.max_pages
                }
            };
            if id == xen_abi::DomId::SELF.0 || id == dom.id.0 {
                Ok(of(dom))
            } else if dom.privileged {
                crate::domain::get(xen_abi::DomId(id))
                    .map(|d| of(&d))
                    .ok_or(Errno::ESRCH)
            } else {
                Err(Errno::EPERM)
            }
        }
        XenMem::MachphysMapping => {
            let mut b = [0u8; 24];
            b[..8].copy_from_slice(&crate::layout::M2P_VIRT_START.to_le_bytes());
            b[8..16].copy_from_slice(&crate::layout::M2P_VIRT_END.to_le_bytes());
            b[16..].copy_from_slice(
                &(crate::mm::guest::m2p_entries().saturating_sub(1)).to_le_bytes(),
            );
            write_guest(arg, &b).map(|()| 0)
        }
        XenMem::MemoryMap => {
            // Xen answers from the map the toolstack set (`XENMEM_set_memory_map`; libxl sets a
            // single RAM entry for PV domUs) and -ENOSYS when none was set, as for a PV dom0.
            if dom.privileged {
                return Err(Errno::ENOSYS);
            }
            let ram = (0, dom.p2m.len() as u64 * 4096, xen_abi::memory::E820_RAM);
            let mut map: xen_abi::memory::XenMemoryMap = crate::pv::read_guest_struct(arg)?;
            let n = map.nr_entries.min(1);
            if n == 1 {
                write_guest(map.buffer, &e820_bytes(ram))?;
            }
            map.nr_entries = n;
            write_guest(arg, zerocopy::IntoBytes::as_bytes(&map)).map(|()| 0)
        }
        XenMem::MachineMemoryMap => {
            if !dom.privileged {
                return Err(Errno::EPERM);
            }
            let host = crate::mm::host_map();
            let mut map: xen_abi::memory::XenMemoryMap = crate::pv::read_guest_struct(arg)?;
            if map.buffer != 0 {
                // Xen wants room for one more entry than the map has.
                if (map.nr_entries as usize) < host.len() + 1 {
                    return Err(Errno::EINVAL);
                }
                for (i, r) in host.iter().enumerate() {
                    let e = (r.range.start, r.range.len(), r.kind.e820_type());
                    write_guest(map.buffer + 20 * i as u64, &e820_bytes(e))?;
                }
            }
            map.nr_entries = host.len() as u32;
            write_guest(arg, zerocopy::IntoBytes::as_bytes(&map)).map(|()| 0)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// A packed 20-byte `e820entry`.
fn e820_bytes((addr, size, ty): (u64, u64, u32)) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(&addr.to_le_bytes());
    b[8..16].copy_from_slice(&size.to_le_bytes());
    b[16..].copy_from_slice(&ty.to_le_bytes());
    b
}

pub fn vcpu_op(dom: &Domain, v: &Vcpu, cmd: u64, vcpu: u64, arg: u64) -> XenResult<u64> {
    use xen_abi::vcpu::VcpuOp;
    let op = VcpuOp::try_from(cmd as u32)?;
    let target = dom
        .vcpus
        .get(usize::try_from(vcpu).map_err(|_| Errno::ENOENT)?)
        .ok_or(Errno::ENOENT)?;
    let is_current = target.id == v.id;
    match op {
        VcpuOp::IsUp => Ok(u64::from(target.state.lock().up)),
        VcpuOp::Initialise => super::vcpu::initialise(dom, target, arg),
        VcpuOp::Up => super::vcpu::up(target),
        VcpuOp::Down => super::vcpu::down(dom, target),
        VcpuOp::SetSingleshotTimer => {
            if !is_current {
                return Err(Errno::EINVAL);
            }
            let raw: [u8; 16] = read_guest(arg)?;
            let timeout = u64::from_le_bytes(raw[..8].try_into().unwrap_or([0; 8]));
            // `VCPU_SSHOTTMR_future` is ignored, as by Xen since 4.6: a deadline in the past
            // fires at once.
            v.state.lock().timer_deadline = Some(timeout);
            Ok(0)
        }
        VcpuOp::StopSingleshotTimer => {
            if !is_current {
                return Err(Errno::EINVAL);
            }
            v.state.lock().timer_deadline = None;
            Ok(0)
        }
        VcpuOp::SetPeriodicTimer => {
            let raw: [u8; 8] = read_guest(arg)?;
            let period = u64::from_le_bytes(raw);
            // Xen refuses periods below 1 ms and above `STIME_DELTA_MAX`.
            if !(1_000_000..=crate::time::STIME_DELTA_MAX).contains(&period) {
                return Err(Errno::EINVAL);
            }
            let mut st = target.state.lock();
            st.periodic_ns = period;
            st.periodic_next = crate::time::now().saturating_add(period);
            Ok(0)
        }
        VcpuOp::StopPeriodicTimer => {
            target.state.lock().periodic_ns = 0;
            Ok(0)
        }
        VcpuOp::RegisterRunstateMemoryArea => {
            let raw: [u8; 8] = read_guest(arg)?;
            let va = u64::from_le_bytes(raw);
            // Xen's `guest_handle_okay`: the area must lie in guest space (it may be unmapped).
            if !crate::arch::x86_64::guest::guest_range_ok(va, 48) {
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
        VcpuOp::RegisterVcpuInfo => register_vcpu_info(dom, target, arg),
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
    let raw: [u8; 16] = read_guest(arg)?;
    let mfn = xen_abi::Mfn(u64::from_le_bytes(raw[..8].try_into().unwrap_or([0; 8])));
    let offset = u32::from_le_bytes(raw[8..12].try_into().unwrap_or([0; 4])) as usize;
    // Xen's `map_vcpu_info`: a vcpu_info that would cross its page is -ENXIO.
    if offset > 4096 - 64 {
        return Err(Errno::ENXIO);
    }
    let (old_mfn, old_off) = target.vcpu_info_at();
    if old_mfn != dom.shared_info {
        return Err(Errno::EINVAL);
    }
    // Xen's `map_vcpu_info` holds a writable type reference: the page can never become a
    // page table while the hypervisor writes into it.
    let ft = crate::mm::frame_table();
    ft.get_page_and_type(mfn.0, crate::mm::typing::PageType::Writable, dom.asker())?;
    let mut info = [0u8; 64];
    crate::mm::guest::frame_read(old_mfn, old_off, &mut info).map_err(|_| Errno::EINVAL)?;
    info[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    info[0] = 1;
    crate::mm::guest::frame_write(mfn, offset, &info).map_err(|_| Errno::EINVAL)?;
    target.vcpu_info.store(
        mfn.addr() | offset as u64,
        core::sync::atomic::Ordering::Release,
    );
    crate::event::move_vcpu_info(dom.id, target.id, (mfn, offset));
    crate::time::update_vcpu_time((mfn, offset));
    Ok(0)
}

/// `set_timer_op(timeout)`: arm (absolute system time) or, with 0, cancel the single-shot timer.
pub fn set_timer_op(v: &Vcpu, timeout: u64) -> XenResult<u64> {
    v.state.lock().timer_deadline = (timeout != 0).then_some(timeout);
    Ok(0)
}

/// `multicall`: each 64-byte entry `{op, result, args[6]}` runs in turn; its result is written
/// back.
pub fn multicall(
    dom: &Domain,
    v: &Vcpu,
    frame: &mut TrapFrame,
    list: u64,
    count: u64,
) -> XenResult<u64> {
    for i in 0..count {
        let va = list.wrapping_add(i.wrapping_mul(64));
        let raw: [u8; 64] = read_guest(va)?;
        let w = |k: usize| u64::from_le_bytes(raw[k * 8..k * 8 + 8].try_into().unwrap_or([0; 8]));
        let r = call(dom, v, frame, w(0), Args([w(2), w(3), w(4), w(5), w(6)]), 1);
        write_guest(va.wrapping_add(8), &ret(r).to_le_bytes())?;
        if !dom.is_running() {
            break;
        }
    }
    Ok(0)
}
