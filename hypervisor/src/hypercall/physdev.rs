//! `physdev_op` (Xen's `arch/x86/physdev.c`): the virtual IOPL; interrupt and PCI sub-ops wait
//! for passthrough.

use crate::domain::Vcpu;
use crate::pv::read_guest_struct;
use xen_abi::physdev::{PhysdevOp, PhysdevSetIopl};
use xen_abi::{Errno, XenResult};

/// `physdev_op`: `PHYSDEVOP_set_iopl` (the vCPU's virtual IOPL, 0–3, as Xen keeps it); the
/// interrupt and PCI sub-ops need passthrough and answer `-ENOSYS`.
pub fn physdev_op(v: &Vcpu, cmd: u64, arg: u64) -> XenResult<u64> {
    match PhysdevOp::try_from(u32::try_from(cmd).map_err(|_| Errno::ENOSYS)?)? {
        // PHYSDEVOP_set_iopl
        PhysdevOp::SetIopl => {
            let s: PhysdevSetIopl = read_guest_struct(arg)?;
            let iopl = u8::try_from(s.iopl)
                .ok()
                .filter(|&i| i <= 3)
                .ok_or(Errno::EINVAL)?;
            v.state.lock().iopl = iopl;
            Ok(0)
        }
        _ => Err(Errno::ENOSYS),
    }
}
