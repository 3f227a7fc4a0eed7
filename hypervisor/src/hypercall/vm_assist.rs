//! `vm_assist` (Xen's `common/domain.c`): the optional behaviours a PV kernel turns on.

use crate::domain::Domain;
use core::sync::atomic::Ordering;
use xen_abi::xen::VmAssistCmd;
use xen_abi::{Errno, XenResult};

/// `vm_assist(cmd, type)`: the assists Xen 4.17 offers a 64-bit PV domain; any other type is
/// `-EINVAL`.
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
    match VmAssistCmd::try_from(u32::try_from(cmd).map_err(|_| Errno::ENOSYS)?)? {
        // VMASST_CMD_enable
        VmAssistCmd::Enable => dom.vm_assist.fetch_or(1 << ty, Ordering::Relaxed),
        // VMASST_CMD_disable
        VmAssistCmd::Disable => dom.vm_assist.fetch_and(!(1 << ty), Ordering::Relaxed),
    };
    Ok(0)
}
