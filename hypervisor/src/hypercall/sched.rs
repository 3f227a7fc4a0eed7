//! `sched_op` and `set_timer_op` (Xen's `common/sched/core.c`): yielding, blocking, polling,
//! shutting down, and the single-shot timer.

use crate::arch::x86_64::exit::ExitCode;
use crate::domain::{Domain, DomainState, Vcpu};
use crate::pv::read_guest_struct;
use xen_abi::sched::{SchedOp, SchedPoll, SchedShutdown, SchedWatchdog, ShutdownReason};
use xen_abi::{Errno, XenResult};

/// `sched_op(cmd, arg)`.
pub fn sched_op(dom: &Domain, v: &Vcpu, cmd: u64, arg: u64) -> XenResult<u64> {
    match SchedOp::try_from(u32::try_from(cmd).map_err(|_| Errno::ENOSYS)?)? {
        // SCHEDOP_yield
        SchedOp::Yield => {
            // A domU waiting for console space yields: serve its ring now.
            crate::console::ring::drain(dom);
            crate::sched::tick();
            Ok(0)
        }
        // SCHEDOP_shutdown
        SchedOp::Shutdown => {
            let s: SchedShutdown = read_guest_struct(arg)?;
            let r = ShutdownReason::try_from(s.reason).map_err(|_| Errno::EINVAL)?;
            shutdown(dom, r);
            Ok(0)
        }
        // SCHEDOP_block
        SchedOp::Block => {
            crate::pv::block(v);
            Ok(0)
        }
        // SCHEDOP_poll
        SchedOp::Poll => poll(dom, v, arg),
        // SCHEDOP_shutdown_code: read (a bad pointer is -EFAULT) and not kept.
        SchedOp::ShutdownCode => {
            let _: SchedShutdown = read_guest_struct(arg)?;
            Ok(0)
        }
        // SCHEDOP_watchdog
        SchedOp::Watchdog => {
            let w: SchedWatchdog = read_guest_struct(arg)?;
            crate::domain::watchdog::op(dom, w.id, w.timeout)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// `SCHEDOP_poll` (Xen's `do_poll`): block until one of the ports is pending (masked or not) or
/// the timeout. It returns at once when an upcall is due, or when — in the list's order — a
/// port is pending (0) or not in use (`-EINVAL`: never allocated, free or reserved).
fn poll(dom: &Domain, v: &Vcpu, arg: u64) -> XenResult<u64> {
    let p: SchedPoll = read_guest_struct(arg)?;
    // Xen: at most 128 ports.
    let nr = p.nr_ports as usize;
    if nr > 128 {
        return Err(Errno::EINVAL);
    }
    let mut list = [0u32; 128];
    crate::arch::x86_64::guest::copy_from_guest(
        p.ports,
        zerocopy::IntoBytes::as_mut_bytes(&mut list[..nr]),
    )
    .map_err(|_| Errno::EFAULT)?;
    // `local_events_need_delivery`.
    if crate::pv::upcall_due(v) {
        return Ok(0);
    }
    for &port in &list[..nr] {
        if crate::event::poll_port(dom.id, port)? {
            return Ok(0);
        }
    }
    let ports: heapless::Vec<u32, 128> = list[..nr].iter().copied().collect();
    {
        let mut st = v.state.lock();
        st.poll = Some(ports.clone());
        st.poll_deadline = (p.timeout != 0).then_some(p.timeout);
        st.blocked = true;
    }
    // A port that went pending meanwhile found no poller yet: look again.
    if ports
        .iter()
        .any(|&port| crate::event::is_pending(dom.id, port))
    {
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
            // Xen's `machine_restart`: the machine resets (QEMU under `-no-reboot` exits 0).
            ShutdownReason::Reboot => {
                log::info!("Ferrite: the initial domain rebooted; resetting the machine");
                crate::arch::x86_64::exit::machine_restart()
            }
            ShutdownReason::Crash | ShutdownReason::Watchdog => ExitCode::GuestCrash,
            _ => ExitCode::Failure,
        };
        crate::pv::end_machine(code, "the initial domain has shut down");
    }
    dom.after_shutdown();
}

/// `set_timer_op(timeout)`: arm (absolute system time) or, with 0, cancel the single-shot timer.
pub fn set_timer_op(v: &Vcpu, timeout: u64) -> XenResult<u64> {
    v.state.lock().timer_deadline = (timeout != 0).then_some(timeout);
    Ok(0)
}
