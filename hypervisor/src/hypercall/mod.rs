//! The hypercall table: `syscall` from guest-kernel mode with the number in `rax` and arguments in
//! `rdi, rsi, rdx, r10, r8` (Xen's 64-bit PV convention). Every other register is preserved;
//! the result goes to `rax`. Unknown numbers return `-ENOSYS`.

mod callback;
mod memory;
mod misc;
pub(crate) mod mmu;
mod vcpu;

use crate::arch::x86_64::idt::TrapFrame;
use crate::domain::{Domain, Vcpu};
use xen_abi::xen::Hypercall;
use xen_abi::{Errno, XenResult};

/// Arguments of one hypercall.
#[derive(Clone, Copy, Debug)]
pub struct Args(pub [u64; 5]);

/// Runs the hypercall described by `frame` for vCPU `v` of `dom`.
pub fn dispatch(dom: &Domain, v: &Vcpu, frame: &mut TrapFrame) {
    let nr = frame.rax;
    let args = Args([frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8]);
    if nr == Hypercall::Iret as u64 {
        crate::pv::iret(dom, v, frame);
        return;
    }
    let r = call(dom, v, frame, nr, args, 0);
    frame.rax = ret(r);
}

/// The value `rax` gets: the result, or `-errno`.
pub fn ret(r: XenResult<u64>) -> u64 {
    match r {
        Ok(v) => v,
        Err(e) => e.to_ret() as u64,
    }
}

/// One hypercall; `depth` > 0 inside a multicall.
pub fn call(
    dom: &Domain,
    v: &Vcpu,
    frame: &mut TrapFrame,
    nr: u64,
    a: Args,
    depth: u32,
) -> XenResult<u64> {
    let Ok(op) = Hypercall::try_from(u32::try_from(nr).unwrap_or(u32::MAX)) else {
        log_unsupported_once(dom, nr);
        return Err(Errno::ENOSYS);
    };
    match op {
        Hypercall::SetTrapTable => callback::set_trap_table(v, a.0[0]),
        Hypercall::StackSwitch => misc::stack_switch(v, a.0[0], a.0[1]),
        Hypercall::SetCallbacks => callback::set_callbacks(v, a.0[0], a.0[1], a.0[2]),
        Hypercall::FpuTaskswitch => misc::fpu_taskswitch(v, a.0[0]),
        Hypercall::ConsoleIo => misc::console_io(dom, a.0[0], a.0[1], a.0[2]),
        Hypercall::XenVersion => misc::xen_version(dom, a.0[0], a.0[1]),
        Hypercall::SchedOp => misc::sched_op(dom, v, a.0[0], a.0[1]),
        Hypercall::CallbackOp => callback::callback_op(v, a.0[0], a.0[1]),
        Hypercall::VmAssist => misc::vm_assist(dom, a.0[0], a.0[1]),
        Hypercall::SetSegmentBase => {
            let st = v.state.lock();
            crate::pv::set_segment_base(&st, a.0[0] as u32, a.0[1]).map(|()| 0)
        }
        Hypercall::SetGdt => crate::pv::descriptors::set_gdt(dom, v, a.0[0], a.0[1]),
        Hypercall::UpdateDescriptor => {
            crate::pv::descriptors::update_descriptor(dom, a.0[0], a.0[1])
        }
        Hypercall::PhysdevOp => misc::physdev_op(v, a.0[0], a.0[1]),
        Hypercall::MemoryOp => misc::memory_op(dom, a.0[0], a.0[1]),
        Hypercall::VcpuOp => misc::vcpu_op(dom, v, a.0[0], a.0[1], a.0[2]),
        Hypercall::EventChannelOp => crate::event::event_channel_op(dom, a.0[0], a.0[1]),
        Hypercall::GrantTableOp => crate::grant::grant_table_op(dom, v, a.0[0], a.0[1], a.0[2]),
        Hypercall::SetTimerOp => misc::set_timer_op(v, a.0[0]),
        Hypercall::UpdateVaMapping => mmu::update_va_mapping(
            dom,
            v,
            a.0[0],
            a.0[1],
            a.0[2],
            u64::from(xen_abi::DomId::SELF.0),
        ),
        Hypercall::UpdateVaMappingOtherdomain => {
            mmu::update_va_mapping(dom, v, a.0[0], a.0[1], a.0[2], a.0[3])
        }
        Hypercall::MmuUpdate => mmu::mmu_update(dom, a.0[0], a.0[1], a.0[2], a.0[3]),
        Hypercall::MmuextOp => mmu::mmuext_op(dom, v, a.0[0], a.0[1], a.0[2], a.0[3]),
        Hypercall::Multicall if depth == 0 => misc::multicall(dom, v, frame, a.0[0], a.0[1]),
        Hypercall::Multicall => Err(Errno::EINVAL),
        _ => {
            log_unsupported_once(dom, nr);
            Err(Errno::ENOSYS)
        }
    }
}

/// Logs the first use of each unsupported hypercall number by a domain (numbers from 63 up
/// share one slot), so a guest cannot flood the console.
fn log_unsupported_once(dom: &Domain, nr: u64) {
    let bit = 1u64 << nr.min(63);
    if dom
        .unsupported_logged
        .fetch_or(bit, core::sync::atomic::Ordering::Relaxed)
        & bit
        == 0
    {
        log::warn!(
            "d{}: hypercall {} is not supported: -ENOSYS (logged once)",
            dom.id.0,
            nr
        );
    }
}
