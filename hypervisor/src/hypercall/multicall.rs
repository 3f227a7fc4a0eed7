//! `multicall` (Xen's `common/multicall.c`): a batch of hypercalls in one entry.

use super::{call, ret, Args, Outcome, Preempt};
use crate::arch::x86_64::idt::TrapFrame;
use crate::domain::{Domain, Vcpu};
use crate::pv::{read_guest_struct, write_guest_struct};
use xen_abi::xen::{Hypercall, MulticallEntry};
use xen_abi::{Errno, XenResult};

/// `multicall(list, count)`: each `multicall_entry` runs in turn and its `result` is written
/// back; a failing call does not stop the batch, a domain that stops running does. A list that
/// is not wholly in guest space is `-EFAULT` before anything runs (`guest_handle_okay`). An
/// `iret` entry returns to the guest's frame and ends the batch there (XSA-213: the entries
/// after it would otherwise run in whatever mode the frame chose); the multicall then returns
/// the frame's RAX, which is also the entry's result.
///
/// Preemptible as Xen's: between entries, and inside one whose call is itself preempted — that
/// entry is written back whole with the call's continuation in its `args` (and the hypercall's
/// number in `result`), and the multicall continues at it with the entries left.
pub fn multicall(dom: &Domain, v: &Vcpu, frame: &mut TrapFrame, list: u64, count: u64) -> Outcome {
    run(dom, v, frame, list, count).unwrap_or_else(|e| Outcome::Done(Err(e)))
}

fn run(dom: &Domain, v: &Vcpu, frame: &mut TrapFrame, list: u64, count: u64) -> XenResult<Outcome> {
    // `nr_calls` is 32 bits wide in Xen's `do_multicall`: the upper half is not looked at.
    let count = u64::from(count as u32);
    let size = core::mem::size_of::<MulticallEntry>() as u64;
    let len = count.checked_mul(size).ok_or(Errno::EFAULT)?;
    if !crate::arch::x86_64::guest::guest_range_ok(list, len as usize) {
        return Err(Errno::EFAULT);
    }
    let mut preempt = Preempt::new();
    for i in 0..count {
        let va = list.wrapping_add(i.wrapping_mul(size));
        if i > 0 && preempt.due() {
            return Ok(Outcome::resume(&[va, count - i]));
        }
        let mut e: MulticallEntry = read_guest_struct(va)?;
        let at = va.wrapping_add(core::mem::offset_of!(MulticallEntry, result) as u64);
        if e.op == Hypercall::Iret as u64 {
            crate::pv::iret(dom, v, frame);
            // Best effort, as Xen: the frame is in force whether or not this lands.
            let _ = write_guest_struct(at, &frame.rax);
            return Ok(Outcome::Done(Ok(frame.rax)));
        }
        let a = e.args;
        match call(dom, v, frame, e.op, Args([a[0], a[1], a[2], a[3], a[4]]), 1) {
            // Only `result` is written back, as Xen's `__copy_field_to_guest`.
            Outcome::Done(r) => write_guest_struct(at, &ret(r))?,
            Outcome::Continue { args, n } => {
                // The sub-call's continuation, in the entry (Xen's `xlat_multicall_entry` and
                // the copy of the whole `mc_state.call`).
                e.result = e.op;
                for (slot, a) in e.args.iter_mut().zip(args).take(n) {
                    *slot = a;
                }
                write_guest_struct(va, &e)?;
                return Ok(Outcome::resume(&[va, count - i]));
            }
        }
        if !dom.is_running() {
            break;
        }
    }
    Ok(Outcome::Done(Ok(0)))
}
