//! `mmuext_op`, the part PV execution needs before page typing exists: the user and kernel base
//! pointers (only the domain's boot L4, which the builder validated) and local TLB flushes.
//! Pinning, new page tables and the rest arrive with the PV MMU; until then they are `-ENOSYS`.

use crate::arch::x86_64::cpu;
use crate::domain::{Domain, Vcpu};
use crate::pv::{read_guest, write_guest};
use xen_abi::xen::MmuextCmd;
use xen_abi::{Errno, Mfn, XenResult};

/// `mmuext_op(ops, count, pdone, foreigndom)`.
pub fn mmuext_op(
    dom: &Domain,
    v: &Vcpu,
    ops: u64,
    count: u64,
    pdone: u64,
    foreigndom: u64,
) -> XenResult<u64> {
    let fd = foreigndom as u16;
    if fd != xen_abi::DomId::SELF.0 && fd != dom.id.0 {
        return Err(Errno::ESRCH);
    }
    let mut done = 0u64;
    let mut result = Ok(0);
    for i in 0..count {
        let raw: [u8; 24] = read_guest(ops.wrapping_add(i.wrapping_mul(24)))?;
        let cmd = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let arg1 = u64::from_le_bytes(raw[8..16].try_into().unwrap_or([0; 8]));
        let r = one(dom, v, cmd, arg1);
        if let Err(e) = r {
            result = Err(e);
            break;
        }
        done += 1;
    }
    if pdone != 0 {
        write_guest(pdone, &(done as u32).to_le_bytes())?;
    }
    result
}

fn one(dom: &Domain, v: &Vcpu, cmd: u32, arg1: u64) -> XenResult<u64> {
    let _ = dom;
    match MmuextCmd::try_from(cmd)? {
        MmuextCmd::NewUserBaseptr => {
            let mut st = v.state.lock();
            if arg1 == 0 {
                st.user_l4 = None;
            } else if Mfn(arg1) == st.kernel_l4 {
                // The boot L4 as the user L4 too, as XTF does; other L4s need page typing.
                st.user_l4 = Some(Mfn(arg1));
            } else {
                return Err(Errno::EINVAL);
            }
            Ok(0)
        }
        MmuextCmd::NewBaseptr => {
            let st = v.state.lock();
            if Mfn(arg1) == st.kernel_l4 {
                cpu::load_cr3(cpu::read_cr3());
                Ok(0)
            } else {
                Err(Errno::EINVAL)
            }
        }
        MmuextCmd::TlbFlushLocal | MmuextCmd::TlbFlushMulti | MmuextCmd::TlbFlushAll => {
            cpu::load_cr3(cpu::read_cr3());
            Ok(0)
        }
        MmuextCmd::InvlpgLocal | MmuextCmd::InvlpgMulti | MmuextCmd::InvlpgAll => {
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new_truncate(arg1));
            Ok(0)
        }
        _ => Err(Errno::ENOSYS),
    }
}
