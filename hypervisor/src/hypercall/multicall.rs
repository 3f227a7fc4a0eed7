//! `multicall` (Xen's `common/multicall.c`): a batch of hypercalls in one entry.

use super::{call, ret, Args};
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
pub fn multicall(
    dom: &Domain,
    v: &Vcpu,
    frame: &mut TrapFrame,
    list: u64,
    count: u64,
) -> XenResult<u64> {
    // `nr_calls` is 32 bits wide in Xen's `do_multicall`: the upper half is not looked at.
    let count = u64::from(count as u32);
    let size = core::mem::size_of::<MulticallEntry>() as u64;
    let len = count.checked_mul(size).ok_or(Errno::EFAULT)?;
    if !crate::arch::x86_64::guest::guest_range_ok(list, len as usize) {
        return Err(Errno::EFAULT);
    }
    for i in 0..count {
        let va = list.wrapping_add(i.wrapping_mul(size));
        let e: MulticallEntry = read_guest_struct(va)?;
        let at = va.wrapping_add(core::mem::offset_of!(MulticallEntry, result) as u64);
        if e.op == Hypercall::Iret as u64 {
            crate::pv::iret(dom, v, frame);
            // Best effort, as Xen: the frame is in force whether or not this lands.
            let _ = write_guest_struct(at, &frame.rax);
            return Ok(frame.rax);
        }
        let a = e.args;
        let result = ret(call(
            dom,
            v,
            frame,
            e.op,
            Args([a[0], a[1], a[2], a[3], a[4]]),
            1,
        ));
        // Only `result` is written back, as Xen's `__copy_field_to_guest`.
        write_guest_struct(at, &result)?;
        if !dom.is_running() {
            break;
        }
    }
    Ok(0)
}
