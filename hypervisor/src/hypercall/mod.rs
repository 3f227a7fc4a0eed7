//! The hypercall table: `syscall` from guest-kernel mode with the number in `rax` and arguments in
//! `rdi, rsi, rdx, r10, r8` (Xen's 64-bit PV convention). Every other register is preserved;
//! the result goes to `rax`. Unknown numbers return `-ENOSYS`. The batch hypercalls are
//! preemptible ([`preempt`]): a continuation rewrites the argument registers and makes the
//! guest run the `syscall` again.

mod callback;
mod console;
mod cpu;
pub(crate) mod domctl;
mod mca;
mod memory;
pub(crate) mod mmu;
mod multicall;
pub(crate) mod paging;
mod physdev;
mod platform;
pub(crate) mod preempt;
pub(crate) mod sched;
mod sysctl;
pub(crate) mod vcpu;
mod version;
mod vm_assist;

use crate::arch::x86_64::idt::TrapFrame;
use crate::domain::{Domain, Vcpu};
pub use preempt::{Outcome, Preempt};
use xen_abi::xen::Hypercall;
use xen_abi::{Errno, XenResult};

/// Arguments of one hypercall.
#[derive(Clone, Copy, Debug)]
pub struct Args(pub [u64; 5]);

/// Runs the hypercall described by `frame` for vCPU `v` of `dom`.
pub fn dispatch(dom: &Domain, v: &Vcpu, frame: &mut TrapFrame) {
    let nr = frame.rax;
    let args = Args([frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8]);
    // __HYPERVISOR_iret: not a call that returns a value but a return to the guest's frame.
    if nr == Hypercall::Iret as u64 {
        crate::pv::iret(dom, v, frame);
        return;
    }
    match call(dom, v, frame, nr, args, 0) {
        Outcome::Done(r) => frame.rax = ret(r),
        Outcome::Continue { args, n } => {
            let regs = [
                &mut frame.rdi,
                &mut frame.rsi,
                &mut frame.rdx,
                &mut frame.r10,
                &mut frame.r8,
            ];
            for (r, a) in regs.into_iter().zip(args).take(n) {
                *r = a;
            }
            // `rax` keeps the hypercall's number; back over the `syscall` (0f 05) to make it
            // again (Xen's `regs->rip -= 2` for a preempted PV hypercall).
            frame.rip = frame.rip.wrapping_sub(2);
        }
    }
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
) -> Outcome {
    let Ok(op) = Hypercall::try_from(u32::try_from(nr).unwrap_or(u32::MAX)) else {
        log_unsupported_once(dom, nr);
        return Outcome::Done(Err(Errno::ENOSYS));
    };
    let [a0, a1, a2, a3, _] = a.0;
    // The preemptible ones.
    match op {
        // __HYPERVISOR_mmu_update
        Hypercall::MmuUpdate => return mmu::mmu_update(dom, a0, a1, a2, a3),
        // __HYPERVISOR_mmuext_op
        Hypercall::MmuextOp => return mmu::mmuext_op(dom, v, a0, a1, a2, a3),
        // __HYPERVISOR_memory_op
        Hypercall::MemoryOp => return memory::memory_op(dom, a0, a1),
        // __HYPERVISOR_multicall (not nested)
        Hypercall::Multicall if depth == 0 => return multicall::multicall(dom, v, frame, a0, a1),
        // __HYPERVISOR_grant_table_op
        Hypercall::GrantTableOp => return crate::grant::grant_table_op(dom, v, a0, a1, a2),
        // __HYPERVISOR_event_channel_op
        Hypercall::EventChannelOp => return crate::event::event_channel_op(dom, a0, a1),
        // __HYPERVISOR_domctl (destroydomain)
        Hypercall::Domctl => return domctl::domctl(dom, a0),
        _ => {}
    }
    Outcome::Done(match op {
        // __HYPERVISOR_set_trap_table
        Hypercall::SetTrapTable => callback::set_trap_table(v, a0),
        // __HYPERVISOR_set_gdt
        Hypercall::SetGdt => crate::pv::descriptors::set_gdt(dom, v, a0, a1),
        // __HYPERVISOR_stack_switch
        Hypercall::StackSwitch => cpu::stack_switch(v, a0, a1),
        // __HYPERVISOR_set_callbacks
        Hypercall::SetCallbacks => callback::set_callbacks(v, a0, a1, a2),
        // __HYPERVISOR_set_debugreg
        Hypercall::SetDebugreg => cpu::set_debugreg(v, a0, a1),
        // __HYPERVISOR_get_debugreg
        Hypercall::GetDebugreg => cpu::get_debugreg(v, a0),
        // __HYPERVISOR_fpu_taskswitch
        Hypercall::FpuTaskswitch => cpu::fpu_taskswitch(v, a0),
        // __HYPERVISOR_physdev_op
        Hypercall::PhysdevOp => physdev::physdev_op(v, a0, a1),
        // __HYPERVISOR_mca (x86's arch_0)
        Hypercall::Arch0 => mca::mca(dom, a0),
        // __HYPERVISOR_xenpmu_op: no virtual PMU, as Xen's default (`vpmu=off`) has none.
        Hypercall::XenpmuOp => Err(Errno::EOPNOTSUPP),
        // __HYPERVISOR_platform_op
        Hypercall::PlatformOp => platform::platform_op(dom, a0),
        // __HYPERVISOR_update_descriptor
        Hypercall::UpdateDescriptor => crate::pv::descriptors::update_descriptor(dom, a0, a1),
        // Multicall reentry is disallowed.
        Hypercall::Multicall => Err(Errno::EINVAL),
        // __HYPERVISOR_update_va_mapping
        Hypercall::UpdateVaMapping => {
            mmu::update_va_mapping(dom, v, a0, a1, a2, u64::from(xen_abi::DomId::SELF.0))
        }
        // __HYPERVISOR_set_timer_op
        Hypercall::SetTimerOp => sched::set_timer_op(v, a0),
        // __HYPERVISOR_xen_version
        Hypercall::XenVersion => version::xen_version(dom, a0, a1),
        // __HYPERVISOR_console_io
        Hypercall::ConsoleIo => console::console_io(dom, a0, a1, a2),
        // __HYPERVISOR_vm_assist
        Hypercall::VmAssist => vm_assist::vm_assist(dom, a0, a1),
        // __HYPERVISOR_update_va_mapping_otherdomain
        Hypercall::UpdateVaMappingOtherdomain => mmu::update_va_mapping(dom, v, a0, a1, a2, a3),
        // __HYPERVISOR_vcpu_op
        Hypercall::VcpuOp => vcpu::vcpu_op(dom, v, a0, a1, a2),
        // __HYPERVISOR_set_segment_base
        Hypercall::SetSegmentBase => cpu::set_segment_base(v, a0, a1),
        // __HYPERVISOR_callback_op
        Hypercall::CallbackOp => callback::callback_op(v, a0, a1),
        // __HYPERVISOR_sched_op
        Hypercall::SchedOp => sched::sched_op(dom, v, a0, a1),
        // __HYPERVISOR_sysctl
        Hypercall::Sysctl => sysctl::sysctl(dom, a0),

        _ => {
            log_unsupported_once(dom, nr);
            Err(Errno::ENOSYS)
        }
    })
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
