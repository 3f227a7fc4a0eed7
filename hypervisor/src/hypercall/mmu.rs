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
        let r = one(v, cmd, arg1);
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

fn one(v: &Vcpu, cmd: u32, arg1: u64) -> XenResult<u64> {
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

const PTE_P: u64 = 1;
const PTE_RW: u64 = 2;
const PTE_US: u64 = 4;
const PTE_PS: u64 = 1 << 7;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// True if `mfn` belongs to `dom`'s memory (by its p2m) and is not one of its page tables.
pub(crate) fn owned_frame(dom: &Domain, mfn: Mfn) -> Option<u64> {
    let pfn = crate::mm::guest::m2p_get(mfn);
    (dom.p2m.get(usize::try_from(pfn).ok()?) == Some(&mfn)).then_some(pfn)
}

/// `update_va_mapping(va, val, flags)` before page typing exists: replaces one L1 entry of the
/// current page tables (which must already reach an L1) with a mapping of a frame the domain
/// owns or of its `shared_info`, never a writable mapping of a bootstrap page table.
pub fn update_va_mapping(dom: &Domain, v: &Vcpu, va: u64, val: u64, flags: u64) -> XenResult<u64> {
    use crate::layout::{HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};
    use crate::mm::guest::{frame_read_u64, frame_write_u64};
    if (HYPERVISOR_VIRT_START..HYPERVISOR_VIRT_END).contains(&va)
        || (va as i64) << 16 >> 16 != va as i64
    {
        return Err(Errno::EINVAL);
    }
    if val & PTE_P != 0 {
        let mfn = Mfn((val & ADDR_MASK) >> 12);
        if mfn != dom.shared_info {
            let pfn = owned_frame(dom, mfn).ok_or(Errno::EINVAL)?;
            // A page table cannot also be writable: a type conflict, -EBUSY as Xen's
            // `get_page_type` answers.
            if val & PTE_RW != 0 && dom.boot_pt_pfns.contains(&pfn) {
                return Err(Errno::EBUSY);
            }
        }
    }
    let l4 = {
        let st = v.state.lock();
        if st.kernel_mode {
            st.kernel_l4
        } else {
            st.user_l4.unwrap_or(st.kernel_l4)
        }
    };
    let mut table = l4;
    for level in [4u32, 3, 2] {
        let index = ((va >> (12 + 9 * (level - 1))) & 511) as usize;
        let e = frame_read_u64(table, index * 8).map_err(|_| Errno::EINVAL)?;
        if e & PTE_P == 0 || e & PTE_PS != 0 {
            return Err(Errno::EINVAL);
        }
        table = Mfn((e & ADDR_MASK) >> 12);
        // Only the domain's own (bootstrap) tables may be walked and changed.
        let pfn = owned_frame(dom, table).ok_or(Errno::EINVAL)?;
        if !dom.boot_pt_pfns.contains(&pfn) {
            return Err(Errno::EINVAL);
        }
    }
    let new = if val & PTE_P != 0 { val | PTE_US } else { val };
    frame_write_u64(table, ((va >> 12) & 511) as usize * 8, new).map_err(|_| Errno::EINVAL)?;
    match flags & xen_abi::xen::UVMF_FLUSHTYPE_MASK {
        xen_abi::xen::UVMF_INVLPG => {
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new_truncate(va))
        }
        xen_abi::xen::UVMF_TLB_FLUSH => cpu::load_cr3(cpu::read_cr3()),
        _ => {}
    }
    Ok(0)
}
