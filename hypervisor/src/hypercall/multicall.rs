//! `multicall` (Xen's `common/multicall.c`): a batch of hypercalls in one entry.

use super::{call, ret, Args};
use crate::arch::x86_64::idt::TrapFrame;
use crate::domain::{Domain, Vcpu};
use crate::pv::{read_guest_struct, write_guest_struct};
use xen_abi::xen::MulticallEntry;
use xen_abi::XenResult;

/// `multicall(list, count)`: each `multicall_entry` runs in turn and its `result` is written
/// back; a failing call does not stop the batch, a domain that stops running does.
pub fn multicall(
    dom: &Domain,
    v: &Vcpu,
    frame: &mut TrapFrame,
    list: u64,
    count: u64,
) -> XenResult<u64> {
    let size = core::mem::size_of::<MulticallEntry>() as u64;
    for i in 0..count {
        let va = list.wrapping_add(i.wrapping_mul(size));
        let e: MulticallEntry = read_guest_struct(va)?;
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
        let at = va.wrapping_add(core::mem::offset_of!(MulticallEntry, result) as u64);
        write_guest_struct(at, &result)?;
        if !dom.is_running() {
            break;
        }
    }
    Ok(0)
}
